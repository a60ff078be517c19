/*  tm_dht.c - the cache actor: this member's share and the DHT over it.

    tm_dht.h is the contract and docs/caching.md, 4, the design; this
    file is how.  Messages between the cache actors of two members are
    one JSON object each, the payload of a CACHE envelope (the gossip
    actor signs it, so its author is known for certain); field "t" names
    it (docs/protocol.md, "CACHE"):

        get    {t, q, k, keys: [hex, ...]}      asker -> owner
        got    {t, q, vals: [string | null | false, ...]}
                                                owner -> asker, one per key
                                                in order: the value, null
                                                (not held), or false (left
                                                out to keep the message
                                                under S_MSG_BUDGET: ask
                                                again)
        put    {t, k, items: [[hex, string], ...], q?}
                                                store these; with q, answer
                                                ack once done (handoff)
        ack    {t, q}
        tomb   {t, tombs: [string, ...]}        tombstone encodings
        stats  {t, q}                           asker -> every member
        stat   {t, q, s: {name, entries, ...}}

    Q is a number the sender chose to match the answer; K "entry" or
    "record".  get, got and put are written as text in one layout
    (compact, fields in the order above), which tm_cachemsg reads
    without a jansson tree; every message is decoded and checked there
    (tm_cachemsg_decode) before anything here acts on it.  A message
    that does not parse, or a field of the wrong type, is dropped and
    counted (stats malformed); a value that does not decode, names
    another key, fails its signature (checked when a value is stored,
    not when it is read: invariant 2) or has a signer that is not a
    member (revoked, or never one) is dropped and counted (malformed,
    bad_signature); a covered entry (tombstone) likewise (tombstoned).

    GET (the read path, timed in docs/benchmarks.md): the keys' owners
    are placed by rendezvous hashing and remembered for the current
    members (s_owners); the keys other owners hold are asked first, one
    get per owner and S_GET_BATCH keys, then our own share is read for
    the keys we own (no message: R/N of them).  A found value is kept as
    the JSON string the answer holds, a peer's as it came in its got
    (tm_cachemsg read it as strictly as jansson would), ours written
    once: the answer is a copy of each, handed to our owner whole.

    Invariants:
    1. Every GET from the owner gets exactly one GOT: when every key is
       found or has no owner left to ask, or at its deadline (S_GET_TIME),
       whichever comes first.
    2. A value reaches our share only after s_check passed it (the
       store path): decoded, under its own key, its signature verified,
       signed by a member, not covered.  It reaches our owner or a peer
       only after s_read_check passed it (the read path): under its own
       key, its signer a member not revoked, and (from a peer, where we
       hold tombstones) not covered; a signature is verified once, when
       a value is stored, never when it is read (docs/caching.md, 4).
    3. A batch in self->batches of a GET points to a live s_get_t: a GET
       that ends removes its batches first.
    4. No message we send is over S_MSG_BUDGET bytes of values (plus a
       bounded overhead), far under the envelope's limit.

    Handoff (the background part): every membership change that matters
    (a member alive that was not, alive with a new boot id, or alive no
    more) schedules one pass over our share, S_HANDOFF_DELAY later so that
    a burst of changes makes one pass.  For each value it computes the
    owners now and the owners at the last pass; it sends the value to
    every owner now that was not one then (or that restarted since), and
    if we are not an owner any more, to every owner now, asking for an
    ack: once every one of them acked, the value is deleted here.  The
    first pass after start has no "then": everything goes to its other
    owners.
*/
#include "tm_dht.h"
#include "tm_cachedb.h"
#include "tm_cachemsg.h"
#include "tm_jsonstr.h"
#include "tm_placement.h"
#include "tm_rendezvous.h"
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>

#define S_HEX             65            //  A member id (or key) in hex, with its NUL
#define S_R_MAX           16            //  Largest R we take
#define S_GET_BATCH       TM_CACHEMSG_KEYS_MAX    //  Keys per get message
#define S_PUT_BATCH       256           //  Values per put message
#define S_MSG_BUDGET      (3 * 1024 * 1024)   //  Bytes of values per message
#define S_GET_TIME        1.8           //  s a GET may take in all
#define S_ASK_TIME        0.3           //  s an owner has to answer one get
#define S_PUT_TIME        2.0           //  s an owner has to ack one put
#define S_STATS_TIME      1.0           //  s STATS waits for the members
#define S_ACK_TIME        10.0          //  s a handoff put waits for its ack
#define S_HANDOFF_DELAY   0.2           //  s after a change before the handoff
#define S_HANDOFF_FIRST_DELAY 2.0       //  s after SYNCED before our first handoff
#define S_TOMB_BATCH      128           //  Tombstones per tomb message
#define S_OWNERS_MEMO     32768         //  Keys whose owners are remembered (power of 2)

#define S_COUNT(self, field, n) \
    __atomic_fetch_add (&(self)->stats->field, (n), __ATOMIC_RELAXED)

typedef struct {
    char id [S_HEX];            //  Hex node key
    char *name;                 //  Its name
    char boot [17];             //  Its process's boot id ("" unknown)
    bool alive;                 //  Alive or suspect
    bool revoked;               //  Its key is revoked: nothing it signed counts
} s_member_t;

//  The owners of a key, as placed for the members of one epoch.
typedef struct {
    uint8_t key [32];
    uint32_t epoch;             //  Its epoch (memo_epoch); 0: empty
    uint8_t size;               //  Owners
    uint16_t owners [S_R_MAX];  //  Indexes into memo_ids, heaviest first
} s_memo_t;

//  Where a GET's key is.
typedef enum { KEY_TODO, KEY_ASKED, KEY_DONE } s_key_state_t;

//  One GET from our owner.
typedef struct {
    char *reqid;                //  The owner's request id
    tm_cachedb_kind_t kind;     //  Entries or records
    size_t count;               //  Keys asked
    uint8_t *keys;              //  count * 32 bytes
    char **values;              //  Found values as JSON strings, quotes
                                //  included, as the answer holds them
                                //  (owned), NULL until found
    size_t *value_sizes;        //  ... and their sizes
    char **ids;                 //  Alive member ids when it started (owned)
    size_t ids_count;
    size_t us;                  //  Our index in ids, SIZE_MAX if not there
    size_t *owners;             //  count * r indexes into ids, heaviest first
    uint8_t *owners_size;       //  Owners of each key
    uint8_t *next;              //  Position (in its owners) asked, or to ask
    uint8_t *state;             //  s_key_state_t of each key
    uint32_t *missed;           //  Positions that said "not held": repair them
    size_t pending;             //  Keys not done
    double deadline;            //  When it is answered whatever we have
} s_get_t;

typedef enum { BATCH_GET, BATCH_HANDOFF, BATCH_PUT } s_batch_type_t;

//  A PUT from our owner that waits for its owners' acks: the owner (the
//  agent) answers its CLI only then, so that a member killed right after
//  a run cannot take the run's entries with it.
typedef struct {
    char reqid [64];            //  Our owner's id for it
    size_t pending;             //  Put messages not acked nor timed out
    size_t sent;                //  Put messages sent
} s_putwait_t;

//  A message we wait on an answer to.
typedef struct {
    uint64_t q;                 //  Its number
    s_batch_type_t type;
    char owner [S_HEX];         //  To whom
    s_get_t *get;               //  BATCH_GET: the GET (borrowed)
    size_t *indexes;            //  ... and its keys asked
    size_t size;
    zlistx_t *drops;            //  BATCH_HANDOFF: "k<hex>" keys to drop when acked
    s_putwait_t *putwait;       //  BATCH_PUT: the PUT it is part of (owned by
                                //  its last batch)
    double deadline;
} s_batch_t;

//  A growing text buffer: the messages and answers on the read path are
//  written as text, not built as jansson trees and dumped, so that a
//  value (itself JSON) is escaped once and never copied into a tree.
typedef struct {
    char *data;
    size_t size;
    size_t alloc;
} s_text_t;

//  Values on their way to one member, one kind (a put message to be).
typedef struct {
    char owner [S_HEX];
    tm_cachedb_kind_t kind;
    s_text_t text;              //  The message so far: its head, and items
    size_t head;                //  The head's size
    size_t count;               //  Items in it
    size_t bytes;               //  Their cost (s_json_cost)
    zlistx_t *drops;            //  Keys to drop here once acked, or NULL
} s_putbuf_t;

//  A STATS from our owner, collecting answers.
typedef struct {
    char *reqid;
    uint64_t q;
    json_t *members;            //  Answers so far
    zhashx_t *waiting;          //  Ids not answered yet
    double deadline;
} s_statreq_t;

typedef struct {
    zsock_t *pipe;              //  To our owner
    zsock_t *cache;             //  PAIR to the gossip actor's cache socket
    tm_cachedb_t *db;           //  Our share
    char *member;               //  Our name
    uint8_t node_sk [TM_CACHE_SK];  //  To sign tombstones
    size_t r;                   //  Replicas
    tm_dht_stats_t *stats;      //  Counters (the owner's, or own_stats)
    tm_dht_stats_t own_stats;
    tm_dht_stat_extra_fn *stat_extra;   //  Our owner's figures for `stat`, or NULL
    void *stat_arg;
    char self_id [S_HEX];       //  Empty until gossip said SELF
    bool synced;                //  The member table is complete
    zhashx_t *members;          //  id -> s_member_t
    zlistx_t *tombs;            //  tm_cachetomb_t * we hold
    zhashx_t *tomb_ids;         //  Their ids in hex (a set)
    zlistx_t *gets;             //  s_get_t * in progress
    zhashx_t *batches;          //  "q" -> s_batch_t
    s_putwait_t *putwait;       //  The PUT being sent, during s_put only
    zhashx_t *putbufs;          //  owner + kind -> s_putbuf_t, flushed per event
    zhashx_t *drops;            //  "k<hex>" -> acks still awaited (intptr)
    zlistx_t *statreqs;         //  s_statreq_t *
    tm_placement_t *placement;  //  The alive members at the last handoff, with boot ids
    double handoff_due;         //  When to hand off, 0 = not due
    uint64_t next_q;            //  Last message number
    bool terminated;
    s_memo_t *owners_memo;      //  S_OWNERS_MEMO keys' owners, one per slot
                                //  (allocated at the first GET)
    char **memo_ids;            //  The alive members they index (owned), ...
    size_t memo_count;
    uint32_t memo_epoch;        //  ... as they stood in this epoch
    bool memo_stale;            //  Members changed since: take them again
    bool signer_cached;         //  s_signer's last answer is valid ...
    uint8_t signer_pk [TM_CACHE_PK];    //  ... for this key ...
    int signer_was;             //  ... and was this s_signer_t
} s_dht_t;

