// SPDX-License-Identifier: MIT
/*
 * Block layer core: format probing, open/close, and the synchronous API
 * with its range checks.  The drivers (raw.c, qcow2.c) only see ranges
 * that fit inside the virtual size.
 */
#include "block/block.h"
#include "block/block-int.h"
#include "block/lock.h"
#include "util/error.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* What a file that is not an image is, for the error message. */
static const char *file_kind(mode_t mode)
{
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISSOCK(mode))
		return "a socket";
	return "not a regular file";
}

/*
 * How error lines name the file: "'a'" or "backing file 'a' of 'b'",
 * escaped: a backing file's name comes from the image, which may put
 * terminal escape sequences in it (str_escape()).
 */
static const char *file_name(char *buf, size_t len, const char *path, const char *of)
{
	char *p = str_escape(path), *o = of ? str_escape(of) : NULL;

	if (of)
		snprintf(buf, len, "backing file '%s' of '%s'", p ? p : "?", o ? o : "?");
	else
		snprintf(buf, len, "'%s'", p ? p : "?");
	free(p);
	free(o);
	return buf;
}

/*
 * A handed-over image: each open gets its own close-on-exec duplicate (the
 * format probe and the open both close theirs), sharing the caller's open
 * file description; its access mode must allow what the disk does.
 */
