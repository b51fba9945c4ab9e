/*
 * fuzz_manifest.c - reg_manifest_parse on a registry's answer. The input's
 * first line (up to the first '\n') is the Content-Type header value, the
 * rest the body (exact length); an empty first line is an empty header and
 * an input without a '\n' is a body without a Content-Type (NULL).
 */
#include "fuzz_common.h"

#include "registry.h"

static void check_descriptor(const reg_descriptor *d)
{
    FUZZ_CHECK(d->digest != NULL && reg_valid_digest(d->digest));
    FUZZ_CHECK(d->size >= -1);
#ifdef IT_FUZZ_HAVE_SIZE_RANGE
    FUZZ_CHECK(d->size <= ((int64_t)1 << 53));
#endif
#ifdef IT_FUZZ_HAVE_MEDIA_TYPE_CHECK
    FUZZ_CHECK(!fuzz_has_ctl(d->media_type));
#endif
    (void)strlen(d->platform != NULL ? d->platform : "");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *ct = NULL;
    const uint8_t *body = data;
    size_t len = size;
    const uint8_t *nl = size > 0 ? memchr(data, '\n', size) : NULL;
    if (nl != NULL) {
        ct = fuzz_strdup(data, (size_t)(nl - data));
        body = nl + 1;
        len = size - (size_t)(nl - data) - 1;
    }

    /* The parser must not depend on anything past len: give it an exact
     * copy so ASan sees any over-read. */
    uint8_t *copy = malloc(len > 0 ? len : 1);
    if (copy == NULL)
        abort();
    if (len > 0)
        memcpy(copy, body, len);

    reg_manifest *m = NULL;
    reg_error err;
    reg_error_clear(&err);
    int rc = reg_manifest_parse(&m, ct, copy, len, &err);
    if (rc == REG_OK) {
        FUZZ_CHECK(m != NULL);
        FUZZ_CHECK(m->len == len && memcmp(m->body, copy, len) == 0);
        char dg[REG_DIGEST_LEN + 1];
        reg_sha256_digest(dg, copy, len);
        FUZZ_CHECK(strcmp(dg, m->digest) == 0);
#ifdef IT_FUZZ_HAVE_MEDIA_TYPE_CHECK
        /* It becomes the Content-Type of the PUT (issue 10 item 1). */
        FUZZ_CHECK(!fuzz_has_ctl(m->media_type));
#endif
        (void)reg_manifest_kind_name(m->kind);
        if (reg_manifest_is_index(m))
            FUZZ_CHECK(m->n_blobs == 0);
        for (size_t i = 0; i < m->n_blobs; i++)
            check_descriptor(&m->blobs[i]);
        for (size_t i = 0; i < m->n_children; i++)
            check_descriptor(&m->children[i]);
        if (m->subject != NULL)
            check_descriptor(m->subject);
    } else {
        FUZZ_CHECK(m == NULL);
        FUZZ_CHECK(err.code == rc && err.msg[0] != '\0');
    }
    reg_manifest_free(m);
    free(copy);
    free(ct);
    return 0;
}
