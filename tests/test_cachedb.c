/*  test_cachedb.c - one member's share of the result cache (tm_cachedb):
    values by kind and key, LRU eviction under a byte cap that survives
    reopen, tombstones, read-only when the database is held elsewhere,
    degraded (misses, no crash) when it is corrupt. */
#include "tm_testutil.h"
#include "tm_cachedb.h"
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>

#define S_VALUE 100                         //  Bytes of the usual test value
#define S_COUNTED (TM_CACHEDB_KEY + S_VALUE)    //  What one of them counts

static void
s_key (int n, uint8_t key [TM_CACHEDB_KEY])
{
    memset (key, 0, TM_CACHEDB_KEY);
    key [0] = (uint8_t) (n * 7);        //  Not in n order, so key order != age order
    key [30] = (uint8_t) (n >> 8);
    key [31] = (uint8_t) n;
}

//  A value of SIZE bytes that says N.
static char *
s_value (int n, size_t size)
{
    char *value = (char *) malloc (size);
    for (size_t i = 0; i < size; i++)
        value [i] = (char) ('a' + (n + i) % 26);
    return value;
}

static int
s_put (tm_cachedb_t *db, tm_cachedb_kind_t kind, int n, size_t size)
{
    uint8_t key [TM_CACHEDB_KEY];
    s_key (n, key);
    char *value = s_value (n, size);
    int rc = tm_cachedb_put (db, kind, key, value, size);
    free (value);
    return rc;
}

//  True if value N of KIND is there with its content (SIZE bytes), via get.
static bool
s_get (tm_cachedb_t *db, tm_cachedb_kind_t kind, int n, size_t size)
{
    uint8_t key [TM_CACHEDB_KEY];
    s_key (n, key);
    char *value = NULL;
    size_t got = 0;
    if (tm_cachedb_get (db, kind, key, &value, &got))
        return false;
    char *want = s_value (n, size);
    bool same = got == size && memcmp (value, want, size) == 0;
    free (want);
    free (value);
    cr_assert (same, "value %d came back different", n);
    return true;
}

static bool
s_has (tm_cachedb_t *db, tm_cachedb_kind_t kind, int n)
{
    uint8_t key [TM_CACHEDB_KEY];
    s_key (n, key);
    return tm_cachedb_has (db, kind, key);
}

static tm_cachedb_t *
s_open (const char *dir, uint64_t cap)
{
    char *err = NULL;
    tm_cachedb_t *db = tm_cachedb_new (dir, cap, &err);
    cr_assert_not_null (db, "%s", err);
    return db;
}

static tm_cachedb_stats_t
s_stats (tm_cachedb_t *db)
{
    tm_cachedb_stats_t stats;
    tm_cachedb_stats (db, &stats);
    return stats;
}

typedef struct {
    int count;                  //  Values seen
    uint64_t bytes;             //  Their counted bytes
    int entries;                //  Of kind entry
    int records;                //  Of kind record
    int stop_after;             //  Return false after this many, 0: never
    uint8_t last [TM_CACHEDB_KEY];
    bool ordered;               //  Keys came in ascending order (per kind)
    tm_cachedb_kind_t last_kind;
} s_seen_t;

static bool
s_each_fn (tm_cachedb_kind_t kind, const uint8_t *key, const char *value, size_t size, void *arg)
{
    s_seen_t *seen = (s_seen_t *) arg;
    if (seen->count > 0 && kind == seen->last_kind
    &&  memcmp (seen->last, key, TM_CACHEDB_KEY) >= 0)
        seen->ordered = false;
    memcpy (seen->last, key, TM_CACHEDB_KEY);
    seen->last_kind = kind;
    seen->count++;
    seen->bytes += TM_CACHEDB_KEY + size;
    seen->entries += kind == TM_CACHEDB_ENTRY;
    seen->records += kind == TM_CACHEDB_RECORD;
    return seen->stop_after == 0 || seen->count < seen->stop_after;
}

static s_seen_t
s_each (tm_cachedb_t *db, tm_cachedb_kind_t kind, int stop_after)
{
    s_seen_t seen;
    memset (&seen, 0, sizeof seen);
    seen.ordered = true;
    seen.stop_after = stop_after;
    tm_cachedb_each (db, kind, s_each_fn, &seen);
    return seen;
}

