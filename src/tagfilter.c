/*
 * tagfilter.c - tag filters: regexes, semver and its constraints, newest
 * first ordering (see tagfilter.h for the grammar).
 */
#include "tagfilter.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Bounds on what a configuration may ask for. */
#define TF_PATTERN_MAX 1024
#define TF_RANGE_MAX   1024
#define TF_TERMS_MAX   256

/* ------------------------------------------------------------- semver */

/* A decimal number without leading zeros, at most 9 digits, at *p. */
static int parse_num(const char **p, long *out)
{
    const char *s = *p;
    size_t n = 0;
    while (isdigit((unsigned char)s[n]))
        n++;
    if (n == 0 || n > 9 || (n > 1 && s[0] == '0'))
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    *out = v;
    *p = s + n;
    return 0;
}

/* Dot-separated identifiers of [0-9A-Za-z-]; numeric ones without leading
 * zeros. Returns the length, or 0 when malformed. */
static size_t ident_list_len(const char *s, bool numeric_rule)
{
    size_t i = 0;
    for (;;) {
        size_t start = i;
        bool digits = true;
        while (isalnum((unsigned char)s[i]) || s[i] == '-') {
            digits = digits && isdigit((unsigned char)s[i]);
            i++;
        }
        if (i == start)
            return 0;
        if (numeric_rule && digits && i - start > 1 && s[start] == '0')
            return 0;
        if (s[i] != '.')
            return i;
        i++;
    }
}

/* Parses a version at *p, stopping at its end; parts[] says how many of
 * MAJOR.MINOR.PATCH were written, wild[] which were x / X / *. */
static int parse_version_at(const char **p, it_semver *v, int *parts,
                            bool allow_wild)
{
    const char *s = *p;
    memset(v, 0, sizeof *v);
    *parts = 0;
    if (*s == 'v' || *s == 'V')
        s++;
    long *dst[3] = {&v->major, &v->minor, &v->patch};
    for (int i = 0; i < 3; i++) {
        if (i > 0) {
            if (*s != '.')
                break;
            s++;
        }
        if (allow_wild && (*s == 'x' || *s == 'X' || *s == '*')) {
            s++;
            /* the rest (if any) must be wild too: "1.x.x" */
            while (s[0] == '.' && (s[1] == 'x' || s[1] == 'X' || s[1] == '*'))
                s += 2;
            *p = s;
            return 0;
        }
        if (parse_num(&s, dst[i]) != 0)
            return -1;
        (*parts)++;
    }
    if (*s == '-') {
        size_t n = ident_list_len(s + 1, true);
        if (n == 0)
            return -1;
        v->pre = s + 1;
        v->pre_len = n;
        s += 1 + n;
    }
    if (*s == '+') {
        size_t n = ident_list_len(s + 1, false);
        if (n == 0)
            return -1;
        s += 1 + n;
    }
    *p = s;
    return 0;
}

int it_semver_parse(const char *s, it_semver *v)
{
    int parts;
    const char *p = s;
    if (parse_version_at(&p, v, &parts, false) != 0 || *p != '\0' || parts == 0)
        return -1;
    return 0;
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return n > 0;
}

/* semver.org section 11.4: identifier by identifier. */
static int cmp_pre(const char *a, size_t an, const char *b, size_t bn)
{
    size_t i = 0, j = 0;
    for (;;) {
        size_t ae = i, be = j;
        while (ae < an && a[ae] != '.')
            ae++;
        while (be < bn && b[be] != '.')
            be++;
        size_t la = ae - i, lb = be - j;
        bool ad = all_digits(a + i, la), bd = all_digits(b + j, lb);
        int c;
        if (ad && bd) /* no leading zeros: the longer is the larger */
            c = la != lb ? (la < lb ? -1 : 1) : strncmp(a + i, b + j, la);
        else if (ad != bd)
            c = ad ? -1 : 1; /* numeric identifiers are lower */
        else {
            c = strncmp(a + i, b + j, la < lb ? la : lb);
            if (c == 0 && la != lb)
                c = la < lb ? -1 : 1;
        }
        if (c != 0)
            return c < 0 ? -1 : 1;
        bool aend = ae >= an, bend = be >= bn;
        if (aend || bend) /* fewer identifiers: lower */
            return aend && bend ? 0 : aend ? -1 : 1;
        i = ae + 1;
        j = be + 1;
    }
}

