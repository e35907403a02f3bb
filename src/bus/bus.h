/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_BUS_BUS_H
#define VESSEL_BUS_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * Port-I/O and MMIO dispatch.  A device registers [base, base+len) with
 * read/write callbacks; offsets passed to callbacks are relative to base.
 * Lookups take a read lock so vCPUs dispatch in parallel; PCI BAR
 * re-programming takes the write lock.  Callbacks do their own locking.
 */
struct bus_ops {
	void (*read)(void *opaque, uint64_t offset, void *data, unsigned int len);
	void (*write)(void *opaque, uint64_t offset, const void *data, unsigned int len);
};

struct bus_range {
	uint64_t base;
	uint64_t len;
	const struct bus_ops *ops;
	void *opaque;
};

struct bus {
	const char *name;
	pthread_rwlock_t lock;
	struct bus_range *ranges;	/* sorted by base, never overlapping */
	unsigned int nr, cap;
	uint64_t unhandled;		/* accesses nobody claimed */
};

int bus_init(struct bus *b, const char *name);
void bus_destroy(struct bus *b);
/* -EEXIST if the range overlaps an existing one. */
int bus_register(struct bus *b, uint64_t base, uint64_t len, const struct bus_ops *ops,
		 void *opaque);
int bus_unregister(struct bus *b, uint64_t base);
/*
 * Dispatch one access.  Returns false if no device claims addr; reads of
 * unclaimed addresses return all-ones, as on real hardware.
 */
bool bus_access(struct bus *b, uint64_t addr, void *data, unsigned int len, bool is_write);

#endif
