// SPDX-License-Identifier: MIT
/*
 * Modern virtio-pci transport (virtio 1.2 section 4.1).  See virtio-pci.h
 * for the BAR layout.  Register accesses arrive on vCPU threads through
 * the MMIO bus; queue kicks arrive on the device's loop (its I/O thread,
 * or the main loop) through ioeventfds.  Both take the device lock, so the
 * device model sees one thing at a time, and a vCPU never runs the queues:
 * a doorbell the ioeventfd missed is signalled to the device's loop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "kvm/kvm.h"
#include "util/evloop.h"
#include "util/log.h"
#include "virtio/virtio-pci-int.h"
#include "bus/host.h"
#include "util/component.h"

/* virtio_pci_cap.cfg_type (section 4.1.4). */
#define VPCI_CAP_COMMON 1
#define VPCI_CAP_NOTIFY 2
#define VPCI_CAP_ISR 3
#define VPCI_CAP_DEVICE 4
#define VPCI_CAP_PCI_CFG 5

/* Common configuration layout (section 4.1.4.3). */
#define CC_DFSELECT 0x00
#define CC_DF 0x04
#define CC_GFSELECT 0x08
#define CC_GF 0x0c
#define CC_MSIX_CONFIG 0x10
#define CC_NUM_QUEUES 0x12
#define CC_STATUS 0x14
#define CC_CFG_GEN 0x15
#define CC_Q_SELECT 0x16
#define CC_Q_SIZE 0x18
#define CC_Q_MSIX 0x1a
#define CC_Q_ENABLE 0x1c
#define CC_Q_NOFF 0x1e
#define CC_Q_DESC 0x20
#define CC_Q_DRIVER 0x28
#define CC_Q_DEVICE 0x30

struct pci_dev *virtio_pci_dev(struct virtio_pci *vp)
{
	return &vp->pci;
}

struct virtio_dev *virtio_pci_vdev(struct virtio_pci *vp)
{
	return vp->vd;
}

/* ---- interrupts -------------------------------------------------------- */

static void raise_intx(struct virtio_pci *vp, uint8_t why)
{
	vp->isr |= why;
	vp->intx_raised++;
	pci_dev_set_intx(&vp->pci, 1);
}

static void vpci_notify_queue(void *t, struct virtq *vq)
{
	struct virtio_pci *vp = t;

	if (msix_enabled(&vp->msix)) {
		/* Section 4.1.5.2: NO_VECTOR means no interrupt at all. */
		if (vq->msix_vector != VIRTIO_NO_VECTOR)
			msix_notify(&vp->msix, vq->msix_vector);
		return;
	}
	raise_intx(vp, 1);
}

static void vpci_notify_config(void *t)
{
	struct virtio_pci *vp = t;

	if (msix_enabled(&vp->msix)) {
		if (vp->vd->config_msix_vector != VIRTIO_NO_VECTOR)
			msix_notify(&vp->msix, vp->vd->config_msix_vector);
		return;
	}
	raise_intx(vp, 2);
}

static struct evloop *dev_loop(struct virtio_pci *vp);

static int vpci_kick_fd(void *t, unsigned int q, bool polled)
{
	struct virtio_pci *vp = t;

	if (q >= vp->vd->nr_queues || vp->qfd[q].fd < 0 || !dev_loop(vp))
		return -1;
	/* A mod, not a del: a del could wait for the handler, which takes vd->lock. */
	if (evloop_mod(dev_loop(vp), vp->qfd[q].fd, polled ? EPOLLIN : 0) < 0)
		return -1;
	return vp->qfd[q].fd;
}

/* The MSI-X vector an attached call eventfd of q follows; -1 for none. */
static void call_follow(struct virtio_pci *vp, unsigned int q)
{
	uint16_t vec = vp->vd->vqs[q].msix_vector;

	if (vp->calls[q].fd >= 0)
		msix_irqfd_attach(&vp->msix, &vp->calls[q], vec == VIRTIO_NO_VECTOR ? -1 : vec);
}

