/*  test_listing.c - tm_listing: what a run lists, and where.

    The class lists manifests the way `testmesh run` does (ids, filters,
    inputs, the one-line errors); the decoders of the "list" request and
    of its answer refuse whatever a peer could send wrong with one line;
    the listing actor answers every request once, refuses when its queue
    is full, and cuts hung listings short on $TERM; tm_submit_list,
    against a fake agent played by a thread of the test, waits while the
    agent heartbeats and turns every bad answer into one line.  Waits
    have deadlines; nothing sleeps a fixed time to let something happen.
*/
#include "tm_testutil.h"
#include "tm_listing.h"
#include "tm_codec.h"
#include "tm_control.h"
#include "tm_submit.h"
#include <sys/stat.h>
#include <sys/timerfd.h>

TestSuite (listing, .timeout = 60);

//  DIR/NAME holding TEXT; returns the path (caller frees).
static char *
s_file (const char *dir, const char *name, const char *text)
{
    char *path = NULL;
    cr_assert (asprintf (&path, "%s/%s", dir, name) > 0);
    tmu_write (path, text);
    return path;
}

static const char *s_suite =
    "[test \"net/tcp\"]\ncommand = true\n\n"
    "[test \"net/udp\"]\ncommand = true\n\n"
    "[test \"disk/read\"]\ncommand = true\n";

//  Lists TARGETS (NULL-terminated) with FILTERS, EXCLUDES and INPUTS;
//  returns the ids joined by spaces, or "error: ERR" (caller frees).
static char *
s_list (char **targets, char **filters, char **excludes, char **inputs)
{
    tm_listing_t *listing = tm_listing_new (targets, TM_KIND_AUTO, filters, excludes, inputs);
    char *err = NULL;
    tm_tasklist_t *tasks = tm_listing_run (listing, &err);
    tm_listing_destroy (&listing);
    cr_assert_null (listing);
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    if (!tasks)
        fprintf (out, "error: %s", err);
    for (size_t i = 0; tasks && i < tm_tasklist_size (tasks); i++) {
        tm_task_t *task = tm_tasklist_get (tasks, i);
        cr_assert_eq (task->index, i);
        fprintf (out, "%s%s", i ? " " : "", task->id);
    }
    fclose (out);
    tm_tasklist_destroy (&tasks);
    free (err);
    return text;
}

Test (listing, lists_filters_and_names_tests_as_run_does)
{
    char *dir = tmu_scratch ();
    char *suite = s_file (dir, "suite.ini", s_suite);
    char *text = s_list ((char *[]) { suite, NULL }, NULL, NULL, NULL);
    cr_assert_str_eq (text, "net/tcp net/udp disk/read");
    free (text);
    text = s_list ((char *[]) { suite, NULL }, (char *[]) { "net/*", NULL },
                   (char *[]) { "*udp", NULL }, NULL);
    cr_assert_str_eq (text, "net/tcp");
    free (text);
    //  Two targets: prefixed ids, and a glob matches either form
    char *other = s_file (dir, "other.ini", "[test \"net/tcp\"]\ncommand = true\n");
    text = s_list ((char *[]) { suite, other, NULL }, (char *[]) { "net/tcp", NULL }, NULL,
                   NULL);
    char *want = NULL;
    cr_assert (asprintf (&want, "%s:net/tcp %s:net/tcp", suite, other) > 0);
    cr_assert_str_eq (text, want);
    free (want);
    free (text);
    free (other);
    free (suite);
    tmu_rmrf (dir);
    free (dir);
}

Test (listing, errors_are_the_lines_run_prints)
{
    char *dir = tmu_scratch ();
    char *suite = s_file (dir, "suite.ini", s_suite);
    char *missing = NULL;
    cr_assert (asprintf (&missing, "%s/missing.ini", dir) > 0);
    char *text = s_list ((char *[]) { missing, NULL }, NULL, NULL, NULL);
    char *want = NULL;
    cr_assert (asprintf (&want, "error: %s: No such file or directory", missing) > 0);
    cr_assert_str_eq (text, want);
    free (want);
    free (text);
    text = s_list ((char *[]) { suite, suite, NULL }, NULL, NULL, NULL);
    cr_assert (strstr (text, "error: test id '") && strstr (text, "appears twice"), "%s", text);
    free (text);
    text = s_list ((char *[]) { suite, NULL }, (char *[]) { "nothing*", NULL }, NULL, NULL);
    cr_assert_str_eq (text, "error: no test matches the --filter and --exclude given "
                            "(3 tests listed)");
    free (text);
    text = s_list ((char *[]) { suite, NULL }, NULL, NULL, (char *[]) { missing, NULL });
    cr_assert (asprintf (&want, "error: --input %s: No such file or directory", missing) > 0);
    cr_assert_str_eq (text, want);
    free (want);
    free (text);
    free (missing);
    free (suite);
    tmu_rmrf (dir);
    free (dir);
}

