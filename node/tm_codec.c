/*  tm_codec.c - tasks and results as JSON, for the wire between nodes.

    Encoders build with jansson and fail only where JSON cannot say what
    we hold.  Decoders read through the s_get_* helpers below, one per
    JSON type, each of which checks presence, type and range and writes
    the one-line error; a decoder is then a list of calls, and any field
    it reads has been checked.
*/
#include "tm_codec.h"
#include "tm_text.h"
#include <limits.h>
#include <math.h>
#include <sodium.h>

#define S_B64 sodium_base64_VARIANT_ORIGINAL

//  The largest JSON integer (jansson's json_int_t is a long long)
#define S_JSON_INT_MAX  LLONG_MAX
//  The largest index: what a size_t holds, or S_JSON_INT_MAX if less
#define S_INDEX_MAX ((uint64_t) SIZE_MAX < (uint64_t) S_JSON_INT_MAX \
                     ? (json_int_t) SIZE_MAX : (json_int_t) S_JSON_INT_MAX)

//  ---------------------------------------------------------------------
//  Encoding

//  A JSON string for STR, JSON null for NULL, or NULL if STR is not
//  valid UTF-8 (json_string refuses it).
static json_t *
s_string_or_null (const char *str)
{
    return str ? json_string (str) : json_null ();
}

//  A JSON string for STR with each invalid byte made U+FFFD; null for NULL.
static json_t *
s_text_or_null (const char *str)
{
    if (!str)
        return json_null ();
    size_t length;
    char *clean = tm_text_utf8_sanitize (str, strlen (str), &length);
    json_t *string = json_stringn (clean, length);
    free (clean);
    return string;
}

//  A JSON array of the strings of STRV (NULL is empty), or NULL if one
//  is not valid UTF-8.
static json_t *
s_strv (char *const *strv)
{
    json_t *array = json_array ();
    for (size_t i = 0; array && strv && strv [i]; i++)
        if (json_array_append_new (array, json_string (strv [i])) != 0) {
            json_decref (array);
            array = NULL;
        }
    return array;
}

//  DATA (SIZE bytes) as a base64 JSON string; null for NULL data.
static json_t *
s_base64 (const char *data, size_t size)
{
    if (!data)
        return json_null ();
    size_t encoded = sodium_base64_ENCODED_LEN (size, S_B64);
    char *text = (char *) malloc (encoded);
    if (!text)
        return NULL;
    sodium_bin2base64 (text, encoded, (const unsigned char *) data, size, S_B64);
    json_t *string = json_stringn (text, encoded - 1);
    free (text);
    return string;
}

static json_t *
s_count (uint64_t value)
{
    return json_integer (value > S_JSON_INT_MAX ? S_JSON_INT_MAX : (json_int_t) value);
}

json_t *
tm_codec_task_encode (const tm_task_t *task)
{
    assert (task);
    json_t *json = json_object ();
    if (!json)
        return NULL;
    //  json_object_set_new takes a NULL value as failure (and frees
    //  nothing), so one flag collects every field's outcome.
    int failed = 0;
    failed |= json_object_set_new (json, "id", s_string_or_null (task->id));
    failed |= json_object_set_new (json, "target", s_string_or_null (task->target));
    failed |= json_object_set_new (json, "kind", json_string (tm_kind_name (task->kind)));
    failed |= json_object_set_new (json, "argv", s_strv (task->argv));
    failed |= json_object_set_new (json, "cwd", s_string_or_null (task->cwd));
    failed |= json_object_set_new (json, "env", s_strv (task->env));
    failed |= json_object_set_new (json, "timeout", json_real (task->timeout));
    failed |= json_object_set_new (json, "will_fail", json_boolean (task->will_fail));
    failed |= json_object_set_new (json, "skip_code", json_integer (task->skip_code));
    failed |= json_object_set_new (json, "inputs", s_strv (task->inputs));
    failed |= json_object_set_new (json, "labels", s_strv (task->labels));
    failed |= json_object_set_new (json, "requires", s_strv (task->requires));
    failed |= json_object_set_new (json, "skip_reason", s_string_or_null (task->skip_reason));
    failed |= json_object_set_new (json, "unrunnable", s_string_or_null (task->unrunnable));
    failed |= json_object_set_new (json, "history_key", s_string_or_null (task->history_key));
    failed |= json_object_set_new (json, "expected", json_real (task->expected));
    failed |= json_object_set_new (json, "index", s_count (task->index));
    failed |= json_object_set_new (json, "trace", json_boolean (task->trace));
    failed |= json_object_set_new (json, "cache_ident", s_string_or_null (task->cache_ident));
    failed |= json_object_set_new (json, "cache_decl", s_string_or_null (task->cache_decl));
    if (task->root) {
        failed |= json_object_set_new (json, "root", json_string (task->root));
        json_t *files = json_array ();
        for (size_t i = 0; files && i < task->files_size; i++) {
            const tm_file_t *file = &task->files [i];
            if (json_array_append_new (files, json_pack ("{s:s, s:s, s:I, s:b}",
                    "path", file->path, "digest", file->digest,
                    "size", (json_int_t) file->size, "exec", file->exec)) != 0) {
                json_decref (files);
                files = NULL;
            }
        }
        failed |= json_object_set_new (json, "files", files);
    }
    if (failed) {
        json_decref (json);
        return NULL;
    }
    return json;
}

