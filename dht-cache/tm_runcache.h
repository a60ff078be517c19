/*  tm_runcache.h - one run's use of the result cache.

    Before a run, tm_runcache_lookup derives every test's keys
    (tm_cachekey.h), asks the cache in batches (entries by the result
    keys its lookup memos give, then records by identity and entries by
    result key for the tests that did not hit; tm_cacheclient.h) and
    returns a cached result for each hit.  The misses that may be stored afterwards are
    marked to be traced (task->trace) and carry the identity and the
    declared digest their runner signs (task->cache_ident, cache_decl).
    After the run, tm_runcache_store files a record for every test that
    ran and an entry for every test that passed (docs/caching.md).

    It also keeps why each test hit or missed, which `testmesh run`
    writes to DATADIR/cache-explain.json for `testmesh cache explain`.

    A cache that cannot be asked is a miss for every test, with one
    warning: the run itself never fails because of the cache.
*/
#ifndef TM_RUNCACHE_H_INCLUDED
#define TM_RUNCACHE_H_INCLUDED

#include "tm_cacheclient.h"
#include "tm_history.h"
#include "tm_result.h"
#include "tm_task.h"

typedef enum {
    TM_CACHE_OFF = 0,
    TM_CACHE_READ = 1,          //  Serve hits
    TM_CACHE_WRITE = 2,         //  Store passes
    TM_CACHE_READWRITE = 3
} tm_cache_mode_t;

//  Parses "off", "read", "write" or "readwrite".  Returns 0, or -1.
int tm_cache_mode_parse (const char *text, tm_cache_mode_t *mode);

typedef struct _tm_runcache_t tm_runcache_t;

//  A run's cache over CLIENT (borrowed; outlives the object) in MODE.
tm_runcache_t *tm_runcache_new (tm_cacheclient_t *client, tm_cache_mode_t mode);
void tm_runcache_destroy (tm_runcache_t **self_p);

//  Keeps lookup memos in MEMO (borrowed; outlives the object; see
//  tm_runcache.c): with them, an all-hit run asks the cache once.  The
//  caller flushes MEMO after tm_runcache_store.
void tm_runcache_set_memo (tm_runcache_t *self, tm_history_t *memo);

//  Looks up every task of TASKS.  Returns an array of size(TASKS)
//  results (caller owns the array and the results): a cached result
//  (cached = true, PASSED, the stored duration and member) for each hit,
//  NULL for each miss; *HITS_P counts the hits.
tm_result_t **tm_runcache_lookup (tm_runcache_t *self, tm_tasklist_t *tasks, size_t *hits_p);

//  Files what the run produced: RESULTS [i] is the final result of
//  TASKS [i] (cached ones are skipped).  Logs and goes on when the cache
//  fails.  Returns the entries stored.
size_t tm_runcache_store (tm_runcache_t *self, tm_tasklist_t *tasks, tm_result_t **results);

//  Why each test hit or missed in this run, as a JSON object
//  {test id: reason} (caller json_decref's).
json_t *tm_runcache_reasons (tm_runcache_t *self);

//  How many keys the lookup asked the cache for, as a JSON object:
//  {"entries_by_memo": n, "records": n, "entries": n} (caller
//  json_decref's).  An all-hit run with lookup memos asks for no record.
json_t *tm_runcache_asked (tm_runcache_t *self);

#endif
