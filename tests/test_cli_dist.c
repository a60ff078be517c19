/*  test_cli_dist.c - integration: `testmesh run` spread over real agents.

    Every agent is build/testmesh agent on loopback with the fast profile
    (tm_cluster.h).  The CLI is build/testmesh run --data AGENT_DIR, which
    submits to that agent (docs/scheduling.md).  Suites are INI manifests
    of shell commands written by the test.  Conditions are polled with a
    deadline; nothing sleeps a fixed time to let something happen.
*/
#include "tm_cluster.h"
#include "tm_guard.h"
#include <dirent.h>
#include <jansson.h>
#include <signal.h>

TestSuite (cli_dist, .fini = tmc_cleanup, .timeout = 120);

//  Starts COUNT agents a1..aN with SLOTS slots each, all seeing all alive.
static void
s_cluster (tmc_agent_t **agents, int count, const char *slots)
{
    static const char *names [] = { "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8" };
    cr_assert (count <= 8);
    agents [0] = tmc_start (names [0], NULL, "--slots", slots, NULL);
    char *token = tmc_token (agents [0], 10);
    for (int i = 1; i < count; i++)
        agents [i] = tmc_start (names [i], token, "--slots", slots, NULL);
    tmc_wait_mesh (agents, count, 30);
    free (token);
}

//  Writes a manifest of COUNT tests "tI" to DIR/NAME; test I runs the
//  shell command COMMAND (I) returns.  Returns its path (caller frees).
static char *
s_manifest (const char *dir, const char *name, int count, const char *(*command) (int))
{
    char *path = tmu_join (dir, name);
    FILE *file = fopen (path, "w");
    cr_assert_not_null (file);
    fprintf (file, "[defaults]\nshell = true\ntimeout = 60\n\n");
    for (int i = 0; i < count; i++)
        fprintf (file, "[test \"t%d\"]\ncommand = %s\n\n", i, command (i));
    fclose (file);
    return path;
}

//  True if process PID descends from ANCESTOR.
static bool
s_descends (pid_t pid, pid_t ancestor)
{
    for (int depth = 0; pid > 1 && depth < 64; depth++) {
        if (pid == ancestor)
            return true;
        tmu_proc_stat_t stat;
        if (!tmu_proc_stat (pid, &stat))
            return false;
        pid = stat.ppid;
    }
    return false;
}

//  The start time of process PID (tmu_proc_stat), or 0 if it is gone or
//  a zombie.
static unsigned long long
s_start_time (pid_t pid)
{
    tmu_proc_stat_t stat;
    if (!tmu_proc_stat (pid, &stat) || stat.state == 'Z' || stat.state == 'X')
        return 0;
    return stat.start;
}

//  Running processes whose command line contains MARKER (descending from
//  UNDER, if UNDER > 0): their number, and the first MAX of them in PIDS
//  and STARTS (s_start_time), if given.
static int
s_find (const char *marker, pid_t under, pid_t *pids, unsigned long long *starts, int max)
{
    int count = 0;
    DIR *proc = opendir ("/proc");
    cr_assert_not_null (proc);
    struct dirent *entry;
    while ((entry = readdir (proc))) {
        if (entry->d_name [0] < '0' || entry->d_name [0] > '9')
            continue;
        char path [300], line [4096];
        snprintf (path, sizeof path, "/proc/%s/cmdline", entry->d_name);
        FILE *file = fopen (path, "r");
        if (!file)
            continue;
        size_t size = fread (line, 1, sizeof line - 1, file);
        fclose (file);
        for (size_t i = 0; i < size; i++)
            if (line [i] == 0)
                line [i] = ' ';
        line [size] = 0;
        pid_t pid = (pid_t) atoi (entry->d_name);
        if (!strstr (line, marker) || (under > 0 && !s_descends (pid, under)))
            continue;
        if (pids && count < max) {
            pids [count] = pid;
            starts [count] = s_start_time (pid);
        }
        count++;
    }
    closedir (proc);
    return count;
}

//  Processes whose command line contains MARKER (descending from UNDER,
//  if UNDER > 0).
static int
s_processes_under (const char *marker, pid_t under)
{
    return s_find (marker, under, NULL, NULL, 0);
}

static int
s_processes_with (const char *marker)
{
    return s_processes_under (marker, 0);
}

//  How many of the COUNT processes PIDS (started at STARTS) still run.
static int
s_still_running (const pid_t *pids, const unsigned long long *starts, int count)
{
    int running = 0;
    for (int i = 0; i < count; i++)
        if (starts [i] && s_start_time (pids [i]) == starts [i])
            running++;
    return running;
}

//  The guard process of AGENT (tm_guard.h): its child `testmesh __guard`.
static pid_t
s_guard_of (tmc_agent_t *agent)
{
    pid_t guard = 0;
    DIR *proc = opendir ("/proc");
    cr_assert_not_null (proc);
    struct dirent *entry;
    while (!guard && (entry = readdir (proc))) {
        pid_t pid = (pid_t) atoi (entry->d_name);
        char path [300], line [4096];
        snprintf (path, sizeof path, "/proc/%s/cmdline", entry->d_name);
        FILE *file = pid > 0 ? fopen (path, "r") : NULL;
        if (!file)
            continue;
        size_t size = fread (line, 1, sizeof line - 1, file);
        fclose (file);
        line [size] = 0;
        if (strlen (line) + 1 < size && strcmp (line + strlen (line) + 1, "__guard") == 0
        &&  s_descends (pid, agent->pid) && pid != agent->pid)
            guard = pid;
    }
    closedir (proc);
    return guard;
}