//  ---------------------------------------------------------------------
//  Small helpers

//  The bytes VALUE costs in a message, as a JSON string and a little
//  more for what goes around it.
static size_t
s_json_cost (const char *value, size_t size)
{
    return tm_jsonstr_cost (value, size) + 6;
}

static void
s_text_reserve (s_text_t *text, size_t more)
{
    if (text->size + more + 1 > text->alloc) {
        text->alloc = (text->size + more + 1) * 2;
        text->data = (char *) realloc (text->data, text->alloc);
        assert (text->data);
    }
}

static void
s_text_add (s_text_t *text, const char *data, size_t size)
{
    s_text_reserve (text, size);
    memcpy (text->data + text->size, data, size);
    text->size += size;
    text->data [text->size] = 0;
}

static void
s_text_str (s_text_t *text, const char *str)
{
    s_text_add (text, str, strlen (str));
}

//  Appends VALUE (SIZE bytes) as a JSON string, or null if it is not
//  valid UTF-8 or holds a NUL (a value that is not would make the whole
//  answer unreadable).  Returns false for null.
static bool
s_text_json_string (s_text_t *text, const char *value, size_t size)
{
    if (!tm_jsonstr_writable (value, size)) {
        s_text_add (text, "null", 4);
        return false;
    }
    s_text_reserve (text, tm_jsonstr_cost (value, size));
    char *end = tm_jsonstr_write (text->data + text->size, value, size);
    *end = 0;
    text->size = (size_t) (end - text->data);
    return true;
}

//  Sends TEXT (SIZE bytes of a JSON message) to member TO.
static void
s_send_text (s_dht_t *self, const char *to, const char *text, size_t size)
{
    zframe_t *payload = zframe_new (text, size);
    zsock_send (self->cache, "ssf", "SEND", to, payload);
    zframe_destroy (&payload);
}

static void
s_send (s_dht_t *self, const char *to, json_t **msg_p)
{
    char *text = json_dumps (*msg_p, JSON_COMPACT);
    json_decref (*msg_p);
    *msg_p = NULL;
    if (!text)
        return;
    zframe_t *payload = zframe_new (text, strlen (text));
    zsock_send (self->cache, "ssf", "SEND", to, payload);
    zframe_destroy (&payload);
    free (text);
}

static void
s_member_destroy (void **item_p)
{
    s_member_t *member = (s_member_t *) *item_p;
    if (member) {
        free (member->name);
        free (member);
        *item_p = NULL;
    }
}

static void
s_tomb_destroy (void **item_p)
{
    tm_cachetomb_destroy ((tm_cachetomb_t **) item_p);
}

//  The alive member ids (borrowed from the table; ourselves included),
//  in a new array of *COUNT_P.
static char **
s_alive_ids (s_dht_t *self, size_t *count_p)
{
    char **ids = (char **) malloc ((zhashx_size (self->members) + 1) * sizeof (char *));
    size_t count = 0;
    for (s_member_t *member = (s_member_t *) zhashx_first (self->members); member;
         member = (s_member_t *) zhashx_next (self->members))
        if (member->alive && !member->revoked)
            ids [count++] = member->id;
    *count_p = count;
    return ids;
}

//  What we know of a signer.
typedef enum { SIGNER_OK, SIGNER_UNKNOWN, SIGNER_REVOKED } s_signer_t;

//  Whether the member of public key PK may sign entries and tombstones:
//  we, or a member we know whose key is not revoked.  A hash lookup: it
//  is on the read path of every entry.
static s_signer_t
s_signer (s_dht_t *self, const uint8_t pk [TM_CACHE_PK])
{
    //  Most values of a lookup have one signer or a few: the last
    //  answer, until the member table changes (s_on_member, SELF)
    if (self->signer_cached && memcmp (pk, self->signer_pk, TM_CACHE_PK) == 0)
        return self->signer_was;
    char hex [S_HEX];
    tm_cache_hex (pk, hex);
    s_member_t *member = (s_member_t *) zhashx_lookup (self->members, hex);
    s_signer_t signer = *self->self_id && streq (hex, self->self_id) ? SIGNER_OK
                      : !member ? SIGNER_UNKNOWN : member->revoked ? SIGNER_REVOKED : SIGNER_OK;
    memcpy (self->signer_pk, pk, TM_CACHE_PK);
    self->signer_was = signer;
    self->signer_cached = true;
    return signer;
}

static bool
s_signer_ok (s_dht_t *self, const uint8_t pk [TM_CACHE_PK])
{
    return s_signer (self, pk) == SIGNER_OK;
}

//  True if a tombstone we hold covers ENTRY.
static bool
s_covered (s_dht_t *self, const tm_cacheentry_t *entry)
{
    for (tm_cachetomb_t *tomb = (tm_cachetomb_t *) zlistx_first (self->tombs); tomb;
         tomb = (tm_cachetomb_t *) zlistx_next (self->tombs))
        if (tm_cachetomb_covers (tomb, entry->test_id, entry->created))
            return true;
    return false;
}

//  The full check, for a value on its way INTO a share (the store path:
//  our owner's PUT, a peer's put, handoff, repair).  Checks VALUE (SIZE
//  bytes) of KIND under KEY: it decodes, names KEY, and, for an entry,
//  its signature verifies, its signer is a member, and no tombstone
//  covers it.  Returns 0, or -1 (counted).
static int
s_check (s_dht_t *self, tm_cachedb_kind_t kind, const char *hex, const char *value,
         size_t size)
{
    char *err = NULL;
    int rc = -1;
    if (kind == TM_CACHEDB_RECORD) {
        tm_cacherecord_t *record = tm_cacherecord_decode (value, size, &err);
        if (record && streq (record->ident, hex))
            rc = 0;
        else
            S_COUNT (self, malformed, 1);
        tm_cacherecord_destroy (&record);
    }
    else {
        tm_cacheentry_t *entry = tm_cacheentry_decode (value, size, &err);
        if (!entry || !streq (entry->key, hex))
            S_COUNT (self, malformed, 1);
        else
        if (!tm_cacheentry_verify (entry) || !s_signer_ok (self, entry->member_pk))
            S_COUNT (self, bad_signature, 1);
        else
        if (s_covered (self, entry))
            S_COUNT (self, tombstoned, 1);
        else
            rc = 0;
        tm_cacheentry_destroy (&entry);
    }
    if (err)
        tm_debug ("cache", "value %.16s... refused: %s", hex, err);
    free (err);
    return rc;
}

//  What the read path found of a value.
typedef enum {
    READ_OK,                    //  Serve it
    READ_BAD,                   //  Never servable: drop it (counted)
    READ_UNKNOWN                //  Its signer is not in our table (yet):
                                //  not served, but kept
} s_read_t;

//  The cheap check, for a value on its way OUT of a share (the read
//  path: our share for our owner or a peer, a peer's got for our
//  owner).  Shares hold only values that passed s_check when stored
//  (invariant 2), and a peer's got arrives in a signed envelope from an
//  authenticated member, so no signature is verified here: the value
//  must name KEY, and an entry's signer must be a member whose key is
//  not revoked (revocation is checked on every read, as it may come
//  after the store).  An entry from a peer (PEER) is also held against
//  our tombstones, since that peer may not have one yet; our own share
//  holds no covered entry (tombstones delete what they cover, and
//  s_check refuses it).  A value not in the encoder's canonical layout
//  (tm_cacheentry_peek) gets the full check instead.
static s_read_t
s_read_check (s_dht_t *self, tm_cachedb_kind_t kind, const char *hex, const char *value,
              size_t size, bool peer)
{
    char key [TM_CACHE_HEX];
    if (kind == TM_CACHEDB_RECORD) {
        if (tm_cacherecord_peek (value, size, key) != 0)
            return s_check (self, kind, hex, value, size) == 0 ? READ_OK : READ_BAD;
        if (memcmp (key, hex, TM_CACHE_HEX) != 0) {
            S_COUNT (self, malformed, 1);
            return READ_BAD;
        }
        return READ_OK;
    }
    uint8_t pk [TM_CACHE_PK];
    if (tm_cacheentry_peek (value, size, key, pk) != 0)
        return s_check (self, kind, hex, value, size) == 0 ? READ_OK : READ_BAD;
    if (memcmp (key, hex, TM_CACHE_HEX) != 0) {
        S_COUNT (self, malformed, 1);
        return READ_BAD;
    }
    s_signer_t signer = s_signer (self, pk);
    if (signer != SIGNER_OK) {
        S_COUNT (self, bad_signature, 1);
        return signer == SIGNER_REVOKED ? READ_BAD : READ_UNKNOWN;
    }
    if (peer && zlistx_size (self->tombs)) {
        //  Only where tombstones exist: a decode, still no signature
        tm_cacheentry_t *entry = tm_cacheentry_decode (value, size, NULL);
        bool covered = !entry || s_covered (self, entry);
        tm_cacheentry_destroy (&entry);
        if (covered) {
            S_COUNT (self, tombstoned, 1);
            return READ_BAD;
        }
    }
    return READ_OK;
}

