/*
 * error.c - the reg_error struct: setting, prefixing, naming codes, and
 * mapping HTTP answers (status + registry error body) to codes.
 */
#include "registry.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Longest piece of registry-provided text copied into a message. */
#define MSG_SNIPPET_MAX 160

/* Sets code and message only; http_status, retry_after and registry_code are
 * left as they are (reg_error_from_http fills them). */
int reg_error_set(reg_error *err, int code, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return code;
}

/*
 * Turns msg into "<prefix>: <msg>" (or just the prefix when msg is empty).
 * The inner message is kept; when the result does not fit, its tail is cut.
 * A prefix the message already starts with is not added twice, so a retry
 * loop that prefixes on each failure does not stack context.
 */
void reg_error_prefix(reg_error *err, const char *fmt, ...)
{
    if (err == NULL)
        return;
    char prefix[sizeof(err->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    size_t plen = strlen(prefix);
    if (plen == 0)
        return;
    if (strncmp(err->msg, prefix, plen) == 0 && err->msg[plen] == ':' &&
        err->msg[plen + 1] == ' ')
        return;
    char inner[sizeof(err->msg)];
    memcpy(inner, err->msg, sizeof(inner));
    inner[sizeof(inner) - 1] = '\0';
    /* Assemble by hand: the prefix, ": ", then as much of inner as fits. */
    size_t cap = sizeof(err->msg) - 1;
    size_t o = plen < cap ? plen : cap;
    memcpy(err->msg, prefix, o);
    if (inner[0] != '\0' && o + 2 <= cap) {
        memcpy(err->msg + o, ": ", 2);
        o += 2;
        size_t ilen = strlen(inner);
        if (ilen > cap - o)
            ilen = cap - o;
        memcpy(err->msg + o, inner, ilen);
        o += ilen;
    }
    err->msg[o] = '\0';
}

void reg_error_clear(reg_error *err)
{
    if (err == NULL)
        return;
    memset(err, 0, sizeof(*err));
    err->retry_after = -1;
}

const char *reg_strerror(int code)
{
    switch (code) {
    case REG_OK:
        return "success";
    case REG_ERR:
        return "error";
    case REG_ENOTFOUND:
        return "not found";
    case REG_EAUTH:
        return "unauthorized";
    case REG_EDENIED:
        return "denied";
    case REG_ERETRY:
        return "temporary failure";
    case REG_EDIGEST:
        return "digest mismatch";
    case REG_EINVAL:
        return "invalid argument";
    case REG_EUNSUPPORTED:
        return "unsupported";
    case REG_ENOMEM:
        return "out of memory";
    case REG_ECANCELED:
        return "canceled";
    case REG_ETLS:
        return "TLS error";
    case REG_ELIMIT:
        return "limit exceeded";
    default:
        return "unknown error";
    }
}

bool reg_error_retryable(int code)
{
    return code == REG_ERETRY;
}

/*
 * Copies at most max bytes of untrusted text into out (cap bytes), turning
 * control characters and runs of whitespace into one space and non-ASCII
 * bytes into '?', so a message stays one short printable line. Appends
 * "..." when cut.
 */
static void sanitize(char *out, size_t cap, const char *in, size_t len,
                     size_t max)
{
    size_t j = 0;
    bool space = true; /* drop leading whitespace */
    bool cut = false;
    if (cap == 0)
        return;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (j >= max || j + 1 >= cap) {
            cut = true;
            break;
        }
        if (c <= ' ' || c == 0x7f) {
            if (!space)
                out[j++] = ' ';
            space = true;
            continue;
        }
        out[j++] = c >= 0x80 ? '?' : (char)c;
        space = false;
    }
    while (j > 0 && out[j - 1] == ' ')
        j--;
    if (cut && j + 4 <= cap && j >= 3) {
        memcpy(out + j, "...", 3);
        j += 3;
    }
    out[j] = '\0';
}

/* Registry error codes that mean "this thing does not exist". */
static bool is_unknown_code(const char *code)
{
    size_t n = strlen(code);
    static const char suffix[] = "_UNKNOWN";
    size_t s = sizeof(suffix) - 1;
    return n >= s && strcmp(code + n - s, suffix) == 0;
}

/*
 * Picks the code: the HTTP status decides first for the unambiguous cases,
 * then the registry's error code refines 400-class answers.
 */
static int map_status(long status, const char *rcode)
{
    if (status == 401 || strcmp(rcode, "UNAUTHORIZED") == 0)
        return REG_EAUTH;
    if (status == 403 || strcmp(rcode, "DENIED") == 0)
        return REG_EDENIED;
    if (status == 404 || is_unknown_code(rcode))
        return REG_ENOTFOUND;
    if (status == 408 || status == 429 || (status >= 500 && status <= 599) ||
        strcmp(rcode, "TOOMANYREQUESTS") == 0)
        return REG_ERETRY;
    if (strcmp(rcode, "DIGEST_INVALID") == 0 ||
        strcmp(rcode, "SIZE_INVALID") == 0)
        return REG_EDIGEST;
    if (status == 405 || strcmp(rcode, "UNSUPPORTED") == 0)
        return REG_EUNSUPPORTED;
    return REG_ERR;
}

/*
 * Reads the first {"code","message"} of an error body. Returns true when the
 * body is a JSON object (so no raw snippet is needed), with the fields copied
 * (sanitized) into rcode/rmsg, which stay empty when absent.
 */
static bool parse_error_body(const char *body, size_t len, char *rcode,
                             size_t rcode_cap, char *rmsg, size_t rmsg_cap,
                             size_t *n_errors)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    bool ok = false;
    *n_errors = 0;
    if (root == NULL)
        return false;
    if (!json_is_object(root))
        goto cleanup;
    ok = true;
    json_t *errors = json_object_get(root, "errors");
    json_t *first = NULL;
    if (json_is_array(errors) && json_array_size(errors) > 0) {
        first = json_array_get(errors, 0);
        *n_errors = json_array_size(errors);
    } else if (json_is_string(json_object_get(root, "code"))) {
        /* Some registries answer a single {"code":...,"message":...}. */
        first = root;
        *n_errors = 1;
    }
    if (!json_is_object(first))
        goto cleanup;
    json_t *c = json_object_get(first, "code");
    json_t *m = json_object_get(first, "message");
    if (json_is_string(c)) {
        sanitize(rcode, rcode_cap, json_string_value(c), json_string_length(c),
                 rcode_cap - 1);
        /* A code is an identifier: cut it at the first space. */
        char *sp = strchr(rcode, ' ');
        if (sp != NULL)
            *sp = '\0';
    }
    if (json_is_string(m))
        sanitize(rmsg, rmsg_cap, json_string_value(m), json_string_length(m),
                 MSG_SNIPPET_MAX);
cleanup:
    json_decref(root);
    return ok;
}

