// SPDX-License-Identifier: MIT
/*
 * qcow2 cluster mapping (spec "Cluster mapping"): the L1 table, L2
 * tables, reading guest data and block status.
 *
 * A guest offset splits into an L1 index, an L2 index and an offset in
 * the cluster.  An L2 entry is unallocated (0: read the backing file or
 * zeroes), a zero cluster (bit 0, v3), compressed (bit 62) or a normal
 * cluster at a host offset; bit 63 (OFLAG_COPIED) says its refcount is
 * exactly one, so it may be written in place.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/qcow2-int.h"
#include "util/log.h"
#include "util/util.h"

size_t qcow2_iov_size(const struct iovec *iov, int cnt)
{
	size_t n = 0;

	for (int i = 0; i < cnt; i++)
		n += iov[i].iov_len;
	return n;
}

int qcow2_iov_slice(const struct iovec *iov, int cnt, size_t off, size_t len, struct iovec *out,
		    int max)
{
	int n = 0;

	for (int i = 0; i < cnt && len; i++) {
		size_t l = iov[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		if (n == max)
			return -EINVAL;
		out[n].iov_base = (char *)iov[i].iov_base + off;
		out[n].iov_len = MIN(l - off, len);
		len -= out[n].iov_len;
		off = 0;
		n++;
	}
	return len ? -EINVAL : n;
}

static void iov_copy(const struct iovec *iov, int cnt, size_t off, void *buf, size_t len, int dir)
{
	char *p = buf;

	for (int i = 0; i < cnt && len; i++) {
		size_t l = iov[i].iov_len, n;

		if (off >= l) {
			off -= l;
			continue;
		}
		n = MIN(l - off, len);
		if (dir == 0)
			memset((char *)iov[i].iov_base + off, 0, n);
		else if (dir > 0)
			memcpy((char *)iov[i].iov_base + off, p, n);
		else
			memcpy(p, (char *)iov[i].iov_base + off, n);
		p += n;
		len -= n;
		off = 0;
	}
}

void qcow2_iov_memset(const struct iovec *iov, int cnt, size_t off, size_t len)
{
	iov_copy(iov, cnt, off, NULL, len, 0);
}

void qcow2_iov_from_buf(const struct iovec *iov, int cnt, size_t off, const void *buf, size_t len)
{
	iov_copy(iov, cnt, off, (void *)buf, len, 1);
}

void qcow2_iov_to_buf(const struct iovec *iov, int cnt, size_t off, void *buf, size_t len)
{
	iov_copy(iov, cnt, off, buf, len, -1);
}

int qcow2_write_l1_entry(struct qcow2_state *s, uint32_t idx)
{
	uint8_t b[8];

	qcow2_put64(b, s->l1[idx]);
	return pwrite_full(s->fd, b, 8, (off_t)(s->l1_offset + (uint64_t)idx * 8));
}

int qcow2_write_l1_table(struct qcow2_state *s)
{
	uint8_t *b = malloc((size_t)(s->l1_size ? s->l1_size : 1) * 8);
	int r;

	if (!b)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->l1_size; i++)
		qcow2_put64(b + (size_t)i * 8, s->l1[i]);
	r = pwrite_full(s->fd, b, (size_t)s->l1_size * 8, (off_t)s->l1_offset);
	free(b);
	return r;
}

/* Replace the active L1 table by a larger copy (resize, or a write past the old end). */
int qcow2_grow_l1(struct qcow2_state *s, uint64_t min_size)
{
	uint64_t cs = s->cluster_size, bytes, nc, off, old_off = s->l1_offset;
	uint64_t old_bytes = (uint64_t)s->l1_size * 8;
	uint8_t *buf, hdr[12];
	uint64_t *l1;
	int r;

	if (min_size <= s->l1_size)
		return 0;
	bytes = min_size * 8;
	if (bytes > QCOW2_MAX_L1_BYTES) {
		log_err("qcow2: L1 table would exceed %u bytes", QCOW2_MAX_L1_BYTES);
		return -EFBIG;
	}
	nc = DIV_ROUND_UP_U64(bytes, cs);
	buf = calloc(nc, cs);
	l1 = calloc(nc * cs / 8, 8);
	if (!buf || !l1) {
		free(buf);
		free(l1);
		return -ENOMEM;
	}
	r = qcow2_alloc_clusters(s, nc, &off);
	if (r)
		goto fail;
	memcpy(l1, s->l1, old_bytes);
	for (uint64_t i = 0; i < min_size; i++)
		qcow2_put64(buf + i * 8, l1[i]);
	/* new table and its refcount on disk before the header points at it */
	r = qcow2_cache_flush(&s->rb_cache);
	if (!r)
		r = pwrite_full(s->fd, buf, nc * cs, (off_t)off);
	if (!r && qcow2_fdatasync(s) < 0)
		r = -errno;
	if (r)
		goto fail;
	if (off + nc * cs > s->file_size)
		s->file_size = off + nc * cs;
	qcow2_put32(hdr, (uint32_t)min_size);
	qcow2_put64(hdr + 4, off);
	r = qcow2_update_header_fields(s, 36, hdr, 12);
	if (r)
		goto fail;
	free(s->l1);
	s->l1 = l1;
	s->l1_size = (uint32_t)min_size;
	s->l1_offset = off;
	free(buf);
	if (old_bytes)
		return qcow2_free_clusters(s, old_off, old_bytes);
	return 0;
fail:
	free(buf);
	free(l1);
	return r;
}

