/* console.c - the locale and the stderr capture around the dashboard. */
#include "console.h"

#include <fcntl.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REPLAY_MAX 20 /* captured stderr lines written back at the end */

struct it_errcap {
    it_progress *p;
    int saved; /* the original fd 2 */
    int rd;    /* read end of the pipe */
    char part[1024];
    size_t part_len;
    char *replay[REPLAY_MAX];
    size_t n_replay, replay_next;
};

void it_console_locale(void)
{
    setlocale(LC_CTYPE, "");
}

static void cap_line(it_errcap *c, const char *line)
{
    if (!line[0])
        return;
    bool is_err = strstr(line, "ERROR") || strstr(line, "error");
    it_progress_note(c->p, is_err, line);
    char *copy = strdup(line);
    if (!copy)
        return;
    free(c->replay[c->replay_next]);
    c->replay[c->replay_next] = copy;
    c->replay_next = (c->replay_next + 1) % REPLAY_MAX;
    if (c->n_replay < REPLAY_MAX)
        c->n_replay++;
}

it_errcap *it_errcap_start(it_progress *p)
{
    if (!isatty(STDERR_FILENO))
        return NULL; /* stderr goes to a file or pipe: it cannot hurt the
                        screen */
    it_errcap *c = calloc(1, sizeof *c);
    int fds[2] = {-1, -1};
    int saved = -1;
    if (!c || pipe(fds) != 0)
        goto fail;
#ifdef F_SETPIPE_SZ
    (void)fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
#endif
    saved = dup(STDERR_FILENO);
    if (saved < 0 || fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0 ||
        fcntl(fds[1], F_SETFL, O_NONBLOCK) != 0 ||
        dup2(fds[1], STDERR_FILENO) < 0)
        goto fail;
    close(fds[1]);
    c->p = p;
    c->saved = saved;
    c->rd = fds[0];
    return c;

fail:
    if (saved >= 0)
        close(saved);
    if (fds[0] >= 0) {
        close(fds[0]);
        close(fds[1]);
    }
    free(c);
    return NULL;
}

void it_errcap_tick(void *errcap)
{
    it_errcap *c = errcap;
    if (!c)
        return;
    char buf[4096];
    for (;;) {
        ssize_t n = read(c->rd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++) {
            char ch = buf[i];
            if (ch == '\n' || c->part_len + 1 >= sizeof c->part) {
                c->part[c->part_len] = '\0';
                cap_line(c, c->part);
                c->part_len = 0;
                if (ch == '\n')
                    continue;
            }
            if (ch != '\r')
                c->part[c->part_len++] = ch;
        }
    }
}

void it_errcap_stop(it_errcap *c)
{
    if (!c)
        return;
    fflush(stderr);
    it_errcap_tick(c);
    c->part[c->part_len] = '\0';
    cap_line(c, c->part);
    dup2(c->saved, STDERR_FILENO);
    close(c->saved);
    close(c->rd);
    size_t first = (c->replay_next + REPLAY_MAX - c->n_replay) % REPLAY_MAX;
    for (size_t i = 0; i < c->n_replay; i++)
        fprintf(stderr, "%s\n", c->replay[(first + i) % REPLAY_MAX]);
    for (size_t i = 0; i < REPLAY_MAX; i++)
        free(c->replay[i]);
    free(c);
}
