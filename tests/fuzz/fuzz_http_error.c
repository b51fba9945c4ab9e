/*
 * fuzz_http_error.c - reg_error_from_http on a registry's error answer: the
 * first two input bytes pick the HTTP status (100..599), the rest is the
 * body (exact length, not NUL-terminated). The message must stay one
 * printable line within the reg_error, whatever the body holds.
 */
#include "fuzz_common.h"

#include "registry.h"

static void check(const reg_error *err, int rc)
{
    FUZZ_CHECK(err->code == rc && rc <= 0);
    FUZZ_CHECK(memchr(err->msg, '\0', sizeof(err->msg)) != NULL);
    FUZZ_CHECK(memchr(err->registry_code, '\0', sizeof(err->registry_code)) !=
               NULL);
    FUZZ_CHECK(!fuzz_has_ctl(err->msg));
    FUZZ_CHECK(!fuzz_has_ctl(err->registry_code));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long status = 404;
    if (size >= 2) {
        status = 100 + ((long)data[0] << 8 | data[1]) % 500;
        data += 2;
        size -= 2;
    }
    /* An exact-size copy: any read past `size` is an ASan report. */
    char *body = malloc(size > 0 ? size : 1);
    if (body == NULL)
        abort();
    if (size > 0)
        memcpy(body, data, size);

    reg_error err;
    reg_error_clear(&err);
    int rc = reg_error_from_http(&err, status, body, size, "GET manifest x:y");
    check(&err, rc);
    FUZZ_CHECK(err.http_status == status);
    (void)reg_error_retryable(rc);
    (void)reg_strerror(rc);

    /* No "what", and a caller that passes no reg_error. */
    reg_error_clear(&err);
    rc = reg_error_from_http(&err, status, body, size, NULL);
    check(&err, rc);
    (void)reg_error_from_http(NULL, status, body, size, "x");

    free(body);
    return 0;
}
