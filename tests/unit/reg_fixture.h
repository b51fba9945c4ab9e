/*
 * reg_fixture.h - helpers for the registry unit tests that read data tables
 * from $FIXTURES (set by ctest to tests/fixtures). Header-only, static
 * inline, so each test binary stays self-contained.
 */
#ifndef REG_FIXTURE_H
#define REG_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "$FIXTURES/<name>" into buf; falls back to "tests/fixtures". */
static inline const char *fx_path(char *buf, size_t cap, const char *name)
{
    const char *dir = getenv("FIXTURES");
    if (dir == NULL || dir[0] == '\0')
        dir = "tests/fixtures";
    snprintf(buf, cap, "%s/%s", dir, name);
    return buf;
}

/* Whole file, malloc'd and NUL-terminated (len excludes the NUL), or NULL. */
static inline char *fx_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    size_t n = 0;
    size_t cap = 0;
    if (f == NULL)
        return NULL;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap == 0 ? 8192 : cap * 2;
            char *p = realloc(data, cap);
            if (p == NULL) {
                free(data);
                fclose(f);
                return NULL;
            }
            data = p;
        }
        size_t got = fread(data + n, 1, 4096, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    data[n] = '\0';
    if (len != NULL)
        *len = n;
    return data;
}

/* Decodes in place: \n \r \t \s (space) \\ \xNN. Returns the new length
 * (the text may contain NUL bytes after decoding). */
static inline size_t fx_unescape(char *s)
{
    size_t o = 0;
    for (size_t i = 0; s[i] != '\0'; i++) {
        if (s[i] != '\\' || s[i + 1] == '\0') {
            s[o++] = s[i];
            continue;
        }
        char c = s[++i];
        if (c == 'n')
            s[o++] = '\n';
        else if (c == 'r')
            s[o++] = '\r';
        else if (c == 't')
            s[o++] = '\t';
        else if (c == 's')
            s[o++] = ' ';
        else if (c == 'x' && s[i + 1] != '\0' && s[i + 2] != '\0') {
            char hex[3] = {s[i + 1], s[i + 2], '\0'};
            s[o++] = (char)strtol(hex, NULL, 16);
            i += 2;
        } else
            s[o++] = c;
    }
    s[o] = '\0';
    return o;
}

/* Next line of a text buffer (modifies it): strips "\r\n"; NULL at end. */
static inline char *fx_next_line(char **cursor)
{
    char *p = *cursor;
    if (p == NULL || *p == '\0')
        return NULL;
    char *nl = strchr(p, '\n');
    if (nl != NULL) {
        *nl = '\0';
        *cursor = nl + 1;
    } else {
        *cursor = p + strlen(p);
    }
    size_t n = strlen(p);
    if (n > 0 && p[n - 1] == '\r')
        p[n - 1] = '\0';
    return p;
}

/* "-" in a table means "absent". */
static inline const char *fx_opt(const char *s)
{
    return (s == NULL || strcmp(s, "-") == 0) ? NULL : s;
}

static inline int fx_streq_opt(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

#endif /* REG_FIXTURE_H */
