/*  test_report.c - the console reporter, the JUnit and JSON report files,
    and the text helpers under them (tm_text).

    XML is checked with xmllint (libxml2-utils, `make deps`): well-formed,
    and valid against a strict JUnit schema written below after Jenkins'
    junit-10.xsd.  A missing xmllint fails the tests, it does not skip.
*/
#include "tm_testutil.h"
#include "tm_report.h"
#include "tm_text.h"
#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>

//  ---------------------------------------------------------------------
//  Fixtures

//  Makes a result with the given status, duration and outputs (copied;
//  NULL for none).
static tm_result_t *
s_result (const char *id, size_t index, tm_status_t status, double duration,
          const char *out, const char *err)
{
    tm_result_t *result = tm_result_new (id, index);
    result->status = status;
    result->duration = duration;
    result->started = 1700000000.0 + index;
    //  Run here, as in a local run (junit names other members)
    char host [256] = "localhost";
    gethostname (host, sizeof host - 1);
    result->member = strdup (host);
    result->exit_code = status == TM_STATUS_FAILED? 1: 0;
    if (out) {
        result->out_size = strlen (out);
        result->out = (char *) malloc (result->out_size + 1);
        memcpy (result->out, out, result->out_size + 1);
    }
    if (err) {
        result->err_size = strlen (err);
        result->err = (char *) malloc (result->err_size + 1);
        memcpy (result->err, err, result->err_size + 1);
    }
    return result;
}

//  Replaces RESULT's stdout with SIZE bytes of DATA (may hold NUL).
static void
s_set_out (tm_result_t *result, const char *data, size_t size)
{
    free (result->out);
    result->out = (char *) malloc (size + 1);
    memcpy (result->out, data, size);
    result->out [size] = 0;
    result->out_size = size;
}

//  A run of two targets and one test of each status, plus a task with no
//  result.  Results are indexed by task index.
typedef struct {
    tm_tasklist_t *tasks;
    tm_result_t *results [8];
    size_t count;
} s_run_t;

static void
s_run_add (s_run_t *run, const char *target, tm_kind_t kind, const char *id,
           tm_result_t *result)
{
    tm_task_t *task = tm_task_new (id, target, kind);
    size_t index = tm_tasklist_size (run->tasks);
    tm_tasklist_append (run->tasks, &task);
    if (result)
        result->index = index;
    run->results [index] = result;
    run->count = index + 1;
}

static s_run_t
s_run_new (void)
{
    s_run_t run = { tm_tasklist_new (), { NULL }, 0 };
    s_run_add (&run, "build/unit", TM_KIND_CRITERION, "math/add",
               s_result ("math/add", 0, TM_STATUS_PASSED, 0.012, "ok\n", NULL));
    tm_result_t *failed = s_result ("math/div", 0, TM_STATUS_FAILED, 0.5,
                                    "dividing\n", "div.c:12: assertion failed\n");
    tm_result_set_message (failed, "exit status 1");
    s_run_add (&run, "build/unit", TM_KIND_CRITERION, "math/div", failed);
    tm_result_t *flaky = s_result ("net/retry", 0, TM_STATUS_FLAKY, 1.25, NULL, NULL);
    flaky->attempts = 2;
    s_run_add (&run, "build/unit", TM_KIND_CRITERION, "net/retry", flaky);
    tm_result_t *timeout = s_result ("Slow.Forever", 0, TM_STATUS_TIMEOUT, 5.0,
                                     "waiting\n", NULL);
    timeout->exit_code = -1;
    timeout->signal = SIGKILL;
    tm_result_set_message (timeout, "timed out after 5 s");
    s_run_add (&run, "build/gtests", TM_KIND_GTEST, "Slow.Forever", timeout);
    tm_result_t *crashed = s_result ("Mem.Segv", 0, TM_STATUS_CRASHED, 0.031,
                                     NULL, "about to crash\n");
    crashed->exit_code = -1;
    crashed->signal = SIGSEGV;
    s_run_add (&run, "build/gtests", TM_KIND_GTEST, "Mem.Segv", crashed);
    tm_result_t *skipped = s_result ("Db.Postgres", 0, TM_STATUS_SKIPPED, 0, NULL, NULL);
    tm_result_set_message (skipped, "no database");
    s_run_add (&run, "build/gtests", TM_KIND_GTEST, "Db.Postgres", skipped);
    s_run_add (&run, "build/gtests", TM_KIND_GTEST, "Never.Ran", NULL);
    return run;
}

static void
s_run_destroy (s_run_t *run)
{
    for (size_t i = 0; i < run->count; i++)
        tm_result_destroy (&run->results [i]);
    tm_tasklist_destroy (&run->tasks);
}

//  Runs xmllint on PATH (with --schema SCHEMA if not NULL); returns its
//  exit status, after printing what it said if that is not 0.  Fails the
//  test if xmllint is not installed.
static int
s_xmllint (const char *path, const char *schema)
{
    if (system ("command -v xmllint >/dev/null 2>&1") != 0)
        cr_assert_fail ("xmllint is missing: install libxml2-utils (make deps)");
    char command [4200];
    if (schema)
        snprintf (command, sizeof command, "xmllint --noout --schema '%s' '%s' 2>&1",
                  schema, path);
    else
        snprintf (command, sizeof command, "xmllint --noout '%s' 2>&1", path);
    FILE *pipe = popen (command, "r");
    cr_assert_not_null (pipe);
    char said [8192];
    size_t got = fread (said, 1, sizeof said - 1, pipe);
    said [got] = 0;
    int status = pclose (pipe);
    int code = WIFEXITED (status)? WEXITSTATUS (status): -1;
    if (code != 0)
        fprintf (stderr, "%s: %s", command, said);
    return code;
}

//  Evaluates an XPath expression on PATH and returns its string value.
static char *
s_xpath (const char *path, const char *expression)
{
    char command [4200];
    snprintf (command, sizeof command, "xmllint --xpath \"%s\" '%s' 2>&1",
              expression, path);
    FILE *pipe = popen (command, "r");
    cr_assert_not_null (pipe);
    char *text = NULL;
    size_t size = 0;
    FILE *buf = open_memstream (&text, &size);
    char chunk [4096];
    size_t got;
    while ((got = fread (chunk, 1, sizeof chunk, pipe)) > 0)
        fwrite (chunk, 1, got, buf);
    pclose (pipe);
    fclose (buf);
    //  xmllint ends what it prints with a newline of its own.
    if (size > 0 && text [size - 1] == '\n')
        text [size - 1] = 0;
    return text;
}

