/*  tm_placement.c - the last pass's placement: see the header.

    Invariant: placed_ids [i] and placed_boots [i] are owned copies, one
    per member of the last pass; now_ids and self_id are borrowed, and
    set only between tm_placement_begin and tm_placement_end.
*/
#include "tm_placement.h"
#include "tm_rendezvous.h"

struct _tm_placement_t {
    size_t r;                   //  Owners per key
    char **placed_ids;          //  Alive at the last pass
    char **placed_boots;        //  Their boot ids then
    size_t placed_count;
    bool *same;                 //  Per placed member: the same process now
    const char *const *now_ids; //  Alive now (in a pass)
    size_t now_count;
    const char *self_id;        //  Us (in a pass)
    size_t *owners;             //  Scratch: R indexes into now_ids
    size_t *old;                //  Scratch: R indexes into placed_ids
};

tm_placement_t *
tm_placement_new (size_t r)
{
    assert (r > 0);
    tm_placement_t *self = (tm_placement_t *) calloc (1, sizeof *self);
    assert (self);
    self->r = r;
    self->owners = (size_t *) calloc (r, sizeof (size_t));
    self->old = (size_t *) calloc (r, sizeof (size_t));
    assert (self->owners && self->old);
    return self;
}

static void
s_placed_free (tm_placement_t *self)
{
    for (size_t i = 0; i < self->placed_count; i++) {
        free (self->placed_ids [i]);
        free (self->placed_boots [i]);
    }
    free (self->placed_ids);
    free (self->placed_boots);
    free (self->same);
    self->placed_ids = self->placed_boots = NULL;
    self->same = NULL;
    self->placed_count = 0;
}

void
tm_placement_destroy (tm_placement_t **self_p)
{
    assert (self_p);
    tm_placement_t *self = *self_p;
    if (!self)
        return;
    s_placed_free (self);
    free (self->owners);
    free (self->old);
    free (self);
    *self_p = NULL;
}

void
tm_placement_set (tm_placement_t *self, const char *const *ids, size_t count,
                  tm_placement_boot_fn *boot_of, void *arg)
{
    assert (self && (ids || count == 0) && boot_of);
    //  IDS may be the pass's own list: copy before freeing anything
    char **placed_ids = (char **) calloc (count + 1, sizeof (char *));
    char **placed_boots = (char **) calloc (count + 1, sizeof (char *));
    assert (placed_ids && placed_boots);
    for (size_t i = 0; i < count; i++) {
        const char *boot = boot_of (arg, ids [i]);
        placed_ids [i] = strdup (ids [i]);
        placed_boots [i] = strdup (boot ? boot : "");
        assert (placed_ids [i] && placed_boots [i]);
    }
    s_placed_free (self);
    self->placed_ids = placed_ids;
    self->placed_boots = placed_boots;
    self->placed_count = count;
}

void
tm_placement_begin (tm_placement_t *self, const char *const *ids, size_t count,
                    const char *self_id, tm_placement_boot_fn *boot_of, void *arg)
{
    assert (self && (ids || count == 0) && self_id && boot_of);
    self->now_ids = ids;
    self->now_count = count;
    self->self_id = self_id;
    free (self->same);
    self->same = (bool *) calloc (self->placed_count + 1, sizeof (bool));
    assert (self->same);
    for (size_t i = 0; i < self->placed_count; i++) {
        const char *boot = boot_of (arg, self->placed_ids [i]);
        //  A boot id we did not know then is the same process, not a restart
        self->same [i] = boot && (!*self->placed_boots [i]
                                  || streq (boot, self->placed_boots [i]));
    }
}

size_t
tm_placement_targets (tm_placement_t *self, const uint8_t key [32], const char **targets,
                      bool *owner_p, bool *was_p, bool *placed_p)
{
    assert (self && self->self_id && key && targets && owner_p && was_p && placed_p);
    size_t n = tm_rendezvous_owners (key, self->now_ids, self->now_count, self->r,
                                     self->owners);
    size_t o = tm_rendezvous_owners (key, (const char *const *) self->placed_ids,
                                     self->placed_count, self->r, self->old);
    *owner_p = *was_p = false;
    *placed_p = o > 0;
    for (size_t k = 0; k < n; k++)
        *owner_p |= streq (self->now_ids [self->owners [k]], self->self_id);
    for (size_t k = 0; k < o; k++)
        *was_p |= streq (self->placed_ids [self->old [k]], self->self_id);
    size_t count = 0;
    for (size_t k = 0; k < n; k++) {
        const char *id = self->now_ids [self->owners [k]];
        bool had = false;       //  An owner then, and the same process now
        for (size_t m = 0; m < o && !had; m++)
            had = self->same [self->old [m]] && streq (self->placed_ids [self->old [m]], id);
        if (!streq (id, self->self_id) && !had)
            targets [count++] = id;
    }
    return count;
}

void
tm_placement_end (tm_placement_t *self, tm_placement_boot_fn *boot_of, void *arg)
{
    assert (self && self->self_id);
    tm_placement_set (self, self->now_ids, self->now_count, boot_of, arg);
    self->now_ids = NULL;
    self->now_count = 0;
    self->self_id = NULL;
}
