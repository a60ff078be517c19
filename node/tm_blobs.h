/*  tm_blobs.h - blobs between members: fetched by digest, in chunks, on credit.

    A holder about to run a task needs the task's files in its content
    store (tm_store.h).  This class gets the ones it lacks from members
    that have them (the blob's owners, the task's origin: the caller
    names them, in order), and serves the blobs of its own
    store to members that ask.  It is not an actor: the work pool owns
    one, feeds it the "fetch" and "chunk" messages of the work protocol,
    ticks it, and is called back through a tm_blobs_handler_t.

    The transfer is ZeroMQ's file-transfer pattern with credit ("fileio3"
    in the Guide): the fetcher asks for a few chunks at a time and asks
    for more as they arrive, so at most TM_BLOBS_CREDIT chunks per fetch
    are in flight, whatever the size of the blob, and a server never
    sends what nobody asked for.  Messages (docs/protocol.md, 3.6):

        fetcher -> server   {"t":"fetch","d":HEX,"i":FIRST,"n":COUNT}
                            send chunks FIRST .. FIRST+COUNT-1 of blob HEX
                            (COUNT from 1 to TM_BLOBS_ASK_MAX)
        server -> fetcher   {"t":"chunk","d":HEX,"i":INDEX,"z":SIZE} NUL DATA
                            chunk INDEX of blob HEX, which holds SIZE bytes:
                            DATA is its TM_BLOBS_CHUNK bytes at offset
                            INDEX * TM_BLOBS_CHUNK (fewer for the last)
                            {"t":"chunk","d":HEX,"e":"why"}
                            the server cannot send it (no such blob)
                            {"t":"chunk","d":HEX,"e":"fetching"}
                            not yet: the server is fetching it from the
                            last member it named (its origin); ask again

    What a fetcher does with what arrives (it is untrusted input):
    - A chunk it did not ask for (no fetch of HEX under way from that
      member), or that it has already, is dropped and counted
      (chunks_dropped); one with a bad index, size or length is dropped
      and counted too, and tm_blobs_recv returns -1 (malformed).
    - Chunks are written at their offset in a temporary file of the
      store and hashed in order; when all are there the digest MUST
      match HEX, or the blob is refused (counted: blobs_refused) and
      fetched again from the start, up to TM_BLOBS_TRIES times from one
      member.  Only a verified blob is renamed into the store.
    - "fetching" is answered only by a member whose own fetch of HEX
      asks, now, the last of its sources, which is not the asker: the
      member that surely has it (the task's origin), so a wait ends,
      and two members never wait for each other.  The fetcher keeps
      that source and asks again every stall/8 s, TM_BLOBS_BUSY_ROUNDS
      times at most, then moves on.  This makes the blob's owners
      (tm_workpool.h) relay it, store and forward, so that its origin
      sends it about once per owner, not once per member.
    - A fetch that receives nothing for `stall` seconds asks again for
      what is missing; after `stalls` such rounds in a row, or when its
      member is gone or has no copy, it moves to the next member that
      was named as a source for that blob, and fails when none is left.

    Coalescing: one fetch per digest, however many tasks (of however
    many origins) want it; every origin that asks is remembered as a
    further source.  A blob in the store is never fetched.

    Background fetches (tm_blobs_want_background): a blob handed to a new
    owner when membership changed is fetched behind every fetch a task
    waits for, in a turn of its own, at a bounded rate, so that a join
    does not slow the tests that run (docs/scheduling.md, "Inputs").

    Callbacks are made only from tm_blobs_recv, tm_blobs_source_gone and
    tm_blobs_tick, never from tm_blobs_want, so a caller may call
    tm_blobs_want while it walks its own queues.  A callback may call
    any method.
*/
#ifndef TM_BLOBS_H_INCLUDED
#define TM_BLOBS_H_INCLUDED

#include "tm_store.h"
#include <jansson.h>

