/*
 * engine_util.c - small helpers of the engine files: a saturating add, the
 * stop/abort tests (the run control) and the retry step (again), which
 * applies the program's retry policy (src/retry.h).
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* *a += d, clamped to the int64 range; returns the new value. */
int64_t eng_add_sat(atomic_llong *a, int64_t d)
{
    long long old = atomic_load(a), sum;
    do {
        sum = it_add_sat(old, d);
    } while (!atomic_compare_exchange_weak(a, &old, sum));
    return sum;
}

bool eng_stopping(const it_engine *e)
{
    return e->o.ctl && it_runctl_stopping(e->o.ctl);
}

bool eng_aborting(const it_engine *e)
{
    return e->o.ctl && it_runctl_aborting(e->o.ctl);
}

/* issue 15: when this thread's request first failed (its retry step 0),
 * for the window of --retry-window. */
static _Thread_local int64_t first_fail_ms;

/* Appends "; registry HOST unreachable for 5m0s (--retry-window)". */
static void unreachable_msg(const it_engine *e, reg_error *err,
                            const char *host)
{
    if (!err)
        return;
    char w[32], tail[400];
    it_retry_format_window(w, sizeof(w), e->o.retry_window_ms);
    snprintf(tail, sizeof(tail),
             "; registry %s unreachable for %s "
             "(--retry-window)",
             host, w);
    size_t n = strlen(err->msg);
    snprintf(err->msg + n, sizeof(err->msg) - n, "%s", tail);
}

/*
 * One retry step for a request: whether the answer in rc/err is worth
 * another try under the policy (transient errors, at least --retry times
 * and for --retry-window since the request first failed, Retry-After of a
 * 429/503 honoured), and if so the wait: the backoff, or, when the
 * request's host is down (issue 15), until it answers or this worker is
 * the one probe. Returns true when the caller should try again.
 */
bool eng_again(it_engine *e, int rc, reg_error *err, int *attempt,
               const char *what)
{
    int64_t delay_ms = 0;
    if (eng_aborting(e) || rc == 0)
        return false;
    int64_t now = eng_now_ms(e);
    if (*attempt == 0)
        first_fail_ms = now;
    int64_t elapsed = now - first_fail_ms;
    /* a request that started during an outage gets what is left of the
     * outage's window, not a window of its own */
    int64_t down = eng_host_down_for(e);
    if (down > elapsed)
        elapsed = down;
    bool within =
        it_retry_reg_in(&e->policy, *attempt, elapsed, rc, err, &delay_ms);
    if (!within) {
        char host[264];
        int64_t down_ms = 0;
        /* past the window with the host down: say so (no wait: the
         * deadline is now) */
        if (!reg_error_retryable(rc))
            eng_host_forget(); /* not a sign of the host being down */
        else if (eng_host_wait(e, err, now, host, sizeof(host), &down_ms) < 0 &&
                 down_ms > 0)
            unreachable_msg(e, err, host);
        return false;
    }
    if (err) {
        /* consumed: a later transport error must not inherit it (the
         * error struct is reused within a task) */
        err->retry_after = -1;
        err->http_status = 0;
    }
    (*attempt)++;
    eng_count_retry();
    if (*attempt <= e->o.retry)
        log_warn("%s: %s; retry %d/%d in %.1fs", what, err ? err->msg : "",
                 *attempt, e->o.retry, (double)delay_ms / 1000.0);
    else
        log_warn("%s: %s; retry %d in %.1fs (--retry-window)", what,
                 err ? err->msg : "", *attempt, (double)delay_ms / 1000.0);
    /* the host down: wait for it until the window's end (at least the
     * backoff, so --retry keeps its count) */
    int64_t deadline = now + delay_ms;
    if (e->o.retry_window_ms > 0 &&
        now + (e->o.retry_window_ms - elapsed) > deadline)
        deadline = now + (e->o.retry_window_ms - elapsed);
    char host[264];
    int64_t down_ms = 0;
    int w = eng_host_wait(e, err, deadline, host, sizeof(host), &down_ms);
    if (w == 0) {
        it_retry_sleep(&e->policy, delay_ms);
    } else if (w < 0) {
        if (eng_aborting(e))
            return false;
        if (*attempt > e->o.retry) {
            unreachable_msg(e, err, host);
            return false;
        }
        /* within --retry: one more try anyway */
    }
    return true;
}

int eng_head_source(it_engine *e, it_regclient *c, const char *repo,
                    const char *ref, const char *expect,
                    char digest_out[REG_DIGEST_LEN + 1], reg_error *err)
{
    int rc, attempt = 0;
    do {
        rc = expect && e->ops.manifest_head_if
                 ? e->ops.manifest_head_if(e->ops.self, c, repo, ref, expect,
                                           digest_out, err)
                 : e->ops.manifest_head(e->ops.self, c, repo, ref, digest_out,
                                        err);
    } while (eng_again(e, rc, err, &attempt, "check source"));
    return rc;
}
