/*  tm_agent.c - `testmesh agent`, and the CLI commands that talk to it.

    testmesh agent [--data DIR] [--join TOKEN] [--bind HOST:PORT]
                   [--advertise HOST:PORT] [--name NAME] [--slots N]
                   [--label K=V]... [--no-beacon] [--beacon-port N]
                   [--profile lan|fast] [--cache-replicas R] [--cache-size SIZE]
                   [--store-size SIZE]
    testmesh members [--json] [--data DIR]
    testmesh members remove NAME [--data DIR]
    testmesh token [--rotate] [--data DIR]

    The agent runs in the foreground: the gossip actor (gossip/) keeps
    membership, the work pool runs tests, the cache actor (dht-cache/
    tm_dht.h) keeps this member's share of the result cache, and this
    thread serves the control socket (tm_control) and the signals.
    Cache commands are answered when the cache actor answers: the
    request's routing id waits in a table under the request id; so do
    listings for `run --node`, which the listing actor (tm_listing.h)
    makes in threads of its own, since listing runs the targets.  SIGINT
    or SIGTERM make it leave gracefully (peers see 'left' within a
    second), then exit 0.
*/
#include "tm_agent.h"
#include "tm_codec.h"
#include "tm_cachemsg.h"
#include "tm_control.h"
#include "tm_dht.h"
#include "tm_jsonstr.h"
#include "tm_gossip.h"
#include "tm_guard.h"
#include "tm_keys.h"
#include "tm_listing.h"
#include "tm_proc.h"
#include "tm_trace.h"
#include "tm_store.h"
#include "tm_submit.h"
#include "tm_workpool.h"
#include <getopt.h>
#include <sodium.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

typedef struct {
    const char *data;           //  --data
    const char *join;           //  --join TOKEN
    const char *bind;           //  --bind HOST:PORT
    const char *advertise;      //  --advertise HOST:PORT
    const char *name;           //  --name
    int slots;                  //  --slots
    char **labels;              //  --label K=V, repeatable
    bool beacon;                //  Not --no-beacon
    int beacon_port;            //  --beacon-port
    const char *profile;        //  --profile lan|fast
    double join_timeout;        //  --join-timeout SECS
    const char *client_bind;    //  --client-bind HOST:PORT, or NULL
    int cache_replicas;         //  --cache-replicas R
    uint64_t cache_size;        //  --cache-size SIZE, bytes
    uint64_t store_size;        //  --store-size SIZE, bytes
} s_agent_options_t;

static void
s_agent_usage (FILE *out)
{
    fprintf (out,
"usage: testmesh agent [OPTIONS]\n"
"\n"
"Runs this machine's agent in the foreground.  The first agent creates a\n"
"cluster and prints its join token; others join with --join TOKEN.\n"
"\n"
"      --join TOKEN         join the cluster of this token (tm1-...)\n"
"      --bind HOST:PORT     peer address to listen on (default 0.0.0.0:9950)\n"
"      --advertise HOST:PORT  address peers use to reach us (default: derived)\n"
"      --name NAME          node name (default: the host name)\n"
"      --slots N            tests run at once here (default: number of cores)\n"
"      --label K=V          a label for placement (repeatable)\n"
"      --no-beacon          no LAN discovery by UDP beacon\n"
"      --beacon-port N      UDP port of the beacon (default 9950)\n"
"      --profile P          gossip timing: lan (default) or fast (tests)\n"
"      --join-timeout SECS  give up joining after SECS (default 60)\n"
"      --client-bind HOST:PORT  also accept runs from machines that are not\n"
"                           members (testmesh run --node, with the token)\n"
"      --cache-replicas R   members that keep each cache entry (default 3)\n"
"      --cache-size SIZE    this member's share of the cache, in bytes, with\n"
"                           a K, M or G suffix (default 1G)\n"
"      --store-size SIZE    bytes of shipped programs and inputs this member\n"
"                           keeps (DATADIR/store; default 4G)\n"
"      --data DIR           data directory (default $TESTMESH_HOME, else\n"
"                           $XDG_DATA_HOME/testmesh)\n"
"  -h, --help               this text\n");
}

//  Parses "512M", "2G", "1048576" (K, M, G: powers of 1024) into *SIZE.
//  Returns 0, or -1 if malformed, below 1 MiB or absurd.
static int
s_parse_size (const char *text, uint64_t *size)
{
    char *end = NULL;
    errno = 0;
    unsigned long long number = strtoull (text, &end, 10);
    if (!*text || !isdigit ((unsigned char) *text) || errno || end == text)
        return -1;
    uint64_t unit = 1;
    if (*end == 'K' || *end == 'k')
        unit = 1024;
    else
    if (*end == 'M' || *end == 'm')
        unit = 1024 * 1024;
    else
    if (*end == 'G' || *end == 'g')
        unit = 1024 * 1024 * 1024;
    else
    if (*end)
        return -1;
    if (unit > 1 && end [1])
        return -1;
    if (number > (1ULL << 50) / unit || number * unit < 1024 * 1024)
        return -1;
    *size = number * unit;
    return 0;
}

static int
s_parse_agent (int argc, char **argv, s_agent_options_t *options)
{
    static struct option longs [] = {
        { "data",        required_argument, 0, 'd' },
        { "join",        required_argument, 0, 'J' },
        { "bind",        required_argument, 0, 'b' },
        { "advertise",   required_argument, 0, 'a' },
        { "name",        required_argument, 0, 'n' },
        { "slots",       required_argument, 0, 's' },
        { "label",       required_argument, 0, 'l' },
        { "no-beacon",   no_argument,       0, 'B' },
        { "beacon-port", required_argument, 0, 'p' },
        { "profile",     required_argument, 0, 'P' },
        { "join-timeout", required_argument, 0, 'T' },
        { "client-bind", required_argument, 0, 'C' },
        { "cache-replicas", required_argument, 0, 'R' },
        { "cache-size",  required_argument, 0, 'S' },
        { "store-size",  required_argument, 0, 'Z' },
        { "help",        no_argument,       0, 'h' },
        { 0, 0, 0, 0 }
    };
    options->bind = "0.0.0.0:9950";
    options->beacon = true;
    options->beacon_port = TM_GOSSIP_DEFAULT_PORT;
    options->profile = "lan";
    options->cache_replicas = 3;
    options->cache_size = 1024ULL * 1024 * 1024;
    options->store_size = TM_STOREINDEX_CAP_DEFAULT;
    options->slots = (int) sysconf (_SC_NPROCESSORS_ONLN);
    if (options->slots < 1)
        options->slots = 1;
    opterr = 0;
    optind = 1;
    int opt;
    while ((opt = getopt_long (argc, argv, "h", longs, NULL)) != -1) {
        char *end = NULL;
        long number;
        switch (opt) {
            case 'd': options->data = optarg; break;
            case 'C': options->client_bind = optarg; break;
            case 'J': options->join = optarg; break;
            case 'b': options->bind = optarg; break;
            case 'a': options->advertise = optarg; break;
            case 'n':
                if (!tm_keys_name_valid (optarg, strlen (optarg))) {
                    fprintf (stderr, "testmesh: --name wants 1 to 64 of [A-Za-z0-9._-], "
                             "not '%s'\n", optarg);
                    return -1;
                }
                options->name = optarg;
                break;
            case 's':
                number = strtol (optarg, &end, 10);
                if (!*optarg || *end || number < 1 || number > 4096) {
                    fprintf (stderr, "testmesh: --slots wants a whole number from 1 "
                             "to 4096, not '%s'\n", optarg);
                    return -1;
                }
                options->slots = (int) number;
                break;
            case 'l':
                if (!strchr (optarg, '=') || *optarg == '=') {
                    fprintf (stderr, "testmesh: --label wants KEY=VALUE, not '%s'\n", optarg);
                    return -1;
                }
                tm_strv_push (&options->labels, optarg);
                break;
            case 'B': options->beacon = false; break;
            case 'R':
                number = strtol (optarg, &end, 10);
                if (!*optarg || *end || number < 1 || number > 16) {
                    fprintf (stderr, "testmesh: --cache-replicas wants 1 to 16, not '%s'\n",
                             optarg);
                    return -1;
                }
                options->cache_replicas = (int) number;
                break;
            case 'S':
                if (s_parse_size (optarg, &options->cache_size) != 0) {
                    fprintf (stderr, "testmesh: --cache-size wants bytes with an optional "
                             "K, M or G suffix (at least 1M), not '%s'\n", optarg);
                    return -1;
                }
                break;
            case 'Z':
                if (s_parse_size (optarg, &options->store_size) != 0) {
                    fprintf (stderr, "testmesh: --store-size wants bytes with an optional "
                             "K, M or G suffix (at least 1M), not '%s'\n", optarg);
                    return -1;
                }
                break;
            case 'T':
                options->join_timeout = strtod (optarg, &end);
                if (!*optarg || *end || !(options->join_timeout > 0)) {
                    fprintf (stderr, "testmesh: --join-timeout wants seconds, not '%s'\n",
                             optarg);
                    return -1;
                }
                break;
            case 'p':
                number = strtol (optarg, &end, 10);
                if (!*optarg || *end || number < 1 || number > 65535) {
                    fprintf (stderr, "testmesh: --beacon-port wants 1 to 65535, "
                             "not '%s'\n", optarg);
                    return -1;
                }
                options->beacon_port = (int) number;
                break;
            case 'P':
                if (!streq (optarg, "lan") && !streq (optarg, "fast")) {
                    fprintf (stderr, "testmesh: --profile wants lan or fast, not '%s'\n",
                             optarg);
                    return -1;
                }
                options->profile = optarg;
                break;
            case 'h':
                s_agent_usage (stdout);
                exit (TM_EXIT_OK);
            default:
                fprintf (stderr, "testmesh: unknown or incomplete option '%s' "
                         "(see testmesh agent --help)\n", argv [optind - 1]);
                return -1;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "testmesh: agent takes no arguments ('%s')\n", argv [optind]);
        return -1;
    }
    return 0;
}

