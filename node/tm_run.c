/*  tm_run.c - `testmesh run`: discover, order, run and report a suite.

    The path of a run through this file:

    1. s_parse_options: getopt_long into a tm_run_options_t.
    2. s_discover: every target through tm_adapter into one task list,
       then --filter, --exclude and --input (tm_listing.h).  Here, where
       the targets are; with --node at the origin agent instead, which
       has them (tm_submit_list): this machine need not.  --list stops
       here.
    3. The duration history gives each task its expected duration.
    4. Who runs it: when an agent answers on the data directory (and not
       --local), a submit actor hands the run to that agent, which spreads
       it over its cluster (tm_submit.h); unless --shared-fs, each task's
       program and inputs go into the agent's content store first, to be
       shipped to the members that run it (s_ship, tm_inputs.h).  Otherwise a scheduler actor
       (which starts the executor actor) is the in-process node: a
       cluster of one, sent RUN.  Both speak the same pipe protocol.
    5. s_event_loop: results arrive on the runner's pipe and go to the
       console reporter; SIGINT/SIGTERM arrive on a signalfd and become
       CANCEL, so even an interrupted run reports every test once.  A
       submitted run may instead end with FAILED (the agent died).
    6. History is updated, reports are written, the exit code computed.

    Signals: SIGINT, SIGTERM and SIGHUP are blocked in every thread
    (they are blocked before the first thread starts) and read from a
    signalfd by the main loop.  Children get an empty mask and default
    dispositions from tm_proc.
*/
#include "tm_run.h"
#include "tm_control.h"
#include "tm_history.h"
#include "tm_inputs.h"
#include "tm_listing.h"
#include "tm_proc.h"
#include "tm_report.h"
#include "tm_scheduler.h"
#include "tm_keys.h"
#include "tm_token.h"
#include "tm_submit.h"
#include "tm_runcache.h"
#include "tm_trace.h"
#include <getopt.h>
#include <sodium.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/signalfd.h>
#include <unistd.h>

typedef struct {
    int jobs;                   //  --jobs: slots of the local member
    tm_kind_t kind;             //  --kind: force the adapter
    const char *junit;          //  --junit FILE
    const char *json;           //  --json FILE
    const char *data;           //  --data DIR
    double timeout;             //  --timeout SECS, 0 = none
    int retries;                //  --retries N
    bool strict_flaky;          //  --strict-flaky
    bool fail_fast;             //  --fail-fast
    bool list;                  //  --list
    bool local;                 //  --local: run here even if an agent runs
    bool shared_fs;             //  --shared-fs: members see our paths, ship nothing
    char **inputs;              //  --input PATH, repeatable
    size_t output_limit;        //  --output-limit BYTES
    const char *progress;       //  --progress auto|live|lines
    char **filters;             //  --filter GLOB, repeatable
    char **excludes;            //  --exclude GLOB, repeatable
    char **requires;            //  --require K=V, repeatable
    const char *node;           //  --node HOST:PORT: a member's client port
    const char *token;          //  --token, else $TESTMESH_TOKEN (with --node)
    tm_cache_mode_t cache;      //  --cache MODE, --no-cache
    char **targets;             //  Positional arguments
} tm_run_options_t;

#define TM_DEFAULT_TIMEOUT      1500.0  //  As ctest's default
#define TM_DEFAULT_OUTPUT_LIMIT (256 * 1024)

