// SPDX-License-Identifier: MIT
/*
 * Guest RAM: mapping, backing choices and the one bounds-checked accessor
 * that every guest-controlled address goes through (docs/architecture.md, "The pieces every feature
 * uses").
 */
#include "mem/gmem.h"
#include "kvm/kvm.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/memfd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MFD_HUGE_2MB
#define MFD_HUGE_2MB (21 << 26)
#endif
#ifndef MFD_HUGE_1GB
#define MFD_HUGE_1GB (30 << 26)
#endif

/* The region table entry; nothing outside this file sees its layout. */
struct gmem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
	int fd;			/* backing fd or -1 */
	uint64_t fd_offset;
	uint32_t slot;		/* KVM memory slot */
	enum gmem_kind kind;
	uint64_t *dirty;	/* RAM: VMM-write dirty bitmap, one bit per page (below) */
	bool external;		/* mapped by the caller (gmem_add_mapped) */
	bool file_private;	/* MAP_PRIVATE over a memory file (a restore) */
};

int gmem_init(struct gmem *m, const struct gmem_opts *opts)
{
	memset(m, 0, sizeof(*m));
	m->fd = -1;
	if (opts)
		m->opts = *opts;
	if (m->opts.backing == GMEM_BACKING_HUGETLB && !m->opts.hugepage_size)
		m->opts.hugepage_size = 2 * MiB;
	return 0;
}

static uint64_t gmem_align(const struct gmem *m)
{
	if (m->opts.backing == GMEM_BACKING_HUGETLB)
		return m->opts.hugepage_size;
	return 2 * MiB;	/* lets THP back the region from its first byte */
}

static int gmem_open_fd(struct gmem *m)
{
	unsigned int flags = MFD_CLOEXEC;

	if (m->fd >= 0)
		return 0;
	if (m->opts.backing == GMEM_BACKING_HUGETLB) {
		flags |= MFD_HUGETLB;
		if (m->opts.hugepage_size == 2 * MiB)
			flags |= MFD_HUGE_2MB;
		else if (m->opts.hugepage_size == GiB)
			flags |= MFD_HUGE_1GB;
		else
			return -EINVAL;
	}
	m->fd = memfd_create("vessel-guest-ram", flags);
	if (m->fd < 0)
		return -errno;
	return 0;
}

/* Touch every page now so the guest never waits on first-touch faults. */
static int gmem_prealloc(uint8_t *hva, uint64_t size)
{
	if (madvise(hva, size, MADV_POPULATE_WRITE) == 0)
		return 0;
	if (errno != EINVAL)
		return -errno;
	/* Kernels before 5.14: fault the pages in by hand. */
	for (uint64_t off = 0; off < size; off += GMEM_PAGE_SIZE)
		((volatile uint8_t *)hva)[off] = 0;
	return 0;
}

/* Room for one more region at [gpa, gpa+size)?  Allocates the table once. */
static int gmem_check_new(struct gmem *m, uint64_t gpa, uint64_t size)
{
	if (!m->regions) {
		m->regions = calloc(GMEM_MAX_REGIONS, sizeof(*m->regions));
		if (!m->regions)
			return -ENOMEM;
	}
	if (m->nr_regions >= GMEM_MAX_REGIONS)
		return -ENOSPC;
	for (unsigned int i = 0; i < m->nr_regions; i++) {
		const struct gmem_region *o = &m->regions[i];

		if (gpa < o->gpa + o->size && o->gpa < gpa + size)
			return -EEXIST;
	}
	return 0;
}

/*
 * A RAM region's dirty bitmap lives as long as the region (32 KiB per
 * GiB): a device thread that saw tracking on may still mark after
 * gmem_dirty_stop(), and must find the bitmap there.
 */
static int gmem_bitmap_alloc(struct gmem_region *r)
{
	r->dirty = calloc(((r->size >> GMEM_PAGE_SHIFT) + 63) / 64, sizeof(uint64_t));
	return r->dirty ? 0 : -ENOMEM;
}

/* Insert in guest-physical order (gmem_region_at() promises it) and count RAM. */
static void gmem_insert(struct gmem *m, const struct gmem_region *nr)
{
	unsigned int i = m->nr_regions;

	while (i > 0 && m->regions[i - 1].gpa > nr->gpa) {
		m->regions[i] = m->regions[i - 1];
		i--;
	}
	m->regions[i] = *nr;
	m->regions[i].slot = m->next_slot++;
	m->nr_regions++;
	if (nr->kind == GMEM_RAM)
		m->total += nr->size;
}