static int blk_open_handed(int n, const char *path, int flags, struct error *err)
{
	int fl = fcntl(n, F_GETFL), acc = flags & O_ACCMODE, fd;
	struct stat st;

	if (handed_fd_check(n) || fl < 0)
		return error_setf(err, -EBADF, "cannot use %s: no fd %d was handed to vessel", path,
				  n);
	if ((fl & O_ACCMODE) == O_WRONLY || (acc == O_RDWR && (fl & O_ACCMODE) != O_RDWR))
		return error_setf(err, -EBADF,
				  "cannot use %s: it is open %s, and this disk needs it %s%s", path,
				  (fl & O_ACCMODE) == O_WRONLY ? "write-only" : "read-only",
				  acc == O_RDWR ? "read-write" : "readable",
				  acc == O_RDWR ? " (or readonly=on)" : "");
	if (fstat(n, &st) < 0)
		return error_set_errno(err, -errno, "cannot stat %s", path);
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return error_setf(err, -EINVAL,
				  "%s is %s; disk images must be regular files or block devices",
				  path, file_kind(st.st_mode));
	/* the original stays the caller's; nothing this VMM spawns inherits it */
	fcntl(n, F_SETFD, FD_CLOEXEC);
	fd = fcntl(n, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return error_set_errno(err, -errno, "cannot use %s", path);
	/* O_DIRECT is a file status flag: it applies to the shared description */
	if ((flags & O_DIRECT) && fcntl(fd, F_SETFL, (fl & ~O_NONBLOCK) | O_DIRECT) < 0) {
		int r = -errno;

		close(fd);
		return error_set_errno(err, r, "cannot use %s with direct=on", path);
	}
	return fd;
}

int blk_open_file(const char *path, int flags, struct error *err)
{
	return blk_open_file_of(path, flags, NULL, err);
}

int blk_open_file_of(const char *path, int flags, const char *of, struct error *err)
{
	char name[2 * PATH_MAX + 32];
	struct stat st;
	int fd, fl, ret;

	/* a backing file named "fd:N" by an image is a file name, not an fd */
	if (!of && parse_handed_fd(path) >= 0)
		return blk_open_handed(parse_handed_fd(path), path, flags, err);
	/*
	 * Without O_NONBLOCK, open(2) of a FIFO blocks until a writer shows
	 * up (and the first read blocks until it writes), with the VMM's
	 * signals blocked: `vessel run` would hang for good.  A socket
	 * cannot be opened at all (ENXIO).
	 */
	fd = open(path, flags | O_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		if (ret == -ENXIO && !stat(path, &st) && !S_ISREG(st.st_mode) &&
		    !S_ISBLK(st.st_mode))
			goto not_an_image;
		return error_set_errno(err, ret, "cannot open %s",
				       file_name(name, sizeof(name), path, of));
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		close(fd);
		return error_set_errno(err, ret, "cannot stat %s",
				       file_name(name, sizeof(name), path, of));
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		close(fd);
		goto not_an_image;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		ret = -errno;
		close(fd);
		return error_set_errno(err, ret, "cannot open %s",
				       file_name(name, sizeof(name), path, of));
	}
	return fd;

not_an_image:
	return error_setf(err, -EINVAL,
			  "%s is %s; disk images must be regular files or block devices",
			  file_name(name, sizeof(name), path, of), file_kind(st.st_mode));
}

/*
 * Probe the first sector.  The raw driver has no probe: any file is raw,
 * so it only wins when nothing else recognizes or claims the file.
 */
static const struct blk_driver *blk_probe_buf(const uint8_t *buf, size_t n)
{
	const struct blk_driver *best = &raw_driver, *claimed = NULL;
	int best_score = 0;

	for (size_t i = 0; i < ARRAY_SIZE(blk_drivers); i++) {
		int score;

		if (!blk_drivers[i]->probe)
			continue;
		score = blk_drivers[i]->probe(buf, n);
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

static const struct blk_driver *blk_probe(int fd, const char *path)
{
	uint8_t buf[BLK_PROBE_SIZE];
	ssize_t n;

	do {
		n = pread(fd, buf, sizeof(buf), 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		/* O_DIRECT may refuse an unaligned buffer: retry on a plain fd. */
		char proc[32];
		int fd2;

		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		fd2 = open(parse_handed_fd(path) >= 0 ? proc : path,
			   O_RDONLY | O_CLOEXEC | O_NONBLOCK);

		if (fd2 < 0)
			return NULL;
		n = pread(fd2, buf, sizeof(buf), 0);
		close(fd2);
		if (n < 0)
			return NULL;
	}
	return blk_probe_buf(buf, (size_t)n);
}

int blk_probe_format(const char *path, const char **format, struct error *err)
{
	const struct blk_driver *drv;
	int fd = blk_open_file(path, O_RDONLY | O_CLOEXEC, err), ret;

	if (fd < 0)
		return fd;
	drv = blk_probe(fd, path);
	ret = drv ? 0 : -errno;
	if (!drv) {
		char name[PATH_MAX + 8];

		error_set_errno(err, ret, "cannot read %s",
				file_name(name, sizeof(name), path, NULL));
	} else {
		*format = drv->name;
	}
	close(fd);
	return ret;
}

/*
 * The image lock of an open (block/lock.h): QEMU's permissions for a
 * read-only or read-write image, or sharing everything with -U.
 */
static int blk_lock_image(int fd, const char *path, const struct blk_open_opts *o,
			  struct image_lock **out, struct error *err)
{
	unsigned int perm, shared;

	*out = NULL;
	if (o->force_share && !o->readonly)
		return error_setf(err, -EINVAL, "%s: force-share (-U) is only for read-only opens",
				  path);
	image_lock_perms(o->readonly, o->force_share, &perm, &shared);
	return image_lock_acquire(fd, path, perm, shared, out, err);
}

/*
 * The driver's message, if it gave one, names what is wrong but not always
 * the file: a qcow2 spec violation reads "qcow2: ...".  Say which file,
 * unless the message is about a backing file, which blk_open() of that
 * file already named.  Without a message: strerror, with the file.
 */
static void blk_open_error(struct error *err, int ret, const char *path, const char *of)
{
	char name[2 * PATH_MAX + 32];

	file_name(name, sizeof(name), path, of);
	if (!error_is_set(err))
		error_set_errno(err, ret, "cannot open %s", name);
	else if (strncmp(error_msg(err), "backing file ", 13) && !strstr(error_msg(err), name))
		error_prefix(err, "%s", name);
}

int blk_open(const char *path, const struct blk_open_opts *o, struct blkdev **out,
	     struct error *errp)
{
	/* A local error: whether the driver gave a message is known even if errp is NULL. */
	struct error local = ERROR_INIT, *err = &local;
	static const struct blk_open_opts defaults;
	const struct blk_driver *drv = NULL;
	struct blk_open_opts dopts;
	struct image_lock *ilock;
	char name[2 * PATH_MAX + 32];
	bool probed = false;
	struct blkdev *bd;
	int flags, fd, ret;

	*out = NULL;
	if (!o)
		o = &defaults;
	if (o->format) {
		drv = blk_find_driver(o->format);
		if (!drv) {
			ret = error_setf(errp, -EINVAL,
					 "unknown image format '%s' (known: raw, qcow2)",
					 o->format);
			return ret;
		}
	}
	flags = (o->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	if (o->direct)
		flags |= O_DIRECT;
	fd = blk_open_file_of(path, flags, o->backing_of, errp);
	if (fd < 0)
		return fd;
	ret = blk_lock_image(fd, path, o, &ilock, errp);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	if (!drv) {
		drv = blk_probe(fd, path);
		if (!drv) {
			ret = -errno;
			error_set_errno(errp, ret, "cannot read %s",
					file_name(name, sizeof(name), path, o->backing_of));
			close(fd);
			image_lock_release(ilock);
			return ret;
		}
		probed = drv == &raw_driver;
	}
	bd = calloc(1, sizeof(*bd));
	if (!bd || !(bd->path = strdup(path))) {
		free(bd);
		close(fd);
		image_lock_release(ilock);
		return error_setf(errp, -ENOMEM, "cannot open %s: out of memory",
				  file_name(name, sizeof(name), path, o->backing_of));
	}
	bd->drv = drv;
	bd->image_lock = ilock;
	bd->fd = fd;
	bd->readonly = o->readonly;
	bd->direct = o->direct;
	bd->unsafe = o->unsafe;
	bd->probed = probed;
	pthread_mutex_init(&bd->lock, NULL);
	/* No backing file allowed: the driver must not even open it. */
	dopts = *o;
	if (o->forbid_backing)
		dopts.no_backing = true;
	ret = drv->open(bd, fd, path, &dopts, err);
	if (!ret && o->forbid_backing && bd->backing_file) {
		char *b = str_escape(bd->backing_file);

		ret = error_setf(
			err, -EPERM,
			"%s has a backing file ('%s'), and backing files are off for this disk",
			file_name(name, sizeof(name), path, o->backing_of), b ? b : "?");
		free(b);
		drv->close(bd);
	}
	if (ret < 0) {
		/* The driver said what is wrong; say with which file. */
		blk_open_error(err, ret, path, o->backing_of);
		error_propagate(errp, err);
		if (bd->backing)
			blk_close(bd->backing);
		free(bd->backing_file);
		free(bd->backing_fmt);
		pthread_mutex_destroy(&bd->lock);
		free(bd->path);
		free(bd);
		close(fd);
		image_lock_release(ilock);
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
	/* after the driver's last write (qcow2 marks the image clean on close) */
	image_lock_release(bd->image_lock);
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

/*
 * Creating over an existing image truncates it: first take the write and
 * resize permissions on it, sharing everything but resize (as qemu-img
 * create does in raw_co_create()), so that an image a VM or qemu holds
 * is refused, not reformatted under it.  A file that does not exist yet
 * has no other users.
 */
static int blk_create_locked(const struct blk_driver *drv, const char *path,
			     const struct blk_create_opts *o, struct error *err)
{
	struct image_lock *lk = NULL;
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK), ret;

	if (fd >= 0) {
		ret = image_lock_acquire(fd, path, IMG_PERM_WRITE | IMG_PERM_RESIZE,
					 IMG_PERM_ALL & ~IMG_PERM_RESIZE, &lk, err);
		if (ret < 0) {
			close(fd);
			return ret;
		}
	}
	ret = drv->create(path, o, err);
	image_lock_release(lk);
	if (fd >= 0)
		close(fd);
	return ret;
}

int blk_create(const char *format, const char *path, const struct blk_create_opts *o,
	       struct error *err)
{
	const struct blk_driver *drv = blk_find_driver(format);

	if (!drv)
		return error_setf(err, -EINVAL, "unknown image format '%s' (known: raw, qcow2)",
				  format);
	if (!drv->create)
		return error_setf(err, -ENOTSUP, "format '%s' does not support image creation",
				  format);
	return blk_create_locked(drv, path, o, err);
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

/*
 * A write into the first sector of a probed raw image: refused with
 * -EPERM if the image would then probe as another format.  Otherwise a
 * guest that writes a qcow2 header there turns its raw disk into a qcow2
 * image at the next open, with a backing file of its choice: any host
 * file the VMM can read (CVE-2008-2004).  As QEMU's raw driver does for
 * a probed image (block/raw-format.c, raw_co_pwritev), the new first
 * sector is copied out of the caller's buffers, probed, and written from
 * that copy: the buffers are guest memory, and a guest that changes
 * them after the check must not get an unchecked sector written.  A
 * write of part of the first sector is merged with what is there
 * (read-modify-write); bd->lock serializes these writes, so two partial
 * writes cannot combine into what neither was checked for.  (Guests
 * always write whole 512-byte sectors.)  Zeroes never probe as another
 * format, so discard and write-zeroes need no guard.
 */
static int blk_pwritev_guarded(struct blkdev *bd, const struct iovec *iov, int iovcnt,
			       uint64_t off)
{
	size_t n = (size_t)MIN(bd->size, (uint64_t)BLK_PROBE_SIZE), head, pos = 0, skip;
	struct iovec stack[17], *v = stack;
	uint64_t len = 0;
	uint8_t *sec;
	int cnt = 0, ret;

	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	if (off >= n || !len)
		return bd->drv->pwritev(bd, iov, iovcnt, off);
	head = (size_t)MIN(len, (uint64_t)(n - off));
	if (iovcnt + 1 > (int)ARRAY_SIZE(stack)) {
		v = malloc(sizeof(*v) * ((size_t)iovcnt + 1));
		if (!v)
			return -ENOMEM;
	}
	/* 4 KiB aligned: the raw driver writes it without a bounce under O_DIRECT. */
	sec = aligned_alloc(4096, 4096);
	if (!sec) {
		ret = -ENOMEM;
		goto out_free;
	}
	pthread_mutex_lock(&bd->lock);
	if (off || head < n) {
		struct iovec cur = { .iov_base = sec, .iov_len = n };

		ret = bd->drv->preadv(bd, &cur, 1, 0);
		if (ret < 0)
			goto out;
	}
	for (int i = 0; i < iovcnt && pos < head; i++) {
		size_t c = MIN(iov[i].iov_len, head - pos);

		memcpy(sec + off + pos, iov[i].iov_base, c);
		pos += c;
	}
	if (blk_probe_buf(sec, n) != &raw_driver) {
		if (!bd->probe_warned)
			log_warn("%s: refused a write that would make this probed raw image look "
				 "like another format (give format=raw to allow it)",
				 bd->path);
		bd->probe_warned = true;
		ret = -EPERM;
		goto out;
	}
	/* The checked copy, then the caller's buffers past it. */
	v[cnt++] = (struct iovec){ .iov_base = sec + off, .iov_len = head };
	skip = head;
	for (int i = 0; i < iovcnt; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		v[cnt++] = (struct iovec){ .iov_base = (uint8_t *)iov[i].iov_base + skip,
					   .iov_len = iov[i].iov_len - skip };
		skip = 0;
	}
	ret = bd->drv->pwritev(bd, v, cnt, off);
out:
	pthread_mutex_unlock(&bd->lock);
	free(sec);
out_free:
	if (v != stack)
		free(v);
	return ret;
}

int blk_pwritev(struct blkdev *bd, const struct iovec *iov, int iovcnt, uint64_t off)
{
	int ret = blk_check_rw(bd, iov, iovcnt, off, true);

	if (ret < 0 || !iovcnt)
		return ret;
	if (blk_write_guarded(bd, off))
		return blk_pwritev_guarded(bd, iov, iovcnt, off);
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
