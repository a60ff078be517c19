/*  test_cli_ship.c - integration: a run's program and inputs shipped to
    the members that run it (docs/scheduling.md, "Inputs").

    Real agents on loopback (tm_cluster.h), the CLI submitting to one of
    them.  On one machine every member sees every path, so "a member that
    does not have the path" is made real by taking the path away: the
    suite's directory is renamed while the run is under way, after the
    CLI submitted it and before most tests start.  The tests then find
    their program and input only if they were shipped: each test checks
    that it runs in a work directory, not in the suite's directory, and
    that its input there has the right content.
*/
#include "tm_cluster.h"
#include "tm_rendezvous.h"
#include <dirent.h>
#include <jansson.h>
#include <signal.h>
#include <sodium.h>

TestSuite (cli_ship, .fini = tmc_cleanup, .timeout = 120);

static void
s_cluster (tmc_agent_t **agents, int count, const char *slots)
{
    static const char *names [] = { "a1", "a2", "a3", "a4" };
    cr_assert (count <= 4);
    agents [0] = tmc_start (names [0], NULL, "--slots", slots, NULL);
    char *token = tmc_token (agents [0], 10);
    for (int i = 1; i < count; i++)
        agents [i] = tmc_start (names [i], token, "--slots", slots, NULL);
    tmc_wait_mesh (agents, count, 30);
    free (token);
}

//  Processes whose command line holds MARKER.
static int
s_processes_with (const char *marker)
{
    int count = 0;
    DIR *proc = opendir ("/proc");
    struct dirent *entry;
    while (proc && (entry = readdir (proc))) {
        if (entry->d_name [0] < '0' || entry->d_name [0] > '9')
            continue;
        char path [300], line [4096];
        snprintf (path, sizeof path, "/proc/%s/cmdline", entry->d_name);
        FILE *file = fopen (path, "r");
        if (!file)
            continue;
        size_t size = fread (line, 1, sizeof line - 1, file);
        fclose (file);
        for (size_t i = 0; i < size; i++)
            if (line [i] == 0)
                line [i] = ' ';
        line [size] = 0;
        count += strstr (line, marker) != NULL;
    }
    if (proc)
        closedir (proc);
    return count;
}

//  The tests of a JSON report, by id.
static json_t *
s_tests (const char *report_path)
{
    json_error_t error;
    json_t *report = json_load_file (report_path, 0, &error);
    cr_assert_not_null (report, "%s: %s", report_path, error.text);
    json_t *tests = json_object ();
    size_t i;
    json_t *test;
    json_array_foreach (json_object_get (report, "tests"), i, test)
        json_object_set (tests, json_string_value (json_object_get (test, "id")), test);
    json_decref (report);
    return tests;
}

//  Entries in AGENT's DATADIR/SUB (-1 if it does not exist).
static int
s_entries (tmc_agent_t *agent, const char *sub)
{
    DIR *dir = opendir (tmc_file (agent, sub));
    if (!dir)
        return -1;
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir)))
        count += entry->d_name [0] != '.';
    closedir (dir);
    return count;
}

