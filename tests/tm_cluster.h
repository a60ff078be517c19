/*  tm_cluster.h - helpers for tests that run a cluster of real agents.

    Each agent is `build/testmesh agent` on loopback, with a scratch data
    directory of its own, `--bind 127.0.0.1:0 --no-beacon --profile fast`,
    its stdout and stderr appended to agent.out and agent.err in that
    directory (read them when a test fails).  Every agent runs in a
    process group of its own, so that a signal meant for it reaches
    nothing else, and none outlives its test:

      - tmc_cleanup, the suite's .fini, kills and reaps every agent the
        test started and removes their data directories; Criterion runs
        it after a failed assertion too;
      - an agent gets SIGKILL when the test process dies (a crash, or
        Criterion's .timeout): that is why agents are started with fork
        and exec, not posix_spawn, which cannot set a parent-death signal.

    Waiting is by polling `testmesh members --json --data DIR` every
    20 ms until a condition holds or a deadline passes, never by sleeping
    a fixed time.  A helper that waits fails the test at the deadline with
    what it last saw and the tail of the agent's log.

    Usage:
        TestSuite (cluster, .fini = tmc_cleanup);
        tmc_agent_t *a = tmc_start ("a1", NULL, "--slots", "3", NULL);
        char *token = tmc_token (a, 10);
        tmc_agent_t *b = tmc_start ("b1", token, NULL);
        tmc_wait_state (a, "b1", "alive", 10);

    Not thread-safe; one test per process, as Criterion runs them.
*/
#ifndef TM_CLUSTER_H_INCLUDED
#define TM_CLUSTER_H_INCLUDED

#include "tm_testutil.h"
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#define TMC_AGENTS_MAX   24         //  Agents one test may start
#define TMC_POLL_US      20000      //  Between two polls of an agent
#define TMC_ARGS_MAX     48         //  Extra agent options

typedef struct {
    pid_t pid;                  //  Running agent (its group's leader), 0 once reaped
    char *dir;                  //  Its --data directory (removed by tmc_cleanup)
    char name [65];             //  Its --name
    int status;                 //  Exit status once reaped: code, or 128 + signal
    long out_offset;            //  Size of agent.out when it was last started
} tmc_agent_t;

//  Every agent this test started.  Per test: Criterion runs each test in
//  a process of its own.
static tmc_agent_t tmc_agents [TMC_AGENTS_MAX] __attribute__ ((unused));
static int tmc_agent_count __attribute__ ((unused));

//  Path of FILE in AGENT's data directory (static buffer, rotating).
static inline const char *
tmc_file (const tmc_agent_t *agent, const char *file)
{
    static char bufs [4][4200];
    static int next;
    char *buf = bufs [next++ % 4];
    snprintf (buf, 4200, "%s/%s", agent->dir, file);
    return buf;
}

//  The last LIMIT bytes of AGENT's stderr, for failure messages (a new
//  string, never NULL).
static inline char *
tmc_log_tail (const tmc_agent_t *agent, size_t limit)
{
    char *text = tmu_slurp (tmc_file (agent, "agent.err"));
    if (!text)
        return strdup ("(no agent.err)");
    size_t length = strlen (text);
    if (length > limit)
        memmove (text, text + length - limit, limit + 1);
    return text;
}

static inline int
tmc_decode_status (int wstatus)
{
    return WIFEXITED (wstatus) ? WEXITSTATUS (wstatus) : 128 + WTERMSIG (wstatus);
}

//  Reaps AGENT if it has exited.  Returns true if it is gone.
static inline bool
tmc_exited (tmc_agent_t *agent)
{
    if (agent->pid <= 0)
        return true;
    int wstatus;
    if (waitpid (agent->pid, &wstatus, WNOHANG) == agent->pid) {
        agent->status = tmc_decode_status (wstatus);
        agent->pid = 0;
        return true;
    }
    return false;
}

//  Fails the test if AGENT has exited, with its log.
static inline void
tmc_assert_running (tmc_agent_t *agent)
{
    if (tmc_exited (agent)) {
        char *tail = tmc_log_tail (agent, 1500);
        cr_assert_fail ("agent '%s' exited with status %d:\n%s", agent->name,
                        agent->status, tail);
    }
}