//  Our share's value of KIND under KEY in a new buffer (not
//  NUL-terminated) of *SIZE_P bytes, or NULL.  It is read-checked
//  (s_read_check) and can be written as a JSON string as it is
//  (tm_jsonstr_writable), and one that is never servable is deleted:
//  the same for our owner and for a peer's get.
static char *
s_local_get (s_dht_t *self, tm_cachedb_kind_t kind, const uint8_t key [32], size_t *size_p)
{
    char *value = NULL;
    size_t size = 0;
    if (tm_cachedb_get (self->db, kind, key, &value, &size) != 0)
        return NULL;
    char hex [S_HEX];
    tm_cache_hex (key, hex);
    //  Values are JSON text: invalid UTF-8 or a NUL inside is corruption
    s_read_t read = !tm_jsonstr_writable (value, size) ? READ_BAD
                  : s_read_check (self, kind, hex, value, size, false);
    if (read != READ_OK) {
        if (read == READ_BAD)
            tm_cachedb_delete (self->db, kind, key);
        free (value);
        return NULL;
    }
    *size_p = size;
    return value;
}

//  Stores a checked value in our share.
static void
s_local_put (s_dht_t *self, tm_cachedb_kind_t kind, const uint8_t key [32], const char *value,
             size_t size)
{
    if (tm_cachedb_put (self->db, kind, key, value, size) == 0)
        S_COUNT (self, puts, 1);
}

//  VALUE (SIZE bytes, tm_jsonstr_writable) as a JSON string, quotes
//  included, in a new buffer of *JSON_SIZE_P bytes.
static char *
s_json_dup (const char *value, size_t size, size_t *json_size_p)
{
    char *json = (char *) malloc (tm_jsonstr_cost (value, size));
    assert (json);
    *json_size_p = (size_t) (tm_jsonstr_write (json, value, size) - json);
    return json;
}

//  ---------------------------------------------------------------------
//  Put buffers: values on their way to other members

static void
s_putbuf_destroy (void **item_p)
{
    s_putbuf_t *buf = (s_putbuf_t *) *item_p;
    if (buf) {
        free (buf->text.data);
        zlistx_destroy (&buf->drops);
        free (buf);
        *item_p = NULL;
    }
}

static void
s_batch_destroy (void **item_p)
{
    s_batch_t *batch = (s_batch_t *) *item_p;
    if (batch) {
        //  Not answered here: s_put_done did, or the actor is ending
        if (batch->putwait && --batch->putwait->pending == 0)
            free (batch->putwait);
        free (batch->indexes);
        zlistx_destroy (&batch->drops);
        free (batch);
        *item_p = NULL;
    }
}

static s_batch_t *
s_batch_new (s_dht_t *self, s_batch_type_t type, const char *owner, double timeout)
{
    s_batch_t *batch = (s_batch_t *) zmalloc (sizeof (s_batch_t));
    batch->q = ++self->next_q;
    batch->type = type;
    snprintf (batch->owner, sizeof batch->owner, "%s", owner);
    batch->deadline = tm_now () + timeout;
    char q [24];
    snprintf (q, sizeof q, "%" PRIu64, batch->q);
    zhashx_insert (self->batches, q, batch);
    return batch;
}

static void
s_batch_remove (s_dht_t *self, uint64_t q)
{
    char key [24];
    snprintf (key, sizeof key, "%" PRIu64, q);
    zhashx_delete (self->batches, key);
}

//  Sends BUF as one put message and empties it.
static void
s_putbuf_flush (s_dht_t *self, s_putbuf_t *buf)
{
    if (buf->count == 0)
        return;
    s_batch_t *batch = NULL;
    if (buf->drops && zlistx_size (buf->drops)) {
        batch = s_batch_new (self, BATCH_HANDOFF, buf->owner, S_ACK_TIME);
        batch->drops = buf->drops;
        buf->drops = NULL;
    }
    else
    if (self->putwait) {
        batch = s_batch_new (self, BATCH_PUT, buf->owner, S_PUT_TIME);
        batch->putwait = self->putwait;
        self->putwait->pending++;
        self->putwait->sent++;
    }
    char tail [48];
    if (batch)
        snprintf (tail, sizeof tail, "],\"q\":%" PRIu64 "}", batch->q);
    else
        snprintf (tail, sizeof tail, "]}");
    s_text_str (&buf->text, tail);
    s_send_text (self, buf->owner, buf->text.data, buf->text.size);
    buf->text.size = buf->head;
    buf->count = 0;
    buf->bytes = 0;
}

//  Queues VALUE of KIND under HEX for member OWNER.  With DROP, it is to
//  be deleted here once OWNER (and every other owner it went to) acked.
static void
s_putbuf_add (s_dht_t *self, const char *owner, tm_cachedb_kind_t kind, const char *hex,
              const char *value, size_t size, bool drop)
{
    size_t cost = s_json_cost (value, size) + 72;
    if (cost > S_MSG_BUDGET || !tm_jsonstr_writable (value, size))
        return;                 //  Never sendable: the cap keeps them rarer
    char key [S_HEX + 2];
    snprintf (key, sizeof key, "%c%s", (char) kind, owner);
    s_putbuf_t *buf = (s_putbuf_t *) zhashx_lookup (self->putbufs, key);
    if (!buf) {
        buf = (s_putbuf_t *) zmalloc (sizeof (s_putbuf_t));
        snprintf (buf->owner, sizeof buf->owner, "%s", owner);
        buf->kind = kind;
        //  The layout tm_cachemsg reads fast
        char head [64];
        buf->head = (size_t) snprintf (head, sizeof head, "{\"t\":\"put\",\"k\":\"%s\",\"items\":[",
                                       tm_cachemsg_kind_name (kind));
        s_text_add (&buf->text, head, buf->head);
        zhashx_insert (self->putbufs, key, buf);
    }
    if (buf->bytes + cost > S_MSG_BUDGET || buf->count >= S_PUT_BATCH)
        s_putbuf_flush (self, buf);
    s_text_add (&buf->text, buf->count ? ",[\"" : "[\"", buf->count ? 3 : 2);
    s_text_add (&buf->text, hex, S_HEX - 1);
    s_text_add (&buf->text, "\",", 2);
    s_text_json_string (&buf->text, value, size);
    s_text_add (&buf->text, "]", 1);
    buf->count++;
    buf->bytes += cost;
    if (drop) {
        if (!buf->drops) {
            buf->drops = zlistx_new ();
            zlistx_set_destructor (buf->drops, (zlistx_destructor_fn *) zstr_free);
        }
        char dropkey [S_HEX + 1];
        snprintf (dropkey, sizeof dropkey, "%c%s", (char) kind, hex);
        zlistx_add_end (buf->drops, strdup (dropkey));
    }
}

static void
s_putbufs_flush (s_dht_t *self)
{
    for (s_putbuf_t *buf = (s_putbuf_t *) zhashx_first (self->putbufs); buf;
         buf = (s_putbuf_t *) zhashx_next (self->putbufs))
        s_putbuf_flush (self, buf);
    zhashx_purge (self->putbufs);
}

//  ---------------------------------------------------------------------
//  GET

static void
s_get_destroy (s_get_t **get_p)
{
    s_get_t *get = *get_p;
    if (!get)
        return;
    for (size_t i = 0; i < get->count; i++)
        free (get->values [i]);
    for (size_t i = 0; i < get->ids_count; i++)
        free (get->ids [i]);
    free (get->ids);
    free (get->values);
    free (get->value_sizes);
    free (get->keys);
    free (get->owners);
    free (get->owners_size);
    free (get->next);
    free (get->state);
    free (get->missed);
    free (get->reqid);
    free (get);
    *get_p = NULL;
}

//  Frees a message's data once libzmq is done with it.
static void
s_free_data (void *data, void *hint)
{
    free (data);
}

//  Answers GET to our owner and forgets it and its batches.
static void
s_get_finish (s_dht_t *self, s_get_t *get)
{
    //  The values are JSON strings already: one buffer of the right
    //  size, and a copy of each
    size_t size = 2, found = 0;
    for (size_t i = 0; i < get->count; i++)
        size += 1 + (get->values [i] ? get->value_sizes [i] : 4);
    s_text_t text = { (char *) malloc (size + 1), 0, size + 1 };
    assert (text.data);
    s_text_add (&text, "[", 1);
    for (size_t i = 0; i < get->count; i++) {
        if (i)
            s_text_add (&text, ",", 1);
        if (get->values [i]) {
            s_text_add (&text, get->values [i], get->value_sizes [i]);
            found++;
        }
        else
            s_text_add (&text, "null", 4);
    }
    s_text_add (&text, "]", 1);
    S_COUNT (self, found, found);
    //  Handed over, not copied: megabytes for a large GET (the owner
    //  copies them once, into its reply)
    void *pipe = zsock_resolve (self->pipe);
    zmq_msg_t values;
    zmq_msg_init_data (&values, text.data, text.size, s_free_data, NULL);
    if (zmq_send (pipe, "GOT", 3, ZMQ_SNDMORE) != 3
    ||  zmq_send (pipe, get->reqid, strlen (get->reqid), ZMQ_SNDMORE) < 0
    ||  zmq_msg_send (&values, pipe, 0) < 0)
        zmq_msg_close (&values);    //  The owner is gone: nothing waits
    //  Invariant 3: its batches go first
    zlistx_t *dead = zlistx_new ();
    for (s_batch_t *batch = (s_batch_t *) zhashx_first (self->batches); batch;
         batch = (s_batch_t *) zhashx_next (self->batches))
        if (batch->get == get)
            zlistx_add_end (dead, (void *) (uintptr_t) batch->q);
    for (void *q = zlistx_first (dead); q; q = zlistx_next (dead))
        s_batch_remove (self, (uint64_t) (uintptr_t) q);
    zlistx_destroy (&dead);
    void *handle = zlistx_find (self->gets, get);
    if (handle)
        zlistx_delete (self->gets, handle);
    s_get_destroy (&get);
}

