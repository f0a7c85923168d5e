// SPDX-License-Identifier: MIT
//  exec_test - the exec outcome rules (JSON or string stdout; `Type:
//  message` from the last non-empty stderr line; ExecError otherwise),
//  then real commands through /bin/sh and through the guard.
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include "exec.h"
#include "harness.h"
#include "json.h"
#include "msg.h"

static char s_msg[160];

//  Build an outcome from literal stdout/stderr.
static void
s_build (zj_enc_t *enc, const char *out, const char *err, int status, int sig,
         outcome_t *result)
{
    exec_outcome_build (out, strlen (out), err, strlen (err), status, sig, enc,
                        s_msg, sizeof s_msg, result);
}

//  The value of a successful outcome as compact JSON (caller frees).
static char *
s_json (const outcome_t *out)
{
    ASSERT_TRUE (out->ok);
    char *text = zj_json_from_msgpack (out->value.ptr, out->value.len, NULL);
    ASSERT_TRUE (text != NULL);
    return text;
}

static void
s_assert_json (const outcome_t *out, const char *want)
{
    char *text = s_json (out);
    ASSERT_STREQ (text, want);
    free (text);
}

static void
test_stdout_json_or_string (void)
{
    zj_enc_t *enc = zj_enc_new ();
    outcome_t out;
    s_build (enc, "{\"a\": [1, 2.5]}\n", "", 0, 0, &out);
    s_assert_json (&out, "{\"a\":[1,2.5]}");
    s_build (enc, "  42 \n\n", "", 0, 0, &out);
    s_assert_json (&out, "42");
    s_build (enc, "null", "", 0, 0, &out);
    s_assert_json (&out, "null");
    s_build (enc, "\"quoted\"\n", "", 0, 0, &out);
    s_assert_json (&out, "\"quoted\"");
    //  Not JSON: the text less one trailing newline.
    s_build (enc, "hello world\n", "", 0, 0, &out);
    s_assert_json (&out, "\"hello world\"");
    s_build (enc, "two lines\n\n", "", 0, 0, &out);
    s_assert_json (&out, "\"two lines\\n\"");
    s_build (enc, "{broken\n", "", 0, 0, &out);
    s_assert_json (&out, "\"{broken\"");
    s_build (enc, "", "", 0, 0, &out);
    s_assert_json (&out, "\"\"");
    //  stderr does not matter on success.
    s_build (enc, "1", "ValueError: ignored\n", 0, 0, &out);
    s_assert_json (&out, "1");
    zj_enc_destroy (&enc);
}

static void
test_stderr_error_line (void)
{
    zj_enc_t *enc = zj_enc_new ();
    outcome_t out;
    const char *py = "Traceback (most recent call last):\n"
                     "  File \"<string>\", line 1, in <module>\n"
                     "ValueError: x==2\n";
    s_build (enc, "partial output", py, 1, 0, &out);
    ASSERT_TRUE (!out.ok);
    ASSERT_VIEWEQ (out.err_type, "ValueError");
    ASSERT_VIEWEQ (out.err_message, "x==2");
    ASSERT_VIEWEQ (out.err_traceback, py);

    //  The last non-empty line counts; trailing blank lines and CR are skipped.
    s_build (enc, "", "noise: first\nmodule.sub.Err_2:   spaced message \r\n\n  \n", 3, 0, &out);
    ASSERT_VIEWEQ (out.err_type, "module.sub.Err_2");
    ASSERT_VIEWEQ (out.err_message, "spaced message");

    //  An empty message is allowed.
    s_build (enc, "", "KeyError:\n", 1, 0, &out);
    ASSERT_VIEWEQ (out.err_type, "KeyError");
    ASSERT_VIEWEQ (out.err_message, "");

    //  Lines that do not match give ExecError with the status.
    s_build (enc, "", "ValueError\n", 2, 0, &out);
    ASSERT_VIEWEQ (out.err_type, "ExecError");
    ASSERT_VIEWEQ (out.err_message, "command exited with status 2");
    ASSERT_VIEWEQ (out.err_traceback, "ValueError\n");
    s_build (enc, "", "9Lives: no\n", 1, 0, &out);
    ASSERT_VIEWEQ (out.err_type, "ExecError");
    s_build (enc, "", "Bad Type: no\n", 1, 0, &out);
    ASSERT_VIEWEQ (out.err_type, "ExecError");
    s_build (enc, "", "  Indented: no\n", 1, 0, &out);
    ASSERT_VIEWEQ (out.err_type, "ExecError");
    s_build (enc, "", "", 127, 0, &out);
    ASSERT_VIEWEQ (out.err_type, "ExecError");
    ASSERT_VIEWEQ (out.err_message, "command exited with status 127");
    ASSERT_EQ (out.err_traceback.len, 0);

    //  Killed by a signal.
    s_build (enc, "", "", 0, 9, &out);
    ASSERT_VIEWEQ (out.err_type, "ExecError");
    ASSERT_VIEWEQ (out.err_message, "command killed by signal 9");
    s_build (enc, "", "MemoryError: out\n", 0, 6, &out);
    ASSERT_VIEWEQ (out.err_type, "MemoryError");
    zj_enc_destroy (&enc);
}

