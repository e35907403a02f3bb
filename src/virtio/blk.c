// SPDX-License-Identifier: MIT
/*
 * virtio-blk (virtio 1.2 section 5.2) on the asynchronous block layer.
 *
 * Each virtqueue has its own blk_queue (io_uring for raw images, a worker
 * thread for qcow2) whose completion eventfd sits on the disk's I/O thread
 * (an evloop of its own, docs/threads.md), with the doorbells.  A kick pops every available chain,
 * turns each into one blk_req and submits the batch with one blk_queue_kick(); completions write
 * the status byte, push the chain and interrupt the guest only when EVENT_IDX says it wants one.
 * Any number of requests (up to the queue size) are in flight at once.
 *
 * Requests that cannot be served get a status, never a crash: sectors
 * outside the disk, lengths that are not whole sectors and writes to a
 * read-only disk get VIRTIO_BLK_S_IOERR, unknown types VIRTIO_BLK_S_UNSUPP.
 * A chain with no room for the header or the status byte cannot be
 * answered at all: the device enters NEEDS_RESET.
 *
 * A request the image fails follows the disk's error policy (werror for
 * writes, flushes, discards and write zeroes; rerror for reads; devices.h):
 * report it, ignore it, or stop.  Stopping holds the request, takes no
 * new one from the rings, and asks the machine to pause the VM
 * (DEV_HOST_IO_ERROR, done on its event loop, not under our lock);
 * `vessel resume` (component cont) submits the held requests again on the
 * disk's I/O thread, which owns the block queue.  So a full host disk
 * pauses the guest instead of failing its writes, and frees nothing it
 * wrote.  Without a machine (vhost-user-blk) stop reports.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "block/block.h"
#include "bus/host.h"
#include "util/error.h"
#include "util/evloop.h"
#include "util/log.h"
#include "util/util.h"
#include "virtio/blk-int.h"
#include "virtio/devices.h"
#include "virtio/virtio.h"

/* Feature bits (section 5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types and status (section 5.2.6). */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_WZ_F_UNMAP 1

#define SECTOR 512ull
#define BLK_SIZE_MAX (1u << 20)	       /* size_max: largest segment */
#define DISCARD_MAX_SECTORS (1u << 22) /* 2 GiB per discard/write-zeroes */

struct blk_hdr {
	uint32_t type;
	uint32_t ioprio;
	uint64_t sector;
};

struct blk_dz_seg {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

static struct vblk_req *req_get(struct vblk_queue *bq)
{
	struct vblk_req *r = bq->free;

	if (r) {
		bq->free = r->next;
		return r;
	}
	/* Never more than queue-size chains are outstanding (section 2.7.13). */
	if (bq->allocated >= bq->blk->vd.vqs[bq->index].size)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->c = virtq_chain_alloc(CHAIN_CAP);
	if (!r->c) {
		free(r);
		return NULL;
	}
	r->bq = bq;
	r->all_next = bq->all;
	bq->all = r;
	bq->allocated++;
	return r;
}

void vblk_req_put(struct vblk_queue *bq, struct vblk_req *r)
{
	r->next = bq->free;
	bq->free = r;
}

/* Finish a request: status byte, used ring (interrupt decided by caller). */
void vblk_req_finish(struct vblk_queue *bq, struct vblk_req *r, uint8_t status)
{
	struct virtq *vq = &bq->blk->vd.vqs[bq->index];

	if (status == VIRTIO_BLK_S_IOERR)
		bq->blk->st.io_errors++;
	/* After a reset the buffers belong to nobody: touch nothing. */
	if (r->c->gen == vq->gen) {
		*r->status = status;
		virtq_push_chain(vq, r->c, status == VIRTIO_BLK_S_OK ? r->used_len : 1);
	} else {
		vq->stats.stale_completions++;
	}
	vblk_req_put(bq, r);
}

/*
 * Copy the part of src[] that starts `skip` bytes in and is `len` bytes
 * long into dst[]; returns the number of iovecs.
 */
static int iov_slice(const struct iovec *src, unsigned int n, uint64_t skip, uint64_t len,
		     struct iovec *dst)
{
	int k = 0;