static void
s_usage (FILE *out)
{
    fprintf (out,
"usage: testmesh run [OPTIONS] TARGET...\n"
"\n"
"Runs every test of each TARGET, one process per test, and reports.\n"
"A TARGET is a Criterion or GoogleTest binary, a ctest build directory,\n"
"or a manifest file (docs/manifest.md).\n"
"\n"
"  -j, --jobs N           tests at once (default: number of cores)\n"
"      --kind KIND        criterion, gtest, ctest or manifest (default: detect)\n"
"      --filter GLOB      run only tests whose id matches (repeatable)\n"
"      --exclude GLOB     skip tests whose id matches (repeatable)\n"
"      --require K=V      run tests only on members labelled K=V (repeatable)\n"
"      --list             print the test ids and exit\n"
"      --timeout SECS     per-test timeout (default 1500; 0 = none)\n"
"      --retries N        retry a failing test up to N times (default 0)\n"
"      --strict-flaky     exit 1 when a test was flaky\n"
"      --fail-fast        stop everything at the first failure\n"
"      --junit FILE       write a JUnit XML report\n"
"      --json FILE        write a JSON report (docs/json-report.md)\n"
"      --output-limit N   bytes of each output stream kept per test (default 262144)\n"
"      --progress MODE    auto, live or lines (default auto: live on a terminal)\n"
"      --node HOST:PORT   submit to the agent whose --client-bind is there,\n"
"                         from a machine that is not a member (needs the token);\n"
"                         that agent lists the targets: paths are the members'\n"
"      --token TOKEN      the cluster's join token for --node (default\n"
"                         $TESTMESH_TOKEN)\n"
"      --local            run on this machine even when an agent runs on the\n"
"                         data directory (default: submit the run to it)\n"
"      --input PATH       a file or directory every test reads: shipped with\n"
"                         the tests to the members that run them (repeatable)\n"
"      --shared-fs        every member sees this machine's paths: run tests\n"
"                         where they are, ship no files\n"
"      --cache MODE       readwrite (default, or $TESTMESH_CACHE): serve cached\n"
"                         results and store passes; read, write or off\n"
"                         (docs/caching.md)\n"
"      --no-cache         the same as --cache=off\n"
"      --data DIR         data directory (default $TESTMESH_HOME, else\n"
"                         $XDG_DATA_HOME/testmesh)\n"
"  -h, --help             this text\n"
"\n"
"Exit status: 0 all passed, 1 some test failed, 2 usage or infrastructure\n"
"error (or the run was interrupted).\n");
}

//  Parses a non-negative number with an optional fraction; -1 if bad.
static double
s_parse_number (const char *text)
{
    char *end = NULL;
    double value = strtod (text, &end);
    if (!*text || *end || !(value >= 0) || value > TM_TIMEOUT_MAX)
        return -1;
    return value;
}

