/*
 * test_progress.c - the progress model: events in, snapshot out, with a
 * fake clock (totals, states, ETA, sliding-window throughput, sparkline,
 * row order, filters, notes ring, dedup, formatters, threads).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "headless.h"
#include "log.h"
#include "progress.h"
#include "progress_fmt.h"
#include "runctl.h"

static double fake_now;

static double fake_clock(void)
{
    return fake_now;
}

/* The final summary of p as it_summary_print writes it (malloc'd). */
static char *summary_text(it_progress *p)
{
    it_snapshot *s = it_progress_snapshot(p, NULL);
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    assert_non_null(s);
    assert_non_null(mem);
    it_summary_print(mem, s);
    fclose(mem);
    it_snapshot_free(s);
    return buf;
}

static it_progress *new_model(void)
{
    fake_now = 1000.0;
    it_progress *p =
        it_progress_new("generic", "src.example", "dst.example", fake_clock);
    assert_non_null(p);
    return p;
}

static const it_repo_row *row_named(const it_snapshot *s, const char *name)
{
    for (size_t i = 0; i < s->n_rows; i++)
        if (strcmp(s->rows[i].src_repo, name) == 0)
            return &s->rows[i];
    return NULL;
}

static void totals_are(it_progress *p, int total, int done)
{
    it_snapshot *s = it_progress_snapshot(p, NULL);
    assert_non_null(s);
    assert_int_equal(s->totals.repos_total, total);
    assert_int_equal(s->totals.repos_done, done);
    it_snapshot_free(s);
}

/* Whole namespaces (14C): a wildcard rule's row is a row, but the totals
 * count the repositories it finds; a failed listing is one failed
 * repository, and a listing tried again is not one any more. */
static void test_wildcard_row_not_counted(void **state)
{
    (void)state;
    it_progress *p = new_model();
    int w = it_progress_repo_add(p, "src.example/team/*", "dst.example/m");
    totals_are(p, 1, 0);
    it_progress_repo_wildcard(p, w);
    totals_are(p, 0, 0);
    it_progress_repo_state(p, w, IT_REPO_LISTING, NULL);
    int a = it_progress_repo_add(p, "src.example/team/a", "dst.example/m/a");
    int b = it_progress_repo_add(p, "src.example/team/b", "dst.example/m/b");
    totals_are(p, 2, 0);
    it_progress_repo_state(p, w, IT_REPO_DONE, "2 repositories found");
    it_progress_repo_state(p, a, IT_REPO_DONE, NULL);
    it_progress_repo_state(p, b, IT_REPO_DONE, NULL);
    totals_are(p, 2, 2);
    it_snapshot *s = it_progress_snapshot(p, NULL);
    assert_non_null(s);
    assert_int_equal(s->n_rows, 3); /* still shown */
    it_snapshot_free(s);
    /* the same rule failing: one failed repository more */
    it_progress_repo_state(p, w, IT_REPO_FAILED, "list repositories: 403");
    totals_are(p, 3, 3);
    it_progress_repo_state(p, w, IT_REPO_LISTING, NULL); /* listed again */
    totals_are(p, 2, 2);
    it_progress_repo_wildcard(p, w); /* twice: no change */
    totals_are(p, 2, 2);
    it_progress_free(p);
}