//  Raises the descriptor limit to its hard maximum: an agent holds two
//  sockets per peer, and a cluster of 150 is more than 1024 descriptors.
static void
s_raise_fd_limit (void)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit (RLIMIT_NOFILE, &limit);
    }
}

//  Set when the gossip actor reported that joining failed (it has ended).
static char *s_gossip_failed;
static tm_workpool_stats_t s_work_stats;   //  The work pool's counters
static tm_blobs_stats_t s_blob_stats;      //  ... and those of its shipping
static tm_dht_stats_t s_cache_stats;       //  The cache actor's counters

//  Calls the gossip actor; an unsolicited FAILED in place of the answer
//  is kept for the main loop.
static char *
s_gossip_call (zactor_t *gossip, const char *command, const char *arg)
{
    char *answer = tm_gossip_call (gossip, command, arg, 5);
    if (answer && strncmp (answer, "FAILED ", 7) == 0) {
        if (!s_gossip_failed)
            s_gossip_failed = strdup (answer + 7);
        zstr_free (&answer);
    }
    return answer;
}

//  ---------------------------------------------------------------------
//  Runs submitted by CLIs (docs/cli.md, "Submitting to an agent"): the
//  agent is the run's origin; its work pool spreads it over the cluster

#define TM_AGENT_OUTPUT_LIMIT (256 * 1024)   //  Bytes kept per stream, as run's default
#define S_CLIENT_SILENCE   TM_SUBMIT_CLI_SILENCE    //  s without a CLI heartbeat: cancel
#define S_HEARTBEAT        (TM_SUBMIT_AGENT_HEARTBEAT / 2)  //  s between ours

typedef struct {
    char *key;                  //  The run's key in the work pool
    zsock_t *socket;            //  Where the CLI is: control or client port
    zframe_t *routing_id;       //  The CLI's connection
    tm_tasklist_t *tasks;       //  Owned; the pool borrows it
    double heard;               //  Last message from the CLI
    bool cancelled;             //  CANCEL sent to the pool
} s_client_t;

static void
s_client_destroy (void **item_p)
{
    s_client_t *client = (s_client_t *) *item_p;
    if (client) {
        zframe_destroy (&client->routing_id);
        tm_tasklist_destroy (&client->tasks);
        free (client->key);
        free (client);
        *item_p = NULL;
    }
}

static void
s_client_send (s_client_t *client, json_t *event)
{
    zframe_t *routing_id = zframe_dup (client->routing_id);
    tm_control_reply (client->socket, &routing_id, &event);
}

//  The blobs the tasks of LIST name must be in our STORE, where the CLI
//  put them (tm_inputs.h): we serve them to the members that run the
//  tasks.  Returns NULL, or the error to answer with.
static json_t *
s_run_check_files (tm_store_t *store, tm_tasklist_t *list)
{
    zhashx_t *checked = zhashx_new ();
    json_t *reply = NULL;
    for (size_t i = 0; i < tm_tasklist_size (list) && !reply; i++) {
        tm_task_t *task = tm_tasklist_get (list, i);
        for (size_t k = 0; k < task->files_size && !reply; k++) {
            const tm_file_t *file = &task->files [k];
            if (zhashx_lookup (checked, file->digest))
                continue;
            if (!store || !tm_store_has (store, file->digest, file->size))
                reply = tm_control_error ("task %zu: its file %s (blob %.16s...) is not in "
                                          "this agent's content store; is the CLI's data "
                                          "directory this agent's?", i, file->path,
                                          file->digest);
            zhashx_insert (checked, file->digest, (void *) 1);
        }
    }
    zhashx_destroy (&checked);
    return reply;
}

//  {"cmd":"run", ...}: decodes the tasks and starts the run.  Returns
//  NULL, or the error to answer with.
static json_t *
s_run_submit (zsock_t *control, zactor_t *pool, zhashx_t *clients, tm_store_t *store,
              json_t *request, zframe_t **routing_id_p)
{
    static unsigned long s_runs;
    json_t *tasks = json_object_get (request, "tasks");
    json_t *retries = json_object_get (request, "retries");
    json_t *timeout = json_object_get (request, "timeout");
    if (!json_is_array (tasks) || json_array_size (tasks) == 0)
        return tm_control_error ("a run needs a non-empty array of tasks");
    if (retries && (!json_is_integer (retries) || json_integer_value (retries) < 0
                    || json_integer_value (retries) > 100))
        return tm_control_error ("retries must be a whole number from 0 to 100");
    double default_timeout = json_is_number (timeout) ? json_number_value (timeout) : 0;
    if (default_timeout < 0 || default_timeout > TM_TIMEOUT_MAX)
        return tm_control_error ("timeout out of range");
    tm_tasklist_t *list = tm_tasklist_new ();
    size_t i;
    json_t *item;
    json_array_foreach (tasks, i, item) {
        char *err = NULL;
        tm_task_t *task = tm_codec_task_decode (item, &err);
        if (!task) {
            json_t *reply = tm_control_error ("task %zu: %s", i, err);
            free (err);
            tm_tasklist_destroy (&list);
            return reply;
        }
        if (task->timeout <= 0)
            task->timeout = default_timeout;
        task->index = i;
        tm_tasklist_append (list, &task);
    }
    json_t *missing = s_run_check_files (store, list);
    if (missing) {
        tm_tasklist_destroy (&list);
        return missing;
    }
    s_client_t *client = (s_client_t *) zmalloc (sizeof (s_client_t));
    client->key = tm_strdupf ("r%lu", ++s_runs);
    client->socket = control;
    client->routing_id = *routing_id_p;
    *routing_id_p = NULL;
    client->tasks = list;
    client->heard = tm_now ();
    zhashx_insert (clients, client->key, client);
    s_client_send (client, json_pack ("{s:s, s:s}", "event", "accepted",
                                               "run", client->key));
    zsock_send (pool, "sspii", "RUN", client->key, client->tasks,
                (int) (retries ? json_integer_value (retries) : 0),
                json_is_true (json_object_get (request, "fail_fast")) ? 1 : 0);
    tm_info ("agent", "run %s: %zu tests", client->key, tm_tasklist_size (client->tasks));
    return NULL;
}

