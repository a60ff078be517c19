/*  tm_result.c - the outcome of one test. */
#include "tm_result.h"
#include <stdarg.h>

static const char *s_status_names [TM_STATUS_COUNT] = {
    "passed", "failed", "flaky", "timeout", "crashed", "skipped"
};

const char *
tm_status_name (tm_status_t status)
{
    assert (status >= 0 && status < TM_STATUS_COUNT);
    return s_status_names [status];
}

bool
tm_status_ok (tm_status_t status)
{
    return status == TM_STATUS_PASSED || status == TM_STATUS_FLAKY
        || status == TM_STATUS_SKIPPED;
}

tm_result_t *
tm_result_new (const char *id, size_t index)
{
    assert (id);
    tm_result_t *self = (tm_result_t *) zmalloc (sizeof (tm_result_t));
    self->id = strdup (id);
    self->index = index;
    self->attempts = 1;
    self->exit_code = -1;
    return self;
}

void
tm_result_destroy (tm_result_t **self_p)
{
    assert (self_p);
    tm_result_t *self = *self_p;
    if (!self)
        return;
    free (self->id);
    free (self->member);
    free (self->message);
    free (self->out);
    free (self->err);
    free (self->trace);
    free (self);
    *self_p = NULL;
}

void
tm_result_set_message (tm_result_t *self, const char *fmt, ...)
{
    assert (self);
    free (self->message);
    va_list args;
    va_start (args, fmt);
    if (vasprintf (&self->message, fmt, args) < 0)
        abort ();
    va_end (args);
}