Test (listing, inputs_become_absolute_and_join_every_task)
{
    char *dir = tmu_scratch ();
    char *suite = s_file (dir, "suite.ini", s_suite);
    char *data = s_file (dir, "data.txt", "x");
    char *cwd = getcwd (NULL, 0);
    cr_assert_eq (chdir (dir), 0);
    tm_listing_t *listing = tm_listing_new ((char *[]) { "suite.ini", NULL }, TM_KIND_MANIFEST,
                                            NULL, NULL, (char *[]) { "./data.txt", NULL });
    char *err = NULL;
    tm_tasklist_t *tasks = tm_listing_run (listing, &err);
    cr_assert_not_null (tasks, "%s", err);
    cr_assert_eq (tm_tasklist_size (tasks), 3);
    for (size_t i = 0; i < 3; i++) {
        tm_task_t *task = tm_tasklist_get (tasks, i);
        cr_assert_str_eq (task->target, "suite.ini");
        cr_assert_str_eq (task->inputs [tm_strv_size (task->inputs) - 1], data);
    }
    cr_assert_eq (chdir (cwd), 0);
    tm_tasklist_destroy (&tasks);
    tm_listing_destroy (&listing);
    free (cwd);
    free (data);
    free (suite);
    tmu_rmrf (dir);
    free (dir);
}

//  ---------------------------------------------------------------------
//  The request

Test (listing, request_round_trips)
{
    tm_listing_t *listing = tm_listing_new ((char *[]) { "a.ini", "build/unit", NULL },
                                            TM_KIND_GTEST, (char *[]) { "x*", NULL },
                                            (char *[]) { "y", "z", NULL }, NULL);
    json_t *request = tm_listing_encode (listing);
    cr_assert_not_null (request);
    cr_assert_str_eq (json_string_value (json_object_get (request, "cmd")), "list");
    char *err = NULL;
    tm_listing_t *copy = tm_listing_decode (request, &err);
    cr_assert_not_null (copy, "%s", err);
    json_t *again = tm_listing_encode (copy);
    cr_assert (json_equal (request, again));
    json_decref (again);
    json_decref (request);
    tm_listing_destroy (&copy);
    tm_listing_destroy (&listing);
    //  A target that is not UTF-8 cannot be sent as it is
    listing = tm_listing_new ((char *[]) { "bad\xff.ini", NULL }, TM_KIND_AUTO, NULL, NULL,
                              NULL);
    cr_assert_null (tm_listing_encode (listing));
    tm_listing_destroy (&listing);
}

