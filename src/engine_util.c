/*
 * engine_util.c - small helpers of the engine files: the strdup-or-NULL helper,
 * joining, a saturating add, the stop/abort tests and the retry policy (again).
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *eng_xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

char *eng_join2(const char *a, char sep, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 2);
    if (!s)
        return NULL;
    memcpy(s, a, la);
    s[la] = sep;
    memcpy(s + la + 1, b, lb + 1);
    return s;
}

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
    return (e->o.stop && *e->o.stop) || (e->o.abort && *e->o.abort) ||
           it_progress_stop_requested(e->o.progress);
}

bool eng_aborting(const it_engine *e)
{
    return e->o.abort && *e->o.abort;
}

/*
 * Retry policy for one request: transient errors are retried --retry
 * times with exponential backoff and jitter, honouring Retry-After.
 * Returns true when the caller should try again (after the sleep done
 * here).
 */
bool eng_again(it_engine *e, int rc, reg_error *err, int *attempt,
               const char *what)
{
    if (rc == 0 || !reg_error_retryable(rc) || *attempt >= e->o.retry ||
        eng_aborting(e))
        return false;
    double delay = 0.5 * (double)(1 << (*attempt < 6 ? *attempt : 6));
    delay *= 0.5 + (double)(rand() % 1000) / 1000.0; /* jitter */
    /* Retry-After counts only when this very answer was a 429 or 503: the
     * error struct is reused within a task. */
    if (err && err->retry_after > 0 &&
        (err->http_status == 429 || err->http_status == 503))
        delay = err->retry_after > 60 ? 60 : (double)err->retry_after;
    if (err) {
        /* consumed: a later transport error must not inherit it */
        err->retry_after = -1;
        err->http_status = 0;
    }
    (*attempt)++;
    log_warn("%s: %s; retry %d/%d in %.1fs", what, err ? err->msg : "",
             *attempt, e->o.retry, delay);
    if (e->o.sleep_fn)
        e->o.sleep_fn(e->o.sleep_payload, delay);
    else
        it_sleep(delay);
    return true;
}
