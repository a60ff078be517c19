/*  tm_storeindex.c - the content store's bounds: a cap, least recently
    used out first, never a blob in use.

    tm_storeindex.h is the contract.  The index is a hash of entries by
    digest and a list of the same entries in order of last use (oldest
    first), so that a use is one move to the end of the list, and
    eviction walks from the front.  Pins live in a hash of their own,
    since a blob may be pinned before it is in the store (a task waits
    for it to be fetched); an entry copies its count when it is made.
*/
#include "tm_storeindex.h"
#include "tm_task.h"

#define S_PERSIST_EVERY   60.0      //  s between two atime writes of one blob
#define S_FOREIGN_USE     1.0       //  s an atime must be newer than our last use
                                    //  for another process to have used the blob

typedef struct {
    char hex [TM_STORE_HEX];    //  Its digest
    uint64_t size;              //  Its bytes
    bool exec;                  //  Stored executable
    double used;                //  Last use, s since the epoch
    double persisted;           //  When we last wrote its atime (0: never)
    bool owned;                 //  Marked owned (tm_storeindex_set_owned)
    size_t pins;                //  Pins held (copy of the pins hash)
    uint64_t seen;              //  The scan that last saw it
    void *handle;               //  In the LRU list
} s_entry_t;

struct _tm_storeindex_t {
    tm_store_t *store;          //  Borrowed
    uint64_t cap;               //  Bytes the blobs may take
    zhashx_t *entries;          //  hex -> s_entry_t (owned)
    zlistx_t *lru;              //  s_entry_t (borrowed), oldest use first
    zhashx_t *pins;             //  hex -> (void *) count, blobs indexed or not
    uint64_t bytes;             //  Sum of the entries' sizes
    uint64_t kept_bytes;        //  ... of those owned or pinned
    uint64_t pinned_bytes;      //  ... of those pinned
    uint64_t owned_bytes;       //  ... of those owned
    uint64_t evicted;           //  Blobs evicted
    uint64_t evicted_bytes;     //  ... their bytes
    uint64_t scan;              //  Scans made (the generation of `seen`)
};

