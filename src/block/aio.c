// SPDX-License-Identifier: MIT
/*
 * Asynchronous block I/O: struct blk_queue.
 *
 * Two engines behind one interface:
 *
 *  - io_uring (liburing) for drivers flagged BLK_DRV_NATIVE_AIO (raw):
 *    readv/writev/fsync(IORING_FSYNC_DATASYNC)/fallocate SQEs straight on
 *    the image fd.  blk_submit() only prepares SQEs; blk_queue_kick()
 *    does one io_uring_submit() for the whole batch.  An eventfd is
 *    registered with io_uring_register_eventfd(3), so the kernel makes it
 *    readable whenever a CQE is posted and the owner's epoll loop needs
 *    no io_uring knowledge.
 *
 *  - a worker thread, one per queue (never one per request), for the
 *    other drivers (qcow2): it runs the synchronous driver ops in
 *    submission order and posts finished requests on a list, then
 *    writes the same kind of eventfd.  Also the fallback when io_uring
 *    is not available (old kernel, seccomp, io_uring_disabled sysctl).
 *
 *    Reads, the bulk of guest I/O, mostly skip the worker: blk_submit()
 *    asks the driver's block_status() where the range lives (a cached L2
 *    lookup for qcow2, taken with trylock so the event loop never waits
 *    on the worker) and, when the whole range is plain data at one host
 *    offset of this image or of a backing file, reads it with io_uring
 *    right there; ranges that read as zeroes complete without I/O.
 *    Everything else (compressed clusters, ranges that span several
 *    mappings, writes, which may allocate) goes to the worker.  Reads
 *    racing with writes or discards of the same range have no defined
 *    result in virtio-blk either, so the guest cannot tell.
 *
 * Either way done() callbacks run only in blk_queue_complete(), in the
 * owner's thread, so device code needs no locking of its own.
 */
#include "block/block-int.h"
#include "block/block.h"
#include "util/error.h"
#include "util/log.h"
#include "util/syscall-filter.h"
#include "util/threads.h"
#include "util/util.h"

#include <errno.h>
#include <sys/syscall.h>
#include <linux/falloc.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct blk_list {
	struct blk_req *head, *tail;
};

struct blk_queue {
	struct blkdev *bd;
	unsigned int depth;
	unsigned int inflight; /* submitted, done() not yet run (owner thread only) */
	int efd;
	bool uring;		    /* the ring is set up */
	bool all_uring;		    /* every request goes through it (BLK_DRV_NATIVE_AIO) */
	struct blk_list local_done; /* finished without I/O (owner thread only) */
	uint64_t nr_mapped;	    /* reads served by the fast path (stats, tests) */

	/* io_uring engine */
	struct io_uring ring;
	unsigned int unsubmitted; /* SQEs prepared since the last kick */

	/* worker engine */
	struct blk_list batch; /* submitted, not yet kicked (owner thread only) */
	pthread_t worker;
	bool worker_started;
	pthread_mutex_t mu; /* protects work, done, stop */
	pthread_cond_t cv;
	struct blk_list work;
	struct blk_list done;
	bool stop;
};

static void list_add(struct blk_list *l, struct blk_req *r)
{
	r->next = NULL;
	if (l->tail)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
}

static void list_splice(struct blk_list *dst, struct blk_list *src)
{
	if (!src->head)
		return;
	if (dst->tail)
		dst->tail->next = src->head;
	else
		dst->head = src->head;
	dst->tail = src->tail;
	src->head = src->tail = NULL;
}

static void efd_signal(int efd)
{
	uint64_t one = 1;

	/* Cannot fail short of a counter overflow, which needs 2^64 posts. */
	if (write(efd, &one, sizeof(one)) < 0)
		log_warn("block: eventfd write failed: %s", strerror(errno));
}

/* Run one request synchronously (worker thread, and io_uring fallbacks). */
static int blk_req_run_sync(struct blkdev *bd, struct blk_req *r)
{
	switch (r->op) {
	case BLK_OP_READ:
		return blk_preadv(bd, r->iov, r->iovcnt, r->offset);
	case BLK_OP_WRITE:
		return blk_pwritev(bd, r->iov, r->iovcnt, r->offset);
	case BLK_OP_FLUSH:
		return blk_flush(bd);
	case BLK_OP_DISCARD:
		return blk_discard(bd, r->offset, r->len);
	case BLK_OP_WRITE_ZEROES:
		return blk_write_zeroes(bd, r->offset, r->len, r->flags & BLK_REQ_MAY_UNMAP);
	}
	return -EINVAL;
}

