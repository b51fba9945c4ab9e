/*
 * tc_secrets.h - tencentcloud-secret.yaml: the Tencent Cloud API keys of
 * the CCR -> TCR mode, with the TENCENTCLOUD_* environment as a fallback.
 */
#ifndef IT_TC_SECRETS_H
#define IT_TC_SECRETS_H

#include "errbuf.h"

typedef struct it_tc_key {
    char *secret_id;
    char *secret_key;
    char *token; /* optional session token, or NULL */
} it_tc_key;

typedef struct it_tc_secrets {
    it_tc_key ccr;
    it_tc_key tcr;
} it_tc_secrets;

/* Loads `ccr:` / `tcr:` each with secretId and secretKey (and optional
 * token); either one stands in for the other when only one is given. When
 * path is NULL, or a side is absent, falls back to TENCENTCLOUD_SECRET_ID,
 * TENCENTCLOUD_SECRET_KEY and TENCENTCLOUD_SESSION_TOKEN. No key at all:
 * error. Returns 0 or -1 with a message (never the key). */
int it_tc_secrets_load(it_tc_secrets **out, const char *path, it_errbuf *err);
void it_tc_secrets_free(it_tc_secrets *s);

#endif /* IT_TC_SECRETS_H */
