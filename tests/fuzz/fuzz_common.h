/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the device fuzz targets (tests/fuzz/fuzz_*.c): an
 * input cursor that decodes the fuzzer's bytes into operations, fake
 * guest RAM, a fake virtio transport that only counts interrupts, a
 * small virtio "driver" that negotiates features and places queues where
 * the input says, a helper that posts descriptor chains, and the scratch
 * raw disk the virtio-blk targets share.
 *
 * Everything here is static and header-only: each target is one
 * translation unit linked against libvessel_fuzz.  Nothing touches the
 * network; the only file is the scratch disk, unlinked as soon as it is
 * open, so a crash or a timeout leaves nothing behind in /tmp.
 */
#ifndef VESSEL_TESTS_FUZZ_COMMON_H
#define VESSEL_TESTS_FUZZ_COMMON_H

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "block/block.h"
#include "mem/gmem.h"
#include "util/log.h"
#include "virtio/devices.h"
#include "virtio/virtio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

/* ---- input cursor: reads past the end return zeroes ---------------------- */

struct fin {
	const uint8_t *p;
	size_t n;
};

static inline bool fin_more(const struct fin *in)
{
	return in->n > 0;
}

static inline void fin_bytes(struct fin *in, void *out, size_t len)
{
	size_t k = len < in->n ? len : in->n;

	memcpy(out, in->p, k);
	memset((uint8_t *)out + k, 0, len - k);
	in->p += k;
	in->n -= k;
}

static inline uint8_t fin_u8(struct fin *in)
{
	uint8_t v;

	fin_bytes(in, &v, 1);
	return v;
}

static inline uint16_t fin_u16(struct fin *in)
{
	uint16_t v;

	fin_bytes(in, &v, 2);
	return v;
}

static inline uint32_t fin_u32(struct fin *in)
{
	uint32_t v;

	fin_bytes(in, &v, 4);
	return v;
}

static inline uint64_t fin_u64(struct fin *in)
{
	uint64_t v;

	fin_bytes(in, &v, 8);
	return v;
}

/* An access width a CPU can make: 1, 2, 4 or 8 (max_log2 limits it). */
static inline unsigned int fin_width(struct fin *in, unsigned int max_log2)
{
	return 1u << (fin_u8(in) % (max_log2 + 1));
}

/* ---- fake guest RAM -------------------------------------------------------- */

/*
 * One region of `size` bytes at `gpa`, zeroed; RAM is the caller's
 * buffer.  fuzz_ram_fini() after every input (the region table is
 * allocated: a missing call is a leak the fuzzer reports).
 */
static inline void fuzz_ram_init(struct gmem *mem, uint8_t *ram, uint64_t gpa, size_t size)
{
	memset(ram, 0, size);
	gmem_init(mem, NULL);
	if (gmem_add_mapped(mem, gpa, size, ram, -1, 0) < 0)
		abort();
}

static inline void fuzz_ram_fini(struct gmem *mem)
{
	gmem_destroy(mem);
}

/* Copy input bytes into RAM at a 16-bit offset (clipped at the end). */
static inline void fuzz_ram_write(struct fin *in, uint8_t *ram, size_t size)
{
	size_t off = fin_u16(in) % size, n = fin_u8(in);

	if (n > size - off)
		n = size - off;
	fin_bytes(in, ram + off, n);
}

/* Guest errors are the point of fuzzing: keep the logs quiet. */
static inline void fuzz_quiet(void)
{
	log_set_level(LOG_ERR);
}

/* ---- fake transport ---------------------------------------------------------- */

struct fuzz_transport {
	uint64_t queue_irqs, config_irqs;
};

static inline void fuzz_tr_queue(void *t, struct virtq *vq)
{
	((struct fuzz_transport *)t)->queue_irqs++;
}

static inline void fuzz_tr_config(void *t)
{
	((struct fuzz_transport *)t)->config_irqs++;
}

static const struct virtio_transport_ops fuzz_tops = {
	.notify_queue = fuzz_tr_queue,
	.notify_config = fuzz_tr_config,
};

static inline void fuzz_attach(struct virtio_dev *vd, struct fuzz_transport *t)
{
	memset(t, 0, sizeof(*t));
	vd->tops = &fuzz_tops;
	vd->transport = t;
}

/* ---- a small virtio driver ------------------------------------------------- */

/*
 * Section 3.1.1 driven by the input: the features accepted (all that are
 * offered, or raw fuzz bits so negotiation can fail), then for every
 * queue a size and ring addresses inside RAM (so most setups are valid
 * and the queue is exercised, but any address can come up), queue
 * enable, and DRIVER_OK.  Called with vd->lock held.
 */
