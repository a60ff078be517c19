/*  test_cachemsg.c - the result cache's peer messages (tm_cachemsg): the
    layout the cache actors write is read without jansson, anything else
    through it, both to the same message; every malformed message
    (truncated, bad escapes, invalid UTF-8, wrong counts and types, extra
    bytes) is refused, never read past its end, and agrees with jansson's
    verdict. */
#include "tm_testutil.h"
#include "tm_cachemsg.h"
#include <jansson.h>

#define S_KEY_A "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"
#define S_KEY_B "1111111111111111111111111111111111111111111111111111111111111111"
//  A value as the cache holds them: JSON, so escaped inside a message
#define S_VALUE "{\\\"key\\\":\\\"k\\\",\\\"test_id\\\":\\\"caf\\u00e9/\xc3\xa9\\\\n\\\"}"
#define S_VALUE_DECODED "{\"key\":\"k\",\"test_id\":\"caf\xc3\xa9/\xc3\xa9\\n\"}"

//  Decodes SIZE bytes of TEXT from a buffer of exactly that size (ASan
//  catches a read past it).
static tm_cachemsg_t *
s_decode_n (const char *text, size_t size)
{
    char *copy = (char *) malloc (size ? size : 1);
    memcpy (copy, text, size);
    tm_cachemsg_t *msg = tm_cachemsg_decode (copy, size);
    free (copy);
    return msg;
}

static tm_cachemsg_t *
s_decode (const char *text)
{
    return s_decode_n (text, strlen (text));
}

static void
s_refused (const char *text)
{
    tm_cachemsg_t *msg = s_decode (text);
    cr_assert_null (msg, "accepted: %s", text);
}

static void
s_value_is (const tm_cachemsg_item_t *item, const char *want)
{
    cr_assert_not_null (item->value);
    cr_assert_eq (item->size, strlen (want));
    cr_assert_str_eq (item->value, want);
}

Test (cachemsg, got_in_the_writers_layout_is_read_fast)
{
    //  Decoded in place here, not from a copy: the json spans point into
    //  the payload, which must outlive them
    const char *payload = "{\"t\":\"got\",\"q\":42,\"vals\":[\"" S_VALUE "\",null,false]}";
    tm_cachemsg_t *msg = tm_cachemsg_decode (payload, strlen (payload));
    cr_assert_not_null (msg);
    cr_assert (msg->fast);
    cr_assert_eq (msg->type, TM_CACHEMSG_GOT);
    cr_assert (msg->has_q);
    cr_assert_eq (msg->q, 42);
    cr_assert_eq (msg->count, 3);
    s_value_is (&msg->items [0], S_VALUE_DECODED);
    //  ... and as it stood in the message, to be passed on as it is
    const char *json = "\"" S_VALUE "\"";
    cr_assert_eq (msg->items [0].json, strstr (payload, json));
    cr_assert_eq (msg->items [0].json_size, strlen (json));
    cr_assert_null (msg->items [1].value);
    cr_assert_not (msg->items [1].left_out);
    cr_assert_null (msg->items [2].value);
    cr_assert (msg->items [2].left_out);
    tm_cachemsg_destroy (&msg);
    cr_assert_null (msg);
    tm_cachemsg_destroy (&msg);         //  Idempotent
    msg = s_decode ("{\"t\":\"got\",\"q\":0,\"vals\":[]}");
    cr_assert (msg && msg->fast && msg->count == 0 && msg->q == 0);
    tm_cachemsg_destroy (&msg);
}

