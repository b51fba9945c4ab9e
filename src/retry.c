/* retry.c - the program's one retry policy (see retry.h). */
#include "retry.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "clock.h"

/* ------------------------------------------------------------ generator */

void it_rng_seed(it_rng *r, uint64_t seed)
{
    r->state = seed;
}

uint64_t it_rng_next(it_rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t it_rng_below(it_rng *r, uint64_t n)
{
    if (n == 0)
        return 0;
    /* Rejection keeps it uniform: drop the top partial block. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t v;
    do {
        v = it_rng_next(r);
    } while (v >= limit);
    return v % n;
}

static _Thread_local it_rng tl_rng;
static _Thread_local bool tl_seeded;
static atomic_uint_fast64_t seed_counter;

static uint64_t fallback_seed(void)
{
    struct timespec mono, real;
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &real);
    it_rng mix;
    it_rng_seed(&mix, (uint64_t)mono.tv_nsec ^ ((uint64_t)mono.tv_sec << 32));
    uint64_t s = it_rng_next(&mix) ^ (uint64_t)real.tv_nsec ^
                 (uint64_t)real.tv_sec ^ (uint64_t)(uintptr_t)&tl_rng;
    s ^= (uint64_t)pthread_self();
    s ^= atomic_fetch_add(&seed_counter, 1) * 0xd1b54a32d192ed03ULL;
    return s;
}

it_rng *it_rng_thread(void)
{
    if (!tl_seeded) {
        uint64_t seed = 0;
        if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) !=
            (ssize_t)sizeof seed)
            seed = fallback_seed();
        it_rng_seed(&tl_rng, seed);
        tl_seeded = true;
    }
    return &tl_rng;
}

/* --------------------------------------------------------------- policy */

it_retry_policy it_retry_default(int max_retries)
{
    it_retry_policy p = {
        .max_retries = max_retries,
        .base_ms = 750,
        .cap_ms = 30000,
        .retry_after_cap_ms = 60000,
        .jitter = IT_JITTER_EQUAL,
    };
    return p;
}

int64_t it_retry_backoff_ms(const it_retry_policy *p, int retry)
{
    int64_t base = p->base_ms > 0 ? p->base_ms : 0;
    int64_t cap = p->cap_ms > 0 ? p->cap_ms : base;
    int64_t d = base < cap ? base : cap;
    for (int i = 1; i < retry && d < cap; i++)
        d = d > cap / 2 ? cap : d * 2;
    if (d <= 0)
        return 0;
    it_rng *rng = p->rng ? p->rng : it_rng_thread();
    if (p->jitter == IT_JITTER_FULL)
        return (int64_t)it_rng_below(rng, (uint64_t)d + 1);
    int64_t half = d / 2;
    return half + (int64_t)it_rng_below(rng, (uint64_t)(d - half) + 1);
}

bool it_retry_next_in(const it_retry_policy *p, int retries_done,
                      int64_t elapsed_ms, bool transient, long http_status,
                      long retry_after_s, int64_t *delay_ms)
{
    *delay_ms = 0;
    if (!transient || retries_done < 0)
        return false;
    bool by_count = retries_done < p->max_retries;
    bool by_window =
        p->window_ms > 0 && elapsed_ms >= 0 && elapsed_ms < p->window_ms;
    if (!by_count && !by_window)
        return false;
    int64_t delay = it_retry_backoff_ms(p, retries_done + 1);
    if (retry_after_s > 0 && p->retry_after_cap_ms > 0 &&
        (http_status == 429 || http_status == 503)) {
        int64_t cap = p->retry_after_cap_ms;
        delay = retry_after_s >= cap / 1000 + 1 ? cap
                                                : (int64_t)retry_after_s * 1000;
        if (delay > cap)
            delay = cap;
    }
    if (!by_count && delay > p->window_ms - elapsed_ms)
        delay = p->window_ms - elapsed_ms;
    *delay_ms = delay;
    return true;
}

bool it_retry_next(const it_retry_policy *p, int retries_done, bool transient,
                   long http_status, long retry_after_s, int64_t *delay_ms)
{
    return it_retry_next_in(p, retries_done, -1, transient, http_status,
                            retry_after_s, delay_ms);
}

int64_t it_retry_parse_window(const char *s)
{
    static const struct {
        char unit;
        int64_t ms;
    } units[] = {{'h', 3600000}, {'m', 60000}, {'s', 1000}};
    const int64_t max_ms = 7LL * 24 * 3600000;
    if (s == NULL || *s == '\0')
        return -1;
    int64_t total = 0;
    size_t next_unit = 0; /* units in order, each at most once */
    const char *q = s;
    while (*q) {
        if (*q < '0' || *q > '9')
            return -1;
        int64_t n = 0;
        while (*q >= '0' && *q <= '9') {
            n = n * 10 + (*q - '0');
            if (n > max_ms)
                return -1;
            q++;
        }
        if (*q == '\0') {
            if (next_unit != 0)
                return -1; /* a bare number only alone: "300", not "1h30" */
            total = n * 1000;
            break;
        }
        size_t u = next_unit;
        while (u < 3 && units[u].unit != *q)
            u++;
        if (u == 3)
            return -1;
        total += n * units[u].ms;
        if (total > max_ms)
            return -1;
        next_unit = u + 1;
        q++;
    }
    return total > max_ms ? -1 : total;
}

void it_retry_format_window(char *out, size_t cap, int64_t ms)
{
    int64_t s = ms > 0 ? ms / 1000 : 0;
    int64_t h = s / 3600, m = s / 60 % 60;
    s %= 60;
    if (h > 0)
        snprintf(out, cap, "%lldh%lldm%llds", (long long)h, (long long)m,
                 (long long)s);
    else if (m > 0)
        snprintf(out, cap, "%lldm%llds", (long long)m, (long long)s);
    else
        snprintf(out, cap, "%llds", (long long)s);
}

bool it_retry_reg(const it_retry_policy *p, int retries_done, int rc,
                  const reg_error *err, int64_t *delay_ms)
{
    *delay_ms = 0;
    if (rc == 0)
        return false;
    return it_retry_next(p, retries_done, reg_error_retryable(rc),
                         err ? err->http_status : 0,
                         err ? err->retry_after : -1, delay_ms);
}

bool it_retry_reg_in(const it_retry_policy *p, int retries_done,
                     int64_t elapsed_ms, int rc, const reg_error *err,
                     int64_t *delay_ms)
{
    *delay_ms = 0;
    if (rc == 0)
        return false;
    return it_retry_next_in(p, retries_done, elapsed_ms,
                            reg_error_retryable(rc), err ? err->http_status : 0,
                            err ? err->retry_after : -1, delay_ms);
}

bool it_retry_tc(const it_retry_policy *p, int retries_done, int rc,
                 const tc_error *err, int64_t *delay_ms)
{
    *delay_ms = 0;
    if (rc == TC_OK)
        return false;
    return it_retry_next(p, retries_done, rc == TC_ERETRY,
                         err ? err->http_status : 0, -1, delay_ms);
}

void it_retry_sleep(const it_retry_policy *p, int64_t delay_ms)
{
    if (p->sleep_ms)
        p->sleep_ms(p->sleep_ctx, delay_ms);
    else
        it_sleep_ms(delay_ms);
}
