// SPDX-License-Identifier: MIT
/*
 * qcow2 writes: in-place writes of exclusively owned clusters, allocation
 * with copy-on-write of partial clusters, zero clusters, discard and
 * preallocation.
 *
 * Order of a write that allocates (crash safe, see qcow2-cache.c): the new
 * clusters' refcounts are raised in the refcount cache, the data is
 * written, the L2 entries are changed in the L2 cache (whose write-back
 * first writes and syncs the refcount blocks), and only after the L2
 * table is on disk are the old clusters' refcounts dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/qcow2-int.h"
#include "util/log.h"
#include "util/util.h"

/* Clusters an L2 entry holds a reference on (that a rewrite must drop). */
static bool l2e_holds_clusters(uint64_t e)
{
	return (e & QCOW2_OFLAG_COMPRESSED) || (e & QCOW2_OFFSET_MASK);
}

/*
 * Drop the references of replaced L2 entries, once the changed L2 table
 * is on disk: queued until the next metadata flush.
 */
static int release_old(struct qcow2_state *s, const uint64_t *old, uint64_t n, bool punch)
{
	int r;

	for (uint64_t i = 0; i < n; i++) {
		r = qcow2_defer_free(s, old[i], punch);
		if (r)
			return r;
	}
	return 0;
}

static bool in_place(uint64_t e)
{
	return (e & QCOW2_OFLAG_COPIED) && !(e & (QCOW2_OFLAG_COMPRESSED | QCOW2_OFLAG_ZERO)) &&
	       (e & QCOW2_OFFSET_MASK);
}

/*
 * Write [pos, pos+len) of iov at guest offset gofs, all inside the L2
 * table l2 (pinned, already exclusively ours).
 */
static int write_in_table(struct qcow2_state *s, uint8_t *l2, const struct iovec *iov, int cnt,
			  size_t pos, uint64_t gofs, size_t len, struct iovec *tmp, int tmpmax)
{
	uint64_t cs = s->cluster_size;
	int r;

	while (len) {
		uint64_t inc = gofs & (cs - 1);
		uint32_t l2i = (uint32_t)((gofs >> s->cluster_bits) & (s->l2_size - 1));
		uint64_t nclus = (inc + len + cs - 1) >> s->cluster_bits, k, e, host;
		size_t n, tail;
		int m;

		e = qcow2_be64(l2 + (uint64_t)l2i * 8);
		r = qcow2_check_l2_entry(s, e, gofs);
		if (r)
			return r;
		if (in_place(e)) {
			for (k = 1; k < nclus; k++) {
				uint64_t f = qcow2_be64(l2 + (uint64_t)(l2i + k) * 8);

				if (!in_place(f) ||
				    (f & QCOW2_OFFSET_MASK) != (e & QCOW2_OFFSET_MASK) + k * cs)
					break;
			}
			n = (size_t)MIN((uint64_t)len, k * cs - inc);
			host = (e & QCOW2_OFFSET_MASK) + inc;
			r = qcow2_check_data_overlap(s, host, n);
			if (r)
				return r;
			m = qcow2_iov_slice(iov, cnt, pos, n, tmp, tmpmax);
			if (m < 0)
				return m;
			r = qcow2_file_pwritev(s, tmp, m, host);
			if (r)
				return r;
			pos += n;
			gofs += n;
			len -= n;
			continue;
		}

		/* a run of clusters that need new host clusters */
		for (k = 1; k < nclus; k++)
			if (in_place(qcow2_be64(l2 + (uint64_t)(l2i + k) * 8)))
				break;
		n = (size_t)MIN((uint64_t)len, k * cs - inc);
		tail = (size_t)((cs - ((inc + n) & (cs - 1))) & (cs - 1));
		r = qcow2_alloc_clusters(s, k, &host);
		if (r)
			return r;
		m = 0;
		if (inc) {
			r = qcow2_read_cluster_data(s, e, gofs, s->cow_head);
			if (r)
				return r;
			tmp[m++] = (struct iovec){ s->cow_head, inc };
		}
		r = qcow2_iov_slice(iov, cnt, pos, n, tmp + m, tmpmax - 2);
		if (r < 0)
			return r;
		m += r;
		if (tail) {
			uint64_t last = gofs + n - 1;
			uint64_t le = qcow2_be64(l2 + (uint64_t)(l2i + k - 1) * 8);
			uint8_t *src = s->cow_head;

			/* head and tail of one cluster: its old content is already read */
			if (k > 1 || !inc) {
				src = s->cow_tail;
				r = qcow2_read_cluster_data(s, le, last, src);
				if (r)
					return r;
			}
			tmp[m++] = (struct iovec){ src + cs - tail, tail };
		}
		r = qcow2_file_pwritev(s, tmp, m, host);
		if (r)
			return r;
		{
			uint64_t *old = malloc(sizeof(*old) * k);

			if (!old)
				return -ENOMEM;
			for (uint64_t i = 0; i < k; i++) {
				old[i] = qcow2_be64(l2 + (uint64_t)(l2i + i) * 8);
				qcow2_put64(l2 + (uint64_t)(l2i + i) * 8,
					    (host + i * cs) | QCOW2_OFLAG_COPIED);
			}
			qcow2_cache_mark_dirty(&s->l2_cache, l2);
			r = release_old(s, old, k, false);
			free(old);
			if (r)
				return r;
		}
		pos += n;
		gofs += n;
		len -= n;
	}
	return 0;
}