Test (cachemsg, get_and_put_in_the_writers_layout_are_read_fast)
{
    tm_cachemsg_t *msg = s_decode ("{\"t\":\"get\",\"q\":7,\"k\":\"record\",\"keys\":[\""
                                   S_KEY_A "\",\"" S_KEY_B "\"]}");
    cr_assert (msg && msg->fast);
    cr_assert_eq (msg->type, TM_CACHEMSG_GET);
    cr_assert_eq (msg->q, 7);
    cr_assert_eq (msg->kind, TM_CACHEDB_RECORD);
    cr_assert_eq (msg->count, 2);
    cr_assert_eq (msg->items [0].key [0], 0x0e);
    cr_assert_eq (msg->items [1].key [31], 0x11);
    tm_cachemsg_destroy (&msg);

    msg = s_decode ("{\"t\":\"put\",\"k\":\"entry\",\"items\":[[\"" S_KEY_A "\",\"" S_VALUE
                    "\"],[\"" S_KEY_B "\",\"x\"]]}");
    cr_assert (msg && msg->fast);
    cr_assert_eq (msg->type, TM_CACHEMSG_PUT);
    cr_assert_eq (msg->kind, TM_CACHEDB_ENTRY);
    cr_assert_not (msg->has_q);
    cr_assert_eq (msg->count, 2);
    cr_assert_eq (msg->items [0].key [1], 0x57);
    s_value_is (&msg->items [0], S_VALUE_DECODED);
    s_value_is (&msg->items [1], "x");
    tm_cachemsg_destroy (&msg);

    msg = s_decode ("{\"t\":\"put\",\"k\":\"entry\",\"items\":[[\"" S_KEY_A "\",\"x\"]],\"q\":9}");
    cr_assert (msg && msg->fast && msg->has_q && msg->q == 9 && msg->count == 1);
    tm_cachemsg_destroy (&msg);
}

Test (cachemsg, any_other_layout_is_read_by_jansson_to_the_same_message)
{
    tm_cachemsg_t *msg = s_decode (" { \"vals\" : [ \"" S_VALUE "\" , null ] , \"q\" : 42, "
                                   "\"t\" : \"got\" }\n");
    cr_assert (msg && !msg->fast);
    cr_assert_eq (msg->type, TM_CACHEMSG_GOT);
    cr_assert_eq (msg->q, 42);
    cr_assert_eq (msg->count, 2);
    s_value_is (&msg->items [0], S_VALUE_DECODED);
    cr_assert_null (msg->items [1].value);
    tm_cachemsg_destroy (&msg);
    //  An escaped key, or an escaped '/', is out of the layout too
    msg = s_decode ("{\"t\":\"get\",\"q\":7,\"k\":\"entry\",\"keys\":[\"\\u0030e5751c026e543b2e8"
                    "ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8\"]}");
    cr_assert (msg && !msg->fast && msg->count == 1 && msg->items [0].key [0] == 0x0e);
    tm_cachemsg_destroy (&msg);
    //  Small messages: always jansson
    msg = s_decode ("{\"t\":\"ack\",\"q\":3}");
    cr_assert (msg && msg->type == TM_CACHEMSG_ACK && msg->q == 3);
    tm_cachemsg_destroy (&msg);
    msg = s_decode ("{\"t\":\"tomb\",\"tombs\":[\"a\"]}");
    cr_assert (msg && msg->type == TM_CACHEMSG_TOMB && json_is_array (json_object_get (msg->json, "tombs")));
    tm_cachemsg_destroy (&msg);
    msg = s_decode ("{\"t\":\"stat\",\"q\":3,\"s\":{\"name\":\"a1\"}}");
    cr_assert (msg && msg->type == TM_CACHEMSG_STAT && msg->q == 3);
    tm_cachemsg_destroy (&msg);
    msg = s_decode ("{\"t\":\"stats\",\"q\":3}");
    cr_assert (msg && msg->type == TM_CACHEMSG_STATS);
    tm_cachemsg_destroy (&msg);
}

Test (cachemsg, truncated_messages_are_refused_at_every_length)
{
    const char *whole [] = {
        "{\"t\":\"got\",\"q\":42,\"vals\":[\"" S_VALUE "\",null,false]}",
        "{\"t\":\"get\",\"q\":7,\"k\":\"entry\",\"keys\":[\"" S_KEY_A "\"]}",
        "{\"t\":\"put\",\"k\":\"entry\",\"items\":[[\"" S_KEY_A "\",\"" S_VALUE "\"]],\"q\":9}",
    };
    for (size_t m = 0; m < sizeof whole / sizeof whole [0]; m++)
        for (size_t size = 0; size < strlen (whole [m]); size++) {
            tm_cachemsg_t *msg = s_decode_n (whole [m], size);
            cr_assert_null (msg, "message %zu accepted cut at %zu", m, size);
        }
}

