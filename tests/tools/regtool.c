/*
 * regtool.c - a small command-line driver over the public registry.h API,
 * for the integration tests. Not part of the product.
 *
 *   regtool [options] copy SRC_REF DST_REF
 *   regtool [options] tags REF            (one tag a line)
 *   regtool [options] catalog HOST        (one repository a line)
 *   regtool [options] head REF            ("digest media-type size")
 *   regtool [options] get REF             (manifest bytes to stdout)
 *   regtool [options] mount HOST/REPO@DIGEST FROM_REPO
 *   regtool [options] exists HOST/REPO@DIGEST   (prints the size)
 *   regtool [options] upload HOST/REPO FILE     (prints the digest)
 *   regtool [options] blob HOST/REPO@DIGEST     (blob bytes to stdout)
 *
 * Options: --src-user U --src-pass P --src-insecure --src-ca FILE (also
 * --user/--pass/--insecure/--ca), the same with --dst-, --page-size N,
 * --stats (print "requests=N" to stderr at the end), --max-tags N and
 * --max-pages N (limits of tags/catalog, streamed page by page with
 * reg_tags_each / reg_catalog_each; "page N" goes to stderr for each page),
 * --collect (tags/catalog through the collecting reg_tags_list /
 * reg_catalog instead). Passwords may come
 * from REGTOOL_SRC_PASS / REGTOOL_DST_PASS instead of the command line.
 * Exit 0 on success, 1 on failure with "regtool: [code] message" on stderr.
 */
#include "registry.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

typedef struct side {
    const char *user;
    const char *pass;
    const char *ca;
    bool insecure;
} side;

static atomic_long n_requests;

static void count_http(void *payload, const char *method, const char *url,
                       long status)
{
    (void)payload;
    (void)method;
    (void)url;
    (void)status;
    atomic_fetch_add(&n_requests, 1);
}

static int fail(const reg_error *err)
{
    fprintf(stderr, "regtool: [%s] %s\n", reg_strerror(err->code), err->msg);
    return 1;
}

static int usage(void)
{
    fprintf(stderr, "usage: regtool [options] copy|tags|catalog|head|get|"
                    "mount|exists|upload|blob ARGS...\n");
    return 1;
}

static int make_client(reg_client **out, reg_global *g, const char *host,
                       const side *s, reg_error *err)
{
    reg_client_opts o = {0};
    o.host = host;
    o.username = s->user;
    o.password = s->pass;
    o.insecure = s->insecure;
    o.ca_file = s->ca;
    o.connect_timeout_s = 10;
    o.low_speed_time_s = 30;
    o.hooks.on_http = count_http;
    return reg_client_new(out, g, &o, err);
}

static const char *ref_target(const reg_ref *r)
{
    return r->digest != NULL ? r->digest : (r->tag != NULL ? r->tag : "latest");
}

/* Copies the blobs and the manifest m (already fetched) to dst under
 * dst_ref. Index/list children are copied first, by digest. */
static int copy_manifest(reg_client *src, const char *srepo, reg_client *dst,
                         const char *drepo, const reg_manifest *m,
                         const char *dst_ref, reg_error *err)
{
    int rc = REG_OK;
    for (size_t i = 0; i < m->n_children; i++) {
        reg_manifest *child = NULL;
        rc = reg_manifest_get(&child, src, srepo, m->children[i].digest, err);
        if (rc == REG_OK)
            rc = copy_manifest(src, srepo, dst, drepo, child, child->digest,
                               err);
        reg_manifest_free(child);
        if (rc != REG_OK)
            return rc;
    }
    for (size_t i = 0; i < m->n_blobs; i++) {
        const reg_descriptor *d = &m->blobs[i];
        int64_t size = -1;
        rc = reg_blob_exists(dst, drepo, d->digest, &size, err);
        if (rc == REG_OK)
            continue;
        if (rc != REG_ENOTFOUND)
            return rc;
        reg_error_clear(err);
        rc = reg_blob_copy(src, srepo, dst, drepo, d, NULL, err);
        if (rc != REG_OK)
            return rc;
    }
    return reg_manifest_put(dst, drepo, dst_ref, m, err);
}

