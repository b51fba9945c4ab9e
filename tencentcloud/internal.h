/*
 * internal.h - what the files of the Tencent Cloud client share and
 * callers do not need.
 */
#ifndef TENCENTCLOUD_INTERNAL_H
#define TENCENTCLOUD_INTERNAL_H

#include "tencentcloud.h"

/* The client's clock (the `clock` option, else time()): Unix seconds. */
int64_t tc__client_now(tc_client *c);
#endif /* TENCENTCLOUD_INTERNAL_H */
