/*  tm_junit.c - the JUnit XML report, as Jenkins, GitLab and GitHub read it.

    There is no official schema; the de-facto one is what Ant wrote and
    Jenkins' junit-10.xsd describes.  We stay inside it:

        <testsuites name tests failures errors skipped time>
          <testsuite name tests failures errors skipped time timestamp
                     hostname id>               one per target
            <testcase classname name time>      one per task, in run order
              <skipped message/> | <error message type>text</error>
                                 | <failure message type>text</failure>
              <system-out>text</system-out>     when there is any
              <system-err>text</system-err>

    Status mapping: failed -> failure; timeout, crashed -> error (the
    test did not get to say pass or fail); skipped, and a task with no
    result -> skipped; flaky -> a pass, with a "testmesh: flaky" line at
    the top of system-out.  Properties inside a testcase are not in
    the schema (some readers reject them), system-out is read by all:
    so a test that ran on another member than this host (a run spread
    over a cluster) starts its system-out with "testmesh: ran on member
    NAME".

    Text is escaped, never put in CDATA (test output may hold "]]>");
    bytes XML 1.0 cannot carry become U+FFFD (tm_text_xml_write).
*/
#include "tm_report.h"
#include "tm_text.h"
#include <inttypes.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    const char *target;         //  Target name, borrowed from the first task
    size_t tests;               //  Test cases in the suite
    size_t failures;            //  Failed
    size_t errors;              //  Timed out or crashed
    size_t skipped;             //  Skipped, or no result
    double first_start;         //  Earliest wall-clock start, 0 if none ran
    double last_end;            //  Latest wall-clock end
    double total;               //  Sum of test durations
} s_suite_t;

//  The result for task INDEX, or NULL if it has none.
static tm_result_t *
s_result (tm_result_t **results, size_t count, size_t index)
{
    return (results && index < count)? results [index]: NULL;
}

//  Adds a test with RESULT (may be NULL) to SUITE's counts.
static void
s_suite_count (s_suite_t *suite, const tm_result_t *result)
{
    suite->tests++;
    if (!result) {
        suite->skipped++;
        return;
    }
    switch (result->status) {
        case TM_STATUS_FAILED:  suite->failures++; break;
        case TM_STATUS_TIMEOUT:
        case TM_STATUS_CRASHED: suite->errors++; break;
        case TM_STATUS_SKIPPED: suite->skipped++; break;
        default: break;
    }
    suite->total += result->duration;
    if (result->status != TM_STATUS_SKIPPED && result->started > 0) {
        if (suite->first_start == 0 || result->started < suite->first_start)
            suite->first_start = result->started;
        if (result->started + result->duration > suite->last_end)
            suite->last_end = result->started + result->duration;
    }
}

//  ISO 8601 local time without a zone, as Ant writes and the schema wants.
static void
s_timestamp (double wall, char *buf, size_t size)
{
    time_t secs = (time_t) wall;
    struct tm parts;
    if (!localtime_r (&secs, &parts)
    ||  strftime (buf, size, "%Y-%m-%dT%H:%M:%S", &parts) == 0)
        snprintf (buf, size, "1970-01-01T00:00:00");
}

//  Writes the last lines of one output stream under a heading that says
//  what was left out: lines here, bytes CUT by the capture.
static void
s_write_tail (FILE *out, const char *label, const char *data, size_t size,
              uint64_t cut)
{
    if (!data || size == 0)
        return;
    size_t skipped;
    const char *tail = tm_text_tail (data, size, TM_REPORT_TAIL_LINES, &skipped);
    fprintf (out, "\n--- %s", label);
    if (skipped)
        fprintf (out, ", last %d lines", TM_REPORT_TAIL_LINES);
    if (cut)
        fprintf (out, " (%" PRIu64 " bytes cut)", cut);
    fputs (" ---\n", out);
    tm_text_xml_write (out, tail, size - skipped, false);
}

