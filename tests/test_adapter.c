/*  test_adapter.c - tm_adapter: detection, listing parsers, classification.

    Parsers are fed canned listings; detection and discovery run on the
    fixtures `make fixtures` builds into $TM_BUILD/fixtures, and a few
    tests run a fixture test for real to check that the argv we build
    selects exactly that test and that classify reads its output right.
*/
#include "tm_adapter.h"
#include "tm_testutil.h"
#include <signal.h>

//  Real Criterion 2.4.1 listings, as printed in a UTF-8 locale and with LANG=C.
static const char *s_criterion_utf8 =
    "math: 2 tests\n"
    "\xe2\x94\x9c\xe2\x94\x80\xe2\x94\x80 add\n"
    "\xe2\x94\x94\xe2\x94\x80\xe2\x94\x80 fail\n"
    "misc: 4 tests\n"
    "\xe2\x94\x9c\xe2\x94\x80\xe2\x94\x80 crash\n"
    "\xe2\x94\x9c\xe2\x94\x80\xe2\x94\x80 disabled (skipped)\n"
    "\xe2\x94\x9c\xe2\x94\x80\xe2\x94\x80 one\n"
    "\xe2\x94\x94\xe2\x94\x80\xe2\x94\x80 timeout\n";

static const char *s_criterion_ascii =
    "math: 2 tests\n"
    "|-- add\n"
    "`-- fail\n"
    "misc: 4 tests\n"
    "|-- crash\n"
    "|-- disabled (skipped)\n"
    "|-- one\n"
    "`-- timeout\n";

//  gtest_main's banner, a typed suite, a parameterised one, disabled ones.
static const char *s_gtest_listing =
    "Running main() from ./googletest/src/gtest_main.cc\n"
    "Math.\n"
    "  Add\n"
    "  DISABLED_Off\n"
    "DISABLED_Suite.\n"
    "  On\n"
    "TT/0.  # TypeParam = int\n"
    "  Size\n"
    "Nums/P.\n"
    "  Even/0  # GetParam() = 2\n"
    "  Even/1  # GetParam() = 4\n"
    "Nums/DISABLED_Q.\n"
    "  Odd/0  # GetParam() = 1\n";

static const char *s_ctest_json =
    "{ \"kind\": \"ctestInfo\", \"version\": { \"major\": 1, \"minor\": 0 },\n"
    "  \"tests\": [\n"
    "    { \"name\": \"plain\", \"command\": [\"/usr/bin/true\"],\n"
    "      \"properties\": [ { \"name\": \"WORKING_DIRECTORY\", \"value\": \"/b\" } ] },\n"
    "    { \"name\": \"rich\", \"command\": [\"/usr/bin/sh\", \"-c\", \"exit 0\"],\n"
    "      \"properties\": [\n"
    "        { \"name\": \"ENVIRONMENT\", \"value\": [\"FOO=bar\", \"BAZ=qux\"] },\n"
    "        { \"name\": \"LABELS\", \"value\": [\"fast\", \"smoke\"] },\n"
    "        { \"name\": \"TIMEOUT\", \"value\": 7.0 },\n"
    "        { \"name\": \"WILL_FAIL\", \"value\": true },\n"
    "        { \"name\": \"WORKING_DIRECTORY\", \"value\": \"/b/work\" } ] },\n"
    "    { \"name\": \"off\", \"command\": [\"/usr/bin/true\"],\n"
    "      \"properties\": [ { \"name\": \"DISABLED\", \"value\": true } ] },\n"
    "    { \"name\": \"unbuilt\",\n"
    "      \"properties\": [ { \"name\": \"WORKING_DIRECTORY\", \"value\": \"/b\" } ] }\n"
    "  ] }\n";

static tm_task_t *
s_find (tm_tasklist_t *tasks, const char *id)
{
    for (size_t i = 0; i < tm_tasklist_size (tasks); i++)
        if (streq (tm_tasklist_get (tasks, i)->id, id))
            return tm_tasklist_get (tasks, i);
    cr_assert_fail ("no task '%s'", id);
    return NULL;
}

static void
s_expect_argv (tm_task_t *task, const char *const expected [])
{
    size_t count = 0;
    while (expected [count])
        count++;
    cr_assert_eq (tm_strv_size (task->argv), count, "%s: argv has %zu words, not %zu",
                  task->id, tm_strv_size (task->argv), count);
    for (size_t i = 0; i < count; i++)
        cr_assert_str_eq (task->argv [i], expected [i], "%s: argv [%zu]", task->id, i);
}

//  ---------------------------------------------------------------------
//  Criterion listings

static void
s_check_criterion_listing (const char *listing)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    int count = tm_adapter_parse_criterion_list ("/abs/suite", "suite", listing,
                                                 false, tasks, &err);
    cr_assert_eq (count, 6, "%s", err);
    const char *ids [] = { "math/add", "math/fail", "misc/crash", "misc/disabled",
                           "misc/one", "misc/timeout" };
    for (size_t i = 0; i < 6; i++) {
        tm_task_t *task = tm_tasklist_get (tasks, i);
        cr_assert_str_eq (task->id, ids [i]);
        cr_assert_str_eq (task->target, "suite");
        cr_assert_eq (task->kind, TM_KIND_CRITERION);
        cr_assert (task->expected < 0);
    }
    tm_tasklist_destroy (&tasks);
}

Test (adapter, criterion_list_parses_utf8_tree)
{
    s_check_criterion_listing (s_criterion_utf8);
}

