/*  tm_loadcheck.c - can this member start that program?

    Everything read here comes from a file another member sent: the ELF
    header and program headers are bounds-checked before use, and the
    loader's output is only searched for a few fixed phrases.
*/
#include "tm_loadcheck.h"
#include "tm_proc.h"
#include <elf.h>
#include <fcntl.h>
#include <poll.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_LOADER_TIMEOUT  10.0      //  s the loader may take to list
#define S_OUTPUT_MAX      65536     //  Bytes of its output kept
#define S_CACHE_MAX       4096      //  Answers kept; then we start afresh
#define S_PHDRS_MAX       256       //  Program headers read, at most

struct _tm_loadcheck_t {
    zhashx_t *answers;          //  key -> "" (can start) or why not
    unsigned char ident [EI_NIDENT];    //  Our own ELF class, data, ...
    uint16_t machine;           //  ... and machine
    bool known;                 //  We could read our own header
};

static void
s_answer_destroy (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

//  Reads our own ELF identity into SELF (known stays false if we cannot).
static void
s_identity (tm_loadcheck_t *self)
{
    int fd = open ("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    Elf64_Ehdr header;      //  Ident and machine sit at the same offsets in both classes
    if (fd >= 0 && pread (fd, &header, sizeof header, 0) == (ssize_t) sizeof header
    &&  memcmp (header.e_ident, ELFMAG, SELFMAG) == 0) {
        memcpy (self->ident, header.e_ident, EI_NIDENT);
        self->machine = header.e_machine;
        self->known = true;
    }
    if (fd >= 0)
        close (fd);
}

tm_loadcheck_t *
tm_loadcheck_new (void)
{
    tm_loadcheck_t *self = (tm_loadcheck_t *) zmalloc (sizeof (tm_loadcheck_t));
    self->answers = zhashx_new ();
    zhashx_set_destructor (self->answers, s_answer_destroy);
    s_identity (self);
    return self;
}

void
tm_loadcheck_destroy (tm_loadcheck_t **self_p)
{
    assert (self_p);
    tm_loadcheck_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->answers);
    free (self);
    *self_p = NULL;
}

static const char *
s_machine_name (uint16_t machine, unsigned char class)
{
    switch (machine) {
        case EM_386:     return "i386";
        case EM_X86_64:  return class == ELFCLASS32 ? "x32" : "x86_64";
        case EM_ARM:     return "arm";
        case EM_AARCH64: return "aarch64";
        case EM_RISCV:   return class == ELFCLASS32 ? "riscv32" : "riscv64";
        case EM_PPC:     return "ppc";
        case EM_PPC64:   return "ppc64";
        case EM_S390:    return "s390x";
        case EM_MIPS:    return "mips";
        default:         return NULL;
    }
}

//  "x86_64", or "ELF machine N" into BUFFER.
static const char *
s_describe (uint16_t machine, unsigned char class, unsigned char data, char *buffer,
            size_t size)
{
    const char *name = s_machine_name (machine, class);
    if (name)
        snprintf (buffer, size, "%s%s", name, data == ELFDATA2MSB ? " (big-endian)" : "");
    else
        snprintf (buffer, size, "ELF machine %u", (unsigned) machine);
    return buffer;
}

//  The loader a dynamically linked ELF file names (PT_INTERP), into
//  INTERP (empty if none: static).  Returns 0, or -1 with *why if the
//  file is an ELF file for another machine.  A file we cannot make sense
//  of gives 0 and an empty INTERP: exec will say what is wrong.
static int
s_elf_interp (tm_loadcheck_t *self, int fd, char *interp, size_t interp_size, char **why)
{
    interp [0] = 0;
    Elf64_Ehdr header;
    if (pread (fd, &header, EI_NIDENT, 0) != EI_NIDENT)
        return 0;
    unsigned char class = header.e_ident [EI_CLASS];
    unsigned char data = header.e_ident [EI_DATA];
    if (class != ELFCLASS32 && class != ELFCLASS64)
        return 0;
    //  e_machine is at offset 18 in both classes, in the file's byte order
    uint8_t raw [2];
    if (pread (fd, raw, 2, 18) != 2)
        return 0;
    uint16_t machine = data == ELFDATA2MSB ? (uint16_t) (raw [0] << 8 | raw [1])
                                           : (uint16_t) (raw [1] << 8 | raw [0]);
    if (self->known && (class != self->ident [EI_CLASS] || data != self->ident [EI_DATA]
                        || machine != self->machine)) {
        char theirs [64], ours [64];
        *why = tm_strdupf ("it is built for %s, this member is %s",
                           s_describe (machine, class, data, theirs, sizeof theirs),
                           s_describe (self->machine, self->ident [EI_CLASS],
                                       self->ident [EI_DATA], ours, sizeof ours));
        return -1;
    }
    if (!self->known || class != self->ident [EI_CLASS])
        return 0;
    //  Our own class and byte order: the native structures apply
    uint64_t phoff;
    size_t phnum, phentsize;
    if (class == ELFCLASS64) {
        if (pread (fd, &header, sizeof header, 0) != (ssize_t) sizeof header)
            return 0;
        phoff = header.e_phoff;
        phnum = header.e_phnum;
        phentsize = header.e_phentsize;
        if (phentsize != sizeof (Elf64_Phdr))
            return 0;
    }
    else {
        Elf32_Ehdr small;
        if (pread (fd, &small, sizeof small, 0) != (ssize_t) sizeof small)
            return 0;
        phoff = small.e_phoff;
        phnum = small.e_phnum;
        phentsize = small.e_phentsize;
        if (phentsize != sizeof (Elf32_Phdr))
            return 0;
    }
    if (phnum > S_PHDRS_MAX)
        phnum = S_PHDRS_MAX;
    for (size_t i = 0; i < phnum; i++) {
        uint64_t type, offset, size;
        off_t at = (off_t) (phoff + i * phentsize);
        if (class == ELFCLASS64) {
            Elf64_Phdr phdr;
            if (pread (fd, &phdr, sizeof phdr, at) != (ssize_t) sizeof phdr)
                return 0;
            type = phdr.p_type, offset = phdr.p_offset, size = phdr.p_filesz;
        }
        else {
            Elf32_Phdr phdr;
            if (pread (fd, &phdr, sizeof phdr, at) != (ssize_t) sizeof phdr)
                return 0;
            type = phdr.p_type, offset = phdr.p_offset, size = phdr.p_filesz;
        }
        if (type != PT_INTERP)
            continue;
        if (size < 2 || size >= interp_size
        ||  pread (fd, interp, (size_t) size, (off_t) offset) != (ssize_t) size
        ||  interp [size - 1] != 0 || strlen (interp) != size - 1) {
            interp [0] = 0;
            return 0;
        }
        return 0;
    }
    return 0;
}

//  The first thing the loader's OUTPUT says is missing, or NULL.
static char *
s_missing (const char *output)
{
    //  Older loaders list everything: "\tlibfoo.so.3 => not found"
    for (const char *line = output; line && *line; ) {
        const char *end = strchr (line, '\n');
        size_t length = end ? (size_t) (end - line) : strlen (line);
        char *copy = strndup (line, length);
        char *found = strstr (copy, " => not found");
        char *version = strstr (copy, "' not found");
        char *shared = strstr (copy, "error while loading shared libraries: ");
        char *why = NULL;
        if (found) {
            *found = 0;
            char *name = copy + strspn (copy, " \t");
            why = tm_strdupf ("%s not found", name);
        }
        else
        if (version && strstr (copy, "version ")) {
            //  "PROG: /lib/libc.so.6: version `GLIBC_2.38' not found (required by PROG)"
            char *start = strstr (copy, ": ");
            start = start && start < version ? start + 2 : copy;
            version [strlen ("' not found")] = 0;
            why = strdup (start);
        }
        else
        if (shared) {
            //  "PROG: error while loading shared libraries: libfoo.so.3: cannot open ..."
            char *name = shared + strlen ("error while loading shared libraries: ");
            char *colon = strstr (name, ": ");
            if (colon)
                *colon = 0;
            why = strstr (colon ? colon + 2 : "", "cannot open shared object")
                ? tm_strdupf ("%s not found", name)
                : tm_strdupf ("%s cannot be loaded", name);
        }
        free (copy);
        if (why)
            return why;
        line = end ? end + 1 : NULL;
    }
    return NULL;
}

//  Runs `INTERP --list PROGRAM` in CWD with ENV, as tm_proc_run would,
//  but without its sweep for orphans: the work pool's executor spares
//  the daemons of running tests, and a sweep here would kill them.
//  Returns what it printed (stdout and stderr), or NULL.
static char *
s_run_loader (const char *interp, const char *program, const char *cwd, char *const env [])
{
    char *argv [] = { (char *) interp, "--list", (char *) program, NULL };
    char *err = NULL;
    tm_proc_t *proc = tm_proc_spawn (argv, cwd, env, S_OUTPUT_MAX, &err);
    if (!proc) {
        tm_debug ("loadcheck", "cannot run %s: %s", interp, err);
        free (err);
        return NULL;
    }
    double deadline = tm_now () + S_LOADER_TIMEOUT;
    while (!tm_proc_exited (proc) || tm_proc_stdout_fd (proc) >= 0
           || tm_proc_stderr_fd (proc) >= 0) {
        double left = deadline - tm_now ();
        if (left <= 0)
            break;
        struct pollfd items [3];
        int count = 0;
        if (tm_proc_stdout_fd (proc) >= 0)
            items [count++] = (struct pollfd) { tm_proc_stdout_fd (proc), POLLIN, 0 };
        if (tm_proc_stderr_fd (proc) >= 0)
            items [count++] = (struct pollfd) { tm_proc_stderr_fd (proc), POLLIN, 0 };
        if (!tm_proc_exited (proc) && tm_proc_pid_fd (proc) >= 0)
            items [count++] = (struct pollfd) { tm_proc_pid_fd (proc), POLLIN, 0 };
        int wait = tm_proc_pid_fd (proc) >= 0 ? (int) (left * 1000) + 1 : 10;
        if (poll (items, (nfds_t) count, count ? wait : 10) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < count; i++)
            if (items [i].revents && items [i].fd != tm_proc_pid_fd (proc))
                tm_proc_read (proc, items [i].fd);
        if (!tm_proc_exited (proc) && tm_proc_reap (proc) && tm_now () + 0.2 < deadline)
            deadline = tm_now () + 0.2;     //  Its pipes get a short grace
    }
    char *output = NULL;
    if (tm_proc_exited (proc)) {
        char *out = NULL, *errors = NULL;
        size_t out_size = 0, err_size = 0;
        uint64_t cut;
        tm_proc_take_output (proc, 1, &out, &out_size, &cut);
        tm_proc_take_output (proc, 2, &errors, &err_size, &cut);
        output = tm_strdupf ("%s\n%s", out ? out : "", errors ? errors : "");
        free (out);
        free (errors);
    }
    else
        tm_debug ("loadcheck", "%s --list %s did not finish", interp, program);
    tm_proc_destroy (&proc);    //  Kills and reaps it if it still runs
    return output;
}

//  The answer for PROGRAM (open as FD), computed.  NULL: it can start.
static char *
s_check (tm_loadcheck_t *self, int fd, const char *program, const tm_task_t *task)
{
    char head [256] = { 0 };
    ssize_t got = pread (fd, head, sizeof head - 1, 0);
    if (got >= 2 && head [0] == '#' && head [1] == '!') {
        //  A script: its interpreter, the first word after "#!"
        char *start = head + 2 + strspn (head + 2, " \t");
        size_t length = strcspn (start, " \t\r\n");
        start [length] = 0;
        if (length > 0 && start [0] == '/' && access (start, X_OK) != 0)
            return tm_strdupf ("its interpreter %s %s", start,
                               errno == ENOENT ? "is not found" : "cannot be executed");
        return NULL;
    }
    if (got < SELFMAG || memcmp (head, ELFMAG, SELFMAG) != 0)
        return NULL;
    char *why = NULL;
    char interp [4096];
    if (s_elf_interp (self, fd, interp, sizeof interp, &why) != 0)
        return why;
    if (!interp [0])
        return NULL;            //  Static: nothing to load
    if (access (interp, X_OK) != 0)
        return tm_strdupf ("its loader %s is missing (built for another C library?)", interp);
    char *output = s_run_loader (interp, program, task->cwd, task->env);
    why = output ? s_missing (output) : NULL;
    free (output);
    return why;
}

int
tm_loadcheck_task (tm_loadcheck_t *self, const tm_task_t *task, char **why)
{
    assert (self && task && why);
    *why = NULL;
    const char *program = task->argv ? task->argv [0] : NULL;
    if (!program || !strchr (program, '/'))
        return 0;               //  Found through PATH when it starts: not ours to judge
    char *path = program [0] == '/' || !task->cwd ? strdup (program)
               : tm_strdupf ("%s/%s", task->cwd, program);
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)) {
        //  exec will say what is wrong with it
        if (fd >= 0)
            close (fd);
        free (path);
        return 0;
    }
    //  The key: the file, the environment (LD_LIBRARY_PATH, ...) and the
    //  shipped files beside it ($ORIGIN), as one digest
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, 16);
    char file_key [128];
    snprintf (file_key, sizeof file_key, "%lx:%lx:%lx:%ld.%09ld", (unsigned long) st.st_dev,
              (unsigned long) st.st_ino, (unsigned long) st.st_size,
              (long) st.st_mtim.tv_sec, (long) st.st_mtim.tv_nsec);
    crypto_generichash_update (&state, (const unsigned char *) file_key, strlen (file_key) + 1);
    for (size_t i = 0; task->env && task->env [i]; i++)
        if (strncmp (task->env [i], "TESTMESH_", 9) != 0)
            crypto_generichash_update (&state, (const unsigned char *) task->env [i],
                                       strlen (task->env [i]) + 1);
    //  The shipped files matter only to a shipped program: /bin/sh finds
    //  its libraries the same whatever a test declares
    const char *work = NULL;
    for (size_t i = 0; task->env && task->env [i]; i++)
        if (strncmp (task->env [i], "TESTMESH_WORK_DIR=", 18) == 0)
            work = task->env [i] + 18;
    bool shipped = work && *work && strncmp (path, work, strlen (work)) == 0;
    for (size_t i = 0; shipped && i < task->files_size; i++) {
        crypto_generichash_update (&state, (const unsigned char *) task->files [i].path,
                                   strlen (task->files [i].path) + 1);
        crypto_generichash_update (&state, (const unsigned char *) task->files [i].digest, 64);
    }
    unsigned char digest [16];
    crypto_generichash_final (&state, digest, sizeof digest);
    char key [33];
    sodium_bin2hex (key, sizeof key, digest, sizeof digest);

    const char *answer = (const char *) zhashx_lookup (self->answers, key);
    if (!answer) {
        char *computed = s_check (self, fd, path, task);
        if (zhashx_size (self->answers) >= S_CACHE_MAX)
            zhashx_purge (self->answers);
        zhashx_insert (self->answers, key, computed ? computed : strdup (""));
        answer = (const char *) zhashx_lookup (self->answers, key);
    }
    close (fd);
    free (path);
    if (!*answer)
        return 0;
    *why = strdup (answer);
    return -1;
}

int
tm_loadcheck_interp (const char *program, char *interp, size_t size)
{
    assert (program && interp && size > 0);
    interp [0] = 0;
    tm_loadcheck_t self = { 0 };
    s_identity (&self);
    int fd = open (program, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    unsigned char head [EI_NIDENT];
    char *why = NULL;
    int rc = 0;
    if (!self.known
    ||  pread (fd, head, EI_NIDENT, 0) != EI_NIDENT
    ||  memcmp (head, ELFMAG, SELFMAG) != 0
    ||  head [EI_CLASS] != self.ident [EI_CLASS]
    ||  head [EI_DATA] != self.ident [EI_DATA]
    ||  s_elf_interp (&self, fd, interp, size, &why) != 0)
        rc = -1;
    free (why);
    close (fd);
    return rc;
}
