// SPDX-License-Identifier: MIT
/*
 * Transport-independent part of a virtio device: the device status state
 * machine (virtio 1.2 sections 2.1 and 3.1.1), feature negotiation
 * (section 2.2), queue enabling and reset (section 2.4).
 */
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <zlib.h>

#include "util/evloop.h"
#include "virtio/virtio.h"

static void vq_error(void *opaque, struct virtq *vq)
{
	virtio_dev_needs_reset(opaque);
}

int virtio_dev_init(struct virtio_dev *vd, const char *name, uint16_t type,
		    const struct virtio_dev_ops *ops, void *priv, unsigned int nr_queues,
		    uint16_t max_size, uint64_t features, struct gmem *mem, struct evloop *loop)
{
	if (nr_queues == 0 || nr_queues > VIRTIO_MAX_QUEUES || max_size == 0 ||
	    (max_size & (max_size - 1)))
		return -EINVAL;
	memset(vd, 0, sizeof(*vd));
	snprintf(vd->name, sizeof(vd->name), "%s", name);
	vd->type = type;
	vd->ops = ops;
	vd->priv = priv;
	vd->mem = mem;
	vd->loop = loop;
	vd->signal_fd = -1;
	vd->rl = (struct ratelimit)RATELIMIT_INIT;
	vd->host_features = features | (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_EVENT_IDX) |
			    (1ull << VIRTIO_F_INDIRECT_DESC);
	vd->config_msix_vector = VIRTIO_NO_VECTOR;
	vd->nr_queues = nr_queues;
	vd->vqs = calloc(nr_queues, sizeof(*vd->vqs));
	vd->qnames = calloc(nr_queues, sizeof(*vd->qnames));
	if (!vd->vqs || !vd->qnames) {
		free(vd->vqs);
		free(vd->qnames);
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < nr_queues; i++) {
		snprintf(vd->qnames[i], sizeof(vd->qnames[i]), "%s.q%u", vd->name, i);
		virtq_init(&vd->vqs[i], mem, (uint16_t)i, max_size, vd->qnames[i], &vd->rl);
		vd->vqs[i].on_error = vq_error;
		vd->vqs[i].opaque = vd;
	}
	pthread_mutex_init(&vd->lock, NULL);
	return 0;
}

void virtio_dev_destroy(struct virtio_dev *vd)
{
	if (!vd->vqs)
		return;
	virtio_dev_unbind_loop(vd);
	free(vd->vqs);
	free(vd->qnames);
	vd->vqs = NULL;
	pthread_mutex_destroy(&vd->lock);
}

void virtio_dev_guest_error(struct virtio_dev *vd, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vd->guest_errors++;
	log_guest_err(&vd->rl, "%s: guest error: %s", vd->name, msg);
}

bool virtio_dev_active(const struct virtio_dev *vd)
{
	return (vd->status & VIRTIO_STATUS_DRIVER_OK) &&
	       !(vd->status & (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED));
}

void virtio_dev_config_changed(struct virtio_dev *vd)
{
	vd->config_gen++;
	if (vd->tops && vd->tops->notify_config)
		vd->tops->notify_config(vd->transport);
}

void virtio_dev_needs_reset(struct virtio_dev *vd)
{
	/*
	 * Section 2.1.2: only meaningful once the driver is running; before
	 * DRIVER_OK the device simply refuses what it cannot accept.
	 */
	if (!(vd->status & VIRTIO_STATUS_DRIVER_OK) || (vd->status & VIRTIO_STATUS_NEEDS_RESET))
		return;
	vd->status |= VIRTIO_STATUS_NEEDS_RESET;
	if (vd->tops && vd->tops->notify_config)
		vd->tops->notify_config(vd->transport);
}

void virtio_dev_notify(struct virtio_dev *vd, struct virtq *vq)
{
	if (virtq_should_notify(vq) && vd->tops && vd->tops->notify_queue)
		vd->tops->notify_queue(vd->transport, vq);
}

void virtio_dev_reset(struct virtio_dev *vd)
{
	if (vd->ops->reset)
		vd->ops->reset(vd);
	for (unsigned int i = 0; i < vd->nr_queues; i++)
		virtq_reset(&vd->vqs[i]);
	vd->status = 0;
	vd->driver_features = 0;
	vd->config_msix_vector = VIRTIO_NO_VECTOR;
	vd->resets++;
}

