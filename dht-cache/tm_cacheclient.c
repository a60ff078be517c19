/*  tm_cacheclient.c - the CLI's way to the result cache: see the header.

    Agent requests carry at most TM_CACHECLIENT_BATCH keys each, so a
    run of 100,000 tests makes a few dozen control calls, and each
    stays far below the control socket's request limit.
*/
#include "tm_cacheclient.h"
#include "tm_cacheentry.h"
#include "tm_cachemsg.h"
#include "tm_control.h"
#include "tm_jsonstr.h"
#include <sodium.h>

#define TM_CACHECLIENT_BATCH    4096    //  Keys per control request
#define TM_CACHECLIENT_TIMEOUT  30.0    //  Seconds an agent may take per request

struct _tm_cacheclient_t {
    char *datadir;              //  The agent's data directory (agent client)
    tm_cachedb_t *db;           //  The share (local client)
    uint8_t sk [TM_CACHE_SK];   //  Signs tombstones (local client)
    char *member;               //  Our name (local client)
    tm_cachetomb_t **tombs;     //  Tombstones of the share (local client)
    size_t tombs_size;
};

static bool
s_collect_tomb (tm_cachedb_kind_t kind, const uint8_t *key, const char *value, size_t size,
                void *arg)
{
    tm_cacheclient_t *self = (tm_cacheclient_t *) arg;
    char *err = NULL;
    tm_cachetomb_t *tomb = tm_cachetomb_decode (value, size, &err);
    if (!tomb || !tm_cachetomb_verify (tomb)) {
        tm_warn ("cache", "dropping a tombstone in the share: %s", err ? err : "bad signature");
        free (err);
        tm_cachetomb_destroy (&tomb);
        return true;
    }
    self->tombs = (tm_cachetomb_t **) realloc (self->tombs,
                                               (self->tombs_size + 1) * sizeof *self->tombs);
    assert (self->tombs);
    self->tombs [self->tombs_size++] = tomb;
    return true;
}

tm_cacheclient_t *
tm_cacheclient_new_local (const char *datadir, uint64_t cap, const uint8_t *sk,
                          const char *member, char **err)
{
    assert (datadir && sk && member);
    tm_cacheclient_t *self = (tm_cacheclient_t *) calloc (1, sizeof *self);
    assert (self);
    self->db = tm_cachedb_new (datadir, cap, err);
    if (!self->db) {
        free (self);
        return NULL;
    }
    memcpy (self->sk, sk, TM_CACHE_SK);
    self->member = strdup (member);
    tm_cachedb_tomb_each (self->db, s_collect_tomb, self);
    return self;
}

tm_cacheclient_t *
tm_cacheclient_new_agent (const char *datadir)
{
    assert (datadir);
    tm_cacheclient_t *self = (tm_cacheclient_t *) calloc (1, sizeof *self);
    assert (self);
    self->datadir = strdup (datadir);
    return self;
}

void
tm_cacheclient_destroy (tm_cacheclient_t **self_p)
{
    assert (self_p);
    tm_cacheclient_t *self = *self_p;
    if (!self)
        return;
    tm_cachedb_destroy (&self->db);
    for (size_t i = 0; i < self->tombs_size; i++)
        tm_cachetomb_destroy (&self->tombs [i]);
    free (self->tombs);
    sodium_memzero (self->sk, sizeof self->sk);
    free (self->member);
    free (self->datadir);
    free (self);
    *self_p = NULL;
}

bool
tm_cacheclient_remote (tm_cacheclient_t *self)
{
    return self->datadir != NULL;
}

const uint8_t *
tm_cacheclient_sk (tm_cacheclient_t *self)
{
    return self->db ? self->sk : NULL;
}

const char *
tm_cacheclient_member (tm_cacheclient_t *self)
{
    return self->member;
}

