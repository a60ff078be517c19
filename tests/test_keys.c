/*  test_keys.c - node identity, cluster keys and their files, certificates,
    admission, join-secret rotation, revocation, and CurveZMQ with the
    derived keys. */
#include "tm_testutil.h"
#include "tm_keys.h"
#include <sodium.h>

#define T0 1700000000000ULL     //  A fixed "now", ms

static char *
s_path (const char *dir, const char *name)
{
    return tm_strdupf ("%s/keys/%s", dir, name);
}

static tm_keys_t *
s_open (const char *dir)
{
    char *err = NULL;
    tm_keys_t *keys = tm_keys_new (dir, &err);
    cr_assert_not_null (keys, "tm_keys_new: %s", err);
    return keys;
}

//  Makes JOINER a member of FOUNDER's cluster, as the agent would.
static void
s_join (tm_keys_t *founder, tm_keys_t *joiner, const char *name)
{
    char *err = NULL;
    cr_assert_eq (tm_keys_cluster_pin (joiner, tm_keys_cluster_public (founder),
                                       tm_keys_join_secret (founder), &err), 0, "%s", err);
    size_t size = 0;
    uint8_t *welcome = tm_keys_welcome_encode (founder, tm_keys_node_public (joiner), name,
                                               T0, &size, &err);
    cr_assert_not_null (welcome, "%s", err);
    cr_assert_eq (tm_keys_welcome_accept (joiner, tm_keys_node_public (founder),
                                          welcome, size, &err), 0, "%s", err);
    free (welcome);
}

//  ---------------------------------------------------------------------
//  Identity and files

Test (keys, identity_persists_across_reload_with_same_public_key)
{
    char *dir = tmu_scratch ();
    tm_keys_t *keys = s_open (dir);
    uint8_t pk [32];
    memcpy (pk, tm_keys_node_public (keys), 32);
    char curve [41];
    strcpy (curve, tm_keys_node_curve_public (keys));
    cr_assert_not (tm_keys_has_cluster (keys));
    tm_keys_destroy (&keys);
    cr_assert_null (keys);
    tm_keys_destroy (&keys);            //  Idempotent

    keys = s_open (dir);
    cr_assert_eq (memcmp (tm_keys_node_public (keys), pk, 32), 0);
    cr_assert_str_eq (tm_keys_node_curve_public (keys), curve);
    cr_assert_eq (strlen (tm_keys_node_curve_secret (keys)), 40);
    tm_keys_destroy (&keys);

    //  Another directory, another identity
    char *other_dir = tmu_scratch ();
    tm_keys_t *other = s_open (other_dir);
    cr_assert_neq (memcmp (tm_keys_node_public (other), pk, 32), 0);
    tm_keys_destroy (&other);
    tmu_rmrf (dir);
    tmu_rmrf (other_dir);
    free (dir);
    free (other_dir);
}

Test (keys, key_files_are_0600_in_a_0700_directory)
{
    char *dir = tmu_scratch ();
    umask (0);                          //  Even with a careless umask
    tm_keys_t *keys = s_open (dir);
    cr_assert_eq (tm_keys_cluster_create (keys, "alpha", T0, NULL), 0);
    const char *files [] = { "node.key", "cluster.key", "node.cert", "join.secrets",
                             "revoked", "members" };
    for (size_t i = 0; i < sizeof files / sizeof files [0]; i++) {
        char *path = s_path (dir, files [i]);
        struct stat st;
        cr_assert_eq (stat (path, &st), 0, "%s missing", path);
        cr_assert_eq (st.st_mode & 07777, 0600, "%s has mode %o", path, st.st_mode & 07777);
        free (path);
    }
    char *keys_dir = tm_strdupf ("%s/keys", dir);
    struct stat st;
    cr_assert_eq (stat (keys_dir, &st), 0);
    cr_assert_eq (st.st_mode & 07777, 0700);
    free (keys_dir);
    tm_keys_destroy (&keys);
    tmu_rmrf (dir);
    free (dir);
}

Test (keys, key_file_open_to_group_or_others_is_refused)
{
    char *dir = tmu_scratch ();
    tm_keys_t *keys = s_open (dir);
    tm_keys_destroy (&keys);
    char *path = s_path (dir, "node.key");
    mode_t modes [] = { 0644, 0640, 0604, 0660, 0602 };
    for (size_t i = 0; i < sizeof modes / sizeof modes [0]; i++) {
        cr_assert_eq (chmod (path, modes [i]), 0);
        char *err = NULL;
        cr_assert_null (tm_keys_new (dir, &err), "mode %o accepted", modes [i]);
        char *expect = tm_strdupf ("has mode %04o, open to group or others", modes [i]);
        cr_assert_not_null (strstr (err, expect), "%s", err);
        cr_assert_not_null (strstr (err, "chmod 600"));
        free (expect);
        free (err);
    }
    chmod (path, 0600);
    keys = s_open (dir);
    tm_keys_destroy (&keys);
    free (path);
    tmu_rmrf (dir);
    free (dir);
}

