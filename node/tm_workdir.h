/*  tm_workdir.h - a task's work directory: its shipped files, in their layout.

    A shipped task (tm_task_t's root is set) does not run where its CLI
    found it: each attempt gets a fresh directory, DATADIR/work/t-XXXXXX,
    that mirrors the part of the origin's file system under the task's
    root.  Every file of the task is linked there from the content store
    at its path (tm_store_link: a hard link, or a copy when the mode
    differs or the store is on another file system), so

        origin                          holder
        ROOT/build/tests/unit           WORK/build/tests/unit
        ROOT/data/golden.txt            WORK/data/golden.txt
        cwd ROOT/build                  cwd WORK/build (created, even empty)

    and then the task is pointed at it, in place:
    - its cwd becomes the same place under WORK (WORK if it had none);
    - each argument, and the value of each environment variable, that
      is ROOT or an absolute path under ROOT naming something that exists
      under WORK, is rewritten to that place: argv [0] of a shipped
      binary, and the absolute paths ctest puts in its commands; a path
      inside a longer string (a shell command) is left alone;
    - TESTMESH_WORK_DIR=WORK is added to its environment.

    The directory and all it holds are removed by tm_workdir_destroy,
    symbolic links removed, never followed, and directories the test
    made unreadable made readable first.
*/
#ifndef TM_WORKDIR_H_INCLUDED
#define TM_WORKDIR_H_INCLUDED

#include "tm_store.h"
#include "tm_task.h"

typedef struct _tm_workdir_t tm_workdir_t;

//  Makes TASK's work directory under BASE (created if missing) from the
//  blobs of STORE, and rewrites TASK as above.  TASK must have a root
//  (asserted).  Returns NULL with *err set, and leaves nothing behind,
//  if a file cannot be put in place (errno is then ENOENT if a blob is
//  missing from the store) or the task's cwd is not under its root.
tm_workdir_t *tm_workdir_new (const char *base, tm_store_t *store, tm_task_t *task,
                              char **err);

//  Removes the directory and everything in it.
void tm_workdir_destroy (tm_workdir_t **self_p);

//  The directory, WORK above.
const char *tm_workdir_path (tm_workdir_t *self);

//  Removes everything under BASE: the work directories of an agent
//  that died.  Returns how many entries it removed.
int tm_workdir_clean (const char *base);

#endif
