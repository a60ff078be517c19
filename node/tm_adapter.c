/*  tm_adapter.c - turn a target (binary, build directory, manifest) into tasks.

    Detection looks at the target without running it (tm_adapter_detect).
    Listing runs the binary, or ctest, through tm_proc_run with a timeout
    and parses what it prints with one parser per framework; the parsers
    are public so the unit tests can feed them canned output.

    Conventions every task made here follows (docs/architecture.md):

    1. id is the framework's own name for the test: "suite/test" for
       Criterion (what --filter takes), "Suite.Test" for GoogleTest (what
       --gtest_filter takes, "Nums/P.Even/0" for parameterised tests),
       the test's name for ctest and manifests.  With PREFIX it becomes
       "TARGET:id", TARGET exactly as given on the command line
       (tm_task_new_for, which manifests use too).
    2. argv [0] is absolute (realpath of the binary, or ctest's own
       absolute command), so a task runs the same from any cwd; argv is
       never NULL, even for a task that will be skipped.
       Criterion:  BINARY --filter ESCAPED_ID --jobs 1
       GoogleTest: BINARY --gtest_filter=ID
    3. cwd is NULL (the caller's) for binaries, ctest's WORKING_DIRECTORY
       (which ctest always sets, the build directory by default) for
       ctest, and the manifest's directory by default for manifests.
    4. history_key is "REALPATH\x1fID" with the unprefixed id, so it
       survives a change of cwd, of how the target is spelled, or of
       the prefix setting (tm_task_new_for again).
    5. skip_reason "disabled" marks tests the framework itself would
       not run: Criterion's " (skipped)" entries (.disabled = true),
       GoogleTest's DISABLED_ tests and suites, ctest's DISABLED.
    6. A ctest property testmesh acts on that it cannot take as it is
       (TIMEOUT not a number or over TM_TIMEOUT_MAX, SKIP_RETURN_CODE
       not an integer 0..255, ...) fails the whole discovery with one
       line, "TARGET: ctest test 'NAME' has a malformed property KEY",
       rather than run the test some other way than its author meant.

    Known limitations:
    - Criterion and GoogleTest names are C identifiers (GoogleTest adds
      '/' and digits for parameters), so ids never hold filter syntax.
      The Criterion filter is still escaped with '\' (Criterion 2.4.1
      takes "\x" as a literal x) in case that ever changes; GoogleTest
      filters have no escape, so ':' '-' '*' '?' in a name would break.
    - ctest's WILL_FAIL and SKIP_RETURN_CODE are honoured (tm_task_t's
      will_fail and skip_code, applied by the executor).  Those that
      match output (PASS_REGULAR_EXPRESSION, FAIL_REGULAR_EXPRESSION)
      and those that order or serialise tests (DEPENDS, FIXTURES_*,
      RESOURCE_LOCK, RUN_SERIAL) are ignored.
*/
#include "tm_adapter.h"
#include "tm_manifest.h"
#include "tm_proc.h"
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

//  Most bytes of listing output we keep (a bigger listing is not ours).
#define S_LIST_LIMIT    (64 * 1024 * 1024)

//  Tree branches Criterion draws before each test name, UTF-8 and ASCII.
static const char *s_criterion_branches [] = {
    "\xe2\x94\x9c\xe2\x94\x80\xe2\x94\x80 ",     //  "├── "
    "\xe2\x94\x94\xe2\x94\x80\xe2\x94\x80 ",     //  "└── "
    "|-- ",
    "`-- "
};

//  Returns the next line of *CURSOR (a copy the caller frees, without
//  its "\n" or trailing "\r" and blanks) and advances; NULL at the end.
static char *
s_next_line (const char **cursor)
{
    const char *start = *cursor;
    if (!*start)
        return NULL;
    const char *end = strchr (start, '\n');
    size_t len = end ? (size_t) (end - start) : strlen (start);
    *cursor = end ? end + 1 : start + len;
    while (len && (start [len - 1] == '\r' || start [len - 1] == ' '
                   || start [len - 1] == '\t'))
        len--;
    return strndup (start, len);
}

static bool
s_ends_with (const char *str, const char *suffix)
{
    size_t len = strlen (str), suffix_len = strlen (suffix);
    return len >= suffix_len && streq (str + len - suffix_len, suffix);
}

//  ---------------------------------------------------------------------
//  Criterion

