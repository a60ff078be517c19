/*  test_scheduler.c - the scheduler and executor actors together, on
    shell-command tasks: one result per task, retries, flaky, timeouts,
    fail-fast, cancel, and longest-first ordering. */
#include "tm_testutil.h"
#include "tm_scheduler.h"
#include "tm_proc.h"

static tm_task_t *
s_task (tm_tasklist_t *tasks, const char *id, const char *script)
{
    tm_task_t *task = tm_task_new (id, "test", TM_KIND_MANIFEST);
    tm_strv_push (&task->argv, "sh");
    tm_strv_push (&task->argv, "-c");
    tm_strv_push (&task->argv, script);
    tm_task_t *borrowed = task;
    tm_tasklist_append (tasks, &task);
    return borrowed;
}

typedef struct {
    tm_result_t **results;      //  By task index
    size_t count;               //  Results received
    char order [64][32];        //  Ids in the order they started
    size_t started;             //  Entries in order
    double finished;            //  When FINISHED arrived
} s_outcome_t;

//  Runs TASKS on a fresh scheduler; CANCEL_AFTER > 0 sends CANCEL that
//  many seconds after the start.  Fails the test after DEADLINE seconds.
static s_outcome_t
s_run (tm_tasklist_t *tasks, int slots, int retries, bool fail_fast,
       double timeout, double cancel_after, double deadline)
{
    tm_proc_init ();
    tm_scheduler_config_t config = {
        .slots = slots, .retries = retries, .fail_fast = fail_fast,
        .executor = { .member = "m1", .default_timeout = timeout,
                      .kill_grace = 0.2, .cancel_grace = 0.05,
                      .output_limit = 65536 }
    };
    zactor_t *scheduler = zactor_new (tm_scheduler_actor, &config);
    zsock_send (scheduler, "sp", "RUN", tasks);
    s_outcome_t outcome = { 0 };
    size_t total = tm_tasklist_size (tasks);
    outcome.results = (tm_result_t **) calloc (total + 1, sizeof (tm_result_t *));
    double start = tmu_now ();
    bool cancelled = false;
    zpoller_t *poller = zpoller_new (scheduler, NULL);
    while (true) {
        cr_assert (tmu_now () - start < deadline, "run did not finish in time");
        if (cancel_after > 0 && !cancelled && tmu_now () - start >= cancel_after) {
            zsock_send (scheduler, "s", "CANCEL");
            cancelled = true;
        }
        if (!zpoller_wait (poller, 10))
            continue;
        char *command = NULL;
        void *pointer = NULL;
        cr_assert_eq (zsock_recv (scheduler, "sp", &command, &pointer), 0);
        if (streq (command, "RESULT")) {
            tm_result_t *result = (tm_result_t *) pointer;
            cr_assert_lt (result->index, total);
            cr_assert_null (outcome.results [result->index],
                            "second result for %s", result->id);
            outcome.results [result->index] = result;
            outcome.count++;
        }
        else
        if (streq (command, "STARTED")) {
            tm_task_t *task = (tm_task_t *) pointer;
            if (outcome.started < 64)
                snprintf (outcome.order [outcome.started++], 32, "%s", task->id);
        }
        else
        if (streq (command, "FINISHED")) {
            free (command);
            break;
        }
        free (command);
    }
    outcome.finished = tmu_now () - start;
    zpoller_destroy (&poller);
    zactor_destroy (&scheduler);
    cr_assert_eq (outcome.count, total, "every task gets exactly one result");
    return outcome;
}

static void
s_outcome_free (s_outcome_t *outcome, size_t total)
{
    for (size_t i = 0; i < total; i++)
        tm_result_destroy (&outcome->results [i]);
    free (outcome->results);
}

Test (scheduler, every_task_gets_one_result_with_its_status)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    s_task (tasks, "pass", "exit 0");
    s_task (tasks, "fail", "echo boom >&2; exit 7");
    s_task (tasks, "crash", "kill -SEGV $$");
    tm_task_t *skipped = s_task (tasks, "skip", "exit 0");
    skipped->skip_reason = strdup ("disabled");
    s_outcome_t outcome = s_run (tasks, 2, 0, false, 0, 0, 30);
    cr_assert_eq (outcome.results [0]->status, TM_STATUS_PASSED);
    cr_assert_str_eq (outcome.results [0]->member, "m1");
    cr_assert_eq (outcome.results [1]->status, TM_STATUS_FAILED);
    cr_assert_eq (outcome.results [1]->exit_code, 7);
    cr_assert_str_eq (outcome.results [1]->err, "boom\n");
    cr_assert_eq (outcome.results [2]->status, TM_STATUS_CRASHED);
    cr_assert_eq (outcome.results [2]->signal, SIGSEGV);
    cr_assert_eq (outcome.results [3]->status, TM_STATUS_SKIPPED);
    cr_assert_str_eq (outcome.results [3]->message, "disabled");
    s_outcome_free (&outcome, 4);
    tm_tasklist_destroy (&tasks);
}

