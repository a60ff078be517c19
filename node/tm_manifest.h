/*  tm_manifest.h - parse a testmesh manifest (docs/manifest.md).

    An INI file with git-config style sections:

        [defaults]
        timeout = 60

        [test "parser/empty"]
        command = ./build/parse_tool --selftest empty
        cwd = .
        env = LANG=C TZ=UTC
        inputs = data/empty.txt data/golden.out
        timeout = 5

    Relative paths (cwd, inputs, and the program if it contains a '/') are
    taken relative to the manifest's directory; a bare program name is
    looked up in PATH at load (tm_path_search) and stored absolute.
*/
#ifndef TM_MANIFEST_H_INCLUDED
#define TM_MANIFEST_H_INCLUDED

#include "tm_task.h"

//  Parses the manifest at PATH and appends one task per [test "..."]
//  section to TASKS.  On error returns -1, sets *err to
//  "PATH:LINE: what is wrong", and leaves TASKS unaltered.
int tm_manifest_load (const char *path, const char *target, bool prefix,
                      tm_tasklist_t *tasks, char **err);

//  Splits LINE into words the way a POSIX shell does (quotes, backslash
//  escapes), with no expansion.  Returns a NULL-terminated array, or
//  NULL with *err set on an unterminated quote.
char **tm_manifest_split_words (const char *line, char **err);

#endif
