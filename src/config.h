/*
 * config.h - the three YAML files of the original image-transfer and the
 * Docker config.json fallback for credentials, in one include for callers
 * that want them all. Each part has its own header: secrets.h
 * (registry-secret.yaml, config.json), rules.h (transfer-rule.yaml),
 * tc_secrets.h (tencentcloud-secret.yaml); errbuf.h and pair.h hold the
 * error buffer and the repository pair.
 *
 * Every loader returns 0 or -1; on -1 `err` holds one line such as
 *   "transfer-rule.yaml:7:3: expected a mapping of source to target, got a
 *    sequence"
 * (file name, line, column, what was expected). Results belong to the
 * caller and are freed with the matching _free(), which accepts NULL.
 */
#ifndef IT_CONFIG_H
#define IT_CONFIG_H

#include "errbuf.h"
#include "pair.h"
#include "rules.h"
#include "secrets.h"
#include "tc_secrets.h"

#endif /* IT_CONFIG_H */
