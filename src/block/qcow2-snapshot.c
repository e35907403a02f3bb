// SPDX-License-Identifier: MIT
/*
 * qcow2 internal snapshots (spec "Snapshots").  A snapshot is a copy of
 * the active L1 table plus one more reference on every cluster reachable
 * from it; OFLAG_COPIED is cleared on shared clusters so that writes copy
 * them first.
 *
 * Every step raises references before anything new points at the
 * clusters and drops them only after the old pointers are gone from the
 * disk, so a crash leaks clusters at worst.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "block/qcow2-int.h"
#include "util/log.h"
#include "util/util.h"

#define SNAP_HDR 40
#define SNAP_MAX_EXTRA 1024

void qcow2_free_snapshots(struct qcow2_state *s)
{
	for (int i = 0; i < s->nb_snapshots && s->snaps; i++) {
		free(s->snaps[i].id);
		free(s->snaps[i].name);
		free(s->snaps[i].extra);
	}
	free(s->snaps);
	s->snaps = NULL;
	s->nb_snapshots = 0;
}

int qcow2_read_snapshots(struct qcow2_state *s, struct error *err)
{
	uint64_t off = s->snapshots_offset, pos = 0, l1_bytes = (uint64_t)s->l1_size * 8;
	int n = s->nb_snapshots, r = 0;
	uint8_t *t = NULL;
	size_t tlen;

	s->nb_snapshots = 0;
	s->snapshots_size = 0;
	if (!n)
		return 0;
	if (n > QCOW2_MAX_SNAPSHOTS || !qcow2_aligned(s, off) || off < s->cluster_size ||
	    off >= s->file_size) {
		return error_setf(err, -EINVAL,
				  "qcow2: invalid snapshot table (%d entries at 0x%llx)", n,
				  (unsigned long long)off);
	}
	/* every entry takes at least SNAP_HDR bytes of the table, inside the file */
	if ((uint64_t)n * SNAP_HDR > s->file_size - off) {
		return error_setf(
			err, -EINVAL,
			"qcow2: header field nb_snapshots (%d) claims more snapshots than fit "
			"between the snapshot table at 0x%llx and the end of the file",
			n, (unsigned long long)off);
	}
	tlen = (size_t)MIN(s->file_size - off, (uint64_t)QCOW2_MAX_SNAPSHOT_TABLE);
	t = malloc(tlen);
	s->snaps = calloc((size_t)n, sizeof(*s->snaps));
	if (!t || !s->snaps) {
		free(t);
		return -ENOMEM;
	}
	r = pread_full(s->fd, t, tlen, (off_t)off);
	if (r)
		goto out;
	for (int i = 0; i < n; i++) {
		struct qcow2_snapshot *sn = &s->snaps[i];
		uint32_t idl, nl, extra;
		const uint8_t *e;

		r = -EINVAL;
		if (pos + SNAP_HDR > tlen)
			goto bad;
		e = t + pos;
		sn->l1_offset = qcow2_be64(e);
		sn->l1_size = qcow2_be32(e + 8);
		idl = qcow2_be16(e + 12);
		nl = qcow2_be16(e + 14);
		sn->date_sec = qcow2_be32(e + 16);
		sn->date_nsec = qcow2_be32(e + 20);
		sn->vm_clock_nsec = qcow2_be64(e + 24);
		sn->vm_state_size = qcow2_be32(e + 32);
		extra = qcow2_be32(e + 36);
		sn->disk_size = s->size;
		sn->icount = UINT64_MAX;
		if (extra > SNAP_MAX_EXTRA || pos + SNAP_HDR + extra + idl + nl > tlen)
			goto bad;
		if (extra >= 8)
			sn->vm_state_size = qcow2_be64(e + 40);
		if (extra >= 16)
			sn->disk_size = qcow2_be64(e + 48);
		if (extra >= 24)
			sn->icount = qcow2_be64(e + 56);
		sn->extra_size = extra;
		sn->extra = malloc(extra ? extra : 1);
		sn->id = strndup((const char *)e + SNAP_HDR + extra, idl);
		sn->name = strndup((const char *)e + SNAP_HDR + extra + idl, nl);
		s->nb_snapshots = i + 1;
		if (!sn->extra || !sn->id || !sn->name) {
			r = -ENOMEM;
			goto out;
		}
		memcpy(sn->extra, e + SNAP_HDR, extra);
		if ((uint64_t)sn->l1_size * 8 > QCOW2_MAX_L1_BYTES ||
		    (sn->l1_size &&
		     (!qcow2_aligned(s, sn->l1_offset) || sn->l1_offset < s->cluster_size ||
		      sn->l1_offset + (uint64_t)sn->l1_size * 8 > s->file_size))) {
			error_setf(
				err, -EINVAL,
				"qcow2: snapshot %d has an invalid L1 table (0x%llx, %u entries)",
				i, (unsigned long long)sn->l1_offset, sn->l1_size);
			goto out;
		}
		l1_bytes += (uint64_t)sn->l1_size * 8;
		pos = ALIGN_UP(pos + SNAP_HDR + extra + idl + nl, 8);
	}
	/*
	 * Each snapshot has its own copy of the L1 table (qcow2 spec
	 * "Snapshots"; QEMU and we allocate one per snapshot), as does the
	 * active image, so together they fit in the file.  A table naming
	 * one L1 table for thousands of snapshots claims more than that and
	 * would make the check walk (snapshots) x (L1 entries): refused, which
	 * bounds the L1 work of the check and the refcount rebuild by the file.
	 */
	if (l1_bytes > s->file_size) {
		error_setf(err, -EINVAL,
			   "qcow2: the L1 tables of the image and its %d snapshots (%llu bytes) "
			   "do not fit in the file (%llu bytes): snapshot table corrupt",
			   n, (unsigned long long)l1_bytes, (unsigned long long)s->file_size);
		goto out;
	}
	s->snapshots_size = pos;
	if (off < s->l1_offset + (uint64_t)s->l1_size * 8 && s->l1_offset < off + pos) {
		error_setf(err, -EINVAL, "qcow2: snapshot table overlaps the L1 table");
		goto out;
	}
	if (off < s->reftable_offset + (uint64_t)s->reftable_clusters * s->cluster_size &&
	    s->reftable_offset < off + pos) {
		error_setf(err, -EINVAL, "qcow2: snapshot table overlaps the refcount table");
		goto out;
	}
	r = 0;
	goto out;
