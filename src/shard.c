/* shard.c - which repositories one process of a sharded run takes. */
#include "shard.h"

#include <stddef.h>
#include <string.h>

#include "util.h"

#define FNV64_OFFSET 0xcbf29ce484222325ULL
#define FNV64_PRIME  0x100000001b3ULL

uint64_t it_shard_hash(const char *s)
{
    uint64_t h = FNV64_OFFSET;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= FNV64_PRIME;
    }
    return h;
}

unsigned it_shard_of(const char *repo, unsigned count)
{
    if (count == 0)
        return 0;
    return (unsigned)(it_shard_hash(repo) % count);
}

bool it_shard_takes(const it_shard *sh, const char *repo)
{
    if (sh == NULL || sh->count <= 1)
        return true;
    return it_shard_of(repo, sh->count) == sh->index;
}

/* A decimal number of 1 to 9 digits (no sign, no space) spanning exactly
 * [s, end). Returns 0 with *out, or -1. */
static int parse_number(const char *s, const char *end, unsigned long *out)
{
    size_t len = (size_t)(end - s);
    if (len == 0 || len > 9)
        return -1;
    unsigned long v = 0;
    for (const char *p = s; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    *out = v;
    return 0;
}

int it_shard_parse(it_shard *out, const char *s, const char *flag,
                   it_errbuf *err)
{
    if (flag == NULL)
        flag = "--shard";
    if (s == NULL)
        s = "";
    const char *slash = strchr(s, '/');
    unsigned long i = 0, n = 0;
    if (slash == NULL || parse_number(s, slash, &i) != 0 ||
        parse_number(slash + 1, s + strlen(s), &n) != 0) {
        it_set_err(err,
                   "%s: expected I/N such as 0/3 (this process takes shard "
                   "I of N; I from 0 to N-1, N from 1 to %d), got '%.100s'",
                   flag, IT_SHARD_MAX, s);
        return -1;
    }
    if (n < 1 || n > IT_SHARD_MAX) {
        it_set_err(err,
                   "%s: the shard count N must be from 1 to %d, got "
                   "'%.100s'",
                   flag, IT_SHARD_MAX, s);
        return -1;
    }
    if (i >= n) {
        it_set_err(err,
                   "%s: the shard index I must be less than N (shards are "
                   "numbered from 0: 0/%lu to %lu/%lu), got '%.100s'",
                   flag, n, n - 1, n, s);
        return -1;
    }
    out->index = (unsigned)i;
    out->count = (unsigned)n;
    return 0;
}
