/*  tm_cachemsg.c - the result cache's peer messages: see the header.

    Two readers fill the same tm_cachemsg_t: s_fast_read, for the layout
    tm_dht.c writes (it gives up, changing nothing that counts, at the
    first byte out of it), and s_tree_read, jansson's tree for anything
    else.  Only s_tree_read's verdict makes a message malformed.
*/
#include "tm_cachemsg.h"
#include "tm_cacheentry.h"
#include "tm_jsonstr.h"

#define S_HEX           64      //  Hex digits of a key
#define S_Q_DIGITS      18      //  Digits of a q the fast reader takes

//  ---------------------------------------------------------------------
//  Helpers of both readers

const char *
tm_cachemsg_kind_name (tm_cachedb_kind_t kind)
{
    return kind == TM_CACHEDB_ENTRY ? "entry" : "record";
}

int
tm_cachemsg_kind (const char *name, tm_cachedb_kind_t *kind)
{
    assert (kind);
    if (name && streq (name, "entry"))
        *kind = TM_CACHEDB_ENTRY;
    else
    if (name && streq (name, "record"))
        *kind = TM_CACHEDB_RECORD;
    else
        return -1;
    return 0;
}

static tm_cachemsg_item_t *
s_items_new (tm_cachemsg_t *self, size_t count)
{
    free (self->items);
    self->items = (tm_cachemsg_item_t *) calloc (count ? count : 1, sizeof (tm_cachemsg_item_t));
    assert (self->items);
    self->count = count;
    return self->items;
}

//  ---------------------------------------------------------------------
//  The fast reader: tm_dht.c's layout only

//  Reads a q (1 to S_Q_DIGITS digits, no leading zero) at *P.
static int
s_fast_q (const char **p, const char *end, uint64_t *q)
{
    const char *at = *p;
    uint64_t value = 0;
    while (at < end && *at >= '0' && *at <= '9' && at - *p < S_Q_DIGITS + 1)
        value = value * 10 + (uint64_t) (*at++ - '0');
    size_t digits = (size_t) (at - *p);
    if (digits == 0 || digits > S_Q_DIGITS || (digits > 1 && **p == '0'))
        return -1;
    *q = value;
    *p = at;
    return 0;
}

//  Reads "entry" or "record" at *P.
static int
s_fast_kind (const char **p, const char *end, tm_cachedb_kind_t *kind)
{
    if (tm_jsonstr_skip (p, end, "\"entry\""))
        *kind = TM_CACHEDB_ENTRY;
    else
    if (tm_jsonstr_skip (p, end, "\"record\""))
        *kind = TM_CACHEDB_RECORD;
    else
        return -1;
    return 0;
}

//  Reads a key, "HEX" with no escape, at *P into KEY.
static int
s_fast_key (const char **p, const char *end, uint8_t key [32])
{
    const char *at = *p;
    if (end - at < S_HEX + 2 || at [0] != '"' || at [S_HEX + 1] != '"')
        return -1;
    char hex [S_HEX + 1];
    memcpy (hex, at + 1, S_HEX);
    hex [S_HEX] = 0;
    if (tm_cache_from_hex (hex, key) != 0)
        return -1;
    *p = at + S_HEX + 2;
    return 0;
}

//  Grows ITEMS (*ALLOC_P of them) to hold one more than COUNT.
static tm_cachemsg_item_t *
s_items_grow (tm_cachemsg_item_t *items, size_t count, size_t *alloc_p)
{
    if (count < *alloc_p)
        return items;
    *alloc_p = *alloc_p ? 2 * *alloc_p : 64;
    items = (tm_cachemsg_item_t *) realloc (items, *alloc_p * sizeof *items);
    assert (items);
    return items;
}

static int
s_fast_got (tm_cachemsg_t *self, const char **p, const char *end)
{
    tm_jsonstr_elem_t *elems = NULL;
    size_t count = 0;
    if (s_fast_q (p, end, &self->q) != 0 || !tm_jsonstr_skip (p, end, ",\"vals\":")
    ||  tm_jsonstr_list (p, end, self->buffer, &elems, &count) != 0)
        return -1;
    self->has_q = true;
    tm_cachemsg_item_t *items = s_items_new (self, count);
    for (size_t i = 0; i < count; i++) {
        items [i].value = elems [i].value;
        items [i].size = elems [i].size;
        items [i].json = elems [i].json;
        items [i].json_size = elems [i].json_size;
        items [i].left_out = elems [i].is_false;
    }
    free (elems);
    return 0;
}

