/*  test_cachekey.c - a test's cache keys (tm_cachekey): every component
    changes K, what is not a component does not, each file is hashed once
    per run, a traced file is seen again, explain names what changed.
*/
#include "tm_testutil.h"
#include "tm_cachekey.h"
#include "tm_store.h"

static char *s_dir;

static void
s_setup (void)
{
    s_dir = tmu_scratch ();
}

static void
s_teardown (void)
{
    tmu_rmrf (s_dir);
    free (s_dir);
}

TestSuite (cachekey, .init = s_setup, .fini = s_teardown);

static const char *
s_path (const char *name)
{
    static char bufs [8][4096];
    static int next;
    char *buf = bufs [next++ % 8];
    snprintf (buf, 4096, "%s/%s", s_dir, name);
    return buf;
}

//  A task running s_dir/prog with ARG, input data/ and in.txt.
static tm_task_t *
s_task (void)
{
    tm_task_t *task = tm_task_new ("suite/one", s_path ("prog"), TM_KIND_MANIFEST);
    task->history_key = tm_strdupf ("%s\x1fsuite/one", s_path ("prog"));
    tm_strv_push (&task->argv, s_path ("prog"));
    tm_strv_push (&task->argv, "--fast");
    tm_strv_push (&task->inputs, s_path ("in.txt"));
    tm_strv_push (&task->inputs, s_path ("data"));
    tm_strv_push (&task->env, "MY_VAR=one");
    task->cwd = strdup (s_dir);
    return task;
}

static void
s_files (void)
{
    tmu_write (s_path ("prog"), "#!/bin/sh\nexit 0\n");
    tmu_write (s_path ("in.txt"), "input\n");
    cr_assert_eq (mkdir (s_path ("data"), 0700), 0);
    cr_assert_eq (mkdir (s_path ("data/sub"), 0700), 0);
    tmu_write (s_path ("data/a.txt"), "a\n");
    tmu_write (s_path ("data/sub/b.txt"), "b\n");
}

//  K of TASK's declared components with a fresh deriver (a new run);
//  the components into *LIST_P/*COUNT_P if asked for.
static void
s_key (const tm_task_t *task, char hex [TM_CACHE_HEX],
       tm_component_t **list_p, size_t *count_p)
{
    tm_cachekey_t *keys = tm_cachekey_new ();
    tm_component_t *list = NULL;
    size_t count = 0;
    char *err = NULL;
    cr_assert_eq (tm_cachekey_declared (keys, task, &list, &count, &err), 0, "%s", err);
    tm_cachekey_digest (list, count, hex);
    if (list_p) {
        *list_p = list;
        *count_p = count;
    }
    else
        tm_components_free (&list, count);
    tm_cachekey_destroy (&keys);
}

//  Asserts that CHANGE (applied between two derivations) changes K and
//  that explain names exactly NAME: "NAME changed\n".
static void
s_changes (const char *name, void (*change) (tm_task_t *task))
{
    tm_task_t *task = s_task ();
    tm_component_t *before = NULL, *after = NULL;
    size_t n_before = 0, n_after = 0;
    char k1 [TM_CACHE_HEX], k2 [TM_CACHE_HEX];
    s_key (task, k1, &before, &n_before);
    change (task);
    s_key (task, k2, &after, &n_after);
    cr_assert_str_neq (k1, k2, "K did not change for %s", name);
    char *why = tm_cachekey_explain (before, n_before, after, n_after);
    char *expected = tm_strdupf ("%s changed\n", name);
    cr_assert_not_null (why);
    cr_assert_str_eq (why, expected);
    free (expected);
    free (why);
    tm_components_free (&before, n_before);
    tm_components_free (&after, n_after);
    tm_task_destroy (&task);
}

//  Asserts that CHANGE leaves K as it was.
static void
s_same (void (*change) (tm_task_t *task))
{
    tm_task_t *task = s_task ();
    char k1 [TM_CACHE_HEX], k2 [TM_CACHE_HEX];
    s_key (task, k1, NULL, NULL);
    change (task);
    s_key (task, k2, NULL, NULL);
    cr_assert_str_eq (k1, k2);
    tm_task_destroy (&task);
}

