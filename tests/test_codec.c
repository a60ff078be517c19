/*  test_codec.c - tasks and results to JSON and back (tm_codec): every
    field survives the trip through text, binary output keeps its bytes
    and sizes, and malformed input is refused with a one-line reason,
    never a crash. */
#include "tm_testutil.h"
#include "tm_codec.h"
#include <limits.h>

//  Encodes, prints, parses and decodes, as a task crossing the wire does.
static tm_task_t *
s_task_trip (const tm_task_t *task)
{
    json_t *json = tm_codec_task_encode (task);
    cr_assert_not_null (json);
    char *text = json_dumps (json, JSON_COMPACT);
    json_decref (json);
    cr_assert_not_null (text);
    json_error_t error;
    json = json_loads (text, 0, &error);
    free (text);
    cr_assert_not_null (json, "%s", error.text);
    char *err = NULL;
    tm_task_t *copy = tm_codec_task_decode (json, &err);
    json_decref (json);
    cr_assert_not_null (copy, "decode failed: %s", err);
    return copy;
}

static tm_result_t *
s_result_trip (const tm_result_t *result)
{
    json_t *json = tm_codec_result_encode (result);
    cr_assert_not_null (json);
    char *text = json_dumps (json, JSON_COMPACT);
    json_decref (json);
    cr_assert_not_null (text);
    json_error_t error;
    json = json_loads (text, 0, &error);
    free (text);
    cr_assert_not_null (json, "%s", error.text);
    char *err = NULL;
    tm_result_t *copy = tm_codec_result_decode (json, &err);
    json_decref (json);
    cr_assert_not_null (copy, "decode failed: %s", err);
    return copy;
}

static void
s_assert_strv_eq (char **a, char **b)
{
    cr_assert_eq (tm_strv_size (a), tm_strv_size (b));
    for (size_t i = 0; a && a [i]; i++)
        cr_assert_str_eq (a [i], b [i]);
}

#define S_DIGEST_A "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"
#define S_DIGEST_B "27a957dd8ae2c265bcca43a33f1804d7f4302ceac79330c12c66c4002b3111a8"

static tm_task_t *
s_rich_task (void)
{
    tm_task_t *task = tm_task_new_for ("build/unit tests", TM_KIND_GTEST,
                                       "Naïve.Ünicode/0", true, "/src/build/unit tests");
    tm_strv_push (&task->argv, "/src/build/unit tests");
    tm_strv_push (&task->argv, "--gtest_filter=Naïve.Ünicode/0");
    tm_strv_push (&task->argv, "");
    tm_strv_push (&task->argv, "quote \" backslash \\ tab \t newline \n");
    task->cwd = strdup ("/tmp/work dir");
    tm_strv_push (&task->env, "A=1");
    tm_strv_push (&task->env, "EMPTY=");
    tm_strv_push (&task->env, "EQ=a=b");
    task->timeout = 2.5;
    task->will_fail = true;
    task->skip_code = 77;
    tm_strv_push (&task->inputs, "data/*.csv");
    tm_strv_push (&task->labels, "slow");
    tm_strv_push (&task->labels, "net");
    task->skip_reason = strdup ("disabled");
    task->expected = 12.345678901234567;
    task->index = 41;
    task->root = strdup ("/src");
    tm_task_add_file (task, "build/unit tests", S_DIGEST_A, 52428800, true);
    tm_task_add_file (task, "data/ü.csv", S_DIGEST_B, 0, false);
    return task;
}

//  Sets OUT (or ERR) of RESULT to a copy of SIZE bytes of DATA.
static void
s_set_output (char **field, size_t *field_size, const void *data, size_t size)
{
    *field = (char *) malloc (size + 1);
    memcpy (*field, data, size);
    (*field) [size] = 0;
    *field_size = size;
}

