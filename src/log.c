/*
 * log.c - the program's log sink: one line per message, "TIMESTAMP LEVEL
 * text", written whole under a mutex so lines from worker threads never
 * interleave. Every line passes through it_redact() before it reaches the
 * sink or the observer, so a password, token or Authorization header that
 * slips into a message is replaced by "***".
 *
 * The only global state is the sink itself (allowed by the house style:
 * main() owns it): the FILE, the threshold, the registered secrets and the
 * observer, each guarded by a mutex.
 */
#include "log.h"

#include <curl/curl.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "text.h"

_Atomic int it_log_threshold = IT_LOG_INFO;

static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *sink_file; /* NULL = stderr */

static pthread_mutex_t secret_lock = PTHREAD_MUTEX_INITIALIZER;
static char **secrets; /* sorted longest first */
static size_t n_secrets;

static pthread_mutex_t observer_lock = PTHREAD_MUTEX_INITIALIZER;
static void (*observer_fn)(void *payload, it_log_level lvl, const char *line);
static void *observer_payload;

/* ------------------------------------------------------- growable text */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap != 0 ? b->cap : 256;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

/* --------------------------------------------------------------- levels */

int it_log_level_parse(const char *s)
{
    static const struct {
        const char *name;
        it_log_level lvl;
    } names[] = {
        {"error", IT_LOG_ERROR},  {"warn", IT_LOG_WARN},
        {"warning", IT_LOG_WARN}, {"info", IT_LOG_INFO},
        {"debug", IT_LOG_DEBUG},
    };
    if (s == NULL)
        return -1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcasecmp(s, names[i].name) == 0)
            return (int)names[i].lvl;
    }
    return -1;
}

static const char *level_tag(it_log_level lvl)
{
    switch (lvl) {
    case IT_LOG_ERROR:
        return "ERROR";
    case IT_LOG_WARN:
        return "WARN ";
    case IT_LOG_INFO:
        return "INFO ";
    case IT_LOG_DEBUG:
        return "DEBUG";
    }
    return "?????";
}

/* ----------------------------------------------------------------- sink */

/* Makes fd (a file opened for appending, or -1 for stderr) the sink and
 * sets the threshold. Takes fd whatever the outcome. */
static int use_sink(int fd, it_log_level level)
{
    FILE *f = NULL;
    if (fd >= 0) {
        f = fdopen(fd, "a");
        if (f == NULL) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        setvbuf(f, NULL, _IOLBF, 0);
    }
    pthread_mutex_lock(&sink_lock);
    FILE *old = sink_file;
    sink_file = f;
    atomic_store_explicit(&it_log_threshold, (int)level, memory_order_relaxed);
    pthread_mutex_unlock(&sink_lock);
    if (old != NULL)
        fclose(old);
    return 0;
}

/* 0600: a log is not meant for other users even though it holds no
 * secrets. */
int it_log_open(const char *path, it_log_level level)
{
    int fd = -1;
    if (path != NULL) {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0)
            return -1;
    }
    return use_sink(fd, level);
}

