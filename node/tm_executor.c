/*  tm_executor.c - the executor actor: runs tasks as child processes.

    A job moves through three states:

        RUNNING --(timeout or cancel: SIGTERM)--> STOPPING
        RUNNING --(leader exits)----------------> DRAINING
        STOPPING --(grace over: SIGKILL)--------> STOPPING
        STOPPING --(leader exits)---------------> DRAINING
        DRAINING --(pipes at EOF, or drain grace over)--> reported, freed

    DRAINING exists because a test's stray descendants may hold its
    stdout open; we read what is left for a short grace, then stop.
*/
#include "tm_executor.h"
#include "tm_adapter.h"
#include "tm_proc.h"
#include "tm_trace.h"
#include <math.h>
#include <signal.h>

//  How long to keep reading a finished test's pipes for late output.
#define TM_DRAIN_GRACE 0.1
//  How often to look for strays while tests run.
#define TM_SWEEP_INTERVAL 0.25

typedef enum { JOB_RUNNING, JOB_STOPPING, JOB_DRAINING } s_job_state_t;
typedef enum { STOP_NONE, STOP_TIMEOUT, STOP_CANCEL } s_stop_reason_t;

typedef struct {
    tm_task_t *task;            //  Borrowed from the scheduler
    int attempt;                //  1-based attempt number
    tm_proc_t *proc;            //  The child, owned
    s_job_state_t state;        //  See the state table above
    s_stop_reason_t stop;       //  Why we are stopping it, if we are
    double started;             //  Monotonic start time
    double started_wall;        //  Wall clock start time
    double spawned_wall;        //  Wall clock when posix_spawn returned; 0 if it failed
    double ended;               //  Monotonic time the leader exited
    double deadline;            //  Next time something is due for this job
    int leftovers;              //  Stray processes it left, killed
    double timeout;             //  Effective timeout, 0 = none
    char *spawn_error;          //  Could not start: why
    char *trace_dir;            //  Private directory of its trace file, or NULL
    char *trace_file;           //  TESTMESH_TRACE it runs with, or NULL
    bool untraceable;           //  A trace was asked for and cannot be had
} s_job_t;

typedef struct {
    zsock_t *pipe;              //  Our command pipe
    tm_executor_config_t config;//  Copied config; member is our copy
    zlistx_t *jobs;             //  s_job_t, running or draining
    zlistx_t *queue;            //  s_queued_t, waiting for a slot
    double next_sweep;          //  When to look for strays next
    bool terminated;            //  $TERM received
} s_executor_t;

//  A task waiting for a slot.
typedef struct {
    tm_task_t *task;            //  Borrowed from the scheduler
    int attempt;                //  1-based attempt number
} s_queued_t;

void
tm_executor_classify_exit (tm_result_t *result, int exit_code, int signal)
{
    result->exit_code = exit_code;
    result->signal = signal;
    if (signal) {
        result->status = TM_STATUS_CRASHED;
        tm_result_set_message (result, "killed by signal %d (%s)",
                               signal, tm_signal_name (signal));
    }
    else
    if (exit_code == 0)
        result->status = TM_STATUS_PASSED;
    else {
        result->status = TM_STATUS_FAILED;
        tm_result_set_message (result, "exit status %d", exit_code);
    }
}

static void
s_job_destroy (s_job_t **self_p)
{
    s_job_t *self = *self_p;
    if (!self)
        return;
    tm_proc_destroy (&self->proc);
    free (self->spawn_error);
    if (self->trace_file)
        unlink (self->trace_file);
    if (self->trace_dir)
        rmdir (self->trace_dir);
    free (self->trace_file);
    free (self->trace_dir);
    free (self);
    *self_p = NULL;
}

//  True if TASK's program can be traced: the file it will exec (found
//  as tm_proc_spawn finds it) is dynamically linked.
static bool
s_traceable (tm_task_t *task)
{
    const char *argv0 = task->argv ? task->argv [0] : NULL;
    if (!argv0 || !*argv0)
        return false;
    char *program = !strchr (argv0, '/') ? tm_path_search (argv0, task->cwd)
                  : argv0 [0] == '/' || !task->cwd ? strdup (argv0)
                  : tm_strdupf ("%s/%s", task->cwd, argv0);
    bool traceable = program && tm_trace_traceable (program);
    free (program);
    return traceable;
}

