/*  tm_scheduler.c - the scheduler actor: owns runs, queues and placement.

    Task states, and the function that makes each move:

        QUEUED --s_dispatch--> RUNNING --s_on_done (fail, retries left)--> QUEUED
                                  |
                                  +--s_on_done (final)--> DONE
        QUEUED --s_cancel------> DONE (skipped, never started)
        QUEUED --s_dispatch (task has skip_reason)--> DONE (skipped)
        QUEUED --s_dispatch (task is unrunnable)---> DONE (failed)

    Invariants, checked by s_invariants_hold:
    1. Each task is in exactly one state.
    2. queued + running + done == tasks in the run.
    3. A member never holds more tasks than its slots plus its prefetch
       (the tasks queued at its executor, ready to start the moment a
       slot frees, without a round trip through us).
    4. Once cancelling, nothing moves from QUEUED to RUNNING.
*/
#include "tm_scheduler.h"

typedef enum { TASK_QUEUED, TASK_RUNNING, TASK_DONE } s_task_state_t;

typedef struct {
    char *name;                 //  Member name
    int slots;                  //  Tasks it may run at once
    int prefetch;               //  Tasks it may hold beyond its slots
    int running;                //  Tasks it holds (running or queued there)
    zactor_t *executor;         //  Its executor actor
} s_member_t;

typedef struct {
    s_task_state_t state;       //  Where the task is in the table above
    int attempt;                //  Attempt running or last run, 1-based
    tm_result_t *first_failure; //  Its first failed attempt, while retrying
} s_slot_t;

typedef struct {
    zsock_t *pipe;              //  Pipe to our owner (the CLI or agent)
    tm_scheduler_config_t config;   //  Copied config
    s_member_t local;           //  The one member of a cluster of one
    zpoller_t *poller;          //  Pipe and executor
    tm_tasklist_t *tasks;       //  The run's tasks, borrowed; NULL when idle
    s_slot_t *slots;            //  Per task state, by index
    size_t *queue;              //  Task indices, in start order
    size_t queue_head;          //  Next to start
    size_t queue_size;          //  Entries used in queue
    size_t running;             //  Tasks running on any member
    size_t done;                //  Tasks with their final result sent
    bool cancelling;            //  No new starts
    char *cancel_reason;        //  Why, for the SKIPPED message
    bool terminated;            //  $TERM received
} s_scheduler_t;

