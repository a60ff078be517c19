/*  test_proc.c - tm_proc: spawning, bounded capture, killing, reaping. */
#include "tm_testutil.h"
#include "tm_proc.h"
#include "tm_task.h"
#include <poll.h>
#include <signal.h>

//  Runs PROC to exit and EOF on both pipes, or fails after DEADLINE s.
static void
s_finish (tm_proc_t *proc, double deadline)
{
    double end = tmu_now () + deadline;
    while (!tm_proc_exited (proc) || tm_proc_stdout_fd (proc) >= 0
           || tm_proc_stderr_fd (proc) >= 0) {
        cr_assert (tmu_now () < end, "child did not finish in time");
        struct pollfd items [3];
        int count = 0;
        if (tm_proc_stdout_fd (proc) >= 0)
            items [count++] = (struct pollfd) { tm_proc_stdout_fd (proc), POLLIN, 0 };
        if (tm_proc_stderr_fd (proc) >= 0)
            items [count++] = (struct pollfd) { tm_proc_stderr_fd (proc), POLLIN, 0 };
        if (!tm_proc_exited (proc))
            items [count++] = (struct pollfd) { tm_proc_pid_fd (proc), POLLIN, 0 };
        poll (items, count, 50);
        for (int i = 0; i < count; i++)
            if (items [i].revents && items [i].fd != tm_proc_pid_fd (proc))
                tm_proc_read (proc, items [i].fd);
        tm_proc_reap (proc);
    }
}

Test (proc, captures_stdout_stderr_and_exit_code)
{
    char *argv [] = { "sh", "-c", "echo out; echo err >&2; exit 3", NULL };
    char *err = NULL;
    tm_proc_t *proc = tm_proc_spawn (argv, NULL, NULL, 4096, &err);
    cr_assert_not_null (proc, "%s", err);
    s_finish (proc, 10);
    cr_assert_eq (tm_proc_exit_code (proc), 3);
    cr_assert_eq (tm_proc_signal (proc), 0);
    char *out, *errout;
    size_t size;
    uint64_t cut;
    tm_proc_take_output (proc, 1, &out, &size, &cut);
    cr_assert_str_eq (out, "out\n");
    cr_assert_eq (cut, 0);
    tm_proc_take_output (proc, 2, &errout, &size, &cut);
    cr_assert_str_eq (errout, "err\n");
    free (out);
    free (errout);
    tm_proc_destroy (&proc);
    cr_assert_null (proc);
    tm_proc_destroy (&proc);    //  Idempotent
}

Test (proc, reports_signal_that_killed_the_child)
{
    char *argv [] = { "sh", "-c", "kill -SEGV $$", NULL };
    tm_proc_t *proc = tm_proc_spawn (argv, NULL, NULL, 4096, NULL);
    cr_assert_not_null (proc);
    s_finish (proc, 10);
    cr_assert_eq (tm_proc_exit_code (proc), -1);
    cr_assert_eq (tm_proc_signal (proc), SIGSEGV);
    tm_proc_destroy (&proc);
}

Test (proc, keeps_head_and_tail_and_counts_what_was_cut)
{
    //  10 MB of output through a 4 KiB bound: head 1 KiB, tail 3 KiB
    char *argv [] = { "sh", "-c", "echo START; head -c 10000000 /dev/zero | tr '\\0' x; echo; echo END", NULL };
    tm_proc_t *proc = tm_proc_spawn (argv, NULL, NULL, 4096, NULL);
    cr_assert_not_null (proc);
    s_finish (proc, 30);
    char *out;
    size_t size;
    uint64_t cut;
    tm_proc_take_output (proc, 1, &out, &size, &cut);
    cr_assert_eq (cut, 6 + 10000000 + 1 + 4 - 4096);
    cr_assert (strncmp (out, "START\n", 6) == 0);
    cr_assert (size > 4 && streq (out + size - 4, "END\n"), "tail kept");
    cr_assert_not_null (strstr (out, "bytes cut"));
    free (out);
    tm_proc_destroy (&proc);
}

Test (proc, missing_program_fails_with_a_reason)
{
    char *argv [] = { "/nonexistent/program", NULL };
    char *err = NULL;
    tm_proc_t *proc = tm_proc_spawn (argv, NULL, NULL, 4096, &err);
    cr_assert_null (proc);
    cr_assert_not_null (err);
    cr_assert_not_null (strstr (err, "/nonexistent/program"), "%s", err);
    free (err);
}

