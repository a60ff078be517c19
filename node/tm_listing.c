/*  tm_listing.c - what a run lists, listed where the targets are.

    See tm_listing.h for the wire form.  Three parts:

    1. The class: a listing's fields, and tm_listing_run, which was
       tm_run.c's discovery (s_discover, s_add_inputs) and is shared by
       the CLI and the agent so that both list, filter and name tests
       the same way and fail with the same lines.
    2. The codec: the "list" request and its answer, each decoded by one
       function that checks every type, count and length.
    3. The actor: an agent's listings, each in a worker actor of its own
       (at most TM_LISTING_JOBS at once, then a queue of at most
       TM_LISTING_QUEUE), because a listing runs the target's binary,
       for up to TM_ADAPTER_LIST_TIMEOUT s per target, and the agent's
       loop serves gossip, runs and heartbeats meanwhile.  A worker
       writes its answer text into its job and says DONE; the actor
       reads the text only after that message (the hand-over), passes
       it on, and ends the worker.  Each job has an eventfd, its
       worker's cancel descriptor (tm_proc_set_cancel_fd is per
       thread): writing it cuts that listing short, and no other.
*/
#include "tm_listing.h"
#include "tm_adapter.h"
#include "tm_codec.h"
#include "tm_control.h"
#include "tm_inputs.h"
#include "tm_proc.h"
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

struct _tm_listing_t {
    char **targets;             //  As given; relative to the lister's cwd
    tm_kind_t kind;             //  --kind, TM_KIND_AUTO to detect
    char **filters;             //  --filter GLOBs, or NULL
    char **excludes;            //  --exclude GLOBs, or NULL
    char **inputs;              //  --input paths as given, or NULL
};

tm_listing_t *
tm_listing_new (char *const *targets, tm_kind_t kind, char *const *filters,
                char *const *excludes, char *const *inputs)
{
    assert (targets && *targets);
    tm_listing_t *self = (tm_listing_t *) zmalloc (sizeof (tm_listing_t));
    self->targets = tm_strv_dup (targets);
    self->kind = kind;
    self->filters = filters ? tm_strv_dup (filters) : NULL;
    self->excludes = excludes ? tm_strv_dup (excludes) : NULL;
    self->inputs = inputs ? tm_strv_dup (inputs) : NULL;
    return self;
}

void
tm_listing_destroy (tm_listing_t **self_p)
{
    assert (self_p);
    tm_listing_t *self = *self_p;
    if (self) {
        tm_strv_free (&self->targets);
        tm_strv_free (&self->filters);
        tm_strv_free (&self->excludes);
        tm_strv_free (&self->inputs);
        free (self);
        *self_p = NULL;
    }
}

//  ---------------------------------------------------------------------
//  Listing

//  inih takes its settings from process-wide globals, which
//  tm_manifest_load sets and restores around each parse: two parses at
//  once would see each other's (tm_manifest.c).  Binaries and ctest
//  directories list in parallel.
static pthread_mutex_t s_manifest_lock = PTHREAD_MUTEX_INITIALIZER;

//  True if GLOB matches the task's id, or its id without the "TARGET:"
//  prefix that several targets add, so `--exclude 'edge/*'` means the
//  same with one target as with three.
static bool
s_matches (const char *glob, const tm_task_t *task)
{
    if (tm_glob_match (glob, task->id))
        return true;
    size_t prefix = strlen (task->target);
    return strncmp (task->id, task->target, prefix) == 0 && task->id [prefix] == ':'
        && tm_glob_match (glob, task->id + prefix + 1);
}

static bool
s_selected (const tm_task_t *task, void *arg)
{
    tm_listing_t *self = (tm_listing_t *) arg;
    if (self->filters) {
        bool any = false;
        for (char **glob = self->filters; *glob && !any; glob++)
            any = s_matches (*glob, task);
        if (!any)
            return false;
    }
    for (char **glob = self->excludes; glob && *glob; glob++)
        if (s_matches (*glob, task))
            return false;
    return true;
}