Test (cachedb, put_get_has_delete_and_each_by_kind)
{
    char *dir = tmu_scratch ();
    tm_cachedb_t *db = s_open (dir, 0);
    tm_cachedb_stats_t stats = s_stats (db);
    cr_assert_eq (stats.cap, 1024ULL * 1024 * 1024, "0 means the 1 GiB default");
    cr_assert_not (stats.degraded);
    cr_assert_not (stats.readonly);
    cr_assert_not (tm_cachedb_degraded (db, NULL));

    for (int n = 0; n < 10; n++)
        cr_assert_eq (s_put (db, TM_CACHEDB_ENTRY, n, S_VALUE), 0);
    for (int n = 0; n < 4; n++)
        cr_assert_eq (s_put (db, TM_CACHEDB_RECORD, n, S_VALUE + n), 0);
    cr_assert (s_get (db, TM_CACHEDB_ENTRY, 3, S_VALUE));
    cr_assert (s_get (db, TM_CACHEDB_RECORD, 3, S_VALUE + 3));
    cr_assert_not (s_get (db, TM_CACHEDB_RECORD, 7, S_VALUE), "kinds are separate");
    cr_assert_not (s_get (db, TM_CACHEDB_ENTRY, 99, S_VALUE));
    cr_assert (s_has (db, TM_CACHEDB_ENTRY, 9));
    cr_assert_not (s_has (db, TM_CACHEDB_RECORD, 9));

    stats = s_stats (db);
    cr_assert_eq (stats.entries, 10);
    cr_assert_eq (stats.records, 4);
    cr_assert_eq (stats.bytes, 14 * S_COUNTED + 0 + 1 + 2 + 3);
    cr_assert_eq (stats.puts, 14);
    cr_assert_eq (stats.hits, 1, "only entries count hits");
    cr_assert_eq (stats.misses, 1);

    s_seen_t seen = s_each (db, 0, 0);
    cr_assert_eq (seen.count, 14);
    cr_assert_eq (seen.entries, 10);
    cr_assert_eq (seen.records, 4);
    cr_assert_eq (seen.bytes, stats.bytes);
    cr_assert (seen.ordered, "each goes in key order");
    seen = s_each (db, TM_CACHEDB_RECORD, 0);
    cr_assert_eq (seen.count, 4);
    cr_assert_eq (seen.entries, 0);
    seen = s_each (db, 0, 3);
    cr_assert_eq (seen.count, 3, "each stops when FN returns false");

    //  Replacing a value recounts it
    cr_assert_eq (s_put (db, TM_CACHEDB_ENTRY, 3, 2 * S_VALUE), 0);
    cr_assert (s_get (db, TM_CACHEDB_ENTRY, 3, 2 * S_VALUE));
    cr_assert_eq (s_stats (db).entries, 10);
    cr_assert_eq (s_stats (db).bytes, stats.bytes + S_VALUE);

    uint8_t key [TM_CACHEDB_KEY];
    s_key (3, key);
    cr_assert_eq (tm_cachedb_delete (db, TM_CACHEDB_ENTRY, key), 0);
    cr_assert_not (s_has (db, TM_CACHEDB_ENTRY, 3));
    cr_assert (s_has (db, TM_CACHEDB_RECORD, 3), "delete takes one kind only");
    cr_assert_eq (tm_cachedb_delete (db, TM_CACHEDB_ENTRY, key), 0, "deleting nothing is fine");
    stats = s_stats (db);
    cr_assert_eq (stats.entries, 9);
    cr_assert_eq (stats.bytes, 13 * S_COUNTED + 6);

    //  An empty value is not stored
    cr_assert_eq (tm_cachedb_put (db, TM_CACHEDB_ENTRY, key, "", 0), -1);
    cr_assert_not (s_has (db, TM_CACHEDB_ENTRY, 3));

    tm_cachedb_destroy (&db);
    cr_assert_null (db);
    tm_cachedb_destroy (&db);       //  Idempotent
    tmu_rmrf (dir);
    free (dir);
}

