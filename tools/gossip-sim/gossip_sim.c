/*  gossip_sim.c - large-scale simulation of tm_swim on tm_simnet.

    gossip-sim --nodes N [--loss P] [--latency MS] [--jitter MS] [--seed S]
               [--profile lan|fast] [--runs R] [--seeds K] [--join-window S]
               [--timeout S] [--starve MS] [--starve-time S] [--verbose]

    Each run: N nodes start over the join window (default N/1000 s, at
    least 0.1 s), each joining through one of K seeds; we measure
      converge   time from the last start until every node knows all N
                 members and holds none dead (alive, or suspect: with packet
                 loss some probes fail both directly and through all their
                 relays, and at 10^4 nodes a few members are always being
                 suspected and refuting, so "all N alive on every node at
                 once" never happens; without loss it is the same thing);
      kill       a node stops silently: time until every other node sees it
                 dead (pure probing + suspicion, as for a frozen host);
      kill+hint  another stops, and every node's transport reports the
                 dropped connection (SIGKILL on a LAN): time until all see dead;
      pause      another is frozen (SIGSTOP): time until all see it dead,
      resume     then thawed: time until all see it alive again (it refutes);
      starve     (with --starve) every node is starved of CPU for
                 --starve-time seconds: each packet to or from it takes an
                 extra exponential delay of mean MS (tm_simnet_set_slow);
    and count false 'dead': DEAD events about a node that was running,
    through every phase (the starvation phase is where they would come
    from).
    With R runs (seeds S, S+1, ...) it prints every run, then the medians.

    Exit status: 0, or 1 if a run did not converge or detect in time, or
    saw a false 'dead'; 2 on a usage error.
*/
#include "tm_common.h"
#include "tm_simnet.h"
#include <getopt.h>
#include <malloc.h>
#include <math.h>
#include <sys/resource.h>

typedef struct {
    int nodes;                  //  --nodes
    double loss;                //  --loss (probability)
    double latency;             //  --latency (s)
    double jitter;              //  --jitter (s)
    uint64_t seed;              //  --seed
    bool fast;                  //  --profile fast
    int runs;                   //  --runs
    int seeds;                  //  --seeds
    double join_window;         //  --join-window (s), < 0: default
    double timeout;             //  --timeout (s) per phase
    double starve;              //  --starve (s of mean delay), 0: no phase
    double starve_time;         //  --starve-time (s)
    bool verbose;               //  --verbose
} s_options_t;

typedef struct {
    double converge;            //  s after the last start, or NAN
    double converge_first;      //  s after the first start
    double kill;                //  s, or NAN
    double kill_hint;           //  s, or NAN
    double pause;               //  s, or NAN
    double resume;              //  s, or NAN
    uint64_t false_dead;        //  DEAD events about running nodes
    double packets_per_node_s;  //  Sent packets per node per simulated second
    double wall;                //  s of real time
    double sim;                 //  s of simulated time
} s_result_t;

//  Node index from an id: gossip-sim puts it in the last 4 bytes
static size_t
s_index_of (const uint8_t *id)
{
    uint32_t index;
    memcpy (&index, id + 28, 4);
    return index;
}

typedef struct {
    tm_simnet_t *net;
    uint64_t false_dead;
    bool verbose;
} s_watch_t;

static void
s_on_event (void *arg, size_t node, const tm_swim_event_t *event)
{
    s_watch_t *watch = (s_watch_t *) arg;
    if (event->type != TM_SWIM_EVENT_DEAD)
        return;
    size_t subject = s_index_of (event->member.id);
    if (subject < tm_simnet_size (watch->net)
    &&  tm_simnet_status (watch->net, subject) == TM_SIMNET_RUNNING) {
        watch->false_dead++;
        if (watch->verbose)
            fprintf (stderr, "  false dead at %.3f s: node %zu saw node %zu dead at "
                     "incarnation %llu (its own: %llu)\n", tm_simnet_now (watch->net), node,
                     subject, (unsigned long long) event->member.incarnation,
                     (unsigned long long) tm_swim_incarnation (tm_simnet_swim (watch->net, subject)));
    }
}

static bool
s_converged (tm_simnet_t *net, void *arg)
{
    size_t running = tm_simnet_running (net);
    for (size_t i = 0; i < tm_simnet_size (net); i++) {
        if (tm_simnet_status (net, i) != TM_SIMNET_RUNNING)
            continue;
        tm_swim_t *swim = tm_simnet_swim (net, i);
        if (tm_swim_count (swim, TM_SWIM_ALIVE) + tm_swim_count (swim, TM_SWIM_SUSPECT)
            != running)
            return false;
    }
    return true;
}

typedef struct {
    size_t node;
    tm_swim_state_t state;
} s_target_t;

