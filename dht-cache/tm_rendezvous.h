/*  tm_rendezvous.h - which members own a cache key.

    Rendezvous (highest-random-weight) hashing: member M's weight for key
    K is the first 8 bytes, big-endian, of BLAKE2b-256(K || M's id); a
    key's owners are the R members of highest weight, heaviest first.
    Every member computes the same owners from the same member list, with
    no ring to agree on, and adding one member to N takes about 1/N of
    the keys, all to the newcomer (docs/caching.md, 4).
*/
#ifndef TM_RENDEZVOUS_H_INCLUDED
#define TM_RENDEZVOUS_H_INCLUDED

#include "tm_common.h"

//  The weight of member ID (any bytes, ID_SIZE of them; members use
//  their hex id) for KEY.
uint64_t tm_rendezvous_weight (const uint8_t key [32], const char *id, size_t id_size);

//  Writes into OWNERS the indexes (into IDS, COUNT of them) of KEY's
//  owners, heaviest first, and returns how many: min (R, COUNT).  Ties
//  (equal weights) are broken by the id's bytes, so the order is total.
size_t tm_rendezvous_owners (const uint8_t key [32], const char *const *ids, size_t count,
                             size_t r, size_t *owners);

#endif