//  An event from the work pool, passed on to the run's CLI.
static void
s_pool_event (zactor_t *pool, zhashx_t *clients, zsock_t *control, zhashx_t *pending)
{
    zmsg_t *msg = zmsg_recv (pool);
    if (!msg)
        return;
    char *command = zmsg_popstr (msg);
    char *key = zmsg_popstr (msg);
    zframe_t *routing_id = command && key && streq (command, "GC")
                         ? (zframe_t *) zhashx_lookup (pending, key) : NULL;
    if (routing_id) {
        //  The store's gc (store-gc), answered as the pool wrote it
        zhashx_delete (pending, key);   //  No destructor: the frame is ours
        char *json = zmsg_popstr (msg);
        json_t *reply = json ? json_loads (json, 0, NULL) : NULL;
        if (json_is_object (reply))
            json_object_set_new (reply, "ok", json_true ());
        else {
            json_decref (reply);
            reply = tm_control_error ("the agent's work pool answered garbage");
        }
        tm_control_reply (control, &routing_id, &reply);
        free (json);
    }
    s_client_t *client = key ? (s_client_t *) zhashx_lookup (clients, key) : NULL;
    if (command && client && streq (command, "STARTED")) {
        char *index = zmsg_popstr (msg), *member = zmsg_popstr (msg);
        s_client_send (client, json_pack ("{s:s, s:i, s:s}", "event", "started",
                       "index", index ? atoi (index) : 0, "member", member ? member : ""));
        free (index);
        free (member);
    }
    else
    if (command && streq (command, "RESULT")) {
        zframe_t *pointer = zmsg_pop (msg);
        tm_result_t *result = NULL;
        if (pointer && zframe_size (pointer) == sizeof result)
            memcpy (&result, zframe_data (pointer), sizeof result);
        if (client && result) {
            json_t *encoded = tm_codec_result_encode (result);
            if (encoded)
                s_client_send (client, json_pack ("{s:s, s:o}", "event", "result",
                                                           "result", encoded));
        }
        tm_result_destroy (&result);
        zframe_destroy (&pointer);
    }
    else
    if (command && client && streq (command, "FINISHED")) {
        s_client_send (client, json_pack ("{s:s}", "event", "finished"));
        tm_info ("agent", "run %s finished", key);
        zhashx_delete (clients, key);
    }
    free (command);
    free (key);
    zmsg_destroy (&msg);
}

//  Heartbeats to every CLI; if JUDGE, runs whose CLI went silent are
//  cancelled.
static void
s_clients_tick (zactor_t *pool, zhashx_t *clients, bool judge)
{
    double now = tm_now ();
    for (s_client_t *client = (s_client_t *) zhashx_first (clients); client;
         client = (s_client_t *) zhashx_next (clients)) {
        if (judge && !client->cancelled && now - client->heard > S_CLIENT_SILENCE) {
            tm_warn ("agent", "run %s: its CLI went silent; cancelling", client->key);
            zsock_send (pool, "ss", "CANCEL", client->key);
            client->cancelled = true;
        }
        s_client_send (client, json_pack ("{s:s}", "event", "heartbeat"));
    }
}

//  {"cmd":"heartbeat"|"cancel", "run": KEY} from a run's CLI.
static json_t *
s_run_command (zactor_t *pool, zhashx_t *clients, json_t *request, const char *command,
               zsock_t *socket, zframe_t *routing_id)
{
    const char *key = json_string_value (json_object_get (request, "run"));
    s_client_t *client = key ? (s_client_t *) zhashx_lookup (clients, key) : NULL;
    //  Only the connection that submitted a run may drive it
    if (client && (client->socket != socket || !zframe_eq (client->routing_id, routing_id)))
        client = NULL;
    if (!client)
        return streq (command, "heartbeat") ? NULL
                                            : tm_control_error ("no such run '%s'", key ? key : "");
    client->heard = tm_now ();
    if (streq (command, "cancel") && !client->cancelled) {
        zsock_send (pool, "ss", "CANCEL", client->key);
        client->cancelled = true;
    }
    return NULL;
}

//  ---------------------------------------------------------------------
//  Listings for `run --node` (tm_listing.h): the listing actor lists
//  off this loop; the requester waits here, under the request's id,
//  and gets heartbeats until the answer comes.  A CLI that promised
//  heartbeats of its own and falls silent, or says cancel, has its
//  listing cancelled: the actor kills the target it runs, and answers
//  with an error, which ends the wait here as any answer does.

typedef struct {
    zsock_t *socket;            //  Where the CLI is: control or client port
    zframe_t *routing_id;       //  The CLI's connection
    bool beats;                 //  The CLI heartbeats while it waits
    double heard;               //  When it last did (or asked)
    bool cancelled;             //  CANCEL sent to the actor
} s_listing_t;

static void
s_listing_destroy (void **item_p)
{
    s_listing_t *listing = (s_listing_t *) *item_p;
    if (listing) {
        zframe_destroy (&listing->routing_id);
        free (listing);
        *item_p = NULL;
    }
}

//  {"cmd":"list", ...}: hands it to the listing actor.  Returns NULL
//  (LISTINGS keeps *ROUTING_ID_P until the answer), or the error to
//  answer with.
static json_t *
s_list_request (zactor_t *lister, zhashx_t *listings, zsock_t *socket, json_t *request,
                zframe_t **routing_id_p)
{
    static unsigned long s_lists;
    char *err = NULL;
    tm_listing_t *listing = tm_listing_decode (request, &err);
    if (!listing) {
        json_t *reply = tm_control_error ("%s", err);
        free (err);
        return reply;
    }
    char id [32];
    snprintf (id, sizeof id, "l%lu", ++s_lists);
    s_listing_t *pending = (s_listing_t *) zmalloc (sizeof (s_listing_t));
    pending->socket = socket;
    pending->routing_id = *routing_id_p;
    *routing_id_p = NULL;
    pending->beats = json_is_true (json_object_get (request, "heartbeats"));
    pending->heard = tm_now ();
    zhashx_insert (listings, id, pending);
    zsock_send (lister, "ssp", "LIST", id, listing);
    tm_debug ("agent", "listing %s", id);
    return NULL;
}

//  An answer from the listing actor, to the CLI that waits for it: the
//  size first, then the answer as the actor wrote it.
static void
s_list_answer (zactor_t *lister, zhashx_t *listings)
{
    char *command = NULL, *id = NULL;
    void *text = NULL;
    if (zsock_recv (lister, "ssp", &command, &id, &text) == 0 && id && text) {
        s_listing_t *pending = (s_listing_t *) zhashx_lookup (listings, id);
        if (pending) {
            size_t size = strlen ((char *) text);
            zframe_t *routing_id = zframe_dup (pending->routing_id);
            json_t *listed = json_pack ("{s:s, s:I}", "event", "listed",
                                        "size", (json_int_t) size);
            tm_control_reply (pending->socket, &routing_id, &listed);
            tm_control_reply_text (pending->socket, &pending->routing_id, (char *) text, size);
            zhashx_delete (listings, id);
        }
    }
    free (text);
    zstr_free (&command);
    zstr_free (&id);
}

//  Asks the actor to cut listing ID short, once.
static void
s_listing_cancel (zactor_t *lister, s_listing_t *pending, const char *id)
{
    if (!pending->cancelled) {
        zsock_send (lister, "ssp", "CANCEL", id, NULL);
        pending->cancelled = true;
    }
}

//  {"cmd":"heartbeat"|"cancel"} with no run: from a CLI that waits for
//  its listing, found by its connection (it may have asked for several).
static json_t *
s_listing_command (zactor_t *lister, zhashx_t *listings, const char *command,
                   zsock_t *socket, zframe_t *routing_id)
{
    bool found = false;
    for (s_listing_t *pending = (s_listing_t *) zhashx_first (listings); pending;
         pending = (s_listing_t *) zhashx_next (listings)) {
        if (pending->socket != socket || !zframe_eq (pending->routing_id, routing_id))
            continue;
        found = true;
        pending->heard = tm_now ();
        if (streq (command, "cancel")) {
            const char *id = (const char *) zhashx_cursor (listings);
            tm_info ("agent", "listing %s: cancelled by its CLI", id);
            s_listing_cancel (lister, pending, id);
        }
    }
    //  A heartbeat is never answered; a cancel only if it found nothing
    return found || streq (command, "heartbeat") ? NULL
                                                 : tm_control_error ("no listing to cancel");
}

