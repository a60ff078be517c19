/*  tm_manifest.c - parse a testmesh manifest (docs/manifest.md).

    The file is read into memory and fed to libinih line by line through
    s_reader, which counts lines (so every error names PATH:LINE) and
    recognises section headers itself: Debian's inih cannot call us on a
    new section, truncates section names to 50 bytes, and would never
    show us a [test "x"] section that has no keys at all.  s_handler then
    takes each key = value, validates it on the spot and stores it in
    the current section.  When the whole file has parsed, s_build turns
    the sections into tasks, applying [defaults] wherever the test says
    nothing, so [defaults] may come anywhere in the file.

    Decisions worth knowing (docs/manifest.md says the same to users):

    1. Comments are whole lines starting with '#' or ';'.  Inline
       comments are off, so "command = a ; b" keeps its ';'.
    2. Continuation lines are off: an indented line is an ordinary line.
       inih also takes "key: value" for "key = value".
    3. command is split into words like a POSIX shell would, without any
       expansion (tm_manifest_split_words); with shell = true it is given
       whole to /bin/sh -c instead.  A program containing '/' and not
       absolute is taken relative to the manifest's directory.  A bare
       name is looked up in PATH here, once, as execvp would at spawn
       time (tm_path_search; relative PATH entries against the test's
       cwd), and replaced by the absolute path found: a run of 10,000
       `true` tests then costs 10,000 execs, not 10,000 PATH walks of
       failed execve calls in the children.  A name PATH does not have
       is left as it is, so the spawn fails with "cannot execute NAME".
    4. cwd defaults to the manifest's directory; a relative cwd is taken
       relative to it too.
    5. inputs are globbed (glob(3)) relative to the manifest's directory
       and stored as absolute paths.  A word that matches no file is an
       error: a declared input that does not exist is almost always a
       typo, and silently hashing nothing would poison the result cache.
    6. env and requires are words of NAME=VALUE (quotes allowed); env of
       [defaults] comes first, the test's after it (later wins).
       requires are "k=v" labels a member must have (tm_task_t.requires).
    7. Setting a key twice in one section, a second [defaults] and a
       second test of the same name are errors, not overrides.
    8. Test names may not contain ']' (inih ends the header at the first
       one) nor control characters; \" and \\ escape inside the quotes.

    inih is configured through process-wide globals in Debian's build;
    tm_manifest_load sets them for its parse and restores them after.
    So two loads must never overlap: the CLI loads from its main thread,
    and an agent's listing threads take tm_listing.c's lock first.
*/
#include "tm_manifest.h"
#include <errno.h>
#include <glob.h>
#include <ini.h>
#include <math.h>
#include <sys/stat.h>

//  Longest line we accept, and the most bytes a manifest may have.
#define S_MAX_LINE      65536
#define S_MAX_SIZE      (16 * 1024 * 1024)

//  Keys, in the order error messages list them.
typedef enum {
    S_KEY_COMMAND = 0,
    S_KEY_CWD,
    S_KEY_ENV,
    S_KEY_INPUTS,
    S_KEY_TIMEOUT,
    S_KEY_SHELL,
    S_KEY_REQUIRES,
    S_KEY_LABELS,
    S_KEY_COUNT
} s_key_t;

static const char *s_key_names [S_KEY_COUNT] = {
    "command", "cwd", "env", "inputs", "timeout", "shell", "requires", "labels"
};

//  Keys [defaults] accepts (a bit per s_key_t).
#define S_DEFAULTS_KEYS ((1u << S_KEY_CWD) | (1u << S_KEY_ENV) \
                       | (1u << S_KEY_TIMEOUT) | (1u << S_KEY_SHELL))

