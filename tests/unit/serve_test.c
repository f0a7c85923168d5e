// SPDX-License-Identifier: MIT
//  serve_test - persistent task processes on a real libuv loop, against
//  a small Python process that speaks the pipe protocol and misbehaves on
//  request: results and errors, a crash reported with its exit status and
//  stderr tail, malformed and oversized frames, a wrong task id, a cancel
//  that kills the process group, a command that never says hello, and
//  slots that run calls at once. Each failure restarts the process.
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include "harness.h"
#include "json.h"
#include "msg.h"
#include "serve.h"

static const char *s_script =
"import os, struct, sys, time\n"
"import msgpack\n"
"inp = os.fdopen(0, 'rb', buffering=0)\n"
"out = os.fdopen(1, 'wb', buffering=0)\n"
"def send(obj):\n"
"    b = msgpack.packb(obj, use_bin_type=True)\n"
"    out.write(struct.pack('>I', len(b)) + b)\n"
"def read_exact(n):\n"
"    buf = b''\n"
"    while len(buf) < n:\n"
"        c = inp.read(n - len(buf))\n"
"        if not c:\n"
"            sys.exit(0)\n"
"        buf += c\n"
"    return buf\n"
"if len(sys.argv) > 1 and sys.argv[1] == 'nohello':\n"
"    sys.stderr.write('ModuleNotFoundError: No module named nothing\\n')\n"
"    sys.exit(5)\n"
"send(['hello', 1, ['echo', 'fail', 'crash', 'garbage', 'hang', 'wrongid', 'big', 'pid'],\n"
"      {'chunk': True, 'later': 1}])\n"
"while True:\n"
"    n = struct.unpack('>I', read_exact(4))[0]\n"
"    kind, id, fn, args = msgpack.unpackb(read_exact(n), raw=False)[:4]\n"
"    if kind == 'chunk':\n"
"        send(['ok', id, [[True, a] for a in args] if fn == 'echo' else [[True, 1]]])\n"
"    elif fn == 'echo': send(['ok', id, args])\n"
"    elif fn == 'pid': send(['ok', id, os.getpid()])\n"
"    elif fn == 'fail': send(['error', id, 'ValueError', 'x==%d' % args[0], 'Traceback: here'])\n"
"    elif fn == 'crash':\n"
"        sys.stderr.write('about to crash\\nRuntimeError: boom\\n'); sys.stderr.flush(); os._exit(3)\n"
"    elif fn == 'garbage': out.write(struct.pack('>I', 3) + b'\\x93\\xa1x')\n"
"    elif fn == 'hang': time.sleep(3600)\n"
"    elif fn == 'wrongid': send(['ok', id + 1000, None])\n"
"    elif fn == 'big': out.write(struct.pack('>I', 100000))\n";

static char s_path[64];

typedef struct {
    int changes;                //  change callbacks
    int done;                   //  outcomes
    bool ok;                    //  last outcome
    char text[512];             //  last: value as JSON, or "Type: message"
    char traceback[512];        //  last traceback
} s_state_t;

static void
s_on_change (void *arg)
{
    ((s_state_t *) arg)->changes++;
}

static void
s_on_done (const outcome_t *out, void *arg)
{
    s_state_t *st = arg;
    st->done++;
    st->ok = out->ok;
    st->traceback[0] = 0;
    if (out->ok) {
        char *json = zj_json_from_msgpack (out->value.ptr, out->value.len, NULL);
        snprintf (st->text, sizeof st->text, "%s", json ? json : "?");
        free (json);
    }
    else {
        snprintf (st->text, sizeof st->text, "%.*s: %.*s", (int) out->err_type.len,
                  out->err_type.ptr, (int) out->err_message.len, out->err_message.ptr);
        snprintf (st->traceback, sizeof st->traceback, "%.*s", (int) out->err_traceback.len,
                  out->err_traceback.ptr);
    }
}

//  Run the loop until *counter reaches `want`, or fail after 10 s.
static void
s_run_until (uv_loop_t *loop, int *counter, int want)
{
    uint64_t deadline = uv_now (loop) + 10000;
    while (*counter < want) {
        if (uv_now (loop) > deadline)
            ZT_FAIL ("timed out waiting for %d events, have %d", want, *counter);
        uv_run (loop, UV_RUN_ONCE);
    }
}

