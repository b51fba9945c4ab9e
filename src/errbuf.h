/*
 * errbuf.h - the one-line error message every fallible function of the
 * program fills: "what failed: why" (file names, lines, hosts; never a
 * secret). A header of its own so a module can report errors without
 * pulling in the config loaders.
 */
#ifndef IT_ERRBUF_H
#define IT_ERRBUF_H

typedef struct it_errbuf {
    char msg[1024];
} it_errbuf;

#endif /* IT_ERRBUF_H */
