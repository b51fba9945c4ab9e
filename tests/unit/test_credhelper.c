/* test_credhelper.c - Docker credential helpers: the answer parser, the
 * runner (scripted helpers on a temporary PATH: missing, failing, hanging,
 * flooding, hostile answers), and the Docker config lookup (credHelpers,
 * auths, credsStore; once per host; registry-secret.yaml entries that set
 * TLS only). */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "credhelper.h"
#include "log.h"
#include "test_util.h"

static char *orig_path;

/* Writes an executable script dir/docker-credential-<name>. */
static void write_helper(const char *dir, const char *name, const char *body)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/docker-credential-%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    assert_int_equal(chmod(path, 0700), 0);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[1200];
    tu_path_in(path, sizeof path, dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The whole of dir/name, malloc'd ("" when absent). */
static char *read_file(const char *dir, const char *name)
{
    char path[1200];
    tu_path_in(path, sizeof path, dir, name);
    char *buf = calloc(1, 65536);
    assert_non_null(buf);
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        size_t n = fread(buf, 1, 65535, f);
        buf[n] = '\0';
        fclose(f);
    }
    return buf;
}

static int count_lines(const char *dir, const char *name)
{
    char *t = read_file(dir, name);
    int n = 0;
    for (const char *p = t; *p; p++)
        n += *p == '\n';
    free(t);
    return n;
}

/* A fresh temporary directory, first on PATH. */
static int setup(void **state)
{
    if (tu_tmpdir_new(state, "credhelper") != 0)
        return -1;
    char path[8192];
    snprintf(path, sizeof path, "%s:%s", (char *)*state, orig_path);
    setenv("PATH", path, 1);
    return 0;
}

static int teardown(void **state)
{
    setenv("PATH", orig_path, 1);
    return tu_tmpdir_drop(state);
}

/* ---------------------------------------------------------- the parser */

static int parse(const char *text, it_helper_creds *c, it_errbuf *err)
{
    memset(err, 0, sizeof *err);
    return it_credhelper_parse(text, strlen(text), "docker-credential-x", c,
                               err);
}

static void test_parse(void **state)
{
    (void)state;
    it_helper_creds c;
    it_errbuf err;

    assert_int_equal(parse("{\"ServerURL\":\"r.example.com\",\"Username\":"
                           "\"alice\",\"Secret\":\"pa ss\\u00e9\"}",
                           &c, &err),
                     0);
    assert_string_equal(c.username, "alice");
    assert_string_equal(c.secret, "pa ss\xc3\xa9");
    assert_false(c.identity_token);
    it_helper_creds_clear(&c);
    assert_null(c.username);

    /* nothing stored: docker-credential-pass answers empty strings */
    assert_int_equal(
        parse("{\"ServerURL\":\"x\",\"Username\":\"\",\"Secret\":\"\"}", &c,
              &err),
        0);
    assert_null(c.username);
    assert_null(c.secret);
    assert_int_equal(parse("{}", &c, &err), 0);
    assert_null(c.username);

    /* an identity token */
    assert_int_equal(
        parse("{\"Username\":\"<token>\",\"Secret\":\"refresh-tok\"}", &c,
              &err),
        0);
    assert_true(c.identity_token);
    assert_null(c.username);
    assert_string_equal(c.secret, "refresh-tok");
    it_helper_creds_clear(&c);

    /* refused, and no message shows a byte of the answer */
    static const struct {
        const char *text, *want, *hidden;
    } bad[] = {
        {"{\"Username\":\"u\",\"Secret\":\"line1\\nX-Evil: 1\"}",
         "control character", "X-Evil"},
        {"{\"Username\":\"u\",\"Secret\":\"a\\u0001b\"}", "control character",
         "a\x01"},
        {"{\"Username\":\"u\\r\\nHost: evil\",\"Secret\":\"s\"}",
         "control character", "evil"},
        {"{\"Username\":\"u\",\"Secret\":\"a\\u007fb\"}", "control character",
         "a\x7f"},
        {"{\"Username\":\"a:b\",\"Secret\":\"sekrit\"}", "holds ':'", "sekrit"},
        {"not json sekrit", "not a JSON object", "sekrit"},
        {"{\"Username\":\"u\",\"Secret\":\"sekrit\"", "not a JSON object",
         "sekrit"},
        {"[\"sekrit\"]", "not a JSON object", "sekrit"},
        {"{\"Username\":\"u\",\"Secret\":42}", "must be strings", "42"},
        {"{\"Username\":[\"sekrit\"],\"Secret\":\"s\"}", "must be strings",
         "sekrit"},
        {"{\"Username\":\"u\",\"Secret\":\"a\\u0000b\"}", "not a JSON object",
         "a"},
        {"", "not a JSON object", "sekrit"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse(bad[i].text, &c, &err) != -1)
            fail_msg("case %zu: accepted", i);
        assert_null(c.username);
        assert_null(c.secret);
        if (strstr(err.msg, bad[i].want) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, bad[i].want);
        if (strstr(err.msg, "docker-credential-x get") != err.msg)
            fail_msg("case %zu: '%s' does not name the helper", i, err.msg);
        if (strcmp(bad[i].hidden, "a") != 0 &&
            strstr(err.msg, bad[i].hidden) != NULL)
            fail_msg("case %zu: '%s' shows '%s'", i, err.msg, bad[i].hidden);
    }
}