static uv_timer_t s_tick;
static void s_on_tick (uv_timer_t *timer) {}

//  Keep the loop turning while waiting on outside conditions.
static void
s_start_tick (uv_loop_t *loop)
{
    uv_timer_init (loop, &s_tick);
    uv_timer_start (&s_tick, s_on_tick, 10, 10);
}

static serve_t *
s_pool (uv_loop_t *loop, const char *mode, uint32_t slots, s_state_t *st)
{
    static char command[160];
    snprintf (command, sizeof command, "exec /usr/bin/python3 %s %s", s_path, mode);
    serve_spec_t spec = {
        .command = command,
        .slots = slots,
        .max_frame = 65536,
        .max_result = 1024,
        .guard = NULL,
    };
    uv_loop_init (loop);
    s_start_tick (loop);
    serve_t *pool = serve_new (loop, &spec, s_on_change, st);
    ASSERT_TRUE (pool);
    return pool;
}

static void
s_close (uv_loop_t *loop, serve_t **pool)
{
    serve_destroy (pool);
    uv_close ((uv_handle_t *) &s_tick, NULL);
    uv_run (loop, UV_RUN_DEFAULT);
    ASSERT_EQ (uv_loop_close (loop), 0);
}

static serve_call_t *
s_call (serve_t *pool, const char *fn, const char *args_json, s_state_t *st)
{
    static zj_enc_t *enc[8];
    static int next;
    //  The args view must outlive the call; keep a few encoders around.
    int i = next++ % 8;
    if (!enc[i])
        enc[i] = zj_enc_new ();
    zj_enc_reset (enc[i]);
    ASSERT_ERR (zj_json_to_msgpack (enc[i], args_json, strlen (args_json)), ZJ_OK);
    zj_str_t f = {fn, strlen (fn)};
    zj_raw_t args = {zj_enc_data (enc[i]), zj_enc_size (enc[i])};
    serve_call_t *call = serve_call (pool, f, args, 0, s_on_done, st);
    ASSERT_TRUE (call);
    return call;
}

static void
test_hello_ok_error (void)
{
    uv_loop_t loop;
    s_state_t st = {0};
    serve_t *pool = s_pool (&loop, "", 1, &st);
    //  A call made before the hello waits for it.
    s_call (pool, "echo", "[1, \"two\", {\"k\": [3]}]", &st);
    ASSERT_EQ (st.done, 0);             //  never inside serve_call
    s_run_until (&loop, &st.done, 1);
    ASSERT_EQ (st.changes, 1);
    size_t count;
    const char *const *names = serve_functions (pool, &count);
    ASSERT_EQ (count, 8);
    ASSERT_STREQ (names[0], "echo");
    ASSERT_TRUE (serve_has (pool, "hang", 4));
    ASSERT_TRUE (!serve_has (pool, "nothing", 7));
    ASSERT_TRUE (st.ok);
    ASSERT_STREQ (st.text, "[1,\"two\",{\"k\":[3]}]");
    s_call (pool, "fail", "[2]", &st);
    s_run_until (&loop, &st.done, 2);
    ASSERT_TRUE (!st.ok);
    ASSERT_STREQ (st.text, "ValueError: x==2");
    ASSERT_STREQ (st.traceback, "Traceback: here");
    //  A result over max_result fails the call, not the process.
    char big[2100];
    snprintf (big, sizeof big, "[\"%02000d\"]", 0);
    s_call (pool, "echo", big, &st);
    s_run_until (&loop, &st.done, 3);
    ASSERT_TRUE (!st.ok);
    ASSERT_TRUE (strncmp (st.text, "TooLarge: ", 10) == 0);
    ASSERT_EQ (serve_idle (pool), 1);
    s_close (&loop, &pool);
}

