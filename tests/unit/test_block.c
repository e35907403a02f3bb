// SPDX-License-Identifier: MIT
/*
 * Block layer: raw driver through the sync API, and both async engines
 * (io_uring and the worker thread) with many requests in flight.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/block-int.h"
#include "block/block.h"
#include "util/error.h"
#include "util/util.h"

#define DISK_SIZE (8 * MiB)
#define NREQ 256
#define BS 4096

struct fixture {
	char path[512];
	struct blkdev *bd;
};

static int setup_raw(void **state)
{
	const char *dir = getenv("UNIT_TMPDIR");
	struct blk_create_opts co = { .size = DISK_SIZE };
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/test_block_%d.raw", dir ? dir : "/tmp",
		 (int)getpid());
	if (blk_create("raw", f->path, &co, NULL) < 0 ||
	    blk_open(f->path, NULL, &f->bd, NULL) < 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown_raw(void **state)
{
	struct fixture *f = *state;

	blk_close(f->bd);
	unlink(f->path);
	free(f);
	return 0;
}

static void fill(uint8_t *buf, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

static bool is_zero(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i])
			return false;
	return true;
}

static void test_open_errors(void **state)
{
	struct fixture *f = *state;
	struct blk_open_opts o = { .format = "bogus" };
	struct blkdev *bd = (void *)1;

	assert_int_equal(blk_open(f->path, &o, &bd, NULL), -EINVAL);
	assert_null(bd);
	assert_int_equal(blk_open("/nonexistent/dir/img", NULL, &bd, NULL), -ENOENT);
	assert_int_equal(blk_create("bogus", f->path, &(struct blk_create_opts){ .size = 1 }, NULL),
			 -EINVAL);
	assert_string_equal(blk_format(f->bd), "raw");
	assert_int_equal(blk_size(f->bd), DISK_SIZE);
	assert_false(blk_readonly(f->bd));
}

/* One message, naming the file and what is wrong, and nothing logged (util/error.h). */
static void test_open_error_messages(void **state)
{
	struct fixture *f = *state;
	struct blk_open_opts qo = { .format = "qcow2" }, busy = { 0 };
	struct error e = ERROR_INIT;
	struct blkdev *bd;
	char bad[600];
	int fd;

	assert_int_equal(blk_open("/nonexistent/dir/img", NULL, &bd, &e), -ENOENT);
	assert_int_equal(e.code, -ENOENT);
	assert_string_equal(error_msg(&e),
			    "cannot open '/nonexistent/dir/img': No such file or directory");
	error_clear(&e);

	/* A qcow2 spec violation: the driver's words, with the file name. */
	snprintf(bad, sizeof(bad), "%s.bad", f->path);
	fd = open(bad, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "QFI\xfb\0\0\0\x07", 8), 8);
	assert_int_equal(ftruncate(fd, 4096), 0);
	close(fd);
	assert_int_equal(blk_open(bad, &qo, &bd, &e), -EINVAL);
	assert_non_null(strstr(error_msg(&e), "qcow2: unsupported version 7"));
	assert_non_null(strstr(error_msg(&e), bad));
	error_clear(&e);
	unlink(bad);

	/* The fixture holds the image read-write: the lock says so. */
	assert_int_equal(blk_open(f->path, &busy, &bd, &e), -EBUSY);
	assert_non_null(strstr(error_msg(&e), "image is already open for writing"));
	assert_non_null(strstr(error_msg(&e), f->path));
	error_clear(&e);

	assert_int_equal(blk_create("bogus", f->path, &(struct blk_create_opts){ .size = 1 }, &e),
			 -EINVAL);
	assert_string_equal(error_msg(&e), "unknown image format 'bogus' (known: raw, qcow2)");
}

