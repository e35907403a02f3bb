// SPDX-License-Identifier: MIT
/*
 * Split virtqueue, device side (virtio 1.2 section 2.7).  See virtq.h for
 * the contract; the comments here explain the checks.
 */
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem/gmem.h"
#include "virtio/virtq.h"

/* Offsets inside the avail and used rings (section 2.7.6, 2.7.8). */
#define AVAIL_FLAGS 0
#define AVAIL_IDX 1
#define AVAIL_RING 2
#define USED_FLAGS 0
#define USED_IDX 2
#define USED_RING 4

static inline uint16_t load16_acquire(const uint16_t *p)
{
	return le16toh(__atomic_load_n(p, __ATOMIC_ACQUIRE));
}

static inline uint16_t load16(const uint16_t *p)
{
	return le16toh(__atomic_load_n(p, __ATOMIC_RELAXED));
}

static inline void store16_release(void *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)p, htole16(v), __ATOMIC_RELEASE);
}

static inline uint16_t *used_avail_event(struct virtq *vq)
{
	return (uint16_t *)(vq->used + USED_RING + 8u * vq->size);
}

void virtq_init(struct virtq *vq, struct gmem *mem, uint16_t index, uint16_t max_size,
		const char *name, struct ratelimit *rl)
{
	memset(vq, 0, sizeof(*vq));
	vq->mem = mem;
	vq->index = index;
	vq->max_size = max_size;
	vq->size = max_size;
	vq->msix_vector = 0xffff;
	vq->name = name;
	vq->rl = rl;
}

void virtq_fail(struct virtq *vq, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vq->stats.guest_errors++;
	if (vq->rl)
		log_guest_err(vq->rl, "%s: guest error: %s; queue needs reset",
			      vq->name ? vq->name : "virtq", msg);
	if (vq->broken)
		return;
	vq->broken = true;
	if (vq->on_error)
		vq->on_error(vq->opaque, vq);
}

int virtq_enable(struct virtq *vq, bool event_idx, bool indirect)
{
	uint16_t size = vq->size;
	void *desc, *avail, *used;

	/* Section 2.7: a power of two, at most what the device offered. */
	if (size == 0 || size > vq->max_size || (size & (size - 1)))
		return -EINVAL;
	/* Section 2.7, table "Virtqueue Part Alignment". */
	if ((vq->desc_gpa & 15) || (vq->avail_gpa & 1) || (vq->used_gpa & 3))
		return -EINVAL;
	/* The ring sizes include used_event / avail_event (section 2.7.10). */
	desc = gmem_ptr(vq->mem, vq->desc_gpa, virtq_desc_bytes(size));
	avail = gmem_ptr(vq->mem, vq->avail_gpa, virtq_avail_bytes(size));
	used = gmem_ptr(vq->mem, vq->used_gpa, virtq_used_bytes(size));
	if (!desc || !avail || !used)
		return -EINVAL;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->event_idx = event_idx;
	vq->indirect = indirect;
	vq->last_avail = 0;
	vq->used_idx = 0;
	vq->signalled_used = 0;
	vq->signalled_used_valid = false;
	vq->broken = false;
	vq->enabled = true;
	return 0;
}

void virtq_reset(struct virtq *vq)
{
	vq->enabled = false;
	vq->broken = false;
	vq->size = vq->max_size;
	vq->msix_vector = 0xffff;
	vq->desc_gpa = vq->avail_gpa = vq->used_gpa = 0;
	vq->desc = NULL;
	vq->avail = NULL;
	vq->used = NULL;
	vq->last_avail = vq->used_idx = vq->signalled_used = 0;
	vq->signalled_used_valid = false;
	vq->event_idx = vq->indirect = false;
	vq->gen++;
}

struct virtq_chain *virtq_chain_alloc(uint16_t cap)
{
	struct virtq_chain *c;

	if (cap == 0)
		return NULL;
	c = calloc(1, sizeof(*c) + (size_t)cap * (sizeof(struct iovec) + sizeof(uint64_t)));
	if (!c)
		return NULL;
	c->cap = cap;
	c->iov = (struct iovec *)(c + 1);
	c->gpa = (uint64_t *)(c->iov + cap);
	return c;
}

void virtq_chain_free(struct virtq_chain *c)
{
	free(c);
}

bool virtq_has_avail(struct virtq *vq)
{
	if (!vq->enabled || vq->broken)
		return false;
	return load16_acquire(&vq->avail[AVAIL_IDX]) != vq->last_avail;
}

/*
 * Walk the chain starting at `head` and fill c.  Returns NULL on success
 * or a static description of the first violation found.  Each descriptor
 * is copied out of guest memory once (the guest may rewrite the table
 * under us; we only ever look at our copy).
 */
