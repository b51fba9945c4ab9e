/*
 * test_preflight.c - the --preflight checklist model (preflight.c): lines,
 * failures and the exit code, the rendering (ASCII and UTF-8 glyphs,
 * hostile text escaped), the plan's time estimate, the TCR namespace-name
 * rule, the edition quotas, and the flag (it implies --dry-run; --output=json
 * is refused).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "options.h"
#include "preflight.h"

static char *render(const it_pf_list *l, bool utf8)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    it_pf_render(f, l, utf8);
    fclose(f);
    return buf;
}

static void test_namespace_names(void **state)
{
    (void)state;
    char why[120];
    const char *good[] = {"ab",      "team-a",
                          "a.b_c-d", "0x",
                          "v1.2",    "abcdefghijklmnopqrstuvwxyz0123"}; /* 30 */
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_true(it_pf_tcr_namespace_valid(good[i], why, sizeof(why)));
    struct {
        const char *name, *why;
    } bad[] = {
        {"a", "2 to 30"},
        {"abcdefghijklmnopqrstuvwxyz01234", "2 to 30"}, /* 31 */
        {"", "2 to 30"},
        {NULL, "2 to 30"},
        {"Team", "lowercase"},
        {"team/a", "lowercase"},
        {"t\xc3\xa4m", "lowercase"},
        {"-ab", "start or end"},
        {"ab.", "start or end"},
        {"a--b", "two separators"},
        {"a._b", "two separators"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        assert_false(it_pf_tcr_namespace_valid(bad[i].name, why, sizeof(why)));
        assert_non_null(strstr(why, bad[i].why));
    }
}

static void test_quotas(void **state)
{
    (void)state;
    long ns = 0, repos = 0;
    assert_true(it_pf_tcr_quota("basic", &ns, &repos));
    assert_int_equal(ns, 50);
    assert_int_equal(repos, 1000);
    assert_true(it_pf_tcr_quota("Premium", &ns, &repos));
    assert_int_equal(ns, 500);
    assert_false(it_pf_tcr_quota("enterprise-xl", &ns, &repos));
    assert_false(it_pf_tcr_quota(NULL, &ns, &repos));
}

static void test_exit_codes(void **state)
{
    (void)state;
    it_pf_list l = {0};
    assert_int_equal(it_pf_exit_code(&l), 0);
    it_pf_add(&l, IT_PF_OK, "a", "ignored for ok lines", "fine");
    it_pf_add(&l, IT_PF_INFO, "plan", NULL, "%d images", 3);
    assert_int_equal(it_pf_failures(&l), 0);
    assert_int_equal(it_pf_exit_code(&l), 0);
    assert_null(l.v[0].fix); /* a fix only on failures */
    it_pf_add(&l, IT_PF_FAIL, "b", "do this", "broken");
    assert_int_equal(it_pf_failures(&l), 1);
    assert_int_equal(it_pf_exit_code(&l), 1);
    l.cloud_auth_failed = true;
    assert_int_equal(it_pf_exit_code(&l), 3);
    it_pf_free(&l);
    assert_int_equal(l.n, 0);
}

static void test_render_ascii(void **state)
{
    (void)state;
    it_pf_list l = {0};
    it_pf_add(&l, IT_PF_OK, "registry r:5000 (source)", NULL, "reachable");
    it_pf_add(&l, IT_PF_FAIL, "push to r:5001/ns/app", "fix the login",
              "HTTP %d", 401);
    it_pf_add(&l, IT_PF_INFO, "plan", NULL, "3 image(s)");
    char *out = render(&l, false);
    assert_string_equal(out, "[ok]   registry r:5000 (source): reachable\n"
                             "[FAIL] push to r:5001/ns/app: HTTP 401\n"
                             "       fix: fix the login\n"
                             "[info] plan: 3 image(s)\n"
                             "preflight: 1 problem found: fix it before the "
                             "run; nothing was created or deleted\n");
    free(out);
    it_pf_free(&l);
    out = render(&l, false);
    assert_string_equal(out, "preflight: every check passed; nothing was "
                             "created or deleted\n");
    free(out);
}

