/*  test_manifest.c - tm_manifest: parsing manifests and splitting words.

    Fixture manifests live in tests/fixtures and are copied to
    $TM_BUILD/fixtures by `make fixtures`; smaller cases are written to a
    scratch directory by each test.
*/
#include "tm_manifest.h"
#include "tm_testutil.h"

//  True if PATH is absolute and its last component is NAME.
static bool
s_is_absolute_program (const char *path, const char *name)
{
    const char *slash = strrchr (path, '/');
    return path [0] == '/' && slash && streq (slash + 1, name);
}

//  Writes TEXT as DIR/NAME and returns the path (static, rotating).
static const char *
s_manifest (const char *dir, const char *name, const char *text)
{
    static char paths [4][4096];
    static int next;
    char *path = paths [next++ % 4];
    snprintf (path, 4096, "%s/%s", dir, name);
    tmu_write (path, text);
    return path;
}

//  Loads PATH expecting failure, returns the error (caller frees).
static char *
s_load_error (const char *path)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    cr_assert_eq (tm_manifest_load (path, path, false, tasks, &err), -1,
                  "%s should not load", path);
    cr_assert_not_null (err);
    cr_assert_eq (tm_tasklist_size (tasks), 0);
    tm_tasklist_destroy (&tasks);
    return err;
}

//  Checks that loading fixture NAME fails with "PATH:LINE: ..." holding WHAT.
static void
s_expect_fixture_error (const char *name, int line, const char *what)
{
    const char *path = tmu_path ("fixtures/%s", name);
    char *err = s_load_error (path);
    char prefix [4200];
    snprintf (prefix, sizeof prefix, "%s:%d: ", path, line);
    cr_assert (strncmp (err, prefix, strlen (prefix)) == 0,
               "error '%s' should start with '%s'", err, prefix);
    cr_assert (strstr (err, what), "error '%s' should say '%s'", err, what);
    free (err);
}

static tm_task_t *
s_find (tm_tasklist_t *tasks, const char *id)
{
    for (size_t i = 0; i < tm_tasklist_size (tasks); i++)
        if (streq (tm_tasklist_get (tasks, i)->id, id))
            return tm_tasklist_get (tasks, i);
    cr_assert_fail ("no task '%s'", id);
    return NULL;
}

//  ---------------------------------------------------------------------
//  The fixture manifest

Test (manifest, fixture_loads_every_test_in_file_order)
{
    const char *path = tmu_path ("fixtures/manifest.ini");
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    cr_assert_eq (tm_manifest_load (path, path, false, tasks, &err), 0, "%s", err);
    cr_assert_eq (tm_tasklist_size (tasks), 6);
    const char *ids [] = { "shell/true", "shell/sort", "shell/fails",
                           "shell/env", "shell/cwd", "shell/timeout" };
    for (size_t i = 0; i < 6; i++) {
        tm_task_t *task = tm_tasklist_get (tasks, i);
        cr_assert_str_eq (task->id, ids [i]);
        cr_assert_str_eq (task->target, path);
        cr_assert_eq (task->kind, TM_KIND_MANIFEST);
        cr_assert_eq (task->index, i);
        cr_assert_null (task->skip_reason);
        cr_assert (task->expected < 0);
    }
    tm_tasklist_destroy (&tasks);
}

Test (manifest, fixture_bare_program_is_resolved_in_path_at_load)
{
    const char *path = tmu_path ("fixtures/manifest.ini");
    tm_tasklist_t *tasks = tm_tasklist_new ();
    cr_assert_eq (tm_manifest_load (path, path, false, tasks, NULL), 0);
    tm_task_t *task = s_find (tasks, "shell/true");
    cr_assert_eq (tm_strv_size (task->argv), 1);
    cr_assert (s_is_absolute_program (task->argv [0], "true"), "%s", task->argv [0]);
    cr_assert_eq (access (task->argv [0], X_OK), 0, "%s", task->argv [0]);
    tm_tasklist_destroy (&tasks);
}

Test (manifest, fixture_command_words_keep_their_quoting)
{
    const char *path = tmu_path ("fixtures/manifest.ini");
    tm_tasklist_t *tasks = tm_tasklist_new ();
    cr_assert_eq (tm_manifest_load (path, path, false, tasks, NULL), 0);
    tm_task_t *task = s_find (tasks, "shell/sort");
    cr_assert_eq (tm_strv_size (task->argv), 3);
    cr_assert (s_is_absolute_program (task->argv [0], "sh"), "%s", task->argv [0]);
    cr_assert_str_eq (task->argv [1], "-c");
    cr_assert_str_eq (task->argv [2], "printf \"b\\na\\n\" | sort | head -n 1 | grep -qx a");
    tm_tasklist_destroy (&tasks);
}