json_t *
tm_codec_result_encode (const tm_result_t *result)
{
    assert (result);
    assert (result->status >= 0 && result->status < TM_STATUS_COUNT);
    json_t *json = json_object ();
    if (!json)
        return NULL;
    int failed = 0;
    failed |= json_object_set_new (json, "id", s_text_or_null (result->id));
    failed |= json_object_set_new (json, "index", s_count (result->index));
    failed |= json_object_set_new (json, "status", json_string (tm_status_name (result->status)));
    failed |= json_object_set_new (json, "started", json_real (result->started));
    failed |= json_object_set_new (json, "duration", json_real (result->duration));
    failed |= json_object_set_new (json, "attempts", json_integer (result->attempts));
    failed |= json_object_set_new (json, "exit_code", json_integer (result->exit_code));
    failed |= json_object_set_new (json, "signal", json_integer (result->signal));
    failed |= json_object_set_new (json, "member", s_text_or_null (result->member));
    failed |= json_object_set_new (json, "message", s_text_or_null (result->message));
    failed |= json_object_set_new (json, "out", s_base64 (result->out, result->out_size));
    failed |= json_object_set_new (json, "out_cut", s_count (result->out_cut));
    failed |= json_object_set_new (json, "err", s_base64 (result->err, result->err_size));
    failed |= json_object_set_new (json, "err_cut", s_count (result->err_cut));
    failed |= json_object_set_new (json, "leftovers", json_integer (result->leftovers));
    failed |= json_object_set_new (json, "trace", s_text_or_null (result->trace));
    failed |= json_object_set_new (json, "untraceable", json_boolean (result->untraceable));
    failed |= json_object_set_new (json, "trace_lost", json_boolean (result->trace_lost));
    if (result->cache_signed) {
        char pk [sizeof result->cache_pk * 2 + 1], sig [sizeof result->cache_sig * 2 + 1];
        sodium_bin2hex (pk, sizeof pk, result->cache_pk, sizeof result->cache_pk);
        sodium_bin2hex (sig, sizeof sig, result->cache_sig, sizeof result->cache_sig);
        failed |= json_object_set_new (json, "cache_pk", json_string (pk));
        failed |= json_object_set_new (json, "cache_sig", json_string (sig));
        failed |= json_object_set_new (json, "cache_created", json_real (result->cache_created));
    }
    if (failed) {
        json_decref (json);
        return NULL;
    }
    return json;
}

//  ---------------------------------------------------------------------
//  Decoding
//
//  Each s_get_* reads field KEY of the object JSON for a record named
//  WHAT ("task", "result").  An absent field is an error if REQUIRED,
//  else leaves *value as it was.  Returns 0, or -1 with *err set.