Test (cachemsg, bad_strings_in_values_are_refused)
{
    const char *values [] = {
        "\\x", "\\u12G4", "\\u0000", "\\ud800", "\\udc00x",     //  Bad escapes
        "\xc3", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff",   //  Invalid UTF-8
        "a\nb", "\x01",                                          //  Control characters
    };
    for (size_t i = 0; i < sizeof values / sizeof values [0]; i++) {
        char text [256];
        snprintf (text, sizeof text, "{\"t\":\"got\",\"q\":1,\"vals\":[null,\"%s\"]}", values [i]);
        s_refused (text);
        snprintf (text, sizeof text, "{\"t\":\"put\",\"k\":\"entry\",\"items\":[[\"%s\",\"%s\"]]}",
                  S_KEY_A, values [i]);
        s_refused (text);
    }
}

Test (cachemsg, wrong_types_counts_and_extra_bytes_are_refused)
{
    const char *cases [] = {
        "", "null", "[]", "{}", "\"got\"", "{\"t\":7}", "{\"t\":\"gots\",\"q\":1,\"vals\":[]}",
        //  Extra bytes after the object
        "{\"t\":\"got\",\"q\":1,\"vals\":[]}x", "{\"t\":\"got\",\"q\":1,\"vals\":[]}{}",
        //  q: missing, negative, not an integer
        "{\"t\":\"got\",\"vals\":[]}", "{\"t\":\"got\",\"q\":-1,\"vals\":[]}",
        "{\"t\":\"got\",\"q\":1.5,\"vals\":[]}", "{\"t\":\"got\",\"q\":\"1\",\"vals\":[]}",
        "{\"t\":\"ack\"}", "{\"t\":\"stats\",\"q\":null}",
        //  vals of another type
        "{\"t\":\"got\",\"q\":1,\"vals\":[true]}", "{\"t\":\"got\",\"q\":1,\"vals\":[1]}",
        "{\"t\":\"got\",\"q\":1,\"vals\":[[]]}", "{\"t\":\"got\",\"q\":1,\"vals\":{}}",
        "{\"t\":\"got\",\"q\":1,\"vals\":[null,]}", "{\"t\":\"got\",\"q\":1,\"vals\":[,null]}",
        //  A get: kind, keys
        "{\"t\":\"get\",\"q\":1,\"k\":\"blob\",\"keys\":[]}",
        "{\"t\":\"get\",\"q\":1,\"keys\":[]}",
        "{\"t\":\"get\",\"q\":1,\"k\":\"entry\",\"keys\":[\"abc\"]}",
        "{\"t\":\"get\",\"q\":1,\"k\":\"entry\",\"keys\":[\"" S_KEY_A "0\"]}",
        "{\"t\":\"get\",\"q\":1,\"k\":\"entry\",\"keys\":[\"0E5751C026E543B2E8AB2EB06099DAA1D1E5DF47778F"
        "7787FAAB45CDF12FE3A8\"]}",
        "{\"t\":\"get\",\"q\":1,\"k\":\"entry\",\"keys\":[1]}",
        //  A put: kind, items
        "{\"t\":\"put\",\"k\":\"entry\",\"items\":{}}", "{\"t\":\"put\",\"items\":[]}",
        "{\"t\":\"put\",\"k\":\"entry\",\"items\":[],\"q\":-2}",
        //  tomb, stat
        "{\"t\":\"tomb\",\"tombs\":\"a\"}", "{\"t\":\"stat\",\"q\":1,\"s\":{}}",
        "{\"t\":\"stat\",\"q\":1,\"s\":[]}",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++)
        s_refused (cases [i]);
    //  A NUL after the object, which strlen would hide
    const char text [] = "{\"t\":\"got\",\"q\":1,\"vals\":[]}\0";
    cr_assert_null (s_decode_n (text, sizeof text - 1));
}

Test (cachemsg, a_get_of_more_than_512_keys_is_refused)
{
    for (int count = 512; count <= 513; count++) {
        size_t size = 64 + (size_t) count * 67;
        char *text = (char *) malloc (size);
        char *p = text + sprintf (text, "{\"t\":\"get\",\"q\":1,\"k\":\"entry\",\"keys\":[");
        for (int i = 0; i < count; i++)
            p += sprintf (p, "%s\"%s\"", i ? "," : "", S_KEY_A);
        strcpy (p, "]}");
        tm_cachemsg_t *msg = s_decode (text);
        if (count == 512)
            cr_assert (msg && msg->fast && msg->count == 512);
        else
            cr_assert_null (msg, "513 keys accepted");
        tm_cachemsg_destroy (&msg);
        free (text);
    }
}