//  A suite in DIR: COUNT tests running bin/SCRIPT, which waits for the
//  file GO (if not NULL), then checks what it is given.
static void
s_suite (const char *dir, const char *script, int count, const char *go, bool shipped)
{
    char *path = tmu_join (dir, "bin");
    mkdir (path, 0755);
    free (path);
    path = tmu_join (dir, "data");
    mkdir (path, 0755);
    free (path);
    path = tmu_join (dir, "extra");
    mkdir (path, 0755);
    free (path);
    path = tmu_join (dir, "data/input.txt");
    tmu_write (path, "the declared input\n");
    free (path);
    path = tmu_join (dir, "extra/notes.txt");
    tmu_write (path, "given with --input\n");
    free (path);
    char name [256];
    snprintf (name, sizeof name, "bin/%s", script);
    path = tmu_join (dir, name);
    FILE *file = fopen (path, "w");
    cr_assert_not_null (file);
    fprintf (file, "#!/bin/sh\n"
                   "# Waits for the go-ahead, then checks where it runs and what it reads\n"
                   "%s%s%s"
                   "echo \"ran in $PWD\"\n"
                   "grep -qx 'the declared input' data/input.txt || { echo 'bad input'; exit 3; }\n",
             go ? "i=0; while [ ! -e '" : "", go ? go : "",
             go ? "' ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done\n" : "");
    if (shipped)
        fprintf (file, "case \"$PWD\" in '%s'*) echo 'ran in place'; exit 4;; esac\n"
                       "[ -n \"$TESTMESH_WORK_DIR\" ] || { echo 'no work dir'; exit 5; }\n"
                       "case \"$PWD\" in \"$TESTMESH_WORK_DIR\"*) ;; *) exit 6;; esac\n"
                       "grep -qx 'given with --input' extra/notes.txt || exit 7\n", dir);
    else
        fprintf (file, "[ \"$PWD\" = '%s' ] || { echo 'not run in place'; exit 4; }\n"
                       "[ -z \"$TESTMESH_WORK_DIR\" ] || exit 5\n", dir);
    fprintf (file, "exit 0\n");
    fclose (file);
    chmod (path, 0755);
    free (path);
    path = tmu_join (dir, "suite.ini");
    file = fopen (path, "w");
    for (int i = 0; i < count; i++)
        fprintf (file, "[test \"t%d\"]\ncommand = ./bin/%s\ninputs = data/input.txt\n"
                       "timeout = 60\n\n", i, script);
    fclose (file);
    free (path);
}

//  The BLAKE2b-256 hex digest of the file at PATH.
static void
s_digest (const char *path, char hex [65])
{
    char *content = tmu_slurp (path);
    cr_assert_not_null (content);
    unsigned char digest [32];
    crypto_generichash (digest, sizeof digest, (unsigned char *) content, strlen (content),
                        NULL, 0);
    sodium_bin2hex (hex, 65, digest, sizeof digest);
    free (content);
}

