/*  tm_codec.h - tasks and results as JSON, for the wire between nodes.

    A run spread over a cluster moves tm_task_t records from the CLI to
    the agents that run them, and tm_result_t records back.  This is the
    one place that turns them into JSON objects and back again, so that
    every message that carries one (docs/cli.md, "Submitting to an
    agent") agrees on the shape.

    Task object (every field of tm_task_t):

        {"id": S, "target": S, "kind": "criterion"|"gtest"|"ctest"|"manifest"|"auto",
         "argv": [S, ...], "cwd": S|null, "env": ["K=V", ...], "timeout": SECS,
         "will_fail": B, "skip_code": -1..255, "inputs": [S, ...],
         "labels": [S, ...], "requires": ["K=V", ...], "skip_reason": S|null,
         "unrunnable": S|null, "history_key": S|null,
         "expected": SECS (negative: unknown), "index": N,
         "root": S, "files": [{"path": S, "digest": HEX, "size": N, "exec": B}, ...]}

    "root" and "files" are there only for a task whose files are shipped
    (tm_task_t's root is set): root is absolute, each path is relative to
    it and stays below it (tm_task_path_valid), no path comes twice, and
    digest is 64 lowercase hex digits.  "files" without "root" is refused.

    Result object (every field of tm_result_t):

        {"id": S, "index": N, "status": "passed"|"failed"|...(tm_status_name),
         "started": EPOCH SECS, "duration": SECS, "attempts": N,
         "exit_code": -1..255, "signal": 0..128, "member": S|null,
         "message": S|null, "out": BASE64|null, "out_cut": N,
         "err": BASE64|null, "err_cut": N, "leftovers": N}

    Captured output can hold any bytes (NUL, broken UTF-8), which a JSON
    string cannot carry as they are: "out" and "err" are standard base64
    (RFC 4648 section 4, with padding; libsodium's ORIGINAL variant), so
    they come back byte for byte with their exact sizes.

    Decoding takes untrusted input: what arrives from another machine.
    The decoders check every type and every range and never assert on
    the input; they return NULL with a one-line *err naming the field.
    Required fields: a task's id, target, kind, argv and index; a
    result's id, index and status.  Any other field may be absent (it
    keeps tm_task_new's or tm_result_new's default) but, if present,
    must have its type and lie in its range.  Unknown fields are
    ignored, so a newer sender may add fields.
*/
#ifndef TM_CODEC_H_INCLUDED
#define TM_CODEC_H_INCLUDED

#include "tm_task.h"
#include "tm_result.h"
#include <jansson.h>

//  Bounds the decoders enforce.  Generous for any real suite; they are
//  there so that a hostile peer cannot make us allocate without limit.
#define TM_CODEC_STRING_MAX   (1024 * 1024)   //  Bytes in any one string field
#define TM_CODEC_ARRAY_MAX    65536           //  Entries in argv, env, inputs, labels
#define TM_CODEC_OUTPUT_MAX   (1UL << 30)     //  Decoded bytes of out or err
                                              //  (--output-limit is at most 1e9)
#define TM_CODEC_SECONDS_MAX  1e10            //  Any duration, expected or not
#define TM_CODEC_EPOCH_MAX    1e11            //  A wall-clock time (year 5138)
#define TM_CODEC_ATTEMPTS_MAX 1000            //  1 + retries, with room to spare
#define TM_CODEC_SIGNAL_MAX   128             //  Above any Linux signal number
#define TM_CODEC_FILE_MAX     (1ULL << 40)    //  Bytes in one shipped file (1 TiB)

//  Returns TASK as a new JSON object (caller json_decref's), or NULL if
//  a string of TASK is not valid UTF-8 (JSON cannot carry it: a command
//  or path in another encoding cannot be sent as it is, and changing a
//  byte of it would run something else) or on out of memory.
json_t *tm_codec_task_encode (const tm_task_t *task);

//  Makes a task from JSON (borrowed, not modified).  Returns the task
//  (caller destroys), or NULL with *err (if ERR is not NULL; caller
//  frees) set to one line saying which field is wrong.
tm_task_t *tm_codec_task_decode (json_t *json, char **err);

//  Returns RESULT as a new JSON object (caller json_decref's), or NULL
//  on out of memory.  Its id, member and message are made valid UTF-8
//  (each invalid byte becomes U+FFFD, as in the reports); out and err
//  are base64 and exact.
json_t *tm_codec_result_encode (const tm_result_t *result);

//  Makes a result from JSON (borrowed).  Returns the result (caller
//  destroys), or NULL with *err set as for tm_codec_task_decode.  A
//  decoded out or err, when present, is NUL-terminated past its size,
//  as the executor's are.
tm_result_t *tm_codec_result_decode (json_t *json, char **err);

#endif