//  One [defaults] or [test "NAME"] section, its values validated.
typedef struct {
    char *name;                 //  Test name, NULL for [defaults]
    int line;                   //  Line of the section header
    int key_line [S_KEY_COUNT]; //  Line each key was set on, 0 = unset
    char *command;              //  Raw command value
    char *cwd;                  //  Absolute working directory, or NULL
    char **env;                 //  "K=V" words, or NULL
    char **inputs;              //  Absolute input paths, or NULL
    char **labels;              //  labels words, or NULL
    char **requires;            //  requires words (k=v), or NULL
    double timeout;             //  Seconds, 0 = unset
    bool shell;                 //  Run command with /bin/sh -c
} s_section_t;

//  The parse in progress.
typedef struct {
    const char *path;           //  Manifest path as given, for messages
    char *real;                 //  Its realpath, for history keys
    char *dir;                  //  Its absolute directory
    char *data;                 //  The whole file, NUL-terminated
    size_t size;                //  Bytes in data
    size_t pos;                 //  Next byte the reader hands to inih
    int lineno;                 //  Line the reader handed over last
    s_section_t *defaults;      //  [defaults], or NULL
    s_section_t **tests;        //  [test "..."] sections in file order
    size_t tests_size;          //  Entries in tests
    size_t tests_capacity;      //  Slots allocated in tests
    zhashx_t *names;            //  Test name -> its section in tests, borrowed
    zhashx_t *programs;         //  "CWD\x1fNAME" -> NAME found in PATH, "" if not
    s_section_t *current;       //  Section keys go to, NULL before any
    char *err;                  //  First error, "PATH:LINE: ..."
} s_manifest_t;

static void
s_section_destroy (s_section_t **self_p)
{
    s_section_t *self = *self_p;
    if (!self)
        return;
    free (self->name);
    free (self->command);
    free (self->cwd);
    tm_strv_free (&self->env);
    tm_strv_free (&self->inputs);
    tm_strv_free (&self->labels);
    tm_strv_free (&self->requires);
    free (self);
    *self_p = NULL;
}