//  Each --input made absolute (from our cwd); each must exist.  They
//  join every task's declared inputs.  Returns 0, or -1 with *err.
static int
s_add_inputs (tm_listing_t *self, tm_tasklist_t *tasks, char **err)
{
    if (!self->inputs)
        return 0;
    char *cwd = getcwd (NULL, 0);
    if (!cwd)
        return tm_fail (err, "cannot read the current directory: %s", strerror (errno));
    char **paths = NULL;
    int rc = 0;
    for (char **input = self->inputs; rc == 0 && *input; input++) {
        char *path = tm_inputs_clean_path (cwd, *input);
        struct stat st;
        if (stat (path, &st) != 0)
            rc = tm_fail (err, "--input %s: %s", *input, strerror (errno));
        else
            tm_strv_push (&paths, path);
        free (path);
    }
    for (size_t i = 0; rc == 0 && i < tm_tasklist_size (tasks); i++) {
        tm_task_t *task = tm_tasklist_get (tasks, i);
        for (char **path = paths; path && *path; path++)
            tm_strv_push (&task->inputs, *path);
    }
    tm_strv_free (&paths);
    free (cwd);
    return rc;
}

tm_tasklist_t *
tm_listing_run (tm_listing_t *self, char **err)
{
    assert (self);
    tm_tasklist_t *tasks = tm_tasklist_new ();
    bool prefix = tm_strv_size (self->targets) > 1;
    int rc = 0;
    for (char **target = self->targets; rc == 0 && *target; target++) {
        //  Detected here, as tm_adapter_discover would, to know whether
        //  the target is a manifest (see s_manifest_lock)
        tm_kind_t kind = self->kind;
        if (kind == TM_KIND_AUTO && tm_adapter_detect (*target, &kind, err) != 0) {
            rc = -1;
            break;
        }
        bool serial = kind == TM_KIND_MANIFEST;
        if (serial)
            pthread_mutex_lock (&s_manifest_lock);
        rc = tm_adapter_discover (*target, kind, prefix, tasks, err);
        if (serial)
            pthread_mutex_unlock (&s_manifest_lock);
    }
    if (rc != 0) {
        tm_fail (err, "cannot list tests");     //  Only if the adapter said nothing
        tm_tasklist_destroy (&tasks);
        return NULL;
    }
    //  Two targets may be the same path: ids must stay unique
    zhashx_t *seen = zhashx_new ();
    for (size_t i = 0; rc == 0 && i < tm_tasklist_size (tasks); i++) {
        const char *id = tm_tasklist_get (tasks, i)->id;
        if (zhashx_insert (seen, id, (void *) id) != 0)
            rc = tm_fail (err, "test id '%s' appears twice (is a target given twice?)", id);
    }
    zhashx_destroy (&seen);
    size_t listed = tm_tasklist_size (tasks);
    if (rc == 0)
        tm_tasklist_filter (tasks, s_selected, self);
    //  A typo in a CI job's --filter must not pass as "0 tests"
    if (rc == 0 && listed > 0 && tm_tasklist_size (tasks) == 0)
        rc = tm_fail (err, "no test matches the --filter and --exclude given "
                      "(%zu tests listed)", listed);
    if (rc == 0)
        rc = s_add_inputs (self, tasks, err);
    if (rc != 0)
        tm_tasklist_destroy (&tasks);
    return tasks;
}

//  ---------------------------------------------------------------------
//  The request

//  WORDS (NULL-terminated, or NULL: empty) as a JSON array.  A word
//  that is not UTF-8 is left out (json_string refuses it): callers
//  compare the sizes.
static json_t *
s_strv_json (char *const *words)
{
    json_t *array = json_array ();
    for (size_t i = 0; words && words [i]; i++)
        json_array_append_new (array, json_string (words [i]));
    return array;
}