static void test_sync_rw(void **state)
{
	struct fixture *f = *state;
	uint8_t *w = malloc(3 * BS), *r = malloc(3 * BS);
	struct iovec iov[3];

	fill(w, 3 * BS, 1);
	/* Unaligned offset, scattered iovec. */
	iov[0] = (struct iovec){ w, 100 };
	iov[1] = (struct iovec){ w + 100, BS };
	iov[2] = (struct iovec){ w + 100 + BS, 2 * BS - 100 };
	assert_int_equal(blk_pwritev(f->bd, iov, 3, 12345), 0);
	assert_int_equal(blk_pread(f->bd, r, 3 * BS, 12345), 0);
	assert_memory_equal(w, r, 3 * BS);

	/* The last byte is in range, one more is not. */
	assert_int_equal(blk_pwrite(f->bd, w, 1, DISK_SIZE - 1), 0);
	assert_int_equal(blk_pwrite(f->bd, w, 2, DISK_SIZE - 1), -EINVAL);
	assert_int_equal(blk_pread(f->bd, r, 1, DISK_SIZE), -EINVAL);
	/* Overflowing off + len must not wrap into range. */
	assert_int_equal(blk_pread(f->bd, r, 16, UINT64_MAX - 8), -EINVAL);
	assert_int_equal(blk_discard(f->bd, 4096, UINT64_MAX - 100), -EINVAL);
	assert_int_equal(blk_write_zeroes(f->bd, UINT64_MAX, 2, false), -EINVAL);
	assert_int_equal(blk_flush(f->bd), 0);
	free(w);
	free(r);
}

static void test_discard_zeroes_status(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = malloc(1 * MiB);
	uint64_t pnum, host;
	int st;

	/* Fresh sparse file: one hole to the end. */
	assert_int_equal(blk_block_status(f->bd, 0, DISK_SIZE, &pnum, &st, &host), 0);
	assert_true(st & BLK_STATUS_ZERO);
	assert_int_equal(pnum, DISK_SIZE);

	fill(buf, MiB, 2);
	assert_int_equal(blk_pwrite(f->bd, buf, MiB, MiB), 0);
	assert_int_equal(blk_block_status(f->bd, MiB, MiB, &pnum, &st, &host), 0);
	assert_true(st & BLK_STATUS_DATA);
	assert_int_equal(host, MiB);

	assert_int_equal(blk_discard(f->bd, MiB, 256 * KiB), 0);
	assert_int_equal(blk_write_zeroes(f->bd, MiB + 256 * KiB, 256 * KiB, false), 0);
	assert_int_equal(blk_write_zeroes(f->bd, MiB + 512 * KiB, 4 * KiB, true), 0);
	assert_int_equal(blk_pread(f->bd, buf, MiB, MiB), 0);
	assert_true(is_zero(buf, 516 * KiB));
	assert_false(is_zero(buf + 516 * KiB, 4096));
	assert_int_equal(blk_block_status(f->bd, MiB, 4096, &pnum, &st, &host), 0);
	assert_true(st & BLK_STATUS_ZERO); /* the punched hole */

	/* Resize grows with zeroes and shrinks. */
	assert_int_equal(blk_resize(f->bd, DISK_SIZE * 2), 0);
	assert_int_equal(blk_size(f->bd), DISK_SIZE * 2);
	assert_int_equal(blk_pread(f->bd, buf, 4096, DISK_SIZE * 2 - 4096), 0);
	assert_true(is_zero(buf, 4096));
	assert_int_equal(blk_resize(f->bd, DISK_SIZE), 0);
	free(buf);
}

static void test_readonly(void **state)
{
	struct fixture *f = *state;
	struct blk_open_opts o = { .readonly = true };
	struct blkdev *ro;
	struct blk_queue *q;
	uint8_t buf[512] = { 0 };
	struct iovec iov = { buf, sizeof(buf) };
	struct blk_req req = { .op = BLK_OP_WRITE, .iov = &iov, .iovcnt = 1 };

	assert_int_equal(blk_open(f->path, &o, &ro, NULL), 0);
	assert_true(blk_readonly(ro));
	assert_int_equal(blk_pwrite(ro, buf, sizeof(buf), 0), -EROFS);
	assert_int_equal(blk_discard(ro, 0, 4096), -EROFS);
	assert_int_equal(blk_pread(ro, buf, sizeof(buf), 0), 0);
	assert_int_equal(blk_queue_create(ro, 4, &q, NULL), 0);
	req.done = (void (*)(struct blk_req *, int))abort;
	assert_int_equal(blk_submit(q, &req), -EROFS);
	blk_queue_destroy(q);
	blk_close(ro);
}

/* ---- async ----------------------------------------------------------- */

struct actx {
	int completed;
	int errors;
	int last_err;
};

static void req_done(struct blk_req *req, int ret)
{
	struct actx *c = req->opaque;

	c->completed++;
	if (ret) {
		c->errors++;
		c->last_err = ret;
	}
}

/* Wait for the eventfd (bounded) and run completions. */
static int wait_complete(struct blk_queue *q)
{
	struct pollfd pfd = { .fd = blk_queue_fd(q), .events = POLLIN };
	int n = poll(&pfd, 1, 10000);

	assert_true(n == 1);
	return blk_queue_complete(q);
}

