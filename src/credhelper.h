/*
 * credhelper.h - runs a Docker credential helper the way docker does:
 * `docker-credential-NAME get` found on PATH, the server address on its
 * stdin, a JSON answer {"ServerURL", "Username", "Secret"} on its stdout.
 *
 * What a helper prints is a secret: no message here ever holds a byte of
 * its stdout. Its stderr's first line may appear in a message, with every
 * control or non-ASCII byte replaced by '?'. The helper runs with the
 * user's environment, no shell, at most timeout_ms, and at most
 * IT_CREDHELPER_MAX_OUTPUT bytes of its stdout are read.
 */
#ifndef IT_CREDHELPER_H
#define IT_CREDHELPER_H

#include <stdbool.h>
#include <stddef.h>

#include "errbuf.h"

#define IT_CREDHELPER_TIMEOUT_MS 10000
#define IT_CREDHELPER_MAX_OUTPUT (64 * 1024)
/* The Username a helper answers when Secret is an identity token. */
#define IT_CREDHELPER_TOKEN_USER "<token>"

typedef struct it_helper_creds {
    char *username;      /* NULL: the helper has nothing for the server */
    char *secret;        /* the password, or the identity token */
    bool identity_token; /* Username was "<token>" (username is NULL) */
} it_helper_creds;

/* Parses the answer to `get` (len bytes, need not be NUL-terminated).
 * Returns 0 with out filled (out->username NULL and out->identity_token
 * false when the Username is empty: nothing stored for the server), or -1
 * with err for: not a JSON object, Username or Secret not a string, a
 * Username or Secret holding a control byte (it would become a request
 * header), a Username holding ':' (it would break user:password). helper
 * is the program name, for messages. */
int it_credhelper_parse(const char *buf, size_t len, const char *helper,
                        it_helper_creds *out, it_errbuf *err);

/* Runs docker-credential-<name> get for server. Returns 0 with out filled
 * as it_credhelper_parse does (a helper that exits non-zero printing
 * "credentials not found in native keychain" has nothing: 0, username
 * NULL), or -1 with err: a name that is empty or holds '/' or a control
 * byte, the program not on PATH ("docker-credential-NAME not found on
 * PATH"), a non-zero exit or a signal (with the first line of its stderr),
 * no answer within timeout_ms (it is killed), more than
 * IT_CREDHELPER_MAX_OUTPUT bytes on stdout (it is killed), an answer that
 * does not parse. Ignore SIGPIPE before calling (main.c does). */
int it_credhelper_get(const char *name, const char *server, int timeout_ms,
                      it_helper_creds *out, it_errbuf *err);

/* Wipes and frees the strings of c (c itself is not freed; NULL ok). */
void it_helper_creds_clear(it_helper_creds *c);

#endif /* IT_CREDHELPER_H */