Test (cachedb, eviction_takes_the_least_recently_used_and_gets_count_as_use)
{
    char *dir = tmu_scratch ();
    tm_cachedb_t *db = s_open (dir, 3 * S_COUNTED);
    cr_assert_eq (s_put (db, TM_CACHEDB_ENTRY, 1, S_VALUE), 0);
    cr_assert_eq (s_put (db, TM_CACHEDB_ENTRY, 2, S_VALUE), 0);
    cr_assert_eq (s_put (db, TM_CACHEDB_RECORD, 3, S_VALUE), 0);
    cr_assert (s_get (db, TM_CACHEDB_ENTRY, 1, S_VALUE));   //  1 is now younger than 2
    cr_assert_eq (s_put (db, TM_CACHEDB_ENTRY, 4, S_VALUE), 0);
    cr_assert_not (s_has (db, TM_CACHEDB_ENTRY, 2), "2 was the least recently used");
    cr_assert (s_has (db, TM_CACHEDB_ENTRY, 1));
    cr_assert (s_has (db, TM_CACHEDB_RECORD, 3));
    cr_assert (s_has (db, TM_CACHEDB_ENTRY, 4));
    cr_assert_eq (s_stats (db).evicted, 1);

    //  has () marks nothing; a record's get counts as use too
    cr_assert (s_has (db, TM_CACHEDB_RECORD, 3));
    cr_assert (s_get (db, TM_CACHEDB_RECORD, 3, S_VALUE));
    cr_assert_eq (s_put (db, TM_CACHEDB_ENTRY, 5, S_VALUE), 0);
    cr_assert_not (s_has (db, TM_CACHEDB_ENTRY, 1));
    cr_assert (s_has (db, TM_CACHEDB_RECORD, 3));
    cr_assert (s_has (db, TM_CACHEDB_ENTRY, 4));
    cr_assert (s_has (db, TM_CACHEDB_ENTRY, 5));

    //  Replacing a value makes it the youngest
    cr_assert_eq (s_put (db, TM_CACHEDB_RECORD, 3, S_VALUE), 0);
    cr_assert_eq (s_put (db, TM_CACHEDB_ENTRY, 6, S_VALUE), 0);
    cr_assert_not (s_has (db, TM_CACHEDB_ENTRY, 4));
    cr_assert (s_has (db, TM_CACHEDB_RECORD, 3));

    //  Many gets of the same value between puts (more than one batch of uses)
    for (int i = 0; i < 300; i++)
        cr_assert (s_get (db, TM_CACHEDB_ENTRY, 5, S_VALUE));
    cr_assert_eq (s_put (db, TM_CACHEDB_ENTRY, 7, S_VALUE), 0);
    cr_assert_not (s_has (db, TM_CACHEDB_RECORD, 3));
    cr_assert (s_has (db, TM_CACHEDB_ENTRY, 5));
    cr_assert (s_has (db, TM_CACHEDB_ENTRY, 6));
    tm_cachedb_stats_t stats = s_stats (db);
    cr_assert_eq (stats.entries + stats.records, 3);
    cr_assert_eq (stats.bytes, 3 * S_COUNTED);
    cr_assert_eq (stats.evicted, 4);
    tm_cachedb_destroy (&db);
    tmu_rmrf (dir);
    free (dir);
}

Test (cachedb, a_value_used_again_while_its_use_waits_moves_once_to_its_last_use)
{
    char *dir = tmu_scratch ();
    tm_cachedb_t *db = s_open (dir, 3 * S_COUNTED);
    for (int n = 1; n <= 3; n++)
        cr_assert_eq (s_put (db, TM_CACHEDB_ENTRY, n, S_VALUE), 0);
    //  Used 1, 2, 1: the order is 3, 2, 1 (not 3, 1, 2, had 1 stayed at
    //  its first use)
    cr_assert (s_get (db, TM_CACHEDB_ENTRY, 1, S_VALUE));
    cr_assert (s_get (db, TM_CACHEDB_ENTRY, 2, S_VALUE));
    cr_assert (s_get (db, TM_CACHEDB_ENTRY, 1, S_VALUE));
    cr_assert_eq (s_put (db, TM_CACHEDB_ENTRY, 4, S_VALUE), 0);
    cr_assert_not (s_has (db, TM_CACHEDB_ENTRY, 3));
    cr_assert_eq (s_put (db, TM_CACHEDB_ENTRY, 5, S_VALUE), 0);
    cr_assert_not (s_has (db, TM_CACHEDB_ENTRY, 2));
    cr_assert (s_has (db, TM_CACHEDB_ENTRY, 1));
    tm_cachedb_destroy (&db);
    tmu_rmrf (dir);
    free (dir);
}

