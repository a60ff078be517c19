/*  tm_blobs.c - blobs between members: fetched by digest, in chunks, on credit.

    A fetch, from tm_blobs_want until its callback:

        WAITING --a turn is free (s_fetch_start)----------> ACTIVE
        ACTIVE  --every chunk, digest matches (s_complete)-> stored, ready ()
        ACTIVE  --digest differs, tries left (s_restart)---> ACTIVE, same source
        ACTIVE  --source gone, no copy, stalled, or refused
                  TM_BLOBS_TRIES times (s_next_source)-----> ACTIVE, next source
        any     --no source left, or the store cannot be
                  written (s_fail)-------------------------> failed ()
        WAITING --could not even start (tm_blobs_want)-----> FAILED, reported
                                                             by the next tick

    Background fetches (tm_blobs_want_background: a blob handed to us as
    its new owner, not needed by any task) wait in a list of their own,
    start only in a turn of their own (TM_BLOBS_BACKGROUND turns besides
    the TM_BLOBS_ACTIVE), ask for chunks only as a token bucket of
    `rate` bytes per second allows, and never answer "fetching" to a
    member that asks us for the blob (it would wait on a throttled
    fetch: "no such blob" sends it to the next source at once).  A task
    that wants the blob makes it an ordinary fetch: a waiting one joins
    the ordinary queue, an active one keeps its turn and loses its
    throttle.

    An empty blob is never fetched: tm_blobs_want writes it.

    Invariants (s_invariants_hold):
    1. At most TM_BLOBS_ACTIVE fetches are ACTIVE in an ordinary turn,
       TM_BLOBS_BACKGROUND in a background turn; WAITING ones are in
       `waiting` (background ones in `waiting_bg`), in the order they
       were wanted.
    2. An ACTIVE fetch has its temporary file open; hashed <= the chunks
       received, and every chunk below `hashed` has been received.
    3. A fetch's current source is one of its sources.
*/
#include "tm_blobs.h"
#include "tm_task.h"
#include <inttypes.h>
#include <sodium.h>
#include <unistd.h>

#define S_ID            65      //  A member id in hex, with its NUL
#define S_DIGEST_SIZE   32

typedef enum { FETCH_WAITING, FETCH_ACTIVE, FETCH_FAILED } s_fetch_state_t;

typedef struct {
    char hex [TM_STORE_HEX];    //  What we fetch
    uint64_t size;              //  Its bytes, as the task said
    bool exec;                  //  Mode it is stored with
    size_t chunks;              //  Chunks it has
    s_fetch_state_t state;
    bool background;            //  Throttled, waits behind ordinary fetches
    bool bg_turn;               //  ACTIVE in a background turn
    bool handoff;               //  Wanted in the background first (counted as such)
    char sources [TM_BLOBS_SOURCES][S_ID];  //  Members to ask, in order
    size_t sources_size;
    size_t source;              //  Index of the one asked now
    int tries;                  //  Refused blobs from the current source
    int fd;                     //  ACTIVE: the temporary file
    char *tmp_path;             //  ... and its path
    uint8_t *received;          //  Per chunk: it arrived
    size_t received_count;
    size_t next;                //  First chunk not asked for since the last (re)start
    size_t outstanding;         //  Asked for and not arrived
    size_t hashed;              //  Chunks hashed, in order from 0
    crypto_generichash_state hash;
    double heard;               //  Last progress (tm_now)
    double started;             //  When it became ACTIVE (tm_now)
    int stalls;                 //  Rounds without progress in a row
    double retry_at;            //  Its source answered "fetching": ask again
                                //  then (tm_now); 0 if not waiting
    int busy_rounds;            //  "fetching" answers from the current source
    char *reason;               //  Why the last source failed, or why it FAILED
} s_fetch_t;

struct _tm_blobs_t {
    tm_store_t *store;          //  Borrowed
    tm_blobs_handler_t handler;
    tm_blobs_stats_t counts;    //  Ours; published to *stats
    tm_blobs_stats_t *stats;    //  The owner's copy, or NULL
    zhashx_t *present;          //  hex -> (void *) 1: known to be in the store
    zhashx_t *fetches;          //  hex -> s_fetch_t
    zlistx_t *waiting;          //  s_fetch_t, WAITING, oldest first
    zlistx_t *waiting_bg;       //  ... the background ones
    size_t active;              //  ACTIVE fetches in ordinary turns
    size_t active_bg;           //  ... in background turns
    double rate;                //  Background bytes per second; 0 = unlimited
    double tokens;              //  Bytes background fetches may ask for now
    double refilled;            //  When tokens were last added (tm_now)
    double stall;               //  s without progress before asking again
    int stalls;                 //  Rounds of that before giving up on a source
    unsigned char *buffer;      //  TM_BLOBS_CHUNK bytes, to read chunks into
};