uint8_t virtio_dev_get_status(struct virtio_dev *vd)
{
	/*
	 * Section 4.1.4.3.2: after writing 0 the driver waits for device_status
	 * to read back 0.  Until requests already handed to the block layer
	 * finish, we report FAILED-free non-zero so DMA cannot outlive reset.
	 */
	if (vd->status == 0 && vd->ops->busy && vd->ops->busy(vd))
		return VIRTIO_STATUS_ACKNOWLEDGE;
	return vd->status;
}

uint32_t virtio_dev_read_features(struct virtio_dev *vd, unsigned int select)
{
	if (select > 1)
		return 0;
	return (uint32_t)(vd->host_features >> (32 * select));
}

void virtio_dev_write_features(struct virtio_dev *vd, unsigned int select, uint32_t val)
{
	uint64_t mask;

	/* Section 3.1.1: features are written before FEATURES_OK, once. */
	if (vd->status & VIRTIO_STATUS_FEATURES_OK) {
		virtio_dev_guest_error(vd, "driver_feature written after FEATURES_OK");
		return;
	}
	if (select > 1) {
		if (val)
			virtio_dev_guest_error(vd, "driver_feature_select %u holds no features",
					       select);
		return;
	}
	mask = 0xffffffffull << (32 * select);
	vd->driver_features = (vd->driver_features & ~mask) | ((uint64_t)val << (32 * select));
}

static bool features_ok(struct virtio_dev *vd)
{
	if (vd->driver_features & ~vd->host_features) {
		virtio_dev_guest_error(
			vd, "driver accepted features %#llx the device never offered",
			(unsigned long long)(vd->driver_features & ~vd->host_features));
		return false;
	}
	/* Legacy drivers are not served: VERSION_1 is mandatory (section 6.1). */
	if (!virtio_has_feature(vd, VIRTIO_F_VERSION_1)) {
		virtio_dev_guest_error(vd, "driver did not accept VIRTIO_F_VERSION_1");
		return false;
	}
	return true;
}

void virtio_dev_set_status(struct virtio_dev *vd, uint8_t val)
{
	uint8_t old = vd->status, added;

	if (val == 0) {
		virtio_dev_reset(vd);
		return;
	}
	/* Section 2.1.1: the driver never clears a bit except by reset. */
	if (old & ~val & ~VIRTIO_STATUS_NEEDS_RESET) {
		virtio_dev_guest_error(vd, "device_status %#x clears bits of %#x", val, old);
		return;
	}
	added = val & ~old & ~VIRTIO_STATUS_NEEDS_RESET;
	if ((added & VIRTIO_STATUS_FEATURES_OK) && !features_ok(vd))
		added &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK; /* driver sees it did not stick */
	if (added & VIRTIO_STATUS_DRIVER_OK) {
		if (!((old | added) & VIRTIO_STATUS_FEATURES_OK)) {
			virtio_dev_guest_error(vd, "DRIVER_OK without FEATURES_OK");
			added &= (uint8_t)~VIRTIO_STATUS_DRIVER_OK;
		}
	}
	vd->status = old | added;
	if (added & VIRTIO_STATUS_DRIVER_OK) {
		int ret = vd->ops->activate ? vd->ops->activate(vd) : 0;

		if (ret < 0) {
			log_warn("%s: cannot start the device: %s", vd->name, strerror(-ret));
			virtio_dev_needs_reset(vd);
			return;
		}
		/*
		 * Buffers made available before DRIVER_OK are served now, on
		 * the device's thread: this runs on a vCPU (a status write).
		 */
		for (unsigned int i = 0; i < vd->nr_queues; i++)
			if (vd->vqs[i].enabled && virtq_has_avail(&vd->vqs[i]))
				virtio_dev_signal(vd, i);
	}
}

