/*
 * test_retry.c - the program's one retry policy (src/retry.c), made
 * deterministic by an injected seeded generator and a sleep that only
 * records: the backoff's range for equal and full jitter, its cap without
 * overflow, the retry budget, Retry-After honoured only for a 429/503 and
 * capped, the registry and Tencent Cloud classifiers, the sleep seam, and
 * per-thread generators that leave rand() alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "retry.h"

static int64_t d_of(int64_t base, int64_t cap, int retry)
{
    int64_t d = base;
    for (int i = 1; i < retry; i++)
        d = d * 2 > cap ? cap : d * 2;
    return d > cap ? cap : d;
}

static void test_rng_seeded_is_deterministic(void **state)
{
    (void)state;
    it_rng a, b, c;
    it_rng_seed(&a, 42);
    it_rng_seed(&b, 42);
    it_rng_seed(&c, 43);
    bool differ = false;
    for (int i = 0; i < 100; i++) {
        uint64_t x = it_rng_next(&a);
        assert_true(x == it_rng_next(&b));
        differ |= x != it_rng_next(&c);
    }
    assert_true(differ);
    /* splitmix64's first output for seed 0 (a published test vector) */
    it_rng_seed(&a, 0);
    assert_true(it_rng_next(&a) == 0xe220a8397b1dcdafULL);
    for (int i = 0; i < 1000; i++)
        assert_true(it_rng_below(&a, 7) < 7);
    assert_true(it_rng_below(&a, 0) == 0);
    assert_true(it_rng_below(&a, 1) == 0);
}

