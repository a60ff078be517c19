/*  tm_keys.c - node identity, cluster keys, certificates, join secrets
    and revocations, kept in DATADIR/keys.

    Files in DATADIR/keys (directory mode 0700, files 0600):

        node.key      this node's Ed25519 seed                   "TMNK"
        cluster.key   the cluster's Ed25519 seed                 "TMCK"
        node.cert     this node's certificate                    "TMCC"
        join.secrets  the signed join-secret facts               "TMJS"
        revoked       the signed revocation facts                "TMRL"
        members       the members' certificates                  "TMMB"

    Every file is one container:

        tag [4] | version u8 (=1) | body length u32 | body |
        checksum [16] = BLAKE2b-128 of everything before it

    Integers are big-endian, here as on the wire.  The checksum catches a
    truncated or damaged file with a clear error; it is not a MAC (an
    attacker who can write our files has won anyway).

    Invariants:
      1. state == S_MEMBER  <=>  the vault holds the cluster secret key,
         self->cert is our certificate, and secret_count >= 1 with every
         secret signed.
      2. state == S_PINNED  =>  secret_count == 1 and that secret is the
         token's (unsigned); nothing of the cluster is on disk.
      3. No key of self->members is a key of self->revoked.
      4. cluster.key is written last and removed never: its presence on
         disk is what makes a data directory a member's.
*/
#include "tm_keys.h"
#include "tm_wire.h"
#include <sodium.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_FILE_VERSION   1
#define S_FILE_HEADER    (4 + 1 + 4)
#define S_FILE_CHECKSUM  16
#define S_FILE_BODY_MAX  (64 * 1024 * 1024)
#define S_HEX_SIZE       (2 * TM_KEYS_PUBLIC_BYTES + 1)
#define S_SEED_BYTES     crypto_sign_SEEDBYTES
#define S_SEALED_HEADER  (4 + S_SEED_BYTES + 1)

typedef enum {
    S_NONE = 0,                 //  No cluster known
    S_PINNED,                   //  Cluster pinned from a token, not joined
    S_MEMBER                    //  A member: holds the cluster secret key
} s_state_t;

//  One join secret and the fact that announced it.
typedef struct {
    uint8_t secret [TM_KEYS_SECRET_BYTES];  //  The secret itself
    uint64_t issued_ms;                     //  When it was issued
    uint64_t grace_ms;                      //  Grace it gives older secrets
    uint8_t fact [TM_KEYS_ROTATION_BYTES];  //  The signed fact (if signed)
    bool is_signed;                         //  False for a token's secret
} s_secret_t;

//  Everything secret, in one guarded allocation (sodium_malloc: guard
//  pages, mlock, zeroed by sodium_free).
typedef struct {
    uint8_t node_sk [crypto_sign_SECRETKEYBYTES];       //  Node Ed25519 sk
    uint8_t node_curve_sk [crypto_box_SECRETKEYBYTES];  //  Its Curve25519 form
    char node_curve_sk_z85 [TM_KEYS_Z85_SIZE];          //  ... as z85
    uint8_t cluster_sk [crypto_sign_SECRETKEYBYTES];    //  Cluster Ed25519 sk
    char cluster_curve_sk_z85 [TM_KEYS_Z85_SIZE];       //  Its Curve25519 z85
    s_secret_t secrets [TM_KEYS_MAX_SECRETS + 1];       //  Join secrets (+1
                                                        //  while inserting)
} s_vault_t;

//  A revoked node.
typedef struct {
    uint8_t fact [TM_KEYS_REVOCATION_BYTES];    //  The signed fact
    uint8_t node_pk [TM_KEYS_PUBLIC_BYTES];     //  The revoked key
} s_revoked_t;

struct _tm_keys_t {
    char *dir;                                  //  DATADIR/keys
    s_vault_t *vault;                           //  Secret keys
    uint8_t node_pk [TM_KEYS_PUBLIC_BYTES];     //  Our Ed25519 public key
    char node_curve_pk_z85 [TM_KEYS_Z85_SIZE];  //  Our CURVE public key
    s_state_t state;                            //  None, pinned or member
    uint8_t cluster_pk [TM_KEYS_PUBLIC_BYTES];  //  Cluster public key
    uint8_t cluster_id [TM_KEYS_CLUSTER_ID_BYTES];  //  Its short id
    char cluster_curve_pk_z85 [TM_KEYS_Z85_SIZE];   //  CURVE server key
    tm_cert_t cert;                             //  Our certificate (member)
    size_t secret_count;                        //  Used in vault->secrets
    bool self_revoked;                          //  We are on the list
    zhashx_t *members;                          //  hex pk -> tm_cert_t *
    zhashx_t *revoked;                          //  hex pk -> s_revoked_t *
    zhashx_t *revoked_curve;                    //  hex curve pk -> "" (set)
    bool members_unsaved;                       //  Certificates learnt since
                                                //  the members file was written
};

//  ---------------------------------------------------------------------
//  Small helpers


