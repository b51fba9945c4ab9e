/* test_config.c - the three YAML files, Docker config.json, rule
 * resolution. Tables: tests/fixtures/config/bad-files.table and
 * rules-resolve.table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "log.h"
#include "test_util.h"

static char fixdir[1024];

static void fixture_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", fixdir, name);
}

static int setup(void **state)
{
    (void)state;
    const char *f = getenv("FIXTURES");
    if (f == NULL)
        f = "tests/fixtures";
    snprintf(fixdir, sizeof fixdir, "%s/config", f);
    return 0;
}

/* Splits a table line at " | " into at most max trimmed fields. */
static size_t split_fields(char *line, char **fields, size_t max)
{
    size_t n = 0;
    char *p = line;
    while (n < max) {
        char *bar = strchr(p, '|');
        if (bar != NULL)
            *bar = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        size_t len = strlen(p);
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t' ||
                           p[len - 1] == '\n' || p[len - 1] == '\r'))
            p[--len] = '\0';
        fields[n++] = p;
        if (bar == NULL)
            break;
        p = bar + 1;
    }
    return n;
}

static FILE *open_table(const char *name)
{
    char path[1200];
    fixture_path(path, sizeof path, name);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        fail_msg("cannot open table %s", path);
    return f;
}

/* ------------------------------------------------------------ bad files */

static void test_bad_files(void **state)
{
    (void)state;
    FILE *t = open_table("bad-files.table");
    char line[1024];
    int cases = 0;
    while (fgets(line, sizeof line, t) != NULL) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        char *f[4];
        assert_int_equal(split_fields(line, f, 4), 4);
        char path[1200];
        fixture_path(path, sizeof path, f[1]);
        it_errbuf err;
        memset(&err, 0, sizeof err);
        int rc = 0;
        if (strcmp(f[0], "secrets") == 0) {
            it_secrets *s = NULL;
            rc = it_secrets_load(&s, path, &err);
            assert_null(s);
        } else if (strcmp(f[0], "rules") == 0) {
            it_rules *r = NULL;
            rc = it_rules_load(&r, path, &err);
            assert_null(r);
        } else if (strcmp(f[0], "tc") == 0) {
            it_tc_secrets *s = NULL;
            rc = it_tc_secrets_load(&s, path, &err);
            assert_null(s);
        } else if (strcmp(f[0], "docker") == 0) {
            it_secrets s = {0};
            rc = it_secrets_add_docker_config(&s, path, &err);
            assert_int_equal(s.n, 0);
            free(s.items);
        } else {
            fail_msg("unknown loader %s", f[0]);
        }
        if (rc != -1)
            fail_msg("%s: expected an error, got rc=%d", f[1], rc);
        char want[1400];
        if (strcmp(f[2], "-") == 0)
            snprintf(want, sizeof want, "%s: ", path);
        else
            snprintf(want, sizeof want, "%s:%s: ", path, f[2]);
        if (strncmp(err.msg, want, strlen(want)) != 0)
            fail_msg("%s: message '%s' does not start with '%s'", f[1], err.msg,
                     want);
        if (strstr(err.msg, f[3]) == NULL)
            fail_msg("%s: message '%s' lacks '%s'", f[1], err.msg, f[3]);
        cases++;
    }
    fclose(t);
    assert_true(cases >= 20);
}

/* No value of a secret field shows up in messages. */
static void test_errors_hide_secrets(void **state)
{
    (void)state;
    char path[1200];
    it_errbuf err;
    it_secrets *s = NULL;
    fixture_path(path, sizeof path, "secrets-bad-scalar-entry.yaml");
    assert_int_equal(it_secrets_load(&s, path, &err), -1);
    assert_null(strstr(err.msg, "s3cretInline"));

    it_secrets d = {0};
    fixture_path(path, sizeof path, "docker-config-bad-auth.json");
    assert_int_equal(it_secrets_add_docker_config(&d, path, &err), -1);
    assert_null(strstr(err.msg, "bm9jb2xvbg"));
    assert_null(strstr(err.msg, "nocolon"));
    free(d.items);
}

/* ------------------------------------------------------ secrets: good */

static const it_cred *by_key(const it_secrets *s, const char *key)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->items[i].key, key) == 0)
            return &s->items[i];
    }
    return NULL;
}