Test (cachedb, uses_wait_their_delay_then_idle_makes_them)
{
    char *dir = tmu_scratch ();
    tm_cachedb_t *db = s_open (dir, 0);
    tm_cachedb_set_use_delay (db, 0.2);
    cr_assert_eq (s_put (db, TM_CACHEDB_ENTRY, 1, S_VALUE), 0);
    cr_assert_eq (tm_cachedb_idle_at (db), 0, "nothing to do before a get");
    double before = tm_now ();
    cr_assert (s_get (db, TM_CACHEDB_ENTRY, 1, S_VALUE));
    double at = tm_cachedb_idle_at (db);
    cr_assert (at >= before + 0.2 && at <= tm_now () + 0.2, "due after the delay");
    cr_assert_not (tm_cachedb_idle (db), "nothing is due yet");
    cr_assert_eq (tm_cachedb_idle_at (db), at, "and nothing was made");
    usleep ((useconds_t) ((at - tm_now ()) * 1e6) + 10000);
    cr_assert_not (tm_cachedb_idle (db), "one step made it; nothing more is due");
    cr_assert_eq (tm_cachedb_idle_at (db), 0);
    tm_cachedb_destroy (&db);
    tmu_rmrf (dir);
    free (dir);
}

//  More distinct values used than the notes kept (16,384): the oldest
//  are made as needed, and the order is still by last use.
Test (cachedb, more_gets_than_notes_kept_still_give_the_lru_order, .timeout = 60)
{
    char *dir = tmu_scratch ();
    const int count = 20000, keep = 100;
    tm_cachedb_t *db = s_open (dir, 0);
    for (int n = 0; n < count; n++)
        cr_assert_eq (s_put (db, TM_CACHEDB_ENTRY, n, 8), 0);
    for (int n = count - 1; n >= 0; n--)
        cr_assert (s_get (db, TM_CACHEDB_ENTRY, n, 8));
    //  The last KEEP used, again: the youngest
    for (int n = count - keep; n < count; n++)
        cr_assert (s_get (db, TM_CACHEDB_ENTRY, n, 8));
    cr_assert_eq (tm_cachedb_gc (db, keep * (TM_CACHEDB_KEY + 8)), (size_t) (count - keep));
    for (int n = count - keep; n < count; n++)
        cr_assert (s_has (db, TM_CACHEDB_ENTRY, n), "%d was used last", n);
    tm_cachedb_stats_t stats = s_stats (db);
    cr_assert_eq (stats.entries, (uint64_t) keep);
    cr_assert_eq (stats.bytes, (uint64_t) keep * (TM_CACHEDB_KEY + 8));
    tm_cachedb_destroy (&db);
    tmu_rmrf (dir);
    free (dir);
}

Test (cachedb, bytes_never_exceed_the_cap_and_match_what_is_stored)
{
    char *dir = tmu_scratch ();
    uint64_t cap = 20000;
    tm_cachedb_t *db = s_open (dir, cap);
    unsigned seed = 42;
    for (int n = 0; n < 500; n++) {
        size_t size = 1 + rand_r (&seed) % 2000;
        tm_cachedb_kind_t kind = n % 3 ? TM_CACHEDB_ENTRY : TM_CACHEDB_RECORD;
        //  Some keys again, so that replacing is mixed in
        int key = rand_r (&seed) % 200;
        cr_assert_eq (s_put (db, kind, key, size), 0);
        if (n % 5 == 0) {
            //  Use some value (of unknown size), to mix LRU updates in
            uint8_t used [TM_CACHEDB_KEY];
            s_key (rand_r (&seed) % 200, used);
            char *value = NULL;
            size_t got;
            if (tm_cachedb_get (db, TM_CACHEDB_ENTRY, used, &value, &got) == 0)
                free (value);
        }
        tm_cachedb_stats_t stats = s_stats (db);
        cr_assert_leq (stats.bytes, cap, "put %d: %llu bytes over the cap", n,
                       (unsigned long long) stats.bytes);
    }
    tm_cachedb_stats_t stats = s_stats (db);
    s_seen_t seen = s_each (db, 0, 0);
    cr_assert_eq (seen.bytes, stats.bytes);
    cr_assert_eq ((uint64_t) seen.entries, stats.entries);
    cr_assert_eq ((uint64_t) seen.records, stats.records);
    cr_assert_gt (stats.evicted, 0);
    tm_cachedb_destroy (&db);
    tmu_rmrf (dir);
    free (dir);
}