Test (scheduler, fail_then_pass_is_flaky_and_counts_attempts)
{
    char *dir = tmu_scratch ();
    char script [512];
    snprintf (script, sizeof script,
              "if [ -e %s/once ]; then exit 0; else touch %s/once; exit 1; fi", dir, dir);
    tm_tasklist_t *tasks = tm_tasklist_new ();
    s_task (tasks, "flaky", script);
    s_task (tasks, "always", "exit 1");
    s_outcome_t outcome = s_run (tasks, 2, 2, false, 0, 0, 30);
    cr_assert_eq (outcome.results [0]->status, TM_STATUS_FLAKY);
    cr_assert_eq (outcome.results [0]->attempts, 2);
    cr_assert_eq (outcome.results [1]->status, TM_STATUS_FAILED);
    cr_assert_eq (outcome.results [1]->attempts, 3);
    s_outcome_free (&outcome, 2);
    tm_tasklist_destroy (&tasks);
    tmu_rmrf (dir);
    free (dir);
}

Test (scheduler, timeout_kills_a_test_that_ignores_sigterm)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    s_task (tasks, "stubborn", "trap '' TERM; while :; do sleep 0.01; done");
    tm_task_t *quick = s_task (tasks, "own-timeout", "sleep 30");
    quick->timeout = 0.2;
    s_outcome_t outcome = s_run (tasks, 2, 0, false, 0.3, 0, 20);
    cr_assert_eq (outcome.results [0]->status, TM_STATUS_TIMEOUT);
    cr_assert_eq (outcome.results [0]->signal, SIGKILL, "SIGTERM ignored, so SIGKILL");
    cr_assert_eq (outcome.results [1]->status, TM_STATUS_TIMEOUT);
    cr_assert_lt (outcome.results [1]->duration, 1.0, "per-task timeout wins");
    cr_assert_lt (outcome.finished, 5.0);
    s_outcome_free (&outcome, 2);
    tm_tasklist_destroy (&tasks);
}

Test (scheduler, fail_fast_stops_running_tests_within_100ms)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    s_task (tasks, "long", "trap '' TERM; sleep 30");
    s_task (tasks, "fails", "sleep 0.2; exit 1");
    for (int i = 0; i < 5; i++)
        s_task (tasks, i == 0 ? "never1" : i == 1 ? "never2" : i == 2 ? "never3"
                     : i == 3 ? "never4" : "never5", "exit 0");
    s_outcome_t outcome = s_run (tasks, 2, 0, true, 0, 0, 20);
    cr_assert_eq (outcome.results [1]->status, TM_STATUS_FAILED);
    cr_assert_eq (outcome.results [0]->status, TM_STATUS_SKIPPED);
    cr_assert_str_eq (outcome.results [0]->message, "cancelled");
    for (int i = 2; i < 7; i++) {
        cr_assert_eq (outcome.results [i]->status, TM_STATUS_SKIPPED);
        cr_assert_eq (outcome.results [i]->attempts, 0, "never started");
    }
    //  The failure comes at 0.2 s; everything must be over 100 ms later
    //  (measured generously for a loaded machine: under 1 s in all)
    cr_assert_lt (outcome.finished, 1.0, "took %.3f s", outcome.finished);
    s_outcome_free (&outcome, 7);
    tm_tasklist_destroy (&tasks);
}

Test (scheduler, cancel_reports_running_and_queued_tests_as_skipped)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    s_task (tasks, "a", "sleep 30");
    s_task (tasks, "b", "sleep 30");
    s_task (tasks, "c", "sleep 30");
    s_outcome_t outcome = s_run (tasks, 2, 0, false, 0, 0.2, 10);
    for (int i = 0; i < 3; i++)
        cr_assert_eq (outcome.results [i]->status, TM_STATUS_SKIPPED);
    //  The third waited for a slot (queued at the executor): never started
    cr_assert_eq (outcome.results [2]->attempts, 0);
    cr_assert_str_eq (outcome.results [2]->message, "not run: cancelled");
    cr_assert_lt (outcome.finished, 2.0);
    s_outcome_free (&outcome, 3);
    tm_tasklist_destroy (&tasks);
}

