/*  tm_simnet.c - a simulated network and clock for tm_swim.

    Two binary heaps drive the simulation:
      events   packet deliveries, transport hints and scheduled stops,
               ordered by time, then by a sequence number so that ties are
               broken the same way on every run;
      wakes    one entry per running node at its tm_swim_next_deadline,
               an indexed heap so a node's entry moves in O(log N).
    Each step takes whichever comes first.  After every call into a node
    (receive, tick, join, hint, ...) its outbox is drained onto the event
    heap and its wake entry is updated.

    Invariants (checked in debug paths by s_invariants_hold):
      1. A node is in the wake heap exactly when it is RUNNING, and
         wakes [node->heap_pos] == node.
      2. The wake heap and the event heap are heaps.
      3. Only a PAUSED node holds packets; it holds at most pause_buffer.
*/
#include "tm_simnet.h"
#include "tm_common.h"
#include <math.h>

#define S_NONE      UINT32_MAX
#define S_PORT      7946

enum { S_EV_PACKET, S_EV_HINT, S_EV_STOP };

//  A packet held for a paused node
typedef struct _s_held_t {
    struct _s_held_t *next;         //  Next in arrival order
    uint32_t src;                   //  Sender node
    uint8_t *data;                  //  Packet
    size_t size;                    //  Bytes
} s_held_t;

typedef struct {
    tm_simnet_t *net;               //  Back pointer for the event trampoline
    size_t index;                   //  Our index
    tm_swim_t *swim;                //  The node's state machine
    tm_simnet_status_t status;      //  Running, paused, stopped
    int group;                      //  Partition group
    double slow;                    //  Mean extra delay of its packets, s
    uint32_t heap_pos;              //  Position in the wake heap, or S_NONE
    double wake;                    //  When tm_swim wants a tick
    s_held_t *held_head;            //  Packets held while paused
    s_held_t *held_tail;            //  Newest held packet
    size_t held_count;              //  Packets held
    tm_swim_config_t config;        //  Config the node runs with
    uint8_t id [TM_SWIM_ID_SIZE];   //  Current id
    char name [TM_SWIM_NAME_MAX + 1];  //  Current name
    char address [32];              //  "n<i>:7946"
    uint8_t *meta;                  //  Metadata given at add
    size_t meta_size;               //  Its size
} s_node_t;

typedef struct {
    double at;                      //  When it happens
    uint64_t seq;                   //  Tie-breaker: order of scheduling
    uint32_t kind;                  //  S_EV_*
    uint32_t src;                   //  Sender / killed node
    uint32_t dst;                   //  Receiver
    uint32_t size;                  //  Bytes of data
    uint8_t *data;                  //  Packet, or the killed id for a hint
} s_event_t;

struct _tm_simnet_t {
    tm_simnet_config_t config;      //  Network model
    double now;                     //  Simulated time
    uint64_t rng;                   //  splitmix64 state
    s_node_t **nodes;               //  Nodes by index
    size_t count;                   //  Nodes
    size_t capacity;                //  Room in nodes
    uint32_t *wakes;                //  Wake heap of node indices
    size_t wake_count;              //  Entries in it
    s_event_t *events;              //  Event heap
    size_t event_count;             //  Entries in it
    size_t event_cap;               //  Room in it
    uint64_t event_seq;             //  Next sequence number
    tm_simnet_filter_fn *filter;    //  Packet filter, or NULL
    void *filter_arg;               //  Its argument
    tm_simnet_event_fn *on_event;   //  Event handler, or NULL
    void *event_arg;                //  Its argument
    tm_simnet_stats_t stats;        //  Counters
};

static bool s_invariants_hold (tm_simnet_t *self);

