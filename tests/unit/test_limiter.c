/*
 * test_limiter.c - token buckets under a fake clock: the burst is free, the
 * waits beyond it add up to (n - burst) / rate, rate <= 0 never waits,
 * tokens refill with time but never above the burst, and threads sharing
 * one bucket together get the bucket's rate (not more, not less).
 *
 * The fake clock is a global guarded by a mutex. The fake sleep models a
 * thread that wakes at "the time it last read the clock + seconds": the
 * bucket reads the clock once per take (under its lock) and then sleeps
 * for the debt computed at that instant, so this is exactly the wake-up
 * time a real clock would give. The clock only moves forward (max), so
 * concurrent sleepers overlap instead of adding up.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "limiter.h"

#define EPS  1e-9
#define BASE 1024.0 /* fake clock start; a power of two keeps sums exact */

/* cmocka 1.1's assert_float_equal works in float: too coarse for clock
 * values around 1000 s. Compare doubles and print both on failure. */
#define assert_near(a, b, eps) near_at((a), (b), (eps), __FILE__, __LINE__)

static void near_at(double a, double b, double eps, const char *file, int line)
{
    if (!(fabs(a - b) <= eps)) {
        print_error("%.12g != %.12g (within %g)\n", a, b, eps);
        _fail(file, line);
    }
}

static pthread_mutex_t clock_lock = PTHREAD_MUTEX_INITIALIZER;
static double fake_time;
static long sleep_calls;
static _Thread_local double last_read; /* this thread's last clock read */

static double fake_now(void)
{
    pthread_mutex_lock(&clock_lock);
    double t = fake_time;
    pthread_mutex_unlock(&clock_lock);
    last_read = t;
    return t;
}

static void fake_sleep(double seconds)
{
    pthread_mutex_lock(&clock_lock);
    sleep_calls++;
    double wake = last_read + seconds;
    if (wake > fake_time)
        fake_time = wake;
    pthread_mutex_unlock(&clock_lock);
}

static void advance(double seconds)
{
    pthread_mutex_lock(&clock_lock);
    fake_time += seconds;
    pthread_mutex_unlock(&clock_lock);
}

static int reset_clock(void **state)
{
    (void)state;
    fake_time = BASE;
    sleep_calls = 0;
    return 0;
}

static it_bucket *new_bucket(double rate, double burst)
{
    it_bucket *b = it_bucket_new(rate, burst, fake_now, fake_sleep);
    assert_non_null(b);
    return b;
}

static void test_burst_is_immediate(void **state)
{
    (void)state;
    it_bucket *b = new_bucket(10, 5);
    for (int i = 0; i < 5; i++)
        assert_near(it_bucket_take(b, 1), 0, EPS);
    assert_int_equal(sleep_calls, 0);
    assert_near(fake_time, BASE, EPS);
    /* The next unit is one token's time away: 1 / rate. */
    assert_near(it_bucket_take(b, 1), 0.1, EPS);
    assert_int_equal(sleep_calls, 1);
    assert_near(fake_time, BASE + 0.1, EPS);
    it_bucket_free(b);

    /* One take of the whole burst at once is free too. */
    b = new_bucket(10, 5);
    assert_near(it_bucket_take(b, 5), 0, EPS);
    assert_int_equal(sleep_calls, 1);
    it_bucket_free(b);
}

static void test_default_burst_is_one_second(void **state)
{
    (void)state;
    it_bucket *b = new_bucket(8, 0);
    for (int i = 0; i < 8; i++)
        assert_near(it_bucket_take(b, 1), 0, EPS);
    assert_int_equal(sleep_calls, 0);
    assert_near(it_bucket_take(b, 1), 0.125, EPS);
    it_bucket_free(b);
}

