/*
 * strmap.h - a small string-keyed hash map (chained, grows by doubling).
 * Not thread-safe: owners guard it with their own lock. Keys are copied;
 * values are the caller's (the map never frees them).
 */
#ifndef IT_STRMAP_H
#define IT_STRMAP_H

#include <stddef.h>

typedef struct it_strmap it_strmap;

it_strmap *it_strmap_new(void);
/* A map that starts with nbuckets buckets (a power of two is not needed;
 * at least 1): for the many small sets of the blob table. */
it_strmap *it_strmap_new_sized(size_t nbuckets);
/* Removes key; returns its value (NULL when absent). */
void *it_strmap_del(it_strmap *m, const char *key);
/* Frees the map and its keys; calls free_value on each value if given. */
void it_strmap_free(it_strmap *m, void (*free_value)(void *));
/* Value for key, or NULL. */
void *it_strmap_get(const it_strmap *m, const char *key);
/* Inserts or replaces; returns 0 or -1 on OOM. */
int it_strmap_put(it_strmap *m, const char *key, void *value);
size_t it_strmap_count(const it_strmap *m);
/* Calls fn for every entry (order unspecified). */
void it_strmap_each(const it_strmap *m,
                    void (*fn)(void *payload, const char *key, void *value),
                    void *payload);

#endif /* IT_STRMAP_H */