//  Waits until the processes with MARKER number at least WANT (AT_LEAST)
//  or exactly WANT; fails after TIMEOUT s.
static void
s_wait_processes (const char *marker, int want, bool at_least, double timeout)
{
    double end = tmu_now () + timeout;
    while (1) {
        int count = s_processes_with (marker);
        if (at_least ? count >= want : count == want)
            return;
        cr_assert (tmu_now () < end, "after %.0f s, %d processes with '%s' (want %s%d)",
                   timeout, count, marker, at_least ? ">= " : "", want);
        usleep (20000);
    }
}

//  The report's tests by id: id -> status; fails on a duplicate id.
static json_t *
s_statuses (const char *report_path, json_t **members)
{
    json_error_t error;
    json_t *report = json_load_file (report_path, 0, &error);
    cr_assert_not_null (report, "%s: %s", report_path, error.text);
    json_t *statuses = json_object ();
    if (members)
        *members = json_object ();
    size_t i;
    json_t *test;
    json_array_foreach (json_object_get (report, "tests"), i, test) {
        const char *id = json_string_value (json_object_get (test, "id"));
        cr_assert_not_null (id);
        cr_assert_null (json_object_get (statuses, id), "'%s' reported twice", id);
        json_object_set (statuses, id, json_object_get (test, "status"));
        const char *member = json_string_value (json_object_get (test, "member"));
        if (members && member)
            json_object_set_new (*members, member, json_true ());
    }
    json_decref (report);
    return statuses;
}

static const char *
s_mixed (int i)
{
    //  Failures and a crash among passes, with known outcomes
    if (i % 10 == 7)
        return "echo failing >&2; exit 1";
    if (i % 50 == 13)
        return "kill -SEGV $$";
    return "true";
}

Test (cli_dist, three_hundred_tests_over_five_agents_match_the_local_run)
{
    tmc_agent_t *agents [5];
    s_cluster (agents, 5, "2");
    char *dir = tmu_scratch ();
    char *manifest = s_manifest (dir, "suite.ini", 300, s_mixed);
    char *dist_json = tmu_join (dir, "dist.json");
    char *local_json = tmu_join (dir, "local.json");
    char *local_data = tmu_join (dir, "local-data");

    tmu_run_t dist = tmu_testmesh (90, "run", "--data", agents [2]->dir, "--progress", "lines",
                                   "--json", dist_json, manifest);
    cr_assert_eq (dist.status, 1, "distributed run: exit %d\n%s", dist.status, dist.err);
    tmu_run_t local = tmu_testmesh (90, "run", "--local", "--data", local_data, "-j", "2",
                                    "--progress", "lines", "--json", local_json, manifest);
    cr_assert_eq (local.status, 1, "local run: exit %d\n%s", local.status, local.err);

    json_t *members = NULL;
    json_t *got = s_statuses (dist_json, &members);
    json_t *want = s_statuses (local_json, NULL);
    cr_assert_eq (json_object_size (got), 300);
    cr_assert (json_equal (got, want), "the distributed run's outcomes differ from the local run's");
    cr_assert_str_eq (json_string_value (json_object_get (got, "t7")), "failed");
    cr_assert_str_eq (json_string_value (json_object_get (got, "t13")), "crashed");
    //  Five members with two slots each: the work was spread
    cr_assert_geq (json_object_size (members), 3, "only %zu member(s) ran tests",
                   json_object_size (members));
    json_decref (got);
    json_decref (want);
    json_decref (members);
    tmu_run_free (&dist);
    tmu_run_free (&local);
    tmu_rmrf (dir);
    free (dir);
    free (manifest);
    free (dist_json);
    free (local_json);
    free (local_data);
}

static const char *
s_sleep_short (int i)
{
    (void) i;
    return "sleep 0.2";
}

Test (cli_dist, sigkilled_agent_mid_run_leaves_exactly_one_result_per_test)
{
    tmc_agent_t *agents [4];
    s_cluster (agents, 4, "2");
    char *dir = tmu_scratch ();
    char *manifest = s_manifest (dir, "suite.ini", 80, s_sleep_short);
    char *report = tmu_join (dir, "report.json");
    tmc_cli_t cli;
    tmc_cli_start (&cli, dir, (char *const []) { (char *) tmu_path ("testmesh"), "run",
                 "--data", agents [0]->dir, "--progress", "lines", "--json", report,
                 manifest, NULL });
    //  Once the victim has run tests (so it holds more), kill it
    tmc_wait_counter (agents [3], "work.tasks_run", 2, 30);
    tmc_kill (agents [3]);
    int status = tmc_cli_wait (&cli, 60);
    char *err = tmu_slurp (cli.err);
    cr_assert_eq (status, 0, "exit %d\n%s", status, err);
    json_t *statuses = s_statuses (report, NULL);
    cr_assert_eq (json_object_size (statuses), 80);
    const char *id;
    json_t *value;
    json_object_foreach (statuses, id, value)
        cr_assert_str_eq (json_string_value (value), "passed", "%s: %s", id,
                          json_string_value (value));
    json_t *stats = tmc_stats (agents [0]);
    cr_assert_gt (tmc_counter (stats, "work.requeued"), 0,
                  "the origin re-queued nothing from the killed agent");
    json_decref (stats);
    json_decref (statuses);
    free (err);
    tmu_rmrf (dir);
    free (dir);
    free (manifest);
    free (report);
}

