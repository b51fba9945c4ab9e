/*
 * fuzz_secrets_yaml.c - it_secrets_load on a registry-secret.yaml of any
 * content (written to a private temporary file, mode 0600), then
 * it_secrets_find for every loaded entry (only entries holding a username
 * are logins).
 */
#include "fuzz_common.h"

#include "config.h"
#include "log.h"

FUZZ_FILE_TARGET_INIT()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    it_errbuf err = {{0}};
    it_secrets *s = NULL;

    fuzz_write_file(path, sizeof(path), "registry-secret.yaml", data, size);
    if (it_secrets_load(&s, path, &err) != 0) {
        FUZZ_CHECK(s == NULL && err.msg[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(s != NULL);
    for (size_t i = 0; i < s->n; i++) {
        const it_cred *c = &s->items[i];
        FUZZ_CHECK(c->key != NULL && c->host != NULL);
        const it_cred *f =
            it_secrets_find(s, c->host, c->ns != NULL ? c->ns : "x/y");
        /* a login is found for its own key; an entry without a username
         * sets TLS only and is never the answer */
        bool login = c->username != NULL && c->username[0] != '\0';
        FUZZ_CHECK(!login || f != NULL);
        FUZZ_CHECK(f == NULL ||
                   (f->username != NULL && f->username[0] != '\0'));
        (void)it_secrets_find(s, c->host, "");
    }
    (void)it_secrets_find(s, "registry-1.docker.io", "library/nginx");
    it_secrets_free(s);
    return 0;
}