#define S_COUNT(self, field, n) do {                                        \
        (self)->counts.field += (n);                                        \
        if ((self)->stats)                                                  \
            __atomic_store_n (&(self)->stats->field, (self)->counts.field,  \
                              __ATOMIC_RELAXED);                            \
    } while (0)

void
tm_blobs_stats_read (const tm_blobs_stats_t *stats, tm_blobs_stats_t *out)
{
    out->blobs_fetched = __atomic_load_n (&stats->blobs_fetched, __ATOMIC_RELAXED);
    out->bytes_fetched = __atomic_load_n (&stats->bytes_fetched, __ATOMIC_RELAXED);
    out->blobs_refused = __atomic_load_n (&stats->blobs_refused, __ATOMIC_RELAXED);
    out->fetches_failed = __atomic_load_n (&stats->fetches_failed, __ATOMIC_RELAXED);
    out->chunks_dropped = __atomic_load_n (&stats->chunks_dropped, __ATOMIC_RELAXED);
    out->blobs_served = __atomic_load_n (&stats->blobs_served, __ATOMIC_RELAXED);
    out->bytes_served = __atomic_load_n (&stats->bytes_served, __ATOMIC_RELAXED);
    out->busy_answers = __atomic_load_n (&stats->busy_answers, __ATOMIC_RELAXED);
    out->busy_waits = __atomic_load_n (&stats->busy_waits, __ATOMIC_RELAXED);
    out->prefetch_asked = __atomic_load_n (&stats->prefetch_asked, __ATOMIC_RELAXED);
    out->prefetch_started = __atomic_load_n (&stats->prefetch_started, __ATOMIC_RELAXED);
    out->prefetch_present = __atomic_load_n (&stats->prefetch_present, __ATOMIC_RELAXED);
    out->fetch_from_owner = __atomic_load_n (&stats->fetch_from_owner, __ATOMIC_RELAXED);
    out->handoff_fetched = __atomic_load_n (&stats->handoff_fetched, __ATOMIC_RELAXED);
    out->handoff_bytes = __atomic_load_n (&stats->handoff_bytes, __ATOMIC_RELAXED);
    out->handoff_passes = __atomic_load_n (&stats->handoff_passes, __ATOMIC_RELAXED);
    out->handoff_offered = __atomic_load_n (&stats->handoff_offered, __ATOMIC_RELAXED);
    out->handoff_started = __atomic_load_n (&stats->handoff_started, __ATOMIC_RELAXED);
    out->handoff_present = __atomic_load_n (&stats->handoff_present, __ATOMIC_RELAXED);
    out->handoff_no_room = __atomic_load_n (&stats->handoff_no_room, __ATOMIC_RELAXED);
    out->handoff_done = __atomic_load_n (&stats->handoff_done, __ATOMIC_RELAXED);
    out->store_bytes = __atomic_load_n (&stats->store_bytes, __ATOMIC_RELAXED);
    out->store_blobs = __atomic_load_n (&stats->store_blobs, __ATOMIC_RELAXED);
    out->store_cap = __atomic_load_n (&stats->store_cap, __ATOMIC_RELAXED);
    out->store_pinned = __atomic_load_n (&stats->store_pinned, __ATOMIC_RELAXED);
    out->store_owned = __atomic_load_n (&stats->store_owned, __ATOMIC_RELAXED);
    out->store_evicted = __atomic_load_n (&stats->store_evicted, __ATOMIC_RELAXED);
    out->store_evicted_bytes = __atomic_load_n (&stats->store_evicted_bytes, __ATOMIC_RELAXED);
}

static void
s_fetch_destroy (void **item_p)
{
    s_fetch_t *fetch = (s_fetch_t *) *item_p;
    if (fetch) {
        free (fetch->received);
        free (fetch->reason);
        free (fetch);
        *item_p = NULL;
    }
}

tm_blobs_t *
tm_blobs_new (tm_store_t *store, const tm_blobs_handler_t *handler, tm_blobs_stats_t *stats)
{
    assert (store && handler && handler->send && handler->ready && handler->failed);
    tm_blobs_t *self = (tm_blobs_t *) zmalloc (sizeof (tm_blobs_t));
    self->store = store;
    self->handler = *handler;
    self->stats = stats;
    self->present = zhashx_new ();
    self->fetches = zhashx_new ();
    zhashx_set_destructor (self->fetches, s_fetch_destroy);
    self->waiting = zlistx_new ();
    self->waiting_bg = zlistx_new ();
    self->rate = TM_BLOBS_BACKGROUND_RATE;
    self->tokens = TM_BLOBS_CREDIT * TM_BLOBS_CHUNK;
    self->refilled = tm_now ();
    self->stall = TM_BLOBS_STALL;
    self->stalls = TM_BLOBS_STALLS;
    self->buffer = (unsigned char *) malloc (TM_BLOBS_CHUNK);
    assert (self->buffer);
    return self;
}