Test (cachekey, declared_components_are_sorted_and_complete)
{
    s_files ();
    tm_task_t *task = s_task ();
    tm_component_t *list = NULL;
    size_t count = 0;
    char hex [TM_CACHE_HEX];
    s_key (task, hex, &list, &count);
    const char *expected [] = { "argv", "env:HOME", "env:LANG", "env:LC_ALL",
        "env:LD_LIBRARY_PATH", "env:LD_PRELOAD", "env:MY_VAR", "env:PATH", "env:TMPDIR",
        "env:TZ", NULL, NULL, "platform", "program" };
    char in_txt [4096], data [4096];
    snprintf (in_txt, sizeof in_txt, "input:%s", s_path ("in.txt"));
    snprintf (data, sizeof data, "input:%s", s_path ("data"));
    //  The two inputs sort between env:TZ and platform ("/" < "p")
    expected [10] = data;
    expected [11] = in_txt;
    cr_assert_eq (count, 14);
    for (size_t i = 0; i < count; i++)
        cr_assert_str_eq (list [i].name, expected [i]);
    tm_components_free (&list, count);
    cr_assert_null (list);
    tm_task_destroy (&task);
}

static void s_change_program (tm_task_t *task)
{
    tmu_write (s_path ("prog"), "#!/bin/sh\nexit 1\n");
}

static void s_change_argv (tm_task_t *task)
{
    tm_strv_push (&task->argv, "--verbose");
}

static void s_change_input (tm_task_t *task)
{
    tmu_write (s_path ("in.txt"), "input, changed\n");
}

static void s_change_input_below (tm_task_t *task)
{
    tmu_write (s_path ("data/sub/b.txt"), "b, changed\n");
}

static void s_change_input_added (tm_task_t *task)
{
    tmu_write (s_path ("data/sub/c.txt"), "c\n");
}

static void s_change_tz (tm_task_t *task)
{
    const char *tz = getenv ("TZ");
    setenv ("TZ", tz && streq (tz, "UTC") ? "Europe/Paris" : "UTC", 1);
}

static void s_change_task_env (tm_task_t *task)
{
    tm_strv_free (&task->env);
    tm_strv_push (&task->env, "MY_VAR=two");
}

static void s_task_overrides (tm_task_t *task)
{
    //  The task sets TZ: ours no longer counts, its own does
    tm_strv_push (&task->env, "TZ=Asia/Tokyo");
}

static void s_touch (tm_task_t *task)
{
    struct timespec times [2] = { { 0, UTIME_NOW }, { 12345, 0 } };
    cr_assert_eq (utimensat (AT_FDCWD, s_path ("in.txt"), times, 0), 0);
    cr_assert_eq (utimensat (AT_FDCWD, s_path ("prog"), times, 0), 0);
    cr_assert_eq (utimensat (AT_FDCWD, s_path ("data/a.txt"), times, 0), 0);
}

static void s_unrelated_env (tm_task_t *task)
{
    setenv ("TESTMESH_UNRELATED_VARIABLE", "yes", 1);
}

static void s_reorder_inputs (tm_task_t *task)
{
    char *first = task->inputs [0];
    task->inputs [0] = task->inputs [1];
    task->inputs [1] = first;
}

Test (cachekey, program_content_changes_the_key)
{
    s_files ();
    s_changes ("program", s_change_program);
}

Test (cachekey, an_argument_changes_the_key)
{
    s_files ();
    s_changes ("argv", s_change_argv);
}

Test (cachekey, an_input_file_content_changes_the_key)
{
    s_files ();
    char name [4200];
    snprintf (name, sizeof name, "input:%s", s_path ("in.txt"));
    s_changes (name, s_change_input);
}

Test (cachekey, a_file_below_an_input_directory_changes_the_key)
{
    s_files ();
    char name [4200];
    snprintf (name, sizeof name, "input:%s", s_path ("data"));
    s_changes (name, s_change_input_below);
    s_changes (name, s_change_input_added);
}

Test (cachekey, a_variable_of_the_default_set_changes_the_key)
{
    s_files ();
    s_changes ("env:TZ", s_change_tz);
}

Test (cachekey, a_variable_the_task_sets_changes_the_key)
{
    s_files ();
    s_changes ("env:MY_VAR", s_change_task_env);
}

