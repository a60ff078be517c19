/*  tm_listing.h - what a run lists, listed where the targets are.

    A listing is the part of `testmesh run`'s command line that decides
    the task list: the targets as given, --kind, --filter, --exclude and
    --input.  tm_listing_run turns it into tasks: every target through
    tm_adapter, unique ids, the filters, the inputs.  Who calls it:

    - the CLI, for a local run and a run submitted to its local agent
      (the targets are its own files; the result cache hashes them);
    - the origin agent, for `run --node` from a machine that is not a
      member: the CLI sends the listing ({"cmd":"list"}, docs/cli.md,
      "Submitting to an agent"), the agent's listing actor lists it in a
      thread of its own and answers with the tasks, and the CLI then
      submits them as any other run.  Relative paths are the agent's:
      taken from its working directory.

    Wire form (tm_listing_encode, tm_listing_decode; one JSON frame):

        CLI -> agent
            {"cmd":"list", "targets":[S, ...], "kind":KIND,
             "filters":[S, ...], "excludes":[S, ...], "inputs":[S, ...],
             "heartbeats":true}
            KIND as tm_kind_name ("auto" detects); every array but
            targets may be absent; unknown fields are ignored.
            "heartbeats":true (tm_submit_list sends it) promises the
            two below; the agent then cancels the listing, killing the
            target it runs, when they stop.  Without it (a CLI older
            than them) the listing runs to its end.
            {"cmd":"heartbeat"}           every TM_SUBMIT_HEARTBEAT s
                                          while the CLI waits; silence
                                          for TM_SUBMIT_CLI_SILENCE s
                                          cancels every listing that
                                          connection asked for
            {"cmd":"cancel"}              Ctrl-C: cancels them at once
                                          (answered only if there is
                                          none: "no listing to cancel")
            Neither names a run: an agent that does not know them
            takes the heartbeat for a run's and drops it, and answers
            the cancel "no such run ''"; the CLI has gone by then.
        agent -> CLI
            {"event":"heartbeat"}         every TM_SUBMIT_AGENT_HEARTBEAT
                                          s at least, while it lists
            {"event":"listed","size":N}   just before the answer: its
                                          size in bytes (so that a CLI on
                                          a slow link waits for it)
            {"ok":true, "tasks":[TASK, ...]}
                                          the answer: TASK as tm_codec,
                                          task I with "index" I
            {"ok":false, "error":"one line"}
                                          the listing failed (the same
                                          line a local run prints), or the
                                          request was refused

    The bounds below are checked by tm_listing_decode (the agent's end)
    and tm_listing_answer_decode (the CLI's end): what comes from the
    network gets a one-line error, never an assert.
*/
#ifndef TM_LISTING_H_INCLUDED
#define TM_LISTING_H_INCLUDED

#include "tm_task.h"
#include <jansson.h>

#define TM_LISTING_ARRAY_MAX    1024    //  Targets, filters, excludes, inputs
#define TM_LISTING_STRING_MAX   4096    //  Bytes in one of them (PATH_MAX)
#define TM_LISTING_JOBS         2       //  Listings the actor runs at once
#define TM_LISTING_QUEUE        32      //  ... and keeps waiting; more are refused

typedef struct _tm_listing_t tm_listing_t;

//  Creates a listing of TARGETS (at least one) with the given KIND and
//  the FILTERS, EXCLUDES and INPUTS (each may be NULL); every array is
//  NULL-terminated and copied.
tm_listing_t *tm_listing_new (char *const *targets, tm_kind_t kind, char *const *filters,
                              char *const *excludes, char *const *inputs);
void tm_listing_destroy (tm_listing_t **self_p);

//  Lists every target relative to our working directory: one task list,
//  ids unique, --filter and --exclude applied, each --input made
//  absolute (it must exist) and added to every task.  Returns the list
//  (caller destroys; indexes are positions), or NULL with *err set to
//  the one line `testmesh run` prints after "testmesh: ".  May run the
//  targets' binaries (tm_adapter_discover): seconds, in the caller's
//  thread.  Thread-safe (manifests are parsed one at a time).
tm_tasklist_t *tm_listing_run (tm_listing_t *self, char **err);

//  The {"cmd":"list", ...} request (caller json_decref's).
json_t *tm_listing_encode (tm_listing_t *self);

//  Reads a "list" request from the network.  Returns the listing, or
//  NULL with *err set to one line naming what is wrong.
tm_listing_t *tm_listing_decode (json_t *request, char **err);

//  The answer to a list request as JSON text, NUL-terminated (caller
//  frees; *SIZE_P bytes): {"ok":true,"tasks":[...]} for TASKS, built one
//  task at a time; if a task cannot be encoded (not UTF-8) or the text
//  would pass TM_CONTROL_MAX, an {"ok":false,...} saying so instead.
char *tm_listing_answer_text (tm_tasklist_t *tasks, size_t *size_p);

//  Reads an answer's tasks (ANSWER is an {"ok":true} object from the
//  network, borrowed).  Returns the list (caller destroys), or NULL with
//  *err: "tasks" missing or not an array, a task tm_codec refuses, an
//  index that is not its position, an id that comes twice.
tm_tasklist_t *tm_listing_answer_decode (json_t *answer, char **err);

//  The listing actor, for an agent: lists requests in threads of its
//  own, at most TM_LISTING_JOBS at once, so that its owner's loop never
//  waits for a target's binary.  zactor_new (tm_listing_actor, NULL).
//  One per process: it turns off tm_proc_run's process-wide orphan
//  sweep (tm_proc_set_run_sweep), which would kill the daemons of tests
//  running beside a listing.  Each listing thread has a cancel
//  descriptor of its own (tm_proc_set_cancel_fd is per thread).
//
//      owner -> actor
//          "LIST"   s:id p:listing     list it; the actor takes the
//                                      tm_listing_t
//          "CANCEL" s:id p:NULL        its CLI is gone: a listing still
//                                      waiting is answered at once; one
//                                      under way is cut short (its
//                                      target killed) and answered when
//                                      its thread ends; both with the
//                                      error "the listing was
//                                      cancelled"; an id already
//                                      answered is ignored
//          "$TERM"                     stop: listings under way are
//                                      cut short, and not answered
//      actor -> owner
//          "ANSWER" s:id p:text        exactly one per LIST, cancelled
//                                      or not (until $TERM), in any
//                                      order: the reply to send as is,
//                                      JSON text (NUL-terminated; the
//                                      owner frees it), an {"ok":true}
//                                      answer or an {"ok":false} error
//                                      (including "busy": more than
//                                      TM_LISTING_QUEUE waiting, and
//                                      one that could not be made
//                                      cancellable: no eventfd)
void tm_listing_actor (zsock_t *pipe, void *args);

#endif
