/*  tm_inputs.c - the files each task of a submitted run takes with it.

    Two caches make a run of 100,000 tasks of one binary cost one hash:
    `files` maps each cleaned path to its blob, and `dirs` maps each
    declared directory to the files found under it.
*/
#include "tm_inputs.h"
#include "tm_codec.h"
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_DEPTH_MAX  64         //  Directory levels walked under an input

typedef struct {
    char digest [TM_STORE_HEX];
    uint64_t size;
    bool exec;
} s_blob_t;

struct _tm_inputs_t {
    tm_store_t *store;          //  Borrowed
    char *cwd;                  //  Ours
    zhashx_t *files;            //  Clean path -> s_blob_t
    zhashx_t *dirs;             //  Clean directory -> zlistx_t of clean paths
    zhashx_t *trees;            //  Target as given -> its directory (clean, or "")
    size_t hashed;              //  Distinct files
    uint64_t bytes;             //  Their bytes
};

static void
s_list_destroy (void **item_p)
{
    zlistx_t *list = (zlistx_t *) *item_p;
    zlistx_destroy (&list);
    *item_p = NULL;
}

static void
s_free (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

tm_inputs_t *
tm_inputs_new (tm_store_t *store, char **err)
{
    assert (store);
    char *cwd = getcwd (NULL, 0);
    if (!cwd) {
        tm_fail (err, "cannot read the current directory: %s", strerror (errno));
        return NULL;
    }
    tm_inputs_t *self = (tm_inputs_t *) zmalloc (sizeof (tm_inputs_t));
    self->store = store;
    self->cwd = cwd;
    self->files = zhashx_new ();
    zhashx_set_destructor (self->files, s_free);
    self->dirs = zhashx_new ();
    zhashx_set_destructor (self->dirs, s_list_destroy);
    self->trees = zhashx_new ();
    zhashx_set_destructor (self->trees, s_free);
    return self;
}

void
tm_inputs_destroy (tm_inputs_t **self_p)
{
    assert (self_p);
    tm_inputs_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->files);
    zhashx_destroy (&self->dirs);
    zhashx_destroy (&self->trees);
    free (self->cwd);
    free (self);
    *self_p = NULL;
}

size_t
tm_inputs_files (tm_inputs_t *self)
{
    assert (self);
    return self->hashed;
}

uint64_t
tm_inputs_bytes (tm_inputs_t *self)
{
    assert (self);
    return self->bytes;
}

char *
tm_inputs_clean_path (const char *base, const char *path)
{
    assert (base && path);
    char *joined = path [0] == '/' ? strdup (path) : tm_strdupf ("%s/%s", base, path);
    //  Parts are copied down over the string, keeping the offset of
    //  each kept part's start so ".." can drop the last one
    size_t length = strlen (joined);
    char *out = (char *) malloc (length + 2);
    size_t *starts = (size_t *) malloc ((length / 2 + 2) * sizeof (size_t));
    assert (out && starts);
    size_t size = 0, depth = 0;
    for (char *part = joined; *part; ) {
        char *slash = strchr (part, '/');
        size_t part_length = slash ? (size_t) (slash - part) : strlen (part);
        if (part_length == 0 || (part_length == 1 && part [0] == '.'))
            ;
        else
        if (part_length == 2 && part [0] == '.' && part [1] == '.') {
            if (depth > 0)
                size = starts [--depth];
        }
        else {
            starts [depth++] = size;
            out [size++] = '/';
            memcpy (out + size, part, part_length);
            size += part_length;
        }
        if (!slash)
            break;
        part = slash + 1;
    }
    if (size == 0)
        out [size++] = '/';
    out [size] = 0;
    free (starts);
    free (joined);
    return out;
}

//  True if PATH is DIR or under it (both clean).
static bool
s_under (const char *path, const char *dir)
{
    if (streq (dir, "/"))
        return true;
    size_t length = strlen (dir);
    return strncmp (path, dir, length) == 0 && (path [length] == '/' || path [length] == 0);
}