static tm_result_t *
s_rich_result (void)
{
    tm_result_t *result = tm_result_new ("suite/test", 7);
    result->status = TM_STATUS_CRASHED;
    result->started = 1718000000.1234567;
    result->duration = 0.031;
    result->attempts = 3;
    result->exit_code = -1;
    result->signal = 11;
    result->member = strdup ("ci-7");
    result->message = strdup ("killed by signal 11 (SIGSEGV)");
    unsigned char every [256];
    for (int i = 0; i < 256; i++)
        every [i] = (unsigned char) i;
    s_set_output (&result->out, &result->out_size, every, sizeof every);
    s_set_output (&result->err, &result->err_size, "a\0b\xff\xfe\0", 6);
    result->out_cut = 123456789012ULL;
    result->err_cut = 0;
    result->leftovers = 2;
    return result;
}

//  ---------------------------------------------------------------------
//  Round trips

Test (codec, task_round_trip_keeps_every_field)
{
    tm_task_t *task = s_rich_task ();
    tm_task_t *copy = s_task_trip (task);
    cr_assert_str_eq (copy->id, task->id);
    cr_assert_str_eq (copy->target, task->target);
    cr_assert_eq (copy->kind, TM_KIND_GTEST);
    s_assert_strv_eq (copy->argv, task->argv);
    cr_assert_str_eq (copy->cwd, task->cwd);
    s_assert_strv_eq (copy->env, task->env);
    cr_assert_eq (copy->timeout, 2.5);
    cr_assert (copy->will_fail);
    cr_assert_eq (copy->skip_code, 77);
    s_assert_strv_eq (copy->inputs, task->inputs);
    s_assert_strv_eq (copy->labels, task->labels);
    cr_assert_str_eq (copy->skip_reason, "disabled");
    //  The history key holds a \x1f separator (tm_task_new_for)
    cr_assert_str_eq (copy->history_key, task->history_key);
    cr_assert_eq (copy->expected, task->expected, "doubles survive exactly");
    cr_assert_eq (copy->index, 41);
    cr_assert_str_eq (copy->root, "/src");
    cr_assert_eq (copy->files_size, 2);
    for (size_t i = 0; i < 2; i++) {
        cr_assert_str_eq (copy->files [i].path, task->files [i].path);
        cr_assert_str_eq (copy->files [i].digest, task->files [i].digest);
        cr_assert_eq (copy->files [i].size, task->files [i].size);
        cr_assert_eq (copy->files [i].exec, task->files [i].exec);
    }
    tm_task_destroy (&copy);
    tm_task_destroy (&task);
}

Test (codec, task_round_trip_keeps_nulls_and_defaults)
{
    tm_task_t *task = tm_task_new ("t", "m.ini", TM_KIND_MANIFEST);
    tm_strv_push (&task->argv, "true");
    tm_task_t *copy = s_task_trip (task);
    cr_assert_null (copy->cwd);
    cr_assert_null (copy->env);
    cr_assert_null (copy->inputs);
    cr_assert_null (copy->labels);
    cr_assert_null (copy->skip_reason);
    cr_assert_null (copy->history_key);
    cr_assert_eq (copy->timeout, 0);
    cr_assert_not (copy->will_fail);
    cr_assert_eq (copy->skip_code, -1);
    cr_assert_eq (copy->expected, -1);
    cr_assert_eq (copy->index, 0);
    cr_assert_null (copy->root, "a task that ships nothing runs in place");
    cr_assert_eq (copy->files_size, 0);
    tm_task_destroy (&copy);
    tm_task_destroy (&task);
}

Test (codec, task_decode_fills_defaults_for_absent_optional_fields)
{
    json_t *json = json_pack ("{s:s, s:s, s:s, s:[s], s:i}", "id", "x", "target", "t",
                              "kind", "ctest", "argv", "prog", "index", 3);
    char *err = NULL;
    tm_task_t *task = tm_codec_task_decode (json, &err);
    cr_assert_not_null (task, "%s", err);
    cr_assert_eq (task->kind, TM_KIND_CTEST);
    cr_assert_eq (task->skip_code, -1);
    cr_assert_eq (task->expected, -1);
    cr_assert_eq (task->index, 3);
    cr_assert_str_eq (task->argv [0], "prog");
    cr_assert_null (task->argv [1]);
    tm_task_destroy (&task);
    json_decref (json);
}

