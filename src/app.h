/*
 * app.h - one run of the program, after the command line is parsed:
 * config files, journal, engine, progress display, report. Split from
 * main() so the CCR -> TCR mode and tests share it.
 */
#ifndef IT_APP_H
#define IT_APP_H

#include "options.h"
#include "runctl.h"

enum {
    IT_EXIT_OK = 0,
    IT_EXIT_FAILED = 1,
    IT_EXIT_USAGE = 2,
    IT_EXIT_CLOUD_AUTH = 3,
    IT_EXIT_INTERRUPTED = 130
};

/* Runs the mode the options select under run control ctl (set by the
 * signal handler and the dashboard; borrowed). Returns an exit code. */
int it_app_run(const it_options *o, it_runctl *ctl);

#endif /* IT_APP_H */
