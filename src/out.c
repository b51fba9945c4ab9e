/*
 * out.c - the one writer of standard output (see out.h).
 *
 * it_out_file() is a fopencookie stream: each write call (a whole line,
 * the stream being line-buffered) appends to a buffer under a mutex; the
 * writer thread takes the buffer and writes it to dst. A writer waits
 * while the buffer holds OUT_MAX bytes, as it would wait on a slow pipe.
 */
#define _GNU_SOURCE /* fopencookie */
#include "out.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define OUT_MAX (1 << 20) /* bytes waiting before a writer waits */

struct it_out {
    FILE *dst;
    FILE *stream; /* the cookie stream handed to writers */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* data arrived, room freed, or closing */
    char *buf;
    size_t len, cap;
    bool closing;
    pthread_t thread;
};

static ssize_t cookie_write(void *cookie, const char *data, size_t n)
{
    it_out *w = cookie;
    pthread_mutex_lock(&w->mu);
    while (w->len > 0 && w->len + n > OUT_MAX && !w->closing)
        pthread_cond_wait(&w->cv, &w->mu);
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->len + n)
            cap *= 2;
        char *b = realloc(w->buf, cap);
        if (b == NULL) {
            pthread_mutex_unlock(&w->mu);
            return -1; /* stdio reports the error to the writer */
        }
        w->buf = b;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, data, n);
    w->len += n;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return (ssize_t)n;
}

static void *writer(void *arg)
{
    it_out *w = arg;
    char *batch = NULL;
    size_t batch_cap = 0;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->len == 0 && !w->closing)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->len == 0 && w->closing)
            break;
        /* Swap buffers: writers fill the other one meanwhile. */
        char *full = w->buf;
        size_t full_cap = w->cap;
        size_t n = w->len;
        w->buf = batch;
        w->cap = batch_cap;
        w->len = 0;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        fwrite(full, 1, n, w->dst);
        fflush(w->dst);
        batch = full;
        batch_cap = full_cap;
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    free(batch);
    return NULL;
}

int it_out_open(it_out **out, FILE *dst, it_errbuf *err)
{
    *out = NULL;
    it_out *w = calloc(1, sizeof *w);
    if (w == NULL) {
        it_set_err(err, "standard output: out of memory");
        return -1;
    }
    w->dst = dst;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    cookie_io_functions_t io = {.write = cookie_write};
    w->stream = fopencookie(w, "w", io);
    if (w->stream == NULL || setvbuf(w->stream, NULL, _IOLBF, BUFSIZ) != 0 ||
        pthread_create(&w->thread, NULL, writer, w) != 0) {
        it_set_err(err, "standard output: cannot start its writer");
        if (w->stream != NULL)
            fclose(w->stream);
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return -1;
    }
    *out = w;
    return 0;
}

FILE *it_out_file(it_out *w)
{
    return w->stream;
}

void it_out_close(it_out *w)
{
    if (w == NULL)
        return;
    fclose(w->stream); /* hands over the last partial line */
    pthread_mutex_lock(&w->mu);
    w->closing = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    fflush(w->dst);
    free(w->buf);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