//  Starts (or restarts) AGENT.  TOKEN may be NULL; EXTRA is a
//  NULL-terminated list of further options.
static inline void
tmc_spawn (tmc_agent_t *agent, const char *token, const char *const *extra)
{
    cr_assert (agent->pid <= 0, "agent '%s' is already running", agent->name);
    char binary [4096];
    snprintf (binary, sizeof binary, "%s", tmu_path ("testmesh"));
    const char *argv [TMC_ARGS_MAX + 16];
    int argc = 0;
    argv [argc++] = binary;
    argv [argc++] = "agent";
    argv [argc++] = "--data";
    argv [argc++] = agent->dir;
    argv [argc++] = "--bind";
    argv [argc++] = "127.0.0.1:0";
    argv [argc++] = "--no-beacon";
    argv [argc++] = "--profile";
    argv [argc++] = "fast";
    argv [argc++] = "--name";
    argv [argc++] = agent->name;
    if (token) {
        argv [argc++] = "--join";
        argv [argc++] = token;
    }
    for (int i = 0; extra && extra [i]; i++) {
        cr_assert (i < TMC_ARGS_MAX, "too many agent options");
        argv [argc++] = extra [i];
    }
    argv [argc] = NULL;

    //  Everything the child needs is ready before fork: after it, only
    //  async-signal-safe calls (the test process may have threads)
    int out_fd = open (tmc_file (agent, "agent.out"),
                       O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int err_fd = open (tmc_file (agent, "agent.err"),
                       O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int null_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
    cr_assert (out_fd >= 0 && err_fd >= 0 && null_fd >= 0, "cannot open agent logs");
    struct stat info;
    agent->out_offset = fstat (out_fd, &info) == 0 ? (long) info.st_size : 0;
    pid_t parent = getpid ();
    pid_t pid = fork ();
    cr_assert (pid >= 0, "fork: %s", strerror (errno));
    if (pid == 0) {
        setpgid (0, 0);
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (getppid () != parent)
            _exit (127);        //  The test died before prctl
        dup2 (null_fd, 0);
        dup2 (out_fd, 1);
        dup2 (err_fd, 2);
        //  A test may block signals; the agent expects the defaults
        sigset_t none;
        sigemptyset (&none);
        sigprocmask (SIG_SETMASK, &none, NULL);
        execv (argv [0], (char *const *) argv);
        _exit (127);
    }
    setpgid (pid, pid);         //  Both sides, so that no kill races it
    close (out_fd);
    close (err_fd);
    close (null_fd);
    agent->pid = pid;
    agent->status = -1;
}

//  A TCP port of 127.0.0.1 that is free now, for an agent that must keep
//  its address across a restart (give it "--bind", "127.0.0.1:PORT": a
//  later --bind wins over the default).  The kernel picks it at random;
//  it is taken below 49152, where CZMQ starts looking for the agents that
//  bind port 0 (zsock_bind "tcp://HOST:*"), so that none of those, in
//  this test or another, takes it while our agent is down.
static inline int
tmc_free_port (void)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        int fd = socket (AF_INET, SOCK_STREAM, 0);
        cr_assert (fd >= 0);
        struct sockaddr_in where = { .sin_family = AF_INET, .sin_port = 0 };
        where.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
        socklen_t size = sizeof where;
        cr_assert_eq (bind (fd, (struct sockaddr *) &where, sizeof where), 0);
        cr_assert_eq (getsockname (fd, (struct sockaddr *) &where, &size), 0);
        close (fd);
        int port = ntohs (where.sin_port);
        if (port < 49152)
            return port;
    }
    cr_assert_fail ("no free port below 49152");
    return 0;
}

//  Starts a new agent called NAME, joining with TOKEN (NULL: it creates a
//  cluster), with the extra options that follow, NULL-terminated.  Returns
//  at once: wait for it with tmc_token or tmc_wait_ready.
static inline tmc_agent_t *
tmc_start (const char *name, const char *token, ...) __attribute__ ((sentinel));
static inline tmc_agent_t *
tmc_start (const char *name, const char *token, ...)
{
    cr_assert (tmc_agent_count < TMC_AGENTS_MAX, "too many agents");
    tmc_agent_t *agent = &tmc_agents [tmc_agent_count++];
    memset (agent, 0, sizeof *agent);
    agent->dir = tmu_scratch ();
    snprintf (agent->name, sizeof agent->name, "%s", name);
    const char *extra [TMC_ARGS_MAX + 1];
    int count = 0;
    va_list args;
    va_start (args, token);
    const char *arg;
    while ((arg = va_arg (args, const char *))) {
        cr_assert (count < TMC_ARGS_MAX, "too many agent options");
        extra [count++] = arg;
    }
    va_end (args);
    extra [count] = NULL;
    tmc_spawn (agent, token, extra);
    return agent;
}