int qcow2_co_pwritev(struct qcow2_state *s, const struct iovec *iov, int cnt, uint64_t off)
{
	size_t total = qcow2_iov_size(iov, cnt), pos = 0;
	uint64_t cs = s->cluster_size;
	int tmpmax = cnt + 2, r = 0;
	struct iovec *tmp = malloc(sizeof(*tmp) * (size_t)tmpmax);

	if (!tmp)
		return -ENOMEM;
	s->dbuf_l2e = 0;
	while (pos < total) {
		uint64_t gofs = off + pos, inc = gofs & (cs - 1);
		uint32_t l2i = (uint32_t)((gofs >> s->cluster_bits) & (s->l2_size - 1));
		size_t chunk = (size_t)MIN((uint64_t)(total - pos),
					   ((uint64_t)(s->l2_size - l2i) << s->cluster_bits) - inc);
		uint8_t *l2;

		r = qcow2_get_l2(s, gofs, true, &l2);
		if (r)
			break;
		r = write_in_table(s, l2, iov, cnt, pos, gofs, chunk, tmp, tmpmax);
		qcow2_cache_put(&s->l2_cache, l2);
		if (r)
			break;
		pos += chunk;
	}
	free(tmp);
	return r;
}

static int write_zero_bytes(struct qcow2_state *s, uint64_t off, uint64_t len)
{
	size_t bl = (size_t)MIN(len, 1 * MiB);
	void *z = calloc(1, bl);
	int r = 0;

	if (!z)
		return -ENOMEM;
	while (len && !r) {
		size_t n = (size_t)MIN(len, (uint64_t)bl);
		struct iovec v = { z, n };

		r = qcow2_co_pwritev(s, &v, 1, off);
		off += n;
		len -= n;
	}
	free(z);
	return r;
}

/* The L2 table for an update: copied first if shared, allocated only if asked. */
static int get_l2_for_update(struct qcow2_state *s, uint64_t g, bool alloc_missing, uint8_t **l2)
{
	uint64_t l1i = g >> (s->cluster_bits + s->l2_bits);

	if (l1i < s->l1_size && (s->l1[l1i] & QCOW2_OFFSET_MASK))
		return qcow2_get_l2(s, g, true, l2);
	*l2 = NULL;
	return alloc_missing ? qcow2_get_l2(s, g, true, l2) : 0;
}

/*
 * Zero (write_zeroes) or discard whole clusters in [off, off+len).  Partial
 * clusters are written with zeroes (zero) or left alone (discard).
 */