Test (cachekey, the_task_value_of_a_variable_is_the_one_that_counts)
{
    s_files ();
    setenv ("TZ", "UTC", 1);
    s_changes ("env:TZ", s_task_overrides);
    //  With the task setting it, our own value no longer matters
    tm_task_t *task = s_task ();
    tm_strv_push (&task->env, "TZ=Asia/Tokyo");
    char k1 [TM_CACHE_HEX], k2 [TM_CACHE_HEX];
    s_key (task, k1, NULL, NULL);
    setenv ("TZ", "Europe/Paris", 1);
    s_key (task, k2, NULL, NULL);
    cr_assert_str_eq (k1, k2);
    tm_task_destroy (&task);
}

Test (cachekey, touching_files_does_not_change_the_key)
{
    s_files ();
    s_same (s_touch);
}

Test (cachekey, a_variable_outside_the_set_does_not_change_the_key)
{
    s_files ();
    s_same (s_unrelated_env);
}

Test (cachekey, the_order_of_inputs_does_not_change_the_key)
{
    s_files ();
    s_same (s_reorder_inputs);
}

Test (cachekey, a_missing_input_has_the_absent_digest)
{
    s_files ();
    tm_task_t *task = s_task ();
    tm_strv_push (&task->inputs, s_path ("nothing-here"));
    tm_cachekey_t *keys = tm_cachekey_new ();
    tm_component_t *list = NULL;
    size_t count = 0;
    cr_assert_eq (tm_cachekey_declared (keys, task, &list, &count, NULL), 0);
    char absent [TM_CACHE_HEX];
    tm_store_digest (TM_CACHEKEY_ABSENT, strlen (TM_CACHEKEY_ABSENT), absent);
    char name [4200];
    snprintf (name, sizeof name, "input:%s", s_path ("nothing-here"));
    bool found = false;
    for (size_t i = 0; i < count; i++)
        if (streq (list [i].name, name)) {
            cr_assert_str_eq (list [i].digest, absent);
            found = true;
        }
    cr_assert (found);
    tm_components_free (&list, count);
    tm_cachekey_destroy (&keys);
    tm_task_destroy (&task);
}

Test (cachekey, an_unreadable_program_fails_with_a_reason)
{
    s_files ();
    tm_task_t *task = s_task ();
    free (task->argv [0]);
    task->argv [0] = strdup (s_path ("no-such-program"));
    tm_cachekey_t *keys = tm_cachekey_new ();
    tm_component_t *list = NULL;
    size_t count = 0;
    char *err = NULL;
    cr_assert_eq (tm_cachekey_declared (keys, task, &list, &count, &err), -1);
    cr_assert_not_null (err);
    cr_assert (strstr (err, "no-such-program"), "%s", err);
    cr_assert_null (list);
    free (err);
    tm_cachekey_destroy (&keys);
    tm_task_destroy (&task);
}

Test (cachekey, a_program_found_in_path_is_hashed)
{
    tm_task_t *task = tm_task_new ("t", "sh", TM_KIND_MANIFEST);
    tm_strv_push (&task->argv, "sh");
    tm_cachekey_t *keys = tm_cachekey_new ();
    tm_component_t *list = NULL;
    size_t count = 0;
    char *err = NULL;
    cr_assert_eq (tm_cachekey_declared (keys, task, &list, &count, &err), 0, "%s", err);
    char *path = tm_path_search ("sh", NULL);
    cr_assert_not_null (path);
    tm_store_t *store = tm_store_new (s_dir, &err);
    cr_assert_not_null (store, "%s", err);
    char hex [TM_STORE_HEX];
    uint64_t size;
    bool exec;
    cr_assert_eq (tm_store_add_file (store, path, hex, &size, &exec, &err), 0, "%s", err);
    cr_assert_str_eq (list [count - 1].name, "program");
    cr_assert_str_eq (list [count - 1].digest, hex, "the digest of a file is its store digest");
    tm_store_destroy (&store);
    free (path);
    tm_components_free (&list, count);
    tm_cachekey_destroy (&keys);
    tm_task_destroy (&task);
}