static int vpci_call_fd(void *t, unsigned int q, int fd, struct evloop *loop)
{
	struct virtio_pci *vp = t;

	if (q >= vp->vd->nr_queues)
		return -EINVAL;
	if (vp->calls[q].fd >= 0)
		msix_irqfd_detach(&vp->msix, &vp->calls[q]);
	vp->calls[q].fd = fd;
	vp->calls[q].loop = loop;
	call_follow(vp, q);
	return 0;
}

static const struct virtio_transport_ops vpci_tops = {
	.notify_queue = vpci_notify_queue,
	.kick_fd = vpci_kick_fd,
	.call_fd = vpci_call_fd,
	.notify_config = vpci_notify_config,
};

/* ---- common configuration ---------------------------------------------- */

static struct virtq *selected_vq(struct virtio_pci *vp)
{
	if (vp->queue_select >= vp->vd->nr_queues)
		return NULL;
	return &vp->vd->vqs[vp->queue_select];
}

/* Snapshot the registers, so any aligned access of any width just works. */
static void common_image(struct virtio_pci *vp, uint8_t img[VPCI_COMMON_LEN])
{
	struct virtio_dev *vd = vp->vd;
	struct virtq *vq = selected_vq(vp);
	uint32_t v32;
	uint16_t v16;

	memset(img, 0, VPCI_COMMON_LEN);
	memcpy(img + CC_DFSELECT, &vp->dfselect, 4);
	v32 = virtio_dev_read_features(vd, vp->dfselect);
	memcpy(img + CC_DF, &v32, 4);
	memcpy(img + CC_GFSELECT, &vp->gfselect, 4);
	v32 = vp->gfselect < 2 ? (uint32_t)(vd->driver_features >> (32 * vp->gfselect)) : 0;
	memcpy(img + CC_GF, &v32, 4);
	memcpy(img + CC_MSIX_CONFIG, &vd->config_msix_vector, 2);
	v16 = (uint16_t)vd->nr_queues;
	memcpy(img + CC_NUM_QUEUES, &v16, 2);
	img[CC_STATUS] = virtio_dev_get_status(vd);
	img[CC_CFG_GEN] = vd->config_gen;
	memcpy(img + CC_Q_SELECT, &vp->queue_select, 2);
	if (!vq)
		return; /* section 4.1.4.3.1: queue_size reads 0 */
	memcpy(img + CC_Q_SIZE, &vq->size, 2);
	memcpy(img + CC_Q_MSIX, &vq->msix_vector, 2);
	v16 = vq->enabled;
	memcpy(img + CC_Q_ENABLE, &v16, 2);
	v16 = (uint16_t)vp->queue_select;
	memcpy(img + CC_Q_NOFF, &v16, 2);
	memcpy(img + CC_Q_DESC, &vq->desc_gpa, 8);
	memcpy(img + CC_Q_DRIVER, &vq->avail_gpa, 8);
	memcpy(img + CC_Q_DEVICE, &vq->used_gpa, 8);
}

static bool touches(uint32_t off, unsigned int len, uint32_t field, unsigned int flen)
{
	return off < field + flen && field < off + len;
}

static uint16_t valid_vector(struct virtio_pci *vp, uint16_t v)
{
	/* Section 4.1.5.1.2: a vector the device cannot use reads NO_VECTOR. */
	return v < vp->nr_vectors ? v : VIRTIO_NO_VECTOR;
}

