/*  tm_submit.c - the submit actor: a run handed to the local agent.

    States, and the function that makes each move:

        WAITING --s_on_accepted--> RUNNING --s_on_finished (complete)--> OVER
           |                          |
           +--------------------------+--s_fail (silence, refusal,
                                          agent bug)--> OVER

    WAITING: the run request is sent, no "accepted" yet; no heartbeats
    (there is no run id to name).  RUNNING: heartbeats every
    TM_SUBMIT_HEARTBEAT s, results relayed.  OVER: FINISHED or FAILED
    sent; the agent socket is no longer read, and the actor waits for
    $TERM.  A run of no tasks goes straight to OVER with FINISHED.

    Invariants:
    1. received == the number of tasks marked done, and <= tasks
       (s_invariants_hold).
    2. WAITING has no run id, RUNNING has one (s_invariants_hold).
    3. Once OVER, nothing more goes to the owner: s_fail and s_finish,
       the only moves to OVER, assert they are not made twice, and the
       agent is no longer read.
*/
#include "tm_submit.h"
#include "tm_codec.h"
#include "tm_control.h"
#include "tm_listing.h"
#include <sodium.h>
#include <stdarg.h>
#include <unistd.h>

#define S_RUN_ID_MAX    256     //  Longest run id we echo back
#define S_REASON_MAX    400     //  Longest agent error we pass on
#define S_LIST_ERROR_MAX 8192   //  ... of a listing, which names paths

typedef enum { SUBMIT_WAITING, SUBMIT_RUNNING, SUBMIT_OVER } s_state_t;

typedef struct {
    zsock_t *pipe;              //  Pipe to our owner (the CLI)
    tm_submit_config_t config;  //  Copied config; datadir is ours
    zsock_t *agent;             //  DEALER on the agent's control socket
    zpoller_t *poller;          //  Pipe, and the agent while polled
    bool polled;                //  The agent is in the poller (until OVER)
    s_state_t state;            //  See the table above
    size_t total;               //  Tasks in the run
    bool *done;                 //  Per task index: its RESULT was sent
    size_t received;            //  Tasks with their RESULT sent
    size_t malformed;           //  Results dropped: tm_codec refused them
    size_t dropped;             //  Other messages dropped (not JSON, unknown...)
    char *run_id;               //  The agent's name for the run, once accepted
    double heard;               //  When the agent last sent anything (tm_now)
    double patience;            //  Silence allowed before we call it dead
    double next_heartbeat;      //  When our next heartbeat is due (RUNNING)
    bool cancel_wanted;         //  The owner sent CANCEL (or $TERM)
    bool cancel_sent;           //  ... and the agent was told
    bool terminated;            //  $TERM received
} s_submit_t;

//  The scan of every task costs O(tasks) per message from the agent, so
//  it runs only for runs of at most S_SCAN_INVARIANTS tasks (every unit
//  test; not a 100,000-test run, where it would be quadratic).
#define S_SCAN_INVARIANTS 2000

static bool
s_invariants_hold (s_submit_t *self)
{
    if (self->received > self->total
    ||  (self->state == SUBMIT_RUNNING && !self->run_id)
    ||  (self->state == SUBMIT_WAITING && self->run_id))
        return false;
    if (self->total > S_SCAN_INVARIANTS)
        return true;
    size_t done = 0;
    for (size_t i = 0; i < self->total; i++)
        done += self->done [i];
    return done == self->received;
}

//  Sends a {"cmd": CMD, "run": RUN_ID} to AGENT, or {"cmd": CMD} with no
//  RUN_ID (a listing's).  Never blocks: a message the agent cannot take
//  now is dropped (it is silent, and the run or listing will end by its
//  silence or ours).
static void
s_command_send (zsock_t *agent, const char *cmd, const char *run_id)
{
    json_t *message = run_id ? json_pack ("{s:s, s:s}", "cmd", cmd, "run", run_id)
                             : json_pack ("{s:s}", "cmd", cmd);
    char *text = message ? json_dumps (message, JSON_COMPACT) : NULL;
    json_decref (message);
    if (!text || zmq_send (zsock_resolve (agent), text, strlen (text), ZMQ_DONTWAIT) < 0)
        tm_debug ("submit", "could not send %s to the agent", cmd);
    free (text);
}

