/*  test_cli_node.c - integration: `testmesh run --node` lists at the origin.

    A machine that is not a member submits with --node HOST:PORT and the
    token; the origin agent lists the targets, where they are.  To make
    "where they are" real on one machine, the agents run in one scratch
    directory (agent-side/, holding only/...) and the CLI in another
    (cli-side/), and targets are given relative: only/suite.ini exists
    for the agents and not for the CLI, so a CLI that opened its targets
    itself would fail (as `--local` shows it does).  Agents are real
    (tm_cluster.h), on loopback; waits have deadlines.
*/
#include "tm_cluster.h"
#include "tm_control.h"
#include "tm_keys.h"
#include "tm_listing.h"
#include "tm_submit.h"
#include "tm_token.h"
#include <sys/stat.h>

TestSuite (cli_node, .fini = tmc_cleanup, .timeout = 120);

typedef struct {
    char *dir;                  //  Scratch root
    char *agent_side;           //  The agents' cwd: has only/
    char *cli_side;             //  The CLI's cwd: has no only/
    char *outsider;             //  The CLI's --data (no agent there)
    char client [32];           //  The first agent's --client-bind
    char *token;                //  The cluster's token
    tmc_agent_t *agents [2];
} s_setup_t;

//  Writes AGENT_SIDE/NAME (mode MODE).
static void
s_agent_file (s_setup_t *setup, const char *name, const char *text, mode_t mode)
{
    char *path = tmu_join (setup->agent_side, name);
    tmu_write (path, text);
    cr_assert_eq (chmod (path, mode), 0);
    free (path);
}

//  MEMBERS agents started in AGENT_SIDE, the first with a client port;
//  returns with the test in CLI_SIDE, once that port accepts runs.
static void
s_setup (s_setup_t *setup, int members)
{
    //  We change directories: the build directory must not be relative
    char *build = realpath (tmu_build (), NULL);
    cr_assert_not_null (build);
    setenv ("TM_BUILD", build, 1);
    free (build);
    setup->dir = tmu_scratch ();
    setup->agent_side = tmu_join (setup->dir, "agent-side");
    setup->cli_side = tmu_join (setup->dir, "cli-side");
    setup->outsider = tmu_join (setup->cli_side, "outsider");
    char *only = tmu_join (setup->agent_side, "only");
    cr_assert_eq (mkdir (setup->agent_side, 0700), 0);
    cr_assert_eq (mkdir (only, 0700), 0);
    cr_assert_eq (mkdir (setup->cli_side, 0700), 0);
    free (only);
    snprintf (setup->client, sizeof setup->client, "127.0.0.1:%d", tmc_free_port ());
    cr_assert_eq (chdir (setup->agent_side), 0);
    setup->agents [0] = tmc_start ("a1", NULL, "--slots", "2", "--client-bind",
                                   setup->client, NULL);
    setup->token = tmc_token (setup->agents [0], 10);
    if (members > 1) {
        setup->agents [1] = tmc_start ("a2", setup->token, "--slots", "2", NULL);
        tmc_wait_mesh (setup->agents, 2, 30);
    }
    cr_assert_eq (chdir (setup->cli_side), 0);
    double end = tmu_now () + 15;
    while (true) {
        char *log = tmu_slurp (tmc_file (setup->agents [0], "agent.err"));
        bool ready = log && strstr (log, "accepting runs from non-members");
        free (log);
        if (ready)
            break;
        tmc_assert_running (setup->agents [0]);
        cr_assert (tmu_now () < end, "the client port did not open within 15 s");
        usleep (TMC_POLL_US);
    }
}

static void
s_teardown (s_setup_t *setup)
{
    cr_assert_eq (chdir ("/"), 0);
    tmu_rmrf (setup->dir);
    free (setup->dir);
    free (setup->agent_side);
    free (setup->cli_side);
    free (setup->outsider);
    free (setup->token);
}

//  `testmesh run --data OUTSIDER --node CLIENT --token TOKEN ARGS...`
#define s_node_run(setup, ...) \
    tmu_testmesh (60, "run", "--data", (setup)->outsider, "--node", (setup)->client, \
                  "--token", (setup)->token, "--progress", "lines", __VA_ARGS__)

