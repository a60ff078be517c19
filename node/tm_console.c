/*  tm_console.c - the console reporter: live progress line or one line per test.

    Live mode (a terminal) keeps one progress line at the bottom and
    redraws it in place with "\r" and "\033[K" (erase to end of line):

        [#########-----------] 812/1400  808 passed  3 failed  1 flaky  0:41  ETA 0:19

    "failed" there counts every test that did not pass (failed, timed
    out, crashed); skipped tests count in 812/1400 only, to keep the line
    short.  A failure is printed above the line as it happens (erase the
    line, print, redraw).  Redraws are limited to about 10 a second.
    The bar shrinks, then goes, to keep the line within the terminal's
    width; it does not grow back until the terminal is resized, so the
    line does not jump about as the numbers grow.

    Line mode (anything else) prints one line per finished test: the
    status in a 7-column field, the duration in 7 (to 99.999 s aligned),
    the id, and for anything but a pass the reason:

        PASS     0.012s  suite/test
        FAIL     0.500s  outcome/fails  (exit status 1)
        FLAKY    1.204s  net/retry  (passed on attempt 2)
        TIMEOUT  5.001s  slow/forever  (timed out after 5 s)
        CRASH    0.031s  mem/segv  (killed by SIGSEGV)
        SKIP          -  db/postgres  (no database)

    The summary (both modes) ends with the verdict, so that it is the
    last thing on screen however long the failures' output is:

        --- FAIL outcome/fails  (exit status 1)
          stderr, last 20 lines (5000 bytes cut):
            ...
          stdout:
            ...
                                        (one block per failed, timed out or
                                        crashed test; "  on MEMBER" after
                                        the reason when several members ran)
        Slowest:
            5.012s  slow/forever
            ...                         (up to 5, skipped tests excluded)
        Flaky:
          net/retry  (passed on attempt 2)
        Did not pass:
          FAIL     outcome/fails
        1400 tests: 1396 passed, 3 failed, 1 flaky, 0 skipped in 41.2 s

    "N timed out" and "N crashed" join the counts line when not zero.
    Output tails are printed from the results where they are, never
    copied.  With colors on, status words are green (pass), red (fail,
    timeout, crash: bold) or yellow (flaky, skip), and so are the
    non-zero counts; with colors off nothing but "\r\033[K" (live mode)
    is ever written.

    ETA: remaining work / slots, where a test's work is its expected
    seconds (from history, via tm_console_plan or tm_console_started)
    or else the mean duration of the tests finished so far.  Unknown
    (shown "ETA -") until one of those exists for every remaining test.
*/
#include "tm_report.h"
#include "tm_text.h"
#include <inttypes.h>
#include <math.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define S_SLOWEST       5       //  Tests in the "Slowest:" list
#define S_REDRAW        0.1     //  Seconds between redraws at most
#define S_BAR_MAX       30      //  Widest progress bar
#define S_BAR_MIN       10      //  Narrower than this, no bar at all
#define S_WIDTH         80      //  Terminal width if we cannot ask

#define S_RED           "\033[31m"
#define S_GREEN         "\033[32m"
#define S_YELLOW        "\033[33m"
#define S_BOLD          "\033[1m"
#define S_RESET         "\033[0m"
#define S_ERASE         "\r\033[K"

//  Per-task bookkeeping flags for the ETA.
#define S_KNOWN         1       //  Expected seconds known and counted
#define S_DONE          2       //  Final result seen

struct _tm_console_t {
    FILE *out;                  //  Where we print, borrowed
    bool live;                  //  Redrawn progress line, else one line per test
    bool color;                 //  ANSI colors on
    size_t total;               //  Tests in the run
    int slots;                  //  Tests that run at once, for the ETA
    size_t done;                //  Final results seen
    size_t counts [TM_STATUS_COUNT];    //  Final results seen, by status
    double (*clock) (void);     //  tm_now, or a test's (tm_console_set_clock)
    double start;               //  clock () when created
    double last_draw;           //  clock () of the last redraw, -HUGE_VAL = never
    bool bar_shown;             //  The progress line is on screen
    int columns;                //  Terminal width at the last redraw
    int bar_width;              //  Bar width; only shrinks (until the
                                //  terminal is resized), so the line
                                //  does not jump as counts grow
    double ran_sum;             //  Seconds taken by finished tests that ran
    size_t ran_count;           //  Finished tests that ran (not skipped)
    double *expected;           //  By task index: expected seconds
    uint8_t *flags;             //  By task index: S_KNOWN, S_DONE
    double known_left;          //  Expected seconds of unfinished S_KNOWN tests
    size_t unknown_left;        //  Unfinished tests not S_KNOWN
};

