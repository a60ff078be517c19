/*  test_rendezvous.c - rendezvous hashing (tm_rendezvous): owners are
    deterministic and distinct, and membership changes move only the keys
    they must. */
#include "tm_testutil.h"
#include "tm_rendezvous.h"
#include <sodium.h>

#define S_KEYS 1000

static void
s_key (int n, uint8_t key [32])
{
    char text [32];
    snprintf (text, sizeof text, "key-%d", n);
    crypto_generichash (key, 32, (const uint8_t *) text, strlen (text), NULL, 0);
}

//  COUNT member ids "member-0".. into IDS (static strings).
static const char **
s_ids (size_t count)
{
    static char names [32][32];
    static const char *ids [32];
    for (size_t i = 0; i < count; i++) {
        snprintf (names [i], sizeof names [i], "member-%zu", i);
        ids [i] = names [i];
    }
    return ids;
}

Test (rendezvous, weight_is_first_8_bytes_big_endian_of_blake2b_of_key_and_id)
{
    uint8_t key [32], buf [32 + 3], hash [32];
    s_key (1, key);
    memcpy (buf, key, 32);
    memcpy (buf + 32, "abc", 3);
    crypto_generichash (hash, 32, buf, sizeof buf, NULL, 0);
    uint64_t want = 0;
    for (int i = 0; i < 8; i++)
        want = want << 8 | hash [i];
    cr_assert_eq (tm_rendezvous_weight (key, "abc", 3), want);
    cr_assert_neq (tm_rendezvous_weight (key, "abd", 3), want);
}

Test (rendezvous, owners_are_deterministic_distinct_and_heaviest_first)
{
    const char **ids = s_ids (10);
    for (int n = 0; n < 100; n++) {
        uint8_t key [32];
        s_key (n, key);
        size_t owners [3], again [3];
        cr_assert_eq (tm_rendezvous_owners (key, ids, 10, 3, owners), 3);
        cr_assert_eq (tm_rendezvous_owners (key, ids, 10, 3, again), 3);
        cr_assert_eq (memcmp (owners, again, sizeof owners), 0);
        cr_assert (owners [0] != owners [1] && owners [1] != owners [2]
                && owners [0] != owners [2]);
        //  Heaviest first, and nobody outside is heavier than the last
        uint64_t w [3];
        for (int i = 0; i < 3; i++) {
            cr_assert_lt (owners [i], 10);
            w [i] = tm_rendezvous_weight (key, ids [owners [i]], strlen (ids [owners [i]]));
        }
        cr_assert (w [0] >= w [1] && w [1] >= w [2]);
        for (size_t m = 0; m < 10; m++)
            if (m != owners [0] && m != owners [1] && m != owners [2])
                cr_assert_leq (tm_rendezvous_weight (key, ids [m], strlen (ids [m])), w [2]);
        //  The order of the member list does not matter
        const char *reversed [10];
        for (int i = 0; i < 10; i++)
            reversed [i] = ids [9 - i];
        size_t rev [3];
        tm_rendezvous_owners (key, reversed, 10, 3, rev);
        for (int i = 0; i < 3; i++)
            cr_assert_eq (9 - rev [i], owners [i]);
    }
}

Test (rendezvous, r_larger_than_members_returns_every_member)
{
    const char **ids = s_ids (4);
    uint8_t key [32];
    s_key (7, key);
    size_t owners [8];
    cr_assert_eq (tm_rendezvous_owners (key, ids, 4, 8, owners), 4);
    bool seen [4] = { false };
    for (int i = 0; i < 4; i++) {
        cr_assert_lt (owners [i], 4);
        cr_assert_not (seen [owners [i]]);
        seen [owners [i]] = true;
    }
    cr_assert_eq (tm_rendezvous_owners (key, ids, 0, 3, owners), 0);
    cr_assert_eq (tm_rendezvous_owners (key, ids, 4, 0, owners), 0);
}

Test (rendezvous, duplicate_ids_still_give_a_total_order)
{
    const char *ids [] = { "same", "same", "same" };
    uint8_t key [32];
    s_key (3, key);
    size_t owners [3];
    cr_assert_eq (tm_rendezvous_owners (key, ids, 3, 3, owners), 3);
    cr_assert_eq (owners [0], 0);
    cr_assert_eq (owners [1], 1);
    cr_assert_eq (owners [2], 2);
}

Test (rendezvous, adding_an_eleventh_member_moves_about_a_tenth_all_to_it)
{
    const char **ids = s_ids (11);
    int moved = 0;
    for (int n = 0; n < S_KEYS; n++) {
        uint8_t key [32];
        s_key (n, key);
        size_t before, after;
        tm_rendezvous_owners (key, ids, 10, 1, &before);
        tm_rendezvous_owners (key, ids, 11, 1, &after);
        if (before != after) {
            moved++;
            cr_assert_eq (after, 10, "key %d moved to an old member", n);
        }
    }
    cr_assert (moved >= S_KEYS * 5 / 100 && moved <= S_KEYS * 15 / 100,
               "%d of %d keys moved", moved, S_KEYS);
}

Test (rendezvous, removing_a_member_moves_only_the_keys_it_owned)
{
    const char **ids = s_ids (10);
    //  The same list without member 4
    const char *fewer [9];
    size_t map [9];
    for (size_t i = 0, j = 0; i < 10; i++)
        if (i != 4) {
            map [j] = i;
            fewer [j++] = ids [i];
        }
    int owned = 0;
    for (int n = 0; n < S_KEYS; n++) {
        uint8_t key [32];
        s_key (n, key);
        size_t before [3], after [3];
        tm_rendezvous_owners (key, ids, 10, 3, before);
        tm_rendezvous_owners (key, fewer, 9, 3, after);
        bool had = before [0] == 4 || before [1] == 4 || before [2] == 4;
        owned += had;
        if (!had)
            for (int i = 0; i < 3; i++)
                cr_assert_eq (map [after [i]], before [i], "key %d moved", n);
        else {
            //  The survivors keep their order; the next heaviest joins last
            size_t k = 0;
            for (int i = 0; i < 3; i++)
                if (before [i] != 4)
                    cr_assert_eq (map [after [k++]], before [i]);
            cr_assert_eq (k, 2);
        }
    }
    cr_assert_gt (owned, 0);
}