//  `testmesh run --local ARGS...` from the agents' directory: the run
//  that sees what the origin sees
static tmu_run_t
s_local_run_at_agent_side (s_setup_t *setup, char *const *args)
{
    char *argv [32];
    int argc = 0;
    argv [argc++] = (char *) tmu_path ("testmesh");
    argv [argc++] = "run";
    argv [argc++] = "--local";
    argv [argc++] = "--data";
    argv [argc++] = setup->outsider;
    for (int i = 0; args [i]; i++)
        argv [argc++] = args [i];
    argv [argc] = NULL;
    cr_assert_eq (chdir (setup->agent_side), 0);
    tmu_run_t run = tmu_run_argv (60, argv);
    cr_assert_eq (chdir (setup->cli_side), 0);
    return run;
}

static const char *s_suite =
    "[defaults]\nshell = true\n\n"
    "[test \"net/tcp\"]\ncommand = true\n\n"
    "[test \"net/udp\"]\ncommand = true\n\n"
    "[test \"disk/read\"]\ncommand = true\n\n"
    "[test \"disk/full\"]\ncommand = echo disk full >&2; exit 1\n\n"
    "[test \"cpu/one\"]\ncommand = true\n\n"
    "[test \"cpu/two\"]\ncommand = true\n";

Test (cli_node, run_lists_targets_only_the_agent_sees)
{
    s_setup_t setup = { 0 };
    s_setup (&setup, 2);
    s_agent_file (&setup, "only/suite.ini", s_suite, 0600);
    //  This machine has no only/suite.ini: listing it here fails
    tmu_run_t run = tmu_testmesh (30, "run", "--local", "--data", setup.outsider, "--list",
                                  "only/suite.ini");
    cr_assert_eq (run.status, 2, "the CLI's side has the target: %s", run.out);
    cr_assert_str_eq (run.err, "testmesh: only/suite.ini: No such file or directory\n");
    tmu_run_free (&run);
    //  The origin lists it, and the run goes on as any other
    char *report = tmu_join (setup.dir, "report.json");
    run = s_node_run (&setup, "--json", report, "only/suite.ini");
    cr_assert_eq (run.status, 1, "exit %d\n%s\n%s", run.status, run.out, run.err);
    cr_assert (strstr (run.out, "FAIL") && strstr (run.out, "disk/full"), "%s", run.out);
    cr_assert (strstr (run.out, "6 tests: 5 passed, 1 failed"), "%s", run.out);
    json_t *doc = json_load_file (report, 0, NULL);
    cr_assert_not_null (doc);
    json_t *tests = json_object_get (doc, "tests");
    cr_assert_eq (json_array_size (tests), 6);
    size_t i;
    json_t *test;
    json_array_foreach (tests, i, test) {
        const char *id = json_string_value (json_object_get (test, "id"));
        const char *status = json_string_value (json_object_get (test, "status"));
        const char *member = json_string_value (json_object_get (test, "member"));
        cr_assert_str_eq (status, streq (id, "disk/full") ? "failed" : "passed", "%s", id);
        cr_assert (member && (streq (member, "a1") || streq (member, "a2")), "%s", id);
    }
    json_decref (doc);
    tmu_run_free (&run);
    free (report);
    s_teardown (&setup);
}

