/*  tm_guard.h - an agent's test processes die with it, however it dies.

    An agent runs each test in a process group of its own, so that a
    signal meant for the agent (Ctrl-C in its terminal, a kill of its
    group) never reaches a test, and it kills them itself when it leaves.
    An agent that is SIGKILLed, crashes or is OOM-killed cannot: its tests,
    and what they started, would run on with nobody to stop them (issue
    #4: "no orphan processes are left anywhere").  The guard kills them.

    1. The mark.  Every process the agent starts carries
       TESTMESH_AGENT=KEY/INCARNATION in its environment (tm_proc_set_env),
       and so, by inheritance, do its descendants, those that left the
       test's process group included.  KEY names the data directory (its
       device and inode), INCARNATION this run of the agent (its pid and
       start time).
    2. The guard process.  tm_guard_start starts `testmesh __guard MARK`,
       in a process group of its own, with the read end of a pipe as its
       stdin; the only write end is the agent's.  It starts when it is
       first needed: tm_proc_spawn calls it before it spawns (the spawn
       hook), so no marked process ever exists without a guard; and the
       agent calls it once it has run TM_GUARD_START_DELAY s, so that the
       first test does not wait for it.  Not at start-up: it is an exec of
       this binary, ~5 ms of CPU (the dynamic loader, mostly), and 100
       agents started at once on one two-core machine spent 0.5 CPU s on
       it while they formed their cluster, when nothing needed it.  However the agent ends,
       the kernel closes that end: the guard reads EOF, kills every process
       with the mark and every process group one of them leads (members
       that cleared their environment die with their group), and exits.
       The agent that leaves cleanly has killed its tests already; it
       writes a byte first, and the guard exits without a sweep.
    3. The restart sweep.  Should the guard die too (both SIGKILLed, a
       kill of every process of the user), the next agent started on the
       same data directory kills, in tm_guard_new, before it starts
       anything, every process marked with that data directory's KEY,
       whatever its incarnation.

    Identity: a process is killed only if its own environment carries the
    mark (/proc/PID/environ), read while a pidfd holds the process, and
    signalled through that pidfd; so a pid that an unrelated process took
    over between the look and the kill is never signalled.  Without
    pidfds (Linux before 5.3) the process's start time (/proc/PID/stat)
    is compared before and after the look instead.

    Why not the alternatives (docs/scheduling.md, "Failures"):
    PR_SET_PDEATHSIG fires when the thread that forked the child ends,
    not the process, cannot be set through posix_spawn (a fork or clone
    path of our own would be needed) and kills only the child, never its
    descendants.  A running-groups file in the data directory costs a
    write per spawn, on the dispatch path, and names groups only: what
    left its test's group is not in it.  The mark costs one environment
    entry per spawn, and finds descendants wherever they went.

    What it cannot find: a descendant that left its test's process group
    and cleared or overwrote its environment (env -i, or a daemon that
    reuses its environment's memory for its process title); and, if the
    guard itself was killed alone, the agent's tests until the agent
    restarts.  cgroups would close both; they need privileges we do not
    assume.
*/
#ifndef TM_GUARD_H_INCLUDED
#define TM_GUARD_H_INCLUDED

#include "tm_common.h"

typedef struct _tm_guard_t tm_guard_t;

//  The environment variable that marks an agent's processes.
#define TM_GUARD_ENV "TESTMESH_AGENT"

//  For the agent on DATADIR, at start-up, once it knows it is the only
//  agent there (tm_control_bind) and before it starts any process (or
//  thread that spawns): kills what an earlier agent on DATADIR left
//  running (3 above), marks every process tm_proc spawns from then on,
//  and has tm_proc start the guard before the first of them (2 above).
//  Makes us a child subreaper (tm_proc_init) too.  Returns NULL and sets
//  *err if DATADIR cannot be read; nothing is marked then.
tm_guard_t *tm_guard_new (const char *datadir, char **err);

//  When the agent starts the guard itself (2 above), in s after start-up.
#define TM_GUARD_START_DELAY 5.0

//  Starts the guard process if it was not started yet; thread-safe.
//  Returns 0 if it runs, -1 if it could not be started (warned once:
//  our tests would then outlive us if we were killed).
int tm_guard_start (tm_guard_t *self);

//  For an agent that is leaving cleanly, its tests killed and reaped
//  (its work pool destroyed): tells the guard so, waits for it to exit
//  and reaps it, and stops marking.  Idempotent.
void tm_guard_destroy (tm_guard_t **self_p);

//  The mark's value, KEY/INCARNATION (borrowed).
const char *tm_guard_mark (tm_guard_t *self);

//  The guard's pid, 0 before it started (tests find it by this).
pid_t tm_guard_pid (tm_guard_t *self);

//  Kills (SIGKILL) every process but us whose environment sets
//  TM_GUARD_ENV to VALUE (with PREFIX, to anything that starts with
//  VALUE), and the process group of each that leads one.  Repeats until
//  a pass finds no new one, so that children forked meanwhile go too.
//  Returns how many marked processes it killed.
int tm_guard_kill_marked (const char *value, bool prefix);

//  `testmesh __guard MARK`: the guard process (2 above).  Not for users.
int tm_guard_main (int argc, char **argv);

#endif
