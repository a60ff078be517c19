/*  tm_runcache.c - one run's use of the result cache: see the header.

    Per task it keeps the identity I, the declared components and their
    digest DECL, and (once known) the full component list and result
    key K.

    Deriving K needs the names of what the test read in its last run,
    which its record holds.  Records are large (a few kB each: every
    file a test opened, looked up or executed) and asking the cluster for
    them cost more than the rest of an all-hit run, so the CLI keeps a
    lookup memo per identity (tm_history.h): those names, as of the last
    record it saw or wrote.  The lookup goes:
      1. K from the memo, for the tests that have one; entries by K.
      2. For the tests that did not hit: their records, by I (the
         cluster's latest; they also say why a test missed); K again
         from each record; the memo is refreshed.
      3. Entries by the record's K, where it differs from step 1's.
    An all-hit run with memos is one round trip of small entries.

    Why a stale memo is safe: an entry stands for one run, and its K
    digests the name AND current digest of every component that run
    recorded.  A K derived from an older name list with today's digests
    finds an entry only if some run recorded exactly that list with
    exactly those contents: the same claim a record-derived K makes.  A
    wrong or lost memo costs step 2 and 3, never a wrong hit.
*/
#include "tm_runcache.h"
#include "tm_cacheentry.h"
#include "tm_cachekey.h"
#include "tm_history.h"

//  A lookup memo (tm_history.h): this tag, then the name of each traced
//  component of the test's last record, each followed by a NUL.  Only
//  traced names: the declared components are derived afresh every run.
#define S_MEMO_TAG      "tm-memo-1"

typedef struct {
    bool cacheable;             //  Keys derived
    char ident [TM_CACHE_HEX];
    char decl_hex [TM_CACHE_HEX];
    tm_component_t *decl;       //  Declared components, sorted
    size_t decl_size;
    char *reason;               //  Why it hit or missed
    double expected;            //  Its record's expected seconds; 0 unknown
    char *memo_key;             //  K from its lookup memo, NULL if none
    bool hit;                   //  Served from the cache
} s_slot_t;

struct _tm_runcache_t {
    tm_cacheclient_t *client;   //  Borrowed
    tm_cache_mode_t mode;
    tm_cachekey_t *keyer;       //  Hashes each file once per run
    tm_history_t *memo;         //  Lookup memos, or NULL (borrowed)
    size_t asked [3];           //  Keys asked: entries by memo, records, entries
    s_slot_t *slots;
    size_t slots_size;
    tm_tasklist_t *tasks;       //  Borrowed, from lookup
};

int
tm_cache_mode_parse (const char *text, tm_cache_mode_t *mode)
{
    static const char *names [] = { "off", "read", "write", "readwrite" };
    for (int i = 0; i < 4; i++)
        if (streq (text, names [i])) {
            *mode = (tm_cache_mode_t) i;
            return 0;
        }
    return -1;
}

tm_runcache_t *
tm_runcache_new (tm_cacheclient_t *client, tm_cache_mode_t mode)
{
    assert (client);
    tm_runcache_t *self = (tm_runcache_t *) calloc (1, sizeof *self);
    assert (self);
    self->client = client;
    self->mode = mode;
    self->keyer = tm_cachekey_new ();
    return self;
}

void
tm_runcache_set_memo (tm_runcache_t *self, tm_history_t *memo)
{
    assert (self);
    self->memo = memo;
}

void
tm_runcache_destroy (tm_runcache_t **self_p)
{
    assert (self_p);
    tm_runcache_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->slots_size; i++) {
        tm_components_free (&self->slots [i].decl, self->slots [i].decl_size);
        free (self->slots [i].reason);
        free (self->slots [i].memo_key);
    }
    free (self->slots);
    tm_cachekey_destroy (&self->keyer);
    free (self);
    *self_p = NULL;
}

static void
s_reason (s_slot_t *slot, char *reason)
{
    free (slot->reason);
    slot->reason = reason;
}

//  Frees COUNT strings and the array.
static void
s_strings_free (char **list, size_t count)
{
    for (size_t i = 0; list && i < count; i++)
        free (list [i]);
    free (list);
}

static tm_result_t *
s_cached_result (const tm_task_t *task, const tm_cacheentry_t *entry)
{
    tm_result_t *result = tm_result_new (task->id, task->index);
    result->status = TM_STATUS_PASSED;
    result->duration = entry->duration;
    result->started = entry->created - entry->duration;
    result->attempts = 0;
    result->member = strdup (entry->member);
    result->cached = true;
    tm_result_set_message (result, "cached");
    return result;
}

