/*  tm_trace.h - the trace of a test's undeclared inputs: the preloaded
    shim that records them, and the reader that cleans what it recorded.

    docs/caching.md, section 3.  The shim (dht-cache/shim/tm_trace_shim.c,
    libtestmesh-trace.so) is built with the binary and embedded in it
    (dht-cache/tm_trace_blob.S), so that a member needs nothing but the
    testmesh binary: tm_trace_shim_path writes it out where the executor
    can preload it.

    The normalized trace (tm_trace_read's result, tm_result_t's trace,
    the input of tm_cachekey_from_trace) is text, one "TAG PATH" (or
    "e NAME") line each, sorted by line, no duplicates:

        r PATH      a file (or directory) it opened to read, or tried to:
                    its content (or absence) is an input
        x PATH      a program it executed, or tried to (a PATH search
                    tries each candidate): its content
        d PATH      a directory it listed: the names in it
        s PATH      a path it only stat'ed or access'ed: whether it
                    exists and whether it is a file, a directory or
                    something else.  Not its content: a test that looks
                    at a file's size or mtime without reading it is not
                    invalidated by a change of them (the design has no
                    time stamps); one that reads it has an r line.
        e NAME      an environment variable it read

    A path that also has an r, x or d line loses its s line (the others
    say more).  Paths are absolute and cleaned (no ".", ".." or "//"),
    not resolved: a symbolic link keeps its own name.
*/
#ifndef TM_TRACE_H_INCLUDED
#define TM_TRACE_H_INCLUDED

#include "tm_common.h"

//  The embedded shim's bytes (tm_trace_blob.S).
extern const unsigned char tm_trace_shim_start [];
extern const unsigned char tm_trace_shim_end [];

//  Writes the embedded shim to DIR/libtestmesh-trace-<16 hex digits of
//  its digest>.so (mode 0555; written under a temporary name and
//  renamed, so a concurrent caller or a crash never leaves half a file)
//  unless a file of that name and size is there already.  Returns its
//  absolute path (caller frees; a relative DIR is taken from our cwd:
//  tests run in other directories), or NULL with *err set.
char *tm_trace_shim_path (const char *dir, char **err);

//  True if the shim can see what PROGRAM does: PROGRAM (a path, or a
//  bare name searched in PATH) is a dynamically linked ELF file of our
//  own class (it has a PT_INTERP), or a "#!" script whose interpreter
//  is one.  False for a statically linked program (no PT_INTERP: the
//  loader, which does LD_PRELOAD, never runs), and for one that cannot
//  be read.
bool tm_trace_traceable (const char *program);

//  Reads the trace file FILE the shim wrote and returns it normalized
//  (above; caller frees; "" if it holds nothing), or NULL if FILE cannot
//  be read.  Left out: paths under /proc, /sys and /dev; paths under
//  any of EXCLUDES (NULL-terminated directory or file paths, may be
//  NULL: the executor passes the shim and the trace's own directory);
//  every path the test wrote, created, renamed or removed ('w' lines),
//  and everything under a directory it made ('m' lines); lines it
//  cannot parse.
char *tm_trace_read (const char *file, char *const *excludes);

#endif