Test (manifest, fixture_default_cwd_is_the_manifest_directory)
{
    const char *path = tmu_path ("fixtures/manifest.ini");
    char *dir = realpath (tmu_path ("fixtures"), NULL);
    tm_tasklist_t *tasks = tm_tasklist_new ();
    cr_assert_eq (tm_manifest_load (path, path, false, tasks, NULL), 0);
    cr_assert_str_eq (s_find (tasks, "shell/true")->cwd, dir);
    char *data = tm_strdupf ("%s/data", dir);
    cr_assert_str_eq (s_find (tasks, "shell/cwd")->cwd, data);
    free (data);
    free (dir);
    tm_tasklist_destroy (&tasks);
}

Test (manifest, fixture_env_puts_defaults_before_the_test)
{
    const char *path = tmu_path ("fixtures/manifest.ini");
    tm_tasklist_t *tasks = tm_tasklist_new ();
    cr_assert_eq (tm_manifest_load (path, path, false, tasks, NULL), 0);
    tm_task_t *task = s_find (tasks, "shell/env");
    cr_assert_eq (tm_strv_size (task->env), 3);
    cr_assert_str_eq (task->env [0], "LANG=C");
    cr_assert_str_eq (task->env [1], "FIXTURE=manifest");
    cr_assert_str_eq (task->env [2], "EXTRA=two words");
    tm_tasklist_destroy (&tasks);
}

Test (manifest, fixture_shell_true_runs_command_with_bin_sh)
{
    const char *path = tmu_path ("fixtures/manifest.ini");
    tm_tasklist_t *tasks = tm_tasklist_new ();
    cr_assert_eq (tm_manifest_load (path, path, false, tasks, NULL), 0);
    tm_task_t *task = s_find (tasks, "shell/env");
    cr_assert_eq (tm_strv_size (task->argv), 3);
    cr_assert_str_eq (task->argv [0], "/bin/sh");
    cr_assert_str_eq (task->argv [1], "-c");
    cr_assert_str_eq (task->argv [2],
                      "test \"$FIXTURE\" = manifest && test \"$EXTRA\" = \"two words\"");
    tm_tasklist_destroy (&tasks);
}

Test (manifest, fixture_timeout_comes_from_defaults_unless_the_test_sets_it)
{
    const char *path = tmu_path ("fixtures/manifest.ini");
    tm_tasklist_t *tasks = tm_tasklist_new ();
    cr_assert_eq (tm_manifest_load (path, path, false, tasks, NULL), 0);
    cr_assert_float_eq (s_find (tasks, "shell/true")->timeout, 20.0, 1e-9);
    cr_assert_float_eq (s_find (tasks, "shell/timeout")->timeout, 2.5, 1e-9);
    tm_tasklist_destroy (&tasks);
}

Test (manifest, fixture_inputs_are_globbed_to_sorted_absolute_paths)
{
    const char *path = tmu_path ("fixtures/manifest.ini");
    char *dir = realpath (tmu_path ("fixtures"), NULL);
    tm_tasklist_t *tasks = tm_tasklist_new ();
    cr_assert_eq (tm_manifest_load (path, path, false, tasks, NULL), 0);
    tm_task_t *task = s_find (tasks, "shell/sort");
    cr_assert_eq (tm_strv_size (task->inputs), 2);
    char *numbers = tm_strdupf ("%s/data/numbers.txt", dir);
    char *words = tm_strdupf ("%s/data/words.txt", dir);
    cr_assert_str_eq (task->inputs [0], numbers);
    cr_assert_str_eq (task->inputs [1], words);
    free (numbers);
    free (words);
    free (dir);
    tm_tasklist_destroy (&tasks);
}

Test (manifest, fixture_labels_and_requires_are_kept_apart)
{
    const char *path = tmu_path ("fixtures/manifest.ini");
    tm_tasklist_t *tasks = tm_tasklist_new ();
    cr_assert_eq (tm_manifest_load (path, path, false, tasks, NULL), 0);
    tm_task_t *sort = s_find (tasks, "shell/sort");
    cr_assert_eq (tm_strv_size (sort->labels), 2);
    cr_assert_str_eq (sort->labels [0], "fast");
    cr_assert_str_eq (sort->labels [1], "shell");
    cr_assert_eq (tm_strv_size (sort->requires), 0);
    tm_task_t *cwd = s_find (tasks, "shell/cwd");
    cr_assert_eq (tm_strv_size (cwd->labels), 0);
    cr_assert_eq (tm_strv_size (cwd->requires), 1);
    cr_assert_str_eq (cwd->requires [0], "os=linux");
    tm_tasklist_destroy (&tasks);
}

