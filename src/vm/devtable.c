// SPDX-License-Identifier: MIT
/*
 * The device table: every device kind a VM configuration can name, once,
 * in the order the devices are created (and so the order of their PCI
 * functions: disks first, /dev/vda, /dev/vdb, ... in --disk order).
 * `vessel run` builds its options from it (cli/run.c), the JSON parser
 * and dumper walk it (config_json.c, config_dump.c).  Adding a device
 * kind is its own file with a `const struct dev_kind` plus one line in
 * VM_DEV_KINDS below (and the file in its folder's meson.build).
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "bus/host.h"
#include "util/error.h"
#include "util/keys.h"
#include "util/log.h"
#include "virtio/devices.h"
#include "vm/config.h"
#include "vm/vm.h"

/*
 * The table: one line per kind, its descriptor's name.  The kinds are
 * declared from the same list, so a new kind needs no header change.
 */
#define VM_DEV_KINDS(X)                                                                            \
	X(virtio_blk_kind)                                                                         \
	X(virtio_rng_kind)                                                                         \
	X(virtio_console_kind)                                                                     \
	X(virtio_net_kind)                                                                         \
	X(virtio_balloon_kind)

#define DEV_KIND_DECLARE(k) extern const struct dev_kind k;
#define DEV_KIND_ENTRY(k) &k,

VM_DEV_KINDS(DEV_KIND_DECLARE)

const struct dev_kind *const vm_dev_kinds[] = { VM_DEV_KINDS(DEV_KIND_ENTRY) NULL };

const struct dev_kind *vm_dev_kind_find(const char *name)
{
	for (const struct dev_kind *const *k = vm_dev_kinds; *k; k++)
		if (!strcmp((*k)->cli_name, name) || !strcmp((*k)->json_key, name))
			return *k;
	return NULL;
}

unsigned int vm_config_count(const struct vm_config *c, const struct dev_kind *k)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < c->nr_devs; i++)
		n += c->devs[i].kind == k;
	return n;
}

void *vm_config_dev(const struct vm_config *c, const struct dev_kind *k, unsigned int i)
{
	for (unsigned int j = 0; j < c->nr_devs; j++)
		if (c->devs[j].kind == k && i-- == 0)
			return c->devs[j].cfg;
	return NULL;
}

static void dev_release(const struct dev_kind *k, void *cfg)
{
	if (!cfg)
		return;
	if (k->release)
		k->release(cfg);
	else if (k->keys)
		keys_free(k->keys, cfg);
	free(cfg);
}

void vm_config_remove(struct vm_config *c, const struct dev_kind *k)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < c->nr_devs; i++) {
		if (c->devs[i].kind == k)
			dev_release(k, c->devs[i].cfg);
		else
			c->devs[n++] = c->devs[i];
	}
	memset(&c->devs[n], 0, (c->nr_devs - n) * sizeof(c->devs[0]));
	c->nr_devs = n;
}

static void *dev_alloc(const struct dev_kind *k)
{
	void *cfg = calloc(1, k->cfg_size ? k->cfg_size : 1);

	if (cfg && k->init)
		k->init(cfg);
	return cfg;
}

/* Keep cfg (parsed r: 0 an instance, 1 none) in c, or free it. */
static int dev_keep(struct vm_config *c, const struct dev_kind *k, void *cfg, int r,
		    const char *where, struct error *err)
{
	/* The rules across keys; from JSON their message says which entry. */
	if (r == 0 && k->validate && (r = k->validate(cfg, err)) < 0 && where)
		error_prefix(err, "%s", where);
	if (r < 0) {
		dev_release(k, cfg);
		return r;
	}
	if (k->max == 1)
		vm_config_remove(c, k);
	if (r == 1) {
		dev_release(k, cfg);
		return 0;
	}
	if (vm_config_count(c, k) >= k->max || c->nr_devs >= VM_MAX_DEV_CONFIGS) {
		dev_release(k, cfg);
		return error_setf(err, -EINVAL, "at most %u", k->max);
	}
	c->devs[c->nr_devs].kind = k;
	c->devs[c->nr_devs].cfg = cfg;
	c->nr_devs++;
	return 0;
}

int vm_config_parse_dev(struct vm_config *c, const struct dev_kind *k, const char *arg,
			struct error *err)
{
	void *cfg;
	int r;

	if (k->max > 1 && vm_config_count(c, k) >= k->max)
		return error_setf(err, -EINVAL, "at most %u", k->max);
	cfg = dev_alloc(k);
	if (!cfg)
		return error_setf(err, -ENOMEM, "out of memory");
	if (k->parse_cli)
		r = k->parse_cli(cfg, arg, err);
	else
		r = keys_parse(k->keys, cfg, arg, k->bare_key, err);
	return dev_keep(c, k, cfg, r, NULL, err);
}

int vm_config_dev_from_json(struct vm_config *c, const struct dev_kind *k, struct json_object *o,
			    const char *where, struct error *err)
{
	void *cfg = dev_alloc(k);
	int r;

	if (!cfg)
		return error_setf(err, -ENOMEM, "out of memory");
	if (k->from_json)
		r = k->from_json(cfg, o, where, err);
	else
		r = keys_from_json(k->keys, cfg, o, where, err);
	return dev_keep(c, k, cfg, r, where, err);
}

struct json_object *vm_dev_to_json(const struct dev_kind *k, const void *cfg)
{
	if (k->to_json)
		return k->to_json(cfg);
	return cfg ? keys_to_json(k->keys, cfg) : NULL;
}

/* --- creation --- */

int vm_devices_create(struct vm *vm, struct error *err)
{
	for (const struct dev_kind *const *k = vm_dev_kinds; *k; k++) {
		unsigned int n = vm_config_count(vm->cfg, *k);

		for (unsigned int i = 0; i < n; i++) {
			int r = (*k)->create(&vm->host, vm_config_dev(vm->cfg, *k, i), i, err);

			if (r < 0)
				return r;
		}
	}
	return 0;
}