Test (adapter, criterion_list_parses_ascii_tree)
{
    s_check_criterion_listing (s_criterion_ascii);
}

Test (adapter, criterion_list_marks_skipped_entries_disabled)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    cr_assert_eq (tm_adapter_parse_criterion_list ("/abs/suite", "suite", s_criterion_utf8,
                                                   false, tasks, NULL), 6);
    cr_assert_str_eq (s_find (tasks, "misc/disabled")->skip_reason, "disabled");
    cr_assert_null (s_find (tasks, "misc/crash")->skip_reason);
    tm_tasklist_destroy (&tasks);
}

Test (adapter, criterion_task_runs_binary_with_filter_and_one_job)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    cr_assert_eq (tm_adapter_parse_criterion_list ("/abs/suite", "suite", s_criterion_ascii,
                                                   false, tasks, NULL), 6);
    tm_task_t *task = s_find (tasks, "misc/one");
    s_expect_argv (task, (const char *[]) {
        "/abs/suite", "--filter", "misc/one", "--jobs", "1", NULL });
    cr_assert_null (task->cwd);
    cr_assert_str_eq (task->history_key, "/abs/suite\x1f" "misc/one");
    tm_tasklist_destroy (&tasks);
}

Test (adapter, criterion_list_with_prefix_names_the_target)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    cr_assert_eq (tm_adapter_parse_criterion_list ("/abs/suite", "build/suite",
                                                   s_criterion_ascii, true, tasks, NULL), 6);
    tm_task_t *task = tm_tasklist_get (tasks, 0);
    cr_assert_str_eq (task->id, "build/suite:math/add");
    //  The filter and the history key use the unprefixed id
    cr_assert_str_eq (task->argv [2], "math/add");
    cr_assert_str_eq (task->history_key, "/abs/suite\x1f" "math/add");
    tm_tasklist_destroy (&tasks);
}

Test (adapter, criterion_list_ignores_noise_lines)
{
    const char *listing =
        "constructor says hello\n"
        "math: 1 test\n"
        "\n"
        "`-- add\r\n"
        "trailing noise: not a header\n";
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    cr_assert_eq (tm_adapter_parse_criterion_list ("/b", "b", listing, false, tasks, &err),
                  1, "%s", err);
    cr_assert_str_eq (tm_tasklist_get (tasks, 0)->id, "math/add");
    tm_tasklist_destroy (&tasks);
}

Test (adapter, criterion_list_of_no_tests_is_empty_not_an_error)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    cr_assert_eq (tm_adapter_parse_criterion_list ("/b", "b", "", false, tasks, &err),
                  0, "%s", err);
    cr_assert_eq (tm_adapter_parse_criterion_list ("/b", "b", "\n\n", false, tasks, &err),
                  0, "%s", err);
    cr_assert_eq (tm_tasklist_size (tasks), 0);
    tm_tasklist_destroy (&tasks);
}

Test (adapter, criterion_list_rejects_garbage)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    cr_assert_eq (tm_adapter_parse_criterion_list ("/b", "b", "hello world\nusage: x\n",
                                                   false, tasks, &err), -1);
    cr_assert (strstr (err, "b: not a Criterion listing"), "%s", err);
    free (err);
    tm_tasklist_destroy (&tasks);
}

Test (adapter, criterion_list_rejects_truncated_suite)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    cr_assert_eq (tm_adapter_parse_criterion_list ("/b", "b", "math: 3 tests\n|-- a\n`-- b\n",
                                                   false, tasks, &err), -1);
    cr_assert (strstr (err, "suite 'math' announces 3 tests but lists 2"), "%s", err);
    free (err);
    tm_tasklist_destroy (&tasks);
}

Test (adapter, criterion_list_rejects_test_before_any_suite)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    cr_assert_eq (tm_adapter_parse_criterion_list ("/b", "b", "|-- orphan\nmath: 0 tests\n",
                                                   false, tasks, &err), -1);
    cr_assert (strstr (err, "before any suite"), "%s", err);
    free (err);
    tm_tasklist_destroy (&tasks);
}

Test (adapter, criterion_list_error_leaves_tasks_unaltered)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    tm_task_t *task = tm_task_new ("earlier", "x", TM_KIND_GTEST);
    tm_tasklist_append (tasks, &task);
    char *err = NULL;
    cr_assert_eq (tm_adapter_parse_criterion_list ("/b", "b", "math: 3 tests\n|-- a\n",
                                                   false, tasks, &err), -1);
    cr_assert_eq (tm_tasklist_size (tasks), 1);
    free (err);
    tm_tasklist_destroy (&tasks);
}

Test (adapter, criterion_filter_escapes_glob_characters)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    cr_assert_eq (tm_adapter_parse_criterion_list ("/b", "b", "s: 1 test\n`-- a[1]*?\n",
                                                   false, tasks, NULL), 1);
    tm_task_t *task = tm_tasklist_get (tasks, 0);
    cr_assert_str_eq (task->id, "s/a[1]*?");
    cr_assert_str_eq (task->argv [2], "s/a\\[1\\]\\*\\?");
    tm_tasklist_destroy (&tasks);
}

//  ---------------------------------------------------------------------
//  GoogleTest listings

