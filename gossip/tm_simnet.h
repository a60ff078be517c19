/*  tm_simnet.h - a simulated network and clock for tm_swim.

    N nodes, each a tm_swim, on a network made of one binary heap of
    events in simulated time: packet deliveries (latency + jitter, random
    loss), transport hints, scheduled stops.  A second heap holds each
    node's next tm_swim deadline, so a step costs O(log N) and idle nodes
    cost nothing.  Everything random (ids, loss, jitter, each tm_swim's
    PRNG) derives from one seed: a run is deterministic.

    Node i listens at address "n<i>:7946" and is named "n<i>" unless told
    otherwise.  Packets are routed by address, like a real network: a node
    restarted at the same address gets what was in flight to the old one.

    Faults:
      kill      the node stops silently (SIGKILL); packets to it are
                dropped; optionally every running node gets a transport hint
                (tm_swim_peer_unreachable) hint_delay later, as the ZeroMQ
                socket monitor of a real agent would report the dropped TCP
                connection.
      pause     the node stops ticking and receiving (SIGSTOP); packets to
                it are held in arrival order, up to pause_buffer of them
                (later ones are dropped, like a full socket buffer), and are
                delivered on resume before its first tick.  Its clock jumps:
                timers that expired meanwhile fire at once on resume.
      leave     tm_swim_leave now, stop silently `linger` seconds later.
      partition nodes carry a group number; packets between different
                groups are dropped (when sent and when delivered).
      filter    a callback that may drop any packet (tests use it to cut
                one link, or all traffic to one node).
      slow      a node starved of CPU: every packet to or from it takes an
                extra delay drawn from an exponential distribution (mean
                given, capped at 10 times the mean), as a process that gets
                scheduled late reads and answers late.
*/
#ifndef TM_SIMNET_H_INCLUDED
#define TM_SIMNET_H_INCLUDED

#include "tm_swim.h"

typedef struct _tm_simnet_t tm_simnet_t;

typedef enum {
    TM_SIMNET_RUNNING = 0,
    TM_SIMNET_PAUSED,
    TM_SIMNET_STOPPED
} tm_simnet_status_t;

typedef struct {
    double latency;             //  s, fixed one-way delay
    double jitter;              //  s, extra delay uniform in [0, jitter)
    double loss;                //  Probability that a packet is lost
    uint64_t seed;              //  Seed of everything random
    size_t pause_buffer;        //  Packets held for a paused node
    double hint_delay;          //  s from a kill to the transport hints
} tm_simnet_config_t;

//  Return false to drop the packet from node FROM to node TO.
typedef bool (tm_simnet_filter_fn) (void *arg, size_t from, size_t to,
                                    const uint8_t *data, size_t size);
//  A condition for tm_simnet_run_until.
typedef bool (tm_simnet_pred_fn) (tm_simnet_t *net, void *arg);
//  Events of every node's tm_swim, tagged with the node.
typedef void (tm_simnet_event_fn) (void *arg, size_t node, const tm_swim_event_t *event);

typedef struct {
    uint64_t sent;              //  Packets handed to the network
    uint64_t delivered;         //  Packets given to tm_swim_receive
    uint64_t bytes;             //  Bytes delivered
    uint64_t lost;              //  Dropped by random loss
    uint64_t partitioned;       //  Dropped by a partition
    uint64_t filtered;          //  Dropped by the filter
    uint64_t to_stopped;        //  Sent to a stopped node
    uint64_t pause_dropped;     //  Held buffer of a paused node full
    uint64_t unroutable;        //  Address not in the network
    uint64_t ticks;             //  tm_swim_tick calls
} tm_simnet_stats_t;

//  Defaults: 1 ms latency, no jitter, no loss, seed 1, 1000 packets held
//  per paused node, hints 1 ms after a kill.
void
    tm_simnet_config_default (tm_simnet_config_t *config);

tm_simnet_t *
    tm_simnet_new (const tm_simnet_config_t *config);

//  Destroys every node and every packet in flight.  Idempotent.
void
    tm_simnet_destroy (tm_simnet_t **self_p);

