/*  tm_cachekey.c - a test's cache keys: identity, components, result key.

    The memo maps "KIND:PATH" to a digest (hex), KIND being
      f   a path's content as traced or as the program: a regular file's
          bytes, a directory's entry names, or absent
      i   a declared input: a file's bytes, or a directory's files
      d   a directory's entry names
      s   a path's existence and type
    so each path is read at most once per kind per run.
*/
#include "tm_cachekey.h"
#include "tm_inputs.h"
#include <dirent.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <sodium.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

struct _tm_cachekey_t {
    zhashx_t *memo;             //  "KIND:PATH" -> digest hex (owned strings)
    char platform [TM_CACHE_HEX];   //  The platform digest, "" until computed
    char *cwd;                  //  Our cwd, for relative inputs; NULL unknown
    size_t hashed;              //  Paths read to hash them
};

//  Variables every test's key covers (docs/caching.md, section 2).
static const char *s_default_env [] = {
    "PATH", "LD_LIBRARY_PATH", "LD_PRELOAD", "LANG", "LC_ALL", "TZ", "HOME", "TMPDIR",
    NULL
};

static void
s_memo_free (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

tm_cachekey_t *
tm_cachekey_new (void)
{
    tm_cachekey_t *self = (tm_cachekey_t *) zmalloc (sizeof (tm_cachekey_t));
    self->memo = zhashx_new ();
    zhashx_set_destructor (self->memo, s_memo_free);
    self->cwd = getcwd (NULL, 0);
    return self;
}

void
tm_cachekey_destroy (tm_cachekey_t **self_p)
{
    assert (self_p);
    tm_cachekey_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->memo);
    free (self->cwd);
    free (self);
    *self_p = NULL;
}

size_t
tm_cachekey_hashed (tm_cachekey_t *self)
{
    assert (self);
    return self->hashed;
}

// ------------------------------------------------------------------ digests

static void
s_hex (crypto_generichash_state *state, char hex [TM_CACHE_HEX])
{
    uint8_t digest [32];
    crypto_generichash_final (state, digest, sizeof digest);
    sodium_bin2hex (hex, TM_CACHE_HEX, digest, sizeof digest);
}

static void
s_digest_bytes (const void *data, size_t size, char hex [TM_CACHE_HEX])
{
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, 32);
    crypto_generichash_update (&state, (const unsigned char *) data, size);
    s_hex (&state, hex);
}

static void
s_digest_string (const char *text, char hex [TM_CACHE_HEX])
{
    s_digest_bytes (text, strlen (text), hex);
}

//  Adds TEXT and its NUL.
static void
s_update (crypto_generichash_state *state, const char *text)
{
    crypto_generichash_update (state, (const unsigned char *) text, strlen (text) + 1);
}

static void
s_absent (char hex [TM_CACHE_HEX])
{
    s_digest_string (TM_CACHEKEY_ABSENT, hex);
}

//  The digest of the bytes of the regular file at PATH.  Returns 0, or
//  -1 with errno set if it cannot be read.
static int
s_hash_file (const char *path, char hex [TM_CACHE_HEX])
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, 32);
    unsigned char buffer [65536];
    ssize_t got;
    while ((got = read (fd, buffer, sizeof buffer)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int saved = errno;
            close (fd);
            errno = saved;
            return -1;
        }
        crypto_generichash_update (&state, buffer, (size_t) got);
    }
    close (fd);
    s_hex (&state, hex);
    return 0;
}

static int
s_compare_strings (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

//  The digest of the sorted entry names of directory PATH.  Returns 0,
//  or -1 if it cannot be listed.
static int
s_hash_listing (const char *path, char hex [TM_CACHE_HEX])
{
    DIR *dir = opendir (path);
    if (!dir)
        return -1;
    char **names = NULL;
    struct dirent *entry;
    while ((entry = readdir (dir)))
        if (!streq (entry->d_name, ".") && !streq (entry->d_name, ".."))
            tm_strv_push (&names, entry->d_name);
    closedir (dir);
    size_t count = tm_strv_size (names);
    if (count)
        qsort (names, count, sizeof (char *), s_compare_strings);
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, 32);
    s_update (&state, "tm-dir");
    for (size_t i = 0; i < count; i++)
        s_update (&state, names [i]);
    s_hex (&state, hex);
    tm_strv_free (&names);
    return 0;
}

