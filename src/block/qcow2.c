// SPDX-License-Identifier: MIT
/*
 * qcow2 image open and header handling (spec "Header", "Header
 * extensions").  Every size and offset read from the file is checked
 * before use: a malformed image gets -EINVAL and *err names the spec
 * violation (blk_open() adds the file name).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "block/qcow2-int.h"
#include "util/error.h"
#include "util/log.h"
#include "util/util.h"

#define BAD(...)                                           \
	do {                                               \
		r = error_setf(err, -EINVAL, __VA_ARGS__); \
		goto fail;                                 \
	} while (0)

int qcow2_update_header_fields(struct qcow2_state *s, unsigned int off, const void *buf, size_t len)
{
	int r = pwrite_full(s->fd, buf, len, off);

	if (r) {
		log_err("qcow2: updating the header: %s", strerror(-r));
		return r;
	}
	if (off + len <= s->header_length)
		memcpy(s->hdr + off, buf, len);
	if (qcow2_fdatasync(s) < 0)
		return -errno;
	return 0;
}

int qcow2_write_size(struct qcow2_state *s, uint64_t size)
{
	uint8_t b[8];
	int r;

	qcow2_put64(b, size);
	r = qcow2_update_header_fields(s, 24, b, 8);
	if (!r)
		s->size = s->bd->size = size;
	return r;
}

static bool ranges_overlap(uint64_t a, uint64_t al, uint64_t b, uint64_t bl)
{
	return al && bl && a < b + bl && b < a + al;
}

int qcow2_check_overlap(struct qcow2_state *s, uint64_t off, uint64_t len)
{
	const char *what = NULL;

	if (ranges_overlap(off, len, 0, s->cluster_size))
		what = "the header";
	else if (ranges_overlap(off, len, s->l1_offset, (uint64_t)s->l1_size * 8))
		what = "the L1 table";
	else if (ranges_overlap(off, len, s->reftable_offset,
				(uint64_t)s->reftable_clusters * s->cluster_size))
		what = "the refcount table";
	else if (ranges_overlap(off, len, s->snapshots_offset, s->snapshots_size))
		what = "the snapshot table";
	for (int i = 0; !what && i < s->nb_snapshots; i++)
		if (ranges_overlap(off, len, s->snaps[i].l1_offset,
				   (uint64_t)s->snaps[i].l1_size * 8))
			what = "a snapshot L1 table";
	if (!what)
		return 0;
	qcow2_err(s,
		  "qcow2: refusing to write at 0x%llx: it overlaps %s (refcounts corrupt? run "
		  "img check -r all)",
		  (unsigned long long)off, what);
	return -EIO;
}

int qcow2_check_data_overlap(struct qcow2_state *s, uint64_t off, uint64_t len)
{
	uint64_t first = off >> s->cluster_bits, last = (off + len - 1) >> s->cluster_bits;
	const char *what = NULL;
	int r = qcow2_check_overlap(s, off, len);

	if (r || !len)
		return r;
	/* untrusted L2 entries may point at metadata: never write data over it */
	for (uint32_t i = 0; i < s->l1_size && !what; i++) {
		uint64_t c = (s->l1[i] & QCOW2_OFFSET_MASK) >> s->cluster_bits;

		if (c && c >= first && c <= last)
			what = "an L2 table";
	}
	for (uint32_t i = 0; i < s->reftable_used && !what; i++) {
		uint64_t c = (s->reftable[i] & QCOW2_REFT_OFFSET_MASK) >> s->cluster_bits;

		if (c && c >= first && c <= last)
			what = "a refcount block";
	}
	if (!what)
		return 0;
	qcow2_err(s,
		  "qcow2: refusing to write data at 0x%llx: it overlaps %s (image corrupt? run "
		  "img check -r all)",
		  (unsigned long long)off, what);
	return -EIO;
}