//  Escapes Criterion's glob characters with a backslash.
static char *
s_criterion_escape (const char *id)
{
    char *escaped = (char *) malloc (2 * strlen (id) + 1);
    assert (escaped);
    char *out = escaped;
    for (const char *p = id; *p; p++) {
        if (strchr ("\\[]*?!+@(){}|", *p))
            *out++ = '\\';
        *out++ = *p;
    }
    *out = 0;
    return escaped;
}

//  Parses a "NAME: N test(s)" suite header.  Returns the name (caller
//  frees) and sets *COUNT, or returns NULL if LINE is not one.
static char *
s_criterion_suite (const char *line, long *count)
{
    const char *colon = strstr (line, ": ");
    if (!colon || colon == line || strcspn (line, " \t") < (size_t) (colon - line))
        return NULL;            //  No name, or a name with blanks
    const char *digits = colon + 2;
    if (!isdigit ((unsigned char) *digits))
        return NULL;
    char *end;
    long number = strtol (digits, &end, 10);
    if (!streq (end, " test") && !streq (end, " tests"))
        return NULL;
    *count = number;
    return strndup (line, colon - line);
}

//  Returns the test name after a tree branch, or NULL.
static const char *
s_criterion_branch (const char *line)
{
    for (size_t i = 0; i < sizeof s_criterion_branches / sizeof (char *); i++) {
        size_t len = strlen (s_criterion_branches [i]);
        if (strncmp (line, s_criterion_branches [i], len) == 0)
            return line + len;
    }
    return NULL;
}

int
tm_adapter_parse_criterion_list (const char *binary, const char *target,
                                 const char *output, bool prefix,
                                 tm_tasklist_t *tasks, char **err)
{
    assert (binary && target && output && tasks);
    tm_tasklist_t *found = tm_tasklist_new ();
    char *suite = NULL;         //  Current suite
    long announced = 0;         //  Tests its header announced
    long listed = 0;            //  Tests listed under it so far
    int suites = 0;             //  Suite headers seen
    bool content = false;       //  Output holds a non-blank line
    int rc = 0;
    const char *cursor = output;
    char *line;
    while (rc == 0 && (line = s_next_line (&cursor))) {
        const char *name = s_criterion_branch (line);
        long count = 0;
        char *header = name ? NULL : s_criterion_suite (line, &count);
        if (*line)
            content = true;
        if (name) {
            char *test = strdup (name);
            bool disabled = s_ends_with (test, " (skipped)");
            if (disabled)
                test [strlen (test) - strlen (" (skipped)")] = 0;
            if (!suite || !*test)
                rc = tm_fail (err, "%s: not a Criterion listing (test line '%s' %s)",
                              target, line, suite ? "without a name" : "before any suite");
            else {
                char *id = tm_strdupf ("%s/%s", suite, test);
                char *filter = s_criterion_escape (id);
                tm_task_t *task = tm_task_new_for (target, TM_KIND_CRITERION, id, prefix, binary);
                tm_strv_push (&task->argv, binary);
                tm_strv_push (&task->argv, "--filter");
                tm_strv_push (&task->argv, filter);
                tm_strv_push (&task->argv, "--jobs");
                tm_strv_push (&task->argv, "1");
                if (disabled)
                    task->skip_reason = strdup ("disabled");
                tm_tasklist_append (found, &task);
                free (filter);
                free (id);
                listed++;
            }
            free (test);
        }
        else
        if (header) {
            if (suite && listed != announced)
                rc = tm_fail (err, "%s: not a Criterion listing (suite '%s' announces "
                              "%ld tests but lists %ld)", target, suite, announced, listed);
            free (suite);
            suite = header;
            announced = count;
            listed = 0;
            suites++;
        }
        //  Anything else is noise (a constructor that prints, say)
        free (line);
    }
    if (rc == 0 && suite && listed != announced)
        rc = tm_fail (err, "%s: not a Criterion listing (suite '%s' announces %ld "
                      "tests but lists %ld)", target, suite, announced, listed);
    if (rc == 0 && content && suites == 0)
        rc = tm_fail (err, "%s: not a Criterion listing (no 'SUITE: N tests' line)",
                      target);
    free (suite);
    if (rc == 0) {
        rc = (int) tm_tasklist_size (found);
        tm_tasklist_splice (tasks, &found);
    }
    tm_tasklist_destroy (&found);
    return rc;
}

//  ---------------------------------------------------------------------
//  GoogleTest

