/*  tm_workpool.c - the agent's work pool: runs spread over the cluster.

    A task's life, seen from its origin's ledger (s_entry_t):

        QUEUED  --started from its holder----------------> RUNNING
        QUEUED, RUNNING --result, lease current, final---> DONE
        QUEUED, RUNNING --result, failed, retries left---> QUEUED (lease+1,
                                                           attempt+1, same holder)
        QUEUED, RUNNING --holder dead or left------------> QUEUED (lease+1,
                                                           another holder)
        QUEUED, RUNNING --dropped (its holder saw us dead)-> QUEUED (lease+1,
                                                           another holder)
        QUEUED  --moved (the holder gave it to a thief)--> QUEUED (holder =
                                                           thief, same lease)
        QUEUED  --cancel---------------------------------> DONE (skipped)
        RUNNING --cancel, no result within S_CANCEL_WAIT-> DONE (skipped)

    Exactly one holder.  A task is handed out under a lease number, and
    only the holder that has it under the current lease can end it: a
    result under an older lease (a member declared dead that comes back,
    a duplicate) is dropped and counted.  A holder passes a task on only
    by giving it to a thief, and then tells the origin (moved); the thief
    reports under the same lease, so whichever of the result and the
    moved reaches the origin first, the task ends once.

    Holders queue tasks per (origin, run) group and start them round
    robin over the groups, so concurrent runs share every member.  A
    holder whose queue is empty while it has free slots steals: it asks
    the member whose gossiped queue is longest for half of its queue,
    taken from the tail (the shortest tasks, as queues are longest
    first), one request at a time.

    A holder that sees an origin dead drops that origin's tasks, queued
    and running.  Gossip can be wrong (a starved origin misses its
    probes, is declared dead and refutes), so the holder remembers what
    it dropped, as (run, index, lease), for S_DROPPED_KEEP; if the origin
    comes back alive it tells it (dropped), and the origin hands those
    tasks out again.  Without this the origin, alive all along, would
    wait for ever for tasks nobody holds.

    Dispatch latency.  The origin stamps every task it hands out (placed,
    retried or re-queued) with its wall-clock decision time ("d").  A
    holder that starts the task in the same event that brought it (the
    task found a free slot at once: it never waited in our queue) takes
    the child's exec time minus that stamp as a sample.  Stolen tasks
    carry no stamp: they waited in their victim's queue.  The path has
    as few thread hand-offs as we can make it (docs/scheduling.md): we
    spawn in our own thread (tm_executor_start), and take our own share
    of a run we place at once, without a round trip through gossip.

    Shipped tasks.  A queued task whose files are not all in our store
    is not started: s_pump looks past it (S_LOOKAHEAD tasks deep in each
    group) for one that can start, and asks tm_blobs for what it lacks,
    from the blob's owners, then the task's origin (s_want_file).  An
    origin starting a run asks each blob's owners to fetch it at once
    (s_push_blobs, "want").  When a blob arrives the pump runs again;
    when one cannot be fetched, the tasks waiting for it fail with the
    reason.  Either way a task waiting for its files holds no slot, and
    can still be stolen.  s_start makes its work directory and checks
    that its program can start here before the executor gets it.

    The store's bounds (tm_storeindex.h).  Every file of a task we hold
    (from s_hold to s_held_destroy) and of a run we are the origin of
    (s_run_start to s_run_destroy) is pinned: eviction cannot take it
    from under the task, nor from a holder that will fetch it from us.
    A blob is used (touched) when a run names it, a fetch stores it, a
    task starts with it, or we serve it.  After each of these, and at
    each tick (pins go), the store is evicted down to its cap if it is
    over (s_store_bound).  A blob is marked owned when we are one of its
    R owners in our view; copies we do not own are evicted first.

    Handoff (the background part of the placement): a membership change
    that matters (a member alive that was not, alive with a new boot id,
    or alive no more) schedules one pass over our store, S_HANDOFF_DELAY
    later so that a burst of changes makes one pass (s_handoff_pass).
    For each blob it computes its owners now and at the last pass; if we
    are an owner now, or were one then, it offers the blob to every owner
    now that was not one then as the same process (the "keep" message,
    S_KEEP_BATCH blobs each, one message per member per tick, so that a
    pass over a large store does not flood a peer's queue).  A member
    offered a blob it lacks fetches it from us in the background
    (tm_blobs_want_background: throttled, behind every fetch a task waits
    for), if it has room for it without evicting blobs it owns.  Every
    old owner offers, not one chosen from its own view: a blob reaches its
    new owners whatever one member's view, and a new owner fetches it once
    whatever the number of offers (tm_blobs coalesces them).  What we
    stop owning stays as a copy we do not own, evicted first.

    Invariants (s_invariants_hold, cheap counts only):
    1. For each run we own: done <= total, and done counts DONE entries.
    2. queued == the tasks in all groups; zhashx_size (running) <= slots.
    3. handoff_pending_bytes is the sum of the sizes in handoff_pending.
*/
#include "tm_workpool.h"
#include "tm_codec.h"
#include "tm_loadcheck.h"
#include "tm_scheduler.h"
#include "tm_workdir.h"
#include "tm_cacheentry.h"
#include "tm_placement.h"
#include "tm_rendezvous.h"
#include <sodium.h>
#include <inttypes.h>
#include <jansson.h>

#define S_HEX             65        //  A member id in hex, with its NUL
#define S_ASSIGN_BATCH    256       //  Tasks per assign message
#define S_STEAL_WAIT      0.5       //  s a thief waits for an answer
#define S_STEAL_BACKOFF   0.3       //  s before asking one that gave nothing
#define S_CANCEL_WAIT     3.0       //  s the origin waits for killed tasks
#define S_TICK            0.1       //  s between housekeeping rounds
#define S_RENEW_INTERVAL  2.0       //  s between a holder's lease renewals
#define S_LEASE_TIMEOUT   10.0      //  s an origin waits for a renewal before
                                    //  it takes a task back (re-lease)
#define S_LOOKAHEAD       16        //  Queued tasks of a group looked at for one
                                    //  whose files are all here
#define S_DROPPED_KEEP    60.0      //  s we remember what we dropped for an origin
#define S_HANDOFF_DELAY   0.5       //  s after a membership change before a handoff pass
#define S_HANDOFF_FIRST_DELAY 2.0   //  s after SYNCED before our first pass
#define S_KEEP_BATCH      64        //  Blobs offered per keep message

typedef struct {
    char id [S_HEX];
    char *name;
    bool alive;                 //  Alive or suspect: may hold work
    int slots;                  //  From its metadata
    int queue;                  //  Queued tasks, from its metadata
    int free;                   //  Free slots, from its metadata
    char boot [17];             //  Its process's boot id, from its metadata
    char **labels;              //  Its labels as "k=v", from its metadata
    double empty_until;         //  Gave us nothing: not asked before this
    double placed;              //  Scratch: tasks placed per slot
} s_member_t;

typedef enum { ENTRY_QUEUED, ENTRY_RUNNING, ENTRY_DONE } s_entry_state_t;

typedef struct {
    s_entry_state_t state;
    char holder [S_HEX];        //  Who holds it under the current lease
    uint64_t lease;             //  Current lease; 0 before the first
    int attempt;                //  1-based attempt under that lease
    tm_result_t *first_failure; //  While retrying
    double renewed;             //  Last sign its holder has it (assign,
                                //  started, moved, hold)
} s_entry_t;

typedef struct {
    char *key;                  //  The owner's name for it
    tm_tasklist_t *tasks;       //  Borrowed from the owner
    s_entry_t *entries;         //  By task index
    size_t total;
    size_t done;
    int retries;
    bool fail_fast;
    bool cancelling;
    char *cancel_reason;
    double cancel_deadline;     //  Running tasks not back by then: skipped
    tm_storeindex_t *index;     //  Pins its tasks' files, or NULL (borrowed)
} s_run_t;

//  A task we hold for an origin.
typedef struct {
    uint64_t local;             //  Our number for it (task->index here)
    char origin [S_HEX];
    char *run;
    size_t index;               //  In the origin's run
    uint64_t lease;
    int attempt;
    tm_task_t *task;            //  Decoded, owned
    double decided;             //  Origin's decision (wall clock); 0 if none
    uint64_t arrived;           //  The event that brought it (s_pool_t.event)
    bool prompt;                //  Started in that event: it never queued
    tm_workdir_t *workdir;      //  Running and shipped: where it runs
    bool orphan;                //  Killed because its origin is gone: no result
    tm_storeindex_t *pins;      //  Pins its task's files, or NULL (borrowed)
} s_held_t;

typedef struct {
    char origin [S_HEX];
    char *run;
    zlistx_t *tasks;            //  s_held_t *, queued, in start order
} s_group_t;

typedef struct {
    zsock_t *pipe;
    zsock_t *work;              //  PAIR to the gossip actor
    zactor_t *executor;
    tm_executor_config_t executor_config;   //  Its config: we spawn for it
    int slots;
    char *name;                 //  Our member name (results carry it)
    uint8_t node_sk [TM_CACHE_SK];  //  Signs our results' cache claims
    bool has_sk;
    char self_id [S_HEX];       //  Empty until gossip said SELF
    zhashx_t *members;          //  hex id -> s_member_t
    zhashx_t *runs;             //  key -> s_run_t, the runs we own
    zlistx_t *groups;           //  s_group_t, started round robin
    size_t queued;              //  Tasks in all groups
    zhashx_t *running;          //  "local" -> s_held_t, on the executor
    uint64_t next_local;
    uint64_t next_lease;
    bool stealing;              //  A steal request is out
    char steal_victim [S_HEX];
    double steal_deadline;
    int load_free;              //  The load we last told gossip
    int load_queue;
    tm_workpool_stats_t counts; //  Ours; published to *stats
    tm_workpool_stats_t *stats; //  The owner's copy, or NULL
    uint64_t event;             //  Events handled so far (one per wake-up)
    tm_store_t *store;          //  DATADIR/store
    tm_storeindex_t *index;     //  Its bounds: cap, LRU, pins (NULL without a store)
    tm_blobs_t *blobs;          //  Fetches the files of shipped tasks, serves ours
    size_t replicas;            //  R: a blob's owners (s_blob_owners)
    tm_blobs_stats_t blob_counts;   //  Ours (the placement's fields only)
    tm_blobs_stats_t *blob_stats;   //  The owner's copy, or NULL
    tm_loadcheck_t *loadcheck;  //  Can a task's program start here?
    char *work_base;            //  DATADIR/work: the work directories
    json_t *dropped;            //  Origin id -> {"at": s, "runs": {run: [[i, l]...]}}:
                                //  its tasks we dropped, seeing it dead
    bool synced;                //  Gossip's member snapshot is complete
    double handoff_due;         //  When the next handoff pass runs (tm_now); 0: none
    tm_placement_t *placement;  //  The members alive at the last pass, with boot ids
    zhashx_t *offers;           //  Member id -> zlistx_t of s_offer_t to send it
    zhashx_t *offered;          //  "id hex" of the offers queued, not yet sent
    bool offers_pending;        //  A pass's offers are not all sent yet
    zhashx_t *handoff_pending;  //  Hex -> size: blobs offered to us we fetch
    uint64_t handoff_pending_bytes; //  Their bytes (room taken under the cap)
    bool terminated;
} s_pool_t;

//  A blob to offer to a new owner (keep).
typedef struct {
    char hex [TM_STORE_HEX];
    uint64_t size;
    bool exec;
} s_offer_t;

static void s_skip (s_pool_t *self, s_run_t *run, size_t index, const char *why);
static void s_fail (s_pool_t *self, s_run_t *run, size_t index, const char *why);

//  Counts one FIELD event, and publishes it for the owner's stats.
#define S_COUNT(self, field, n) do {                                        \
        (self)->counts.field += (n);                                        \
        if ((self)->stats)                                                  \
            __atomic_store_n (&(self)->stats->field, (self)->counts.field,  \
                              __ATOMIC_RELAXED);                            \
    } while (0)

//  Counts one FIELD event of the blob placement, and publishes it.
#define S_BLOB_COUNT(self, field, n) do {                                   \
        (self)->blob_counts.field += (n);                                   \
        if ((self)->blob_stats)                                             \
            __atomic_store_n (&(self)->blob_stats->field,                   \
                              (self)->blob_counts.field, __ATOMIC_RELAXED); \
    } while (0)

void
tm_workpool_stats_read (const tm_workpool_stats_t *stats, tm_workpool_stats_t *out)
{
    out->steals = __atomic_load_n (&stats->steals, __ATOMIC_RELAXED);
    out->stolen = __atomic_load_n (&stats->stolen, __ATOMIC_RELAXED);
    out->given = __atomic_load_n (&stats->given, __ATOMIC_RELAXED);
    out->requeued = __atomic_load_n (&stats->requeued, __ATOMIC_RELAXED);
    out->duplicates = __atomic_load_n (&stats->duplicates, __ATOMIC_RELAXED);
    out->malformed = __atomic_load_n (&stats->malformed, __ATOMIC_RELAXED);
    out->tasks_run = __atomic_load_n (&stats->tasks_run, __ATOMIC_RELAXED);
    out->dropped = __atomic_load_n (&stats->dropped, __ATOMIC_RELAXED);
    out->assigned = __atomic_load_n (&stats->assigned, __ATOMIC_RELAXED);
}