void
tm_blobs_destroy (tm_blobs_t **self_p)
{
    assert (self_p);
    tm_blobs_t *self = *self_p;
    if (!self)
        return;
    for (s_fetch_t *fetch = (s_fetch_t *) zhashx_first (self->fetches); fetch;
         fetch = (s_fetch_t *) zhashx_next (self->fetches))
        if (fetch->tmp_path)
            tm_store_abort (self->store, &fetch->fd, &fetch->tmp_path);
    zlistx_destroy (&self->waiting);
    zlistx_destroy (&self->waiting_bg);
    zhashx_destroy (&self->fetches);
    zhashx_destroy (&self->present);
    free (self->buffer);
    free (self);
    *self_p = NULL;
}

void
tm_blobs_set_timing (tm_blobs_t *self, double stall, int stalls)
{
    assert (self && stall > 0 && stalls > 0);
    self->stall = stall;
    self->stalls = stalls;
}

void
tm_blobs_set_background_rate (tm_blobs_t *self, double rate)
{
    assert (self && rate >= 0);
    self->rate = rate;
    self->tokens = 0;
    self->refilled = tm_now ();
}

size_t
tm_blobs_fetching (tm_blobs_t *self)
{
    assert (self);
    return zhashx_size (self->fetches);
}

//  The check walks every fetch, and runs once per message: beyond this
//  many fetches (a task with thousands of inputs) it would cost more
//  than the work it checks, so it checks the counts only.
#define S_SCAN_INVARIANTS 256

static bool
s_invariants_hold (tm_blobs_t *self)
{
    if (self->active > TM_BLOBS_ACTIVE || self->active_bg > TM_BLOBS_BACKGROUND)
        return false;
    if (zhashx_size (self->fetches) > S_SCAN_INVARIANTS)
        return true;
    size_t active = 0, active_bg = 0;
    for (s_fetch_t *fetch = (s_fetch_t *) zhashx_first (self->fetches); fetch;
         fetch = (s_fetch_t *) zhashx_next (self->fetches)) {
        if (fetch->state == FETCH_ACTIVE) {
            if (fetch->bg_turn)
                active_bg++;
            else
                active++;
            if (fetch->fd < 0 || fetch->hashed > fetch->received_count)
                return false;
        }
        if (fetch->sources_size > 0 && fetch->source >= fetch->sources_size)
            return false;
    }
    return active == self->active && active_bg == self->active_bg;
}

//  ---------------------------------------------------------------------
//  Fetching

//  Bytes in chunk INDEX of a blob of SIZE bytes.
static size_t
s_chunk_size (uint64_t size, size_t index)
{
    uint64_t offset = (uint64_t) index * TM_BLOBS_CHUNK;
    uint64_t left = size - offset;
    return left < TM_BLOBS_CHUNK ? (size_t) left : TM_BLOBS_CHUNK;
}

//  Asks the current source for missing chunks from `next` on, so that
//  TM_BLOBS_CREDIT are in flight, once half the credit came back.
static void
s_ask (tm_blobs_t *self, s_fetch_t *fetch)
{
    if (fetch->outstanding > TM_BLOBS_CREDIT / 2)
        return;
    size_t credit = TM_BLOBS_CREDIT - fetch->outstanding;
    bool throttled = fetch->background && self->rate > 0;
    while (credit > 0 && fetch->next < fetch->chunks) {
        if (fetch->received [fetch->next]) {
            fetch->next++;
            continue;
        }
        //  One message per run of missing chunks
        size_t first = fetch->next, count = 0;
        while (count < credit && fetch->next < fetch->chunks
           &&  !fetch->received [fetch->next]) {
            size_t bytes = s_chunk_size (fetch->size, fetch->next);
            if (throttled && self->tokens < (double) bytes)
                break;          //  The bucket refills at each tick
            if (throttled)
                self->tokens -= (double) bytes;
            fetch->next++;
            count++;
        }
        if (count == 0)
            break;
        credit -= count;
        fetch->outstanding += count;
        json_t *msg = json_pack ("{s:s, s:s, s:I, s:I}", "t", "fetch", "d", fetch->hex,
                                 "i", (json_int_t) first, "n", (json_int_t) count);
        self->handler.send (self->handler.arg, fetch->sources [fetch->source], &msg, NULL, 0);
    }
}