//  {"cmd":"heartbeat"|"cancel"} from a CLI on SOCKET: for its run if it
//  names one, else for the listings it waits for.
static json_t *
s_cli_command (zactor_t *pool, zhashx_t *clients, zactor_t *lister, zhashx_t *listings,
               json_t *request, const char *command, zsock_t *socket, zframe_t *routing_id)
{
    return json_object_get (request, "run")
         ? s_run_command (pool, clients, request, command, socket, routing_id)
         : s_listing_command (lister, listings, command, socket, routing_id);
}

//  Heartbeats to every CLI whose listing is under way; if JUDGE,
//  listings whose CLI went silent are cancelled.
static void
s_listings_tick (zactor_t *lister, zhashx_t *listings, bool judge)
{
    double now = tm_now ();
    for (s_listing_t *pending = (s_listing_t *) zhashx_first (listings); pending;
         pending = (s_listing_t *) zhashx_next (listings)) {
        if (judge && pending->beats && !pending->cancelled
        &&  now - pending->heard > S_CLIENT_SILENCE) {
            const char *id = (const char *) zhashx_cursor (listings);
            tm_warn ("agent", "listing %s: its CLI went silent; cancelling", id);
            s_listing_cancel (lister, pending, id);
        }
        zframe_t *routing_id = zframe_dup (pending->routing_id);
        json_t *heartbeat = json_pack ("{s:s}", "event", "heartbeat");
        tm_control_reply (pending->socket, &routing_id, &heartbeat);
    }
}

//  Binds the client port (--client-bind) once we are a member: it is a
//  CurveZMQ server with the cluster's key, like the peer port, whose ZAP
//  domain admits only keys derived from the token (tm_keys_client_curve).
//  Returns the socket, or NULL (not a member yet, or it cannot bind:
//  *fatal then says why).
static zsock_t *
s_client_port (zactor_t *gossip, const char *bind, char **fatal)
{
    char *answer = tm_gossip_call (gossip, "SERVERKEY", NULL, 1);
    json_error_t error;
    json_t *json = answer ? json_loads (answer, 0, &error) : NULL;
    if (answer)
        sodium_memzero (answer, strlen (answer));
    free (answer);
    const char *secret = json_string_value (json_object_get (json, "secret"));
    if (!secret) {
        json_decref (json);
        return NULL;
    }
    zsock_t *port = zsock_new (ZMQ_ROUTER);
    zsock_set_zap_domain (port, TM_GOSSIP_CLIENT_DOMAIN);
    zsock_set_curve_server (port, 1);
    zsock_set_curve_secretkey (port, secret);
    int64_t max = TM_CONTROL_MAX;
    zmq_setsockopt (zsock_resolve (port), ZMQ_MAXMSGSIZE, &max, sizeof max);
    zsock_set_linger (port, 0);
    json_decref (json);
    if (zsock_bind (port, "tcp://%s", bind) < 0) {
        *fatal = tm_strdupf ("cannot bind --client-bind %s: %s", bind, zmq_strerror (zmq_errno ()));
        zsock_destroy (&port);
        return NULL;
    }
    tm_info ("agent", "accepting runs from non-members on %s (testmesh run --node)", bind);
    return port;
}

//  {"p50", "p99", "max", "samples"} of the dispatch latencies RING holds,
//  in milliseconds (all 0 without samples); with RECENT, also "recent":
//  the samples themselves, oldest first.
static json_t *
s_latency_json (const tm_workpool_ring_t *ring, bool recent)
{
    double *samples;
    size_t count = tm_workpool_ring_read (ring, &samples);
    json_t *list = NULL;
    if (recent) {
        list = json_array ();
        for (size_t k = 0; k < count; k++)
            json_array_append_new (list, json_real (samples [k]));
    }
    json_t *summary = json_pack ("{s:f, s:f, s:f, s:I}",
        "p50", tm_workpool_quantile (samples, count, 0.50),
        "p99", tm_workpool_quantile (samples, count, 0.99),
        "max", tm_workpool_quantile (samples, count, 1.0),
        "samples", (json_int_t) count);
    if (list)
        json_object_set_new (summary, "recent", list);
    free (samples);
    return summary;
}

//  The cache actor's counters, for `testmesh stats`.
static json_t *
s_cache_stats_json (void)
{
    tm_dht_stats_t *c = &s_cache_stats;
    const struct { const char *name; uint64_t *value; } counters [] = {
        { "gets", &c->gets }, { "found", &c->found }, { "remote_gets", &c->remote_gets },
        { "puts", &c->puts }, { "repaired", &c->repaired }, { "handed", &c->handed },
        { "handoff_runs", &c->handoff_runs }, { "bad_signature", &c->bad_signature },
        { "tombstoned", &c->tombstoned }, { "malformed", &c->malformed },
    };
    json_t *json = json_object ();
    for (size_t i = 0; i < sizeof counters / sizeof counters [0]; i++)
        json_object_set_new (json, counters [i].name, json_integer ((json_int_t)
            __atomic_load_n (counters [i].value, __ATOMIC_RELAXED)));
    double done;
    __atomic_load (&c->handoff_done, &done, __ATOMIC_RELAXED);
    json_object_set_new (json, "handoff_done", json_real (done));
    return json;
}

//  The content store's figures for the cache actor's `stat` answers
//  (`testmesh cache stats`), read from what the work pool publishes.
static json_t *
s_store_stats_json (void *arg)
{
    tm_blobs_stats_t blobs;
    tm_blobs_stats_read (&s_blob_stats, &blobs);
    return json_pack ("{s:I, s:I, s:I, s:I, s:I}",
                      "store_bytes", (json_int_t) blobs.store_bytes,
                      "store_blobs", (json_int_t) blobs.store_blobs,
                      "store_cap", (json_int_t) blobs.store_cap,
                      "store_pinned", (json_int_t) blobs.store_pinned,
                      "store_evicted", (json_int_t) blobs.store_evicted);
}

//  ---------------------------------------------------------------------
//  The result cache: control requests passed to the cache actor, whose
//  answers go back to the requester kept under the request id

//  A new id of a request to the cache actor into REQID.
static void
s_cache_reqid (char reqid [32])
{
    static unsigned long s_requests;
    snprintf (reqid, 32, "c%lu", ++s_requests);
}

//  A cache-get request laid out as the CLI writes it (jansson's compact
//  dump, fields in this order),
//      {"cmd":"cache-get","kind":KIND,"keys":["HEX",...]}
//  read without a tree (10,000 keys cost jansson about 6 ms) and sent to
//  the cache actor.  Returns true if it took *MSG_P (the request as
//  received: routing id, body); false, MSG untouched, for anything else,
//  which tm_control_parse reads and s_cache_request answers (errors
//  included).
static bool
s_cache_get_fast (zactor_t *dht, zhashx_t *pending, zmsg_t **msg_p)
{
    zmsg_t *msg = *msg_p;
    zframe_t *body = msg && zmsg_size (msg) == 2 ? zmsg_last (msg) : NULL;
    if (!dht || !body || zframe_size (body) > TM_CONTROL_REQUEST_MAX)
        return false;
    const char *p = (const char *) zframe_data (body), *end = p + zframe_size (body);
    tm_cachedb_kind_t kind = TM_CACHEDB_ENTRY;
    if (!tm_jsonstr_skip (&p, end, "{\"cmd\":\"cache-get\",\"kind\":"))
        return false;
    if (!tm_jsonstr_skip (&p, end, "\"entry\"")) {
        kind = TM_CACHEDB_RECORD;
        if (!tm_jsonstr_skip (&p, end, "\"record\""))
            return false;
    }
    //  At most one key per 67 bytes (quotes and a comma)
    size_t max = zframe_size (body) / 67 + 1, count = 0;
    uint8_t *keys = (uint8_t *) malloc (32 * max);
    assert (keys);
    if (!tm_jsonstr_skip (&p, end, ",\"keys\":")
    ||  tm_cachemsg_read_keys (&p, end, keys, max, &count) != 0
    ||  !tm_jsonstr_skip (&p, end, "}") || p != end) {
        free (keys);
        return false;
    }
    char reqid [32];
    s_cache_reqid (reqid);
    zsock_send (dht, "sssb", "GET", reqid, tm_cachemsg_kind_name (kind), keys, 32 * count);
    free (keys);
    zhashx_insert (pending, reqid, zmsg_pop (msg));     //  The routing id
    zmsg_destroy (msg_p);
    return true;
}