Test (keys, cluster_key_file_open_to_others_is_refused_too)
{
    char *dir = tmu_scratch ();
    tm_keys_t *keys = s_open (dir);
    cr_assert_eq (tm_keys_cluster_create (keys, "alpha", T0, NULL), 0);
    tm_keys_destroy (&keys);
    char *path = s_path (dir, "cluster.key");
    chmod (path, 0644);
    char *err = NULL;
    cr_assert_null (tm_keys_new (dir, &err));
    cr_assert_not_null (strstr (err, "cluster.key has mode 0644"), "%s", err);
    free (err);
    free (path);
    tmu_rmrf (dir);
    free (dir);
}

Test (keys, key_file_that_is_a_symlink_is_refused)
{
    char *dir = tmu_scratch ();
    tm_keys_t *keys = s_open (dir);
    tm_keys_destroy (&keys);
    char *path = s_path (dir, "node.key");
    char *moved = tm_strdupf ("%s/elsewhere.key", dir);
    cr_assert_eq (rename (path, moved), 0);
    cr_assert_eq (symlink (moved, path), 0);
    char *err = NULL;
    cr_assert_null (tm_keys_new (dir, &err));
    cr_assert_not_null (strstr (err, "symbolic link"), "%s", err);
    free (err);
    free (moved);
    free (path);
    tmu_rmrf (dir);
    free (dir);
}

Test (keys, corrupt_or_truncated_key_file_is_refused_with_a_clear_error)
{
    char *dir = tmu_scratch ();
    tm_keys_t *keys = s_open (dir);
    tm_keys_destroy (&keys);
    char *path = s_path (dir, "node.key");
    struct stat st;
    stat (path, &st);
    for (off_t at = 0; at < st.st_size; at++) {
        int fd = open (path, O_RDWR);
        uint8_t byte;
        cr_assert_eq (pread (fd, &byte, 1, at), 1);
        byte ^= 0x20;
        cr_assert_eq (pwrite (fd, &byte, 1, at), 1);
        char *err = NULL;
        cr_assert_null (tm_keys_new (dir, &err), "flip at %lld accepted", (long long) at);
        cr_assert_not_null (strstr (err, "node.key"), "%s", err);
        free (err);
        byte ^= 0x20;
        cr_assert_eq (pwrite (fd, &byte, 1, at), 1);
        close (fd);
    }
    cr_assert_eq (truncate (path, st.st_size - 1), 0);
    char *err = NULL;
    cr_assert_null (tm_keys_new (dir, &err));
    cr_assert_not_null (strstr (err, "corrupt"), "%s", err);
    free (err);
    free (path);
    tmu_rmrf (dir);
    free (dir);
}

Test (keys, data_directory_writable_by_others_is_refused)
{
    char *dir = tmu_scratch ();
    char *keys_dir = tm_strdupf ("%s/keys", dir);
    cr_assert_eq (mkdir (keys_dir, 0700), 0);
    chmod (keys_dir, 0777);
    char *err = NULL;
    cr_assert_null (tm_keys_new (dir, &err));
    cr_assert_not_null (strstr (err, "writable by group or others"), "%s", err);
    free (err);
    free (keys_dir);
    tmu_rmrf (dir);
    free (dir);
}

//  ---------------------------------------------------------------------
//  Cluster and membership

Test (keys, restarted_member_keeps_its_cluster_without_the_token)
{
    char *dir = tmu_scratch ();
    tm_keys_t *keys = s_open (dir);
    cr_assert_eq (tm_keys_cluster_create (keys, "alpha", T0, NULL), 0);
    uint8_t cluster [32], secret [32];
    memcpy (cluster, tm_keys_cluster_public (keys), 32);
    memcpy (secret, tm_keys_join_secret (keys), 32);
    char server_sk [41];
    strcpy (server_sk, tm_keys_cluster_curve_secret (keys));
    tm_keys_destroy (&keys);

    keys = s_open (dir);
    cr_assert (tm_keys_is_member (keys));
    cr_assert_eq (memcmp (tm_keys_cluster_public (keys), cluster, 32), 0);
    cr_assert_eq (memcmp (tm_keys_join_secret (keys), secret, 32), 0);
    cr_assert_str_eq (tm_keys_cluster_curve_secret (keys), server_sk);
    cr_assert_str_eq (tm_keys_node_cert (keys)->name, "alpha");
    cr_assert_eq (tm_keys_status (keys, tm_keys_node_public (keys)), TM_KEYS_MEMBER);
    //  A second create is refused
    char *err = NULL;
    cr_assert_eq (tm_keys_cluster_create (keys, "alpha", T0, &err), -1);
    cr_assert_not_null (strstr (err, "already a member"));
    free (err);
    tm_keys_destroy (&keys);
    tmu_rmrf (dir);
    free (dir);
}