static void common_write(struct virtio_pci *vp, uint32_t off, const void *data, unsigned int len)
{
	struct virtio_dev *vd = vp->vd;
	uint8_t img[VPCI_COMMON_LEN];
	struct virtq *vq;
	uint32_t v32;
	uint16_t v16;

	common_image(vp, img);
	memcpy(img + off, data, len);
	vq = selected_vq(vp);

	if (touches(off, len, CC_DFSELECT, 4))
		memcpy(&vp->dfselect, img + CC_DFSELECT, 4);
	if (touches(off, len, CC_GFSELECT, 4))
		memcpy(&vp->gfselect, img + CC_GFSELECT, 4);
	if (touches(off, len, CC_GF, 4)) {
		memcpy(&v32, img + CC_GF, 4);
		virtio_dev_write_features(vd, vp->gfselect, v32);
	}
	if (touches(off, len, CC_MSIX_CONFIG, 2)) {
		memcpy(&v16, img + CC_MSIX_CONFIG, 2);
		vd->config_msix_vector = valid_vector(vp, v16);
	}
	if (touches(off, len, CC_STATUS, 1)) {
		virtio_dev_set_status(vd, img[CC_STATUS]);
		if (img[CC_STATUS] == 0) {
			/* Section 4.1.4.3.2 reset: interrupts and selectors too. */
			vp->isr = 0;
			pci_dev_set_intx(&vp->pci, 0);
			vp->queue_select = 0;
			vp->dfselect = vp->gfselect = 0;
		}
	}
	if (touches(off, len, CC_Q_SELECT, 2))
		memcpy(&vp->queue_select, img + CC_Q_SELECT, 2);
	if (!vq || !touches(off, len, CC_Q_SIZE, CC_Q_DEVICE + 8 - CC_Q_SIZE))
		return;
	if (touches(off, len, CC_Q_MSIX, 2)) {
		memcpy(&v16, img + CC_Q_MSIX, 2);
		vq->msix_vector = valid_vector(vp, v16);
		call_follow(vp, vp->queue_select);
	}
	/* The rest configures the ring: only while the queue is off. */
	if (vq->enabled) {
		if (touches(off, len, CC_Q_SIZE, 2) || touches(off, len, CC_Q_DESC, 24))
			virtio_dev_guest_error(vd, "queue %u reconfigured while enabled",
					       vp->queue_select);
		return;
	}
	if (touches(off, len, CC_Q_SIZE, 2))
		memcpy(&vq->size, img + CC_Q_SIZE, 2);
	if (touches(off, len, CC_Q_DESC, 8))
		memcpy(&vq->desc_gpa, img + CC_Q_DESC, 8);
	if (touches(off, len, CC_Q_DRIVER, 8))
		memcpy(&vq->avail_gpa, img + CC_Q_DRIVER, 8);
	if (touches(off, len, CC_Q_DEVICE, 8))
		memcpy(&vq->used_gpa, img + CC_Q_DEVICE, 8);
	if (touches(off, len, CC_Q_ENABLE, 2)) {
		memcpy(&v16, img + CC_Q_ENABLE, 2);
		if (v16 == 1)
			virtio_dev_queue_enable(vd, vp->queue_select);
		else
			virtio_dev_guest_error(vd, "queue_enable written with %u", v16);
	}
}

/* ---- the BAR ------------------------------------------------------------ */

static bool access_ok(uint64_t off, unsigned int len)
{
	return (len == 1 || len == 2 || len == 4 || len == 8) && !(off & (len - 1));
}

static void vpci_bar_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	struct virtio_pci *vp = opaque;
	struct virtio_dev *vd = vp->vd;
	uint8_t img[VPCI_COMMON_LEN];

	memset(data, 0, len);
	if (off >= VPCI_MSIX_PBA_OFF) {
		msix_pba_read(&vp->msix, off - VPCI_MSIX_PBA_OFF, data, len);
		return;
	}
	if (off >= VPCI_MSIX_TABLE_OFF) {
		msix_table_read(&vp->msix, off - VPCI_MSIX_TABLE_OFF, data, len);
		return;
	}
	if (!access_ok(off, len))
		return;
	pthread_mutex_lock(&vd->lock);
	if (off + len <= VPCI_COMMON_LEN) {
		common_image(vp, img);
		memcpy(data, img + off, len);
	} else if (off == VPCI_ISR_OFF) {
		/* Section 4.1.4.5.1: reading ISR clears it and de-asserts INTx. */
		*(uint8_t *)data = vp->isr;
		vp->isr = 0;
		pci_dev_set_intx(&vp->pci, 0);
	} else if (off >= VPCI_DEVICE_OFF && off + len <= VPCI_DEVICE_OFF + vp->cfg_size) {
		if (vd->ops->config_read)
			vd->ops->config_read(vd, (uint32_t)(off - VPCI_DEVICE_OFF), data, len);
	}
	pthread_mutex_unlock(&vd->lock);
}