Test (proc, runs_in_the_given_directory_with_extra_environment)
{
    char *argv [] = { "sh", "-c", "pwd; echo $TM_X", NULL };
    char *env [] = { "TM_X=hello", NULL };
    tm_proc_t *proc = tm_proc_spawn (argv, "/tmp", env, 4096, NULL);
    cr_assert_not_null (proc);
    s_finish (proc, 10);
    char *out;
    size_t size;
    uint64_t cut;
    tm_proc_take_output (proc, 1, &out, &size, &cut);
    cr_assert_str_eq (out, "/tmp\nhello\n");
    free (out);
    tm_proc_destroy (&proc);
}

Test (proc, child_gets_no_inherited_descriptors)
{
    int fd = open ("/dev/null", O_RDONLY);    //  Not CLOEXEC on purpose
    cr_assert (fd >= 3);
    char script [64];
    snprintf (script, sizeof script, "test -e /proc/self/fd/%d && echo leaked || echo clean", fd);
    char *argv [] = { "sh", "-c", script, NULL };
    tm_proc_t *proc = tm_proc_spawn (argv, NULL, NULL, 4096, NULL);
    s_finish (proc, 10);
    char *out;
    size_t size;
    uint64_t cut;
    tm_proc_take_output (proc, 1, &out, &size, &cut);
    cr_assert_str_eq (out, "clean\n");
    free (out);
    tm_proc_destroy (&proc);
    close (fd);
}

Test (proc, destroy_kills_the_whole_process_group)
{
    tm_proc_init ();            //  The killed grandchild comes back to us to reap
    //  The child starts a grandchild in the same group, prints its pid
    char *argv [] = { "sh", "-c", "sleep 300 & echo $!; wait", NULL };
    tm_proc_t *proc = tm_proc_spawn (argv, NULL, NULL, 4096, NULL);
    cr_assert_not_null (proc);
    //  Wait for the grandchild's pid line
    char line [32] = "";
    double end = tmu_now () + 10;
    while (!strchr (line, '\n')) {
        cr_assert (tmu_now () < end);
        struct pollfd item = { tm_proc_stdout_fd (proc), POLLIN, 0 };
        poll (&item, 1, 50);
        ssize_t got = read (tm_proc_stdout_fd (proc), line + strlen (line),
                            sizeof line - strlen (line) - 1);
        if (got > 0)
            line [strlen (line) + got] = 0;
    }
    pid_t grandchild = atoi (line);
    cr_assert (grandchild > 0);
    tm_proc_destroy (&proc);
    //  Destroy killed the group: the grandchild is dead, at most a zombie
    //  waiting for us (its new parent) to reap it.  No sweep before this
    //  check, so it is destroy's SIGKILL that is tested.
    end = tmu_now () + 10;
    while (true) {
        tmu_proc_stat_t stat;
        if (!tmu_proc_stat (grandchild, &stat))
            break;              //  Reaped already
        if (stat.state == 'Z')
            break;              //  Dead, not yet reaped
        cr_assert (tmu_now () < end, "grandchild %d still running (state %c)", grandchild,
                   stat.state);
        usleep (1000);
    }
    tm_proc_sweep_orphans (NULL, NULL);     //  Reap it
}

static bool
s_spare_all (const char *test_id, void *arg)
{
    (void) test_id;
    (*(int *) arg)++;
    return false;
}

Test (proc, sweep_spares_strays_its_callback_keeps)
{
    tm_proc_init ();
    char *argv [] = { "sh", "-c", "setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $!", NULL };
    char *env [] = { "TESTMESH_TEST_ID=keeper", NULL };
    tm_proc_t *proc = tm_proc_spawn (argv, NULL, env, 4096, NULL);
    s_finish (proc, 10);
    char *out;
    size_t size;
    uint64_t cut;
    tm_proc_take_output (proc, 1, &out, &size, &cut);
    pid_t daemon = atoi (out);
    free (out);
    tm_proc_destroy (&proc);
    int asked = 0;
    //  The daemon is adopted once its parent (sh) has exited: ask until then
    double end = tmu_now () + 10;
    while (asked == 0) {
        cr_assert_eq (tm_proc_sweep_orphans (s_spare_all, &asked), 0, "spared");
        cr_assert (tmu_now () < end, "the daemon was never offered to the callback");
        usleep (1000);
    }
    cr_assert_eq (kill (daemon, 0), 0, "a spared stray lives");
    cr_assert_geq (tm_proc_sweep_orphans (NULL, NULL), 1);
    cr_assert_neq (kill (daemon, 0), 0);
}

