/*  cache_lookup.c - timing of result-cache lookups through an agent's
    control socket, for tools/bench/cache.sh ("lookup").  A benchmark
    tool: it prints figures and fails only on errors.

    cache-lookup populate DATADIR COUNT [BATCH]
        Makes COUNT synthetic entries (random result keys, test ids
        "bench/N"), signs each with the agent's own node key (tm_keys_new
        on DATADIR, tm_keys_node_secret: the agent is a member, so its
        signature verifies everywhere), and stores them through
        "cache-put" in batches of BATCH (default 1000).  Prints the keys,
        one hex key a line, on stdout.  cache-put answers at once: the
        caller waits until the cluster holds them (cache.sh polls
        `testmesh cache stats`).
    cache-lookup keys DATADIR
        Prints the entry keys of DATADIR's own share (tm_cachedb_each on
        DATADIR/cache; with the agent running RocksDB's lock makes this a
        read-only handle, as of the moment it opens).
    cache-lookup single DATADIR COUNT
        Reads keys on stdin; sends COUNT single-key cache-get requests
        (cycling through the keys), one after another, each on the same
        connection, and prints "n p50 p99 max" in ms (nearest rank) and
        the number of answers that were null ("missing N").
    cache-lookup batch DATADIR REPS [BATCH]
        Reads keys on stdin; REPS times, asks for all of them in
        cache-get requests of BATCH keys (default: all in one), and prints
        each rep's ms on one line, then "missing N" (null values over all
        reps).
    cache-lookup ping DATADIR COUNT
        COUNT "ping" requests on one connection, "n p50 p99 max" ms: the
        floor of any request (socket, agent loop, JSON both ways); then
        COUNT/10 pings through tm_control_call (a new connection each, as
        the CLI makes), "call n p50 p99 max".
    cache-lookup local DATADIR COUNT
        Reads keys on stdin; opens DATADIR/cache with tm_cachedb_new (read
        only while its agent runs) and times COUNT tm_cachedb_get of keys
        in it (cycling), "n p50 p99 max" in ms, "missing N": the
        share's own floor, no socket, no DHT.

    Exit: 0, 1 on an error (agent not answering, ...), 2 on usage.
*/
#include "tm_common.h"
#include "tm_control.h"
#include "tm_cacheentry.h"
#include "tm_cachedb.h"
#include "tm_keys.h"
#include <jansson.h>
#include <sodium.h>

static double
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void
s_die (const char *fmt, const char *arg)
{
    fprintf (stderr, "cache-lookup: ");
    fprintf (stderr, fmt, arg);
    fprintf (stderr, "\n");
    exit (1);
}

