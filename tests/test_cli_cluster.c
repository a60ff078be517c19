/*  test_cli_cluster.c - integration: real agents forming a cluster on
    loopback, and the CLI commands that talk to them.

    Every agent is build/testmesh agent with its own scratch data
    directory, --bind 127.0.0.1:0 --no-beacon --profile fast (tm_cluster.h).
    Conditions are polled with `testmesh members --json` every 20 ms until
    a deadline; the deadlines are generous multiples of what the fast
    profile needs, so a loaded machine slows a test down instead of
    failing it, except where the bound itself is the behaviour under test
    (a leave is seen within a second).

    The fast profile (gossip/tm_swim.c, PROFILES): probe every 50 ms,
    probe timeout 20 ms, suspicion min = 4 * max (1, log10 N) * 50 ms =
    200 ms for N < 10, max = 6 * min = 1.2 s, reaping after 5 s.
*/
#include "tm_cluster.h"
#include "tm_token.h"
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <sodium.h>
#include <arpa/inet.h>

TestSuite (cli_cluster, .fini = tmc_cleanup, .timeout = 45);

//  Starts a cluster: FIRST creates it, the other COUNT - 1 join with its
//  token; every agent then sees every one alive.  NAMES holds COUNT names.
//  Returns the token (caller frees).
static char *
s_cluster (tmc_agent_t **agents, const char **names, int count)
{
    agents [0] = tmc_start (names [0], NULL, NULL);
    char *token = tmc_token (agents [0], 10);
    for (int i = 1; i < count; i++)
        agents [i] = tmc_start (names [i], token, NULL);
    tmc_wait_mesh (agents, count, 20);
    return token;
}

//  Splits LINE on blanks into at most MAX words (LINE is modified).
static int
s_words (char *line, char **words, int max)
{
    int count = 0;
    char *rest = NULL;
    for (char *word = strtok_r (line, " \t", &rest); word && count < max;
         word = strtok_r (NULL, " \t", &rest))
        words [count++] = word;
    return count;
}

//  Runs `testmesh token` on AGENT, with `--rotate --grace GRACE` if GRACE
//  is given; returns the token printed (caller frees).
static char *
s_token_command (tmc_agent_t *agent, const char *grace)
{
    tmu_run_t run = grace
        ? tmu_testmesh (15, "token", "--data", agent->dir, "--rotate", "--grace", (char *) grace)
        : tmu_testmesh (15, "token", "--data", agent->dir);
    cr_assert_eq (run.status, 0, "token: exit %d\n%s", run.status, run.err);
    cr_assert_eq (strncmp (run.out, "tm1-", 4), 0, "not a token: %s", run.out);
    char *token = strndup (run.out, strcspn (run.out, "\r\n"));
    tmu_run_free (&run);
    return token;
}

//  The join secret in TOKEN.
static void
s_join_secret (const char *token, uint8_t secret [TM_TOKEN_KEY_BYTES])
{
    tm_token_t parsed;
    char *err = NULL;
    cr_assert_eq (tm_token_parse (token, &parsed, &err), 0, "%s", err);
    memcpy (secret, parsed.join_secret, TM_TOKEN_KEY_BYTES);
    tm_token_wipe (&parsed);
}

//  An agent that must fail to join: it exits 2 within its --join-timeout
//  (plus slack), with the reason as the last line of its stderr.
static void
s_assert_join_refused (tmc_agent_t *joiner, double join_timeout, double started)
{
    int status = tmc_wait_exit (joiner, join_timeout + 8);
    if (status == -1) {
        char *tail = tmc_log_tail (joiner, 1500);
        cr_assert_fail ("'%s' was admitted (or hangs) with a token that must be refused:\n%s",
                        joiner->name, tail);
    }
    double took = tmu_now () - started;
    char *err = tmc_log_tail (joiner, 4000);
    cr_assert_eq (status, 2, "'%s' exit %d\n%s", joiner->name, status, err);
    cr_assert_geq (took, join_timeout - 0.1, "'%s' gave up before --join-timeout", joiner->name);
    //  The reason is the last line, and it is one line
    size_t length = strlen (err);
    while (length && err [length - 1] == '\n')
        err [--length] = 0;
    const char *last = strrchr (err, '\n') ? strrchr (err, '\n') + 1 : err;
    cr_assert_not_null (strstr (last, "could not join"), "last line: %s\n%s", last, err);
    free (err);
}

//  --------------------------------------------------------------------
//  Forming a cluster

