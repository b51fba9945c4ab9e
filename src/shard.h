/*
 * shard.h - splitting one migration over N processes (--shard=I/N).
 *
 * A repository belongs to shard FNV-1a-64(path) mod N, where path is the
 * source repository path without the registry host and without a tag or
 * digest ("team/app", "library/redis"). The hash is part of the contract:
 * every machine, every run and every future version must put a repository
 * in the same shard, so the function is pinned by tests with values
 * computed independently. Shards are numbered from 0 like Kubernetes'
 * JOB_COMPLETION_INDEX.
 */
#ifndef IT_SHARD_H
#define IT_SHARD_H

#include <stdbool.h>
#include <stdint.h>

#include "errbuf.h"

/* The largest N --shard accepts. */
#define IT_SHARD_MAX 65536

/* One process's part of the work. count 0 means not sharded (everything). */
typedef struct it_shard {
    unsigned index; /* 0 <= index < count */
    unsigned count; /* 1..IT_SHARD_MAX, or 0 */
} it_shard;

/* FNV-1a, 64-bit, over the bytes of s (offset basis 0xcbf29ce484222325,
 * prime 0x100000001b3). */
uint64_t it_shard_hash(const char *s);

/* The shard (0..count-1) of repository path repo; 0 when count is 0. */
unsigned it_shard_of(const char *repo, unsigned count);

/* Whether sh takes repository path repo: always true when not sharded. */
bool it_shard_takes(const it_shard *sh, const char *repo);

/* Parses "I/N" (decimal digits only, 0 <= I < N <= IT_SHARD_MAX) into
 * *out. flag names the option for messages ("--shard"). Returns 0, or -1
 * with a message such as "--shard: expected I/N ..., got '3/3'"; *out is
 * untouched then. */
int it_shard_parse(it_shard *out, const char *s, const char *flag,
                   it_errbuf *err);

#endif /* IT_SHARD_H */
