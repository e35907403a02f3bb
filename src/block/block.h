/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_BLOCK_BLOCK_H
#define VESSEL_BLOCK_BLOCK_H

/*
 * Block backend interface (docs/architecture.md, "The pieces every feature uses").
 *
 * A `struct blkdev` is an open disk image: a format driver (raw, qcow2)
 * plus its state.  Two APIs sit on top of the drivers:
 *
 *  - a synchronous one (blk_pread & co.) for the img tools, tests and
 *    for a format driver reading its backing file;
 *  - an asynchronous one (struct blk_queue) for the device hot path:
 *    io_uring for drivers that map guest offsets 1:1 onto the image file
 *    (raw), and one worker thread per queue running the synchronous
 *    driver ops for the others (qcow2), whose reads of plain data still
 *    go through io_uring at the offsets block_status() reports (aio.c).  Either way completions are
 *    signalled through an eventfd that the owner's event loop polls and
 *    callbacks run in the owner's thread from blk_queue_complete().
 *
 * Conventions: every function returns 0 or a negative errno.  Offsets
 * and lengths are in bytes.  Range checks against the virtual size are
 * done here (overflow-safe), so drivers may assume off + len <= size.
 *
 * Threading: a blkdev may be used from several threads (the sync API
 * plus queue workers).  For drivers without BLK_DRV_THREAD_SAFE the
 * block layer serializes every driver call on bd->lock, so a driver
 * such as qcow2 never sees two calls at once on the same blkdev.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct blkdev;
struct error;

struct blk_open_opts {
	const char *format; /* "raw", "qcow2", or NULL to probe */
	bool readonly;
	bool direct;	 /* O_DIRECT on the image file (and its backing files) */
	bool no_backing; /* do not open the backing file (img info, rebase -u, snapshot, ...) */
	/*
	 * The image must not have a backing file: opening one that names a
	 * backing file fails (-EPERM, the error says so) before that file is
	 * even looked at.  A VM definition's "backing": false, --disk
	 * backing=off.
	 */
	bool forbid_backing;
	/* Opening the backing file of this image: error lines say so. */
	const char *backing_of;
	/*
	 * cache=unsafe, the default of `qemu-img convert`: blk_flush() is a
	 * no-op and drivers may skip their internal fdatasync() barriers
	 * (bd->unsafe).  A crash before the data reaches the disk loses or
	 * corrupts the image.  For img tools writing a new image only.
	 */
	bool unsafe;
	/*
	 * Read-only inspection of an image another process may be writing
	 * (qemu-img -U / --force-share): the image lock (block/lock.h)
	 * shares every permission.  Refused without readonly.  Inherited
	 * by backing files.
	 */
	bool force_share;
};

/*
 * block_status() flags, for `img map`, `img convert` and the async read
 * path:
 *  DATA:         reads come from stored data;
 *  ZERO:         reads as zeroes;
 *  ALLOCATED:    this layer decides the content; if clear, it comes from
 *                bd->backing (zeroes if there is none);
 *  OFFSET_VALID: *host_off is the offset in bd->fd.  With DATA and without
 *                ZERO/COMPRESSED, the pnum bytes there ARE the guest data:
 *                aio.c reads them directly with io_uring;
 *  COMPRESSED:   a qcow2 compressed cluster.
 */
#define BLK_STATUS_DATA (1 << 0)
#define BLK_STATUS_ZERO (1 << 1)
#define BLK_STATUS_ALLOCATED (1 << 2)
#define BLK_STATUS_OFFSET_VALID (1 << 3)
#define BLK_STATUS_COMPRESSED (1 << 4)

enum blk_prealloc {
	BLK_PREALLOC_OFF,
	BLK_PREALLOC_METADATA,
	BLK_PREALLOC_FALLOC,
	BLK_PREALLOC_FULL
};

/* Options of `img create` (qemu-img's -o names in the comments). */
struct blk_create_opts {
	uint64_t size;		      /* virtual size in bytes */
	const char *backing_file;     /* -b, or NULL */
	const char *backing_fmt;      /* -F, or NULL */
	uint32_t cluster_size;	      /* cluster_size=, 0 = driver default (64 KiB) */
	enum blk_prealloc prealloc;   /* preallocation=off|metadata|falloc|full */
	const char *compression_type; /* compression_type=zlib|zstd, NULL = zlib */
	bool lazy_refcounts;	      /* lazy_refcounts=on */
	bool compat_v2;		      /* compat=0.10 (qcow2 v2); default 1.1 (v3) */
	uint32_t refcount_bits;	      /* refcount_bits=, 0 = 16 */
};

/* Driver flags */
#define BLK_DRV_NATIVE_AIO (1u << 0)  /* guest offset == offset in bd->fd: io_uring directly */
#define BLK_DRV_THREAD_SAFE (1u << 1) /* driver calls need no serialization */

