// SPDX-License-Identifier: MIT
/*
 * Block layer core: format probing, open/close, and the synchronous API
 * with its range checks.  The drivers (raw.c, qcow2.c) only see ranges
 * that fit inside the virtual size.
 */
#include "block/block.h"
#include "block/block-int.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every format driver, in probing order.  raw is the fallback. */
static const struct blk_driver *const blk_drivers[] = {
	&qcow2_driver,
	&raw_driver,
};

const struct blk_driver *blk_find_driver(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(blk_drivers); i++)
		if (!strcmp(blk_drivers[i]->name, name))
			return blk_drivers[i];
	return NULL;
}

/*
 * Probe the first sector.  The raw driver has no probe: any file is raw,
 * so it only wins when nothing else recognizes or claims the file.
 */
static const struct blk_driver *blk_probe(int fd, const char *path)
{
	uint8_t buf[512];
	const struct blk_driver *best = &raw_driver, *claimed = NULL;
	int best_score = 0;
	ssize_t n;

	do {
		n = pread(fd, buf, sizeof(buf), 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		/* O_DIRECT may refuse an unaligned buffer: retry on a plain fd. */
		int fd2 = open(path, O_RDONLY | O_CLOEXEC);

		if (fd2 < 0)
			return NULL;
		n = pread(fd2, buf, sizeof(buf), 0);
		close(fd2);
		if (n < 0)
			return NULL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(blk_drivers); i++) {
		int score;

		if (!blk_drivers[i]->probe)
			continue;
		score = blk_drivers[i]->probe(buf, (size_t)n);
		if (score > best_score) {
			best_score = score;
			best = blk_drivers[i];
		} else if (score < 0 && !claimed) {
			claimed = blk_drivers[i];
		}
	}
	/* A format's magic with a version it cannot open is not raw. */
	return best_score == 0 && claimed ? claimed : best;
}

int blk_open(const char *path, const struct blk_open_opts *o, struct blkdev **out)
{
	static const struct blk_open_opts defaults;
	const struct blk_driver *drv = NULL;
	struct blkdev *bd;
	int flags, fd, ret;

	*out = NULL;
	if (!o)
		o = &defaults;
	if (o->format) {
		drv = blk_find_driver(o->format);
		if (!drv) {
			log_err("unknown image format '%s' (known: raw, qcow2)", o->format);
			return -EINVAL;
		}
	}
	flags = (o->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	if (o->direct)
		flags |= O_DIRECT;
	fd = open(path, flags);
	if (fd < 0) {
		ret = -errno;
		log_err("cannot open '%s': %s", path, strerror(errno));
		return ret;
	}
	if (!drv) {
		drv = blk_probe(fd, path);
		if (!drv) {
			ret = -errno;
			log_err("cannot read '%s': %s", path, strerror(errno));
			close(fd);
			return ret;
		}
	}
	bd = calloc(1, sizeof(*bd));
	if (!bd || !(bd->path = strdup(path))) {
		free(bd);
		close(fd);
		return -ENOMEM;
	}
	bd->drv = drv;
	bd->fd = fd;
	bd->readonly = o->readonly;
	bd->direct = o->direct;
	bd->unsafe = o->unsafe;
	pthread_mutex_init(&bd->lock, NULL);
	ret = drv->open(bd, fd, path, o);
	if (ret < 0) {
		if (bd->backing)
			blk_close(bd->backing);
		free(bd->backing_file);
		free(bd->backing_fmt);
		pthread_mutex_destroy(&bd->lock);
		free(bd->path);
		free(bd);
		close(fd);
		return ret;
	}
	*out = bd;
	return 0;
}

void blk_close(struct blkdev *bd)
{
	if (!bd)
		return;
	bd->drv->close(bd);
	if (bd->backing)
		blk_close(bd->backing);
	free(bd->backing_file);
	free(bd->backing_fmt);
	close(bd->fd);
	pthread_mutex_destroy(&bd->lock);
	free(bd->path);
	free(bd);
}

uint64_t blk_size(const struct blkdev *bd)
{
	return bd->size;
}

bool blk_readonly(const struct blkdev *bd)
{
	return bd->readonly;
}

const char *blk_format(const struct blkdev *bd)
{
	return bd->drv->name;
}

int blk_create(const char *format, const char *path, const struct blk_create_opts *o)
{
	const struct blk_driver *drv = blk_find_driver(format);

	if (!drv) {
		log_err("unknown image format '%s' (known: raw, qcow2)", format);
		return -EINVAL;
	}
	if (!drv->create) {
		log_err("format '%s' does not support image creation", format);
		return -ENOTSUP;
	}
	return drv->create(path, o);
}

/* Lock around a driver call unless the driver is thread safe. */
static void blk_lock(struct blkdev *bd)
{
	if (!(bd->drv->flags & BLK_DRV_THREAD_SAFE))
		pthread_mutex_lock(&bd->lock);
}

static void blk_unlock(struct blkdev *bd)
{
	if (!(bd->drv->flags & BLK_DRV_THREAD_SAFE))
		pthread_mutex_unlock(&bd->lock);
}

/* [off, off+len) inside [0, size), without overflowing. */
int blk_check_range(const struct blkdev *bd, uint64_t off, uint64_t len)
{
	if (off > bd->size || len > bd->size - off)
		return -EINVAL;
	return 0;
}

/* Total length of an iovec, -EINVAL if it overflows or iovcnt is bad. */
static int blk_iov_len(const struct iovec *iov, int iovcnt, uint64_t *len)
{
	uint64_t total = 0;

	if (iovcnt < 0 || iovcnt > IOV_MAX || (iovcnt && !iov))
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > UINT64_MAX - total)
			return -EINVAL;
		total += iov[i].iov_len;
	}
	*len = total;
	return 0;
}

