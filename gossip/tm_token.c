/*  tm_token.c - encode and parse the join token "tm1-<base64url>".

    Parsing goes from the outside in, and the first problem found is the
    one reported: prefix, base64 alphabet, canonical base64, length,
    checksum, version, then the fields.  Checking the checksum before the
    fields means a typo is reported as a typo, not as a confusing
    "seed 3 is too long".
*/
#include "tm_token.h"
#include <ctype.h>
#include <sodium.h>

#define S_CHECKSUM_BYTES  4
//  version + cluster pk + join secret + seed count
#define S_FIXED_BYTES     (1 + 2 * TM_TOKEN_KEY_BYTES + 1)
#define S_MIN_BYTES       (S_FIXED_BYTES + S_CHECKSUM_BYTES)
#define S_MAX_BYTES       (S_MIN_BYTES + TM_TOKEN_MAX_SEEDS * (1 + TM_TOKEN_SEED_MAX))

static void
s_checksum (const uint8_t *data, size_t size, uint8_t checksum [S_CHECKSUM_BYTES])
{
    uint8_t hash [crypto_generichash_BYTES_MIN];
    crypto_generichash (hash, sizeof hash, data, size, NULL, 0);
    memcpy (checksum, hash, S_CHECKSUM_BYTES);
}

static bool
s_base64url_char (char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
        || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

//  Checks "host:port".  Returns 0 or -1 with *err set (mentions SEED).
static int
s_seed_check (const char *seed, size_t len, char **err)
{
    if (len == 0)
        return tm_fail (err, "seed address is empty");
    if (len > TM_TOKEN_SEED_MAX)
        return tm_fail (err, "seed address is longer than %d characters", TM_TOKEN_SEED_MAX);
    for (size_t i = 0; i < len; i++) {
        char c = seed [i];
        if (!(isalnum ((unsigned char) c) || c == '.' || c == '-' || c == '_'
              || c == ':' || c == '[' || c == ']' || c == '%'))
            return tm_fail (err, "seed address has an invalid character (code %d)",
                            (unsigned char) c);
    }
    //  The port follows the last colon
    const char *colon = NULL;
    for (size_t i = 0; i < len; i++)
        if (seed [i] == ':')
            colon = seed + i;
    if (!colon)
        return tm_fail (err, "seed address '%.*s' has no ':port'", (int) len, seed);
    size_t host_len = colon - seed;
    size_t port_len = len - host_len - 1;
    if (host_len == 0)
        return tm_fail (err, "seed address '%.*s' has no host", (int) len, seed);
    if (port_len == 0 || port_len > 5)
        return tm_fail (err, "seed address '%.*s' has an invalid port", (int) len, seed);
    unsigned port = 0;
    for (size_t i = 0; i < port_len; i++) {
        if (!isdigit ((unsigned char) colon [1 + i]))
            return tm_fail (err, "seed address '%.*s' has an invalid port", (int) len, seed);
        port = port * 10 + (colon [1 + i] - '0');
    }
    if (port < 1 || port > 65535)
        return tm_fail (err, "seed address '%.*s' has a port out of range", (int) len, seed);
    //  Brackets only as a whole IPv6 host: "[...]"; a bare host has no colon
    bool bracketed = seed [0] == '[';
    if (bracketed) {
        if (host_len < 3 || seed [host_len - 1] != ']')
            return tm_fail (err, "seed address '%.*s' has unbalanced brackets", (int) len, seed);
        for (size_t i = 1; i < host_len - 1; i++)
            if (seed [i] == '[' || seed [i] == ']')
                return tm_fail (err, "seed address '%.*s' has unbalanced brackets",
                                (int) len, seed);
    }
    else
        for (size_t i = 0; i < host_len; i++)
            if (seed [i] == '[' || seed [i] == ']' || seed [i] == ':' || seed [i] == '%')
                return tm_fail (err, "seed address '%.*s': an IPv6 host needs brackets",
                                (int) len, seed);
    return 0;
}

int
tm_token_add_seed (tm_token_t *token, const char *seed, char **err)
{
    assert (token && seed);
    if (token->seed_count >= TM_TOKEN_MAX_SEEDS)
        return tm_fail (err, "token: at most %d seed addresses", TM_TOKEN_MAX_SEEDS);
    char *reason = NULL;
    if (s_seed_check (seed, strlen (seed), &reason) != 0) {
        tm_fail (err, "token: %s", reason);
        free (reason);
        return -1;
    }
    strcpy (token->seeds [token->seed_count++], seed);
    return 0;
}

char *
tm_token_format (const tm_token_t *token, char **err)
{
    assert (token);
    if (sodium_init () < 0) {
        tm_fail (err, "token: libsodium failed to initialise");
        return NULL;
    }
    if (token->seed_count > TM_TOKEN_MAX_SEEDS) {
        tm_fail (err, "token: at most %d seed addresses", TM_TOKEN_MAX_SEEDS);
        return NULL;
    }
    uint8_t curve [crypto_scalarmult_curve25519_BYTES];
    if (crypto_sign_ed25519_pk_to_curve25519 (curve, token->cluster_pk) != 0) {
        tm_fail (err, "token: cluster key is not a valid Ed25519 public key");
        return NULL;
    }
    uint8_t *bin = (uint8_t *) sodium_malloc (S_MAX_BYTES);
    if (!bin)
        abort ();               //  Out of memory, as zmalloc
    size_t size = 0;
    bin [size++] = TM_TOKEN_VERSION;
    memcpy (bin + size, token->cluster_pk, TM_TOKEN_KEY_BYTES);
    size += TM_TOKEN_KEY_BYTES;
    memcpy (bin + size, token->join_secret, TM_TOKEN_KEY_BYTES);
    size += TM_TOKEN_KEY_BYTES;
    bin [size++] = (uint8_t) token->seed_count;
    for (size_t i = 0; i < token->seed_count; i++) {
        size_t len = strnlen (token->seeds [i], TM_TOKEN_SEED_MAX + 1);
        char *reason = NULL;
        if (s_seed_check (token->seeds [i], len, &reason) != 0) {
            tm_fail (err, "token: %s", reason);
            free (reason);
            sodium_free (bin);
            return NULL;
        }
        bin [size++] = (uint8_t) len;
        memcpy (bin + size, token->seeds [i], len);
        size += len;
    }
    s_checksum (bin, size, bin + size);
    size += S_CHECKSUM_BYTES;

    size_t b64_size = sodium_base64_ENCODED_LEN (size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t prefix = strlen (TM_TOKEN_PREFIX);
    char *text = (char *) zmalloc (prefix + b64_size);
    memcpy (text, TM_TOKEN_PREFIX, prefix);
    sodium_bin2base64 (text + prefix, b64_size, bin, size,
                       sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_free (bin);
    return text;
}

//  The parser proper: *err gets the reason without the "token: " prefix.
static int
s_parse (const char *text, size_t len, tm_token_t *out, uint8_t *bin, char **err)
{
    size_t prefix = strlen (TM_TOKEN_PREFIX);
    if (len == 0)
        return tm_fail (err, "empty");
    if (len < prefix || memcmp (text, TM_TOKEN_PREFIX, prefix) != 0) {
        if (len >= prefix && text [0] == 't' && text [1] == 'm'
        &&  isdigit ((unsigned char) text [2]) && text [3] == '-')
            return tm_fail (err, "unsupported token version '%.4s' (this testmesh reads '%s')",
                            text, TM_TOKEN_PREFIX);
        return tm_fail (err, "does not start with '%s'", TM_TOKEN_PREFIX);
    }
    const char *b64 = text + prefix;
    size_t b64_len = len - prefix;
    if (b64_len == 0)
        return tm_fail (err, "nothing after '%s'", TM_TOKEN_PREFIX);
    for (size_t i = 0; i < b64_len; i++)
        if (!s_base64url_char (b64 [i])) {
            unsigned char c = (unsigned char) b64 [i];
            if (isgraph (c))
                return tm_fail (err, "invalid character '%c' at position %zu",
                                c, prefix + i + 1);
            return tm_fail (err, "invalid character (code %d) at position %zu",
                            c, prefix + i + 1);
        }
    if (b64_len > sodium_base64_ENCODED_LEN (S_MAX_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING))
        return tm_fail (err, "too long (%zu characters)", len);

    size_t size = 0;
    const char *end = NULL;
    //  libsodium rejects a length that no encoding produces and a last
    //  character whose unused bits are not zero, so every byte string has
    //  exactly one accepted text.
    if (sodium_base642bin (bin, S_MAX_BYTES, b64, b64_len, NULL, &size, &end,
                           sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0
    ||  end != b64 + b64_len)
        return tm_fail (err, "malformed base64 (truncated or altered?)");
    if (size < S_MIN_BYTES)
        return tm_fail (err, "too short (%zu bytes; truncated?)", size);

    uint8_t checksum [S_CHECKSUM_BYTES];
    s_checksum (bin, size - S_CHECKSUM_BYTES, checksum);
    if (memcmp (checksum, bin + size - S_CHECKSUM_BYTES, S_CHECKSUM_BYTES) != 0)
        return tm_fail (err, "checksum mismatch (typo?)");
    size -= S_CHECKSUM_BYTES;

    size_t pos = 0;
    if (bin [pos] != TM_TOKEN_VERSION)
        return tm_fail (err, "unsupported version %d", bin [pos]);
    pos++;
    memcpy (out->cluster_pk, bin + pos, TM_TOKEN_KEY_BYTES);
    pos += TM_TOKEN_KEY_BYTES;
    memcpy (out->join_secret, bin + pos, TM_TOKEN_KEY_BYTES);
    pos += TM_TOKEN_KEY_BYTES;
    size_t count = bin [pos++];
    if (count > TM_TOKEN_MAX_SEEDS)
        return tm_fail (err, "%zu seed addresses (at most %d)", count, TM_TOKEN_MAX_SEEDS);
    for (size_t i = 0; i < count; i++) {
        if (pos >= size)
            return tm_fail (err, "seed %zu is missing", i + 1);
        size_t seed_len = bin [pos++];
        if (seed_len > size - pos)
            return tm_fail (err, "seed %zu runs past the end", i + 1);
        char *reason = NULL;
        if (s_seed_check ((const char *) bin + pos, seed_len, &reason) != 0) {
            tm_fail (err, "seed %zu: %s", i + 1, reason);
            free (reason);
            return -1;
        }
        memcpy (out->seeds [i], bin + pos, seed_len);
        out->seeds [i][seed_len] = 0;
        pos += seed_len;
    }
    out->seed_count = count;
    if (pos != size)
        return tm_fail (err, "%zu unexpected bytes after the seeds", size - pos);

    uint8_t curve [crypto_scalarmult_curve25519_BYTES];
    if (crypto_sign_ed25519_pk_to_curve25519 (curve, out->cluster_pk) != 0)
        return tm_fail (err, "cluster key is not a valid Ed25519 public key");
    if (sodium_is_zero (out->join_secret, TM_TOKEN_KEY_BYTES))
        return tm_fail (err, "join secret is all zeroes");
    return 0;
}

int
tm_token_parse (const char *text, tm_token_t *out, char **err)
{
    assert (out);
    memset (out, 0, sizeof *out);
    if (sodium_init () < 0)
        return tm_fail (err, "token: libsodium failed to initialise");
    if (!text)
        return tm_fail (err, "token: empty");
    //  Ignore whitespace around the token (a pasted newline)
    size_t len = strnlen (text, TM_TOKEN_TEXT_MAX + 1);
    if (len > TM_TOKEN_TEXT_MAX)
        return tm_fail (err, "token: too long (more than %d characters)", TM_TOKEN_TEXT_MAX);
    while (len > 0 && isspace ((unsigned char) *text)) {
        text++;
        len--;
    }
    while (len > 0 && isspace ((unsigned char) text [len - 1]))
        len--;

    uint8_t *bin = (uint8_t *) sodium_malloc (S_MAX_BYTES);
    if (!bin)
        abort ();
    char *reason = NULL;
    int rc = s_parse (text, len, out, bin, &reason);
    sodium_free (bin);          //  Zeroes it
    if (rc != 0) {
        tm_token_wipe (out);
        tm_fail (err, "token: %s", reason);
        free (reason);
    }
    return rc;
}

void
tm_token_wipe (tm_token_t *token)
{
    if (token)
        sodium_memzero (token, sizeof *token);
}