//  GoogleTest's own rule: a name is disabled when it, or its part after
//  a '/' (an instantiation or type prefix), starts with DISABLED_.
static bool
s_gtest_disabled (const char *name)
{
    return strncmp (name, "DISABLED_", 9) == 0 || strstr (name, "/DISABLED_");
}

int
tm_adapter_parse_gtest_list (const char *binary, const char *target,
                             const char *output, bool prefix,
                             tm_tasklist_t *tasks, char **err)
{
    assert (binary && target && output && tasks);
    tm_tasklist_t *found = tm_tasklist_new ();
    char *suite = NULL;
    int rc = 0;
    const char *cursor = output;
    char *line;
    while (rc == 0 && (line = s_next_line (&cursor))) {
        if (line [0] == ' ' && line [1] == ' ' && line [2] && !isspace ((unsigned char) line [2])) {
            //  "  Test" or "  Even/0  # GetParam() = 2"
            char *test = line + 2;
            test [strcspn (test, " \t")] = 0;
            if (!suite)
                rc = tm_fail (err, "%s: not a GoogleTest listing (test '%s' before any "
                              "suite)", target, test);
            else {
                char *id = tm_strdupf ("%s.%s", suite, test);
                char *filter = tm_strdupf ("--gtest_filter=%s", id);
                tm_task_t *task = tm_task_new_for (target, TM_KIND_GTEST, id, prefix, binary);
                tm_strv_push (&task->argv, binary);
                tm_strv_push (&task->argv, filter);
                if (s_gtest_disabled (suite) || s_gtest_disabled (test))
                    task->skip_reason = strdup ("disabled");
                tm_tasklist_append (found, &task);
                free (filter);
                free (id);
            }
        }
        else
        if (line [0] && !isspace ((unsigned char) line [0])) {
            //  "Suite." or "TT/0.  # TypeParam = int"; anything else
            //  at column 0 is noise ("Running main() from ...")
            size_t len = strcspn (line, " \t");
            const char *rest = line + len;
            while (isspace ((unsigned char) *rest))
                rest++;
            if (len > 1 && line [len - 1] == '.' && (*rest == 0 || *rest == '#')) {
                free (suite);
                suite = strndup (line, len - 1);
            }
        }
        free (line);
    }
    free (suite);
    if (rc == 0) {
        rc = (int) tm_tasklist_size (found);
        tm_tasklist_splice (tasks, &found);
    }
    tm_tasklist_destroy (&found);
    return rc;
}

//  ---------------------------------------------------------------------
//  ctest

//  Appends every string of the JSON array VALUE to *DEST; -1 if VALUE
//  is not an array of strings.
static int
s_json_strings (json_t *value, char ***dest)
{
    if (!json_is_array (value))
        return -1;
    size_t i;
    json_t *item;
    json_array_foreach (value, i, item) {
        if (!json_is_string (item))
            return -1;
        tm_strv_push (dest, json_string_value (item));
    }
    return 0;
}

//  Reads an exit status, 0 to 255, into *CODE: ctest gives it as a JSON
//  integer; its text form (decimal digits only) is taken too.  Returns
//  -1, *CODE untouched, for anything else: a fraction, a sign, blanks,
//  trailing text, or a number out of range.
static int
s_ctest_exit_code (json_t *value, int *code)
{
    long number = -1;
    if (json_is_integer (value)) {
        json_int_t integer = json_integer_value (value);
        if (integer >= 0 && integer <= 255)
            number = (long) integer;
    }
    else
    if (json_is_string (value)) {
        const char *text = json_string_value (value);
        char *end = NULL;
        errno = 0;
        if (isdigit ((unsigned char) text [0]))
            number = strtol (text, &end, 10);
        if (errno || !end || *end)
            number = -1;
    }
    if (number < 0 || number > 255)
        return -1;
    *code = (int) number;
    return 0;
}