static void test_totals_and_states(void **state)
{
    (void)state;
    it_progress *p = new_model();
    int a = it_progress_repo_add(p, "lib/a", "ns/a");
    int b = it_progress_repo_add(p, "lib/b", "ns/b");
    assert_int_not_equal(a, b);
    it_progress_repo_state(p, a, IT_REPO_LISTING, NULL);
    it_progress_repo_tags(p, a, 3);
    int i1 = it_progress_image_add(p, a, "v1");
    int i2 = it_progress_image_add(p, a, "v2");
    int i3 = it_progress_image_add(p, a, "v3");
    it_progress_image_state(p, i1, IT_IMG_COPYING, NULL, NULL);
    it_progress_image_expect(p, i1, 300);
    it_progress_bytes(p, i1, 100);
    it_progress_bytes(p, i1, 200);
    it_progress_blob(p, IT_BLOB_COPIED);
    it_progress_blob(p, IT_BLOB_MOUNTED);
    it_progress_blob(p, IT_BLOB_SKIPPED);
    it_progress_blob(p, IT_BLOB_SKIPPED);

    it_snapshot *s = it_progress_snapshot(p, NULL);
    assert_non_null(s);
    assert_string_equal(s->mode, "generic");
    assert_string_equal(s->source, "src.example");
    assert_string_equal(s->target, "dst.example");
    assert_int_equal(s->totals.repos_total, 2);
    assert_int_equal(s->totals.repos_done, 0);
    assert_int_equal(s->totals.images_total, 3);
    assert_int_equal(s->totals.bytes_done, 300);
    assert_int_equal(s->totals.blobs_copied, 1);
    assert_int_equal(s->totals.blobs_mounted, 1);
    assert_int_equal(s->totals.blobs_skipped, 2);
    const it_repo_row *ra = row_named(s, "lib/a");
    assert_non_null(ra);
    assert_int_equal(ra->state, IT_REPO_COPYING);
    assert_int_equal(ra->images_total, 3);
    assert_int_equal(ra->bytes_done, 300);
    assert_int_equal(ra->bytes_expected, 300);
    const it_repo_row *rb = row_named(s, "lib/b");
    assert_int_equal(rb->state, IT_REPO_WAITING);
    assert_int_equal(rb->images_total, -1);
    it_snapshot_free(s);

    it_progress_image_state(p, i1, IT_IMG_COPIED, "sha256:aa", NULL);
    it_progress_image_state(p, i2, IT_IMG_SKIPPED, "sha256:bb", NULL);
    it_progress_image_state(p, i3, IT_IMG_FAILED, NULL, "HTTP 500 on PUT");
    it_progress_repo_tags(p, b, 1);
    int i4 = it_progress_image_add(p, b, "latest");
    it_progress_image_state(p, i4, IT_IMG_SKIPPED, NULL, NULL);
    /* The slots of images that ended well are reused. */
    assert_true(i4 == i1 || i4 == i2);

    /* Detail while one image is failed: only that one is shown. */
    it_image_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(it_progress_repo_images(&rows, &n, p, a), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].tag, "v3");
    assert_int_equal(rows[0].state, IT_IMG_FAILED);
    assert_string_equal(rows[0].error, "HTTP 500 on PUT");
    it_image_rows_free(rows, n);

    s = it_progress_snapshot(p, NULL);
    assert_int_equal(s->totals.images_total, 4);
    assert_int_equal(s->totals.images_copied, 1);
    assert_int_equal(s->totals.images_skipped, 2);
    assert_int_equal(s->totals.images_failed, 1);
    assert_int_equal(s->totals.repos_done, 2);
    ra = row_named(s, "lib/a");
    assert_int_equal(ra->state, IT_REPO_FAILED);
    assert_int_equal(ra->images_done, 3);
    assert_int_equal(ra->images_failed, 1);
    assert_string_equal(ra->error, "HTTP 500 on PUT");
    rb = row_named(s, "lib/b");
    assert_int_equal(rb->state, IT_REPO_SKIPPED);
    it_snapshot_free(s);

    /* The retry pass: the failed image copies; counts move, not add. */
    it_progress_image_state(p, i3, IT_IMG_COPYING, NULL, NULL);
    s = it_progress_snapshot(p, NULL);
    assert_int_equal(s->totals.images_failed, 0);
    assert_int_equal(s->totals.repos_done, 1);
    assert_int_equal(row_named(s, "lib/a")->state, IT_REPO_COPYING);
    it_snapshot_free(s);
    it_progress_image_state(p, i3, IT_IMG_COPIED, "sha256:cc", NULL);
    s = it_progress_snapshot(p, NULL);
    assert_int_equal(s->totals.images_copied, 2);
    assert_int_equal(s->totals.images_failed, 0);
    assert_int_equal(s->totals.repos_done, 2);
    assert_int_equal(row_named(s, "lib/a")->state, IT_REPO_DONE);
    it_snapshot_free(s);

    /* Per-tag detail: copied and skipped images are counted, not kept
     * (the row above still says 3 done); nothing is left to show. */
    assert_int_equal(it_progress_repo_images(&rows, &n, p, a), 0);
    assert_int_equal(n, 0);
    it_image_rows_free(rows, n);
    assert_int_equal(it_progress_repo_images(&rows, &n, p, 99), -1);
    it_progress_free(p);
}

static void test_repo_add_dedup_and_listing_failure(void **state)
{
    (void)state;
    it_progress *p = new_model();
    int a = it_progress_repo_add(p, "x", "y");
    assert_int_equal(it_progress_repo_add(p, "x", "y"), a);
    assert_int_not_equal(it_progress_repo_add(p, "x", "z"), a);
    assert_int_not_equal(it_progress_repo_add(p, "xy", ""), a);
    /* Enough repos to grow the hash table; ids stay stable. */
    char name[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(name, sizeof name, "r%04d", i);
        assert_true(it_progress_repo_add(p, name, name) >= 0);
    }
    assert_int_equal(it_progress_repo_add(p, "x", "y"), a);
    assert_int_equal(it_progress_repo_add(p, "r0042", "r0042"), 3 + 42);
    it_progress_repo_state(p, a, IT_REPO_FAILED, "listing tags: 404");
    it_progress_repo_tags(p, 3 + 7, 0); /* an empty repo is done */
    it_snapshot *s = it_progress_snapshot(p, NULL);
    assert_int_equal(s->totals.repos_total, 3003);
    assert_int_equal(s->totals.repos_done, 2);
    const it_repo_row *r = row_named(s, "x");
    assert_int_equal(r->state, IT_REPO_FAILED);
    assert_string_equal(r->error, "listing tags: 404");
    assert_int_equal(row_named(s, "r0007")->state, IT_REPO_DONE);
    it_snapshot_free(s);
    it_progress_free(p);
}

