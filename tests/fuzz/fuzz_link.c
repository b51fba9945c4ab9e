/*
 * fuzz_link.c - reg_link_next on a Link header value (the whole input), and
 * the next URL resolved against a registry base as api.c does.
 */
#include "fuzz_common.h"

#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *header = fuzz_strdup(data, size);
    char *next = NULL;
    int rc = reg_link_next(&next, header);
    if (rc == 0 && next != NULL) {
        FUZZ_CHECK(strlen(next) <= strlen(header));
        char *abs = reg_url_resolve("https://registry.example:5000/v2/a/b/"
                                    "tags/list?n=100",
                                    next);
        free(abs);
    } else if (rc != 0) {
        FUZZ_CHECK(rc == REG_EINVAL && next == NULL);
    }
    free(next);
    free(header);
    return 0;
}