Test (keys, joiner_becomes_a_member_of_the_cluster_its_token_pinned)
{
    char *dir_a = tmu_scratch (), *dir_b = tmu_scratch ();
    tm_keys_t *a = s_open (dir_a);
    tm_keys_t *b = s_open (dir_b);
    cr_assert_eq (tm_keys_cluster_create (a, "alpha", T0, NULL), 0);
    s_join (a, b, "beta");
    cr_assert (tm_keys_is_member (b));
    cr_assert_str_eq (tm_keys_cluster_curve_secret (b), tm_keys_cluster_curve_secret (a));
    cr_assert_str_eq (tm_keys_node_cert (b)->name, "beta");
    cr_assert_eq (tm_keys_status (a, tm_keys_node_public (b)), TM_KEYS_MEMBER);
    cr_assert_eq (tm_keys_status (b, tm_keys_node_public (a)), TM_KEYS_MEMBER);
    cr_assert_eq (memcmp (tm_keys_join_secret (b), tm_keys_join_secret (a), 32), 0);
    tm_keys_destroy (&b);

    //  Restarted: still a member, no token needed
    b = s_open (dir_b);
    cr_assert (tm_keys_is_member (b));
    cr_assert_eq (tm_keys_member_count (b), 2);
    //  The same token again is harmless; another cluster's is refused
    cr_assert_eq (tm_keys_cluster_pin (b, tm_keys_cluster_public (a),
                                       tm_keys_join_secret (a), NULL), 0);
    uint8_t other_pk [32], other_sk [64];
    crypto_sign_keypair (other_pk, other_sk);
    char *err = NULL;
    cr_assert_eq (tm_keys_cluster_pin (b, other_pk, other_sk, &err), -1);
    cr_assert_not_null (strstr (err, "belongs to cluster"), "%s", err);
    free (err);
    tm_keys_destroy (&a);
    tm_keys_destroy (&b);
    tmu_rmrf (dir_a);
    tmu_rmrf (dir_b);
    free (dir_a);
    free (dir_b);
}

Test (keys, welcome_sealed_for_another_node_cannot_be_used)
{
    char *dir_a = tmu_scratch (), *dir_b = tmu_scratch (), *dir_c = tmu_scratch ();
    tm_keys_t *a = s_open (dir_a), *b = s_open (dir_b), *c = s_open (dir_c);
    cr_assert_eq (tm_keys_cluster_create (a, "alpha", T0, NULL), 0);
    tm_keys_cluster_pin (b, tm_keys_cluster_public (a), tm_keys_join_secret (a), NULL);
    tm_keys_cluster_pin (c, tm_keys_cluster_public (a), tm_keys_join_secret (a), NULL);
    size_t size = 0;
    uint8_t *welcome = tm_keys_welcome_encode (a, tm_keys_node_public (b), "beta", T0, &size, NULL);
    char *err = NULL;
    //  C intercepts B's welcome (say, a relay): not its certificate, and
    //  the sealed cluster key opens only with B's key
    cr_assert_eq (tm_keys_welcome_accept (c, tm_keys_node_public (a), welcome, size, &err), -1);
    cr_assert_not_null (strstr (err, "another node"), "%s", err);
    free (err);
    err = NULL;
    cr_assert_not (tm_keys_is_member (c));
    cr_assert_null (tm_keys_cluster_curve_secret (c));
    //  Claimed to come from a node that is not a member
    cr_assert_eq (tm_keys_welcome_accept (b, tm_keys_node_public (c), welcome, size, &err), -1);
    cr_assert_not_null (strstr (err, "not a certified member"), "%s", err);
    free (err);
    err = NULL;
    //  Every truncation is refused, and leaves B pinned, not member
    for (size_t cut = 0; cut < size; cut += 7) {
        cr_assert_eq (tm_keys_welcome_accept (b, tm_keys_node_public (a), welcome, cut, &err), -1);
        free (err);
        err = NULL;
    }
    cr_assert_not (tm_keys_is_member (b));
    cr_assert_eq (tm_keys_welcome_accept (b, tm_keys_node_public (a), welcome, size, &err), 0,
                  "%s", err);
    free (welcome);
    tm_keys_destroy (&a);
    tm_keys_destroy (&b);
    tm_keys_destroy (&c);
    tmu_rmrf (dir_a);
    tmu_rmrf (dir_b);
    tmu_rmrf (dir_c);
    free (dir_a);
    free (dir_b);
    free (dir_c);
}

Test (keys, welcome_from_an_impostor_cluster_is_refused)
{
    //  The joiner pinned A; M runs its own cluster and answers the JOIN
    char *dir_a = tmu_scratch (), *dir_b = tmu_scratch (), *dir_m = tmu_scratch ();
    tm_keys_t *a = s_open (dir_a), *b = s_open (dir_b), *m = s_open (dir_m);
    cr_assert_eq (tm_keys_cluster_create (a, "alpha", T0, NULL), 0);
    cr_assert_eq (tm_keys_cluster_create (m, "mallory", T0, NULL), 0);
    tm_keys_cluster_pin (b, tm_keys_cluster_public (a), tm_keys_join_secret (a), NULL);
    size_t size = 0;
    uint8_t *welcome = tm_keys_welcome_encode (m, tm_keys_node_public (b), "beta", T0, &size, NULL);
    char *err = NULL;
    cr_assert_eq (tm_keys_welcome_accept (b, tm_keys_node_public (m), welcome, size, &err), -1);
    cr_assert_not_null (strstr (err, "another cluster"), "%s", err);
    cr_assert_not (tm_keys_is_member (b));
    free (err);
    free (welcome);
    tm_keys_destroy (&a);
    tm_keys_destroy (&b);
    tm_keys_destroy (&m);
    tmu_rmrf (dir_a);
    tmu_rmrf (dir_b);
    tmu_rmrf (dir_m);
    free (dir_a);
    free (dir_b);
    free (dir_m);
}