//  ---------------------------------------------------------------------
//  Real commands.

typedef struct {
    int calls;
    bool ok;
    char *json;                 //  ok: the value as JSON
    char type[64];
    char message[256];
    char *traceback;
} s_result_t;

static void
s_on_done (const outcome_t *out, void *arg)
{
    s_result_t *r = arg;
    r->calls++;
    r->ok = out->ok;
    if (out->ok)
        r->json = zj_json_from_msgpack (out->value.ptr, out->value.len, NULL);
    else {
        snprintf (r->type, sizeof r->type, "%.*s", (int) out->err_type.len, out->err_type.ptr);
        snprintf (r->message, sizeof r->message, "%.*s", (int) out->err_message.len,
                  out->err_message.ptr);
        r->traceback = strndup (out->err_traceback.ptr ? out->err_traceback.ptr : "",
                                out->err_traceback.len);
    }
}

static void
s_result_clear (s_result_t *r)
{
    free (r->json);
    free (r->traceback);
    memset (r, 0, sizeof *r);
}

static const char *s_guard;     //  NULL: plain /bin/sh; else this executable

//  Run `command` over the JSON array `args` to completion.
static void
s_exec (const char *command, const char *args, size_t max_stdout, s_result_t *r)
{
    uv_loop_t loop;
    uv_loop_init (&loop);
    zj_enc_t *enc = zj_enc_new ();
    ASSERT_ERR (zj_json_to_msgpack (enc, args, strlen (args)), ZJ_OK);
    exec_spec_t spec = {command, {zj_enc_data (enc), zj_enc_size (enc)}, max_stdout, s_guard};
    char why[128];
    memset (r, 0, sizeof *r);
    exec_t *e = exec_start (&loop, &spec, s_on_done, r, why, sizeof why);
    ASSERT_TRUE (e != NULL);
    zj_enc_destroy (&enc);      //  the arguments were copied
    uv_run (&loop, UV_RUN_DEFAULT);
    ASSERT_EQ (uv_loop_close (&loop), 0);
    ASSERT_EQ (r->calls, 1);
}

static void
test_run_commands (void)
{
    s_result_t r;
    //  The arguments arrive as a JSON array on stdin.
    s_exec ("cat", "[1, \"two\", {\"k\": null}]", 1 << 20, &r);
    ASSERT_TRUE (r.ok);
    ASSERT_STREQ (r.json, "[1,\"two\",{\"k\":null}]");
    s_result_clear (&r);

    s_exec ("echo plain text", "[]", 1 << 20, &r);
    ASSERT_STREQ (r.json, "\"plain text\"");
    s_result_clear (&r);

    s_exec ("echo 'some detail' >&2; echo 'LookupError: no such key' >&2; exit 3", "[]",
            1 << 20, &r);
    ASSERT_TRUE (!r.ok);
    ASSERT_STREQ (r.type, "LookupError");
    ASSERT_STREQ (r.message, "no such key");
    ASSERT_STREQ (r.traceback, "some detail\nLookupError: no such key\n");
    s_result_clear (&r);

    s_exec ("exit 4", "[]", 1 << 20, &r);
    ASSERT_STREQ (r.type, "ExecError");
    ASSERT_STREQ (r.message, "command exited with status 4");
    s_result_clear (&r);

    s_exec ("kill -TERM $$", "[]", 1 << 20, &r);
    ASSERT_STREQ (r.type, "ExecError");
    ASSERT_STREQ (r.message, "command killed by signal 15");
    s_result_clear (&r);

    //  A command need not read its arguments, even large ones.
    char *big = malloc (600000);
    memset (big, ' ', 600000);
    big[0] = '[';
    memcpy (big + 1, "\"", 1);
    memset (big + 2, 'a', 599995);
    memcpy (big + 599997, "\"]", 3);
    s_exec ("echo 5", big, 1 << 20, &r);
    ASSERT_STREQ (r.json, "5");
    s_result_clear (&r);
    free (big);

    //  stdout over the limit: TooLarge, and the command is stopped.
    s_exec ("while :; do echo xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done", "[]", 100000, &r);
    ASSERT_TRUE (!r.ok);
    ASSERT_STREQ (r.type, "TooLarge");
    s_result_clear (&r);

    //  A background process that keeps stdout open is ended with the task.
    s_exec ("sleep 30 & echo started", "[]", 1 << 20, &r);
    ASSERT_STREQ (r.json, "\"started\"");
    s_result_clear (&r);
}

