// SPDX-License-Identifier: MIT
/*
 * blkbench: the I/O pattern of `qemu-img bench`, through vessel's block
 * layer (the asynchronous blk_queue API that virtio-blk uses), so that
 * bench/qcow2/run.sh can print both figures side by side.
 *
 *   blkbench [-f FMT] [-w] [-c COUNT] [-d DEPTH] [-s SIZE] [-S STEP] [-o OFFSET] FILE
 *
 * Like qemu-img bench: COUNT requests of SIZE bytes, DEPTH in flight,
 * request i at OFFSET + i * STEP modulo the image size (STEP defaults to
 * SIZE: sequential; a large prime multiple of SIZE scatters the
 * requests over the whole disk).  Prints one line with the time, IOPS
 * and MB/s.
 */
#include "block/block.h"
#include "util/util.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct bench {
	struct blk_queue *q;
	uint64_t size, step, offset, image_size;
	uint64_t count, issued, completed;
	bool write;
	int errors;
	struct blk_req *reqs;
	struct iovec *iov;
};

static void bench_done(struct blk_req *r, int ret)
{
	struct bench *b = r->opaque;

	b->completed++;
	if (ret < 0 && b->errors++ == 0)
		fprintf(stderr, "blkbench: request at %" PRIu64 " failed: %s\n", r->offset,
			strerror(-ret));
}

/* Refill free slots with the next requests of the pattern. */
static int bench_fill(struct bench *b, unsigned int depth)
{
	while (b->issued < b->count && b->issued - b->completed < depth) {
		struct blk_req *r = &b->reqs[b->issued % depth];
		int ret;

		r->op = b->write ? BLK_OP_WRITE : BLK_OP_READ;
		r->offset = b->offset;
		r->iov = &b->iov[b->issued % depth];
		r->iovcnt = 1;
		r->done = bench_done;
		r->opaque = b;
		ret = blk_submit(b->q, r);
		if (ret == -EAGAIN)
			break;
		if (ret < 0) {
			fprintf(stderr, "blkbench: submit: %s\n", strerror(-ret));
			return ret;
		}
		b->issued++;
		/* Wrap as qemu-img bench does (run.sh keeps requests in range). */
		b->offset += b->step;
		b->offset %= b->image_size;
	}
	blk_queue_kick(b->q);
	return 0;
}

int main(int argc, char **argv)
{
	struct blk_open_opts o = { 0 };
	struct bench b = { .count = 75000, .size = 4096 };
	unsigned int depth = 64;
	struct blkdev *bd;
	uint8_t *bufs;
	uint64_t t0, t1, v;
	bool step_set = false;
	int c;

	while ((c = getopt(argc, argv, "f:wc:d:s:S:o:")) != -1) {
		switch (c) {
		case 'f':
			o.format = optarg;
			break;
		case 'w':
			b.write = true;
			break;
		case 'c':
			if (parse_u64(optarg, UINT32_MAX, &b.count))
				return 2;
			break;
		case 'd':
			if (parse_u64(optarg, 4096, &v) || !v)
				return 2;
			depth = (unsigned int)v;
			break;
		case 's':
			if (parse_size(optarg, &b.size) || !b.size || b.size > 64 * MiB)
				return 2;
			break;
		case 'S':
			if (parse_size(optarg, &b.step))
				return 2;
			step_set = true;
			break;
		case 'o':
			if (parse_size(optarg, &b.offset))
				return 2;
			break;
		default:
			fprintf(stderr, "usage: blkbench [-f FMT] [-w] [-c COUNT] [-d DEPTH] "
					"[-s SIZE] [-S STEP] [-o OFFSET] FILE\n");
			return 2;
		}
	}
	if (optind != argc - 1)
		return 2;
	if (!step_set)
		b.step = b.size;
	o.readonly = !b.write;
	if (blk_open(argv[optind], &o, &bd, NULL) < 0)
		return 1;
	b.image_size = blk_size(bd);
	if (b.size > b.image_size || b.offset + b.size > b.image_size) {
		fprintf(stderr, "blkbench: request outside the image\n");
		return 1;
	}
	if (blk_queue_create(bd, depth, &b.q, NULL) < 0)
		return 1;
	b.reqs = calloc(depth, sizeof(*b.reqs));
	b.iov = calloc(depth, sizeof(*b.iov));
	bufs = aligned_alloc(4096, ALIGN_UP(b.size, 4096) * depth);
	if (!b.reqs || !b.iov || !bufs)
		return 1;
	for (unsigned int i = 0; i < depth; i++) {
		memset(bufs + i * ALIGN_UP(b.size, 4096), 0x5a + (int)i, b.size);
		b.iov[i] = (struct iovec){ bufs + i * ALIGN_UP(b.size, 4096), b.size };
	}

	t0 = now_ns();
	if (bench_fill(&b, depth) < 0)
		return 1;
	while (b.completed < b.count) {
		struct pollfd pfd = { .fd = blk_queue_fd(b.q), .events = POLLIN };

		if (poll(&pfd, 1, 30000) <= 0) {
			fprintf(stderr, "blkbench: no completion in 30 s\n");
			return 1;
		}
		blk_queue_complete(b.q);
		if (bench_fill(&b, depth) < 0)
			return 1;
	}
	t1 = now_ns();

	{
		double s = (double)(t1 - t0) / 1e9;

		printf("%s %" PRIu64 " x %" PRIu64
		       " B, depth %u, %s: %.3f s, %.0f IOPS, %.1f MB/s\n",
		       b.write ? "write" : "read", b.count, b.size, depth,
		       blk_queue_uses_uring(b.q) ? "io_uring" : "worker", s, (double)b.count / s,
		       (double)(b.count * b.size) / s / 1e6);
	}
	blk_queue_destroy(b.q);
	if (b.write && blk_flush(bd) < 0)
		b.errors++;
	blk_close(bd);
	free(bufs);
	free(b.reqs);
	free(b.iov);
	return b.errors ? 1 : 0;
}