//  The deepest directory that holds both A and B (clean paths; A a
//  directory), into A (shortened in place).
static void
s_common (char *a, const char *b)
{
    while (!s_under (b, a)) {
        char *slash = strrchr (a, '/');
        if (slash == a)
            a [1] = 0;
        else
            *slash = 0;
    }
}

//  The directory of TARGET (as given on the command line) whose files
//  may travel as a program, clean; cached.
static const char *
s_tree (tm_inputs_t *self, const char *target)
{
    const char *tree = (const char *) zhashx_lookup (self->trees, target);
    if (tree)
        return tree;
    char *clean = tm_inputs_clean_path (self->cwd, target);
    struct stat st;
    if (stat (clean, &st) == 0 && !S_ISDIR (st.st_mode)) {
        char *slash = strrchr (clean, '/');
        slash [slash == clean ? 1 : 0] = 0;
    }
    zhashx_insert (self->trees, target, clean);
    return clean;
}

//  The blob of the regular file at PATH (clean), added to the store
//  once per run.  NULL with *err on failure.
static s_blob_t *
s_blob (tm_inputs_t *self, const char *path, char **err)
{
    s_blob_t *blob = (s_blob_t *) zhashx_lookup (self->files, path);
    if (blob)
        return blob;
    blob = (s_blob_t *) zmalloc (sizeof (s_blob_t));
    if (tm_store_add_file (self->store, path, blob->digest, &blob->size, &blob->exec,
                           err) != 0) {
        free (blob);
        return NULL;
    }
    if (blob->size > TM_CODEC_FILE_MAX) {
        tm_fail (err, "%s is larger than %llu bytes", path,
                 (unsigned long long) TM_CODEC_FILE_MAX);
        free (blob);
        return NULL;
    }
    self->hashed++;
    self->bytes += blob->size;
    zhashx_insert (self->files, path, blob);
    return blob;
}

//  Adds the regular files under DIR (clean) to LIST.  Returns 0 or -1.
static int
s_walk (const char *dir, zlistx_t *list, int depth, char **err)
{
    if (depth > S_DEPTH_MAX)
        return tm_fail (err, "%s: directories nested deeper than %d", dir, S_DEPTH_MAX);
    DIR *handle = opendir (dir);
    if (!handle)
        return tm_fail (err, "cannot read directory %s: %s", dir, strerror (errno));
    int rc = 0;
    struct dirent *entry;
    while (rc == 0 && (entry = readdir (handle))) {
        if (streq (entry->d_name, ".") || streq (entry->d_name, ".."))
            continue;
        char *path = streq (dir, "/") ? tm_strdupf ("/%s", entry->d_name)
                                      : tm_strdupf ("%s/%s", dir, entry->d_name);
        struct stat link, st;
        if (lstat (path, &link) != 0 || stat (path, &st) != 0) {
            //  A dangling link, or gone while we looked: nothing to ship
            tm_warn ("inputs", "skipping %s: %s", path, strerror (errno));
        }
        else
        if (S_ISDIR (st.st_mode) && S_ISLNK (link.st_mode))
            tm_warn ("inputs", "skipping %s: a link to a directory", path);
        else
        if (S_ISDIR (st.st_mode))
            rc = s_walk (path, list, depth + 1, err);
        else
        if (S_ISREG (st.st_mode)) {
            if (zlistx_size (list) >= TM_CODEC_ARRAY_MAX)
                rc = tm_fail (err, "more than %d files under %s", TM_CODEC_ARRAY_MAX, dir);
            else {
                zlistx_add_end (list, path);
                path = NULL;
            }
        }
        else
            tm_warn ("inputs", "skipping %s: not a regular file", path);
        free (path);
    }
    closedir (handle);
    return rc;
}