//  ---------------------------------------------------------------------
//  Certificates

Test (keys, certificate_round_trips_and_verifies)
{
    char *dir = tmu_scratch ();
    tm_keys_t *keys = s_open (dir);
    tm_keys_cluster_create (keys, "alpha", T0, NULL);
    uint8_t pk [32], sk [64];
    crypto_sign_keypair (pk, sk);
    tm_cert_t cert, back;
    cr_assert_eq (tm_keys_cert_issue (keys, pk, "node-7.lan", T0 + 5, &cert, NULL), 0);
    uint8_t buf [TM_KEYS_CERT_MAX];
    size_t size = tm_keys_cert_encode (&cert, buf, sizeof buf);
    cr_assert_eq (size, TM_KEYS_CERT_MIN - 1 + strlen ("node-7.lan"));
    cr_assert_eq (tm_keys_cert_encode (&cert, buf, size - 1), 0);
    cr_assert_eq (tm_keys_cert_decode (buf, size, &back, NULL), 0);
    cr_assert_eq (tm_keys_cert_verify (tm_keys_cluster_public (keys), &back, NULL), 0);
    cr_assert_str_eq (back.name, "node-7.lan");
    cr_assert_eq (back.issued_ms, T0 + 5);
    cr_assert_eq (memcmp (back.node_pk, pk, 32), 0);
    //  Every truncation and every bit flip is refused by decode or verify
    for (size_t cut = 0; cut < size; cut++)
        cr_assert_eq (tm_keys_cert_decode (buf, cut, &back, NULL), -1);
    for (size_t i = 0; i < size; i++)
        for (int bit = 0; bit < 8; bit++) {
            buf [i] ^= 1 << bit;
            bool ok = tm_keys_cert_decode (buf, size, &back, NULL) == 0
                   && tm_keys_cert_verify (tm_keys_cluster_public (keys), &back, NULL) == 0;
            cr_assert_not (ok, "flip %zu/%d accepted", i, bit);
            buf [i] ^= 1 << bit;
        }
    //  Bad names are never issued
    const char *names [] = { "", "has space", "slash/name", "x\n",
        "a-name-that-is-much-longer-than-sixty-four-characters-is-refused-ok" };
    for (size_t i = 0; i < sizeof names / sizeof names [0]; i++)
        cr_assert_eq (tm_keys_cert_issue (keys, pk, names [i], T0, &cert, NULL), -1);
    tm_keys_destroy (&keys);
    tmu_rmrf (dir);
    free (dir);
}

Test (keys, certificate_signed_by_another_cluster_is_rejected)
{
    char *dir_a = tmu_scratch (), *dir_m = tmu_scratch ();
    tm_keys_t *a = s_open (dir_a), *m = s_open (dir_m);
    tm_keys_cluster_create (a, "alpha", T0, NULL);
    tm_keys_cluster_create (m, "mallory", T0, NULL);
    uint8_t pk [32], sk [64];
    crypto_sign_keypair (pk, sk);
    tm_cert_t cert;
    cr_assert_eq (tm_keys_cert_issue (m, pk, "intruder", T0, &cert, NULL), 0);
    char *err = NULL;
    cr_assert_eq (tm_keys_cert_verify (tm_keys_cluster_public (a), &cert, &err), -1);
    cr_assert_str_eq (err, "certificate: issued by another cluster");
    free (err);
    err = NULL;
    //  Claiming our cluster id does not help: the signature is M's
    memcpy (cert.cluster_id, tm_keys_cluster_id (a), TM_KEYS_CLUSTER_ID_BYTES);
    cr_assert_eq (tm_keys_cert_verify (tm_keys_cluster_public (a), &cert, &err), -1);
    cr_assert_str_eq (err, "certificate: signature does not verify");
    free (err);
    err = NULL;
    cr_assert_eq (tm_keys_member_add (a, &cert, &err), -1);
    free (err);
    cr_assert_eq (tm_keys_status (a, pk), TM_KEYS_UNKNOWN);
    tm_keys_destroy (&a);
    tm_keys_destroy (&m);
    tmu_rmrf (dir_a);
    tmu_rmrf (dir_m);
    free (dir_a);
    free (dir_m);
}

Test (keys, members_are_found_by_name_and_persist)
{
    char *dir = tmu_scratch ();
    tm_keys_t *keys = s_open (dir);
    tm_keys_cluster_create (keys, "alpha", T0, NULL);
    uint8_t pk1 [32], pk2 [32], sk [64];
    crypto_sign_keypair (pk1, sk);
    crypto_sign_keypair (pk2, sk);
    tm_cert_t cert;
    tm_keys_cert_issue (keys, pk1, "worker", T0, &cert, NULL);
    cr_assert_eq (tm_keys_member_add (keys, &cert, NULL), 1);
    cr_assert_eq (tm_keys_member_add (keys, &cert, NULL), 0);
    uint8_t found [32];
    cr_assert_eq (tm_keys_member_find (keys, "worker", found, NULL), 0);
    cr_assert_eq (memcmp (found, pk1, 32), 0);
    tm_keys_destroy (&keys);
    keys = s_open (dir);
    cr_assert_eq (tm_keys_member_count (keys), 2);
    cr_assert_eq (tm_keys_status (keys, pk1), TM_KEYS_MEMBER);
    tm_keys_cert_issue (keys, pk2, "worker", T0, &cert, NULL);
    tm_keys_member_add (keys, &cert, NULL);
    char *err = NULL;
    cr_assert_eq (tm_keys_member_find (keys, "worker", found, &err), -1);
    cr_assert_not_null (strstr (err, "2 members are called 'worker'"), "%s", err);
    free (err);
    err = NULL;
    cr_assert_eq (tm_keys_member_find (keys, "nobody", found, &err), -1);
    free (err);
    tm_keys_destroy (&keys);
    tmu_rmrf (dir);
    free (dir);
}