Test (cachekey, a_shipped_task_uses_the_digests_of_its_files)
{
    s_files ();
    tm_task_t *task = s_task ();
    task->root = strdup (s_dir);
    //  A digest that is not the file's: proof it was taken, not computed
    const char *fake = "00000000000000000000000000000000000000000000000000000000000000aa";
    tm_task_add_file (task, "prog", fake, 10, true);
    tm_cachekey_t *keys = tm_cachekey_new ();
    tm_component_t *list = NULL;
    size_t count = 0;
    cr_assert_eq (tm_cachekey_declared (keys, task, &list, &count, NULL), 0);
    cr_assert_str_eq (list [count - 1].name, "program");
    cr_assert_str_eq (list [count - 1].digest, fake);
    tm_components_free (&list, count);
    tm_cachekey_destroy (&keys);
    tm_task_destroy (&task);
}

Test (cachekey, the_memo_hashes_a_file_once_per_run)
{
    s_files ();
    tm_cachekey_t *keys = tm_cachekey_new ();
    size_t first = 0;
    for (int i = 0; i < 100; i++) {
        tm_task_t *task = s_task ();
        char id [32];
        snprintf (id, sizeof id, "suite/%d", i);
        free (task->id);
        task->id = strdup (id);
        tm_component_t *list = NULL;
        size_t count = 0;
        cr_assert_eq (tm_cachekey_declared (keys, task, &list, &count, NULL), 0);
        tm_components_free (&list, count);
        tm_task_destroy (&task);
        if (i == 0)
            first = tm_cachekey_hashed (keys);
    }
    //  prog, in.txt, data/a.txt, data/sub/b.txt: four files, once each
    cr_assert_eq (first, 4);
    cr_assert_eq (tm_cachekey_hashed (keys), 4);
    tm_cachekey_destroy (&keys);
}

Test (cachekey, ident_names_the_test_not_its_inputs)
{
    s_files ();
    tm_task_t *a = s_task ();
    tm_task_t *b = s_task ();
    tm_strv_push (&b->argv, "--other");
    char ia [TM_CACHE_HEX], ib [TM_CACHE_HEX];
    tm_cachekey_ident (a, ia);
    tm_cachekey_ident (b, ib);
    cr_assert_str_eq (ia, ib);
    free (b->history_key);
    b->history_key = tm_strdupf ("%s\x1fsuite/two", s_path ("prog"));
    tm_cachekey_ident (b, ib);
    cr_assert_str_neq (ia, ib);
    cr_assert_eq (strlen (ia), 64);
    tm_task_destroy (&a);
    tm_task_destroy (&b);
}

