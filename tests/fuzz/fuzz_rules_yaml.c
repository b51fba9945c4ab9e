/*
 * fuzz_rules_yaml.c - it_rules_load on a transfer-rule.yaml of any content
 * (written to a private temporary file), then it_rule_resolve on every rule,
 * once without defaults and once with --registry / --ns defaults.
 */
#include "fuzz_common.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "registry.h"
#include "tagfilter.h"

FUZZ_FILE_TARGET_INIT()

/* A registry host as references write it: letters, digits, '.', '-',
 * a port, an IPv6 literal; nothing that could end a URL's authority. */
static bool host_chars(const char *h)
{
    if (*h == '\0')
        return false;
    for (; *h; h++)
        if (!isalnum((unsigned char)*h) && !strchr(".-:[]_", *h))
            return false;
    return true;
}

static void check_pair(const it_pair *p)
{
    FUZZ_CHECK(p->src_host != NULL && p->src_repo != NULL);
    FUZZ_CHECK(p->dst_host != NULL && p->dst_repo != NULL);
    FUZZ_CHECK(host_chars(p->src_host) && host_chars(p->dst_host));
    /* Both sides go into URLs: they passed the reference grammar (a
     * wildcard pair's prefix may be empty: the whole registry). */
    FUZZ_CHECK((p->wildcard && p->src_repo[0] == '\0') ||
               reg_valid_path(p->src_repo));
    FUZZ_CHECK((p->wildcard && p->dst_repo[0] == '\0') ||
               reg_valid_path(p->dst_repo));
    for (char **t = p->tags; t != NULL && *t != NULL; t++)
        FUZZ_CHECK(reg_valid_tag(*t));
    FUZZ_CHECK(p->dst_tag == NULL || reg_valid_tag(p->dst_tag));
    FUZZ_CHECK(p->src_digest == NULL || reg_valid_digest(p->src_digest));
    /* The mapping form's filters were checked when loaded: they compile,
     * and a tag runs through them. */
    it_tagfilter *f = NULL;
    it_errbuf err = {{0}};
    FUZZ_CHECK(it_tagfilter_new(&f, p->filter_tags, p->filter_exclude,
                                p->filter_semver, p->filter_latest, &err) == 0);
    (void)it_tagfilter_check(f, "v1.2.3-rc.1");
    it_tagfilter_free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    it_errbuf err = {{0}};
    it_rules *r = NULL;

    fuzz_write_file(path, sizeof(path), "transfer-rule.yaml", data, size);
    if (it_rules_load(&r, path, &err) != 0) {
        FUZZ_CHECK(r == NULL && err.msg[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(r != NULL);
    for (size_t i = 0; i < r->n; i++) {
        it_pair p;
        FUZZ_CHECK(r->items[i].source != NULL);
        memset(&p, 0, sizeof(p));
        memset(&err, 0, sizeof(err));
        if (it_rule_resolve(&p, &r->items[i], "transfer-rule.yaml", NULL, NULL,
                            &err) == 0)
            check_pair(&p);
        else
            FUZZ_CHECK(err.msg[0] != '\0');
        it_pair_clear(&p);

        memset(&p, 0, sizeof(p));
        memset(&err, 0, sizeof(err));
        if (it_rule_resolve(&p, &r->items[i], "transfer-rule.yaml",
                            "tcr.example.com", "default", &err) == 0)
            check_pair(&p);
        else
            FUZZ_CHECK(err.msg[0] != '\0');
        it_pair_clear(&p);
    }
    it_rules_free(r);
    return 0;
}
