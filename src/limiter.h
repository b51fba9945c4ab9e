/*
 * limiter.h - token buckets: requests per second per registry host
 * (--qps) and one global byte rate for blob streams (--bandwidth).
 * Thread-safe; a caller over the rate sleeps just long enough.
 */
#ifndef IT_LIMITER_H
#define IT_LIMITER_H

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

#endif /* IT_LIMITER_H */
