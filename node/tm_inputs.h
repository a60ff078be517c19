/*  tm_inputs.h - the files each task of a submitted run takes with it.

    Before `testmesh run` submits a run to its agent (and unless it was
    given --shared-fs), it decides which files each task needs where it
    runs, adds them to the agent's content store (tm_store.h), and writes
    them into the task: tm_task_t's root and files.  The agent then
    serves them to the members that run the task (tm_blobs.h), which run
    it in a work directory holding them (tm_workdir.h).  The CLI does
    this rather than the agent because it has the paths at hand (the
    targets, its own cwd) and is idle while it waits; the agent only
    checks that every blob named is in its store.

    A task's files (docs/scheduling.md, "Inputs"):
    1. its program, argv [0], if it names a regular file inside the
       directory of its target: the directory a ctest build is, or the
       directory holding the binary or manifest given.  So a test binary
       and a manifest's `./run.sh` travel, and `sort`, `/bin/sh` or
       `/usr/bin/python3` (the member's own) do not;
    2. each of its declared inputs: a manifest's `inputs` and every
       `--input PATH`.  A regular file is itself; a directory stands for
       every regular file under it (a symbolic link to a file is taken
       as that file; one to a directory is skipped, with a warning);
       anything else is an error.
    Paths are made absolute (relative to the task's cwd for argv [0],
    to the CLI's cwd for the rest) and cleaned (no ".", ".." or "//"),
    not resolved: a link keeps its own name.

    A task's root is the deepest directory holding its cwd and all its
    files; each file's path in the task is relative to it, and so is
    where the task runs.  A task without a cwd (Criterion and GoogleTest
    binaries run in the caller's) gets the CLI's.

    Each distinct path is hashed and stored once per run, whatever the
    number of tasks that need it.
*/
#ifndef TM_INPUTS_H_INCLUDED
#define TM_INPUTS_H_INCLUDED

#include "tm_store.h"
#include "tm_task.h"

typedef struct _tm_inputs_t tm_inputs_t;

//  Prepares tasks for STORE (borrowed), with the caller's cwd.  Returns
//  NULL with *err if the cwd cannot be read.
tm_inputs_t *tm_inputs_new (tm_store_t *store, char **err);
void tm_inputs_destroy (tm_inputs_t **self_p);

//  Finds TASK's files, adds them to the store, and sets TASK's root,
//  files and cwd.  Returns 0, or -1 with *err naming the file at fault.
int tm_inputs_prepare (tm_inputs_t *self, tm_task_t *task, char **err);

//  Distinct files hashed so far, and their bytes.
size_t tm_inputs_files (tm_inputs_t *self);
uint64_t tm_inputs_bytes (tm_inputs_t *self);

//  PATH made absolute (relative to BASE when it is not) and cleaned:
//  no empty, "." or ".." parts ("/.." is "/").  Caller frees.
char *tm_inputs_clean_path (const char *base, const char *path);

#endif