static bool
s_all_see (tm_simnet_t *net, void *arg)
{
    s_target_t *target = (s_target_t *) arg;
    return tm_simnet_all_see (net, target->node, target->state);
}

//  Waits until every running node sees NODE in STATE.  Returns the time
//  it took, or NAN.
static double
s_wait_for (tm_simnet_t *net, size_t node, tm_swim_state_t state, double timeout, double poll)
{
    double start = tm_simnet_now (net);
    s_target_t target = { node, state };
    if (tm_simnet_run_until (net, start + timeout, s_all_see, &target, poll))
        return tm_simnet_now (net) - start;
    return NAN;
}

//  A random node that is running and not a seed
static size_t
s_victim (tm_simnet_t *net, uint64_t *rng, int seeds)
{
    size_t n = tm_simnet_size (net);
    for (int tries = 0; tries < 1000; tries++) {
        *rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t i = seeds + (size_t) ((*rng >> 33) % (n - seeds));
        if (tm_simnet_status (net, i) == TM_SIMNET_RUNNING)
            return i;
    }
    return SIZE_MAX;
}

static double
s_wall (void)
{
    return tm_now ();
}

//  Heap in use and resident memory, MB
static double
s_heap_mb (void)
{
    struct mallinfo2 info = mallinfo2 ();
    return (info.uordblks + info.hblkhd) / 1e6;
}

static double
s_rss_mb (void)
{
    long pages = 0;
    FILE *file = fopen ("/proc/self/statm", "r");
    if (file) {
        if (fscanf (file, "%*s %ld", &pages) != 1)
            pages = 0;
        fclose (file);
    }
    return pages * (sysconf (_SC_PAGESIZE) / 1e6);
}

static s_result_t
s_run (const s_options_t *options, uint64_t seed)
{
    s_result_t result = { NAN, NAN, NAN, NAN, NAN, NAN, 0, 0, 0, 0 };
    double wall_start = s_wall ();
    tm_simnet_config_t net_config;
    tm_simnet_config_default (&net_config);
    net_config.seed = seed;
    net_config.latency = options->latency;
    net_config.jitter = options->jitter;
    net_config.loss = options->loss;
    tm_simnet_t *net = tm_simnet_new (&net_config);
    s_watch_t watch = { net, 0, options->verbose };
    tm_simnet_set_events (net, s_on_event, &watch);
    tm_swim_config_t config;
    if (options->fast)
        tm_swim_config_fast (&config);
    else
        tm_swim_config_lan (&config);
    double poll = options->nodes > 2000? 0.05: 0.01;
    int seeds = options->seeds < options->nodes? options->seeds: options->nodes;
    double window = options->join_window >= 0? options->join_window
                  : fmax (0.1, options->nodes / 1000.0);

    //  Start the nodes over the join window
    uint64_t rng = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (int i = 0; i < options->nodes; i++) {
        double start = window * i / options->nodes;
        if (start > tm_simnet_now (net))
            tm_simnet_run (net, start);
        uint8_t id [TM_SWIM_ID_SIZE];
        for (int b = 0; b < 28; b += 4) {
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            uint32_t r = (uint32_t) (rng >> 32);
            memcpy (id + b, &r, 4);
        }
        uint32_t index = (uint32_t) i;
        memcpy (id + 28, &index, 4);
        //  No names: the address identifies a node, and 10^8 name index
        //  entries cost 0.7 GB at 10^4 nodes
        if (tm_simnet_add (net, &config, id, "", NULL, 0) != i) {
            fprintf (stderr, "gossip-sim: cannot add node %d\n", i);
            exit (TM_EXIT_ERROR);
        }
        if (i > 0)
            tm_simnet_join (net, i, i < seeds? 0: (size_t) (i % seeds));
    }
    double last_start = tm_simnet_now (net);
    if (tm_simnet_run_until (net, last_start + options->timeout, s_converged, NULL, poll)) {
        result.converge = tm_simnet_now (net) - last_start;
        result.converge_first = tm_simnet_now (net);
    }
    if (options->verbose)
        fprintf (stderr, "  converged at %.2f s (wall %.1f s, heap %.0f MB, rss %.0f MB)\n",
                 tm_simnet_now (net), s_wall () - wall_start, s_heap_mb (), s_rss_mb ());

    //  Silent failure
    size_t victim = s_victim (net, &rng, seeds);
    tm_simnet_kill (net, victim, false);
    result.kill = s_wait_for (net, victim, TM_SWIM_DEAD, options->timeout, poll);
    if (options->verbose)
        fprintf (stderr, "  kill detected in %.2f s (wall %.1f s, heap %.0f MB, rss %.0f MB)\n",
                 result.kill, s_wall () - wall_start, s_heap_mb (), s_rss_mb ());

    //  SIGKILL: the transport sees the connection drop
    victim = s_victim (net, &rng, seeds);
    tm_simnet_kill (net, victim, true);
    result.kill_hint = s_wait_for (net, victim, TM_SWIM_DEAD, options->timeout, poll);
    if (options->verbose)
        fprintf (stderr, "  kill+hint detected in %.2f s (wall %.1f s, heap %.0f MB, rss %.0f MB)\n",
                 result.kill_hint, s_wall () - wall_start, s_heap_mb (), s_rss_mb ());

    //  SIGSTOP, then SIGCONT
    victim = s_victim (net, &rng, seeds);
    tm_simnet_pause (net, victim);
    result.pause = s_wait_for (net, victim, TM_SWIM_DEAD, options->timeout, poll);
    tm_simnet_resume (net, victim);
    result.resume = s_wait_for (net, victim, TM_SWIM_ALIVE, options->timeout, poll);
    if (options->verbose)
        fprintf (stderr, "  pause detected in %.2f s, resume seen in %.2f s (wall %.1f s)\n",
                 result.pause, result.resume, s_wall () - wall_start);

    //  CPU starvation of every node
    if (options->starve > 0) {
        for (int i = 0; i < options->nodes; i++)
            tm_simnet_set_slow (net, i, options->starve);
        tm_simnet_run (net, tm_simnet_now (net) + options->starve_time);
        for (int i = 0; i < options->nodes; i++)
            tm_simnet_set_slow (net, i, 0);
        tm_simnet_run (net, tm_simnet_now (net) + 5);
        if (options->verbose)
            fprintf (stderr, "  starved %.0f s, false dead so far %lu (wall %.1f s)\n",
                     options->starve_time, (unsigned long) watch.false_dead,
                     s_wall () - wall_start);
    }

    tm_simnet_stats_t stats;
    tm_simnet_stats (net, &stats);
    result.sim = tm_simnet_now (net);
    result.packets_per_node_s = stats.sent / (double) options->nodes / result.sim;
    result.false_dead = watch.false_dead;
    tm_simnet_destroy (&net);
    result.wall = s_wall () - wall_start;
    return result;
}