size_t
tm_workpool_ring_read (const tm_workpool_ring_t *ring, double **samples_p)
{
    uint64_t taken = __atomic_load_n (&ring->taken, __ATOMIC_ACQUIRE);
    size_t count = taken < TM_WORKPOOL_RING ? (size_t) taken : TM_WORKPOOL_RING;
    *samples_p = NULL;
    if (count == 0)
        return 0;
    double *samples = (double *) malloc (count * sizeof (double));
    assert (samples);
    for (size_t k = 0; k < count; k++) {
        uint64_t which = taken - count + k;
        samples [k] = __atomic_load_n (&ring->us [which % TM_WORKPOOL_RING],
                                       __ATOMIC_RELAXED) / 1000.0;
    }
    *samples_p = samples;
    return count;
}

static int
s_compare_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

double
tm_workpool_quantile (double *samples, size_t count, double q)
{
    assert (q > 0 && q <= 1);
    if (count == 0)
        return 0;
    qsort (samples, count, sizeof (double), s_compare_double);
    size_t rank = (size_t) ceil (q * (double) count);
    return samples [rank > 0 ? rank - 1 : 0];
}

//  Adds one sample, SECONDS, to RING (the owner's; it reads as we write).
static void
s_ring_add (tm_workpool_ring_t *ring, double seconds)
{
    double us = seconds * 1e6;
    //  A clock that jumped, or two hosts' clocks far apart: keep it in range
    if (!(us > -1e12))
        us = -1e12;
    if (us > 1e12)
        us = 1e12;
    uint64_t taken = ring->taken;       //  Only we write it
    __atomic_store_n (&ring->us [taken % TM_WORKPOOL_RING], (int64_t) llround (us),
                      __ATOMIC_RELAXED);
    __atomic_store_n (&ring->taken, taken + 1, __ATOMIC_RELEASE);
}

//  ---------------------------------------------------------------------
//  Helpers

static void
s_member_destroy (void **item_p)
{
    s_member_t *member = (s_member_t *) *item_p;
    if (member) {
        free (member->name);
        tm_strv_free (&member->labels);
        free (member);
        *item_p = NULL;
    }
}

//  Pins (PIN true) or unpins the files of TASK in INDEX.
static void
s_pin_task (tm_storeindex_t *index, const tm_task_t *task, bool pin)
{
    for (size_t i = 0; index && i < task->files_size; i++)
        if (pin)
            tm_storeindex_pin (index, task->files [i].digest);
        else
            tm_storeindex_unpin (index, task->files [i].digest);
}

static void
s_held_destroy (s_held_t **held_p)
{
    s_held_t *held = *held_p;
    if (held) {
        if (held->task)
            s_pin_task (held->pins, held->task, false);
        tm_workdir_destroy (&held->workdir);
        tm_task_destroy (&held->task);
        free (held->run);
        free (held);
        *held_p = NULL;
    }
}

static void
s_group_destroy (void **item_p)
{
    s_group_t *group = (s_group_t *) *item_p;
    if (group) {
        s_held_t *held;
        while ((held = (s_held_t *) zlistx_detach (group->tasks, NULL)))
            s_held_destroy (&held);
        zlistx_destroy (&group->tasks);
        free (group->run);
        free (group);
        *item_p = NULL;
    }
}

//  Undoes RUN's pins on its tasks' files; before FINISHED, since the
//  owner may free the task list as soon as it reads FINISHED.
static void
s_run_unpin (s_run_t *run)
{
    for (size_t i = 0; run->index && i < run->total; i++)
        s_pin_task (run->index, tm_tasklist_get (run->tasks, i), false);
    run->index = NULL;
}

static void
s_run_destroy (void **item_p)
{
    s_run_t *run = (s_run_t *) *item_p;
    if (run) {
        s_run_unpin (run);
        for (size_t i = 0; i < run->total; i++)
            tm_result_destroy (&run->entries [i].first_failure);
        free (run->entries);
        free (run->cancel_reason);
        free (run->key);
        free (run);
        *item_p = NULL;
    }
}

//  Sends MSG (taken) to member ID through gossip.
static void
s_send (s_pool_t *self, const char *id, json_t **msg_p)
{
    char *text = json_dumps (*msg_p, JSON_COMPACT);
    json_decref (*msg_p);
    *msg_p = NULL;
    if (!text)
        return;
    zframe_t *frame = zframe_new (text, strlen (text));
    free (text);
    zsock_send (self->work, "ssf", "SEND", id, frame);
    zframe_destroy (&frame);
}

static bool
s_invariants_hold (s_pool_t *self)
{
    size_t queued = 0;
    for (s_group_t *group = (s_group_t *) zlistx_first (self->groups); group;
         group = (s_group_t *) zlistx_next (self->groups))
        queued += zlistx_size (group->tasks);
    if (queued != self->queued || (int) zhashx_size (self->running) > self->slots)
        return false;
    for (s_run_t *run = (s_run_t *) zhashx_first (self->runs); run;
         run = (s_run_t *) zhashx_next (self->runs))
        if (run->done > run->total)
            return false;
    if (self->handoff_pending && zhashx_size (self->handoff_pending) < 64) {
        uint64_t bytes = 0;
        for (void *size = zhashx_first (self->handoff_pending); size;
             size = zhashx_next (self->handoff_pending))
            bytes += (uintptr_t) size;
        if (bytes != self->handoff_pending_bytes)
            return false;
    }
    return true;
}

//  Tells gossip our load when it changed (gossip spaces the updates).
static void
s_load_update (s_pool_t *self)
{
    int free_slots = self->slots - (int) zhashx_size (self->running);
    int queue = (int) self->queued;
    if (free_slots == self->load_free && queue == self->load_queue)
        return;
    self->load_free = free_slots;
    self->load_queue = queue;
    char f [16], q [16];
    snprintf (f, sizeof f, "%d", free_slots);
    snprintf (q, sizeof q, "%d", queue);
    zsock_send (self->work, "sss", "LOAD", f, q);
}

//  ---------------------------------------------------------------------
//  Holder side

static s_group_t *
s_group_require (s_pool_t *self, const char *origin, const char *run)
{
    for (s_group_t *group = (s_group_t *) zlistx_first (self->groups); group;
         group = (s_group_t *) zlistx_next (self->groups))
        if (streq (group->origin, origin) && streq (group->run, run))
            return group;
    s_group_t *group = (s_group_t *) zmalloc (sizeof (s_group_t));
    snprintf (group->origin, sizeof group->origin, "%s", origin);
    group->run = strdup (run);
    group->tasks = zlistx_new ();
    zlistx_add_end (self->groups, group);
    return group;
}

static void s_dropped_add (s_pool_t *self, const char *origin, const char *run,
                           uint64_t index, uint64_t lease);

//  True if we know ORIGIN and see it dead or gone: what it sends us now
//  was sent before it died, or it is alive and gossip is wrong; either
//  way its results could not reach it (gossip drops what we send to a
//  member we see dead), so we do not run its tasks but drop them, and
//  tell it if it comes back.
static bool
s_origin_gone (s_pool_t *self, const char *origin)
{
    s_member_t *member = (s_member_t *) zhashx_lookup (self->members, origin);
    return member && !member->alive && !streq (origin, self->self_id);
}

//  Queues a task decoded from JSON (an assign or a give).  Returns -1
//  if it does not parse; the message is then counted as malformed.
//  STAMPED: the item came from its origin and may carry its decision
//  time (an assign; a give's tasks waited in another queue first).
static int
s_hold (s_pool_t *self, const char *origin, const char *run, json_t *item, bool front,
        bool stamped)
{
    json_t *index = json_object_get (item, "i");
    json_t *lease = json_object_get (item, "l");
    json_t *attempt = json_object_get (item, "a");
    if (!json_is_integer (index) || json_integer_value (index) < 0
    ||  !json_is_integer (lease) || json_integer_value (lease) < 1
    ||  !json_is_integer (attempt) || json_integer_value (attempt) < 1
    ||  json_integer_value (attempt) > 1000)
        return -1;
    if (s_origin_gone (self, origin)) {
        s_dropped_add (self, origin, run, (uint64_t) json_integer_value (index),
                       (uint64_t) json_integer_value (lease));
        return 0;
    }
    char *err = NULL;
    tm_task_t *task = tm_codec_task_decode (json_object_get (item, "task"), &err);
    if (!task) {
        tm_warn ("work", "dropped a task from %.8s: %s", origin, err);
        free (err);
        return -1;
    }
    s_held_t *held = (s_held_t *) zmalloc (sizeof (s_held_t));
    held->local = ++self->next_local;
    snprintf (held->origin, sizeof held->origin, "%s", origin);
    held->run = strdup (run);
    held->index = (size_t) json_integer_value (index);
    held->lease = (uint64_t) json_integer_value (lease);
    held->attempt = (int) json_integer_value (attempt);
    held->task = task;
    held->pins = self->index;
    s_pin_task (held->pins, task, true);
    held->arrived = self->event;
    json_t *decided = stamped ? json_object_get (item, "d") : NULL;
    if (json_is_number (decided) && json_number_value (decided) > 0
    &&  isfinite (json_number_value (decided)))
        held->decided = json_number_value (decided);     //  Optional: else not sampled
    task->index = (size_t) held->local;
    s_group_t *group = s_group_require (self, origin, run);
    if (front)
        zlistx_add_start (group->tasks, held);
    else
        zlistx_add_end (group->tasks, held);
    self->queued++;
    return 0;
}

//  ---------------------------------------------------------------------
//  Blob placement (docs/scheduling.md, "Inputs"): a shipped blob is kept
//  by its owners, as a cache entry is (docs/caching.md, 4), so that it
//  outlives its origin and holders can fetch it from them.

//  Writes into OWNERS (at most self->replicas, ids borrowed from our
//  member table) the owners of blob HEX: the R alive members of highest
//  rendezvous weight for its digest, heaviest first.  Returns how many.
//  Members gossip has not told us of yet are not counted: two members
//  may disagree for a while, which costs a fetch from the origin, never
//  a failure.
static size_t
s_blob_owners (s_pool_t *self, const char *hex, const char **owners)
{
    uint8_t key [32];
    if (sodium_hex2bin (key, sizeof key, hex, strlen (hex), NULL, NULL, NULL) != 0)
        return 0;               //  Not reached: every digest is checked first
    size_t max = zhashx_size (self->members);
    const char **ids = (const char **) malloc ((max + 1) * sizeof (char *));
    size_t *picked = (size_t *) malloc ((self->replicas + 1) * sizeof (size_t));
    assert (ids && picked);
    size_t count = 0;
    for (s_member_t *member = (s_member_t *) zhashx_first (self->members); member;
         member = (s_member_t *) zhashx_next (self->members))
        if (member->alive && count < max)
            ids [count++] = member->id;
    size_t found = tm_rendezvous_owners (key, ids, count, self->replicas, picked);
    for (size_t i = 0; i < found; i++)
        owners [i] = ids [picked [i]];
    free (ids);
    free (picked);
    return found;
}

//  Is FILE in our store?  If not, makes sure a fetch of it is under way:
//  from the blob's owners (not us, not LAST), then from LAST (the task's
//  origin), which has it.
//  tm_blobs moves on when an owner has no copy (yet) or stalls.  Returns
//  1 if the file is here, else 0.  Never calls back.
static int
s_want_file (s_pool_t *self, const tm_file_t *file, const char *last)
{
    int has = tm_blobs_has (self->blobs, file->digest, file->size);
    if (has == 1)
        return 1;
    if (has == 0 || file->size == 0)
        //  Under way: LAST is one more source.  Empty: made here.
        return tm_blobs_want (self->blobs, file->digest, file->size, file->exec, last);
    const char **owners = (const char **) malloc ((self->replicas + 1) * sizeof (char *));
    assert (owners);
    size_t count = s_blob_owners (self, file->digest, owners);
    //  Each holder starts at an owner of its own (by its weight for the
    //  blob), so that the holders waiting for owners spread over them
    uint8_t key [32];
    size_t first = 0;
    if (count > 0 && sodium_hex2bin (key, sizeof key, file->digest, strlen (file->digest),
                                     NULL, NULL, NULL) == 0)
        first = (size_t) (tm_rendezvous_weight (key, self->self_id, strlen (self->self_id))
                          % count);
    size_t named = 0;
    //  Room for LAST after them, whatever R
    for (size_t k = 0; k < count && named < TM_BLOBS_SOURCES - 1; k++) {
        const char *owner = owners [(first + k) % count];
        if (!streq (owner, self->self_id) && !streq (owner, last)) {
            tm_blobs_want (self->blobs, file->digest, file->size, file->exec, owner);
            named++;
        }
    }
    free (owners);
    if (named > 0)
        S_BLOB_COUNT (self, fetch_from_owner, 1);
    return tm_blobs_want (self->blobs, file->digest, file->size, file->exec, last);
}

