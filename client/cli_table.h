// SPDX-License-Identifier: MIT
//  cli_table - `zjob workers` and `zjob queues` for people: aligned text
//  tables built from the broker's STATS map (docs/protocol.md, section 7).
//  Pure: no I/O and no broker, so the layout is unit-testable.
#pragma once
#include <jansson.h>

//  The workers table: ID, NAME, HOST, PID, FUNCTIONS, CREDIT, RUNNING,
//  LAST SEEN, LIVENESS. stats is the decoded STATS map (borrowed); keys it
//  lacks show as "-". LIVENESS is left out when neither the workers nor
//  the map say how the broker judges them. Returns the text, a header and
//  one row per line (one line saying so when there are no workers), or
//  NULL on OOM. Caller owns; free with free().
char *cli_table_workers (const json_t *stats);
//  The queues table: FUNCTION, DEPTH, RUNNING, WORKERS, OLDEST, SUBMITTED,
//  COMPLETED, FAILED, CANCELLED, sorted by function. As cli_table_workers.
char *cli_table_queues (const json_t *stats);
//  The dead letters of STATS "dead_letters", in the broker's order
//  (newest first). Caller owns the text; NULL on OOM.
char *cli_table_failed (const json_t *stats);
//  A duration for people: "0.3s", "12s", "3m05s", "2h03m", "4d07h".
//  Writes at most size bytes (NUL included) to buf and returns buf.
char *cli_table_age (double seconds, char *buf, size_t size);
