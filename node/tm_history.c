/*  tm_history.c - each test's duration history, kept in RocksDB.

    Keys are "dur\x1f" + the task's history key; values are the expected
    duration as 8 bytes, an IEEE double in host order (the database never
    leaves this machine; the DHT's records carry the portable copy).
    Lookup memos are under "memo\x1f" + the test identity; their values
    are tm_runcache.c's business.
*/
#include "tm_history.h"
#include <rocksdb/c.h>
#include <sys/stat.h>

#define S_PREFIX "dur\x1f"
#define S_MEMO   "memo\x1f"

struct _tm_history_t {
    rocksdb_t *db;                  //  The open database
    rocksdb_options_t *options;     //  Its options
    rocksdb_readoptions_t *read;    //  Default read options
    rocksdb_writeoptions_t *write;  //  Default write options
    rocksdb_writebatch_t *batch;    //  Records not yet flushed
    bool readonly;                  //  Opened read-only (locked elsewhere)
};

//  Moves RocksDB's malloc'ed error into our convention.
static int
s_take_error (char **rocks_err, char **err, const char *what)
{
    tm_fail (err, "%s: %s", what, *rocks_err);
    free (*rocks_err);
    *rocks_err = NULL;
    return -1;
}

tm_history_t *
tm_history_new (const char *datadir, char **err)
{
    assert (datadir);
    tm_history_t *self = (tm_history_t *) zmalloc (sizeof (tm_history_t));
    char *path = tm_strdupf ("%s/db", datadir);
    self->options = rocksdb_options_create ();
    rocksdb_options_set_create_if_missing (self->options, 1);
    //  A CLI run opens and closes this every time: keep it small and quick
    rocksdb_options_set_max_open_files (self->options, 64);
    rocksdb_options_set_keep_log_file_num (self->options, 2);
    rocksdb_options_set_info_log_level (self->options, 4);  //  HEADER only
    self->read = rocksdb_readoptions_create ();
    self->write = rocksdb_writeoptions_create ();
    self->batch = rocksdb_writebatch_create ();

    char *rocks_err = NULL;
    self->db = rocksdb_open (self->options, path, &rocks_err);
    if (!self->db && rocks_err && strstr (rocks_err, "lock")) {
        free (rocks_err);
        rocks_err = NULL;
        self->db = rocksdb_open_for_read_only (self->options, path, 0, &rocks_err);
        self->readonly = self->db != NULL;
        if (self->readonly)
            tm_info ("history", "%s is in use by another run; not recording durations", path);
    }
    if (!self->db) {
        char *what = tm_strdupf ("cannot open %s", path);
        s_take_error (&rocks_err, err, what);
        free (what);
        free (path);
        tm_history_destroy (&self);
        return NULL;
    }
    free (path);
    return self;
}

void
tm_history_destroy (tm_history_t **self_p)
{
    assert (self_p);
    tm_history_t *self = *self_p;
    if (!self)
        return;
    if (self->db)
        rocksdb_close (self->db);
    rocksdb_writebatch_destroy (self->batch);
    rocksdb_writeoptions_destroy (self->write);
    rocksdb_readoptions_destroy (self->read);
    rocksdb_options_destroy (self->options);
    free (self);
    *self_p = NULL;
}

static char *
s_key (const char *key, size_t *size)
{
    char *full = tm_strdupf (S_PREFIX "%s", key);
    *size = strlen (full);
    return full;
}

double
tm_history_expected (tm_history_t *self, const char *key)
{
    assert (self && key);
    size_t key_size, size = 0;
    char *full = s_key (key, &key_size);
    char *rocks_err = NULL;
    char *value = rocksdb_get (self->db, self->read, full, key_size, &size, &rocks_err);
    free (full);
    double seconds = -1;
    if (rocks_err) {
        //  A read error costs ordering only: log it and carry on
        tm_warn ("history", "read failed: %s", rocks_err);
        free (rocks_err);
    }
    else
    if (value && size == sizeof (double)) {
        memcpy (&seconds, value, sizeof seconds);
        if (!(seconds >= 0 && seconds < 1e9))
            seconds = -1;       //  Corrupt value: treat as unknown
    }
    free (value);
    return seconds;
}

void
tm_history_record (tm_history_t *self, const char *key, double seconds)
{
    assert (self && key);
    if (self->readonly || !(seconds >= 0))
        return;
    double old = tm_history_expected (self, key);
    double expected = old < 0 ? seconds : (old + seconds) / 2;
    size_t key_size;
    char *full = s_key (key, &key_size);
    rocksdb_writebatch_put (self->batch, full, key_size,
                            (const char *) &expected, sizeof expected);
    free (full);
}

int
tm_history_flush (tm_history_t *self, char **err)
{
    assert (self);
    if (self->readonly || rocksdb_writebatch_count (self->batch) == 0)
        return 0;
    char *rocks_err = NULL;
    rocksdb_write (self->db, self->write, self->batch, &rocks_err);
    rocksdb_writebatch_clear (self->batch);
    if (rocks_err)
        return s_take_error (&rocks_err, err, "cannot write the duration history");
    return 0;
}

char *
tm_history_memo_get (tm_history_t *self, const char *ident, size_t *size_p)
{
    assert (self && ident && size_p);
    char *full = tm_strdupf (S_MEMO "%s", ident);
    char *rocks_err = NULL;
    *size_p = 0;
    char *value = rocksdb_get (self->db, self->read, full, strlen (full), size_p, &rocks_err);
    free (full);
    if (rocks_err) {
        //  A memo is a hint: without it the lookup asks for the record
        tm_warn ("history", "read failed: %s", rocks_err);
        free (rocks_err);
        free (value);
        return NULL;
    }
    return value;
}

void
tm_history_memo_put (tm_history_t *self, const char *ident, const void *value, size_t size)
{
    assert (self && ident && value);
    if (self->readonly)
        return;
    char *full = tm_strdupf (S_MEMO "%s", ident);
    rocksdb_writebatch_put (self->batch, full, strlen (full), (const char *) value, size);
    free (full);
}

bool
tm_history_readonly (tm_history_t *self)
{
    assert (self);
    return self->readonly;
}
