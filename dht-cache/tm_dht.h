/*  tm_dht.h - the cache actor: this member's share and the DHT over it.

    One per agent.  It owns the member's share (tm_cachedb, in
    DATADIR/cache) and talks to the other members' cache actors through
    the gossip actor's cache socket (tm_gossip.h: the same protocol as
    the work socket, in CACHE envelopes), so every message is signed
    and its author known.  docs/caching.md, 4, is the design:
      - a key's owners are the R alive members of highest rendezvous
        weight (tm_rendezvous.h), R = config.replicas;
      - GET reads, for each key, our own share first if we are one of
        its owners (no message, no wait), else asks its first owner,
        batching all keys of one owner into one message (sent before we
        read our share, so that the others work meanwhile); a key the
        owner lacks (or an owner that does not answer within a deadline)
        is asked of the next owner; a value found at a later owner is
        written back (repair) to the earlier owners that missed;
      - PUT writes to every owner;
      - on every membership change (a member alive, dead, left, or back
        with a new boot id) every holder of a value sends it to those of
        its new owners that were not its owners then (as the same
        process), and deletes what it no longer owns once they
        acknowledged it, or at once when every new owner had it;
      - tombstones are sent to every member, and to every member that
        becomes alive later; a tombstone deletes the entries it covers
        and keeps them from being stored or served again;
      - an entry whose signature does not verify, or whose signer is
        revoked (not a member any more), is dropped and counted, from a
        peer or in the share.
    Nothing from the network is trusted: a malformed message is dropped
    and counted (stats "malformed").

    Pipe protocol (frames as for zsock_send; JSON is a string frame):
        owner -> dht
            "GET" s:reqid s:kind b:keys      KIND "entry" or "record";
                                            KEYS the keys' bytes, 32 each
                                            (binary: the owner checked
                                            them, nothing to parse)
            "PUT" s:kind s:items [s:reqid]   ITEMS a JSON array of
                                            [hex key, value string]; with
                                            REQID, answered once every
                                            owner acked (or 2 s passed)
            "INVALIDATE" s:reqid s:glob      issue a tombstone
            "STATS" s:reqid                  every member's share stats
            "GC" s:reqid                     evict to the cap, here
            "$TERM"
        dht -> owner
            "GOT" s:reqid s:values           JSON array, one per key in
                                            order: the value string or null
            "PUT" s:reqid s:json             {"messages": n}: the put
                                            messages sent to other owners,
                                            each acked or timed out
            "INVALIDATED" s:reqid s:json     {"deleted": n} here
            "STATS" s:reqid s:json           {"replicas": R, "members":
                                            [{"name", "entries", "records",
                                            "bytes", "cap", "hits", "misses",
                                            "evicted", "degraded"}, ...]}
                                            (members that answer in 1 s;
                                            with the content store's
                                            "store_bytes", "store_blobs",
                                            "store_cap", "store_pinned",
                                            "store_evicted" of those whose
                                            owner gives them: stat_extra)
            "GC" s:reqid s:json              {"evicted": n}
    Every GET is answered by one GOT, within about 2 s whatever peers do.
*/
#ifndef TM_DHT_H_INCLUDED
#define TM_DHT_H_INCLUDED

#include "tm_common.h"
#include "tm_cacheentry.h"
#include <jansson.h>

//  Counters for `testmesh stats` ("cache"), written by the actor; read
//  field by field (each written atomically).
typedef struct {
    uint64_t gets;              //  Keys asked by our owner
    uint64_t found;             //  ... found somewhere
    uint64_t remote_gets;       //  Keys peers asked of us
    uint64_t puts;              //  Values stored in our share
    uint64_t repaired;          //  Values written back to owners that missed
    uint64_t handed;            //  Values handed to new owners
    uint64_t handoff_runs;      //  Handoffs started (membership changes)
    double handoff_done;        //  Wall clock the last handoff completed
    uint64_t bad_signature;     //  Entries dropped: signature or signer
    uint64_t tombstoned;        //  Entries deleted or refused by tombstones
    uint64_t malformed;         //  Messages that did not parse
} tm_dht_stats_t;

//  Figures of the member's other stores to report beside its share's
//  in a `stat` answer (the agent's content store: "store_bytes", ...,
//  non-negative integers): a new JSON object (the actor takes it), or
//  NULL.  Called in the cache actor's thread: what it reads must be
//  safe to read there (atomics).
typedef json_t *(tm_dht_stat_extra_fn) (void *arg);

typedef struct {
    const char *datadir;        //  The share is DATADIR/cache
    const char *member;         //  Our name
    const uint8_t *node_sk;     //  Our Ed25519 secret key (64 bytes), to
                                //  sign tombstones; copied
    const char *cache_endpoint; //  The gossip actor's cache socket
    int replicas;               //  R, >= 1
    uint64_t cap;               //  Bytes of our share; 0 = default
    tm_dht_stats_t *stats;      //  Counters to keep, or NULL; outlives the actor
    tm_dht_stat_extra_fn *stat_extra;   //  Or NULL
    void *stat_arg;             //  Its argument
} tm_dht_config_t;

//  The actor function: zactor_new (tm_dht_actor, &config).  The config
//  is copied before the actor signals ready.
void tm_dht_actor (zsock_t *pipe, void *args);

#endif