//  Looks KIND:PATH up in the memo.  Returns the digest, or NULL.
static const char *
s_memo_get (tm_cachekey_t *self, char kind, const char *path)
{
    char *key = tm_strdupf ("%c:%s", kind, path);
    const char *hex = (const char *) zhashx_lookup (self->memo, key);
    free (key);
    return hex;
}

static void
s_memo_put (tm_cachekey_t *self, char kind, const char *path, const char hex [TM_CACHE_HEX])
{
    char *key = tm_strdupf ("%c:%s", kind, path);
    zhashx_update (self->memo, key, strdup (hex));
    free (key);
}

//  A path's content (kind f): a regular file's bytes, a directory's
//  listing, else absent.  Returns 0, or -1 with errno if the path exists
//  but cannot be read (its digest is then the absent one, remembered).
static int
s_content (tm_cachekey_t *self, const char *path, char hex [TM_CACHE_HEX])
{
    const char *known = s_memo_get (self, 'f', path);
    if (known) {
        memcpy (hex, known, TM_CACHE_HEX);
        return 0;
    }
    self->hashed++;
    struct stat st;
    int rc = 0;
    if (stat (path, &st) != 0)
        s_absent (hex);
    else
    if (S_ISDIR (st.st_mode))
        rc = s_hash_listing (path, hex);
    else
    if (S_ISREG (st.st_mode))
        rc = s_hash_file (path, hex);
    else
        s_digest_string ("tm-special", hex);
    if (rc != 0) {
        int saved = errno;
        s_absent (hex);
        s_memo_put (self, 'f', path, hex);
        errno = saved;
        return -1;
    }
    s_memo_put (self, 'f', path, hex);
    return 0;
}

//  A directory's entry names (kind d), or absent.
static void
s_listing (tm_cachekey_t *self, const char *path, char hex [TM_CACHE_HEX])
{
    const char *known = s_memo_get (self, 'd', path);
    if (known) {
        memcpy (hex, known, TM_CACHE_HEX);
        return;
    }
    self->hashed++;
    if (s_hash_listing (path, hex) != 0)
        s_absent (hex);
    s_memo_put (self, 'd', path, hex);
}

//  A path's existence and type (kind s).
static void
s_stat (tm_cachekey_t *self, const char *path, char hex [TM_CACHE_HEX])
{
    const char *known = s_memo_get (self, 's', path);
    if (known) {
        memcpy (hex, known, TM_CACHE_HEX);
        return;
    }
    struct stat st;
    if (stat (path, &st) != 0)
        s_absent (hex);
    else {
        crypto_generichash_state state;
        crypto_generichash_init (&state, NULL, 0, 32);
        s_update (&state, "tm-stat");
        s_update (&state, S_ISREG (st.st_mode) ? "file"
                        : S_ISDIR (st.st_mode) ? "dir" : "other");
        s_hex (&state, hex);
    }
    s_memo_put (self, 's', path, hex);
}

//  Collects the relative paths of the regular files under DIR/REL into
//  FILES (links to files followed, links to directories skipped, as
//  tm_inputs ships them).
static void
s_walk (const char *top, const char *rel, char ***files)
{
    char *dir_path = *rel ? tm_strdupf ("%s/%s", top, rel) : strdup (top);
    DIR *dir = opendir (dir_path);
    if (dir) {
        struct dirent *entry;
        while ((entry = readdir (dir))) {
            if (streq (entry->d_name, ".") || streq (entry->d_name, ".."))
                continue;
            char *child = *rel ? tm_strdupf ("%s/%s", rel, entry->d_name)
                               : strdup (entry->d_name);
            char *full = tm_strdupf ("%s/%s", top, child);
            struct stat lst, st;
            if (lstat (full, &lst) == 0) {
                if (S_ISDIR (lst.st_mode))
                    s_walk (top, child, files);
                else
                if (stat (full, &st) == 0 && S_ISREG (st.st_mode))
                    tm_strv_push (files, child);
            }
            free (full);
            free (child);
        }
        closedir (dir);
    }
    free (dir_path);
}

