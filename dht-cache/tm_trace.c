/*  tm_trace.c - the trace shim, written out, and its trace, read back.

    Everything read here comes from a test's processes (the trace file):
    lines are parsed defensively and anything odd is dropped.
*/
#include "tm_trace.h"
#include "tm_inputs.h"
#include "tm_loadcheck.h"
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_TRACE_MAX (64 * 1024 * 1024)  //  Bytes of trace read, at most

char *
tm_trace_shim_path (const char *dir, char **err)
{
    assert (dir);
    size_t size = (size_t) (tm_trace_shim_end - tm_trace_shim_start);
    uint8_t digest [32];
    crypto_generichash (digest, sizeof digest, tm_trace_shim_start, size, NULL, 0);
    char hex [65];
    sodium_bin2hex (hex, sizeof hex, digest, sizeof digest);
    hex [16] = 0;
    //  Absolute: LD_PRELOAD is read in the test's cwd, which is not ours
    char cwd [4096] = "";
    if (dir [0] != '/' && !getcwd (cwd, sizeof cwd)) {
        tm_fail (err, "cannot find the trace shim's directory: %s", strerror (errno));
        return NULL;
    }
    char *path = tm_strdupf ("%s%s%s/libtestmesh-trace-%s.so", cwd, *cwd ? "/" : "", dir, hex);
    struct stat st;
    if (stat (path, &st) == 0 && S_ISREG (st.st_mode) && (size_t) st.st_size == size)
        return path;

    char *tmp = tm_strdupf ("%s/.libtestmesh-trace.XXXXXX", dir);
    int fd = mkstemp (tmp);
    if (fd < 0) {
        tm_fail (err, "cannot write the trace shim in %s: %s", dir, strerror (errno));
        goto fail;
    }
    for (size_t done = 0; done < size; ) {
        ssize_t wrote = write (fd, tm_trace_shim_start + done, size - done);
        if (wrote < 0 && errno == EINTR)
            continue;
        if (wrote <= 0) {
            tm_fail (err, "cannot write %s: %s", tmp, strerror (errno));
            close (fd);
            unlink (tmp);
            goto fail;
        }
        done += (size_t) wrote;
    }
    if (fchmod (fd, 0555) != 0 || close (fd) != 0 || rename (tmp, path) != 0) {
        tm_fail (err, "cannot write %s: %s", path, strerror (errno));
        unlink (tmp);
        goto fail;
    }
    free (tmp);
    return path;
fail:
    free (tmp);
    free (path);
    return NULL;
}

bool
tm_trace_traceable (const char *program)
{
    assert (program);
    char *path = strchr (program, '/') ? strdup (program) : tm_path_search (program, NULL);
    if (!path)
        return false;
    bool traceable = false;
    char head [256] = { 0 };
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? pread (fd, head, sizeof head - 1, 0) : -1;
    if (fd >= 0)
        close (fd);
    if (got >= 2 && head [0] == '#' && head [1] == '!') {
        //  A script: what runs is its interpreter (one level: the kernel
        //  does not follow an interpreter that is itself a script either)
        char *start = head + 2 + strspn (head + 2, " \t");
        start [strcspn (start, " \t\r\n")] = 0;
        char interp [4096];
        traceable = start [0] == '/'
                 && tm_loadcheck_interp (start, interp, sizeof interp) == 0
                 && interp [0];
    }
    else {
        char interp [4096];
        traceable = tm_loadcheck_interp (path, interp, sizeof interp) == 0 && interp [0];
    }
    free (path);
    return traceable;
}

//  True if PATH is PREFIX or lies below it.
static bool
s_under (const char *path, const char *prefix)
{
    size_t length = strlen (prefix);
    while (length > 1 && prefix [length - 1] == '/')
        length--;
    if (length == 1 && prefix [0] == '/')
        return true;
    return strncmp (path, prefix, length) == 0
        && (path [length] == 0 || path [length] == '/');
}

static int
s_compare (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

char *
tm_trace_read (const char *file, char *const *excludes)
{
    assert (file);
    FILE *stream = fopen (file, "re");
    if (!stream)
        return NULL;
    zhashx_t *written = zhashx_new ();      //  Paths written: 'w'
    zlistx_t *made = zlistx_new ();         //  Directories made: 'm'
    zhashx_t *lines = zhashx_new ();        //  "TAG PATH" kept so far
    zlistx_set_destructor (made, (zlistx_destructor_fn *) zstr_free);
    char *line = NULL;
    size_t capacity = 0;
    ssize_t length;
    size_t total = 0;
    while ((length = getline (&line, &capacity, stream)) > 0 && total < S_TRACE_MAX) {
        total += (size_t) length;
        if (line [length - 1] != '\n')
            continue;           //  A torn last line
        line [--length] = 0;
        char tag = line [0];
        if (length < 3 || line [1] != ' ' || !strchr ("rwmsdxe", tag))
            continue;
        const char *text = line + 2;
        if (tag == 'e') {
            if (!strchr (text, '=') && !strchr (text, '\n'))
                zhashx_update (lines, line, (void *) "");
            continue;
        }
        if (text [0] != '/')
            continue;
        char *clean = tm_inputs_clean_path ("/", text);
        if (tag == 'w')
            zhashx_update (written, clean, (void *) "");
        else
        if (tag == 'm')
            zlistx_add_end (made, strdup (clean));
        else {
            char *kept = tm_strdupf ("%c %s", tag, clean);
            zhashx_update (lines, kept, (void *) "");
            free (kept);
        }
        free (clean);
    }
    free (line);
    fclose (stream);

    //  Filter, then sort
    static const char *system_dirs [] = { "/proc", "/sys", "/dev", NULL };
    zlistx_t *keys = zhashx_keys (lines);
    size_t count = 0;
    char **kept = (char **) malloc ((zlistx_size (keys) + 1) * sizeof (char *));
    assert (kept);
    for (char *key = (char *) zlistx_first (keys); key; key = (char *) zlistx_next (keys)) {
        const char *path = key + 2;
        bool drop = false;
        if (key [0] != 'e') {
            for (const char **dir = system_dirs; !drop && *dir; dir++)
                drop = s_under (path, *dir);
            for (size_t i = 0; !drop && excludes && excludes [i]; i++)
                drop = s_under (path, excludes [i]);
            drop = drop || zhashx_lookup (written, path);
            for (char *dir = (char *) zlistx_first (made); !drop && dir;
                 dir = (char *) zlistx_next (made))
                drop = s_under (path, dir);
            if (!drop && key [0] == 's') {
                //  Said better by an r, x or d line for the same path
                for (const char *tag = "rxd"; !drop && *tag; tag++) {
                    char *other = tm_strdupf ("%c %s", *tag, path);
                    drop = zhashx_lookup (lines, other) != NULL;
                    free (other);
                }
            }
        }
        if (!drop)
            kept [count++] = key;
    }
    qsort (kept, count, sizeof (char *), s_compare);
    size_t size = 1;
    for (size_t i = 0; i < count; i++)
        size += strlen (kept [i]) + 1;
    char *text = (char *) malloc (size);
    assert (text);
    char *at = text;
    for (size_t i = 0; i < count; i++) {
        size_t part = strlen (kept [i]);
        memcpy (at, kept [i], part);
        at [part] = '\n';
        at += part + 1;
    }
    *at = 0;
    free (kept);
    zlistx_destroy (&keys);
    zhashx_destroy (&lines);
    zhashx_destroy (&written);
    zlistx_destroy (&made);
    return text;
}