static void vpci_bar_write(void *opaque, uint64_t off, const void *data, unsigned int len)
{
	struct virtio_pci *vp = opaque;
	struct virtio_dev *vd = vp->vd;

	if (off >= VPCI_MSIX_PBA_OFF)
		return; /* PBA is read-only */
	if (off >= VPCI_MSIX_TABLE_OFF) {
		msix_table_write(&vp->msix, off - VPCI_MSIX_TABLE_OFF, data, len);
		return;
	}
	if (!access_ok(off, len))
		return;
	pthread_mutex_lock(&vd->lock);
	if (off + len <= VPCI_COMMON_LEN) {
		common_write(vp, (uint32_t)off, data, len);
	} else if (off >= VPCI_DEVICE_OFF && off + len <= VPCI_DEVICE_OFF + vp->cfg_size) {
		if (vd->ops->config_write)
			vd->ops->config_write(vd, (uint32_t)(off - VPCI_DEVICE_OFF), data, len);
	} else if (off >= VPCI_NOTIFY_OFF &&
		   off < VPCI_NOTIFY_OFF + (uint64_t)VPCI_NOTIFY_MULT * vd->nr_queues) {
		/*
		 * A kick the ioeventfd did not catch (other width, not yet set
		 * up): handed to the device's thread like the ioeventfd's.
		 */
		virtio_dev_signal(vd, (unsigned int)((off - VPCI_NOTIFY_OFF) / VPCI_NOTIFY_MULT));
	}
	pthread_mutex_unlock(&vd->lock);
}

static const struct bus_ops vpci_bar_ops = {
	.read = vpci_bar_read,
	.write = vpci_bar_write,
};

/* ---- doorbells: one ioeventfd per queue ---------------------------------- */

static void vpci_ioeventfd(void *opaque, uint32_t events)
{
	struct vpci_qfd *qf = opaque;
	struct virtio_dev *vd = qf->vp->vd;
	uint64_t cnt;

	if (read(qf->fd, &cnt, sizeof(cnt)) != sizeof(cnt))
		return;
	pthread_mutex_lock(&vd->lock);
	virtio_dev_kick(vd, qf->q);
	pthread_mutex_unlock(&vd->lock);
}

static void ioeventfds_set(struct virtio_pci *vp, uint64_t base)
{
	unsigned int n = vp->vd->nr_queues;

	if (vp->vm_fd < 0 || base == vp->ioe_base)
		return;
	for (unsigned int q = 0; q < n && vp->ioe_base; q++)
		kvm_ioeventfd(vp->vm_fd, vp->ioe_base + VPCI_NOTIFY_OFF + VPCI_NOTIFY_MULT * q, 2,
			      -1, vp->qfd[q].fd, false, true);
	vp->ioe_base = 0;
	if (!base)
		return;
	for (unsigned int q = 0; q < n; q++) {
		int ret = kvm_ioeventfd(vp->vm_fd, base + VPCI_NOTIFY_OFF + VPCI_NOTIFY_MULT * q, 2,
					-1, vp->qfd[q].fd, false, false);
		if (ret < 0) {
			/* Kicks still work, as MMIO exits handled in vpci_bar_write. */
			log_warn("%s: ioeventfd: %s", vp->vd->name, strerror(-ret));
			for (unsigned int k = 0; k < q; k++)
				kvm_ioeventfd(vp->vm_fd,
					      base + VPCI_NOTIFY_OFF + VPCI_NOTIFY_MULT * k, 2, -1,
					      vp->qfd[k].fd, false, true);
			return;
		}
	}
	vp->ioe_base = base;
}

static void vpci_bar_moved(struct pci_dev *d, int bar, uint64_t old_addr, uint64_t new_addr)
{
	struct virtio_pci *vp = d->opaque;

	if (bar != VPCI_BAR)
		return;
	pthread_mutex_lock(&vp->vd->lock);
	ioeventfds_set(vp, new_addr);
	pthread_mutex_unlock(&vp->vd->lock);
}

/* The loop the device model runs on: its own I/O thread or the main loop. */
static struct evloop *dev_loop(struct virtio_pci *vp)
{
	return vp->vd->ioloop ? vp->vd->ioloop : vp->loop;
}

