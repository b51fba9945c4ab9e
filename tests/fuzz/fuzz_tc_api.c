/*
 * fuzz_tc_api.c - every Tencent Cloud API answer the tool parses, through
 * the tc_client transport seam: the transport answers each request with the
 * input. Every typed action is called in turn (CCR namespaces, repositories
 * (whole and page by page), tags (whole and, with the streaming API of
 * issue 10, page by page); TCR DescribeInstances, namespaces,
 * CreateNamespace, repositories, images, CreateInstanceToken), with a fixed
 * clock and a sleep that returns at once, so retries cost nothing.
 *
 * The input is a list of answers separated by a line "---": the first
 * request of each action gets the first answer, the next request (next page
 * or retry) the second, and so on; after the last one the last is repeated
 * (so a paging loop always ends). An answer may start with a line
 * "HTTP nnn" (the status; 200 otherwise); the answer "!" is a transport
 * failure.
 */
#include "fuzz_common.h"

#include "tencentcloud.h"

#define SECRET_ID   "AKIDfuzz0000000000000000000000000001"
#define SECRET_KEY  "fuzzSecretKey-must-never-show-0001"
#define TOKEN       "fuzzSessionToken-must-never-show-0001"
#define MAX_ANSWERS 16

typedef struct answers {
    const uint8_t *part[MAX_ANSWERS];
    size_t len[MAX_ANSWERS];
    size_t n;
    size_t next; /* the answer for the next request */
    long requests;
} answers;

static answers ans;
static tc_client *client;

static void split_answers(const uint8_t *data, size_t size)
{
    static const char sep[] = "\n---\n";
    const size_t sl = sizeof(sep) - 1;
    memset(&ans, 0, sizeof(ans));
    size_t start = 0;
    for (size_t i = 0; i + sl <= size && ans.n < MAX_ANSWERS - 1; i++) {
        if (memcmp(data + i, sep, sl) != 0)
            continue;
        ans.part[ans.n] = data + start;
        ans.len[ans.n] = i - start;
        ans.n++;
        start = i + sl;
        i = start - 1;
    }
    ans.part[ans.n] = data + start;
    ans.len[ans.n] = size - start;
    ans.n++;
}

static int transport(void *payload, const tc_http_request *req, long *status,
                     char **body, size_t *body_len, tc_error *err)
{
    answers *a = payload;
    size_t i = a->next < a->n ? a->next : a->n - 1;
    const uint8_t *p = a->part[i];
    size_t len = a->len[i];

    a->next++;
    a->requests++;
    FUZZ_CHECK(a->requests < 100000); /* a paging or retry loop that runs on */
    for (size_t h = 0; h < req->n_headers; h++)
        FUZZ_CHECK(strstr(req->headers[h], SECRET_KEY) == NULL);

    *status = 200;
    *body = NULL;
    *body_len = 0;
    if (len == 1 && p[0] == '!')
        return tc_error_set(err, TC_ERETRY, "connection refused (fuzz)");
    if (len >= 9 && memcmp(p, "HTTP ", 5) == 0 && p[8] == '\n') {
        *status = (p[5] - '0') * 100L + (p[6] - '0') * 10L + (p[7] - '0');
        p += 9;
        len -= 9;
    }
    /* malloc'd, NUL-terminated, as the transport contract says. */
    *body = malloc(len + 1);
    if (*body == NULL)
        abort();
    if (len > 0)
        memcpy(*body, p, len);
    (*body)[len] = '\0';
    *body_len = len;
    return TC_OK;
}

static int64_t fixed_clock(void *payload)
{
    (void)payload;
    return 1700000000;
}

static void no_sleep(void *payload, long ms)
{
    (void)payload;
    (void)ms;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    tc_client_opts o = {
        .endpoint = "https://tcr.fuzz.test",
        .region = "ap-guangzhou",
        .secret_id = SECRET_ID,
        .secret_key = SECRET_KEY,
        .token = TOKEN,
        .max_retries = 2,
        .backoff_base_ms = 1,
        .backoff_max_ms = 1,
        .clock = fixed_clock,
        .sleep_ms = no_sleep,
        .transport = transport,
        .payload = &ans,
    };
#ifdef TC_DEFAULT_MAX_ITEMS
    /* Small caps: a listing that runs on is cut early, and the cap path is
     * fuzzed too. */
    o.max_items = 1000;
    o.max_pages = 20;
#endif
    tc_error err;
    if (tc_client_new(&client, &o, &err) != TC_OK) {
        fprintf(stderr, "tc_client_new: %s\n", err.message);
        abort();
    }
    return 0;
}

/* Before each action: the first answer again, a clean error. */
static tc_error *begin(tc_error *err)
{
    ans.next = 0;
    ans.requests = 0;
    memset(err, 0, sizeof(*err));
    return err;
}

