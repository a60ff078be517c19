/*  tm_cachedb.c - one member's share of the result cache, in RocksDB.

    Layout of DATADIR/cache (one column family; every key starts with a
    one-byte prefix, so each kind of key is a contiguous range):

        'e' K (33 bytes)          -> entry value, the caller's bytes
        'r' I (33 bytes)          -> record value, the caller's bytes
        'u' kind key (34 bytes)   -> use: last-use seq (be64), counted bytes (be64)
        'a' seq (be64, 9 bytes)   -> age index: kind key (33 bytes)
        't' id (33 bytes)         -> tombstone value
        'm'                       -> meta: version, entries, records,
                                     tombstones, bytes (each be64)

    Invariants (each write is one atomic WriteBatch that keeps them):
      1. Every value 'e'/'r' X has exactly one use 'u' X, and the other
         way round; its counted bytes are 32 + the value's size.
      2. Every use 'u' X with seq S has the age entry 'a' S -> X; no
         other age entry names X.  Seqs only grow: the age index in key
         order is the LRU order, oldest first.
      3. 'm' holds the counts and the sum of counted bytes of 1., and
         the number of tombstones.  On open it is read back (a missing
         or malformed meta is recomputed by scanning the uses).
      4. bytes <= cap after every put and gc that succeeded.
    A get moves its value to the young end of the age index: delete 'a'
    old, put 'a' new, put 'u'.  That costs eight to ten times the get's
    own read (a read of the use and three writes at random places in
    the memtable, about 10 us), so a get only notes its key; the uses
    are made later, in one write per step:
      - A noted use waits S_TOUCH_DELAY, for the next use of the same
        value: a value used again is noted again, at the end, and its
        earlier note dropped (the index of notes), so a value used many
        times in a burst (a suite looked up again, the same key asked
        by several runs) is moved once, to where its last use puts it.
      - tm_cachedb_idle makes the due ones, S_IDLE_STEP at a time, when
        the owner has nothing else to do; all are made before anything
        that needs the age order (a put that evicts, gc, flush, destroy)
        and, S_IDLE_STEP of them, when S_TOUCH_MAX distinct values wait.
    So the LRU order is exact whenever it is used; only a lookup's answer
    no longer waits for it.  A crash loses the noted uses (at most
    S_TOUCH_MAX, from the last few seconds), never a value or a counter.
    Uses are always written in the step that makes them: nothing between
    steps is unwritten, so reads need no read-through of a batch.
*/
#include "tm_cachedb.h"
#include <errno.h>
#include <math.h>
#include <rocksdb/c.h>
#include <sodium.h>
#include <sys/stat.h>

#define S_DEFAULT_CAP   (1024ULL * 1024 * 1024)
#define S_TOUCH_MAX     16384       //  Notes (of distinct values) kept
#define S_TOUCH_SLOTS   (2 * S_TOUCH_MAX)       //  Slots of their index (power of 2)
#define S_TOUCH_DELAY   2.0         //  s a note waits for another use of its
                                    //  value (default of use_delay)
#define S_IDLE_STEP     16          //  Notes made at once: about 0.15 ms, what a
                                    //  request may wait for an idle step
#define S_META_VERSION  1
#define S_VALUE_KEY     (1 + TM_CACHEDB_KEY)
#define S_USE_KEY       (2 + TM_CACHEDB_KEY)
#define S_AGE_KEY       9
#define S_USE_SIZE      16

//  A get noted, whose use is not made yet.
typedef struct {
    uint8_t kind;                   //  tm_cachedb_kind_t
    bool live;                      //  Not made, nor noted again later
    uint8_t key [TM_CACHEDB_KEY];
    double noted;                   //  When (tm_now ())
} s_note_t;

struct _tm_cachedb_t {
    char *path;                     //  DATADIR/cache
    rocksdb_t *db;                  //  The open database, NULL if it failed
    rocksdb_options_t *options;     //  Its options
    rocksdb_readoptions_t *read;    //  Default read options
    rocksdb_writeoptions_t *write;  //  Default write options
    s_note_t *notes;                //  Gets noted, their uses not made, oldest
                                    //  first (allocated at the first get)
    size_t notes_size;              //  Notes, dead ones included
    size_t notes_done;              //  The first ones, all dead
    uint32_t *note_slots;           //  Index: (kind, key) -> 1 + its last note;
                                    //  0 free (open addressing, linear probes)
    uint8_t note_hash_key [crypto_shorthash_KEYBYTES];  //  Of the index
    double use_delay;               //  s a note waits (S_TOUCH_DELAY)
    uint64_t next_seq;              //  Next last-use sequence number
    char *reason;                   //  Why degraded, NULL if not
    tm_cachedb_stats_t stats;       //  Counters, as reported
};

