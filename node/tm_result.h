/*  tm_result.h - the outcome of one test (or one attempt at it).

    The executor makes one result per attempt; the scheduler folds the
    attempts of a test into its final result.  A plain record, like
    tm_task_t; strings and buffers are owned by the result.
*/
#ifndef TM_RESULT_H_INCLUDED
#define TM_RESULT_H_INCLUDED

#include "tm_common.h"

typedef enum {
    TM_STATUS_PASSED = 0,       //  Exit status 0
    TM_STATUS_FAILED,           //  Non-zero exit status, or the framework said so
    TM_STATUS_FLAKY,            //  Failed, then passed on a retry
    TM_STATUS_TIMEOUT,          //  Killed after its timeout
    TM_STATUS_CRASHED,          //  Died by a signal it did not ask for, or could not start
    TM_STATUS_SKIPPED,          //  Not run: disabled, skipped by the test, or cancelled
    TM_STATUS_COUNT
} tm_status_t;

//  "passed", "failed", ... as used in reports and the JSON schema.
const char *tm_status_name (tm_status_t status);
//  True for statuses that count as success for the exit code.
bool tm_status_ok (tm_status_t status);

typedef struct {
    char *id;                   //  The task's id
    size_t index;               //  The task's index in the run
    tm_status_t status;         //  Outcome
    double started;             //  Wall clock when the final attempt started
    double spawned;             //  Wall clock when its child had been exec'd
                                //  (posix_spawn returned); 0 if none.  For
                                //  the executor's owner only: not in
                                //  reports, not on the wire
    double duration;            //  Seconds of the final attempt
    int attempts;               //  1 + retries used
    int exit_code;              //  Exit status, -1 when killed by a signal
    int signal;                 //  Signal that ended it, 0 when it exited
    char *member;               //  Name of the member that ran it
    char *message;              //  One-line reason ("exit status 1", ...), may be NULL
    char *out;                  //  Captured stdout (head + marker + tail)
    size_t out_size;            //  Bytes in out
    uint64_t out_cut;           //  Bytes of stdout not kept
    char *err;                  //  Captured stderr, same rules
    size_t err_size;            //  Bytes in err
    uint64_t err_cut;           //  Bytes of stderr not kept
    int leftovers;              //  Stray processes it left behind, killed
    bool cached;                //  From the result cache, not run (attempts 0)
    bool cache_signed;          //  The runner signed its claim (tm_cacheentry.h):
    uint8_t cache_pk [32];      //  its Ed25519 key,
    uint8_t cache_sig [64];     //  the signature,
    double cache_created;       //  and the claim's time
    char *trace;                //  Task traced: what it read, ran and looked up
                                //  (tm_trace_read's text), NULL if not traced
    bool untraceable;           //  Trace asked for, but the program cannot be
                                //  traced (static) or the shim is missing
    bool trace_lost;            //  Traced, but the trace was too big to send:
                                //  the result must not be cached
} tm_result_t;

tm_result_t *tm_result_new (const char *id, size_t index);
void tm_result_destroy (tm_result_t **self_p);
//  Sets message to a formatted string, replacing any earlier one.
void tm_result_set_message (tm_result_t *self, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

#endif
