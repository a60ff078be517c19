/*  tm_cachecmd.c - `testmesh cache stats|explain|invalidate|gc`.

    With an agent on the data directory, each subcommand asks it (and it
    asks the cluster); without one, it works on the local share in
    DATADIR/cache, as an embedded `testmesh run` does (tm_cacheclient.h).

    `explain` does not recompute keys: it reads what the last
    `testmesh run` on this data directory found for each test
    (DATADIR/cache-explain.json, written by tm_run.c), which is exactly
    why that run hit or missed.

    `stats` and `gc` cover the content store too (DATADIR/store: shipped
    programs and inputs, tm_storeindex.h): each member's figures come
    with its share's (the agent's cache actor asks them of the work
    pool), and `gc` asks the agent's work pool to evict the store down
    to its cap (`store-gc`), which only the pool may do, since it knows
    which blobs are in use.  Without an agent nothing is in use: the
    local store is read, and evicted to the default cap.
*/
#include "tm_cachecmd.h"
#include "tm_cacheclient.h"
#include "tm_control.h"
#include "tm_keys.h"
#include "tm_storeindex.h"
#include <fnmatch.h>
#include <unistd.h>

static const char *s_usage_text =
"usage: testmesh cache COMMAND [--data DIR]\n"
"\n"
"  stats [--json]        entries, bytes and hit ratio of every member's share,\n"
"                        and the blobs and bytes of its content store\n"
"  explain GLOB          why each matching test hit or missed in the last run\n"
"  invalidate [GLOB]     forget cached results of matching tests everywhere\n"
"                        (default: every test)\n"
"  gc                    evict least recently used entries down to the cap,\n"
"                        and blobs of the content store down to its cap\n";

//  The client for DATADIR: its agent's, or the local share.  Returns
//  NULL with *err set.
static tm_cacheclient_t *
s_client (const char *datadir, tm_keys_t **keys_p, char **err)
{
    if (tm_control_agent_running (datadir))
        return tm_cacheclient_new_agent (datadir);
    *keys_p = tm_keys_new (datadir, err);
    if (!*keys_p)
        return NULL;
    char hostname [256] = "local";
    gethostname (hostname, sizeof hostname - 1);
    return tm_cacheclient_new_local (datadir, 0, tm_keys_node_secret (*keys_p), hostname, err);
}

static void
s_print_size (uint64_t bytes, char *buf, size_t size)
{
    if (bytes >= 1024ULL * 1024 * 1024)
        snprintf (buf, size, "%.1fG", bytes / (1024.0 * 1024 * 1024));
    else
    if (bytes >= 1024 * 1024)
        snprintf (buf, size, "%.1fM", bytes / (1024.0 * 1024));
    else
    if (bytes >= 1024)
        snprintf (buf, size, "%.1fK", bytes / 1024.0);
    else
        snprintf (buf, size, "%lluB", (unsigned long long) bytes);
}

//  The local content store's figures (no agent: nothing in use), as a
//  member reports them, added to MEMBER.
static void
s_local_store (const char *datadir, json_t *member)
{
    //  Not made where there is none: zeros
    char *dir = tm_strdupf ("%s/store", datadir);
    bool exists = access (dir, F_OK) == 0;
    free (dir);
    char *err = NULL;
    tm_store_t *store = exists ? tm_store_new (datadir, &err) : NULL;
    if (!store) {
        free (err);
        json_object_set_new (member, "store_bytes", json_integer (0));
        json_object_set_new (member, "store_blobs", json_integer (0));
        json_object_set_new (member, "store_cap", json_integer (TM_STOREINDEX_CAP_DEFAULT));
        return;
    }
    tm_storeindex_t *index = tm_storeindex_new (store, 0);
    tm_storeindex_stats_t stats;
    tm_storeindex_stats (index, &stats);
    json_object_set_new (member, "store_bytes", json_integer ((json_int_t) stats.bytes));
    json_object_set_new (member, "store_blobs", json_integer ((json_int_t) stats.blobs));
    json_object_set_new (member, "store_cap", json_integer ((json_int_t) stats.cap));
    json_object_set_new (member, "store_pinned", json_integer (0));
    json_object_set_new (member, "store_evicted", json_integer (0));
    tm_storeindex_destroy (&index);
    tm_store_destroy (&store);
}

