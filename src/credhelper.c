/*
 * credhelper.c - docker-credential-NAME get, see credhelper.h.
 *
 * posix_spawnp with three pipes (no shell); the parent polls stdout and
 * stderr until the helper exits or the time limit passes, then kills it
 * with SIGKILL. The stdout buffer held a secret: it is wiped before it is
 * freed.
 */
#define _GNU_SOURCE
#include "credhelper.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "clock.h"
#include "util.h"

extern char **environ;

/* What docker-credential-helpers print (on stdout, exit 1) when the store
 * holds nothing for the server. */
#define NOT_FOUND_MSG "credentials not found in native keychain"
#define STDERR_KEEP   4096

void it_helper_creds_clear(it_helper_creds *c)
{
    if (c == NULL)
        return;
    if (c->username != NULL) {
        explicit_bzero(c->username, strlen(c->username));
        free(c->username);
    }
    if (c->secret != NULL) {
        explicit_bzero(c->secret, strlen(c->secret));
        free(c->secret);
    }
    c->username = c->secret = NULL;
    c->identity_token = false;
}

static bool has_ctl(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        if (*p < 0x20 || *p == 0x7f)
            return true;
    return false;
}

int it_credhelper_parse(const char *buf, size_t len, const char *helper,
                        it_helper_creds *out, it_errbuf *err)
{
    int rc = -1;
    json_error_t jerr;
    memset(out, 0, sizeof *out);
    /* jansson's error text quotes the input near the error: not shown. */
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(root)) {
        it_set_err(err,
                   "%s get: the answer is not a JSON object (not shown: it "
                   "may hold a secret)",
                   helper);
        goto cleanup;
    }
    json_t *ju = json_object_get(root, "Username");
    json_t *js = json_object_get(root, "Secret");
    if ((ju != NULL && !json_is_string(ju)) ||
        (js != NULL && !json_is_string(js))) {
        it_set_err(err, "%s get: Username and Secret must be strings", helper);
        goto cleanup;
    }
    const char *user = ju != NULL ? json_string_value(ju) : "";
    const char *secret = js != NULL ? json_string_value(js) : "";
    if (user[0] == '\0') {
        rc = 0; /* nothing stored for the server */
        goto cleanup;
    }
    if (has_ctl(user) || has_ctl(secret)) {
        it_set_err(err,
                   "%s get: the answer's Username or Secret holds a control "
                   "character (it would become a request header); refused",
                   helper);
        goto cleanup;
    }
    bool token = strcmp(user, IT_CREDHELPER_TOKEN_USER) == 0;
    if (!token && strchr(user, ':') != NULL) {
        it_set_err(err, "%s get: the answer's Username holds ':'; refused",
                   helper);
        goto cleanup;
    }
    out->identity_token = token;
    out->username = token ? NULL : strdup(user);
    out->secret = strdup(secret);
    if ((!token && out->username == NULL) || out->secret == NULL) {
        it_helper_creds_clear(out);
        it_set_err(err, "%s get: out of memory", helper);
        goto cleanup;
    }
    rc = 0;
cleanup:
    /* The tree held the secret: wipe its strings before freeing. */
    if (json_is_object(root)) {
        const char *k;
        json_t *v;
        json_object_foreach(root, k, v)
        {
            if (json_is_string(v))
                explicit_bzero((char *)json_string_value(v),
                               json_string_length(v));
        }
    }
    json_decref(root);
    return rc;
}

static bool valid_name(const char *name)
{
    if (name == NULL || name[0] == '\0' || strlen(name) > 100)
        return false;
    return strchr(name, '/') == NULL && !has_ctl(name);
}

/* The first line of the helper's stderr, printable ASCII only. */
static void first_line(char *out, size_t cap, const char *in, size_t len)
{
    size_t o = 0;
    while (len > 0 && (*in == '\n' || *in == '\r' || *in == ' ')) {
        in++;
        len--;
    }
    for (size_t i = 0; i < len && o + 1 < cap && o < 200; i++) {
        unsigned char ch = (unsigned char)in[i];
        if (ch == '\n' || ch == '\r')
            break;
        out[o++] = (ch < 0x20 || ch >= 0x7f) ? '?' : (char)ch;
    }
    out[o] = '\0';
}

