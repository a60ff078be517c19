/*  tm_testutil.h - helpers shared by the Criterion test files.

    Integration tests drive the real binary: TM_BUILD (set by
    tools/run_tests.sh, default "build") names the build directory that
    holds testmesh and the fixture suites.  Each test gets a fresh
    scratch directory (tmu_scratch) used as testmesh's --data.
*/
#ifndef TM_TESTUTIL_H_INCLUDED
#define TM_TESTUTIL_H_INCLUDED

#include <criterion/criterion.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static inline const char *
tmu_build (void)
{
    const char *build = getenv ("TM_BUILD");
    return build && *build ? build : "build";
}

//  Returns a path inside the build directory (static buffer, rotating).
static inline const char *
tmu_path (const char *fmt, ...)
{
    static char bufs [8][4096];
    static int next;
    char *buf = bufs [next++ % 8];
    int off = snprintf (buf, 4096, "%s/", tmu_build ());
    va_list args;
    va_start (args, fmt);
    vsnprintf (buf + off, 4096 - off, fmt, args);
    va_end (args);
    return buf;
}

static inline double
tmu_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

//  A fresh empty directory for this test; removed by the OS's tmp cleaner
//  is not good enough, so tests call tmu_rmrf on it when done.
static inline char *
tmu_scratch (void)
{
    char *dir = strdup ("/tmp/testmesh-test-XXXXXX");
    cr_assert_not_null (mkdtemp (dir));
    return dir;
}

static inline void
tmu_rmrf (const char *dir)
{
    char cmd [4200];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system (cmd) != 0)
        fprintf (stderr, "tmu_rmrf: could not remove %s\n", dir);
}

//  Reads a whole file into a new NUL-terminated string, or NULL.
static inline char *
tmu_slurp (const char *path)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    fseek (file, 0, SEEK_END);
    long size = ftell (file);
    fseek (file, 0, SEEK_SET);
    char *data = (char *) malloc (size + 1);
    size_t got = fread (data, 1, size, file);
    data [got] = 0;
    fclose (file);
    return data;
}

static inline void
tmu_write (const char *path, const char *text)
{
    FILE *file = fopen (path, "wb");
    cr_assert_not_null (file, "cannot write %s", path);
    fputs (text, file);
    fclose (file);
}

typedef struct {
    int status;                 //  Exit code, or 128+signal, or -1 on deadline
    char *out;                  //  stdout, NUL-terminated
    char *err;                  //  stderr, NUL-terminated
    double seconds;             //  Wall time
} tmu_run_t;

static inline void
tmu_run_free (tmu_run_t *run)
{
    free (run->out);
    free (run->err);
    run->out = run->err = NULL;
}

//  Runs ARGV (NULL-terminated) with stdout and stderr captured to files,
//  waits at most DEADLINE seconds (then kills it and fails the test).
static inline tmu_run_t
tmu_run_argv (double deadline, char *const argv [])
{
    tmu_run_t run = { -1, NULL, NULL, 0 };
    char out_path [] = "/tmp/tmu-out-XXXXXX";
    char err_path [] = "/tmp/tmu-err-XXXXXX";
    int out_fd = mkstemp (out_path);
    int err_fd = mkstemp (err_path);
    cr_assert (out_fd >= 0 && err_fd >= 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_addopen (&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2 (&actions, out_fd, 1);
    posix_spawn_file_actions_adddup2 (&actions, err_fd, 2);
    pid_t pid;
    double start = tmu_now ();
    int rc = posix_spawn (&pid, argv [0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy (&actions);
    cr_assert_eq (rc, 0, "cannot spawn %s", argv [0]);
    int wstatus = 0;
    while (1) {
        pid_t got = waitpid (pid, &wstatus, WNOHANG);
        if (got == pid)
            break;
        if (tmu_now () - start > deadline) {
            kill (pid, SIGKILL);
            waitpid (pid, &wstatus, 0);
            close (out_fd);
            close (err_fd);
            unlink (out_path);
            unlink (err_path);
            cr_assert_fail ("%s did not finish within %.0f s", argv [0], deadline);
        }
        usleep (2000);
    }
    run.seconds = tmu_now () - start;
    run.status = WIFEXITED (wstatus) ? WEXITSTATUS (wstatus) : 128 + WTERMSIG (wstatus);
    close (out_fd);
    close (err_fd);
    run.out = tmu_slurp (out_path);
    run.err = tmu_slurp (err_path);
    unlink (out_path);
    unlink (err_path);
    return run;
}

//  tmu_run (deadline, "arg", "arg", ..., NULL) runs build/testmesh.
#define tmu_testmesh(deadline, ...) \
    tmu_run_argv ((deadline), (char *const []) { (char *) tmu_path ("testmesh"), __VA_ARGS__, NULL })

//  Counts occurrences of NEEDLE in HAYSTACK.
static inline int
tmu_count (const char *haystack, const char *needle)
{
    int count = 0;
    size_t len = strlen (needle);
    for (const char *p = haystack; (p = strstr (p, needle)); p += len)
        count++;
    return count;
}

//  How many processes have MARKER in their command line (pgrep -f; a
//  bracket keeps pgrep's own shell from matching).
static inline int
tmu_count_marked (const char *marker)
{
    char command [256];
    snprintf (command, sizeof command, "pgrep -f -c '[%c]%s'", marker [0], marker + 1);
    FILE *out = popen (command, "r");
    int count = 0;
    if (out && fscanf (out, "%d", &count) != 1)
        count = 0;
    if (out)
        pclose (out);
    return count;
}

//  DIR/NAME in a new string (caller frees).
static inline char *
tmu_join (const char *dir, const char *name)
{
    size_t size = strlen (dir) + strlen (name) + 2;
    char *path = (char *) malloc (size);
    cr_assert_not_null (path);
    snprintf (path, size, "%s/%s", dir, name);
    return path;
}

//  What /proc/PID/stat says of a process: its state letter ('R', 'S',
//  'Z' for a zombie ...), parent, process group, and start time (clock
//  ticks since boot: with the pid, the identity of a process that its
//  pid alone, reused, is not).
typedef struct {
    char state;
    pid_t ppid;
    pid_t pgrp;
    unsigned long long start;
} tmu_proc_stat_t;

//  Fills *STAT for process PID.  Returns false if it is gone (reaped).
//  The command name in parentheses may hold anything, spaces and ')'
//  included: fields are counted after its last ')'.
static inline bool
tmu_proc_stat (pid_t pid, tmu_proc_stat_t *stat)
{
    char path [64], line [1024];
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return false;
    size_t size = fread (line, 1, sizeof line - 1, file);
    fclose (file);
    line [size] = 0;
    memset (stat, 0, sizeof *stat);
    char *field = strrchr (line, ')');
    int ppid, pgrp;
    if (!field || sscanf (field + 2, "%c %d %d", &stat->state, &ppid, &pgrp) != 3)
        return false;
    stat->ppid = ppid;
    stat->pgrp = pgrp;
    //  Field 22 is the start time; field 2 ends at FIELD
    for (int number = 2; field && number < 22; number++)
        field = strchr (field + 1, ' ');
    stat->start = field ? strtoull (field + 1, NULL, 10) : 0;
    return true;
}

#endif