static int file_rw(struct qcow2_state *s, const struct iovec *iov, int cnt, uint64_t off, bool wr)
{
	struct iovec *v = malloc(sizeof(*v) * (size_t)(cnt ? cnt : 1));
	uint64_t end = off;
	int i = 0, r = 0;

	if (!v)
		return -ENOMEM;
	memcpy(v, iov, sizeof(*v) * (size_t)cnt);
	while (i < cnt) {
		ssize_t n;

		if (!v[i].iov_len) {
			i++;
			continue;
		}
		n = wr ? pwritev(s->fd, v + i, MIN(cnt - i, IOV_MAX), (off_t)off)
		       : preadv(s->fd, v + i, MIN(cnt - i, IOV_MAX), (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0 && !wr) {
			/* past the end of the file: allocated but never written, reads zeroes */
			for (; i < cnt; i++)
				memset(v[i].iov_base, 0, v[i].iov_len);
			break;
		}
		off += (uint64_t)n;
		while (n > 0 && i < cnt) {
			if ((size_t)n >= v[i].iov_len) {
				n -= (ssize_t)v[i].iov_len;
				i++;
			} else {
				v[i].iov_base = (char *)v[i].iov_base + n;
				v[i].iov_len -= (size_t)n;
				n = 0;
			}
		}
		end = off;
	}
	free(v);
	if (!r && wr && end > s->file_size)
		s->file_size = end;
	if (r)
		qcow2_err(s, "qcow2: %s at 0x%llx: %s", wr ? "write" : "read",
			  (unsigned long long)off, strerror(-r));
	return r;
}

int qcow2_file_preadv(struct qcow2_state *s, const struct iovec *iov, int cnt, uint64_t off)
{
	return file_rw(s, iov, cnt, off, false);
}

int qcow2_file_pwritev(struct qcow2_state *s, const struct iovec *iov, int cnt, uint64_t off)
{
	return file_rw(s, iov, cnt, off, true);
}

int qcow2_sync(struct qcow2_state *s)
{
	int r = qcow2_flush_metadata(s);

	if (r)
		return r;
	return qcow2_fdatasync(s) < 0 ? -errno : 0;
}

/* Name the unknown incompatible bits, using the image's feature name table. */
static int report_incompat(const uint8_t *ft, uint32_t ftlen, uint64_t bits, struct error *err)
{
	char msg[512];
	size_t n = 0;

	msg[0] = 0;
	for (int b = 0; b < 64; b++) {
		const char *name = NULL;
		char nb[47];

		if (!(bits & (1ull << b)))
			continue;
		for (uint32_t i = 0; ft && i + 48 <= ftlen; i += 48) {
			if (ft[i] == 0 && ft[i + 1] == b) {
				memcpy(nb, ft + i + 2, 46);
				nb[46] = 0;
				name = nb;
			}
		}
		n += (size_t)snprintf(msg + n, sizeof(msg) - MIN(n, sizeof(msg)), "%s%d%s%s%s",
				      n ? ", " : "", b, name ? " (" : "", name ? name : "",
				      name ? ")" : "");
		if (n >= sizeof(msg))
			break;
	}
	return error_setf(err, -ENOTSUP, "qcow2: unsupported incompatible feature bit(s): %s", msg);
}

/* Parse the header extensions in [start, end) of the first cluster. */
static int parse_extensions(struct qcow2_state *s, const uint8_t *c0, uint64_t start, uint64_t end,
			    const uint8_t **ft, uint32_t *ftlen, struct error *err)
{
	uint64_t p = start;
	int r;

	while (p + 8 <= end) {
		uint32_t type = qcow2_be32(c0 + p), len = qcow2_be32(c0 + p + 4);
		const uint8_t *d = c0 + p + 8;

		if (type == QCOW2_EXT_END)
			return 0;
		if ((uint64_t)len > end - p - 8)
			BAD("qcow2: header extension 0x%x (%u bytes) runs past the first cluster",
			    type, len);
		switch (type) {
		case QCOW2_EXT_BACKING_FMT:
			if (len > 31 || s->backing_fmt)
				BAD("qcow2: bad backing format header extension");
			s->backing_fmt = strndup((const char *)d, len);
			if (!s->backing_fmt)
				return -ENOMEM;
			break;
		case QCOW2_EXT_FEATURES:
			*ft = d;
			*ftlen = len;
			/* kept as is, like any other extension */
			__attribute__((fallthrough));
		default: {
			struct qcow2_ext *e;

			if (s->nb_exts >= 64)
				BAD("qcow2: too many header extensions");
			e = realloc(s->exts, sizeof(*e) * (size_t)(s->nb_exts + 1));
			if (!e)
				return -ENOMEM;
			s->exts = e;
			e[s->nb_exts].type = type;
			e[s->nb_exts].len = len;
			e[s->nb_exts].data = malloc(len ? len : 1);
			if (!e[s->nb_exts].data)
				return -ENOMEM;
			memcpy(e[s->nb_exts].data, d, len);
			s->nb_exts++;
			break;
		}
		}
		p += 8 + ALIGN_UP((uint64_t)len, 8);
	}
	if (p < end)
		BAD("qcow2: header extension area is truncated");
	return 0;
fail:
	return r;
}

/* Read a host-endian copy of a table of n 64-bit entries at off, bounds checked. */
static int read_table(struct qcow2_state *s, uint64_t off, uint64_t n, uint64_t **out,
		      const char *what, struct error *err)
{
	uint64_t bytes = n * 8;
	uint64_t *t;
	int r;

	*out = NULL;
	if (off + ALIGN_UP(bytes, s->cluster_size) < off || off + bytes > s->file_size) {
		return error_setf(err, -EINVAL,
				  "qcow2: %s (0x%llx, %llu bytes) lies beyond the end of the file",
				  what, (unsigned long long)off, (unsigned long long)bytes);
	}
	t = malloc(bytes ? bytes : 8);
	if (!t)
		return -ENOMEM;
	r = pread_full(s->fd, t, bytes, (off_t)off);
	if (r) {
		free(t);
		return error_set_errno(err, r, "qcow2: reading %s", what);
	}
	for (uint64_t i = 0; i < n; i++)
		t[i] = qcow2_be64((uint8_t *)&t[i]);
	*out = t;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Each refcount table entry describes its own range of clusters, so two
 * entries naming one refcount block make its counts apply twice: never
 * valid (QEMU's check reports it as a refcount block referenced twice).
 * Refused here because it also unbounds the work: a table of 2^20
 * entries naming one full block makes every free-cluster search scan
 * 2^20 x 2^rb_bits refcounts.  With distinct blocks, each a cluster of
 * the file, those scans are bounded by the file size.
 */
static int check_reftable(struct qcow2_state *s, struct error *err)
{
	uint64_t *v = malloc((size_t)(s->reftable_used ? s->reftable_used : 1) * 8);
	size_t n = 0;
	int r = 0;

	if (!v)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->reftable_used; i++)
		if (s->reftable[i] & QCOW2_REFT_OFFSET_MASK)
			v[n++] = s->reftable[i] & QCOW2_REFT_OFFSET_MASK;
	qsort(v, n, sizeof(*v), cmp_u64);
	for (size_t i = 1; i < n && !r; i++) {
		if (v[i] == v[i - 1]) {
			r = error_setf(
				err, -EINVAL,
				"qcow2: refcount table names the refcount block at 0x%llx more "
				"than once (corrupt image)",
				(unsigned long long)v[i]);
		}
	}
	free(v);
	return r;
}

static int parse_header(struct qcow2_state *s, uint8_t *c0, struct error *err)
{
	uint64_t backing_off, l1_need, ext_end;
	uint32_t backing_len, crypt;
	const uint8_t *ft = NULL;
	uint32_t ftlen = 0;
	int r;

	s->version = qcow2_be32(c0 + 4);
	backing_off = qcow2_be64(c0 + 8);
	backing_len = qcow2_be32(c0 + 16);
	s->size = qcow2_be64(c0 + 24);
	crypt = qcow2_be32(c0 + 32);
	s->l1_size = qcow2_be32(c0 + 36);
	s->l1_offset = qcow2_be64(c0 + 40);
	s->reftable_offset = qcow2_be64(c0 + 48);
	s->reftable_clusters = qcow2_be32(c0 + 56);
	s->nb_snapshots = (int)MIN(qcow2_be32(c0 + 60), (uint32_t)INT32_MAX);
	s->snapshots_offset = qcow2_be64(c0 + 64);
	s->refcount_order = 4;
	s->header_length = QCOW2_V2_HDR_LEN;
	if (s->version == 3) {
		s->incompat = qcow2_be64(c0 + 72);
		s->compat = qcow2_be64(c0 + 80);
		s->autoclear = qcow2_be64(c0 + 88);
		s->refcount_order = qcow2_be32(c0 + 96);
		s->header_length = qcow2_be32(c0 + 100);
		if (s->header_length < QCOW2_V3_HDR_LEN || s->header_length > s->cluster_size ||
		    (s->header_length % 8 && s->header_length != 105))
			BAD("qcow2: invalid header length %u", s->header_length);
		if (s->header_length > 104)
			s->compression_type = c0[104];
	}
	if (crypt)
		BAD("qcow2: encrypted images are not supported");
	if (s->refcount_order > 6)
		BAD("qcow2: refcount_order %u is out of range (0..6)", s->refcount_order);
	s->refcount_bits = 1u << s->refcount_order;
	s->refcount_max = s->refcount_bits == 64 ? UINT64_MAX : (1ull << s->refcount_bits) - 1;
	s->rb_bits = s->cluster_bits + 3 - s->refcount_order;

	s->hdr = malloc(s->header_length);
	if (!s->hdr)
		return -ENOMEM;
	memcpy(s->hdr, c0, s->header_length);

	/* header extensions end where the backing file name starts, or at the cluster end */
	ext_end = s->cluster_size;
	if (backing_off) {
		if (backing_len > QCOW2_MAX_BACKING_NAME || backing_len == 0 ||
		    backing_off < s->header_length || backing_off > s->cluster_size ||
		    backing_len > s->cluster_size - backing_off)
			BAD("qcow2: backing file name (offset %llu, %u bytes) is out of bounds",
			    (unsigned long long)backing_off, backing_len);
		ext_end = backing_off;
		s->backing_file = strndup((const char *)c0 + backing_off, backing_len);
		if (!s->backing_file)
			return -ENOMEM;
		if (strlen(s->backing_file) != backing_len)
			BAD("qcow2: backing file name contains a NUL byte");
	}
	r = parse_extensions(s, c0, s->header_length, ext_end, &ft, &ftlen, err);
	if (r)
		return r;
	if (s->incompat & ~QCOW2_INCOMPAT_KNOWN)
		return report_incompat(ft, ftlen, s->incompat & ~QCOW2_INCOMPAT_KNOWN, err);
	if (s->compression_type > QCOW2_COMPRESS_ZSTD)
		BAD("qcow2: unknown compression type %u", s->compression_type);
	if (!!(s->incompat & QCOW2_INCOMPAT_COMPRESSION) != (s->compression_type != 0))
		BAD("qcow2: compression type %u does not match incompatible bit 3",
		    s->compression_type);

	/* tables: aligned, inside the file, bounded in size, not overlapping */
	if (s->size > QCOW2_MAX_SIZE)
		BAD("qcow2: virtual size %llu is too large", (unsigned long long)s->size);
	l1_need = DIV_ROUND_UP_U64(s->size, (uint64_t)s->cluster_size << s->l2_bits);
	if ((uint64_t)s->l1_size * 8 > QCOW2_MAX_L1_BYTES)
		BAD("qcow2: L1 table of %u entries is too large", s->l1_size);
	if (s->l1_size < l1_need)
		BAD("qcow2: L1 table of %u entries is too small for the virtual size", s->l1_size);
	if (s->l1_size && !qcow2_aligned(s, s->l1_offset))
		BAD("qcow2: L1 table offset 0x%llx is not cluster aligned",
		    (unsigned long long)s->l1_offset);
	if (!s->reftable_clusters || !qcow2_aligned(s, s->reftable_offset) || !s->reftable_offset)
		BAD("qcow2: invalid refcount table (offset 0x%llx, %u clusters)",
		    (unsigned long long)s->reftable_offset, s->reftable_clusters);
	if ((uint64_t)s->reftable_clusters * s->cluster_size > QCOW2_MAX_REFTABLE_BYTES)
		BAD("qcow2: refcount table of %u clusters is too large", s->reftable_clusters);
	if (s->l1_size && s->l1_offset < s->cluster_size)
		BAD("qcow2: L1 table overlaps the header");
	if (s->reftable_offset < s->cluster_size)
		BAD("qcow2: refcount table overlaps the header");
	if (ranges_overlap(s->l1_offset, (uint64_t)s->l1_size * 8, s->reftable_offset,
			   (uint64_t)s->reftable_clusters * s->cluster_size))
		BAD("qcow2: L1 table and refcount table overlap");
	s->reftable_size = (uint32_t)((uint64_t)s->reftable_clusters * s->cluster_size / 8);
	r = read_table(s, s->reftable_offset, s->reftable_size, &s->reftable, "refcount table",
		       err);
	if (r)
		return r;
	for (uint32_t i = 0; i < s->reftable_size; i++)
		if (s->reftable[i])
			s->reftable_used = i + 1;
	r = check_reftable(s, err);
	if (r)
		return r;
	r = read_table(s, s->l1_offset, s->l1_size, &s->l1, "L1 table", err);
	if (r)
		return r;
	return qcow2_read_snapshots(s, err);
fail:
	return r;
}

/*
 * Resolve a backing file name relative to the directory of the image.
 * image_fd >= 0: the image was handed over ("fd:N", parse_handed_fd()), and
 * its directory is that of the file the fd has open.
 */
static char *backing_path(const char *image, int image_fd, const char *name)
{
	char *dup, *dir, *out, real[PATH_MAX], link[32];
	ssize_t n;

	if (name[0] != '/' && image_fd >= 0) {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", image_fd);
		n = readlink(link, real, sizeof(real) - 1);
		if (n > 0 && real[0] == '/') {
			real[n] = '\0';
			image = real;
		}
	}
	if (name[0] == '/' || !strchr(image, '/'))
		return strdup(name);
	dup = strdup(image);
	if (!dup)
		return NULL;
	dir = dirname(dup);
	if (asprintf(&out, "%s/%s", dir, name) < 0)
		out = NULL;
	free(dup);
	return out;
}

/* Backing file name and format of a qcow2 file, without opening it fully. */
static int peek_backing(const char *path, char **name, char **fmt)
{
	uint8_t h[QCOW2_V3_HDR_LEN];
	uint64_t boff, p, end;
	uint32_t blen, cbits, hlen = QCOW2_V2_HDR_LEN;
	uint8_t *c0 = NULL;
	int fd, r = 0;

	*name = *fmt = NULL;
	/* O_NONBLOCK: a FIFO must not block here; blk_open() refuses it. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (pread_full(fd, h, sizeof(h), 0) || qcow2_be32(h) != QCOW2_MAGIC)
		goto out; /* not qcow2 (raw): the chain ends here */
	boff = qcow2_be64(h + 8);
	blen = qcow2_be32(h + 16);
	cbits = qcow2_be32(h + 20);
	if (qcow2_be32(h + 4) == 3)
		hlen = qcow2_be32(h + 100);
	if (!boff || cbits < QCOW2_MIN_CLUSTER_BITS || cbits > QCOW2_MAX_CLUSTER_BITS ||
	    blen > QCOW2_MAX_BACKING_NAME || boff + blen > (1u << cbits) || hlen > boff)
		goto out;
	c0 = calloc(1, 1u << cbits);
	if (!c0) {
		r = -ENOMEM;
		goto out;
	}
	if (pread(fd, c0, boff + blen, 0) != (ssize_t)(boff + blen))
		goto out;
	*name = strndup((char *)c0 + boff, blen);
	for (p = hlen, end = boff; p + 8 <= end;) {
		uint32_t t = qcow2_be32(c0 + p), l = qcow2_be32(c0 + p + 4);

		if (!t || l > end - p - 8)
			break;
		if (t == QCOW2_EXT_BACKING_FMT && l < 32)
			*fmt = strndup((char *)c0 + p + 8, l);
		p += 8 + ALIGN_UP((uint64_t)l, 8);
	}
out:
	free(c0);
	close(fd);
	return r;
}

/* Refuse a backing chain that revisits a file or is deeper than QCOW2_MAX_CHAIN. */
static int check_chain(const char *path, int top_fd, const char *first, const char *first_fmt,
		       struct error *err)
{
	dev_t dev[QCOW2_MAX_CHAIN + 2];
	ino_t ino[QCOW2_MAX_CHAIN + 2];
	char *cur = strdup(path), *name = strdup(first),
	     *fmt = first_fmt ? strdup(first_fmt) : NULL;
	int depth = 0, r = 0;
	struct stat st;

	if (!cur || !name || (first_fmt && !fmt))
		r = -ENOMEM;
	while (!r) {
		char *next;

		if ((depth || top_fd < 0 ? stat(cur, &st) : fstat(top_fd, &st)) < 0) {
			r = depth ? 0 : -errno; /* a missing backing file is reported by its open */
			break;
		}
		for (int i = 0; i < depth && !r; i++) {
			if (dev[i] == st.st_dev && ino[i] == st.st_ino) {
				r = error_setf(err, -ELOOP,
					       "qcow2: backing chain of %s loops back to %s", path,
					       cur);
			}
		}
		if (r)
			break;
		if (depth > QCOW2_MAX_CHAIN) {
			r = error_setf(err, -ELOOP, "qcow2: backing chain of %s is deeper than %d",
				       path, QCOW2_MAX_CHAIN);
			break;
		}
		dev[depth] = st.st_dev;
		ino[depth] = st.st_ino;
		depth++;
		if (!name)
			break;
		next = backing_path(cur, depth == 1 ? top_fd : -1, name);
		free(cur);
		cur = next;
		if (!cur) {
			r = -ENOMEM;
			break;
		}
		if (fmt && strcmp(fmt, "qcow2")) {
			free(name);
			name = NULL; /* raw (or other) backing: the chain ends with it */
			continue;
		}
		free(name);
		free(fmt);
		if (peek_backing(cur, &name, &fmt))
			name = NULL;
	}
	free(cur);
	free(name);
	free(fmt);
	return r;
}

static int open_backing(struct qcow2_state *s, const char *path, const struct blk_open_opts *o,
			struct error *err)
{
	struct blk_open_opts bo = { .format = s->backing_fmt,
				    .readonly = true,
				    .direct = o && o->direct,
				    .force_share = o && o->force_share,
				    .backing_of = path };
	char *bp;
	int r;

	/* an image handed over as fd:N (never a backing file: they are names) */
	int top_fd = (!o || !o->backing_of) && parse_handed_fd(path) >= 0 ? s->bd->fd : -1;

	r = check_chain(path, top_fd, s->backing_file, s->backing_fmt, err);
	if (r)
		return r;
	bp = backing_path(path, top_fd, s->backing_file);
	if (!bp)
		return -ENOMEM;
	/* On failure blk_open() names bp as the backing file of path. */
	r = blk_open(bp, &bo, &s->bd->backing, err);
	free(bp);
	return r;
}

static int cache_entries(uint32_t cs)
{
	uint32_t n = (uint32_t)(2 * MiB / cs);

	/* small clusters: more, cheap tables (256 x 512 B); 2 MiB ones: at least 4 */
	return (int)MAX(4u, MIN(n, 256u));
}

int qcow2_open_fd(struct blkdev *bd, int fd, const struct blk_open_opts *o, struct error *err)
{
	struct qcow2_state *s = calloc(1, sizeof(*s));
	uint8_t h[QCOW2_V3_HDR_LEN], *c0 = NULL;
	struct stat st;
	int r, fl;

	if (!s)
		return -ENOMEM;
	bd->priv = s;
	s->bd = bd;
	s->fd = fd;
	s->rl = (struct ratelimit)RATELIMIT_INIT;
	s->readonly = (o && o->readonly) || bd->readonly;
	/* metadata updates are small and unaligned: qcow2 does its I/O through the page cache */
	fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && (fl & O_DIRECT))
		(void)fcntl(fd, F_SETFL, fl & ~O_DIRECT);
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto fail;
	}
	s->file_size = (uint64_t)st.st_size;
	if (s->file_size < QCOW2_V2_HDR_LEN)
		BAD("qcow2: truncated header (%llu bytes)", (unsigned long long)s->file_size);
	r = pread_full(fd, h, (size_t)MIN(s->file_size, sizeof(h)), 0);
	if (r)
		goto fail;
	if (qcow2_be32(h) != QCOW2_MAGIC)
		BAD("qcow2: bad magic, not a qcow2 image");
	s->version = qcow2_be32(h + 4);
	if (s->version != 2 && s->version != 3)
		BAD("qcow2: unsupported version %u", s->version);
	if (s->version == 3 && s->file_size < QCOW2_V3_HDR_LEN)
		BAD("qcow2: truncated version 3 header (%llu bytes)",
		    (unsigned long long)s->file_size);
	s->cluster_bits = qcow2_be32(h + 20);
	if (s->cluster_bits < QCOW2_MIN_CLUSTER_BITS || s->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		BAD("qcow2: cluster_bits %u out of range (%d..%d)", s->cluster_bits,
		    QCOW2_MIN_CLUSTER_BITS, QCOW2_MAX_CLUSTER_BITS);
	s->cluster_size = 1u << s->cluster_bits;
	s->l2_bits = s->cluster_bits - 3;
	s->l2_size = 1u << s->l2_bits;
	c0 = calloc(1, s->cluster_size);
	if (!c0) {
		r = -ENOMEM;
		goto fail;
	}
	r = pread_full(fd, c0, (size_t)MIN(s->file_size, (uint64_t)s->cluster_size), 0);
	if (r)
		goto fail;
	r = parse_header(s, c0, err);
	if (r)
		goto fail;
	r = qcow2_cache_init(&s->l2_cache, s, cache_entries(s->cluster_size));
	if (!r)
		r = qcow2_cache_init(&s->rb_cache, s, cache_entries(s->cluster_size));
	if (r)
		goto fail;
	s->l2_cache.depends = &s->rb_cache;
	s->cbuf = malloc(2 * (size_t)s->cluster_size);
	s->dbuf = malloc(s->cluster_size);
	s->cow_head = malloc(s->cluster_size);
	s->cow_tail = malloc(s->cluster_size);
	if (!s->cbuf || !s->dbuf || !s->cow_head || !s->cow_tail) {
		r = -ENOMEM;
		goto fail;
	}
	bd->size = s->size;
	bd->cluster_size = s->cluster_size;
	if (s->backing_file && !(bd->backing_file = strdup(s->backing_file))) {
		r = -ENOMEM;
		goto fail;
	}
	if (s->backing_fmt && !(bd->backing_fmt = strdup(s->backing_fmt))) {
		r = -ENOMEM;
		goto fail;
	}
	if (s->incompat & QCOW2_INCOMPAT_CORRUPT)
		log_warn("qcow2: %s is marked corrupt: writes are refused (img check -r all)",
			 bd->path ? bd->path : "image");
	if (!s->readonly && (s->incompat & QCOW2_INCOMPAT_DIRTY)) {
		/* spec: the dirty bit means the refcounts may be wrong; rebuild them */
		log_info("qcow2: %s was not closed cleanly, rebuilding refcounts",
			 bd->path ? bd->path : "image");
		r = qcow2_rebuild_refcounts(s, err);
		/* an interrupted snapshot operation may also have left OFLAG_COPIED wrong */
		if (!r)
			r = qcow2_update_l1_refs(s, s->l1, s->l1_size, 0, true);
		if (!r) {
			s->dirty_set = true;
			r = qcow2_mark_clean(s);
		}
		if (r)
			goto fail;
	}
	if (!s->readonly && s->autoclear) {
		/* spec: a writer that does not update them must clear the autoclear bits */
		uint8_t b[8] = { 0 };

		r = qcow2_update_header_fields(s, 88, b, 8);
		if (r)
			goto fail;
		s->autoclear = 0;
	}
	if (s->backing_file && !(o && o->no_backing)) {
		r = open_backing(s, bd->path ? bd->path : "", o, err);
		if (r)
			goto fail;
	}
	free(c0);
	return 0;
fail:
	free(c0);
	free(bd->backing_file);
	free(bd->backing_fmt);
	bd->backing_file = bd->backing_fmt = NULL;
	s->readonly = true; /* write nothing back on the way out */
	qcow2_close_state(bd);
	return r;
}

void qcow2_close_state(struct blkdev *bd)
{
	struct qcow2_state *s = bd->priv;

	if (!s)
		return;
	if (!s->readonly && s->l1 && s->l2_cache.e && s->rb_cache.e) {
		if (qcow2_sync(s) == 0 && s->dirty_set)
			qcow2_mark_clean(s);
	}
	qcow2_cache_destroy(&s->l2_cache);
	qcow2_cache_destroy(&s->rb_cache);
	qcow2_free_snapshots(s);
	for (int i = 0; i < s->nb_exts; i++)
		free(s->exts[i].data);
	free(s->exts);
	free(s->l1);
	free(s->reftable);
	free(s->backing_file);
	free(s->backing_fmt);
	free(s->hdr);
	free(s->cbuf);
	free(s->dbuf);
	free(s->cow_head);
	free(s->cow_tail);
	free(s->pending);
	if (s->zstd_dctx)
		ZSTD_freeDCtx(s->zstd_dctx);
	free(s);
	bd->priv = NULL;
}
