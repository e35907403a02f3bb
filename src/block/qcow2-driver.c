// SPDX-License-Identifier: MIT
/*
 * qcow2 driver entry points (struct blk_driver) and the qcow2-only
 * helpers of qcow2.h that are not about snapshots or checks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/qcow2-int.h"
#include "util/log.h"
#include "util/util.h"

bool qcow2_is_qcow2(const struct blkdev *bd)
{
	return bd && bd->drv == &qcow2_driver && bd->priv;
}

static int qcow2_probe(const uint8_t *buf, size_t len)
{
	if (len < 8 || qcow2_be32(buf) != QCOW2_MAGIC)
		return 0;
	/*
	 * The qcow2 magic with a version we cannot read is still not raw:
	 * claim it (negative score) so the open fails with a clear message
	 * instead of handing the guest the image's metadata as disk data.
	 */
	return qcow2_be32(buf + 4) == 2 || qcow2_be32(buf + 4) == 3 ? 100 : -1;
}

static int qcow2_drv_open(struct blkdev *bd, int fd, const char *path,
			  const struct blk_open_opts *o, struct error *err)
{
	(void)path;
	return qcow2_open_fd(bd, fd, o, err);
}

static void qcow2_drv_close(struct blkdev *bd)
{
	qcow2_close_state(bd);
}

/* Checks shared by every operation that changes the image. */
static int begin_write(struct qcow2_state *s)
{
	if (s->readonly)
		return -EROFS;
	if (s->incompat & QCOW2_INCOMPAT_CORRUPT) {
		if (!s->corrupt_warned)
			log_err("qcow2: image is marked corrupt; writes are refused");
		s->corrupt_warned = true;
		return -EROFS;
	}
	return qcow2_mark_dirty(s);
}

static int qcow2_drv_preadv(struct blkdev *bd, const struct iovec *iov, int cnt, uint64_t off)
{
	return qcow2_co_preadv(qcow2_state_of(bd), iov, cnt, off);
}

static int qcow2_drv_pwritev(struct blkdev *bd, const struct iovec *iov, int cnt, uint64_t off)
{
	struct qcow2_state *s = qcow2_state_of(bd);
	int r = begin_write(s);

	return r ? r : qcow2_co_pwritev(s, iov, cnt, off);
}

static int qcow2_drv_flush(struct blkdev *bd)
{
	struct qcow2_state *s = qcow2_state_of(bd);

	return s->readonly ? 0 : qcow2_sync(s);
}

static int qcow2_drv_discard(struct blkdev *bd, uint64_t off, uint64_t len)
{
	struct qcow2_state *s = qcow2_state_of(bd);
	int r = begin_write(s);

	return r ? r : qcow2_zero_or_discard(s, off, len, false, false);
}

static int qcow2_drv_write_zeroes(struct blkdev *bd, uint64_t off, uint64_t len, bool may_unmap)
{
	struct qcow2_state *s = qcow2_state_of(bd);
	int r = begin_write(s);

	return r ? r : qcow2_zero_or_discard(s, off, len, true, may_unmap);
}

static int qcow2_drv_block_status(struct blkdev *bd, uint64_t off, uint64_t len, uint64_t *pnum,
				  int *status, uint64_t *host_off)
{
	return qcow2_co_block_status(qcow2_state_of(bd), off, len, pnum, status, host_off);
}

