// SPDX-License-Identifier: MIT
/*
 * virtio-blk end to end without KVM: a fake driver in this file programs
 * the device through the transport-independent register operations
 * (src/virtio/virtio.c), builds requests in fake guest memory, and the
 * requests run on a raw file through the real block layer (io_uring).
 * Also covers the status state machine, feature negotiation, queue setup
 * refusal and a reset with requests in flight.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/block.h"
#include "mem/gmem.h"
#include "util/util.h"
#include "virtio/devices.h"
#include "virtio/virtio.h"
#include "vm/config.h"

#define MEM_SIZE (8u << 20)
#define QSIZE 64
#define DESC_GPA 0x1000
#define AVAIL_GPA 0x2000
#define USED_GPA 0x3000
#define HDR_GPA 0x10000	   /* 64 headers of 16 bytes */
#define STATUS_GPA 0x11000 /* 64 status bytes */
#define DATA_GPA 0x100000  /* 64 x 64 KiB of data buffers */
#define DATA_SLOT 0x10000
#define DISK_SIZE (4u << 20)

#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8
#define T_DISCARD 11
#define T_WRITE_ZEROES 13

struct fx {
	struct gmem mem;
	uint8_t *ram;
	char path[256];
	struct vm_disk_config dc;
	struct virtio_dev *vd;
	int queue_irqs, config_irqs;
	uint16_t avail_idx;
	uint16_t next_desc;
};

static void fake_notify_queue(void *t, struct virtq *vq)
{
	((struct fx *)t)->queue_irqs++;
}

static void fake_notify_config(void *t)
{
	((struct fx *)t)->config_irqs++;
}

static const struct virtio_transport_ops fake_tops = {
	.notify_queue = fake_notify_queue,
	.notify_config = fake_notify_config,
};

/* format NULL: probed, as a disk without format= in a VM definition. */
static struct fx *fx_new_fmt(bool readonly, const char *format)
{
	const char *dir = getenv("UNIT_TMPDIR");
	struct blk_create_opts co = { .size = DISK_SIZE };
	struct fx *f = calloc(1, sizeof(*f));

	f->ram = calloc(1, MEM_SIZE);
	gmem_init(&f->mem, NULL);
	assert_int_equal(gmem_add_mapped(&f->mem, 0, MEM_SIZE, f->ram, -1, 0), 0);
	snprintf(f->path, sizeof(f->path), "%s/test_vblk_%d.raw", dir ? dir : "/tmp", getpid());
	assert_int_equal(blk_create("raw", f->path, &co, NULL), 0);
	f->dc.path = f->path;
	f->dc.format = (char *)format;
	f->dc.serial = "SERIAL-1234";
	f->dc.readonly = readonly;
	assert_int_equal(virtio_blk_new(&f->dc, 0, &f->mem, NULL, &f->vd, NULL), 0);
	f->vd->tops = &fake_tops;
	f->vd->transport = f;
	return f;
}

static struct fx *fx_new(bool readonly)
{
	return fx_new_fmt(readonly, "raw");
}

static void fx_free(struct fx *f)
{
	f->vd->ops->destroy(f->vd);
	unlink(f->path);
	gmem_destroy(&f->mem);
	free(f->ram);
	free(f);
}

static int setup(void **state)
{
	*state = fx_new(false);
	return 0;
}

static int teardown(void **state)
{
	fx_free(*state);
	return 0;
}

static void set_status(struct fx *f, uint8_t s)
{
	pthread_mutex_lock(&f->vd->lock);
	virtio_dev_set_status(f->vd, s);
	pthread_mutex_unlock(&f->vd->lock);
}

