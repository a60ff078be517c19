/*  tm_history.h - each test's duration history, kept in RocksDB.

    The scheduler starts the longest-expected tests first and the console
    computes its ETA from these figures.  The store lives in the data
    directory (DATADIR/db); it moves into the distributed cache with the
    dht-cache issue.  Only this module sees RocksDB's API and its
    `char **errptr` convention.

    A second `testmesh run` on the same data directory finds the database
    locked; it then opens it read-only and records nothing, which costs
    only ordering accuracy, never results.

    The same database keeps the result cache's lookup memo
    (tm_runcache.h): per test identity, the names of what the test read
    in its last run, so that a run can derive most result keys without
    asking the cluster for the tests' records first.  A memo is a hint:
    a lost or stale one costs a round trip, never a wrong hit.
*/
#ifndef TM_HISTORY_H_INCLUDED
#define TM_HISTORY_H_INCLUDED

#include "tm_common.h"

typedef struct _tm_history_t tm_history_t;

//  Opens (creating) the history in DATADIR.  Returns NULL with *err set
//  if it can be opened neither read-write nor read-only.
tm_history_t *tm_history_new (const char *datadir, char **err);
void tm_history_destroy (tm_history_t **self_p);

//  Expected seconds for KEY, or -1 if the test never ran here.
double tm_history_expected (tm_history_t *self, const char *key);

//  Records a finished run of KEY that took SECONDS; kept in memory until
//  tm_history_flush.  The expected figure is a moving average that
//  weighs the latest run by half.
void tm_history_record (tm_history_t *self, const char *key, double seconds);

//  Writes what was recorded in one batch.  Returns 0, or -1 with *err set.
int tm_history_flush (tm_history_t *self, char **err);

//  The lookup memo under IDENT (a test identity, 64 hex digits): its
//  bytes (caller frees) and *SIZE_P, or NULL if there is none or it
//  cannot be read.
char *tm_history_memo_get (tm_history_t *self, const char *ident, size_t *size_p);

//  Sets the memo under IDENT to SIZE bytes of VALUE; kept in memory
//  until tm_history_flush, like durations, and dropped when read-only.
void tm_history_memo_put (tm_history_t *self, const char *ident, const void *value,
                          size_t size);

//  True if opened read-only because another process holds the lock.
bool tm_history_readonly (tm_history_t *self);

#endif
