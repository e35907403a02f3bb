/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_VIRTIO_VIRTQ_H
#define VESSEL_VIRTIO_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "util/log.h"

/*
 * Split virtqueue, device side (virtio 1.2 section 2.7).
 *
 * This file is the one place where descriptors are read (docs/architecture.md,
 * "The pieces every feature uses").  virtq_pop() copies every descriptor of a chain exactly once
 * out of guest memory, checks it and turns it into host iovecs that are
 * already bounds-checked through gmem; device models only ever see a
 * struct virtq_chain.  A malformed ring is a guest error: the queue is
 * marked broken, the owner's on_error callback runs (the transport sets
 * DEVICE_NEEDS_RESET, section 2.1.2, and raises a configuration change
 * interrupt), the event is counted and logged rate-limited, and the queue
 * does nothing more until it is reset.
 *
 * This file is also the one place that writes the rings and the ring
 * indices: devices complete chains with virtq_fill()/virtq_flush() (or
 * virtq_push_chain()), give chains back with virtq_rewind(), and state
 * loaders and vhost-user set indices with virtq_restore().
 *
 * Threading: one queue is used by one thread at a time (the caller holds
 * the device lock).  The guest runs concurrently: every shared index is
 * read with acquire and written with release semantics.
 */

#define VIRTQ_MAX_SIZE 32768 /* section 2.7: queue size <= 32768 */

/* Descriptor flags (section 2.7.5). */
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
/* Ring flags (sections 2.7.6, 2.7.8). */
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1

/* Feature bits the virtqueue itself implements (section 6). */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29

struct gmem;
struct virtq;

/* A descriptor as the guest lays it out (section 2.7.5), little endian. */
struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/*
 * A validated chain.  iov[0 .. nr_out) are device-readable buffers,
 * iov[nr_out .. nr_out + nr_in) device-writable ones, in guest order;
 * zero-length descriptors are dropped.  gpa[] holds the guest address of
 * each iovec (for dirty tracking).  cap is the room in iov/gpa, set by
 * virtq_chain_alloc(); a queue never yields a chain longer than its size,
 * so cap >= the queue's maximum size always suffices.
 */
struct virtq_chain {
	uint16_t head;
	uint16_t nr_out, nr_in;
	uint16_t cap;
	uint64_t out_len, in_len; /* bytes readable / writable */
	uint32_t gen;		  /* queue generation at pop time */
	struct iovec *iov;
	uint64_t *gpa;
};

struct virtq_stats {
	uint64_t popped;
	uint64_t pushed;
	uint64_t guest_errors;
	uint64_t notifies;	      /* interrupts requested */
	uint64_t notifies_suppressed; /* interrupts EVENT_IDX/NO_INTERRUPT saved */
	uint64_t stale_completions;   /* completions dropped after a reset */
};

struct virtq {
	/* Configuration, written by the transport (section 4.1.4.3). */
	uint16_t max_size;
	uint16_t size;
	uint16_t msix_vector;
	uint16_t index;
	bool enabled;
	uint64_t desc_gpa, avail_gpa, used_gpa;

	/* Negotiated features. */
	bool event_idx;
	bool indirect;

	/* Runtime state. */
	bool broken;
	uint16_t last_avail;	 /* next avail ring entry to take */
	uint16_t used_idx;	 /* next used ring entry to fill */
	uint16_t signalled_used; /* used idx when we last notified */
	bool signalled_used_valid;
	uint32_t gen; /* bumped by virtq_reset() */

	struct gmem *mem;
	/* Host views of the rings, valid while enabled. */
	struct virtq_desc *desc;
	uint16_t *avail; /* flags, idx, ring[size], used_event */
	uint8_t *used;	 /* flags, idx, ring[size] {id, len}, avail_event */

	const char *name;     /* "blk0.q0" for log lines */
	struct ratelimit *rl; /* shared with the device */
	void (*on_error)(void *opaque, struct virtq *vq);
	void *opaque;
	struct virtq_stats stats;
};

/* Set up an unconfigured queue of at most max_size entries. */
void virtq_init(struct virtq *vq, struct gmem *mem, uint16_t index, uint16_t max_size,
		const char *name, struct ratelimit *rl);
/*
 * Enable with the configured size and ring addresses (queue_enable = 1):
 * size a power of two in [1, max_size], rings aligned (section 2.7:
 * 16, 2, 4) and inside guest RAM.  -EINVAL otherwise; nothing changes.
 */
int virtq_enable(struct virtq *vq, bool event_idx, bool indirect);
/* Back to the unconfigured state (device reset); bumps gen. */
void virtq_reset(struct virtq *vq);

struct virtq_chain *virtq_chain_alloc(uint16_t cap);
void virtq_chain_free(struct virtq_chain *c);

/*
 * Take the next available chain: 1 with *c filled, 0 when the ring is
 * empty (or the queue is disabled or broken), -EIO when the guest broke
 * the ring (the queue is now broken; on_error has run).
 */
int virtq_pop(struct virtq *vq, struct virtq_chain *c);
/* Whether the avail ring holds entries we have not taken. */
bool virtq_has_avail(struct virtq *vq);