Test (codec, task_encode_refuses_a_command_that_is_not_utf8)
{
    tm_task_t *task = tm_task_new ("t", "m.ini", TM_KIND_MANIFEST);
    tm_strv_push (&task->argv, "/bin/caf\xe9");
    cr_assert_null (tm_codec_task_encode (task), "a changed byte would run another program");
    tm_task_destroy (&task);
}

Test (codec, result_round_trip_keeps_binary_output_with_nul_bytes)
{
    tm_result_t *result = s_rich_result ();
    tm_result_t *copy = s_result_trip (result);
    cr_assert_str_eq (copy->id, "suite/test");
    cr_assert_eq (copy->index, 7);
    cr_assert_eq (copy->status, TM_STATUS_CRASHED);
    cr_assert_eq (copy->started, result->started);
    cr_assert_eq (copy->duration, result->duration);
    cr_assert_eq (copy->attempts, 3);
    cr_assert_eq (copy->exit_code, -1);
    cr_assert_eq (copy->signal, 11);
    cr_assert_str_eq (copy->member, "ci-7");
    cr_assert_str_eq (copy->message, result->message);
    cr_assert_eq (copy->out_size, 256);
    cr_assert_eq (memcmp (copy->out, result->out, 256), 0);
    cr_assert_eq (copy->out [256], 0, "NUL-terminated past its size");
    cr_assert_eq (copy->err_size, 6);
    cr_assert_eq (memcmp (copy->err, "a\0b\xff\xfe\0", 6), 0);
    cr_assert_eq (copy->out_cut, 123456789012ULL);
    cr_assert_eq (copy->err_cut, 0);
    cr_assert_eq (copy->leftovers, 2);
    tm_result_destroy (&copy);
    tm_result_destroy (&result);
}

Test (codec, result_round_trip_of_every_status_and_output_size)
{
    //  Sizes 0..5 cover every base64 padding case, twice over
    for (int status = 0; status < TM_STATUS_COUNT; status++)
        for (size_t size = 0; size < 6; size++) {
            tm_result_t *result = tm_result_new ("x", size);
            result->status = (tm_status_t) status;
            s_set_output (&result->out, &result->out_size, "\0\1\2\3\4\5", size);
            tm_result_t *copy = s_result_trip (result);
            cr_assert_eq (copy->status, status);
            cr_assert_not_null (copy->out);
            cr_assert_eq (copy->out_size, size);
            cr_assert_eq (memcmp (copy->out, result->out, size), 0);
            cr_assert_null (copy->err, "no output stays NULL");
            cr_assert_eq (copy->err_size, 0);
            cr_assert_null (copy->member);
            cr_assert_null (copy->message);
            tm_result_destroy (&copy);
            tm_result_destroy (&result);
        }
}

Test (codec, result_encode_repairs_text_that_is_not_utf8)
{
    tm_result_t *result = tm_result_new ("x", 0);
    result->message = strdup ("cannot execute /bin/caf\xe9: No such file");
    tm_result_t *copy = s_result_trip (result);
    cr_assert_str_eq (copy->message, "cannot execute /bin/caf\xef\xbf\xbd: No such file");
    tm_result_destroy (&copy);
    tm_result_destroy (&result);
}

//  ---------------------------------------------------------------------
//  Malformed input

//  Decodes the JSON text TEXT (which must parse) as a task or result and
//  checks it is refused with an error containing WANT, on one line.
static void
s_refused (bool task, const char *text, const char *want)
{
    json_error_t error;
    json_t *json = json_loads (text, JSON_DECODE_ANY, &error);
    cr_assert_not_null (json, "bad test input %s: %s", text, error.text);
    char *err = NULL;
    void *decoded = task ? (void *) tm_codec_task_decode (json, &err)
                         : (void *) tm_codec_result_decode (json, &err);
    json_decref (json);
    cr_assert_null (decoded, "accepted %s", text);
    cr_assert_not_null (err, "no reason for refusing %s", text);
    cr_assert_null (strchr (err, '\n'), "reason on one line: %s", err);
    cr_assert_not_null (strstr (err, want), "refusing %s: wanted '%s' in '%s'",
                        text, want, err);
    free (err);
}

