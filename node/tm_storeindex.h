/*  tm_storeindex.h - the content store's bounds: a cap, least recently
    used out first, never a blob in use.

    The content store (tm_store.h) only adds: every program and input a
    run ships lands in DATADIR/store of its origin, of the blob's owners
    and of every member that runs a task needing it.  This index keeps
    it under a cap (`testmesh agent --store-size`): it knows each blob's
    size and last use, and evicts the least recently used when the
    blobs' bytes pass the cap, in this order:

      1. copies we do not own (the blob's R owners are other members:
         tm_workpool.h), least recently used first: another member keeps
         the blob for the cluster, this copy only saves a fetch;
      2. then blobs we own, least recently used first: the cap wins over
         the replication factor (a blob with fewer than R copies is
         fetched again from whoever still has it, or its origin);
    and never a pinned blob: one that a task queued or running here, or
    a run we are the origin of, needs (tm_storeindex_pin).  So the store
    can exceed its cap by what is pinned, never by more.

    A blob's last use is the most recent of: it was added, fetched,
    linked into a work directory, or served here (tm_storeindex_touch);
    or its atime on disk, which any process that uses the blob sets
    (tm_store_touch: the CLI adding a run's files that are present
    already).  Before it evicts a blob the index reads its atime again,
    and keeps a blob that another process used since: so the CLI's
    `testmesh run`, which fills the store before its agent pins the
    run's blobs, does not lose them in between.  The index writes a
    blob's atime itself at most once a minute, so that its order
    survives a restart.

    Blobs other processes add (the CLI), or remove (a user reclaiming
    space), are found by tm_storeindex_scan: at start, and at each
    `testmesh cache gc`; a blob a run names is looked up when the run
    starts (tm_storeindex_touch).

    Invariants (s_invariants_hold):
    1. bytes is the sum of the indexed blobs' sizes, kept_bytes that of
       those owned or pinned, pinned_bytes that of those pinned.
    2. The LRU list holds every indexed blob once, oldest use first.
    3. Eviction removes no pinned blob.

    Not thread-safe: one per agent, in the work pool's thread.
*/
#ifndef TM_STOREINDEX_H_INCLUDED
#define TM_STOREINDEX_H_INCLUDED

#include "tm_store.h"

#define TM_STOREINDEX_CAP_DEFAULT (4ULL * 1024 * 1024 * 1024)  //  --store-size

typedef struct {
    uint64_t bytes;             //  Bytes of the blobs indexed
    uint64_t blobs;             //  Blobs indexed
    uint64_t cap;               //  The cap on bytes
    uint64_t pinned_bytes;      //  Bytes of indexed blobs pinned now
    uint64_t owned_bytes;       //  Bytes of indexed blobs marked owned
    uint64_t evicted;           //  Blobs evicted since the index was made
    uint64_t evicted_bytes;     //  ... their bytes
} tm_storeindex_stats_t;

typedef struct _tm_storeindex_t tm_storeindex_t;

//  Indexes STORE (borrowed), whose blobs' bytes are capped at CAP (0:
//  TM_STOREINDEX_CAP_DEFAULT).  Scans the store's directory now, ordering
//  what it finds by atime.  Evicts nothing yet.
tm_storeindex_t *tm_storeindex_new (tm_store_t *store, uint64_t cap);
void tm_storeindex_destroy (tm_storeindex_t **self_p);

//  Reads the store's directory again: indexes the blobs other processes
//  added, forgets those removed behind our back.  Returns how many it
//  added.
size_t tm_storeindex_scan (tm_storeindex_t *self);

//  Blob HEX was used now (added, fetched, linked, served).  Indexes it
//  if it is not yet (from the store's directory).  Returns 0, or -1 if
//  it is not in the store.
int tm_storeindex_touch (tm_storeindex_t *self, const char *hex);

//  True if blob HEX is indexed.
bool tm_storeindex_has (tm_storeindex_t *self, const char *hex);

//  Pins blob HEX (whether or not it is in the store yet: a blob being
//  fetched for a task): eviction leaves it alone until every pin is
//  undone.  Pins count; each tm_storeindex_pin needs its unpin.
void tm_storeindex_pin (tm_storeindex_t *self, const char *hex);
void tm_storeindex_unpin (tm_storeindex_t *self, const char *hex);

//  Pins held on blob HEX.
size_t tm_storeindex_pins (tm_storeindex_t *self, const char *hex);

//  Marks blob HEX (if indexed) as one we own, or not: owned blobs are
//  evicted after every copy we do not own.  A blob is not owned until
//  marked.
void tm_storeindex_set_owned (tm_storeindex_t *self, const char *hex, bool owned);
bool tm_storeindex_owned (tm_storeindex_t *self, const char *hex);

//  True if SIZE more bytes fit under the cap by evicting only copies we
//  do not own and that nobody pins: a blob handed to us as a new owner
//  is not taken when taking it would evict other owned blobs (that
//  would only move the shortage around).
bool tm_storeindex_room_for (tm_storeindex_t *self, uint64_t size);

//  True if the indexed blobs' bytes exceed the cap.
bool tm_storeindex_over (tm_storeindex_t *self);

//  Evicts blobs, in the order of the header, until their bytes are at
//  most the cap or nothing evictable is left; calls FN (may be NULL)
//  with each digest removed, after removing it.  A blob that another
//  process used since we last did is kept (and moves up the order); one
//  that vanished is forgotten without counting.  Returns how many it
//  evicted.
typedef void (tm_storeindex_evicted_fn) (const char *hex, void *arg);
size_t tm_storeindex_evict (tm_storeindex_t *self, tm_storeindex_evicted_fn *fn, void *arg);

//  Calls FN for every indexed blob, least recently used first.  FN may call
//  tm_storeindex_set_owned, nothing else of this index.
typedef void (tm_storeindex_each_fn) (const char *hex, uint64_t size, bool exec, void *arg);
void tm_storeindex_each (tm_storeindex_t *self, tm_storeindex_each_fn *fn, void *arg);

//  The index's figures into *OUT.
void tm_storeindex_stats (tm_storeindex_t *self, tm_storeindex_stats_t *out);

#endif