Test (cli_ship, inputs_cross_the_network_once_per_member_and_tests_run_in_work_dirs)
{
    tmc_agent_t *agents [3];
    s_cluster (agents, 3, "1");
    char *base = tmu_scratch ();
    char *dir = tmu_join (base, "suite");
    mkdir (dir, 0755);
    char *moved = tmu_join (base, "suite-moved");
    char *go = tmu_join (base, "go");
    char script [64];
    snprintf (script, sizeof script, "check-%d.sh", (int) getpid ());
    s_suite (dir, script, 24, go, true);
    char *manifest = tmu_join (dir, "suite.ini");
    char *extra = tmu_join (dir, "extra");
    char *report = tmu_join (base, "report.json");
    tmc_cli_t cli;
    tmc_cli_start (&cli, base, (char *const []) { (char *) tmu_path ("testmesh"), "run",
                 "--data", agents [0]->dir, "--progress", "lines", "--json", report,
                 "--input", extra, manifest, NULL });
    //  Once a test runs, the run is submitted and its files in the
    //  origin's store: take the suite's directory away from every member
    double end = tmu_now () + 30;
    while (s_processes_with (script) == 0) {
        cr_assert (tmu_now () < end, "no test started");
        usleep (20000);
    }
    cr_assert_eq (rename (dir, moved), 0);
    tmu_write (go, "go");
    int status = tmc_cli_wait (&cli, 60);
    char *err = tmu_slurp (cli.err);
    cr_assert_eq (status, 0, "exit %d\n%s", status, err);
    free (err);

    json_t *tests = s_tests (report);
    cr_assert_eq (json_object_size (tests), 24);
    const char *id;
    json_t *test;
    json_t *ran = json_object ();       //  member -> true
    json_object_foreach (tests, id, test) {
        cr_assert_str_eq (json_string_value (json_object_get (test, "status")), "passed",
                          "%s: %s %s", id, json_string_value (json_object_get (test, "message")),
                          json_string_value (json_object_get (test, "stdout")));
        json_object_set_new (ran, json_string_value (json_object_get (test, "member")),
                             json_true ());
    }
    //  Three files: the script, the declared input, the --input file.
    //  Each member that ran tests fetched each once, however many tests
    //  it ran; the origin fetched nothing (the CLI filled its store)
    char hex [65];
    char *input = tmu_join (moved, "data/input.txt");
    s_digest (input, hex);
    long long size = 0;
    const char *files [] = { "data/input.txt", "extra/notes.txt", script };
    for (int i = 0; i < 3; i++) {
        char name [256];
        snprintf (name, sizeof name, "%s%s", i == 2 ? "bin/" : "", files [i]);
        char *path = tmu_join (moved, name);
        struct stat st;
        cr_assert_eq (stat (path, &st), 0);
        size += st.st_size;
        free (path);
    }
    long long fetched = 0, served = 0, served_all = 0;
    for (int i = 0; i < 3; i++) {
        json_t *stats = tmc_stats (agents [i]);
        long long blobs = tmc_counter (stats, "work.blobs_fetched");
        long long bytes = tmc_counter (stats, "work.bytes_fetched");
        long long tasks = tmc_counter (stats, "work.tasks_run");
        if (i == 0) {
            cr_assert_eq (blobs, 0, "the origin fetched its own files");
            served = tmc_counter (stats, "work.blobs_served");
        }
        else
        if (json_object_get (ran, agents [i]->name)) {
            cr_assert_eq (blobs, 3, "%s ran %lld tests and fetched %lld blobs",
                          agents [i]->name, tasks, blobs);
            cr_assert_eq (bytes, size);
        }
        cr_assert_eq (tmc_counter (stats, "work.blobs_refused"), 0);
        fetched += blobs;
        served_all += tmc_counter (stats, "work.blobs_served");
        json_decref (stats);
        //  Each blob once in each store; every work directory removed
        cr_assert_leq (s_entries (agents [i], "work"), 0, "%s left work directories",
                      agents [i]->name);
        char *blob = tmu_join (agents [i]->dir, "store");
        char *path = tmu_join (blob, hex);
        struct stat st;
        if (i == 0 || json_object_get (ran, agents [i]->name))
            cr_assert_eq (stat (path, &st), 0, "%s has no blob of the input", agents [i]->name);
        free (blob);
        free (path);
    }
    cr_log_info ("%zu members ran tests; %lld blobs fetched, %lld served", json_object_size (ran),
                 fetched, served);
    cr_assert_geq (json_object_size (ran), 2, "only %zu member(s) ran tests",
                   json_object_size (ran));
    cr_assert_gt (fetched, 0, "nothing crossed the network");
    //  Every member owns every blob here (R = 3): one that asks another
    //  while that one fetches from the origin waits and takes it from it
    cr_assert_eq (served_all, fetched, "%lld blobs served for %lld fetched",
                  served_all, fetched);
    cr_assert_leq (served, fetched);

    //  Again, from the moved directory: the same content, nothing fetched
    free (manifest);
    manifest = tmu_join (moved, "suite.ini");
    free (extra);
    extra = tmu_join (moved, "extra");
    tmu_run_t again = tmu_testmesh (60, "run", "--data", agents [0]->dir, "--progress", "lines",
                                    "--input", extra, manifest);
    //  The script checks it does not run in DIR; in MOVED it may, but it
    //  must not run in place at all: it still runs in work directories
    cr_assert_eq (again.status, 0, "exit %d\n%s%s", again.status, again.out, again.err);
    long long fetched_again = 0;
    for (int i = 0; i < 3; i++) {
        json_t *stats = tmc_stats (agents [i]);
        fetched_again += tmc_counter (stats, "work.blobs_fetched");
        json_decref (stats);
    }
    cr_assert_eq (fetched_again, fetched, "present blobs were fetched again");
    tmu_run_free (&again);
    json_decref (ran);
    json_decref (tests);
    tmu_rmrf (base);
    free (base); free (dir); free (moved); free (go); free (manifest); free (extra);
    free (report); free (input);
}