#define S_TASK_OK  "\"id\":\"x\",\"target\":\"t\",\"kind\":\"manifest\",\"argv\":[\"true\"],\"index\":0"
#define S_RESULT_OK "\"id\":\"x\",\"index\":0,\"status\":\"passed\""

Test (codec, task_decode_refuses_wrong_types_and_missing_fields)
{
    s_refused (true, "[]", "JSON object");
    s_refused (true, "\"task\"", "JSON object");
    s_refused (true, "{\"target\":\"t\",\"kind\":\"gtest\",\"argv\":[\"a\"],\"index\":0}", "no 'id'");
    s_refused (true, "{\"id\":\"\",\"target\":\"t\",\"kind\":\"gtest\",\"argv\":[\"a\"],\"index\":0}", "'id' is empty");
    s_refused (true, "{\"id\":5,\"target\":\"t\",\"kind\":\"gtest\",\"argv\":[\"a\"],\"index\":0}", "'id' must be a string");
    s_refused (true, "{\"id\":\"x\",\"target\":\"t\",\"kind\":\"gtest\",\"index\":0}", "no 'argv'");
    s_refused (true, "{\"id\":\"x\",\"target\":\"t\",\"kind\":\"gtest\",\"argv\":[],\"index\":0}", "'argv' is empty");
    s_refused (true, "{\"id\":\"x\",\"target\":\"t\",\"kind\":\"gtest\",\"argv\":\"a\",\"index\":0}", "'argv' must be an array");
    s_refused (true, "{\"id\":\"x\",\"target\":\"t\",\"kind\":\"gtest\",\"argv\":[\"a\",1],\"index\":0}", "'argv' must be a string");
    s_refused (true, "{\"id\":\"x\",\"target\":\"t\",\"kind\":\"gtest\",\"argv\":[\"a\"]}", "no 'index'");
    s_refused (true, "{\"id\":\"x\",\"target\":\"t\",\"kind\":\"java\",\"argv\":[\"a\"],\"index\":0}", "'kind'");
    s_refused (true, "{\"id\":\"x\",\"kind\":\"gtest\",\"argv\":[\"a\"],\"index\":0}", "no 'target'");
    s_refused (true, "{" S_TASK_OK ",\"cwd\":7}", "'cwd'");
    s_refused (true, "{" S_TASK_OK ",\"env\":[\"NOEQUALS\"]}", "not K=V");
    s_refused (true, "{" S_TASK_OK ",\"env\":[\"=v\"]}", "not K=V");
    s_refused (true, "{" S_TASK_OK ",\"env\":{}}", "'env'");
    s_refused (true, "{" S_TASK_OK ",\"will_fail\":\"yes\"}", "'will_fail'");
    s_refused (true, "{" S_TASK_OK ",\"will_fail\":1}", "'will_fail'");
    s_refused (true, "{" S_TASK_OK ",\"labels\":[null]}", "'labels'");
    s_refused (true, "{" S_TASK_OK ",\"inputs\":null}", "'inputs'");
    s_refused (true, "{" S_TASK_OK ",\"skip_reason\":false}", "'skip_reason'");
    s_refused (true, "{" S_TASK_OK ",\"history_key\":[]}", "'history_key'");
}

