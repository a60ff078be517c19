/*  tm_task.h - one test to run, as discovered from a target.

    A task is a plain record: adapters fill it in, the scheduler orders
    and places it, the executor spawns it.  Its fields are public because
    it is data passed between actors, like zmq_pollitem_t; every string
    and array is owned by the task and freed by tm_task_destroy.

    Once handed to the scheduler a task is immutable: actors share a
    borrowed pointer to it for the life of the run.
*/
#ifndef TM_TASK_H_INCLUDED
#define TM_TASK_H_INCLUDED

#include "tm_common.h"

//  How a target is listed and its tests are run.
typedef enum {
    TM_KIND_AUTO = 0,           //  Detect from the target (tm_adapter)
    TM_KIND_CRITERION,          //  Criterion binary: --list, --filter
    TM_KIND_GTEST,              //  GoogleTest binary: --gtest_list_tests
    TM_KIND_CTEST,              //  ctest build directory
    TM_KIND_MANIFEST            //  testmesh INI manifest (docs/manifest.md)
} tm_kind_t;

const char *tm_kind_name (tm_kind_t kind);
//  Parses "criterion", "gtest", "ctest", "manifest" or "auto"; -1 if none.
int tm_kind_parse (const char *name, tm_kind_t *kind);

//  A file a task needs where it runs, named by its content.  The CLI
//  puts it in its agent's content store (tm_store.h), holders fetch it
//  into theirs and link it into the task's work directory under PATH
//  (tm_workdir.h; docs/scheduling.md, "Inputs").
typedef struct {
    char *path;                 //  Relative to the task's root (tm_task_path_valid)
    char digest [65];           //  BLAKE2b-256 of the content, lowercase hex
    uint64_t size;              //  Bytes
    bool exec;                  //  Executable: mode 0555, else 0444
} tm_file_t;

typedef struct {
    char *id;                   //  Test id as the user sees it, unique in a run
    char *target;               //  Target as given on the command line
    tm_kind_t kind;             //  Adapter that made the task
    char **argv;                //  NULL-terminated argv, argv[0] is the program
    char *cwd;                  //  Working directory, NULL = the caller's
    char **env;                 //  NULL-terminated "K=V" added to the environment
    double timeout;             //  Seconds; 0 = the run's default
    bool will_fail;             //  A non-zero exit passes, zero fails (ctest WILL_FAIL)
    int skip_code;              //  Exit status that means skipped, -1 none
    char **inputs;              //  NULL-terminated declared input paths (globbed)
    char **labels;              //  NULL-terminated labels (ctest LABELS)
    char **requires;            //  NULL-terminated "k=v" a member must have
                                //  among its labels to run it (--require)
    char *skip_reason;          //  Non-NULL: do not run, report skipped with this
    char *unrunnable;           //  Non-NULL: no member can run it (its
                                //  requires): report FAILED with this
    char *history_key;          //  Stable key for the duration history
    char *root;                 //  Shipped: the origin's directory that its files
                                //  and cwd lie under; NULL runs it in place
    tm_file_t *files;           //  Shipped files (root set), files_size of them
    size_t files_size;
    char *cache_ident;          //  Result cache (docs/caching.md): the test's
    char *cache_decl;           //  identity and declared digest, which its
                                //  runner signs into a passing result; NULL
                                //  when the result is not to be cached
    bool trace;                 //  Run it under the trace shim (tm_trace.h): the
                                //  origin stores its result in the cache
    double expected;            //  Expected seconds from history, < 0 unknown
    size_t index;               //  Position in the run's task list
} tm_task_t;

//  Creates an empty task with the given id and target (copied).
tm_task_t *tm_task_new (const char *id, const char *target, tm_kind_t kind);
//  Creates a task the way every adapter names one (tm_adapter.c's
//  conventions 1 and 4): its id is ID, or "TARGET:ID" with PREFIX; its
//  history_key is "KEY_BASE\x1fID" with the unprefixed ID, KEY_BASE
//  being the target's realpath.  argv and the rest are left empty.
tm_task_t *tm_task_new_for (const char *target, tm_kind_t kind, const char *id,
                            bool prefix, const char *key_base);
void tm_task_destroy (tm_task_t **self_p);
//  Adds a shipped file (PATH and DIGEST copied).  Asserts PATH is valid
//  and DIGEST is 64 lowercase hex digits: callers check what they got
//  from outside first.
void tm_task_add_file (tm_task_t *self, const char *path, const char *digest,
                       uint64_t size, bool exec);
//  True if PATH is a relative path that stays below the directory it is
//  taken from: not empty, not absolute, no empty, "." or ".." part, no
//  trailing '/', at most 4095 bytes.  What a shipped file's path, and
//  a cwd below a root, must be.
bool tm_task_path_valid (const char *path);
//  True if DIGEST is 64 lowercase hex digits.
bool tm_task_digest_valid (const char *digest);

//  An ordered list of tasks that owns them.
typedef struct _tm_tasklist_t tm_tasklist_t;
tm_tasklist_t *tm_tasklist_new (void);
void tm_tasklist_destroy (tm_tasklist_t **self_p);
//  Appends TASK, taking ownership (sets *task_p to NULL).
void tm_tasklist_append (tm_tasklist_t *self, tm_task_t **task_p);
size_t tm_tasklist_size (tm_tasklist_t *self);
tm_task_t *tm_tasklist_get (tm_tasklist_t *self, size_t index);
//  A view: a list that borrows its tasks from another (destroying it
//  leaves them), for running part of a list.  tm_tasklist_view_append
//  adds TASK and sets task->index to its place in the view: the owner
//  restores the indexes it relies on when the view's run is over.
tm_tasklist_t *tm_tasklist_new_view (void);
void tm_tasklist_view_append (tm_tasklist_t *self, tm_task_t *task);
//  Moves every task of *SOURCE_P to the end of SELF and destroys it.
void tm_tasklist_splice (tm_tasklist_t *self, tm_tasklist_t **source_p);
//  Keeps only tasks for which KEEP returns true; destroys the rest.
void tm_tasklist_filter (tm_tasklist_t *self,
                         bool (*keep) (const tm_task_t *task, void *arg), void *arg);
//  Sorts with a qsort-style comparator, then renumbers task->index.
void tm_tasklist_sort (tm_tasklist_t *self,
                       int (*compare) (const void *a, const void *b));

#endif