static int
s_compare (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    if (isnan (x))
        return isnan (y)? 0: 1;         //  NaN (timeout) sorts last
    if (isnan (y))
        return -1;
    return x < y? -1: x > y;
}

static double
s_median (double *values, int n)
{
    qsort (values, n, sizeof (double), s_compare);
    if (n % 2)
        return values [n / 2];
    return (values [n / 2 - 1] + values [n / 2]) / 2;
}

static void
s_usage (FILE *out)
{
    fprintf (out,
        "usage: gossip-sim --nodes N [--loss P] [--latency MS] [--jitter MS] [--seed S]\n"
        "                  [--profile lan|fast] [--runs R] [--seeds K] [--join-window S]\n"
        "                  [--timeout S] [--verbose]\n"
        "  --loss P         packet loss probability, 0..1 (default 0)\n"
        "  --latency MS     one-way latency in ms (default 1)\n"
        "  --jitter MS      extra uniform delay in ms (default 0)\n"
        "  --seed S         first run's seed (default 1)\n"
        "  --profile NAME   tm_swim profile: lan (default) or fast\n"
        "  --runs R         runs, seeds S .. S+R-1; medians are printed (default 1)\n"
        "  --seeds K        nodes new members join through (default 3)\n"
        "  --join-window S  nodes start over S seconds (default N/1000, >= 0.1)\n"
        "  --timeout S      give up on a phase after S simulated seconds (default 300)\n"
        "  --starve MS      then starve every node of CPU: packets to and from it\n"
        "                   take an extra exponential delay of mean MS (default: no)\n"
        "  --starve-time S  for S simulated seconds (default 60)\n");
}