json_t *
tm_listing_encode (tm_listing_t *self)
{
    assert (self);
    json_t *request = json_pack ("{s:s, s:o, s:s, s:o, s:o, s:o}",
                                 "cmd", "list",
                                 "targets", s_strv_json (self->targets),
                                 "kind", tm_kind_name (self->kind),
                                 "filters", s_strv_json (self->filters),
                                 "excludes", s_strv_json (self->excludes),
                                 "inputs", s_strv_json (self->inputs));
    //  A string that is not UTF-8 was dropped by json_string (NULL is
    //  not appended): the arrays must have every word
    if (request
    &&  (json_array_size (json_object_get (request, "targets"))
                                                    != tm_strv_size (self->targets)
    ||   json_array_size (json_object_get (request, "filters"))
                                                    != tm_strv_size (self->filters)
    ||   json_array_size (json_object_get (request, "excludes"))
                                                    != tm_strv_size (self->excludes)
    ||   json_array_size (json_object_get (request, "inputs"))
                                                    != tm_strv_size (self->inputs))) {
        json_decref (request);
        request = NULL;
    }
    return request;
}

//  Reads REQUEST's array NAME into *WORDS: absent is NULL (unless
//  REQUIRED); else an array of 1 to TM_LISTING_ARRAY_MAX (0 allowed
//  unless REQUIRED) non-empty strings of at most TM_LISTING_STRING_MAX
//  bytes without NUL.  Returns 0, or -1 with *err.
static int
s_get_words (json_t *request, const char *name, bool required, char ***words, char **err)
{
    json_t *array = json_object_get (request, name);
    *words = NULL;
    if (!array || json_is_null (array)) {
        if (required)
            return tm_fail (err, "malformed list request: no %s", name);
        return 0;
    }
    size_t count = json_array_size (array);
    if (!json_is_array (array) || count > TM_LISTING_ARRAY_MAX || (required && count == 0))
        return tm_fail (err, "malformed list request: %s must be an array of %s%d strings",
                        name, required ? "1 to " : "at most ", TM_LISTING_ARRAY_MAX);
    for (size_t i = 0; i < count; i++) {
        json_t *word = json_array_get (array, i);
        size_t length = json_string_length (word);
        if (!json_is_string (word) || length == 0 || length > TM_LISTING_STRING_MAX
        ||  strlen (json_string_value (word)) != length) {
            tm_strv_free (words);
            return tm_fail (err, "malformed list request: %s [%zu] must be a string of "
                            "1 to %d bytes, without NUL", name, i, TM_LISTING_STRING_MAX);
        }
        tm_strv_push (words, json_string_value (word));
    }
    return 0;
}

tm_listing_t *
tm_listing_decode (json_t *request, char **err)
{
    if (!json_is_object (request)) {
        tm_fail (err, "malformed list request: not a JSON object");
        return NULL;
    }
    tm_kind_t kind = TM_KIND_AUTO;
    json_t *kind_json = json_object_get (request, "kind");
    if (kind_json && (!json_is_string (kind_json)
                      || tm_kind_parse (json_string_value (kind_json), &kind) != 0)) {
        tm_fail (err, "malformed list request: kind must be criterion, gtest, ctest, "
                 "manifest or auto");
        return NULL;
    }
    tm_listing_t *self = (tm_listing_t *) zmalloc (sizeof (tm_listing_t));
    self->kind = kind;
    if (s_get_words (request, "targets", true, &self->targets, err) != 0
    ||  s_get_words (request, "filters", false, &self->filters, err) != 0
    ||  s_get_words (request, "excludes", false, &self->excludes, err) != 0
    ||  s_get_words (request, "inputs", false, &self->inputs, err) != 0)
        tm_listing_destroy (&self);
    return self;
}

//  ---------------------------------------------------------------------
//  The answer

