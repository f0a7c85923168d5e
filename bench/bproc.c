// SPDX-License-Identifier: MIT
//  bproc - processes and /proc for the benchmarks; see bproc.h. Every
//  child gets its own process group so that stopping it also stops what
//  it started (zjob-worker's processes), and nothing else.
#include "bproc.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double
bproc_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

void
bproc_sleep (double secs)
{
    struct timespec ts = {(time_t) secs, (long) ((secs - (double) (time_t) secs) * 1e9)};
    while (nanosleep (&ts, &ts) != 0 && errno == EINTR)
        ;
}

pid_t
bproc_spawn (char *const argv[], const char *log_path)
{
    pid_t pid = fork ();
    if (pid != 0)
        return pid;
    setpgid (0, 0);
    //  Nothing outlives a benchmark that died: the child goes with it.
    prctl (PR_SET_PDEATHSIG, SIGTERM);
    int fd = log_path ? open (log_path, O_WRONLY | O_CREAT | O_APPEND, 0644)
                      : open ("/dev/null", O_WRONLY);
    if (fd >= 0) {
        dup2 (fd, 1);
        dup2 (fd, 2);
        close (fd);
    }
    //  A broker serving a thousand simulated workers needs the descriptors.
    struct rlimit rl;
    if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit (RLIMIT_NOFILE, &rl);
    }
    execv (argv[0], argv);
    fprintf (stderr, "bench: cannot run %s: %s\n", argv[0], strerror (errno));
    _exit (127);
}

bool
bproc_alive (pid_t pid)
{
    return pid > 0 && waitpid (pid, NULL, WNOHANG) == 0;
}

int
bproc_stop (pid_t pid, double grace)
{
    if (pid <= 0)
        return -1;
    kill (-pid, SIGTERM);
    double deadline = bproc_now () + grace;
    int status = 0;
    for (;;) {
        pid_t rc = waitpid (pid, &status, WNOHANG);
        if (rc == pid)
            return status;
        if (rc < 0)
            return -1;
        if (bproc_now () >= deadline)
            break;
        bproc_sleep (0.01);
    }
    kill (-pid, SIGKILL);
    if (waitpid (pid, &status, 0) == pid)
        return status;
    return -1;
}

//  utime + stime of /proc/<pid>/stat, and its process group.
static bool
s_stat (const char *path, double *cpu, long *pgrp)
{
    FILE *f = fopen (path, "r");
    if (!f)
        return false;
    char buf[1024];
    size_t n = fread (buf, 1, sizeof buf - 1, f);
    fclose (f);
    buf[n] = 0;
    //  The command name may hold spaces and parentheses: skip past the last ')'.
    char *p = strrchr (buf, ')');
    if (!p)
        return false;
    //  Fields after the name: 3 state, 4 ppid, 5 pgrp, ... 14 utime, 15 stime.
    char state;
    long ppid, group;
    unsigned long utime, stime;
    if (sscanf (p + 2, "%c %ld %ld %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                &state, &ppid, &group, &utime, &stime) != 5)
        return false;
    *cpu = (double) (utime + stime) / (double) sysconf (_SC_CLK_TCK);
    *pgrp = group;
    return true;
}

double
bproc_cpu (pid_t pid)
{
    char path[64];
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    double cpu;
    long group;
    return s_stat (path, &cpu, &group) ? cpu : -1;
}

double
bproc_group_cpu (pid_t pgid)
{
    DIR *dir = opendir ("/proc");
    if (!dir)
        return -1;
    double sum = 0;
    struct dirent *e;
    while ((e = readdir (dir))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char path[300];
        snprintf (path, sizeof path, "/proc/%s/stat", e->d_name);
        double cpu;
        long group;
        if (s_stat (path, &cpu, &group) && group == pgid)
            sum += cpu;
    }
    closedir (dir);
    return sum;
}

long long
bproc_rss (pid_t pid)
{
    char path[64];
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *f = fopen (path, "r");
    if (!f)
        return -1;
    char line[256];
    long long kb = -1;
    while (fgets (line, sizeof line, f))
        if (sscanf (line, "VmRSS: %lld kB", &kb) == 1)
            break;
    fclose (f);
    return kb < 0 ? -1 : kb * 1024;
}

double
bproc_self_cpu (void)
{
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    return (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6
         + (double) ru.ru_stime.tv_sec + (double) ru.ru_stime.tv_usec / 1e6;
}

bool
bproc_read_endpoints (const char *path, double timeout, char *clients, char *workers,
                      size_t size)
{
    double deadline = bproc_now () + timeout;
    while (bproc_now () < deadline) {
        FILE *f = fopen (path, "r");
        if (f) {
            char line[512];
            bool got_c = false, got_w = false;
            while (fgets (line, sizeof line, f)) {
                line[strcspn (line, "\r\n")] = 0;
                if (strncmp (line, "clients=", 8) == 0 && strlen (line + 8) < size) {
                    strcpy (clients, line + 8);
                    got_c = true;
                }
                else if (strncmp (line, "workers=", 8) == 0 && strlen (line + 8) < size) {
                    strcpy (workers, line + 8);
                    got_w = true;
                }
            }
            fclose (f);
            if (got_c && got_w)
                return true;
        }
        bproc_sleep (0.01);
    }
    return false;
}

bool
bproc_help_has (const char *program, const char *word)
{
    char cmd[1200];
    snprintf (cmd, sizeof cmd, "'%s' --help 2>&1", program);
    FILE *p = popen (cmd, "r");
    if (!p)
        return false;
    char line[512];
    bool found = false;
    while (fgets (line, sizeof line, p))
        if (strstr (line, word))
            found = true;
    pclose (p);
    return found;
}