Test (keys, learnt_certificates_reach_the_members_file_at_flush_not_at_each_add)
{
    char *dir = tmu_scratch ();
    tm_keys_t *keys = s_open (dir);
    tm_keys_cluster_create (keys, "alpha", T0, NULL);
    uint8_t pk [32], sk [64];
    crypto_sign_keypair (pk, sk);
    tm_cert_t cert;
    tm_keys_cert_issue (keys, pk, "worker", T0, &cert, NULL);
    cr_assert_eq (tm_keys_member_add (keys, &cert, NULL), 1);
    //  Not yet on disk: another reader of the directory does not see it
    tm_keys_t *reader = s_open (dir);
    cr_assert_eq (tm_keys_status (reader, pk), TM_KEYS_UNKNOWN);
    tm_keys_destroy (&reader);
    //  Flushed: it does, and a second flush has nothing to write
    cr_assert_eq (tm_keys_flush (keys), 0);
    reader = s_open (dir);
    cr_assert_eq (tm_keys_status (reader, pk), TM_KEYS_MEMBER);
    tm_keys_destroy (&reader);
    cr_assert_eq (tm_keys_flush (keys), 0);
    tm_keys_destroy (&keys);
    tmu_rmrf (dir);
    free (dir);
}

Test (keys, known_rotation_and_revocation_facts_are_not_verified_again_but_forgeries_still_fail)
{
    char *dir_a = tmu_scratch (), *dir_b = tmu_scratch ();
    tm_keys_t *a = s_open (dir_a), *b = s_open (dir_b);
    tm_keys_cluster_create (a, "alpha", T0, NULL);
    s_join (a, b, "beta");
    uint8_t rotation [TM_KEYS_ROTATION_BYTES];
    cr_assert_eq (tm_keys_rotate (a, 1000, T0 + 1, rotation, NULL), 0);
    cr_assert_eq (tm_keys_rotation_apply (b, rotation, sizeof rotation, NULL), 1);
    cr_assert_eq (tm_keys_rotation_apply (b, rotation, sizeof rotation, NULL), 0);
    //  The same secret with a broken signature is not "known"
    rotation [sizeof rotation - 1] ^= 1;
    cr_assert_eq (tm_keys_rotation_apply (b, rotation, sizeof rotation, NULL), -1);

    uint8_t pk [32], sk [64], revocation [TM_KEYS_REVOCATION_BYTES];
    crypto_sign_keypair (pk, sk);
    cr_assert_eq (tm_keys_revoke (a, pk, T0 + 2, revocation, NULL), 0);
    cr_assert_eq (tm_keys_revocation_apply (b, revocation, sizeof revocation, NULL), 1);
    cr_assert_eq (tm_keys_revocation_apply (b, revocation, sizeof revocation, NULL), 0);
    revocation [sizeof revocation - 1] ^= 1;
    cr_assert_eq (tm_keys_revocation_apply (b, revocation, sizeof revocation, NULL), -1);
    tm_keys_destroy (&a);
    tm_keys_destroy (&b);
    tmu_rmrf (dir_a);
    tmu_rmrf (dir_b);
    free (dir_a);
    free (dir_b);
}

//  ---------------------------------------------------------------------
//  Join secrets