static void qfd_del(struct virtio_pci *vp, int fd)
{
	if (dev_loop(vp))
		evloop_del(dev_loop(vp), fd);
}

/* ---- PCI config: MSI-X control and the cfg access capability ------------- */

static void vpci_config_write(struct pci_dev *d, uint32_t off, uint32_t val, unsigned int len)
{
	struct virtio_pci *vp = d->opaque;
	uint32_t c = vp->cfgcap, bar, boff, blen, v;

	msix_config_write(&vp->msix, off, val, len);
	if (!c || off + len <= c + 4 || off >= c + 20)
		return;
	/* Section 4.1.4.8: bar at +4, offset at +8, length at +12, data at +16. */
	bar = pci_cfg_read32(d, c + 4) & 0xff;
	boff = pci_cfg_read32(d, c + 8);
	blen = pci_cfg_read32(d, c + 12);
	if (bar != VPCI_BAR || (blen != 1 && blen != 2 && blen != 4) || boff >= VPCI_BAR_SIZE ||
	    boff + blen > VPCI_BAR_SIZE)
		return;
	if (off >= c + 16) {
		v = pci_cfg_read32(d, c + 16);
		vpci_bar_write(vp, boff, &v, blen);
	}
}

/*
 * A read of pci_cfg_data reads the BAR at the window (4.1.4.8), with the
 * register's side effects (an ISR read clears it), at the time of the read.
 */
static void vpci_config_read(struct pci_dev *d, uint32_t off, unsigned int len)
{
	struct virtio_pci *vp = d->opaque;
	uint32_t c = vp->cfgcap, bar, boff, blen, v = 0;

	if (!c || off + len <= c + 16 || off >= c + 20)
		return;
	bar = pci_cfg_read32(d, c + 4) & 0xff;
	boff = pci_cfg_read32(d, c + 8);
	blen = pci_cfg_read32(d, c + 12);
	if (bar != VPCI_BAR || (blen != 1 && blen != 2 && blen != 4) || boff >= VPCI_BAR_SIZE ||
	    boff + blen > VPCI_BAR_SIZE)
		return;
	vpci_bar_read(vp, boff, &v, blen);
	pthread_mutex_lock(&d->cfg_lock);
	memcpy(&d->cfg[c + 16], &v, 4);
	pthread_mutex_unlock(&d->cfg_lock);
}

/* ---- setup --------------------------------------------------------------- */

static int add_vcap(struct pci_dev *d, uint8_t type, uint32_t off, uint32_t len, unsigned int extra,
		    const void *extra_data)
{
	uint8_t body[18] = { 0 };

	body[0] = (uint8_t)(16 + extra); /* cap_len */
	body[1] = type;
	body[2] = VPCI_BAR;
	memcpy(body + 6, &off, 4);
	memcpy(body + 10, &len, 4);
	if (extra)
		memcpy(body + 14, extra_data, extra);
	return pci_dev_add_cap(d, PCI_CAP_ID_VNDR, body, 16 + extra);
}

static int vpci_vm_reset(void *opaque)
{
	struct virtio_pci *vp = opaque;

	pthread_mutex_lock(&vp->vd->lock);
	virtio_dev_reset(vp->vd);
	vp->isr = 0;
	vp->queue_select = 0;
	pci_dev_set_intx(&vp->pci, 0);
	pthread_mutex_unlock(&vp->vd->lock);
	msix_reset(&vp->msix);
	return 0;
}

/* How long pause waits for requests in flight (a stuck disk fails the pause). */
#define VPCI_DRAIN_TIMEOUT_NS (10 * 1000000000ull)

static uint64_t vpci_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool vpci_busy(struct virtio_dev *vd)
{
	bool busy;

	pthread_mutex_lock(&vd->lock);
	busy = vd->ops->busy && vd->ops->busy(vd);
	pthread_mutex_unlock(&vd->lock);
	return busy;
}

/*
 * Component pause: the device takes no new request (kicks and the I/O
 * thread's poller are held off by vd->paused) and the requests in flight
 * complete, with their used-ring entries and interrupts, before this
 * returns.  After that nothing here changes guest-visible state until
 * resume.  Completions normally arrive on the event loop, which may be
 * the thread running this (an API handler) or paused: a block device's
 * are reaped here directly (the model's complete op, under vd->lock like
 * the loop's handler).  No lock is held while waiting.
 */
