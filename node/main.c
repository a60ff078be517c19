/*  main.c - the testmesh command: dispatches to a subcommand.

    testmesh run [OPTIONS] TARGET...     run test suites (tm_run.c)
    testmesh agent [OPTIONS]             run the agent (tm_agent.c)
    testmesh members [remove NAME]       list or revoke members (tm_agent.c)
    testmesh token [--rotate]            print the join token (tm_agent.c)
    testmesh cache stats|explain|...     the result cache (tm_cachecmd.c)
    testmesh version                     print the version
    testmesh help                        print usage

    The log level comes from TESTMESH_LOG (debug, info, warn, error,
    none); the default is warn.
*/
#include "tm_common.h"
#include <fcntl.h>
#include "tm_agent.h"
#include "tm_guard.h"
#include "tm_run.h"
#include "tm_cachecmd.h"

static void
s_usage (FILE *out)
{
    fprintf (out,
"usage: testmesh COMMAND [OPTIONS]\n"
"\n"
"Commands:\n"
"  run TARGET...   run test suites, one process per test (testmesh run --help)\n"
"  agent           run this machine's agent: join or create a cluster\n"
"  members         list the cluster's members (remove NAME: revoke one)\n"
"  token           print the cluster's join token (--rotate: a new one)\n"
"  stats           print the local agent's counters (JSON)\n"
"  cache           the result cache: stats, explain GLOB, invalidate [GLOB], gc\n"
"  version         print the version\n"
"  help            this text\n"
"\n"
"Environment: TESTMESH_HOME (data directory), TESTMESH_LOG (log level),\n"
"NO_COLOR (no colors).  Documentation: docs/cli.md.\n");
}

int
main (int argc, char **argv)
{
    //  Started with stdin, stdout or stderr closed, our own descriptors
    //  (a signalfd, RocksDB's log) would take those numbers and receive
    //  the console or the log: hold 0 to 2 with /dev/null first.
    int fd;
    while ((fd = open ("/dev/null", O_RDWR)) >= 0 && fd <= 2)
        ;
    if (fd > 2)
        close (fd);
    //  Actors' pipes hold as many messages as they need: a bounded pipe
    //  between two actors that both send blocks them both (thousands of
    //  EXECs one way, DONEs the other).  Memory is bounded by the run.
    zsys_set_pipehwm (0);
    const char *level = getenv ("TESTMESH_LOG");
    if (level && *level && tm_log_set_level (level) != 0) {
        fprintf (stderr, "testmesh: TESTMESH_LOG must be debug, info, warn, "
                 "error or none, not '%s'\n", level);
        return TM_EXIT_ERROR;
    }
    if (argc < 2) {
        s_usage (stderr);
        return TM_EXIT_ERROR;
    }
    //  Run from inside a Criterion test (as our integration tests do),
    //  we inherit boxfort's worker marker; a Criterion binary we list or
    //  run would take it and act as a worker.  It is never ours to pass on.
    unsetenv ("BXFI_MAP");
    unsetenv ("GMON_OUT_PREFIX");

    const char *command = argv [1];
    if (streq (command, "run"))
        return tm_run_main (argc - 1, argv + 1);
    if (streq (command, "agent"))
        return tm_agent_main (argc - 1, argv + 1);
    if (streq (command, "__guard"))
        return tm_guard_main (argc - 1, argv + 1);      //  The agent's (tm_guard.h)
    if (streq (command, "members"))
        return tm_members_main (argc - 1, argv + 1);
    if (streq (command, "token"))
        return tm_token_main (argc - 1, argv + 1);
    if (streq (command, "stats"))
        return tm_stats_main (argc - 1, argv + 1);
    if (streq (command, "cache"))
        return tm_cachecmd_main (argc - 1, argv + 1);
    if (streq (command, "version") || streq (command, "--version")) {
        printf ("testmesh %s\n", TM_VERSION);
        return TM_EXIT_OK;
    }
    if (streq (command, "help") || streq (command, "--help") || streq (command, "-h")) {
        s_usage (stdout);
        return TM_EXIT_OK;
    }
    fprintf (stderr, "testmesh: unknown command '%s' (see testmesh help)\n", command);
    return TM_EXIT_ERROR;
}
