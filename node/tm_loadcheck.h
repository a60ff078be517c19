/*  tm_loadcheck.h - can this member start that program?

    A test binary built on one machine may not start on another: built
    for another CPU, for another C library, or linked against a shared
    library this member lacks.  exec then fails inside the dynamic
    loader, and the test "crashes" with exit status 127 and a line on
    stderr that nobody reads.  Before a work pool starts a task it asks
    here, and fails the task with one clear line instead:

        cannot execute on NODE: libfoo.so.3 not found

    What is checked, in order, for the task's argv [0] when it names a
    file (a program found through PATH is not checked):
    1. a script ("#!"): that its interpreter exists and is executable;
    2. an ELF file: that its class, byte order and machine are this
       process's own ("built for aarch64, this member is x86_64");
    3. a dynamically linked ELF file (one with a PT_INTERP): that its
       loader exists ("its loader /lib/ld-musl-x86_64.so.1 is missing"),
       then what the loader itself says when asked to list what the
       program needs (`LOADER --list PROGRAM`, in the task's cwd with the
       task's environment, so RUNPATH, $ORIGIN and LD_LIBRARY_PATH count
       as they will when it runs): the first library or symbol version
       it cannot find.  The loader resolves; we do not second-guess it.
    A statically linked binary passes 1 and 2 and is not run.  When the
    loader cannot be run or says something we do not understand, the
    check passes: the test then starts, and fails the way it would have.

    The loader runs once per program file (device, inode, size, mtime),
    environment and set of shipped files, not once per task: the answer
    is kept.  A hard-linked blob is one inode however many work
    directories hold it.

    The constraint this puts into words: a binary must be built for the
    members' OS, CPU and C library, or be static (docs/scheduling.md,
    "Inputs").
*/
#ifndef TM_LOADCHECK_H_INCLUDED
#define TM_LOADCHECK_H_INCLUDED

#include "tm_task.h"

typedef struct _tm_loadcheck_t tm_loadcheck_t;

tm_loadcheck_t *tm_loadcheck_new (void);
void tm_loadcheck_destroy (tm_loadcheck_t **self_p);

//  Checks that TASK's program can start here.  Returns 0 if it can (or
//  if we cannot tell), else -1 with *why (caller frees) set to what is
//  missing, in one line ("libfoo.so.3 not found").  May run the loader,
//  for at most a few seconds.
int tm_loadcheck_task (tm_loadcheck_t *self, const tm_task_t *task, char **why);

//  The ELF interpreter (PT_INTERP) PROGRAM names, into INTERP (SIZE
//  bytes): empty for a statically linked ELF file.  Returns 0, or -1 if
//  PROGRAM cannot be read, is not an ELF file, or is built for another
//  class or byte order than this process (its headers are then not ours
//  to read).  No loader is run.
int tm_loadcheck_interp (const char *program, char *interp, size_t size);

#endif