static void test_throughput_window_and_sparkline(void **state)
{
    (void)state;
    it_progress *p = new_model();
    int r = it_progress_repo_add(p, "a", "a");
    int i = it_progress_image_add(p, r, "t");
    /* 1000 B in each of the first 5 seconds. */
    for (int sec = 0; sec < 5; sec++) {
        fake_now = 1000.0 + sec + 0.5;
        it_progress_bytes(p, i, 1000);
    }
    fake_now = 1005.5;
    it_snapshot *s = it_progress_snapshot(p, NULL);
    /* 5000 B over the 5.5 s the window covers so far. */
    assert_float_equal(s->throughput, 5000.0 / 5.5, 1e-6);
    assert_float_equal(s->spark[IT_SPARK_LEN - 1], 1000.0, 1e-9);
    assert_float_equal(s->spark[IT_SPARK_LEN - 5], 1000.0, 1e-9);
    assert_float_equal(s->spark[IT_SPARK_LEN - 6], 0.0, 1e-9);
    it_snapshot_free(s);

    /* 20 s later the window has slid past every byte. */
    fake_now = 1025.5;
    s = it_progress_snapshot(p, NULL);
    assert_float_equal(s->throughput, 0.0, 1e-9);
    assert_float_equal(s->spark[IT_SPARK_LEN - 21], 1000.0, 1e-9);
    assert_float_equal(s->spark[IT_SPARK_LEN - 1], 0.0, 1e-9);
    assert_int_equal(s->totals.bytes_done, 5000);
    it_snapshot_free(s);

    /* Window full: the last 10 s (9 complete + this 0.5). */
    for (int sec = 26; sec < 40; sec++) {
        fake_now = 1000.0 + sec + 0.2;
        it_progress_bytes(p, i, 2000);
    }
    fake_now = 1039.5;
    s = it_progress_snapshot(p, NULL);
    assert_float_equal(s->throughput, 10 * 2000.0 / 9.5, 1e-6);
    it_snapshot_free(s);

    /* A gap longer than the ring forgets everything. */
    fake_now = 1500.0;
    s = it_progress_snapshot(p, NULL);
    for (int k = 0; k < IT_SPARK_LEN; k++)
        assert_float_equal(s->spark[k], 0.0, 1e-9);
    assert_float_equal(s->elapsed, 500.0, 1e-9);
    it_snapshot_free(s);
    it_progress_free(p);
}

static void test_eta(void **state)
{
    (void)state;
    it_progress *p = new_model();
    int r = it_progress_repo_add(p, "a", "a");
    it_progress_repo_tags(p, r, 4);
    int img[4];
    for (int k = 0; k < 4; k++)
        img[k] = it_progress_image_add(p, r, "t");

    it_snapshot *s = it_progress_snapshot(p, NULL);
    assert_true(s->eta < 0); /* enumerating, nothing moved */
    it_snapshot_free(s);

    it_progress_image_state(p, img[0], IT_IMG_COPYING, NULL, NULL);
    it_progress_image_expect(p, img[0], 10000);
    fake_now = 1001.5;
    it_progress_bytes(p, img[0], 5000);
    fake_now = 1002.0;
    s = it_progress_snapshot(p, NULL);
    assert_true(s->eta < 0); /* bytes move, but still enumerating */
    it_snapshot_free(s);

    it_progress_enumeration_done(p);
    s = it_progress_snapshot(p, NULL);
    /* Sizes of three images unknown, no image finished: unknown. */
    assert_true(s->eta < 0);
    it_snapshot_free(s);

    for (int k = 1; k < 4; k++)
        it_progress_image_expect(p, img[k], 5000);
    s = it_progress_snapshot(p, NULL);
    /* 20000 B left at 5000 B / 2 s. */
    assert_float_equal(s->throughput, 2500.0, 1e-9);
    assert_float_equal(s->eta, 20000.0 / 2500.0, 1e-6);
    it_snapshot_free(s);

    /* Stalled bytes: falls back to the image rate (2 images in 4 s). */
    it_progress_image_state(p, img[0], IT_IMG_COPIED, NULL, NULL);
    fake_now = 1003.5;
    it_progress_image_state(p, img[1], IT_IMG_SKIPPED, NULL, NULL);
    fake_now = 1030.0;
    s = it_progress_snapshot(p, NULL);
    assert_float_equal(s->throughput, 0.0, 1e-9);
    /* Window: 2 images over min(59 + 0.0, 30 s) = 30 s; 2 remain. */
    assert_float_equal(s->eta, 2 / (2 / 30.0), 1e-6);
    it_snapshot_free(s);

    it_progress_image_state(p, img[2], IT_IMG_FAILED, NULL, "boom");
    it_progress_image_state(p, img[3], IT_IMG_COPIED, NULL, NULL);
    s = it_progress_snapshot(p, NULL);
    assert_float_equal(s->eta, 0.0, 1e-9);
    it_snapshot_free(s);
    it_progress_free(p);
}