Test (cachemsg, a_bad_item_of_a_put_is_marked_and_the_rest_kept)
{
    tm_cachemsg_t *msg = s_decode ("{\"t\":\"put\",\"k\":\"entry\",\"items\":[[\"" S_KEY_A "\",\"x\"],"
                                   "[\"" S_KEY_A "\",\"x\",\"y\"],[1,\"x\"],[\"zz\",\"x\"],"
                                   "[\"" S_KEY_B "\",null],[\"" S_KEY_B "\",\"y\"]],\"q\":3}");
    cr_assert (msg && !msg->fast);
    cr_assert_eq (msg->count, 6);
    s_value_is (&msg->items [0], "x");
    for (int i = 1; i < 5; i++)
        cr_assert_null (msg->items [i].value, "item %d", i);
    s_value_is (&msg->items [5], "y");
    cr_assert (msg->has_q && msg->q == 3);
    tm_cachemsg_destroy (&msg);
}

//  What jansson alone makes of TEXT as a got: 0 and its tree, or -1.
static int
s_jansson_got (const char *text, size_t size, json_t **tree_p)
{
    json_t *json = json_loadb (text, size, 0, NULL);
    json_t *q = json_object_get (json, "q"), *vals = json_object_get (json, "vals");
    const char *type = json_string_value (json_object_get (json, "t"));
    bool ok = type && streq (type, "got") && json_is_integer (q) && json_integer_value (q) >= 0
           && json_is_array (vals);
    size_t i;
    json_t *val;
    json_array_foreach (vals, i, val)
        ok = ok && (json_is_string (val) || json_is_null (val) || json_is_false (val));
    if (!ok) {
        json_decref (json);
        return -1;
    }
    *tree_p = json;
    return 0;
}

//  Mutations of a got (a byte changed, removed or put in, among the
//  bytes that matter): whatever the decoder takes, jansson takes the
//  same, value for value; whatever it refuses, jansson refuses.
Test (cachemsg, agrees_with_jansson_on_mutated_gots)
{
    const char *base = "{\"t\":\"got\",\"q\":42,\"vals\":[\"a\\\"b\\u00e9\xc3\xa9\\ud83d\\ude00\","
                       "null,false,\"\"]}";
    const char bytes [] = "\"\\,[]{}:0a\x01\x7f\x80\xc3\xa9\xed\xf0 nulfase";
    size_t base_size = strlen (base);
    srand (7);
    for (int round = 0; round < 20000; round++) {
        char text [256];
        memcpy (text, base, base_size);
        size_t size = base_size;
        for (int edits = 1 + rand () % 3; edits > 0; edits--) {
            size_t at = (size_t) rand () % size;
            char byte = bytes [rand () % (sizeof bytes - 1)];
            int how = rand () % 3;
            if (how == 0)
                text [at] = byte;
            else
            if (how == 1 && size > 1) {
                memmove (text + at, text + at + 1, size - at - 1);
                size--;
            }
            else
            if (size < sizeof text - 1) {
                memmove (text + at + 1, text + at, size - at);
                text [at] = byte;
                size++;
            }
        }
        tm_cachemsg_t *msg = s_decode_n (text, size);
        json_t *tree = NULL;
        int theirs = s_jansson_got (text, size, &tree);
        bool ours_got = msg && msg->type == TM_CACHEMSG_GOT;
        cr_assert_eq (ours_got, theirs == 0, "verdicts differ (ours %d) on %.*s", ours_got,
                      (int) size, text);
        if (ours_got) {
            json_t *vals = json_object_get (tree, "vals");
            cr_assert_eq (msg->q, (uint64_t) json_integer_value (json_object_get (tree, "q")));
            cr_assert_eq (msg->count, json_array_size (vals));
            for (size_t i = 0; i < msg->count; i++) {
                json_t *val = json_array_get (vals, i);
                const tm_cachemsg_item_t *item = &msg->items [i];
                cr_assert_eq (item->left_out, json_is_false (val));
                cr_assert_eq (item->value != NULL, json_is_string (val));
                if (item->value) {
                    cr_assert_eq (item->size, json_string_length (val));
                    cr_assert_eq (memcmp (item->value, json_string_value (val), item->size), 0,
                                  "values differ on %.*s", (int) size, text);
                }
            }
        }
        json_decref (tree);
        tm_cachemsg_destroy (&msg);
    }
}