static void test_equal_jitter_range(void **state)
{
    (void)state;
    it_rng rng;
    it_rng_seed(&rng, 1);
    it_retry_policy p = {.max_retries = 10,
                         .base_ms = 200,
                         .cap_ms = 5000,
                         .jitter = IT_JITTER_EQUAL,
                         .rng = &rng};
    for (int retry = 1; retry <= 10; retry++) {
        int64_t d = d_of(200, 5000, retry);
        int64_t lo = INT64_MAX, hi = 0;
        for (int k = 0; k < 500; k++) {
            int64_t v = it_retry_backoff_ms(&p, retry);
            assert_true(v >= d / 2 && v <= d);
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        /* it is jitter, not a constant: the draws spread over the range */
        assert_true(lo < d / 2 + d / 8);
        assert_true(hi > d - d / 8);
    }
}

static void test_full_jitter_range(void **state)
{
    (void)state;
    it_rng rng;
    it_rng_seed(&rng, 2);
    it_retry_policy p = {.max_retries = 5,
                         .base_ms = 100,
                         .cap_ms = 800,
                         .jitter = IT_JITTER_FULL,
                         .rng = &rng};
    int64_t lo = INT64_MAX, hi = 0;
    for (int k = 0; k < 2000; k++) {
        int64_t v = it_retry_backoff_ms(&p, 4); /* d = 800 */
        assert_true(v >= 0 && v <= 800);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    assert_true(lo < 100 && hi > 700);
}

static void test_backoff_cap_no_overflow(void **state)
{
    (void)state;
    it_rng rng;
    it_rng_seed(&rng, 3);
    it_retry_policy p = {
        .base_ms = INT64_MAX / 3, .cap_ms = INT64_MAX / 2, .rng = &rng};
    for (int retry = 1; retry < 200; retry += 37) {
        int64_t v = it_retry_backoff_ms(&p, retry);
        assert_true(v >= 0 && v <= INT64_MAX / 2);
    }
    it_retry_policy q = {.base_ms = 1000, .cap_ms = 4000, .rng = &rng};
    for (int k = 0; k < 100; k++) {
        int64_t v = it_retry_backoff_ms(&q, 100000);
        assert_true(v >= 2000 && v <= 4000);
    }
    it_retry_policy zero = {.rng = &rng};
    assert_true(it_retry_backoff_ms(&zero, 3) == 0);
    /* cap_ms <= 0: the base is the cap */
    it_retry_policy flat = {.base_ms = 100, .rng = &rng};
    for (int k = 0; k < 100; k++) {
        int64_t v = it_retry_backoff_ms(&flat, 9);
        assert_true(v >= 50 && v <= 100);
    }
}

static void test_budget_and_transient(void **state)
{
    (void)state;
    it_rng rng;
    it_rng_seed(&rng, 4);
    it_retry_policy p = it_retry_default(3);
    p.rng = &rng;
    int64_t delay = -1;
    for (int done = 0; done < 3; done++) {
        assert_true(it_retry_next(&p, done, true, 0, -1, &delay));
        int64_t d = d_of(750, 30000, done + 1);
        assert_true(delay >= d / 2 && delay <= d);
    }
    assert_false(it_retry_next(&p, 3, true, 0, -1, &delay));
    assert_true(delay == 0);
    assert_false(it_retry_next(&p, 0, false, 503, 5, &delay));
    assert_false(it_retry_next(&p, -1, true, 0, -1, &delay));
    it_retry_policy none = it_retry_default(0);
    assert_false(it_retry_next(&none, 0, true, 0, -1, &delay));
    /* the engine's old range, 0.25..0.75 s * 2^n, contains the new one
     * up to the cap; then each sleep is 15..30 s (issue 15) */
    p.max_retries = 20;
    for (int done = 0; done < 12; done++) {
        int n = done < 6 ? done : 6;
        for (int k = 0; k < 50; k++) {
            assert_true(it_retry_next(&p, done, true, 0, -1, &delay));
            if (n < 6)
                assert_true(delay >= 250LL << n && delay <= 750LL << n);
            else
                assert_true(delay >= 15000 && delay <= 30000);
        }
    }
}

static void test_retry_after(void **state)
{
    (void)state;
    it_rng rng;
    it_rng_seed(&rng, 5);
    it_retry_policy p = it_retry_default(5);
    p.rng = &rng;
    int64_t delay = 0;
    /* honoured for 429 and 503, even when longer or shorter than the
     * backoff */
    assert_true(it_retry_next(&p, 0, true, 429, 7, &delay));
    assert_true(delay == 7000);
    assert_true(it_retry_next(&p, 4, true, 503, 1, &delay));
    assert_true(delay == 1000);
    /* capped at 60 s, huge values included */
    assert_true(it_retry_next(&p, 0, true, 503, 61, &delay));
    assert_true(delay == 60000);
    assert_true(it_retry_next(&p, 0, true, 429, 0x7fffffffffffffffL, &delay));
    assert_true(delay == 60000);
    /* not for another status, nor 0 / absent: the backoff */
    assert_true(it_retry_next(&p, 0, true, 500, 7, &delay));
    assert_true(delay >= 375 && delay <= 750);
    assert_true(it_retry_next(&p, 0, true, 429, 0, &delay));
    assert_true(delay >= 375 && delay <= 750);
    assert_true(it_retry_next(&p, 0, true, 429, -1, &delay));
    assert_true(delay >= 375 && delay <= 750);
    /* a policy that does not honour it */
    p.retry_after_cap_ms = 0;
    assert_true(it_retry_next(&p, 0, true, 429, 7, &delay));
    assert_true(delay >= 375 && delay <= 750);
    /* it never turns a spent budget into one more try */
    p.retry_after_cap_ms = 60000;
    assert_false(it_retry_next(&p, 5, true, 429, 7, &delay));
}

static void test_classifiers(void **state)
{
    (void)state;
    it_rng rng;
    it_rng_seed(&rng, 6);
    it_retry_policy p = it_retry_default(2);
    p.rng = &rng;
    int64_t delay = 0;
    reg_error err = {.http_status = 429, .retry_after = 3};
    assert_false(it_retry_reg(&p, 0, REG_OK, &err, &delay));
    assert_true(it_retry_reg(&p, 0, REG_ERETRY, &err, &delay));
    assert_true(delay == 3000);
    assert_true(it_retry_reg(&p, 0, REG_ERETRY, NULL, &delay));
    assert_true(delay >= 375 && delay <= 750);
    int not_retried[] = {REG_ERR,     REG_ENOTFOUND,   REG_EAUTH,
                         REG_EDENIED, REG_EDIGEST,     REG_EINVAL,
                         REG_ENOMEM,  REG_ECANCELED,   REG_ETLS,
                         REG_ELIMIT,  REG_EUNSUPPORTED};
    for (size_t i = 0; i < sizeof not_retried / sizeof *not_retried; i++)
        assert_false(it_retry_reg(&p, 0, not_retried[i], &err, &delay));
    assert_false(it_retry_reg(&p, 2, REG_ERETRY, &err, &delay));

    tc_error terr = {.http_status = 503};
    assert_false(it_retry_tc(&p, 0, TC_OK, &terr, &delay));
    assert_true(it_retry_tc(&p, 0, TC_ERETRY, &terr, &delay));
    assert_true(delay >= 375 && delay <= 750);
    assert_false(it_retry_tc(&p, 0, TC_EAUTH, &terr, &delay));
    assert_false(it_retry_tc(&p, 0, TC_ECONFLICT, NULL, &delay));
    assert_false(it_retry_tc(&p, 2, TC_ERETRY, NULL, &delay));
}

typedef struct sleeps {
    int n;
    int64_t ms[8];
} sleeps;

static void record_sleep(void *ctx, int64_t ms)
{
    sleeps *s = ctx;
    if (s->n < 8)
        s->ms[s->n] = ms;
    s->n++;
}

/* A caller's loop, as the planner and the engine write it. */
static int fails_then(int failures, const it_retry_policy *p, int *calls)
{
    int rc, retries = 0;
    int64_t delay;
    for (;;) {
        (*calls)++;
        rc = *calls <= failures ? REG_ERETRY : REG_OK;
        reg_error err = {.http_status = 503, .retry_after = *calls};
        if (!it_retry_reg(p, retries, rc, &err, &delay))
            break;
        retries++;
        it_retry_sleep(p, delay);
    }
    return rc;
}

static void test_sleep_seam_and_loop(void **state)
{
    (void)state;
    it_rng rng;
    it_rng_seed(&rng, 7);
    sleeps s = {0};
    it_retry_policy p = it_retry_default(3);
    p.rng = &rng;
    p.sleep_ms = record_sleep;
    p.sleep_ctx = &s;
    int calls = 0;
    assert_int_equal(fails_then(2, &p, &calls), REG_OK);
    assert_int_equal(calls, 3);
    assert_int_equal(s.n, 2);
    assert_true(s.ms[0] == 1000 && s.ms[1] == 2000); /* Retry-After */
    memset(&s, 0, sizeof s);
    calls = 0;
    assert_int_equal(fails_then(10, &p, &calls), REG_ERETRY);
    assert_int_equal(calls, 4); /* the first try and 3 retries */
    assert_int_equal(s.n, 3);
}

static void *thread_first(void *arg)
{
    uint64_t *out = arg;
    it_rng *r = it_rng_thread();
    assert_true(r == it_rng_thread()); /* one per thread, kept */
    *out = it_rng_next(r);
    return NULL;
}

static void test_thread_generators(void **state)
{
    (void)state;
    /* rand() is not used: its sequence is not disturbed */
    srand(12345);
    int r1 = rand();
    srand(12345);
    it_retry_policy p = it_retry_default(3);
    int64_t delay;
    for (int i = 0; i < 10; i++)
        assert_true(it_retry_next(&p, 0, true, 0, -1, &delay));
    assert_int_equal(rand(), r1);
    /* each thread its own, differently seeded generator */
    uint64_t v[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, thread_first, &v[i]), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            assert_true(v[i] != v[j]);
    assert_true(it_rng_thread() != NULL);
}

/* issue 15: a request that fails for ever, run against a fake clock (the
 * sleeps only advance it): how many retries, and when the last one is. */
static int run_window(it_retry_policy *p, int64_t *clock_ms, int64_t *max_sleep)
{
    int retries = 0;
    int64_t delay = 0;
    *clock_ms = 0;
    *max_sleep = 0;
    while (it_retry_next_in(p, retries, *clock_ms, true, 0, -1, &delay)) {
        assert_true(delay >= 0);
        if (delay > *max_sleep)
            *max_sleep = delay;
        *clock_ms += delay; /* the fake sleep */
        retries++;
        assert_true(retries < 10000); /* bounded */
    }
    return retries;
}

static void test_window_policy(void **state)
{
    (void)state;
    it_rng rng;
    it_rng_seed(&rng, 15);
    it_retry_policy p = it_retry_default(2);
    p.rng = &rng;
    p.window_ms = 300000; /* the default --retry-window, 5m */
    int64_t clock_ms, max_sleep;
    int n = run_window(&p, &clock_ms, &max_sleep);
    /* more than the count, each sleep capped at 30 s, and the last try
     * lands exactly on the window's end, not past it */
    assert_true(n > 2);
    assert_true(n >= 300000 / 30000);
    assert_true(max_sleep <= 30000);
    assert_true(clock_ms == 300000);
    /* --retry stays a lower bound: a tiny window still gets 6 retries,
     * with the full backoff (not cut to the window) */
    p.max_retries = 6;
    p.window_ms = 1000;
    n = run_window(&p, &clock_ms, &max_sleep);
    assert_int_equal(n, 6);
    assert_true(clock_ms > 1000);
    /* --retry-window=0: the count alone */
    p.max_retries = 3;
    p.window_ms = 0;
    assert_int_equal(run_window(&p, &clock_ms, &max_sleep), 3);
    /* elapsed unknown (it_retry_next): the count alone */
    p.window_ms = 300000;
    int64_t delay;
    assert_false(it_retry_next(&p, 3, true, 0, -1, &delay));
    assert_true(it_retry_next_in(&p, 3, 0, true, 0, -1, &delay));
    /* never for a permanent failure, window or not */
    assert_false(it_retry_next_in(&p, 0, 0, false, 404, -1, &delay));
    /* jitter bounds inside the window: equal jitter, half to all of d */
    for (int done = 3; done < 40; done++) {
        assert_true(it_retry_next_in(&p, done, 1000, true, 0, -1, &delay));
        int64_t d = d_of(750, 30000, done + 1);
        assert_true(delay >= d / 2 && delay <= d);
    }
    /* a Retry-After past the window's end is cut to the end */
    assert_true(it_retry_next_in(&p, 5, 299000, true, 429, 50, &delay));
    assert_true(delay == 1000);
    assert_false(it_retry_next_in(&p, 5, 300000, true, 429, 50, &delay));
    /* the registry classifier within the window */
    reg_error err = {.http_status = 503, .retry_after = -1};
    assert_true(it_retry_reg_in(&p, 10, 5000, REG_ERETRY, &err, &delay));
    assert_false(it_retry_reg_in(&p, 10, 5000, REG_ENOTFOUND, &err, &delay));
    assert_false(it_retry_reg_in(&p, 10, 300001, REG_ERETRY, &err, &delay));
}

static void test_window_parse(void **state)
{
    (void)state;
    assert_true(it_retry_parse_window("300") == 300000);
    assert_true(it_retry_parse_window("300s") == 300000);
    assert_true(it_retry_parse_window("5m") == 300000);
    assert_true(it_retry_parse_window("1h") == 3600000);
    assert_true(it_retry_parse_window("1h30m") == 5400000);
    assert_true(it_retry_parse_window("2m5s") == 125000);
    assert_true(it_retry_parse_window("0") == 0);
    assert_true(it_retry_parse_window("168h") == 168LL * 3600000);
    const char *bad[] = {"",     "-5",   "5x",   "m",
                         "1.5m", "5m1h", "5mm",  "1h30",
                         " 5m",  "5m ",  "169h", "99999999999999999999",
                         "0x10"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_true(it_retry_parse_window(bad[i]) == -1);
    char buf[32];
    it_retry_format_window(buf, sizeof buf, 300000);
    assert_string_equal(buf, "5m0s");
    it_retry_format_window(buf, sizeof buf, 10000);
    assert_string_equal(buf, "10s");
    it_retry_format_window(buf, sizeof buf, 3723000);
    assert_string_equal(buf, "1h2m3s");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_seeded_is_deterministic),
        cmocka_unit_test(test_equal_jitter_range),
        cmocka_unit_test(test_full_jitter_range),
        cmocka_unit_test(test_backoff_cap_no_overflow),
        cmocka_unit_test(test_budget_and_transient),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_classifiers),
        cmocka_unit_test(test_sleep_seam_and_loop),
        cmocka_unit_test(test_thread_generators),
        cmocka_unit_test(test_window_policy),
        cmocka_unit_test(test_window_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