Test (listing, bad_requests_get_one_line_each)
{
    char *long_word = (char *) malloc (TM_LISTING_STRING_MAX + 2);
    memset (long_word, 'a', TM_LISTING_STRING_MAX + 1);
    long_word [TM_LISTING_STRING_MAX + 1] = 0;
    json_t *many = json_array ();
    for (int i = 0; i <= TM_LISTING_ARRAY_MAX; i++)
        json_array_append_new (many, json_string ("t"));
    json_t *cases [] = {
        json_string ("list"),
        json_pack ("{s:s}", "cmd", "list"),
        json_pack ("{s:s, s:[]}", "cmd", "list", "targets"),
        json_pack ("{s:s, s:s}", "cmd", "list", "targets", "a.ini"),
        json_pack ("{s:s, s:[i]}", "cmd", "list", "targets", 1),
        json_pack ("{s:s, s:[s]}", "cmd", "list", "targets", ""),
        json_pack ("{s:s, s:[s]}", "cmd", "list", "targets", long_word),
        json_pack ("{s:s, s:[s#]}", "cmd", "list", "targets", "a\0b", (int) 3),
        json_pack ("{s:s, s:O}", "cmd", "list", "targets", many),
        json_pack ("{s:s, s:[s], s:s}", "cmd", "list", "targets", "a", "kind", "rust"),
        json_pack ("{s:s, s:[s], s:i}", "cmd", "list", "targets", "a", "kind", 3),
        json_pack ("{s:s, s:[s], s:{}}", "cmd", "list", "targets", "a", "filters"),
        json_pack ("{s:s, s:[s], s:[n]}", "cmd", "list", "targets", "a", "excludes"),
        json_pack ("{s:s, s:[s], s:O}", "cmd", "list", "targets", "a", "inputs", many),
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        cr_assert_not_null (cases [i], "case %zu did not pack", i);
        char *err = NULL;
        tm_listing_t *listing = tm_listing_decode (cases [i], &err);
        cr_assert_null (listing, "case %zu was accepted", i);
        cr_assert (err && *err && !strchr (err, '\n'), "case %zu: '%s'", i, err);
        free (err);
        json_decref (cases [i]);
    }
    //  Unknown fields are left for a newer CLI; absent arrays are empty
    json_t *request = json_pack ("{s:s, s:[s], s:n, s:i}", "cmd", "list", "targets", "a",
                                 "filters", "future", 1);
    char *err = NULL;
    tm_listing_t *listing = tm_listing_decode (request, &err);
    cr_assert_not_null (listing, "%s", err);
    tm_listing_destroy (&listing);
    json_decref (request);
    json_decref (many);
    free (long_word);
}

//  ---------------------------------------------------------------------
//  The answer

static tm_tasklist_t *
s_tasks (int count)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    for (int i = 0; i < count; i++) {
        char id [32];
        snprintf (id, sizeof id, "t%d", i);
        tm_task_t *task = tm_task_new (id, "suite.ini", TM_KIND_MANIFEST);
        tm_strv_push (&task->argv, "/bin/true");
        tm_tasklist_append (tasks, &task);
    }
    return tasks;
}

Test (listing, answer_round_trips)
{
    tm_tasklist_t *tasks = s_tasks (3);
    size_t size;
    char *text = tm_listing_answer_text (tasks, &size);
    cr_assert_eq (size, strlen (text));
    json_t *answer = json_loads (text, 0, NULL);
    cr_assert (json_is_true (json_object_get (answer, "ok")), "%s", text);
    char *err = NULL;
    tm_tasklist_t *copy = tm_listing_answer_decode (answer, &err);
    cr_assert_not_null (copy, "%s", err);
    cr_assert_eq (tm_tasklist_size (copy), 3);
    cr_assert_str_eq (tm_tasklist_get (copy, 2)->id, "t2");
    cr_assert_str_eq (tm_tasklist_get (copy, 2)->argv [0], "/bin/true");
    tm_tasklist_destroy (&copy);
    json_decref (answer);
    free (text);
    //  A task JSON cannot carry makes the answer an error
    tm_task_t *bad = tm_task_new ("t\xff", "suite.ini", TM_KIND_MANIFEST);
    tm_strv_push (&bad->argv, "/bin/true");
    tm_tasklist_append (tasks, &bad);
    text = tm_listing_answer_text (tasks, &size);
    answer = json_loads (text, 0, NULL);
    cr_assert (json_is_false (json_object_get (answer, "ok")), "%s", text);
    cr_assert (strstr (json_string_value (json_object_get (answer, "error")), "UTF-8"));
    json_decref (answer);
    free (text);
    tm_tasklist_destroy (&tasks);
}

