/*
 * fuzz_token.c - reg__token_parse (registry/internal.h) on a token
 * server's answer: the whole input is the body. Built only once the
 * function exists (tests/fuzz/CMakeLists.txt looks for it in internal.h).
 * expires_in is clamped to 10 s .. 24 h whatever the answer says, and an
 * issued_at is believed at most 24 h back: the refresh time stays within a
 * day of now, never an overflow.
 */
#include "fuzz_common.h"

#include <time.h>

#include "internal.h"

#define NOW ((time_t)1700000000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = malloc(size > 0 ? size : 1); /* exact size, no NUL */
    if (body == NULL)
        abort();
    if (size > 0)
        memcpy(body, data, size);

    char *token = NULL;
    time_t refresh_at = 0;
    reg_error err;
    reg_error_clear(&err);
    int rc = reg__token_parse(&token, &refresh_at, body, size, NOW, &err);
    if (rc == REG_OK) {
        FUZZ_CHECK(token != NULL && token[0] != '\0');
        /* It goes into an Authorization header. */
        FUZZ_CHECK(!fuzz_has_ctl(token));
        FUZZ_CHECK(refresh_at > NOW - 24 * 3600 &&
                   refresh_at <= NOW + 24 * 3600);
    } else {
        FUZZ_CHECK(rc < 0 && token == NULL && err.msg[0] != '\0');
    }
    free(token);
    free(body);
    return 0;
}
