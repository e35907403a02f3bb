// SPDX-License-Identifier: MIT
/*
 * virtio-net with the kernel's vhost-net as its data path (vhost=on;
 * net/vhost-net.h).  At DRIVER_OK each queue pair gets a vhost-net
 * instance: the negotiated ring features, guest memory, its two rings
 * (the doorbell ioeventfds taken from the transport, a call eventfd
 * each) and the pair's tap queue as backend.  From then on the kernel
 * moves the packets and the transport binds each call eventfd to its
 * queue's MSI-X vector with KVM's irqfd, so no interrupt passes through
 * the VMM; while a vector is masked (or without MSI-X) call_ready below
 * raises it instead.  The VMM still serves the control queue.  The receive filter then is not applied: vhost-net
 * hands the guest every frame the tap has (see docs/net.md).
 *
 * Anything that fails falls back to the userspace data path, with the
 * reason logged once and shown in the device's stats.  A device reset
 * stops vhost and gives the doorbells back to the device's loop.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "net/vhost-net.h"
#include "util/error.h"
#include "util/evloop.h"
#include "util/log.h"
#include "virtio/net-int.h"
#include "virtio/virtq.h"

/* Ring features vhost must know to read the rings as the driver writes them. */
#define RING_FEATURES                                                                 \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_EVENT_IDX) |                 \
	 (1ull << VIRTIO_F_INDIRECT_DESC) | (1ull << 15) /* NET_F_MRG_RXBUF */)

static void call_ready(void *opaque, uint32_t events)
{
	struct vnet_call *c = opaque;
	struct virtio_dev *vd = &c->n->vd;
	uint64_t cnt;

	(void)events;
	if (read(c->fd, &cnt, sizeof(cnt)) != sizeof(cnt))
		return;
	pthread_mutex_lock(&vd->lock);
	/* vhost already applied used_event / NO_INTERRUPT (2.7.7, 2.7.10). */
	if (c->n->vhost_on && virtio_dev_active(vd) && vd->tops && vd->tops->notify_queue)
		vd->tops->notify_queue(vd->transport, &vd->vqs[c->q]);
	pthread_mutex_unlock(&vd->lock);
}

int net_vhost_init(struct vnet *n)
{
	/* One instance per pair now: from DRIVER_OK on the filter forbids opening. */
	for (unsigned int i = 0; i < n->max_pairs; i++) {
		struct error err = ERROR_INIT;

		if (vhost_net_open(&n->vh[i], &err)) {
			/* started later, it falls back to the userspace path and says why */
			snprintf(n->vhost_why, sizeof(n->vhost_why), "%s", error_msg(&err));
			break;
		}
	}
	for (unsigned int q = 0; q < 2 * n->max_pairs; q++) {
		struct vnet_call *c = &n->calls[q];

		c->n = n;
		c->q = q;
		c->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (c->fd < 0)
			return -errno;
		if (n->loop) {
			int r = evloop_add(n->loop, c->fd, EPOLLIN, call_ready, c);

			if (r < 0) {
				close(c->fd);
				c->fd = -1;
				return r;
			}
		}
	}
	return 0;
}

void net_vhost_free(struct vnet *n)
{
	for (unsigned int q = 0; q < 2 * TAP_MAX_QUEUES; q++) {
		if (n->calls[q].n && n->calls[q].fd >= 0) {
			if (n->loop)
				evloop_del(n->loop, n->calls[q].fd);
			close(n->calls[q].fd);
		}
	}
	for (unsigned int i = 0; i < TAP_MAX_QUEUES; i++)
		vhost_net_close(n->vh[i]);
}