//  Sets JOB up to run under the trace shim: a private directory for the
//  trace file, and LD_PRELOAD (the shim first, then what the task or we
//  preload already) and TESTMESH_TRACE added to *ENV_P.  Returns 0, or
//  -1 if the directory cannot be made.
static int
s_trace_prepare (const tm_executor_config_t *config, s_job_t *job, char ***env_p)
{
    const char *tmp = getenv ("TMPDIR");
    char *dir = tm_strdupf ("%s/testmesh-trace.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp (dir)) {
        tm_warn ("executor", "cannot make a directory for the trace of '%s': %s",
                 job->task->id, strerror (errno));
        free (dir);
        return -1;
    }
    job->trace_dir = dir;
    job->trace_file = tm_strdupf ("%s/trace", dir);
    const char *preload = getenv ("LD_PRELOAD");
    for (size_t i = 0; job->task->env && job->task->env [i]; i++)
        if (strncmp (job->task->env [i], "LD_PRELOAD=", 11) == 0)
            preload = job->task->env [i] + 11;
    char *entry = preload && *preload
                ? tm_strdupf ("LD_PRELOAD=%s:%s", config->trace_shim, preload)
                : tm_strdupf ("LD_PRELOAD=%s", config->trace_shim);
    tm_strv_push (env_p, entry);
    free (entry);
    entry = tm_strdupf ("TESTMESH_TRACE=%s", job->trace_file);
    tm_strv_push (env_p, entry);
    free (entry);
    return 0;
}

//  A job for TASK, spawned now in the calling thread (the executor's,
//  or tm_executor_start's caller's): CONFIG is only read.  A task that
//  cannot start gives a job that is reported at once.
static s_job_t *
s_job_new (const tm_executor_config_t *config, tm_task_t *task, int attempt)
{
    s_job_t *job = (s_job_t *) zmalloc (sizeof (s_job_t));
    job->task = task;
    job->attempt = attempt;
    job->started = tm_now ();
    job->started_wall = tm_wall_now ();
    job->timeout = task->timeout > 0 ? task->timeout : config->default_timeout;
    job->deadline = job->timeout > 0 ? job->started + job->timeout : INFINITY;

    char **env = tm_strv_dup (task->env);
    char *marker = tm_strdupf ("TESTMESH_TEST_ID=%s", task->id);
    tm_strv_push (&env, marker);
    free (marker);
    if (task->trace
    &&  (!config->trace_shim || !s_traceable (task)
         || s_trace_prepare (config, job, &env) != 0))
        job->untraceable = true;
    job->proc = tm_proc_spawn (task->argv, task->cwd, env,
                               config->output_limit, &job->spawn_error);
    tm_strv_free (&env);
    if (job->proc)
        job->spawned_wall = tm_wall_now ();
    else {
        //  Reported at once, as a result like any other
        job->state = JOB_DRAINING;
        job->ended = job->started;
        job->deadline = job->started;
    }
    return job;
}

static void
s_start (s_executor_t *self, tm_task_t *task, int attempt)
{
    zlistx_add_end (self->jobs, s_job_new (&self->config, task, attempt));
}

//  Jobs tm_executor_start spawned that no executor has taken yet: their
//  children are in tm_proc's registry, but a stray one of them already
//  left cannot be charged to a job we know.
static int s_in_flight;

void
tm_executor_start (zactor_t *executor, const tm_executor_config_t *config,
                   tm_task_t *task, int attempt)
{
    assert (executor && config && task && attempt > 0);
    __atomic_add_fetch (&s_in_flight, 1, __ATOMIC_SEQ_CST);
    s_job_t *job = s_job_new (config, task, attempt);
    zsock_send (executor, "spi", "TAKE", job, 0);
}

//  Sweep callback.  A stray whose test still runs is spared: a test may
//  start a daemon it needs (a database, a server) that double-forks
//  away from it; it is killed when its test ends.  Any other stray is
//  killed, and counted against its test's job if that is still here
//  (a stray found after its job was reported is only logged).
static bool
s_on_stray (const char *test_id, void *arg)
{
    s_executor_t *self = (s_executor_t *) arg;
    if (__atomic_load_n (&s_in_flight, __ATOMIC_SEQ_CST) > 0)
        return false;           //  Maybe a job's on its way to us: next sweep
    for (s_job_t *job = (s_job_t *) zlistx_first (self->jobs); job;
         job = (s_job_t *) zlistx_next (self->jobs))
        if (streq (job->task->id, test_id)) {
            if (job->state != JOB_DRAINING)
                return false;
            job->leftovers++;
            break;
        }
    return true;
}