//  Key I of GET was found (checked) at position POS of its owners: VALUE
//  (SIZE bytes), and the same as a JSON string, JSON (taken; JSON_SIZE
//  bytes).  Keeps it, and writes it back to the earlier owners that
//  said they lacked it.
static void
s_get_found (s_dht_t *self, s_get_t *get, size_t i, size_t pos, const char *value, size_t size,
             char *json, size_t json_size)
{
    get->values [i] = json;
    get->value_sizes [i] = json_size;
    get->state [i] = KEY_DONE;
    get->pending--;
    char hex [S_HEX] = "";
    for (size_t p = 0; p < pos; p++) {
        if (!(get->missed [i] & (1u << p)))
            continue;
        if (!*hex)
            tm_cache_hex (get->keys + 32 * i, hex);
        const char *owner = get->ids [get->owners [i * self->r + p]];
        if (streq (owner, self->self_id)) {
            //  Into our share: the store path's full check (invariant 2),
            //  as a peer's value was only read-checked
            if (s_check (self, get->kind, hex, value, size) == 0)
                s_local_put (self, get->kind, get->keys + 32 * i, value, size);
        }
        else
            s_putbuf_add (self, owner, get->kind, hex, value, size, false);
        S_COUNT (self, repaired, 1);
    }
}

//  Sends a get message to each other owner for the ASKING keys at ASKS
//  (OWNER_OF: whose), S_GET_BATCH keys a message; COUNTS: keys per owner.
static void
s_get_send (s_dht_t *self, s_get_t *get, size_t *asks, size_t *owner_of, size_t asking,
            size_t *counts)
{
    for (size_t owner = 0; owner < get->ids_count; owner++) {
        if (!counts [owner])
            continue;
        s_batch_t *batch = NULL;
        s_text_t text = { NULL, 0, 0 };
        for (size_t a = 0; a < asking; a++) {
            if (owner_of [a] != owner)
                continue;
            if (!batch) {
                batch = s_batch_new (self, BATCH_GET, get->ids [owner], S_ASK_TIME);
                batch->get = get;
                batch->indexes = (size_t *) malloc (S_GET_BATCH * sizeof (size_t));
                char head [96];
                text.size = 0;
                s_text_add (&text, head, (size_t) snprintf (head, sizeof head,
                            "{\"t\":\"get\",\"q\":%" PRIu64 ",\"k\":\"%s\",\"keys\":[",
                            batch->q, tm_cachemsg_kind_name (get->kind)));
            }
            char hex [S_HEX];
            tm_cache_hex (get->keys + 32 * asks [a], hex);
            s_text_add (&text, batch->size ? ",\"" : "\"", batch->size ? 2 : 1);
            s_text_add (&text, hex, S_HEX - 1);
            s_text_add (&text, "\"", 1);
            batch->indexes [batch->size++] = asks [a];
            counts [owner]--;
            if (batch->size == S_GET_BATCH || counts [owner] == 0) {
                s_text_add (&text, "]}", 2);
                s_send_text (self, batch->owner, text.data, text.size);
                batch = NULL;
                if (counts [owner] == 0)
                    break;
            }
        }
        free (text.data);
    }
}

//  Asks the keys of GET that wait for an owner other than us: one
//  message per owner and S_GET_BATCH keys, and they are KEY_ASKED.  A
//  key with no owner left is done; one whose next owner is us stays
//  KEY_TODO, for s_get_advance.
static void
s_get_ask (s_dht_t *self, s_get_t *get)
{
    //  Per owner (an index into get->ids), the keys to ask it
    size_t *counts = (size_t *) calloc (get->ids_count + 1, sizeof (size_t));
    size_t *asks = (size_t *) malloc ((get->count + 1) * sizeof (size_t));
    size_t *owner_of = (size_t *) malloc ((get->count + 1) * sizeof (size_t));
    size_t asking = 0;
    for (size_t i = 0; i < get->count; i++) {
        if (get->state [i] != KEY_TODO)
            continue;
        if (get->next [i] >= get->owners_size [i]) {
            get->state [i] = KEY_DONE;
            get->pending--;
            continue;
        }
        size_t owner = get->owners [i * self->r + get->next [i]];
        if (owner != get->us) {
            get->state [i] = KEY_ASKED;
            owner_of [asking] = owner;
            asks [asking++] = i;
            counts [owner]++;
        }
    }
    s_get_send (self, get, asks, owner_of, asking, counts);
    free (counts);
    free (asks);
    free (owner_of);
}

//  Asks every key of GET that waits for an owner: the other owners first
//  (s_get_ask), so that they work while we read our own share for the
//  keys whose next owner is us; a key we lack goes to its next owner, in
//  another round.  Answers GET if no key is left.  Returns true if it
//  did (GET is gone).
static bool
s_get_advance (s_dht_t *self, s_get_t *get)
{
    for (bool again = true; again; ) {
        s_get_ask (self, get);
        again = false;
        for (size_t i = 0; i < get->count; i++) {
            if (get->state [i] != KEY_TODO)
                continue;       //  Asked, or done; else ours to read
            size_t size, json_size;
            char *value = s_local_get (self, get->kind, get->keys + 32 * i, &size);
            if (value) {
                char *json = s_json_dup (value, size, &json_size);
                s_get_found (self, get, i, get->next [i], value, size, json, json_size);
                free (value);
            }
            else {
                get->missed [i] |= 1u << get->next [i];
                get->next [i]++;
                again = true;
            }
        }
    }
    s_putbufs_flush (self);
    if (get->pending == 0) {
        s_get_finish (self, get);
        return true;
    }
    return false;
}

//  Takes the alive members again, in a new epoch of the owners memo, if
//  they changed since it was last done: a GET's ids are these, in this
//  order, so that the memo's indexes hold for it.
static void
s_memo_members (s_dht_t *self)
{
    if (self->memo_ids && !self->memo_stale)
        return;
    for (size_t m = 0; m < self->memo_count; m++)
        free (self->memo_ids [m]);
    free (self->memo_ids);
    char **alive = s_alive_ids (self, &self->memo_count);
    self->memo_ids = (char **) malloc ((self->memo_count + 1) * sizeof (char *));
    for (size_t m = 0; m < self->memo_count; m++)
        self->memo_ids [m] = strdup (alive [m]);
    free (alive);
    self->memo_epoch++;
    self->memo_stale = false;
}

//  The owners of KEY among memo_ids (indexes into OWNERS, heaviest
//  first); returns how many.  Rendezvous hashing costs about 0.7 us a
//  key with 5 members (a BLAKE2b each): the owners of the keys looked
//  up lately are remembered for the epoch, a slot per key (by its first
//  bytes: a key that takes another's slot only costs that one the hash
//  again), since runs look up the same keys again and again.
static size_t
s_owners (s_dht_t *self, const uint8_t key [32], size_t *owners)
{
    if (self->memo_count > UINT16_MAX)
        return tm_rendezvous_owners (key, (const char *const *) self->memo_ids,
                                     self->memo_count, self->r, owners);
    if (!self->owners_memo) {
        self->owners_memo = (s_memo_t *) calloc (S_OWNERS_MEMO, sizeof (s_memo_t));
        assert (self->owners_memo);
    }
    uint32_t slot;
    memcpy (&slot, key, sizeof slot);
    s_memo_t *memo = &self->owners_memo [slot & (S_OWNERS_MEMO - 1)];
    if (memo->epoch == self->memo_epoch && memcmp (memo->key, key, 32) == 0) {
        for (size_t k = 0; k < memo->size; k++)
            owners [k] = memo->owners [k];
        return memo->size;
    }
    size_t size = tm_rendezvous_owners (key, (const char *const *) self->memo_ids,
                                        self->memo_count, self->r, owners);
    memcpy (memo->key, key, 32);
    memo->epoch = self->memo_epoch;
    memo->size = (uint8_t) size;
    for (size_t k = 0; k < size; k++)
        memo->owners [k] = (uint16_t) owners [k];
    return size;
}

//  "GET" reqid kind keys from our owner: KEYS is SIZE bytes, 32 a key.
static void
s_get_start (s_dht_t *self, const char *reqid, const char *kind_name, const uint8_t *keys,
             size_t size)
{
    s_get_t *get = (s_get_t *) zmalloc (sizeof (s_get_t));
    get->reqid = strdup (reqid);
    if (tm_cachemsg_kind (kind_name, &get->kind) != 0 || (size % 32) != 0 || (size && !keys)) {
        tm_warn ("cache", "GET %s: bad kind or keys", reqid);
        get->count = 0;
    }
    else
        get->count = size / 32;
    size_t n = get->count ? get->count : 1;
    get->keys = (uint8_t *) calloc (n, 32);
    get->values = (char **) calloc (n, sizeof (char *));
    get->value_sizes = (size_t *) calloc (n, sizeof (size_t));
    get->owners = (size_t *) calloc (n * self->r, sizeof (size_t));
    get->owners_size = (uint8_t *) calloc (n, 1);
    get->next = (uint8_t *) calloc (n, 1);
    get->state = (uint8_t *) calloc (n, 1);
    get->missed = (uint32_t *) calloc (n, sizeof (uint32_t));
    get->deadline = tm_now () + S_GET_TIME;
    s_memo_members (self);
    get->ids = (char **) malloc ((self->memo_count + 1) * sizeof (char *));
    for (size_t m = 0; m < self->memo_count; m++)
        get->ids [m] = strdup (self->memo_ids [m]);
    get->ids_count = self->memo_count;
    get->pending = get->count;
    if (get->count)
        memcpy (get->keys, keys, 32 * get->count);
    get->us = SIZE_MAX;
    for (size_t m = 0; m < get->ids_count; m++)
        if (streq (get->ids [m], self->self_id))
            get->us = m;
    S_COUNT (self, gets, get->count);
    zlistx_add_end (self->gets, get);
    for (size_t i = 0; i < get->count; i++) {
        size_t *owners = get->owners + i * self->r;
        get->owners_size [i] = (uint8_t) s_owners (self, get->keys + 32 * i, owners);
        //  If we own it, our share is read first (no message, no wait),
        //  then the others in their order
        for (size_t p = 1; p < get->owners_size [i]; p++)
            if (owners [p] == get->us) {
                memmove (owners + 1, owners, p * sizeof (size_t));
                owners [0] = get->us;
                break;
            }
    }
    s_get_advance (self, get);
}