//  Records an error at the current line; returns 0 so that it can be
//  returned from the inih handler (which stops the parse).
static int
s_error (s_manifest_t *self, int line, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_error (s_manifest_t *self, int line, const char *fmt, ...)
{
    if (!self->err) {
        char *what = NULL;
        va_list args;
        va_start (args, fmt);
        if (vasprintf (&what, fmt, args) < 0)
            abort ();
        va_end (args);
        self->err = tm_strdupf ("%s:%d: %s", self->path, line, what);
        free (what);
    }
    return 0;
}

//  Returns PATH made absolute against the manifest's directory.
static char *
s_resolve (s_manifest_t *self, const char *path)
{
    if (*path == '/')
        return strdup (path);
    while (path [0] == '.' && path [1] == '/')
        path += 2;
    if (*path == 0 || streq (path, "."))
        return strdup (self->dir);
    return tm_strdupf ("%s/%s", self->dir, path);
}

//  ---------------------------------------------------------------------
//  Section headers

static s_section_t *
s_find_test (s_manifest_t *self, const char *name)
{
    return (s_section_t *) zhashx_lookup (self->names, name);
}

//  Parses the inside of a [test "NAME"] header (TEXT points at the
//  opening quote).  Returns the name, or NULL after recording an error.
static char *
s_parse_test_name (s_manifest_t *self, const char *text, const char *header)
{
    assert (*text == '"');
    char *name = (char *) zmalloc (strlen (text) + 1);
    size_t len = 0;
    const char *p = text + 1;
    while (*p && *p != '"') {
        if (*p == '\\' && (p [1] == '"' || p [1] == '\\'))
            p++;
        if ((unsigned char) *p < 0x20 || *p == 0x7f) {
            free (name);
            s_error (self, self->lineno, "control character in test name");
            return NULL;
        }
        name [len++] = *p++;
    }
    if (*p != '"' || p [1] != 0) {
        free (name);
        s_error (self, self->lineno,
                 "bad section header [%s] (expected [test \"NAME\"])", header);
        return NULL;
    }
    if (len == 0) {
        free (name);
        s_error (self, self->lineno, "empty test name");
        return NULL;
    }
    return name;
}

//  Starts the section whose header text (between '[' and ']') is TEXT.
static void
s_begin_section (s_manifest_t *self, char *text)
{
    //  Trim, so "[ defaults ]" is [defaults]
    while (isspace ((unsigned char) *text))
        text++;
    size_t len = strlen (text);
    while (len && isspace ((unsigned char) text [len - 1]))
        text [--len] = 0;

    if (streq (text, "defaults")) {
        if (self->defaults) {
            s_error (self, self->lineno,
                     "duplicate [defaults] section (first on line %d)",
                     self->defaults->line);
            return;
        }
        self->defaults = (s_section_t *) zmalloc (sizeof (s_section_t));
        self->defaults->line = self->lineno;
        self->current = self->defaults;
        return;
    }
    if (strncmp (text, "test", 4) == 0
    && (text [4] == 0 || isspace ((unsigned char) text [4]) || text [4] == '"')) {
        const char *quote = text + 4;
        while (isspace ((unsigned char) *quote))
            quote++;
        if (*quote != '"') {
            s_error (self, self->lineno,
                     "bad section header [%s] (expected [test \"NAME\"])", text);
            return;
        }
        char *name = s_parse_test_name (self, quote, text);
        if (!name)
            return;
        s_section_t *first = s_find_test (self, name);
        if (first) {
            s_error (self, self->lineno,
                     "duplicate test '%s' (first defined on line %d)", name, first->line);
            free (name);
            return;
        }
        s_section_t *test = (s_section_t *) zmalloc (sizeof (s_section_t));
        test->name = name;
        test->line = self->lineno;
        if (self->tests_size == self->tests_capacity) {
            self->tests_capacity = self->tests_capacity ? 2 * self->tests_capacity : 64;
            self->tests = (s_section_t **) realloc (self->tests,
                self->tests_capacity * sizeof (s_section_t *));
            assert (self->tests);
        }
        self->tests [self->tests_size++] = test;
        zhashx_insert (self->names, name, test);
        self->current = test;
        return;
    }
    s_error (self, self->lineno,
             "unknown section [%s] (expected [defaults] or [test \"NAME\"])", text);
}

//  Looks at a line the way inih will: if it is a section header, starts
//  that section.  LINE is our own copy and may be modified.
static void
s_scan_line (s_manifest_t *self, char *line)
{
    char *start = line;
    //  strncmp, not memcmp: the line may be shorter than the BOM ("\n")
    if (self->lineno == 1 && strncmp (start, "\xEF\xBB\xBF", 3) == 0)
        start += 3;             //  UTF-8 BOM, which inih skips too
    while (isspace ((unsigned char) *start))
        start++;
    if (*start != '[')
        return;
    char *end = strchr (start + 1, ']');
    if (!end) {
        s_error (self, self->lineno, "section header without ']'");
        return;
    }
    for (const char *rest = end + 1; *rest; rest++)
        if (!isspace ((unsigned char) *rest)) {
            s_error (self, self->lineno, "unexpected text after ']'");
            return;
        }
    *end = 0;
    s_begin_section (self, start + 1);
}

//  inih's fgets-style reader: hands over one whole line per call.
static char *
s_reader (char *str, int num, void *stream)
{
    s_manifest_t *self = (s_manifest_t *) stream;
    if (self->err || self->pos >= self->size)
        return NULL;
    const char *start = self->data + self->pos;
    const char *newline = (const char *) memchr (start, '\n', self->size - self->pos);
    size_t len = newline ? (size_t) (newline - start) + 1 : self->size - self->pos;
    self->lineno++;
    if (num < 1 || len > (size_t) num - 1) {
        s_error (self, self->lineno, "line longer than %d bytes", num - 3);
        return NULL;
    }
    if (memchr (start, 0, len)) {
        s_error (self, self->lineno, "NUL byte in line");
        return NULL;
    }
    memcpy (str, start, len);
    str [len] = 0;
    self->pos += len;

    char *copy = strdup (str);
    s_scan_line (self, copy);
    free (copy);
    return self->err ? NULL : str;
}

//  ---------------------------------------------------------------------
//  Keys

//  Splits VALUE of KEY into words, recording an error if it cannot.
static char **
s_words (s_manifest_t *self, const char *key, const char *value)
{
    char *why = NULL;
    char **words = tm_manifest_split_words (value, &why);
    if (!words) {
        s_error (self, self->lineno, "%s: %s", key, why);
        free (why);
    }
    return words;
}

static bool
s_is_env_name (const char *word, size_t len)
{
    if (len == 0 || isdigit ((unsigned char) word [0]))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum ((unsigned char) word [i]) && word [i] != '_')
            return false;
    return true;
}

