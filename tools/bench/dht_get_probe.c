/*  dht_get_probe.c - times the result cache's lookups through a running
    agent, the way the CLI makes them (tm_cacheclient: control calls of
    up to 4096 keys).

        dht_get_probe put DATADIR N         signs N entries with DATADIR's
                                            node key and puts them through
                                            its agent
        dht_get_probe get DATADIR N ROUNDS  gets the N keys, ROUNDS times;
                                            prints each round and the median
        dht_get_probe one DATADIR N COUNT   COUNT single-key gets of keys
                                            drawn from the N; p50 and p99

    Keys are BLAKE2b ("probe-I"), tests "probe/I", so put and get agree.
    Build (after make build/libtestmesh.a):
        cc -O2 -std=gnu11 -D_GNU_SOURCE -Inode -Igossip -Idht-cache \
           tools/bench/dht_get_probe.c build/libtestmesh.a -o build/dht_get_probe \
           $(pkg-config --cflags --libs libczmq libzmq libsodium rocksdb inih jansson) \
           -lpthread -lm
*/
#include "tm_cacheclient.h"
#include "tm_cacheentry.h"
#include "tm_keys.h"
#include <sodium.h>

static void
s_key (int n, char hex [TM_CACHE_HEX])
{
    uint8_t bytes [32];
    char text [64];
    snprintf (text, sizeof text, "probe-%d", n);
    crypto_generichash (bytes, sizeof bytes, (const uint8_t *) text, strlen (text), NULL, 0);
    tm_cache_hex (bytes, hex);
}

static int
s_cmp (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

int
main (int argc, char **argv)
{
    if (argc < 4) {
        fprintf (stderr, "usage: dht_get_probe put|get|one DATADIR N [ROUNDS|COUNT]\n");
        return 2;
    }
    const char *mode = argv [1], *datadir = argv [2];
    int n = atoi (argv [3]);
    int rounds = argc > 4 ? atoi (argv [4]) : 5;
    if (sodium_init () < 0)
        return 1;
    char **keys = (char **) calloc ((size_t) n + 1, sizeof (char *));
    for (int i = 0; i < n; i++) {
        keys [i] = (char *) malloc (TM_CACHE_HEX);
        s_key (i, keys [i]);
    }
    tm_cacheclient_t *client = tm_cacheclient_new_agent (datadir);
    char *err = NULL;
    int rc = 0;
    if (streq (mode, "put")) {
        tm_keys_t *tk = tm_keys_new (datadir, &err);
        if (!tk) {
            fprintf (stderr, "keys: %s\n", err);
            return 1;
        }
        char **values = (char **) calloc ((size_t) n + 1, sizeof (char *));
        for (int i = 0; i < n; i++) {
            tm_cacheentry_t *entry = tm_cacheentry_new ();
            snprintf (entry->key, sizeof entry->key, "%s", keys [i]);
            uint8_t bytes [32];
            randombytes_buf (bytes, 32);
            tm_cache_hex (bytes, entry->ident);
            randombytes_buf (bytes, 32);
            tm_cache_hex (bytes, entry->decl);
            entry->test_id = tm_strdupf ("probe/%05d", i);
            entry->status = TM_STATUS_PASSED;
            entry->duration = 0.01;
            entry->created = tm_wall_now () - 10;
            entry->member = strdup ("probe");
            tm_cacheentry_sign (entry, tm_keys_node_secret (tk));
            size_t size;
            values [i] = tm_cacheentry_encode (entry, &size);
            tm_cacheentry_destroy (&entry);
        }
        double start = tm_now ();
        rc = tm_cacheclient_put (client, TM_CACHEDB_ENTRY, keys, values, (size_t) n, &err);
        printf ("put %d: %.1f ms (%s)\n", n, (tm_now () - start) * 1000, rc ? err : "ok");
        for (int i = 0; i < n; i++)
            free (values [i]);
        free (values);
        tm_keys_destroy (&tk);
    }
    else
    if (streq (mode, "get")) {
        double *took = (double *) calloc ((size_t) rounds + 1, sizeof (double));
        for (int r = 0; r < rounds; r++) {
            char **values = NULL;
            double start = tm_now ();
            rc = tm_cacheclient_get (client, TM_CACHEDB_ENTRY, keys, (size_t) n, &values, &err);
            took [r] = (tm_now () - start) * 1000;
            int found = 0;
            for (int i = 0; values && i < n; i++) {
                found += values [i] != NULL;
                free (values [i]);
            }
            free (values);
            printf ("get %d: %d found in %.1f ms%s%s\n", n, found, took [r],
                    rc ? ": " : "", rc ? err : "");
        }
        qsort (took, (size_t) rounds, sizeof (double), s_cmp);
        printf ("get %d: median %.1f ms over %d rounds\n", n, took [rounds / 2], rounds);
        free (took);
    }
    else
    if (streq (mode, "one")) {
        int count = rounds;
        double *took = (double *) calloc ((size_t) count + 1, sizeof (double));
        int found = 0;
        for (int r = 0; r < count; r++) {
            char **values = NULL;
            char *one [1] = { keys [randombytes_uniform ((uint32_t) n)] };
            double start = tm_now ();
            rc = tm_cacheclient_get (client, TM_CACHEDB_ENTRY, one, 1, &values, &err);
            took [r] = (tm_now () - start) * 1000;
            if (values) {
                found += values [0] != NULL;
                free (values [0]);
            }
            free (values);
        }
        qsort (took, (size_t) count, sizeof (double), s_cmp);
        printf ("single get: %d of %d found; p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", found,
                count, took [count / 2], took [count * 99 / 100], took [count - 1]);
        free (took);
    }
    tm_cacheclient_destroy (&client);
    for (int i = 0; i < n; i++)
        free (keys [i]);
    free (keys);
    free (err);
    return rc ? 1 : 0;
}