static void
s_send_command (s_submit_t *self, const char *cmd)
{
    assert (self->run_id);
    s_command_send (self->agent, cmd, self->run_id);
}

//  Ends the run with FAILED and a reason made from FMT.  The agent is
//  told to cancel when it may still be running the run; AGENT_ENDED
//  says it has ended it itself (finished, or refused it).
static void
s_fail (s_submit_t *self, bool agent_ended, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_fail (s_submit_t *self, bool agent_ended, const char *fmt, ...)
{
    assert (self->state != SUBMIT_OVER);
    va_list args;
    va_start (args, fmt);
    char *reason = NULL;
    if (vasprintf (&reason, fmt, args) < 0)
        abort ();
    va_end (args);
    if (self->run_id && !agent_ended && !self->cancel_sent) {
        s_send_command (self, "cancel");
        self->cancel_sent = true;
    }
    self->state = SUBMIT_OVER;
    if (self->polled)
        zpoller_remove (self->poller, self->agent);
    self->polled = false;
    tm_debug ("submit", "run failed: %s", reason);
    zsock_send (self->pipe, "sp", "FAILED", reason);
}

static void
s_finish (s_submit_t *self)
{
    assert (self->state != SUBMIT_OVER && self->received == self->total);
    self->state = SUBMIT_OVER;
    if (self->polled)
        zpoller_remove (self->poller, self->agent);
    self->polled = false;
    zsock_send (self->pipe, "s", "FINISHED");
}

static void
s_free_buffer (void *data, void *hint)
{
    free (data);
}

//  Builds the run request and sends it in one frame.  The text is built
//  one task at a time, so memory holds the text and one task's JSON,
//  never the JSON tree of the whole run.  Returns 0, or -1 with *err.
static int
s_send_run (s_submit_t *self, char **err)
{
    json_t *header = json_pack ("{s:s, s:i, s:b, s:f, s:I}", "cmd", "run",
                                "retries", self->config.retries,
                                "fail_fast", self->config.fail_fast,
                                "timeout", self->config.default_timeout,
                                "output_limit", (json_int_t) self->config.output_limit);
    char *head = header ? json_dumps (header, JSON_COMPACT) : NULL;
    json_decref (header);
    if (!head)
        return tm_fail (err, "out of memory building the run request");
    char *text = NULL;
    size_t size = 0;
    FILE *stream = open_memstream (&text, &size);
    if (!stream) {
        free (head);
        return tm_fail (err, "out of memory building the run request");
    }
    //  {"cmd":"run",...} becomes {"cmd":"run",...,"tasks":[...]}
    head [strlen (head) - 1] = 0;
    fprintf (stream, "%s,\"tasks\":[", head);
    free (head);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < self->total; i++) {
        tm_task_t *task = tm_tasklist_get (self->config.tasks, i);
        assert (task->index == i);
        json_t *json = tm_codec_task_encode (task);
        if (!json)
            rc = tm_fail (err, "test '%s' cannot be sent to the agent: its command, "
                          "environment or a path is not valid UTF-8 (use --local)",
                          task->id);
        else
        if (json_dumpf (json, stream, JSON_COMPACT) != 0
        ||  (i + 1 < self->total && fputc (',', stream) == EOF))
            rc = tm_fail (err, "out of memory building the run request");
        json_decref (json);
        if (rc == 0 && ftell (stream) > TM_CONTROL_MAX)
            rc = tm_fail (err, "the run is too large to submit to the agent: "
                          "%zu tests take more than the %d MiB a request may "
                          "(use --local, or fewer tests)", self->total,
                          TM_CONTROL_MAX / (1024 * 1024));
    }
    fputs ("]}", stream);
    if (fclose (stream) != 0 && rc == 0)
        rc = tm_fail (err, "out of memory building the run request");
    if (rc == 0 && size > TM_CONTROL_MAX)
        rc = tm_fail (err, "the run is too large to submit to the agent (use --local)");
    if (rc != 0) {
        free (text);
        return -1;
    }
    //  Handed to ZeroMQ without a copy: it frees the text once sent
    zmq_msg_t msg;
    zmq_msg_init_data (&msg, text, size, s_free_buffer, NULL);
    if (zmq_msg_send (&msg, zsock_resolve (self->agent), ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&msg);
        return tm_fail (err, "cannot send the run to the agent: %s",
                        zmq_strerror (zmq_errno ()));
    }
    self->heard = tm_now ();
    self->patience = TM_SUBMIT_SILENCE + size / TM_SUBMIT_ACCEPT_RATE;
    return 0;
}

