/*  test_cacheentry.c - cache entries, records and tombstones
    (tm_cacheentry): encodings round-trip, signatures bind every claimed
    field, decoders refuse anything malformed, tombstones cover the right
    results. */
#include "tm_testutil.h"
#include "tm_cacheentry.h"
#include <jansson.h>
#include <sodium.h>

#define S_HEX_A "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"
#define S_HEX_B "1111111111111111111111111111111111111111111111111111111111111111"
#define S_HEX_C "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"

static uint8_t s_pk [TM_CACHE_PK], s_sk [TM_CACHE_SK];

static void
s_keys (void)
{
    cr_assert_geq (sodium_init (), 0);
    uint8_t seed [32];
    memset (seed, 7, sizeof seed);
    crypto_sign_seed_keypair (s_pk, s_sk, seed);
}

static tm_cacheentry_t *
s_entry (void)
{
    tm_cacheentry_t *entry = tm_cacheentry_new ();
    strcpy (entry->key, S_HEX_A);
    strcpy (entry->ident, S_HEX_B);
    strcpy (entry->decl, S_HEX_C);
    entry->test_id = strdup ("parser/empty input");
    entry->status = TM_STATUS_PASSED;
    entry->duration = 0.125;
    entry->created = 1700000000.5;
    entry->member = strdup ("a1");
    tm_cacheentry_sign (entry, s_sk);
    return entry;
}

//  Decodes TEXT as an entry; asserts it is refused with a message.
static void
s_refused (const char *text)
{
    char *err = NULL;
    tm_cacheentry_t *entry = tm_cacheentry_decode (text, strlen (text), &err);
    cr_assert_null (entry, "accepted: %s", text);
    cr_assert_not_null (err, "refused without a reason: %s", text);
    free (err);
}