static int qcow2_drv_resize(struct blkdev *bd, uint64_t new_size)
{
	struct qcow2_state *s = qcow2_state_of(bd);
	uint64_t l1_need;
	int r;

	if (new_size == s->size)
		return 0;
	/* the size is counted in 512-byte sectors by every reader (QEMU refuses the rest) */
	if (new_size % 512) {
		log_err("qcow2: the new size must be a multiple of 512");
		return -EINVAL;
	}
	if (new_size < s->size) {
		r = begin_write(s);
		return r ? r : qcow2_shrink(s, new_size);
	}
	if (new_size > QCOW2_MAX_SIZE) {
		log_err("qcow2: size %llu is too large", (unsigned long long)new_size);
		return -EFBIG;
	}
	r = begin_write(s);
	if (r)
		return r;
	l1_need = DIV_ROUND_UP_U64(new_size, (uint64_t)s->cluster_size << s->l2_bits);
	r = qcow2_grow_l1(s, l1_need);
	if (r)
		return r;
	/*
	 * An overlay whose backing file is longer than the old size would
	 * show the backing file's data in the new area: zero it, as QEMU's
	 * truncate does (BDRV_REQ_ZERO_WRITE; v3 only, v2 has no zero flag),
	 * before the header says the image is that large.
	 */
	if (s->version >= 3 && bd->backing && blk_size(bd->backing) > s->size) {
		uint64_t old = s->size;

		s->size = new_size;
		r = qcow2_zero_or_discard(s, old, new_size - old, true, true);
		s->size = old;
		if (r)
			return r;
	}
	r = qcow2_sync(s);
	if (r)
		return r;
	return qcow2_write_size(s, new_size);
}

static int qcow2_drv_write_compressed(struct blkdev *bd, uint64_t off, const void *buf, size_t len)
{
	return qcow2_write_compressed(bd, off, buf, len);
}

const struct blk_driver qcow2_driver = {
	.name = "qcow2",
	.flags = 0,
	.probe = qcow2_probe,
	.open = qcow2_drv_open,
	.close = qcow2_drv_close,
	.preadv = qcow2_drv_preadv,
	.pwritev = qcow2_drv_pwritev,
	.flush = qcow2_drv_flush,
	.discard = qcow2_drv_discard,
	.write_zeroes = qcow2_drv_write_zeroes,
	.block_status = qcow2_drv_block_status,
	.resize = qcow2_drv_resize,
	.create = qcow2_create,
	.write_compressed = qcow2_drv_write_compressed,
};

int qcow2_info(struct blkdev *bd, struct qcow2_info *info)
{
	struct qcow2_state *s;
	struct stat st;

	if (!qcow2_is_qcow2(bd))
		return -EINVAL;
	s = qcow2_state_of(bd);
	memset(info, 0, sizeof(*info));
	info->version = (int)s->version;
	info->compat = s->version == 3 ? "1.1" : "0.10";
	info->cluster_size = s->cluster_size;
	info->virtual_size = s->size;
	info->refcount_bits = s->refcount_bits;
	info->lazy_refcounts = s->compat & QCOW2_COMPAT_LAZY_REFCOUNTS;
	info->dirty = s->incompat & QCOW2_INCOMPAT_DIRTY;
	info->corrupt = s->incompat & QCOW2_INCOMPAT_CORRUPT;
	info->compression_type = s->compression_type == QCOW2_COMPRESS_ZSTD ? "zstd" : "zlib";
	info->backing_file = s->backing_file;
	info->backing_fmt = s->backing_fmt;
	info->nb_snapshots = s->nb_snapshots;
	if (fstat(s->fd, &st) == 0) {
		info->disk_size = (uint64_t)st.st_blocks * 512;
		info->file_length = (uint64_t)st.st_size;
	}
	return 0;
}

