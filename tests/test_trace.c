/*  test_trace.c - the trace of undeclared inputs (tm_trace, the shim, the
    executor's part): real children under the real shim record what they
    read, list, run and look up, their children's too; what they write is
    left out; a static program is reported untraceable.

    Helpers are built here with the system's cc (a program calling
    getenv, one calling execve with an environment of its own, a static
    one): if cc or libc.a is missing the test fails and says so.
*/
#include "tm_testutil.h"
#include "tm_executor.h"
#include "tm_trace.h"

static char *s_dir;
static char *s_shim;

static void
s_setup (void)
{
    s_dir = tmu_scratch ();
    char *err = NULL;
    s_shim = tm_trace_shim_path (s_dir, &err);
    cr_assert_not_null (s_shim, "%s", err);
}

static void
s_teardown (void)
{
    tmu_rmrf (s_dir);
    free (s_dir);
    free (s_shim);
}

TestSuite (trace, .init = s_setup, .fini = s_teardown, .timeout = 60);

static const char *
s_path (const char *name)
{
    static char bufs [8][4096];
    static int next;
    char *buf = bufs [next++ % 8];
    snprintf (buf, 4096, "%s/%s", s_dir, name);
    return buf;
}

//  Builds C source SOURCE into s_dir/NAME with cc and FLAGS.
static void
s_build (const char *name, const char *source, const char *flags)
{
    char *c_file = tm_strdupf ("%s/%s.c", s_dir, name);
    tmu_write (c_file, source);
    char *command = tm_strdupf ("cc %s -o '%s/%s' '%s' 2>&1", flags, s_dir, name, c_file);
    int status = system (command);
    cr_assert_eq (status, 0, "cannot build a helper (is cc, and for -static libc.a, "
                  "installed? apt-get install build-essential): %s", command);
    free (command);
    free (c_file);
}

//  Runs TASK through a real executor with the shim; returns its result.
static tm_result_t *
s_run (tm_task_t *task, const char *shim)
{
    tm_executor_config_t config = {
        .member = "m1", .slots = 1, .default_timeout = 30, .kill_grace = 1,
        .cancel_grace = 1, .output_limit = 65536, .trace_shim = shim
    };
    zactor_t *executor = zactor_new (tm_executor_actor, &config);
    cr_assert_not_null (executor);
    zsock_send (executor, "spi", "EXEC", task, 1);
    char *command = NULL;
    tm_result_t *result = NULL;
    cr_assert_eq (zsock_recv (executor, "sp", &command, &result), 0);
    cr_assert_str_eq (command, "DONE");
    free (command);
    zactor_destroy (&executor);
    return result;
}

static tm_task_t *
s_task (const char *command)
{
    tm_task_t *task = tm_task_new ("traced/one", "sh", TM_KIND_MANIFEST);
    tm_strv_push (&task->argv, "/bin/sh");
    tm_strv_push (&task->argv, "-c");
    tm_strv_push (&task->argv, command);
    task->cwd = strdup (s_dir);
    task->trace = true;
    task->skip_code = -1;
    return task;
}

static bool
s_has_line (const char *trace, const char *fmt, ...)
{
    char line [4200];
    va_list args;
    va_start (args, fmt);
    vsnprintf (line, sizeof line - 1, fmt, args);
    va_end (args);
    size_t length = strlen (line);
    for (const char *at = trace; at && (at = strstr (at, line)); at++)
        if ((at == trace || at [-1] == '\n') && at [length] == '\n')
            return true;
    return false;
}

Test (trace, the_embedded_shim_is_written_once_read_only)
{
    struct stat st;
    cr_assert_eq (stat (s_shim, &st), 0);
    cr_assert_eq (st.st_mode & 0777, 0555);
    cr_assert_eq ((size_t) st.st_size, (size_t) (tm_trace_shim_end - tm_trace_shim_start));
    cr_assert (strstr (s_shim, "/libtestmesh-trace-"));
    char *again = tm_trace_shim_path (s_dir, NULL);
    cr_assert_str_eq (again, s_shim);
    free (again);
}

Test (trace, a_static_program_is_not_traceable)
{
    s_build ("static_true", "int main (void) { return 0; }\n", "-static");
    s_build ("dynamic_true", "int main (void) { return 0; }\n", "");
    cr_assert_not (tm_trace_traceable (s_path ("static_true")));
    cr_assert (tm_trace_traceable (s_path ("dynamic_true")));
    cr_assert (tm_trace_traceable ("/bin/sh"));
    cr_assert (tm_trace_traceable ("sh"), "found through PATH");
    cr_assert_not (tm_trace_traceable (s_path ("no-such-program")));
    tmu_write (s_path ("script"), "#!/bin/sh\nexit 0\n");
    cr_assert (tm_trace_traceable (s_path ("script")), "its interpreter is dynamic");
}