//  Origin side: asks the owners of each distinct blob RUN's tasks need
//  to fetch it from us now ("want"), before the holders ask for it.
static void
s_push_blobs (s_pool_t *self, s_run_t *run)
{
    if (!self->blobs || !*self->self_id)
        return;
    zhashx_t *seen = zhashx_new ();
    const char **owners = (const char **) malloc ((self->replicas + 1) * sizeof (char *));
    assert (owners);
    for (size_t i = 0; i < run->total; i++) {
        tm_task_t *task = tm_tasklist_get (run->tasks, i);
        if (task->skip_reason || task->unrunnable)
            continue;
        for (size_t k = 0; k < task->files_size; k++) {
            const tm_file_t *file = &task->files [k];
            if (file->size == 0 || zhashx_lookup (seen, file->digest))
                continue;       //  Nobody fetches an empty blob
            zhashx_insert (seen, file->digest, (void *) 1);
            size_t count = s_blob_owners (self, file->digest, owners);
            for (size_t j = 0; j < count; j++) {
                if (streq (owners [j], self->self_id))
                    continue;
                json_t *msg = json_pack ("{s:s, s:s, s:I, s:b}", "t", "want",
                                         "d", file->digest, "z", (json_int_t) file->size,
                                         "x", file->exec);
                s_send (self, owners [j], &msg);
                S_BLOB_COUNT (self, prefetch_asked, 1);
            }
        }
    }
    free (owners);
    zhashx_destroy (&seen);
}

//  Owner side: FROM, an origin, asks us to keep a blob of its run.  We
//  fetch it outside any task, from FROM only: it is sending the same to
//  every owner at once, so the others have no copy yet, and asking them
//  first would only keep us, and the holders that wait for us, from
//  reaching FROM.  The tasks that need it here later join that fetch.
static void
s_on_want (s_pool_t *self, const char *from, json_t *msg)
{
    const char *hex = json_string_value (json_object_get (msg, "d"));
    json_t *size = json_object_get (msg, "z");
    json_t *exec = json_object_get (msg, "x");
    if (!tm_task_digest_valid (hex)
    ||  !json_is_integer (size) || json_integer_value (size) < 0
    ||  (uint64_t) json_integer_value (size) > TM_CODEC_FILE_MAX
    ||  (exec && !json_is_boolean (exec))) {
        S_COUNT (self, malformed, 1);
        return;
    }
    if (!self->blobs || s_origin_gone (self, from) || streq (from, self->self_id))
        return;
    uint64_t bytes = (uint64_t) json_integer_value (size);
    int has = tm_blobs_has (self->blobs, hex, bytes);
    if (has >= 0) {
        if (has == 0)           //  Fetching it already: FROM is one more source
            tm_blobs_want (self->blobs, hex, bytes, json_is_true (exec), from);
        S_BLOB_COUNT (self, prefetch_present, 1);
        return;
    }
    tm_blobs_want (self->blobs, hex, bytes, json_is_true (exec), from);
    S_BLOB_COUNT (self, prefetch_started, 1);
}

//  ---------------------------------------------------------------------
//  The store's bounds (tm_storeindex.h)

//  Sets FIELD of the blob counters to VALUE, and publishes it.
#define S_BLOB_SET(self, field, value) do {                                 \
        (self)->blob_counts.field = (value);                                \
        if ((self)->blob_stats)                                             \
            __atomic_store_n (&(self)->blob_stats->field,                   \
                              (self)->blob_counts.field, __ATOMIC_RELAXED); \
    } while (0)

//  Publishes the store's figures for `testmesh stats` and `cache stats`.
static void
s_store_publish (s_pool_t *self)
{
    if (!self->index)
        return;
    tm_storeindex_stats_t stats;
    tm_storeindex_stats (self->index, &stats);
    S_BLOB_SET (self, store_bytes, stats.bytes);
    S_BLOB_SET (self, store_blobs, stats.blobs);
    S_BLOB_SET (self, store_cap, stats.cap);
    S_BLOB_SET (self, store_pinned, stats.pinned_bytes);
    S_BLOB_SET (self, store_owned, stats.owned_bytes);
    S_BLOB_SET (self, store_evicted, stats.evicted);
    S_BLOB_SET (self, store_evicted_bytes, stats.evicted_bytes);
}

//  True if we are one of blob HEX's R owners, in our view.
static bool
s_blob_owned (s_pool_t *self, const char *hex)
{
    if (!*self->self_id)
        return false;
    const char **owners = (const char **) malloc ((self->replicas + 1) * sizeof (char *));
    assert (owners);
    size_t count = s_blob_owners (self, hex, owners);
    bool owned = false;
    for (size_t i = 0; i < count && !owned; i++)
        owned = streq (owners [i], self->self_id);
    free (owners);
    return owned;
}

//  Blob HEX was used now (a run names it, a fetch stored it, a task
//  starts with it, we served it): it moves to the back of the eviction
//  order, and is indexed, and marked owned if it is ours, if it is new.
static void
s_store_use (s_pool_t *self, const char *hex)
{
    if (!self->index)
        return;
    bool known = tm_storeindex_has (self->index, hex);
    if (tm_storeindex_touch (self->index, hex) == 0 && !known)
        tm_storeindex_set_owned (self->index, hex, s_blob_owned (self, hex));
}

static void
s_store_evicted (const char *hex, void *arg)
{
    s_pool_t *self = (s_pool_t *) arg;
    //  The next want looks in the store again, and fetches it
    if (self->blobs)
        tm_blobs_forget (self->blobs, hex);
}

//  Evicts down to the cap if the store is over it, and publishes.
static void
s_store_bound (s_pool_t *self)
{
    if (!self->index)
        return;
    if (tm_storeindex_over (self->index)) {
        size_t evicted = tm_storeindex_evict (self->index, s_store_evicted, self);
        if (evicted)
            tm_debug ("work", "evicted %zu blob(s) from the content store", evicted);
    }
    s_store_publish (self);
}

//  ---------------------------------------------------------------------
//  Handoff: blobs to their new owners when membership changes (banner)

//  A handoff pass is due DELAY s from now, unless one is due already:
//  the changes of a burst make one pass.
static void
s_handoff_schedule (s_pool_t *self, double delay)
{
    if (self->synced && self->index && self->handoff_due == 0)
        self->handoff_due = tm_now () + delay;
}

