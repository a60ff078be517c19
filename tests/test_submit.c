/*  test_submit.c - the submit actor against a fake agent: a ROUTER bound
    on a scratch data directory's control socket, played by the test
    itself, speaking the protocol of tm_submit.h.  Results reach the
    owner mapped to their tasks, every way a run can go wrong ends in
    FAILED (never a crash), and the CLI's heartbeats and cancels reach
    the agent.  Every wait has a deadline; nothing sleeps. */
#include "tm_testutil.h"
#include "tm_submit.h"
#include "tm_codec.h"
#include "tm_control.h"

typedef struct {
    char *dir;                  //  Scratch data directory
    zsock_t *router;            //  The fake agent's control socket, or NULL
    zframe_t *client;           //  Routing id of the CLI, once it spoke
    tm_tasklist_t *tasks;       //  The run
    zactor_t *submit;           //  The actor under test
    int heartbeats;             //  CLI heartbeats the agent has seen
    char *run;                  //  Run id the fake agent gave
} s_fake_t;

static tm_task_t *
s_task (tm_tasklist_t *tasks, const char *id)
{
    tm_task_t *task = tm_task_new (id, "suite.ini", TM_KIND_MANIFEST);
    tm_strv_push (&task->argv, "/bin/true");
    tm_task_t *borrowed = task;
    tm_tasklist_append (tasks, &task);
    return borrowed;
}

//  A fake agent on a scratch directory (none with WITH_AGENT false),
//  and a submit actor running TASKS tasks named t0, t1...
static s_fake_t
s_fake_new (size_t tasks, bool with_agent)
{
    s_fake_t fake = { 0 };
    fake.dir = tmu_scratch ();
    if (with_agent) {
        char *err = NULL;
        fake.router = tm_control_bind (fake.dir, &err);
        cr_assert_not_null (fake.router, "%s", err);
    }
    fake.tasks = tm_tasklist_new ();
    for (size_t i = 0; i < tasks; i++) {
        char id [32];
        snprintf (id, sizeof id, "t%zu", i);
        s_task (fake.tasks, id);
    }
    fake.run = strdup ("run-1");
    tm_submit_config_t config = {
        .datadir = fake.dir, .tasks = fake.tasks, .retries = 2, .fail_fast = true,
        .default_timeout = 60, .output_limit = 4096,
    };
    fake.submit = zactor_new (tm_submit_actor, &config);
    return fake;
}

static void
s_fake_destroy (s_fake_t *fake)
{
    zactor_destroy (&fake->submit);
    zsock_destroy (&fake->router);
    zframe_destroy (&fake->client);
    tm_tasklist_destroy (&fake->tasks);
    tmu_rmrf (fake->dir);
    free (fake->dir);
    free (fake->run);
}