static int
s_parse_options (int argc, char **argv, tm_run_options_t *options)
{
    static struct option longs [] = {
        { "jobs",          required_argument, 0, 'j' },
        { "kind",          required_argument, 0, 'k' },
        { "junit",         required_argument, 0, 'J' },
        { "json",          required_argument, 0, 'O' },
        { "data",          required_argument, 0, 'd' },
        { "timeout",       required_argument, 0, 't' },
        { "retries",       required_argument, 0, 'r' },
        { "strict-flaky",  no_argument,       0, 'S' },
        { "fail-fast",     no_argument,       0, 'F' },
        { "list",          no_argument,       0, 'l' },
        { "local",         no_argument,       0, 'o' },
        { "shared-fs",     no_argument,       0, 's' },
        { "input",         required_argument, 0, 'i' },
        { "filter",        required_argument, 0, 'f' },
        { "exclude",       required_argument, 0, 'x' },
        { "require",       required_argument, 0, 'R' },
        { "node",          required_argument, 0, 'N' },
        { "token",         required_argument, 0, 'T' },
        { "output-limit",  required_argument, 0, 'L' },
        { "progress",      required_argument, 0, 'P' },
        { "cache",         required_argument, 0, 'C' },
        { "no-cache",      no_argument,       0, 'n' },
        { "help",          no_argument,       0, 'h' },
        { 0, 0, 0, 0 }
    };
    options->jobs = (int) sysconf (_SC_NPROCESSORS_ONLN);
    if (options->jobs < 1)
        options->jobs = 1;
    options->timeout = TM_DEFAULT_TIMEOUT;
    options->output_limit = TM_DEFAULT_OUTPUT_LIMIT;
    options->progress = "auto";
    //  TESTMESH_CACHE sets the default, as GOFLAGS=-count=1 does for Go:
    //  a CI job, or a test harness, turns the cache off for every run
    options->cache = TM_CACHE_READWRITE;
    const char *cache_env = getenv ("TESTMESH_CACHE");
    if (cache_env && *cache_env && tm_cache_mode_parse (cache_env, &options->cache) != 0) {
        fprintf (stderr, "testmesh: TESTMESH_CACHE wants readwrite, read, write or off, "
                 "not '%s'\n", cache_env);
        return -1;
    }
    opterr = 0;
    optind = 1;
    int opt;
    while ((opt = getopt_long (argc, argv, "j:h", longs, NULL)) != -1) {
        double number;
        switch (opt) {
            case 'j':
                number = s_parse_number (optarg);
                if (number < 1 || number > 4096 || number != (int) number) {
                    fprintf (stderr, "testmesh: --jobs wants a whole number "
                             "from 1 to 4096, not '%s'\n", optarg);
                    return -1;
                }
                options->jobs = (int) number;
                break;
            case 'k':
                if (tm_kind_parse (optarg, &options->kind) != 0) {
                    fprintf (stderr, "testmesh: unknown --kind '%s' "
                             "(criterion, gtest, ctest, manifest or auto)\n", optarg);
                    return -1;
                }
                break;
            case 'J': options->junit = optarg; break;
            case 'O': options->json = optarg; break;
            case 'd': options->data = optarg; break;
            case 't':
                options->timeout = s_parse_number (optarg);
                if (options->timeout < 0) {
                    fprintf (stderr, "testmesh: --timeout wants seconds, not '%s'\n", optarg);
                    return -1;
                }
                break;
            case 'r':
                number = s_parse_number (optarg);
                if (number < 0 || number > 100 || number != (int) number) {
                    fprintf (stderr, "testmesh: --retries wants a whole number "
                             "from 0 to 100, not '%s'\n", optarg);
                    return -1;
                }
                options->retries = (int) number;
                break;
            case 'S': options->strict_flaky = true; break;
            case 'F': options->fail_fast = true; break;
            case 'l': options->list = true; break;
            case 'o': options->local = true; break;
            case 's': options->shared_fs = true; break;
            case 'i':
                if (!*optarg) {
                    fprintf (stderr, "testmesh: --input wants a path\n");
                    return -1;
                }
                tm_strv_push (&options->inputs, optarg);
                break;
            case 'f': tm_strv_push (&options->filters, optarg); break;
            case 'x': tm_strv_push (&options->excludes, optarg); break;
            case 'N': options->node = optarg; break;
            case 'T': options->token = optarg; break;
            case 'R': {
                const char *eq = strchr (optarg, '=');
                if (!eq || eq == optarg || strchr (optarg, ' ')) {
                    fprintf (stderr, "testmesh: --require wants KEY=VALUE, not '%s'\n", optarg);
                    return -1;
                }
                tm_strv_push (&options->requires, optarg);
                break;
            }
            case 'L':
                number = s_parse_number (optarg);
                if (number < 1024 || number > 1e9 || number != (size_t) number) {
                    fprintf (stderr, "testmesh: --output-limit wants bytes "
                             "from 1024 to 1000000000, not '%s'\n", optarg);
                    return -1;
                }
                options->output_limit = (size_t) number;
                break;
            case 'P':
                if (!streq (optarg, "auto") && !streq (optarg, "live")
                &&  !streq (optarg, "lines")) {
                    fprintf (stderr, "testmesh: --progress wants auto, live or lines, "
                             "not '%s'\n", optarg);
                    return -1;
                }
                options->progress = optarg;
                break;
            case 'C':
                if (tm_cache_mode_parse (optarg, &options->cache) != 0) {
                    fprintf (stderr, "testmesh: --cache wants readwrite, read, write or off, "
                             "not '%s'\n", optarg);
                    return -1;
                }
                break;
            case 'n': options->cache = TM_CACHE_OFF; break;
            case 'h':
                s_usage (stdout);
                exit (TM_EXIT_OK);
            default:
                if (optopt && strchr ("j", optopt))
                    fprintf (stderr, "testmesh: option -%c needs a value\n", optopt);
                else
                if (argv [optind - 1] && strncmp (argv [optind - 1], "--", 2) == 0
                &&  strchr (argv [optind - 1], '=') == NULL && opt == '?'
                &&  optopt)
                    fprintf (stderr, "testmesh: option %s needs a value\n", argv [optind - 1]);
                else
                    fprintf (stderr, "testmesh: unknown option '%s' "
                             "(see testmesh run --help)\n", argv [optind - 1]);
                return -1;
        }
    }
    for (int i = optind; i < argc; i++)
        tm_strv_push (&options->targets, argv [i]);
    if (!options->targets) {
        fprintf (stderr, "testmesh: run needs at least one target "
                 "(see testmesh run --help)\n");
        return -1;
    }
    return 0;
}