int qcow2_get_l2(struct qcow2_state *s, uint64_t gofs, bool alloc, uint8_t **l2)
{
	uint64_t l1i = gofs >> (s->cluster_bits + s->l2_bits);
	uint64_t l1e, off, noff;
	uint8_t *nt, *old;
	int r;

	*l2 = NULL;
	if (l1i >= s->l1_size) {
		if (!alloc)
			return 0;
		r = qcow2_grow_l1(s, l1i + 1);
		if (r)
			return r;
	}
	l1e = s->l1[l1i];
	off = l1e & QCOW2_OFFSET_MASK;
	if (off && !qcow2_aligned(s, off)) {
		qcow2_err(s, "qcow2: L2 table offset 0x%llx is not cluster aligned",
			  (unsigned long long)off);
		return -EIO;
	}
	if (!alloc && !off)
		return 0;
	if (off && (!alloc || (l1e & QCOW2_OFLAG_COPIED)))
		return qcow2_cache_get(&s->l2_cache, off, false, l2);

	/* allocate a new table, or copy a shared one (snapshots) before changing it */
	r = qcow2_alloc_clusters(s, 1, &noff);
	if (r)
		return r;
	r = qcow2_cache_get(&s->l2_cache, noff, true, &nt);
	if (r)
		return r;
	if (off) {
		r = qcow2_cache_get(&s->l2_cache, off, false, &old);
		if (r) {
			qcow2_cache_put(&s->l2_cache, nt);
			return r;
		}
		memcpy(nt, old, s->cluster_size);
		qcow2_cache_put(&s->l2_cache, old);
		/* both tables now reference the data clusters: none is exclusively owned */
		for (uint32_t i = 0; i < s->l2_size; i++)
			nt[i * 8] &= 0x7f;
	}
	qcow2_cache_mark_dirty(&s->l2_cache, nt);
	/* refcount and table contents on disk before the L1 entry points there */
	r = qcow2_cache_flush(&s->l2_cache);
	if (r)
		goto fail;
	s->l1[l1i] = noff | QCOW2_OFLAG_COPIED;
	r = qcow2_write_l1_entry(s, (uint32_t)l1i);
	if (r)
		goto fail;
	if (off) {
		if (!s->dirty_set && qcow2_fdatasync(s) < 0) {
			r = -errno;
			goto fail;
		}
		r = qcow2_refcount_update(s, off, s->cluster_size, -1);
		if (r)
			goto fail;
	}
	*l2 = nt;
	return 0;
fail:
	qcow2_cache_put(&s->l2_cache, nt);
	return r;
}

/* Validate an L2 entry before following it. */
int qcow2_check_l2_entry(struct qcow2_state *s, uint64_t l2e, uint64_t gofs)
{
	if (l2e & QCOW2_OFLAG_COMPRESSED)
		return 0;
	if ((l2e & QCOW2_OFLAG_ZERO) && s->version < 3) {
		qcow2_err(s, "qcow2: zero flag in a version 2 image (guest offset 0x%llx)",
			  (unsigned long long)gofs);
		return -EIO;
	}
	if (!qcow2_aligned(s, l2e & QCOW2_OFFSET_MASK)) {
		qcow2_err(
			s,
			"qcow2: data cluster offset 0x%llx for guest offset 0x%llx is not cluster "
			"aligned",
			(unsigned long long)(l2e & QCOW2_OFFSET_MASK), (unsigned long long)gofs);
		return -EIO;
	}
	return 0;
}

int qcow2_backing_read(struct qcow2_state *s, void *buf, size_t len, uint64_t off)
{
	struct blkdev *b = s->bd->backing;
	size_t n = 0;
	int r;

	if (b && off < b->size) {
		n = (size_t)MIN((uint64_t)len, b->size - off);
		r = blk_pread(b, buf, n, off);
		if (r)
			return r;
	}
	memset((char *)buf + n, 0, len - n);
	return 0;
}