//  A DEALER connected to the agent of CONFIG: its control socket, or
//  with --node its client port, as a CurveZMQ client.  MAX_SIZE bounds
//  what it takes from the agent (ZMQ_MAXMSGSIZE: a larger message drops
//  the connection).  Returns the socket, or NULL with *err.
static zsock_t *
s_connect (const tm_submit_config_t *config, int64_t max_size, char **err)
{
    char *endpoint = config->node ? tm_strdupf ("tcp://%s", config->node)
                                  : tm_control_endpoint (config->datadir);
    zsock_t *agent = zsock_new (ZMQ_DEALER);
    assert (agent);
    if (config->node) {
        //  CurveZMQ: we know the cluster by the token's key, and it
        //  knows us by the client key the token's secret gives
        zsock_set_curve_serverkey (agent, config->server_key);
        zsock_set_curve_publickey (agent, config->client_public);
        zsock_set_curve_secretkey (agent, config->client_secret);
    }
    //  Take every event the agent sends however far behind we are: it
    //  would otherwise queue, and then drop, what we have not read
    zsock_set_rcvhwm (agent, 0);
    //  A cancel sent just before we end gets a moment to leave
    zsock_set_linger (agent, 500);
    //  An int64 option: zsock_set_maxmsgsize takes an int
    zmq_setsockopt (zsock_resolve (agent), ZMQ_MAXMSGSIZE, &max_size, sizeof max_size);
    if (zsock_connect (agent, "%s", endpoint) != 0) {
        tm_fail (err, "cannot connect to %s", endpoint);
        zsock_destroy (&agent);
    }
    free (endpoint);
    return agent;
}

//  Connects to the agent and sends the run.  On failure the run ends
//  with FAILED.
static void
s_start (s_submit_t *self)
{
    if (self->total == 0) {
        s_finish (self);
        return;
    }
    char *err = NULL;
    char *path = tm_strdupf ("%s/control.sock", self->config.datadir);
    bool exists = self->config.node || access (path, F_OK) == 0;
    free (path);
    if (!exists) {
        s_fail (self, true, "no agent running (data directory %s); start one with "
                "'testmesh agent', or use --local", self->config.datadir);
        return;
    }
    //  The largest message the agent may send is a result with both
    //  streams at the output limit (plus the cut marker) as base64, and
    //  its strings
    int64_t stream = (int64_t) self->config.output_limit + 4096;
    int64_t max = 2 * ((stream + 2) / 3 * 4) + 16 * 1024 * 1024;
    self->agent = s_connect (&self->config, max, &err);
    if (!self->agent)
        s_fail (self, true, "%s", err);
    else
    if (s_send_run (self, &err) != 0)
        s_fail (self, true, "%s", err);
    else {
        zpoller_add (self->poller, self->agent);
        self->polled = true;
    }
    free (err);
}

