/*
 * headless.h - progress output without a terminal UI: a progress line every
 * few seconds, and the final summary (also printed after the dashboard).
 */
#ifndef IT_HEADLESS_H
#define IT_HEADLESS_H

#include <stdio.h>

#include "progress_fmt.h"
#include "progress.h"

/* Prints it_progress_format_line() plus a newline to out every interval_s
 * seconds (<= 0 means 10) until the model's phase is IT_PHASE_DONE; the
 * phase is checked every 100 ms so this returns promptly. Runs in the
 * calling thread; writes nothing else. */
void it_headless_run(it_progress *p, int interval_s, FILE *out);

/* The final summary: the result in words, image, blob and byte totals,
 * elapsed time and average throughput, then the repositories with failed
 * images and their last error (at most 20, then "... and N more").
 * s should be an unfiltered snapshot. */
void it_summary_print(FILE *out, const it_snapshot *s);

#endif /* IT_HEADLESS_H */
