/*
 * fuzz_referrers_index.c - reg_referrers_parse_index on an OCI image index
 * (the whole input) as a registry's referrers API answers it or a
 * "sha256-<hex>" referrers tag holds it. Whatever the registry sends:
 *
 *  - the answer is 0, REG_EINVAL, REG_ELIMIT or REG_ENOMEM, with a message
 *    free of control bytes when it is not 0;
 *  - every referrer appended (also before an error) has a valid sha256
 *    digest, no tag, a size in 0..2^53, media and artifact types that are
 *    valid media types (so no control byte), and annotations that are a
 *    non-empty compact JSON object (sorted keys: it reads back and dumps
 *    to the same bytes) with no raw byte below 0x20;
 *  - no digest is listed twice, and never more than the cap;
 *  - parsing the same bytes again into the list adds nothing;
 *  - with a cap of 2 the same index gives the same list when it has at
 *    most 2 referrers, else REG_ELIMIT after exactly 2;
 *  - the referrers tag schema index written from the list
 *    (reg_referrers_index_merge) reads back as the same list, and merging
 *    the list into the input changes nothing (and fails when the input
 *    does not parse).
 */
#include "fuzz_common.h"

#include "registry.h"

#include <jansson.h>

#define SMALL_CAP 2

static void check_err(int rc, const reg_error *err)
{
    FUZZ_CHECK(rc == REG_EINVAL || rc == REG_ELIMIT || rc == REG_ENOMEM);
    FUZZ_CHECK(err->msg[0] != '\0' && !fuzz_has_ctl(err->msg));
}

static void check_annotations(const char *a)
{
    if (a == NULL)
        return;
    /* JSON text: a byte below 0x20 only escaped (\u001b), never raw. */
    for (const char *p = a; *p != '\0'; p++)
        FUZZ_CHECK((unsigned char)*p >= 0x20);
    json_t *o = json_loads(a, JSON_REJECT_DUPLICATES, NULL);
    FUZZ_CHECK(json_is_object(o) && json_object_size(o) > 0);
    char *again = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    FUZZ_CHECK(again != NULL && strcmp(again, a) == 0);
    free(again);
    json_decref(o);
}

static void check_list(const reg_referrers *r, size_t max)
{
    FUZZ_CHECK(r->n <= max && (r->n == 0 || r->v != NULL));
    for (size_t i = 0; i < r->n; i++) {
        const reg_referrer *x = &r->v[i];
        FUZZ_CHECK(x->digest != NULL && reg_valid_digest(x->digest));
        FUZZ_CHECK(x->tag == NULL);
        FUZZ_CHECK(x->size >= 0 && x->size <= ((int64_t)1 << 53));
        FUZZ_CHECK(x->media_type == NULL ||
                   (reg_media_type_valid(x->media_type) &&
                    !fuzz_has_ctl(x->media_type)));
        FUZZ_CHECK(x->artifact_type == NULL ||
                   (reg_media_type_valid(x->artifact_type) &&
                    !fuzz_has_ctl(x->artifact_type)));
        check_annotations(x->annotations);
        for (size_t j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(r->v[j].digest, x->digest) != 0);
    }
}

static bool same0(const char *a, const char *b)
{
    return (a == NULL && b == NULL) ||
           (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* b holds what a holds; written (b read back from the index written for
 * a): mediaType defaults to the OCI manifest's where a had none. */
static void check_same(const reg_referrers *a, const reg_referrers *b,
                       bool written)
{
    FUZZ_CHECK(a->n == b->n);
    for (size_t i = 0; i < a->n; i++) {
        const reg_referrer *x = &a->v[i], *y = &b->v[i];
        FUZZ_CHECK(strcmp(x->digest, y->digest) == 0);
        FUZZ_CHECK(x->size == y->size);
        FUZZ_CHECK(same0(x->media_type != NULL || !written
                             ? x->media_type
                             : REG_MT_OCI_MANIFEST,
                         y->media_type));
        FUZZ_CHECK(same0(x->artifact_type, y->artifact_type));
        FUZZ_CHECK(same0(x->annotations, y->annotations));
    }
}

static void clear(reg_referrers *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].digest);
        free(r->v[i].media_type);
        free(r->v[i].artifact_type);
        free(r->v[i].annotations);
        free(r->v[i].tag);
    }
    free(r->v);
    memset(r, 0, sizeof(*r));
}

/* What the fallback writes for list, and what merging list into the input
 * gives (input_ok: the input parsed). */
static void check_merge(const reg_referrers *list, const uint8_t *data,
                        size_t size, bool input_ok)
{
    unsigned char *out = NULL;
    size_t len = 0;
    bool changed = false;
    reg_error err = {0};
    int rc =
        reg_referrers_index_merge(&out, &len, &changed, NULL, 0, list, &err);
    if (rc == REG_ENOMEM)
        return;
    FUZZ_CHECK(rc == REG_OK && out != NULL && len == strlen((char *)out));
    FUZZ_CHECK(changed == (list->n > 0));
    reg_referrers back = {0};
    rc = reg_referrers_parse_index(&back, out, len, REG_REFERRERS_MAX, &err);
    FUZZ_CHECK(rc == REG_OK || rc == REG_ENOMEM);
    if (rc == REG_OK)
        check_same(list, &back, true);
    clear(&back);
    free(out);

    out = NULL;
    rc =
        reg_referrers_index_merge(&out, &len, &changed, data, size, list, &err);
    if (!input_ok) {
        FUZZ_CHECK(rc != REG_OK && out == NULL);
        return;
    }
    if (rc == REG_OK) {
        FUZZ_CHECK(out != NULL && !changed);
        reg_referrers again = {0};
        rc = reg_referrers_parse_index(&again, out, len, REG_REFERRERS_MAX,
                                       &err);
        FUZZ_CHECK(rc == REG_OK || rc == REG_ENOMEM);
        if (rc == REG_OK)
            FUZZ_CHECK(again.n == list->n);
        clear(&again);
    } else {
        FUZZ_CHECK(rc == REG_ENOMEM && out == NULL);
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact copy: ASan sees a read past len. */
    uint8_t *body = malloc(size > 0 ? size : 1);
    if (body == NULL)
        abort();
    if (size > 0)
        memcpy(body, data, size);

    reg_referrers r = {0};
    reg_error err = {0};
    int rc = reg_referrers_parse_index(&r, body, size, REG_REFERRERS_MAX, &err);
    check_list(&r, REG_REFERRERS_MAX);
    if (rc != REG_OK) {
        check_err(rc, &err);
        check_merge(&r, body, size, false);
        goto cleanup;
    }

    /* Appending the same index again adds nothing. */
    size_t n = r.n;
    memset(&err, 0, sizeof(err));
    rc = reg_referrers_parse_index(&r, body, size, REG_REFERRERS_MAX, &err);
    FUZZ_CHECK(rc == REG_OK && r.n == n);

    /* A smaller cap. */
    reg_referrers small = {0};
    memset(&err, 0, sizeof(err));
    rc = reg_referrers_parse_index(&small, body, size, SMALL_CAP, &err);
    if (rc != REG_ENOMEM) {
        if (n <= SMALL_CAP) {
            FUZZ_CHECK(rc == REG_OK);
            check_same(&r, &small, false);
        } else {
            FUZZ_CHECK(rc == REG_ELIMIT && small.n == SMALL_CAP);
            check_err(rc, &err);
        }
    }
    clear(&small);

    check_merge(&r, body, size, true);
cleanup:
    clear(&r);
    free(body);
    return 0;
}
