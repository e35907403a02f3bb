// SPDX-License-Identifier: MIT
/*
 * raw format driver: the image file is the disk, byte for byte.
 *
 * Discard punches holes (fallocate(2) FALLOC_FL_PUNCH_HOLE |
 * FALLOC_FL_KEEP_SIZE), write-zeroes uses FALLOC_FL_ZERO_RANGE with a
 * fallback to writing zeroes, block status comes from lseek(2)
 * SEEK_DATA/SEEK_HOLE.  Block devices use BLKDISCARD/BLKZEROOUT.
 *
 * With O_DIRECT, buffers, offsets and lengths must be aligned to the
 * logical block size; unaligned requests go through an aligned bounce
 * buffer (read-modify-write for writes).
 */
#include "block/block.h"
#include "util/error.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

struct raw_state {
	bool blockdev;
	uint32_t align; /* O_DIRECT alignment, 1 without O_DIRECT */
};

#define RAW_ZERO_CHUNK (1u << 20)

static int raw_open(struct blkdev *bd, int fd, const char *path, const struct blk_open_opts *o,
		    struct error *err)
{
	struct raw_state *s;
	struct stat st;

	if (fstat(fd, &st) < 0)
		return error_set_errno(err, -errno, "cannot stat '%s'", path);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->align = 1;
	if (S_ISBLK(st.st_mode)) {
		uint64_t sz;

		if (ioctl(fd, BLKGETSIZE64, &sz) < 0) {
			int ret = -errno;

			free(s);
			return error_set_errno(err, ret, "cannot get the size of '%s'", path);
		}
		s->blockdev = true;
		bd->size = sz;
	} else if (S_ISREG(st.st_mode)) {
		bd->size = (uint64_t)st.st_size;
	} else {
		free(s);
		return error_setf(err, -EINVAL, "'%s' is neither a regular file nor a block device",
				  path);
	}
	if (o->direct) {
		int ssz = 512;

		if (s->blockdev)
			ioctl(fd, BLKSSZGET, &ssz);
		s->align = ssz > 0 ? (uint32_t)ssz : 512;
	}
	bd->priv = s;
	return 0;
}

static void raw_close(struct blkdev *bd)
{
	free(bd->priv);
	bd->priv = NULL;
}

static bool raw_aligned(const struct raw_state *s, const struct iovec *iov, int iovcnt,
			uint64_t off)
{
	if (s->align == 1)
		return true;
	if (!IS_ALIGNED(off, (uint64_t)s->align))
		return false;
	for (int i = 0; i < iovcnt; i++)
		if (!IS_ALIGNED((uintptr_t)iov[i].iov_base, (uintptr_t)s->align) ||
		    !IS_ALIGNED(iov[i].iov_len, (size_t)s->align))
			return false;
	return true;
}