/* ROM and flash: zeroed private memory, filled by gmem_rom_load(). */
static int gmem_add_rom(struct gmem *m, enum gmem_kind kind, uint64_t gpa, uint64_t size)
{
	struct gmem_region r = { .gpa = gpa, .size = size, .fd = -1, .kind = kind };

	r.hva = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r.hva == MAP_FAILED)
		return -errno;
	if (m->opts.dontdump)
		madvise(r.hva, size, MADV_DONTDUMP);
	gmem_insert(m, &r);
	return 0;
}

int gmem_add(struct gmem *m, enum gmem_kind kind, uint64_t gpa, uint64_t size)
{
	int ret;

	if (kind == GMEM_RAM)
		return gmem_add_region(m, gpa, size);
	if (kind != GMEM_ROM && kind != GMEM_FLASH)
		return -EINVAL;
	if (!size || !IS_ALIGNED(gpa, GMEM_PAGE_SIZE) || !IS_ALIGNED(size, GMEM_PAGE_SIZE) ||
	    gpa + size < gpa)
		return -EINVAL;
	ret = gmem_check_new(m, gpa, size);
	if (ret)
		return ret;
	return gmem_add_rom(m, kind, gpa, size);
}

int gmem_add_region(struct gmem *m, uint64_t gpa, uint64_t size)
{
	struct gmem_region r = { .kind = GMEM_RAM };
	uint64_t align = gmem_align(m), fd_off = 0;
	uint8_t *hva;
	int ret;

	if (!size || !IS_ALIGNED(gpa, GMEM_PAGE_SIZE) || !IS_ALIGNED(size, GMEM_PAGE_SIZE) ||
	    gpa + size < gpa)
		return -EINVAL;
	if (m->opts.backing == GMEM_BACKING_HUGETLB &&
	    (!IS_ALIGNED(size, align) || !IS_ALIGNED(gpa, align)))
		return -EINVAL;
	ret = gmem_check_new(m, gpa, size);
	if (ret)
		return ret;

	if (m->opts.backing != GMEM_BACKING_ANON) {
		ret = gmem_open_fd(m);
		if (ret)
			return ret;
		for (unsigned int i = 0; i < m->nr_regions; i++)
			if (m->regions[i].kind == GMEM_RAM && m->regions[i].fd == m->fd)
				fd_off = MAX(fd_off, m->regions[i].fd_offset + m->regions[i].size);
		if (ftruncate(m->fd, (off_t)(fd_off + size)) < 0)
			return -errno;
		hva = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, m->fd,
			   (off_t)fd_off);
		if (hva == MAP_FAILED)
			return errno == EINVAL && m->opts.backing == GMEM_BACKING_HUGETLB ? -ENOMEM
											   : -errno;
	} else {
		/*
		 * Over-allocate by one alignment unit and trim, so the region
		 * starts on a 2 MiB boundary and THP can back all of it.
		 */
		uint8_t *raw = mmap(NULL, size + align, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		uintptr_t start, end;

		if (raw == MAP_FAILED)
			return -errno;
		start = ALIGN_UP((uintptr_t)raw, align);
		end = start + size;
		if (start > (uintptr_t)raw)
			munmap(raw, start - (uintptr_t)raw);
		if ((uintptr_t)raw + size + align > end)
			munmap((void *)end, (uintptr_t)raw + size + align - end);
		hva = (uint8_t *)start;
	}

	/*
	 * THP: ask for huge pages, or refuse them.  Skipping the madvise is
	 * not enough for --no-thp: with the host's THP mode "always", every
	 * anonymous mapping gets huge pages unless marked MADV_NOHUGEPAGE
	 * (Documentation/admin-guide/mm/transhuge.rst).
	 */
	if (m->opts.backing != GMEM_BACKING_HUGETLB &&
	    madvise(hva, size, m->opts.thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) < 0)
		log_debug("madvise(%s): %s", m->opts.thp ? "MADV_HUGEPAGE" : "MADV_NOHUGEPAGE",
			  strerror(errno));
	if (m->opts.mergeable && madvise(hva, size, MADV_MERGEABLE) < 0) {
		ret = -errno;
		log_err("cannot mark guest memory mergeable (KSM): %s", strerror(errno));
		munmap(hva, size);
		return ret;
	}
	if (m->opts.dontdump)
		madvise(hva, size, MADV_DONTDUMP);
	/* Name anonymous guest RAM in /proc/PID/smaps (Linux 5.17+; best effort). */
	if (m->opts.backing == GMEM_BACKING_ANON)
		prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)hva, size,
		      (unsigned long)"vessel-guest-ram");

	r.gpa = gpa;
	r.size = size;
	r.hva = hva;
	r.fd = m->fd;
	r.fd_offset = fd_off;
	if (gmem_bitmap_alloc(&r)) {
		munmap(hva, size);
		return -ENOMEM;
	}
	gmem_insert(m, &r);
	return 0;
}