struct blk_driver {
	const char *name;
	unsigned int flags;
	/*
	 * Score > 0 if it recognizes the first bytes of the file (len may be
	 * short); < 0 if they are this format's but a variant it cannot open
	 * (an unknown version): blk_open() then lets open() report why
	 * rather than taking the file for raw; 0 if not this format.
	 */
	int (*probe)(const uint8_t *buf, size_t len);
	/*
	 * Open: fd is already open (O_RDWR or O_RDONLY, O_CLOEXEC, O_DIRECT
	 * if o->direct) and owned by the block layer; bd->fd == fd and
	 * bd->path are set.  The driver sets bd->size, bd->priv and may set
	 * bd->cluster_size, bd->backing_file/backing_fmt (malloc'd) and
	 * bd->backing (opened with blk_open unless o->no_backing).
	 * On failure it frees what it allocated and returns -errno with *err
	 * naming what is wrong (err may be NULL).  blk_open() adds the file
	 * name when the driver did not.
	 */
	int (*open)(struct blkdev *bd, int fd, const char *path, const struct blk_open_opts *o,
		    struct error *err);
	/* Free bd->priv.  The block layer then closes bd->backing and bd->fd. */
	void (*close)(struct blkdev *bd);
	/* Transfer the whole iovec or fail; never a short count.  0 or -errno. */
	int (*preadv)(struct blkdev *bd, const struct iovec *iov, int iovcnt, uint64_t off);
	int (*pwritev)(struct blkdev *bd, const struct iovec *iov, int iovcnt, uint64_t off);
	int (*flush)(struct blkdev *bd);
	/* Optional hooks below: NULL means -ENOTSUP. */
	int (*discard)(struct blkdev *bd, uint64_t off, uint64_t len);
	int (*write_zeroes)(struct blkdev *bd, uint64_t off, uint64_t len, bool may_unmap);
	/*
	 * Status of [off, off+len): *pnum (>0, <= len) bytes from off share
	 * *status (BLK_STATUS_*); *host_off valid with BLK_STATUS_OFFSET_VALID.
	 */
	int (*block_status)(struct blkdev *bd, uint64_t off, uint64_t len, uint64_t *pnum,
			    int *status, uint64_t *host_off);
	/* Change the virtual size; logs (log_err) why it fails. */
	int (*resize)(struct blkdev *bd, uint64_t new_size);
	/* Create a new image at path (the file may exist: truncate it); *err says why not. */
	int (*create)(const char *path, const struct blk_create_opts *o, struct error *err);
	/* Write one compressed cluster: off cluster-aligned, len == cluster size
	 * (or the tail of the image).  For `img convert -c`. */
	int (*write_compressed)(struct blkdev *bd, uint64_t off, const void *buf, size_t len);
};

struct blkdev {
	const struct blk_driver *drv;
	void *priv;    /* driver state */
	uint64_t size; /* virtual size in bytes */
	bool readonly;
	bool direct;
	bool unsafe; /* blk_open_opts.unsafe */
	/*
	 * The format was probed, not given, and came out raw: writes that
	 * would make the first BLK_PROBE_SIZE bytes probe as another format
	 * are refused with -EPERM (see blk_pwritev()).
	 */
	bool probed;
	bool probe_warned; /* one warning per open about refused writes */
	int fd;	     /* the image file */
	char *path;
	uint32_t cluster_size;	/* allocation unit, 0 if none (raw) */
	struct blkdev *backing; /* opened backing image, or NULL */
	char *backing_file;	/* backing file name as stored in the image, or NULL */
	char *backing_fmt;	/* backing format as stored in the image, or NULL */
	pthread_mutex_t lock;	/* serializes driver calls (see above) */
	struct image_lock *image_lock; /* QEMU-compatible lock on the file (block/lock.h) */
};

extern const struct blk_driver raw_driver, qcow2_driver;

/*
 * Open an image.  o may be NULL (probe, read-write).  With o->format NULL
 * the format is probed; raw never wins over a recognized format, and a
 * file that looks like qcow2 but fails to open is an error, not raw.
 * On failure: -errno with *err (may be NULL) set to one line naming the
 * file and the problem; nothing is logged.
 */
int blk_open(const char *path, const struct blk_open_opts *o, struct blkdev **out,
	     struct error *err);
/*
 * Open flags of every image and backing file: O_NONBLOCK for the open
 * itself, so that a FIFO cannot block it, then only regular files and
 * block devices are accepted (-EINVAL otherwise).  Returns the fd
 * (O_NONBLOCK cleared) or -errno with *err naming the file.
 */
int blk_open_file(const char *path, int flags, struct error *err);
/*
 * An image's path may be "fd:N" (parse_handed_fd(), never a backing
 * file's): the caller opened it and handed fd N over (`vessel run --disk
 * path=fd:3 3<disk.img`).
 */
