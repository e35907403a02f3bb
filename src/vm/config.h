/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_VM_CONFIG_H
#define VESSEL_VM_CONFIG_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/devkind.h"
#include "chardev/chardev.h"
#include "mem/gmem.h"
#include "util/jail.h"
#include "virtio/devices.h"

/*
 * The description of one VM, filled from `vessel run` options or from a JSON
 * definition (docs/config.md).  Strings are heap-allocated and owned by the
 * config; vm_config_free() releases them.
 *
 * Devices are a list of {kind, config} instances (bus/devkind.h): each
 * kind's configuration struct lives with its device, and the one table of
 * kinds is vm/devtable.c.  A new device adds no field here.
 */
struct json_object;

#define VM_MAX_VCPUS 256
#define VM_MAX_NUMA_NODES 8
#define VM_MAX_DEV_CONFIGS 32

enum vm_reboot_action { VM_REBOOT_RESET, VM_REBOOT_EXIT };
/*
 * What a guest reboot does, in the words of both `--on-reboot` and the
 * JSON's lifecycle.on_reboot (libvirt's <on_reboot>), indexed by
 * enum vm_reboot_action: reset the machine, or stop the VMM.
 */
#define VM_REBOOT_ACTION_NAMES { "restart", "destroy", NULL }

/* One configured device: its kind and that kind's config (heap, owned). */
struct vm_dev_config {
	const struct dev_kind *kind;
	void *cfg;
};

enum vm_numa_mode { VM_NUMA_NONE, VM_NUMA_STRICT, VM_NUMA_PREFERRED, VM_NUMA_INTERLEAVE };

/* A guest NUMA node: its vCPUs and memory, bound to host nodes. */
struct vm_numa_node {
	uint64_t mem_size;
	uint64_t cpus[VM_MAX_VCPUS / 64];	/* bitmap of vCPU ids */
	uint64_t host_nodes;			/* bitmap of host nodes */
	uint8_t distance[VM_MAX_NUMA_NODES];	/* SLIT row */
};

struct vm_config {
	char *name;
	/*
	 * RFC 4122 text, lower case, or NULL: the manager's identity for the
	 * VM (define generates one).  Not shown to the guest (no SMBIOS).
	 */
	char *uuid;
	unsigned int nr_cpus;
	uint64_t mem_size;
	struct gmem_opts mem;

	char *kernel;
	char *initrd;
	char *cmdline;

	enum vm_reboot_action on_reboot;
	bool debug_exit;	/* isa-debug-exit compatible port 0xf4 */
	/* per-thread seccomp filters (util/syscall-filter.h): off, log, on */
	int seccomp;
	/* the jailer (util/jail.h); jail_given: the definition or --jail said */
	struct jail_spec jail;
	bool jail_given;

	struct chardev_spec console;	/* the serial console (COM1) */

	struct vm_dev_config devs[VM_MAX_DEV_CONFIGS];
	unsigned int nr_devs;

	/* Placement. */
	cpu_set_t vcpu_affinity[VM_MAX_VCPUS];
	bool vcpu_pinned[VM_MAX_VCPUS];
	cpu_set_t emulator_affinity;
	bool emulator_pinned;
	bool dedicated_cpus;	/* 1:1 pinning, exclusive on the host */
	enum vm_numa_mode numa_mode;
	uint64_t numa_host_nodes;	/* nodeset for numatune */
	struct vm_numa_node numa_nodes[VM_MAX_NUMA_NODES];
	unsigned int nr_numa_nodes;	/* 0: no virtual NUMA topology */

	char *api_socket;	/* REST API on this Unix socket, or NULL */
};

struct error;

void vm_config_init(struct vm_config *c);
void vm_config_free(struct vm_config *c);
/* Why the balloon cannot go with the rest of c (hugetlb, dedicated), or NULL. */
const char *vm_config_balloon_conflict(const struct vm_config *c);
/* Check the rules `vessel run` needs (a kernel, sizes, a console path). */
int vm_config_validate(const struct vm_config *c, struct error *err);

/* --- the device kinds (vm/devtable.c) --- */

/* Every kind once, in creation order; NULL-terminated. */
extern const struct dev_kind *const vm_dev_kinds[];
/* The kind whose cli_name or json_key is `name`, or NULL. */
const struct dev_kind *vm_dev_kind_find(const char *name);

/* Instances of kind k, and the i-th of them (NULL past the end). */
unsigned int vm_config_count(const struct vm_config *c, const struct dev_kind *k);
void *vm_config_dev(const struct vm_config *c, const struct dev_kind *k, unsigned int i);
/* Remove every instance of k. */
void vm_config_remove(struct vm_config *c, const struct dev_kind *k);
/*
 * A kind's command-line argument (NULL: none given): appends an instance
 * (kinds with max > 1), or replaces the one instance (max == 1; "off"
 * removes it).  Messages name no option: the caller prefixes "--disk".
 */
int vm_config_parse_dev(struct vm_config *c, const struct dev_kind *k, const char *arg,
			struct error *err);
/* The same from JSON, `where` being "disks[1]" or "rng". */
int vm_config_dev_from_json(struct vm_config *c, const struct dev_kind *k, struct json_object *o,
			    const char *where, struct error *err);
/* An instance as JSON (cfg NULL: the "absent" value of a max == 1 kind). */
struct json_object *vm_dev_to_json(const struct dev_kind *k, const void *cfg);

/* Typed view of the disks, for code that only cares about them. */
static inline unsigned int vm_config_nr_disks(const struct vm_config *c)
{
	return vm_config_count(c, &virtio_blk_kind);
}

static inline struct vm_disk_config *vm_config_disk(const struct vm_config *c, unsigned int i)
{
	return vm_config_dev(c, &virtio_blk_kind, i);
}

struct vm;
/* Create every configured device, kind by kind in table order. */
int vm_devices_create(struct vm *vm, struct error *err);

#endif