//  True if a local entry value may be served.  The share is trusted on
//  reads (docs/caching.md, 4): what this process put was signed by it
//  or verified by its caller (tm_runcache), and no put stores a covered
//  entry, so a value in the encoder's layout needs only to be the entry
//  of KEY (tm_cacheentry_peek, no decode, no signature) and, if the
//  share has tombstones, not covered by one (a decode).  Any other
//  value gets the full check: it decodes, its signature holds, it is
//  the entry of KEY, and no tombstone covers it.
static bool
s_entry_servable (tm_cacheclient_t *self, const char *key, const char *value, size_t size)
{
    char peeked [TM_CACHE_HEX];
    uint8_t pk [TM_CACHE_PK];
    bool peek = tm_cacheentry_peek (value, size, peeked, pk) == 0;
    if (peek && (!streq (peeked, key) || self->tombs_size == 0))
        return streq (peeked, key);
    //  With tombstones, a decode (a share written before puts refused
    //  covered entries may hold one), and a signature only if not peeked
    tm_cacheentry_t *entry = tm_cacheentry_decode (value, size, NULL);
    bool ok = entry && streq (entry->key, key) && (peek || tm_cacheentry_verify (entry));
    for (size_t i = 0; ok && i < self->tombs_size; i++)
        if (tm_cachetomb_covers (self->tombs [i], entry->test_id, entry->created))
            ok = false;
    tm_cacheentry_destroy (&entry);
    return ok;
}

static int
s_local_get (tm_cacheclient_t *self, tm_cachedb_kind_t kind, char **keys, size_t count,
             char **values, char **err)
{
    for (size_t i = 0; i < count; i++) {
        uint8_t key [TM_CACHEDB_KEY];
        if (tm_cache_from_hex (keys [i], key) != 0) {
            *err = tm_strdupf ("not a cache key: '%.80s'", keys [i]);
            return -1;
        }
        char *value = NULL;
        size_t size = 0;
        if (tm_cachedb_get (self->db, kind, key, &value, &size) != 0)
            continue;
        if (kind == TM_CACHEDB_ENTRY && !s_entry_servable (self, keys [i], value, size)) {
            //  Dead or bad: it will never be served, so make room
            tm_cachedb_delete (self->db, kind, key);
            free (value);
            continue;
        }
        //  Values are text (JSON); keep them NUL-terminated
        values [i] = (char *) malloc (size + 1);
        assert (values [i]);
        memcpy (values [i], value, size);
        values [i][size] = 0;
        free (value);
    }
    return 0;
}

//  Sends REQUEST (taken) to the agent; returns its reply or NULL.
static json_t *
s_call (tm_cacheclient_t *self, json_t *request, char **err)
{
    assert (request);
    json_t *reply = tm_control_call (self->datadir, request, TM_CACHECLIENT_TIMEOUT, err);
    json_decref (request);
    return reply;
}

//  Reads an agent's cache-get reply TEXT as the agent writes it,
//  {"ok":true,"values":[string|null, ...]}, into COUNT VALUES, without
//  building a jansson tree: the reply is megabytes of escaped JSON for
//  a large batch, and parsing it was a quarter of an all-hit run.  Its
//  strings are read as strictly as jansson would (tm_jsonstr.h).
//  Returns 0, or -1 (VALUES untouched) on anything else: the caller
//  parses it with jansson then.
static int
s_fast_values (const char *text, size_t size, char **values, size_t count)
{
    const char *p = text, *end = text + size;
    char *out = (char *) malloc (size + 1);
    assert (out);
    tm_jsonstr_elem_t *elems = NULL;
    size_t found = 0;
    int rc = -1;
    if (tm_jsonstr_skip (&p, end, "{\"ok\":true,\"values\":")
    &&  tm_jsonstr_list (&p, end, out, &elems, &found) == 0
    &&  found == count && tm_jsonstr_skip (&p, end, "}") && p == end) {
        rc = 0;
        for (size_t i = 0; i < count; i++)
            if (elems [i].is_false)
                rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < count; i++)
        if (elems [i].value) {
            values [i] = (char *) malloc (elems [i].size + 1);
            assert (values [i]);
            memcpy (values [i], elems [i].value, elems [i].size + 1);
        }
    free (elems);
    free (out);
    return rc;
}

