/*  tm_jsonstr.h - JSON strings, read and written one at a time, strictly.

    The result cache's values are JSON text that travels inside JSON
    strings: in CACHE messages (docs/protocol.md, 3.7) and in the agent's
    cache-get reply, megabytes of them for a large batch.  jansson builds
    a tree and copies every string on its way in and out; these functions
    read one string straight into a buffer the caller chose (in place if
    it likes) and write one straight into the caller's text, so that a
    message of known layout is read with no tree at all (tm_cachemsg.h,
    tm_cacheclient.c).

    Strict: tm_jsonstr_read takes exactly the strings that jansson's
    parser takes (RFC 8259 without its extensions): valid UTF-8 only
    (no overlong forms, no surrogates, nothing past U+10FFFF), no raw
    control character (below 0x20), only the escapes \" \\ \/ \b \f \n
    \r \t and \uXXXX, where a \u of a surrogate must be a high one
    followed by a low one, and \u0000 is refused (a NUL would cut the
    value short; jansson refuses it too).  What comes from the network
    is read with it, so it never reads past END, and never crashes on any
    input.

    No state: plain functions, safe from any thread.
*/
#ifndef TM_JSONSTR_H_INCLUDED
#define TM_JSONSTR_H_INCLUDED

#include "tm_common.h"

//  Reads the JSON string that starts at *P (its opening quote) and ends
//  before END.  Writes its decoded bytes and a NUL at OUT, which must
//  have room for as many bytes as the string takes at *P, quotes
//  included (end - *p is always enough); OUT may be *P + 1, to decode in
//  place, as decoding never writes past what it has read.  Returns 0
//  with the decoded size (NUL excluded) in *SIZE_P and *P just past the
//  closing quote; or -1 if there is no string there or it is malformed
//  or truncated: *P is unchanged, the bytes at OUT are undefined (and,
//  in place, so are those of the string).
int tm_jsonstr_read (const char **p, const char *end, char *out, size_t *size_p);

//  An element of a list (tm_jsonstr_list).
typedef struct {
    const char *value;          //  A string's decoded bytes (NUL-terminated),
                                //  or NULL for null and false
    size_t size;                //  Its size, NUL excluded
    const char *json;           //  The string as it stood in the input,
                                //  quotes included (valid JSON: it can be
                                //  copied into other JSON as it is)
    size_t json_size;           //  ... of this many bytes
    bool is_false;              //  The element was false
} tm_jsonstr_elem_t;

//  Reads the JSON array at *P (its '[', no white space anywhere) whose
//  elements are strings, null or false, before END, decoding its strings
//  one after another at OUT, which must have room for end - *p bytes.
//  Returns 0 with a new array (caller frees) of *COUNT_P elements in
//  *ELEMS_P (NULL if none), whose values point into OUT (and json into
//  the input: OUT must not overlap it), and *P past the ']'; or -1 if
//  there is no such array at *P (*P unchanged, *ELEMS_P NULL, the bytes
//  at OUT undefined).
int tm_jsonstr_list (const char **p, const char *end, char *out, tm_jsonstr_elem_t **elems_p,
                     size_t *count_p);

//  Skips LITERAL (NUL-terminated, e.g. "null" or ",\"q\":") at *P if
//  the bytes before END start with it: returns true with *P past it, or
//  false with *P unchanged.
bool tm_jsonstr_skip (const char **p, const char *end, const char *literal);

//  True if the SIZE bytes at VALUE can be written as a JSON string that
//  reads back the same: valid UTF-8 (as tm_jsonstr_read takes it) and no
//  NUL.
bool tm_jsonstr_writable (const char *value, size_t size);

//  The bytes tm_jsonstr_write takes for VALUE (SIZE bytes), quotes
//  included.
size_t tm_jsonstr_cost (const char *value, size_t size);

//  Writes VALUE (SIZE bytes, tm_jsonstr_writable) as a JSON string,
//  quotes included, at TO, which has room for tm_jsonstr_cost bytes.
//  Returns the end of what it wrote.  '"', '\' and control characters
//  are escaped, nothing else.
char *tm_jsonstr_write (char *to, const char *value, size_t size);

#endif
