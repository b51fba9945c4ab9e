/*
 * text.h - making text of remote or file origin safe to show: the one
 * escaping used by the log, the summary, the dry-run plan, progress lines
 * and the report's human-readable fields; overflow-safe sums of sizes a
 * server controls; and the program's small string helpers (one copy each
 * for all of src/; the libraries keep at most one private copy).
 */
#ifndef IT_TEXT_H
#define IT_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Copies `in` into out (cap bytes, always NUL-terminated when cap > 0)
 * with every byte that could drive a terminal written as an escape: "\n"
 * and "\r" as the two characters \n and \r, other C0 controls (except tab),
 * DEL, C1 controls (U+0080..U+009F) and bytes that are not valid UTF-8 as
 * \xNN. Printable ASCII and valid UTF-8 are kept. When out is too small
 * the copy stops before the first escape or character that does not fit
 * whole. Returns the length the whole escaped text needs (without the
 * NUL), like snprintf; in NULL counts as "". */
size_t it_escape(char *out, size_t cap, const char *in);

/* A malloc'd escaped copy of in (NULL in gives ""); NULL on OOM. */
char *it_escape_dup(const char *in);

/* A malloc'd copy of s, or NULL when s is NULL (or on OOM: callers that
 * must tell the two apart check s). */
char *it_strdup0(const char *s);

/* A malloc'd "a<sep>b" (e.g. the "source\ntarget" keys of the journal and
 * the engine's maps); NULL a or b counts as ""; NULL on OOM. */
char *it_join2(const char *a, char sep, const char *b);

/* a + b for sizes and byte counts, clamped to INT64_MIN..INT64_MAX instead
 * of overflowing. */
static inline int64_t it_add_sat(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* a - b, clamped the same way. */
static inline int64_t it_sub_sat(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return b < 0 ? INT64_MAX : INT64_MIN;
    return r;
}

#endif /* IT_TEXT_H */
