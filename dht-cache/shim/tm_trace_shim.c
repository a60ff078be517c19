/*  tm_trace_shim.c - libtestmesh-trace.so: what a test reads, preloaded.

    The executor starts a test that runs with caching on with
    LD_PRELOAD=libtestmesh-trace.so and TESTMESH_TRACE=FILE
    (docs/caching.md, section 3).  Every wrapper here calls the real
    function (dlsym (RTLD_NEXT)) and, when TESTMESH_TRACE is set, appends
    one line to FILE:

        r ABS       opened for reading, or tried to (absence is an input too)
        w ABS       opened for writing, created, renamed, unlinked: an output
        m ABS       a directory it made: everything below is an output
        s ABS       stat, access: only whether it exists and what it is
        d ABS       opendir, scandir: the list of its entries
        x ABS       exec, posix_spawn, system: a program it ran (or tried)
        e NAME      getenv, secure_getenv
        r ABS       also every shared object loaded at start and by dlopen

    tm_trace_read (tm_trace.h) turns FILE into the sorted, cleaned list
    the cache keeps.

    The shim is preloaded into arbitrary programs, so:
    1. It never changes a wrapped call's result or errno.
    2. No malloc in the wrappers: fixed stack buffers of PATH_MAX.
    3. One line is one write (2) on an O_APPEND descriptor, so lines of
       concurrent threads and processes never interleave.
    4. The descriptor is checked (fstat: same device and inode) before
       each write, and opened again if it is not ours any more: a
       program that closed every descriptor (closefrom after fork) and
       reused the number must not get trace lines in its own file.
    5. A thread-local flag stops recursion: what the shim itself calls
       (getcwd, readlink, dlsym) is never traced.
    6. If FILE cannot be opened, nothing is traced and nothing breaks.
    7. LD_PRELOAD and TESTMESH_TRACE reach the programs it execs, even
       through an exec with its own environment that lacks them.
    8. A path holding a newline is not traced (it would break the line
       format); a path longer than PATH_MAX is not traced either.

    Repeated lines are dropped in the process (a 64-bit hash of each line
    in a small table): a program calling getenv ("TZ") a million times
    writes it once.  A collision only costs a duplicate line.

    Built with plain flags (no sanitizers: it runs inside other people's
    programs), -fPIC -shared -ldl.  Glibc-internal calls (the loader's
    own opens, fopen inside a glibc function, fts in glibc) do not go
    through these symbols and are not seen.
*/
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define S_EXPORT __attribute__ ((visibility ("default")))
#define S_LINE_MAX (PATH_MAX + 16)
#define S_SEEN_SIZE 4096                //  Lines remembered, to drop repeats

extern char **environ;

static char s_trace [PATH_MAX];         //  TESTMESH_TRACE at start, "" = off
static char s_self [PATH_MAX];          //  Our own path, for LD_PRELOAD
static int s_ready;                     //  s_init done
static int s_fd = -1;                   //  Trace descriptor, -1 not open
static dev_t s_dev;                     //  Its device and inode (invariant 4)
static ino_t s_ino;
static uint64_t s_seen [S_SEEN_SIZE];   //  Hashes of lines written
static __thread int s_busy __attribute__ ((tls_model ("initial-exec")));