//  A manifest in DIR/NAME: COUNT tests of bin/SCRIPT, with its input,
//  that only members labelled REQUIRES may run.
static char *
s_manifest (const char *dir, const char *name, const char *script, int count,
            const char *requires)
{
    char *path = tmu_join (dir, name);
    FILE *file = fopen (path, "w");
    cr_assert_not_null (file);
    for (int i = 0; i < count; i++)
        fprintf (file, "[test \"t%d\"]\ncommand = ./bin/%s\ninputs = data/input.txt\n"
                       "requires = %s\ntimeout = 60\n\n", i, script, requires);
    fclose (file);
    return path;
}

//  Indexes into AGENTS (COUNT, NULL ones skipped: dead) of the R = 3
//  owners of the blob HEX, heaviest first, as their members compute
//  them; ids from MEMBERS (`members --json`).  Returns how many.
static size_t
s_owners (tmc_agent_t **agents, int count, json_t *members, const char *hex, int *owners)
{
    const char *ids [8];
    int which [8];
    size_t n = 0;
    for (int i = 0; i < count; i++) {
        if (!agents [i])
            continue;
        json_t *member = tmc_member (members, agents [i]->name);
        cr_assert_not_null (member, "%s is not listed", agents [i]->name);
        ids [n] = json_string_value (json_object_get (member, "id"));
        which [n++] = i;
    }
    uint8_t key [32];
    cr_assert_eq (sodium_hex2bin (key, sizeof key, hex, 64, NULL, NULL, NULL), 0);
    size_t picked [3];
    size_t found = tm_rendezvous_owners (key, ids, n, 3, picked);
    for (size_t i = 0; i < found; i++)
        owners [i] = which [picked [i]];
    return found;
}

static bool
s_stored (tmc_agent_t *agent, const char *hex)
{
    char path [4400];
    snprintf (path, sizeof path, "%s/store/%s", agent->dir, hex);
    struct stat st;
    return stat (path, &st) == 0;
}

