/*
 * ratelimit.c - the client's per-action token buckets: each action's
 * documented rate, halved for a while after a RequestLimitExceeded answer
 * and grown back while the API stays calm.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The documented rate of each action the client calls: "默认接口请求频率
 * 限制 N次/秒" on each action's page of the TCR API reference (tcr /
 * 2019-09-24, cloud.tencent.com/document/api/1141, the "API 概览" table:
 * "频率限制(次/秒)"). The limit is per action, region and sub-account.
 * An action not listed here gets TC_DEFAULT_ACTION_RATE (20/s): the rate
 * the reference gives most TCR actions; it is not documented for it.
 */
static const struct {
    const char *action;
    double rate;
} documented[] = {
    {"DescribeNamespacePersonal", 20}, {"DescribeRepositoryOwnerPersonal", 100},
    {"DescribeImagePersonal", 100},    {"DescribeInstances", 100},
    {"DescribeNamespaces", 100},       {"CreateNamespace", 20},
    {"DescribeRepositories", 100},     {"DescribeImages", 100},
    {"CreateInstanceToken", 100},
};

double tc_action_rate(const char *action)
{
    for (size_t i = 0;
         action != NULL && i < sizeof(documented) / sizeof(documented[0]); i++)
        if (strcmp(documented[i].action, action) == 0)
            return documented[i].rate;
    return TC_DEFAULT_ACTION_RATE;
}

/*
 * One bucket. The client keeps to 90% of the documented rate N with a
 * burst of N/10 calls (at least 1): in any one-second window it sends at
 * most N/10 + 0.9 N = N calls, whether the server counts in a sliding
 * window, in fixed seconds or with a bucket of its own.
 */
#define STEADY_SHARE   0.9
#define BURST_SHARE    0.1
#define MIN_RATE       0.5  /* calls/s: the floor of the halving */
#define HALVE_EVERY_MS 250  /* one halving per 250 ms, however many answers */
#define GROW_EVERY_MS  1000 /* +GROW_SHARE of the full rate per calm second */
#define GROW_SHARE     0.1
#define MAX_BUCKETS    64 /* more distinct actions share one more */

typedef struct bucket {
    char action[64];
    double full;   /* steady rate when calm, calls/s */
    double rate;   /* current rate, calls/s */
    double burst;  /* at full rate; scaled with rate */
    double tokens; /* may go negative: calls reserved ahead */
    int64_t last_ms;
    int64_t changed_ms; /* last halving or growth step */
    int64_t halved_ms;
    bool ever_halved;
} bucket;

struct tc__limiter {
    pthread_mutex_t lock;
    bucket v[MAX_BUCKETS];
    size_t n;
    bucket other; /* past MAX_BUCKETS actions, or an over-long name */
};

int tc__limiter_new(tc__limiter **out)
{
    tc__limiter *l = calloc(1, sizeof(*l));
    *out = NULL;
    if (l == NULL)
        return TC_ENOMEM;
    if (pthread_mutex_init(&l->lock, NULL) != 0) {
        free(l);
        return TC_ENOMEM;
    }
    *out = l;
    return TC_OK;
}

void tc__limiter_free(tc__limiter *l)
{
    if (l == NULL)
        return;
    pthread_mutex_destroy(&l->lock);
    free(l);
}

static double burst_at(const bucket *b)
{
    double burst = b->burst * b->rate / b->full;
    return burst < 1.0 ? 1.0 : burst;
}

/* The bucket of `action`, made on first use. Called with the lock held. */
static bucket *find(tc__limiter *l, const char *action, int64_t now_ms)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].action, action) == 0)
            return &l->v[i];
    bucket *b;
    double doc;
    if (l->n == MAX_BUCKETS || strlen(action) >= sizeof(l->v[0].action)) {
        b = &l->other;
        if (b->full > 0.0)
            return b;
        doc = TC_DEFAULT_ACTION_RATE;
    } else {
        b = &l->v[l->n++];
        snprintf(b->action, sizeof(b->action), "%s", action);
        doc = tc_action_rate(action);
    }
    b->full = doc * STEADY_SHARE;
    b->rate = b->full;
    b->burst = doc * BURST_SHARE < 1.0 ? 1.0 : doc * BURST_SHARE;
    b->tokens = b->burst;
    b->last_ms = now_ms;
    b->changed_ms = now_ms;
    return b;
}

/* Refills b to now_ms and grows its rate back after calm seconds. */
static void refill(bucket *b, int64_t now_ms)
{
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * b->rate / 1000.0;
        b->last_ms = now_ms;
    }
    if (b->rate < b->full && now_ms >= b->changed_ms + GROW_EVERY_MS) {
        int64_t steps = (now_ms - b->changed_ms) / GROW_EVERY_MS;
        b->rate += (double)steps * b->full * GROW_SHARE;
        if (b->rate > b->full)
            b->rate = b->full;
        b->changed_ms += steps * GROW_EVERY_MS;
    }
    double cap = burst_at(b);
    if (b->tokens > cap)
        b->tokens = cap;
}

long tc__limiter_reserve(tc__limiter *l, const char *action, int64_t now_ms)
{
    long wait = 0;
    pthread_mutex_lock(&l->lock);
    bucket *b = find(l, action, now_ms);
    refill(b, now_ms);
    b->tokens -= 1.0;
    if (b->tokens < 0.0) {
        double ms = -b->tokens * 1000.0 / b->rate; /* rounded up */
        wait = (long)ms + ((double)(long)ms < ms ? 1 : 0);
    }
    pthread_mutex_unlock(&l->lock);
    return wait;
}

void tc__limiter_throttled(tc__limiter *l, const char *action, int64_t now_ms)
{
    pthread_mutex_lock(&l->lock);
    bucket *b = find(l, action, now_ms);
    refill(b, now_ms);
    if (!b->ever_halved || now_ms - b->halved_ms >= HALVE_EVERY_MS) {
        b->rate = b->rate / 2.0 < MIN_RATE ? MIN_RATE : b->rate / 2.0;
        b->halved_ms = now_ms;
        /* growth starts after a calm second: the first step comes 2 s
         * after the halving */
        b->changed_ms = now_ms + GROW_EVERY_MS;
        b->ever_halved = true;
        double cap = burst_at(b);
        if (b->tokens > cap)
            b->tokens = cap;
    }
    pthread_mutex_unlock(&l->lock);
}

double tc__limiter_rate(tc__limiter *l, const char *action, int64_t now_ms)
{
    pthread_mutex_lock(&l->lock);
    bucket *b = find(l, action, now_ms);
    refill(b, now_ms);
    double r = b->rate;
    pthread_mutex_unlock(&l->lock);
    return r;
}