static int
s_fast_get (tm_cachemsg_t *self, const char **p, const char *end)
{
    uint8_t keys [TM_CACHEMSG_KEYS_MAX * 32];
    size_t count = 0;
    if (s_fast_q (p, end, &self->q) != 0 || !tm_jsonstr_skip (p, end, ",\"k\":")
    ||  s_fast_kind (p, end, &self->kind) != 0 || !tm_jsonstr_skip (p, end, ",\"keys\":")
    ||  tm_cachemsg_read_keys (p, end, keys, TM_CACHEMSG_KEYS_MAX, &count) != 0)
        return -1;
    self->has_q = true;
    tm_cachemsg_item_t *items = s_items_new (self, count);
    for (size_t i = 0; i < count; i++)
        memcpy (items [i].key, keys + 32 * i, 32);
    return 0;
}

static int
s_fast_put (tm_cachemsg_t *self, const char **p, const char *end)
{
    if (s_fast_kind (p, end, &self->kind) != 0 || !tm_jsonstr_skip (p, end, ",\"items\":["))
        return -1;
    tm_cachemsg_item_t *items = NULL;
    size_t count = 0, alloc = 0;
    char *out = self->buffer;
    while (!tm_jsonstr_skip (p, end, "]")) {
        items = s_items_grow (items, count, &alloc);
        tm_cachemsg_item_t *item = &items [count++];
        memset (item, 0, sizeof *item);
        if ((count > 1 && !tm_jsonstr_skip (p, end, ",")) || !tm_jsonstr_skip (p, end, "[")
        ||  s_fast_key (p, end, item->key) != 0 || !tm_jsonstr_skip (p, end, ",")
        ||  tm_jsonstr_read (p, end, out, &item->size) != 0 || !tm_jsonstr_skip (p, end, "]")) {
            free (items);
            return -1;
        }
        item->value = out;
        out += item->size + 1;
    }
    free (self->items);
    self->items = items;
    self->count = count;
    if (tm_jsonstr_skip (p, end, ",\"q\":")) {
        if (s_fast_q (p, end, &self->q) != 0)
            return -1;
        self->has_q = true;
    }
    return 0;
}

//  Reads DATA in tm_dht.c's layout.  Returns 0, or -1 (not that layout:
//  SELF is to be read again from scratch).
static int
s_fast_read (tm_cachemsg_t *self, const char *data, size_t size)
{
    const char *p = data, *end = data + size;
    int rc = -1;
    if (tm_jsonstr_skip (&p, end, "{\"t\":\"got\",\"q\":")) {
        self->type = TM_CACHEMSG_GOT;
        rc = s_fast_got (self, &p, end);
    }
    else
    if (tm_jsonstr_skip (&p, end, "{\"t\":\"get\",\"q\":")) {
        self->type = TM_CACHEMSG_GET;
        rc = s_fast_get (self, &p, end);
    }
    else
    if (tm_jsonstr_skip (&p, end, "{\"t\":\"put\",\"k\":")) {
        self->type = TM_CACHEMSG_PUT;
        rc = s_fast_put (self, &p, end);
    }
    //  Nothing may follow the object
    if (rc != 0 || !tm_jsonstr_skip (&p, end, "}") || p != end)
        return -1;
    self->fast = true;
    return 0;
}

//  ---------------------------------------------------------------------
//  The tree reader: anything, through jansson

static int
s_tree_q (tm_cachemsg_t *self, json_t *json, bool required)
{
    json_t *q = json_object_get (json, "q");
    if (!q)
        return required ? -1 : 0;
    if (!json_is_integer (q) || json_integer_value (q) < 0)
        return -1;
    self->has_q = true;
    self->q = (uint64_t) json_integer_value (q);
    return 0;
}

static int
s_tree_get (tm_cachemsg_t *self, json_t *json)
{
    json_t *keys = json_object_get (json, "keys");
    if (s_tree_q (self, json, true) != 0
    ||  tm_cachemsg_kind (json_string_value (json_object_get (json, "k")), &self->kind) != 0
    ||  !json_is_array (keys) || json_array_size (keys) > TM_CACHEMSG_KEYS_MAX)
        return -1;
    tm_cachemsg_item_t *items = s_items_new (self, json_array_size (keys));
    size_t i;
    json_t *key;
    json_array_foreach (keys, i, key)
        if (tm_cache_from_hex (json_string_value (key), items [i].key) != 0)
            return -1;
    return 0;
}