static int
s_stats (tm_cacheclient_t *client, const char *datadir, bool as_json)
{
    char *err = NULL;
    json_t *stats = tm_cacheclient_stats (client, &err);
    if (!stats) {
        fprintf (stderr, "testmesh: cache stats: %s\n", err);
        free (err);
        return TM_EXIT_ERROR;
    }
    json_t *members = json_object_get (stats, "members");
    if (!tm_cacheclient_remote (client) && json_array_size (members) == 1)
        s_local_store (datadir, json_array_get (members, 0));
    if (as_json) {
        char *text = json_dumps (stats, JSON_INDENT (2) | JSON_SORT_KEYS);
        puts (text);
        free (text);
        json_decref (stats);
        return TM_EXIT_OK;
    }
    printf ("%-20s %9s %9s %9s %9s %9s %9s %7s %13s\n", "MEMBER", "ENTRIES", "RECORDS",
            "BYTES", "CAP", "HIT-RATIO", "EVICTED", "BLOBS", "STORE/CAP");
    uint64_t entries = 0, bytes = 0, hits = 0, misses = 0, blobs = 0, stored = 0;
    size_t index;
    json_t *member;
    json_array_foreach (members, index, member) {
        uint64_t m_hits = (uint64_t) json_integer_value (json_object_get (member, "hits"));
        uint64_t m_misses = (uint64_t) json_integer_value (json_object_get (member, "misses"));
        uint64_t m_bytes = (uint64_t) json_integer_value (json_object_get (member, "bytes"));
        char size [32], cap [32], ratio [32] = "-";
        s_print_size (m_bytes, size, sizeof size);
        s_print_size ((uint64_t) json_integer_value (json_object_get (member, "cap")),
                      cap, sizeof cap);
        if (m_hits + m_misses)
            snprintf (ratio, sizeof ratio, "%.1f%%", 100.0 * m_hits / (m_hits + m_misses));
        const char *name = json_string_value (json_object_get (member, "name"));
        //  The content store's, if the member reports it (older ones do not)
        json_t *store_bytes = json_object_get (member, "store_bytes");
        json_t *store_blobs = json_object_get (member, "store_blobs");
        char store [64] = "-", store_count [32] = "-";
        if (json_is_integer (store_bytes) && json_is_integer (store_blobs)) {
            char used [32], limit [32];
            s_print_size ((uint64_t) json_integer_value (store_bytes), used, sizeof used);
            s_print_size ((uint64_t) json_integer_value (json_object_get (member, "store_cap")),
                          limit, sizeof limit);
            snprintf (store, sizeof store, "%s/%s", used, limit);
            snprintf (store_count, sizeof store_count, "%lld", json_integer_value (store_blobs));
            blobs += (uint64_t) json_integer_value (store_blobs);
            stored += (uint64_t) json_integer_value (store_bytes);
        }
        printf ("%-20s %9lld %9lld %9s %9s %9s %9lld %7s %13s%s\n", name ? name : "?",
                json_integer_value (json_object_get (member, "entries")),
                json_integer_value (json_object_get (member, "records")),
                size, cap, ratio,
                json_integer_value (json_object_get (member, "evicted")),
                store_count, store,
                json_is_true (json_object_get (member, "degraded")) ? "  DEGRADED" : "");
        entries += (uint64_t) json_integer_value (json_object_get (member, "entries"));
        bytes += m_bytes;
        hits += m_hits;
        misses += m_misses;
    }
    char size [32];
    s_print_size (bytes, size, sizeof size);
    printf ("%zu member%s, replicas %lld: %llu entries (with replicas), %s",
            json_array_size (members), json_array_size (members) == 1 ? "" : "s",
            json_integer_value (json_object_get (stats, "replicas")),
            (unsigned long long) entries, size);
    if (hits + misses)
        printf (", hit ratio %.1f%% of %llu lookups", 100.0 * hits / (hits + misses),
                (unsigned long long) (hits + misses));
    s_print_size (stored, size, sizeof size);
    printf ("; content stores: %llu blobs (with copies), %s", (unsigned long long) blobs, size);
    putchar ('\n');
    json_decref (stats);
    return TM_EXIT_OK;
}