Test (adapter, gtest_list_skips_banner_and_strips_comments)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    int count = tm_adapter_parse_gtest_list ("/abs/g", "g", s_gtest_listing, false,
                                             tasks, &err);
    cr_assert_eq (count, 7, "%s", err);
    const char *ids [] = { "Math.Add", "Math.DISABLED_Off", "DISABLED_Suite.On",
                           "TT/0.Size", "Nums/P.Even/0", "Nums/P.Even/1",
                           "Nums/DISABLED_Q.Odd/0" };
    for (size_t i = 0; i < 7; i++) {
        cr_assert_str_eq (tm_tasklist_get (tasks, i)->id, ids [i]);
        cr_assert_eq (tm_tasklist_get (tasks, i)->kind, TM_KIND_GTEST);
    }
    tm_tasklist_destroy (&tasks);
}

Test (adapter, gtest_list_marks_disabled_tests_and_suites)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    cr_assert_eq (tm_adapter_parse_gtest_list ("/abs/g", "g", s_gtest_listing, false,
                                               tasks, NULL), 7);
    cr_assert_str_eq (s_find (tasks, "Math.DISABLED_Off")->skip_reason, "disabled");
    cr_assert_str_eq (s_find (tasks, "DISABLED_Suite.On")->skip_reason, "disabled");
    cr_assert_str_eq (s_find (tasks, "Nums/DISABLED_Q.Odd/0")->skip_reason, "disabled");
    cr_assert_null (s_find (tasks, "Math.Add")->skip_reason);
    cr_assert_null (s_find (tasks, "Nums/P.Even/1")->skip_reason);
    tm_tasklist_destroy (&tasks);
}

Test (adapter, gtest_task_runs_binary_with_gtest_filter)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    cr_assert_eq (tm_adapter_parse_gtest_list ("/abs/g", "g", s_gtest_listing, true,
                                               tasks, NULL), 7);
    tm_task_t *task = s_find (tasks, "g:Nums/P.Even/0");
    s_expect_argv (task, (const char *[]) {
        "/abs/g", "--gtest_filter=Nums/P.Even/0", NULL });
    cr_assert_str_eq (task->history_key, "/abs/g\x1f" "Nums/P.Even/0");
    tm_tasklist_destroy (&tasks);
}

Test (adapter, gtest_list_of_banner_only_is_empty)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    cr_assert_eq (tm_adapter_parse_gtest_list ("/g", "g",
        "Running main() from ./googletest/src/gtest_main.cc\n", false, tasks, NULL), 0);
    tm_tasklist_destroy (&tasks);
}

Test (adapter, gtest_list_rejects_test_before_any_suite)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    cr_assert_eq (tm_adapter_parse_gtest_list ("/g", "g", "  Orphan\nSuite.\n  T\n",
                                               false, tasks, &err), -1);
    cr_assert (strstr (err, "g: not a GoogleTest listing"), "%s", err);
    cr_assert_eq (tm_tasklist_size (tasks), 0);
    free (err);
    tm_tasklist_destroy (&tasks);
}

//  ---------------------------------------------------------------------
//  ctest JSON

Test (adapter, ctest_json_maps_command_cwd_env_timeout_labels)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    cr_assert_eq (tm_adapter_parse_ctest_json ("/no/such/build", s_ctest_json, false,
                                               tasks, &err), 4, "%s", err);
    tm_task_t *plain = s_find (tasks, "plain");
    s_expect_argv (plain, (const char *[]) { "/usr/bin/true", NULL });
    cr_assert_str_eq (plain->cwd, "/b");
    cr_assert_null (plain->env);
    cr_assert_eq (plain->kind, TM_KIND_CTEST);
    cr_assert_str_eq (plain->history_key, "/no/such/build\x1f" "plain");

    tm_task_t *rich = s_find (tasks, "rich");
    s_expect_argv (rich, (const char *[]) { "/usr/bin/sh", "-c", "exit 0", NULL });
    cr_assert_str_eq (rich->cwd, "/b/work");
    cr_assert_eq (tm_strv_size (rich->env), 2);
    cr_assert_str_eq (rich->env [0], "FOO=bar");
    cr_assert_str_eq (rich->env [1], "BAZ=qux");
    cr_assert_eq (tm_strv_size (rich->labels), 2);
    cr_assert_str_eq (rich->labels [1], "smoke");
    cr_assert_float_eq (rich->timeout, 7.0, 1e-9);
    cr_assert_null (rich->skip_reason);
    tm_tasklist_destroy (&tasks);
}

Test (adapter, ctest_json_disabled_test_is_skipped)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    cr_assert_eq (tm_adapter_parse_ctest_json ("/b", s_ctest_json, false, tasks, NULL), 4);
    cr_assert_str_eq (s_find (tasks, "off")->skip_reason, "disabled");
    //  No WORKING_DIRECTORY: the build directory
    cr_assert_str_eq (s_find (tasks, "off")->cwd, "/b");
    tm_tasklist_destroy (&tasks);
}

Test (adapter, ctest_json_test_without_command_is_skipped_not_built)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    cr_assert_eq (tm_adapter_parse_ctest_json ("/b", s_ctest_json, true, tasks, NULL), 4);
    tm_task_t *task = s_find (tasks, "/b:unbuilt");
    cr_assert (strncmp (task->skip_reason, "not built", 9) == 0, "%s", task->skip_reason);
    cr_assert_not_null (task->argv);
    cr_assert_not_null (task->argv [0]);
    tm_tasklist_destroy (&tasks);
}

