/* strmap.c - chained string hash map. */
#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    char *key;
    void *value;
    struct entry *next;
} entry;

struct it_strmap {
    entry **buckets;
    size_t nbuckets;
    size_t count;
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

it_strmap *it_strmap_new(void)
{
    return it_strmap_new_sized(64);
}

it_strmap *it_strmap_new_sized(size_t nbuckets)
{
    it_strmap *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->nbuckets = nbuckets ? nbuckets : 1;
    m->buckets = calloc(m->nbuckets, sizeof(entry *));
    if (!m->buckets) {
        free(m);
        return NULL;
    }
    return m;
}

void it_strmap_free(it_strmap *m, void (*free_value)(void *))
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        entry *e = m->buckets[i];
        while (e) {
            entry *next = e->next;
            if (free_value)
                free_value(e->value);
            free(e->key);
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    free(m);
}

void *it_strmap_get(const it_strmap *m, const char *key)
{
    for (entry *e = m->buckets[hash(key) % m->nbuckets]; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e->value;
    return NULL;
}

static void grow(it_strmap *m)
{
    size_t n = m->nbuckets * 2;
    entry **b = calloc(n, sizeof(entry *));
    if (!b)
        return; /* keep the old table: slower, still correct */
    for (size_t i = 0; i < m->nbuckets; i++) {
        entry *e = m->buckets[i];
        while (e) {
            entry *next = e->next;
            size_t k = hash(e->key) % n;
            e->next = b[k];
            b[k] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

int it_strmap_put(it_strmap *m, const char *key, void *value)
{
    size_t k = hash(key) % m->nbuckets;
    for (entry *e = m->buckets[k]; e; e = e->next) {
        if (strcmp(e->key, key) == 0) {
            e->value = value;
            return 0;
        }
    }
    entry *e = calloc(1, sizeof(*e));
    if (!e || !(e->key = strdup(key))) {
        free(e);
        return -1;
    }
    e->value = value;
    e->next = m->buckets[k];
    m->buckets[k] = e;
    if (++m->count > m->nbuckets * 2)
        grow(m);
    return 0;
}

void *it_strmap_del(it_strmap *m, const char *key)
{
    for (entry **pe = &m->buckets[hash(key) % m->nbuckets]; *pe;
         pe = &(*pe)->next) {
        entry *e = *pe;
        if (strcmp(e->key, key) == 0) {
            void *v = e->value;
            *pe = e->next;
            free(e->key);
            free(e);
            m->count--;
            return v;
        }
    }
    return NULL;
}

size_t it_strmap_count(const it_strmap *m)
{
    return m->count;
}

void it_strmap_each(const it_strmap *m,
                    void (*fn)(void *payload, const char *key, void *value),
                    void *payload)
{
    for (size_t i = 0; i < m->nbuckets; i++)
        for (entry *e = m->buckets[i]; e; e = e->next)
            fn(payload, e->key, e->value);
}
