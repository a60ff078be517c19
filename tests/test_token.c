/*  test_token.c - the join token "tm1-...": round trip, and every kind
    of malformed text rejected with a one-line reason. */
#include "tm_testutil.h"
#include "tm_token.h"
#include <sodium.h>

//  A token with fixed bytes, so that each run checks the same texts.
static tm_token_t
s_sample (size_t seeds)
{
    tm_token_t token;
    memset (&token, 0, sizeof token);
    uint8_t sk [crypto_sign_SECRETKEYBYTES];
    uint8_t seed [crypto_sign_SEEDBYTES];
    memset (seed, 7, sizeof seed);
    crypto_sign_seed_keypair (token.cluster_pk, sk, seed);
    for (int i = 0; i < 32; i++)
        token.join_secret [i] = (uint8_t) (i * 37 + 11);
    const char *addrs [] = { "10.0.0.1:5670", "build-7.example.com:5670", "[fe80::1%eth0]:6000" };
    for (size_t i = 0; i < seeds; i++)
        cr_assert_eq (tm_token_add_seed (&token, addrs [i % 3], NULL), 0);
    return token;
}

//  Parses TEXT and insists on failure with a one-line "token: " reason.
static void
s_assert_rejected (const char *text, const char *why)
{
    tm_token_t out;
    char *err = NULL;
    cr_assert_eq (tm_token_parse (text, &out, &err), -1, "accepted (%s): %s", why, text);
    cr_assert_not_null (err, "no reason (%s)", why);
    cr_assert_eq (strncmp (err, "token: ", 7), 0, "reason lacks prefix: %s", err);
    cr_assert_null (strchr (err, '\n'), "reason is not one line: %s", err);
    //  Nothing of a failed parse is left behind
    cr_assert (sodium_is_zero (out.join_secret, sizeof out.join_secret));
    free (err);
}