//  Derives I and the declared components of every task.
static void
s_derive (tm_runcache_t *self, tm_tasklist_t *tasks)
{
    for (size_t i = 0; i < self->slots_size; i++) {
        tm_task_t *task = tm_tasklist_get (tasks, i);
        s_slot_t *slot = &self->slots [i];
        if (task->skip_reason || task->unrunnable) {
            s_reason (slot, strdup ("not run"));
            continue;
        }
        char *err = NULL;
        if (tm_cachekey_declared (self->keyer, task, &slot->decl, &slot->decl_size, &err) != 0) {
            s_reason (slot, tm_strdupf ("not cacheable: %s", err ? err : "no key"));
            free (err);
            continue;
        }
        slot->cacheable = true;
        tm_cachekey_ident (task, slot->ident);
        tm_cachekey_digest (slot->decl, slot->decl_size, slot->decl_hex);
        if (self->mode & TM_CACHE_WRITE) {
            //  What its runner signs (tm_cacheentry.h), and a trace of
            //  what it reads, to fold into the key next time
            task->trace = true;
            free (task->cache_ident);
            free (task->cache_decl);
            task->cache_ident = strdup (slot->ident);
            task->cache_decl = strdup (slot->decl_hex);
        }
        s_reason (slot, strdup ("never ran before (no record of it)"));
    }
}

//  The memo of a record's traced names (S_MEMO_TAG); caller frees.
static char *
s_memo_encode (const tm_component_t *list, size_t count, size_t *size_p)
{
    size_t size = sizeof S_MEMO_TAG;
    for (size_t i = 0; i < count; i++)
        if (strncmp (list [i].name, "traced", 6) == 0)
            size += strlen (list [i].name) + 1;
    char *memo = (char *) malloc (size);
    assert (memo);
    char *to = memo;
    memcpy (to, S_MEMO_TAG, sizeof S_MEMO_TAG);
    to += sizeof S_MEMO_TAG;
    for (size_t i = 0; i < count; i++)
        if (strncmp (list [i].name, "traced", 6) == 0) {
            size_t length = strlen (list [i].name) + 1;
            memcpy (to, list [i].name, length);
            to += length;
        }
    *size_p = size;
    return memo;
}

//  Its names, as components with no digest (tm_cachekey_retrace reads
//  names only).  Returns 0, or -1 if MEMO is not a well-formed memo: a
//  damaged one is as good as none.
static int
s_memo_decode (const char *memo, size_t size, tm_component_t **list_p, size_t *count_p)
{
    if (size < sizeof S_MEMO_TAG || memcmp (memo, S_MEMO_TAG, sizeof S_MEMO_TAG) != 0
    ||  memo [size - 1] != 0)
        return -1;
    size_t count = 0;
    for (size_t at = sizeof S_MEMO_TAG; at < size; at++)
        count += memo [at] == 0;
    if (count > TM_CACHE_COMPONENTS_MAX)
        return -1;
    tm_component_t *list = (tm_component_t *) calloc (count + 1, sizeof (tm_component_t));
    assert (list);
    size_t n = 0;
    for (const char *name = memo + sizeof S_MEMO_TAG; name < memo + size; ) {
        size_t length = strlen (name);
        if (length == 0 || length > TM_CACHE_COMPONENT_NAME_MAX
        ||  strncmp (name, "traced", 6) != 0) {
            tm_components_free (&list, n);
            return -1;
        }
        list [n++].name = strdup (name);
        name += length + 1;
    }
    *list_p = list;
    *count_p = n;
    return 0;
}

//  K of SLOT's test from RECORDED (a record's components, or a memo's
//  names): its declared components with the current digests of the
//  traced ones.  Returns the hex key (caller frees); *ALL_P and
//  *ALL_SIZE_P get the merged list if ALL_P is not NULL.
static char *
s_result_key (tm_runcache_t *self, s_slot_t *slot, const tm_component_t *recorded,
              size_t recorded_size, tm_component_t **all_p, size_t *all_size_p)
{
    tm_component_t *traced = NULL, *all = NULL;
    size_t traced_size = 0, all_size = 0;
    tm_cachekey_retrace (self->keyer, recorded, recorded_size, &traced, &traced_size);
    tm_cachekey_merge (slot->decl, slot->decl_size, traced, traced_size, &all, &all_size);
    tm_components_free (&traced, traced_size);
    char *key = (char *) malloc (TM_CACHE_HEX);
    assert (key);
    tm_cachekey_digest (all, all_size, key);
    if (all_p) {
        *all_p = all;
        *all_size_p = all_size;
    }
    else
        tm_components_free (&all, all_size);
    return key;
}

