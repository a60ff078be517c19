/*  test_jsonstr.c - JSON strings read and written one at a time
    (tm_jsonstr): what is written reads back the same; the reader takes
    exactly what jansson takes (every escape, UTF-8 at its edges,
    surrogate pairs) and refuses the rest (truncated, bad escapes,
    invalid UTF-8, control characters), in place or not, never reading
    past its end. */
#include "tm_testutil.h"
#include "tm_jsonstr.h"
#include <jansson.h>

//  Reads TEXT (SIZE bytes, a JSON string with its quotes) into a new
//  buffer; returns 0 and the value in *VALUE_P (caller frees) and
//  *SIZE_P, -1 if refused, or 1 if a string ended before SIZE.  The
//  input is copied to a buffer of exactly SIZE bytes, so a read past its
//  end is caught by ASan.
static int
s_read (const char *text, size_t size, char **value_p, size_t *size_p)
{
    char *input = (char *) malloc (size ? size : 1);
    memcpy (input, text, size);
    char *out = (char *) malloc (size + 1);
    const char *p = input;
    int rc = tm_jsonstr_read (&p, input + size, out, size_p);
    if (rc == 0 && p != input + size)
        rc = 1;
    else
    if (rc != 0)
        cr_assert_eq (p, input, "a refused string leaves *p alone");
    free (input);
    if (rc == 0)
        *value_p = out;
    else
        free (out);
    return rc;
}

static void
s_reads_as (const char *text, const char *want, size_t want_size)
{
    char *value = NULL;
    size_t size = 0;
    cr_assert_eq (s_read (text, strlen (text), &value, &size), 0, "refused: %s", text);
    cr_assert_eq (size, want_size, "%s: size %zu, want %zu", text, size, want_size);
    cr_assert_eq (memcmp (value, want, size), 0, "%s: wrong bytes", text);
    cr_assert_eq (value [size], 0, "NUL-terminated");
    free (value);
}

static void
s_refused (const char *text, size_t size)
{
    char *value = NULL;
    size_t got;
    cr_assert_neq (s_read (text, size, &value, &got), 0, "accepted: %.*s", (int) size, text);
}

//  What jansson makes of TEXT as the only element of an array: 0 with
//  the string, or -1.
static int
s_jansson (const char *text, size_t size, char **value_p, size_t *size_p)
{
    char *doc = (char *) malloc (size + 2);
    doc [0] = '[';
    memcpy (doc + 1, text, size);
    doc [size + 1] = ']';
    json_t *json = json_loadb (doc, size + 2, 0, NULL);
    free (doc);
    json_t *string = json_array_get (json, 0);
    int rc = -1;
    if (json_is_string (string) && json_array_size (json) == 1) {
        *size_p = json_string_length (string);
        *value_p = (char *) malloc (*size_p + 1);
        memcpy (*value_p, json_string_value (string), *size_p + 1);
        rc = 0;
    }
    json_decref (json);
    return rc;
}

Test (jsonstr, plain_escaped_and_unicode_strings_decode)
{
    s_reads_as ("\"\"", "", 0);
    s_reads_as ("\"plain text\"", "plain text", 10);
    s_reads_as ("\"a\\\"b\\\\c\\/d\"", "a\"b\\c/d", 7);
    s_reads_as ("\"\\b\\f\\n\\r\\t\"", "\b\f\n\r\t", 5);
    s_reads_as ("\"\\u0041\\u00e9\\u20AC\"", "A\xc3\xa9\xe2\x82\xac", 6);
    //  A surrogate pair is one code point, U+1F600
    s_reads_as ("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4);
    //  Raw UTF-8 at the edges of each length
    s_reads_as ("\"\xc2\x80\xdf\xbf\"", "\xc2\x80\xdf\xbf", 4);
    s_reads_as ("\"\xe0\xa0\x80\xef\xbf\xbf\"", "\xe0\xa0\x80\xef\xbf\xbf", 6);
    s_reads_as ("\"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"", "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", 8);
    s_reads_as ("\"\x7f\"", "\x7f", 1);
}

Test (jsonstr, truncated_strings_are_refused)
{
    const char *cases [] = { "", "\"", "\"abc", "\"abc\\", "\"abc\\\"", "\"\\u", "\"\\u00",
                             "\"\\u0041", "\"\\ud83d\\ude0", "\"\xc3", "\"\xe2\x82",
                             "\"\xf0\x9f\x98", "abc\"" };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++)
        s_refused (cases [i], strlen (cases [i]));
    //  A value cut short by END inside a longer buffer: never read past it
    const char *whole = "\"abcdef\"";
    for (size_t size = 0; size < strlen (whole); size++)
        s_refused (whole, size);
}

Test (jsonstr, bad_escapes_are_refused)
{
    const char *cases [] = { "\"\\x\"", "\"\\a\"", "\"\\U0041\"", "\"\\'\"", "\"\\u12G4\"",
                             "\"\\u-123\"", "\"\\u0000\"", "\"a\\u0000b\"",
                             //  Lone surrogates, and pairs in the wrong order
                             "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800x\"", "\"\\ud800\\u0041\"",
                             "\"\\ude00\\ud83d\"", "\"\\ud800\\ud800\"", "\"\\ud800\\n\"" };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++)
        s_refused (cases [i], strlen (cases [i]));
}

