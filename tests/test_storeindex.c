/*  test_storeindex.c - the content store's bounds (tm_storeindex): a cap,
    least recently used out first, copies we do not own before owned
    blobs, and never a pinned blob.

    Blobs are real files in a scratch store; their last use before the
    index is made is set through their atime, as a previous agent (or
    the CLI) would have left it.
*/
#include "tm_testutil.h"
#include "tm_storeindex.h"
#include "tm_task.h"
#include <dirent.h>

#define S_BLOBS 4
#define S_SIZE  1000

static char *s_dir;
static tm_store_t *s_store;
static char s_hex [S_BLOBS][TM_STORE_HEX];

static void
s_teardown (void)
{
    tm_store_destroy (&s_store);
    if (s_dir) {
        tmu_rmrf (s_dir);
        free (s_dir);
        s_dir = NULL;
    }
}

TestSuite (storeindex, .fini = s_teardown);

//  Adds a blob of SIZE bytes seeded by SEED; its digest into HEX.
static void
s_add (int seed, size_t size, char hex [TM_STORE_HEX])
{
    char path [4200];
    snprintf (path, sizeof path, "%s/file-%d", s_dir, seed);
    FILE *file = fopen (path, "wb");
    cr_assert_not_null (file);
    for (size_t i = 0; i < size; i++)
        fputc ((int) ((i * 13 + (size_t) seed * 101) & 0xff), file);
    fclose (file);
    uint64_t stored;
    bool exec;
    char *err = NULL;
    cr_assert_eq (tm_store_add_file (s_store, path, hex, &stored, &exec, &err), 0, "%s", err);
    unlink (path);
}

//  Sets blob HEX's last use (atime) to AGO seconds before now.
static void
s_used_ago (const char *hex, double ago)
{
    char path [4200];
    snprintf (path, sizeof path, "%s/%s", tm_store_dir (s_store), hex);
    double when = tm_wall_now () - ago;
    struct timespec times [2] = {
        { .tv_sec = (time_t) when, .tv_nsec = (long) ((when - (time_t) when) * 1e9) },
        { .tv_nsec = UTIME_OMIT }
    };
    cr_assert_eq (utimensat (AT_FDCWD, path, times, 0), 0);
}

static bool
s_present (const char *hex)
{
    return tm_store_has (s_store, hex, S_SIZE);
}

//  A store of S_BLOBS blobs of S_SIZE bytes, blob 0 used longest ago.
static void
s_setup (void)
{
    s_dir = tmu_scratch ();
    char *err = NULL;
    s_store = tm_store_new (s_dir, &err);
    cr_assert_not_null (s_store, "%s", err);
    for (int i = 0; i < S_BLOBS; i++) {
        s_add (i, S_SIZE, s_hex [i]);
        s_used_ago (s_hex [i], 1000.0 - i * 100);
    }
}

static void
s_count_evicted (const char *hex, void *arg)
{
    (*(int *) arg)++;
}

Test (storeindex, index_made_on_a_store_knows_its_blobs_bytes_and_cap)
{
    s_setup ();
    tm_storeindex_t *index = tm_storeindex_new (s_store, 0);
    tm_storeindex_stats_t stats;
    tm_storeindex_stats (index, &stats);
    cr_assert_eq (stats.blobs, S_BLOBS);
    cr_assert_eq (stats.bytes, S_BLOBS * S_SIZE);
    cr_assert_eq (stats.cap, TM_STOREINDEX_CAP_DEFAULT);
    cr_assert_eq (stats.evicted, 0);
    cr_assert_not (tm_storeindex_over (index));
    cr_assert_eq (tm_storeindex_evict (index, NULL, NULL), 0);
    for (int i = 0; i < S_BLOBS; i++)
        cr_assert (tm_storeindex_has (index, s_hex [i]));
    tm_storeindex_destroy (&index);
    tm_storeindex_destroy (&index);     //  Idempotent
    cr_assert_null (index);
}