Test (adapter, ctest_json_rejects_invalid_json)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    cr_assert_eq (tm_adapter_parse_ctest_json ("bld", "{ \"tests\": [", false,
                                               tasks, &err), -1);
    cr_assert (strstr (err, "bld: ctest printed invalid JSON"), "%s", err);
    free (err);
    err = NULL;
    cr_assert_eq (tm_adapter_parse_ctest_json ("bld", "{ \"kind\": 1 }", false,
                                               tasks, &err), -1);
    cr_assert (strstr (err, "bld: not a ctest JSON listing"), "%s", err);
    free (err);
    err = NULL;
    cr_assert_eq (tm_adapter_parse_ctest_json ("bld",
        "{ \"tests\": [ { \"name\": \"a\", \"command\": [\"x\"] }, { \"command\": [\"y\"] } ] }",
        false, tasks, &err), -1);
    cr_assert (strstr (err, "test #2 has no name"), "%s", err);
    cr_assert_eq (tm_tasklist_size (tasks), 0);
    free (err);
    tm_tasklist_destroy (&tasks);
}

Test (adapter, ctest_json_rejects_malformed_property)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    cr_assert_eq (tm_adapter_parse_ctest_json ("bld",
        "{ \"tests\": [ { \"name\": \"a\", \"command\": [\"x\"], \"properties\": "
        "[ { \"name\": \"TIMEOUT\", \"value\": \"soon\" } ] } ] }",
        false, tasks, &err), -1);
    cr_assert (strstr (err, "malformed property TIMEOUT"), "%s", err);
    free (err);
    tm_tasklist_destroy (&tasks);
}

//  Parses a one-test ctest listing whose only property is NAME = VALUE
//  (VALUE in JSON).  Returns what tm_adapter_parse_ctest_json returns;
//  the task, if any, goes to TASKS and the error to *ERR.
static int
s_ctest_property (const char *name, const char *value, tm_tasklist_t *tasks, char **err)
{
    char *json = tm_strdupf (
        "{ \"tests\": [ { \"name\": \"a\", \"command\": [\"/bin/true\"], "
        "\"properties\": [ { \"name\": \"%s\", \"value\": %s } ] } ] }", name, value);
    int rc = tm_adapter_parse_ctest_json ("bld", json, false, tasks, err);
    free (json);
    return rc;
}

//  Checks that property NAME = VALUE fails the whole discovery, with
//  the one-line error every malformed ctest property gets.
static void
s_expect_bad_property (const char *name, const char *value)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    cr_assert_eq (s_ctest_property (name, value, tasks, &err), -1,
                  "%s = %s should be rejected", name, value);
    char *expected = tm_strdupf ("bld: ctest test 'a' has a malformed property %s", name);
    cr_assert_str_eq (err, expected, "%s = %s", name, value);
    cr_assert_eq (tm_tasklist_size (tasks), 0);
    free (expected);
    free (err);
    tm_tasklist_destroy (&tasks);
}

static tm_task_t *
s_expect_good_property (const char *name, const char *value, tm_tasklist_t *tasks)
{
    char *err = NULL;
    cr_assert_eq (s_ctest_property (name, value, tasks, &err), 1, "%s = %s: %s",
                  name, value, err);
    return tm_tasklist_get (tasks, tm_tasklist_size (tasks) - 1);
}

Test (adapter, ctest_skip_return_code_is_an_integer_0_to_255)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    cr_assert_eq (s_expect_good_property ("SKIP_RETURN_CODE", "77", tasks)->skip_code, 77);
    cr_assert_eq (s_expect_good_property ("SKIP_RETURN_CODE", "\"77\"", tasks)->skip_code, 77);
    cr_assert_eq (s_expect_good_property ("SKIP_RETURN_CODE", "0", tasks)->skip_code, 0);
    cr_assert_eq (s_expect_good_property ("SKIP_RETURN_CODE", "\"255\"", tasks)->skip_code,
                  255);
    tm_tasklist_destroy (&tasks);
}

Test (adapter, ctest_malformed_skip_return_code_fails_discovery)
{
    //  atof made "abc" 0, which skipped every passing test, and 1.5 1
    const char *bad [] = { "\"abc\"", "\"\"", "\"1.5\"", "1.5", "\"77abc\"", "\" 77\"",
                           "\"+7\"", "\"-1\"", "-1", "256", "\"256\"",
                           "\"99999999999999999999\"", "true", "null", "[77]" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++)
        s_expect_bad_property ("SKIP_RETURN_CODE", bad [i]);
}

Test (adapter, ctest_timeout_over_a_billion_seconds_fails_discovery)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    cr_assert_float_eq (s_expect_good_property ("TIMEOUT", "1e9", tasks)->timeout, 1e9, 1e-3);
    cr_assert_float_eq (s_expect_good_property ("TIMEOUT", "0", tasks)->timeout, 0, 1e-9);
    tm_tasklist_destroy (&tasks);
    s_expect_bad_property ("TIMEOUT", "1000000001");
    s_expect_bad_property ("TIMEOUT", "1e300");
    s_expect_bad_property ("TIMEOUT", "\"10\"");
}

//  ---------------------------------------------------------------------
//  Classification

static tm_result_t *
s_result (tm_status_t status, const char *out, const char *err)
{
    tm_result_t *result = tm_result_new ("t", 0);
    result->status = status;
    if (out) {
        result->out = strdup (out);
        result->out_size = strlen (out);
    }
    if (err) {
        result->err = strdup (err);
        result->err_size = strlen (err);
    }
    return result;
}