bad:
	error_setf(err, -EINVAL, "qcow2: snapshot table is truncated or malformed (entry %d)",
		   s->nb_snapshots);
out:
	free(t);
	return r;
}

/* Write the snapshot table to new clusters, switch the header, free the old one. */
int qcow2_write_snapshot_table(struct qcow2_state *s)
{
	uint64_t size = 0, off = 0, old_off = s->snapshots_offset, old_size = s->snapshots_size;
	uint8_t *t, hdr[12];
	int r = 0;

	for (int i = 0; i < s->nb_snapshots; i++) {
		struct qcow2_snapshot *sn = &s->snaps[i];

		size = ALIGN_UP(
			size + SNAP_HDR + sn->extra_size + strlen(sn->id) + strlen(sn->name), 8);
	}
	t = calloc(1, size ? size : 1);
	if (!t)
		return -ENOMEM;
	size = 0;
	for (int i = 0; i < s->nb_snapshots; i++) {
		struct qcow2_snapshot *sn = &s->snaps[i];
		uint8_t *e = t + size;
		size_t idl = strlen(sn->id), nl = strlen(sn->name);

		qcow2_put64(e, sn->l1_offset);
		qcow2_put32(e + 8, sn->l1_size);
		qcow2_put16(e + 12, (uint16_t)idl);
		qcow2_put16(e + 14, (uint16_t)nl);
		qcow2_put32(e + 16, sn->date_sec);
		qcow2_put32(e + 20, sn->date_nsec);
		qcow2_put64(e + 24, sn->vm_clock_nsec);
		qcow2_put32(e + 32, (uint32_t)MIN(sn->vm_state_size, UINT32_MAX));
		qcow2_put32(e + 36, sn->extra_size);
		memcpy(e + SNAP_HDR, sn->extra, sn->extra_size);
		if (sn->extra_size >= 8)
			qcow2_put64(e + 40, sn->vm_state_size);
		if (sn->extra_size >= 16)
			qcow2_put64(e + 48, sn->disk_size);
		memcpy(e + SNAP_HDR + sn->extra_size, sn->id, idl);
		memcpy(e + SNAP_HDR + sn->extra_size + idl, sn->name, nl);
		size = ALIGN_UP(size + SNAP_HDR + sn->extra_size + idl + nl, 8);
	}
	if (size) {
		r = qcow2_alloc_clusters(s, DIV_ROUND_UP_U64(size, s->cluster_size), &off);
		if (!r)
			r = qcow2_cache_flush(&s->rb_cache);
		if (!r)
			r = pwrite_full(s->fd, t, size, (off_t)off);
		if (!r && qcow2_fdatasync(s) < 0)
			r = -errno;
		if (!r && off + size > s->file_size)
			s->file_size = off + size;
	}
	free(t);
	if (r)
		return r;
	qcow2_put32(hdr, (uint32_t)s->nb_snapshots);
	qcow2_put64(hdr + 4, off);
	r = qcow2_update_header_fields(s, 60, hdr, 12);
	if (r)
		return r;
	s->snapshots_offset = off;
	s->snapshots_size = size;
	if (old_size)
		r = qcow2_free_clusters(s, old_off, old_size);
	return r;
}