//  A strict JUnit schema after Jenkins' junit-10.xsd: undeclared elements
//  or attributes, or elements out of order, fail validation.  It adds
//  "skipped" on testsuites, which Jenkins' lacks and its readers ignore.
static const char *s_junit_xsd =
"<?xml version='1.0' encoding='UTF-8'?>\n"
"<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema'>\n"
" <xs:complexType name='verdict' mixed='true'>\n"
"  <xs:attribute name='message' type='xs:string'/>\n"
"  <xs:attribute name='type' type='xs:string'/>\n"
" </xs:complexType>\n"
" <xs:simpleType name='count'><xs:restriction base='xs:nonNegativeInteger'/></xs:simpleType>\n"
" <xs:simpleType name='seconds'><xs:restriction base='xs:decimal'>\n"
"  <xs:minInclusive value='0'/></xs:restriction></xs:simpleType>\n"
" <xs:element name='testsuites'><xs:complexType>\n"
"  <xs:sequence>\n"
"   <xs:element name='testsuite' minOccurs='0' maxOccurs='unbounded'><xs:complexType>\n"
"    <xs:sequence>\n"
"     <xs:element name='properties' minOccurs='0'><xs:complexType><xs:sequence>\n"
"      <xs:element name='property' minOccurs='0' maxOccurs='unbounded'><xs:complexType>\n"
"       <xs:attribute name='name' type='xs:string' use='required'/>\n"
"       <xs:attribute name='value' type='xs:string' use='required'/>\n"
"      </xs:complexType></xs:element>\n"
"     </xs:sequence></xs:complexType></xs:element>\n"
"     <xs:element name='testcase' minOccurs='0' maxOccurs='unbounded'><xs:complexType>\n"
"      <xs:sequence>\n"
"       <xs:element name='skipped' type='verdict' minOccurs='0'/>\n"
"       <xs:element name='error' type='verdict' minOccurs='0' maxOccurs='unbounded'/>\n"
"       <xs:element name='failure' type='verdict' minOccurs='0' maxOccurs='unbounded'/>\n"
"       <xs:element name='system-out' type='xs:string' minOccurs='0' maxOccurs='unbounded'/>\n"
"       <xs:element name='system-err' type='xs:string' minOccurs='0' maxOccurs='unbounded'/>\n"
"      </xs:sequence>\n"
"      <xs:attribute name='name' type='xs:string' use='required'/>\n"
"      <xs:attribute name='classname' type='xs:string' use='required'/>\n"
"      <xs:attribute name='time' type='seconds' use='required'/>\n"
"     </xs:complexType></xs:element>\n"
"     <xs:element name='system-out' type='xs:string' minOccurs='0'/>\n"
"     <xs:element name='system-err' type='xs:string' minOccurs='0'/>\n"
"    </xs:sequence>\n"
"    <xs:attribute name='name' type='xs:string' use='required'/>\n"
"    <xs:attribute name='tests' type='count' use='required'/>\n"
"    <xs:attribute name='failures' type='count' use='required'/>\n"
"    <xs:attribute name='errors' type='count' use='required'/>\n"
"    <xs:attribute name='skipped' type='count'/>\n"
"    <xs:attribute name='time' type='seconds' use='required'/>\n"
"    <xs:attribute name='timestamp' type='xs:dateTime' use='required'/>\n"
"    <xs:attribute name='hostname' type='xs:string' use='required'/>\n"
"    <xs:attribute name='id' type='xs:string'/>\n"
"    <xs:attribute name='package' type='xs:string'/>\n"
"   </xs:complexType></xs:element>\n"
"  </xs:sequence>\n"
"  <xs:attribute name='name' type='xs:string'/>\n"
"  <xs:attribute name='tests' type='count'/>\n"
"  <xs:attribute name='failures' type='count'/>\n"
"  <xs:attribute name='errors' type='count'/>\n"
"  <xs:attribute name='skipped' type='count'/>\n"
"  <xs:attribute name='disabled' type='count'/>\n"
"  <xs:attribute name='time' type='seconds'/>\n"
" </xs:complexType></xs:element>\n"
"</xs:schema>\n";

//  Writes the JUnit report of RUN into DIR/report.xml; returns its path.
static char *
s_write_junit (const char *dir, s_run_t *run)
{
    char *path = tm_strdupf ("%s/report.xml", dir);
    char *err = NULL;
    int rc = tm_report_junit (path, run->tasks, run->results, run->count, 7.5, &err);
    cr_assert_eq (rc, 0, "tm_report_junit: %s", err? err: "?");
    return path;
}

//  Console output goes to a memory stream.
typedef struct {
    char *text;
    size_t size;
    FILE *out;
} s_capture_t;

static void
s_capture_open (s_capture_t *capture)
{
    capture->text = NULL;
    capture->size = 0;
    capture->out = open_memstream (&capture->text, &capture->size);
    cr_assert_not_null (capture->out);
}

//  Returns the captured text so far (owned by CAPTURE).
static const char *
s_capture_text (s_capture_t *capture)
{
    fflush (capture->out);
    return capture->text? capture->text: "";
}

static void
s_capture_close (s_capture_t *capture)
{
    fclose (capture->out);
    free (capture->text);
}

//  ---------------------------------------------------------------------
//  JUnit

Test (junit, output_passes_xmllint)
{
    char *dir = tmu_scratch ();
    s_run_t run = s_run_new ();
    char *path = s_write_junit (dir, &run);
    cr_assert_eq (s_xmllint (path, NULL), 0, "xmllint rejects %s", path);
    free (path);
    s_run_destroy (&run);
    tmu_rmrf (dir);
    free (dir);
}

Test (junit, output_is_valid_against_strict_junit_schema)
{
    char *dir = tmu_scratch ();
    s_run_t run = s_run_new ();
    char *path = s_write_junit (dir, &run);
    char *schema = tm_strdupf ("%s/junit.xsd", dir);
    tmu_write (schema, s_junit_xsd);
    cr_assert_eq (s_xmllint (path, schema), 0, "%s is not valid JUnit", path);
    free (schema);
    free (path);
    s_run_destroy (&run);
    tmu_rmrf (dir);
    free (dir);
}