/*
 * Submit nreq requests, refilling as completions arrive: exercises
 * -EAGAIN at the depth limit and batching with one kick per batch.
 */
static void run_all(struct blk_queue *q, struct blk_req *reqs, int nreq, struct actx *c,
		    unsigned int depth)
{
	int next = 0, saw_eagain = 0;

	while (c->completed < nreq) {
		while (next < nreq) {
			int ret = blk_submit(q, &reqs[next]);

			if (ret == -EAGAIN) {
				saw_eagain = 1;
				assert_int_equal(blk_queue_inflight(q), depth);
				break;
			}
			assert_int_equal(ret, 0);
			next++;
		}
		blk_queue_kick(q);
		wait_complete(q);
	}
	assert_int_equal(blk_queue_inflight(q), 0);
	if (nreq > (int)depth)
		assert_true(saw_eagain);
}

static void async_rw(struct blkdev *bd, bool force_worker)
{
	const unsigned int depth = 32;
	struct blk_queue *q;
	struct blk_req *reqs = calloc(NREQ, sizeof(*reqs));
	struct iovec *iov = calloc(NREQ * 2, sizeof(*iov));
	uint8_t *data = malloc(NREQ * BS), *back = malloc(NREQ * BS);
	struct actx c = { 0 };

	assert_int_equal(blk_queue_create_engine(bd, depth, force_worker, &q, NULL), 0);
	if (force_worker) {
		assert_false(blk_queue_uses_uring(q));
	} else {
		/* Where the kernel offers io_uring, raw uses it for everything and
		 * qcow2 for the reads it can map. */
		struct io_uring ring;

		if (io_uring_queue_init(4, &ring, 0) == 0) {
			io_uring_queue_exit(&ring);
			assert_true(blk_queue_uses_uring(q));
		}
	}
	fill(data, NREQ * BS, force_worker ? 7 : 9);

	/* Writes of 4 KiB, each split in two iovecs, in a scattered order. */
	for (int i = 0; i < NREQ; i++) {
		int blk = (i * 37) % NREQ;

		iov[2 * i] = (struct iovec){ data + blk * BS, 1000 };
		iov[2 * i + 1] = (struct iovec){ data + blk * BS + 1000, BS - 1000 };
		reqs[i] = (struct blk_req){ .op = BLK_OP_WRITE,
					    .offset = (uint64_t)blk * BS,
					    .iov = &iov[2 * i],
					    .iovcnt = 2,
					    .done = req_done,
					    .opaque = &c };
	}
	run_all(q, reqs, NREQ, &c, depth);
	assert_int_equal(c.errors, 0);

	/* A flush, then read everything back asynchronously. */
	memset(&c, 0, sizeof(c));
	reqs[0] = (struct blk_req){ .op = BLK_OP_FLUSH, .done = req_done, .opaque = &c };
	run_all(q, reqs, 1, &c, depth);
	assert_int_equal(c.errors, 0);

	memset(&c, 0, sizeof(c));
	memset(back, 0xaa, NREQ * BS);
	for (int i = 0; i < NREQ; i++) {
		iov[i] = (struct iovec){ back + i * BS, BS };
		reqs[i] = (struct blk_req){ .op = BLK_OP_READ,
					    .offset = (uint64_t)i * BS,
					    .iov = &iov[i],
					    .iovcnt = 1,
					    .done = req_done,
					    .opaque = &c };
	}
	run_all(q, reqs, NREQ, &c, depth);
	assert_int_equal(c.errors, 0);
	assert_memory_equal(data, back, NREQ * BS);
	/* qcow2 (4 KiB clusters, all allocated now): every read takes the fast path. */
	if (blk_queue_uses_uring(q) && !(bd->drv->flags & BLK_DRV_NATIVE_AIO))
		assert_int_equal(blk_queue_nr_mapped(q), NREQ);

	/* Discard + write-zeroes (both modes), checked through the sync API. */
	memset(&c, 0, sizeof(c));
	reqs[0] = (struct blk_req){
		.op = BLK_OP_DISCARD, .offset = 0, .len = 16 * BS, .done = req_done, .opaque = &c
	};
	reqs[1] = (struct blk_req){ .op = BLK_OP_WRITE_ZEROES,
				    .offset = 16 * BS,
				    .len = 16 * BS,
				    .done = req_done,
				    .opaque = &c };
	reqs[2] = (struct blk_req){ .op = BLK_OP_WRITE_ZEROES,
				    .offset = 32 * BS,
				    .len = 3 * BS,
				    .flags = BLK_REQ_MAY_UNMAP,
				    .done = req_done,
				    .opaque = &c };
	run_all(q, reqs, 3, &c, depth);
	assert_int_equal(c.errors, 0);
	assert_int_equal(blk_pread(bd, back, 36 * BS, 0), 0);
	assert_true(is_zero(back, 35 * BS));
	assert_memory_equal(back + 35 * BS, data + 35 * BS, BS);

	/* Out of range: refused at submit, done() never runs. */
	memset(&c, 0, sizeof(c));
	iov[0] = (struct iovec){ back, BS };
	reqs[0] = (struct blk_req){ .op = BLK_OP_READ,
				    .offset = blk_size(bd) - 512,
				    .iov = &iov[0],
				    .iovcnt = 1,
				    .done = req_done,
				    .opaque = &c };
	assert_int_equal(blk_submit(q, &reqs[0]), -EINVAL);
	reqs[0].offset = UINT64_MAX - 100;
	assert_int_equal(blk_submit(q, &reqs[0]), -EINVAL);
	reqs[0] = (struct blk_req){ .op = BLK_OP_DISCARD,
				    .offset = 4096,
				    .len = UINT64_MAX,
				    .done = req_done,
				    .opaque = &c };
	assert_int_equal(blk_submit(q, &reqs[0]), -EINVAL);
	reqs[0] = (struct blk_req){ .op = 99, .done = req_done, .opaque = &c };
	assert_int_equal(blk_submit(q, &reqs[0]), -EINVAL);
	reqs[0] = (struct blk_req){ .op = BLK_OP_FLUSH }; /* no callback */
	assert_int_equal(blk_submit(q, &reqs[0]), -EINVAL);
	assert_int_equal(blk_queue_inflight(q), 0);
	assert_int_equal(c.completed, 0);

	/* Destroy with requests still in flight: their callbacks run. */
	for (int i = 0; i < 8; i++) {
		iov[i] = (struct iovec){ back + i * BS, BS };
		reqs[i] = (struct blk_req){ .op = BLK_OP_READ,
					    .offset = (uint64_t)i * BS,
					    .iov = &iov[i],
					    .iovcnt = 1,
					    .done = req_done,
					    .opaque = &c };
		assert_int_equal(blk_submit(q, &reqs[i]), 0);
	}
	blk_queue_destroy(q);
	assert_int_equal(c.completed, 8);

	free(reqs);
	free(iov);
	free(data);
	free(back);
}