static const char *
s_skewed (int i)
{
    //  Placement gives every third test to the same member: all the long ones
    return i % 3 == 0 ? "sleep 0.4" : "true";
}

Test (cli_dist, skewed_suite_is_balanced_by_stealing)
{
    tmc_agent_t *agents [3];
    s_cluster (agents, 3, "1");
    char *dir = tmu_scratch ();
    char *manifest = s_manifest (dir, "suite.ini", 30, s_skewed);
    tmu_run_t run = tmu_testmesh (60, "run", "--data", agents [0]->dir, "--progress", "lines",
                                  manifest);
    cr_assert_eq (run.status, 0, "exit %d\n%s", run.status, run.err);
    long long stolen = 0;
    for (int i = 0; i < 3; i++) {
        json_t *stats = tmc_stats (agents [i]);
        stolen += tmc_counter (stats, "work.stolen");
        json_decref (stats);
    }
    cr_assert_gt (stolen, 0, "no member stole any task");
    tmu_run_free (&run);
    tmu_rmrf (dir);
    free (dir);
    free (manifest);
}

static const char *
s_sleep_second (int i)
{
    (void) i;
    return "sleep 1";
}

//  The dispatch latency a holder gives in its stats, at KEY ("p50", ...).
static double
s_dispatch (json_t *stats, const char *ring, const char *key)
{
    json_t *value = json_object_get (json_object_get (json_object_get (stats, "work"), ring),
                                     key);
    cr_assert (json_is_number (value), "no work.%s.%s in the stats", ring, key);
    return json_number_value (value);
}

Test (cli_dist, dispatch_latency_counts_only_tasks_that_start_at_once)
{
    tmc_agent_t *agents [2];
    s_cluster (agents, 2, "1");
    char *dir = tmu_scratch ();
    //  Two tests on two 1-slot members: one each, both start at once
    char *two = s_manifest (dir, "two.ini", 2, s_sleep_second);
    tmu_run_t run = tmu_testmesh (60, "run", "--data", agents [0]->dir, "--progress", "lines",
                                  two);
    cr_assert_eq (run.status, 0, "exit %d\n%s", run.status, run.err);
    tmu_run_free (&run);
    json_t *holder = tmc_stats (agents [1]);
    json_t *origin = tmc_stats (agents [0]);
    cr_assert_eq (tmc_counter (holder, "work.dispatch_ms.samples"), 1);
    cr_assert_eq (tmc_counter (holder, "work.dispatch_self_ms.samples"), 0);
    cr_assert_eq (tmc_counter (origin, "work.dispatch_self_ms.samples"), 1);
    cr_assert_eq (tmc_counter (origin, "work.dispatch_ms.samples"), 0);
    //  Measured to the start, not to the end: well under the test's 1 s
    double p50 = s_dispatch (holder, "dispatch_ms", "p50");
    cr_assert (p50 > 0 && p50 < 900, "dispatch p50 %.3f ms", p50);
    json_decref (holder);
    json_decref (origin);

    //  Six: three each, of which two wait for the slot and do not count
    //  (stolen ones do not either: they waited in their victim's queue)
    char *six = s_manifest (dir, "six.ini", 6, s_sleep_second);
    run = tmu_testmesh (60, "run", "--data", agents [0]->dir, "--progress", "lines", six);
    cr_assert_eq (run.status, 0, "exit %d\n%s", run.status, run.err);
    tmu_run_free (&run);
    holder = tmc_stats (agents [1]);
    cr_assert_eq (tmc_counter (holder, "work.dispatch_ms.samples"), 2,
                  "tasks that queued were sampled: %lld samples",
                  tmc_counter (holder, "work.dispatch_ms.samples"));
    double max = s_dispatch (holder, "dispatch_ms", "max");
    cr_assert (max > 0 && max < 900, "dispatch max %.3f ms: a queued task counted?", max);
    json_decref (holder);
    tmu_rmrf (dir);
    free (dir);
    free (two);
    free (six);
}

//  A command no other test runs, to find its processes by.
static char s_marker [64];

static const char *
s_sleep_marked (int i)
{
    (void) i;
    return s_marker;
}

//  Starts a run of long marked tests on 2 agents and waits until they run.
static void
s_long_run (tmc_agent_t **agents, char **dir, tmc_cli_t *cli)
{
    s_cluster (agents, 2, "2");
    snprintf (s_marker, sizeof s_marker, "sleep 3%d.%06d", getpid () % 10, getpid ());
    *dir = tmu_scratch ();
    char *manifest = s_manifest (*dir, "suite.ini", 6, s_sleep_marked);
    tmc_cli_start (cli, *dir, (char *const []) { (char *) tmu_path ("testmesh"), "run",
                 "--data", agents [0]->dir, "--progress", "lines", manifest, NULL });
    free (manifest);
    s_wait_processes (s_marker + 6, 4, true, 30);
}

