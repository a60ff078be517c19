/*  tm_text.c - text helpers shared by the reporters: UTF-8 repair, XML
    escaping, output tails, test id splitting, atomic report files.
*/
#include "tm_text.h"
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

//  U+FFFD encoded in UTF-8.
#define S_REPLACEMENT_UTF8 "\xEF\xBF\xBD"

size_t
tm_text_utf8_decode (const char *data, size_t size, uint32_t *codepoint)
{
    assert (data && size > 0 && codepoint);
    const unsigned char *s = (const unsigned char *) data;
    unsigned char lead = s [0];
    if (lead < 0x80) {
        *codepoint = lead;
        return 1;
    }
    size_t more;                //  Continuation bytes the lead byte asks for
    uint32_t value;             //  Code point being assembled
    uint32_t lowest;            //  Smallest value that needs this length
    if (lead >= 0xC2 && lead <= 0xDF) {
        more = 1; value = lead & 0x1F; lowest = 0x80;
    }
    else
    if (lead >= 0xE0 && lead <= 0xEF) {
        more = 2; value = lead & 0x0F; lowest = 0x800;
    }
    else
    if (lead >= 0xF0 && lead <= 0xF4) {
        more = 3; value = lead & 0x07; lowest = 0x10000;
    }
    else
        goto invalid;           //  Continuation byte, 0xC0/0xC1, or 0xF5..0xFF
    if (size < more + 1)
        goto invalid;
    for (size_t i = 1; i <= more; i++) {
        if ((s [i] & 0xC0) != 0x80)
            goto invalid;
        value = (value << 6) | (s [i] & 0x3F);
    }
    if (value < lowest || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF))
        goto invalid;
    *codepoint = value;
    return more + 1;

invalid:
    *codepoint = TM_TEXT_REPLACEMENT;
    return 1;
}

//  Length in bytes of DATA once each invalid byte and NUL is replaced
//  by U+FFFD.
static size_t
s_sanitized_length (const char *data, size_t size)
{
    size_t length = 0;
    size_t pos = 0;
    while (pos < size) {
        uint32_t codepoint;
        size_t used = tm_text_utf8_decode (data + pos, size - pos, &codepoint);
        length += (codepoint == TM_TEXT_REPLACEMENT || codepoint == 0)? 3: used;
        pos += used;
    }
    return length;
}

char *
tm_text_utf8_sanitize (const char *data, size_t size, size_t *length)
{
    assert (data || size == 0);
    //  Two passes so the copy is exactly as big as it needs to be: test
    //  output can be large and is nearly always valid already.
    size_t needed = s_sanitized_length (data, size);
    char *copy = (char *) malloc (needed + 1);
    if (!copy)
        abort ();               //  Out of memory: as CZMQ, we do not limp on
    size_t out = 0;
    size_t pos = 0;
    while (pos < size) {
        uint32_t codepoint;
        size_t used = tm_text_utf8_decode (data + pos, size - pos, &codepoint);
        if (codepoint == TM_TEXT_REPLACEMENT || codepoint == 0) {
            memcpy (copy + out, S_REPLACEMENT_UTF8, 3);
            out += 3;
        }
        else {
            memcpy (copy + out, data + pos, used);
            out += used;
        }
        pos += used;
    }
    assert (out == needed);
    copy [out] = 0;
    if (length)
        *length = out;
    return copy;
}

bool
tm_text_xml_char_ok (uint32_t codepoint)
{
    return codepoint == 0x09 || codepoint == 0x0A || codepoint == 0x0D
        || (codepoint >= 0x20 && codepoint <= 0xD7FF)
        || (codepoint >= 0xE000 && codepoint <= 0xFFFD)
        || (codepoint >= 0x10000 && codepoint <= 0x10FFFF);
}

//  The replacement for one character in XML, or NULL if it is written
//  as it is.
static const char *
s_xml_escape (uint32_t codepoint, bool attribute)
{
    switch (codepoint) {
        case '&':  return "&amp;";
        case '<':  return "&lt;";
        case '>':  return "&gt;";
        case '"':  return "&quot;";
        case '\'': return "&apos;";
        //  A parser turns a raw CR (and CR LF) into LF; keep it as it was.
        case '\r': return "&#13;";
        //  In attributes a parser turns raw tab and LF into spaces.
        case '\n': return attribute? "&#10;": NULL;
        case '\t': return attribute? "&#9;": NULL;
        case TM_TEXT_REPLACEMENT: return S_REPLACEMENT_UTF8;
        default:
            return tm_text_xml_char_ok (codepoint)? NULL: S_REPLACEMENT_UTF8;
    }
}

void
tm_text_xml_write (FILE *out, const char *data, size_t size, bool attribute)
{
    assert (out);
    assert (data || size == 0);
    //  Copy runs of plain text with one fwrite, break them at each
    //  character that needs an escape.
    size_t run = 0;             //  Start of the run not yet written
    size_t pos = 0;
    while (pos < size) {
        uint32_t codepoint;
        size_t used = tm_text_utf8_decode (data + pos, size - pos, &codepoint);
        const char *escape = s_xml_escape (codepoint, attribute);
        if (escape) {
            if (pos > run)
                fwrite (data + run, 1, pos - run, out);
            fputs (escape, out);
            run = pos + used;
        }
        pos += used;
    }
    if (pos > run)
        fwrite (data + run, 1, pos - run, out);
}

