/*  tm_proc.c - one child process: spawned, captured, bounded, killed, reaped.

    See tm_proc.h for the invariants.  Two details matter for "no orphans,
    no zombies, ever":

    - The registry: every live tm_proc is listed, under a mutex, from just
      before posix_spawn until it is destroyed.  tm_proc_sweep_orphans
      holds the same mutex, so a child that is being spawned can never be
      mistaken for an orphan.
    - The order on exit: tm_proc_reap first waits with WNOWAIT, so the
      exited leader stays a zombie and its pid (which is also the process
      group id) cannot be reused; only then does it kill the group and
      reap the leader.
*/
#include "tm_proc.h"
#include "tm_task.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

//  The marker every child carries, so strays can be traced to their test.
#define TM_PROC_ENV_ID "TESTMESH_TEST_ID="

//  One output stream kept within a bound: the first HEAD_MAX bytes, and
//  the last TAIL_MAX bytes in a ring.  Memory grows only with what the
//  child actually writes, up to the bound.
typedef struct {
    int fd;                     //  Read end of the pipe, -1 at EOF
    char *head;                 //  First bytes, up to head_max
    size_t head_size;           //  Bytes in head
    size_t head_max;            //  Bound on head
    char *tail;                 //  Ring of the last bytes after head filled
    size_t tail_max;            //  Ring size
    size_t tail_pos;            //  Next write position in the ring
    uint64_t total;             //  Bytes written by the child to this stream
    bool taken;                 //  Output handed to the caller
} s_capture_t;

struct _tm_proc_t {
    pid_t pid;                  //  Child pid, also its process group id
    int pidfd;                  //  Readable once the child exits
    bool exited;                //  Reaped
    int exit_code;              //  Exit status, -1 if signalled
    int signal;                 //  Signal that ended it, 0 if it exited
    s_capture_t out;            //  Its stdout
    s_capture_t err;            //  Its stderr
};

//  Registry of live children (see file banner).
static pthread_mutex_t s_registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t *s_registry;       //  Pids owned by a live tm_proc, or tm_proc_own'ed
static size_t s_registry_size;
static size_t s_registry_max;

//  The entry tm_proc_set_env gave every child, or NULL.
static char *s_env_extra;

//  What tm_proc_set_spawn_hook set: called before every spawn.
static tm_proc_hook_fn *s_spawn_hook;
static void *s_spawn_hook_arg;

static void
s_registry_add (pid_t pid)
{
    //  Caller holds s_registry_lock
    if (s_registry_size == s_registry_max) {
        s_registry_max = s_registry_max ? s_registry_max * 2 : 64;
        s_registry = (pid_t *) realloc (s_registry, s_registry_max * sizeof (pid_t));
        assert (s_registry);
    }
    s_registry [s_registry_size++] = pid;
}

static void
s_registry_remove (pid_t pid)
{
    pthread_mutex_lock (&s_registry_lock);
    for (size_t i = 0; i < s_registry_size; i++)
        if (s_registry [i] == pid) {
            s_registry [i] = s_registry [--s_registry_size];
            break;
        }
    pthread_mutex_unlock (&s_registry_lock);
}

static bool
s_registry_has (pid_t pid)
{
    //  Caller holds s_registry_lock
    for (size_t i = 0; i < s_registry_size; i++)
        if (s_registry [i] == pid)
            return true;
    return false;
}

void
tm_proc_own (pid_t pid)
{
    assert (pid > 0);
    pthread_mutex_lock (&s_registry_lock);
    s_registry_add (pid);
    pthread_mutex_unlock (&s_registry_lock);
}

void
tm_proc_disown (pid_t pid)
{
    s_registry_remove (pid);
}

void
tm_proc_set_env (const char *entry)
{
    assert (!entry || strchr (entry, '='));
    free (s_env_extra);
    s_env_extra = entry ? strdup (entry) : NULL;
}

void
tm_proc_set_spawn_hook (tm_proc_hook_fn *hook, void *arg)
{
    s_spawn_hook = hook;
    s_spawn_hook_arg = arg;
}

void
tm_proc_init (void)
{
    //  Orphaned descendants of our children come back to us instead of
    //  to init, so that the sweep can find and kill them.
    if (prctl (PR_SET_CHILD_SUBREAPER, 1) != 0)
        tm_warn ("proc", "cannot become a child subreaper: %s", strerror (errno));
}