/* ---------------------------------------------------------- the runner */

static int get(const char *name, const char *server, int timeout_ms,
               it_helper_creds *c, it_errbuf *err)
{
    memset(err, 0, sizeof *err);
    return it_credhelper_get(name, server, timeout_ms, c, err);
}

static void test_get_answer(void **state)
{
    const char *dir = *state;
    char body[2400];
    /* records its arguments and stdin; the environment is the user's */
    snprintf(body, sizeof body,
             "echo \"$@\" > '%s/args'\ncat > '%s/stdin'\n"
             "echo \"$IT_TEST_MARK\" > '%s/env'\n"
             "printf '{\"ServerURL\":\"ignored\",\"Username\":\"bob\","
             "\"Secret\":\"b0b-pass\"}\\n'",
             dir, dir, dir);
    write_helper(dir, "good", body);
    setenv("IT_TEST_MARK", "from-the-user", 1);
    it_helper_creds c;
    it_errbuf err;
    if (get("good", "127.0.0.1:5000", 5000, &c, &err) != 0)
        fail_msg("%s", err.msg);
    assert_string_equal(c.username, "bob");
    assert_string_equal(c.secret, "b0b-pass");
    it_helper_creds_clear(&c);
    char *t = read_file(dir, "args");
    assert_string_equal(t, "get\n");
    free(t);
    t = read_file(dir, "stdin"); /* the server alone, as docker sends it */
    assert_string_equal(t, "127.0.0.1:5000");
    free(t);
    t = read_file(dir, "env");
    assert_string_equal(t, "from-the-user\n");
    free(t);
    unsetenv("IT_TEST_MARK");
}

static void test_get_errors(void **state)
{
    const char *dir = *state;
    it_helper_creds c;
    it_errbuf err;

    /* not on PATH */
    assert_int_equal(get("nope", "h", 5000, &c, &err), -1);
    assert_string_equal(err.msg, "docker-credential-nope not found on PATH");

    /* a name that would be a path, or empty */
    assert_int_equal(get("../../bin/sh", "h", 5000, &c, &err), -1);
    assert_non_null(strstr(err.msg, "invalid credential helper name"));
    assert_int_equal(get("", "h", 5000, &c, &err), -1);
    assert_non_null(strstr(err.msg, "invalid credential helper name"));

    /* "not found" as docker's helpers say it: nothing, no error */
    write_helper(dir, "nf",
                 "echo 'credentials not found in native keychain'\nexit 1");
    assert_int_equal(get("nf", "h", 5000, &c, &err), 0);
    assert_null(c.username);

    /* a failure: exit status and stderr's first line, sanitized; never
     * stdout */
    write_helper(dir, "fail",
                 "echo 'stdout-sekrit'\nprintf 'bad \\033[31mthing\\n"
                 "second line\\n' >&2\nexit 3");
    assert_int_equal(get("fail", "h", 5000, &c, &err), -1);
    assert_string_equal(
        err.msg, "docker-credential-fail get failed (exit status 3): bad "
                 "?[31mthing");
    write_helper(dir, "quiet", "echo 'stdout-sekrit'\nexit 1");
    assert_int_equal(get("quiet", "h", 5000, &c, &err), -1);
    assert_null(strstr(err.msg, "sekrit"));
    assert_non_null(strstr(err.msg, "exit status 1; nothing on stderr"));

    /* garbage on stdout with exit 0 */
    write_helper(dir, "garbage", "echo 'Username=u Secret=sekrit'");
    assert_int_equal(get("garbage", "h", 5000, &c, &err), -1);
    assert_non_null(strstr(err.msg, "not a JSON object"));
    assert_null(strstr(err.msg, "sekrit"));

    /* a Secret with a newline would become a header */
    write_helper(dir, "nl",
                 "printf '{\"Username\":\"u\",\"Secret\":\"a\\\\nb\"}'");
    assert_int_equal(get("nl", "h", 5000, &c, &err), -1);
    assert_non_null(strstr(err.msg, "control character"));

    /* killed by a signal */
    write_helper(dir, "sig", "kill -9 $$");
    assert_int_equal(get("sig", "h", 5000, &c, &err), -1);
    assert_non_null(strstr(err.msg, "killed by signal 9"));
}

