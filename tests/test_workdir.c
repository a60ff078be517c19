/*  test_workdir.c - a task's work directory (tm_workdir): the shipped
    files in their layout, the task pointed into it, and all of it
    removed afterwards, whatever the test did to it. */
#include "tm_testutil.h"
#include "tm_workdir.h"
#include <dirent.h>

typedef struct {
    char *dir;                  //  Scratch: store and work base inside
    char *base;                 //  DIR/work
    tm_store_t *store;
    char bin [TM_STORE_HEX];    //  An executable blob
    char data [TM_STORE_HEX];   //  A plain one
} s_fixture_t;

static void
s_fixture (s_fixture_t *f)
{
    f->dir = tmu_scratch ();
    f->base = malloc (strlen (f->dir) + 8);
    sprintf (f->base, "%s/work", f->dir);
    f->store = tm_store_new (f->dir, NULL);
    cr_assert_not_null (f->store);
    char path [4200];
    uint64_t size;
    bool exec;
    snprintf (path, sizeof path, "%s/bin", f->dir);
    tmu_write (path, "#!/bin/sh\necho hi\n");
    chmod (path, 0755);
    cr_assert_eq (tm_store_add_file (f->store, path, f->bin, &size, &exec, NULL), 0);
    snprintf (path, sizeof path, "%s/data", f->dir);
    tmu_write (path, "golden\n");
    cr_assert_eq (tm_store_add_file (f->store, path, f->data, &size, &exec, NULL), 0);
}

static void
s_fixture_free (s_fixture_t *f)
{
    tm_store_destroy (&f->store);
    tmu_rmrf (f->dir);
    free (f->dir);
    free (f->base);
}

static int
s_entries (const char *dir)
{
    DIR *handle = opendir (dir);
    if (!handle)
        return -1;
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir (handle)))
        count += entry->d_name [0] != '.' || (entry->d_name [1] && entry->d_name [1] != '.');
    closedir (handle);
    return count;
}

static const char *
s_env (tm_task_t *task, const char *name)
{
    size_t length = strlen (name);
    for (char **pair = task->env; pair && *pair; pair++)
        if (strncmp (*pair, name, length) == 0 && (*pair) [length] == '=')
            return *pair + length + 1;
    return NULL;
}

Test (workdir, files_take_their_layout_and_the_task_is_pointed_into_it)
{
    s_fixture_t f;
    s_fixture (&f);
    tm_task_t *task = tm_task_new ("t", "suite.ini", TM_KIND_MANIFEST);
    task->root = strdup ("/src/proj");
    task->cwd = strdup ("/src/proj/build/tests");
    tm_task_add_file (task, "build/bin/unit", f.bin, 18, true);
    tm_task_add_file (task, "data/golden.txt", f.data, 7, false);
    tm_strv_push (&task->argv, "/src/proj/build/bin/unit");
    tm_strv_push (&task->argv, "/src/proj/data/golden.txt");
    tm_strv_push (&task->argv, "/src/proj/data/not-shipped.txt");
    tm_strv_push (&task->argv, "/src/projection");
    tm_strv_push (&task->argv, "--data=/src/proj/data");
    tm_strv_push (&task->env, "DATA=/src/proj/data");
    tm_strv_push (&task->env, "HOME=/home/someone");

    char *err = NULL;
    tm_workdir_t *workdir = tm_workdir_new (f.base, f.store, task, &err);
    cr_assert_not_null (workdir, "%s", err);
    const char *work = tm_workdir_path (workdir);
    cr_assert_eq (strncmp (work, f.base, strlen (f.base)), 0);
    char want [4200];
    snprintf (want, sizeof want, "%s/build/tests", work);
    cr_assert_str_eq (task->cwd, want);
    struct stat st;
    cr_assert_eq (stat (task->cwd, &st), 0, "the cwd was not made");
    cr_assert (S_ISDIR (st.st_mode));
    snprintf (want, sizeof want, "%s/build/bin/unit", work);
    cr_assert_str_eq (task->argv [0], want);
    cr_assert_eq (stat (want, &st), 0);
    cr_assert_eq (st.st_mode & 0111, 0111, "the program lost its executable bit");
    snprintf (want, sizeof want, "%s/data/golden.txt", work);
    cr_assert_str_eq (task->argv [1], want);
    char *content = tmu_slurp (want);
    cr_assert_str_eq (content, "golden\n");
    free (content);
    cr_assert_eq (stat (want, &st), 0);
    cr_assert_eq (st.st_mode & 0111, 0);
    //  Only what exists under the work directory is rewritten
    cr_assert_str_eq (task->argv [2], "/src/proj/data/not-shipped.txt");
    cr_assert_str_eq (task->argv [3], "/src/projection");
    cr_assert_str_eq (task->argv [4], "--data=/src/proj/data");
    snprintf (want, sizeof want, "%s/data", work);
    cr_assert_str_eq (s_env (task, "DATA"), want);
    cr_assert_str_eq (s_env (task, "HOME"), "/home/someone");
    cr_assert_str_eq (s_env (task, "TESTMESH_WORK_DIR"), work);

    char *kept = strdup (work);
    tm_workdir_destroy (&workdir);
    cr_assert_null (workdir);
    cr_assert_neq (stat (kept, &st), 0, "the work directory is still there");
    cr_assert_eq (s_entries (f.base), 0);
    free (kept);
    tm_task_destroy (&task);
    s_fixture_free (&f);
}

