/*  test_history.c - the duration history in RocksDB. */
#include "tm_testutil.h"
#include "tm_history.h"

Test (history, unknown_test_has_no_expected_duration)
{
    char *dir = tmu_scratch ();
    char *err = NULL;
    tm_history_t *history = tm_history_new (dir, &err);
    cr_assert_not_null (history, "%s", err);
    cr_assert_eq (tm_history_expected (history, "never/ran"), -1);
    tm_history_destroy (&history);
    cr_assert_null (history);
    tmu_rmrf (dir);
    free (dir);
}

Test (history, recorded_durations_survive_reopening_as_a_moving_average)
{
    char *dir = tmu_scratch ();
    tm_history_t *history = tm_history_new (dir, NULL);
    tm_history_record (history, "a/b", 2.0);
    cr_assert_eq (tm_history_flush (history, NULL), 0);
    tm_history_destroy (&history);

    history = tm_history_new (dir, NULL);
    cr_assert_float_eq (tm_history_expected (history, "a/b"), 2.0, 1e-9);
    tm_history_record (history, "a/b", 4.0);
    tm_history_flush (history, NULL);
    cr_assert_float_eq (tm_history_expected (history, "a/b"), 3.0, 1e-9);
    tm_history_destroy (&history);
    tmu_rmrf (dir);
    free (dir);
}

Test (history, second_opener_gets_read_only_access_not_an_error)
{
    char *dir = tmu_scratch ();
    tm_history_t *first = tm_history_new (dir, NULL);
    tm_history_record (first, "x", 1.5);
    tm_history_flush (first, NULL);
    char *err = NULL;
    tm_history_t *second = tm_history_new (dir, &err);
    cr_assert_not_null (second, "%s", err);
    cr_assert (tm_history_readonly (second));
    cr_assert_float_eq (tm_history_expected (second, "x"), 1.5, 1e-9);
    tm_history_record (second, "x", 100);       //  Ignored, no crash
    cr_assert_eq (tm_history_flush (second, NULL), 0);
    tm_history_destroy (&second);
    tm_history_destroy (&first);
    tmu_rmrf (dir);
    free (dir);
}

Test (history, unusable_directory_is_an_error_not_a_crash)
{
    char *err = NULL;
    tm_history_t *history = tm_history_new ("/proc/nonexistent-dir", &err);
    cr_assert_null (history);
    cr_assert_not_null (err);
    free (err);
}
