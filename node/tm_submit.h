/*  tm_submit.h - the submit actor: a run handed to the local agent.

    When an agent runs on the data directory, `testmesh run` does not
    run the suite itself: it submits the task list to that agent, which
    spreads it over its cluster, and relays the results to the console.
    This actor is the CLI's end of that.  Toward its owner it speaks the
    scheduler's pipe protocol (tm_scheduler.h), so the owner's event
    loop is the same whichever runs the suite, plus one message for a
    run that ends without its results (FAILED).

    Pipe protocol (frames as for zsock_send):

        owner -> submit
            "CANCEL"                    ask the agent to stop the run:
                                        nothing new starts, running
                                        tasks are killed, the rest
                                        SKIPPED (results still follow)
            "$TERM"                     stop at once; a run still going
                                        is cancelled at the agent

        submit -> owner
            "STARTED"  p:task           a task was placed on a member;
                                        borrowed from config.tasks
            "RESULT"   p:result         a task's final result; the owner
                                        owns the tm_result_t
            "FINISHED"                  every task has its one RESULT
            "FAILED"   p:reason         the run is over without every
                                        result (the agent died, refused
                                        the run, or broke the protocol);
                                        the owner frees the char *, a
                                        one-line reason

    The run starts when the actor does (there is no RUN message: the
    task list comes in the config).  After FINISHED or FAILED nothing
    more is sent.  Invariant: each task gets at most one RESULT, and
    FINISHED only once every task has had its RESULT; a run that cannot
    keep that ends with FAILED instead.

    Wire protocol with the agent (docs/cli.md, "Submitting to an
    agent"): a DEALER connected to the control socket of the data
    directory (tm_control_endpoint), or with --node to a member's
    client port, one JSON object per frame.  With --node the task list
    is the agent's own listing (tm_submit_list, tm_listing.h), fetched
    on a connection of its own before the run starts.

        CLI -> agent
            {"cmd":"run","retries":N,"fail_fast":B,"timeout":SECS,
             "output_limit":BYTES,"tasks":[TASK,...]}
                    the whole run in one frame; TASK as
                    tm_codec_task_encode, in task-list order (a task's
                    "index" is its position in the list); at most
                    TM_CONTROL_MAX bytes
            {"cmd":"heartbeat","run":"RUNID"}
                    every TM_SUBMIT_HEARTBEAT s from "accepted" until
                    the run is over; the agent cancels a run whose CLI
                    is silent for TM_SUBMIT_CLI_SILENCE s
            {"cmd":"cancel","run":"RUNID"}
                    once, on CANCEL (or $TERM) from the owner

        agent -> CLI
            {"event":"accepted","run":"RUNID"}      first, once
            {"event":"started","index":I,"member":"NAME"}
            {"event":"result","result":RESULT}      RESULT as
                                                    tm_codec_result_encode
            {"event":"heartbeat"}                   at least every
                                                    TM_SUBMIT_AGENT_HEARTBEAT s
            {"event":"finished"}                    last: every task has
                                                    had its result
            {"ok":false,"error":"one line"}         refused or ended; the
                                                    run is over

    What the CLI does with what the agent sends (it is untrusted input,
    and never asserted on):
    - No message at all for TM_SUBMIT_SILENCE s (more before "accepted",
      see TM_SUBMIT_ACCEPT_RATE): the agent is dead, FAILED.
    - A result that tm_codec refuses is dropped and counted (logged).
    - A result for an index the run does not have, a second result for
      a task, or a result whose id is not its task's: FAILED (an agent
      bug; the run's results can no longer be trusted to be complete).
    - "finished" while a task has no result: FAILED, with the count.
    - A "started" for an unknown index, a frame that is not a JSON
      object, an unknown event, or an event before "accepted": dropped.
    - Messages over the size a result can take at the run's
      output_limit are refused by ZeroMQ (ZMQ_MAXMSGSIZE), which drops
      the connection: the agent then falls silent and the run FAILED.
*/
#ifndef TM_SUBMIT_H_INCLUDED
#define TM_SUBMIT_H_INCLUDED

#include "tm_task.h"
#include "tm_result.h"
#include "tm_listing.h"

#define TM_SUBMIT_HEARTBEAT        0.5  //  Seconds between the CLI's heartbeats
#define TM_SUBMIT_CLI_SILENCE      3.0  //  Agent cancels a run or listing whose CLI is silent this long
#define TM_SUBMIT_AGENT_HEARTBEAT  1.0  //  Agent sends something at least this often
#define TM_SUBMIT_SILENCE          3.0  //  CLI takes an agent silent this long for dead
//  Before "accepted" the agent has the run request to read and parse:
//  the CLI waits TM_SUBMIT_SILENCE plus one second per this many bytes
//  of request (64 MiB, the most there can be, gets 11 s).
#define TM_SUBMIT_ACCEPT_RATE      (8.0 * 1024 * 1024)

typedef struct {
    const char *datadir;        //  Data directory of the agent (copied)
    const char *node;           //  Or "HOST:PORT" of a member's client port
                                //  (--node), with the three keys below (z85;
                                //  copied): the cluster's server key and our
                                //  client keys, derived from the token
    const char *server_key;
    const char *client_public;
    const char *client_secret;
    tm_tasklist_t *tasks;       //  The run, borrowed: must outlive FINISHED
                                //  or FAILED; each task's index is its position
    int retries;                //  Extra attempts for a failing test
    bool fail_fast;             //  First final failure cancels the run
    double default_timeout;     //  Seconds for tasks without one; 0 = none
    size_t output_limit;        //  Bytes kept per stream
} tm_submit_config_t;

//  The actor function: zactor_new (tm_submit_actor, &config).  The
//  config is copied before the actor signals ready; the run then starts.
void tm_submit_actor (zsock_t *pipe, void *args);

//  Has the agent of CONFIG (datadir, or node and its keys; the other
//  fields are not used) list LISTING where it runs (tm_listing.h: the
//  "list" request), for `run --node`, whose targets are the member's
//  files.  Waits in the caller's thread while the agent sends anything
//  (it heartbeats while it lists), and gives up after TM_SUBMIT_SILENCE
//  s of silence (more once it announced a large answer), or when
//  CANCEL_FD (if >= 0: the CLI's signalfd) becomes readable.  Meanwhile
//  it sends {"cmd":"heartbeat"} every TM_SUBMIT_HEARTBEAT s, and on
//  CANCEL_FD {"cmd":"cancel"}, so that the agent cancels the listing
//  when we stop or go (the request says "heartbeats":true).  Returns
//  the tasks (caller destroys; each index its position), or NULL with
//  *err set to one line: the agent's (a listing error is the very line
//  a local run prints), or why there is no answer.  The answer is
//  checked as tm_listing_answer_decode says.
tm_tasklist_t *tm_submit_list (const tm_submit_config_t *config, tm_listing_t *listing,
                               int cancel_fd, char **err);

#endif
