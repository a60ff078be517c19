/*  test_store.c - the content store (tm_store): blobs named by their
    BLAKE2b digest, written whole or not at all, linked into work
    directories with the mode asked for. */
#include "tm_testutil.h"
#include "tm_store.h"
#include "tm_task.h"
#include <dirent.h>
#include <sodium.h>

//  Writes SIZE bytes of a pattern seeded by SEED to PATH with MODE.
static void
s_write_file (const char *path, size_t size, int seed, mode_t mode)
{
    FILE *file = fopen (path, "wb");
    cr_assert_not_null (file, "cannot write %s", path);
    for (size_t i = 0; i < size; i++)
        fputc ((int) ((i * 131 + (size_t) seed * 7) & 0xff), file);
    fclose (file);
    cr_assert_eq (chmod (path, mode), 0);
}

//  Files in DIR whose name starts with PREFIX.
static int
s_entries (const char *dir, const char *prefix)
{
    DIR *handle = opendir (dir);
    cr_assert_not_null (handle);
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir (handle)))
        if (entry->d_name [0] != '.' && strncmp (entry->d_name, prefix, strlen (prefix)) == 0)
            count++;
    closedir (handle);
    return count;
}

Test (store, digest_is_blake2b_256_in_lowercase_hex)
{
    char hex [TM_STORE_HEX];
    tm_store_digest ("", 0, hex);
    //  BLAKE2b-256 of the empty string (RFC 7693 parameters, 32-byte output)
    cr_assert_str_eq (hex, "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
    cr_assert (tm_task_digest_valid (hex));
    cr_assert_not (tm_task_digest_valid ("0E5751C026E543B2E8AB2EB06099DAA1D1E5DF47778F7787FAAB45CDF12FE3A8"));
    cr_assert_not (tm_task_digest_valid ("0e57"));
    cr_assert_not (tm_task_digest_valid ("../../../../../../../../../../../../../../../../etc/passwd00"));
}

Test (store, added_file_is_stored_under_its_digest_read_only)
{
    char *dir = tmu_scratch ();
    char *err = NULL;
    tm_store_t *store = tm_store_new (dir, &err);
    cr_assert_not_null (store, "%s", err);
    char path [4200];
    snprintf (path, sizeof path, "%s/input.dat", dir);
    s_write_file (path, 3 * 1024 * 1024 + 17, 1, 0644);
    char *content = tmu_slurp (path);

    char hex [TM_STORE_HEX];
    uint64_t size = 0;
    bool exec = true;
    cr_assert_eq (tm_store_add_file (store, path, hex, &size, &exec, &err), 0, "%s", err);
    cr_assert_eq (size, 3 * 1024 * 1024 + 17);
    cr_assert_not (exec);
    char want [TM_STORE_HEX];
    tm_store_digest (content, size, want);
    cr_assert_str_eq (hex, want);
    cr_assert (tm_store_has (store, hex, size));
    cr_assert_not (tm_store_has (store, hex, size + 1), "a blob of another size is not ours");

    char blob [4200];
    snprintf (blob, sizeof blob, "%s/%s", tm_store_dir (store), hex);
    struct stat st;
    cr_assert_eq (stat (blob, &st), 0);
    cr_assert_eq (st.st_mode & 07777, 0444);
    char *stored = tmu_slurp (blob);
    cr_assert_eq (memcmp (stored, content, size), 0);
    cr_assert_eq (s_entries (tm_store_dir (store), "tmp."), 0, "a temporary file was left");
    free (stored);
    free (content);
    tm_store_destroy (&store);
    cr_assert_null (store);
    tmu_rmrf (dir);
    free (dir);
}

Test (store, executable_file_keeps_its_executable_bit)
{
    char *dir = tmu_scratch ();
    tm_store_t *store = tm_store_new (dir, NULL);
    char path [4200];
    snprintf (path, sizeof path, "%s/tool", dir);
    s_write_file (path, 1000, 2, 0755);
    char hex [TM_STORE_HEX];
    uint64_t size;
    bool exec = false;
    cr_assert_eq (tm_store_add_file (store, path, hex, &size, &exec, NULL), 0);
    cr_assert (exec);
    char blob [4200];
    snprintf (blob, sizeof blob, "%s/%s", tm_store_dir (store), hex);
    struct stat st;
    cr_assert_eq (stat (blob, &st), 0);
    cr_assert_eq (st.st_mode & 07777, 0555);
    tm_store_destroy (&store);
    tmu_rmrf (dir);
    free (dir);
}

Test (store, present_blob_is_not_written_again)
{
    char *dir = tmu_scratch ();
    tm_store_t *store = tm_store_new (dir, NULL);
    char one [4200], two [4200];
    snprintf (one, sizeof one, "%s/one", dir);
    snprintf (two, sizeof two, "%s/two", dir);
    s_write_file (one, 5000, 3, 0644);
    s_write_file (two, 5000, 3, 0644);      //  Same bytes, another name
    char hex_one [TM_STORE_HEX], hex_two [TM_STORE_HEX];
    uint64_t size;
    bool exec;
    cr_assert_eq (tm_store_add_file (store, one, hex_one, &size, &exec, NULL), 0);
    char blob [4200];
    snprintf (blob, sizeof blob, "%s/%s", tm_store_dir (store), hex_one);
    struct stat before, after;
    cr_assert_eq (stat (blob, &before), 0);
    cr_assert_eq (tm_store_add_file (store, two, hex_two, &size, &exec, NULL), 0);
    cr_assert_str_eq (hex_one, hex_two);
    cr_assert_eq (stat (blob, &after), 0);
    cr_assert_eq (before.st_ino, after.st_ino, "the blob was replaced");
    cr_assert_eq (s_entries (tm_store_dir (store), ""), 1);
    tm_store_destroy (&store);
    tmu_rmrf (dir);
    free (dir);
}

Test (store, what_is_not_a_regular_file_is_refused)
{
    char *dir = tmu_scratch ();
    tm_store_t *store = tm_store_new (dir, NULL);
    char hex [TM_STORE_HEX];
    uint64_t size;
    bool exec;
    char *err = NULL;
    cr_assert_eq (tm_store_add_file (store, dir, hex, &size, &exec, &err), -1);
    cr_assert (strstr (err, "not a regular file"), "%s", err);
    zstr_free (&err);
    char missing [4200];
    snprintf (missing, sizeof missing, "%s/nothing", dir);
    cr_assert_eq (tm_store_add_file (store, missing, hex, &size, &exec, &err), -1);
    cr_assert (strstr (err, "No such file"), "%s", err);
    zstr_free (&err);
    tm_store_destroy (&store);
    tmu_rmrf (dir);
    free (dir);
}

Test (store, committed_blob_appears_whole_aborted_one_leaves_nothing)
{
    char *dir = tmu_scratch ();
    tm_store_t *store = tm_store_new (dir, NULL);
    const char *text = "written in two pieces, out of order";
    char hex [TM_STORE_HEX];
    tm_store_digest (text, strlen (text), hex);

    char *tmp = NULL;
    int fd = tm_store_begin (store, &tmp, NULL);
    cr_assert_geq (fd, 0);
    cr_assert_not_null (tmp);
    cr_assert_eq (pwrite (fd, text + 10, strlen (text) - 10, 10), (ssize_t) strlen (text) - 10);
    cr_assert_not (tm_store_has (store, hex, strlen (text)), "visible before its commit");
    cr_assert_eq (pwrite (fd, text, 10, 0), 10);
    cr_assert_eq (tm_store_commit (store, &fd, &tmp, hex, true, NULL), 0);
    cr_assert_eq (fd, -1);
    cr_assert_null (tmp);
    cr_assert (tm_store_has (store, hex, strlen (text)));
    uint64_t size = 0;
    int reader = tm_store_open (store, hex, &size);
    cr_assert_geq (reader, 0);
    cr_assert_eq (size, strlen (text));
    close (reader);

    fd = tm_store_begin (store, &tmp, NULL);
    cr_assert_geq (fd, 0);
    cr_assert_eq (write (fd, "junk", 4), 4);
    tm_store_abort (store, &fd, &tmp);
    cr_assert_eq (fd, -1);
    cr_assert_null (tmp);
    cr_assert_eq (s_entries (tm_store_dir (store), "tmp."), 0);
    cr_assert_eq (s_entries (tm_store_dir (store), ""), 1);
    tm_store_destroy (&store);
    tmu_rmrf (dir);
    free (dir);
}

Test (store, link_shares_the_blob_when_the_mode_matches_and_copies_otherwise)
{
    char *dir = tmu_scratch ();
    tm_store_t *store = tm_store_new (dir, NULL);
    char path [4200];
    snprintf (path, sizeof path, "%s/script", dir);
    s_write_file (path, 4096, 4, 0755);
    char hex [TM_STORE_HEX];
    uint64_t size;
    bool exec;
    cr_assert_eq (tm_store_add_file (store, path, hex, &size, &exec, NULL), 0);
    char blob [4200], same [4200], other [4200];
    snprintf (blob, sizeof blob, "%s/%s", tm_store_dir (store), hex);
    snprintf (same, sizeof same, "%s/linked", dir);
    snprintf (other, sizeof other, "%s/copied", dir);

    char *err = NULL;
    cr_assert_eq (tm_store_link (store, hex, true, same, &err), 0, "%s", err);
    cr_assert_eq (tm_store_link (store, hex, false, other, &err), 0, "%s", err);
    struct stat st_blob, st_same, st_other;
    cr_assert_eq (stat (blob, &st_blob), 0);
    cr_assert_eq (stat (same, &st_same), 0);
    cr_assert_eq (stat (other, &st_other), 0);
    cr_assert_eq (st_same.st_ino, st_blob.st_ino, "not a hard link");
    cr_assert_neq (st_other.st_ino, st_blob.st_ino, "another mode needs a copy");
    cr_assert_eq (st_other.st_mode & 07777, 0444);
    cr_assert_eq (st_other.st_size, 4096);
    char *a = tmu_slurp (same), *b = tmu_slurp (other);
    cr_assert_eq (memcmp (a, b, 4096), 0);
    free (a);
    free (b);

    //  A blob the store does not have: ENOENT, so the caller fetches it
    char absent [TM_STORE_HEX];
    tm_store_digest ("absent", 6, absent);
    snprintf (other, sizeof other, "%s/absent", dir);
    errno = 0;
    cr_assert_eq (tm_store_link (store, absent, false, other, &err), -1);
    cr_assert_eq (errno, ENOENT);
    cr_assert (strstr (err, "not in the content store"), "%s", err);
    zstr_free (&err);
    tm_store_destroy (&store);
    tmu_rmrf (dir);
    free (dir);
}

Test (store, sweep_removes_only_old_temporary_files)
{
    char *dir = tmu_scratch ();
    tm_store_t *store = tm_store_new (dir, NULL);
    char *old_tmp = NULL, *new_tmp = NULL;
    int old_fd = tm_store_begin (store, &old_tmp, NULL);
    int new_fd = tm_store_begin (store, &new_tmp, NULL);
    cr_assert (old_fd >= 0 && new_fd >= 0);
    struct timespec times [2] = { { time (NULL) - 7200, 0 }, { time (NULL) - 7200, 0 } };
    cr_assert_eq (utimensat (AT_FDCWD, old_tmp, times, 0), 0);
    cr_assert_eq (tm_store_sweep (store, 3600), 1);
    struct stat st;
    cr_assert_neq (stat (old_tmp, &st), 0);
    cr_assert_eq (stat (new_tmp, &st), 0, "a blob being written was removed");
    close (old_fd);
    free (old_tmp);
    tm_store_abort (store, &new_fd, &new_tmp);
    tm_store_destroy (&store);
    tmu_rmrf (dir);
    free (dir);
}

Test (store, store_in_a_data_directory_that_is_a_file_fails_with_a_reason)
{
    char *dir = tmu_scratch ();
    char path [4200];
    snprintf (path, sizeof path, "%s/store", dir);
    tmu_write (path, "not a directory");
    char *err = NULL;
    tm_store_t *store = tm_store_new (dir, &err);
    cr_assert_null (store);
    cr_assert (strstr (err, "content store"), "%s", err);
    free (err);
    tmu_rmrf (dir);
    free (dir);
}

Test (store, removed_store_directory_is_made_again_for_the_next_blob)
{
    char *dir = tmu_scratch ();
    tm_store_t *store = tm_store_new (dir, NULL);
    tmu_rmrf (tm_store_dir (store));
    char *tmp = NULL;
    char *err = NULL;
    int fd = tm_store_begin (store, &tmp, &err);
    cr_assert_geq (fd, 0, "%s", err);
    char hex [TM_STORE_HEX];
    tm_store_digest ("", 0, hex);
    cr_assert_eq (tm_store_commit (store, &fd, &tmp, hex, false, NULL), 0);
    cr_assert (tm_store_has (store, hex, 0));
    tm_store_destroy (&store);
    tmu_rmrf (dir);
    free (dir);
}