//  Starts AGENT again on its data directory, with TOKEN (may be NULL) and
//  the extra options that follow, NULL-terminated.
static inline void
tmc_restart (tmc_agent_t *agent, const char *token, ...) __attribute__ ((sentinel));
static inline void
tmc_restart (tmc_agent_t *agent, const char *token, ...)
{
    const char *extra [TMC_ARGS_MAX + 1];
    int count = 0;
    va_list args;
    va_start (args, token);
    const char *arg;
    while ((arg = va_arg (args, const char *))) {
        cr_assert (count < TMC_ARGS_MAX, "too many agent options");
        extra [count++] = arg;
    }
    va_end (args);
    extra [count] = NULL;
    tmc_spawn (agent, token, extra);
}

//  Waits for the `join token: ...` line AGENT prints when it has started
//  (a cluster's first agent, or any member restarted without --join).
//  Returns the token (caller frees).
static inline char *
tmc_token (tmc_agent_t *agent, double timeout)
{
    double end = tmu_now () + timeout;
    while (1) {
        char *out = tmu_slurp (tmc_file (agent, "agent.out"));
        const char *line = out && (long) strlen (out) >= agent->out_offset
                         ? strstr (out + agent->out_offset, "join token: ") : NULL;
        if (line && strchr (line, '\n')) {
            line += strlen ("join token: ");
            char *token = strndup (line, strcspn (line, "\r\n"));
            free (out);
            return token;
        }
        free (out);
        tmc_assert_running (agent);
        if (tmu_now () > end) {
            char *tail = tmc_log_tail (agent, 1500);
            cr_assert_fail ("agent '%s' printed no token within %.1f s:\n%s",
                            agent->name, timeout, tail);
        }
        usleep (TMC_POLL_US);
    }
}

//  Runs `testmesh members --json` on AGENT.  Returns the list, or NULL if
//  the command failed (no agent, or it did not answer).
static inline json_t *
tmc_members (tmc_agent_t *agent)
{
    tmu_run_t run = tmu_testmesh (15, "members", "--json", "--data", agent->dir);
    json_t *members = run.status == 0 ? json_loads (run.out, 0, NULL) : NULL;
    tmu_run_free (&run);
    if (members && !json_is_array (members)) {
        json_decref (members);
        members = NULL;
    }
    return members;
}

//  tmc_members, but fails the test if AGENT exited or does not answer.
static inline json_t *
tmc_members_of (tmc_agent_t *agent)
{
    json_t *members = tmc_members (agent);
    if (!members) {
        tmc_assert_running (agent);
        char *tail = tmc_log_tail (agent, 1500);
        cr_assert_fail ("agent '%s' does not answer members:\n%s", agent->name, tail);
    }
    return members;
}

//  The entry of NAME in MEMBERS (borrowed), or NULL.
static inline json_t *
tmc_member (json_t *members, const char *name)
{
    size_t i;
    json_t *member;
    json_array_foreach (members, i, member) {
        const char *its = json_string_value (json_object_get (member, "name"));
        if (its && strcmp (its, name) == 0)
            return member;
    }
    return NULL;
}

//  NAME's state in MEMBERS, or "gone" if it is not listed.
static inline const char *
tmc_state (json_t *members, const char *name)
{
    json_t *member = tmc_member (members, name);
    const char *state = member ? json_string_value (json_object_get (member, "state")) : NULL;
    return member ? (state ? state : "?") : "gone";
}

//  True if STATE is one of STATES, a '|'-separated list ("dead|gone").
static inline bool
tmc_state_in (const char *state, const char *states)
{
    size_t length = strlen (state);
    for (const char *p = states; *p; ) {
        size_t word = strcspn (p, "|");
        if (word == length && strncmp (p, state, length) == 0)
            return true;
        p += word + (p [word] == '|');
    }
    return false;
}

//  NAME's incarnation as OBSERVER sees it, or -1 if not listed.
static inline long long
tmc_incarnation (tmc_agent_t *observer, const char *name)
{
    json_t *members = tmc_members (observer);
    json_t *member = members ? tmc_member (members, name) : NULL;
    long long incarnation = member ? json_integer_value (json_object_get (member, "incarnation"))
                                   : -1;
    json_decref (members);
    return incarnation;
}