//  True if the "K=V" strings A and B set the same variable.
static bool
s_same_key (const char *a, const char *b)
{
    const char *eq = strchr (a, '=');
    size_t keylen = eq ? (size_t) (eq - a) : strlen (a);
    return strncmp (a, b, keylen) == 0 && (b [keylen] == '=' || b [keylen] == 0);
}

//  Builds the child's environment: ours, then ENV's entries, then
//  tm_proc_set_env's entry, then the marker; a later entry for a
//  variable replaces an earlier one, so getenv () and a shell agree on
//  every value.  Returns an array of borrowed pointers (free only the
//  array).
static char **
s_build_env (char *const env [], char *marker)
{
    size_t ours = tm_strv_size (environ);
    size_t extra = tm_strv_size (env);
    char **envp = (char **) malloc ((ours + extra + 3) * sizeof (char *));
    assert (envp);
    size_t size = 0;
    for (size_t i = 0; i < ours + extra + 2; i++) {
        char *entry = i < ours ? environ [i]
                    : i < ours + extra ? env [i - ours]
                    : i == ours + extra ? s_env_extra : marker;
        if (!entry || !strchr (entry, '='))
            continue;
        size_t j;
        for (j = 0; j < size; j++)
            if (s_same_key (entry, envp [j]))
                break;
        envp [j] = entry;
        if (j == size)
            size++;
    }
    envp [size] = NULL;
    return envp;
}

static int
s_pipe (int fds [2])
{
    if (pipe2 (fds, O_CLOEXEC) != 0)
        return -1;
    //  Only our end is non-blocking; the child's stays blocking, as a
    //  test expects of its stdout.
    fcntl (fds [0], F_SETFL, fcntl (fds [0], F_GETFL) | O_NONBLOCK);
    return 0;
}

void
tm_proc_spawnattr_child (posix_spawnattr_t *attr)
{
    assert (attr);
    sigset_t mask;
    sigemptyset (&mask);
    posix_spawnattr_setsigmask (attr, &mask);
    sigset_t defaults;
    sigfillset (&defaults);
    posix_spawnattr_setsigdefault (attr, &defaults);
    posix_spawnattr_setpgroup (attr, 0);
    posix_spawnattr_setflags (attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK
                                    | POSIX_SPAWN_SETSIGDEF);
}

