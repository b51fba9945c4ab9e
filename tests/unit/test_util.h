/*
 * test_util.h - temporary-directory helpers shared by the unit tests that
 * write files (journal, report). Header-only, static inline, so each test
 * binary stays self-contained. Include it after <cmocka.h>: tu_path_in()
 * asserts.
 */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Removes path and, for a directory, everything below it (best effort;
 * symbolic links are removed, never followed). */
static inline void tu_remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *de;
            while ((de = readdir(d)) != NULL) {
                if (strcmp(de->d_name, ".") == 0 ||
                    strcmp(de->d_name, "..") == 0)
                    continue;
                char child[4096];
                int n =
                    snprintf(child, sizeof(child), "%s/%s", path, de->d_name);
                if (n > 0 && (size_t)n < sizeof(child))
                    tu_remove_tree(child);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* For a cmocka setup: makes a fresh "/tmp/it-<name>-test-XXXXXX" and
 * stores its malloc'd path in *state. Returns 0, or -1 on failure. */
static inline int tu_tmpdir_new(void **state, const char *name)
{
    char tmpl[256];
    int n = snprintf(tmpl, sizeof(tmpl), "/tmp/it-%s-test-XXXXXX", name);
    if (n < 0 || (size_t)n >= sizeof(tmpl))
        return -1;
    char *dir = strdup(tmpl);
    if (!dir || !mkdtemp(dir)) {
        free(dir);
        return -1;
    }
    *state = dir;
    return 0;
}

/* A cmocka teardown: removes the directory tu_tmpdir_new() made. */
static inline int tu_tmpdir_drop(void **state)
{
    tu_remove_tree(*state);
    free(*state);
    return 0;
}

/* "dir/name" into out; fails the test when it does not fit. */
static inline void tu_path_in(char *out, size_t cap, const char *dir,
                              const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    assert_true(n > 0 && (size_t)n < cap);
}

#endif /* TEST_UTIL_H */