static int
s_agent_get (tm_cacheclient_t *self, tm_cachedb_kind_t kind, char **keys, size_t count,
             char **values, char **err)
{
    for (size_t first = 0; first < count; first += TM_CACHECLIENT_BATCH) {
        size_t batch = count - first < TM_CACHECLIENT_BATCH ? count - first
                                                            : TM_CACHECLIENT_BATCH;
        json_t *list = json_array ();
        for (size_t i = 0; i < batch; i++)
            json_array_append_new (list, json_string (keys [first + i]));
        json_t *request = json_pack ("{s:s, s:s, s:o}", "cmd", "cache-get",
                                     "kind", tm_cachemsg_kind_name (kind), "keys", list);
        size_t size = 0;
        char *text = tm_control_call_text (self->datadir, request, TM_CACHECLIENT_TIMEOUT,
                                           &size, err);
        json_decref (request);
        if (text && s_fast_values (text, size, values + first, batch) == 0) {
            free (text);
            continue;
        }
        json_t *reply = text ? tm_control_reply_parse (text, size, err) : NULL;
        free (text);
        if (!reply)
            return -1;
        json_t *got = json_object_get (reply, "values");
        if (!json_is_array (got) || json_array_size (got) != batch) {
            *err = strdup ("the agent answered cache-get with a malformed reply");
            json_decref (reply);
            return -1;
        }
        for (size_t i = 0; i < batch; i++) {
            const char *value = json_string_value (json_array_get (got, i));
            if (value)
                values [first + i] = strdup (value);
        }
        json_decref (reply);
    }
    return 0;
}

int
tm_cacheclient_get (tm_cacheclient_t *self, tm_cachedb_kind_t kind, char **keys, size_t count,
                    char ***values_p, char **err)
{
    assert (self && values_p);
    char **values = (char **) calloc (count + 1, sizeof (char *));
    assert (values);
    int rc = self->db ? s_local_get (self, kind, keys, count, values, err)
                      : s_agent_get (self, kind, keys, count, values, err);
    if (rc != 0) {
        for (size_t i = 0; i < count; i++)
            free (values [i]);
        free (values);
        values = NULL;
    }
    *values_p = values;
    return rc;
}

int
tm_cacheclient_put (tm_cacheclient_t *self, tm_cachedb_kind_t kind, char **keys, char **values,
                    size_t count, char **err)
{
    assert (self);
    if (self->db) {
        for (size_t i = 0; i < count; i++) {
            uint8_t key [TM_CACHEDB_KEY];
            if (tm_cache_from_hex (keys [i], key) != 0) {
                *err = tm_strdupf ("not a cache key: '%.80s'", keys [i]);
                return -1;
            }
            //  A covered entry is refused here, so reads need not look
            //  at tombstones (s_entry_servable)
            if (kind == TM_CACHEDB_ENTRY && self->tombs_size) {
                tm_cacheentry_t *entry = tm_cacheentry_decode (values [i],
                                                               strlen (values [i]), NULL);
                bool covered = !entry;
                for (size_t t = 0; !covered && t < self->tombs_size; t++)
                    covered = tm_cachetomb_covers (self->tombs [t], entry->test_id,
                                                   entry->created);
                tm_cacheentry_destroy (&entry);
                if (covered)
                    continue;
            }
            //  A full or broken share only loses this value: the
            //  share logs it and counts it; the run goes on
            tm_cachedb_put (self->db, kind, key, values [i], strlen (values [i]));
        }
        return 0;
    }
    for (size_t first = 0; first < count; first += TM_CACHECLIENT_BATCH) {
        size_t batch = count - first < TM_CACHECLIENT_BATCH ? count - first
                                                            : TM_CACHECLIENT_BATCH;
        json_t *items = json_array ();
        for (size_t i = 0; i < batch; i++)
            json_array_append_new (items, json_pack ("[s, s]", keys [first + i],
                                                     values [first + i]));
        json_t *reply = s_call (self, json_pack ("{s:s, s:s, s:o}", "cmd", "cache-put",
                                                 "kind", tm_cachemsg_kind_name (kind), "items", items), err);
        if (!reply)
            return -1;
        json_decref (reply);
    }
    return 0;
}

typedef struct {
    tm_cachetomb_t *tomb;
    zlist_t *doomed;            //  Keys (32-byte copies) of covered entries
} s_sweep_t;