//  Our batch of number Q (a message we sent) if it is still waiting.
static s_batch_t *
s_batch_lookup (s_dht_t *self, uint64_t q)
{
    char key [24];
    snprintf (key, sizeof key, "%" PRIu64, q);
    return (s_batch_t *) zhashx_lookup (self->batches, key);
}

//  A got message from FROM.
static int
s_on_got (s_dht_t *self, const char *from, tm_cachemsg_t *msg)
{
    s_batch_t *batch = s_batch_lookup (self, msg->q);
    if (!batch || batch->type != BATCH_GET || !streq (batch->owner, from))
        return 0;               //  Late (we gave up on it), or not for us
    s_get_t *get = batch->get;
    bool retry = false;         //  Some key goes to an owner again
    if (msg->count != batch->size) {
        //  Garbage from that owner: as if it had not answered
        batch->deadline = 0;
        return -1;
    }
    for (size_t j = 0; j < batch->size; j++) {
        size_t i = batch->indexes [j];
        if (get->state [i] != KEY_ASKED)
            continue;
        const tm_cachemsg_item_t *val = &msg->items [j];
        size_t pos = get->next [i];
        get->state [i] = KEY_TODO;
        if (val->left_out) {
            retry = true;       //  Left out for size: ask it again
            continue;
        }
        char hex [S_HEX];
        tm_cache_hex (get->keys + 32 * i, hex);
        //  Read-checked only (s_read_check): FROM checked it when it
        //  stored it.  Not found for one that fails: its next owner is
        //  asked, whether FROM lied or lags
        if (val->value
        &&  s_read_check (self, get->kind, hex, val->value, val->size, true) == READ_OK) {
            //  As it came, if it came in the fast layout (tm_cachemsg
            //  read it strictly: valid JSON), else written again
            size_t json_size = val->json_size;
            char *json;
            if (val->json) {
                json = (char *) malloc (json_size);
                assert (json);
                memcpy (json, val->json, json_size);
            }
            else
                json = s_json_dup (val->value, val->size, &json_size);
            s_get_found (self, get, i, pos, val->value, val->size, json, json_size);
        }
        else {
            get->missed [i] |= 1u << pos;
            get->next [i]++;
            retry = true;
        }
    }
    s_batch_remove (self, batch->q);
    if (retry)
        s_get_advance (self, get);
    else {
        //  Every key of it found: nothing to ask (no pass over the GET's
        //  keys for each answer), only repairs to send
        s_putbufs_flush (self);
        if (get->pending == 0)
            s_get_finish (self, get);
    }
    return 0;
}

//  A get message from FROM: our share's values, in order.
static int
s_on_get (s_dht_t *self, const char *from, tm_cachemsg_t *msg)
{
    //  Written as text, in the layout tm_cachemsg reads fast: each value
    //  escaped once, straight from the share
    s_text_t text = { NULL, 0, 0 };
    char head [64];
    s_text_add (&text, head, (size_t) snprintf (head, sizeof head,
                "{\"t\":\"got\",\"q\":%" PRIu64 ",\"vals\":[", msg->q));
    size_t bytes = 0;
    for (size_t i = 0; i < msg->count; i++) {
        if (i)
            s_text_add (&text, ",", 1);
        size_t size = 0;
        char *value = s_local_get (self, msg->kind, msg->items [i].key, &size);
        size_t cost = value ? s_json_cost (value, size) : 8;
        if (!value)
            s_text_add (&text, "null", 4);
        else
        if (bytes + cost > S_MSG_BUDGET)
            //  Over budget: the asker asks again, in a message of its own
            //  (or, alone over the budget, never: a miss)
            s_text_str (&text, bytes == 0 ? "null" : "false");
        else {
            s_text_json_string (&text, value, size);
            bytes += cost;
        }
        free (value);
    }
    s_text_add (&text, "]}", 2);
    S_COUNT (self, remote_gets, msg->count);
    s_send_text (self, from, text.data, text.size);
    free (text.data);
    return 0;
}

//  ---------------------------------------------------------------------
//  PUT

//  One put message of a PUT was acked, or its time ran out (BATCH is
//  removed by the caller); the PUT is answered when none is left.
static void
s_put_done (s_dht_t *self, s_batch_t *batch)
{
    s_putwait_t *putwait = batch->putwait;
    if (putwait && putwait->pending == 1) {
        char *json = tm_strdupf ("{\"messages\": %zu}", putwait->sent);
        zsock_send (self->pipe, "sss", "PUT", putwait->reqid, json);
        free (json);
    }
    //  s_batch_destroy counts it down, and frees it with its last batch
}

//  "PUT" kind items [reqid] from our owner: checked, then to every
//  owner; with REQID, answered once every owner acked (or S_PUT_TIME).
static void
s_put (s_dht_t *self, const char *kind_name, const char *items_text, const char *reqid)
{
    //  Read as the put message it will become, so that one decoder (and
    //  its fast path) serves both
    tm_cachedb_kind_t kind;
    tm_cachemsg_t *msg = NULL;
    if (tm_cachemsg_kind (kind_name, &kind) == 0 && items_text) {
        char *text = tm_strdupf ("{\"t\":\"put\",\"k\":\"%s\",\"items\":%s}",
                                 tm_cachemsg_kind_name (kind), items_text);
        msg = tm_cachemsg_decode (text, strlen (text));
        free (text);
    }
    if (!msg) {
        tm_warn ("cache", "PUT: bad kind or items");
        if (reqid)
            zsock_send (self->pipe, "sss", "PUT", reqid, "{\"messages\": 0}");
        return;
    }
    if (reqid) {
        self->putwait = (s_putwait_t *) zmalloc (sizeof (s_putwait_t));
        snprintf (self->putwait->reqid, sizeof self->putwait->reqid, "%s", reqid);
    }
    size_t count;
    char **ids = s_alive_ids (self, &count);
    size_t owners [S_R_MAX];
    for (size_t i = 0; i < msg->count; i++) {
        const tm_cachemsg_item_t *item = &msg->items [i];
        if (!item->value) {
            S_COUNT (self, malformed, 1);
            continue;
        }
        char hex [S_HEX];
        tm_cache_hex (item->key, hex);
        if (s_check (self, kind, hex, item->value, item->size) != 0)
            continue;
        size_t n = tm_rendezvous_owners (item->key, (const char *const *) ids, count, self->r,
                                         owners);
        if (n == 0)             //  Not a member yet: keep it here
            s_local_put (self, kind, item->key, item->value, item->size);
        for (size_t k = 0; k < n; k++) {
            if (streq (ids [owners [k]], self->self_id))
                s_local_put (self, kind, item->key, item->value, item->size);
            else
                s_putbuf_add (self, ids [owners [k]], kind, hex, item->value, item->size, false);
        }
    }
    free (ids);
    tm_cachemsg_destroy (&msg);
    s_putbufs_flush (self);
    if (self->putwait && self->putwait->sent == 0) {
        //  Every owner was us: stored already
        zsock_send (self->pipe, "sss", "PUT", reqid, "{\"messages\": 0}");
        free (self->putwait);
    }
    self->putwait = NULL;
}

//  A put message from FROM: store what checks; ack if asked.
static int
s_on_put (s_dht_t *self, const char *from, tm_cachemsg_t *msg)
{
    bool bad = false;
    for (size_t i = 0; i < msg->count; i++) {
        const tm_cachemsg_item_t *item = &msg->items [i];
        if (!item->value) {
            bad = true;
            continue;
        }
        char hex [S_HEX];
        tm_cache_hex (item->key, hex);
        if (s_check (self, msg->kind, hex, item->value, item->size) == 0)
            s_local_put (self, msg->kind, item->key, item->value, item->size);
    }
    if (msg->has_q) {
        //  Acked even where a value was refused: the sender must not keep
        //  for ever what no member will take
        char ack [64];
        size_t size = (size_t) snprintf (ack, sizeof ack, "{\"t\":\"ack\",\"q\":%" PRIu64 "}",
                                         msg->q);
        s_send_text (self, from, ack, size);
    }
    return bad ? -1 : 0;
}

//  ---------------------------------------------------------------------
//  Handoff

//  An ack from FROM: values it now holds that we may drop.
static int
s_on_ack (s_dht_t *self, const char *from, tm_cachemsg_t *msg)
{
    s_batch_t *batch = s_batch_lookup (self, msg->q);
    if (batch && batch->type == BATCH_PUT && streq (batch->owner, from)) {
        s_put_done (self, batch);
        s_batch_remove (self, batch->q);
        return 0;
    }
    if (!batch || batch->type != BATCH_HANDOFF || !streq (batch->owner, from))
        return 0;
    for (char *drop = (char *) zlistx_first (batch->drops); drop;
         drop = (char *) zlistx_next (batch->drops)) {
        intptr_t left = (intptr_t) zhashx_lookup (self->drops, drop);
        if (left > 1)
            zhashx_update (self->drops, drop, (void *) (left - 1));
        else
        if (left == 1) {
            uint8_t bytes [32];
            if (tm_cache_from_hex (drop + 1, bytes) == 0)
                tm_cachedb_delete (self->db, (tm_cachedb_kind_t) drop [0], bytes);
            zhashx_delete (self->drops, drop);
        }
    }
    s_batch_remove (self, batch->q);
    return 0;
}

//  A member's boot id now, or NULL if it is not alive and trusted now
//  (tm_placement_boot_fn).
static const char *
s_boot_of (void *arg, const char *id)
{
    s_dht_t *self = (s_dht_t *) arg;
    s_member_t *member = (s_member_t *) zhashx_lookup (self->members, id);
    return member && member->alive && !member->revoked ? member->boot : NULL;
}

typedef struct {
    s_dht_t *self;
    size_t handed;
    zlistx_t *deletes;          //  "KIND HEX" of values to delete after the pass
} s_handoff_t;

