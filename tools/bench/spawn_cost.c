/*  spawn_cost.c - what starting one test process costs, and whether the
    spawning process's size changes it.  A benchmark tool: it prints
    figures and fails only on errors.  docs/benchmarks.md, "Distributed
    runs", quotes it to tell the spawn's own cost from the CPU a burst of
    spawns shares on a small machine.

    spawn-cost [--fds N] [--threads T] [--heap MB] [--reps R]
        Opens N extra descriptors (half sockets, half eventfds, as an
        agent's ZeroMQ sockets and mailboxes are), starts T idle threads
        and touches MB MiB of heap, then R times (default 500) spawns
        /bin/true and waits for it, two ways, alternating:
        - tm_proc_spawn, as the executor does (pipes, a process group,
          a pidfd, every other descriptor closed in the child);
        - the peer: plain posix_spawn with no file actions.
        Prints the median and p90 of each, in ms, from the call to its
        return (glibc's posix_spawn returns once the child has exec'd),
        and their ratio.  Waiting for the exit is not timed.
*/
#include "tm_proc.h"
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>

extern char **environ;

static void *
s_idle (void *arg)
{
    (void) arg;
    while (true)
        pause ();
    return NULL;
}

static int
s_compare (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static void
s_usage (void)
{
    fprintf (stderr, "usage: spawn-cost [--fds N] [--threads T] [--heap MB] [--reps R]\n");
    exit (2);
}

int
main (int argc, char **argv)
{
    long fds = 0, threads = 0, heap = 0, reps = 500;
    for (int i = 1; i < argc; i++) {
        long *value = streq (argv [i], "--fds") ? &fds
                    : streq (argv [i], "--threads") ? &threads
                    : streq (argv [i], "--heap") ? &heap
                    : streq (argv [i], "--reps") ? &reps : NULL;
        char *end = NULL;
        if (!value || i + 1 >= argc)
            s_usage ();
        *value = strtol (argv [++i], &end, 10);
        if (*end || *value < 0 || *value > 100000)
            s_usage ();
    }
    if (reps < 1)
        s_usage ();
    for (long i = 0; i < fds; i++) {
        int fd = i % 2 ? eventfd (0, EFD_CLOEXEC)
                       : socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            fprintf (stderr, "spawn-cost: descriptor %ld: %s\n", i, strerror (errno));
            return 1;
        }
    }
    for (long i = 0; i < threads; i++) {
        pthread_t thread;
        if (pthread_create (&thread, NULL, s_idle, NULL) != 0) {
            fprintf (stderr, "spawn-cost: cannot start thread %ld\n", i);
            return 1;
        }
    }
    //  Touched, so that the pages are really ours
    char *block = heap ? (char *) malloc ((size_t) heap << 20) : NULL;
    for (size_t at = 0; block && at < ((size_t) heap << 20); at += 4096)
        block [at] = 1;
    tm_proc_init ();
    double *ours = (double *) calloc ((size_t) reps, sizeof (double));
    double *peer = (double *) calloc ((size_t) reps, sizeof (double));
    char *args [] = { "/bin/true", NULL };
    for (long i = 0; i < reps; i++) {
        char *err = NULL;
        double start = tm_now ();
        tm_proc_t *proc = tm_proc_spawn (args, NULL, NULL, 1024, &err);
        ours [i] = (tm_now () - start) * 1000;
        if (!proc) {
            fprintf (stderr, "spawn-cost: %s\n", err);
            return 1;
        }
        while (!tm_proc_reap (proc))
            usleep (100);
        tm_proc_destroy (&proc);

        pid_t pid;
        start = tm_now ();
        int rc = posix_spawn (&pid, args [0], NULL, NULL, args, environ);
        peer [i] = (tm_now () - start) * 1000;
        if (rc != 0) {
            fprintf (stderr, "spawn-cost: posix_spawn: %s\n", strerror (rc));
            return 1;
        }
        waitpid (pid, NULL, 0);
    }
    qsort (ours, (size_t) reps, sizeof (double), s_compare);
    qsort (peer, (size_t) reps, sizeof (double), s_compare);
    size_t half = (size_t) reps / 2, p90 = (size_t) reps * 9 / 10;
    printf ("spawn of /bin/true, %ld reps, %ld extra descriptors, %ld idle threads, "
            "%ld MiB heap:\n", reps, fds, threads, heap);
    printf ("  tm_proc_spawn           p50 %.3f ms, p90 %.3f ms\n", ours [half], ours [p90]);
    printf ("  peer: bare posix_spawn  p50 %.3f ms, p90 %.3f ms\n", peer [half], peer [p90]);
    printf ("  ratio tm_proc_spawn / posix_spawn  p50 %.2f\n", ours [half] / peer [half]);
    free (ours);
    free (peer);
    free (block);
    return 0;
}