Test (codec, task_decode_refuses_shipped_files_that_could_escape_or_lie)
{
#define S_FILE(path, digest, size) "{" S_TASK_OK ",\"root\":\"/r\",\"files\":[{\"path\":" \
    path ",\"digest\":" digest ",\"size\":" size "}]}"
    const char *ok = "\"" S_DIGEST_A "\"";
    s_refused (true, "{" S_TASK_OK ",\"files\":[]}", "no 'root'");
    s_refused (true, "{" S_TASK_OK ",\"root\":\"relative\"}", "'root' must be an absolute");
    s_refused (true, "{" S_TASK_OK ",\"root\":\"\"}", "'root' is empty");
    s_refused (true, "{" S_TASK_OK ",\"root\":\"/r\",\"files\":{}}", "'files'");
    s_refused (true, "{" S_TASK_OK ",\"root\":\"/r\",\"files\":[7]}", "not a valid file");
    const char *paths [] = {
        "\"../etc/passwd\"", "\"a/../../b\"", "\"/etc/passwd\"", "\"\"", "\"a//b\"",
        "\"./a\"", "\"a/.\"", "\"a/\"", "\"..\"", "7", "null",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths [0]; i++) {
        char text [1024];
        snprintf (text, sizeof text, S_FILE ("%s", "%s", "1"), paths [i], ok);
        s_refused (true, text, "not a valid file");
    }
    char text [1024];
    snprintf (text, sizeof text, S_FILE ("\"a\"", "\"%s\"", "1"),
              "0E5751C026E543B2E8AB2EB06099DAA1D1E5DF47778F7787FAAB45CDF12FE3A8");
    s_refused (true, text, "not a valid file");
    snprintf (text, sizeof text, S_FILE ("\"a\"", "\"%s\"", "1"), "0e5751c0");
    s_refused (true, text, "not a valid file");
    snprintf (text, sizeof text, S_FILE ("\"a\"", "%s", "-1"), ok);
    s_refused (true, text, "'size'");
    snprintf (text, sizeof text, S_FILE ("\"a\"", "%s", "2199023255553"), ok);
    s_refused (true, text, "'size'");
    snprintf (text, sizeof text, "{" S_TASK_OK ",\"root\":\"/r\",\"files\":["
              "{\"path\":\"a\",\"digest\":%s,\"size\":1},"
              "{\"path\":\"a\",\"digest\":%s,\"size\":2}]}", ok, ok);
    s_refused (true, text, "names 'a' twice");
    snprintf (text, sizeof text, "{" S_TASK_OK ",\"root\":\"/r\",\"files\":["
              "{\"path\":\"a\",\"digest\":%s,\"size\":1,\"exec\":1}]}", ok);
    s_refused (true, text, "'exec'");
    //  A NUL inside a path would cut it short
    snprintf (text, sizeof text, S_FILE ("\"x\"", "%s", "1"), ok);
    json_t *json = json_loads (text, 0, NULL);
    json_object_set_new (json_array_get (json_object_get (json, "files"), 0), "path",
                         json_stringn ("a\0/../../b", 10));
    char *err = NULL;
    cr_assert_null (tm_codec_task_decode (json, &err));
    cr_assert (strstr (err, "not a valid file"), "%s", err);
    free (err);
    json_decref (json);
#undef S_FILE
}

Test (codec, task_decode_refuses_numbers_out_of_range)
{
    s_refused (true, "{\"id\":\"x\",\"target\":\"t\",\"kind\":\"gtest\",\"argv\":[\"a\"],\"index\":-1}", "'index'");
    s_refused (true, "{\"id\":\"x\",\"target\":\"t\",\"kind\":\"gtest\",\"argv\":[\"a\"],\"index\":1.5}", "'index' must be an integer");
    s_refused (true, "{\"id\":\"x\",\"target\":\"t\",\"kind\":\"gtest\",\"argv\":[\"a\"],\"index\":\"0\"}", "'index'");
    s_refused (true, "{" S_TASK_OK ",\"timeout\":-1}", "'timeout'");
    s_refused (true, "{" S_TASK_OK ",\"timeout\":1e300}", "'timeout'");
    s_refused (true, "{" S_TASK_OK ",\"timeout\":\"5\"}", "'timeout'");
    s_refused (true, "{" S_TASK_OK ",\"skip_code\":256}", "'skip_code'");
    s_refused (true, "{" S_TASK_OK ",\"skip_code\":-2}", "'skip_code'");
    s_refused (true, "{" S_TASK_OK ",\"skip_code\":9223372036854775807}", "'skip_code'");
    s_refused (true, "{" S_TASK_OK ",\"skip_code\":-9223372036854775807}", "'skip_code'");
    s_refused (true, "{" S_TASK_OK ",\"expected\":1e200}", "'expected'");
}

