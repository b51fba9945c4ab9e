/*
 * test_shard.c - --shard=I/N: the hash that assigns a repository to a shard
 * (pinned: FNV-1a 64-bit values computed independently, so that a change
 * of the function, which would move repositories between shards of runs
 * already under way, fails here), the partition property (every repository
 * in exactly one shard), and the parsing of I/N.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "shard.h"

/* Expected values computed with Python, independently of this code:
 *   h = 0xcbf29ce484222325
 *   for b in s.encode(): h ^= b; h = (h * 0x100000001b3) % 2**64
 * "a" and "foobar" are also in the FNV authors' published test vectors. */
static const struct {
    const char *s;
    uint64_t hash;
    unsigned mod3, mod7, mod65536;
} vectors[] = {
    {"", 0xcbf29ce484222325ULL, 2, 2, 8997},
    {"a", 0xaf63dc4c8601ec8cULL, 1, 5, 60556},
    {"foobar", 0x85944171f73967e8ULL, 0, 6, 26600},
    {"team/app", 0xdbc2354ad2931228ULL, 1, 2, 4648},
    {"library/redis", 0xf70d136cf5b004fcULL, 2, 5, 1276},
    {"team-a/tools/builder", 0xa1b62b543c45593eULL, 0, 2, 22846},
    {"ns/repo-0001", 0xe90629ba7ceb1cfdULL, 2, 0, 7421},
};

#define N_VECTORS (sizeof vectors / sizeof vectors[0])

static void test_hash_pinned(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_VECTORS; i++) {
        uint64_t h = it_shard_hash(vectors[i].s);
        if (h != vectors[i].hash)
            fail_msg("it_shard_hash(\"%s\") = 0x%016llx, expected 0x%016llx",
                     vectors[i].s, (unsigned long long)h,
                     (unsigned long long)vectors[i].hash);
        assert_int_equal(it_shard_of(vectors[i].s, 3), vectors[i].mod3);
        assert_int_equal(it_shard_of(vectors[i].s, 7), vectors[i].mod7);
        assert_int_equal(it_shard_of(vectors[i].s, IT_SHARD_MAX),
                         vectors[i].mod65536);
        assert_int_equal(it_shard_of(vectors[i].s, 1), 0);
    }
    /* Bytes above 0x7f are hashed as unsigned bytes (a signed char would
     * give another value): 0xff then 0x01, computed as above. */
    assert_true(it_shard_hash("\xff\x01") == 0x0a99a707b6f60d9dULL);
}

/* Every repository lands in exactly one shard, for several N; and no
 * shard of a small N stays empty with a few hundred repositories (a
 * degenerate hash would put everything in one). */
static void test_partition(void **state)
{
    (void)state;
    static const unsigned counts[] = {1, 2, 3, 4, 7, 10, 16, 100};
    char repo[64];
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        unsigned n = counts[c];
        unsigned per_shard[100] = {0};
        for (int r = 0; r < 600; r++) {
            snprintf(repo, sizeof repo, "team-%d/app-%03d", r % 7, r);
            int takers = 0;
            for (unsigned i = 0; i < n; i++) {
                it_shard sh = {.index = i, .count = n};
                if (it_shard_takes(&sh, repo)) {
                    takers++;
                    per_shard[i]++;
                    assert_int_equal(it_shard_of(repo, n), i);
                }
            }
            if (takers != 1)
                fail_msg("%s is taken by %d of %u shards", repo, takers, n);
        }
        unsigned sum = 0;
        for (unsigned i = 0; i < n; i++) {
            sum += per_shard[i];
            if (n <= 10 && per_shard[i] < 600 / n / 2)
                fail_msg("shard %u/%u got %u of 600 repositories", i, n,
                         per_shard[i]);
        }
        assert_int_equal(sum, 600);
    }
}

/* Not sharded (count 0, or no shard at all) and 0/1 take everything. */
static void test_not_sharded(void **state)
{
    (void)state;
    it_shard none = {0}, one = {.index = 0, .count = 1};
    for (size_t i = 0; i < N_VECTORS; i++) {
        assert_true(it_shard_takes(&none, vectors[i].s));
        assert_true(it_shard_takes(NULL, vectors[i].s));
        assert_true(it_shard_takes(&one, vectors[i].s));
    }
    assert_int_equal(it_shard_of("team/app", 0), 0);
}

static void test_parse_good(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        unsigned index, count;
    } ok[] = {
        {"0/1", 0, 1},
        {"0/3", 0, 3},
        {"2/3", 2, 3},
        {"1/2", 1, 2},
        {"65535/65536", 65535, 65536},
        {"007/010", 7, 10}, /* leading zeros are still decimal */
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        it_shard sh = {0};
        it_errbuf err = {{0}};
        if (it_shard_parse(&sh, ok[i].in, "--shard", &err) != 0)
            fail_msg("'%s': %s", ok[i].in, err.msg);
        assert_int_equal(sh.index, ok[i].index);
        assert_int_equal(sh.count, ok[i].count);
    }
}