static void test_waits_add_up(void **state)
{
    (void)state;
    const double rate = 4, burst = 3;
    const int n = 23;
    it_bucket *b = new_bucket(rate, burst);
    double waited = 0;
    for (int i = 0; i < n; i++)
        waited += it_bucket_take(b, 1);
    assert_near(waited, (n - burst) / rate, 1e-6);
    assert_near(fake_time - BASE, (n - burst) / rate, 1e-6);
    assert_int_equal(sleep_calls, n - (int)burst);
    it_bucket_free(b);

    /* Byte-sized takes (bandwidth): 1 MiB/s, 256 KiB burst, 40 chunks of
     * 64 KiB = 2.5 MiB -> (2.5 - 0.25) s of waiting in total. */
    reset_clock(NULL);
    b = new_bucket(1048576, 262144);
    waited = 0;
    for (int i = 0; i < 40; i++)
        waited += it_bucket_take(b, 65536);
    assert_near(waited, (40.0 * 65536 - 262144) / 1048576, 1e-6);
    assert_near(fake_time - BASE, 2.25, 1e-6);
    it_bucket_free(b);

    /* One take larger than the burst waits for the excess. */
    reset_clock(NULL);
    b = new_bucket(10, 2);
    assert_near(it_bucket_take(b, 12), 1.0, 1e-9);
    it_bucket_free(b);
}

static void test_unlimited_never_waits(void **state)
{
    (void)state;
    const double rates[] = {0, -1, -1e9};
    for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
        it_bucket *b = new_bucket(rates[r], 0);
        for (int i = 0; i < 1000; i++)
            assert_near(it_bucket_take(b, 1e9), 0, 0);
        it_bucket_free(b);
        b = new_bucket(rates[r], 5);
        assert_near(it_bucket_take(b, 1e12), 0, 0);
        it_bucket_free(b);
    }
    assert_int_equal(sleep_calls, 0);
    assert_near(fake_time, BASE, 0);
    /* A NULL bucket (no limit configured) is a no-op. */
    assert_near(it_bucket_take(NULL, 100), 0, 0);
}

static void test_refill_capped_at_burst(void **state)
{
    (void)state;
    /* Binary fractions of a second keep the float arithmetic exact, so
     * "no wait" below means exactly zero. */
    it_bucket *b = new_bucket(8, 4);
    assert_near(it_bucket_take(b, 4), 0, 0);
    /* 0.375 s later three tokens are back, not more. */
    advance(0.375);
    assert_near(it_bucket_take(b, 3), 0, 0);
    assert_int_equal(sleep_calls, 0);
    assert_near(it_bucket_take(b, 1), 0.125, EPS);
    assert_int_equal(sleep_calls, 1);

    /* A long idle period refills only up to the burst. */
    advance(128);
    assert_near(it_bucket_take(b, 4), 0, 0);
    assert_int_equal(sleep_calls, 1);
    assert_near(it_bucket_take(b, 1), 0.125, EPS);
    assert_int_equal(sleep_calls, 2);

    /* The debt was waited out; 0.25 s more gives two tokens again. */
    advance(0.25);
    assert_near(it_bucket_take(b, 2), 0, 0);
    assert_int_equal(sleep_calls, 2);
    assert_near(it_bucket_take(b, 1), 0.125, EPS);
    it_bucket_free(b);
}

#define THREADS          4
#define TAKES_PER_THREAD 50