static void check_err(const tc_error *err, int rc)
{
    if (rc == TC_OK)
        return;
    FUZZ_CHECK(rc < 0 && err->code == rc);
    FUZZ_CHECK(memchr(err->message, '\0', sizeof(err->message)) != NULL);
    FUZZ_CHECK(memchr(err->api_code, '\0', sizeof(err->api_code)) != NULL);
    FUZZ_CHECK(memchr(err->request_id, '\0', sizeof(err->request_id)) != NULL);
    /* Server text is scrubbed of both secrets before it is stored. */
    FUZZ_CHECK(strstr(err->message, SECRET_KEY) == NULL);
    FUZZ_CHECK(strstr(err->message, TOKEN) == NULL);
}

static void check_ns(const tc_namespace *v, size_t n, int rc)
{
    FUZZ_CHECK(rc == TC_OK || (v == NULL && n == 0));
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(v[i].name != NULL && v[i].creation_time != NULL);
}

static void check_repos(const tc_repo *v, size_t n, int rc)
{
    FUZZ_CHECK(rc == TC_OK || (v == NULL && n == 0));
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(v[i].full_name != NULL && v[i].namespace_name != NULL &&
                   v[i].name != NULL && v[i].server != NULL &&
                   v[i].update_time != NULL);
}

static void check_images(const tc_image *v, size_t n, int rc)
{
    FUZZ_CHECK(rc == TC_OK || (v == NULL && n == 0));
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(v[i].tag != NULL && v[i].digest != NULL &&
                   v[i].push_time != NULL && v[i].kind != NULL);
}

static int on_page(void *payload, const tc_repo *page, size_t n)
{
    size_t *pages = payload;
    check_repos(page, n, TC_OK);
    return ++*pages >= 3; /* stop early after three pages */
}

#ifdef TC_DEFAULT_MAX_ITEMS
static int on_tag_page(void *payload, const tc_image *page, size_t n)
{
    size_t *pages = payload;
    check_images(page, n, TC_OK);
    return ++*pages >= 3;
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tc_error e;
    int rc;
    size_t n = 0;
    tc_namespace *ns = NULL;
    tc_repo *repos = NULL;
    tc_image *images = NULL;
    tc_instance *inst = NULL;
    tc_instance_token *tok = NULL;

    split_answers(data, size);

    rc = tc_ccr_list_namespaces(&ns, &n, client, begin(&e));
    check_err(&e, rc);
    check_ns(ns, n, rc);
    tc_namespaces_free(ns, n);

    rc = tc_ccr_list_repos(&repos, &n, client, begin(&e));
    check_err(&e, rc);
    check_repos(repos, n, rc);
    tc_repos_free(repos, n);

    size_t pages = 0;
#ifdef TC_DEFAULT_MAX_ITEMS /* the listing caps of issue 10 item 3 */
    rc = tc_ccr_each_repo(client, NULL, on_page, &pages, begin(&e));
    check_err(&e, rc);
    pages = 0;
    rc = tc_ccr_each_tag(client, "team-a/web", NULL, on_tag_page, &pages,
                         begin(&e));
    check_err(&e, rc);
#else
    rc = tc_ccr_each_repo(client, on_page, &pages, begin(&e));
    check_err(&e, rc);
#endif

    rc = tc_ccr_list_tags(&images, &n, client, "team-a/web", begin(&e));
    check_err(&e, rc);
    check_images(images, n, rc);
    tc_images_free(images, n);

    rc = tc_tcr_list_instances(&inst, &n, client, "fuzz", begin(&e));
    check_err(&e, rc);
    FUZZ_CHECK(rc == TC_OK || (inst == NULL && n == 0));
    for (size_t i = 0; i < n; i++) {
        char host[256];
        FUZZ_CHECK(inst[i].registry_id != NULL && inst[i].name != NULL &&
                   inst[i].status != NULL && inst[i].public_domain != NULL &&
                   inst[i].region != NULL && inst[i].type != NULL);
        (void)tc_tcr_registry_host(host, sizeof(host), inst[i].name);
        (void)tc_ccr_registry_host(inst[i].region);
    }
    (void)tc_instance_find(inst, n, "fuzz");
    tc_instances_free(inst, n);

    rc = tc_tcr_list_namespaces(&ns, &n, client, "tcr-fuzz0001", NULL,
                                begin(&e));
    check_err(&e, rc);
    check_ns(ns, n, rc);
    tc_namespaces_free(ns, n);

    rc = tc_tcr_create_namespace(client, "tcr-fuzz0001", "team-a", false,
                                 begin(&e));
    check_err(&e, rc);

    rc = tc_tcr_list_repos(&repos, &n, client, "tcr-fuzz0001", "team-a",
                           begin(&e));
    check_err(&e, rc);
    check_repos(repos, n, rc);
    tc_repos_free(repos, n);

    rc = tc_tcr_list_images(&images, &n, client, "tcr-fuzz0001", "team-a",
                            "web", begin(&e));
    check_err(&e, rc);
    check_images(images, n, rc);
    tc_images_free(images, n);

    rc = tc_tcr_create_instance_token(&tok, client, "tcr-fuzz0001", begin(&e));
    check_err(&e, rc);
    if (rc == TC_OK)
        FUZZ_CHECK(tok != NULL && tok->username != NULL && tok->token != NULL &&
                   tok->token[0] != '\0' && tok->token_id != NULL);
    else
        FUZZ_CHECK(tok == NULL);
    tc_instance_token_free(tok);
    return 0;
}