#define TM_BLOBS_CHUNK      (256 * 1024)    //  Bytes of blob per chunk message
#define TM_BLOBS_CREDIT     8               //  Chunks in flight per fetch, at most
#define TM_BLOBS_ASK_MAX    16              //  Chunks one fetch message may ask for
#define TM_BLOBS_ACTIVE     4               //  Fetches under way at once; more wait
#define TM_BLOBS_TRIES      3               //  Refused blobs from one member before
                                            //  trying another
#define TM_BLOBS_SOURCES    8               //  Members remembered per fetch
#define TM_BLOBS_STALL      2.0             //  Default s without progress: ask again
#define TM_BLOBS_STALLS     5               //  Default rounds of that before giving up
#define TM_BLOBS_BUSY_ROUNDS 240            //  "fetching" answers from one source, at
                                            //  stall/8 s apart, before trying the next
#define TM_BLOBS_BACKGROUND 1               //  Background fetches under way at once,
                                            //  besides the TM_BLOBS_ACTIVE
#define TM_BLOBS_BACKGROUND_RATE (32.0 * 1024 * 1024)   //  Their bytes per second

//  Counters for `testmesh stats` (work.*), published as the work pool's
//  are: each is written atomically, together they are not a snapshot.
typedef struct {
    uint64_t blobs_fetched;     //  Blobs fetched, verified and stored
    uint64_t bytes_fetched;     //  Their bytes
    uint64_t blobs_refused;     //  Fetched blobs whose content did not match their digest
    uint64_t fetches_failed;    //  Blobs given up on: no member could send them
    uint64_t chunks_dropped;    //  Chunks dropped: not asked for, duplicate or malformed
    uint64_t blobs_served;      //  First chunks of blobs sent (about one per fetch served)
    uint64_t bytes_served;      //  Bytes of chunks sent
    uint64_t busy_answers;      //  "fetching" answers we sent (asked while fetching)
    uint64_t busy_waits;        //  "fetching" answers we got, and so waited
    //  Written by the work pool, not by tm_blobs: the blob placement
    //  (docs/scheduling.md, "Inputs")
    uint64_t prefetch_asked;    //  "want" messages we sent, as origin, to owners
    uint64_t prefetch_started;  //  "want" messages that started a fetch here
    uint64_t prefetch_present;  //  "want" messages for a blob we had or were fetching
    uint64_t fetch_from_owner;  //  Fetches we started from an owner, not the origin
    //  Written by tm_blobs: blobs fetched in the background (handoff)
    uint64_t handoff_fetched;   //  Background fetches completed
    uint64_t handoff_bytes;     //  ... their bytes
    //  Written by the work pool: the handoff of blobs to new owners when
    //  membership changes, and the store's bounds (tm_storeindex.h)
    uint64_t handoff_passes;    //  Passes over our store (membership changes)
    uint64_t handoff_offered;   //  Blobs we offered to a new owner ("keep" items)
    uint64_t handoff_started;   //  Offered blobs we started to fetch
    uint64_t handoff_present;   //  Offered blobs we had or were fetching
    uint64_t handoff_no_room;   //  Offered blobs refused: no room under the cap
    uint64_t handoff_done;      //  Wall clock (s) our last pass ended, its
                                //  offers all sent (0: none yet)
    uint64_t store_bytes;       //  Bytes of blobs in our store
    uint64_t store_blobs;       //  Blobs in our store
    uint64_t store_cap;         //  Its cap (--store-size)
    uint64_t store_pinned;      //  Bytes of blobs pinned (needed by tasks, runs)
    uint64_t store_owned;       //  Bytes of blobs we own
    uint64_t store_evicted;     //  Blobs evicted
    uint64_t store_evicted_bytes;   //  ... their bytes
} tm_blobs_stats_t;

//  Copies the counters at STATS (written by the pool's thread) into OUT.
void tm_blobs_stats_read (const tm_blobs_stats_t *stats, tm_blobs_stats_t *out);