static void test_row_order(void **state)
{
    (void)state;
    it_progress *p = new_model();
    const char *names[] = {"done-b", "wait-b", "copy-b", "fail",  "list",
                           "copy-a", "wait-a", "skip",   "done-a"};
    it_repo_state st[] = {IT_REPO_DONE,    IT_REPO_WAITING, IT_REPO_COPYING,
                          IT_REPO_FAILED,  IT_REPO_LISTING, IT_REPO_COPYING,
                          IT_REPO_WAITING, IT_REPO_SKIPPED, IT_REPO_DONE};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        int id = it_progress_repo_add(p, names[k], names[k]);
        it_progress_repo_state(p, id, st[k], NULL);
    }
    it_snapshot *s = it_progress_snapshot(p, NULL);
    const char *want[] = {"copy-a", "copy-b", "list",   "fail", "wait-a",
                          "wait-b", "done-a", "done-b", "skip"};
    assert_int_equal(s->n_rows, 9);
    for (size_t k = 0; k < 9; k++)
        assert_string_equal(s->rows[k].src_repo, want[k]);
    it_snapshot_free(s);
    it_progress_free(p);
}

static void test_filters(void **state)
{
    (void)state;
    it_progress *p = new_model();
    int a = it_progress_repo_add(p, "library/Nginx", "mirror/nginx");
    it_progress_repo_add(p, "library/redis", "mirror/redis");
    int c = it_progress_repo_add(p, "tools/busybox", "mirror/bb-nginx");
    it_progress_repo_tags(p, a, 1);
    int i = it_progress_image_add(p, a, "1.25");
    it_progress_image_state(p, i, IT_IMG_FAILED, NULL, "denied");
    (void)c;

    it_snapshot_filter f = {.name_contains = "NGINX"};
    it_snapshot *s = it_progress_snapshot(p, &f);
    assert_int_equal(s->n_rows, 2); /* source or target, any case */
    assert_non_null(row_named(s, "library/Nginx"));
    assert_non_null(row_named(s, "tools/busybox"));
    assert_int_equal(s->totals.repos_total, 3); /* totals unfiltered */
    it_snapshot_free(s);

    f = (it_snapshot_filter){.failed_only = true};
    s = it_progress_snapshot(p, &f);
    assert_int_equal(s->n_rows, 1);
    assert_string_equal(s->rows[0].src_repo, "library/Nginx");
    it_snapshot_free(s);

    f = (it_snapshot_filter){.name_contains = "redis", .failed_only = true};
    s = it_progress_snapshot(p, &f);
    assert_int_equal(s->n_rows, 0);
    it_snapshot_free(s);

    f = (it_snapshot_filter){.name_contains = ""};
    s = it_progress_snapshot(p, &f);
    assert_int_equal(s->n_rows, 3);
    int repos_total = s->totals.repos_total;
    it_snapshot_free(s);

    /* Totals only (headless lines): no rows, the same totals. */
    f = (it_snapshot_filter){.no_rows = true};
    s = it_progress_snapshot(p, &f);
    assert_int_equal(s->n_rows, 0);
    assert_int_equal(s->totals.repos_total, repos_total);
    assert_true(repos_total >= 3);
    it_snapshot_free(s);
    it_progress_free(p);
}

