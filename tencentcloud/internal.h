/*
 * internal.h - what the files of the Tencent Cloud client share and
 * callers do not need.
 */
#ifndef TENCENTCLOUD_INTERNAL_H
#define TENCENTCLOUD_INTERNAL_H

#include "tencentcloud.h"

/* The client's clock (the `clock` option, else time()): Unix seconds. */
int64_t tc__client_now(tc_client *c);
/* The caps in force for one listing: lim's non-zero fields, else the
 * client's options, else TC_DEFAULT_MAX_ITEMS / TC_DEFAULT_MAX_PAGES. */
void tc__client_limits(const tc_client *c, const tc_list_limits *lim,
                       size_t *max_items, size_t *max_pages);

#endif /* TENCENTCLOUD_INTERNAL_H */
