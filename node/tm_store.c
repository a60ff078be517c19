/*  tm_store.c - the content store: files by BLAKE2b digest, in DATADIR/store.

    See tm_store.h for the layout and the invariants.  Adding a file reads
    it twice when the blob is new: once to learn its digest (most of the
    time the blob is present already, and nothing is written), once to
    copy it, hashing again, so that a file rewritten between the two
    reads is refused instead of stored under a name that is not its
    content's.
*/
#include "tm_store.h"
#include "tm_task.h"
#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_DIGEST_SIZE   32              //  BLAKE2b-256
#define S_BUFFER        (1024 * 1024)   //  Bytes read at a time

struct _tm_store_t {
    char *dir;                  //  DATADIR/store
};

tm_store_t *
tm_store_new (const char *datadir, char **err)
{
    assert (datadir);
    char *dir = tm_strdupf ("%s/store", datadir);
    struct stat st;
    errno = 0;
    if ((mkdir (dir, 0700) != 0 && errno != EEXIST)
    ||  stat (dir, &st) != 0 || !S_ISDIR (st.st_mode)) {
        tm_fail (err, "cannot create the content store %s: %s", dir,
                 errno && errno != EEXIST ? strerror (errno) : "not a directory");
        free (dir);
        return NULL;
    }
    tm_store_t *self = (tm_store_t *) zmalloc (sizeof (tm_store_t));
    self->dir = dir;
    return self;
}

void
tm_store_destroy (tm_store_t **self_p)
{
    assert (self_p);
    tm_store_t *self = *self_p;
    if (!self)
        return;
    free (self->dir);
    free (self);
    *self_p = NULL;
}

const char *
tm_store_dir (tm_store_t *self)
{
    assert (self);
    return self->dir;
}

static void
s_hex (const unsigned char digest [S_DIGEST_SIZE], char hex [TM_STORE_HEX])
{
    sodium_bin2hex (hex, TM_STORE_HEX, digest, S_DIGEST_SIZE);
}

void
tm_store_digest (const void *data, size_t size, char hex [TM_STORE_HEX])
{
    unsigned char digest [S_DIGEST_SIZE];
    crypto_generichash (digest, sizeof digest, (const unsigned char *) data, size, NULL, 0);
    s_hex (digest, hex);
}

//  DIR/HEX in a new string; HEX must be a valid digest (no '/' in it).
static char *
s_blob_path (tm_store_t *self, const char *hex)
{
    assert (tm_task_digest_valid (hex));
    return tm_strdupf ("%s/%s", self->dir, hex);
}

bool
tm_store_has (tm_store_t *self, const char *hex, uint64_t size)
{
    assert (self);
    char *path = s_blob_path (self, hex);
    struct stat st;
    bool has = stat (path, &st) == 0 && S_ISREG (st.st_mode) && (uint64_t) st.st_size == size;
    free (path);
    return has;
}

//  Reads FD to its end, hashing, and copying to OUT if OUT >= 0.  Sets
//  HEX and *SIZE.  Returns 0, or -1 with *err.
static int
s_hash_fd (int fd, int out, const char *path, char hex [TM_STORE_HEX], uint64_t *size,
           char **err)
{
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, S_DIGEST_SIZE);
    unsigned char *buffer = (unsigned char *) malloc (S_BUFFER);
    assert (buffer);
    uint64_t total = 0;
    int rc = 0;
    while (true) {
        ssize_t got = read (fd, buffer, S_BUFFER);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = tm_fail (err, "cannot read %s: %s", path, strerror (errno));
            break;
        }
        if (got == 0)
            break;
        crypto_generichash_update (&state, buffer, (size_t) got);
        total += (uint64_t) got;
        for (ssize_t done = 0; out >= 0 && done < got; ) {
            ssize_t put = write (out, buffer + done, (size_t) (got - done));
            if (put < 0 && errno == EINTR)
                continue;
            if (put <= 0) {
                rc = tm_fail (err, "cannot write to the content store: %s",
                              put < 0 ? strerror (errno) : "short write");
                break;
            }
            done += put;
        }
        if (rc != 0)
            break;
    }
    free (buffer);
    unsigned char digest [S_DIGEST_SIZE];
    crypto_generichash_final (&state, digest, sizeof digest);
    s_hex (digest, hex);
    *size = total;
    return rc;
}