//  Counts a write changes, applied to stats once it committed.
typedef struct {
    uint64_t entries;
    uint64_t records;
    uint64_t tombstones;
    uint64_t bytes;
} s_counts_t;

// ---------------------------------------------------------------- keys

static void
s_be64_put (uint8_t *out, uint64_t value)
{
    for (int i = 7; i >= 0; i--, value >>= 8)
        out [i] = (uint8_t) value;
}

static uint64_t
s_be64_get (const uint8_t *in)
{
    uint64_t value = 0;
    for (int i = 0; i < 8; i++)
        value = (value << 8) | in [i];
    return value;
}

static void
s_value_key (tm_cachedb_kind_t kind, const uint8_t *key, char out [S_VALUE_KEY])
{
    out [0] = (char) kind;
    memcpy (out + 1, key, TM_CACHEDB_KEY);
}

static void
s_use_key (tm_cachedb_kind_t kind, const uint8_t *key, char out [S_USE_KEY])
{
    out [0] = 'u';
    out [1] = (char) kind;
    memcpy (out + 2, key, TM_CACHEDB_KEY);
}

static void
s_age_key (uint64_t seq, char out [S_AGE_KEY])
{
    out [0] = 'a';
    s_be64_put ((uint8_t *) out + 1, seq);
}

static uint64_t *
s_count_of (s_counts_t *counts, tm_cachedb_kind_t kind)
{
    return kind == TM_CACHEDB_ENTRY ? &counts->entries : &counts->records;
}

static s_counts_t
s_counts (tm_cachedb_t *self)
{
    s_counts_t counts = { self->stats.entries, self->stats.records,
                          self->stats.tombstones, self->stats.bytes };
    return counts;
}

// ---------------------------------------------------------------- failure

//  Takes the share out of service: logs REASON once, as an error.
static void
s_degrade (tm_cachedb_t *self, const char *what, const char *detail)
{
    if (self->reason)
        return;
    self->reason = tm_strdupf ("%s %s: %s", what, self->path, detail);
    self->stats.degraded = true;
    tm_error ("cache", "%s; caching is off on this member until restarted", self->reason);
}

//  Counts and reports a failed read or write, freeing RocksDB's error.
static void
s_failed (tm_cachedb_t *self, const char *what, char **rocks_err)
{
    self->stats.errors++;
    s_degrade (self, what, *rocks_err ? *rocks_err : "unknown error");
    free (*rocks_err);
    *rocks_err = NULL;
}

static bool
s_usable (tm_cachedb_t *self)
{
    return self->db && !self->reason;
}

static bool
s_writable (tm_cachedb_t *self)
{
    return s_usable (self) && !self->stats.readonly;
}

// ---------------------------------------------------------------- reads and writes

//  Reads KEY: returns its value (size in *SIZE_P, caller frees), or NULL
//  if absent.  *FAILED is set on a read error (the share is degraded).
static char *
s_read (tm_cachedb_t *self, const char *key, size_t key_size, size_t *size_p, bool *failed)
{
    char *rocks_err = NULL;
    size_t size = 0;
    char *value = rocksdb_get (self->db, self->read, key, key_size, &size, &rocks_err);
    if (rocks_err) {
        s_failed (self, "cannot read", &rocks_err);
        free (value);
        *failed = true;
        return NULL;
    }
    *size_p = size;
    return value;
}

//  Reads the use of (KIND, KEY).  Returns 0 with *SEQ and *COUNTED, or
//  -1 if it has none (or on a read error: then *FAILED is set).
static int
s_read_use (tm_cachedb_t *self, tm_cachedb_kind_t kind, const uint8_t *key,
            uint64_t *seq, uint64_t *counted, bool *failed)
{
    char use_key [S_USE_KEY];
    s_use_key (kind, key, use_key);
    size_t size = 0;
    char *value = s_read (self, use_key, sizeof use_key, &size, failed);
    int rc = -1;
    if (value && size == S_USE_SIZE) {
        *seq = s_be64_get ((const uint8_t *) value);
        *counted = s_be64_get ((const uint8_t *) value + 8);
        rc = 0;
    }
    free (value);
    return rc;
}

static void
s_meta_put (rocksdb_writebatch_t *batch, const s_counts_t *counts)
{
    uint8_t meta [40];
    s_be64_put (meta, S_META_VERSION);
    s_be64_put (meta + 8, counts->entries);
    s_be64_put (meta + 16, counts->records);
    s_be64_put (meta + 24, counts->tombstones);
    s_be64_put (meta + 32, counts->bytes);
    rocksdb_writebatch_put (batch, "m", 1, (const char *) meta, sizeof meta);
}