static void test_notes_ring_prep_and_redaction(void **state)
{
    (void)state;
    it_progress *p = new_model();
    char line[64];
    for (int k = 0; k < 60; k++) {
        snprintf(line, sizeof line, "note %d", k);
        it_progress_note(p, k % 2 == 1, line);
    }
    it_log_add_secret("hunter2-secret");
    it_progress_note(p, true, "login failed with password hunter2-secret");
    it_progress_prep(p, "instance", "tcr-1 (Pending)");
    it_progress_prep(p, "namespaces", "3 listed");
    it_progress_prep(p, "instance", "tcr-1 (Running)");

    it_snapshot *s = it_progress_snapshot(p, NULL);
    assert_int_equal(s->n_notes, 50);
    assert_string_equal(s->notes[0], "note 11"); /* oldest first */
    assert_true(s->note_is_error[0]);
    assert_string_equal(s->notes[48], "note 59");
    assert_null(strstr(s->notes[49], "hunter2-secret"));
    assert_non_null(strstr(s->notes[49], "login failed"));
    assert_int_equal(s->n_prep, 2);
    assert_string_equal(s->prep_keys[0], "instance");
    assert_string_equal(s->prep_values[0], "tcr-1 (Running)");
    assert_string_equal(s->prep_values[1], "3 listed");
    assert_false(s->stop_requested);
    it_snapshot_free(s);

    it_progress_free(p);
}

/* Stop is the run control's: the model only shows it (snapshots). */
static void test_stop_follows_runctl(void **state)
{
    (void)state;
    it_progress *p = new_model();
    it_runctl ctl;
    it_runctl_init(&ctl);
    it_snapshot *s0 = it_progress_snapshot(p, NULL);
    assert_false(s0->stop_requested); /* none bound */
    it_snapshot_free(s0);
    it_progress_bind_runctl(p, &ctl);
    it_snapshot *s = it_progress_snapshot(p, NULL);
    assert_false(s->stop_requested);
    it_snapshot_free(s);

    it_runctl_stop(&ctl); /* the dashboard's q + y */
    s = it_progress_snapshot(p, NULL);
    assert_true(s->stop_requested);
    it_snapshot_free(s);
    it_progress_free(p);
}

/* The signal handler's rule: the first signal stops, the second aborts;
 * requests stick. */
static void test_runctl_signals(void **state)
{
    (void)state;
    it_runctl ctl = {0};
    assert_int_equal(it_runctl_state(&ctl), IT_RUN_RUNNING);
    assert_false(it_runctl_stopping(&ctl));
    it_runctl_signal(&ctl);
    assert_int_equal(it_runctl_state(&ctl), IT_RUN_STOPPING);
    assert_true(it_runctl_stopping(&ctl));
    assert_false(it_runctl_aborting(&ctl));
    it_runctl_stop(&ctl);
    assert_false(it_runctl_aborting(&ctl));
    it_runctl_signal(&ctl);
    assert_int_equal(it_runctl_state(&ctl), IT_RUN_ABORTING);
    assert_true(it_runctl_aborting(&ctl));
    assert_true(it_runctl_stopping(&ctl));

    it_runctl other;
    it_runctl_init(&other);
    it_runctl_abort(&other); /* abort implies stop */
    assert_true(it_runctl_stopping(&other));
    assert_false(it_runctl_stopping(NULL));
    assert_false(it_runctl_aborting(NULL));
}

/* The snapshot says whether every repo so far shares its hosts, over all
 * repos even when a filter hides some. */
static void test_snapshot_one_host(void **state)
{
    (void)state;
    it_progress *p = new_model();
    it_snapshot *s = it_progress_snapshot(p, NULL);
    assert_non_null(s);
    assert_true(s->one_src_host && s->one_dst_host); /* no repos yet */
    it_snapshot_free(s);

    it_progress_repo_add(p, "a.example:1/team/x", "b.example/m/x");
    it_progress_repo_add(p, "a.example:1/team/y", "b.example/m/y");
    s = it_progress_snapshot(p, NULL);
    assert_true(s->one_src_host && s->one_dst_host);
    it_snapshot_free(s);

    /* A second target host: the source is still shared. */
    it_progress_repo_add(p, "a.example:1/team/z", "c.example/m/z");
    it_snapshot_filter only_x = {.name_contains = "team/x"};
    s = it_progress_snapshot(p, &only_x);
    assert_int_equal(s->n_rows, 1);
    assert_true(s->one_src_host);
    assert_false(s->one_dst_host);
    it_snapshot_free(s);

    /* A second source host; "a.example:2" is not "a.example:1". */
    it_progress_repo_add(p, "a.example:2/team/x", "b.example/m/x");
    s = it_progress_snapshot(p, NULL);
    assert_false(s->one_src_host);
    assert_false(s->one_dst_host);
    it_snapshot_free(s);
    it_progress_free(p);
}

