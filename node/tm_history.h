/*  tm_history.h - each test's duration history, kept in RocksDB.

    The scheduler starts the longest-expected tests first and the console
    computes its ETA from these figures.  The store lives in the data
    directory (DATADIR/db); it moves into the distributed cache with the
    dht-cache issue.  Only this module sees RocksDB's API and its
    `char **errptr` convention.

    A second `testmesh run` on the same data directory finds the database
    locked; it then opens it read-only and records nothing, which costs
    only ordering accuracy, never results.
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

//  True if opened read-only because another process holds the lock.
bool tm_history_readonly (tm_history_t *self);

#endif
