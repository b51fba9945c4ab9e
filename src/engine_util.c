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

/*
 * One retry step for a request: whether the answer in rc/err is worth
 * another try under the policy (transient errors, --retry times, Retry-After
 * of a 429/503 honoured), and if so the backoff sleep. Returns true when
 * the caller should try again.
 */
bool eng_again(it_engine *e, int rc, reg_error *err, int *attempt,
               const char *what)
{
    int64_t delay_ms = 0;
    if (eng_aborting(e) ||
        !it_retry_reg(&e->policy, *attempt, rc, err, &delay_ms))
        return false;
    if (err) {
        /* consumed: a later transport error must not inherit it (the
         * error struct is reused within a task) */
        err->retry_after = -1;
        err->http_status = 0;
    }
    (*attempt)++;
    eng_count_retry();
    log_warn("%s: %s; retry %d/%d in %.1fs", what, err ? err->msg : "",
             *attempt, e->o.retry, (double)delay_ms / 1000.0);
    it_retry_sleep(&e->policy, delay_ms);
    return true;
}
