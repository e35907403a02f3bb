// SPDX-License-Identifier: MIT
/*
 * Changing a qcow2 image's options in place (`vessel img amend`, as
 * qemu-img amend): the version (compat=0.10|1.1) and lazy refcounts.
 *
 * Both are header changes (qcow2 spec, "Header"): version 2 headers are
 * 72 bytes and end at the snapshot table offset; version 3 adds the
 * feature bit fields (72-95), refcount_order (96) and header_length
 * (100).  The extensions and the backing file name that follow the header
 * move with it, so the whole first cluster is rewritten at once
 * (qcow2_write_full_header).  The image is made clean first: metadata
 * flushed, the dirty bit cleared, so a lazy-refcount image's refcounts
 * are right before the bit that allowed them to lag goes away.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block/qcow2-int.h"
#include "block/qcow2.h"

/* Any cluster of the active L1 that reads as zeroes by the v3 zero flag? */
static int has_zero_clusters(struct blkdev *bd, bool *found)
{
	uint64_t off = 0;

	*found = false;
	while (off < bd->size) {
		uint64_t n, host;
		int st, r = blk_block_status(bd, off, bd->size - off, &n, &st, &host);

		if (r < 0)
			return r;
		if (!n)
			return -EIO;
		if ((st & BLK_STATUS_ZERO) && (st & BLK_STATUS_ALLOCATED)) {
			*found = true;
			return 0;
		}
		off += n;
	}
	return 0;
}

static int amend_to_v2(struct blkdev *bd, struct qcow2_state *s, struct error *err)
{
	bool zero;
	int r;

	if (s->refcount_bits != 16)
		return error_setf(err, -ENOTSUP, "compat=0.10 needs refcount_bits=16 (it is %u)",
				  s->refcount_bits);
	if (s->incompat & ~QCOW2_INCOMPAT_DIRTY)
		return error_setf(err, -ENOTSUP,
				  "compat=0.10 cannot carry the image's incompatible features "
				  "(zstd compression, say)");
	if (s->nb_snapshots)
		return error_setf(err, -ENOTSUP,
				  "compat=0.10 of an image with internal snapshots is not supported "
				  "(their zero clusters would need writing out)");
	r = has_zero_clusters(bd, &zero);
	if (r)
		return error_setf(err, r, "cannot read the image's clusters");
	if (zero)
		return error_setf(err, -ENOTSUP,
				  "compat=0.10: the image has zero clusters, which version 2 "
				  "cannot express; convert it with -o compat=0.10 instead");
	qcow2_put32(s->hdr + 4, 2);
	s->version = 2;
	s->header_length = 72;
	s->compat = s->autoclear = 0;
	return 0;
}

static int amend_to_v3(struct qcow2_state *s, struct error *err)
{
	uint8_t *h;

	if (s->nb_snapshots)
		return error_setf(err, -ENOTSUP,
				  "compat=1.1 of an image with internal snapshots is not supported "
				  "(their table entries would need the version 3 extra data)");
	h = realloc(s->hdr, QCOW2_V3_HDR_LEN);
	if (!h)
		return error_setf(err, -ENOMEM, "out of memory");
	s->hdr = h;
	memset(h + 72, 0, QCOW2_V3_HDR_LEN - 72);
	qcow2_put32(h + 4, 3);
	qcow2_put32(h + 96, 4); /* refcount_order: 16-bit refcounts, as in v2 */
	qcow2_put32(h + 100, QCOW2_V3_HDR_LEN);
	s->version = 3;
	s->header_length = QCOW2_V3_HDR_LEN;
	s->incompat = s->compat = s->autoclear = 0;
	return 0;
}

int qcow2_amend(struct blkdev *bd, int version, int lazy, struct error *err)
{
	struct qcow2_state *s;
	uint32_t old_version, old_len;
	uint64_t old_compat, old_incompat, old_autoclear;
	uint8_t *saved;
	int r;

	if (!qcow2_is_qcow2(bd))
		return error_setf(err, -EINVAL, "amend: not a qcow2 image");
	s = qcow2_state_of(bd);
	if (s->readonly)
		return error_setf(err, -EROFS, "amend: the image is read-only");
	if (lazy == 1 && (version == 2 || (!version && s->version < 3)))
		return error_setf(err, -EINVAL, "lazy_refcounts=on needs compat=1.1");
	r = qcow2_sync(s);
	if (!r)
		r = qcow2_mark_clean(s);
	if (r)
		return error_setf(err, r, "amend: cannot flush the image");
	saved = malloc(s->header_length);
	if (!saved)
		return error_setf(err, -ENOMEM, "out of memory");
	memcpy(saved, s->hdr, s->header_length);
	old_version = s->version;
	old_len = s->header_length;
	old_compat = s->compat;
	old_incompat = s->incompat;
	old_autoclear = s->autoclear;
	if (version == 2 && s->version == 3)
		r = amend_to_v2(bd, s, err);
	else if (version == 3 && s->version == 2)
		r = amend_to_v3(s, err);
	if (!r && lazy >= 0 && s->version >= 3) {
		if (lazy)
			s->compat |= QCOW2_COMPAT_LAZY_REFCOUNTS;
		else
			s->compat &= ~QCOW2_COMPAT_LAZY_REFCOUNTS;
	}
	if (!r && s->version >= 3) {
		qcow2_put64(s->hdr + 72, s->incompat);
		qcow2_put64(s->hdr + 80, s->compat);
		qcow2_put64(s->hdr + 88, s->autoclear);
	}
	if (!r) {
		r = qcow2_write_full_header(s);
		if (r)
			error_setf(err, r, "amend: cannot write the header");
	}
	if (r) {
		/* Nothing reached the file, or the old header is what is wanted back. */
		uint8_t *h = realloc(s->hdr, old_len);

		if (h) {
			s->hdr = h;
			memcpy(s->hdr, saved, old_len);
		}
		s->version = old_version;
		s->header_length = old_len;
		s->compat = old_compat;
		s->incompat = old_incompat;
		s->autoclear = old_autoclear;
	}
	free(saved);
	return r;
}