//  A cache request from the control socket.  Returns NULL if it went to
//  the cache actor (PENDING keeps *ROUTING_ID_P under its request id),
//  else the reply (an error, or PUT's immediate answer).
static json_t *
s_cache_request (zactor_t *dht, zhashx_t *pending, json_t *request, const char *command,
                 zframe_t **routing_id_p)
{
    if (!dht)
        return tm_control_error ("this agent has no cache");
    char reqid [32];
    s_cache_reqid (reqid);
    const char *kind = json_string_value (json_object_get (request, "kind"));
    bool kind_ok = kind && (streq (kind, "entry") || streq (kind, "record"));
    if (streq (command, "cache-get")) {
        json_t *keys = json_object_get (request, "keys");
        if (!kind_ok || !json_is_array (keys))
            return tm_control_error ("cache-get needs a kind (entry or record) and an "
                                     "array of keys");
        //  The cache actor takes the keys as bytes: checked here, once
        size_t i, count = json_array_size (keys);
        json_t *key;
        uint8_t *bytes = (uint8_t *) malloc (32 * count + 1);
        assert (bytes);
        json_array_foreach (keys, i, key)
            if (!json_is_string (key)
            ||  tm_cache_from_hex (json_string_value (key), bytes + 32 * i) != 0) {
                free (bytes);
                return tm_control_error ("cache-get: key %zu is not 64 lowercase hex digits", i);
            }
        zsock_send (dht, "sssb", "GET", reqid, kind, bytes, 32 * count);
        free (bytes);
    }
    else
    if (streq (command, "cache-put")) {
        json_t *items = json_object_get (request, "items");
        if (!kind_ok || !json_is_array (items))
            return tm_control_error ("cache-put needs a kind (entry or record) and an "
                                     "array of [key, value] items");
        size_t i;
        json_t *item;
        uint8_t bytes [32];
        json_array_foreach (items, i, item)
            if (!json_is_array (item) || json_array_size (item) != 2
            ||  !json_is_string (json_array_get (item, 0))
            ||  !json_is_string (json_array_get (item, 1))
            ||  tm_cache_from_hex (json_string_value (json_array_get (item, 0)), bytes) != 0)
                return tm_control_error ("cache-put: item %zu is not [hex key, value]", i);
        //  Answered once the owners acked: a run's CLI that returned
        //  has its entries on their owners, not only queued here
        char *text = json_dumps (items, JSON_COMPACT);
        zsock_send (dht, "ssss", "PUT", kind, text, reqid);
        free (text);
    }
    else
    if (streq (command, "cache-invalidate")) {
        const char *glob = json_string_value (json_object_get (request, "glob"));
        if (!glob || !*glob || strlen (glob) > TM_CACHE_TEST_ID_MAX)
            return tm_control_error ("cache-invalidate needs a glob");
        zsock_send (dht, "sss", "INVALIDATE", reqid, glob);
    }
    else
    if (streq (command, "cache-stats"))
        zsock_send (dht, "ss", "STATS", reqid);
    else
    if (streq (command, "cache-gc"))
        zsock_send (dht, "ss", "GC", reqid);
    else
        return tm_control_error ("unknown command '%s'", command);
    zhashx_insert (pending, reqid, *routing_id_p);
    *routing_id_p = NULL;
    return NULL;
}

//  An answer from the cache actor, to the request that waits for it.
static void
s_cache_answer (zactor_t *dht, zhashx_t *pending, zsock_t *control)
{
    zmsg_t *msg = zmsg_recv (dht);
    char *command = msg ? zmsg_popstr (msg) : NULL, *reqid = msg ? zmsg_popstr (msg) : NULL;
    zframe_t *body = msg ? zmsg_pop (msg) : NULL;       //  JSON text
    zmsg_destroy (&msg);
    zframe_t *routing_id = command && reqid ? (zframe_t *) zhashx_lookup (pending, reqid) : NULL;
    if (routing_id) {
        zhashx_delete (pending, reqid);     //  No destructor: the frame is ours
        if (body && streq (command, "GOT") && zframe_size (body) && *zframe_data (body) == '[') {
            //  The values array (megabytes of escaped JSON for a large
            //  batch) goes into the reply as the cache actor wrote it,
            //  copied once: parsing it only to dump it again cost more
            //  than the lookup
            static const char head [] = "{\"ok\":true,\"values\":";
            size_t size = zframe_size (body);
            zframe_t *reply = zframe_new (NULL, sizeof head - 1 + size + 1);
            uint8_t *text = zframe_data (reply);
            memcpy (text, head, sizeof head - 1);
            memcpy (text + sizeof head - 1, zframe_data (body), size);
            text [sizeof head - 1 + size] = '}';
            tm_control_reply_frame (control, &routing_id, &reply);
            zstr_free (&command);
            zstr_free (&reqid);
            zframe_destroy (&body);
            return;
        }
        json_t *value = body ? json_loadb ((const char *) zframe_data (body), zframe_size (body),
                                           0, NULL) : NULL;
        json_t *reply;
        if (!value)
            reply = tm_control_error ("the agent's cache actor answered garbage");
        else
        if (streq (command, "GOT"))
            reply = json_pack ("{s:b, s:o}", "ok", 1, "values", value);
        else {
            //  INVALIDATED, STATS, GC: their object, with ok
            reply = value;
            json_object_set_new (reply, "ok", json_true ());
        }
        tm_control_reply (control, &routing_id, &reply);
    }
    zstr_free (&command);
    zstr_free (&reqid);
    zframe_destroy (&body);
}

//  Answers one control request.
static json_t *
s_control (zactor_t *gossip, json_t *request)
{
    const char *command = json_string_value (json_object_get (request, "cmd"));
    char *answer = NULL;
    if (streq (command, "ping"))
        return json_pack ("{s:b}", "ok", 1);
    if (streq (command, "members"))
        answer = s_gossip_call (gossip, "MEMBERS", NULL);
    else
    if (streq (command, "token")) {
        //  A grace in seconds; a rotation without one gets the default
        json_t *grace = json_object_get (request, "grace");
        double seconds = json_is_number (grace) ? json_number_value (grace)
                                                : TM_KEYS_GRACE_DEFAULT_MS / 1000.0;
        if (!(seconds >= 0.001 && seconds <= TM_KEYS_GRACE_MAX_MS / 1000.0))
            return tm_control_error ("grace must be from 0.001 s to 7 days");
        char grace_ms [32] = "0";
        if (json_is_true (json_object_get (request, "rotate")))
            snprintf (grace_ms, sizeof grace_ms, "%.0f", seconds * 1000);
        answer = s_gossip_call (gossip, "TOKEN", grace_ms);
    }
    else
    if (streq (command, "remove")) {
        const char *name = json_string_value (json_object_get (request, "name"));
        if (!name)
            return tm_control_error ("remove needs a name");
        answer = s_gossip_call (gossip, "REMOVE", name);
    }
    else
    if (streq (command, "stats")) {
        answer = s_gossip_call (gossip, "STATS", NULL);
        json_error_t error;
        json_t *stats = answer ? json_loads (answer, 0, &error) : NULL;
        if (json_is_object (stats)) {
            tm_workpool_stats_t work;
            tm_workpool_stats_read (&s_work_stats, &work);
            bool samples = json_is_true (json_object_get (request, "samples"));
            json_object_set_new (stats, "work", json_pack ("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o}",
                "steals", (json_int_t) work.steals, "stolen", (json_int_t) work.stolen,
                "given", (json_int_t) work.given, "requeued", (json_int_t) work.requeued,
                "duplicates", (json_int_t) work.duplicates,
                "malformed", (json_int_t) work.malformed,
                "tasks_run", (json_int_t) work.tasks_run,
                "dropped", (json_int_t) work.dropped,
                "assigned", (json_int_t) work.assigned,
                "dispatch_ms", s_latency_json (&s_work_stats.dispatch, samples),
                "dispatch_self_ms", s_latency_json (&s_work_stats.dispatch_self, samples)));
            tm_blobs_stats_t blobs;
            tm_blobs_stats_read (&s_blob_stats, &blobs);
            const struct { const char *name; uint64_t value; } shipping [] = {
                { "blobs_fetched", blobs.blobs_fetched }, { "bytes_fetched", blobs.bytes_fetched },
                { "blobs_refused", blobs.blobs_refused }, { "fetches_failed", blobs.fetches_failed },
                { "chunks_dropped", blobs.chunks_dropped }, { "blobs_served", blobs.blobs_served },
                { "bytes_served", blobs.bytes_served },
                { "busy_answers", blobs.busy_answers }, { "busy_waits", blobs.busy_waits },
                { "prefetch_asked", blobs.prefetch_asked },
                { "prefetch_started", blobs.prefetch_started },
                { "prefetch_present", blobs.prefetch_present },
                { "fetch_from_owner", blobs.fetch_from_owner },
                { "handoff_passes", blobs.handoff_passes },
                { "handoff_offered", blobs.handoff_offered },
                { "handoff_started", blobs.handoff_started },
                { "handoff_present", blobs.handoff_present },
                { "handoff_no_room", blobs.handoff_no_room },
                { "handoff_fetched", blobs.handoff_fetched },
                { "handoff_bytes", blobs.handoff_bytes },
                { "handoff_done", blobs.handoff_done },
                { "store_bytes", blobs.store_bytes }, { "store_blobs", blobs.store_blobs },
                { "store_cap", blobs.store_cap }, { "store_pinned", blobs.store_pinned },
                { "store_owned", blobs.store_owned },
                { "store_evicted", blobs.store_evicted },
                { "store_evicted_bytes", blobs.store_evicted_bytes },
            };
            json_t *counters = json_object_get (stats, "work");
            for (size_t i = 0; i < sizeof shipping / sizeof shipping [0]; i++)
                json_object_set_new (counters, shipping [i].name,
                                     json_integer ((json_int_t) shipping [i].value));
            json_object_set_new (stats, "cache", s_cache_stats_json ());
            free (answer);
            answer = json_dumps (stats, JSON_COMPACT);
        }
        json_decref (stats);
    }
    else
        return tm_control_error ("unknown command '%s'", command);
    if (!answer)
        return tm_control_error ("the agent's gossip actor did not answer");
    json_error_t error;
    json_t *value = json_loads (answer, 0, &error);
    free (answer);
    if (!value)
        return tm_control_error ("the agent's gossip actor answered garbage");
    if (json_is_object (value) && json_object_get (value, "error")) {
        json_t *reply = tm_control_error ("%s",
            json_string_value (json_object_get (value, "error")));
        json_decref (value);
        return reply;
    }
    return json_pack ("{s:b, s:o}", "ok", 1, "result", value);
}