static void
s_never (const outcome_t *out, void *arg)
{
    ZT_FAIL ("done must not run after exec_abort");
}

static void
s_on_abort_timer (uv_timer_t *timer)
{
    exec_t **e = timer->data;
    exec_abort (e);
    uv_close ((uv_handle_t *) timer, NULL);
}

//  Live (not zombie) processes in process group `pgid`.
static int
s_group_alive (int pgid)
{
    int alive = 0;
    DIR *dir = opendir ("/proc");
    struct dirent *ent;
    while (dir && (ent = readdir (dir))) {
        char path[300], buf[512];
        snprintf (path, sizeof path, "/proc/%s/stat", ent->d_name);
        FILE *f = fopen (path, "r");
        if (!f)
            continue;
        size_t n = fread (buf, 1, sizeof buf - 1, f);
        fclose (f);
        buf[n] = 0;
        //  pid (comm) state ppid pgrp ...; comm may hold spaces.
        char *close_paren = strrchr (buf, ')');
        char state;
        int ppid, pgrp;
        if (close_paren && sscanf (close_paren + 1, " %c %d %d", &state, &ppid, &pgrp) == 3
        && pgrp == pgid && state != 'Z')
            alive++;
    }
    if (dir)
        closedir (dir);
    return alive;
}

static void
test_abort_kills_group (void)
{
    uv_loop_t loop;
    uv_loop_init (&loop);
    zj_enc_t *enc = zj_enc_new ();
    zj_enc_array (enc, 0);
    //  A pipeline: several processes in the group, all must go.
    exec_spec_t spec = {"sleep 31 | sleep 32", {zj_enc_data (enc), zj_enc_size (enc)}, 1 << 20,
                        s_guard};
    char why[128];
    exec_t *e = exec_start (&loop, &spec, s_never, NULL, why, sizeof why);
    ASSERT_TRUE (e != NULL);
    int pgid = exec_pid (e);
    ASSERT_TRUE (pgid > 0);
    uv_timer_t timer;
    uv_timer_init (&loop, &timer);
    timer.data = &e;
    uv_timer_start (&timer, s_on_abort_timer, 200, 0);
    uv_run (&loop, UV_RUN_DEFAULT);
    ASSERT_TRUE (e == NULL);
    ASSERT_EQ (uv_loop_close (&loop), 0);
    //  Nothing is left in the group (SIGKILL is quick, but not instant).
    for (int i = 0; i < 200 && s_group_alive (pgid) > 0; i++)
        usleep (10000);
    ASSERT_EQ (s_group_alive (pgid), 0);
    zj_enc_destroy (&enc);
}

int
main (int argc, char **argv)
{
    //  This executable doubles as the guard, like zjob-worker.
    if (argc == 4 && strcmp (argv[1], "--exec-guard") == 0)
        return exec_guard_main (argv[2], argv[3]);
    signal (SIGPIPE, SIG_IGN);
    ZT_RUN (test_stdout_json_or_string);
    ZT_RUN (test_stderr_error_line);
    s_guard = NULL;
    ZT_RUN (test_run_commands);
    ZT_RUN (test_abort_kills_group);
    //  The guard is this executable (by path: under valgrind,
    //  /proc/self/exe names valgrind itself).
    static char self[4096];
    ssize_t n = readlink ("/proc/self/exe", self, sizeof self - 1);
    ASSERT_TRUE (n > 0);
    self[n] = 0;
    s_guard = self;
    ZT_RUN (test_run_commands);
    ZT_RUN (test_abort_kills_group);
    return 0;
}