//  The agent reads the CLI's next message that is not a heartbeat (those
//  are counted and checked), or NULL if none came within SECONDS.
static json_t *
s_agent_recv (s_fake_t *fake, double seconds)
{
    double deadline = tmu_now () + seconds;
    zpoller_t *poller = zpoller_new (fake->router, NULL);
    json_t *json = NULL;
    while (!json && tmu_now () < deadline) {
        int ms = (int) ((deadline - tmu_now ()) * 1000) + 1;
        if (!zpoller_wait (poller, ms))
            continue;
        zmsg_t *msg = zmsg_recv (fake->router);
        cr_assert_eq (zmsg_size (msg), 2, "one frame after the routing id");
        zframe_t *id = zmsg_pop (msg);
        zframe_t *body = zmsg_pop (msg);
        if (!fake->client)
            fake->client = zframe_dup (id);
        cr_assert (zframe_eq (id, fake->client), "one CLI");
        json_error_t error;
        json = json_loadb ((const char *) zframe_data (body), zframe_size (body), 0, &error);
        cr_assert_not_null (json, "the CLI sent JSON: %s", error.text);
        const char *cmd = json_string_value (json_object_get (json, "cmd"));
        cr_assert_not_null (cmd);
        if (streq (cmd, "heartbeat")) {
            cr_assert_str_eq (json_string_value (json_object_get (json, "run")), fake->run);
            fake->heartbeats++;
            json_decref (json);
            json = NULL;
        }
        zframe_destroy (&id);
        zframe_destroy (&body);
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    return json;
}

//  The agent sends TEXT (one frame) to the CLI.
static void
s_agent_send (s_fake_t *fake, const char *text)
{
    cr_assert_not_null (fake->client, "the CLI has not spoken yet");
    zmsg_t *msg = zmsg_new ();
    zmsg_append (msg, &(zframe_t *) { zframe_dup (fake->client) });
    zmsg_addstr (msg, text);
    cr_assert_eq (zmsg_send (&msg, fake->router), 0);
}

//  The agent sends JSON (taken).
static void
s_agent_send_json (s_fake_t *fake, json_t *json)
{
    char *text = json_dumps (json, JSON_COMPACT);
    json_decref (json);
    s_agent_send (fake, text);
    free (text);
}

//  Reads the run request, checks it, and accepts the run.
static void
s_agent_accept (s_fake_t *fake)
{
    json_t *request = s_agent_recv (fake, 5);
    cr_assert_not_null (request, "no run request");
    cr_assert_str_eq (json_string_value (json_object_get (request, "cmd")), "run");
    json_decref (request);
    s_agent_send_json (fake, json_pack ("{s:s, s:s}", "event", "accepted", "run", fake->run));
}

//  The agent sends the result of task INDEX with STATUS and OUT (SIZE bytes).
static void
s_agent_result (s_fake_t *fake, size_t index, const char *id, tm_status_t status,
                const char *out, size_t size)
{
    tm_result_t *result = tm_result_new (id, index);
    result->status = status;
    result->member = strdup ("m2");
    if (out) {
        result->out = (char *) malloc (size + 1);
        memcpy (result->out, out, size);
        result->out [size] = 0;
        result->out_size = size;
    }
    json_t *encoded = tm_codec_result_encode (result);
    tm_result_destroy (&result);
    s_agent_send_json (fake, json_pack ("{s:s, s:o}", "event", "result", "result", encoded));
}

//  The owner's next message within SECONDS, while the fake agent answers
//  nothing (its incoming messages wait).  Fails the test if none.
static char *
s_owner_recv (s_fake_t *fake, double seconds, void **pointer)
{
    zpoller_t *poller = zpoller_new (fake->submit, NULL);
    void *which = zpoller_wait (poller, (int) (seconds * 1000));
    zpoller_destroy (&poller);
    cr_assert_not_null (which, "nothing from the submit actor within %.1f s", seconds);
    char *command = NULL;
    *pointer = NULL;
    cr_assert_eq (zsock_recv (fake->submit, "sp", &command, pointer), 0);
    return command;
}

//  Expects FAILED within SECONDS with a reason containing WANT.
static void
s_expect_failed (s_fake_t *fake, double seconds, const char *want)
{
    void *pointer;
    char *command = s_owner_recv (fake, seconds, &pointer);
    cr_assert_str_eq (command, "FAILED");
    char *reason = (char *) pointer;
    cr_assert_not_null (strstr (reason, want), "wanted '%s' in '%s'", want, reason);
    cr_assert_null (strchr (reason, '\n'), "one line: %s", reason);
    free (reason);
    free (command);
}

//  Expects nothing from the owner's side for SECONDS.
static void
s_expect_quiet (s_fake_t *fake, double seconds)
{
    zpoller_t *poller = zpoller_new (fake->submit, NULL);
    void *which = zpoller_wait (poller, (int) (seconds * 1000));
    zpoller_destroy (&poller);
    cr_assert_null (which, "the submit actor sent something");
}

//  ---------------------------------------------------------------------

Test (submit, results_flow_through_and_map_to_their_tasks)
{
    s_fake_t fake = s_fake_new (3, true);
    json_t *request = s_agent_recv (&fake, 5);
    cr_assert_not_null (request);
    //  The run's settings and its tasks, as tm_codec encodes them
    cr_assert_str_eq (json_string_value (json_object_get (request, "cmd")), "run");
    cr_assert_eq (json_integer_value (json_object_get (request, "retries")), 2);
    cr_assert (json_is_true (json_object_get (request, "fail_fast")));
    cr_assert_eq (json_number_value (json_object_get (request, "timeout")), 60);
    cr_assert_eq (json_integer_value (json_object_get (request, "output_limit")), 4096);
    json_t *tasks = json_object_get (request, "tasks");
    cr_assert_eq (json_array_size (tasks), 3);
    for (size_t i = 0; i < 3; i++) {
        char *err = NULL;
        tm_task_t *task = tm_codec_task_decode (json_array_get (tasks, i), &err);
        cr_assert_not_null (task, "%s", err);
        cr_assert_str_eq (task->id, tm_tasklist_get (fake.tasks, i)->id);
        cr_assert_eq (task->index, i);
        cr_assert_str_eq (task->argv [0], "/bin/true");
        tm_task_destroy (&task);
    }
    json_decref (request);
    s_agent_send_json (&fake, json_pack ("{s:s, s:s}", "event", "accepted", "run", fake.run));

    s_agent_send (&fake, "{\"event\":\"started\",\"index\":2,\"member\":\"m2\"}");
    void *pointer;
    char *command = s_owner_recv (&fake, 5, &pointer);
    cr_assert_str_eq (command, "STARTED");
    cr_assert_eq (pointer, tm_tasklist_get (fake.tasks, 2), "a pointer into the task list");
    free (command);

    //  Out of order, and with binary output
    s_agent_result (&fake, 2, "t2", TM_STATUS_FAILED, "a\0\xff", 3);
    s_agent_result (&fake, 0, "t0", TM_STATUS_PASSED, NULL, 0);
    s_agent_result (&fake, 1, "t1", TM_STATUS_SKIPPED, "", 0);
    size_t expect [] = { 2, 0, 1 };
    for (int i = 0; i < 3; i++) {
        command = s_owner_recv (&fake, 5, &pointer);
        cr_assert_str_eq (command, "RESULT");
        tm_result_t *result = (tm_result_t *) pointer;
        cr_assert_eq (result->index, expect [i]);
        cr_assert_str_eq (result->id, tm_tasklist_get (fake.tasks, expect [i])->id);
        cr_assert_str_eq (result->member, "m2");
        if (expect [i] == 2) {
            cr_assert_eq (result->status, TM_STATUS_FAILED);
            cr_assert_eq (result->out_size, 3);
            cr_assert_eq (memcmp (result->out, "a\0\xff", 3), 0);
        }
        tm_result_destroy (&result);
        free (command);
    }
    s_agent_send (&fake, "{\"event\":\"finished\"}");
    command = s_owner_recv (&fake, 5, &pointer);
    cr_assert_str_eq (command, "FINISHED");
    free (command);
    s_expect_quiet (&fake, 0.2);
    s_fake_destroy (&fake);
}

Test (submit, finished_with_a_task_lacking_its_result_fails)
{
    s_fake_t fake = s_fake_new (2, true);
    s_agent_accept (&fake);
    s_agent_result (&fake, 1, "t1", TM_STATUS_PASSED, NULL, 0);
    s_agent_send (&fake, "{\"event\":\"finished\"}");
    void *pointer;
    char *command = s_owner_recv (&fake, 5, &pointer);
    cr_assert_str_eq (command, "RESULT");
    tm_result_destroy ((tm_result_t **) &pointer);
    free (command);
    s_expect_failed (&fake, 5, "finished the run with 1 of 2 tests without a result");
    s_expect_quiet (&fake, 0.2);
    s_fake_destroy (&fake);
}

Test (submit, malformed_results_are_dropped_and_counted)
{
    tm_log_threshold = TM_LOG_ERROR;    //  The warning is expected
    s_fake_t fake = s_fake_new (1, true);
    s_agent_accept (&fake);
    s_agent_send (&fake, "{\"event\":\"result\",\"result\":{\"id\":\"t0\",\"index\":0,"
                         "\"status\":\"exploded\"}}");
    s_agent_send (&fake, "{\"event\":\"result\",\"result\":{\"id\":\"t0\",\"index\":0,"
                         "\"status\":\"passed\",\"out\":\"!!\"}}");
    s_agent_send (&fake, "{\"event\":\"result\"}");
    s_agent_send (&fake, "{\"event\":\"finished\"}");
    s_expect_failed (&fake, 5, "(3 malformed results were dropped)");
    s_fake_destroy (&fake);
}

Test (submit, a_second_result_for_a_task_fails_and_cancels)
{
    s_fake_t fake = s_fake_new (2, true);
    s_agent_accept (&fake);
    s_agent_result (&fake, 0, "t0", TM_STATUS_PASSED, NULL, 0);
    s_agent_result (&fake, 0, "t0", TM_STATUS_FAILED, NULL, 0);
    void *pointer;
    char *command = s_owner_recv (&fake, 5, &pointer);
    cr_assert_str_eq (command, "RESULT");
    tm_result_destroy ((tm_result_t **) &pointer);
    free (command);
    s_expect_failed (&fake, 5, "a second result for test 't0'");
    //  The agent may still be running the run: it is told to stop
    json_t *cancel = s_agent_recv (&fake, 5);
    cr_assert_not_null (cancel);
    cr_assert_str_eq (json_string_value (json_object_get (cancel, "cmd")), "cancel");
    json_decref (cancel);
    s_fake_destroy (&fake);
}

Test (submit, a_result_for_an_unknown_index_fails)
{
    s_fake_t fake = s_fake_new (2, true);
    s_agent_accept (&fake);
    s_agent_result (&fake, 2, "t2", TM_STATUS_PASSED, NULL, 0);
    s_expect_failed (&fake, 5, "a result for test #2, and the run has 2 tests");
    s_fake_destroy (&fake);
}

Test (submit, a_result_under_another_tasks_index_fails)
{
    s_fake_t fake = s_fake_new (2, true);
    s_agent_accept (&fake);
    s_agent_result (&fake, 1, "t0", TM_STATUS_PASSED, NULL, 0);
    s_expect_failed (&fake, 5, "the result of 't0' for test 't1'");
    s_fake_destroy (&fake);
}

Test (submit, a_silent_agent_fails_the_run_within_four_seconds)
{
    s_fake_t fake = s_fake_new (1, true);
    s_agent_accept (&fake);
    double accepted = tmu_now ();
    //  The agent reads (so heartbeats are seen) but says nothing
    json_t *other = s_agent_recv (&fake, 2.5);
    cr_assert_null (other, "only heartbeats before the silence ends");
    s_expect_failed (&fake, 3, "the agent (origin of this run) stopped answering; "
                               "its members drop the run");
    double elapsed = tmu_now () - accepted;
    cr_assert (elapsed >= TM_SUBMIT_SILENCE - 0.1 && elapsed < TM_SUBMIT_SILENCE + 1.0,
               "FAILED %.2f s after the last message", elapsed);
    cr_assert_geq (fake.heartbeats, 3, "heartbeats every 0.5 s (%d)", fake.heartbeats);
    s_fake_destroy (&fake);
}

Test (submit, heartbeats_flow_both_ways_and_keep_a_long_run_alive)
{
    s_fake_t fake = s_fake_new (1, true);
    s_agent_accept (&fake);
    double start = tmu_now ();
    //  Longer than the silence, with the agent's heartbeats only
    while (tmu_now () - start < TM_SUBMIT_SILENCE + 1.5) {
        json_t *other = s_agent_recv (&fake, 0.5);
        cr_assert_null (other, "only heartbeats from the CLI");
        s_agent_send (&fake, "{\"event\":\"heartbeat\"}");
        s_expect_quiet (&fake, 0);
    }
    //  About 9 due in 4.5 s; a loaded machine may lose a few
    cr_assert_geq (fake.heartbeats, 6, "heartbeats every 0.5 s (%d)", fake.heartbeats);
    s_agent_result (&fake, 0, "t0", TM_STATUS_PASSED, NULL, 0);
    s_agent_send (&fake, "{\"event\":\"finished\"}");
    void *pointer;
    char *command = s_owner_recv (&fake, 5, &pointer);
    cr_assert_str_eq (command, "RESULT");
    tm_result_destroy ((tm_result_t **) &pointer);
    free (command);
    command = s_owner_recv (&fake, 5, &pointer);
    cr_assert_str_eq (command, "FINISHED");
    free (command);
    s_fake_destroy (&fake);
}

Test (submit, cancel_is_sent_to_the_agent_and_the_run_ends_normally)
{
    s_fake_t fake = s_fake_new (2, true);
    s_agent_accept (&fake);
    zsock_send (fake.submit, "s", "CANCEL");
    json_t *cancel = s_agent_recv (&fake, 5);
    cr_assert_not_null (cancel, "no cancel reached the agent");
    cr_assert_str_eq (json_string_value (json_object_get (cancel, "cmd")), "cancel");
    cr_assert_str_eq (json_string_value (json_object_get (cancel, "run")), "run-1");
    json_decref (cancel);
    //  A second CANCEL is not sent again
    zsock_send (fake.submit, "s", "CANCEL");
    s_agent_result (&fake, 0, "t0", TM_STATUS_SKIPPED, NULL, 0);
    s_agent_result (&fake, 1, "t1", TM_STATUS_SKIPPED, NULL, 0);
    s_agent_send (&fake, "{\"event\":\"finished\"}");
    for (int i = 0; i < 3; i++) {
        void *pointer;
        char *command = s_owner_recv (&fake, 5, &pointer);
        if (i < 2) {
            cr_assert_str_eq (command, "RESULT");
            tm_result_destroy ((tm_result_t **) &pointer);
        }
        else
            cr_assert_str_eq (command, "FINISHED");
        free (command);
    }
    cr_assert_null (s_agent_recv (&fake, 0.3), "one cancel only");
    s_fake_destroy (&fake);
}

Test (submit, cancel_before_accepted_is_sent_once_accepted)
{
    s_fake_t fake = s_fake_new (1, true);
    json_t *request = s_agent_recv (&fake, 5);
    cr_assert_not_null (request);
    json_decref (request);
    zsock_send (fake.submit, "s", "CANCEL");
    cr_assert_null (s_agent_recv (&fake, 0.3), "no run id to cancel yet");
    s_agent_send_json (&fake, json_pack ("{s:s, s:s}", "event", "accepted", "run", fake.run));
    json_t *cancel = s_agent_recv (&fake, 5);
    cr_assert_not_null (cancel);
    cr_assert_str_eq (json_string_value (json_object_get (cancel, "cmd")), "cancel");
    cr_assert_str_eq (json_string_value (json_object_get (cancel, "run")), "run-1");
    json_decref (cancel);
    s_fake_destroy (&fake);
}

Test (submit, destroying_the_actor_mid_run_cancels_at_the_agent)
{
    s_fake_t fake = s_fake_new (1, true);
    s_agent_accept (&fake);
    //  Once STARTED is out, the actor has read "accepted" before it
    s_agent_send (&fake, "{\"event\":\"started\",\"index\":0}");
    void *pointer;
    char *command = s_owner_recv (&fake, 5, &pointer);
    cr_assert_str_eq (command, "STARTED");
    free (command);
    zactor_destroy (&fake.submit);
    json_t *cancel = s_agent_recv (&fake, 5);
    cr_assert_not_null (cancel, "no cancel reached the agent");
    cr_assert_str_eq (json_string_value (json_object_get (cancel, "cmd")), "cancel");
    json_decref (cancel);
    s_fake_destroy (&fake);
}

Test (submit, a_refused_run_fails_with_the_agents_reason)
{
    s_fake_t fake = s_fake_new (1, true);
    json_t *request = s_agent_recv (&fake, 5);
    json_decref (request);
    s_agent_send (&fake, "{\"ok\":false,\"error\":\"no member has\\na free slot\"}");
    s_expect_failed (&fake, 5, "the agent refused the run: no member has a free slot");
    cr_assert_null (s_agent_recv (&fake, 0.3), "nothing to cancel: it was refused");
    s_fake_destroy (&fake);
}

Test (submit, an_agent_that_never_accepts_fails_the_run)
{
    s_fake_t fake = s_fake_new (1, true);
    double start = tmu_now ();
    json_t *request = s_agent_recv (&fake, 5);
    cr_assert_not_null (request);
    json_decref (request);
    s_expect_failed (&fake, 5, "did not answer the run request");
    double elapsed = tmu_now () - start;
    cr_assert (elapsed >= TM_SUBMIT_SILENCE - 0.1 && elapsed < TM_SUBMIT_SILENCE + 1.0,
               "FAILED after %.2f s", elapsed);
    s_fake_destroy (&fake);
}

Test (submit, no_agent_fails_at_once)
{
    s_fake_t fake = s_fake_new (1, false);
    s_expect_failed (&fake, 1, "no agent running");
    s_fake_destroy (&fake);
}

Test (submit, an_empty_run_finishes_at_once)
{
    s_fake_t fake = s_fake_new (0, false);
    void *pointer;
    char *command = s_owner_recv (&fake, 1, &pointer);
    cr_assert_str_eq (command, "FINISHED");
    free (command);
    s_fake_destroy (&fake);
}

//  A submit actor, on a fake agent, running only TASK (taken).
static s_fake_t
s_fake_one (tm_task_t *task)
{
    s_fake_t fake = { 0 };
    fake.dir = tmu_scratch ();
    char *err = NULL;
    fake.router = tm_control_bind (fake.dir, &err);
    cr_assert_not_null (fake.router, "%s", err);
    fake.tasks = tm_tasklist_new ();
    tm_tasklist_append (fake.tasks, &task);
    fake.run = strdup ("run-1");
    tm_submit_config_t config = { .datadir = fake.dir, .tasks = fake.tasks,
                                  .output_limit = 4096 };
    fake.submit = zactor_new (tm_submit_actor, &config);
    return fake;
}

Test (submit, a_task_that_is_not_utf8_fails_before_anything_is_sent)
{
    tm_task_t *task = tm_task_new ("t0", "suite.ini", TM_KIND_MANIFEST);
    tm_strv_push (&task->argv, "/bin/caf\xe9");
    s_fake_t fake = s_fake_one (task);
    s_expect_failed (&fake, 2, "test 't0' cannot be sent to the agent");
    cr_assert_null (s_agent_recv (&fake, 0.3), "nothing sent");
    s_fake_destroy (&fake);
}

Test (submit, a_run_over_the_control_limit_fails_before_anything_is_sent)
{
    tm_task_t *task = tm_task_new ("t0", "suite.ini", TM_KIND_MANIFEST);
    char *huge = (char *) malloc (TM_CONTROL_MAX + 1);
    memset (huge, 'x', TM_CONTROL_MAX);
    huge [TM_CONTROL_MAX] = 0;
    tm_strv_push (&task->argv, huge);
    free (huge);
    s_fake_t fake = s_fake_one (task);
    s_expect_failed (&fake, 10, "the run is too large to submit");
    cr_assert_null (s_agent_recv (&fake, 0.3), "nothing sent");
    s_fake_destroy (&fake);
}

Test (submit, garbage_from_the_agent_is_dropped_and_the_run_goes_on)
{
    s_fake_t fake = s_fake_new (1, true);
    json_t *request = s_agent_recv (&fake, 5);
    json_decref (request);
    //  Before "accepted": events out of turn
    s_agent_send (&fake, "{\"event\":\"result\",\"result\":{}}");
    s_agent_send (&fake, "{\"event\":\"finished\"}");
    s_agent_send (&fake, "{\"event\":\"accepted\",\"run\":7}");
    s_agent_send_json (&fake, json_pack ("{s:s, s:s}", "event", "accepted", "run", fake.run));
    s_agent_send (&fake, "{\"event\":\"accepted\",\"run\":\"other\"}");
    s_agent_send (&fake, "not json");
    s_agent_send (&fake, "");
    s_agent_send (&fake, "[1,2]");
    s_agent_send (&fake, "{\"ok\":true}");
    s_agent_send (&fake, "{\"event\":\"teleported\"}");
    s_agent_send (&fake, "{\"event\":7}");
    s_agent_send (&fake, "{\"event\":\"started\",\"index\":5}");
    s_agent_send (&fake, "{\"event\":\"started\",\"index\":-1}");
    s_agent_send (&fake, "{\"event\":\"started\",\"index\":\"0\"}");
    s_agent_send (&fake, "{\"event\":\"started\"}");
    s_agent_send (&fake, "{\"event\":\"heartbeat\",\"x\":[[[[[]]]]]}");
    //  Two frames
    zmsg_t *msg = zmsg_new ();
    zmsg_append (msg, &(zframe_t *) { zframe_dup (fake.client) });
    zmsg_addstr (msg, "{\"event\":\"finished\"}");
    zmsg_addstr (msg, "{\"event\":\"finished\"}");
    zmsg_send (&msg, fake.router);
    s_expect_quiet (&fake, 0.3);
    s_agent_result (&fake, 0, "t0", TM_STATUS_PASSED, NULL, 0);
    s_agent_send (&fake, "{\"event\":\"finished\"}");
    void *pointer;
    char *command = s_owner_recv (&fake, 5, &pointer);
    cr_assert_str_eq (command, "RESULT");
    tm_result_destroy ((tm_result_t **) &pointer);
    free (command);
    command = s_owner_recv (&fake, 5, &pointer);
    cr_assert_str_eq (command, "FINISHED");
    free (command);
    //  The heartbeats named the run the agent accepted first
    s_fake_destroy (&fake);
}

//  ---------------------------------------------------------------------
//  The real testmesh binary against a fake agent: an actor that answers
//  ping, and plays a run by its mode.

typedef enum { S_AGENT_PASS, S_AGENT_SILENT } s_agent_mode_t;

typedef struct {
    const char *dir;            //  Data directory to bind on
    s_agent_mode_t mode;        //  How it plays a run
} s_agent_args_t;

//  Pipe: "STATS" gets "iii" runs, heartbeats, cancels; $TERM ends it.
static void
s_fake_agent (zsock_t *pipe, void *args)
{
    s_agent_args_t config = *(s_agent_args_t *) args;
    char *err = NULL;
    zsock_t *router = tm_control_bind (config.dir, &err);
    assert (router);
    zsock_signal (pipe, 0);
    int runs = 0, heartbeats = 0, cancels = 0;
    zpoller_t *poller = zpoller_new (pipe, router, NULL);
    while (true) {
        void *which = zpoller_wait (poller, -1);
        if (which == pipe) {
            char *command = zstr_recv (pipe);
            bool stop = !command || streq (command, "$TERM");
            if (command && streq (command, "STATS"))
                zsock_send (pipe, "iii", runs, heartbeats, cancels);
            free (command);
            if (stop)
                break;
            continue;
        }
        if (which != router)
            break;
        zframe_t *client = NULL;
        json_t *request = tm_control_recv (router, &client);
        if (!request)
            continue;
        const char *cmd = json_string_value (json_object_get (request, "cmd"));
        json_t *replies [64];
        size_t count = 0;
        if (streq (cmd, "ping"))
            replies [count++] = json_pack ("{s:b}", "ok", 1);
        else
        if (streq (cmd, "heartbeat"))
            heartbeats++;
        else
        if (streq (cmd, "cancel"))
            cancels++;
        else
        if (streq (cmd, "run")) {
            runs++;
            replies [count++] = json_pack ("{s:s, s:s}", "event", "accepted", "run", "r1");
            json_t *tasks = json_object_get (request, "tasks");
            for (size_t i = 0; config.mode == S_AGENT_PASS && i < json_array_size (tasks)
                               && count < 60; i++) {
                tm_task_t *task = tm_codec_task_decode (json_array_get (tasks, i), NULL);
                assert (task);
                replies [count++] = json_pack ("{s:s, s:I, s:s}", "event", "started",
                                               "index", (json_int_t) task->index,
                                               "member", "fake-agent");
                tm_result_t *result = tm_result_new (task->id, task->index);
                result->member = strdup ("fake-agent");
                result->exit_code = 0;
                result->duration = 0.25;
                result->out = (char *) malloc (8);
                memcpy (result->out, "hello\0x", 8);
                result->out_size = 7;
                replies [count++] = json_pack ("{s:s, s:o}", "event", "result", "result",
                                               tm_codec_result_encode (result));
                tm_result_destroy (&result);
                tm_task_destroy (&task);
            }
            if (config.mode == S_AGENT_PASS)
                replies [count++] = json_pack ("{s:s}", "event", "finished");
        }
        for (size_t i = 0; i < count; i++) {
            zframe_t *copy = zframe_dup (client);
            tm_control_reply (router, &copy, &replies [i]);
        }
        zframe_destroy (&client);
        json_decref (request);
    }
    zpoller_destroy (&poller);
    zsock_destroy (&router);
}

//  Writes a manifest of two passing tests into DIR; returns its path.
static char *
s_manifest (const char *dir)
{
    char *path = tm_strdupf ("%s/suite.ini", dir);
    tmu_write (path, "[test \"a\"]\ncommand = true\n\n[test \"b\"]\ncommand = true\n");
    return path;
}

static void
s_agent_stats (zactor_t *agent, int *runs, int *heartbeats, int *cancels)
{
    zstr_send (agent, "STATS");
    cr_assert_eq (zsock_recv (agent, "iii", runs, heartbeats, cancels), 0);
}

Test (submit_cli, run_goes_to_the_agent_when_one_answers, .timeout = 60)
{
    char *dir = tmu_scratch ();
    s_agent_args_t args = { dir, S_AGENT_PASS };
    zactor_t *agent = zactor_new (s_fake_agent, &args);
    char *manifest = s_manifest (dir);
    char *json = tm_strdupf ("%s/report.json", dir);
    tmu_run_t run = tmu_testmesh (30, "run", "--data", dir, "--progress", "lines",
                                  "--json", json, manifest);
    cr_assert_eq (run.status, 0, "exit %d\n%s%s", run.status, run.out, run.err);
    cr_assert_eq (tmu_count (run.out, "PASS"), 2, "%s", run.out);
    cr_assert_str_eq (run.err, "", "nothing different on stderr");
    json_error_t error;
    json_t *root = json_load_file (json, 0, &error);
    cr_assert_not_null (root, "%s", error.text);
    json_t *test = json_array_get (json_object_get (root, "tests"), 0);
    cr_assert_str_eq (json_string_value (json_object_get (test, "member")), "fake-agent");
    //  The NUL in the agent's output arrives, and the report repairs it
    cr_assert_str_eq (json_string_value (json_object_get (test, "stdout")), "hello\xef\xbf\xbdx");
    json_decref (root);
    int runs, heartbeats, cancels;
    s_agent_stats (agent, &runs, &heartbeats, &cancels);
    cr_assert_eq (runs, 1);
    cr_assert_eq (cancels, 0);
    zactor_destroy (&agent);
    tmu_run_free (&run);
    free (json);
    free (manifest);
    tmu_rmrf (dir);
    free (dir);
}

Test (submit_cli, a_silent_agent_ends_the_run_with_exit_2, .timeout = 60)
{
    char *dir = tmu_scratch ();
    s_agent_args_t args = { dir, S_AGENT_SILENT };
    zactor_t *agent = zactor_new (s_fake_agent, &args);
    char *manifest = s_manifest (dir);
    tmu_run_t run = tmu_testmesh (30, "run", "--data", dir, "--progress", "lines", manifest);
    cr_assert_eq (run.status, 2, "exit %d\n%s%s", run.status, run.out, run.err);
    cr_assert_str_eq (run.err, "testmesh: the agent (origin of this run) stopped "
                      "answering; its members drop the run\n");
    int runs, heartbeats, cancels;
    s_agent_stats (agent, &runs, &heartbeats, &cancels);
    cr_assert_eq (runs, 1);
    cr_assert_geq (heartbeats, 3, "the CLI sent heartbeats (%d)", heartbeats);
    cr_assert_eq (cancels, 1, "the CLI told the agent to drop the run");
    zactor_destroy (&agent);
    tmu_run_free (&run);
    free (manifest);
    tmu_rmrf (dir);
    free (dir);
}

Test (submit_cli, local_runs_here_even_when_an_agent_answers, .timeout = 60)
{
    char *dir = tmu_scratch ();
    s_agent_args_t args = { dir, S_AGENT_PASS };
    zactor_t *agent = zactor_new (s_fake_agent, &args);
    char *manifest = s_manifest (dir);
    char *json = tm_strdupf ("%s/report.json", dir);
    tmu_run_t run = tmu_testmesh (30, "run", "--local", "--data", dir, "--progress", "lines",
                                  "--json", json, manifest);
    cr_assert_eq (run.status, 0, "exit %d\n%s%s", run.status, run.out, run.err);
    json_t *root = json_load_file (json, 0, NULL);
    cr_assert_not_null (root);
    json_t *test = json_array_get (json_object_get (root, "tests"), 0);
    cr_assert_str_neq (json_string_value (json_object_get (test, "member")), "fake-agent");
    json_decref (root);
    int runs, heartbeats, cancels;
    s_agent_stats (agent, &runs, &heartbeats, &cancels);
    cr_assert_eq (runs, 0);
    zactor_destroy (&agent);
    tmu_run_free (&run);
    free (json);
    free (manifest);
    tmu_rmrf (dir);
    free (dir);
}