static void test_format_line_and_summary(void **state)
{
    (void)state;
    it_progress *p = new_model();
    int r = it_progress_repo_add(p, "lib/app", "ns/app");
    it_progress_repo_tags(p, r, 2);
    int i = it_progress_image_add(p, r, "v1");
    int j = it_progress_image_add(p, r, "v2");
    it_progress_image_expect(p, i, 2 * 1048576);
    it_progress_image_expect(p, j, 0);
    it_progress_bytes(p, i, 1048576);
    it_progress_image_state(p, j, IT_IMG_FAILED, NULL, "manifest unknown");
    it_progress_enumeration_done(p);
    fake_now = 1002.0;
    it_snapshot *s = it_progress_snapshot(p, NULL);
    char line[256];
    it_progress_format_line(line, sizeof line, s);
    assert_string_equal(line, "images 1/2 (1 failed) | 1.0 MiB | "
                              "512.0 KiB/s | ETA 2s");
    it_snapshot_free(s);

    it_progress_image_state(p, i, IT_IMG_COPIED, NULL, NULL);
    it_progress_phase(p, IT_PHASE_DONE);
    char *buf = summary_text(p);
    assert_non_null(strstr(buf, "finished with failures (1 of 2 images"));
    assert_non_null(strstr(buf, "1 copied, 0 skipped, 1 failed, 2 total"));
    assert_non_null(strstr(buf, "lib/app -> ns/app (1 of 2 images failed)"
                                ": manifest unknown"));
    free(buf);
    it_progress_free(p);
}

static void test_summary_truncates_failed_list(void **state)
{
    (void)state;
    it_progress *p = new_model();
    char name[32];
    for (int k = 0; k < 25; k++) {
        snprintf(name, sizeof name, "repo%02d", k);
        int r = it_progress_repo_add(p, name, name);
        it_progress_repo_state(p, r, IT_REPO_FAILED, "listing failed");
    }
    char *buf = summary_text(p);
    assert_non_null(strstr(buf, "  repo19: listing failed"));
    assert_null(strstr(buf, "repo20"));
    assert_non_null(strstr(buf, "... and 5 more (see the report)"));
    free(buf);
    it_progress_free(p);
}

/* Sizes a server wrote near INT64_MAX: the sums saturate (no wrap to a
 * negative total, no undefined behaviour), the ETA stays defined. */
static void test_huge_sizes_saturate(void **state)
{
    (void)state;
    it_progress *p = new_model();
    int r = it_progress_repo_add(p, "lib/big", "ns/big");
    it_progress_repo_tags(p, r, 3);
    int img[3];
    for (int k = 0; k < 3; k++) {
        img[k] = it_progress_image_add(p, r, "t");
        it_progress_image_state(p, img[k], IT_IMG_COPYING, NULL, NULL);
        it_progress_image_expect(p, img[k], INT64_MAX - 1);
    }
    it_progress_enumeration_done(p);
    it_progress_bytes(p, img[0], INT64_MAX - 1);
    it_progress_bytes(p, img[1], INT64_MAX - 1);
    fake_now = 1002.0;
    it_snapshot *s = it_progress_snapshot(p, NULL);
    const it_repo_row *row = row_named(s, "lib/big");
    assert_non_null(row);
    assert_true(row->bytes_expected == INT64_MAX);
    assert_true(row->bytes_done == INT64_MAX);
    assert_true(s->totals.bytes_done == INT64_MAX);
    assert_true(s->eta >= 0 || s->eta < 0); /* computed, not NaN-trapped */
    it_snapshot_free(s);
    /* lowering an expectation again from a saturated sum stays sane */
    it_progress_image_expect(p, img[2], 10);
    s = it_progress_snapshot(p, NULL);
    row = row_named(s, "lib/big");
    assert_true(row->bytes_expected > 0);
    it_snapshot_free(s);
    it_progress_free(p);
}

/* Names and errors of remote origin cannot drive the terminal or fake a
 * line of the summary. */
static void test_summary_escapes_hostile_text(void **state)
{
    (void)state;
    it_progress *p = new_model();
    int r = it_progress_repo_add(p,
                                 "lib/\x1b]0;x\x07"
                                 "app",
                                 "ns/app");
    it_progress_repo_state(p, r, IT_REPO_FAILED,
                           "denied\nResult:  success\x1b[2J");
    it_progress_phase(p, IT_PHASE_DONE);
    char *buf = summary_text(p);
    assert_null(strchr(buf, '\x1b'));
    assert_null(strchr(buf, '\x07'));
    assert_null(strstr(buf, "\nResult:  success"));
    assert_non_null(strstr(buf, "lib/\\x1b]0;x\\x07app -> ns/app: "
                                "denied\\nResult:  success\\x1b[2J\n"));
    free(buf);
    it_progress_free(p);
}

/* A stop that lands when every image listed so far is done, with a
 * repository not listed yet: the run was cut short, not a success. */