Test (manifest, fixture_history_key_is_realpath_and_unprefixed_name)
{
    const char *path = tmu_path ("fixtures/manifest.ini");
    char *real = realpath (path, NULL);
    tm_tasklist_t *tasks = tm_tasklist_new ();
    cr_assert_eq (tm_manifest_load (path, "tools", true, tasks, NULL), 0);
    tm_task_t *task = tm_tasklist_get (tasks, 0);
    cr_assert_str_eq (task->id, "tools:shell/true");
    cr_assert_str_eq (task->target, "tools");
    char *key = tm_strdupf ("%s\x1f" "shell/true", real);
    cr_assert_str_eq (task->history_key, key);
    free (key);
    free (real);
    tm_tasklist_destroy (&tasks);
}

Test (manifest, blank_first_line_parses)
{
    //  Line 1 is "\n", shorter than the BOM it is compared with: under
    //  ASan this read past the end of the line (heap-buffer-overflow).
    const char *path = tmu_path ("fixtures/blank_first_line.ini");
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    cr_assert_eq (tm_manifest_load (path, path, false, tasks, &err), 0, "%s", err);
    cr_assert_eq (tm_tasklist_size (tasks), 1);
    cr_assert_str_eq (tm_tasklist_get (tasks, 0)->id, "blank/first");
    tm_tasklist_destroy (&tasks);
}

//  ---------------------------------------------------------------------
//  Errors in the fixture manifests, each with its line

Test (manifest, unterminated_quote_reports_file_and_line)
{
    s_expect_fixture_error ("bad_unterminated.ini", 4, "unterminated single quote");
}

Test (manifest, unknown_key_reports_file_and_line)
{
    s_expect_fixture_error ("bad_unknown_key.ini", 3, "unknown key 'colour'");
}

Test (manifest, test_without_command_reports_its_section_line)
{
    s_expect_fixture_error ("bad_no_command.ini", 7, "test 'no/command' has no command");
}

Test (manifest, unknown_section_reports_file_and_line)
{
    s_expect_fixture_error ("bad_unknown_section.ini", 3, "unknown section [tests \"typo\"]");
}

Test (manifest, duplicate_test_name_reports_second_definition)
{
    s_expect_fixture_error ("bad_duplicate.ini", 4,
                            "duplicate test 'twice' (first defined on line 1)");
}

Test (manifest, negative_timeout_reports_file_and_line)
{
    s_expect_fixture_error ("bad_timeout.ini", 3, "bad timeout '-3'");
}

Test (manifest, line_without_equals_reports_file_and_line)
{
    s_expect_fixture_error ("bad_syntax.ini", 3, "cannot parse line");
}

Test (manifest, input_glob_matching_nothing_reports_file_and_line)
{
    s_expect_fixture_error ("bad_input.ini", 3, "input 'data/*.nothing' matches no file");
}

//  ---------------------------------------------------------------------
//  Smaller cases in a scratch directory

Test (manifest, missing_file_reports_no_such_file)
{
    char *dir = tmu_scratch ();
    char *path = tm_strdupf ("%s/absent.ini", dir);
    char *err = s_load_error (path);
    char *expected = tm_strdupf ("%s: No such file or directory", path);
    cr_assert_str_eq (err, expected);
    free (expected);
    free (err);
    free (path);
    tmu_rmrf (dir);
    free (dir);
}

Test (manifest, directory_is_not_a_manifest)
{
    char *dir = tmu_scratch ();
    char *err = s_load_error (dir);
    char *expected = tm_strdupf ("%s: Is a directory", dir);
    cr_assert_str_eq (err, expected);
    free (expected);
    free (err);
    tmu_rmrf (dir);
    free (dir);
}

Test (manifest, empty_file_has_no_tests_and_is_no_error)
{
    char *dir = tmu_scratch ();
    const char *path = s_manifest (dir, "empty.ini", "");
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    cr_assert_eq (tm_manifest_load (path, path, false, tasks, &err), 0, "%s", err);
    cr_assert_eq (tm_tasklist_size (tasks), 0);
    path = s_manifest (dir, "comments.ini", "# nothing\n; here\n\n[defaults]\ntimeout = 3\n");
    cr_assert_eq (tm_manifest_load (path, path, false, tasks, &err), 0, "%s", err);
    cr_assert_eq (tm_tasklist_size (tasks), 0);
    tm_tasklist_destroy (&tasks);
    tmu_rmrf (dir);
    free (dir);
}

