/*  tm_guard.c - an agent's test processes die with it, however it dies.

    See tm_guard.h for the design: the mark, the guard process, the
    restart sweep, and how a process is known to be ours before it is
    killed.
*/
#include "tm_guard.h"
#include "tm_proc.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct _tm_guard_t {
    pthread_mutex_t lock;       //  Over started, pid and pipe_fd: the
                                //  guard starts from whichever thread
                                //  needs it first (tm_guard_start)
    bool started;               //  Start tried (it may have failed)
    pid_t pid;                  //  The guard process, 0 before it started
    int pipe_fd;                //  Write end of its stdin: our death notice
    char *mark;                 //  KEY/INCARNATION
};

//  The start time of process PID, in clock ticks since boot (field 22 of
//  /proc/PID/stat), or 0 if it cannot be read (gone, or not ours to read).
static unsigned long long
s_start_time (pid_t pid)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char line [1024];
    ssize_t size = read (fd, line, sizeof line - 1);
    close (fd);
    if (size <= 0)
        return 0;
    line [size] = 0;
    //  The command name (field 2) may hold spaces and parentheses: the
    //  fields we count start after its last ')'
    char *field = strrchr (line, ')');
    for (int number = 2; field && number < 22; number++) {
        field = strchr (field + 1, ' ');
        if (field)
            while (field [1] == ' ')
                field++;
    }
    return field ? strtoull (field + 1, NULL, 10) : 0;
}

//  True if the environment of PID sets TM_GUARD_ENV to VALUE (with
//  PREFIX, to a value that starts with VALUE).
static bool
s_marked (pid_t pid, const char *value, bool prefix)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/environ", (int) pid);
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;           //  Gone, a zombie, or another user's
    //  The whole of it: our mark may come last, after a long environment
    size_t size = 0, max = 16384;
    char *data = (char *) malloc (max + 1);
    assert (data);
    ssize_t got;
    while ((got = read (fd, data + size, max - size)) > 0 || (got < 0 && errno == EINTR))
        if (got > 0 && (size += (size_t) got) == max) {
            max *= 2;
            data = (char *) realloc (data, max + 1);
            assert (data);
        }
    close (fd);
    data [size] = 0;
    const char *key = TM_GUARD_ENV "=";
    size_t key_size = strlen (key);
    size_t value_size = strlen (value);
    bool marked = false;
    for (size_t i = 0; i < size && !marked; i += strlen (data + i) + 1)
        if (strncmp (data + i, key, key_size) == 0) {
            const char *its = data + i + key_size;
            marked = prefix ? strncmp (its, value, value_size) == 0 : streq (its, value);
        }
    free (data);
    return marked;
}

//  True once the process PIDFD refers to has exited.
static bool
s_pidfd_exited (int pidfd)
{
    struct pollfd item = { pidfd, POLLIN, 0 };
    return poll (&item, 1, 0) > 0;
}

//  Pids killed by this sweep, so that one still dying is counted once.
typedef struct {
    pid_t *pids;                //  Killed so far
    size_t size;                //  How many
    size_t max;                 //  Room
} s_pidset_t;

static bool
s_pidset_has (s_pidset_t *set, pid_t pid)
{
    for (size_t i = 0; i < set->size; i++)
        if (set->pids [i] == pid)
            return true;
    return false;
}

static void
s_pidset_add (s_pidset_t *set, pid_t pid)
{
    if (set->size == set->max) {
        set->max = set->max ? set->max * 2 : 64;
        set->pids = (pid_t *) realloc (set->pids, set->max * sizeof (pid_t));
        assert (set->pids);
    }
    set->pids [set->size++] = pid;
}

