/*
 * fuzz_tc_creds.c - the parsers of the Tencent Cloud credentials chain
 * (src/tc_creds.c) on any bytes. The first byte picks one: the profile
 * file (INI), the metadata service's role listing, its credentials answer,
 * or STS AssumeRoleWithWebIdentity's Response. Whatever they accept must
 * be sendable: no empty value, no space or control byte in a key, id or
 * token, an expiry in the future and at most a day away.
 */
#include "fuzz_common.h"

#include <string.h>

#include "log.h"
#include "tc_creds.h"

FUZZ_FILE_TARGET_INIT()

static void check_value(const char *v)
{
    FUZZ_CHECK(v != NULL && v[0] != '\0' && strlen(v) <= IT_TC_VALUE_MAX);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        FUZZ_CHECK(*p > 0x20 && *p != 0x7f);
}

static void check_creds(const tc_credentials *k, int64_t now, int64_t exp)
{
    check_value(k->secret_id);
    check_value(k->secret_key);
    check_value(k->token);
    FUZZ_CHECK(exp > now && exp - now <= IT_TC_MAX_LIFETIME_S);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    it_errbuf err = {{0}};
    const int64_t now = 1700000000;
    switch (data[0] % 4) {
    case 0: {
        char *id = NULL, *key = NULL;
        int rc =
            it_tc_profile_parse(text, len, "default", "f", &id, &key, &err);
        if (rc == 0) {
            check_value(id);
            check_value(key);
        } else {
            FUZZ_CHECK(id == NULL && key == NULL);
            FUZZ_CHECK(rc == 1 || err.msg[0] != '\0');
        }
        free(id);
        free(key);
        break;
    }
    case 1: {
        char role[129];
        if (it_tc_role_name_parse(text, len, role, &err) == 0) {
            check_value(role);
            FUZZ_CHECK(strchr(role, '/') == NULL);
        }
        break;
    }
    case 2: {
        tc_credentials k;
        int64_t exp = 0;
        if (it_tc_cvm_answer_parse(text, len, now, &k, &exp, &err) == 0)
            check_creds(&k, now, exp);
        else
            FUZZ_CHECK(k.secret_id == NULL && err.msg[0] != '\0');
        tc_credentials_clear(&k);
        break;
    }
    default: {
        json_error_t jerr;
        json_t *r = json_loadb(text, len, 0, &jerr);
        tc_credentials k;
        int64_t exp = 0;
        if (it_tc_sts_answer_parse(r, now, &k, &exp, &err) == 0)
            check_creds(&k, now, exp);
        else
            FUZZ_CHECK(k.secret_id == NULL && err.msg[0] != '\0');
        tc_credentials_clear(&k);
        json_decref(r);
        break;
    }
    }
    return 0;
}