static const char *walk_chain(struct virtq *vq, uint16_t head, struct virtq_chain *c)
{
	const uint8_t *table = (const uint8_t *)vq->desc;
	uint32_t tsize = vq->size, count = 0, i = head;
	bool in_indirect = false;
	struct virtq_desc d;

	c->nr_out = c->nr_in = 0;
	c->out_len = c->in_len = 0;
	for (;;) {
		unsigned int n;
		void *p;

		if (i >= tsize)
			return in_indirect ? "indirect next index out of range"
					   : "descriptor index out of range";
		/*
		 * A chain visits at most `size` descriptors (section
		 * 2.7.5.3.1 / 2.7.13.3.1); more means a loop.
		 */
		if (++count > tsize || count > vq->size)
			return "descriptor loop or chain longer than queue size";
		memcpy(&d, table + 16u * i, sizeof(d));
		d.addr = le64toh(d.addr);
		d.len = le32toh(d.len);
		d.flags = le16toh(d.flags);
		d.next = le16toh(d.next);

		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			/* Section 2.7.5.3: feature, no nesting, not with NEXT. */
			if (!vq->indirect)
				return "indirect descriptor without VIRTIO_F_INDIRECT_DESC";
			if (in_indirect)
				return "nested indirect descriptor";
			if (d.flags & VIRTQ_DESC_F_NEXT)
				return "indirect descriptor with F_NEXT";
			/*
			 * vessel takes an indirect table only as the whole
			 * chain (what every driver does), so no descriptor
			 * is mixed in before it.
			 */
			if (count != 1)
				return "indirect descriptor not at chain head";
			if (d.len == 0 || (d.len & 15) || d.len / 16 > VIRTQ_MAX_SIZE)
				return "bad indirect table length";
			table = gmem_ptr(vq->mem, d.addr, d.len);
			if (!table)
				return "indirect table outside guest RAM";
			tsize = d.len / 16;
			in_indirect = true;
			count = 0;
			i = 0;
			continue;
		}
		if (d.len) {
			bool wr = d.flags & VIRTQ_DESC_F_WRITE;

			/* Section 2.7.4.2: readable parts come first. */
			if (!wr && c->nr_in)
				return "device-readable descriptor after a writable one";
			n = c->nr_out + c->nr_in;
			if (n >= c->cap)
				return "chain has more buffers than the device accepts";
			p = gmem_ptr(vq->mem, d.addr, d.len);
			if (!p)
				return "buffer outside guest RAM";
			c->iov[n].iov_base = p;
			c->iov[n].iov_len = d.len;
			c->gpa[n] = d.addr;
			if (wr) {
				c->nr_in++;
				c->in_len += d.len;
			} else {
				c->nr_out++;
				c->out_len += d.len;
			}
		}
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		i = d.next;
	}
	if (c->out_len + c->in_len == 0)
		return "chain carries no buffer";
	return NULL;
}

int virtq_pop(struct virtq *vq, struct virtq_chain *c)
{
	uint16_t avail_idx, head, pending;
	const char *why;

	if (!vq->enabled || vq->broken)
		return 0;
	/* Acquire: ring entries and descriptors are read after idx. */
	avail_idx = load16_acquire(&vq->avail[AVAIL_IDX]);
	pending = (uint16_t)(avail_idx - vq->last_avail);
	if (pending == 0)
		return 0;
	/* Section 2.7.13.3: at most `size` buffers can be outstanding. */
	if (pending > vq->size) {
		virtq_fail(vq, "avail idx moved from %u to %u (queue size %u)", vq->last_avail,
			   avail_idx, vq->size);
		return -EIO;
	}
	head = load16(&vq->avail[AVAIL_RING + (vq->last_avail & (vq->size - 1))]);
	if (head >= vq->size) {
		virtq_fail(vq, "avail ring head %u out of range (queue size %u)", head, vq->size);
		return -EIO;
	}
	why = walk_chain(vq, head, c);
	if (why) {
		virtq_fail(vq, "chain at head %u: %s", head, why);
		return -EIO;
	}
	c->head = head;
	c->gen = vq->gen;
	vq->last_avail++;
	vq->stats.popped++;
	return 1;
}

/* Write used element (head, written) `idx` entries past used_idx; not published. */
static void used_put(struct virtq *vq, uint16_t idx, uint16_t head, uint32_t written)
{
	uint16_t slot = (uint16_t)(vq->used_idx + idx) & (vq->size - 1);
	uint8_t *e = vq->used + USED_RING + 8u * slot;
	uint32_t v;

	v = htole32(head);
	memcpy(e, &v, 4);
	v = htole32(written);
	memcpy(e + 4, &v, 4);
	if (gmem_dirty_tracking(vq->mem))
		gmem_mark_dirty(vq->mem, vq->used_gpa + USED_RING + 8u * slot, 8);
}