Test (cli_cluster, three_agents_see_each_other_alive_with_slots_and_labels)
{
    tmc_agent_t *a = tmc_start ("a1", NULL, "--slots", "3", "--label", "zone=north",
                                "--label", "gpu=none", NULL);
    char *token = tmc_token (a, 10);
    cr_assert_eq (strncmp (token, "tm1-", 4), 0, "token: %s", token);
    tmc_agent_t *b = tmc_start ("b1", token, NULL);
    tmc_agent_t *c = tmc_start ("c1", token, "--slots", "5", NULL);
    tmc_agent_t *agents [] = { a, b, c };
    tmc_wait_mesh (agents, 3, 20);

    //  Another node's view carries a1's slots and labels, and c1's slots
    json_t *members = tmc_members_of (c);
    cr_assert_eq (json_array_size (members), 3, "3 members, not %zu", json_array_size (members));
    json_t *a1 = tmc_member (members, "a1");
    cr_assert_eq (json_integer_value (json_object_get (a1, "slots")), 3);
    json_t *labels = json_object_get (a1, "labels");
    cr_assert_str_eq (json_string_value (json_object_get (labels, "zone")), "north");
    cr_assert_str_eq (json_string_value (json_object_get (labels, "gpu")), "none");
    cr_assert_not_null (json_object_get (labels, "os"), "os label is always there");
    cr_assert_not_null (json_object_get (labels, "arch"), "arch label is always there");
    cr_assert_null (json_object_get (json_object_get (tmc_member (members, "b1"), "labels"),
                                     "zone"), "b1 has no zone label");
    //  Exactly one entry is self; ids are distinct 64-hex-digit keys
    int selves = 0;
    size_t i;
    json_t *member;
    json_array_foreach (members, i, member) {
        selves += json_is_true (json_object_get (member, "self"));
        const char *id = json_string_value (json_object_get (member, "id"));
        cr_assert (id && strlen (id) == 64 && strspn (id, "0123456789abcdef") == 64,
                   "id %s", id);
        const char *address = json_string_value (json_object_get (member, "address"));
        cr_assert (address && strncmp (address, "127.0.0.1:", 10) == 0, "address %s", address);
        cr_assert (json_is_string (json_object_get (member, "version")));
        cr_assert (json_is_integer (json_object_get (member, "incarnation")));
    }
    cr_assert_eq (selves, 1);
    cr_assert (json_is_true (json_object_get (tmc_member (members, "c1"), "self")));
    cr_assert_str_neq (json_string_value (json_object_get (a1, "id")),
                       json_string_value (json_object_get (tmc_member (members, "b1"), "id")));
    json_decref (members);
    members = tmc_members_of (a);
    cr_assert_eq (json_integer_value (json_object_get (tmc_member (members, "c1"), "slots")), 5);

    //  The text listing: the documented columns, one row per member that
    //  agrees with the JSON, and b1's marked as itself
    tmu_run_t run = tmu_testmesh (15, "members", "--data", b->dir);
    cr_assert_eq (run.status, 0, "%s", run.err);
    const char *expected [] = { "NAME", "ADDRESS", "STATE", "SLOTS", "VERSION" };
    char *lines = NULL;
    int rows = 0;
    for (char *line = strtok_r (run.out, "\n", &lines); line;
         line = strtok_r (NULL, "\n", &lines)) {
        char *text = strdup (line);
        char *words [10];
        int count = s_words (text, words, 10);
        cr_assert_geq (count, 5, "line: %s", line);
        if (rows++ == 0) {
            for (int column = 0; column < 5; column++)
                cr_assert_str_eq (words [column], expected [column], "header: %s", line);
            free (text);
            continue;
        }
        json_t *entry = tmc_member (members, words [0]);
        cr_assert_not_null (entry, "row for an unknown member: %s", line);
        cr_assert_str_eq (words [1], json_string_value (json_object_get (entry, "address")));
        cr_assert_str_eq (words [2], "alive", "row: %s", line);
        cr_assert_eq (atoll (words [3]), json_integer_value (json_object_get (entry, "slots")),
                      "row: %s", line);
        cr_assert_str_eq (words [4], json_string_value (json_object_get (entry, "version")));
        cr_assert_eq (strstr (line, "(self)") != NULL, streq (words [0], "b1"), "row: %s", line);
        free (text);
    }
    rows--;                     //  The header
    cr_assert_eq (rows, 3, "%s", run.out);
    tmu_run_free (&run);
    json_decref (members);
    free (token);
}

//  --------------------------------------------------------------------
//  Failures

//  True if /proc/net/tcp (this network namespace) holds an established
//  connection from LOCAL_IP (any port) to REMOTE ("a.b.c.d:port").
//  Addresses there are hex, the IP in network byte order read as a
//  little-endian word: 127.0.1.21 is 1501007F.
static bool
s_tcp_connected (const char *local_ip, const char *remote)
{
    struct in_addr local, peer;
    char host [64];
    int port;
    const char *colon = strrchr (remote, ':');
    cr_assert (colon && (size_t) (colon - remote) < sizeof host, "address %s", remote);
    snprintf (host, sizeof host, "%.*s", (int) (colon - remote), remote);
    port = atoi (colon + 1);
    cr_assert (inet_pton (AF_INET, local_ip, &local) == 1 && inet_pton (AF_INET, host, &peer) == 1);
    FILE *file = fopen ("/proc/net/tcp", "r");
    cr_assert_not_null (file, "cannot read /proc/net/tcp");
    char line [512];
    bool found = false;
    while (!found && fgets (line, sizeof line, file)) {
        unsigned l_ip, l_port, r_ip, r_port, state;
        if (sscanf (line, " %*d: %8X:%4X %8X:%4X %2X", &l_ip, &l_port, &r_ip, &r_port,
                    &state) == 5)
            found = state == 1 && l_ip == local.s_addr && r_ip == peer.s_addr
                 && (int) r_port == port;
    }
    fclose (file);
    return found;
}