Test (cachedb, value_larger_than_the_cap_is_not_stored)
{
    char *dir = tmu_scratch ();
    uint64_t cap = 10 * S_COUNTED;
    tm_cachedb_t *db = s_open (dir, cap);
    for (int n = 0; n < 5; n++)
        cr_assert_eq (s_put (db, TM_CACHEDB_ENTRY, n, S_VALUE), 0);
    cr_assert_eq (s_put (db, TM_CACHEDB_ENTRY, 100, cap - TM_CACHEDB_KEY + 1), -1);
    cr_assert_not (s_has (db, TM_CACHEDB_ENTRY, 100));
    cr_assert_eq (s_stats (db).entries, 5, "a refused value evicts nothing");
    cr_assert_eq (s_stats (db).evicted, 0);
    //  Exactly the cap fits, alone
    cr_assert_eq (s_put (db, TM_CACHEDB_ENTRY, 100, cap - TM_CACHEDB_KEY), 0);
    cr_assert (s_get (db, TM_CACHEDB_ENTRY, 100, cap - TM_CACHEDB_KEY));
    tm_cachedb_stats_t stats = s_stats (db);
    cr_assert_eq (stats.entries, 1);
    cr_assert_eq (stats.bytes, cap);
    cr_assert_eq (stats.evicted, 5);
    tm_cachedb_destroy (&db);
    tmu_rmrf (dir);
    free (dir);
}

Test (cachedb, gc_evicts_down_to_a_smaller_cap_oldest_first)
{
    char *dir = tmu_scratch ();
    tm_cachedb_t *db = s_open (dir, 0);
    for (int n = 0; n < 10; n++)
        cr_assert_eq (s_put (db, TM_CACHEDB_ENTRY, n, S_VALUE), 0);
    cr_assert (s_get (db, TM_CACHEDB_ENTRY, 0, S_VALUE));
    cr_assert (s_get (db, TM_CACHEDB_ENTRY, 1, S_VALUE));
    cr_assert_eq (tm_cachedb_gc (db, 0), 0, "under its own cap: nothing to do");
    cr_assert_eq (tm_cachedb_gc (db, 4 * S_COUNTED + 10), 6);
    //  Kept: the four most recently used, 9 8 1 0
    for (int n = 0; n < 10; n++)
        cr_assert_eq (s_has (db, TM_CACHEDB_ENTRY, n), n <= 1 || n >= 8, "value %d", n);
    tm_cachedb_stats_t stats = s_stats (db);
    cr_assert_eq (stats.bytes, 4 * S_COUNTED);
    cr_assert_eq (stats.entries, 4);
    cr_assert_eq (stats.evicted, 6);
    cr_assert_eq (stats.cap, 1024ULL * 1024 * 1024, "gc does not change the cap");
    cr_assert_eq (tm_cachedb_gc (db, 1), 4);
    cr_assert_eq (s_stats (db).bytes, 0);
    tm_cachedb_destroy (&db);
    tmu_rmrf (dir);
    free (dir);
}

Test (cachedb, counters_and_lru_order_survive_reopen)
{
    char *dir = tmu_scratch ();
    tm_cachedb_t *db = s_open (dir, 4 * S_COUNTED);
    for (int n = 0; n < 4; n++)
        cr_assert_eq (s_put (db, n % 2 ? TM_CACHEDB_RECORD : TM_CACHEDB_ENTRY, n, S_VALUE), 0);
    cr_assert (s_get (db, TM_CACHEDB_ENTRY, 0, S_VALUE));    //  Only pending when closed
    uint8_t id [TM_CACHEDB_KEY];
    s_key (77, id);
    cr_assert_eq (tm_cachedb_tomb_put (db, id, "tomb", 4), 0);
    tm_cachedb_stats_t before = s_stats (db);
    tm_cachedb_destroy (&db);

    db = s_open (dir, 4 * S_COUNTED);
    tm_cachedb_stats_t after = s_stats (db);
    cr_assert_eq (after.entries, before.entries);
    cr_assert_eq (after.records, before.records);
    cr_assert_eq (after.tombstones, 1);
    cr_assert_eq (after.bytes, 4 * S_COUNTED);
    cr_assert_eq (after.hits, 0, "hits count this handle's work");
    //  The get before closing made 0 younger than 1: 1 goes first
    cr_assert_eq (s_put (db, TM_CACHEDB_ENTRY, 10, S_VALUE), 0);
    cr_assert_not (s_has (db, TM_CACHEDB_RECORD, 1));
    cr_assert (s_has (db, TM_CACHEDB_ENTRY, 0));
    cr_assert_eq (s_put (db, TM_CACHEDB_ENTRY, 11, S_VALUE), 0);
    cr_assert_not (s_has (db, TM_CACHEDB_ENTRY, 2));
    cr_assert (s_has (db, TM_CACHEDB_ENTRY, 0));
    cr_assert_eq (s_stats (db).bytes, 4 * S_COUNTED);
    tm_cachedb_destroy (&db);

    //  A third time, with a smaller cap: the next put evicts down to it
    db = s_open (dir, 2 * S_COUNTED);
    cr_assert_eq (s_stats (db).bytes, 4 * S_COUNTED);
    cr_assert_eq (s_put (db, TM_CACHEDB_ENTRY, 12, S_VALUE), 0);
    cr_assert_eq (s_stats (db).bytes, 2 * S_COUNTED);
    cr_assert (s_has (db, TM_CACHEDB_ENTRY, 11));
    cr_assert (s_has (db, TM_CACHEDB_ENTRY, 12));
    tm_cachedb_destroy (&db);
    tmu_rmrf (dir);
    free (dir);
}

