/*  tm_rendezvous.c - which members own a cache key (rendezvous hashing).

    See tm_rendezvous.h.  Owners are chosen by a partial selection (the
    R heaviest of COUNT, O(COUNT * R)): R is a replication factor (3),
    so this beats sorting every member for every key.
*/
#include "tm_rendezvous.h"
#include <sodium.h>

uint64_t
tm_rendezvous_weight (const uint8_t key [32], const char *id, size_t id_size)
{
    assert (key);
    assert (id || id_size == 0);
    crypto_generichash_state state;
    uint8_t hash [32];
    crypto_generichash_init (&state, NULL, 0, sizeof hash);
    crypto_generichash_update (&state, key, 32);
    crypto_generichash_update (&state, (const uint8_t *) id, id_size);
    crypto_generichash_final (&state, hash, sizeof hash);
    uint64_t weight = 0;
    for (int i = 0; i < 8; i++)
        weight = (weight << 8) | hash [i];
    return weight;
}

//  True if candidate A (weight WA, id IDA) comes before B: heavier first,
//  then the smaller id bytes (a shorter id before a longer one it
//  prefixes), then the smaller index, so that even duplicate ids have a
//  total order.
static bool
s_before (uint64_t wa, const char *ida, size_t ia, uint64_t wb, const char *idb, size_t ib)
{
    if (wa != wb)
        return wa > wb;
    size_t la = strlen (ida), lb = strlen (idb);
    int cmp = memcmp (ida, idb, la < lb ? la : lb);
    if (cmp != 0)
        return cmp < 0;
    if (la != lb)
        return la < lb;
    return ia < ib;
}

size_t
tm_rendezvous_owners (const uint8_t key [32], const char *const *ids, size_t count,
                      size_t r, size_t *owners)
{
    assert (key);
    assert (ids || count == 0);
    assert (owners || r == 0);
    size_t want = r < count ? r : count;
    if (want == 0)
        return 0;
    uint64_t *weights = (uint64_t *) zmalloc (want * sizeof (uint64_t));
    size_t held = 0;                //  Owners [0..held) sorted, heaviest first
    for (size_t i = 0; i < count; i++) {
        assert (ids [i]);
        uint64_t weight = tm_rendezvous_weight (key, ids [i], strlen (ids [i]));
        //  Where would it go?  Past the end of a full list: not an owner
        size_t at = held;
        while (at > 0 && s_before (weight, ids [i], i,
                                   weights [at - 1], ids [owners [at - 1]], owners [at - 1]))
            at--;
        if (at >= want)
            continue;
        size_t last = held < want ? held : want - 1;
        memmove (owners + at + 1, owners + at, (last - at) * sizeof (size_t));
        memmove (weights + at + 1, weights + at, (last - at) * sizeof (uint64_t));
        owners [at] = i;
        weights [at] = weight;
        if (held < want)
            held++;
    }
    free (weights);
    return held;
}