Test (classify, criterion_pass_that_tested_nothing_is_skipped)
{
    tm_result_t *result = s_result (TM_STATUS_PASSED, NULL,
        "[====] Synthesis: Tested: 0 | Passing: 0 | Failing: 0 | Crashing: 0 \n");
    tm_adapter_classify (TM_KIND_CRITERION, result);
    cr_assert_eq (result->status, TM_STATUS_SKIPPED);
    cr_assert_str_eq (result->message, "skipped by the test");
    tm_result_destroy (&result);
}

Test (classify, criterion_failure_with_a_crash_is_crashed)
{
    tm_result_t *result = s_result (TM_STATUS_FAILED, "",
        "[----] t.c:6: Unexpected signal caught below this line!\n"
        "[FAIL] misc::crash: CRASH!\n"
        "[====] Synthesis: Tested: 1 | Passing: 0 | Failing: 1 | Crashing: 1 \n");
    tm_adapter_classify (TM_KIND_CRITERION, result);
    cr_assert_eq (result->status, TM_STATUS_CRASHED);
    tm_result_destroy (&result);
}

Test (classify, criterion_failure_that_timed_out_is_timeout)
{
    tm_result_t *result = s_result (TM_STATUS_FAILED, NULL,
        "[FAIL] misc::timeout: Timed out. (0.21s)\n"
        "[====] Synthesis: Tested: 1 | Passing: 0 | Failing: 1 | Crashing: 0 \n");
    tm_adapter_classify (TM_KIND_CRITERION, result);
    cr_assert_eq (result->status, TM_STATUS_TIMEOUT);
    tm_result_destroy (&result);
}

Test (classify, criterion_plain_failure_and_pass_are_left_alone)
{
    tm_result_t *failed = s_result (TM_STATUS_FAILED, NULL,
        "[FAIL] math::fail: (0.00s)\n"
        "[====] Synthesis: Tested: 1 | Passing: 0 | Failing: 1 | Crashing: 0 \n");
    tm_adapter_classify (TM_KIND_CRITERION, failed);
    cr_assert_eq (failed->status, TM_STATUS_FAILED);
    cr_assert_null (failed->message);
    tm_result_destroy (&failed);
    tm_result_t *passed = s_result (TM_STATUS_PASSED, NULL,
        "[====] Synthesis: Tested: 1 | Passing: 1 | Failing: 0 | Crashing: 0 \n");
    tm_adapter_classify (TM_KIND_CRITERION, passed);
    cr_assert_eq (passed->status, TM_STATUS_PASSED);
    tm_result_destroy (&passed);
}

Test (classify, criterion_uses_the_last_synthesis_line)
{
    //  A test that prints a fake synthesis first must not fool us
    tm_result_t *result = s_result (TM_STATUS_PASSED,
        "Synthesis: Tested: 0 | Passing: 0 | Failing: 0 | Crashing: 0\n",
        "[====] Synthesis: Tested: 1 | Passing: 1 | Failing: 0 | Crashing: 0 \n");
    tm_adapter_classify (TM_KIND_CRITERION, result);
    cr_assert_eq (result->status, TM_STATUS_PASSED);
    tm_result_destroy (&result);
}

Test (classify, criterion_without_synthesis_is_left_alone)
{
    tm_result_t *result = s_result (TM_STATUS_PASSED, NULL, NULL);
    tm_adapter_classify (TM_KIND_CRITERION, result);
    cr_assert_eq (result->status, TM_STATUS_PASSED);
    tm_result_destroy (&result);
}

Test (classify, gtest_pass_with_only_skips_is_skipped)
{
    tm_result_t *result = s_result (TM_STATUS_PASSED,
        "[ RUN      ] Math.Skip\n"
        "g.cc:6: Skipped\nwhy\n"
        "[  SKIPPED ] Math.Skip (0 ms)\n"
        "[==========] 1 test from 1 test suite ran. (0 ms total)\n"
        "[  PASSED  ] 0 tests.\n"
        "[  SKIPPED ] 1 test, listed below:\n"
        "[  SKIPPED ] Math.Skip\n", "");
    tm_adapter_classify (TM_KIND_GTEST, result);
    cr_assert_eq (result->status, TM_STATUS_SKIPPED);
    cr_assert_str_eq (result->message, "skipped by the test");
    tm_result_destroy (&result);
}

Test (classify, gtest_pass_is_left_alone)
{
    tm_result_t *result = s_result (TM_STATUS_PASSED,
        "[       OK ] Math.Add (0 ms)\n[  PASSED  ] 1 test.\n", NULL);
    tm_adapter_classify (TM_KIND_GTEST, result);
    cr_assert_eq (result->status, TM_STATUS_PASSED);
    tm_result_destroy (&result);
}

Test (classify, ctest_and_manifest_results_are_left_alone)
{
    const char *out = "[====] Synthesis: Tested: 0 | Passing: 0 | Failing: 0 | Crashing: 0\n";
    tm_result_t *result = s_result (TM_STATUS_PASSED, out, out);
    tm_adapter_classify (TM_KIND_CTEST, result);
    tm_adapter_classify (TM_KIND_MANIFEST, result);
    cr_assert_eq (result->status, TM_STATUS_PASSED);
    tm_result_destroy (&result);
}

//  ---------------------------------------------------------------------
//  Detection

static void
s_expect_kind (const char *target, tm_kind_t expected)
{
    tm_kind_t kind = TM_KIND_AUTO;
    char *err = NULL;
    cr_assert_eq (tm_adapter_detect (target, &kind, &err), 0, "%s: %s", target, err);
    cr_assert_eq (kind, expected, "%s: detected %s", target, tm_kind_name (kind));
}