Test (junit, counts_attributes_match_statuses)
{
    char *dir = tmu_scratch ();
    s_run_t run = s_run_new ();
    char *path = s_write_junit (dir, &run);
    char *xml = tmu_slurp (path);
    //  7 tests: failed -> failures; timeout, crashed -> errors; skipped
    //  and no result -> skipped; flaky counts as a pass.
    cr_assert (strstr (xml, "<testsuites name=\"testmesh\" tests=\"7\" failures=\"1\""
                            " errors=\"2\" skipped=\"2\" time=\"7.500\">"), "%s", xml);
    cr_assert (strstr (xml, "<testsuite name=\"build/unit\" tests=\"3\" failures=\"1\""
                            " errors=\"0\" skipped=\"0\""), "%s", xml);
    cr_assert (strstr (xml, "<testsuite name=\"build/gtests\" tests=\"4\" failures=\"0\""
                            " errors=\"2\" skipped=\"2\""), "%s", xml);
    cr_assert_eq (tmu_count (xml, "<testcase "), 7);
    free (xml);
    free (path);
    s_run_destroy (&run);
    tmu_rmrf (dir);
    free (dir);
}

Test (junit, statuses_map_to_failure_error_and_skipped_elements)
{
    char *dir = tmu_scratch ();
    s_run_t run = s_run_new ();
    char *path = s_write_junit (dir, &run);
    char *xml = tmu_slurp (path);
    cr_assert (strstr (xml, "<failure message=\"exit status 1\" type=\"failed\">"), "%s", xml);
    cr_assert (strstr (xml, "<error message=\"timed out after 5 s\" type=\"timeout\">"), "%s", xml);
    cr_assert (strstr (xml, "<error message=\"killed by SIGSEGV\" type=\"crashed\">"), "%s", xml);
    cr_assert (strstr (xml, "<skipped message=\"no database\"/>"), "%s", xml);
    cr_assert (strstr (xml, "<skipped message=\"no result\"/>"), "%s", xml);
    cr_assert_eq (tmu_count (xml, "<failure "), 1);
    cr_assert_eq (tmu_count (xml, "<error "), 2);
    cr_assert_eq (tmu_count (xml, "<skipped "), 2);
    //  The failure quotes the output's tail.
    cr_assert (strstr (xml, "div.c:12: assertion failed"), "%s", xml);
    //  Flaky passes, and says so in system-out.
    char *flaky = s_xpath (path, "string(//testcase[@name='retry']/system-out)");
    cr_assert (strstr (flaky, "testmesh: flaky: failed, then passed on attempt 2"), "%s", flaky);
    free (flaky);
    char *children = s_xpath (path, "count(//testcase[@name='retry']/*)");
    cr_assert_str_eq (children, "1", "flaky testcase has only system-out: %s", children);
    free (children);
    free (xml);
    free (path);
    s_run_destroy (&run);
    tmu_rmrf (dir);
    free (dir);
}

Test (junit, output_goes_to_system_out_and_system_err)
{
    char *dir = tmu_scratch ();
    s_run_t run = s_run_new ();
    char *path = s_write_junit (dir, &run);
    char *out = s_xpath (path, "string(//testcase[@name='add']/system-out)");
    cr_assert_str_eq (out, "ok\n");
    free (out);
    char *err = s_xpath (path, "string(//testcase[@name='div']/system-err)");
    cr_assert_str_eq (err, "div.c:12: assertion failed\n");
    free (err);
    char *none = s_xpath (path, "count(//testcase[@name='add']/system-err)");
    cr_assert_str_eq (none, "0", "empty stderr leaves no element");
    free (none);
    free (path);
    s_run_destroy (&run);
    tmu_rmrf (dir);
    free (dir);
}

Test (junit, ids_split_into_classname_and_name)
{
    char *dir = tmu_scratch ();
    s_run_t run = { tm_tasklist_new (), { NULL }, 0 };
    s_run_add (&run, "build/unit", TM_KIND_CRITERION, "suite/test",
               s_result ("suite/test", 0, TM_STATUS_PASSED, 0.1, NULL, NULL));
    s_run_add (&run, "build/gt", TM_KIND_GTEST, "Suite.Test",
               s_result ("Suite.Test", 0, TM_STATUS_PASSED, 0.1, NULL, NULL));
    s_run_add (&run, "build/unit", TM_KIND_CRITERION, "build/unit:pre/fixed",
               s_result ("build/unit:pre/fixed", 0, TM_STATUS_PASSED, 0.1, NULL, NULL));
    s_run_add (&run, "suites/ctest/", TM_KIND_CTEST, "plain",
               s_result ("plain", 0, TM_STATUS_PASSED, 0.1, NULL, NULL));
    char *path = s_write_junit (dir, &run);
    char *xml = tmu_slurp (path);
    cr_assert (strstr (xml, "classname=\"suite\" name=\"test\""), "%s", xml);
    cr_assert (strstr (xml, "classname=\"Suite\" name=\"Test\""), "%s", xml);
    cr_assert (strstr (xml, "classname=\"pre\" name=\"fixed\""), "%s", xml);
    cr_assert (strstr (xml, "classname=\"ctest\" name=\"plain\""), "%s", xml);
    free (xml);
    free (path);
    s_run_destroy (&run);
    tmu_rmrf (dir);
    free (dir);
}

