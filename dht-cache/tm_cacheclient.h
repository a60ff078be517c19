/*  tm_cacheclient.h - the CLI's way to the result cache.

    Two kinds of client, one interface, so that `testmesh run` and
    `testmesh cache` use the cache the same way with or without an agent
    (docs/caching.md):
      local   no agent runs on the data directory: the CLI opens the
              share in DATADIR/cache itself (tm_cachedb), a cluster of
              one.  It applies tombstones and checks signatures itself,
              as a cache actor would.
      agent   an agent runs: every call is a control request
              ("cache-get", "cache-put", ...; tm_dht.h) that the agent's
              cache actor answers from the DHT.
    Values are the encodings of tm_cacheentry.h; keys are hex digests.
*/
#ifndef TM_CACHECLIENT_H_INCLUDED
#define TM_CACHECLIENT_H_INCLUDED

#include "tm_common.h"
#include "tm_cachedb.h"
#include <jansson.h>

typedef struct _tm_cacheclient_t tm_cacheclient_t;

//  A local client on DATADIR/cache with the given cap (0: default).
//  SK (64 bytes, copied) signs tombstones and the entries this process
//  makes; MEMBER names it.  Returns NULL with *err if the share cannot
//  be created (a bad database only degrades it).
tm_cacheclient_t *tm_cacheclient_new_local (const char *datadir, uint64_t cap,
                                            const uint8_t *sk, const char *member, char **err);

//  A client of the agent that runs on DATADIR.
tm_cacheclient_t *tm_cacheclient_new_agent (const char *datadir);
void tm_cacheclient_destroy (tm_cacheclient_t **self_p);

//  True for an agent client.
bool tm_cacheclient_remote (tm_cacheclient_t *self);

//  The secret key and member name of a local client (NULL for agents).
const uint8_t *tm_cacheclient_sk (tm_cacheclient_t *self);
const char *tm_cacheclient_member (tm_cacheclient_t *self);

//  Looks up COUNT hex KEYS of KIND.  Sets (*values_p) [i] to the value
//  string (caller frees each and the array) or NULL when absent.
//  Entries covered by a tombstone, or whose signature fails, are absent
//  (a local client checks signatures when values are stored, not here:
//  docs/caching.md, 4; it trusts its caller's puts, see _put).
//  Returns 0, or -1 with *err if the cache cannot be asked at all (the
//  caller then runs everything: a cache that fails is a miss).
int tm_cacheclient_get (tm_cacheclient_t *self, tm_cachedb_kind_t kind,
                        char **keys, size_t count, char ***values_p, char **err);

//  Stores COUNT values of KIND under hex KEYS.  Returns 0, or -1 with
//  *err.  A local client stores entries as given, but for one covered
//  by a tombstone: the caller MUST pass only entries it signed or whose
//  signature it verified (tm_runcache does).  An agent's cache actor
//  verifies every value itself.
int tm_cacheclient_put (tm_cacheclient_t *self, tm_cachedb_kind_t kind,
                        char **keys, char **values, size_t count, char **err);

//  Issues a tombstone for GLOB; *DELETED counts the entries removed
//  here (locally, or on the agent).  Returns 0, or -1 with *err.
int tm_cacheclient_invalidate (tm_cacheclient_t *self, const char *glob, size_t *deleted,
                               char **err);

//  {"replicas": R, "members": [{name, entries, records, bytes, cap, hits,
//  misses, evicted, degraded}, ...]}, or NULL with *err.
json_t *tm_cacheclient_stats (tm_cacheclient_t *self, char **err);

//  Evicts down to the cap now.  Returns 0 and sets *EVICTED, or -1.
int tm_cacheclient_gc (tm_cacheclient_t *self, size_t *evicted, char **err);

#endif