int gmem_add_mapped(struct gmem *m, uint64_t gpa, uint64_t size, void *hva, int fd,
		    uint64_t fd_offset)
{
	struct gmem_region r = { .kind = GMEM_RAM, .external = true };
	int ret;

	if (!size || !hva || gpa + size < gpa || (uintptr_t)hva + size < (uintptr_t)hva)
		return -EINVAL;
	ret = gmem_check_new(m, gpa, size);
	if (ret)
		return ret;
	r.gpa = gpa;
	r.size = size;
	r.hva = hva;
	r.fd = fd;
	r.fd_offset = fd_offset;
	if (gmem_bitmap_alloc(&r))
		return -ENOMEM;
	gmem_insert(m, &r);
	return 0;
}

/* Called after NUMA policy is applied, so pages land on the right node. */
int gmem_populate(struct gmem *m)
{
	for (unsigned int i = 0; i < m->nr_regions; i++) {
		int ret;

		if (m->regions[i].kind != GMEM_RAM)
			continue;
		ret = gmem_prealloc(m->regions[i].hva, m->regions[i].size);
		if (ret)
			return ret;
	}
	return 0;
}

int gmem_map_kvm(const struct gmem *m, int vm_fd)
{
	for (unsigned int i = 0; i < m->nr_regions; i++) {
		const struct gmem_region *r = &m->regions[i];
		/* KVM api.rst 4.35: reads hit the memory, writes exit as MMIO. */
		uint32_t flags = r->kind == GMEM_RAM ? 0 : KVM_MEM_READONLY;
		int ret = kvm_set_memslot(vm_fd, r->slot, flags, r->gpa, r->size, r->hva);

		if (ret)
			return ret;
	}
	return 0;
}

bool gmem_region_at(const struct gmem *m, unsigned int i, struct gmem_region_info *out)
{
	const struct gmem_region *r;

	if (i >= m->nr_regions)
		return false;
	r = &m->regions[i];
	*out = (struct gmem_region_info){
		.gpa = r->gpa, .size = r->size, .hva = r->hva, .kind = r->kind, .slot = r->slot
	};
	return true;
}

unsigned int gmem_nr_regions(const struct gmem *m)
{
	return m->nr_regions;
}

uint64_t gmem_ram_size(const struct gmem *m)
{
	return m->total;
}

bool gmem_dirty_tracking(const struct gmem *m)
{
	return __atomic_load_n(&m->track_dirty, __ATOMIC_ACQUIRE);
}

int gmem_rom_load(struct gmem *m, uint64_t gpa, const void *buf, uint64_t len)
{
	for (unsigned int i = 0; i < m->nr_regions; i++) {
		const struct gmem_region *r = &m->regions[i];

		if (r->kind == GMEM_RAM || gpa < r->gpa || gpa - r->gpa >= r->size)
			continue;
		if (len > r->size - (gpa - r->gpa))
			return -EFAULT;
		memcpy(r->hva + (gpa - r->gpa), buf, len);
		return 0;
	}
	return -EFAULT;
}

void gmem_destroy(struct gmem *m)
{
	for (unsigned int i = 0; i < m->nr_regions; i++) {
		if (!m->regions[i].external)
			munmap(m->regions[i].hva, m->regions[i].size);
		free(m->regions[i].dirty);
	}
	if (m->fd >= 0)
		close(m->fd);
	free(m->regions);
	m->regions = NULL;
	m->nr_regions = 0;
	m->next_slot = 0;
	m->total = 0;
	m->fd = -1;
}

/* The RAM region holding gpa, or NULL (ROM/flash are not DMA targets). */
static const struct gmem_region *gmem_find(const struct gmem *m, uint64_t gpa)
{
	for (unsigned int i = 0; i < m->nr_regions; i++) {
		const struct gmem_region *r = &m->regions[i];

		if (r->kind == GMEM_RAM && gpa >= r->gpa && gpa - r->gpa < r->size)
			return r;
	}
	return NULL;
}

void *gmem_ptr(const struct gmem *m, uint64_t gpa, uint64_t len)
{
	const struct gmem_region *r = gmem_find(m, gpa);
	uint64_t off;

	if (!r)
		return NULL;
	off = gpa - r->gpa;
	/* Overflow-safe: off < size holds, so size - off cannot wrap. */
	if (len > r->size - off)
		return NULL;
	return r->hva + off;
}