//  Writes BATCH with COUNTS as the new meta, then makes COUNTS current.
//  Destroys BATCH.  Returns 0, or -1 on a write error (degraded).
static int
s_commit (tm_cachedb_t *self, rocksdb_writebatch_t **batch_p, const s_counts_t *counts)
{
    rocksdb_writebatch_t *batch = *batch_p;
    s_meta_put (batch, counts);
    char *rocks_err = NULL;
    rocksdb_write (self->db, self->write, batch, &rocks_err);
    rocksdb_writebatch_destroy (batch);
    *batch_p = NULL;
    if (rocks_err) {
        s_failed (self, "cannot write", &rocks_err);
        return -1;
    }
    self->stats.entries = counts->entries;
    self->stats.records = counts->records;
    self->stats.tombstones = counts->tombstones;
    self->stats.bytes = counts->bytes;
    return 0;
}

// ---------------------------------------------------------------- uses of gets

//  The slot of the index for (KIND, KEY): the one that holds its last
//  note, or the free one where it would go.  Hashed with a key of our
//  own (SipHash): keys come from members, who could choose them to
//  collide in a hash they can compute.
static uint32_t *
s_note_slot (tm_cachedb_t *self, tm_cachedb_kind_t kind, const uint8_t *key)
{
    uint8_t hash [crypto_shorthash_BYTES];
    crypto_shorthash (hash, key, TM_CACHEDB_KEY, self->note_hash_key);
    uint64_t bits;
    memcpy (&bits, hash, sizeof bits);
    size_t at = (size_t) (bits ^ kind) & (S_TOUCH_SLOTS - 1);
    while (self->note_slots [at]) {
        const s_note_t *note = &self->notes [self->note_slots [at] - 1];
        if (note->kind == kind && memcmp (note->key, key, TM_CACHEDB_KEY) == 0)
            break;
        at = (at + 1) & (S_TOUCH_SLOTS - 1);
    }
    return &self->note_slots [at];
}

//  Drops the dead notes (made, or noted again later) and rebuilds the
//  index of the live ones, which keep their order.
static void
s_notes_compact (tm_cachedb_t *self)
{
    size_t live = 0;
    for (size_t i = self->notes_done; i < self->notes_size; i++)
        if (self->notes [i].live)
            self->notes [live++] = self->notes [i];
    self->notes_size = live;
    self->notes_done = 0;
    memset (self->note_slots, 0, S_TOUCH_SLOTS * sizeof (uint32_t));
    for (size_t i = 0; i < live; i++)
        *s_note_slot (self, (tm_cachedb_kind_t) self->notes [i].kind, self->notes [i].key)
            = (uint32_t) (i + 1);
}

//  Skips the dead notes at the front; returns the oldest live one, or NULL.
static s_note_t *
s_notes_front (tm_cachedb_t *self)
{
    while (self->notes_done < self->notes_size && !self->notes [self->notes_done].live)
        self->notes_done++;
    if (self->notes_done == self->notes_size) {
        //  All made: start again from an empty list and index
        if (self->notes_size)
            memset (self->note_slots, 0, S_TOUCH_SLOTS * sizeof (uint32_t));
        self->notes_size = self->notes_done = 0;
        return NULL;
    }
    return &self->notes [self->notes_done];
}

//  Adds to BATCH the use of (KIND, KEY), just read: it becomes the most
//  recently used value.
static void
s_touch (tm_cachedb_t *self, rocksdb_writebatch_t *batch, tm_cachedb_kind_t kind,
         const uint8_t *key)
{
    uint64_t seq, counted;
    bool failed = false;
    if (s_read_use (self, kind, key, &seq, &counted, &failed))
        return;                 //  Gone since (deleted, evicted)
    char age_key [S_AGE_KEY], use_key [S_USE_KEY], value_key [S_VALUE_KEY];
    uint8_t use [S_USE_SIZE];
    s_age_key (seq, age_key);
    rocksdb_writebatch_delete (batch, age_key, sizeof age_key);
    seq = self->next_seq++;
    s_age_key (seq, age_key);
    s_value_key (kind, key, value_key);
    rocksdb_writebatch_put (batch, age_key, sizeof age_key, value_key, sizeof value_key);
    s_use_key (kind, key, use_key);
    s_be64_put (use, seq);
    s_be64_put (use + 8, counted);
    rocksdb_writebatch_put (batch, use_key, sizeof use_key, (const char *) use, sizeof use);
}

