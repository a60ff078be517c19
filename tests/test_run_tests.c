/*  test_run_tests.c - tools/run_tests.sh, the script `make test` ends with.

    It is fed stand-in test binaries (shell scripts that print a
    Criterion synthesis line) and its closing tally is checked.  Runs
    from the top of the source tree, as `make test` runs every test.
*/
#include "tm_testutil.h"

//  Writes an executable DIR/NAME that prints LINE and exits with STATUS.
static char *
s_fake_binary (const char *dir, const char *name, const char *line, int status)
{
    char *path = (char *) malloc (4200);
    snprintf (path, 4200, "%s/%s", dir, name);
    char script [512];
    snprintf (script, sizeof script, "#!/bin/sh\necho '%s'\nexit %d\n", line, status);
    tmu_write (path, script);
    cr_assert_eq (chmod (path, 0755), 0);
    return path;
}

Test (run_tests, synthesis_line_sums_every_count_crashing_included)
{
    char *dir = tmu_scratch ();
    char *one = s_fake_binary (dir, "one", "[====] Synthesis: Tested: 3 | Passing: 1 | "
                               "Failing: 2 | Crashing: 2 ", 1);
    char *two = s_fake_binary (dir, "two", "[====] Synthesis: Tested: 5 | Passing: 4 | "
                               "Failing: 1 | Crashing: 1 ", 1);
    char *three = s_fake_binary (dir, "three", "[====] Synthesis: Tested: 2 | Passing: 2 | "
                                 "Failing: 0 | Crashing: 0 ", 0);
    tmu_run_t run = tmu_run_argv (60, (char *const []) {
        (char *) "tools/run_tests.sh", (char *) tmu_build (), one, two, three, NULL });
    cr_assert_eq (run.status, 1, "exit %d\n%s%s", run.status, run.out, run.err);
    cr_assert (strstr (run.out, "\n[====] Synthesis: Tested: 10 | Passing: 7 | Failing: 3 "
                                "| Crashing: 3\n7 passed, 3 failed\n"), "%s", run.out);
    cr_assert (strstr (run.err, "failed: one two"), "%s", run.err);
    tmu_run_free (&run);
    free (one);
    free (two);
    free (three);
    tmu_rmrf (dir);
    free (dir);
}
