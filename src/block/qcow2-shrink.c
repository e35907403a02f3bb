// SPDX-License-Identifier: MIT
/*
 * Shrinking a qcow2 image (qemu-img resize --shrink).  The qcow2 spec
 * has no "shrink" operation: the header's size field is the virtual
 * size, and everything past it must simply not be referenced.  So, in
 * the order that keeps the image consistent if we stop at any point
 * (at worst it leaks clusters, which check -r leaks reclaims):
 *
 *   0. the rest of the last cluster kept is zeroed (qemu-img leaves the
 *      old bytes there, which show again if the image grows);
 *   1. the last L2 table kept: its entries past the new end are cleared
 *      (a table shared with a snapshot is copied first, as for a write),
 *      their clusters freed once the table is on disk (qcow2_defer_free);
 *   2. the L1 entries wholly past the new end are cleared on disk, then
 *      the L2 tables they held are released with one reference to each
 *      of their clusters: a table only the active L1 reached is freed
 *      with its data, one a snapshot shares stays the snapshot's;
 *   3. the header's size is written, after everything above is synced;
 *   4. the file is cut after its last cluster still in use.
 *
 * The L1 table keeps its size (as QEMU keeps it): entries past the size
 * are zero, which the spec allows.  Snapshots keep their own L1 tables
 * and disk sizes, so applying one still gives its data back.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/qcow2-int.h"
#include "util/log.h"
#include "util/util.h"

static bool entry_holds_clusters(uint64_t e)
{
	return (e & QCOW2_OFLAG_COMPRESSED) || (e & QCOW2_OFFSET_MASK);
}

/* Step 1: clear [from, to) of one L2 table (whole clusters, one table). */
static int shrink_last_table(struct qcow2_state *s, uint64_t from, uint64_t to)
{
	uint32_t first = (uint32_t)((from >> s->cluster_bits) & (s->l2_size - 1));
	uint64_t n = (to - from) >> s->cluster_bits;
	uint8_t *l2;
	int r;

	r = qcow2_get_l2(s, from, true, &l2);
	if (r || !l2)
		return r;
	for (uint64_t i = 0; i < n && !r; i++) {
		uint8_t *p = l2 + (first + i) * 8;
		uint64_t e = qcow2_be64(p);

		if (!e)
			continue;
		qcow2_put64(p, 0);
		if (entry_holds_clusters(e))
			r = qcow2_defer_free(s, e, true);
	}
	qcow2_cache_mark_dirty(&s->l2_cache, l2);
	qcow2_cache_put(&s->l2_cache, l2);
	return r;
}

/*
 * Step 2, after the L1 entry is gone on disk: release one L2 table.  A
 * data cluster's refcount counts the L1 tables that reach it (a snapshot
 * shares the active L2 table and adds one to the table and to each of
 * its clusters, as QEMU counts), so the active L1 letting go takes one
 * from each, whether or not a snapshot keeps the table.
 */
static int release_table(struct qcow2_state *s, uint64_t off)
{
	uint64_t *ents, n = 0;
	uint8_t *l2;
	int r;

	ents = malloc(sizeof(*ents) * s->l2_size);
	if (!ents)
		return -ENOMEM;
	r = qcow2_cache_get(&s->l2_cache, off, false, &l2);
	if (r) {
		free(ents);
		return r;
	}
	for (uint32_t i = 0; i < s->l2_size; i++) {
		uint64_t e = qcow2_be64(l2 + i * 8);

		if (entry_holds_clusters(e))
			ents[n++] = e;
	}
	qcow2_cache_put(&s->l2_cache, l2);
	for (uint64_t i = 0; i < n && !r; i++)
		r = qcow2_defer_free(s, ents[i], true);
	free(ents);
	/* the last reference drops the cached table too (qcow2_refcount_update) */
	return r ? r : qcow2_refcount_update(s, off, s->cluster_size, -1);
}

/* Step 4: the end of the last cluster with a reference, from the refcounts. */
static int last_used_end(struct qcow2_state *s, uint64_t *end)
{
	uint64_t per = 1ull << s->rb_bits;

	*end = 0;
	for (uint64_t ti = s->reftable_size; ti-- > 0;) {
		uint64_t rbo = s->reftable[ti] & QCOW2_REFT_OFFSET_MASK;
		uint8_t *rb;
		int r;

		if (!rbo)
			continue;
		r = qcow2_cache_get(&s->rb_cache, rbo, false, &rb);
		if (r)
			return r;
		for (uint64_t k = per; k-- > 0;)
			if (qcow2_refcount_block_get(s, rb, k)) {
				*end = (ti * per + k + 1) << s->cluster_bits;
				break;
			}
		qcow2_cache_put(&s->rb_cache, rb);
		if (*end)
			return 0;
	}
	return 0;
}

int qcow2_shrink(struct qcow2_state *s, uint64_t new_size)
{
	uint64_t cs = s->cluster_size, per_l2 = cs << s->l2_bits;
	uint64_t keep = ALIGN_UP(new_size, cs);
	uint64_t new_l1 = DIV_ROUND_UP_U64(new_size, per_l2), old_end = ALIGN_UP(s->size, cs);
	uint64_t *tables = NULL, nt = 0, end;
	int r = 0;

	/*
	 * The rest of the last cluster kept: zeroes, so that growing the
	 * image again shows nothing of what was cut (qemu-img leaves it).
	 */
	if (keep > new_size) {
		r = qcow2_zero_or_discard(s, new_size, keep - new_size, true, false);
		if (r)
			return r;
	}
	if (new_l1 && new_l1 <= s->l1_size && keep < MIN(new_l1 * per_l2, old_end) &&
	    (s->l1[new_l1 - 1] & QCOW2_OFFSET_MASK)) {
		r = shrink_last_table(s, keep, MIN(new_l1 * per_l2, old_end));
		if (r)
			return r;
	}
	if (new_l1 < s->l1_size) {
		tables = malloc(sizeof(*tables) * (s->l1_size - new_l1));
		if (!tables)
			return -ENOMEM;
		for (uint64_t i = new_l1; i < s->l1_size; i++) {
			uint64_t off = s->l1[i] & QCOW2_OFFSET_MASK;

			if (off)
				tables[nt++] = off;
			s->l1[i] = 0;
		}
	}
	/* the L2 tables (step 1) and the L1 table on disk before any cluster is freed */
	r = qcow2_cache_flush(&s->l2_cache);
	if (!r && nt)
		r = qcow2_write_l1_table(s);
	if (!r && qcow2_fdatasync(s) < 0)
		r = -errno;
	for (uint64_t i = 0; i < nt && !r; i++)
		r = release_table(s, tables[i]);
	free(tables);
	if (!r)
		r = qcow2_sync(s);
	if (r)
		return r;
	r = qcow2_write_size(s, new_size);
	if (r)
		return r;
	/* a failed cut only leaves the file longer than it needs to be */
	if (last_used_end(s, &end) == 0 && end && end < s->file_size) {
		if (ftruncate(s->fd, (off_t)end) == 0)
			s->file_size = end;
		else
			log_warn("qcow2: cannot cut the image file to %llu bytes: %s",
				 (unsigned long long)end, strerror(errno));
	}
	return 0;
}