//  Lists the run's tests (tm_listing.h): here, or with --node at the
//  origin agent, which has the targets.  Returns NULL after printing
//  the one-line error.
static tm_tasklist_t *
s_discover (tm_run_options_t *options, const tm_submit_config_t *node, int signal_fd)
{
    tm_listing_t *listing = tm_listing_new (options->targets, options->kind,
                                            options->filters, options->excludes,
                                            options->inputs);
    char *err = NULL;
    tm_tasklist_t *tasks = node ? tm_submit_list (node, listing, signal_fd, &err)
                                : tm_listing_run (listing, &err);
    if (!tasks)
        fprintf (stderr, "testmesh: %s\n", err ? err : "cannot list tests");
    free (err);
    tm_listing_destroy (&listing);
    return tasks;
}

//  Each running test holds three descriptors (two pipes, a pidfd) and
//  briefly two more while spawning: raise the soft limit to the hard one,
//  and run fewer at once if even that is not enough.
static void
s_fit_fd_limit (tm_run_options_t *options)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) != 0)
        return;
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit (RLIMIT_NOFILE, &limit);
        getrlimit (RLIMIT_NOFILE, &limit);
    }
    rlim_t room = limit.rlim_cur > 128 ? (limit.rlim_cur - 128) / 5 : 1;
    if ((rlim_t) options->jobs > room) {
        tm_warn ("run", "--jobs %d needs more descriptors than the limit of %lu "
                 "allows: running %lu at once", options->jobs,
                 (unsigned long) limit.rlim_cur, (unsigned long) room);
        options->jobs = (int) room;
    }
}

//  A report that cannot be written is found out before the run, not after
//  it: the directory of each report file must exist and be writable.
static int
s_check_report_paths (tm_run_options_t *options)
{
    const char *paths [] = { options->junit, options->json };
    for (int i = 0; i < 2; i++) {
        if (!paths [i])
            continue;
        char *copy = strdup (paths [i]);
        char *slash = strrchr (copy, '/');
        const char *dir = slash ? (slash == copy ? "/" : (*slash = 0, copy)) : ".";
        int rc = access (dir, W_OK | X_OK);
        if (rc != 0)
            fprintf (stderr, "testmesh: cannot write %s: %s: %s\n", paths [i], dir,
                     strerror (errno));
        free (copy);
        if (rc != 0)
            return -1;
    }
    return 0;
}