//  Wait for a slot's process to be ready, and return its pid.
static int
s_ready_pid (uv_loop_t *loop, serve_t *pool, uint32_t slot)
{
    uint64_t deadline = uv_now (loop) + 10000;
    while (serve_idle (pool) == 0 || serve_pid (pool, slot) == 0) {
        if (uv_now (loop) > deadline)
            ZT_FAIL ("no process became ready");
        uv_run (loop, UV_RUN_ONCE);
    }
    return serve_pid (pool, slot);
}

static void
test_whole_chunks (void)
{
    uv_loop_t loop;
    s_state_t st = {0};
    serve_t *pool = s_pool (&loop, "", 1, &st);
    s_run_until (&loop, &st.changes, 1);
    ASSERT_TRUE (serve_chunks (pool));
    zj_enc_t *enc = zj_enc_new ();
    const char *json = "[[1], [2, 3], []]";
    ASSERT_ERR (zj_json_to_msgpack (enc, json, strlen (json)), ZJ_OK);
    zj_str_t fn = {"echo", 4};
    zj_raw_t args = {zj_enc_data (enc), zj_enc_size (enc)};
    ASSERT_TRUE (serve_call (pool, fn, args, 3, s_on_done, &st));
    s_run_until (&loop, &st.done, 1);
    ASSERT_TRUE (st.ok);
    ASSERT_STREQ (st.text, "[[true,[1]],[true,[2,3]],[true,[]]]");
    //  A result with the wrong number of entries breaks the protocol.
    zj_str_t other = {"pid", 3};
    ASSERT_TRUE (serve_call (pool, other, args, 3, s_on_done, &st));
    s_run_until (&loop, &st.done, 2);
    ASSERT_TRUE (!st.ok);
    ASSERT_TRUE (strstr (st.text, "ProtocolError: task process (--serve) sent a bad chunk result (a chunk result must be") == st.text);
    zj_enc_destroy (&enc);
    s_close (&loop, &pool);
}

static void
test_crash_is_the_calls_failure (void)
{
    uv_loop_t loop;
    s_state_t st = {0};
    serve_t *pool = s_pool (&loop, "", 1, &st);
    int pid = s_ready_pid (&loop, pool, 0);
    s_call (pool, "crash", "[]", &st);
    s_run_until (&loop, &st.done, 1);
    ASSERT_TRUE (!st.ok);
    ASSERT_STREQ (st.text, "ProcessExited: task process (--serve) exited with status 3");
    ASSERT_TRUE (strstr (st.traceback, "RuntimeError: boom") != NULL);
    //  Restarted (after the backoff), and it works.
    s_call (pool, "echo", "[\"again\"]", &st);
    s_run_until (&loop, &st.done, 2);
    ASSERT_TRUE (st.ok);
    ASSERT_STREQ (st.text, "[\"again\"]");
    ASSERT_TRUE (serve_pid (pool, 0) != pid);
    //  The same names again: no second change.
    ASSERT_EQ (st.changes, 1);
    s_close (&loop, &pool);
}

static void
test_protocol_breaches_restart (void)
{
    uv_loop_t loop;
    s_state_t st = {0};
    serve_t *pool = s_pool (&loop, "", 1, &st);
    const char *cases[][2] = {
        {"garbage", "ProtocolError: "},
        {"wrongid", "ProtocolError: task process (--serve) answered task id"},
        {"big", "TooLarge: task process (--serve) sent a frame of 100000 bytes"},
    };
    for (int i = 0; i < 3; i++) {
        int pid = s_ready_pid (&loop, pool, 0);
        s_call (pool, cases[i][0], "[]", &st);
        s_run_until (&loop, &st.done, i + 1);
        ASSERT_TRUE (!st.ok);
        if (strncmp (st.text, cases[i][1], strlen (cases[i][1])) != 0)
            ZT_FAIL ("%s: got \"%s\"", cases[i][0], st.text);
        //  The old process group is gone, and a new process serves.
        uint64_t deadline = uv_now (&loop) + 5000;
        while (kill (-pid, 0) == 0 && uv_now (&loop) < deadline)
            uv_run (&loop, UV_RUN_ONCE);
        ASSERT_TRUE (kill (-pid, 0) < 0 && errno == ESRCH);
    }
    s_call (pool, "echo", "[5]", &st);
    s_run_until (&loop, &st.done, 4);
    ASSERT_STREQ (st.text, "[5]");
    s_close (&loop, &pool);
}

