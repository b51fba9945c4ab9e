/*
 * test_tc_pool.c - the TC client's connections and rate buckets:
 *  - the default (libcurl) transport against a small keep-alive HTTP/1.1
 *    server on 127.0.0.1 run by this test (it counts the connections it
 *    accepts): 200 calls open one connection; 8 threads calling one client
 *    open at most 8, every call answered (run it under the ASan build);
 *  - the per-action buckets with a scripted transport and a fake
 *    monotonic clock that the fake sleep advances: the documented rates, no
 *    one-second window with more calls than the documented N, a
 *    RequestLimitExceeded answer halving the action's rate, and the rate
 *    growing back. Counts only, no timing assertions.
 */
#define _GNU_SOURCE /* strcasestr */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "../../tencentcloud/internal.h"
#include "tencentcloud.h"

/* ------------------------------------------- a keep-alive HTTP server */

#define MAX_CONNS 64

typedef struct server {
    int fd;
    int port;
    pthread_t tid;
    atomic_int accepted;
    atomic_int requests;
    atomic_bool stop;
    pthread_t conn_tid[MAX_CONNS];
    int conn_fd[MAX_CONNS];
    int n_conns; /* touched by the accept thread only */
} server;

typedef struct conn_arg {
    server *s;
    int fd;
} conn_arg;

static const char ANSWER_BODY[] =
    "{\"Response\":{\"RequestId\":\"00000000-0000-0000-0000-000000000001\"}}";

/* Reads requests (headers, then Content-Length bytes) and answers each
 * with the same small JSON, keeping the connection open, until the
 * client closes it or the server stops. */
static void *conn_main(void *arg)
{
    conn_arg *a = arg;
    char buf[65536];
    size_t len = 0;
    while (!atomic_load(&a->s->stop)) {
        struct pollfd pfd = {.fd = a->fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        ssize_t r = read(a->fd, buf + len, sizeof(buf) - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        buf[len] = '\0';
        for (;;) {
            char *end = strstr(buf, "\r\n\r\n");
            if (end == NULL)
                break;
            size_t body = 0;
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            if (cl != NULL && cl < end)
                body = strtoul(cl + 17, NULL, 10);
            size_t need = (size_t)(end + 4 - buf) + body;
            if (len < need)
                break;
            char resp[512];
            int n =
                snprintf(resp, sizeof(resp),
                         "HTTP/1.1 200 OK\r\nContent-Type: "
                         "application/json\r\nContent-Length: %zu\r\n\r\n%s",
                         strlen(ANSWER_BODY), ANSWER_BODY);
            /* counted before the answer leaves: the client may check
             * the count as soon as it has the answer */
            atomic_fetch_add(&a->s->requests, 1);
            if (write(a->fd, resp, (size_t)n) != n)
                goto done;
            memmove(buf, buf + need, len - need);
            len -= need;
            buf[len] = '\0';
        }
        if (len >= sizeof(buf) - 1)
            break;
    }
done:
    close(a->fd);
    free(a);
    return NULL;
}

static void *accept_main(void *arg)
{
    server *s = arg;
    while (!atomic_load(&s->stop)) {
        struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        int fd = accept(s->fd, NULL, NULL);
        if (fd < 0)
            continue;
        atomic_fetch_add(&s->accepted, 1);
        conn_arg *a = malloc(sizeof(*a));
        if (a == NULL || s->n_conns == MAX_CONNS) {
            free(a);
            close(fd);
            continue;
        }
        a->s = s;
        a->fd = fd;
        if (pthread_create(&s->conn_tid[s->n_conns], NULL, conn_main, a) != 0) {
            free(a);
            close(fd);
            continue;
        }
        s->n_conns++;
    }
    return NULL;
}

static void server_start(server *s)
{
    memset(s, 0, sizeof(*s));
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(s->fd, 64), 0);
    socklen_t sl = sizeof(sa);
    assert_int_equal(getsockname(s->fd, (struct sockaddr *)&sa, &sl), 0);
    s->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&s->tid, NULL, accept_main, s), 0);
}

