// SPDX-License-Identifier: MIT
/*
 * vessel img bench: qemu-img bench on vessel's block layer.
 *
 *   vessel img bench [-c COUNT] [-d DEPTH] [-f FMT] [--flush-interval N] [-n]
 *                    [--no-drain] [-o OFFSET] [--pattern BYTE] [-q] [-s SIZE]
 *                    [-S STEP] [-w] [-U] FILE
 *
 * COUNT requests (default 75000) of SIZE bytes (4096) go through one
 * blk_queue (io_uring for raw images and mapped qcow2 reads, the qcow2
 * worker for the rest: the path a guest's disk takes), DEPTH (64) in
 * flight, at OFFSET, OFFSET+STEP, ... (STEP defaults to SIZE) modulo the
 * image size, as qemu-img does (a request that would run past the end
 * fails, as there).  -w writes (PATTERN,
 * default 0) and, with --flush-interval N, flushes after every N writes,
 * waiting for the writes in flight first unless --no-drain.  -n opens the
 * image with O_DIRECT.  It prints what qemu-img bench prints, so
 * bench/img-bench.sh can set the two side by side.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "cli/img.h"
#include "util/error.h"
#include "util/util.h"

struct bench {
	struct blk_queue *q;
	uint64_t image_size, offset, step, bufsize;
	uint64_t count, submitted, done, flush_interval, since_flush;
	bool write, drain, flushing, failed;
	uint8_t pattern;
	struct blk_req flush;
};

struct bench_req {
	struct blk_req br;
	struct iovec iov;
	struct bench *b;
	bool busy;
};

static void bench_next_offset(struct bench *b)
{
	/* as qemu-img: modulo the image size (a request past the end fails) */
	b->offset += b->step;
	if (b->image_size)
		b->offset %= b->image_size;
}

static void bench_done(struct blk_req *br, int ret)
{
	struct bench_req *r = br->opaque;

	if (ret < 0 && !r->b->failed) {
		img_err("bench: %s failed at offset %llu: %s", r->b->write ? "write" : "read",
			(unsigned long long)br->offset, strerror(-ret));
		r->b->failed = true;
	}
	r->b->done++;
	r->busy = false;
}

static void bench_flush_done(struct blk_req *br, int ret)
{
	struct bench *b = br->opaque;

	if (ret < 0 && !b->failed) {
		img_err("bench: flush failed: %s", strerror(-ret));
		b->failed = true;
	}
	b->flushing = false;
}

/* Submit into every free slot; a flush is due after flush_interval writes. */
static int bench_fill(struct bench *b, struct bench_req *reqs, unsigned int depth)
{
	bool any = false;

	for (unsigned int i = 0; i < depth && b->submitted < b->count && !b->flushing; i++) {
		struct bench_req *r = &reqs[i];
		int ret;

		if (r->busy)
			continue;
		if (b->flush_interval && b->since_flush == b->flush_interval) {
			/* --no-drain: the flush goes in beside the writes in flight */
			if (b->drain && blk_queue_inflight(b->q))
				break;
			b->flush = (struct blk_req){ .op = BLK_OP_FLUSH,
						     .done = bench_flush_done,
						     .opaque = b };
			ret = blk_submit(b->q, &b->flush);
			if (ret < 0) {
				img_err("bench: flush: %s", strerror(-ret));
				return ret;
			}
			b->flushing = true;
			b->since_flush = 0;
			any = true;
			break;
		}
		r->br = (struct blk_req){ .op = b->write ? BLK_OP_WRITE : BLK_OP_READ,
					  .offset = b->offset,
					  .iov = &r->iov,
					  .iovcnt = 1,
					  .done = bench_done,
					  .opaque = r };
		ret = blk_submit(b->q, &r->br);
		if (ret == -EAGAIN)
			break;
		if (ret < 0) {
			blk_queue_kick(b->q);
			img_err("bench: %s at offset %llu: %s", b->write ? "write" : "read",
				(unsigned long long)b->offset, strerror(-ret));
			return ret;
		}
		r->busy = true;
		b->submitted++;
		b->since_flush += b->write;
		bench_next_offset(b);
		any = true;
	}
	if (any)
		blk_queue_kick(b->q);
	return 0;
}

