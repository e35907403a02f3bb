// SPDX-License-Identifier: MIT
/*
 * vhost-net set-up (net/vhost-net.h).  The ioctls are those of
 * <linux/vhost.h>; their order follows what the kernel checks
 * (drivers/vhost/vhost.c): owner first, features and the memory table
 * before rings, each ring's size, base and addresses before its kick,
 * the backend last.  Ring addresses are the VMM's own virtual addresses
 * of guest memory, which vhost reads with copy_from_user, so a guest
 * that points a ring outside its memory gets an error, not our memory:
 * the addresses are checked here against the memory table first.
 */
#include "net/vhost-net.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/vhost.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "mem/gmem.h"
#include "util/error.h"

#define VHOST_NET_DEV "/dev/vhost-net"

/* Split ring sizes with the event-index words (virtio 1.2 section 2.7). */
#define RING_DESC_BYTES(n) (16ull * (n))
#define RING_AVAIL_BYTES(n) (6ull + 2ull * (n))
#define RING_USED_BYTES(n) (6ull + 8ull * (n))

struct vhost_net {
	int fd;
	uint64_t features;
};

int vhost_net_open(struct vhost_net **out, struct error *err)
{
	struct vhost_net *v = calloc(1, sizeof(*v));
	int r;

	if (!v)
		return error_setf(err, -ENOMEM, "out of memory");
	v->fd = open(VHOST_NET_DEV, O_RDWR | O_CLOEXEC);
	if (v->fd < 0) {
		r = -errno;
		free(v);
		if (r == -ENOENT)
			return error_setf(err, r, "%s does not exist (modprobe vhost_net)",
					  VHOST_NET_DEV);
		return error_set_errno(err, r, "%s", VHOST_NET_DEV);
	}
	if (ioctl(v->fd, VHOST_SET_OWNER) < 0 || ioctl(v->fd, VHOST_GET_FEATURES, &v->features) < 0) {
		r = -errno;
		vhost_net_close(v);
		return error_set_errno(err, r, "%s: VHOST_SET_OWNER/GET_FEATURES", VHOST_NET_DEV);
	}
	*out = v;
	return 0;
}

int vhost_net_reset(struct vhost_net *v, struct error *err)
{
	/* RESET_OWNER stops the rings and drops the backends; then it is ours again. */
	if (ioctl(v->fd, VHOST_RESET_OWNER) < 0 || ioctl(v->fd, VHOST_SET_OWNER) < 0)
		return error_set_errno(err, -errno, "%s: VHOST_RESET_OWNER", VHOST_NET_DEV);
	return 0;
}

void vhost_net_close(struct vhost_net *v)
{
	if (!v)
		return;
	/* Closing stops every ring and drops the tap references. */
	if (v->fd >= 0)
		close(v->fd);
	free(v);
}

uint64_t vhost_net_features(const struct vhost_net *v)
{
	return v->features;
}

int vhost_net_set_features(struct vhost_net *v, uint64_t features, struct error *err)
{
	if (features & ~v->features)
		return error_setf(err, -EOPNOTSUPP,
				  "vhost-net lacks features %#llx the driver negotiated",
				  (unsigned long long)(features & ~v->features));
	if (ioctl(v->fd, VHOST_SET_FEATURES, &features) < 0)
		return error_set_errno(err, -errno, "VHOST_SET_FEATURES");
	return 0;
}

int vhost_net_set_mem(struct vhost_net *v, const struct gmem *mem, struct error *err)
{
	struct gmem_region_info info;
	struct vhost_memory *table;
	unsigned int n = 0;
	int r = 0;

	gmem_for_each_region(mem, i, &info)
		n++;
	table = calloc(1, sizeof(*table) + n * sizeof(table->regions[0]));
	if (!table)
		return error_setf(err, -ENOMEM, "out of memory");
	/* RAM only: no device DMA reaches ROM or flash (mem/gmem.h). */
	gmem_for_each_region(mem, i, &info) {
		if (info.kind != GMEM_RAM)
			continue;
		table->regions[table->nregions++] = (struct vhost_memory_region){
			.guest_phys_addr = info.gpa,
			.memory_size = info.size,
			.userspace_addr = (uint64_t)(uintptr_t)info.hva,
		};
	}
	if (ioctl(v->fd, VHOST_SET_MEM_TABLE, table) < 0)
		r = error_set_errno(err, -errno, "VHOST_SET_MEM_TABLE");
	free(table);
	return r;
}

int vhost_net_set_ring(struct vhost_net *v, const struct gmem *mem, unsigned int idx,
		       const struct vhost_net_ring *r, struct error *err)
{
	struct vhost_vring_state num = { .index = idx, .num = r->size };
	struct vhost_vring_state base = { .index = idx, .num = r->last_avail };
	struct vhost_vring_file kick = { .index = idx, .fd = r->kick_fd };
	struct vhost_vring_file call = { .index = idx, .fd = r->call_fd };
	void *desc = gmem_ptr(mem, r->desc_gpa, RING_DESC_BYTES(r->size));
	void *avail = gmem_ptr(mem, r->avail_gpa, RING_AVAIL_BYTES(r->size));
	void *used = gmem_ptr(mem, r->used_gpa, RING_USED_BYTES(r->size));
	struct vhost_vring_addr addr = {
		.index = idx,
		.desc_user_addr = (uint64_t)(uintptr_t)desc,
		.avail_user_addr = (uint64_t)(uintptr_t)avail,
		.used_user_addr = (uint64_t)(uintptr_t)used,
	};

	/* The transport checked them at queue_enable; again, as they are ours now. */
	if (!desc || !avail || !used)
		return error_setf(err, -EFAULT, "ring %u is outside guest RAM", idx);
	if (ioctl(v->fd, VHOST_SET_VRING_NUM, &num) < 0 ||
	    ioctl(v->fd, VHOST_SET_VRING_BASE, &base) < 0 ||
	    ioctl(v->fd, VHOST_SET_VRING_ADDR, &addr) < 0 ||
	    ioctl(v->fd, VHOST_SET_VRING_CALL, &call) < 0 ||
	    ioctl(v->fd, VHOST_SET_VRING_KICK, &kick) < 0)
		return error_set_errno(err, -errno, "vhost-net ring %u", idx);
	return 0;
}

int vhost_net_set_backend(struct vhost_net *v, unsigned int idx, int tap_fd, struct error *err)
{
	struct vhost_vring_file b = { .index = idx, .fd = tap_fd };

	if (ioctl(v->fd, VHOST_NET_SET_BACKEND, &b) < 0)
		return error_set_errno(err, -errno, "VHOST_NET_SET_BACKEND %u", idx);
	return 0;
}

int vhost_net_ring_base(struct vhost_net *v, unsigned int idx, uint16_t *last_avail)
{
	struct vhost_vring_state s = { .index = idx };

	if (ioctl(v->fd, VHOST_GET_VRING_BASE, &s) < 0)
		return -errno;
	*last_avail = (uint16_t)s.num;
	return 0;
}