//  `cache gc` of the content store: by the agent's work pool (REMOTE),
//  or here when no agent runs, to the default cap.
static int
s_store_gc (const char *datadir, bool remote)
{
    uint64_t evicted = 0, evicted_bytes = 0, blobs = 0, bytes = 0, cap = 0, pinned = 0;
    if (remote) {
        char *err = NULL;
        json_t *request = json_pack ("{s:s}", "cmd", "store-gc");
        json_t *reply = tm_control_call (datadir, request, 30, &err);
        json_decref (request);
        if (!reply) {
            fprintf (stderr, "testmesh: cache gc: the content store: %s\n", err);
            free (err);
            return TM_EXIT_ERROR;
        }
        evicted = (uint64_t) json_integer_value (json_object_get (reply, "evicted"));
        evicted_bytes = (uint64_t) json_integer_value (json_object_get (reply, "evicted_bytes"));
        blobs = (uint64_t) json_integer_value (json_object_get (reply, "blobs"));
        bytes = (uint64_t) json_integer_value (json_object_get (reply, "bytes"));
        cap = (uint64_t) json_integer_value (json_object_get (reply, "cap"));
        pinned = (uint64_t) json_integer_value (json_object_get (reply, "pinned"));
        json_decref (reply);
    }
    else {
        char *err = NULL;
        tm_store_t *store = tm_store_new (datadir, &err);
        if (!store) {
            fprintf (stderr, "testmesh: cache gc: %s\n", err);
            free (err);
            return TM_EXIT_ERROR;
        }
        tm_storeindex_t *index = tm_storeindex_new (store, 0);
        tm_storeindex_evict (index, NULL, NULL);
        tm_storeindex_stats_t stats;
        tm_storeindex_stats (index, &stats);
        evicted = stats.evicted;
        evicted_bytes = stats.evicted_bytes;
        blobs = stats.blobs;
        bytes = stats.bytes;
        cap = stats.cap;
        tm_storeindex_destroy (&index);
        tm_store_destroy (&store);
    }
    char freed [32], used [32], limit [32], held [32];
    s_print_size (evicted_bytes, freed, sizeof freed);
    s_print_size (bytes, used, sizeof used);
    s_print_size (cap, limit, sizeof limit);
    s_print_size (pinned, held, sizeof held);
    printf ("evicted %llu blob%s (%s) from the content store; it holds %llu (%s of %s",
            (unsigned long long) evicted, evicted == 1 ? "" : "s", freed,
            (unsigned long long) blobs, used, limit);
    if (pinned)
        printf (", %s in use", held);
    printf (")\n");
    return TM_EXIT_OK;
}

static int
s_explain (const char *datadir, const char *glob)
{
    char *path = tm_strdupf ("%s/cache-explain.json", datadir);
    json_error_t error;
    json_t *doc = json_load_file (path, 0, &error);
    if (!doc) {
        if (access (path, F_OK) != 0)
            fprintf (stderr, "testmesh: cache explain: no run with the cache on this data "
                     "directory yet (%s)\n", datadir);
        else
            fprintf (stderr, "testmesh: cache explain: %s: %s\n", path, error.text);
        free (path);
        return TM_EXIT_ERROR;
    }
    free (path);
    json_t *tests = json_object_get (doc, "tests");
    size_t matched = 0;
    const char *id;
    json_t *reason;
    json_object_foreach (tests, id, reason) {
        //  As --filter: the id, or the id without a "TARGET:" prefix
        const char *colon = strrchr (id, ':');
        if (fnmatch (glob, id, 0) != 0 && !(colon && fnmatch (glob, colon + 1, 0) == 0))
            continue;
        printf ("%s: %s\n", id, json_string_value (reason) ? json_string_value (reason) : "?");
        matched++;
    }
    json_decref (doc);
    if (matched == 0) {
        fprintf (stderr, "testmesh: cache explain: no test matching '%s' in the last run\n",
                 glob);
        return TM_EXIT_ERROR;
    }
    return TM_EXIT_OK;
}