int virtio_dev_queue_enable(struct virtio_dev *vd, unsigned int q)
{
	struct virtq *vq;
	int ret;

	if (q >= vd->nr_queues)
		return -EINVAL;
	vq = &vd->vqs[q];
	if (vq->enabled)
		return 0;
	if (!(vd->status & VIRTIO_STATUS_FEATURES_OK) || (vd->status & VIRTIO_STATUS_DRIVER_OK)) {
		virtio_dev_guest_error(vd, "queue_enable of queue %u outside feature negotiation",
				       q);
		return -EINVAL;
	}
	ret = virtq_enable(vq, virtio_has_feature(vd, VIRTIO_F_EVENT_IDX),
			   virtio_has_feature(vd, VIRTIO_F_INDIRECT_DESC));
	if (ret < 0)
		virtio_dev_guest_error(vd,
				       "queue %u refused: size %u (max %u), desc %#llx avail %#llx "
				       "used %#llx",
				       q, vq->size, vq->max_size, (unsigned long long)vq->desc_gpa,
				       (unsigned long long)vq->avail_gpa,
				       (unsigned long long)vq->used_gpa);
	return ret;
}

void virtio_dev_kick(struct virtio_dev *vd, unsigned int q)
{
	/* Section 2.7.13.3: buffers are only used once DRIVER_OK is set. */
	if (q >= vd->nr_queues || !virtio_dev_active(vd) || !vd->vqs[q].enabled || vd->paused)
		return;
	if (vd->ops->notify)
		vd->ops->notify(vd, q);
}

/* ---- signals from other threads ------------------------------------------ */

/* The device's loop: run the kicks signalled meanwhile. */
static void signal_handler(void *opaque, uint32_t events)
{
	struct virtio_dev *vd = opaque;
	uint64_t cnt, pending;

	if (read(vd->signal_fd, &cnt, sizeof(cnt)) != sizeof(cnt))
		return;
	pthread_mutex_lock(&vd->lock);
	pending = __atomic_exchange_n(&vd->signal_pending, 0, __ATOMIC_ACQ_REL);
	for (unsigned int q = 0; q < vd->nr_queues && pending; q++)
		if (pending & (1ull << q))
			virtio_dev_kick(vd, q);
	pthread_mutex_unlock(&vd->lock);
}

void virtio_dev_signal(struct virtio_dev *vd, unsigned int q)
{
	uint64_t one = 1;

	if (q >= vd->nr_queues)
		return;
	if (!vd->signal_loop) {
		virtio_dev_kick(vd, q);
		return;
	}
	__atomic_or_fetch(&vd->signal_pending, 1ull << q, __ATOMIC_ACQ_REL);
	/* An eventfd write cannot block here (the counter never nears 2^64). */
	if (write(vd->signal_fd, &one, sizeof(one)) != sizeof(one))
		log_warn("%s: cannot signal the device thread: %s", vd->name, strerror(errno));
}

int virtio_dev_bind_loop(struct virtio_dev *vd, struct evloop *loop)
{
	int fd, ret;

	if (vd->signal_loop)
		return 0;
	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	vd->signal_fd = fd;
	ret = evloop_add(loop, fd, EPOLLIN, signal_handler, vd);
	if (ret < 0) {
		vd->signal_fd = -1;
		close(fd);
		return ret;
	}
	vd->signal_loop = loop;
	return 0;
}

void virtio_dev_unbind_loop(struct virtio_dev *vd)
{
	if (!vd->signal_loop)
		return;
	/* When this returns the handler is not running (evloop.h). */
	evloop_del(vd->signal_loop, vd->signal_fd);
	close(vd->signal_fd);
	vd->signal_fd = -1;
	vd->signal_loop = NULL;
}

void virtio_dev_set_paused(struct virtio_dev *vd, bool paused)
{
	bool was = vd->paused;

	vd->paused = paused;
	/* Kicks were dropped while paused: look at every queue once. */
	if (was && !paused)
		for (unsigned int i = 0; i < vd->nr_queues; i++)
			virtio_dev_kick(vd, i);
}

/* ---- state records ------------------------------------------------------ */

#define STATE_MAGIC 0x54524956u /* "VIRT" */
#define STATE_VERSION 1

struct state_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t nr_queues;
	uint32_t len; /* whole record */
	uint32_t crc; /* CRC-32 of the record with this field 0 */
	uint64_t host_features, driver_features;
	uint16_t type, config_msix_vector;
	uint8_t status, config_gen, pad[2];
} __attribute__((packed));

struct state_queue {
	uint64_t desc, avail, used;
	uint16_t size, msix_vector, last_avail, used_idx, signalled_used;
	uint8_t enabled, signalled_valid, event_idx, indirect, pad[2];
} __attribute__((packed));