Test (manifest, error_leaves_existing_tasks_unaltered)
{
    char *dir = tmu_scratch ();
    const char *path = s_manifest (dir, "m.ini",
        "[test \"a\"]\ncommand = true\n[test \"b\"]\ncommand = 'oops\n");
    tm_tasklist_t *tasks = tm_tasklist_new ();
    tm_task_t *task = tm_task_new ("earlier", "x", TM_KIND_CRITERION);
    tm_tasklist_append (tasks, &task);
    char *err = NULL;
    cr_assert_eq (tm_manifest_load (path, path, false, tasks, &err), -1);
    cr_assert_eq (tm_tasklist_size (tasks), 1);
    cr_assert_str_eq (tm_tasklist_get (tasks, 0)->id, "earlier");
    free (err);
    tm_tasklist_destroy (&tasks);
    tmu_rmrf (dir);
    free (dir);
}

Test (manifest, relative_program_with_slash_resolves_against_manifest_dir)
{
    char *dir = tmu_scratch ();
    char *sub = tm_strdupf ("%s/sub", dir);
    cr_assert_eq (mkdir (sub, 0755), 0);
    const char *path = s_manifest (sub, "m.ini",
        "[test \"a\"]\ncommand = ./bin/tool --flag\n"
        "[test \"b\"]\ncommand = ../tool\n"
        "[test \"c\"]\ncommand = /usr/bin/env true\n");
    char *real = realpath (sub, NULL);
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    cr_assert_eq (tm_manifest_load (path, path, false, tasks, &err), 0, "%s", err);
    char *a = tm_strdupf ("%s/bin/tool", real);
    char *b = tm_strdupf ("%s/../tool", real);
    cr_assert_str_eq (tm_tasklist_get (tasks, 0)->argv [0], a);
    cr_assert_str_eq (tm_tasklist_get (tasks, 0)->argv [1], "--flag");
    cr_assert_str_eq (tm_tasklist_get (tasks, 1)->argv [0], b);
    cr_assert_str_eq (tm_tasklist_get (tasks, 2)->argv [0], "/usr/bin/env");
    free (a);
    free (b);
    free (real);
    free (sub);
    tm_tasklist_destroy (&tasks);
    tmu_rmrf (dir);
    free (dir);
}

Test (manifest, utf8_bom_and_short_first_lines_are_accepted)
{
    char *dir = tmu_scratch ();
    const char *texts [] = {
        "\xEF\xBB\xBF[test \"a\"]\ncommand = true\n",       //  BOM, then a header
        "#\n[test \"a\"]\ncommand = true\n",                  //  1 byte and "\n"
        "\xEF\xBB\n[test \"a\"]\ncommand = true\n",          //  2 bytes of a BOM
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts [0]; i++) {
        const char *path = s_manifest (dir, "m.ini", texts [i]);
        tm_tasklist_t *tasks = tm_tasklist_new ();
        char *err = NULL;
        int rc = tm_manifest_load (path, path, false, tasks, &err);
        if (i < 2) {
            cr_assert_eq (rc, 0, "text %zu: %s", i, err);
            cr_assert_str_eq (tm_tasklist_get (tasks, 0)->id, "a");
        }
        else {
            //  Half a BOM is not one: a line inih cannot parse
            cr_assert_eq (rc, -1, "text %zu", i);
            cr_assert (strstr (err, ":1: cannot parse line"), "%s", err);
            free (err);
        }
        tm_tasklist_destroy (&tasks);
    }
    tmu_rmrf (dir);
    free (dir);
}