static bool
s_find_covered (tm_cachedb_kind_t kind, const uint8_t *key, const char *value, size_t size,
                void *arg)
{
    s_sweep_t *sweep = (s_sweep_t *) arg;
    tm_cacheentry_t *entry = tm_cacheentry_decode (value, size, NULL);
    if (entry && tm_cachetomb_covers (sweep->tomb, entry->test_id, entry->created)) {
        uint8_t *copy = (uint8_t *) malloc (TM_CACHEDB_KEY);
        assert (copy);
        memcpy (copy, key, TM_CACHEDB_KEY);
        zlist_append (sweep->doomed, copy);
    }
    tm_cacheentry_destroy (&entry);
    return true;
}

int
tm_cacheclient_invalidate (tm_cacheclient_t *self, const char *glob, size_t *deleted, char **err)
{
    assert (self && glob && deleted);
    *deleted = 0;
    if (!self->db) {
        json_t *reply = s_call (self, json_pack ("{s:s, s:s}", "cmd", "cache-invalidate",
                                                 "glob", glob), err);
        if (!reply)
            return -1;
        *deleted = (size_t) json_integer_value (json_object_get (reply, "deleted"));
        json_decref (reply);
        return 0;
    }
    tm_cachetomb_t *tomb = tm_cachetomb_new (glob, tm_wall_now (), self->member);
    tm_cachetomb_sign (tomb, self->sk);
    uint8_t id [TM_CACHEDB_KEY];
    tm_cachetomb_id (tomb, id);
    size_t size = 0;
    char *encoded = tm_cachetomb_encode (tomb, &size);
    int rc = tm_cachedb_tomb_put (self->db, id, encoded, size);
    free (encoded);
    if (rc != 0) {
        *err = strdup ("cannot store the tombstone (see the log)");
        tm_cachetomb_destroy (&tomb);
        return -1;
    }
    //  The list owns the 32-byte keys (not strings: no autofree)
    s_sweep_t sweep = { tomb, zlist_new () };
    tm_cachedb_each (self->db, TM_CACHEDB_ENTRY, s_find_covered, &sweep);
    for (uint8_t *key = (uint8_t *) zlist_first (sweep.doomed); key;
         key = (uint8_t *) zlist_next (sweep.doomed)) {
        if (tm_cachedb_delete (self->db, TM_CACHEDB_ENTRY, key) == 0)
            (*deleted)++;
        free (key);
    }
    zlist_destroy (&sweep.doomed);
    self->tombs = (tm_cachetomb_t **) realloc (self->tombs,
                                               (self->tombs_size + 1) * sizeof *self->tombs);
    assert (self->tombs);
    self->tombs [self->tombs_size++] = tomb;
    return 0;
}

json_t *
tm_cacheclient_stats (tm_cacheclient_t *self, char **err)
{
    assert (self);
    if (!self->db) {
        json_t *reply = s_call (self, json_pack ("{s:s}", "cmd", "cache-stats"), err);
        if (reply)
            json_object_del (reply, "ok");
        return reply;
    }
    tm_cachedb_stats_t stats;
    tm_cachedb_stats (self->db, &stats);
    json_t *member = json_pack ("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b}",
                                "name", self->member,
                                "entries", (json_int_t) stats.entries,
                                "records", (json_int_t) stats.records,
                                "bytes", (json_int_t) stats.bytes,
                                "cap", (json_int_t) stats.cap,
                                "hits", (json_int_t) stats.hits,
                                "misses", (json_int_t) stats.misses,
                                "evicted", (json_int_t) stats.evicted,
                                "degraded", stats.degraded);
    return json_pack ("{s:i, s:[o]}", "replicas", 1, "members", member);
}

int
tm_cacheclient_gc (tm_cacheclient_t *self, size_t *evicted, char **err)
{
    assert (self && evicted);
    if (self->db) {
        *evicted = tm_cachedb_gc (self->db, 0);
        return 0;
    }
    json_t *reply = s_call (self, json_pack ("{s:s}", "cmd", "cache-gc"), err);
    if (!reply)
        return -1;
    *evicted = (size_t) json_integer_value (json_object_get (reply, "evicted"));
    json_decref (reply);
    return 0;
}