tm_console_t *
tm_console_new (FILE *out, bool live, bool color, size_t total, int slots)
{
    assert (out);
    tm_console_t *self = (tm_console_t *) zmalloc (sizeof (tm_console_t));
    self->out = out;
    self->live = live;
    self->color = color;
    self->total = total;
    self->slots = slots > 0? slots: 1;
    self->clock = tm_now;
    self->start = self->clock ();
    self->last_draw = -HUGE_VAL;
    self->unknown_left = total;
    if (total) {
        self->expected = (double *) calloc (total, sizeof (double));
        self->flags = (uint8_t *) calloc (total, sizeof (uint8_t));
        if (!self->expected || !self->flags)
            abort ();
    }
    return self;
}

void
tm_console_destroy (tm_console_t **self_p)
{
    assert (self_p);
    tm_console_t *self = *self_p;
    if (!self)
        return;
    if (self->bar_shown) {
        //  No summary came: keep the last progress line, end it.
        fputc ('\n', self->out);
        fflush (self->out);
    }
    free (self->expected);
    free (self->flags);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  Formatting helpers

static const char *
s_status_word (tm_status_t status)
{
    switch (status) {
        case TM_STATUS_PASSED:  return "PASS";
        case TM_STATUS_FAILED:  return "FAIL";
        case TM_STATUS_FLAKY:   return "FLAKY";
        case TM_STATUS_TIMEOUT: return "TIMEOUT";
        case TM_STATUS_CRASHED: return "CRASH";
        case TM_STATUS_SKIPPED: return "SKIP";
        default:                return "?";
    }
}

static const char *
s_status_color (tm_status_t status)
{
    switch (status) {
        case TM_STATUS_PASSED:  return S_GREEN;
        case TM_STATUS_FLAKY:
        case TM_STATUS_SKIPPED: return S_YELLOW;
        case TM_STATUS_CRASHED: return S_BOLD S_RED;
        default:                return S_RED;
    }
}

static bool
s_is_failure (tm_status_t status)
{
    return status == TM_STATUS_FAILED || status == TM_STATUS_TIMEOUT
        || status == TM_STATUS_CRASHED;
}

//  Writes TEXT in COLOR if colors are on.
static void
s_colored (tm_console_t *self, const char *color, const char *text)
{
    if (self->color)
        fprintf (self->out, "%s%s%s", color, text, S_RESET);
    else
        fputs (text, self->out);
}

//  Formats SECONDS as m:ss, or h:mm:ss from an hour on.
static void
s_clock (double seconds, char *buf, size_t size)
{
    long secs = seconds > 0? (long) (seconds + 0.5): 0;
    if (secs >= 3600)
        snprintf (buf, size, "%ld:%02ld:%02ld", secs / 3600, secs / 60 % 60, secs % 60);
    else
        snprintf (buf, size, "%ld:%02ld", secs / 60, secs % 60);
}

//  One line for a finished test: status column, duration, id, reason.
static void
s_print_result_line (tm_console_t *self, const tm_result_t *result)
{
    const char *word = s_status_word (result->status);
    s_colored (self, s_status_color (result->status), word);
    fprintf (self->out, "%*s ", 7 - (int) strlen (word), "");
    if (result->status == TM_STATUS_SKIPPED)
        fprintf (self->out, "%7s", "-");
    else
        fprintf (self->out, "%6.3fs", result->duration);
    fprintf (self->out, "  %s", result->id);
    char buf [128];
    const char *reason = tm_text_reason (result, buf, sizeof buf);
    if (reason && result->status != TM_STATUS_PASSED)
        fprintf (self->out, "  (%s)", reason);
    else
    if (result->cached)
        fprintf (self->out, "  (cached)");
    fputc ('\n', self->out);
}

//  ---------------------------------------------------------------------
//  Live progress line and ETA

//  Counts a task's expected seconds into the ETA, once.
static void
s_learn (tm_console_t *self, size_t index, double expected)
{
    if (index >= self->total || expected < 0 || self->flags [index])
        return;
    self->flags [index] = S_KNOWN;
    self->expected [index] = expected;
    self->known_left += expected;
    self->unknown_left--;
}

//  Sets *ETA to the seconds left; false if we cannot tell yet.
static bool
s_eta (tm_console_t *self, double *eta)
{
    if (self->done >= self->total) {
        *eta = 0;
        return true;
    }
    double work = self->known_left > 0? self->known_left: 0;
    if (self->unknown_left > 0) {
        if (self->ran_count == 0)
            return false;
        work += self->unknown_left * (self->ran_sum / self->ran_count);
    }
    *eta = work / self->slots;
    return true;
}

static int
s_terminal_width (tm_console_t *self)
{
    struct winsize size;
    int fd = fileno (self->out);
    if (fd >= 0 && ioctl (fd, TIOCGWINSZ, &size) == 0 && size.ws_col > 0)
        return size.ws_col;
    return S_WIDTH;
}

//  Writes the counts part of the progress line, and returns its width
//  (the colors take no columns).  With OUT NULL only measures.
static int
s_progress_text (tm_console_t *self, FILE *out, double now)
{
    size_t bad = self->counts [TM_STATUS_FAILED] + self->counts [TM_STATUS_TIMEOUT]
               + self->counts [TM_STATUS_CRASHED];
    size_t flaky = self->counts [TM_STATUS_FLAKY];
    bool color = out && self->color;
    char elapsed [32], eta [32] = "-";
    s_clock (now - self->start, elapsed, sizeof elapsed);
    double seconds;
    if (s_eta (self, &seconds))
        s_clock (seconds, eta, sizeof eta);
    if (!out && strlen (eta) < 4)
        strcpy (eta, "0:00");   //  Measure "-" as wide as the ETA to come

    char line [256];
    int width = snprintf (line, sizeof line, "%zu/%zu  %zu passed  ",
                          self->done, self->total, self->counts [TM_STATUS_PASSED]);
    if (out)
        fputs (line, out);
    width += snprintf (line, sizeof line, "%zu failed", bad);
    if (out)
        fprintf (out, "%s%s%s", color && bad? S_RED: "", line, color && bad? S_RESET: "");
    width += snprintf (line, sizeof line, "  %zu flaky", flaky);
    if (out)
        fprintf (out, "%s%s%s", color && flaky? S_YELLOW: "", line,
                 color && flaky? S_RESET: "");
    width += snprintf (line, sizeof line, "  %s  ETA %s", elapsed, eta);
    if (out)
        fputs (line, out);
    return width;
}

static void
s_draw (tm_console_t *self, double now)
{
    int columns = s_terminal_width (self);
    if (columns != self->columns) {
        self->columns = columns;
        self->bar_width = S_BAR_MAX;
    }
    //  Keep one column free: writing the last one makes some terminals wrap.
    int room = columns - 1 - s_progress_text (self, NULL, now) - 3;
    if (self->bar_width > room)
        self->bar_width = room;
    int bar = self->bar_width;
    fputs (S_ERASE, self->out);
    if (bar >= S_BAR_MIN) {
        int filled = self->total? (int) ((double) bar * self->done / self->total): 0;
        if (filled > bar)
            filled = bar;
        fputc ('[', self->out);
        for (int i = 0; i < bar; i++)
            fputc (i < filled? '#': '-', self->out);
        fputs ("] ", self->out);
    }
    s_progress_text (self, self->out, now);
    fflush (self->out);
    self->bar_shown = true;
    self->last_draw = now;
}

void
tm_console_plan (tm_console_t *self, tm_tasklist_t *tasks)
{
    assert (self && tasks);
    size_t size = tm_tasklist_size (tasks);
    for (size_t i = 0; i < size; i++) {
        tm_task_t *task = tm_tasklist_get (tasks, i);
        s_learn (self, task->index, task->skip_reason? 0: task->expected);
    }
}

void
tm_console_started (tm_console_t *self, const tm_task_t *task)
{
    assert (self && task);
    s_learn (self, task->index, task->expected);
}

void
tm_console_result (tm_console_t *self, const tm_result_t *result)
{
    assert (self && result);
    assert (result->status >= 0 && result->status < TM_STATUS_COUNT);
    self->done++;
    self->counts [result->status]++;
    if (result->status != TM_STATUS_SKIPPED) {
        self->ran_sum += result->duration;
        self->ran_count++;
    }
    size_t index = result->index;
    if (index < self->total && !(self->flags [index] & S_DONE)) {
        if (self->flags [index] & S_KNOWN) {
            self->known_left -= self->expected [index];
            if (self->known_left < 0)
                self->known_left = 0;
        }
        else
            self->unknown_left--;
        self->flags [index] |= S_DONE;
    }

    if (!self->live) {
        s_print_result_line (self, result);
        fflush (self->out);
        return;
    }
    double now = self->clock ();
    if (s_is_failure (result->status)) {
        if (self->bar_shown)
            fputs (S_ERASE, self->out);
        s_print_result_line (self, result);
        s_draw (self, now);
    }
    else
    if (now - self->last_draw >= S_REDRAW || self->done >= self->total)
        s_draw (self, now);
}

void
tm_console_set_clock (tm_console_t *self, double (*clock) (void))
{
    assert (self);
    self->clock = clock ? clock : tm_now;
    self->start = self->clock ();
}

void
tm_console_tick (tm_console_t *self)
{
    assert (self);
    if (!self->live)
        return;
    double now = self->clock ();
    if (now - self->last_draw >= S_REDRAW)
        s_draw (self, now);
}

//  ---------------------------------------------------------------------
//  Summary

//  Prints the last lines of one output stream, indented.
static void
s_print_tail (tm_console_t *self, const char *label, const char *data,
              size_t size, uint64_t cut)
{
    if (!data || size == 0)
        return;
    size_t skipped;
    const char *tail = tm_text_tail (data, size, TM_REPORT_TAIL_LINES, &skipped);
    fprintf (self->out, "  %s", label);
    if (skipped)
        fprintf (self->out, ", last %d lines", TM_REPORT_TAIL_LINES);
    if (cut)
        fprintf (self->out, " (%" PRIu64 " bytes cut)", cut);
    fputs (":\n", self->out);
    const char *end = data + size;
    while (tail < end) {
        const char *newline = (const char *) memchr (tail, '\n', end - tail);
        const char *stop = newline? newline: end;
        fputs ("    ", self->out);
        fwrite (tail, 1, stop - tail, self->out);
        fputc ('\n', self->out);
        tail = newline? newline + 1: end;
    }
}

//  True if the results were run by more than one member.
static bool
s_several_members (tm_result_t **results, size_t count)
{
    const char *first = NULL;
    for (size_t i = 0; i < count; i++) {
        const char *member = results [i]? results [i]->member: NULL;
        if (!member)
            continue;
        if (!first)
            first = member;
        else
        if (!streq (first, member))
            return true;
    }
    return false;
}

//  Prints a test that did not pass: a header, then the tail of its
//  output.  SHOW_MEMBER adds where it ran.
static void
s_print_failure_block (tm_console_t *self, const tm_result_t *result,
                       bool show_member)
{
    char buf [128];
    const char *reason = tm_text_reason (result, buf, sizeof buf);
    fputs ("--- ", self->out);
    s_colored (self, s_status_color (result->status), s_status_word (result->status));
    fprintf (self->out, " %s", result->id);
    if (reason)
        fprintf (self->out, "  (%s)", reason);
    //  On one machine the member says nothing; in a cluster it says
    //  where to reproduce the failure.
    if (show_member && result->member)
        fprintf (self->out, "  on %s", result->member);
    fputc ('\n', self->out);
    bool has_err = result->err && result->err_size > 0;
    bool has_out = result->out && result->out_size > 0;
    s_print_tail (self, "stderr", result->err, result->err_size, result->err_cut);
    s_print_tail (self, "stdout", result->out, result->out_size, result->out_cut);
    if (!has_err && !has_out)
        fputs ("  (no output)\n", self->out);
    fputc ('\n', self->out);
}

//  Prints the S_SLOWEST tests that took longest, slowest first.
static void
s_print_slowest (tm_console_t *self, tm_result_t **results, size_t count)
{
    const tm_result_t *top [S_SLOWEST];
    size_t found = 0;
    for (size_t i = 0; i < count; i++) {
        const tm_result_t *result = results [i];
        //  A cached test took no time in this run
        if (!result || result->status == TM_STATUS_SKIPPED || result->cached)
            continue;
        //  Insertion into a short sorted array: O(count).
        size_t pos = found;
        while (pos > 0 && top [pos - 1]->duration < result->duration)
            pos--;
        if (pos >= S_SLOWEST)
            continue;
        size_t last = found < S_SLOWEST? found: S_SLOWEST - 1;
        memmove (&top [pos + 1], &top [pos], (last - pos) * sizeof (top [0]));
        top [pos] = result;
        if (found < S_SLOWEST)
            found++;
    }
    if (found == 0)
        return;
    fputs ("Slowest:\n", self->out);
    for (size_t i = 0; i < found; i++)
        fprintf (self->out, "  %7.3fs  %s\n", top [i]->duration, top [i]->id);
}

//  Writes ", N LABEL", in COLOR when N > 0 and colors are on.
static void
s_print_count (tm_console_t *self, size_t n, const char *label, const char *color)
{
    fputs (", ", self->out);
    char text [64];
    snprintf (text, sizeof text, "%zu %s", n, label);
    if (n && color)
        s_colored (self, color, text);
    else
        fputs (text, self->out);
}

void
tm_console_summary (tm_console_t *self, tm_result_t **results,
                    size_t count, double elapsed)
{
    assert (self);
    assert (results || count == 0);
    FILE *out = self->out;
    if (self->bar_shown) {
        fputs (S_ERASE, out);
        self->bar_shown = false;
    }
    size_t counts [TM_STATUS_COUNT] = { 0 };
    size_t cached = 0, ran = 0;
    for (size_t i = 0; i < count; i++) {
        counts [results [i]? results [i]->status: TM_STATUS_SKIPPED]++;
        cached += results [i] && results [i]->cached;
        ran += results [i] && results [i]->attempts > 0;
    }

    fputc ('\n', out);
    bool show_member = s_several_members (results, count);
    for (size_t i = 0; i < count; i++)
        if (results [i] && s_is_failure (results [i]->status))
            s_print_failure_block (self, results [i], show_member);

    s_print_slowest (self, results, count);

    if (counts [TM_STATUS_FLAKY]) {
        fputs ("Flaky:\n", out);
        for (size_t i = 0; i < count; i++)
            if (results [i] && results [i]->status == TM_STATUS_FLAKY)
                fprintf (out, "  %s  (passed on attempt %d)\n",
                         results [i]->id, results [i]->attempts);
    }
    size_t bad = counts [TM_STATUS_FAILED] + counts [TM_STATUS_TIMEOUT]
               + counts [TM_STATUS_CRASHED];
    if (bad) {
        fputs ("Did not pass:\n", out);
        for (size_t i = 0; i < count; i++)
            if (results [i] && s_is_failure (results [i]->status)) {
                const char *word = s_status_word (results [i]->status);
                fputs ("  ", out);
                s_colored (self, s_status_color (results [i]->status), word);
                fprintf (out, "%*s  %s\n", 7 - (int) strlen (word), "", results [i]->id);
            }
    }

    fprintf (out, "%zu test%s: %zu passed", count, count == 1? "": "s",
             counts [TM_STATUS_PASSED]);
    s_print_count (self, counts [TM_STATUS_FAILED], "failed", S_RED);
    if (counts [TM_STATUS_TIMEOUT])
        s_print_count (self, counts [TM_STATUS_TIMEOUT], "timed out", S_RED);
    if (counts [TM_STATUS_CRASHED])
        s_print_count (self, counts [TM_STATUS_CRASHED], "crashed", S_RED);
    s_print_count (self, counts [TM_STATUS_FLAKY], "flaky", S_YELLOW);
    s_print_count (self, counts [TM_STATUS_SKIPPED], "skipped", S_YELLOW);
    if (cached)
        fprintf (out, ", %zu cached, %zu run", cached, ran);
    fprintf (out, " in %.1f s\n", elapsed);
    fflush (out);
}