Test (keys, rotated_join_secret_keeps_the_old_one_only_for_the_grace_period)
{
    char *dir_a = tmu_scratch (), *dir_b = tmu_scratch ();
    tm_keys_t *a = s_open (dir_a), *b = s_open (dir_b);
    tm_keys_cluster_create (a, "alpha", T0, NULL);
    s_join (a, b, "beta");
    uint8_t old [32];
    memcpy (old, tm_keys_join_secret (a), 32);
    uint8_t fact [TM_KEYS_ROTATION_BYTES];
    cr_assert_eq (tm_keys_rotate (a, 60000, T0 + 1000, fact, NULL), 0);
    cr_assert_neq (memcmp (tm_keys_join_secret (a), old, 32), 0);

    const uint8_t *secrets [TM_KEYS_MAX_SECRETS];
    cr_assert_eq (tm_keys_join_secrets (a, T0 + 1000, secrets, TM_KEYS_MAX_SECRETS), 2);
    cr_assert_eq (memcmp (secrets [0], tm_keys_join_secret (a), 32), 0, "newest first");
    cr_assert_eq (memcmp (secrets [1], old, 32), 0);
    cr_assert_eq (tm_keys_join_secrets (a, T0 + 60999, secrets, TM_KEYS_MAX_SECRETS), 2);
    cr_assert_eq (tm_keys_join_secrets (a, T0 + 61000, secrets, TM_KEYS_MAX_SECRETS), 1);
    cr_assert_eq (memcmp (secrets [0], tm_keys_join_secret (a), 32), 0);

    //  B learns it by gossip, once; a forged or foreign fact is refused
    cr_assert_eq (tm_keys_rotation_apply (b, fact, sizeof fact, NULL), 1);
    cr_assert_eq (tm_keys_rotation_apply (b, fact, sizeof fact, NULL), 0);
    cr_assert_eq (memcmp (tm_keys_join_secret (b), tm_keys_join_secret (a), 32), 0);
    for (size_t i = 0; i < sizeof fact; i++) {
        fact [i] ^= 0x01;
        char *err = NULL;
        cr_assert_eq (tm_keys_rotation_apply (b, fact, sizeof fact, &err), -1, "flip %zu", i);
        free (err);
        fact [i] ^= 0x01;
    }
    cr_assert_eq (tm_keys_rotation_apply (b, fact, sizeof fact - 1, NULL), -1);

    //  It persists
    tm_keys_destroy (&b);
    b = s_open (dir_b);
    cr_assert_eq (tm_keys_join_secrets (b, T0 + 2000, secrets, TM_KEYS_MAX_SECRETS), 2);
    cr_assert_eq (tm_keys_join_secrets (b, T0 + 61000, secrets, TM_KEYS_MAX_SECRETS), 1);

    //  Grace beyond the limit is refused
    char *err = NULL;
    cr_assert_eq (tm_keys_rotate (a, TM_KEYS_GRACE_MAX_MS + 1, T0, fact, &err), -1);
    free (err);
    tm_keys_destroy (&a);
    tm_keys_destroy (&b);
    tmu_rmrf (dir_a);
    tmu_rmrf (dir_b);
    free (dir_a);
    free (dir_b);
}

Test (keys, many_rotations_keep_a_bounded_set_and_the_newest)
{
    char *dir = tmu_scratch ();
    tm_keys_t *keys = s_open (dir);
    tm_keys_cluster_create (keys, "alpha", T0, NULL);
    uint8_t fact [TM_KEYS_ROTATION_BYTES];
    for (int i = 1; i <= 20; i++)
        cr_assert_eq (tm_keys_rotate (keys, 3600000, T0 + i, fact, NULL), 0);
    const uint8_t *secrets [TM_KEYS_MAX_SECRETS];
    cr_assert_eq (tm_keys_join_secrets (keys, T0 + 21, secrets, TM_KEYS_MAX_SECRETS),
                  TM_KEYS_MAX_SECRETS);
    cr_assert_eq (memcmp (secrets [0], tm_keys_join_secret (keys), 32), 0);
    cr_assert_eq (memcmp (secrets [0], fact + 12, 32), 0);
    tm_keys_destroy (&keys);
    keys = s_open (dir);
    cr_assert_eq (memcmp (tm_keys_join_secret (keys), fact + 12, 32), 0);
    tm_keys_destroy (&keys);
    tmu_rmrf (dir);
    free (dir);
}

//  ---------------------------------------------------------------------
//  Revocation

Test (keys, revoked_node_is_refused_everywhere_and_the_list_persists)
{
    char *dir_a = tmu_scratch (), *dir_b = tmu_scratch (), *dir_c = tmu_scratch ();
    tm_keys_t *a = s_open (dir_a), *b = s_open (dir_b), *c = s_open (dir_c);
    tm_keys_cluster_create (a, "alpha", T0, NULL);
    s_join (a, b, "beta");
    s_join (a, c, "gamma");
    tm_keys_member_add (b, tm_keys_node_cert (c), NULL);

    uint8_t c_pk [32];
    cr_assert_eq (tm_keys_member_find (a, "gamma", c_pk, NULL), 0);
    uint8_t fact [TM_KEYS_REVOCATION_BYTES];
    cr_assert_eq (tm_keys_revoke (a, c_pk, T0 + 5, fact, NULL), 0);
    cr_assert_eq (tm_keys_status (a, c_pk), TM_KEYS_REVOKED);
    cr_assert_eq (tm_keys_revocation_apply (b, fact, sizeof fact, NULL), 1);
    cr_assert_eq (tm_keys_revocation_apply (b, fact, sizeof fact, NULL), 0);
    cr_assert_eq (tm_keys_status (b, c_pk), TM_KEYS_REVOKED);
    cr_assert_null (tm_keys_member (b, c_pk));
    tm_log_threshold = TM_LOG_NONE;    //  C logs that it is revoked
    cr_assert_eq (tm_keys_revocation_apply (c, fact, sizeof fact, NULL), 1);
    cr_assert (tm_keys_self_revoked (c));

    //  Its CURVE key is refused (what the ZAP handler asks)
    char z85 [41];
    uint8_t curve [32];
    cr_assert_eq (tm_keys_curve_of (c_pk, z85), 0);
    cr_assert_str_eq (z85, tm_keys_node_curve_public (c));
    zmq_z85_decode (curve, z85);
    cr_assert (tm_keys_curve_revoked (b, curve));
    zmq_z85_decode (curve, tm_keys_node_curve_public (a));
    cr_assert_not (tm_keys_curve_revoked (b, curve));

    //  Its certificate can no longer be added, nor can it be welcomed back
    char *err = NULL;
    cr_assert_eq (tm_keys_member_add (b, tm_keys_node_cert (c), &err), -1);
    free (err);
    err = NULL;
    size_t size;
    cr_assert_null (tm_keys_welcome_encode (b, c_pk, "gamma", T0, &size, &err));
    free (err);
    err = NULL;

    //  A forged revocation (signed by anyone but the cluster) is refused
    uint8_t forged [TM_KEYS_REVOCATION_BYTES];
    memcpy (forged, fact, sizeof forged);
    memcpy (forged + 12, tm_keys_node_public (a), 32);
    cr_assert_eq (tm_keys_revocation_apply (b, forged, sizeof forged, &err), -1);
    cr_assert_not_null (strstr (err, "signature does not verify"), "%s", err);
    free (err);
    err = NULL;
    cr_assert_eq (tm_keys_revoke (a, tm_keys_node_public (a), T0, forged, &err), -1);
    free (err);

    //  It persists
    tm_keys_destroy (&b);
    b = s_open (dir_b);
    cr_assert_eq (tm_keys_status (b, c_pk), TM_KEYS_REVOKED);
    cr_assert_eq (tm_keys_revoked_count (b), 1);
    cr_assert_eq (tm_keys_member_count (b), 2);
    tm_keys_destroy (&a);
    tm_keys_destroy (&b);
    tm_keys_destroy (&c);
    tmu_rmrf (dir_a);
    tmu_rmrf (dir_b);
    tmu_rmrf (dir_c);
    free (dir_a);
    free (dir_b);
    free (dir_c);
}