int it_semver_cmp(const it_semver *a, const it_semver *b)
{
    if (a->major != b->major)
        return a->major < b->major ? -1 : 1;
    if (a->minor != b->minor)
        return a->minor < b->minor ? -1 : 1;
    if (a->patch != b->patch)
        return a->patch < b->patch ? -1 : 1;
    if (a->pre == NULL || b->pre == NULL)
        return a->pre == NULL ? (b->pre == NULL ? 0 : 1) : -1;
    return cmp_pre(a->pre, a->pre_len, b->pre, b->pre_len);
}

/* ----------------------------------------------------- semver ranges */

/* OP_OUT: outside [v, hi) ("!=1.4" is outside [1.4.0, 1.5.0)) */
typedef enum cmp_op { OP_EQ, OP_NE, OP_GT, OP_GE, OP_LT, OP_LE, OP_OUT } cmp_op;

typedef struct comparator {
    cmp_op op;
    it_semver v;  /* v.pre points into range->text */
    it_semver hi; /* OP_OUT only */
    int set;      /* the OR-set it belongs to */
} comparator;

struct it_semver_range {
    char *text; /* a copy: prereleases point into it */
    comparator *c;
    size_t n;
    int nsets;
};

void it_semver_range_free(it_semver_range *r)
{
    if (r == NULL)
        return;
    free(r->text);
    free(r->c);
    free(r);
}

static void add_cmp(it_semver_range *r, cmp_op op, const it_semver *v)
{
    r->c[r->n++] = (comparator){.op = op, .v = *v, .set = r->nsets};
}

/* The range [lo, hi) in r. */
static void add_span(it_semver_range *r, const it_semver *lo,
                     const it_semver *hi)
{
    add_cmp(r, OP_GE, lo);
    add_cmp(r, OP_LT, hi);
}

/* The version just above every version with v's first `parts` parts
 * (1.4 with parts 2 -> 1.5.0). */
static it_semver bump(const it_semver *v, int parts)
{
    it_semver h = {0};
    if (parts <= 1) {
        h.major = v->major + 1;
    } else if (parts == 2) {
        h.major = v->major;
        h.minor = v->minor + 1;
    } else {
        h = *v;
        h.pre = NULL;
        h.pre_len = 0;
        h.patch++;
    }
    return h;
}

/* One term at *p (leading blanks skipped by the caller). */
static int parse_term(it_semver_range *r, const char **p, it_errbuf *err)
{
    const char *s = *p;
    const char *start = s;
    cmp_op op = OP_EQ;
    char kind = 0; /* '~', '^' or 0 */
    if (s[0] == '>' && s[1] == '=')
        op = OP_GE, s += 2;
    else if (s[0] == '<' && s[1] == '=')
        op = OP_LE, s += 2;
    else if (s[0] == '!' && s[1] == '=')
        op = OP_NE, s += 2;
    else if (s[0] == '>')
        op = OP_GT, s++;
    else if (s[0] == '<')
        op = OP_LT, s++;
    else if (s[0] == '=')
        s++;
    else if (s[0] == '~' || s[0] == '^')
        kind = *s++;
    while (*s == ' ' || *s == '\t')
        s++;
    it_semver v;
    int parts;
    if (parse_version_at(&s, &v, &parts, true) != 0 ||
        (*s != '\0' && *s != ' ' && *s != '\t' && *s != '|')) {
        size_t n = strcspn(start, " \t|");
        it_set_err(err,
                   "semver constraint: '%.*s' is not a comparator (expected "
                   ">=, >, <=, <, =, != or nothing, ~ or ^, then a version "
                   "such as 1.4 or 1.4.2; or 1.4.x)",
                   (int)(n > 80 ? 80 : n), start);
        return -1;
    }
    *p = s;
    if (parts == 0) { /* "*", "x": any version */
        if (op != OP_EQ || kind != 0) {
            it_set_err(err, "semver constraint: a wildcard cannot follow an "
                            "operator");
            return -1;
        }
        add_cmp(r, OP_GE, &(it_semver){0});
        return 0;
    }
    bool partial = parts < 3;
    if (kind == '~') {
        it_semver hi = bump(&v, parts == 3 ? 2 : parts);
        add_span(r, &v, &hi);
    } else if (kind == '^') {
        int keep;
        if (v.major != 0 || parts == 1)
            keep = 1;
        else if (v.minor != 0 || parts == 2)
            keep = 2;
        else
            keep = 3;
        it_semver hi = bump(&v, keep);
        add_span(r, &v, &hi);
    } else if (partial && (op == OP_EQ || op == OP_NE)) {
        it_semver hi = bump(&v, parts);
        if (op == OP_EQ) {
            add_span(r, &v, &hi);
        } else {
            add_cmp(r, OP_OUT, &v);
            r->c[r->n - 1].hi = hi;
        }
    } else {
        add_cmp(r, op, &v);
    }
    return 0;
}

