// SPDX-License-Identifier: MIT
//  bproc - what the benchmarks need from processes and /proc: spawn a
//  program in its own process group, stop it by that id, read its CPU
//  time and resident memory. Benchmarks only; never linked into zjob.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

//  Start argv[0] with argv in a new process group whose id is the
//  returned pid. stdout and stderr go to log_path (appended), or to
//  /dev/null when log_path is NULL. Returns the pid, or -1 with errno set.
pid_t bproc_spawn (char *const argv[], const char *log_path);
//  SIGTERM the process group `pid`, wait up to `grace` seconds for its
//  leader to exit, then SIGKILL the group. Returns the leader's wait
//  status, or -1 when it was already reaped. Safe on pid <= 0.
int bproc_stop (pid_t pid, double grace);
//  True while `pid` (a child of ours) has not exited.
bool bproc_alive (pid_t pid);
//  Seconds of CPU (user + system) that `pid` has used, or -1.
double bproc_cpu (pid_t pid);
//  The same, summed over every live process of process group `pgid`.
double bproc_group_cpu (pid_t pgid);
//  Resident memory of `pid` in bytes (VmRSS), or -1.
long long bproc_rss (pid_t pid);
//  CPU seconds this process has used (every thread), from getrusage.
double bproc_self_cpu (void);
//  Wait up to `timeout` seconds for a zjobd --endpoints-file at path and
//  copy its two endpoints (each buffer `size` bytes). False on timeout.
bool bproc_read_endpoints (const char *path, double timeout, char *clients,
                           char *workers, size_t size);
//  True when `program --help` prints `word` (used to detect flags that a
//  newer zjobd has, such as --durability).
bool bproc_help_has (const char *program, const char *word);
//  Seconds on CLOCK_MONOTONIC.
double bproc_now (void);
//  Sleep for `secs` seconds.
void bproc_sleep (double secs);