/* Reads what fd has now into buf (at most cap - *len more; the rest of
 * stderr is read and dropped when drop is set). Returns 1 at EOF, 0 when
 * nothing more is there now, 2 when buf is full (stdout: a flood). */
static int read_some(int fd, char *buf, size_t *len, size_t cap, bool drop)
{
    for (;;) {
        char junk[4096];
        char *dst = buf + *len;
        size_t room = cap - *len;
        if (room == 0) {
            if (!drop)
                return 2;
            dst = junk;
            room = sizeof junk;
        }
        ssize_t n = read(fd, dst, room);
        if (n == 0)
            return 1;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : 1;
        }
        if (dst != junk)
            *len += (size_t)n;
    }
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

typedef struct run_state {
    int out_fd, err_fd;
    char *obuf;
    size_t olen;
    char ebuf[STDERR_KEEP];
    size_t elen;
    bool flooded, timed_out, exited;
    int status;
} run_state;

/* Polls the helper's stdout and stderr until it exits, floods stdout or
 * the deadline passes. */
static void collect(run_state *st, pid_t pid, int64_t deadline)
{
    /* stdout may hold one byte more than allowed: that byte says flood */
    size_t ocap = IT_CREDHELPER_MAX_OUTPUT + 1;
    for (;;) {
        if (!st->exited && waitpid(pid, &st->status, WNOHANG) == pid)
            st->exited = true;
        if (st->exited) {
            /* what it wrote before it exited; a child it left behind may
             * hold the pipes open: never wait for their EOF */
            if (st->out_fd >= 0 &&
                read_some(st->out_fd, st->obuf, &st->olen, ocap, false) == 2)
                st->flooded = true;
            if (st->err_fd >= 0)
                read_some(st->err_fd, st->ebuf, &st->elen, sizeof st->ebuf,
                          true);
            return;
        }
        int64_t left = deadline - it_now_mono_ms();
        if (left <= 0) {
            st->timed_out = true;
            return;
        }
        struct pollfd pf[2];
        nfds_t n = 0;
        if (st->out_fd >= 0)
            pf[n++] = (struct pollfd){.fd = st->out_fd, .events = POLLIN};
        if (st->err_fd >= 0)
            pf[n++] = (struct pollfd){.fd = st->err_fd, .events = POLLIN};
        /* slices, so that an exit with the pipes held open is seen */
        int r = poll(pf, n, left < 50 ? (int)left : 50);
        if (r < 0 && errno != EINTR)
            return;
        for (nfds_t i = 0; r > 0 && i < n; i++) {
            if (pf[i].revents == 0)
                continue;
            if (pf[i].fd == st->out_fd) {
                int k = read_some(st->out_fd, st->obuf, &st->olen, ocap, false);
                if (k == 2) {
                    st->flooded = true;
                    return;
                }
                if (k == 1)
                    close_fd(&st->out_fd);
            } else {
                if (read_some(st->err_fd, st->ebuf, &st->elen, sizeof st->ebuf,
                              true) == 1)
                    close_fd(&st->err_fd);
            }
        }
    }
}

/* Explains a helper that did not answer well; 0 when it says it has
 * nothing for the server (out left empty). */
static int judge(const run_state *st, const char *prog, int timeout_ms,
                 it_helper_creds *out, it_errbuf *err)
{
    char line[256];
    first_line(line, sizeof line, st->ebuf, st->elen);
    if (st->timed_out) {
        it_set_err(err, "%s get did not answer within %d s; killed", prog,
                   (timeout_ms + 999) / 1000);
        return -1;
    }
    if (st->flooded) {
        it_set_err(err,
                   "%s get printed more than %d KiB; killed (its output is "
                   "not shown)",
                   prog, IT_CREDHELPER_MAX_OUTPUT / 1024);
        return -1;
    }
    if (WIFSIGNALED(st->status)) {
        it_set_err(err, "%s get was killed by signal %d%s%s", prog,
                   WTERMSIG(st->status), line[0] ? ": " : "", line);
        return -1;
    }
    int code = WIFEXITED(st->status) ? WEXITSTATUS(st->status) : -1;
    if (code == 0)
        return it_credhelper_parse(st->obuf, st->olen, prog, out, err);
    /* docker reads this one message on stdout: compared, never shown */
    size_t n = st->olen;
    while (n > 0 && (st->obuf[n - 1] == '\n' || st->obuf[n - 1] == '\r' ||
                     st->obuf[n - 1] == ' '))
        n--;
    if (n == strlen(NOT_FOUND_MSG) && memcmp(st->obuf, NOT_FOUND_MSG, n) == 0)
        return 0;
    if (line[0] != '\0')
        it_set_err(err, "%s get failed (exit status %d): %s", prog, code, line);
    else
        it_set_err(err,
                   "%s get failed (exit status %d; nothing on stderr, its "
                   "stdout is not shown)",
                   prog, code);
    return -1;
}

