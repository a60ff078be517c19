/*  tm_cacheentry.h - what the result cache stores: entries, records and
    tombstones, their encodings and their signatures.

    docs/caching.md says what each is for.  In short:
      entry      under result key K: a test passed with these components,
                 signed (Ed25519) by the member that ran it;
      record     under identity I: the components of the test's last
                 cacheable run (declared and traced, with digests), so
                 the next run can recompute K and `cache explain` can
                 say what changed;
      tombstone  `cache invalidate GLOB`: entries of matching tests
                 created before it are dead; signed by its issuer.

    Encodings are JSON (jansson), one object each.  Decoders take bytes
    from the network: they validate every field (hex digests are 64
    lowercase hex digits, strings bounded, statuses known) and fail
    with *err rather than assert.  Signatures cover a canonical byte
    string, not the JSON, so re-encoding never breaks them.

    What a signature binds (docs/security.md): the runner's claim that
    test TEST_ID of identity IDENT, with declared components digesting
    to DECL, ended STATUS in DURATION s at CREATED.  The entry's K (which
    also folds in traced digests the CLI computed) is not signed: a
    member can file a genuine claim under a wrong K, but members may run
    any command anyway; what the signature stops is a relay or a
    non-member forging a pass.

    Canonical bytes (each field followed by one NUL; no field can hold a
    NUL, the decoders refuse one; numbers printed with "%.6f", so a
    change below a microsecond is not seen by the signature):
      entry      "tm-cache-claim-1" ident decl test_id status-name
                 duration created member
      tombstone  "tm-cache-tomb-1" glob created member
    ident and decl are the 64-digit hex strings; status-name is
    tm_status_name's ("passed").  A tombstone's id is the BLAKE2b-256 of
    its canonical bytes.

    Encodings (compact JSON objects; decoders ignore unknown fields and
    refuse duplicate ones):
      entry      {"key", "ident", "decl": hex, "test_id": s, "status": s,
                  "duration", "created": n, "member": s,
                  "member_pk": 64 hex, "sig": 128 hex}
      record     {"ident", "key": hex, "test_id": s, "status": s,
                  "created": n, "traced": bool,
                  "components": [[name, hex digest], ...]}
                 components strictly sorted by name (the encoder sorts
                 them, the decoder refuses unsorted or repeated names)
      tombstone  {"glob": s, "created": n, "member": s,
                  "member_pk": 64 hex, "sig": 128 hex}
    Bounds the decoders enforce: the TM_CACHE_*_MAX below; strings are
    non-empty valid UTF-8; numbers finite, duration in [0, 1e9], created
    in [0, 1e12]; status one of tm_status_name's.
*/
#ifndef TM_CACHEENTRY_H_INCLUDED
#define TM_CACHEENTRY_H_INCLUDED

#include "tm_common.h"
#include "tm_result.h"

#define TM_CACHE_HEX    65          //  A 32-byte digest in hex, with NUL
#define TM_CACHE_PK     32          //  Ed25519 public key bytes
#define TM_CACHE_SK     64          //  Ed25519 secret key bytes (libsodium form)
#define TM_CACHE_SIG    64          //  Ed25519 signature bytes

//  Limits on decoded input (bytes unless said otherwise).
#define TM_CACHE_DECODE_MAX         (64 * 1024 * 1024)  //  One encoding
#define TM_CACHE_TEST_ID_MAX        4096    //  A test id, a tombstone's glob
#define TM_CACHE_MEMBER_MAX         64      //  A member's name
#define TM_CACHE_COMPONENTS_MAX     100000  //  Components of one record (count)
#define TM_CACHE_COMPONENT_NAME_MAX 4096    //  A component's name

//  One input of a test's key: NAME ("program", "argv", "input:PATH",
//  "env:NAME", "platform", "traced:PATH", "traced-exec:PATH",
//  "traced-env:NAME") and the digest of its content or value.  The
//  digest of something absent is a fixed value (tm_cachekey.h).
typedef struct {
    char *name;
    char digest [TM_CACHE_HEX];
} tm_component_t;

//  Frees the names of COUNT components at *LIST_P and the array.
void tm_components_free (tm_component_t **list_p, size_t count);

typedef struct {
    char key [TM_CACHE_HEX];        //  K: the result key it is stored under
    char ident [TM_CACHE_HEX];      //  I: the test's identity
    char decl [TM_CACHE_HEX];       //  Digest of the declared components
    char *test_id;                  //  The test's id
    tm_status_t status;             //  PASSED (the only status cached by default)
    double duration;                //  Seconds of the run that is cached
    double created;                 //  Wall clock (s) when that run ended
    char *member;                   //  Name of the member that ran it
    uint8_t member_pk [TM_CACHE_PK];    //  Its Ed25519 identity
    uint8_t sig [TM_CACHE_SIG];     //  By member_pk over the claim (banner)
} tm_cacheentry_t;