int
tm_cachecmd_main (int argc, char **argv)
{
    //  Options may come before or after the words (a glob may start
    //  with anything but "-"), so parse by hand rather than with getopt
    const char *data = NULL;
    bool as_json = false;
    char *words [3] = { NULL };
    size_t count = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv [i];
        if (streq (arg, "--data")) {
            if (i + 1 == argc) {
                fprintf (stderr, "testmesh: cache: --data wants a directory\n");
                return TM_EXIT_ERROR;
            }
            data = argv [++i];
        }
        else
        if (strncmp (arg, "--data=", 7) == 0)
            data = arg + 7;
        else
        if (streq (arg, "--json"))
            as_json = true;
        else
        if (streq (arg, "-h") || streq (arg, "--help")) {
            fputs (s_usage_text, stdout);
            return TM_EXIT_OK;
        }
        else
        if (arg [0] == '-' && arg [1]) {
            fprintf (stderr, "testmesh: cache: unknown option '%s'\n%s", arg, s_usage_text);
            return TM_EXIT_ERROR;
        }
        else
        if (count == 3) {
            fprintf (stderr, "testmesh: cache: too many arguments\n%s", s_usage_text);
            return TM_EXIT_ERROR;
        }
        else
            words [count++] = argv [i];
    }
    if (count == 0) {
        fputs (s_usage_text, stderr);
        return TM_EXIT_ERROR;
    }
    const char *command = words [0];
    bool known = streq (command, "stats") || streq (command, "explain")
              || streq (command, "invalidate") || streq (command, "gc");
    if (!known) {
        fprintf (stderr, "testmesh: cache: unknown command '%s'\n%s", command, s_usage_text);
        return TM_EXIT_ERROR;
    }
    size_t wanted_min = streq (command, "explain") ? 2 : 1;
    size_t wanted_max = streq (command, "explain") || streq (command, "invalidate") ? 2 : 1;
    if (count < wanted_min || count > wanted_max) {
        fprintf (stderr, "testmesh: cache %s: wrong number of arguments\n%s", command,
                 s_usage_text);
        return TM_EXIT_ERROR;
    }
    char *err = NULL;
    char *datadir = tm_datadir_resolve (data, &err);
    if (!datadir) {
        fprintf (stderr, "testmesh: %s\n", err);
        free (err);
        return TM_EXIT_ERROR;
    }
    int rc = TM_EXIT_ERROR;
    tm_keys_t *keys = NULL;
    tm_cacheclient_t *client = NULL;
    if (streq (command, "explain")) {
        rc = s_explain (datadir, words [1]);
        goto done;
    }
    client = s_client (datadir, &keys, &err);
    if (!client) {
        fprintf (stderr, "testmesh: cache: %s\n", err);
        goto done;
    }
    if (streq (command, "stats"))
        rc = s_stats (client, datadir, as_json);
    else
    if (streq (command, "invalidate")) {
        const char *glob = count == 2 ? words [1] : "*";
        size_t deleted = 0;
        if (tm_cacheclient_invalidate (client, glob, &deleted, &err) != 0)
            fprintf (stderr, "testmesh: cache invalidate: %s\n", err);
        else {
            printf ("invalidated '%s': %zu entr%s removed here%s\n", glob, deleted,
                    deleted == 1 ? "y" : "ies",
                    tm_cacheclient_remote (client) ? "; the tombstone goes to every member" : "");
            rc = TM_EXIT_OK;
        }
    }
    else {
        size_t evicted = 0;
        if (tm_cacheclient_gc (client, &evicted, &err) != 0)
            fprintf (stderr, "testmesh: cache gc: %s\n", err);
        else {
            printf ("evicted %zu value%s\n", evicted, evicted == 1 ? "" : "s");
            rc = s_store_gc (datadir, tm_cacheclient_remote (client));
        }
    }
done:
    free (err);
    tm_cacheclient_destroy (&client);
    tm_keys_destroy (&keys);
    free (datadir);
    return rc;
}