static void test_get_hang(void **state)
{
    const char *dir = *state;
    char body[1200];
    /* the helper becomes sleep: its pid is the one to be killed */
    snprintf(body, sizeof body, "echo $$ > '%s/pid'\nexec sleep 60", dir);
    write_helper(dir, "hang", body);
    it_helper_creds c;
    it_errbuf err;
    assert_int_equal(get("hang", "h", 300, &c, &err), -1);
    assert_string_equal(err.msg,
                        "docker-credential-hang get did not answer within 1 "
                        "s; killed");
    char *t = read_file(dir, "pid");
    pid_t pid = (pid_t)atoi(t);
    free(t);
    assert_true(pid > 0);
    /* killed and reaped: no such process */
    assert_int_equal(kill(pid, 0), -1);
    assert_int_equal(errno, ESRCH);
}

static void test_get_flood(void **state)
{
    const char *dir = *state;
    char body[1200];
    snprintf(body, sizeof body,
             "echo $$ > '%s/pid'\nexec yes "
             "'{\"Username\":\"u\",\"Secret\":\"sekrit\"}'",
             dir);
    write_helper(dir, "flood", body);
    it_helper_creds c;
    it_errbuf err;
    assert_int_equal(get("flood", "h", 5000, &c, &err), -1);
    assert_string_equal(err.msg, "docker-credential-flood get printed more "
                                 "than 64 KiB; killed (its output is not "
                                 "shown)");
    char *t = read_file(dir, "pid");
    pid_t pid = (pid_t)atoi(t);
    free(t);
    assert_true(pid > 0);
    assert_int_equal(kill(pid, 0), -1);
    assert_int_equal(errno, ESRCH);

    /* exactly the limit is an answer: spaces, then the JSON */
    snprintf(body, sizeof body,
             "head -c %d /dev/zero | tr '\\0' ' '\n"
             "printf '{\"Username\":\"u\",\"Secret\":\"s\"}'",
             IT_CREDHELPER_MAX_OUTPUT - 29);
    write_helper(dir, "big", body);
    if (get("big", "h", 5000, &c, &err) != 0)
        fail_msg("%s", err.msg);
    assert_string_equal(c.username, "u");
    it_helper_creds_clear(&c);
}

/* ------------------------------------------------- the config lookup */

/* A helper that counts its runs in dir/<name>.runs and answers a login
 * "<name>-user" / "<name>-pass@<server>". */
static void counting_helper(const char *dir, const char *name)
{
    char body[2400];
    snprintf(body, sizeof body,
             "s=$(cat)\necho run >> '%s/%s.runs'\n"
             "case \"$s\" in none.example.com) echo '{}'; exit 0;; esac\n"
             "printf '{\"Username\":\"%s-user\",\"Secret\":\"%s-pass@%%s\"}' "
             "\"$s\"",
             dir, name, name, name);
    write_helper(dir, name, body);
}

static it_secrets *load(const char *dir, const char *yaml, const char *json)
{
    char yp[1200], jp[1200];
    it_errbuf err;
    it_secrets *s = NULL;
    write_file(dir, "registry-secret.yaml", yaml);
    write_file(dir, "config.json", json);
    tu_path_in(yp, sizeof yp, dir, "registry-secret.yaml");
    tu_path_in(jp, sizeof jp, dir, "config.json");
    if (it_secrets_load(&s, yp, &err) != 0)
        fail_msg("%s", err.msg);
    if (it_secrets_add_docker_config(s, jp, &err) != 0)
        fail_msg("%s", err.msg);
    return s;
}

/* The login the engine would use: registry-secret.yaml / auths first,
 * then the helper. */