Test (storeindex, cap_evicts_least_recently_used_first_and_calls_back)
{
    s_setup ();
    tm_storeindex_t *index = tm_storeindex_new (s_store, 2 * S_SIZE + S_SIZE / 2);
    cr_assert (tm_storeindex_over (index));
    int called = 0;
    cr_assert_eq (tm_storeindex_evict (index, s_count_evicted, &called), 2);
    cr_assert_eq (called, 2);
    cr_assert_not (s_present (s_hex [0]));
    cr_assert_not (s_present (s_hex [1]));
    cr_assert (s_present (s_hex [2]));
    cr_assert (s_present (s_hex [3]));
    cr_assert_not (tm_storeindex_has (index, s_hex [0]));
    tm_storeindex_stats_t stats;
    tm_storeindex_stats (index, &stats);
    cr_assert_eq (stats.bytes, 2 * S_SIZE);
    cr_assert_eq (stats.blobs, 2);
    cr_assert_eq (stats.evicted, 2);
    cr_assert_eq (stats.evicted_bytes, 2 * S_SIZE);
    cr_assert_not (tm_storeindex_over (index));
    tm_storeindex_destroy (&index);
}

Test (storeindex, use_moves_a_blob_to_the_back_of_the_line)
{
    s_setup ();
    tm_storeindex_t *index = tm_storeindex_new (s_store, 2 * S_SIZE);
    cr_assert_eq (tm_storeindex_touch (index, s_hex [0]), 0);
    cr_assert_eq (tm_storeindex_evict (index, NULL, NULL), 2);
    cr_assert (s_present (s_hex [0]), "the blob just used was evicted");
    cr_assert_not (s_present (s_hex [1]));
    cr_assert_not (s_present (s_hex [2]));
    cr_assert (s_present (s_hex [3]));
    tm_storeindex_destroy (&index);
}

Test (storeindex, pinned_blob_is_never_evicted_even_over_the_cap)
{
    s_setup ();
    tm_storeindex_t *index = tm_storeindex_new (s_store, S_SIZE + S_SIZE / 2);
    tm_storeindex_pin (index, s_hex [0]);
    tm_storeindex_pin (index, s_hex [1]);
    tm_storeindex_pin (index, s_hex [1]);
    cr_assert_eq (tm_storeindex_pins (index, s_hex [1]), 2);
    //  Everything unpinned goes, and the store stays over its cap
    cr_assert_eq (tm_storeindex_evict (index, NULL, NULL), 2);
    cr_assert (s_present (s_hex [0]) && s_present (s_hex [1]));
    cr_assert (tm_storeindex_over (index));
    tm_storeindex_stats_t stats;
    tm_storeindex_stats (index, &stats);
    cr_assert_eq (stats.pinned_bytes, 2 * S_SIZE);
    //  Once unpinned (each pin undone), it goes too
    tm_storeindex_unpin (index, s_hex [1]);
    cr_assert_eq (tm_storeindex_evict (index, NULL, NULL), 0);
    tm_storeindex_unpin (index, s_hex [1]);
    cr_assert_eq (tm_storeindex_evict (index, NULL, NULL), 1);
    cr_assert_not (s_present (s_hex [1]));
    cr_assert (s_present (s_hex [0]));
    cr_assert_not (tm_storeindex_over (index));
    tm_storeindex_destroy (&index);
}