Test (cli_dist, interrupted_cli_cancels_the_run_everywhere)
{
    tmc_agent_t *agents [2];
    char *dir;
    tmc_cli_t cli;
    s_long_run (agents, &dir, &cli);
    kill (cli.pid, SIGINT);
    int status = tmc_cli_wait (&cli, 20);
    cr_assert_eq (status, 2, "an interrupted run exits 2, not %d", status);
    s_wait_processes (s_marker + 6, 0, false, 10);
    char *out = tmu_slurp (cli.out);
    cr_assert (strstr (out, "skipped") || strstr (out, "cancel"), "%s", out);
    free (out);
    tmu_rmrf (dir);
    free (dir);
}

Test (cli_dist, vanished_cli_gets_its_run_cancelled)
{
    tmc_agent_t *agents [2];
    char *dir;
    tmc_cli_t cli;
    s_long_run (agents, &dir, &cli);
    kill (cli.pid, SIGKILL);
    tmc_cli_wait (&cli, 10);
    //  Three seconds of silence, then the agent cancels the run
    s_wait_processes (s_marker + 6, 0, false, 15);
    tmu_rmrf (dir);
    free (dir);
}

Test (cli_dist, dead_origin_makes_the_cli_exit_2)
{
    tmc_agent_t *agents [2];
    char *dir;
    tmc_cli_t cli;
    s_long_run (agents, &dir, &cli);
    tmc_kill (agents [0]);
    int status = tmc_cli_wait (&cli, 20);
    char *err = tmu_slurp (cli.err);
    cr_assert_eq (status, 2, "exit %d\n%s", status, err);
    cr_assert (strstr (err, "stopped answering"), "%s", err);
    //  The surviving member kills the dead origin's tasks, and the dead
    //  origin's own die with it (tm_guard.h): none is left anywhere
    s_wait_processes (s_marker + 6, 0, false, 15);
    free (err);
    tmu_rmrf (dir);
    free (dir);
}

static const char *
s_family (int i)
{
    //  A test with a descendant of each kind: one in its process group,
    //  one in its group that cleared its environment, one that left the
    //  group for a session of its own.  (The last command is not the
    //  shell's last, so no shell replaces itself with it.)
    static char command [320];
    (void) i;
    snprintf (command, sizeof command, "%s & env -i %s & setsid %s & %s; wait", s_marker,
              s_marker, s_marker, s_marker);
    return command;
}

//  The processes of a test of s_family: its shell and four sleeps.
#define S_FAMILY 5

//  Waits until none of the COUNT processes PIDS (started at STARTS)
//  runs; fails after TIMEOUT s with how many still do.
static void
s_wait_all_gone (const pid_t *pids, const unsigned long long *starts, int count,
                 double timeout, const char *what)
{
    double end = tmu_now () + timeout;
    int left;
    while ((left = s_still_running (pids, starts, count)) > 0) {
        cr_assert (tmu_now () < end, "after %.0f s, %d of the %d processes %s still run",
                   timeout, left, count, what);
        usleep (20000);
    }
}

Test (cli_dist, sigkilled_agent_takes_its_tests_and_their_descendants_with_it)
{
    tmc_agent_t *agents [2];
    s_cluster (agents, 2, "2");
    snprintf (s_marker, sizeof s_marker, "sleep 3%d.%06d", getpid () % 10, getpid ());
    char *dir = tmu_scratch ();
    char *manifest = s_manifest (dir, "suite.ini", 4, s_family);
    tmc_cli_t cli;
    tmc_cli_start (&cli, dir, (char *const []) { (char *) tmu_path ("testmesh"), "run",
                 "--data", agents [0]->dir, "--progress", "lines", manifest, NULL });
    //  Two tests on each member (free slots: two each); a2's, with every
    //  descendant, are what a2 must take with it
    double end = tmu_now () + 30;
    int count;
    while ((count = s_processes_under (s_marker + 6, agents [1]->pid)) < 2 * S_FAMILY) {
        cr_assert (tmu_now () < end, "a2 runs %d processes of the run, not %d", count,
                   2 * S_FAMILY);
        usleep (20000);
    }
    pid_t pids [64];
    unsigned long long starts [64];
    count = s_find (s_marker + 6, agents [1]->pid, pids, starts, 64);
    cr_assert_eq (count, 2 * S_FAMILY);
    tmc_kill (agents [1]);
    s_wait_all_gone (pids, starts, count, 10, "the SIGKILLed a2 ran");
    //  The origin runs them again; stop the run, which kills those
    kill (cli.pid, SIGINT);
    tmc_cli_wait (&cli, 20);
    s_wait_processes (s_marker + 6, 0, false, 15);
    tmu_rmrf (dir);
    free (dir);
    free (manifest);
}