/*
 * seccomp does not see what an io_uring does: a ring could open files
 * (IORING_OP_OPENAT) that the filters forbid.  So a ring starts disabled
 * and allows only the four operations blk_submit_uring() prepares, and no
 * registration at all, before it is enabled (io_uring_register(2),
 * IORING_REGISTER_RESTRICTIONS).  A kernel without restrictions (before
 * 5.10) gets a plain ring.
 */
static int blk_ring_init(struct blk_queue *q, unsigned int depth)
{
	static const __u8 ops[] = { IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC,
				    IORING_OP_FALLOCATE };
	struct io_uring_restriction res[ARRAY_SIZE(ops)];
	bool restricted = true;
	int ret;

	memset(res, 0, sizeof(res));
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
		res[i].opcode = IORING_RESTRICTION_SQE_OP;
		res[i].sqe_op = ops[i];
	}
	ret = io_uring_queue_init(depth, &q->ring, IORING_SETUP_R_DISABLED);
	if (ret == -EINVAL) {
		restricted = false;
		ret = io_uring_queue_init(depth, &q->ring, 0);
	}
	if (ret)
		return ret;
	ret = io_uring_register_eventfd(&q->ring, q->efd);
	/* raw calls: Debian's liburing 2.3 does not export its wrappers */
	if (!ret && restricted &&
	    syscall(__NR_io_uring_register, q->ring.ring_fd, IORING_REGISTER_RESTRICTIONS, res,
		    ARRAY_SIZE(res)) < 0)
		ret = -errno;
	if (!ret && restricted &&
	    syscall(__NR_io_uring_register, q->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL,
		    0) < 0)
		ret = -errno;
	if (ret)
		io_uring_queue_exit(&q->ring);
	return ret;
}

static void *blk_worker_main(void *arg)
{
	struct blk_queue *q = arg;
	struct blk_req *r;
	bool broken = false;

	threads_register(THREAD_BLOCK, NULL); /* for emulatorpin (util/threads.h) */
	/* A VMM's worker (the mode is off elsewhere): I/O on the fds it holds. */
	if (syscall_filter_install(THREAD_BLOCK)) {
		log_err("block: no seccomp filter, the worker fails its requests");
		broken = true;
	}
	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (!q->work.head && !q->stop)
			pthread_cond_wait(&q->cv, &q->mu);
		if (!q->work.head)
			break; /* stop, and nothing left */
		r = q->work.head;
		q->work.head = r->next;
		if (!q->work.head)
			q->work.tail = NULL;
		pthread_mutex_unlock(&q->mu);

		r->ret = broken ? -EIO : blk_req_run_sync(q->bd, r);

		pthread_mutex_lock(&q->mu);
		/*
		 * Signal only when the list was empty: otherwise the owner has
		 * not collected it yet, and blk_queue_complete() reads the
		 * eventfd before taking the list, so nothing is missed.
		 */
		if (!q->done.head)
			efd_signal(q->efd);
		list_add(&q->done, r);
	}
	pthread_mutex_unlock(&q->mu);
	threads_unregister();
	return NULL;
}

int blk_queue_create_engine(struct blkdev *bd, unsigned int depth, bool force_worker,
			    struct blk_queue **out, struct error *err)
{
	struct blk_queue *q;
	int ret;

	*out = NULL;
	if (depth == 0 || depth > 4096)
		return error_setf(err, -EINVAL,
				  "'%s': I/O queue depth %u is out of range (1..4096)", bd->path,
				  depth);
	q = calloc(1, sizeof(*q));
	if (!q)
		return error_setf(err, -ENOMEM, "'%s': no memory for an I/O queue", bd->path);
	q->bd = bd;
	q->depth = depth;
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->efd < 0) {
		ret = -errno;
		free(q);
		return error_set_errno(err, ret, "'%s': I/O queue: eventfd", bd->path);
	}
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);

	if (!force_worker && ((bd->drv->flags & BLK_DRV_NATIVE_AIO) || bd->drv->block_status)) {
		ret = blk_ring_init(q, depth);
		if (ret == 0)
			q->uring = true;
		if (!q->uring)
			log_info("block: io_uring unavailable (%s), using a worker thread",
				 strerror(-ret));
	}
	q->all_uring = q->uring && (bd->drv->flags & BLK_DRV_NATIVE_AIO);
	if (!q->all_uring) {
		ret = -pthread_create(&q->worker, NULL, blk_worker_main, q);
		if (ret < 0) {
			pthread_cond_destroy(&q->cv);
			pthread_mutex_destroy(&q->mu);
			close(q->efd);
			free(q);
			return error_set_errno(err, ret,
					       "'%s': I/O queue: cannot start its worker thread",
					       bd->path);
		}
		q->worker_started = true;
	}
	*out = q;
	return 0;
}