int it_semver_range_parse(it_semver_range **out, const char *s, it_errbuf *err)
{
    int rc = -1;
    it_semver_range *r = NULL;
    *out = NULL;
    if (s == NULL || strlen(s) > TF_RANGE_MAX) {
        it_set_err(err, "semver constraint: longer than %d characters",
                   TF_RANGE_MAX);
        goto cleanup;
    }
    r = calloc(1, sizeof *r);
    if (r == NULL || (r->text = strdup(s)) == NULL ||
        (r->c = calloc(TF_TERMS_MAX * 2, sizeof *r->c)) == NULL) {
        it_set_err(err, "semver constraint: out of memory");
        goto cleanup;
    }
    const char *p = r->text;
    size_t terms_in_set = 0;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0' || (p[0] == '|' && p[1] == '|')) {
            if (terms_in_set == 0) {
                it_set_err(err, "semver constraint '%.200s': %s", s,
                           *p == '\0' && r->n == 0 ? "empty"
                                                   : "an empty side of '||'");
                goto cleanup;
            }
            if (*p == '\0')
                break;
            p += 2;
            r->nsets++;
            terms_in_set = 0;
            continue;
        }
        if (*p == '|') {
            it_set_err(err, "semver constraint '%.200s': '|' (expected '||')",
                       s);
            goto cleanup;
        }
        if (r->n + 2 > TF_TERMS_MAX * 2 - 2) {
            it_set_err(err, "semver constraint: more than %d terms",
                       TF_TERMS_MAX);
            goto cleanup;
        }
        if (parse_term(r, &p, err) != 0)
            goto cleanup;
        terms_in_set++;
    }
    r->nsets++;
    *out = r;
    r = NULL;
    rc = 0;
cleanup:
    it_semver_range_free(r);
    return rc;
}

static bool cmp_ok(const comparator *c, const it_semver *v)
{
    int d = it_semver_cmp(v, &c->v);
    switch (c->op) {
    case OP_EQ:
        return d == 0;
    case OP_NE:
        return d != 0;
    case OP_GT:
        return d > 0;
    case OP_GE:
        return d >= 0;
    case OP_LT:
        return d < 0;
    case OP_LE:
        return d <= 0;
    case OP_OUT:
        return d < 0 || it_semver_cmp(v, &c->hi) >= 0;
    }
    return false;
}

bool it_semver_range_match(const it_semver_range *r, const it_semver *v)
{
    for (int set = 0; set < r->nsets; set++) {
        bool ok = true, pre_allowed = v->pre == NULL, any = false;
        for (size_t i = 0; i < r->n; i++) {
            const comparator *c = &r->c[i];
            if (c->set != set)
                continue;
            any = true;
            ok = ok && cmp_ok(c, v);
            if (c->v.pre != NULL && c->v.major == v->major &&
                c->v.minor == v->minor && c->v.patch == v->patch)
                pre_allowed = true;
        }
        if (any && ok && pre_allowed)
            return true;
    }
    return false;
}

/* -------------------------------------------------------------- regex */

/* The most copies of an atom an ERE may ask regcomp for: glibc builds
 * `x{m,n}` as n copies of x and `x+` as `x x*`, so repetitions that nest
 * multiply (a fuzzed `t++++...` asked for 2^100 and took 2 GiB). */
#define TF_REGEX_COPIES 4096

/* Whether the ERE `ere` compiles to a bounded tree: no repetition applied
 * to a repetition (undefined in POSIX), and at most TF_REGEX_COPIES atoms
 * once every repetition is expanded. false with why set otherwise. */