//  A member answers over the connection another member opened to it, so
//  a pair of members needs one connection (one CurveZMQ handshake), not
//  one each way; and an agent bound to one IPv4 address connects from
//  it.  b1 and c1 join through a1, so each opened a connection to a1
//  before a1 had a reason to send them anything: a1 must never open one
//  of its own.  The agents bind addresses of 127/8 nobody else here
//  uses, so /proc/net/tcp tells their connections apart.
Test (cli_cluster, members_answer_over_connections_opened_to_them_from_the_bind_address)
{
    const char *ips [] = { "127.0.1.21", "127.0.1.22", "127.0.1.23" };
    const char *names [] = { "a1", "b1", "c1" };
    tmc_agent_t *agents [3];
    char bind [32];
    snprintf (bind, sizeof bind, "%s:0", ips [0]);
    agents [0] = tmc_start (names [0], NULL, "--bind", bind, NULL);
    char *token = tmc_token (agents [0], 10);
    for (int i = 1; i < 3; i++) {
        snprintf (bind, sizeof bind, "%s:0", ips [i]);
        agents [i] = tmc_start (names [i], token, "--bind", bind, NULL);
    }
    tmc_wait_mesh (agents, 3, 20);
    //  Probes, gossip and push-pulls both ways for a while (the fast
    //  profile probes every 50 ms): a1 answers b1 and c1 over theirs
    tmc_wait_counter (agents [0], "inbound_sent", 100, 10);
    json_t *stats = tmc_stats (agents [0]);
    cr_assert_eq (tmc_counter (stats, "peer_connections"), 0,
                  "a1 opened connections of its own:\n%s", json_dumps (stats, JSON_INDENT (2)));
    cr_assert_eq (tmc_counter (stats, "inbound_connections"), 2);
    cr_assert_eq (tmc_counter (stats, "sender_mismatch"), 0);
    json_decref (stats);
    //  Still every member alive everywhere, and nothing was dropped
    tmc_wait_mesh (agents, 3, 5);
    for (int i = 0; i < 3; i++) {
        json_t *own = tmc_stats (agents [i]);
        cr_assert_eq (tmc_counter (own, "unexpected_dropped"), 0, "%s", names [i]);
        cr_assert_eq (tmc_counter (own, "dropped_total"), 0, "%s", names [i]);
        json_decref (own);
    }
    //  b1's and c1's connections to a1 start from their own addresses
    json_t *members = tmc_members_of (agents [1]);
    const char *a1_address = json_string_value (json_object_get (tmc_member (members, "a1"),
                                                                 "address"));
    cr_assert_not_null (a1_address);
    for (int i = 1; i < 3; i++)
        cr_assert (s_tcp_connected (ips [i], a1_address),
                   "no connection from %s to a1 at %s", ips [i], a1_address);
    json_decref (members);
    free (token);
}

Test (cli_cluster, sigkilled_agent_is_seen_dead_by_every_other_agent)
{
    tmc_agent_t *agents [5];
    const char *names [] = { "a1", "b1", "c1", "d1", "e1" };
    char *token = s_cluster (agents, names, 5);
    tmc_kill (agents [4]);
    //  Its TCP connections drop at once: the transport hint brings the
    //  suspicion timeout down to 2 probe intervals (tm_swim.c, "Transport
    //  hints"); 3 s leaves room for a loaded machine
    double took = tmc_wait_all (agents, 4, "e1", "dead", 3);
    cr_log_info ("SIGKILL seen dead by all 4 in %.2f s", took);
    //  Nobody took it for a graceful leave, and the others are still alive
    for (int i = 0; i < 4; i++) {
        json_t *members = tmc_members_of (agents [i]);
        for (int j = 0; j < 4; j++)
            cr_assert_str_eq (tmc_state (members, names [j]), "alive", "%s sees %s",
                              names [i], names [j]);
        cr_assert_str_eq (tmc_state (members, "e1"), "dead");
        json_decref (members);
    }
    free (token);
}

//  How long the agent is frozen.  It must stay well below the shortest
//  time in which the others can declare it dead, or the test measures
//  luck.  With the fast profile and N = 5: a probe of the frozen agent
//  fails at most one probe interval (50 ms) after the freeze; the
//  suspicion timeout starts at max (1.2 s) and falls to min (200 ms) once
//  k = suspicion_mult - 2 = 2 other accusers confirm it, which with 4
//  probers takes a few tens of ms.  SIGSTOP keeps its TCP connections up,
//  so no transport hint shortens it further.  The earliest death is thus
//  about 50 + 200 = 250 ms after SIGSTOP, minus however long the woken
//  agent needs to read the SUSPECT piggybacked on the pings queued for
//  it, refute, and have the refutation read.  The 0.3 s one might pick
//  is past that: measured on 2 cores (runs of 4 freezes each), 0.3 s was
//  declared dead in 5 runs of 6, 0.2 s in 3 of 6, 0.15 s in 1 of 6, 0.1 s
//  in none of 40.  0.1 s is still twice the probe interval, so the freeze
//  is noticed: the 4 others probe it about twice during each one, and
//  every run of this test saw it suspect and refute.
#define S_FREEZE 0.1
#define S_FREEZES 4             //  At least; more until one was noticed
#define S_FREEZES_MAX 12        //  A loaded machine probes less often

