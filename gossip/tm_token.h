/*  tm_token.h - the join token: one copy-pasteable string "tm1-...".

    A token carries what a new node needs to join a cluster, and nothing
    else:

      - the cluster's Ed25519 public key, which the joiner pins: it will
        only complete a CurveZMQ handshake with a holder of the matching
        secret key (no trust on first use);
      - a 32-byte join secret, which the joiner proves it knows (see
        tm_envelope_join_seal) to be admitted;
      - up to TM_TOKEN_MAX_SEEDS seed addresses ("host:port").

    Text form: "tm1-" + base64url without padding of

        version u8 (=1) | cluster pk [32] | join secret [32] |
        seed count u8 | { length u8 | "host:port" } * count |
        checksum [4]

    The checksum is the first 4 bytes of BLAKE2b (16-byte output, no
    key) of every byte before it.  It is there to catch typos with a
    clear message, not for security: the token is a secret and is
    authenticated by what it lets a node do, not by itself.
    docs/security.md has the byte-by-byte table.

    A token holds a secret: wipe a tm_token_t with tm_token_wipe and the
    formatted string with sodium_memzero before freeing it.
*/
#ifndef TM_TOKEN_H_INCLUDED
#define TM_TOKEN_H_INCLUDED

#include "tm_common.h"

#define TM_TOKEN_PREFIX      "tm1-"
#define TM_TOKEN_VERSION     1
#define TM_TOKEN_KEY_BYTES   32     //  Cluster public key, join secret
#define TM_TOKEN_MAX_SEEDS   16     //  Seed addresses in one token
#define TM_TOKEN_SEED_MAX    255    //  Characters in one "host:port"
#define TM_TOKEN_TEXT_MAX    8192   //  Longest token text parsed

typedef struct {
    uint8_t cluster_pk [TM_TOKEN_KEY_BYTES];    //  Cluster Ed25519 public key
    uint8_t join_secret [TM_TOKEN_KEY_BYTES];   //  Join secret (a secret!)
    size_t seed_count;                          //  Entries used in seeds
    char seeds [TM_TOKEN_MAX_SEEDS][TM_TOKEN_SEED_MAX + 1];
                                                //  "host:port", NUL-ended
} tm_token_t;

//  Adds a seed address to TOKEN.  A seed is "host:port": host is a name,
//  an IPv4 address or a bracketed IPv6 address ("[::1]:5670"), port is
//  1..65535.  Returns 0, or -1 with *err set (bad syntax, too many).
int tm_token_add_seed (tm_token_t *token, const char *seed, char **err);

//  Formats TOKEN as "tm1-...".  Returns a new string (caller wipes and
//  frees), or NULL with *err set if TOKEN holds an invalid seed or an
//  invalid cluster key.
char *tm_token_format (const tm_token_t *token, char **err);

//  Parses TEXT (surrounding whitespace is ignored) into *OUT.  Returns 0,
//  or -1 with a one-line reason in *err that starts with "token: ".
//  Every malformed input is rejected: wrong prefix, a character outside
//  base64url, non-canonical base64, truncation, checksum mismatch,
//  unknown version, bad seed syntax, trailing bytes.  *OUT is wiped on
//  failure.
int tm_token_parse (const char *text, tm_token_t *out, char **err);

//  Zeroes TOKEN, join secret included.
void tm_token_wipe (tm_token_t *token);

#endif