int it_log_open_at(int dirfd, const char *name, it_log_level level)
{
    int fd =
        openat(dirfd, name,
               O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -1;
    return use_sink(fd, level);
}

void it_log_close(void)
{
    pthread_mutex_lock(&sink_lock);
    FILE *old = sink_file;
    sink_file = NULL;
    pthread_mutex_unlock(&sink_lock);
    if (old != NULL)
        fclose(old);
}

void it_log_set_observer(void (*fn)(void *payload, it_log_level lvl,
                                    const char *line),
                         void *payload)
{
    pthread_mutex_lock(&observer_lock);
    observer_fn = fn;
    observer_payload = payload;
    pthread_mutex_unlock(&observer_lock);
}

/* -------------------------------------------------------------- secrets */

/* Registers one literal string (already encoded as it may appear). */
static void add_literal(const char *secret)
{
    if (secret == NULL || secret[0] == '\0')
        return;
    pthread_mutex_lock(&secret_lock);
    for (size_t i = 0; i < n_secrets; i++) {
        if (strcmp(secrets[i], secret) == 0)
            goto out;
    }
    char **v = realloc(secrets, (n_secrets + 1) * sizeof *v);
    if (v == NULL)
        goto out;
    secrets = v;
    char *copy = strdup(secret);
    if (copy == NULL)
        goto out;
    /* Keep longest first so a secret that contains another one is
     * replaced whole before its part is. */
    size_t len = strlen(copy);
    size_t at = n_secrets;
    while (at > 0 && strlen(secrets[at - 1]) < len) {
        secrets[at] = secrets[at - 1];
        at--;
    }
    secrets[at] = copy;
    n_secrets++;
out:
    pthread_mutex_unlock(&secret_lock);
}

/* Frees a copy of secret material after wiping it. */
static void wipe_free(char *s)
{
    if (s != NULL) {
        memset(s, 0, strlen(s));
        free(s);
    }
}

/* base64 of (a, then b when not NULL), with and without its padding. */
static void add_base64(const char *a, const char *b)
{
    size_t la = strlen(a), lb = b != NULL ? strlen(b) : 0;
    size_t raw_len = la + lb;
    unsigned char *raw = malloc(raw_len + 1);
    char *enc = malloc(4 * ((raw_len + 2) / 3) + 1);
    if (raw != NULL && enc != NULL && raw_len <= INT32_MAX / 2) {
        memcpy(raw, a, la);
        if (b != NULL)
            memcpy(raw + la, b, lb);
        int n = EVP_EncodeBlock((unsigned char *)enc, raw, (int)raw_len);
        if (n > 0) {
            add_literal(enc);
            while (n > 0 && enc[n - 1] == '=')
                enc[--n] = '\0';
            add_literal(enc);
        }
        memset(raw, 0, raw_len);
    }
    free(raw);
    wipe_free(enc);
}

/* enc with every "%20" written "+" instead, registered when it differs. */
static void add_form_variant(const char *enc)
{
    if (strstr(enc, "%20") == NULL)
        return;
    char *form = strdup(enc);
    if (form == NULL)
        return;
    char *w = form;
    for (const char *r = enc; *r != '\0';) {
        if (strncmp(r, "%20", 3) == 0) {
            *w++ = '+';
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    add_literal(form);
    wipe_free(form);
}

/* Percent-encoding, in upper-case hex (libcurl's) and lower-case hex, and
 * the form encoding of each (a space as "+", as in a query or a form). */
static void add_urlencoded(const char *secret)
{
    char *up = curl_easy_escape(NULL, secret, 0);
    if (up == NULL)
        return;
    add_literal(up);
    add_form_variant(up);
    char *low = strdup(up);
    if (low != NULL) {
        for (char *p = low; *p != '\0'; p++) {
            if (*p == '%' && p[1] != '\0' && p[2] != '\0') {
                p[1] = (char)tolower((unsigned char)p[1]);
                p[2] = (char)tolower((unsigned char)p[2]);
                p += 2;
            }
        }
        add_literal(low);
        add_form_variant(low);
        wipe_free(low);
    }
    memset(up, 0, strlen(up));
    curl_free(up);
}

/* The secret as a JSON string's contents (without the quotes), with and
 * without "/" escaped. */
static void add_json(const char *secret)
{
    static const size_t flags[] = {JSON_ENCODE_ANY,
                                   JSON_ENCODE_ANY | JSON_ESCAPE_SLASH};
    json_t *str = json_string(secret);
    if (str == NULL)
        return; /* not UTF-8: cannot appear in a JSON string as such */
    for (size_t i = 0; i < 2; i++) {
        char *q = json_dumps(str, flags[i]);
        if (q == NULL)
            continue;
        size_t n = strlen(q);
        if (n >= 2) {
            q[n - 1] = '\0';
            add_literal(q + 1);
        }
        wipe_free(q);
    }
    json_decref(str);
}

void it_log_add_secret(const char *secret)
{
    if (secret == NULL || secret[0] == '\0')
        return;
    add_literal(secret);
    add_base64(secret, NULL);
    add_urlencoded(secret);
    add_json(secret);
}

void it_log_add_credential(const char *user, const char *password)
{
    if (password == NULL || password[0] == '\0')
        return;
    it_log_add_secret(password);
    if (user == NULL)
        return;
    /* What a Basic header or a Docker config's "auth" carries. */
    size_t lu = strlen(user);
    char *up = malloc(lu + 2);
    if (up == NULL)
        return;
    memcpy(up, user, lu);
    up[lu] = ':';
    up[lu + 1] = '\0';
    add_base64(up, password);
    free(up);
}

/* Replaces every registered secret in `in` by "***". */
static void scrub_secrets(sbuf *b, const char *in)
{
    pthread_mutex_lock(&secret_lock);
    const char *p = in;
    while (*p != '\0') {
        size_t hit = 0;
        for (size_t i = 0; i < n_secrets; i++) {
            size_t n = strlen(secrets[i]);
            if (strncmp(p, secrets[i], n) == 0) {
                hit = n;
                break;
            }
        }
        if (hit > 0) {
            sb_str(b, "***");
            p += hit;
        } else {
            sb_put(b, p, 1);
            p++;
        }
    }
    pthread_mutex_unlock(&secret_lock);
}

/* ------------------------------------------------------------- patterns */

/* Keys whose value is secret in "key=value", "key: value", "\"key\":
 * \"value\"". Matched case-insensitively anywhere (so "access_token",
 * "X-TC-Token", "identitytoken" are covered by "token"). `to_eol`: the
 * value runs to the end of the line (header values such as "Bearer x").
 * `quoted_only`: only when the key itself is in quotes (JSON), because the
 * bare word is too common in prose. */
static const struct {
    const char *key;
    bool to_eol;
    bool quoted_only;
} secret_keys[] = {
    {"authorization", true, false}, {"password", false, false},
    {"passwd", false, false},       {"token", false, false},
    {"secretkey", false, false},    {"secret_key", false, false},
    {"secret", false, false},       {"auth", false, true},
};

static bool is_value_end(char c)
{
    return c == '\0' || c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
           c == '&' || c == ',' || c == ';' || c == '"' || c == '\'' ||
           c == '}' || c == ']' || c == ')' || c == '<' || c == '>';
}

static bool is_token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '~' ||
           c == '+' || c == '/' || c == '-';
}

static bool is_word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_';
}

/* True when the word around in[i] is a component of a path or a
 * repository name ("/etc/passwd: no such file", "team/secret:v1"): not an
 * assignment of a secret. */
static bool in_path(const char *in, size_t i)
{
    size_t w = i;
    while (w > 0 && (is_word_char(in[w - 1]) || in[w - 1] == '-'))
        w--;
    return w > 0 && (in[w - 1] == '/' || in[w - 1] == '\\');
}

/* When a secret key starts at in[i], returns the length of the value's
 * prefix to keep (key, quotes, separator) in *keep and the value length in
 * *vlen; false if there is no key=value here. */
static bool match_key(const char *in, size_t i, size_t *keep, size_t *vlen)
{
    for (size_t k = 0; k < sizeof secret_keys / sizeof secret_keys[0]; k++) {
        const char *key = secret_keys[k].key;
        size_t kn = strlen(key);
        if (strncasecmp(in + i, key, kn) != 0)
            continue;
        bool quoted = i > 0 && (in[i - 1] == '"' || in[i - 1] == '\'');
        if (secret_keys[k].quoted_only && !quoted)
            continue;
        if (secret_keys[k].quoted_only && i > 1 && is_word_char(in[i - 2]))
            continue;
        if (in_path(in, i))
            continue;
        size_t j = i + kn;
        if (in[j] == '"' || in[j] == '\'')
            j++;
        while (in[j] == ' ' || in[j] == '\t')
            j++;
        if (in[j] != '=' && in[j] != ':')
            continue;
        j++;
        while (in[j] == ' ' || in[j] == '\t')
            j++;
        size_t v = j;
        if (secret_keys[k].to_eol) {
            while (in[v] != '\0' && in[v] != '\r' && in[v] != '\n')
                v++;
            /* keep a closing quote of a JSON value */
            while (v > j && (in[v - 1] == '"' || in[v - 1] == ','))
                v--;
            if (j < v && in[j] == '"')
                j++;
        } else if (in[j] == '"' || in[j] == '\'') {
            char q = in[j];
            j++;
            v = j;
            while (in[v] != '\0' && in[v] != q) {
                if (in[v] == '\\' && q == '"' && in[v + 1] != '\0')
                    v++;
                v++;
            }
        } else {
            while (!is_value_end(in[v]))
                v++;
        }
        if (v == j)
            continue; /* empty value: nothing to hide */
        *keep = j - i;
        *vlen = v - j;
        return true;
    }
    return false;
}

/* "Bearer <token>" / "Basic <token>" (as written in headers). A following
 * '"' means a challenge parameter (Bearer realm="..."), not a token. */
static bool match_scheme(const char *in, size_t i, size_t *keep, size_t *vlen)
{
    static const char *const schemes[] = {"Bearer ", "Basic "};
    if (i > 0 && is_word_char(in[i - 1]))
        return false;
    for (size_t s = 0; s < 2; s++) {
        size_t sn = strlen(schemes[s]);
        if (strncmp(in + i, schemes[s], sn) != 0)
            continue;
        size_t j = i + sn;
        while (in[j] == ' ')
            j++;
        size_t v = j;
        while (is_token_char(in[v]))
            v++;
        while (in[v] == '=')
            v++;
        if (v == j || in[v] == '"')
            continue;
        *keep = j - i;
        *vlen = v - j;
        return true;
    }
    return false;
}

/* "scheme://user:password@host": hides the password. */
static bool match_userinfo(const char *in, size_t i, size_t *keep, size_t *vlen)
{
    if (strncmp(in + i, "://", 3) != 0)
        return false;
    size_t j = i + 3;
    size_t colon = 0;
    for (size_t k = j; in[k] != '\0'; k++) {
        char c = in[k];
        if (c == '/' || c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
            c == '?' || c == '#' || c == '"')
            return false;
        if (c == ':' && colon == 0)
            colon = k;
        if (c == '@') {
            if (colon == 0 || k == colon + 1)
                return false;
            *keep = colon + 1 - i;
            *vlen = k - colon - 1;
            return true;
        }
    }
    return false;
}

static void scrub_patterns(sbuf *b, const char *in)
{
    size_t i = 0;
    while (in[i] != '\0') {
        size_t keep = 0, vlen = 0;
        if (match_key(in, i, &keep, &vlen) ||
            match_scheme(in, i, &keep, &vlen) ||
            match_userinfo(in, i, &keep, &vlen)) {
            sb_put(b, in + i, keep);
            sb_str(b, "***");
            i += keep + vlen;
            continue;
        }
        sb_put(b, in + i, 1);
        i++;
    }
}

/* Returns a malloc'd redacted copy of in, or NULL on OOM. */
static char *redact_dup(const char *in)
{
    sbuf a = {0}, b = {0};
    scrub_secrets(&a, in);
    if (a.oom || a.p == NULL) {
        free(a.p);
        return a.oom ? NULL : strdup("");
    }
    scrub_patterns(&b, a.p);
    free(a.p);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p != NULL ? b.p : strdup("");
}

/* The redacted text of in, into out (cap bytes), escaped too when
 * `escape`. Out of memory: shows nothing rather than something
 * unscrubbed. */
static void redact_into(char *out, size_t cap, const char *in, bool escape)
{
    if (out == NULL || cap == 0)
        return;
    out[0] = '\0';
    if (in == NULL)
        return;
    char *r = redact_dup(in);
    if (r == NULL) {
        snprintf(out, cap, "%s", "(redaction failed)");
        return;
    }
    if (escape)
        it_escape(out, cap, r);
    else
        snprintf(out, cap, "%s", r);
    free(r);
}

void it_redact(char *out, size_t cap, const char *in)
{
    redact_into(out, cap, in, false);
}

/* ---------------------------------------------------------------- write */

void it_sanitize(char *out, size_t cap, const char *in)
{
    redact_into(out, cap, in, true);
}

char *it_sanitize_dup(const char *in)
{
    char *r = redact_dup(in != NULL ? in : "");
    if (r == NULL)
        return NULL;
    char *e = it_escape_dup(r);
    free(r);
    return e;
}

void it_log_write(it_log_level lvl, const char *fmt, ...)
{
    char stack[1024];
    char *msg = stack;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(stack, sizeof stack, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof stack) {
        msg = malloc((size_t)n + 1);
        if (msg == NULL)
            return;
        va_start(ap, fmt);
        vsnprintf(msg, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    /* strip trailing newlines; the sink adds one */
    size_t len = strlen(msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
        msg[--len] = '\0';

    char *red = redact_dup(msg);
    if (msg != stack)
        free(msg);
    if (red == NULL)
        return;

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char stamp[64];
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp, sizeof stamp, "%s.%03ldZ %s ", date,
             (long)(ts.tv_nsec / 1000000), level_tag(lvl));

    sbuf line = {0};
    sb_str(&line, stamp);
    size_t body_at = line.len;
    /* Control characters escaped: one message is always one line and
     * cannot move the terminal's cursor. */
    char *esc = it_escape_dup(red);
    free(red);
    if (esc == NULL) {
        free(line.p);
        return;
    }
    sb_str(&line, esc);
    sb_str(&line, "\n");
    free(esc);
    if (line.oom) {
        free(line.p);
        return;
    }

    pthread_mutex_lock(&sink_lock);
    FILE *f = sink_file != NULL ? sink_file : stderr;
    fwrite(line.p, 1, line.len, f);
    fflush(f);
    pthread_mutex_unlock(&sink_lock);

    if (lvl <= IT_LOG_WARN) {
        pthread_mutex_lock(&observer_lock);
        void (*fn)(void *, it_log_level, const char *) = observer_fn;
        void *payload = observer_payload;
        pthread_mutex_unlock(&observer_lock);
        if (fn != NULL) {
            line.p[line.len - 1] = '\0'; /* drop the newline */
            fn(payload, lvl, line.p + body_at);
        }
    }
    free(line.p);
}