int
tm_store_add_file (tm_store_t *self, const char *path, char hex [TM_STORE_HEX],
                   uint64_t *size, bool *exec, char **err)
{
    assert (self && path && hex && size && exec);
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tm_fail (err, "cannot read %s: %s", path, strerror (errno));
    struct stat st;
    if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)) {
        close (fd);
        return tm_fail (err, "%s is not a regular file", path);
    }
    *exec = (st.st_mode & S_IXUSR) != 0;
    int rc = s_hash_fd (fd, -1, path, hex, size, err);
    if (rc != 0 || tm_store_has (self, hex, *size)) {
        //  Present: used now, so that an agent's index does not evict it
        //  between here and the run that needs it (tm_storeindex.h)
        if (rc == 0)
            tm_store_touch (self, hex);
        close (fd);
        return rc;
    }
    //  New: copy it in, hashing again
    char *tmp_path = NULL;
    int out = tm_store_begin (self, &tmp_path, err);
    if (out < 0) {
        close (fd);
        return -1;
    }
    char again [TM_STORE_HEX];
    uint64_t copied = 0;
    if (lseek (fd, 0, SEEK_SET) != 0)
        rc = tm_fail (err, "cannot read %s: %s", path, strerror (errno));
    else
        rc = s_hash_fd (fd, out, path, again, &copied, err);
    close (fd);
    if (rc == 0 && (copied != *size || !streq (again, hex)))
        rc = tm_fail (err, "%s changed while it was being read", path);
    if (rc == 0)
        return tm_store_commit (self, &out, &tmp_path, hex, *exec, err);
    tm_store_abort (self, &out, &tmp_path);
    return -1;
}

int
tm_store_open (tm_store_t *self, const char *hex, uint64_t *size)
{
    assert (self && size);
    char *path = s_blob_path (self, hex);
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    free (path);
    struct stat st;
    if (fd >= 0 && (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))) {
        close (fd);
        fd = -1;
    }
    if (fd >= 0)
        *size = (uint64_t) st.st_size;
    return fd;
}

int
tm_store_begin (tm_store_t *self, char **tmp_path, char **err)
{
    assert (self && tmp_path);
    *tmp_path = tm_strdupf ("%s/tmp.XXXXXX", self->dir);
    int fd = mkostemp (*tmp_path, O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && mkdir (self->dir, 0700) == 0) {
        //  Someone removed the store to reclaim its space: start afresh
        snprintf (*tmp_path + strlen (self->dir), 12, "/tmp.XXXXXX");
        fd = mkostemp (*tmp_path, O_CLOEXEC);
    }
    if (fd < 0) {
        tm_fail (err, "cannot write to the content store %s: %s", self->dir, strerror (errno));
        zstr_free (tmp_path);
    }
    return fd;
}

int
tm_store_commit (tm_store_t *self, int *fd_p, char **tmp_path_p, const char *hex,
                 bool exec, char **err)
{
    assert (self && fd_p && *fd_p >= 0 && tmp_path_p && *tmp_path_p);
    char *path = s_blob_path (self, hex);
    int rc = 0;
    //  A blob that is present already (a concurrent writer) is replaced
    //  by the same bytes: rename is atomic, readers see one or the other
    if (fchmod (*fd_p, exec ? 0555 : 0444) != 0 || rename (*tmp_path_p, path) != 0) {
        rc = tm_fail (err, "cannot write to the content store: %s", strerror (errno));
        unlink (*tmp_path_p);
    }
    close (*fd_p);
    *fd_p = -1;
    zstr_free (tmp_path_p);
    free (path);
    return rc;
}

void
tm_store_abort (tm_store_t *self, int *fd_p, char **tmp_path_p)
{
    assert (self && fd_p && tmp_path_p);
    if (*fd_p >= 0)
        close (*fd_p);
    *fd_p = -1;
    if (*tmp_path_p)
        unlink (*tmp_path_p);
    zstr_free (tmp_path_p);
}