	for (unsigned int i = 0; i < n && len; i++) {
		uint64_t l = src[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		l -= skip;
		if (l > len)
			l = len;
		dst[k].iov_base = (uint8_t *)src[i].iov_base + skip;
		dst[k].iov_len = l;
		k++;
		len -= l;
		skip = 0;
	}
	return k;
}

/* Sector range check without overflow: [sector, sector + nsec) on the disk. */
static bool range_ok(struct vblk *b, uint64_t sector, uint64_t bytes)
{
	if (bytes % SECTOR)
		return false;
	return sector <= b->sectors && bytes / SECTOR <= b->sectors - sector;
}

static void req_done(struct blk_req *br, int ret)
{
	struct vblk_req *r = br->opaque;
	struct vblk_queue *bq = r->bq;
	struct vblk *b = bq->blk;

	bq->inflight--;
	if (ret < 0) {
		enum blk_error_action a = r->br.op == BLK_OP_READ ? b->rerror : b->werror;

		if (a == BLK_ERR_ENOSPC)
			a = ret == -ENOSPC ? BLK_ERR_STOP : BLK_ERR_REPORT;
		/* a request from before a device reset is nobody's to keep */
		if (a == BLK_ERR_STOP && b->host && r->c->gen == b->vd.vqs[bq->index].gen) {
			vblk_req_hold(bq, r, ret);
			return;
		}
		if (a == BLK_ERR_IGNORE) {
			b->st.io_errors_ignored++;
			ret = 0;
		}
	}
	vblk_req_finish(bq, r, ret == 0 ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR);
}

/*
 * Decode one chain.  Returns 1 if the request went to the block layer,
 * 0 if it completed here (status written), -EIO if the chain cannot
 * carry a reply (queue broken).
 */
static int req_start(struct vblk_queue *bq, struct vblk_req *r)
{
	struct vblk *b = bq->blk;
	struct virtq *vq = &b->vd.vqs[bq->index];
	struct virtq_chain *c = r->c;
	struct iovec *last;
	struct blk_hdr h;
	struct blk_dz_seg seg;
	uint64_t data_in, data_out;
	uint8_t st = VIRTIO_BLK_S_OK;
	int ret;

	/* Section 5.2.6: header readable, status the last writable byte. */
	if (c->out_len < sizeof(h) || c->in_len < 1) {
		b->st.bad_requests++;
		virtq_fail(vq, "virtio-blk request without header or status byte");
		return -EIO;
	}
	virtq_chain_read(c, 0, &h, sizeof(h));
	h.type = le32toh(h.type);
	h.sector = le64toh(h.sector);
	last = &c->iov[c->nr_out + c->nr_in - 1];
	r->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	data_out = c->out_len - sizeof(h);
	data_in = c->in_len - 1;
	r->used_len = 1;
	memset(&r->br, 0, sizeof(r->br));
	r->br.done = req_done;
	r->br.opaque = r;

	switch (h.type) {
	case VIRTIO_BLK_T_IN:
		if (data_out || !range_ok(b, h.sector, data_in)) {
			st = VIRTIO_BLK_S_IOERR;
			break;
		}
		r->br.op = BLK_OP_READ;
		r->br.offset = h.sector * SECTOR;
		r->br.iovcnt = iov_slice(c->iov + c->nr_out, c->nr_in, 0, data_in, r->iov);
		r->used_len = (uint32_t)(data_in + 1);
		b->st.reads++;
		b->st.bytes_read += data_in;
		break;
	case VIRTIO_BLK_T_OUT:
		if (b->readonly || data_in || !range_ok(b, h.sector, data_out)) {
			st = VIRTIO_BLK_S_IOERR;
			break;
		}
		r->br.op = BLK_OP_WRITE;
		r->br.offset = h.sector * SECTOR;
		r->br.iovcnt = iov_slice(c->iov, c->nr_out, sizeof(h), data_out, r->iov);
		b->st.writes++;
		b->st.bytes_written += data_out;
		break;
	case VIRTIO_BLK_T_FLUSH:
		r->br.op = BLK_OP_FLUSH;
		b->st.flushes++;
		break;
	case VIRTIO_BLK_T_GET_ID: {
		uint64_t n = data_in < VIRTIO_BLK_ID_BYTES ? data_in : VIRTIO_BLK_ID_BYTES;

		virtq_chain_write(c, 0, b->serial, n);
		r->used_len = (uint32_t)(n + 1);
		b->st.get_ids++;
		break;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES: {
		bool wz = h.type == VIRTIO_BLK_T_WRITE_ZEROES;
		unsigned int feat = wz ? VIRTIO_BLK_F_WRITE_ZEROES : VIRTIO_BLK_F_DISCARD;

		if (!virtio_has_feature(&b->vd, feat)) {
			st = VIRTIO_BLK_S_UNSUPP;
			break;
		}
		/* One segment per request (max_discard_seg = 1). */
		if (b->readonly || data_out != sizeof(seg)) {
			st = VIRTIO_BLK_S_IOERR;
			break;
		}
		virtq_chain_read(c, sizeof(h), &seg, sizeof(seg));
		seg.sector = le64toh(seg.sector);
		seg.num_sectors = le32toh(seg.num_sectors);
		seg.flags = le32toh(seg.flags);
		/* Section 5.2.6.2: unmap on discard, unknown flags: UNSUPP. */
		if ((seg.flags & ~(uint32_t)VIRTIO_BLK_WZ_F_UNMAP) ||
		    (!wz && (seg.flags & VIRTIO_BLK_WZ_F_UNMAP))) {
			st = VIRTIO_BLK_S_UNSUPP;
			break;
		}
		if (seg.num_sectors > DISCARD_MAX_SECTORS ||
		    !range_ok(b, seg.sector, seg.num_sectors * SECTOR)) {
			st = VIRTIO_BLK_S_IOERR;
			break;
		}
		r->br.op = wz ? BLK_OP_WRITE_ZEROES : BLK_OP_DISCARD;
		r->br.offset = seg.sector * SECTOR;
		r->br.len = seg.num_sectors * SECTOR;
		if (wz && (seg.flags & VIRTIO_BLK_WZ_F_UNMAP))
			r->br.flags |= BLK_REQ_MAY_UNMAP;
		if (wz)
			b->st.write_zeroes++;
		else
			b->st.discards++;
		break;
	}
	default:
		b->st.unsupported++;
		st = VIRTIO_BLK_S_UNSUPP;
		break;
	}
	if (st != VIRTIO_BLK_S_OK || h.type == VIRTIO_BLK_T_GET_ID)
		goto now;
	if ((r->br.op == BLK_OP_READ || r->br.op == BLK_OP_WRITE) && r->br.iovcnt == 0)
		goto now; /* zero-length transfer: nothing to do */
	r->br.iov = r->iov;
	ret = blk_submit(bq->q, &r->br);
	if (ret == 0) {
		bq->inflight++;
		return 1;
	}
	st = ret == -ENOTSUP ? VIRTIO_BLK_S_UNSUPP : VIRTIO_BLK_S_IOERR;
now:
	vblk_req_finish(bq, r, st);
	return 0;
}

/*
 * Pop and start everything available; section 2.7.13 with EVENT_IDX.
 * While the I/O thread polls, notifications stay off (avail_event is not
 * advanced), so the guest does not kick.  Returns true if it popped any.
 */
bool vblk_queue_process(struct vblk_queue *bq)
{
	struct vblk *b = bq->blk;
	struct virtq *vq = &b->vd.vqs[bq->index];
	bool submitted = false, finished = false;

	/* Paused (vm_quiesce), or stopped on an error: no new request is taken. */
	if (b->vd.paused || b->io_stopped)
		return false;
	bq->starved = false;
	if (b->polling && !vq->event_idx)
		virtq_disable_notify(vq);
	for (;;) {
		virtq_disable_notify(vq);
		for (;;) {
			struct vblk_req *r = req_get(bq);
			int ret;

			if (!r) {
				bq->starved = true;
				break;
			}
			ret = virtq_pop(vq, r->c);
			if (ret <= 0) {
				vblk_req_put(bq, r);
				break;
			}
			if (req_start(bq, r) > 0)
				submitted = true;
			else
				finished = true;
		}
		if (bq->starved || vq->broken || b->polling || !virtq_enable_notify(vq))
			break;
	}
	if (submitted)
		blk_queue_kick(bq->q);
	if (finished)
		virtio_dev_notify(&b->vd, vq);
	return submitted || finished;
}

static void blk_notify(struct virtio_dev *vd, unsigned int q)
{
	struct vblk *b = to_vblk(vd);

	if (q < b->nr_queues)
		vblk_queue_process(&b->qs[q]);
}

static int queue_complete(struct vblk_queue *bq)
{
	struct virtio_dev *vd = &bq->blk->vd;
	int n = blk_queue_complete(bq->q);

	if (n > 0 && virtio_dev_active(vd)) {
		virtio_dev_notify(vd, &vd->vqs[bq->index]);
		if (bq->starved)
			vblk_queue_process(bq);
	}
	return n;
}

/*
 * The I/O thread's poller: reap completions and take new requests without
 * waiting for eventfds.  With polling=false (the window closes) it turns
 * notifications back on, and what raced in is processed here.
 */
static bool blk_poll(void *opaque, bool polling)
{
	struct vblk *b = opaque;
	bool progress = false;

	pthread_mutex_lock(&b->vd.lock);
	b->polling = polling;
	if (virtio_dev_active(&b->vd)) {
		for (unsigned int i = 0; i < b->nr_queues; i++) {
			struct vblk_queue *bq = &b->qs[i];
			struct virtq *vq = &b->vd.vqs[i];

			if (bq->inflight && queue_complete(bq) > 0)
				progress = true;
			if (!vq->enabled)
				continue;
			if (!polling || virtq_has_avail(vq))
				progress |= vblk_queue_process(bq);
		}
	}
	pthread_mutex_unlock(&b->vd.lock);
	return progress;
}

static void blk_completion_fd(void *opaque, uint32_t events)
{
	struct vblk_queue *bq = opaque;

	pthread_mutex_lock(&bq->blk->vd.lock);
	queue_complete(bq);
	pthread_mutex_unlock(&bq->blk->vd.lock);
}

int virtio_blk_poll(struct virtio_dev *vd)
{
	struct vblk *b = to_vblk(vd);
	int n = 0;

	pthread_mutex_lock(&vd->lock);
	for (unsigned int i = 0; i < b->nr_queues; i++)
		n += queue_complete(&b->qs[i]);
	pthread_mutex_unlock(&vd->lock);
	return n;
}

int virtio_blk_queue_fd(struct virtio_dev *vd, unsigned int q)
{
	struct vblk *b = to_vblk(vd);

	return q < b->nr_queues ? b->qs[q].fd : -EINVAL;
}

static void blk_config_read(struct virtio_dev *vd, uint32_t off, void *data, unsigned int len)
{
	struct vblk *b = to_vblk(vd);

	if (off + len <= sizeof(b->cfg))
		memcpy(data, b->cfg + off, len);
}

static void blk_config_write(struct virtio_dev *vd, uint32_t off, const void *data,
			     unsigned int len)
{
	/* writeback (CONFIG_WCE) is not offered: the config is read-only. */
	virtio_dev_guest_error(vd, "write to read-only virtio-blk config at %#x", off);
}

static bool blk_busy(struct virtio_dev *vd)
{
	struct vblk *b = to_vblk(vd);

	for (unsigned int i = 0; i < b->nr_queues; i++)
		if (b->qs[i].inflight)
			return true;
	return false;
}

static void blk_reset(struct virtio_dev *vd)
{
	struct vblk *b = to_vblk(vd);

	/*
	 * Requests still in the block layer keep their vblk_req; their
	 * completion sees a stale generation and touches no guest memory.
	 */
	for (unsigned int i = 0; i < b->nr_queues; i++) {
		b->qs[i].starved = false;
		vblk_drop_held(&b->qs[i]);
	}
	b->io_stopped = false;
}

static void blk_destroy(struct virtio_dev *vd)
{
	struct vblk *b = to_vblk(vd);

	/* Nothing runs on the I/O thread from here on. */
	evloop_thread_stop(b->ioloop);
	for (unsigned int i = 0; i < b->nr_queues; i++) {
		struct vblk_queue *bq = &b->qs[i];

		if (bq->q) {
			if (b->ioloop)
				evloop_del(b->ioloop, bq->fd);
			/* Bump every queue's generation: done() touches nothing. */
			virtq_reset(&vd->vqs[i]);
			blk_queue_destroy(bq->q);
		}
		while (bq->all) {
			struct vblk_req *r = bq->all;

			bq->all = r->all_next;
			virtq_chain_free(r->c);
			free(r);
		}
	}
	free(b->qs);
	blk_close(b->bd);
	virtio_dev_unbind_loop(vd);
	evloop_destroy(b->ioloop);
	virtio_dev_destroy(vd);
	free(b);
}

static void blk_stats(struct virtio_dev *vd, struct json_object *obj)
{
	struct vblk *b = to_vblk(vd);
	const struct {
		const char *k;
		uint64_t v;
	} c[] = {
		{ "reads", b->st.reads },
		{ "writes", b->st.writes },
		{ "flushes", b->st.flushes },
		{ "discards", b->st.discards },
		{ "write_zeroes", b->st.write_zeroes },
		{ "get_ids", b->st.get_ids },
		{ "bytes_read", b->st.bytes_read },
		{ "bytes_written", b->st.bytes_written },
		{ "io_errors", b->st.io_errors },
		{ "io_errors_ignored", b->st.io_errors_ignored },
		{ "io_error_stops", b->st.io_error_stops },
		{ "retried", b->st.retried },
		{ "unsupported", b->st.unsupported },
		{ "bad_requests", b->st.bad_requests },
	};
	uint64_t inflight = 0;

	for (unsigned int i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		json_object_object_add(obj, c[i].k, json_object_new_int64((int64_t)c[i].v));
	for (unsigned int i = 0; i < b->nr_queues; i++)
		inflight += b->qs[i].inflight;
	json_object_object_add(obj, "inflight", json_object_new_int64((int64_t)inflight));
	json_object_object_add(obj, "capacity_sectors", json_object_new_int64((int64_t)b->sectors));
	json_object_object_add(obj, "readonly", json_object_new_boolean(b->readonly));
}

/*
 * Nothing of the model travels: requests in flight were drained by the
 * pause, and the rest is configuration.  Requests held after an I/O
 * error (werror/rerror=stop) wait for a resume that a restored VM could
 * not give them: refuse, the caller names the device.
 */
static int blk_save(struct virtio_dev *vd, void *buf, size_t *len)
{
	struct vblk *b = to_vblk(vd);

	for (unsigned int i = 0; i < b->nr_queues; i++)
		if (b->qs[i].held || b->qs[i].inflight)
			return -EBUSY;
	*len = 0;
	return 0;
}

static const struct virtio_dev_ops blk_ops = {
	.save = blk_save,
	.stats = blk_stats,
	.config_read = blk_config_read,
	.config_write = blk_config_write,
	.notify = blk_notify,
	.reset = blk_reset,
	.busy = blk_busy,
	.cont = vblk_cont,
	.disk_snapshot = vblk_disk_snapshot,
	.complete = virtio_blk_poll,
	.destroy = blk_destroy,
};

/*
 * How long the I/O thread polls after work, in ns.  Busy polling only
 * pays when the host has CPUs to spare: on hosts with fewer than four
 * online CPUs it steals them from the vCPUs and the kernel's I/O
 * workers (measured: random reads drop by half at 128 us), so it is off
 * there by default.  VESSEL_BLK_POLL_US overrides (0 turns it off).
 */
static uint64_t blk_poll_ns(const struct vm_disk_config *dc)
{
	const char *e = getenv("VESSEL_BLK_POLL_US");
	uint64_t us = sysconf(_SC_NPROCESSORS_ONLN) >= 4 ? 32 : 0;

	if (dc->has_poll)
		return (uint64_t)dc->poll_us * 1000;	/* the disk's poll_us wins */
	if (e && parse_u64(e, 1000000, &us) < 0)
		us = 32;
	return us * 1000;
}

static void fill_config(struct vblk *b)
{
	uint64_t cap = htole64(b->sectors);
	uint32_t v32;
	uint16_t v16;

	memcpy(b->cfg + 0, &cap, 8);
	v32 = htole32(BLK_SIZE_MAX);
	memcpy(b->cfg + 8, &v32, 4); /* size_max */
	v32 = htole32(VIRTIO_BLK_SEG_MAX);
	memcpy(b->cfg + 12, &v32, 4); /* seg_max */
	v32 = htole32(512);
	memcpy(b->cfg + 20, &v32, 4); /* blk_size */
	v16 = htole16((uint16_t)b->nr_queues);
	memcpy(b->cfg + 34, &v16, 2); /* num_queues */
	v32 = htole32(DISCARD_MAX_SECTORS);
	memcpy(b->cfg + 36, &v32, 4); /* max_discard_sectors */
	v32 = htole32(1);
	memcpy(b->cfg + 40, &v32, 4); /* max_discard_seg */
	v32 = htole32(8);
	memcpy(b->cfg + 44, &v32, 4); /* discard_sector_alignment */
	v32 = htole32(DISCARD_MAX_SECTORS);
	memcpy(b->cfg + 48, &v32, 4); /* max_write_zeroes_sectors */
	v32 = htole32(1);
	memcpy(b->cfg + 52, &v32, 4); /* max_write_zeroes_seg */
	b->cfg[56] = 1;		      /* write_zeroes_may_unmap */
}

int virtio_blk_new(const struct vm_disk_config *dc, unsigned int index, struct gmem *mem,
		   struct evloop *loop, struct virtio_dev **out, struct error *err)
{
	struct blk_open_opts o = { .format = dc->format,
				   .readonly = dc->readonly,
				   .direct = dc->direct,
				   .forbid_backing = dc->no_backing };
	unsigned int nq = dc->num_queues ? dc->num_queues : 1;
	uint64_t features;
	char name[16];
	struct vblk *b;
	int ret;

	if (nq > VIRTIO_MAX_QUEUES)
		return error_setf(err, -EINVAL, "disk %s: queues=%u is more than %u", dc->path, nq,
				  VIRTIO_MAX_QUEUES);
	b = calloc(1, sizeof(*b));
	if (!b)
		return error_setf(err, -ENOMEM, "disk %s: out of memory", dc->path);
	/* blk_open()'s message names the file and what is wrong with it. */
	ret = blk_open(dc->path, &o, &b->bd, err);
	if (ret < 0) {
		free(b);
		return ret;
	}
	b->loop = loop;
	b->readonly = dc->readonly || blk_readonly(b->bd);
	b->werror = virtio_blk_error_action(dc, true);
	b->rerror = virtio_blk_error_action(dc, false);
	snprintf(b->path, sizeof(b->path), "%s", dc->path);
	b->sectors = blk_size(b->bd) / SECTOR;
	b->nr_queues = nq;
	if (dc->serial)
		memcpy(b->serial, dc->serial, strnlen(dc->serial, sizeof(b->serial)));
	else
		snprintf(b->serial, sizeof(b->serial), "vessel-disk%u", index);

	features = (1ull << VIRTIO_BLK_F_SIZE_MAX) | (1ull << VIRTIO_BLK_F_SEG_MAX) |
		   (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_FLUSH);
	if (nq > 1)
		features |= 1ull << VIRTIO_BLK_F_MQ;
	if (b->readonly)
		features |= 1ull << VIRTIO_BLK_F_RO;
	else
		features |= (1ull << VIRTIO_BLK_F_DISCARD) | (1ull << VIRTIO_BLK_F_WRITE_ZEROES);
	snprintf(name, sizeof(name), "blk%u", index);
	ret = virtio_dev_init(&b->vd, name, VIRTIO_ID_BLOCK, &blk_ops, b, nq, VIRTIO_BLK_QUEUE_SIZE,
			      features, mem, loop);
	if (ret < 0)
		goto fail_close;
	fill_config(b);
	b->qs = calloc(nq, sizeof(*b->qs));
	if (!b->qs) {
		ret = -ENOMEM;
		goto fail_vd;
	}
	/*
	 * With an event loop (a VM, the vhost-user backend) the disk gets a
	 * thread of its own: doorbells, kicks, completions and the adaptive
	 * poller all run there (docs/threads.md).
	 */
	if (loop) {
		ret = evloop_create(&b->ioloop);
		if (ret < 0)
			goto fail_queues;
		evloop_set_poller(b->ioloop, blk_poll_ns(dc), blk_poll, b);
		b->vd.ioloop = b->ioloop;
		ret = virtio_dev_bind_loop(&b->vd, b->ioloop);
		if (ret < 0)
			goto fail_queues;
	}
	for (unsigned int i = 0; i < nq; i++) {
		struct vblk_queue *bq = &b->qs[i];

		bq->blk = b;
		bq->index = i;
		bq->held_tail = &bq->held;
		ret = blk_queue_create(b->bd, VIRTIO_BLK_QUEUE_SIZE, &bq->q, err);
		if (ret < 0)
			goto fail_queues;
		bq->fd = blk_queue_fd(bq->q);
		if (loop) {
			ret = evloop_add(b->ioloop, bq->fd, EPOLLIN, blk_completion_fd, bq);
			if (ret < 0) {
				blk_queue_destroy(bq->q);
				bq->q = NULL;
				goto fail_queues;
			}
		}
	}
	if (b->ioloop) {
		ret = evloop_thread_start(b->ioloop, name, THREAD_IOTHREAD);
		if (ret < 0)
			goto fail_queues;
	}
	*out = &b->vd;
	return 0;

fail_queues:
	virtio_dev_unbind_loop(&b->vd);
	evloop_destroy(b->ioloop); /* the thread never started */
	for (unsigned int i = 0; i < nq; i++) {
		if (b->qs[i].q)
			blk_queue_destroy(b->qs[i].q);
	}
	free(b->qs);
fail_vd:
	virtio_dev_destroy(&b->vd);
fail_close:
	error_set_errno(err, ret, "disk %s", dc->path);
	blk_close(b->bd);
	free(b);
	return ret;
}
