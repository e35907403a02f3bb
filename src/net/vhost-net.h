/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_NET_VHOST_NET_H
#define VESSEL_NET_VHOST_NET_H

#include <stdint.h>

/*
 * The kernel's vhost-net (/dev/vhost-net, <linux/vhost.h>): one instance
 * moves the packets of one virtio-net queue pair between the guest's
 * rings and a tap queue, in a kernel thread, so the VMM is out of the
 * data path.  The VMM hands it the guest's memory table, each ring's
 * addresses and indices, a kick eventfd (the virtio-pci doorbell's
 * ioeventfd) and a call eventfd (the VMM turns it into the queue's
 * interrupt), then the tap fd as the backend.  The virtio-net header
 * stays the tap's business (IFF_VNET_HDR, TUNSETVNETHDRSZ 12), so
 * VHOST_NET_F_VIRTIO_NET_HDR is never asked for.
 */
struct error;
struct gmem;
struct vhost_net;

/* The queues of one pair, as vhost-net numbers them. */
#define VHOST_NET_RX 0
#define VHOST_NET_TX 1

/* Open /dev/vhost-net and become its owner.  0 or -errno, err set. */
int vhost_net_open(struct vhost_net **out, struct error *err);
void vhost_net_close(struct vhost_net *v);
/* Stop it and make it new (VHOST_RESET_OWNER), for the next start; 0 or -errno. */
int vhost_net_reset(struct vhost_net *v, struct error *err);
/* What this kernel's vhost-net implements (VHOST_GET_FEATURES). */
uint64_t vhost_net_features(const struct vhost_net *v);
/* The negotiated features (a subset of vhost_net_features()). */
int vhost_net_set_features(struct vhost_net *v, uint64_t features, struct error *err);
/* Every RAM region of guest memory. */
int vhost_net_set_mem(struct vhost_net *v, const struct gmem *mem, struct error *err);

struct vhost_net_ring {
	unsigned int size;
	uint16_t last_avail; /* where to take the next chain (VHOST_SET_VRING_BASE) */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	int kick_fd, call_fd;
};
/* Set up ring idx (VHOST_NET_RX / TX) of the pair. */
int vhost_net_set_ring(struct vhost_net *v, const struct gmem *mem, unsigned int idx,
		       const struct vhost_net_ring *r, struct error *err);
/* Start moving packets of ring idx on tap_fd; -1 stops it. */
int vhost_net_set_backend(struct vhost_net *v, unsigned int idx, int tap_fd,
			  struct error *err);
/* Stop ring idx and read where it stopped (VHOST_GET_VRING_BASE). */
int vhost_net_ring_base(struct vhost_net *v, unsigned int idx, uint16_t *last_avail);

#endif