int
main (int argc, char *argv [])
{
    s_options_t options = { 0, 0, 0.001, 0, 1, false, 1, 3, -1, 300, 0, 60, false };
    static struct option longs [] = {
        { "nodes", required_argument, 0, 'n' },
        { "loss", required_argument, 0, 'l' },
        { "latency", required_argument, 0, 'L' },
        { "jitter", required_argument, 0, 'j' },
        { "seed", required_argument, 0, 's' },
        { "profile", required_argument, 0, 'p' },
        { "runs", required_argument, 0, 'r' },
        { "seeds", required_argument, 0, 'k' },
        { "join-window", required_argument, 0, 'w' },
        { "timeout", required_argument, 0, 't' },
        { "starve", required_argument, 0, 'S' },
        { "starve-time", required_argument, 0, 'T' },
        { "verbose", no_argument, 0, 'v' },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 }
    };
    int opt;
    while ((opt = getopt_long (argc, argv, "n:l:L:j:s:p:r:k:w:t:S:T:vh", longs, NULL)) != -1) {
        switch (opt) {
            case 'n': options.nodes = atoi (optarg); break;
            case 'l': options.loss = atof (optarg); break;
            case 'L': options.latency = atof (optarg) / 1000; break;
            case 'j': options.jitter = atof (optarg) / 1000; break;
            case 's': options.seed = strtoull (optarg, NULL, 10); break;
            case 'p':
                if (streq (optarg, "fast"))
                    options.fast = true;
                else
                if (!streq (optarg, "lan")) {
                    s_usage (stderr);
                    return TM_EXIT_ERROR;
                }
                break;
            case 'r': options.runs = atoi (optarg); break;
            case 'k': options.seeds = atoi (optarg); break;
            case 'w': options.join_window = atof (optarg); break;
            case 't': options.timeout = atof (optarg); break;
            case 'S': options.starve = atof (optarg) / 1000; break;
            case 'T': options.starve_time = atof (optarg); break;
            case 'v': options.verbose = true; break;
            case 'h': s_usage (stdout); return TM_EXIT_OK;
            default:  s_usage (stderr); return TM_EXIT_ERROR;
        }
    }
    if (options.nodes < 4 || options.nodes > 1000000 || options.loss < 0 || options.loss >= 1
    ||  options.latency < 0 || options.jitter < 0 || options.runs < 1 || options.seeds < 1
    ||  options.timeout <= 0 || options.starve < 0 || options.starve_time <= 0) {
        s_usage (stderr);
        return TM_EXIT_ERROR;
    }
    tm_log_set_level ("error");
    //  Each node's member table grows to N * 80 bytes as it learns the
    //  cluster.  A fixed mmap threshold gives each of those big arrays a
    //  mapping of its own (grown with mremap, returned when freed) instead
    //  of letting glibc's dynamic threshold move them onto the heap, where
    //  outgrown copies fragment it.  Not lower: at 10^4 nodes, arrays of
    //  16 KiB and up per node ran into the kernel's 65,530 mappings.
    mallopt (M_MMAP_THRESHOLD, 128 * 1024);

    printf ("gossip-sim: %d nodes, profile %s, loss %.1f%%, latency %.1f ms, jitter %.1f ms, "
            "%d seed(s), %d run(s)",
            options.nodes, options.fast? "fast": "lan", options.loss * 100,
            options.latency * 1000, options.jitter * 1000, options.seeds, options.runs);
    if (options.starve > 0)
        printf (", starved %.0f s at %.0f ms", options.starve_time, options.starve * 1000);
    printf ("\n");
    printf ("%-5s %9s %9s %9s %9s %9s %6s %9s %8s %8s\n", "run", "converge", "kill",
            "kill+hint", "pause", "resume", "false", "pkt/node/s", "sim s", "wall s");
    double *columns [6];
    for (int c = 0; c < 6; c++)
        columns [c] = (double *) calloc (options.runs, sizeof (double));
    double wall_total = 0;
    int status = TM_EXIT_OK;
    for (int run = 0; run < options.runs; run++) {
        s_result_t r = s_run (&options, options.seed + run);
        printf ("%-5d %9.3f %9.3f %9.3f %9.3f %9.3f %6lu %10.1f %8.1f %8.1f\n",
                run + 1, r.converge, r.kill, r.kill_hint, r.pause, r.resume,
                (unsigned long) r.false_dead, r.packets_per_node_s, r.sim, r.wall);
        fflush (stdout);
        columns [0] [run] = r.converge;
        columns [1] [run] = r.kill;
        columns [2] [run] = r.kill_hint;
        columns [3] [run] = r.pause;
        columns [4] [run] = r.resume;
        columns [5] [run] = (double) r.false_dead;
        wall_total += r.wall;
        if (isnan (r.converge) || isnan (r.kill) || isnan (r.kill_hint) || isnan (r.pause)
        ||  isnan (r.resume) || r.false_dead)
            status = TM_EXIT_FAILED;
    }
    struct rusage usage;
    getrusage (RUSAGE_SELF, &usage);
    printf ("%-5s %9.3f %9.3f %9.3f %9.3f %9.3f %6.0f\n", "median",
            s_median (columns [0], options.runs), s_median (columns [1], options.runs),
            s_median (columns [2], options.runs), s_median (columns [3], options.runs),
            s_median (columns [4], options.runs), s_median (columns [5], options.runs));
    printf ("times in simulated seconds; wall %.1f s in all, peak RSS %.0f MB\n",
            wall_total, usage.ru_maxrss / 1024.0);
    for (int c = 0; c < 6; c++)
        free (columns [c]);
    return status;
}