//  Checks that VALUE is a string a C string can hold: no NUL inside, and
//  no longer than TM_CODEC_STRING_MAX.
static int
s_check_string (json_t *value, const char *what, const char *key, char **err)
{
    if (!json_is_string (value))
        return tm_fail (err, "%s field '%s' must be a string", what, key);
    size_t length = json_string_length (value);
    if (length > TM_CODEC_STRING_MAX)
        return tm_fail (err, "%s field '%s' is longer than %d bytes", what, key,
                        TM_CODEC_STRING_MAX);
    if (strlen (json_string_value (value)) != length)
        return tm_fail (err, "%s field '%s' holds a NUL byte", what, key);
    return 0;
}

//  A string field into *value (a new copy, replacing the old one).  With
//  NULLABLE, JSON null is accepted and gives NULL.  With NONEMPTY, "" is
//  refused.
static int
s_get_string (json_t *json, const char *key, bool required, bool nullable,
              bool nonempty, char **value, const char *what, char **err)
{
    json_t *field = json_object_get (json, key);
    if (!field)
        return required ? tm_fail (err, "%s has no '%s'", what, key) : 0;
    if (nullable && json_is_null (field)) {
        zstr_free (value);
        return 0;
    }
    if (s_check_string (field, what, key, err) != 0)
        return -1;
    if (nonempty && json_string_length (field) == 0)
        return tm_fail (err, "%s field '%s' is empty", what, key);
    free (*value);
    *value = strdup (json_string_value (field));
    return 0;
}

//  An array of strings into *value (NULL-terminated, replacing the old
//  one; an empty array gives NULL).  With NONEMPTY, [] is refused; with
//  ASSIGNMENTS, every entry must look like "K=V" with K not empty.
static int
s_get_strv (json_t *json, const char *key, bool required, bool nonempty,
            bool assignments, char ***value, const char *what, char **err)
{
    json_t *field = json_object_get (json, key);
    if (!field)
        return required ? tm_fail (err, "%s has no '%s'", what, key) : 0;
    if (!json_is_array (field))
        return tm_fail (err, "%s field '%s' must be an array of strings", what, key);
    size_t size = json_array_size (field);
    if (nonempty && size == 0)
        return tm_fail (err, "%s field '%s' is empty", what, key);
    if (size > TM_CODEC_ARRAY_MAX)
        return tm_fail (err, "%s field '%s' has more than %d entries", what, key,
                        TM_CODEC_ARRAY_MAX);
    for (size_t i = 0; i < size; i++) {
        json_t *entry = json_array_get (field, i);
        if (s_check_string (entry, what, key, err) != 0)
            return -1;
        if (assignments) {
            const char *text = json_string_value (entry);
            const char *equals = strchr (text, '=');
            if (!equals || equals == text)
                return tm_fail (err, "%s field '%s' has an entry that is not K=V",
                                what, key);
        }
    }
    tm_strv_free (value);
    for (size_t i = 0; i < size; i++)
        tm_strv_push (value, json_string_value (json_array_get (field, i)));
    return 0;
}

//  An integer from MIN to MAX.  A real, even 1.0, is refused: every
//  integer field is written as a JSON integer.
static int
s_get_integer (json_t *json, const char *key, bool required, json_int_t min,
               json_int_t max, json_int_t *value, const char *what, char **err)
{
    json_t *field = json_object_get (json, key);
    if (!field)
        return required ? tm_fail (err, "%s has no '%s'", what, key) : 0;
    if (!json_is_integer (field))
        return tm_fail (err, "%s field '%s' must be an integer", what, key);
    json_int_t number = json_integer_value (field);
    if (number < min || number > max)
        return tm_fail (err, "%s field '%s' must be from %lld to %lld, not %lld",
                        what, key, (long long) min, (long long) max, (long long) number);
    *value = number;
    return 0;
}

static int
s_get_int (json_t *json, const char *key, bool required, int min, int max,
           int *value, const char *what, char **err)
{
    json_int_t number = *value;
    if (s_get_integer (json, key, required, min, max, &number, what, err) != 0)
        return -1;
    *value = (int) number;
    return 0;
}

