/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_VM_CONFIG_H
#define VESSEL_VM_CONFIG_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

#include "mem/gmem.h"

/*
 * The description of one VM, filled from `vessel run` options or from a JSON
 * definition (docs/config.md).  Strings are heap-allocated and owned by the
 * config; vm_config_free() releases them.
 */
#define VM_MAX_VCPUS 256
#define VM_MAX_DISKS 16
#define VM_MAX_NETS 8
#define VM_MAX_NUMA_NODES 8

enum vm_reboot_action { VM_REBOOT_RESET, VM_REBOOT_EXIT };

/* Where the serial console (COM1) goes. */
enum vm_console_mode {
	VM_CONSOLE_STDIO,	/* raw terminal on stdin/stdout, Ctrl-A x quits */
	VM_CONSOLE_PTY,		/* a pseudo-terminal; its path is published */
	VM_CONSOLE_FILE,	/* output appended to a file, no input */
	VM_CONSOLE_SOCKET,	/* a Unix socket `vessel console` connects to */
	VM_CONSOLE_NONE,
};

struct vm_disk_config {
	char *path;
	char *format;		/* "raw", "qcow2" or NULL to probe */
	char *serial;		/* virtio-blk GET_ID string, or NULL */
	bool readonly;
	bool direct;		/* O_DIRECT */
	bool no_backing;	/* "backing": false: an image with a backing file is refused */
	unsigned int num_queues;
	bool has_poll;		/* poll_us given; else the host-size default */
	uint32_t poll_us;	/* I/O thread busy-poll time, 0 = off */
};

struct vm_net_config {
	char *tap;		/* tap interface name */
	uint8_t mac[6];
	bool has_mac;
	unsigned int num_queues;
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
	unsigned int nr_cpus;
	uint64_t mem_size;
	struct gmem_opts mem;

	char *kernel;
	char *initrd;
	char *cmdline;

	enum vm_reboot_action on_reboot;
	bool debug_exit;	/* isa-debug-exit compatible port 0xf4 */

	enum vm_console_mode console;
	char *console_path;	/* file or socket path */

	struct vm_disk_config disks[VM_MAX_DISKS];
	unsigned int nr_disks;
	struct vm_net_config nets[VM_MAX_NETS];
	unsigned int nr_nets;
	bool rng;
	bool virtio_console;	/* a second console port on virtio-console */
	char *virtio_console_path;

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

void vm_config_init(struct vm_config *c);
void vm_config_free(struct vm_config *c);
/* Check cross-field rules; on error, *why names the problem. */
int vm_config_validate(const struct vm_config *c, const char **why);

#endif