static int vpci_pause(void *opaque)
{
	struct virtio_pci *vp = opaque;
	struct virtio_dev *vd = vp->vd;
	uint64_t deadline = vpci_now_ns() + VPCI_DRAIN_TIMEOUT_NS;

	pthread_mutex_lock(&vd->lock);
	virtio_dev_set_paused(vd, true);
	pthread_mutex_unlock(&vd->lock);
	while (vpci_busy(vd)) {
		if (vd->ops->complete && vd->ops->complete(vd) > 0)
			continue;
		if (vpci_now_ns() > deadline) {
			log_warn("%s: requests still in flight after %llu s, cannot pause", vp->id,
				 VPCI_DRAIN_TIMEOUT_NS / 1000000000ull);
			pthread_mutex_lock(&vd->lock);
			virtio_dev_set_paused(vd, false);
			pthread_mutex_unlock(&vd->lock);
			return -ETIMEDOUT;
		}
		usleep(100);
	}
	return 0;
}

static int vpci_resume(void *opaque)
{
	struct virtio_pci *vp = opaque;

	pthread_mutex_lock(&vp->vd->lock);
	virtio_dev_set_paused(vp->vd, false);
	pthread_mutex_unlock(&vp->vd->lock);
	return 0;
}

static void vpci_cont(void *opaque)
{
	struct virtio_pci *vp = opaque;

	if (vp->vd->ops->cont)
		vp->vd->ops->cont(vp->vd);
}

static int vpci_disk_snapshot(void *opaque, enum component_disk_op op, const char *name,
			      struct error *err)
{
	struct virtio_pci *vp = opaque;

	if (!vp->vd->ops->disk_snapshot)
		return -ENODEV;
	return vp->vd->ops->disk_snapshot(vp->vd, op, name, err);
}

static void add_u64(struct json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_int64((int64_t)v));
}

/* Counters for GET /vm/stats: transport, queues, then the device model. */
static void vpci_vm_stats(void *opaque, struct json_object *obj)
{
	struct virtio_pci *vp = opaque;
	struct virtio_dev *vd = vp->vd;
	struct json_object *qs = json_object_new_array();
	uint64_t errors;

	pthread_mutex_lock(&vd->lock);
	errors = vd->guest_errors;
	add_u64(obj, "status", vd->status);
	add_u64(obj, "resets", vd->resets);
	add_u64(obj, "features", vd->driver_features);
	for (unsigned int i = 0; i < vd->nr_queues; i++) {
		struct virtq *vq = &vd->vqs[i];
		struct json_object *q = json_object_new_object();

		errors += vq->stats.guest_errors;
		add_u64(q, "size", vq->enabled ? vq->size : 0);
		add_u64(q, "popped", vq->stats.popped);
		add_u64(q, "pushed", vq->stats.pushed);
		add_u64(q, "interrupts", vq->stats.notifies);
		add_u64(q, "interrupts_suppressed", vq->stats.notifies_suppressed);
		add_u64(q, "stale_completions", vq->stats.stale_completions);
		add_u64(q, "guest_errors", vq->stats.guest_errors);
		json_object_array_add(qs, q);
	}
	json_object_object_add(obj, "queues", qs);
	add_u64(obj, "guest_errors", errors);
	add_u64(obj, "intx", vp->intx_raised);
	if (vd->ops->stats)
		vd->ops->stats(vd, obj);
	pthread_mutex_unlock(&vd->lock);
	pthread_mutex_lock(&vp->msix.lock);
	add_u64(obj, "msix_sent", vp->msix.sent);
	add_u64(obj, "msix_pended", vp->msix.pended);
	if (vd->tops && vd->tops->call_fd) {
		uint64_t bound = 0;

		/* Call eventfds KVM injects from, without the VMM. */
		for (unsigned int q = 0; q < vd->nr_queues; q++)
			bound += vp->calls[q].fd >= 0 && vp->calls[q].gsi >= 0;
		add_u64(obj, "irqfd_bound", bound);
		add_u64(obj, "irqfd_binds", vp->msix.irqfd_binds);
	}
	pthread_mutex_unlock(&vp->msix.lock);
}

