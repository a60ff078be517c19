/*  tm_scheduler.h - the scheduler actor: owns runs, queues and placement.

    The scheduler takes a run's task list, orders it longest-expected
    first, and places tasks on members with free slots.  Today the only
    member is the local executor (a cluster of one); remote members join
    the same placement loop in later issues.  It applies the run's policy
    on results: retries (a fail-then-pass is FLAKY) and --fail-fast.

    Pipe protocol (frames as for zsock_send):

        owner -> scheduler
            "RUN"    p:tasklist         start a run; the tasklist is
                                        borrowed and must outlive FINISHED
            "CANCEL"                    stop: nothing new starts, running
                                        tasks are killed, the rest SKIPPED
            "$TERM"                     stop at once (kills children)

        scheduler -> owner
            "STARTED"  p:task           a task was placed on a member (borrowed)
            "RESULT"   p:result         a task's final result; the owner
                                        owns the tm_result_t
            "FINISHED"                  every task has its one RESULT

    Invariant: every task of a run gets exactly one RESULT before
    FINISHED, whether it passed, failed, was skipped or cancelled.
*/
#ifndef TM_SCHEDULER_H_INCLUDED
#define TM_SCHEDULER_H_INCLUDED

#include "tm_executor.h"

typedef struct {
    int slots;                  //  Tasks the local member runs at once
    int retries;                //  Extra attempts for a failing test
    bool fail_fast;             //  First final failure cancels the run
    tm_executor_config_t executor;  //  For the local member's executor
} tm_scheduler_config_t;

//  The actor function: zactor_new (tm_scheduler_actor, &config).  The
//  config is copied before the actor signals ready.
void tm_scheduler_actor (zsock_t *pipe, void *args);

//  qsort comparator for longest-expected first: unknown durations (< 0)
//  first, as a new test may be long; ties keep discovery order.
int tm_scheduler_compare_expected (const void *a, const void *b);

#endif