//  A copy of the agent's error text, cut to one line of at most MAX
//  bytes (not in the middle of a UTF-8 character).
static char *
s_one_line (const char *text, size_t max)
{
    char *line = strdup (text ? text : "no reason given");
    size_t length = strlen (line);
    if (length > max) {
        length = max;
        while (length > 0 && ((unsigned char) line [length] & 0xC0) == 0x80)
            length--;
        line [length] = 0;
    }
    for (char *c = line; *c; c++)
        if ((unsigned char) *c < 0x20 || *c == 0x7f)
            *c = ' ';
    return line;
}

static void
s_on_accepted (s_submit_t *self, json_t *event)
{
    json_t *run = json_object_get (event, "run");
    size_t length = json_string_length (run);
    if (self->state != SUBMIT_WAITING || !json_is_string (run) || length == 0
    ||  length > S_RUN_ID_MAX || strlen (json_string_value (run)) != length) {
        self->dropped++;
        tm_debug ("submit", "dropped a malformed or repeated 'accepted'");
        return;
    }
    self->run_id = strdup (json_string_value (run));
    self->state = SUBMIT_RUNNING;
    self->patience = TM_SUBMIT_SILENCE;
    self->next_heartbeat = tm_now () + TM_SUBMIT_HEARTBEAT;
    tm_debug ("submit", "the agent accepted the run as '%s'", self->run_id);
    if (self->cancel_wanted && !self->cancel_sent) {
        s_send_command (self, "cancel");
        self->cancel_sent = true;
    }
}

static void
s_on_started (s_submit_t *self, json_t *event)
{
    json_t *index = json_object_get (event, "index");
    json_int_t value = json_integer_value (index);
    if (!json_is_integer (index) || value < 0 || (uint64_t) value >= self->total
    ||  self->done [value]) {
        self->dropped++;
        tm_debug ("submit", "dropped a 'started' for no running test");
        return;
    }
    zsock_send (self->pipe, "sp", "STARTED",
                tm_tasklist_get (self->config.tasks, (size_t) value));
}

static void
s_on_result (s_submit_t *self, json_t *event)
{
    char *err = NULL;
    tm_result_t *result = tm_codec_result_decode (json_object_get (event, "result"), &err);
    if (!result) {
        //  Dropped and counted: the task then lacks its result, which
        //  "finished" will find
        if (self->malformed++ == 0)
            tm_warn ("submit", "dropped a malformed result from the agent: %s", err);
        else
            tm_debug ("submit", "dropped a malformed result from the agent: %s", err);
        free (err);
        return;
    }
    if (result->index >= self->total)
        s_fail (self, false, "the agent sent a result for test #%zu, and the run has "
                "%zu tests (an agent bug)", result->index, self->total);
    else
    if (self->done [result->index])
        s_fail (self, false, "the agent sent a second result for test '%s' "
                "(an agent bug)", tm_tasklist_get (self->config.tasks, result->index)->id);
    else
    if (!streq (result->id, tm_tasklist_get (self->config.tasks, result->index)->id))
        s_fail (self, false, "the agent sent the result of '%s' for test '%s' "
                "(an agent bug)", result->id,
                tm_tasklist_get (self->config.tasks, result->index)->id);
    else {
        self->done [result->index] = true;
        self->received++;
        zsock_send (self->pipe, "sp", "RESULT", result);
        result = NULL;
    }
    tm_result_destroy (&result);
}

static void
s_on_finished (s_submit_t *self)
{
    size_t missing = self->total - self->received;
    if (missing == 0)
        s_finish (self);
    else
    if (self->malformed)
        s_fail (self, true, "the agent finished the run with %zu of %zu tests "
                "without a result (%zu malformed results were dropped)",
                missing, self->total, self->malformed);
    else
        s_fail (self, true, "the agent finished the run with %zu of %zu tests "
                "without a result (an agent bug)", missing, self->total);
}

