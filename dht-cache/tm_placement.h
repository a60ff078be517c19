/*  tm_placement.h - what a handoff pass compares: where keys were placed
    at the last pass, against the members alive now.

    The cache's share (tm_dht.c) and the content store (tm_workpool.c)
    both move what they hold when membership changes, by the same rule
    (docs/caching.md, 4): every holder sends a key to each of its owners
    now that may lack it, that is, every owner now that is not us and
    was not an owner at the last pass still running as the same process
    (a member restarted with a new boot id may have lost its disk).  This
    class keeps the last pass's members and their boot ids, and answers,
    key by key, who those owners are.  Owners are tm_rendezvous's.

    A pass: tm_placement_begin with the members alive now, then
    tm_placement_targets for each key held, then tm_placement_end, which
    makes now the next pass's "then".  A boot id that was not known at
    the last pass ("": its metadata came later) counts as the same
    process, not a restart.
*/
#ifndef TM_PLACEMENT_H_INCLUDED
#define TM_PLACEMENT_H_INCLUDED

#include "tm_common.h"

typedef struct _tm_placement_t tm_placement_t;

//  A member's boot id now ("" unknown), or NULL if it is not an alive,
//  trusted member now: the caller's member table answers.
typedef const char *(tm_placement_boot_fn) (void *arg, const char *id);

//  A placement of R owners per key, with no last pass yet.
tm_placement_t *tm_placement_new (size_t r);
void tm_placement_destroy (tm_placement_t **self_p);

//  Records the COUNT members at IDS, with their boot ids from BOOT_OF,
//  as the last pass's (without a pass: the members alive when we came).
void tm_placement_set (tm_placement_t *self, const char *const *ids, size_t count,
                       tm_placement_boot_fn *boot_of, void *arg);

//  Starts a pass against the COUNT members alive now at IDS (borrowed
//  until tm_placement_end), of which SELF_ID (borrowed too) is us.
//  BOOT_OF tells which members of the last pass are the same process
//  now.
void tm_placement_begin (tm_placement_t *self, const char *const *ids, size_t count,
                         const char *self_id, tm_placement_boot_fn *boot_of, void *arg);

//  For KEY, in the pass begun: writes into TARGETS (room for R) the ids
//  of its owners now that may lack it, and returns how many; sets
//  *OWNER_P if we own it now, *WAS_P if we owned it at the last pass,
//  and *PLACED_P if the last pass had owners for it at all.
size_t tm_placement_targets (tm_placement_t *self, const uint8_t key [32],
                             const char **targets, bool *owner_p, bool *was_p,
                             bool *placed_p);

//  Ends the pass: the members alive now, with their boot ids from
//  BOOT_OF, are the next pass's "then".
void tm_placement_end (tm_placement_t *self, tm_placement_boot_fn *boot_of, void *arg);

#endif