Test (scheduler, starts_longest_expected_first_and_unknown_before_known)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    s_task (tasks, "short", "exit 0")->expected = 0.1;
    s_task (tasks, "long", "exit 0")->expected = 5;
    s_task (tasks, "new", "exit 0")->expected = -1;
    s_task (tasks, "medium", "exit 0")->expected = 1;
    s_outcome_t outcome = s_run (tasks, 1, 0, false, 0, 0, 10);
    cr_assert_eq (outcome.started, 4);
    cr_assert_str_eq (outcome.order [0], "new");
    cr_assert_str_eq (outcome.order [1], "long");
    cr_assert_str_eq (outcome.order [2], "medium");
    cr_assert_str_eq (outcome.order [3], "short");
    s_outcome_free (&outcome, 4);
    tm_tasklist_destroy (&tasks);
}

Test (scheduler, never_runs_more_tests_than_slots)
{
    char *dir = tmu_scratch ();
    char script [512];
    //  Each test records the number of tests running beside it
    snprintf (script, sizeof script,
              "touch %s/run.$$; ls %s | grep -c '^run' >> %s/seen; sleep 0.05; rm %s/run.$$",
              dir, dir, dir, dir);
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char id [16];
    for (int i = 0; i < 12; i++) {
        snprintf (id, sizeof id, "t%d", i);
        s_task (tasks, id, script);
    }
    s_outcome_t outcome = s_run (tasks, 3, 0, false, 0, 0, 30);
    char path [512];
    snprintf (path, sizeof path, "%s/seen", dir);
    char *seen = tmu_slurp (path);
    cr_assert_not_null (seen);
    int max = 0;
    for (char *line = strtok (seen, "\n"); line; line = strtok (NULL, "\n"))
        if (atoi (line) > max)
            max = atoi (line);
    cr_assert_leq (max, 3, "saw %d tests at once with 3 slots", max);
    cr_assert_geq (max, 2, "slots were used in parallel");
    free (seen);
    s_outcome_free (&outcome, 12);
    tm_tasklist_destroy (&tasks);
    tmu_rmrf (dir);
    free (dir);
}

Test (scheduler, program_that_cannot_start_is_reported_not_lost)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    tm_task_t *task = tm_task_new ("missing", "test", TM_KIND_MANIFEST);
    tm_strv_push (&task->argv, "/nonexistent/binary");
    tm_tasklist_append (tasks, &task);
    s_outcome_t outcome = s_run (tasks, 1, 0, false, 0, 0, 10);
    cr_assert_eq (outcome.results [0]->status, TM_STATUS_CRASHED);
    cr_assert_not_null (strstr (outcome.results [0]->message, "/nonexistent/binary"));
    s_outcome_free (&outcome, 1);
    tm_tasklist_destroy (&tasks);
}

Test (scheduler, failure_whose_retry_is_cancelled_is_reported_as_the_failure)
{
    char *dir = tmu_scratch ();
    char script [512];
    //  First attempt fails at once with a message; the retry runs long
    snprintf (script, sizeof script,
              "if [ -e %s/tried ]; then exec sleep 30; else touch %s/tried; "
              "echo first-failure >&2; exit 3; fi", dir, dir);
    tm_tasklist_t *tasks = tm_tasklist_new ();
    s_task (tasks, "retried", script);
    s_task (tasks, "fails-later", "sleep 0.3; exit 1");
    s_outcome_t outcome = s_run (tasks, 2, 1, true, 0, 0, 20);
    tm_result_t *retried = outcome.results [0];
    cr_assert_eq (retried->status, TM_STATUS_FAILED, "got %s",
                  tm_status_name (retried->status));
    cr_assert_eq (retried->exit_code, 3);
    cr_assert_str_eq (retried->err, "first-failure\n");
    cr_assert_eq (retried->attempts, 2);
    s_outcome_free (&outcome, 2);
    tm_tasklist_destroy (&tasks);
    tmu_rmrf (dir);
    free (dir);
}