//  Strings with a NUL cannot come from json_loads without JSON_ALLOW_NUL,
//  but a decoder is handed a json_t: it may have been made any way.
Test (codec, decode_refuses_nul_bytes_in_strings)
{
    json_t *json = json_pack ("{s:s, s:s, s:s, s:[s], s:i}", "id", "x", "target", "t",
                              "kind", "gtest", "argv", "a", "index", 0);
    json_array_append_new (json_object_get (json, "argv"), json_stringn ("rm\0-rf", 6));
    char *err = NULL;
    cr_assert_null (tm_codec_task_decode (json, &err));
    cr_assert_str_eq (err, "task field 'argv' holds a NUL byte");
    zstr_free (&err);
    json_object_set_new (json, "argv", json_pack ("[s]", "a"));
    json_object_set_new (json, "id", json_stringn ("x\0y", 3));
    cr_assert_null (tm_codec_task_decode (json, &err));
    cr_assert_str_eq (err, "task field 'id' holds a NUL byte");
    zstr_free (&err);
    json_decref (json);

    json = json_pack ("{s:s, s:i, s:s}", "id", "x", "index", 0, "status", "passed");
    json_object_set_new (json, "message", json_stringn ("a\0b", 3));
    cr_assert_null (tm_codec_result_decode (json, &err));
    cr_assert_str_eq (err, "result field 'message' holds a NUL byte");
    zstr_free (&err);
    json_object_set_new (json, "message", json_null ());
    json_object_set_new (json, "status", json_stringn ("passed\0", 7));
    cr_assert_null (tm_codec_result_decode (json, &err));
    zstr_free (&err);
    json_decref (json);
}

Test (codec, decode_refuses_strings_and_arrays_over_their_bounds)
{
    char *big = (char *) malloc (TM_CODEC_STRING_MAX + 2);
    memset (big, 'a', TM_CODEC_STRING_MAX + 1);
    big [TM_CODEC_STRING_MAX + 1] = 0;
    json_t *json = json_pack ("{s:s, s:s, s:s, s:[s], s:i}", "id", "x", "target", "t",
                              "kind", "gtest", "argv", big, "index", 0);
    free (big);
    char *err = NULL;
    cr_assert_null (tm_codec_task_decode (json, &err));
    cr_assert_not_null (strstr (err, "longer than"), "%s", err);
    zstr_free (&err);
    json_t *labels = json_array ();
    for (int i = 0; i <= TM_CODEC_ARRAY_MAX; i++)
        json_array_append_new (labels, json_string ("l"));
    json_object_set_new (json, "argv", json_pack ("[s]", "a"));
    json_object_set_new (json, "labels", labels);
    cr_assert_null (tm_codec_task_decode (json, &err));
    cr_assert_not_null (strstr (err, "more than"), "%s", err);
    zstr_free (&err);
    json_decref (json);
}

Test (codec, result_decode_refuses_unknown_status_and_missing_fields)
{
    s_refused (false, "null", "JSON object");
    s_refused (false, "{\"index\":0,\"status\":\"passed\"}", "no 'id'");
    s_refused (false, "{\"id\":\"x\",\"status\":\"passed\"}", "no 'index'");
    s_refused (false, "{\"id\":\"x\",\"index\":0}", "no 'status'");
    s_refused (false, "{\"id\":\"x\",\"index\":0,\"status\":\"exploded\"}", "'status' is not a known status");
    s_refused (false, "{\"id\":\"x\",\"index\":0,\"status\":\"PASSED\"}", "'status'");
    s_refused (false, "{\"id\":\"x\",\"index\":0,\"status\":0}", "'status'");
    s_refused (false, "{" S_RESULT_OK ",\"member\":[]}", "'member'");
    s_refused (false, "{" S_RESULT_OK ",\"message\":{}}", "'message'");
}