static void test_async_uring(void **state)
{
	struct fixture *f = *state;

	async_rw(f->bd, false);
}

static void test_async_worker(void **state)
{
	struct fixture *f = *state;

	async_rw(f->bd, true);
}

/*
 * An I/O error reaches done() as -errno, for both engines: the image fd
 * is swapped for a read-only one behind the block layer's back, so the
 * kernel refuses the write with EBADF.
 */
static void test_async_error_in_done(void **state)
{
	struct fixture *f = *state;
	int rofd = open(f->path, O_RDONLY | O_CLOEXEC), rwfd = f->bd->fd;
	uint8_t buf[4096] = { 1 };
	struct iovec iov = { buf, sizeof(buf) };

	assert_true(rofd >= 0);
	f->bd->fd = rofd;
	for (int worker = 0; worker < 2; worker++) {
		struct blk_req req = { .op = BLK_OP_WRITE,
				       .offset = 8192,
				       .iov = &iov,
				       .iovcnt = 1,
				       .done = req_done };
		struct actx c = { 0 };
		struct blk_queue *q;

		req.opaque = &c;
		assert_int_equal(blk_queue_create_engine(f->bd, 4, worker, &q, NULL), 0);
		assert_int_equal(blk_submit(q, &req), 0);
		blk_queue_kick(q);
		while (!c.completed)
			wait_complete(q);
		assert_int_equal(c.errors, 1);
		assert_int_equal(c.last_err, -EBADF);
		blk_queue_destroy(q);
	}
	f->bd->fd = rwfd;
	close(rofd);
}

