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
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "block/qcow2-int.h"
#include "block/qcow2.h"
#include "util/util.h"

/*
 * Version 2 has no zero flag (spec, "Standard Cluster Descriptor": bit 0
 * is version 3 only), so a downgrade writes out every zero cluster of the
 * active L1 and of each snapshot's, as QEMU's does: one with a cluster
 * gets zeroes written there and loses the flag; one without becomes
 * unallocated when there is no backing file (it reads as zeroes), or gets
 * a new cluster of zeroes, with the table's refcount, when there is.  The
 * zeroes are on disk before an entry points at them, so the image reads
 * the same at every step.
 */
static int expand_table(struct qcow2_state *s, uint64_t l2off, uint8_t *zeroes)
{
	uint64_t cs = s->cluster_size, ref, *newoff;
	uint8_t *l2;
	int r;

	r = qcow2_refcount_get(s, l2off >> s->cluster_bits, &ref);
	if (r)
		return r;
	newoff = calloc(s->l2_size, sizeof(*newoff));
	if (!newoff)
		return -ENOMEM;
	r = qcow2_cache_get(&s->l2_cache, l2off, false, &l2);
	if (r)
		goto out;
	for (uint32_t i = 0; i < s->l2_size && !r; i++) {
		uint64_t e = qcow2_be64(l2 + i * 8), off = e & QCOW2_OFFSET_MASK;

		if (!(e & QCOW2_OFLAG_ZERO) || (e & QCOW2_OFLAG_COMPRESSED))
			continue;
		if (!off && !s->backing_file)
			continue;
		if (!off) {
			r = qcow2_alloc_clusters(s, 1, &off);
			if (!r && ref > 1)
				r = qcow2_refcount_update(s, off, cs, (int64_t)ref - 1);
		}
		if (!r)
			r = qcow2_check_data_overlap(s, off, cs);
		if (!r)
			r = pwrite_full(s->fd, zeroes, cs, (off_t)off);
		if (!r && off + cs > s->file_size)
			s->file_size = off + cs;
		newoff[i] = off;
	}
	if (!r && qcow2_fdatasync(s) < 0)
		r = -errno;
	for (uint32_t i = 0; i < s->l2_size && !r; i++) {
		uint64_t e = qcow2_be64(l2 + i * 8);

		if (!(e & QCOW2_OFLAG_ZERO) || (e & QCOW2_OFLAG_COMPRESSED))
			continue;
		if (!(e & QCOW2_OFFSET_MASK) && newoff[i])
			e = newoff[i] | (ref == 1 ? QCOW2_OFLAG_COPIED : 0);
		else if (!(e & QCOW2_OFFSET_MASK))
			e = 0;
		else
			e &= ~QCOW2_OFLAG_ZERO;
		qcow2_put64(l2 + i * 8, e);
		qcow2_cache_mark_dirty(&s->l2_cache, l2);
	}
	qcow2_cache_put(&s->l2_cache, l2);
out:
	free(newoff);
	return r;
}

static int cmp_off(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Add the L2 tables of one L1 table (host entries) to v[*n]. */
static void collect_l2(const uint64_t *l1, uint32_t n1, uint64_t *v, size_t *n)
{
	for (uint32_t i = 0; i < n1; i++)
		if (l1[i] & QCOW2_OFFSET_MASK)
			v[(*n)++] = l1[i] & QCOW2_OFFSET_MASK;
}

static int expand_zero_clusters(struct qcow2_state *s)
{
	size_t total = s->l1_size, n = 0;
	uint64_t *v, *l1 = NULL;
	uint8_t *zeroes;
	int r = 0;

	for (int i = 0; i < s->nb_snapshots; i++)
		total += s->snaps[i].l1_size;
	v = malloc((total ? total : 1) * sizeof(*v));
	zeroes = calloc(1, s->cluster_size);
	if (!v || !zeroes) {
		r = -ENOMEM;
		goto out;
	}
	collect_l2(s->l1, s->l1_size, v, &n);
	for (int i = 0; i < s->nb_snapshots && !r; i++) {
		struct qcow2_snapshot *sn = &s->snaps[i];

		free(l1);
		l1 = malloc(((size_t)sn->l1_size ? sn->l1_size : 1) * 8);
		if (!l1) {
			r = -ENOMEM;
			break;
		}
		r = pread_full(s->fd, l1, (size_t)sn->l1_size * 8, (off_t)sn->l1_offset);
		for (uint32_t k = 0; k < sn->l1_size && !r; k++)
			l1[k] = qcow2_be64((uint8_t *)&l1[k]);
		if (!r)
			collect_l2(l1, sn->l1_size, v, &n);
	}
	/* a table shared by several L1 tables is expanded once */
	qsort(v, n, sizeof(*v), cmp_off);
	for (size_t i = 0; i < n && !r; i++)
		if (!i || v[i] != v[i - 1])
			r = !qcow2_aligned(s, v[i]) ? -EIO : expand_table(s, v[i], zeroes);
	if (!r)
		r = qcow2_sync(s);
out:
	free(l1);
	free(v);
	free(zeroes);
	return r;
}

static int amend_to_v2(struct qcow2_state *s, struct error *err)
{
	int r;

	if (s->refcount_bits != 16)
		return error_setf(err, -ENOTSUP, "compat=0.10 needs refcount_bits=16 (it is %u)",
				  s->refcount_bits);
	if (s->incompat & ~QCOW2_INCOMPAT_DIRTY)
		return error_setf(err, -ENOTSUP,
				  "compat=0.10 cannot carry the image's incompatible features "
				  "(zstd compression, say)");
	r = expand_zero_clusters(s);
	if (r)
		return error_setf(err, r, "compat=0.10: cannot write out the zero clusters");
	qcow2_put32(s->hdr + 4, 2);
	s->version = 2;
	s->header_length = 72;
	s->compat = s->autoclear = 0;
	return 0;
}

static int amend_to_v3(struct qcow2_state *s, struct error *err)
{
	bool grow = false;
	uint8_t *h;

	/*
	 * Version 3 snapshot entries carry at least 16 bytes of extra data
	 * (vm_state_size_large, disk_size; spec "Snapshots"): a version 2
	 * table with less is rewritten first.  Version 2 readers take the
	 * longer entries too, so the image is valid between the two writes.
	 */
	for (int i = 0; i < s->nb_snapshots; i++) {
		struct qcow2_snapshot *sn = &s->snaps[i];
		uint8_t *x;

		if (sn->extra_size >= 16)
			continue;
		x = realloc(sn->extra, 16);
		if (!x)
			return error_setf(err, -ENOMEM, "out of memory");
		memset(x + sn->extra_size, 0, 16 - sn->extra_size);
		sn->extra = x;
		sn->extra_size = 16;
		grow = true;
	}
	if (grow) {
		int r = qcow2_write_snapshot_table(s);

		if (!r)
			r = qcow2_sync(s);
		if (r)
			return error_setf(err, r, "compat=1.1: cannot rewrite the snapshot table");
	}
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
		r = amend_to_v2(s, err);
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
