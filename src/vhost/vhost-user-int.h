/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_VHOST_VHOST_USER_INT_H
#define VESSEL_VHOST_VHOST_USER_INT_H

/* State shared by the message handlers (backend.c) and the socket side (conn.c). */
#include <stddef.h>

#include "util/log.h"
#include "vhost/vhost-user.h"
#include "virtio/virtio.h"

/* One region of frontend memory, mapped from its SET_MEM_TABLE fd. */
struct vhost_user_map {
	void *base; /* what mmap() returned */
	size_t len;
	uint64_t gpa, size, uaddr;
	uint8_t *hva; /* the region's first byte */
	int fd;
	int guard;   /* slot in the SIGBUS guard (guard.c), or -1 */
	bool sealed; /* F_SEAL_SHRINK: the frontend cannot shrink it */
};

struct vhost_user_vring;

struct vhost_user_kickctx {
	struct vhost_user_dev *d;
	unsigned int q;
};

struct vhost_user_vring {
	/* What the frontend set up (vhost-user.rst "Ring states"). */
	uint16_t num;
	uint16_t base; /* next avail index (SET_VRING_BASE) */
	bool has_addr;
	uint64_t desc_ua, avail_ua, used_ua; /* frontend virtual addresses */
	int kick_fd, call_fd, err_fd;
	bool started;  /* a kick fd arrived, no GET_VRING_BASE since */
	bool enabled;  /* SET_VRING_ENABLE (with protocol features) */
	bool live;     /* handed to the virtqueue core */
	bool stopping; /* being taken down: kicks are dropped */
	bool base_refused; /* live but broken: base did not fit the ring */
	struct vhost_user_kickctx kctx;
	/* What call_fd and err_fd are: VHOST_USER_FD_* (fds.c). */
	int call_kind, err_kind;
};

struct vhost_user_dev {
	struct virtio_dev *vd;
	uint32_t cfg_size;
	struct gmem *mem;
	struct evloop *loop;
	struct vhost_user_dev_hooks hooks;

	int conn_fd;   /* the frontend, or -1 */
	int listen_fd; /* or -1 */
	bool owner;
	bool features_set;
	uint64_t features; /* SET_FEATURES, with bit 30 */
	uint64_t protocol_features;

	struct vhost_user_map maps[VHOST_USER_MAX_REGIONS];
	unsigned int nr_maps;
	struct vhost_user_vring rings[VIRTIO_MAX_QUEUES];

	struct ratelimit rl;
	struct vhost_user_stats st;

	/*
	 * Frontend memory faulted (guard.c): set by the SIGBUS handler, read
	 * atomically; cleared when the memory is unmapped.  fault_fd (an
	 * eventfd on the loop, or -1) wakes the loop to reset the device.
	 */
	int mem_fault;
	int fault_fd;

	/*
	 * The message being received (conn.c): read as it arrives, never
	 * waiting for the rest, with a deadline (rx_timer) for the whole
	 * message.
	 */
	struct vhost_user_msg rx, tx;
	size_t rx_got; /* header and payload bytes so far */
	int rx_fds[VHOST_USER_MAX_FDS];
	unsigned int rx_nfds;
	int rx_timer; /* evloop timer, or -1 */
};

/* backend.c */
void vhost_user_close_fd(int *fd);
/* rings.c: memory table and rings */
int vhost_user_set_mem_table(struct vhost_user_dev *d, const struct vhost_user_msg *msg,
			     const int *fds, unsigned int nfds);
void vhost_user_mem_unmap_all(struct vhost_user_dev *d);
int vhost_user_uaddr_to_gpa(const struct vhost_user_dev *d, uint64_t ua, uint64_t len,
			    uint64_t *gpa);
/* Bring the core's queues in line with what the frontend set up. */
int vhost_user_rings_sync(struct vhost_user_dev *d);
/* Every live ring back from the core (nothing in flight); setups kept. */
void vhost_user_rings_all_down(struct vhost_user_dev *d);
/* Forget every ring's setup (reset, disconnect). */
void vhost_user_rings_reset(struct vhost_user_dev *d);
/*
 * conn.c: kicks.  Where the device has an I/O thread (vd->ioloop), the
 * kick fds sit on that loop, so kicks and completions run on one thread,
 * as with virtio-pci's doorbells; otherwise on the backend's loop.
 * kicks_fini stops the device's I/O thread: no kick runs afterwards.
 */
void vhost_user_kicks_fini(struct vhost_user_dev *d);
/* Replace ring q's kick fd (taking fd over; -1: none) and (un)watch it. */
int vhost_user_kick_set(struct vhost_user_dev *d, unsigned int q, int fd);
/* Ring q's kick fd fired (or a test says so): consume it and kick.  Under vd->lock. */
void vhost_user_kick_locked(struct vhost_user_dev *d, unsigned int q);
/* Close the connection and reset the device, as after a bad message. */
void vhost_user_conn_drop(struct vhost_user_dev *d);

/*
 * guard.c: frontend memory whose pages may vanish (a shrunk memfd).  A
 * SIGBUS inside [base, base+len) replaces the range with anonymous memory,
 * sets *faulted and writes wake_fd (if >= 0).  Returns a slot or -errno.
 */
int vhost_user_guard_add(void *base, size_t len, int *faulted, int wake_fd);
void vhost_user_guard_del(int slot);
/*
 * The device's reaction to a fault (conn.c): under vd->lock, mark the
 * live rings broken (DEVICE_NEEDS_RESET); true if memory faulted.
 */
bool vhost_user_mem_fault_check(struct vhost_user_dev *d);
int vhost_user_faults_init(struct vhost_user_dev *d);
void vhost_user_faults_fini(struct vhost_user_dev *d);

/* fds.c: kick, call and error fds (see there for why). */
#define VHOST_USER_FD_EVENTFD 1
#define VHOST_USER_FD_PIPE 2
/*
 * Whether fd may serve as a ring's kick (reads) or call/err fd: an
 * eventfd or a pipe, open the right way; made O_NONBLOCK.  Returns
 * VHOST_USER_FD_*, or -errno with *why set.
 */
int vhost_user_ring_fd_check(int fd, bool reads, const char **why);
/* Consume a kick without blocking: 1, 0 (nothing there), -EPIPE at EOF, -errno. */
int vhost_user_kick_read(int fd);
/* Write an interrupt without blocking (fd < 0: nothing). */
void vhost_user_fd_signal(int fd, int kind);
extern const struct virtio_transport_ops vhost_user_tops;

#endif
