/*  tm_workpool.h - the agent's work pool: runs spread over the cluster.

    One work pool per agent.  It plays two roles at once, as every member
    does (no node is special):

      origin   for the runs its owner submits: it keeps the ledger of
               where each task is, spreads the tasks over the members'
               queues in proportion to their slots, applies retries and
               --fail-fast, re-queues the tasks of a member that dies,
               and hands each task's one final result to its owner;
      holder   for the tasks any origin gave it: it queues them, runs
               them on its executor, reports each result to the task's
               origin, and steals half of a busy member's queue when its
               own runs dry.

    It talks to other members only through the gossip actor's work
    socket (tm_gossip.h), so every message is a signed envelope and its
    author is known.  The protocol and the task state machine are in
    docs/scheduling.md.

    Pipe protocol (frames as for zsock_send):

        owner -> pool
            "RUN" s:key p:tasklist i:retries i:fail_fast
                                        start a run the owner names KEY
                                        (unique among its runs); the
                                        tasklist is borrowed until FINISHED
            "CANCEL" s:key              stop that run: nothing new starts,
                                        running tasks are killed, the rest
                                        SKIPPED
            "GC" s:reqid                read the store's directory again and
                                        evict down to its cap now
            "$TERM"

        pool -> owner
            "STARTED" s:key i:index s:member     a task started on MEMBER
            "RESULT" s:key p:result              its final result (owner owns it)
            "FINISHED" s:key                     every task had its RESULT
            "GC" s:reqid s:json                  the answer to GC: {"evicted",
                                                 "evicted_bytes", "blobs", "bytes",
                                                 "cap", "pinned"}

    Invariant: every task of a run gets exactly one RESULT before
    FINISHED, whatever members die, steal or answer twice.

    Shipped tasks (tm_task_t's root set; docs/scheduling.md, "Inputs"):
    a holder starts one only once every file it needs is in its content
    store; until then it stays queued, takes no slot, and the blobs it
    lacks are fetched from the blob's owners, then its origin (tm_blobs.h).
    A blob's owners are the R alive members of highest rendezvous weight
    for its digest (tm_rendezvous.h); an origin that starts a run asks
    them to fetch its blobs at once ("want"), so that the blobs outlive
    the origin and holders need not all fetch from it.  It then runs in a
    work directory of its own (tm_workdir.h), removed when it ends.  A
    file that cannot be fetched, or a program this member cannot start
    (tm_loadcheck.h), fails the task with a one-line reason.

    The store is bounded (tm_storeindex.h): its blobs' bytes are kept
    under config.store_cap, least recently used out first, copies of
    blobs we do not own before owned ones, and never a blob that a task
    we hold, or a run we are the origin of, needs.  When membership
    changes, the blobs move to their new owners in the background:
    each member that owned a blob, or owns it now, offers it ("keep") to
    the owners now that did not have it, and they fetch it from it as
    a throttled background fetch (tm_blobs.h), so that about R/(N+1) of
    the blobs move on a join to N members, and no running test waits.
*/
#ifndef TM_WORKPOOL_H_INCLUDED
#define TM_WORKPOOL_H_INCLUDED

#include "tm_blobs.h"
#include "tm_executor.h"
#include "tm_storeindex.h"

#define TM_WORKPOOL_RING 4096      //  Dispatch samples kept (the last ones)

//  Recent dispatch latencies: for a task an origin handed out, from the
//  origin's decision (its wall clock, stamped in the assign) to its child
//  having been exec'd here (our wall clock), in microseconds.  Only tasks
//  that went straight into a free slot are sampled: one that waited in
//  our queue for a slot, or came by stealing, measures the queue, not
//  dispatch.  Across hosts it is only as good as their clocks agree;
//  on one host it is exact.
typedef struct {
    uint64_t taken;             //  Samples ever taken; the ring holds the last
    int64_t us [TM_WORKPOOL_RING];  //  Sample K at us [K % TM_WORKPOOL_RING]
} tm_workpool_ring_t;

//  Counters the pool keeps up to date for `testmesh stats`.  The owner
//  reads them with tm_workpool_stats_read while the pool runs (each is
//  written atomically; together they are not a snapshot).
typedef struct {
    uint64_t steals;            //  Steal requests we sent
    uint64_t stolen;            //  Tasks we received by stealing
    uint64_t given;             //  Tasks we gave to thieves
    uint64_t requeued;          //  Tasks we re-queued as origin (member gone)
    uint64_t duplicates;        //  Results dropped: stale lease or already done
    uint64_t malformed;         //  Work messages or tasks that did not parse
    uint64_t tasks_run;         //  Attempts our executor finished
    uint64_t dropped;           //  Tasks we dropped, seeing their origin dead
    uint64_t assigned;          //  Tasks origins placed here (assigns, our own
                                //  share included): placement, before any steal
    tm_workpool_ring_t dispatch;        //  Tasks of other members' runs
    tm_workpool_ring_t dispatch_self;   //  Tasks we placed on ourselves as origin
} tm_workpool_stats_t;

//  Copies the counters at STATS (written by the pool) into OUT; the
//  rings are not copied (tm_workpool_ring_read reads them).
void tm_workpool_stats_read (const tm_workpool_stats_t *stats, tm_workpool_stats_t *out);

//  Copies the samples RING holds (written by the pool), oldest first, in
//  milliseconds, into a new array *SAMPLES_P that the caller frees, and
//  returns how many there are.  With none, *SAMPLES_P is NULL.  Samples
//  written while it reads may be a newer one in an older one's place.
size_t tm_workpool_ring_read (const tm_workpool_ring_t *ring, double **samples_p);

//  The Q-quantile (0 < Q <= 1) of the COUNT values at SAMPLES, by nearest
//  rank: the smallest value with at least Q * COUNT values at or below
//  it.  Sorts SAMPLES in place.  0 when COUNT is 0.
double tm_workpool_quantile (double *samples, size_t count, double q);

typedef struct {
    tm_workpool_stats_t *stats; //  Counters to keep, or NULL; must outlive the actor
    tm_blobs_stats_t *blob_stats;   //  Shipping counters, or NULL; the same
    const char *datadir;        //  DATADIR: blobs in DATADIR/store, tasks run in
                                //  DATADIR/work (tm_store.h, tm_workdir.h)
    const char *work_endpoint;  //  The gossip actor's work socket
    int slots;                  //  Tasks run here at once
    int replicas;               //  R: members that keep each shipped blob
                                //  (--cache-replicas); < 1 means 3
    uint64_t store_cap;         //  Bytes of blobs the store keeps (--store-size);
                                //  0 means TM_STOREINDEX_CAP_DEFAULT
    double handoff_rate;        //  Bytes per second of background fetches (handed
                                //  blobs); 0 means TM_BLOBS_BACKGROUND_RATE
    const uint8_t *node_sk;     //  Our Ed25519 secret key (64 bytes, copied), to
                                //  sign the cache claims of tasks we pass
                                //  (tm_cacheentry.h); NULL signs nothing
    tm_executor_config_t executor;  //  For our executor (member = our name)
} tm_workpool_config_t;

//  The actor function: zactor_new (tm_workpool_actor, &config).  The
//  config is copied before the actor signals ready.
void tm_workpool_actor (zsock_t *pipe, void *args);

#endif