static bool
s_handoff_one (tm_cachedb_kind_t kind, const uint8_t *key, const char *value, size_t size,
               void *arg)
{
    s_handoff_t *h = (s_handoff_t *) arg;
    s_dht_t *self = h->self;
    //  An old owner that is still the same process holds the value: no
    //  one sends it there.  Every holder sends to the others, so a value
    //  reaches its new owners whatever any one member's view (a single
    //  sender chosen from each member's own view lost values when the
    //  views differed); a join moves each value about R times, not the
    //  2R - 1 of sending to every owner
    const char *targets [S_R_MAX];
    bool owner, was, placed;
    size_t count = tm_placement_targets (self->placement, key, targets, &owner, &was,
                                         &placed);
    char hex [S_HEX];
    tm_cache_hex (key, hex);
    for (size_t k = 0; k < count; k++)
        s_putbuf_add (self, targets [k], kind, hex, value, size, !owner);
    if (!owner && count) {
        char dropkey [S_HEX + 1];
        snprintf (dropkey, sizeof dropkey, "%c%s", (char) kind, hex);
        zhashx_update (self->drops, dropkey, (void *) (intptr_t) count);
    }
    else
    if (!owner && placed) {
        //  Not ours any more, and every owner had it: deleted after the
        //  pass (tm_cachedb_each: no changes inside)
        char *dropkey = tm_strdupf ("%c%s", (char) kind, hex);
        zlistx_add_end (h->deletes, dropkey);
    }
    h->handed += count;
    return true;
}

//  Hands every value we hold to the owners that may lack it (banner).
static void
s_handoff (s_dht_t *self)
{
    self->handoff_due = 0;
    if (!*self->self_id || !self->synced)
        return;
    s_handoff_t h = { .self = self };
    size_t count;
    char **ids = s_alive_ids (self, &count);
    tm_placement_begin (self->placement, (const char *const *) ids, count, self->self_id,
                        s_boot_of, self);
    //  Earlier passes' drops wait no more: this one sends afresh
    zhashx_purge (self->drops);
    S_COUNT (self, handoff_runs, 1);
    h.deletes = zlistx_new ();
    zlistx_set_destructor (h.deletes, (zlistx_destructor_fn *) zstr_free);
    tm_cachedb_each (self->db, 0, s_handoff_one, &h);
    s_putbufs_flush (self);
    for (char *drop = (char *) zlistx_first (h.deletes); drop;
         drop = (char *) zlistx_next (h.deletes)) {
        uint8_t bytes [32];
        if (tm_cache_from_hex (drop + 1, bytes) == 0)
            tm_cachedb_delete (self->db, (tm_cachedb_kind_t) drop [0], bytes);
    }
    zlistx_destroy (&h.deletes);
    S_COUNT (self, handed, h.handed);
    //  The placement we just made is the next pass's "then"
    tm_placement_end (self->placement, s_boot_of, self);
    free (ids);
    double now = tm_wall_now ();
    __atomic_store (&self->stats->handoff_done, &now, __ATOMIC_RELAXED);
    if (h.handed)
        tm_info ("cache", "handoff: %zu values to new owners", h.handed);
}

//  ---------------------------------------------------------------------
//  Tombstones

typedef struct {
    s_dht_t *self;
    const tm_cachetomb_t *tomb;
    zlistx_t *covered;          //  uint8_t [32] keys
} s_cover_t;

static bool
s_cover_one (tm_cachedb_kind_t kind, const uint8_t *key, const char *value, size_t size,
             void *arg)
{
    s_cover_t *c = (s_cover_t *) arg;
    tm_cacheentry_t *entry = tm_cacheentry_decode (value, size, NULL);
    if (entry && tm_cachetomb_covers (c->tomb, entry->test_id, entry->created)) {
        uint8_t *copy = (uint8_t *) malloc (32);
        memcpy (copy, key, 32);
        zlistx_add_end (c->covered, copy);
    }
    tm_cacheentry_destroy (&entry);
    return true;
}

//  Takes TOMB (checked: signed by a member) if it is new: stores it,
//  deletes the entries it covers.  Returns how many it deleted.
static size_t
s_tomb_take (s_dht_t *self, tm_cachetomb_t **tomb_p)
{
    tm_cachetomb_t *tomb = *tomb_p;
    *tomb_p = NULL;
    uint8_t id [32];
    tm_cachetomb_id (tomb, id);
    char hex [S_HEX];
    tm_cache_hex (id, hex);
    if (zhashx_lookup (self->tomb_ids, hex)) {
        tm_cachetomb_destroy (&tomb);
        return 0;
    }
    size_t size;
    char *encoded = tm_cachetomb_encode (tomb, &size);
    if (encoded)
        tm_cachedb_tomb_put (self->db, id, encoded, size);
    free (encoded);
    zhashx_insert (self->tomb_ids, hex, (void *) 1);
    zlistx_add_end (self->tombs, tomb);
    s_cover_t c = { self, tomb, zlistx_new () };
    zlistx_set_destructor (c.covered, (zlistx_destructor_fn *) zstr_free);
    tm_cachedb_each (self->db, TM_CACHEDB_ENTRY, s_cover_one, &c);
    for (uint8_t *key = (uint8_t *) zlistx_first (c.covered); key;
         key = (uint8_t *) zlistx_next (c.covered))
        tm_cachedb_delete (self->db, TM_CACHEDB_ENTRY, key);
    size_t deleted = zlistx_size (c.covered);
    zlistx_destroy (&c.covered);
    S_COUNT (self, tombstoned, deleted);
    tm_info ("cache", "tombstone '%s' by %s: %zu entries deleted here", tomb->glob,
             tomb->member, deleted);
    return deleted;
}

//  Sends every tombstone we hold to member TO (or, TO NULL, those of
//  ONLY, a list of tm_cachetomb_t *, to every alive member but us).
static void
s_tombs_send (s_dht_t *self, const char *to, zlistx_t *only)
{
    zlistx_t *list = only ? only : self->tombs;
    json_t *tombs = json_array ();
    size_t bytes = 0;
    for (tm_cachetomb_t *tomb = (tm_cachetomb_t *) zlistx_first (list); ; ) {
        char *encoded = NULL;
        size_t size = 0;
        if (tomb)
            encoded = tm_cachetomb_encode (tomb, &size);
        if (json_array_size (tombs)
        &&  (!tomb || json_array_size (tombs) >= S_TOMB_BATCH || bytes + size > S_MSG_BUDGET)) {
            json_t *msg = json_pack ("{s:s, s:O}", "t", "tomb", "tombs", tombs);
            if (to)
                s_send (self, to, &msg);
            else {
                for (s_member_t *member = (s_member_t *) zhashx_first (self->members); member;
                     member = (s_member_t *) zhashx_next (self->members))
                    if (member->alive && !member->revoked && !streq (member->id, self->self_id)) {
                        json_t *copy = json_incref (msg);
                        s_send (self, member->id, &copy);
                    }
                json_decref (msg);
            }
            json_array_clear (tombs);
            bytes = 0;
        }
        if (!tomb)
            break;
        if (encoded) {
            json_array_append_new (tombs, json_stringn (encoded, size));
            bytes += s_json_cost (encoded, size);
        }
        free (encoded);
        tomb = (tm_cachetomb_t *) zlistx_next (list);
    }
    json_decref (tombs);
}

//  A tomb message: each tombstone checked and taken.
static int
s_on_tomb (s_dht_t *self, const char *from, tm_cachemsg_t *msg)
{
    json_t *tombs = json_object_get (msg->json, "tombs");
    bool bad = false;
    size_t i;
    json_t *item;
    json_array_foreach (tombs, i, item) {
        char *err = NULL;
        tm_cachetomb_t *tomb = json_is_string (item)
            ? tm_cachetomb_decode (json_string_value (item), json_string_length (item), &err)
            : NULL;
        free (err);
        if (!tomb)
            bad = true;
        else
        if (!tm_cachetomb_verify (tomb) || !s_signer_ok (self, tomb->member_pk)) {
            S_COUNT (self, bad_signature, 1);
            tm_cachetomb_destroy (&tomb);
        }
        else
            s_tomb_take (self, &tomb);
    }
    return bad ? -1 : 0;
}

//  "INVALIDATE" reqid glob: a tombstone of ours, here and everywhere.
static void
s_invalidate (s_dht_t *self, const char *reqid, const char *glob)
{
    size_t deleted = 0;
    if (glob && *glob && strlen (glob) <= TM_CACHE_TEST_ID_MAX) {
        tm_cachetomb_t *tomb = tm_cachetomb_new (glob, tm_wall_now (), self->member);
        tm_cachetomb_sign (tomb, self->node_sk);
        zlistx_t *one = zlistx_new ();
        zlistx_add_end (one, tomb);
        s_tombs_send (self, NULL, one);
        zlistx_destroy (&one);
        deleted = s_tomb_take (self, &tomb);
    }
    char *json = tm_strdupf ("{\"deleted\": %zu}", deleted);
    zsock_send (self->pipe, "sss", "INVALIDATED", reqid, json);
    free (json);
}

static bool
s_tomb_load_one (tm_cachedb_kind_t kind, const uint8_t *key, const char *value, size_t size,
                 void *arg)
{
    s_dht_t *self = (s_dht_t *) arg;
    tm_cachetomb_t *tomb = tm_cachetomb_decode (value, size, NULL);
    if (tomb && tm_cachetomb_verify (tomb)) {
        char hex [S_HEX];
        tm_cache_hex (key, hex);
        zhashx_insert (self->tomb_ids, hex, (void *) 1);
        zlistx_add_end (self->tombs, tomb);
    }
    else
        tm_cachetomb_destroy (&tomb);
    return true;
}

//  ---------------------------------------------------------------------
//  STATS and GC