//  A finite number (integer or real) from MIN to MAX.
static int
s_get_number (json_t *json, const char *key, bool required, double min, double max,
              double *value, const char *what, char **err)
{
    json_t *field = json_object_get (json, key);
    if (!field)
        return required ? tm_fail (err, "%s has no '%s'", what, key) : 0;
    if (!json_is_number (field))
        return tm_fail (err, "%s field '%s' must be a number", what, key);
    double number = json_number_value (field);
    if (!isfinite (number) || number < min || number > max)
        return tm_fail (err, "%s field '%s' must be from %g to %g", what, key, min, max);
    *value = number;
    return 0;
}

static int
s_get_bool (json_t *json, const char *key, bool *value, const char *what, char **err)
{
    json_t *field = json_object_get (json, key);
    if (!field)
        return 0;
    if (!json_is_boolean (field))
        return tm_fail (err, "%s field '%s' must be true or false", what, key);
    *value = json_is_true (field);
    return 0;
}

//  A base64 field into *data and *size (replacing them).  Null gives
//  NULL and 0.  The text is bounded before anything is allocated, and
//  the buffer is no larger than the text, so a peer cannot make us
//  allocate more than it sent.
static int
s_get_base64 (json_t *json, const char *key, char **data, size_t *size,
              const char *what, char **err)
{
    json_t *field = json_object_get (json, key);
    if (!field)
        return 0;
    if (json_is_null (field)) {
        zstr_free (data);
        *size = 0;
        return 0;
    }
    if (!json_is_string (field))
        return tm_fail (err, "%s field '%s' must be a base64 string", what, key);
    const char *text = json_string_value (field);
    size_t length = json_string_length (field);
    if (length > sodium_base64_ENCODED_LEN (TM_CODEC_OUTPUT_MAX, S_B64) - 1)
        return tm_fail (err, "%s field '%s' holds more than %lu bytes", what, key,
                        (unsigned long) TM_CODEC_OUTPUT_MAX);
    size_t capacity = length / 4 * 3;
    char *buffer = (char *) malloc (capacity + 1);
    if (!buffer)
        return tm_fail (err, "%s field '%s': out of memory", what, key);
    size_t decoded = 0;
    //  With no end pointer, libsodium refuses trailing garbage, bad
    //  padding and stray bits, not only bad characters
    if (length % 4 != 0
    ||  sodium_base642bin ((unsigned char *) buffer, capacity, text, length, NULL,
                           &decoded, NULL, S_B64) != 0) {
        free (buffer);
        return tm_fail (err, "%s field '%s' is not valid base64", what, key);
    }
    buffer [decoded] = 0;
    free (*data);
    *data = buffer;
    *size = decoded;
    return 0;
}

//  A count of bytes cut: a non-negative integer.
static int
s_get_count (json_t *json, const char *key, uint64_t *value, const char *what, char **err)
{
    json_int_t number = 0;
    if (s_get_integer (json, key, false, 0, S_JSON_INT_MAX, &number, what, err) != 0)
        return -1;
    *value = (uint64_t) number;
    return 0;
}

//  A shipped task's "root" and "files" (tm_codec.h).  Absent both: the
//  task runs in place.
static int
s_get_files (json_t *json, tm_task_t *task, const char *what, char **err)
{
    json_t *files = json_object_get (json, "files");
    if (!json_object_get (json, "root"))
        return files ? tm_fail (err, "task has 'files' but no 'root'") : 0;
    if (s_get_string (json, "root", true, false, true, &task->root, what, err) != 0)
        return -1;
    if (task->root [0] != '/' || strlen (task->root) > 4095)
        return tm_fail (err, "task field 'root' must be an absolute path");
    if (!files)
        return 0;
    if (!json_is_array (files))
        return tm_fail (err, "task field 'files' must be an array of objects");
    if (json_array_size (files) > TM_CODEC_ARRAY_MAX)
        return tm_fail (err, "task field 'files' has more than %d entries", TM_CODEC_ARRAY_MAX);
    zhashx_t *seen = zhashx_new ();
    int rc = 0;
    size_t i;
    json_t *file;
    json_array_foreach (files, i, file) {
        const char *path = json_string_value (json_object_get (file, "path"));
        const char *digest = json_string_value (json_object_get (file, "digest"));
        json_int_t size = 0;
        bool exec = false;
        if (!json_is_object (file)
        ||  !tm_task_path_valid (path) || strlen (path) != json_string_length (
                json_object_get (file, "path"))
        ||  !tm_task_digest_valid (digest)
        ||  s_get_integer (file, "size", true, 0, (json_int_t) TM_CODEC_FILE_MAX, &size,
                           "file", err) != 0
        ||  s_get_bool (file, "exec", &exec, "file", err) != 0) {
            rc = tm_fail (err, "task field 'files' entry %zu is not a valid file", i);
            break;
        }
        if (zhashx_insert (seen, path, (void *) path) != 0) {
            rc = tm_fail (err, "task field 'files' names '%s' twice", path);
            break;
        }
        tm_task_add_file (task, path, digest, (uint64_t) size, exec);
    }
    zhashx_destroy (&seen);
    return rc;
}

