/*
 * test_out.c - the one writer of standard output (out.c): lines written by
 * several threads reach the destination whole, each thread's in its order,
 * all written by one thread that is none of the writers; closing hands
 * over a last line without a newline.
 */
#define _GNU_SOURCE /* fopencookie */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "out.h"

#define WRITERS 4
#define LINES   2000

/* The destination: records the bytes and which threads wrote them. */
typedef struct sink {
    pthread_mutex_t mu;
    char *buf;
    size_t len, cap;
    pthread_t writers[8];
    int n_writers;
} sink;

static ssize_t sink_write(void *cookie, const char *data, size_t n)
{
    sink *s = cookie;
    pthread_mutex_lock(&s->mu);
    pthread_t self = pthread_self();
    bool known = false;
    for (int i = 0; i < s->n_writers; i++)
        known = known || pthread_equal(s->writers[i], self);
    if (!known && s->n_writers < 8)
        s->writers[s->n_writers++] = self;
    if (s->len + n + 1 > s->cap) {
        s->cap = (s->len + n + 1) * 2;
        s->buf = realloc(s->buf, s->cap);
        assert_non_null(s->buf);
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    s->buf[s->len] = '\0';
    pthread_mutex_unlock(&s->mu);
    return (ssize_t)n;
}

typedef struct producer {
    FILE *f;
    int id;
    pthread_t self;
} producer;

static void *produce(void *arg)
{
    producer *p = arg;
    p->self = pthread_self();
    for (int i = 0; i < LINES; i++)
        fprintf(p->f, "writer %d line %d %s\n", p->id, i,
                "padding-padding-padding-padding-padding-padding");
    return NULL;
}

static void test_lines_whole_in_order_one_thread(void **state)
{
    (void)state;
    sink s = {.mu = PTHREAD_MUTEX_INITIALIZER};
    cookie_io_functions_t io = {.write = sink_write};
    FILE *dst = fopencookie(&s, "w", io);
    assert_non_null(dst);
    it_out *w = NULL;
    it_errbuf err;
    assert_int_equal(it_out_open(&w, dst, &err), 0);
    producer p[WRITERS];
    pthread_t th[WRITERS];
    for (int k = 0; k < WRITERS; k++) {
        p[k] = (producer){.f = it_out_file(w), .id = k};
        assert_int_equal(pthread_create(&th[k], NULL, produce, &p[k]), 0);
    }
    for (int k = 0; k < WRITERS; k++)
        pthread_join(th[k], NULL);
    fprintf(it_out_file(w), "last line without a newline");
    it_out_close(w);
    fclose(dst);

    /* One thread wrote the destination, and it was none of the writers
     * (nor this one). */
    assert_int_equal(s.n_writers, 1);
    for (int k = 0; k < WRITERS; k++)
        assert_false(pthread_equal(s.writers[0], p[k].self));
    assert_false(pthread_equal(s.writers[0], pthread_self()));

    int next[WRITERS] = {0};
    int lines = 0;
    char *save = NULL;
    bool saw_last = false;
    for (char *l = strtok_r(s.buf, "\n", &save); l;
         l = strtok_r(NULL, "\n", &save)) {
        int id, i;
        char pad[64];
        if (strcmp(l, "last line without a newline") == 0) {
            saw_last = true;
            continue;
        }
        if (sscanf(l, "writer %d line %d %63s", &id, &i, pad) != 3 || id < 0 ||
            id >= WRITERS)
            fail_msg("a mixed or broken line: '%s'", l);
        assert_int_equal(i, next[id]);
        assert_string_equal(pad,
                            "padding-padding-padding-padding-padding-padding");
        next[id]++;
        lines++;
    }
    assert_int_equal(lines, WRITERS * LINES);
    assert_true(saw_last);
    free(s.buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_whole_in_order_one_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