Test (proc, sweep_reaches_strays_of_strays)
{
    tm_proc_init ();
    //  A chain four deep that left its session: killing each link hands
    //  the next to us only after the scan that found it
    char *dir = tmu_scratch ();
    char script [600], text [4096], pidfile [600];
    snprintf (script, sizeof script, "%s/chain.sh", dir);
    snprintf (pidfile, sizeof pidfile, "%s/deepest", dir);
    snprintf (text, sizeof text,
              "#!/bin/sh\n"
              "if [ \"$1\" -gt 0 ]; then exec sh %s $(($1 - 1)) & wait; fi\n"
              "echo $$ > %s.tmp; mv %s.tmp %s; exec sleep 303\n",
              script, pidfile, pidfile, pidfile);
    tmu_write (script, text);
    //  The test waits for the chain to be up before it ends, or the
    //  process-group kill at its end would catch the chain's first link
    //  before it has left the group
    char command [2000];
    snprintf (command, sizeof command,
              "setsid sh %s 3 </dev/null >/dev/null 2>&1 & "
              "while [ ! -e %s ]; do sleep 0.01; done", script, pidfile);
    char *argv [] = { "sh", "-c", command, NULL };
    tm_proc_t *proc = tm_proc_spawn (argv, NULL, NULL, 4096, NULL);
    s_finish (proc, 10);
    tm_proc_destroy (&proc);
    char *deepest = NULL;
    double end = tmu_now () + 10;
    while (!(deepest = tmu_slurp (pidfile))) {
        cr_assert (tmu_now () < end, "the chain did not start");
        usleep (2000);
    }
    pid_t pid = atoi (deepest);
    free (deepest);
    cr_assert (pid > 0 && kill (pid, 0) == 0);
    tm_proc_sweep_orphans (NULL, NULL);
    //  The deepest link is dead (reaped, or a zombie of a dying parent
    //  that the same sweep reaped): it no longer answers kill (pid, 0)
    //  once reaped, so look for a running process of that pid
    tmu_proc_stat_t stat;
    bool present = tmu_proc_stat (pid, &stat);
    cr_assert (!present || stat.state == 'Z',
               "one sweep left the deepest link running (state %c)", stat.state);
    tmu_rmrf (dir);
    free (dir);
}

Test (proc, sweep_kills_a_daemon_that_left_the_process_group)
{
    tm_proc_init ();            //  We must be a subreaper to see it
    //  setsid puts the daemon in its own session and group
    char *argv [] = { "sh", "-c", "setsid sh -c 'sleep 300' </dev/null >/dev/null 2>&1 & echo $!", NULL };
    tm_proc_t *proc = tm_proc_spawn (argv, NULL, NULL, 4096, NULL);
    s_finish (proc, 10);
    char *out;
    size_t size;
    uint64_t cut;
    tm_proc_take_output (proc, 1, &out, &size, &cut);
    pid_t daemon = atoi (out);
    free (out);
    cr_assert (daemon > 0);
    tm_proc_destroy (&proc);
    cr_assert_eq (kill (daemon, 0), 0, "daemon should outlive the test until swept");
    int killed = 0;
    double end = tmu_now () + 10;
    while (kill (daemon, 0) == 0) {
        killed += tm_proc_sweep_orphans (NULL, NULL);
        cr_assert (tmu_now () < end, "daemon %d survived the sweep", daemon);
        usleep (1000);
    }
    cr_assert_geq (killed, 1);
}

Test (proc, run_returns_output_and_times_out_hung_programs)
{
    char *output = NULL;
    int code = 0, sig = 0;
    char *err = NULL;
    char *ok [] = { "sh", "-c", "echo listed", NULL };
    cr_assert_eq (tm_proc_run (ok, NULL, 10, 4096, &output, &code, &sig, &err), 0);
    cr_assert_str_eq (output, "listed\n");
    cr_assert_eq (code, 0);
    free (output);

    char *hung [] = { "sleep", "300", NULL };
    double start = tmu_now ();
    cr_assert_eq (tm_proc_run (hung, NULL, 0.3, 4096, &output, &code, &sig, &err), -1);
    cr_assert (tmu_now () - start < 5);
    cr_assert_not_null (err);
    cr_assert_not_null (strstr (err, "did not finish"), "%s", err);
    free (err);
}

Test (proc, later_environment_entries_replace_earlier_ones)
{
    //  [defaults] env then the test's env: the test's value must win for
    //  getenv () as well as for the shell, and the variable appear once
    setenv ("TM_DUP", "from_parent", 1);
    char *argv [] = { "sh", "-c", "env | grep -c '^TM_DUP='; echo $TM_DUP", NULL };
    char *env [] = { "TM_DUP=from_defaults", "TM_DUP=from_test", NULL };
    tm_proc_t *proc = tm_proc_spawn (argv, NULL, env, 4096, NULL);
    s_finish (proc, 10);
    char *out;
    size_t size;
    uint64_t cut;
    tm_proc_take_output (proc, 1, &out, &size, &cut);
    cr_assert_str_eq (out, "1\nfrom_test\n");
    free (out);
    tm_proc_destroy (&proc);
    unsetenv ("TM_DUP");
}