//  Checks that every word is NAME=VALUE (NAME an identifier when
//  IDENTIFIER is set, else any non-empty text) and appends them to *DEST.
static int
s_pairs (s_manifest_t *self, const char *key, const char *value,
         bool identifier, char ***dest)
{
    char **words = s_words (self, key, value);
    if (!words)
        return -1;
    for (char **word = words; *word; word++) {
        const char *equals = strchr (*word, '=');
        size_t len = equals ? (size_t) (equals - *word) : 0;
        if (!equals || len == 0 || (identifier && !s_is_env_name (*word, len))) {
            s_error (self, self->lineno, "%s: '%s' is not NAME=VALUE", key, *word);
            tm_strv_free (&words);
            return -1;
        }
        tm_strv_push (dest, *word);
    }
    tm_strv_free (&words);
    return 0;
}

static int
s_inputs (s_manifest_t *self, const char *value, char ***dest)
{
    char **words = s_words (self, "inputs", value);
    if (!words)
        return -1;
    int rc = 0;
    for (char **word = words; *word && rc == 0; word++) {
        char *pattern = s_resolve (self, *word);
        glob_t matches;
        int status = glob (pattern, 0, NULL, &matches);
        if (status == 0)
            for (size_t i = 0; i < matches.gl_pathc; i++)
                tm_strv_push (dest, matches.gl_pathv [i]);
        else {
            s_error (self, self->lineno, status == GLOB_NOMATCH
                     ? "input '%s' matches no file"
                     : "input '%s': cannot read its directory", *word);
            rc = -1;
        }
        globfree (&matches);
        free (pattern);
    }
    tm_strv_free (&words);
    return rc;
}

static int
s_bool (const char *value, bool *result)
{
    static const char *yes [] = { "true", "yes", "on", "1" };
    static const char *no [] = { "false", "no", "off", "0" };
    for (size_t i = 0; i < sizeof yes / sizeof yes [0]; i++) {
        if (strcasecmp (value, yes [i]) == 0)
            return *result = true, 0;
        if (strcasecmp (value, no [i]) == 0)
            return *result = false, 0;
    }
    return -1;
}