//  {"ok":false,"error":...} as text (caller frees).
static char *
s_error_text (const char *error, size_t *size_p)
{
    json_t *reply = json_pack ("{s:b, s:s?}", "ok", 0, "error", error);
    //  json_pack refuses an error that is not UTF-8 (a path's bytes)
    if (!reply)
        reply = json_pack ("{s:b, s:s}", "ok", 0, "error",
                           "the listing failed, and its error is not valid UTF-8");
    char *text = json_dumps (reply, JSON_COMPACT);
    json_decref (reply);
    assert (text);
    *size_p = strlen (text);
    return text;
}

char *
tm_listing_answer_text (tm_tasklist_t *tasks, size_t *size_p)
{
    assert (tasks && size_p);
    char *text = NULL;
    size_t size = 0;
    FILE *stream = open_memstream (&text, &size);
    assert (stream);
    fputs ("{\"ok\":true,\"tasks\":[", stream);
    char *err = NULL;
    size_t total = tm_tasklist_size (tasks);
    for (size_t i = 0; !err && i < total; i++) {
        tm_task_t *task = tm_tasklist_get (tasks, i);
        assert (task->index == i);
        json_t *json = tm_codec_task_encode (task);
        if (!json)
            tm_fail (&err, "test '%s' cannot be sent to the CLI: its command, environment "
                     "or a path is not valid UTF-8", task->id);
        else
        if (json_dumpf (json, stream, JSON_COMPACT) != 0
        ||  (i + 1 < total && fputc (',', stream) == EOF))
            tm_fail (&err, "out of memory answering the list request");
        json_decref (json);
        if (!err && ftell (stream) > TM_CONTROL_MAX - 16)
            tm_fail (&err, "the list is too large to send: %zu tests take more than "
                     "the %d MiB a message may", total, TM_CONTROL_MAX / (1024 * 1024));
    }
    fputs ("]}", stream);
    if (fclose (stream) != 0 && !err)
        tm_fail (&err, "out of memory answering the list request");
    if (err) {
        free (text);
        text = s_error_text (err, &size);
        free (err);
    }
    *size_p = size;
    return text;
}

tm_tasklist_t *
tm_listing_answer_decode (json_t *answer, char **err)
{
    json_t *array = json_object_get (answer, "tasks");
    if (!json_is_array (array)) {
        tm_fail (err, "the agent's list has no array of tasks");
        return NULL;
    }
    tm_tasklist_t *tasks = tm_tasklist_new ();
    zhashx_t *seen = zhashx_new ();
    size_t i;
    json_t *item;
    json_array_foreach (array, i, item) {
        char *why = NULL;
        tm_task_t *task = tm_codec_task_decode (item, &why);
        int rc = 0;
        if (!task)
            rc = tm_fail (err, "the agent's list has a malformed task #%zu: %s", i, why);
        else
        if (task->index != i)
            rc = tm_fail (err, "the agent's list has task #%zu at position %zu",
                          task->index, i);
        else
        if (zhashx_insert (seen, task->id, (void *) 1) != 0)
            rc = tm_fail (err, "the agent's list has the test id '%s' twice", task->id);
        free (why);
        if (rc != 0) {
            tm_task_destroy (&task);
            tm_tasklist_destroy (&tasks);
            break;
        }
        tm_tasklist_append (tasks, &task);
    }
    zhashx_destroy (&seen);
    return tasks;
}

//  ---------------------------------------------------------------------
//  The actor

typedef struct {
    char *id;                   //  The owner's name for the request
    tm_listing_t *listing;      //  What to list
    zactor_t *worker;           //  The thread listing it, once started
    char *answer;               //  Its answer, written by the worker
                                //  before DONE, read by the actor after
    int cancel_fd;              //  eventfd, from its start: readable once
                                //  cancelled; its tm_proc_run gives up then
    bool cancelled;             //  CANCEL came while it ran
} s_job_t;

//  Cuts the job's listing short: its tm_proc_run kills the target and
//  fails, now or as soon as it starts, so the worker ends promptly.
static void
s_job_cancel (s_job_t *self)
{
    uint64_t one = 1;
    if (self->cancel_fd >= 0 && write (self->cancel_fd, &one, sizeof one) != sizeof one)
        tm_warn ("listing", "%s: cannot cancel it: %s", self->id, strerror (errno));
}

