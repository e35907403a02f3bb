// SPDX-License-Identifier: MIT
/*
 * qcow2 refcounts and cluster allocation (spec "Host cluster management").
 *
 * The refcount table points at refcount blocks; a refcount block holds
 * 2^rb_bits entries of refcount_bits each.  A cluster is free when its
 * refcount is 0 or when no refcount block covers it.
 *
 * Crash consistency: a cluster's refcount is raised (and, through the
 * cache dependency, on disk) before anything points at it, and lowered
 * only after the last on-disk reference is gone, so an interrupted
 * update leaves leaks at worst, never a refcount below the real count.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/qcow2-int.h"
#include "util/log.h"
#include "util/util.h"

uint64_t qcow2_refcount_block_get(const struct qcow2_state *s, const uint8_t *rb, uint64_t idx)
{
	switch (s->refcount_order) {
	case 0:
	case 1:
	case 2: {
		/* sub-byte refcounts are packed starting at the least significant bit */
		uint64_t bit = idx << s->refcount_order;

		return (rb[bit / 8] >> (bit % 8)) & s->refcount_max;
	}
	case 3:
		return rb[idx];
	case 4:
		return qcow2_be16(rb + idx * 2);
	case 5:
		return qcow2_be32(rb + idx * 4);
	default:
		return qcow2_be64(rb + idx * 8);
	}
}

void qcow2_refcount_block_set(const struct qcow2_state *s, uint8_t *rb, uint64_t idx, uint64_t v)
{
	switch (s->refcount_order) {
	case 0:
	case 1:
	case 2: {
		uint64_t bit = idx << s->refcount_order;
		uint8_t mask = (uint8_t)(s->refcount_max << (bit % 8));

		rb[bit / 8] = (uint8_t)((rb[bit / 8] & ~mask) | ((v << (bit % 8)) & mask));
		break;
	}
	case 3:
		rb[idx] = (uint8_t)v;
		break;
	case 4:
		qcow2_put16(rb + idx * 2, (uint16_t)v);
		break;
	case 5:
		qcow2_put32(rb + idx * 4, (uint32_t)v);
		break;
	default:
		qcow2_put64(rb + idx * 8, v);
		break;
	}
}

static int refblock_offset(struct qcow2_state *s, uint64_t ti, uint64_t *off)
{
	*off = 0;
	if (ti >= s->reftable_size)
		return 0;
	*off = s->reftable[ti] & QCOW2_REFT_OFFSET_MASK;
	if (*off && !qcow2_aligned(s, *off)) {
		log_err("qcow2: refcount block offset 0x%llx is not cluster aligned",
			(unsigned long long)*off);
		return -EIO;
	}
	return 0;
}

int qcow2_refcount_get(struct qcow2_state *s, uint64_t cluster, uint64_t *ref)
{
	uint64_t ti = cluster >> s->rb_bits, rbo;
	uint8_t *rb;
	int r;

	*ref = 0;
	r = refblock_offset(s, ti, &rbo);
	if (r || !rbo)
		return r;
	r = qcow2_cache_get(&s->rb_cache, rbo, false, &rb);
	if (r)
		return r;
	*ref = qcow2_refcount_block_get(s, rb, cluster & ((1ull << s->rb_bits) - 1));
	qcow2_cache_put(&s->rb_cache, rb);
	return 0;
}

/*
 * Give table index ti a refcount block.  Nothing in its range is in use
 * (no block covers it), so the block goes into the first cluster of the
 * range and describes itself.  The block reaches the disk before the
 * refcount table entry that points at it.
 */
static int alloc_refblock(struct qcow2_state *s, uint64_t ti)
{
	uint64_t off = (ti << s->rb_bits) << s->cluster_bits;
	uint8_t ent[8];
	uint8_t *rb;
	int r;

	r = qcow2_check_overlap(s, off, s->cluster_size);
	if (r)
		return r;
	r = qcow2_cache_get(&s->rb_cache, off, true, &rb);
	if (r)
		return r;
	qcow2_refcount_block_set(s, rb, 0, 1);
	qcow2_cache_put(&s->rb_cache, rb);
	r = qcow2_cache_flush(&s->rb_cache);
	if (r)
		return r;
	qcow2_put64(ent, off);
	r = pwrite_full(s->fd, ent, 8, (off_t)(s->reftable_offset + ti * 8));
	if (r)
		return r;
	s->reftable[ti] = off;
	return 0;
}

/*
 * Grow the refcount table so that it has an entry for `need_ti`.  The new
 * table and the refcount blocks describing it go to a fresh area past
 * everything the old table covers; then the header switches to the new
 * table and the old one is freed.
 */