//  Takes one message from the agent's socket SOCK, if one is there:
//  returns -1 if none, else 0 and *JSON_P its one frame parsed (NULL if
//  it was not JSON or had more frames, which are read and dropped: the
//  agent only ever sends one).  The caller owns *JSON_P.
static int
s_agent_recv (zsock_t *sock, json_t **json_p)
{
    void *handle = zsock_resolve (sock);
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    if (zmq_msg_recv (&msg, handle, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&msg);
        return -1;
    }
    bool more = zmq_msg_more (&msg);
    json_error_t error;
    *json_p = more ? NULL : json_loadb ((const char *) zmq_msg_data (&msg),
                                        zmq_msg_size (&msg), 0, &error);
    zmq_msg_close (&msg);
    while (more) {
        zmq_msg_init (&msg);
        more = zmq_msg_recv (&msg, handle, ZMQ_DONTWAIT) >= 0 && zmq_msg_more (&msg);
        zmq_msg_close (&msg);
    }
    return 0;
}

//  Reads one message from the agent.  Anything at all counts as a sign
//  of life; what it says is checked before use.
static void
s_handle_agent (s_submit_t *self)
{
    json_t *json;
    if (s_agent_recv (self->agent, &json) != 0)
        return;
    self->heard = tm_now ();
    const char *event = json_string_value (json_object_get (json, "event"));
    if (!json_is_object (json))
        self->dropped++;
    else
    if (json_is_false (json_object_get (json, "ok"))) {
        char *reason = s_one_line (json_string_value (json_object_get (json, "error")),
                                  S_REASON_MAX);
        if (self->state == SUBMIT_WAITING)
            s_fail (self, true, "the agent refused the run: %s", reason);
        else
            s_fail (self, true, "the agent ended the run: %s", reason);
        free (reason);
    }
    else
    if (!event)
        self->dropped++;
    else
    if (streq (event, "heartbeat"))
        ;                       //  Only a sign of life
    else
    if (streq (event, "accepted"))
        s_on_accepted (self, json);
    else
    if (self->state != SUBMIT_RUNNING)
        self->dropped++;        //  Nothing but "accepted" comes first
    else
    if (streq (event, "started"))
        s_on_started (self, json);
    else
    if (streq (event, "result"))
        s_on_result (self, json);
    else
    if (streq (event, "finished"))
        s_on_finished (self);
    else
        self->dropped++;        //  An event of a newer agent
    json_decref (json);
    assert (s_invariants_hold (self));
}

static void
s_handle_pipe (s_submit_t *self)
{
    char *command = NULL;
    if (zsock_recv (self->pipe, "s", &command) != 0 || !command) {
        self->terminated = true;
        return;
    }
    if (streq (command, "$TERM"))
        self->terminated = true;
    else
    if (!streq (command, "CANCEL"))
        assert (false);         //  Only CANCEL and $TERM are ours
    if (self->state != SUBMIT_OVER) {
        self->cancel_wanted = true;
        if (self->run_id && !self->cancel_sent) {
            s_send_command (self, "cancel");
            self->cancel_sent = true;
        }
    }
    free (command);
}

//  Sends a heartbeat when due; ends the run when the agent is silent.
static void
s_handle_timers (s_submit_t *self)
{
    if (self->state == SUBMIT_OVER)
        return;
    double now = tm_now ();
    if (now - self->heard >= self->patience) {
        if (self->state == SUBMIT_WAITING && self->config.node)
            s_fail (self, false, "the agent at %s did not answer the run request within "
                    "%.0f s (a wrong or rotated token, or no agent started with "
                    "--client-bind there)", self->config.node, self->patience);
        else
        if (self->state == SUBMIT_WAITING)
            s_fail (self, false, "the agent (data directory %s) did not answer the "
                    "run request within %.0f s", self->config.datadir, self->patience);
        else
            s_fail (self, false, "the agent (origin of this run) stopped answering; "
                    "its members drop the run");
        return;
    }
    if (self->state == SUBMIT_RUNNING && now >= self->next_heartbeat) {
        s_send_command (self, "heartbeat");
        self->next_heartbeat = now + TM_SUBMIT_HEARTBEAT;
    }
}