Test (junit, markup_invalid_utf8_and_control_bytes_are_escaped)
{
    char *dir = tmu_scratch ();
    s_run_t run = { tm_tasklist_new (), { NULL }, 0 };
    const char *id = "odd/<a href=\"x\">&'q'";
    tm_result_t *result = s_result (id, 0, TM_STATUS_FAILED, 0.1, NULL,
                                    "err ]]> <![CDATA[ \x1b[31mred\x1b[0m\n");
    tm_result_set_message (result, "bad \"quote\" & <tag>\nsecond line");
    //  NUL, a control byte, a stray continuation byte, an overlong '/',
    //  a lone surrogate, U+FFFE, a CR, then valid UTF-8 (é, €, 😀).
    static const char out [] =
        "a\0b\x01" "c\x80" "d\xC0\xAF" "e\xED\xA0\x80" "f\xEF\xBF\xBE" "g\r\n"
        "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\n";
    s_set_out (result, out, sizeof out - 1);
    s_run_add (&run, "build/odd", TM_KIND_CRITERION, id, result);
    char *path = s_write_junit (dir, &run);
    cr_assert_eq (s_xmllint (path, NULL), 0, "xmllint rejects %s", path);

    char *xml = tmu_slurp (path);
    cr_assert_null (strstr (xml, "]]>"), "no raw ]]> in %s", xml);
    cr_assert_null (strchr (xml, '\x01'));
    cr_assert_null (strchr (xml, '\x1b'));
    cr_assert (strstr (xml, "name=\"&lt;a href=&quot;x&quot;&gt;&amp;&apos;q&apos;\""), "%s", xml);
    cr_assert (strstr (xml, "message=\"bad &quot;quote&quot; &amp; &lt;tag&gt;&#10;second line\""),
               "%s", xml);
    free (xml);

    //  Parsed back, the text is the output with each bad byte as U+FFFD.
    char *text = s_xpath (path, "string(//testcase/system-out)");
    cr_assert_str_eq (text, "a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\xEF\xBF\xBD"
                            "d\xEF\xBF\xBD\xEF\xBF\xBD"
                            "e\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
                            "f\xEF\xBF\xBD" "g\r\n"
                            "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\n");
    free (text);
    char *name = s_xpath (path, "string(//testcase/@name)");
    cr_assert_str_eq (name, "<a href=\"x\">&'q'");
    free (name);
    free (path);
    s_run_destroy (&run);
    tmu_rmrf (dir);
    free (dir);
}

Test (junit, empty_run_is_valid)
{
    char *dir = tmu_scratch ();
    s_run_t run = { tm_tasklist_new (), { NULL }, 0 };
    char *path = s_write_junit (dir, &run);
    cr_assert_eq (s_xmllint (path, NULL), 0);
    char *xml = tmu_slurp (path);
    cr_assert (strstr (xml, "tests=\"0\""), "%s", xml);
    free (xml);
    free (path);
    s_run_destroy (&run);
    tmu_rmrf (dir);
    free (dir);
}

//  Counts the entries of DIR other than . and ..
static int
s_entries (const char *dir)
{
    DIR *handle = opendir (dir);
    cr_assert_not_null (handle);
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir (handle)))
        if (!streq (entry->d_name, ".") && !streq (entry->d_name, ".."))
            count++;
    closedir (handle);
    return count;
}

Test (junit, write_replaces_the_file_and_leaves_no_temporary)
{
    char *dir = tmu_scratch ();
    s_run_t run = s_run_new ();
    char *path = tm_strdupf ("%s/report.xml", dir);
    tmu_write (path, "old");
    char *err = NULL;
    cr_assert_eq (tm_report_junit (path, run.tasks, run.results, run.count, 1, &err), 0);
    cr_assert_eq (s_entries (dir), 1);
    char *xml = tmu_slurp (path);
    cr_assert (strncmp (xml, "<?xml", 5) == 0);
    free (xml);
    free (path);
    s_run_destroy (&run);
    tmu_rmrf (dir);
    free (dir);
}

Test (junit, unwritable_path_fails_with_reason)
{
    s_run_t run = s_run_new ();
    char *err = NULL;
    int rc = tm_report_junit ("/nonexistent-dir/report.xml", run.tasks,
                              run.results, run.count, 1, &err);
    cr_assert_eq (rc, -1);
    cr_assert_not_null (err);
    cr_assert (strstr (err, "/nonexistent-dir/report.xml"), "%s", err);
    free (err);
    s_run_destroy (&run);
}

//  ---------------------------------------------------------------------
//  JSON

//  Writes the JSON report of RUN into DIR and loads it back.
static json_t *
s_json_round_trip (const char *dir, s_run_t *run)
{
    char *path = tm_strdupf ("%s/report.json", dir);
    char *err = NULL;
    int rc = tm_report_json (path, run->tasks, run->results, run->count, 7.5, &err);
    cr_assert_eq (rc, 0, "tm_report_json: %s", err? err: "?");
    json_error_t error;
    json_t *root = json_load_file (path, 0, &error);
    cr_assert_not_null (root, "%s:%d: %s", path, error.line, error.text);
    cr_assert_eq (s_entries (dir), 1, "no temporary file left");
    free (path);
    return root;
}

Test (json, report_round_trips_with_statuses_and_counts)
{
    char *dir = tmu_scratch ();
    s_run_t run = s_run_new ();
    json_t *root = s_json_round_trip (dir, &run);
    cr_assert_str_eq (json_string_value (json_object_get (root, "testmesh")), TM_VERSION);
    cr_assert_eq (json_integer_value (json_object_get (root, "schema")), 1);
    cr_assert (json_is_real (json_object_get (root, "started")));
    cr_assert_float_eq (json_real_value (json_object_get (root, "duration")), 7.5, 1e-9);

    json_t *counts = json_object_get (root, "counts");
    cr_assert_eq (json_integer_value (json_object_get (counts, "passed")), 1);
    cr_assert_eq (json_integer_value (json_object_get (counts, "failed")), 1);
    cr_assert_eq (json_integer_value (json_object_get (counts, "flaky")), 1);
    cr_assert_eq (json_integer_value (json_object_get (counts, "timeout")), 1);
    cr_assert_eq (json_integer_value (json_object_get (counts, "crashed")), 1);
    cr_assert_eq (json_integer_value (json_object_get (counts, "skipped")), 2);
    cr_assert_eq (json_integer_value (json_object_get (counts, "total")), 7);

    json_t *tests = json_object_get (root, "tests");
    cr_assert_eq (json_array_size (tests), 7);
    const char *expect [] = { "passed", "failed", "flaky", "timeout", "crashed",
                              "skipped", "skipped" };
    for (size_t i = 0; i < 7; i++) {
        json_t *test = json_array_get (tests, i);
        cr_assert_str_eq (json_string_value (json_object_get (test, "status")),
                          expect [i], "test %zu", i);
        cr_assert_str_eq (json_string_value (json_object_get (test, "id")),
                          tm_tasklist_get (run.tasks, i)->id);
    }
    json_t *failed = json_array_get (tests, 1);
    cr_assert_str_eq (json_string_value (json_object_get (failed, "target")), "build/unit");
    cr_assert_eq (json_integer_value (json_object_get (failed, "exit_code")), 1);
    cr_assert (json_is_null (json_object_get (failed, "signal")));
    cr_assert_str_eq (json_string_value (json_object_get (failed, "message")), "exit status 1");
    cr_assert_str_eq (json_string_value (json_object_get (failed, "stderr")),
                      "div.c:12: assertion failed\n");
    char host [256] = "localhost";
    gethostname (host, sizeof host - 1);
    cr_assert_str_eq (json_string_value (json_object_get (failed, "member")), host);
    cr_assert_float_eq (json_real_value (json_object_get (failed, "duration")), 0.5, 1e-9);
    cr_assert_eq (json_integer_value (json_object_get (json_array_get (tests, 2),
                                                       "attempts")), 2);
    json_t *none = json_array_get (tests, 6);
    cr_assert_str_eq (json_string_value (json_object_get (none, "message")), "no result");
    cr_assert (json_is_null (json_object_get (none, "member")));
    cr_assert_eq (json_integer_value (json_object_get (none, "attempts")), 0);
    json_decref (root);
    s_run_destroy (&run);
    tmu_rmrf (dir);
    free (dir);
}