Test (listing, bad_answers_are_refused_with_one_line)
{
    tm_tasklist_t *tasks = s_tasks (2);
    json_t *good [2];
    for (int i = 0; i < 2; i++)
        good [i] = tm_codec_task_encode (tm_tasklist_get (tasks, i));
    json_t *swapped = json_pack ("{s:b, s:[O, O]}", "ok", 1, "tasks", good [1], good [0]);
    json_t *twice = json_pack ("{s:b, s:[O, o]}", "ok", 1, "tasks", good [0],
                               json_deep_copy (good [0]));
    json_object_set_new (json_array_get (json_object_get (twice, "tasks"), 1), "index",
                         json_integer (1));
    json_t *cases [] = {
        json_pack ("{s:b}", "ok", 1),
        json_pack ("{s:b, s:s}", "ok", 1, "tasks", "t0"),
        json_pack ("{s:b, s:[i]}", "ok", 1, "tasks", 7),
        json_pack ("{s:b, s:[{s:s}]}", "ok", 1, "tasks", "id", "t0"),
        swapped,
        twice,
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        char *err = NULL;
        tm_tasklist_t *list = tm_listing_answer_decode (cases [i], &err);
        cr_assert_null (list, "case %zu was accepted", i);
        cr_assert (err && *err && !strchr (err, '\n'), "case %zu: '%s'", i, err);
        free (err);
        json_decref (cases [i]);
    }
    json_decref (good [0]);
    json_decref (good [1]);
    tm_tasklist_destroy (&tasks);
}

//  ---------------------------------------------------------------------
//  The actor

//  Waits up to TIMEOUT s for an ANSWER from LISTER; returns its text
//  parsed, and its id in *ID (caller frees both).
static json_t *
s_answer (zactor_t *lister, char **id, double timeout)
{
    zsock_set_rcvtimeo (lister, (int) (timeout * 1000));
    char *command = NULL;
    void *text = NULL;
    cr_assert_eq (zsock_recv (lister, "ssp", &command, id, &text), 0, "no answer in time");
    cr_assert_str_eq (command, "ANSWER");
    json_t *json = json_loads ((char *) text, 0, NULL);
    cr_assert_not_null (json, "%s", (char *) text);
    free (text);
    free (command);
    return json;
}

static void
s_send_list (zactor_t *lister, const char *id, const char *target, tm_kind_t kind)
{
    tm_listing_t *listing = tm_listing_new ((char *[]) { (char *) target, NULL }, kind,
                                            NULL, NULL, NULL);
    zsock_send (lister, "ssp", "LIST", id, listing);
}

Test (listing, actor_answers_each_request_once)
{
    char *dir = tmu_scratch ();
    char *suite = s_file (dir, "suite.ini", s_suite);
    char *missing = NULL;
    cr_assert (asprintf (&missing, "%s/missing.ini", dir) > 0);
    zactor_t *lister = zactor_new (tm_listing_actor, NULL);
    s_send_list (lister, "good", suite, TM_KIND_AUTO);
    s_send_list (lister, "bad", missing, TM_KIND_AUTO);
    s_send_list (lister, "again", suite, TM_KIND_MANIFEST);
    int seen = 0;
    for (int i = 0; i < 3; i++) {
        char *id = NULL;
        json_t *answer = s_answer (lister, &id, 20);
        if (streq (id, "bad")) {
            cr_assert (json_is_false (json_object_get (answer, "ok")));
            cr_assert (strstr (json_string_value (json_object_get (answer, "error")),
                               "No such file"));
            seen |= 1;
        }
        else {
            cr_assert (json_is_true (json_object_get (answer, "ok")));
            cr_assert_eq (json_array_size (json_object_get (answer, "tasks")), 3);
            seen |= streq (id, "good") ? 2 : 4;
        }
        json_decref (answer);
        free (id);
    }
    cr_assert_eq (seen, 7);
    zactor_destroy (&lister);
    free (missing);
    free (suite);
    tmu_rmrf (dir);
    free (dir);
}