static void test_parse_bad(void **state)
{
    (void)state;
    /* Each bad value, and a part of the message it must get. Every message
     * names the flag and quotes the value. */
    static const struct {
        const char *in;
        const char *want;
    } bad[] = {
        {"", "expected I/N such as 0/3"},
        {"3", "expected I/N such as 0/3"},
        {"/3", "expected I/N"},
        {"1/", "expected I/N"},
        {"/", "expected I/N"},
        {"1/3x", "expected I/N"},
        {"x1/3", "expected I/N"},
        {"1/3/4", "expected I/N"},
        {"-1/3", "expected I/N"},
        {"1/-3", "expected I/N"},
        {"+1/3", "expected I/N"},
        {" 1/3", "expected I/N"},
        {"1/3 ", "expected I/N"},
        {"1.0/3", "expected I/N"},
        {"0x1/3", "expected I/N"},
        {"1\\3", "expected I/N"},
        {"99999999999/3", "expected I/N"},
        {"0/99999999999", "expected I/N"},
        {"0/0", "the shard count N must be from 1 to 65536"},
        {"1/0", "the shard count N must be from 1 to 65536"},
        {"0/65537", "the shard count N must be from 1 to 65536"},
        {"0/100000", "the shard count N must be from 1 to 65536"},
        {"3/3", "the shard index I must be less than N"},
        {"3/3", "0/3 to 2/3"},
        {"5/2", "the shard index I must be less than N"},
        {"1/1", "the shard index I must be less than N"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        it_shard sh = {.index = 42, .count = 43};
        it_errbuf err = {{0}};
        if (it_shard_parse(&sh, bad[i].in, "--shard", &err) != -1)
            fail_msg("'%s' was accepted", bad[i].in);
        if (strstr(err.msg, bad[i].want) == NULL)
            fail_msg("'%s': message '%s' lacks '%s'", bad[i].in, err.msg,
                     bad[i].want);
        if (strncmp(err.msg, "--shard: ", 9) != 0)
            fail_msg("'%s': message '%s' does not name the flag", bad[i].in,
                     err.msg);
        char quoted[64];
        snprintf(quoted, sizeof quoted, "'%s'", bad[i].in);
        if (strstr(err.msg, quoted) == NULL)
            fail_msg("'%s': message '%s' does not quote the value", bad[i].in,
                     err.msg);
        /* untouched on error */
        assert_int_equal(sh.index, 42);
        assert_int_equal(sh.count, 43);
    }
    it_shard sh = {0};
    it_errbuf err = {{0}};
    assert_int_equal(it_shard_parse(&sh, NULL, "--shard", &err), -1);
}

/* Every way of writing one source repository in a rule gives the path the
 * shard is computed from, so two rule files that spell the same
 * repository differently still put it in the same shard: Docker Hub short
 * names, the registry's aliases, tags, tag lists and digests. */
static void test_rule_spellings_share_a_shard(void **state)
{
    (void)state;
    static const struct {
        const char *source, *path;
    } cases[] = {
        {"redis", "library/redis"},
        {"redis:7", "library/redis"},
        {"docker.io/redis", "library/redis"},
        {"docker.io/library/redis:7", "library/redis"},
        {"index.docker.io/library/redis", "library/redis"},
        {"registry.hub.docker.com/library/redis:6,7", "library/redis"},
        {"registry-1.docker.io/library/redis@sha256:"
         "0000000000000000000000000000000000000000000000000000000000000000",
         "library/redis"},
        {"ccr.ccs.tencentyun.com/team/app:v1", "team/app"},
        {"127.0.0.1:5000/team/app", "team/app"},
        {"localhost:5000/team/app:v1,v2", "team/app"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        it_rule r = {.source = (char *)cases[i].source,
                     .target = "tcr.example.com/x/y",
                     .line = 7};
        it_pair p;
        it_errbuf err = {{0}};
        if (it_rule_resolve(&p, &r, "rules.yaml", NULL, NULL, &err) != 0)
            fail_msg("%s: %s", cases[i].source, err.msg);
        if (strcmp(p.src_repo, cases[i].path) != 0)
            fail_msg("%s: repository path %s, want %s", cases[i].source,
                     p.src_repo, cases[i].path);
        for (unsigned n = 2; n <= 7; n++)
            assert_int_equal(it_shard_of(p.src_repo, n),
                             it_shard_of(cases[i].path, n));
        it_pair_clear(&p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_pinned),
        cmocka_unit_test(test_partition),
        cmocka_unit_test(test_not_sharded),
        cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_rule_spellings_share_a_shard),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