static int backing_readv(struct qcow2_state *s, const struct iovec *iov, int cnt, size_t pos,
			 size_t len, uint64_t gofs, struct iovec *tmp, int tmpmax)
{
	struct blkdev *b = s->bd->backing;
	size_t n = 0;
	int k, r;

	if (b && gofs < b->size) {
		n = (size_t)MIN((uint64_t)len, b->size - gofs);
		k = qcow2_iov_slice(iov, cnt, pos, n, tmp, tmpmax);
		if (k < 0)
			return k;
		r = blk_preadv(b, tmp, k, gofs);
		if (r)
			return r;
	}
	qcow2_iov_memset(iov, cnt, pos + n, len - n);
	return 0;
}

/* The whole content of the guest cluster described by l2e, into buf (cluster_size). */
int qcow2_read_cluster_data(struct qcow2_state *s, uint64_t l2e, uint64_t gofs, uint8_t *buf)
{
	uint64_t cs = s->cluster_size, coff, clen;
	struct iovec v = { buf, cs };
	int r;

	gofs = ALIGN_DOWN(gofs, cs);
	l2e &= ~QCOW2_OFLAG_COPIED;
	if (l2e & QCOW2_OFLAG_COMPRESSED) {
		if (s->dbuf_l2e != l2e) {
			qcow2_comp_desc(s, l2e, &coff, &clen);
			struct iovec cv = { s->cbuf, clen };

			s->dbuf_l2e = 0;
			r = qcow2_file_preadv(s, &cv, 1, coff);
			if (r)
				return r;
			r = qcow2_decompress(s, s->cbuf, clen, s->dbuf);
			if (r) {
				qcow2_err(s,
					  "qcow2: compressed cluster at 0x%llx (guest 0x%llx) is "
					  "corrupt",
					  (unsigned long long)coff, (unsigned long long)gofs);
				return r;
			}
			s->dbuf_l2e = l2e;
		}
		memcpy(buf, s->dbuf, cs);
		return 0;
	}
	r = qcow2_check_l2_entry(s, l2e, gofs);
	if (r)
		return r;
	if (l2e & QCOW2_OFLAG_ZERO) {
		memset(buf, 0, cs);
		return 0;
	}
	if (!(l2e & QCOW2_OFFSET_MASK))
		return qcow2_backing_read(s, buf, cs, gofs);
	return qcow2_file_preadv(s, &v, 1, l2e & QCOW2_OFFSET_MASK);
}

enum { C_UNALLOC, C_ZERO, C_COMPRESSED, C_NORMAL };

static int l2e_type(uint64_t e)
{
	if (e & QCOW2_OFLAG_COMPRESSED)
		return C_COMPRESSED;
	if (e & QCOW2_OFLAG_ZERO)
		return C_ZERO;
	if (!(e & QCOW2_OFFSET_MASK))
		return C_UNALLOC;
	return C_NORMAL;
}

/*
 * Length (in clusters, at most n) of the run starting at index i of the
 * L2 table that can be served by one operation: same type and, for
 * normal clusters, contiguous host offsets.
 */
static uint64_t l2_run(struct qcow2_state *s, const uint8_t *l2, uint32_t i, uint64_t n)
{
	uint64_t e0 = qcow2_be64(l2 + (uint64_t)i * 8), k;
	int t = l2e_type(e0);

	if (t == C_COMPRESSED)
		return 1;
	for (k = 1; k < n; k++) {
		uint64_t e = qcow2_be64(l2 + (uint64_t)(i + k) * 8);

		if (l2e_type(e) != t)
			break;
		if (t == C_NORMAL &&
		    (e & QCOW2_OFFSET_MASK) != (e0 & QCOW2_OFFSET_MASK) + (k << s->cluster_bits))
			break;
	}
	return k;
}