int reg_error_from_http(reg_error *err, long status, const char *body,
                        size_t len, const char *what)
{
    char rcode[sizeof(((reg_error *)0)->registry_code)] = "";
    char rmsg[MSG_SNIPPET_MAX + 8] = "";
    char snippet[MSG_SNIPPET_MAX + 8] = "";
    size_t n_errors = 0;
    if (body == NULL)
        len = 0;
    bool json = len > 0 && parse_error_body(body, len, rcode, sizeof(rcode),
                                            rmsg, sizeof(rmsg), &n_errors);
    if (!json && len > 0)
        sanitize(snippet, sizeof(snippet), body, len, 100);

    int code = map_status(status, rcode);
    if (err == NULL)
        return code;
    if (what == NULL || what[0] == '\0')
        what = "request";

    char more[32] = "";
    if (n_errors > 1)
        snprintf(more, sizeof(more), " (+%zu more)", n_errors - 1);
    if (rcode[0] != '\0' && rmsg[0] != '\0')
        reg_error_set(err, code, "%s: HTTP %ld %s: %s%s", what, status, rcode,
                      rmsg, more);
    else if (rcode[0] != '\0')
        reg_error_set(err, code, "%s: HTTP %ld %s%s", what, status, rcode,
                      more);
    else if (rmsg[0] != '\0')
        reg_error_set(err, code, "%s: HTTP %ld: %s", what, status, rmsg);
    else if (snippet[0] != '\0')
        reg_error_set(err, code, "%s: HTTP %ld: %s", what, status, snippet);
    else
        reg_error_set(err, code, "%s: HTTP %ld", what, status);
    err->http_status = status;
    snprintf(err->registry_code, sizeof(err->registry_code), "%s", rcode);
    return code;
}