static int cmd_copy(reg_global *g, const side *ss, const side *ds,
                    const char *src_s, const char *dst_s, reg_error *err)
{
    reg_ref *sr = NULL, *dr = NULL;
    reg_client *src = NULL, *dst = NULL;
    reg_manifest *m = NULL;
    int rc = reg_ref_parse(&sr, src_s, err);
    if (rc == REG_OK)
        rc = reg_ref_parse(&dr, dst_s, err);
    if (rc == REG_OK)
        rc = make_client(&src, g, sr->domain, ss, err);
    if (rc == REG_OK)
        rc = make_client(&dst, g, dr->domain, ds, err);
    if (rc == REG_OK)
        rc = reg_manifest_get(&m, src, sr->path, ref_target(sr), err);
    if (rc == REG_OK) {
        const char *target = dr->tag != NULL      ? dr->tag
                             : dr->digest != NULL ? dr->digest
                             : sr->tag != NULL    ? sr->tag
                                                  : m->digest;
        rc = copy_manifest(src, sr->path, dst, dr->path, m, target, err);
    }
    if (rc == REG_OK)
        printf("%s\n", m->digest);
    reg_manifest_free(m);
    reg_client_free(src);
    reg_client_free(dst);
    reg_ref_free(sr);
    reg_ref_free(dr);
    return rc;
}

/* Options of the tags and catalog commands. */
typedef struct list_opts {
    int page_size;
    reg_list_limits lim;
    bool collect;
    size_t pages;
} list_opts;

static int print_page(void *payload, char *const *items, size_t n)
{
    list_opts *lo = payload;
    lo->pages++;
    fprintf(stderr, "page %zu: %zu items\n", lo->pages, n);
    for (size_t i = 0; i < n; i++)
        printf("%s\n", items[i]);
    fflush(stdout);
    return 0;
}

static int print_strv(char **v)
{
    for (char **p = v; *p != NULL; p++)
        printf("%s\n", *p);
    return REG_OK;
}

static int cmd_one(reg_global *g, const side *s, const char *cmd,
                   const char *arg, const char *arg2, list_opts *lo,
                   reg_error *err)
{
    reg_ref *r = NULL;
    reg_client *c = NULL;
    char **v = NULL;
    size_t n = 0;
    int rc;

    if (strcmp(cmd, "catalog") == 0) {
        rc = make_client(&c, g, reg_canonical_host(arg), s, err);
        if (rc == REG_OK && lo->collect) {
            rc = reg_catalog(&v, &n, c, lo->page_size, err);
            if (rc == REG_OK)
                print_strv(v);
        } else if (rc == REG_OK) {
            rc = reg_catalog_each(c, lo->page_size, &lo->lim, print_page, lo,
                                  err);
        }
        goto cleanup;
    }
    rc = reg_ref_parse(&r, arg, err);
    if (rc == REG_OK)
        rc = make_client(&c, g, r->domain, s, err);
    if (rc != REG_OK)
        goto cleanup;
    if (strcmp(cmd, "tags") == 0 && lo->collect) {
        rc = reg_tags_list(&v, &n, c, r->path, lo->page_size, err);
        if (rc == REG_OK)
            print_strv(v);
    } else if (strcmp(cmd, "tags") == 0) {
        rc = reg_tags_each(c, r->path, lo->page_size, &lo->lim, print_page, lo,
                           err);
    } else if (strcmp(cmd, "head") == 0) {
        char digest[REG_DIGEST_LEN + 1] = "";
        char *mt = NULL;
        int64_t size = -1;
        rc = reg_manifest_head(c, r->path, ref_target(r), digest, &mt, &size,
                               err);
        if (rc == REG_OK)
            printf("%s %s %lld\n", digest, mt != NULL ? mt : "-",
                   (long long)size);
        free(mt);
    } else if (strcmp(cmd, "get") == 0) {
        reg_manifest *m = NULL;
        rc = reg_manifest_get(&m, c, r->path, ref_target(r), err);
        if (rc == REG_OK)
            fwrite(m->body, 1, m->len, stdout);
        reg_manifest_free(m);
    } else if (strcmp(cmd, "mount") == 0 && arg2 != NULL) {
        rc = reg_blob_mount(c, r->path, r->digest != NULL ? r->digest : "",
                            arg2, err);
        if (rc == REG_OK)
            printf("mounted\n");
    } else if (strcmp(cmd, "exists") == 0) {
        int64_t size = -1;
        rc = reg_blob_exists(c, r->path, r->digest != NULL ? r->digest : "",
                             &size, err);
        if (rc == REG_OK)
            printf("%lld\n", (long long)size);
    } else if (strcmp(cmd, "blob") == 0) {
        unsigned char *data = NULL;
        size_t len = 0;
        rc = reg_blob_get(&data, &len, c, r->path,
                          r->digest != NULL ? r->digest : "", 64 << 20, err);
        if (rc == REG_OK)
            fwrite(data, 1, len, stdout);
        free(data);
    } else if (strcmp(cmd, "upload") == 0 && arg2 != NULL) {
        FILE *f = fopen(arg2, "rb");
        unsigned char *buf = NULL;
        size_t len = 0, cap = 0;
        if (f == NULL) {
            rc = reg_error_set(err, REG_EINVAL, "cannot open %s: %s", arg2,
                               strerror(errno));
            goto cleanup;
        }
        for (;;) {
            if (len == cap) {
                cap = cap > 0 ? cap * 2 : 65536;
                unsigned char *nb = realloc(buf, cap);
                if (nb == NULL) {
                    rc = reg_error_set(err, REG_ENOMEM, "out of memory");
                    break;
                }
                buf = nb;
            }
            size_t got = fread(buf + len, 1, cap - len, f);
            if (got == 0)
                break;
            len += got;
        }
        fclose(f);
        if (rc == REG_OK)
            rc = reg_blob_upload(c, r->path, buf, len, NULL, err);
        if (rc == REG_OK) {
            char d[REG_DIGEST_LEN + 1];
            reg_sha256_digest(d, buf, len);
            printf("%s\n", d);
        }
        free(buf);
    } else {
        rc = reg_error_set(err, REG_EINVAL, "unknown command or arguments");
    }
cleanup:
    reg_strv_free(v);
    reg_client_free(c);
    reg_ref_free(r);
    return rc;
}