static bool
s_tomb_fn (tm_cachedb_kind_t kind, const uint8_t *key, const char *value, size_t size, void *arg)
{
    cr_assert_eq (kind, 0);
    cr_assert_eq (size, 4);
    cr_assert_eq (memcmp (value, "tomb", 4), 0);
    (*(int *) arg)++;
    return true;
}

Test (cachedb, tombstones_are_kept_apart_uncounted_and_never_evicted)
{
    char *dir = tmu_scratch ();
    tm_cachedb_t *db = s_open (dir, 2 * S_COUNTED);
    uint8_t id [TM_CACHEDB_KEY];
    for (int n = 0; n < 3; n++) {
        s_key (n, id);
        cr_assert_eq (tm_cachedb_tomb_put (db, id, "tomb", 4), 0);
    }
    cr_assert_eq (tm_cachedb_tomb_put (db, id, "tomb", 4), 0, "again: replaces");
    for (int n = 0; n < 5; n++)
        cr_assert_eq (s_put (db, TM_CACHEDB_ENTRY, n, S_VALUE), 0);
    cr_assert_eq (tm_cachedb_gc (db, 1), 2);
    tm_cachedb_stats_t stats = s_stats (db);
    cr_assert_eq (stats.tombstones, 3);
    cr_assert_eq (stats.bytes, 0);
    int count = 0;
    tm_cachedb_tomb_each (db, s_tomb_fn, &count);
    cr_assert_eq (count, 3);
    cr_assert_eq (s_each (db, 0, 0).count, 0, "each shows no tombstone");
    tm_cachedb_destroy (&db);
    tmu_rmrf (dir);
    free (dir);
}

Test (cachedb, second_handle_in_this_process_is_read_only)
{
    char *dir = tmu_scratch ();
    tm_cachedb_t *db = s_open (dir, 0);
    cr_assert_eq (s_put (db, TM_CACHEDB_ENTRY, 1, S_VALUE), 0);
    tm_cachedb_flush (db);

    tm_cachedb_t *other = s_open (dir, 0);
    tm_cachedb_stats_t stats = s_stats (other);
    cr_assert (stats.readonly);
    cr_assert_not (stats.degraded);
    cr_assert_eq (stats.entries, 1);
    cr_assert (s_get (other, TM_CACHEDB_ENTRY, 1, S_VALUE));
    cr_assert_eq (s_put (other, TM_CACHEDB_ENTRY, 2, S_VALUE), -1);
    uint8_t key [TM_CACHEDB_KEY];
    s_key (1, key);
    cr_assert_eq (tm_cachedb_delete (other, TM_CACHEDB_ENTRY, key), -1);
    cr_assert_eq (tm_cachedb_gc (other, 1), 0);
    cr_assert_eq (tm_cachedb_flush (other), 0);
    cr_assert_eq (s_stats (other).errors, 0, "read-only drops writes silently");
    cr_assert_eq (s_each (other, 0, 0).count, 1);
    //  The writer is unaffected
    cr_assert_eq (s_put (db, TM_CACHEDB_ENTRY, 3, S_VALUE), 0);
    tm_cachedb_destroy (&other);
    tm_cachedb_destroy (&db);

    //  Once the writer is gone, the next handle writes
    db = s_open (dir, 0);
    cr_assert_not (s_stats (db).readonly);
    cr_assert_eq (s_put (db, TM_CACHEDB_ENTRY, 2, S_VALUE), 0);
    cr_assert_eq (s_stats (db).entries, 3);
    tm_cachedb_destroy (&db);
    tmu_rmrf (dir);
    free (dir);
}