//  A cache digest field (tm_task.h's cache_ident, cache_decl): absent or
//  null leaves NULL, else 64 lowercase hex digits.
static int
s_get_digest (json_t *json, const char *key, char **value, const char *what, char **err)
{
    if (s_get_string (json, key, false, true, false, value, what, err) != 0)
        return -1;
    if (*value && !tm_task_digest_valid (*value)) {
        zstr_free (value);
        return tm_fail (err, "%s field '%s' is not a digest", what, key);
    }
    return 0;
}

//  FIELD (hex) into SIZE bytes at OUT.
static int
s_get_hex (json_t *json, const char *key, uint8_t *out, size_t size, const char *what,
           char **err)
{
    const char *hex = json_string_value (json_object_get (json, key));
    size_t got = 0;
    if (!hex || strlen (hex) != size * 2
    ||  sodium_hex2bin (out, size, hex, size * 2, NULL, &got, NULL) != 0 || got != size)
        return tm_fail (err, "%s field '%s' must be %zu bytes in hex", what, key, size);
    return 0;
}

//  The runner's signed cache claim (tm_result.h), if the result has one:
//  all three fields or none.  The signature itself is checked where the
//  claim is filed (tm_runcache.c), against the claimed fields.
static int
s_get_claim (json_t *json, tm_result_t *result, const char *what, char **err)
{
    if (!json_object_get (json, "cache_sig"))
        return 0;
    if (s_get_hex (json, "cache_pk", result->cache_pk, sizeof result->cache_pk, what, err) != 0
    ||  s_get_hex (json, "cache_sig", result->cache_sig, sizeof result->cache_sig, what,
                   err) != 0
    ||  s_get_number (json, "cache_created", true, 0, TM_CODEC_EPOCH_MAX,
                      &result->cache_created, what, err) != 0)
        return -1;
    result->cache_signed = true;
    return 0;
}

tm_task_t *
tm_codec_task_decode (json_t *json, char **err)
{
    const char *what = "task";
    if (!json_is_object (json)) {
        tm_fail (err, "a task must be a JSON object");
        return NULL;
    }
    //  Checked before the task exists: tm_task_new needs both
    char *id = NULL, *target = NULL, *kind_name = NULL;
    tm_kind_t kind = TM_KIND_AUTO;
    json_int_t index = 0;
    tm_task_t *task = NULL;
    if (s_get_string (json, "id", true, false, true, &id, what, err) != 0
    ||  s_get_string (json, "target", true, false, false, &target, what, err) != 0
    ||  s_get_string (json, "kind", true, false, false, &kind_name, what, err) != 0)
        goto done;
    if (tm_kind_parse (kind_name, &kind) != 0) {
        tm_fail (err, "task field 'kind' is not a known kind");
        goto done;
    }
    task = tm_task_new (id, target, kind);
    if (s_get_strv (json, "argv", true, true, false, &task->argv, what, err) != 0
    ||  s_get_string (json, "cwd", false, true, false, &task->cwd, what, err) != 0
    ||  s_get_strv (json, "env", false, false, true, &task->env, what, err) != 0
    ||  s_get_number (json, "timeout", false, 0, TM_TIMEOUT_MAX, &task->timeout,
                      what, err) != 0
    ||  s_get_bool (json, "will_fail", &task->will_fail, what, err) != 0
    ||  s_get_int (json, "skip_code", false, -1, 255, &task->skip_code, what, err) != 0
    ||  s_get_strv (json, "inputs", false, false, false, &task->inputs, what, err) != 0
    ||  s_get_strv (json, "labels", false, false, false, &task->labels, what, err) != 0
    ||  s_get_strv (json, "requires", false, false, true, &task->requires, what, err) != 0
    ||  s_get_string (json, "skip_reason", false, true, false, &task->skip_reason,
                      what, err) != 0
    ||  s_get_string (json, "unrunnable", false, true, false, &task->unrunnable,
                      what, err) != 0
    ||  s_get_string (json, "history_key", false, true, false, &task->history_key,
                      what, err) != 0
    ||  s_get_number (json, "expected", false, -TM_CODEC_SECONDS_MAX,
                      TM_CODEC_SECONDS_MAX, &task->expected, what, err) != 0
    ||  s_get_integer (json, "index", true, 0, S_INDEX_MAX, &index, what, err) != 0
    ||  s_get_files (json, task, what, err) != 0
    ||  s_get_bool (json, "trace", &task->trace, what, err) != 0
    ||  s_get_digest (json, "cache_ident", &task->cache_ident, what, err) != 0
    ||  s_get_digest (json, "cache_decl", &task->cache_decl, what, err) != 0)
        tm_task_destroy (&task);
    else
        task->index = (size_t) index;
done:
    free (id);
    free (target);
    free (kind_name);
    return task;
}