int
tm_agent_main (int argc, char **argv)
{
    s_agent_options_t options = { 0 };
    if (s_parse_agent (argc, argv, &options) != 0) {
        tm_strv_free (&options.labels);
        return TM_EXIT_ERROR;
    }
    //  An agent tells what it does unless asked to be quiet
    if (!getenv ("TESTMESH_LOG"))
        tm_log_threshold = TM_LOG_INFO;
    sigset_t mask;
    sigemptyset (&mask);
    sigaddset (&mask, SIGINT);
    sigaddset (&mask, SIGTERM);
    sigaddset (&mask, SIGHUP);
    pthread_sigmask (SIG_BLOCK, &mask, NULL);
    signal (SIGPIPE, SIG_IGN);
    int signal_fd = signalfd (-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    s_raise_fd_limit ();

    int rc = TM_EXIT_ERROR;
    char *err = NULL;
    zsock_t *control = NULL;
    zactor_t *gossip = NULL;
    zactor_t *pool = NULL;
    zactor_t *dht = NULL;
    zhashx_t *cache_pending = NULL;     //  reqid -> routing id of a cache request
    tm_keys_t *keys = NULL;             //  Our identity, until the actors copied it
    char *trace_shim = NULL;            //  The trace shim's path
    zhashx_t *clients = NULL;
    zactor_t *lister = NULL;            //  Lists for `run --node`, off this loop
    zhashx_t *listings = NULL;          //  id -> s_listing_t, answer pending
    zsock_t *client_port = NULL;
    tm_store_t *store = NULL;
    tm_guard_t *guard = NULL;           //  Kills our tests if we die (tm_guard.h)
    char hostname [256] = "node";
    char *datadir = tm_datadir_resolve (options.data, &err);
    if (!datadir)
        goto done;
    zsys_handler_set (NULL);
    zsys_init ();
    control = tm_control_bind (datadir, &err);
    if (!control)
        goto done;
    //  We are the only agent here: what an earlier one left running dies
    //  now, and our tests will die with us, however we die (tm_guard.h)
    guard = tm_guard_new (datadir, &err);
    if (!guard) {
        tm_warn ("agent", "%s; tests would outlive this agent if it were killed", err);
        zstr_free (&err);
        tm_proc_init ();
    }
    if (!options.name) {
        gethostname (hostname, sizeof hostname - 1);
        for (char *c = hostname; *c; c++)
            if (!isalnum ((unsigned char) *c) && !strchr ("._-", *c))
                *c = '-';
        hostname [64] = 0;
        options.name = hostname;
    }
    char work_endpoint [64];
    snprintf (work_endpoint, sizeof work_endpoint, "inproc://testmesh-work-%d", (int) getpid ());
    char cache_endpoint [64];
    snprintf (cache_endpoint, sizeof cache_endpoint, "inproc://testmesh-cache-%d",
              (int) getpid ());
    tm_gossip_config_t config = {
        .datadir = datadir,
        .name = options.name,
        .bind = options.bind,
        .advertise = options.advertise,
        .token = options.join,
        .slots = options.slots,
        .labels = options.labels,
        .beacon = options.beacon,
        .beacon_port = options.beacon_port,
        .beacon_interval = streq (options.profile, "fast") ? 0.2 : 1.0,
        .join_timeout = options.join_timeout,
        .work_endpoint = work_endpoint,
        .cache_endpoint = cache_endpoint,
    };
    if (streq (options.profile, "fast"))
        tm_swim_config_fast (&config.swim);
    else
        tm_swim_config_lan (&config.swim);
    gossip = zactor_new (tm_gossip_actor, &config);
    if (config.error) {
        err = config.error;
        goto done;
    }
    tm_info ("agent", "'%s' listening on %s, data in %s", options.name, config.bound, datadir);
    //  A new cluster's first agent prints the token to give to others
    char *token = tm_gossip_call (gossip, "TOKEN", "0", 5);
    json_error_t error;
    json_t *token_json = token ? json_loads (token, 0, &error) : NULL;
    if (token_json && json_object_get (token_json, "token") && !options.join) {
        printf ("join token: %s\n",
                json_string_value (json_object_get (token_json, "token")));
        fflush (stdout);
    }
    json_decref (token_json);
    free (token);
    free (config.bound);

    //  The node key signs our tombstones and the cache claims of the
    //  passes we run; the gossip actor has loaded (or made) it by now,
    //  so this reads what it uses
    keys = tm_keys_new (datadir, &err);
    if (!keys)
        goto done;
    //  The trace shim, written out of the binary, for tasks whose origin
    //  caches them (docs/caching.md, 3); without it they run untraced
    trace_shim = tm_trace_shim_path (datadir, &err);
    if (!trace_shim) {
        tm_warn ("agent", "%s; tests run without tracing", err);
        zstr_free (&err);
    }
    tm_workpool_config_t pool_config = {
        .stats = &s_work_stats,
        .blob_stats = &s_blob_stats,
        .datadir = datadir,
        .work_endpoint = work_endpoint,
        .slots = options.slots,
        .replicas = options.cache_replicas,
        .store_cap = options.store_size,
        .node_sk = tm_keys_node_secret (keys),
        .executor = {
            .trace_shim = trace_shim,
            .member = options.name,
            .default_timeout = 0,       //  Each task carries its run's
            .kill_grace = 2.0,
            .cancel_grace = 0.05,
            .output_limit = TM_AGENT_OUTPUT_LIMIT,
        },
    };
    pool = zactor_new (tm_workpool_actor, &pool_config);
    store = tm_store_new (datadir, &err);
    if (!store) {
        //  Runs that ship files are refused; the others still run
        tm_warn ("agent", "%s", err);
        zstr_free (&err);
    }
    clients = zhashx_new ();
    zhashx_set_destructor (clients, s_client_destroy);
    lister = zactor_new (tm_listing_actor, NULL);
    listings = zhashx_new ();
    zhashx_set_destructor (listings, s_listing_destroy);
    cache_pending = zhashx_new ();     //  Frames destroyed by hand (s_cache_answer, done)
    {
        tm_dht_config_t dht_config = {
            .datadir = datadir,
            .member = options.name,
            .node_sk = tm_keys_node_secret (keys),
            .cache_endpoint = cache_endpoint,
            .replicas = options.cache_replicas,
            .cap = options.cache_size,
            .stats = &s_cache_stats,
            .stat_extra = s_store_stats_json,
        };
        dht = zactor_new (tm_dht_actor, &dht_config);
    }
    //  Both actors copied the key
    tm_keys_destroy (&keys);

    zmq_pollitem_t items [] = {
        { zsock_resolve (control), 0, ZMQ_POLLIN, 0 },
        { NULL, signal_fd, ZMQ_POLLIN, 0 },
        { zsock_resolve (gossip), 0, ZMQ_POLLIN, 0 },
        { zsock_resolve (pool), 0, ZMQ_POLLIN, 0 },
        { NULL, -1, 0, 0 },     //  The client port, once bound
        { zsock_resolve (dht), 0, ZMQ_POLLIN, 0 },
        { zsock_resolve (lister), 0, ZMQ_POLLIN, 0 },
    };
    double next_heartbeat = tm_now () + S_HEARTBEAT;
    double last_tick = tm_now ();       //  When the CLIs were last judged
    //  The guard starts before our first test anyway (tm_guard.h); this
    //  starts it while we are idle, so that the first test need not wait
    double guard_due = guard ? tm_now () + TM_GUARD_START_DELAY : 0;
    while (!s_gossip_failed) {
        if (options.client_bind && !client_port) {
            client_port = s_client_port (gossip, options.client_bind, &err);
            if (err)
                break;
            if (client_port)
                items [4] = (zmq_pollitem_t) { zsock_resolve (client_port), 0, ZMQ_POLLIN, 0 };
        }
        long wait = -1;         //  Idle without runs: no timer
        if (zhashx_size (clients) || zhashx_size (listings)) {
            double left = next_heartbeat - tm_now ();
            wait = left > 0 ? (long) (left * 1000) + 1 : 0;
        }
        if (options.client_bind && !client_port)
            wait = 500;         //  Not a member yet: ask again soon
        if (guard_due > 0) {
            double left = guard_due - tm_now ();
            long guard_wait = left > 0 ? (long) (left * 1000) + 1 : 0;
            if (wait < 0 || guard_wait < wait)
                wait = guard_wait;
        }
        if (zmq_poll (items, 7, wait) < 0 && zmq_errno () != EINTR)
            break;
        if (items [6].revents & ZMQ_POLLIN)
            s_list_answer (lister, listings);
        if (items [5].revents & ZMQ_POLLIN)
            s_cache_answer (dht, cache_pending, control);
        if (items [3].revents & ZMQ_POLLIN)
            s_pool_event (pool, clients, control, cache_pending);
        if (guard_due > 0 && tm_now () >= guard_due) {
            tm_guard_start (guard);
            guard_due = 0;
        }
        if (tm_now () >= next_heartbeat) {
            //  The sockets are read below: after a stall of this loop (a
            //  slow call), CLIs' heartbeats may be waiting there unread,
            //  so this tick judges no CLI silent; the next one will
            bool judge = tm_now () - last_tick < S_CLIENT_SILENCE / 2;
            s_clients_tick (pool, clients, judge);
            s_listings_tick (lister, listings, judge);
            last_tick = tm_now ();
            next_heartbeat = last_tick + S_HEARTBEAT;
        }
        if (items [2].revents & ZMQ_POLLIN) {
            //  FAILED comes unasked; anything else is an answer that came
            //  after its call gave up waiting, and is dropped.  (Taking a
            //  late answer for FAILED made a busy agent leave its cluster.)
            char *id = NULL, *message = NULL;
            zsock_recv (gossip, "ss", &id, &message);
            if (id && streq (id, "FAILED"))
                s_gossip_failed = strdup (message ? message : "joining failed");
            else
                tm_debug ("agent", "dropped a late answer from the gossip actor");
            zstr_free (&id);
            zstr_free (&message);
            continue;
        }
        if (items [1].revents & ZMQ_POLLIN) {
            struct signalfd_siginfo info;
            if (read (signal_fd, &info, sizeof info) == sizeof info) {
                tm_info ("agent", "%s: leaving the cluster", strsignal ((int) info.ssi_signo));
                break;
            }
        }
        if (items [0].revents & ZMQ_POLLIN) {
            zframe_t *routing_id = NULL;
            zmsg_t *msg = zmsg_recv (control);
            //  A cache-get as the CLI writes it goes without a tree
            json_t *request = s_cache_get_fast (dht, cache_pending, &msg) ? NULL
                            : tm_control_parse (control, &msg, &routing_id);
            const char *command = json_string_value (json_object_get (request, "cmd"));
            json_t *reply = NULL;
            if (command && streq (command, "run"))
                reply = s_run_submit (control, pool, clients, store, request, &routing_id);
            else
            if (command && streq (command, "list"))
                reply = s_list_request (lister, listings, control, request, &routing_id);
            else
            if (command && (streq (command, "heartbeat") || streq (command, "cancel")))
                reply = s_cli_command (pool, clients, lister, listings, request, command,
                                       control, routing_id);
            else
            if (command && strncmp (command, "cache-", 6) == 0)
                reply = s_cache_request (dht, cache_pending, request, command, &routing_id);
            else
            if (command && streq (command, "store-gc")) {
                //  Answered by the work pool, which owns the store's bounds
                static unsigned long s_gcs;
                char reqid [32];
                snprintf (reqid, sizeof reqid, "g%lu", ++s_gcs);
                zsock_send (pool, "ss", "GC", reqid);
                zhashx_insert (cache_pending, reqid, routing_id);
                routing_id = NULL;
            }
            else
            if (request)
                reply = s_control (gossip, request);
            if (reply)
                tm_control_reply (control, &routing_id, &reply);
            zframe_destroy (&routing_id);
            json_decref (request);
        }
        if (client_port && (items [4].revents & ZMQ_POLLIN)) {
            //  Non-members may list, submit and drive runs, nothing else
            zframe_t *routing_id = NULL;
            json_t *request = tm_control_recv (client_port, &routing_id);
            const char *command = json_string_value (json_object_get (request, "cmd"));
            json_t *reply = NULL;
            if (command && streq (command, "run"))
                reply = s_run_submit (client_port, pool, clients, store, request, &routing_id);
            else
            if (command && streq (command, "list"))
                reply = s_list_request (lister, listings, client_port, request, &routing_id);
            else
            if (command && (streq (command, "heartbeat") || streq (command, "cancel")))
                reply = s_cli_command (pool, clients, lister, listings, request, command,
                                       client_port, routing_id);
            else
            if (command && streq (command, "ping"))
                reply = json_pack ("{s:b}", "ok", 1);
            else
            if (request)
                reply = tm_control_error ("only list, run, heartbeat and cancel come "
                                          "from non-members");
            if (reply)
                tm_control_reply (client_port, &routing_id, &reply);
            zframe_destroy (&routing_id);
            json_decref (request);
        }
    }
    if (err)
        goto done;
    if (s_gossip_failed) {
        err = s_gossip_failed;
        s_gossip_failed = NULL;
        goto done;
    }
    //  Leave gracefully: peers see 'left', not 'dead'
    char *left = tm_gossip_call (gossip, "LEAVE", NULL, 2.0);
    free (left);
    rc = TM_EXIT_OK;

done:
    if (err) {
        fprintf (stderr, "testmesh: %s\n", err);
        free (err);
    }
    //  Runs we own end with us: their CLIs see us go silent.  The pool
    //  goes first: it borrows the clients' task lists until it ends
    zactor_destroy (&pool);
    zactor_destroy (&lister);           //  Cuts listings under way short
    zhashx_destroy (&listings);
    tm_guard_destroy (&guard);          //  After the pool and the lister: they
                                        //  killed our tests and listings
    zactor_destroy (&dht);              //  Before gossip: it holds the cache socket's peer
    for (zframe_t *frame = cache_pending ? (zframe_t *) zhashx_first (cache_pending) : NULL;
         frame; frame = (zframe_t *) zhashx_next (cache_pending))
        zframe_destroy (&frame);
    zhashx_destroy (&cache_pending);
    zhashx_destroy (&clients);
    zsock_destroy (&client_port);
    tm_store_destroy (&store);
    zactor_destroy (&gossip);
    if (control) {
        zsock_destroy (&control);
        char *path = tm_strdupf ("%s/control.sock", datadir);
        unlink (path);
        free (path);
    }
    tm_keys_destroy (&keys);
    free (trace_shim);
    free (datadir);
    if (signal_fd >= 0)
        close (signal_fd);
    tm_strv_free (&options.labels);
    return rc;
}

//  ---------------------------------------------------------------------
//  CLI commands that talk to the local agent

//  Parses the options every client command takes; returns the index of
//  the first non-option or -1.  Options may come anywhere; one whose
//  pointer is NULL is refused.
static int
s_parse_client (int argc, char **argv, const char **data, bool *json, bool *rotate,
                double *grace, bool *samples, const char *usage)
{
    static struct option longs [] = {
        { "data",    required_argument, 0, 'd' },
        { "json",    no_argument,       0, 'j' },
        { "rotate",  no_argument,       0, 'r' },
        { "grace",   required_argument, 0, 'g' },
        { "samples", no_argument,       0, 's' },
        { "help",    no_argument,       0, 'h' },
        { 0, 0, 0, 0 }
    };
    opterr = 0;
    optind = 1;
    int opt;
    while ((opt = getopt_long (argc, argv, "h", longs, NULL)) != -1) {
        if (opt == 'd')
            *data = optarg;
        else
        if (opt == 'j' && json)
            *json = true;
        else
        if (opt == 'r' && rotate)
            *rotate = true;
        else
        if (opt == 's' && samples)
            *samples = true;
        else
        if (opt == 'g' && grace) {
            char *end = NULL;
            *grace = strtod (optarg, &end);
            if (!*optarg || *end || !(*grace > 0)) {
                fprintf (stderr, "testmesh: --grace wants seconds, not '%s'\n", optarg);
                return -1;
            }
        }
        else
        if (opt == 'h') {
            printf ("%s", usage);
            exit (TM_EXIT_OK);
        }
        else {
            fprintf (stderr, "testmesh: unknown or incomplete option '%s'\n",
                     argv [optind - 1]);
            return -1;
        }
    }
    return optind;
}

//  Calls the local agent; prints the error and returns NULL on failure.
static json_t *
s_call (const char *data, json_t *request)
{
    char *err = NULL;
    json_t *reply = NULL;
    char *datadir = tm_datadir_resolve (data, &err);
    if (datadir)
        reply = tm_control_call (datadir, request, 10, &err);
    if (!reply)
        fprintf (stderr, "testmesh: %s\n", err);
    free (err);
    free (datadir);
    json_decref (request);
    return reply;
}

static void
s_format_age (double seconds, char *buffer, size_t size)
{
    if (seconds < 0)
        snprintf (buffer, size, "-");
    else
    if (seconds < 10)
        snprintf (buffer, size, "%.1fs ago", seconds);
    else
    if (seconds < 3600)
        snprintf (buffer, size, "%.0fs ago", seconds);
    else
        snprintf (buffer, size, "%.1fh ago", seconds / 3600);
}

int
tm_members_main (int argc, char **argv)
{
    const char *data = NULL;
    bool json = false;
    int first = s_parse_client (argc, argv, &data, &json, NULL, NULL, NULL,
        "usage: testmesh members [--json] [--data DIR]\n"
        "       testmesh members remove NAME [--data DIR]\n"
        "Lists the members the local agent knows, or revokes one cluster-wide.\n");
    if (first < 0)
        return TM_EXIT_ERROR;
    if (first < argc) {
        if (!streq (argv [first], "remove") || first + 2 != argc) {
            fprintf (stderr, "testmesh: members takes 'remove NAME' or nothing\n");
            return TM_EXIT_ERROR;
        }
        json_t *reply = s_call (data, json_pack ("{s:s, s:s}", "cmd", "remove",
                                                 "name", argv [first + 1]));
        if (!reply)
            return TM_EXIT_ERROR;
        printf ("removed '%s': its identity is revoked cluster-wide\n", argv [first + 1]);
        json_decref (reply);
        return TM_EXIT_OK;
    }
    json_t *reply = s_call (data, json_pack ("{s:s}", "cmd", "members"));
    if (!reply)
        return TM_EXIT_ERROR;
    json_t *members = json_object_get (reply, "result");
    if (json) {
        char *text = json_dumps (members, JSON_INDENT (2));
        printf ("%s\n", text);
        free (text);
    }
    else {
        printf ("%-20s %-22s %-8s %5s %-8s %5s %s\n", "NAME", "ADDRESS", "STATE",
                "SLOTS", "VERSION", "INC", "LAST-HEARD");
        size_t i;
        json_t *member;
        double now = tm_wall_now ();
        json_array_foreach (members, i, member) {
            json_t *heard = json_object_get (member, "last_heard");
            char age [32];
            s_format_age (json_is_number (heard) ? now - json_number_value (heard) : -1,
                          age, sizeof age);
            const char *version = json_string_value (json_object_get (member, "version"));
            printf ("%-20s %-22s %-8s %5lld %-8s %5lld %s%s\n",
                    json_string_value (json_object_get (member, "name")),
                    json_string_value (json_object_get (member, "address")),
                    json_string_value (json_object_get (member, "state")),
                    (long long) json_integer_value (json_object_get (member, "slots")),
                    version ? version : "-",
                    (long long) json_integer_value (json_object_get (member, "incarnation")),
                    json_is_true (json_object_get (member, "self")) ? "(self)" : age,
                    "");
        }
    }
    json_decref (reply);
    return TM_EXIT_OK;
}

int
tm_token_main (int argc, char **argv)
{
    const char *data = NULL;
    bool rotate = false;
    double grace = -1;
    int first = s_parse_client (argc, argv, &data, NULL, &rotate, &grace, NULL,
        "usage: testmesh token [--rotate [--grace SECS]] [--data DIR]\n"
        "Prints the join token of the local agent's cluster; --rotate issues a\n"
        "new one.  The old one stops admitting new nodes after the grace\n"
        "period (default 600 s); members already in keep working.\n");
    if (first < 0)
        return TM_EXIT_ERROR;
    if (first < argc) {
        fprintf (stderr, "testmesh: token takes no arguments ('%s')\n", argv [first]);
        return TM_EXIT_ERROR;
    }
    if (grace > 0 && !rotate) {
        fprintf (stderr, "testmesh: --grace goes with --rotate\n");
        return TM_EXIT_ERROR;
    }
    json_t *request = json_pack ("{s:s, s:b}", "cmd", "token", "rotate", rotate);
    if (grace > 0)
        json_object_set_new (request, "grace", json_real (grace));
    json_t *reply = s_call (data, request);
    if (!reply)
        return TM_EXIT_ERROR;
    printf ("%s\n", json_string_value (json_object_get (json_object_get (reply, "result"),
                                                        "token")));
    json_decref (reply);
    return TM_EXIT_OK;
}

int
tm_stats_main (int argc, char **argv)
{
    const char *data = NULL;
    bool samples = false;
    int first = s_parse_client (argc, argv, &data, NULL, NULL, NULL, &samples,
        "usage: testmesh stats [--samples] [--data DIR]\n"
        "Prints the local agent's counters as JSON: messages accepted, and\n"
        "dropped by reason (garbage, truncated, bad signature, replay ...),\n"
        "and the work pool's counters and dispatch latencies.  --samples adds\n"
        "the recent dispatch latencies themselves.\n");
    if (first < 0)
        return TM_EXIT_ERROR;
    if (first < argc) {
        fprintf (stderr, "testmesh: stats takes no arguments ('%s')\n", argv [first]);
        return TM_EXIT_ERROR;
    }
    json_t *reply = s_call (data, json_pack ("{s:s, s:b}", "cmd", "stats", "samples", samples));
    if (!reply)
        return TM_EXIT_ERROR;
    char *text = json_dumps (json_object_get (reply, "result"), JSON_INDENT (2));
    printf ("%s\n", text);
    free (text);
    json_decref (reply);
    return TM_EXIT_OK;
}
