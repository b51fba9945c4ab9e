/*
 * fuzz_tc_secrets_yaml.c - it_tc_secrets_load on a tencentcloud-secret.yaml
 * of any content (written to a private temporary file, mode 0600). The
 * TENCENTCLOUD_* variables are unset so the file alone decides.
 */
#include "fuzz_common.h"

#include "config.h"
#include "log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    it_log_open("/dev/null", IT_LOG_ERROR);
    unsetenv("TENCENTCLOUD_SECRET_ID");
    unsetenv("TENCENTCLOUD_SECRET_KEY");
    unsetenv("TENCENTCLOUD_SESSION_TOKEN");
    (void)fuzz_tmpdir();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    it_errbuf err = {{0}};
    it_tc_secrets *s = NULL;

    fuzz_write_file(path, sizeof(path), "tencentcloud-secret.yaml", data, size);
    if (it_tc_secrets_load(&s, path, &err) != 0) {
        FUZZ_CHECK(s == NULL && err.msg[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(s != NULL);
    FUZZ_CHECK(s->ccr.secret_id != NULL && s->ccr.secret_key != NULL);
    FUZZ_CHECK(s->tcr.secret_id != NULL && s->tcr.secret_key != NULL);
    it_tc_secrets_free(s);
    return 0;
}