//  HOSTNAME is the testsuite's: a test that ran on another member (a run
//  spread over a cluster) says where in its system-out.
static void
s_write_testcase (FILE *out, const tm_task_t *task, const tm_result_t *result,
                  const char *hostname)
{
    char *classname, *name;
    tm_text_split_id (task->id, task->target, task->kind, &classname, &name);
    fputs ("    <testcase classname=\"", out);
    tm_text_xml_puts (out, classname, true);
    fputs ("\" name=\"", out);
    tm_text_xml_puts (out, name, true);
    fprintf (out, "\" time=\"%.3f\"", result? result->duration: 0.0);
    free (classname);
    free (name);

    if (!result) {
        fputs (">\n      <skipped message=\"no result\"/>\n    </testcase>\n", out);
        return;
    }
    char buf [128];
    const char *reason = tm_text_reason (result, buf, sizeof buf);
    bool flaky = result->status == TM_STATUS_FLAKY;
    bool has_out = result->out && result->out_size > 0;
    bool has_err = result->err && result->err_size > 0;
    bool elsewhere = result->member && !streq (result->member, hostname);
    bool has_note = flaky || result->leftovers > 0 || elsewhere || result->cached;
    bool has_verdict = result->status == TM_STATUS_FAILED
                    || result->status == TM_STATUS_TIMEOUT
                    || result->status == TM_STATUS_CRASHED
                    || result->status == TM_STATUS_SKIPPED;
    if (!has_out && !has_err && !has_note && !has_verdict) {
        fputs ("/>\n", out);
        return;
    }
    fputs (">\n", out);

    if (result->status == TM_STATUS_SKIPPED) {
        fputs ("      <skipped message=\"", out);
        tm_text_xml_puts (out, reason, true);
        fputs ("\"/>\n", out);
    }
    else
    if (has_verdict) {
        const char *element = result->status == TM_STATUS_FAILED? "failure": "error";
        fprintf (out, "      <%s message=\"", element);
        tm_text_xml_puts (out, reason, true);
        fprintf (out, "\" type=\"%s\">", tm_status_name (result->status));
        tm_text_xml_puts (out, reason, false);
        s_write_tail (out, "stderr", result->err, result->err_size, result->err_cut);
        s_write_tail (out, "stdout", result->out, result->out_size, result->out_cut);
        fprintf (out, "</%s>\n", element);
    }
    if (has_out || has_note) {
        fputs ("      <system-out>", out);
        if (result->cached) {
            fputs ("testmesh: cached result of a run on member ", out);
            tm_text_xml_puts (out, result->member ? result->member : "?", false);
            fputs ("\n", out);
        }
        else
        if (elsewhere) {
            fputs ("testmesh: ran on member ", out);
            tm_text_xml_puts (out, result->member, false);
            fputs ("\n", out);
        }
        if (flaky)
            fprintf (out, "testmesh: flaky: failed, then passed on attempt %d\n",
                     result->attempts);
        if (result->leftovers > 0)
            fprintf (out, "testmesh: killed %d stray process%s it left behind\n",
                     result->leftovers, result->leftovers == 1? "": "es");
        if (has_out)
            tm_text_xml_write (out, result->out, result->out_size, false);
        fputs ("</system-out>\n", out);
    }
    if (has_err) {
        fputs ("      <system-err>", out);
        tm_text_xml_write (out, result->err, result->err_size, false);
        fputs ("</system-err>\n", out);
    }
    fputs ("    </testcase>\n", out);
}

int
tm_report_junit (const char *path, tm_tasklist_t *tasks,
                 tm_result_t **results, size_t count, double elapsed,
                 char **err)
{
    assert (path && tasks);
    size_t size = tm_tasklist_size (tasks);

    //  Group tasks by target, in order of first appearance.  Targets
    //  are few, so a linear search is fine.
    s_suite_t *suites = NULL;
    size_t nsuites = 0;
    size_t *suite_of = (size_t *) calloc (size? size: 1, sizeof (size_t));
    if (!suite_of)
        abort ();
    for (size_t i = 0; i < size; i++) {
        tm_task_t *task = tm_tasklist_get (tasks, i);
        size_t s = 0;
        while (s < nsuites && !streq (suites [s].target, task->target))
            s++;
        if (s == nsuites) {
            suites = (s_suite_t *) realloc (suites, (nsuites + 1) * sizeof (s_suite_t));
            if (!suites)
                abort ();
            memset (&suites [nsuites], 0, sizeof (s_suite_t));
            suites [nsuites++].target = task->target;
        }
        suite_of [i] = s;
        s_suite_count (&suites [s], s_result (results, count, i));
    }

    FILE *out = NULL;
    char *tmp_path = NULL;
    out = tm_text_file_open (path, &tmp_path, err);
    if (!out) {
        free (suites);
        free (suite_of);
        return -1;
    }
    s_suite_t all = { 0 };
    for (size_t s = 0; s < nsuites; s++) {
        all.tests += suites [s].tests;
        all.failures += suites [s].failures;
        all.errors += suites [s].errors;
        all.skipped += suites [s].skipped;
    }
    char hostname [256] = "localhost";
    if (gethostname (hostname, sizeof hostname - 1) != 0)
        snprintf (hostname, sizeof hostname, "localhost");
    hostname [sizeof hostname - 1] = 0;
    double run_start = tm_wall_now () - elapsed;

    fputs ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", out);
    fprintf (out, "<testsuites name=\"testmesh\" tests=\"%zu\" failures=\"%zu\""
                  " errors=\"%zu\" skipped=\"%zu\" time=\"%.3f\">\n",
             all.tests, all.failures, all.errors, all.skipped, elapsed);
    for (size_t s = 0; s < nsuites; s++) {
        s_suite_t *suite = &suites [s];
        char stamp [32];
        s_timestamp (suite->first_start > 0? suite->first_start: run_start,
                     stamp, sizeof stamp);
        //  Tests run in parallel: the suite took the wall time from its
        //  first start to its last end, not the sum of its tests.
        double span = suite->first_start > 0
                    ? suite->last_end - suite->first_start: suite->total;
        fputs ("  <testsuite name=\"", out);
        tm_text_xml_puts (out, suite->target, true);
        fprintf (out, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\""
                      " skipped=\"%zu\" time=\"%.3f\" timestamp=\"%s\" hostname=\"",
                 suite->tests, suite->failures, suite->errors, suite->skipped,
                 span, stamp);
        tm_text_xml_puts (out, hostname, true);
        fprintf (out, "\" id=\"%zu\">\n", s);
        for (size_t i = 0; i < size; i++)
            if (suite_of [i] == s)
                s_write_testcase (out, tm_tasklist_get (tasks, i),
                                  s_result (results, count, i), hostname);
        fputs ("  </testsuite>\n", out);
    }
    fputs ("</testsuites>\n", out);

    free (suites);
    free (suite_of);
    return tm_text_file_commit (out, &tmp_path, path, true, err);
}