//  The encoding of a valid entry with field NAME replaced by VALUE (raw
//  JSON), or removed if VALUE is NULL.
static char *
s_with (const char *name, const char *value)
{
    tm_cacheentry_t *entry = s_entry ();
    char *text = tm_cacheentry_encode (entry, NULL);
    tm_cacheentry_destroy (&entry);
    json_error_t error;
    json_t *json = json_loads (text, 0, &error);
    free (text);
    cr_assert_not_null (json);
    if (value) {
        json_t *raw = json_loads (value, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
        cr_assert_not_null (raw, "bad test JSON %s", value);
        json_object_set_new (json, name, raw);
    }
    else
        json_object_del (json, name);
    text = json_dumps (json, JSON_COMPACT);
    json_decref (json);
    return text;
}

Test (cacheentry, hex_is_64_lowercase_digits_both_ways)
{
    uint8_t bytes [32], back [32];
    for (int i = 0; i < 32; i++)
        bytes [i] = (uint8_t) (i * 37 + 5);
    char hex [TM_CACHE_HEX];
    tm_cache_hex (bytes, hex);
    cr_assert_eq (strlen (hex), 64);
    cr_assert_eq (tm_cache_from_hex (hex, back), 0);
    cr_assert_eq (memcmp (bytes, back, 32), 0);
    cr_assert (tm_cache_hex_valid (S_HEX_A));
    cr_assert_eq (tm_cache_from_hex ("0E5751C026E543B2E8AB2EB06099DAA1D1E5DF47778F7787FAAB45CDF12FE3A8", back), -1);
    cr_assert_eq (tm_cache_from_hex (S_HEX_A "00", back), -1);
    cr_assert_eq (tm_cache_from_hex ("0e57", back), -1);
    cr_assert_eq (tm_cache_from_hex ("", back), -1);
    cr_assert_eq (tm_cache_from_hex (NULL, back), -1);
    cr_assert_eq (tm_cache_from_hex ("g111111111111111111111111111111111111111111111111111111111111111", back), -1);
    cr_assert_not (tm_cache_hex_valid (NULL));
}

Test (cacheentry, entry_round_trips_and_still_verifies, .init = s_keys)
{
    tm_cacheentry_t *entry = s_entry ();
    cr_assert (tm_cacheentry_verify (entry));
    cr_assert_eq (memcmp (entry->member_pk, s_pk, TM_CACHE_PK), 0);
    size_t size = 0;
    char *text = tm_cacheentry_encode (entry, &size);
    cr_assert_eq (size, strlen (text));
    char *err = NULL;
    tm_cacheentry_t *copy = tm_cacheentry_decode (text, size, &err);
    cr_assert_not_null (copy, "%s", err);
    cr_assert_str_eq (copy->key, S_HEX_A);
    cr_assert_str_eq (copy->ident, S_HEX_B);
    cr_assert_str_eq (copy->decl, S_HEX_C);
    cr_assert_str_eq (copy->test_id, "parser/empty input");
    cr_assert_eq (copy->status, TM_STATUS_PASSED);
    cr_assert_eq (copy->duration, 0.125);
    cr_assert_eq (copy->created, 1700000000.5);
    cr_assert_str_eq (copy->member, "a1");
    cr_assert_eq (memcmp (copy->member_pk, entry->member_pk, TM_CACHE_PK), 0);
    cr_assert_eq (memcmp (copy->sig, entry->sig, TM_CACHE_SIG), 0);
    cr_assert (tm_cacheentry_verify (copy));
    //  Re-encoding is byte for byte the same
    size_t size2;
    char *text2 = tm_cacheentry_encode (copy, &size2);
    cr_assert_str_eq (text, text2);
    free (text);
    free (text2);
    tm_cacheentry_destroy (&copy);
    tm_cacheentry_destroy (&entry);
    cr_assert_null (entry);
    tm_cacheentry_destroy (&entry);     //  Idempotent
}

Test (cacheentry, any_change_of_a_signed_field_breaks_verify, .init = s_keys)
{
    for (int field = 0; field < 10; field++) {
        tm_cacheentry_t *entry = s_entry ();
        cr_assert (tm_cacheentry_verify (entry));
        switch (field) {
            case 0: entry->ident [0] = '2'; break;
            case 1: entry->decl [63] = '0'; break;
            case 2: entry->test_id [0] = 'P'; break;
            case 3: entry->status = TM_STATUS_FLAKY; break;
            case 4: entry->duration = 0.126; break;
            case 5: entry->created += 1; break;
            case 6: entry->member [1] = '2'; break;
            case 7: entry->member_pk [5] ^= 1; break;
            case 8: entry->sig [0] ^= 0x80; break;
            case 9: {
                //  Another key's signature over the same claim
                uint8_t pk [TM_CACHE_PK], sk [TM_CACHE_SK];
                crypto_sign_keypair (pk, sk);
                tm_cacheentry_sign (entry, sk);
                cr_assert (tm_cacheentry_verify (entry));
                memcpy (entry->member_pk, s_pk, TM_CACHE_PK);
                break;
            }
        }
        cr_assert_not (tm_cacheentry_verify (entry), "field %d change still verifies", field);
        tm_cacheentry_destroy (&entry);
    }
    //  K is not signed (the header says why)
    tm_cacheentry_t *entry = s_entry ();
    entry->key [0] = 'f';
    cr_assert (tm_cacheentry_verify (entry));
    //  A field moved across the NUL separators does not verify either
    free (entry->member);
    entry->member = strdup ("1");
    tm_cacheentry_sign (entry, s_sk);
    free (entry->test_id);
    entry->test_id = strdup ("parser/empty inputa");
    cr_assert_not (tm_cacheentry_verify (entry));
    tm_cacheentry_destroy (&entry);
}

Test (cacheentry, decoder_refuses_truncated_garbage_and_wrong_types, .init = s_keys)
{
    tm_cacheentry_t *entry = s_entry ();
    size_t size;
    char *text = tm_cacheentry_encode (entry, &size);
    tm_cacheentry_destroy (&entry);
    char *err = NULL;
    //  Every strict prefix is refused
    for (size_t len = 0; len < size; len++) {
        tm_cacheentry_t *got = tm_cacheentry_decode (text, len, &err);
        cr_assert_null (got, "a %zu-byte prefix was accepted", len);
        free (err);
        err = NULL;
    }
    free (text);
    cr_assert_null (tm_cacheentry_decode (NULL, 0, &err));
    free (err);
    err = NULL;
    cr_assert_null (tm_cacheentry_decode ("x", 1, NULL), "a NULL err is allowed");
    const char binary [] = { 0x00, (char) 0xff, 0x7b, 0x22 };
    cr_assert_null (tm_cacheentry_decode (binary, sizeof binary, &err));
    free (err);
    s_refused ("[]");
    s_refused ("\"entry\"");
    s_refused ("{}");
    s_refused ("null");

    const char *cases [][2] = {
        { "key", NULL }, { "key", "42" }, { "key", "\"" S_HEX_A "0\"" },
        { "key", "\"0E5751C026E543B2E8AB2EB06099DAA1D1E5DF47778F7787FAAB45CDF12FE3A8\"" },
        { "ident", "\"zz\"" }, { "decl", "null" }, { "decl", "\"\"" },
        { "test_id", NULL }, { "test_id", "\"\"" }, { "test_id", "7" }, { "test_id", "[\"a\"]" },
        { "test_id", "\"a\\u0000b\"" },
        { "status", "\"PASSED\"" }, { "status", "\"won\"" }, { "status", "0" }, { "status", NULL },
        { "duration", "-1" }, { "duration", "\"1\"" }, { "duration", "1e300" }, { "duration", NULL },
        { "created", "-0.5" }, { "created", "true" }, { "created", "1e13" },
        { "member", "\"\"" }, { "member", "1" },
        { "member", "\"m1234567890123456789012345678901234567890123456789012345678901234\"" },
        { "member_pk", "\"" S_HEX_A "00\"" }, { "member_pk", "\"abc\"" }, { "member_pk", NULL },
        { "sig", "\"" S_HEX_A "\"" }, { "sig", NULL }, { "sig", "{}" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        char *bad = s_with (cases [i][0], cases [i][1]);
        s_refused (bad);
        free (bad);
    }
    //  Duplicate fields are refused, unknown ones ignored
    char *dup = s_with ("status", "\"passed\"");
    char *open = strrchr (dup, '}');
    cr_assert_not_null (open);
    *open = 0;
    char *dup2 = tm_strdupf ("%s,\"status\":\"failed\"}", dup);
    s_refused (dup2);
    char *extra = tm_strdupf ("%s,\"future\":[1,2]}", dup);
    tm_cacheentry_t *got = tm_cacheentry_decode (extra, strlen (extra), &err);
    cr_assert_not_null (got, "%s", err);
    cr_assert (tm_cacheentry_verify (got));
    tm_cacheentry_destroy (&got);
    free (dup);
    free (dup2);
    free (extra);
}

Test (cacheentry, decoder_refuses_oversized_strings, .init = s_keys)
{
    //  '"' + 4097 x + '"'
    char *long_id = (char *) malloc (TM_CACHE_TEST_ID_MAX + 4);
    memset (long_id, 'x', TM_CACHE_TEST_ID_MAX + 2);
    long_id [0] = '"';
    long_id [TM_CACHE_TEST_ID_MAX + 2] = '"';
    long_id [TM_CACHE_TEST_ID_MAX + 3] = 0;
    char *bad = s_with ("test_id", long_id);
    s_refused (bad);
    free (bad);
    long_id [TM_CACHE_TEST_ID_MAX + 1] = '"';
    long_id [TM_CACHE_TEST_ID_MAX + 2] = 0;
    char *good = s_with ("test_id", long_id);       //  Exactly 4096: fine
    char *err = NULL;
    tm_cacheentry_t *entry = tm_cacheentry_decode (good, strlen (good), &err);
    cr_assert_not_null (entry, "%s", err);
    cr_assert_eq (strlen (entry->test_id), TM_CACHE_TEST_ID_MAX);
    tm_cacheentry_destroy (&entry);
    free (good);
    free (long_id);
}

static tm_cacherecord_t *
s_record (void)
{
    tm_cacherecord_t *record = tm_cacherecord_new ();
    strcpy (record->ident, S_HEX_B);
    strcpy (record->key, S_HEX_A);
    record->test_id = strdup ("net/tcp/connect");
    record->status = TM_STATUS_PASSED;
    record->created = 1700000001.25;
    record->traced = true;
    const char *names [] = { "traced:/etc/hosts", "argv", "program", "env:PATH" };
    record->components_size = 4;
    record->components = (tm_component_t *) calloc (4, sizeof (tm_component_t));
    for (int i = 0; i < 4; i++) {
        record->components [i].name = strdup (names [i]);
        strcpy (record->components [i].digest, i % 2 ? S_HEX_C : S_HEX_A);
    }
    return record;
}

Test (cacheentry, record_round_trips_with_components_sorted)
{
    tm_cacherecord_t *record = s_record ();
    size_t size;
    char *text = tm_cacherecord_encode (record, &size);
    char *err = NULL;
    tm_cacherecord_t *copy = tm_cacherecord_decode (text, size, &err);
    cr_assert_not_null (copy, "%s", err);
    cr_assert_str_eq (copy->ident, S_HEX_B);
    cr_assert_str_eq (copy->key, S_HEX_A);
    cr_assert_str_eq (copy->test_id, "net/tcp/connect");
    cr_assert_eq (copy->status, TM_STATUS_PASSED);
    cr_assert_eq (copy->created, 1700000001.25);
    cr_assert (copy->traced);
    cr_assert_eq (copy->components_size, 4);
    cr_assert_str_eq (copy->components [0].name, "argv");
    cr_assert_str_eq (copy->components [0].digest, S_HEX_C);
    cr_assert_str_eq (copy->components [1].name, "env:PATH");
    cr_assert_str_eq (copy->components [2].name, "program");
    cr_assert_str_eq (copy->components [3].name, "traced:/etc/hosts");
    cr_assert_str_eq (copy->components [3].digest, S_HEX_A);
    //  A record without components, untraced, failed
    tm_cacherecord_t *bare = tm_cacherecord_new ();
    strcpy (bare->ident, S_HEX_A);
    strcpy (bare->key, S_HEX_A);
    bare->test_id = strdup ("t");
    bare->status = TM_STATUS_FAILED;
    bare->traced = false;
    char *bare_text = tm_cacherecord_encode (bare, &size);
    tm_cacherecord_t *bare_copy = tm_cacherecord_decode (bare_text, size, &err);
    cr_assert_not_null (bare_copy, "%s", err);
    cr_assert_not (bare_copy->traced);
    cr_assert_eq (bare_copy->status, TM_STATUS_FAILED);
    cr_assert_eq (bare_copy->components_size, 0);
    free (bare_text);
    free (text);
    tm_cacherecord_destroy (&bare);
    tm_cacherecord_destroy (&bare_copy);
    tm_cacherecord_destroy (&copy);
    tm_cacherecord_destroy (&record);
    cr_assert_null (record);
}

static void
s_record_refused (const char *text)
{
    char *err = NULL;
    tm_cacherecord_t *record = tm_cacherecord_decode (text, strlen (text), &err);
    cr_assert_null (record, "accepted: %.300s", text);
    cr_assert_not_null (err);
    free (err);
}

Test (cacheentry, record_decoder_refuses_bad_components)
{
    tm_cacherecord_t *record = s_record ();
    char *text = tm_cacherecord_encode (record, NULL);
    tm_cacherecord_destroy (&record);
    //  Replace the components with each bad list in turn
    char *at = strstr (text, "\"components\":");
    cr_assert_not_null (at);
    *at = 0;
    const char *bad [] = {
        "\"components\":{}}",
        "\"components\":[[\"argv\"]]}",
        "\"components\":[[\"argv\",\"" S_HEX_A "\",1]]}",
        "\"components\":[[\"\",\"" S_HEX_A "\"]]}",
        "\"components\":[[1,\"" S_HEX_A "\"]]}",
        "\"components\":[[\"argv\",\"" S_HEX_A "0\"]]}",
        "\"components\":[[\"argv\",\"ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789\"]]}",
        "\"components\":[{\"name\":\"argv\",\"digest\":\"" S_HEX_A "\"}]}",
        "\"components\":[[\"program\",\"" S_HEX_A "\"],[\"argv\",\"" S_HEX_A "\"]]}",
        "\"components\":[[\"argv\",\"" S_HEX_A "\"],[\"argv\",\"" S_HEX_A "\"]]}",
        "\"components\":null}",
        "}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        char *full = tm_strdupf ("%s%s", text, bad [i]);
        if (streq (bad [i], "}"))
            full [strlen (full) - 2] = '}', full [strlen (full) - 1] = 0;   //  Drop the comma
        s_record_refused (full);
        free (full);
    }
    //  Too many components
    size_t count = TM_CACHE_COMPONENTS_MAX + 1;
    size_t alloc = strlen (text) + 32 + count * 100;
    char *big = (char *) malloc (alloc);
    size_t off = (size_t) snprintf (big, alloc, "%s\"components\":[", text);
    for (size_t i = 0; i < count; i++)
        off += (size_t) snprintf (big + off, alloc - off, "%s[\"n%08zu\",\"%s\"]",
                                  i ? "," : "", i, S_HEX_A);
    snprintf (big + off, alloc - off, "]}");
    s_record_refused (big);
    free (big);
    //  An oversized name
    char *name = (char *) malloc (TM_CACHE_COMPONENT_NAME_MAX + 2);
    memset (name, 'n', TM_CACHE_COMPONENT_NAME_MAX + 1);
    name [TM_CACHE_COMPONENT_NAME_MAX + 1] = 0;
    char *long_name = tm_strdupf ("%s\"components\":[[\"%s\",\"%s\"]]}", text, name, S_HEX_A);
    s_record_refused (long_name);
    free (long_name);
    free (name);
    //  Traced must be a boolean
    char *traced = strstr (text, "\"traced\":true");
    cr_assert_not_null (traced);
    memcpy (traced, "\"traced\":1   ", 13);
    char *bad_traced = tm_strdupf ("%s\"components\":[]}", text);
    s_record_refused (bad_traced);
    free (bad_traced);
    free (text);
}

Test (cacheentry, tombstone_round_trips_verifies_and_has_a_stable_id, .init = s_keys)
{
    tm_cachetomb_t *tomb = tm_cachetomb_new ("net/*", 1700000100.0, "a2");
    tm_cachetomb_sign (tomb, s_sk);
    cr_assert (tm_cachetomb_verify (tomb));
    uint8_t id [32], id2 [32];
    tm_cachetomb_id (tomb, id);
    size_t size;
    char *text = tm_cachetomb_encode (tomb, &size);
    char *err = NULL;
    tm_cachetomb_t *copy = tm_cachetomb_decode (text, size, &err);
    cr_assert_not_null (copy, "%s", err);
    cr_assert_str_eq (copy->glob, "net/*");
    cr_assert_eq (copy->created, 1700000100.0);
    cr_assert_str_eq (copy->member, "a2");
    cr_assert (tm_cachetomb_verify (copy));
    tm_cachetomb_id (copy, id2);
    cr_assert_eq (memcmp (id, id2, 32), 0);
    //  Any change of a signed field breaks it, and changes the id
    copy->glob [0] = 'N';
    cr_assert_not (tm_cachetomb_verify (copy));
    tm_cachetomb_id (copy, id2);
    cr_assert_neq (memcmp (id, id2, 32), 0);
    copy->glob [0] = 'n';
    copy->created += 1;
    cr_assert_not (tm_cachetomb_verify (copy));
    copy->created -= 1;
    copy->member [0] = 'b';
    cr_assert_not (tm_cachetomb_verify (copy));
    copy->member [0] = 'a';
    cr_assert (tm_cachetomb_verify (copy));
    copy->sig [63] ^= 1;
    cr_assert_not (tm_cachetomb_verify (copy));
    //  An entry's signature is not a tombstone's (domain strings differ)
    free (text);
    tm_cachetomb_destroy (&copy);
    tm_cachetomb_destroy (&tomb);
    cr_assert_null (tomb);

    const char *bad [] = {
        "{\"glob\":\"\",\"created\":1,\"member\":\"a\",\"member_pk\":\"" S_HEX_A "\",\"sig\":\"" S_HEX_A S_HEX_A "\"}",
        "{\"glob\":\"x\",\"created\":-1,\"member\":\"a\",\"member_pk\":\"" S_HEX_A "\",\"sig\":\"" S_HEX_A S_HEX_A "\"}",
        "{\"glob\":\"x\",\"created\":1,\"member\":\"a\",\"member_pk\":\"" S_HEX_A "\",\"sig\":\"" S_HEX_A "\"}",
        "{\"glob\":\"x\",\"created\":1,\"member_pk\":\"" S_HEX_A "\",\"sig\":\"" S_HEX_A S_HEX_A "\"}",
        "{\"glob\":\"x\",\"created\":1,\"member\":\"a\",\"member_pk\":\"" S_HEX_A "\",\"sig\":\"" S_HEX_A S_HEX_A,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        cr_assert_null (tm_cachetomb_decode (bad [i], strlen (bad [i]), &err), "%s", bad [i]);
        cr_assert_not_null (err);
        free (err);
        err = NULL;
    }
    const char *good = "{\"glob\":\"x\",\"created\":1,\"member\":\"a\",\"member_pk\":\""
                       S_HEX_A "\",\"sig\":\"" S_HEX_A S_HEX_A "\"}";
    tomb = tm_cachetomb_decode (good, strlen (good), &err);
    cr_assert_not_null (tomb, "%s", err);
    cr_assert_not (tm_cachetomb_verify (tomb));     //  Decoding does not verify
    tm_cachetomb_destroy (&tomb);
}

Test (cacheentry, tombstone_covers_matching_tests_created_before_it)
{
    tm_cachetomb_t *tomb = tm_cachetomb_new ("net/*", 1000.0, "a1");
    cr_assert (tm_cachetomb_covers (tomb, "net/tcp", 999.0));
    cr_assert (tm_cachetomb_covers (tomb, "net/tcp/connect", 999.0), "'*' crosses '/'");
    cr_assert_not (tm_cachetomb_covers (tomb, "net/tcp", 1000.0), "not created before");
    cr_assert_not (tm_cachetomb_covers (tomb, "net/tcp", 1001.0));
    cr_assert_not (tm_cachetomb_covers (tomb, "parser/net/x", 1.0));
    cr_assert_not (tm_cachetomb_covers (tomb, "net", 1.0));
    tm_cachetomb_destroy (&tomb);
    tomb = tm_cachetomb_new ("*", 1000.0, "a1");
    cr_assert (tm_cachetomb_covers (tomb, "anything/at all", 0));
    tm_cachetomb_destroy (&tomb);
    tomb = tm_cachetomb_new ("parser/[ab]?", 1000.0, "a1");
    cr_assert (tm_cachetomb_covers (tomb, "parser/a1", 0));
    cr_assert_not (tm_cachetomb_covers (tomb, "parser/c1", 0));
    tm_cachetomb_destroy (&tomb);
}

Test (cacheentry, peek_reads_key_and_signer_of_the_encoder_layout_only, .init = s_keys)
{
    tm_cacheentry_t *entry = s_entry ();
    size_t size;
    char *text = tm_cacheentry_encode (entry, &size);
    char key [TM_CACHE_HEX];
    uint8_t pk [TM_CACHE_PK];
    cr_assert_eq (tm_cacheentry_peek (text, size, key, pk), 0);
    cr_assert_str_eq (key, S_HEX_A);
    cr_assert_eq (memcmp (pk, s_pk, TM_CACHE_PK), 0);
    //  Any other layout is refused: the caller decodes and verifies then
    cr_assert_neq (tm_cacheentry_peek (text, size - 1, key, pk), 0);
    cr_assert_neq (tm_cacheentry_peek (text + 1, size - 1, key, pk), 0);
    char *spaced = tm_strdupf ("{ %s", text + 1);
    cr_assert_neq (tm_cacheentry_peek (spaced, strlen (spaced), key, pk), 0);
    free (spaced);
    char *upper = strdup (text);
    char *at = strstr (upper, "\"member_pk\":\"") + 13;
    *at = 'G';
    cr_assert_neq (tm_cacheentry_peek (upper, size, key, pk), 0);
    free (upper);
    cr_assert_neq (tm_cacheentry_peek ("", 0, key, pk), 0);
    free (text);
    tm_cacheentry_destroy (&entry);
    //  Records: the identity at the head
    tm_cacherecord_t *record = s_record ();
    text = tm_cacherecord_encode (record, &size);
    char ident [TM_CACHE_HEX];
    cr_assert_eq (tm_cacherecord_peek (text, size, ident), 0);
    cr_assert_str_eq (ident, S_HEX_B);
    cr_assert_neq (tm_cacherecord_peek (text, size - 1, ident), 0);
    free (text);
    tm_cacherecord_destroy (&record);
}