Test (cachedb, second_process_opens_read_only)
{
    char *dir = tmu_scratch ();
    tm_cachedb_t *db = s_open (dir, 0);
    cr_assert_eq (s_put (db, TM_CACHEDB_ENTRY, 1, S_VALUE), 0);
    pid_t pid = fork ();
    cr_assert_geq (pid, 0);
    if (pid == 0) {
        char *err = NULL;
        tm_cachedb_t *child = tm_cachedb_new (dir, 0, &err);
        int code = !child ? 10
                 : !s_stats (child).readonly ? 11
                 : s_stats (child).degraded ? 12
                 : !s_has (child, TM_CACHEDB_ENTRY, 1) ? 13
                 : s_put (child, TM_CACHEDB_ENTRY, 2, S_VALUE) != -1 ? 14 : 0;
        tm_cachedb_destroy (&child);
        _exit (code);
    }
    int status;
    cr_assert_eq (waitpid (pid, &status, 0), pid);
    cr_assert (WIFEXITED (status));
    cr_assert_eq (WEXITSTATUS (status), 0, "child failed check %d", WEXITSTATUS (status));
    cr_assert_not (s_has (db, TM_CACHEDB_ENTRY, 2));
    tm_cachedb_destroy (&db);
    tmu_rmrf (dir);
    free (dir);
}

//  Overwrites every file in DIR whose name starts with PREFIX with garbage.
static int
s_clobber (const char *dir, const char *prefix)
{
    DIR *handle = opendir (dir);
    cr_assert_not_null (handle);
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir (handle)))
        if (strncmp (entry->d_name, prefix, strlen (prefix)) == 0) {
            char path [4200];
            snprintf (path, sizeof path, "%s/%s", dir, entry->d_name);
            tmu_write (path, "this is not a rocksdb file \x01\x02\x03 garbage garbage\n");
            count++;
        }
    closedir (handle);
    return count;
}

static void
s_assert_degraded (tm_cachedb_t *db)
{
    const char *reason = NULL;
    cr_assert (tm_cachedb_degraded (db, &reason));
    cr_assert_not_null (reason);
    tm_cachedb_stats_t stats = s_stats (db);
    cr_assert (stats.degraded);
    cr_assert_geq (stats.errors, 1);
    cr_assert_not (s_get (db, TM_CACHEDB_ENTRY, 1, S_VALUE), "degraded: gets miss");
    cr_assert_not (s_has (db, TM_CACHEDB_ENTRY, 1));
    cr_assert_eq (s_put (db, TM_CACHEDB_ENTRY, 2, S_VALUE), -1, "degraded: puts fail");
    uint8_t key [TM_CACHEDB_KEY];
    s_key (1, key);
    cr_assert_eq (tm_cachedb_delete (db, TM_CACHEDB_ENTRY, key), -1);
    cr_assert_eq (tm_cachedb_tomb_put (db, key, "tomb", 4), -1);
    cr_assert_eq (tm_cachedb_gc (db, 1), 0);
    cr_assert_eq (s_each (db, 0, 0).count, 0);
    int count = 0;
    tm_cachedb_tomb_each (db, s_tomb_fn, &count);
    cr_assert_eq (count, 0);
    cr_assert_eq (s_stats (db).misses, stats.misses + 1);
}

Test (cachedb, corrupt_database_degrades_to_misses)
{
    char *dir = tmu_scratch ();
    tm_cachedb_t *db = s_open (dir, 0);
    cr_assert_eq (s_put (db, TM_CACHEDB_ENTRY, 1, S_VALUE), 0);
    tm_cachedb_destroy (&db);
    char cache [4200];
    snprintf (cache, sizeof cache, "%s/cache", dir);
    cr_assert_eq (s_clobber (cache, "CURRENT"), 1);
    cr_assert_geq (s_clobber (cache, "MANIFEST"), 1);

    db = s_open (dir, 0);
    s_assert_degraded (db);
    tm_cachedb_destroy (&db);

    //  Only the MANIFEST: CURRENT names a file that is garbage
    tmu_rmrf (dir);
    cr_assert_eq (mkdir (dir, 0700), 0);
    db = s_open (dir, 0);
    cr_assert_eq (s_put (db, TM_CACHEDB_ENTRY, 1, S_VALUE), 0);
    tm_cachedb_destroy (&db);
    cr_assert_geq (s_clobber (cache, "MANIFEST"), 1);
    db = s_open (dir, 0);
    s_assert_degraded (db);
    tm_cachedb_destroy (&db);
    tmu_rmrf (dir);
    free (dir);
}