static char *
s_detect_error (const char *target)
{
    tm_kind_t kind = TM_KIND_AUTO;
    char *err = NULL;
    cr_assert_eq (tm_adapter_detect (target, &kind, &err), -1, "%s was detected", target);
    cr_assert_not_null (err);
    return err;
}

Test (detect, ctest_build_directory_is_ctest)
{
    s_expect_kind (tmu_path ("fixtures/ctest"), TM_KIND_CTEST);
}

Test (detect, criterion_binary_is_criterion)
{
    s_expect_kind (tmu_path ("fixtures/criterion_suite"), TM_KIND_CRITERION);
}

Test (detect, gtest_binary_is_gtest)
{
    s_expect_kind (tmu_path ("fixtures/gtest_suite"), TM_KIND_GTEST);
}

Test (detect, text_file_is_a_manifest)
{
    s_expect_kind (tmu_path ("fixtures/manifest.ini"), TM_KIND_MANIFEST);
}

Test (detect, plain_elf_is_not_a_test_binary)
{
    char *err = s_detect_error ("/bin/true");
    cr_assert_str_eq (err, "/bin/true: not a test binary (no Criterion or GoogleTest "
                           "found; use --kind)");
    free (err);
    const char *target = tmu_path ("fixtures/not_a_test");
    err = s_detect_error (target);
    cr_assert (strstr (err, "not a test binary"), "%s", err);
    free (err);
}

Test (detect, missing_path_is_no_such_file)
{
    char *err = s_detect_error ("/no/such/target");
    cr_assert_str_eq (err, "/no/such/target: No such file or directory");
    free (err);
}

Test (detect, device_is_neither_file_nor_directory)
{
    char *err = s_detect_error ("/dev/null");
    cr_assert_str_eq (err, "/dev/null: not a regular file or directory");
    free (err);
}

Test (detect, directory_without_ctest_testfile_is_an_error)
{
    char *dir = tmu_scratch ();
    char *err = s_detect_error (dir);
    char *expected = tm_strdupf ("%s: a directory without CTestTestfile.cmake "
                                 "(not a ctest build directory)", dir);
    cr_assert_str_eq (err, expected);
    free (expected);
    free (err);
    tmu_rmrf (dir);
    free (dir);
}

Test (detect, elf_without_execute_permission_is_an_error)
{
    char *dir = tmu_scratch ();
    char *copy = tm_strdupf ("%s/suite", dir);
    char *data = NULL;
    FILE *in = fopen (tmu_path ("fixtures/criterion_suite"), "rb");
    cr_assert_not_null (in);
    size_t size = 0;
    FILE *out = open_memstream (&data, &size);
    int c;
    while ((c = fgetc (in)) != EOF)
        fputc (c, out);
    fclose (in);
    fclose (out);
    FILE *file = fopen (copy, "wb");
    fwrite (data, 1, size, file);
    fclose (file);
    chmod (copy, 0644);
    if (access (copy, X_OK) == 0) {
        //  root may execute anything with any x bit; 0644 has none, so
        //  access () says no even for root.
        cr_skip_test ("access () grants X_OK on a 0644 file");
    }
    char *err = s_detect_error (copy);
    cr_assert (strstr (err, "not executable"), "%s", err);
    free (err);
    free (data);
    free (copy);
    tmu_rmrf (dir);
    free (dir);
}

//  ---------------------------------------------------------------------
//  Discovery on the fixtures

//  We run inside a Criterion worker, whose boxfort marker a Criterion
//  fixture would inherit and take as its own (it aborts); testmesh's
//  main drops it for the same reason.
static void
s_drop_boxfort_marker (void)
{
    unsetenv ("BXFI_MAP");
}

TestSuite (discover, .init = s_drop_boxfort_marker);

Test (discover, criterion_fixture_lists_every_test)
{
    const char *target = tmu_path ("fixtures/criterion_suite");
    char *real = realpath (target, NULL);
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    cr_assert_eq (tm_adapter_discover (target, TM_KIND_AUTO, false, tasks, &err), 0,
                  "%s", err);
    cr_assert_eq (tm_tasklist_size (tasks), 14);
    for (size_t i = 0; i < tm_tasklist_size (tasks); i++) {
        tm_task_t *task = tm_tasklist_get (tasks, i);
        cr_assert_str_eq (task->argv [0], real, "argv [0] must be absolute");
        cr_assert_str_eq (task->target, target);
        cr_assert_eq (task->index, i);
    }
    cr_assert_str_eq (s_find (tasks, "outcome/disabled")->skip_reason, "disabled");
    cr_assert_null (s_find (tasks, "outcome/skipped")->skip_reason);
    s_find (tasks, "edge/daemon");
    s_find (tasks, "pass/four");
    free (real);
    tm_tasklist_destroy (&tasks);
}

Test (discover, gtest_fixture_lists_every_test)
{
    const char *target = tmu_path ("fixtures/gtest_suite");
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    cr_assert_eq (tm_adapter_discover (target, TM_KIND_AUTO, true, tasks, &err), 0,
                  "%s", err);
    cr_assert_eq (tm_tasklist_size (tasks), 9);
    char *id = tm_strdupf ("%s:Nums/Parity.IsEven/2", target);
    s_find (tasks, id);
    free (id);
    id = tm_strdupf ("%s:DISABLED_Legacy.Works", target);
    cr_assert_str_eq (s_find (tasks, id)->skip_reason, "disabled");
    free (id);
    tm_tasklist_destroy (&tasks);
}

