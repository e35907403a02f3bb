/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_BUS_DEVKIND_H
#define VESSEL_BUS_DEVKIND_H

#include <stddef.h>

/*
 * The descriptor of a device kind that a VM configuration instantiates
 * (virtio-blk, virtio-rng, virtio-console): how its configuration is
 * spelled on the command line and in JSON, how it is checked, and how
 * the device is created.  Each lives in its device's file; the one table
 * of kinds is vm/devtable.c.  A VM config holds a list of {kind, config}
 * instances (vm/config.h), so adding a device adds no field to the VM
 * configuration, no case to the parsers and no line to the dumper.
 *
 * The default ops work from `keys` (util/keys.h); a kind whose spelling
 * is not a key=value list (rng's bool, virtio-console's chardev) brings
 * its own.
 */
struct dev_host;
struct error;
struct json_object;
struct key;

enum dev_kind_arg { DEV_ARG_NONE, DEV_ARG_REQUIRED, DEV_ARG_OPTIONAL };

struct dev_kind {
	const char *name;     /* "virtio-blk": messages, docs */
	const char *json_key; /* "disks": the key in a JSON definition */
	/*
	 * The object json_key sits in ("memory": memory.balloon), parsed and
	 * dumped by that object's code; NULL: a top-level key.
	 */
	const char *json_parent;
	const char *cli_name; /* "disk": vessel run --disk */
	enum dev_kind_arg cli_arg;
	const char *cli_help; /* usage text after "--disk ", lines joined with '\n' */
	/* Instances a VM may have; 1: a single value in JSON, else an array. */
	unsigned int max;
	size_t cfg_size;
	const struct key *keys; /* the config's key table, or NULL */
	const char *bare_key;	/* "--disk FILE" means path=FILE */

	/* Defaults into a zeroed cfg; NULL: all zero. */
	void (*init)(void *cfg);
	/*
	 * Parse the command-line argument (NULL without one) into cfg:
	 * 0, 1 for "no instance" (--rng off), or -errno with err set.
	 * NULL: keys_parse(keys, arg, bare_key).
	 */
	int (*parse_cli)(void *cfg, const char *arg, struct error *err);
	/* The same from JSON; messages start with `where`.  NULL: keys_from_json. */
	int (*from_json)(void *cfg, struct json_object *o, const char *where, struct error *err);
	/* cfg as JSON; for max == 1, cfg NULL is the "absent" value.  NULL: keys_to_json. */
	struct json_object *(*to_json)(const void *cfg);
	/* Rules across keys, on both paths; NULL: none. */
	int (*validate)(const void *cfg, struct error *err);
	/* Release what cfg owns; NULL: keys_free. */
	void (*release)(void *cfg);
	/* Create instance `index` (0.. among this kind) on the host. */
	int (*create)(struct dev_host *host, const void *cfg, unsigned int index,
		      struct error *err);
};

#endif
