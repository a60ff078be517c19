/*  test_loadcheck.c - can this member start that program (tm_loadcheck):
    a missing shared library, loader, interpreter or the wrong machine is
    named in one line; what can start, or what we cannot judge, passes.

    The binaries are built here with the system's cc, into a scratch
    directory, then their library is deleted: a member "lacking" it.
*/
#include "tm_testutil.h"
#include "tm_loadcheck.h"
#include <elf.h>

static char *s_dir;

static void
s_setup (void)
{
    s_dir = tmu_scratch ();
}

static void
s_teardown (void)
{
    tmu_rmrf (s_dir);
    free (s_dir);
}

TestSuite (loadcheck, .init = s_setup, .fini = s_teardown);

//  Runs COMMAND in s_dir with sh; skips the test if cc is missing.
static void
s_sh (const char *command)
{
    if (system ("command -v cc >/dev/null 2>&1") != 0)
        cr_skip_test ("no cc to build the test binaries");
    char line [8192];
    snprintf (line, sizeof line, "cd '%s' && %s", s_dir, command);
    cr_assert_eq (system (line), 0, "%s", line);
}

static tm_task_t *
s_task (const char *program)
{
    tm_task_t *task = tm_task_new ("t", "suite.ini", TM_KIND_MANIFEST);
    tm_strv_push (&task->argv, program);
    task->cwd = strdup (s_dir);
    return task;
}

static char *
s_check (const char *program)
{
    tm_loadcheck_t *check = tm_loadcheck_new ();
    tm_task_t *task = s_task (program);
    char *why = NULL;
    int rc = tm_loadcheck_task (check, task, &why);
    cr_assert ((rc == 0) == (why == NULL), "rc %d with why '%s'", rc, why ? why : "");
    tm_task_destroy (&task);
    tm_loadcheck_destroy (&check);
    return why;
}

Test (loadcheck, system_programs_and_path_lookups_pass)
{
    cr_assert_null (s_check ("/bin/sh"));
    cr_assert_null (s_check ("/usr/bin/env"));
    cr_assert_null (s_check ("sort"), "a PATH lookup is the member's own");
    cr_assert_null (s_check ("/no/such/program"), "exec says what is wrong with it");
}

Test (loadcheck, missing_shared_library_is_named)
{
    s_sh ("printf 'int gone (void) { return 0; }\\n' > gone.c && "
          "printf 'int gone (void); int main (void) { return gone (); }\\n' > main.c && "
          "cc -shared -fPIC -Wl,-soname,libtmgone.so.3 -o libtmgone.so.3 gone.c && "
          "cc -o needs_gone main.c ./libtmgone.so.3 && rm libtmgone.so.3");
    char path [4200];
    snprintf (path, sizeof path, "%s/needs_gone", s_dir);
    char *why = s_check (path);
    cr_assert_not_null (why, "a binary whose library is gone passed");
    cr_assert_str_eq (why, "libtmgone.so.3 not found");
    free (why);
    //  Relative to the task's cwd, as the executor runs it
    why = s_check ("./needs_gone");
    cr_assert_str_eq (why, "libtmgone.so.3 not found");
    free (why);
}

Test (loadcheck, library_found_through_origin_or_the_tasks_environment_passes)
{
    s_sh ("mkdir -p lib other && "
          "printf 'int here (void) { return 0; }\\n' > here.c && "
          "printf 'int here (void); int main (void) { return here (); }\\n' > main.c && "
          "cc -shared -fPIC -Wl,-soname,libtmhere.so.1 -o lib/libtmhere.so.1 here.c && "
          "cc -o with_origin main.c lib/libtmhere.so.1 -Wl,-rpath,'$ORIGIN/lib' && "
          "cp lib/libtmhere.so.1 other/ && "
          "cc -o with_env main.c lib/libtmhere.so.1");
    char path [4200];
    snprintf (path, sizeof path, "%s/with_origin", s_dir);
    cr_assert_null (s_check (path));
    //  Without RUNPATH it needs LD_LIBRARY_PATH, which the task may set
    snprintf (path, sizeof path, "%s/with_env", s_dir);
    char *why = s_check (path);
    cr_assert_str_eq (why, "libtmhere.so.1 not found");
    free (why);
    tm_loadcheck_t *check = tm_loadcheck_new ();
    tm_task_t *task = s_task (path);
    char *env = malloc (strlen (s_dir) + 64);
    sprintf (env, "LD_LIBRARY_PATH=%s/other", s_dir);
    tm_strv_push (&task->env, env);
    free (env);
    cr_assert_eq (tm_loadcheck_task (check, task, &why), 0, "%s", why);
    tm_task_destroy (&task);
    tm_loadcheck_destroy (&check);
}

Test (loadcheck, static_binary_passes_without_running_a_loader)
{
    s_sh ("printf 'int main (void) { return 0; }\\n' > main.c && "
          "(cc -static -o static_bin main.c 2>/dev/null || cc -o static_bin main.c)");
    char path [4200];
    snprintf (path, sizeof path, "%s/static_bin", s_dir);
    cr_assert_null (s_check (path));
}

Test (loadcheck, script_with_a_missing_interpreter_is_named)
{
    char path [4200];
    snprintf (path, sizeof path, "%s/script", s_dir);
    tmu_write (path, "#!/no/such/interpreter -x\nexit 0\n");
    chmod (path, 0755);
    char *why = s_check (path);
    cr_assert_str_eq (why, "its interpreter /no/such/interpreter is not found");
    free (why);
    tmu_write (path, "#! /bin/sh\nexit 0\n");
    cr_assert_null (s_check (path));
}

Test (loadcheck, elf_for_another_machine_or_loader_is_named)
{
    //  An ELF header of our class whose machine is not ours
    char path [4200];
    snprintf (path, sizeof path, "%s/foreign", s_dir);
    FILE *self = fopen ("/proc/self/exe", "rb");
    Elf64_Ehdr header;
    cr_assert_eq (fread (&header, sizeof header, 1, self), 1);
    fclose (self);
    header.e_machine = header.e_machine == EM_AARCH64 ? EM_X86_64 : EM_AARCH64;
    FILE *file = fopen (path, "wb");
    fwrite (&header, sizeof header, 1, file);
    fclose (file);
    char *why = s_check (path);
    cr_assert_not_null (why);
    cr_assert (strstr (why, "it is built for "), "%s", why);
    cr_assert (strstr (why, header.e_machine == EM_AARCH64 ? "aarch64" : "x86_64"), "%s", why);
    cr_assert (strstr (why, ", this member is "), "%s", why);
    free (why);

    //  Ours, but linked for a C library this member does not have
    s_sh ("printf 'int main (void) { return 0; }\\n' > main.c && "
          "cc -o other_libc main.c -Wl,--dynamic-linker=/lib/ld-tmnowhere.so.1");
    snprintf (path, sizeof path, "%s/other_libc", s_dir);
    why = s_check (path);
    cr_assert_str_eq (why, "its loader /lib/ld-tmnowhere.so.1 is missing "
                      "(built for another C library?)");
    free (why);
}

Test (loadcheck, garbage_and_truncated_files_pass_to_exec)
{
    char path [4200];
    snprintf (path, sizeof path, "%s/garbage", s_dir);
    tmu_write (path, "\x7f" "ELF\x02\x01\x01");      //  Cut inside the header
    cr_assert_null (s_check (path));
    tmu_write (path, "");
    cr_assert_null (s_check (path));
    tmu_write (path, "#!");
    cr_assert_null (s_check (path));
}
