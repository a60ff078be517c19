/*  tm_common.c - logging, clocks and small string helpers shared by all modules. */
#include "tm_common.h"
#include <sys/utsname.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

tm_log_level_t tm_log_threshold = TM_LOG_WARN;

static const char *s_level_names [] = { "debug", "info", "warn", "error", "none" };

void
tm_log_write (tm_log_level_t level, const char *module, const char *fmt, ...)
{
    //  Format into one buffer and write it with a single fputs so that
    //  lines from several threads do not interleave.
    char line [1024];
    int off = snprintf (line, sizeof line, "testmesh: %s: %s: ",
                        s_level_names [level], module);
    va_list args;
    va_start (args, fmt);
    vsnprintf (line + off, sizeof line - off - 1, fmt, args);
    va_end (args);
    size_t len = strlen (line);
    line [len] = '\n';
    line [len + 1] = 0;
    fputs (line, stderr);
}

int
tm_log_set_level (const char *name)
{
    for (int i = TM_LOG_DEBUG; i <= TM_LOG_NONE; i++)
        if (streq (name, s_level_names [i])) {
            tm_log_threshold = (tm_log_level_t) i;
            return 0;
        }
    return -1;
}

double
tm_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

double
tm_wall_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static char *
s_vstrdupf (const char *fmt, va_list args)
{
    char *str = NULL;
    if (vasprintf (&str, fmt, args) < 0)
        abort ();               //  Out of memory: as CZMQ, we do not limp on
    return str;
}

char *
tm_strdupf (const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    char *str = s_vstrdupf (fmt, args);
    va_end (args);
    return str;
}

int
tm_fail (char **err, const char *fmt, ...)
{
    if (err && !*err) {
        va_list args;
        va_start (args, fmt);
        *err = s_vstrdupf (fmt, args);
        va_end (args);
    }
    return -1;
}

bool
tm_glob_match (const char *pattern, const char *name)
{
    return fnmatch (pattern, name, 0) == 0;
}

const char *
tm_signal_name (int sig)
{
    static const struct {
        int sig;
        const char *name;
    } s_signals [] = {
        { SIGHUP, "SIGHUP" }, { SIGINT, "SIGINT" }, { SIGQUIT, "SIGQUIT" },
        { SIGILL, "SIGILL" }, { SIGTRAP, "SIGTRAP" }, { SIGABRT, "SIGABRT" },
        { SIGBUS, "SIGBUS" }, { SIGFPE, "SIGFPE" }, { SIGKILL, "SIGKILL" },
        { SIGUSR1, "SIGUSR1" }, { SIGSEGV, "SIGSEGV" }, { SIGUSR2, "SIGUSR2" },
        { SIGPIPE, "SIGPIPE" }, { SIGALRM, "SIGALRM" }, { SIGTERM, "SIGTERM" },
        { SIGCHLD, "SIGCHLD" }, { SIGCONT, "SIGCONT" }, { SIGSTOP, "SIGSTOP" },
        { SIGTSTP, "SIGTSTP" }, { SIGTTIN, "SIGTTIN" }, { SIGTTOU, "SIGTTOU" },
        { SIGURG, "SIGURG" }, { SIGXCPU, "SIGXCPU" }, { SIGXFSZ, "SIGXFSZ" },
        { SIGVTALRM, "SIGVTALRM" }, { SIGPROF, "SIGPROF" }, { SIGWINCH, "SIGWINCH" },
        { SIGIO, "SIGIO" }, { SIGSYS, "SIGSYS" },
#ifdef SIGSTKFLT
        { SIGSTKFLT, "SIGSTKFLT" },
#endif
#ifdef SIGPWR
        { SIGPWR, "SIGPWR" },
#endif
    };
    //  "SIG" and any int fit: "SIG-2147483648" is 14 bytes and a NUL
    static __thread char s_unknown [16];
    for (size_t i = 0; i < sizeof s_signals / sizeof s_signals [0]; i++)
        if (s_signals [i].sig == sig)
            return s_signals [i].name;
    snprintf (s_unknown, sizeof s_unknown, "SIG%d", sig);
    return s_unknown;
}