static int bench_run(struct bench *b, unsigned int depth)
{
	struct bench_req *reqs = calloc(depth, sizeof(*reqs));
	struct pollfd p = { .fd = blk_queue_fd(b->q), .events = POLLIN };
	uint8_t *bufs = NULL;
	int r = 0;

	if (!reqs || posix_memalign((void **)&bufs, 4096, (size_t)(depth * b->bufsize))) {
		free(reqs);
		img_err("bench: out of memory");
		return -ENOMEM;
	}
	/* the write buffers hold the pattern (qemu-img's --pattern) */
	memset(bufs, b->pattern, (size_t)(depth * b->bufsize));
	for (unsigned int i = 0; i < depth; i++) {
		reqs[i].b = b;
		reqs[i].iov.iov_base = bufs + (size_t)i * b->bufsize;
		reqs[i].iov.iov_len = b->bufsize;
	}
	while (!b->failed && (b->done < b->count || b->flushing)) {
		r = bench_fill(b, reqs, depth);
		if (r)
			break;
		if (blk_queue_complete(b->q) > 0)
			continue;
		if (poll(&p, 1, -1) < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
	}
	/* every request is back before the buffers go */
	while (blk_queue_inflight(b->q))
		if (blk_queue_complete(b->q) <= 0)
			(void)poll(&p, 1, 100);
	free(bufs);
	free(reqs);
	return r ? r : b->failed ? -EIO : 0;
}

static int bench_number(const char *what, const char *s, uint64_t max, uint64_t *out)
{
	if (img_parse_size(s, out) || *out > max)
		return img_err("bench: invalid %s '%s'", what, s);
	return 0;
}

#define BENCH_USAGE                                                                         \
	"usage: vessel img bench [-c COUNT] [-d DEPTH] [-f FMT] [--flush-interval N] [-n] " \
	"[--no-drain] [-o OFFSET] [--pattern BYTE] [-q] [-s SIZE] [-S STEP] [-w] [-U] FILE\n"

int img_bench(int argc, char **argv)
{
	enum { OPT_FLUSH = 256, OPT_NO_DRAIN, OPT_PATTERN };
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "flush-interval", required_argument, NULL, OPT_FLUSH },
		{ "no-drain", no_argument, NULL, OPT_NO_DRAIN },
		{ "pattern", required_argument, NULL, OPT_PATTERN },
		{ NULL, 0, NULL, 0 }
	};
	struct bench b = { .count = 75000, .bufsize = 4096, .drain = true };
	struct blk_open_opts o = { 0 };
	uint64_t depth = 64, pattern = 0, t0;
	bool quiet = false, have_step = false;
	struct error e = ERROR_INIT;
	struct blkdev *bd;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:d:f:no:qs:S:wUh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (bench_number("request count", optarg, UINT32_MAX, &b.count) || !b.count)
				return b.count ? 1 : img_err("bench: the count must be positive");
			break;
		case 'd':
			if (bench_number("queue depth", optarg, 4096, &depth) || !depth)
				return depth ? 1 : img_err("bench: the depth must be 1..4096");
			break;
		case 'f':
			o.format = optarg;
			break;
		case 'n':
			o.direct = true;
			break;
		case 'o':
			if (bench_number("offset", optarg, UINT64_MAX, &b.offset))
				return 1;
			break;
		case 'q':
			quiet = true;
			break;
		case 's':
			if (bench_number("buffer size", optarg, 1 << 30, &b.bufsize) || !b.bufsize)
				return b.bufsize
					       ? 1
					       : img_err("bench: the buffer size must be positive");
			break;
		case 'S':
			if (bench_number("step size", optarg, UINT64_MAX, &b.step))
				return 1;
			have_step = true;
			break;
		case 'w':
			b.write = true;
			break;
		case 'U':
			o.force_share = true;
			break;
		case OPT_FLUSH:
			if (bench_number("flush interval", optarg, UINT32_MAX, &b.flush_interval))
				return 1;
			break;
		case OPT_NO_DRAIN:
			b.drain = false;
			break;
		case OPT_PATTERN:
			if (bench_number("pattern", optarg, 255, &pattern))
				return 1;
			break;
		case 'h':
			printf(BENCH_USAGE);
			return 0;
		default:
			return img_bad_opt(argv);
		}
	}
	if (optind != argc - 1)
		return img_err("bench: expected one file name (vessel img bench --help)");
	if (b.flush_interval && !b.write)
		return img_err("bench: --flush-interval is only available in write tests");
	/* as qemu-img: a flush waits for a full queue at most once per interval */
	if (b.flush_interval && b.flush_interval < depth)
		return img_err("bench: the flush interval can't be smaller than the depth");
	if (!have_step)
		b.step = b.bufsize;
	o.readonly = !b.write;
	if (img_fail(blk_open(argv[optind], &o, &bd, &e), &e) < 0)
		return 1;
	b.image_size = blk_size(bd);
	r = blk_queue_create(bd, (unsigned int)depth, &b.q, &e);
	if (r < 0) {
		img_fail(r, &e);
		blk_close(bd);
		return 1;
	}
	if (!quiet) {
		printf("Sending %llu %s requests, %llu bytes each, %llu in parallel (starting at "
		       "offset %llu, step size %llu)\n",
		       (unsigned long long)b.count, b.write ? "write" : "read",
		       (unsigned long long)b.bufsize, (unsigned long long)depth,
		       (unsigned long long)b.offset, (unsigned long long)b.step);
		if (b.flush_interval)
			printf("Sending flush every %llu requests\n",
			       (unsigned long long)b.flush_interval);
	}
	b.pattern = (uint8_t)pattern;
	t0 = now_ns();
	r = bench_run(&b, (unsigned int)depth);
	if (!r && !quiet)
		printf("Run completed in %.3f seconds.\n", (double)(now_ns() - t0) / 1e9);
	blk_queue_destroy(b.q);
	if (!r && b.write && (r = blk_flush(bd)) < 0)
		img_err("bench: cannot flush '%s': %s", argv[optind], strerror(-r));
	blk_close(bd);
	return r < 0 ? 1 : 0;
}
