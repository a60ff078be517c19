/*  tm_workdir.c - a task's work directory: its shipped files, in their layout.

    Paths under the work directory come from another member, so they are
    checked before use (tm_task_path_valid: relative, no "." or ".."
    parts) and every directory on the way is one we made ourselves in a
    directory we made ourselves: a shipped path cannot lead outside.
*/
#include "tm_workdir.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_DEPTH_MAX  512        //  Directory levels removed, at most

struct _tm_workdir_t {
    char *path;                 //  The directory
};

//  Removes NAME in directory DIR_FD, and all it holds if it is a
//  directory.  Symbolic links are removed, not followed.
static void
s_remove_at (int dir_fd, const char *name, int depth)
{
    if (unlinkat (dir_fd, name, 0) == 0 || errno == ENOENT)
        return;
    if (errno != EISDIR && errno != EPERM)
        return;
    if (depth > S_DEPTH_MAX) {
        tm_warn ("workdir", "not removing %s: nested too deep", name);
        return;
    }
    //  A test may have taken our permissions away: give them back
    fchmodat (dir_fd, name, 0700, 0);
    int fd = openat (dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *dir = fd >= 0 ? fdopendir (fd) : NULL;
    if (!dir) {
        if (fd >= 0)
            close (fd);
    }
    else {
        struct dirent *entry;
        while ((entry = readdir (dir)))
            if (!streq (entry->d_name, ".") && !streq (entry->d_name, ".."))
                s_remove_at (dirfd (dir), entry->d_name, depth + 1);
        closedir (dir);
    }
    if (unlinkat (dir_fd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
        tm_warn ("workdir", "cannot remove %s: %s", name, strerror (errno));
}

static void
s_remove_tree (const char *path)
{
    s_remove_at (AT_FDCWD, path, 0);
}

int
tm_workdir_clean (const char *base)
{
    assert (base);
    DIR *dir = opendir (base);
    if (!dir)
        return 0;
    int removed = 0;
    struct dirent *entry;
    while ((entry = readdir (dir)))
        if (!streq (entry->d_name, ".") && !streq (entry->d_name, "..")) {
            s_remove_at (dirfd (dir), entry->d_name, 0);
            removed++;
        }
    closedir (dir);
    return removed;
}

//  Makes the directories of REL (all but its last part, or all of it if
//  WHOLE) under WORK.  Returns 0 or -1 with *err.
static int
s_mkdirs (const char *work, const char *rel, bool whole, char **err)
{
    char *path = tm_strdupf ("%s/%s", work, rel);
    char *part = path + strlen (work) + 1;
    int rc = 0;
    for (char *slash = strchr (part, '/'); rc == 0; slash = strchr (slash + 1, '/')) {
        if (slash)
            *slash = 0;
        else
        if (!whole)
            break;
        if (mkdir (path, 0755) != 0 && errno != EEXIST)
            rc = tm_fail (err, "cannot make directory %s: %s", path, strerror (errno));
        if (!slash)
            break;
        *slash = '/';
    }
    free (path);
    return rc;
}

//  If PATH is ROOT or under it, and what it names exists under WORK,
//  the same place under WORK (a new string); else NULL.
static char *
s_map (const char *root, const char *work, const char *path, bool must_exist)
{
    size_t length = strlen (root);
    const char *rel;
    if (streq (root, "/"))
        rel = path [0] == '/' ? path + 1 : NULL;
    else
    if (strncmp (path, root, length) == 0 && (path [length] == '/' || path [length] == 0))
        rel = path [length] ? path + length + 1 : path + length;
    else
        rel = NULL;
    if (!rel)
        return NULL;
    if (!*rel)
        return strdup (work);
    if (!tm_task_path_valid (rel))
        return NULL;
    char *mapped = tm_strdupf ("%s/%s", work, rel);
    struct stat st;
    if (must_exist && lstat (mapped, &st) != 0)
        zstr_free (&mapped);
    return mapped;
}

tm_workdir_t *
tm_workdir_new (const char *base, tm_store_t *store, tm_task_t *task, char **err)
{
    assert (base && store && task && task->root);
    if (mkdir (base, 0700) != 0 && errno != EEXIST) {
        tm_fail (err, "cannot make %s: %s", base, strerror (errno));
        return NULL;
    }
    char *path = tm_strdupf ("%s/t-XXXXXX", base);
    if (!mkdtemp (path)) {
        tm_fail (err, "cannot make a work directory in %s: %s", base, strerror (errno));
        free (path);
        return NULL;
    }
    tm_workdir_t *self = (tm_workdir_t *) zmalloc (sizeof (tm_workdir_t));
    self->path = path;
    int rc = 0;
    int saved = 0;
    for (size_t i = 0; rc == 0 && i < task->files_size; i++) {
        const tm_file_t *file = &task->files [i];
        assert (tm_task_path_valid (file->path));   //  tm_codec checked it
        char *dest = tm_strdupf ("%s/%s", path, file->path);
        rc = s_mkdirs (path, file->path, false, err);
        if (rc == 0) {
            rc = tm_store_link (store, file->digest, file->exec, dest, err);
            saved = errno;
        }
        free (dest);
    }
    //  The cwd, under the work directory
    char *cwd = NULL;
    if (rc == 0) {
        cwd = task->cwd ? s_map (task->root, path, task->cwd, false) : strdup (path);
        if (!cwd)
            rc = tm_fail (err, "its working directory %s is not under its root %s",
                          task->cwd, task->root);
        else
        if (!streq (cwd, path))
            rc = s_mkdirs (path, cwd + strlen (path) + 1, true, err);
    }
    if (rc != 0) {
        free (cwd);
        tm_workdir_destroy (&self);
        errno = saved;
        return NULL;
    }
    free (task->cwd);
    task->cwd = cwd;
    for (size_t i = 0; task->argv && task->argv [i]; i++) {
        char *mapped = s_map (task->root, path, task->argv [i], true);
        if (mapped) {
            free (task->argv [i]);
            task->argv [i] = mapped;
        }
    }
    for (size_t i = 0; task->env && task->env [i]; i++) {
        char *equals = strchr (task->env [i], '=');
        char *mapped = equals ? s_map (task->root, path, equals + 1, true) : NULL;
        if (mapped) {
            char *pair = tm_strdupf ("%.*s=%s", (int) (equals - task->env [i]),
                                     task->env [i], mapped);
            free (mapped);
            free (task->env [i]);
            task->env [i] = pair;
        }
    }
    char *marker = tm_strdupf ("TESTMESH_WORK_DIR=%s", path);
    tm_strv_push (&task->env, marker);
    free (marker);
    return self;
}

void
tm_workdir_destroy (tm_workdir_t **self_p)
{
    assert (self_p);
    tm_workdir_t *self = *self_p;
    if (!self)
        return;
    s_remove_tree (self->path);
    free (self->path);
    free (self);
    *self_p = NULL;
}

const char *
tm_workdir_path (tm_workdir_t *self)
{
    assert (self);
    return self->path;
}
