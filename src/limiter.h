/*
 * limiter.h - token buckets: requests per second per registry host
 * (--qps) and one global byte rate for blob streams (--bandwidth).
 * Thread-safe; a caller over the rate sleeps just long enough.
 */
#ifndef IT_LIMITER_H
#define IT_LIMITER_H

#include <stdbool.h>
#include <stdint.h>

#include "clock.h" /* it_now_mono, it_sleep: the defaults */

typedef struct it_bucket it_bucket;

/* rate units per second; burst = largest amount taken at once without
 * waiting (0 = one second's worth). rate <= 0 means unlimited (never
 * waits). now_fn/sleep_fn may be NULL for the real clock. */
it_bucket *it_bucket_new(double rate, double burst, double (*now_fn)(void),
                         void (*sleep_fn)(double seconds));
void it_bucket_free(it_bucket *b);
/* Takes n units, sleeping until they are available. Returns the seconds
 * waited. */
double it_bucket_take(it_bucket *b, double n);

/* issue 15: changes the rate of a bucket in use (<= 0: unlimited); the
 * burst follows (one second's worth, at least 1). */
void it_bucket_set_rate(it_bucket *b, double rate);
double it_bucket_rate(it_bucket *b);

/*
 * issue 15: one registry host's health and adaptive limits, as plain
 * state: the caller locks it and passes the monotonic time in ms (so
 * tests run it on a fake clock).
 *
 * Down: a transient failure without an answer marks the host down (since
 * when, next try after a backoff). While it is down, one request at a
 * time may probe it once the next try is due; the others wait. Any answer
 * brings it up again.
 *
 * Adaptive (AIMD): a 429 or 503 halves the in-flight limit and the rate
 * (at most once per second: a burst of 429s to requests already in
 * flight is one signal); while requests succeed the in-flight limit grows
 * by 1 per IT_AIMD_GROW_EVERY successes and the rate by 10% per second,
 * never above the caps (--routines, --qps). With no rate cap (--qps=0)
 * the rate is unlimited until the first 429/503, which sets it to half
 * the rate observed over the last second; it becomes unlimited again once
 * it grows past IT_AIMD_UNCAPPED_RPS. A rate the server announces
 * (RateLimit-* headers) is taken as is (capped).
 */
#define IT_AIMD_GROW_EVERY   8
#define IT_AIMD_UNCAPPED_RPS 30000.0

typedef struct it_hoststate {
    int64_t down_since_ms; /* 0: up */
    int64_t next_try_ms;   /* while down: when the next probe may go */
    int fails;             /* failures since it went down */
    bool probing;          /* a probe is out */
    int64_t probe_ms;      /* when it went out */

    int max_in_flight; /* the caps: --routines, --qps (0 = none) */
    double max_rps;
    int limit_in_flight;
    double limit_rps; /* 0: unlimited */
    long ok_streak;   /* successes since the in-flight limit changed */
    int64_t last_cut_ms, last_grow_ms;
    long throttled;           /* 429/503 answers */
    int64_t win_start_ms;     /* requests in the current second, */
    long win_count, last_rps; /* and in the last full one */
} it_hoststate;

void it_host_init(it_hoststate *h, int max_in_flight, double max_rps);
/* A request to the host goes out now (for the observed rate). */
void it_host_request(it_hoststate *h, int64_t now);
/* A transient failure without an answer (or 502/504): the host is down
 * (since now, unless it already was), next try after delay_ms; a probe
 * that failed is over. Returns true when it just went down. */
bool it_host_failed(it_hoststate *h, int64_t now, int64_t delay_ms);
/* An answer came: the host is up. Returns true when it was down. */
bool it_host_answered(it_hoststate *h);
/* Whether a request may go now: the host is up, or it is down, the next
 * try is due and no probe is out (this caller is then the probe). Else
 * false with *wait_ms: until the next try (or a poll while a probe is
 * out, at most 250 ms). A probe out for longer than probe_timeout_ms is
 * taken as lost (its thread ended without an answer). */
bool it_host_may_send(it_hoststate *h, int64_t now, int64_t probe_timeout_ms,
                      int64_t *wait_ms);
/* AIMD: a 429/503 answer; a success (2xx-4xx but 429); a rate announced
 * by the server (requests per second, > 0). */
void it_host_throttled(it_hoststate *h, int64_t now);
void it_host_success(it_hoststate *h, int64_t now);
void it_host_set_rate(it_hoststate *h, double rps);
/* The rate RateLimit headers allow (requests per second): what remains
 * over the seconds to the reset (at least 1 request per reset window,
 * 0.1/s at the least), else the limit over the reset; 0 when they do not
 * tell (no reset, or neither remaining nor limit). Values < 0: absent. */
double it_ratelimit_rps(long limit, long remaining, long reset_s);

#endif /* IT_LIMITER_H */
