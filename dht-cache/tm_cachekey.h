/*  tm_cachekey.h - a test's cache keys: its identity I, its components,
    and the result key K they digest to (docs/caching.md, section 2).

    A tm_cachekey_t lives for one run (the CLI's) and remembers the
    digest of every path it hashed, so a file is read once per run
    however many tests depend on it: ten thousand tests of one binary
    hash it once.  Files are assumed not to change during the run; a
    file that does may keep its first digest (docs/caching.md, "Limits").
    Not thread-safe: one per thread.

    Component digests (all BLAKE2b-256, lowercase hex):
      file          the digest of its bytes, as tm_store_digest (so a
                    shipped file's digest in task->files is used as is)
      directory     as an input: every regular file below (symbolic links
                    to files followed, to directories skipped), sorted by
                    relative path, as the digest of "RELPATH NUL DIGEST
                    NUL" for each; as traced ("traced-dir:", or an r line
                    naming a directory): the digest of its entry names,
                    sorted, each followed by NUL
      stat          "traced-stat:": of "tm-stat" NUL and "file", "dir" or
                    "other" (stat follows links)
      variable      the digest of its value
      absent        TM_CACHEKEY_ABSENT, the digest of "tm-absent", for a
                    missing file, directory or variable (and anything
                    that cannot be read, but the program)
      argv          of the test id, then each argv [i] (argv [0] too),
                    each followed by NUL
      platform      of uname's sysname NUL machine NUL and
                    gnu_get_libc_version () NUL

    Component names: "program", "argv", "platform", "input:PATH" (PATH as
    the task declares it), "env:NAME", and the traced ones made from a
    trace (tm_trace.h): "traced:PATH" (r), "traced-exec:PATH" (x),
    "traced-dir:PATH" (d), "traced-stat:PATH" (s), "traced-env:NAME" (e).
    A list is always sorted by name (strcmp) with no name twice.
*/
#ifndef TM_CACHEKEY_H_INCLUDED
#define TM_CACHEKEY_H_INCLUDED

#include "tm_cacheentry.h"
#include "tm_task.h"

//  The digest of something absent: BLAKE2b-256 ("tm-absent").
#define TM_CACHEKEY_ABSENT "tm-absent"

typedef struct _tm_cachekey_t tm_cachekey_t;

tm_cachekey_t *tm_cachekey_new (void);
void tm_cachekey_destroy (tm_cachekey_t **self_p);

//  I: BLAKE2b-256 of "tm-ident-1" NUL and TASK's history_key
//  ("REALPATH\x1fID": the 0x1f plays the design's NUL), or, for a task
//  without one, "tm-ident-1" NUL TARGET NUL ID.
void tm_cachekey_ident (const tm_task_t *task, char hex [TM_CACHE_HEX]);

//  The declared components of TASK, sorted, into a new array at *LIST_P
//  (free with tm_components_free) of *COUNT_P entries: program, argv,
//  input:PATH for each declared input, env:NAME for the default set
//  (PATH LD_LIBRARY_PATH LD_PRELOAD LANG LC_ALL TZ HOME TMPDIR) and each
//  variable TASK sets (its value if it sets it, else ours), platform.
//  argv [0] is found the way the executor will find it: a path is
//  relative to task->cwd, a bare name is searched in PATH.  For a
//  shipped task (root set) the digests in task->files are taken for
//  the paths they name.  Returns 0, or -1 with *err if the program
//  cannot be found or read (nothing is set then).
int tm_cachekey_declared (tm_cachekey_t *self, const tm_task_t *task,
                          tm_component_t **list_p, size_t *count_p, char **err);

//  The digest of a sorted component list: of "NAME NUL DIGEST NUL" for
//  each in order.  DECL is that of the declared list, K that of the
//  declared and traced ones together (tm_cachekey_merge).
void tm_cachekey_digest (const tm_component_t *list, size_t count, char hex [TM_CACHE_HEX]);

//  Sorts LIST by name in place.
void tm_cachekey_sort (tm_component_t *list, size_t count);

//  A new sorted list of A's components and B's (copies; where both have
//  a name, A's is kept).  For K: merge (declared, traced).
void tm_cachekey_merge (const tm_component_t *a, size_t n_a,
                        const tm_component_t *b, size_t n_b,
                        tm_component_t **list_p, size_t *count_p);

//  The current digests of the traced components of a stored record:
//  each "traced*" name of RECORDED (the others are skipped: the
//  declared ones are derived afresh by tm_cachekey_declared), hashed
//  now.  Returns 0 (a file that is gone has the absent digest, so this
//  does not fail) with a new sorted list at *LIST_P.
int tm_cachekey_retrace (tm_cachekey_t *self, const tm_component_t *recorded,
                         size_t count, tm_component_t **list_p, size_t *count_p);

//  The traced components of TRACE (normalized trace text, tm_trace.h),
//  with current digests.  A path under WORKDIR (the directory a holder
//  ran a shipped task in) is taken as the same path under ROOT (the
//  origin's directory the task's files came from) before it is named
//  and hashed; both may be NULL (the task ran in place).  Lines that
//  do not parse are skipped.  Returns 0 with a new sorted list.
int tm_cachekey_from_trace (tm_cachekey_t *self, const char *trace, const char *workdir,
                            const char *root, tm_component_t **list_p, size_t *count_p);

//  What differs between two sorted lists, one line per difference, each
//  ending in '\n': "NAME changed" ("program changed", "env:TZ changed",
//  "input:data/x.txt changed"), "new: NAME" (only in NOW), "gone: NAME"
//  (only in OLD).  Returns the text (caller frees), or NULL if the lists
//  are the same.
char *tm_cachekey_explain (const tm_component_t *old, size_t n_old,
                           const tm_component_t *now, size_t n_now);

//  How many files (or directories) this deriver has read to hash them:
//  a path counts once, however often it is asked for.  For tests.
size_t tm_cachekey_hashed (tm_cachekey_t *self);

#endif