Test (storeindex, pin_taken_before_the_blob_arrives_holds_once_it_is_there)
{
    s_setup ();
    tm_storeindex_t *index = tm_storeindex_new (s_store, S_SIZE);
    char hex [TM_STORE_HEX];
    tm_store_digest ("not here yet", 12, hex);
    //  A task waiting for a fetch pins what it needs
    char late [TM_STORE_HEX];
    //  The digest of what s_add (9) will write, pinned before it exists
    char path [4200];
    snprintf (path, sizeof path, "%s/late", s_dir);
    FILE *file = fopen (path, "wb");
    for (size_t i = 0; i < S_SIZE; i++)
        fputc ((int) ((i * 13 + 9 * 101) & 0xff), file);
    fclose (file);
    char *content = tmu_slurp (path);
    tm_store_digest (content, S_SIZE, late);
    free (content);
    unlink (path);
    tm_storeindex_pin (index, late);
    cr_assert_not (tm_storeindex_has (index, late));
    cr_assert_eq (tm_storeindex_touch (index, hex), -1, "a blob not in the store was touched");
    char added [TM_STORE_HEX];
    s_add (9, S_SIZE, added);
    cr_assert_str_eq (added, late);
    cr_assert_eq (tm_storeindex_touch (index, late), 0);
    //  Newest, but pinned: the four older ones go, it stays
    tm_storeindex_evict (index, NULL, NULL);
    cr_assert (tm_store_has (s_store, late, S_SIZE));
    for (int i = 0; i < S_BLOBS; i++)
        cr_assert_not (s_present (s_hex [i]));
    tm_storeindex_unpin (index, late);
    tm_storeindex_destroy (&index);
}

Test (storeindex, copies_we_do_not_own_go_before_owned_blobs)
{
    s_setup ();
    tm_storeindex_t *index = tm_storeindex_new (s_store, 2 * S_SIZE);
    tm_storeindex_set_owned (index, s_hex [0], true);
    tm_storeindex_set_owned (index, s_hex [1], true);
    cr_assert (tm_storeindex_owned (index, s_hex [0]));
    cr_assert_not (tm_storeindex_owned (index, s_hex [2]));
    //  The two copies go, though used after the owned ones
    cr_assert_eq (tm_storeindex_evict (index, NULL, NULL), 2);
    cr_assert (s_present (s_hex [0]) && s_present (s_hex [1]));
    cr_assert_not (s_present (s_hex [2]) || s_present (s_hex [3]));
    //  Then owned ones, oldest first: the cap wins over the replicas
    tm_storeindex_destroy (&index);
    index = tm_storeindex_new (s_store, S_SIZE);
    tm_storeindex_set_owned (index, s_hex [0], true);
    tm_storeindex_set_owned (index, s_hex [1], true);
    cr_assert_eq (tm_storeindex_evict (index, NULL, NULL), 1);
    cr_assert_not (s_present (s_hex [0]));
    cr_assert (s_present (s_hex [1]));
    tm_storeindex_destroy (&index);
}

Test (storeindex, room_for_counts_only_owned_and_pinned_bytes)
{
    s_setup ();
    tm_storeindex_t *index = tm_storeindex_new (s_store, 3 * S_SIZE);
    //  Four copies nobody needs: each could be evicted to make room
    cr_assert (tm_storeindex_room_for (index, 3 * S_SIZE));
    cr_assert_not (tm_storeindex_room_for (index, 3 * S_SIZE + 1));
    tm_storeindex_set_owned (index, s_hex [0], true);
    tm_storeindex_pin (index, s_hex [1]);
    cr_assert (tm_storeindex_room_for (index, S_SIZE));
    cr_assert_not (tm_storeindex_room_for (index, S_SIZE + 1));
    tm_storeindex_pin (index, s_hex [0]);       //  Owned and pinned counts once
    cr_assert (tm_storeindex_room_for (index, S_SIZE));
    tm_storeindex_unpin (index, s_hex [0]);
    tm_storeindex_unpin (index, s_hex [1]);
    cr_assert (tm_storeindex_room_for (index, 2 * S_SIZE));
    tm_storeindex_destroy (&index);
}

Test (storeindex, blob_another_process_used_since_is_kept)
{
    s_setup ();
    tm_storeindex_t *index = tm_storeindex_new (s_store, 3 * S_SIZE);
    //  The CLI adds a run's files: blob 0 is present, so it only marks
    //  it used, as tm_store_add_file does
    char again [TM_STORE_HEX];
    s_add (0, S_SIZE, again);
    cr_assert_str_eq (again, s_hex [0]);
    cr_assert_eq (tm_storeindex_evict (index, NULL, NULL), 1);
    cr_assert (s_present (s_hex [0]), "a blob the CLI just added was evicted");
    cr_assert_not (s_present (s_hex [1]));
    tm_storeindex_destroy (&index);
}