/* The plan's estimate: "under 1s" for a tiny plan (not "about under
 * 1s"), "about" a rounded time otherwise. */
static void test_estimate_text(void **state)
{
    (void)state;
    static const struct {
        double secs;
        const char *want;
    } cases[] = {
        {0, "under 1s"},
        {0.004, "under 1s"},
        {0.999, "under 1s"},
        {1, "about 1s"},
        {42.4, "about 42s"},
        {59.4, "about 59s"},
        {59.6, "about 1m"},
        {90, "about 2m"},
        {180, "about 3m"},
        {3569, "about 59m"},
        {3570, "about 1h00m"},
        {3900, "about 1h05m"},
        {2 * 86400 + 3 * 3600, "about 2d03h"},
        {-1, "--"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[48];
        it_pf_estimate_text(out, sizeof(out), cases[i].secs);
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("%g s: \"%s\", want \"%s\"", cases[i].secs, out,
                     cases[i].want);
    }
    /* a short buffer is cut and terminated */
    char small[6];
    it_pf_estimate_text(small, sizeof(small), 180);
    assert_string_equal(small, "about");
}

static void test_render_utf8(void **state)
{
    (void)state;
    it_pf_list l = {0};
    it_pf_add(&l, IT_PF_OK, "a", NULL, "good");
    it_pf_add(&l, IT_PF_FAIL, "b", "do it", "bad");
    it_pf_add(&l, IT_PF_FAIL, "c", NULL, "worse");
    it_pf_add(&l, IT_PF_INFO, "d", NULL, "note");
    char *out = render(&l, true);
    assert_string_equal(out, "\u2713 a: good\n"
                             "\u2717 b: bad\n"
                             "    fix: do it\n"
                             "\u2717 c: worse\n"
                             "\u2022 d: note\n"
                             "preflight: 2 problems found: fix them before "
                             "the run; nothing was created or deleted\n");
    free(out);
    it_pf_free(&l);
}

/* A registry's or the API's text cannot move the cursor, clear the screen
 * or add a line of its own. */
static void test_render_hostile_text(void **state)
{
    (void)state;
    it_pf_list l = {0};
    it_pf_add(&l, IT_PF_FAIL, "pull from h/\x1b[2Jrepo", "x\ny",
              "DENIED: \x1b]0;title\x07 fake\n[ok]   forged line");
    char *out = render(&l, false);
    assert_null(strchr(out, '\x1b'));
    assert_null(strchr(out, '\x07'));
    assert_null(strstr(out, "\n[ok]"));
    /* three lines: the item, its fix, the summary */
    int lines = 0;
    for (const char *p = out; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 3);
    free(out);
    it_pf_free(&l);
}

static void test_not_a_terminal(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_false(it_pf_utf8_terminal(fds[1]));
    close(fds[0]);
    close(fds[1]);
}

static void test_flag(void **state)
{
    (void)state;
    it_options o;
    it_errbuf err = {{0}};
    char *ok[] = {"image-transfer", "--preflight", "--ruleFile=r.yaml"};
    assert_int_equal(it_options_parse(&o, 3, ok, &err), 0);
    assert_true(o.preflight);
    assert_true(o.dry_run); /* copies nothing */
    it_options_free(&o);
    char *json[] = {"image-transfer", "--preflight", "--ruleFile=r.yaml",
                    "--output=json"};
    assert_int_equal(it_options_parse(&o, 4, json, &err), -1);
    assert_non_null(strstr(err.msg, "--preflight"));
    it_options_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_namespace_names),
        cmocka_unit_test(test_quotas),
        cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_render_ascii),
        cmocka_unit_test(test_render_utf8),
        cmocka_unit_test(test_estimate_text),
        cmocka_unit_test(test_render_hostile_text),
        cmocka_unit_test(test_not_a_terminal),
        cmocka_unit_test(test_flag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