//  A declared input (kind i): a file's bytes, a directory's files.
static void
s_input (tm_cachekey_t *self, const char *path, char hex [TM_CACHE_HEX])
{
    const char *known = s_memo_get (self, 'i', path);
    if (known) {
        memcpy (hex, known, TM_CACHE_HEX);
        return;
    }
    struct stat st;
    if (stat (path, &st) == 0 && S_ISDIR (st.st_mode)) {
        char **files = NULL;
        s_walk (path, "", &files);
        size_t count = tm_strv_size (files);
        if (count)
            qsort (files, count, sizeof (char *), s_compare_strings);
        crypto_generichash_state state;
        crypto_generichash_init (&state, NULL, 0, 32);
        s_update (&state, "tm-tree");
        for (size_t i = 0; i < count; i++) {
            char *full = tm_strdupf ("%s/%s", path, files [i]);
            char digest [TM_CACHE_HEX];
            s_content (self, full, digest);
            s_update (&state, files [i]);
            s_update (&state, digest);
            free (full);
        }
        s_hex (&state, hex);
        tm_strv_free (&files);
    }
    else
        s_content (self, path, hex);
    s_memo_put (self, 'i', path, hex);
}

// ------------------------------------------------------------------ lists

static int
s_compare_components (const void *a, const void *b)
{
    return strcmp (((const tm_component_t *) a)->name, ((const tm_component_t *) b)->name);
}

void
tm_cachekey_sort (tm_component_t *list, size_t count)
{
    if (count > 1)
        qsort (list, count, sizeof (tm_component_t), s_compare_components);
}

//  A growing list of components with unique names.
typedef struct {
    tm_component_t *items;
    size_t size;
    size_t max;
    zhashx_t *names;            //  name -> index + 1
} s_list_t;

static void
s_list_init (s_list_t *list)
{
    memset (list, 0, sizeof *list);
    list->names = zhashx_new ();
}

//  Adds NAME (taken) with HEX unless NAME is there already.
static void
s_list_take (s_list_t *list, char *name, const char hex [TM_CACHE_HEX])
{
    if (zhashx_lookup (list->names, name)) {
        free (name);
        return;
    }
    if (list->size == list->max) {
        list->max = list->max ? list->max * 2 : 16;
        list->items = (tm_component_t *) realloc (list->items,
                                                  list->max * sizeof (tm_component_t));
        assert (list->items);
    }
    list->items [list->size].name = name;
    memcpy (list->items [list->size].digest, hex, TM_CACHE_HEX);
    list->size++;
    zhashx_insert (list->names, name, (void *) (uintptr_t) list->size);
}

//  Hands the sorted list to the caller and frees the rest.
static void
s_list_finish (s_list_t *list, tm_component_t **list_p, size_t *count_p)
{
    tm_cachekey_sort (list->items, list->size);
    *list_p = list->items;
    *count_p = list->size;
    zhashx_destroy (&list->names);
}

void
tm_cachekey_merge (const tm_component_t *a, size_t n_a,
                   const tm_component_t *b, size_t n_b,
                   tm_component_t **list_p, size_t *count_p)
{
    assert (list_p && count_p);
    s_list_t list;
    s_list_init (&list);
    for (size_t i = 0; i < n_a; i++)
        s_list_take (&list, strdup (a [i].name), a [i].digest);
    for (size_t i = 0; i < n_b; i++)
        s_list_take (&list, strdup (b [i].name), b [i].digest);
    s_list_finish (&list, list_p, count_p);
}

void
tm_cachekey_digest (const tm_component_t *list, size_t count, char hex [TM_CACHE_HEX])
{
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, 32);
    for (size_t i = 0; i < count; i++) {
        s_update (&state, list [i].name);
        s_update (&state, list [i].digest);
    }
    s_hex (&state, hex);
}

// ------------------------------------------------------------------ identity, declared

void
tm_cachekey_ident (const tm_task_t *task, char hex [TM_CACHE_HEX])
{
    assert (task);
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, 32);
    s_update (&state, "tm-ident-1");
    if (task->history_key)
        s_update (&state, task->history_key);
    else {
        s_update (&state, task->target ? task->target : "");
        s_update (&state, task->id ? task->id : "");
    }
    s_hex (&state, hex);
}

static void
s_platform (tm_cachekey_t *self, char hex [TM_CACHE_HEX])
{
    if (!self->platform [0]) {
        struct utsname names;
        if (uname (&names) != 0)
            memset (&names, 0, sizeof names);
        crypto_generichash_state state;
        crypto_generichash_init (&state, NULL, 0, 32);
        s_update (&state, names.sysname);
        s_update (&state, names.machine);
        s_update (&state, gnu_get_libc_version ());
        s_hex (&state, self->platform);
    }
    memcpy (hex, self->platform, TM_CACHE_HEX);
}

