/*  tm_report.h - what the user sees: the console reporter and report files.

    The console reporter lives in the CLI, apart from the node's actors:
    it is fed results as they arrive and prints either a live progress
    line (a terminal) or one line per finished test (anything else).

    The JUnit and JSON writers take the final results of a run.
*/
#ifndef TM_REPORT_H_INCLUDED
#define TM_REPORT_H_INCLUDED

#include "tm_result.h"
#include "tm_task.h"

//  Lines of each output stream (stderr, stdout) that the reports quote
//  for a test that did not pass: the console summary and JUnit alike.
#define TM_REPORT_TAIL_LINES    20

typedef struct _tm_console_t tm_console_t;

//  Creates a console reporter writing to OUT (borrowed).  LIVE selects
//  the redrawn progress line (for a terminal); COLOR enables ANSI colors
//  (the caller has already honoured NO_COLOR).  TOTAL is the number of
//  tests (task indexes run 0..TOTAL-1); SLOTS how many run at once, for
//  the ETA.  The console's formats are described in tm_console.c.
tm_console_t *tm_console_new (FILE *out, bool live, bool color, size_t total,
                              int slots);
//  Ends a live progress line still on screen with a newline.
void tm_console_destroy (tm_console_t **self_p);
//  Optional, before the run: learns every task's expected seconds
//  (task->expected, from history; skipped tasks count 0) so that the ETA
//  is known from the start.  Without it the ETA uses what
//  tm_console_started tells and the mean duration of finished tests.
void tm_console_plan (tm_console_t *self, tm_tasklist_t *tasks);
//  A test finished (its final result).  Prints it as the mode says:
//  a line per test, or (live) a redraw, and a line above the progress
//  line for a test that failed, timed out or crashed.
void tm_console_result (tm_console_t *self, const tm_result_t *result);
//  A test started; task->expected is its expected seconds or < 0.
void tm_console_started (tm_console_t *self, const tm_task_t *task);
//  Redraws the live line (call about 10 times a second; redraws are
//  limited to 10 a second anyway); no-op in line mode.
void tm_console_tick (tm_console_t *self);
//  Test hook: the console reads the time from CLOCK (seconds, any
//  origin, never going back) instead of tm_now, starting its elapsed
//  time over from CLOCK's now; NULL goes back to tm_now.  Lets a test
//  step time past the redraw limit instead of sleeping.
void tm_console_set_clock (tm_console_t *self, double (*clock) (void));
//  Prints the summary, clearing the progress line first: each test that
//  failed, timed out or crashed with the tail of its stderr and stdout,
//  the 5 slowest tests, the flaky ones, the ids that did not pass, and
//  last the counts line.  RESULTS holds COUNT final results (NULL
//  entries count as skipped).
void tm_console_summary (tm_console_t *self, tm_result_t **results,
                         size_t count, double elapsed);

//  Writes JUnit XML (testsuites/testsuite/testcase/failure/error/
//  skipped/system-out/system-err) to PATH, one testsuite per target;
//  mapping and schema in tm_junit.c.  RESULTS[i] is the final result of
//  the task with index i, or NULL (reported skipped, "no result"); i >=
//  COUNT counts as NULL.  The file is written beside PATH and renamed
//  over it, so PATH is never half-written.  Returns 0, or -1 with *err
//  set (PATH then unaltered).
int tm_report_junit (const char *path, tm_tasklist_t *tasks,
                     tm_result_t **results, size_t count, double elapsed,
                     char **err);
//  Writes the JSON report (docs/json-report.md) to PATH; RESULTS, COUNT
//  and the atomic write as for tm_report_junit.
int tm_report_json (const char *path, tm_tasklist_t *tasks,
                    tm_result_t **results, size_t count, double elapsed,
                    char **err);

#endif