static void vpci_vm_destroy(void *opaque)
{
	virtio_pci_destroy(opaque);
}

static const struct component_ops vpci_vm_ops = {
	.reset = vpci_vm_reset,
	.pause = vpci_pause,
	.resume = vpci_resume,
	.cont = vpci_cont,
	.save = vpci_state_save,
	.load = vpci_state_load,
	.stats = vpci_vm_stats,
	.disk_snapshot = vpci_disk_snapshot,
	.destroy = vpci_vm_destroy,
};

/* The component id prefix for a device type: "virtio-blk", "virtio-rng", ... */
static const char *vpci_id_prefix(uint16_t type)
{
	switch (type) {
	case VIRTIO_ID_NET:
		return "virtio-net";
	case VIRTIO_ID_BLOCK:
		return "virtio-blk";
	case VIRTIO_ID_CONSOLE:
		return "virtio-console";
	case VIRTIO_ID_RNG:
		return "virtio-rng";
	case VIRTIO_ID_BALLOON:
		return "virtio-balloon";
	default:
		return "virtio";
	}
}

int virtio_pci_create(struct dev_host *host, struct virtio_dev *vd, uint32_t class_code,
		      uint32_t cfg_size, struct virtio_pci **out)
{
	struct virtio_pci *vp;
	const uint8_t wm1[1] = { 0xff }, wm4[4] = { 0xff, 0xff, 0xff, 0xff };
	uint32_t mult = VPCI_NOTIFY_MULT, zero = 0;
	int ret;

	if (cfg_size > VPCI_DEVICE_MAX || !host->pci)
		return -EINVAL;
	vp = calloc(1, sizeof(*vp));
	if (!vp)
		return -ENOMEM;
	vp->vd = vd;
	vp->host = host;
	vp->vm_fd = host->vm_fd;
	vp->loop = host->loop;
	vp->cfg_size = cfg_size;
	vp->nr_vectors = vd->nr_queues + 1;
	vd->tops = &vpci_tops;
	vd->transport = vp;

	pci_dev_init(&vp->pci, vd->name, VIRTIO_PCI_VENDOR,
		     (uint16_t)(VIRTIO_PCI_DEVICE_BASE + vd->type), class_code, 1,
		     VIRTIO_PCI_VENDOR, (uint16_t)(0x40 + vd->type));
	vp->pci.opaque = vp;
	vp->pci.config_write = vpci_config_write;
	vp->pci.config_read = vpci_config_read;
	vp->pci.bar_moved = vpci_bar_moved;
	ret = pci_dev_add_bar(&vp->pci, VPCI_BAR, VPCI_BAR_SIZE, PCI_BAR_MEM64, &vpci_bar_ops, vp);
	if (ret < 0)
		goto fail;
	ret = msix_init(&vp->msix, &vp->pci, vp->nr_vectors, VPCI_BAR, VPCI_MSIX_TABLE_OFF,
			VPCI_MSIX_PBA_OFF, host->irq, host->vm_fd);
	if (ret < 0)
		goto fail;
	if ((ret = add_vcap(&vp->pci, VPCI_CAP_COMMON, VPCI_COMMON_OFF, VPCI_COMMON_LEN, 0, NULL)) <
		    0 ||
	    (ret = add_vcap(&vp->pci, VPCI_CAP_NOTIFY, VPCI_NOTIFY_OFF,
			    VPCI_NOTIFY_MULT * vd->nr_queues, 4, &mult)) < 0 ||
	    (ret = add_vcap(&vp->pci, VPCI_CAP_ISR, VPCI_ISR_OFF, 1, 0, NULL)) < 0 ||
	    (cfg_size &&
	     (ret = add_vcap(&vp->pci, VPCI_CAP_DEVICE, VPCI_DEVICE_OFF, cfg_size, 0, NULL)) < 0) ||
	    (ret = add_vcap(&vp->pci, VPCI_CAP_PCI_CFG, 0, 0, 4, &zero)) < 0)
		goto fail_msix;
	vp->cfgcap = (uint8_t)ret;
	pci_dev_set_wmask(&vp->pci, vp->cfgcap + 4, wm1, 1);
	pci_dev_set_wmask(&vp->pci, vp->cfgcap + 8, wm4, 4);
	pci_dev_set_wmask(&vp->pci, vp->cfgcap + 12, wm4, 4);
	pci_dev_set_wmask(&vp->pci, vp->cfgcap + 16, wm4, 4);

	vp->qfd = calloc(vd->nr_queues, sizeof(*vp->qfd));
	vp->calls = calloc(vd->nr_queues, sizeof(*vp->calls));
	if (!vp->qfd || !vp->calls) {
		ret = -ENOMEM;
		goto fail_fds;
	}
	for (unsigned int q = 0; q < vd->nr_queues; q++) {
		vp->calls[q].fd = -1;
		vp->calls[q].vector = -1;
		vp->calls[q].gsi = -1;
	}
	for (unsigned int q = 0; q < vd->nr_queues; q++) {
		vp->qfd[q].vp = vp;
		vp->qfd[q].q = q;
		vp->qfd[q].fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vp->qfd[q].fd < 0) {
			ret = -errno;
			goto fail_fds;
		}
		ret = evloop_add(dev_loop(vp), vp->qfd[q].fd, EPOLLIN, vpci_ioeventfd,
				 &vp->qfd[q]);
		if (ret < 0) {
			close(vp->qfd[q].fd);
			vp->qfd[q].fd = -1;
			goto fail_fds;
		}
	}
	/* Signals from vCPUs (DRIVER_OK, missed doorbells) go to that loop. */
	ret = dev_loop(vp) ? virtio_dev_bind_loop(vd, dev_loop(vp)) : 0;
	if (ret < 0)
		goto fail_fds;
	ret = pci_bus_add(host->pci, &vp->pci);
	if (ret < 0)
		goto fail_fds;
	if (vp->pci.bars[VPCI_BAR].mapped)
		ioeventfds_set(vp, vp->pci.bars[VPCI_BAR].addr);
	ret = components_unique_id(host->components, vpci_id_prefix(vd->type), vp->id,
				   sizeof(vp->id));
	if (!ret)
		ret = components_add(host->components, vp->id, &vpci_vm_ops, vp, NULL);
	if (ret < 0) {
		/* On the bus already: the VM tears it down with the bus. */
		log_err("%s: cannot register with the VM: %s", vd->name, strerror(-ret));
		return ret;
	}
	log_debug("%s: virtio-pci %02x.0, %u queues", vd->name, vp->pci.devfn >> 3, vd->nr_queues);
	if (out)
		*out = vp;
	return 0;