static void
s_job_destroy (s_job_t **self_p)
{
    s_job_t *self = *self_p;
    if (self) {
        //  The worker ends promptly: it is done, or its listing is cut
        //  short by its cancel descriptor (CANCEL, or the actor's $TERM)
        zactor_destroy (&self->worker);
        if (self->cancel_fd >= 0)
            close (self->cancel_fd);
        tm_listing_destroy (&self->listing);
        free (self->answer);
        free (self->id);
        free (self);
        *self_p = NULL;
    }
}

//  A worker: lists one job, says DONE, waits for $TERM.
static void
s_worker (zsock_t *pipe, void *args)
{
    s_job_t *job = (s_job_t *) args;
    tm_proc_set_cancel_fd (job->cancel_fd);
    zsock_signal (pipe, 0);
    double started = tm_now ();
    char *err = NULL;
    tm_tasklist_t *tasks = tm_listing_run (job->listing, &err);
    size_t size;
    if (tasks)
        job->answer = tm_listing_answer_text (tasks, &size);
    else
        job->answer = s_error_text (err, &size);
    tm_debug ("listing", "%s: %s in %.2f s", job->id,
              tasks ? "listed" : err, tm_now () - started);
    tm_tasklist_destroy (&tasks);
    free (err);
    zsock_send (pipe, "s", "DONE");
    while (true) {
        char *command = zstr_recv (pipe);
        bool term = !command || streq (command, "$TERM");
        zstr_free (&command);
        if (term)
            break;
    }
}

typedef struct {
    zsock_t *pipe;              //  To our owner
    zpoller_t *poller;          //  The pipe and every running worker's
    zlistx_t *running;          //  Jobs whose worker runs (s_job_t *)
    zlistx_t *waiting;          //  Jobs waiting for a worker, oldest first
} s_lister_t;

//  Sends the ANSWER to request ID, taking the text.
static void
s_answer (s_lister_t *self, const char *id, char **text_p)
{
    zsock_send (self->pipe, "ssp", "ANSWER", id, *text_p);
    *text_p = NULL;
}

//  Answers request ID with the error LINE.
static void
s_answer_error (s_lister_t *self, const char *id, const char *line)
{
    size_t size;
    char *text = s_error_text (line, &size);
    s_answer (self, id, &text);
}

//  Starts waiting jobs while workers are free.  A job that could not be
//  cancelled is not started: it is answered with an error.
static void
s_start_jobs (s_lister_t *self)
{
    while (zlistx_size (self->running) < TM_LISTING_JOBS && zlistx_size (self->waiting)) {
        s_job_t *job = (s_job_t *) zlistx_detach (self->waiting, NULL);
        job->cancel_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (job->cancel_fd < 0) {
            char *line = tm_strdupf ("the agent cannot list now (eventfd: %s); try again",
                                     strerror (errno));
            tm_warn ("listing", "%s: %s", job->id, line);
            s_answer_error (self, job->id, line);
            free (line);
            s_job_destroy (&job);
            continue;
        }
        job->worker = zactor_new (s_worker, job);
        zpoller_add (self->poller, job->worker);
        zlistx_add_end (self->running, job);
    }
}

//  The answer to a cancelled listing, whether it was waiting or running
#define S_CANCELLED "the listing was cancelled"

//  CANCEL ID: a job still waiting is answered at once, one under way is
//  cut short and answered when its worker is done, so that every LIST
//  still gets exactly one ANSWER, S_CANCELLED either way; an ID already
//  answered is ignored.
static void
s_cancel (s_lister_t *self, const char *id)
{
    for (s_job_t *job = (s_job_t *) zlistx_first (self->waiting); job;
         job = (s_job_t *) zlistx_next (self->waiting))
        if (streq (job->id, id)) {
            zlistx_detach_cur (self->waiting);
            s_answer_error (self, job->id, S_CANCELLED);
            s_job_destroy (&job);
            return;
        }
    for (s_job_t *job = (s_job_t *) zlistx_first (self->running); job;
         job = (s_job_t *) zlistx_next (self->running))
        if (streq (job->id, id)) {
            job->cancelled = true;
            s_job_cancel (job);
            return;
        }
}