int qcow2_co_preadv(struct qcow2_state *s, const struct iovec *iov, int cnt, uint64_t off)
{
	size_t total = qcow2_iov_size(iov, cnt), pos = 0;
	uint64_t cs = s->cluster_size;
	int tmpmax = cnt + 2, r = 0;
	struct iovec *tmp = malloc(sizeof(*tmp) * (size_t)tmpmax);

	if (!tmp)
		return -ENOMEM;
	while (pos < total) {
		uint64_t gofs = off + pos, inc = gofs & (cs - 1);
		uint32_t l2i = (uint32_t)((gofs >> s->cluster_bits) & (s->l2_size - 1));
		size_t chunk = (size_t)MIN((uint64_t)(total - pos),
					   ((uint64_t)(s->l2_size - l2i) << s->cluster_bits) - inc);
		uint8_t *l2;

		r = qcow2_get_l2(s, gofs, false, &l2);
		if (r)
			break;
		if (!l2) {
			r = backing_readv(s, iov, cnt, pos, chunk, gofs, tmp, tmpmax);
			if (r)
				break;
			pos += chunk;
			continue;
		}
		while (chunk) {
			uint64_t nclus = (inc + chunk + cs - 1) >> s->cluster_bits;
			uint64_t e = qcow2_be64(l2 + (uint64_t)l2i * 8);
			uint64_t run = l2_run(s, l2, l2i, nclus);
			size_t len = (size_t)MIN((uint64_t)chunk, (run << s->cluster_bits) - inc);
			int k;

			r = qcow2_check_l2_entry(s, e, gofs);
			if (r)
				break;
			switch (l2e_type(e)) {
			case C_UNALLOC:
				r = backing_readv(s, iov, cnt, pos, len, gofs, tmp, tmpmax);
				break;
			case C_ZERO:
				qcow2_iov_memset(iov, cnt, pos, len);
				break;
			case C_COMPRESSED:
				r = qcow2_read_cluster_data(s, e, gofs, s->cow_head);
				if (!r)
					qcow2_iov_from_buf(iov, cnt, pos, s->cow_head + inc, len);
				break;
			default:
				k = qcow2_iov_slice(iov, cnt, pos, len, tmp, tmpmax);
				r = k < 0 ? k
					  : qcow2_file_preadv(s, tmp, k,
							      (e & QCOW2_OFFSET_MASK) + inc);
				break;
			}
			if (r)
				break;
			pos += len;
			gofs += len;
			chunk -= len;
			l2i += (uint32_t)((inc + len) >> s->cluster_bits);
			inc = 0;
		}
		qcow2_cache_put(&s->l2_cache, l2);
		if (r)
			break;
	}
	free(tmp);
	return r;
}

/*
 * Block status never writes and never evicts: the block layer calls it
 * from the event loop to map reads (src/block/aio.c).  A table not in the
 * cache is not loaded; the few entries needed are read from the file.
 */
int qcow2_co_block_status(struct qcow2_state *s, uint64_t off, uint64_t len, uint64_t *pnum,
			  int *status, uint64_t *host_off)
{
	uint64_t cs = s->cluster_size, inc = off & (cs - 1);
	uint64_t l1i = off >> (s->cluster_bits + s->l2_bits), l2off;
	uint32_t l2i = (uint32_t)((off >> s->cluster_bits) & (s->l2_size - 1));
	uint64_t max = MIN(len, ((uint64_t)(s->l2_size - l2i) << s->cluster_bits) - inc);
	uint64_t nclus = (inc + max + cs - 1) >> s->cluster_bits, e, run;
	uint8_t buf[512 * 8];
	const uint8_t *l2;
	int r;

	*host_off = 0;
	l2off = l1i < s->l1_size ? s->l1[l1i] & QCOW2_OFFSET_MASK : 0;
	if (!l2off) {
		*pnum = max;
		*status = 0;
		return 0;
	}
	if (!qcow2_aligned(s, l2off) || l2off + cs > s->file_size) {
		qcow2_err(s, "qcow2: L2 table offset 0x%llx is invalid", (unsigned long long)l2off);
		return -EIO;
	}
	l2 = qcow2_cache_peek(&s->l2_cache, l2off);
	if (l2) {
		l2 += (uint64_t)l2i * 8;
	} else {
		nclus = MIN(nclus, (uint64_t)ARRAY_SIZE(buf) / 8);
		r = pread_full(s->fd, buf, nclus * 8, (off_t)(l2off + (uint64_t)l2i * 8));
		if (r) {
			qcow2_err(s, "qcow2: reading an L2 table: %s", strerror(-r));
			return r;
		}
		l2 = buf;
	}
	e = qcow2_be64(l2);
	run = l2_run(s, l2, 0, nclus);
	r = qcow2_check_l2_entry(s, e, off);
	if (r)
		return r;
	*pnum = MIN(max, (run << s->cluster_bits) - inc);
	switch (l2e_type(e)) {
	case C_UNALLOC:
		*status = 0;
		break;
	case C_ZERO:
		*status = BLK_STATUS_ZERO | BLK_STATUS_ALLOCATED;
		break;
	case C_COMPRESSED:
		*status = BLK_STATUS_DATA | BLK_STATUS_ALLOCATED | BLK_STATUS_COMPRESSED;
		break;
	default:
		*status = BLK_STATUS_DATA | BLK_STATUS_ALLOCATED | BLK_STATUS_OFFSET_VALID;
		*host_off = (e & QCOW2_OFFSET_MASK) + inc;
		break;
	}
	return 0;
}