/* O_DIRECT (where the file system has it) with unaligned buffers. */
static void test_direct(void **state)
{
	struct fixture *f = *state;
	struct blk_open_opts o = { .direct = true };
	struct blkdev *bd;
	uint8_t *w = malloc(10000), *r = malloc(10000);
	struct blk_queue *q;
	struct actx c = { 0 };
	struct iovec iov = { r + 1, 5000 };
	struct blk_req req = { .op = BLK_OP_READ,
			       .offset = 777,
			       .iov = &iov,
			       .iovcnt = 1,
			       .done = req_done,
			       .opaque = &c };

	if (blk_open(f->path, &o, &bd, NULL) < 0) {
		free(w);
		free(r);
		skip(); /* tmpfs and some others refuse O_DIRECT */
	}
	fill(w, 10000, 3);
	assert_int_equal(blk_pwrite(bd, w + 3, 5000, 777), 0);
	assert_int_equal(blk_pread(bd, r + 1, 5000, 777), 0);
	assert_memory_equal(w + 3, r + 1, 5000);
	memset(r, 0, 10000);
	assert_int_equal(blk_queue_create(bd, 4, &q, NULL), 0);
	assert_int_equal(blk_submit(q, &req), 0);
	blk_queue_kick(q);
	while (!c.completed)
		wait_complete(q);
	assert_int_equal(c.errors, 0);
	assert_memory_equal(w + 3, r + 1, 5000);
	blk_queue_destroy(q);
	blk_close(bd);
	free(w);
	free(r);
}

/* ---- qcow2 through the queue: worker for writes, mapped reads -------- */