static int
s_cmp (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static double
s_rank (double *v, size_t n, double q)
{
    size_t k = (size_t) (q * n);
    if ((double) k < q * n)
        k++;
    if (k < 1)
        k = 1;
    return v [k - 1];
}

static void
s_quantiles (const char *label, double *v, size_t n)
{
    qsort (v, n, sizeof *v, s_cmp);
    printf ("%s%zu %.3f %.3f %.3f\n", label, n, s_rank (v, n, 0.5), s_rank (v, n, 0.99),
            n ? v [n - 1] : 0);
}

//  Keys from stdin, 64 hex each
static char **
s_read_keys (size_t *count)
{
    size_t cap = 1024, n = 0;
    char **keys = (char **) malloc (cap * sizeof *keys);
    char line [256];
    while (fgets (line, sizeof line, stdin)) {
        line [strcspn (line, "\r\n")] = 0;
        if (!tm_cache_hex_valid (line))
            continue;
        if (n == cap)
            keys = (char **) realloc (keys, (cap *= 2) * sizeof *keys);
        keys [n++] = strdup (line);
    }
    if (!n)
        s_die ("%s", "no keys on stdin");
    *count = n;
    return keys;
}

//  One connection to the agent's control socket, for many requests
static zsock_t *
s_connect (const char *datadir)
{
    char *endpoint = tm_control_endpoint (datadir);
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    zsock_set_linger (sock, 0);
    zsock_set_rcvtimeo (sock, 30000);
    zsock_set_maxmsgsize (sock, TM_CONTROL_MAX);
    if (zsock_connect (sock, "%s", endpoint) != 0)
        s_die ("cannot connect to %s", endpoint);
    free (endpoint);
    return sock;
}

static json_t *
s_call (zsock_t *sock, json_t *request)
{
    char *text = json_dumps (request, JSON_COMPACT);
    zstr_send (sock, text);
    free (text);
    char *answer = zstr_recv (sock);
    if (!answer)
        s_die ("%s", "the agent did not answer in 30 s");
    json_t *reply = json_loads (answer, 0, NULL);
    zstr_free (&answer);
    if (!reply || !json_is_true (json_object_get (reply, "ok"))) {
        const char *msg = reply ? json_string_value (json_object_get (reply, "error")) : NULL;
        s_die ("the agent refused: %s", msg ? msg : "malformed reply");
    }
    return reply;
}

//  A cache-get of KEYS [0..N); returns how many values were null
static size_t
s_get (zsock_t *sock, char **keys, size_t n)
{
    json_t *array = json_array ();
    for (size_t i = 0; i < n; i++)
        json_array_append_new (array, json_string (keys [i]));
    json_t *request = json_pack ("{s:s, s:s, s:o}", "cmd", "cache-get", "kind", "entry",
                                 "keys", array);
    json_t *reply = s_call (sock, request);
    json_decref (request);
    json_t *values = json_object_get (reply, "values");
    if (json_array_size (values) != n)
        s_die ("%s", "cache-get answered the wrong number of values");
    size_t missing = 0;
    for (size_t i = 0; i < n; i++)
        missing += !json_is_string (json_array_get (values, i));
    json_decref (reply);
    return missing;
}

static int
s_populate (const char *datadir, size_t count, size_t batch)
{
    char *err = NULL;
    tm_keys_t *keys = tm_keys_new (datadir, &err);
    if (!keys)
        s_die ("cannot load the node key: %s", err);
    char host [64];
    snprintf (host, sizeof host, "bench-%d", (int) getpid ());
    zsock_t *sock = s_connect (datadir);
    json_t *items = json_array ();
    double created = (double) time (NULL);
    for (size_t i = 0; i < count; i++) {
        uint8_t key [32], decl [32];
        randombytes_buf (key, sizeof key);
        randombytes_buf (decl, sizeof decl);
        char test_id [128];
        snprintf (test_id, sizeof test_id, "bench/%s/%06zu", host, i);
        tm_cacheentry_t *entry = tm_cacheentry_new ();
        tm_cache_hex (key, entry->key);
        crypto_generichash (decl, 32, (const uint8_t *) test_id, strlen (test_id), NULL, 0);
        tm_cache_hex (decl, entry->ident);
        randombytes_buf (decl, sizeof decl);
        tm_cache_hex (decl, entry->decl);
        entry->test_id = strdup (test_id);
        entry->status = TM_STATUS_PASSED;
        entry->duration = 0.05;
        entry->created = created;
        entry->member = strdup ("bench");
        tm_cacheentry_sign (entry, tm_keys_node_secret (keys));
        size_t size;
        char *value = tm_cacheentry_encode (entry, &size);
        json_array_append_new (items, json_pack ("[s, s]", entry->key, value));
        printf ("%s\n", entry->key);
        free (value);
        tm_cacheentry_destroy (&entry);
        if (json_array_size (items) == batch || i + 1 == count) {
            json_t *request = json_pack ("{s:s, s:s, s:O}", "cmd", "cache-put",
                                         "kind", "entry", "items", items);
            json_decref (s_call (sock, request));
            json_decref (request);
            json_array_clear (items);
        }
    }
    json_decref (items);
    zsock_destroy (&sock);
    tm_keys_destroy (&keys);
    return 0;
}

static bool
s_print_key (tm_cachedb_kind_t kind, const uint8_t *key, const char *value, size_t size,
             void *arg)
{
    char hex [TM_CACHE_HEX];
    tm_cache_hex (key, hex);
    printf ("%s\n", hex);
    return true;
}

static tm_cachedb_t *
s_open_share (const char *datadir)
{
    char *err = NULL;
    tm_cachedb_t *db = tm_cachedb_new (datadir, 0, &err);
    if (!db)
        s_die ("cannot open the share: %s", err);
    const char *reason;
    if (tm_cachedb_degraded (db, &reason))
        s_die ("the share is degraded: %s", reason);
    return db;
}

int
main (int argc, char *argv [])
{
    if (argc < 3) {
        fprintf (stderr, "usage: cache-lookup populate|keys|single|batch|ping|local DATADIR [N ...]\n");
        return 2;
    }
    if (sodium_init () < 0)
        return 1;
    zsys_init ();
    zsys_set_logstream (NULL);
    const char *mode = argv [1], *datadir = argv [2];
    long n = argc > 3 ? atol (argv [3]) : 0;
    long extra = argc > 4 ? atol (argv [4]) : 0;

    if (streq (mode, "populate") && n > 0)
        return s_populate (datadir, (size_t) n, extra > 0 ? (size_t) extra : 1000);
    if (streq (mode, "keys")) {
        tm_cachedb_t *db = s_open_share (datadir);
        tm_cachedb_each (db, TM_CACHEDB_ENTRY, s_print_key, NULL);
        tm_cachedb_destroy (&db);
        return 0;
    }
    if (streq (mode, "ping") && n > 0) {
        zsock_t *sock = s_connect (datadir);
        json_t *request = json_pack ("{s:s}", "cmd", "ping");
        json_decref (s_call (sock, request));       //  Warm-up: the connection
        double *v = (double *) malloc (n * sizeof *v);
        for (long i = 0; i < n; i++) {
            double t0 = s_now_ms ();
            json_decref (s_call (sock, request));
            v [i] = s_now_ms () - t0;
        }
        s_quantiles ("", v, (size_t) n);
        long calls = n / 10 > 0 ? n / 10 : 1;
        for (long i = 0; i < calls; i++) {
            char *err = NULL;
            double t0 = s_now_ms ();
            json_t *reply = tm_control_call (datadir, request, 10, &err);
            v [i] = s_now_ms () - t0;
            if (!reply)
                s_die ("ping: %s", err);
            json_decref (reply);
        }
        s_quantiles ("call ", v, (size_t) calls);
        free (v);
        json_decref (request);
        zsock_destroy (&sock);
        return 0;
    }
    if (streq (mode, "single") && n > 0) {
        size_t count;
        char **keys = s_read_keys (&count);
        zsock_t *sock = s_connect (datadir);
        s_get (sock, keys, 1);                      //  Warm-up: the connection
        double *v = (double *) malloc (n * sizeof *v);
        size_t missing = 0;
        for (long i = 0; i < n; i++) {
            double t0 = s_now_ms ();
            missing += s_get (sock, keys + (size_t) i % count, 1);
            v [i] = s_now_ms () - t0;
        }
        s_quantiles ("", v, (size_t) n);
        printf ("missing %zu\n", missing);
        zsock_destroy (&sock);
        return 0;
    }
    if (streq (mode, "batch") && n > 0) {
        size_t count;
        char **keys = s_read_keys (&count);
        size_t batch = extra > 0 ? (size_t) extra : count;
        zsock_t *sock = s_connect (datadir);
        size_t missing = 0;
        for (long rep = 0; rep < n; rep++) {
            double t0 = s_now_ms ();
            for (size_t at = 0; at < count; at += batch)
                missing += s_get (sock, keys + at, count - at < batch ? count - at : batch);
            printf ("%.3f\n", s_now_ms () - t0);
        }
        printf ("missing %zu\n", missing);
        zsock_destroy (&sock);
        return 0;
    }
    if (streq (mode, "local") && n > 0) {
        size_t count;
        char **keys = s_read_keys (&count);
        tm_cachedb_t *db = s_open_share (datadir);
        double *v = (double *) malloc (n * sizeof *v);
        size_t missing = 0;
        for (long i = 0; i < n; i++) {
            uint8_t key [32];
            tm_cache_from_hex (keys [(size_t) i % count], key);
            char *value = NULL;
            size_t size;
            double t0 = s_now_ms ();
            int rc = tm_cachedb_get (db, TM_CACHEDB_ENTRY, key, &value, &size);
            v [i] = s_now_ms () - t0;
            missing += rc != 0;
            free (value);
        }
        s_quantiles ("", v, (size_t) n);
        printf ("missing %zu\n", missing);
        tm_cachedb_destroy (&db);
        return 0;
    }
    fprintf (stderr, "cache-lookup: bad arguments (see the banner of tools/bench/cache_lookup.c)\n");
    return 2;
}