/* Matches "--src-NAME"/"--dst-NAME"/"--NAME" and picks the side. */
static side *opt_side(const char *a, const char *name, side *src, side *dst)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "--%s", name);
    if (strcmp(a, buf) == 0)
        return src;
    snprintf(buf, sizeof(buf), "--src-%s", name);
    if (strcmp(a, buf) == 0)
        return src;
    snprintf(buf, sizeof(buf), "--dst-%s", name);
    if (strcmp(a, buf) == 0)
        return dst;
    return NULL;
}

int main(int argc, char **argv)
{
    side src = {0}, dst = {0};
    list_opts lo = {0};
    bool stats = false;
    const char *pos[4] = {0};
    int npos = 0;
    reg_error err = {0};
    reg_global *g = NULL;
    side *s;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if ((s = opt_side(a, "user", &src, &dst)) != NULL && has_val) {
            s->user = argv[++i];
        } else if ((s = opt_side(a, "pass", &src, &dst)) != NULL && has_val) {
            s->pass = argv[++i];
        } else if ((s = opt_side(a, "ca", &src, &dst)) != NULL && has_val) {
            s->ca = argv[++i];
        } else if ((s = opt_side(a, "insecure", &src, &dst)) != NULL) {
            s->insecure = true;
        } else if (strcmp(a, "--page-size") == 0 && has_val) {
            char *end = NULL;
            errno = 0;
            long v = strtol(argv[++i], &end, 10);
            if (errno != 0 || *end != '\0' || v < 0 || v > 100000)
                return usage();
            lo.page_size = (int)v;
        } else if ((strcmp(a, "--max-tags") == 0 ||
                    strcmp(a, "--max-pages") == 0) &&
                   has_val) {
            char *end = NULL;
            errno = 0;
            unsigned long long v = strtoull(argv[++i], &end, 10);
            if (errno != 0 || *end != '\0' || end == argv[i])
                return usage();
            if (a[6] == 't')
                lo.lim.max_items = (size_t)v;
            else
                lo.lim.max_pages = (size_t)v;
        } else if (strcmp(a, "--collect") == 0) {
            lo.collect = true;
        } else if (strcmp(a, "--stats") == 0) {
            stats = true;
        } else if (a[0] == '-' && a[1] == '-') {
            return usage();
        } else if (npos < 4) {
            pos[npos++] = a;
        } else {
            return usage();
        }
    }
    if (src.pass == NULL)
        src.pass = getenv("REGTOOL_SRC_PASS");
    if (dst.pass == NULL)
        dst.pass = getenv("REGTOOL_DST_PASS");
    if (npos < 2)
        return usage();

    /* process-wide setup is the program's: once, before any client */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "regtool: curl_global_init failed\n");
        return 1;
    }
    int rc = reg_global_new(&g, &err);
    if (rc == REG_OK) {
        if (strcmp(pos[0], "copy") == 0 && npos == 3)
            rc = cmd_copy(g, &src, &dst, pos[1], pos[2], &err);
        else
            rc = cmd_one(g, &src, pos[0], pos[1], npos > 2 ? pos[2] : NULL, &lo,
                         &err);
    }
    reg_global_free(g);
    curl_global_cleanup();
    if (stats)
        fprintf(stderr, "requests=%ld\n", atomic_load(&n_requests));
    fflush(stdout);
    return rc == REG_OK ? 0 : fail(&err);
}