//  Polls every agent of AGENTS but SKIP once; records in SEEN the states
//  they show for NAME ('a'live, 's'uspect, 'd'ead, 'l'eft, 'g'one) and
//  fails the test at once on dead, left or gone.  Stops early (returns
//  false) when the clock reaches UNTIL.
static bool
s_poll_round (tmc_agent_t **agents, int count, tmc_agent_t *skip, const char *name,
              char *seen, double until)
{
    for (int i = 0; i < count; i++) {
        if (agents [i] == skip)
            continue;
        if (tmu_now () >= until)
            return false;
        json_t *members = tmc_members_of (agents [i]);
        const char *state = tmc_state (members, name);
        size_t length = strlen (seen);
        if (!strchr (seen, state [0]) && length < 7) {
            seen [length] = state [0];
            seen [length + 1] = 0;
        }
        cr_assert (streq (state, "alive") || streq (state, "suspect"),
                   "'%s' sees frozen '%s' %s", agents [i]->name, name, state);
        json_decref (members);
    }
    return true;
}

Test (cli_cluster, agent_frozen_shorter_than_suspicion_is_never_declared_dead)
{
    tmc_agent_t *agents [5];
    const char *names [] = { "a1", "b1", "c1", "d1", "e1" };
    char *token = s_cluster (agents, names, 5);
    tmc_agent_t *frozen = agents [4];
    long long before = tmc_incarnation (agents [0], "e1");
    char seen [8] = "";
    int cycle;
    for (cycle = 0; cycle < S_FREEZES_MAX; cycle++) {
        //  Noticed: suspected (and refuted: a higher incarnation)
        if (cycle >= S_FREEZES
        &&  (strchr (seen, 's') || tmc_incarnation (agents [0], "e1") > before))
            break;
        double start = tmu_now ();
        tmc_pause (frozen);
        //  Poll the others while it is frozen, but wake it on time
        while (s_poll_round (agents, 5, frozen, "e1", seen, start + S_FREEZE - 0.01))
            ;
        while (tmu_now () < start + S_FREEZE)
            usleep (1000);
        tmc_resume (frozen);
        //  Between freezes long enough to refute
        double end = tmu_now () + 0.6;
        while (tmu_now () < end) {
            s_poll_round (agents, 5, NULL, "e1", seen, INFINITY);
            usleep (TMC_POLL_US);
        }
    }
    //  After the last one, longer than the longest suspicion (1.2 s): a
    //  suspicion it did not refute would have made it dead by then
    double end = tmu_now () + 1.0;
    while (tmu_now () < end) {
        s_poll_round (agents, 5, NULL, "e1", seen, INFINITY);
        usleep (TMC_POLL_US);
    }
    //  Everyone, the frozen agent included, sees everyone alive
    tmc_wait_mesh (agents, 5, 5);
    long long after = tmc_incarnation (agents [0], "e1");
    cr_log_info ("frozen %d x %.2f s: states seen '%s', incarnation %lld -> %lld",
                 cycle, S_FREEZE, seen, before, after);
    //  Else the freezes tested nothing
    cr_assert (after > before || strchr (seen, 's'),
               "%d freezes of %.2f s went unnoticed (states '%s', incarnation %lld)",
               cycle, S_FREEZE, seen, after);
    free (token);
}

Test (cli_cluster, sigterm_is_seen_left_not_dead_within_a_second)
{
    tmc_agent_t *agents [3];
    const char *names [] = { "a1", "b1", "c1" };
    char *token = s_cluster (agents, names, 3);
    double start = tmu_now ();
    tmc_signal (agents [2], SIGTERM);
    //  Never dead on the way: poll both until both show left
    bool left [2] = { false, false };
    double took = 0;
    while (!left [0] || !left [1]) {
        for (int i = 0; i < 2; i++) {
            if (left [i])
                continue;
            json_t *members = tmc_members_of (agents [i]);
            const char *state = tmc_state (members, "c1");
            cr_assert (streq (state, "alive") || streq (state, "left"),
                       "'%s' sees leaving c1 %s", names [i], state);
            left [i] = streq (state, "left");
            json_decref (members);
        }
        took = tmu_now () - start;
        cr_assert_lt (took, 1.0, "c1 not seen left by both within 1 s of SIGTERM");
        usleep (TMC_POLL_US);
    }
    cr_log_info ("SIGTERM seen left by both in %.2f s", took);
    cr_assert_eq (tmc_wait_exit (agents [2], 10), 0, "a leaving agent exits 0");
    free (token);
}

//  --------------------------------------------------------------------
//  Restarts

