/*  test_workpool.c - the work pool: its dispatch-latency ring and
    quantiles, and the pool actor against a fake gossip actor.

    Runs spread over real agents are exercised in test_cli_dist.c; here
    the test binds the work socket itself and plays every other member,
    so that a case that needs exact timing (a steal from a member that
    died) is deterministic.
*/
#include "tm_testutil.h"
#include "tm_workpool.h"
#include "tm_codec.h"
#include <jansson.h>

Test (workpool, quantile_is_the_nearest_rank)
{
    double samples [] = { 5, 1, 4, 2, 3, 10, 9, 8, 7, 6 };
    cr_assert_float_eq (tm_workpool_quantile (samples, 10, 0.50), 5, 1e-12);
    cr_assert_float_eq (tm_workpool_quantile (samples, 10, 0.99), 10, 1e-12);
    cr_assert_float_eq (tm_workpool_quantile (samples, 10, 0.10), 1, 1e-12);
    cr_assert_float_eq (tm_workpool_quantile (samples, 10, 0.11), 2, 1e-12);
    cr_assert_float_eq (tm_workpool_quantile (samples, 10, 1.0), 10, 1e-12);
    double one = 7.5;
    cr_assert_float_eq (tm_workpool_quantile (&one, 1, 0.5), 7.5, 1e-12);
    cr_assert_float_eq (tm_workpool_quantile (NULL, 0, 0.5), 0, 1e-12);
}

Test (workpool, empty_ring_reads_no_samples)
{
    static tm_workpool_ring_t ring;
    double *samples = (double *) 1;
    cr_assert_eq (tm_workpool_ring_read (&ring, &samples), 0);
    cr_assert_null (samples);
}

Test (workpool, ring_reads_the_last_samples_oldest_first_in_ms)
{
    static tm_workpool_ring_t ring;
    //  As the pool writes them: sample K at K mod the ring's size
    uint64_t total = TM_WORKPOOL_RING + 10;
    for (uint64_t k = 0; k < total; k++)
        ring.us [k % TM_WORKPOOL_RING] = (int64_t) k * 1000;
    ring.taken = total;
    double *samples = NULL;
    size_t count = tm_workpool_ring_read (&ring, &samples);
    cr_assert_eq (count, TM_WORKPOOL_RING);
    cr_assert_float_eq (samples [0], 10, 1e-9, "oldest kept is sample 10");
    cr_assert_float_eq (samples [count - 1], (double) (total - 1), 1e-9);
    for (size_t k = 1; k < count; k++)
        cr_assert (samples [k] > samples [k - 1]);
    free (samples);
}

Test (workpool, ring_keeps_a_negative_sample_from_clocks_that_disagree)
{
    static tm_workpool_ring_t ring;
    ring.us [0] = -2500;
    ring.us [1] = 1500;
    ring.taken = 2;
    double *samples = NULL;
    cr_assert_eq (tm_workpool_ring_read (&ring, &samples), 2);
    cr_assert_float_eq (samples [0], -2.5, 1e-9);
    cr_assert_float_eq (tm_workpool_quantile (samples, 2, 1.0), 1.5, 1e-9);
    free (samples);
}

//  ---------------------------------------------------------------------
//  The pool itself, against a fake gossip actor: the test binds the
//  work socket and plays every other member.

#define S_SELF   "1111111111111111111111111111111111111111111111111111111111111111"
#define S_ORIGIN "2222222222222222222222222222222222222222222222222222222222222222"
#define S_THIEF  "3333333333333333333333333333333333333333333333333333333333333333"

static void
s_member (zsock_t *gossip, const char *id, const char *name, const char *state)
{
    zsock_send (gossip, "ssssss", "MEMBER", id, name, state, "127.0.0.1:1", "{\"slots\":1}");
}

//  RECV from FROM: the JSON text.
static void
s_recv_from (zsock_t *gossip, const char *from, const char *text)
{
    zframe_t *frame = zframe_new (text, strlen (text));
    zsock_send (gossip, "ssf", "RECV", from, frame);
    zframe_destroy (&frame);
}

