/*
 * fuzz_reference.c - reg_ref_parse on an image reference (the whole input,
 * as a C string), the formatter round trip (a parsed reference formats to
 * a string that parses to the same parts), and the validators on the same
 * bytes.
 */
#include "fuzz_common.h"

#include "registry.h"

static bool same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) ||
           (a != NULL && b != NULL && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strdup(data, size);
    reg_ref *r = NULL, *again = NULL;
    char *formatted = NULL, *repo = NULL;
    reg_error err;
    reg_error_clear(&err);

    bool tag_ok = reg_valid_tag(s);
    bool digest_ok = reg_valid_digest(s);
    bool path_ok = reg_valid_path(s);
    (void)reg_canonical_host(s);
    /* What the validators accept goes into URLs and headers. */
    if (tag_ok || digest_ok || path_ok)
        FUZZ_CHECK(!fuzz_has_ctl(s) && strchr(s, ' ') == NULL &&
                   strchr(s, '?') == NULL && strchr(s, '#') == NULL);
    if (tag_ok)
        FUZZ_CHECK(strchr(s, '/') == NULL && strlen(s) <= 128);
    if (digest_ok)
        FUZZ_CHECK(strlen(s) == REG_DIGEST_LEN);
    if (path_ok)
        FUZZ_CHECK(strstr(s, "..") == NULL && s[0] != '/');

    int rc = reg_ref_parse(&r, s, &err);
    if (rc != REG_OK) {
        FUZZ_CHECK(r == NULL && rc == REG_EINVAL && err.msg[0] != '\0');
        goto cleanup;
    }
    FUZZ_CHECK(r->domain != NULL && r->path != NULL);
    FUZZ_CHECK(reg_valid_path(r->path));
    FUZZ_CHECK(r->tag == NULL || reg_valid_tag(r->tag));
    FUZZ_CHECK(r->digest == NULL || reg_valid_digest(r->digest));
    FUZZ_CHECK(!fuzz_has_ctl(r->domain));

    formatted = reg_ref_format(r);
    repo = reg_ref_repo(r);
    FUZZ_CHECK(formatted != NULL && repo != NULL);
    rc = reg_ref_parse(&again, formatted, &err);
    FUZZ_CHECK(rc == REG_OK);
    FUZZ_CHECK(same(r->domain, again->domain) && same(r->path, again->path) &&
               same(r->tag, again->tag) && same(r->digest, again->digest));

cleanup:
    reg_ref_free(again);
    reg_ref_free(r);
    free(formatted);
    free(repo);
    free(s);
    return 0;
}
