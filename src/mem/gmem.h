/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_MEM_GMEM_H
#define VESSEL_MEM_GMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Guest memory (docs/architecture.md, "The pieces every feature uses"): a few RAM regions (below
 * and above the 32-bit PCI hole) and firmware ROM/flash, each one KVM memory slot that
 * gmem_map_kvm() registers.  Only src/mem/ knows the region table; everyone else reads it through
 * gmem_region_at().  Every guest-controlled address goes through
 * gmem_ptr()/gmem_read()/gmem_write(), which check the whole range with overflow-safe arithmetic.
 * Writes done by the VMM (device DMA) are recorded in a dirty bitmap when tracking is on, because
 * KVM's dirty log only sees vCPU writes and live migration needs both.
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

/*
 * What a region is (section "Region kinds" of docs/architecture.md, "The pieces every feature
 * uses"): GMEM_RAM is guest RAM (e820 RAM, the SRAT, NUMA binding, dirty tracking, device DMA);
 * GMEM_ROM and GMEM_FLASH are firmware images the guest reads but never writes: their memory slots
 * carry KVM_MEM_READONLY (KVM api.rst 4.35, a guest write exits as KVM_EXIT_MMIO), they are not RAM
 * in e820 and no device DMA reaches them.  The VMM fills them with gmem_rom_load().
 */
enum gmem_kind {
	GMEM_RAM,
	GMEM_ROM,
	GMEM_FLASH,
};

/* A region as seen from outside src/mem/: a copy, changing it changes nothing. */
struct gmem_region_info {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
	enum gmem_kind kind;
	uint32_t slot;		/* KVM memory slot */
};

/* Private to src/mem/gmem.c: read regions with gmem_region_at(). */
struct gmem_region;

struct gmem {
	/*
	 * Private to src/mem/: the region table (GMEM_MAX_REGIONS entries,
	 * allocated with the first region, kept in guest-physical order).
	 * The type is incomplete outside gmem.c, so nobody else can look in.
	 */
	struct gmem_region *regions;
	unsigned int nr_regions;
	uint32_t next_slot;
	uint64_t total;		/* bytes of RAM (GMEM_RAM regions only) */
	struct gmem_opts opts;
	int fd;			/* the one memfd behind all RAM regions, or -1 */
	bool track_dirty;
};

/* Map `size` bytes of RAM at the given guest-physical ranges. */
int gmem_init(struct gmem *m, const struct gmem_opts *opts);
int gmem_add_region(struct gmem *m, uint64_t gpa, uint64_t size);
/*
 * Map a region of the given kind at [gpa, gpa+size): RAM as
 * gmem_add_region(), ROM and flash as private anonymous memory (zeroed,
 * never shared, no THP/KSM advice).  -EINVAL for an empty, unaligned or
 * wrapping range, -EEXIST if it overlaps a region, -ENOSPC when the
 * table is full.
 */
int gmem_add(struct gmem *m, enum gmem_kind kind, uint64_t gpa, uint64_t size);
/* Copy a firmware image into ROM/flash at gpa (the whole range in one region). */
int gmem_rom_load(struct gmem *m, uint64_t gpa, const void *buf, uint64_t len);
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
/*
 * Register every region as a KVM memory slot (KVM_SET_USER_MEMORY_REGION,
 * api.rst 4.35): RAM read-write, ROM and flash with KVM_MEM_READONLY.
 * Returns 0 or the first ioctl's -errno.
 */
int gmem_map_kvm(const struct gmem *m, int vm_fd);

/*
 * Region i (0 <= i < gmem_nr_regions()) in guest-physical order, all
 * kinds: true with *out filled, false past the end.
 */
bool gmem_region_at(const struct gmem *m, unsigned int i, struct gmem_region_info *out);
unsigned int gmem_nr_regions(const struct gmem *m);
/* Bytes of RAM over all GMEM_RAM regions (ROM and flash not counted). */
uint64_t gmem_ram_size(const struct gmem *m);
/* Whether VMM writes are being recorded (gmem_dirty_start()). */
bool gmem_dirty_tracking(const struct gmem *m);

/* for (...) over every region, as a struct gmem_region_info *info. */
#define gmem_for_each_region(m, i, info) \
	for (unsigned int i = 0; gmem_region_at((m), i, (info)); i++)

/*
 * The accessors below see RAM only: ROM and flash are read-only to the
 * guest, so no guest-controlled address may reach them from the VMM.
 */
/* Host pointer for [gpa, gpa+len) if it lies inside one RAM region, else NULL. */
void *gmem_ptr(const struct gmem *m, uint64_t gpa, uint64_t len);
/* Same, for a range the VMM is about to write: marks it dirty. */
void *gmem_ptr_w(struct gmem *m, uint64_t gpa, uint64_t len);
/* Copy in or out; the range may span regions but must be all RAM. */
int gmem_read(const struct gmem *m, uint64_t gpa, void *buf, uint64_t len);
int gmem_write(struct gmem *m, uint64_t gpa, const void *buf, uint64_t len);
void gmem_mark_dirty(struct gmem *m, uint64_t gpa, uint64_t len);
/*
 * Give RAM pages back to the host (a balloon's inflated or reported
 * pages): MADV_DONTNEED for anonymous memory, FALLOC_FL_PUNCH_HOLE for
 * the memfd, only the whole huge pages inside the range for hugetlb.
 * The guest reads zeros there afterwards; the pages are marked dirty
 * when tracking is on.  gpa and len 4 KiB aligned.  0, -EINVAL
 * (unaligned), -EFAULT (some of it is not RAM: nothing is discarded),
 * -EOPNOTSUPP (memory mapped by someone else), or the kernel's -errno.
 */
int gmem_discard(struct gmem *m, uint64_t gpa, uint64_t len);
/*
 * A restore: region i's contents come from fd at offset off, mapped
 * privately (lazily) where the region is private anonymous memory and
 * eager is false, else copied now.  0 or -errno.
 */
int gmem_region_restore(struct gmem *m, unsigned int i, int fd, uint64_t off, bool eager);
/* Start/stop recording VMM writes (RAM regions only). */
int gmem_dirty_start(struct gmem *m);
void gmem_dirty_stop(struct gmem *m);
/*
 * Collect and clear region i's bitmap (one bit per page from its gpa,
 * bits[0] bit 0 first) into bits[0 .. nwords): returns the words written,
 * -ENODATA when tracking is off or the region is not RAM.
 */
int gmem_dirty_fetch(struct gmem *m, unsigned int i, uint64_t *bits, size_t nwords);

#endif