//  Makes the uses of up to MAX notes, oldest first, of those noted at or
//  before DUE, and writes them at once.  Returns 0, or -1 on a write
//  error (degraded).
static int
s_apply_touches (tm_cachedb_t *self, size_t max, double due)
{
    rocksdb_writebatch_t *batch = rocksdb_writebatch_create ();
    s_note_t *note;
    while (max && s_usable (self) && (note = s_notes_front (self)) && note->noted <= due) {
        s_touch (self, batch, (tm_cachedb_kind_t) note->kind, note->key);
        note->live = false;
        max--;
    }
    int rc = 0;
    if (rocksdb_writebatch_count (batch) && s_usable (self)) {
        char *rocks_err = NULL;
        rocksdb_write (self->db, self->write, batch, &rocks_err);
        if (rocks_err) {
            s_failed (self, "cannot write", &rocks_err);
            rc = -1;
        }
    }
    rocksdb_writebatch_destroy (batch);
    return s_usable (self) ? rc : -1;
}

//  Makes the uses of every noted get: before anything that needs the
//  age order.  Returns 0, or -1 (degraded).
static int
s_flush_uses (tm_cachedb_t *self)
{
    while (s_usable (self) && s_notes_front (self))
        if (s_apply_touches (self, SIZE_MAX, INFINITY))
            return -1;
    return s_usable (self) ? 0 : -1;
}

//  Notes a get of (KIND, KEY): its use is made later (banner).
static void
s_note (tm_cachedb_t *self, tm_cachedb_kind_t kind, const uint8_t *key)
{
    if (!self->notes) {
        self->notes = (s_note_t *) malloc (S_TOUCH_MAX * sizeof (s_note_t));
        self->note_slots = (uint32_t *) calloc (S_TOUCH_SLOTS, sizeof (uint32_t));
        assert (self->notes && self->note_slots);
    }
    if (self->notes_size == S_TOUCH_MAX) {
        s_notes_compact (self);
        if (self->notes_size == S_TOUCH_MAX) {
            //  As many values wait as we keep: the oldest are made now
            s_apply_touches (self, S_IDLE_STEP, INFINITY);
            s_notes_compact (self);
        }
        if (self->notes_size == S_TOUCH_MAX)
            return;             //  Degraded meanwhile
    }
    uint32_t *slot = s_note_slot (self, kind, key);
    if (*slot)
        self->notes [*slot - 1].live = false;   //  Noted again: this one counts
    s_note_t *note = &self->notes [self->notes_size++];
    note->kind = (uint8_t) kind;
    note->live = true;
    memcpy (note->key, key, TM_CACHEDB_KEY);
    note->noted = tm_now ();
    *slot = (uint32_t) self->notes_size;
}

//  Adds to BATCH the eviction of least recently used values until
//  COUNTS->bytes is at most TARGET, skipping (SKIP_KIND, SKIP_KEY) if
//  given (a value being replaced, whose age entry BATCH already
//  deletes).  Pending uses must have been flushed.  Returns how many
//  values it evicts; *FAILED on a read error.
static size_t
s_evict (tm_cachedb_t *self, rocksdb_writebatch_t *batch, uint64_t target, s_counts_t *counts,
         tm_cachedb_kind_t skip_kind, const uint8_t *skip_key, bool *failed)
{
    size_t evicted = 0;
    rocksdb_iterator_t *iter = rocksdb_create_iterator (self->db, self->read);
    for (rocksdb_iter_seek (iter, "a", 1);
         counts->bytes > target && rocksdb_iter_valid (iter) && !*failed;
         rocksdb_iter_next (iter)) {
        size_t key_size, size;
        const char *age_key = rocksdb_iter_key (iter, &key_size);
        if (key_size == 0 || age_key [0] != 'a')
            break;
        const char *value = rocksdb_iter_value (iter, &size);
        tm_cachedb_kind_t kind = size == S_VALUE_KEY ? (tm_cachedb_kind_t) value [0] : 0;
        if (key_size != S_AGE_KEY
        ||  (kind != TM_CACHEDB_ENTRY && kind != TM_CACHEDB_RECORD)) {
            rocksdb_writebatch_delete (batch, age_key, key_size);   //  Not ours: drop
            continue;
        }
        const uint8_t *key = (const uint8_t *) value + 1;
        if (skip_key && kind == skip_kind && memcmp (key, skip_key, TM_CACHEDB_KEY) == 0)
            continue;
        uint64_t seq, counted;
        uint64_t age = s_be64_get ((const uint8_t *) age_key + 1);
        if (s_read_use (self, kind, key, &seq, &counted, failed) || seq != age) {
            //  Stale age entry (invariant 2 says none): drop it
            rocksdb_writebatch_delete (batch, age_key, key_size);
            continue;
        }
        char value_key [S_VALUE_KEY], use_key [S_USE_KEY];
        s_value_key (kind, key, value_key);
        s_use_key (kind, key, use_key);
        rocksdb_writebatch_delete (batch, value_key, sizeof value_key);
        rocksdb_writebatch_delete (batch, use_key, sizeof use_key);
        rocksdb_writebatch_delete (batch, age_key, key_size);
        counts->bytes -= counted < counts->bytes ? counted : counts->bytes;
        uint64_t *count = s_count_of (counts, kind);
        *count -= *count > 0;
        evicted++;
    }
    char *rocks_err = NULL;
    rocksdb_iter_get_error (iter, &rocks_err);
    if (rocks_err) {
        s_failed (self, "cannot read", &rocks_err);
        *failed = true;
    }
    rocksdb_iter_destroy (iter);
    return evicted;
}