//  The value of NAME the task will see: its own, else ours; NULL unset.
static const char *
s_task_env (const tm_task_t *task, const char *name)
{
    size_t length = strlen (name);
    const char *value = NULL;
    for (size_t i = 0; task->env && task->env [i]; i++)
        if (strncmp (task->env [i], name, length) == 0 && task->env [i][length] == '=')
            value = task->env [i] + length + 1;     //  The last one wins, as in tm_proc
    return value ? value : getenv (name);
}

int
tm_cachekey_declared (tm_cachekey_t *self, const tm_task_t *task,
                      tm_component_t **list_p, size_t *count_p, char **err)
{
    assert (self && task && list_p && count_p);
    if (!task->argv || !task->argv [0] || !*task->argv [0])
        return tm_fail (err, "%s: no program to run", task->id);
    //  A shipped task's files are hashed already: their digests count
    for (size_t i = 0; task->root && i < task->files_size; i++) {
        char *path = streq (task->root, "/") ? tm_strdupf ("/%s", task->files [i].path)
                   : tm_strdupf ("%s/%s", task->root, task->files [i].path);
        if (!s_memo_get (self, 'f', path))
            s_memo_put (self, 'f', path, task->files [i].digest);
        free (path);
    }
    //  program
    const char *argv0 = task->argv [0];
    const char *base = task->cwd ? task->cwd : self->cwd ? self->cwd : "/";
    char *program = strchr (argv0, '/') ? tm_inputs_clean_path (base, argv0)
                                        : tm_path_search (argv0, task->cwd);
    struct stat st;
    char hex [TM_CACHE_HEX];
    if (!program)
        return tm_fail (err, "%s: %s is not found in PATH", task->id, argv0);
    if (!s_memo_get (self, 'f', program)) {
        const char *why = stat (program, &st) != 0 ? strerror (errno)
                        : !S_ISREG (st.st_mode) ? "not a regular file" : NULL;
        if (why) {
            tm_fail (err, "%s: cannot read %s: %s", task->id, program, why);
            free (program);
            return -1;
        }
    }
    if (s_content (self, program, hex) != 0) {
        tm_fail (err, "%s: cannot read %s: %s", task->id, program, strerror (errno));
        free (program);
        return -1;
    }
    free (program);
    s_list_t list;
    s_list_init (&list);
    s_list_take (&list, strdup ("program"), hex);

    //  argv
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, 32);
    s_update (&state, task->id ? task->id : "");
    for (size_t i = 0; task->argv [i]; i++)
        s_update (&state, task->argv [i]);
    s_hex (&state, hex);
    s_list_take (&list, strdup ("argv"), hex);

    //  inputs, as the CLI ships them: relative to its cwd
    for (size_t i = 0; task->inputs && task->inputs [i]; i++) {
        char *path = tm_inputs_clean_path (self->cwd ? self->cwd : "/", task->inputs [i]);
        s_input (self, path, hex);
        s_list_take (&list, tm_strdupf ("input:%s", task->inputs [i]), hex);
        free (path);
    }

    //  env: the default set, then what the task sets
    zlistx_t *names = zlistx_new ();
    zlistx_set_destructor (names, (zlistx_destructor_fn *) zstr_free);
    for (const char **name = s_default_env; *name; name++)
        zlistx_add_end (names, strdup (*name));
    for (size_t i = 0; task->env && task->env [i]; i++) {
        const char *eq = strchr (task->env [i], '=');
        if (eq && eq > task->env [i])
            zlistx_add_end (names, tm_strdupf ("%.*s", (int) (eq - task->env [i]),
                                               task->env [i]));
    }
    for (char *name = (char *) zlistx_first (names); name;
         name = (char *) zlistx_next (names)) {
        const char *value = s_task_env (task, name);
        if (value)
            s_digest_string (value, hex);
        else
            s_absent (hex);
        s_list_take (&list, tm_strdupf ("env:%s", name), hex);
    }
    zlistx_destroy (&names);

    s_platform (self, hex);
    s_list_take (&list, strdup ("platform"), hex);
    s_list_finish (&list, list_p, count_p);
    return 0;
}

// ------------------------------------------------------------------ traced