Test (json, signalled_test_has_null_exit_code_and_signal_name)
{
    char *dir = tmu_scratch ();
    s_run_t run = s_run_new ();
    json_t *root = s_json_round_trip (dir, &run);
    json_t *crashed = json_array_get (json_object_get (root, "tests"), 4);
    cr_assert (json_is_null (json_object_get (crashed, "exit_code")));
    cr_assert_str_eq (json_string_value (json_object_get (crashed, "signal")), "SIGSEGV");
    json_decref (root);
    s_run_destroy (&run);
    tmu_rmrf (dir);
    free (dir);
}

Test (json, invalid_utf8_and_nul_become_replacement_characters)
{
    char *dir = tmu_scratch ();
    s_run_t run = { tm_tasklist_new (), { NULL }, 0 };
    tm_result_t *result = s_result ("bad\xFFid", 0, TM_STATUS_PASSED, 0.1, NULL, NULL);
    static const char out [] = "x\xC3(y\0z\xE2\x82\xAC\n";
    s_set_out (result, out, sizeof out - 1);
    result->out_cut = 4096;
    s_run_add (&run, "t", TM_KIND_MANIFEST, "bad\xFFid", result);
    json_t *root = s_json_round_trip (dir, &run);
    json_t *test = json_array_get (json_object_get (root, "tests"), 0);
    cr_assert_str_eq (json_string_value (json_object_get (test, "id")), "bad\xEF\xBF\xBDid");
    json_t *text = json_object_get (test, "stdout");
    cr_assert_str_eq (json_string_value (text),
                      "x\xEF\xBF\xBD(y\xEF\xBF\xBDz\xE2\x82\xAC\n");
    cr_assert_eq (json_integer_value (json_object_get (test, "stdout_cut")), 4096);
    cr_assert_eq (json_integer_value (json_object_get (test, "stderr_cut")), 0);
    json_decref (root);
    s_run_destroy (&run);
    tmu_rmrf (dir);
    free (dir);
}

Test (json, unwritable_path_fails_with_reason)
{
    s_run_t run = s_run_new ();
    char *err = NULL;
    cr_assert_eq (tm_report_json ("/nonexistent-dir/r.json", run.tasks, run.results,
                                  run.count, 1, &err), -1);
    cr_assert_not_null (err);
    free (err);
    s_run_destroy (&run);
}

//  ---------------------------------------------------------------------
//  Console

Test (console, line_mode_prints_one_line_per_test)
{
    s_run_t run = s_run_new ();
    s_capture_t capture;
    s_capture_open (&capture);
    tm_console_t *console = tm_console_new (capture.out, false, false, run.count, 4);
    for (size_t i = 0; i < run.count; i++)
        if (run.results [i])
            tm_console_result (console, run.results [i]);
    cr_assert_str_eq (s_capture_text (&capture),
        "PASS     0.012s  math/add\n"
        "FAIL     0.500s  math/div  (exit status 1)\n"
        "FLAKY    1.250s  net/retry  (passed on attempt 2)\n"
        "TIMEOUT  5.000s  Slow.Forever  (timed out after 5 s)\n"
        "CRASH    0.031s  Mem.Segv  (killed by SIGSEGV)\n"
        "SKIP          -  Db.Postgres  (no database)\n");
    tm_console_destroy (&console);
    cr_assert_null (console);
    s_capture_close (&capture);
    s_run_destroy (&run);
}

Test (console, summary_counts_line_includes_timeouts_and_crashes)
{
    s_run_t run = s_run_new ();
    s_capture_t capture;
    s_capture_open (&capture);
    tm_console_t *console = tm_console_new (capture.out, false, false, run.count, 4);
    tm_console_summary (console, run.results, run.count, 41.23);
    const char *text = s_capture_text (&capture);
    const char *last = "7 tests: 1 passed, 1 failed, 1 timed out, 1 crashed, 1 flaky,"
                       " 2 skipped in 41.2 s\n";
    size_t len = strlen (text), want = strlen (last);
    cr_assert (len >= want && streq (text + len - want, last),
               "counts line is last:\n%s", text);
    cr_assert (strstr (text, "Flaky:\n  net/retry  (passed on attempt 2)\n"), "%s", text);
    cr_assert (strstr (text, "--- FAIL math/div  (exit status 1)\n"), "%s", text);
    cr_assert (strstr (text, "--- TIMEOUT Slow.Forever  (timed out after 5 s)\n"), "%s", text);
    cr_assert (strstr (text, "--- CRASH Mem.Segv  (killed by SIGSEGV)\n"), "%s", text);
    cr_assert_null (strstr (text, "--- PASS"));
    tm_console_destroy (&console);
    s_capture_close (&capture);
    s_run_destroy (&run);
}

