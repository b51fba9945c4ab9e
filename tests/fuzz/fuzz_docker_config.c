/*
 * fuzz_docker_config.c - it_secrets_add_docker_config on a Docker
 * config.json of any content (written to a private temporary file, mode
 * 0600), added to a set already holding one registry-secret.yaml entry.
 */
#include "fuzz_common.h"

#include "config.h"
#include "log.h"

static char base_yaml[512];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static const char yaml[] = "ghcr.io:\n  username: u\n  password: p\n";
    it_log_open("/dev/null", IT_LOG_ERROR);
    fuzz_write_file(base_yaml, sizeof(base_yaml), "registry-secret.yaml",
                    (const uint8_t *)yaml, sizeof(yaml) - 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    it_errbuf err = {{0}};
    it_secrets *s = NULL;

    FUZZ_CHECK(it_secrets_load(&s, base_yaml, &err) == 0 && s->n == 1);
    fuzz_write_file(path, sizeof(path), "config.json", data, size);
    if (it_secrets_add_docker_config(s, path, &err) == 0) {
        FUZZ_CHECK(s->n >= 1);
        for (size_t i = 0; i < s->n; i++) {
            const it_cred *c = &s->items[i];
            FUZZ_CHECK(c->key != NULL && c->host != NULL);
            (void)it_secrets_find(s, c->host, "a/b");
        }
        /* The YAML entry wins over config.json for its host. */
        const it_cred *g = it_secrets_find(s, "ghcr.io", "a/b");
        FUZZ_CHECK(g != NULL && g->username != NULL &&
                   strcmp(g->username, "u") == 0);
    } else {
        FUZZ_CHECK(err.msg[0] != '\0');
    }
    it_secrets_free(s);
    return 0;
}