int blk_queue_create(struct blkdev *bd, unsigned int depth, struct blk_queue **out,
		     struct error *err)
{
	return blk_queue_create_engine(bd, depth, false, out, err);
}

int blk_queue_fd(struct blk_queue *q)
{
	return q->efd;
}

unsigned int blk_queue_inflight(const struct blk_queue *q)
{
	return q->inflight;
}

uint64_t blk_queue_nr_mapped(const struct blk_queue *q)
{
	return q->nr_mapped;
}

bool blk_queue_uses_uring(const struct blk_queue *q)
{
	return q->uring;
}

/* Checks shared by both engines; done() is never called for a refusal. */
static int blk_req_check(struct blk_queue *q, struct blk_req *r)
{
	struct blkdev *bd = q->bd;

	if (!r->done)
		return -EINVAL;
	switch (r->op) {
	case BLK_OP_READ:
		return blk_check_rw(bd, r->iov, r->iovcnt, r->offset, false);
	case BLK_OP_WRITE:
		return blk_check_rw(bd, r->iov, r->iovcnt, r->offset, true);
	case BLK_OP_FLUSH:
		return 0;
	case BLK_OP_DISCARD:
	case BLK_OP_WRITE_ZEROES:
		if (bd->readonly)
			return -EROFS;
		if (blk_check_range(bd, r->offset, r->len) < 0)
			return -EINVAL;
		if (r->op == BLK_OP_DISCARD ? !bd->drv->discard : !bd->drv->write_zeroes)
			return -ENOTSUP;
		return 0;
	}
	return -EINVAL;
}

/* Prepare the SQE of a request on fd; host_off is where r->offset lives there. */
static int blk_submit_uring(struct blk_queue *q, struct blk_req *r, int fd, uint64_t host_off)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
	int mode;

	if (!sqe) {
		/* SQ ring full of unsubmitted entries: flush them and retry. */
		blk_queue_kick(q);
		sqe = io_uring_get_sqe(&q->ring);
		if (!sqe)
			return -EAGAIN;
	}
	switch (r->op) {
	case BLK_OP_READ:
		io_uring_prep_readv(sqe, fd, r->iov, (unsigned int)r->iovcnt, host_off);
		break;
	case BLK_OP_WRITE:
		io_uring_prep_writev(sqe, fd, r->iov, (unsigned int)r->iovcnt, host_off);
		break;
	case BLK_OP_FLUSH:
		io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
		break;
	case BLK_OP_DISCARD:
	case BLK_OP_WRITE_ZEROES:
		/* A punched hole reads back as zeroes (fallocate(2)). */
		mode = (r->op == BLK_OP_DISCARD || (r->flags & BLK_REQ_MAY_UNMAP))
			       ? FALLOC_FL_PUNCH_HOLE
			       : FALLOC_FL_ZERO_RANGE;
		io_uring_prep_fallocate(sqe, fd, mode | FALLOC_FL_KEEP_SIZE, (off_t)r->offset,
					(off_t)r->len);
		break;
	}
	io_uring_sqe_set_data(sqe, r);
	q->unsubmitted++;
	return 0;
}

static size_t iov_len_total(const struct iovec *iov, int iovcnt)
{
	size_t t = 0;

	for (int i = 0; i < iovcnt; i++)
		t += iov[i].iov_len;
	return t;
}

/* block_status of one layer without waiting for its lock. */
static int blk_try_status(struct blkdev *bd, uint64_t off, uint64_t len, uint64_t *pnum, int *st,
			  uint64_t *host)
{
	bool locked = !(bd->drv->flags & BLK_DRV_THREAD_SAFE);
	int ret;

	if (locked && pthread_mutex_trylock(&bd->lock))
		return -EBUSY;
	ret = bd->drv->block_status(bd, off, len, pnum, st, host);
	if (locked)
		pthread_mutex_unlock(&bd->lock);
	return ret;
}

/*
 * Fast path of a read on a driver without native AIO (see the top of the
 * file): 0 if the request was queued on the ring or completed without
 * I/O, -EAGAIN to send it to the worker.
 */
