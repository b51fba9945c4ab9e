/*
 * fuzz_platform_filter.c - it_platform_filter_index (issue 14) on an index
 * body from a registry (the whole input), with a fixed filter: it returns
 * 0 or -1; what it keeps is a subset, written as JSON, and the platforms
 * it lists (shown in reports and logs) hold no control byte.
 */
#include "fuzz_common.h"

#include <jansson.h>

#include "platform.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *specs[] = {"linux/amd64,linux/arm64,linux/arm/v7",
                            "windows/amd64:10.0.17763", NULL};
    it_platform_set s;
    it_errbuf err;
    if (it_platform_set_parse(&s, specs, "--platforms", &err) != 0)
        abort();
    it_platform_filtered f;
    int rc = it_platform_filter_index(&f, data, size, &s, &err);
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc == 0) {
        FUZZ_CHECK(f.kept <= f.total);
        FUZZ_CHECK(f.platforms != NULL && !fuzz_has_ctl(f.platforms));
        if (f.body) {
            FUZZ_CHECK(f.kept > 0 && f.kept < f.total);
            json_t *j = json_loadb((const char *)f.body, f.len, 0, NULL);
            FUZZ_CHECK(j != NULL);
            FUZZ_CHECK(json_array_size(json_object_get(j, "manifests")) ==
                       f.kept);
            json_decref(j);
        }
    } else {
        FUZZ_CHECK(f.body == NULL && f.platforms == NULL);
    }
    it_platform_filtered_clear(&f);
    it_platform_set_free(&s);
    return 0;
}
