// SPDX-License-Identifier: MIT
//  ticket - zjobd's ticket form `GGGGGGGG-SSSSSSSS`: a random generation
//  and a sequence number, both in lowercase Crockford base 32. Pure
//  formatting and parsing, plus one getrandom() call for the generation.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Characters of a generation; it holds 40 random bits.
#define TICKET_GEN_CHARS   8
//  Sequence numbers are zero-padded to at least this many characters.
#define TICKET_SEQ_MIN     8
//  Longest ticket: 8 + '-' + 13 (64 bits in base 32), without the NUL.
#define TICKET_MAX         22
//  Largest generation value (40 bits).
#define TICKET_GEN_MAX     ((UINT64_C (1) << 40) - 1)

//  A fresh random generation from the system's random source. Returns
//  false when no randomness could be read (then *gen is untouched).
bool ticket_generation_new (uint64_t *gen);

//  Write the 8-character generation and a NUL into buf (>= 9 bytes).
void ticket_generation_text (uint64_t gen, char *buf);

//  Write the ticket for (gen, seq) into buf, which must hold at least
//  TICKET_MAX + 1 bytes; NUL-terminates it and returns its length.
size_t ticket_format (uint64_t gen, uint64_t seq, char *buf);

//  Parse a ticket back. Only the canonical form is accepted (what
//  ticket_format produces), so every ticket maps to one (gen, seq).
//  Returns false for anything else; the caller then answers "unknown".
bool ticket_parse (const char *text, size_t len, uint64_t *gen, uint64_t *seq);