Test (jsonstr, invalid_utf8_and_control_characters_are_refused)
{
    const char *cases [] = {
        "\"\x80\"", "\"\xbf\"",                         //  A lone continuation byte
        "\"\xc0\x80\"", "\"\xc1\xbf\"",                 //  Overlong 2-byte forms
        "\"\xe0\x80\x80\"", "\"\xe0\x9f\xbf\"",         //  Overlong 3-byte forms
        "\"\xed\xa0\x80\"", "\"\xed\xbf\xbf\"",         //  Surrogates in UTF-8
        "\"\xf0\x80\x80\x80\"", "\"\xf0\x8f\xbf\xbf\"", //  Overlong 4-byte forms
        "\"\xf4\x90\x80\x80\"", "\"\xf5\x80\x80\x80\"", //  Past U+10FFFF
        "\"\xff\"", "\"\xfe\"",
        "\"\xc3\x28\"", "\"\xe2\x28\xa1\"",             //  A continuation that is not
        "\"\x01\"", "\"\x1f\"", "\"a\nb\"", "\"\t\"",   //  Raw control characters
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++)
        s_refused (cases [i], strlen (cases [i]));
    //  A raw NUL, which strlen cannot carry
    s_refused ("\"a\0b\"", 5);
}

Test (jsonstr, decodes_in_place)
{
    char text [] = "\"x\\\"y\\u00e9\\ud83d\\ude00z\"";
    const char *p = text;
    size_t size;
    cr_assert_eq (tm_jsonstr_read (&p, text + strlen (text), text + 1, &size), 0);
    cr_assert_eq (size, 10);
    cr_assert_eq (memcmp (text + 1, "x\"y\xc3\xa9\xf0\x9f\x98\x80z", 10), 0);
    cr_assert_eq (p, text + strlen ("\"x\\\"y\\u00e9\\ud83d\\ude00z\""));
}

Test (jsonstr, written_strings_read_back_and_cost_what_they_take)
{
    const char *values [] = { "", "plain", "{\"key\":\"v\\\\\"}", "tab\there\nand \x01\x1f",
                              "caf\xc3\xa9 \xf0\x9f\x98\x80", "\x7f" };
    for (size_t i = 0; i < sizeof values / sizeof values [0]; i++) {
        size_t size = strlen (values [i]);
        cr_assert (tm_jsonstr_writable (values [i], size));
        size_t cost = tm_jsonstr_cost (values [i], size);
        char *text = (char *) malloc (cost);
        char *end = tm_jsonstr_write (text, values [i], size);
        cr_assert_eq ((size_t) (end - text), cost, "cost of value %zu", i);
        char *back = NULL;
        size_t back_size;
        cr_assert_eq (s_read (text, cost, &back, &back_size), 0, "value %zu", i);
        cr_assert_eq (back_size, size);
        cr_assert_eq (memcmp (back, values [i], size), 0);
        //  jansson reads it the same
        char *theirs = NULL;
        size_t their_size;
        cr_assert_eq (s_jansson (text, cost, &theirs, &their_size), 0);
        cr_assert_eq (their_size, size);
        cr_assert_eq (memcmp (theirs, values [i], size), 0);
        free (theirs);
        free (back);
        free (text);
    }
    //  Not writable: invalid UTF-8, a NUL
    cr_assert_not (tm_jsonstr_writable ("\xc3", 1));
    cr_assert_not (tm_jsonstr_writable ("\xed\xa0\x80", 3));
    cr_assert_not (tm_jsonstr_writable ("a\0b", 3));
}

Test (jsonstr, skip_matches_a_literal_or_leaves_p_alone)
{
    const char *text = "null,";
    const char *p = text;
    cr_assert (tm_jsonstr_skip (&p, text + 5, "null"));
    cr_assert_eq (p, text + 4);
    cr_assert_not (tm_jsonstr_skip (&p, text + 5, ",\"q\""));
    cr_assert_eq (p, text + 4);
    p = text;
    cr_assert_not (tm_jsonstr_skip (&p, text + 3, "null"), "END cuts the literal");
    cr_assert_eq (p, text);
}

//  Random strings from an alphabet of the bytes that matter, each read
//  by both: the same verdict, and the same bytes when taken.
Test (jsonstr, agrees_with_jansson_on_random_strings)
{
    static const char *pieces [] = {
        "a", "Z", " ", "\"", "\\", "\\\"", "\\\\", "\\/", "\\n", "\\t", "\\b", "\\f", "\\r",
        "\\u", "\\u0041", "\\u00e9", "\\u0000", "\\ud83d", "\\ude00", "\\uD83D", "\\uDE00",
        "\\uFFFF", "\\u12", "\\x", "0", "f", "G", "\x01", "\x1f", "\x7f", "\x80", "\xbf",
        "\xc2", "\xc3\xa9", "\xe0", "\xe0\xa0", "\xe2\x82\xac", "\xed", "\xed\xa0\x80",
        "\xf0\x9f\x98\x80", "\xf4\x90", "\xf5", "\xff",
    };
    const size_t count = sizeof pieces / sizeof pieces [0];
    srand (5);
    for (int round = 0; round < 20000; round++) {
        char text [256];
        size_t size = 0;
        text [size++] = '"';
        int length = rand () % 8;
        for (int i = 0; i < length; i++) {
            const char *piece = pieces [rand () % count];
            memcpy (text + size, piece, strlen (piece));
            size += strlen (piece);
        }
        if (rand () % 8)
            text [size++] = '"';
        char *ours = NULL, *theirs = NULL;
        size_t our_size = 0, their_size = 0;
        int our_rc = s_read (text, size, &ours, &our_size) == 0 ? 0 : -1;
        int their_rc = s_jansson (text, size, &theirs, &their_size);
        cr_assert_eq (our_rc, their_rc, "verdicts differ (ours %d) on %.*s", our_rc,
                      (int) size, text);
        if (our_rc == 0) {
            cr_assert_eq (our_size, their_size, "sizes differ on %.*s", (int) size, text);
            cr_assert_eq (memcmp (ours, theirs, our_size), 0, "bytes differ on %.*s",
                          (int) size, text);
        }
        free (ours);
        free (theirs);
    }
}