//  Seconds of CPU this process has used.
static double
s_cpu_seconds (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

//  A complexity guard, not a benchmark.  Duplicate names were once found
//  by a linear scan, which made loading quadratic: 50,000 tests took 7 s
//  of CPU (100,000 took 29 s).  Measured on a 2-core machine, the load
//  now takes 0.1 s of CPU, 0.35 s under ASan; 2 s leaves room for a slow
//  machine and still catches anything quadratic.  It is CPU time, not
//  wall time, so that a machine busy with other work does not fail it.
Test (manifest, fifty_thousand_tests_load_in_linear_time, .timeout = 60)
{
    char *dir = tmu_scratch ();
    char *path = tm_strdupf ("%s/big.ini", dir);
    FILE *file = fopen (path, "w");
    cr_assert_not_null (file);
    fprintf (file, "[defaults]\ntimeout = 5\n");
    for (int i = 0; i < 50000; i++)
        fprintf (file, "[test \"suite%d/test%d\"]\ncommand = true --case %d\n\n",
                 i % 97, i, i);
    fclose (file);
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    double start = s_cpu_seconds (), wall = tmu_now ();
    cr_assert_eq (tm_manifest_load (path, path, false, tasks, &err), 0, "%s", err);
    double seconds = s_cpu_seconds () - start;
    wall = tmu_now () - wall;
    cr_assert_eq (tm_tasklist_size (tasks), 50000);
    cr_assert_str_eq (tm_tasklist_get (tasks, 49999)->id, "suite44/test49999");
    cr_assert_lt (seconds, 2.0, "50,000 tests took %.2f s of CPU (%.2f s in all) to load",
                  seconds, wall);
    tm_tasklist_destroy (&tasks);

    //  And the duplicate check still works at that size
    file = fopen (path, "a");
    fprintf (file, "[test \"suite0/test0\"]\ncommand = true\n");
    fclose (file);
    char *err2 = s_load_error (path);
    cr_assert (strstr (err2, ":150003: duplicate test 'suite0/test0' (first defined on "
                             "line 3)"), "%s", err2);
    free (err2);
    free (path);
    tmu_rmrf (dir);
    free (dir);
}

//  Makes DIR/SUB/NAME with MODE (a directory if MODE has S_IFDIR).
static void
s_make_file (const char *dir, const char *sub, const char *name, mode_t mode)
{
    char path [4200];
    snprintf (path, sizeof path, "%s/%s", dir, sub);
    mkdir (path, 0755);
    snprintf (path, sizeof path, "%s/%s/%s", dir, sub, name);
    if (S_ISDIR (mode))
        cr_assert_eq (mkdir (path, mode & 07777), 0, "%s", path);
    else {
        tmu_write (path, "#!/bin/sh\nexit 0\n");
        cr_assert_eq (chmod (path, mode & 07777), 0, "%s", path);
    }
}

Test (manifest, bare_program_is_the_first_executable_file_in_path)
{
    //  Each worker is a process of its own: setting PATH is local to it.
    char *dir = tmu_scratch ();
    s_make_file (dir, "a", "tool", S_IFDIR | 0755);         //  Not a file
    s_make_file (dir, "b", "tool", S_IFREG | 0644);         //  Not executable
    s_make_file (dir, "c", "tool", S_IFREG | 0755);         //  This one
    s_make_file (dir, "d", "tool", S_IFREG | 0755);         //  Too late
    char *saved = strdup (getenv ("PATH"));
    char *path_env = tm_strdupf ("/no/such/dir:%s/a:%s/b:%s/c:%s/d", dir, dir, dir, dir);
    setenv ("PATH", path_env, 1);
    const char *path = s_manifest (dir, "m.ini",
        "[test \"found\"]\ncommand = tool --flag\n"
        "[test \"missing\"]\ncommand = no-such-tool-anywhere x\n"
        "[test \"shell\"]\nshell = true\ncommand = tool\n");
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    cr_assert_eq (tm_manifest_load (path, path, false, tasks, &err), 0, "%s", err);
    char *expected = tm_strdupf ("%s/c/tool", dir);
    tm_task_t *found = s_find (tasks, "found");
    cr_assert_str_eq (found->argv [0], expected);
    cr_assert_str_eq (found->argv [1], "--flag");
    //  Not found: left bare, so the spawn says "cannot execute NAME"
    cr_assert_str_eq (s_find (tasks, "missing")->argv [0], "no-such-tool-anywhere");
    //  shell = true: /bin/sh -c with the command untouched
    tm_task_t *shell = s_find (tasks, "shell");
    cr_assert_str_eq (shell->argv [0], "/bin/sh");
    cr_assert_str_eq (shell->argv [2], "tool");
    free (expected);
    tm_tasklist_destroy (&tasks);
    free (path_env);
    setenv ("PATH", saved, 1);  //  tmu_rmrf runs rm
    free (saved);
    tmu_rmrf (dir);
    free (dir);
}

Test (manifest, relative_path_entries_are_taken_from_the_test_cwd)
{
    //  The child changes to its cwd before exec, so that is where
    //  execvp would look for "bin/tool", and for "tool" given an empty entry.
    char *dir = tmu_scratch ();
    char *real = realpath (dir, NULL);
    s_make_file (dir, "work", "other", S_IFREG | 0755);
    s_make_file (dir, "work/bin", "tool", S_IFREG | 0755);
    char *saved = strdup (getenv ("PATH"));
    setenv ("PATH", "/no/such/dir:bin::", 1);
    const char *path = s_manifest (dir, "m.ini",
        "[defaults]\ncwd = work\n"
        "[test \"a\"]\ncommand = tool\n"
        "[test \"b\"]\ncommand = other\n");
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    cr_assert_eq (tm_manifest_load (path, path, false, tasks, &err), 0, "%s", err);
    char *a = tm_strdupf ("%s/work/bin/tool", real);
    char *b = tm_strdupf ("%s/work/other", real);
    cr_assert_str_eq (s_find (tasks, "a")->argv [0], a);
    cr_assert_str_eq (s_find (tasks, "b")->argv [0], b);
    free (a);
    free (b);
    free (real);
    tm_tasklist_destroy (&tasks);
    setenv ("PATH", saved, 1);  //  tmu_rmrf runs rm
    free (saved);
    tmu_rmrf (dir);
    free (dir);
}

Test (manifest, defaults_after_the_tests_still_apply)
{
    char *dir = tmu_scratch ();
    const char *path = s_manifest (dir, "m.ini",
        "[test \"a\"]\ncommand = true\n\n[defaults]\ntimeout = 9\ncwd = /tmp\n"
        "env = A=1\nshell = yes\n");
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    cr_assert_eq (tm_manifest_load (path, path, false, tasks, &err), 0, "%s", err);
    tm_task_t *task = tm_tasklist_get (tasks, 0);
    cr_assert_float_eq (task->timeout, 9.0, 1e-9);
    cr_assert_str_eq (task->cwd, "/tmp");
    cr_assert_str_eq (task->env [0], "A=1");
    cr_assert_str_eq (task->argv [0], "/bin/sh");
    tm_tasklist_destroy (&tasks);
    tmu_rmrf (dir);
    free (dir);
}

Test (manifest, test_shell_false_overrides_defaults_shell_true)
{
    char *dir = tmu_scratch ();
    const char *path = s_manifest (dir, "m.ini",
        "[defaults]\nshell = true\n[test \"a\"]\nshell = false\ncommand = echo hi\n");
    tm_tasklist_t *tasks = tm_tasklist_new ();
    cr_assert_eq (tm_manifest_load (path, path, false, tasks, NULL), 0);
    const char *program = tm_tasklist_get (tasks, 0)->argv [0];
    cr_assert (s_is_absolute_program (program, "echo"), "%s", program);
    tm_tasklist_destroy (&tasks);
    tmu_rmrf (dir);
    free (dir);
}

Test (manifest, semicolon_in_a_command_is_not_a_comment)
{
    char *dir = tmu_scratch ();
    const char *path = s_manifest (dir, "m.ini",
        "; a comment line\n# another\n[test \"a\"]\ncommand = sh -c 'true ; true'\n");
    tm_tasklist_t *tasks = tm_tasklist_new ();
    cr_assert_eq (tm_manifest_load (path, path, false, tasks, NULL), 0);
    cr_assert_str_eq (tm_tasklist_get (tasks, 0)->argv [2], "true ; true");
    tm_tasklist_destroy (&tasks);
    tmu_rmrf (dir);
    free (dir);
}

Test (manifest, long_test_names_and_long_lines_are_kept_whole)
{
    char *dir = tmu_scratch ();
    char name [201];
    memset (name, 'n', 200);
    name [200] = 0;
    char *arg = (char *) malloc (20001);
    memset (arg, 'a', 20000);
    arg [20000] = 0;
    char *text = tm_strdupf ("[test \"%s\"]\ncommand = echo %s\n", name, arg);
    const char *path = s_manifest (dir, "m.ini", text);
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    cr_assert_eq (tm_manifest_load (path, path, false, tasks, &err), 0, "%s", err);
    cr_assert_str_eq (tm_tasklist_get (tasks, 0)->id, name);
    cr_assert_str_eq (tm_tasklist_get (tasks, 0)->argv [1], arg);
    tm_tasklist_destroy (&tasks);
    free (text);
    free (arg);
    tmu_rmrf (dir);
    free (dir);
}

Test (manifest, line_over_64_kib_reports_file_and_line)
{
    char *dir = tmu_scratch ();
    char *arg = (char *) malloc (70001);
    memset (arg, 'a', 70000);
    arg [70000] = 0;
    char *text = tm_strdupf ("[test \"a\"]\ncommand = echo %s\n", arg);
    const char *path = s_manifest (dir, "m.ini", text);
    char *err = s_load_error (path);
    cr_assert (strstr (err, ":2: line longer than"), "%s", err);
    free (err);
    free (text);
    free (arg);
    tmu_rmrf (dir);
    free (dir);
}

Test (manifest, crlf_line_endings_are_accepted)
{
    char *dir = tmu_scratch ();
    const char *path = s_manifest (dir, "m.ini",
        "[test \"a\"]\r\ncommand = echo hi\r\ntimeout = 2\r\n");
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    cr_assert_eq (tm_manifest_load (path, path, false, tasks, &err), 0, "%s", err);
    tm_task_t *task = tm_tasklist_get (tasks, 0);
    cr_assert_str_eq (task->argv [1], "hi");
    cr_assert_float_eq (task->timeout, 2.0, 1e-9);
    tm_tasklist_destroy (&tasks);
    tmu_rmrf (dir);
    free (dir);
}

Test (manifest, empty_last_section_reports_missing_command)
{
    char *dir = tmu_scratch ();
    const char *path = s_manifest (dir, "m.ini",
        "[test \"a\"]\ncommand = true\n\n[test \"empty\"]\n");
    char *err = s_load_error (path);
    cr_assert (strstr (err, ":4: test 'empty' has no command"), "%s", err);
    free (err);
    tmu_rmrf (dir);
    free (dir);
}

//  Loads TEXT from a scratch manifest and checks the error has ":LINE: WHAT".
static void
s_expect_error (const char *text, int line, const char *what)
{
    char *dir = tmu_scratch ();
    const char *path = s_manifest (dir, "m.ini", text);
    char *err = s_load_error (path);
    char *expected = tm_strdupf ("%s:%d: %s", path, line, what);
    cr_assert (strncmp (err, expected, strlen (expected)) == 0,
               "error '%s' should start with '%s'", err, expected);
    free (expected);
    free (err);
    tmu_rmrf (dir);
    free (dir);
}

Test (manifest, key_before_any_section_is_an_error)
{
    s_expect_error ("# top\ncommand = true\n", 2, "key 'command' outside any section");
}

Test (manifest, key_set_twice_is_an_error)
{
    s_expect_error ("[test \"a\"]\ncommand = true\ntimeout = 1\ncommand = false\n", 4,
                    "duplicate key 'command' (first set on line 2)");
}

Test (manifest, second_defaults_section_is_an_error)
{
    s_expect_error ("[defaults]\ntimeout = 1\n[defaults]\n", 3, "duplicate [defaults]");
}

Test (manifest, test_only_key_in_defaults_is_an_error)
{
    s_expect_error ("[defaults]\ncommand = true\n", 2, "unknown key 'command' in [defaults]");
}

Test (manifest, test_section_without_quotes_is_an_error)
{
    s_expect_error ("[test a]\ncommand = true\n", 1, "bad section header [test a]");
}

Test (manifest, empty_test_name_is_an_error)
{
    s_expect_error ("[test \"\"]\ncommand = true\n", 1, "empty test name");
}

Test (manifest, section_without_closing_bracket_is_an_error)
{
    s_expect_error ("[test \"a\"\ncommand = true\n", 1, "section header without ']'");
}

Test (manifest, non_numeric_timeout_is_an_error)
{
    s_expect_error ("[test \"a\"]\ncommand = true\ntimeout = soon\n", 3, "bad timeout 'soon'");
    s_expect_error ("[test \"a\"]\ncommand = true\ntimeout = 0\n", 3, "bad timeout '0'");
}

Test (manifest, timeout_over_a_billion_seconds_is_an_error)
{
    //  The same bound as --timeout (TM_TIMEOUT_MAX)
    s_expect_error ("[test \"a\"]\ncommand = true\ntimeout = 1000000001\n", 3,
                    "timeout must be at most 1000000000 seconds");
    s_expect_error ("[defaults]\ntimeout = 1e300\n", 2,
                    "timeout must be at most 1000000000 seconds");
    char *dir = tmu_scratch ();
    const char *path = s_manifest (dir, "m.ini",
        "[test \"a\"]\ncommand = true\ntimeout = 1e9\n");
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    cr_assert_eq (tm_manifest_load (path, path, false, tasks, &err), 0, "%s", err);
    cr_assert_float_eq (tm_tasklist_get (tasks, 0)->timeout, 1e9, 1e-3);
    tm_tasklist_destroy (&tasks);
    tmu_rmrf (dir);
    free (dir);
}

Test (manifest, env_word_without_equals_is_an_error)
{
    s_expect_error ("[test \"a\"]\ncommand = true\nenv = A=1 oops\n", 3,
                    "env: 'oops' is not NAME=VALUE");
    s_expect_error ("[defaults]\nenv = 1A=x\n", 2, "env: '1A=x' is not NAME=VALUE");
}

Test (manifest, shell_value_must_be_boolean)
{
    s_expect_error ("[test \"a\"]\ncommand = true\nshell = maybe\n", 3,
                    "bad shell value 'maybe'");
}

Test (manifest, unterminated_quote_in_env_reports_its_line)
{
    s_expect_error ("[test \"a\"]\ncommand = true\nenv = A=\"x\n", 3,
                    "env: unterminated double quote");
}

Test (manifest, unterminated_command_quote_reports_command_line_not_section)
{
    s_expect_error ("[test \"a\"]\n\n\ncommand = echo \"x\ntimeout = 1\n", 4,
                    "command: unterminated double quote");
}

Test (manifest, empty_command_is_an_error)
{
    s_expect_error ("[test \"a\"]\ncommand =\n", 2, "empty command");
    s_expect_error ("[test \"a\"]\ncommand = ''\n", 2, "command: empty program name");
}

//  ---------------------------------------------------------------------
//  tm_manifest_split_words

//  Splits LINE and checks the words against the NULL-terminated EXPECTED.
static void
s_expect_words (const char *line, const char *const expected [])
{
    char *err = NULL;
    char **words = tm_manifest_split_words (line, &err);
    cr_assert_not_null (words, "'%s': %s", line, err);
    size_t count = 0;
    while (expected [count])
        count++;
    cr_assert_eq (tm_strv_size (words), count, "'%s' gives %zu words, not %zu",
                  line, tm_strv_size (words), count);
    for (size_t i = 0; i < count; i++)
        cr_assert_str_eq (words [i], expected [i], "'%s' word %zu", line, i);
    tm_strv_free (&words);
}

static void
s_expect_split_error (const char *line, const char *what)
{
    char *err = NULL;
    cr_assert_null (tm_manifest_split_words (line, &err), "'%s' should not split", line);
    cr_assert_str_eq (err, what);
    free (err);
}

Test (split_words, blanks_separate_words_and_collapse)
{
    s_expect_words ("  a  b\tc \n d ", (const char *[]) { "a", "b", "c", "d", NULL });
}

Test (split_words, empty_or_blank_line_gives_no_words)
{
    s_expect_words ("", (const char *[]) { NULL });
    s_expect_words (" \t ", (const char *[]) { NULL });
}

Test (split_words, single_quotes_keep_everything_literal)
{
    s_expect_words ("'a b' 'c\\d' '$x \"y\"'",
                    (const char *[]) { "a b", "c\\d", "$x \"y\"", NULL });
}

Test (split_words, double_quotes_escape_only_backslash_quote_dollar_backtick)
{
    s_expect_words ("\"a \\\" \\\\ \\$ \\` \\n b\"",
                    (const char *[]) { "a \" \\ $ ` \\n b", NULL });
}

Test (split_words, backslash_outside_quotes_escapes_next_character)
{
    s_expect_words ("a\\ b c\\'d \\\\", (const char *[]) { "a b", "c'd", "\\", NULL });
}

Test (split_words, empty_quotes_make_an_empty_word)
{
    s_expect_words ("a '' \"\" b", (const char *[]) { "a", "", "", "b", NULL });
}

Test (split_words, adjacent_quoted_parts_join_into_one_word)
{
    s_expect_words ("pre'mid dle'\"post\"fix", (const char *[]) { "premid dlepostfix", NULL });
}

Test (split_words, no_expansion_of_variables_globs_or_tilde)
{
    s_expect_words ("$HOME * ~ #x", (const char *[]) { "$HOME", "*", "~", "#x", NULL });
}

Test (split_words, backslash_newline_continues_the_line)
{
    s_expect_words ("a\\\nb \"c\\\nd\"", (const char *[]) { "ab", "cd", NULL });
}

Test (split_words, unterminated_quotes_are_errors)
{
    s_expect_split_error ("echo 'abc", "unterminated single quote");
    s_expect_split_error ("echo \"abc", "unterminated double quote");
    s_expect_split_error ("echo \"abc\\\"", "unterminated double quote");
}

Test (split_words, trailing_backslash_is_an_error)
{
    s_expect_split_error ("echo \\", "backslash at end of line");
}
