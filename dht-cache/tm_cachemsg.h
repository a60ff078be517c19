/*  tm_cachemsg.h - the result cache's peer messages, decoded and checked.

    tm_cachemsg_decode reads one CACHE payload (docs/protocol.md, 3.7) and
    checks every field and length of it before the cache actor (tm_dht.c)
    acts on any: what it returns is well-formed, and what is not is NULL
    (the caller drops and counts it as malformed).  Checks that need the
    actor's state (is this q ours, does the count of a got match what we
    asked, is a value under its key and signed by a member) are the
    actor's.

    The messages that carry values (get, got, put) are read without a
    jansson tree when they are laid out exactly as tm_dht.c writes them:
    compact, fields in this order,

        {"t":"get","q":Q,"k":KIND,"keys":["HEX",...]}
        {"t":"got","q":Q,"vals":[VALUE|null|false,...]}
        {"t":"put","k":KIND,"items":[["HEX",VALUE],...]}    or with ,"q":Q
                                                            before the '}'

    their strings decoded one after another into one buffer (tm_jsonstr.h,
    as strict as jansson).  A got of 512 values (300 KB) cost jansson
    about 2.5 ms; this, about a tenth.  Any other message, or any byte
    out of that layout (white space, another order, an escaped key), is
    parsed by jansson instead, whose verdict stands: both ways make the
    same message of the same bytes.
*/
#ifndef TM_CACHEMSG_H_INCLUDED
#define TM_CACHEMSG_H_INCLUDED

#include "tm_common.h"
#include "tm_cachedb.h"
#include <jansson.h>

#define TM_CACHEMSG_KEYS_MAX    512     //  Keys a get may ask for

typedef enum {
    TM_CACHEMSG_GET = 1,        //  q, kind, items (keys)
    TM_CACHEMSG_GOT,            //  q, items (values, in the order asked)
    TM_CACHEMSG_PUT,            //  kind, items (keys and values), q if given
    TM_CACHEMSG_ACK,            //  q
    TM_CACHEMSG_TOMB,           //  json: its "tombs" is an array
    TM_CACHEMSG_STATS,          //  q
    TM_CACHEMSG_STAT            //  q; json: its "s" is an object whose
                                //  "name" is a string
} tm_cachemsg_type_t;

//  A key, a value, or both, of a message.
typedef struct {
    uint8_t key [32];           //  get, put: the key
    const char *value;          //  got, put: the value, NUL-terminated
                                //  (borrowed from the message), or NULL:
                                //  in a got, null (not held) or false
                                //  (LEFT_OUT); in a put, an item that is
                                //  not [key, string] (the rest of the put
                                //  still counts)
    size_t size;                //  The value's bytes, NUL excluded
    const char *json;           //  got, read fast: the value as it stood in
                                //  the message, a JSON string with its
                                //  quotes (valid JSON, to copy into other
                                //  JSON as it is; borrowed from the DATA
                                //  decoded); else NULL
    size_t json_size;           //  ... of this many bytes
    bool left_out;              //  got: false, "left out for size, ask again"
} tm_cachemsg_item_t;

typedef struct {
    tm_cachemsg_type_t type;    //  Its "t"
    bool has_q;                 //  It has a "q" (a non-negative integer) ...
    uint64_t q;                 //  ... of this value
    tm_cachedb_kind_t kind;     //  get, put: its "k"
    tm_cachemsg_item_t *items;  //  get, got, put: its keys, values or items
    size_t count;               //  ... and how many
    json_t *json;               //  tomb, stat: the message (borrowed: the
                                //  message owns it); NULL for the others
    bool fast;                  //  Read in tm_dht.c's layout, without jansson
    char *buffer;               //  Private: decoded strings
    json_t *tree;               //  Private: jansson's tree, if it read it
} tm_cachemsg_t;

//  Decodes the SIZE bytes at DATA (a CACHE payload).  Returns a new
//  message, or NULL if it is not one of the messages above with every
//  field of the right type: no "t" or an unknown one; q missing where
//  required, not an integer or negative; a kind other than "entry" or
//  "record"; a get's keys not an array of at most TM_CACHEMSG_KEYS_MAX
//  keys of 64 lowercase hex digits; a got's vals not an array of
//  strings, null and false; a put's items not an array; not JSON, or
//  invalid JSON (UTF-8, escapes, control characters, trailing bytes).
tm_cachemsg_t *tm_cachemsg_decode (const void *data, size_t size);

void tm_cachemsg_destroy (tm_cachemsg_t **self_p);

//  Reads the JSON array of keys at *P ("HEX" strings of 64 lowercase hex
//  digits, no escapes, no white space), before END, into KEYS (room for
//  MAX keys of 32 bytes).  Returns 0 with *COUNT_P keys and *P past the
//  ']', or -1 if there is no such array of at most MAX keys at *P (*P
//  unchanged).  For the agent's cache-get requests too.
int tm_cachemsg_read_keys (const char **p, const char *end, uint8_t *keys, size_t max,
                           size_t *count_p);

//  A kind's name in messages, "entry" or "record"; and the kind of NAME
//  (may be NULL) into *KIND: returns 0, or -1 if it names none.
const char *tm_cachemsg_kind_name (tm_cachedb_kind_t kind);
int tm_cachemsg_kind (const char *name, tm_cachedb_kind_t *kind);

#endif
