/*  tm_text.h - text helpers shared by the reporters: UTF-8 repair, XML
    escaping, output tails, test id splitting, atomic report files.

    Test output is whatever a child process wrote: any bytes at all,
    including NUL, control characters and broken UTF-8.  Report formats
    are stricter (JSON strings must be UTF-8, XML 1.0 forbids most
    control characters), so every byte that came from a test goes
    through one of the functions here before it reaches a report file.
    Invalid or forbidden input is replaced with U+FFFD, never dropped
    silently and never asserted on.
*/
#ifndef TM_TEXT_H_INCLUDED
#define TM_TEXT_H_INCLUDED

#include "tm_result.h"
#include "tm_task.h"

#define TM_TEXT_REPLACEMENT 0xFFFD      //  U+FFFD REPLACEMENT CHARACTER

//  Decodes one UTF-8 character from DATA (SIZE > 0 bytes available).
//  Returns the number of bytes it takes (1 to 4) and sets *CODEPOINT.
//  An invalid sequence (stray continuation byte, overlong form,
//  surrogate, above U+10FFFF, or cut short) yields U+FFFD and consumes
//  exactly one byte, so decoding always makes progress.
size_t tm_text_utf8_decode (const char *data, size_t size, uint32_t *codepoint);

//  Returns a copy of DATA (SIZE bytes) as valid UTF-8: each invalid
//  byte becomes U+FFFD, and so does each NUL byte, so that the copy is
//  a plain C string (jansson, and most JSON readers in C, refuse
//  "\u0000" by default).  Its length is stored in *LENGTH if that is
//  not NULL.  The caller frees it.
char *tm_text_utf8_sanitize (const char *data, size_t size, size_t *length);

//  True if CODEPOINT may appear in an XML 1.0 document: tab, newline,
//  carriage return, and U+0020..U+D7FF, U+E000..U+FFFD, U+10000..U+10FFFF.
bool tm_text_xml_char_ok (uint32_t codepoint);

//  Writes DATA (SIZE bytes) to OUT escaped for XML 1.0 character data,
//  or for a double-quoted attribute value when ATTRIBUTE is true (then
//  tab, newline and CR are written as character references so parsers
//  do not normalise them to spaces).  & < > " ' are always escaped, so
//  the text can never close a CDATA section or a tag.  Invalid UTF-8
//  and characters XML forbids become U+FFFD.
void tm_text_xml_write (FILE *out, const char *data, size_t size, bool attribute);
//  Same for a NUL-terminated string; a NULL STR writes nothing.
void tm_text_xml_puts (FILE *out, const char *str, bool attribute);

//  Returns a pointer into DATA (SIZE bytes) where its last LINES lines
//  begin (a final newline does not start an empty line).  Borrowed: no
//  copy is made.  *SKIPPED, if not NULL, is set to the number of bytes
//  before that point.
const char *tm_text_tail (const char *data, size_t size, int lines, size_t *skipped);

//  Splits a test id into a JUnit classname and name, both new strings.
//  A "TARGET:" prefix (as tm_adapter adds) is removed first.  Then, for
//  GoogleTest ids, "Suite.Test" (the first '.') is split; for the rest
//  "suite/test" (the last '/') and, failing that, "Suite.Test".  An id
//  with no usable separator gets the target's basename (trailing '/'
//  ignored: "build/ctest/" gives "ctest") as classname and keeps the
//  whole id as name.  Neither part is ever empty.
void tm_text_split_id (const char *id, const char *target, tm_kind_t kind,
                       char **classname, char **name);

//  A one-line reason for RESULT's status, for people: its message if it
//  has one, else made from the status and exit ("exit status 1",
//  "killed by SIGSEGV" (tm_signal_name), "timed out", "passed on
//  attempt 2").  Returns the message (borrowed), a constant, or BUF
//  (SIZE bytes, filled in); NULL for a pass with nothing to say.
const char *tm_text_reason (const tm_result_t *result, char *buf, size_t size);

//  Atomic report files: tm_text_file_open creates a new temporary file
//  beside PATH (mode 0666 less the umask, as fopen would) and returns
//  it, with its name in *TMP_PATH (caller passes it back).  On failure
//  returns NULL with *err set.
//  tm_text_file_commit flushes and closes FILE and, if OK and every
//  write succeeded, renames the temporary file over PATH; otherwise it
//  removes the temporary file so PATH is left as it was.  It frees
//  *TMP_PATH and sets it to NULL.  Returns 0, or -1 with *err set (when
//  OK was false, the caller is expected to have set *err already).
FILE *tm_text_file_open (const char *path, char **tmp_path, char **err);
int tm_text_file_commit (FILE *file, char **tmp_path, const char *path,
                         bool ok, char **err);

#endif