static inline void fuzz_driver_init(struct fin *in, struct virtio_dev *vd, uint64_t ram_gpa,
				    size_t ram_size)
{
	uint8_t mode = fin_u8(in);
	uint64_t feat = vd->host_features;

	virtio_dev_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_dev_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	if (mode & 1)
		feat &= fin_u64(in) | (1ull << VIRTIO_F_VERSION_1);
	else if (mode & 2)
		feat = fin_u64(in);
	virtio_dev_write_features(vd, 0, (uint32_t)feat);
	virtio_dev_write_features(vd, 1, (uint32_t)(feat >> 32));
	virtio_dev_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					  VIRTIO_STATUS_FEATURES_OK);
	for (unsigned int q = 0; q < vd->nr_queues; q++) {
		struct virtq *vq = &vd->vqs[q];

		if (vq->enabled)
			continue; /* virtio-pci ignores ring writes then, so do we */
		vq->size = (uint16_t)(1u << (fin_u8(in) % 9));
		vq->desc_gpa = ram_gpa + (fin_u16(in) % ram_size & ~15ul);
		vq->avail_gpa = ram_gpa + (fin_u16(in) % ram_size & ~1ul);
		vq->used_gpa = ram_gpa + (fin_u16(in) % ram_size & ~3ul);
		if (mode & 4)
			vq->desc_gpa = fin_u64(in); /* anywhere at all */
		virtio_dev_queue_enable(vd, q);
	}
	virtio_dev_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					  VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

/*
 * Post one descriptor chain on queue vq as a driver would: up to eight
 * descriptors from the input (addr as a 16-bit RAM offset, len, flags;
 * each chained to the next slot unless the input sets its own next),
 * written to the descriptor table, then the head published in the
 * avail ring.  Rings outside RAM are skipped.
 */
static inline void fuzz_post_chain(struct fin *in, struct virtq *vq, uint8_t *ram, uint64_t ram_gpa,
				   size_t ram_size)
{
	unsigned int n = fin_u8(in) % 8 + 1;
	uint16_t size = vq->size ? vq->size : 1, head, idx;
	uint64_t a_off = vq->avail_gpa - ram_gpa, d_off = vq->desc_gpa - ram_gpa;

	if (vq->avail_gpa < ram_gpa || a_off + 4 + 2ull * size > ram_size ||
	    vq->desc_gpa < ram_gpa || d_off + 16ull * size > ram_size)
		return;
	memcpy(&idx, ram + a_off + 2, 2);
	head = (uint16_t)(fin_u8(in) % size);
	for (unsigned int i = 0; i < n; i++) {
		struct virtq_desc d;
		uint16_t slot = (uint16_t)((head + i) % size);
		uint8_t fl = fin_u8(in);

		d.addr = ram_gpa + fin_u16(in) % ram_size;
		d.len = fin_u16(in);
		d.flags = (uint16_t)(fl & (VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_INDIRECT));
		d.next = (uint16_t)((head + i + 1) % size);
		if (i + 1 < n)
			d.flags |= VIRTQ_DESC_F_NEXT;
		if (fl & 0x80)
			d.next = fin_u16(in); /* a loop or a jump out of the table */
		if (fl & 0x40)
			d.addr = fin_u64(in);
		memcpy(ram + d_off + 16ull * slot, &d, sizeof(d));
	}
	memcpy(ram + a_off + 4 + 2ull * (idx % size), &head, 2);
	idx++;
	__atomic_store_n((uint16_t *)(ram + a_off + 2), idx, __ATOMIC_RELEASE);
}

/* ---- a virtio device under test: RAM, transport, the shared driver ops ---- */

/*
 * What fuzz_virtio_blk, _console and _rng share: one RAM region at gpa,
 * a fake transport, and the operations every one of them lets the input
 * run against its queues (each target keeps its own byte encoding, so
 * the seed corpora keep their meaning).
 */
struct fuzz_vdev {
	uint8_t *ram;
	uint64_t gpa;
	size_t size;
	struct gmem mem;
	struct fuzz_transport t;
};

enum fuzz_dev_op {
	FUZZ_OP_NONE,
	FUZZ_OP_RAM,	/* input bytes into RAM */
	FUZZ_OP_POST,	/* a descriptor chain on queue q */
	FUZZ_OP_KICK,	/* the driver notifies queue q */
	FUZZ_OP_INIT,	/* negotiate and place every queue (fuzz_driver_init) */
	FUZZ_OP_STATUS, /* any status byte, 0 resets */
};

/* Quiet logs, zeroed RAM; call first, before the device is created on g->mem. */
static inline void fuzz_vdev_init(struct fuzz_vdev *g, uint8_t *ram, uint64_t gpa, size_t size)
{
	fuzz_quiet();
	g->ram = ram;
	g->gpa = gpa;
	g->size = size;
	fuzz_ram_init(&g->mem, ram, gpa, size);
}

