/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_BLOCK_BLOCK_INT_H
#define VESSEL_BLOCK_BLOCK_INT_H

/* Helpers shared by block.c and aio.c; not for users of the block layer. */
#include "block/block.h"

/* [off, off+len) inside [0, bd->size), overflow-safe: 0 or -EINVAL. */
int blk_check_range(const struct blkdev *bd, uint64_t off, uint64_t len);
/* Range, iovec and read-only checks of a read or write: 0, -EINVAL or -EROFS. */
int blk_check_rw(const struct blkdev *bd, const struct iovec *iov, int iovcnt, uint64_t off,
		 bool write);

/* How much of the start of a file format probing looks at. */
#define BLK_PROBE_SIZE 512

/*
 * True if a write at off must go through blk_pwritev()'s probe guard:
 * the device's format was probed as raw and the write touches the first
 * BLK_PROBE_SIZE bytes.
 */
static inline bool blk_write_guarded(const struct blkdev *bd, uint64_t off)
{
	return bd->probed && off < BLK_PROBE_SIZE;
}

/* blk_queue_create() with a choice of engine: force_worker uses the worker
 * thread even for a BLK_DRV_NATIVE_AIO driver (tests, io_uring fallback). */
int blk_queue_create_engine(struct blkdev *bd, unsigned int depth, bool force_worker,
			    struct blk_queue **out, struct error *err);
/* Reads of a non-native driver served without the worker (fast path). */
uint64_t blk_queue_nr_mapped(const struct blk_queue *q);

#endif