static void server_stop(server *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->tid, NULL);
    for (int i = 0; i < s->n_conns; i++)
        pthread_join(s->conn_tid[i], NULL);
    close(s->fd);
}

static tc_client *curl_client(const server *s)
{
    char endpoint[64];
    snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", s->port);
    tc_client_opts o = {
        .endpoint = endpoint,
        .region = "ap-guangzhou",
        .secret_id = "AKIDpooltest",
        .secret_key = "pool-secret-key",
        .max_retries = 0,
        .timeout_ms = 10000,
    };
    tc_client *c = NULL;
    tc_error err = {0};
    assert_int_equal(tc_client_new(&c, &o, &err), TC_OK);
    return c;
}

/* 200 calls one after the other: one connection, reused. */
static void test_connection_reused(void **state)
{
    (void)state;
    server s;
    server_start(&s);
    tc_client *c = curl_client(&s);
    for (int i = 0; i < 200; i++) {
        json_t *resp = NULL;
        tc_error err = {0};
        if (tc_call(c, "DescribeInstances", NULL, &resp, &err) != TC_OK)
            fail_msg("call %d: %s", i, err.message);
        json_decref(resp);
    }
    assert_int_equal(atomic_load(&s.requests), 200);
    assert_int_equal(atomic_load(&s.accepted), 1);
    assert_int_equal(tc_client_connections(c), 1);
    tc_client_free(c);
    server_stop(&s);
}

#define THREADS          8
#define CALLS_PER_THREAD 25

typedef struct worker {
    tc_client *c;
    int failures;
    char first[600];
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < CALLS_PER_THREAD; i++) {
        json_t *resp = NULL;
        tc_error err = {0};
        /* two actions: two buckets, and the pool, shared between threads */
        const char *action =
            i % 2 ? "DescribeImagePersonal" : "DescribeRepositoryOwnerPersonal";
        if (tc_call(w->c, action, NULL, &resp, &err) != TC_OK &&
            w->failures++ == 0)
            snprintf(w->first, sizeof(w->first), "%s", err.message);
        json_decref(resp);
    }
    return NULL;
}

/* 8 threads on one client: every call answered, at most one connection
 * per concurrent caller. */