//  One look at every process.  Returns how many marked ones it killed.
static int
s_kill_pass (const char *value, bool prefix, s_pidset_t *killed)
{
    DIR *proc = opendir ("/proc");
    if (!proc) {
        tm_warn ("guard", "cannot list /proc: %s", strerror (errno));
        return 0;
    }
    pid_t self = getpid ();
    int found = 0;
    struct dirent *entry;
    while ((entry = readdir (proc))) {
        char *end;
        long number = strtol (entry->d_name, &end, 10);
        if (*end || number <= 0)
            continue;
        pid_t pid = (pid_t) number;
        if (pid == self || s_pidset_has (killed, pid))
            continue;
        //  Hold the process before looking at it: whatever the pid names
        //  later, the pidfd still names what we looked at
        int pidfd = pidfd_open (pid, 0);
        if (pidfd < 0 && errno != ENOSYS)
            continue;           //  Gone already
        unsigned long long started = pidfd < 0 ? s_start_time (pid) : 0;
        bool ours = s_marked (pid, value, prefix);
        if (ours)
            ours = pidfd >= 0 ? !s_pidfd_exited (pidfd)
                              : started && s_start_time (pid) == started;
        if (ours) {
            //  Its group first, if it leads one (a test's main process
            //  does): members that cleared their environment go with it.
            //  The group id cannot have been reused: its leader is alive.
            if (getpgid (pid) == pid)
                kill (-pid, SIGKILL);
            if (pidfd >= 0)
                pidfd_send_signal (pidfd, SIGKILL, NULL, 0);
            else
                kill (pid, SIGKILL);
            s_pidset_add (killed, pid);
            found++;
        }
        if (pidfd >= 0)
            close (pidfd);
    }
    closedir (proc);
    return found;
}

int
tm_guard_kill_marked (const char *value, bool prefix)
{
    assert (value && *value);
    s_pidset_t killed = { NULL, 0, 0 };
    //  A marked process may fork between our look and our kill; its child
    //  carries the mark too and the next pass finds it.  The bound only
    //  guards against a fork bomb outpacing us.
    for (int pass = 0; pass < 64 && s_kill_pass (value, prefix, &killed) > 0; pass++)
        ;
    int count = (int) killed.size;
    free (killed.pids);
    return count;
}