static json_t *
s_share_stats (s_dht_t *self)
{
    tm_cachedb_stats_t share;
    tm_cachedb_stats (self->db, &share);
    json_t *stats = json_pack ("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b}",
        "name", self->member, "entries", (json_int_t) share.entries,
        "records", (json_int_t) share.records, "bytes", (json_int_t) share.bytes,
        "cap", (json_int_t) share.cap, "hits", (json_int_t) share.hits,
        "misses", (json_int_t) share.misses, "evicted", (json_int_t) share.evicted,
        "degraded", share.degraded);
    json_t *extra = self->stat_extra ? self->stat_extra (self->stat_arg) : NULL;
    if (json_is_object (extra))
        json_object_update_missing (stats, extra);
    json_decref (extra);
    return stats;
}

static void
s_statreq_finish (s_dht_t *self, s_statreq_t *req)
{
    json_t *answer = json_pack ("{s:i, s:O}", "replicas", (int) self->r,
                                "members", req->members);
    char *text = json_dumps (answer, JSON_COMPACT);
    json_decref (answer);
    zsock_send (self->pipe, "sss", "STATS", req->reqid, text);
    free (text);
    void *handle = zlistx_find (self->statreqs, req);
    if (handle)
        zlistx_delete (self->statreqs, handle);
    json_decref (req->members);
    zhashx_destroy (&req->waiting);
    free (req->reqid);
    free (req);
}

static void
s_stats_start (s_dht_t *self, const char *reqid)
{
    s_statreq_t *req = (s_statreq_t *) zmalloc (sizeof (s_statreq_t));
    req->reqid = strdup (reqid);
    req->q = ++self->next_q;
    req->members = json_array ();
    req->waiting = zhashx_new ();
    req->deadline = tm_now () + S_STATS_TIME;
    json_array_append_new (req->members, s_share_stats (self));
    zlistx_add_end (self->statreqs, req);
    for (s_member_t *member = (s_member_t *) zhashx_first (self->members); member;
         member = (s_member_t *) zhashx_next (self->members))
        if (member->alive && !member->revoked && !streq (member->id, self->self_id)) {
            zhashx_insert (req->waiting, member->id, (void *) 1);
            json_t *msg = json_pack ("{s:s, s:I}", "t", "stats", "q", (json_int_t) req->q);
            s_send (self, member->id, &msg);
        }
    if (zhashx_size (req->waiting) == 0)
        s_statreq_finish (self, req);
}

static int
s_on_stat (s_dht_t *self, const char *from, tm_cachemsg_t *msg)
{
    json_t *s = json_object_get (msg->json, "s");
    for (s_statreq_t *req = (s_statreq_t *) zlistx_first (self->statreqs); req;
         req = (s_statreq_t *) zlistx_next (self->statreqs))
        if (req->q == msg->q && zhashx_lookup (req->waiting, from)) {
            //  Only the fields we document, and only of their types
            json_t *clean = json_pack ("{s:O}", "name", json_object_get (s, "name"));
            const char *fields [] = { "entries", "records", "bytes", "cap", "hits",
                                      "misses", "evicted" };
            for (size_t f = 0; f < sizeof fields / sizeof fields [0]; f++) {
                json_t *value = json_object_get (s, fields [f]);
                json_object_set_new (clean, fields [f], json_integer (
                    json_is_integer (value) ? json_integer_value (value) : 0));
            }
            //  The content store's, where the member has them (an older
            //  one does not: left out, not zero)
            const char *store [] = { "store_bytes", "store_blobs", "store_cap",
                                     "store_pinned", "store_evicted" };
            for (size_t f = 0; f < sizeof store / sizeof store [0]; f++) {
                json_t *value = json_object_get (s, store [f]);
                if (json_is_integer (value) && json_integer_value (value) >= 0)
                    json_object_set (clean, store [f], value);
            }
            json_object_set_new (clean, "degraded",
                                 json_boolean (json_is_true (json_object_get (s, "degraded"))));
            json_array_append_new (req->members, clean);
            zhashx_delete (req->waiting, from);
            if (zhashx_size (req->waiting) == 0)
                s_statreq_finish (self, req);
            break;
        }
    return 0;
}

//  ---------------------------------------------------------------------
//  Messages from the gossip actor

static void
s_on_member (s_dht_t *self, zmsg_t *msg)
{
    self->signer_cached = false;    //  The table changes
    self->memo_stale = true;
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
        bool was_alive = member->alive && !member->revoked;
        member->alive = streq (state, "alive") || streq (state, "suspect");
        member->revoked = streq (state, "revoked");
        json_t *json = meta && *meta ? json_loads (meta, 0, NULL) : NULL;
        const char *boot = json_string_value (json_object_get (json, "boot"));
        bool restarted = boot && *member->boot && !streq (boot, member->boot);
        if (boot)
            snprintf (member->boot, sizeof member->boot, "%s", boot);
        json_decref (json);
        bool alive = member->alive && !member->revoked;
        bool self_member = streq (id, self->self_id);
        if (alive && (!was_alive || restarted) && !self_member && self->synced
        &&  zlistx_size (self->tombs))
            s_tombs_send (self, id, NULL);
        if (alive != was_alive || (alive && restarted)) {
            //  Our first handoff waits until our view of the members
            //  has been still for a while (see s_handoff_one)
            if (self->synced && !self->handoff_due)
                self->handoff_due = tm_now () + S_HANDOFF_DELAY;
        }
    }
    free (id);
    free (name);
    free (state);
    free (address);
    free (meta);
}

//  A CACHE message from FROM: decoded and checked (tm_cachemsg), then
//  acted on.  Malformed (there or here): dropped and counted.
static void
s_on_recv (s_dht_t *self, const char *from, zframe_t *payload)
{
    tm_cachemsg_t *msg = strlen (from) == S_HEX - 1
                       ? tm_cachemsg_decode (zframe_data (payload), zframe_size (payload)) : NULL;
    int rc = -1;
    if (!msg)
        rc = -1;
    else
    if (msg->type == TM_CACHEMSG_GET)
        rc = s_on_get (self, from, msg);
    else
    if (msg->type == TM_CACHEMSG_GOT)
        rc = s_on_got (self, from, msg);
    else
    if (msg->type == TM_CACHEMSG_PUT)
        rc = s_on_put (self, from, msg);
    else
    if (msg->type == TM_CACHEMSG_ACK)
        rc = s_on_ack (self, from, msg);
    else
    if (msg->type == TM_CACHEMSG_TOMB)
        rc = s_on_tomb (self, from, msg);
    else
    if (msg->type == TM_CACHEMSG_STATS) {
        json_t *answer = json_pack ("{s:s, s:I, s:o}", "t", "stat", "q", (json_int_t) msg->q,
                                    "s", s_share_stats (self));
        s_send (self, from, &answer);
        rc = 0;
    }
    else
    if (msg->type == TM_CACHEMSG_STAT)
        rc = s_on_stat (self, from, msg);
    if (rc != 0) {
        S_COUNT (self, malformed, 1);
        tm_debug ("cache", "malformed message (type %d) from %.16s", msg ? (int) msg->type : 0,
                  from);
    }
    tm_cachemsg_destroy (&msg);
}

//  A get we sent that gossip could not: the owner is gone, as if silent.
static void
s_on_unsent (s_dht_t *self, zframe_t *payload)
{
    tm_cachemsg_t *msg = tm_cachemsg_decode (zframe_data (payload), zframe_size (payload));
    if (msg && msg->type == TM_CACHEMSG_GET) {
        s_batch_t *batch = s_batch_lookup (self, msg->q);
        if (batch)
            batch->deadline = 0;
    }
    tm_cachemsg_destroy (&msg);
}

static void
s_handle_cache (s_dht_t *self)
{
    zmsg_t *msg = zmsg_recv (self->cache);
    if (!msg)
        return;
    char *command = zmsg_popstr (msg);
    if (command && streq (command, "MEMBER"))
        s_on_member (self, msg);
    else
    if (command && streq (command, "SELF")) {
        char *id = zmsg_popstr (msg);
        if (id && strlen (id) == S_HEX - 1)
            snprintf (self->self_id, sizeof self->self_id, "%s", id);
        self->signer_cached = false;
        self->memo_stale = true;
        free (id);
    }
    else
    if (command && streq (command, "SYNCED")) {
        if (!self->synced) {
            self->handoff_due = tm_now () + S_HANDOFF_FIRST_DELAY;
            //  The members alive when we came are "then" for our first
            //  handoff: they were owners before us and hold their values
            //  (a newcomer that sent what it was being handed back to
            //  them echoed every value).  Those that come later, or come
            //  back as a new process, are new owners
            size_t count;
            char **ids = s_alive_ids (self, &count);
            tm_placement_set (self->placement, (const char *const *) ids, count,
                              s_boot_of, self);
            free (ids);
        }
        self->synced = true;
    }
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
        zframe_t *to = zmsg_pop (msg);
        zframe_t *payload = zmsg_pop (msg);
        if (payload)
            s_on_unsent (self, payload);
        zframe_destroy (&to);
        zframe_destroy (&payload);
    }
    free (command);
    zmsg_destroy (&msg);
}

//  ---------------------------------------------------------------------
//  Our owner's commands

static void
s_handle_pipe (s_dht_t *self)
{
    zmsg_t *msg = zmsg_recv (self->pipe);
    if (!msg) {
        self->terminated = true;
        return;
    }
    char *command = zmsg_popstr (msg);
    char *a = zmsg_popstr (msg), *b = zmsg_popstr (msg), *c = NULL;
    zframe_t *keys = NULL;
    if (command && streq (command, "GET"))
        keys = zmsg_pop (msg);          //  Binary: 32 bytes a key
    else
        c = zmsg_popstr (msg);
    if (!command || streq (command, "$TERM"))
        self->terminated = true;
    else
    if (streq (command, "GET") && a)
        s_get_start (self, a, b, keys ? zframe_data (keys) : NULL,
                     keys ? zframe_size (keys) : 0);
    else
    if (streq (command, "PUT"))
        s_put (self, a, b, c);
    else
    if (streq (command, "INVALIDATE") && a)
        s_invalidate (self, a, b);
    else
    if (streq (command, "STATS") && a)
        s_stats_start (self, a);
    else
    if (streq (command, "GC") && a) {
        size_t evicted = tm_cachedb_gc (self->db, 0);
        char *json = tm_strdupf ("{\"evicted\": %zu}", evicted);
        zsock_send (self->pipe, "sss", "GC", a, json);
        free (json);
    }
    else
        tm_warn ("cache", "unknown command '%s' from the owner", command);
    free (command);
    free (a);
    free (b);
    free (c);
    zframe_destroy (&keys);
    zmsg_destroy (&msg);
}