int
tm_scheduler_compare_expected (const void *a, const void *b)
{
    const tm_task_t *x = *(const tm_task_t *const *) a;
    const tm_task_t *y = *(const tm_task_t *const *) b;
    bool x_known = x->expected >= 0, y_known = y->expected >= 0;
    if (x_known != y_known)
        return x_known ? 1 : -1;
    if (x_known && x->expected != y->expected)
        return x->expected > y->expected ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

//  The counting checks cost O(1) and always run; the full scan of every
//  task's state costs O(tasks) per event, so it runs only for runs of at
//  most TM_SCAN_INVARIANTS tasks (every unit test; not a 100,000-test run,
//  where it would be quadratic).
#define TM_SCAN_INVARIANTS 2000

static bool
s_invariants_hold (s_scheduler_t *self)
{
    if (!self->tasks)
        return true;
    size_t total = tm_tasklist_size (self->tasks);
    if (self->running + self->done + (self->queue_size - self->queue_head) != total
    ||  self->local.running > self->local.slots + self->local.prefetch)
        return false;
    if (total > TM_SCAN_INVARIANTS)
        return true;
    size_t queued = 0, running = 0, done = 0;
    for (size_t i = 0; i < total; i++) {
        if (self->slots [i].state == TASK_QUEUED)
            queued++;
        else
        if (self->slots [i].state == TASK_RUNNING)
            running++;
        else
            done++;
    }
    return queued + running + done == total
        && running == self->running && done == self->done
        && self->local.running <= self->local.slots + self->local.prefetch
        && queued == self->queue_size - self->queue_head;
}

static void
s_send_result (s_scheduler_t *self, tm_result_t **result_p)
{
    tm_result_t *result = *result_p;
    s_slot_t *slot = &self->slots [result->index];
    assert (slot->state != TASK_DONE);
    if (slot->state == TASK_RUNNING)
        self->running--;
    slot->state = TASK_DONE;
    self->done++;
    zsock_send (self->pipe, "sp", "RESULT", result);
    *result_p = NULL;
}

static void
s_skip (s_scheduler_t *self, tm_task_t *task, const char *why)
{
    tm_result_t *result = tm_result_new (task->id, task->index);
    //  Skipped, unless it cannot run at all: that is a failure to see
    result->status = task->unrunnable && !task->skip_reason && !self->cancelling
                   ? TM_STATUS_FAILED : TM_STATUS_SKIPPED;
    result->attempts = 0;
    result->member = strdup (self->local.name);
    result->started = tm_wall_now ();
    tm_result_set_message (result, "%s", why);
    s_send_result (self, &result);
}

static void
s_finish_if_done (s_scheduler_t *self)
{
    if (self->tasks && self->done == tm_tasklist_size (self->tasks)) {
        zsock_send (self->pipe, "s", "FINISHED");
        for (size_t i = 0; i < tm_tasklist_size (self->tasks); i++)
            tm_result_destroy (&self->slots [i].first_failure);
        zstr_free (&self->cancel_reason);
        free (self->slots);
        free (self->queue);
        self->slots = NULL;
        self->queue = NULL;
        self->tasks = NULL;
        self->cancelling = false;
    }
}

//  Starts queued tasks on members with free slots.
static void
s_dispatch (s_scheduler_t *self)
{
    s_member_t *member = &self->local;
    while (!self->cancelling && self->queue_head < self->queue_size
       &&  member->running < member->slots + member->prefetch) {
        size_t index = self->queue [self->queue_head++];
        tm_task_t *task = tm_tasklist_get (self->tasks, index);
        s_slot_t *slot = &self->slots [index];
        if (task->skip_reason || task->unrunnable) {
            s_skip (self, task, task->skip_reason ? task->skip_reason : task->unrunnable);
            continue;
        }
        slot->state = TASK_RUNNING;
        slot->attempt++;
        self->running++;
        member->running++;
        zsock_send (member->executor, "spi", "EXEC", task, slot->attempt);
        zsock_send (self->pipe, "sp", "STARTED", task);
    }
    assert (s_invariants_hold (self));
}

static void
s_cancel (s_scheduler_t *self, const char *reason)
{
    if (self->cancelling || !self->tasks)
        return;
    self->cancelling = true;
    self->cancel_reason = strdup (reason);
    char *why = tm_strdupf ("not run: %s", reason);
    while (self->queue_head < self->queue_size) {
        size_t index = self->queue [self->queue_head++];
        s_skip (self, tm_tasklist_get (self->tasks, index), why);
    }
    free (why);
    if (self->local.running)
        zsock_send (self->local.executor, "s", "CANCEL");
    assert (s_invariants_hold (self));
}

static void
s_start_run (s_scheduler_t *self, tm_tasklist_t *tasks)
{
    assert (!self->tasks);      //  One run at a time in a cluster of one
    size_t total = tm_tasklist_size (tasks);
    self->tasks = tasks;
    self->slots = (s_slot_t *) calloc (total + 1, sizeof (s_slot_t));
    self->queue = (size_t *) malloc ((total + 1) * sizeof (size_t));
    assert (self->slots && self->queue);
    self->running = self->done = 0;
    self->queue_head = 0;
    self->queue_size = total;

    //  Longest expected first, so the long tail does not end the run
    tm_task_t **order = (tm_task_t **) malloc ((total + 1) * sizeof (tm_task_t *));
    assert (order);
    for (size_t i = 0; i < total; i++)
        order [i] = tm_tasklist_get (tasks, i);
    qsort (order, total, sizeof (tm_task_t *), tm_scheduler_compare_expected);
    for (size_t i = 0; i < total; i++)
        self->queue [i] = order [i]->index;
    free (order);
    s_dispatch (self);
    s_finish_if_done (self);
}

//  A member finished one attempt of a task.
static void
s_on_done (s_scheduler_t *self, s_member_t *member, tm_result_t *result)
{
    assert (self->tasks && result->index < tm_tasklist_size (self->tasks));
    member->running--;
    s_slot_t *slot = &self->slots [result->index];
    bool failed = !tm_status_ok (result->status);
    if (failed && !self->cancelling && slot->attempt <= self->config.retries) {
        //  Retry at the front of the queue: its result is what is left
        //  to learn, and a retry at the back would end the run late.
        if (!slot->first_failure)
            slot->first_failure = result;
        else
            tm_result_destroy (&result);
        slot->state = TASK_QUEUED;
        self->running--;
        //  The task was popped from the queue, so there is room before
        //  queue_head to put it back.
        assert (self->queue_head > 0);
        self->queue [--self->queue_head] = (size_t) (slot - self->slots);
    }
    else {
        if (slot->first_failure && result->status == TM_STATUS_SKIPPED) {
            //  A retry cancelled (fail-fast, Ctrl-C) does not undo the
            //  failure before it: report that failure, with its output,
            //  and the attempts that really ran (the retry may not have)
            int tried = result->attempts;
            tm_result_destroy (&result);
            result = slot->first_failure;
            slot->first_failure = NULL;
            if (tried > result->attempts)
                result->attempts = tried;
            failed = true;
        }
        else
        if (!failed && slot->first_failure && result->status == TM_STATUS_PASSED) {
            result->status = TM_STATUS_FLAKY;
            tm_result_set_message (result, "passed on attempt %d after: %s",
                                   slot->attempt,
                                   slot->first_failure->message ? slot->first_failure->message
                                   : tm_status_name (slot->first_failure->status));
        }
        tm_result_destroy (&slot->first_failure);
        //  result->attempts is the executor's: attempts that really ran
        char *id = failed && self->config.fail_fast ? strdup (result->id) : NULL;
        s_send_result (self, &result);
        if (id) {
            char *reason = tm_strdupf ("--fail-fast after '%s' failed", id);
            s_cancel (self, reason);
            free (reason);
            free (id);
        }
    }
    s_dispatch (self);
    s_finish_if_done (self);
}

static void
s_handle_pipe (s_scheduler_t *self)
{
    char *command = NULL;
    void *pointer = NULL;
    if (zsock_recv (self->pipe, "sp", &command, &pointer) != 0 || !command) {
        self->terminated = true;
        return;
    }
    if (streq (command, "$TERM"))
        self->terminated = true;
    else
    if (streq (command, "RUN"))
        s_start_run (self, (tm_tasklist_t *) pointer);
    else
    if (streq (command, "CANCEL")) {
        s_cancel (self, "the run was cancelled");
        s_finish_if_done (self);
    }
    else
        assert (false);
    free (command);
}

void
tm_scheduler_actor (zsock_t *pipe, void *args)
{
    s_scheduler_t self = { 0 };
    self.pipe = pipe;
    self.config = *(tm_scheduler_config_t *) args;
    self.local.name = strdup (self.config.executor.member);
    self.local.slots = self.config.slots > 0 ? self.config.slots : 1;
    //  A prefetch as deep as the slots keeps every slot busy while a
    //  result travels here and the next task back.  Not with --fail-fast:
    //  a prefetched test would start after the first failure.
    self.local.prefetch = self.config.fail_fast ? 0 : self.local.slots;
    self.config.executor.slots = self.local.slots;
    self.local.executor = zactor_new (tm_executor_actor, &self.config.executor);
    assert (self.local.executor);
    self.poller = zpoller_new (pipe, self.local.executor, NULL);
    zsock_signal (pipe, 0);

    while (!self.terminated) {
        void *which = zpoller_wait (self.poller, -1);
        if (!which)
            break;              //  Interrupted or terminated
        if (which == pipe)
            s_handle_pipe (&self);
        else
        if (which == self.local.executor) {
            char *command = NULL;
            tm_result_t *result = NULL;
            if (zsock_recv (self.local.executor, "sp", &command, &result) == 0
            &&  command && streq (command, "DONE") && result)
                s_on_done (&self, &self.local, result);
            free (command);
        }
    }
    //  Destroying the executor kills and reaps whatever still runs
    zactor_destroy (&self.local.executor);
    zpoller_destroy (&self.poller);
    if (self.slots)
        for (size_t i = 0; self.tasks && i < tm_tasklist_size (self.tasks); i++)
            tm_result_destroy (&self.slots [i].first_failure);
    free (self.slots);
    free (self.queue);
    free (self.cancel_reason);
    free (self.local.name);
}
