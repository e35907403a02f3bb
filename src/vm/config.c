// SPDX-License-Identifier: MIT
/* struct vm_config: defaults, release, and the cross-field rules. */
#include "vm/config.h"
#include "util/syscall-filter.h"
#include "util/error.h"
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
	c->seccomp = (int)syscall_filter_default_mode();
	c->console.mode = CHARDEV_STDIO;
	for (unsigned int i = 0; i < VM_MAX_NUMA_NODES; i++)
		for (unsigned int j = 0; j < VM_MAX_NUMA_NODES; j++)
			c->numa_nodes[i].distance[j] = i == j ? 10 : 20;
}

void vm_config_free(struct vm_config *c)
{
	free(c->name);
	free(c->uuid);
	free(c->kernel);
	free(c->initrd);
	free(c->cmdline);
	free(c->api_socket);
	keys_free(jail_keys, &c->jail);
	chardev_spec_free(&c->console);
	for (const struct dev_kind *const *k = vm_dev_kinds; *k; k++)
		vm_config_remove(c, *k);
	memset(c, 0, sizeof(*c));
}

const char *vm_config_balloon_conflict(const struct vm_config *c)
{
	const struct virtio_balloon_config *b = vm_config_dev(c, &virtio_balloon_kind, 0);

	if (!b)
		return NULL;
	/*
	 * The balloon gives memory back in 4 KiB pages; hugetlb memory goes
	 * back only in whole huge pages, which a balloon almost never frees.
	 */
	if (c->mem.backing == GMEM_BACKING_HUGETLB)
		return "a balloon cannot return memory backed by huge pages (memory.backing "
		       "\"hugetlb\"): use \"anon\" or \"memfd\"";
	if (c->dedicated_cpus)
		return "a VM with dedicated resources (cpus.policy \"dedicated\") is not "
		       "overcommitted: no balloon";
	if (b->floor > c->mem_size)
		return "the floor is larger than the VM's memory";
	return NULL;
}

int vm_config_validate(const struct vm_config *c, struct error *err)
{
	const char *why;

	if (!c->kernel)
		return error_setf(err, -EINVAL, "no kernel given (--kernel)");
	if (c->nr_cpus == 0)
		return error_setf(err, -EINVAL, "the CPU count must be at least 1");
	if (c->nr_cpus > VM_MAX_VCPUS)
		return error_setf(err, -EINVAL, "too many CPUs (vessel supports at most %d)",
				  VM_MAX_VCPUS);
	if (c->mem_size < 16 * MiB)
		return error_setf(err, -EINVAL, "memory must be at least 16M");
	if (!IS_ALIGNED(c->mem_size, 2 * MiB))
		return error_setf(err, -EINVAL, "memory must be a multiple of 2M");
	if (c->mem.backing == GMEM_BACKING_HUGETLB && !IS_ALIGNED(c->mem_size, c->mem.hugepage_size))
		return error_setf(err, -EINVAL, "memory must be a multiple of the huge page size");
	if (c->mem.backing == GMEM_BACKING_HUGETLB && c->mem.mergeable)
		return error_setf(err, -EINVAL, "KSM (mergeable) cannot merge huge pages: choose one");
	if ((c->console.mode == CHARDEV_FILE || c->console.mode == CHARDEV_SOCKET) &&
	    !c->console.path)
		return error_setf(err, -EINVAL, "this console mode needs a path");
	if ((why = vm_config_balloon_conflict(c)))
		return error_setf(err, -EINVAL, "balloon: %s", why);
	return 0;
}