/*
 * Entries we may still fill: chains popped and not yet flushed.  Filling
 * more would overwrite used entries the driver has not consumed (section
 * 2.7.8: the used ring holds at most `size` entries).
 */
static uint16_t in_flight(const struct virtq *vq)
{
	return (uint16_t)(vq->last_avail - vq->used_idx);
}

int virtq_fill(struct virtq *vq, const struct virtq_chain *c, uint32_t written, uint16_t idx)
{
	if (c->gen != vq->gen) {
		/* Popped before a reset: the guest forgot this buffer. */
		vq->stats.stale_completions++;
		return -ESTALE;
	}
	if (!vq->enabled || vq->broken)
		return -EIO;
	if (idx >= in_flight(vq))
		return -EINVAL;
	if (written > c->in_len)
		written = (uint32_t)c->in_len;
	/*
	 * Every device-writable buffer, not the first `written` bytes:
	 * `written` is what the driver may read (2.7.8.2), not where the
	 * device wrote.  virtio-blk's status byte sits after data it may
	 * not have written (5.2.6), a failed read writes the status alone.
	 * Marking too much costs a page in a save; too little loses data.
	 */
	if (gmem_dirty_tracking(vq->mem))
		for (unsigned int i = c->nr_out; i < c->nr_out + c->nr_in; i++)
			gmem_mark_dirty(vq->mem, c->gpa[i], c->iov[i].iov_len);
	used_put(vq, idx, c->head, written);
	return 0;
}

int virtq_flush(struct virtq *vq, uint16_t n)
{
	if (!vq->enabled || vq->broken)
		return -EIO;
	if (n > in_flight(vq))
		return -EINVAL;
	if (!n)
		return 0;
	vq->used_idx = (uint16_t)(vq->used_idx + n);
	/* Release: the entries are visible before the index that publishes them. */
	store16_release(vq->used + USED_IDX, vq->used_idx);
	if (gmem_dirty_tracking(vq->mem))
		gmem_mark_dirty(vq->mem, vq->used_gpa + USED_IDX, 2);
	vq->stats.pushed += n;
	return 0;
}

int virtq_push(struct virtq *vq, uint16_t head, uint32_t written)
{
	if (!vq->enabled || vq->broken)
		return -EIO;
	if (!in_flight(vq))
		return -EINVAL;
	used_put(vq, 0, head, written);
	return virtq_flush(vq, 1);
}

int virtq_push_chain(struct virtq *vq, const struct virtq_chain *c, uint32_t written)
{
	int ret = virtq_fill(vq, c, written, 0);

	return ret ? ret : virtq_flush(vq, 1);
}

int virtq_rewind(struct virtq *vq, uint16_t n)
{
	if (!vq->enabled || vq->broken)
		return -EIO;
	if (n > in_flight(vq))
		return -EINVAL;
	vq->last_avail = (uint16_t)(vq->last_avail - n);
	vq->stats.popped -= n;
	return 0;
}

int virtq_restore(struct virtq *vq, uint16_t last_avail, uint16_t used_idx)
{
	uint16_t avail_idx;

	if (!vq->enabled)
		return -EINVAL;
	/*
	 * Section 2.7.13.3 / 2.7.8: the driver has at most `size` buffers
	 * available that we have not taken, and we hold at most `size`
	 * taken buffers that are not used yet.  Anything else cannot come
	 * from a ring this size: refuse it here rather than break the queue
	 * at its first pop or overwrite unconsumed used entries later.
	 */
	avail_idx = load16_acquire(&vq->avail[AVAIL_IDX]);
	if ((uint16_t)(avail_idx - last_avail) > vq->size ||
	    (uint16_t)(last_avail - used_idx) > vq->size)
		return -EINVAL;
	vq->last_avail = last_avail;
	vq->used_idx = used_idx;
	/* Nothing was signalled on this ring yet: the next decision notifies. */
	vq->signalled_used = used_idx;
	vq->signalled_used_valid = false;
	vq->broken = false;
	return 0;
}

void virtq_restore_signalled(struct virtq *vq, uint16_t signalled_used, bool valid)
{
	vq->signalled_used = signalled_used;
	vq->signalled_used_valid = valid;
}

uint16_t virtq_used_idx_in_ring(const struct virtq *vq)
{
	if (!vq->enabled)
		return 0;
	return load16_acquire((const uint16_t *)(vq->used + USED_IDX));
}

