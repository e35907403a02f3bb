// SPDX-License-Identifier: MIT
/*
 * qcow2 image creation.  The file starts as the smallest valid image
 * (header, a one-cluster refcount table and one refcount block, as qemu
 * lays them out) and is then grown through the normal driver paths: the
 * L1 table for the virtual size, the backing file header extension and
 * any preallocation.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/qcow2-int.h"
#include "util/log.h"
#include "util/util.h"

static int backing_size(const char *path, const struct blk_create_opts *o, uint64_t *size,
			struct error *err)
{
	/*
	 * Only its size is read: like qemu-img create (bdrv_img_create()), share
	 * everything, so that an overlay of an image in use can be made.
	 */
	struct blk_open_opts bo = { .format = o->backing_fmt,
				    .readonly = true,
				    .no_backing = true,
				    .force_share = true };
	struct blkdev *b;
	char *full = NULL, *dup;
	int r;

	/* a relative backing name is relative to the new image's directory */
	if (o->backing_file[0] != '/' && strchr(path, '/')) {
		dup = strdup(path);
		if (!dup)
			return -ENOMEM;
		*strrchr(dup, '/') = 0;
		if (asprintf(&full, "%s/%s", dup, o->backing_file) < 0)
			full = NULL;
		free(dup);
		if (!full)
			return -ENOMEM;
	}
	r = blk_open(full ? full : o->backing_file, &bo, &b, err);
	if (r) {
		error_prefix(err, "qcow2: cannot open backing file %s to get its size",
			     o->backing_file);
	} else {
		*size = b->size;
		blk_close(b);
	}
	free(full);
	return r;
}

static int write_initial(int fd, uint32_t cbits, int version, uint32_t refcount_order,
			 uint8_t ctype, bool lazy)
{
	uint32_t cs = 1u << cbits;
	uint8_t *buf = calloc(3, cs), *h = buf;
	struct qcow2_state tmp = { .refcount_order = refcount_order };
	int r;

	if (!buf)
		return -ENOMEM;
	tmp.refcount_bits = 1u << refcount_order;
	tmp.refcount_max = tmp.refcount_bits == 64 ? UINT64_MAX : (1ull << tmp.refcount_bits) - 1;
	qcow2_put32(h, QCOW2_MAGIC);
	qcow2_put32(h + 4, (uint32_t)version);
	qcow2_put32(h + 20, cbits);
	qcow2_put64(h + 48, cs); /* refcount table: cluster 1 */
	qcow2_put32(h + 56, 1);
	if (version == 3) {
		qcow2_put64(h + 72, ctype ? QCOW2_INCOMPAT_COMPRESSION : 0);
		qcow2_put64(h + 80, lazy ? QCOW2_COMPAT_LAZY_REFCOUNTS : 0);
		qcow2_put32(h + 96, refcount_order);
		qcow2_put32(h + 100, QCOW2_V3_HDR_LEN_CT);
		h[104] = ctype;
	}
	qcow2_put64(buf + cs, 2ull * cs); /* refcount block: cluster 2 */
	for (int i = 0; i < 3; i++)
		qcow2_refcount_block_set(&tmp, buf + 2 * cs, (uint64_t)i, 1);
	r = ftruncate(fd, 0) < 0 ? -errno : pwrite_full(fd, buf, 3 * (size_t)cs, 0);
	free(buf);
	return r;
}

int qcow2_create(const char *path, const struct blk_create_opts *o, struct error *err)
{
	uint32_t cs = o->cluster_size ? o->cluster_size : 65536, cbits, rbits;
	int version = o->compat_v2 ? 2 : 3, fd, r;
	uint64_t size = o->size, l1_need;
	struct blk_open_opts oo = { .format = "qcow2", .no_backing = true };
	struct blkdev tmp;
	struct qcow2_state *s;
	uint8_t ctype = 0, b[8];

	if (cs < 512 || cs > 2 * MiB || (cs & (cs - 1))) {
		return error_setf(err, -EINVAL,
				  "qcow2: cluster size must be a power of two from 512 to 2M");
	}
	cbits = (uint32_t)__builtin_ctz(cs);
	rbits = o->refcount_bits ? o->refcount_bits : 16;
	if (rbits > 64 || (rbits & (rbits - 1))) {
		return error_setf(err, -EINVAL,
				  "qcow2: refcount_bits must be a power of two up to 64");
	}
	if (o->compression_type && !strcmp(o->compression_type, "zstd"))
		ctype = QCOW2_COMPRESS_ZSTD;
	else if (o->compression_type && strcmp(o->compression_type, "zlib")) {
		return error_setf(err, -EINVAL,
				  "qcow2: unknown compression type '%s' (zlib or zstd)",
				  o->compression_type);
	}
	if (version == 2 && (rbits != 16 || o->lazy_refcounts || ctype)) {
		return error_setf(
			err, -EINVAL,
			"qcow2: compat=0.10 needs refcount_bits=16, no lazy refcounts and zlib");
	}
	if (o->backing_file && strlen(o->backing_file) > QCOW2_MAX_BACKING_NAME) {
		return error_setf(err, -EINVAL, "qcow2: backing file name too long");
	}
	if (o->backing_file && o->prealloc != BLK_PREALLOC_OFF) {
		return error_setf(err, -EINVAL,
				  "qcow2: preallocation and a backing file cannot be combined");
	}
	if (!size && o->backing_file) {
		r = backing_size(path, o, &size, err);
		if (r)
			return r;
	}
	/* qemu reads and writes qcow2 images in whole 512-byte sectors */
	size = ALIGN_UP(size, 512);
	if (size > QCOW2_MAX_SIZE) {
		return error_setf(err, -EFBIG, "qcow2: size too large");
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return error_set_errno(err, -errno, "qcow2: cannot create %s", path);
	r = write_initial(fd, cbits, version, (uint32_t)__builtin_ctz(rbits), ctype,
			  o->lazy_refcounts);
	if (r)
		goto out;
	memset(&tmp, 0, sizeof(tmp));
	tmp.drv = &qcow2_driver;
	tmp.fd = fd;
	tmp.path = (char *)path;
	r = qcow2_open_fd(&tmp, fd, &oo, err);
	if (r)
		goto out;
	s = qcow2_state_of(&tmp);
	if (o->backing_file) {
		s->backing_file = strdup(o->backing_file);
		s->backing_fmt = o->backing_fmt ? strdup(o->backing_fmt) : NULL;
		if (!s->backing_file || (o->backing_fmt && !s->backing_fmt))
			r = -ENOMEM;
		if (!r)
			r = qcow2_write_full_header(s);
	}
	l1_need = DIV_ROUND_UP_U64(size, (uint64_t)cs << (cbits - 3));
	if (!r)
		r = qcow2_grow_l1(s, l1_need);
	if (!r) {
		qcow2_put64(b, size);
		r = qcow2_update_header_fields(s, 24, b, 8);
		s->size = size;
	}
	if (!r && o->prealloc != BLK_PREALLOC_OFF)
		r = qcow2_preallocate(s, 0, size, o->prealloc);
	if (!r)
		r = qcow2_sync(s);
	qcow2_close_state(&tmp);
	free(tmp.backing_file);
	free(tmp.backing_fmt);
out:
	if (close(fd) < 0 && !r)
		r = -errno;
	if (r)
		error_set_errno(err, r, "qcow2: creating %s failed", path);
	return r;
}