// ---------------------------------------------------------------- open

//  Recomputes the counts by scanning uses and tombstones (invariant 3).
static int
s_recount (tm_cachedb_t *self, s_counts_t *counts)
{
    memset (counts, 0, sizeof *counts);
    rocksdb_iterator_t *iter = rocksdb_create_iterator (self->db, self->read);
    for (rocksdb_iter_seek (iter, "t", 1); rocksdb_iter_valid (iter); rocksdb_iter_next (iter)) {
        size_t key_size, size;
        const char *key = rocksdb_iter_key (iter, &key_size);
        if (key [0] != 't' && key [0] != 'u')
            break;
        if (key [0] == 't')
            counts->tombstones++;
        else {
            const char *value = rocksdb_iter_value (iter, &size);
            if (key_size != S_USE_KEY || size != S_USE_SIZE
            ||  (key [1] != TM_CACHEDB_ENTRY && key [1] != TM_CACHEDB_RECORD))
                continue;
            (*s_count_of (counts, (tm_cachedb_kind_t) key [1]))++;
            counts->bytes += s_be64_get ((const uint8_t *) value + 8);
        }
    }
    char *rocks_err = NULL;
    rocksdb_iter_get_error (iter, &rocks_err);
    rocksdb_iter_destroy (iter);
    if (rocks_err) {
        s_failed (self, "cannot read", &rocks_err);
        return -1;
    }
    return 0;
}

//  Reads the counters and the next seq of an open database.
static void
s_load (tm_cachedb_t *self)
{
    bool failed = false;
    size_t size = 0;
    char *meta = s_read (self, "m", 1, &size, &failed);
    if (failed)
        return;
    s_counts_t counts;
    if (meta && size == 40 && s_be64_get ((const uint8_t *) meta) == S_META_VERSION) {
        counts.entries = s_be64_get ((const uint8_t *) meta + 8);
        counts.records = s_be64_get ((const uint8_t *) meta + 16);
        counts.tombstones = s_be64_get ((const uint8_t *) meta + 24);
        counts.bytes = s_be64_get ((const uint8_t *) meta + 32);
        free (meta);
    }
    else {
        free (meta);
        if (s_recount (self, &counts))
            return;
        if (!self->stats.readonly) {
            rocksdb_writebatch_t *batch = rocksdb_writebatch_create ();
            if (s_commit (self, &batch, &counts))
                return;
        }
    }
    self->stats.entries = counts.entries;
    self->stats.records = counts.records;
    self->stats.tombstones = counts.tombstones;
    self->stats.bytes = counts.bytes;

    //  The next seq follows the youngest age entry (invariant 2)
    self->next_seq = 1;
    char last [S_AGE_KEY];
    memset (last, 0xff, sizeof last);
    last [0] = 'a';
    rocksdb_iterator_t *iter = rocksdb_create_iterator (self->db, self->read);
    rocksdb_iter_seek_for_prev (iter, last, sizeof last);
    if (rocksdb_iter_valid (iter)) {
        size_t key_size;
        const char *key = rocksdb_iter_key (iter, &key_size);
        if (key_size == S_AGE_KEY && key [0] == 'a')
            self->next_seq = s_be64_get ((const uint8_t *) key + 1) + 1;
    }
    char *rocks_err = NULL;
    rocksdb_iter_get_error (iter, &rocks_err);
    rocksdb_iter_destroy (iter);
    if (rocks_err)
        s_failed (self, "cannot read", &rocks_err);
}