//  (Re)starts FETCH from its current source, from chunk 0.  Returns 0,
//  or -1 with fetch->reason set (the store cannot be written).
static int
s_restart (tm_blobs_t *self, s_fetch_t *fetch)
{
    if (fetch->fd < 0) {
        char *err = NULL;
        fetch->fd = tm_store_begin (self->store, &fetch->tmp_path, &err);
        if (fetch->fd < 0) {
            free (fetch->reason);
            fetch->reason = err;
            return -1;
        }
    }
    else
    if (ftruncate (fetch->fd, 0) != 0) {
        free (fetch->reason);
        fetch->reason = tm_strdupf ("cannot write to the content store: %s", strerror (errno));
        return -1;
    }
    memset (fetch->received, 0, fetch->chunks + 1);
    fetch->received_count = 0;
    fetch->next = 0;
    fetch->outstanding = 0;
    fetch->hashed = 0;
    crypto_generichash_init (&fetch->hash, NULL, 0, S_DIGEST_SIZE);
    fetch->heard = tm_now ();
    fetch->stalls = 0;
    fetch->retry_at = 0;
    s_ask (self, fetch);
    return 0;
}

//  Takes FETCH out of the table and destroys it; starts waiting ones.
static void s_remove (tm_blobs_t *self, s_fetch_t *fetch);

//  FETCH failed for good: out of the table, then the callback.
static void
s_fail (tm_blobs_t *self, s_fetch_t *fetch)
{
    char hex [TM_STORE_HEX];
    snprintf (hex, sizeof hex, "%s", fetch->hex);
    char *reason = fetch->reason ? fetch->reason : strdup ("no member could send it");
    fetch->reason = NULL;
    char names [TM_BLOBS_SOURCES][S_ID];
    const char *sources [TM_BLOBS_SOURCES + 1];
    size_t count = fetch->sources_size;
    for (size_t i = 0; i < count; i++) {
        snprintf (names [i], S_ID, "%s", fetch->sources [i]);
        sources [i] = names [i];
    }
    sources [count] = NULL;
    tm_warn ("blobs", "giving up on blob %.16s...: %s", hex, reason);
    S_COUNT (self, fetches_failed, 1);
    s_remove (self, fetch);
    self->handler.failed (self->handler.arg, hex, reason, sources);
    free (reason);
}

//  Moves FETCH to its next source, WHY the current one failed; fails it
//  when none is left.
static void
s_next_source (tm_blobs_t *self, s_fetch_t *fetch, const char *why)
{
    free (fetch->reason);
    fetch->reason = strdup (why);
    fetch->source++;
    fetch->tries = 0;
    fetch->busy_rounds = 0;
    if (fetch->source >= fetch->sources_size || s_restart (self, fetch) != 0)
        s_fail (self, fetch);
}

//  Every chunk is in: keep the blob if its digest is the one asked for.
static void
s_complete (tm_blobs_t *self, s_fetch_t *fetch)
{
    unsigned char digest [S_DIGEST_SIZE];
    crypto_generichash_final (&fetch->hash, digest, sizeof digest);
    char hex [TM_STORE_HEX];
    sodium_bin2hex (hex, sizeof hex, digest, sizeof digest);
    if (!streq (hex, fetch->hex)) {
        S_COUNT (self, blobs_refused, 1);
        tm_warn ("blobs", "refused blob %.16s... from %.8s: its content has digest %.16s...",
                 fetch->hex, fetch->sources [fetch->source], hex);
        if (++fetch->tries < TM_BLOBS_TRIES) {
            if (s_restart (self, fetch) != 0)
                s_fail (self, fetch);
        }
        else {
            char *why = tm_strdupf ("its content did not match its digest (%d tries)",
                                    TM_BLOBS_TRIES);
            s_next_source (self, fetch, why);
            free (why);
        }
        return;
    }
    char *err = NULL;
    if (tm_store_commit (self->store, &fetch->fd, &fetch->tmp_path, fetch->hex,
                         fetch->exec, &err) != 0) {
        free (fetch->reason);
        fetch->reason = err;
        s_fail (self, fetch);
        return;
    }
    S_COUNT (self, blobs_fetched, 1);
    S_COUNT (self, bytes_fetched, fetch->size);
    if (fetch->handoff) {
        S_COUNT (self, handoff_fetched, 1);
        S_COUNT (self, handoff_bytes, fetch->size);
    }
    tm_debug ("blobs", "fetched blob %.16s... (%" PRIu64 " bytes in %.3f s) from %.8s",
              fetch->hex, fetch->size, tm_now () - fetch->started,
              fetch->sources [fetch->source]);
    snprintf (hex, sizeof hex, "%s", fetch->hex);
    zhashx_update (self->present, hex, (void *) 1);
    s_remove (self, fetch);
    self->handler.ready (self->handler.arg, hex);
}