static int
s_handler (void *user, const char *section, const char *name, const char *value)
{
    s_manifest_t *self = (s_manifest_t *) user;
    s_section_t *current = self->current;
    if (!current)
        return s_error (self, self->lineno,
                        "key '%s' outside any section (expected [defaults] or "
                        "[test \"NAME\"] first)", name);
    int key = 0;
    while (key < S_KEY_COUNT && !streq (name, s_key_names [key]))
        key++;
    if (key == S_KEY_COUNT || (!current->name && !(S_DEFAULTS_KEYS & (1u << key)))) {
        if (current->name)
            return s_error (self, self->lineno,
                            "unknown key '%s' in [test \"%s\"] (expected command, cwd, "
                            "env, inputs, timeout, shell, requires or labels)",
                            name, current->name);
        else
            return s_error (self, self->lineno,
                            "unknown key '%s' in [defaults] (expected timeout, cwd, "
                            "env or shell)", name);
    }
    if (current->key_line [key])
        return s_error (self, self->lineno, "duplicate key '%s' (first set on line %d)",
                        name, current->key_line [key]);
    current->key_line [key] = self->lineno;

    switch ((s_key_t) key) {
        case S_KEY_COMMAND:
            if (!*value)
                return s_error (self, self->lineno, "empty command");
            current->command = strdup (value);
            break;
        case S_KEY_CWD:
            if (!*value)
                return s_error (self, self->lineno, "empty cwd");
            current->cwd = s_resolve (self, value);
            break;
        case S_KEY_ENV:
            if (s_pairs (self, "env", value, true, &current->env))
                return 0;
            break;
        case S_KEY_INPUTS:
            if (s_inputs (self, value, &current->inputs))
                return 0;
            break;
        case S_KEY_TIMEOUT: {
            char *end = NULL;
            errno = 0;
            double timeout = strtod (value, &end);
            if (!*value || *end || errno || !isfinite (timeout) || timeout <= 0)
                return s_error (self, self->lineno, "bad timeout '%s' (expected a "
                                "positive number of seconds)", value);
            if (timeout > TM_TIMEOUT_MAX)
                return s_error (self, self->lineno, "timeout must be at most %.0f "
                                "seconds, not '%s'", TM_TIMEOUT_MAX, value);
            current->timeout = timeout;
            break;
        }
        case S_KEY_SHELL:
            if (s_bool (value, &current->shell))
                return s_error (self, self->lineno,
                                "bad shell value '%s' (expected true or false)", value);
            break;
        case S_KEY_REQUIRES:
            if (s_pairs (self, "requires", value, false, &current->requires))
                return 0;
            break;
        case S_KEY_LABELS: {
            char **words = s_words (self, "labels", value);
            if (!words)
                return 0;
            for (char **word = words; *word; word++)
                if (**word)
                    tm_strv_push (&current->labels, *word);
            tm_strv_free (&words);
            break;
        }
        case S_KEY_COUNT:
            assert (false);
    }
    return 1;
}

//  ---------------------------------------------------------------------
//  Building tasks

//  Returns PROGRAM (a bare name) as found in PATH by a child started in
//  CWD (a new string), or NULL if PATH does not have it.  Each name is
//  looked up once per load, however many tests run it.
static char *
s_search_path (s_manifest_t *self, const char *program, const char *cwd)
{
    char *key = tm_strdupf ("%s\x1f%s", cwd, program);
    const char *found = (const char *) zhashx_lookup (self->programs, key);
    if (!found) {
        char *path = tm_path_search (program, cwd);
        zhashx_insert (self->programs, key, path ? path : "");
        free (path);
        found = (const char *) zhashx_lookup (self->programs, key);
    }
    free (key);
    return *found ? strdup (found) : NULL;
}

static tm_task_t *
s_build_task (s_manifest_t *self, s_section_t *test, const char *target, bool prefix)
{
    s_section_t *defaults = self->defaults;
    if (!test->command) {
        s_error (self, test->line, "test '%s' has no command", test->name);
        return NULL;
    }
    bool shell = test->key_line [S_KEY_SHELL] ? test->shell
               : defaults && defaults->key_line [S_KEY_SHELL] ? defaults->shell
               : false;
    const char *cwd = test->cwd ? test->cwd
                    : defaults && defaults->cwd ? defaults->cwd : self->dir;
    char **argv = NULL;
    if (shell) {
        tm_strv_push (&argv, "/bin/sh");
        tm_strv_push (&argv, "-c");
        tm_strv_push (&argv, test->command);
    }
    else {
        char *why = NULL;
        argv = tm_manifest_split_words (test->command, &why);
        if (!argv) {
            s_error (self, test->key_line [S_KEY_COMMAND], "command: %s", why);
            free (why);
            return NULL;
        }
        if (!argv [0] || !*argv [0]) {
            s_error (self, test->key_line [S_KEY_COMMAND], "command: empty program name");
            tm_strv_free (&argv);
            return NULL;
        }
        char *program = NULL;
        if (!strchr (argv [0], '/'))
            program = s_search_path (self, argv [0], cwd);  //  NULL: left as is
        else
        if (argv [0][0] != '/')
            program = s_resolve (self, argv [0]);
        if (program) {
            free (argv [0]);
            argv [0] = program;
        }
    }
    tm_task_t *task = tm_task_new_for (target, TM_KIND_MANIFEST, test->name, prefix,
                                       self->real);
    task->argv = argv;
    task->cwd = strdup (cwd);
    if (defaults)
        for (char **pair = defaults->env; pair && *pair; pair++)
            tm_strv_push (&task->env, *pair);
    for (char **pair = test->env; pair && *pair; pair++)
        tm_strv_push (&task->env, *pair);
    task->timeout = test->timeout > 0 ? test->timeout
                  : defaults ? defaults->timeout : 0;
    task->inputs = tm_strv_dup (test->inputs);
    task->labels = tm_strv_dup (test->labels);
    task->requires = tm_strv_dup (test->requires);
    return task;
}