//  Starts a1 and c1, and b1 listening on 127.0.0.1:PORT (a port the
//  kernel says is free): b1 can come back on the same address.
static char *
s_cluster_with_b1_on (tmc_agent_t **agents, int port)
{
    char bind [64];
    snprintf (bind, sizeof bind, "127.0.0.1:%d", port);
    agents [0] = tmc_start ("a1", NULL, NULL);
    char *token = tmc_token (agents [0], 10);
    agents [1] = tmc_start ("b1", token, "--bind", bind, NULL);
    agents [2] = tmc_start ("c1", token, NULL);
    tmc_wait_mesh (agents, 3, 20);
    return token;
}

Test (cli_cluster, new_identity_on_a_departed_members_port_is_never_declared_dead)
{
    //  A machine re-provisioned, or an agent started afresh on the default
    //  port: a new node id at an address the cluster knew
    tmc_agent_t *agents [3];
    int port = tmc_free_port ();
    char *token = s_cluster_with_b1_on (agents, port);
    tmc_agent_t *observers [2] = { agents [0], agents [2] };
    tmc_signal (agents [1], SIGTERM);
    cr_assert_eq (tmc_wait_exit (agents [1], 10), 0);
    tmc_wait_all (observers, 2, "b1", "left|gone", 10);
    //  What this tests needs time to pass, not a state: with nobody on
    //  the port, libzmq's reconnections to it back off, up to 2 s
    //  apart; probes of whoever comes next would wait behind that
    double backoff = tmu_now () + 3.0;
    while (tmu_now () < backoff)
        usleep (TMC_POLL_US);
    char bind [64];
    snprintf (bind, sizeof bind, "127.0.0.1:%d", port);
    tmc_agent_t *newcomer = tmc_start ("x1", token, "--bind", bind, NULL);
    tmc_wait_all (observers, 2, "x1", "alive", 10);
    //  Longer than the lan profile's suspicion of a 4-member cluster:
    //  a newcomer whose probes were failing would be dead by the end
    double end = tmu_now () + 4.0;
    while (tmu_now () < end) {
        for (int i = 0; i < 2; i++) {
            json_t *members = tmc_members_of (observers [i]);
            const char *state = tmc_state (members, "x1");
            cr_assert (streq (state, "alive") || streq (state, "suspect"),
                       "'%s' sees the newcomer on b1's port %s", observers [i]->name, state);
            json_decref (members);
        }
        usleep (TMC_POLL_US);
    }
    tmc_wait_all (observers, 2, "x1", "alive", 5);
    tmc_assert_running (newcomer);
    free (token);
}

Test (cli_cluster, agent_restarted_without_token_rejoins_with_a_higher_incarnation)
{
    tmc_agent_t *agents [3];
    const char *names [] = { "a1", "b1", "c1" };
    int port = tmc_free_port ();
    char *token = s_cluster_with_b1_on (agents, port);
    tmc_agent_t *b = agents [1];
    cr_assert_eq (tmc_stop (b), 0);
    tmc_agent_t *others [] = { agents [0], agents [2] };
    tmc_wait_all (others, 2, "b1", "left", 5);
    long long left_at = tmc_incarnation (agents [0], "b1");
    //  Its data directory remembers the cluster: no token needed
    char *peers = tmu_slurp (tmc_file (b, "peers"));
    cr_assert_not_null (peers, "a leaving agent writes DATADIR/peers");
    free (peers);
    //  On its old address: see the next test for a new one
    char bind [64];
    snprintf (bind, sizeof bind, "127.0.0.1:%d", port);
    tmc_restart (b, NULL, "--bind", bind, NULL);
    tmc_wait_ready (b, 10);
    tmc_wait_mesh (agents, 3, 10);
    //  Left is final for an incarnation: it is back with a higher one
    for (int i = 0; i < 3; i += 2) {
        long long now = tmc_incarnation (agents [i], "b1");
        cr_assert_gt (now, left_at, "%s sees b1 at incarnation %lld, it left at %lld",
                      names [i], now, left_at);
    }
    free (token);
}

//  NAME's address as OBSERVER sees it (caller frees), or NULL if not listed.
static char *
s_address_seen (tmc_agent_t *observer, const char *name)
{
    json_t *members = tmc_members (observer);
    json_t *member = members ? tmc_member (members, name) : NULL;
    const char *address = member ? json_string_value (json_object_get (member, "address"))
                                 : NULL;
    char *copy = address ? strdup (address) : NULL;
    json_decref (members);
    return copy;
}