//  Waits until every one of the COUNT OBSERVERS lists NAME in one of
//  STATES ("alive", "dead|gone", ...; "gone" is not listed).  Fails the
//  test after TIMEOUT s, or if an observer exits.  Returns the seconds it
//  took.
static inline double
tmc_wait_all (tmc_agent_t **observers, int count, const char *name, const char *states,
              double timeout)
{
    double start = tmu_now ();
    bool done [TMC_AGENTS_MAX] = { false };
    int remaining = count;
    while (1) {
        for (int i = 0; i < count; i++) {
            if (done [i])
                continue;
            tmc_assert_running (observers [i]);
            json_t *members = tmc_members (observers [i]);
            if (!members)
                tmc_assert_running (observers [i]);     //  It died answering?
            const char *state = members ? tmc_state (members, name) : "(no answer)";
            if (members && tmc_state_in (state, states)) {
                done [i] = true;
                remaining--;
            }
            else
            if (tmu_now () - start > timeout) {
                char *text = members ? json_dumps (members, JSON_INDENT (1)) : strdup ("-");
                char *tail = tmc_log_tail (observers [i], 1500);
                cr_assert_fail ("after %.1f s, '%s' sees '%s' %s, not %s\n%s\n%s",
                                timeout, observers [i]->name, name, state, states, text, tail);
            }
            json_decref (members);
        }
        if (remaining == 0)
            return tmu_now () - start;
        usleep (TMC_POLL_US);
    }
}

//  tmc_wait_all with one observer.
static inline double
tmc_wait_state (tmc_agent_t *observer, const char *name, const char *states, double timeout)
{
    return tmc_wait_all (&observer, 1, name, states, timeout);
}

//  Waits until AGENT answers and is a member (its own entry alive).
static inline double
tmc_wait_ready (tmc_agent_t *agent, double timeout)
{
    return tmc_wait_state (agent, agent->name, "alive", timeout);
}

//  Waits until each of the COUNT AGENTS sees every one of them alive.
static inline double
tmc_wait_mesh (tmc_agent_t **agents, int count, double timeout)
{
    double start = tmu_now ();
    for (int i = 0; i < count; i++)
        tmc_wait_all (agents, count, agents [i]->name, "alive",
                      timeout - (tmu_now () - start));
    return tmu_now () - start;
}

//  Sends SIGNAL to AGENT (the agent process itself).
static inline void
tmc_signal (tmc_agent_t *agent, int signal)
{
    cr_assert (agent->pid > 0, "agent '%s' is not running", agent->name);
    cr_assert_eq (kill (agent->pid, signal), 0, "kill '%s': %s", agent->name,
                  strerror (errno));
}

//  Waits at most TIMEOUT s for AGENT to exit and reaps it.  Returns its
//  exit status (code, or 128 + signal), or -1 if it is still running.
static inline int
tmc_wait_exit (tmc_agent_t *agent, double timeout)
{
    double end = tmu_now () + timeout;
    while (!tmc_exited (agent)) {
        if (tmu_now () > end)
            return -1;
        usleep (2000);
    }
    return agent->status;
}

//  SIGTERM: AGENT leaves gracefully.  Returns its exit status; fails the
//  test if it does not exit within 10 s.
static inline int
tmc_stop (tmc_agent_t *agent)
{
    tmc_signal (agent, SIGTERM);
    int status = tmc_wait_exit (agent, 10);
    cr_assert_neq (status, -1, "agent '%s' did not exit within 10 s of SIGTERM", agent->name);
    return status;
}

//  SIGKILL to AGENT's process group, then reaps it.
static inline void
tmc_kill (tmc_agent_t *agent)
{
    cr_assert (agent->pid > 0, "agent '%s' is not running", agent->name);
    kill (-agent->pid, SIGKILL);
    kill (agent->pid, SIGKILL);
    cr_assert_neq (tmc_wait_exit (agent, 10), -1, "agent '%s' survived SIGKILL", agent->name);
}

//  SIGSTOP and SIGCONT: the agent freezes, as a starved machine would.
static inline void
tmc_pause (tmc_agent_t *agent)
{
    tmc_signal (agent, SIGSTOP);
}

static inline void
tmc_resume (tmc_agent_t *agent)
{
    tmc_signal (agent, SIGCONT);
}