static int grow_reftable(struct qcow2_state *s, uint64_t need_ti)
{
	uint64_t cs = s->cluster_size, per_rb = 1ull << s->rb_bits;
	uint64_t old_entries = s->reftable_size;
	uint64_t area = MAX(old_entries * per_rb, ALIGN_UP(s->file_size, cs) >> s->cluster_bits);
	uint64_t entries = MAX(need_ti + 1, old_entries + old_entries / 2 + 1);
	uint64_t tc, nrb = 0, first_ti, last_ti;
	uint64_t old_off = s->reftable_offset, old_clusters = s->reftable_clusters;
	uint8_t *buf = NULL, hdr[12];
	uint64_t *table = NULL;
	int r;

	for (;;) {
		tc = DIV_ROUND_UP_U64(entries * 8, cs);
		first_ti = area >> s->rb_bits;
		last_ti = (area + nrb + tc - 1) >> s->rb_bits;
		if (last_ti + 1 > entries) {
			entries = last_ti + 1;
			continue;
		}
		if (last_ti - first_ti + 1 == nrb)
			break;
		nrb = last_ti - first_ti + 1;
	}
	if (tc * cs > QCOW2_MAX_REFTABLE_BYTES) {
		log_err("qcow2: refcount table would exceed %u bytes", QCOW2_MAX_REFTABLE_BYTES);
		return -EFBIG;
	}
	table = calloc(tc * cs / 8, 8);
	buf = calloc(1, cs);
	if (!table || !buf) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(table, s->reftable, old_entries * 8);
	/* refcount blocks: block j covers table index first_ti + j */
	for (uint64_t j = 0; j < nrb; j++) {
		uint64_t ti = first_ti + j, rbo = (area + j) << s->cluster_bits;

		memset(buf, 0, cs);
		for (uint64_t c = area; c < area + nrb + tc; c++)
			if ((c >> s->rb_bits) == ti)
				qcow2_refcount_block_set(s, buf, c & (per_rb - 1), 1);
		r = pwrite_full(s->fd, buf, cs, (off_t)rbo);
		if (r)
			goto out;
		table[ti] = rbo;
	}
	for (uint64_t i = 0; i < tc * cs / 8; i++) {
		uint64_t v = table[i];

		qcow2_put64((uint8_t *)&table[i], v);
	}
	r = pwrite_full(s->fd, table, tc * cs, (off_t)((area + nrb) << s->cluster_bits));
	if (r)
		goto out;
	if (fdatasync(s->fd) < 0) {
		r = -errno;
		goto out;
	}
	qcow2_put64(hdr, (area + nrb) << s->cluster_bits);
	qcow2_put32(hdr + 8, (uint32_t)tc);
	r = qcow2_update_header_fields(s, 48, hdr, 12);
	if (r)
		goto out;
	for (uint64_t i = 0; i < tc * cs / 8; i++)
		table[i] = qcow2_be64((uint8_t *)&table[i]);
	free(s->reftable);
	s->reftable = table;
	table = NULL;
	s->reftable_size = (uint32_t)(tc * cs / 8);
	s->reftable_offset = (area + nrb) << s->cluster_bits;
	s->reftable_clusters = (uint32_t)tc;
	if ((area + nrb + tc) << s->cluster_bits > s->file_size)
		s->file_size = (area + nrb + tc) << s->cluster_bits;
	r = qcow2_free_clusters(s, old_off, old_clusters * cs);
out:
	free(table);
	free(buf);
	return r;
}

int qcow2_refcount_update(struct qcow2_state *s, uint64_t off, uint64_t len, int64_t addend)
{
	uint64_t first = off >> s->cluster_bits;
	uint64_t last = (off + len - 1) >> s->cluster_bits;
	uint64_t mask = (1ull << s->rb_bits) - 1;
	int r;

	if (!len || !addend)
		return 0;
	for (uint64_t c = first; c <= last;) {
		uint64_t ti = c >> s->rb_bits, rbo, end = MIN(last + 1, (ti + 1) << s->rb_bits);
		uint8_t *rb;

		r = refblock_offset(s, ti, &rbo);
		if (r)
			return r;
		if (!rbo) {
			log_err("qcow2: no refcount block for cluster 0x%llx in use",
				(unsigned long long)(c << s->cluster_bits));
			return -EIO;
		}
		r = qcow2_cache_get(&s->rb_cache, rbo, false, &rb);
		if (r)
			return r;
		for (; c < end; c++) {
			uint64_t v = qcow2_refcount_block_get(s, rb, c & mask);
			int64_t nv = (int64_t)v + addend;

			if (nv < 0 || (uint64_t)nv > s->refcount_max) {
				qcow2_cache_put(&s->rb_cache, rb);
				log_err("qcow2: refcount of cluster 0x%llx would become %lld "
					"(metadata corrupt?)",
					(unsigned long long)(c << s->cluster_bits), (long long)nv);
				return -EIO;
			}
			qcow2_refcount_block_set(s, rb, c & mask, (uint64_t)nv);
			if (nv == 0) {
				qcow2_cache_discard(&s->l2_cache, c << s->cluster_bits);
				if (c == s->comp_next >> s->cluster_bits)
					s->comp_next = 0;
				if (c < s->free_hint)
					s->free_hint = c;
			}
		}
		qcow2_cache_mark_dirty(&s->rb_cache, rb);
		qcow2_cache_put(&s->rb_cache, rb);
	}
	return 0;
}