static int setup_qcow2(void **state)
{
	const char *dir = getenv("UNIT_TMPDIR");
	struct blk_create_opts co = { .size = DISK_SIZE, .cluster_size = 4096 };
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/test_block_%d.qcow2", dir ? dir : "/tmp",
		 (int)getpid());
	if (blk_create("qcow2", f->path, &co, NULL) < 0 ||
	    blk_open(f->path, NULL, &f->bd, NULL) < 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static void test_qcow2_async_uring(void **state)
{
	struct fixture *f = *state;

	assert_string_equal(blk_format(f->bd), "qcow2");
	async_rw(f->bd, false);
}

static void test_qcow2_async_worker(void **state)
{
	struct fixture *f = *state;

	async_rw(f->bd, true);
}

/*
 * An overlay on a raw backing file: mapped reads must find data in the
 * overlay, in the backing file, zeroes past the backing file's end, and
 * fall back to the worker for a read straddling two mappings.
 */
static void test_qcow2_backing_reads(void **state)
{
	const char *dir = getenv("UNIT_TMPDIR");
	char base[512], top[512];
	struct blk_create_opts bo = { .size = 2 * MiB };
	struct blk_create_opts to = {
		.size = 4 * MiB, .backing_file = base, .backing_fmt = "raw", .cluster_size = 65536
	};
	struct blkdev *braw, *bd;
	uint8_t *pat = malloc(2 * MiB), *buf = malloc(4 * MiB), *want = calloc(1, 4 * MiB);
	struct blk_queue *q;
	struct blk_req reqs[6];
	struct iovec iov[6];
	struct actx c = { 0 };
	/* offset, length of each read */
	static const uint64_t rd[6][2] = {
		{ 0, 4096 },		  /* backing data */
		{ 65536, 65536 },	  /* overlay data */
		{ 65536 - 4096, 8192 },	  /* straddles backing + overlay */
		{ 3 * MiB, 65536 },	  /* past the backing file: zeroes */
		{ 2 * MiB - 4096, 8192 }, /* straddles the backing file's end */
		{ 131072 + 512, 1000 },	  /* zero cluster in the overlay */
	};

	snprintf(base, sizeof(base), "%s/test_block_%d.base", dir ? dir : "/tmp", (int)getpid());
	snprintf(top, sizeof(top), "%s/test_block_%d.top", dir ? dir : "/tmp", (int)getpid());
	assert_int_equal(blk_create("raw", base, &bo, NULL), 0);
	assert_int_equal(blk_open(base, &(struct blk_open_opts){ .format = "raw" }, &braw, NULL),
			 0);
	fill(pat, 2 * MiB, 5);
	assert_int_equal(blk_pwrite(braw, pat, 2 * MiB, 0), 0);
	blk_close(braw);
	assert_int_equal(blk_create("qcow2", top, &to, NULL), 0);
	assert_int_equal(blk_open(top, NULL, &bd, NULL), 0);
	assert_non_null(bd->backing);

	memcpy(want, pat, 2 * MiB);
	fill(want + 65536, 65536, 6);
	assert_int_equal(blk_pwrite(bd, want + 65536, 65536, 65536), 0);
	memset(want + 131072, 0, 65536);
	assert_int_equal(blk_write_zeroes(bd, 131072, 65536, false), 0);

	assert_int_equal(blk_queue_create(bd, 8, &q, NULL), 0);
	memset(buf, 0xee, 4 * MiB);
	for (int i = 0; i < 6; i++) {
		iov[i] = (struct iovec){ buf + rd[i][0], rd[i][1] };
		reqs[i] = (struct blk_req){ .op = BLK_OP_READ,
					    .offset = rd[i][0],
					    .iov = &iov[i],
					    .iovcnt = 1,
					    .done = req_done,
					    .opaque = &c };
	}
	/* Overlapping buffers are fine: the reads return the same bytes. */
	run_all(q, reqs, 6, &c, 8);
	assert_int_equal(c.errors, 0);
	if (blk_queue_uses_uring(q))
		assert_int_equal(blk_queue_nr_mapped(q), 4); /* all but the straddling two */
	for (int i = 0; i < 6; i++)
		assert_memory_equal(buf + rd[i][0], want + rd[i][0], rd[i][1]);
	blk_queue_destroy(q);
	blk_close(bd);
	unlink(top);
	unlink(base);
	free(pat);
	free(buf);
	free(want);
}

/*
 * Mapped reads on the submitting thread while the worker allocates other
 * clusters of the same image (the L2 tables and refcounts change under
 * the reads): every read must return the data of its own range.
 */
static void test_qcow2_mixed(void **state)
{
	struct fixture *f = *state;
	const int n = 256;
	struct blk_req *reqs = calloc((size_t)n * 2, sizeof(*reqs));
	struct iovec *iov = calloc((size_t)n * 2, sizeof(*iov));
	uint8_t *data = malloc((size_t)n * 2 * BS), *back = malloc((size_t)n * 2 * BS);
	struct blk_queue *q;
	struct actx c = { 0 };

	fill(data, (size_t)n * 2 * BS, 11);
	for (int i = 0; i < n; i++) /* even blocks first, synchronously */
		assert_int_equal(blk_pwrite(f->bd, data + 2 * i * BS, BS, (uint64_t)2 * i * BS), 0);
	assert_int_equal(blk_queue_create(f->bd, 64, &q, NULL), 0);
	for (int i = 0; i < n; i++) {
		/* write odd block i, read even block i, interleaved */
		iov[2 * i] = (struct iovec){ data + (2 * i + 1) * BS, BS };
		reqs[2 * i] = (struct blk_req){ .op = BLK_OP_WRITE,
						.offset = (uint64_t)(2 * i + 1) * BS,
						.iov = &iov[2 * i],
						.iovcnt = 1,
						.done = req_done,
						.opaque = &c };
		iov[2 * i + 1] = (struct iovec){ back + 2 * i * BS, BS };
		reqs[2 * i + 1] = (struct blk_req){ .op = BLK_OP_READ,
						    .offset = (uint64_t)2 * i * BS,
						    .iov = &iov[2 * i + 1],
						    .iovcnt = 1,
						    .done = req_done,
						    .opaque = &c };
	}
	run_all(q, reqs, 2 * n, &c, 64);
	assert_int_equal(c.errors, 0);
	for (int i = 0; i < n; i++)
		assert_memory_equal(back + 2 * i * BS, data + 2 * i * BS, BS);
	blk_queue_destroy(q);
	assert_int_equal(blk_pread(f->bd, back, (size_t)n * 2 * BS, 0), 0);
	assert_memory_equal(back, data, (size_t)n * 2 * BS);
	free(reqs);
	free(iov);
	free(data);
	free(back);
}

/* ---- issue 9: hostile images and files ----------------------------- */

static void tmp_path(char *buf, size_t len, const char *name)
{
	const char *dir = getenv("UNIT_TMPDIR");

	snprintf(buf, len, "%s/test_block_%d_%s", dir ? dir : "/tmp", (int)getpid(), name);
	unlink(buf);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size);
	assert_non_null(buf);
	assert_int_equal(pread_full(fd, buf, (size_t)st.st_size, 0), 0);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

/*
 * Item 2: a FIFO (or any file that is not a regular file or a block
 * device) as an image or as a backing file is refused at once.  Before,
 * open(2) or the probe's read blocked for good: SIGALRM ends the test
 * then instead of hanging it.
 */
static void test_fifo_refused(void **state)
{
	struct blk_create_opts co = { .size = MiB, .backing_fmt = "raw" };
	struct blk_open_opts ro = { .readonly = true };
	char fifo[512], top[512];
	struct blkdev *bd = (void *)1;
	const char *fmt;

	(void)state;
	tmp_path(fifo, sizeof(fifo), "fifo");
	tmp_path(top, sizeof(top), "fifo-top.qcow2");
	assert_int_equal(mkfifo(fifo, 0600), 0);
	co.backing_file = fifo;
	assert_int_equal(blk_create("qcow2", top, &co, NULL), 0);
	alarm(20);
	assert_int_equal(blk_open(fifo, NULL, &bd, NULL), -EINVAL);
	assert_null(bd);
	assert_int_equal(blk_open(fifo, &ro, &bd, NULL), -EINVAL);
	assert_int_equal(blk_probe_format(fifo, &fmt, NULL), -EINVAL);
	assert_int_equal(blk_open(top, &ro, &bd, NULL), -EINVAL);
	assert_int_equal(blk_open("/dev/null", &ro, &bd, NULL), -EINVAL);
	assert_int_equal(
		blk_open(getenv("UNIT_TMPDIR") ? getenv("UNIT_TMPDIR") : "/tmp", &ro, &bd, NULL),
		-EINVAL);
	alarm(0);
	unlink(fifo);
	unlink(top);
}

/* Submit one write through a queue and return its result. */
static int queue_write(struct blkdev *bd, bool force_worker, const void *buf, size_t len,
		       uint64_t off)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct actx c = { 0 };
	struct blk_req req = { .op = BLK_OP_WRITE,
			       .offset = off,
			       .iov = &iov,
			       .iovcnt = 1,
			       .done = req_done,
			       .opaque = &c };
	struct blk_queue *q;

	assert_int_equal(blk_queue_create_engine(bd, 4, force_worker, &q, NULL), 0);
	assert_int_equal(blk_submit(q, &req), 0);
	blk_queue_kick(q);
	while (!c.completed)
		wait_complete(q);
	blk_queue_destroy(q);
	return c.last_err;
}