//  Milliseconds until the next timer is due; -1 when OVER (no timers).
static int
s_timeout_ms (s_submit_t *self)
{
    if (self->state == SUBMIT_OVER)
        return -1;
    double due = self->heard + self->patience;
    if (self->state == SUBMIT_RUNNING && self->next_heartbeat < due)
        due = self->next_heartbeat;
    double ms = (due - tm_now ()) * 1000;
    return ms <= 0 ? 0 : (int) ms + 1;
}

void
tm_submit_actor (zsock_t *pipe, void *args)
{
    s_submit_t self = { 0 };
    self.pipe = pipe;
    self.config = *(tm_submit_config_t *) args;
    assert (self.config.datadir && self.config.tasks);
    self.config.datadir = strdup (self.config.datadir);
    self.config.node = self.config.node ? strdup (self.config.node) : NULL;
    self.config.server_key = self.config.server_key ? strdup (self.config.server_key) : NULL;
    self.config.client_public = self.config.client_public ? strdup (self.config.client_public)
                                                          : NULL;
    self.config.client_secret = self.config.client_secret ? strdup (self.config.client_secret)
                                                          : NULL;
    self.total = tm_tasklist_size (self.config.tasks);
    self.done = (bool *) calloc (self.total + 1, sizeof (bool));
    assert (self.done);
    self.poller = zpoller_new (pipe, NULL);
    zsock_signal (pipe, 0);

    s_start (&self);
    while (!self.terminated) {
        void *which = zpoller_wait (self.poller, s_timeout_ms (&self));
        if (which == pipe)
            s_handle_pipe (&self);
        else
        if (which && which == self.agent)
            s_handle_agent (&self);
        else
        if (zpoller_terminated (self.poller))
            break;
        s_handle_timers (&self);
    }
    zpoller_destroy (&self.poller);
    zsock_destroy (&self.agent);
    free (self.done);
    free (self.run_id);
    free ((char *) self.config.datadir);
    free ((char *) self.config.node);
    free ((char *) self.config.server_key);
    free ((char *) self.config.client_public);
    if (self.config.client_secret)
        sodium_memzero ((char *) self.config.client_secret, strlen (self.config.client_secret));
    free ((char *) self.config.client_secret);
}

//  ---------------------------------------------------------------------
//  Listing at the agent (run --node): one request, heartbeats, one answer