int qcow2_zero_or_discard(struct qcow2_state *s, uint64_t off, uint64_t len, bool zero,
			  bool may_unmap)
{
	uint64_t cs = s->cluster_size, end = off + len;
	uint64_t a = ALIGN_UP(off, cs),
		 b = end == s->size ? ALIGN_UP(end, cs) : ALIGN_DOWN(end, cs);
	bool backing = s->bd->backing || s->backing_file;
	uint64_t *old = NULL;
	int r = 0;

	if (a >= b) {
		return zero ? write_zero_bytes(s, off, len) : 0;
	}
	if (zero && a > off) {
		r = write_zero_bytes(s, off, a - off);
		if (r)
			return r;
	}
	if (zero && b < end) {
		r = write_zero_bytes(s, b, end - b);
		if (r)
			return r;
	}
	if (zero && s->version < 3) {
		/* v2 has no zero flag: write zeroes where the content is not zero already */
		for (uint64_t g = a; g < MIN(b, s->size) && !r;) {
			uint64_t pnum, ho;
			int st;

			r = qcow2_co_block_status(s, g, MIN(b, s->size) - g, &pnum, &st, &ho);
			if (r)
				break;
			if ((st & BLK_STATUS_ALLOCATED) || backing)
				r = write_zero_bytes(s, g, pnum);
			g += pnum;
		}
		return r;
	}
	old = malloc(sizeof(*old) * s->l2_size);
	if (!old)
		return -ENOMEM;
	s->dbuf_l2e = 0;
	for (uint64_t g = a; g < b;) {
		uint32_t l2i = (uint32_t)((g >> s->cluster_bits) & (s->l2_size - 1));
		uint64_t n = MIN((b - g) >> s->cluster_bits, (uint64_t)(s->l2_size - l2i)),
			 nold = 0;
		uint8_t *l2;

		/* a missing table reads as the backing file (or zeroes without one) */
		r = get_l2_for_update(s, g, backing && (zero || s->version >= 3), &l2);
		if (r)
			break;
		if (!l2) {
			g += n << s->cluster_bits;
			continue;
		}
		for (uint64_t i = 0; i < n; i++) {
			uint8_t *p = l2 + (l2i + i) * 8;
			uint64_t e = qcow2_be64(p), ne;

			if (!l2e_holds_clusters(e) && !(e & QCOW2_OFLAG_ZERO)) {
				/* unallocated: zeroes without a backing file; with one,
				 * discarded data must not reappear from the backing file
				 * (v2 cannot express that: a discard shows it again) */
				if (!backing || (!zero && s->version < 3))
					continue;
				ne = QCOW2_OFLAG_ZERO;
			} else if (zero && !may_unmap && in_place(e)) {
				ne = e | QCOW2_OFLAG_ZERO;
			} else if (zero || (backing && s->version >= 3)) {
				ne = QCOW2_OFLAG_ZERO;
			} else {
				ne = 0;
			}
			if (ne == e)
				continue;
			qcow2_put64(p, ne);
			if (l2e_holds_clusters(e) && !(ne & QCOW2_OFFSET_MASK))
				old[nold++] = e;
		}
		qcow2_cache_mark_dirty(&s->l2_cache, l2);
		r = release_old(s, old, nold, !zero || may_unmap);
		qcow2_cache_put(&s->l2_cache, l2);
		if (r)
			break;
		g += n << s->cluster_bits;
	}
	free(old);
	return r;
}

/* Allocate every unallocated cluster of [off, off+len) (create-time preallocation). */
int qcow2_preallocate(struct qcow2_state *s, uint64_t off, uint64_t len, enum blk_prealloc mode)
{
	uint64_t cs = s->cluster_size, end = ALIGN_UP(off + len, cs), data_end = 0;
	int r = 0;

	for (uint64_t g = ALIGN_DOWN(off, cs); g < end;) {
		uint32_t l2i = (uint32_t)((g >> s->cluster_bits) & (s->l2_size - 1));
		uint64_t n = MIN((end - g) >> s->cluster_bits, (uint64_t)(s->l2_size - l2i)), host;
		uint8_t *l2;

		r = qcow2_get_l2(s, g, true, &l2);
		if (r)
			return r;
		r = qcow2_alloc_clusters(s, n, &host);
		if (!r) {
			for (uint64_t i = 0; i < n; i++) {
				uint8_t *p = l2 + (l2i + i) * 8;

				if (qcow2_be64(p)) {
					r = -EEXIST; /* only for fresh images */
					break;
				}
				qcow2_put64(p, (host + i * cs) | QCOW2_OFLAG_COPIED);
			}
			qcow2_cache_mark_dirty(&s->l2_cache, l2);
		}
		qcow2_cache_put(&s->l2_cache, l2);
		if (r)
			return r;
		if (mode == BLK_PREALLOC_FULL || mode == BLK_PREALLOC_FALLOC) {
			r = mode == BLK_PREALLOC_FULL
				    ? 0
				    : -posix_fallocate(s->fd, (off_t)host, (off_t)(n * cs));
			if (mode == BLK_PREALLOC_FULL) {
				size_t zl = (size_t)MIN(n * cs, 1 * MiB);
				void *z = calloc(1, zl);

				if (!z)
					return -ENOMEM;
				for (uint64_t d = 0; d < n * cs && !r; d += zl)
					r = pwrite_full(s->fd, z, (size_t)MIN(zl, n * cs - d),
							(off_t)(host + d));
				free(z);
			}
			if (r)
				return r;
		}
		data_end = MAX(data_end, host + n * cs);
		g += n << s->cluster_bits;
	}
	if (data_end > s->file_size) {
		if (ftruncate(s->fd, (off_t)data_end) < 0)
			return -errno;
		s->file_size = data_end;
	}
	return qcow2_flush_metadata(s);
}
