/*  test_placement.c - the handoff's placement (tm_placement): a pass
    sends a key only to owners that may lack it, and the last pass's
    members and boot ids decide which those are. */
#include "tm_testutil.h"
#include "tm_placement.h"
#include "tm_rendezvous.h"
#include <sodium.h>

#define S_KEYS    1000
#define S_MEMBERS 6
#define S_R       3

static const char *s_names [S_MEMBERS] = { "m0", "m1", "m2", "m3", "m4", "m5" };
static const char *s_boots [S_MEMBERS];     //  NULL: not alive now

static const char *
s_boot_of (void *arg, const char *id)
{
    (void) arg;
    for (int i = 0; i < S_MEMBERS; i++)
        if (strcmp (id, s_names [i]) == 0)
            return s_boots [i];
    return NULL;
}

static void
s_key (int n, uint8_t key [32])
{
    char text [32];
    snprintf (text, sizeof text, "key-%d", n);
    crypto_generichash (key, 32, (const uint8_t *) text, strlen (text), NULL, 0);
}

static bool
s_owns (const uint8_t key [32], size_t count, const char *id)
{
    size_t owners [S_R];
    size_t n = tm_rendezvous_owners (key, s_names, count, S_R, owners);
    for (size_t k = 0; k < n; k++)
        if (strcmp (s_names [owners [k]], id) == 0)
            return true;
    return false;
}

//  What a pass says of key number N: its targets and flags.
typedef struct {
    uint8_t key [32];
    const char *targets [S_R];
    size_t count;
    bool owner, was, placed;
} s_verdict_t;

static s_verdict_t
s_targets (tm_placement_t *placement, int n)
{
    s_verdict_t v;
    s_key (n, v.key);
    v.count = tm_placement_targets (placement, v.key, v.targets, &v.owner, &v.was, &v.placed);
    return v;
}

static void
s_alive (int count, const char *boot)
{
    for (int i = 0; i < S_MEMBERS; i++)
        s_boots [i] = i < count ? boot : NULL;
}

Test (placement, a_join_sends_each_key_to_the_newcomer_only)
{
    s_alive (5, "b");
    tm_placement_t *placement = tm_placement_new (S_R);
    tm_placement_set (placement, s_names, 5, s_boot_of, NULL);
    s_alive (6, "b");
    tm_placement_begin (placement, s_names, 6, "m0", s_boot_of, NULL);
    int sent = 0;
    for (int n = 0; n < S_KEYS; n++) {
        s_verdict_t v = s_targets (placement, n);
        cr_assert (v.placed);
        cr_assert_eq (v.owner, s_owns (v.key, 6, "m0"));
        cr_assert_eq (v.was, s_owns (v.key, 5, "m0"));
        cr_assert_eq (v.count, s_owns (v.key, 6, "m5") ? 1u : 0u, "key %d", n);
        if (v.count) {
            cr_assert_str_eq (v.targets [0], "m5");
            sent++;
        }
    }
    //  About R/6 of the keys have the newcomer among their owners
    cr_assert (sent > S_KEYS * S_R / 6 / 2 && sent < S_KEYS * S_R / 6 * 2, "%d", sent);
    //  The pass made now "then": the same members again send nothing
    tm_placement_end (placement, s_boot_of, NULL);
    tm_placement_begin (placement, s_names, 6, "m0", s_boot_of, NULL);
    for (int n = 0; n < S_KEYS; n++) {
        cr_assert_eq (s_targets (placement, n).count, 0u);
    }
    tm_placement_end (placement, s_boot_of, NULL);
    tm_placement_destroy (&placement);
    cr_assert_null (placement);
}

Test (placement, a_restarted_owner_is_sent_its_keys_again_an_unknown_boot_is_not_a_restart)
{
    s_alive (5, "b");
    s_boots [2] = "";           //  m2's metadata had not come yet
    tm_placement_t *placement = tm_placement_new (S_R);
    tm_placement_set (placement, s_names, 5, s_boot_of, NULL);
    s_alive (5, "b");
    s_boots [1] = "restarted";  //  m1 is a new process: its disk may be empty
    s_boots [2] = "late";       //  m2 is the same process, known now
    tm_placement_begin (placement, s_names, 5, "m0", s_boot_of, NULL);
    int to_m1 = 0;
    for (int n = 0; n < S_KEYS; n++) {
        s_verdict_t v = s_targets (placement, n);
        bool m1 = s_owns (v.key, 5, "m1");
        cr_assert_eq (v.count, m1 ? 1u : 0u, "key %d", n);
        if (v.count) {
            cr_assert_str_eq (v.targets [0], "m1");
            to_m1++;
        }
    }
    cr_assert_gt (to_m1, 0);
    tm_placement_end (placement, s_boot_of, NULL);
    tm_placement_destroy (&placement);
}

Test (placement, with_no_last_pass_every_other_owner_is_a_target)
{
    s_alive (5, "b");
    tm_placement_t *placement = tm_placement_new (S_R);
    tm_placement_begin (placement, s_names, 5, "m0", s_boot_of, NULL);
    for (int n = 0; n < S_KEYS; n++) {
        s_verdict_t v = s_targets (placement, n);
        cr_assert (!v.placed && !v.was);
        cr_assert_eq (v.count, v.owner ? (size_t) S_R - 1 : (size_t) S_R);
        for (size_t k = 0; k < v.count; k++)
            cr_assert_str_neq (v.targets [k], "m0");
    }
    tm_placement_end (placement, s_boot_of, NULL);
    tm_placement_destroy (&placement);
}