//  Applies the task's own idea of an exit status: an expected failure
//  (ctest WILL_FAIL) and a skip code (ctest SKIP_RETURN_CODE).  A
//  signal is a crash whatever the task says.
static void
s_apply_exit_rules (tm_task_t *task, tm_result_t *result)
{
    if (result->signal)
        return;
    if (task->skip_code >= 0 && result->exit_code == task->skip_code) {
        result->status = TM_STATUS_SKIPPED;
        tm_result_set_message (result, "skipped (exit status %d)", result->exit_code);
    }
    else
    if (task->will_fail) {
        if (result->status == TM_STATUS_PASSED) {
            result->status = TM_STATUS_FAILED;
            tm_result_set_message (result, "exit status 0, but the test is "
                                   "expected to fail (WILL_FAIL)");
        }
        else {
            result->status = TM_STATUS_PASSED;
            zstr_free (&result->message);
        }
    }
}

//  Builds the job's result and sends it to the scheduler.
static void
s_report (s_executor_t *self, s_job_t *job)
{
    tm_result_t *result = tm_result_new (job->task->id, job->task->index);
    result->attempts = job->attempt;
    result->member = strdup (self->config.member);
    result->started = job->started_wall;
    result->spawned = job->spawned_wall;
    result->duration = job->ended - job->started;
    result->leftovers = job->leftovers;
    result->untraceable = job->untraceable;
    if (job->trace_file && job->proc) {
        char *excludes [] = { (char *) self->config.trace_shim, job->trace_dir, NULL };
        result->trace = tm_trace_read (job->trace_file, excludes);
        if (!result->trace)
            result->untraceable = true;     //  The shim wrote nothing: not loaded
    }
    if (!job->proc) {
        result->status = TM_STATUS_CRASHED;
        tm_result_set_message (result, "%s", job->spawn_error);
    }
    else {
        tm_proc_take_output (job->proc, 1, &result->out, &result->out_size,
                             &result->out_cut);
        tm_proc_take_output (job->proc, 2, &result->err, &result->err_size,
                             &result->err_cut);
        tm_executor_classify_exit (result, tm_proc_exit_code (job->proc),
                                   tm_proc_signal (job->proc));
        s_apply_exit_rules (job->task, result);
        if (job->stop == STOP_TIMEOUT) {
            result->status = TM_STATUS_TIMEOUT;
            tm_result_set_message (result, "timed out after %g s", job->timeout);
        }
        else
        if (job->stop == STOP_CANCEL) {
            result->status = TM_STATUS_SKIPPED;
            tm_result_set_message (result, "cancelled");
        }
        else
            tm_adapter_classify (job->task->kind, result);
    }
    zsock_send (self->pipe, "sp", "DONE", result);
}

static void
s_stop (s_job_t *job, s_stop_reason_t reason, double grace)
{
    if (job->state != JOB_RUNNING)
        return;
    job->state = JOB_STOPPING;
    job->stop = reason;
    tm_proc_kill (job->proc, SIGTERM);
    job->deadline = tm_now () + grace;
}

