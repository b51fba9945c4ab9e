/*
 * util.h - tiny helpers shared by the program's own modules (src/).
 * Header-only, static inline: nothing here owns memory or state.
 */
#ifndef IT_UTIL_H
#define IT_UTIL_H

#include <stdarg.h>
#include <stdio.h>

#include "errbuf.h"

static inline void it_set_err(it_errbuf *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Formats the message into err->msg (truncated to fit); err may be NULL. */
static inline void it_set_err(it_errbuf *err, const char *fmt, ...)
{
    if (err == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

#endif /* IT_UTIL_H */