//  Starts the guard process.  Caller holds self->lock.
static int
s_start (tm_guard_t *self)
{
    int fds [2];
    if (pipe2 (fds, O_CLOEXEC) != 0) {
        tm_warn ("guard", "cannot start the guard: pipe: %s; tests would outlive "
                 "this agent if it were killed", strerror (errno));
        return -1;
    }
    //  Our environment without any mark: an agent that runs inside an
    //  outer agent's test carries that agent's mark, and the outer guard
    //  must not kill our guard, which our tests (marked as ours) need
    size_t count = tm_strv_size (environ);
    char **envp = (char **) calloc (count + 1, sizeof (char *));
    assert (envp);
    size_t size = 0;
    for (size_t i = 0; i < count; i++)
        if (strncmp (environ [i], TM_GUARD_ENV "=", strlen (TM_GUARD_ENV "=")) != 0)
            envp [size++] = environ [i];
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_adddup2 (&actions, fds [0], 0);
    posix_spawn_file_actions_addopen (&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addclosefrom_np (&actions, 3);
    //  Its stderr is ours: its lines go to the agent's log
    //  A group of its own: a kill of our group (a terminal's, a
    //  supervisor's) must leave it to do its work
    posix_spawnattr_t attr;
    posix_spawnattr_init (&attr);
    tm_proc_spawnattr_child (&attr);
    char *argv [] = { "testmesh", "__guard", self->mark, NULL };
    pid_t pid;
    int rc = posix_spawn (&pid, "/proc/self/exe", &actions, &attr, argv, envp);
    if (rc == 0)
        tm_proc_own (pid);
    posix_spawnattr_destroy (&attr);
    posix_spawn_file_actions_destroy (&actions);
    free (envp);
    close (fds [0]);
    if (rc != 0) {
        close (fds [1]);
        tm_warn ("guard", "cannot start the guard: %s; tests would outlive this agent "
                 "if it were killed", strerror (rc));
        return -1;
    }
    self->pid = pid;
    self->pipe_fd = fds [1];
    tm_debug ("guard", "guard %d watches processes marked %s", (int) pid, self->mark);
    return 0;
}

//  tm_proc's spawn hook: the guard before the first marked process.
static void
s_spawn_hook (void *arg)
{
    tm_guard_start ((tm_guard_t *) arg);
}

tm_guard_t *
tm_guard_new (const char *datadir, char **err)
{
    assert (datadir);
    struct stat info;
    if (stat (datadir, &info) != 0) {
        tm_fail (err, "cannot start the guard: %s: %s", datadir, strerror (errno));
        return NULL;
    }
    //  KEY names the directory itself, however it is reached (a
    //  symbolic link, a relative path)
    char key [64];
    snprintf (key, sizeof key, "%llx:%llx/", (unsigned long long) info.st_dev,
              (unsigned long long) info.st_ino);
    int killed = tm_guard_kill_marked (key, true);
    if (killed)
        tm_warn ("guard", "killed %d processes an earlier agent on %s left running",
                 killed, datadir);
    tm_proc_init ();

    tm_guard_t *self = (tm_guard_t *) zmalloc (sizeof (tm_guard_t));
    pthread_mutex_init (&self->lock, NULL);
    self->pipe_fd = -1;
    self->mark = tm_strdupf ("%s%d.%llu", key, (int) getpid (), s_start_time (getpid ()));
    char *entry = tm_strdupf ("%s=%s", TM_GUARD_ENV, self->mark);
    tm_proc_set_env (entry);
    free (entry);
    tm_proc_set_spawn_hook (s_spawn_hook, self);
    return self;
}

int
tm_guard_start (tm_guard_t *self)
{
    assert (self);
    pthread_mutex_lock (&self->lock);
    if (!self->started) {
        self->started = true;
        s_start (self);
    }
    int rc = self->pid > 0 ? 0 : -1;
    pthread_mutex_unlock (&self->lock);
    return rc;
}

void
tm_guard_destroy (tm_guard_t **self_p)
{
    assert (self_p);
    tm_guard_t *self = *self_p;
    if (!self)
        return;
    tm_proc_set_spawn_hook (NULL, NULL);
    tm_proc_set_env (NULL);
    if (self->pipe_fd >= 0) {
        //  "We leave cleanly": it exits without a sweep
        if (write (self->pipe_fd, "q", 1) != 1)
            tm_debug ("guard", "cannot tell the guard: %s", strerror (errno));
        close (self->pipe_fd);
    }
    if (self->pid > 0) {
        //  It exits at once; should it hang, it must not hold us up
        int status = 0;
        pid_t got;
        double end = tm_now () + 2;
        while ((got = waitpid (self->pid, &status, WNOHANG)) == 0 && tm_now () < end)
            usleep (2000);
        if (got == 0) {
            tm_warn ("guard", "guard %d did not exit: killed", (int) self->pid);
            kill (self->pid, SIGKILL);
            while (waitpid (self->pid, &status, 0) < 0 && errno == EINTR)
                ;
        }
        else
        if (got > 0 && WIFSIGNALED (status))
            tm_warn ("guard", "guard %d had been killed (signal %d): our tests were "
                     "not guarded", (int) self->pid, WTERMSIG (status));
        tm_proc_disown (self->pid);
    }
    pthread_mutex_destroy (&self->lock);
    free (self->mark);
    free (self);
    *self_p = NULL;
}

const char *
tm_guard_mark (tm_guard_t *self)
{
    assert (self);
    return self->mark;
}

pid_t
tm_guard_pid (tm_guard_t *self)
{
    assert (self);
    pthread_mutex_lock (&self->lock);
    pid_t pid = self->pid;
    pthread_mutex_unlock (&self->lock);
    return pid;
}

int
tm_guard_main (int argc, char **argv)
{
    if (argc != 2 || !*argv [1]) {
        fprintf (stderr, "testmesh: __guard is started by the agent, not by hand\n");
        return TM_EXIT_ERROR;
    }
    const char *mark = argv [1];
    if (!getenv ("TESTMESH_LOG"))
        tm_log_threshold = TM_LOG_INFO;         //  As the agent's
    //  Only the end of our stdin ends us: a polite signal to everyone
    //  (pkill, a session's hangup) must not leave the agent unguarded
    signal (SIGINT, SIG_IGN);
    signal (SIGTERM, SIG_IGN);
    signal (SIGHUP, SIG_IGN);
    signal (SIGPIPE, SIG_IGN);
    bool clean = false;
    char buffer [16];
    ssize_t got;
    while ((got = read (0, buffer, sizeof buffer)) != 0)
        if (got > 0)
            clean = true;
        else
        if (errno != EINTR)
            break;              //  Not a pipe we can read: take it as the end
    if (clean)
        return TM_EXIT_OK;
    //  The agent died.  A child it was spawning at that moment gets the
    //  mark only when it execs, which can take a while on a busy machine:
    //  look again twice, shortly after
    int killed = 0;
    const useconds_t delays [] = { 0, 100000, 400000 };
    for (size_t i = 0; i < sizeof delays / sizeof delays [0]; i++) {
        if (delays [i])
            usleep (delays [i]);
        killed += tm_guard_kill_marked (mark, false);
    }
    if (killed)
        tm_warn ("guard", "the agent died: killed %d of its processes", killed);
    else
        tm_info ("guard", "the agent died; none of its processes was left");
    return TM_EXIT_OK;
}