Test (console, summary_names_the_member_only_when_several_ran_tests)
{
    s_run_t run = s_run_new ();
    s_capture_t capture;
    s_capture_open (&capture);
    tm_console_t *console = tm_console_new (capture.out, false, false, run.count, 4);
    tm_console_summary (console, run.results, run.count, 1);
    char host [256] = "localhost";
    gethostname (host, sizeof host - 1);
    char *here = tm_strdupf (" on %s\n", host);
    cr_assert_null (strstr (s_capture_text (&capture), here));
    free (run.results [4]->member);
    run.results [4]->member = strdup ("node-b");
    tm_console_summary (console, run.results, run.count, 1);
    const char *text = s_capture_text (&capture);
    cr_assert (strstr (text, "--- CRASH Mem.Segv  (killed by SIGSEGV)  on node-b\n"), "%s", text);
    char *line = tm_strdupf ("--- FAIL math/div  (exit status 1) %s", here);
    cr_assert (strstr (text, line), "%s", text);
    free (line);
    free (here);
    tm_console_destroy (&console);
    s_capture_close (&capture);
    s_run_destroy (&run);
}

Test (console, summary_lists_the_five_slowest_tests_slowest_first)
{
    tm_result_t *results [7];
    const double durations [7] = { 0.3, 2.0, 0.1, 5.0, 0.2, 1.0, 9.0 };
    for (size_t i = 0; i < 7; i++) {
        char id [32];
        snprintf (id, sizeof id, "t/%zu", i);
        results [i] = s_result (id, i, TM_STATUS_PASSED, durations [i], NULL, NULL);
    }
    results [6]->status = TM_STATUS_SKIPPED;    //  Skipped tests are not "slow"
    s_capture_t capture;
    s_capture_open (&capture);
    tm_console_t *console = tm_console_new (capture.out, false, false, 7, 2);
    tm_console_summary (console, results, 7, 3);
    const char *text = s_capture_text (&capture);
    cr_assert (strstr (text, "Slowest:\n"
                             "    5.000s  t/3\n"
                             "    2.000s  t/1\n"
                             "    1.000s  t/5\n"
                             "    0.300s  t/0\n"
                             "    0.200s  t/4\n"
                             "7 tests"), "%s", text);
    cr_assert_null (strstr (text, "t/2\n"));
    tm_console_destroy (&console);
    s_capture_close (&capture);
    for (size_t i = 0; i < 7; i++)
        tm_result_destroy (&results [i]);
}

Test (console, summary_shows_the_tail_of_a_failed_tests_output)
{
    char *out = NULL;
    size_t size = 0;
    FILE *lines = open_memstream (&out, &size);
    for (int i = 1; i <= 30; i++)
        fprintf (lines, "out line %d\n", i);
    fclose (lines);
    tm_result_t *result = s_result ("big/fail", 0, TM_STATUS_FAILED, 1, out,
                                    "short error");
    result->out_cut = 1234;
    free (out);
    s_capture_t capture;
    s_capture_open (&capture);
    tm_console_t *console = tm_console_new (capture.out, false, false, 1, 1);
    tm_console_summary (console, &result, 1, 1);
    const char *text = s_capture_text (&capture);
    cr_assert (strstr (text, "--- FAIL big/fail  (exit status 1)\n"
                             "  stderr:\n"
                             "    short error\n"
                             "  stdout, last 20 lines (1234 bytes cut):\n"
                             "    out line 11\n"), "%s", text);
    cr_assert (strstr (text, "    out line 30\n\n"), "%s", text);
    cr_assert_null (strstr (text, "out line 10\n"), "%s", text);
    tm_console_destroy (&console);
    s_capture_close (&capture);
    tm_result_destroy (&result);
}

Test (console, no_escape_codes_when_color_is_off_in_line_mode)
{
    s_run_t run = s_run_new ();
    s_capture_t capture;
    s_capture_open (&capture);
    tm_console_t *console = tm_console_new (capture.out, false, false, run.count, 4);
    for (size_t i = 0; i < run.count; i++)
        if (run.results [i])
            tm_console_result (console, run.results [i]);
    tm_console_summary (console, run.results, run.count, 2);
    cr_assert_null (strchr (s_capture_text (&capture), '\033'));
    tm_console_destroy (&console);
    s_capture_close (&capture);
    s_run_destroy (&run);
}

Test (console, no_color_codes_when_color_is_off_in_live_mode)
{
    s_run_t run = s_run_new ();
    s_capture_t capture;
    s_capture_open (&capture);
    tm_console_t *console = tm_console_new (capture.out, true, false, run.count, 4);
    for (size_t i = 0; i < run.count; i++)
        if (run.results [i])
            tm_console_result (console, run.results [i]);
    tm_console_summary (console, run.results, run.count, 2);
    //  Only the erase-line sequence, no SGR (color) sequences.
    const char *text = s_capture_text (&capture);
    for (const char *p = strchr (text, '\033'); p; p = strchr (p + 1, '\033'))
        cr_assert (strncmp (p, "\033[K", 3) == 0, "escape other than erase at %s", p);
    tm_console_destroy (&console);
    s_capture_close (&capture);
    s_run_destroy (&run);
}

Test (console, status_words_are_colored_when_color_is_on)
{
    s_run_t run = s_run_new ();
    s_capture_t capture;
    s_capture_open (&capture);
    tm_console_t *console = tm_console_new (capture.out, false, true, run.count, 4);
    for (size_t i = 0; i < 3; i++)
        tm_console_result (console, run.results [i]);
    const char *text = s_capture_text (&capture);
    cr_assert (strstr (text, "\033[32mPASS\033[0m     0.012s  math/add\n"), "%s", text);
    cr_assert (strstr (text, "\033[31mFAIL\033[0m     0.500s"), "%s", text);
    cr_assert (strstr (text, "\033[33mFLAKY\033[0m    1.250s"), "%s", text);
    tm_console_destroy (&console);
    s_capture_close (&capture);
    s_run_destroy (&run);
}

//  A clock the test steps by hand (tm_console_set_clock).
static double s_fake_now;

static double
s_fake_clock (void)
{
    return s_fake_now;
}