typedef struct {
    //  Sends MSG (taken) to member TO, followed by a NUL and SIZE bytes
    //  of DATA when DATA is not NULL.
    void (*send) (void *arg, const char *to, json_t **msg_p, const void *data, size_t size);
    //  Blob HEX was fetched and is in the store now.
    void (*ready) (void *arg, const char *hex);
    //  Blob HEX could not be fetched: REASON, one line.  SOURCES (NULL-
    //  terminated) are the members that were asked, every one of them:
    //  a task whose origin is not among them may still get it from there.
    void (*failed) (void *arg, const char *hex, const char *reason,
                    const char *const *sources);
    void *arg;
    //  Optional (NULL): we served the first chunk of blob HEX to a
    //  member (a use of it, for the store's LRU order).
    void (*served) (void *arg, const char *hex);
} tm_blobs_handler_t;

typedef struct _tm_blobs_t tm_blobs_t;

//  Creates a fetcher and server on STORE (borrowed), calling HANDLER
//  (copied).  STATS may be NULL; it must outlive the object.
tm_blobs_t *tm_blobs_new (tm_store_t *store, const tm_blobs_handler_t *handler,
                          tm_blobs_stats_t *stats);
//  Abandons the fetches under way (their temporary files are removed)
//  without calling back.
void tm_blobs_destroy (tm_blobs_t **self_p);

//  Tests use shorter timeouts: STALL seconds without progress, STALLS
//  rounds of that.
void tm_blobs_set_timing (tm_blobs_t *self, double stall, int stalls);

//  Is blob HEX, of SIZE bytes, in the store?  Returns 1 if it is; else
//  0, and a fetch from SOURCE (a member id) is under way: started now,
//  or joined (SOURCE is then one more member to try).  EXEC is the mode
//  the blob is stored with if it is fetched.  HEX must be valid
//  (asserted).  Never calls back.
int tm_blobs_want (tm_blobs_t *self, const char *hex, uint64_t size, bool exec,
                   const char *source);

//  tm_blobs_want for a blob no task needs (a new owner's copy, handed
//  to it when membership changed): the fetch is a background one (see
//  the header of tm_blobs.c): it waits behind every ordinary fetch,
//  runs in a turn of its own, and asks for at most the background rate
//  of bytes per second.  A later tm_blobs_want of the same blob makes it
//  an ordinary fetch.  Never calls back.
int tm_blobs_want_background (tm_blobs_t *self, const char *hex, uint64_t size, bool exec,
                              const char *source);

//  True if blob HEX is being fetched in the background.
bool tm_blobs_background (tm_blobs_t *self, const char *hex);

//  Background fetches ask for at most RATE bytes per second in all (0:
//  no limit); TM_BLOBS_BACKGROUND_RATE unless set.  The bucket starts
//  empty again: tm_blobs_tick fills it, at most one fetch's credit.
void tm_blobs_set_background_rate (tm_blobs_t *self, double rate);

//  Is blob HEX, of SIZE bytes, in the store (1), being fetched (0), or
//  neither (-1)?  Starts nothing, never calls back.  HEX must be valid.
int tm_blobs_has (tm_blobs_t *self, const char *hex, uint64_t size);

//  Blob HEX turned out not to be in the store after all (it was removed
//  behind our back): the next tm_blobs_want looks again.
void tm_blobs_forget (tm_blobs_t *self, const char *hex);

//  A "fetch" or "chunk" message MSG from member FROM, with the SIZE
//  bytes of DATA that followed its NUL (DATA NULL if none).  Returns 0,
//  or -1 if the message is malformed (the caller counts it).
int tm_blobs_recv (tm_blobs_t *self, const char *from, json_t *msg,
                   const void *data, size_t size);

//  Member ID is gone: fetches from it move to another source, or fail.
void tm_blobs_source_gone (tm_blobs_t *self, const char *id);

//  Housekeeping: stalled fetches ask again, move on or fail.  NOW is
//  tm_now ().
void tm_blobs_tick (tm_blobs_t *self, double now);

//  Fetches under way or waiting for their turn.
size_t tm_blobs_fetching (tm_blobs_t *self);

#endif
