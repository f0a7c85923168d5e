// SPDX-License-Identifier: MIT
//  framing - the pipe protocol of `--serve` task processes as pure code
//  (docs/protocol.md, "Task processes"): a reader that cuts 4-byte
//  big-endian length-prefixed frames out of a byte stream, the parser of
//  what a process sends (hello, ok, error), and the task frame encoder.
//  No I/O: serve.c moves the bytes.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "mpread.h"
#include "msg.h"

//  Bytes of the length prefix.
#define FRAMING_HEADER 4
//  The pipe protocol version a process names in its hello.
#define FRAMING_VERSION 1

//  Accumulates bytes read from a pipe and hands out whole frames.
typedef struct {
    uint8_t *buf;               //  owned; bytes read and not yet consumed start at off
    size_t off;                 //  first unconsumed byte
    size_t len;                 //  bytes in buf
    size_t cap;                 //  bytes allocated
    size_t max_frame;           //  largest body accepted
} framing_reader_t;

typedef enum {
    FRAMING_MORE = 0,           //  no whole frame yet: read more
    FRAMING_FRAME,              //  a frame is ready
    FRAMING_BAD_LENGTH,         //  the prefix claims 0 or more than max_frame bytes
} framing_status_t;

//  Start empty; frames over max_frame body bytes are refused.
void framing_reader_init (framing_reader_t *self, size_t max_frame);
//  Free the buffer; leaves the reader empty and usable.
void framing_reader_clear (framing_reader_t *self);
//  Room for at least `want` more bytes (compacting first). Returns the
//  place to read into and its size in *size; NULL on OOM. Views handed
//  out by framing_reader_next are invalid after this call.
uint8_t *framing_reader_space (framing_reader_t *self, size_t want, size_t *size);
//  `n` bytes were written into the space.
void framing_reader_commit (framing_reader_t *self, size_t n);
//  The next whole frame's body in *body / *len (a view into the reader,
//  valid until framing_reader_space). On FRAMING_BAD_LENGTH, *len is the
//  claimed length; the reader cannot go on and must be cleared.
framing_status_t framing_reader_next (framing_reader_t *self, const uint8_t **body,
                                      size_t *len);
//  Bytes buffered but not yet handed out.
size_t framing_reader_pending (const framing_reader_t *self);

//  What a task process sent.
typedef enum {
    FRAMING_HELLO = 1,          //  ["hello", version, [name, ...], {feature: bool}?]
    FRAMING_OK,                 //  ["ok", id, value]
    FRAMING_ERROR,              //  ["error", id, type, message, traceback]
} framing_kind_t;

typedef struct {
    framing_kind_t kind;        //  which message
    uint64_t version;           //  HELLO: pipe protocol version
    uint32_t name_count;        //  HELLO: function names that follow
    mpread_t names;             //  HELLO: cursor at the first name (framing_next_name)
    bool chunks;                //  HELLO: takes whole chunks (feature "chunk")
    uint64_t id;                //  OK, ERROR: the task's id
    zj_raw_t value;             //  OK: one msgpack object (depth-checked)
    zj_str_t err_type;          //  ERROR: non-empty
    zj_str_t err_message;       //  ERROR
    zj_str_t err_traceback;     //  ERROR: may be empty
} framing_msg_t;

//  Parse and fully validate one frame body: an array whose first element
//  is a known kind string and whose fields have the right types; extra
//  trailing elements are ignored. HELLO names are 1..ZJ_MAX_FN printable
//  ASCII bytes, at least one; values nest at most ZJ_MAX_DEPTH deep. Views
//  borrow `body`. False with `why` (static text) when malformed.
bool framing_parse (const uint8_t *body, size_t len, framing_msg_t *msg, const char **why);
//  Next name of a parsed HELLO; false after the last.
bool framing_next_name (framing_msg_t *msg, zj_str_t *name);

//  Encode the body of ["task", id, fn, args] into `enc` (reset first);
//  `args` is one msgpack array, copied as it is. With `chunk`, the kind is
//  "chunk" and args is the chunk's array of argument arrays.
void framing_encode_task (zj_enc_t *enc, uint64_t id, zj_str_t fn, zj_raw_t args, bool chunk);
//  Check that `value` is the result of a chunk of `count` calls: an array
//  of `count` pairs [true, value] or [false, [type, message, traceback]]
//  (docs/protocol.md 5.14). False with `why` (static text) otherwise.
bool framing_check_chunk (zj_raw_t value, uint32_t count, const char **why);
//  Write the 4-byte big-endian prefix for a body of `len` bytes.
void framing_put_header (uint8_t header[FRAMING_HEADER], size_t len);