/*
 * Item 1: a guest writes a qcow2 image, whose backing file is a host file
 * it must not read, over its probed raw disk.  The first-sector write is
 * refused (as QEMU does for probed raw images), through the sync API and
 * both queue engines, so the disk still probes as raw and the next open
 * serves the guest its own bytes, not the host file.  Without the guard
 * the reopen gave a qcow2 image reading the secret.
 */
static void test_probed_raw_guard(void **state)
{
	static const char secret_text[] = "root-only secret, never for the guest";
	struct blk_create_opts vo = { .size = 4 * MiB };
	struct blk_create_opts eo = { .size = 4 * MiB, .backing_fmt = "raw" };
	char victim[512], secret[512], evil[512];
	uint8_t *img, sec[512], back[512], *big;
	struct blk_open_opts as_raw = { .format = "raw" };
	struct blkdev *bd;
	size_t len;
	int fd;

	(void)state;
	tmp_path(victim, sizeof(victim), "victim.raw");
	tmp_path(secret, sizeof(secret), "secret");
	tmp_path(evil, sizeof(evil), "evil.qcow2");
	fd = open(secret, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	assert_true(fd >= 0);
	big = calloc(1, 4 * MiB);
	assert_non_null(big);
	for (size_t i = 0; i < 4 * MiB; i += sizeof(secret_text))
		memcpy(big + i, secret_text, MIN(sizeof(secret_text), 4 * MiB - i));
	assert_int_equal(pwrite_full(fd, big, 4 * MiB, 0), 0);
	close(fd);
	eo.backing_file = secret;
	assert_int_equal(blk_create("qcow2", evil, &eo, NULL), 0);
	img = slurp(evil, &len);
	assert_true(len <= 4 * MiB && len > 512);
	assert_int_equal(blk_create("raw", victim, &vo, NULL), 0);

	assert_int_equal(blk_open(victim, NULL, &bd, NULL), 0);
	assert_true(bd->probed);
	/* The whole image at once, sector 0 alone, and sector 0 in two parts. */
	assert_int_equal(blk_pwrite(bd, img, len, 0), -EPERM);
	assert_int_equal(blk_pwrite(bd, img, 512, 0), -EPERM);
	assert_int_equal(blk_pwrite(bd, img, 2, 0), 0); /* "QF": still raw */
	assert_int_equal(blk_pwrite(bd, img + 2, 2, 2), -EPERM);
	assert_int_equal(queue_write(bd, false, img, 4096, 0), -EPERM);
	assert_int_equal(queue_write(bd, true, img, 4096, 0), -EPERM);
	/* Everything past the first sector is the guest's business. */
	assert_int_equal(blk_pwrite(bd, img + 512, len - 512, 512), 0);
	/* As is a first sector that stays raw. */
	memset(sec, 0xa5, sizeof(sec));
	assert_int_equal(queue_write(bd, false, sec, 512, 0), 0);
	assert_int_equal(blk_pread(bd, back, 512, 0), 0);
	assert_memory_equal(back, sec, 512);
	blk_close(bd);

	/* Next start: still raw, and the guest reads its own data. */
	assert_int_equal(blk_open(victim, NULL, &bd, NULL), 0);
	assert_string_equal(blk_format(bd), "raw");
	assert_int_equal(blk_pread(bd, big, 4 * MiB, 0), 0);
	assert_null(memmem(big, 4 * MiB, secret_text, sizeof(secret_text) - 1));
	blk_close(bd);

	/* format=raw given: nothing is probed, the guest may write anything. */
	assert_int_equal(blk_open(victim, &as_raw, &bd, NULL), 0);
	assert_false(bd->probed);
	assert_int_equal(blk_pwrite(bd, img, 512, 0), 0);
	blk_close(bd);
	unlink(victim);
	unlink(secret);
	unlink(evil);
	free(img);
	free(big);
}

/*
 * Item 1: "backing": false / backing=off.  An image naming a backing file
 * is refused before that file is looked at (here a FIFO, which would
 * otherwise be reported as such); one without opens as usual.
 */
static void test_forbid_backing(void **state)
{
	struct blk_create_opts co = { .size = MiB, .backing_fmt = "raw" };
	struct blk_open_opts o = { .forbid_backing = true };
	char fifo[512], top[512], plain[512];
	struct blkdev *bd = (void *)1;

	(void)state;
	tmp_path(fifo, sizeof(fifo), "nb-fifo");
	tmp_path(top, sizeof(top), "nb-top.qcow2");
	tmp_path(plain, sizeof(plain), "nb-plain.qcow2");
	assert_int_equal(mkfifo(fifo, 0600), 0);
	co.backing_file = fifo;
	assert_int_equal(blk_create("qcow2", top, &co, NULL), 0);
	co.backing_file = NULL;
	co.backing_fmt = NULL;
	assert_int_equal(blk_create("qcow2", plain, &co, NULL), 0);
	alarm(20);
	assert_int_equal(blk_open(top, &o, &bd, NULL), -EPERM);
	assert_null(bd);
	o.readonly = true;
	assert_int_equal(blk_open(top, &o, &bd, NULL), -EPERM);
	alarm(0);
	assert_int_equal(blk_open(plain, &o, &bd, NULL), 0);
	assert_null(bd->backing_file);
	blk_close(bd);
	unlink(fifo);
	unlink(top);
	unlink(plain);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_errors, setup_raw, teardown_raw),
		cmocka_unit_test_setup_teardown(test_open_error_messages, setup_raw, teardown_raw),
		cmocka_unit_test_setup_teardown(test_sync_rw, setup_raw, teardown_raw),
		cmocka_unit_test_setup_teardown(test_discard_zeroes_status, setup_raw,
						teardown_raw),
		cmocka_unit_test_setup_teardown(test_readonly, setup_raw, teardown_raw),
		cmocka_unit_test_setup_teardown(test_async_uring, setup_raw, teardown_raw),
		cmocka_unit_test_setup_teardown(test_async_worker, setup_raw, teardown_raw),
		cmocka_unit_test_setup_teardown(test_async_error_in_done, setup_raw, teardown_raw),
		cmocka_unit_test_setup_teardown(test_direct, setup_raw, teardown_raw),
		cmocka_unit_test_setup_teardown(test_qcow2_async_uring, setup_qcow2, teardown_raw),
		cmocka_unit_test_setup_teardown(test_qcow2_async_worker, setup_qcow2, teardown_raw),
		cmocka_unit_test(test_qcow2_backing_reads),
		cmocka_unit_test_setup_teardown(test_qcow2_mixed, setup_qcow2, teardown_raw),
		cmocka_unit_test(test_fifo_refused),
		cmocka_unit_test(test_probed_raw_guard),
		cmocka_unit_test(test_forbid_backing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
