// SPDX-License-Identifier: MIT
/*
 * vhost-user backend: guest memory and rings.  SET_MEM_TABLE regions are
 * mapped from their fds and described to the bounds-checked accessor
 * (gmem) by guest-physical address; rings are handed to the virtqueue
 * core when the frontend has set them up (vhost-user.rst "Ring states")
 * and taken back, with nothing in flight, when it stops them.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mem/gmem.h"
#include "util/util.h"
#include "vhost/vhost-user-int.h"

static void ring_down(struct vhost_user_dev *d, unsigned int q);

/*
 * Take the live rings in `mask` back from the core once the block layer
 * holds no request of ours: those requests write into guest memory, which
 * must stay mapped, and must reach the used ring before the ring stops.
 * The check and the take-down happen under one hold of vd->lock, so
 * nothing is popped in between; meanwhile kicks of these rings are
 * dropped (`stopping`: they restart with a kick check anyway).
 */
static void rings_down_quiesced(struct vhost_user_dev *d, uint64_t mask)
{
	struct virtio_dev *vd = d->vd;
	uint64_t start = now_ns(), warned = start;

	for (;;) {
		bool busy;

		pthread_mutex_lock(&vd->lock);
		busy = vd->ops->busy && vd->ops->busy(vd);
		for (unsigned int q = 0; q < vd->nr_queues; q++) {
			if (!(mask >> q & 1))
				continue;
			d->rings[q].stopping = busy;
			if (!busy)
				ring_down(d, q);
		}
		pthread_mutex_unlock(&vd->lock);
		if (!busy)
			return;
		/*
		 * Run completions here too (the device's own thread may be
		 * asleep or busy); both sides take vd->lock.
		 */
		if (d->hooks.poll && d->hooks.poll(vd) > 0)
			continue;
		if (now_ns() - warned > 10000000000ull) {
			log_warn("%s: still waiting for in-flight requests (%llu s)", vd->name,
				 (unsigned long long)((now_ns() - start) / 1000000000ull));
			warned = now_ns();
		}
		nanosleep(&(struct timespec){ .tv_nsec = 50000 }, NULL);
	}
}

/* Frontend virtual address -> guest-physical, for a range in one region. */
int vhost_user_uaddr_to_gpa(const struct vhost_user_dev *d, uint64_t ua, uint64_t len,
			    uint64_t *gpa)
{
	for (unsigned int i = 0; i < d->nr_maps; i++) {
		const struct vhost_user_map *m = &d->maps[i];

		if (ua >= m->uaddr && ua - m->uaddr < m->size && len <= m->size - (ua - m->uaddr)) {
			*gpa = m->gpa + (ua - m->uaddr);
			return 0;
		}
	}
	return -EFAULT;
}

static bool ring_wanted(const struct vhost_user_dev *d, const struct vhost_user_vring *r)
{
	/* Without protocol features a ring is enabled from the start. */
	bool enabled = !(d->features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)) || r->enabled;

	return r->started && enabled && r->has_addr && r->num &&
	       (d->vd->status & VIRTIO_STATUS_DRIVER_OK);
}

/* Hand ring q to the virtqueue core.  Under vd->lock. */
static int ring_up(struct vhost_user_dev *d, unsigned int q)
{
	struct vhost_user_vring *r = &d->rings[q];
	struct virtio_dev *vd = d->vd;
	struct virtq *vq = &vd->vqs[q];
	uint64_t desc, avail, used;
	int ret;

	if (vhost_user_uaddr_to_gpa(d, r->desc_ua, virtq_desc_bytes(r->num), &desc) ||
	    vhost_user_uaddr_to_gpa(d, r->avail_ua, virtq_avail_bytes(r->num), &avail) ||
	    vhost_user_uaddr_to_gpa(d, r->used_ua, virtq_used_bytes(r->num), &used)) {
		log_warn("%s: ring %u of %u entries lies outside the memory table", vd->name, q,
			 r->num);
		return -EFAULT;
	}
	vq->size = r->num;
	vq->desc_gpa = desc;
	vq->avail_gpa = avail;
	vq->used_gpa = used;
	ret = virtq_enable(vq, virtio_has_feature(vd, VIRTIO_F_EVENT_IDX),
			   virtio_has_feature(vd, VIRTIO_F_INDIRECT_DESC));
	if (ret < 0) {
		log_warn("%s: ring %u refused (size %u, alignment)", vd->name, q, r->num);
		return ret;
	}
	r->live = true;
	/*
	 * The ring resumes where SET_VRING_BASE says the driver's next
	 * available entry is; every request we completed before is in the
	 * used ring, so the used index is the one in guest memory.  Indices
	 * no ring of this size can have are the frontend's (or guest's)
	 * error: the ring is live but broken, reported on its error fd like
	 * any ring the guest broke, until the frontend sets it up again.
	 */
	r->base_refused = virtq_restore(vq, r->base, virtq_used_idx_in_ring(vq)) < 0;
	if (r->base_refused)
		virtq_fail(vq, "ring base %u does not fit the ring (avail idx, used idx, size %u)",
			   r->base, r->num);
	return 0;
}

