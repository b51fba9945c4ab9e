/*
 * secrets_int.h - helpers shared by secrets.c, docker_config.c and
 * rules.c. Internal to src/.
 */
#ifndef IT_SECRETS_INT_H
#define IT_SECRETS_INT_H

#include <stdbool.h>

#include "secrets.h"

/* Appends a zeroed entry to s; NULL on OOM (s unchanged). */
it_cred *it_secrets_push(it_secrets *s);
/* Registry host names compare without regard to case. */
bool it_host_eq(const char *a, const char *b);
/* Frees what it_secrets_add_docker_config attached (NULL ok). */
void it_docker_helpers_free(struct it_docker_helpers *h);

#endif /* IT_SECRETS_INT_H */