//  Starts a node now, alone (call tm_simnet_join next).  ID NULL draws a
//  random one, NAME NULL means "n<index>".  The swim config is copied;
//  its random_seed, if 0, is drawn from the network's PRNG, and its
//  on_event is replaced (use tm_simnet_set_events).  Returns the node's
//  index, or -1.
int
    tm_simnet_add (tm_simnet_t *self, const tm_swim_config_t *config,
                   const uint8_t *id, const char *name,
                   const void *meta, size_t meta_size);

//  Makes NODE join through SEED's address.
int
    tm_simnet_join (tm_simnet_t *self, size_t node, size_t seed);

//  Stops NODE silently.  With HINT, every running node gets
//  tm_swim_peer_unreachable for it hint_delay later.
int
    tm_simnet_kill (tm_simnet_t *self, size_t node, bool hint);

//  Freezes NODE (SIGSTOP) / thaws it (SIGCONT).
int
    tm_simnet_pause (tm_simnet_t *self, size_t node);
int
    tm_simnet_resume (tm_simnet_t *self, size_t node);

//  Makes NODE leave gracefully, and stops it LINGER seconds later.
int
    tm_simnet_leave (tm_simnet_t *self, size_t node, double linger);

//  Starts a new process at NODE's address: a fresh tm_swim (incarnation
//  0) with ID (NULL: the same id again, as a restarted agent) and NAME
//  (NULL: the same name).  The caller then joins it.
int
    tm_simnet_restart (tm_simnet_t *self, size_t node, const uint8_t *id, const char *name);

//  Partitions: packets between nodes of different groups are dropped.
void
    tm_simnet_set_group (tm_simnet_t *self, size_t node, int group);
//  Puts every node back in group 0.
void
    tm_simnet_heal (tm_simnet_t *self);

void
    tm_simnet_set_loss (tm_simnet_t *self, double loss);
//  Makes NODE slow: packets to and from it take an extra exponential
//  delay of mean MEAN seconds (0: back to normal).
void
    tm_simnet_set_slow (tm_simnet_t *self, size_t node, double mean);
void
    tm_simnet_set_filter (tm_simnet_t *self, tm_simnet_filter_fn *filter, void *arg);
void
    tm_simnet_set_events (tm_simnet_t *self, tm_simnet_event_fn *handler, void *arg);

//  Hands raw bytes to NODE's tm_swim now, as from FROM_ADDRESS.  Returns
//  what tm_swim_receive returned.
int
    tm_simnet_inject (tm_simnet_t *self, size_t node, const char *from_address,
                      const void *data, size_t size);

//  Runs the simulation until simulated time UNTIL.
void
    tm_simnet_run (tm_simnet_t *self, double until);

//  Runs until PRED holds (checked now and every POLL simulated seconds)
//  or until UNTIL.  Returns true if PRED held; the clock then stops at
//  the check that saw it.
bool
    tm_simnet_run_until (tm_simnet_t *self, double until,
                         tm_simnet_pred_fn *pred, void *arg, double poll);

double
    tm_simnet_now (tm_simnet_t *self);
size_t
    tm_simnet_size (tm_simnet_t *self);
//  Node's tm_swim (borrowed; kept after a kill until a restart).
tm_swim_t *
    tm_simnet_swim (tm_simnet_t *self, size_t node);
const char *
    tm_simnet_address (tm_simnet_t *self, size_t node);
const uint8_t *
    tm_simnet_id (tm_simnet_t *self, size_t node);
tm_simnet_status_t
    tm_simnet_status (tm_simnet_t *self, size_t node);
size_t
    tm_simnet_running (tm_simnet_t *self);

//  Number of running nodes (other than the owner of ID) whose table has
//  ID in STATE; a STATE of -1 counts those that have ID at all.
size_t
    tm_simnet_count_seeing (tm_simnet_t *self, const uint8_t *id, int state);

//  True if every running node other than NODE sees NODE in STATE.
bool
    tm_simnet_all_see (tm_simnet_t *self, size_t node, tm_swim_state_t state);

//  True if every running node counts exactly as many alive members as
//  there are running nodes (a cheap test of "everyone sees everyone").
bool
    tm_simnet_converged (tm_simnet_t *self);

void
    tm_simnet_stats (tm_simnet_t *self, tm_simnet_stats_t *stats);

#endif
