/* limiter.c - token buckets for --qps and --bandwidth. */
#include "limiter.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>

struct it_bucket {
    pthread_mutex_t lock;
    double rate;
    double burst;
    double tokens; /* may go negative: a debt later callers wait out */
    double last;
    double (*now)(void);
    void (*sleep)(double);
};

it_bucket *it_bucket_new(double rate, double burst, double (*now_fn)(void),
                         void (*sleep_fn)(double seconds))
{
    it_bucket *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    pthread_mutex_init(&b->lock, NULL);
    b->rate = rate;
    b->burst = burst > 0 ? burst : (rate > 0 ? rate : 1);
    b->now = now_fn ? now_fn : it_now_mono;
    b->sleep = sleep_fn ? sleep_fn : it_sleep;
    b->tokens = b->burst;
    b->last = b->now();
    return b;
}

void it_bucket_free(it_bucket *b)
{
    if (!b)
        return;
    pthread_mutex_destroy(&b->lock);
    free(b);
}

double it_bucket_take(it_bucket *b, double n)
{
    if (!b || b->rate <= 0)
        return 0;
    /* Reserve under the lock, sleep outside it: each caller waits for its
     * own share of the debt, so concurrent callers queue fairly. */
    pthread_mutex_lock(&b->lock);
    double now = b->now();
    b->tokens = fmin(b->burst, b->tokens + (now - b->last) * b->rate);
    b->last = now;
    b->tokens -= n;
    double wait = b->tokens < 0 ? -b->tokens / b->rate : 0;
    pthread_mutex_unlock(&b->lock);
    if (wait > 0)
        b->sleep(wait);
    return wait;
}

void it_bucket_set_rate(it_bucket *b, double rate)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->lock);
    double now = b->now();
    if (b->rate > 0) /* settle what the old rate earned */
        b->tokens = fmin(b->burst, b->tokens + (now - b->last) * b->rate);
    b->last = now;
    b->rate = rate;
    b->burst = rate > 1 ? rate : 1;
    if (b->tokens > b->burst)
        b->tokens = b->burst;
    pthread_mutex_unlock(&b->lock);
}

double it_bucket_rate(it_bucket *b)
{
    if (!b)
        return 0;
    pthread_mutex_lock(&b->lock);
    double r = b->rate;
    pthread_mutex_unlock(&b->lock);
    return r;
}

/* ------------------------------------------------ host state (issue 15) */

void it_host_init(it_hoststate *h, int max_in_flight, double max_rps)
{
    *h = (it_hoststate){0};
    h->max_in_flight = max_in_flight > 0 ? max_in_flight : 1;
    h->max_rps = max_rps > 0 ? max_rps : 0;
    h->limit_in_flight = h->max_in_flight;
    h->limit_rps = h->max_rps;
}

void it_host_request(it_hoststate *h, int64_t now)
{
    if (now - h->win_start_ms >= 1000) {
        /* a gap of more than a second: the last second saw nothing */
        h->last_rps = now - h->win_start_ms < 2000 ? h->win_count : 0;
        h->win_start_ms = now;
        h->win_count = 0;
    }
    h->win_count++;
}

bool it_host_failed(it_hoststate *h, int64_t now, int64_t delay_ms)
{
    bool went_down = h->down_since_ms == 0;
    if (went_down) {
        h->down_since_ms = now > 0 ? now : 1;
        h->fails = 0;
    }
    h->fails++;
    h->probing = false;
    int64_t next = now + (delay_ms > 0 ? delay_ms : 0);
    if (went_down || next > h->next_try_ms)
        h->next_try_ms = next;
    return went_down;
}

bool it_host_answered(it_hoststate *h)
{
    bool was_down = h->down_since_ms != 0;
    h->down_since_ms = 0;
    h->next_try_ms = 0;
    h->fails = 0;
    h->probing = false;
    return was_down;
}

bool it_host_may_send(it_hoststate *h, int64_t now, int64_t probe_timeout_ms,
                      int64_t *wait_ms)
{
    *wait_ms = 0;
    if (h->down_since_ms == 0)
        return true;
    if (h->probing && probe_timeout_ms > 0 &&
        now - h->probe_ms >= probe_timeout_ms)
        h->probing = false; /* lost: its thread never saw an answer */
    if (!h->probing && now >= h->next_try_ms) {
        h->probing = true;
        h->probe_ms = now;
        return true;
    }
    int64_t w = h->probing ? 250 : h->next_try_ms - now;
    *wait_ms = w < 1 ? 1 : (w > 250 ? 250 : w);
    return false;
}

void it_host_throttled(it_hoststate *h, int64_t now)
{
    h->throttled++;
    h->ok_streak = 0;
    h->last_grow_ms = now;
    if (h->last_cut_ms != 0 && now - h->last_cut_ms < 1000)
        return; /* the same burst */
    h->last_cut_ms = now > 0 ? now : 1;
    h->limit_in_flight =
        h->limit_in_flight / 2 > 1 ? h->limit_in_flight / 2 : 1;
    double rate = h->limit_rps;
    if (rate <= 0) /* unlimited so far: start from what was observed */
        rate =
            (double)(h->last_rps > h->win_count ? h->last_rps : h->win_count);
    rate /= 2;
    h->limit_rps = rate < 1 ? 1 : rate;
}

void it_host_success(it_hoststate *h, int64_t now)
{
    if (++h->ok_streak >= IT_AIMD_GROW_EVERY) {
        h->ok_streak = 0;
        if (h->limit_in_flight < h->max_in_flight)
            h->limit_in_flight++;
    }
    if (h->limit_rps <= 0) {
        h->last_grow_ms = now;
        return; /* unlimited */
    }
    if (h->last_grow_ms == 0)
        h->last_grow_ms = now;
    while (now - h->last_grow_ms >= 1000 && h->limit_rps > 0) {
        h->last_grow_ms += 1000;
        h->limit_rps *= 1.1;
        if (h->max_rps > 0 && h->limit_rps >= h->max_rps)
            h->limit_rps = h->max_rps;
        else if (h->max_rps <= 0 && h->limit_rps >= IT_AIMD_UNCAPPED_RPS)
            h->limit_rps = 0; /* back to no cap */
        if (h->limit_rps == h->max_rps)
            break;
    }
}

void it_host_set_rate(it_hoststate *h, double rps)
{
    if (!(rps > 0))
        return;
    if (h->max_rps > 0 && rps > h->max_rps)
        rps = h->max_rps;
    h->limit_rps = rps < 0.1 ? 0.1 : rps;
}

double it_ratelimit_rps(long limit, long remaining, long reset_s)
{
    if (reset_s < 0 || (limit < 0 && remaining < 0))
        return 0;
    double window = reset_s > 0 ? (double)reset_s : 1;
    double n = remaining >= 0 ? (double)remaining : (double)limit;
    if (n < 1)
        n = 1; /* nothing left: one request when the window resets */
    double r = n / window;
    return r < 0.1 ? 0.1 : r;
}