//  Re-encodes raw token bytes BIN (checksum recomputed) as text.
static char *
s_text_of (uint8_t *bin, size_t size)
{
    uint8_t hash [16];
    crypto_generichash (hash, sizeof hash, bin, size, NULL, 0);
    memcpy (bin + size, hash, 4);
    size += 4;
    size_t b64 = sodium_base64_ENCODED_LEN (size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *text = calloc (1, 4 + b64);
    memcpy (text, "tm1-", 4);
    sodium_bin2base64 (text + 4, b64, bin, size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return text;
}

//  The raw bytes of a token text.
static size_t
s_bin_of (const char *text, uint8_t *bin, size_t max)
{
    size_t size = 0;
    cr_assert_eq (sodium_base642bin (bin, max, text + 4, strlen (text + 4), NULL, &size, NULL,
                                     sodium_base64_VARIANT_URLSAFE_NO_PADDING), 0);
    return size;
}

Test (token, round_trip_keeps_cluster_key_join_secret_and_seeds)
{
    tm_token_t token = s_sample (3);
    char *err = NULL;
    char *text = tm_token_format (&token, &err);
    cr_assert_not_null (text, "%s", err);
    cr_assert_eq (strncmp (text, "tm1-", 4), 0);
    for (const char *p = text + 4; *p; p++)
        cr_assert (isalnum ((unsigned char) *p) || *p == '-' || *p == '_', "not base64url: %c", *p);
    tm_token_t back;
    cr_assert_eq (tm_token_parse (text, &back, &err), 0, "%s", err);
    cr_assert_eq (memcmp (back.cluster_pk, token.cluster_pk, 32), 0);
    cr_assert_eq (memcmp (back.join_secret, token.join_secret, 32), 0);
    cr_assert_eq (back.seed_count, 3);
    cr_assert_str_eq (back.seeds [0], "10.0.0.1:5670");
    cr_assert_str_eq (back.seeds [1], "build-7.example.com:5670");
    cr_assert_str_eq (back.seeds [2], "[fe80::1%eth0]:6000");
    free (text);
}

Test (token, token_without_seeds_round_trips)
{
    tm_token_t token = s_sample (0);
    char *text = tm_token_format (&token, NULL);
    tm_token_t back;
    cr_assert_eq (tm_token_parse (text, &back, NULL), 0);
    cr_assert_eq (back.seed_count, 0);
    free (text);
}

Test (token, largest_token_round_trips)
{
    tm_token_t token = s_sample (0);
    char seed [TM_TOKEN_SEED_MAX + 1];
    memset (seed, 'h', TM_TOKEN_SEED_MAX - 6);
    strcpy (seed + TM_TOKEN_SEED_MAX - 6, ":65535");
    for (int i = 0; i < TM_TOKEN_MAX_SEEDS; i++)
        cr_assert_eq (tm_token_add_seed (&token, seed, NULL), 0);
    char *err = NULL;
    cr_assert_eq (tm_token_add_seed (&token, "one.more:1", &err), -1);
    cr_assert_not_null (strstr (err, "at most"));
    free (err);
    char *text = tm_token_format (&token, NULL);
    cr_assert_not_null (text);
    tm_token_t back;
    cr_assert_eq (tm_token_parse (text, &back, &err), 0, "%s", err);
    cr_assert_eq (back.seed_count, TM_TOKEN_MAX_SEEDS);
    cr_assert_str_eq (back.seeds [15], seed);
    free (text);
}

Test (token, whitespace_around_a_pasted_token_is_ignored)
{
    tm_token_t token = s_sample (1);
    char *text = tm_token_format (&token, NULL);
    char *padded = tm_strdupf ("  \t%s\r\n", text);
    tm_token_t back;
    cr_assert_eq (tm_token_parse (padded, &back, NULL), 0);
    free (padded);
    free (text);
}

Test (token, every_single_character_substitution_is_rejected_with_a_reason)
{
    tm_token_t token = s_sample (2);
    char *text = tm_token_format (&token, NULL);
    const char *alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=. !\x01\xff";
    size_t len = strlen (text);
    char *copy = strdup (text);
    int tried = 0;
    for (size_t i = 0; i < len; i++)
        for (const char *c = alphabet; *c; c++) {
            if (*c == text [i])
                continue;
            //  Whitespace at either end is trimmed by design: not a change
            if (*c == ' ' && (i == 0 || i == len - 1))
                continue;
            copy [i] = *c;
            s_assert_rejected (copy, "substitution");
            copy [i] = text [i];
            tried++;
        }
    cr_assert_gt (tried, 1000);
    free (copy);
    free (text);
}

Test (token, every_single_byte_corruption_is_a_checksum_mismatch)
{
    tm_token_t token = s_sample (3);
    char *text = tm_token_format (&token, NULL);
    uint8_t bin [1024];
    size_t size = s_bin_of (text, bin, sizeof bin);
    for (size_t i = 0; i < size; i++)
        for (int bit = 0; bit < 8; bit++) {
            bin [i] ^= 1 << bit;
            size_t b64 = sodium_base64_ENCODED_LEN (size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
            char *bad = calloc (1, 4 + b64);
            memcpy (bad, "tm1-", 4);
            sodium_bin2base64 (bad + 4, b64, bin, size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
            tm_token_t out;
            char *err = NULL;
            cr_assert_eq (tm_token_parse (bad, &out, &err), -1, "byte %zu bit %d accepted", i, bit);
            cr_assert_str_eq (err, "token: checksum mismatch (typo?)");
            free (err);
            free (bad);
            bin [i] ^= 1 << bit;
        }
    free (text);
}

Test (token, every_truncation_and_every_extension_is_rejected)
{
    tm_token_t token = s_sample (2);
    char *text = tm_token_format (&token, NULL);
    size_t len = strlen (text);
    for (size_t cut = 0; cut < len; cut++) {
        char *short_text = strndup (text, cut);
        s_assert_rejected (short_text, "truncation");
        free (short_text);
    }
    const char *tails [] = { "A", "AA", "AAA", "AAAA", "x", "-", "_" };
    for (size_t i = 0; i < sizeof tails / sizeof tails [0]; i++) {
        char *long_text = tm_strdupf ("%s%s", text, tails [i]);
        s_assert_rejected (long_text, "extension");
        free (long_text);
    }
    free (text);
}

Test (token, bad_prefix_is_rejected_with_a_reason)
{
    tm_token_t token = s_sample (1);
    char *text = tm_token_format (&token, NULL);
    const char *prefixes [] = { "", "tm2-", "TM1-", "tm1_", "tm1", "tm-", "xx1-", "tm1--", " tm1 -" };
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes [0]; i++) {
        char *bad = tm_strdupf ("%s%s", prefixes [i], text + 4);
        s_assert_rejected (bad, "prefix");
        free (bad);
    }
    tm_token_t out;
    char *err = NULL;
    char *v2 = tm_strdupf ("tm2-%s", text + 4);
    tm_token_parse (v2, &out, &err);
    cr_assert_not_null (strstr (err, "unsupported token version 'tm2-'"), "%s", err);
    free (err);
    err = NULL;
    free (v2);
    s_assert_rejected ("", "empty");
    s_assert_rejected ("   ", "blank");
    s_assert_rejected ("tm1-", "nothing after the prefix");
    cr_assert_eq (tm_token_parse (NULL, &out, &err), -1);
    free (err);
    free (text);
}

Test (token, invalid_base64_character_is_reported_with_its_position)
{
    tm_token_t token = s_sample (1);
    char *text = tm_token_format (&token, NULL);
    text [10] = '+';            //  Standard base64, not base64url
    tm_token_t out;
    char *err = NULL;
    cr_assert_eq (tm_token_parse (text, &out, &err), -1);
    cr_assert_str_eq (err, "token: invalid character '+' at position 11");
    free (err);
    err = NULL;
    text [10] = ' ';
    cr_assert_eq (tm_token_parse (text, &out, &err), -1);
    cr_assert_not_null (strstr (err, "invalid character (code 32) at position 11"), "%s", err);
    free (err);
    free (text);
}

Test (token, overlong_text_is_rejected_before_decoding)
{
    char *text = malloc (TM_TOKEN_TEXT_MAX + 100);
    memcpy (text, "tm1-", 4);
    memset (text + 4, 'A', TM_TOKEN_TEXT_MAX + 90);
    text [TM_TOKEN_TEXT_MAX + 94] = 0;
    s_assert_rejected (text, "overlong");
    text [6000] = 0;
    s_assert_rejected (text, "long");
    free (text);
}

//  Structurally wrong tokens with a correct checksum: each field's check
//  has its own reason.
Test (token, well_checksummed_but_malformed_fields_are_rejected_with_reasons)
{
    tm_token_t token = s_sample (1);
    char *text = tm_token_format (&token, NULL);
    uint8_t good [1024];
    size_t size = s_bin_of (text, good, sizeof good) - 4;      //  Without checksum
    free (text);
    struct {
        const char *reason;
        void (*edit) (uint8_t *bin, size_t *size);
    } cases [] = {
        { "unsupported version 2", NULL },
        { "17 seed addresses", NULL },
        { "unexpected bytes after the seeds", NULL },
        { "seed 1 runs past the end", NULL },
        { "seed 1: seed address '10.0.0.1' has no ':port'", NULL },
        { "seed address '10.0.0.1:0' has a port out of range", NULL },
        { "cluster key is not a valid Ed25519 public key", NULL },
        { "join secret is all zeroes", NULL },
        { "too short", NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        uint8_t bin [1100];
        memcpy (bin, good, size);
        size_t n = size;
        switch (i) {
            case 0: bin [0] = 2; break;
            case 1: bin [65] = 17; break;
            case 2: bin [n++] = 0; break;
            case 3: bin [66] = 200; break;
            case 4: bin [66] = 8; memmove (bin + 67, "10.0.0.1", 8); n = 67 + 8; break;
            case 5: bin [66] = 10; memmove (bin + 67, "10.0.0.1:0", 10); n = 67 + 10; break;
            case 6: memset (bin + 1, 0, 32); bin [1] = 2; break;    //  Not on the curve
            case 7: memset (bin + 33, 0, 32); break;
            case 8: n = 60; break;
        }
        char *bad = s_text_of (bin, n);
        tm_token_t out;
        char *err = NULL;
        cr_assert_eq (tm_token_parse (bad, &out, &err), -1, "case %zu accepted", i);
        cr_assert_not_null (strstr (err, cases [i].reason), "case %zu: %s", i, err);
        free (err);
        free (bad);
    }
}

Test (token, bad_seed_addresses_are_refused_when_added)
{
    tm_token_t token = s_sample (0);
    const char *bad [] = { "", "host", "host:", ":5670", "host:0", "host:65536", "host:12a",
                           "host:123456", "::1:5670", "[::1:5670", "a b:1", "tcp://h:1",
                           "h\n:1", "[]:1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        char *err = NULL;
        cr_assert_eq (tm_token_add_seed (&token, bad [i], &err), -1, "accepted '%s'", bad [i]);
        cr_assert_eq (strncmp (err, "token: ", 7), 0);
        free (err);
    }
    cr_assert_eq (token.seed_count, 0);
    const char *good [] = { "h:1", "10.1.2.3:65535", "[::1]:5670", "node-1.lan:80" };
    for (size_t i = 0; i < sizeof good / sizeof good [0]; i++)
        cr_assert_eq (tm_token_add_seed (&token, good [i], NULL), 0, "refused '%s'", good [i]);
}

Test (token, format_refuses_an_invalid_cluster_key)
{
    tm_token_t token = s_sample (0);
    memset (token.cluster_pk, 0, 32);
    token.cluster_pk [0] = 2;
    char *err = NULL;
    cr_assert_null (tm_token_format (&token, &err));
    cr_assert_not_null (strstr (err, "not a valid Ed25519"));
    free (err);
}

Test (token, wipe_clears_the_join_secret)
{
    tm_token_t token = s_sample (1);
    tm_token_wipe (&token);
    cr_assert (sodium_is_zero (token.join_secret, 32));
    cr_assert_eq (token.seed_count, 0);
}
