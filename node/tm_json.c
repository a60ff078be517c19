/*  tm_json.c - the JSON report (docs/json-report.md describes the schema).

    The report is written one test at a time: each test's object is built
    with jansson, dumped and freed before the next, so memory stays at
    one test's output however large the run.  Every string that came
    from a test (ids, output, messages) is made valid UTF-8 first:
    jansson refuses anything else (json_string returns NULL).

    Numbers: seconds are rounded to milliseconds and printed with 15
    significant digits, so 41.2 is written 41.2, not 41.200000000000003.
*/
#include "tm_report.h"
#include "tm_text.h"
#include <jansson.h>
#include <limits.h>
#include <math.h>

#define S_SCHEMA 1              //  Bumped on an incompatible change
#define S_DUMP_FLAGS (JSON_ENCODE_ANY | JSON_REAL_PRECISION (15))

//  Seconds rounded to milliseconds.
static json_t *
s_seconds (double seconds)
{
    return json_real (round (seconds * 1000.0) / 1000.0);
}

//  A JSON string made from DATA (SIZE bytes of anything), or NULL on
//  out of memory.
static json_t *
s_string (const char *data, size_t size)
{
    size_t length;
    char *clean = tm_text_utf8_sanitize (data? data: "", data? size: 0, &length);
    json_t *string = json_stringn (clean, length);
    free (clean);
    return string;
}

//  Same for a NUL-terminated string; JSON null for NULL.
static json_t *
s_string_or_null (const char *str)
{
    return str? s_string (str, strlen (str)): json_null ();
}

static json_t *
s_count (uint64_t value)
{
    return json_integer (value > LLONG_MAX? LLONG_MAX: (json_int_t) value);
}

//  Builds the object for one test.  Returns NULL if jansson could not
//  make a value (out of memory).
static json_t *
s_test_object (const tm_task_t *task, const tm_result_t *result)
{
    json_t *test = json_object ();
    if (!test)
        return NULL;
    bool ran = result && result->status != TM_STATUS_SKIPPED;
    int failed = 0;
    failed |= json_object_set_new (test, "id", s_string_or_null (task->id));
    failed |= json_object_set_new (test, "target", s_string_or_null (task->target));
    failed |= json_object_set_new (test, "status", json_string (
        result? tm_status_name (result->status): "skipped"));
    failed |= json_object_set_new (test, "duration",
        s_seconds (result? result->duration: 0));
    failed |= json_object_set_new (test, "started", (ran && result->started > 0)
        ? s_seconds (result->started): json_null ());
    failed |= json_object_set_new (test, "attempts",
        json_integer (result? result->attempts: 0));
    failed |= json_object_set_new (test, "exit_code",
        (result && result->signal == 0 && result->exit_code >= 0)
        ? json_integer (result->exit_code): json_null ());
    failed |= json_object_set_new (test, "signal", (result && result->signal)
        ? json_string (tm_signal_name (result->signal))
        : json_null ());
    failed |= json_object_set_new (test, "member",
        s_string_or_null (result? result->member: NULL));
    failed |= json_object_set_new (test, "cached", json_boolean (result && result->cached));
    const char *message = result? result->message: "no result";
    if (!result && task->skip_reason)
        message = task->skip_reason;
    failed |= json_object_set_new (test, "message", s_string_or_null (message));
    failed |= json_object_set_new (test, "stdout",
        s_string (result? result->out: NULL, result? result->out_size: 0));
    failed |= json_object_set_new (test, "stderr",
        s_string (result? result->err: NULL, result? result->err_size: 0));
    failed |= json_object_set_new (test, "stdout_cut", s_count (result? result->out_cut: 0));
    failed |= json_object_set_new (test, "stderr_cut", s_count (result? result->err_cut: 0));
    failed |= json_object_set_new (test, "leftovers",
        json_integer (result? result->leftovers: 0));
    if (failed)
        json_decref (test);
    return failed? NULL: test;
}

//  Dumps VALUE (taking it) to OUT.  Returns 0 or -1.
static int
s_dump (FILE *out, json_t *value)
{
    if (!value)
        return -1;
    int rc = json_dumpf (value, out, S_DUMP_FLAGS);
    json_decref (value);
    return rc;
}

int
tm_report_json (const char *path, tm_tasklist_t *tasks,
                tm_result_t **results, size_t count, double elapsed,
                char **err)
{
    assert (path && tasks);
    size_t size = tm_tasklist_size (tasks);
    size_t counts [TM_STATUS_COUNT] = { 0 };
    for (size_t i = 0; i < size; i++) {
        tm_result_t *result = i < count? results [i]: NULL;
        counts [result? result->status: TM_STATUS_SKIPPED]++;
    }

    char *tmp_path = NULL;
    FILE *out = tm_text_file_open (path, &tmp_path, err);
    if (!out)
        return -1;

    json_t *summary = json_object ();
    int rc = summary? 0: -1;
    for (int status = 0; status < TM_STATUS_COUNT && rc == 0; status++)
        rc = json_object_set_new (summary, tm_status_name ((tm_status_t) status),
                                  json_integer ((json_int_t) counts [status]));
    if (rc == 0)
        rc = json_object_set_new (summary, "total", json_integer ((json_int_t) size));
    if (rc != 0)
        json_decref (summary);

    //  The envelope is written by hand so that the tests can be streamed.
    if (rc == 0) {
        fputs ("{\n  \"testmesh\": ", out);
        rc = s_dump (out, json_string (TM_VERSION));
    }
    if (rc == 0) {
        fprintf (out, ",\n  \"schema\": %d,\n  \"started\": ", S_SCHEMA);
        rc = s_dump (out, s_seconds (tm_wall_now () - elapsed));
    }
    if (rc == 0) {
        fputs (",\n  \"duration\": ", out);
        rc = s_dump (out, s_seconds (elapsed));
    }
    if (rc == 0) {
        fputs (",\n  \"counts\": ", out);
        rc = s_dump (out, summary);
    }
    if (rc == 0)
        fputs (",\n  \"tests\": [", out);
    for (size_t i = 0; i < size && rc == 0; i++) {
        fputs (i? ",\n    ": "\n    ", out);
        rc = s_dump (out, s_test_object (tm_tasklist_get (tasks, i),
                                         i < count? results [i]: NULL));
    }
    if (rc == 0)
        fputs (size? "\n  ]\n}\n": "]\n}\n", out);
    if (rc != 0)
        tm_fail (err, "cannot write %s: out of memory or write error", path);
    return tm_text_file_commit (out, &tmp_path, path, rc == 0, err);
}