//  Kills and reaps every agent this test started and removes their data
//  directories.  The suite's .fini: it runs after a failed assertion too.
static inline void
tmc_cleanup (void)
{
    for (int i = 0; i < tmc_agent_count; i++) {
        tmc_agent_t *agent = &tmc_agents [i];
        if (agent->pid > 0) {
            kill (-agent->pid, SIGKILL);
            kill (agent->pid, SIGKILL);
            waitpid (agent->pid, NULL, 0);
            agent->pid = 0;
        }
        if (agent->dir) {
            tmu_rmrf (agent->dir);
            free (agent->dir);
            agent->dir = NULL;
        }
    }
    tmc_agent_count = 0;
}

//  Runs `testmesh stats` on AGENT; fails the test if it does not answer.
static inline json_t *
tmc_stats (tmc_agent_t *agent)
{
    tmu_run_t run = tmu_testmesh (15, "stats", "--data", agent->dir);
    cr_assert_eq (run.status, 0, "stats on '%s': exit %d\n%s", agent->name, run.status,
                  run.err);
    json_t *stats = json_loads (run.out, 0, NULL);
    cr_assert_not_null (stats, "stats on '%s' is not JSON:\n%s", agent->name, run.out);
    tmu_run_free (&run);
    return stats;
}

//  The counter at PATH ("accepted", "dropped.garbage") in STATS, or -1.
static inline long long
tmc_counter (json_t *stats, const char *path)
{
    char key [128];
    json_t *node = stats;
    while (node && *path) {
        size_t length = strcspn (path, ".");
        snprintf (key, sizeof key, "%.*s", (int) length, path);
        node = json_object_get (node, key);
        path += length + (path [length] == '.');
    }
    return json_is_integer (node) ? (long long) json_integer_value (node) : -1;
}

//  Waits until AGENT's counter at PATH is at least MINIMUM.  Returns its
//  value; fails the test with the stats after TIMEOUT s.
static inline long long
tmc_wait_counter (tmc_agent_t *agent, const char *path, long long minimum, double timeout)
{
    double end = tmu_now () + timeout;
    while (1) {
        json_t *stats = tmc_stats (agent);
        long long value = tmc_counter (stats, path);
        if (value >= minimum) {
            json_decref (stats);
            return value;
        }
        if (tmu_now () > end) {
            char *text = json_dumps (stats, JSON_INDENT (1));
            cr_assert_fail ("after %.1f s, '%s' has %s = %lld, want >= %lld\n%s",
                            timeout, agent->name, path, value, minimum, text);
        }
        json_decref (stats);
        usleep (TMC_POLL_US);
    }
}

//  AGENT's own peer address ("127.0.0.1:PORT", caller frees), from
//  `members --json`.
static inline char *
tmc_address (tmc_agent_t *agent)
{
    json_t *members = tmc_members_of (agent);
    json_t *self = tmc_member (members, agent->name);
    cr_assert_not_null (self, "'%s' does not list itself", agent->name);
    char *address = strdup (json_string_value (json_object_get (self, "address")));
    json_decref (members);
    return address;
}

//  A CLI started in the background (tmc_cli_start), its stdout and
//  stderr in DIR/cli.out and DIR/cli.err.
typedef struct {
    pid_t pid;
    char out [4200];
    char err [4200];
    int status;                 //  Exit code once waited for, else -1
} tmc_cli_t;

static inline void
tmc_cli_start (tmc_cli_t *cli, const char *dir, char *const argv [])
{
    snprintf (cli->out, sizeof cli->out, "%s/cli.out", dir);
    snprintf (cli->err, sizeof cli->err, "%s/cli.err", dir);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_addopen (&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen (&actions, 1, cli->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen (&actions, 2, cli->err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int rc = posix_spawn (&cli->pid, argv [0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy (&actions);
    cr_assert_eq (rc, 0, "cannot spawn %s", argv [0]);
    cli->status = -1;
}

//  Waits up to TIMEOUT s for the CLI to exit; returns its exit code (or
//  128 + signal).  Fails the test, killing it, at the deadline.
static inline int
tmc_cli_wait (tmc_cli_t *cli, double timeout)
{
    double end = tmu_now () + timeout;
    int wstatus;
    while (waitpid (cli->pid, &wstatus, WNOHANG) != cli->pid) {
        if (tmu_now () > end) {
            kill (cli->pid, SIGKILL);
            waitpid (cli->pid, NULL, 0);
            char *err = tmu_slurp (cli->err);
            cr_assert_fail ("the CLI did not exit within %.0f s; stderr:\n%s", timeout, err);
        }
        usleep (10000);
    }
    cli->status = WIFEXITED (wstatus) ? WEXITSTATUS (wstatus) : 128 + WTERMSIG (wstatus);
    return cli->status;
}

#endif