//  Asks for the entries under KEYS [0 .. COUNT) of the tasks at WHICH,
//  and makes a cached result in HITS for each entry that is a pass of
//  that very test with its current declared components; adds COUNT to
//  *ASKED_P.  Returns 0, or -1 if the cache cannot be asked (logged).
static int
s_entries (tm_runcache_t *self, char **keys, const size_t *which, size_t count,
           tm_result_t **hits, size_t *hits_p, size_t *asked_p)
{
    char **entries = NULL;
    char *err = NULL;
    if (count == 0)
        return 0;
    *asked_p += count;
    if (tm_cacheclient_get (self->client, TM_CACHEDB_ENTRY, keys, count, &entries, &err) != 0) {
        tm_warn ("cache", "cannot look up the cache, running every test: %s", err);
        free (err);
        return -1;
    }
    for (size_t j = 0; j < count; j++) {
        if (!entries [j])
            continue;
        size_t i = which [j];
        s_slot_t *slot = &self->slots [i];
        tm_task_t *task = tm_tasklist_get (self->tasks, i);
        tm_cacheentry_t *entry = tm_cacheentry_decode (entries [j], strlen (entries [j]), NULL);
        //  The client verified the signature; this checks that the claim
        //  is about this test with these declared components
        if (entry && streq (entry->key, keys [j]) && streq (entry->ident, slot->ident)
        &&  streq (entry->decl, slot->decl_hex) && entry->status == TM_STATUS_PASSED
        &&  streq (entry->test_id, task->id)) {
            hits [i] = s_cached_result (task, entry);
            slot->hit = true;
            (*hits_p)++;
            s_reason (slot, tm_strdupf ("hit: the result of a run on member %s", entry->member));
        }
        tm_cacheentry_destroy (&entry);
    }
    s_strings_free (entries, count);
    return 0;
}

//  Sets SLOT's reason for a miss from its RECORD and the components of
//  the key derived from it now (ALL).
static void
s_miss_reason (s_slot_t *slot, const tm_cacherecord_t *record, const tm_component_t *all,
               size_t all_size)
{
    char *diff = tm_cachekey_explain (record->components, record->components_size,
                                      all, all_size);
    if (diff) {
        //  One line for cache explain: "changed: A changed; B changed"
        size_t len = strlen (diff);
        while (len && diff [len - 1] == '\n')
            diff [--len] = 0;
        char *line = (char *) malloc (2 * len + 16);
        assert (line);
        char *to = line + sprintf (line, "changed: ");
        for (const char *from = diff; *from; from++)
            if (*from == '\n') {
                *to++ = ';';
                *to++ = ' ';
            }
            else
                *to++ = *from;
        *to = 0;
        s_reason (slot, line);
        free (diff);
    }
    else
    if (record->status != TM_STATUS_PASSED)
        s_reason (slot, tm_strdupf ("its last run was %s: only passes are cached",
                                    tm_status_name (record->status)));
    else
        s_reason (slot, strdup ("evicted or invalidated: no entry for an unchanged test"));
    if (!record->traced)
        s_reason (slot, tm_strdupf ("%s (declared inputs only: the program cannot be "
                                    "traced)", slot->reason));
}

