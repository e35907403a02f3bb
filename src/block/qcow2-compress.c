// SPDX-License-Identifier: MIT
/*
 * qcow2 compressed clusters (spec "Compressed Clusters Descriptor" and
 * the compression_type header field): raw deflate (zlib, no header, as
 * qemu writes it with a 4 KiB window) or zstd frames.
 *
 * A compressed cluster's data may start anywhere in a host cluster and
 * span several; each guest cluster stored this way holds one reference
 * on every host cluster its (512-byte rounded) data touches.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "block/qcow2-int.h"
#include "util/log.h"
#include "util/util.h"

static int inflate_cluster(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen)
{
	z_stream z;
	int ret;

	memset(&z, 0, sizeof(z));
	/* raw deflate: negative window bits; 15 accepts any window size */
	if (inflateInit2(&z, -15) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)inlen;
	z.next_out = out;
	z.avail_out = (uInt)outlen;
	ret = inflate(&z, Z_FINISH);
	inflateEnd(&z);
	if ((ret == Z_STREAM_END || ret == Z_BUF_ERROR || ret == Z_OK) && z.avail_out == 0)
		return 0;
	return -EIO;
}

static int zstd_cluster(struct qcow2_state *s, const uint8_t *in, size_t inlen, uint8_t *out,
			size_t outlen)
{
	ZSTD_inBuffer ib = { in, inlen, 0 };
	ZSTD_outBuffer ob = { out, outlen, 0 };

	if (!s->zstd_dctx) {
		s->zstd_dctx = ZSTD_createDCtx();
		if (!s->zstd_dctx)
			return -ENOMEM;
	}
	ZSTD_DCtx_reset(s->zstd_dctx, ZSTD_reset_session_only);
	/* the data may be followed by padding: stop as soon as the cluster is full */
	while (ob.pos < ob.size) {
		size_t in0 = ib.pos, out0 = ob.pos;
		size_t ret = ZSTD_decompressStream(s->zstd_dctx, &ob, &ib);

		if (ZSTD_isError(ret))
			return -EIO;
		if (ib.pos == in0 && ob.pos == out0)
			return -EIO;
	}
	return 0;
}

int qcow2_decompress(struct qcow2_state *s, const uint8_t *in, size_t inlen, uint8_t *out)
{
	if (s->compression_type == QCOW2_COMPRESS_ZSTD)
		return zstd_cluster(s, in, inlen, out, s->cluster_size);
	return inflate_cluster(in, inlen, out, s->cluster_size);
}

int qcow2_compress(struct qcow2_state *s, const uint8_t *in, size_t inlen, uint8_t *out,
		   size_t outmax, size_t *outlen)
{
	if (s->compression_type == QCOW2_COMPRESS_ZSTD) {
		size_t n = ZSTD_compress(out, outmax, in, inlen, ZSTD_CLEVEL_DEFAULT);

		if (ZSTD_isError(n))
			return -ENOSPC;
		*outlen = n;
		return 0;
	}
	z_stream z;
	int ret;

	memset(&z, 0, sizeof(z));
	/* window of 4 KiB (-12): what qemu's reader accepts */
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)inlen;
	z.next_out = out;
	z.avail_out = (uInt)outmax;
	ret = deflate(&z, Z_FINISH);
	*outlen = outmax - z.avail_out;
	deflateEnd(&z);
	return ret == Z_STREAM_END ? 0 : -ENOSPC;
}

/* Host bytes for csize bytes of compressed data: pack after the previous one. */
static int alloc_compressed(struct qcow2_state *s, uint64_t csize, uint64_t *out)
{
	uint64_t cs = s->cluster_size, in = s->comp_next & (cs - 1), start;
	int r;

	if (s->comp_next && in && in + csize <= cs) {
		start = s->comp_next;
		r = qcow2_refcount_update(s, start, csize, 1);
	} else {
		r = qcow2_alloc_clusters(s, DIV_ROUND_UP_U64(csize, cs), &start);
	}
	if (r)
		return r;
	s->comp_next = (start + csize) & (cs - 1) ? start + csize : 0;
	*out = start;
	return 0;
}

int qcow2_write_compressed(struct blkdev *bd, uint64_t off, const void *buf, size_t len)
{
	struct qcow2_state *s;
	uint64_t cs, csize_max, host, old, desc, nsec;
	unsigned int x;
	uint8_t *in = NULL, *l2;
	size_t clen;
	uint32_t l2i;
	int r;

	if (!qcow2_is_qcow2(bd))
		return -EINVAL;
	s = qcow2_state_of(bd);
	cs = s->cluster_size;
	if (s->readonly)
		return -EROFS;
	if (!qcow2_aligned(s, off) || off >= s->size ||
	    (len != cs && !(len < cs && off + len == s->size))) {
		log_err("qcow2: compressed write must cover one whole cluster");
		return -EINVAL;
	}
	if (s->incompat & QCOW2_INCOMPAT_CORRUPT) {
		log_err("qcow2: image is marked corrupt; writes are refused");
		return -EROFS;
	}
	r = qcow2_mark_dirty(s);
	if (r)
		return r;
	in = calloc(1, cs);
	if (!in)
		return -ENOMEM;
	memcpy(in, buf, len);
	/*
	 * Only worth it below a cluster; that also keeps the descriptor's
	 * sector count (cluster_bits - 8 bits) in range wherever the data starts.
	 */
	csize_max = cs - 1;
	r = qcow2_compress(s, in, cs, s->cbuf, (size_t)csize_max, &clen);
	if (r == -ENOSPC || clen == 0) {
		struct iovec v = { in, len };

		r = qcow2_co_pwritev(s, &v, 1, off);
		goto out;
	}
	if (r)
		goto out;
	s->dbuf_l2e = 0;
	r = qcow2_get_l2(s, off, true, &l2);
	if (r)
		goto out;
	r = alloc_compressed(s, clen, &host);
	if (!r)
		r = qcow2_check_data_overlap(s, host, clen);
	if (!r)
		r = pwrite_full(s->fd, s->cbuf, clen, (off_t)host);
	if (r) {
		qcow2_cache_put(&s->l2_cache, l2);
		goto out;
	}
	if (host + clen > s->file_size)
		s->file_size = host + clen;
	x = 62 - (s->cluster_bits - 8);
	nsec = ((host + clen - 1) >> 9) - (host >> 9);
	desc = QCOW2_OFLAG_COMPRESSED | (nsec << x) | host;
	l2i = (uint32_t)((off >> s->cluster_bits) & (s->l2_size - 1));
	old = qcow2_be64(l2 + (uint64_t)l2i * 8);
	qcow2_put64(l2 + (uint64_t)l2i * 8, desc);
	qcow2_cache_mark_dirty(&s->l2_cache, l2);
	qcow2_cache_put(&s->l2_cache, l2);
	r = qcow2_defer_free(s, old, false);
out:
	free(in);
	return r;
}