static int blk_submit_mapped_read(struct blk_queue *q, struct blk_req *r)
{
	struct blkdev *layer = q->bd;
	uint64_t off = r->offset, len = iov_len_total(r->iov, r->iovcnt);

	if (!len)
		return -EAGAIN;
	for (int depth = 0; depth < 64; depth++) {
		uint64_t pnum, host = 0;
		int st;

		if (layer->drv->flags & BLK_DRV_NATIVE_AIO)
			goto io;
		if (!layer->drv->block_status ||
		    blk_try_status(layer, off, len, &pnum, &st, &host) < 0 || pnum < len)
			return -EAGAIN;
		if (st & BLK_STATUS_ALLOCATED) {
			if (st & BLK_STATUS_ZERO)
				goto zero;
			if ((st & (BLK_STATUS_DATA | BLK_STATUS_OFFSET_VALID)) !=
				    (BLK_STATUS_DATA | BLK_STATUS_OFFSET_VALID) ||
			    (st & BLK_STATUS_COMPRESSED))
				return -EAGAIN;
			off = host;
			goto io;
		}
		if (!layer->backing || off >= layer->backing->size)
			goto zero; /* unallocated, nothing below */
		if (off + len > layer->backing->size)
			return -EAGAIN; /* partly past the backing file's end */
		layer = layer->backing;
	}
	return -EAGAIN;
io:
	if (blk_submit_uring(q, r, layer->fd, off) < 0)
		return -EAGAIN;
	q->nr_mapped++;
	return 0;
zero:
	/* Reads as zeroes: done without I/O, completed from blk_queue_complete(). */
	for (int i = 0; i < r->iovcnt; i++)
		memset(r->iov[i].iov_base, 0, r->iov[i].iov_len);
	r->ret = 0;
	q->nr_mapped++;
	list_add(&q->local_done, r);
	efd_signal(q->efd);
	return 0;
}

int blk_submit(struct blk_queue *q, struct blk_req *r)
{
	int ret;

	if (q->inflight >= q->depth)
		return -EAGAIN;
	ret = blk_req_check(q, r);
	if (ret < 0)
		return ret;
	r->ret = 0;
	r->next = NULL;
	if (r->op == BLK_OP_FLUSH && q->bd->unsafe) {
		list_add(&q->local_done, r); /* cache=unsafe: nothing to wait for */
		efd_signal(q->efd);
	} else if (r->op == BLK_OP_WRITE && blk_write_guarded(q->bd, r->offset)) {
		/*
		 * The first sector of a probed raw image: written here, through
		 * the probe guard of blk_pwritev(), which checks a private copy
		 * of the data.  Rare (partition tables, boot sectors).
		 */
		r->ret = blk_pwritev(q->bd, r->iov, r->iovcnt, r->offset);
		list_add(&q->local_done, r);
		efd_signal(q->efd);
	} else if (q->all_uring) {
		ret = blk_submit_uring(q, r, q->bd->fd, r->offset);
		if (ret < 0)
			return ret;
	} else if (!q->uring || r->op != BLK_OP_READ || blk_submit_mapped_read(q, r) < 0) {
		list_add(&q->batch, r);
	}
	q->inflight++;
	return 0;
}