Test (trace, a_test_and_its_children_are_traced)
{
    s_build ("getenv_helper",
             "#include <stdlib.h>\n"
             "int main (int argc, char **argv) { return getenv (argv [1]) ? 0 : 0; }\n", "");
    tmu_write (s_path ("data.txt"), "data\n");
    tmu_write (s_path ("deeper.txt"), "deeper\n");
    cr_assert_eq (mkdir (s_path ("listed"), 0700), 0);
    tmu_write (s_path ("listed/x"), "x\n");
    tm_task_t *task = s_task (
        "cat data.txt >/dev/null; ls listed >/dev/null; ./getenv_helper MY_SECRET_VAR; "
        "echo out > out.txt; cat out.txt >/dev/null; "
        "sh -c 'sh -c \"cat deeper.txt\"' >/dev/null");
    tm_result_t *result = s_run (task, s_shim);
    cr_assert_eq (result->status, TM_STATUS_PASSED, "%s", result->message);
    cr_assert_not (result->untraceable);
    const char *trace = result->trace;
    cr_assert_not_null (trace);
    char *ls = tm_path_search ("ls", NULL);
    char *cat = tm_path_search ("cat", NULL);
    cr_assert (s_has_line (trace, "r %s", s_path ("data.txt")), "%s", trace);
    cr_assert (s_has_line (trace, "d %s", s_path ("listed")), "%s", trace);
    cr_assert (s_has_line (trace, "x %s", ls), "%s", trace);
    cr_assert (s_has_line (trace, "x %s", cat), "%s", trace);
    cr_assert (s_has_line (trace, "x %s", s_path ("getenv_helper")), "%s", trace);
    cr_assert (s_has_line (trace, "e MY_SECRET_VAR"), "%s", trace);
    cr_assert (s_has_line (trace, "r %s", s_path ("deeper.txt")),
               "a grandchild is traced: %s", trace);
    cr_assert_not (strstr (trace, "out.txt"), "written files are left out: %s", trace);
    cr_assert_not (strstr (trace, " /proc/"), "%s", trace);
    cr_assert_not (strstr (trace, " /dev/"), "%s", trace);
    cr_assert_not (strstr (trace, "libtestmesh-trace"), "%s", trace);
    cr_assert_not (strstr (trace, "testmesh-trace."), "the trace file: %s", trace);
    free (ls);
    free (cat);
    tm_result_destroy (&result);
    tm_task_destroy (&task);
}

Test (trace, an_exec_with_its_own_environment_stays_traced)
{
    s_build ("exec_clean",
             "#include <unistd.h>\n"
             "int main (int argc, char **argv) {\n"
             "    char *args [] = { \"cat\", argv [1], NULL };\n"
             "    char *env [] = { \"ONLY=this\", NULL };\n"
             "    execve (\"/bin/cat\", args, env);\n"
             "    return 99;\n"
             "}\n", "");
    tmu_write (s_path ("through.txt"), "through\n");
    tm_task_t *task = s_task ("./exec_clean through.txt");
    tm_result_t *result = s_run (task, s_shim);
    cr_assert_eq (result->status, TM_STATUS_PASSED, "%s", result->message);
    cr_assert_str_eq (result->out, "through\n");
    cr_assert (s_has_line (result->trace, "x /bin/cat"), "%s", result->trace);
    cr_assert (s_has_line (result->trace, "r %s", s_path ("through.txt")),
               "cat, with an environment lacking the shim, is traced: %s", result->trace);
    tm_result_destroy (&result);
    tm_task_destroy (&task);
}

Test (trace, a_static_test_is_reported_untraceable)
{
    s_build ("static_true", "int main (void) { return 0; }\n", "-static");
    tm_task_t *task = tm_task_new ("static/one", "x", TM_KIND_MANIFEST);
    tm_strv_push (&task->argv, s_path ("static_true"));
    task->trace = true;
    task->skip_code = -1;
    tm_result_t *result = s_run (task, s_shim);
    cr_assert_eq (result->status, TM_STATUS_PASSED, "%s", result->message);
    cr_assert (result->untraceable);
    cr_assert_null (result->trace);
    tm_result_destroy (&result);
    tm_task_destroy (&task);
}

Test (trace, without_a_shim_or_a_request_nothing_is_traced)
{
    tm_task_t *task = s_task ("cat /etc/hostname >/dev/null; true");
    tm_result_t *result = s_run (task, NULL);
    cr_assert_eq (result->status, TM_STATUS_PASSED);
    cr_assert (result->untraceable, "asked, but no shim");
    cr_assert_null (result->trace);
    tm_result_destroy (&result);
    task->trace = false;
    result = s_run (task, s_shim);
    cr_assert_not (result->untraceable);
    cr_assert_null (result->trace);
    tm_result_destroy (&result);
    tm_task_destroy (&task);
}

Test (trace, the_reader_keeps_inputs_only_sorted_and_once)
{
    tmu_write (s_path ("raw"),
               "r /etc/b\n"
               "r /etc/a\n"
               "r /etc/a\n"
               "s /etc/a\n"
               "s /etc/only-stat\n"
               "r /proc/self/maps\n"
               "r /dev/null\n"
               "s /sys/kernel\n"
               "r /work/out.txt\n"
               "w /work/out.txt\n"
               "m /work/made\n"
               "r /work/made/inside\n"
               "r /excluded/dir/file\n"
               "d /etc/../usr/./lib\n"
               "x /bin/sh\n"
               "e HOME\n"
               "e HOME\n"
               "q nonsense\n"
               "r relative/path\n"
               "r /etc/torn");
    char *excludes [] = { "/excluded/dir", NULL };
    char *text = tm_trace_read (s_path ("raw"), excludes);
    cr_assert_str_eq (text,
                      "d /usr/lib\n"
                      "e HOME\n"
                      "r /etc/a\n"
                      "r /etc/b\n"
                      "s /etc/only-stat\n"
                      "x /bin/sh\n");
    free (text);
    cr_assert_null (tm_trace_read (s_path ("no-such-trace"), NULL));
}