static int pair_start(struct vnet *n, unsigned int i, struct error *err)
{
	struct virtio_dev *vd = &n->vd;
	uint64_t features;
	int r;

	if (!n->vh[i])
		return error_setf(err, -ENODEV, "no vhost-net instance for queue pair %u (%s)", i,
				  n->vhost_why[0] ? n->vhost_why : "not opened");
	n->vh_live |= 1u << i;
	features = vd->driver_features & vhost_net_features(n->vh[i]);
	if ((vd->driver_features & RING_FEATURES) & ~features)
		return error_setf(err, -EOPNOTSUPP,
				  "this kernel's vhost-net lacks ring features %#llx",
				  (unsigned long long)((vd->driver_features & RING_FEATURES) &
						       ~features));
	r = vhost_net_set_features(n->vh[i], features, err);
	if (!r)
		r = vhost_net_set_mem(n->vh[i], vd->mem, err);
	for (unsigned int k = 0; !r && k < 2; k++) {
		unsigned int q = 2 * i + k;
		struct virtq *vq = &vd->vqs[q];
		struct vhost_net_ring ring = {
			.size = vq->size,
			.last_avail = vq->last_avail,
			.desc_gpa = vq->desc_gpa,
			.avail_gpa = vq->avail_gpa,
			.used_gpa = vq->used_gpa,
			.kick_fd = vd->tops->kick_fd(vd->transport, q, false),
			.call_fd = n->calls[q].fd,
		};

		if (ring.kick_fd < 0)
			return error_setf(err, -ENODEV, "queue %u has no doorbell eventfd", q);
		r = vhost_net_set_ring(n->vh[i], vd->mem, k, &ring, err);
		/* Interrupts straight from vhost to KVM while the vector is unmasked. */
		if (!r && vd->tops->call_fd)
			vd->tops->call_fd(vd->transport, q, ring.call_fd, n->loop);
	}
	for (unsigned int k = 0; !r && k < 2; k++)
		r = vhost_net_set_backend(n->vh[i], k, n->pairs[i].fd, err);
	return r;
}

int net_vhost_start(struct vnet *n)
{
	struct virtio_dev *vd = &n->vd;
	struct error err = ERROR_INIT;
	int r = 0;

	if (!vd->tops || !vd->tops->kick_fd || !n->loop) {
		r = error_setf(&err, -ENOTSUP, "the transport has no doorbell eventfds");
		goto fail;
	}
	for (unsigned int i = 0; i < n->max_pairs && !r; i++) {
		if (!vd->vqs[2 * i].enabled || !vd->vqs[2 * i + 1].enabled)
			continue; /* the driver does not use this pair (5.1.6.5.5) */
		r = pair_start(n, i, &err);
	}
	if (r)
		goto fail;
	n->vhost_on = true;
	n->vhost_why[0] = '\0';
	/* The tap queues are vhost's now: the loop stops watching them. */
	for (unsigned int i = 0; i < n->max_pairs; i++)
		if (n->pairs[i].on_loop && evloop_mod(n->loop, n->pairs[i].fd, 0) == 0)
			n->pairs[i].events = 0;
	return 0;
fail:
	snprintf(n->vhost_why, sizeof(n->vhost_why), "%s", error_msg(&err));
	net_vhost_stop(n);
	return r;
}

void net_vhost_stop(struct vnet *n)
{
	struct virtio_dev *vd = &n->vd;

	for (unsigned int q = 0; q < 2 * n->max_pairs; q++)
		if (vd->tops && vd->tops->call_fd)
			vd->tops->call_fd(vd->transport, q, -1, NULL);
	for (unsigned int i = 0; i < TAP_MAX_QUEUES; i++) {
		struct error err = ERROR_INIT;

		if (!(n->vh_live & (1u << i)))
			continue;
		n->vh_live &= ~(1u << i);
		/* Reset, not closed: a later start cannot open /dev/vhost-net again. */
		if (vhost_net_reset(n->vh[i], &err)) {
			log_warn("virtio-net %s: %s", vd->name, error_msg(&err));
			vhost_net_close(n->vh[i]);
			n->vh[i] = NULL;
		}
		for (unsigned int k = 0; k < 2; k++)
			if (vd->tops && vd->tops->kick_fd)
				vd->tops->kick_fd(vd->transport, 2 * i + k, true);
	}
	n->vhost_on = false;
}

void net_vhost_kick(struct vnet *n, unsigned int q)
{
	struct virtio_dev *vd = &n->vd;
	int fd = vd->tops && vd->tops->kick_fd ? vd->tops->kick_fd(vd->transport, q, false) : -1;
	uint64_t one = 1;

	/* Hand the doorbell to vhost, which polls the same eventfd. */
	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0)
		log_warn("virtio-net %s: doorbell of queue %u: %s", vd->name, q, strerror(errno));
}