static uint64_t
s_rand (tm_simnet_t *self)
{
    uint64_t z = (self->rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double
s_rand_unit (tm_simnet_t *self)
{
    return (s_rand (self) >> 11) * (1.0 / 9007199254740992.0);
}

//  --------------------------------------------------------------------
//  Event heap

static bool
s_event_before (const s_event_t *a, const s_event_t *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void
s_event_push (tm_simnet_t *self, double at, uint32_t kind, uint32_t src, uint32_t dst,
              uint8_t *data, size_t size)
{
    if (self->event_count == self->event_cap) {
        self->event_cap = self->event_cap? self->event_cap * 2: 1024;
        self->events = (s_event_t *) realloc (self->events, self->event_cap * sizeof (s_event_t));
        assert (self->events);
    }
    s_event_t event = { at, self->event_seq++, kind, src, dst, (uint32_t) size, data };
    size_t i = self->event_count++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!s_event_before (&event, &self->events [parent]))
            break;
        self->events [i] = self->events [parent];
        i = parent;
    }
    self->events [i] = event;
}

static s_event_t
s_event_pop (tm_simnet_t *self)
{
    assert (self->event_count);
    s_event_t top = self->events [0];
    s_event_t last = self->events [--self->event_count];
    size_t i = 0;
    size_t n = self->event_count;
    while (true) {
        size_t child = 2 * i + 1;
        if (child >= n)
            break;
        if (child + 1 < n && s_event_before (&self->events [child + 1], &self->events [child]))
            child++;
        if (!s_event_before (&self->events [child], &last))
            break;
        self->events [i] = self->events [child];
        i = child;
    }
    if (n)
        self->events [i] = last;
    return top;
}

//  --------------------------------------------------------------------
//  Wake heap (indexed)

static bool
s_wake_before (tm_simnet_t *self, uint32_t a, uint32_t b)
{
    double wa = self->nodes [a]->wake, wb = self->nodes [b]->wake;
    return wa < wb || (wa == wb && a < b);
}

static void
s_wake_set (tm_simnet_t *self, size_t pos, uint32_t node)
{
    self->wakes [pos] = node;
    self->nodes [node]->heap_pos = (uint32_t) pos;
}

static void
s_wake_up (tm_simnet_t *self, size_t pos)
{
    uint32_t node = self->wakes [pos];
    while (pos > 0) {
        size_t parent = (pos - 1) / 2;
        if (!s_wake_before (self, node, self->wakes [parent]))
            break;
        s_wake_set (self, pos, self->wakes [parent]);
        pos = parent;
    }
    s_wake_set (self, pos, node);
}

static void
s_wake_down (tm_simnet_t *self, size_t pos)
{
    uint32_t node = self->wakes [pos];
    size_t n = self->wake_count;
    while (true) {
        size_t child = 2 * pos + 1;
        if (child >= n)
            break;
        if (child + 1 < n && s_wake_before (self, self->wakes [child + 1], self->wakes [child]))
            child++;
        if (!s_wake_before (self, self->wakes [child], node))
            break;
        s_wake_set (self, pos, self->wakes [child]);
        pos = child;
    }
    s_wake_set (self, pos, node);
}

static void
s_wake_remove (tm_simnet_t *self, s_node_t *node)
{
    if (node->heap_pos == S_NONE)
        return;
    size_t pos = node->heap_pos;
    node->heap_pos = S_NONE;
    uint32_t last = self->wakes [--self->wake_count];
    if (pos < self->wake_count) {
        s_wake_set (self, pos, last);
        s_wake_up (self, pos);
        s_wake_down (self, self->nodes [last]->heap_pos);
    }
}

//  Sets NODE's wake time to its tm_swim deadline (not before AFTER).
static void
s_reschedule (tm_simnet_t *self, s_node_t *node, double after)
{
    if (node->status != TM_SIMNET_RUNNING) {
        s_wake_remove (self, node);
        return;
    }
    double wake = tm_swim_next_deadline (node->swim);
    if (wake < after)
        wake = after;
    node->wake = wake;
    if (node->heap_pos == S_NONE) {
        size_t pos = self->wake_count++;
        s_wake_set (self, pos, (uint32_t) node->index);
        s_wake_up (self, pos);
    }
    else {
        s_wake_up (self, node->heap_pos);
        s_wake_down (self, node->heap_pos);
    }
}

//  --------------------------------------------------------------------
//  Routing

//  Node index for "n<i>:7946", or S_NONE.
static uint32_t
s_route (tm_simnet_t *self, const char *address)
{
    if (address [0] != 'n')
        return S_NONE;
    char *end;
    unsigned long index = strtoul (address + 1, &end, 10);
    if (end == address + 1 || *end != ':' || atoi (end + 1) != S_PORT || index >= self->count)
        return S_NONE;
    return (uint32_t) index;
}

//  Moves NODE's outbox onto the network.
static void
s_drain (tm_simnet_t *self, s_node_t *node)
{
    tm_swim_packet_t packet;
    while (tm_swim_pop_outgoing (node->swim, &packet)) {
        self->stats.sent++;
        uint32_t dst = s_route (self, packet.address);
        if (dst == S_NONE) {
            self->stats.unroutable++;
            free (packet.data);
            continue;
        }
        if (self->nodes [dst]->group != node->group) {
            self->stats.partitioned++;
            free (packet.data);
            continue;
        }
        if (self->config.loss > 0 && s_rand_unit (self) < self->config.loss) {
            self->stats.lost++;
            free (packet.data);
            continue;
        }
        if (self->filter
        && !self->filter (self->filter_arg, node->index, dst, packet.data, packet.size)) {
            self->stats.filtered++;
            free (packet.data);
            continue;
        }
        double delay = self->config.latency;
        if (self->config.jitter > 0)
            delay += self->config.jitter * s_rand_unit (self);
        double slow = node->slow + self->nodes [dst]->slow;
        if (slow > 0)
            delay += fmin (10 * slow, -slow * log (1 - s_rand_unit (self)));
        s_event_push (self, self->now + delay, S_EV_PACKET, (uint32_t) node->index, dst,
                      packet.data, packet.size);
    }
}

static void
s_receive (tm_simnet_t *self, s_node_t *node, uint32_t src, uint8_t *data, size_t size)
{
    self->stats.delivered++;
    self->stats.bytes += size;
    tm_swim_receive (node->swim, self->nodes [src]->address, data, size, self->now);
    free (data);
    s_drain (self, node);
}

static void
s_deliver (tm_simnet_t *self, s_event_t *event)
{
    s_node_t *node = self->nodes [event->dst];
    if (node->status == TM_SIMNET_STOPPED) {
        self->stats.to_stopped++;
        free (event->data);
        return;
    }
    if (node->group != self->nodes [event->src]->group) {
        self->stats.partitioned++;
        free (event->data);
        return;
    }
    if (node->status == TM_SIMNET_PAUSED) {
        if (node->held_count >= self->config.pause_buffer) {
            self->stats.pause_dropped++;
            free (event->data);
            return;
        }
        s_held_t *held = (s_held_t *) calloc (1, sizeof (s_held_t));
        assert (held);
        held->src = event->src;
        held->data = event->data;
        held->size = event->size;
        if (node->held_tail)
            node->held_tail->next = held;
        else
            node->held_head = held;
        node->held_tail = held;
        node->held_count++;
        return;
    }
    s_receive (self, node, event->src, event->data, event->size);
    s_reschedule (self, node, self->now);
}

static void
s_drop_held (s_node_t *node)
{
    while (node->held_head) {
        s_held_t *next = node->held_head->next;
        free (node->held_head->data);
        free (node->held_head);
        node->held_head = next;
    }
    node->held_tail = NULL;
    node->held_count = 0;
}

static void
s_on_swim_event (void *arg, const tm_swim_event_t *event)
{
    s_node_t *node = (s_node_t *) arg;
    tm_simnet_t *self = node->net;
    if (self->on_event)
        self->on_event (self->event_arg, node->index, event);
}

static int
s_start (tm_simnet_t *self, s_node_t *node)
{
    tm_swim_config_t config = node->config;
    config.on_event = s_on_swim_event;
    config.event_arg = node;
    node->swim = tm_swim_new (&config, node->id, node->name, node->address,
                              node->meta, node->meta_size, self->now);
    if (!node->swim)
        return -1;
    node->status = TM_SIMNET_RUNNING;
    s_reschedule (self, node, self->now);
    return 0;
}

//  --------------------------------------------------------------------
//  Public API

void
tm_simnet_config_default (tm_simnet_config_t *config)
{
    memset (config, 0, sizeof *config);
    config->latency = 0.001;
    config->seed = 1;
    config->pause_buffer = 1000;
    config->hint_delay = 0.001;
}

tm_simnet_t *
tm_simnet_new (const tm_simnet_config_t *config)
{
    assert (config);
    tm_simnet_t *self = (tm_simnet_t *) calloc (1, sizeof (tm_simnet_t));
    assert (self);
    self->config = *config;
    self->rng = config->seed;
    return self;
}

void
tm_simnet_destroy (tm_simnet_t **self_p)
{
    assert (self_p);
    tm_simnet_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++) {
        s_node_t *node = self->nodes [i];
        tm_swim_destroy (&node->swim);
        s_drop_held (node);
        free (node->meta);
        free (node);
    }
    for (size_t i = 0; i < self->event_count; i++)
        free (self->events [i].data);
    free (self->events);
    free (self->wakes);
    free (self->nodes);
    free (self);
    *self_p = NULL;
}

