/*
 * app.h - one run of the program, after the command line is parsed:
 * config files, journal, engine, progress display, report. Split from
 * main() so the CCR -> TCR mode and tests share it.
 */
#ifndef IT_APP_H
#define IT_APP_H

#include <stdatomic.h>

#include "options.h"

enum {
    IT_EXIT_OK = 0,
    IT_EXIT_FAILED = 1,
    IT_EXIT_USAGE = 2,
    IT_EXIT_CLOUD_AUTH = 3,
    IT_EXIT_INTERRUPTED = 130
};

/* Flags raised by signals: stop starting work / abort what is in flight. */
typedef struct it_run_ctl {
    atomic_int *stop;
    atomic_int *abort;
} it_run_ctl;

/* Runs the mode the options select. Returns an exit code. */
int it_app_run(const it_options *o, const it_run_ctl *ctl);

#endif /* IT_APP_H */
