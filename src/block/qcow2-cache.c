// SPDX-License-Identifier: MIT
/*
 * qcow2 metadata cache: a small LRU of cluster-sized tables (L2 tables or
 * refcount blocks) kept in their on-disk (big endian) form.
 *
 * Write ordering (crash consistency): a dirty L2 table may point at
 * clusters whose refcount increment is still only in the refcount block
 * cache, so the L2 cache `depends` on the refcount cache: before any L2
 * table is written, every dirty refcount block is written and synced.
 * The reverse order (an L2 table dropping a reference must reach the
 * disk before the refcount decrement) is handled by qcow2_free_clusters(),
 * which flushes the L2 cache before touching the refcounts.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/qcow2-int.h"
#include "util/log.h"
#include "util/util.h"

int qcow2_cache_init(struct qcow2_cache *c, struct qcow2_state *s, int n)
{
	memset(c, 0, sizeof(*c));
	c->s = s;
	c->e = calloc((size_t)n, sizeof(*c->e));
	if (!c->e)
		return -ENOMEM;
	c->n = n;
	return 0;
}

void qcow2_cache_destroy(struct qcow2_cache *c)
{
	if (!c->e)
		return;
	for (int i = 0; i < c->n; i++)
		free(c->e[i].data);
	free(c->e);
	c->e = NULL;
}

static int cache_write_entry(struct qcow2_cache *c, struct qcow2_cache_entry *e)
{
	struct qcow2_state *s = c->s;
	int r;

	if (!e->dirty)
		return 0;
	if (c->depends && qcow2_cache_dirty(c->depends)) {
		r = qcow2_cache_flush(c->depends);
		if (r)
			return r;
	}
	r = qcow2_check_overlap(s, e->offset, s->cluster_size);
	if (r)
		return r;
	r = pwrite_full(s->fd, e->data, s->cluster_size, (off_t)e->offset);
	if (r) {
		qcow2_err(s, "qcow2: writing metadata at 0x%llx: %s", (unsigned long long)e->offset,
			  strerror(-r));
		return r;
	}
	if (e->offset + s->cluster_size > s->file_size)
		s->file_size = e->offset + s->cluster_size;
	e->dirty = false;
	return 0;
}

bool qcow2_cache_dirty(const struct qcow2_cache *c)
{
	for (int i = 0; i < c->n; i++)
		if (c->e[i].dirty)
			return true;
	return false;
}

/* Write every dirty entry (dependency first); *wrote tells whether any was. */
static int cache_write_all(struct qcow2_cache *c, bool *wrote)
{
	int r;

	*wrote = false;
	for (int i = 0; i < c->n; i++) {
		if (!c->e[i].dirty)
			continue;
		r = cache_write_entry(c, &c->e[i]);
		if (r)
			return r;
		*wrote = true;
	}
	return 0;
}

int qcow2_cache_flush(struct qcow2_cache *c)
{
	bool wrote;
	int r = cache_write_all(c, &wrote);

	if (r)
		return r;
	if (wrote && qcow2_fdatasync(c->s) < 0)
		return -errno;
	return 0;
}

static struct qcow2_cache_entry *cache_find(struct qcow2_cache *c, uint8_t *data)
{
	for (int i = 0; i < c->n; i++)
		if (c->e[i].data == data && c->e[i].offset)
			return &c->e[i];
	return NULL;
}

int qcow2_cache_get(struct qcow2_cache *c, uint64_t off, bool fresh, uint8_t **data)
{
	struct qcow2_state *s = c->s;
	struct qcow2_cache_entry *victim = NULL;
	int r;

	if (!off || !qcow2_aligned(s, off))
		return -EIO;
	for (int i = 0; i < c->n; i++) {
		struct qcow2_cache_entry *e = &c->e[i];

		if (e->offset == off) {
			e->lru = ++c->lru_clock;
			e->pins++;
			if (fresh) {
				memset(e->data, 0, s->cluster_size);
				e->dirty = true;
			}
			*data = e->data;
			return 0;
		}
		if (e->pins)
			continue;
		if (!victim || !e->offset || (victim->offset && e->lru < victim->lru))
			victim = e;
	}
	if (!victim) {
		log_err("qcow2: metadata cache exhausted");
		return -ENOMEM;
	}
	if (victim->offset && victim->dirty) {
		/* write back all dirty entries at once: one dependency flush for all */
		bool wrote;

		r = cache_write_all(c, &wrote);
		if (r)
			return r;
	}
	if (!victim->data) {
		victim->data = malloc(s->cluster_size);
		if (!victim->data)
			return -ENOMEM;
	}
	victim->offset = 0;
	if (fresh) {
		memset(victim->data, 0, s->cluster_size);
	} else {
		if (off + s->cluster_size > s->file_size) {
			qcow2_err(s,
				  "qcow2: metadata table at 0x%llx lies beyond the end of the file",
				  (unsigned long long)off);
			return -EIO;
		}
		r = pread_full(s->fd, victim->data, s->cluster_size, (off_t)off);
		if (r) {
			qcow2_err(s, "qcow2: reading metadata at 0x%llx: %s",
				  (unsigned long long)off, strerror(-r));
			return r;
		}
	}
	victim->offset = off;
	victim->dirty = fresh;
	victim->pins = 1;
	victim->lru = ++c->lru_clock;
	*data = victim->data;
	return 0;
}

const uint8_t *qcow2_cache_peek(struct qcow2_cache *c, uint64_t off)
{
	for (int i = 0; i < c->n; i++)
		if (c->e[i].offset == off)
			return c->e[i].data;
	return NULL;
}

void qcow2_cache_put(struct qcow2_cache *c, uint8_t *data)
{
	struct qcow2_cache_entry *e = cache_find(c, data);

	if (e && e->pins > 0)
		e->pins--;
}

void qcow2_cache_mark_dirty(struct qcow2_cache *c, uint8_t *data)
{
	struct qcow2_cache_entry *e = cache_find(c, data);

	if (e)
		e->dirty = true;
}

void qcow2_cache_discard(struct qcow2_cache *c, uint64_t off)
{
	for (int i = 0; i < c->n; i++) {
		struct qcow2_cache_entry *e = &c->e[i];

		if (e->offset == off) {
			/* a pinned table stays readable by its user, but is never written back */
			e->dirty = false;
			if (!e->pins)
				e->offset = 0;
		}
	}
}