int
tm_simnet_add (tm_simnet_t *self, const tm_swim_config_t *config, const uint8_t *id,
               const char *name, const void *meta, size_t meta_size)
{
    assert (self && config);
    if (self->count == self->capacity) {
        self->capacity = self->capacity? self->capacity * 2: 64;
        self->nodes = (s_node_t **) realloc (self->nodes, self->capacity * sizeof (void *));
        self->wakes = (uint32_t *) realloc (self->wakes, self->capacity * sizeof (uint32_t));
        assert (self->nodes && self->wakes);
    }
    s_node_t *node = (s_node_t *) calloc (1, sizeof (s_node_t));
    assert (node);
    node->net = self;
    node->index = self->count;
    node->heap_pos = S_NONE;
    node->config = *config;
    if (node->config.random_seed == 0)
        node->config.random_seed = s_rand (self) | 1;
    if (id)
        memcpy (node->id, id, TM_SWIM_ID_SIZE);
    else
        for (int i = 0; i < TM_SWIM_ID_SIZE; i += 8) {
            uint64_t r = s_rand (self);
            memcpy (node->id + i, &r, 8);
        }
    if (name)
        snprintf (node->name, sizeof node->name, "%s", name);
    else
        snprintf (node->name, sizeof node->name, "n%zu", node->index);
    snprintf (node->address, sizeof node->address, "n%zu:%d", node->index, S_PORT);
    if (meta_size) {
        node->meta = (uint8_t *) malloc (meta_size);
        assert (node->meta);
        memcpy (node->meta, meta, meta_size);
        node->meta_size = meta_size;
    }
    self->nodes [self->count++] = node;
    if (s_start (self, node)) {
        self->count--;
        free (node->meta);
        free (node);
        return -1;
    }
    return (int) node->index;
}

