/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_VHOST_VHOST_USER_H
#define VESSEL_VHOST_VHOST_USER_H

#include <stdbool.h>
#include <stdint.h>

/*
 * vhost-user backend: serves a vessel virtio device (virtio-blk) to a
 * frontend (QEMU, Cloud Hypervisor, ...) over a Unix socket, following
 * QEMU's docs/interop/vhost-user.rst.
 *
 * vhost-user is a second transport for the transport-independent device
 * core (virtio/virtio.h), next to virtio-pci: the frontend's messages
 * play the role of the common configuration registers, kick eventfds the
 * role of the doorbells and call eventfds the role of MSI-X.  The device
 * model and the virtqueue code are the same as for a vessel VM.  Guest
 * memory comes from the fds of SET_MEM_TABLE, mapped here and described
 * to the bounds-checked accessor (mem/gmem.h) keyed by guest-physical
 * address, which is what the virtqueue uses.
 *
 * Threads (docs/threads.md): the socket, its messages and the timers are
 * served by the backend's event loop (the main thread of `vessel
 * vhost-user-blk`); the kick fds, the block layer's completions and the
 * adaptive poller by the disk's I/O thread (virtio-blk's own evloop
 * thread), as in a VM.  The message handlers change kick fds under the
 * device lock but never wait for the I/O thread while holding it
 * (conn.c).  A frontend is trusted
 * no more than a guest: its memory may shrink under us (guard.c) and its
 * fds may be anything (fds.c); neither crashes nor stalls the backend.
 */

/* Message header (vhost-user.rst "Message Specification"), host endian. */
struct vhost_user_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size; /* payload bytes after the header */
};

#define VHOST_USER_HDR_SIZE 12u
#define VHOST_USER_VERSION 0x1u
#define VHOST_USER_VERSION_MASK 0x3u
#define VHOST_USER_FLAG_REPLY (1u << 2)
#define VHOST_USER_FLAG_NEED_REPLY (1u << 3)

/* Limits this backend enforces on what a frontend sends. */
#define VHOST_USER_MAX_PAYLOAD 512u /* largest valid message here is 268 bytes */
#define VHOST_USER_MAX_FDS 8u	    /* VHOST_MEMORY_BASELINE_NREGIONS */
#define VHOST_USER_MAX_REGIONS 8u
#define VHOST_USER_MAX_CONFIG 256u /* VHOST_USER_MAX_CONFIG_SIZE */

/* Front-end message types (vhost-user.rst "Front-end message types"). */
enum vhost_user_request {
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_RESET_OWNER = 4,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_LOG_BASE = 6,
	VHOST_USER_SET_LOG_FD = 7,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_SET_VRING_ERR = 14,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_GET_QUEUE_NUM = 17,
	VHOST_USER_SET_VRING_ENABLE = 18,
	VHOST_USER_GET_CONFIG = 24,
	VHOST_USER_SET_CONFIG = 25,
	VHOST_USER_RESET_DEVICE = 34,
	VHOST_USER_REQUEST_MAX = 64,
};

/* Virtio feature bit 30: the backend speaks protocol features. */
#define VHOST_USER_F_PROTOCOL_FEATURES 30

/* Protocol features (vhost-user.rst "Protocol features"). */
#define VHOST_USER_PROTOCOL_F_MQ 0
#define VHOST_USER_PROTOCOL_F_REPLY_ACK 3
#define VHOST_USER_PROTOCOL_F_CONFIG 9
#define VHOST_USER_PROTOCOL_F_RESET_DEVICE 13

/* SET_VRING_KICK/CALL/ERR payload: index in bits 0-7, bit 8: no fd. */
#define VHOST_USER_VRING_IDX_MASK 0xffull
#define VHOST_USER_VRING_NOFD (1ull << 8)

struct vhost_user_region {
	uint64_t gpa; /* guest physical address */
	uint64_t size;
	uint64_t uaddr;	      /* frontend virtual address */
	uint64_t mmap_offset; /* offset of the region in the fd */
};

struct vhost_user_mem {
	uint32_t nregions;
	uint32_t padding;
	struct vhost_user_region regions[VHOST_USER_MAX_REGIONS];
};

