/*
 * clock.h - the program's one monotonic clock, its one sleep, and the one
 * way to turn a timeout into a pthread_cond_timedwait deadline.
 *
 * Everything in src/ that measures elapsed time or waits reads these.
 * Modules that need a test seam keep a function pointer that defaults to
 * it_now_mono / it_sleep (it_bucket_new, it_progress_new, it_retry_policy).
 * The libraries (registry/, tencentcloud/, tui/) keep at most one private
 * clock each: they may not depend on src/.
 */
#ifndef IT_CLOCK_H
#define IT_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Monotonic clock (CLOCK_MONOTONIC) in seconds. */
double it_now_mono(void);
/* The same in whole milliseconds. */
int64_t it_now_mono_ms(void);
/* Sleeps for seconds (fractional; <= 0 returns at once), restarting after
 * signals until the whole time has passed. */
void it_sleep(double seconds);
/* The same in milliseconds, for the retry policy's sleep seam. */
void it_sleep_ms(int64_t ms);
/* The CLOCK_REALTIME instant timeout_s seconds from now (<= 0: now), as
 * pthread_cond_timedwait wants it, with tv_nsec normalised. */
struct timespec it_deadline(double timeout_s);

#endif /* IT_CLOCK_H */