Test (codec, result_decode_refuses_numbers_out_of_range)
{
    s_refused (false, "{\"id\":\"x\",\"index\":-5,\"status\":\"passed\"}", "'index'");
    s_refused (false, "{" S_RESULT_OK ",\"attempts\":9223372036854775807}", "'attempts'");
    s_refused (false, "{" S_RESULT_OK ",\"attempts\":-1}", "'attempts'");
    s_refused (false, "{" S_RESULT_OK ",\"exit_code\":256}", "'exit_code'");
    s_refused (false, "{" S_RESULT_OK ",\"exit_code\":-2}", "'exit_code'");
    s_refused (false, "{" S_RESULT_OK ",\"exit_code\":1.0}", "'exit_code' must be an integer");
    s_refused (false, "{" S_RESULT_OK ",\"signal\":-1}", "'signal'");
    s_refused (false, "{" S_RESULT_OK ",\"signal\":4294967307}", "'signal'");
    s_refused (false, "{" S_RESULT_OK ",\"started\":1e300}", "'started'");
    s_refused (false, "{" S_RESULT_OK ",\"started\":-1}", "'started'");
    s_refused (false, "{" S_RESULT_OK ",\"duration\":-0.5}", "'duration'");
    s_refused (false, "{" S_RESULT_OK ",\"duration\":\"1\"}", "'duration'");
    s_refused (false, "{" S_RESULT_OK ",\"out_cut\":-1}", "'out_cut'");
    s_refused (false, "{" S_RESULT_OK ",\"err_cut\":1e3}", "'err_cut'");
    s_refused (false, "{" S_RESULT_OK ",\"leftovers\":2147483648}", "'leftovers'");
}

Test (codec, result_decode_refuses_bad_base64)
{
    const char *bad [] = {
        "\"!!!!\"",             //  Not the alphabet
        "\"QQ\"",               //  Padding missing
        "\"QQ=\"",              //  Padding short
        "\"QR==\"",             //  Stray bits in the last character
        "\"QUJD====\"",         //  Padding where none belongs
        "\"QUJD\\n\"",          //  Trailing garbage
        "\" QUJD\"",            //  Leading garbage
        "\"QU JD\"",            //  A space inside
        "\"QUJD-_==\"",         //  URL-safe alphabet
        "42",
        "[\"QUJD\"]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        char text [128];
        snprintf (text, sizeof text, "{" S_RESULT_OK ",\"out\":%s}", bad [i]);
        s_refused (false, text, "'out'");
        snprintf (text, sizeof text, "{" S_RESULT_OK ",\"err\":%s}", bad [i]);
        s_refused (false, text, "'err'");
    }
}

