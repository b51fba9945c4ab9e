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