/* Take ring q back from the core (in-flight requests already drained). */
static void ring_down(struct vhost_user_dev *d, unsigned int q)
{
	struct vhost_user_vring *r = &d->rings[q];
	struct virtq *vq = &d->vd->vqs[q];

	if (!r->live)
		return;
	/* A refused base stays what the frontend set: the queue never used it. */
	if (!r->base_refused)
		r->base = vq->last_avail;
	r->base_refused = false;
	virtq_reset(vq);
	r->live = false;
}

/* Bring the core's queues in line with what the frontend set up. */
int vhost_user_rings_sync(struct vhost_user_dev *d)
{
	struct virtio_dev *vd = d->vd;
	uint64_t down = 0;
	int ret = 0;

	for (unsigned int q = 0; q < vd->nr_queues; q++)
		if (d->rings[q].live && !ring_wanted(d, &d->rings[q]))
			down |= 1ull << q;
	if (down)
		rings_down_quiesced(d, down);
	pthread_mutex_lock(&vd->lock);
	for (unsigned int q = 0; q < vd->nr_queues && !ret; q++) {
		struct vhost_user_vring *r = &d->rings[q];
		bool want = ring_wanted(d, r);

		if (r->live && !want) {
			ring_down(d, q);
		} else if (!r->live && want) {
			ret = ring_up(d, q);
			/* Buffers made available while the ring was stopped. */
			if (!ret && virtq_has_avail(&vd->vqs[q]))
				virtio_dev_kick(vd, q);
		}
	}
	pthread_mutex_unlock(&vd->lock);
	return ret;
}

/* Every ring back from the core; rings keep their setup. */
void vhost_user_rings_all_down(struct vhost_user_dev *d)
{
	rings_down_quiesced(d, ~0ull);
}

/* Forget every ring's setup (reset, disconnect). */
void vhost_user_rings_reset(struct vhost_user_dev *d)
{
	vhost_user_rings_all_down(d);
	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		struct vhost_user_vring *r = &d->rings[q];

		vhost_user_kick_set(d, q, -1);
		pthread_mutex_lock(&d->vd->lock);
		vhost_user_close_fd(&r->call_fd);
		pthread_mutex_unlock(&d->vd->lock);
		r->num = 0;
		r->base = 0;
		r->has_addr = false;
		r->started = false;
		r->enabled = false;
	}
}

static void unmap_one(struct vhost_user_map *m)
{
	/* Out of the SIGBUS guard first: the handler must never map over a freed range. */
	vhost_user_guard_del(m->guard);
	m->guard = -1;
	munmap(m->base, m->len);
}

void vhost_user_mem_unmap_all(struct vhost_user_dev *d)
{
	gmem_destroy(d->mem);
	gmem_init(d->mem, NULL);
	for (unsigned int i = 0; i < d->nr_maps; i++)
		unmap_one(&d->maps[i]);
	d->nr_maps = 0;
	/* Nothing of the faulted memory is left. */
	if (__atomic_exchange_n(&d->mem_fault, 0, __ATOMIC_ACQ_REL))
		d->st.mem_faults++;
}

static int map_region(struct vhost_user_dev *d, const struct vhost_user_region *rg, int fd,
		      struct vhost_user_map *m)
{
	struct stat sb;
	uint64_t align, map_off, len;
	int seals;
	void *p;

