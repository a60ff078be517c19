/*  tm_jsonstr.c - JSON strings, read and written one at a time: see the
    header.

    Both directions spend their time in runs of plain bytes (printable
    ASCII but '"' and '\'), which are found eight bytes at a time (a
    word, with the bit tricks below) and copied with one memmove each;
    only the bytes that end a run (a quote, an escape, a control
    character, a UTF-8 sequence) are looked at one by one.
    UTF-8 is checked as jansson checks it (utf8.c there): a lead byte
    C2..F4 and continuation bytes, with the second byte of E0, ED, F0 and
    F4 bounded so that overlong forms, surrogates and code points past
    U+10FFFF are refused.
*/
#include "tm_jsonstr.h"

//  S_PLAIN [c]: c stands for itself inside a JSON string, and needs no
//  check (printable ASCII but '"' and '\').
static const uint8_t S_PLAIN [256] = {
    //  0x00 .. 0x1f: control characters
    [0x20] = 1, [0x21] = 1, /* 0x22 '"' */ [0x23] = 1, [0x24] = 1, [0x25] = 1,
    [0x26] = 1, [0x27] = 1, [0x28] = 1, [0x29] = 1, [0x2a] = 1, [0x2b] = 1,
    [0x2c] = 1, [0x2d] = 1, [0x2e] = 1, [0x2f] = 1,
    [0x30 ... 0x5b] = 1, /* 0x5c '\' */ [0x5d ... 0x7f] = 1
    //  0x80 .. 0xff: UTF-8 sequences, checked
};

//  Word-at-a-time tests: each returns the high bit of every byte of
//  WORD that passes, and nothing else (no carry crosses a byte: each
//  sum stays below 0x100).
#define S_ONES      0x0101010101010101ULL
#define S_HIGHS     0x8080808080808080ULL
#define S_LOWS      0x7f7f7f7f7f7f7f7fULL

//  Bytes equal to BYTE
static inline uint64_t
s_bytes_equal (uint64_t word, unsigned char byte)
{
    uint64_t t = word ^ (S_ONES * byte);
    return ~(((t & S_LOWS) + S_LOWS) | t) & S_HIGHS;
}

//  Bytes below 0x20 (control characters)
static inline uint64_t
s_bytes_control (uint64_t word)
{
    return ~(((word & S_LOWS) + S_ONES * 0x60) | word) & S_HIGHS;
}

//  Bytes that a writer escapes: '"', '\\', control characters
static inline uint64_t
s_bytes_escaped (uint64_t word)
{
    return s_bytes_control (word) | s_bytes_equal (word, '"') | s_bytes_equal (word, '\\');
}

//  The 8 bytes at S as a word, whatever their alignment
static inline uint64_t
s_word (const unsigned char *s)
{
    uint64_t word;
    memcpy (&word, s, sizeof word);
    return word;
}

//  The index in its word of the first byte marked in MASK (not 0), in
//  memory order.
static inline size_t
s_first (uint64_t mask)
{
#if defined (__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return (size_t) __builtin_clzll (mask) / 8;
#else
    return (size_t) __builtin_ctzll (mask) / 8;
#endif
}

//  The end of the run of plain bytes (S_PLAIN) from S, before END
static inline const unsigned char *
s_plain_run (const unsigned char *s, const unsigned char *end)
{
    while (end - s >= 8) {
        uint64_t word = s_word (s);
        uint64_t stops = s_bytes_escaped (word) | (word & S_HIGHS);
        if (stops)
            return s + s_first (stops);
        s += 8;
    }
    while (s < end && S_PLAIN [*s])
        s++;
    return s;
}

//  The length of the valid UTF-8 sequence of more than one byte at S
//  (before END), or 0 if there is none.
static size_t
s_utf8_sequence (const unsigned char *s, const unsigned char *end)
{
    unsigned char c = s [0];
    size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
             : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (n == 0 || (size_t) (end - s) < n)
        return 0;
    unsigned char c1 = s [1];
    if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 > 0x9f)
    ||  (c == 0xf0 && c1 < 0x90) || (c == 0xf4 && c1 > 0x8f))
        return 0;
    for (size_t k = 1; k < n; k++)
        if ((s [k] & 0xc0) != 0x80)
            return 0;
    return n;
}