static bool ere_bounded(const char *ere, char *why, size_t cap)
{
    long stack[64]; /* the weight of each open group's outer sequence */
    int depth = 0;
    long cur = 0, last = 0; /* this sequence's weight, its last atom's */
    bool quantified = false, atom = false;
    for (size_t i = 0; ere[i]; i++) {
        char ch = ere[i];
        long factor = 0;
        if (ch == '*' || ch == '+' || ch == '?') {
            factor = 2;
        } else if (ch == '{') {
            /* only {m}, {m,} or {m,n} in plain digits: what regcomp would
             * read otherwise is not what this counts (it reads "\0" in
             * "{2,222\00}" as a digit); a tag has no '{' to match */
            const char *p = ere + i + 1;
            long m = 0, n = -1;
            size_t dm = 0, dn = 0;
            for (; isdigit((unsigned char)*p) && dm < 6; p++, dm++)
                m = m * 10 + (*p - '0');
            if (*p == ',')
                for (p++, n = 0; isdigit((unsigned char)*p) && dn < 6;
                     p++, dn++)
                    n = n * 10 + (*p - '0');
            if (dm == 0 || *p != '}') {
                snprintf(why, cap,
                         "'{' must start a repetition bound {m}, {m,} or "
                         "{m,n} (a tag has no '{')");
                return false;
            }
            if (n < m)
                n = m; /* {m,} and {m}: m + 1 copies; {m,n} with n < m fails */
            factor = n + 1;
            i = (size_t)(p - ere);
            if (!atom)
                factor = 0, last = 0; /* nothing to repeat: regcomp says so */
        }
        if (factor) {
            if (quantified) {
                snprintf(why, cap,
                         "a repetition applied to a repetition "
                         "(write one: '+', '*', '?' or {m,n})");
                return false;
            }
            if (last > TF_REGEX_COPIES / factor + 1) {
                last = TF_REGEX_COPIES + 1;
            } else {
                cur += last * (factor - 1);
                last *= factor;
            }
            quantified = true;
        } else if (ch == '(') {
            if (depth == (int)(sizeof(stack) / sizeof(stack[0]))) {
                snprintf(why, cap, "groups nested deeper than 64");
                return false;
            }
            stack[depth++] = cur;
            cur = 0;
            atom = quantified = false;
            continue;
        } else if (ch == ')' && depth > 0) {
            last = cur > 0 ? cur : 1;
            cur = stack[--depth] + last;
            atom = true;
            quantified = false;
        } else if (ch == '|' || ch == '^' || ch == '$') {
            atom = quantified = false;
            continue;
        } else {
            if (ch == '\\' && isdigit((unsigned char)ere[i + 1])) {
                snprintf(why, cap, "back-references (\\%c) are not supported",
                         ere[i + 1]);
                return false;
            } else if (ch == '\\' && ere[i + 1]) {
                i++;
            } else if (ch == '[') { /* to the closing ']' */
                size_t j = i + 1;
                if (ere[j] == '^')
                    j++;
                if (ere[j] == ']')
                    j++;
                while (ere[j] && ere[j] != ']') {
                    if (ere[j] == '[' && ere[j + 1] &&
                        strchr(":.=", ere[j + 1])) {
                        const char close[3] = {ere[j + 1], ']', '\0'};
                        const char *e2 = strstr(ere + j + 2, close);
                        j = e2 ? (size_t)(e2 - ere) + 2 : j + 1;
                        continue;
                    }
                    j++;
                }
                i = ere[j] ? j : j - 1;
            }
            last = 1;
            cur += 1;
            atom = true;
            quantified = false;
        }
        if (cur > TF_REGEX_COPIES || last > TF_REGEX_COPIES) {
            snprintf(why, cap,
                     "too complex: its repetitions nest to more than %d "
                     "copies",
                     TF_REGEX_COPIES);
            return false;
        }
    }
    return true;
}

