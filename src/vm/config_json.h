/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_VM_CONFIG_JSON_H
#define VESSEL_VM_CONFIG_JSON_H

#include <stddef.h>

#include "vm/config.h"

struct json_object;

/*
 * JSON VM definitions (docs/config.md).  The loaders start from
 * vm_config_init() defaults, refuse unknown keys and bad values with a
 * message naming the exact key ("disks[1].path: missing",
 * "memory: \"12X\" is not a size", "unknown key \"cpu\""), and return 0 or
 * -errno.  On failure the config is left initialised (vm_config_free() is
 * still safe).
 */
#define VM_CONFIG_JSON_MAX (1u << 20) /* largest definition file accepted */

struct error;

int vm_config_load_json(const char *path, struct vm_config *c, struct error *err);
int vm_config_from_json_string(const char *text, size_t len, struct vm_config *c,
			       struct error *err);
int vm_config_from_json(struct json_object *root, struct vm_config *c, struct error *err);
/* The definition back as JSON (same schema); NULL on allocation failure. */
struct json_object *vm_config_to_json(const struct vm_config *c);
/* Its "memory" object (config_json.c: the same key table as the parser). */
struct json_object *vm_config_memory_to_json(const struct vm_config *c);

/* Format a cpu_set_t as a CPU list ("0-3,8"); returns buf. */
char *cpuset_format(const cpu_set_t *set, char *buf, size_t len);
/* Format a bitmap of `nbits` bits as a list ("0-1,4"); returns buf. */
char *bitmap_format(const uint64_t *bits, unsigned int nbits, char *buf, size_t len);
/* Parse a CPU list into a cpu_set_t; 0 or -EINVAL/-ERANGE. */
int cpuset_parse(const char *s, cpu_set_t *set);

#endif