void
tm_text_xml_puts (FILE *out, const char *str, bool attribute)
{
    if (str)
        tm_text_xml_write (out, str, strlen (str), attribute);
}

const char *
tm_text_tail (const char *data, size_t size, int lines, size_t *skipped)
{
    assert (data || size == 0);
    size_t pos = size;
    if (lines > 0) {
        size_t end = size;
        if (end > 0 && data [end - 1] == '\n')
            end--;              //  The final newline ends a line, starts none
        int seen = 0;
        pos = end;
        while (pos > 0) {
            if (data [pos - 1] == '\n' && ++seen == lines)
                break;
            pos--;
        }
    }
    if (skipped)
        *skipped = pos;
    return data? data + pos: "";
}

//  A separator is usable if it has text on both sides.
static const char *
s_usable (const char *text, const char *sep)
{
    return (sep && sep > text && sep [1])? sep: NULL;
}

//  The last path component of TARGET as a new string, ignoring
//  trailing slashes; "testmesh" if there is none.
static char *
s_basename (const char *target)
{
    if (!target)
        return strdup ("testmesh");
    size_t end = strlen (target);
    while (end > 0 && target [end - 1] == '/')
        end--;
    size_t start = end;
    while (start > 0 && target [start - 1] != '/')
        start--;
    if (start == end)
        return strdup ("testmesh");
    return strndup (target + start, end - start);
}

void
tm_text_split_id (const char *id, const char *target, tm_kind_t kind,
                  char **classname, char **name)
{
    assert (id && classname && name);
    const char *rest = id;
    size_t target_len = target? strlen (target): 0;
    if (target_len && strncmp (id, target, target_len) == 0
    &&  id [target_len] == ':' && id [target_len + 1])
        rest = id + target_len + 1;

    const char *sep = NULL;
    if (kind == TM_KIND_GTEST)
        sep = s_usable (rest, strchr (rest, '.'));
    if (!sep)
        sep = s_usable (rest, strrchr (rest, '/'));
    if (!sep)
        sep = s_usable (rest, strchr (rest, '.'));

    if (sep) {
        *classname = strndup (rest, sep - rest);
        *name = strdup (sep + 1);
    }
    else {
        *classname = s_basename (target);
        *name = strdup (*rest? rest: id);
    }
    if (!*classname || !*name)
        abort ();
}

const char *
tm_text_reason (const tm_result_t *result, char *buf, size_t size)
{
    assert (result && buf && size > 0);
    if (result->message && *result->message)
        return result->message;
    switch (result->status) {
        case TM_STATUS_FAILED:
        case TM_STATUS_CRASHED:
            if (result->signal)
                snprintf (buf, size, "killed by %s", tm_signal_name (result->signal));
            else
            if (result->exit_code >= 0)
                snprintf (buf, size, "exit status %d", result->exit_code);
            else
                return result->status == TM_STATUS_FAILED? "failed": "crashed";
            return buf;
        case TM_STATUS_TIMEOUT:
            return "timed out";
        case TM_STATUS_FLAKY:
            snprintf (buf, size, "passed on attempt %d", result->attempts);
            return buf;
        case TM_STATUS_SKIPPED:
            return "skipped";
        default:
            return NULL;
    }
}

FILE *
tm_text_file_open (const char *path, char **tmp_path, char **err)
{
    assert (path && tmp_path);
    static unsigned int s_counter;   //  Makes names unique within the process
    for (int attempt = 0; attempt < 100; attempt++) {
        unsigned int serial = __atomic_fetch_add (&s_counter, 1, __ATOMIC_RELAXED);
        char *name = tm_strdupf ("%s.tmp.%d.%u", path, (int) getpid (), serial);
        //  open () with 0666 lets the umask decide, as for any new file;
        //  mkstemp would make it 0600.
        int fd = open (name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0) {
            int error = errno;
            free (name);
            if (error == EEXIST)
                continue;
            tm_fail (err, "cannot create %s: %s", path, strerror (error));
            return NULL;
        }
        FILE *file = fdopen (fd, "w");
        if (!file) {
            int error = errno;
            close (fd);
            unlink (name);
            free (name);
            tm_fail (err, "cannot create %s: %s", path, strerror (error));
            return NULL;
        }
        *tmp_path = name;
        return file;
    }
    tm_fail (err, "cannot create %s: no free temporary name", path);
    return NULL;
}

int
tm_text_file_commit (FILE *file, char **tmp_path, const char *path,
                     bool ok, char **err)
{
    assert (file && tmp_path && *tmp_path && path);
    char *name = *tmp_path;
    *tmp_path = NULL;
    int rc = ok? 0: -1;
    if (rc == 0 && (fflush (file) != 0 || ferror (file)))
        rc = tm_fail (err, "cannot write %s: %s", path, strerror (errno));
    //  Flush to disk before the rename, so a crash leaves either the old
    //  report or the whole new one, never an empty file.
    if (rc == 0 && fsync (fileno (file)) != 0 && errno != EINVAL)
        rc = tm_fail (err, "cannot write %s: %s", path, strerror (errno));
    if (fclose (file) != 0 && rc == 0)
        rc = tm_fail (err, "cannot write %s: %s", path, strerror (errno));
    if (rc == 0 && rename (name, path) != 0)
        rc = tm_fail (err, "cannot rename %s to %s: %s", name, path, strerror (errno));
    if (rc != 0)
        unlink (name);
    free (name);
    return rc;
}
