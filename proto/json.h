// SPDX-License-Identifier: MIT
//  json - conversion between JSON text (what people type and read) and
//  msgpack values (what travels on the wire). Pure codec, built on
//  jansson and msgpack-c; no I/O.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "err.h"
#include "msg.h"

//  Append the msgpack form of JSON text `text` (len bytes) to `enc`.
//  Integers stay integers, other numbers become doubles, objects become
//  maps with string keys. Returns ZJ_OK or ZJ_EJSON (enc untouched).
zj_err_t zj_json_to_msgpack (zj_enc_t *enc, const char *text, size_t len);

//  An ARG as the CLI takes it: a JSON value when `arg` parses as one,
//  otherwise the string itself. Appends one msgpack object to `enc`.
void zj_json_arg_to_msgpack (zj_enc_t *enc, const char *arg);

//  Compact one-line JSON for one msgpack object. Binary becomes a string
//  when it is valid UTF-8, else base64 in {"$bin": "..."}; map keys that
//  are not strings are rendered as JSON text. Caller owns the result;
//  free with free(). NULL when `data` is not one valid msgpack object
//  (sets *err to ZJ_EPROTO) or on OOM (ZJ_ENOMEM). `err` may be NULL.
char *zj_json_from_msgpack (const uint8_t *data, size_t size, zj_err_t *err);