/*
 * Returning chains to the guest (section 2.7.8, 2.7.14): virtq_fill()
 * writes used element `idx` past the published used idx for chain c with
 * `written` bytes written into its device-writable part (capped at what
 * it has), without publishing it; virtq_flush() then publishes n filled
 * elements with one used->idx store.  Several chains completed together
 * (mergeable receive buffers, section 5.1.6.4) are filled at idx 0..n-1
 * and flushed once, so the driver sees them all or none; call
 * virtq_should_notify() after the flush: its EVENT_IDX check covers
 * every index the flush passed (section 2.7.10).
 *
 * virtq_fill: 0; -ESTALE for a chain popped before the last reset
 * (dropped, counted in stale_completions; do not count it in the flush);
 * -EIO when the queue is disabled or broken; -EINVAL when idx is not
 * below the number of chains popped and not yet flushed.
 * virtq_flush: 0; -EIO as above; -EINVAL when n exceeds that number.
 */
int virtq_fill(struct virtq *vq, const struct virtq_chain *c, uint32_t written, uint16_t idx);
int virtq_flush(struct virtq *vq, uint16_t n);
/*
 * One chain: fill at 0 and flush 1 (what devices without batching use).
 * virtq_push() takes the head alone (no gen check, no dirty marking of
 * the buffers).
 */
int virtq_push(struct virtq *vq, uint16_t head, uint32_t written);
int virtq_push_chain(struct virtq *vq, const struct virtq_chain *c, uint32_t written);

/*
 * Give back the last n chains popped and not used (the device could not
 * take them now, e.g. no receive buffer big enough): the next pops return
 * them again.  -EINVAL when fewer than n are outstanding, -EIO when the
 * queue is disabled or broken.
 */
int virtq_rewind(struct virtq *vq, uint16_t n);

/*
 * Set the ring indices of an enabled queue: when loading saved state, or
 * when a vhost-user frontend hands over a ring (SET_VRING_BASE gives
 * last_avail; the used idx is the one in guest memory).  Refuses with
 * -EINVAL, changing nothing, what no ring of this size can be in:
 * more than `size` entries available and not taken (avail->idx in guest
 * memory minus last_avail), or more than `size` taken and not used
 * (last_avail minus used_idx).  The notification state starts over (the
 * next virtq_should_notify() notifies); virtq_restore_signalled() puts
 * back a saved one.
 */
int virtq_restore(struct virtq *vq, uint16_t last_avail, uint16_t used_idx);
void virtq_restore_signalled(struct virtq *vq, uint16_t signalled_used, bool valid);
/* used->idx as guest memory holds it now (0 for a disabled queue). */
uint16_t virtq_used_idx_in_ring(const struct virtq *vq);

/*
 * After one or more pushes: does the driver want an interrupt?
 * With EVENT_IDX this is vring_need_event(used_event, new, old) (section
 * 2.7.10), otherwise VIRTQ_AVAIL_F_NO_INTERRUPT decides.
 */
bool virtq_should_notify(struct virtq *vq);

/*
 * Driver-to-device notification suppression (section 2.7.7 / 2.7.10).
 * Call virtq_disable_notify() while draining the ring, then
 * virtq_enable_notify() when it looks empty: it publishes avail_event (or
 * clears USED_F_NO_NOTIFY) and returns true if new entries raced in, in
 * which case the caller must drain again.
 */
void virtq_disable_notify(struct virtq *vq);
bool virtq_enable_notify(struct virtq *vq);
/*
 * The same for a device that looked at `seen` available entries and
 * found them too few (virtio-net's receive queue, a frame wider than the
 * buffers): the driver is asked to kick for the next one, and true means
 * more than `seen` are there now.  Without EVENT_IDX a kick comes anyway.
 */
bool virtq_enable_notify_after(struct virtq *vq, uint16_t seen);

/* Mark the queue broken after a device-level protocol violation. */
void virtq_fail(struct virtq *vq, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * vring_need_event() (section 2.7.10): true if event_idx lies in
 * [old, new), i.e. the entry the other side asked about was just passed.
 */
static inline bool virtq_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old_idx);
}

/* Ring sizes in bytes (section 2.7). */
static inline uint64_t virtq_desc_bytes(uint16_t size)
{
	return 16ull * size;
}
static inline uint64_t virtq_avail_bytes(uint16_t size)
{
	return 6ull + 2ull * size;
}
static inline uint64_t virtq_used_bytes(uint16_t size)
{
	return 6ull + 8ull * size;
}

/* Copy from / into a chain's readable / writable part, from byte `off`. */
size_t virtq_chain_read(const struct virtq_chain *c, size_t off, void *buf, size_t len);
size_t virtq_chain_write(const struct virtq_chain *c, size_t off, const void *buf, size_t len);

/*
 * Copy len bytes at offset off of an iovec array (a chain's readable or
 * writable part) out of it, or into it with to_iov; returns the bytes
 * copied (fewer when the iovecs end first).
 */
size_t virtq_iov_copy(const struct iovec *iov, unsigned int cnt, size_t off, void *buf, size_t len,
		      bool to_iov);

#endif