//  Copies FROM (open) to a new file DEST with MODE.  Returns 0 or -1
//  with *err (DEST removed).
static int
s_copy (int from, const char *dest, mode_t mode, char **err)
{
    int to = open (dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (to < 0)
        return tm_fail (err, "cannot create %s: %s", dest, strerror (errno));
    int rc = 0;
    while (true) {
        ssize_t moved = copy_file_range (from, NULL, to, NULL, S_BUFFER * 16, 0);
        if (moved < 0 && errno == EINTR)
            continue;
        if (moved < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL
                       || errno == EOPNOTSUPP)) {
            //  Old kernels and some file systems: do it by hand
            char hex [TM_STORE_HEX];
            uint64_t size;
            rc = s_hash_fd (from, to, dest, hex, &size, err);
            break;
        }
        if (moved < 0) {
            rc = tm_fail (err, "cannot copy to %s: %s", dest, strerror (errno));
            break;
        }
        if (moved == 0)
            break;
    }
    if (close (to) != 0 && rc == 0)
        rc = tm_fail (err, "cannot copy to %s: %s", dest, strerror (errno));
    if (rc != 0)
        unlink (dest);
    return rc;
}

int
tm_store_link (tm_store_t *self, const char *hex, bool exec, const char *dest, char **err)
{
    assert (self && dest);
    char *path = s_blob_path (self, hex);
    int rc = 0;
    struct stat st;
    if (stat (path, &st) != 0) {
        int saved = errno;
        rc = tm_fail (err, "blob %.16s... is not in the content store: %s", hex,
                      strerror (errno));
        errno = saved;
    }
    else
    if (((st.st_mode & S_IXUSR) != 0) == exec && link (path, dest) == 0)
        rc = 0;
    else {
        //  Another mode wanted, another file system, or too many links
        int from = open (path, O_RDONLY | O_CLOEXEC);
        if (from < 0) {
            int saved = errno;
            rc = tm_fail (err, "cannot read blob %.16s...: %s", hex, strerror (errno));
            errno = saved;
        }
        else {
            rc = s_copy (from, dest, exec ? 0555 : 0444, err);
            close (from);
        }
    }
    free (path);
    return rc;
}

int
tm_store_touch (tm_store_t *self, const char *hex)
{
    assert (self);
    char *path = s_blob_path (self, hex);
    //  Only the atime: a blob's mtime is when it was written, and tests
    //  that compare the mtimes of their inputs must not see it move
    struct timespec times [2] = { { .tv_nsec = UTIME_NOW }, { .tv_nsec = UTIME_OMIT } };
    int rc = utimensat (AT_FDCWD, path, times, 0);
    free (path);
    return rc == 0 ? 0 : -1;
}

int
tm_store_remove (tm_store_t *self, const char *hex)
{
    assert (self);
    char *path = s_blob_path (self, hex);
    int rc = unlink (path);
    free (path);
    return rc == 0 ? 0 : -1;
}

static double
s_seconds (const struct timespec *ts)
{
    return (double) ts->tv_sec + ts->tv_nsec / 1e9;
}

int
tm_store_stat (tm_store_t *self, const char *hex, tm_store_blob_t *blob)
{
    assert (self && blob);
    char *path = s_blob_path (self, hex);
    struct stat st;
    int rc = stat (path, &st) == 0 && S_ISREG (st.st_mode) ? 0 : -1;
    free (path);
    if (rc == 0) {
        blob->hex = hex;
        blob->size = (uint64_t) st.st_size;
        blob->exec = (st.st_mode & S_IXUSR) != 0;
        blob->used = s_seconds (&st.st_atim);
    }
    return rc;
}

size_t
tm_store_each (tm_store_t *self, tm_store_each_fn *fn, void *arg)
{
    assert (self && fn);
    DIR *dir = opendir (self->dir);
    if (!dir)
        return 0;
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        struct stat st;
        if (!tm_task_digest_valid (entry->d_name)
        ||  fstatat (dirfd (dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0
        ||  !S_ISREG (st.st_mode))
            continue;
        tm_store_blob_t blob = {
            .hex = entry->d_name, .size = (uint64_t) st.st_size,
            .exec = (st.st_mode & S_IXUSR) != 0, .used = s_seconds (&st.st_atim)
        };
        count++;
        if (!fn (&blob, arg))
            break;
    }
    closedir (dir);
    return count;
}

int
tm_store_sweep (tm_store_t *self, double age)
{
    assert (self);
    DIR *dir = opendir (self->dir);
    if (!dir)
        return 0;
    int removed = 0;
    time_t now = time (NULL);
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        if (strncmp (entry->d_name, "tmp.", 4) != 0)
            continue;
        struct stat st;
        if (fstatat (dirfd (dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0
        &&  difftime (now, st.st_mtime) > age
        &&  unlinkat (dirfd (dir), entry->d_name, 0) == 0)
            removed++;
    }
    closedir (dir);
    return removed;
}