tm_cachedb_t *
tm_cachedb_new (const char *datadir, uint64_t cap, char **err)
{
    assert (datadir);
    if (sodium_init () < 0) {
        tm_fail (err, "cache: libsodium failed to initialise");
        return NULL;
    }
    char *path = tm_strdupf ("%s/cache", datadir);
    if (mkdir (datadir, 0700) != 0 && errno != EEXIST) {
        tm_fail (err, "cannot create %s: %s", datadir, strerror (errno));
        free (path);
        return NULL;
    }
    if (mkdir (path, 0700) != 0 && errno != EEXIST) {
        tm_fail (err, "cannot create %s: %s", path, strerror (errno));
        free (path);
        return NULL;
    }
    tm_cachedb_t *self = (tm_cachedb_t *) zmalloc (sizeof (tm_cachedb_t));
    self->path = path;
    self->stats.cap = cap ? cap : S_DEFAULT_CAP;
    self->options = rocksdb_options_create ();
    rocksdb_options_set_create_if_missing (self->options, 1);
    //  A CLI run opens and closes this every time: keep it small and quick
    rocksdb_options_set_max_open_files (self->options, 64);
    rocksdb_options_set_keep_log_file_num (self->options, 2);
    rocksdb_options_set_info_log_level (self->options, 4);  //  HEADER only
    self->read = rocksdb_readoptions_create ();
    self->write = rocksdb_writeoptions_create ();
    self->next_seq = 1;
    self->use_delay = S_TOUCH_DELAY;
    randombytes_buf (self->note_hash_key, sizeof self->note_hash_key);

    char *rocks_err = NULL;
    self->db = rocksdb_open (self->options, path, &rocks_err);
    if (!self->db && rocks_err && strstr (rocks_err, "lock")) {
        //  Another handle holds it (another process, or this one): read it
        free (rocks_err);
        rocks_err = NULL;
        self->db = rocksdb_open_for_read_only (self->options, path, 0, &rocks_err);
        self->stats.readonly = self->db != NULL;
        if (self->stats.readonly)
            tm_info ("cache", "%s is in use by another run; storing no results", path);
    }
    if (!self->db)
        s_failed (self, "cannot open", &rocks_err);
    else
        s_load (self);
    return self;
}

void
tm_cachedb_destroy (tm_cachedb_t **self_p)
{
    assert (self_p);
    tm_cachedb_t *self = *self_p;
    if (!self)
        return;
    if (s_writable (self))
        s_flush_uses (self);
    if (self->db)
        rocksdb_close (self->db);
    free (self->notes);
    free (self->note_slots);
    rocksdb_writeoptions_destroy (self->write);
    rocksdb_readoptions_destroy (self->read);
    rocksdb_options_destroy (self->options);
    free (self->reason);
    free (self->path);
    free (self);
    *self_p = NULL;
}

// ---------------------------------------------------------------- values

int
tm_cachedb_get (tm_cachedb_t *self, tm_cachedb_kind_t kind,
                const uint8_t key [TM_CACHEDB_KEY], char **value_p, size_t *size_p)
{
    assert (self && key && value_p && size_p);
    assert (kind == TM_CACHEDB_ENTRY || kind == TM_CACHEDB_RECORD);
    char *value = NULL;
    size_t size = 0;
    if (s_usable (self)) {
        char value_key [S_VALUE_KEY];
        s_value_key (kind, key, value_key);
        bool failed = false;
        value = s_read (self, value_key, sizeof value_key, &size, &failed);
    }
    if (!value) {
        if (kind == TM_CACHEDB_ENTRY)
            self->stats.misses++;
        return -1;
    }
    if (kind == TM_CACHEDB_ENTRY)
        self->stats.hits++;
    if (s_writable (self))
        s_note (self, kind, key);       //  Its use is made later (banner)
    *value_p = value;
    *size_p = size;
    return 0;
}

bool
tm_cachedb_has (tm_cachedb_t *self, tm_cachedb_kind_t kind, const uint8_t key [TM_CACHEDB_KEY])
{
    assert (self && key);
    assert (kind == TM_CACHEDB_ENTRY || kind == TM_CACHEDB_RECORD);
    if (!s_usable (self))
        return false;
    char value_key [S_VALUE_KEY];
    s_value_key (kind, key, value_key);
    bool failed = false;
    size_t size;
    char *value = s_read (self, value_key, sizeof value_key, &size, &failed);
    free (value);
    return value != NULL;
}

