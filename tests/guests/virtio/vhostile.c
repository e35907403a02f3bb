// SPDX-License-Identifier: MIT
/*
 * vhostile.elf - a malicious virtio-blk driver.  case= picks one attack:
 *
 *   loop    descriptor 0 -> 1 -> 0
 *   oob     a buffer far outside guest RAM
 *   dir     a device-readable buffer after a device-writable one
 *   zero    a chain whose only descriptor has length 0
 *   jump    avail idx moved 300 entries ahead of a 16-entry queue
 *   nested  an indirect table that points to another indirect table
 *   qsize   queue_size 12 (not a power of two) then queue_enable
 *   reset   device reset while eight 64 KiB reads are in flight
 *
 * The VMM must stay up, report the broken ring with DEVICE_NEEDS_RESET
 * (virtio 1.2 section 2.1.2) or refuse the setup, keep serving the other
 * devices (virtio-rng, if present, answers) and work again for this
 * driver after a reset.  PASS only if all of that holds.
 */
#include "vdrv.h"

#define QS 16

struct hdr {
	u32 type, ioprio;
	u64 sector;
} PACKED;

static struct hdr hdr __attribute__((aligned(64)));
static u8 status[8] __attribute__((aligned(64)));
static struct vdesc tab1[4] __attribute__((aligned(64))), tab2[4] __attribute__((aligned(64)));
static u8 data[8][65536] __attribute__((aligned(4096)));
static char id[24];

static void start(struct vdev *d, u16 qsize)
{
	check(vdev_negotiate(d, VF_INDIRECT), "feature negotiation failed");
	vdev_msix_enable(d);
	check(vq_setup(d, 0, qsize, 0) == 1, "queue refused");
	vdev_driver_ok(d);
}

/* A well-formed GET_ID request must work (after the attack and a reset). */
static void good_request(struct vdev *d)
{
	struct vbuf b[3] = {
		{ (u64)&hdr, sizeof(hdr), false },
		{ (u64)id, 20, true },
		{ (u64)&status[0], 1, true },
	};
	u32 len = 0;

	hdr.type = 8;
	hdr.sector = 0;
	status[0] = 0xff;
	vq_post(&d->vqs[0], b, 3);
	vq_kick(&d->vqs[0]);
	check(vq_wait(&d->vqs[0], NULL, &len, 5000), "good request after the attack: no answer");
	check(status[0] == 0, "good request: status %u", status[0]);
	printf("hostile: device answers again (serial '%s')\n", id);
}

static void other_device_works(void)
{
	static u8 r[32];
	struct vdev rng;
	struct vbuf b = { (u64)r, sizeof(r), true };

	if (!vdev_find(&rng, VIRTIO_ID_RNG, 0)) {
		printf("hostile: no virtio-rng to cross-check\n");
		return;
	}
	check(vdev_negotiate(&rng, 0), "rng: negotiation failed");
	check(vq_setup(&rng, 0, 16, 0xffff) == 1, "rng: queue refused");
	vdev_driver_ok(&rng);
	vq_post(&rng.vqs[0], &b, 1);
	vq_kick(&rng.vqs[0]);
	check(vq_wait(&rng.vqs[0], NULL, NULL, 5000), "rng stopped answering");
	printf("hostile: virtio-rng still serves\n");
}

static void wait_needs_reset(struct vdev *d)
{
	u64 end = uptime_us() + 3000000;

	while (!(vdev_status(d) & VS_NEEDS_RESET)) {
		check(uptime_us() < end, "device did not report NEEDS_RESET (status %#x)",
		      vdev_status(d));
		udelay(200);
	}
	printf("hostile: device reports NEEDS_RESET\n");
}

static void set(struct vdesc *t, int i, u64 addr, u32 len, u16 flags, u16 next)
{
	t[i].addr = addr;
	t[i].len = len;
	t[i].flags = flags;
	t[i].next = next;
}

void guest_main(void)
{
	char c[16] = "";
	struct vdev d;
	struct vq *vq;

	tsc_calibrate();
	opt_str("case", c, sizeof(c));
	check(vdev_find(&d, VIRTIO_ID_BLOCK, 0), "no virtio-blk device");
	printf("hostile: case %s\n", c);

	if (!strcmp(c, "qsize")) {
		check(vdev_negotiate(&d, 0), "feature negotiation failed");
		check(vq_setup(&d, 0, 12, 0xffff) == 0, "queue size 12 was accepted");
		check(vq_setup(&d, 0, QS, 0xffff) == 1, "queue size 16 refused");
		vdev_driver_ok(&d);
		good_request(&d);
		other_device_works();
		pass();
	}
	start(&d, QS);
	vq = &d.vqs[0];
	hdr.type = 0;
	hdr.sector = 0;

	if (!strcmp(c, "reset")) {
		static struct hdr hs[8];
		for (int i = 0; i < 8; i++) {
			struct vbuf b[3] = {
				{ (u64)&hs[i], sizeof(hs[i]), false },
				{ (u64)data[i], sizeof(data[i]), true },
				{ (u64)&status[i], 1, true },
			};
			hs[i].type = 0;
			hs[i].sector = (u64)i * 128;
			status[i] = 0xee;
			vq_post(vq, b, 3);
		}
		vq_kick(vq);
		check(vdev_reset(&d, 3000), "reset did not complete");
		for (int i = 0; i < 8; i++)
			if (status[i] != 0xee && status[i] != 0)
				fail("status %u written for request %d", status[i], i);
		start(&d, QS);
		check(*(volatile u16 *)(d.vqs[0].used + 2) == 0, "stale completion after reset");
		good_request(&d);
		other_device_works();
		pass();
	}

	if (!strcmp(c, "loop")) {
		set(vq->desc, 0, (u64)&hdr, 16, VD_NEXT, 1);
		set(vq->desc, 1, (u64)&hdr, 16, VD_NEXT, 0);
		vq_publish(vq, 0);
	} else if (!strcmp(c, "oob")) {
		set(vq->desc, 0, (u64)&hdr, 16, VD_NEXT, 1);
		set(vq->desc, 1, 0xfff00000000ull, 4096, VD_NEXT | VD_WRITE, 2);
		set(vq->desc, 2, (u64)&status[0], 1, VD_WRITE, 0);
		vq_publish(vq, 0);
	} else if (!strcmp(c, "dir")) {
		set(vq->desc, 0, (u64)&status[0], 1, VD_NEXT | VD_WRITE, 1);
		set(vq->desc, 1, (u64)&hdr, 16, 0, 0);
		vq_publish(vq, 0);
	} else if (!strcmp(c, "zero")) {
		set(vq->desc, 0, (u64)&hdr, 0, 0, 0);
		vq_publish(vq, 0);
	} else if (!strcmp(c, "jump")) {
		vq->avail[1] = (u16)(vq->avail_idx + 300);
	} else if (!strcmp(c, "nested")) {
		set(tab2, 0, (u64)&hdr, 16, 0, 0);
		set(tab1, 0, (u64)tab2, 16, VD_INDIRECT, 0);
		set(vq->desc, 0, (u64)tab1, 16, VD_INDIRECT, 0);
		vq_publish(vq, 0);
	} else {
		fail("unknown case '%s'", c);
	}
	vq_kick(vq);
	wait_needs_reset(&d);
	other_device_works();
	check(vdev_reset(&d, 3000), "reset did not complete");
	start(&d, QS);
	good_request(&d);
	pass();
}
