/*  tm_adapter.h - turn a target (binary, build directory, manifest) into tasks.

    tm_adapter_discover detects the kind of TARGET (unless KIND says it),
    lists its tests, and appends one task per test case to TASKS.
    Listing a binary runs it (with a timeout) through tm_proc.

    When PREFIX is true, test ids are prefixed with "TARGET:" so that ids
    from several targets in one run stay unique.

    On error, returns -1, sets *err to a one-line message that names the
    target (for a manifest, "file:line: what is wrong"), and leaves TASKS
    unaltered.
*/
#ifndef TM_ADAPTER_H_INCLUDED
#define TM_ADAPTER_H_INCLUDED

#include "tm_task.h"

//  Seconds a binary may take to list its tests before it counts as hung.
#define TM_ADAPTER_LIST_TIMEOUT 30.0

int tm_adapter_discover (const char *target, tm_kind_t kind, bool prefix,
                         tm_tasklist_t *tasks, char **err);

//  Detects the kind of TARGET without running it: a directory holding
//  CTestTestfile.cmake is ctest; an ELF file linking Criterion or holding
//  GoogleTest's flags is criterion or gtest; a text file is a manifest.
int tm_adapter_detect (const char *target, tm_kind_t *kind, char **err);

//  Parsers for a binary's listing output, exposed for unit tests.  Each
//  appends tasks built for BINARY to TASKS and returns the number added,
//  or -1 with *err set if OUTPUT is not a listing.
int tm_adapter_parse_criterion_list (const char *binary, const char *target,
                                     const char *output, bool prefix,
                                     tm_tasklist_t *tasks, char **err);
int tm_adapter_parse_gtest_list (const char *binary, const char *target,
                                 const char *output, bool prefix,
                                 tm_tasklist_t *tasks, char **err);
//  Parses `ctest --show-only=json-v1` output for the build dir TARGET.
int tm_adapter_parse_ctest_json (const char *target, const char *json,
                                 bool prefix, tm_tasklist_t *tasks, char **err);

//  Refines a finished attempt's status from its output, for frameworks
//  that exit 0 on a skip (Criterion "Tested: 0", GoogleTest "[  SKIPPED ]")
//  or say why they failed (Criterion "Crashing: 1", "Timed out.").
//  Only changes *status and sets *message when the output says so.
#include "tm_result.h"
void tm_adapter_classify (tm_kind_t kind, tm_result_t *result);

#endif