static void
s_entry_destroy (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

static int
s_compare_used (const void *a, const void *b)
{
    double x = ((const s_entry_t *) a)->used, y = ((const s_entry_t *) b)->used;
    return x < y ? -1 : x > y ? 1 : 0;
}

static bool
s_kept (const s_entry_t *entry)
{
    return entry->owned || entry->pins > 0;
}

//  Adds (SIGN 1) or takes away (SIGN -1) ENTRY's bytes from the sums its
//  flags put it in.
static void
s_account (tm_storeindex_t *self, const s_entry_t *entry, int sign)
{
    uint64_t size = entry->size;
    if (sign > 0) {
        self->bytes += size;
        self->kept_bytes += s_kept (entry) ? size : 0;
        self->pinned_bytes += entry->pins > 0 ? size : 0;
        self->owned_bytes += entry->owned ? size : 0;
    }
    else {
        self->bytes -= size;
        self->kept_bytes -= s_kept (entry) ? size : 0;
        self->pinned_bytes -= entry->pins > 0 ? size : 0;
        self->owned_bytes -= entry->owned ? size : 0;
    }
}

static bool
s_invariants_hold (tm_storeindex_t *self)
{
    if (zlistx_size (self->lru) != zhashx_size (self->entries))
        return false;
    //  Walking every entry on every call would make each use O(n): the
    //  sums are checked for small indexes only
    if (zhashx_size (self->entries) > 64)
        return true;
    uint64_t bytes = 0, kept = 0, pinned = 0, owned = 0;
    double last = 0;
    for (s_entry_t *entry = (s_entry_t *) zlistx_first (self->lru); entry;
         entry = (s_entry_t *) zlistx_next (self->lru)) {
        if (entry->used < last)
            return false;
        last = entry->used;
        bytes += entry->size;
        kept += s_kept (entry) ? entry->size : 0;
        pinned += entry->pins > 0 ? entry->size : 0;
        owned += entry->owned ? entry->size : 0;
    }
    return bytes == self->bytes && kept == self->kept_bytes
        && pinned == self->pinned_bytes && owned == self->owned_bytes;
}

//  Indexes BLOB (not indexed yet), used at USED.
static s_entry_t *
s_insert (tm_storeindex_t *self, const tm_store_blob_t *blob, double used)
{
    s_entry_t *entry = (s_entry_t *) zmalloc (sizeof (s_entry_t));
    snprintf (entry->hex, sizeof entry->hex, "%s", blob->hex);
    entry->size = blob->size;
    entry->exec = blob->exec;
    entry->used = used;
    entry->seen = self->scan;
    entry->pins = (size_t) (uintptr_t) zhashx_lookup (self->pins, blob->hex);
    zhashx_insert (self->entries, entry->hex, entry);
    //  Most insertions are of the newest use: search from the end
    entry->handle = zlistx_insert (self->lru, entry, false);
    s_account (self, entry, 1);
    return entry;
}

//  Forgets ENTRY (and frees it).
static void
s_forget (tm_storeindex_t *self, s_entry_t *entry)
{
    s_account (self, entry, -1);
    zlistx_delete (self->lru, entry->handle);
    char hex [TM_STORE_HEX];
    snprintf (hex, sizeof hex, "%s", entry->hex);
    zhashx_delete (self->entries, hex);
}

tm_storeindex_t *
tm_storeindex_new (tm_store_t *store, uint64_t cap)
{
    assert (store);
    tm_storeindex_t *self = (tm_storeindex_t *) zmalloc (sizeof (tm_storeindex_t));
    self->store = store;
    self->cap = cap ? cap : TM_STOREINDEX_CAP_DEFAULT;
    self->entries = zhashx_new ();
    zhashx_set_destructor (self->entries, s_entry_destroy);
    self->lru = zlistx_new ();
    zlistx_set_comparator (self->lru, s_compare_used);
    self->pins = zhashx_new ();
    tm_storeindex_scan (self);
    return self;
}

void
tm_storeindex_destroy (tm_storeindex_t **self_p)
{
    assert (self_p);
    tm_storeindex_t *self = *self_p;
    if (!self)
        return;
    zlistx_destroy (&self->lru);
    zhashx_destroy (&self->entries);
    zhashx_destroy (&self->pins);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  Scanning

typedef struct {
    tm_storeindex_t *self;
    tm_store_blob_t *found;     //  New blobs, their hex copied into hexes
    char (*hexes) [TM_STORE_HEX];
    size_t count;
    size_t capacity;
} s_scan_t;

static bool
s_scan_one (const tm_store_blob_t *blob, void *arg)
{
    s_scan_t *scan = (s_scan_t *) arg;
    s_entry_t *entry = (s_entry_t *) zhashx_lookup (scan->self->entries, blob->hex);
    if (entry && entry->size == blob->size) {
        entry->seen = scan->self->scan;
        return true;
    }
    if (entry)                  //  Rewritten with another size: not ours to trust
        return true;
    if (scan->count == scan->capacity) {
        scan->capacity = scan->capacity ? scan->capacity * 2 : 64;
        scan->found = (tm_store_blob_t *) realloc (scan->found,
                                                   scan->capacity * sizeof (tm_store_blob_t));
        scan->hexes = (char (*) [TM_STORE_HEX]) realloc (scan->hexes,
                                                         scan->capacity * TM_STORE_HEX);
        assert (scan->found && scan->hexes);
    }
    snprintf (scan->hexes [scan->count], TM_STORE_HEX, "%s", blob->hex);
    scan->found [scan->count] = *blob;
    scan->count++;
    return true;
}

static int
s_compare_blob_used (const void *a, const void *b)
{
    double x = ((const tm_store_blob_t *) a)->used, y = ((const tm_store_blob_t *) b)->used;
    return x < y ? -1 : x > y ? 1 : 0;
}

size_t
tm_storeindex_scan (tm_storeindex_t *self)
{
    assert (self);
    self->scan++;
    s_scan_t scan = { .self = self };
    tm_store_each (self->store, s_scan_one, &scan);
    //  Oldest first, so that each insertion from the end is short when
    //  they are newer than what we have (the usual case)
    for (size_t i = 0; i < scan.count; i++)
        scan.found [i].hex = scan.hexes [i];
    if (scan.count > 1)         //  (qsort must not be given NULL, even for 0)
        qsort (scan.found, scan.count, sizeof (tm_store_blob_t), s_compare_blob_used);
    for (size_t i = 0; i < scan.count; i++)
        s_insert (self, &scan.found [i], scan.found [i].used);
    //  What was not seen (and not added now) is gone
    zlistx_t *gone = zlistx_new ();
    for (s_entry_t *entry = (s_entry_t *) zhashx_first (self->entries); entry;
         entry = (s_entry_t *) zhashx_next (self->entries))
        if (entry->seen != self->scan)
            zlistx_add_end (gone, entry);
    for (s_entry_t *entry = (s_entry_t *) zlistx_first (gone); entry;
         entry = (s_entry_t *) zlistx_next (gone))
        s_forget (self, entry);
    zlistx_destroy (&gone);
    free (scan.found);
    free (scan.hexes);
    assert (s_invariants_hold (self));
    return scan.count;
}

//  ---------------------------------------------------------------------
//  Use, pins, ownership

int
tm_storeindex_touch (tm_storeindex_t *self, const char *hex)
{
    assert (self && tm_task_digest_valid (hex));
    double now = tm_wall_now ();
    s_entry_t *entry = (s_entry_t *) zhashx_lookup (self->entries, hex);
    if (!entry) {
        tm_store_blob_t blob;
        if (tm_store_stat (self->store, hex, &blob) != 0)
            return -1;
        entry = s_insert (self, &blob, now > blob.used ? now : blob.used);
    }
    else
    if (now > entry->used) {
        entry->used = now;
        zlistx_reorder (self->lru, entry->handle, false);
    }
    if (now - entry->persisted >= S_PERSIST_EVERY) {
        //  So that the order survives a restart (tm_storeindex_new reads
        //  atimes); a blob removed behind our back shows at the next scan
        tm_store_touch (self->store, hex);
        entry->persisted = now;
    }
    assert (s_invariants_hold (self));
    return 0;
}

bool
tm_storeindex_has (tm_storeindex_t *self, const char *hex)
{
    assert (self && hex);
    return zhashx_lookup (self->entries, hex) != NULL;
}

void
tm_storeindex_pin (tm_storeindex_t *self, const char *hex)
{
    assert (self && tm_task_digest_valid (hex));
    uintptr_t count = (uintptr_t) zhashx_lookup (self->pins, hex);
    zhashx_update (self->pins, hex, (void *) (count + 1));
    s_entry_t *entry = (s_entry_t *) zhashx_lookup (self->entries, hex);
    if (entry) {
        s_account (self, entry, -1);
        entry->pins = count + 1;
        s_account (self, entry, 1);
    }
}

void
tm_storeindex_unpin (tm_storeindex_t *self, const char *hex)
{
    assert (self && hex);
    uintptr_t count = (uintptr_t) zhashx_lookup (self->pins, hex);
    assert (count > 0);         //  An unpin without its pin: a programmer error
    if (count == 0)
        return;
    if (count > 1)
        zhashx_update (self->pins, hex, (void *) (count - 1));
    else
        zhashx_delete (self->pins, hex);
    s_entry_t *entry = (s_entry_t *) zhashx_lookup (self->entries, hex);
    if (entry) {
        s_account (self, entry, -1);
        entry->pins = count - 1;
        s_account (self, entry, 1);
    }
}

size_t
tm_storeindex_pins (tm_storeindex_t *self, const char *hex)
{
    assert (self && hex);
    return (size_t) (uintptr_t) zhashx_lookup (self->pins, hex);
}

void
tm_storeindex_set_owned (tm_storeindex_t *self, const char *hex, bool owned)
{
    assert (self && hex);
    s_entry_t *entry = (s_entry_t *) zhashx_lookup (self->entries, hex);
    if (entry && entry->owned != owned) {
        s_account (self, entry, -1);
        entry->owned = owned;
        s_account (self, entry, 1);
    }
}

bool
tm_storeindex_owned (tm_storeindex_t *self, const char *hex)
{
    assert (self && hex);
    s_entry_t *entry = (s_entry_t *) zhashx_lookup (self->entries, hex);
    return entry && entry->owned;
}

bool
tm_storeindex_room_for (tm_storeindex_t *self, uint64_t size)
{
    assert (self);
    return size <= self->cap && self->kept_bytes <= self->cap - size;
}

bool
tm_storeindex_over (tm_storeindex_t *self)
{
    assert (self);
    return self->bytes > self->cap;
}

//  ---------------------------------------------------------------------
//  Eviction

size_t
tm_storeindex_evict (tm_storeindex_t *self, tm_storeindex_evicted_fn *fn, void *arg)
{
    assert (self);
    size_t evicted = 0;
    //  Copies we do not own first, then owned blobs; oldest use first in
    //  each.  Candidates are taken first: keeping a blob reorders the list
    for (int phase = 0; phase < 2 && self->bytes > self->cap; phase++) {
        zlistx_t *candidates = zlistx_new ();
        for (s_entry_t *entry = (s_entry_t *) zlistx_first (self->lru); entry;
             entry = (s_entry_t *) zlistx_next (self->lru))
            if (entry->pins == 0 && entry->owned == (phase == 1))
                zlistx_add_end (candidates, entry);
        for (s_entry_t *entry = (s_entry_t *) zlistx_first (candidates);
             entry && self->bytes > self->cap;
             entry = (s_entry_t *) zlistx_next (candidates)) {
            tm_store_blob_t blob;
            if (tm_store_stat (self->store, entry->hex, &blob) != 0) {
                s_forget (self, entry);         //  Gone already
                continue;
            }
            if (blob.used > entry->used + S_FOREIGN_USE) {
                //  Another process used it since we did (the CLI adding a
                //  run's files): it stays, as recently used
                entry->used = blob.used;
                entry->persisted = blob.used;
                zlistx_reorder (self->lru, entry->handle, false);
                continue;
            }
            char hex [TM_STORE_HEX];
            snprintf (hex, sizeof hex, "%s", entry->hex);
            if (tm_store_remove (self->store, hex) != 0 && errno != ENOENT) {
                tm_warn ("store", "cannot evict blob %.16s...: %s", hex, strerror (errno));
                continue;
            }
            self->evicted++;
            self->evicted_bytes += entry->size;
            tm_debug ("store", "evicted blob %.16s... (%" PRIu64 " bytes%s)", hex, entry->size,
                      entry->owned ? ", owned" : "");
            s_forget (self, entry);
            evicted++;
            if (fn)
                fn (hex, arg);
        }
        zlistx_destroy (&candidates);
    }
    assert (s_invariants_hold (self));
    return evicted;
}

void
tm_storeindex_each (tm_storeindex_t *self, tm_storeindex_each_fn *fn, void *arg)
{
    assert (self && fn);
    //  The list, not the hash: FN's lookups would move the hash's cursor
    for (s_entry_t *entry = (s_entry_t *) zlistx_first (self->lru); entry;
         entry = (s_entry_t *) zlistx_next (self->lru))
        fn (entry->hex, entry->size, entry->exec, arg);
}

void
tm_storeindex_stats (tm_storeindex_t *self, tm_storeindex_stats_t *out)
{
    assert (self && out);
    out->bytes = self->bytes;
    out->blobs = zhashx_size (self->entries);
    out->cap = self->cap;
    out->pinned_bytes = self->pinned_bytes;
    out->owned_bytes = self->owned_bytes;
    out->evicted = self->evicted;
    out->evicted_bytes = self->evicted_bytes;
}