int
tm_simnet_join (tm_simnet_t *self, size_t node_index, size_t seed)
{
    assert (self && node_index < self->count && seed < self->count);
    s_node_t *node = self->nodes [node_index];
    if (node->status != TM_SIMNET_RUNNING)
        return -1;
    int rc = tm_swim_join (node->swim, self->nodes [seed]->address, self->now);
    s_drain (self, node);
    s_reschedule (self, node, self->now);
    return rc;
}

int
tm_simnet_kill (tm_simnet_t *self, size_t node_index, bool hint)
{
    assert (self && node_index < self->count);
    s_node_t *node = self->nodes [node_index];
    if (node->status == TM_SIMNET_STOPPED)
        return -1;
    node->status = TM_SIMNET_STOPPED;
    s_wake_remove (self, node);
    s_drop_held (node);
    if (hint)
        for (size_t i = 0; i < self->count; i++) {
            if (i == node_index || self->nodes [i]->status != TM_SIMNET_RUNNING)
                continue;
            uint8_t *id = (uint8_t *) malloc (TM_SWIM_ID_SIZE);
            assert (id);
            memcpy (id, node->id, TM_SWIM_ID_SIZE);
            s_event_push (self, self->now + self->config.hint_delay, S_EV_HINT,
                          (uint32_t) node_index, (uint32_t) i, id, TM_SWIM_ID_SIZE);
        }
    return 0;
}

int
tm_simnet_pause (tm_simnet_t *self, size_t node_index)
{
    assert (self && node_index < self->count);
    s_node_t *node = self->nodes [node_index];
    if (node->status != TM_SIMNET_RUNNING)
        return -1;
    node->status = TM_SIMNET_PAUSED;
    s_wake_remove (self, node);
    return 0;
}

int
tm_simnet_resume (tm_simnet_t *self, size_t node_index)
{
    assert (self && node_index < self->count);
    s_node_t *node = self->nodes [node_index];
    if (node->status != TM_SIMNET_PAUSED)
        return -1;
    node->status = TM_SIMNET_RUNNING;
    //  What arrived while frozen is read before the first timer fires
    while (node->held_head) {
        s_held_t *held = node->held_head;
        node->held_head = held->next;
        node->held_count--;
        s_receive (self, node, held->src, held->data, held->size);
        free (held);
    }
    node->held_tail = NULL;
    s_reschedule (self, node, self->now);
    return 0;
}