void blk_queue_kick(struct blk_queue *q)
{
	if (q->uring) {
		while (q->unsubmitted) {
			int ret = io_uring_submit(&q->ring);

			if (ret == -EINTR || ret == -EAGAIN || ret == -EBUSY)
				continue; /* transient: the kernel is short of resources */
			if (ret < 0) {
				/* SQEs stay in the ring and go with the next submit. */
				log_warn("block: io_uring_submit: %s", strerror(-ret));
				break;
			}
			q->unsubmitted -= MIN((unsigned int)ret, q->unsubmitted);
			if (ret == 0)
				break;
		}
	}
	if (!q->batch.head)
		return;
	pthread_mutex_lock(&q->mu);
	list_splice(&q->work, &q->batch);
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

/*
 * Finish a read/write that io_uring completed short (only at end of file
 * for regular files) or refused (O_DIRECT with unaligned buffers):
 * do the remaining bytes synchronously through the driver.
 */
static int blk_finish_sync(struct blk_queue *q, struct blk_req *r, size_t done_bytes)
{
	struct iovec stack[16], *iov = stack;
	int n = 0, ret;
	size_t skip = done_bytes;

	if (r->iovcnt > (int)ARRAY_SIZE(stack)) {
		iov = malloc(sizeof(*iov) * (size_t)r->iovcnt);
		if (!iov)
			return -ENOMEM;
	}
	for (int i = 0; i < r->iovcnt; i++) {
		if (skip >= r->iov[i].iov_len) {
			skip -= r->iov[i].iov_len;
			continue;
		}
		iov[n].iov_base = (char *)r->iov[i].iov_base + skip;
		iov[n].iov_len = r->iov[i].iov_len - skip;
		skip = 0;
		n++;
	}
	if (r->op == BLK_OP_READ)
		ret = blk_preadv(q->bd, iov, n, r->offset + done_bytes);
	else
		ret = blk_pwritev(q->bd, iov, n, r->offset + done_bytes);
	if (iov != stack)
		free(iov);
	return ret;
}

/* Turn a CQE result into the request's final status. */
static int blk_uring_result(struct blk_queue *q, struct blk_req *r, int res)
{
	switch (r->op) {
	case BLK_OP_READ:
	case BLK_OP_WRITE: {
		size_t want = iov_len_total(r->iov, r->iovcnt);

		/* Unaligned O_DIRECT (the driver bounces), or a mapped qcow2 read
		 * that failed: the driver's own path gives the final answer. */
		if ((res == -EINVAL && q->bd->direct) ||
		    (res < 0 && r->op == BLK_OP_READ && !q->all_uring))
			return blk_finish_sync(q, r, 0);
		if (res < 0)
			return res;
		if ((size_t)res < want)
			return blk_finish_sync(q, r, (size_t)res);
		return 0;
	}
	case BLK_OP_WRITE_ZEROES:
		/* No ZERO_RANGE/PUNCH_HOLE here: the driver writes zeroes. */
		if (res == -EOPNOTSUPP || res == -EINVAL || res == -ENOSYS)
			return blk_write_zeroes(q->bd, r->offset, r->len, false);
		return res < 0 ? res : 0;
	case BLK_OP_DISCARD:
		return res == -EOPNOTSUPP ? -ENOTSUP : (res < 0 ? res : 0);
	case BLK_OP_FLUSH:
		return res < 0 ? res : 0;
	}
	return -EINVAL;
}

static int blk_complete_uring(struct blk_queue *q)
{
	struct io_uring_cqe *cqe;
	int count = 0;

	while (io_uring_peek_cqe(&q->ring, &cqe) == 0) {
		struct blk_req *r = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&q->ring, cqe);
		if (!r)
			continue;
		r->ret = blk_uring_result(q, r, res);
		q->inflight--;
		r->done(r, r->ret);
		count++;
	}
	return count;
}

static int blk_complete_list(struct blk_queue *q, struct blk_list *src, bool locked)
{
	struct blk_list l = { 0 };
	int count = 0;

	if (locked)
		pthread_mutex_lock(&q->mu);
	list_splice(&l, src);
	if (locked)
		pthread_mutex_unlock(&q->mu);
	while (l.head) {
		struct blk_req *r = l.head;

		l.head = r->next;
		q->inflight--;
		r->done(r, r->ret);
		count++;
	}
	return count;
}

int blk_queue_complete(struct blk_queue *q)
{
	uint64_t cnt;

	/* Read the eventfd first: a completion posted after this re-arms it. */
	if (read(q->efd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		log_warn("block: eventfd read failed: %s", strerror(errno));
	int count = 0;

	if (q->uring)
		count += blk_complete_uring(q);
	if (q->local_done.head)
		count += blk_complete_list(q, &q->local_done, false);
	if (!q->all_uring)
		count += blk_complete_list(q, &q->done, true);
	return count;
}

void blk_queue_destroy(struct blk_queue *q)
{
	if (!q)
		return;
	blk_queue_kick(q);
	while (q->inflight) {
		struct pollfd pfd = { .fd = q->efd, .events = POLLIN };

		if (q->uring && q->unsubmitted)
			blk_queue_kick(q);
		poll(&pfd, 1, 100);
		blk_queue_complete(q);
	}
	if (q->uring)
		io_uring_queue_exit(&q->ring);
	if (q->worker_started) {
		pthread_mutex_lock(&q->mu);
		q->stop = true;
		pthread_cond_signal(&q->cv);
		pthread_mutex_unlock(&q->mu);
		pthread_join(q->worker, NULL);
	}
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->mu);
	close(q->efd);
	free(q);
}