Test (cli_node, list_prints_the_origins_list)
{
    s_setup_t setup = { 0 };
    s_setup (&setup, 1);
    s_agent_file (&setup, "only/suite.ini", s_suite, 0600);
    s_agent_file (&setup, "only/more.ini", "[test \"net/tcp\"]\ncommand = true\n\n"
                  "[test \"net/udp\"]\ncommand = true\n", 0600);
    tmu_run_t run = s_node_run (&setup, "--list", "--filter", "net/*", "--exclude", "*udp",
                                "only/suite.ini", "only/more.ini");
    cr_assert_eq (run.status, 0, "exit %d\n%s", run.status, run.err);
    cr_assert_str_eq (run.out, "only/suite.ini:net/tcp\nonly/more.ini:net/tcp\n");
    cr_assert_str_eq (run.err, "");
    tmu_run_t local = s_local_run_at_agent_side (&setup, (char *[]) { "--list", "--filter",
        "net/*", "--exclude", "*udp", "only/suite.ini", "only/more.ini", NULL });
    cr_assert_str_eq (run.out, local.out, "the origin lists otherwise than a local run");
    tmu_run_free (&local);
    tmu_run_free (&run);
    run = s_node_run (&setup, "--list", "only/suite.ini");
    cr_assert_eq (run.status, 0, "exit %d\n%s", run.status, run.err);
    cr_assert_str_eq (run.out, "net/tcp\nnet/udp\ndisk/read\ndisk/full\ncpu/one\ncpu/two\n");
    tmu_run_free (&run);
    //  A real Criterion binary, which the origin runs to list it (with
    //  a test skipped as disabled)
    char *fixture = realpath (tmu_path ("fixtures/criterion_suite"), NULL);
    cr_assert_not_null (fixture, "build the fixtures first (make fixtures)");
    char *copy = tmu_join (setup.agent_side, "only/unit");
    char *command = NULL;
    cr_assert (asprintf (&command, "cp '%s' '%s'", fixture, copy) > 0);
    cr_assert_eq (system (command), 0);
    run = s_node_run (&setup, "--list", "--exclude", "edge/*", "only/unit");
    local = s_local_run_at_agent_side (&setup, (char *[]) { "--list", "--exclude", "edge/*",
                                                            "only/unit", NULL });
    cr_assert_eq (run.status, 0, "exit %d\n%s", run.status, run.err);
    cr_assert (strstr (run.out, "outcome/disabled  (skipped: disabled)\n"), "%s", run.out);
    cr_assert_str_eq (run.out, local.out);
    tmu_run_free (&run);
    tmu_run_free (&local);
    free (command);
    free (copy);
    free (fixture);
    //  --list sends nothing to run: the agent ran no test
    char *log = tmu_slurp (tmc_file (setup.agents [0], "agent.err"));
    cr_assert_null (strstr (log, "agent: run r"), "%s", log);
    free (log);
    s_teardown (&setup);
}