//  Blocks the signals we read from a signalfd; call before any thread
//  starts so that every thread inherits the mask.
static int
s_signals_block (void)
{
    sigset_t mask;
    sigemptyset (&mask);
    sigaddset (&mask, SIGINT);
    sigaddset (&mask, SIGTERM);
    sigaddset (&mask, SIGHUP);
    sigaddset (&mask, SIGQUIT);
    pthread_sigmask (SIG_BLOCK, &mask, NULL);
    signal (SIGPIPE, SIG_IGN);
    return signalfd (-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
}

typedef struct {
    tm_tasklist_t *tasks;       //  The run's tasks
    tm_result_t **results;      //  Final results by task index
    size_t received;            //  Results received
    bool interrupted;           //  A signal cancelled the run
    bool keep_output;           //  A report wants every test's output
    size_t *run_index;          //  Index in tasks of the runner's task I
                                //  (a view without the cached tests), or NULL
} s_run_state_t;

//  Feeds events from the runner (a scheduler or a submit actor: one
//  pipe protocol) to the console until FINISHED.  Returns 0; -1 if the
//  runner went away or a second signal came; -2 after FAILED, with its
//  one-line reason in *reason (caller frees): the caller prints it once
//  the console has ended its progress line.
static int
s_event_loop (zactor_t *runner, int signal_fd, tm_console_t *console,
              s_run_state_t *state, char **reason)
{
    zmq_pollitem_t items [] = {
        { zsock_resolve (runner), 0, ZMQ_POLLIN, 0 },
        { NULL, signal_fd, ZMQ_POLLIN, 0 },
    };
    int signals = 0;
    while (true) {
        if (zmq_poll (items, signal_fd >= 0 ? 2 : 1, 100) < 0 && zmq_errno () != EINTR)
            return -1;
        if (items [1].revents & ZMQ_POLLIN) {
            struct signalfd_siginfo info;
            while (read (signal_fd, &info, sizeof info) == sizeof info) {
                if (++signals == 1) {
                    fprintf (stderr, "\ntestmesh: interrupted, stopping the run "
                             "(again to quit at once)\n");
                    state->interrupted = true;
                    zsock_send (runner, "s", "CANCEL");
                }
                else
                    return -1;  //  Destroying the runner kills everything
            }
        }
        if (items [0].revents & ZMQ_POLLIN) {
            char *command = NULL;
            void *pointer = NULL;
            if (zsock_recv (runner, "sp", &command, &pointer) != 0 || !command)
                return -1;
            if (streq (command, "RESULT")) {
                tm_result_t *result = (tm_result_t *) pointer;
                if (state->run_index)
                    result->index = state->run_index [result->index];
                assert (result->index < tm_tasklist_size (state->tasks));
                assert (!state->results [result->index]);
                state->results [result->index] = result;
                state->received++;
                tm_console_result (console, result);
                //  The summary only shows the output of tests that did not
                //  pass; without a report file nobody reads the rest, and a
                //  run of 100,000 tests must not hold it all in memory
                if (!state->keep_output && tm_status_ok (result->status)) {
                    zstr_free (&result->out);
                    zstr_free (&result->err);
                    result->out_size = result->err_size = 0;
                }
            }
            else
            if (streq (command, "STARTED"))
                tm_console_started (console, (tm_task_t *) pointer);
            else
            if (streq (command, "FINISHED")) {
                free (command);
                return 0;
            }
            else
            if (streq (command, "FAILED")) {
                //  Only the submit actor sends it: the run is over
                *reason = (char *) pointer;
                free (command);
                return -2;
            }
            free (command);
        }
        tm_console_tick (console);
    }
}

static void
s_options_free (tm_run_options_t *options)
{
    tm_strv_free (&options->filters);
    tm_strv_free (&options->excludes);
    tm_strv_free (&options->requires);
    tm_strv_free (&options->targets);
    tm_strv_free (&options->inputs);
}

//  Ships the run (tm_inputs.h): each task's program and inputs go into
//  the content store of the agent on DATADIR, and into the task.
//  Returns 0, or -1 after printing why.
static int
s_ship (const char *datadir, tm_tasklist_t *tasks)
{
    char *err = NULL;
    tm_store_t *store = tm_store_new (datadir, &err);
    tm_inputs_t *inputs = store ? tm_inputs_new (store, &err) : NULL;
    int rc = inputs ? 0 : -1;
    double started = tm_now ();
    for (size_t i = 0; rc == 0 && i < tm_tasklist_size (tasks); i++) {
        tm_task_t *task = tm_tasklist_get (tasks, i);
        if (task->skip_reason)
            continue;
        if (tm_inputs_prepare (inputs, task, &err) != 0) {
            char *why = tm_strdupf ("cannot ship the files of '%s': %s", task->id, err);
            free (err);
            err = why;
            rc = -1;
        }
    }
    if (rc == 0)
        tm_debug ("run", "%zu files (%llu bytes) to ship, hashed in %.2f s",
                  tm_inputs_files (inputs), (unsigned long long) tm_inputs_bytes (inputs),
                  tm_now () - started);
    else
        fprintf (stderr, "testmesh: %s (or use --shared-fs)\n", err);
    free (err);
    tm_inputs_destroy (&inputs);
    tm_store_destroy (&store);
    return rc;
}

//  Keeps why each test hit or missed in DATADIR/cache-explain.json, for
//  `testmesh cache explain` (tm_cachecmd.c).  Written whole under a
//  temporary name, then renamed: a reader never sees half of it.
static void
s_write_explain (const char *datadir, tm_runcache_t *runcache)
{
    json_t *reasons = tm_runcache_reasons (runcache);
    json_t *doc = json_pack ("{s:f, s:o, s:o}", "time", tm_wall_now (), "tests", reasons,
                             "asked", tm_runcache_asked (runcache));
    char *path = tm_strdupf ("%s/cache-explain.json", datadir);
    char *tmp = tm_strdupf ("%s.%d", path, (int) getpid ());
    if (json_dump_file (doc, tmp, JSON_COMPACT) != 0 || rename (tmp, path) != 0) {
        tm_warn ("cache", "cannot write %s: %s", path, strerror (errno));
        unlink (tmp);
    }
    free (tmp);
    free (path);
    json_decref (doc);
}

int
tm_run_main (int argc, char **argv)
{
    tm_run_options_t options = { 0 };
    if (s_parse_options (argc, argv, &options) != 0) {
        s_options_free (&options);
        return TM_EXIT_ERROR;
    }
    int signal_fd = s_signals_block ();
    if (signal_fd < 0) {
        //  Blocked signals and nobody to read them: nothing could stop us
        fprintf (stderr, "testmesh: cannot create a signalfd: %s\n", strerror (errno));
        s_options_free (&options);
        return TM_EXIT_ERROR;
    }
    tm_proc_init ();
    tm_proc_set_cancel_fd (signal_fd);
    s_fit_fd_limit (&options);
    if (s_check_report_paths (&options) != 0) {
        s_options_free (&options);
        close (signal_fd);
        return TM_EXIT_ERROR;
    }

    int rc = TM_EXIT_ERROR;
    tm_history_t *history = NULL;
    char *datadir = NULL;
    zactor_t *runner = NULL;    //  Scheduler, or submit actor
    tm_console_t *console = NULL;
    s_run_state_t state = { 0 };
    char *err = NULL;
    tm_keys_t *keys = NULL;             //  The embedded node's identity
    tm_cacheclient_t *cache = NULL;     //  The result cache, if on
    tm_runcache_t *runcache = NULL;
    tm_result_t **hits = NULL;          //  Cached results, by index
    size_t hit_count = 0;
    tm_tasklist_t *view = NULL;         //  The tests to run, when some hit
    char *trace_shim = NULL;            //  The embedded node's trace shim
    size_t total = 0;                   //  Tests in the run

    state.keep_output = options.junit || options.json;
    //  --node: the keys come from the token; checked before anything
    //  runs, since the agent lists the tests
    char server_key [TM_KEYS_Z85_SIZE], client_public [TM_KEYS_Z85_SIZE];
    char client_secret [TM_KEYS_Z85_SIZE];
    if (options.node) {
        const char *text = options.token ? options.token : getenv ("TESTMESH_TOKEN");
        tm_token_t token;
        if (options.local) {
            fprintf (stderr, "testmesh: --node and --local do not go together\n");
            goto done;
        }
        if (!text || !*text) {
            fprintf (stderr, "testmesh: --node needs the cluster's token (--token, or "
                     "TESTMESH_TOKEN)\n");
            goto done;
        }
        if (tm_token_parse (text, &token, &err) != 0) {
            fprintf (stderr, "testmesh: --token: %s\n", err);
            goto done;
        }
        int rc_key = tm_keys_curve_of (token.cluster_pk, server_key);
        tm_keys_client_curve (token.join_secret, client_public, client_secret);
        tm_token_wipe (&token);
        if (rc_key != 0) {
            fprintf (stderr, "testmesh: --token: its cluster key is not valid\n");
            goto done;
        }
        zsys_handler_set (NULL);    //  Signals are ours (see file banner)
        zsys_init ();
    }
    tm_submit_config_t node = {
        .node = options.node,
        .server_key = server_key,
        .client_public = client_public,
        .client_secret = client_secret,
    };
    state.tasks = s_discover (&options, options.node ? &node : NULL, signal_fd);
    if (!state.tasks)
        goto done;
    total = tm_tasklist_size (state.tasks);
    if (options.list) {
        for (size_t i = 0; i < total; i++) {
            tm_task_t *task = tm_tasklist_get (state.tasks, i);
            if (task->skip_reason)
                printf ("%s  (skipped: %s)\n", task->id, task->skip_reason);
            else
                printf ("%s\n", task->id);
        }
        rc = TM_EXIT_OK;
        goto done;
    }
    datadir = tm_datadir_resolve (options.data, &err);
    if (!datadir) {
        fprintf (stderr, "testmesh: %s\n", err);
        goto done;
    }
    history = tm_history_new (datadir, &err);
    if (!history) {
        //  The history only orders tests: a run goes on without it
        tm_warn ("run", "%s; running without duration history", err);
        zstr_free (&err);
    }
    for (size_t i = 0; history && i < total; i++) {
        tm_task_t *task = tm_tasklist_get (state.tasks, i);
        if (task->history_key)
            task->expected = tm_history_expected (history, task->history_key);
    }

    zsys_handler_set (NULL);    //  Signals are ours (see file banner)
    zsys_init ();
    //  Asked before the console draws anything: it takes up to a second
    //  when a dead agent left its socket file behind
    bool submit = options.node || (!options.local && tm_control_agent_running (datadir));
    //  --require adds to each test's own requires.  Here, a test this
    //  machine's labels do not satisfy fails with the reason; an agent
    //  places by its members' labels instead (docs/scheduling.md)
    char **local_labels = submit ? NULL : tm_labels_local ();
    for (size_t i = 0; i < total; i++) {
        tm_task_t *task = tm_tasklist_get (state.tasks, i);
        for (char **need = options.requires; need && *need; need++)
            tm_strv_push (&task->requires, *need);
        const char *missing = NULL;
        if (!submit && !tm_labels_satisfy (local_labels, task->requires, &missing))
            task->unrunnable = tm_strdupf ("cannot run here: this machine has no label %s "
                                           "(it has os and arch only; agents add --label)",
                                           missing);
    }
    tm_strv_free (&local_labels);
    //  Ship the files the tests need to the agent's store, unless every
    //  member sees the same paths.  (Not from a non-member: --node runs
    //  use the paths as the members see them.)
    if (submit && !options.node && !options.shared_fs && s_ship (datadir, state.tasks) != 0)
        goto done;

    //  The result cache (docs/caching.md): a hit is a result already,
    //  and only the misses run.  Not with --node: the paths are the
    //  member's there, and this machine may not have the files to hash.
    char hostname [256] = "local";
    gethostname (hostname, sizeof hostname - 1);
    if (options.cache != TM_CACHE_OFF && !options.node) {
        if (submit)
            cache = tm_cacheclient_new_agent (datadir);
        else {
            //  The embedded node signs what it runs with this data
            //  directory's node identity (made on first use)
            keys = tm_keys_new (datadir, &err);
            if (keys)
                cache = tm_cacheclient_new_local (datadir, 0, tm_keys_node_secret (keys),
                                                  hostname, &err);
            if (!cache) {
                tm_warn ("cache", "%s; running without the cache", err);
                zstr_free (&err);
            }
        }
        if (cache) {
            runcache = tm_runcache_new (cache, options.cache);
            if (history)
                tm_runcache_set_memo (runcache, history);
            hits = tm_runcache_lookup (runcache, state.tasks, &hit_count);
        }
        //  What the tests read goes into their next keys: the embedded
        //  node traces them (an agent's executor has its own shim)
        if (cache && !submit && (options.cache & TM_CACHE_WRITE)) {
            trace_shim = tm_trace_shim_path (datadir, &err);
            if (!trace_shim) {
                tm_warn ("cache", "%s; undeclared inputs are not traced", err);
                zstr_free (&err);
            }
        }
    }

    bool tty = isatty (STDOUT_FILENO) && getenv ("TERM") && !streq (getenv ("TERM"), "dumb");
    bool live = streq (options.progress, "live") || (streq (options.progress, "auto") && tty);
    bool color = tty && !(getenv ("NO_COLOR") && *getenv ("NO_COLOR"));
    console = tm_console_new (stdout, live, color, total, options.jobs);
    tm_console_plan (console, state.tasks);
    state.results = (tm_result_t **) calloc (total + 1, sizeof (tm_result_t *));
    assert (state.results);

    //  The runner gets a view of the tests that missed
    tm_tasklist_t *run_tasks = state.tasks;
    if (hit_count) {
        view = tm_tasklist_new_view ();
        state.run_index = (size_t *) calloc (total + 1, sizeof (size_t));
        assert (state.run_index);
        for (size_t i = 0; i < total; i++) {
            if (hits [i]) {
                state.results [i] = hits [i];
                hits [i] = NULL;
                state.received++;
                tm_console_result (console, state.results [i]);
            }
            else {
                state.run_index [tm_tasklist_size (view)] = i;
                tm_tasklist_view_append (view, tm_tasklist_get (state.tasks, i));
            }
        }
        run_tasks = view;
    }

    double started = tm_now ();
    if (tm_tasklist_size (run_tasks) == 0)
        ;                       //  Every test was cached: nothing to run
    else
    if (submit) {
        tm_submit_config_t config = {
            .datadir = datadir,
            .node = options.node,
            .server_key = options.node ? server_key : NULL,
            .client_public = options.node ? client_public : NULL,
            .client_secret = options.node ? client_secret : NULL,
            .tasks = run_tasks,
            .retries = options.retries,
            .fail_fast = options.fail_fast,
            .default_timeout = options.timeout,
            .output_limit = options.output_limit,
        };
        runner = zactor_new (tm_submit_actor, &config);
    }
    else {
        tm_scheduler_config_t config = {
            .slots = options.jobs,
            .retries = options.retries,
            .fail_fast = options.fail_fast,
            .executor = {
                .member = hostname,
                .default_timeout = options.timeout,
                .kill_grace = 2.0,
                .cancel_grace = 0.05,
                .output_limit = options.output_limit,
                .trace_shim = trace_shim,
            },
        };
        runner = zactor_new (tm_scheduler_actor, &config);
        zsock_send (runner, "sp", "RUN", run_tasks);
    }
    char *reason = NULL;
    int looped = runner ? s_event_loop (runner, signal_fd, console, &state, &reason) : 0;
    if (looped != 0) {
        tm_console_destroy (&console);
        fprintf (stderr, "testmesh: %s\n", reason ? reason : "run aborted");
        free (reason);
        zactor_destroy (&runner);
        goto done;
    }
    zactor_destroy (&runner);
    double elapsed = tm_now () - started;
    for (size_t i = 0; view && i < total; i++)
        tm_tasklist_get (state.tasks, i)->index = i;

    //  Every task has exactly one result (the runner's invariant)
    assert (state.received == total);
    bool failed = false, flaky = false;
    for (size_t i = 0; i < total; i++) {
        tm_result_t *result = state.results [i];
        tm_task_t *task = tm_tasklist_get (state.tasks, i);
        failed |= !tm_status_ok (result->status);
        flaky |= result->status == TM_STATUS_FLAKY;
        if (history && task->history_key && result->attempts > 0
        &&  result->status != TM_STATUS_SKIPPED)
            tm_history_record (history, task->history_key, result->duration);
    }
    if (runcache) {
        tm_runcache_store (runcache, state.tasks, state.results);
        s_write_explain (datadir, runcache);
    }
    //  Durations and the cache's lookup memos, in one write
    if (history && tm_history_flush (history, &err) != 0) {
        tm_warn ("run", "%s", err);
        zstr_free (&err);
    }
    tm_console_summary (console, state.results, total, elapsed);
    rc = failed || (flaky && options.strict_flaky) ? TM_EXIT_FAILED : TM_EXIT_OK;
    if (options.junit
    &&  tm_report_junit (options.junit, state.tasks, state.results, total, elapsed, &err) != 0) {
        fprintf (stderr, "testmesh: %s\n", err);
        rc = TM_EXIT_ERROR;
    }
    zstr_free (&err);
    if (options.json
    &&  tm_report_json (options.json, state.tasks, state.results, total, elapsed, &err) != 0) {
        fprintf (stderr, "testmesh: %s\n", err);
        rc = TM_EXIT_ERROR;
    }
    if (state.interrupted)
        rc = TM_EXIT_ERROR;

done:
    sodium_memzero (client_secret, sizeof client_secret);
    for (size_t i = 0; hits && i < total; i++)
        tm_result_destroy (&hits [i]);
    free (hits);
    tm_tasklist_destroy (&view);
    free (state.run_index);
    tm_runcache_destroy (&runcache);
    tm_cacheclient_destroy (&cache);
    tm_keys_destroy (&keys);
    free (trace_shim);
    zstr_free (&err);
    zactor_destroy (&runner);
    tm_console_destroy (&console);
    if (state.results)
        for (size_t i = 0; i < tm_tasklist_size (state.tasks); i++)
            tm_result_destroy (&state.results [i]);
    free (state.results);
    tm_tasklist_destroy (&state.tasks);
    tm_history_destroy (&history);
    free (datadir);
    if (signal_fd >= 0)
        close (signal_fd);
    tm_proc_sweep_orphans (NULL, NULL);
    s_options_free (&options);
    return rc;
}