Test (cli_dist, an_idle_agent_starts_its_guard_on_its_own_and_stops_it_when_it_leaves)
{
    //  Not at start-up (tm_guard.h): before its first test, or once it has
    //  run TM_GUARD_START_DELAY s; this agent runs none
    tmc_agent_t *agents [1];
    s_cluster (agents, 1, "1");
    double end = tmu_now () + TM_GUARD_START_DELAY + 15;
    pid_t guard;
    while ((guard = s_guard_of (agents [0])) == 0 && tmu_now () < end)
        usleep (50000);
    cr_assert_gt (guard, 0, "no guard after %.0f s", TM_GUARD_START_DELAY + 15);
    //  A clean leave tells it so, and it is gone with the agent
    tmc_stop (agents [0]);
    cr_assert_eq (kill (guard, 0), -1, "guard %d outlived its agent", (int) guard);
}

Test (cli_dist, restarted_agent_kills_what_its_unguarded_predecessor_left)
{
    tmc_agent_t *agents [1];
    s_cluster (agents, 1, "2");
    snprintf (s_marker, sizeof s_marker, "sleep 3%d.%06d", getpid () % 10, getpid ());
    char *dir = tmu_scratch ();
    char *manifest = s_manifest (dir, "suite.ini", 2, s_family);
    tmc_cli_t cli;
    tmc_cli_start (&cli, dir, (char *const []) { (char *) tmu_path ("testmesh"), "run",
                 "--data", agents [0]->dir, "--progress", "lines", manifest, NULL });
    s_wait_processes (s_marker + 6, 2 * S_FAMILY, true, 30);
    pid_t pids [64];
    unsigned long long starts [64];
    int count = s_find (s_marker + 6, agents [0]->pid, pids, starts, 64);
    cr_assert_eq (count, 2 * S_FAMILY);
    //  The guard dies first, then the agent: nobody is left to kill them
    pid_t guard = s_guard_of (agents [0]);
    cr_assert_gt (guard, 0, "a1 has no guard process");
    cr_assert_eq (kill (guard, SIGKILL), 0);
    tmc_kill (agents [0]);
    cr_assert_eq (s_still_running (pids, starts, count), count,
                  "the tests died without their agent's guard");
    cr_assert_eq (tmc_cli_wait (&cli, 20), 2);
    //  The next agent on the same data directory kills them as it starts
    tmc_restart (agents [0], NULL, "--slots", "2", NULL);
    s_wait_all_gone (pids, starts, count, 15, "the first incarnation ran");
    tmc_wait_ready (agents [0], 10);
    tmu_rmrf (dir);
    free (dir);
    free (manifest);
}

static const char *
s_quick (int i)
{
    (void) i;
    return "sleep 0.05";
}

Test (cli_dist, two_concurrent_runs_from_different_members_both_finish)
{
    tmc_agent_t *agents [3];
    s_cluster (agents, 3, "2");
    char *dir = tmu_scratch ();
    char *manifest = s_manifest (dir, "suite.ini", 40, s_quick);
    char *dir_b = tmu_scratch ();
    tmc_cli_t one, two;
    char *report_one = tmu_join (dir, "one.json");
    char *report_two = tmu_join (dir_b, "two.json");
    tmc_cli_start (&one, dir, (char *const []) { (char *) tmu_path ("testmesh"), "run",
                 "--data", agents [0]->dir, "--progress", "lines", "--json", report_one,
                 manifest, NULL });
    tmc_cli_start (&two, dir_b, (char *const []) { (char *) tmu_path ("testmesh"), "run",
                 "--data", agents [1]->dir, "--progress", "lines", "--json", report_two,
                 manifest, NULL });
    cr_assert_eq (tmc_cli_wait (&one, 60), 0);
    cr_assert_eq (tmc_cli_wait (&two, 60), 0);
    json_t *a = s_statuses (report_one, NULL), *b = s_statuses (report_two, NULL);
    cr_assert_eq (json_object_size (a), 40);
    cr_assert_eq (json_object_size (b), 40);
    json_decref (a);
    json_decref (b);
    tmu_rmrf (dir);
    tmu_rmrf (dir_b);
    free (dir);
    free (dir_b);
    free (manifest);
    free (report_one);
    free (report_two);
}