Test (console, live_mode_redraws_one_line_with_carriage_returns)
{
    s_run_t run = s_run_new ();
    s_capture_t capture;
    s_capture_open (&capture);
    tm_console_t *console = tm_console_new (capture.out, true, false, run.count, 4);
    s_fake_now = 0;             //  Any origin, even 0, draws at once
    tm_console_set_clock (console, s_fake_clock);
    tm_console_tick (console);
    const char *text = s_capture_text (&capture);
    cr_assert (strncmp (text, "\r\033[K[", 5) == 0, "%s", text);
    cr_assert (strstr (text, "] 0/7  0 passed  0 failed  0 flaky  0:00  ETA -"), "%s", text);
    cr_assert_null (strchr (text, '\n'), "the progress line is never ended");

    //  Redraws are at most 10 a second: step past the next one.
    s_fake_now += 0.15;
    tm_console_result (console, run.results [0]);
    text = s_capture_text (&capture);
    cr_assert (strstr (text, "\r\033[K[####"), "%s", text);
    cr_assert (strstr (text, "1/7  1 passed  0 failed  0 flaky"), "%s", text);
    cr_assert_null (strstr (text, "PASS"), "passes only move the bar");

    tm_console_result (console, run.results [1]);     //  A failure: above the bar
    text = s_capture_text (&capture);
    cr_assert (strstr (text, "\r\033[KFAIL     0.500s  math/div  (exit status 1)\n"
                             "\r\033[K["), "%s", text);
    cr_assert (strstr (text, "2/7  1 passed  1 failed  0 flaky"), "%s", text);
    cr_assert_gt (tmu_count (text, "\r\033[K"), 3);

    tm_console_summary (console, run.results, run.count, 2);
    text = s_capture_text (&capture);
    cr_assert (strstr (text, "\r\033[K\n--- FAIL"), "summary clears the bar: %s", text);
    tm_console_destroy (&console);
    s_capture_close (&capture);
    s_run_destroy (&run);
}

Test (console, live_mode_redraws_at_most_ten_times_a_second)
{
    s_run_t run = s_run_new ();
    s_capture_t capture;
    s_capture_open (&capture);
    tm_console_t *console = tm_console_new (capture.out, true, false, run.count, 4);
    s_fake_now = 1000;
    tm_console_set_clock (console, s_fake_clock);
    tm_console_tick (console);
    cr_assert_eq (tmu_count (s_capture_text (&capture), "\r\033[K"), 1);
    //  Within 0.1 s of the last redraw neither a tick nor a pass redraws
    //  (steps are powers of two, so the sums are exact)
    s_fake_now += 0.0625;
    tm_console_tick (console);
    tm_console_result (console, run.results [0]);
    s_fake_now += 0.03125;
    tm_console_tick (console);
    const char *text = s_capture_text (&capture);
    cr_assert_eq (tmu_count (text, "\r\033[K"), 1, "%s", text);
    cr_assert (strstr (text, "0/7"), "%s", text);
    //  Past 0.1 s after it, the next tick does, with the pass counted and the
    //  elapsed time read from the same clock
    s_fake_now += 0.0625;
    tm_console_tick (console);
    text = s_capture_text (&capture);
    cr_assert_eq (tmu_count (text, "\r\033[K"), 2, "%s", text);
    cr_assert (strstr (text, "1/7  1 passed"), "%s", text);
    s_fake_now += 61;
    tm_console_tick (console);
    cr_assert (strstr (s_capture_text (&capture), "  1:01  ETA"), "%s",
               s_capture_text (&capture));
    tm_console_destroy (&console);
    s_capture_close (&capture);
    s_run_destroy (&run);
}

Test (console, live_mode_fits_the_line_in_80_columns)
{
    s_capture_t capture;
    s_capture_open (&capture);
    tm_console_t *console = tm_console_new (capture.out, true, false, 123456, 4);
    tm_console_tick (console);
    const char *text = s_capture_text (&capture);
    cr_assert_lt (strlen (text) - strlen ("\r\033[K"), 80, "%s", text);
    tm_console_destroy (&console);
    s_capture_close (&capture);
}

Test (console, eta_comes_from_expected_durations_over_slots)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    for (int i = 0; i < 4; i++) {
        char id [16];
        snprintf (id, sizeof id, "t/%d", i);
        tm_task_t *task = tm_task_new (id, "x", TM_KIND_MANIFEST);
        task->expected = 30;
        tm_tasklist_append (tasks, &task);
    }
    s_capture_t capture;
    s_capture_open (&capture);
    tm_console_t *console = tm_console_new (capture.out, true, false, 4, 2);
    tm_console_plan (console, tasks);
    tm_console_tick (console);
    //  4 tests x 30 s over 2 slots.
    cr_assert (strstr (s_capture_text (&capture), "ETA 1:00"), "%s", s_capture_text (&capture));
    tm_console_destroy (&console);
    s_capture_close (&capture);
    tm_tasklist_destroy (&tasks);
}

Test (console, eta_uses_mean_duration_when_nothing_is_expected)
{
    s_capture_t capture;
    s_capture_open (&capture);
    tm_console_t *console = tm_console_new (capture.out, false, false, 5, 1);
    tm_result_t *result = s_result ("a/b", 0, TM_STATUS_PASSED, 10, NULL, NULL);
    tm_console_result (console, result);
    //  Line mode draws nothing; switch to live to look at the line.
    tm_console_destroy (&console);
    console = tm_console_new (capture.out, true, false, 5, 1);
    tm_console_result (console, result);
    //  4 left x 10 s mean over 1 slot.
    cr_assert (strstr (s_capture_text (&capture), "ETA 0:40"), "%s", s_capture_text (&capture));
    tm_console_destroy (&console);
    s_capture_close (&capture);
    tm_result_destroy (&result);
}

//  ---------------------------------------------------------------------
//  Text helpers

Test (text, utf8_decode_rejects_overlong_surrogate_and_truncated_forms)
{
    uint32_t cp;
    cr_assert_eq (tm_text_utf8_decode ("\xE2\x82\xAC", 3, &cp), 3);
    cr_assert_eq (cp, 0x20AC);
    cr_assert_eq (tm_text_utf8_decode ("\xF0\x9F\x98\x80", 4, &cp), 4);
    cr_assert_eq (cp, 0x1F600);
    cr_assert_eq (tm_text_utf8_decode ("\xC0\xAF", 2, &cp), 1);    //  Overlong '/'
    cr_assert_eq (cp, TM_TEXT_REPLACEMENT);
    cr_assert_eq (tm_text_utf8_decode ("\xE0\x80\xAF", 3, &cp), 1);
    cr_assert_eq (cp, TM_TEXT_REPLACEMENT);
    cr_assert_eq (tm_text_utf8_decode ("\xED\xA0\x80", 3, &cp), 1);    //  Surrogate
    cr_assert_eq (cp, TM_TEXT_REPLACEMENT);
    cr_assert_eq (tm_text_utf8_decode ("\xF4\x90\x80\x80", 4, &cp), 1);    //  > U+10FFFF
    cr_assert_eq (cp, TM_TEXT_REPLACEMENT);
    cr_assert_eq (tm_text_utf8_decode ("\xE2\x82", 2, &cp), 1);    //  Cut short
    cr_assert_eq (cp, TM_TEXT_REPLACEMENT);
}