//  The next work message the pool SENDs to TO with type T, within
//  TIMEOUT ms; NULL if none came.  The messages before it, to anyone,
//  are added to SKIPPED as {"to", "msg"} if it is not NULL.
static json_t *
s_expect_after (zsock_t *gossip, const char *to, const char *type, int timeout,
                json_t *skipped)
{
    int64_t end = zclock_mono () + timeout;
    zpoller_t *poller = zpoller_new (gossip, NULL);
    json_t *found = NULL;
    while (!found && zclock_mono () < end) {
        if (!zpoller_wait (poller, (int) (end - zclock_mono ())))
            break;
        zmsg_t *msg = zmsg_recv (gossip);
        char *command = zmsg_popstr (msg);
        char *id = zmsg_popstr (msg);
        zframe_t *payload = zmsg_pop (msg);
        if (command && streq (command, "SEND") && id && payload) {
            json_t *json = json_loadb ((const char *) zframe_data (payload),
                                       zframe_size (payload), 0, NULL);
            if (streq (id, to) && streq (json_string_value (json_object_get (json, "t")), type))
                found = json;
            else
            if (skipped)
                json_array_append_new (skipped, json_pack ("{s:s, s:o}", "to", id, "msg", json));
            else
                json_decref (json);
        }
        free (command);
        free (id);
        zframe_destroy (&payload);
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    return found;
}

static json_t *
s_expect (zsock_t *gossip, const char *to, const char *type, int timeout)
{
    return s_expect_after (gossip, to, type, timeout, NULL);
}

static char *s_datadir;         //  The pool's, removed by the test

//  A pool with 1 slot that holds three long tasks of S_ORIGIN's run "r":
//  one runs, two are queued.  S_THIEF is in its table in state THIEF_STATE.
static zactor_t *
s_pool_with_a_queue (zsock_t **gossip_p, const char *endpoint, const char *thief_state)
{
    *gossip_p = zsock_new (ZMQ_PAIR);
    cr_assert_eq (zsock_bind (*gossip_p, "%s", endpoint), 0);
    //  The pool keeps its content store and work directories there
    if (!s_datadir)
        s_datadir = tmu_scratch ();
    tm_workpool_config_t config = {
        .datadir = s_datadir,
        .work_endpoint = endpoint,
        .slots = 1,
        .executor = { .member = "w1", .kill_grace = 0.5, .cancel_grace = 0.05,
                      .output_limit = 4096 },
    };
    zactor_t *pool = zactor_new (tm_workpool_actor, &config);
    char *hello = zstr_recv (*gossip_p);
    cr_assert_str_eq (hello, "HELLO");
    free (hello);
    zsock_send (*gossip_p, "ss", "SELF", S_SELF);
    s_member (*gossip_p, S_SELF, "w1", "alive");
    s_member (*gossip_p, S_ORIGIN, "origin", "alive");
    s_member (*gossip_p, S_THIEF, "thief", thief_state);
    json_t *tasks = json_array ();
    for (int i = 0; i < 3; i++) {
        char id [16];
        snprintf (id, sizeof id, "t%d", i);
        tm_task_t *task = tm_task_new (id, "suite", TM_KIND_MANIFEST);
        tm_strv_push (&task->argv, "/bin/sleep");
        tm_strv_push (&task->argv, "30");
        task->index = (size_t) i;
        json_array_append_new (tasks, json_pack ("{s:i, s:i, s:i, s:o}", "i", i, "l", i + 1,
                                                 "a", 1, "task", tm_codec_task_encode (task)));
        tm_task_destroy (&task);
    }
    json_t *assign = json_pack ("{s:s, s:s, s:b, s:o}", "t", "assign", "run", "r",
                                "front", 0, "tasks", tasks);
    char *text = json_dumps (assign, JSON_COMPACT);
    s_recv_from (*gossip_p, S_ORIGIN, text);
    free (text);
    json_decref (assign);
    json_t *started = s_expect (*gossip_p, S_ORIGIN, "started", 5000);
    cr_assert_not_null (started, "the pool started nothing");
    json_decref (started);
    return pool;
}

Test (workpool, victim_gives_nothing_to_a_thief_it_sees_dead)
{
    //  Were the tasks given, gossip would drop the give (the thief is
    //  dead) while the origin, told they moved, waited for them for ever
    zsock_t *gossip;
    zactor_t *pool = s_pool_with_a_queue (&gossip, "inproc://test-workpool-dead", "dead");
    s_recv_from (gossip, S_THIEF, "{\"t\":\"steal\",\"want\":1}");
    json_t *before = json_array ();
    json_t *give = s_expect_after (gossip, S_THIEF, "give", 5000, before);
    cr_assert_not_null (give, "no answer to the steal");
    cr_assert_eq (json_array_size (json_object_get (give, "tasks")), 0,
                  "gave %zu task(s) to a dead member",
                  json_array_size (json_object_get (give, "tasks")));
    size_t i;
    json_t *sent;
    json_array_foreach (before, i, sent) {
        const char *type = json_string_value (json_object_get (json_object_get (sent, "msg"), "t"));
        cr_assert (!streq (type, "moved"), "told the origin its tasks moved to a dead member");
    }
    json_decref (before);
    json_decref (give);
    zactor_destroy (&pool);
    tmu_rmrf (s_datadir);
    zsock_destroy (&gossip);
}

Test (workpool, victim_gives_half_its_queue_to_an_alive_thief_and_tells_the_origin)
{
    zsock_t *gossip;
    zactor_t *pool = s_pool_with_a_queue (&gossip, "inproc://test-workpool-alive", "alive");
    s_recv_from (gossip, S_THIEF, "{\"t\":\"steal\",\"want\":1}");
    //  The origin hears first, then the thief gets the task
    json_t *moved = s_expect (gossip, S_ORIGIN, "moved", 5000);
    cr_assert_not_null (moved, "the origin was not told where its task went");
    cr_assert_str_eq (json_string_value (json_object_get (moved, "to")), S_THIEF);
    json_decref (moved);
    json_t *give = s_expect (gossip, S_THIEF, "give", 5000);
    cr_assert_not_null (give, "no answer to the steal");
    cr_assert_eq (json_array_size (json_object_get (give, "tasks")), 1);
    json_decref (give);
    zactor_destroy (&pool);
    tmu_rmrf (s_datadir);
    zsock_destroy (&gossip);
}

Test (workpool, holder_renews_the_leases_of_what_it_holds)
{
    zsock_t *gossip;
    zactor_t *pool = s_pool_with_a_queue (&gossip, "inproc://test-workpool-renew", "alive");
    json_t *hold = s_expect (gossip, S_ORIGIN, "hold", 5000);
    cr_assert_not_null (hold, "no lease renewal within 5 s");
    cr_assert_str_eq (json_string_value (json_object_get (hold, "run")), "r");
    //  One running and two queued
    cr_assert_eq (json_array_size (json_object_get (hold, "items")), 3);
    json_decref (hold);
    zactor_destroy (&pool);
    tmu_rmrf (s_datadir);
    zsock_destroy (&gossip);
}

Test (workpool, origin_takes_back_tasks_their_holder_stops_renewing, .timeout = 40)
{
    //  The fake member S_THIEF takes an assignment and then says nothing,
    //  as a holder that dropped our tasks believing us dead would
    zsock_t *gossip = zsock_new (ZMQ_PAIR);
    cr_assert_eq (zsock_bind (gossip, "inproc://test-workpool-lease"), 0);
    s_datadir = tmu_scratch ();
    tm_workpool_config_t config = {
        .datadir = s_datadir,
        .work_endpoint = "inproc://test-workpool-lease",
        .slots = 1,
        .executor = { .member = "w1", .kill_grace = 0.5, .cancel_grace = 0.05,
                      .output_limit = 4096 },
    };
    zactor_t *pool = zactor_new (tm_workpool_actor, &config);
    char *hello = zstr_recv (gossip);
    free (hello);
    zsock_send (gossip, "ss", "SELF", S_SELF);
    s_member (gossip, S_THIEF, "silent", "alive");
    tm_tasklist_t *tasks = tm_tasklist_new ();
    tm_task_t *task = tm_task_new ("t0", "suite", TM_KIND_MANIFEST);
    tm_strv_push (&task->argv, "/bin/true");
    task->index = 0;
    tm_tasklist_append (tasks, &task);
    zsock_send (pool, "sspii", "RUN", "r1", tasks, 0, 0);
    json_t *first = s_expect (gossip, S_THIEF, "assign", 5000);
    cr_assert_not_null (first, "the task was not handed out");
    json_int_t lease = json_integer_value (json_object_get (
        json_array_get (json_object_get (first, "tasks"), 0), "l"));
    json_decref (first);
    //  No renewal: after S_LEASE_TIMEOUT (10 s) it goes out again, new lease
    json_t *again = s_expect (gossip, S_THIEF, "assign", 20000);
    cr_assert_not_null (again, "the origin never took its task back");
    json_int_t renewed = json_integer_value (json_object_get (
        json_array_get (json_object_get (again, "tasks"), 0), "l"));
    cr_assert_gt (renewed, lease);
    json_decref (again);
    zactor_destroy (&pool);
    tm_tasklist_destroy (&tasks);
    tmu_rmrf (s_datadir);
    zsock_destroy (&gossip);
}

//  Gives the pool back MSG (a JSON object) as UNSENT to TO.
static void
s_unsent (zsock_t *gossip, const char *to, json_t *msg)
{
    char *text = json_dumps (msg, JSON_COMPACT);
    zframe_t *frame = zframe_new (text, strlen (text));
    zsock_send (gossip, "ssf", "UNSENT", to, frame);
    zframe_destroy (&frame);
    free (text);
}

//  The tasks a "dropped" message lists, as "i:l" strings in a sorted
//  JSON array, for comparison.
static json_t *
s_items (json_t *msg)
{
    json_t *items = json_object_get (msg, "items");
    json_t *out = json_array ();
    size_t i;
    json_t *item;
    json_array_foreach (items, i, item) {
        char text [64];
        snprintf (text, sizeof text, "%lld:%lld",
                  (long long) json_integer_value (json_array_get (item, 0)),
                  (long long) json_integer_value (json_array_get (item, 1)));
        json_array_append_new (out, json_string (text));
    }
    return out;
}

Test (workpool, holder_tells_an_origin_that_comes_back_which_tasks_it_dropped)
{
    //  A starved origin misses its probes and is declared dead, then
    //  refutes: the tasks its holders dropped meanwhile must not be lost
    zsock_t *gossip;
    zactor_t *pool = s_pool_with_a_queue (&gossip, "inproc://test-workpool-back", "alive");
    s_member (gossip, S_ORIGIN, "origin", "dead");
    //  The running one is killed: no result may go out for it
    json_t *before = json_array ();
    s_member (gossip, S_ORIGIN, "origin", "alive");
    json_t *dropped = s_expect_after (gossip, S_ORIGIN, "dropped", 5000, before);
    cr_assert_not_null (dropped, "the origin came back and heard nothing");
    size_t i;
    json_t *sent;
    json_array_foreach (before, i, sent)
        cr_assert (!streq (json_string_value (json_object_get (json_object_get (sent, "msg"),
                                                               "t")), "result"),
                   "sent a result for a task killed because its origin was dead");
    cr_assert_str_eq (json_string_value (json_object_get (dropped, "run")), "r");
    json_t *items = s_items (dropped);
    json_t *want = json_pack ("[s, s, s]", "0:1", "1:2", "2:3");
    size_t k;
    json_t *item;
    json_array_foreach (want, k, item) {
        bool found = false;
        json_t *got;
        json_array_foreach (items, i, got)
            found = found || json_equal (got, item);
        cr_assert (found, "task %s is not in the dropped list", json_string_value (item));
    }
    cr_assert_eq (json_array_size (items), 3);
    json_decref (want);
    json_decref (items);
    json_decref (dropped);
    json_decref (before);
    //  Told once
    s_member (gossip, S_ORIGIN, "origin", "dead");
    s_member (gossip, S_ORIGIN, "origin", "alive");
    dropped = s_expect (gossip, S_ORIGIN, "dropped", 300);
    cr_assert_null (dropped, "told the origin twice");
    zactor_destroy (&pool);
    if (s_datadir)
        tmu_rmrf (s_datadir);
    zsock_destroy (&gossip);
}

Test (workpool, holder_does_not_run_tasks_of_an_origin_it_sees_dead)
{
    //  Their results could not reach it: gossip drops what we send to a
    //  member we see dead
    zsock_t *gossip;
    zactor_t *pool = s_pool_with_a_queue (&gossip, "inproc://test-workpool-ghost", "alive");
    s_member (gossip, S_THIEF, "other", "dead");
    tm_task_t *task = tm_task_new ("g", "suite", TM_KIND_MANIFEST);
    tm_strv_push (&task->argv, "/bin/true");
    json_t *assign = json_pack ("{s:s, s:s, s:b, s:[{s:i, s:i, s:i, s:o}]}", "t", "assign",
                                "run", "q", "front", 0, "tasks", "i", 7, "l", 70, "a", 1,
                                "task", tm_codec_task_encode (task));
    tm_task_destroy (&task);
    char *text = json_dumps (assign, JSON_COMPACT);
    s_recv_from (gossip, S_THIEF, text);
    free (text);
    json_decref (assign);
    json_t *started = s_expect (gossip, S_THIEF, "started", 300);
    cr_assert_null (started, "ran a task of an origin it sees dead");
    s_member (gossip, S_THIEF, "other", "alive");
    json_t *dropped = s_expect (gossip, S_THIEF, "dropped", 5000);
    cr_assert_not_null (dropped, "the origin came back and heard nothing");
    json_t *items = s_items (dropped);
    cr_assert_eq (json_array_size (items), 1);
    cr_assert_str_eq (json_string_value (json_array_get (items, 0)), "7:70");
    json_decref (items);
    json_decref (dropped);
    zactor_destroy (&pool);
    if (s_datadir)
        tmu_rmrf (s_datadir);
    zsock_destroy (&gossip);
}

Test (workpool, origin_hands_out_again_what_a_holder_dropped)
{
    zsock_t *gossip = zsock_new (ZMQ_PAIR);
    const char *endpoint = "inproc://test-workpool-origin";
    cr_assert_eq (zsock_bind (gossip, "%s", endpoint), 0);
    s_datadir = tmu_scratch ();
    tm_workpool_config_t config = {
        .datadir = s_datadir,
        .work_endpoint = endpoint,
        .slots = 1,
        .executor = { .member = "o", .kill_grace = 0.5, .cancel_grace = 0.05,
                      .output_limit = 4096 },
    };
    zactor_t *pool = zactor_new (tm_workpool_actor, &config);
    char *hello = zstr_recv (gossip);
    free (hello);
    //  We are the origin; the holder is the only member with slots
    zsock_send (gossip, "ss", "SELF", S_ORIGIN);
    zsock_send (gossip, "ssssss", "MEMBER", S_ORIGIN, "o", "alive", "127.0.0.1:1", "{\"slots\":0}");
    s_member (gossip, S_THIEF, "holder", "alive");
    //  A steal answered proves the members were taken in (the pipe and
    //  the work socket are read in no set order)
    s_recv_from (gossip, S_THIEF, "{\"t\":\"steal\",\"want\":1}");
    json_t *give = s_expect (gossip, S_THIEF, "give", 5000);
    cr_assert_not_null (give);
    json_decref (give);
    tm_tasklist_t *tasks = tm_tasklist_new ();
    for (int i = 0; i < 2; i++) {
        char id [16];
        snprintf (id, sizeof id, "t%d", i);
        tm_task_t *task = tm_task_new (id, "suite", TM_KIND_MANIFEST);
        tm_strv_push (&task->argv, "/bin/true");
        tm_tasklist_append (tasks, &task);
    }
    zsock_send (pool, "sspii", "RUN", "k", tasks, 0, 0);
    json_t *assign = s_expect (gossip, S_THIEF, "assign", 5000);
    cr_assert_not_null (assign, "the origin placed nothing");
    json_t *first = json_array_get (json_object_get (assign, "tasks"), 0);
    json_int_t index = json_integer_value (json_object_get (first, "i"));
    json_int_t lease = json_integer_value (json_object_get (first, "l"));
    json_decref (assign);

    char text [128];
    snprintf (text, sizeof text, "{\"t\":\"dropped\",\"run\":\"k\",\"items\":[[%lld,%lld]]}",
              (long long) index, (long long) lease);
    s_recv_from (gossip, S_THIEF, text);
    assign = s_expect (gossip, S_THIEF, "assign", 5000);
    cr_assert_not_null (assign, "the dropped task was not handed out again");
    json_t *again = json_array_get (json_object_get (assign, "tasks"), 0);
    cr_assert_eq (json_array_size (json_object_get (assign, "tasks")), 1);
    cr_assert_eq (json_integer_value (json_object_get (again, "i")), index);
    cr_assert_gt (json_integer_value (json_object_get (again, "l")), lease, "not under a new lease");
    //  The same report again, now under a stale lease: nothing moves
    s_recv_from (gossip, S_THIEF, text);
    json_t *stale = s_expect (gossip, S_THIEF, "assign", 300);
    cr_assert_null (stale, "a stale dropped report moved a task");
    //  An assign gossip did not send (it saw the holder dead before we
    //  did) is handed out again too
    s_unsent (gossip, S_THIEF, assign);
    json_decref (assign);
    assign = s_expect (gossip, S_THIEF, "assign", 5000);
    cr_assert_not_null (assign, "an unsent assign was not handed out again");
    cr_assert_eq (json_integer_value (json_object_get (
                      json_array_get (json_object_get (assign, "tasks"), 0), "i")), index);
    json_decref (assign);
    zactor_destroy (&pool);
    if (s_datadir)
        tmu_rmrf (s_datadir);
    zsock_destroy (&gossip);
    tm_tasklist_destroy (&tasks);
}

Test (workpool, give_that_gossip_did_not_send_goes_back_to_the_origin)
{
    //  The pool saw the thief alive, gossip already saw it dead: the
    //  origin, told the task moved, must hear that it is nowhere
    zsock_t *gossip;
    zactor_t *pool = s_pool_with_a_queue (&gossip, "inproc://test-workpool-unsent", "alive");
    s_recv_from (gossip, S_THIEF, "{\"t\":\"steal\",\"want\":1}");
    json_t *give = s_expect (gossip, S_THIEF, "give", 5000);
    cr_assert_not_null (give);
    json_t *task = json_array_get (json_object_get (give, "tasks"), 0);
    cr_assert_not_null (task);
    char want [64];
    snprintf (want, sizeof want, "%lld:%lld",
              (long long) json_integer_value (json_object_get (task, "i")),
              (long long) json_integer_value (json_object_get (task, "l")));
    s_unsent (gossip, S_THIEF, give);
    json_decref (give);
    json_t *dropped = s_expect (gossip, S_ORIGIN, "dropped", 5000);
    cr_assert_not_null (dropped, "the origin did not hear that the given task is nowhere");
    json_t *items = s_items (dropped);
    cr_assert_eq (json_array_size (items), 1);
    cr_assert_str_eq (json_string_value (json_array_get (items, 0)), want);
    json_decref (items);
    json_decref (dropped);
    zactor_destroy (&pool);
    zsock_destroy (&gossip);
}

Test (workpool, want_is_checked_counted_and_fetched_from_its_sender)
{
    zsock_t *gossip = zsock_new (ZMQ_PAIR);
    const char *endpoint = "inproc://test-workpool-want";
    cr_assert_eq (zsock_bind (gossip, "%s", endpoint), 0);
    s_datadir = tmu_scratch ();
    static tm_workpool_stats_t stats;
    static tm_blobs_stats_t blob_stats;
    tm_workpool_config_t config = {
        .stats = &stats, .blob_stats = &blob_stats,
        .datadir = s_datadir, .work_endpoint = endpoint, .slots = 1, .replicas = 3,
        .executor = { .member = "w1", .kill_grace = 0.5, .cancel_grace = 0.05,
                      .output_limit = 4096 },
    };
    zactor_t *pool = zactor_new (tm_workpool_actor, &config);
    char *hello = zstr_recv (gossip);
    free (hello);
    zsock_send (gossip, "ss", "SELF", S_SELF);
    s_member (gossip, S_SELF, "w1", "alive");
    s_member (gossip, S_ORIGIN, "origin", "alive");
    char hex [TM_STORE_HEX];
    tm_store_digest ("hello", 5, hex);
    //  Each of these is dropped and counted: bad digest, size, exec bit
    const char *bad [] = {
        "{\"t\":\"want\",\"d\":\"zz\",\"z\":5}",
        "{\"t\":\"want\",\"d\":\"%s\",\"z\":-1}",
        "{\"t\":\"want\",\"d\":\"%s\",\"z\":2199023255553}",
        "{\"t\":\"want\",\"d\":\"%s\",\"z\":\"5\"}",
        "{\"t\":\"want\",\"d\":\"%s\",\"z\":5,\"x\":\"yes\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        char text [256];
        snprintf (text, sizeof text, bad [i], hex);
        s_recv_from (gossip, S_ORIGIN, text);
    }
    //  A good one: the pool fetches the blob from the member that asked
    char text [256];
    snprintf (text, sizeof text, "{\"t\":\"want\",\"d\":\"%s\",\"z\":5,\"x\":false}", hex);
    s_recv_from (gossip, S_ORIGIN, text);
    json_t *fetch = s_expect (gossip, S_ORIGIN, "fetch", 5000);
    cr_assert_not_null (fetch, "the pool fetched nothing");
    cr_assert_str_eq (json_string_value (json_object_get (fetch, "d")), hex);
    json_decref (fetch);
    //  Again while it fetches: nothing new starts
    s_recv_from (gossip, S_ORIGIN, text);
    double end = tmu_now () + 5;
    tm_blobs_stats_t counts;
    do {
        usleep (1000);
        tm_blobs_stats_read (&blob_stats, &counts);
    } while (counts.prefetch_present < 1 && tmu_now () < end);
    cr_assert_eq (counts.prefetch_started, 1);
    cr_assert_eq (counts.prefetch_present, 1);
    tm_workpool_stats_t work;
    tm_workpool_stats_read (&stats, &work);
    cr_assert_eq (work.malformed, sizeof bad / sizeof bad [0]);
    cr_assert_null (s_expect (gossip, S_ORIGIN, "fetch", 100), "a second fetch started");
    zactor_destroy (&pool);
    tmu_rmrf (s_datadir);
    zsock_destroy (&gossip);
}

Test (workpool, keep_is_checked_counted_and_fetched_in_the_background_from_its_sender)
{
    zsock_t *gossip = zsock_new (ZMQ_PAIR);
    const char *endpoint = "inproc://test-workpool-keep";
    cr_assert_eq (zsock_bind (gossip, "%s", endpoint), 0);
    s_datadir = tmu_scratch ();
    static tm_workpool_stats_t stats;
    static tm_blobs_stats_t blob_stats;
    tm_workpool_config_t config = {
        .stats = &stats, .blob_stats = &blob_stats,
        .datadir = s_datadir, .work_endpoint = endpoint, .slots = 1, .replicas = 3,
        .executor = { .member = "w1", .kill_grace = 0.5, .cancel_grace = 0.05,
                      .output_limit = 4096 },
    };
    zactor_t *pool = zactor_new (tm_workpool_actor, &config);
    char *hello = zstr_recv (gossip);
    free (hello);
    zsock_send (gossip, "ss", "SELF", S_SELF);
    s_member (gossip, S_SELF, "w1", "alive");
    s_member (gossip, S_ORIGIN, "origin", "alive");
    s_member (gossip, S_THIEF, "gone", "dead");
    char hex [TM_STORE_HEX], other [TM_STORE_HEX];
    tm_store_digest ("hello", 5, hex);
    tm_store_digest ("world!", 6, other);
    //  Each of these is dropped and counted: no list, not a list, too
    //  many blobs, a bad digest, size, exec bit, or shape
    char many [8192] = "{\"t\":\"keep\",\"b\":[";
    for (int i = 0; i < 65; i++)
        snprintf (many + strlen (many), sizeof many - strlen (many), "%s[\"%s\",5,false]",
                  i ? "," : "", hex);
    strcat (many, "]}");
    const char *bad [] = {
        "{\"t\":\"keep\"}",
        "{\"t\":\"keep\",\"b\":\"%s\"}",
        many,
        "{\"t\":\"keep\",\"b\":[[\"zz\",5,false]]}",
        "{\"t\":\"keep\",\"b\":[[\"%s\",-1,false]]}",
        "{\"t\":\"keep\",\"b\":[[\"%s\",2199023255553,false]]}",
        "{\"t\":\"keep\",\"b\":[[\"%s\",5,\"yes\"]]}",
        "{\"t\":\"keep\",\"b\":[[\"%s\",5]]}",
        "{\"t\":\"keep\",\"b\":[{\"d\":\"%s\"}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        char text [8192];
        snprintf (text, sizeof text, bad [i], hex);
        s_recv_from (gossip, S_ORIGIN, text);
    }
    //  From a member seen dead: ignored
    char text [512];
    snprintf (text, sizeof text, "{\"t\":\"keep\",\"b\":[[\"%s\",6,true]]}", other);
    s_recv_from (gossip, S_THIEF, text);
    //  A good blob beside a bad one: the good one is fetched, from the
    //  member that offered it, and the message still counts as malformed
    snprintf (text, sizeof text, "{\"t\":\"keep\",\"b\":[[\"%s\",5,false],[\"zz\",1,false]]}",
              hex);
    s_recv_from (gossip, S_ORIGIN, text);
    json_t *fetch = s_expect (gossip, S_ORIGIN, "fetch", 5000);
    cr_assert_not_null (fetch, "the pool fetched nothing");
    cr_assert_str_eq (json_string_value (json_object_get (fetch, "d")), hex);
    json_decref (fetch);
    //  Offered again while it fetches: nothing new starts
    snprintf (text, sizeof text, "{\"t\":\"keep\",\"b\":[[\"%s\",5,false]]}", hex);
    s_recv_from (gossip, S_ORIGIN, text);
    double end = tmu_now () + 5;
    tm_blobs_stats_t counts;
    do {
        usleep (1000);
        tm_blobs_stats_read (&blob_stats, &counts);
    } while (counts.handoff_present < 1 && tmu_now () < end);
    cr_assert_eq (counts.handoff_started, 1);
    cr_assert_eq (counts.handoff_present, 1);
    cr_assert_eq (counts.prefetch_started, 0, "a keep is not a want");
    tm_workpool_stats_t work;
    tm_workpool_stats_read (&stats, &work);
    cr_assert_eq (work.malformed, sizeof bad / sizeof bad [0] + 1);
    cr_assert_null (s_expect (gossip, S_ORIGIN, "fetch", 100), "a second fetch started");
    cr_assert_null (s_expect (gossip, S_THIEF, "fetch", 100), "fetched from a dead member");
    zactor_destroy (&pool);
    tmu_rmrf (s_datadir);
    zsock_destroy (&gossip);
}