//  The real functions, found once.
#define S_REAL(type, name, args) \
    static type (*real_##name) args; \
    if (!real_##name) real_##name = (type (*) args) dlsym (RTLD_NEXT, #name)

//  Reads NAME from environ without getenv (which we wrap).
static const char *
s_env (char *const *env, const char *name)
{
    size_t length = strlen (name);
    for (size_t i = 0; env && env [i]; i++)
        if (strncmp (env [i], name, length) == 0 && env [i][length] == '=')
            return env [i] + length + 1;
    return NULL;
}

static void
s_init (void)
{
    if (s_ready)
        return;
    const char *trace = s_env (environ, "TESTMESH_TRACE");
    if (trace && *trace && strlen (trace) < sizeof s_trace)
        strcpy (s_trace, trace);
    Dl_info info;
    if (dladdr ((void *) s_init, &info) && info.dli_fname
    &&  strlen (info.dli_fname) < sizeof s_self)
        strcpy (s_self, info.dli_fname);
    s_ready = 1;
}

//  Opens the trace file if our descriptor is not (or no longer) it.
//  Returns the descriptor, or -1.
static int
s_trace_fd (void)
{
    int fd = __atomic_load_n (&s_fd, __ATOMIC_ACQUIRE);
    struct stat st;
    if (fd >= 0 && fstat (fd, &st) == 0 && st.st_dev == s_dev && st.st_ino == s_ino)
        return fd;
    fd = (int) syscall (SYS_openat, AT_FDCWD, s_trace,
                        O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    //  Far from the low numbers a program uses and may reuse
    int high = fcntl (fd, F_DUPFD_CLOEXEC, 900);
    if (high >= 0) {
        close (fd);
        fd = high;
    }
    if (fstat (fd, &st) != 0) {
        close (fd);
        return -1;
    }
    s_dev = st.st_dev;
    s_ino = st.st_ino;
    __atomic_store_n (&s_fd, fd, __ATOMIC_RELEASE);
    return fd;
}

static uint64_t
s_hash (const char *data, size_t size)
{
    uint64_t hash = 14695981039346656037ULL;
    for (size_t i = 0; i < size; i++)
        hash = (hash ^ (unsigned char) data [i]) * 1099511628211ULL;
    return hash | 1;            //  0 means an empty slot
}

//  Writes "TAG TEXT\n" (one write), unless it was written before.
static void
s_write (char tag, const char *text)
{
    char line [S_LINE_MAX];
    size_t length = strlen (text);
    if (length + 3 > sizeof line || memchr (text, '\n', length))
        return;
    line [0] = tag;
    line [1] = ' ';
    memcpy (line + 2, text, length);
    line [length + 2] = '\n';
    size_t size = length + 3;
    uint64_t hash = s_hash (line, size);
    uint64_t *slot = &s_seen [hash % S_SEEN_SIZE];
    if (__atomic_load_n (slot, __ATOMIC_RELAXED) == hash)
        return;
    int fd = s_trace_fd ();
    if (fd < 0)
        return;
    if (write (fd, line, size) == (ssize_t) size)
        __atomic_store_n (slot, hash, __ATOMIC_RELAXED);
}

//  Makes PATH absolute against DIRFD (AT_FDCWD: the cwd) into BUFFER.
//  Returns BUFFER, or NULL if it cannot be.
static const char *
s_absolute (int dirfd, const char *path, char *buffer, size_t size)
{
    if (!path || !*path)
        return NULL;
    if (path [0] == '/')
        return path;
    size_t length;
    if (dirfd == AT_FDCWD) {
        if (!getcwd (buffer, size))
            return NULL;
        length = strlen (buffer);
    }
    else {
        char link [64];
        snprintf (link, sizeof link, "/proc/self/fd/%d", dirfd);
        ssize_t got = readlink (link, buffer, size - 1);
        if (got <= 0 || buffer [0] != '/')
            return NULL;
        length = (size_t) got;
        buffer [length] = 0;
    }
    size_t rest = strlen (path);
    if (length + 1 + rest + 1 > size)
        return NULL;
    if (length > 1)
        buffer [length++] = '/';
    memcpy (buffer + length, path, rest + 1);
    return buffer;
}

//  Traces TAG for PATH relative to DIRFD.  Keeps errno (invariant 1).
static void
s_trace_at (char tag, int dirfd, const char *path)
{
    if (s_busy)
        return;
    s_init ();
    if (!*s_trace || !path)
        return;
    int saved = errno;
    s_busy = 1;
    char buffer [PATH_MAX];
    const char *absolute = s_absolute (dirfd, path, buffer, sizeof buffer);
    if (absolute)
        s_write (tag, absolute);
    s_busy = 0;
    errno = saved;
}

static void
s_trace_path (char tag, const char *path)
{
    s_trace_at (tag, AT_FDCWD, path);
}

static void
s_trace_name (const char *name)
{
    if (s_busy)
        return;
    s_init ();
    if (!*s_trace || !name || !*name)
        return;
    int saved = errno;
    s_busy = 1;
    s_write ('e', name);
    s_busy = 0;
    errno = saved;
}

//  An *at stat with an empty path (AT_EMPTY_PATH) is an fstat: no line.
static void
s_trace_stat_at (int dirfd, const char *path)
{
    if (path && *path)
        s_trace_at ('s', dirfd, path);
}

static char
s_open_tag (int flags)
{
    return (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)) ? 'w' : 'r';
}

static char
s_fopen_tag (const char *mode)
{
    return mode && (strchr (mode, 'w') || strchr (mode, 'a') || strchr (mode, '+'))
           ? 'w' : 'r';
}

//  Reads are traced whether they work or not (a missing file is an
//  input); writes only when they worked, so that a failed attempt to
//  write an input does not hide that it is read.
static void
s_trace_open (int result, int dirfd, const char *path, int flags)
{
    char tag = s_open_tag (flags);
    if (tag == 'r' || result >= 0)
        s_trace_at (tag, dirfd, path);
}

// ------------------------------------------------------------------ open

#define S_MODE(flags, mode) \
    mode_t mode = 0; \
    if ((flags) & (O_CREAT | __O_TMPFILE)) { \
        va_list args; va_start (args, flags); \
        mode = (mode_t) va_arg (args, int); va_end (args); }

S_EXPORT int
open (const char *path, int flags, ...)
{
    S_MODE (flags, mode);
    S_REAL (int, open, (const char *, int, ...));
    int result = real_open (path, flags, mode);
    s_trace_open (result, AT_FDCWD, path, flags);
    return result;
}

S_EXPORT int
open64 (const char *path, int flags, ...)
{
    S_MODE (flags, mode);
    S_REAL (int, open64, (const char *, int, ...));
    int result = real_open64 (path, flags, mode);
    s_trace_open (result, AT_FDCWD, path, flags);
    return result;
}

S_EXPORT int
openat (int dirfd, const char *path, int flags, ...)
{
    S_MODE (flags, mode);
    S_REAL (int, openat, (int, const char *, int, ...));
    int result = real_openat (dirfd, path, flags, mode);
    s_trace_open (result, dirfd, path, flags);
    return result;
}

S_EXPORT int
openat64 (int dirfd, const char *path, int flags, ...)
{
    S_MODE (flags, mode);
    S_REAL (int, openat64, (int, const char *, int, ...));
    int result = real_openat64 (dirfd, path, flags, mode);
    s_trace_open (result, dirfd, path, flags);
    return result;
}

//  What _FORTIFY_SOURCE builds call instead of open when flags are not
//  a constant.
S_EXPORT int
__open_2 (const char *path, int flags)
{
    S_REAL (int, __open_2, (const char *, int));
    int result = real___open_2 (path, flags);
    s_trace_open (result, AT_FDCWD, path, flags);
    return result;
}

S_EXPORT int
__open64_2 (const char *path, int flags)
{
    S_REAL (int, __open64_2, (const char *, int));
    int result = real___open64_2 (path, flags);
    s_trace_open (result, AT_FDCWD, path, flags);
    return result;
}

S_EXPORT int
__openat_2 (int dirfd, const char *path, int flags)
{
    S_REAL (int, __openat_2, (int, const char *, int));
    int result = real___openat_2 (dirfd, path, flags);
    s_trace_open (result, dirfd, path, flags);
    return result;
}

S_EXPORT int
__openat64_2 (int dirfd, const char *path, int flags)
{
    S_REAL (int, __openat64_2, (int, const char *, int));
    int result = real___openat64_2 (dirfd, path, flags);
    s_trace_open (result, dirfd, path, flags);
    return result;
}

S_EXPORT int
creat (const char *path, mode_t mode)
{
    S_REAL (int, creat, (const char *, mode_t));
    int result = real_creat (path, mode);
    if (result >= 0)
        s_trace_path ('w', path);
    return result;
}

S_EXPORT int
creat64 (const char *path, mode_t mode)
{
    S_REAL (int, creat64, (const char *, mode_t));
    int result = real_creat64 (path, mode);
    if (result >= 0)
        s_trace_path ('w', path);
    return result;
}

S_EXPORT FILE *
fopen (const char *path, const char *mode)
{
    S_REAL (FILE *, fopen, (const char *, const char *));
    FILE *result = real_fopen (path, mode);
    char tag = s_fopen_tag (mode);
    if (tag == 'r' || result)
        s_trace_path (tag, path);
    return result;
}

S_EXPORT FILE *
fopen64 (const char *path, const char *mode)
{
    S_REAL (FILE *, fopen64, (const char *, const char *));
    FILE *result = real_fopen64 (path, mode);
    char tag = s_fopen_tag (mode);
    if (tag == 'r' || result)
        s_trace_path (tag, path);
    return result;
}

S_EXPORT FILE *
freopen (const char *path, const char *mode, FILE *stream)
{
    S_REAL (FILE *, freopen, (const char *, const char *, FILE *));
    FILE *result = real_freopen (path, mode, stream);
    char tag = s_fopen_tag (mode);
    if (path && (tag == 'r' || result))
        s_trace_path (tag, path);
    return result;
}

S_EXPORT FILE *
freopen64 (const char *path, const char *mode, FILE *stream)
{
    S_REAL (FILE *, freopen64, (const char *, const char *, FILE *));
    FILE *result = real_freopen64 (path, mode, stream);
    char tag = s_fopen_tag (mode);
    if (path && (tag == 'r' || result))
        s_trace_path (tag, path);
    return result;
}

// ------------------------------------------------------------------ stat

S_EXPORT int
stat (const char *path, struct stat *buf)
{
    S_REAL (int, stat, (const char *, struct stat *));
    int result = real_stat (path, buf);
    s_trace_path ('s', path);
    return result;
}

S_EXPORT int
stat64 (const char *path, struct stat64 *buf)
{
    S_REAL (int, stat64, (const char *, struct stat64 *));
    int result = real_stat64 (path, buf);
    s_trace_path ('s', path);
    return result;
}

S_EXPORT int
lstat (const char *path, struct stat *buf)
{
    S_REAL (int, lstat, (const char *, struct stat *));
    int result = real_lstat (path, buf);
    s_trace_path ('s', path);
    return result;
}

S_EXPORT int
lstat64 (const char *path, struct stat64 *buf)
{
    S_REAL (int, lstat64, (const char *, struct stat64 *));
    int result = real_lstat64 (path, buf);
    s_trace_path ('s', path);
    return result;
}

//  fstatat (fd, "", buf, AT_EMPTY_PATH) is an fstat: no path, no line.
S_EXPORT int
fstatat (int dirfd, const char *path, struct stat *buf, int flags)
{
    S_REAL (int, fstatat, (int, const char *, struct stat *, int));
    int result = real_fstatat (dirfd, path, buf, flags);
    s_trace_stat_at (dirfd, path);
    return result;
}

S_EXPORT int
fstatat64 (int dirfd, const char *path, struct stat64 *buf, int flags)
{
    S_REAL (int, fstatat64, (int, const char *, struct stat64 *, int));
    int result = real_fstatat64 (dirfd, path, buf, flags);
    s_trace_stat_at (dirfd, path);
    return result;
}

S_EXPORT int
statx (int dirfd, const char *path, int flags, unsigned int mask, struct statx *buf)
{
    S_REAL (int, statx, (int, const char *, int, unsigned int, struct statx *));
    int result = real_statx (dirfd, path, flags, mask, buf);
    s_trace_stat_at (dirfd, path);
    return result;
}

//  The pre-2.33 entry points, still exported for binaries built then.
S_EXPORT int
__xstat (int version, const char *path, struct stat *buf)
{
    S_REAL (int, __xstat, (int, const char *, struct stat *));
    int result = real___xstat (version, path, buf);
    s_trace_path ('s', path);
    return result;
}

S_EXPORT int
__xstat64 (int version, const char *path, struct stat64 *buf)
{
    S_REAL (int, __xstat64, (int, const char *, struct stat64 *));
    int result = real___xstat64 (version, path, buf);
    s_trace_path ('s', path);
    return result;
}

S_EXPORT int
__lxstat (int version, const char *path, struct stat *buf)
{
    S_REAL (int, __lxstat, (int, const char *, struct stat *));
    int result = real___lxstat (version, path, buf);
    s_trace_path ('s', path);
    return result;
}

S_EXPORT int
__lxstat64 (int version, const char *path, struct stat64 *buf)
{
    S_REAL (int, __lxstat64, (int, const char *, struct stat64 *));
    int result = real___lxstat64 (version, path, buf);
    s_trace_path ('s', path);
    return result;
}

S_EXPORT int
__fxstatat (int version, int dirfd, const char *path, struct stat *buf, int flags)
{
    S_REAL (int, __fxstatat, (int, int, const char *, struct stat *, int));
    int result = real___fxstatat (version, dirfd, path, buf, flags);
    s_trace_stat_at (dirfd, path);
    return result;
}

S_EXPORT int
__fxstatat64 (int version, int dirfd, const char *path, struct stat64 *buf, int flags)
{
    S_REAL (int, __fxstatat64, (int, int, const char *, struct stat64 *, int));
    int result = real___fxstatat64 (version, dirfd, path, buf, flags);
    s_trace_stat_at (dirfd, path);
    return result;
}

S_EXPORT int
access (const char *path, int mode)
{
    S_REAL (int, access, (const char *, int));
    int result = real_access (path, mode);
    s_trace_path ('s', path);
    return result;
}

S_EXPORT int
faccessat (int dirfd, const char *path, int mode, int flags)
{
    S_REAL (int, faccessat, (int, const char *, int, int));
    int result = real_faccessat (dirfd, path, mode, flags);
    s_trace_at ('s', dirfd, path);
    return result;
}

S_EXPORT int
euidaccess (const char *path, int mode)
{
    S_REAL (int, euidaccess, (const char *, int));
    int result = real_euidaccess (path, mode);
    s_trace_path ('s', path);
    return result;
}

S_EXPORT int
eaccess (const char *path, int mode)
{
    S_REAL (int, eaccess, (const char *, int));
    int result = real_eaccess (path, mode);
    s_trace_path ('s', path);
    return result;
}

// ------------------------------------------------------------------ directories

S_EXPORT DIR *
opendir (const char *path)
{
    S_REAL (DIR *, opendir, (const char *));
    DIR *result = real_opendir (path);
    s_trace_path ('d', path);
    return result;
}

S_EXPORT int
scandir (const char *path, struct dirent ***list,
         int (*filter) (const struct dirent *),
         int (*compare) (const struct dirent **, const struct dirent **))
{
    S_REAL (int, scandir, (const char *, struct dirent ***,
                           int (*) (const struct dirent *),
                           int (*) (const struct dirent **, const struct dirent **)));
    int result = real_scandir (path, list, filter, compare);
    s_trace_path ('d', path);
    return result;
}

// ------------------------------------------------------------------ outputs

//  What a test makes or removes is an output, not an input: 'w' (or 'm'
//  for a directory, everything under which is an output).
#define S_OUTPUT_1(name, tag, type1) \
    S_EXPORT int name (const char *path, type1 a) { \
        S_REAL (int, name, (const char *, type1)); \
        int result = real_##name (path, a); \
        if (result == 0) s_trace_path (tag, path); \
        return result; }

S_OUTPUT_1 (mkdir, 'm', mode_t)
S_OUTPUT_1 (truncate, 'w', off_t)

S_EXPORT int
mkdirat (int dirfd, const char *path, mode_t mode)
{
    S_REAL (int, mkdirat, (int, const char *, mode_t));
    int result = real_mkdirat (dirfd, path, mode);
    if (result == 0)
        s_trace_at ('m', dirfd, path);
    return result;
}

S_EXPORT int
unlink (const char *path)
{
    S_REAL (int, unlink, (const char *));
    int result = real_unlink (path);
    if (result == 0)
        s_trace_path ('w', path);
    return result;
}

S_EXPORT int
unlinkat (int dirfd, const char *path, int flags)
{
    S_REAL (int, unlinkat, (int, const char *, int));
    int result = real_unlinkat (dirfd, path, flags);
    if (result == 0)
        s_trace_at ('w', dirfd, path);
    return result;
}

S_EXPORT int
rmdir (const char *path)
{
    S_REAL (int, rmdir, (const char *));
    int result = real_rmdir (path);
    if (result == 0)
        s_trace_path ('m', path);
    return result;
}

S_EXPORT int
rename (const char *from, const char *to)
{
    S_REAL (int, rename, (const char *, const char *));
    int result = real_rename (from, to);
    if (result == 0) {
        s_trace_path ('w', from);
        s_trace_path ('w', to);
    }
    return result;
}

S_EXPORT int
renameat (int fromfd, const char *from, int tofd, const char *to)
{
    S_REAL (int, renameat, (int, const char *, int, const char *));
    int result = real_renameat (fromfd, from, tofd, to);
    if (result == 0) {
        s_trace_at ('w', fromfd, from);
        s_trace_at ('w', tofd, to);
    }
    return result;
}

S_EXPORT int
renameat2 (int fromfd, const char *from, int tofd, const char *to, unsigned int flags)
{
    S_REAL (int, renameat2, (int, const char *, int, const char *, unsigned int));
    int result = real_renameat2 (fromfd, from, tofd, to, flags);
    if (result == 0) {
        s_trace_at ('w', fromfd, from);
        s_trace_at ('w', tofd, to);
    }
    return result;
}

S_EXPORT int
link (const char *from, const char *to)
{
    S_REAL (int, link, (const char *, const char *));
    int result = real_link (from, to);
    if (result == 0)
        s_trace_path ('w', to);
    return result;
}

S_EXPORT int
symlink (const char *target, const char *path)
{
    S_REAL (int, symlink, (const char *, const char *));
    int result = real_symlink (target, path);
    if (result == 0)
        s_trace_path ('w', path);
    return result;
}

#define S_MKTEMP(name, tag, params, args) \
    S_EXPORT int name params { \
        S_REAL (int, name, params); \
        int result = real_##name args; \
        if (result >= 0) s_trace_path (tag, template); \
        return result; }

S_MKTEMP (mkstemp, 'w', (char *template), (template))
S_MKTEMP (mkstemp64, 'w', (char *template), (template))
S_MKTEMP (mkostemp, 'w', (char *template, int flags), (template, flags))
S_MKTEMP (mkostemp64, 'w', (char *template, int flags), (template, flags))
S_MKTEMP (mkstemps, 'w', (char *template, int suffix), (template, suffix))
S_MKTEMP (mkostemps, 'w', (char *template, int suffix, int flags),
          (template, suffix, flags))

S_EXPORT char *
mkdtemp (char *template)
{
    S_REAL (char *, mkdtemp, (char *));
    char *result = real_mkdtemp (template);
    if (result)
        s_trace_path ('m', result);
    return result;
}

// ------------------------------------------------------------------ exec

//  Traces the program FILE resolves to through PATH (ENV's, or ours if
//  ENV is NULL, as glibc's execvp and posix_spawnp do), the way it does: each candidate up to the first executable one, since a
//  candidate that appears later would change what runs.
static void
s_trace_search (const char *file, char *const *env)
{
    if (!file || !*file)
        return;
    if (strchr (file, '/')) {
        s_trace_path ('x', file);
        return;
    }
    if (s_busy)
        return;
    s_init ();
    if (!*s_trace)
        return;
    const char *path = s_env (env ? env : environ, "PATH");
    if (!path)
        path = "/bin:/usr/bin";
    int saved = errno;
    char candidate [PATH_MAX];
    size_t length = strlen (file);
    for (const char *entry = path; ; ) {
        const char *end = strchr (entry, ':');
        size_t size = end ? (size_t) (end - entry) : strlen (entry);
        if (size + 1 + length + 1 <= sizeof candidate) {
            if (size)
                memcpy (candidate, entry, size);
            else
                candidate [size++] = '.';
            candidate [size] = '/';
            memcpy (candidate + size + 1, file, length + 1);
            s_trace_path ('x', candidate);
            struct stat st;
            if (syscall (SYS_newfstatat, AT_FDCWD, candidate, &st, 0) == 0
            &&  S_ISREG (st.st_mode)
            &&  syscall (SYS_faccessat, AT_FDCWD, candidate, X_OK) == 0)
                break;
        }
        if (!end)
            break;
        entry = end + 1;
    }
    errno = saved;
}

//  ENV with TESTMESH_TRACE and our LD_PRELOAD added if it lacks them
//  (invariant 7), in OUT (room for COUNT + 3 pointers), the strings in
//  TRACE_VAR and PRELOAD_VAR.  Returns the array to exec with.
static char *const *
s_env_fix (char *const *env, char **out, char *trace_var, char *preload_var)
{
    s_init ();
    if (!*s_trace || !env)
        return env;
    size_t size = 0;
    int has_trace = 0;
    int preload_at = -1;
    for (size_t i = 0; env [i]; i++) {
        if (strncmp (env [i], "TESTMESH_TRACE=", 15) == 0)
            has_trace = 1;
        if (strncmp (env [i], "LD_PRELOAD=", 11) == 0)
            preload_at = (int) size;
        out [size++] = env [i];
    }
    if (!has_trace) {
        snprintf (trace_var, PATH_MAX + 16, "TESTMESH_TRACE=%s", s_trace);
        out [size++] = trace_var;
    }
    if (*s_self) {
        if (preload_at < 0) {
            snprintf (preload_var, 2 * PATH_MAX, "LD_PRELOAD=%s", s_self);
            out [size++] = preload_var;
        }
        else
        if (!strstr (out [preload_at], s_self)) {
            int wrote = snprintf (preload_var, 2 * PATH_MAX, "LD_PRELOAD=%s:%s",
                                  s_self, out [preload_at] + 11);
            if (wrote > 0 && wrote < 2 * PATH_MAX)
                out [preload_at] = preload_var;
        }
    }
    out [size] = NULL;
    return out;
}

static size_t
s_count (char *const *env)
{
    size_t size = 0;
    while (env && env [size])
        size++;
    return size;
}

//  Declares the fixed environment FIXED for ENV, on our stack.
#define S_ENV_FIX(env, fixed) \
    char *fixed##_array [s_count (env) + 3]; \
    char fixed##_trace [PATH_MAX + 16], fixed##_preload [2 * PATH_MAX]; \
    char *const *fixed = s_env_fix (env, fixed##_array, fixed##_trace, fixed##_preload)

S_EXPORT int
execve (const char *path, char *const argv [], char *const envp [])
{
    S_REAL (int, execve, (const char *, char *const [], char *const []));
    s_trace_path ('x', path);
    S_ENV_FIX (envp, fixed);
    return real_execve (path, argv, fixed);
}

S_EXPORT int
execv (const char *path, char *const argv [])
{
    S_REAL (int, execv, (const char *, char *const []));
    s_trace_path ('x', path);
    return real_execv (path, argv);
}

S_EXPORT int
execvp (const char *file, char *const argv [])
{
    S_REAL (int, execvp, (const char *, char *const []));
    s_trace_search (file, NULL);
    return real_execvp (file, argv);
}

S_EXPORT int
execvpe (const char *file, char *const argv [], char *const envp [])
{
    S_REAL (int, execvpe, (const char *, char *const [], char *const []));
    s_trace_search (file, NULL);
    S_ENV_FIX (envp, fixed);
    return real_execvpe (file, argv, fixed);
}

//  The list forms: glibc's own call its internal execve, which we do not
//  see, so they are rebuilt here as their vector forms.
#define S_ARGS(first, argv, envp_out) \
    va_list args; va_start (args, first); size_t count = 1; \
    while (va_arg (args, char *)) count++; \
    va_end (args); \
    char *argv [count + 1]; argv [0] = (char *) first; \
    va_start (args, first); \
    for (size_t i = 1; i <= count; i++) argv [i] = va_arg (args, char *); \
    envp_out; va_end (args)

S_EXPORT int
execl (const char *path, const char *arg, ...)
{
    S_ARGS (arg, argv, (void) 0);
    return execv (path, argv);
}

S_EXPORT int
execlp (const char *file, const char *arg, ...)
{
    S_ARGS (arg, argv, (void) 0);
    return execvp (file, argv);
}

S_EXPORT int
execle (const char *path, const char *arg, ...)
{
    char *const *envp = NULL;
    S_ARGS (arg, argv, envp = va_arg (args, char *const *));
    return execve (path, argv, envp);
}

S_EXPORT int
posix_spawn (pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
             const posix_spawnattr_t *attr, char *const argv [], char *const envp [])
{
    S_REAL (int, posix_spawn, (pid_t *, const char *, const posix_spawn_file_actions_t *,
                               const posix_spawnattr_t *, char *const [], char *const []));
    s_trace_path ('x', path);
    S_ENV_FIX (envp, fixed);
    return real_posix_spawn (pid, path, actions, attr, argv, fixed);
}

S_EXPORT int
posix_spawnp (pid_t *pid, const char *file, const posix_spawn_file_actions_t *actions,
              const posix_spawnattr_t *attr, char *const argv [], char *const envp [])
{
    S_REAL (int, posix_spawnp, (pid_t *, const char *, const posix_spawn_file_actions_t *,
                                const posix_spawnattr_t *, char *const [], char *const []));
    s_trace_search (file, NULL);       //  Searched in our PATH, not ENVP's
    S_ENV_FIX (envp, fixed);
    return real_posix_spawnp (pid, file, actions, attr, argv, fixed);
}

//  system and popen run /bin/sh through glibc's internal spawn: the
//  shell itself is traced (it inherits environ), its exec is not seen.
S_EXPORT int
system (const char *command)
{
    S_REAL (int, system, (const char *));
    if (command)
        s_trace_path ('x', "/bin/sh");
    return real_system (command);
}

S_EXPORT FILE *
popen (const char *command, const char *mode)
{
    S_REAL (FILE *, popen, (const char *, const char *));
    s_trace_path ('x', "/bin/sh");
    return real_popen (command, mode);
}

// ------------------------------------------------------------------ environment

S_EXPORT char *
getenv (const char *name)
{
    S_REAL (char *, getenv, (const char *));
    char *result = real_getenv (name);
    s_trace_name (name);
    return result;
}

S_EXPORT char *
secure_getenv (const char *name)
{
    S_REAL (char *, secure_getenv, (const char *));
    char *result = real_secure_getenv (name);
    s_trace_name (name);
    return result;
}

// ------------------------------------------------------------------ shared objects

static int
s_on_object (struct dl_phdr_info *info, size_t size, void *arg)
{
    const char *name = info->dlpi_name;
    if (name && name [0] == '/' && strcmp (name, s_self) != 0)
        s_trace_path ('r', name);
    return 0;
}

S_EXPORT void *
dlopen (const char *file, int flags)
{
    S_REAL (void *, dlopen, (const char *, int));
    void *handle = real_dlopen (file, flags);
    if (file && !s_busy) {
        int saved = errno;
        struct link_map *map = NULL;
        if (handle && dlinfo (handle, RTLD_DI_LINKMAP, &map) == 0 && map
        &&  map->l_name && map->l_name [0] == '/')
            s_trace_path ('r', map->l_name);
        else
        if (strchr (file, '/'))
            s_trace_path ('r', file);
        errno = saved;
    }
    return handle;
}

//  At load: the shared objects the loader mapped before we could see
//  them (its own opens are not ours to wrap).  The program itself is
//  "program" or an 'x' line already.
__attribute__ ((constructor)) static void
s_start (void)
{
    s_init ();
    if (!*s_trace)
        return;
    int saved = errno;
    dl_iterate_phdr (s_on_object, NULL);
    errno = saved;
}