static void test_summary_stop_before_listing_ends(void **state)
{
    (void)state;
    it_progress *p = new_model();
    it_runctl ctl;
    it_runctl_init(&ctl);
    it_progress_bind_runctl(p, &ctl);
    int a = it_progress_repo_add(p, "src/a", "dst/a");
    (void)it_progress_repo_add(p, "src/b", "dst/b"); /* never listed */
    it_progress_repo_tags(p, a, 1);
    int img = it_progress_image_add(p, a, "v1");
    it_progress_image_state(p, img, IT_IMG_COPIED, "sha256:x", NULL);
    it_runctl_stop(&ctl);
    it_progress_phase(p, IT_PHASE_DONE);
    char *buf = summary_text(p);
    assert_null(strstr(buf, "success"));
    assert_non_null(strstr(buf, "stopped before the end (1 of 1 images "
                                "done, 1 of 2 repositories)"));
    free(buf);
    it_progress_free(p);
}

/* Repositories that failed before any image was known (a credential helper
 * missing, say): the result line says how many, as the report does. */
static void test_summary_repositories_failed_before_listing(void **state)
{
    (void)state;
    it_progress *p = new_model();
    int a = it_progress_repo_add(p, "src/a", "dst/a");
    int b = it_progress_repo_add(p, "src/b", "dst/b");
    it_progress_repo_state(p, a, IT_REPO_FAILED, "helper not found");
    it_progress_repo_state(p, b, IT_REPO_FAILED, "helper not found");
    it_progress_enumeration_done(p);
    it_progress_phase(p, IT_PHASE_DONE);
    char *buf = summary_text(p);
    assert_non_null(
        strstr(buf, "finished with failures (2 of 2 repositories failed)"));
    free(buf);
    it_progress_free(p);
}

static void *finish_later(void *arg)
{
    struct timespec ts = {1, 300000000L};
    nanosleep(&ts, NULL);
    it_progress_phase(arg, IT_PHASE_DONE);
    return NULL;
}

static void test_headless_run(void **state)
{
    (void)state;
    /* Already done: returns without printing. */
    it_progress *p = it_progress_new("generic", "a", "b", NULL);
    it_progress_phase(p, IT_PHASE_DONE);
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    it_headless_run(p, 1, mem);
    fclose(mem);
    assert_int_equal(len, 0);
    free(buf);
    it_progress_free(p);

    /* Runs until another thread sets DONE; prints only progress lines. */
    p = it_progress_new("generic", "a", "b", NULL);
    int r = it_progress_repo_add(p, "x", "x");
    it_progress_repo_tags(p, r, 2);
    it_progress_image_add(p, r, "t");
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, finish_later, p), 0);
    buf = NULL;
    len = 0;
    mem = open_memstream(&buf, &len);
    it_headless_run(p, 1, mem);
    fclose(mem);
    pthread_join(th, NULL);
    for (char *line = buf; line && *line;) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        assert_true(strncmp(line, "images 0/2 (0 failed) | 0 B | ", 30) == 0);
        line = nl + 1;
    }
    free(buf);
    it_progress_free(p);
}

/* Workers send events while a reader snapshots: totals add up. */
typedef struct worker_arg {
    it_progress *p;
    int id;
} worker_arg;

static void *worker(void *arg)
{
    worker_arg *w = arg;
    char name[32];
    for (int k = 0; k < 200; k++) {
        snprintf(name, sizeof name, "w%d-r%d", w->id, k % 20);
        int r = it_progress_repo_add(w->p, name, name);
        int i = it_progress_image_add(w->p, r, "t");
        it_progress_image_state(w->p, i, IT_IMG_COPYING, NULL, NULL);
        it_progress_bytes(w->p, i, 10);
        it_progress_blob(w->p, IT_BLOB_COPIED);
        it_progress_image_state(w->p, i, IT_IMG_COPIED, "sha256:x", NULL);
    }
    return NULL;
}

static double real_clock_test(void)
{
    return 0.0;
}

static void test_threads(void **state)
{
    (void)state;
    it_progress *p = it_progress_new("generic", "a", "b", real_clock_test);
    pthread_t th[4];
    worker_arg args[4];
    for (int k = 0; k < 4; k++) {
        args[k] = (worker_arg){p, k};
        assert_int_equal(pthread_create(&th[k], NULL, worker, &args[k]), 0);
    }
    for (int k = 0; k < 50; k++) {
        it_snapshot *s = it_progress_snapshot(p, NULL);
        assert_non_null(s);
        assert_true(s->totals.images_copied <= s->totals.images_total);
        it_snapshot_free(s);
    }
    for (int k = 0; k < 4; k++)
        pthread_join(th[k], NULL);
    it_snapshot *s = it_progress_snapshot(p, NULL);
    assert_int_equal(s->totals.repos_total, 80);
    assert_int_equal(s->totals.images_total, 800);
    assert_int_equal(s->totals.images_copied, 800);
    assert_int_equal(s->totals.bytes_done, 8000);
    assert_int_equal(s->totals.blobs_copied, 800);
    it_snapshot_free(s);
    it_progress_free(p);
}