//  Every field of a valid task and result, replaced in turn by each of a
//  set of hostile values: the decoder must return a record or NULL with
//  a reason, never crash (run it under `make asan` to catch the rest).
Test (codec, decode_survives_every_field_replaced_by_garbage)
{
    const char *garbage [] = {
        "null", "true", "false", "0", "-1", "1.5", "-1e308", "1e308",
        "9223372036854775807", "-9223372036854775808", "\"\"", "\"x\"",
        "\"\\u00ff\\ud83d\\ude00\"", "[]", "[null]", "[\"\"]", "[[]]", "{}",
        "{\"a\":1}", "\"====\"",
    };
    tm_task_t *task = s_rich_task ();
    tm_result_t *result = s_rich_result ();
    json_t *records [2] = { tm_codec_task_encode (task), tm_codec_result_encode (result) };
    tm_task_destroy (&task);
    tm_result_destroy (&result);
    for (int which = 0; which < 2; which++) {
        json_t *record = records [which];
        //  The keys first: changing an object while iterating it is not safe
        char **keys = NULL;
        const char *key;
        json_t *value;
        json_object_foreach (record, key, value)
            tm_strv_push (&keys, key);
        for (char **field = keys; *field; field++) {
            json_t *saved = json_incref (json_object_get (record, *field));
            for (size_t i = 0; i <= sizeof garbage / sizeof garbage [0]; i++) {
                if (i < sizeof garbage / sizeof garbage [0]) {
                    json_t *bad = json_loads (garbage [i], JSON_DECODE_ANY, NULL);
                    cr_assert_not_null (bad, "%s", garbage [i]);
                    json_object_set_new (record, *field, bad);
                }
                else
                    json_object_del (record, *field);       //  And absent
                char *err = NULL;
                bool decoded;
                if (which == 0) {
                    task = tm_codec_task_decode (record, &err);
                    decoded = task != NULL;
                    tm_task_destroy (&task);
                }
                else {
                    result = tm_codec_result_decode (record, &err);
                    decoded = result != NULL;
                    tm_result_destroy (&result);
                }
                cr_assert (decoded || (err && *err && !strchr (err, '\n')),
                           "field %s: refused without a one-line reason", *field);
                cr_assert (!decoded || !err, "field %s: accepted with a reason", *field);
                free (err);
                //  A NULL ERR is allowed too
                task = which == 0 ? tm_codec_task_decode (record, NULL) : NULL;
                result = which == 1 ? tm_codec_result_decode (record, NULL) : NULL;
                tm_task_destroy (&task);
                tm_result_destroy (&result);
            }
            json_object_set_new (record, *field, saved);
        }
        tm_strv_free (&keys);
        json_decref (record);
    }
}

Test (codec, cache_fields_travel_and_are_checked)
{
    //  What the result cache needs from a run submitted to an agent: the
    //  task's identity, declared digest and trace request; the result's
    //  trace and its runner's signed claim (docs/caching.md, 5)
    tm_task_t *task = tm_task_new ("t", "target", TM_KIND_MANIFEST);
    tm_strv_push (&task->argv, "true");
    task->trace = true;
    task->cache_ident = strdup ("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    task->cache_decl = strdup ("fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210");
    json_t *json = tm_codec_task_encode (task);
    cr_assert_not_null (json);
    char *err = NULL;
    tm_task_t *copy = tm_codec_task_decode (json, &err);
    cr_assert_not_null (copy, "%s", err);
    cr_assert (copy->trace);
    cr_assert_str_eq (copy->cache_ident, task->cache_ident);
    cr_assert_str_eq (copy->cache_decl, task->cache_decl);
    tm_task_destroy (&copy);
    //  A digest that is not one is refused
    json_object_set_new (json, "cache_decl", json_string ("not hex"));
    copy = tm_codec_task_decode (json, &err);
    cr_assert_null (copy);
    cr_assert (err && strstr (err, "cache_decl"), "%s", err);
    zstr_free (&err);
    json_decref (json);
    tm_task_destroy (&task);

    tm_result_t *result = tm_result_new ("t", 0);
    result->trace = strdup ("r /etc/hostname\ne HOME\n");
    result->trace_lost = true;
    result->cache_signed = true;
    result->cache_created = 1790000000.25;
    for (int i = 0; i < 32; i++)
        result->cache_pk [i] = (uint8_t) i;
    for (int i = 0; i < 64; i++)
        result->cache_sig [i] = (uint8_t) (255 - i);
    json = tm_codec_result_encode (result);
    cr_assert_not_null (json);
    tm_result_t *back = tm_codec_result_decode (json, &err);
    cr_assert_not_null (back, "%s", err);
    cr_assert_str_eq (back->trace, result->trace);
    cr_assert (back->trace_lost && back->cache_signed);
    cr_assert_eq (back->cache_created, result->cache_created);
    cr_assert_eq (memcmp (back->cache_pk, result->cache_pk, 32), 0);
    cr_assert_eq (memcmp (back->cache_sig, result->cache_sig, 64), 0);
    tm_result_destroy (&back);
    //  A claim cut short is refused, not half-read
    json_object_set_new (json, "cache_sig", json_string ("abcd"));
    back = tm_codec_result_decode (json, &err);
    cr_assert_null (back);
    zstr_free (&err);
    json_decref (json);
    tm_result_destroy (&result);
}