int it_credhelper_get(const char *name, const char *server, int timeout_ms,
                      it_helper_creds *out, it_errbuf *err)
{
    int rc = -1;
    int in[2] = {-1, -1}, op[2] = {-1, -1}, ep[2] = {-1, -1};
    pid_t pid = -1;
    char prog[128];
    posix_spawn_file_actions_t fa;
    bool fa_ok = false;
    run_state st = {.out_fd = -1, .err_fd = -1};

    memset(out, 0, sizeof *out);
    if (!valid_name(name)) {
        it_set_err(err, "invalid credential helper name (empty, too long, or "
                        "holding '/' or a control character)");
        goto cleanup;
    }
    snprintf(prog, sizeof prog, "docker-credential-%s", name);
    st.obuf = malloc(IT_CREDHELPER_MAX_OUTPUT + 1);
    if (st.obuf == NULL) {
        it_set_err(err, "%s: out of memory", prog);
        goto cleanup;
    }
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(op, O_CLOEXEC) != 0 ||
        pipe2(ep, O_CLOEXEC) != 0) {
        it_set_err(err, "%s: cannot make a pipe: %s", prog, strerror(errno));
        goto cleanup;
    }
    if (posix_spawn_file_actions_init(&fa) != 0) {
        it_set_err(err, "%s: out of memory", prog);
        goto cleanup;
    }
    fa_ok = true;
    /* dup2 clears close-on-exec on 0, 1, 2; every other descriptor of
     * ours (the journal, the log, sockets) stays closed in the helper */
    if (posix_spawn_file_actions_adddup2(&fa, in[0], 0) != 0 ||
        posix_spawn_file_actions_adddup2(&fa, op[1], 1) != 0 ||
        posix_spawn_file_actions_adddup2(&fa, ep[1], 2) != 0
#if defined(__GLIBC__) &&                                                      \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
        || posix_spawn_file_actions_addclosefrom_np(&fa, 3) != 0
#endif
    ) {
        it_set_err(err, "%s: out of memory", prog);
        goto cleanup;
    }
    char *argv[] = {prog, "get", NULL};
    int sp = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
    if (sp != 0) {
        pid = -1;
        if (sp == ENOENT)
            it_set_err(err, "%s not found on PATH", prog);
        else
            it_set_err(err, "cannot run %s: %s", prog, strerror(sp));
        goto cleanup;
    }
    close_fd(&in[0]);
    close_fd(&op[1]);
    close_fd(&ep[1]);
    /* The server address fits the pipe's buffer: this never blocks. A
     * helper that exits first gives EPIPE (SIGPIPE is ignored). */
    size_t sl = strlen(server);
    if (sl > 0 && write(in[1], server, sl) < 0 && errno != EPIPE) {
        it_set_err(err, "%s: cannot write to it: %s", prog, strerror(errno));
        goto cleanup;
    }
    close_fd(&in[1]);
    st.out_fd = op[0];
    st.err_fd = ep[0];
    op[0] = ep[0] = -1;
    fcntl(st.out_fd, F_SETFL, O_NONBLOCK);
    fcntl(st.err_fd, F_SETFL, O_NONBLOCK);
    collect(&st, pid, it_now_mono_ms() + timeout_ms);
    rc = judge(&st, prog, timeout_ms, out, err);
cleanup:
    if (pid > 0 && !st.exited) {
        kill(pid, SIGKILL);
        while (waitpid(pid, &st.status, 0) < 0 && errno == EINTR)
            ;
    }
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 2; i++) {
        close_fd(&in[i]);
        close_fd(&op[i]);
        close_fd(&ep[i]);
    }
    close_fd(&st.out_fd);
    close_fd(&st.err_fd);
    if (st.obuf != NULL) {
        explicit_bzero(st.obuf, IT_CREDHELPER_MAX_OUTPUT + 1);
        free(st.obuf);
    }
    return rc;
}