Test (cli_ship, blobs_stay_on_their_owners_and_serve_a_later_member_after_the_origin_dies,
      .timeout = 180)
{
    //  a1 submits; only a2 may run the first run's tests (pool=first),
    //  so the blobs reach a3..a5 only if they own them
    tmc_agent_t *agents [6] = { NULL };
    agents [0] = tmc_start ("a1", NULL, "--slots", "2", NULL);
    char *token = tmc_token (agents [0], 10);
    agents [1] = tmc_start ("a2", token, "--slots", "2", "--label", "pool=first", NULL);
    agents [2] = tmc_start ("a3", token, "--slots", "2", NULL);
    agents [3] = tmc_start ("a4", token, "--slots", "2", NULL);
    agents [4] = tmc_start ("a5", token, "--slots", "2", NULL);
    free (token);
    tmc_wait_mesh (agents, 5, 30);
    char *dir = tmu_scratch ();
    char script [64];
    snprintf (script, sizeof script, "owned-%d.sh", (int) getpid ());
    s_suite (dir, script, 1, NULL, true);
    char *first = s_manifest (dir, "first.ini", script, 4, "pool=first");
    char *extra = tmu_join (dir, "extra");
    tmu_run_t run = tmu_testmesh (60, "run", "--data", agents [0]->dir, "--progress", "lines",
                                  "--input", extra, first);
    cr_assert_eq (run.status, 0, "exit %d\n%s%s", run.status, run.out, run.err);
    tmu_run_free (&run);

    //  Every owner of each of the three blobs has it, soon if not yet
    char hexes [3][65];
    const char *files [3] = { "data/input.txt", "extra/notes.txt", NULL };
    char script_path [128];
    snprintf (script_path, sizeof script_path, "bin/%s", script);
    files [2] = script_path;
    json_t *members = tmc_members_of (agents [0]);
    bool had [3][6] = { { false } };    //  Blob b in agent i's store after the first run
    long long asked = 0;
    for (int b = 0; b < 3; b++) {
        char *path = tmu_join (dir, files [b]);
        s_digest (path, hexes [b]);
        free (path);
        int owners [3];
        size_t count = s_owners (agents, 5, members, hexes [b], owners);
        cr_assert_eq (count, 3);
        for (size_t k = 0; k < count; k++) {
            tmc_agent_t *owner = agents [owners [k]];
            asked += owners [k] != 0;
            double end = tmu_now () + 20;
            while (!s_stored (owner, hexes [b])) {
                cr_assert (tmu_now () < end, "%s owns blob %s of %s and does not have it",
                           owner->name, hexes [b], files [b]);
                usleep (20000);
            }
        }
        for (int i = 0; i < 5; i++)
            had [b][i] = s_stored (agents [i], hexes [b]);
    }
    json_decref (members);
    json_t *stats = tmc_stats (agents [0]);
    cr_assert_eq (tmc_counter (stats, "work.prefetch_asked"), asked);
    json_decref (stats);

    //  The origin dies; a6 joins, and a2 submits the same files in a run
    //  only a6 may run.  a6 fetches each blob from an owner that has it,
    //  when one does besides a2 (which has it as the new origin)
    tmc_kill (agents [0]);
    tmc_agent_t *rest [5] = { agents [1], agents [2], agents [3], agents [4], NULL };
    tmc_wait_all (rest, 4, "a1", "dead|gone", 30);
    tmu_run_t tok = tmu_testmesh (15, "token", "--data", agents [1]->dir);
    cr_assert_eq (tok.status, 0, "token: %s", tok.err);
    token = strndup (tok.out, strcspn (tok.out, "\r\n"));
    tmu_run_free (&tok);
    agents [5] = tmc_start ("a6", token, "--slots", "2", "--label", "pool=six", NULL);
    free (token);
    rest [4] = agents [5];
    tmc_wait_mesh (rest, 5, 30);
    agents [0] = NULL;
    long long served_before [6] = { 0 };
    for (int i = 1; i < 6; i++) {
        stats = tmc_stats (agents [i]);
        served_before [i] = tmc_counter (stats, "work.blobs_served");
        json_decref (stats);
    }
    char *second = s_manifest (dir, "second.ini", script, 4, "pool=six");
    run = tmu_testmesh (60, "run", "--data", agents [1]->dir, "--progress", "lines",
                        "--input", extra, second);
    cr_assert_eq (run.status, 0, "exit %d\n%s%s", run.status, run.out, run.err);
    tmu_run_free (&run);
    //  What a2 must serve: each blob to each owner that lacks it (a2 asks
    //  them to fetch it from it), and to a6 if a6 is no owner and no
    //  owner but a2 has a copy; what the others must serve: each blob a6
    //  does not own that an owner other than a2 has
    members = tmc_members_of (agents [1]);
    int origin_max = 0, others_min = 0;
    for (int b = 0; b < 3; b++) {
        int owners [3];
        size_t count = s_owners (agents, 6, members, hexes [b], owners);
        bool copy = false, six_owns = false;
        for (size_t k = 0; k < count; k++) {
            if (owners [k] == 1)
                continue;
            six_owns |= owners [k] == 5;
            copy |= owners [k] != 5 && had [b][owners [k]];
            origin_max += !had [b][owners [k]];
        }
        origin_max += !six_owns && !copy;
        others_min += !six_owns && copy;
    }
    json_decref (members);
    long long others = 0, origin = 0;
    for (int i = 1; i < 6; i++) {
        stats = tmc_stats (agents [i]);
        long long served = tmc_counter (stats, "work.blobs_served") - served_before [i];
        if (i == 5)
            cr_assert_eq (tmc_counter (stats, "work.blobs_fetched"), 3);
        json_decref (stats);
        if (i == 1)
            origin = served;
        else
            others += served;
    }
    //  (No cr_log_*: under ASan, Criterion leaks what it allocates for one)
    cr_assert_leq (origin, origin_max, "the new origin served %lld blobs (at most %d): "
                   "blobs the owners had", origin, origin_max);
    cr_assert_geq (others, others_min, "the others served %lld blobs (at least %d): a6 did "
                   "not fetch from the owners that had the blobs", others, others_min);
    tmu_rmrf (dir);
    free (dir); free (first); free (second); free (extra);
}