//  The value of the 4 hex digits at S (either case), or -1.
static long
s_hex4 (const unsigned char *s)
{
    long value = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = s [i];
        int digit = c >= '0' && c <= '9' ? c - '0'
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (digit < 0)
            return -1;
        value = value << 4 | digit;
    }
    return value;
}

//  Reads the \u escape at S (its backslash; before END) into *CODE: one
//  \uXXXX, or a surrogate pair of two.  Returns the bytes it took, or 0
//  if malformed (a lone surrogate, \u0000, a bad digit, truncated).
static size_t
s_unicode_escape (const unsigned char *s, const unsigned char *end, unsigned long *code)
{
    if (end - s < 6)
        return 0;
    long first = s_hex4 (s + 2);
    if (first <= 0 || (first >= 0xdc00 && first <= 0xdfff))
        return 0;
    if (first < 0xd800 || first > 0xdbff) {
        *code = (unsigned long) first;
        return 6;
    }
    if (end - s < 12 || s [6] != '\\' || s [7] != 'u')
        return 0;
    long second = s_hex4 (s + 8);
    if (second < 0xdc00 || second > 0xdfff)
        return 0;
    *code = 0x10000 + (((unsigned long) first - 0xd800) << 10) + ((unsigned long) second - 0xdc00);
    return 12;
}

//  Writes CODE (1 .. 0x10ffff, not a surrogate) as UTF-8 at TO; returns
//  the end.
static char *
s_utf8_put (char *to, unsigned long code)
{
    if (code < 0x80)
        *to++ = (char) code;
    else
    if (code < 0x800) {
        *to++ = (char) (0xc0 | code >> 6);
        *to++ = (char) (0x80 | (code & 0x3f));
    }
    else
    if (code < 0x10000) {
        *to++ = (char) (0xe0 | code >> 12);
        *to++ = (char) (0x80 | (code >> 6 & 0x3f));
        *to++ = (char) (0x80 | (code & 0x3f));
    }
    else {
        *to++ = (char) (0xf0 | code >> 18);
        *to++ = (char) (0x80 | (code >> 12 & 0x3f));
        *to++ = (char) (0x80 | (code >> 6 & 0x3f));
        *to++ = (char) (0x80 | (code & 0x3f));
    }
    return to;
}

int
tm_jsonstr_read (const char **p, const char *end, char *out, size_t *size_p)
{
    assert (p && *p && end && out && size_p);
    const unsigned char *from = (const unsigned char *) *p;
    const unsigned char *stop = (const unsigned char *) end;
    if (from >= stop || *from != '"')
        return -1;
    from++;
    char *to = out;
    while (true) {
        const unsigned char *run = s_plain_run (from, stop);
        if (run > from) {
            //  Overlapping when in place: TO never passes FROM
            memmove (to, from, (size_t) (run - from));
            to += run - from;
            from = run;
        }
        if (from >= stop)
            return -1;                  //  No closing quote
        unsigned char c = *from;
        if (c == '"')
            break;
        if (c < 0x20)
            return -1;                  //  A raw control character
        if (c >= 0x80) {
            size_t n = s_utf8_sequence (from, stop);
            if (n == 0)
                return -1;
            memmove (to, from, n);
            to += n;
            from += n;
            continue;
        }
        //  A backslash
        if (stop - from < 2)
            return -1;
        char plain = 0;
        switch (from [1]) {
            case '"':  plain = '"'; break;
            case '\\': plain = '\\'; break;
            case '/':  plain = '/'; break;
            case 'b':  plain = '\b'; break;
            case 'f':  plain = '\f'; break;
            case 'n':  plain = '\n'; break;
            case 'r':  plain = '\r'; break;
            case 't':  plain = '\t'; break;
            case 'u': {
                unsigned long code;
                size_t n = s_unicode_escape (from, stop, &code);
                if (n == 0)
                    return -1;
                to = s_utf8_put (to, code);
                from += n;
                continue;
            }
            default:
                return -1;
        }
        *to++ = plain;
        from += 2;
    }
    *to = 0;
    *size_p = (size_t) (to - out);
    *p = (const char *) from + 1;
    return 0;
}

