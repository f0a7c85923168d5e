// SPDX-License-Identifier: MIT
//  err - the stable error codes of zjob, shared by the wire, the broker,
//  the worker, libzjob and the CLI. Pure data: no I/O.
#pragma once

//  Every code has a stable name (zj_err_name) that is also what travels
//  on the wire in an ERROR message and what Python sees as a type name.
//  Never renumber: append new codes before ZJ_ERR_COUNT.
typedef enum {
    ZJ_OK = 0,          //  success
    ZJ_EPROTO,          //  "ProtocolError": malformed or unexpected message
    ZJ_EVERSION,        //  "VersionMismatch": peer speaks another protocol version
    ZJ_ETOOLARGE,       //  "TooLarge": message, argument or result over a limit
    ZJ_EQUEUEFULL,      //  "QueueFull": queue at its limit; retry later
    ZJ_ENOTICKET,       //  "UnknownTicket": no task has this ticket
    ZJ_EEXPIRED,        //  "Expired": the task's result was deleted after retention
    ZJ_ETIMEDOUT,       //  "TimeoutError": a wait or a task ran out of time
    ZJ_ECANCELLED,      //  "CancelledError": the task was cancelled
    ZJ_EUNREACHABLE,    //  "BrokerUnreachable": no answer from the broker
    ZJ_ETASK,           //  "TaskFailed": the task raised an error (see zj_error_t)
    ZJ_ENOMEM,          //  "OutOfMemory"
    ZJ_EINVAL,          //  "InvalidArgument": bad argument to a call or option
    ZJ_ESHUTDOWN,       //  "ShutDown": the client or broker is shutting down
    ZJ_ETOOLATE,        //  "TooLate": cancel refused, task already running or finished
    ZJ_ENOSPC,          //  "NoSpace": the store is full
    ZJ_EIO,             //  "IOError": an operating-system call failed
    ZJ_EWORKERLOST,     //  "WorkerLost": every attempt's worker died or vanished
    ZJ_EBROKERLOST,     //  "BrokerLost": the broker restarted without the task's state
    ZJ_EJSON,           //  "JSONError": text that is not the JSON a call expected
    ZJ_ERR_COUNT
} zj_err_t;

//  Stable CamelCase name, e.g. "QueueFull". Never NULL; static storage.
const char *zj_err_name (zj_err_t err);
//  Human one-line description. Never NULL; static storage.
const char *zj_strerror (zj_err_t err);
//  Code for a wire name, or ZJ_EPROTO when the name is unknown.
zj_err_t zj_err_from_name (const char *name, size_t len);