Test (cachekey, retrace_sees_a_changed_traced_file)
{
    s_files ();
    unsetenv ("MY_TRACED_VAR");
    tmu_write (s_path ("hidden.txt"), "v1\n");
    tmu_write (s_path ("gone-later.txt"), "here\n");
    char *trace = tm_strdupf ("d %s\ne MY_TRACED_VAR\nr %s\nr %s\ns %s\nx /bin/sh\n",
                              s_path ("data"), s_path ("gone-later.txt"),
                              s_path ("hidden.txt"), s_path ("in.txt"));
    tm_cachekey_t *keys = tm_cachekey_new ();
    tm_component_t *traced = NULL;
    size_t n_traced = 0;
    cr_assert_eq (tm_cachekey_from_trace (keys, trace, NULL, NULL, &traced, &n_traced), 0);
    cr_assert_eq (n_traced, 6);
    char name [4200];
    snprintf (name, sizeof name, "traced-dir:%s", s_path ("data"));
    cr_assert_str_eq (traced [0].name, name);
    cr_assert_str_eq (traced [1].name, "traced-env:MY_TRACED_VAR");
    cr_assert_str_eq (traced [2].name, "traced-exec:/bin/sh");
    snprintf (name, sizeof name, "traced-stat:%s", s_path ("in.txt"));
    cr_assert_str_eq (traced [3].name, name);
    snprintf (name, sizeof name, "traced:%s", s_path ("hidden.txt"));
    cr_assert_str_eq (traced [5].name, name);
    //  The record: declared and traced together
    tm_task_t *task = s_task ();
    tm_component_t *declared = NULL, *record = NULL;
    size_t n_declared = 0, n_record = 0;
    cr_assert_eq (tm_cachekey_declared (keys, task, &declared, &n_declared, NULL), 0);
    tm_cachekey_merge (declared, n_declared, traced, n_traced, &record, &n_record);
    cr_assert_eq (n_record, n_declared + n_traced);
    tm_cachekey_destroy (&keys);

    //  Next run, nothing changed: the same traced digests, the same K
    keys = tm_cachekey_new ();
    tm_component_t *now = NULL;
    size_t n_now = 0;
    cr_assert_eq (tm_cachekey_retrace (keys, record, n_record, &now, &n_now), 0);
    cr_assert_eq (n_now, n_traced, "declared components are skipped");
    cr_assert_null (tm_cachekey_explain (traced, n_traced, now, n_now));
    tm_components_free (&now, n_now);
    tm_cachekey_destroy (&keys);

    //  Then one file changes: explain names it and nothing else
    tmu_write (s_path ("hidden.txt"), "v2\n");
    keys = tm_cachekey_new ();
    cr_assert_eq (tm_cachekey_retrace (keys, record, n_record, &now, &n_now), 0);
    char *why = tm_cachekey_explain (traced, n_traced, now, n_now);
    char *expected = tm_strdupf ("traced:%s changed\n", s_path ("hidden.txt"));
    cr_assert_str_eq (why, expected);
    free (why);
    free (expected);
    char k1 [TM_CACHE_HEX], k2 [TM_CACHE_HEX];
    tm_cachekey_digest (traced, n_traced, k1);
    tm_cachekey_digest (now, n_now, k2);
    cr_assert_str_neq (k1, k2);
    tm_components_free (&now, n_now);
    tm_cachekey_destroy (&keys);

    //  A file gone, a variable set, a directory listing grown
    unlink (s_path ("gone-later.txt"));
    setenv ("MY_TRACED_VAR", "1", 1);
    tmu_write (s_path ("data/new.txt"), "new\n");
    keys = tm_cachekey_new ();
    cr_assert_eq (tm_cachekey_retrace (keys, record, n_record, &now, &n_now), 0);
    why = tm_cachekey_explain (traced, n_traced, now, n_now);
    expected = tm_strdupf ("traced-dir:%s changed\ntraced-env:MY_TRACED_VAR changed\n"
                           "traced:%s changed\ntraced:%s changed\n", s_path ("data"),
                           s_path ("gone-later.txt"), s_path ("hidden.txt"));
    cr_assert_str_eq (why, expected);
    free (why);
    free (expected);
    unsetenv ("MY_TRACED_VAR");
    tm_components_free (&now, n_now);
    tm_cachekey_destroy (&keys);

    tm_components_free (&traced, n_traced);
    tm_components_free (&declared, n_declared);
    tm_components_free (&record, n_record);
    tm_task_destroy (&task);
    free (trace);
}

Test (cachekey, from_trace_maps_the_work_directory_to_the_root)
{
    s_files ();
    tm_cachekey_t *keys = tm_cachekey_new ();
    tm_component_t *list = NULL;
    size_t count = 0;
    cr_assert_eq (tm_cachekey_from_trace (keys, "r /var/work/task-1/in.txt\n"
                                          "r /etc/hostname\nbogus line\n",
                                          "/var/work/task-1", s_dir, &list, &count), 0);
    cr_assert_eq (count, 2);
    cr_assert_str_eq (list [0].name, "traced:/etc/hostname");
    char *name = tm_strdupf ("traced:%s", s_path ("in.txt"));
    cr_assert_str_eq (list [1].name, name);
    char hex [TM_CACHE_HEX];
    tm_store_digest ("input\n", 6, hex);
    cr_assert_str_eq (list [1].digest, hex, "hashed at the root, not the work dir");
    free (name);
    tm_components_free (&list, count);
    tm_cachekey_destroy (&keys);
}

Test (cachekey, explain_says_new_and_gone)
{
    tm_component_t old [2] = { { "a", "" }, { "b", "" } };
    tm_component_t now [2] = { { "b", "" }, { "c", "" } };
    char *why = tm_cachekey_explain (old, 2, now, 2);
    cr_assert_str_eq (why, "gone: a\nnew: c\n");
    free (why);
    cr_assert_null (tm_cachekey_explain (old, 2, old, 2));
}
