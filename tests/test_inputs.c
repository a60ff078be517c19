/*  test_inputs.c - which files a submitted task takes with it (tm_inputs):
    its program when it is the target's, its declared inputs (directories
    expanded), all under one root with its cwd, each hashed once a run. */
#include "tm_testutil.h"
#include "tm_inputs.h"

static char *
s_path (const char *dir, const char *name)
{
    char *path = malloc (strlen (dir) + strlen (name) + 2);
    sprintf (path, "%s/%s", dir, name);
    return path;
}

//  The file of TASK at PATH, or NULL.
static const tm_file_t *
s_file (tm_task_t *task, const char *path)
{
    for (size_t i = 0; i < task->files_size; i++)
        if (streq (task->files [i].path, path))
            return &task->files [i];
    return NULL;
}

Test (inputs, paths_are_cleaned_without_being_resolved)
{
    struct { const char *base, *path, *want; } cases [] = {
        { "/a/b", "c", "/a/b/c" },
        { "/a/b", "./c/./d/", "/a/b/c/d" },
        { "/a/b", "../c", "/a/c" },
        { "/a/b", "../../../../c", "/c" },
        { "/a/b", "/x//y/../z", "/x/z" },
        { "/", ".", "/" },
        { "/a", "..", "/" },
        { "/a", "b/..", "/a" },
        { "/a", "..b/c", "/a/..b/c" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        char *clean = tm_inputs_clean_path (cases [i].base, cases [i].path);
        cr_assert_str_eq (clean, cases [i].want, "%s + %s", cases [i].base, cases [i].path);
        free (clean);
    }
}

Test (inputs, target_program_and_declared_inputs_travel_system_programs_do_not)
{
    char *dir = tmu_scratch ();
    char *data = tmu_scratch ();        //  Outside the target's directory
    char *proj = s_path (dir, "proj");
    mkdir (proj, 0755);
    char *bin = s_path (proj, "bin");
    mkdir (bin, 0755);
    char *script = s_path (bin, "check.sh");
    tmu_write (script, "#!/bin/sh\nexit 0\n");
    chmod (script, 0755);
    char *manifest = s_path (proj, "suite.ini");
    tmu_write (manifest, "");
    char *input = s_path (data, "golden.txt");
    tmu_write (input, "golden\n");
    char *tree = s_path (data, "tree");
    mkdir (tree, 0755);
    char *nested = s_path (tree, "a");
    mkdir (nested, 0755);
    char *deep = s_path (nested, "deep.txt");
    tmu_write (deep, "deep\n");
    char *alias = s_path (tree, "alias.txt");
    cr_assert_eq (symlink (input, alias), 0);
    char *loop = s_path (tree, "loop");
    cr_assert_eq (symlink (tree, loop), 0);

    tm_store_t *store = tm_store_new (dir, NULL);
    char *err = NULL;
    tm_inputs_t *inputs = tm_inputs_new (store, &err);
    cr_assert_not_null (inputs, "%s", err);

    tm_task_t *task = tm_task_new ("t", manifest, TM_KIND_MANIFEST);
    tm_strv_push (&task->argv, script);
    task->cwd = strdup (proj);
    tm_strv_push (&task->inputs, input);
    tm_strv_push (&task->inputs, tree);
    tm_strv_push (&task->inputs, script);       //  Declared too: once is enough
    cr_assert_eq (tm_inputs_prepare (inputs, task, &err), 0, "%s", err);
    //  /tmp holds both scratch directories
    cr_assert_str_eq (task->root, "/tmp");
    cr_assert_str_eq (task->cwd, proj);
    cr_assert_eq (task->files_size, 4, "%zu files", task->files_size);
    const tm_file_t *file = s_file (task, script + 5);
    cr_assert_not_null (file, "the program did not travel");
    cr_assert (file->exec);
    cr_assert_not_null (s_file (task, input + 5));
    cr_assert_not_null (s_file (task, deep + 5));
    file = s_file (task, alias + 5);
    cr_assert_not_null (file, "a link to a file is that file");
    cr_assert_str_eq (file->digest, s_file (task, input + 5)->digest);
    cr_assert_not (s_file (task, input + 5)->exec);
    cr_assert (tm_store_has (store, file->digest, 7));

    //  A system program, and one outside the target's directory, stay
    tm_task_t *shell = tm_task_new ("s", manifest, TM_KIND_MANIFEST);
    tm_strv_push (&shell->argv, "/bin/sh");
    tm_strv_push (&shell->argv, "-c");
    tm_strv_push (&shell->argv, "true");
    shell->cwd = strdup (proj);
    cr_assert_eq (tm_inputs_prepare (inputs, shell, &err), 0, "%s", err);
    cr_assert_eq (shell->files_size, 0);
    cr_assert_str_eq (shell->root, proj, "the root of a task with no files is its cwd");
    tm_task_t *elsewhere = tm_task_new ("e", manifest, TM_KIND_MANIFEST);
    tm_strv_push (&elsewhere->argv, input);
    elsewhere->cwd = strdup (proj);
    cr_assert_eq (tm_inputs_prepare (inputs, elsewhere, &err), 0, "%s", err);
    cr_assert_eq (elsewhere->files_size, 0);
    cr_assert_eq (tm_inputs_files (inputs), 4, "a file was hashed twice");

    tm_task_destroy (&task);
    tm_task_destroy (&shell);
    tm_task_destroy (&elsewhere);
    tm_inputs_destroy (&inputs);
    tm_store_destroy (&store);
    tmu_rmrf (dir);
    tmu_rmrf (data);
    free (dir); free (data); free (proj); free (bin); free (script); free (manifest);
    free (input); free (tree); free (nested); free (deep); free (alias); free (loop);
}

Test (inputs, binary_without_a_cwd_gets_the_callers_and_each_file_is_hashed_once)
{
    char *dir = tmu_scratch ();
    char *binary = s_path (dir, "unit");
    tmu_write (binary, "\x7f" "ELF not really");
    chmod (binary, 0755);
    char *cwd = getcwd (NULL, 0);
    tm_store_t *store = tm_store_new (dir, NULL);
    tm_inputs_t *inputs = tm_inputs_new (store, NULL);
    for (int i = 0; i < 100; i++) {
        tm_task_t *task = tm_task_new ("t", binary, TM_KIND_CRITERION);
        tm_strv_push (&task->argv, binary);
        tm_strv_push (&task->argv, "--filter");
        char *err = NULL;
        cr_assert_eq (tm_inputs_prepare (inputs, task, &err), 0, "%s", err);
        cr_assert_str_eq (task->cwd, cwd);
        cr_assert_eq (task->files_size, 1);
        cr_assert (task->files [0].exec);
        tm_task_destroy (&task);
    }
    cr_assert_eq (tm_inputs_files (inputs), 1);
    cr_assert_eq (tm_inputs_bytes (inputs), 15);
    tm_inputs_destroy (&inputs);
    tm_store_destroy (&store);
    tmu_rmrf (dir);
    free (dir);
    free (binary);
    free (cwd);
}

Test (inputs, missing_or_special_input_is_an_error_naming_it)
{
    char *dir = tmu_scratch ();
    tm_store_t *store = tm_store_new (dir, NULL);
    tm_inputs_t *inputs = tm_inputs_new (store, NULL);
    tm_task_t *task = tm_task_new ("t", dir, TM_KIND_MANIFEST);
    tm_strv_push (&task->argv, "true");
    char *gone = s_path (dir, "gone.txt");
    tm_strv_push (&task->inputs, gone);
    char *err = NULL;
    cr_assert_eq (tm_inputs_prepare (inputs, task, &err), -1);
    cr_assert (strstr (err, gone) && strstr (err, "No such file"), "%s", err);
    zstr_free (&err);
    tm_task_destroy (&task);

    task = tm_task_new ("t", dir, TM_KIND_MANIFEST);
    tm_strv_push (&task->argv, "true");
    tm_strv_push (&task->inputs, "/dev/null");
    cr_assert_eq (tm_inputs_prepare (inputs, task, &err), -1);
    cr_assert (strstr (err, "not a regular file or a directory"), "%s", err);
    zstr_free (&err);
    tm_task_destroy (&task);
    tm_inputs_destroy (&inputs);
    tm_store_destroy (&store);
    tmu_rmrf (dir);
    free (dir);
    free (gone);
}