static void gmem_region_mark(struct gmem_region *r, uint64_t off, uint64_t len);

/* Give [off, off+len) of region r back to the host; page-aligned. */
static int gmem_region_discard(const struct gmem *m, struct gmem_region *r, uint64_t off,
			       uint64_t len)
{
	if (r->external)
		return -EOPNOTSUPP; /* someone else's mapping (vhost-user) */
	if (m->opts.backing == GMEM_BACKING_HUGETLB) {
		/* Only whole huge pages inside the range can go. */
		uint64_t hp = m->opts.hugepage_size, a = (off + hp - 1) & ~(hp - 1);
		uint64_t b = (off + len) & ~(hp - 1);

		if (b <= a)
			return 0;
		off = a;
		len = b - a;
	}
	if (r->fd >= 0) {
		/*
		 * Shared memfd: MADV_DONTNEED would only drop our page table
		 * entries; punching the hole frees the pages (and zaps every
		 * mapping of them, KVM's included, through the mmu notifier).
		 */
		if (fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)(r->fd_offset + off), (off_t)len) < 0)
			return -errno;
	} else if (r->file_private) {
		/*
		 * MADV_DONTNEED on a private file mapping drops our copy and
		 * brings back the file's page: the page must read as zero, so
		 * fresh anonymous memory goes over the range instead.
		 */
		if (mmap(r->hva + off, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1,
			 0) == MAP_FAILED)
			return -errno;
	} else if (madvise(r->hva + off, len, MADV_DONTNEED) < 0) {
		return -errno; /* EINVAL: locked memory (mlock) */
	}
	/* The pages read as zero now: save and migration must send that. */
	gmem_region_mark(r, off, len);
	return 0;
}

/*
 * A restore: region i takes its contents from fd at offset off.  Private
 * anonymous RAM becomes a MAP_PRIVATE mapping of the file at the same
 * address (KVM's memslot and every cached pointer stay valid; the mmu
 * notifier drops what KVM had mapped), so pages are read on first touch
 * and a write copies only that page.  Shared memory (memfd, hugetlb,
 * vhost-user's external mappings) cannot be replaced behind its other
 * users: it is copied now, data ranges only (SEEK_DATA), as with eager.
 */
int gmem_region_restore(struct gmem *m, unsigned int i, int fd, uint64_t off, bool eager)
{
	struct gmem_region *r;
	uint64_t pos = 0;

	if (i >= m->nr_regions)
		return -EINVAL;
	r = &m->regions[i];
	if (!eager && r->fd < 0 && !r->external && m->opts.backing == GMEM_BACKING_ANON &&
	    !m->opts.mergeable) {
		if (mmap(r->hva, r->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd,
			 (off_t)off) == MAP_FAILED)
			return -errno;
		/* a new mapping: the old one's marks are gone (KSM keeps eager, above) */
		if (madvise(r->hva, r->size, m->opts.thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) < 0)
			log_debug("madvise on the restored memory: %s", strerror(errno));
		if (m->opts.dontdump)
			madvise(r->hva, r->size, MADV_DONTDUMP);
		r->file_private = true;
		return 0;
	}
	while (pos < r->size) {
		off_t d = lseek(fd, (off_t)(off + pos), SEEK_DATA), h;

		if (d < 0 && errno == ENXIO)
			break; /* only holes are left */
		if (d < 0)
			return -errno;
		if ((uint64_t)d >= off + r->size)
			break;
		h = lseek(fd, d, SEEK_HOLE);
		if (h < 0)
			return -errno;
		if ((uint64_t)h > off + r->size)
			h = (off_t)(off + r->size);
		for (uint64_t p = (uint64_t)d; p < (uint64_t)h;) {
			ssize_t n =
				pread(fd, r->hva + (p - off), (size_t)((uint64_t)h - p), (off_t)p);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return n < 0 ? -errno : -EIO;
			p += (uint64_t)n;
		}
		pos = (uint64_t)h - off;
	}
	return 0;
}

int gmem_discard(struct gmem *m, uint64_t gpa, uint64_t len)
{
	if ((gpa | len) & (GMEM_PAGE_SIZE - 1) || gpa + len < gpa)
		return -EINVAL;
	/* All of it must be RAM before any of it goes. */
	for (uint64_t g = gpa, l = len; l;) {
		const struct gmem_region *r = gmem_find(m, g);
		uint64_t n;

		if (!r)
			return -EFAULT;
		n = r->size - (g - r->gpa);
		n = n < l ? n : l;
		g += n;
		l -= n;
	}
	while (len) {
		struct gmem_region *r = (struct gmem_region *)gmem_find(m, gpa);
		uint64_t off = gpa - r->gpa, n = r->size - off;
		int ret;

		n = n < len ? n : len;
		ret = gmem_region_discard(m, r, off, n);
		if (ret)
			return ret;
		gpa += n;
		len -= n;
	}
	return 0;
}

