/*  tm_gossip.h - the gossip actor: membership over real ZeroMQ sockets.

    The gossip actor is the agent's link to its peers.  It owns:
      - tm_keys (identity, cluster keys, certificates) and tm_envelope
        (every message signed, replays and forgeries dropped and counted);
      - tm_swim, fed with what arrives and drained to peers;
      - a ROUTER bound on the peer port, a CurveZMQ server with the
        cluster's key, where every peer message arrives;
      - one ROUTER connected to every peer address it sends to, a
        CurveZMQ client with this node's key pinning the cluster's server
        key (the same for every member), with one socket monitor whose
        disconnects are hints to tm_swim (tm_swim_peer_unreachable);
      - a zbeacon that announces us and finds members on the LAN.

    Start-up (before the actor signals ready), one of:
      1. a member (keys in DATADIR): rejoin through the peers remembered
         in DATADIR/peers, the token's seeds, and beacons;
      2. a token and no membership: pin the cluster key, then send JOIN
         to the seeds (and to nodes found by beacon) until a member
         answers WELCOME; the agent is a member from then on;
      3. neither: create a new cluster with us as its first member.
    A failure (bad key files, a token of another cluster, the port in
    use) makes zactor_new's caller see config->error.

    Pipe protocol (owner -> actor: command, argument, call id; each
    answered with two frames, the call id and the answer, JSON unless
    noted; tm_gossip_call does all this):
        "MEMBERS"              [ {name, id, address, state, ...}, ... ]
        "TOKEN" s:grace_ms     {"token": "tm1-..."} or {"error": ...}
                               grace_ms > 0 first issues a new join secret;
                               older ones admit for grace_ms more
        "REMOVE" s:name        {"removed": name} or {"error": ...}
        "STATS"                {counters}
        "SERVERKEY"            {"secret": z85} the cluster's CurveZMQ server
                               secret key, once a member (for the agent's
                               client port), or {"error": ...}
        "STATUS"               {"state": "joining"|"member"|"left", ...}
        "LEAVE"                "LEFT" once peers were told (<= 1 s)
        "$TERM"                (no answer) stop at once

    Unsolicited (actor -> owner), after which the actor has ended:
        "FAILED" s:reason      joining did not succeed within join_timeout

    Work socket.  With config.work_endpoint set, the actor binds a PAIR
    there for the agent's work pool (node/tm_workpool.c), which talks to
    other members through it; every payload travels as a signed WORK
    envelope, so its receiver knows its author for certain:
        pool -> gossip
            "HELLO"                     send the member table, then changes
            "SEND" s:id f:payload       to the member of hex ID (ourselves
                                        included: it comes straight back as
                                        RECV); if ID is unknown, dead, left
                                        or revoked, not sent, counted
                                        (work_dropped) and given back
                                        as UNSENT
            "LOAD" s:free s:queue       our free slots and queued tasks, for
                                        our metadata (sent at most every
                                        0.5 s: each change is a signed fact)
        gossip -> pool
            "MEMBER" s:id s:name s:state s:address s:meta
                                        one per member after HELLO, then on
                                        every change (state alive, suspect,
                                        dead, left; meta is its JSON)
            "SYNCED"                    the snapshot after HELLO is complete
            "RECV" s:id f:payload       a WORK payload from member ID
            "UNSENT" s:id f:payload     a SEND we did not send: the pool
                                        may have sent it before it heard
                                        (from us) that ID died
            "SELF" s:id                 our own hex id, first in every
                                        snapshot (before the MEMBER lines)
    A member's hex id is the hex of its node Ed25519 public key.

    Cache socket.  With config.cache_endpoint set, the actor binds a
    second PAIR there for the cache actor (dht-cache/tm_dht.c), with the
    same protocol as the work socket but without LOAD, carrying CACHE
    envelopes.  One difference: a member whose key is revoked is reported
    (at once, and in every later MEMBER line) with state "revoked", so
    that the cache can refuse what it signed.  Its drops are counted as
    cache_dropped.
*/
#ifndef TM_GOSSIP_H_INCLUDED
#define TM_GOSSIP_H_INCLUDED

#include "tm_common.h"
#include "tm_swim.h"

#define TM_GOSSIP_DEFAULT_PORT 9950     //  TCP peer port and UDP beacon port
//  ZAP domain of an agent's client port (remote `testmesh run --node`):
//  the gossip actor's ZAP handler admits there only the CurveZMQ keys
//  derived from a join secret that still admits (tm_keys_client_curve)
#define TM_GOSSIP_CLIENT_DOMAIN "testmesh-client"

typedef struct {
    const char *datadir;        //  Data directory (keys, peers)
    const char *name;           //  Node name, [A-Za-z0-9._-]{1,64}
    const char *bind;           //  "host:port" to bind; port 0 = any free
    const char *advertise;      //  "host:port" peers use; NULL = derived
    const char *token;          //  Join token, or NULL
    int slots;                  //  Test slots offered (gossiped metadata)
    char **labels;              //  NULL-terminated "k=v" (gossiped metadata)
    bool beacon;                //  Announce and listen on the LAN
    int beacon_port;            //  UDP port of the beacon
    double beacon_interval;     //  Seconds between beacons
    double join_timeout;        //  Seconds to find a member that admits us
    tm_swim_config_t swim;      //  Protocol timing (lan or fast profile)
    const char *work_endpoint;  //  inproc endpoint for the work socket, or NULL
    const char *cache_endpoint; //  inproc endpoint for the cache socket, or NULL
    char *error;                //  OUT: why start-up failed (caller frees)
    char *bound;                //  OUT: the advertised "host:port" (caller frees)
} tm_gossip_config_t;

//  The actor function: zactor_new (tm_gossip_actor, &config).  On
//  failure the actor ends before signalling success; zactor_new still
//  returns, and config.error says why (check it, then destroy).
void tm_gossip_actor (zsock_t *pipe, void *args);

//  Sends COMMAND (and an optional ARG) to a gossip actor and returns its
//  answer (caller frees), or NULL if it did not answer in TIMEOUT s.  If
//  the actor reported FAILED instead, returns "FAILED reason".
char *tm_gossip_call (zactor_t *gossip, const char *command, const char *arg,
                      double timeout);

#endif