/* The driver side of section 3.1.1, with queue 0 of QSIZE entries. */
static void driver_init(struct fx *f, uint64_t features)
{
	struct virtio_dev *vd = f->vd;
	struct virtq *vq = &vd->vqs[0];

	set_status(f, VIRTIO_STATUS_ACKNOWLEDGE);
	set_status(f, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_dev_write_features(vd, 0, (uint32_t)features);
	virtio_dev_write_features(vd, 1, (uint32_t)(features >> 32));
	set_status(f, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	assert_true(virtio_dev_get_status(vd) & VIRTIO_STATUS_FEATURES_OK);
	vq->size = QSIZE;
	vq->desc_gpa = DESC_GPA;
	vq->avail_gpa = AVAIL_GPA;
	vq->used_gpa = USED_GPA;
	assert_int_equal(virtio_dev_queue_enable(vd, 0), 0);
	set_status(f, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
			      VIRTIO_STATUS_DRIVER_OK);
	assert_true(virtio_dev_active(vd));
}

static uint64_t offered(struct fx *f)
{
	return f->vd->host_features;
}

static void desc(struct fx *f, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		 uint16_t next)
{
	struct virtq_desc d = { .addr = addr, .len = len, .flags = flags, .next = next };

	memcpy(f->ram + DESC_GPA + 16 * i, &d, sizeof(d));
}

/*
 * Queue a request in slot s (0..QSIZE/4): header, data of dlen bytes at
 * the slot's buffer (device-writable for reads), status byte.
 */
static void request(struct fx *f, unsigned int s, uint32_t type, uint64_t sector, uint32_t dlen)
{
	uint16_t d0 = (uint16_t)(3 * s), n = 0;
	uint32_t hdr[4] = { type, 0, (uint32_t)sector, (uint32_t)(sector >> 32) };
	bool data_in = type == T_IN || type == T_GET_ID;

	memcpy(f->ram + HDR_GPA + 16 * s, hdr, 16);
	f->ram[STATUS_GPA + s] = 0xee;
	desc(f, d0, HDR_GPA + 16 * s, 16, 1, d0 + 1);
	if (dlen) {
		desc(f, d0 + 1, DATA_GPA + (uint64_t)DATA_SLOT * s, dlen, 1 | (data_in ? 2 : 0),
		     d0 + 2);
		n = 2;
	} else {
		n = 1;
	}
	desc(f, (uint16_t)(d0 + n), STATUS_GPA + s, 1, 2, 0);
	if (!dlen)
		desc(f, d0, HDR_GPA + 16 * s, 16, 1, d0 + 1);
	uint16_t *avail = (uint16_t *)(f->ram + AVAIL_GPA);
	avail[2 + f->avail_idx % QSIZE] = d0;
	f->avail_idx++;
	__atomic_store_n(&avail[1], f->avail_idx, __ATOMIC_RELEASE);
}

static void kick(struct fx *f)
{
	pthread_mutex_lock(&f->vd->lock);
	virtio_dev_kick(f->vd, 0);
	pthread_mutex_unlock(&f->vd->lock);
}

static uint16_t used_idx(struct fx *f)
{
	return __atomic_load_n((uint16_t *)(f->ram + USED_GPA + 2), __ATOMIC_ACQUIRE);
}

/* Kick, then run completions until the used idx reaches `want`. */
static void run_until(struct fx *f, uint16_t want)
{
	struct pollfd p = { .fd = virtio_blk_queue_fd(f->vd, 0), .events = POLLIN };

	kick(f);
	for (int i = 0; i < 1000 && used_idx(f) != want; i++) {
		poll(&p, 1, 10);
		virtio_blk_poll(f->vd);
	}
	assert_int_equal(used_idx(f), want);
}

static uint8_t status(struct fx *f, unsigned int s)
{
	return f->ram[STATUS_GPA + s];
}

static uint8_t *data(struct fx *f, unsigned int s)
{
	return f->ram + DATA_GPA + (uint64_t)DATA_SLOT * s;
}

static void pattern(uint8_t *p, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 37 + i * 11 + (i >> 9));
}

static void test_write_read_back(void **state)
{
	struct fx *f = *state;
	const unsigned int n = 16;
	uint8_t *want = malloc(DATA_SLOT);

	driver_init(f, offered(f));
	/* 16 writes of 64 KiB in flight at once, covering the whole 1 MiB. */
	for (unsigned int s = 0; s < n; s++) {
		pattern(data(f, s), DATA_SLOT, s);
		request(f, s, T_OUT, (uint64_t)s * DATA_SLOT / 512, DATA_SLOT);
	}
	run_until(f, (uint16_t)n);
	for (unsigned int s = 0; s < n; s++)
		assert_int_equal(status(f, s), 0);
	memset(f->ram + DATA_GPA, 0, (size_t)n * DATA_SLOT);
	for (unsigned int s = 0; s < n; s++)
		request(f, s, T_IN, (uint64_t)(n - 1 - s) * DATA_SLOT / 512, DATA_SLOT);
	run_until(f, (uint16_t)(2 * n));
	for (unsigned int s = 0; s < n; s++) {
		assert_int_equal(status(f, s), 0);
		pattern(want, DATA_SLOT, n - 1 - s);
		assert_memory_equal(data(f, s), want, DATA_SLOT);
	}
	/* The used length of a read counts the data and the status byte. */
	uint32_t len;
	memcpy(&len, f->ram + USED_GPA + 4 + 8 * n + 4, 4);
	assert_int_equal(len, DATA_SLOT + 1);
	assert_true(f->queue_irqs >= 1);
	free(want);
}

/*
 * Issue 9 item 1, from the guest's side: a driver writes a qcow2 image
 * whose backing file is a host file over its probed raw disk.  The write
 * of sector 0 fails with IOERR (the rest is written), the device goes on
 * working, and the disk still opens as raw.  Before, the write succeeded
 * and the next start opened the disk as qcow2, serving the host file.
 */
static void test_probed_raw_sector0(void **state)
{
	const char *dir = getenv("UNIT_TMPDIR");
	struct blk_create_opts eo = { .size = DISK_SIZE, .backing_fmt = "raw" };
	char secret[300], evil[300];
	struct fx *f = fx_new_fmt(false, NULL);
	struct blkdev *bd;
	uint8_t zero[512] = { 0 };
	int fd;

	(void)state;
	snprintf(secret, sizeof(secret), "%s/test_vblk_%d.secret", dir ? dir : "/tmp", getpid());
	snprintf(evil, sizeof(evil), "%s/test_vblk_%d.evil", dir ? dir : "/tmp", getpid());
	fd = open(secret, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write_full(fd, "host secret", 11), 0);
	close(fd);
	eo.backing_file = secret;
	assert_int_equal(blk_create("qcow2", evil, &eo, NULL), 0);
	fd = open(evil, O_RDONLY);
	assert_true(fd >= 0);
	/* The image's first 128 KiB: its header and what follows. */
	assert_true(pread(fd, data(f, 0), 2 * DATA_SLOT, 0) > 512);
	close(fd);

	driver_init(f, offered(f));
	request(f, 0, T_OUT, 0, DATA_SLOT);
	request(f, 1, T_OUT, DATA_SLOT / 512, DATA_SLOT);
	run_until(f, 2);
	assert_int_equal(status(f, 0), 1); /* VIRTIO_BLK_S_IOERR */
	assert_int_equal(status(f, 1), 0);
	memset(data(f, 2), 0xff, 512);
	request(f, 2, T_IN, 0, 512);
	run_until(f, 3);
	assert_int_equal(status(f, 2), 0);
	assert_memory_equal(data(f, 2), zero, 512);
	f->vd->ops->destroy(f->vd);
	/* The next start probes it again: raw. */
	assert_int_equal(blk_open(f->path, NULL, &bd, NULL), 0);
	assert_string_equal(blk_format(bd), "raw");
	blk_close(bd);
	unlink(f->path);
	gmem_destroy(&f->mem);
	free(f->ram);
	free(f);
	unlink(secret);
	unlink(evil);
}

static void test_flush_get_id(void **state)
{
	struct fx *f = *state;

	driver_init(f, offered(f));
	request(f, 0, T_FLUSH, 0, 0);
	memset(data(f, 1), 0xaa, 32);
	request(f, 1, T_GET_ID, 0, 20);
	run_until(f, 2);
	assert_int_equal(status(f, 0), 0);
	assert_int_equal(status(f, 1), 0);
	assert_memory_equal(data(f, 1), "SERIAL-1234\0\0\0\0\0\0\0\0\0", 20);
	assert_int_equal(data(f, 1)[20], 0xaa);
}

static void test_discard_write_zeroes(void **state)
{
	struct fx *f = *state;
	uint32_t seg[4];
	uint8_t zero[8192] = { 0 };

	driver_init(f, offered(f));
	pattern(data(f, 0), 65536, 7);
	request(f, 0, T_OUT, 0, 65536);
	run_until(f, 1);
	/* Discard sectors 0-15, write zeroes (unmap allowed) on 16-31. */
	seg[0] = 0, seg[1] = 0, seg[2] = 16, seg[3] = 0;
	memcpy(data(f, 1), seg, 16);
	request(f, 1, T_DISCARD, 0, 16);
	seg[0] = 16, seg[2] = 16, seg[3] = 1;
	memcpy(data(f, 2), seg, 16);
	request(f, 2, T_WRITE_ZEROES, 0, 16);
	run_until(f, 3);
	assert_int_equal(status(f, 1), 0);
	assert_int_equal(status(f, 2), 0);
	request(f, 3, T_IN, 0, 65536);
	run_until(f, 4);
	assert_memory_equal(data(f, 3), zero, 8192); /* raw discard punches zeroes */
	assert_memory_equal(data(f, 3) + 8192, zero, 8192);
	uint8_t *want = malloc(65536);
	pattern(want, 65536, 7);
	assert_memory_equal(data(f, 3) + 16384, want + 16384, 65536 - 16384);
	free(want);
	/* Discard with the unmap flag is unsupported (section 5.2.6.2). */
	seg[0] = 0, seg[2] = 8, seg[3] = 1;
	memcpy(data(f, 4), seg, 16);
	request(f, 4, T_DISCARD, 0, 16);
	run_until(f, 5);
	assert_int_equal(status(f, 4), 2);
}

static void test_bad_ranges(void **state)
{
	struct fx *f = *state;
	uint32_t seg[4] = { DISK_SIZE / 512 - 4, 0, 8, 0 };

	driver_init(f, offered(f));
	request(f, 0, T_IN, DISK_SIZE / 512, 512);	 /* just past the end */
	request(f, 1, T_OUT, DISK_SIZE / 512 - 1, 1024); /* straddles the end */
	request(f, 2, T_IN, UINT64_MAX - 1, 4096);	 /* sector overflow */
	request(f, 3, T_IN, 0, 100);			 /* not whole sectors */
	memcpy(data(f, 4), seg, 16);
	request(f, 4, T_DISCARD, 0, 16);	       /* discard past the end */
	request(f, 5, 0x77, 0, 0);		       /* unknown type */
	request(f, 6, T_IN, DISK_SIZE / 512 - 1, 512); /* last sector: fine */
	run_until(f, 7);
	for (unsigned int s = 0; s < 5; s++)
		assert_int_equal(status(f, s), 1);
	assert_int_equal(status(f, 5), 2);
	assert_int_equal(status(f, 6), 0);
	assert_false(f->vd->vqs[0].broken);
}

static void test_readonly(void **state)
{
	struct fx *f = fx_new(true);

	assert_true(f->vd->host_features & (1ull << 5));   /* VIRTIO_BLK_F_RO */
	assert_false(f->vd->host_features & (1ull << 13)); /* no DISCARD */
	driver_init(f, offered(f));
	request(f, 0, T_OUT, 0, 4096);
	request(f, 1, T_IN, 0, 4096);
	request(f, 2, T_DISCARD, 0, 16);
	run_until(f, 3);
	assert_int_equal(status(f, 0), 1);
	assert_int_equal(status(f, 1), 0);
	assert_int_equal(status(f, 2), 2); /* feature not negotiated */
	fx_free(f);
}

static void test_no_status_byte(void **state)
{
	struct fx *f = *state;
	uint16_t *avail = (uint16_t *)(f->ram + AVAIL_GPA);

	driver_init(f, offered(f));
	desc(f, 0, HDR_GPA, 16, 0, 0); /* header only, nothing writable */
	avail[2] = 0;
	avail[1] = 1;
	kick(f);
	assert_true(f->vd->vqs[0].broken);
	assert_true(virtio_dev_get_status(f->vd) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(f->config_irqs, 1);
	/* Reset brings it back. */
	set_status(f, 0);
	assert_int_equal(virtio_dev_get_status(f->vd), 0);
	memset(f->ram + AVAIL_GPA, 0, 0x2000);
	f->avail_idx = 0;
	driver_init(f, offered(f));
	request(f, 0, T_FLUSH, 0, 0);
	run_until(f, 1);
	assert_int_equal(status(f, 0), 0);
}

static void test_feature_negotiation(void **state)
{
	struct fx *f = *state;
	struct virtio_dev *vd = f->vd;

	assert_true(virtio_dev_read_features(vd, 1) & 1); /* VERSION_1 */
	set_status(f, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	/* A feature the device never offered. */
	virtio_dev_write_features(vd, 0, 1u << 3);
	virtio_dev_write_features(vd, 1, 1);
	set_status(f, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	assert_false(virtio_dev_get_status(vd) & VIRTIO_STATUS_FEATURES_OK);
	/* Without VERSION_1 (a legacy driver). */
	set_status(f, 0);
	set_status(f, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_dev_write_features(vd, 0, 1u << 9);
	set_status(f, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	assert_false(virtio_dev_get_status(vd) & VIRTIO_STATUS_FEATURES_OK);
	/* DRIVER_OK without FEATURES_OK does not activate. */
	set_status(f, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK);
	assert_false(virtio_dev_active(vd));
	/* The right way, with only VERSION_1 (no EVENT_IDX, no INDIRECT). */
	set_status(f, 0);
	driver_init(f, 1ull << 32);
	assert_false(vd->vqs[0].event_idx);
	request(f, 0, T_FLUSH, 0, 0);
	run_until(f, 1);
	assert_int_equal(status(f, 0), 0);
}

static void test_queue_enable_refused(void **state)
{
	struct fx *f = *state;
	struct virtio_dev *vd = f->vd;
	struct virtq *vq = &vd->vqs[0];

	set_status(f, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_dev_write_features(vd, 1, 1);
	/* Before FEATURES_OK: refused. */
	vq->desc_gpa = DESC_GPA, vq->avail_gpa = AVAIL_GPA, vq->used_gpa = USED_GPA;
	assert_int_equal(virtio_dev_queue_enable(vd, 0), -EINVAL);
	set_status(f, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	vq->size = 12; /* not a power of two */
	assert_int_equal(virtio_dev_queue_enable(vd, 0), -EINVAL);
	vq->size = 512; /* more than the maximum */
	assert_int_equal(virtio_dev_queue_enable(vd, 0), -EINVAL);
	vq->size = 16;
	vq->used_gpa = MEM_SIZE; /* outside RAM */
	assert_int_equal(virtio_dev_queue_enable(vd, 0), -EINVAL);
	assert_false(vq->enabled);
	assert_int_equal(virtio_dev_queue_enable(vd, 5), -EINVAL); /* no such queue */
	vq->used_gpa = USED_GPA;
	assert_int_equal(virtio_dev_queue_enable(vd, 0), 0);
	assert_true(vd->guest_errors >= 4);
}

static void test_reset_mid_request(void **state)
{
	struct fx *f = *state;
	struct pollfd p = { .fd = virtio_blk_queue_fd(f->vd, 0), .events = POLLIN };

	driver_init(f, offered(f));
	for (unsigned int s = 0; s < 8; s++)
		request(f, s, T_IN, 0, DATA_SLOT);
	kick(f);
	/* Reset while the reads are in the block layer. */
	set_status(f, 0);
	for (int i = 0; i < 1000 && virtio_dev_get_status(f->vd) != 0; i++) {
		poll(&p, 1, 10);
		virtio_blk_poll(f->vd);
	}
	assert_int_equal(virtio_dev_get_status(f->vd), 0);
	/* Nothing was published after the reset: no used entries, no status. */
	assert_int_equal(used_idx(f), 0);
	for (unsigned int s = 0; s < 8; s++)
		assert_int_equal(status(f, s), 0xee);
	/* And the device works again after re-initialisation. */
	memset(f->ram + AVAIL_GPA, 0, 0x2000);
	f->avail_idx = 0;
	driver_init(f, offered(f));
	request(f, 0, T_FLUSH, 0, 0);
	run_until(f, 1);
	assert_int_equal(status(f, 0), 0);
}

static void test_event_idx_suppression(void **state)
{
	struct fx *f = *state;
	uint16_t *used_event = (uint16_t *)(f->ram + AVAIL_GPA + 4 + 2 * QSIZE);

	driver_init(f, offered(f));
	request(f, 0, T_FLUSH, 0, 0);
	run_until(f, 1);
	int irqs = f->queue_irqs;
	/* The driver asks for an interrupt only when entry 10 is used. */
	*used_event = 10;
	for (unsigned int s = 0; s < 5; s++)
		request(f, s, T_FLUSH, 0, 0);
	run_until(f, 6);
	assert_int_equal(f->queue_irqs, irqs);
	for (unsigned int s = 0; s < 5; s++)
		request(f, s, T_FLUSH, 0, 0);
	run_until(f, 11);
	assert_int_equal(f->queue_irqs, irqs + 1);
	/* Device side: avail_event tells the driver where to kick next. */
	uint16_t avail_event;
	memcpy(&avail_event, f->ram + USED_GPA + 4 + 8 * QSIZE, 2);
	assert_int_equal(avail_event, 11);
}

static void test_save_load(void **state)
{
	struct fx *f = *state;
	uint8_t buf[VIRTIO_STATE_MAX];
	size_t len = sizeof(buf);

	driver_init(f, offered(f));
	request(f, 0, T_FLUSH, 0, 0);
	run_until(f, 1);
	assert_int_equal(virtio_dev_save(f->vd, buf, &len), 0);
	/* The device forgets everything, then comes back from the record. */
	set_status(f, 0);
	assert_false(f->vd->vqs[0].enabled);
	assert_int_equal(virtio_dev_load(f->vd, buf, len), 0);
	assert_true(virtio_dev_active(f->vd));
	assert_int_equal(f->vd->vqs[0].last_avail, 1);
	request(f, 1, T_FLUSH, 0, 0);
	run_until(f, 2);
	assert_int_equal(status(f, 1), 0);
	/* Corrupt records are refused. */
	buf[len - 3] ^= 1;
	assert_int_equal(virtio_dev_load(f->vd, buf, len), -EINVAL);
	buf[len - 3] ^= 1;
	assert_int_equal(virtio_dev_load(f->vd, buf, len - 1), -EINVAL);
	/*
	 * A record whose indices do not fit the ring in guest memory (the
	 * driver's avail idx 100 entries past the saved last_avail) is
	 * refused as a whole, and the device is left reset.
	 */
	uint16_t *avail_idx = (uint16_t *)(f->ram + AVAIL_GPA + 2), saved_idx = *avail_idx;
	*avail_idx = (uint16_t)(saved_idx + 100);
	assert_int_equal(virtio_dev_load(f->vd, buf, len), -EINVAL);
	assert_false(f->vd->vqs[0].enabled);
	*avail_idx = saved_idx;
	size_t small = 8;
	assert_int_equal(virtio_dev_save(f->vd, buf, &small), -ENOSPC);
}

/* Kick queue 1 and run its completions until the used idx reaches want. */
static void mq_run(struct fx *f, uint16_t want)
{
	struct pollfd p = { .fd = virtio_blk_queue_fd(f->vd, 1), .events = POLLIN };

	pthread_mutex_lock(&f->vd->lock);
	virtio_dev_kick(f->vd, 1);
	pthread_mutex_unlock(&f->vd->lock);
	for (int i = 0; i < 1000 && used_idx(f) != want; i++) {
		poll(&p, 1, 10);
		virtio_blk_poll(f->vd);
	}
	assert_int_equal(used_idx(f), want);
}

static void test_multiqueue(void **state)
{
	const char *dir = getenv("UNIT_TMPDIR");
	struct blk_create_opts co = { .size = DISK_SIZE };
	struct fx *f = calloc(1, sizeof(*f));
	struct virtio_dev *vd;
	struct virtq *vq;
	uint16_t nq;

	f->ram = calloc(1, MEM_SIZE);
	gmem_init(&f->mem, NULL);
	assert_int_equal(gmem_add_mapped(&f->mem, 0, MEM_SIZE, f->ram, -1, 0), 0);
	snprintf(f->path, sizeof(f->path), "%s/test_vblk_mq_%d.raw", dir ? dir : "/tmp", getpid());
	assert_int_equal(blk_create("raw", f->path, &co, NULL), 0);
	f->dc.path = f->path;
	f->dc.num_queues = 2;
	assert_int_equal(virtio_blk_new(&f->dc, 3, &f->mem, NULL, &f->vd, NULL), 0);
	vd = f->vd;
	vd->tops = &fake_tops;
	vd->transport = f;
	assert_int_equal(vd->nr_queues, 2);
	assert_true(vd->host_features & (1ull << 12)); /* VIRTIO_BLK_F_MQ */
	vd->ops->config_read(vd, 34, &nq, 2);
	assert_int_equal(nq, 2);
	/* Queue 1 on the rings the helpers use; queue 0 elsewhere. */
	set_status(f, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_dev_write_features(vd, 0, (uint32_t)vd->host_features);
	virtio_dev_write_features(vd, 1, (uint32_t)(vd->host_features >> 32));
	set_status(f, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	vq = &vd->vqs[0];
	vq->size = 16, vq->desc_gpa = 0x5000, vq->avail_gpa = 0x6000, vq->used_gpa = 0x7000;
	assert_int_equal(virtio_dev_queue_enable(vd, 0), 0);
	vq = &vd->vqs[1];
	vq->size = QSIZE, vq->desc_gpa = DESC_GPA, vq->avail_gpa = AVAIL_GPA;
	vq->used_gpa = USED_GPA;
	assert_int_equal(virtio_dev_queue_enable(vd, 1), 0);
	set_status(f, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
			      VIRTIO_STATUS_DRIVER_OK);
	pattern(data(f, 0), 4096, 9);
	request(f, 0, T_OUT, 8, 4096);
	mq_run(f, 1);
	request(f, 1, T_IN, 8, 4096);
	mq_run(f, 2);
	assert_int_equal(used_idx(f), 2);
	assert_int_equal(status(f, 0), 0);
	assert_int_equal(status(f, 1), 0);
	assert_memory_equal(data(f, 1), data(f, 0), 4096);
	/* GET_ID default serial names the disk index. */
	request(f, 2, T_GET_ID, 0, 20);
	pthread_mutex_lock(&vd->lock);
	virtio_dev_kick(vd, 1);
	pthread_mutex_unlock(&vd->lock);
	assert_int_equal(used_idx(f), 3);
	assert_string_equal((char *)data(f, 2), "vessel-disk3");
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_write_read_back),	   T(test_flush_get_id),
		T(test_discard_write_zeroes),	   T(test_bad_ranges),
		cmocka_unit_test(test_readonly),   T(test_no_status_byte),
		T(test_feature_negotiation),	   T(test_queue_enable_refused),
		T(test_reset_mid_request),	   T(test_event_idx_suppression),
		cmocka_unit_test(test_multiqueue), T(test_save_load),
		cmocka_unit_test(test_probed_raw_sector0),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