//  B1, stopped (LEAVING) or killed, comes back from its data directory
//  on another port, as `--bind HOST:0` does when the old port was taken
//  meanwhile.  The others still list it, left or dead, at the old
//  address, and ignore its alive fact at incarnation 0; they must
//  answer its join where it is (tm_swim.c, s_reply_address) so that it
//  hears its previous life, refutes past it, and its signed alive fact
//  moves its address.  Before that fix it rejoined only once they had
//  reaped it (5 s fast, 300 s lan).
static void
s_restart_b1_on_a_new_port (bool leaving)
{
    tmc_agent_t *agents [3];
    int port = tmc_free_port ();
    char *token = s_cluster_with_b1_on (agents, port);
    tmc_agent_t *b = agents [1];
    tmc_agent_t *others [] = { agents [0], agents [2] };
    if (leaving) {
        cr_assert_eq (tmc_stop (b), 0);
        tmc_wait_all (others, 2, "b1", "left", 5);
    }
    else {
        tmc_kill (b);
        tmc_wait_all (others, 2, "b1", "dead", 5);
    }
    long long old_incarnation = tmc_incarnation (agents [0], "b1");
    cr_assert_geq (old_incarnation, 0, "a1 reaped b1 already");
    int other_port;
    do
        other_port = tmc_free_port ();
    while (other_port == port);
    char bind [64];
    snprintf (bind, sizeof bind, "127.0.0.1:%d", other_port);
    tmc_restart (b, NULL, "--bind", bind, NULL);
    tmc_wait_ready (b, 10);
    //  Well before the others reap it (5 s): they must hear it back
    tmc_wait_mesh (agents, 3, 3);
    for (int i = 0; i < 2; i++) {
        char *address = s_address_seen (others [i], "b1");
        cr_assert_not_null (address);
        cr_assert_str_eq (address, bind, "%s lists b1 at %s, not at %s",
                          others [i]->name, address, bind);
        free (address);
        long long now = tmc_incarnation (others [i], "b1");
        cr_assert_gt (now, old_incarnation, "%s sees b1 at incarnation %lld, below %lld",
                      others [i]->name, now, old_incarnation);
    }
    free (token);
}

Test (cli_cluster, agent_restarted_on_a_new_address_rejoins)
{
    s_restart_b1_on_a_new_port (true);
}

Test (cli_cluster, agent_killed_and_restarted_on_a_new_address_rejoins)
{
    s_restart_b1_on_a_new_port (false);
}

//  A crash right after joining: DATADIR/peers is written as soon as the
//  agent is admitted (it was once written only every 10 s and on a clean
//  exit, so such an agent could not find its way back).  The others
//  reap it before it restarts, so that it is not their probes of its old
//  address that bring it back, but what it remembers.
Test (cli_cluster, agent_killed_right_after_joining_rejoins_from_its_peers_file)
{
    tmc_agent_t *agents [3];
    const char *names [] = { "a1", "b1", "c1" };
    char *token = s_cluster (agents, names, 3);
    tmc_agent_t *b = agents [1];
    char *peers = tmu_slurp (tmc_file (b, "peers"));
    cr_assert_not_null (peers, "no DATADIR/peers once admitted");
    free (peers);
    tmc_kill (b);
    tmc_agent_t *others [] = { agents [0], agents [2] };
    tmc_wait_all (others, 2, "b1", "dead", 5);
    //  Reaped after dead_reclaim (5 s with the fast profile)
    tmc_wait_all (others, 2, "b1", "gone", 10);
    tmc_restart (b, NULL, NULL);
    tmc_wait_ready (b, 10);
    tmc_wait_mesh (agents, 3, 10);
    free (token);
}

//  --------------------------------------------------------------------
//  Tokens

Test (cli_cluster, token_of_another_cluster_or_with_no_live_seed_is_refused)
{
    //  Cluster A, and cluster B of one agent
    tmc_agent_t *a = tmc_start ("a1", NULL, NULL);
    char *token_a = tmc_token (a, 10);
    tmc_agent_t *b = tmc_start ("b1", NULL, NULL);
    char *token_b = tmc_token (b, 10);
    char *address_a = tmc_address (a);

    //  B's keys with A's address as the only seed: the joiner pins B's
    //  key, so A's CURVE handshake (A's key) cannot complete
    tm_token_t forged;
    char *err = NULL;
    cr_assert_eq (tm_token_parse (token_b, &forged, &err), 0, "%s", err);
    forged.seed_count = 0;
    cr_assert_eq (tm_token_add_seed (&forged, address_a, &err), 0, "%s", err);
    char *token_forged = tm_token_format (&forged, &err);
    cr_assert_not_null (token_forged, "%s", err);
    tm_token_wipe (&forged);

    //  B's own token once B is gone: no seed answers
    tmc_kill (b);
    setenv ("TESTMESH_LOG", "error", 1);
    double started = tmu_now ();
    tmc_agent_t *j1 = tmc_start ("j1", token_forged, "--join-timeout", "1.5", NULL);
    tmc_agent_t *j2 = tmc_start ("j2", token_b, "--join-timeout", "1.5", NULL);
    unsetenv ("TESTMESH_LOG");
    s_assert_join_refused (j1, 1.5, started);
    s_assert_join_refused (j2, 1.5, started);
    //  With TESTMESH_LOG=error the refusal is the only line
    char *log = tmu_slurp (tmc_file (j1, "agent.err"));
    cr_assert_eq (tmu_count (log, "\n"), 1, "one line: %s", log);
    free (log);
    //  A never saw them
    json_t *members = tmc_members_of (a);
    cr_assert_eq (json_array_size (members), 1, "A lists only itself");
    json_decref (members);
    free (token_forged);
    free (address_a);
    free (token_a);
    free (token_b);
}