Test (cli_node, listing_failure_at_the_origin_is_the_local_line_and_exit_2)
{
    s_setup_t setup = { 0 };
    s_setup (&setup, 1);
    s_agent_file (&setup, "only/suite.ini", s_suite, 0600);
    s_agent_file (&setup, "only/broken.ini", "[test \"a\"]\ncommand = true\ncolour = red\n",
                  0600);
    s_agent_file (&setup, "only/crashes", "#!/bin/sh\necho no >&2\nexit 3\n", 0700);
    char *const cases [][6] = {
        { "only/missing.ini", NULL },
        { "only/broken.ini", NULL },
        { "--kind", "criterion", "only/crashes", NULL },
        { "--filter", "nothing*", "only/suite.ini", NULL },
        { "--input", "only/no-such-input", "only/suite.ini", NULL },
        { "only/suite.ini", "only/suite.ini", NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        char *argv [16];
        int argc = 0;
        argv [argc++] = (char *) tmu_path ("testmesh");
        argv [argc++] = "run";
        argv [argc++] = "--data";
        argv [argc++] = setup.outsider;
        argv [argc++] = "--node";
        argv [argc++] = setup.client;
        argv [argc++] = "--token";
        argv [argc++] = setup.token;
        for (int k = 0; cases [i][k]; k++)
            argv [argc++] = cases [i][k];
        argv [argc] = NULL;
        tmu_run_t run = tmu_run_argv (60, argv);
        tmu_run_t local = s_local_run_at_agent_side (&setup, cases [i]);
        cr_assert_eq (run.status, 2, "case %zu: exit %d\n%s", i, run.status, run.err);
        cr_assert_eq (local.status, 2, "case %zu: local exit %d", i, local.status);
        cr_assert_str_eq (run.err, local.err, "case %zu", i);
        cr_assert_eq (tmu_count (run.err, "\n"), 1, "case %zu: %s", i, run.err);
        cr_assert (strncmp (run.err, "testmesh: ", 10) == 0, "case %zu: %s", i, run.err);
        cr_assert_str_eq (run.out, "");
        tmu_run_free (&run);
        tmu_run_free (&local);
    }
    tmc_assert_running (setup.agents [0]);
    s_teardown (&setup);
}

Test (cli_node, slow_listing_blocks_neither_the_agent_nor_the_cli)
{
    s_setup_t setup = { 0 };
    s_setup (&setup, 1);
    //  Lists for longer than the CLI's 3 s of patience, then fails
    s_agent_file (&setup, "only/slow", "#!/bin/sh\nsleep 4\nexit 3\n", 0700);
    char *slow = tmu_join (setup.agent_side, "only/slow");
    tmc_cli_t cli;
    double start = tmu_now ();
    tmc_cli_start (&cli, setup.cli_side, (char *[]) {
        (char *) tmu_path ("testmesh"), "run", "--data", setup.outsider, "--node",
        setup.client, "--token", setup.token, "--kind", "criterion", "only/slow", NULL });
    //  Once the agent runs the listing, it still answers at once
    double end = tmu_now () + 10;
    char pattern [4200];
    snprintf (pattern, sizeof pattern, "pgrep -f '^/bin/sh %s' > /dev/null", slow);
    while (system (pattern) != 0) {
        cr_assert (tmu_now () < end, "the agent did not start listing within 10 s");
        usleep (TMC_POLL_US);
    }
    tmu_run_t members = tmu_testmesh (15, "members", "--data", setup.agents [0]->dir);
    cr_assert_eq (members.status, 0, "%s", members.err);
    cr_assert_lt (members.seconds, 1.5, "members took %.2f s while the agent listed",
                  members.seconds);
    tmu_run_free (&members);
    int status = tmc_cli_wait (&cli, 30);
    double took = tmu_now () - start;
    char *err = tmu_slurp (cli.err);
    cr_assert_eq (status, 2, "exit %d\n%s", status, err);
    char *want = NULL;
    cr_assert (asprintf (&want, "testmesh: only/slow: listing tests failed (%s exited with "
                         "status 3)\n", slow) > 0);
    cr_assert_str_eq (err, want);
    cr_assert_geq (took, 4, "the listing took %.1f s", took);
    free (want);
    free (err);
    free (slow);
    s_teardown (&setup);
}

//  Writes a target whose listing hangs (a script that sleeps while it
//  lists) at the agents' side; the script and its sleep are both marked
//  by its path.  Returns the target as the CLI names it, only/MARKER
//  (caller frees); *MARKER_P: the mark (caller frees).
static char *
s_hung_target (s_setup_t *setup, char **marker_p)
{
    char *marker = NULL;
    cr_assert (asprintf (&marker, "hang-%d-%ld", (int) getpid (), random ()) > 0);
    char *target = tmu_join ("only", marker);
    //  Its sleep runs under a name that holds the mark too
    char *sleeper = NULL, *script = NULL;
    cr_assert (asprintf (&sleeper, "%s/only/%s-sleep", setup->agent_side, marker) > 0);
    cr_assert_eq (symlink ("/bin/sleep", sleeper), 0);
    cr_assert (asprintf (&script, "#!/bin/sh\n%s 60\n", sleeper) > 0);
    s_agent_file (setup, target, script, 0700);
    free (sleeper);
    free (script);
    *marker_p = marker;
    return target;
}

//  Waits up to 10 s until COUNT processes hold MARKER.
static void
s_wait_marked (const char *marker, int count)
{
    double end = tmu_now () + 10;
    while (tmu_count_marked (marker) < count) {
        cr_assert (tmu_now () < end, "the agent did not start listing within 10 s");
        usleep (TMC_POLL_US);
    }
}

//  Starts a --node CLI whose listing hangs at the origin and returns
//  once the origin runs it.  *MARKER_P: the mark (caller frees).
static void
s_start_hung_listing (s_setup_t *setup, tmc_cli_t *cli, char **marker_p)
{
    char *target = s_hung_target (setup, marker_p);
    tmc_cli_start (cli, setup->cli_side, (char *[]) {
        (char *) tmu_path ("testmesh"), "run", "--data", setup->outsider, "--node",
        setup->client, "--token", setup->token, "--kind", "criterion", target, NULL });
    //  The CLI (its target is named by the mark), the script, its sleep
    s_wait_marked (*marker_p, 3);
    free (target);
}

//  Waits up to TIMEOUT s for MARKER's processes to be gone; returns how
//  long that took.
static double
s_wait_unmarked (const char *marker, double timeout)
{
    double start = tmu_now ();
    while (tmu_count_marked (marker) > 0) {
        cr_assert (tmu_now () < start + timeout,
                   "the listing's processes outlived its CLI by %.0f s", timeout);
        usleep (TMC_POLL_US);
    }
    return tmu_now () - start;
}

Test (cli_node, a_listing_dies_with_its_cli)
{
    s_setup_t setup = { 0 };
    s_setup (&setup, 1);
    s_agent_file (&setup, "only/suite.ini", s_suite, 0600);
    //  Ctrl-C: the CLI tells the origin, which kills the target at once
    tmc_cli_t cli;
    char *marker = NULL;
    s_start_hung_listing (&setup, &cli, &marker);
    cr_assert_eq (kill (cli.pid, SIGINT), 0);
    cr_assert_eq (tmc_cli_wait (&cli, 10), 2);
    char *err = tmu_slurp (cli.err);
    cr_assert_str_eq (err, "testmesh: interrupted while the agent listed the tests\n");
    free (err);
    double took = s_wait_unmarked (marker, 2);
    cr_assert_lt (took, 1.5, "the listing outlived a Ctrl-C by %.1f s", took);
    free (marker);
    //  SIGKILL: nobody tells the origin; its heartbeats stop, and the
    //  origin cancels the listing once TM_SUBMIT_CLI_SILENCE s pass
    s_start_hung_listing (&setup, &cli, &marker);
    cr_assert_eq (kill (cli.pid, SIGKILL), 0);
    tmc_cli_wait (&cli, 10);
    took = s_wait_unmarked (marker, TM_SUBMIT_CLI_SILENCE + 5);
    cr_assert_geq (took, TM_SUBMIT_CLI_SILENCE - 1.5, "cancelled after %.1f s: not by silence",
                   took);
    char *log = tmu_slurp (tmc_file (setup.agents [0], "agent.err"));
    cr_assert (log && strstr (log, "its CLI went silent; cancelling"), "%s", log);
    free (log);
    free (marker);
    //  And the agent goes on listing
    tmu_run_t run = s_node_run (&setup, "--list", "only/suite.ini");
    cr_assert_eq (run.status, 0, "%s", run.err);
    tmu_run_free (&run);
    s_teardown (&setup);
}

//  A DEALER connected to the client port CLIENT as a non-member holding
//  TOKEN_TEXT: what `run --node` connects (caller destroys).
static zsock_t *
s_client_dealer (const char *client, const char *token_text)
{
    tm_token_t token;
    char *err = NULL;
    cr_assert_eq (tm_token_parse (token_text, &token, &err), 0, "%s", err);
    char server [TM_KEYS_Z85_SIZE], public [TM_KEYS_Z85_SIZE], secret [TM_KEYS_Z85_SIZE];
    cr_assert_eq (tm_keys_curve_of (token.cluster_pk, server), 0);
    tm_keys_client_curve (token.join_secret, public, secret);
    tm_token_wipe (&token);
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    zsock_set_curve_serverkey (dealer, server);
    zsock_set_curve_publickey (dealer, public);
    zsock_set_curve_secretkey (dealer, secret);
    zsock_set_rcvtimeo (dealer, 10000);
    zsock_set_linger (dealer, 0);
    cr_assert_eq (zsock_connect (dealer, "tcp://%s", client), 0);
    return dealer;
}

//  Sends TEXT on the client port as a non-member holding TOKEN; returns
//  the first answer that is not a heartbeat (caller json_decref's).
static json_t *
s_client_request (const char *client, const char *token_text, const char *text)
{
    zsock_t *dealer = s_client_dealer (client, token_text);
    cr_assert_eq (zstr_send (dealer, text), 0);
    json_t *answer = NULL;
    while (!answer) {
        char *reply = zstr_recv (dealer);
        cr_assert_not_null (reply, "no answer to %s", text);
        answer = json_loads (reply, 0, NULL);
        cr_assert_not_null (answer, "%s", reply);
        free (reply);
        if (json_object_get (answer, "event")) {
            json_decref (answer);
            answer = NULL;
        }
    }
    zsock_destroy (&dealer);
    return answer;
}

Test (cli_node, only_its_own_connection_cancels_a_listing_that_promised_no_heartbeats)
{
    s_setup_t setup = { 0 };
    s_setup (&setup, 1);
    char *marker = NULL;
    char *target = s_hung_target (&setup, &marker);
    //  A CLI older than listing heartbeats asks: it promises none
    zsock_t *old = s_client_dealer (setup.client, setup.token);
    json_t *request = json_pack ("{s:s, s:[s], s:s}", "cmd", "list", "targets", target,
                                 "kind", "criterion");
    char *text = json_dumps (request, JSON_COMPACT);
    cr_assert_eq (zstr_send (old, text), 0);
    free (text);
    json_decref (request);
    s_wait_marked (marker, 2);          //  The script and its sleep
    //  Another connection's cancel finds no listing of its own
    json_t *answer = s_client_request (setup.client, setup.token, "{\"cmd\":\"cancel\"}");
    cr_assert_str_eq (json_string_value (json_object_get (answer, "error")),
                      "no listing to cancel");
    json_decref (answer);
    //  Its silence, longer than a heartbeating CLI's may be, cancels nothing
    double start = tmu_now ();
    while (tmu_now () < start + TM_SUBMIT_CLI_SILENCE + 1.5) {
        cr_assert_eq (tmu_count_marked (marker), 2,
                      "a listing that promised no heartbeats was cancelled for silence");
        usleep (TMC_POLL_US);
    }
    //  Its own cancel stops it at once, and is answered
    cr_assert_eq (zstr_send (old, "{\"cmd\":\"cancel\"}"), 0);
    double took = s_wait_unmarked (marker, 2);
    cr_assert_lt (took, 1.5, "the cancel took %.1f s", took);
    while (true) {
        char *reply = zstr_recv (old);
        cr_assert_not_null (reply, "the cancelled listing was not answered");
        json_t *json = json_loads (reply, 0, NULL);
        free (reply);
        const char *error = json_string_value (json_object_get (json, "error"));
        bool over = json_object_get (json, "ok") != NULL;
        if (over)
            cr_assert_str_eq (error, "the listing was cancelled");
        json_decref (json);
        if (over)
            break;
    }
    zsock_destroy (&old);
    free (target);
    free (marker);
    s_teardown (&setup);
}

Test (cli_node, bad_list_requests_get_one_line_and_the_agent_goes_on)
{
    s_setup_t setup = { 0 };
    s_setup (&setup, 1);
    s_agent_file (&setup, "only/suite.ini", s_suite, 0600);
    char *many = strdup ("{\"cmd\":\"list\",\"targets\":[\"a\"");
    for (int i = 0; i < TM_LISTING_ARRAY_MAX; i++) {
        char *longer = NULL;
        cr_assert (asprintf (&longer, "%s,\"a\"", many) > 0);
        free (many);
        many = longer;
    }
    char *longer = NULL;
    cr_assert (asprintf (&longer, "%s]}", many) > 0);
    free (many);
    many = longer;
    const char *cases [] = {
        "{\"cmd\":\"list\"}",
        "{\"cmd\":\"list\",\"targets\":\"only/suite.ini\"}",
        "{\"cmd\":\"list\",\"targets\":[]}",
        "{\"cmd\":\"list\",\"targets\":[7]}",
        "{\"cmd\":\"list\",\"targets\":[\"a\\u0000b\"]}",
        "{\"cmd\":\"list\",\"targets\":[\"only/suite.ini\"],\"kind\":\"cobol\"}",
        "{\"cmd\":\"list\",\"targets\":[\"only/suite.ini\"],\"filters\":[{}]}",
        "{\"cmd\":\"list\",\"targets\":[\"only/suite.ini\"],\"inputs\":7}",
        many,
        "[\"list\"]",
        "not json at all",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        json_t *answer = s_client_request (setup.client, setup.token, cases [i]);
        const char *error = json_string_value (json_object_get (answer, "error"));
        cr_assert (json_is_false (json_object_get (answer, "ok")) && error && *error
                   && !strchr (error, '\n'), "case %zu", i);
        json_decref (answer);
    }
    free (many);
    //  And a good one still lists
    json_t *answer = s_client_request (setup.client, setup.token,
                                       "{\"cmd\":\"list\",\"targets\":[\"only/suite.ini\"]}");
    cr_assert (json_is_true (json_object_get (answer, "ok")));
    cr_assert_eq (json_array_size (json_object_get (answer, "tasks")), 6);
    json_decref (answer);
    tmc_assert_running (setup.agents [0]);
    s_teardown (&setup);
}