tm_proc_t *
tm_proc_spawn (char *const argv [], const char *cwd, char *const env [],
               size_t limit, char **err)
{
    assert (argv && argv [0]);
    int out_pipe [2] = { -1, -1 };
    int err_pipe [2] = { -1, -1 };
    if (s_pipe (out_pipe) || s_pipe (err_pipe)) {
        tm_fail (err, "cannot create pipes: %s", strerror (errno));
        goto fail;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_addopen (&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2 (&actions, out_pipe [1], 1);
    posix_spawn_file_actions_adddup2 (&actions, err_pipe [1], 2);
    if (cwd)
        posix_spawn_file_actions_addchdir_np (&actions, cwd);
    //  Nothing of ours leaks into a test: not ZeroMQ's sockets, not RocksDB's files
    posix_spawn_file_actions_addclosefrom_np (&actions, 3);

    posix_spawnattr_t attr;
    posix_spawnattr_init (&attr);
    tm_proc_spawnattr_child (&attr);

    //  The test's id travels in env[] when the caller put it there;
    //  otherwise the marker is empty, which still identifies a stray.
    char *marker = NULL;
    bool has_marker = false;
    for (size_t i = 0; env && env [i]; i++)
        if (strncmp (env [i], TM_PROC_ENV_ID, strlen (TM_PROC_ENV_ID)) == 0)
            has_marker = true;
    if (!has_marker)
        marker = (char *) TM_PROC_ENV_ID;
    char **envp = s_build_env (env, marker);
    if (s_spawn_hook)
        s_spawn_hook (s_spawn_hook_arg);

    pid_t pid;
    pthread_mutex_lock (&s_registry_lock);
    int rc = strchr (argv [0], '/')
           ? posix_spawn (&pid, argv [0], &actions, &attr, argv, envp)
           : posix_spawnp (&pid, argv [0], &actions, &attr, argv, envp);
    if (rc == 0)
        s_registry_add (pid);
    pthread_mutex_unlock (&s_registry_lock);

    free (envp);
    posix_spawnattr_destroy (&attr);
    posix_spawn_file_actions_destroy (&actions);
    close (out_pipe [1]);
    close (err_pipe [1]);
    out_pipe [1] = err_pipe [1] = -1;
    if (rc != 0) {
        if (rc == ENOENT && cwd && access (cwd, F_OK) != 0)
            tm_fail (err, "cannot change to directory %s: %s", cwd, strerror (errno));
        else
            tm_fail (err, "cannot execute %s: %s", argv [0], strerror (rc));
        goto fail;
    }
    tm_proc_t *self = (tm_proc_t *) zmalloc (sizeof (tm_proc_t));
    self->pid = pid;
    self->pidfd = pidfd_open (pid, 0);
    self->exit_code = -1;
    self->out.fd = out_pipe [0];
    self->err.fd = err_pipe [0];
    //  A quarter of the bound for the head, the rest for the tail: the
    //  end of a failing test's output is usually what explains it.
    self->out.head_max = self->err.head_max = limit / 4;
    self->out.tail_max = self->err.tail_max = limit - limit / 4;
    if (self->pidfd < 0)
        tm_warn ("proc", "pidfd_open (%d): %s; exits found by polling",
                 (int) pid, strerror (errno));
    return self;

fail:
    for (int i = 0; i < 2; i++) {
        if (out_pipe [i] >= 0)
            close (out_pipe [i]);
        if (err_pipe [i] >= 0)
            close (err_pipe [i]);
    }
    return NULL;
}

static void
s_capture_close (s_capture_t *capture)
{
    if (capture->fd >= 0) {
        close (capture->fd);
        capture->fd = -1;
    }
}

void
tm_proc_destroy (tm_proc_t **self_p)
{
    assert (self_p);
    tm_proc_t *self = *self_p;
    if (!self)
        return;
    if (!self->exited) {
        tm_proc_kill (self, SIGKILL);
        int status;
        while (waitpid (self->pid, &status, 0) < 0 && errno == EINTR)
            ;
        self->exited = true;
    }
    s_registry_remove (self->pid);
    s_capture_close (&self->out);
    s_capture_close (&self->err);
    if (self->pidfd >= 0)
        close (self->pidfd);
    free (self->out.head);
    free (self->out.tail);
    free (self->err.head);
    free (self->err.tail);
    free (self);
    *self_p = NULL;
}

int
tm_proc_stdout_fd (tm_proc_t *self)
{
    assert (self);
    return self->out.fd;
}

int
tm_proc_stderr_fd (tm_proc_t *self)
{
    assert (self);
    return self->err.fd;
}

int
tm_proc_pid_fd (tm_proc_t *self)
{
    assert (self);
    return self->pidfd;
}

pid_t
tm_proc_pid (tm_proc_t *self)
{
    assert (self);
    return self->pid;
}

static void
s_capture_append (s_capture_t *capture, const char *data, size_t size)
{
    capture->total += size;
    if (capture->head_size < capture->head_max) {
        size_t take = capture->head_max - capture->head_size;
        if (take > size)
            take = size;
        if (!capture->head) {
            capture->head = (char *) malloc (capture->head_max);
            assert (capture->head);
        }
        memcpy (capture->head + capture->head_size, data, take);
        capture->head_size += take;
        data += take;
        size -= take;
    }
    if (size == 0 || capture->tail_max == 0)
        return;
    if (!capture->tail) {
        capture->tail = (char *) malloc (capture->tail_max);
        assert (capture->tail);
    }
    //  Only the last tail_max bytes of this chunk can survive
    if (size > capture->tail_max) {
        data += size - capture->tail_max;
        size = capture->tail_max;
    }
    while (size) {
        size_t room = capture->tail_max - capture->tail_pos;
        size_t take = size < room ? size : room;
        memcpy (capture->tail + capture->tail_pos, data, take);
        capture->tail_pos = (capture->tail_pos + take) % capture->tail_max;
        data += take;
        size -= take;
    }
}

int
tm_proc_read (tm_proc_t *self, int fd)
{
    assert (self);
    s_capture_t *capture = fd == self->out.fd ? &self->out
                         : fd == self->err.fd ? &self->err : NULL;
    assert (capture && fd >= 0);
    char buffer [65536];
    //  Bounded loop: a child writing without pause must not starve the
    //  others polled by the same thread.
    for (int round = 0; round < 16; round++) {
        ssize_t got = read (fd, buffer, sizeof buffer);
        if (got > 0)
            s_capture_append (capture, buffer, (size_t) got);
        else
        if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
            s_capture_close (capture);
            return 1;
        }
        else
        if (errno == EAGAIN)
            return 0;
    }
    return 0;
}

static void
s_record_status (tm_proc_t *self, int status)
{
    self->exited = true;
    if (WIFEXITED (status)) {
        self->exit_code = WEXITSTATUS (status);
        self->signal = 0;
    }
    else {
        self->exit_code = -1;
        self->signal = WIFSIGNALED (status) ? WTERMSIG (status) : 0;
    }
}

bool
tm_proc_reap (tm_proc_t *self)
{
    assert (self);
    if (self->exited)
        return true;
    //  Look without reaping, so the pid (= process group id) stays ours
    //  while we kill whatever is left in the group.
    siginfo_t info;
    memset (&info, 0, sizeof info);
    if (waitid (P_PID, (id_t) self->pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0
    ||  info.si_pid == 0)
        return false;
    kill (-self->pid, SIGKILL);
    int status;
    while (waitpid (self->pid, &status, 0) < 0 && errno == EINTR)
        ;
    s_record_status (self, status);
    return true;
}

bool
tm_proc_exited (tm_proc_t *self)
{
    assert (self);
    return self->exited;
}

int
tm_proc_exit_code (tm_proc_t *self)
{
    assert (self && self->exited);
    return self->exit_code;
}

int
tm_proc_signal (tm_proc_t *self)
{
    assert (self && self->exited);
    return self->signal;
}

void
tm_proc_kill (tm_proc_t *self, int sig)
{
    assert (self);
    if (!self->exited)
        kill (-self->pid, sig);
}

void
tm_proc_take_output (tm_proc_t *self, int stream, char **data, size_t *size,
                     uint64_t *cut)
{
    assert (self && data && size && cut);
    assert (stream == 1 || stream == 2);
    s_capture_t *capture = stream == 1 ? &self->out : &self->err;
    assert (!capture->taken);
    capture->taken = true;

    uint64_t kept_tail = capture->total - capture->head_size;
    if (kept_tail > capture->tail_max)
        kept_tail = capture->tail_max;
    *cut = capture->total - capture->head_size - kept_tail;
    char marker [96] = "";
    if (*cut)
        snprintf (marker, sizeof marker,
                  "\n[... testmesh: %" PRIu64 " bytes cut ...]\n", *cut);
    size_t marker_size = strlen (marker);
    *size = capture->head_size + marker_size + (size_t) kept_tail;
    char *buffer = (char *) malloc (*size + 1);
    assert (buffer);
    memcpy (buffer, capture->head ? capture->head : "", capture->head_size);
    memcpy (buffer + capture->head_size, marker, marker_size);
    char *dest = buffer + capture->head_size + marker_size;
    if (kept_tail) {
        //  The ring's oldest byte is at tail_pos once it has wrapped
        size_t start = kept_tail < capture->tail_max ? 0 : capture->tail_pos;
        size_t first = capture->tail_max - start;
        if (first > kept_tail)
            first = (size_t) kept_tail;
        memcpy (dest, capture->tail + start, first);
        memcpy (dest + first, capture->tail, (size_t) kept_tail - first);
    }
    buffer [*size] = 0;
    *data = buffer;
}

//  Reads the TESTMESH_TEST_ID of a process into ID, or "" if unknown.
static void
s_stray_test_id (pid_t pid, char *id, size_t max)
{
    id [0] = 0;
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/environ", (int) pid);
    FILE *file = fopen (path, "re");
    if (!file)
        return;
    char buffer [16384];
    size_t size = fread (buffer, 1, sizeof buffer - 1, file);
    fclose (file);
    buffer [size] = 0;
    size_t keylen = strlen (TM_PROC_ENV_ID);
    for (size_t i = 0; i < size; i += strlen (buffer + i) + 1)
        if (strncmp (buffer + i, TM_PROC_ENV_ID, keylen) == 0) {
            snprintf (id, max, "%s", buffer + i + keylen);
            return;
        }
}

//  One pass over our children.  Returns how many it killed.
static int
s_sweep_pass (tm_proc_stray_fn *on_stray, void *arg)
{
    //  Our children are listed per thread in /proc/self/task/*/children
    //  (orphans are adopted by whichever thread the kernel picks).
    int killed = 0;
    DIR *tasks = opendir ("/proc/self/task");
    struct dirent *entry;
    while (tasks && (entry = readdir (tasks))) {
        if (entry->d_name [0] == '.')
            continue;
        char path [300];
        snprintf (path, sizeof path, "/proc/self/task/%s/children", entry->d_name);
        FILE *file = fopen (path, "re");
        if (!file)
            continue;
        int pid;
        while (fscanf (file, "%d", &pid) == 1) {
            if (pid <= 0 || s_registry_has (pid))
                continue;
            char id [256];
            s_stray_test_id (pid, id, sizeof id);
            if (on_stray && !on_stray (id, arg))
                continue;       //  Spared: its test still runs
            kill (pid, SIGKILL);
            int status;
            while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
                ;
            killed++;
            tm_info ("proc", "killed stray process %d left by test '%s'",
                     pid, *id ? id : "?");
        }
        fclose (file);
    }
    if (tasks)
        closedir (tasks);
    return killed;
}

int
tm_proc_sweep_orphans (tm_proc_stray_fn *on_stray, void *arg)
{
    pthread_mutex_lock (&s_registry_lock);
    //  A killed stray's children are adopted by us once it is reaped,
    //  after our scan: sweep again until a pass kills nothing.  The
    //  bound only guards against a fork bomb outpacing us.
    int killed = 0, pass;
    for (int round = 0; round < 64 && (pass = s_sweep_pass (on_stray, arg)) > 0; round++)
        killed += pass;
    pthread_mutex_unlock (&s_registry_lock);
    return killed;
}

//  Per thread: the CLI's listing watches its signalfd, and each of an
//  agent's listings its own eventfd (tm_listing.c), in a thread of its own
static __thread int s_cancel_fd = -1;
static bool s_run_sweep = true;

void
tm_proc_set_run_sweep (bool sweep)
{
    s_run_sweep = sweep;
}

void
tm_proc_set_cancel_fd (int fd)
{
    s_cancel_fd = fd;
}

int
tm_proc_run (char *const argv [], const char *cwd, double timeout, size_t limit,
             char **output, int *exit_code, int *signal, char **err)
{
    assert (argv && output && exit_code && signal);
    *output = NULL;
    tm_proc_t *proc = tm_proc_spawn (argv, cwd, NULL, limit, err);
    if (!proc)
        return -1;
    double deadline = tm_now () + timeout;
    int rc = 0;
    while (!proc->exited || proc->out.fd >= 0 || proc->err.fd >= 0) {
        struct pollfd items [4];
        int count = 0;
        if (proc->out.fd >= 0)
            items [count++] = (struct pollfd) { proc->out.fd, POLLIN, 0 };
        if (proc->err.fd >= 0)
            items [count++] = (struct pollfd) { proc->err.fd, POLLIN, 0 };
        if (!proc->exited && proc->pidfd >= 0)
            items [count++] = (struct pollfd) { proc->pidfd, POLLIN, 0 };
        int cancel = count;
        if (s_cancel_fd >= 0)
            items [count++] = (struct pollfd) { s_cancel_fd, POLLIN, 0 };
        double left = deadline - tm_now ();
        if (left <= 0 && proc->exited)
            break;              //  Pipes held open by a stray: stop reading
        if (left <= 0) {
            rc = tm_fail (err, "%s did not finish within %.0f s", argv [0], timeout);
            break;
        }
        //  Without a pidfd, poll the exit every 10 ms
        int wait_ms = proc->pidfd >= 0 ? (int) (left * 1000) + 1 : 10;
        if (poll (items, count, count ? wait_ms : 10) < 0 && errno != EINTR) {
            rc = tm_fail (err, "poll: %s", strerror (errno));
            break;
        }
        if (s_cancel_fd >= 0 && items [cancel].revents) {
            rc = tm_fail (err, "interrupted while running %s", argv [0]);
            break;
        }
        for (int i = 0; i < cancel; i++)
            if (items [i].revents && items [i].fd != proc->pidfd)
                tm_proc_read (proc, items [i].fd);
        if (!proc->exited && tm_proc_reap (proc)) {
            //  A daemon may hold the pipes open forever: once the leader
            //  is gone, give the pipes a short grace, then stop reading.
            if (tm_now () + 0.2 < deadline)
                deadline = tm_now () + 0.2;
        }
    }
    if (rc == 0) {
        *exit_code = proc->exit_code;
        *signal = proc->signal;
        size_t size;
        uint64_t cut;
        tm_proc_take_output (proc, 1, output, &size, &cut);
    }
    tm_proc_destroy (&proc);
    if (s_run_sweep)
        tm_proc_sweep_orphans (NULL, NULL);
    return rc;
}
