/*
 * fuzz_harbor_page.c - reg_harbor_page_parse on a Harbor API v2 listing
 * page (the whole input): whatever the server sends, every name handed on
 * is a valid repository path and the count is bounded by the page cap.
 */
#include "fuzz_common.h"

#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char **names = NULL;
    size_t n = 0;
    reg_error err = {0};
    int rc =
        reg_harbor_page_parse(&names, &n, (const char *)data, size, 100, &err);
    if (rc == 0) {
        FUZZ_CHECK(names != NULL && n <= 100 && names[n] == NULL);
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(reg_valid_path(names[i]));
    } else {
        FUZZ_CHECK(names == NULL && n == 0 &&
                   (rc == REG_ERR || rc == REG_ELIMIT || rc == REG_ENOMEM));
    }
    reg_strv_free(names);
    return 0;
}