static void test_threads_share_client(void **state)
{
    (void)state;
    server s;
    server_start(&s);
    tc_client *c = curl_client(&s);
    worker w[THREADS];
    pthread_t tid[THREADS];
    for (int t = 0; t < THREADS; t++) {
        w[t] = (worker){.c = c};
        assert_int_equal(pthread_create(&tid[t], NULL, worker_main, &w[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(tid[t], NULL);
        if (w[t].failures != 0)
            fail_msg("thread %d: %d failures, first: %s", t, w[t].failures,
                     w[t].first);
    }
    assert_int_equal(atomic_load(&s.requests), THREADS * CALLS_PER_THREAD);
    int accepted = atomic_load(&s.accepted);
    if (accepted < 1 || accepted > THREADS)
        fail_msg("%d connections for %d threads", accepted, THREADS);
    assert_int_equal(tc_client_connections(c), accepted);
    tc_client_free(c);
    server_stop(&s);
}

/* --------------------------------------------- the per-action buckets */

#define MAX_SENT 4096

typedef struct script {
    int64_t now_ms; /* the fake monotonic clock */
    int n_sent;
    int64_t sent_ms[MAX_SENT];
    char sent_action[MAX_SENT][40];
    int throttle_first; /* answer RequestLimitExceeded to this many calls */
    int n_sleeps;
    atomic_int calls; /* for the threaded test */
} script;

static int64_t script_mono(void *payload)
{
    return ((script *)payload)->now_ms;
}

static int64_t script_clock(void *payload)
{
    return 1700000000 + ((script *)payload)->now_ms / 1000;
}

static void script_sleep(void *payload, long ms)
{
    script *s = payload;
    s->now_ms += ms;
    s->n_sleeps++;
}

static const char *req_header(const tc_http_request *r, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < r->n_headers; i++)
        if (strncasecmp(r->headers[i], name, n) == 0 && r->headers[i][n] == ':')
            return r->headers[i] + n + 2;
    return "";
}

static int script_transport(void *payload, const tc_http_request *req,
                            long *status, char **body, size_t *body_len,
                            tc_error *err)
{
    (void)err;
    script *s = payload;
    int k = s->n_sent++;
    if (k < MAX_SENT) {
        s->sent_ms[k] = s->now_ms;
        snprintf(s->sent_action[k], sizeof(s->sent_action[k]), "%s",
                 req_header(req, "X-TC-Action"));
    }
    *status = 200;
    if (k < s->throttle_first)
        *body = strdup("{\"Response\":{\"Error\":{\"Code\":"
                       "\"RequestLimitExceeded\",\"Message\":\"slow "
                       "down\"},\"RequestId\":\"r\"}}");
    else
        *body = strdup("{\"Response\":{\"RequestId\":\"r\"}}");
    *body_len = strlen(*body);
    return TC_OK;
}

static tc_client *script_client(script *s, int max_retries)
{
    tc_client_opts o = {
        .endpoint = "https://tcr.example.test",
        .region = "ap-guangzhou",
        .secret_id = "AKIDbuckets",
        .secret_key = "bucket-secret-key",
        .max_retries = max_retries,
        .backoff_base_ms = 100,
        .backoff_max_ms = 1000,
        .clock = script_clock,
        .sleep_ms = script_sleep,
        .monotonic_ms = script_mono,
        .transport = script_transport,
        .payload = s,
    };
    tc_client *c = NULL;
    tc_error err = {0};
    assert_int_equal(tc_client_new(&c, &o, &err), TC_OK);
    return c;
}

/* The most calls of `action` sent in any window [t, t + 1000 ms). */
static int busiest_second(const script *s, const char *action)
{
    int best = 0;
    int n = s->n_sent < MAX_SENT ? s->n_sent : MAX_SENT;
    for (int i = 0; i < n; i++) {
        if (strcmp(s->sent_action[i], action) != 0)
            continue;
        int count = 0;
        for (int j = i; j < n; j++)
            if (strcmp(s->sent_action[j], action) == 0 &&
                s->sent_ms[j] < s->sent_ms[i] + 1000)
                count++;
        if (count > best)
            best = count;
    }
    return best;
}

static void test_documented_rates(void **state)
{
    (void)state;
    /* the TCR API reference's "频率限制(次/秒)" */
    assert_true(tc_action_rate("DescribeImagePersonal") == 100.0);
    assert_true(tc_action_rate("DescribeRepositoryOwnerPersonal") == 100.0);
    assert_true(tc_action_rate("DescribeNamespacePersonal") == 20.0);
    assert_true(tc_action_rate("DescribeInstances") == 100.0);
    assert_true(tc_action_rate("DescribeNamespaces") == 100.0);
    assert_true(tc_action_rate("DescribeRepositories") == 100.0);
    assert_true(tc_action_rate("DescribeImages") == 100.0);
    assert_true(tc_action_rate("CreateInstanceToken") == 100.0);
    assert_true(tc_action_rate("CreateNamespace") == 20.0);
    /* not documented: the default */
    assert_true(tc_action_rate("SomethingElse") == TC_DEFAULT_ACTION_RATE);
    assert_true(tc_action_rate(NULL) == TC_DEFAULT_ACTION_RATE);
    assert_true(TC_DEFAULT_ACTION_RATE == 20.0);
}

/* 500 reads and 100 creates issued as fast as the caller can: no
 * one-second window holds more than the documented N of either action,
 * and the calls did wait (sleeps) rather than being refused. */
static void test_bucket_keeps_documented_rate(void **state)
{
    (void)state;
    script *s = calloc(1, sizeof(*s));
    tc_client *c = script_client(s, 0);
    for (int i = 0; i < 600; i++) {
        json_t *resp = NULL;
        tc_error err = {0};
        const char *action =
            i % 6 == 5 ? "CreateNamespace" : "DescribeImagePersonal";
        assert_int_equal(tc_call(c, action, NULL, &resp, &err), TC_OK);
        json_decref(resp);
    }
    assert_int_equal(s->n_sent, 600);
    int reads = busiest_second(s, "DescribeImagePersonal");
    int creates = busiest_second(s, "CreateNamespace");
    if (reads > 100 || creates > 20)
        fail_msg("busiest second: %d DescribeImagePersonal (max 100), %d "
                 "CreateNamespace (max 20)",
                 reads, creates);
    /* and the buckets are not far below the rate either: 500 reads at
     * 90/s after a burst of 10 take more than 5 s of the fake clock */
    assert_true(reads >= 80);
    assert_true(s->n_sleeps > 0);
    tc_client_free(c);
    free(s);
}

/* A RequestLimitExceeded answer halves that action's rate (once, however
 * many answers within 250 ms), leaves other actions alone, and the
 * rate grows back while the API stays calm. */
static void test_throttle_halves_rate(void **state)
{
    (void)state;
    script *s = calloc(1, sizeof(*s));
    s->throttle_first = 2;
    tc_client *c = script_client(s, 4);
    double full = tc__client_action_rate(c, "DescribeImagePersonal");
    assert_true(full > 89.0 && full <= 90.0);
    json_t *resp = NULL;
    tc_error err = {0};
    /* two throttled answers, then success: retried with the backoff */
    assert_int_equal(tc_call(c, "DescribeImagePersonal", NULL, &resp, &err),
                     TC_OK);
    json_decref(resp);
    assert_int_equal(s->n_sent, 3);
    double now = tc__client_action_rate(c, "DescribeImagePersonal");
    /* the two answers came 50..100 ms apart (the first backoff): halved
     * once, or twice if 250 ms passed between them */
    if (!(now <= full / 2 + 0.01 && now >= full / 4 - 0.01))
        fail_msg("rate %.2f after throttling, full %.2f", now, full);
    assert_true(tc__client_action_rate(c, "DescribeImages") == full);
    /* calm: back to the full rate within 10 s of the fake clock */
    s->now_ms += 10000;
    assert_true(tc__client_action_rate(c, "DescribeImagePersonal") == full);
    tc_client_free(c);
    free(s);
}

/* Throttled every second, an action's rate halves down to its floor of
 * 0.5/s and no lower; a second throttle within 250 ms does not halve
 * again; after a calm spell it is back to the full rate. */
static void test_throttle_floor(void **state)
{
    (void)state;
    tc__limiter *l = NULL;
    assert_int_equal(tc__limiter_new(&l), TC_OK);
    int64_t t = 5000;
    double full = tc__limiter_rate(l, "CreateNamespace", t);
    assert_true(full > 17.9 && full <= 18.0); /* 0.9 x the documented 20 */
    tc__limiter_throttled(l, "CreateNamespace", t);
    tc__limiter_throttled(l, "CreateNamespace", t + 10);
    assert_true(tc__limiter_rate(l, "CreateNamespace", t + 20) == full / 2);
    for (int i = 0; i < 30; i++) {
        t += 1000;
        tc__limiter_throttled(l, "CreateNamespace", t);
    }
    assert_true(tc__limiter_rate(l, "CreateNamespace", t) == 0.5);
    /* a call at the floor waits its turn: 2 s for a second call */
    assert_int_equal(tc__limiter_reserve(l, "CreateNamespace", t), 0);
    assert_int_equal(tc__limiter_reserve(l, "CreateNamespace", t), 2000);
    t += 60000;
    assert_true(tc__limiter_rate(l, "CreateNamespace", t) == full);
    tc__limiter_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connection_reused),
        cmocka_unit_test(test_threads_share_client),
        cmocka_unit_test(test_documented_rates),
        cmocka_unit_test(test_bucket_keeps_documented_rate),
        cmocka_unit_test(test_throttle_halves_rate),
        cmocka_unit_test(test_throttle_floor),
    };
    if (getenv("TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
