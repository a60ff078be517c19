/*  tm_common.h - conventions every testmesh module relies on.

    Return values: 0 on success, -1 on failure, unless a function says
    otherwise.  The reason for a failure goes to the log, or into a
    `char **err` out-parameter that the caller frees with free ().

    Ownership: a function returning `char *` hands the string to the
    caller; `const char *` is borrowed.  A function that takes `x_t **`
    takes ownership and sets the caller's pointer to NULL.

    assert () is for programmer errors only.  Nothing that came from
    outside (a file, a command line, a child process, the network) is
    ever asserted on: it is validated and handled.
*/
#ifndef TM_COMMON_H_INCLUDED
#define TM_COMMON_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TM_VERSION "0.1.0"

//  Exit codes of the testmesh command (docs/cli.md, "Exit status").
#define TM_EXIT_OK      0       //  Every test passed (or was flaky)
#define TM_EXIT_FAILED  1       //  At least one test did not pass
#define TM_EXIT_ERROR   2       //  Usage or infrastructure error

//  The longest timeout, in seconds, accepted from anywhere: --timeout,
//  a manifest's timeout, ctest's TIMEOUT.  Anything longer is surely a
//  mistake (31 years), and keeps deadlines far from double's limits.
#define TM_TIMEOUT_MAX  1e9

//  Log levels, lowest is most verbose.
typedef enum {
    TM_LOG_DEBUG = 0,
    TM_LOG_INFO,
    TM_LOG_WARN,
    TM_LOG_ERROR,
    TM_LOG_NONE
} tm_log_level_t;

//  The one logging macro.  MODULE is a short string that prefixes the
//  line ("executor: ..."); the format is not evaluated when LEVEL is off.
#define tm_log(level, module, ...) \
    do { if ((level) >= tm_log_threshold) \
        tm_log_write ((level), (module), __VA_ARGS__); } while (0)
#define tm_debug(module, ...) tm_log (TM_LOG_DEBUG, module, __VA_ARGS__)
#define tm_info(module, ...)  tm_log (TM_LOG_INFO,  module, __VA_ARGS__)
#define tm_warn(module, ...)  tm_log (TM_LOG_WARN,  module, __VA_ARGS__)
#define tm_error(module, ...) tm_log (TM_LOG_ERROR, module, __VA_ARGS__)

extern tm_log_level_t tm_log_threshold;
void tm_log_write (tm_log_level_t level, const char *module, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
//  Sets the threshold from a name (debug, info, warn, error, none).
//  Returns -1 on an unknown name.
int tm_log_set_level (const char *name);

//  Monotonic clock in seconds, and wall clock in seconds since the epoch.
double tm_now (void);
double tm_wall_now (void);

//  Formats printf-style into a new string (abort on out of memory, as
//  CZMQ's zsys_sprintf does; callers free ()).
char *tm_strdupf (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

//  Sets *err (if err is not NULL and *err is NULL) to a formatted message.
//  Always returns -1, so `return tm_fail (err, "...")` reads naturally.
int tm_fail (char **err, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

//  Matches NAME against a shell glob (fnmatch without FNM_PATHNAME, so
//  '*' crosses '/': "net/*" matches "net/tcp/connect").
bool tm_glob_match (const char *pattern, const char *name);

//  Helpers for the NULL-terminated string arrays used above.  _push
//  appends a copy of STR to *ARRAY_P (which may be NULL).  _free frees
//  the array and its strings.  _size counts its entries.
void tm_strv_push (char ***array_p, const char *str);
//  This machine's built-in labels, "os=linux" and "arch=x86_64" (from
//  uname, os lowercased), NULL-terminated; caller frees (tm_strv_free).
char **tm_labels_local (void);
//  True if every "k=v" of REQUIRES is among LABELS ("k=v" words).  On
//  false, *MISSING (if given) points at the first one missing.
bool tm_labels_satisfy (char *const *labels, char *const *requires, const char **missing);
void tm_strv_free (char ***array_p);
size_t tm_strv_size (char *const *array);
char **tm_strv_dup (char *const *array);

//  Returns the name of signal SIG: "SIGSEGV" and friends for the
//  standard signals, "SIG<n>" ("SIG64") for a realtime or unknown one.
//  This is the one place signal names come from, so the console, the
//  reports and error messages all say the same.  The result is either a
//  constant or a thread-local buffer that the same thread's next call
//  overwrites: copy it if it must outlive that.  Thread-safe.
const char *tm_signal_name (int sig);

//  Finds PROGRAM (a bare name, no '/') in $PATH the way execvp (3) and
//  posix_spawnp do: each entry in turn, the first that is an executable
//  regular file; an empty entry means the current directory, and an
//  unset PATH means "/bin:/usr/bin" (glibc's default).  Relative entries
//  are taken relative to CWD (the directory the program will be started
//  in), or the caller's current directory if CWD is NULL.  Returns the
//  absolute path (caller frees), or NULL if no entry has it.
char *tm_path_search (const char *program, const char *cwd);

//  Resolves the data directory: OPTION (--data) if set, else
//  $TESTMESH_HOME, else $XDG_DATA_HOME/testmesh, else
//  ~/.local/share/testmesh; creates it (mode 0700) if missing.
//  Returns the path (caller frees), or NULL with *err set.
char *tm_datadir_resolve (const char *option, char **err);

#endif
