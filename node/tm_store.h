/*  tm_store.h - the content store: files by BLAKE2b digest, in DATADIR/store.

    A blob is the content of a file that a task needs where it runs: a
    test binary, a script, a declared input.  It is named by the BLAKE2b
    digest of its bytes (libsodium's crypto_generichash, 32 bytes, no
    key), written as 64 lowercase hex digits, so a name says what the
    content is, and a binary that ten thousand tasks run is one blob.

    Layout:

        DATADIR/store/<64 hex digits>   a blob, mode 0444, or 0555 if it
                                        came from an executable file
        DATADIR/store/tmp.XXXXXX        a blob being written

    Invariants:
    1. A blob is absent or whole: it is written under a temporary name
       and renamed over its own (rename is atomic), never written in
       place.
    2. The file named HEX holds bytes whose digest is HEX: tm_store_add_file
       hashes what it copies and refuses a file that changed under it,
       and tm_store_commit's caller (tm_blobs) has verified the digest of
       what it wrote.  A blob is never modified afterwards: the store
       links blobs into work directories, so a test that writes to its
       input file in place (only root can: blobs are read-only) would
       change the blob; docs/scheduling.md, "Inputs", says not to.

    Every HEX a function takes must be a valid digest (tm_task_digest_valid;
    asserted): callers check digests that came from outside first.

    A tm_store_t holds a path and nothing else.  Each thread opens its
    own, and any number of processes may share one directory: the CLI
    adds the files of a run while its agent serves and links blobs.

    A blob's access time (atime) is its last use, which the agent's
    store index (tm_storeindex.h) evicts by: whoever uses a blob that is
    present already (tm_store_add_file finding it there, tm_store_touch)
    sets it to now, so that an agent about to evict the blob sees it
    was just used, by whatever process, and keeps it.
*/
#ifndef TM_STORE_H_INCLUDED
#define TM_STORE_H_INCLUDED

#include "tm_common.h"

#define TM_STORE_HEX    65      //  A digest in hex, with its NUL

typedef struct _tm_store_t tm_store_t;

//  Opens the store of DATADIR, creating DATADIR/store (mode 0700) if
//  missing.  Returns NULL with *err set if it cannot be created.
tm_store_t *tm_store_new (const char *datadir, char **err);
void tm_store_destroy (tm_store_t **self_p);

//  The store's directory, DATADIR/store.
const char *tm_store_dir (tm_store_t *self);

//  The digest of SIZE bytes at DATA, into HEX.
void tm_store_digest (const void *data, size_t size, char hex [TM_STORE_HEX]);

//  True if blob HEX is present and holds SIZE bytes (a blob of another
//  size, which a crash in the middle of writing one could leave, counts
//  as absent: it is written again).
bool tm_store_has (tm_store_t *self, const char *hex, uint64_t size);

//  Adds the regular file at PATH (symbolic links followed): hashes it,
//  and copies it in unless the blob is present.  Sets HEX, *SIZE and
//  *EXEC (the file is executable by its owner).  Returns 0, or -1 with
//  *err set (not a regular file, unreadable, changed while being read,
//  the store cannot be written).
int tm_store_add_file (tm_store_t *self, const char *path, char hex [TM_STORE_HEX],
                       uint64_t *size, bool *exec, char **err);

//  Opens blob HEX for reading.  Returns the descriptor (caller closes)
//  and sets *SIZE, or -1 if it is not there.
int tm_store_open (tm_store_t *self, const char *hex, uint64_t *size);

//  Writing a blob whose digest the writer checks itself (a fetch):
//  tm_store_begin makes a temporary file (and the store's directory
//  again, if someone removed it) and returns its descriptor
//  (read-write) with its path in *TMP_PATH (caller keeps it for commit
//  or abort), or -1 with *err.  tm_store_commit gives it the mode
//  (EXEC) and renames it to HEX; the caller MUST have checked that its
//  content has digest HEX.  Both close the descriptor and free the
//  path, whatever happens; commit returns -1 with *err if the rename
//  failed (the file is then removed).
int tm_store_begin (tm_store_t *self, char **tmp_path, char **err);
int tm_store_commit (tm_store_t *self, int *fd_p, char **tmp_path_p, const char *hex,
                     bool exec, char **err);
void tm_store_abort (tm_store_t *self, int *fd_p, char **tmp_path_p);

//  Puts blob HEX at DEST (whose directory exists and which does not):
//  a hard link when the blob's mode is the one EXEC asks for and DEST
//  is on the same file system, else a copy with that mode.  Returns 0,
//  or -1 with *err; errno is ENOENT when the blob is not in the store.
int tm_store_link (tm_store_t *self, const char *hex, bool exec, const char *dest,
                   char **err);

//  Marks blob HEX as used now (its atime; its mtime is left alone).
//  Returns 0, or -1 if it is not there.
int tm_store_touch (tm_store_t *self, const char *hex);

//  Removes blob HEX (a work directory that links it keeps its own name
//  for it).  Returns 0, or -1 if it was not there or cannot be removed.
int tm_store_remove (tm_store_t *self, const char *hex);

//  What tm_store_each reports of one blob.
typedef struct {
    const char *hex;            //  Its digest (borrowed for the call)
    uint64_t size;              //  Bytes
    bool exec;                  //  Stored executable
    double used;                //  Last use: its atime, s since the epoch
} tm_store_blob_t;

//  Calls FN for every blob in the store (temporary files and anything
//  whose name is not a digest are skipped), in directory order; FN
//  returns false to stop.  Returns how many it reported.
typedef bool (tm_store_each_fn) (const tm_store_blob_t *blob, void *arg);
size_t tm_store_each (tm_store_t *self, tm_store_each_fn *fn, void *arg);

//  Blob HEX's entry (size, mode, last use) into *BLOB (whose hex is
//  HEX).  Returns 0, or -1 if it is not there.
int tm_store_stat (tm_store_t *self, const char *hex, tm_store_blob_t *blob);

//  Removes temporary files older than AGE seconds: what a process that
//  died while writing a blob left.  Returns how many it removed.
int tm_store_sweep (tm_store_t *self, double age);

#endif