int qcow2_alloc_clusters(struct qcow2_state *s, uint64_t n, uint64_t *out)
{
	uint64_t mask = (1ull << s->rb_bits) - 1;
	int r;

restart:
	for (uint64_t c = s->free_hint, start = 0, run = 0; run < n;) {
		uint64_t ti = c >> s->rb_bits, rbo, end = (ti + 1) << s->rb_bits;
		uint8_t *rb;

		if ((c + n) << s->cluster_bits >= QCOW2_MAX_SIZE) {
			log_err("qcow2: image file would exceed the maximum size");
			return -EFBIG;
		}
		if (ti >= s->reftable_size) {
			r = grow_reftable(s, ((c + n) >> s->rb_bits) + 1);
			if (r)
				return r;
			goto restart;
		}
		r = refblock_offset(s, ti, &rbo);
		if (r)
			return r;
		if (!rbo) {
			uint64_t take = MIN(end - c, n - run);

			if (!run)
				start = c;
			run += take;
			c += take;
		} else {
			r = qcow2_cache_get(&s->rb_cache, rbo, false, &rb);
			if (r)
				return r;
			for (; c < end && run < n; c++) {
				if (qcow2_refcount_block_get(s, rb, c & mask)) {
					run = 0;
					continue;
				}
				if (!run)
					start = c;
				run++;
			}
			qcow2_cache_put(&s->rb_cache, rb);
		}
		if (run < n)
			continue;
		/* every cluster of the run needs a refcount block before use */
		for (uint64_t t = start >> s->rb_bits; t <= (start + n - 1) >> s->rb_bits; t++) {
			if (t >= s->reftable_size) {
				r = grow_reftable(s, t);
				if (r)
					return r;
				goto restart;
			}
			r = refblock_offset(s, t, &rbo);
			if (r)
				return r;
			if (!rbo) {
				r = alloc_refblock(s, t);
				if (r)
					return r;
				goto restart;
			}
		}
		r = qcow2_check_overlap(s, start << s->cluster_bits, n << s->cluster_bits);
		if (r)
			return r;
		r = qcow2_refcount_update(s, start << s->cluster_bits, n << s->cluster_bits, 1);
		if (r)
			return r;
		if (start == s->free_hint)
			s->free_hint = start + n;
		*out = start << s->cluster_bits;
		return 0;
	}
	return -EIO;
}

int qcow2_free_clusters(struct qcow2_state *s, uint64_t off, uint64_t len)
{
	int r;

	/* the references dropped by the caller must be on disk first */
	if (!s->dirty_set) {
		r = qcow2_cache_flush(&s->l2_cache);
		if (r)
			return r;
	}
	return qcow2_refcount_update(s, off, len, -1);
}

int qcow2_free_l2_entry(struct qcow2_state *s, uint64_t l2e)
{
	uint64_t off, len;

	if (l2e & QCOW2_OFLAG_COMPRESSED) {
		qcow2_comp_desc(s, l2e, &off, &len);
		/* every host cluster the compressed data touches holds a reference */
		return qcow2_refcount_update(s, ALIGN_DOWN(off, 512), len + (off & 511), -1);
	}
	off = l2e & QCOW2_OFFSET_MASK;
	if (!off)
		return 0;
	return qcow2_refcount_update(s, off, s->cluster_size, -1);
}

int qcow2_flush_metadata(struct qcow2_state *s)
{
	int r = qcow2_cache_flush(&s->rb_cache);

	if (r)
		return r;
	return qcow2_cache_flush(&s->l2_cache);
}

int qcow2_mark_dirty(struct qcow2_state *s)
{
	uint8_t b[8];
	int r;

	if (s->dirty_set || !(s->compat & QCOW2_COMPAT_LAZY_REFCOUNTS) || s->version < 3)
		return 0;
	qcow2_put64(b, s->incompat | QCOW2_INCOMPAT_DIRTY);
	r = qcow2_update_header_fields(s, 72, b, 8);
	if (r)
		return r;
	s->incompat |= QCOW2_INCOMPAT_DIRTY;
	s->dirty_set = true;
	/* with the dirty bit set, refcounts may lag: they are rebuilt on open */
	s->l2_cache.depends = NULL;
	return 0;
}

int qcow2_mark_clean(struct qcow2_state *s)
{
	uint8_t b[8];
	int r;

	if (!(s->incompat & QCOW2_INCOMPAT_DIRTY))
		return 0;
	r = qcow2_flush_metadata(s);
	if (r)
		return r;
	if (fdatasync(s->fd) < 0)
		return -errno;
	qcow2_put64(b, s->incompat & ~QCOW2_INCOMPAT_DIRTY);
	r = qcow2_update_header_fields(s, 72, b, 8);
	if (r)
		return r;
	s->incompat &= ~QCOW2_INCOMPAT_DIRTY;
	s->dirty_set = false;
	s->l2_cache.depends = &s->rb_cache;
	return 0;
}