static int login(const it_secrets *s, const char *host, const char *repo,
                 char **user, char **pass, it_errbuf *err)
{
    const it_cred *c = it_secrets_find(s, host, repo);
    if (c != NULL) {
        *user = strdup(c->username);
        *pass = strdup(c->password ? c->password : "");
        return 1;
    }
    return it_secrets_helper_login(s, host, user, pass, err);
}

static void expect_login(const it_secrets *s, const char *host,
                         const char *user, const char *pass)
{
    char *u = NULL, *p = NULL;
    it_errbuf err = {{0}};
    int rc = login(s, host, "ns/app", &u, &p, &err);
    if (rc != 1)
        fail_msg("%s: rc %d (%s)", host, rc, err.msg);
    assert_string_equal(u, user);
    assert_string_equal(p, pass);
    free(u);
    free(p);
}

/* credHelpers beats auths and credsStore; an auths login beats
 * credsStore; credsStore covers every other host. Docker's precedence,
 * but for an auths login next to credsStore (docker never writes one). */
static void test_lookup_precedence(void **state)
{
    const char *dir = *state;
    counting_helper(dir, "per");
    counting_helper(dir, "store");
    it_secrets *s = load(
        dir, "",
        "{\"auths\":{"
        "\"a.example.com\":{\"auth\":\"YXV0aHM6YXV0aHMtcGFzcw==\"},"
        "\"b.example.com\":{\"username\":\"b-inline\",\"password\":\"b-p\"},"
        "\"c.example.com\":{}},"
        "\"credHelpers\":{\"a.example.com\":\"per\","
        "\"https://index.docker.io/v1/\":\"per\"},"
        "\"credsStore\":\"store\"}");
    expect_login(s, "a.example.com", "per-user", "per-pass@a.example.com");
    expect_login(s, "A.EXAMPLE.COM", "per-user", "per-pass@a.example.com");
    expect_login(s, "b.example.com", "b-inline", "b-p");
    expect_login(s, "c.example.com", "store-user", "store-pass@c.example.com");
    /* Docker Hub: the helper is asked for docker's historical URL */
    expect_login(s, "registry-1.docker.io", "per-user",
                 "per-pass@https://index.docker.io/v1/");

    /* nothing stored: no login, no error */
    char *u = NULL, *p = NULL;
    it_errbuf err = {{0}};
    assert_int_equal(
        it_secrets_helper_login(s, "none.example.com", &u, &p, &err), 0);
    assert_null(u);
    assert_null(p);

    /* once per host: a second and third ask reuse the answer */
    expect_login(s, "c.example.com", "store-user", "store-pass@c.example.com");
    expect_login(s, "a.example.com", "per-user", "per-pass@a.example.com");
    assert_int_equal(
        it_secrets_helper_login(s, "none.example.com", &u, &p, &err), 0);
    assert_int_equal(count_lines(dir, "per.runs"), 2);   /* a, hub */
    assert_int_equal(count_lines(dir, "store.runs"), 2); /* c, none */
    it_secrets_free(s);

    /* no helpers named: nothing to run */
    s = load(dir, "", "{\"auths\":{}}");
    assert_null(s->docker);
    assert_int_equal(it_secrets_helper_login(s, "c.example.com", &u, &p, &err),
                     0);
    assert_int_equal(
        it_secrets_helper_login(NULL, "c.example.com", &u, &p, &err), 0);
    it_secrets_free(s);
}

/* A missing or failing helper: an error naming it and where it was
 * configured, kept for the host (asked once). */
static void test_lookup_errors(void **state)
{
    const char *dir = *state;
    char body[1200];
    snprintf(body, sizeof body,
             "echo run >> '%s/broken.runs'\necho 'leaked-stdout'\n"
             "echo 'store locked' >&2\nexit 2",
             dir);
    write_helper(dir, "broken", body);
    write_helper(dir, "tok",
                 "printf '{\"Username\":\"<token>\",\"Secret\":\"idtok\"}'");
    it_secrets *s =
        load(dir, "",
             "{\"credHelpers\":{\"b.example.com\":\"broken\","
             "\"t.example.com\":\"tok\"},\"credsStore\":\"missing\"}");
    char jp[1200];
    tu_path_in(jp, sizeof jp, dir, "config.json");
    char want[2000];
    char *u = NULL, *p = NULL;
    it_errbuf err = {{0}};

    assert_int_equal(it_secrets_helper_login(s, "x.example.com", &u, &p, &err),
                     -1);
    snprintf(want, sizeof want,
             "registry x.example.com: docker-credential-missing not found on "
             "PATH (credsStore in %s)",
             jp);
    assert_string_equal(err.msg, want);

    for (int i = 0; i < 2; i++) {
        memset(&err, 0, sizeof err);
        assert_int_equal(
            it_secrets_helper_login(s, "b.example.com", &u, &p, &err), -1);
        snprintf(want, sizeof want,
                 "registry b.example.com: docker-credential-broken get failed "
                 "(exit status 2): store locked (credHelpers in %s)",
                 jp);
        assert_string_equal(err.msg, want);
        assert_null(u);
    }
    assert_int_equal(count_lines(dir, "broken.runs"), 1);

    /* an identity token: 2, no user, the token as the secret */
    memset(&err, 0, sizeof err);
    assert_int_equal(it_secrets_helper_login(s, "t.example.com", &u, &p, &err),
                     2);
    assert_null(u);
    assert_string_equal(p, "idtok");
    assert_string_equal(err.msg, "");
    free(p);
    it_secrets_free(s);
}