static void
s_handle_pipe (s_lister_t *self, bool *terminated)
{
    char *command = NULL, *id = NULL;
    void *pointer = NULL;
    if (zsock_recv (self->pipe, "ssp", &command, &id, &pointer) != 0 || !command
    ||  streq (command, "$TERM")) {
        *terminated = true;
        zstr_free (&command);
        zstr_free (&id);
        return;
    }
    assert (id);                                            //  Only our owner writes here
    if (streq (command, "CANCEL")) {
        s_cancel (self, id);
        zstr_free (&command);
        zstr_free (&id);
        return;
    }
    assert (streq (command, "LIST") && pointer);
    s_job_t *job = (s_job_t *) zmalloc (sizeof (s_job_t));
    job->id = id;
    job->listing = (tm_listing_t *) pointer;
    job->cancel_fd = -1;        //  Made when it starts
    if (zlistx_size (self->waiting) >= TM_LISTING_QUEUE) {
        s_answer_error (self, job->id, "the agent is busy listing other runs; try again");
        s_job_destroy (&job);
    }
    else {
        zlistx_add_end (self->waiting, job);
        s_start_jobs (self);
    }
    zstr_free (&command);
}

//  A worker said DONE: its answer goes to the owner, and it ends.
static void
s_handle_worker (s_lister_t *self, zactor_t *worker)
{
    char *done = zstr_recv (worker);
    zstr_free (&done);
    for (s_job_t *job = (s_job_t *) zlistx_first (self->running); job;
         job = (s_job_t *) zlistx_next (self->running))
        if (job->worker == worker) {
            zlistx_detach_cur (self->running);
            zpoller_remove (self->poller, worker);
            //  Cut short or not (it may have been done already), a
            //  cancelled listing's answer says so
            if (job->cancelled)
                s_answer_error (self, job->id, S_CANCELLED);
            else
                s_answer (self, job->id, &job->answer);
            s_job_destroy (&job);
            break;
        }
    s_start_jobs (self);
}

void
tm_listing_actor (zsock_t *pipe, void *args)
{
    s_lister_t self = { 0 };
    self.pipe = pipe;
    self.poller = zpoller_new (pipe, NULL);
    self.running = zlistx_new ();
    self.waiting = zlistx_new ();
    //  Tests run beside our listings: no sweep may kill their daemons
    tm_proc_set_run_sweep (false);
    zsock_signal (pipe, 0);

    bool terminated = false;
    while (!terminated) {
        void *which = zpoller_wait (self.poller, -1);
        if (which == pipe)
            s_handle_pipe (&self, &terminated);
        else
        if (which)
            s_handle_worker (&self, (zactor_t *) which);
        else
        if (zpoller_terminated (self.poller))
            break;
    }
    //  Listings under way stop at once (their tm_proc_run sees the
    //  descriptor readable); their answers are dropped with their jobs.
    //  All are cancelled first, so that they stop together.
    s_job_t *job;
    for (job = (s_job_t *) zlistx_first (self.running); job;
         job = (s_job_t *) zlistx_next (self.running))
        s_job_cancel (job);
    while ((job = (s_job_t *) zlistx_detach (self.running, NULL)))
        s_job_destroy (&job);
    while ((job = (s_job_t *) zlistx_detach (self.waiting, NULL)))
        s_job_destroy (&job);
    tm_proc_set_run_sweep (true);
    zlistx_destroy (&self.running);
    zlistx_destroy (&self.waiting);
    zpoller_destroy (&self.poller);
}