Test (workdir, task_under_the_file_system_root_keeps_system_paths)
{
    s_fixture_t f;
    s_fixture (&f);
    tm_task_t *task = tm_task_new ("t", "suite.ini", TM_KIND_MANIFEST);
    task->root = strdup ("/");
    task->cwd = strdup ("/tmp/x");
    tm_task_add_file (task, "home/u/check.sh", f.bin, 18, true);
    tm_strv_push (&task->argv, "/bin/sh");
    tm_strv_push (&task->argv, "/home/u/check.sh");
    tm_workdir_t *workdir = tm_workdir_new (f.base, f.store, task, NULL);
    cr_assert_not_null (workdir);
    cr_assert_str_eq (task->argv [0], "/bin/sh", "a program the member has was rewritten");
    char want [4200];
    snprintf (want, sizeof want, "%s/home/u/check.sh", tm_workdir_path (workdir));
    cr_assert_str_eq (task->argv [1], want);
    snprintf (want, sizeof want, "%s/tmp/x", tm_workdir_path (workdir));
    cr_assert_str_eq (task->cwd, want);
    tm_workdir_destroy (&workdir);
    tm_task_destroy (&task);
    s_fixture_free (&f);
}

Test (workdir, missing_blob_fails_with_enoent_and_leaves_nothing)
{
    s_fixture_t f;
    s_fixture (&f);
    tm_task_t *task = tm_task_new ("t", "suite.ini", TM_KIND_MANIFEST);
    task->root = strdup ("/src");
    tm_task_add_file (task, "a/present", f.data, 7, false);
    tm_task_add_file (task, "b/absent", "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a9",
                      3, false);
    tm_strv_push (&task->argv, "/src/a/present");
    char *err = NULL;
    errno = 0;
    tm_workdir_t *workdir = tm_workdir_new (f.base, f.store, task, &err);
    cr_assert_null (workdir);
    cr_assert_eq (errno, ENOENT);
    cr_assert (strstr (err, "not in the content store"), "%s", err);
    free (err);
    cr_assert_eq (s_entries (f.base), 0, "a half-made work directory was left");
    cr_assert_str_eq (task->argv [0], "/src/a/present", "the task was changed");
    tm_task_destroy (&task);
    s_fixture_free (&f);
}