Test (cli_dist, agent_restarted_mid_run_before_seen_dead_still_gives_every_result)
{
    //  a3 keeps its port across the restart, so that it can be back,
    //  alive at a higher incarnation, before the origin declares it dead:
    //  then only its new boot id in the metadata tells the origin that
    //  what it held is gone (tools/bench/dist_runs.sh lost tests that way)
    char port [32];
    snprintf (port, sizeof port, "127.0.0.1:%d", tmc_free_port ());
    tmc_agent_t *agents [3];
    //  (The lan profile: a restart takes less than its detection time.)
    agents [0] = tmc_start ("a1", NULL, "--slots", "2", "--profile", "lan", NULL);
    char *token = tmc_token (agents [0], 10);
    agents [1] = tmc_start ("a2", token, "--slots", "2", "--profile", "lan", NULL);
    agents [2] = tmc_start ("a3", token, "--slots", "2", "--bind", port, "--profile", "lan",
                            NULL);
    tmc_wait_mesh (agents, 3, 30);
    char *dir = tmu_scratch ();
    char *manifest = s_manifest (dir, "suite.ini", 60, s_sleep_short);
    char *report = tmu_join (dir, "report.json");
    tmc_cli_t cli;
    tmc_cli_start (&cli, dir, (char *const []) { (char *) tmu_path ("testmesh"), "run",
                 "--data", agents [0]->dir, "--progress", "lines", "--json", report,
                 manifest, NULL });
    tmc_wait_counter (agents [2], "work.tasks_run", 2, 30);
    //  The origin is frozen while a3 dies and comes back, so that it
    //  mostly learns of it as a new incarnation with a new boot id rather
    //  than as dead (a2 may still declare a3 dead first and gossip it:
    //  timing decides which path runs; either must give every result)
    long long before = tmc_incarnation (agents [1], "a3");
    tmc_pause (agents [0]);
    tmc_kill (agents [2]);
    tmc_restart (agents [2], NULL, "--slots", "2", "--bind", port, "--profile", "lan", NULL);
    //  At most 1.5 s: the CLI takes 3 s of silence from its origin for
    //  death, and on a loaded machine a3 may take longer to come back
    double end = tmu_now () + 1.5;
    while (tmc_incarnation (agents [1], "a3") <= before && tmu_now () < end)
        usleep (TMC_POLL_US);
    tmc_resume (agents [0]);
    int status = tmc_cli_wait (&cli, 60);
    char *err = tmu_slurp (cli.err);
    cr_assert_eq (status, 0, "exit %d\n%s", status, err);
    json_t *statuses = s_statuses (report, NULL);
    cr_assert_eq (json_object_size (statuses), 60);
    json_t *stats = tmc_stats (agents [0]);
    cr_assert_gt (tmc_counter (stats, "work.requeued"), 0, "nothing was re-queued");
    json_decref (stats);
    //  And the restarted member takes work again
    json_t *counts = tmc_stats (agents [2]);
    long long ran = tmc_counter (counts, "work.tasks_run");
    json_decref (counts);
    tmu_run_t again = tmu_testmesh (60, "run", "--data", agents [0]->dir, "--progress",
                                    "lines", manifest);
    cr_assert_eq (again.status, 0, "%s", again.err);
    tmu_run_free (&again);
    json_t *after = tmc_stats (agents [2]);
    cr_assert_gt (tmc_counter (after, "work.tasks_run"), ran, "the restarted a3 ran nothing");
    json_decref (after);
    json_decref (statuses);
    free (err);
    free (token);
    tmu_rmrf (dir);
    free (dir);
    free (manifest);
    free (report);
}

Test (cli_dist, requires_place_tests_on_members_with_the_labels)
{
    tmc_agent_t *agents [3];
    agents [0] = tmc_start ("a1", NULL, "--slots", "2", NULL);
    char *token = tmc_token (agents [0], 10);
    agents [1] = tmc_start ("a2", token, "--slots", "2", "--label", "gpu=yes", NULL);
    agents [2] = tmc_start ("a3", token, "--slots", "2", NULL);
    tmc_wait_mesh (agents, 3, 30);
    char *dir = tmu_scratch ();
    char *manifest = tmu_join (dir, "suite.ini");
    FILE *file = fopen (manifest, "w");
    cr_assert_not_null (file);
    for (int i = 0; i < 12; i++)
        fprintf (file, "[test \"gpu%d\"]\ncommand = true\nrequires = gpu=yes\n\n"
                       "[test \"any%d\"]\ncommand = true\n\n", i, i);
    fprintf (file, "[test \"nowhere\"]\ncommand = true\nrequires = gpu=no\n");
    fclose (file);
    char *report = tmu_join (dir, "report.json");
    tmu_run_t run = tmu_testmesh (60, "run", "--data", agents [0]->dir, "--progress", "lines",
                                  "--require", "os=linux", "--json", report, manifest);
    cr_assert_eq (run.status, 1, "exit %d\n%s\n%s", run.status, run.out, run.err);
    json_t *doc = json_load_file (report, 0, NULL);
    cr_assert_not_null (doc);
    size_t i;
    json_t *test;
    int gpu = 0, any = 0;
    json_array_foreach (json_object_get (doc, "tests"), i, test) {
        const char *id = json_string_value (json_object_get (test, "id"));
        const char *status = json_string_value (json_object_get (test, "status"));
        const char *member = json_string_value (json_object_get (test, "member"));
        if (strncmp (id, "gpu", 3) == 0) {
            cr_assert_str_eq (member, "a2", "%s ran on %s, which has no gpu=yes", id, member);
            cr_assert_str_eq (status, "passed");
            gpu++;
        }
        else
        if (strncmp (id, "any", 3) == 0) {
            cr_assert_str_eq (status, "passed");
            any++;
        }
        else {
            cr_assert_str_eq (status, "failed");
            const char *message = json_string_value (json_object_get (test, "message"));
            cr_assert (message && strstr (message, "gpu=no"), "%s", message);
        }
    }
    cr_assert_eq (gpu, 12);
    cr_assert_eq (any, 12);
    json_decref (doc);
    //  In-process, the machine's own labels decide
    char *local_data = tmu_join (dir, "local-data");
    tmu_run_t local = tmu_testmesh (60, "run", "--local", "--data", local_data, "--progress",
                                    "lines", "--require", "os=plan9", manifest);
    cr_assert_eq (local.status, 1);
    cr_assert (strstr (local.out, "os=plan9"), "%s", local.out);
    tmu_run_free (&local);
    tmu_run_free (&run);
    free (local_data);
    free (token);
    free (report);
    free (manifest);
    tmu_rmrf (dir);
    free (dir);
}

