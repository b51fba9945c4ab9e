/* test_options.c - command line parsing (tables in
 * tests/fixtures/options), environment defaults, --shard, --help text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "options.h"

static char fixdir[1024];

static int setup(void **state)
{
    (void)state;
    const char *f = getenv("FIXTURES");
    if (f == NULL)
        f = "tests/fixtures";
    snprintf(fixdir, sizeof fixdir, "%s/options", f);
    unsetenv("DEFAULT_REGISTRY");
    unsetenv("DEFAULT_NAMESPACE");
    return 0;
}

static FILE *open_table(const char *name)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", fixdir, name);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        fail_msg("cannot open table %s", path);
    return f;
}

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    size_t lead = strspn(s, " ");
    memmove(s, s + lead, strlen(s + lead) + 1);
}

/* Formats field `name` of o as text, the way the table writes it. */
static int field(char *out, size_t cap, const it_options *o, const char *name)
{
    static const char *const tui[] = {"auto", "on", "off"};
#define STR(f)                                                                 \
    if (strcmp(name, #f) == 0)                                                 \
        return snprintf(out, cap, "%s", o->f != NULL ? o->f : "-"), 0;
#define INT(f)                                                                 \
    if (strcmp(name, #f) == 0)                                                 \
        return snprintf(out, cap, "%lld", (long long)o->f), 0;
#define BOOL(f)                                                                \
    if (strcmp(name, #f) == 0)                                                 \
        return snprintf(out, cap, "%s", o->f ? "true" : "false"), 0;
    STR(security_file)
    STR(rule_file)
    STR(registry)
    STR(ns)
    INT(routines)
    INT(retry)
    INT(qps)
    INT(retry_window_ms)
    BOOL(tag_exist_overridden)
    BOOL(ccr_to_tcr)
    STR(secret_file)
    STR(tcr_name)
    STR(tcr_region)
    STR(ccr_region)
    INT(ccr_tag_nums)
    BOOL(tcr_namespace_public)
    STR(tc_endpoint)
    STR(ccr_registry)
    STR(tcr_registry)
    STR(state_dir)
    STR(report)
    BOOL(dry_run)
    INT(bandwidth)
    STR(log_level)
    STR(log_file)
    BOOL(exit_on_done)
    INT(progress_interval)
    STR(ca_file)
    STR(metrics_file)
    INT(metrics_interval)
    STR(events)
    STR(platforms) /* issue 14 */
    INT(verify)
    BOOL(help)
    BOOL(version)
    STR(tags) /* tag filters (issue 14) */
    STR(exclude_tags)
    STR(semver)
    INT(latest)
    if (strcmp(name, "tui") == 0)
        return snprintf(out, cap, "%s", tui[o->tui]), 0;
    if (strcmp(name, "output") == 0)
        return snprintf(out, cap, "%s",
                        o->output == IT_OUTPUT_JSON ? "json" : "text"),
               0;
    return -1;
#undef STR
#undef INT
#undef BOOL
}

static void test_parse_table(void **state)
{
    (void)state;
    FILE *t = open_table("parse.table");
    char line[2048];
    int lineno = 0, cases = 0;
    while (fgets(line, sizeof line, t) != NULL) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        char *bar = strchr(line, '|');
        assert_non_null(bar);
        *bar = '\0';
        char *args = line, *expect = bar + 1;
        trim(args);
        trim(expect);

        char *argv[64];
        int argc = 0;
        argv[argc++] = "image-transfer";
        for (char *p = args; *p != '\0';) {
            char *sp = strchr(p, ' ');
            if (sp != NULL)
                *sp = '\0';
            if (*p != '\0')
                argv[argc++] = p;
            if (sp == NULL)
                break;
            p = sp + 1;
        }
        argv[argc] = NULL;

        it_options o;
        it_errbuf err;
        memset(&err, 0, sizeof err);
        int rc = it_options_parse(&o, argc, argv, &err);
        if (strncmp(expect, "ERR ", 4) == 0) {
            if (rc != -1)
                fail_msg("parse.table:%d: expected an error", lineno);
            if (strstr(err.msg, expect + 4) == NULL)
                fail_msg("parse.table:%d: message '%s' lacks '%s'", lineno,
                         err.msg, expect + 4);
        } else {
            assert_int_equal(strncmp(expect, "OK", 2), 0);
            if (rc != 0)
                fail_msg("parse.table:%d: %s", lineno, err.msg);
            char *p = expect + 2;
            while (*p != '\0') {
                while (*p == ' ')
                    p++;
                char *sp = strchr(p, ' ');
                if (sp != NULL)
                    *sp = '\0';
                char *eq = strchr(p, '=');
                if (eq == NULL)
                    fail_msg("parse.table:%d: bad word '%s'", lineno, p);
                *eq = '\0';
                char got[512];
                if (field(got, sizeof got, &o, p) != 0)
                    fail_msg("parse.table:%d: unknown field %s", lineno, p);
                if (strcmp(got, eq + 1) != 0)
                    fail_msg("parse.table:%d: %s: expected '%s', got '%s'",
                             lineno, p, eq + 1, got);
                if (sp == NULL)
                    break;
                p = sp + 1;
            }
        }
        it_options_free(&o);
        cases++;
    }
    fclose(t);
    assert_true(cases >= 30);
}

static void test_parse_bytes_table(void **state)
{
    (void)state;
    FILE *t = open_table("bytes.table");
    char line[256];
    int cases = 0;
    while (fgets(line, sizeof line, t) != NULL) {
        if (line[0] == '#')
            continue;
        char *bar = strchr(line, '|');
        assert_non_null(bar);
        *bar = '\0';
        char *in = line, *want = bar + 1;
        trim(in);
        trim(want);
        long long w = strtoll(want, NULL, 10);
        long long got = (long long)it_parse_bytes(in);
        if (got != w)
            fail_msg("it_parse_bytes('%s') = %lld, expected %lld", in, got, w);
        cases++;
    }
    fclose(t);
    assert_true(cases >= 20);
    assert_int_equal(it_parse_bytes(NULL), -1);
}

static void test_env_defaults(void **state)
{
    (void)state;
    it_options o;
    it_errbuf err;
    char *argv1[] = {"it", "--ruleFile=r", NULL};
    setenv("DEFAULT_REGISTRY", "env.example.com", 1);
    setenv("DEFAULT_NAMESPACE", "envns", 1);
    assert_int_equal(it_options_parse(&o, 2, argv1, &err), 0);
    assert_string_equal(o.registry, "env.example.com");
    assert_string_equal(o.ns, "envns");
    it_options_free(&o);

    /* flags beat the environment */
    char *argv2[] = {"it",          "--ruleFile=r",
                     "--registry",  "flag.example.com",
                     "--ns=flagns", NULL};
    assert_int_equal(it_options_parse(&o, 5, argv2, &err), 0);
    assert_string_equal(o.registry, "flag.example.com");
    assert_string_equal(o.ns, "flagns");
    it_options_free(&o);
    unsetenv("DEFAULT_REGISTRY");
    unsetenv("DEFAULT_NAMESPACE");

    /* state dir: $XDG_STATE_HOME, else ~/.local/state */
    setenv("XDG_STATE_HOME", "/x/state", 1);
    assert_int_equal(it_options_parse(&o, 2, argv1, &err), 0);
    assert_string_equal(o.state_dir, "/x/state/image-transfer");
    it_options_free(&o);
    unsetenv("XDG_STATE_HOME");
    setenv("HOME", "/home/u", 1);
    assert_int_equal(it_options_parse(&o, 2, argv1, &err), 0);
    assert_string_equal(o.state_dir, "/home/u/.local/state/image-transfer");
    it_options_free(&o);

    /* after a failed parse the struct can still be freed */
    char *argv3[] = {"it", "--ruleFile=r", "--routines=0", NULL};
    assert_int_equal(it_options_parse(&o, 3, argv3, &err), -1);
    it_options_free(&o);
    it_options_free(&o);
}

/* --shard: every spelling of the flag, the default (not sharded), and bad
 * values refused with a message that names the flag and what it expects
 * (the value checks themselves are in test_shard.c). */
static void test_shard_flag(void **state)
{
    (void)state;
    static const struct {
        const char *args[3];
        unsigned index, count;
    } ok[] = {
        {{"--shard=1/3"}, 1, 3},
        {{"--shard", "1/3"}, 1, 3},
        {{"-shard=2/3"}, 2, 3},
        {{"-shard", "0/1"}, 0, 1},
        {{"--shard=0/2", "--shard=1/2"}, 1, 2}, /* the last one wins */
        {{NULL}, 0, 0},                         /* default: not sharded */
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char *argv[6] = {"it", "--ruleFile=r"};
        int argc = 2;
        for (int k = 0; k < 3 && ok[i].args[k]; k++)
            argv[argc++] = (char *)ok[i].args[k];
        argv[argc] = NULL;
        it_options o;
        it_errbuf err = {{0}};
        if (it_options_parse(&o, argc, argv, &err) != 0)
            fail_msg("case %zu: %s", i, err.msg);
        assert_int_equal(o.shard.index, ok[i].index);
        assert_int_equal(o.shard.count, ok[i].count);
        it_options_free(&o);
    }

    static const struct {
        const char *args[2];
        const char *want;
    } bad[] = {
        {{"--shard=3/3"}, "--shard: the shard index I must be less than N"},
        {{"--shard=0/0"}, "--shard: the shard count N must be from 1 to"},
        {{"--shard=1"}, "--shard: expected I/N such as 0/3"},
        {{"--shard=-1/3"}, "--shard: expected I/N"},
        {{"--shard", "-1/3"}, "--shard: expected I/N"}, /* not "missing" */
        {{"-shard=a/b"}, "--shard: expected I/N"},
        {{"--shard=1/3junk"}, "got '1/3junk'"},
        {{"--shard=0/65537"}, "N must be from 1 to 65536"},
        {{"--shard="}, "--shard: expected I/N"},
        {{"--shard"}, "--shard: missing value"},
        {{"--shard", "--routines=3"}, "--shard: missing value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *argv[5] = {"it", "--ruleFile=r"};
        int argc = 2;
        for (int k = 0; k < 2 && bad[i].args[k]; k++)
            argv[argc++] = (char *)bad[i].args[k];
        argv[argc] = NULL;
        it_options o;
        it_errbuf err = {{0}};
        if (it_options_parse(&o, argc, argv, &err) != -1)
            fail_msg("'%s %s' was accepted", bad[i].args[0],
                     bad[i].args[1] ? bad[i].args[1] : "");
        if (strstr(err.msg, bad[i].want) == NULL)
            fail_msg("'%s': message '%s' lacks '%s'", bad[i].args[0], err.msg,
                     bad[i].want);
        it_options_free(&o);
    }
}

static void test_usage(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    it_options_usage(f);
    fclose(f);
    static const char *const must[] = {"--securityFile",
                                       "--security-file",
                                       "--ruleFile",
                                       "--rule-file",
                                       "--registry",
                                       "--ns",
                                       "--routines",
                                       "--retry",
                                       "--qps",
                                       "--retry-window",
                                       "--tag-exist-overridden",
                                       "--ccrToTcr",
                                       "--ccr-to-tcr",
                                       "--secretFile",
                                       "--secret-file",
                                       "--tcrName",
                                       "--tcr-name",
                                       "--tcrRegion",
                                       "--tcr-region",
                                       "--ccrRegion",
                                       "--ccr-region",
                                       "--ccrTagNums",
                                       "--ccr-tag-nums",
                                       "--state-dir",
                                       "--report",
                                       "--dry-run",
                                       "--bandwidth",
                                       "--log-level",
                                       "--log-file",
                                       "--tui",
                                       "--no-tui",
                                       "--exit-on-done",
                                       "--progress-interval",
                                       "--ca-file",
                                       "--tcr-namespace-public",
                                       "--tc-endpoint",
                                       "--ccr-registry",
                                       "--tcr-registry",
                                       "--metrics-file",
                                       "--metrics-interval",
                                       "--events",
                                       "--output",
                                       "--platforms", /* issue 14 */
                                       "--verify[=deep]",
                                       "--help",
                                       "--version",
                                       "--shard I/N",
                                       "JOB_COMPLETION_INDEX",
                                       "FNV-1a",
                                       "registry-secret.yaml",
                                       "transfer-rule.yaml",
                                       "tencentcloud-secret.yaml",
                                       "secretId:",
                                       "username:",
                                       "insecure: true",
                                       "Exit codes",
                                       "130",
                                       "DEFAULT_REGISTRY",
                                       "TENCENTCLOUD_SECRET_ID",
                                       "Generic mode",
                                       "CCR -> TCR mode",
                                       "Output and state",
                                       "Limits"};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++) {
        if (strstr(buf, must[i]) == NULL)
            fail_msg("--help lacks '%s'", must[i]);
    }
    /* every documented exit code */
    assert_non_null(strstr(buf, "  0 "));
    assert_non_null(strstr(buf, "  1 "));
    assert_non_null(strstr(buf, "  2 "));
    assert_non_null(strstr(buf, "  3 "));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_parse_bytes_table),
        cmocka_unit_test(test_env_defaults),
        cmocka_unit_test(test_shard_flag),
        cmocka_unit_test(test_usage),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