int virtio_dev_save(struct virtio_dev *vd, void *buf, size_t *len)
{
	size_t need = sizeof(struct state_hdr) + vd->nr_queues * sizeof(struct state_queue);
	struct state_hdr h = { 0 };
	uint8_t *p = buf;

	if (*len < need)
		return -ENOSPC;
	if (vd->ops->busy && vd->ops->busy(vd))
		return -EBUSY;
	h.magic = htole32(STATE_MAGIC);
	h.version = htole16(STATE_VERSION);
	h.nr_queues = htole16((uint16_t)vd->nr_queues);
	h.len = htole32((uint32_t)need);
	h.host_features = htole64(vd->host_features);
	h.driver_features = htole64(vd->driver_features);
	h.type = htole16(vd->type);
	h.config_msix_vector = htole16(vd->config_msix_vector);
	h.status = vd->status;
	h.config_gen = vd->config_gen;
	memcpy(p, &h, sizeof(h));
	for (unsigned int i = 0; i < vd->nr_queues; i++) {
		const struct virtq *vq = &vd->vqs[i];
		struct state_queue q = {
			.desc = htole64(vq->desc_gpa),
			.avail = htole64(vq->avail_gpa),
			.used = htole64(vq->used_gpa),
			.size = htole16(vq->size),
			.msix_vector = htole16(vq->msix_vector),
			.last_avail = htole16(vq->last_avail),
			.used_idx = htole16(vq->used_idx),
			.signalled_used = htole16(vq->signalled_used),
			.enabled = vq->enabled,
			.signalled_valid = vq->signalled_used_valid,
			.event_idx = vq->event_idx,
			.indirect = vq->indirect,
		};
		memcpy(p + sizeof(h) + i * sizeof(q), &q, sizeof(q));
	}
	h.crc = htole32((uint32_t)crc32(0, p, (uInt)need));
	memcpy(p + offsetof(struct state_hdr, crc), &h.crc, sizeof(h.crc));
	*len = need;
	return 0;
}

int virtio_dev_load(struct virtio_dev *vd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	struct state_hdr h;
	uint8_t *copy;
	uint32_t crc;

	if (len < sizeof(h))
		return -EINVAL;
	memcpy(&h, p, sizeof(h));
	if (le32toh(h.magic) != STATE_MAGIC || le16toh(h.version) != STATE_VERSION ||
	    le16toh(h.nr_queues) != vd->nr_queues || le16toh(h.type) != vd->type ||
	    le32toh(h.len) != len || len != sizeof(h) + vd->nr_queues * sizeof(struct state_queue))
		return -EINVAL;
	copy = malloc(len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, p, len);
	memset(copy + offsetof(struct state_hdr, crc), 0, sizeof(h.crc));
	crc = (uint32_t)crc32(0, copy, (uInt)len);
	free(copy);
	if (crc != le32toh(h.crc))
		return -EINVAL;
	virtio_dev_reset(vd);
	/* What the driver accepted must still be on offer here. */
	if (le64toh(h.driver_features) & ~vd->host_features)
		return -EINVAL;
	vd->driver_features = le64toh(h.driver_features);
	vd->config_msix_vector = le16toh(h.config_msix_vector);
	vd->config_gen = h.config_gen;
	for (unsigned int i = 0; i < vd->nr_queues; i++) {
		struct virtq *vq = &vd->vqs[i];
		struct state_queue q;

		memcpy(&q, p + sizeof(h) + i * sizeof(q), sizeof(q));
		vq->size = le16toh(q.size);
		vq->msix_vector = le16toh(q.msix_vector);
		vq->desc_gpa = le64toh(q.desc);
		vq->avail_gpa = le64toh(q.avail);
		vq->used_gpa = le64toh(q.used);
		if (!q.enabled)
			continue;
		/* virtq_enable re-checks size, alignment and placement in RAM. */
		if (virtq_enable(vq, q.event_idx, q.indirect) < 0) {
			virtio_dev_reset(vd);
			return -EINVAL;
		}
		/* virtq_restore refuses indices that do not fit the ring in RAM. */
		if (virtq_restore(vq, le16toh(q.last_avail), le16toh(q.used_idx)) < 0) {
			virtio_dev_reset(vd);
			return -EINVAL;
		}
		virtq_restore_signalled(vq, le16toh(q.signalled_used), q.signalled_valid);
	}
	vd->status = h.status;
	return 0;
}
