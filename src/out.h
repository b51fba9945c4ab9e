/*
 * out.h - the one writer of the program's standard output.
 *
 * Dry-run plan lines (engine workers), progress lines (the headless
 * printer) and the final summary are all written to the stream
 * it_out_file() returns; a thread of the writer's own is the only thread
 * that writes them to the destination, in the order they were written.
 * Lines are handed over whole (the stream is line-buffered and stdio's
 * stream lock serialises the writers), so lines never mix.
 */
#ifndef IT_OUT_H
#define IT_OUT_H

#include <stdio.h>

#include "errbuf.h"

typedef struct it_out it_out;

/* Starts the writer thread over dst (borrowed; stdout for the program).
 * Returns 0, or -1 with a message (then nothing was started). */
int it_out_open(it_out **out, FILE *dst, it_errbuf *err);
/* The stream to write to (valid until it_out_close). Thread-safe, like
 * any FILE. */
FILE *it_out_file(it_out *w);
/* Writes whatever is pending to dst, flushes it, stops the thread and
 * frees w (NULL is fine). Call once every writer is done. */
void it_out_close(it_out *w);

#endif /* IT_OUT_H */