//  The files a declared input stands for (clean paths), cached.
static zlistx_t *
s_expand (tm_inputs_t *self, const char *path, char **err)
{
    zlistx_t *list = (zlistx_t *) zhashx_lookup (self->dirs, path);
    if (list)
        return list;
    struct stat st;
    if (stat (path, &st) != 0) {
        tm_fail (err, "%s: %s", path, strerror (errno));
        return NULL;
    }
    list = zlistx_new ();
    zlistx_set_destructor (list, (zlistx_destructor_fn *) zstr_free);
    if (S_ISREG (st.st_mode))
        zlistx_add_end (list, strdup (path));
    else
    if (!S_ISDIR (st.st_mode)) {
        tm_fail (err, "%s is not a regular file or a directory", path);
        zlistx_destroy (&list);
        return NULL;
    }
    else
    if (s_walk (path, list, 0, err) != 0) {
        zlistx_destroy (&list);
        return NULL;
    }
    zhashx_insert (self->dirs, path, list);
    return list;
}

int
tm_inputs_prepare (tm_inputs_t *self, tm_task_t *task, char **err)
{
    assert (self && task && task->argv && !task->root);
    char *cwd = tm_inputs_clean_path (self->cwd, task->cwd ? task->cwd : self->cwd);
    zlistx_t *paths = zlistx_new ();        //  Clean paths, borrowed or owned below
    zlistx_set_destructor (paths, (zlistx_destructor_fn *) zstr_free);
    zhashx_t *seen = zhashx_new ();
    int rc = 0;
    //  1. The program, if it is a file of the target's
    const char *program = task->argv [0];
    if (strchr (program, '/')) {
        char *clean = tm_inputs_clean_path (cwd, program);
        struct stat st;
        const char *tree = s_tree (self, task->target);
        char *real = realpath (tree, NULL);
        char *real_program = realpath (clean, NULL);
        if (stat (clean, &st) == 0 && S_ISREG (st.st_mode)
        &&  (s_under (clean, tree)
             || (real && real_program && s_under (real_program, real))))
            zlistx_add_end (paths, clean);
        else
            free (clean);
        free (real);
        free (real_program);
    }
    //  2. The declared inputs (absolute already for manifests and --input)
    for (size_t i = 0; rc == 0 && task->inputs && task->inputs [i]; i++) {
        char *clean = tm_inputs_clean_path (self->cwd, task->inputs [i]);
        zlistx_t *files = s_expand (self, clean, err);
        if (!files)
            rc = -1;
        for (char *file = files ? (char *) zlistx_first (files) : NULL; file;
             file = (char *) zlistx_next (files))
            zlistx_add_end (paths, strdup (file));
        free (clean);
    }
    if (rc == 0 && zlistx_size (paths) > TM_CODEC_ARRAY_MAX)
        rc = tm_fail (err, "it has more than %d files", TM_CODEC_ARRAY_MAX);
    //  The root: the deepest directory holding the cwd and every file
    char *root = strdup (cwd);
    for (char *path = (char *) zlistx_first (paths); rc == 0 && path;
         path = (char *) zlistx_next (paths))
        s_common (root, path);
    task->root = root;
    for (char *path = (char *) zlistx_first (paths); rc == 0 && path;
         path = (char *) zlistx_next (paths)) {
        if (zhashx_insert (seen, path, path) != 0)
            continue;           //  Declared twice, or the program declared too
        s_blob_t *blob = s_blob (self, path, err);
        if (!blob) {
            rc = -1;
            break;
        }
        const char *rel = path + (streq (root, "/") ? 1 : strlen (root) + 1);
        if (!tm_task_path_valid (rel))
            rc = tm_fail (err, "%s cannot be shipped: it is the root of the task's files",
                          path);
        else
            tm_task_add_file (task, rel, blob->digest, blob->size, blob->exec);
    }
    zhashx_destroy (&seen);
    zlistx_destroy (&paths);
    free (task->cwd);
    task->cwd = cwd;
    return rc;
}