Test (cli_dist, non_member_submits_with_the_token_and_a_rotated_one_is_refused)
{
    char client [32];
    snprintf (client, sizeof client, "127.0.0.1:%d", tmc_free_port ());
    tmc_agent_t *agents [2];
    agents [0] = tmc_start ("a1", NULL, "--slots", "2", "--client-bind", client, NULL);
    char *token = tmc_token (agents [0], 10);
    agents [1] = tmc_start ("a2", token, "--slots", "2", NULL);
    tmc_wait_mesh (agents, 2, 30);
    char *dir = tmu_scratch ();
    char *manifest = s_manifest (dir, "suite.ini", 20, s_quick);
    char *report = tmu_join (dir, "report.json");
    //  A data directory with no agent: this machine is not a member
    char *data = tmu_join (dir, "outsider");
    tmu_run_t run = tmu_testmesh (60, "run", "--data", data, "--node", client, "--token", token,
                                  "--progress", "lines", "--json", report, manifest);
    cr_assert_eq (run.status, 0, "exit %d\n%s", run.status, run.err);
    json_t *members = NULL;
    json_t *statuses = s_statuses (report, &members);
    cr_assert_eq (json_object_size (statuses), 20);
    cr_assert_eq (json_object_size (members), 2, "the run was not spread over both members");
    json_decref (statuses);
    json_decref (members);
    tmu_run_free (&run);
    //  After a rotation with a short grace, the old token no longer opens
    //  the client port: CurveZMQ refuses the key it derives
    tmu_run_t rotate = tmu_testmesh (15, "token", "--data", agents [0]->dir, "--rotate",
                                     "--grace", "0.001");
    cr_assert_eq (rotate.status, 0, "%s", rotate.err);
    char *fresh = strndup (rotate.out, strcspn (rotate.out, "\r\n"));
    tmu_run_free (&rotate);
    run = tmu_testmesh (60, "run", "--data", data, "--node", client, "--token", token,
                        "--progress", "lines", manifest);
    cr_assert_eq (run.status, 2, "the old token still submits: exit %d", run.status);
    cr_assert (strstr (run.err, "did not answer"), "%s", run.err);
    json_t *stats = tmc_stats (agents [0]);
    cr_assert_gt (tmc_counter (stats, "zap_refused"), 0);
    json_decref (stats);
    tmu_run_free (&run);
    run = tmu_testmesh (60, "run", "--data", data, "--node", client, "--token", fresh,
                        "--progress", "lines", manifest);
    cr_assert_eq (run.status, 0, "the new token: exit %d\n%s", run.status, run.err);
    tmu_run_free (&run);
    free (fresh);
    free (token);
    free (data);
    free (report);
    free (manifest);
    tmu_rmrf (dir);
    free (dir);
}

static const char *
s_one_fails (int i)
{
    //  t0 fails after a moment; the others would run for half a minute
    return i == 0 ? "sleep 0.3; exit 1" : s_marker;
}

Test (cli_dist, fail_fast_stops_the_run_on_every_member)
{
    tmc_agent_t *agents [3];
    s_cluster (agents, 3, "2");
    snprintf (s_marker, sizeof s_marker, "sleep 3%d.%06d", getpid () % 10, getpid ());
    char *dir = tmu_scratch ();
    char *manifest = s_manifest (dir, "suite.ini", 12, s_one_fails);
    double start = tmu_now ();
    tmu_run_t run = tmu_testmesh (60, "run", "--data", agents [0]->dir, "--progress", "lines",
                                  "--fail-fast", manifest);
    double took = tmu_now () - start;
    cr_assert_eq (run.status, 1, "exit %d\n%s", run.status, run.err);
    cr_assert (strstr (run.out, "fail-fast"), "%s", run.out);
    //  Well before the half minute the other tests would take
    cr_assert_lt (took, 15, "the run took %.1f s", took);
    s_wait_processes (s_marker + 6, 0, false, 10);
    tmu_run_free (&run);
    tmu_rmrf (dir);
    free (dir);
    free (manifest);
}

static const char *
s_true (int i)
{
    (void) i;
    return "true";
}

