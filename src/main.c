/*
 * main.c - image-transfer: wires options, config files, the journal, the
 * engine, the dashboard (or headless progress lines) and the report.
 *
 * Exit codes: 0 all done, 1 some images failed, 2 usage or configuration
 * error, 3 cloud API authentication failure, 130 interrupted.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <curses.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <yaml.h>

#include "app.h"
#include "config.h"
#include "engine.h"
#include "headless.h"
#include "journal.h"
#include "log.h"
#include "options.h"
#include "progress.h"
#include "report.h"
#include "runctl.h"
#include "tui.h"

/* The run control: lock-free atomics, safe to set in a signal handler
 * (the first signal stops, the second aborts) and to read from the worker
 * threads. */
static it_runctl g_ctl;

/* --version: the program's version on the first line (scripts read it),
 * then the versions of the libraries it runs with, as they report them at
 * run time (not the headers it was built against). */
static void print_version(void)
{
    const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    const char *nc = curses_version();
    const char *nc_prefix = "ncurses ";
    if (strncmp(nc, nc_prefix, strlen(nc_prefix)) == 0)
        nc += strlen(nc_prefix);
    printf("image-transfer %s\n", IT_VERSION);
    printf("libcurl %s\n", cv && cv->version ? cv->version : "unknown");
    printf("OpenSSL %s\n", OpenSSL_version(OPENSSL_VERSION_STRING));
    printf("jansson %s\n", jansson_version_str());
    printf("libyaml %s\n", yaml_get_version_string());
    printf("ncurses %s\n", nc);
}

static void on_signal(int sig)
{
    (void)sig;
    it_runctl_signal(&g_ctl);
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Passwords, tokens and cloud keys live in this process's memory: no
 * core file, and no ptrace or /proc/PID/mem access by other processes of
 * the user. Done first, before anything secret is read. */
static void no_core_dumps(void)
{
    struct rlimit rl = {0, 0};
    if (setrlimit(RLIMIT_CORE, &rl) != 0)
        fprintf(stderr,
                "image-transfer: warning: cannot disable core "
                "dumps: %s\n",
                strerror(errno));
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        fprintf(stderr,
                "image-transfer: warning: cannot mark the process "
                "not dumpable: %s\n",
                strerror(errno));
}

int main(int argc, char **argv)
{
    no_core_dumps();
    it_options opt;
    it_errbuf err = {{0}};
    if (it_options_parse(&opt, argc, argv, &err) != 0) {
        char clean[sizeof err.msg];
        it_sanitize(clean, sizeof clean, err.msg);
        fprintf(stderr, "image-transfer: %s\n", clean);
        it_options_free(&opt);
        return IT_EXIT_USAGE;
    }
    if (opt.help) {
        it_options_usage(stdout);
        it_options_free(&opt);
        return 0;
    }
    if (opt.version) {
        print_version();
        it_options_free(&opt);
        return 0;
    }
    install_signals();
    /* Process-wide setup is the program's, done once here before any
     * thread starts: the libraries (registry/, tencentcloud/) expect it. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "image-transfer: cannot initialise libcurl\n");
        it_options_free(&opt);
        return IT_EXIT_FAILED;
    }
    int rc = it_app_run(&opt, &g_ctl);
    it_options_free(&opt);
    curl_global_cleanup();
    return rc;
}