tm_result_t *
tm_codec_result_decode (json_t *json, char **err)
{
    const char *what = "result";
    if (!json_is_object (json)) {
        tm_fail (err, "a result must be a JSON object");
        return NULL;
    }
    char *id = NULL, *status_name = NULL;
    json_int_t index = 0;
    int status = 0;
    tm_result_t *result = NULL;
    if (s_get_string (json, "id", true, false, true, &id, what, err) != 0
    ||  s_get_integer (json, "index", true, 0, S_INDEX_MAX, &index, what, err) != 0
    ||  s_get_string (json, "status", true, false, false, &status_name, what, err) != 0)
        goto done;
    while (status < TM_STATUS_COUNT && !streq (status_name, tm_status_name (status)))
        status++;
    if (status == TM_STATUS_COUNT) {
        tm_fail (err, "result field 'status' is not a known status");
        goto done;
    }
    result = tm_result_new (id, (size_t) index);
    result->status = (tm_status_t) status;
    if (s_get_number (json, "started", false, 0, TM_CODEC_EPOCH_MAX, &result->started,
                      what, err) != 0
    ||  s_get_number (json, "duration", false, 0, TM_CODEC_SECONDS_MAX, &result->duration,
                      what, err) != 0
    ||  s_get_int (json, "attempts", false, 0, TM_CODEC_ATTEMPTS_MAX, &result->attempts,
                   what, err) != 0
    ||  s_get_int (json, "exit_code", false, -1, 255, &result->exit_code, what, err) != 0
    ||  s_get_int (json, "signal", false, 0, TM_CODEC_SIGNAL_MAX, &result->signal,
                   what, err) != 0
    ||  s_get_string (json, "member", false, true, false, &result->member, what, err) != 0
    ||  s_get_string (json, "message", false, true, false, &result->message, what, err) != 0
    ||  s_get_base64 (json, "out", &result->out, &result->out_size, what, err) != 0
    ||  s_get_count (json, "out_cut", &result->out_cut, what, err) != 0
    ||  s_get_base64 (json, "err", &result->err, &result->err_size, what, err) != 0
    ||  s_get_count (json, "err_cut", &result->err_cut, what, err) != 0
    ||  s_get_int (json, "leftovers", false, 0, INT_MAX, &result->leftovers, what, err) != 0
    ||  s_get_string (json, "trace", false, true, false, &result->trace, what, err) != 0
    ||  s_get_bool (json, "untraceable", &result->untraceable, what, err) != 0
    ||  s_get_bool (json, "trace_lost", &result->trace_lost, what, err) != 0
    ||  s_get_claim (json, result, what, err) != 0)
        tm_result_destroy (&result);
done:
    free (id);
    free (status_name);
    return result;
}