tm_result_t **
tm_runcache_lookup (tm_runcache_t *self, tm_tasklist_t *tasks, size_t *hits_p)
{
    assert (self && tasks && hits_p && !self->slots);
    size_t total = tm_tasklist_size (tasks);
    self->tasks = tasks;
    self->slots_size = total;
    self->slots = (s_slot_t *) calloc (total + 1, sizeof (s_slot_t));
    assert (self->slots);
    tm_result_t **hits = (tm_result_t **) calloc (total + 1, sizeof (tm_result_t *));
    assert (hits);
    *hits_p = 0;
    if (self->mode == TM_CACHE_OFF)
        return hits;
    s_derive (self, tasks);
    if (!(self->mode & TM_CACHE_READ)) {
        for (size_t i = 0; i < total; i++)
            if (self->slots [i].cacheable)
                s_reason (&self->slots [i], strdup ("not looked up (--cache=write)"));
        return hits;
    }
    char **keys = (char **) calloc (total + 1, sizeof (char *));
    size_t *which = (size_t *) calloc (total + 1, sizeof (size_t));
    assert (keys && which);
    size_t asked = 0;
    char **records = NULL;
    char *err = NULL;

    //  1. K from the lookup memos; entries by K
    for (size_t i = 0; self->memo && i < total; i++) {
        s_slot_t *slot = &self->slots [i];
        size_t size = 0;
        char *memo = slot->cacheable ? tm_history_memo_get (self->memo, slot->ident, &size)
                                     : NULL;
        tm_component_t *names = NULL;
        size_t names_size = 0;
        if (memo && s_memo_decode (memo, size, &names, &names_size) == 0) {
            slot->memo_key = s_result_key (self, slot, names, names_size, NULL, NULL);
            keys [asked] = slot->memo_key;
            which [asked++] = i;
            tm_components_free (&names, names_size);
        }
        free (memo);
    }
    if (s_entries (self, keys, which, asked, hits, hits_p, &self->asked [0]) != 0)
        goto done;

    //  2. Records, by identity, of the tests that did not hit
    asked = 0;
    for (size_t i = 0; i < total; i++)
        if (self->slots [i].cacheable && !self->slots [i].hit) {
            keys [asked] = self->slots [i].ident;
            which [asked++] = i;
        }
    if (asked == 0)
        goto done;
    self->asked [1] = asked;
    if (tm_cacheclient_get (self->client, TM_CACHEDB_RECORD, keys, asked, &records, &err) != 0) {
        tm_warn ("cache", "cannot look up the cache, running every test: %s", err);
        goto done;
    }
    //  Each test's result key, from its declared components and the
    //  current digests of what its last run read
    size_t keyed_size = 0;
    for (size_t j = 0; j < asked; j++) {
        if (!records [j])
            continue;
        size_t i = which [j];
        s_slot_t *slot = &self->slots [i];
        tm_task_t *task = tm_tasklist_get (tasks, i);
        tm_cacherecord_t *record = tm_cacherecord_decode (records [j], strlen (records [j]), NULL);
        if (!record || !streq (record->ident, slot->ident)) {
            s_reason (slot, strdup ("its record in the cache is unreadable"));
            tm_cacherecord_destroy (&record);
            continue;
        }
        //  The record is the cluster's duration history: a test that ran
        //  on any member's run is ordered by it (longest first)
        slot->expected = record->expected;
        if (task->expected < 0 && record->expected > 0)
            task->expected = record->expected;
        tm_component_t *all = NULL;
        size_t all_size = 0;
        char *key = s_result_key (self, slot, record->traced ? record->components : NULL,
                                  record->traced ? record->components_size : 0,
                                  &all, &all_size);
        s_miss_reason (slot, record, all, all_size);
        if (self->memo) {
            size_t size = 0;
            char *memo = s_memo_encode (record->traced ? record->components : NULL,
                                        record->traced ? record->components_size : 0, &size);
            tm_history_memo_put (self->memo, slot->ident, memo, size);
            free (memo);
        }
        //  3. ... asked for below, unless step 1 asked for it already
        if (slot->memo_key && streq (slot->memo_key, key))
            free (key);
        else {
            keys [keyed_size] = key;
            which [keyed_size++] = i;
        }
        tm_components_free (&all, all_size);
        tm_cacherecord_destroy (&record);
    }
    //  3. Entries, by the records' result keys
    s_entries (self, keys, which, keyed_size, hits, hits_p, &self->asked [2]);
    for (size_t j = 0; j < keyed_size; j++)
        free (keys [j]);
done:
    free (err);
    s_strings_free (records, asked);
    free (keys);
    free (which);
    return hits;
}