Test (cli_cluster, rotated_out_token_stops_admitting_after_its_grace)
{
    tmc_agent_t *a = tmc_start ("a1", NULL, NULL);
    char *t1 = tmc_token (a, 10);
    tmc_wait_ready (a, 10);
    //  First rotation with a long grace: T1 still admits
    char *t2 = s_token_command (a, "30");
    uint8_t s1 [32], s2 [32], s3 [32];
    s_join_secret (t1, s1);
    s_join_secret (t2, s2);
    cr_assert_neq (memcmp (s1, s2, 32), 0, "--rotate issues a new join secret");
    tmc_agent_t *j1 = tmc_start ("j1", t1, "--join-timeout", "10", NULL);
    tmc_wait_ready (j1, 10);
    tmc_wait_state (a, "j1", "alive", 10);

    //  Second rotation with half a second of grace: T1 and T2 expire
    char *t3 = s_token_command (a, "0.5");
    double rotated = tmu_now ();
    s_join_secret (t3, s3);
    cr_assert_neq (memcmp (s2, s3, 32), 0);
    //  The rotation is gossiped: j1's token carries the new secret
    double end = tmu_now () + 5;
    while (1) {
        char *t = s_token_command (j1, NULL);
        uint8_t secret [32];
        s_join_secret (t, secret);
        free (t);
        if (memcmp (secret, s3, 32) == 0)
            break;
        cr_assert_lt (tmu_now (), end, "j1 did not learn the rotation within 5 s");
        usleep (TMC_POLL_US);
    }
    //  `token` without --rotate gives the current secret
    char *current = s_token_command (a, NULL);
    uint8_t secret [32];
    s_join_secret (current, secret);
    cr_assert_eq (memcmp (secret, s3, 32), 0);
    free (current);
    //  A grace is a point in time: wait until it has passed, with margin
    while (tmu_now () < rotated + 0.8)
        usleep (10000);
    setenv ("TESTMESH_LOG", "error", 1);
    double started = tmu_now ();
    tmc_agent_t *old1 = tmc_start ("old1", t1, "--join-timeout", "1.5", NULL);
    tmc_agent_t *old2 = tmc_start ("old2", t2, "--join-timeout", "1.5", NULL);
    unsetenv ("TESTMESH_LOG");
    tmc_agent_t *fresh = tmc_start ("fresh", t3, "--join-timeout", "10", NULL);
    tmc_wait_ready (fresh, 10);
    tmc_agent_t *members [] = { a, j1 };
    tmc_wait_all (members, 2, "fresh", "alive", 10);
    s_assert_join_refused (old1, 1.5, started);
    s_assert_join_refused (old2, 1.5, started);
    json_t *listed = tmc_members_of (a);
    cr_assert_str_eq (tmc_state (listed, "old1"), "gone");
    cr_assert_str_eq (tmc_state (listed, "old2"), "gone");
    json_decref (listed);
    free (t1);
    free (t2);
    free (t3);
}

//  --------------------------------------------------------------------
//  Removal

Test (cli_cluster, removed_member_is_revoked_cluster_wide)
{
    tmc_agent_t *agents [3];
    const char *names [] = { "a1", "b1", "c1" };
    char *token = s_cluster (agents, names, 3);
    tmc_agent_t *a = agents [0], *b = agents [1];
    json_t *stats = tmc_stats (b);
    long long b_refused = tmc_counter (stats, "dropped.revoked")
                        + tmc_counter (stats, "zap_refused");
    json_decref (stats);

    tmu_run_t run = tmu_testmesh (15, "members", "remove", "c1", "--data", a->dir);
    cr_assert_eq (run.status, 0, "exit %d\n%s", run.status, run.err);
    cr_assert_not_null (strstr (run.out, "removed 'c1'"), "%s", run.out);
    tmu_run_free (&run);

    //  c1 keeps running, but what it sends is refused as revoked, by the
    //  member that removed it and by the one that learnt it by gossip:
    //  an envelope on a connection c1 had open, or (b1 closed its own
    //  to c1, which c1 may have been answering over) ZAP refusing the
    //  connection c1 opens instead
    tmc_agent_t *others [] = { a, b };
    tmc_wait_all (others, 2, "c1", "dead|gone", 5);
    tmc_wait_counter (a, "dropped.revoked", 1, 5);
    double deadline = tmu_now () + 5;
    long long b_now = b_refused;
    while (b_now <= b_refused && tmu_now () < deadline) {
        usleep (TMC_POLL_US);
        stats = tmc_stats (b);
        b_now = tmc_counter (stats, "dropped.revoked") + tmc_counter (stats, "zap_refused");
        json_decref (stats);
    }
    cr_assert_gt (b_now, b_refused, "b1 refused nothing from revoked c1 in 5 s");
    //  ... and it never comes back: watch longer than a suspicion and a
    //  push-pull interval (1 s), while it still tries
    double end = tmu_now () + 2;
    while (tmu_now () < end) {
        for (int i = 0; i < 2; i++) {
            json_t *members = tmc_members_of (others [i]);
            const char *state = tmc_state (members, "c1");
            cr_assert (streq (state, "dead") || streq (state, "gone"),
                       "'%s' sees revoked c1 %s", others [i]->name, state);
            json_decref (members);
        }
        usleep (TMC_POLL_US);
    }
    json_t *listed = tmc_members_of (a);
    cr_assert_str_eq (tmc_state (listed, "b1"), "alive");
    json_decref (listed);
    listed = tmc_members_of (b);
    cr_assert_str_eq (tmc_state (listed, "a1"), "alive");
    json_decref (listed);

    //  Removing an unknown name or oneself is refused
    run = tmu_testmesh (15, "members", "remove", "nosuch", "--data", a->dir);
    cr_assert_eq (run.status, 2, "exit %d\n%s", run.status, run.out);
    cr_assert_eq (tmu_count (run.err, "\n"), 1, "one line: %s", run.err);
    tmu_run_free (&run);
    run = tmu_testmesh (15, "members", "remove", "a1", "--data", a->dir);
    cr_assert_eq (run.status, 2, "removing oneself: exit %d\n%s", run.status, run.out);
    tmu_run_free (&run);
    free (token);
}

