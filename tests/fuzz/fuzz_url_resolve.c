/*
 * fuzz_url_resolve.c - reg_url_resolve(base, ref): the input's first line
 * is the base URL, the rest (up to a NUL) the reference, as a Location or
 * Link target. Also resolves each against a fixed base, and the result
 * against itself (idempotence of an absolute URL is not promised, only
 * that nothing breaks).
 */
#include "fuzz_common.h"

#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *base = NULL, *ref = NULL;
    fuzz_split(data, size, &base, &ref);

    char *r1 = reg_url_resolve(base, ref);
    char *r2 =
        reg_url_resolve("http://127.0.0.1:5000/v2/x/blobs/uploads/", ref);
    char *r3 = reg_url_resolve(base, "/v2/");
    char *r4 = r1 != NULL ? reg_url_resolve(r1, "../x?y=1") : NULL;
    if (r1 != NULL)
        FUZZ_CHECK(strlen(r1) <= strlen(base) + strlen(ref) + 2);
    free(r1);
    free(r2);
    free(r3);
    free(r4);
    free(base);
    free(ref);
    return 0;
}