int
tm_jsonstr_list (const char **p, const char *end, char *out, tm_jsonstr_elem_t **elems_p,
                 size_t *count_p)
{
    assert (p && *p && end && out && elems_p && count_p);
    const char *at = *p;
    tm_jsonstr_elem_t *elems = NULL;
    size_t count = 0, alloc = 0;
    *elems_p = NULL;
    if (!tm_jsonstr_skip (&at, end, "["))
        return -1;
    while (!tm_jsonstr_skip (&at, end, "]")) {
        if (count && !tm_jsonstr_skip (&at, end, ","))
            goto fail;
        if (count == alloc) {
            alloc = alloc ? 2 * alloc : 64;
            elems = (tm_jsonstr_elem_t *) realloc (elems, alloc * sizeof *elems);
            assert (elems);
        }
        tm_jsonstr_elem_t *elem = &elems [count++];
        memset (elem, 0, sizeof *elem);
        if (tm_jsonstr_skip (&at, end, "null"))
            continue;
        if (tm_jsonstr_skip (&at, end, "false")) {
            elem->is_false = true;
            continue;
        }
        elem->json = at;
        if (tm_jsonstr_read (&at, end, out, &elem->size) != 0)
            goto fail;
        elem->json_size = (size_t) (at - elem->json);
        elem->value = out;
        out += elem->size + 1;
    }
    *elems_p = elems;
    *count_p = count;
    *p = at;
    return 0;
fail:
    free (elems);
    return -1;
}

bool
tm_jsonstr_skip (const char **p, const char *end, const char *literal)
{
    assert (p && *p && end && literal);
    size_t size = strlen (literal);
    if ((size_t) (end - *p) < size || memcmp (*p, literal, size) != 0)
        return false;
    *p += size;
    return true;
}

bool
tm_jsonstr_writable (const char *value, size_t size)
{
    assert (value || size == 0);
    const unsigned char *s = (const unsigned char *) value, *end = s + size;
    while (s < end) {
        if (end - s >= 8) {
            uint64_t word = s_word (s);
            if (!((word & S_HIGHS) | s_bytes_equal (word, 0))) {
                s += 8;             //  ASCII, no NUL
                continue;
            }
        }
        if (*s == 0)
            return false;
        if (*s < 0x80) {
            s++;
            continue;
        }
        size_t n = s_utf8_sequence (s, end);
        if (n == 0)
            return false;
        s += n;
    }
    return true;
}

size_t
tm_jsonstr_cost (const char *value, size_t size)
{
    assert (value || size == 0);
    const unsigned char *s = (const unsigned char *) value;
    size_t cost = size + 2, i = 0;
    for (; i + 8 <= size; i += 8) {
        uint64_t word = s_word (s + i);
        uint64_t control = s_bytes_control (word);
        uint64_t quoted = s_bytes_equal (word, '"') | s_bytes_equal (word, '\\');
        if (control | quoted)
            cost += (size_t) __builtin_popcountll (quoted)
                  + 5 * (size_t) __builtin_popcountll (control);
    }
    for (; i < size; i++) {
        unsigned char c = s [i];
        if (c == '"' || c == '\\')
            cost++;
        else
        if (c < 0x20)
            cost += 5;                  //  \u00XX
    }
    return cost;
}

char *
tm_jsonstr_write (char *to, const char *value, size_t size)
{
    assert (to && (value || size == 0));
    static const char digits [] = "0123456789abcdef";
    const unsigned char *from = (const unsigned char *) value, *end = from + size;
    *to++ = '"';
    while (from < end) {
        const unsigned char *run = from;
        while (end - run >= 8) {
            uint64_t escaped = s_bytes_escaped (s_word (run));
            if (escaped) {
                run += s_first (escaped);
                break;
            }
            run += 8;
        }
        if (end - run < 8)
            while (run < end && (S_PLAIN [*run] || *run >= 0x80))
                run++;
        memcpy (to, from, (size_t) (run - from));
        to += run - from;
        from = run;
        if (from == end)
            break;
        unsigned char c = *from++;
        *to++ = '\\';
        if (c == '"' || c == '\\')
            *to++ = (char) c;
        else {
            *to++ = 'u';
            *to++ = '0';
            *to++ = '0';
            *to++ = digits [c >> 4];
            *to++ = digits [c & 15];
        }
    }
    *to++ = '"';
    return to;
}