Test (keys, new_member_learns_revocations_in_its_welcome)
{
    char *dir_a = tmu_scratch (), *dir_b = tmu_scratch ();
    tm_keys_t *a = s_open (dir_a), *b = s_open (dir_b);
    tm_keys_cluster_create (a, "alpha", T0, NULL);
    uint8_t gone [32], sk [64], fact [TM_KEYS_REVOCATION_BYTES];
    crypto_sign_keypair (gone, sk);
    cr_assert_eq (tm_keys_revoke (a, gone, T0, fact, NULL), 0);
    s_join (a, b, "beta");
    cr_assert_eq (tm_keys_status (b, gone), TM_KEYS_REVOKED);
    tm_keys_destroy (&a);
    tm_keys_destroy (&b);
    tmu_rmrf (dir_a);
    tmu_rmrf (dir_b);
    free (dir_a);
    free (dir_b);
}

//  ---------------------------------------------------------------------
//  CurveZMQ with the derived keys

//  A ZAP handler (RFC 27) backed by tm_keys, as the agent needs one:
//  CZMQ's zauth cannot ask our revocation list and replies with an empty
//  User-Id.  It accepts any CURVE client key that is not revoked (joiners
//  are unknown until admitted) and reports the key as User-Id.
static void
s_zap_actor (zsock_t *pipe, void *args)
{
    tm_keys_t *keys = (tm_keys_t *) args;
    zsock_t *handler = zsock_new_rep ("inproc://zeromq.zap.01");
    assert (handler);
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, handler, NULL);
    while (true) {
        void *which = zpoller_wait (poller, -1);
        if (which != handler)
            break;              //  $TERM or interrupted
        zmsg_t *request = zmsg_recv (handler);
        if (!request)
            break;
        char *version = zmsg_popstr (request);
        char *sequence = zmsg_popstr (request);
        char *domain = zmsg_popstr (request);
        char *address = zmsg_popstr (request);
        char *identity = zmsg_popstr (request);
        char *mechanism = zmsg_popstr (request);
        zframe_t *key = zmsg_pop (request);
        char z85 [41] = "";
        bool ok = mechanism && streq (mechanism, "CURVE") && key && zframe_size (key) == 32
               && !tm_keys_curve_revoked (keys, zframe_data (key));
        if (ok)
            zmq_z85_encode (z85, zframe_data (key), 32);
        zstr_sendx (handler, "1.0", sequence ? sequence : "", ok ? "200" : "400",
                    ok ? "OK" : "revoked", z85, "", NULL);
        zstr_free (&version);
        zstr_free (&sequence);
        zstr_free (&domain);
        zstr_free (&address);
        zstr_free (&identity);
        zstr_free (&mechanism);
        zframe_destroy (&key);
        zmsg_destroy (&request);
    }
    zpoller_destroy (&poller);
    zsock_destroy (&handler);
}

typedef struct {
    char *dir_a, *dir_j;
    tm_keys_t *member;          //  Holds the cluster key: CURVE server
    tm_keys_t *joiner;          //  Pinned from a token: CURVE client
    zactor_t *zap;              //  ZAP handler asking member's keys
    zsock_t *server;
    int port;
} s_curve_t;

