/*  tm_task.c - one test to run, and the list that owns a run's tests. */
#include "tm_task.h"

static const char *s_kind_names [] = { "auto", "criterion", "gtest", "ctest", "manifest" };

const char *
tm_kind_name (tm_kind_t kind)
{
    assert (kind >= TM_KIND_AUTO && kind <= TM_KIND_MANIFEST);
    return s_kind_names [kind];
}

int
tm_kind_parse (const char *name, tm_kind_t *kind)
{
    for (int i = TM_KIND_AUTO; i <= TM_KIND_MANIFEST; i++)
        if (streq (name, s_kind_names [i])) {
            *kind = (tm_kind_t) i;
            return 0;
        }
    return -1;
}

tm_task_t *
tm_task_new (const char *id, const char *target, tm_kind_t kind)
{
    assert (id && target);
    tm_task_t *self = (tm_task_t *) zmalloc (sizeof (tm_task_t));
    self->id = strdup (id);
    self->target = strdup (target);
    self->kind = kind;
    self->expected = -1;
    self->skip_code = -1;
    return self;
}

tm_task_t *
tm_task_new_for (const char *target, tm_kind_t kind, const char *id,
                 bool prefix, const char *key_base)
{
    assert (target && id && key_base);
    char *full = prefix ? tm_strdupf ("%s:%s", target, id) : strdup (id);
    tm_task_t *self = tm_task_new (full, target, kind);
    free (full);
    self->history_key = tm_strdupf ("%s\x1f%s", key_base, id);
    return self;
}

void
tm_task_destroy (tm_task_t **self_p)
{
    assert (self_p);
    tm_task_t *self = *self_p;
    if (!self)
        return;
    free (self->id);
    free (self->target);
    tm_strv_free (&self->argv);
    free (self->cwd);
    tm_strv_free (&self->env);
    tm_strv_free (&self->inputs);
    tm_strv_free (&self->labels);
    tm_strv_free (&self->requires);
    free (self->skip_reason);
    free (self->unrunnable);
    free (self->history_key);
    free (self->cache_ident);
    free (self->cache_decl);
    free (self->root);
    for (size_t i = 0; i < self->files_size; i++)
        free (self->files [i].path);
    free (self->files);
    free (self);
    *self_p = NULL;
}

void
tm_task_add_file (tm_task_t *self, const char *path, const char *digest,
                  uint64_t size, bool exec)
{
    assert (self && tm_task_path_valid (path) && tm_task_digest_valid (digest));
    //  Grows by powers of two: a task may carry a whole input tree
    if ((self->files_size & (self->files_size - 1)) == 0) {
        size_t capacity = self->files_size ? self->files_size * 2 : 1;
        self->files = (tm_file_t *) realloc (self->files, capacity * sizeof (tm_file_t));
        assert (self->files);
    }
    tm_file_t *file = &self->files [self->files_size++];
    file->path = strdup (path);
    snprintf (file->digest, sizeof file->digest, "%s", digest);
    file->size = size;
    file->exec = exec;
}

bool
tm_task_path_valid (const char *path)
{
    size_t length = path ? strlen (path) : 0;
    if (length == 0 || length > 4095 || path [0] == '/' || path [length - 1] == '/')
        return false;
    for (const char *part = path; part; ) {
        const char *slash = strchr (part, '/');
        size_t size = slash ? (size_t) (slash - part) : strlen (part);
        if (size == 0 || (size == 1 && part [0] == '.')
        ||  (size == 2 && part [0] == '.' && part [1] == '.'))
            return false;
        part = slash ? slash + 1 : NULL;
    }
    return true;
}

bool
tm_task_digest_valid (const char *digest)
{
    if (!digest || strlen (digest) != 64)
        return false;
    for (const char *c = digest; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return false;
    return true;
}

//  ---------------------------------------------------------------------
//  tm_tasklist: a growable array of owned tasks

struct _tm_tasklist_t {
    tm_task_t **items;          //  Tasks, owned unless view
    size_t size;                //  Tasks in use
    size_t capacity;            //  Slots allocated
    bool view;                  //  Borrows its tasks (tm_tasklist_new_view)
};

tm_tasklist_t *
tm_tasklist_new (void)
{
    return (tm_tasklist_t *) zmalloc (sizeof (tm_tasklist_t));
}

void
tm_tasklist_destroy (tm_tasklist_t **self_p)
{
    assert (self_p);
    tm_tasklist_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->size && !self->view; i++)
        tm_task_destroy (&self->items [i]);
    free (self->items);
    free (self);
    *self_p = NULL;
}

tm_tasklist_t *
tm_tasklist_new_view (void)
{
    tm_tasklist_t *self = tm_tasklist_new ();
    self->view = true;
    return self;
}

static void
s_tasklist_push (tm_tasklist_t *self, tm_task_t *task)
{
    if (self->size == self->capacity) {
        self->capacity = self->capacity ? self->capacity * 2 : 64;
        self->items = (tm_task_t **) realloc (self->items,
                                              self->capacity * sizeof (tm_task_t *));
        assert (self->items);
    }
    task->index = self->size;
    self->items [self->size++] = task;
}

void
tm_tasklist_view_append (tm_tasklist_t *self, tm_task_t *task)
{
    assert (self && self->view && task);
    s_tasklist_push (self, task);
}

void
tm_tasklist_append (tm_tasklist_t *self, tm_task_t **task_p)
{
    assert (self && task_p && *task_p && !self->view);
    s_tasklist_push (self, *task_p);
    *task_p = NULL;
}

size_t
tm_tasklist_size (tm_tasklist_t *self)
{
    assert (self);
    return self->size;
}

tm_task_t *
tm_tasklist_get (tm_tasklist_t *self, size_t index)
{
    assert (self && index < self->size);
    return self->items [index];
}

void
tm_tasklist_splice (tm_tasklist_t *self, tm_tasklist_t **source_p)
{
    assert (self && source_p);
    tm_tasklist_t *source = *source_p;
    if (!source)
        return;
    for (size_t i = 0; i < source->size; i++)
        tm_tasklist_append (self, &source->items [i]);
    source->size = 0;
    tm_tasklist_destroy (source_p);
}

void
tm_tasklist_filter (tm_tasklist_t *self,
                    bool (*keep) (const tm_task_t *task, void *arg), void *arg)
{
    assert (self && keep && !self->view);
    size_t kept = 0;
    for (size_t i = 0; i < self->size; i++) {
        if (keep (self->items [i], arg)) {
            self->items [kept] = self->items [i];
            self->items [kept]->index = kept;
            kept++;
        }
        else
            tm_task_destroy (&self->items [i]);
    }
    self->size = kept;
}

void
tm_tasklist_sort (tm_tasklist_t *self, int (*compare) (const void *a, const void *b))
{
    assert (self && compare);
    if (self->size > 1)
        qsort (self->items, self->size, sizeof (tm_task_t *), compare);
    for (size_t i = 0; i < self->size; i++)
        self->items [i]->index = i;
}