//  --------------------------------------------------------------------
//  The CLI without, or beside, an agent

static void
s_expect_usage_error (tmu_run_t run, const char *needle)
{
    cr_assert_eq (run.status, 2, "exit %d\nstdout: %s\nstderr: %s", run.status,
                  run.out, run.err);
    cr_assert_eq (tmu_count (run.err, "\n"), 1, "one line: %s", run.err);
    cr_assert_not_null (strstr (run.err, needle), "'%s' not in: %s", needle, run.err);
    tmu_run_free (&run);
}

Test (cli_cluster, commands_without_an_agent_or_with_bad_options_exit_2)
{
    char *dir = tmu_scratch ();
    s_expect_usage_error (tmu_testmesh (15, "members", "--data", dir), "no agent running");
    s_expect_usage_error (tmu_testmesh (15, "members", "--json", "--data", dir),
                          "no agent running");
    s_expect_usage_error (tmu_testmesh (15, "stats", "--data", dir), "no agent running");
    s_expect_usage_error (tmu_testmesh (15, "token", "--data", dir), "no agent running");
    s_expect_usage_error (tmu_testmesh (15, "token", "--grace", "5", "--data", dir),
                          "--grace goes with --rotate");
    s_expect_usage_error (tmu_testmesh (15, "token", "--rotate", "--grace", "0",
                                        "--data", dir), "--grace");
    s_expect_usage_error (tmu_testmesh (15, "members", "frobnicate", "--data", dir),
                          "members takes");
    s_expect_usage_error (tmu_testmesh (15, "members", "remove", "--data", dir),
                          "members takes");
    s_expect_usage_error (tmu_testmesh (15, "agent", "--data", dir, "--profile", "slow"),
                          "--profile");
    s_expect_usage_error (tmu_testmesh (15, "agent", "--data", dir, "--name", "bad name"),
                          "--name");
    s_expect_usage_error (tmu_testmesh (15, "agent", "--data", dir, "--slots", "0"),
                          "--slots");
    s_expect_usage_error (tmu_testmesh (15, "agent", "--data", dir, "--label", "novalue"),
                          "--label");
    s_expect_usage_error (tmu_testmesh (15, "agent", "--data", dir, "--join-timeout", "-1"),
                          "--join-timeout");
    tmu_rmrf (dir);
    free (dir);
}

Test (cli_cluster, agent_refuses_a_malformed_token_and_a_data_directory_in_use)
{
    tmc_agent_t *a = tmc_start ("a1", NULL, NULL);
    char *token = tmc_token (a, 10);
    setenv ("TESTMESH_LOG", "error", 1);
    //  A second agent on a running agent's data directory
    char port_in_use [64];
    char *address = tmc_address (a);
    snprintf (port_in_use, sizeof port_in_use, "%s", address);
    s_expect_usage_error (tmu_testmesh (15, "agent", "--data", a->dir, "--bind", "127.0.0.1:0",
                                        "--no-beacon", "--profile", "fast"),
                          "already running");
    //  Its peer port, taken
    char *dir = tmu_scratch ();
    s_expect_usage_error (tmu_testmesh (15, "agent", "--data", dir, "--bind", port_in_use,
                                        "--no-beacon", "--profile", "fast"), "cannot bind");
    //  A token with one character changed: the checksum catches it
    token [10] = token [10] == 'A' ? 'B' : 'A';
    s_expect_usage_error (tmu_testmesh (15, "agent", "--data", dir, "--bind", "127.0.0.1:0",
                                        "--no-beacon", "--profile", "fast", "--join", token),
                          "token: ");
    unsetenv ("TESTMESH_LOG");
    //  The running agent did not notice
    tmc_wait_ready (a, 5);
    tmu_rmrf (dir);
    free (dir);
    free (address);
    free (token);
}