char *
tm_path_search (const char *program, const char *cwd)
{
    assert (program && *program && !strchr (program, '/'));
    const char *path = getenv ("PATH");
    if (!path)
        path = "/bin:/usr/bin";
    char *here = NULL;          //  CWD, or our own, for relative entries
    char *found = NULL;
    const char *entry = path;
    while (!found) {
        size_t len = strcspn (entry, ":");
        char *candidate = NULL;
        if (len && entry [0] == '/')
            candidate = tm_strdupf ("%.*s/%s", (int) len, entry, program);
        else {
            if (!here)
                here = cwd ? strdup (cwd) : getcwd (NULL, 0);
            if (here && len)
                candidate = tm_strdupf ("%s/%.*s/%s", here, (int) len, entry, program);
            else
            if (here)
                candidate = tm_strdupf ("%s/%s", here, program);
        }
        struct stat st;
        if (candidate && strlen (candidate) < PATH_MAX
        &&  stat (candidate, &st) == 0 && S_ISREG (st.st_mode)
        &&  access (candidate, X_OK) == 0)
            found = candidate;
        else
            free (candidate);
        if (entry [len] == 0)
            break;
        entry += len + 1;
    }
    free (here);
    return found;
}

//  mkdir -p, with MODE for the directories it creates.
static int
s_mkdir_p (const char *path, mode_t mode)
{
    char *copy = strdup (path);
    for (char *slash = copy + 1; *slash; slash++)
        if (*slash == '/') {
            *slash = 0;
            if (mkdir (copy, mode) != 0 && errno != EEXIST) {
                free (copy);
                return -1;
            }
            *slash = '/';
        }
    int rc = mkdir (copy, mode) != 0 && errno != EEXIST ? -1 : 0;
    free (copy);
    return rc;
}

char *
tm_datadir_resolve (const char *option, char **err)
{
    char *path = NULL;
    const char *home = getenv ("HOME");
    const char *xdg = getenv ("XDG_DATA_HOME");
    if (option && *option)
        path = strdup (option);
    else
    if (getenv ("TESTMESH_HOME") && *getenv ("TESTMESH_HOME"))
        path = strdup (getenv ("TESTMESH_HOME"));
    else
    if (xdg && *xdg)
        path = tm_strdupf ("%s/testmesh", xdg);
    else
    if (home && *home)
        path = tm_strdupf ("%s/.local/share/testmesh", home);
    else {
        tm_fail (err, "no data directory: set --data, TESTMESH_HOME or HOME");
        return NULL;
    }
    struct stat st;
    if (s_mkdir_p (path, 0700) != 0 || stat (path, &st) != 0) {
        tm_fail (err, "cannot create data directory %s: %s", path, strerror (errno));
        free (path);
        return NULL;
    }
    if (!S_ISDIR (st.st_mode)) {
        tm_fail (err, "data directory %s is not a directory", path);
        free (path);
        return NULL;
    }
    return path;
}

void
tm_strv_push (char ***array_p, const char *str)
{
    assert (array_p && str);
    size_t size = tm_strv_size (*array_p);
    char **array = (char **) realloc (*array_p, (size + 2) * sizeof (char *));
    assert (array);
    array [size] = strdup (str);
    array [size + 1] = NULL;
    *array_p = array;
}

void
tm_strv_free (char ***array_p)
{
    assert (array_p);
    if (*array_p) {
        for (char **s = *array_p; *s; s++)
            free (*s);
        free (*array_p);
        *array_p = NULL;
    }
}

size_t
tm_strv_size (char *const *array)
{
    size_t size = 0;
    while (array && array [size])
        size++;
    return size;
}

char **
tm_strv_dup (char *const *array)
{
    char **copy = NULL;
    for (size_t i = 0; array && array [i]; i++)
        tm_strv_push (&copy, array [i]);
    return copy;
}


char **
tm_labels_local (void)
{
    char **labels = NULL;
    struct utsname uts;
    if (uname (&uts) == 0) {
        char word [80];
        snprintf (word, sizeof word, "os=%s", uts.sysname);
        for (char *c = word; *c; c++)
            *c = (char) tolower ((unsigned char) *c);
        tm_strv_push (&labels, word);
        snprintf (word, sizeof word, "arch=%s", uts.machine);
        tm_strv_push (&labels, word);
    }
    return labels;
}

bool
tm_labels_satisfy (char *const *labels, char *const *requires, const char **missing)
{
    for (char *const *need = requires; need && *need; need++) {
        bool found = false;
        for (char *const *have = labels; have && *have && !found; have++)
            found = streq (*have, *need);
        if (!found) {
            if (missing)
                *missing = *need;
            return false;
        }
    }
    return true;
}