size_t
tm_runcache_store (tm_runcache_t *self, tm_tasklist_t *tasks, tm_result_t **results)
{
    assert (self && tasks == self->tasks);
    if (!(self->mode & TM_CACHE_WRITE))
        return 0;
    size_t total = self->slots_size;
    char **record_keys = (char **) calloc (total + 1, sizeof (char *));
    char **record_values = (char **) calloc (total + 1, sizeof (char *));
    char **entry_keys = (char **) calloc (total + 1, sizeof (char *));
    char **entry_values = (char **) calloc (total + 1, sizeof (char *));
    assert (record_keys && record_values && entry_keys && entry_values);
    size_t records = 0, entries = 0, unsigned_passes = 0;
    double now = tm_wall_now ();
    for (size_t i = 0; i < total; i++) {
        s_slot_t *slot = &self->slots [i];
        tm_task_t *task = tm_tasklist_get (tasks, i);
        tm_result_t *result = results [i];
        if (!slot->cacheable || !result || result->cached || result->attempts == 0
        ||  result->status == TM_STATUS_SKIPPED)
            continue;
        //  The key folds in what this run read, as hashed now (files
        //  the lookup hashed keep the digest it saw: the keyer's memo)
        tm_component_t *traced = NULL, *all = NULL;
        size_t traced_size = 0, all_size = 0;
        if (result->trace)
            tm_cachekey_from_trace (self->keyer, result->trace, NULL, NULL,
                                    &traced, &traced_size);
        tm_cachekey_merge (slot->decl, slot->decl_size, traced, traced_size, &all, &all_size);
        tm_components_free (&traced, traced_size);

        tm_cacherecord_t *record = tm_cacherecord_new ();
        memcpy (record->ident, slot->ident, TM_CACHE_HEX);
        tm_cachekey_digest (all, all_size, record->key);
        record->test_id = strdup (task->id);
        record->status = result->status;
        record->created = now;
        record->traced = result->trace != NULL;
        record->expected = slot->expected > 0 ? (slot->expected + result->duration) / 2
                                              : result->duration;
        record->components = all;
        record->components_size = all_size;
        size_t size = 0;
        if (self->memo) {
            char *memo = s_memo_encode (record->traced ? all : NULL,
                                        record->traced ? all_size : 0, &size);
            tm_history_memo_put (self->memo, slot->ident, memo, size);
            free (memo);
        }
        record_keys [records] = strdup (slot->ident);
        record_values [records++] = tm_cacherecord_encode (record, &size);

        if (result->status == TM_STATUS_PASSED && result->attempts == 1
        &&  !result->trace_lost) {
            tm_cacheentry_t *entry = tm_cacheentry_new ();
            memcpy (entry->key, record->key, TM_CACHE_HEX);
            memcpy (entry->ident, slot->ident, TM_CACHE_HEX);
            memcpy (entry->decl, slot->decl_hex, TM_CACHE_HEX);
            entry->test_id = strdup (task->id);
            entry->status = TM_STATUS_PASSED;
            entry->duration = result->duration;
            entry->member = strdup (result->member ? result->member : "local");
            bool signed_ok = false;
            if (result->cache_signed) {
                //  Signed where it ran (a holder): the claim must hold as is
                entry->created = result->cache_created;
                memcpy (entry->member_pk, result->cache_pk, TM_CACHE_PK);
                memcpy (entry->sig, result->cache_sig, TM_CACHE_SIG);
                signed_ok = tm_cacheentry_verify (entry);
            }
            else
            if (tm_cacheclient_sk (self->client)) {
                //  Ran in this process (embedded node): we are the runner
                entry->created = now;
                tm_cacheentry_sign (entry, tm_cacheclient_sk (self->client));
                signed_ok = true;
            }
            if (signed_ok) {
                entry_keys [entries] = strdup (entry->key);
                entry_values [entries++] = tm_cacheentry_encode (entry, &size);
            }
            else
                unsigned_passes++;
            tm_cacheentry_destroy (&entry);
        }
        tm_cacherecord_destroy (&record);
    }
    if (unsigned_passes)
        tm_warn ("cache", "%zu passes not cached: their runner's signature is missing or "
                 "does not verify", unsigned_passes);
    char *err = NULL;
    if (records
    &&  tm_cacheclient_put (self->client, TM_CACHEDB_RECORD, record_keys, record_values,
                            records, &err) != 0) {
        tm_warn ("cache", "cannot store records: %s", err);
        zstr_free (&err);
    }
    size_t stored = entries;
    if (entries
    &&  tm_cacheclient_put (self->client, TM_CACHEDB_ENTRY, entry_keys, entry_values,
                            entries, &err) != 0) {
        tm_warn ("cache", "cannot store results: %s", err);
        zstr_free (&err);
        stored = 0;
    }
    s_strings_free (record_keys, records);
    s_strings_free (record_values, records);
    s_strings_free (entry_keys, entries);
    s_strings_free (entry_values, entries);
    return stored;
}

json_t *
tm_runcache_asked (tm_runcache_t *self)
{
    assert (self);
    return json_pack ("{s:I, s:I, s:I}", "entries_by_memo", (json_int_t) self->asked [0],
                      "records", (json_int_t) self->asked [1],
                      "entries", (json_int_t) self->asked [2]);
}

json_t *
tm_runcache_reasons (tm_runcache_t *self)
{
    assert (self);
    json_t *reasons = json_object ();
    for (size_t i = 0; self->tasks && i < self->slots_size; i++)
        if (self->slots [i].reason)
            json_object_set_new (reasons, tm_tasklist_get (self->tasks, i)->id,
                                 json_string (self->slots [i].reason));
    return reasons;
}