Test (listing, actor_refuses_past_its_queue_and_cuts_listings_short_on_term)
{
    char *dir = tmu_scratch ();
    //  A "binary" that hangs while it lists; its path marks its processes
    char marker [64];
    snprintf (marker, sizeof marker, "hang-%d", (int) getpid ());
    char *script = NULL;
    cr_assert (asprintf (&script, "%s/%s", dir, marker) > 0);
    tmu_write (script, "#!/bin/sh\nsleep 50\n");
    cr_assert_eq (chmod (script, 0755), 0);
    zactor_t *lister = zactor_new (tm_listing_actor, NULL);
    for (int i = 0; i < TM_LISTING_JOBS + TM_LISTING_QUEUE + 1; i++) {
        char id [16];
        snprintf (id, sizeof id, "j%d", i);
        s_send_list (lister, id, script, TM_KIND_CRITERION);
    }
    //  The one past the queue is refused at once
    char *id = NULL, last [16];
    snprintf (last, sizeof last, "j%d", TM_LISTING_JOBS + TM_LISTING_QUEUE);
    json_t *answer = s_answer (lister, &id, 10);
    cr_assert_str_eq (id, last);
    cr_assert (json_is_false (json_object_get (answer, "ok")));
    cr_assert (strstr (json_string_value (json_object_get (answer, "error")), "busy"));
    json_decref (answer);
    free (id);
    //  TM_LISTING_JOBS hang at once, no more
    double end = tmu_now () + 10;
    while (tmu_count_marked (marker) < TM_LISTING_JOBS && tmu_now () < end)
        usleep (20000);
    cr_assert_eq (tmu_count_marked (marker), TM_LISTING_JOBS);
    double start = tmu_now ();
    zactor_destroy (&lister);
    cr_assert_lt (tmu_now () - start, 5, "$TERM waited for the hung listings");
    cr_assert_eq (tmu_count_marked (marker), 0, "a hung listing outlived the actor");
    free (script);
    tmu_rmrf (dir);
    free (dir);
}

Test (listing, actor_cancels_one_listing_and_leaves_the_others)
{
    char *dir = tmu_scratch ();
    //  Two "binaries" that hang while they list, each marked by its path
    char marker [2][64];
    char *script [2];
    for (int i = 0; i < 2; i++) {
        snprintf (marker [i], sizeof marker [i], "hang%c-%d", 'a' + i, (int) getpid ());
        cr_assert (asprintf (&script [i], "%s/%s", dir, marker [i]) > 0);
        tmu_write (script [i], "#!/bin/sh\nsleep 50\n");
        cr_assert_eq (chmod (script [i], 0755), 0);
    }
    char *suite = s_file (dir, "suite.ini", s_suite);
    zactor_t *lister = zactor_new (tm_listing_actor, NULL);
    s_send_list (lister, "keep", script [0], TM_KIND_CRITERION);
    s_send_list (lister, "cut", script [1], TM_KIND_CRITERION);
    s_send_list (lister, "queued", suite, TM_KIND_AUTO);   //  Waits: both workers hang
    double end = tmu_now () + 10;
    while ((tmu_count_marked (marker [0]) < 1 || tmu_count_marked (marker [1]) < 1)
       &&  tmu_now () < end)
        usleep (20000);
    cr_assert_eq (tmu_count_marked (marker [0]), 1, "the listing to keep never started");
    cr_assert_eq (tmu_count_marked (marker [1]), 1, "the listing to cut never started");
    //  The waiting one is answered at once, the running one once killed
    zsock_send (lister, "ssp", "CANCEL", "queued", NULL);
    double start = tmu_now ();
    zsock_send (lister, "ssp", "CANCEL", "cut", NULL);
    zsock_send (lister, "ssp", "CANCEL", "no-such-id", NULL);  //  Ignored
    for (int i = 0; i < 2; i++) {
        char *id = NULL;
        json_t *answer = s_answer (lister, &id, 5);
        cr_assert (streq (id, "queued") || streq (id, "cut"), "%s answered", id);
        cr_assert (json_is_false (json_object_get (answer, "ok")), "%s listed", id);
        cr_assert_str_eq (json_string_value (json_object_get (answer, "error")),
                          "the listing was cancelled", "%s", id);
        json_decref (answer);
        free (id);
    }
    cr_assert_lt (tmu_now () - start, 2, "cancelling took %.1f s", tmu_now () - start);
    cr_assert_eq (tmu_count_marked (marker [1]), 0, "the cancelled listing's target lives on");
    //  The other listing was left alone, and answers nothing yet
    cr_assert_eq (tmu_count_marked (marker [0]), 1, "cancelling one listing killed another");
    zsock_set_rcvtimeo (lister, 300);
    char *command = zstr_recv (lister);
    cr_assert_null (command, "an answer nobody asked for: %s", command);
    zactor_destroy (&lister);
    cr_assert_eq (tmu_count_marked (marker [0]), 0);
    for (int i = 0; i < 2; i++)
        free (script [i]);
    free (suite);
    tmu_rmrf (dir);
    free (dir);
}

//  ---------------------------------------------------------------------
//  tm_submit_list against a fake agent