//  Deadlines: batches not answered in time, GETs and STATS at theirs,
//  the handoff when due.  Returns the next deadline.
static double
s_tick (s_dht_t *self)
{
    double now = tm_now ();
    double next = now + 1.0;
    zlistx_t *late = zlistx_new ();
    for (s_batch_t *batch = (s_batch_t *) zhashx_first (self->batches); batch;
         batch = (s_batch_t *) zhashx_next (self->batches)) {
        if (batch->deadline <= now)
            zlistx_add_end (late, (void *) (uintptr_t) batch->q);
        else
        if (batch->deadline < next)
            next = batch->deadline;
    }
    zlistx_t *touched = zlistx_new ();
    for (void *q = zlistx_first (late); q; q = zlistx_next (late)) {
        char key [24];
        snprintf (key, sizeof key, "%" PRIu64, (uint64_t) (uintptr_t) q);
        s_batch_t *batch = (s_batch_t *) zhashx_lookup (self->batches, key);
        if (!batch)
            continue;
        if (batch->type == BATCH_GET) {
            //  The owner did not answer: its keys go to their next owners
            s_get_t *get = batch->get;
            for (size_t j = 0; j < batch->size; j++) {
                size_t i = batch->indexes [j];
                if (get->state [i] == KEY_ASKED) {
                    get->state [i] = KEY_TODO;
                    get->next [i]++;
                }
            }
            if (!zlistx_find (touched, get))
                zlistx_add_end (touched, get);
        }
        else
        if (batch->type == BATCH_PUT)
            s_put_done (self, batch);
        s_batch_remove (self, batch->q);
    }
    zlistx_destroy (&late);
    for (s_get_t *get = (s_get_t *) zlistx_first (touched); get;
         get = (s_get_t *) zlistx_next (touched))
        s_get_advance (self, get);
    zlistx_destroy (&touched);
    //  Invariant 1: a GET ends at its deadline whatever peers do.  Those
    //  due are collected first: finishing one moves the list's cursor
    zlistx_t *due = zlistx_new ();
    for (s_get_t *get = (s_get_t *) zlistx_first (self->gets); get;
         get = (s_get_t *) zlistx_next (self->gets))
        if (get->deadline <= now)
            zlistx_add_end (due, get);
        else
        if (get->deadline < next)
            next = get->deadline;
    for (s_get_t *get = (s_get_t *) zlistx_first (due); get;
         get = (s_get_t *) zlistx_next (due))
        s_get_finish (self, get);
    zlistx_purge (due);
    for (s_statreq_t *req = (s_statreq_t *) zlistx_first (self->statreqs); req;
         req = (s_statreq_t *) zlistx_next (self->statreqs))
        if (req->deadline <= now)
            zlistx_add_end (due, req);
        else
        if (req->deadline < next)
            next = req->deadline;
    for (s_statreq_t *req = (s_statreq_t *) zlistx_first (due); req;
         req = (s_statreq_t *) zlistx_next (due))
        s_statreq_finish (self, req);
    zlistx_destroy (&due);
    if (self->handoff_due && self->handoff_due <= now)
        s_handoff (self);
    if (self->handoff_due && self->handoff_due < next)
        next = self->handoff_due;
    return next;
}

//  ---------------------------------------------------------------------
//  The actor

static int
s_setup (s_dht_t *self, zsock_t *pipe, tm_dht_config_t *config, char **err)
{
    self->pipe = pipe;
    self->stats = config->stats ? config->stats : &self->own_stats;
    self->stat_extra = config->stat_extra;
    self->stat_arg = config->stat_arg;
    self->member = strdup (config->member ? config->member : "node");
    memcpy (self->node_sk, config->node_sk, TM_CACHE_SK);
    self->r = config->replicas < 1 ? 1
            : config->replicas > S_R_MAX ? S_R_MAX : (size_t) config->replicas;
    self->members = zhashx_new ();
    zhashx_set_destructor (self->members, s_member_destroy);
    self->tombs = zlistx_new ();
    zlistx_set_destructor (self->tombs, s_tomb_destroy);
    self->tomb_ids = zhashx_new ();
    self->gets = zlistx_new ();
    self->batches = zhashx_new ();
    zhashx_set_destructor (self->batches, s_batch_destroy);
    self->putbufs = zhashx_new ();
    zhashx_set_destructor (self->putbufs, s_putbuf_destroy);
    self->drops = zhashx_new ();
    self->statreqs = zlistx_new ();
    self->placement = tm_placement_new (self->r);
    self->db = tm_cachedb_new (config->datadir, config->cap, err);
    if (!self->db)
        return -1;
    tm_cachedb_tomb_each (self->db, s_tomb_load_one, self);
    self->cache = zsock_new (ZMQ_PAIR);
    zsock_set_sndhwm (self->cache, 0);
    zsock_set_rcvhwm (self->cache, 0);
    zsock_set_sndtimeo (self->cache, 0);
    if (!config->cache_endpoint
    ||  zsock_connect (self->cache, "%s", config->cache_endpoint) != 0)
        return tm_fail (err, "cache: cannot connect to the cache socket %s",
                        config->cache_endpoint ? config->cache_endpoint : "(none)");
    zsock_send (self->cache, "s", "HELLO");
    return 0;
}

static void
s_destroy (s_dht_t *self)
{
    while (self->gets && zlistx_first (self->gets)) {
        //  Answered, so that no owner waits on a GOT that never comes
        s_get_finish (self, (s_get_t *) zlistx_first (self->gets));
    }
    while (self->statreqs && zlistx_first (self->statreqs))
        s_statreq_finish (self, (s_statreq_t *) zlistx_first (self->statreqs));
    zhashx_destroy (&self->putbufs);
    zhashx_destroy (&self->batches);
    zlistx_destroy (&self->gets);
    zlistx_destroy (&self->statreqs);
    zhashx_destroy (&self->drops);
    tm_placement_destroy (&self->placement);
    zlistx_destroy (&self->tombs);
    zhashx_destroy (&self->tomb_ids);
    zhashx_destroy (&self->members);
    for (size_t m = 0; m < self->memo_count; m++)
        free (self->memo_ids [m]);
    free (self->memo_ids);
    free (self->owners_memo);
    zsock_destroy (&self->cache);
    tm_cachedb_destroy (&self->db);
    sodium_memzero (self->node_sk, sizeof self->node_sk);
    free (self->member);
}

void
tm_dht_actor (zsock_t *pipe, void *args)
{
    tm_dht_config_t *config = (tm_dht_config_t *) args;
    assert (config && config->node_sk);
    s_dht_t self;
    memset (&self, 0, sizeof self);
    char *err = NULL;
    if (s_setup (&self, pipe, config, &err) != 0) {
        tm_error ("cache", "%s", err ? err : "cannot start");
        free (err);
        //  Without a share the actor still answers every command (misses)
        s_destroy (&self);
        self.member = NULL;
    }
    zsock_signal (pipe, 0);
    while (!self.terminated) {
        double next = self.db ? s_tick (&self) : tm_now () + 1.0;
        //  The share's LRU work of recent gets, when due, is done when
        //  nothing else is to be done (tm_cachedb.h)
        double idle_at = self.db ? tm_cachedb_idle_at (self.db) : 0;
        if (idle_at && idle_at < next)
            next = idle_at;
        double now = tm_now ();
        long timeout = next > now ? (long) ((next - now) * 1000) + 1 : 0;
        zmq_pollitem_t items [] = {
            { zsock_resolve (pipe), 0, ZMQ_POLLIN, 0 },
            { self.cache ? zsock_resolve (self.cache) : NULL, -1,
              self.cache ? ZMQ_POLLIN : 0, 0 },
        };
        int ready = zmq_poll (items, 2, timeout);
        if (ready < 0) {
            if (zmq_errno () == EINTR)
                continue;
            break;
        }
        if (ready == 0 && idle_at && idle_at <= tm_now ()) {
            //  Nothing to answer: a step of the LRU updates of the gets
            //  we served, a step at a time so that an ask waits little
            tm_cachedb_idle (self.db);
            continue;
        }
        if (items [0].revents & ZMQ_POLLIN) {
            if (self.db)
                s_handle_pipe (&self);
            else {
                //  Degraded beyond the share: answer, empty
                zmsg_t *msg = zmsg_recv (pipe);
                char *command = msg ? zmsg_popstr (msg) : NULL;
                char *reqid = msg ? zmsg_popstr (msg) : NULL;
                if (!command || streq (command, "$TERM"))
                    self.terminated = true;
                else
                if (reqid && streq (command, "GET"))
                    zsock_send (pipe, "sss", "GOT", reqid, "[]");
                else
                if (reqid && streq (command, "INVALIDATE"))
                    zsock_send (pipe, "sss", "INVALIDATED", reqid, "{\"deleted\": 0}");
                else
                if (reqid && streq (command, "STATS"))
                    zsock_send (pipe, "sss", "STATS", reqid, "{\"replicas\": 0, \"members\": []}");
                else
                if (reqid && streq (command, "GC"))
                    zsock_send (pipe, "sss", "GC", reqid, "{\"evicted\": 0}");
                free (command);
                free (reqid);
                zmsg_destroy (&msg);
            }
        }
        if (self.terminated)
            break;
        if (self.cache && (items [1].revents & ZMQ_POLLIN))
            for (int burst = 0; burst < 256 && (zsock_events (self.cache) & ZMQ_POLLIN); burst++)
                s_handle_cache (&self);
    }
    if (self.db)
        s_destroy (&self);
}