//  The current digest of traced component NAME into HEX.  Returns 0, or
//  -1 if NAME is not a traced component.
static int
s_traced (tm_cachekey_t *self, const char *name, char hex [TM_CACHE_HEX])
{
    if (strncmp (name, "traced:", 7) == 0)
        s_content (self, name + 7, hex);
    else
    if (strncmp (name, "traced-exec:", 12) == 0)
        s_content (self, name + 12, hex);
    else
    if (strncmp (name, "traced-dir:", 11) == 0)
        s_listing (self, name + 11, hex);
    else
    if (strncmp (name, "traced-stat:", 12) == 0)
        s_stat (self, name + 12, hex);
    else
    if (strncmp (name, "traced-env:", 11) == 0) {
        const char *value = getenv (name + 11);
        if (value)
            s_digest_string (value, hex);
        else
            s_absent (hex);
    }
    else
        return -1;
    return 0;
}

int
tm_cachekey_retrace (tm_cachekey_t *self, const tm_component_t *recorded,
                     size_t count, tm_component_t **list_p, size_t *count_p)
{
    assert (self && list_p && count_p);
    s_list_t list;
    s_list_init (&list);
    for (size_t i = 0; i < count; i++) {
        char hex [TM_CACHE_HEX];
        if (recorded [i].name && s_traced (self, recorded [i].name, hex) == 0)
            s_list_take (&list, strdup (recorded [i].name), hex);
    }
    s_list_finish (&list, list_p, count_p);
    return 0;
}

int
tm_cachekey_from_trace (tm_cachekey_t *self, const char *trace, const char *workdir,
                        const char *root, tm_component_t **list_p, size_t *count_p)
{
    assert (self && list_p && count_p);
    s_list_t list;
    s_list_init (&list);
    size_t workdir_length = workdir ? strlen (workdir) : 0;
    while (workdir_length > 1 && workdir [workdir_length - 1] == '/')
        workdir_length--;
    for (const char *line = trace; line && *line; ) {
        const char *end = strchr (line, '\n');
        size_t length = end ? (size_t) (end - line) : strlen (line);
        char *text = tm_strdupf ("%.*s", (int) length, line);
        line = end ? end + 1 : line + length;
        const char *prefix = NULL;
        switch (length > 2 && text [1] == ' ' ? text [0] : 0) {
            case 'r': prefix = "traced:"; break;
            case 'x': prefix = "traced-exec:"; break;
            case 'd': prefix = "traced-dir:"; break;
            case 's': prefix = "traced-stat:"; break;
            case 'e': prefix = "traced-env:"; break;
        }
        const char *value = text + 2;
        if (!prefix || (text [0] != 'e' && value [0] != '/')) {
            free (text);
            continue;
        }
        char *name;
        if (text [0] != 'e' && workdir_length && root
        &&  strncmp (value, workdir, workdir_length) == 0
        &&  (value [workdir_length] == 0 || value [workdir_length] == '/'))
            name = tm_strdupf ("%s%s%s", prefix, streq (root, "/") && value [workdir_length]
                                                 ? "" : root, value + workdir_length);
        else
            name = tm_strdupf ("%s%s", prefix, value);
        char hex [TM_CACHE_HEX];
        s_traced (self, name, hex);
        s_list_take (&list, name, hex);
        free (text);
    }
    s_list_finish (&list, list_p, count_p);
    return 0;
}

// ------------------------------------------------------------------ explain

char *
tm_cachekey_explain (const tm_component_t *old, size_t n_old,
                     const tm_component_t *now, size_t n_now)
{
    //  Both sorted: one merge pass
    zchunk_t *text = zchunk_new (NULL, 0);
    size_t i = 0, j = 0;
    while (i < n_old || j < n_now) {
        int order = i == n_old ? 1 : j == n_now ? -1 : strcmp (old [i].name, now [j].name);
        char *line = NULL;
        if (order < 0)
            line = tm_strdupf ("gone: %s\n", old [i++].name);
        else
        if (order > 0)
            line = tm_strdupf ("new: %s\n", now [j++].name);
        else {
            if (strcmp (old [i].digest, now [j].digest) != 0)
                line = tm_strdupf ("%s changed\n", old [i].name);
            i++, j++;
        }
        if (line) {
            zchunk_extend (text, line, strlen (line));
            free (line);
        }
    }
    char *result = NULL;
    if (zchunk_size (text)) {
        zchunk_extend (text, "", 1);
        result = strdup ((char *) zchunk_data (text));
    }
    zchunk_destroy (&text);
    return result;
}