//  Applies one ctest property to TASK.  Returns -1 on a malformed one.
static int
s_ctest_property (tm_task_t *task, const char *name, json_t *value)
{
    if (streq (name, "WORKING_DIRECTORY")) {
        if (!json_is_string (value))
            return -1;
        free (task->cwd);
        task->cwd = strdup (json_string_value (value));
    }
    else
    if (streq (name, "ENVIRONMENT"))
        return s_json_strings (value, &task->env);
    else
    if (streq (name, "LABELS"))
        return s_json_strings (value, &task->labels);
    else
    if (streq (name, "TIMEOUT")) {
        //  Seconds; 0 or less is "none set" (the run's default).  The
        //  bound is --timeout's and the manifest's.
        if (!json_is_number (value))
            return -1;
        double timeout = json_number_value (value);
        if (!isfinite (timeout) || timeout > TM_TIMEOUT_MAX)
            return -1;
        task->timeout = timeout > 0 ? timeout : 0;
    }
    else
    if (streq (name, "WILL_FAIL"))
        task->will_fail = json_is_true (value);
    else
    if (streq (name, "SKIP_RETURN_CODE")) {
        if (s_ctest_exit_code (value, &task->skip_code))
            return -1;
    }
    else
    if (streq (name, "DISABLED")) {
        if (json_is_true (value)) {
            free (task->skip_reason);
            task->skip_reason = strdup ("disabled");
        }
    }
    else
        tm_debug ("adapter", "%s: ctest property %s ignored", task->id, name);
    return 0;
}

//  Makes the task for one entry of ctest's "tests" array, or returns
//  NULL with *err set if the entry is malformed.
static tm_task_t *
s_ctest_task (const char *target, const char *key_base, json_t *test, size_t index,
              bool prefix, char **err)
{
    const char *name = json_string_value (json_object_get (test, "name"));
    if (!name || !*name) {
        tm_fail (err, "%s: ctest test #%zu has no name", target, index + 1);
        return NULL;
    }
    tm_task_t *task = tm_task_new_for (target, TM_KIND_CTEST, name, prefix, key_base);
    json_t *command = json_object_get (test, "command");
    if (command && s_json_strings (command, &task->argv)) {
        tm_fail (err, "%s: ctest test '%s' has a malformed command", target, name);
        tm_task_destroy (&task);
        return NULL;
    }
    if (!task->argv) {
        //  ctest prints no command when it cannot find the program: the
        //  test's executable is not built.  argv stays non-NULL.
        tm_strv_push (&task->argv, "false");
        task->skip_reason = strdup ("not built: ctest found no command for it");
    }
    size_t i;
    json_t *property;
    json_array_foreach (json_object_get (test, "properties"), i, property) {
        const char *key = json_string_value (json_object_get (property, "name"));
        if (!key || s_ctest_property (task, key, json_object_get (property, "value"))) {
            tm_fail (err, "%s: ctest test '%s' has a malformed property %s",
                     target, name, key ? key : "(no name)");
            tm_task_destroy (&task);
            return NULL;
        }
    }
    if (!task->cwd)
        task->cwd = strdup (key_base);
    return task;
}

int
tm_adapter_parse_ctest_json (const char *target, const char *json,
                             bool prefix, tm_tasklist_t *tasks, char **err)
{
    assert (target && json && tasks);
    json_error_t error;
    json_t *root = json_loads (json, 0, &error);
    if (!root)
        return tm_fail (err, "%s: ctest printed invalid JSON (line %d: %s)",
                        target, error.line, error.text);
    json_t *tests = json_object_get (root, "tests");
    if (!json_is_array (tests)) {
        json_decref (root);
        return tm_fail (err, "%s: not a ctest JSON listing (no \"tests\" array)", target);
    }
    char *key_base = realpath (target, NULL);
    if (!key_base)
        key_base = strdup (target);
    tm_tasklist_t *found = tm_tasklist_new ();
    int rc = 0;
    size_t index;
    json_t *test;
    json_array_foreach (tests, index, test) {
        tm_task_t *task = s_ctest_task (target, key_base, test, index, prefix, err);
        if (!task) {
            rc = -1;
            break;
        }
        tm_tasklist_append (found, &task);
    }
    if (rc == 0) {
        rc = (int) tm_tasklist_size (found);
        tm_tasklist_splice (tasks, &found);
    }
    tm_tasklist_destroy (&found);
    free (key_base);
    json_decref (root);
    return rc;
}

//  ---------------------------------------------------------------------
//  Detection

static bool
s_contains (const void *data, size_t size, const char *needle)
{
    return memmem (data, size, needle, strlen (needle)) != NULL;
}