Test (cli_ship, corrupt_blob_is_refused_counted_and_fails_its_tests_with_the_reason)
{
    tmc_agent_t *agents [2];
    s_cluster (agents, 2, "1");
    char *dir = tmu_scratch ();
    s_suite (dir, "slow-check.sh", 6, NULL, true);
    //  The origin's tests are slow, so that the others are not all
    //  stolen back before their member has tried to fetch the input
    char *path = tmu_join (dir, "bin/slow-check.sh");
    char *script = tmu_slurp (path);
    char *slow = malloc (strlen (script) + 32);
    sprintf (slow, "#!/bin/sh\nsleep 1\n%s", script + strlen ("#!/bin/sh\n"));
    tmu_write (path, slow);
    free (slow);
    free (script);
    free (path);
    //  The origin's store holds rotten bytes under the input's digest
    //  (the CLI finds the blob present and leaves it), as a member
    //  serving bad data would: what arrives does not match its name
    char *input = tmu_join (dir, "data/input.txt");
    char hex [65];
    s_digest (input, hex);
    char *store = tmu_join (agents [0]->dir, "store");
    mkdir (store, 0700);
    char *blob = tmu_join (store, hex);
    tmu_write (blob, "the declared inpuT\n");
    char *manifest = tmu_join (dir, "suite.ini");
    char *extra = tmu_join (dir, "extra");
    char *report = tmu_join (dir, "report.json");
    tmu_run_t run = tmu_testmesh (90, "run", "--data", agents [0]->dir, "--progress", "lines",
                                  "--json", report, "--input", extra, manifest);
    cr_assert_eq (run.status, 1, "exit %d\n%s%s", run.status, run.out, run.err);
    json_t *tests = s_tests (report);
    int refused = 0;
    const char *id;
    json_t *test;
    json_object_foreach (tests, id, test) {
        cr_assert_str_eq (json_string_value (json_object_get (test, "status")), "failed");
        const char *message = json_string_value (json_object_get (test, "message"));
        if (message && strstr (message, "cannot fetch its file data/input.txt to a2")
        &&  strstr (message, "did not match its digest"))
            refused++;
    }
    cr_assert_gt (refused, 0, "no test failed for its corrupt input:\n%s", run.out);
    json_t *stats = tmc_stats (agents [1]);
    cr_assert_geq (tmc_counter (stats, "work.blobs_refused"), 3);
    cr_assert_geq (tmc_counter (stats, "work.fetches_failed"), 1);
    json_decref (stats);
    //  Nothing corrupt was kept
    char *theirs = tmu_join (agents [1]->dir, "store");
    char *their_blob = tmu_join (theirs, hex);
    struct stat st;
    cr_assert_neq (stat (their_blob, &st), 0, "a2 stored the corrupt blob");
    cr_assert_leq (s_entries (agents [1], "work"), 0);
    tmu_run_free (&run);
    json_decref (tests);
    tmu_rmrf (dir);
    free (dir); free (input); free (store); free (blob); free (manifest); free (extra);
    free (report); free (theirs); free (their_blob);
}