Test (workdir, cwd_outside_the_root_or_clashing_paths_are_refused)
{
    s_fixture_t f;
    s_fixture (&f);
    tm_task_t *task = tm_task_new ("t", "suite.ini", TM_KIND_MANIFEST);
    task->root = strdup ("/src");
    task->cwd = strdup ("/elsewhere");
    tm_strv_push (&task->argv, "true");
    char *err = NULL;
    cr_assert_null (tm_workdir_new (f.base, f.store, task, &err));
    cr_assert (strstr (err, "not under its root"), "%s", err);
    zstr_free (&err);
    free (task->cwd);
    task->cwd = strdup ("/srcx");
    cr_assert_null (tm_workdir_new (f.base, f.store, task, &err));
    zstr_free (&err);
    //  A file where another file wants a directory
    free (task->cwd);
    task->cwd = NULL;
    tm_task_add_file (task, "a", f.data, 7, false);
    tm_task_add_file (task, "a/b", f.data, 7, false);
    cr_assert_null (tm_workdir_new (f.base, f.store, task, &err));
    zstr_free (&err);
    cr_assert_eq (s_entries (f.base), 0);
    tm_task_destroy (&task);
    s_fixture_free (&f);
}

Test (workdir, removal_survives_what_a_test_did_and_follows_no_link)
{
    s_fixture_t f;
    s_fixture (&f);
    //  Something outside that a link from the work directory points to
    char outside [4200];
    snprintf (outside, sizeof outside, "%s/precious", f.dir);
    mkdir (outside, 0755);
    char keep [4300];
    snprintf (keep, sizeof keep, "%s/keep", outside);
    tmu_write (keep, "keep me");

    tm_task_t *task = tm_task_new ("t", "suite.ini", TM_KIND_MANIFEST);
    task->root = strdup ("/src");
    tm_task_add_file (task, "data/in", f.data, 7, false);
    tm_strv_push (&task->argv, "true");
    tm_workdir_t *workdir = tm_workdir_new (f.base, f.store, task, NULL);
    cr_assert_not_null (workdir);
    const char *work = tm_workdir_path (workdir);
    char path [4300];
    snprintf (path, sizeof path, "%s/link", work);
    cr_assert_eq (symlink (outside, path), 0);
    snprintf (path, sizeof path, "%s/locked", work);
    mkdir (path, 0755);
    snprintf (path, sizeof path, "%s/locked/deep", work);
    mkdir (path, 0755);
    snprintf (path, sizeof path, "%s/locked/deep/file", work);
    tmu_write (path, "x");
    snprintf (path, sizeof path, "%s/locked/deep", work);
    chmod (path, 0);
    snprintf (path, sizeof path, "%s/locked", work);
    chmod (path, 0);
    tm_workdir_destroy (&workdir);
    cr_assert_eq (s_entries (f.base), 0);
    struct stat st;
    cr_assert_eq (stat (keep, &st), 0, "removal followed a link out of the work directory");
    tm_task_destroy (&task);
    s_fixture_free (&f);
}

Test (workdir, clean_removes_what_a_dead_agent_left)
{
    s_fixture_t f;
    s_fixture (&f);
    cr_assert_eq (tm_workdir_clean (f.base), 0, "no base yet: nothing to do");
    tm_task_t *one = tm_task_new ("t", "suite.ini", TM_KIND_MANIFEST);
    one->root = strdup ("/src");
    tm_task_add_file (one, "x/y", f.data, 7, false);
    tm_strv_push (&one->argv, "true");
    tm_task_t *two = tm_task_new ("u", "suite.ini", TM_KIND_MANIFEST);
    two->root = strdup ("/src");
    tm_strv_push (&two->argv, "true");
    tm_workdir_t *a = tm_workdir_new (f.base, f.store, one, NULL);
    tm_workdir_t *b = tm_workdir_new (f.base, f.store, two, NULL);
    cr_assert (a && b);
    cr_assert_str_neq (tm_workdir_path (a), tm_workdir_path (b));
    cr_assert_eq (tm_workdir_clean (f.base), 2);
    cr_assert_eq (s_entries (f.base), 0);
    //  Their owners may still destroy them
    tm_workdir_destroy (&a);
    tm_workdir_destroy (&b);
    tm_task_destroy (&one);
    tm_task_destroy (&two);
    s_fixture_free (&f);
}
