/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_VIRTIO_BLK_INT_H
#define VESSEL_VIRTIO_BLK_INT_H

/*
 * virtio-blk's state, shared by the device model (blk.c) and its error
 * policy (blk-error.c).  Nothing outside src/virtio/blk*.c includes it.
 */
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "block/block.h"
#include "virtio/devices.h"
#include "virtio/virtio.h"
#include "virtio/virtq.h"

#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2
#define VIRTIO_BLK_ID_BYTES 20
#define CHAIN_CAP (VIRTIO_BLK_SEG_MAX + 2)

struct vblk;
struct vblk_queue;

struct vblk_req {
	struct blk_req br;
	struct vblk_queue *bq;
	struct virtq_chain *c;
	uint8_t *status;   /* host address of the status byte */
	uint32_t used_len; /* reported in the used ring */
	struct iovec iov[CHAIN_CAP];
	struct vblk_req *next; /* free list / all list */
	struct vblk_req *all_next;
};

struct vblk_queue {
	struct vblk *blk;
	unsigned int index;
	struct blk_queue *q;
	int fd;
	struct vblk_req *free;
	struct vblk_req *all;
	struct vblk_req *held, **held_tail; /* failed, waiting for cont (werror=stop) */
	unsigned int allocated, inflight;
	bool starved; /* stopped popping: no free request */
};

struct vblk {
	struct virtio_dev vd;
	struct blkdev *bd;
	struct evloop *loop;
	struct vblk_queue *qs;
	unsigned int nr_queues;
	struct evloop *ioloop;	     /* the disk's I/O thread (evloop_thread_start) */
	bool polling;		     /* the I/O thread polls: kicks stay off */
	const struct dev_host *host; /* DEV_HOST_IO_ERROR; NULL: no machine */
	enum blk_error_action werror, rerror;
	bool io_stopped; /* held requests: no new one is taken */
	char path[96];	 /* for the error line */
	uint64_t sectors;
	bool readonly;
	char serial[VIRTIO_BLK_ID_BYTES];
	uint8_t cfg[VIRTIO_BLK_CFG_SIZE];
	struct {
		uint64_t reads, writes, flushes, discards, write_zeroes, get_ids;
		uint64_t bytes_read, bytes_written, io_errors, bad_requests, unsupported;
		uint64_t io_errors_ignored, io_error_stops, retried;
	} st;
};

static inline struct vblk *to_vblk(struct virtio_dev *vd)
{
	return (struct vblk *)vd;
}

/* blk.c */
void vblk_req_put(struct vblk_queue *bq, struct vblk_req *r);
/* Status byte, used ring (the interrupt is the caller's). */
void vblk_req_finish(struct vblk_queue *bq, struct vblk_req *r, uint8_t status);
/* Pop and start what the ring has; true if it did anything. */
bool vblk_queue_process(struct vblk_queue *bq);

/* blk-error.c: werror/rerror=stop */
void vblk_req_hold(struct vblk_queue *bq, struct vblk_req *r, int err);
void vblk_drop_held(struct vblk_queue *bq);
void vblk_cont(struct virtio_dev *vd);

/* blk-snapshot.c: the disk's internal snapshots (virtio_dev_ops.disk_snapshot) */
int vblk_disk_snapshot(struct virtio_dev *vd, enum component_disk_op op, const char *name,
		       struct error *err);

#endif