Test (cli_ship, shared_fs_runs_tests_in_place_and_ships_nothing)
{
    tmc_agent_t *agents [2];
    s_cluster (agents, 2, "2");
    char *dir = tmu_scratch ();
    s_suite (dir, "in-place.sh", 8, NULL, false);
    char *manifest = tmu_join (dir, "suite.ini");
    char *extra = tmu_join (dir, "extra");
    char *report = tmu_join (dir, "report.json");
    tmu_run_t run = tmu_testmesh (60, "run", "--data", agents [0]->dir, "--progress", "lines",
                                  "--json", report, "--shared-fs", "--input", extra, manifest);
    cr_assert_eq (run.status, 0, "exit %d\n%s%s", run.status, run.out, run.err);
    json_t *tests = s_tests (report);
    cr_assert_eq (json_object_size (tests), 8);
    for (int i = 0; i < 2; i++) {
        json_t *stats = tmc_stats (agents [i]);
        cr_assert_eq (tmc_counter (stats, "work.blobs_fetched"), 0);
        cr_assert_eq (tmc_counter (stats, "work.bytes_served"), 0);
        json_decref (stats);
        cr_assert_leq (s_entries (agents [i], "store"), 0, "%s stored files", agents [i]->name);
    }
    tmu_run_free (&run);
    json_decref (tests);
    tmu_rmrf (dir);
    free (dir);
    free (manifest);
    free (extra);
    free (report);
}

Test (cli_ship, member_lacking_a_library_fails_the_test_naming_it)
{
    if (system ("command -v cc >/dev/null 2>&1") != 0)
        cr_skip_test ("no cc to build the test binary");
    tmc_agent_t *agents [2];
    s_cluster (agents, 2, "1");
    char *dir = tmu_scratch ();
    //  Built against a library that is then deleted: no member has it
    char command [8192];
    snprintf (command, sizeof command, "cd '%s' && "
              "printf 'int gone (void) { return 0; }\\n' > gone.c && "
              "printf 'int gone (void); int main (void) { return gone (); }\\n' > main.c && "
              "cc -shared -fPIC -Wl,-soname,libtmgone.so.3 -o libtmgone.so.3 gone.c && "
              "cc -o needs_gone main.c ./libtmgone.so.3 && rm libtmgone.so.3 && "
              "printf '[test \"lib/a\"]\\ncommand = ./needs_gone\\n\\n"
              "[test \"lib/b\"]\\ncommand = ./needs_gone\\n\\n"
              "[test \"lib/c\"]\\ncommand = ./needs_gone\\n\\n' > suite.ini", dir);
    cr_assert_eq (system (command), 0);
    char *manifest = tmu_join (dir, "suite.ini");
    char *report = tmu_join (dir, "report.json");
    tmu_run_t run = tmu_testmesh (60, "run", "--data", agents [0]->dir, "--progress", "lines",
                                  "--json", report, manifest);
    cr_assert_eq (run.status, 1, "exit %d\n%s%s", run.status, run.out, run.err);
    json_t *tests = s_tests (report);
    const char *id;
    json_t *test;
    json_object_foreach (tests, id, test) {
        cr_assert_str_eq (json_string_value (json_object_get (test, "status")), "failed");
        const char *message = json_string_value (json_object_get (test, "message"));
        const char *member = json_string_value (json_object_get (test, "member"));
        char want [256];
        snprintf (want, sizeof want, "cannot execute on %s: libtmgone.so.3 not found", member);
        cr_assert_str_eq (message, want);
    }
    tmu_run_free (&run);
    json_decref (tests);
    tmu_rmrf (dir);
    free (dir);
    free (manifest);
    free (report);
}

Test (cli_ship, missing_input_stops_the_run_before_it_starts)
{
    tmc_agent_t *agents [1];
    agents [0] = tmc_start ("a1", NULL, "--slots", "1", NULL);
    tmc_wait_ready (agents [0], 10);
    char *dir = tmu_scratch ();
    s_suite (dir, "never.sh", 2, NULL, true);
    char *manifest = tmu_join (dir, "suite.ini");
    char *missing = tmu_join (dir, "no-such-input");
    tmu_run_t run = tmu_testmesh (30, "run", "--data", agents [0]->dir, "--input", missing,
                                  manifest);
    cr_assert_eq (run.status, 2);
    cr_assert (strstr (run.err, "--input") && strstr (run.err, "No such file"), "%s", run.err);
    tmu_run_free (&run);
    tmu_rmrf (dir);
    free (dir);
    free (manifest);
    free (missing);
}