static void test_secrets_good(void **state)
{
    (void)state;
    char path[1200];
    it_errbuf err;
    it_secrets *s = NULL;
    fixture_path(path, sizeof path, "secrets-good.yaml");
    if (it_secrets_load(&s, path, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(s->n, 7);

    const it_cred *c = by_key(s, "ccr.ccs.tencentyun.com");
    assert_non_null(c);
    assert_string_equal(c->host, "ccr.ccs.tencentyun.com");
    assert_null(c->ns);
    assert_string_equal(c->username, "ccr-user");
    assert_string_equal(c->password, "ccr-pass");
    assert_true(c->insecure);
    assert_int_equal(c->line, 2);

    c = by_key(s, "image-transfer.tencentcloudcr.com");
    assert_string_equal(c->password, "12345");
    assert_false(c->insecure);

    c = by_key(s, "registry.hub.docker.com/team-a");
    assert_string_equal(c->host, "registry-1.docker.io");
    assert_string_equal(c->ns, "team-a");

    c = by_key(s, "127.0.0.1:5001/deep/ns/");
    assert_string_equal(c->host, "127.0.0.1:5001");
    assert_string_equal(c->ns, "deep/ns");

    c = by_key(s, "localhost:5002");
    assert_null(c->username);
    assert_null(c->password);
    assert_false(c->insecure);

    c = by_key(s, "anon.example.com");
    assert_null(c->username);
    assert_true(c->insecure);

    /* most specific wins, by whole path components */
    const char *hub = "registry-1.docker.io";
    assert_string_equal(it_secrets_find(s, hub, "team-a/app")->username,
                        "team-a-user");
    assert_string_equal(it_secrets_find(s, hub, "team-a")->username,
                        "team-a-user");
    assert_string_equal(it_secrets_find(s, hub, "team-ab/app")->username,
                        "hub-user");
    assert_string_equal(it_secrets_find(s, hub, "library/nginx")->username,
                        "hub-user");
    assert_string_equal(
        it_secrets_find(s, "127.0.0.1:5001", "deep/ns/x")->username, "deep");
    assert_null(it_secrets_find(s, "127.0.0.1:5001", "deep/nsx"));
    assert_null(it_secrets_find(s, "127.0.0.1:5001", "deep"));
    assert_null(it_secrets_find(s, "quay.io", "a/b"));
    assert_string_equal(
        it_secrets_find(s, "CCR.ccs.tencentyun.com", "x/y")->username,
        "ccr-user");
    it_secrets_free(s);

    fixture_path(path, sizeof path, "secrets-empty.yaml");
    assert_int_equal(it_secrets_load(&s, path, &err), 0);
    assert_int_equal(s->n, 0);
    it_secrets_free(s);
    it_secrets_free(NULL);
}

/* The TLS setting of a repository: the most specific entry or the bare
 * host entry turns checks off; a namespace entry never does for the rest
 * of its host. */
static void test_secrets_insecure(void **state)
{
    (void)state;
    char path[1200];
    it_errbuf err;
    it_secrets *s = NULL;
    fixture_path(path, sizeof path, "secrets-insecure.yaml");
    if (it_secrets_load(&s, path, &err) != 0)
        fail_msg("%s", err.msg);
    assert_true(it_secrets_insecure(s, "a.example.com", "ns/app"));
    assert_true(it_secrets_insecure(s, "a.example.com", "ns"));
    assert_true(it_secrets_insecure(s, "A.Example.COM", "ns/app"));
    assert_false(it_secrets_insecure(s, "a.example.com", "nsx/app"));
    assert_false(it_secrets_insecure(s, "a.example.com", "other/app"));
    assert_false(it_secrets_insecure(s, "a.example.com", NULL));
    /* the bare host says insecure: every repository of it */
    assert_true(it_secrets_insecure(s, "b.example.com", "team/app"));
    assert_true(it_secrets_insecure(s, "b.example.com", "x"));
    assert_true(it_secrets_insecure(s, "b.example.com", NULL));
    /* a deeper namespace only */
    assert_true(it_secrets_insecure(s, "c.example.com", "deep/ns/app"));
    assert_false(it_secrets_insecure(s, "c.example.com", "deep/app"));
    assert_false(it_secrets_insecure(s, "d.example.com", "ns/app"));
    assert_false(it_secrets_insecure(NULL, "a.example.com", "ns/app"));
    it_secrets_free(s);
}

static void test_docker_config(void **state)
{
    (void)state;
    char path[1200], dc[1200];
    it_errbuf err;
    it_secrets *s = NULL;
    fixture_path(dc, sizeof dc, "docker-config.json");

    /* alone: every usable auths entry, hosts canonical */
    fixture_path(path, sizeof path, "secrets-empty.yaml");
    assert_int_equal(it_secrets_load(&s, path, &err), 0);
    if (it_secrets_add_docker_config(s, dc, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(s->n, 3);
    const it_cred *c = it_secrets_find(s, "registry-1.docker.io", "a/b");
    assert_non_null(c);
    assert_string_equal(c->username, "hub-dc");
    assert_string_equal(c->password, "hub-dc-pass");
    c = it_secrets_find(s, "127.0.0.1:5003", "a");
    assert_string_equal(c->username, "u3");
    assert_string_equal(c->password, "p3");
    assert_null(it_secrets_find(s, "ghcr.io", "a")); /* {} is skipped */
    it_secrets_free(s);

    /* registry-secret.yaml entries win over config.json */
    fixture_path(path, sizeof path, "secrets-good.yaml");
    assert_int_equal(it_secrets_load(&s, path, &err), 0);
    assert_int_equal(it_secrets_add_docker_config(s, dc, &err), 0);
    assert_int_equal(s->n, 8); /* only 127.0.0.1:5003 is new */
    assert_string_equal(
        it_secrets_find(s, "ccr.ccs.tencentyun.com", "a")->username,
        "ccr-user");
    assert_string_equal(
        it_secrets_find(s, "registry-1.docker.io", "x/y")->username,
        "hub-user");

    /* a missing config.json is not an error */
    fixture_path(path, sizeof path, "no-such-config.json");
    assert_int_equal(it_secrets_add_docker_config(s, path, &err), 0);
    assert_int_equal(s->n, 8);
    it_secrets_free(s);
}

/* --------------------------------------------------------------- rules */

static void test_rules_good(void **state)
{
    (void)state;
    char path[1200];
    it_errbuf err;
    it_rules *r = NULL;
    fixture_path(path, sizeof path, "rules-good.yaml");
    if (it_rules_load(&r, path, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(r->n, 4);
    assert_string_equal(r->items[0].source, "demo-ns/nginx:latest");
    assert_string_equal(r->items[0].target,
                        "image-transfer.tencentcloudcr.com/demo-ns/"
                        "nginx:latest");
    assert_int_equal(r->items[0].line, 2);
    assert_int_equal(r->items[1].line, 4);
    assert_string_equal(r->items[2].source,
                        "quay.io/prometheus/node-exporter:v1.7.0,v1.8.0");
    assert_null(r->items[2].target);
    assert_null(r->items[3].target);
    assert_int_equal(r->items[3].line, 7);

    /* every rule of the file resolves with a default registry */
    for (size_t i = 0; i < r->n; i++) {
        it_pair p;
        if (it_rule_resolve(&p, &r->items[i], path, "tcr.example.com", NULL,
                            &err) != 0)
            fail_msg("%s", err.msg);
        it_pair_clear(&p);
    }
    /* and without one, the empty targets fail with FILE:LINE */
    it_pair p;
    assert_int_equal(it_rule_resolve(&p, &r->items[2], path, NULL, NULL, &err),
                     -1);
    char want[1300];
    snprintf(want, sizeof want, "%s:6: ", path);
    assert_memory_equal(err.msg, want, strlen(want));
    assert_null(p.src_host);
    it_rules_free(r);
    it_rules_free(NULL);
}

/* The mapping form (issue 14): filters and platforms into the rule, the
 * pair, and the global flags only where the rule gives nothing. */
static void test_rules_mapping(void **state)
{
    (void)state;
    char path[1200];
    it_errbuf err;
    it_rules *r = NULL;
    fixture_path(path, sizeof path, "rules-mapping.yaml");
    if (it_rules_load(&r, path, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(r->n, 4);
    const it_rule *a = &r->items[0];
    assert_string_equal(a->target, "tcr.example.com/org/app");
    assert_string_equal(a->tags[0], "^v\\d+\\.\\d+\\.\\d+$");
    assert_null(a->tags[1]);
    assert_string_equal(a->exclude[0], "-rc");
    assert_string_equal(a->exclude[1], "^dev-");
    assert_null(a->exclude[2]);
    assert_string_equal(a->semver, ">=1.4 <3");
    assert_int_equal(a->latest, 10);
    assert_string_equal(a->platforms[1], "linux/arm64");
    /* the one-line form is untouched */
    assert_string_equal(r->items[1].target, "reg.example.com/lib/nginx");
    assert_null(r->items[1].tags);
    /* one scalar is a list of one; null is "not given" */
    assert_null(r->items[2].target);
    assert_string_equal(r->items[2].tags[0], "nightly");
    assert_int_equal(r->items[2].latest, 0);
    assert_null(r->items[3].target); /* "redis: {}" */

    it_pair p;
    if (it_rule_resolve(&p, a, path, NULL, NULL, &err) != 0)
        fail_msg("%s", err.msg);
    assert_string_equal(p.dst_host, "tcr.example.com");
    assert_string_equal(p.filter_exclude[1], "^dev-");
    assert_string_equal(p.filter_semver, ">=1.4 <3");
    assert_int_equal(p.filter_latest, 10);
    assert_string_equal(p.platforms[0], "linux/amd64");
    /* the rule's keys win over the global flags */
    assert_int_equal(it_pair_filter_defaults(&p, "x", "y", ">=9", 3, &err), 0);
    assert_string_equal(p.filter_tags[0], "^v\\d+\\.\\d+\\.\\d+$");
    assert_string_equal(p.filter_exclude[0], "-rc");
    assert_string_equal(p.filter_semver, ">=1.4 <3");
    assert_int_equal(p.filter_latest, 10);
    it_pair_clear(&p);

    /* the tool rule: target by default, global flags fill the rest */
    if (it_rule_resolve(&p, &r->items[2], path, "tcr.example.com", "ns", &err))
        fail_msg("%s", err.msg);
    assert_string_equal(p.dst_repo, "ns/tool");
    assert_int_equal(
        it_pair_filter_defaults(&p, "a{1,2},b[,]c,,", "^dev-", ">=1", 5, &err),
        0);
    assert_string_equal(p.filter_tags[0], "nightly");
    assert_null(p.filter_tags[1]);
    assert_string_equal(p.filter_exclude[0], "^dev-");
    assert_string_equal(p.filter_semver, ">=1");
    assert_int_equal(p.filter_latest, 5);
    it_pair_clear(&p);
    if (it_rule_resolve(&p, &r->items[3], path, "tcr.example.com", NULL, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(
        it_pair_filter_defaults(&p, "a{1,2},b[,]c,,", NULL, NULL, 0, &err), 0);
    /* commas inside {m,n} and [...] belong to the regex */
    assert_string_equal(p.filter_tags[0], "a{1,2}");
    assert_string_equal(p.filter_tags[1], "b[,]c");
    assert_null(p.filter_tags[2]);
    assert_null(p.filter_exclude);
    assert_null(p.filter_semver);
    it_pair_clear(&p);
    it_rules_free(r);
}

static char *nullable(char *s)
{
    return strcmp(s, "-") == 0 ? NULL : s;
}

static void expect_str(const char *ctx, const char *what, const char *want,
                       const char *got)
{
    if (strcmp(want, "-") == 0) {
        if (got != NULL)
            fail_msg("%s: %s: expected NULL, got '%s'", ctx, what, got);
        return;
    }
    if (got == NULL || strcmp(want, got) != 0)
        fail_msg("%s: %s: expected '%s', got '%s'", ctx, what, want,
                 got != NULL ? got : "(null)");
}

static void test_rule_resolve_table(void **state)
{
    (void)state;
    FILE *t = open_table("rules-resolve.table");
    char line[1024];
    int cases = 0, lineno = 0;
    while (fgets(line, sizeof line, t) != NULL) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        char *f[5];
        assert_int_equal(split_fields(line, f, 5), 5);
        char ctx[64];
        snprintf(ctx, sizeof ctx, "rules-resolve.table:%d", lineno);
        it_rule r = {.source = f[0], .target = nullable(f[1]), .line = 42};
        it_pair p;
        it_errbuf err;
        memset(&err, 0, sizeof err);
        int rc = it_rule_resolve(&p, &r, "rules.yaml", nullable(f[2]),
                                 nullable(f[3]), &err);
        if (strncmp(f[4], "ERR ", 4) == 0) {
            if (rc != -1)
                fail_msg("%s: expected an error", ctx);
            if (strncmp(err.msg, "rules.yaml:42: ", 15) != 0 ||
                strstr(err.msg, f[4] + 4) == NULL)
                fail_msg("%s: message '%s' lacks '%s'", ctx, err.msg, f[4] + 4);
            assert_null(p.src_host);
            assert_null(p.tags);
        } else {
            if (rc != 0)
                fail_msg("%s: %s", ctx, err.msg);
            char *w[7];
            char *save = f[4];
            for (int i = 0; i < 7; i++) {
                w[i] = save;
                char *sp = strchr(save, ' ');
                if (sp == NULL && i < 6)
                    fail_msg("%s: expected 7 words", ctx);
                if (sp != NULL) {
                    *sp = '\0';
                    save = sp + 1;
                }
            }
            expect_str(ctx, "src_host", w[0], p.src_host);
            expect_str(ctx, "src_repo", w[1], p.src_repo);
            char tags[512] = "-";
            if (p.tags != NULL) {
                tags[0] = '\0';
                for (char **tg = p.tags; *tg != NULL; tg++) {
                    if (tg != p.tags)
                        strncat(tags, ",", sizeof tags - strlen(tags) - 1);
                    strncat(tags, *tg, sizeof tags - strlen(tags) - 1);
                }
            }
            if (strcmp(w[2], tags) != 0)
                fail_msg("%s: tags: expected '%s', got '%s'", ctx, w[2], tags);
            expect_str(ctx, "src_digest", w[3], p.src_digest);
            expect_str(ctx, "dst_host", w[4], p.dst_host);
            expect_str(ctx, "dst_repo", w[5], p.dst_repo);
            expect_str(ctx, "dst_tag", w[6], p.dst_tag);
            it_pair_clear(&p);
        }
        cases++;
    }
    fclose(t);
    assert_true(cases >= 20);
}

/* ------------------------------------------------- tencentcloud secrets */

static void clear_tc_env(void)
{
    unsetenv("TENCENTCLOUD_SECRET_ID");
    unsetenv("TENCENTCLOUD_SECRET_KEY");
    unsetenv("TENCENTCLOUD_SESSION_TOKEN");
}

static void test_tc_secrets(void **state)
{
    (void)state;
    char path[1200];
    it_errbuf err;
    it_tc_secrets *s = NULL;
    clear_tc_env();

    fixture_path(path, sizeof path, "tc-good.yaml");
    if (it_tc_secrets_load(&s, path, &err) != 0)
        fail_msg("%s", err.msg);
    assert_string_equal(s->ccr.secret_id, "AKIDccr");
    assert_string_equal(s->ccr.secret_key, "ccr-key");
    assert_null(s->ccr.token);
    assert_string_equal(s->tcr.secret_id, "AKIDtcr");
    assert_string_equal(s->tcr.secret_key, "tcr-key");
    assert_string_equal(s->tcr.token, "tcr-token");
    it_tc_secrets_free(s);

    /* one side stands in for the other, even with the environment set */
    setenv("TENCENTCLOUD_SECRET_ID", "AKIDenv", 1);
    setenv("TENCENTCLOUD_SECRET_KEY", "env-key", 1);
    fixture_path(path, sizeof path, "tc-ccr-only.yaml");
    assert_int_equal(it_tc_secrets_load(&s, path, &err), 0);
    assert_string_equal(s->tcr.secret_id, "AKIDccr");
    assert_string_equal(s->tcr.secret_key, "ccr-key");
    it_tc_secrets_free(s);

    fixture_path(path, sizeof path, "tc-flat.yaml");
    assert_int_equal(it_tc_secrets_load(&s, path, &err), 0);
    assert_string_equal(s->ccr.secret_id, "AKIDflat");
    assert_string_equal(s->tcr.secret_key, "flat-key");
    it_tc_secrets_free(s);

    /* no file: the environment */
    setenv("TENCENTCLOUD_SESSION_TOKEN", "env-token", 1);
    assert_int_equal(it_tc_secrets_load(&s, NULL, &err), 0);
    assert_string_equal(s->ccr.secret_id, "AKIDenv");
    assert_string_equal(s->tcr.secret_key, "env-key");
    assert_string_equal(s->tcr.token, "env-token");
    it_tc_secrets_free(s);

    /* an empty file falls back to the environment too */
    fixture_path(path, sizeof path, "secrets-empty.yaml");
    assert_int_equal(it_tc_secrets_load(&s, path, &err), 0);
    assert_string_equal(s->ccr.secret_id, "AKIDenv");
    it_tc_secrets_free(s);

    /* half an environment key is an error that names the variables */
    unsetenv("TENCENTCLOUD_SECRET_KEY");
    assert_int_equal(it_tc_secrets_load(&s, NULL, &err), -1);
    assert_null(s);
    assert_non_null(strstr(err.msg, "TENCENTCLOUD_SECRET_KEY"));
    assert_null(strstr(err.msg, "AKIDenv"));

    /* nothing at all */
    clear_tc_env();
    assert_int_equal(it_tc_secrets_load(&s, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "no Tencent Cloud API key"));
    fixture_path(path, sizeof path, "secrets-empty.yaml");
    assert_int_equal(it_tc_secrets_load(&s, path, &err), -1);
    assert_non_null(strstr(err.msg, path));
    it_tc_secrets_free(NULL);
}

/* The warnings the loaders log, seen through the log observer. */
static char seen_warn[4096];

static void observe(void *payload, it_log_level lvl, const char *line)
{
    (void)payload;
    if (lvl == IT_LOG_WARN)
        snprintf(seen_warn + strlen(seen_warn),
                 sizeof seen_warn - strlen(seen_warn), "%s\n", line);
}

/* Loads a copy of a fixture whose mode is set to `mode` and returns what
 * was warned. */
static const char *warned_for(const char *dir, const char *fixture,
                              const char *name, mode_t mode, bool tc)
{
    char src[1200], dst[1200], buf[4096];
    it_errbuf err;
    fixture_path(src, sizeof src, fixture);
    snprintf(dst, sizeof dst, "%s/%s", dir, name);
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    assert_non_null(in);
    assert_non_null(out);
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
    assert_int_equal(chmod(dst, mode), 0);
    seen_warn[0] = '\0';
    if (tc) {
        it_tc_secrets *s = NULL;
        if (it_tc_secrets_load(&s, dst, &err) != 0)
            fail_msg("%s", err.msg);
        it_tc_secrets_free(s);
    } else {
        it_secrets *s = NULL;
        if (it_secrets_load(&s, dst, &err) != 0)
            fail_msg("%s", err.msg);
        it_secrets_free(s);
    }
    return seen_warn;
}

static void test_exposed_secret_files(void **state)
{
    (void)state;
    void *tmp = NULL;
    assert_int_equal(tu_tmpdir_new(&tmp, "config"), 0);
    const char *dir = tmp;
    it_log_open(NULL, IT_LOG_WARN);
    it_log_set_observer(observe, NULL);

    const char *w =
        warned_for(dir, "secrets-good.yaml", "reg.yaml", 0644, false);
    assert_non_null(strstr(w, "reg.yaml holds secrets but is readable by "
                              "other users (mode 0644)"));
    assert_non_null(strstr(w, "chmod 600"));
    /* the warning names the file, never what is in it */
    assert_null(strstr(w, "ccr-pass"));

    w = warned_for(dir, "secrets-good.yaml", "reg.yaml", 0640, false);
    assert_non_null(strstr(w, "readable by its group (mode 0640)"));
    w = warned_for(dir, "secrets-good.yaml", "reg.yaml", 0600, false);
    assert_string_equal(w, "");
    w = warned_for(dir, "secrets-good.yaml", "reg.yaml", 0400, false);
    assert_string_equal(w, "");

    clear_tc_env();
    w = warned_for(dir, "tc-good.yaml", "tc.yaml", 0604, true);
    assert_non_null(strstr(w, "tc.yaml holds secrets"));
    assert_null(strstr(w, "tcr-key"));
    w = warned_for(dir, "tc-good.yaml", "tc.yaml", 0600, true);
    assert_string_equal(w, "");

    /* the rule file holds no secret: no warning whatever its mode */
    char src[1200];
    it_rules *r = NULL;
    it_errbuf err;
    fixture_path(src, sizeof src, "rules-good.yaml");
    seen_warn[0] = '\0';
    if (it_rules_load(&r, src, &err) != 0)
        fail_msg("%s", err.msg);
    it_rules_free(r);
    assert_string_equal(seen_warn, "");

    it_log_set_observer(NULL, NULL);
    tu_tmpdir_drop(&tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_errors_hide_secrets),
        cmocka_unit_test(test_secrets_good),
        cmocka_unit_test(test_secrets_insecure),
        cmocka_unit_test(test_docker_config),
        cmocka_unit_test(test_rules_good),
        cmocka_unit_test(test_rules_mapping),
        cmocka_unit_test(test_rule_resolve_table),
        cmocka_unit_test(test_tc_secrets),
        cmocka_unit_test(test_exposed_secret_files),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
