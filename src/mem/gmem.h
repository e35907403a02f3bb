/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_MEM_GMEM_H
#define VESSEL_MEM_GMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Guest memory (DESIGN.md section 4): a few RAM regions (below and above
 * the 32-bit PCI hole), each one KVM memory slot.  Every guest-controlled
 * address goes through gmem_ptr()/gmem_read()/gmem_write(), which check the
 * whole range with overflow-safe arithmetic.  Writes done by the VMM (device
 * DMA) are recorded in a dirty bitmap when tracking is on, because KVM's
 * dirty log only sees vCPU writes and live migration needs both.
 */
#define GMEM_MAX_REGIONS 8
#define GMEM_PAGE_SHIFT 12
#define GMEM_PAGE_SIZE (1ull << GMEM_PAGE_SHIFT)

enum gmem_backing {
	GMEM_BACKING_ANON,	/* MAP_PRIVATE|MAP_ANONYMOUS */
	GMEM_BACKING_MEMFD,	/* memfd, shareable (vhost-user, snapshots) */
	GMEM_BACKING_HUGETLB,	/* memfd with MFD_HUGETLB or hugetlbfs */
};

struct gmem_opts {
	enum gmem_backing backing;
	uint64_t hugepage_size;	/* 2 MiB or 1 GiB with GMEM_BACKING_HUGETLB */
	bool thp;		/* madvise(MADV_HUGEPAGE) */
	bool mergeable;		/* madvise(MADV_MERGEABLE), KSM */
	bool prealloc;		/* fault every page in at start */
	bool dontdump;		/* keep guest RAM out of core dumps */
};

struct gmem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
	int fd;			/* backing fd or -1 */
	uint64_t fd_offset;
	uint32_t slot;		/* KVM memory slot */
	uint64_t *dirty;	/* VMM-write dirty bitmap, one bit per page, or NULL */
	bool external;		/* mapped by the caller (gmem_add_mapped) */
};

struct gmem {
	struct gmem_region regions[GMEM_MAX_REGIONS];
	unsigned int nr_regions;
	uint64_t total;		/* bytes of RAM over all regions */
	struct gmem_opts opts;
	int fd;			/* the one memfd behind all regions, or -1 */
	bool track_dirty;
};

/* Map `size` bytes of RAM at the given guest-physical ranges. */
int gmem_init(struct gmem *m, const struct gmem_opts *opts);
int gmem_add_region(struct gmem *m, uint64_t gpa, uint64_t size);
/*
 * Describe memory the caller mapped itself as RAM at [gpa, gpa+size): a
 * vhost-user backend maps the frontend's guest RAM from the fds passed
 * with SET_MEM_TABLE.  The caller keeps the mapping and the fd (recorded
 * for information only): gmem_destroy() forgets the region, unmaps
 * nothing.  -EINVAL for an empty or wrapping range, -EEXIST if it
 * overlaps a region, -ENOSPC when the table is full.
 */
int gmem_add_mapped(struct gmem *m, uint64_t gpa, uint64_t size, void *hva, int fd,
		    uint64_t fd_offset);
void gmem_destroy(struct gmem *m);
/* Fault in every page (prealloc); call after NUMA policy is in place. */
int gmem_populate(struct gmem *m);

/* Host pointer for [gpa, gpa+len) if it lies inside one region, else NULL. */
void *gmem_ptr(const struct gmem *m, uint64_t gpa, uint64_t len);
/* Same, for a range the VMM is about to write: marks it dirty. */
void *gmem_ptr_w(struct gmem *m, uint64_t gpa, uint64_t len);
/* Copy in or out; the range may span regions but must be all RAM. */
int gmem_read(const struct gmem *m, uint64_t gpa, void *buf, uint64_t len);
int gmem_write(struct gmem *m, uint64_t gpa, const void *buf, uint64_t len);
void gmem_mark_dirty(struct gmem *m, uint64_t gpa, uint64_t len);
/* Start/stop recording VMM writes; collect (and clear) a region's bitmap. */
int gmem_dirty_start(struct gmem *m);
void gmem_dirty_stop(struct gmem *m);
const struct gmem_region *gmem_find(const struct gmem *m, uint64_t gpa);

#endif
