/*  tm_cacheentry.c - entries, records and tombstones of the result
    cache: JSON encodings, strict decoders, canonical signatures.

    See tm_cacheentry.h for the encodings and the canonical claim bytes.
    Every decoder here reads bytes from the network: it checks every
    field and fails with *err, it never asserts on its input.
*/
#include "tm_cacheentry.h"
#include <fnmatch.h>
#include <jansson.h>
#include <math.h>
#include <sodium.h>

#define S_CLAIM_DOMAIN  "tm-cache-claim-1"
#define S_TOMB_DOMAIN   "tm-cache-tomb-1"

//  Duration, created: finite, >= 0 and below these.
#define S_DURATION_MAX  TM_TIMEOUT_MAX
#define S_CREATED_MAX   1e12

// ---------------------------------------------------------------- hex

void
tm_cache_hex (const uint8_t bytes [32], char hex [TM_CACHE_HEX])
{
    assert (bytes && hex);
    sodium_bin2hex (hex, TM_CACHE_HEX, bytes, 32);
}

//  S_HEX_DIGIT [c]: 1 + the value of lowercase hex digit c, 0 for any
//  other byte.
static const uint8_t S_HEX_DIGIT [256] = {
    ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7, ['7'] = 8,
    ['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15,
    ['f'] = 16
};

//  Decodes exactly SIZE bytes (at most 64) from 2 * SIZE lowercase hex
//  digits followed by the string's end.  Returns 0, or -1 (BYTES
//  untouched).  A table, not branches on each digit: random digits made
//  those mispredict half the time, and the agent decodes every key of
//  every lookup.
static int
s_from_hex (const char *hex, uint8_t *bytes, size_t size)
{
    if (!hex)
        return -1;
    uint8_t out [64];           //  The longest: a signature
    assert (size <= sizeof out);
    for (size_t i = 0; i < size; i++) {
        int hi = S_HEX_DIGIT [(unsigned char) hex [2 * i]];
        if (!hi)
            return -1;          //  Also catches a short string's NUL
        int lo = S_HEX_DIGIT [(unsigned char) hex [2 * i + 1]];
        if (!lo)
            return -1;
        out [i] = (uint8_t) ((hi - 1) << 4 | (lo - 1));
    }
    if (hex [2 * size] != 0)
        return -1;
    memcpy (bytes, out, size);
    return 0;
}

int
tm_cache_from_hex (const char *hex, uint8_t bytes [32])
{
    assert (bytes);
    return s_from_hex (hex, bytes, 32);
}

bool
tm_cache_hex_valid (const char *hex)
{
    uint8_t bytes [32];
    return s_from_hex (hex, bytes, 32) == 0;
}

// ---------------------------------------------------------------- canonical bytes

//  A growing byte buffer for canonical strings.
typedef struct {
    char *data;
    size_t size;
    size_t alloc;
} s_buf_t;

static void
s_buf_add (s_buf_t *buf, const char *str)
{
    size_t len = strlen (str) + 1;      //  Each field ends with its NUL
    if (buf->size + len > buf->alloc) {
        buf->alloc = (buf->size + len) * 2;
        buf->data = (char *) realloc (buf->data, buf->alloc);
        if (!buf->data)
            abort ();
    }
    memcpy (buf->data + buf->size, str, len);
    buf->size += len;
}

static void
s_buf_add_number (s_buf_t *buf, double value)
{
    char text [64];
    snprintf (text, sizeof text, "%.6f", value);
    s_buf_add (buf, text);
}

//  The claim an entry's signature covers (see the header).  Returns
//  false if a field is missing (an entry not filled in).
static bool
s_claim (const tm_cacheentry_t *self, s_buf_t *buf)
{
    if (!self->test_id || !self->member
    ||  self->status < 0 || self->status >= TM_STATUS_COUNT)
        return false;
    s_buf_add (buf, S_CLAIM_DOMAIN);
    s_buf_add (buf, self->ident);
    s_buf_add (buf, self->decl);
    s_buf_add (buf, self->test_id);
    s_buf_add (buf, tm_status_name (self->status));
    s_buf_add_number (buf, self->duration);
    s_buf_add_number (buf, self->created);
    s_buf_add (buf, self->member);
    return true;
}

static bool
s_tomb_claim (const tm_cachetomb_t *self, s_buf_t *buf)
{
    if (!self->glob || !self->member)
        return false;
    s_buf_add (buf, S_TOMB_DOMAIN);
    s_buf_add (buf, self->glob);
    s_buf_add_number (buf, self->created);
    s_buf_add (buf, self->member);
    return true;
}

// ---------------------------------------------------------------- decoding helpers

//  Parses DATA as one JSON object.  NULL with *err otherwise.
static json_t *
s_parse (const char *data, size_t size, const char *what, char **err)
{
    if (!data || size == 0) {
        tm_fail (err, "%s: empty", what);
        return NULL;
    }
    if (size > TM_CACHE_DECODE_MAX) {
        tm_fail (err, "%s: %zu bytes, more than %d", what, size, TM_CACHE_DECODE_MAX);
        return NULL;
    }
    json_error_t error;
    json_t *json = json_loadb (data, size, JSON_REJECT_DUPLICATES, &error);
    if (!json) {
        tm_fail (err, "%s: not JSON: %s", what, error.text);
        return NULL;
    }
    if (!json_is_object (json)) {
        json_decref (json);
        tm_fail (err, "%s: not a JSON object", what);
        return NULL;
    }
    return json;
}

//  The string field NAME of OBJ, 1..MAX bytes (jansson already refuses
//  NUL inside strings and invalid UTF-8).  NULL with *err otherwise.
static const char *
s_string (json_t *obj, const char *name, size_t max, const char *what, char **err)
{
    json_t *value = json_object_get (obj, name);
    if (!json_is_string (value)) {
        tm_fail (err, "%s: '%s' is missing or not a string", what, name);
        return NULL;
    }
    size_t len = json_string_length (value);
    if (len == 0 || len > max) {
        tm_fail (err, "%s: '%s' is %zu bytes (1 to %zu)", what, name, len, max);
        return NULL;
    }
    const char *str = json_string_value (value);
    if (strlen (str) != len) {
        tm_fail (err, "%s: '%s' holds a NUL", what, name);
        return NULL;
    }
    return str;
}

//  The hex field NAME of OBJ (SIZE bytes in lowercase hex) into BYTES,
//  and as text into HEX (2 * SIZE + 1 chars) if not NULL.
static int
s_hex (json_t *obj, const char *name, uint8_t *bytes, size_t size, char *hex,
       const char *what, char **err)
{
    json_t *value = json_object_get (obj, name);
    const char *str = json_is_string (value) ? json_string_value (value) : NULL;
    if (!str || json_string_length (value) != 2 * size || s_from_hex (str, bytes, size)) {
        tm_fail (err, "%s: '%s' is not %zu lowercase hex digits", what, name, 2 * size);
        return -1;
    }
    if (hex)
        memcpy (hex, str, 2 * size + 1);
    return 0;
}

static int
s_digest (json_t *obj, const char *name, char hex [TM_CACHE_HEX], const char *what, char **err)
{
    uint8_t bytes [32];
    return s_hex (obj, name, bytes, 32, hex, what, err);
}

//  The number field NAME of OBJ: finite, 0 <= value <= MAX.
static int
s_number (json_t *obj, const char *name, double max, double *value_p,
          const char *what, char **err)
{
    json_t *value = json_object_get (obj, name);
    if (!json_is_number (value))
        return tm_fail (err, "%s: '%s' is missing or not a number", what, name);
    double number = json_number_value (value);
    if (!isfinite (number) || number < 0 || number > max)
        return tm_fail (err, "%s: '%s' is out of range (0 to %g)", what, name, max);
    *value_p = number;
    return 0;
}

static int
s_status (json_t *obj, const char *name, tm_status_t *status_p, const char *what, char **err)
{
    json_t *value = json_object_get (obj, name);
    const char *str = json_is_string (value) ? json_string_value (value) : NULL;
    if (str)
        for (int status = 0; status < TM_STATUS_COUNT; status++)
            if (streq (str, tm_status_name ((tm_status_t) status))) {
                *status_p = (tm_status_t) status;
                return 0;
            }
    return tm_fail (err, "%s: '%s' is missing or not a known status", what, name);
}

//  Dumps JSON (compact, fields in a fixed order) into a new buffer.
static char *
s_dump (json_t *json, size_t *size_p)
{
    char *text = json_dumps (json, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION (17));
    json_decref (json);
    if (!text)
        abort ();           //  Out of memory: as zmalloc does
    if (size_p)
        *size_p = strlen (text);
    return text;
}

static void
s_set_hex (json_t *json, const char *name, const uint8_t *bytes, size_t size)
{
    char hex [2 * TM_CACHE_SIG + 1];
    assert (size <= TM_CACHE_SIG);
    sodium_bin2hex (hex, sizeof hex, bytes, size);
    json_object_set_new (json, name, json_string (hex));
}

// ---------------------------------------------------------------- components

void
tm_components_free (tm_component_t **list_p, size_t count)
{
    assert (list_p);
    tm_component_t *list = *list_p;
    if (!list)
        return;
    for (size_t i = 0; i < count; i++)
        free (list [i].name);
    free (list);
    *list_p = NULL;
}

// ---------------------------------------------------------------- entry

tm_cacheentry_t *
tm_cacheentry_new (void)
{
    tm_cacheentry_t *self = (tm_cacheentry_t *) zmalloc (sizeof (tm_cacheentry_t));
    self->status = TM_STATUS_PASSED;
    return self;
}

void
tm_cacheentry_destroy (tm_cacheentry_t **self_p)
{
    assert (self_p);
    tm_cacheentry_t *self = *self_p;
    if (!self)
        return;
    free (self->test_id);
    free (self->member);
    free (self);
    *self_p = NULL;
}

void
tm_cacheentry_sign (tm_cacheentry_t *self, const uint8_t sk [TM_CACHE_SK])
{
    assert (self && sk);
    s_buf_t buf = { NULL, 0, 0 };
    bool complete = s_claim (self, &buf);
    assert (complete);      //  Programmer error: sign a filled-in entry
    (void) complete;
    crypto_sign_ed25519_sk_to_pk (self->member_pk, sk);
    crypto_sign_detached (self->sig, NULL, (const uint8_t *) buf.data, buf.size, sk);
    free (buf.data);
}

bool
tm_cacheentry_verify (const tm_cacheentry_t *self)
{
    assert (self);
    s_buf_t buf = { NULL, 0, 0 };
    bool valid = s_claim (self, &buf)
              && crypto_sign_verify_detached (self->sig, (const uint8_t *) buf.data,
                                              buf.size, self->member_pk) == 0;
    free (buf.data);
    return valid;
}

char *
tm_cacheentry_encode (const tm_cacheentry_t *self, size_t *size_p)
{
    assert (self && self->test_id && self->member);
    assert (self->status >= 0 && self->status < TM_STATUS_COUNT);
    json_t *json = json_object ();
    json_object_set_new (json, "key", json_string (self->key));
    json_object_set_new (json, "ident", json_string (self->ident));
    json_object_set_new (json, "decl", json_string (self->decl));
    json_object_set_new (json, "test_id", json_string (self->test_id));
    json_object_set_new (json, "status", json_string (tm_status_name (self->status)));
    json_object_set_new (json, "duration", json_real (self->duration));
    json_object_set_new (json, "created", json_real (self->created));
    json_object_set_new (json, "member", json_string (self->member));
    s_set_hex (json, "member_pk", self->member_pk, TM_CACHE_PK);
    s_set_hex (json, "sig", self->sig, TM_CACHE_SIG);
    return s_dump (json, size_p);
}

//  True if the SIZE bytes at P are lowercase hex digits.
static bool
s_hex_span (const char *p, size_t size)
{
    //  One test per byte, no branch: a lookup peeks at 256 digits a
    //  value, for every value it serves
    bool all = true;
    for (size_t i = 0; i < size; i++)
        all &= S_HEX_DIGIT [(unsigned char) p [i]] != 0;
    return all;
}

//  The ends of an encoding as s_dump lays it out (compact, fields in
//  the encoder's order): what the peek functions match.
#define S_ENTRY_HEAD    "{\"key\":\""
#define S_ENTRY_TAIL1   "\",\"member_pk\":\""
#define S_ENTRY_TAIL2   "\",\"sig\":\""
#define S_ENTRY_TAIL3   "\"}"
#define S_RECORD_HEAD   "{\"ident\":\""
#define S_LIT(s)        (sizeof (s) - 1)

int
tm_cacheentry_peek (const char *data, size_t size, char key [TM_CACHE_HEX],
                    uint8_t member_pk [TM_CACHE_PK])
{
    assert (data || size == 0);
    const size_t head = S_LIT (S_ENTRY_HEAD), hex = 2 * 32;
    const size_t tail = S_LIT (S_ENTRY_TAIL1) + 2 * TM_CACHE_PK + S_LIT (S_ENTRY_TAIL2)
                      + 2 * TM_CACHE_SIG + S_LIT (S_ENTRY_TAIL3);
    if (size < head + hex + 1 + tail || size > TM_CACHE_DECODE_MAX
    ||  memcmp (data, S_ENTRY_HEAD, head) != 0 || !s_hex_span (data + head, hex)
    ||  data [head + hex] != '"')
        return -1;
    const char *end = data + size - tail;
    const char *pk = end + S_LIT (S_ENTRY_TAIL1);
    const char *sig = pk + 2 * TM_CACHE_PK + S_LIT (S_ENTRY_TAIL2);
    if (memcmp (end, S_ENTRY_TAIL1, S_LIT (S_ENTRY_TAIL1)) != 0
    ||  !s_hex_span (pk, 2 * TM_CACHE_PK)
    ||  memcmp (pk + 2 * TM_CACHE_PK, S_ENTRY_TAIL2, S_LIT (S_ENTRY_TAIL2)) != 0
    ||  !s_hex_span (sig, 2 * TM_CACHE_SIG)
    ||  memcmp (sig + 2 * TM_CACHE_SIG, S_ENTRY_TAIL3, S_LIT (S_ENTRY_TAIL3)) != 0)
        return -1;
    memcpy (key, data + head, hex);
    key [hex] = 0;
    for (size_t i = 0; i < TM_CACHE_PK; i++) {
        char hi = pk [2 * i], lo = pk [2 * i + 1];
        member_pk [i] = (uint8_t) ((hi <= '9' ? hi - '0' : hi - 'a' + 10) << 4
                                 | (lo <= '9' ? lo - '0' : lo - 'a' + 10));
    }
    return 0;
}

int
tm_cacherecord_peek (const char *data, size_t size, char ident [TM_CACHE_HEX])
{
    assert (data || size == 0);
    const size_t head = S_LIT (S_RECORD_HEAD), hex = 2 * 32;
    if (size < head + hex + 3 || size > TM_CACHE_DECODE_MAX
    ||  memcmp (data, S_RECORD_HEAD, head) != 0 || !s_hex_span (data + head, hex)
    ||  data [head + hex] != '"' || data [head + hex + 1] != ','
    ||  data [size - 1] != '}')
        return -1;
    memcpy (ident, data + head, hex);
    ident [hex] = 0;
    return 0;
}

tm_cacheentry_t *
tm_cacheentry_decode (const char *data, size_t size, char **err)
{
    const char *what = "cache entry";
    json_t *json = s_parse (data, size, what, err);
    if (!json)
        return NULL;
    tm_cacheentry_t *self = tm_cacheentry_new ();
    const char *test_id, *member;
    if (s_digest (json, "key", self->key, what, err)
    ||  s_digest (json, "ident", self->ident, what, err)
    ||  s_digest (json, "decl", self->decl, what, err)
    ||  !(test_id = s_string (json, "test_id", TM_CACHE_TEST_ID_MAX, what, err))
    ||  s_status (json, "status", &self->status, what, err)
    ||  s_number (json, "duration", S_DURATION_MAX, &self->duration, what, err)
    ||  s_number (json, "created", S_CREATED_MAX, &self->created, what, err)
    ||  !(member = s_string (json, "member", TM_CACHE_MEMBER_MAX, what, err))
    ||  s_hex (json, "member_pk", self->member_pk, TM_CACHE_PK, NULL, what, err)
    ||  s_hex (json, "sig", self->sig, TM_CACHE_SIG, NULL, what, err)) {
        tm_cacheentry_destroy (&self);
        json_decref (json);
        return NULL;
    }
    self->test_id = strdup (test_id);
    self->member = strdup (member);
    json_decref (json);
    return self;
}

// ---------------------------------------------------------------- record

tm_cacherecord_t *
tm_cacherecord_new (void)
{
    tm_cacherecord_t *self = (tm_cacherecord_t *) zmalloc (sizeof (tm_cacherecord_t));
    self->status = TM_STATUS_PASSED;
    self->traced = true;
    return self;
}

void
tm_cacherecord_destroy (tm_cacherecord_t **self_p)
{
    assert (self_p);
    tm_cacherecord_t *self = *self_p;
    if (!self)
        return;
    tm_components_free (&self->components, self->components_size);
    free (self->test_id);
    free (self);
    *self_p = NULL;
}

static int
s_component_cmp (const void *a, const void *b)
{
    return strcmp ((*(const tm_component_t *const *) a)->name,
                   (*(const tm_component_t *const *) b)->name);
}

char *
tm_cacherecord_encode (const tm_cacherecord_t *self, size_t *size_p)
{
    assert (self && self->test_id);
    assert (self->status >= 0 && self->status < TM_STATUS_COUNT);
    assert (self->components || self->components_size == 0);
    json_t *json = json_object ();
    json_object_set_new (json, "ident", json_string (self->ident));
    json_object_set_new (json, "key", json_string (self->key));
    json_object_set_new (json, "test_id", json_string (self->test_id));
    json_object_set_new (json, "status", json_string (tm_status_name (self->status)));
    json_object_set_new (json, "created", json_real (self->created));
    json_object_set_new (json, "traced", json_boolean (self->traced));
    if (self->expected > 0)
        json_object_set_new (json, "expected", json_real (self->expected));
    //  Sorted by name whatever the caller's order, so that the encoding
    //  of a record is canonical and the decoder can insist on it
    const tm_component_t **sorted = (const tm_component_t **)
        zmalloc ((self->components_size + 1) * sizeof (tm_component_t *));
    for (size_t i = 0; i < self->components_size; i++)
        sorted [i] = &self->components [i];
    qsort (sorted, self->components_size, sizeof sorted [0], s_component_cmp);
    json_t *list = json_array ();
    for (size_t i = 0; i < self->components_size; i++) {
        assert (sorted [i]->name);
        json_array_append_new (list, json_pack ("[ss]", sorted [i]->name, sorted [i]->digest));
    }
    free (sorted);
    json_object_set_new (json, "components", list);
    return s_dump (json, size_p);
}

tm_cacherecord_t *
tm_cacherecord_decode (const char *data, size_t size, char **err)
{
    const char *what = "cache record";
    json_t *json = s_parse (data, size, what, err);
    if (!json)
        return NULL;
    tm_cacherecord_t *self = tm_cacherecord_new ();
    const char *test_id;
    json_t *traced = json_object_get (json, "traced");
    json_t *list = json_object_get (json, "components");
    if (s_digest (json, "ident", self->ident, what, err)
    ||  s_digest (json, "key", self->key, what, err)
    ||  !(test_id = s_string (json, "test_id", TM_CACHE_TEST_ID_MAX, what, err))
    ||  s_status (json, "status", &self->status, what, err)
    ||  s_number (json, "created", S_CREATED_MAX, &self->created, what, err))
        goto fail;
    if (!json_is_boolean (traced)) {
        tm_fail (err, "%s: 'traced' is missing or not a boolean", what);
        goto fail;
    }
    self->traced = json_is_true (traced);
    //  Optional: records written before it existed have none
    if (json_object_get (json, "expected")
    &&  s_number (json, "expected", S_CREATED_MAX, &self->expected, what, err))
        goto fail;
    if (!json_is_array (list) || json_array_size (list) > TM_CACHE_COMPONENTS_MAX) {
        tm_fail (err, "%s: 'components' is not an array of at most %d",
                 what, TM_CACHE_COMPONENTS_MAX);
        goto fail;
    }
    self->test_id = strdup (test_id);
    size_t count = json_array_size (list);
    self->components = (tm_component_t *) zmalloc ((count + 1) * sizeof (tm_component_t));
    for (size_t i = 0; i < count; i++) {
        json_t *pair = json_array_get (list, i);
        json_t *name = json_array_get (pair, 0);
        json_t *digest = json_array_get (pair, 1);
        size_t len = json_is_string (name) ? json_string_length (name) : 0;
        if (!json_is_array (pair) || json_array_size (pair) != 2
        ||  len == 0 || len > TM_CACHE_COMPONENT_NAME_MAX
        ||  strlen (json_string_value (name)) != len) {
            tm_fail (err, "%s: component %zu is not [name (1 to %d bytes), digest]",
                     what, i, TM_CACHE_COMPONENT_NAME_MAX);
            goto fail;
        }
        const char *hex = json_is_string (digest) ? json_string_value (digest) : NULL;
        if (!tm_cache_hex_valid (hex)) {
            tm_fail (err, "%s: component %zu's digest is not 64 lowercase hex digits", what, i);
            goto fail;
        }
        if (i > 0 && strcmp (self->components [i - 1].name, json_string_value (name)) >= 0) {
            tm_fail (err, "%s: components are not sorted by name, or repeat one", what);
            goto fail;
        }
        self->components [i].name = strdup (json_string_value (name));
        memcpy (self->components [i].digest, hex, TM_CACHE_HEX);
        self->components_size = i + 1;
    }
    json_decref (json);
    return self;

fail:
    tm_cacherecord_destroy (&self);
    json_decref (json);
    return NULL;
}

// ---------------------------------------------------------------- tombstone

tm_cachetomb_t *
tm_cachetomb_new (const char *glob, double created, const char *member)
{
    assert (glob && member);
    tm_cachetomb_t *self = (tm_cachetomb_t *) zmalloc (sizeof (tm_cachetomb_t));
    self->glob = strdup (glob);
    self->created = created;
    self->member = strdup (member);
    return self;
}

void
tm_cachetomb_destroy (tm_cachetomb_t **self_p)
{
    assert (self_p);
    tm_cachetomb_t *self = *self_p;
    if (!self)
        return;
    free (self->glob);
    free (self->member);
    free (self);
    *self_p = NULL;
}

void
tm_cachetomb_sign (tm_cachetomb_t *self, const uint8_t sk [TM_CACHE_SK])
{
    assert (self && sk);
    s_buf_t buf = { NULL, 0, 0 };
    bool complete = s_tomb_claim (self, &buf);
    assert (complete);
    (void) complete;
    crypto_sign_ed25519_sk_to_pk (self->member_pk, sk);
    crypto_sign_detached (self->sig, NULL, (const uint8_t *) buf.data, buf.size, sk);
    free (buf.data);
}

bool
tm_cachetomb_verify (const tm_cachetomb_t *self)
{
    assert (self);
    s_buf_t buf = { NULL, 0, 0 };
    bool valid = s_tomb_claim (self, &buf)
              && crypto_sign_verify_detached (self->sig, (const uint8_t *) buf.data,
                                              buf.size, self->member_pk) == 0;
    free (buf.data);
    return valid;
}

void
tm_cachetomb_id (const tm_cachetomb_t *self, uint8_t id [32])
{
    assert (self && id);
    s_buf_t buf = { NULL, 0, 0 };
    bool complete = s_tomb_claim (self, &buf);
    assert (complete);
    (void) complete;
    crypto_generichash (id, 32, (const uint8_t *) buf.data, buf.size, NULL, 0);
    free (buf.data);
}

char *
tm_cachetomb_encode (const tm_cachetomb_t *self, size_t *size_p)
{
    assert (self && self->glob && self->member);
    json_t *json = json_object ();
    json_object_set_new (json, "glob", json_string (self->glob));
    json_object_set_new (json, "created", json_real (self->created));
    json_object_set_new (json, "member", json_string (self->member));
    s_set_hex (json, "member_pk", self->member_pk, TM_CACHE_PK);
    s_set_hex (json, "sig", self->sig, TM_CACHE_SIG);
    return s_dump (json, size_p);
}

tm_cachetomb_t *
tm_cachetomb_decode (const char *data, size_t size, char **err)
{
    const char *what = "cache tombstone";
    json_t *json = s_parse (data, size, what, err);
    if (!json)
        return NULL;
    const char *glob, *member;
    double created;
    uint8_t pk [TM_CACHE_PK], sig [TM_CACHE_SIG];
    if (!(glob = s_string (json, "glob", TM_CACHE_TEST_ID_MAX, what, err))
    ||  s_number (json, "created", S_CREATED_MAX, &created, what, err)
    ||  !(member = s_string (json, "member", TM_CACHE_MEMBER_MAX, what, err))
    ||  s_hex (json, "member_pk", pk, sizeof pk, NULL, what, err)
    ||  s_hex (json, "sig", sig, sizeof sig, NULL, what, err)) {
        json_decref (json);
        return NULL;
    }
    tm_cachetomb_t *self = tm_cachetomb_new (glob, created, member);
    memcpy (self->member_pk, pk, sizeof pk);
    memcpy (self->sig, sig, sizeof sig);
    json_decref (json);
    return self;
}

bool
tm_cachetomb_covers (const tm_cachetomb_t *self, const char *test_id, double created)
{
    assert (self && self->glob && test_id);
    return fnmatch (self->glob, test_id, 0) == 0 && created < self->created;
}