int
tm_adapter_detect (const char *target, tm_kind_t *kind, char **err)
{
    assert (target && kind);
    struct stat st;
    if (stat (target, &st))
        return tm_fail (err, "%s: %s", target, strerror (errno));
    if (S_ISDIR (st.st_mode)) {
        char *testfile = tm_strdupf ("%s/CTestTestfile.cmake", target);
        bool found = access (testfile, F_OK) == 0;
        free (testfile);
        if (!found)
            return tm_fail (err, "%s: a directory without CTestTestfile.cmake "
                            "(not a ctest build directory)", target);
        *kind = TM_KIND_CTEST;
        return 0;
    }
    if (!S_ISREG (st.st_mode))
        return tm_fail (err, "%s: not a regular file or directory", target);

    int fd = open (target, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tm_fail (err, "%s: %s", target, strerror (errno));
    char magic [4];
    if (pread (fd, magic, sizeof magic, 0) != sizeof magic
    ||  memcmp (magic, "\x7f" "ELF", sizeof magic) != 0) {
        close (fd);
        *kind = TM_KIND_MANIFEST;   //  Any readable non-ELF file
        return 0;
    }
    if (access (target, X_OK)) {
        close (fd);
        return tm_fail (err, "%s: an ELF file that is not executable "
                        "(not a test binary)", target);
    }
    void *data = mmap (NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close (fd);
    if (data == MAP_FAILED)
        return tm_fail (err, "%s: cannot map: %s", target, strerror (errno));
    //  GoogleTest first: its markers are specific, while "criterion_"
    //  could be any symbol of the code under test.
    int rc = 0;
    if (s_contains (data, st.st_size, "gtest_list_tests")
    ||  s_contains (data, st.st_size, "libgtest"))
        *kind = TM_KIND_GTEST;
    else
    if (s_contains (data, st.st_size, "libcriterion")
    ||  s_contains (data, st.st_size, "criterion_"))
        *kind = TM_KIND_CRITERION;
    else
        rc = tm_fail (err, "%s: not a test binary (no Criterion or GoogleTest found; "
                      "use --kind)", target);
    munmap (data, st.st_size);
    return rc;
}

//  ---------------------------------------------------------------------
//  Listing

//  Runs ARGV to list tests.  Returns 0 with *OUTPUT set (caller frees),
//  or -1 with *err naming TARGET.
static int
s_run_listing (const char *target, char *const argv [], const char *cwd,
               char **output, char **err)
{
    char *why = NULL;
    int exit_code = 0, signal = 0;
    *output = NULL;
    if (tm_proc_run (argv, cwd, TM_ADAPTER_LIST_TIMEOUT, S_LIST_LIMIT,
                     output, &exit_code, &signal, &why)) {
        tm_fail (err, "%s: cannot list tests: %s", target, why ? why : "unknown error");
        free (why);
        return -1;
    }
    if (signal || exit_code) {
        free (*output);
        *output = NULL;
        if (signal)
            return tm_fail (err, "%s: crashed while listing tests (signal %d: %s)",
                            target, signal, tm_signal_name (signal));
        return tm_fail (err, "%s: listing tests failed (%s exited with status %d)",
                        target, argv [0], exit_code);
    }
    if (!*output)
        *output = strdup ("");
    return 0;
}

static int
s_list_binary (const char *target, const char *real, tm_kind_t kind, bool prefix,
               tm_tasklist_t *tasks, char **err)
{
    struct stat st;
    if (stat (real, &st) || !S_ISREG (st.st_mode) || access (real, X_OK))
        return tm_fail (err, "%s: not an executable file", target);
    char *argv [] = { (char *) real,
                      (char *) (kind == TM_KIND_GTEST ? "--gtest_list_tests" : "--list"),
                      NULL };
    char *output;
    if (s_run_listing (target, argv, NULL, &output, err))
        return -1;
    int rc = kind == TM_KIND_GTEST
           ? tm_adapter_parse_gtest_list (real, target, output, prefix, tasks, err)
           : tm_adapter_parse_criterion_list (real, target, output, prefix, tasks, err);
    free (output);
    return rc;
}

static int
s_list_ctest (const char *target, const char *real, bool prefix,
              tm_tasklist_t *tasks, char **err)
{
    struct stat st;
    if (stat (real, &st) || !S_ISDIR (st.st_mode))
        return tm_fail (err, "%s: not a ctest build directory", target);
    char *ctest = tm_path_search ("ctest", NULL);
    if (!ctest)
        return tm_fail (err, "%s: ctest not found in PATH (it comes with cmake)", target);
    char *argv [] = { ctest, (char *) "--show-only=json-v1", NULL };
    char *output;
    int rc = s_run_listing (target, argv, real, &output, err);
    free (ctest);
    if (rc)
        return -1;
    rc = tm_adapter_parse_ctest_json (target, output, prefix, tasks, err);
    free (output);
    return rc;
}

int
tm_adapter_discover (const char *target, tm_kind_t kind, bool prefix,
                     tm_tasklist_t *tasks, char **err)
{
    assert (target && tasks);
    if (kind == TM_KIND_AUTO && tm_adapter_detect (target, &kind, err))
        return -1;
    char *real = realpath (target, NULL);
    if (!real)
        return tm_fail (err, "%s: %s", target, strerror (errno));
    size_t before = tm_tasklist_size (tasks);
    int rc = -1;
    switch (kind) {
        case TM_KIND_CRITERION:
        case TM_KIND_GTEST:
            rc = s_list_binary (target, real, kind, prefix, tasks, err);
            break;
        case TM_KIND_CTEST:
            rc = s_list_ctest (target, real, prefix, tasks, err);
            break;
        case TM_KIND_MANIFEST:
            rc = tm_manifest_load (target, target, prefix, tasks, err);
            break;
        case TM_KIND_AUTO:
            assert (false);
    }
    if (rc >= 0)
        tm_debug ("adapter", "%s: %s, %zu tests", target, tm_kind_name (kind),
                  tm_tasklist_size (tasks) - before);
    free (real);
    return rc < 0 ? -1 : 0;
}

//  ---------------------------------------------------------------------
//  Classification

//  Finds the last "[====] Synthesis: Tested: ..." line of a Criterion
//  run in DATA and reads its counts.  Returns false if there is none.
static bool
s_criterion_synthesis (const char *data, size_t size, int *tested, int *crashing)
{
    static const char needle [] = "Synthesis: Tested: ";
    const char *last = NULL;
    const char *p = data;
    while (data && (p = (const char *) memmem (p, size - (p - data),
                                               needle, sizeof needle - 1))) {
        last = p;
        p += sizeof needle - 1;
    }
    if (!last)
        return false;
    //  The line is short; copy it so sscanf cannot run past the buffer
    char line [256];
    size_t len = size - (last - data);
    if (len > sizeof line - 1)
        len = sizeof line - 1;
    memcpy (line, last, len);
    line [len] = 0;
    int passing, failing;
    return sscanf (line, "Synthesis: Tested: %d | Passing: %d | Failing: %d | Crashing: %d",
                   tested, &passing, &failing, crashing) == 4;
}

static bool
s_output_contains (tm_result_t *result, const char *needle)
{
    return (result->out && s_contains (result->out, result->out_size, needle))
        || (result->err && s_contains (result->err, result->err_size, needle));
}

static void
s_classify_criterion (tm_result_t *result)
{
    //  Criterion reports on stderr; look there first, then on stdout
    int tested = -1, crashing = 0;
    if (!s_criterion_synthesis (result->err, result->err_size, &tested, &crashing)
    &&  !s_criterion_synthesis (result->out, result->out_size, &tested, &crashing))
        return;
    bool timed_out = s_output_contains (result, "Timed out.");
    if (result->status == TM_STATUS_PASSED && tested == 0) {
        result->status = TM_STATUS_SKIPPED;
        tm_result_set_message (result, "skipped by the test");
    }
    else
    if (result->status == TM_STATUS_FAILED && timed_out) {
        result->status = TM_STATUS_TIMEOUT;
        tm_result_set_message (result, "timed out (Criterion's own timeout)");
    }
    else
    if (result->status == TM_STATUS_FAILED && crashing > 0) {
        result->status = TM_STATUS_CRASHED;
        tm_result_set_message (result, "crashed (Criterion caught a signal)");
    }
}

static void
s_classify_gtest (tm_result_t *result)
{
    if (result->status == TM_STATUS_PASSED
    &&  s_output_contains (result, "[  SKIPPED ]")
    &&  s_output_contains (result, "[  PASSED  ] 0 tests")) {
        result->status = TM_STATUS_SKIPPED;
        tm_result_set_message (result, "skipped by the test");
    }
}

void
tm_adapter_classify (tm_kind_t kind, tm_result_t *result)
{
    assert (result);
    if (kind == TM_KIND_CRITERION)
        s_classify_criterion (result);
    else
    if (kind == TM_KIND_GTEST)
        s_classify_gtest (result);
}
