// SPDX-License-Identifier: MIT
/*
 * Port-I/O and MMIO dispatch: a sorted array of non-overlapping ranges,
 * searched with binary search under a read lock.  Callbacks run after the
 * lock is dropped, so a callback may (un)register ranges: a PCI config
 * write that moves a BAR does exactly that.
 */
#include "bus/bus.h"
#include "util/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int bus_init(struct bus *b, const char *name)
{
	memset(b, 0, sizeof(*b));
	b->name = name;
	return -pthread_rwlock_init(&b->lock, NULL);
}

void bus_destroy(struct bus *b)
{
	free(b->ranges);
	b->ranges = NULL;
	b->nr = b->cap = 0;
	pthread_rwlock_destroy(&b->lock);
}

/* Index of the first range with base > addr. */
static unsigned int bus_upper(const struct bus *b, uint64_t addr)
{
	unsigned int lo = 0, hi = b->nr;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (b->ranges[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int bus_register(struct bus *b, uint64_t base, uint64_t len, const struct bus_ops *ops,
		 void *opaque)
{
	unsigned int i;
	int ret = 0;

	if (!len || base + len - 1 < base)
		return -EINVAL;
	pthread_rwlock_wrlock(&b->lock);
	i = bus_upper(b, base);
	/* Overlap with the range before, or with the one that follows. */
	if ((i > 0 && b->ranges[i - 1].base + b->ranges[i - 1].len > base) ||
	    (i < b->nr && b->ranges[i].base < base + len)) {
		ret = -EEXIST;
		goto out;
	}
	if (b->nr == b->cap) {
		unsigned int cap = b->cap ? b->cap * 2 : 16;
		struct bus_range *r = realloc(b->ranges, cap * sizeof(*r));

		if (!r) {
			ret = -ENOMEM;
			goto out;
		}
		b->ranges = r;
		b->cap = cap;
	}
	memmove(&b->ranges[i + 1], &b->ranges[i], (b->nr - i) * sizeof(*b->ranges));
	b->ranges[i] = (struct bus_range){ .base = base, .len = len, .ops = ops, .opaque = opaque };
	b->nr++;
out:
	pthread_rwlock_unlock(&b->lock);
	return ret;
}

int bus_unregister(struct bus *b, uint64_t base)
{
	unsigned int i;
	int ret = -ENOENT;

	pthread_rwlock_wrlock(&b->lock);
	i = bus_upper(b, base);
	if (i > 0 && b->ranges[i - 1].base == base) {
		i--;
		memmove(&b->ranges[i], &b->ranges[i + 1], (b->nr - i - 1) * sizeof(*b->ranges));
		b->nr--;
		ret = 0;
	}
	pthread_rwlock_unlock(&b->lock);
	return ret;
}

bool bus_access(struct bus *b, uint64_t addr, void *data, unsigned int len, bool is_write)
{
	const struct bus_range *r = NULL;
	struct bus_range copy;
	unsigned int i;

	pthread_rwlock_rdlock(&b->lock);
	i = bus_upper(b, addr);
	if (i > 0) {
		r = &b->ranges[i - 1];
		/* The whole access must lie inside the range. */
		if (addr - r->base >= r->len || len > r->len - (addr - r->base))
			r = NULL;
	}
	if (r)
		copy = *r;
	pthread_rwlock_unlock(&b->lock);

	if (!r) {
		__atomic_add_fetch(&b->unhandled, 1, __ATOMIC_RELAXED);
		if (!is_write)
			memset(data, 0xff, len);
		return false;
	}
	/*
	 * The callback runs outside the lock: a config-space write that moves
	 * a BAR takes the write lock of this same bus.  Devices outlive their
	 * ranges (they are only freed at VM teardown, after vCPUs stopped),
	 * so using the copy after unlock is safe.
	 */
	if (is_write) {
		if (copy.ops->write)
			copy.ops->write(copy.opaque, addr - copy.base, data, len);
	} else {
		if (copy.ops->read)
			copy.ops->read(copy.opaque, addr - copy.base, data, len);
		else
			memset(data, 0xff, len);
	}
	return true;
}