Test (storeindex, scan_finds_blobs_added_and_forgets_blobs_removed_behind_its_back)
{
    s_setup ();
    tm_storeindex_t *index = tm_storeindex_new (s_store, 0);
    char added [TM_STORE_HEX];
    s_add (7, S_SIZE, added);
    cr_assert_not (tm_storeindex_has (index, added));
    cr_assert_eq (tm_store_remove (s_store, s_hex [2]), 0);
    cr_assert_eq (tm_storeindex_scan (index), 1);
    cr_assert (tm_storeindex_has (index, added));
    cr_assert_not (tm_storeindex_has (index, s_hex [2]));
    tm_storeindex_stats_t stats;
    tm_storeindex_stats (index, &stats);
    cr_assert_eq (stats.blobs, S_BLOBS);
    cr_assert_eq (stats.bytes, S_BLOBS * S_SIZE);
    cr_assert_eq (stats.evicted, 0, "a blob removed by someone else counted as evicted");
    //  Temporary files and strangers are not blobs
    char path [4200];
    snprintf (path, sizeof path, "%s/tmp.abcdef", tm_store_dir (s_store));
    tmu_write (path, "half a blob");
    snprintf (path, sizeof path, "%s/README", tm_store_dir (s_store));
    tmu_write (path, "not a blob");
    cr_assert_eq (tm_storeindex_scan (index), 0);
    tm_storeindex_destroy (&index);
}

Test (storeindex, blob_removed_behind_its_back_is_forgotten_by_eviction)
{
    s_setup ();
    tm_storeindex_t *index = tm_storeindex_new (s_store, 3 * S_SIZE);
    cr_assert_eq (tm_store_remove (s_store, s_hex [0]), 0);
    //  Blob 0 was the one to go; it is gone already, so nothing is evicted
    cr_assert_eq (tm_storeindex_evict (index, NULL, NULL), 0);
    cr_assert_not (tm_storeindex_over (index));
    cr_assert (s_present (s_hex [1]));
    tm_storeindex_destroy (&index);
}

Test (storeindex, order_of_use_survives_a_new_index)
{
    s_setup ();
    tm_storeindex_t *index = tm_storeindex_new (s_store, 0);
    cr_assert_eq (tm_storeindex_touch (index, s_hex [0]), 0);
    tm_storeindex_destroy (&index);
    //  An agent restarted: the blob used last is still the newest
    index = tm_storeindex_new (s_store, S_SIZE);
    cr_assert_eq (tm_storeindex_evict (index, NULL, NULL), 3);
    cr_assert (s_present (s_hex [0]));
    tm_storeindex_destroy (&index);
}

typedef struct {
    tm_storeindex_t *index;
    int count;
    uint64_t bytes;
} s_seen_t;

static void
s_mark (const char *hex, uint64_t size, bool exec, void *arg)
{
    s_seen_t *seen = (s_seen_t *) arg;
    seen->count++;
    seen->bytes += size;
    cr_assert_not (exec);
    tm_storeindex_set_owned (seen->index, hex, true);
}

Test (storeindex, each_reports_every_blob_and_may_mark_ownership)
{
    s_setup ();
    tm_storeindex_t *index = tm_storeindex_new (s_store, 0);
    s_seen_t seen = { index, 0, 0 };
    tm_storeindex_each (index, s_mark, &seen);
    cr_assert_eq (seen.count, S_BLOBS);
    cr_assert_eq (seen.bytes, S_BLOBS * S_SIZE);
    tm_storeindex_stats_t stats;
    tm_storeindex_stats (index, &stats);
    cr_assert_eq (stats.owned_bytes, S_BLOBS * S_SIZE);
    tm_storeindex_destroy (&index);
}

