/*
 * fuzz_challenge.c - reg_challenge_parse on a WWW-Authenticate header
 * value (the whole input, as a C string).
 */
#include "fuzz_common.h"

#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *header = fuzz_strdup(data, size);
    reg_challenge *c = NULL;
    reg_error err;
    reg_error_clear(&err);
    int rc = reg_challenge_parse(&c, header, &err);
    if (rc == REG_OK) {
        FUZZ_CHECK(c != NULL && c->scheme != NULL && c->scheme[0] != '\0');
        /* Every field is a whole C string no longer than the header. */
        size_t n = strlen(header);
        const char *f[] = {c->scheme, c->realm, c->service, c->scope, c->error};
        for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
            FUZZ_CHECK(f[i] == NULL || strlen(f[i]) <= n);
    } else {
        FUZZ_CHECK(c == NULL && err.code == rc);
    }
    reg_challenge_free(c);
    free(header);
    return 0;
}
