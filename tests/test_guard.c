/*  test_guard.c - tm_guard: which processes a sweep kills, and which not.

    The guard process itself, started by a real agent and woken by its
    death, is tested end to end in test_cli_dist.c; here, the sweep
    (tm_guard_kill_marked) on children of the test marked by hand.
*/
#include "tm_testutil.h"
#include "tm_guard.h"
#include "tm_proc.h"
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>

//  A mark value no other test (in this process or another) uses: it
//  starts with "t-PID-".
static char *
s_mark (const char *key, int incarnation)
{
    char *mark = (char *) malloc (128);
    cr_assert_not_null (mark);
    snprintf (mark, 128, "t-%d-%s:%d/%d", (int) getpid (), key, (int) getpid (),
              incarnation);
    return mark;
}

//  After a failed test: what it left marked (its unmarked child is a
//  minute's sleep)
static void
s_cleanup (void)
{
    char prefix [64];
    snprintf (prefix, sizeof prefix, "t-%d-", (int) getpid ());
    tm_guard_kill_marked (prefix, true);
}

TestSuite (guard, .fini = s_cleanup);

//  Spawns sh -c SCRIPT with TESTMESH_AGENT=MARK (NULL: no mark), in a
//  process group of its own.
static tm_proc_t *
s_spawn (const char *script, const char *mark)
{
    char entry [200];
    snprintf (entry, sizeof entry, "%s=%s", TM_GUARD_ENV, mark ? mark : "");
    char *env [] = { mark ? entry : NULL, NULL };
    char *argv [] = { "sh", "-c", (char *) script, NULL };
    char *err = NULL;
    tm_proc_t *proc = tm_proc_spawn (argv, NULL, env, 4096, &err);
    cr_assert_not_null (proc, "%s", err);
    return proc;
}

//  Waits until PROC's child has exited, or fails after DEADLINE s.
static void
s_wait_exit (tm_proc_t *proc, double deadline)
{
    double end = tmu_now () + deadline;
    while (!tm_proc_reap (proc)) {
        cr_assert (tmu_now () < end, "process %d still runs", (int) tm_proc_pid (proc));
        struct pollfd item = { tm_proc_pid_fd (proc), POLLIN, 0 };
        poll (&item, 1, 50);
    }
}

//  The state letter of process PID (/proc/PID/stat), 0 if it is gone.
//  With *PGRP_P, its process group too.
static char
s_state (pid_t pid, pid_t *pgrp_p)
{
    tmu_proc_stat_t stat;
    if (!tmu_proc_stat (pid, &stat))
        return 0;
    if (pgrp_p)
        *pgrp_p = stat.pgrp;
    return stat.state;
}

//  True if process PID runs: it exists and is not a zombie (a dead
//  process that its parent, init perhaps, has not reaped yet).
static bool
s_running (pid_t pid)
{
    char state = s_state (pid, NULL);
    return state && state != 'Z' && state != 'X';
}

//  Running processes in the process group PGID.
static int
s_group_running (pid_t pgid)
{
    int count = 0;
    DIR *proc = opendir ("/proc");
    cr_assert_not_null (proc);
    struct dirent *entry;
    while ((entry = readdir (proc))) {
        pid_t pid = (pid_t) atoi (entry->d_name);
        pid_t pgrp = 0;
        if (pid > 0 && s_running (pid) && s_state (pid, &pgrp) && pgrp == pgid)
            count++;
    }
    closedir (proc);
    return count;
}

//  Waits until no process of the group PGID runs, or fails after
//  DEADLINE s.
static void
s_wait_group_gone (pid_t pgid, double deadline)
{
    double end = tmu_now () + deadline;
    int left;
    while ((left = s_group_running (pgid)) > 0) {
        cr_assert (tmu_now () < end, "process group %d still runs %d processes",
                   (int) pgid, left);
        usleep (10000);
    }
}