static void *finish_soon(void *arg)
{
    it_progress *p = arg;
    it_progress_phase(p, IT_PHASE_COPYING);
    it_progress_phase(p, IT_PHASE_DONE);
    return NULL;
}

/* it_progress_wait_done: false on a timeout while the run goes on, true as
 * soon as another thread marks it done. */
static void test_wait_done(void **state)
{
    (void)state;
    it_progress *p = it_progress_new("generic", "a", "b", NULL);
    assert_non_null(p);
    assert_false(it_progress_wait_done(p, 0.01));
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, finish_soon, p), 0);
    /* A long timeout: returns when the other thread is done, not later. */
    assert_true(it_progress_wait_done(p, 600));
    pthread_join(t, NULL);
    assert_true(it_progress_wait_done(p, 0));
    /* DONE is terminal: a late phase change does not undo it. */
    it_progress_phase(p, IT_PHASE_COPYING);
    assert_true(it_progress_wait_done(p, 0));
    it_progress_free(p);
}

/* A --shard run's "I/N" reaches every snapshot; unsharded runs have ""
 * (no preparation line is spent on it). */
static void test_shard_label(void **state)
{
    (void)state;
    it_progress *p = it_progress_new("generic", "a", "b", NULL);
    assert_non_null(p);
    it_snapshot *s = it_progress_snapshot(p, NULL);
    assert_string_equal(s->shard, "");
    it_snapshot_free(s);
    it_progress_shard(p, "2/3");
    s = it_progress_snapshot(p, NULL);
    assert_string_equal(s->shard, "2/3");
    assert_int_equal(s->n_prep, 0);
    it_snapshot_free(s);
    it_progress_shard(p, NULL);
    s = it_progress_snapshot(p, NULL);
    assert_string_equal(s->shard, "");
    it_snapshot_free(s);
    it_progress_free(p);
}

/* issue 15: hosts reported down/up are in the snapshot, sorted, bounded;
 * the headless printer's line for a down host. */
static void test_hosts_in_snapshot(void **state)
{
    (void)state;
    it_progress *p = it_progress_new("generic", "s", "d", NULL);
    assert_non_null(p);
    it_progress_host(p, "b.example:5000", true, 1000, 2000, 4, 0);
    it_progress_host(p, "a.example", false, 0, 0, 2, 7.5);
    for (int i = 0; i < 40; i++) {
        char h[32];
        snprintf(h, sizeof h, "h%02d.example", i);
        it_progress_host(p, h, false, 0, 0, 1, 1);
    }
    it_snapshot *s = it_progress_snapshot(p, NULL);
    assert_non_null(s);
    assert_int_equal(s->n_hosts, IT_HOSTS_MAX);
    assert_string_equal(s->hosts[0].host, "a.example");
    assert_true(s->hosts[0].limit_rps == 7.5);
    const it_host_row *b = NULL;
    for (size_t i = 0; i < s->n_hosts; i++)
        if (strcmp(s->hosts[i].host, "b.example:5000") == 0)
            b = &s->hosts[i];
    assert_non_null(b);
    assert_true(b->down && b->down_since == 1000 && b->next_try_ms == 2000);
    it_snapshot_free(s);
    /* up again: no longer down */
    it_progress_host(p, "b.example:5000", false, 0, 0, 4, 0);
    s = it_progress_snapshot(p, NULL);
    for (size_t i = 0; i < s->n_hosts; i++)
        assert_false(s->hosts[i].down);
    it_snapshot_free(s);
    it_progress_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_totals_and_states),
        cmocka_unit_test(test_wildcard_row_not_counted),
        cmocka_unit_test(test_shard_label),
        cmocka_unit_test(test_repo_add_dedup_and_listing_failure),
        cmocka_unit_test(test_throughput_window_and_sparkline),
        cmocka_unit_test(test_eta),
        cmocka_unit_test(test_row_order),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_notes_ring_prep_and_redaction),
        cmocka_unit_test(test_stop_follows_runctl),
        cmocka_unit_test(test_runctl_signals),
        cmocka_unit_test(test_snapshot_one_host),
        cmocka_unit_test(test_format_line_and_summary),
        cmocka_unit_test(test_summary_truncates_failed_list),
        cmocka_unit_test(test_huge_sizes_saturate),
        cmocka_unit_test(test_summary_escapes_hostile_text),
        cmocka_unit_test(test_summary_stop_before_listing_ends),
        cmocka_unit_test(test_summary_repositories_failed_before_listing),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_headless_run),
        cmocka_unit_test(test_wait_done),
        cmocka_unit_test(test_hosts_in_snapshot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