static uint64_t
s_add_sat (uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static void
s_hex (const uint8_t *key, char hex [S_HEX_SIZE])
{
    sodium_bin2hex (hex, S_HEX_SIZE, key, TM_KEYS_PUBLIC_BYTES);
}

static void
s_cluster_id_of (const uint8_t *cluster_pk, uint8_t id [TM_KEYS_CLUSTER_ID_BYTES])
{
    uint8_t hash [crypto_generichash_BYTES];
    crypto_generichash (hash, sizeof hash, cluster_pk, TM_KEYS_PUBLIC_BYTES, NULL, 0);
    memcpy (id, hash, TM_KEYS_CLUSTER_ID_BYTES);
}

bool
tm_keys_name_valid (const char *name, size_t len)
{
    if (len < 1 || len > TM_KEYS_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name [i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static void
s_free_item (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

static void *
s_secure_alloc (size_t size)
{
    void *data = sodium_malloc (size);
    if (!data)
        abort ();               //  Out of memory, as zmalloc
    memset (data, 0, size);
    return data;
}

//  A growing buffer for non-secret encodings.
typedef struct {
    uint8_t *data;              //  Bytes so far
    size_t size;                //  Bytes used
    size_t max;                 //  Bytes allocated
} s_buf_t;

static void
s_buf_put (s_buf_t *buf, const void *data, size_t size)
{
    if (buf->size + size > buf->max) {
        buf->max = (buf->size + size) * 2 + 64;
        buf->data = (uint8_t *) realloc (buf->data, buf->max);
        if (!buf->data)
            abort ();
    }
    memcpy (buf->data + buf->size, data, size);
    buf->size += size;
}

static void
s_buf_u8 (s_buf_t *buf, uint8_t v) { s_buf_put (buf, &v, 1); }
static void
s_buf_u16 (s_buf_t *buf, uint16_t v) { uint8_t b [2]; tm_wire_put_u16 (b, v); s_buf_put (buf, b, 2); }
static void
s_buf_u32 (s_buf_t *buf, uint32_t v) { uint8_t b [4]; tm_wire_put_u32 (b, v); s_buf_put (buf, b, 4); }

//  ---------------------------------------------------------------------
//  Files

static int
s_write_all (int fd, const uint8_t *data, size_t size)
{
    while (size > 0) {
        ssize_t done = write (fd, data, size);
        if (done < 0 && errno == EINTR)
            continue;
        if (done <= 0)
            return -1;
        data += done;
        size -= done;
    }
    return 0;
}

//  Writes NAME atomically: a fresh 0600 file (O_CREAT|O_EXCL, random
//  name), fsync, then rename over NAME; or, if EXCLUSIVE, link to NAME
//  so that an existing NAME is never replaced.  Returns 0, 1 if
//  EXCLUSIVE and NAME exists, or -1 with *err set.
static int
s_file_write (tm_keys_t *self, const char *name, const char *tag,
              const uint8_t *body, size_t size, bool exclusive, char **err)
{
    size_t total = S_FILE_HEADER + size + S_FILE_CHECKSUM;
    uint8_t *buf = (uint8_t *) s_secure_alloc (total);
    memcpy (buf, tag, 4);
    buf [4] = S_FILE_VERSION;
    tm_wire_put_u32 (buf + 5, (uint32_t) size);
    if (size)
        memcpy (buf + S_FILE_HEADER, body, size);
    crypto_generichash (buf + S_FILE_HEADER + size, S_FILE_CHECKSUM,
                        buf, S_FILE_HEADER + size, NULL, 0);

    char *path = tm_strdupf ("%s/%s", self->dir, name);
    char *tmp = tm_strdupf ("%s/.%s.%08" PRIx32 ".tmp", self->dir, name, randombytes_random ());
    int rc = -1;
    int fd = open (tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        tm_fail (err, "keys: cannot create %s: %s", tmp, strerror (errno));
        goto done;
    }
    //  Exactly 0600, whatever the umask
    if (fchmod (fd, 0600) != 0 || s_write_all (fd, buf, total) != 0 || fsync (fd) != 0) {
        tm_fail (err, "keys: cannot write %s: %s", tmp, strerror (errno));
        close (fd);
        unlink (tmp);
        goto done;
    }
    if (close (fd) != 0) {
        tm_fail (err, "keys: cannot write %s: %s", tmp, strerror (errno));
        unlink (tmp);
        goto done;
    }
    if (exclusive) {
        int link_rc = link (tmp, path);
        int link_errno = errno;
        unlink (tmp);
        if (link_rc != 0) {
            if (link_errno == EEXIST)
                rc = 1;
            else
                tm_fail (err, "keys: cannot create %s: %s", path, strerror (link_errno));
            goto done;
        }
    }
    else
    if (rename (tmp, path) != 0) {
        tm_fail (err, "keys: cannot replace %s: %s", path, strerror (errno));
        unlink (tmp);
        goto done;
    }
    //  Make the rename durable
    int dir_fd = open (self->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
        fsync (dir_fd);
        close (dir_fd);
    }
    rc = 0;
done:
    sodium_free (buf);
    free (path);
    free (tmp);
    return rc;
}

//  Reads NAME, checking that it is a regular file of ours, closed to
//  group and others, of the right kind, complete and undamaged.  Returns
//  0 with *body (sodium_malloc'd: caller sodium_frees) and *size, 1 if
//  NAME does not exist, or -1 with *err set.
static int
s_file_read (tm_keys_t *self, const char *name, const char *tag,
             uint8_t **body, size_t *size, char **err)
{
    *body = NULL;
    *size = 0;
    char *path = tm_strdupf ("%s/%s", self->dir, name);
    uint8_t *buf = NULL;
    int rc = -1;
    //  O_NONBLOCK so that a FIFO planted here cannot block the open
    int fd = open (path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            rc = 1;
        else
        if (errno == ELOOP)
            tm_fail (err, "keys: %s is a symbolic link; refusing to use it", path);
        else
            tm_fail (err, "keys: cannot open %s: %s", path, strerror (errno));
        goto done;
    }
    struct stat st;
    if (fstat (fd, &st) != 0) {
        tm_fail (err, "keys: cannot stat %s: %s", path, strerror (errno));
        goto done;
    }
    if (!S_ISREG (st.st_mode)) {
        tm_fail (err, "keys: %s is not a regular file", path);
        goto done;
    }
    if (st.st_uid != geteuid ()) {
        tm_fail (err, "keys: %s belongs to uid %u, not to this user (uid %u); refusing to use it",
                 path, (unsigned) st.st_uid, (unsigned) geteuid ());
        goto done;
    }
    if (st.st_mode & 077) {
        tm_fail (err, "keys: %s has mode %04o, open to group or others; "
                 "a key file must be 0600 (chmod 600 %s, and consider the key exposed)",
                 path, (unsigned) (st.st_mode & 07777), path);
        goto done;
    }
    if (st.st_size < S_FILE_HEADER + S_FILE_CHECKSUM
    ||  st.st_size > S_FILE_HEADER + S_FILE_BODY_MAX + S_FILE_CHECKSUM) {
        tm_fail (err, "keys: %s is corrupt (%lld bytes)", path, (long long) st.st_size);
        goto done;
    }
    size_t total = (size_t) st.st_size;
    buf = (uint8_t *) s_secure_alloc (total);
    size_t got = 0;
    while (got < total) {
        ssize_t done = read (fd, buf + got, total - got);
        if (done < 0 && errno == EINTR)
            continue;
        if (done <= 0)
            break;
        got += done;
    }
    if (got != total) {
        tm_fail (err, "keys: cannot read %s: short read", path);
        goto done;
    }
    if (memcmp (buf, tag, 4) != 0) {
        tm_fail (err, "keys: %s is not a testmesh %s file", path, name);
        goto done;
    }
    if (buf [4] != S_FILE_VERSION) {
        tm_fail (err, "keys: %s has unsupported version %d", path, buf [4]);
        goto done;
    }
    size_t body_size = tm_wire_get_u32 (buf + 5);
    uint8_t checksum [S_FILE_CHECKSUM];
    if (body_size != total - S_FILE_HEADER - S_FILE_CHECKSUM) {
        tm_fail (err, "keys: %s is corrupt (truncated or extended)", path);
        goto done;
    }
    crypto_generichash (checksum, sizeof checksum, buf, S_FILE_HEADER + body_size, NULL, 0);
    if (memcmp (checksum, buf + S_FILE_HEADER + body_size, S_FILE_CHECKSUM) != 0) {
        tm_fail (err, "keys: %s is corrupt (checksum mismatch)", path);
        goto done;
    }
    *body = (uint8_t *) s_secure_alloc (body_size ? body_size : 1);
    memcpy (*body, buf + S_FILE_HEADER, body_size);
    *size = body_size;
    rc = 0;
done:
    if (fd >= 0)
        close (fd);
    if (buf)
        sodium_free (buf);
    free (path);
    return rc;
}

//  ---------------------------------------------------------------------
//  Certificates

//  Encodes everything a certificate's signature covers.  Returns the
//  size; BUF holds TM_KEYS_CERT_MAX bytes.  The name must be valid.
static size_t
s_cert_signed_part (const tm_cert_t *cert, uint8_t *buf)
{
    size_t name_len = strlen (cert->name);
    memcpy (buf, "TMC1", 4);
    memcpy (buf + 4, cert->cluster_id, TM_KEYS_CLUSTER_ID_BYTES);
    memcpy (buf + 12, cert->node_pk, TM_KEYS_PUBLIC_BYTES);
    tm_wire_put_u64 (buf + 44, cert->issued_ms);
    buf [52] = (uint8_t) name_len;
    memcpy (buf + 53, cert->name, name_len);
    return 53 + name_len;
}

size_t
tm_keys_cert_encode (const tm_cert_t *cert, uint8_t *buf, size_t size)
{
    assert (cert && buf);
    size_t name_len = strnlen (cert->name, TM_KEYS_NAME_MAX + 1);
    if (!tm_keys_name_valid (cert->name, name_len) || size < TM_KEYS_CERT_MIN - 1 + name_len)
        return 0;
    size_t signed_size = s_cert_signed_part (cert, buf);
    memcpy (buf + signed_size, cert->signature, TM_KEYS_SIGNATURE_BYTES);
    return signed_size + TM_KEYS_SIGNATURE_BYTES;
}

int
tm_keys_cert_decode (const uint8_t *data, size_t size, tm_cert_t *cert, char **err)
{
    assert (cert);
    memset (cert, 0, sizeof *cert);
    if (!data || size < TM_KEYS_CERT_MIN)
        return tm_fail (err, "certificate: truncated (%zu bytes)", size);
    if (size > TM_KEYS_CERT_MAX)
        return tm_fail (err, "certificate: too long (%zu bytes)", size);
    if (memcmp (data, "TMC1", 4) != 0)
        return tm_fail (err, "certificate: not a certificate");
    size_t name_len = data [52];
    if (size != TM_KEYS_CERT_MIN - 1 + name_len)
        return tm_fail (err, "certificate: length does not match its name length");
    if (!tm_keys_name_valid ((const char *) data + 53, name_len))
        return tm_fail (err, "certificate: invalid node name");
    memcpy (cert->cluster_id, data + 4, TM_KEYS_CLUSTER_ID_BYTES);
    memcpy (cert->node_pk, data + 12, TM_KEYS_PUBLIC_BYTES);
    cert->issued_ms = tm_wire_get_u64 (data + 44);
    memcpy (cert->name, data + 53, name_len);
    cert->name [name_len] = 0;
    memcpy (cert->signature, data + 53 + name_len, TM_KEYS_SIGNATURE_BYTES);
    return 0;
}

int
tm_keys_cert_verify (const uint8_t cluster_pk [TM_KEYS_PUBLIC_BYTES],
                     const tm_cert_t *cert, char **err)
{
    assert (cluster_pk && cert);
    uint8_t id [TM_KEYS_CLUSTER_ID_BYTES];
    s_cluster_id_of (cluster_pk, id);
    if (memcmp (id, cert->cluster_id, sizeof id) != 0)
        return tm_fail (err, "certificate: issued by another cluster");
    size_t name_len = strnlen (cert->name, TM_KEYS_NAME_MAX + 1);
    if (!tm_keys_name_valid (cert->name, name_len))
        return tm_fail (err, "certificate: invalid node name");
    uint8_t buf [TM_KEYS_CERT_MAX];
    size_t size = s_cert_signed_part (cert, buf);
    if (crypto_sign_verify_detached (cert->signature, buf, size, cluster_pk) != 0)
        return tm_fail (err, "certificate: signature does not verify");
    return 0;
}

//  ---------------------------------------------------------------------
//  Join secrets

//  True if A supersedes B: issued later, or at the same time with the
//  greater secret, so that every member picks the same newest.
static bool
s_secret_newer (const s_secret_t *a, const s_secret_t *b)
{
    if (a->issued_ms != b->issued_ms)
        return a->issued_ms > b->issued_ms;
    return memcmp (a->secret, b->secret, TM_KEYS_SECRET_BYTES) > 0;
}

//  When secret INDEX stops admitting: the earliest (issue + grace) of
//  the secrets newer than it; UINT64_MAX for the newest.
static uint64_t
s_secret_expiry (tm_keys_t *self, size_t index)
{
    s_secret_t *secrets = self->vault->secrets;
    uint64_t expiry = UINT64_MAX;
    for (size_t i = 0; i < self->secret_count; i++)
        if (i != index && s_secret_newer (&secrets [i], &secrets [index])) {
            uint64_t end = s_add_sat (secrets [i].issued_ms, secrets [i].grace_ms);
            if (end < expiry)
                expiry = end;
        }
    return expiry;
}

static s_secret_t *
s_secret_newest (tm_keys_t *self)
{
    s_secret_t *newest = NULL;
    for (size_t i = 0; i < self->secret_count; i++)
        if (!newest || s_secret_newer (&self->vault->secrets [i], newest))
            newest = &self->vault->secrets [i];
    return newest;
}

//  Decodes and verifies a rotation fact into *ENTRY.
static int
s_rotation_decode (tm_keys_t *self, const uint8_t *data, size_t size,
                   s_secret_t *entry, char **err)
{
    if (!data || size != TM_KEYS_ROTATION_BYTES)
        return tm_fail (err, "join secret fact: %zu bytes, not %d", size, TM_KEYS_ROTATION_BYTES);
    if (memcmp (data, "TMS1", 4) != 0)
        return tm_fail (err, "join secret fact: not a join secret fact");
    if (self->state == S_NONE)
        return tm_fail (err, "join secret fact: no cluster to check it against");
    if (memcmp (data + 4, self->cluster_id, TM_KEYS_CLUSTER_ID_BYTES) != 0)
        return tm_fail (err, "join secret fact: from another cluster");
    size_t signed_size = TM_KEYS_ROTATION_BYTES - TM_KEYS_SIGNATURE_BYTES;
    if (crypto_sign_verify_detached (data + signed_size, data, signed_size, self->cluster_pk) != 0)
        return tm_fail (err, "join secret fact: signature does not verify");
    if (sodium_is_zero (data + 12, TM_KEYS_SECRET_BYTES))
        return tm_fail (err, "join secret fact: secret is all zeroes");
    memcpy (entry->secret, data + 12, TM_KEYS_SECRET_BYTES);
    entry->issued_ms = tm_wire_get_u64 (data + 44);
    entry->grace_ms = tm_wire_get_u64 (data + 52);
    memcpy (entry->fact, data, TM_KEYS_ROTATION_BYTES);
    entry->is_signed = true;
    return 0;
}

//  Adds ENTRY.  Returns 1 if new, 0 if known.  Keeps at most
//  TM_KEYS_MAX_SECRETS, dropping the one that stops admitting first
//  (never the newest).
static int
s_secret_insert (tm_keys_t *self, const s_secret_t *entry)
{
    s_secret_t *secrets = self->vault->secrets;
    for (size_t i = 0; i < self->secret_count; i++)
        if (sodium_memcmp (secrets [i].secret, entry->secret, TM_KEYS_SECRET_BYTES) == 0) {
            if (secrets [i].is_signed || !entry->is_signed)
                return 0;
            secrets [i] = *entry;       //  The signed fact for a token's secret
            return 1;
        }
    secrets [self->secret_count++] = *entry;
    if (self->secret_count > TM_KEYS_MAX_SECRETS) {
        size_t drop = 0;
        uint64_t drop_expiry = UINT64_MAX;
        for (size_t i = 0; i < self->secret_count; i++) {
            uint64_t expiry = s_secret_expiry (self, i);
            if (expiry < drop_expiry) {
                drop = i;
                drop_expiry = expiry;
            }
        }
        secrets [drop] = secrets [--self->secret_count];
        sodium_memzero (&secrets [self->secret_count], sizeof (s_secret_t));
    }
    return 1;
}

//  ---------------------------------------------------------------------
//  Revocations

static int
s_revocation_decode (tm_keys_t *self, const uint8_t *data, size_t size, char **err)
{
    if (!data || size != TM_KEYS_REVOCATION_BYTES)
        return tm_fail (err, "revocation: %zu bytes, not %d", size, TM_KEYS_REVOCATION_BYTES);
    if (memcmp (data, "TMR1", 4) != 0)
        return tm_fail (err, "revocation: not a revocation");
    if (self->state == S_NONE)
        return tm_fail (err, "revocation: no cluster to check it against");
    if (memcmp (data + 4, self->cluster_id, TM_KEYS_CLUSTER_ID_BYTES) != 0)
        return tm_fail (err, "revocation: from another cluster");
    size_t signed_size = TM_KEYS_REVOCATION_BYTES - TM_KEYS_SIGNATURE_BYTES;
    if (crypto_sign_verify_detached (data + signed_size, data, signed_size, self->cluster_pk) != 0)
        return tm_fail (err, "revocation: signature does not verify");
    return 0;
}

//  Records a verified revocation fact.  Returns 1 if new, 0 if known.
static int
s_revoked_insert (tm_keys_t *self, const uint8_t *fact)
{
    const uint8_t *node_pk = fact + 12;
    char hex [S_HEX_SIZE];
    s_hex (node_pk, hex);
    if (zhashx_lookup (self->revoked, hex))
        return 0;
    s_revoked_t *entry = (s_revoked_t *) zmalloc (sizeof (s_revoked_t));
    memcpy (entry->fact, fact, TM_KEYS_REVOCATION_BYTES);
    memcpy (entry->node_pk, node_pk, TM_KEYS_PUBLIC_BYTES);
    zhashx_insert (self->revoked, hex, entry);
    zhashx_delete (self->members, hex);
    uint8_t curve_pk [crypto_box_PUBLICKEYBYTES];
    if (crypto_sign_ed25519_pk_to_curve25519 (curve_pk, node_pk) == 0) {
        char curve_hex [S_HEX_SIZE];
        s_hex (curve_pk, curve_hex);
        zhashx_insert (self->revoked_curve, curve_hex, (void *) "");
    }
    if (memcmp (node_pk, self->node_pk, TM_KEYS_PUBLIC_BYTES) == 0) {
        self->self_revoked = true;
        tm_error ("keys", "this node's identity has been revoked from the cluster");
    }
    return 1;
}

//  ---------------------------------------------------------------------
//  Saving the membership

static int
s_save_cert (tm_keys_t *self, char **err)
{
    uint8_t buf [TM_KEYS_CERT_MAX];
    size_t size = tm_keys_cert_encode (&self->cert, buf, sizeof buf);
    assert (size);
    return s_file_write (self, "node.cert", "TMCC", buf, size, false, err) == 0 ? 0 : -1;
}

static int
s_save_secrets (tm_keys_t *self, char **err)
{
    size_t max = 1 + TM_KEYS_MAX_SECRETS * TM_KEYS_ROTATION_BYTES;
    uint8_t *body = (uint8_t *) s_secure_alloc (max);
    size_t size = 1;
    for (size_t i = 0; i < self->secret_count; i++)
        if (self->vault->secrets [i].is_signed) {
            memcpy (body + size, self->vault->secrets [i].fact, TM_KEYS_ROTATION_BYTES);
            size += TM_KEYS_ROTATION_BYTES;
            body [0]++;
        }
    int rc = s_file_write (self, "join.secrets", "TMJS", body, size, false, err);
    sodium_free (body);
    return rc == 0 ? 0 : -1;
}

static int
s_save_revoked (tm_keys_t *self, char **err)
{
    s_buf_t buf = { NULL, 0, 0 };
    s_buf_u32 (&buf, (uint32_t) zhashx_size (self->revoked));
    for (s_revoked_t *entry = (s_revoked_t *) zhashx_first (self->revoked);
         entry; entry = (s_revoked_t *) zhashx_next (self->revoked))
        s_buf_put (&buf, entry->fact, TM_KEYS_REVOCATION_BYTES);
    int rc = s_file_write (self, "revoked", "TMRL", buf.data, buf.size, false, err);
    free (buf.data);
    return rc == 0 ? 0 : -1;
}

static void
s_encode_members (tm_keys_t *self, s_buf_t *buf)
{
    s_buf_u32 (buf, (uint32_t) zhashx_size (self->members));
    for (tm_cert_t *cert = (tm_cert_t *) zhashx_first (self->members);
         cert; cert = (tm_cert_t *) zhashx_next (self->members)) {
        uint8_t encoded [TM_KEYS_CERT_MAX];
        size_t size = tm_keys_cert_encode (cert, encoded, sizeof encoded);
        s_buf_u8 (buf, (uint8_t) size);
        s_buf_put (buf, encoded, size);
    }
}

static int
s_save_members (tm_keys_t *self, char **err)
{
    s_buf_t buf = { NULL, 0, 0 };
    s_encode_members (self, &buf);
    int rc = s_file_write (self, "members", "TMMB", buf.data, buf.size, false, err);
    free (buf.data);
    if (rc == 0)
        self->members_unsaved = false;
    return rc == 0 ? 0 : -1;
}

//  Writes the whole membership, cluster.key last (invariant 4).
//  Returns 0, or -1 with *err set.
static int
s_save_membership (tm_keys_t *self, char **err)
{
    if (s_save_cert (self, err) || s_save_secrets (self, err)
    ||  s_save_revoked (self, err) || s_save_members (self, err))
        return -1;
    int rc = s_file_write (self, "cluster.key", "TMCK", self->vault->cluster_sk,
                           S_SEED_BYTES, true, err);
    if (rc == 1)
        return tm_fail (err, "keys: %s/cluster.key already exists", self->dir);
    return rc;
}

//  Gossip-driven changes are saved best-effort: the facts are learnt
//  again from peers if the write fails.
static void
s_save_or_warn (tm_keys_t *self, int (*save) (tm_keys_t *, char **))
{
    if (self->state != S_MEMBER)
        return;
    char *err = NULL;
    if (save (self, &err) != 0) {
        tm_warn ("keys", "%s", err);
        free (err);
    }
}

//  Checks the invariants listed at the top of this file (1 to 3).
static bool
s_invariants_hold (tm_keys_t *self)
{
    switch (self->state) {
        case S_NONE:
            if (self->secret_count != 0 || zhashx_size (self->members) != 0)
                return false;
            break;
        case S_PINNED:
            if (self->secret_count != 1 || self->vault->secrets [0].is_signed)
                return false;
            break;
        case S_MEMBER:
            if (self->secret_count < 1 || self->cert.name [0] == 0)
                return false;
            for (size_t i = 0; i < self->secret_count; i++)
                if (!self->vault->secrets [i].is_signed)
                    return false;
            break;
    }
    if (self->secret_count > TM_KEYS_MAX_SECRETS)
        return false;
    for (tm_cert_t *cert = (tm_cert_t *) zhashx_first (self->members);
         cert; cert = (tm_cert_t *) zhashx_next (self->members)) {
        char hex [S_HEX_SIZE];
        s_hex (cert->node_pk, hex);
        if (zhashx_lookup (self->revoked, hex))
            return false;
    }
    return true;
}

//  ---------------------------------------------------------------------
//  The cluster

//  Sets the cluster public key.  Returns -1 if it is not a valid point.
static int
s_cluster_set (tm_keys_t *self, const uint8_t *cluster_pk)
{
    uint8_t curve_pk [crypto_box_PUBLICKEYBYTES];
    if (crypto_sign_ed25519_pk_to_curve25519 (curve_pk, cluster_pk) != 0)
        return -1;
    memcpy (self->cluster_pk, cluster_pk, TM_KEYS_PUBLIC_BYTES);
    s_cluster_id_of (cluster_pk, self->cluster_id);
    zmq_z85_encode (self->cluster_curve_pk_z85, curve_pk, sizeof curve_pk);
    return 0;
}

//  Sets the cluster secret key from its seed; the public key must match
//  the one already set.  Returns -1 if not.
static int
s_cluster_set_secret (tm_keys_t *self, const uint8_t *seed)
{
    uint8_t pk [crypto_sign_PUBLICKEYBYTES];
    uint8_t curve_sk [crypto_box_SECRETKEYBYTES];
    uint8_t *copy = (uint8_t *) s_secure_alloc (S_SEED_BYTES);
    memcpy (copy, seed, S_SEED_BYTES);        //  SEED may alias cluster_sk
    crypto_sign_seed_keypair (pk, self->vault->cluster_sk, copy);
    sodium_free (copy);
    if (memcmp (pk, self->cluster_pk, sizeof pk) != 0
    ||  crypto_sign_ed25519_sk_to_curve25519 (curve_sk, self->vault->cluster_sk) != 0) {
        sodium_memzero (self->vault->cluster_sk, sizeof self->vault->cluster_sk);
        return -1;
    }
    zmq_z85_encode (self->vault->cluster_curve_sk_z85, curve_sk, sizeof curve_sk);
    sodium_memzero (curve_sk, sizeof curve_sk);
    return 0;
}

//  Forgets the cluster: back to S_NONE.
static void
s_cluster_reset (tm_keys_t *self)
{
    self->state = S_NONE;
    memset (self->cluster_pk, 0, sizeof self->cluster_pk);
    memset (self->cluster_id, 0, sizeof self->cluster_id);
    memset (self->cluster_curve_pk_z85, 0, sizeof self->cluster_curve_pk_z85);
    memset (&self->cert, 0, sizeof self->cert);
    sodium_memzero (self->vault->cluster_sk, sizeof self->vault->cluster_sk);
    sodium_memzero (self->vault->cluster_curve_sk_z85, sizeof self->vault->cluster_curve_sk_z85);
    sodium_memzero (self->vault->secrets, sizeof self->vault->secrets);
    self->secret_count = 0;
    self->self_revoked = false;
    zhashx_purge (self->members);
    zhashx_purge (self->revoked);
    zhashx_purge (self->revoked_curve);
}

//  Inserts a certificate (verified by the caller).  Returns 1 if it
//  changed the table, 0 if not.
static int
s_member_insert (tm_keys_t *self, const tm_cert_t *cert)
{
    char hex [S_HEX_SIZE];
    s_hex (cert->node_pk, hex);
    if (zhashx_lookup (self->revoked, hex))
        return 0;
    tm_cert_t *known = (tm_cert_t *) zhashx_lookup (self->members, hex);
    if (known && known->issued_ms >= cert->issued_ms)
        return 0;
    tm_cert_t *copy = (tm_cert_t *) zmalloc (sizeof (tm_cert_t));
    *copy = *cert;
    zhashx_update (self->members, hex, copy);
    return 1;
}

//  Decodes the members file's body: count u32, then count times a
//  certificate prefixed by its length (u8).  Every certificate must
//  verify.
static int
s_members_load (tm_keys_t *self, const uint8_t *body, size_t size, char **err)
{
    if (size < 4)
        return tm_fail (err, "corrupt");
    size_t count = tm_wire_get_u32 (body);
    size_t pos = 4;
    for (size_t i = 0; i < count; i++) {
        if (pos >= size || body [pos] > size - pos - 1)
            return tm_fail (err, "corrupt");
        tm_cert_t cert;
        if (tm_keys_cert_decode (body + pos + 1, body [pos], &cert, err) != 0
        ||  tm_keys_cert_verify (self->cluster_pk, &cert, err) != 0)
            return -1;
        s_member_insert (self, &cert);
        pos += 1 + body [pos];
    }
    if (pos != size)
        return tm_fail (err, "corrupt");
    return 0;
}

//  Loads the membership, if cluster.key exists.  Returns 0 or -1.
static int
s_load_membership (tm_keys_t *self, char **err)
{
    uint8_t *body = NULL;
    size_t size = 0;
    int rc = s_file_read (self, "cluster.key", "TMCK", &body, &size, err);
    if (rc == 1)
        return 0;               //  Not a member
    if (rc != 0)
        return -1;
    if (size != S_SEED_BYTES) {
        sodium_free (body);
        return tm_fail (err, "keys: %s/cluster.key is corrupt (wrong size)", self->dir);
    }
    uint8_t pk [crypto_sign_PUBLICKEYBYTES];
    crypto_sign_seed_keypair (pk, self->vault->cluster_sk, body);
    sodium_free (body);
    if (s_cluster_set (self, pk) != 0 || s_cluster_set_secret (self, self->vault->cluster_sk) != 0)
        return tm_fail (err, "keys: %s/cluster.key holds an invalid key", self->dir);
    self->state = S_MEMBER;

    //  Our certificate
    rc = s_file_read (self, "node.cert", "TMCC", &body, &size, err);
    if (rc == 1)
        return tm_fail (err, "keys: %s has cluster.key but no node.cert: "
                        "the data directory is incomplete", self->dir);
    if (rc != 0)
        return -1;
    char *reason = NULL;
    rc = tm_keys_cert_decode (body, size, &self->cert, &reason);
    sodium_free (body);
    if (rc == 0)
        rc = tm_keys_cert_verify (self->cluster_pk, &self->cert, &reason);
    if (rc == 0 && memcmp (self->cert.node_pk, self->node_pk, TM_KEYS_PUBLIC_BYTES) != 0) {
        tm_fail (&reason, "certificate: it is another node's");
        rc = -1;
    }
    if (rc != 0) {
        tm_fail (err, "keys: %s/node.cert: %s", self->dir, reason);
        free (reason);
        return -1;
    }

    //  Join secrets
    rc = s_file_read (self, "join.secrets", "TMJS", &body, &size, err);
    if (rc == 1)
        return tm_fail (err, "keys: %s has cluster.key but no join.secrets: "
                        "the data directory is incomplete", self->dir);
    if (rc != 0)
        return -1;
    if (size < 1 || body [0] < 1 || body [0] > TM_KEYS_MAX_SECRETS
    ||  size != 1 + (size_t) body [0] * TM_KEYS_ROTATION_BYTES) {
        sodium_free (body);
        return tm_fail (err, "keys: %s/join.secrets is corrupt", self->dir);
    }
    for (size_t i = 0; i < body [0]; i++) {
        s_secret_t entry;
        rc = s_rotation_decode (self, body + 1 + i * TM_KEYS_ROTATION_BYTES,
                                TM_KEYS_ROTATION_BYTES, &entry, &reason);
        if (rc == 0)
            s_secret_insert (self, &entry);
        sodium_memzero (&entry, sizeof entry);
        if (rc != 0) {
            sodium_free (body);
            tm_fail (err, "keys: %s/join.secrets: %s", self->dir, reason);
            free (reason);
            return -1;
        }
    }
    sodium_free (body);

    //  Revocations (optional: none yet)
    rc = s_file_read (self, "revoked", "TMRL", &body, &size, err);
    if (rc == -1)
        return -1;
    if (rc == 0) {
        size_t count = size >= 4 ? tm_wire_get_u32 (body) : 0;
        if (size < 4 || (size - 4) / TM_KEYS_REVOCATION_BYTES != count
        ||  (size - 4) % TM_KEYS_REVOCATION_BYTES != 0) {
            sodium_free (body);
            return tm_fail (err, "keys: %s/revoked is corrupt", self->dir);
        }
        for (size_t i = 0; i < count; i++) {
            const uint8_t *fact = body + 4 + i * TM_KEYS_REVOCATION_BYTES;
            if (s_revocation_decode (self, fact, TM_KEYS_REVOCATION_BYTES, &reason) != 0) {
                sodium_free (body);
                tm_fail (err, "keys: %s/revoked: %s", self->dir, reason);
                free (reason);
                return -1;
            }
            s_revoked_insert (self, fact);
        }
        sodium_free (body);
    }

    //  Members (optional); ours is always there
    rc = s_file_read (self, "members", "TMMB", &body, &size, err);
    if (rc == -1)
        return -1;
    if (rc == 0) {
        rc = s_members_load (self, body, size, &reason);
        sodium_free (body);
        if (rc != 0) {
            tm_fail (err, "keys: %s/members: %s", self->dir, reason);
            free (reason);
            return -1;
        }
    }
    s_member_insert (self, &self->cert);
    return 0;
}

//  Loads node.key, or creates it.  Returns 0 or -1.
static int
s_load_identity (tm_keys_t *self, char **err)
{
    uint8_t *body = NULL;
    size_t size = 0;
    int rc = s_file_read (self, "node.key", "TMNK", &body, &size, err);
    if (rc == 1) {
        uint8_t *seed = (uint8_t *) s_secure_alloc (S_SEED_BYTES);
        randombytes_buf (seed, S_SEED_BYTES);
        rc = s_file_write (self, "node.key", "TMNK", seed, S_SEED_BYTES, true, err);
        sodium_free (seed);
        if (rc == -1)
            return -1;
        //  Created, or another process created it first: read it back
        rc = s_file_read (self, "node.key", "TMNK", &body, &size, err);
        if (rc == 0)
            tm_info ("keys", "created a new node identity in %s", self->dir);
    }
    if (rc != 0)
        return rc == 1 ? tm_fail (err, "keys: %s/node.key vanished", self->dir) : -1;
    if (size != S_SEED_BYTES) {
        sodium_free (body);
        return tm_fail (err, "keys: %s/node.key is corrupt (wrong size)", self->dir);
    }
    crypto_sign_seed_keypair (self->node_pk, self->vault->node_sk, body);
    sodium_free (body);
    uint8_t curve_pk [crypto_box_PUBLICKEYBYTES];
    if (crypto_sign_ed25519_pk_to_curve25519 (curve_pk, self->node_pk) != 0
    ||  crypto_sign_ed25519_sk_to_curve25519 (self->vault->node_curve_sk, self->vault->node_sk) != 0)
        return tm_fail (err, "keys: %s/node.key holds an unusable key", self->dir);
    zmq_z85_encode (self->node_curve_pk_z85, curve_pk, sizeof curve_pk);
    zmq_z85_encode (self->vault->node_curve_sk_z85, self->vault->node_curve_sk,
                    sizeof self->vault->node_curve_sk);
    return 0;
}

//  Creates DATADIR/keys if needed and checks it is ours and closed to
//  writers other than us.
static int
s_open_dir (tm_keys_t *self, char **err)
{
    if (mkdir (self->dir, 0700) != 0 && errno != EEXIST)
        return tm_fail (err, "keys: cannot create %s: %s", self->dir, strerror (errno));
    struct stat st;
    if (lstat (self->dir, &st) != 0)
        return tm_fail (err, "keys: cannot stat %s: %s", self->dir, strerror (errno));
    if (!S_ISDIR (st.st_mode))
        return tm_fail (err, "keys: %s is not a directory (symbolic links are refused)", self->dir);
    if (st.st_uid != geteuid ())
        return tm_fail (err, "keys: %s belongs to uid %u, not to this user", self->dir,
                        (unsigned) st.st_uid);
    if (st.st_mode & 022)
        return tm_fail (err, "keys: %s has mode %04o, writable by group or others (chmod 700 it)",
                        self->dir, (unsigned) (st.st_mode & 07777));
    return 0;
}

tm_keys_t *
tm_keys_new (const char *datadir, char **err)
{
    assert (datadir);
    if (sodium_init () < 0) {
        tm_fail (err, "keys: libsodium failed to initialise");
        return NULL;
    }
    tm_keys_t *self = (tm_keys_t *) zmalloc (sizeof (tm_keys_t));
    self->dir = tm_strdupf ("%s/keys", datadir);
    self->vault = (s_vault_t *) s_secure_alloc (sizeof (s_vault_t));
    self->members = zhashx_new ();
    zhashx_set_destructor (self->members, s_free_item);
    self->revoked = zhashx_new ();
    zhashx_set_destructor (self->revoked, s_free_item);
    self->revoked_curve = zhashx_new ();
    if (s_open_dir (self, err) != 0
    ||  s_load_identity (self, err) != 0
    ||  s_load_membership (self, err) != 0)
        tm_keys_destroy (&self);
    assert (!self || s_invariants_hold (self));
    return self;
}

void
tm_keys_destroy (tm_keys_t **self_p)
{
    assert (self_p);
    tm_keys_t *self = *self_p;
    if (!self)
        return;
    tm_keys_flush (self);
    zhashx_destroy (&self->members);
    zhashx_destroy (&self->revoked);
    zhashx_destroy (&self->revoked_curve);
    sodium_free (self->vault);      //  Zeroes it
    free (self->dir);
    sodium_memzero (self, sizeof *self);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  Identity

const uint8_t *
tm_keys_node_public (tm_keys_t *self)
{
    assert (self);
    return self->node_pk;
}

const uint8_t *
tm_keys_node_secret (tm_keys_t *self)
{
    assert (self);
    return self->vault->node_sk;
}

const char *
tm_keys_node_curve_public (tm_keys_t *self)
{
    assert (self);
    return self->node_curve_pk_z85;
}

const char *
tm_keys_node_curve_secret (tm_keys_t *self)
{
    assert (self);
    return self->vault->node_curve_sk_z85;
}

void
tm_keys_sign (tm_keys_t *self, const void *data, size_t size,
              uint8_t signature [TM_KEYS_SIGNATURE_BYTES])
{
    assert (self && (data || size == 0) && signature);
    crypto_sign_detached (signature, NULL, (const uint8_t *) data, size, self->vault->node_sk);
}

bool
tm_keys_verify (const uint8_t node_pk [TM_KEYS_PUBLIC_BYTES], const void *data, size_t size,
                const uint8_t signature [TM_KEYS_SIGNATURE_BYTES])
{
    assert (node_pk && (data || size == 0) && signature);
    return crypto_sign_verify_detached (signature, (const uint8_t *) data, size, node_pk) == 0;
}

int
tm_keys_curve_of (const uint8_t node_pk [TM_KEYS_PUBLIC_BYTES], char z85 [TM_KEYS_Z85_SIZE])
{
    assert (node_pk && z85);
    uint8_t curve_pk [crypto_box_PUBLICKEYBYTES];
    if (crypto_sign_ed25519_pk_to_curve25519 (curve_pk, node_pk) != 0)
        return -1;
    zmq_z85_encode (z85, curve_pk, sizeof curve_pk);
    return 0;
}

void
tm_keys_client_curve (const uint8_t join_secret [TM_KEYS_PUBLIC_BYTES],
                      char public_z85 [TM_KEYS_Z85_SIZE], char secret_z85 [TM_KEYS_Z85_SIZE])
{
    static const char context [] = "testmesh client key v1";
    uint8_t seed [crypto_box_SEEDBYTES];
    uint8_t pk [crypto_box_PUBLICKEYBYTES], sk [crypto_box_SECRETKEYBYTES];
    crypto_generichash (seed, sizeof seed, (const uint8_t *) context, sizeof context - 1,
                        join_secret, TM_KEYS_PUBLIC_BYTES);
    crypto_box_seed_keypair (pk, sk, seed);
    if (public_z85)
        zmq_z85_encode (public_z85, pk, sizeof pk);
    if (secret_z85)
        zmq_z85_encode (secret_z85, sk, sizeof sk);
    sodium_memzero (seed, sizeof seed);
    sodium_memzero (sk, sizeof sk);
}

//  ---------------------------------------------------------------------
//  Cluster

bool
tm_keys_has_cluster (tm_keys_t *self)
{
    assert (self);
    return self->state != S_NONE;
}

bool
tm_keys_is_member (tm_keys_t *self)
{
    assert (self);
    return self->state == S_MEMBER;
}

bool
tm_keys_self_revoked (tm_keys_t *self)
{
    assert (self);
    return self->self_revoked;
}

const uint8_t *
tm_keys_cluster_public (tm_keys_t *self)
{
    assert (self);
    return self->state == S_NONE ? NULL : self->cluster_pk;
}

const uint8_t *
tm_keys_cluster_id (tm_keys_t *self)
{
    assert (self);
    return self->state == S_NONE ? NULL : self->cluster_id;
}

const char *
tm_keys_cluster_curve_public (tm_keys_t *self)
{
    assert (self);
    return self->state == S_NONE ? NULL : self->cluster_curve_pk_z85;
}

const char *
tm_keys_cluster_curve_secret (tm_keys_t *self)
{
    assert (self);
    return self->state == S_MEMBER ? self->vault->cluster_curve_sk_z85 : NULL;
}

const tm_cert_t *
tm_keys_node_cert (tm_keys_t *self)
{
    assert (self);
    return self->state == S_MEMBER ? &self->cert : NULL;
}

static char *
s_cluster_hex (const uint8_t *id)
{
    char hex [2 * TM_KEYS_CLUSTER_ID_BYTES + 1];
    sodium_bin2hex (hex, sizeof hex, id, TM_KEYS_CLUSTER_ID_BYTES);
    return strdup (hex);
}

//  Signs a rotation fact for SECRET into FACT.
static void
s_rotation_sign (tm_keys_t *self, const uint8_t *secret, uint64_t issued_ms,
                 uint64_t grace_ms, uint8_t *fact)
{
    memcpy (fact, "TMS1", 4);
    memcpy (fact + 4, self->cluster_id, TM_KEYS_CLUSTER_ID_BYTES);
    memcpy (fact + 12, secret, TM_KEYS_SECRET_BYTES);
    tm_wire_put_u64 (fact + 44, issued_ms);
    tm_wire_put_u64 (fact + 52, grace_ms);
    size_t signed_size = TM_KEYS_ROTATION_BYTES - TM_KEYS_SIGNATURE_BYTES;
    crypto_sign_detached (fact + signed_size, NULL, fact, signed_size, self->vault->cluster_sk);
}

int
tm_keys_cluster_create (tm_keys_t *self, const char *name, uint64_t now_ms, char **err)
{
    assert (self && name);
    if (self->state != S_NONE) {
        char *hex = s_cluster_hex (self->cluster_id);
        tm_fail (err, "keys: this node is already %s cluster %s",
                 self->state == S_MEMBER ? "a member of" : "joining", hex);
        free (hex);
        return -1;
    }
    if (!tm_keys_name_valid (name, strlen (name)))
        return tm_fail (err, "keys: invalid node name '%s' (1 to %d of A-Z a-z 0-9 . _ -)",
                        name, TM_KEYS_NAME_MAX);
    uint8_t pk [crypto_sign_PUBLICKEYBYTES];
    crypto_sign_keypair (pk, self->vault->cluster_sk);
    if (s_cluster_set (self, pk) != 0
    ||  s_cluster_set_secret (self, self->vault->cluster_sk) != 0) {
        s_cluster_reset (self);
        return tm_fail (err, "keys: generated an unusable cluster key");
    }
    self->state = S_MEMBER;

    s_secret_t *entry = (s_secret_t *) s_secure_alloc (sizeof (s_secret_t));
    randombytes_buf (entry->secret, TM_KEYS_SECRET_BYTES);
    entry->issued_ms = now_ms;
    entry->grace_ms = 0;
    entry->is_signed = true;
    s_rotation_sign (self, entry->secret, now_ms, 0, entry->fact);
    s_secret_insert (self, entry);
    sodium_free (entry);

    int rc = tm_keys_cert_issue (self, self->node_pk, name, now_ms, &self->cert, err);
    if (rc == 0) {
        s_member_insert (self, &self->cert);
        rc = s_save_membership (self, err);
    }
    if (rc != 0) {
        s_cluster_reset (self);
        return -1;
    }
    assert (s_invariants_hold (self));
    char *hex = s_cluster_hex (self->cluster_id);
    tm_info ("keys", "created cluster %s", hex);
    free (hex);
    return 0;
}

int
tm_keys_cluster_pin (tm_keys_t *self, const uint8_t cluster_pk [TM_KEYS_PUBLIC_BYTES],
                     const uint8_t join_secret [TM_KEYS_SECRET_BYTES], char **err)
{
    assert (self && cluster_pk && join_secret);
    if (self->state == S_MEMBER) {
        if (memcmp (cluster_pk, self->cluster_pk, TM_KEYS_PUBLIC_BYTES) == 0)
            return 0;           //  Already in: the token is not needed
        uint8_t other [TM_KEYS_CLUSTER_ID_BYTES];
        s_cluster_id_of (cluster_pk, other);
        char *ours = s_cluster_hex (self->cluster_id);
        char *theirs = s_cluster_hex (other);
        tm_fail (err, "keys: this data directory belongs to cluster %s; the token is for "
                 "cluster %s (use another --data to join it)", ours, theirs);
        free (ours);
        free (theirs);
        return -1;
    }
    s_cluster_reset (self);
    if (s_cluster_set (self, cluster_pk) != 0)
        return tm_fail (err, "keys: the cluster key is not a valid Ed25519 public key");
    self->state = S_PINNED;
    s_secret_t *entry = (s_secret_t *) s_secure_alloc (sizeof (s_secret_t));
    memcpy (entry->secret, join_secret, TM_KEYS_SECRET_BYTES);
    s_secret_insert (self, entry);
    assert (s_invariants_hold (self));
    sodium_free (entry);
    return 0;
}

//  ---------------------------------------------------------------------
//  Certificates and members

int
tm_keys_cert_issue (tm_keys_t *self, const uint8_t node_pk [TM_KEYS_PUBLIC_BYTES],
                    const char *name, uint64_t now_ms, tm_cert_t *cert, char **err)
{
    assert (self && node_pk && name && cert);
    if (self->state != S_MEMBER)
        return tm_fail (err, "keys: only a member can issue certificates");
    if (!tm_keys_name_valid (name, strnlen (name, TM_KEYS_NAME_MAX + 1)))
        return tm_fail (err, "keys: invalid node name (1 to %d of A-Z a-z 0-9 . _ -)",
                        TM_KEYS_NAME_MAX);
    uint8_t curve_pk [crypto_box_PUBLICKEYBYTES];
    if (crypto_sign_ed25519_pk_to_curve25519 (curve_pk, node_pk) != 0)
        return tm_fail (err, "keys: the node key is not a valid Ed25519 public key");
    tm_cert_t fresh;
    memset (&fresh, 0, sizeof fresh);
    memcpy (fresh.cluster_id, self->cluster_id, TM_KEYS_CLUSTER_ID_BYTES);
    memcpy (fresh.node_pk, node_pk, TM_KEYS_PUBLIC_BYTES);
    fresh.issued_ms = now_ms;
    strcpy (fresh.name, name);
    uint8_t buf [TM_KEYS_CERT_MAX];
    size_t size = s_cert_signed_part (&fresh, buf);
    crypto_sign_detached (fresh.signature, NULL, buf, size, self->vault->cluster_sk);
    *cert = fresh;
    return 0;
}

int
tm_keys_member_add (tm_keys_t *self, const tm_cert_t *cert, char **err)
{
    assert (self && cert);
    if (self->state == S_NONE)
        return tm_fail (err, "keys: no cluster to check the certificate against");
    //  The same certificate, byte for byte, is on file and was verified
    //  then: anti-entropy repeats every certificate, and checking each
    //  signature again made forming a large cluster cost O(N^3)
    const tm_cert_t *known = tm_keys_member (self, cert->node_pk);
    if (known && memcmp (known, cert, sizeof *known) == 0)
        return 0;
    if (tm_keys_cert_verify (self->cluster_pk, cert, err) != 0)
        return -1;
    if (tm_keys_status (self, cert->node_pk) == TM_KEYS_REVOKED)
        return tm_fail (err, "keys: node '%s' is revoked", cert->name);
    int rc = s_member_insert (self, cert);
    if (rc == 1)
        self->members_unsaved = true;   //  Written by tm_keys_flush
    return rc;
}

int
tm_keys_flush (tm_keys_t *self)
{
    assert (self);
    if (!self->members_unsaved || self->state != S_MEMBER)
        return 0;
    char *err = NULL;
    if (s_save_members (self, &err) != 0) {
        tm_warn ("keys", "%s", err);
        free (err);
        return -1;
    }
    return 0;
}

tm_keys_status_t
tm_keys_status (tm_keys_t *self, const uint8_t node_pk [TM_KEYS_PUBLIC_BYTES])
{
    assert (self && node_pk);
    char hex [S_HEX_SIZE];
    s_hex (node_pk, hex);
    if (zhashx_lookup (self->revoked, hex))
        return TM_KEYS_REVOKED;
    if (zhashx_lookup (self->members, hex))
        return TM_KEYS_MEMBER;
    return TM_KEYS_UNKNOWN;
}

const tm_cert_t *
tm_keys_member (tm_keys_t *self, const uint8_t node_pk [TM_KEYS_PUBLIC_BYTES])
{
    assert (self && node_pk);
    char hex [S_HEX_SIZE];
    s_hex (node_pk, hex);
    return (const tm_cert_t *) zhashx_lookup (self->members, hex);
}

int
tm_keys_member_find (tm_keys_t *self, const char *name,
                     uint8_t node_pk [TM_KEYS_PUBLIC_BYTES], char **err)
{
    assert (self && name && node_pk);
    size_t found = 0;
    for (tm_cert_t *cert = (tm_cert_t *) zhashx_first (self->members);
         cert; cert = (tm_cert_t *) zhashx_next (self->members))
        if (streq (cert->name, name)) {
            if (found++ == 0)
                memcpy (node_pk, cert->node_pk, TM_KEYS_PUBLIC_BYTES);
        }
    if (found == 1)
        return 0;
    if (found == 0)
        return tm_fail (err, "keys: no member is called '%s'", name);
    return tm_fail (err, "keys: %zu members are called '%s'; name one by its key", found, name);
}

size_t
tm_keys_member_count (tm_keys_t *self)
{
    assert (self);
    return zhashx_size (self->members);
}

//  ---------------------------------------------------------------------
//  Join secrets

size_t
tm_keys_join_secrets (tm_keys_t *self, uint64_t now_ms, const uint8_t *secrets [], size_t max)
{
    assert (self && (secrets || max == 0));
    size_t order [TM_KEYS_MAX_SECRETS + 1];
    size_t count = 0;
    for (size_t i = 0; i < self->secret_count; i++)
        if (now_ms < s_secret_expiry (self, i)) {
            //  Insertion sort, newest first
            size_t at = count++;
            while (at > 0 && s_secret_newer (&self->vault->secrets [i],
                                             &self->vault->secrets [order [at - 1]])) {
                order [at] = order [at - 1];
                at--;
            }
            order [at] = i;
        }
    if (count > max)
        count = max;
    for (size_t i = 0; i < count; i++)
        secrets [i] = self->vault->secrets [order [i]].secret;
    return count;
}

const uint8_t *
tm_keys_join_secret (tm_keys_t *self)
{
    assert (self);
    s_secret_t *newest = s_secret_newest (self);
    return newest ? newest->secret : NULL;
}

int
tm_keys_rotate (tm_keys_t *self, uint64_t grace_ms, uint64_t now_ms,
                uint8_t fact [TM_KEYS_ROTATION_BYTES], char **err)
{
    assert (self && fact);
    if (self->state != S_MEMBER)
        return tm_fail (err, "keys: only a member can rotate the join secret");
    if (grace_ms > TM_KEYS_GRACE_MAX_MS)
        return tm_fail (err, "keys: grace period longer than %llu days",
                        (unsigned long long) (TM_KEYS_GRACE_MAX_MS / 86400000));
    //  The new secret must be the newest even if a clock ran ahead
    s_secret_t *newest = s_secret_newest (self);
    uint64_t issued_ms = newest && newest->issued_ms >= now_ms ? newest->issued_ms + 1 : now_ms;
    s_secret_t *entry = (s_secret_t *) s_secure_alloc (sizeof (s_secret_t));
    randombytes_buf (entry->secret, TM_KEYS_SECRET_BYTES);
    entry->issued_ms = issued_ms;
    entry->grace_ms = grace_ms;
    entry->is_signed = true;
    s_rotation_sign (self, entry->secret, issued_ms, grace_ms, entry->fact);
    memcpy (fact, entry->fact, TM_KEYS_ROTATION_BYTES);
    s_secret_insert (self, entry);
    sodium_free (entry);
    assert (s_invariants_hold (self));
    s_save_or_warn (self, s_save_secrets);
    tm_info ("keys", "join secret rotated; older secrets stop admitting in %llu s",
             (unsigned long long) (grace_ms / 1000));
    return 0;
}

int
tm_keys_rotation_apply (tm_keys_t *self, const uint8_t *data, size_t size, char **err)
{
    assert (self);
    if (self->state != S_MEMBER)
        return tm_fail (err, "join secret fact: only members keep join secrets");
    //  Anti-entropy repeats every fact every round: one we hold byte for
    //  byte was verified when it came, so do not check its signature again
    for (size_t i = 0; data && size == TM_KEYS_ROTATION_BYTES && i < self->secret_count; i++)
        if (self->vault->secrets [i].is_signed
        &&  sodium_memcmp (self->vault->secrets [i].fact, data, size) == 0)
            return 0;
    s_secret_t *entry = (s_secret_t *) s_secure_alloc (sizeof (s_secret_t));
    int rc = s_rotation_decode (self, data, size, entry, err);
    if (rc == 0)
        rc = s_secret_insert (self, entry);
    sodium_free (entry);
    assert (s_invariants_hold (self));
    if (rc == 1)
        s_save_or_warn (self, s_save_secrets);
    return rc;
}

//  ---------------------------------------------------------------------
//  Revocation

int
tm_keys_revoke (tm_keys_t *self, const uint8_t node_pk [TM_KEYS_PUBLIC_BYTES],
                uint64_t now_ms, uint8_t fact [TM_KEYS_REVOCATION_BYTES], char **err)
{
    assert (self && node_pk && fact);
    if (self->state != S_MEMBER)
        return tm_fail (err, "keys: only a member can revoke a node");
    if (memcmp (node_pk, self->node_pk, TM_KEYS_PUBLIC_BYTES) == 0)
        return tm_fail (err, "keys: a node cannot revoke itself (remove it from another member)");
    char hex [S_HEX_SIZE];
    s_hex (node_pk, hex);
    s_revoked_t *known = (s_revoked_t *) zhashx_lookup (self->revoked, hex);
    if (known) {                //  Already revoked: hand back the fact
        memcpy (fact, known->fact, TM_KEYS_REVOCATION_BYTES);
        return 0;
    }
    memcpy (fact, "TMR1", 4);
    memcpy (fact + 4, self->cluster_id, TM_KEYS_CLUSTER_ID_BYTES);
    memcpy (fact + 12, node_pk, TM_KEYS_PUBLIC_BYTES);
    tm_wire_put_u64 (fact + 44, now_ms);
    size_t signed_size = TM_KEYS_REVOCATION_BYTES - TM_KEYS_SIGNATURE_BYTES;
    crypto_sign_detached (fact + signed_size, NULL, fact, signed_size, self->vault->cluster_sk);
    s_revoked_insert (self, fact);
    assert (s_invariants_hold (self));
    s_save_or_warn (self, s_save_revoked);
    s_save_or_warn (self, s_save_members);
    return 0;
}

int
tm_keys_revocation_apply (tm_keys_t *self, const uint8_t *data, size_t size, char **err)
{
    assert (self);
    //  Known byte for byte: verified when it came (as in rotation_apply)
    if (data && size == TM_KEYS_REVOCATION_BYTES && self->state != S_NONE) {
        char hex [S_HEX_SIZE];
        s_hex (data + 12, hex);
        s_revoked_t *known = (s_revoked_t *) zhashx_lookup (self->revoked, hex);
        if (known && memcmp (known->fact, data, size) == 0)
            return 0;
    }
    if (s_revocation_decode (self, data, size, err) != 0)
        return -1;
    int rc = s_revoked_insert (self, data);
    assert (s_invariants_hold (self));
    if (rc == 1) {
        s_save_or_warn (self, s_save_revoked);
        s_save_or_warn (self, s_save_members);
    }
    return rc;
}

bool
tm_keys_curve_revoked (tm_keys_t *self, const uint8_t curve_pk [TM_KEYS_PUBLIC_BYTES])
{
    assert (self && curve_pk);
    char hex [S_HEX_SIZE];
    s_hex (curve_pk, hex);
    return zhashx_lookup (self->revoked_curve, hex) != NULL;
}

size_t
tm_keys_revoked_count (tm_keys_t *self)
{
    assert (self);
    return zhashx_size (self->revoked);
}

//  ---------------------------------------------------------------------
//  Admission
//
//  WELCOME payload:
//      "TMW1" | cert length u8 | joiner's certificate |
//      sealed length u16 | sealed |
//      member count u32 | { cert length u8 | certificate } * count |
//      revocation count u32 | revocation fact [116] * count
//  sealed = crypto_box_seal to the joiner's Curve25519 key of
//      "TMX1" | cluster seed [32] | secret count u8 | rotation fact [124] * count

uint8_t *
tm_keys_welcome_encode (tm_keys_t *self, const uint8_t joiner_pk [TM_KEYS_PUBLIC_BYTES],
                        const char *name, uint64_t now_ms, size_t *size, char **err)
{
    assert (self && joiner_pk && name && size);
    *size = 0;
    if (self->state != S_MEMBER) {
        tm_fail (err, "keys: only a member can welcome a joiner");
        return NULL;
    }
    if (tm_keys_status (self, joiner_pk) == TM_KEYS_REVOKED) {
        tm_fail (err, "keys: the joiner's key is revoked");
        return NULL;
    }
    tm_cert_t cert;
    if (tm_keys_cert_issue (self, joiner_pk, name, now_ms, &cert, err) != 0)
        return NULL;
    //  The admitting member knows the newcomer from now on: its first
    //  SWIM messages come to us, and must not be dropped as unknown
    if (tm_keys_member_add (self, &cert, err) < 0)
        return NULL;
    uint8_t joiner_curve [crypto_box_PUBLICKEYBYTES];
    if (crypto_sign_ed25519_pk_to_curve25519 (joiner_curve, joiner_pk) != 0) {
        tm_fail (err, "keys: the joiner's key is not a valid Ed25519 public key");
        return NULL;
    }
    //  The secret part, sealed to the joiner
    size_t plain_size = S_SEALED_HEADER + self->secret_count * TM_KEYS_ROTATION_BYTES;
    uint8_t *plain = (uint8_t *) s_secure_alloc (plain_size);
    memcpy (plain, "TMX1", 4);
    memcpy (plain + 4, self->vault->cluster_sk, S_SEED_BYTES);     //  sk = seed | pk
    plain [4 + S_SEED_BYTES] = (uint8_t) self->secret_count;
    for (size_t i = 0; i < self->secret_count; i++)
        memcpy (plain + S_SEALED_HEADER + i * TM_KEYS_ROTATION_BYTES,
                self->vault->secrets [i].fact, TM_KEYS_ROTATION_BYTES);
    size_t sealed_size = plain_size + crypto_box_SEALBYTES;
    uint8_t *sealed = (uint8_t *) zmalloc (sealed_size);
    crypto_box_seal (sealed, plain, plain_size, joiner_curve);
    sodium_free (plain);

    //  The joiner is a member from now on, for us (written by
    //  tm_keys_flush: the joiner's HELLO teaches it to us again anyway)
    s_member_insert (self, &cert);
    self->members_unsaved = true;

    s_buf_t buf = { NULL, 0, 0 };
    uint8_t encoded [TM_KEYS_CERT_MAX];
    size_t encoded_size = tm_keys_cert_encode (&cert, encoded, sizeof encoded);
    s_buf_put (&buf, "TMW1", 4);
    s_buf_u8 (&buf, (uint8_t) encoded_size);
    s_buf_put (&buf, encoded, encoded_size);
    s_buf_u16 (&buf, (uint16_t) sealed_size);
    s_buf_put (&buf, sealed, sealed_size);
    free (sealed);
    s_encode_members (self, &buf);
    s_buf_u32 (&buf, (uint32_t) zhashx_size (self->revoked));
    for (s_revoked_t *entry = (s_revoked_t *) zhashx_first (self->revoked);
         entry; entry = (s_revoked_t *) zhashx_next (self->revoked))
        s_buf_put (&buf, entry->fact, TM_KEYS_REVOCATION_BYTES);
    *size = buf.size;
    return buf.data;
}

//  Reads a length-prefixed certificate at *POS, verifies it against the
//  pinned cluster.
static int
s_welcome_cert (tm_keys_t *self, const uint8_t *data, size_t size, size_t *pos,
                tm_cert_t *cert, char **err)
{
    if (*pos >= size)
        return tm_fail (err, "truncated");
    size_t len = data [*pos];
    if (len > size - *pos - 1)
        return tm_fail (err, "truncated");
    if (tm_keys_cert_decode (data + *pos + 1, len, cert, err) != 0
    ||  tm_keys_cert_verify (self->cluster_pk, cert, err) != 0)
        return -1;
    *pos += 1 + len;
    return 0;
}

//  Decodes and checks a welcome without changing SELF but for the vault's
//  cluster key, which the caller wipes on failure.  On success fills the
//  outputs, which point into DATA or are malloc'ed (CERTS).
static int
s_welcome_check (tm_keys_t *self, const uint8_t *sender_pk, const uint8_t *data, size_t size,
                 tm_cert_t *own, uint8_t *plain, size_t *plain_size,
                 tm_cert_t **certs, size_t *cert_count,
                 const uint8_t **revoked, size_t *revoked_count, char **err)
{
    size_t pos = 4;
    if (!data || size < 4 || memcmp (data, "TMW1", 4) != 0)
        return tm_fail (err, "not a welcome");
    if (s_welcome_cert (self, data, size, &pos, own, err) != 0)
        return -1;
    if (memcmp (own->node_pk, self->node_pk, TM_KEYS_PUBLIC_BYTES) != 0)
        return tm_fail (err, "the certificate is for another node");

    if (size - pos < 2)
        return tm_fail (err, "truncated");
    size_t sealed_size = tm_wire_get_u16 (data + pos);
    pos += 2;
    if (sealed_size > size - pos)
        return tm_fail (err, "truncated");
    size_t max_plain = S_SEALED_HEADER + TM_KEYS_MAX_SECRETS * TM_KEYS_ROTATION_BYTES;
    if (sealed_size < crypto_box_SEALBYTES + S_SEALED_HEADER
    ||  sealed_size > crypto_box_SEALBYTES + max_plain)
        return tm_fail (err, "sealed part has an impossible size");
    uint8_t curve_pk [crypto_box_PUBLICKEYBYTES];
    if (crypto_sign_ed25519_pk_to_curve25519 (curve_pk, self->node_pk) != 0)
        return tm_fail (err, "this node's key has no Curve25519 form");
    *plain_size = sealed_size - crypto_box_SEALBYTES;
    if (crypto_box_seal_open (plain, data + pos, sealed_size, curve_pk,
                              self->vault->node_curve_sk) != 0)
        return tm_fail (err, "sealed part does not open with this node's key");
    pos += sealed_size;
    if (memcmp (plain, "TMX1", 4) != 0)
        return tm_fail (err, "sealed part is malformed");
    size_t secret_count = plain [4 + S_SEED_BYTES];
    if (secret_count < 1 || secret_count > TM_KEYS_MAX_SECRETS
    ||  *plain_size != S_SEALED_HEADER + secret_count * TM_KEYS_ROTATION_BYTES)
        return tm_fail (err, "sealed part is malformed");
    uint8_t pk [crypto_sign_PUBLICKEYBYTES];
    crypto_sign_seed_keypair (pk, self->vault->cluster_sk, plain + 4);
    if (memcmp (pk, self->cluster_pk, sizeof pk) != 0)
        return tm_fail (err, "the cluster key sent does not match the token's");
    for (size_t i = 0; i < secret_count; i++) {
        s_secret_t entry;
        int rc = s_rotation_decode (self, plain + S_SEALED_HEADER + i * TM_KEYS_ROTATION_BYTES,
                                    TM_KEYS_ROTATION_BYTES, &entry, err);
        sodium_memzero (&entry, sizeof entry);
        if (rc != 0)
            return -1;
    }

    if (size - pos < 4)
        return tm_fail (err, "truncated");
    size_t count = tm_wire_get_u32 (data + pos);
    pos += 4;
    if (count > (size - pos) / (1 + TM_KEYS_CERT_MIN))
        return tm_fail (err, "member count runs past the end");
    *certs = (tm_cert_t *) zmalloc ((count ? count : 1) * sizeof (tm_cert_t));
    *cert_count = count;
    bool sender_known = false;
    for (size_t i = 0; i < count; i++) {
        if (s_welcome_cert (self, data, size, &pos, &(*certs) [i], err) != 0)
            return -1;
        if (memcmp ((*certs) [i].node_pk, sender_pk, TM_KEYS_PUBLIC_BYTES) == 0)
            sender_known = true;
    }
    if (!sender_known)
        return tm_fail (err, "the sender is not a certified member");

    if (size - pos < 4)
        return tm_fail (err, "truncated");
    count = tm_wire_get_u32 (data + pos);
    pos += 4;
    if ((size - pos) % TM_KEYS_REVOCATION_BYTES != 0
    ||  (size - pos) / TM_KEYS_REVOCATION_BYTES != count)
        return tm_fail (err, "revocation count does not match its size");
    *revoked = data + pos;
    *revoked_count = count;
    for (size_t i = 0; i < count; i++) {
        const uint8_t *fact = data + pos + i * TM_KEYS_REVOCATION_BYTES;
        if (s_revocation_decode (self, fact, TM_KEYS_REVOCATION_BYTES, err) != 0)
            return -1;
        if (memcmp (fact + 12, self->node_pk, TM_KEYS_PUBLIC_BYTES) == 0)
            return tm_fail (err, "this node's key is revoked");
        if (memcmp (fact + 12, sender_pk, TM_KEYS_PUBLIC_BYTES) == 0)
            return tm_fail (err, "the sender is revoked");
    }
    return 0;
}

int
tm_keys_welcome_accept (tm_keys_t *self, const uint8_t sender_pk [TM_KEYS_PUBLIC_BYTES],
                        const uint8_t *data, size_t size, char **err)
{
    assert (self && sender_pk);
    if (self->state == S_MEMBER)
        return tm_fail (err, "welcome: this node is already a member");
    if (self->state != S_PINNED)
        return tm_fail (err, "welcome: no token pinned");
    size_t max_plain = S_SEALED_HEADER + TM_KEYS_MAX_SECRETS * TM_KEYS_ROTATION_BYTES;
    uint8_t *plain = (uint8_t *) s_secure_alloc (max_plain);
    size_t plain_size = 0;
    tm_cert_t own;
    tm_cert_t *certs = NULL;
    size_t cert_count = 0;
    const uint8_t *revoked = NULL;
    size_t revoked_count = 0;
    char *reason = NULL;
    int rc = s_welcome_check (self, sender_pk, data, size, &own, plain, &plain_size,
                              &certs, &cert_count, &revoked, &revoked_count, &reason);
    if (rc != 0) {
        sodium_memzero (self->vault->cluster_sk, sizeof self->vault->cluster_sk);
        tm_fail (err, "welcome: %s", reason);
        free (reason);
        goto done;
    }
    //  Commit: keep the token's secret to restore it if saving fails
    uint8_t cluster_pk [TM_KEYS_PUBLIC_BYTES];
    memcpy (cluster_pk, self->cluster_pk, sizeof cluster_pk);
    uint8_t *token_secret = (uint8_t *) s_secure_alloc (TM_KEYS_SECRET_BYTES);
    memcpy (token_secret, self->vault->secrets [0].secret, TM_KEYS_SECRET_BYTES);

    s_cluster_set_secret (self, plain + 4);     //  Checked: matches
    sodium_memzero (self->vault->secrets, sizeof self->vault->secrets);
    self->secret_count = 0;
    size_t secret_count = plain [4 + S_SEED_BYTES];
    for (size_t i = 0; i < secret_count; i++) {
        s_secret_t entry;
        s_rotation_decode (self, plain + S_SEALED_HEADER + i * TM_KEYS_ROTATION_BYTES,
                           TM_KEYS_ROTATION_BYTES, &entry, NULL);
        s_secret_insert (self, &entry);
        sodium_memzero (&entry, sizeof entry);
    }
    for (size_t i = 0; i < revoked_count; i++)
        s_revoked_insert (self, revoked + i * TM_KEYS_REVOCATION_BYTES);
    for (size_t i = 0; i < cert_count; i++)
        s_member_insert (self, &certs [i]);
    self->cert = own;
    s_member_insert (self, &own);
    self->state = S_MEMBER;
    rc = s_save_membership (self, err);
    if (rc != 0) {
        s_cluster_reset (self);
        tm_keys_cluster_pin (self, cluster_pk, token_secret, NULL);
    }
    else {
        char *hex = s_cluster_hex (self->cluster_id);
        tm_info ("keys", "joined cluster %s as '%s'", hex, own.name);
        free (hex);
    }
    assert (s_invariants_hold (self));
    sodium_free (token_secret);
done:
    free (certs);
    sodium_free (plain);
    return rc;
}