static int
s_tree_got (tm_cachemsg_t *self, json_t *json)
{
    json_t *vals = json_object_get (json, "vals");
    if (s_tree_q (self, json, true) != 0 || !json_is_array (vals))
        return -1;
    tm_cachemsg_item_t *items = s_items_new (self, json_array_size (vals));
    size_t i;
    json_t *val;
    json_array_foreach (vals, i, val) {
        if (json_is_string (val)) {
            items [i].value = json_string_value (val);
            items [i].size = json_string_length (val);
        }
        else
        if (json_is_false (val))
            items [i].left_out = true;
        else
        if (!json_is_null (val))
            return -1;
    }
    return 0;
}

static int
s_tree_put (tm_cachemsg_t *self, json_t *json)
{
    json_t *list = json_object_get (json, "items");
    if (s_tree_q (self, json, false) != 0
    ||  tm_cachemsg_kind (json_string_value (json_object_get (json, "k")), &self->kind) != 0
    ||  !json_is_array (list))
        return -1;
    tm_cachemsg_item_t *items = s_items_new (self, json_array_size (list));
    size_t i;
    json_t *item;
    json_array_foreach (list, i, item) {
        //  A bad item leaves its value NULL: the others still count
        json_t *value = json_array_get (item, 1);
        if (json_is_array (item) && json_array_size (item) == 2 && json_is_string (value)
        &&  tm_cache_from_hex (json_string_value (json_array_get (item, 0)), items [i].key) == 0) {
            items [i].value = json_string_value (value);
            items [i].size = json_string_length (value);
        }
    }
    return 0;
}

//  Reads DATA through jansson.  Returns 0, or -1 (malformed).
static int
s_tree_read (tm_cachemsg_t *self, const char *data, size_t size)
{
    self->tree = json_loadb (data, size, 0, NULL);
    json_t *json = self->tree;
    const char *type = json_string_value (json_object_get (json, "t"));
    if (!type)
        return -1;
    if (streq (type, "get")) {
        self->type = TM_CACHEMSG_GET;
        return s_tree_get (self, json);
    }
    if (streq (type, "got")) {
        self->type = TM_CACHEMSG_GOT;
        return s_tree_got (self, json);
    }
    if (streq (type, "put")) {
        self->type = TM_CACHEMSG_PUT;
        return s_tree_put (self, json);
    }
    if (streq (type, "ack") || streq (type, "stats")) {
        self->type = streq (type, "ack") ? TM_CACHEMSG_ACK : TM_CACHEMSG_STATS;
        return s_tree_q (self, json, true);
    }
    self->json = json;
    if (streq (type, "tomb")) {
        self->type = TM_CACHEMSG_TOMB;
        return json_is_array (json_object_get (json, "tombs")) ? 0 : -1;
    }
    if (streq (type, "stat")) {
        self->type = TM_CACHEMSG_STAT;
        json_t *s = json_object_get (json, "s");
        return s_tree_q (self, json, true) == 0 && json_is_object (s)
            && json_is_string (json_object_get (s, "name")) ? 0 : -1;
    }
    return -1;
}

//  ---------------------------------------------------------------------

int
tm_cachemsg_read_keys (const char **p, const char *end, uint8_t *keys, size_t max,
                       size_t *count_p)
{
    assert (p && *p && end && (keys || max == 0) && count_p);
    const char *at = *p;
    size_t count = 0;
    if (!tm_jsonstr_skip (&at, end, "["))
        return -1;
    while (!tm_jsonstr_skip (&at, end, "]")) {
        if ((count && !tm_jsonstr_skip (&at, end, ",")) || count == max
        ||  s_fast_key (&at, end, keys + 32 * count) != 0)
            return -1;
        count++;
    }
    *count_p = count;
    *p = at;
    return 0;
}

tm_cachemsg_t *
tm_cachemsg_decode (const void *data, size_t size)
{
    assert (data || size == 0);
    tm_cachemsg_t *self = (tm_cachemsg_t *) zmalloc (sizeof (tm_cachemsg_t));
    //  Decoded strings are never longer than they were encoded
    self->buffer = (char *) malloc (size + 1);
    assert (self->buffer);
    if (s_fast_read (self, (const char *) data, size) == 0)
        return self;
    //  Out of the layout: from scratch, through jansson
    free (self->items);
    free (self->buffer);
    memset (self, 0, sizeof *self);
    if (s_tree_read (self, (const char *) data, size) != 0)
        tm_cachemsg_destroy (&self);
    return self;
}

void
tm_cachemsg_destroy (tm_cachemsg_t **self_p)
{
    assert (self_p);
    tm_cachemsg_t *self = *self_p;
    if (!self)
        return;
    free (self->items);
    free (self->buffer);
    json_decref (self->tree);
    free (self);
    *self_p = NULL;
}