Test (discover, ctest_fixture_lists_every_test_from_real_ctest)
{
    const char *target = tmu_path ("fixtures/ctest");
    char *real = realpath (target, NULL);
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    cr_assert_eq (tm_adapter_discover (target, TM_KIND_AUTO, false, tasks, &err), 0,
                  "%s", err);
    cr_assert_eq (tm_tasklist_size (tasks), 9);
    cr_assert (s_find (tasks, "will_fail")->will_fail);
    cr_assert_eq (s_find (tasks, "skip_code")->skip_code, 77);
    cr_assert_eq (s_find (tasks, "passes")->skip_code, -1);
    tm_task_t *env = s_find (tasks, "env");
    cr_assert_str_eq (env->env [0], "FOO=bar");
    cr_assert_str_eq (env->cwd, real);
    tm_task_t *workdir = s_find (tasks, "workdir");
    char *work = tm_strdupf ("%s/work", real);
    cr_assert_str_eq (workdir->cwd, work);
    free (work);
    tm_task_t *slow = s_find (tasks, "slow_label");
    cr_assert_float_eq (slow->timeout, 7.0, 1e-9);
    cr_assert_str_eq (slow->labels [0], "fast");
    cr_assert_str_eq (s_find (tasks, "disabled")->skip_reason, "disabled");
    cr_assert_not_null (s_find (tasks, "not_built")->skip_reason);
    cr_assert_null (s_find (tasks, "passes")->skip_reason);
    char *key = tm_strdupf ("%s\x1f" "passes", real);
    cr_assert_str_eq (s_find (tasks, "passes")->history_key, key);
    free (key);
    free (real);
    tm_tasklist_destroy (&tasks);
}

Test (discover, manifest_goes_through_tm_manifest)
{
    const char *target = tmu_path ("fixtures/manifest.ini");
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    cr_assert_eq (tm_adapter_discover (target, TM_KIND_AUTO, false, tasks, &err), 0,
                  "%s", err);
    cr_assert_eq (tm_tasklist_size (tasks), 6);
    cr_assert_eq (tm_tasklist_get (tasks, 0)->kind, TM_KIND_MANIFEST);
    tm_tasklist_destroy (&tasks);
}

Test (discover, manifest_error_names_file_and_line)
{
    const char *target = tmu_path ("fixtures/bad_unknown_key.ini");
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    cr_assert_eq (tm_adapter_discover (target, TM_KIND_AUTO, false, tasks, &err), -1);
    char *prefix = tm_strdupf ("%s:3: ", target);
    cr_assert (strncmp (err, prefix, strlen (prefix)) == 0, "%s", err);
    free (prefix);
    free (err);
    tm_tasklist_destroy (&tasks);
}

Test (discover, binary_crashing_on_list_reports_the_signal)
{
    const char *target = tmu_path ("fixtures/crash_on_list");
    tm_tasklist_t *tasks = tm_tasklist_new ();
    tm_task_t *task = tm_task_new ("earlier", "x", TM_KIND_GTEST);
    tm_tasklist_append (tasks, &task);
    char *err = NULL;
    cr_assert_eq (tm_adapter_discover (target, TM_KIND_AUTO, false, tasks, &err), -1);
    char *expected = tm_strdupf ("%s: crashed while listing tests (signal 11: SIGSEGV)",
                                 target);
    cr_assert_str_eq (err, expected);
    cr_assert_eq (tm_tasklist_size (tasks), 1, "tasks must be left unaltered");
    free (expected);
    free (err);
    tm_tasklist_destroy (&tasks);
}

Test (discover, binary_killed_by_a_realtime_signal_names_it_sig_n)
{
    //  sigabbrev_np has no name for realtime signals: this said "SIG?"
    char *dir = tmu_scratch ();
    char *target = tm_strdupf ("%s/rt_on_list", dir);
    char *script = tm_strdupf ("#!/bin/sh\nkill -%d $$\n", SIGRTMAX);
    tmu_write (target, script);
    cr_assert_eq (chmod (target, 0755), 0);
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    cr_assert_eq (tm_adapter_discover (target, TM_KIND_CRITERION, false, tasks, &err), -1);
    char *expected = tm_strdupf ("%s: crashed while listing tests (signal %d: SIG%d)",
                                 target, SIGRTMAX, SIGRTMAX);
    cr_assert_str_eq (err, expected);
    free (expected);
    free (err);
    tm_tasklist_destroy (&tasks);
    free (script);
    free (target);
    tmu_rmrf (dir);
    free (dir);
}

Test (discover, explicit_kind_skips_detection)
{
    //  not_a_test prints its arguments: "--list" is not a Criterion
    //  listing, which proves it was listed as Criterion without detection.
    const char *target = tmu_path ("fixtures/not_a_test");
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    cr_assert_eq (tm_adapter_discover (target, TM_KIND_CRITERION, false, tasks, &err), -1);
    cr_assert (strstr (err, "not a Criterion listing"), "%s", err);
    free (err);
    err = NULL;
    //  As GoogleTest, "--gtest_list_tests" at column 0 is noise: no tests
    cr_assert_eq (tm_adapter_discover (target, TM_KIND_GTEST, false, tasks, &err), 0,
                  "%s", err);
    cr_assert_eq (tm_tasklist_size (tasks), 0);
    tm_tasklist_destroy (&tasks);
}