int
tm_cachedb_put (tm_cachedb_t *self, tm_cachedb_kind_t kind,
                const uint8_t key [TM_CACHEDB_KEY], const void *value, size_t size)
{
    assert (self && key && (value || size == 0));
    assert (kind == TM_CACHEDB_ENTRY || kind == TM_CACHEDB_RECORD);
    uint64_t counted = TM_CACHEDB_KEY + (uint64_t) size;
    if (!s_writable (self) || size == 0 || counted > self->stats.cap)
        return -1;
    //  Eviction reads the age order: only then must every noted use be
    //  in it.  (A note of this key, made after this put, moves the value
    //  from the put's place to a younger one: a little too young, never
    //  inconsistent.)
    if (self->stats.bytes > self->stats.cap - counted && s_flush_uses (self))
        return -1;

    rocksdb_writebatch_t *batch = rocksdb_writebatch_create ();
    s_counts_t counts = s_counts (self);
    char age_key [S_AGE_KEY], use_key [S_USE_KEY], value_key [S_VALUE_KEY];
    uint64_t old_seq, old_counted;
    bool failed = false;
    if (s_read_use (self, kind, key, &old_seq, &old_counted, &failed) == 0) {
        s_age_key (old_seq, age_key);
        rocksdb_writebatch_delete (batch, age_key, sizeof age_key);
        counts.bytes -= old_counted < counts.bytes ? old_counted : counts.bytes;
        uint64_t *count = s_count_of (&counts, kind);
        *count -= *count > 0;
    }
    size_t evicted = 0;
    if (!failed && counts.bytes > self->stats.cap - counted)
        evicted = s_evict (self, batch, self->stats.cap - counted, &counts, kind, key, &failed);
    if (failed || counts.bytes > self->stats.cap - counted) {
        if (!failed)    //  Counters disagree with the age index (invariants 2, 3)
            tm_warn ("cache", "%s: cannot make room for %zu bytes", self->path, size);
        rocksdb_writebatch_destroy (batch);
        return -1;
    }
    uint64_t seq = self->next_seq++;
    uint8_t use [S_USE_SIZE];
    s_value_key (kind, key, value_key);
    s_use_key (kind, key, use_key);
    s_age_key (seq, age_key);
    s_be64_put (use, seq);
    s_be64_put (use + 8, counted);
    rocksdb_writebatch_put (batch, value_key, sizeof value_key, (const char *) value, size);
    rocksdb_writebatch_put (batch, use_key, sizeof use_key, (const char *) use, sizeof use);
    rocksdb_writebatch_put (batch, age_key, sizeof age_key, value_key, sizeof value_key);
    counts.bytes += counted;
    (*s_count_of (&counts, kind))++;
    if (s_commit (self, &batch, &counts))
        return -1;
    self->stats.puts++;
    self->stats.evicted += evicted;
    return 0;
}

int
tm_cachedb_delete (tm_cachedb_t *self, tm_cachedb_kind_t kind,
                   const uint8_t key [TM_CACHEDB_KEY])
{
    assert (self && key);
    assert (kind == TM_CACHEDB_ENTRY || kind == TM_CACHEDB_RECORD);
    if (!s_writable (self))
        return -1;
    //  A note of this key, made later, finds no use and is dropped
    uint64_t seq, counted;
    bool failed = false;
    if (s_read_use (self, kind, key, &seq, &counted, &failed))
        return failed ? -1 : 0;     //  Nothing there (invariant 1)
    rocksdb_writebatch_t *batch = rocksdb_writebatch_create ();
    s_counts_t counts = s_counts (self);
    char age_key [S_AGE_KEY], use_key [S_USE_KEY], value_key [S_VALUE_KEY];
    s_value_key (kind, key, value_key);
    s_use_key (kind, key, use_key);
    s_age_key (seq, age_key);
    rocksdb_writebatch_delete (batch, value_key, sizeof value_key);
    rocksdb_writebatch_delete (batch, use_key, sizeof use_key);
    rocksdb_writebatch_delete (batch, age_key, sizeof age_key);
    counts.bytes -= counted < counts.bytes ? counted : counts.bytes;
    uint64_t *count = s_count_of (&counts, kind);
    *count -= *count > 0;
    return s_commit (self, &batch, &counts);
}

//  Calls FN for each value whose key is PREFIX and 32 bytes, until FN
//  returns false.  Returns false if FN stopped.
static bool
s_each_prefix (tm_cachedb_t *self, char prefix, tm_cachedb_kind_t kind,
               tm_cachedb_each_fn *fn, void *arg)
{
    bool more = true;
    rocksdb_iterator_t *iter = rocksdb_create_iterator (self->db, self->read);
    for (rocksdb_iter_seek (iter, &prefix, 1); more && rocksdb_iter_valid (iter);
         rocksdb_iter_next (iter)) {
        size_t key_size, size;
        const char *key = rocksdb_iter_key (iter, &key_size);
        if (key_size == 0 || key [0] != prefix)
            break;
        if (key_size != S_VALUE_KEY)
            continue;
        const char *value = rocksdb_iter_value (iter, &size);
        more = fn (kind, (const uint8_t *) key + 1, value, size, arg);
    }
    char *rocks_err = NULL;
    rocksdb_iter_get_error (iter, &rocks_err);
    rocksdb_iter_destroy (iter);
    if (rocks_err)
        s_failed (self, "cannot read", &rocks_err);
    return more;
}