struct worker {
    it_bucket *b;
    double wake[TAKES_PER_THREAD]; /* when each take was granted */
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < TAKES_PER_THREAD; i++) {
        double waited = it_bucket_take(w->b, 1);
        /* last_read is the clock this take was reserved at. */
        w->wake[i] = last_read + waited;
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_threads_share_the_rate(void **state)
{
    (void)state;
    const double rate = 100, burst = 10;
    it_bucket *b = new_bucket(rate, burst);
    struct worker w[THREADS];
    pthread_t tid[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i].b = b;
        assert_int_equal(pthread_create(&tid[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(tid[i], NULL), 0);

    const int total = THREADS * TAKES_PER_THREAD;
    double grants[THREADS * TAKES_PER_THREAD];
    for (int i = 0; i < THREADS; i++)
        for (int k = 0; k < TAKES_PER_THREAD; k++)
            grants[i * TAKES_PER_THREAD + k] = w[i].wake[k] - BASE;
    qsort(grants, (size_t)total, sizeof(grants[0]), cmp_double);
    /* Never faster than the rate: by time t at most burst + rate * t
     * units have been granted, whatever the interleaving. */
    for (int k = 1; k <= total; k++)
        assert_true(grants[k - 1] >= (k - burst) / rate - 1e-6);
    /* Not slower either: the last unit is granted exactly when the shared
     * bucket has produced it, so the threads together got the full rate
     * (not rate / THREADS, and not rate each). */
    assert_near(grants[total - 1], (total - burst) / rate, 1e-6);
    assert_near(fake_time - BASE, (total - burst) / rate, 1e-6);
    assert_int_equal(sleep_calls, total - (int)burst);
    it_bucket_free(b);
}

/* The real clock and sleep, briefly: the clock never goes back and a sleep
 * lasts at least as long as asked (a lower bound only, so not flaky). */
static void test_real_clock(void **state)
{
    (void)state;
    double t0 = it_now_mono();
    it_sleep(0);
    it_sleep(-1);
    it_sleep(0.02);
    double t1 = it_now_mono();
    assert_true(t1 - t0 >= 0.02 - 1e-3);

    it_bucket *b = it_bucket_new(1000, 1000, NULL, NULL);
    assert_non_null(b);
    assert_near(it_bucket_take(b, 1), 0, 0); /* within the burst */
    it_bucket_free(b);
    it_bucket_free(NULL);
}

/* ---- issue 15: host down state and AIMD, on a plain fake ms clock */

static void test_host_down_state_machine(void **state)
{
    (void)state;
    it_hoststate h;
    it_host_init(&h, 8, 0);
    int64_t wait = -1;
    /* up: everybody sends */
    assert_true(it_host_may_send(&h, 1000, 60000, &wait));
    assert_true(it_host_may_send(&h, 1000, 60000, &wait));
    /* a refused connection: down since now, next try in 2 s */
    assert_true(it_host_failed(&h, 1000, 2000));
    assert_true(h.down_since_ms == 1000);
    /* another worker's failure in the same outage: not "went down" again,
     * and the since stays */
    assert_false(it_host_failed(&h, 1100, 500));
    assert_true(h.down_since_ms == 1000 && h.next_try_ms == 3000);
    /* before the next try: wait (bounded poll), nobody sends */
    assert_false(it_host_may_send(&h, 1500, 60000, &wait));
    assert_true(wait > 0 && wait <= 250);
    /* due: exactly one probe goes, the others wait */
    assert_true(it_host_may_send(&h, 3000, 60000, &wait));
    assert_true(h.probing);
    for (int i = 0; i < 5; i++) {
        assert_false(it_host_may_send(&h, 3001 + i, 60000, &wait));
        assert_true(wait == 250);
    }
    /* the probe fails: still down, since unchanged, a later next try */
    assert_false(it_host_failed(&h, 3100, 4000));
    assert_false(h.probing);
    assert_true(h.down_since_ms == 1000 && h.next_try_ms == 7100);
    assert_false(it_host_may_send(&h, 7000, 60000, &wait));
    assert_true(it_host_may_send(&h, 7100, 60000, &wait));
    /* a probe lost (no answer ever seen) is given up after the timeout */
    assert_false(it_host_may_send(&h, 7200, 60000, &wait));
    assert_true(it_host_may_send(&h, 7100 + 60000, 60000, &wait));
    /* the answer: up, everybody resumes */
    assert_true(it_host_answered(&h));
    assert_false(it_host_answered(&h));
    assert_true(h.down_since_ms == 0 && !h.probing);
    for (int i = 0; i < 3; i++)
        assert_true(it_host_may_send(&h, 70000, 60000, &wait));
}

static void test_aimd_halving_growth_caps(void **state)
{
    (void)state;
    it_hoststate h;
    it_host_init(&h, 16, 40); /* --routines=16 --qps=40 */
    assert_int_equal(h.limit_in_flight, 16);
    assert_true(h.limit_rps == 40);
    /* a 429: halved; more 429s of the same burst: not halved again */
    it_host_throttled(&h, 10000);
    assert_int_equal(h.limit_in_flight, 8);
    assert_true(h.limit_rps == 20);
    it_host_throttled(&h, 10100);
    it_host_throttled(&h, 10900);
    assert_int_equal(h.limit_in_flight, 8);
    assert_true(h.limit_rps == 20);
    assert_int_equal(h.throttled, 3);
    /* a later one halves again, never below 1 */
    for (int i = 1; i <= 10; i++)
        it_host_throttled(&h, 10000 + i * 1000);
    assert_int_equal(h.limit_in_flight, 1);
    assert_true(h.limit_rps == 1);
    /* additive increase: +1 in flight per 8 successes */
    int64_t t = 30000;
    for (int i = 0; i < 7; i++)
        it_host_success(&h, t);
    assert_int_equal(h.limit_in_flight, 1);
    it_host_success(&h, t);
    assert_int_equal(h.limit_in_flight, 2);
    /* the rate: +10% per second of success */
    double r0 = h.limit_rps;
    it_host_success(&h, t + 1000);
    assert_true(fabs(h.limit_rps - r0 * 1.1) < 1e-9);
    /* ... never above the caps */
    for (int i = 0; i < 2000; i++)
        it_host_success(&h, t + 2000 + i * 1000);
    assert_int_equal(h.limit_in_flight, 16);
    assert_true(h.limit_rps == 40);
    /* a rate the server announces is taken, capped at --qps */
    it_host_set_rate(&h, 5);
    assert_true(h.limit_rps == 5);
    it_host_set_rate(&h, 500);
    assert_true(h.limit_rps == 40);
    it_host_set_rate(&h, 0); /* nonsense: ignored */
    assert_true(h.limit_rps == 40);
}

static void test_aimd_uncapped(void **state)
{
    (void)state;
    it_hoststate h;
    it_host_init(&h, 4, 0); /* --qps=0: no cap */
    assert_true(h.limit_rps == 0);
    /* 30 requests in one second, 50 in the next: a 429 then sets half of
     * what the last full second saw */
    for (int i = 0; i < 30; i++)
        it_host_request(&h, 1000 + i * 30);
    for (int i = 0; i < 50; i++)
        it_host_request(&h, 2000 + i * 19);
    it_host_request(&h, 3000);
    it_host_throttled(&h, 3001);
    assert_true(h.limit_rps == 25);
    assert_int_equal(h.limit_in_flight, 2);
    /* growth never stops at a cap of 0: back to unlimited eventually */
    for (int i = 1; i <= 200 && h.limit_rps > 0; i++)
        it_host_success(&h, 3001 + i * 1000);
    assert_true(h.limit_rps == 0);
    /* the server's rate applies even with no cap */
    it_host_set_rate(&h, 7);
    assert_true(h.limit_rps == 7);
}

static void test_ratelimit_headers_rate(void **state)
{
    (void)state;
    /* 30 left over the 10 s to the reset: 3/s */
    assert_true(fabs(it_ratelimit_rps(100, 30, 10) - 3.0) < 1e-9);
    /* only the limit: the limit over the window */
    assert_true(fabs(it_ratelimit_rps(60, -1, 60) - 1.0) < 1e-9);
    /* nothing left: one request when it resets, never below 0.1/s */
    assert_true(fabs(it_ratelimit_rps(100, 0, 5) - 0.2) < 1e-9);
    assert_true(fabs(it_ratelimit_rps(100, 0, 3600) - 0.1) < 1e-9);
    /* reset 0: the window is a second */
    assert_true(fabs(it_ratelimit_rps(-1, 7, 0) - 7.0) < 1e-9);
    /* not enough to tell */
    assert_true(it_ratelimit_rps(100, 30, -1) == 0);
    assert_true(it_ratelimit_rps(-1, -1, 10) == 0);
}

static void test_bucket_set_rate(void **state)
{
    (void)state;
    it_bucket *b = it_bucket_new(0, 0, fake_now, fake_sleep);
    assert_true(it_bucket_take(b, 100) == 0); /* unlimited */
    it_bucket_set_rate(b, 10);
    assert_true(it_bucket_rate(b) == 10);
    /* the one token left from before, then 1/rate each */
    double waited = 0;
    for (int i = 0; i < 30; i++)
        waited += it_bucket_take(b, 1);
    assert_near(waited, 2.9, 1e-6);
    it_bucket_set_rate(b, 0);
    assert_true(it_bucket_take(b, 1000) == 0);
    it_bucket_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_burst_is_immediate, reset_clock),
        cmocka_unit_test_setup(test_default_burst_is_one_second, reset_clock),
        cmocka_unit_test_setup(test_waits_add_up, reset_clock),
        cmocka_unit_test_setup(test_unlimited_never_waits, reset_clock),
        cmocka_unit_test_setup(test_refill_capped_at_burst, reset_clock),
        cmocka_unit_test_setup(test_threads_share_the_rate, reset_clock),
        cmocka_unit_test(test_real_clock),
        cmocka_unit_test(test_host_down_state_machine),
        cmocka_unit_test(test_aimd_halving_growth_caps),
        cmocka_unit_test(test_aimd_uncapped),
        cmocka_unit_test_setup(test_bucket_set_rate, reset_clock),
        cmocka_unit_test(test_ratelimit_headers_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
