/*  tm_cachedb.h - one member's share of the result cache, in RocksDB.

    Every member keeps the cache keys it owns (docs/caching.md, 4) in
    DATADIR/cache; an embedded node (`testmesh run` with no agent) keeps
    the whole cache there.  Values are opaque bytes to this module: the
    signed encodings of tm_cacheentry.h.  Only this module sees RocksDB.

    Two kinds of value, each under a 32-byte key:
        TM_CACHEDB_ENTRY    under a result key K: an encoded entry
        TM_CACHEDB_RECORD   under an identity I: an encoded record
    plus tombstones (cache invalidate), kept by their own 32-byte id.

    Size cap and LRU: the bytes of keys and values of entries and
    records are counted; a put that takes the share over its cap evicts
    the least recently used values (a get or a put uses a value) until
    it fits.  Tombstones are not counted and never evicted: there are
    few, and forgetting one would bring invalidated results back.

    Failure, never a crash (docs/caching.md, 4): if the database cannot
    be opened (corrupt, unreadable) or a write fails (disk full), the
    share goes DEGRADED: the reason is logged once as an error, gets
    miss, puts are dropped, and the owner keeps running tests.  A
    database another process holds open (a second embedded run) is
    opened read-only: gets work (but mark nothing used), puts, deletes
    and gc are dropped silently (-1, or 0 evicted).  A read-only handle
    sees the database as it was when opened.  RocksDB's lock is also
    held against a second handle in the same process: it too is
    read-only.

    Costs (docs in tm_cachedb.c): a get is one point read; its LRU
    update is noted, and made a few seconds later unless the value is
    used again meanwhile (tm_cachedb_idle; before anything that needs
    the age order: a put that evicts, gc, flush, destroy); a put is a
    few point reads and one atomic write (unsynced WAL: a crash of the
    process loses nothing but the noted uses, a crash of the machine may
    lose the last writes, never consistency).

    Not thread-safe: one owner thread (the cache actor, or the CLI).
*/
#ifndef TM_CACHEDB_H_INCLUDED
#define TM_CACHEDB_H_INCLUDED

#include "tm_common.h"

#define TM_CACHEDB_KEY  32          //  Bytes of every key

typedef enum {
    TM_CACHEDB_ENTRY = 'e',
    TM_CACHEDB_RECORD = 'r'
} tm_cachedb_kind_t;

typedef struct {
    uint64_t entries;           //  Entries held
    uint64_t records;           //  Records held
    uint64_t tombstones;        //  Tombstones held
    uint64_t bytes;             //  Counted bytes of entries and records
                                //  (32 per key + the value's size)
    uint64_t cap;               //  The cap on bytes
    //  The counts above persist across reopen; those below count this
    //  handle's work only
    uint64_t hits;              //  Gets of an entry that found it
    uint64_t misses;            //  Gets of an entry that did not
    uint64_t puts;              //  Puts stored
    uint64_t evicted;           //  Values evicted to stay under the cap
    uint64_t errors;            //  Failed reads or writes (each logged)
    bool degraded;              //  See the banner
    bool readonly;              //  Another process holds the database
} tm_cachedb_stats_t;

typedef struct _tm_cachedb_t tm_cachedb_t;

//  Opens (creating) DATADIR/cache with a cap of CAP bytes (0: the
//  default, 1 GiB).  Never fails for a bad database: the share is then
//  degraded (see banner).  Returns NULL with *err only if DATADIR/cache
//  cannot be created at all.
tm_cachedb_t *tm_cachedb_new (const char *datadir, uint64_t cap, char **err);
void tm_cachedb_destroy (tm_cachedb_t **self_p);

//  Gets the value of KIND under KEY into a new buffer *VALUE_P (caller
//  frees) of *SIZE_P bytes.  Returns 0, or -1 if absent (or degraded).
//  Counts a hit or a miss for entries, and marks the value used (not
//  when read-only).
int tm_cachedb_get (tm_cachedb_t *self, tm_cachedb_kind_t kind,
                    const uint8_t key [TM_CACHEDB_KEY], char **value_p, size_t *size_p);

//  True if a value of KIND is under KEY; counts nothing, marks nothing.
bool tm_cachedb_has (tm_cachedb_t *self, tm_cachedb_kind_t kind,
                     const uint8_t key [TM_CACHEDB_KEY]);

//  Stores SIZE bytes at VALUE under KEY, replacing any, then evicts
//  least recently used values while over the cap (a value larger than
//  the whole cap is not stored, nor is an empty value).  Returns 0, or
//  -1 if not stored (too big, empty, read-only, degraded, write error).
int tm_cachedb_put (tm_cachedb_t *self, tm_cachedb_kind_t kind,
                    const uint8_t key [TM_CACHEDB_KEY], const void *value, size_t size);

//  Removes the value of KIND under KEY, if any.  Returns 0 (also if
//  there was none), or -1 on a write error or if read-only or degraded.
int tm_cachedb_delete (tm_cachedb_t *self, tm_cachedb_kind_t kind,
                       const uint8_t key [TM_CACHEDB_KEY]);

//  Calls FN for every value of KIND (both kinds if KIND is 0), in key
//  order, until it returns false.  FN must not change the share; collect
//  keys and act afterwards.  Marks nothing used.
typedef bool (tm_cachedb_each_fn) (tm_cachedb_kind_t kind, const uint8_t *key,
                                   const char *value, size_t size, void *arg);
void tm_cachedb_each (tm_cachedb_t *self, tm_cachedb_kind_t kind,
                      tm_cachedb_each_fn *fn, void *arg);

//  Evicts least recently used values until the share is at most CAP
//  bytes (0: its own cap).  Returns how many it evicted.  The share's
//  own cap does not change.
size_t tm_cachedb_gc (tm_cachedb_t *self, uint64_t cap);

//  Does a little of the LRU work of recent gets that is due (16 gets'
//  worth, 0.1 to 0.2 ms): for an owner to call when it has nothing else
//  to do, again while it returns true (more is due).  Returns false when
//  nothing more is due now (tm_cachedb_idle_at says when), or if
//  read-only or degraded.
bool tm_cachedb_idle (tm_cachedb_t *self);

//  When (tm_now ()) the next LRU work of recent gets is due, for
//  tm_cachedb_idle; 0 if there is none (or if read-only or degraded).
double tm_cachedb_idle_at (tm_cachedb_t *self);

//  Sets how long the LRU update of a get waits for another use of the
//  same value (default 2 s; tests use less).
void tm_cachedb_set_use_delay (tm_cachedb_t *self, double seconds);

//  Writes the pending LRU updates of recent gets now (destroy does).
//  Returns 0, or -1 on a write error or if degraded (0 if read-only:
//  there is nothing to write).
int tm_cachedb_flush (tm_cachedb_t *self);

//  Tombstones (tm_cachetomb_t encodings) under their 32-byte ids.  Put
//  returns 0, or -1 if not stored (empty, read-only, degraded, write
//  error); putting the same id again replaces it.  Each calls FN for
//  every tombstone, with KIND 0 and KEY its id.
int tm_cachedb_tomb_put (tm_cachedb_t *self, const uint8_t id [TM_CACHEDB_KEY],
                         const void *value, size_t size);
void tm_cachedb_tomb_each (tm_cachedb_t *self, tm_cachedb_each_fn *fn, void *arg);

//  Copies the counters into *STATS.
void tm_cachedb_stats (tm_cachedb_t *self, tm_cachedb_stats_t *stats);

//  True if degraded, and why (borrowed) in *REASON_P if not NULL.
bool tm_cachedb_degraded (tm_cachedb_t *self, const char **reason_p);

#endif