/* Full-length preadv/pwritev, retrying EINTR and short counts. */
static int raw_rw_full(int fd, const struct iovec *iov_in, int iovcnt, uint64_t off, bool write)
{
	struct iovec stack[16], *copy = stack, *iov;
	int ret = 0;

	if (iovcnt > (int)ARRAY_SIZE(stack)) {
		copy = malloc(sizeof(*copy) * (size_t)iovcnt);
		if (!copy)
			return -ENOMEM;
	}
	iov = copy;
	memcpy(iov, iov_in, sizeof(*iov) * (size_t)iovcnt);
	while (iovcnt > 0) {
		ssize_t n = write ? pwritev(fd, iov, iovcnt, (off_t)off)
				  : preadv(fd, iov, iovcnt, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		if (n == 0) {
			if (write) {
				ret = -EIO;
				break;
			}
			/* Past the end of a shrunk file: the rest reads as zeroes. */
			for (int i = 0; i < iovcnt; i++)
				memset(iov[i].iov_base, 0, iov[i].iov_len);
			break;
		}
		off += (uint64_t)n;
		while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	if (copy != stack)
		free(copy);
	return ret;
}

static size_t iov_total(const struct iovec *iov, int iovcnt)
{
	size_t t = 0;

	for (int i = 0; i < iovcnt; i++)
		t += iov[i].iov_len;
	return t;
}

/* O_DIRECT with unaligned arguments: go through an aligned bounce buffer. */
static int raw_rw_bounce(struct blkdev *bd, const struct iovec *iov, int iovcnt, uint64_t off,
			 bool write)
{
	struct raw_state *s = bd->priv;
	size_t len = iov_total(iov, iovcnt);
	uint64_t start = ALIGN_DOWN(off, (uint64_t)s->align);
	uint64_t end = ALIGN_UP(off + len, (uint64_t)s->align);
	size_t blen = (size_t)(end - start), pos;
	struct iovec biov;
	uint8_t *buf;
	int ret;

	if (posix_memalign((void **)&buf, s->align < 4096 ? 4096 : s->align, blen))
		return -ENOMEM;
	biov.iov_base = buf;
	biov.iov_len = blen;
	if (!write || start != off || end != off + len) {
		ret = raw_rw_full(bd->fd, &biov, 1, start, false);
		if (ret < 0)
			goto out;
	}
	pos = (size_t)(off - start);
	for (int i = 0; i < iovcnt; i++) {
		if (write)
			memcpy(buf + pos, iov[i].iov_base, iov[i].iov_len);
		else
			memcpy(iov[i].iov_base, buf + pos, iov[i].iov_len);
		pos += iov[i].iov_len;
	}
	ret = write ? raw_rw_full(bd->fd, &biov, 1, start, true) : 0;
out:
	free(buf);
	return ret;
}

static int raw_rw(struct blkdev *bd, const struct iovec *iov, int iovcnt, uint64_t off, bool write)
{
	struct raw_state *s = bd->priv;
	int ret;

	if (!raw_aligned(s, iov, iovcnt, off))
		return raw_rw_bounce(bd, iov, iovcnt, off, write);
	ret = raw_rw_full(bd->fd, iov, iovcnt, off, write);
	if (ret == -EINVAL && s->align > 1 && s->align < 4096) {
		/* The file system wants a larger O_DIRECT alignment. */
		s->align = 4096;
		return raw_rw(bd, iov, iovcnt, off, write);
	}
	return ret;
}

static int raw_preadv(struct blkdev *bd, const struct iovec *iov, int iovcnt, uint64_t off)
{
	return raw_rw(bd, iov, iovcnt, off, false);
}

static int raw_pwritev(struct blkdev *bd, const struct iovec *iov, int iovcnt, uint64_t off)
{
	return raw_rw(bd, iov, iovcnt, off, true);
}

static int raw_flush(struct blkdev *bd)
{
	return fdatasync(bd->fd) < 0 ? -errno : 0;
}

static int raw_discard(struct blkdev *bd, uint64_t off, uint64_t len)
{
	struct raw_state *s = bd->priv;

	if (s->blockdev) {
		uint64_t range[2] = { off, len };

		return ioctl(bd->fd, BLKDISCARD, range) < 0 ? -errno : 0;
	}
	if (fallocate(bd->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) <
	    0)
		return errno == EOPNOTSUPP ? -ENOTSUP : -errno;
	return 0;
}

/* Last resort for write-zeroes: write a zeroed buffer over the range. */
static int raw_write_zero_buf(struct blkdev *bd, uint64_t off, uint64_t len)
{
	size_t chunk = (size_t)MIN(len, (uint64_t)RAW_ZERO_CHUNK);
	struct iovec iov;
	void *buf;
	int ret = 0;

	if (posix_memalign(&buf, 4096, ALIGN_UP(chunk, 4096)))
		return -ENOMEM;
	memset(buf, 0, ALIGN_UP(chunk, 4096));
	while (len && !ret) {
		iov.iov_base = buf;
		iov.iov_len = (size_t)MIN(len, (uint64_t)chunk);
		ret = raw_rw(bd, &iov, 1, off, true);
		off += iov.iov_len;
		len -= iov.iov_len;
	}
	free(buf);
	return ret;
}

static int raw_write_zeroes(struct blkdev *bd, uint64_t off, uint64_t len, bool may_unmap)
{
	struct raw_state *s = bd->priv;

	if (s->blockdev) {
		uint64_t range[2] = { off, len };

		if (ioctl(bd->fd, BLKZEROOUT, range) == 0)
			return 0;
		return raw_write_zero_buf(bd, off, len);
	}
	/* A punched hole in a regular file reads back as zeroes. */
	if (may_unmap && fallocate(bd->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
				   (off_t)len) == 0)
		return 0;
	if (fallocate(bd->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) ==
	    0)
		return 0;
	if (errno != EOPNOTSUPP && errno != EINVAL && errno != ENOSYS)
		return -errno;
	return raw_write_zero_buf(bd, off, len);
}

static int raw_block_status(struct blkdev *bd, uint64_t off, uint64_t len, uint64_t *pnum,
			    int *status, uint64_t *host_off)
{
	struct raw_state *s = bd->priv;
	off_t data, hole;

	*host_off = off;
	if (s->blockdev)
		goto all_data;
	data = lseek(bd->fd, (off_t)off, SEEK_DATA);
	if (data < 0) {
		if (errno != ENXIO)
			goto all_data; /* no SEEK_DATA support: report data */
		/* No data from off on: a hole up to the end of the file. */
		*pnum = len;
		*status = BLK_STATUS_ZERO | BLK_STATUS_ALLOCATED | BLK_STATUS_OFFSET_VALID;
		return 0;
	}
	if ((uint64_t)data > off) {
		*pnum = MIN(len, (uint64_t)data - off);
		*status = BLK_STATUS_ZERO | BLK_STATUS_ALLOCATED | BLK_STATUS_OFFSET_VALID;
		return 0;
	}
	hole = lseek(bd->fd, (off_t)off, SEEK_HOLE);
	if (hole < 0 || (uint64_t)hole <= off)
		goto all_data;
	*pnum = MIN(len, (uint64_t)hole - off);
	*status = BLK_STATUS_DATA | BLK_STATUS_ALLOCATED | BLK_STATUS_OFFSET_VALID;
	return 0;
all_data:
	*pnum = len;
	*status = BLK_STATUS_DATA | BLK_STATUS_ALLOCATED | BLK_STATUS_OFFSET_VALID;
	return 0;
}

static int raw_resize(struct blkdev *bd, uint64_t new_size)
{
	struct raw_state *s = bd->priv;

	if (s->blockdev) {
		if (new_size == bd->size)
			return 0;
		log_err("cannot resize block device '%s'", bd->path);
		return -ENOTSUP;
	}
	if (new_size > (uint64_t)INT64_MAX) {
		log_err("cannot resize '%s': size too large", bd->path);
		return -EFBIG;
	}
	if (ftruncate(bd->fd, (off_t)new_size) < 0) {
		int ret = -errno;

		log_err("cannot resize '%s': %s", bd->path, strerror(errno));
		return ret;
	}
	bd->size = new_size;
	return 0;
}

static int raw_create(const char *path, const struct blk_create_opts *o, struct error *err)
{
	struct stat st;
	int fd, ret = 0;

	if (o->backing_file)
		return error_setf(err, -EINVAL, "raw images cannot have a backing file");
	if (o->prealloc == BLK_PREALLOC_METADATA)
		return error_setf(err, -EINVAL,
				  "preallocation=metadata is not supported by raw "
				  "(use off, falloc or full)");
	if (o->size > (uint64_t)INT64_MAX)
		return error_setf(err, -EFBIG, "image size too large");
	/* O_NONBLOCK: never wait on a FIFO in the way, refuse it below. */
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NONBLOCK, 0644);
	if (fd < 0)
		return error_set_errno(err, -errno, "cannot create '%s'", path);
	if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		close(fd);
		return error_setf(err, -EINVAL, "cannot create '%s': it is not a regular file",
				  path);
	}
	if (ftruncate(fd, (off_t)o->size) < 0) {
		ret = -errno;
		goto err;
	}
	if (o->prealloc == BLK_PREALLOC_FALLOC && o->size) {
		ret = -posix_fallocate(fd, 0, (off_t)o->size);
		if (ret < 0)
			goto err;
	} else if (o->prealloc == BLK_PREALLOC_FULL) {
		static const uint8_t zero[65536];
		uint64_t off = 0;

		while (off < o->size && !ret) {
			size_t n = (size_t)MIN((uint64_t)sizeof(zero), o->size - off);

			ret = pwrite_full(fd, zero, n, (off_t)off);
			off += n;
		}
		if (ret < 0)
			goto err;
	}
	if (fsync(fd) < 0)
		ret = -errno;
err:
	if (ret < 0)
		error_set_errno(err, ret, "cannot create '%s'", path);
	close(fd);
	return ret;
}

const struct blk_driver raw_driver = {
	.name = "raw",
	.flags = BLK_DRV_NATIVE_AIO | BLK_DRV_THREAD_SAFE,
	.probe = NULL,
	.open = raw_open,
	.close = raw_close,
	.preadv = raw_preadv,
	.pwritev = raw_pwritev,
	.flush = raw_flush,
	.discard = raw_discard,
	.write_zeroes = raw_write_zeroes,
	.block_status = raw_block_status,
	.resize = raw_resize,
	.create = raw_create,
};