//  Starts FETCH (WAITING) now.  Returns 0, or -1 with fetch->reason.
static int
s_fetch_start (tm_blobs_t *self, s_fetch_t *fetch)
{
    assert (fetch->chunks > 0);    //  Empty blobs never travel (tm_blobs_want)
    fetch->state = FETCH_ACTIVE;
    fetch->started = tm_now ();
    fetch->bg_turn = fetch->background;
    if (fetch->bg_turn)
        self->active_bg++;
    else
        self->active++;
    return s_restart (self, fetch);
}

//  Starts waiting fetches while turns are free; a fetch that cannot
//  start fails (we are allowed to call back here).
static void
s_start_waiting (tm_blobs_t *self)
{
    while (self->active < TM_BLOBS_ACTIVE && zlistx_size (self->waiting) > 0) {
        s_fetch_t *fetch = (s_fetch_t *) zlistx_detach (self->waiting, NULL);
        if (s_fetch_start (self, fetch) != 0)
            s_fail (self, fetch);
    }
    //  Background fetches only while no ordinary one waits for a turn
    while (self->active_bg < TM_BLOBS_BACKGROUND && zlistx_size (self->waiting) == 0
       &&  zlistx_size (self->waiting_bg) > 0) {
        s_fetch_t *fetch = (s_fetch_t *) zlistx_detach (self->waiting_bg, NULL);
        if (s_fetch_start (self, fetch) != 0)
            s_fail (self, fetch);
    }
}

static void
s_remove (tm_blobs_t *self, s_fetch_t *fetch)
{
    if (fetch->state == FETCH_ACTIVE && fetch->bg_turn)
        self->active_bg--;
    else
    if (fetch->state == FETCH_ACTIVE)
        self->active--;
    else
    if (fetch->state == FETCH_WAITING) {
        zlistx_t *list = fetch->background ? self->waiting_bg : self->waiting;
        void *handle = zlistx_find (list, fetch);
        if (handle)
            zlistx_delete (list, handle);
    }
    if (fetch->tmp_path)
        tm_store_abort (self->store, &fetch->fd, &fetch->tmp_path);
    char hex [TM_STORE_HEX];
    snprintf (hex, sizeof hex, "%s", fetch->hex);
    zhashx_delete (self->fetches, hex);
    s_start_waiting (self);
}

//  A task wants FETCH, a background fetch: it becomes an ordinary one.
//  Never calls back.
static void
s_promote (tm_blobs_t *self, s_fetch_t *fetch)
{
    if (fetch->state == FETCH_WAITING) {
        void *handle = zlistx_find (self->waiting_bg, fetch);
        if (handle)
            zlistx_detach (self->waiting_bg, handle);
        fetch->background = false;
        if (self->active < TM_BLOBS_ACTIVE && zlistx_size (self->waiting) == 0) {
            if (s_fetch_start (self, fetch) != 0) {
                self->active--;
                fetch->state = FETCH_FAILED;    //  Reported by the next tick
            }
        }
        else
            zlistx_add_end (self->waiting, fetch);
    }
    else {
        //  Active: it keeps its turn, and asks for its full credit now
        fetch->background = false;
        if (fetch->state == FETCH_ACTIVE && fetch->retry_at == 0)
            s_ask (self, fetch);
    }
}

static int
s_want (tm_blobs_t *self, const char *hex, uint64_t size, bool exec, const char *source,
        bool background)
{
    assert (self && tm_task_digest_valid (hex) && source);
    if (zhashx_lookup (self->present, hex))
        return 1;
    s_fetch_t *fetch = (s_fetch_t *) zhashx_lookup (self->fetches, hex);
    if (!fetch && tm_store_has (self->store, hex, size)) {
        zhashx_insert (self->present, hex, (void *) 1);
        return 1;
    }
    if (fetch) {
        //  Joined: SOURCE is one more member to try
        bool known = false;
        for (size_t i = 0; i < fetch->sources_size && !known; i++)
            known = streq (fetch->sources [i], source);
        if (!known && fetch->sources_size < TM_BLOBS_SOURCES && strlen (source) < S_ID)
            snprintf (fetch->sources [fetch->sources_size++], S_ID, "%s", source);
        if (fetch->background && !background)
            s_promote (self, fetch);
        assert (s_invariants_hold (self));
        return 0;
    }
    fetch = (s_fetch_t *) zmalloc (sizeof (s_fetch_t));
    snprintf (fetch->hex, sizeof fetch->hex, "%s", hex);
    fetch->size = size;
    fetch->exec = exec;
    fetch->fd = -1;
    fetch->chunks = (size_t) ((size + TM_BLOBS_CHUNK - 1) / TM_BLOBS_CHUNK);
    fetch->received = (uint8_t *) calloc (fetch->chunks + 1, 1);
    assert (fetch->received);
    snprintf (fetch->sources [0], S_ID, "%s", source);
    fetch->sources_size = 1;
    fetch->state = FETCH_WAITING;
    fetch->background = background;
    fetch->handoff = background;
    zhashx_insert (self->fetches, hex, fetch);
    //  No callbacks from here: a fetch that cannot even start is FAILED,
    //  and the next tick reports it
    if (size == 0) {
        //  Nobody needs to send an empty file: write it here
        char empty [TM_STORE_HEX];
        tm_store_digest ("", 0, empty);
        char *err = NULL;
        char *tmp_path = NULL;
        int fd = streq (hex, empty) ? tm_store_begin (self->store, &tmp_path, &err) : -1;
        if (fd >= 0 && tm_store_commit (self->store, &fd, &tmp_path, hex, exec, &err) == 0) {
            zhashx_delete (self->fetches, hex);
            zhashx_insert (self->present, hex, (void *) 1);
            return 1;
        }
        fetch->state = FETCH_FAILED;
        fetch->reason = err ? err : strdup ("an empty file cannot have that digest");
    }
    else
    if (!background && self->active < TM_BLOBS_ACTIVE) {
        if (s_fetch_start (self, fetch) != 0) {
            self->active--;
            fetch->state = FETCH_FAILED;
        }
    }
    else
    if (background && self->active_bg < TM_BLOBS_BACKGROUND
    &&  zlistx_size (self->waiting) == 0) {
        if (s_fetch_start (self, fetch) != 0) {
            self->active_bg--;
            fetch->state = FETCH_FAILED;
        }
    }
    else
        zlistx_add_end (background ? self->waiting_bg : self->waiting, fetch);
    assert (s_invariants_hold (self));
    return 0;
}

