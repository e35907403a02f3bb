// SPDX-License-Identifier: MIT
/* struct vm_config: defaults, release, and the cross-field rules. */
#include "vm/config.h"
#include "util/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void vm_config_init(struct vm_config *c)
{
	memset(c, 0, sizeof(*c));
	c->nr_cpus = 1;
	c->mem_size = 256 * MiB;
	c->mem.backing = GMEM_BACKING_ANON;
	/* THP by default: first touch of a 4 KiB page is the costliest fault. */
	c->mem.thp = true;
	c->mem.dontdump = true;
	c->on_reboot = VM_REBOOT_RESET;
	c->console = VM_CONSOLE_STDIO;
	for (unsigned int i = 0; i < VM_MAX_NUMA_NODES; i++)
		for (unsigned int j = 0; j < VM_MAX_NUMA_NODES; j++)
			c->numa_nodes[i].distance[j] = i == j ? 10 : 20;
}

void vm_config_free(struct vm_config *c)
{
	free(c->name);
	free(c->kernel);
	free(c->initrd);
	free(c->cmdline);
	free(c->console_path);
	free(c->virtio_console_path);
	free(c->api_socket);
	for (unsigned int i = 0; i < c->nr_disks; i++) {
		free(c->disks[i].path);
		free(c->disks[i].format);
		free(c->disks[i].serial);
	}
	for (unsigned int i = 0; i < c->nr_nets; i++)
		free(c->nets[i].tap);
	memset(c, 0, sizeof(*c));
}

int vm_config_validate(const struct vm_config *c, const char **why)
{
	if (!c->kernel) {
		*why = "no kernel given (--kernel)";
		return -EINVAL;
	}
	if (c->nr_cpus == 0) {
		*why = "the CPU count must be at least 1";
		return -EINVAL;
	}
	if (c->nr_cpus > VM_MAX_VCPUS) {
		*why = "too many CPUs (vessel supports at most 256)";
		return -EINVAL;
	}
	if (c->mem_size < 16 * MiB) {
		*why = "memory must be at least 16M";
		return -EINVAL;
	}
	if (!IS_ALIGNED(c->mem_size, 2 * MiB)) {
		*why = "memory must be a multiple of 2M";
		return -EINVAL;
	}
	if (c->mem.backing == GMEM_BACKING_HUGETLB && !IS_ALIGNED(c->mem_size, c->mem.hugepage_size)) {
		*why = "memory must be a multiple of the huge page size";
		return -EINVAL;
	}
	if (c->mem.backing == GMEM_BACKING_HUGETLB && c->mem.mergeable) {
		*why = "KSM (mergeable) cannot merge huge pages: choose one";
		return -EINVAL;
	}
	if ((c->console == VM_CONSOLE_FILE || c->console == VM_CONSOLE_SOCKET) &&
	    !c->console_path) {
		*why = "this console mode needs a path";
		return -EINVAL;
	}
	return 0;
}
