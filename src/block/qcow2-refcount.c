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
		qcow2_err(s, "qcow2: refcount block offset 0x%llx is not cluster aligned",
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
	if (qcow2_fdatasync(s) < 0) {
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
	s->reftable_used = (uint32_t)MAX((uint64_t)s->reftable_used, first_ti + nrb);
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
			qcow2_err(s, "qcow2: no refcount block for cluster 0x%llx in use",
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
				if (nv < 0)
					qcow2_err(s,
						  "qcow2: refcount of cluster 0x%llx would drop "
						  "below "
						  "zero (metadata corrupt?)",
						  (unsigned long long)(c << s->cluster_bits));
				else
					qcow2_err(s,
						  "qcow2: refcount of cluster 0x%llx would exceed "
						  "the "
						  "maximum of refcount_bits=%u",
						  (unsigned long long)(c << s->cluster_bits),
						  s->refcount_bits);
				return nv < 0 ? -EIO : -ERANGE;
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

/* Find n free clusters in a row from the hint; grows the refcount table if needed. */
static int find_free_run(struct qcow2_state *s, uint64_t n, uint64_t *out, uint64_t *first_free)
{
	uint64_t mask = (1ull << s->rb_bits) - 1;
	int r;

restart:
	*first_free = UINT64_MAX;
	for (uint64_t c = s->free_hint, start = 0, run = 0;;) {
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
			*first_free = MIN(*first_free, c);
			run += take;
			c += take;
			if (run == n) {
				*out = start;
				return 0;
			}
			continue;
		}
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
			*first_free = MIN(*first_free, c);
			run++;
		}
		qcow2_cache_put(&s->rb_cache, rb);
		if (run == n) {
			*out = start;
			return 0;
		}
	}
}

/* Table indexes in [first, last] without a refcount block (count, and list if given). */
static int missing_refblocks(struct qcow2_state *s, uint64_t first, uint64_t last, uint64_t *list,
			     uint64_t *count)
{
	uint64_t m = 0, rbo;
	int r;

	for (uint64_t t = first >> s->rb_bits; t <= last >> s->rb_bits; t++) {
		if (t >= s->reftable_size) {
			m++; /* the caller grows the table first */
			continue;
		}
		r = refblock_offset(s, t, &rbo);
		if (r)
			return r;
		if (!rbo) {
			if (list)
				list[m] = t;
			m++;
		}
	}
	*count = m;
	return 0;
}

/*
 * Create the refcount blocks for table indexes list[0..m) in clusters
 * pos..pos+m (free, past the run they serve, so the run stays
 * contiguous).  A new block that lies in a range described by another new
 * block is counted there; otherwise in its range's existing block.  The
 * blocks reach the disk before the table entries that point at them.
 */
static int install_refblocks(struct qcow2_state *s, uint64_t pos, const uint64_t *list, uint64_t m)
{
	uint64_t cs = s->cluster_size, mask = (1ull << s->rb_bits) - 1;
	uint8_t *buf = calloc(1, cs), ent[8];
	int r = 0;

	if (!buf)
		return -ENOMEM;
	r = qcow2_check_data_overlap(s, pos << s->cluster_bits, m << s->cluster_bits);
	for (uint64_t j = 0; j < m && !r; j++) {
		memset(buf, 0, cs);
		for (uint64_t k = 0; k < m; k++)
			if (((pos + k) >> s->rb_bits) == list[j])
				qcow2_refcount_block_set(s, buf, (pos + k) & mask, 1);
		r = pwrite_full(s->fd, buf, cs, (off_t)((pos + j) << s->cluster_bits));
	}
	free(buf);
	if (r)
		return r;
	if (((pos + m) << s->cluster_bits) > s->file_size)
		s->file_size = (pos + m) << s->cluster_bits;
	/* new blocks lying in ranges that already have a block are counted there */
	for (uint64_t k = 0; k < m && !r; k++) {
		bool self = false;

		for (uint64_t j = 0; j < m; j++)
			self |= ((pos + k) >> s->rb_bits) == list[j];
		if (!self)
			r = qcow2_refcount_update(s, (pos + k) << s->cluster_bits, cs, 1);
	}
	/* the blocks and their own refcounts are on disk before the table points there */
	if (!r)
		r = qcow2_cache_flush(&s->rb_cache);
	if (!r && qcow2_fdatasync(s) < 0)
		r = -errno;
	for (uint64_t j = 0; j < m && !r; j++) {
		qcow2_put64(ent, (pos + j) << s->cluster_bits);
		r = pwrite_full(s->fd, ent, 8, (off_t)(s->reftable_offset + list[j] * 8));
		if (!r) {
			s->reftable[list[j]] = (pos + j) << s->cluster_bits;
			s->reftable_used = (uint32_t)MAX(s->reftable_used, list[j] + 1);
		}
	}
	return r;
}

int qcow2_alloc_clusters(struct qcow2_state *s, uint64_t n, uint64_t *out)
{
	uint64_t extra = 0, start = 0, first_free, m, *list;
	int r;

	for (;;) {
		r = find_free_run(s, n + extra, &start, &first_free);
		if (r)
			return r;
		/* refcount blocks the run (and the blocks themselves) still need */
		m = 0;
		for (;;) {
			uint64_t m2;

			r = missing_refblocks(s, start, start + n + m - 1, NULL, &m2);
			if (r)
				return r;
			if (m2 <= m)
				break;
			m = m2;
		}
		if (m > extra) {
			extra = m;
			continue;
		}
		if (((start + n + m - 1) >> s->rb_bits) >= s->reftable_size) {
			r = grow_reftable(s, (start + n + m - 1) >> s->rb_bits);
			if (r)
				return r;
			continue;
		}
		if (m) {
			list = malloc(sizeof(*list) * m);
			if (!list)
				return -ENOMEM;
			r = missing_refblocks(s, start, start + n + m - 1, list, &m);
			if (!r)
				r = install_refblocks(s, start + n, list, m);
			free(list);
			if (r)
				return r;
		}
		r = qcow2_check_data_overlap(s, start << s->cluster_bits, n << s->cluster_bits);
		if (r)
			return r;
		r = qcow2_refcount_update(s, start << s->cluster_bits, n << s->cluster_bits, 1);
		if (r)
			return r;
		/* everything below the first free cluster seen is in use */
		s->free_hint = start == first_free ? start + n + m : first_free;
		*out = start << s->cluster_bits;
		return 0;
	}
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

static int free_one(struct qcow2_state *s, uint64_t e)
{
	uint64_t off = e & QCOW2_OFFSET_MASK, ref;
	int r = qcow2_free_l2_entry(s, e & ~QCOW2_OFLAG_ZERO);

	if (r || !(e & QCOW2_OFLAG_ZERO) || (e & QCOW2_OFLAG_COMPRESSED))
		return r;
	if (qcow2_refcount_get(s, off >> s->cluster_bits, &ref) == 0 && ref == 0)
		(void)fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
				(off_t)s->cluster_size);
	return 0;
}

static int apply_pending(struct qcow2_state *s)
{
	int r = 0;

	for (size_t i = 0; i < s->nb_pending && !r; i++)
		r = free_one(s, s->pending[i]);
	s->nb_pending = 0;
	return r;
}

int qcow2_defer_free(struct qcow2_state *s, uint64_t l2e, bool punch)
{
	int r;

	if (!(l2e & QCOW2_OFLAG_COMPRESSED) && !(l2e & QCOW2_OFFSET_MASK))
		return 0;
	l2e = (l2e & ~QCOW2_OFLAG_ZERO) | (punch ? QCOW2_OFLAG_ZERO : 0);
	if (s->dirty_set)
		return free_one(s, l2e); /* lazy refcounts: no order to keep */
	if (s->nb_pending == s->max_pending) {
		size_t n = s->max_pending ? s->max_pending * 2 : 256;
		uint64_t *p;

		if (n > 65536) {
			r = qcow2_flush_metadata(s);
			if (r)
				return r;
			return qcow2_defer_free(s, l2e, punch);
		}
		p = realloc(s->pending, n * sizeof(*p));
		if (!p)
			return -ENOMEM;
		s->pending = p;
		s->max_pending = n;
	}
	s->pending[s->nb_pending++] = l2e;
	return 0;
}

int qcow2_flush_metadata(struct qcow2_state *s)
{
	int r = qcow2_cache_flush(&s->rb_cache);

	if (!r)
		r = qcow2_cache_flush(&s->l2_cache);
	/* the L2 tables no longer reference these clusters on disk */
	if (!r && s->nb_pending) {
		r = apply_pending(s);
		if (!r)
			r = qcow2_cache_flush(&s->rb_cache);
	}
	return r;
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

	if (!(s->incompat & QCOW2_INCOMPAT_DIRTY) || s->keep_dirty)
		return 0;
	r = qcow2_flush_metadata(s);
	if (r)
		return r;
	if (qcow2_fdatasync(s) < 0)
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