int
tm_blobs_want (tm_blobs_t *self, const char *hex, uint64_t size, bool exec,
               const char *source)
{
    return s_want (self, hex, size, exec, source, false);
}

int
tm_blobs_want_background (tm_blobs_t *self, const char *hex, uint64_t size, bool exec,
                          const char *source)
{
    return s_want (self, hex, size, exec, source, true);
}

bool
tm_blobs_background (tm_blobs_t *self, const char *hex)
{
    assert (self && hex);
    s_fetch_t *fetch = (s_fetch_t *) zhashx_lookup (self->fetches, hex);
    return fetch && fetch->background;
}

int
tm_blobs_has (tm_blobs_t *self, const char *hex, uint64_t size)
{
    assert (self && tm_task_digest_valid (hex));
    if (zhashx_lookup (self->present, hex))
        return 1;
    if (zhashx_lookup (self->fetches, hex))
        return 0;
    if (tm_store_has (self->store, hex, size)) {
        zhashx_insert (self->present, hex, (void *) 1);
        return 1;
    }
    return -1;
}

void
tm_blobs_forget (tm_blobs_t *self, const char *hex)
{
    assert (self && hex);
    zhashx_delete (self->present, hex);
}

//  A chunk (or a refusal) from FROM.
static int
s_on_chunk (tm_blobs_t *self, const char *from, json_t *msg, const char *hex,
            const void *data, size_t size)
{
    s_fetch_t *fetch = (s_fetch_t *) zhashx_lookup (self->fetches, hex);
    if (!fetch || fetch->state != FETCH_ACTIVE
    ||  !streq (fetch->sources [fetch->source], from)) {
        //  Late (we gave up on that source, or have the blob): not an error
        S_COUNT (self, chunks_dropped, 1);
        return 0;
    }
    const char *error = json_string_value (json_object_get (msg, "e"));
    if (error && streq (error, "fetching") && fetch->busy_rounds < TM_BLOBS_BUSY_ROUNDS) {
        //  Not yet: ask it again soon (one answer per fetch message: the
        //  first one sets the time)
        if (fetch->retry_at == 0) {
            fetch->busy_rounds++;
            fetch->retry_at = tm_now () + self->stall / 8;
            S_COUNT (self, busy_waits, 1);
        }
        fetch->heard = tm_now ();
        return 0;
    }
    if (error && streq (error, "fetching")) {
        char *why = tm_strdupf ("the member asked was still fetching it after %d rounds",
                                fetch->busy_rounds);
        s_next_source (self, fetch, why);
        free (why);
        return 0;
    }
    if (error) {
        char *why = tm_strdupf ("the member asked could not send it (%.100s)", error);
        s_next_source (self, fetch, why);
        free (why);
        return 0;
    }
    json_t *index = json_object_get (msg, "i");
    json_t *total = json_object_get (msg, "z");
    if (!json_is_integer (index) || json_integer_value (index) < 0
    ||  (uint64_t) json_integer_value (index) >= fetch->chunks
    ||  !json_is_integer (total) || (uint64_t) json_integer_value (total) != fetch->size
    ||  !data || size != s_chunk_size (fetch->size, (size_t) json_integer_value (index))) {
        S_COUNT (self, chunks_dropped, 1);
        return -1;
    }
    size_t i = (size_t) json_integer_value (index);
    if (fetch->received [i]) {
        S_COUNT (self, chunks_dropped, 1);
        return 0;
    }
    off_t offset = (off_t) i * TM_BLOBS_CHUNK;
    if (pwrite (fetch->fd, data, size, offset) != (ssize_t) size) {
        free (fetch->reason);
        fetch->reason = tm_strdupf ("cannot write to the content store: %s",
                                    strerror (errno));
        s_fail (self, fetch);
        return 0;
    }
    fetch->received [i] = 1;
    fetch->received_count++;
    if (fetch->outstanding > 0)
        fetch->outstanding--;
    fetch->heard = tm_now ();
    fetch->stalls = 0;
    //  Hash in order: this chunk from memory, those after it that came
    //  early from the file
    if (i == fetch->hashed) {
        crypto_generichash_update (&fetch->hash, (const unsigned char *) data, size);
        fetch->hashed++;
        while (fetch->hashed < fetch->chunks && fetch->received [fetch->hashed]) {
            size_t length = s_chunk_size (fetch->size, fetch->hashed);
            off_t at = (off_t) fetch->hashed * TM_BLOBS_CHUNK;
            if (pread (fetch->fd, self->buffer, length, at) != (ssize_t) length) {
                free (fetch->reason);
                fetch->reason = tm_strdupf ("cannot read the content store: %s",
                                            strerror (errno));
                s_fail (self, fetch);
                return 0;
            }
            crypto_generichash_update (&fetch->hash, self->buffer, length);
            fetch->hashed++;
        }
    }
    if (fetch->received_count == fetch->chunks)
        s_complete (self, fetch);
    else
        s_ask (self, fetch);
    return 0;
}

