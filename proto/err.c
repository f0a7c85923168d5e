// SPDX-License-Identifier: MIT
//  err - the names and texts of zj_err_t. The names are part of the wire
//  protocol (ERROR codes) and of every binding: never change one.
#include <stddef.h>
#include <string.h>
#include "err.h"

static const struct {
    const char *name;           //  stable CamelCase wire name
    const char *text;           //  one line for people
} s_errs[ZJ_ERR_COUNT] = {
    [ZJ_OK]           = { "OK", "success" },
    [ZJ_EPROTO]       = { "ProtocolError", "malformed or unexpected message" },
    [ZJ_EVERSION]     = { "VersionMismatch", "the peer speaks another protocol version" },
    [ZJ_ETOOLARGE]    = { "TooLarge", "message, argument or result over a size limit" },
    [ZJ_EQUEUEFULL]   = { "QueueFull", "the queue is at its limit; nothing was accepted, retry later" },
    [ZJ_ENOTICKET]    = { "UnknownTicket", "no task has this ticket" },
    [ZJ_EEXPIRED]     = { "Expired", "the task's record was deleted after the retention time" },
    [ZJ_ETIMEDOUT]    = { "TimeoutError", "ran out of time" },
    [ZJ_ECANCELLED]   = { "CancelledError", "the task was cancelled" },
    [ZJ_EUNREACHABLE] = { "BrokerUnreachable", "no answer from the broker" },
    [ZJ_ETASK]        = { "TaskFailed", "the task raised an error" },
    [ZJ_ENOMEM]       = { "OutOfMemory", "out of memory" },
    [ZJ_EINVAL]       = { "InvalidArgument", "invalid argument or option" },
    [ZJ_ESHUTDOWN]    = { "ShutDown", "shutting down; nothing new is accepted" },
    [ZJ_ETOOLATE]     = { "TooLate", "cancel refused: the task is already running or finished" },
    [ZJ_ENOSPC]       = { "NoSpace", "the store is full; nothing was accepted" },
    [ZJ_EIO]          = { "IOError", "an operating-system call failed" },
    [ZJ_EWORKERLOST]  = { "WorkerLost", "the worker running the task died or vanished" },
    [ZJ_EBROKERLOST]  = { "BrokerLost", "the broker restarted without the task's state" },
    [ZJ_EJSON]        = { "JSONError", "not the JSON text that was expected" },
};

const char *zj_err_name (zj_err_t err)
{
    if ((unsigned) err >= ZJ_ERR_COUNT || !s_errs[err].name)
        return "UnknownError";
    return s_errs[err].name;
}

const char *zj_strerror (zj_err_t err)
{
    if ((unsigned) err >= ZJ_ERR_COUNT || !s_errs[err].text)
        return "unknown error code";
    return s_errs[err].text;
}

zj_err_t zj_err_from_name (const char *name, size_t len)
{
    //  "OK" is deliberately not looked up: an ERROR message that says OK is
    //  still an error, and must not read as success to the caller.
    if (!name)
        return ZJ_EPROTO;
    for (int i = ZJ_OK + 1; i < ZJ_ERR_COUNT; i++) {
        const char *n = s_errs[i].name;
        if (n && strlen (n) == len && memcmp (n, name, len) == 0)
            return (zj_err_t) i;
    }
    return ZJ_EPROTO;
}
