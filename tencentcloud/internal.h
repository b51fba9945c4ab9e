/*
 * internal.h - what the files of the Tencent Cloud client share and
 * callers do not need.
 */
#ifndef TENCENTCLOUD_INTERNAL_H
#define TENCENTCLOUD_INTERNAL_H

#include "tencentcloud.h"

#include <pthread.h>

/* The client's clock (the `clock` option, else time()): Unix seconds. */
int64_t tc__client_now(tc_client *c);
/* The caps in force for one listing: lim's non-zero fields, else the
 * client's options, else TC_DEFAULT_MAX_ITEMS / TC_DEFAULT_MAX_PAGES. */
void tc__client_limits(const tc_client *c, const tc_list_limits *lim,
                       size_t *max_items, size_t *max_pages);

/* The per-action token buckets of one client (ratelimit.c). Thread-safe.
 * Times are the client's monotonic milliseconds. */
typedef struct tc__limiter tc__limiter;
int tc__limiter_new(tc__limiter **out); /* TC_OK or TC_ENOMEM */
void tc__limiter_free(tc__limiter *l);
/* Takes one call of `action` from its bucket; returns how long to wait
 * (ms) before sending it, 0 = now. Calls are queued in order: a caller
 * that must wait has its slot reserved. */
long tc__limiter_reserve(tc__limiter *l, const char *action, int64_t now_ms);
/* The API answered RequestLimitExceeded*: halves the action's rate (at
 * most once per 250 ms, down to 0.5/s); it grows back by a tenth of its
 * full rate per calm second, from 2 s after the halving. */
void tc__limiter_throttled(tc__limiter *l, const char *action, int64_t now_ms);
/* The action's current rate, calls/s (for tests). */
double tc__limiter_rate(tc__limiter *l, const char *action, int64_t now_ms);
/* The client's: its limiter's current rate for `action` at its monotonic
 * clock's now. */
double tc__client_action_rate(tc_client *c, const char *action);

#endif /* TENCENTCLOUD_INTERNAL_H */