//  What the fake agent sends: a heartbeat every 0.5 s for HEARTBEATS
//  s, then REPLY (raw text; NULL: nothing).
typedef struct {
    const char *dir;            //  Its data directory (the control socket)
    double heartbeats;          //  Seconds of heartbeats first
    const char *reply;          //  The answer, or NULL for silence
    json_t *request;            //  What the CLI sent first (for the test)
    int cli_heartbeats;         //  {"cmd":"heartbeat"}s it sent after that
    int cli_cancels;            //  {"cmd":"cancel"}s
} s_script_t;

static void
s_fake_agent (zsock_t *pipe, void *args)
{
    s_script_t *script = (s_script_t *) args;
    char *err = NULL;
    zsock_t *router = tm_control_bind (script->dir, &err);
    assert (router);
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, router, NULL);
    zframe_t *client = NULL;
    double start = 0, next = 0;
    bool replied = false;
    while (true) {
        void *which = zpoller_wait (poller, 50);
        if (which == pipe)
            break;
        if (which == router) {
            zmsg_t *msg = zmsg_recv (router);
            zframe_t *from = zmsg_pop (msg);
            char *text = zmsg_popstr (msg);
            json_t *json = json_loads (text, 0, NULL);
            const char *cmd = json_string_value (json_object_get (json, "cmd"));
            if (!client) {
                client = from;
                from = NULL;
                script->request = json;
                json = NULL;
                start = next = tmu_now ();
            }
            else
            if (cmd && streq (cmd, "heartbeat") && !json_object_get (json, "run"))
                __atomic_add_fetch (&script->cli_heartbeats, 1, __ATOMIC_SEQ_CST);
            else
            if (cmd && streq (cmd, "cancel") && !json_object_get (json, "run"))
                __atomic_add_fetch (&script->cli_cancels, 1, __ATOMIC_SEQ_CST);
            json_decref (json);
            free (text);
            zframe_destroy (&from);
            zmsg_destroy (&msg);
        }
        if (!client || replied)
            continue;
        if (tmu_now () >= next && tmu_now () < start + script->heartbeats) {
            zframe_t *to = zframe_dup (client);
            json_t *beat = json_pack ("{s:s}", "event", "heartbeat");
            tm_control_reply (router, &to, &beat);
            next += 0.5;
        }
        if (tmu_now () >= start + script->heartbeats && script->reply) {
            zframe_t *to = zframe_dup (client);
            tm_control_reply_text (router, &to, script->reply, strlen (script->reply));
            replied = true;
        }
    }
    zframe_destroy (&client);
    zpoller_destroy (&poller);
    zsock_destroy (&router);
}

//  Lists through a fake agent that plays SCRIPT, with CANCEL_FD as
//  tm_submit_list's; returns the tasks or NULL with *err.  *SECONDS: how
//  long it took.  With CANCEL_FD, waits up to 5 s for the CLI's cancel
//  to reach the fake agent before it ends.
static tm_tasklist_t *
s_submit_list_cancel (s_script_t *script, int cancel_fd, char **err, double *seconds)
{
    char *dir = tmu_scratch ();
    script->dir = dir;
    zactor_t *agent = zactor_new (s_fake_agent, script);
    tm_submit_config_t config = { .datadir = dir };
    tm_listing_t *listing = tm_listing_new ((char *[]) { "only/there.ini", NULL },
                                            TM_KIND_AUTO, (char *[]) { "net/*", NULL },
                                            NULL, NULL);
    double start = tmu_now ();
    tm_tasklist_t *tasks = tm_submit_list (&config, listing, cancel_fd, err);
    *seconds = tmu_now () - start;
    double end = tmu_now () + 5;
    while (cancel_fd >= 0 && !__atomic_load_n (&script->cli_cancels, __ATOMIC_SEQ_CST)
       &&  tmu_now () < end)
        usleep (20000);
    tm_listing_destroy (&listing);
    zactor_destroy (&agent);
    tmu_rmrf (dir);
    free (dir);
    return tasks;
}

static tm_tasklist_t *
s_submit_list (s_script_t *script, char **err, double *seconds)
{
    return s_submit_list_cancel (script, -1, err, seconds);
}