/* registry-secret.yaml: an entry with `insecure: true` alone (or empty)
 * sets TLS only; the login still comes from the Docker config. An entry
 * with a login wins over it. */
static void test_insecure_only_entry(void **state)
{
    const char *dir = *state;
    counting_helper(dir, "store");
    it_secrets *s =
        load(dir,
             "127.0.0.1:5003:\n  insecure: true\n"
             "empty.example.com:\n"
             "ns.example.com/team:\n  insecure: true\n"
             "yaml.example.com:\n  username: y\n  password: yp\n"
             "helper.example.com:\n  insecure: true\n",
             "{\"auths\":{\"http://127.0.0.1:5003\":{\"username\":\"u3\","
             "\"password\":\"p3\"},"
             "\"empty.example.com\":{\"auth\":\"ZTpw\"},"
             "\"ns.example.com\":{\"username\":\"nsu\",\"password\":\"nsp\"},"
             "\"yaml.example.com\":{\"username\":\"no\",\"password\":\"no\"}"
             "},\"credHelpers\":{\"helper.example.com\":\"store\"}}");
    expect_login(s, "127.0.0.1:5003", "u3", "p3");
    assert_true(it_secrets_insecure(s, "127.0.0.1:5003", "ns/app"));
    expect_login(s, "empty.example.com", "e", "p");
    assert_false(it_secrets_insecure(s, "empty.example.com", "ns/app"));
    /* a namespace entry with TLS only: the host's login applies in it */
    expect_login(s, "ns.example.com", "nsu", "nsp");
    assert_string_equal(it_secrets_find(s, "ns.example.com", "team/app")->key,
                        "ns.example.com");
    assert_true(it_secrets_insecure(s, "ns.example.com", "team/app"));
    assert_false(it_secrets_insecure(s, "ns.example.com", "other/app"));
    expect_login(s, "yaml.example.com", "y", "yp");
    /* TLS only + a credential helper for the host */
    expect_login(s, "helper.example.com", "store-user",
                 "store-pass@helper.example.com");
    assert_true(it_secrets_insecure(s, "helper.example.com", "a/b"));
    it_secrets_free(s);
}

/* Wrong types in credHelpers / credsStore: errors, nothing attached. */
static void test_config_errors(void **state)
{
    const char *dir = *state;
    static const struct {
        const char *json, *want;
    } bad[] = {
        {"{\"credHelpers\":[\"x\"]}", "\"credHelpers\" must be an object"},
        {"{\"credHelpers\":{\"a.example.com\":1}}",
         "credHelpers 'a.example.com' must be a helper name"},
        {"{\"credHelpers\":{\"a.example.com\":\"\"}}",
         "credHelpers 'a.example.com' must be a helper name"},
        {"{\"credHelpers\":{\"https://\":\"x\"}}", "cannot read a registry"},
        {"{\"credsStore\":true}", "\"credsStore\" must be a string"},
    };
    char jp[1200];
    tu_path_in(jp, sizeof jp, dir, "config.json");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(dir, "config.json", bad[i].json);
        it_secrets s = {0};
        it_errbuf err = {{0}};
        assert_int_equal(it_secrets_add_docker_config(&s, jp, &err), -1);
        assert_null(s.docker);
        assert_int_equal(s.n, 0);
        if (strstr(err.msg, bad[i].want) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, bad[i].want);
    }
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as main.c does */
    orig_path = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test_setup_teardown(test_get_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_hang, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_flood, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookup_precedence, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lookup_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insecure_only_entry, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(orig_path);
    return rc;
}
