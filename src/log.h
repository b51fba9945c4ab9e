/*
 * log.h - the program's log sink. Levels, a printf-checked macro that tests
 * the level before formatting, output to stderr or a file, and redaction of
 * secrets at the one place that formats lines.
 */
#ifndef IT_LOG_H
#define IT_LOG_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>

typedef enum it_log_level {
    IT_LOG_ERROR = 0,
    IT_LOG_WARN,
    IT_LOG_INFO,
    IT_LOG_DEBUG
} it_log_level;

/* The level above which nothing is written (an it_log_level). Read by
 * every thread without a lock, hence atomic: IT_LOG tests it with a
 * relaxed load (as cheap as a plain one), it_log_open* stores it. */
extern _Atomic int it_log_threshold;

/* Opens the sink: path NULL = stderr. Returns 0 or -1 (errno set). */
int it_log_open(const char *path, it_log_level level);
/* Opens the sink at name inside the directory dirfd (the state dir) with
 * O_NOFOLLOW: a symbolic link planted there is refused (ELOOP), never
 * followed. Returns 0 or -1 (errno set). */
int it_log_open_at(int dirfd, const char *name, it_log_level level);
void it_log_close(void);
/* "error"|"warn"|"info"|"debug" -> level, -1 if unknown. */
int it_log_level_parse(const char *s);
/* Registers a secret (password, token, SecretKey) that must never appear:
 * every log line is scrubbed of registered strings (replaced by "***").
 * Its encoded forms are registered too: base64, percent-encoded (upper-
 * and lower-case hex) and JSON-escaped. Copied. Thread-safe. */
void it_log_add_secret(const char *secret);
/* Registers a login: the password (with it_log_add_secret) and the
 * base64 of "user:password" (what a Basic header or a Docker config's
 * "auth" holds). user may be NULL. */
void it_log_add_credential(const char *user, const char *password);
/* Also scrubs "Authorization: ..." header values and "password=" /
 * "token=" / "access_token=" query or form values. Writes the result into
 * out (NUL-terminated, truncated to cap). Used by the log and by anything
 * else that shows text to a person (dashboard, report errors). */
void it_redact(char *out, size_t cap, const char *in);
/* it_redact, then it_escape (text.h): the form of any string of remote
 * or file origin shown to a person (summary, plan lines, report fields,
 * messages on stderr). Truncated to cap. */
void it_sanitize(char *out, size_t cap, const char *in);
/* The same, malloc'd (NULL in gives ""); NULL on OOM. */
char *it_sanitize_dup(const char *in);
/* Optional observer for warnings and errors (the dashboard's bottom pane);
 * receives the redacted line. */
void it_log_set_observer(void (*fn)(void *payload, it_log_level lvl,
                                    const char *line),
                         void *payload);

void it_log_write(it_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define IT_LOG(lvl, ...)                                                       \
    do {                                                                       \
        if ((int)(lvl) <=                                                      \
            atomic_load_explicit(&it_log_threshold, memory_order_relaxed))     \
            it_log_write((lvl), __VA_ARGS__);                                  \
    } while (0)
#define log_error(...) IT_LOG(IT_LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  IT_LOG(IT_LOG_WARN, __VA_ARGS__)
#define log_info(...)  IT_LOG(IT_LOG_INFO, __VA_ARGS__)
#define log_debug(...) IT_LOG(IT_LOG_DEBUG, __VA_ARGS__)

#endif /* IT_LOG_H */
