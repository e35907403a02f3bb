// SPDX-License-Identifier: MIT
/*
 * qcow2 consistency check and refcount rebuild.
 *
 * The check counts, for every host cluster, the references that the
 * metadata really holds (header, L1/L2 tables, data and compressed
 * clusters of the active table and of each snapshot, snapshot table,
 * refcount table and blocks) and compares them with the stored
 * refcounts: stored > counted is a leak (harmless, repairable), stored <
 * counted is a corruption (a later allocation would reuse a cluster in
 * use).  OFLAG_COPIED must be set exactly on clusters with refcount 1.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/qcow2-int.h"
#include "util/log.h"
#include "util/util.h"

#define CHECK_MAX_CLUSTERS (64ull * 1024 * 1024)

struct check_ctx {
	struct qcow2_state *s;
	struct qcow2_check_result *res;
	uint32_t *refs;
	uint64_t nb;	     /* clusters in refs */
	uint64_t max_used;   /* highest referenced cluster + 1 */
	uint64_t copied_bad; /* OFLAG_COPIED mismatches */
	uint8_t *buf;
	bool quiet;
	uint64_t logged; /* problems printed so far (capped) */
	uint64_t *v;	 /* L2 references being collected (count_refs) */
	size_t nv, maxv;
	struct l2_use *uses; /* distinct L2 tables, by offset */
	size_t nuses;
	struct error *err; /* the rebuild on open: errors go here, not to the log */
};

#define CHECK_LOG_MAX 20

/* One line per problem, the first CHECK_LOG_MAX only: a broken image has millions. */
__attribute__((format(printf, 2, 3))) static void check_log(struct check_ctx *c, const char *fmt,
							    ...)
{
	va_list ap;

	if (c->quiet || c->logged++ >= CHECK_LOG_MAX)
		return;
	va_start(ap, fmt);
	log_vmsg(LOG_ERR, fmt, ap);
	va_end(ap);
}

/* Add n references to the clusters covering [off, off+len) (saturating). */
static void ref_range_n(struct check_ctx *c, uint64_t off, uint64_t len, uint64_t n,
			const char *what)
{
	struct qcow2_state *s = c->s;

	if (!len)
		return;
	for (uint64_t k = off >> s->cluster_bits; k <= (off + len - 1) >> s->cluster_bits; k++) {
		if (k >= c->nb) {
			check_log(c, "qcow2 check: %s at 0x%llx is beyond the end of the file",
				  what, (unsigned long long)(k << s->cluster_bits));
			c->res->corruptions++;
			return;
		}
		c->refs[k] = (uint32_t)MIN((uint64_t)UINT32_MAX, c->refs[k] + n);
		c->max_used = MAX(c->max_used, k + 1);
	}
}

static void ref_range(struct check_ctx *c, uint64_t off, uint64_t len, const char *what)
{
	ref_range_n(c, off, len, 1, what);
}

static void copied_check(struct check_ctx *c, uint64_t entry, uint64_t off, const char *what)
{
	uint64_t ref;

	if (qcow2_refcount_get(c->s, off >> c->s->cluster_bits, &ref))
		return;
	if ((ref == 1) != !!(entry & QCOW2_OFLAG_COPIED)) {
		check_log(c, "qcow2 check: OFLAG_COPIED wrong on %s 0x%llx (refcount %llu)", what,
			  (unsigned long long)off, (unsigned long long)ref);
		c->res->corruptions++;
		c->copied_bad++;
	}
}

/*
 * Bounding the work by the size of the file.  L1 tables may name the
 * same L2 table many times: snapshots share the L2 tables they did not
 * change, and a crafted image can point 4M active L1 entries at a single
 * table.  Reading an L2 table once per reference makes the check (and
 * the refcount rebuild of a dirty image) cost (L1 entries) x (cluster
 * size), hours for a 33 MiB file.  Instead every L1 reference is
 * collected first, and each distinct L2 table (a distinct cluster of the
 * file) is read once and counted with its multiplicity: the reads are
 * bounded by the file size, the L1 entries by the open-time check that
 * the image's L1 tables fit in the file (qcow2_read_snapshots).
 */