static inline void fuzz_vdev_fini(struct fuzz_vdev *g)
{
	fuzz_ram_fini(&g->mem);
}

/*
 * The encoding fuzz_virtio_blk and fuzz_virtio_console share for their
 * low opcodes (op & 0xf): 0-1 RAM, 2-3 post, 4-5 kick, 6 init, 7 status.
 */
static inline enum fuzz_dev_op fuzz_dev_op16(uint8_t code)
{
	static const enum fuzz_dev_op ops[8] = {
		FUZZ_OP_RAM,  FUZZ_OP_RAM,  FUZZ_OP_POST, FUZZ_OP_POST,
		FUZZ_OP_KICK, FUZZ_OP_KICK, FUZZ_OP_INIT, FUZZ_OP_STATUS,
	};

	return code < 8 ? ops[code] : FUZZ_OP_NONE;
}

/* Run one shared operation on queue q of vd (vd->lock held); false for FUZZ_OP_NONE. */
static inline bool fuzz_dev_step(struct fin *in, struct fuzz_vdev *g, struct virtio_dev *vd,
				 unsigned int q, enum fuzz_dev_op op)
{
	switch (op) {
	case FUZZ_OP_RAM:
		fuzz_ram_write(in, g->ram, g->size);
		return true;
	case FUZZ_OP_POST:
		fuzz_post_chain(in, &vd->vqs[q], g->ram, g->gpa, g->size);
		return true;
	case FUZZ_OP_KICK:
		virtio_dev_kick(vd, q);
		return true;
	case FUZZ_OP_INIT:
		fuzz_driver_init(in, vd, g->gpa, g->size);
		return true;
	case FUZZ_OP_STATUS:
		virtio_dev_set_status(vd, fin_u8(in));
		return true;
	default:
		return false;
	}
}

/* ---- the scratch disks of the virtio-blk targets ------------------------- */

#define FUZZ_DISK_SIZE (1u << 20)

/*
 * A 1 MiB image under /tmp, raw or qcow2 (4 KiB clusters), created once
 * and unlinked at once: the device opens it as /proc/self/fd/N, so
 * nothing is left behind however the process ends.  Every call puts it
 * back as it was created (a raw image all zeroes, a qcow2 image
 * rewritten from the bytes blk_create made), so what one input wrote
 * cannot change how the next one runs.
 */
static inline char *fuzz_disk_path_fmt(bool qcow2)
{
	static char proc[2][64];
	static int fd[2] = { -1, -1 };
	static uint8_t *tmpl;
	static ssize_t tmpl_len;
	int i = qcow2;

	if (fd[i] < 0) {
		char tmp[] = "/tmp/vessel-fuzz-disk-XXXXXX";
		struct blk_create_opts co = { .size = FUZZ_DISK_SIZE, .cluster_size = 4096 };

		fd[i] = mkostemp(tmp, O_CLOEXEC);
		if (fd[i] < 0)
			abort();
		unlink(tmp);
		snprintf(proc[i], sizeof(proc[i]), "/proc/self/fd/%d", fd[i]);
		if (qcow2) {
			log_set_level(LOG_ERR);
			if (blk_create("qcow2", proc[i], &co, NULL) < 0)
				abort();
			tmpl = malloc(64 * 1024);
			tmpl_len = tmpl ? pread(fd[i], tmpl, 64 * 1024, 0) : -1;
			if (tmpl_len <= 0 || tmpl_len == 64 * 1024)
				abort(); /* the empty image is a few clusters */
		}
	}
	if (ftruncate(fd[i], 0) < 0)
		abort();
	if (qcow2 ? pwrite(fd[i], tmpl, (size_t)tmpl_len, 0) != tmpl_len
		  : ftruncate(fd[i], FUZZ_DISK_SIZE) < 0)
		abort();
	return proc[i];
}

static inline char *fuzz_disk_path(void)
{
	return fuzz_disk_path_fmt(false);
}

/*
 * Wait for every request the blk model handed to the block layer (io_uring
 * on the raw image), so an input ends in the same state every time.
 * Bounded: a request that never completes is a bug the fuzzer reports as
 * a hang (libFuzzer's -timeout).
 */
static inline void fuzz_blk_drain(struct virtio_dev *vd)
{
	for (;;) {
		bool busy;

		pthread_mutex_lock(&vd->lock);
		busy = vd->ops->busy(vd);
		pthread_mutex_unlock(&vd->lock);
		if (!busy)
			return;
		struct pollfd p[VIRTIO_MAX_QUEUES];
		unsigned int n = vd->nr_queues;

		for (unsigned int q = 0; q < n; q++)
			p[q] = (struct pollfd){ .fd = virtio_blk_queue_fd(vd, q),
						.events = POLLIN };
		poll(p, n, 10);
		virtio_blk_poll(vd);
	}
}

#endif
