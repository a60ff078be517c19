/*  tm_proc.h - one child process: spawned, captured, bounded, killed, reaped.

    Children are started with posix_spawn (the process has ZeroMQ threads,
    so fork is off the table) in a process group of their own, with stdin
    from /dev/null, stdout and stderr on pipes, and every other descriptor
    closed.  Output is kept within a bound: the head and the tail of each
    stream, with the number of bytes cut in between.

    Invariants:
    1. Every child spawned here is reaped, by tm_proc_reap or by
       tm_proc_destroy, which kills its process group first.
    2. A tm_proc never calls waitpid (-1): it waits for its own pid only,
       so two users in one process never steal each other's statuses.
    3. Descendants that escape the process group (daemons) are reparented
       to us (we are a child subreaper, tm_proc_init) and killed by
       tm_proc_sweep_orphans.
*/
#ifndef TM_PROC_H_INCLUDED
#define TM_PROC_H_INCLUDED

#include "tm_common.h"
#include <spawn.h>

typedef struct _tm_proc_t tm_proc_t;

//  Makes this process a child subreaper so that orphaned descendants of
//  tests come back to us to be killed and reaped.  Call once at start-up.
void tm_proc_init (void);

//  Adds ENTRY ("K=V", copied; NULL removes it) to the environment of
//  every child spawned from now on, after the caller's ENV, so that it
//  wins: the agent marks its children with it (tm_guard.h).  Call it
//  while no other thread spawns (before the first actor that does).
void tm_proc_set_env (const char *entry);

//  HOOK (NULL: none) is called with ARG by every tm_proc_spawn before it
//  spawns, from the spawning thread: so it must be thread-safe, and
//  cheap once it has done its work.  The agent's guard starts itself from
//  it, so that no marked process exists before the guard does
//  (tm_guard.h).  Call it while no other thread spawns, as tm_proc_set_env.
typedef void (tm_proc_hook_fn) (void *arg);
void tm_proc_set_spawn_hook (tm_proc_hook_fn *hook, void *arg);

//  PID, our child started by other means than tm_proc_spawn (the agent's
//  guard, tm_guard.h), is spared by tm_proc_sweep_orphans until
//  tm_proc_disown (PID).  The caller reaps it (waitpid on PID only,
//  invariant 2).  Call tm_proc_own before another thread may sweep.
void tm_proc_own (pid_t pid);
void tm_proc_disown (pid_t pid);

//  Sets ATTR (initialised by the caller) as every child of ours starts:
//  an empty signal mask, every signal at its default (ours are blocked
//  and read from a signalfd), and a process group of its own, so that a
//  signal to our group (a terminal's Ctrl-C) never reaches it.
void tm_proc_spawnattr_child (posix_spawnattr_t *attr);

//  Spawns ARGV[0] (searched in PATH if it has no '/') in directory CWD
//  (NULL = ours) with our environment plus ENV ("K=V", NULL-terminated,
//  may be NULL).  Keeps up to LIMIT bytes of each output stream.
//  Returns NULL and sets *err if the program cannot be started.
tm_proc_t *tm_proc_spawn (char *const argv[], const char *cwd,
                          char *const env[], size_t limit, char **err);

//  Kills the process group (SIGKILL) if still running, reaps the child,
//  closes every descriptor.  Idempotent.
void tm_proc_destroy (tm_proc_t **self_p);

//  Descriptors to poll for input: stdout, stderr (-1 once at EOF), and
//  a pidfd that becomes readable when the child exits.
int tm_proc_stdout_fd (tm_proc_t *self);
int tm_proc_stderr_fd (tm_proc_t *self);
int tm_proc_pid_fd (tm_proc_t *self);
pid_t tm_proc_pid (tm_proc_t *self);

//  Reads whatever is available on FD (one of the two above) without
//  blocking.  Closes it at EOF.  Returns 0, or 1 at EOF.
int tm_proc_read (tm_proc_t *self, int fd);

//  Reaps the child if it has exited.  Returns true once it has.
bool tm_proc_reap (tm_proc_t *self);
bool tm_proc_exited (tm_proc_t *self);
//  After reaping: the exit status (-1 if signalled) and the signal (0 if exited).
int tm_proc_exit_code (tm_proc_t *self);
int tm_proc_signal (tm_proc_t *self);

//  Sends SIG to the child's whole process group.
void tm_proc_kill (tm_proc_t *self, int sig);

//  Takes the captured output of a stream (1 = stdout, 2 = stderr): the
//  caller owns *DATA (NUL-terminated, SIZE bytes before the NUL) and is
//  told how many bytes were cut.  A stream can be taken once.
void tm_proc_take_output (tm_proc_t *self, int stream, char **data,
                          size_t *size, uint64_t *cut);

//  Kills (SIGKILL) and reaps every child of this process that no live
//  tm_proc owns: the descendants of tests that outlived their process
//  group.  For each stray, ON_STRAY (may be NULL) is called first with
//  the test id from its environment (TESTMESH_TEST_ID, "" if none); if
//  it returns false the stray is spared: a daemon that a still-running
//  test started, and needs, is that test's business until it ends.
//  Strays adopted because a killed stray had children are swept too: the
//  scan repeats until a pass finds nothing to kill.  Returns how many it
//  killed.
typedef bool (tm_proc_stray_fn) (const char *test_id, void *arg);
int tm_proc_sweep_orphans (tm_proc_stray_fn *on_stray, void *arg);

//  Makes tm_proc_run, in the calling thread, give up (killing its
//  child) as soon as FD is readable: the CLI passes its signalfd, so
//  that Ctrl-C stops a hung listing, and each of an agent's listing
//  threads an eventfd of its own, so that one listing can be cancelled
//  without the others.  -1 turns it off.  Per thread.
void tm_proc_set_cancel_fd (int fd);

//  Whether tm_proc_run ends with tm_proc_sweep_orphans (NULL, NULL), as
//  it does by default (the CLI lists before any test runs).  An agent
//  lists beside running tests, whose daemons its executor spares: its
//  listing actor turns the sweep off (tm_listing.h).  Process-wide.
void tm_proc_set_run_sweep (bool sweep);

//  Runs ARGV to completion with a timeout, for short jobs such as
//  listing a binary's tests.  Returns 0 and sets *OUTPUT (stdout, caller
//  frees), *EXIT_CODE and *SIGNAL; or -1 with *err set if it could not
//  start, ran past TIMEOUT seconds, or the cancel descriptor became
//  readable ("interrupted"); it is killed then.
int tm_proc_run (char *const argv[], const char *cwd, double timeout,
                 size_t limit, char **output, int *exit_code, int *signal,
                 char **err);

#endif