bool virtq_should_notify(struct virtq *vq)
{
	uint16_t old, event;
	bool valid, need;

	if (!vq->enabled)
		return false;
	/*
	 * Full barrier: our used idx store must be visible before we read
	 * the driver's used_event / flags, or both sides may sleep (section
	 * 2.7.10, the same pairing as the driver's kick decision).
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	old = vq->signalled_used;
	valid = vq->signalled_used_valid;
	vq->signalled_used = vq->used_idx;
	vq->signalled_used_valid = true;
	if (valid && old == vq->used_idx)
		need = false;
	else if (!vq->event_idx)
		need = !(load16(&vq->avail[AVAIL_FLAGS]) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	else if (!valid)
		need = true;
	else {
		event = load16(&vq->avail[AVAIL_RING + vq->size]);
		need = virtq_need_event(event, vq->used_idx, old);
	}
	if (need)
		vq->stats.notifies++;
	else
		vq->stats.notifies_suppressed++;
	return need;
}

void virtq_disable_notify(struct virtq *vq)
{
	if (!vq->enabled || vq->event_idx)
		return;
	store16_release(vq->used + USED_FLAGS, VIRTQ_USED_F_NO_NOTIFY);
}

bool virtq_enable_notify(struct virtq *vq)
{
	return virtq_enable_notify_after(vq, 0);
}

bool virtq_enable_notify_after(struct virtq *vq, uint16_t seen)
{
	uint16_t avail_idx, pending;

	if (!vq->enabled || vq->broken)
		return false;
	if (vq->event_idx) {
		/* Kick us when the driver makes entry last_avail + seen available. */
		store16_release(used_avail_event(vq), (uint16_t)(vq->last_avail + seen));
		if (gmem_dirty_tracking(vq->mem))
			gmem_mark_dirty(vq->mem, vq->used_gpa + USED_RING + 8u * vq->size, 2);
	} else {
		store16_release(vq->used + USED_FLAGS, 0);
	}
	/* Publish before re-reading avail idx; pairs with the driver's mb. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	avail_idx = load16_acquire(&vq->avail[AVAIL_IDX]);
	pending = (uint16_t)(avail_idx - vq->last_avail);
	/*
	 * An index virtq_pop() would refuse is an error here already: with
	 * the avail ring laid over the used ring, the flag written above and
	 * the one virtq_disable_notify() writes move the index back and
	 * forth, every pop sees nothing and every re-check sees "more", and
	 * the caller's drain loop would never end (the avail_over_used_flags
	 * seeds of fuzz_mmio and fuzz_virtio_rng).
	 */
	if (pending > vq->size) {
		virtq_fail(vq, "avail idx moved from %u to %u (queue size %u)", vq->last_avail,
			   avail_idx, vq->size);
		return false;
	}
	return pending > seen;
}

size_t virtq_chain_read(const struct virtq_chain *c, size_t off, void *buf, size_t len)
{
	size_t done = 0;

	for (unsigned int i = 0; i < c->nr_out && done < len; i++) {
		size_t l = c->iov[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		l -= off;
		if (l > len - done)
			l = len - done;
		memcpy((uint8_t *)buf + done, (uint8_t *)c->iov[i].iov_base + off, l);
		done += l;
		off = 0;
	}
	return done;
}

size_t virtq_chain_write(const struct virtq_chain *c, size_t off, const void *buf, size_t len)
{
	size_t done = 0;

	for (unsigned int i = c->nr_out; i < c->nr_out + c->nr_in && done < len; i++) {
		size_t l = c->iov[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		l -= off;
		if (l > len - done)
			l = len - done;
		memcpy((uint8_t *)c->iov[i].iov_base + off, (const uint8_t *)buf + done, l);
		done += l;
		off = 0;
	}
	return done;
}

/* Copy len bytes at offset off of an iovec array (out of or into it). */
size_t virtq_iov_copy(const struct iovec *iov, unsigned int cnt, size_t off, void *buf, size_t len,
		      bool to_iov)
{
	size_t done = 0;

	for (unsigned int i = 0; i < cnt && done < len; i++) {
		size_t l = iov[i].iov_len, take;

		if (off >= l) {
			off -= l;
			continue;
		}
		take = l - off < len - done ? l - off : len - done;
		if (to_iov)
			memcpy((uint8_t *)iov[i].iov_base + off, (uint8_t *)buf + done, take);
		else
			memcpy((uint8_t *)buf + done, (uint8_t *)iov[i].iov_base + off, take);
		done += take;
		off = 0;
	}
	return done;
}