static void gmem_region_mark(struct gmem_region *r, uint64_t off, uint64_t len)
{
	uint64_t first, last;

	if (!r->dirty || !len)
		return;
	first = off >> GMEM_PAGE_SHIFT;
	last = (off + len - 1) >> GMEM_PAGE_SHIFT;
	for (uint64_t p = first; p <= last; p++)
		__atomic_or_fetch(&r->dirty[p / 64], 1ull << (p % 64), __ATOMIC_RELAXED);
}

void gmem_mark_dirty(struct gmem *m, uint64_t gpa, uint64_t len)
{
	if (!gmem_dirty_tracking(m))
		return;
	while (len) {
		struct gmem_region *r = (struct gmem_region *)gmem_find(m, gpa);
		uint64_t off, n;

		if (!r)
			return;
		off = gpa - r->gpa;
		n = MIN(len, r->size - off);
		gmem_region_mark(r, off, n);
		gpa += n;
		len -= n;
	}
}

void *gmem_ptr_w(struct gmem *m, uint64_t gpa, uint64_t len)
{
	void *p = gmem_ptr(m, gpa, len);

	if (p)
		gmem_mark_dirty(m, gpa, len);
	return p;
}

int gmem_read(const struct gmem *m, uint64_t gpa, void *buf, uint64_t len)
{
	uint8_t *dst = buf;

	while (len) {
		const struct gmem_region *r = gmem_find(m, gpa);
		uint64_t off, n;

		if (!r)
			return -EFAULT;
		off = gpa - r->gpa;
		n = MIN(len, r->size - off);
		memcpy(dst, r->hva + off, n);
		dst += n;
		gpa += n;
		len -= n;
	}
	return 0;
}

int gmem_write(struct gmem *m, uint64_t gpa, const void *buf, uint64_t len)
{
	const uint8_t *src = buf;

	/* Check the whole range first so a failed write changes nothing. */
	for (uint64_t g = gpa, l = len; l;) {
		const struct gmem_region *r = gmem_find(m, g);
		uint64_t n;

		if (!r)
			return -EFAULT;
		n = MIN(l, r->size - (g - r->gpa));
		g += n;
		l -= n;
	}
	while (len) {
		struct gmem_region *r = (struct gmem_region *)gmem_find(m, gpa);
		uint64_t off = gpa - r->gpa, n = MIN(len, r->size - off);

		memcpy(r->hva + off, src, n);
		if (gmem_dirty_tracking(m))
			gmem_region_mark(r, off, n);
		src += n;
		gpa += n;
		len -= n;
	}
	return 0;
}

/*
 * Under vm_quiesce only (no device is between "is tracking on?" and its
 * write then): start forgets what older runs marked, stop only stops
 * the marking; the bitmaps stay until gmem_destroy().
 */
int gmem_dirty_start(struct gmem *m)
{
	for (unsigned int i = 0; i < m->nr_regions; i++) {
		struct gmem_region *r = &m->regions[i];

		if (r->dirty)
			memset(r->dirty, 0,
			       ((r->size >> GMEM_PAGE_SHIFT) + 63) / 64 * sizeof(uint64_t));
	}
	__atomic_store_n(&m->track_dirty, true, __ATOMIC_RELEASE);
	return 0;
}

void gmem_dirty_stop(struct gmem *m)
{
	__atomic_store_n(&m->track_dirty, false, __ATOMIC_RELEASE);
}

int gmem_dirty_fetch(struct gmem *m, unsigned int i, uint64_t *bits, size_t nwords)
{
	const struct gmem_region *r;
	size_t words;

	if (i >= m->nr_regions || !gmem_dirty_tracking(m) || !m->regions[i].dirty)
		return -ENODATA;
	r = &m->regions[i];
	words = MIN(nwords, (size_t)(((r->size >> GMEM_PAGE_SHIFT) + 63) / 64));
	/* Exchange, not copy-then-clear: a concurrent device write is never lost. */
	for (size_t w = 0; w < words; w++)
		bits[w] = __atomic_exchange_n(&r->dirty[w], 0, __ATOMIC_RELAXED);
	return (int)MIN(words, (size_t)INT32_MAX);
}