//  ---------------------------------------------------------------------
//  Serving

static void
s_refuse (tm_blobs_t *self, const char *to, const char *hex, const char *why)
{
    json_t *msg = json_pack ("{s:s, s:s, s:s}", "t", "chunk", "d", hex, "e", why);
    self->handler.send (self->handler.arg, to, &msg, NULL, 0);
}

static int
s_on_fetch (tm_blobs_t *self, const char *from, json_t *msg, const char *hex)
{
    json_t *first = json_object_get (msg, "i");
    json_t *count = json_object_get (msg, "n");
    if (!json_is_integer (first) || json_integer_value (first) < 0
    ||  !json_is_integer (count) || json_integer_value (count) < 1
    ||  json_integer_value (count) > TM_BLOBS_ASK_MAX)
        return -1;
    uint64_t size;
    int fd = tm_store_open (self->store, hex, &size);
    if (fd < 0) {
        //  Busy only while we ask the member that surely has it (see the
        //  header), and never to that member: no two wait for each other
        s_fetch_t *mine = (s_fetch_t *) zhashx_lookup (self->fetches, hex);
        bool busy = mine && mine->state == FETCH_ACTIVE && !mine->background
                 && mine->source + 1 == mine->sources_size
                 && !streq (mine->sources [mine->source], from);
        if (busy)
            S_COUNT (self, busy_answers, 1);
        s_refuse (self, from, hex, busy ? "fetching" : "no such blob");
        return 0;
    }
    uint64_t chunks = (size + TM_BLOBS_CHUNK - 1) / TM_BLOBS_CHUNK;
    uint64_t i = (uint64_t) json_integer_value (first);
    uint64_t end = i + (uint64_t) json_integer_value (count);
    int rc = 0;
    if (i >= chunks) {
        s_refuse (self, from, hex, "no such chunk");
        rc = -1;
    }
    for (; rc == 0 && i < end && i < chunks; i++) {
        size_t length = s_chunk_size (size, (size_t) i);
        if (pread (fd, self->buffer, length, (off_t) (i * TM_BLOBS_CHUNK)) != (ssize_t) length) {
            s_refuse (self, from, hex, "cannot read it");
            break;
        }
        json_t *chunk = json_pack ("{s:s, s:s, s:I, s:I}", "t", "chunk", "d", hex,
                                   "i", (json_int_t) i, "z", (json_int_t) size);
        self->handler.send (self->handler.arg, from, &chunk, self->buffer, length);
        S_COUNT (self, bytes_served, length);
        if (i == 0)
            S_COUNT (self, blobs_served, 1);
    }
    close (fd);
    if (rc == 0 && json_integer_value (first) == 0 && self->handler.served)
        self->handler.served (self->handler.arg, hex);
    return rc;
}

