/*
 * retry.h - the program's one retry policy: whether a failed request is
 * tried again, and after how long. Exponential backoff (base * 2^(n-1),
 * capped) with equal or full jitter drawn from a per-thread generator (no
 * rand(): it is unseeded and shared by every thread), and a server's
 * Retry-After honoured (up to a cap) when the answer was a 429 or a 503.
 *
 * One policy per layer: src/ retries through this module only (the engine's
 * registry requests, the CCR planner's waits). The libraries may not depend
 * on src/, so each keeps at most one private backoff of the same shape:
 * tencentcloud/client.c backoff_ms() (equal jitter over min(max,
 * base * 2^(n-1)), per-client generator); registry/ has none (it never
 * retries by itself: the caller decides, with reg_error's retry_after and
 * http_status).
 *
 * A policy is a plain value: fill it in (or take it_retry_default) and
 * share it between threads freely; it is never written to. The defaults
 * read the calling thread's generator and sleep with it_sleep_ms; tests
 * inject a seeded generator and a sleep that only records.
 */
#ifndef IT_RETRY_H
#define IT_RETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry.h"
#include "tencentcloud.h"

/* A small pseudo-random generator (splitmix64): good enough for jitter,
 * never for secrets. */
typedef struct it_rng {
    uint64_t state;
} it_rng;

void it_rng_seed(it_rng *r, uint64_t seed);
uint64_t it_rng_next(it_rng *r);
/* Uniform in [0, n) (0 when n is 0). */
uint64_t it_rng_below(it_rng *r, uint64_t n);
/* The calling thread's generator, seeded on first use from getrandom()
 * (or, when that fails, from the clocks, the thread and a process-wide
 * counter, so two threads never share a sequence). */
it_rng *it_rng_thread(void);

typedef enum it_jitter {
    IT_JITTER_EQUAL = 0, /* d/2 + uniform [0, d/2]: never below half */
    IT_JITTER_FULL       /* uniform [0, d] */
} it_jitter;

typedef struct it_retry_policy {
    int max_retries;            /* retries after the first try; <= 0: none */
    int64_t base_ms;            /* d before retry 1 (then doubled) */
    int64_t cap_ms;             /* d never exceeds this (<= 0: base_ms) */
    int64_t retry_after_cap_ms; /* Retry-After honoured up to this; 0: not */
    it_jitter jitter;
    /* Seams. NULL: it_sleep_ms / the calling thread's generator. An
     * injected rng must not be shared by threads. */
    void (*sleep_ms)(void *ctx, int64_t ms);
    void *sleep_ctx;
    it_rng *rng;
    /* issue 15 (--retry-window): transient failures are also retried while
     * less than window_ms has passed since a request first failed (0: the
     * count alone). max_retries stays a lower bound on the retries. */
    int64_t window_ms;
} it_retry_policy;

/* The policy of the engine's registry requests: max_retries (--retry)
 * retries at least, equal jitter over 750 ms * 2^(n-1) capped at 30 s (so
 * retry n waits 0.375..0.75 s * 2^(n-1), never more than 30 s), Retry-After
 * of a 429/503 honoured up to 60 s; no window (the caller sets window_ms
 * from --retry-window). */
it_retry_policy it_retry_default(int max_retries);

/* The delay before retry number `retry` (1-based) from the backoff alone:
 * d = min(cap, base * 2^(retry-1)) without overflow, then jittered. */
int64_t it_retry_backoff_ms(const it_retry_policy *p, int retry);

/*
 * The decision after a failed attempt. retries_done: retries made so far
 * for this request (0 after the first try). transient: the failure may
 * pass (a timeout, a 5xx, a 429). http_status and retry_after_s (-1 when
 * absent) describe the answer, if any. Returns true with *delay_ms set
 * when the request should be tried again: the backoff, or the server's
 * Retry-After (when > 0, the answer was a 429 or 503 and the policy
 * honours it), capped at retry_after_cap_ms. Returns false when the
 * failure is not transient or the retries are used up.
 */
bool it_retry_next(const it_retry_policy *p, int retries_done, bool transient,
                   long http_status, long retry_after_s, int64_t *delay_ms);

/*
 * issue 15: it_retry_next within a time budget. elapsed_ms: time since the
 * request first failed (< 0: unknown, the count alone decides). A
 * transient failure is retried while retries_done < max_retries (the lower
 * bound) or while elapsed_ms < window_ms; a retry granted by the window
 * alone never sleeps past the window's end (the last try lands on it).
 */
bool it_retry_next_in(const it_retry_policy *p, int retries_done,
                      int64_t elapsed_ms, bool transient, long http_status,
                      long retry_after_s, int64_t *delay_ms);

/* Parses a --retry-window value: whole seconds "300", or with a unit
 * "300s", "5m", "1h" (a sum such as "1h30m" too); 0 turns the window off.
 * Returns the milliseconds, or -1 for anything else (no sign, no
 * fraction, at most 7 days). */
int64_t it_retry_parse_window(const char *s);

/* "5m0s", "30s", "1h2m3s": a window for messages (ms rounded down to s). */
void it_retry_format_window(char *out, size_t cap, int64_t ms);

/* it_retry_next for a registry call's result: rc 0 never retries,
 * reg_error_retryable(rc) is the transient test, err (may be NULL) gives
 * http_status and retry_after. */
bool it_retry_reg(const it_retry_policy *p, int retries_done, int rc,
                  const reg_error *err, int64_t *delay_ms);
/* The same within the window (elapsed_ms as for it_retry_next_in). */
bool it_retry_reg_in(const it_retry_policy *p, int retries_done,
                     int64_t elapsed_ms, int rc, const reg_error *err,
                     int64_t *delay_ms);
/* The same for a Tencent Cloud call: only TC_ERETRY is transient (the
 * client has already retried it itself; a caller that loops around a
 * tc_* call uses this). */
bool it_retry_tc(const it_retry_policy *p, int retries_done, int rc,
                 const tc_error *err, int64_t *delay_ms);

/* Sleeps delay_ms through the policy's sleep seam. */
void it_retry_sleep(const it_retry_policy *p, int64_t delay_ms);

#endif /* IT_RETRY_H */
