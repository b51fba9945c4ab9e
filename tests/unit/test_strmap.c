/*
 * test_strmap.c - the string hash map: put/get/replace/count/each, growth
 * past many thousands of keys (every key still found after the table has
 * doubled many times), and free with a value destructor.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

#define MANY_KEYS 50000

static void test_put_get_replace(void **state)
{
    (void)state;
    it_strmap *m = it_strmap_new();
    assert_non_null(m);
    int a = 1, b = 2, c = 3;
    assert_int_equal(it_strmap_count(m), 0);
    assert_null(it_strmap_get(m, "a"));

    assert_int_equal(it_strmap_put(m, "a", &a), 0);
    assert_int_equal(it_strmap_put(m, "b", &b), 0);
    assert_int_equal(it_strmap_count(m), 2);
    assert_ptr_equal(it_strmap_get(m, "a"), &a);
    assert_ptr_equal(it_strmap_get(m, "b"), &b);
    assert_null(it_strmap_get(m, "c"));
    assert_null(it_strmap_get(m, ""));
    assert_null(it_strmap_get(m, "aa"));

    /* Replace: same count, new value. */
    assert_int_equal(it_strmap_put(m, "a", &c), 0);
    assert_int_equal(it_strmap_count(m), 2);
    assert_ptr_equal(it_strmap_get(m, "a"), &c);
    assert_ptr_equal(it_strmap_get(m, "b"), &b);

    /* The empty string is a key like any other; NULL is a storable value
     * (indistinguishable from absent through get, but counted). */
    assert_int_equal(it_strmap_put(m, "", &b), 0);
    assert_ptr_equal(it_strmap_get(m, ""), &b);
    assert_int_equal(it_strmap_put(m, "null", NULL), 0);
    assert_int_equal(it_strmap_count(m), 4);
    it_strmap_free(m, NULL);
}

/* A small map (one bucket to start) grows like any other; del removes a
 * key from the middle of a chain and returns its value. */
static void test_sized_and_del(void **state)
{
    (void)state;
    it_strmap *m = it_strmap_new_sized(1);
    assert_non_null(m);
    static int vals[1000];
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "repo-%d", i);
        assert_int_equal(it_strmap_put(m, key, &vals[i]), 0);
    }
    assert_int_equal(it_strmap_count(m), 1000);
    for (int i = 0; i < 1000; i += 2) {
        snprintf(key, sizeof(key), "repo-%d", i);
        assert_ptr_equal(it_strmap_del(m, key), &vals[i]);
    }
    assert_int_equal(it_strmap_count(m), 500);
    assert_null(it_strmap_del(m, "repo-0")); /* gone already */
    assert_null(it_strmap_del(m, "absent"));
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "repo-%d", i);
        if (i % 2)
            assert_ptr_equal(it_strmap_get(m, key), &vals[i]);
        else
            assert_null(it_strmap_get(m, key));
    }
    it_strmap_free(m, NULL);
}