int
tm_blobs_recv (tm_blobs_t *self, const char *from, json_t *msg, const void *data,
               size_t size)
{
    assert (self && from && msg);
    const char *type = json_string_value (json_object_get (msg, "t"));
    const char *hex = json_string_value (json_object_get (msg, "d"));
    if (!type || !tm_task_digest_valid (hex))
        return -1;
    int rc = -1;
    if (streq (type, "fetch") && !data)
        rc = s_on_fetch (self, from, msg, hex);
    else
    if (streq (type, "chunk"))
        rc = s_on_chunk (self, from, msg, hex, data, size);
    assert (s_invariants_hold (self));
    return rc;
}

//  ---------------------------------------------------------------------
//  Sources going away, and time passing

//  The fetches of the table, by digest, for a walk during which the
//  table may change (callbacks).  Caller destroys the list.
static zlistx_t *
s_snapshot (tm_blobs_t *self)
{
    zlistx_t *keys = zlistx_new ();
    zlistx_set_destructor (keys, (zlistx_destructor_fn *) zstr_free);
    for (s_fetch_t *fetch = (s_fetch_t *) zhashx_first (self->fetches); fetch;
         fetch = (s_fetch_t *) zhashx_next (self->fetches))
        zlistx_add_end (keys, strdup (fetch->hex));
    return keys;
}

void
tm_blobs_source_gone (tm_blobs_t *self, const char *id)
{
    assert (self && id);
    zlistx_t *keys = s_snapshot (self);
    for (char *hex = (char *) zlistx_first (keys); hex; hex = (char *) zlistx_next (keys)) {
        s_fetch_t *fetch = (s_fetch_t *) zhashx_lookup (self->fetches, hex);
        if (!fetch || fetch->state == FETCH_FAILED)
            continue;
        if (fetch->state == FETCH_ACTIVE && streq (fetch->sources [fetch->source], id)) {
            s_next_source (self, fetch, "the member that had it is gone");
            continue;
        }
        //  Not asked yet: drop it from the list of sources
        for (size_t k = fetch->source + (fetch->state == FETCH_ACTIVE ? 1 : 0);
             k < fetch->sources_size; k++)
            if (streq (fetch->sources [k], id)) {
                memmove (fetch->sources [k], fetch->sources [k + 1],
                         (fetch->sources_size - k - 1) * S_ID);
                fetch->sources_size--;
                break;
            }
        if (fetch->sources_size == 0 || fetch->source >= fetch->sources_size) {
            free (fetch->reason);
            fetch->reason = strdup ("the member that had it is gone");
            s_fail (self, fetch);
        }
    }
    zlistx_destroy (&keys);
    assert (s_invariants_hold (self));
}

void
tm_blobs_tick (tm_blobs_t *self, double now)
{
    assert (self);
    if (self->rate > 0 && now > self->refilled) {
        //  At most one credit's worth saved up: a burst after a quiet
        //  spell is no bigger than one fetch's window
        self->tokens += (now - self->refilled) * self->rate;
        double burst = (double) TM_BLOBS_CREDIT * TM_BLOBS_CHUNK;
        if (self->tokens > burst)
            self->tokens = burst;
    }
    self->refilled = now;
    zlistx_t *keys = s_snapshot (self);
    for (char *hex = (char *) zlistx_first (keys); hex; hex = (char *) zlistx_next (keys)) {
        s_fetch_t *fetch = (s_fetch_t *) zhashx_lookup (self->fetches, hex);
        if (!fetch)
            continue;
        if (fetch->state == FETCH_FAILED)
            s_fail (self, fetch);
        else
        if (fetch->state == FETCH_ACTIVE && fetch->retry_at > 0) {
            if (now >= fetch->retry_at) {
                //  Its source was busy: ask again for whatever is missing
                fetch->retry_at = 0;
                fetch->next = fetch->hashed;
                fetch->outstanding = 0;
                fetch->heard = now;
                s_ask (self, fetch);
            }
        }
        else
        if (fetch->state == FETCH_ACTIVE && fetch->background && fetch->outstanding == 0) {
            //  Throttled: nothing asked, so nothing to wait for; ask now
            //  if the bucket allows
            fetch->heard = now;
            s_ask (self, fetch);
        }
        else
        if (fetch->state == FETCH_ACTIVE && now - fetch->heard > self->stall) {
            if (++fetch->stalls >= self->stalls) {
                char *why = tm_strdupf ("no answer for %g s", self->stall * self->stalls);
                s_next_source (self, fetch, why);
                free (why);
            }
            else {
                //  Lost messages: ask again for whatever is missing
                tm_debug ("blobs", "blob %.16s... stalled; asking again", fetch->hex);
                fetch->next = fetch->hashed;
                fetch->outstanding = 0;
                fetch->heard = now;
                s_ask (self, fetch);
            }
        }
    }
    zlistx_destroy (&keys);
    assert (s_invariants_hold (self));
}