struct l2_use {
	uint64_t off;
	uint64_t refs;	/* L1 entries naming this table, all tables */
	bool active;	/* named by the active L1 table */
	bool walked;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_use(const void *key, const void *elt)
{
	uint64_t k = *(const uint64_t *)key, o = ((const struct l2_use *)elt)->off;

	return k < o ? -1 : k > o;
}

/* Append the valid L2 offsets of an L1 table to c->v (bit 0: from the active table). */
static int collect_l1(struct check_ctx *c, const uint64_t *l1, uint32_t l1_size, bool active)
{
	struct qcow2_state *s = c->s;

	for (uint32_t i = 0; i < l1_size; i++) {
		uint64_t l2off = l1[i] & QCOW2_OFFSET_MASK;

		if (!l2off)
			continue;
		if (!qcow2_aligned(s, l2off) || l2off + s->cluster_size > s->file_size) {
			check_log(c, "qcow2 check: L2 table offset 0x%llx is invalid",
				  (unsigned long long)l2off);
			c->res->corruptions++;
			continue;
		}
		if (active)
			copied_check(c, l1[i], l2off, "L2 table");
		if (c->nv == c->maxv) {
			size_t n = c->maxv ? c->maxv * 2 : 1024;
			uint64_t *v = realloc(c->v, n * sizeof(*v));

			if (!v)
				return -ENOMEM;
			c->v = v;
			c->maxv = n;
		}
		c->v[c->nv++] = l2off | active;
	}
	return 0;
}

/* Sort the collected references into one l2_use per distinct table. */
static int make_uses(struct check_ctx *c)
{
	size_t n = 0;

	if (c->nv)
		qsort(c->v, c->nv, sizeof(*c->v), cmp_u64);
	c->uses = calloc(c->nv ? c->nv : 1, sizeof(*c->uses));
	if (!c->uses)
		return -ENOMEM;
	for (size_t i = 0; i < c->nv; i++) {
		uint64_t off = c->v[i] & ~1ull;

		if (!n || c->uses[n - 1].off != off)
			c->uses[n++].off = off;
		c->uses[n - 1].refs++;
		c->uses[n - 1].active |= c->v[i] & 1;
	}
	c->nuses = n;
	free(c->v);
	c->v = NULL;
	return 0;
}

/*
 * Count the references of one L2 table (u->refs times each), with the
 * statistics and OFLAG_COPIED checks of the active table if active.
 */
static void walk_l2(struct check_ctx *c, struct l2_use *u, bool active, uint64_t *prev)
{
	struct qcow2_state *s = c->s;

	u->walked = true;
	ref_range_n(c, u->off, s->cluster_size, u->refs, "L2 table");
	if (pread_full(s->fd, c->buf, s->cluster_size, (off_t)u->off)) {
		c->res->check_errors++;
		return;
	}
	for (uint32_t j = 0; j < s->l2_size; j++) {
		uint64_t e = qcow2_be64(c->buf + (uint64_t)j * 8), off, len;

		if (e & QCOW2_OFLAG_COMPRESSED) {
			qcow2_comp_desc(s, e, &off, &len);
			ref_range_n(c, ALIGN_DOWN(off, 512), len + (off & 511), u->refs,
				    "compressed cluster");
			if (active) {
				c->res->allocated_clusters++;
				c->res->compressed_clusters++;
			}
			continue;
		}
		off = e & QCOW2_OFFSET_MASK;
		if (!off)
			continue;
		if (!qcow2_aligned(s, off)) {
			check_log(c, "qcow2 check: data cluster offset 0x%llx is not aligned",
				  (unsigned long long)off);
			c->res->corruptions++;
			continue;
		}
		ref_range_n(c, off, s->cluster_size, u->refs, "data cluster");
		if (active) {
			copied_check(c, e, off, "data cluster");
			c->res->allocated_clusters++;
			if (*prev && off != *prev + s->cluster_size)
				c->res->fragmented_clusters++;
			*prev = off;
		}
	}
}

/* Count every reference except those of the refcount structures themselves. */
static int count_refs(struct check_ctx *c)
{
	struct qcow2_state *s = c->s;
	uint64_t prev = 0;
	int r;

	c->nb = DIV_ROUND_UP_U64(s->file_size, s->cluster_size);
	if (c->nb > CHECK_MAX_CLUSTERS) {
		if (c->err)
			return error_setf(c->err, -EFBIG,
					  "qcow2 check: image file has too many clusters to check");
		log_err("qcow2 check: image file has too many clusters to check");
		return -EFBIG;
	}
	c->refs = calloc(c->nb ? c->nb : 1, sizeof(*c->refs));
	c->buf = malloc(s->cluster_size);
	if (!c->refs || !c->buf)
		return -ENOMEM;
	ref_range(c, 0, s->cluster_size, "header");
	ref_range(c, s->l1_offset, (uint64_t)s->l1_size * 8, "L1 table");
	r = collect_l1(c, s->l1, s->l1_size, true);
	if (r)
		return r;
	ref_range(c, s->snapshots_offset, s->snapshots_size, "snapshot table");
	for (int i = 0; i < s->nb_snapshots; i++) {
		struct qcow2_snapshot *sn = &s->snaps[i];
		uint64_t *l1 = calloc(sn->l1_size ? sn->l1_size : 1, 8);

		if (!l1)
			return -ENOMEM;
		ref_range(c, sn->l1_offset, (uint64_t)sn->l1_size * 8, "snapshot L1 table");
		if (pread_full(s->fd, l1, (size_t)sn->l1_size * 8, (off_t)sn->l1_offset)) {
			c->res->check_errors++;
			free(l1);
			continue;
		}
		for (uint32_t k = 0; k < sn->l1_size; k++)
			l1[k] = qcow2_be64((uint8_t *)&l1[k]);
		r = collect_l1(c, l1, sn->l1_size, false);
		free(l1);
		if (r)
			return r;
	}
	r = make_uses(c);
	if (r)
		return r;
	/* the active tables in guest order (the fragmentation count needs it)... */
	for (uint32_t i = 0; i < s->l1_size; i++) {
		uint64_t l2off = s->l1[i] & QCOW2_OFFSET_MASK;
		struct l2_use *u;

		if (!l2off)
			continue;
		u = bsearch(&l2off, c->uses, c->nuses, sizeof(*u), cmp_use);
		if (u && !u->walked)
			walk_l2(c, u, true, &prev);
	}
	/* ...then the tables only snapshots use */
	for (size_t i = 0; i < c->nuses; i++)
		if (!c->uses[i].walked)
			walk_l2(c, &c->uses[i], false, &prev);
	return 0;
}

static void count_refcount_structs(struct check_ctx *c)
{
	struct qcow2_state *s = c->s;

	ref_range(c, s->reftable_offset, (uint64_t)s->reftable_clusters * s->cluster_size,
		  "refcount table");
	for (uint32_t i = 0; i < s->reftable_size; i++) {
		uint64_t rbo = s->reftable[i] & QCOW2_REFT_OFFSET_MASK;

		if (!rbo)
			continue;
		if (!qcow2_aligned(s, rbo)) {
			check_log(c, "qcow2 check: refcount block offset 0x%llx is not aligned",
				  (unsigned long long)rbo);
			c->res->corruptions++;
			continue;
		}
		ref_range(c, rbo, s->cluster_size, "refcount block");
	}
}

static void check_ctx_free(struct check_ctx *c)
{
	free(c->refs);
	free(c->buf);
	free(c->v);
	free(c->uses);
}

/*
 * Write fresh refcount structures computed from the metadata: refcount
 * blocks for every cluster up to the end of the file, then the table,
 * all past the current end; then the header switches to them.
 */
int qcow2_rebuild_refcounts(struct qcow2_state *s, struct error *err)
{
	struct qcow2_check_result res = { 0 };
	struct check_ctx c = { .s = s, .res = &res, .quiet = true, .err = err };
	uint64_t cs = s->cluster_size, per = 1ull << s->rb_bits, area, nrb = 0, tc = 1, entries;
	uint8_t *rb = NULL, hdr[12];
	uint64_t *table = NULL;
	int r;

	r = qcow2_sync(s);
	if (!r)
		r = count_refs(&c);
	if (r)
		goto out;
	area = MAX(c.nb, c.max_used);
	for (;;) {
		uint64_t need = DIV_ROUND_UP_U64(area + nrb + tc, per);
		uint64_t ntc = DIV_ROUND_UP_U64(need * 8, cs);

		if (need == nrb && ntc == tc)
			break;
		nrb = need;
		tc = ntc;
	}
	entries = tc * cs / 8;
	if (tc * cs > QCOW2_MAX_REFTABLE_BYTES) {
		r = error_setf(err, -EFBIG, "qcow2: rebuilt refcount table would be too large");
		goto out;
	}
	rb = malloc(cs);
	table = calloc(entries, 8);
	if (!rb || !table) {
		r = -ENOMEM;
		goto out;
	}
	for (uint64_t i = 0; i < nrb; i++) {
		memset(rb, 0, cs);
		for (uint64_t k = 0; k < per; k++) {
			uint64_t cl = i * per + k, v = cl < c.nb ? c.refs[cl] : 0;

			if (cl >= area && cl < area + nrb + tc)
				v = 1;
			if (v > s->refcount_max) {
				r = error_setf(err, -ERANGE,
					       "qcow2: cluster 0x%llx has %llu references, more than "
					       "refcount_bits=%u can count: metadata corrupt, refcounts "
					       "not rebuilt",
					       (unsigned long long)(cl * cs), (unsigned long long)v,
					       s->refcount_bits);
				goto out;
			}
			qcow2_refcount_block_set(s, rb, k, v);
		}
		r = pwrite_full(s->fd, rb, cs, (off_t)((area + i) * cs));
		if (r)
			goto out;
		qcow2_put64((uint8_t *)&table[i], (area + i) * cs);
	}
	r = pwrite_full(s->fd, table, tc * cs, (off_t)((area + nrb) * cs));
	if (!r && qcow2_fdatasync(s) < 0)
		r = -errno;
	if (r)
		goto out;
	qcow2_put64(hdr, (area + nrb) * cs);
	qcow2_put32(hdr + 8, (uint32_t)tc);
	r = qcow2_update_header_fields(s, 48, hdr, 12);
	if (r)
		goto out;
	for (uint64_t i = 0; i < entries; i++)
		table[i] = qcow2_be64((uint8_t *)&table[i]);
	free(s->reftable);
	s->reftable = table;
	table = NULL;
	s->reftable_offset = (area + nrb) * cs;
	s->reftable_clusters = (uint32_t)tc;
	s->reftable_size = (uint32_t)entries;
	s->reftable_used = (uint32_t)nrb;
	s->file_size = MAX(s->file_size, (area + nrb + tc) * cs);
	s->free_hint = 0;
	s->comp_next = 0;
	/* the cached refcount blocks belong to the old structures */
	for (int i = 0; i < s->rb_cache.n; i++) {
		s->rb_cache.e[i].offset = 0;
		s->rb_cache.e[i].dirty = false;
	}
out:
	free(rb);
	free(table);
	check_ctx_free(&c);
	return r;
}

/*
 * Clusters past the end of the file have no references: a refcount
 * there is a leak.  Only the refcount blocks that exist are read, each
 * once (the table has no duplicates: checked at open), so the work is
 * bounded by the blocks in the file, not by the up to 2^20 table
 * entries times 2^rb_bits clusters each of them could describe.
 */
static int check_past_end(struct check_ctx *c, int repair)
{
	struct qcow2_state *s = c->s;
	uint64_t per = 1ull << s->rb_bits;

	for (uint64_t ti = c->nb >> s->rb_bits; ti < s->reftable_size; ti++) {
		uint64_t rbo = s->reftable[ti] & QCOW2_REFT_OFFSET_MASK, k, leaked = 0;
		uint8_t *rb;

		if (!rbo)
			continue;
		if (!qcow2_aligned(s, rbo) || qcow2_cache_get(&s->rb_cache, rbo, false, &rb)) {
			c->res->check_errors++;
			continue;
		}
		for (k = MAX(c->nb, ti * per); k < (ti + 1) * per; k++)
			if (qcow2_refcount_block_get(s, rb, k & (per - 1)))
				leaked++;
		if (leaked && (repair & QCOW2_CHECK_REPAIR_LEAKS)) {
			for (k = MAX(c->nb, ti * per); k < (ti + 1) * per; k++)
				qcow2_refcount_block_set(s, rb, k & (per - 1), 0);
			qcow2_cache_mark_dirty(&s->rb_cache, rb);
			c->res->leaks_fixed += leaked;
			s->free_hint = MIN(s->free_hint, MAX(c->nb, ti * per));
			s->comp_next = 0;
		} else {
			c->res->leaks += leaked;
		}
		qcow2_cache_put(&s->rb_cache, rb);
	}
	return 0;
}

/*
 * Compare the counted references with the refcounts on disk, one
 * refcount block at a time: a file of 2^26 clusters is 2^26 compares,
 * not 2^26 cache lookups (a guest write through a corrupt L2 entry can
 * leave a sparse file of gigabytes, and check runs after every repair).
 */
static void compare_refs(struct check_ctx *c, int repair)
{
	struct qcow2_state *s = c->s;
	uint64_t per = 1ull << s->rb_bits;

	for (uint64_t ti = 0; ti * per < c->nb; ti++) {
		uint64_t first = ti * per, end = MIN(c->nb, first + per);
		uint64_t rbo = ti < s->reftable_size ? s->reftable[ti] & QCOW2_REFT_OFFSET_MASK : 0;
		uint8_t *rb = NULL;

		if (rbo && (!qcow2_aligned(s, rbo) || qcow2_cache_get(&s->rb_cache, rbo, false, &rb))) {
			c->res->check_errors += end - first;
			continue;
		}
		/* no block: all zero on disk, and nothing is referenced past max_used */
		if (!rb)
			end = MIN(end, MAX(first, c->max_used));
		for (uint64_t k = first; k < end; k++) {
			uint64_t want = c->refs[k];
			uint64_t ondisk = rb ? qcow2_refcount_block_get(s, rb, k & (per - 1)) : 0;

			if (ondisk == want)
				continue;
			if (ondisk < want) {
				check_log(c,
					  "qcow2 check: cluster 0x%llx has refcount %llu but %llu "
					  "references",
					  (unsigned long long)(k << s->cluster_bits),
					  (unsigned long long)ondisk, (unsigned long long)want);
				c->res->corruptions++;
				continue;
			}
			if (repair & QCOW2_CHECK_REPAIR_LEAKS) {
				int r;

				/* the update takes the block itself: let go of it meanwhile */
				qcow2_cache_put(&s->rb_cache, rb);
				r = qcow2_refcount_update(s, k << s->cluster_bits, s->cluster_size,
							  (int64_t)want - (int64_t)ondisk);
				if (qcow2_cache_get(&s->rb_cache, rbo, false, &rb)) {
					c->res->check_errors += end - k - 1;
					rb = NULL;
					break;
				}
				if (!r) {
					c->res->leaks_fixed++;
					continue;
				}
			}
			c->res->leaks++;
		}
		if (rb)
			qcow2_cache_put(&s->rb_cache, rb);
	}
}

static int run_check(struct qcow2_state *s, struct qcow2_check_result *res, int repair)
{
	struct check_ctx c = { .s = s, .res = res };
	int r;

	memset(res, 0, sizeof(*res));
	res->total_clusters = DIV_ROUND_UP_U64(s->size, s->cluster_size);
	r = count_refs(&c);
	if (r)
		goto out;
	count_refcount_structs(&c);
	compare_refs(&c, repair);
	r = check_past_end(&c, repair);
	if (r)
		goto out;
	if (c.logged > CHECK_LOG_MAX)
		log_err("qcow2 check: %llu more problems not shown",
			(unsigned long long)(c.logged - CHECK_LOG_MAX));
	res->image_end_offset = c.max_used << s->cluster_bits;
	r = 0;
	if (repair & QCOW2_CHECK_REPAIR_LEAKS)
		r = qcow2_sync(s);
out:
	check_ctx_free(&c);
	return r;
}

int qcow2_check(struct blkdev *bd, int repair, struct qcow2_check_result *res)
{
	struct qcow2_state *s;
	struct qcow2_check_result first;
	int r;

	if (!qcow2_is_qcow2(bd))
		return -EINVAL;
	s = qcow2_state_of(bd);
	if (repair && s->readonly) {
		log_err("qcow2: repairing needs the image opened read-write");
		return -EROFS;
	}
	if (!s->readonly) {
		r = qcow2_sync(s);
		if (r)
			return r;
	}
	r = run_check(s, res, 0);
	if (r || !repair)
		return r;
	first = *res;
	if ((repair & QCOW2_CHECK_REPAIR_ERRORS) && first.corruptions) {
		struct error e = ERROR_INIT;

		/* `img check -r` has no error to fill: the line goes to the log, as before. */
		r = qcow2_rebuild_refcounts(s, &e);
		if (r && error_is_set(&e))
			log_err("%s", error_msg(&e));
		if (!r)
			r = qcow2_update_l1_refs(s, s->l1, s->l1_size, 0, true);
	} else if (first.leaks) {
		r = run_check(s, res, QCOW2_CHECK_REPAIR_LEAKS);
	}
	if (!r)
		r = run_check(s, res, 0);
	if (r)
		return r;
	/* a full repair that leaves the image clean also clears the corrupt bit */
	if ((repair & QCOW2_CHECK_REPAIR_ERRORS) && !res->corruptions && !res->check_errors &&
	    (s->incompat & QCOW2_INCOMPAT_CORRUPT)) {
		uint8_t b[8];

		qcow2_put64(b, s->incompat & ~QCOW2_INCOMPAT_CORRUPT);
		r = qcow2_update_header_fields(s, 72, b, 8);
		if (r)
			return r;
		s->incompat &= ~QCOW2_INCOMPAT_CORRUPT;
	}
	res->leaks_fixed = first.leaks > res->leaks ? first.leaks - res->leaks : 0;
	res->corruptions_fixed =
		first.corruptions > res->corruptions ? first.corruptions - res->corruptions : 0;
	return 0;
}