//  Reads PATH whole.  Returns 0, or -1 with self->err set.
static int
s_read_file (s_manifest_t *self)
{
    FILE *file = fopen (self->path, "rb");
    if (!file)
        return tm_fail (&self->err, "%s: %s", self->path, strerror (errno));
    struct stat st;
    if (fstat (fileno (file), &st) == 0 && S_ISDIR (st.st_mode)) {
        fclose (file);
        return tm_fail (&self->err, "%s: %s", self->path, strerror (EISDIR));
    }
    size_t capacity = 4096;
    self->data = (char *) malloc (capacity);
    assert (self->data);
    while (true) {
        if (self->size + 1 >= capacity) {
            capacity *= 2;
            self->data = (char *) realloc (self->data, capacity);
            assert (self->data);
        }
        size_t got = fread (self->data + self->size, 1, capacity - self->size - 1, file);
        self->size += got;
        if (got == 0)
            break;
        if (self->size > S_MAX_SIZE)
            break;
    }
    int failed = ferror (file);
    fclose (file);
    self->data [self->size] = 0;
    if (failed)
        return tm_fail (&self->err, "%s: read error", self->path);
    if (self->size > S_MAX_SIZE)
        return tm_fail (&self->err, "%s: larger than %d bytes, not a manifest",
                        self->path, S_MAX_SIZE);
    return 0;
}

//  Runs inih over the file with our settings, restoring its globals.
static int
s_parse (s_manifest_t *self)
{
    bool multiline = ini_allow_multiline;
    bool inline_comments = ini_allow_inline_comments;
    bool use_stack = ini_use_stack;
    bool allow_realloc = ini_allow_realloc;
    bool stop_on_first_error = ini_stop_on_first_error;
    bool allow_no_value = ini_allow_no_value;
    int max_line = ini_max_line;
    int initial_alloc = ini_initial_alloc;

    ini_allow_multiline = false;
    ini_allow_inline_comments = false;
    ini_use_stack = false;      //  The stack buffer is fixed at build time
    ini_allow_realloc = false;
    ini_max_line = S_MAX_LINE;
    ini_initial_alloc = S_MAX_LINE;
    ini_stop_on_first_error = true;
    ini_allow_no_value = false;

    int rc = ini_parse_stream (s_reader, self, s_handler, self);

    ini_allow_multiline = multiline;
    ini_allow_inline_comments = inline_comments;
    ini_use_stack = use_stack;
    ini_allow_realloc = allow_realloc;
    ini_max_line = max_line;
    ini_initial_alloc = initial_alloc;
    ini_stop_on_first_error = stop_on_first_error;
    ini_allow_no_value = allow_no_value;

    if (self->err)
        return -1;
    if (rc == -2)
        return tm_fail (&self->err, "%s: out of memory", self->path);
    if (rc != 0) {
        s_error (self, rc > 0 ? rc : self->lineno, "cannot parse line (expected "
                 "[section], a comment, or key = value)");
        return -1;
    }
    return 0;
}

