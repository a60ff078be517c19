/*  tm_control.c - the control socket between the CLI and its local agent. */
#include "tm_control.h"
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

char *
tm_control_endpoint (const char *datadir)
{
    assert (datadir);
    return tm_strdupf ("ipc://%s/control.sock", datadir);
}

json_t *
tm_control_error (const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    char *message = NULL;
    if (vasprintf (&message, fmt, args) < 0)
        abort ();
    va_end (args);
    json_t *reply = json_pack ("{s:b, s:s}", "ok", 0, "error", message);
    free (message);
    return reply;
}

//  Connects and sends one request; NULL with *err if the socket file
//  does not exist, which is the common "no agent" case and must not
//  wait for a timeout.
char *
tm_control_call_text (const char *datadir, json_t *request, double timeout, size_t *size_p,
                      char **err)
{
    assert (datadir && request && size_p);
    char *path = tm_strdupf ("%s/control.sock", datadir);
    bool exists = access (path, F_OK) == 0;
    free (path);
    if (!exists) {
        tm_fail (err, "no agent running (data directory %s); start one with "
                 "'testmesh agent'", datadir);
        return NULL;
    }
    char *endpoint = tm_control_endpoint (datadir);
    zsock_t *client = zsock_new (ZMQ_DEALER);
    zsock_set_linger (client, 0);
    char *answer = NULL;
    if (!client || zsock_connect (client, "%s", endpoint) != 0) {
        tm_fail (err, "cannot connect to %s", endpoint);
        goto done;
    }
    char *text = json_dumps (request, JSON_COMPACT);
    zstr_send (client, text);
    free (text);
    zpoller_t *poller = zpoller_new (client, NULL);
    void *which = zpoller_wait (poller, (int) (timeout * 1000));
    zpoller_destroy (&poller);
    if (!which) {
        tm_fail (err, "no agent running (data directory %s): the control socket "
                 "does not answer", datadir);
        goto done;
    }
    zframe_t *frame = zframe_recv (client);
    if (frame) {
        //  One copy, NUL-terminated, as zstr_recv would make
        *size_p = zframe_size (frame);
        answer = (char *) malloc (*size_p + 1);
        assert (answer);
        memcpy (answer, zframe_data (frame), *size_p);
        answer [*size_p] = 0;
        zframe_destroy (&frame);
    }
    else
        tm_fail (err, "the agent sent a malformed reply");
done:
    zsock_destroy (&client);
    free (endpoint);
    return answer;
}

json_t *
tm_control_reply_parse (const char *text, size_t size, char **err)
{
    json_error_t error;
    json_t *reply = json_loadb (text, size, 0, &error);
    if (!reply || !json_is_object (reply)) {
        tm_fail (err, "the agent sent a malformed reply");
        json_decref (reply);
        return NULL;
    }
    if (!json_is_true (json_object_get (reply, "ok"))) {
        const char *message = json_string_value (json_object_get (reply, "error"));
        tm_fail (err, "%s", message ? message : "the agent refused the request");
        json_decref (reply);
        return NULL;
    }
    return reply;
}

json_t *
tm_control_call (const char *datadir, json_t *request, double timeout, char **err)
{
    size_t size = 0;
    char *text = tm_control_call_text (datadir, request, timeout, &size, err);
    if (!text)
        return NULL;
    json_t *reply = tm_control_reply_parse (text, size, err);
    free (text);
    return reply;
}

bool
tm_control_agent_running (const char *datadir)
{
    json_t *request = json_pack ("{s:s}", "cmd", "ping");
    json_t *reply = tm_control_call (datadir, request, 1.0, NULL);
    json_decref (request);
    bool running = reply != NULL;
    json_decref (reply);
    return running;
}

zsock_t *
tm_control_bind (const char *datadir, char **err)
{
    assert (datadir);
    if (tm_control_agent_running (datadir)) {
        tm_fail (err, "an agent is already running on %s", datadir);
        return NULL;
    }
    char *path = tm_strdupf ("%s/control.sock", datadir);
    unlink (path);              //  A dead agent's socket file
    char *endpoint = tm_control_endpoint (datadir);
    zsock_t *server = zsock_new (ZMQ_ROUTER);
    zsock_set_linger (server, 0);
    zsock_set_maxmsgsize (server, TM_CONTROL_MAX);
    //  A ROUTER drops what it cannot queue for a peer, silently: a run's
    //  CLI that falls behind would lose results.  What we queue is bounded
    //  by the runs we hold (an event per test and attempt).
    zsock_set_sndhwm (server, 0);
    //  Bind with a tight umask so the socket is never reachable by
    //  others, not even between bind and chmod.
    mode_t old = umask (0077);
    int rc = zsock_bind (server, "%s", endpoint);
    umask (old);
    if (rc != 0) {
        tm_fail (err, "cannot bind %s: %s", endpoint, zmq_strerror (zmq_errno ()));
        zsock_destroy (&server);
    }
    else
        chmod (path, 0600);
    free (endpoint);
    free (path);
    return server;
}

json_t *
tm_control_recv (zsock_t *server, zframe_t **routing_id)
{
    assert (server && routing_id);
    zmsg_t *msg = zmsg_recv (server);
    return tm_control_parse (server, &msg, routing_id);
}

json_t *
tm_control_parse (zsock_t *server, zmsg_t **msg_p, zframe_t **routing_id)
{
    assert (server && msg_p && routing_id);
    zmsg_t *msg = *msg_p;
    *msg_p = NULL;
    *routing_id = NULL;
    if (!msg)
        return NULL;
    zframe_t *id = zmsg_pop (msg);
    zframe_t *body = zmsg_pop (msg);
    json_t *request = NULL;
    if (id && body && zmsg_size (msg) == 0) {
        json_error_t error;
        request = json_loadb ((const char *) zframe_data (body), zframe_size (body),
                              0, &error);
        const char *command = json_string_value (json_object_get (request, "cmd"));
        const char *why = "malformed request";
        if (command && zframe_size (body) > TM_CONTROL_REQUEST_MAX
        &&  !streq (command, "run") && !streq (command, "cache-put")) {
            why = "request too large";
            command = NULL;
        }
        if (request && !command) {
            json_decref (request);
            request = NULL;
        }
        if (!request) {
            json_t *reply = tm_control_error ("%s", why);
            tm_control_reply (server, &id, &reply);
        }
    }
    zframe_destroy (&body);
    zmsg_destroy (&msg);
    if (request)
        *routing_id = id;
    else
        zframe_destroy (&id);
    return request;
}

void
tm_control_reply (zsock_t *server, zframe_t **routing_id, json_t **reply)
{
    assert (server && routing_id && reply && *reply);
    char *text = json_dumps (*reply, JSON_COMPACT);
    zmsg_t *msg = zmsg_new ();
    zmsg_append (msg, routing_id);
    zmsg_addstr (msg, text);
    zmsg_send (&msg, server);
    free (text);
    json_decref (*reply);
    *reply = NULL;
}

void
tm_control_reply_text (zsock_t *server, zframe_t **routing_id, const char *text, size_t size)
{
    assert (server && routing_id && *routing_id && text);
    zframe_t *reply = zframe_new (text, size);
    tm_control_reply_frame (server, routing_id, &reply);
}

void
tm_control_reply_frame (zsock_t *server, zframe_t **routing_id, zframe_t **reply)
{
    assert (server && routing_id && *routing_id && reply && *reply);
    zmsg_t *msg = zmsg_new ();
    zmsg_append (msg, routing_id);
    zmsg_append (msg, reply);
    zmsg_send (&msg, server);
}
