/*  tm_runcache.h - one run's use of the result cache.

    Before a run, tm_runcache_lookup derives every test's keys
    (tm_cachekey.h), asks the cache in two batches (records by identity,
    then entries by result key; tm_cacheclient.h) and returns a cached
    result for each hit.  The misses that may be stored afterwards are
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

#endif