tm_cacheentry_t *tm_cacheentry_new (void);
void tm_cacheentry_destroy (tm_cacheentry_t **self_p);

//  Signs the claim with SK (crypto_sign's 64-byte form), setting
//  member_pk from it.  Every claim field must be set first (asserted).
void tm_cacheentry_sign (tm_cacheentry_t *self, const uint8_t sk [TM_CACHE_SK]);

//  True if sig is member_pk's signature of the claim (false if a claim
//  field is missing).
bool tm_cacheentry_verify (const tm_cacheentry_t *self);

//  JSON encoding (caller frees), and its decoder: NULL with *err on
//  anything malformed.  Decoding does not verify the signature.
char *tm_cacheentry_encode (const tm_cacheentry_t *self, size_t *size_p);
tm_cacheentry_t *tm_cacheentry_decode (const char *data, size_t size, char **err);

//  The cheap read of an entry's encoding, for values that were decoded
//  and verified when they were stored (docs/caching.md, 4: a share is
//  trusted on reads): if DATA is laid out exactly as
//  tm_cacheentry_encode lays it out, {"key":"K", ..., "member_pk":"PK",
//  "sig":"SIG"}, sets KEY to K and MEMBER_PK to PK's bytes and returns
//  0; else -1 (decode and verify it instead).  It reads the two ends
//  only: it proves neither that the JSON between is valid nor the
//  signature; a constant cost, no allocation.
int tm_cacheentry_peek (const char *data, size_t size, char key [TM_CACHE_HEX],
                        uint8_t member_pk [TM_CACHE_PK]);

typedef struct {
    char ident [TM_CACHE_HEX];      //  I, the key it is stored under
    char key [TM_CACHE_HEX];        //  K of that run
    char *test_id;
    tm_status_t status;             //  How that run ended (explain says so)
    double created;                 //  When it ended
    bool traced;                    //  False: not traceable (static), only declared
    double expected;                //  Expected seconds (the cluster's duration
                                    //  history: a moving average weighing the
                                    //  latest run by half); 0 = unknown
    tm_component_t *components;     //  Declared and traced, sorted by name
    size_t components_size;
} tm_cacherecord_t;

tm_cacherecord_t *tm_cacherecord_new (void);
void tm_cacherecord_destroy (tm_cacherecord_t **self_p);
//  Encodes with the components sorted by name, whatever their order in
//  the record (names must be unique, or the decoder refuses the result).
//  The decoder returns them sorted; NULL with *err on anything malformed.
char *tm_cacherecord_encode (const tm_cacherecord_t *self, size_t *size_p);
tm_cacherecord_t *tm_cacherecord_decode (const char *data, size_t size, char **err);

//  The same for a record: if DATA begins {"ident":"I", as
//  tm_cacherecord_encode's output does, and ends with }, sets IDENT to
//  I and returns 0; else -1.
int tm_cacherecord_peek (const char *data, size_t size, char ident [TM_CACHE_HEX]);

typedef struct {
    char *glob;                     //  fnmatch(3) pattern over test ids
    double created;                 //  Wall clock when issued
    char *member;                   //  Name of the issuer
    uint8_t member_pk [TM_CACHE_PK];
    uint8_t sig [TM_CACHE_SIG];     //  Over glob, created and member
} tm_cachetomb_t;

tm_cachetomb_t *tm_cachetomb_new (const char *glob, double created, const char *member);
void tm_cachetomb_destroy (tm_cachetomb_t **self_p);
void tm_cachetomb_sign (tm_cachetomb_t *self, const uint8_t sk [TM_CACHE_SK]);
bool tm_cachetomb_verify (const tm_cachetomb_t *self);
//  Its 32-byte id: the digest of its signed fields (tm_cachedb_tomb_put).
void tm_cachetomb_id (const tm_cachetomb_t *self, uint8_t id [32]);
char *tm_cachetomb_encode (const tm_cachetomb_t *self, size_t *size_p);
tm_cachetomb_t *tm_cachetomb_decode (const char *data, size_t size, char **err);
//  True if the tombstone kills a result of TEST_ID created at CREATED:
//  the glob matches and CREATED is earlier than the tombstone.
bool tm_cachetomb_covers (const tm_cachetomb_t *self, const char *test_id, double created);

//  Hex helpers: 32 bytes <-> 64 lowercase hex digits.  from_hex returns
//  -1 on anything else.
void tm_cache_hex (const uint8_t bytes [32], char hex [TM_CACHE_HEX]);
int tm_cache_from_hex (const char *hex, uint8_t bytes [32]);
//  True if HEX (may be NULL) is exactly 64 lowercase hex digits.
bool tm_cache_hex_valid (const char *hex);

#endif