static int refs_of_entry(struct qcow2_state *s, uint64_t e, int64_t addend)
{
	uint64_t off, len;

	if (e & QCOW2_OFLAG_COMPRESSED) {
		qcow2_comp_desc(s, e, &off, &len);
		return qcow2_refcount_update(s, ALIGN_DOWN(off, 512), len + (off & 511), addend);
	}
	off = e & QCOW2_OFFSET_MASK;
	if (!off)
		return 0;
	if (!qcow2_aligned(s, off)) {
		log_err("qcow2: unaligned cluster offset 0x%llx in an L2 table",
			(unsigned long long)off);
		return -EIO;
	}
	return qcow2_refcount_update(s, off, s->cluster_size, addend);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int qcow2_l1_distinct(const uint64_t *l1, uint32_t l1_size, struct qcow2_l2_use **out,
		      size_t *count)
{
	uint64_t *v = malloc((size_t)(l1_size ? l1_size : 1) * 8);
	struct qcow2_l2_use *u;
	size_t nv = 0, n = 0;

	*out = NULL;
	*count = 0;
	if (!v)
		return -ENOMEM;
	for (uint32_t i = 0; i < l1_size; i++)
		if (l1[i] & QCOW2_OFFSET_MASK)
			v[nv++] = l1[i] & QCOW2_OFFSET_MASK;
	qsort(v, nv, sizeof(*v), cmp_u64);
	u = calloc(nv ? nv : 1, sizeof(*u));
	if (!u) {
		free(v);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nv; i++) {
		if (!n || u[n - 1].off != v[i])
			u[n++].off = v[i];
		u[n - 1].count++;
	}
	free(v);
	*out = u;
	*count = n;
	return 0;
}

/*
 * Each distinct L2 table is visited once, its references changed by
 * addend times the number of L1 entries naming it: the work is bounded
 * by the tables in the file, not by L1 entries x L2 entries (4M L1
 * entries naming one table took minutes per call).
 */
int qcow2_update_l1_refs(struct qcow2_state *s, const uint64_t *l1, uint32_t l1_size, int addend,
			 bool active)
{
	struct qcow2_l2_use *uses;
	bool l1_changed = false;
	size_t nuses;
	int r = qcow2_l1_distinct(l1, l1_size, &uses, &nuses);

	for (size_t i = 0; i < nuses && !r; i++) {
		uint64_t l2off = uses[i].off, ref;
		int64_t add = (int64_t)addend * (int64_t)uses[i].count;
		uint8_t *l2;
		bool changed = false;

		r = qcow2_cache_get(&s->l2_cache, l2off, false, &l2);
		if (r)
			break;
		for (uint32_t j = 0; j < s->l2_size && !r; j++) {
			uint64_t e = qcow2_be64(l2 + (uint64_t)j * 8), ne = e;

			if (add)
				r = refs_of_entry(s, e, add);
			if (r || !active || (e & QCOW2_OFLAG_COMPRESSED) ||
			    !(e & QCOW2_OFFSET_MASK))
				continue;
			r = qcow2_refcount_get(s, (e & QCOW2_OFFSET_MASK) >> s->cluster_bits, &ref);
			ne = ref == 1 ? e | QCOW2_OFLAG_COPIED : e & ~QCOW2_OFLAG_COPIED;
			if (ne != e) {
				qcow2_put64(l2 + (uint64_t)j * 8, ne);
				changed = true;
			}
		}
		if (changed)
			qcow2_cache_mark_dirty(&s->l2_cache, l2);
		qcow2_cache_put(&s->l2_cache, l2);
		if (!r && add)
			r = qcow2_refcount_update(s, l2off, s->cluster_size, add);
	}
	free(uses);
	/* OFLAG_COPIED of the active L1 entries, from the L2 tables' refcounts */
	for (uint32_t i = 0; i < l1_size && active && !r; i++) {
		uint64_t l2off = l1[i] & QCOW2_OFFSET_MASK, ref, ne;

		if (!l2off)
			continue;
		r = qcow2_refcount_get(s, l2off >> s->cluster_bits, &ref);
		ne = ref == 1 ? l1[i] | QCOW2_OFLAG_COPIED : l1[i] & ~QCOW2_OFLAG_COPIED;
		if (!r && ne != l1[i]) {
			s->l1[i] = ne;
			l1_changed = true;
		}
	}
	if (r)
		return r;
	/* refcounts, then L2 tables, then the L1 table reach the disk */
	r = qcow2_sync(s);
	if (!r && l1_changed)
		r = qcow2_write_l1_table(s);
	if (!r && l1_changed && qcow2_fdatasync(s) < 0)
		r = -errno;
	return r;
}

static struct qcow2_snapshot *find_snapshot(struct qcow2_state *s, const char *key)
{
	for (int i = 0; i < s->nb_snapshots; i++)
		if (!strcmp(s->snaps[i].name, key))
			return &s->snaps[i];
	for (int i = 0; i < s->nb_snapshots; i++)
		if (!strcmp(s->snaps[i].id, key))
			return &s->snaps[i];
	return NULL;
}

static int snapshot_begin(struct blkdev *bd, struct qcow2_state **out)
{
	struct qcow2_state *s;

	if (!qcow2_is_qcow2(bd))
		return -EINVAL;
	s = qcow2_state_of(bd);
	if (s->readonly)
		return -EROFS;
	if (s->incompat & QCOW2_INCOMPAT_CORRUPT) {
		log_err("qcow2: image is marked corrupt; snapshots are refused");
		return -EROFS;
	}
	*out = s;
	s->dbuf_l2e = 0;
	s->comp_next = 0;
	return qcow2_sync(s);
}

static int snapshot_create(struct blkdev *bd, const char *name)
{
	struct qcow2_state *s;
	struct qcow2_snapshot *sn, *arr;
	uint64_t l1off = 0, maxid = 0, bytes;
	struct timespec ts;
	char idbuf[24];
	uint8_t *buf;
	int r = snapshot_begin(bd, &s);

	if (r)
		return r;
	if (!name || strlen(name) > 65535 || find_snapshot(s, name)) {
		log_err("qcow2: snapshot name '%s' is invalid or already used", name ? name : "");
		return -EEXIST;
	}
	if (s->nb_snapshots >= QCOW2_MAX_SNAPSHOTS) {
		log_err("qcow2: too many snapshots");
		return -ENOSPC;
	}
	for (int i = 0; i < s->nb_snapshots; i++)
		maxid = MAX(maxid, strtoull(s->snaps[i].id, NULL, 10));
	snprintf(idbuf, sizeof(idbuf), "%llu", (unsigned long long)maxid + 1);

	/* one more reference on everything, shared clusters lose OFLAG_COPIED */
	r = qcow2_update_l1_refs(s, s->l1, s->l1_size, 1, true);
	if (r)
		return r;
	bytes = (uint64_t)s->l1_size * 8;
	if (bytes) {
		buf = calloc(1, ALIGN_UP(bytes, s->cluster_size));
		if (!buf)
			return -ENOMEM;
		for (uint32_t i = 0; i < s->l1_size; i++)
			qcow2_put64(buf + i * 8, s->l1[i]);
		r = qcow2_alloc_clusters(s, DIV_ROUND_UP_U64(bytes, s->cluster_size), &l1off);
		if (!r)
			r = qcow2_cache_flush(&s->rb_cache);
		if (!r)
			r = pwrite_full(s->fd, buf, ALIGN_UP(bytes, s->cluster_size), (off_t)l1off);
		free(buf);
		if (r)
			return r;
		if (l1off + ALIGN_UP(bytes, s->cluster_size) > s->file_size)
			s->file_size = l1off + ALIGN_UP(bytes, s->cluster_size);
	}
	arr = realloc(s->snaps, sizeof(*arr) * (size_t)(s->nb_snapshots + 1));
	if (!arr)
		return -ENOMEM;
	s->snaps = arr;
	sn = &arr[s->nb_snapshots];
	memset(sn, 0, sizeof(*sn));
	clock_gettime(CLOCK_REALTIME, &ts);
	sn->l1_offset = l1off;
	sn->l1_size = s->l1_size;
	sn->date_sec = (uint32_t)ts.tv_sec;
	sn->date_nsec = (uint32_t)ts.tv_nsec;
	sn->disk_size = s->size;
	sn->icount = UINT64_MAX;
	sn->extra_size = s->version >= 3 ? 16 : 0;
	sn->extra = calloc(1, 16);
	sn->id = strdup(idbuf);
	sn->name = strdup(name);
	s->nb_snapshots++;
	if (!sn->extra || !sn->id || !sn->name)
		return -ENOMEM;
	r = qcow2_write_snapshot_table(s);
	if (r)
		return r;
	return qcow2_sync(s);
}

static int read_snap_l1(struct qcow2_state *s, const struct qcow2_snapshot *sn, uint64_t **out)
{
	uint64_t *t = calloc(sn->l1_size ? sn->l1_size : 1, 8);
	int r;

	*out = t;
	if (!t)
		return -ENOMEM;
	r = pread_full(s->fd, t, (size_t)sn->l1_size * 8, (off_t)sn->l1_offset);
	if (r) {
		log_err("qcow2: reading a snapshot L1 table: %s", strerror(-r));
		return r;
	}
	for (uint32_t i = 0; i < sn->l1_size; i++)
		t[i] = qcow2_be64((uint8_t *)&t[i]) & ~QCOW2_OFLAG_COPIED;
	return 0;
}

static int snapshot_apply(struct blkdev *bd, const char *key)
{
	struct qcow2_state *s;
	struct qcow2_snapshot *sn;
	uint64_t *sl1 = NULL, *old = NULL;
	uint32_t old_size;
	int r = snapshot_begin(bd, &s);

	if (r)
		return r;
	sn = find_snapshot(s, key);
	if (!sn) {
		log_err("qcow2: no snapshot '%s'", key);
		return -ENOENT;
	}
	r = read_snap_l1(s, sn, &sl1);
	if (!r && sn->l1_size > s->l1_size)
		r = qcow2_grow_l1(s, sn->l1_size);
	/* the snapshot's clusters gain the active table's reference first */
	if (!r)
		r = qcow2_update_l1_refs(s, sl1, sn->l1_size, 1, false);
	if (r)
		goto out;
	old_size = s->l1_size;
	old = malloc((size_t)old_size * 8 + 8);
	if (!old) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(old, s->l1, (size_t)old_size * 8);
	memset(s->l1, 0, (size_t)old_size * 8);
	memcpy(s->l1, sl1, (size_t)sn->l1_size * 8);
	r = qcow2_write_l1_table(s);
	if (!r && qcow2_fdatasync(s) < 0)
		r = -errno;
	/* then the old active tree loses it, and OFLAG_COPIED is recomputed */
	if (!r)
		r = qcow2_update_l1_refs(s, old, old_size, -1, false);
	if (!r)
		r = qcow2_update_l1_refs(s, s->l1, s->l1_size, 0, true);
	if (!r && sn->disk_size != s->size && sn->disk_size) {
		r = qcow2_write_size(s, sn->disk_size);
	}
out:
	free(sl1);
	free(old);
	return r;
}

static int snapshot_delete(struct blkdev *bd, const char *key)
{
	struct qcow2_state *s;
	struct qcow2_snapshot *sn, saved;
	uint64_t *sl1 = NULL;
	int r = snapshot_begin(bd, &s);

	if (r)
		return r;
	sn = find_snapshot(s, key);
	if (!sn) {
		log_err("qcow2: no snapshot '%s'", key);
		return -ENOENT;
	}
	r = read_snap_l1(s, sn, &sl1);
	if (r)
		goto out;
	saved = *sn;
	memmove(sn, sn + 1, sizeof(*sn) * (size_t)(s->snaps + s->nb_snapshots - sn - 1));
	s->nb_snapshots--;
	r = qcow2_write_snapshot_table(s);
	if (r) {
		/* the table on disk is unchanged: put the entry back */
		memmove(sn + 1, sn, sizeof(*sn) * (size_t)(s->snaps + s->nb_snapshots - sn));
		*sn = saved;
		s->nb_snapshots++;
		goto out;
	}
	r = qcow2_update_l1_refs(s, sl1, saved.l1_size, -1, false);
	if (!r && saved.l1_size)
		r = qcow2_free_clusters(s, saved.l1_offset, (uint64_t)saved.l1_size * 8);
	if (!r)
		r = qcow2_update_l1_refs(s, s->l1, s->l1_size, 0, true);
	free(saved.id);
	free(saved.name);
	free(saved.extra);
out:
	free(sl1);
	return r;
}

/*
 * Snapshot operations change refcounts, OFLAG_COPIED flags and tables
 * that no write order keeps mutually consistent at every instant (qemu
 * has the same windows).  On v3 images the dirty bit covers them: if the
 * process dies in the middle, the next read-write open (ours or qemu's)
 * rebuilds the refcounts and the flags before anything is written.
 */
static int snapshot_guard(struct blkdev *bd, const char *key, bool must_exist,
			  struct qcow2_state **out, bool *guarded)
{
	struct qcow2_state *s;
	uint8_t b[8];
	int r;

	*guarded = false;
	if (!qcow2_is_qcow2(bd))
		return -EINVAL;
	s = qcow2_state_of(bd);
	*out = s;
	if (s->readonly)
		return -EROFS;
	if (s->incompat & QCOW2_INCOMPAT_CORRUPT) {
		log_err("qcow2: image is marked corrupt; snapshots are refused");
		return -EROFS;
	}
	if (!key || (must_exist && !find_snapshot(s, key))) {
		log_err("qcow2: no snapshot '%s'", key ? key : "");
		return -ENOENT;
	}
	if (!must_exist && (strlen(key) > 65535 || find_snapshot(s, key))) {
		log_err("qcow2: snapshot name '%s' is invalid or already used", key);
		return -EEXIST;
	}
	if (s->version < 3 || (s->incompat & QCOW2_INCOMPAT_DIRTY))
		return 0;
	r = qcow2_sync(s);
	if (r)
		return r;
	qcow2_put64(b, s->incompat | QCOW2_INCOMPAT_DIRTY);
	r = qcow2_update_header_fields(s, 72, b, 8);
	if (r)
		return r;
	s->incompat |= QCOW2_INCOMPAT_DIRTY;
	*guarded = true;
	return 0;
}

static int snapshot_unguard(struct qcow2_state *s, int r, bool guarded)
{
	uint8_t b[8];

	if (!guarded)
		return r;
	if (r) {
		/* leave the dirty bit: the next read-write open repairs */
		s->keep_dirty = true;
		return r;
	}
	r = qcow2_sync(s);
	if (r)
		return r;
	qcow2_put64(b, s->incompat & ~QCOW2_INCOMPAT_DIRTY);
	r = qcow2_update_header_fields(s, 72, b, 8);
	if (!r)
		s->incompat &= ~QCOW2_INCOMPAT_DIRTY;
	return r;
}

int qcow2_snapshot_create(struct blkdev *bd, const char *name)
{
	struct qcow2_state *s;
	bool guarded;
	int r = snapshot_guard(bd, name, false, &s, &guarded);

	if (r)
		return r;
	return snapshot_unguard(s, snapshot_create(bd, name), guarded);
}

int qcow2_snapshot_apply(struct blkdev *bd, const char *key)
{
	struct qcow2_state *s;
	bool guarded;
	int r = snapshot_guard(bd, key, true, &s, &guarded);

	if (r)
		return r;
	return snapshot_unguard(s, snapshot_apply(bd, key), guarded);
}

int qcow2_snapshot_delete(struct blkdev *bd, const char *key)
{
	struct qcow2_state *s;
	bool guarded;
	int r = snapshot_guard(bd, key, true, &s, &guarded);

	if (r)
		return r;
	return snapshot_unguard(s, snapshot_delete(bd, key), guarded);
}

int qcow2_snapshot_list(struct blkdev *bd, struct qcow2_snapshot_info **out, int *count)
{
	struct qcow2_state *s;
	struct qcow2_snapshot_info *l;

	if (!qcow2_is_qcow2(bd))
		return -EINVAL;
	s = qcow2_state_of(bd);
	*out = NULL;
	*count = 0;
	l = calloc((size_t)(s->nb_snapshots ? s->nb_snapshots : 1), sizeof(*l));
	if (!l)
		return -ENOMEM;
	for (int i = 0; i < s->nb_snapshots; i++) {
		struct qcow2_snapshot *sn = &s->snaps[i];

		l[i].id = strdup(sn->id);
		l[i].name = strdup(sn->name);
		if (!l[i].id || !l[i].name) {
			qcow2_snapshot_list_free(l, i + 1);
			return -ENOMEM;
		}
		l[i].vm_state_size = sn->vm_state_size;
		l[i].date_sec = sn->date_sec;
		l[i].date_nsec = sn->date_nsec;
		l[i].vm_clock_nsec = sn->vm_clock_nsec;
		l[i].disk_size = sn->disk_size;
		l[i].l1_size = sn->l1_size;
		l[i].icount = sn->icount;
	}
	*out = l;
	*count = s->nb_snapshots;
	return 0;
}

void qcow2_snapshot_list_free(struct qcow2_snapshot_info *list, int count)
{
	for (int i = 0; list && i < count; i++) {
		free(list[i].id);
		free(list[i].name);
	}
	free(list);
}