Test (listing, submit_list_waits_while_the_agent_heartbeats)
{
    tm_tasklist_t *tasks = s_tasks (2);
    size_t size;
    char *answer = tm_listing_answer_text (tasks, &size);
    tm_tasklist_destroy (&tasks);
    s_script_t script = { .heartbeats = TM_SUBMIT_SILENCE + 1, .reply = answer };
    char *err = NULL;
    double seconds;
    tasks = s_submit_list (&script, &err, &seconds);
    cr_assert_not_null (tasks, "%s", err);
    cr_assert_eq (tm_tasklist_size (tasks), 2);
    cr_assert_geq (seconds, TM_SUBMIT_SILENCE + 0.5);
    //  The request carried the targets as given, and the filters
    cr_assert_str_eq (json_string_value (json_array_get (
                      json_object_get (script.request, "targets"), 0)), "only/there.ini");
    cr_assert_str_eq (json_string_value (json_array_get (
                      json_object_get (script.request, "filters"), 0)), "net/*");
    //  It promised heartbeats, and sent them while it waited, every
    //  TM_SUBMIT_HEARTBEAT s: the agent may cancel a listing whose CLI is gone
    cr_assert (json_is_true (json_object_get (script.request, "heartbeats")));
    int beats = __atomic_load_n (&script.cli_heartbeats, __ATOMIC_SEQ_CST);
    cr_assert_geq (beats, (int) (TM_SUBMIT_SILENCE / TM_SUBMIT_HEARTBEAT) - 2,
                   "%d heartbeats in %.1f s", beats, seconds);
    cr_assert_eq (script.cli_cancels, 0);
    json_decref (script.request);
    tm_tasklist_destroy (&tasks);
    free (answer);
}

Test (listing, submit_list_says_cancel_when_interrupted)
{
    //  The CLI's cancel descriptor (its signalfd) becomes readable 1 s in
    int timer = timerfd_create (CLOCK_MONOTONIC, TFD_CLOEXEC);
    cr_assert_geq (timer, 0);
    struct itimerspec when = { .it_value = { .tv_sec = 1 } };
    cr_assert_eq (timerfd_settime (timer, 0, &when, NULL), 0);
    s_script_t script = { .heartbeats = 30, .reply = NULL };
    char *err = NULL;
    double seconds;
    cr_assert_null (s_submit_list_cancel (&script, timer, &err, &seconds));
    cr_assert (strstr (err, "interrupted while the agent listed"), "%s", err);
    cr_assert_lt (seconds, 2.5, "interrupted after %.1f s", seconds);
    cr_assert_eq (__atomic_load_n (&script.cli_cancels, __ATOMIC_SEQ_CST), 1,
                  "the agent was not told to cancel");
    free (err);
    json_decref (script.request);
    close (timer);
}

Test (listing, submit_list_turns_every_bad_answer_into_one_line)
{
    const struct { const char *reply; const char *want; } cases [] = {
        { "{\"ok\":false,\"error\":\"suite.ini:3: line\\nbroken\"}", "suite.ini:3: line broken" },
        { "{\"ok\":true}", "no array of tasks" },
        { "{\"ok\":true,\"tasks\":[{\"id\":\"x\"}]}", "malformed task #0" },
        { "{\"ok\":true,\"tasks\":[{\"id\":\"x\",\"target\":\"t\",\"kind\":\"manifest\","
          "\"argv\":[\"/bin/true\"],\"index\":5}]}", "task #5 at position 0" },
        { NULL, "did not answer within" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        s_script_t script = { .heartbeats = 0, .reply = cases [i].reply };
        char *err = NULL;
        double seconds;
        tm_tasklist_t *tasks = s_submit_list (&script, &err, &seconds);
        cr_assert_null (tasks, "case %zu was accepted", i);
        cr_assert (err && strstr (err, cases [i].want) && !strchr (err, '\n'),
                   "case %zu: '%s'", i, err);
        free (err);
        json_decref (script.request);
    }
    //  Garbage and unknown events are no answer: the agent fell silent
    s_script_t script = { .heartbeats = 1, .reply = "not json" };
    char *err = NULL;
    double seconds;
    cr_assert_null (s_submit_list (&script, &err, &seconds));
    cr_assert (strstr (err, "stopped answering"), "%s", err);
    free (err);
    json_decref (script.request);
}