static void
s_offer_destroy (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

//  Queues an offer of blob HEX to member ID, once.
static bool
s_offer (s_pool_t *self, const char *id, const char *hex, uint64_t size, bool exec)
{
    char key [2 * S_HEX + 2];
    snprintf (key, sizeof key, "%s %s", id, hex);
    if (zhashx_lookup (self->offered, key))
        return false;
    zhashx_insert (self->offered, key, (void *) 1);
    zlistx_t *list = (zlistx_t *) zhashx_lookup (self->offers, id);
    if (!list) {
        list = zlistx_new ();
        zlistx_set_destructor (list, s_offer_destroy);
        zhashx_insert (self->offers, id, list);
    }
    s_offer_t *offer = (s_offer_t *) zmalloc (sizeof (s_offer_t));
    snprintf (offer->hex, sizeof offer->hex, "%s", hex);
    offer->size = size;
    offer->exec = exec;
    zlistx_add_end (list, offer);
    return true;
}

static void
s_offers_destroy (void **item_p)
{
    zlistx_destroy ((zlistx_t **) item_p);
}

typedef struct {
    s_pool_t *self;
    const char **targets;       //  Scratch: R ids
    size_t offered;             //  Offers queued by this pass
    size_t owned;               //  Blobs we own now
    size_t blobs;               //  Blobs looked at
} s_pass_t;

//  A member's boot id now, or NULL if it is not alive now
//  (tm_placement_boot_fn).
static const char *
s_boot_of (void *arg, const char *id)
{
    s_pool_t *self = (s_pool_t *) arg;
    s_member_t *member = (s_member_t *) zhashx_lookup (self->members, id);
    return member && member->alive ? member->boot : NULL;
}

static void
s_pass_one (const char *hex, uint64_t size, bool exec, void *arg)
{
    s_pass_t *pass = (s_pass_t *) arg;
    s_pool_t *self = pass->self;
    pass->blobs++;
    uint8_t key [32];
    if (sodium_hex2bin (key, sizeof key, hex, strlen (hex), NULL, NULL, NULL) != 0)
        return;                 //  Not reached: the index holds digests only
    bool owner, was, placed;
    size_t count = tm_placement_targets (self->placement, key, pass->targets, &owner, &was,
                                         &placed);
    tm_storeindex_set_owned (self->index, hex, owner);
    pass->owned += owner;
    //  A copy we neither own nor owned is not ours to place (a holder's
    //  copy, an origin's), and an empty blob is made where it is needed
    if ((!owner && !was) || size == 0)
        return;
    for (size_t k = 0; k < count; k++)
        if (s_offer (self, pass->targets [k], hex, size, exec))
            pass->offered++;
}

//  One pass over our store: ownership marked again, blobs offered to
//  the owners that lack them (banner).
static void
s_handoff_pass (s_pool_t *self)
{
    self->handoff_due = 0;
    if (!*self->self_id || !self->index || !self->blobs)
        return;
    double started = tm_now ();
    s_pass_t pass = { .self = self };
    size_t max = zhashx_size (self->members) + 1;
    const char **ids = (const char **) malloc (max * sizeof (char *));
    pass.targets = (const char **) malloc ((self->replicas + 1) * sizeof (char *));
    assert (ids && pass.targets);
    size_t count = 0;
    for (s_member_t *member = (s_member_t *) zhashx_first (self->members); member;
         member = (s_member_t *) zhashx_next (self->members))
        if (member->alive && count < max)
            ids [count++] = member->id;
    tm_placement_begin (self->placement, ids, count, self->self_id, s_boot_of, self);
    tm_storeindex_each (self->index, s_pass_one, &pass);
    S_BLOB_COUNT (self, handoff_passes, 1);
    if (pass.offered) {
        self->offers_pending = true;
        tm_info ("work", "handoff: offering %zu blob(s) to their new owners", pass.offered);
    }
    tm_debug ("work", "handoff pass over %zu blob(s), %zu ours, in %.3f s",
              pass.blobs, pass.owned, tm_now () - started);
    //  The placement we just made is the next pass's "then"
    tm_placement_end (self->placement, s_boot_of, self);
    free (ids);
    free (pass.targets);
    s_store_publish (self);
}

//  Sends each member one keep message of at most S_KEEP_BATCH of the
//  offers queued for it (once a tick: a pass over a large store would
//  otherwise overflow the member's queue); offers to a member that is
//  no longer alive are dropped.
static void
s_offers_send (s_pool_t *self)
{
    if (zhashx_size (self->offers) == 0)
        return;
    zlistx_t *done = zlistx_new ();
    zlistx_set_destructor (done, (zlistx_destructor_fn *) zstr_free);
    for (zlistx_t *list = (zlistx_t *) zhashx_first (self->offers); list;
         list = (zlistx_t *) zhashx_next (self->offers)) {
        const char *id = (const char *) zhashx_cursor (self->offers);
        s_member_t *member = (s_member_t *) zhashx_lookup (self->members, id);
        json_t *blobs = json_array ();
        s_offer_t *offer;
        while (json_array_size (blobs) < S_KEEP_BATCH
           &&  (offer = (s_offer_t *) zlistx_detach (list, NULL))) {
            char key [2 * S_HEX + 2];
            snprintf (key, sizeof key, "%s %s", id, offer->hex);
            zhashx_delete (self->offered, key);
            if (member && member->alive)
                json_array_append_new (blobs, json_pack ("[s, I, b]", offer->hex,
                                                         (json_int_t) offer->size,
                                                         offer->exec));
            free (offer);
        }
        size_t count = json_array_size (blobs);
        if (count) {
            json_t *msg = json_pack ("{s:s, s:o}", "t", "keep", "b", blobs);
            s_send (self, id, &msg);
            S_BLOB_COUNT (self, handoff_offered, count);
        }
        else
            json_decref (blobs);
        if (zlistx_size (list) == 0)
            zlistx_add_end (done, strdup (id));
    }
    for (char *id = (char *) zlistx_first (done); id; id = (char *) zlistx_next (done))
        zhashx_delete (self->offers, id);
    zlistx_destroy (&done);
    if (zhashx_size (self->offers) == 0 && self->offers_pending) {
        self->offers_pending = false;
        S_BLOB_SET (self, handoff_done, (uint64_t) tm_wall_now ());
    }
}

//  A keep from FROM: it offers us blobs we own now (as it sees it) and
//  may lack.  We fetch each one we lack from it, in the background, if
//  the store has room for it without evicting what we own or need.
static void
s_on_keep (s_pool_t *self, const char *from, json_t *msg)
{
    json_t *blobs = json_object_get (msg, "b");
    if (!json_is_array (blobs) || json_array_size (blobs) > S_KEEP_BATCH) {
        S_COUNT (self, malformed, 1);
        return;
    }
    if (!self->blobs || !self->index || s_origin_gone (self, from)
    ||  streq (from, self->self_id))
        return;
    bool bad = false;
    size_t i;
    json_t *item;
    json_array_foreach (blobs, i, item) {
        const char *hex = json_string_value (json_array_get (item, 0));
        json_t *size = json_array_get (item, 1);
        json_t *exec = json_array_get (item, 2);
        if (!json_is_array (item) || json_array_size (item) != 3
        ||  !tm_task_digest_valid (hex)
        ||  !json_is_integer (size) || json_integer_value (size) < 0
        ||  (uint64_t) json_integer_value (size) > TM_CODEC_FILE_MAX
        ||  !json_is_boolean (exec)) {
            bad = true;         //  The rest of the message is still used
            continue;
        }
        uint64_t bytes = (uint64_t) json_integer_value (size);
        if (bytes == 0)
            continue;           //  Made where it is needed, never fetched
        int has = tm_blobs_has (self->blobs, hex, bytes);
        if (has >= 0) {
            if (has == 0)       //  Under way: FROM is one more source
                tm_blobs_want_background (self->blobs, hex, bytes, json_is_true (exec), from);
            S_BLOB_COUNT (self, handoff_present, 1);
            continue;
        }
        if (!tm_storeindex_room_for (self->index, bytes + self->handoff_pending_bytes)) {
            S_BLOB_COUNT (self, handoff_no_room, 1);
            continue;
        }
        tm_blobs_want_background (self->blobs, hex, bytes, json_is_true (exec), from);
        zhashx_update (self->handoff_pending, hex, (void *) (uintptr_t) bytes);
        self->handoff_pending_bytes += bytes;
        S_BLOB_COUNT (self, handoff_started, 1);
    }
    if (bad)
        S_COUNT (self, malformed, 1);
}

//  A blob we fetched because it was offered to us arrived, or failed.
static void
s_handoff_settled (s_pool_t *self, const char *hex)
{
    uintptr_t bytes = (uintptr_t) zhashx_lookup (self->handoff_pending, hex);
    if (bytes) {
        self->handoff_pending_bytes -= bytes;
        zhashx_delete (self->handoff_pending, hex);
    }
}

//  True if every file HELD's task needs is in our store; asks tm_blobs
//  for those that are not, from their owners and the task's origin
//  (never calls back).
static bool
s_ready (s_pool_t *self, s_held_t *held)
{
    bool ready = true;
    if (!self->blobs)
        return true;            //  No store: s_start fails it
    for (size_t i = 0; i < held->task->files_size; i++)
        if (s_want_file (self, &held->task->files [i], held->origin) != 1)
            ready = false;
    return ready;
}

//  Takes from GROUP the first of its first S_LOOKAHEAD tasks that can
//  start now, or NULL.
static s_held_t *
s_take_ready (s_pool_t *self, s_group_t *group)
{
    size_t looked = 0;
    for (s_held_t *held = (s_held_t *) zlistx_first (group->tasks);
         held && looked < S_LOOKAHEAD;
         held = (s_held_t *) zlistx_next (group->tasks), looked++)
        if (s_ready (self, held)) {
            zlistx_detach_cur (group->tasks);
            return held;
        }
    return NULL;
}

//  A shipped task's trace names paths in its work directory: rewrites
//  each "TAG WORK/..." line to "TAG ROOT/...", the path on the origin
//  that the origin hashes for the next run's key (tm_workdir.h).
static void
s_trace_to_origin (tm_result_t *result, const char *work, const char *root)
{
    size_t work_len = strlen (work);
    char *mapped = NULL;
    size_t mapped_size = 0;
    FILE *out = open_memstream (&mapped, &mapped_size);
    if (!out)
        return;
    for (const char *line = result->trace; *line; ) {
        const char *end = strchr (line, '\n');
        size_t len = end ? (size_t) (end - line) : strlen (line);
        //  "T PATH": the path starts after the tag and a space
        if (len > 2 + work_len && strncmp (line + 2, work, work_len) == 0
        &&  (line [2 + work_len] == '/' || 2 + work_len == len))
            fprintf (out, "%.2s%s%.*s\n", line, root,
                     (int) (len - 2 - work_len), line + 2 + work_len);
        else
            fprintf (out, "%.*s\n", (int) len, line);
        line += len + (end != NULL);
    }
    fclose (out);
    free (result->trace);
    result->trace = mapped;
}

//  Signs the cache claim of a passing attempt at a task its origin wants
//  cached (tm_cacheentry.h): we ran it, so the entry is ours to sign.
static void
s_sign_claim (s_pool_t *self, s_held_t *held, tm_result_t *result)
{
    tm_task_t *task = held->task;
    if (!self->has_sk || !task->cache_ident || !task->cache_decl
    ||  result->status != TM_STATUS_PASSED)
        return;
    tm_cacheentry_t *entry = tm_cacheentry_new ();
    memcpy (entry->ident, task->cache_ident, TM_CACHE_HEX);
    memcpy (entry->decl, task->cache_decl, TM_CACHE_HEX);
    entry->test_id = strdup (task->id);
    entry->status = result->status;
    entry->duration = result->duration;
    entry->created = tm_wall_now ();
    entry->member = strdup (self->name);
    tm_cacheentry_sign (entry, self->node_sk);
    memcpy (result->cache_pk, entry->member_pk, sizeof result->cache_pk);
    memcpy (result->cache_sig, entry->sig, sizeof result->cache_sig);
    result->cache_created = entry->created;
    result->cache_signed = true;
    tm_cacheentry_destroy (&entry);
}

//  Sends the result of an attempt at HELD to its origin, and destroys
//  HELD (and with it the task's work directory).
static void
s_send_result (s_pool_t *self, s_held_t **held_p, tm_result_t **result_p)
{
    s_held_t *held = *held_p;
    tm_result_t *result = *result_p;
    result->index = held->index;
    if (result->trace && held->workdir && held->task->root)
        s_trace_to_origin (result, tm_workdir_path (held->workdir), held->task->root);
    if (result->trace && strlen (result->trace) > TM_CODEC_STRING_MAX / 2) {
        //  A trace the codec would refuse would lose the result itself;
        //  without it the pass cannot be cached (a stale pass would
        //  follow a change of what it read)
        tm_warn ("work", "%s: its trace is over %d bytes: its pass is not cached",
                 held->task->id, TM_CODEC_STRING_MAX / 2);
        zstr_free (&result->trace);
        result->trace_lost = true;
    }
    s_sign_claim (self, held, result);
    json_t *encoded = tm_codec_result_encode (result);
    json_t *msg = json_pack ("{s:s, s:s, s:I, s:I, s:o}", "t", "result", "run", held->run,
                             "i", (json_int_t) held->index, "l", (json_int_t) held->lease,
                             "result", encoded);
    s_send (self, held->origin, &msg);
    tm_result_destroy (result_p);
    s_held_destroy (held_p);
}

//  HELD cannot run here: it fails, WHY, without starting.
static void
s_fail_held (s_pool_t *self, s_held_t **held_p, const char *why)
{
    s_held_t *held = *held_p;
    tm_info ("work", "%s: %s", held->task->id, why);
    tm_result_t *result = tm_result_new (held->task->id, held->index);
    result->status = TM_STATUS_FAILED;
    result->attempts = held->attempt;
    result->member = strdup (self->name);
    result->started = tm_wall_now ();
    tm_result_set_message (result, "%s", why);
    s_send_result (self, held_p, &result);
}

//  Starts HELD (taken from its group, its files all here) on the
//  executor; a shipped task first gets its work directory.  Returns
//  true if it runs (the caller tells its origin), false if it failed
//  (its result is sent) or went back to its queue.
static bool
s_start (s_pool_t *self, s_held_t *held)
{
    char *why = NULL;
    if (held->task->root && !self->store)
        why = tm_strdupf ("cannot fetch its files on %s: no content store", self->name);
    else
    if (held->task->root) {
        for (size_t i = 0; i < held->task->files_size; i++)
            s_store_use (self, held->task->files [i].digest);
        char *err = NULL;
        held->workdir = tm_workdir_new (self->work_base, self->store, held->task, &err);
        bool refetch = false;
        for (size_t i = 0; !held->workdir && i < held->task->files_size; i++)
            if (!tm_store_has (self->store, held->task->files [i].digest,
                               held->task->files [i].size)) {
                tm_blobs_forget (self->blobs, held->task->files [i].digest);
                refetch = true;
            }
        if (refetch) {
            //  A blob was removed behind our back: back to the head of its
            //  queue, to wait for it to be fetched again
            tm_info ("work", "%s: %s; fetching it again", held->task->id, err);
            free (err);
            s_group_t *group = s_group_require (self, held->origin, held->run);
            zlistx_add_start (group->tasks, held);
            self->queued++;
            return false;
        }
        if (!held->workdir) {
            why = tm_strdupf ("cannot make its work directory on %s: %s", self->name, err);
            free (err);
        }
    }
    char *missing = NULL;
    if (!why && tm_loadcheck_task (self->loadcheck, held->task, &missing) != 0)
        why = tm_strdupf ("cannot execute on %s: %s", self->name, missing);
    free (missing);
    if (why) {
        s_fail_held (self, &held, why);
        free (why);
        return false;
    }
    char key [24];
    snprintf (key, sizeof key, "%" PRIu64, held->local);
    zhashx_insert (self->running, key, held);
    //  Spawned here, not by the executor's thread: one wake-up less
    //  between the assign and the child's exec
    tm_executor_start (self->executor, &self->executor_config, held->task, held->attempt);
    return true;
}

//  Starts queued tasks while slots are free, one group after another,
//  skipping those whose files are not all here yet.
static void
s_pump (s_pool_t *self)
{
    //  Their origins hear of them once all are spawned: the next spawn
    //  does not wait for a message to be encoded and handed to gossip
    s_held_t **started = (s_held_t **) malloc ((size_t) self->slots * sizeof (s_held_t *));
    assert (started);
    size_t started_count = 0;
    size_t blocked = 0;         //  Groups in a row with nothing to start
    while ((int) zhashx_size (self->running) < self->slots && self->queued > 0
       &&  blocked < zlistx_size (self->groups)) {
        s_group_t *group = (s_group_t *) zlistx_first (self->groups);
        assert (group);
        s_held_t *held = s_take_ready (self, group);
        //  Round robin: this group goes to the back, or away if empty
        zlistx_first (self->groups);
        zlistx_detach_cur (self->groups);
        if (zlistx_size (group->tasks) > 0)
            zlistx_add_end (self->groups, group);
        else {
            void *item = group;
            s_group_destroy (&item);
        }
        if (!held) {
            blocked++;
            continue;
        }
        blocked = 0;
        self->queued--;
        held->prompt = held->arrived == self->event;
        if (s_start (self, held)) {
            assert (started_count < (size_t) self->slots);
            started [started_count++] = held;
        }
    }
    //  Still in self->running: no result can come back before we return
    for (size_t k = 0; k < started_count; k++) {
        s_held_t *held = started [k];
        json_t *msg = json_pack ("{s:s, s:s, s:I, s:I}", "t", "started", "run", held->run,
                                 "i", (json_int_t) held->index, "l", (json_int_t) held->lease);
        s_send (self, held->origin, &msg);
    }
    free (started);
    s_load_update (self);
    assert (s_invariants_hold (self));
}

//  Our executor finished an attempt: the result goes to the task's origin.
static void
s_on_done (s_pool_t *self, tm_result_t *result)
{
    char key [24];
    snprintf (key, sizeof key, "%zu", result->index);
    s_held_t *held = (s_held_t *) zhashx_lookup (self->running, key);
    S_COUNT (self, tasks_run, 1);
    if (!held) {
        tm_result_destroy (&result);
        return;
    }
    zhashx_delete (self->running, key);     //  Not owned by the hash
    if (held->orphan) {
        //  Its origin is gone; if it comes back, it hears of it as dropped
        tm_result_destroy (&result);
        s_held_destroy (&held);
        s_pump (self);
        return;
    }
    if (self->stats && held->prompt && held->decided > 0 && result->spawned > 0)
        s_ring_add (streq (held->origin, self->self_id) ? &self->stats->dispatch_self
                                                        : &self->stats->dispatch,
                    result->spawned - held->decided);
    s_send_result (self, &held, &result);
    s_pump (self);
}

//  Remembers that we dropped task INDEX of ORIGIN's RUN, held under
//  LEASE, because we saw ORIGIN dead.
static void
s_dropped_add (s_pool_t *self, const char *origin, const char *run, uint64_t index,
               uint64_t lease)
{
    json_t *record = json_object_get (self->dropped, origin);
    if (!record) {
        record = json_pack ("{s:f, s:{}}", "at", tm_now (), "runs");
        json_object_set_new (self->dropped, origin, record);
    }
    json_t *runs = json_object_get (record, "runs");
    json_t *items = json_object_get (runs, run);
    if (!items) {
        items = json_array ();
        json_object_set_new (runs, run, items);
    }
    json_array_append_new (items, json_pack ("[I, I]", (json_int_t) index, (json_int_t) lease));
    S_COUNT (self, dropped, 1);
}

//  ORIGIN, which we saw dead, is alive: it hears which of its tasks we
//  dropped, so that it can hand them out again.
static void
s_dropped_tell (s_pool_t *self, const char *origin)
{
    json_t *record = json_object_get (self->dropped, origin);
    if (!record)
        return;
    const char *run;
    json_t *items;
    json_object_foreach (json_object_get (record, "runs"), run, items) {
        tm_info ("work", "telling %.8s it came back after we dropped %zu of its task(s)",
                 origin, json_array_size (items));
        json_t *msg = json_pack ("{s:s, s:s, s:O}", "t", "dropped", "run", run, "items", items);
        s_send (self, origin, &msg);
    }
    json_object_del (self->dropped, origin);
}

//  Forgets what we dropped for origins that did not come back in time.
static void
s_dropped_expire (s_pool_t *self, double now)
{
    const char *origin;
    json_t *record, *tmp;
    json_object_foreach_safe (self->dropped, tmp, origin, record)
        if (now - json_number_value (json_object_get (record, "at")) > S_DROPPED_KEEP)
            json_object_del (self->dropped, origin);
}

//  Adds HELD's (index, lease) to NOTES["origin run"], the per-run lists
//  of moved and hold notes.
static void
s_note_add (json_t *notes, const s_held_t *held)
{
    char *note_key = tm_strdupf ("%s %s", held->origin, held->run);
    json_t *list = json_object_get (notes, note_key);
    if (!list) {
        list = json_array ();
        json_object_set_new (notes, note_key, list);
    }
    json_array_append_new (list, json_pack ("[I, I]", (json_int_t) held->index,
                                            (json_int_t) held->lease));
    free (note_key);
}

//  Kills what runs and drops what is queued for ORIGIN (and RUN, if
//  given): its origin cancelled the run, or died.
static void
s_drop (s_pool_t *self, const char *origin, const char *run)
{
    s_group_t *group = (s_group_t *) zlistx_first (self->groups);
    while (group) {
        s_group_t *next = (s_group_t *) zlistx_next (self->groups);
        if (streq (group->origin, origin) && (!run || streq (group->run, run))) {
            self->queued -= zlistx_size (group->tasks);
            zlistx_find (self->groups, group);
            zlistx_detach_cur (self->groups);
            void *item = group;
            s_group_destroy (&item);
            //  The list's cursor moved: start again from the head
            next = (s_group_t *) zlistx_first (self->groups);
        }
        group = next;
    }
    for (s_held_t *held = (s_held_t *) zhashx_first (self->running); held;
         held = (s_held_t *) zhashx_next (self->running))
        if (streq (held->origin, origin) && (!run || streq (held->run, run)))
            zsock_send (self->executor, "sp", "KILL", held->task);
    s_load_update (self);
}

//  A thief asks for half of our queue: from the tail of each group, the
//  biggest groups first.  We tell each task's origin where it went.
//  Only a thief we see alive gets anything: gossip drops what we send
//  to any other, and a give it dropped would take its tasks with it (the
//  origin, told they moved, would wait for them for ever).  A steal can
//  come from a member we see dead: sent just before it died, or sent by
//  a restarted member to the address it last knew for another, which a
//  restarted agent may have taken over (seen in tools/bench/dist_runs.sh).
static void
s_on_steal (s_pool_t *self, const char *thief, json_t *msg)
{
    (void) msg;
    s_member_t *member = (s_member_t *) zhashx_lookup (self->members, thief);
    bool alive = member && member->alive;
    size_t give = alive ? self->queued / 2 : 0;
    //  A single queued task goes too when we have no free slot for it
    if (alive && give == 0 && self->queued == 1
    &&  (int) zhashx_size (self->running) >= self->slots)
        give = 1;
    json_t *tasks = json_array ();
    json_t *moved = json_object ();         //  "origin run" -> [[i, l], ...]
    //  Only tasks the thief can run (its labels satisfy their requires)
    s_member_t *robber = (s_member_t *) zhashx_lookup (self->members, thief);
    char **labels = robber ? robber->labels : NULL;
    zlistx_t *exhausted = zlistx_new ();    //  Groups with nothing for it
    while (give > 0) {
        s_group_t *biggest = NULL;
        for (s_group_t *group = (s_group_t *) zlistx_first (self->groups); group;
             group = (s_group_t *) zlistx_next (self->groups))
            if ((!biggest || zlistx_size (group->tasks) > zlistx_size (biggest->tasks))
            &&  !zlistx_find (exhausted, group))
                biggest = group;
        if (!biggest || zlistx_size (biggest->tasks) == 0)
            break;
        s_held_t *held = (s_held_t *) zlistx_last (biggest->tasks);
        while (held && !tm_labels_satisfy (labels, held->task->requires, NULL))
            held = (s_held_t *) zlistx_prev (biggest->tasks);
        if (!held) {
            zlistx_add_end (exhausted, biggest);
            continue;
        }
        zlistx_detach_cur (biggest->tasks);
        self->queued--;
        give--;
        S_COUNT (self, given, 1);
        held->task->index = held->index;
        json_array_append_new (tasks, json_pack ("{s:s, s:s, s:I, s:I, s:i, s:o}",
            "o", held->origin, "run", held->run, "i", (json_int_t) held->index,
            "l", (json_int_t) held->lease, "a", held->attempt,
            "task", tm_codec_task_encode (held->task)));
        s_note_add (moved, held);
        s_held_destroy (&held);
    }
    zlistx_destroy (&exhausted);
    //  Empty groups go
    s_group_t *group = (s_group_t *) zlistx_first (self->groups);
    while (group) {
        if (zlistx_size (group->tasks) == 0) {
            zlistx_detach_cur (self->groups);
            void *item = group;
            s_group_destroy (&item);
            group = (s_group_t *) zlistx_first (self->groups);
        }
        else
            group = (s_group_t *) zlistx_next (self->groups);
    }
    const char *group_key;
    json_t *list;
    json_object_foreach (moved, group_key, list) {
        char origin [S_HEX];
        snprintf (origin, sizeof origin, "%.*s", S_HEX - 1, group_key);
        json_t *note = json_pack ("{s:s, s:s, s:s, s:O}", "t", "moved",
                                  "run", group_key + S_HEX, "to", thief, "items", list);
        s_send (self, origin, &note);
    }
    json_decref (moved);
    json_t *reply = json_pack ("{s:s, s:o}", "t", "give", "tasks", tasks);
    s_send (self, thief, &reply);
    s_load_update (self);
}

static void
s_on_give (s_pool_t *self, const char *from, json_t *msg)
{
    json_t *tasks = json_object_get (msg, "tasks");
    if (self->stealing && streq (from, self->steal_victim))
        self->stealing = false;
    size_t i, got = 0;
    json_t *item;
    json_array_foreach (tasks, i, item) {
        const char *origin = json_string_value (json_object_get (item, "o"));
        const char *run = json_string_value (json_object_get (item, "run"));
        if (!origin || strlen (origin) != S_HEX - 1 || !run
        ||  s_hold (self, origin, run, item, false, false) != 0)
            S_COUNT (self, malformed, 1);
        else
            got++;
    }
    S_COUNT (self, stolen, got);
    if (got == 0) {
        s_member_t *member = (s_member_t *) zhashx_lookup (self->members, from);
        if (member)
            member->empty_until = tm_now () + S_STEAL_BACKOFF;
    }
    s_pump (self);
}

//  With free slots and nothing queued, ask the member with the longest
//  gossiped queue for half of it.
static void
s_try_steal (s_pool_t *self, double now)
{
    if (self->stealing && now < self->steal_deadline)
        return;
    self->stealing = false;
    if (self->queued > 0 || (int) zhashx_size (self->running) >= self->slots)
        return;
    s_member_t *victim = NULL;
    for (s_member_t *member = (s_member_t *) zhashx_first (self->members); member;
         member = (s_member_t *) zhashx_next (self->members))
        if (member->alive && !streq (member->id, self->self_id) && member->queue > 0
        &&  member->empty_until <= now && (!victim || member->queue > victim->queue))
            victim = member;
    if (!victim)
        return;
    self->stealing = true;
    snprintf (self->steal_victim, sizeof self->steal_victim, "%s", victim->id);
    self->steal_deadline = now + S_STEAL_WAIT;
    S_COUNT (self, steals, 1);
    json_t *msg = json_pack ("{s:s, s:i}", "t", "steal",
                             "want", self->slots - (int) zhashx_size (self->running));
    s_send (self, victim->id, &msg);
}

//  An assign from ORIGIN: its tasks join our queue, and start if they can.
static void
s_on_assign (s_pool_t *self, const char *origin, json_t *msg)
{
    const char *run = json_string_value (json_object_get (msg, "run"));
    bool front = json_is_true (json_object_get (msg, "front"));
    json_t *tasks = json_object_get (msg, "tasks");
    size_t i;
    json_t *item;
    if (!run || !json_is_array (tasks))
        S_COUNT (self, malformed, 1);
    else
    if (front) {
        //  In reverse, so that the batch keeps its order at the head
        for (i = json_array_size (tasks); i-- > 0; )
            if (s_hold (self, origin, run, json_array_get (tasks, i), true, true) != 0)
                S_COUNT (self, malformed, 1);
            else
                S_COUNT (self, assigned, 1);
    }
    else
        json_array_foreach (tasks, i, item)
            if (s_hold (self, origin, run, item, false, true) != 0)
                S_COUNT (self, malformed, 1);
            else
                S_COUNT (self, assigned, 1);
    s_pump (self);
}

//  ---------------------------------------------------------------------
//  Origin side

//  Sends MEMBER the assign of BATCH (taken), tasks of RUN.  Our own
//  share is taken at once, in this event, without the round trip through
//  gossip (two thread wake-ups): it is ours to hold as soon as we decide.
static void
s_assign (s_pool_t *self, s_member_t *member, s_run_t *run, bool front, json_t **batch_p)
{
    json_t *msg = json_pack ("{s:s, s:s, s:b, s:o}", "t", "assign", "run", run->key,
                             "front", front, "tasks", *batch_p);
    *batch_p = NULL;
    if (*self->self_id && streq (member->id, self->self_id)) {
        s_on_assign (self, self->self_id, msg);
        json_decref (msg);
    }
    else
        s_send (self, member->id, &msg);
}

//  Members that may be given work, with their slots.
static size_t
s_candidates (s_pool_t *self, s_member_t **out, size_t max)
{
    size_t count = 0;
    for (s_member_t *member = (s_member_t *) zhashx_first (self->members); member;
         member = (s_member_t *) zhashx_next (self->members))
        if (member->alive && member->slots > 0 && count < max)
            out [count++] = member;
    return count;
}

//  Hands the tasks INDICES of RUN out under fresh leases, in proportion
//  to the members' free slots (their slots, less the work they have),
//  keeping the given order within each member's
//  share (so each queue stays longest first).  TO, if given, takes them
//  all (a retry goes back to the member that ran it, at the front).
static void
s_place (s_pool_t *self, s_run_t *run, const size_t *indices, size_t count,
         const char *to, bool front)
{
    size_t max = zhashx_size (self->members) + 1;
    s_member_t **members = (s_member_t **) calloc (max, sizeof (s_member_t *));
    json_t **batches = (json_t **) calloc (max, sizeof (json_t *));
    assert (members && batches);
    size_t n = 0;
    if (to) {
        s_member_t *member = (s_member_t *) zhashx_lookup (self->members, to);
        if (member && member->alive)
            members [n++] = member;
    }
    if (n == 0)
        n = s_candidates (self, members, max);
    if (n == 0) {
        //  Gossip has not told us about anyone yet, not even us: use us
        s_member_t *member = (s_member_t *) zhashx_lookup (self->members, self->self_id);
        if (member)
            members [n++] = member;
    }
    //  Each member starts with the work it has already (gossiped: busy
    //  slots and queue; ours, exact), so the run goes where slots are
    //  free: in proportion to free slots, and to all slots once every
    //  member is busy (a retry's member, TO, takes it whatever its load)
    for (size_t m = 0; m < n; m++) {
        s_member_t *member = members [m];
        if (to)
            member->placed = 0;
        else
        if (streq (member->id, self->self_id))
            member->placed = (double) (self->queued + zhashx_size (self->running));
        else
            member->placed = (double) (member->queue + member->slots - member->free);
    }
    for (size_t k = 0; k < count; k++) {
        s_entry_t *entry = &run->entries [indices [k]];
        tm_task_t *task = tm_tasklist_get (run->tasks, indices [k]);
        if (n == 0) {
            //  Nobody at all: not even we are a member (we left)
            entry->lease = ++self->next_lease;
            entry->holder [0] = 0;
            continue;
        }
        //  The least loaded member, per slot, whose labels satisfy it
        size_t best = n;
        for (size_t m = 0; m < n; m++)
            if (tm_labels_satisfy (members [m]->labels, task->requires, NULL)
            &&  (best == n || members [m]->placed / members [m]->slots
                            < members [best]->placed / members [best]->slots))
                best = m;
        if (best == n) {
            const char *missing = "?";
            tm_labels_satisfy (NULL, task->requires, &missing);
            char *why = tm_strdupf ("cannot run: no alive member has the label %s "
                                    "(testmesh members --json shows their labels)", missing);
            s_fail (self, run, indices [k], why);
            free (why);
            continue;
        }
        double decided = tm_wall_now ();    //  Holders measure dispatch from it
        json_t *encoded = tm_codec_task_encode (task);
        if (!encoded) {
            s_skip (self, run, indices [k], "cannot send it to another member: its "
                    "command, paths or environment are not valid UTF-8");
            continue;
        }
        members [best]->placed += 1;
        entry->state = ENTRY_QUEUED;
        entry->lease = ++self->next_lease;
        snprintf (entry->holder, sizeof entry->holder, "%s", members [best]->id);
        entry->renewed = tm_now ();
        if (!batches [best])
            batches [best] = json_array ();
        json_array_append_new (batches [best], json_pack ("{s:I, s:I, s:i, s:f, s:o}",
            "i", (json_int_t) indices [k], "l", (json_int_t) entry->lease,
            "a", entry->attempt, "d", decided, "task", encoded));
        if (json_array_size (batches [best]) >= S_ASSIGN_BATCH)
            s_assign (self, members [best], run, front, &batches [best]);
    }
    //  Our own share last: starting it takes time the others need not wait
    size_t own = n;
    for (size_t m = 0; m < n; m++)
        if (batches [m] && streq (members [m]->id, self->self_id))
            own = m;
        else
        if (batches [m])
            s_assign (self, members [m], run, front, &batches [m]);
    if (own < n)
        s_assign (self, members [own], run, front, &batches [own]);
    free (batches);
    free (members);
}

static void
s_finish_if_done (s_pool_t *self, s_run_t *run)
{
    if (run->done < run->total)
        return;
    s_run_unpin (run);
    zsock_send (self->pipe, "ss", "FINISHED", run->key);
    zhashx_delete (self->runs, run->key);
}

//  The final result of a task: to the owner, once.
static void
s_final (s_pool_t *self, s_run_t *run, s_entry_t *entry, tm_result_t *result)
{
    assert (entry->state != ENTRY_DONE);
    entry->state = ENTRY_DONE;
    tm_result_destroy (&entry->first_failure);
    run->done++;
    zsock_send (self->pipe, "ssp", "RESULT", run->key, result);
}

static void
s_skip (s_pool_t *self, s_run_t *run, size_t index, const char *why)
{
    tm_task_t *task = tm_tasklist_get (run->tasks, index);
    s_entry_t *entry = &run->entries [index];
    tm_result_t *result;
    if (entry->first_failure) {
        //  A retry that never ran does not undo the failure before it
        result = entry->first_failure;
        entry->first_failure = NULL;
    }
    else {
        result = tm_result_new (task->id, index);
        result->status = TM_STATUS_SKIPPED;
        result->attempts = entry->attempt - 1 > 0 ? entry->attempt - 1 : 0;
        result->member = strdup (self->name);
        result->started = tm_wall_now ();
        tm_result_set_message (result, "%s", why);
    }
    s_final (self, run, entry, result);
}

//  A task that cannot run anywhere: FAILED with WHY, never run.
static void
s_fail (s_pool_t *self, s_run_t *run, size_t index, const char *why)
{
    tm_task_t *task = tm_tasklist_get (run->tasks, index);
    tm_result_t *result = tm_result_new (task->id, index);
    result->status = TM_STATUS_FAILED;
    result->attempts = 0;
    result->member = strdup (self->name);
    result->started = tm_wall_now ();
    tm_result_set_message (result, "%s", why);
    s_final (self, run, &run->entries [index], result);
}

static void
s_cancel (s_pool_t *self, s_run_t *run, const char *reason)
{
    if (run->cancelling)
        return;
    run->cancelling = true;
    run->cancel_reason = strdup (reason);
    run->cancel_deadline = tm_now () + S_CANCEL_WAIT;
    char *why = tm_strdupf ("not run: %s", reason);
    for (size_t i = 0; i < run->total; i++)
        if (run->entries [i].state == ENTRY_QUEUED)
            s_skip (self, run, i, why);
    free (why);
    for (s_member_t *member = (s_member_t *) zhashx_first (self->members); member;
         member = (s_member_t *) zhashx_next (self->members))
        if (member->alive) {
            json_t *msg = json_pack ("{s:s, s:s}", "t", "cancel", "run", run->key);
            s_send (self, member->id, &msg);
        }
}

static void
s_run_start (s_pool_t *self, const char *key, tm_tasklist_t *tasks, int retries, bool fail_fast)
{
    s_run_t *run = (s_run_t *) zmalloc (sizeof (s_run_t));
    run->key = strdup (key);
    run->tasks = tasks;
    run->total = tm_tasklist_size (tasks);
    run->entries = (s_entry_t *) calloc (run->total + 1, sizeof (s_entry_t));
    assert (run->entries);
    run->retries = retries;
    run->fail_fast = fail_fast;
    if (zhashx_insert (self->runs, key, run) != 0) {
        //  The owner reused a key: a programmer error on its side
        void *item = run;
        s_run_destroy (&item);
        assert (false);
        return;
    }
    //  Holders fetch its files from us until it ends: pinned till then.
    //  The CLI put them in the store; we index them now
    run->index = self->index;
    if (self->index) {
        zhashx_t *seen = zhashx_new ();
        for (size_t i = 0; i < run->total; i++) {
            tm_task_t *task = tm_tasklist_get (tasks, i);
            s_pin_task (run->index, task, true);
            for (size_t k = 0; k < task->files_size; k++)
                if (zhashx_insert (seen, task->files [k].digest, (void *) 1) == 0)
                    s_store_use (self, task->files [k].digest);
        }
        zhashx_destroy (&seen);
        s_store_bound (self);
    }
    //  Longest expected first; each member's share keeps that order
    tm_task_t **order = (tm_task_t **) malloc ((run->total + 1) * sizeof (tm_task_t *));
    size_t *indices = (size_t *) malloc ((run->total + 1) * sizeof (size_t));
    assert (order && indices);
    for (size_t i = 0; i < run->total; i++)
        order [i] = tm_tasklist_get (tasks, i);
    qsort (order, run->total, sizeof (tm_task_t *), tm_scheduler_compare_expected);
    size_t count = 0;
    for (size_t i = 0; i < run->total; i++) {
        run->entries [order [i]->index].attempt = 1;
        if (order [i]->skip_reason)
            s_skip (self, run, order [i]->index, order [i]->skip_reason);
        else
        if (order [i]->unrunnable)
            s_fail (self, run, order [i]->index, order [i]->unrunnable);
        else
            indices [count++] = order [i]->index;
    }
    free (order);
    //  The owners' fetches get a head start on the holders'
    s_push_blobs (self, run);
    s_place (self, run, indices, count, NULL, false);
    free (indices);
    s_finish_if_done (self, run);
}

//  Looks up the run and entry a holder's message is about.  NULL if we
//  do not own that run (finished, or never ours) or the index is bad.
static s_entry_t *
s_entry_of (s_pool_t *self, json_t *msg, s_run_t **run_p, size_t *index_p, uint64_t *lease_p)
{
    const char *key = json_string_value (json_object_get (msg, "run"));
    json_t *index = json_object_get (msg, "i");
    json_t *lease = json_object_get (msg, "l");
    s_run_t *run = key ? (s_run_t *) zhashx_lookup (self->runs, key) : NULL;
    if (!run || !json_is_integer (index) || !json_is_integer (lease)
    ||  json_integer_value (index) < 0 || (size_t) json_integer_value (index) >= run->total)
        return NULL;
    *run_p = run;
    *index_p = (size_t) json_integer_value (index);
    *lease_p = (uint64_t) json_integer_value (lease);
    return &run->entries [*index_p];
}

static void
s_on_started (s_pool_t *self, const char *from, json_t *msg)
{
    s_run_t *run;
    size_t index;
    uint64_t lease;
    s_entry_t *entry = s_entry_of (self, msg, &run, &index, &lease);
    if (!entry || entry->lease != lease || entry->state != ENTRY_QUEUED || run->cancelling)
        return;
    entry->state = ENTRY_RUNNING;
    snprintf (entry->holder, sizeof entry->holder, "%s", from);
    entry->renewed = tm_now ();
    s_member_t *member = (s_member_t *) zhashx_lookup (self->members, from);
    zsock_send (self->pipe, "ssis", "STARTED", run->key, (int) index,
                member && member->name ? member->name : from);
}

static void
s_on_result (s_pool_t *self, const char *from, json_t *msg)
{
    s_run_t *run;
    size_t index;
    uint64_t lease;
    s_entry_t *entry = s_entry_of (self, msg, &run, &index, &lease);
    if (!entry || entry->state == ENTRY_DONE || entry->lease != lease) {
        S_COUNT (self, duplicates, 1);
        return;
    }
    char *err = NULL;
    tm_result_t *result = tm_codec_result_decode (json_object_get (msg, "result"), &err);
    tm_task_t *task = tm_tasklist_get (run->tasks, index);
    if (!result || result->index != index || !streq (result->id, task->id)) {
        tm_warn ("work", "dropped a result from %.8s: %s", from,
                 err ? err : "it names another test");
        free (err);
        tm_result_destroy (&result);
        S_COUNT (self, malformed, 1);
        return;
    }
    bool failed = !tm_status_ok (result->status);
    if (failed && !run->cancelling && entry->attempt <= run->retries) {
        //  Retry on the member that ran it, at the front of its queue
        if (!entry->first_failure)
            entry->first_failure = result;
        else
            tm_result_destroy (&result);
        entry->attempt++;
        s_place (self, run, &index, 1, from, true);
        return;
    }
    if (entry->first_failure && result->status == TM_STATUS_SKIPPED) {
        //  A cancelled retry reports the failure before it
        int tried = result->attempts;
        tm_result_destroy (&result);
        result = entry->first_failure;
        entry->first_failure = NULL;
        if (tried > result->attempts)
            result->attempts = tried;
        failed = true;
    }
    else
    if (!failed && entry->first_failure && result->status == TM_STATUS_PASSED) {
        result->status = TM_STATUS_FLAKY;
        tm_result_set_message (result, "passed on attempt %d after: %s", entry->attempt,
                               entry->first_failure->message ? entry->first_failure->message
                               : tm_status_name (entry->first_failure->status));
    }
    char *id = failed && run->fail_fast && !run->cancelling ? strdup (result->id) : NULL;
    s_final (self, run, entry, result);
    if (id) {
        char *reason = tm_strdupf ("--fail-fast after '%s' failed", id);
        s_cancel (self, run, reason);
        free (reason);
        free (id);
    }
    s_finish_if_done (self, run);
}

static void
s_on_moved (s_pool_t *self, const char *from, json_t *msg)
{
    const char *key = json_string_value (json_object_get (msg, "run"));
    const char *to = json_string_value (json_object_get (msg, "to"));
    s_run_t *run = key ? (s_run_t *) zhashx_lookup (self->runs, key) : NULL;
    if (!run || !to || strlen (to) != S_HEX - 1)
        return;
    size_t i;
    json_t *item;
    json_array_foreach (json_object_get (msg, "items"), i, item) {
        json_int_t index = json_integer_value (json_array_get (item, 0));
        json_int_t lease = json_integer_value (json_array_get (item, 1));
        if (index < 0 || (size_t) index >= run->total)
            continue;
        s_entry_t *entry = &run->entries [index];
        //  Only its holder under this lease can pass it on
        if (entry->state == ENTRY_QUEUED && entry->lease == (uint64_t) lease
        &&  streq (entry->holder, from)) {
            snprintf (entry->holder, sizeof entry->holder, "%s", to);
            entry->renewed = tm_now ();
        }
    }
}

//  A holder says which of our tasks it still has: their leases live on.
static void
s_on_hold (s_pool_t *self, const char *from, json_t *msg)
{
    const char *key = json_string_value (json_object_get (msg, "run"));
    s_run_t *run = key ? (s_run_t *) zhashx_lookup (self->runs, key) : NULL;
    if (!run)
        return;
    double now = tm_now ();
    size_t i;
    json_t *item;
    json_array_foreach (json_object_get (msg, "items"), i, item) {
        json_int_t index = json_integer_value (json_array_get (item, 0));
        json_int_t lease = json_integer_value (json_array_get (item, 1));
        if (index < 0 || (size_t) index >= run->total)
            continue;
        s_entry_t *entry = &run->entries [index];
        if (entry->state != ENTRY_DONE && entry->lease == (uint64_t) lease
        &&  streq (entry->holder, from))
            entry->renewed = now;
    }
}

//  Holder side: tells each origin which of its tasks we hold, queued or
//  running, so that their leases live on.  A task we lost without the
//  origin learning it (we dropped it taking the origin for dead while it
//  took us for alive; a moved note lost with its thief) is not renewed,
//  and its origin takes it back after S_LEASE_TIMEOUT.
static void
s_renew (s_pool_t *self)
{
    json_t *notes = json_object ();         //  "origin run" -> [[i, l], ...]
    for (s_group_t *group = (s_group_t *) zlistx_first (self->groups); group;
         group = (s_group_t *) zlistx_next (self->groups))
        for (s_held_t *held = (s_held_t *) zlistx_first (group->tasks); held;
             held = (s_held_t *) zlistx_next (group->tasks))
            s_note_add (notes, held);
    for (s_held_t *held = (s_held_t *) zhashx_first (self->running); held;
         held = (s_held_t *) zhashx_next (self->running))
        if (!held->orphan)      //  Being killed: its origin hears 'dropped'
            s_note_add (notes, held);
    const char *note_key;
    json_t *list;
    json_object_foreach (notes, note_key, list) {
        char origin [S_HEX];
        snprintf (origin, sizeof origin, "%.*s", S_HEX - 1, note_key);
        json_t *note = json_pack ("{s:s, s:s, s:O}", "t", "hold", "run", note_key + S_HEX,
                                  "items", list);
        s_send (self, origin, &note);
    }
    json_decref (notes);
}

//  Origin side: tasks whose holder stopped renewing them go elsewhere.
static void
s_lease_expire (s_pool_t *self, double now)
{
    for (s_run_t *run = (s_run_t *) zhashx_first (self->runs); run;
         run = (s_run_t *) zhashx_next (self->runs)) {
        if (run->cancelling)
            continue;
        size_t *indices = (size_t *) malloc ((run->total + 1) * sizeof (size_t));
        assert (indices);
        size_t count = 0;
        for (size_t i = 0; i < run->total; i++) {
            s_entry_t *entry = &run->entries [i];
            if (entry->state != ENTRY_DONE && entry->lease > 0
            &&  now - entry->renewed > S_LEASE_TIMEOUT)
                indices [count++] = i;
        }
        if (count > 0) {
            tm_warn ("work", "run %s: %zu task(s) not confirmed by their holders for "
                     "%.0f s; re-queueing them", run->key, count, S_LEASE_TIMEOUT);
            S_COUNT (self, requeued, count);
            s_place (self, run, indices, count, NULL, true);
        }
        free (indices);
    }
}

//  A holder saw us dead and dropped these tasks of ours (or an assign of
//  ours to FROM never left): we hand them out again.  Only the current
//  lease counts, as for results: a lease names one hand-out, and a
//  holder knows it only if it held the task.
static void
s_on_dropped (s_pool_t *self, const char *from, json_t *msg)
{
    const char *key = json_string_value (json_object_get (msg, "run"));
    json_t *items = json_object_get (msg, "items");
    s_run_t *run = key ? (s_run_t *) zhashx_lookup (self->runs, key) : NULL;
    if (!run || run->cancelling || !json_is_array (items))
        return;                 //  Cancelling: those still running expire
    size_t *indices = (size_t *) malloc ((json_array_size (items) + 1) * sizeof (size_t));
    assert (indices);
    size_t count = 0, i;
    json_t *item;
    json_array_foreach (items, i, item) {
        json_int_t index = json_integer_value (json_array_get (item, 0));
        json_int_t lease = json_integer_value (json_array_get (item, 1));
        if (index < 0 || (size_t) index >= run->total)
            continue;
        s_entry_t *entry = &run->entries [index];
        if (entry->state != ENTRY_DONE && entry->lease == (uint64_t) lease && lease > 0) {
            entry->lease = 0;   //  Void until placed again: a repeat does not count
            indices [count++] = (size_t) index;
        }
    }
    if (count > 0) {
        s_member_t *member = (s_member_t *) zhashx_lookup (self->members, from);
        tm_info ("work", "re-queueing %zu task(s) of run %s that '%s' dropped or never got",
                 count, run->key, member && member->name ? member->name : from);
        S_COUNT (self, requeued, count);
        s_place (self, run, indices, count, NULL, true);
    }
    free (indices);
}

//  Gossip did not send MSG to member TO: it saw TO dead (or never knew
//  it) by the time it got it, though we did not yet.  What it carried
//  must not be lost with it.
static void
s_on_unsent (s_pool_t *self, const char *to, json_t *msg)
{
    const char *type = json_string_value (json_object_get (msg, "t"));
    const char *run = json_string_value (json_object_get (msg, "run"));
    size_t i;
    json_t *item;
    if (streq (type, "assign") && run) {
        //  Our own tasks: handed out again, as if TO had dropped them
        json_t *items = json_array ();
        json_array_foreach (json_object_get (msg, "tasks"), i, item)
            json_array_append_new (items, json_pack ("[O, O]", json_object_get (item, "i"),
                                                     json_object_get (item, "l")));
        json_t *dropped = json_pack ("{s:s, s:s, s:o}", "t", "dropped", "run", run,
                                     "items", items);
        s_on_dropped (self, to, dropped);
        json_decref (dropped);
    }
    else
    if (streq (type, "give")) {
        //  Out of our queue, told moved, never given: their origins hand
        //  them out again
        json_t *by_origin = json_object ();     //  "origin run" -> [[i, l]...]
        json_array_foreach (json_object_get (msg, "tasks"), i, item) {
            const char *origin = json_string_value (json_object_get (item, "o"));
            const char *task_run = json_string_value (json_object_get (item, "run"));
            if (!origin || strlen (origin) != S_HEX - 1 || !task_run)
                continue;
            char *key = tm_strdupf ("%s %s", origin, task_run);
            json_t *list = json_object_get (by_origin, key);
            if (!list) {
                list = json_array ();
                json_object_set_new (by_origin, key, list);
            }
            json_array_append_new (list, json_pack ("[O, O]", json_object_get (item, "i"),
                                                    json_object_get (item, "l")));
            free (key);
        }
        const char *key;
        json_t *list;
        json_object_foreach (by_origin, key, list) {
            char origin [S_HEX];
            snprintf (origin, sizeof origin, "%.*s", S_HEX - 1, key);
            json_t *note = json_pack ("{s:s, s:s, s:O}", "t", "dropped", "run", key + S_HEX,
                                      "items", list);
            s_send (self, origin, &note);
        }
        json_decref (by_origin);
    }
    else
    if ((streq (type, "result") || streq (type, "dropped")) && run) {
        //  For an origin gossip sees dead: it hears of them if it comes back
        if (streq (type, "result"))
            s_dropped_add (self, to, run, (uint64_t) json_integer_value (json_object_get (msg, "i")),
                           (uint64_t) json_integer_value (json_object_get (msg, "l")));
        else
            json_array_foreach (json_object_get (msg, "items"), i, item)
                s_dropped_add (self, to, run, (uint64_t) json_integer_value (json_array_get (item, 0)),
                               (uint64_t) json_integer_value (json_array_get (item, 1)));
    }
    //  Others need nothing: a started is followed by its result, a moved
    //  origin is dead (its thief reports under the same lease if it comes
    //  back), a steal is abandoned after S_STEAL_WAIT, a cancel's run
    //  dies with its origin
}

//  Member ID is gone (dead, left, or restarted): its tasks go elsewhere
//  under new leases; the tasks it gave us are dropped.  MAY_RETURN: it
//  was declared dead, which may be wrong, so we remember what we drop.
static void
s_member_gone (s_pool_t *self, const char *id, bool may_return)
{
    for (s_run_t *run = (s_run_t *) zhashx_first (self->runs); run;
         run = (s_run_t *) zhashx_next (self->runs)) {
        size_t *indices = (size_t *) malloc ((run->total + 1) * sizeof (size_t));
        assert (indices);
        size_t count = 0;
        for (size_t i = 0; i < run->total; i++) {
            s_entry_t *entry = &run->entries [i];
            if (entry->state != ENTRY_DONE && streq (entry->holder, id))
                indices [count++] = i;
        }
        if (count > 0 && !run->cancelling) {
            tm_info ("work", "re-queueing %zu task(s) of run %s held by a member that is gone",
                     count, run->key);
            S_COUNT (self, requeued, count);
            s_place (self, run, indices, count, NULL, true);
        }
        else
            for (size_t k = 0; k < count; k++)
                s_skip (self, run, indices [k], "not run: cancelled");
        free (indices);
    }
    if (may_return) {
        for (s_group_t *group = (s_group_t *) zlistx_first (self->groups); group;
             group = (s_group_t *) zlistx_next (self->groups))
            if (streq (group->origin, id))
                for (s_held_t *held = (s_held_t *) zlistx_first (group->tasks); held;
                     held = (s_held_t *) zlistx_next (group->tasks))
                    s_dropped_add (self, id, held->run, held->index, held->lease);
        for (s_held_t *held = (s_held_t *) zhashx_first (self->running); held;
             held = (s_held_t *) zhashx_next (self->running))
            if (streq (held->origin, id) && !held->orphan) {
                s_dropped_add (self, id, held->run, held->index, held->lease);
                held->orphan = true;
            }
    }
    else
        for (s_held_t *held = (s_held_t *) zhashx_first (self->running); held;
             held = (s_held_t *) zhashx_next (self->running))
            if (streq (held->origin, id))
                held->orphan = true;
    s_drop (self, id, NULL);
    if (self->blobs)
        tm_blobs_source_gone (self->blobs, id);
    if (self->stealing && streq (self->steal_victim, id))
        self->stealing = false;
    //  zhashx_first/next above: finishing inside the loop would unsettle it
    zlistx_t *finished = zlistx_new ();
    for (s_run_t *run = (s_run_t *) zhashx_first (self->runs); run;
         run = (s_run_t *) zhashx_next (self->runs))
        if (run->done == run->total)
            zlistx_add_end (finished, run);
    for (s_run_t *run = (s_run_t *) zlistx_first (finished); run;
         run = (s_run_t *) zlistx_next (finished))
        s_finish_if_done (self, run);
    zlistx_destroy (&finished);
}

//  Cancelled runs whose killed tasks did not come back in time.
static void
s_cancel_expire (s_pool_t *self, double now)
{
    zlistx_t *finished = zlistx_new ();
    for (s_run_t *run = (s_run_t *) zhashx_first (self->runs); run;
         run = (s_run_t *) zhashx_next (self->runs)) {
        if (!run->cancelling || now < run->cancel_deadline)
            continue;
        for (size_t i = 0; i < run->total; i++)
            if (run->entries [i].state != ENTRY_DONE)
                s_skip (self, run, i, "cancelled; its member did not answer");
        zlistx_add_end (finished, run);
    }
    for (s_run_t *run = (s_run_t *) zlistx_first (finished); run;
         run = (s_run_t *) zlistx_next (finished))
        s_finish_if_done (self, run);
    zlistx_destroy (&finished);
}

//  ---------------------------------------------------------------------
//  Messages from gossip

static void
s_on_member (s_pool_t *self, zmsg_t *msg)
{
    char *id = zmsg_popstr (msg), *name = zmsg_popstr (msg), *state = zmsg_popstr (msg);
    char *address = zmsg_popstr (msg), *meta = zmsg_popstr (msg);
    if (id && strlen (id) == S_HEX - 1 && name && state) {
        s_member_t *member = (s_member_t *) zhashx_lookup (self->members, id);
        if (!member) {
            member = (s_member_t *) zmalloc (sizeof (s_member_t));
            snprintf (member->id, sizeof member->id, "%s", id);
            zhashx_insert (self->members, id, member);
        }
        free (member->name);
        member->name = strdup (name);
        bool was_alive = member->alive;
        member->alive = streq (state, "alive") || streq (state, "suspect");
        json_error_t error;
        json_t *json = meta && *meta ? json_loads (meta, 0, &error) : NULL;
        json_t *slots = json_object_get (json, "slots");
        json_t *queue = json_object_get (json, "queue");
        json_t *free_slots = json_object_get (json, "free");
        const char *boot = json_string_value (json_object_get (json, "boot"));
        if (boot && *member->boot && !streq (boot, member->boot) && was_alive
        &&  !streq (id, self->self_id)) {
            //  Restarted faster than anyone could see it dead: the new
            //  process holds nothing the old one held
            tm_info ("work", "member '%s' restarted", name);
            s_member_gone (self, id, false);
            s_handoff_schedule (self, S_HANDOFF_DELAY);
        }
        if (boot)
            snprintf (member->boot, sizeof member->boot, "%s", boot);
        tm_strv_free (&member->labels);
        const char *key;
        json_t *value;
        json_object_foreach (json_object_get (json, "labels"), key, value)
            if (json_is_string (value)) {
                char *word = tm_strdupf ("%s=%s", key, json_string_value (value));
                tm_strv_push (&member->labels, word);
                free (word);
            }
        member->slots = json_is_integer (slots) ? (int) json_integer_value (slots) : 0;
        if (member->slots < 0 || member->slots > 4096)
            member->slots = 0;
        member->queue = json_is_integer (queue) ? (int) json_integer_value (queue) : 0;
        if (member->queue < 0)
            member->queue = 0;
        member->free = json_is_integer (free_slots) ? (int) json_integer_value (free_slots)
                                                    : member->slots;
        if (member->free < 0 || member->free > member->slots)
            member->free = member->slots;
        json_decref (json);
        if (was_alive != member->alive)
            s_handoff_schedule (self, S_HANDOFF_DELAY);
        if (was_alive && !member->alive && !streq (id, self->self_id))
            s_member_gone (self, id, streq (state, "dead"));
        else
        if (!was_alive && member->alive && !streq (id, self->self_id))
            s_dropped_tell (self, id);
    }
    free (id);
    free (name);
    free (state);
    free (address);
    free (meta);
}

static void
s_on_recv (s_pool_t *self, const char *from, zframe_t *payload)
{
    //  A JSON object, then, for a chunk only, a NUL and binary data
    const char *text = (const char *) zframe_data (payload);
    const char *nul = (const char *) memchr (text, 0, zframe_size (payload));
    size_t text_size = nul ? (size_t) (nul - text) : zframe_size (payload);
    json_error_t error;
    json_t *msg = json_loadb (text, text_size, 0, &error);
    const char *type = json_string_value (json_object_get (msg, "t"));
    if (!msg || !type || strlen (from) != S_HEX - 1
    ||  (nul && !streq (type, "chunk"))) {
        S_COUNT (self, malformed, 1);
        json_decref (msg);
        return;
    }
    if (streq (type, "fetch") || streq (type, "chunk")) {
        const char *data = nul ? nul + 1 : NULL;
        size_t size = nul ? zframe_size (payload) - text_size - 1 : 0;
        if (!self->blobs || tm_blobs_recv (self->blobs, from, msg, data, size) != 0)
            S_COUNT (self, malformed, 1);
    }
    else
    if (streq (type, "assign")) {
        s_on_assign (self, from, msg);
    }
    else
    if (streq (type, "result"))
        s_on_result (self, from, msg);
    else
    if (streq (type, "started"))
        s_on_started (self, from, msg);
    else
    if (streq (type, "moved"))
        s_on_moved (self, from, msg);
    else
    if (streq (type, "hold"))
        s_on_hold (self, from, msg);
    else
    if (streq (type, "dropped"))
        s_on_dropped (self, from, msg);
    else
    if (streq (type, "steal"))
        s_on_steal (self, from, msg);
    else
    if (streq (type, "give"))
        s_on_give (self, from, msg);
    else
    if (streq (type, "want"))
        s_on_want (self, from, msg);
    else
    if (streq (type, "keep"))
        s_on_keep (self, from, msg);
    else
    if (streq (type, "cancel")) {
        const char *run = json_string_value (json_object_get (msg, "run"));
        if (run)
            s_drop (self, from, run);   //  Only its origin can cancel a run
        s_pump (self);
    }
    else
        S_COUNT (self, malformed, 1);
    json_decref (msg);
}

static void
s_handle_work (s_pool_t *self)
{
    zmsg_t *msg = zmsg_recv (self->work);
    if (!msg)
        return;
    char *command = zmsg_popstr (msg);
    if (command && streq (command, "MEMBER"))
        s_on_member (self, msg);
    else
    if (command && streq (command, "RECV")) {
        char *from = zmsg_popstr (msg);
        zframe_t *payload = zmsg_pop (msg);
        if (from && payload)
            s_on_recv (self, from, payload);
        free (from);
        zframe_destroy (&payload);
    }
    else
    if (command && streq (command, "UNSENT")) {
        char *to = zmsg_popstr (msg);
        zframe_t *payload = zmsg_pop (msg);
        json_t *json = payload ? json_loadb ((const char *) zframe_data (payload),
                                             zframe_size (payload), 0, NULL) : NULL;
        if (to && json)
            s_on_unsent (self, to, json);
        json_decref (json);
        free (to);
        zframe_destroy (&payload);
    }
    else
    if (command && streq (command, "SELF")) {
        char *id = zmsg_popstr (msg);
        if (id)
            snprintf (self->self_id, sizeof self->self_id, "%s", id);
        free (id);
    }
    else
    if (command && streq (command, "SYNCED")) {
        //  The member table is whole: our first pass offers what we own
        //  to its other owners (there is no "then" to compare with)
        if (!self->synced) {
            self->synced = true;
            s_handoff_schedule (self, S_HANDOFF_FIRST_DELAY);
        }
    }
    free (command);
    zmsg_destroy (&msg);
}

static void
s_handle_pipe (s_pool_t *self)
{
    zmsg_t *msg = zmsg_recv (self->pipe);
    if (!msg) {
        self->terminated = true;
        return;
    }
    char *command = zmsg_popstr (msg);
    if (!command || streq (command, "$TERM"))
        self->terminated = true;
    else
    if (streq (command, "RUN")) {
        char *key = zmsg_popstr (msg);
        zframe_t *pointer = zmsg_pop (msg);
        char *retries = zmsg_popstr (msg), *fail_fast = zmsg_popstr (msg);
        assert (key && pointer && zframe_size (pointer) == sizeof (void *));
        tm_tasklist_t *tasks;
        memcpy (&tasks, zframe_data (pointer), sizeof tasks);
        s_run_start (self, key, tasks, retries ? atoi (retries) : 0,
                     fail_fast && atoi (fail_fast) != 0);
        free (key);
        free (retries);
        free (fail_fast);
        zframe_destroy (&pointer);
    }
    else
    if (streq (command, "GC")) {
        char *reqid = zmsg_popstr (msg);
        tm_storeindex_stats_t before, after;
        memset (&before, 0, sizeof before);
        memset (&after, 0, sizeof after);
        if (self->index) {
            //  What the CLI added since, and what someone removed
            tm_storeindex_scan (self->index);
            tm_storeindex_stats (self->index, &before);
            s_store_bound (self);
            tm_storeindex_stats (self->index, &after);
        }
        char *json = tm_strdupf ("{\"evicted\": %" PRIu64 ", \"evicted_bytes\": %" PRIu64
                                 ", \"blobs\": %" PRIu64 ", \"bytes\": %" PRIu64
                                 ", \"cap\": %" PRIu64 ", \"pinned\": %" PRIu64 "}",
                                 after.evicted - before.evicted,
                                 after.evicted_bytes - before.evicted_bytes,
                                 after.blobs, after.bytes, after.cap, after.pinned_bytes);
        zsock_send (self->pipe, "sss", "GC", reqid ? reqid : "", json);
        free (json);
        free (reqid);
    }
    else
    if (streq (command, "CANCEL")) {
        char *key = zmsg_popstr (msg);
        s_run_t *run = key ? (s_run_t *) zhashx_lookup (self->runs, key) : NULL;
        if (run) {
            s_cancel (self, run, "the run was cancelled");
            s_finish_if_done (self, run);
        }
        free (key);
    }
    free (command);
    zmsg_destroy (&msg);
}

//  ---------------------------------------------------------------------
//  tm_blobs' callbacks

static void
s_blob_send (void *arg, const char *to, json_t **msg_p, const void *data, size_t size)
{
    s_pool_t *self = (s_pool_t *) arg;
    if (!data) {
        s_send (self, to, msg_p);
        return;
    }
    char *text = json_dumps (*msg_p, JSON_COMPACT);
    json_decref (*msg_p);
    *msg_p = NULL;
    if (!text)
        return;
    size_t length = strlen (text);
    zframe_t *frame = zframe_new (NULL, length + 1 + size);
    memcpy (zframe_data (frame), text, length);
    zframe_data (frame) [length] = 0;
    memcpy (zframe_data (frame) + length + 1, data, size);
    free (text);
    zsock_send (self->work, "ssf", "SEND", to, frame);
    zframe_destroy (&frame);
}

static void
s_blob_ready (void *arg, const char *hex)
{
    s_pool_t *self = (s_pool_t *) arg;
    s_handoff_settled (self, hex);
    s_store_use (self, hex);
    s_store_bound (self);
    s_pump (self);
}

static void
s_blob_served (void *arg, const char *hex)
{
    s_store_use ((s_pool_t *) arg, hex);
}

//  Blob HEX cannot be had from SOURCES: the queued tasks of those
//  origins that need it fail.
static void
s_blob_failed (void *arg, const char *hex, const char *reason, const char *const *sources)
{
    s_pool_t *self = (s_pool_t *) arg;
    s_handoff_settled (self, hex);
    for (s_group_t *group = (s_group_t *) zlistx_first (self->groups); group;
         group = (s_group_t *) zlistx_next (self->groups)) {
        bool asked = false;
        for (size_t i = 0; sources [i] && !asked; i++)
            asked = streq (sources [i], group->origin);
        if (!asked)
            continue;
        s_held_t *held = (s_held_t *) zlistx_first (group->tasks);
        while (held) {
            const tm_file_t *file = NULL;
            for (size_t i = 0; i < held->task->files_size && !file; i++)
                if (streq (held->task->files [i].digest, hex))
                    file = &held->task->files [i];
            if (file) {
                zlistx_detach_cur (group->tasks);
                self->queued--;
                char *why = tm_strdupf ("cannot fetch its file %s to %s: %s", file->path,
                                        self->name, reason);
                s_fail_held (self, &held, why);
                free (why);
                held = (s_held_t *) zlistx_first (group->tasks);
            }
            else
                held = (s_held_t *) zlistx_next (group->tasks);
        }
    }
    //  Empty groups go (s_pump drops them when it meets them, but the
    //  round robin expects none)
    s_group_t *group = (s_group_t *) zlistx_first (self->groups);
    while (group) {
        if (zlistx_size (group->tasks) == 0) {
            zlistx_detach_cur (self->groups);
            void *item = group;
            s_group_destroy (&item);
            group = (s_group_t *) zlistx_first (self->groups);
        }
        else
            group = (s_group_t *) zlistx_next (self->groups);
    }
    s_pump (self);
}

void
tm_workpool_actor (zsock_t *pipe, void *args)
{
    tm_workpool_config_t *config = (tm_workpool_config_t *) args;
    s_pool_t self = { 0 };
    self.pipe = pipe;
    self.slots = config->slots > 0 ? config->slots : 1;
    self.stats = config->stats;
    self.blob_stats = config->blob_stats;
    self.replicas = config->replicas > 0 ? (size_t) config->replicas : 3;
    self.placement = tm_placement_new (self.replicas);
    self.name = strdup (config->executor.member);
    if (config->node_sk) {
        memcpy (self.node_sk, config->node_sk, TM_CACHE_SK);
        self.has_sk = true;
    }
    self.members = zhashx_new ();
    zhashx_set_destructor (self.members, s_member_destroy);
    self.runs = zhashx_new ();
    zhashx_set_destructor (self.runs, s_run_destroy);
    self.groups = zlistx_new ();
    self.running = zhashx_new ();
    self.dropped = json_object ();
    self.load_free = -1;
    self.load_queue = -1;
    char *err = NULL;
    assert (config->datadir);
    self.store = tm_store_new (config->datadir, &err);
    if (!self.store) {
        //  Nothing can be shipped here; tasks that need files fail
        tm_warn ("work", "%s", err);
        zstr_free (&err);
    }
    else
        tm_store_sweep (self.store, 3600);
    //  Absolute: a task's cwd and argv point into it
    char *datadir = realpath (config->datadir, NULL);
    self.work_base = tm_strdupf ("%s/work", datadir ? datadir : config->datadir);
    free (datadir);
    if (tm_workdir_clean (self.work_base) > 0)
        tm_info ("work", "removed the work directories a previous agent left in %s",
                 self.work_base);
    tm_blobs_handler_t handler = {
        .send = s_blob_send, .ready = s_blob_ready, .failed = s_blob_failed, .arg = &self,
        .served = s_blob_served
    };
    self.blobs = self.store ? tm_blobs_new (self.store, &handler, config->blob_stats) : NULL;
    if (self.blobs && config->handoff_rate > 0)
        tm_blobs_set_background_rate (self.blobs, config->handoff_rate);
    self.index = self.store ? tm_storeindex_new (self.store, config->store_cap) : NULL;
    self.offers = zhashx_new ();
    zhashx_set_destructor (self.offers, s_offers_destroy);
    self.offered = zhashx_new ();
    self.handoff_pending = zhashx_new ();
    if (self.index) {
        tm_storeindex_stats_t stats;
        tm_storeindex_stats (self.index, &stats);
        tm_info ("work", "content store: %" PRIu64 " blob(s), %" PRIu64 " bytes, cap %" PRIu64,
                 stats.blobs, stats.bytes, stats.cap);
        //  A cap lowered since the last agent: down to it now
        s_store_bound (&self);
    }
    self.loadcheck = tm_loadcheck_new ();
    self.executor_config = config->executor;
    self.executor_config.slots = self.slots;
    self.executor_config.member = self.name;
    self.executor_config.trace_shim = config->executor.trace_shim
                                    ? strdup (config->executor.trace_shim) : NULL;
    self.executor = zactor_new (tm_executor_actor, &self.executor_config);
    self.work = zsock_new (ZMQ_PAIR);
    zsock_set_sndhwm (self.work, 0);
    zsock_set_rcvhwm (self.work, 0);
    int rc = zsock_connect (self.work, "%s", config->work_endpoint);
    assert (rc == 0);
    zsock_send (self.work, "s", "HELLO");
    zsock_signal (pipe, 0);

    zpoller_t *poller = zpoller_new (pipe, self.work, self.executor, NULL);
    double next_tick = tm_now () + S_TICK;
    double next_renew = tm_now () + S_RENEW_INTERVAL;
    while (!self.terminated) {
        int timeout = (int) ((next_tick - tm_now ()) * 1000) + 1;
        void *which = zpoller_wait (poller, timeout > 0 ? timeout : 0);
        self.event++;
        if (which == pipe)
            s_handle_pipe (&self);
        else
        if (which == self.work)
            s_handle_work (&self);
        else
        if (which == self.executor) {
            char *command = NULL;
            tm_result_t *result = NULL;
            if (zsock_recv (self.executor, "sp", &command, &result) == 0
            &&  command && streq (command, "DONE") && result)
                s_on_done (&self, result);
            free (command);
        }
        else
        if (zpoller_terminated (poller))
            break;
        double now = tm_now ();
        if (now >= next_tick) {
            s_try_steal (&self, now);
            s_cancel_expire (&self, now);
            if (now >= next_renew) {
                s_renew (&self);
                s_lease_expire (&self, now);
                next_renew = now + S_RENEW_INTERVAL;
            }
            if (self.blobs)
                tm_blobs_tick (self.blobs, now);
            if (self.handoff_due > 0 && now >= self.handoff_due)
                s_handoff_pass (&self);
            s_offers_send (&self);
            s_store_bound (&self);
            s_dropped_expire (&self, now);
            next_tick = now + S_TICK;
        }
    }
    zpoller_destroy (&poller);
    zactor_destroy (&self.executor);    //  Kills and reaps what still runs
    for (s_held_t *held = (s_held_t *) zhashx_first (self.running); held;
         held = (s_held_t *) zhashx_next (self.running))
        s_held_destroy (&held);
    zhashx_destroy (&self.running);
    s_group_t *group;
    while ((group = (s_group_t *) zlistx_detach (self.groups, NULL))) {
        void *item = group;
        s_group_destroy (&item);
    }
    zlistx_destroy (&self.groups);
    zhashx_destroy (&self.runs);
    zhashx_destroy (&self.members);
    json_decref (self.dropped);
    zsock_destroy (&self.work);
    tm_blobs_destroy (&self.blobs);
    zhashx_destroy (&self.offers);
    zhashx_destroy (&self.offered);
    zhashx_destroy (&self.handoff_pending);
    tm_placement_destroy (&self.placement);
    tm_storeindex_destroy (&self.index);   //  After every pin is undone (runs, held)
    tm_loadcheck_destroy (&self.loadcheck);
    tm_store_destroy (&self.store);
    free (self.work_base);
    free ((char *) self.executor_config.trace_shim);
    free (self.name);
    sodium_memzero (self.node_sk, sizeof self.node_sk);
}