tm_tasklist_t *
tm_submit_list (const tm_submit_config_t *config, tm_listing_t *listing, int cancel_fd,
                char **err)
{
    assert (config && (config->node || config->datadir) && listing);
    json_t *request = tm_listing_encode (listing);
    //  We heartbeat while we wait, so the agent may cancel the listing
    //  (and kill the target it runs) when we stop: Ctrl-C, or we died
    if (request)
        json_object_set_new (request, "heartbeats", json_true ());
    char *text = request ? json_dumps (request, JSON_COMPACT) : NULL;
    json_decref (request);
    if (!text) {
        tm_fail (err, "a target, --filter, --exclude or --input is not valid UTF-8: "
                 "it cannot be sent to the agent");
        return NULL;
    }
    size_t size = strlen (text);
    if (size > TM_CONTROL_REQUEST_MAX) {
        free (text);
        tm_fail (err, "the targets, filters and inputs take more than the %d KiB a "
                 "request to the agent may", TM_CONTROL_REQUEST_MAX / 1024);
        return NULL;
    }
    //  The answer is at most what a run request may be, plus its envelope
    zsock_t *agent = s_connect (config, TM_CONTROL_MAX + 64 * 1024, err);
    if (agent && zmq_send (zsock_resolve (agent), text, size, ZMQ_DONTWAIT) < 0) {
        tm_fail (err, "cannot send the list request to the agent: %s",
                 zmq_strerror (zmq_errno ()));
        zsock_destroy (&agent);
    }
    free (text);
    if (!agent)
        return NULL;

    tm_tasklist_t *tasks = NULL;
    double heard = tm_now ();
    double patience = TM_SUBMIT_SILENCE;
    double next_beat = tm_now () + TM_SUBMIT_HEARTBEAT;
    bool answered = false;      //  The agent has sent something
    bool cancelled = false;     //  We told it to cancel
    bool over = false;
    while (!over) {
        zmq_pollitem_t items [] = {
            { zsock_resolve (agent), 0, ZMQ_POLLIN, 0 },
            { NULL, cancel_fd, ZMQ_POLLIN, 0 },
        };
        if (tm_now () >= next_beat) {
            s_command_send (agent, "heartbeat", NULL);
            //  On the beat, however late this one was (never a burst)
            next_beat += TM_SUBMIT_HEARTBEAT;
            if (next_beat <= tm_now ())
                next_beat = tm_now () + TM_SUBMIT_HEARTBEAT;
        }
        double left = heard + patience - tm_now ();
        if (left <= 0) {
            if (answered)
                tm_fail (err, "the agent stopped answering while it listed the tests");
            else
            if (config->node)
                tm_fail (err, "the agent at %s did not answer within %.0f s (a wrong or "
                         "rotated token, or no agent started with --client-bind there)",
                         config->node, patience);
            else
                tm_fail (err, "the agent (data directory %s) did not answer within %.0f s",
                         config->datadir, patience);
            break;
        }
        if (next_beat - tm_now () < left)
            left = next_beat - tm_now ();
        if (zmq_poll (items, cancel_fd >= 0 ? 2 : 1, left > 0 ? (long) (left * 1000) + 1 : 0) < 0
        &&  zmq_errno () != EINTR) {
            tm_fail (err, "poll: %s", zmq_strerror (zmq_errno ()));
            break;
        }
        if (items [1].revents & ZMQ_POLLIN) {
            s_command_send (agent, "cancel", NULL);
            cancelled = true;
            tm_fail (err, "interrupted while the agent listed the tests");
            break;
        }
        if (!(items [0].revents & ZMQ_POLLIN))
            continue;
        //  Anything at all is a sign of life; what it says is checked
        json_t *json;
        if (s_agent_recv (agent, &json) != 0)
            continue;
        heard = tm_now ();
        answered = true;
        const char *event = json_string_value (json_object_get (json, "event"));
        json_t *ok = json_object_get (json, "ok");
        if (json_is_false (ok)) {
            //  The listing's own error, the line a local run prints
            char *line = s_one_line (json_string_value (json_object_get (json, "error")),
                                     S_LIST_ERROR_MAX);
            tm_fail (err, "%s", line);
            free (line);
            over = true;
        }
        else
        if (json_is_true (ok)) {
            tasks = tm_listing_answer_decode (json, err);
            over = true;
        }
        else
        if (event && streq (event, "listed")) {
            //  The answer comes next, and may take a while to arrive
            json_t *bytes = json_object_get (json, "size");
            if (json_is_integer (bytes) && json_integer_value (bytes) >= 0
            &&  json_integer_value (bytes) <= TM_CONTROL_MAX)
                patience = TM_SUBMIT_SILENCE
                         + json_integer_value (bytes) / TM_SUBMIT_ACCEPT_RATE;
        }
        //  Anything else is a heartbeat, or what a newer agent adds
        json_decref (json);
    }
    //  A cancel gets a moment to leave (the linger s_connect set)
    if (!cancelled)
        zsock_set_linger (agent, 0);
    zsock_destroy (&agent);
    return tasks;
}