void
tm_cachedb_each (tm_cachedb_t *self, tm_cachedb_kind_t kind, tm_cachedb_each_fn *fn, void *arg)
{
    assert (self && fn);
    assert (kind == 0 || kind == TM_CACHEDB_ENTRY || kind == TM_CACHEDB_RECORD);
    if (!s_usable (self))
        return;
    bool more = true;
    if (kind == 0 || kind == TM_CACHEDB_ENTRY)
        more = s_each_prefix (self, 'e', TM_CACHEDB_ENTRY, fn, arg);
    if (more && s_usable (self) && (kind == 0 || kind == TM_CACHEDB_RECORD))
        s_each_prefix (self, 'r', TM_CACHEDB_RECORD, fn, arg);
}

size_t
tm_cachedb_gc (tm_cachedb_t *self, uint64_t cap)
{
    assert (self);
    if (cap == 0)
        cap = self->stats.cap;
    if (!s_writable (self) || self->stats.bytes <= cap || s_flush_uses (self))
        return 0;
    rocksdb_writebatch_t *batch = rocksdb_writebatch_create ();
    s_counts_t counts = s_counts (self);
    bool failed = false;
    size_t evicted = s_evict (self, batch, cap, &counts, 0, NULL, &failed);
    if (failed) {
        rocksdb_writebatch_destroy (batch);
        return 0;
    }
    if (s_commit (self, &batch, &counts))
        return 0;
    self->stats.evicted += evicted;
    return evicted;
}

bool
tm_cachedb_idle (tm_cachedb_t *self)
{
    assert (self);
    if (!s_writable (self))
        return false;
    double due = tm_now () - self->use_delay;
    s_apply_touches (self, S_IDLE_STEP, due);
    s_note_t *front = s_writable (self) ? s_notes_front (self) : NULL;
    return front && front->noted <= due;
}

double
tm_cachedb_idle_at (tm_cachedb_t *self)
{
    assert (self);
    s_note_t *front = s_writable (self) ? s_notes_front (self) : NULL;
    return front ? front->noted + self->use_delay : 0;
}

void
tm_cachedb_set_use_delay (tm_cachedb_t *self, double seconds)
{
    assert (self && seconds >= 0);
    self->use_delay = seconds;
}

int
tm_cachedb_flush (tm_cachedb_t *self)
{
    assert (self);
    if (!s_writable (self))
        return s_usable (self) ? 0 : -1;
    return s_flush_uses (self);
}

// ---------------------------------------------------------------- tombstones

int
tm_cachedb_tomb_put (tm_cachedb_t *self, const uint8_t id [TM_CACHEDB_KEY],
                     const void *value, size_t size)
{
    assert (self && id && (value || size == 0));
    if (!s_writable (self) || size == 0)
        return -1;
    char tomb_key [S_VALUE_KEY];
    tomb_key [0] = 't';
    memcpy (tomb_key + 1, id, TM_CACHEDB_KEY);
    bool failed = false;
    size_t old_size;
    char *old = s_read (self, tomb_key, sizeof tomb_key, &old_size, &failed);
    free (old);
    if (failed)
        return -1;
    rocksdb_writebatch_t *batch = rocksdb_writebatch_create ();
    s_counts_t counts = s_counts (self);
    counts.tombstones += old == NULL;
    rocksdb_writebatch_put (batch, tomb_key, sizeof tomb_key, (const char *) value, size);
    return s_commit (self, &batch, &counts);
}

void
tm_cachedb_tomb_each (tm_cachedb_t *self, tm_cachedb_each_fn *fn, void *arg)
{
    assert (self && fn);
    if (s_usable (self))
        s_each_prefix (self, 't', 0, fn, arg);
}

// ---------------------------------------------------------------- state

void
tm_cachedb_stats (tm_cachedb_t *self, tm_cachedb_stats_t *stats)
{
    assert (self && stats);
    *stats = self->stats;
}

bool
tm_cachedb_degraded (tm_cachedb_t *self, const char **reason_p)
{
    assert (self);
    if (reason_p)
        *reason_p = self->reason;
    return self->reason != NULL;
}