int
tm_simnet_leave (tm_simnet_t *self, size_t node_index, double linger)
{
    assert (self && node_index < self->count);
    s_node_t *node = self->nodes [node_index];
    if (node->status != TM_SIMNET_RUNNING || tm_swim_leave (node->swim, self->now))
        return -1;
    s_drain (self, node);
    s_reschedule (self, node, self->now);
    s_event_push (self, self->now + linger, S_EV_STOP, (uint32_t) node_index,
                  (uint32_t) node_index, NULL, 0);
    return 0;
}

int
tm_simnet_restart (tm_simnet_t *self, size_t node_index, const uint8_t *id, const char *name)
{
    assert (self && node_index < self->count);
    s_node_t *node = self->nodes [node_index];
    s_wake_remove (self, node);
    s_drop_held (node);
    tm_swim_destroy (&node->swim);
    if (id)
        memcpy (node->id, id, TM_SWIM_ID_SIZE);
    if (name)
        snprintf (node->name, sizeof node->name, "%s", name);
    node->config.random_seed = s_rand (self) | 1;
    return s_start (self, node);
}

void
tm_simnet_set_group (tm_simnet_t *self, size_t node, int group)
{
    assert (self && node < self->count);
    self->nodes [node]->group = group;
}

void
tm_simnet_heal (tm_simnet_t *self)
{
    assert (self);
    for (size_t i = 0; i < self->count; i++)
        self->nodes [i]->group = 0;
}

void
tm_simnet_set_loss (tm_simnet_t *self, double loss)
{
    assert (self);
    self->config.loss = loss;
}

void
tm_simnet_set_slow (tm_simnet_t *self, size_t node, double mean)
{
    assert (self && node < self->count);
    self->nodes [node]->slow = mean;
}

void
tm_simnet_set_filter (tm_simnet_t *self, tm_simnet_filter_fn *filter, void *arg)
{
    assert (self);
    self->filter = filter;
    self->filter_arg = arg;
}

void
tm_simnet_set_events (tm_simnet_t *self, tm_simnet_event_fn *handler, void *arg)
{
    assert (self);
    self->on_event = handler;
    self->event_arg = arg;
}

int
tm_simnet_inject (tm_simnet_t *self, size_t node_index, const char *from_address,
                  const void *data, size_t size)
{
    assert (self && node_index < self->count);
    s_node_t *node = self->nodes [node_index];
    int rc = tm_swim_receive (node->swim, from_address, data, size, self->now);
    s_drain (self, node);
    s_reschedule (self, node, self->now);
    return rc;
}

//  Runs one step at or before UNTIL.  Returns false if nothing is due by
//  then.
static bool
s_step (tm_simnet_t *self, double until)
{
    double t_event = self->event_count? self->events [0].at: INFINITY;
    double t_wake = self->wake_count? self->nodes [self->wakes [0]]->wake: INFINITY;
    double t = t_event <= t_wake? t_event: t_wake;
    if (t > until)
        return false;
    if (t > self->now)
        self->now = t;
    if (t_event <= t_wake) {
        s_event_t event = s_event_pop (self);
        s_node_t *node = self->nodes [event.dst];
        if (event.kind == S_EV_PACKET)
            s_deliver (self, &event);
        else
        if (event.kind == S_EV_HINT) {
            if (node->status == TM_SIMNET_RUNNING) {
                tm_swim_peer_unreachable (node->swim, event.data, self->now);
                s_drain (self, node);
                s_reschedule (self, node, self->now);
            }
            free (event.data);
        }
        else
        if (event.kind == S_EV_STOP && node->status != TM_SIMNET_STOPPED) {
            node->status = TM_SIMNET_STOPPED;
            s_wake_remove (self, node);
            s_drop_held (node);
        }
    }
    else {
        s_node_t *node = self->nodes [self->wakes [0]];
        self->stats.ticks++;
        tm_swim_tick (node->swim, self->now);
        s_drain (self, node);
        //  A tick handles everything due: never wake twice at one instant
        s_reschedule (self, node, self->now + 1e-6);
    }
    return true;
}

void
tm_simnet_run (tm_simnet_t *self, double until)
{
    assert (self);
    while (s_step (self, until))
        ;
    if (until > self->now)
        self->now = until;
    assert (s_invariants_hold (self));
}