//  Moves every job whose time has come: timeouts, kill escalation,
//  and the end of draining.  Returns the earliest deadline left.
static double
s_expire (s_executor_t *self)
{
    double now = tm_now ();
    double next = INFINITY;
    //  Work on a snapshot: reporting removes jobs, and the stray sweep's
    //  callback walks the list, which would upset a cursor.
    size_t count = zlistx_size (self->jobs);
    s_job_t *snapshot [count + 1];
    size_t taken = 0;
    for (s_job_t *job = (s_job_t *) zlistx_first (self->jobs); job;
         job = (s_job_t *) zlistx_next (self->jobs))
        snapshot [taken++] = job;

    for (size_t i = 0; i < taken; i++) {
        s_job_t *job = snapshot [i];
        if (job->state != JOB_DRAINING && tm_proc_reap (job->proc)) {
            job->state = JOB_DRAINING;
            job->ended = now;
            job->deadline = now + TM_DRAIN_GRACE;
            //  The group is dead (tm_proc_reap killed it); what escaped
            //  it was adopted by us: kill it now, while the job is here
            //  to be charged with it.
            tm_proc_sweep_orphans (s_on_stray, self);
        }
        bool drained = job->state == JOB_DRAINING
                    && (!job->proc || (tm_proc_stdout_fd (job->proc) < 0
                                       && tm_proc_stderr_fd (job->proc) < 0));
        if (job->deadline <= now || drained) {
            if (job->state == JOB_RUNNING)
                s_stop (job, STOP_TIMEOUT, self->config.kill_grace);
            else
            if (job->state == JOB_STOPPING) {
                tm_proc_kill (job->proc, SIGKILL);
                job->deadline = now + 0.05;      //  Look again shortly
            }
            else {
                s_report (self, job);
                void *handle = zlistx_find (self->jobs, job);
                assert (handle);
                zlistx_detach (self->jobs, handle);
                s_job_destroy (&job);
                //  The slot is free: the next queued task starts now
                s_queued_t *queued = (s_queued_t *) zlistx_detach (self->queue, NULL);
                if (queued) {
                    s_start (self, queued->task, queued->attempt);
                    free (queued);
                    s_job_t *started = (s_job_t *) zlistx_last (self->jobs);
                    if (started->deadline < next)
                        next = started->deadline;
                }
                //  Strays may still be on their way to us: look again soon
                self->next_sweep = now + TM_SWEEP_INTERVAL;
                continue;
            }
        }
        if (job->deadline < next)
            next = job->deadline;
    }
    if (self->next_sweep <= now) {
        tm_proc_sweep_orphans (s_on_stray, self);
        self->next_sweep = zlistx_size (self->jobs) ? now + TM_SWEEP_INTERVAL : INFINITY;
    }
    return next < self->next_sweep ? next : self->next_sweep;
}

static void
s_handle_pipe (s_executor_t *self)
{
    //  One picture for every command: missing frames come back NULL/0
    char *command = NULL;
    void *pointer = NULL;
    int attempt = 0;
    if (zsock_recv (self->pipe, "spi", &command, &pointer, &attempt) != 0 || !command) {
        self->terminated = true;
        return;
    }
    tm_task_t *task = (tm_task_t *) pointer;
    if (streq (command, "$TERM"))
        self->terminated = true;
    else
    if (streq (command, "EXEC")) {
        assert (task && attempt > 0);
        if ((int) zlistx_size (self->jobs) < self->config.slots)
            s_start (self, task, attempt);
        else {
            s_queued_t *queued = (s_queued_t *) zmalloc (sizeof (s_queued_t));
            queued->task = task;
            queued->attempt = attempt;
            zlistx_add_end (self->queue, queued);
        }
    }
    else
    if (streq (command, "TAKE")) {
        //  Spawned by tm_executor_start, which keeps within the slots
        s_job_t *job = (s_job_t *) pointer;
        assert (job);
        zlistx_add_end (self->jobs, job);
        __atomic_sub_fetch (&s_in_flight, 1, __ATOMIC_SEQ_CST);
    }
    else
    if (streq (command, "KILL")) {
        //  One task: stopped like a cancel if it runs, dropped if queued
        assert (task);
        for (s_queued_t *queued = (s_queued_t *) zlistx_first (self->queue); queued;
             queued = (s_queued_t *) zlistx_next (self->queue))
            if (queued->task == task) {
                zlistx_detach_cur (self->queue);
                tm_result_t *result = tm_result_new (task->id, task->index);
                result->status = TM_STATUS_SKIPPED;
                result->attempts = queued->attempt - 1;
                result->member = strdup (self->config.member);
                result->started = tm_wall_now ();
                tm_result_set_message (result, "not run: cancelled");
                zsock_send (self->pipe, "sp", "DONE", result);
                free (queued);
                break;
            }
        for (s_job_t *job = (s_job_t *) zlistx_first (self->jobs); job;
             job = (s_job_t *) zlistx_next (self->jobs))
            if (job->task == task && job->state == JOB_RUNNING)
                s_stop (job, STOP_CANCEL, self->config.cancel_grace);
    }
    else
    if (streq (command, "CANCEL")) {
        s_queued_t *queued;
        while ((queued = (s_queued_t *) zlistx_detach (self->queue, NULL))) {
            tm_result_t *result = tm_result_new (queued->task->id, queued->task->index);
            result->status = TM_STATUS_SKIPPED;
            result->attempts = queued->attempt - 1;
            result->member = strdup (self->config.member);
            result->started = tm_wall_now ();
            tm_result_set_message (result, "not run: cancelled");
            zsock_send (self->pipe, "sp", "DONE", result);
            free (queued);
        }
        for (s_job_t *job = (s_job_t *) zlistx_first (self->jobs); job;
             job = (s_job_t *) zlistx_next (self->jobs))
            s_stop (job, STOP_CANCEL, self->config.cancel_grace);
    }
    else
        assert (false);         //  Only the scheduler talks to us
    free (command);
}