int it_tag_regex_compile(regex_t *re, const char *pattern, it_errbuf *err)
{
    size_t len = strlen(pattern);
    if (len > TF_PATTERN_MAX) {
        it_set_err(err, "regex '%.60s...': longer than %d characters", pattern,
                   TF_PATTERN_MAX);
        return -1;
    }
    /* each escape grows to at most 14 characters */
    char *buf = malloc(len * 7 + 1);
    if (buf == NULL) {
        it_set_err(err, "regex: out of memory");
        return -1;
    }
    size_t o = 0;
    bool in_bracket = false;
    for (size_t i = 0; i < len; i++) {
        char ch = pattern[i];
        if (in_bracket) {
            /* "[]..." and "[^]...": the first ']' is a member */
            if (ch == '[' && i + 1 < len &&
                (pattern[i + 1] == ':' || pattern[i + 1] == '.' ||
                 pattern[i + 1] == '=')) {
                char close[3] = {pattern[i + 1], ']', '\0'};
                const char *end = strstr(pattern + i + 2, close);
                if (end != NULL) {
                    size_t n = (size_t)(end - (pattern + i)) + 2;
                    memcpy(buf + o, pattern + i, n);
                    o += n;
                    i += n - 1;
                    continue;
                }
            }
            if (ch == '\\' && i + 1 < len &&
                strchr("dwsDWS", pattern[i + 1]) != NULL) {
                const char *rep = NULL;
                switch (pattern[i + 1]) {
                case 'd':
                    rep = "0-9";
                    break;
                case 'w':
                    rep = "A-Za-z0-9_";
                    break;
                case 's':
                    rep = "[:space:]";
                    break;
                default:
                    it_set_err(err,
                               "regex '%.200s': \\%c inside [...] is not "
                               "supported (write the class out, e.g. "
                               "[^0-9])",
                               pattern, pattern[i + 1]);
                    free(buf);
                    return -1;
                }
                size_t n = strlen(rep);
                memcpy(buf + o, rep, n);
                o += n;
                i++;
                continue;
            }
            if (ch == ']')
                in_bracket = false;
            buf[o++] = ch;
            continue;
        }
        if (ch == '\\' && i + 1 < len) {
            const char *rep = NULL;
            switch (pattern[i + 1]) {
            case 'd':
                rep = "[0-9]";
                break;
            case 'D':
                rep = "[^0-9]";
                break;
            case 'w':
                rep = "[A-Za-z0-9_]";
                break;
            case 'W':
                rep = "[^A-Za-z0-9_]";
                break;
            case 's':
                rep = "[[:space:]]";
                break;
            case 'S':
                rep = "[^[:space:]]";
                break;
            default:
                break;
            }
            if (rep != NULL) {
                size_t n = strlen(rep);
                memcpy(buf + o, rep, n);
                o += n;
            } else {
                buf[o++] = ch;
                buf[o++] = pattern[i + 1];
            }
            i++;
            continue;
        }
        if (ch == '[') {
            in_bracket = true;
            buf[o++] = ch;
            if (i + 1 < len && pattern[i + 1] == '^')
                buf[o++] = pattern[++i];
            if (i + 1 < len && pattern[i + 1] == ']')
                buf[o++] = pattern[++i];
            continue;
        }
        buf[o++] = ch;
    }
    buf[o] = '\0';
    char why[120];
    if (!ere_bounded(buf, why, sizeof(why))) {
        it_set_err(err, "regex '%.200s': %s", pattern, why);
        free(buf);
        return -1;
    }
    int rc = regcomp(re, buf, REG_EXTENDED | REG_NOSUB);
    free(buf);
    if (rc != 0) {
        char m[200];
        regerror(rc, re, m, sizeof m);
        it_set_err(err, "regex '%.200s': %s", pattern, m);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------- filter */

struct it_tagfilter {
    regex_t *inc, *exc;
    size_t ninc, nexc;
    it_semver_range *semver;
    int latest;
};

void it_tagfilter_free(it_tagfilter *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->ninc; i++)
        regfree(&f->inc[i]);
    for (size_t i = 0; i < f->nexc; i++)
        regfree(&f->exc[i]);
    free(f->inc);
    free(f->exc);
    it_semver_range_free(f->semver);
    free(f);
}

static int compile_list(regex_t **out, size_t *n, char *const *list,
                        const char *what, it_errbuf *err)
{
    size_t cap = 0;
    while (list != NULL && list[cap] != NULL)
        cap++;
    *out = NULL;
    *n = 0;
    if (cap == 0)
        return 0;
    *out = calloc(cap, sizeof **out);
    if (*out == NULL) {
        it_set_err(err, "%s: out of memory", what);
        return -1;
    }
    for (size_t i = 0; i < cap; i++) {
        if (it_tag_regex_compile(&(*out)[i], list[i], err) != 0) {
            char m[sizeof err->msg];
            snprintf(m, sizeof m, "%s", err->msg);
            it_set_err(err, "%s %s", what, m);
            return -1;
        }
        (*n)++;
    }
    return 0;
}

int it_tagfilter_new(it_tagfilter **out, char *const *include,
                     char *const *exclude, const char *semver, int latest,
                     it_errbuf *err)
{
    int rc = -1;
    it_tagfilter *f = calloc(1, sizeof *f);
    *out = NULL;
    if (f == NULL) {
        it_set_err(err, "tag filter: out of memory");
        goto cleanup;
    }
    if (latest < 0) {
        it_set_err(err, "latest: expected an integer from 1 upwards");
        goto cleanup;
    }
    f->latest = latest;
    if (compile_list(&f->inc, &f->ninc, include, "tags:", err) != 0 ||
        compile_list(&f->exc, &f->nexc, exclude, "exclude:", err) != 0)
        goto cleanup;
    if (semver != NULL && it_semver_range_parse(&f->semver, semver, err) != 0)
        goto cleanup;
    *out = f;
    f = NULL;
    rc = 0;
cleanup:
    it_tagfilter_free(f);
    return rc;
}

it_tf_verdict it_tagfilter_check(const it_tagfilter *f, const char *tag)
{
    if (f == NULL)
        return IT_TF_KEEP;
    if (f->ninc > 0) {
        bool any = false;
        for (size_t i = 0; i < f->ninc && !any; i++)
            any = regexec(&f->inc[i], tag, 0, NULL, 0) == 0;
        if (!any)
            return IT_TF_REGEX;
    }
    for (size_t i = 0; i < f->nexc; i++)
        if (regexec(&f->exc[i], tag, 0, NULL, 0) == 0)
            return IT_TF_EXCLUDE;
    if (f->semver != NULL) {
        it_semver v;
        if (it_semver_parse(tag, &v) != 0 ||
            !it_semver_range_match(f->semver, &v))
            return IT_TF_SEMVER;
    }
    return IT_TF_KEEP;
}

int it_tagfilter_latest(const it_tagfilter *f)
{
    return f != NULL ? f->latest : 0;
}

bool it_tagfilter_active(const it_tagfilter *f)
{
    return f != NULL &&
           (f->ninc > 0 || f->nexc > 0 || f->semver != NULL || f->latest > 0);
}

/* ----------------------------------------------------------- ordering */

const char *it_tag_order_name(it_tag_order o)
{
    switch (o) {
    case IT_ORDER_SEMVER:
        return "semver";
    case IT_ORDER_CREATED:
        return "created";
    case IT_ORDER_PUSH_TIME:
        return "push_time";
    }
    return "?";
}

bool it_tags_all_semver(const it_tag_candidate *c, size_t n)
{
    it_semver v;
    for (size_t i = 0; i < n; i++)
        if (it_semver_parse(c[i].tag, &v) != 0)
            return false;
    return n > 0;
}

static int by_semver_desc(const void *pa, const void *pb)
{
    const it_tag_candidate *a = pa, *b = pb;
    it_semver va, vb;
    /* both parse: checked before sorting */
    if (it_semver_parse(a->tag, &va) == 0 &&
        it_semver_parse(b->tag, &vb) == 0) {
        int d = it_semver_cmp(&va, &vb);
        if (d != 0)
            return -d;
    }
    return strcmp(a->tag, b->tag);
}

static int by_created_desc(const void *pa, const void *pb)
{
    const it_tag_candidate *a = pa, *b = pb;
    if (a->created != b->created)
        return a->created > b->created ? -1 : 1;
    return strcmp(a->tag, b->tag);
}

void it_tags_sort_newest(it_tag_candidate *c, size_t n, it_tag_order o)
{
    if (n < 2 || o == IT_ORDER_PUSH_TIME)
        return;
    qsort(c, n, sizeof *c,
          o == IT_ORDER_SEMVER ? by_semver_desc : by_created_desc);
}

int it_latest_note(char *out, size_t cap, long n, const char *flag)
{
    return snprintf(out, cap, "%ld older %s left out by %s", n,
                    n == 1 ? "tag was" : "tags were",
                    flag != NULL ? flag : "latest");
}
