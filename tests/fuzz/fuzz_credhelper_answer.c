/*
 * fuzz_credhelper_answer.c - it_credhelper_parse (src/credhelper.h) on a
 * credential helper's answer to `get`: the whole input is its stdout. A
 * login accepted holds no control byte (it becomes a request header) and
 * a username no ':'; an error message is never empty.
 */
#include "fuzz_common.h"

#include "credhelper.h"

static bool clean(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = malloc(size > 0 ? size : 1); /* exact size, no NUL */
    if (body == NULL)
        abort();
    if (size > 0)
        memcpy(body, data, size);
    it_helper_creds c;
    it_errbuf err = {{0}};
    if (it_credhelper_parse(body, size, "docker-credential-f", &c, &err) == 0) {
        if (c.identity_token) {
            FUZZ_CHECK(c.username == NULL && c.secret != NULL);
            FUZZ_CHECK(clean(c.secret));
        } else if (c.username != NULL) {
            FUZZ_CHECK(c.username[0] != '\0' && c.secret != NULL);
            FUZZ_CHECK(clean(c.username) && clean(c.secret));
            FUZZ_CHECK(strchr(c.username, ':') == NULL);
        } else {
            FUZZ_CHECK(c.secret == NULL);
        }
    } else {
        FUZZ_CHECK(err.msg[0] != '\0');
        FUZZ_CHECK(c.username == NULL && c.secret == NULL);
    }
    it_helper_creds_clear(&c);
    free(body);
    return 0;
}