static void
s_curve_setup (s_curve_t *t)
{
    cr_assert (zsys_has_curve (), "libzmq was built without CURVE");
    t->dir_a = tmu_scratch ();
    t->dir_j = tmu_scratch ();
    t->member = s_open (t->dir_a);
    t->joiner = s_open (t->dir_j);
    cr_assert_eq (tm_keys_cluster_create (t->member, "alpha", T0, NULL), 0);
    cr_assert_eq (tm_keys_cluster_pin (t->joiner, tm_keys_cluster_public (t->member),
                                       tm_keys_join_secret (t->member), NULL), 0);
    t->zap = zactor_new (s_zap_actor, t->member);
    t->server = zsock_new (ZMQ_ROUTER);
    zsock_set_zap_domain (t->server, "testmesh");
    zsock_set_curve_server (t->server, 1);
    zsock_set_curve_secretkey (t->server, tm_keys_cluster_curve_secret (t->member));
    t->port = zsock_bind (t->server, "tcp://127.0.0.1:*");
    cr_assert_gt (t->port, 0);
}

static void
s_curve_teardown (s_curve_t *t)
{
    zsock_destroy (&t->server);
    zactor_destroy (&t->zap);
    tm_keys_destroy (&t->member);
    tm_keys_destroy (&t->joiner);
    tmu_rmrf (t->dir_a);
    tmu_rmrf (t->dir_j);
    free (t->dir_a);
    free (t->dir_j);
}

static zsock_t *
s_client (tm_keys_t *keys, const char *server_key, int port)
{
    zsock_t *client = zsock_new (ZMQ_DEALER);
    zsock_set_curve_serverkey (client, server_key);
    zsock_set_curve_publickey (client, tm_keys_node_curve_public (keys));
    zsock_set_curve_secretkey (client, tm_keys_node_curve_secret (keys));
    zsock_set_linger (client, 0);
    cr_assert_eq (zsock_connect (client, "tcp://127.0.0.1:%d", port), 0);
    return client;
}

Test (keys, curve_client_pinning_the_cluster_key_exchanges_messages)
{
    s_curve_t t;
    s_curve_setup (&t);
    //  The joiner knows only what the token gave it
    zsock_t *client = s_client (t.joiner, tm_keys_cluster_curve_public (t.joiner), t.port);
    zstr_send (client, "hello");
    zpoller_t *poller = zpoller_new (t.server, NULL);
    cr_assert_eq (zpoller_wait (poller, 10000), t.server, "no message within 10 s");
    zframe_t *routing = zframe_recv (t.server);
    zframe_t *body = zframe_recv (t.server);
    cr_assert (zframe_streq (body, "hello"));
    //  The server sees the joiner's CURVE key: what binds the connection
    //  to the node key that signs its envelopes
    char z85 [41];
    cr_assert_eq (tm_keys_curve_of (tm_keys_node_public (t.joiner), z85), 0);
    const char *user_id = zframe_meta (body, "User-Id");
    cr_assert_not_null (user_id);
    cr_assert_str_eq (user_id, z85);
    zframe_destroy (&body);
    zframe_send (&routing, t.server, ZFRAME_MORE);
    zstr_send (t.server, "welcome");
    zpoller_t *client_poller = zpoller_new (client, NULL);
    cr_assert_eq (zpoller_wait (client_poller, 10000), client);
    char *reply = zstr_recv (client);
    cr_assert_str_eq (reply, "welcome");
    zstr_free (&reply);
    zpoller_destroy (&client_poller);
    zpoller_destroy (&poller);
    zsock_destroy (&client);
    s_curve_teardown (&t);
}

Test (keys, curve_client_pinning_another_key_gets_nothing_through)
{
    s_curve_t t;
    s_curve_setup (&t);
    //  A token for another cluster, or an impostor's server: the pinned
    //  key does not match the server's secret key
    char *dir_m = tmu_scratch ();
    tm_keys_t *m = s_open (dir_m);
    tm_keys_cluster_create (m, "mallory", T0, NULL);
    zsock_t *client = s_client (t.joiner, tm_keys_cluster_curve_public (m), t.port);
    zstr_send (client, "hello");
    zpoller_t *poller = zpoller_new (t.server, NULL);
    cr_assert_null (zpoller_wait (poller, 1500), "a message got through");
    cr_assert (zpoller_expired (poller));
    zpoller_destroy (&poller);
    zsock_destroy (&client);
    tm_keys_destroy (&m);
    tmu_rmrf (dir_m);
    free (dir_m);
    s_curve_teardown (&t);
}

Test (keys, curve_client_with_a_revoked_node_key_is_refused_at_the_handshake)
{
    tm_log_threshold = TM_LOG_NONE;
    s_curve_t t;
    s_curve_setup (&t);
    //  The joiner's node key was revoked (say, a stolen data directory)
    uint8_t fact [TM_KEYS_REVOCATION_BYTES];
    cr_assert_eq (tm_keys_revoke (t.member, tm_keys_node_public (t.joiner), T0, fact, NULL), 0);
    zsock_t *client = s_client (t.joiner, tm_keys_cluster_curve_public (t.joiner), t.port);
    zstr_send (client, "hello");
    zpoller_t *poller = zpoller_new (t.server, NULL);
    cr_assert_null (zpoller_wait (poller, 1500), "a revoked key got a message through");
    zpoller_destroy (&poller);
    zsock_destroy (&client);
    s_curve_teardown (&t);
}