Test (cli_dist, cli_that_falls_behind_still_gets_every_result)
{
    //  The agent passes each event on as it comes; a CLI starved of CPU
    //  can fall thousands of events behind (seen in tools/bench/
    //  dist_runs.sh, on a loaded machine), and none may be lost on the
    //  way: the run would end with tests "without a result"
    tmc_agent_t *agents [1];
    s_cluster (agents, 1, "2");
    char *dir = tmu_scratch ();
    char *manifest = s_manifest (dir, "suite.ini", 4000, s_true);
    char *report = tmu_join (dir, "report.json");
    tmc_cli_t cli;
    tmc_cli_start (&cli, dir, (char *const []) { (char *) tmu_path ("testmesh"), "run",
                 "--data", agents [0]->dir, "--progress", "lines", "--json", report,
                 manifest, NULL });
    //  Stopped for less than the 3 s after which the agent cancels the
    //  run of a silent CLI, while a few thousand events pile up
    tmc_wait_counter (agents [0], "work.tasks_run", 50, 30);
    kill (cli.pid, SIGSTOP);
    usleep (2500 * 1000);
    kill (cli.pid, SIGCONT);
    int status = tmc_cli_wait (&cli, 90);
    char *err = tmu_slurp (cli.err);
    cr_assert_eq (status, 0, "exit %d\n%s", status, err);
    json_t *statuses = s_statuses (report, NULL);
    cr_assert_eq (json_object_size (statuses), 4000);
    json_decref (statuses);
    free (err);
    tmu_rmrf (dir);
    free (dir);
    free (manifest);
    free (report);
}

//  True if OBSERVER's members list shows NAME with FREE free slots and
//  QUEUE tasks queued (its gossiped load, as placement reads it).
static bool
s_load_seen (tmc_agent_t *observer, const char *name, int free_slots, int queue)
{
    json_t *members = tmc_members (observer);
    json_t *member = members ? tmc_member (members, name) : NULL;
    bool seen = member
             && json_integer_value (json_object_get (member, "free")) == free_slots
             && json_integer_value (json_object_get (member, "queue")) == queue
             && json_is_integer (json_object_get (member, "free"));
    json_decref (members);
    return seen;
}

Test (cli_dist, busy_member_gets_a_smaller_share_of_a_new_run)
{
    //  Two members of 4 slots; a2 is busy with a first run that only it
    //  can take (a label): 4 of its tests running, 4 queued
    tmc_agent_t *agents [2];
    agents [0] = tmc_start ("a1", NULL, "--slots", "4", NULL);
    char *token = tmc_token (agents [0], 10);
    agents [1] = tmc_start ("a2", token, "--slots", "4", "--label", "busy=yes", NULL);
    tmc_wait_mesh (agents, 2, 30);
    snprintf (s_marker, sizeof s_marker, "sleep 3%d.%06d", getpid () % 10, getpid ());
    char *dir = tmu_scratch ();
    char *busy_suite = s_manifest (dir, "busy.ini", 8, s_sleep_marked);
    tmc_cli_t busy;
    tmc_cli_start (&busy, dir, (char *const []) { (char *) tmu_path ("testmesh"), "run",
                 "--data", agents [0]->dir, "--progress", "lines", "--require", "busy=yes",
                 busy_suite, NULL });
    //  The origin places by the load gossip tells it (at most 0.5 s old):
    //  wait until it knows a2's whole
    double end = tmu_now () + 30;
    while (!s_load_seen (agents [0], "a2", 0, 4)) {
        cr_assert (tmu_now () < end, "a1 never saw a2 with 0 free slots and 4 queued");
        usleep (TMC_POLL_US);
    }
    json_t *stats = tmc_stats (agents [0]);
    long long a1_before = tmc_counter (stats, "work.assigned");
    json_decref (stats);
    stats = tmc_stats (agents [1]);
    long long a2_before = tmc_counter (stats, "work.assigned");
    json_decref (stats);
    cr_assert_eq (a1_before, 0);
    cr_assert_eq (a2_before, 8);

    //  A second run of 16 from a1.  Placement evens out the work per
    //  slot, counting what each member has: a2 has 8 (4 busy, 4 queued)
    //  on 4 slots, so a1 takes the first 8 and the other 8 are shared:
    //  12 and 4.  Shares by slots alone would be 8 and 8; counting busy
    //  slots but not the queue, 10 and 6.  What a2 was given may then be
    //  stolen by a1 (a2 has no free slot), so the counters of assigned
    //  tasks, not the report's members, show the placement.
    char *quick_suite = s_manifest (dir, "quick.ini", 16, s_true);
    char *report = tmu_join (dir, "report.json");
    tmu_run_t run = tmu_testmesh (60, "run", "--data", agents [0]->dir, "--progress", "lines",
                                  "--json", report, quick_suite);
    cr_assert_eq (run.status, 0, "exit %d\n%s", run.status, run.err);
    json_t *statuses = s_statuses (report, NULL);
    cr_assert_eq (json_object_size (statuses), 16);
    stats = tmc_stats (agents [0]);
    long long a1_share = tmc_counter (stats, "work.assigned") - a1_before;
    json_decref (stats);
    stats = tmc_stats (agents [1]);
    long long a2_share = tmc_counter (stats, "work.assigned") - a2_before;
    json_decref (stats);
    cr_assert_eq (a1_share + a2_share, 16, "placed %lld + %lld", a1_share, a2_share);
    cr_assert (a2_share >= 3 && a2_share <= 5,
               "the busy a2 was given %lld of 16 tests (a1 %lld), not about 4",
               a2_share, a1_share);

    kill (busy.pid, SIGINT);
    tmc_cli_wait (&busy, 20);
    s_wait_processes (s_marker + 6, 0, false, 15);
    json_decref (statuses);
    tmu_run_free (&run);
    free (token);
    free (report);
    free (quick_suite);
    free (busy_suite);
    tmu_rmrf (dir);
    free (dir);
}