/* Rewrite the first cluster: header, extensions, backing file name (spec "Header"). */
int qcow2_write_full_header(struct qcow2_state *s)
{
	uint64_t cs = s->cluster_size, p = ALIGN_UP((uint64_t)s->header_length, 8), boff = 0;
	size_t blen = s->backing_file ? strlen(s->backing_file) : 0;
	uint8_t *buf = calloc(1, cs);
	int r;

	if (!buf)
		return -ENOMEM;
	memcpy(buf, s->hdr, s->header_length);
	if (s->backing_fmt) {
		size_t l = strlen(s->backing_fmt);

		if (p + 8 + ALIGN_UP(l, 8) > cs)
			goto nospc;
		qcow2_put32(buf + p, QCOW2_EXT_BACKING_FMT);
		qcow2_put32(buf + p + 4, (uint32_t)l);
		memcpy(buf + p + 8, s->backing_fmt, l);
		p += 8 + ALIGN_UP(l, 8);
	}
	for (int i = 0; i < s->nb_exts; i++) {
		struct qcow2_ext *e = &s->exts[i];

		if (p + 8 + ALIGN_UP((uint64_t)e->len, 8) > cs)
			goto nospc;
		qcow2_put32(buf + p, e->type);
		qcow2_put32(buf + p + 4, e->len);
		memcpy(buf + p + 8, e->data, e->len);
		p += 8 + ALIGN_UP((uint64_t)e->len, 8);
	}
	p += 8; /* end of extensions */
	if (blen) {
		if (p + blen > cs)
			goto nospc;
		boff = p;
		memcpy(buf + p, s->backing_file, blen);
	}
	qcow2_put64(buf + 8, boff);
	qcow2_put32(buf + 16, (uint32_t)blen);
	memcpy(s->hdr, buf, s->header_length);
	r = pwrite_full(s->fd, buf, cs, 0);
	free(buf);
	if (r)
		return r;
	return qcow2_fdatasync(s) < 0 ? -errno : 0;
nospc:
	free(buf);
	log_err("qcow2: header, extensions and backing file name do not fit in one cluster");
	return -ENOSPC;
}

int qcow2_set_backing(struct blkdev *bd, const char *path, const char *fmt)
{
	struct qcow2_state *s;
	char *np = NULL, *nf = NULL, *op, *of;
	int r;

	if (!qcow2_is_qcow2(bd))
		return -EINVAL;
	s = qcow2_state_of(bd);
	if (s->readonly)
		return -EROFS;
	if (path && (strlen(path) > QCOW2_MAX_BACKING_NAME || !*path)) {
		log_err("qcow2: backing file name must have 1 to %d bytes", QCOW2_MAX_BACKING_NAME);
		return -EINVAL;
	}
	if (path && fmt && strlen(fmt) > 31) {
		log_err("qcow2: backing format name too long");
		return -EINVAL;
	}
	if (path && (!(np = strdup(path)) || (fmt && !(nf = strdup(fmt))))) {
		free(np);
		return -ENOMEM;
	}
	r = qcow2_sync(s);
	if (r) {
		free(np);
		free(nf);
		return r;
	}
	op = s->backing_file;
	of = s->backing_fmt;
	s->backing_file = np;
	s->backing_fmt = nf;
	r = qcow2_write_full_header(s);
	if (r) {
		s->backing_file = op;
		s->backing_fmt = of;
		free(np);
		free(nf);
		return r;
	}
	free(op);
	free(of);
	free(bd->backing_file);
	free(bd->backing_fmt);
	bd->backing_file = np ? strdup(np) : NULL;
	bd->backing_fmt = nf ? strdup(nf) : NULL;
	return 0;
}

int qcow2_make_empty(struct blkdev *bd)
{
	struct qcow2_state *s;
	uint64_t *old;
	uint8_t *z;
	int r;

	if (!qcow2_is_qcow2(bd))
		return -EINVAL;
	s = qcow2_state_of(bd);
	r = begin_write(s);
	if (r)
		return r;
	r = qcow2_sync(s);
	if (r || !s->l1_size)
		return r;
	old = malloc((size_t)s->l1_size * 8);
	z = calloc(s->l1_size, 8);
	if (!old || !z) {
		free(old);
		free(z);
		return -ENOMEM;
	}
	memcpy(old, s->l1, (size_t)s->l1_size * 8);
	/* the empty L1 table reaches the disk before any refcount drops */
	r = pwrite_full(s->fd, z, (size_t)s->l1_size * 8, (off_t)s->l1_offset);
	if (!r && qcow2_fdatasync(s) < 0)
		r = -errno;
	if (!r) {
		memset(s->l1, 0, (size_t)s->l1_size * 8);
		r = qcow2_update_l1_refs(s, old, s->l1_size, -1, false);
	}
	if (!r)
		r = qcow2_sync(s);
	free(old);
	free(z);
	return r;
}