int blk_check_rw(const struct blkdev *bd, const struct iovec *iov, int iovcnt, uint64_t off,
		 bool write)
{
	uint64_t len;
	int ret;

	if (write && bd->readonly)
		return -EROFS;
	ret = blk_iov_len(iov, iovcnt, &len);
	if (ret < 0)
		return ret;
	return blk_check_range(bd, off, len);
}

int blk_preadv(struct blkdev *bd, const struct iovec *iov, int iovcnt, uint64_t off)
{
	int ret = blk_check_rw(bd, iov, iovcnt, off, false);

	if (ret < 0 || !iovcnt)
		return ret;
	blk_lock(bd);
	ret = bd->drv->preadv(bd, iov, iovcnt, off);
	blk_unlock(bd);
	return ret;
}

int blk_pwritev(struct blkdev *bd, const struct iovec *iov, int iovcnt, uint64_t off)
{
	int ret = blk_check_rw(bd, iov, iovcnt, off, true);

	if (ret < 0 || !iovcnt)
		return ret;
	blk_lock(bd);
	ret = bd->drv->pwritev(bd, iov, iovcnt, off);
	blk_unlock(bd);
	return ret;
}

int blk_pread(struct blkdev *bd, void *buf, size_t len, uint64_t off)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };

	return blk_preadv(bd, &iov, 1, off);
}

int blk_pwrite(struct blkdev *bd, const void *buf, size_t len, uint64_t off)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

	return blk_pwritev(bd, &iov, 1, off);
}

int blk_flush(struct blkdev *bd)
{
	int ret;

	if (bd->readonly || bd->unsafe)
		return 0;
	blk_lock(bd);
	ret = bd->drv->flush(bd);
	blk_unlock(bd);
	return ret;
}

int blk_discard(struct blkdev *bd, uint64_t off, uint64_t len)
{
	int ret;

	if (bd->readonly)
		return -EROFS;
	ret = blk_check_range(bd, off, len);
	if (ret < 0 || !len)
		return ret;
	if (!bd->drv->discard)
		return -ENOTSUP;
	blk_lock(bd);
	ret = bd->drv->discard(bd, off, len);
	blk_unlock(bd);
	return ret;
}

int blk_write_zeroes(struct blkdev *bd, uint64_t off, uint64_t len, bool may_unmap)
{
	int ret;

	if (bd->readonly)
		return -EROFS;
	ret = blk_check_range(bd, off, len);
	if (ret < 0 || !len)
		return ret;
	if (!bd->drv->write_zeroes)
		return -ENOTSUP;
	blk_lock(bd);
	ret = bd->drv->write_zeroes(bd, off, len, may_unmap);
	blk_unlock(bd);
	return ret;
}

int blk_block_status(struct blkdev *bd, uint64_t off, uint64_t len, uint64_t *pnum, int *status,
		     uint64_t *host_off)
{
	uint64_t dummy;
	int ret;

	ret = blk_check_range(bd, off, len);
	if (ret < 0)
		return ret;
	if (!len)
		return -EINVAL;
	if (!host_off)
		host_off = &dummy;
	*host_off = 0;
	if (!bd->drv->block_status) {
		*pnum = len;
		*status = BLK_STATUS_DATA | BLK_STATUS_ALLOCATED;
		return 0;
	}
	blk_lock(bd);
	ret = bd->drv->block_status(bd, off, len, pnum, status, host_off);
	blk_unlock(bd);
	/* A driver bug must not turn into an endless loop in a caller. */
	if (!ret && (*pnum == 0 || *pnum > len))
		ret = -EIO;
	return ret;
}

int blk_resize(struct blkdev *bd, uint64_t new_size)
{
	int ret;

	if (bd->readonly)
		return -EROFS;
	if (!bd->drv->resize)
		return -ENOTSUP;
	blk_lock(bd);
	ret = bd->drv->resize(bd, new_size);
	blk_unlock(bd);
	return ret;
}

int blk_write_compressed(struct blkdev *bd, uint64_t off, const void *buf, size_t len)
{
	int ret;

	if (bd->readonly)
		return -EROFS;
	ret = blk_check_range(bd, off, len);
	if (ret < 0)
		return ret;
	if (!bd->drv->write_compressed)
		return -ENOTSUP;
	blk_lock(bd);
	ret = bd->drv->write_compressed(bd, off, buf, len);
	blk_unlock(bd);
	return ret;
}