Test (discover, missing_target_is_no_such_file_for_any_kind)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    cr_assert_eq (tm_adapter_discover ("/no/such/bin", TM_KIND_AUTO, false, tasks, &err), -1);
    cr_assert_str_eq (err, "/no/such/bin: No such file or directory");
    free (err);
    err = NULL;
    cr_assert_eq (tm_adapter_discover ("/no/such/bin", TM_KIND_GTEST, false, tasks, &err), -1);
    cr_assert_str_eq (err, "/no/such/bin: No such file or directory");
    free (err);
    tm_tasklist_destroy (&tasks);
}

Test (discover, listing_that_exits_non_zero_reports_the_status)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    cr_assert_eq (tm_adapter_discover ("/bin/false", TM_KIND_CRITERION, false, tasks, &err),
                  -1);
    char *real = realpath ("/bin/false", NULL);
    char *expected = tm_strdupf ("/bin/false: listing tests failed (%s exited with "
                                 "status 1)", real);
    cr_assert_str_eq (err, expected);
    free (expected);
    free (real);
    free (err);
    tm_tasklist_destroy (&tasks);
}

Test (discover, ctest_missing_from_path_is_a_clear_error)
{
    char *dir = tmu_scratch ();
    char *path = strdup (getenv ("PATH") ? getenv ("PATH") : "/usr/bin:/bin");
    setenv ("PATH", dir, 1);    //  An empty directory, in this worker only
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    const char *target = tmu_path ("fixtures/ctest");
    cr_assert_eq (tm_adapter_discover (target, TM_KIND_AUTO, false, tasks, &err), -1);
    char *expected = tm_strdupf ("%s: ctest not found in PATH (it comes with cmake)", target);
    cr_assert_str_eq (err, expected);
    free (expected);
    free (err);
    tm_tasklist_destroy (&tasks);
    setenv ("PATH", path, 1);   //  tmu_rmrf runs rm
    free (path);
    tmu_rmrf (dir);
    free (dir);
}

Test (discover, directory_as_binary_kind_is_an_error)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    char *err = NULL;
    cr_assert_eq (tm_adapter_discover ("/tmp", TM_KIND_CRITERION, false, tasks, &err), -1);
    cr_assert_str_eq (err, "/tmp: not an executable file");
    free (err);
    tm_tasklist_destroy (&tasks);
}

//  ---------------------------------------------------------------------
//  The argv we build, run for real, and classify on its output

//  Runs TASK's argv and folds the outcome into a result as the executor
//  would (exit 0 passed, else failed), then classifies it.
static tm_result_t *
s_run_task (tm_task_t *task)
{
    tmu_run_t run = tmu_run_argv (30, task->argv);
    tm_result_t *result = tm_result_new (task->id, task->index);
    result->status = run.status == 0 ? TM_STATUS_PASSED : TM_STATUS_FAILED;
    result->exit_code = run.status;
    result->out = run.out;
    result->out_size = run.out ? strlen (run.out) : 0;
    result->err = run.err;
    result->err_size = run.err ? strlen (run.err) : 0;
    tm_adapter_classify (task->kind, result);
    return result;
}

static tm_status_t
s_outcome (tm_tasklist_t *tasks, const char *id)
{
    tm_result_t *result = s_run_task (s_find (tasks, id));
    tm_status_t status = result->status;
    tm_result_destroy (&result);
    return status;
}

Test (discover, criterion_fixture_tests_run_alone_and_classify_right)
{
    const char *target = tmu_path ("fixtures/criterion_suite");
    tm_tasklist_t *tasks = tm_tasklist_new ();
    cr_assert_eq (tm_adapter_discover (target, TM_KIND_AUTO, false, tasks, NULL), 0);

    tm_result_t *one = s_run_task (s_find (tasks, "pass/one"));
    cr_assert_eq (one->status, TM_STATUS_PASSED);
    cr_assert (strstr (one->err, "Tested: 1 |"), "the filter must select one test: %s",
               one->err);
    tm_result_destroy (&one);

    cr_assert_eq (s_outcome (tasks, "outcome/fails"), TM_STATUS_FAILED);
    cr_assert_eq (s_outcome (tasks, "outcome/crashes"), TM_STATUS_CRASHED);
    cr_assert_eq (s_outcome (tasks, "outcome/skipped"), TM_STATUS_SKIPPED);
    cr_assert_eq (s_outcome (tasks, "outcome/times_out"), TM_STATUS_TIMEOUT);
    tm_tasklist_destroy (&tasks);
}

Test (discover, gtest_fixture_tests_run_alone_and_classify_right)
{
    const char *target = tmu_path ("fixtures/gtest_suite");
    tm_tasklist_t *tasks = tm_tasklist_new ();
    cr_assert_eq (tm_adapter_discover (target, TM_KIND_AUTO, false, tasks, NULL), 0);

    tm_result_t *even = s_run_task (s_find (tasks, "Nums/Parity.IsEven/1"));
    cr_assert_eq (even->status, TM_STATUS_PASSED);
    cr_assert (strstr (even->out, "[  PASSED  ] 1 test."), "%s", even->out);
    tm_result_destroy (&even);

    cr_assert_eq (s_outcome (tasks, "Arith.Fails"), TM_STATUS_FAILED);
    cr_assert_eq (s_outcome (tasks, "Arith.SkipsItself"), TM_STATUS_SKIPPED);
    tm_tasklist_destroy (&tasks);
}