void
tm_executor_actor (zsock_t *pipe, void *args)
{
    s_executor_t self = { 0 };
    self.pipe = pipe;
    self.config = *(tm_executor_config_t *) args;
    self.config.member = strdup (self.config.member);
    if (self.config.trace_shim)
        self.config.trace_shim = strdup (self.config.trace_shim);
    self.jobs = zlistx_new ();
    self.queue = zlistx_new ();
    zlistx_set_destructor (self.queue, (zlistx_destructor_fn *) zstr_free);
    if (self.config.slots < 1)
        self.config.slots = 1;
    self.next_sweep = INFINITY;
    zsock_signal (pipe, 0);

    void *pipe_handle = zsock_resolve (pipe);
    zmq_pollitem_t *items = NULL;
    size_t items_max = 0;
    double next = INFINITY;
    while (!self.terminated) {
        //  One item for the pipe, three per job: stdout, stderr, pidfd
        size_t needed = 1 + 3 * zlistx_size (self.jobs);
        if (needed > items_max) {
            items_max = needed * 2;
            items = (zmq_pollitem_t *) realloc (items, items_max * sizeof (zmq_pollitem_t));
            assert (items);
        }
        size_t count = 0;
        items [count++] = (zmq_pollitem_t) { pipe_handle, 0, ZMQ_POLLIN, 0 };
        bool need_tick = false;
        for (s_job_t *job = (s_job_t *) zlistx_first (self.jobs); job;
             job = (s_job_t *) zlistx_next (self.jobs)) {
            if (!job->proc)
                continue;
            int fds [3] = { tm_proc_stdout_fd (job->proc), tm_proc_stderr_fd (job->proc),
                            job->state == JOB_DRAINING ? -1 : tm_proc_pid_fd (job->proc) };
            for (int i = 0; i < 3; i++)
                if (fds [i] >= 0)
                    items [count++] = (zmq_pollitem_t) { NULL, fds [i], ZMQ_POLLIN, 0 };
            if (job->state != JOB_DRAINING && tm_proc_pid_fd (job->proc) < 0)
                need_tick = true;   //  No pidfd: poll for the exit
        }
        //  Wake at the next deadline, but at least once a minute: a timeout
        //  of 1e300 s must not overflow the cast into a busy loop
        double now = tm_now ();
        double wait = next - now;
        long timeout = wait <= 0 ? 0 : wait >= 60 ? 60000 : (long) (wait * 1000) + 1;
        if (need_tick && timeout > 10)
            timeout = 10;
        if (zmq_poll (items, (int) count, timeout) < 0) {
            if (zmq_errno () == ETERM)
                break;          //  The context is going away: so are we
            continue;           //  EINTR, or a transient error: poll again
        }
        //  Read output before anything can finish a job
        for (size_t i = 1; i < count; i++)
            if (items [i].revents & (ZMQ_POLLIN | ZMQ_POLLERR)) {
                for (s_job_t *job = (s_job_t *) zlistx_first (self.jobs); job;
                     job = (s_job_t *) zlistx_next (self.jobs))
                    if (job->proc && (items [i].fd == tm_proc_stdout_fd (job->proc)
                                   || items [i].fd == tm_proc_stderr_fd (job->proc))) {
                        tm_proc_read (job->proc, items [i].fd);
                        break;
                    }
            }
        //  Take every pending command: EXECs must not pile up in the pipe
        //  while DONEs pile up the other way
        if (items [0].revents & ZMQ_POLLIN)
            while (!self.terminated && (zsock_events (pipe) & ZMQ_POLLIN))
                s_handle_pipe (&self);
        next = s_expire (&self);
    }
    //  Leave nothing behind
    s_job_t *job;
    while ((job = (s_job_t *) zlistx_detach (self.jobs, NULL)))
        s_job_destroy (&job);
    tm_proc_sweep_orphans (NULL, NULL);
    zlistx_destroy (&self.jobs);
    zlistx_destroy (&self.queue);
    free (items);
    free ((char *) self.config.member);
    free ((char *) self.config.trace_shim);
}
