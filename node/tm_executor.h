/*  tm_executor.h - the executor actor: runs tasks as child processes.

    One executor per member.  It spawns each task it is given with
    tm_proc, captures its output within a bound, enforces its timeout
    (SIGTERM to the process group, SIGKILL after the grace), and reports
    one result per attempt.  It never decides what to run next: that is
    the scheduler's job, which keeps at most SLOTS tasks here at once.

    Pipe protocol (frames as for zsock_send):

        scheduler -> executor
            "EXEC"   p:task i:attempt   run TASK (borrowed, immutable) now
                                        if a slot is free, else as soon as
                                        one is, in the order received
            "CANCEL"                    kill everything running (each
                                        reports SKIPPED "cancelled") and
                                        drop what is queued (SKIPPED
                                        "not run: cancelled", 0 attempts)
            "TAKE"   p:job              a task tm_executor_start spawned:
                                        from then on as one EXEC started
                                        (sent only by tm_executor_start)
            "KILL"   p:task             as CANCEL, for that one task only
            "$TERM"                     kill everything, reap, exit

        executor -> scheduler
            "DONE"   p:result           one attempt finished; the
                                        receiver owns the tm_result_t

    Tracing (docs/caching.md, section 3): a task with trace set, given a
    config with a trace_shim, whose program is dynamically linked
    (tm_trace_traceable), runs with the shim preloaded and TESTMESH_TRACE
    naming a file in a private temporary directory; its result's trace
    is that file read back (tm_trace_read), and the directory is removed.
    When such a task cannot be traced, its result says untraceable.
    Nothing else about how it runs changes.

    Every EXEC and every TAKE is answered by exactly one DONE, even when
    it is cancelled or never started, except after $TERM.
*/
#ifndef TM_EXECUTOR_H_INCLUDED
#define TM_EXECUTOR_H_INCLUDED

#include "tm_task.h"
#include "tm_result.h"

typedef struct {
    const char *member;         //  Name reported in results (copied)
    int slots;                  //  Tasks run at once; more are queued
    double default_timeout;     //  Seconds for tasks without one; 0 = none
    double kill_grace;          //  Seconds between SIGTERM and SIGKILL on timeout
    double cancel_grace;        //  Seconds between SIGTERM and SIGKILL on cancel
    size_t output_limit;        //  Bytes kept per stream
    const char *trace_shim;     //  The trace shim (tm_trace_shim_path) to preload
                                //  into tasks that ask for a trace; NULL none (copied)
} tm_executor_config_t;

//  The actor function: zactor_new (tm_executor_actor, &config).  The
//  config is copied before the actor signals ready.
void tm_executor_actor (zsock_t *pipe, void *args);

//  Starts TASK at once in the calling thread, as EXECUTOR would on EXEC
//  with a free slot, and hands the child to EXECUTOR ("TAKE"), which
//  from then on treats it as any task it was given: KILL, CANCEL, and
//  exactly one DONE.  For a caller that must not wait for the executor's
//  thread to wake up (the work pool: docs/scheduling.md, "Dispatch
//  latency").  The caller keeps within the slots: nothing is queued.
//  CONFIG is the executor's, or a copy of it; it is only read.
void tm_executor_start (zactor_t *executor, const tm_executor_config_t *config,
                        tm_task_t *task, int attempt);

//  Folds an exit status into a result's status and message: exit 0 is
//  PASSED, another exit FAILED, a signal CRASHED.  Exposed for tests.
void tm_executor_classify_exit (tm_result_t *result, int exit_code, int signal);

#endif