Test (cachedb, unusable_directory_degrades_or_fails_cleanly)
{
    char *dir = tmu_scratch ();
    //  DATADIR/cache is a file: the open fails, the share is degraded
    char cache [4200];
    snprintf (cache, sizeof cache, "%s/cache", dir);
    tmu_write (cache, "not a directory");
    tm_cachedb_t *db = s_open (dir, 0);
    s_assert_degraded (db);
    tm_cachedb_destroy (&db);
    //  DATADIR under a file: DATADIR/cache cannot be created at all
    char *err = NULL;
    char bad [4300];
    snprintf (bad, sizeof bad, "%s/cache/data", dir);
    db = tm_cachedb_new (bad, 0, &err);
    cr_assert_null (db);
    cr_assert_not_null (err);
    free (err);
    tmu_rmrf (dir);
    free (dir);
}

Test (cachedb, ten_thousand_puts_and_gets_are_quick)
{
    char *dir = tmu_scratch ();
    tm_cachedb_t *db = s_open (dir, 0);
    double start = tmu_now ();
    for (int n = 0; n < 10000; n++)
        cr_assert_eq (s_put (db, TM_CACHEDB_ENTRY, n, 500), 0);
    double puts = tmu_now () - start;
    start = tmu_now ();
    for (int n = 0; n < 10000; n++)
        cr_assert (s_get (db, TM_CACHEDB_ENTRY, n, 500));
    double gets = tmu_now () - start;
    fprintf (stderr, "cachedb: 10000 puts of 500 bytes in %.0f ms, 10000 gets in %.0f ms\n",
             puts * 1000, gets * 1000);
    //  Generous: a shared CI machine, maybe under ASan
    cr_assert_lt (puts + gets, 20.0);
    tm_cachedb_destroy (&db);
    tmu_rmrf (dir);
    free (dir);
}

Test (cachedb, write_failure_degrades_once_and_keeps_running)
{
    char *dir = tmu_scratch ();
    pid_t pid = fork ();
    cr_assert_geq (pid, 0);
    if (pid == 0) {
        //  A full disk, as near as a test gets: no file may grow past
        //  1 MiB, and a write past it fails with EFBIG instead of a signal
        tm_cachedb_t *db = s_open (dir, 0);
        if (s_put (db, TM_CACHEDB_ENTRY, 1, S_VALUE))
            _exit (10);
        signal (SIGXFSZ, SIG_IGN);
        struct rlimit limit = { 1024 * 1024, 1024 * 1024 };
        if (setrlimit (RLIMIT_FSIZE, &limit))
            _exit (11);
        int failed_at = -1;
        for (int n = 2; n < 200 && failed_at < 0; n++)
            if (s_put (db, TM_CACHEDB_ENTRY, n, 64 * 1024))
                failed_at = n;
        if (failed_at < 0)
            _exit (12);
        tm_cachedb_stats_t stats = s_stats (db);
        int code = !stats.degraded ? 13
                 : stats.errors != 1 ? 14
                 : s_put (db, TM_CACHEDB_ENTRY, 500, 10) != -1 ? 15
                 : s_stats (db).errors != 1 ? 16        //  Dropped, not retried
                 : s_get (db, TM_CACHEDB_ENTRY, 1, S_VALUE) ? 17 : 0;
        tm_cachedb_destroy (&db);
        _exit (code);
    }
    int status;
    cr_assert_eq (waitpid (pid, &status, 0), pid);
    cr_assert (WIFEXITED (status), "the child died of signal %d", WTERMSIG (status));
    cr_assert_eq (WEXITSTATUS (status), 0, "child failed check %d", WEXITSTATUS (status));
    //  Afterwards (space again) the share opens and holds what was written
    tm_cachedb_t *db = s_open (dir, 0);
    cr_assert_not (s_stats (db).degraded);
    cr_assert (s_get (db, TM_CACHEDB_ENTRY, 1, S_VALUE));
    s_seen_t seen = s_each (db, 0, 0);
    cr_assert_eq (seen.bytes, s_stats (db).bytes, "counters match the values");
    tm_cachedb_destroy (&db);
    tmu_rmrf (dir);
    free (dir);
}
