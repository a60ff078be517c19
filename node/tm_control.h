/*  tm_control.h - the control socket between the CLI and its local agent.

    The agent binds a ZeroMQ ROUTER on ipc://DATADIR/control.sock (mode
    0600: only the agent's user can drive it).  The CLI connects a
    DEALER, sends one JSON request and reads one JSON reply:

        request:  {"cmd": "members"}             {"cmd": "token", "rotate": true}
        reply:    {"ok": true, ...}  or  {"ok": false, "error": "one line"}

    Each message is one frame (after the ROUTER's routing id).  A "run"
    request (tm_submit.h) carries a whole task list, and a "cache-put" a
    batch of cache values, so the socket takes messages up to
    TM_CONTROL_MAX; every other request must fit in
    TM_CONTROL_REQUEST_MAX, and tm_control_recv refuses a larger one.

    The result cache (docs/caching.md; answered by the agent's cache
    actor, dht-cache/tm_dht.h, so the reply comes when it has answered):
        {"cmd":"cache-get", "kind":"entry"|"record", "keys":[hex, ...]}
            -> {"ok":true, "values":[string|null, ...]}   one per key, in
               order, within about 2 s; a key that is not 64 lowercase
               hex digits makes the whole request an error
        {"cmd":"cache-put", "kind":"entry"|"record", "items":[[hex, value], ...]}
            -> {"ok":true, "messages":n}    once every other owner acked
               its values (n put messages), or within about 2 s; values
               that do not verify are dropped and counted (stats "cache")
        {"cmd":"cache-invalidate", "glob":GLOB}
            -> {"ok":true, "deleted":n}    GLOB: fnmatch(3) over test ids;
               n: entries deleted here
        {"cmd":"cache-stats"}
            -> {"ok":true, "replicas":R, "members":[{"name", "entries",
               "records", "bytes", "cap", "hits", "misses", "evicted",
               "degraded"}, ...]}    the members that answered within 1 s
        {"cmd":"cache-gc"}
            -> {"ok":true, "evicted":n}    this agent's share
    The socket lives in the data directory, so `--data` picks the agent,
    as it picks every other file.
*/
#ifndef TM_CONTROL_H_INCLUDED
#define TM_CONTROL_H_INCLUDED

#include "tm_common.h"
#include <jansson.h>

//  Largest message the control socket takes: a run of 100,000 tests
//  encodes to some 50 MB.  Larger ones are dropped by ZeroMQ.
#define TM_CONTROL_MAX          (64 * 1024 * 1024)
//  Largest request other than "run": none needs more than a few bytes.
#define TM_CONTROL_REQUEST_MAX  (1024 * 1024)

//  The endpoint of the control socket for DATADIR (caller frees).
char *tm_control_endpoint (const char *datadir);

//  True if an agent answers on DATADIR's control socket.
bool tm_control_agent_running (const char *datadir);

//  Sends REQUEST to the agent of DATADIR and waits up to TIMEOUT seconds
//  for the reply.  Returns the reply (caller json_decref's), or NULL with
//  *err set: "no agent running (DATADIR)" when nothing listens, the
//  agent's own error when it says ok=false.
json_t *tm_control_call (const char *datadir, json_t *request, double timeout,
                         char **err);

//  The same in two steps, for a caller that reads a large reply its own
//  way: the reply's text (caller frees; *SIZE_P bytes, NUL-terminated),
//  or NULL with *err if the agent does not answer; then, to read it as
//  tm_control_call does, tm_control_reply_parse: the reply, or NULL
//  with *err (malformed, or the agent's error when it says ok=false).
char *tm_control_call_text (const char *datadir, json_t *request, double timeout,
                            size_t *size_p, char **err);
json_t *tm_control_reply_parse (const char *text, size_t size, char **err);

//  Server side: binds the control ROUTER for DATADIR.  A stale socket
//  file from a dead agent is removed; a live agent's makes this fail
//  ("an agent is already running on DATADIR").
zsock_t *tm_control_bind (const char *datadir, char **err);

//  Reads one request from the bound socket.  Returns the request with
//  *routing_id set (caller destroys both), or NULL for a malformed one
//  (not a JSON object with a string "cmd", or over TM_CONTROL_REQUEST_MAX
//  bytes and not a "run"), which is dropped (and a reply sent saying
//  why, when possible).
json_t *tm_control_recv (zsock_t *server, zframe_t **routing_id);

//  The same for a message received already (zmsg_recv on the server),
//  for a caller that reads some requests its own way first: MSG is
//  taken.
json_t *tm_control_parse (zsock_t *server, zmsg_t **msg_p, zframe_t **routing_id);

//  Sends REPLY (taken: json_decref'ed) to ROUTING_ID (destroyed).
void tm_control_reply (zsock_t *server, zframe_t **routing_id, json_t **reply);

//  Sends SIZE bytes of TEXT, a reply already written as JSON text by
//  the agent itself (it MUST be one valid JSON object: the CLI parses
//  it), to ROUTING_ID (destroyed).  For large replies whose parts are
//  text already (cache-get's values): no tree to build and dump.
void tm_control_reply_text (zsock_t *server, zframe_t **routing_id, const char *text,
                            size_t size);

//  The same for REPLY, a frame of such text (taken): not even a copy.
void tm_control_reply_frame (zsock_t *server, zframe_t **routing_id, zframe_t **reply);

//  Builds {"ok": false, "error": MESSAGE}.
json_t *tm_control_error (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

#endif