//  Waits until the leader of PROC has started its background children.
static void
s_wait_ready (tm_proc_t *proc, double deadline)
{
    double end = tmu_now () + deadline;
    while (tm_proc_stdout_fd (proc) >= 0) {
        cr_assert (tmu_now () < end, "the script did not say it was ready");
        struct pollfd item = { tm_proc_stdout_fd (proc), POLLIN, 0 };
        poll (&item, 1, 50);
        tm_proc_read (proc, tm_proc_stdout_fd (proc));
        //  The script closes its stdout once its children run
    }
}

//  Waits until process PID (not our child) no longer runs, or fails
//  after DEADLINE s.
static void
s_wait_gone (pid_t pid, double deadline)
{
    double end = tmu_now () + deadline;
    while (s_running (pid)) {
        cr_assert (tmu_now () < end, "process %d still runs", (int) pid);
        usleep (10000);
    }
}

Test (guard, kills_marked_processes_and_the_groups_they_lead)
{
    char *mark = s_mark ("kill", 1);
    char *dir = tmu_scratch ();
    char script [1024];
    //  In the test's group: a child that cleared its environment (found
    //  through its group only).  Out of it: a child in a session of its
    //  own that kept the mark (found through its mark only), which writes
    //  its pid to a file.  Then the script closes its output: ready.
    snprintf (script, sizeof script,
              "env -i sleep 60 >/dev/null 2>&1 & "
              "setsid sh -c 'echo $$ > %s/pid; exec sleep 61' >/dev/null 2>&1 & "
              "while [ ! -s %s/pid ]; do sleep 0.01; done; exec >&- 2>&-; sleep 62",
              dir, dir);
    tm_proc_t *proc = s_spawn (script, mark);
    s_wait_ready (proc, 10);
    char path [4200];
    snprintf (path, sizeof path, "%s/pid", dir);
    char *text = tmu_slurp (path);
    cr_assert_not_null (text);
    pid_t escaped = (pid_t) atoi (text);
    cr_assert_gt (escaped, 1);
    pid_t group = tm_proc_pid (proc);
    cr_assert_neq (getpgid (escaped), group, "the setsid child is still in the group");

    int killed = tm_guard_kill_marked (mark, false);
    cr_assert_geq (killed, 2, "killed %d", killed);
    //  Before we reap the leader (tm_proc_reap kills its group itself)
    s_wait_group_gone (group, 10);
    s_wait_gone (escaped, 10);
    s_wait_exit (proc, 10);
    cr_assert_eq (tm_proc_signal (proc), SIGKILL);
    tm_proc_destroy (&proc);
    tmu_rmrf (dir);
    free (dir);
    free (text);
    free (mark);
}

Test (guard, spares_other_incarnations_other_data_directories_and_unmarked_processes)
{
    char *one = s_mark ("dir", 1);
    char *two = s_mark ("dir", 2);
    //  Another data directory whose key starts with this one's
    char *key = strdup (one);
    *strchr (key, '/') = 0;
    char other [160];
    snprintf (other, sizeof other, "%s0/1", key);
    tm_proc_t *first = s_spawn ("exec sleep 60", one);
    tm_proc_t *second = s_spawn ("exec sleep 60", two);
    tm_proc_t *elsewhere = s_spawn ("exec sleep 60", other);
    tm_proc_t *unmarked = s_spawn ("exec sleep 60", NULL);

    //  The guard's sweep: its own incarnation only
    cr_assert_eq (tm_guard_kill_marked (one, false), 1);
    s_wait_exit (first, 10);
    cr_assert_eq (tm_proc_signal (first), SIGKILL);
    cr_assert_not (tm_proc_reap (second), "another incarnation's process was killed");

    //  The restart sweep: every incarnation on this data directory (KEY
    //  and its '/'), and nothing of the other
    strcat (key, "/");
    cr_assert_eq (tm_guard_kill_marked (key, true), 1);
    s_wait_exit (second, 10);
    cr_assert_eq (tm_proc_signal (second), SIGKILL);
    cr_assert_not (tm_proc_reap (elsewhere), "another data directory's process was killed");
    cr_assert_not (tm_proc_reap (unmarked), "an unmarked process was killed");

    tm_proc_destroy (&first);
    tm_proc_destroy (&second);
    tm_proc_destroy (&elsewhere);
    tm_proc_destroy (&unmarked);
    free (key);
    free (one);
    free (two);
}