fail_fds:
	for (unsigned int q = 0; vp->qfd && q < vd->nr_queues; q++) {
		if (vp->qfd[q].fd > 0) {
			qfd_del(vp, vp->qfd[q].fd);
			close(vp->qfd[q].fd);
		}
	}
	free(vp->qfd);
	free(vp->calls);
fail_msix:
	msix_destroy(&vp->msix);
fail:
	vd->tops = NULL;
	vd->transport = NULL;
	free(vp);
	return ret;
}

void virtio_pci_destroy(struct virtio_pci *vp)
{
	struct virtio_dev *vd = vp->vd;

	/* Nothing may run on the device's I/O thread while we take it apart. */
	evloop_thread_stop(vd->ioloop);
	virtio_dev_unbind_loop(vd);
	ioeventfds_set(vp, 0);
	for (unsigned int q = 0; q < vd->nr_queues; q++) {
		if (vp->qfd[q].fd > 0) {
			qfd_del(vp, vp->qfd[q].fd);
			close(vp->qfd[q].fd);
		}
		if (vp->calls[q].fd >= 0)
			msix_irqfd_detach(&vp->msix, &vp->calls[q]);
	}
	free(vp->qfd);
	free(vp->calls);
	msix_destroy(&vp->msix);
	vd->tops = NULL;
	if (vd->ops->destroy)
		vd->ops->destroy(vd); /* frees vd with the device model */
	free(vp);
}