/* The same, for the backing file of image `of` (NULL: not a backing file). */
int blk_open_file_of(const char *path, int flags, const char *of, struct error *err);
/*
 * The format blk_open() would probe for path ("raw" or "qcow2"), without
 * opening the image: `vessel define` and `vessel start` pin it in the VM
 * definition, so that what a guest writes cannot change how its disk is
 * opened next time.  0 or -errno with *err naming the file.
 */
int blk_probe_format(const char *path, const char **format, struct error *err);
void blk_close(struct blkdev *bd);
uint64_t blk_size(const struct blkdev *bd);
bool blk_readonly(const struct blkdev *bd);
const char *blk_format(const struct blkdev *bd);
const struct blk_driver *blk_find_driver(const char *name);
/* Create an image of the given format ("raw" or "qcow2"); 0 or -errno with *err. */
int blk_create(const char *format, const char *path, const struct blk_create_opts *o,
	       struct error *err);

/*
 * Synchronous API.  Ranges outside [0, size) give -EINVAL; writes on a
 * read-only device -EROFS; missing optional driver hooks -ENOTSUP;
 * writes that would change the probed format of the image -EPERM.
 */
int blk_preadv(struct blkdev *bd, const struct iovec *iov, int iovcnt, uint64_t off);
int blk_pwritev(struct blkdev *bd, const struct iovec *iov, int iovcnt, uint64_t off);
int blk_pread(struct blkdev *bd, void *buf, size_t len, uint64_t off);
int blk_pwrite(struct blkdev *bd, const void *buf, size_t len, uint64_t off);
int blk_flush(struct blkdev *bd);
int blk_discard(struct blkdev *bd, uint64_t off, uint64_t len);
int blk_write_zeroes(struct blkdev *bd, uint64_t off, uint64_t len, bool may_unmap);
/* Without a driver hook: the whole range is DATA|ALLOCATED. */
int blk_block_status(struct blkdev *bd, uint64_t off, uint64_t len, uint64_t *pnum, int *status,
		     uint64_t *host_off);
int blk_resize(struct blkdev *bd, uint64_t new_size);
int blk_write_compressed(struct blkdev *bd, uint64_t off, const void *buf, size_t len);

/*
 * Asynchronous API: the hot path of virtio-blk and vhost-user-blk.
 *
 * Usage: fill a blk_req, blk_submit() it (any number), blk_queue_kick()
 * once per batch, epoll blk_queue_fd() and call blk_queue_complete()
 * when it is readable.  The request and its iovec array/buffers must
 * stay valid until done() runs.  If blk_submit() returns non-zero the
 * request was not queued and done() will not be called for it.
 */
enum blk_op { BLK_OP_READ, BLK_OP_WRITE, BLK_OP_FLUSH, BLK_OP_DISCARD, BLK_OP_WRITE_ZEROES };

#define BLK_REQ_MAY_UNMAP (1u << 0) /* write-zeroes may deallocate */

struct blk_req {
	enum blk_op op;
	uint64_t offset;
	uint64_t len; /* discard / write-zeroes; READ/WRITE use the iovec */
	const struct iovec *iov;
	int iovcnt;
	unsigned int flags; /* BLK_REQ_* */
	/* ret: 0 on success, -errno on failure; runs inside blk_queue_complete(). */
	void (*done)(struct blk_req *req, int ret);
	void *opaque;
	/* private to the block layer below this line */
	struct blk_req *next;
	int ret;
};

struct blk_queue; /* one submission/completion context, owned by one thread */

/* depth: max requests in flight (1..4096).  0 or -errno with *err naming the image. */
int blk_queue_create(struct blkdev *bd, unsigned int depth, struct blk_queue **out,
		     struct error *err);
/* Waits for in-flight requests (their done() callbacks run) then frees. */
void blk_queue_destroy(struct blk_queue *q);
/* eventfd, readable when completions are ready: epoll it for EPOLLIN. */
int blk_queue_fd(struct blk_queue *q);
/* 0 = queued; -EAGAIN when depth requests are outstanding; -EINVAL
 * out of range or malformed; -EROFS write on read-only; -ENOTSUP. */
int blk_submit(struct blk_queue *q, struct blk_req *req);
/* Submit what blk_submit() queued (one io_uring_submit per batch). */
void blk_queue_kick(struct blk_queue *q);
/* Drain the eventfd and run done() callbacks; returns how many ran. */
int blk_queue_complete(struct blk_queue *q);
/* Requests submitted and not yet completed (done() not yet run). */
unsigned int blk_queue_inflight(const struct blk_queue *q);
/* True if this queue uses io_uring: for every request (raw), or for the
 * reads it can map to host offsets (qcow2; the rest go to the worker). */
bool blk_queue_uses_uring(const struct blk_queue *q);

#endif