bool
tm_simnet_run_until (tm_simnet_t *self, double until,
                     tm_simnet_pred_fn *pred, void *arg, double poll)
{
    assert (self && pred && poll > 0);
    double next_poll = self->now;
    while (true) {
        if (next_poll > until)
            next_poll = until;
        if (!s_step (self, next_poll)) {
            if (next_poll > self->now)
                self->now = next_poll;
            if (pred (self, arg))
                return true;
            if (self->now >= until)
                return false;
            next_poll = self->now + poll;
        }
    }
}

double
tm_simnet_now (tm_simnet_t *self)
{
    assert (self);
    return self->now;
}

size_t
tm_simnet_size (tm_simnet_t *self)
{
    assert (self);
    return self->count;
}

tm_swim_t *
tm_simnet_swim (tm_simnet_t *self, size_t node)
{
    assert (self && node < self->count);
    return self->nodes [node]->swim;
}

const char *
tm_simnet_address (tm_simnet_t *self, size_t node)
{
    assert (self && node < self->count);
    return self->nodes [node]->address;
}

const uint8_t *
tm_simnet_id (tm_simnet_t *self, size_t node)
{
    assert (self && node < self->count);
    return self->nodes [node]->id;
}

tm_simnet_status_t
tm_simnet_status (tm_simnet_t *self, size_t node)
{
    assert (self && node < self->count);
    return self->nodes [node]->status;
}

size_t
tm_simnet_running (tm_simnet_t *self)
{
    assert (self);
    size_t running = 0;
    for (size_t i = 0; i < self->count; i++)
        running += self->nodes [i]->status == TM_SIMNET_RUNNING;
    return running;
}

size_t
tm_simnet_count_seeing (tm_simnet_t *self, const uint8_t *id, int state)
{
    assert (self && id);
    size_t seeing = 0;
    for (size_t i = 0; i < self->count; i++) {
        s_node_t *node = self->nodes [i];
        if (node->status != TM_SIMNET_RUNNING || memcmp (node->id, id, TM_SWIM_ID_SIZE) == 0)
            continue;
        tm_swim_member_t member;
        if (tm_swim_member (node->swim, id, &member)
        && (state < 0 || (int) member.state == state))
            seeing++;
    }
    return seeing;
}

bool
tm_simnet_all_see (tm_simnet_t *self, size_t node_index, tm_swim_state_t state)
{
    assert (self && node_index < self->count);
    const uint8_t *id = self->nodes [node_index]->id;
    for (size_t i = 0; i < self->count; i++) {
        s_node_t *node = self->nodes [i];
        if (i == node_index || node->status != TM_SIMNET_RUNNING)
            continue;
        tm_swim_member_t member;
        if (!tm_swim_member (node->swim, id, &member) || member.state != state)
            return false;
    }
    return true;
}

bool
tm_simnet_converged (tm_simnet_t *self)
{
    assert (self);
    size_t running = tm_simnet_running (self);
    for (size_t i = 0; i < self->count; i++) {
        s_node_t *node = self->nodes [i];
        if (node->status == TM_SIMNET_RUNNING
        &&  tm_swim_count (node->swim, TM_SWIM_ALIVE) != running)
            return false;
    }
    return true;
}

void
tm_simnet_stats (tm_simnet_t *self, tm_simnet_stats_t *stats)
{
    assert (self && stats);
    *stats = self->stats;
}

static bool
s_invariants_hold (tm_simnet_t *self)
{
    if (self->count > 4096)
        return true;            //  O(N) checks only on small networks
    size_t in_heap = 0;
    for (size_t i = 0; i < self->count; i++) {
        s_node_t *node = self->nodes [i];
        bool running = node->status == TM_SIMNET_RUNNING;
        if (running != (node->heap_pos != S_NONE))                          //  1
            return false;
        if (running) {
            in_heap++;
            if (self->wakes [node->heap_pos] != i)
                return false;
        }
        if ((node->held_count && node->status != TM_SIMNET_PAUSED)          //  3
        ||  node->held_count > self->config.pause_buffer)
            return false;
    }
    if (in_heap != self->wake_count)
        return false;
    for (size_t i = 1; i < self->wake_count; i++)                           //  2
        if (s_wake_before (self, self->wakes [i], self->wakes [(i - 1) / 2]))
            return false;
    for (size_t i = 1; i < self->event_count; i++)
        if (s_event_before (&self->events [i], &self->events [(i - 1) / 2]))
            return false;
    return true;
}