struct vhost_user_vring_state {
	uint32_t index;
	uint32_t num;
};

/* Note the order: descriptor, used, available (vhost-user.rst). */
struct vhost_user_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;
	uint64_t used;
	uint64_t avail;
	uint64_t log;
};

struct vhost_user_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t payload[VHOST_USER_MAX_CONFIG];
};
#define VHOST_USER_CONFIG_HDR 12u

struct vhost_user_msg {
	struct vhost_user_hdr hdr;
	union {
		uint64_t u64;
		struct vhost_user_vring_state state;
		struct vhost_user_vring_addr addr;
		struct vhost_user_mem mem;
		struct vhost_user_config config;
		uint8_t raw[VHOST_USER_MAX_PAYLOAD];
	} p;
};

struct virtio_dev;
struct gmem;
struct evloop;
struct vhost_user_dev;

/*
 * The device-specific part the transport needs beyond virtio_dev_ops:
 * how to run pending completions (to drain in-flight requests before
 * guest memory goes away or a ring stops).
 */
struct vhost_user_dev_hooks {
	int (*poll)(struct virtio_dev *vd);
};

struct vhost_user_stats {
	uint64_t connections;
	uint64_t refused; /* connections while one was active */
	uint64_t messages;
	uint64_t protocol_errors; /* connections closed for a bad message */
	uint64_t kicks;
	uint64_t calls;
	uint64_t mem_faults;   /* frontend memory vanished under a mapping (SIGBUS) */
	uint64_t broken_kicks; /* kick fds at end of file or in error, dropped */
};

/*
 * Serve vd (whose queues use `mem`, an empty gmem the backend fills from
 * SET_MEM_TABLE) with a config space of cfg_size bytes.  `loop` may be
 * NULL (fuzzing): kick fds are then not watched.
 */
int vhost_user_dev_create(struct virtio_dev *vd, uint32_t cfg_size, struct gmem *mem,
			  struct evloop *loop, const struct vhost_user_dev_hooks *hooks,
			  struct vhost_user_dev **out);
/* Ends any connection; does not destroy vd or mem. */
void vhost_user_dev_destroy(struct vhost_user_dev *d);

/*
 * Handle one received message (msg->hdr.size payload bytes in msg->p)
 * with the nfds fds that came with it, which this call takes over.  If
 * *reply_out is set on return, send `reply` back.  0, or -errno for a
 * malformed or refused message after which the connection must close.
 */
int vhost_user_handle_msg(struct vhost_user_dev *d, struct vhost_user_msg *msg, int *fds,
			  unsigned int nfds, struct vhost_user_msg *reply, bool *reply_out);
/* The frontend went away: stop rings, drain, unmap memory, reset. */
void vhost_user_dev_disconnect(struct vhost_user_dev *d);
/* Process ring q as if its kick fd fired (fuzzing, tests). */
void vhost_user_dev_kick(struct vhost_user_dev *d, unsigned int q);
void vhost_user_dev_stats(const struct vhost_user_dev *d, struct vhost_user_stats *st);
/* Name of a request for log lines ("SET_MEM_TABLE"), or "unknown". */
const char *vhost_user_request_name(uint32_t req);

/*
 * Socket side (conn.c).  The message framing, for a frontend (tests):
 * read one message from a connected socket, waiting for all of it: 0,
 * -ECONNRESET on a clean end of stream, -errno for a malformed message
 * (bad version, size too large, too many fds).  The backend itself reads
 * without waiting (conn.c).
 */
int vhost_user_recv_msg(int fd, struct vhost_user_msg *msg, int *fds, unsigned int *nfds);
int vhost_user_send_msg(int fd, const struct vhost_user_msg *msg, const int *fds,
			unsigned int nfds);

/* Listen on path (a stale socket file is replaced; a live one is not). */
int vhost_user_listen(const char *path, int *out_fd);
/* Serve connections on the listening fd from the loop, one at a time. */
int vhost_user_dev_serve(struct vhost_user_dev *d, int listen_fd);
/* Take one connected socket (tests use a socketpair). */
int vhost_user_dev_attach(struct vhost_user_dev *d, int conn_fd);

#endif