static void
test_cancel_kills_and_restarts_at_once (void)
{
    uv_loop_t loop;
    s_state_t st = {0};
    serve_t *pool = s_pool (&loop, "", 1, &st);
    int pid = s_ready_pid (&loop, pool, 0);
    serve_call_t *call = s_call (pool, "hang", "[]", &st);
    //  Let the frame reach the process.
    for (int i = 0; i < 5; i++)
        uv_run (&loop, UV_RUN_ONCE);
    serve_cancel (&call);
    ASSERT_TRUE (call == NULL);
    uint64_t deadline = uv_now (&loop) + 5000;
    while (kill (-pid, 0) == 0 && uv_now (&loop) < deadline)
        uv_run (&loop, UV_RUN_ONCE);
    ASSERT_TRUE (kill (-pid, 0) < 0 && errno == ESRCH);
    s_call (pool, "echo", "[\"next\"]", &st);
    s_run_until (&loop, &st.done, 1);   //  the cancelled call never reports
    ASSERT_STREQ (st.text, "[\"next\"]");
    //  A queued call is simply dropped.
    serve_call_t *busy = s_call (pool, "hang", "[]", &st);
    serve_call_t *queued = s_call (pool, "echo", "[1]", &st);
    serve_cancel (&queued);
    serve_cancel (&busy);
    s_call (pool, "echo", "[2]", &st);
    s_run_until (&loop, &st.done, 2);
    ASSERT_STREQ (st.text, "[2]");
    s_close (&loop, &pool);
}

static void
test_no_hello_fails_waiting_calls (void)
{
    uv_loop_t loop;
    s_state_t st = {0};
    serve_t *pool = s_pool (&loop, "nohello", 1, &st);
    s_call (pool, "echo", "[1]", &st);
    s_run_until (&loop, &st.done, 1);
    ASSERT_TRUE (!st.ok);
    ASSERT_STREQ (st.text, "ProcessExited: task process (--serve) exited with status 5 before its hello");
    ASSERT_EQ (st.changes, 0);
    size_t count;
    serve_functions (pool, &count);
    ASSERT_EQ (count, 0);
    s_close (&loop, &pool);
}

static void
test_slots_run_at_once (void)
{
    uv_loop_t loop;
    s_state_t st = {0};
    serve_t *pool = s_pool (&loop, "", 3, &st);
    uint64_t deadline = uv_now (&loop) + 10000;
    while (serve_idle (pool) < 3 && uv_now (&loop) < deadline)
        uv_run (&loop, UV_RUN_ONCE);
    ASSERT_EQ (serve_idle (pool), 3);
    serve_call_t *a = s_call (pool, "hang", "[]", &st);
    serve_call_t *b = s_call (pool, "hang", "[]", &st);
    ASSERT_EQ (serve_idle (pool), 1);
    s_call (pool, "pid", "[]", &st);
    s_run_until (&loop, &st.done, 1);
    ASSERT_TRUE (st.ok);
    serve_cancel (&a);
    serve_cancel (&b);
    s_close (&loop, &pool);
}

int
main (void)
{
    //  As in zjob-worker: a command that does not read its stdin must
    //  give EPIPE, not kill the test.
    signal (SIGPIPE, SIG_IGN);
    snprintf (s_path, sizeof s_path, "/tmp/serve_test_%d.py", (int) getpid ());
    FILE *f = fopen (s_path, "w");
    ASSERT_TRUE (f);
    fputs (s_script, f);
    fclose (f);
    ZT_RUN (test_hello_ok_error);
    ZT_RUN (test_whole_chunks);
    ZT_RUN (test_crash_is_the_calls_failure);
    ZT_RUN (test_protocol_breaches_restart);
    ZT_RUN (test_cancel_kills_and_restarts_at_once);
    ZT_RUN (test_no_hello_fails_waiting_calls);
    ZT_RUN (test_slots_run_at_once);
    unlink (s_path);
    return 0;
}