Test (text, sanitize_keeps_valid_utf8_and_replaces_each_bad_byte_and_nul)
{
    size_t length;
    static const char dirty [] = "ok \xC3\xA9 \xFF\xFE\0!";
    char *clean = tm_text_utf8_sanitize (dirty, sizeof dirty - 1, &length);
    cr_assert_str_eq (clean, "ok \xC3\xA9 \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD!");
    cr_assert_eq (length, strlen (clean));
    free (clean);
    clean = tm_text_utf8_sanitize (NULL, 0, &length);
    cr_assert_str_eq (clean, "");
    free (clean);
}

Test (text, tail_returns_the_last_lines_without_copying)
{
    const char *data = "a\nb\nc\nd\n";
    size_t skipped;
    const char *tail = tm_text_tail (data, strlen (data), 2, &skipped);
    cr_assert_str_eq (tail, "c\nd\n");
    cr_assert_eq (skipped, 4);
    cr_assert_eq (tail, data + 4);
    cr_assert_str_eq (tm_text_tail (data, strlen (data), 10, &skipped), data);
    cr_assert_eq (skipped, 0);
    cr_assert_str_eq (tm_text_tail ("x\ny", 3, 1, NULL), "y");
}

Test (text, split_id_strips_target_prefix_and_falls_back_to_basename)
{
    char *classname, *name;
    tm_text_split_id ("Inst/Fix.Test/0", "b/gt", TM_KIND_GTEST, &classname, &name);
    cr_assert_str_eq (classname, "Inst/Fix");
    cr_assert_str_eq (name, "Test/0");
    free (classname);
    free (name);
    tm_text_split_id ("net/tcp/connect", "m.ini", TM_KIND_MANIFEST, &classname, &name);
    cr_assert_str_eq (classname, "net/tcp");
    cr_assert_str_eq (name, "connect");
    free (classname);
    free (name);
    tm_text_split_id ("b/t:s/x", "b/t", TM_KIND_CRITERION, &classname, &name);
    cr_assert_str_eq (classname, "s");
    cr_assert_str_eq (name, "x");
    free (classname);
    free (name);
    tm_text_split_id ("/odd.", "build/ctest", TM_KIND_CTEST, &classname, &name);
    cr_assert_str_eq (classname, "ctest");
    cr_assert_str_eq (name, "/odd.");
    free (classname);
    free (name);
}

//  tm_signal_name lives in tm_common; the reporters are its users.
Test (text, signal_names_known_and_unknown)
{
    cr_assert_str_eq (tm_signal_name (SIGSEGV), "SIGSEGV");
    cr_assert_str_eq (tm_signal_name (SIGKILL), "SIGKILL");
    cr_assert_str_eq (tm_signal_name (99), "SIG99");
    cr_assert_str_eq (tm_signal_name (-7), "SIG-7");
}

Test (text, realtime_signals_are_sig_and_their_number)
{
    char expected [16];
    snprintf (expected, sizeof expected, "SIG%d", SIGRTMAX);
    cr_assert_str_eq (tm_signal_name (SIGRTMAX), expected);
    snprintf (expected, sizeof expected, "SIG%d", SIGRTMIN);
    cr_assert_str_eq (tm_signal_name (SIGRTMIN), expected);
}

static void *
s_name_signal_99 (void *arg)
{
    return (void *) tm_signal_name (99);
}

Test (text, unknown_signal_names_do_not_clobber_across_threads)
{
    const char *mine = tm_signal_name (98);
    pthread_t thread;
    cr_assert_eq (pthread_create (&thread, NULL, s_name_signal_99, NULL), 0);
    void *theirs;
    pthread_join (thread, &theirs);
    cr_assert_neq ((const char *) theirs, mine, "each thread has its own buffer");
    cr_assert_str_eq (mine, "SIG98");
}

Test (text, console_reason_and_json_name_a_realtime_signal_alike)
{
    char *dir = tmu_scratch ();
    s_run_t run = { tm_tasklist_new (), { NULL }, 0 };
    tm_result_t *result = s_result ("rt/killed", 0, TM_STATUS_CRASHED, 0.1, NULL, NULL);
    result->signal = SIGRTMAX;
    result->exit_code = -1;
    s_run_add (&run, "t", TM_KIND_MANIFEST, "rt/killed", result);
    char name [16], reason [64], buf [64];
    snprintf (name, sizeof name, "SIG%d", SIGRTMAX);
    snprintf (reason, sizeof reason, "killed by %s", name);
    cr_assert_str_eq (tm_text_reason (result, buf, sizeof buf), reason);
    json_t *root = s_json_round_trip (dir, &run);
    json_t *test = json_array_get (json_object_get (root, "tests"), 0);
    cr_assert_str_eq (json_string_value (json_object_get (test, "signal")), name);
    json_decref (root);
    s_run_destroy (&run);
    tmu_rmrf (dir);
    free (dir);
}

Test (junit, a_test_run_on_another_member_says_so)
{
    tm_tasklist_t *tasks = tm_tasklist_new ();
    tm_task_t *task = tm_task_new ("remote/one", "unit", TM_KIND_MANIFEST);
    tm_tasklist_append (tasks, &task);
    tm_result_t *results [1] = { s_result ("remote/one", 0, TM_STATUS_PASSED, 0.1, NULL, NULL) };
    free (results [0]->member);
    results [0]->member = strdup ("build-7");
    char *path = tm_strdupf ("/tmp/testmesh-junit-member-%d.xml", (int) getpid ());
    char *err = NULL;
    cr_assert_eq (tm_report_junit (path, tasks, results, 1, 0.5, &err), 0, "%s", err);
    char *xml = tmu_slurp (path);
    cr_assert (strstr (xml, "<system-out>testmesh: ran on member build-7\n</system-out>"), "%s",
               xml);
    free (xml);
    unlink (path);
    free (path);
    tm_result_destroy (&results [0]);
    tm_tasklist_destroy (&tasks);
}