	if (fstat(fd, &sb) < 0)
		return -errno;
	/* A region past the end of the file would SIGBUS on first access. */
	if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size < rg->mmap_offset + rg->size)
		return -EINVAL;
	/* hugetlbfs reports its page size here; mmap offsets must be aligned to it. */
	align = sb.st_blksize >= 4096 && !(sb.st_blksize & (sb.st_blksize - 1))
			? (uint64_t)sb.st_blksize
			: 4096;
	map_off = rg->mmap_offset & ~(align - 1);
	len = rg->mmap_offset - map_off + rg->size;
	/* Whole pages: the SIGBUS guard replaces the mapping page for page. */
	if (len > SIZE_MAX - align)
		return -EINVAL;
	len = (len + align - 1) & ~(align - 1);
	/*
	 * The frontend keeps the file and may shrink it later; then our
	 * accesses to pages past its new end raise SIGBUS.  A memfd sealed
	 * with F_SEAL_SHRINK cannot shrink (memfd_create(2), "File
	 * sealing"); QEMU's memory-backend-memfd seals by default.  Every
	 * region is guarded against the fault anyway (guard.c: there are
	 * other causes, and files other than memfds cannot be sealed); the
	 * seal decides whether a region may go unguarded when the guard's
	 * table is full.
	 */
	seals = fcntl(fd, F_GET_SEALS);
	m->sealed = seals >= 0 && (seals & F_SEAL_SHRINK);
	p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)map_off);
	if (p == MAP_FAILED)
		return -errno;
	m->guard = vhost_user_guard_add(p, (size_t)len, &d->mem_fault, d->fault_fd);
	if (m->guard < 0 && !m->sealed) {
		log_warn("SET_MEM_TABLE: cannot guard a region the frontend could shrink: %s",
			 strerror(-m->guard));
		munmap(p, (size_t)len);
		return m->guard;
	}
	if (!m->sealed)
		log_debug("SET_MEM_TABLE: region at gpa %#llx is not sealed against shrinking",
			  (unsigned long long)rg->gpa);
	m->base = p;
	m->len = (size_t)len;
	m->gpa = rg->gpa;
	m->size = rg->size;
	m->uaddr = rg->uaddr;
	m->hva = (uint8_t *)p + (rg->mmap_offset - map_off);
	m->fd = -1;
	return 0;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

int vhost_user_set_mem_table(struct vhost_user_dev *d, const struct vhost_user_msg *msg,
			     const int *fds, unsigned int nfds)
{
	const struct vhost_user_mem *mt = &msg->p.mem;
	struct vhost_user_map maps[VHOST_USER_MAX_REGIONS];
	unsigned int n;
	int ret = 0;

	if (msg->hdr.size < 8)
		return -EINVAL;
	n = mt->nregions;
	if (n == 0 || n > VHOST_USER_MAX_REGIONS ||
	    msg->hdr.size != 8 + n * sizeof(struct vhost_user_region) || nfds != n) {
		log_warn("SET_MEM_TABLE: %u regions, %u bytes, %u fds", n, msg->hdr.size, nfds);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < n; i++) {
		const struct vhost_user_region *a = &mt->regions[i];

		if (!a->size || a->gpa + a->size < a->gpa || a->uaddr + a->size < a->uaddr ||
		    a->mmap_offset + a->size < a->mmap_offset) {
			log_warn("SET_MEM_TABLE: region %u is empty or wraps", i);
			return -EINVAL;
		}
		for (unsigned int j = 0; j < i; j++) {
			const struct vhost_user_region *b = &mt->regions[j];

			if (ranges_overlap(a->gpa, a->size, b->gpa, b->size) ||
			    ranges_overlap(a->uaddr, a->size, b->uaddr, b->size)) {
				log_warn("SET_MEM_TABLE: regions %u and %u overlap", j, i);
				return -EINVAL;
			}
		}
	}
	/* Map the new table completely before dropping the old one. */
	for (unsigned int i = 0; i < n; i++) {
		ret = map_region(d, &mt->regions[i], fds[i], &maps[i]);
		if (ret < 0) {
			log_warn("SET_MEM_TABLE: cannot map region %u: %s", i, strerror(-ret));
			while (i--)
				unmap_one(&maps[i]);
			return ret;
		}
	}
	/* In-flight requests and live rings point into the old mappings. */
	vhost_user_rings_all_down(d);
	vhost_user_mem_unmap_all(d);
	for (unsigned int i = 0; i < n; i++) {
		d->maps[i] = maps[i];
		ret = gmem_add_mapped(d->mem, maps[i].gpa, maps[i].size, maps[i].hva, -1, 0);
		if (ret < 0)
			break;
	}
	d->nr_maps = n;
	if (ret < 0) {
		vhost_user_mem_unmap_all(d);
		return ret;
	}
	return vhost_user_rings_sync(d);
}