static void test_keys_are_copied(void **state)
{
    (void)state;
    it_strmap *m = it_strmap_new();
    assert_non_null(m);
    char key[32];
    int v = 7;
    snprintf(key, sizeof(key), "registry/repo");
    assert_int_equal(it_strmap_put(m, key, &v), 0);
    /* Overwrite the caller's buffer: the map must hold its own copy. */
    memset(key, 'x', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    assert_ptr_equal(it_strmap_get(m, "registry/repo"), &v);
    assert_null(it_strmap_get(m, key));
    it_strmap_free(m, NULL);
}

struct each_acc {
    size_t calls;
    long sum;
    int seen[8];
};

static void each_cb(void *payload, const char *key, void *value)
{
    struct each_acc *acc = payload;
    acc->calls++;
    long k = strtol(key + 1, NULL, 10); /* keys are "k0".."k7" */
    assert_true(key[0] == 'k' && k >= 0 && k < 8);
    acc->seen[k]++;
    acc->sum += *(int *)value;
}

static void test_each(void **state)
{
    (void)state;
    it_strmap *m = it_strmap_new();
    assert_non_null(m);
    int vals[8];
    char key[16];
    for (int i = 0; i < 8; i++) {
        vals[i] = i * 10;
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(it_strmap_put(m, key, &vals[i]), 0);
    }
    /* Replacing must not produce a second entry visited by each. */
    assert_int_equal(it_strmap_put(m, "k3", &vals[3]), 0);
    struct each_acc acc = {0};
    it_strmap_each(m, each_cb, &acc);
    assert_int_equal(acc.calls, 8);
    assert_int_equal(acc.sum, 0 + 10 + 20 + 30 + 40 + 50 + 60 + 70);
    for (int i = 0; i < 8; i++)
        assert_int_equal(acc.seen[i], 1);

    /* each on an empty map calls nothing. */
    it_strmap *e = it_strmap_new();
    assert_non_null(e);
    struct each_acc none = {0};
    it_strmap_each(e, each_cb, &none);
    assert_int_equal(none.calls, 0);
    it_strmap_free(e, NULL);
    it_strmap_free(m, NULL);
}

static void count_cb(void *payload, const char *key, void *value)
{
    (void)key;
    (void)value;
    (*(size_t *)payload)++;
}

/* Tens of thousands of keys: the table doubles many times while entries
 * are rehashed; every key must still map to its own value. */
static void test_growth(void **state)
{
    (void)state;
    it_strmap *m = it_strmap_new();
    assert_non_null(m);
    intptr_t *vals = malloc(sizeof(*vals) * MANY_KEYS);
    assert_non_null(vals);
    char key[64];
    for (intptr_t i = 0; i < MANY_KEYS; i++) {
        vals[i] = i;
        snprintf(key, sizeof(key), "host.example/ns/repo%ld@sha256:%08lx",
                 (long)i, (unsigned long)(i * 2654435761u));
        assert_int_equal(it_strmap_put(m, key, &vals[i]), 0);
        assert_int_equal(it_strmap_count(m), (size_t)i + 1);
    }
    for (intptr_t i = 0; i < MANY_KEYS; i++) {
        snprintf(key, sizeof(key), "host.example/ns/repo%ld@sha256:%08lx",
                 (long)i, (unsigned long)(i * 2654435761u));
        intptr_t *v = it_strmap_get(m, key);
        assert_non_null(v);
        assert_int_equal(*v, i);
    }
    assert_null(it_strmap_get(m, "host.example/ns/repo-none"));
    /* Replace every other key after growth: count unchanged. */
    for (intptr_t i = 0; i < MANY_KEYS; i += 2) {
        snprintf(key, sizeof(key), "host.example/ns/repo%ld@sha256:%08lx",
                 (long)i, (unsigned long)(i * 2654435761u));
        assert_int_equal(it_strmap_put(m, key, &vals[(i + 1) % MANY_KEYS]), 0);
    }
    assert_int_equal(it_strmap_count(m), MANY_KEYS);
    snprintf(key, sizeof(key), "host.example/ns/repo%d@sha256:%08lx", 0, 0ul);
    assert_ptr_equal(it_strmap_get(m, key), &vals[1]);
    size_t visited = 0;
    it_strmap_each(m, count_cb, &visited);
    assert_int_equal(visited, MANY_KEYS);
    it_strmap_free(m, NULL);
    free(vals);
}

static size_t destructor_calls;

static void free_counted(void *p)
{
    destructor_calls++;
    free(p);
}

static void test_free_with_destructor(void **state)
{
    (void)state;
    it_strmap *m = it_strmap_new();
    assert_non_null(m);
    char key[32];
    const size_t n = 1000;
    for (size_t i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "key-%zu", i);
        char *v = strdup(key);
        assert_non_null(v);
        assert_int_equal(it_strmap_put(m, key, v), 0);
    }
    /* A replaced value is the caller's again (the map does not free it):
     * the destructor runs once per entry, on the current value. */
    char *old = it_strmap_get(m, "key-5");
    assert_non_null(old);
    char *repl = strdup("replacement");
    assert_non_null(repl);
    assert_int_equal(it_strmap_put(m, "key-5", repl), 0);
    assert_string_equal(it_strmap_get(m, "key-5"), "replacement");
    free(old);

    destructor_calls = 0;
    it_strmap_free(m, free_counted);
    assert_int_equal(destructor_calls, n);

    /* Without a destructor nothing is called; NULL map is a no-op. */
    it_strmap *e = it_strmap_new();
    assert_non_null(e);
    destructor_calls = 0;
    it_strmap_free(e, free_counted);
    assert_int_equal(destructor_calls, 0);
    it_strmap_free(NULL, free_counted);
    assert_int_equal(destructor_calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_replace),
        cmocka_unit_test(test_keys_are_copied),
        cmocka_unit_test(test_sized_and_del),
        cmocka_unit_test(test_each),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_free_with_destructor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
