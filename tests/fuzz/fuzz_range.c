/*
 * fuzz_range.c - the blob-resume header parsers on the whole input: the
 * Content-Range of a 206 answer and the Range of an upload session
 * (reg__content_range_parse, reg__upload_range_parse).
 */
#include "fuzz_common.h"

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *v = fuzz_strdup(data, size);
    int64_t first = -2, last = -2, total = -2, end = -2;
    const int64_t max = (int64_t)1 << 53;
    if (reg__content_range_parse(v, &first, &last, &total) == 0) {
        FUZZ_CHECK(first >= 0 && first <= last && last <= max);
        FUZZ_CHECK(total == -1 || (last < total && total <= max));
    } else {
        FUZZ_CHECK(first == -2 && last == -2 && total == -2);
    }
    if (reg__upload_range_parse(v, &end) == 0)
        FUZZ_CHECK(end >= 0 && end <= max);
    else
        FUZZ_CHECK(end == -2);
    free(v);
    return 0;
}