int
tm_manifest_load (const char *path, const char *target, bool prefix,
                  tm_tasklist_t *tasks, char **err)
{
    assert (path && target && tasks);
    s_manifest_t self = { .path = path };
    self.names = zhashx_new ();     //  Keys are copied, values borrowed
    self.programs = zhashx_new ();  //  Keys and values are copied
    zhashx_set_duplicator (self.programs, (zhashx_duplicator_fn *) strdup);
    zhashx_set_destructor (self.programs, (zhashx_destructor_fn *) zstr_free);
    tm_tasklist_t *found = tm_tasklist_new ();
    int rc = -1;

    if (s_read_file (&self))
        goto done;
    self.real = realpath (path, NULL);
    if (!self.real) {
        tm_fail (&self.err, "%s: %s", path, strerror (errno));
        goto done;
    }
    self.dir = strdup (self.real);
    char *slash = strrchr (self.dir, '/');
    assert (slash);             //  realpath is absolute
    slash [slash == self.dir ? 1 : 0] = 0;

    if (s_parse (&self))
        goto done;
    for (size_t i = 0; i < self.tests_size; i++) {
        tm_task_t *task = s_build_task (&self, self.tests [i], target, prefix);
        if (!task)
            goto done;
        tm_tasklist_append (found, &task);
    }
    tm_debug ("manifest", "%s: %zu tests", path, tm_tasklist_size (found));
    tm_tasklist_splice (tasks, &found);
    rc = 0;

done:
    if (rc && err && !*err) {
        *err = self.err;
        self.err = NULL;
    }
    free (self.err);
    tm_tasklist_destroy (&found);
    for (size_t i = 0; i < self.tests_size; i++)
        s_section_destroy (&self.tests [i]);
    free (self.tests);
    zhashx_destroy (&self.names);
    zhashx_destroy (&self.programs);
    s_section_destroy (&self.defaults);
    free (self.data);
    free (self.real);
    free (self.dir);
    return rc;
}

//  ---------------------------------------------------------------------
//  Words

char **
tm_manifest_split_words (const char *line, char **err)
{
    assert (line);
    char **words = (char **) zmalloc (sizeof (char *));
    char *word = (char *) malloc (strlen (line) + 1);
    assert (word);
    size_t len = 0;
    bool in_word = false;       //  A word has started (perhaps empty: '')
    const char *p = line;
    const char *problem = NULL;

    while (*p && !problem) {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
            if (in_word) {
                word [len] = 0;
                tm_strv_push (&words, word);
                len = 0;
                in_word = false;
            }
            p++;
        }
        else
        if (*p == '\'') {
            //  Everything up to the next ' is literal
            in_word = true;
            for (p++; *p && *p != '\''; p++)
                word [len++] = *p;
            if (*p)
                p++;
            else
                problem = "unterminated single quote";
        }
        else
        if (*p == '"') {
            //  Backslash escapes only \ " $ ` and newline
            in_word = true;
            for (p++; *p && *p != '"'; ) {
                if (*p == '\\' && p [1] == '\n')
                    p += 2;
                else
                if (*p == '\\' && strchr ("\\\"$`", p [1]) && p [1]) {
                    word [len++] = p [1];
                    p += 2;
                }
                else
                    word [len++] = *p++;
            }
            if (*p)
                p++;
            else
                problem = "unterminated double quote";
        }
        else
        if (*p == '\\') {
            if (p [1] == 0)
                problem = "backslash at end of line";
            else
            if (p [1] == '\n')
                p += 2;         //  Line continuation, no word started
            else {
                in_word = true;
                word [len++] = p [1];
                p += 2;
            }
        }
        else {
            in_word = true;
            word [len++] = *p++;
        }
    }
    if (!problem && in_word) {
        word [len] = 0;
        tm_strv_push (&words, word);
    }
    free (word);
    if (problem) {
        tm_strv_free (&words);
        tm_fail (err, "%s", problem);
        return NULL;
    }
    return words;
}
