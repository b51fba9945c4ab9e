/*
 * test_plan_json.c - --dry-run --output=json: one JSON document with "v",
 * the per-target totals (images, blobs and bytes as the engine's plan
 * says), every image (streamed), the report's summary;
 * a hostile name escaped, the output ASCII.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "plan_json.h"

static void test_plan_document(void **state)
{
    (void)state;
    it_image_result res[] = {
        {.source = "src.example/team/app:v1",
         .target = "tcr.example/team/app:v1",
         .digest = "sha256:aa",
         .status = IT_STATUS_PLANNED,
         .bytes = 1100},
        {.source = "src.example/team/app:v2\x1b[2J",
         .target = "tcr.example/team/app:v2\x1b[2J",
         .digest = "sha256:bb",
         .status = IT_STATUS_PLANNED,
         .bytes = 1000},
        {.source = "src.example/team/app:v1",
         .target = "tcr.example.org/team/app:v1", /* another registry */
         .digest = "sha256:aa",
         .status = IT_STATUS_PLANNED,
         .bytes = 1100},
        {.source = "src.example/team/old:v1",
         .target = "tcr.example/team/old:v1",
         .status = IT_STATUS_SKIPPED,
         .error = "already present"},
    };
    it_plan_target t[] = {{"tcr.example", 2, 3, 2100},
                          {"tcr.example.org", 1, 2, 1100}};
    it_engine_stats st = {
        .images_total = 4, .images_planned = 3, .images_skipped = 1};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    /* streamed: the images as they end, the targets and summary last */
    it_plan_json *p = it_plan_json_begin(f, "generic");
    assert_non_null(p);
    for (size_t i = 0; i < 4; i++)
        it_plan_json_add(p, &res[i]);
    assert_int_equal(it_plan_json_end(p, &st, t, 2), 0);
    fclose(f);
    for (size_t i = 0; i < len; i++)
        assert_true(buf[i] == '\n' || (buf[i] >= 0x20 && buf[i] < 0x7f));
    json_error_t jerr;
    json_t *root = json_loads(buf, 0, &jerr);
    if (!root)
        fail_msg("not JSON: %s\n%s", jerr.text, buf);
    assert_int_equal(json_integer_value(json_object_get(root, "v")), 1);
    assert_true(json_is_true(json_object_get(root, "dry_run")));
    json_t *tv = json_object_get(root, "targets");
    assert_int_equal(json_array_size(tv), 2);
    json_t *t0 = json_array_get(tv, 0), *t1 = json_array_get(tv, 1);
    assert_string_equal(json_string_value(json_object_get(t0, "registry")),
                        "tcr.example");
    assert_int_equal(json_integer_value(json_object_get(t0, "images")), 2);
    assert_int_equal(json_integer_value(json_object_get(t0, "blobs")), 3);
    assert_int_equal(json_integer_value(json_object_get(t0, "bytes")), 2100);
    assert_int_equal(json_integer_value(json_object_get(t1, "images")), 1);
    assert_int_equal(json_integer_value(json_object_get(t1, "bytes")), 1100);
    json_t *iv = json_object_get(root, "images");
    assert_int_equal(json_array_size(iv), 4);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(iv, 1), "source")),
        "src.example/team/app:v2\\x1b[2J");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(iv, 3), "status")),
        "skipped");
    assert_true(json_is_null(json_object_get(json_array_get(iv, 3), "digest")));
    json_t *summ = json_object_get(root, "summary");
    assert_int_equal(
        json_integer_value(json_object_get(summ, "images_planned")), 3);
    json_decref(root);
    free(buf);
}

int main(void)
{
    it_log_open(NULL, IT_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_document),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
