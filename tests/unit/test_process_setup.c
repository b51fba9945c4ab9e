/*
 * test_process_setup.c - process-wide setup is the program's, not the
 * libraries': creating and freeing registry and Tencent Cloud clients
 * never calls curl_global_init/curl_global_cleanup (the program does,
 * once, in main), and the dashboard library never calls setlocale or
 * dup2 (the program sets the locale and captures stderr, src/console.c).
 *
 * The program's side, src/console.c, is tested on a pseudo-terminal: while
 * captured, stderr lines become notes (errors marked), and they are written
 * back to the real stderr when the capture stops; a stderr that is not a
 * terminal is left alone.
 *
 * The four functions are interposed here: the definitions in this
 * executable take the place of libcurl's and libc's for every caller
 * linked into it, count the calls and forward to the real ones.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <locale.h>
#include <poll.h>
#include <pty.h>
#include <unistd.h>

#include "console.h"
#include "progress.h"
#include "registry.h"
#include "runctl.h"
#include "tencentcloud.h"
#include "tui.h"

static int n_global_init, n_global_cleanup, n_setlocale, n_dup2;

CURLcode curl_global_init(long flags)
{
    n_global_init++;
    CURLcode (*real)(long) =
        (CURLcode(*)(long))dlsym(RTLD_NEXT, "curl_global_init");
    return real ? real(flags) : CURLE_OK;
}

void curl_global_cleanup(void)
{
    n_global_cleanup++;
    void (*real)(void) =
        (void (*)(void))dlsym(RTLD_NEXT, "curl_global_cleanup");
    if (real)
        real();
}

char *setlocale(int category, const char *locale)
{
    n_setlocale++;
    char *(*real)(int, const char *) =
        (char *(*)(int, const char *))dlsym(RTLD_NEXT, "setlocale");
    return real ? real(category, locale) : NULL;
}

int dup2(int oldfd, int newfd)
{
    n_dup2++;
    int (*real)(int, int) = (int (*)(int, int))dlsym(RTLD_NEXT, "dup2");
    return real ? real(oldfd, newfd) : -1;
}

static void reset(void)
{
    n_global_init = n_global_cleanup = n_setlocale = n_dup2 = 0;
}

static void test_registry_global_leaves_curl_alone(void **state)
{
    (void)state;
    reset();
    reg_global *g = NULL;
    reg_error err = {0};
    assert_int_equal(reg_global_new(&g, &err), REG_OK);
    reg_client *c = NULL;
    reg_client_opts o = {.host = "127.0.0.1:9", .insecure = true};
    assert_int_equal(reg_client_new(&c, g, &o, &err), REG_OK);
    reg_client_free(c);
    reg_global_free(g);
    assert_int_equal(n_global_init, 0);
    assert_int_equal(n_global_cleanup, 0);
}

static void test_tc_client_leaves_curl_alone(void **state)
{
    (void)state;
    reset();
    tc_client *c = NULL;
    tc_error err = {0};
    tc_client_opts o = {.region = "ap-guangzhou",
                        .secret_id = "id",
                        .secret_key = "key",
                        .endpoint = "http://127.0.0.1:9/"};
    assert_int_equal(tc_client_new(&c, &o, &err), TC_OK);
    tc_client_free(c);
    assert_int_equal(n_global_init, 0);
    assert_int_equal(n_global_cleanup, 0);
}

static void test_tui_leaves_locale_and_stderr_alone(void **state)
{
    (void)state;
    it_progress *p = it_progress_new("generic", "src", "dst", NULL);
    assert_non_null(p);
    /* stdin from /dev/null: no terminal, so tui_run gives up at once
     * (whether or not the test itself runs in one) */
    int saved = dup(STDIN_FILENO);
    int null = open("/dev/null", O_RDONLY);
    assert_true(saved >= 0 && null >= 0);
    assert_int_equal(dup2(null, STDIN_FILENO), STDIN_FILENO);
    reset();
    it_runctl ctl;
    it_runctl_init(&ctl);
    tui_opts o = {.exit_on_done = true, .ctl = &ctl};
    it_progress_reader model = it_progress_reader_of(p);
    int rc = tui_run(&model, &o);
    int locale_calls = n_setlocale, dup2_calls = n_dup2;
    dup2(saved, STDIN_FILENO);
    close(saved);
    close(null);
    assert_int_equal(rc, -1);
    assert_int_equal(locale_calls, 0);
    assert_int_equal(dup2_calls, 0);
    it_progress_free(p);
}

/* Reads what the pty master has (waits up to 2 s for the first bytes,
 * then takes what follows without waiting). */
static size_t read_master(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    int wait_ms = 2000;
    for (int i = 0; i < 100 && len + 1 < cap; i++) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, wait_ms) <= 0)
            break;
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        wait_ms = 100;
    }
    buf[len] = '\0';
    return len;
}

static void test_errcap_on_a_terminal(void **state)
{
    (void)state;
    it_progress *p = it_progress_new("generic", "src", "dst", NULL);
    assert_non_null(p);
    int master = -1, slave = -1;
    assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_int_equal(dup2(slave, STDERR_FILENO), STDERR_FILENO);

    it_errcap *cap = it_errcap_start(p);
    fprintf(stderr, "lib: first warning\nlib: an ERROR here\npartial");
    fflush(stderr);
    it_errcap_tick(cap);
    it_snapshot_filter none = {.no_rows = true};
    it_snapshot *s = it_progress_snapshot(p, &none);
    size_t n_notes = s ? s->n_notes : 0;
    bool first = n_notes >= 2 && strstr(s->notes[0], "lib: first warning") &&
                 !s->note_is_error[0];
    bool second = n_notes >= 2 && strstr(s->notes[1], "an ERROR here") &&
                  s->note_is_error[1];
    it_snapshot_free(s);
    it_errcap_stop(cap); /* the partial line too, then fd 2 back */
    fprintf(stderr, "after\n");
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(slave);
    char out[4096];
    read_master(master, out, sizeof out);
    close(master);

    assert_non_null(cap);
    assert_int_equal(n_notes, 2); /* "partial" waits for its newline */
    assert_true(first);
    assert_true(second);
    /* nothing reached the terminal while captured; all of it, in order,
     * once the capture stopped, then stderr is the terminal again */
    const char *a = strstr(out, "lib: first warning");
    const char *b = strstr(out, "lib: an ERROR here");
    const char *c = strstr(out, "partial");
    const char *d = strstr(out, "after");
    assert_true(a && b && c && d && a < b && b < c && c < d);
    it_progress_free(p);
}

static void test_errcap_not_a_terminal(void **state)
{
    (void)state;
    it_progress *p = it_progress_new("generic", "src", "dst", NULL);
    assert_non_null(p);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_int_equal(dup2(fds[1], STDERR_FILENO), STDERR_FILENO);
    reset();
    it_errcap *cap = it_errcap_start(p);
    int dup2_calls = n_dup2;
    it_errcap_tick(cap);
    it_errcap_stop(cap);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[0]);
    close(fds[1]);
    assert_null(cap);
    assert_int_equal(dup2_calls, 0);
    it_progress_free(p);
}

int main(void)
{
    /* what the program does once, in main */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_global_leaves_curl_alone),
        cmocka_unit_test(test_tc_client_leaves_curl_alone),
        cmocka_unit_test(test_tui_leaves_locale_and_stderr_alone),
        cmocka_unit_test(test_errcap_on_a_terminal),
        cmocka_unit_test(test_errcap_not_a_terminal),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
