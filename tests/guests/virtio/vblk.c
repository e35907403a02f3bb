// SPDX-License-Identifier: MIT
/*
 * vblk.elf - drive virtio-blk through the modern virtio-pci transport:
 * negotiate (VERSION_1, EVENT_IDX, INDIRECT_DESC, FLUSH, DISCARD,
 * WRITE_ZEROES), MSI-X interrupts, GET_ID, write a pattern over the whole
 * disk with several requests in flight (writes through indirect tables),
 * flush, read everything back, discard and write-zeroes, and check that
 * a read past the end fails with IOERR.  PASS through the exit port.
 *
 * Options: serial=S (expected GET_ID string), inflight=N (1..8),
 * index=N (drive the N-th virtio-blk device, default 0), sector0=1 (the
 * disk is a probed raw image: a qcow2 header over sector 0 must fail),
 * wait=SECONDS (how long a request may take, default 5).
 */
#include "vdrv.h"

#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8
#define T_DISCARD 11
#define T_WRITE_ZEROES 13
#define F_FLUSH (1ull << 9)
#define F_DISCARD (1ull << 13)
#define F_WRITE_ZEROES (1ull << 14)

#define CHUNK (64 * 1024)
#define SLOTS 8

struct hdr {
	u32 type, ioprio;
	u64 sector;
} PACKED;

static struct hdr hdrs[SLOTS] __attribute__((aligned(64)));
static u8 st[SLOTS] __attribute__((aligned(64)));
static struct vdesc itab[SLOTS][4] __attribute__((aligned(64)));
static u8 buf[SLOTS][CHUNK] __attribute__((aligned(4096)));
static struct vdev d;
static struct vq *vq;

static void submit(int s, u32 type, u64 sector, void *data, u32 len, bool indirect)
{
	struct vbuf b[3];
	int n = 0;

	hdrs[s].type = type;
	hdrs[s].ioprio = 0;
	hdrs[s].sector = sector;
	st[s] = 0xff;
	b[n++] = (struct vbuf){ (u64)&hdrs[s], sizeof(struct hdr), false };
	if (len)
		b[n++] = (struct vbuf){ (u64)data, len, type == T_IN || type == T_GET_ID };
	b[n++] = (struct vbuf){ (u64)&st[s], 1, true };
	if (indirect)
		vq_post_indirect(vq, b, n, itab[s]);
	else
		vq_post(vq, b, n);
}

/* wait=SECONDS: how long a request may take (a VM paused on an I/O error) */
static u32 wait_ms = 5000;

static void complete(int n, const char *what)
{
	for (int i = 0; i < n; i++)
		check(vq_wait(vq, NULL, NULL, wait_ms), "%s: no completion", what);
}

static u8 request(u32 type, u64 sector, void *data, u32 len)
{
	submit(0, type, sector, data, len, false);
	vq_kick(vq);
	complete(1, "request");
	return st[0];
}

/*
 * Pattern fill and check run at CPL3 (user_call): PVM hosts run CPL3
 * natively but emulate CPL0, and these loops touch every disk byte.
 */
struct job {
	u64 *p;
	u64 off;
	u64 len;
};
static struct job job;
static u8 user_stack[16384] __attribute__((section(".noinit"), aligned(16)));

static u64 pat(u64 pos)
{
	return pos * 0x9e3779b97f4a7c15ull + 0x1234;
}

static u64 user_fill(u64 a)
{
	struct job *j = (struct job *)a;

	for (u64 i = 0; i < j->len / 8; i++)
		j->p[i] = pat(j->off + 8 * i);
	return 0;
}

static u64 user_verify(u64 a)
{
	struct job *j = (struct job *)a;

	for (u64 i = 0; i < j->len / 8; i++)
		if (j->p[i] != (j->off == ~0ull ? 0 : pat(j->off + 8 * i)))
			return 8 * i + 1;
	return 0;
}

static void fill(u64 *p, u64 off, u32 len)
{
	job = (struct job){ p, off, len };
	user_call(user_fill, (u64)&job, user_stack, sizeof(user_stack));
}

/* 0 if p holds the pattern of disk offset off (~0: zeroes), else 1 + where. */
static u64 verify(u64 *p, u64 off, u32 len)
{
	job = (struct job){ p, off, len };
	return user_call(user_verify, (u64)&job, user_stack, sizeof(user_stack));
}

void guest_main(void)
{
	u64 want = VF_EVENT_IDX | VF_INDIRECT | F_FLUSH | F_DISCARD | F_WRITE_ZEROES;
	int inflight = (int)opt_u64("inflight", 4);
	char serial[24] = { 0 }, expect[24];
	u64 cap, bytes;
	u32 irqs0;

	wait_ms = (u32)opt_u64("wait", 5) * 1000;
	if (inflight < 1 || inflight > SLOTS)
		inflight = 4;
	tsc_calibrate();
	check(vdev_find(&d, VIRTIO_ID_BLOCK, (int)opt_u64("index", 0)),
	      "no virtio-blk device %lu on bus 0", opt_u64("index", 0));
	check(vdev_negotiate(&d, want), "feature negotiation failed");
	printf("vblk: slot %u, features %lx, %u MSI-X vectors\n", d.dev, d.features, d.nr_vectors);
	check(d.msix_cap && d.nr_vectors >= 2, "no MSI-X");
	vdev_msix_enable(&d);
	check(vq_setup(&d, 0, 0, 0) == 1, "queue 0 refused");
	vq = &d.vqs[0];
	vdev_driver_ok(&d);
	check(vdev_status(&d) & VS_DRIVER_OK, "DRIVER_OK did not stick");
	cap = vcfg_read64(&d, 0);
	bytes = cap * 512;
	printf("vblk: capacity %lu sectors, queue size %u\n", cap, vq->size);
	check(cap >= CHUNK / 512, "disk too small");

	check(request(T_GET_ID, 0, serial, 20) == 0, "GET_ID failed");
	printf("vblk: serial '%s'\n", serial);
	if (opt_str("serial", expect, sizeof(expect)))
		check(!strcmp(serial, expect), "serial '%s', expected '%s'", serial, expect);

	/* Pattern over the whole disk, `inflight` chunks at a time. */
	irq_enable();
	irqs0 = vdrv_irqs[0];
	irq_disable();
	for (u64 off = 0; off < bytes;) {
		int n = 0;

		for (; n < inflight && off < bytes; n++) {
			u32 len = bytes - off < CHUNK ? (u32)(bytes - off) : CHUNK;

			fill((u64 *)buf[n], off, len);
			submit(n, T_OUT, off / 512, buf[n], len, d.features & VF_INDIRECT);
			off += len;
		}
		vq_kick(vq);
		complete(n, "write");
		for (int i = 0; i < n; i++)
			check(st[i] == 0, "write failed: status %u", st[i]);
	}
	check(request(T_FLUSH, 0, NULL, 0) == 0, "flush failed");
	for (u64 off = 0; off < bytes;) {
		int n = 0;
		u64 start = off;

		for (; n < inflight && off < bytes; n++) {
			u32 len = bytes - off < CHUNK ? (u32)(bytes - off) : CHUNK;

			((u64 *)buf[n])[0] = ~pat(off); /* poison: must be overwritten */
			((u64 *)buf[n])[len / 8 - 1] = 0;
			submit(n, T_IN, off / 512, buf[n], len, false);
			off += len;
		}
		vq_kick(vq);
		complete(n, "read");
		for (int i = 0; i < n; i++) {
			u64 o = start + (u64)i * CHUNK;
			u32 len = bytes - o < CHUNK ? (u32)(bytes - o) : CHUNK;
			u64 bad;

			check(st[i] == 0, "read failed: status %u", st[i]);
			bad = verify((u64 *)buf[i], o, len);
			check(!bad, "data mismatch at byte %lu", o + bad - 1);
		}
	}
	printf("vblk: wrote and read back %lu bytes\n", bytes);

	/* Discard and write-zeroes: one segment each (section 5.2.6). */
	if (d.features & F_DISCARD && d.features & F_WRITE_ZEROES) {
		struct {
			u64 sector;
			u32 num, flags;
		} PACKED seg = { 0, 128, 0 };

		memcpy(buf[1], &seg, sizeof(seg));
		check(request(T_DISCARD, 0, buf[1], 16) == 0, "discard failed");
		seg.sector = 128;
		seg.flags = 1;
		memcpy(buf[1], &seg, sizeof(seg));
		check(request(T_WRITE_ZEROES, 0, buf[1], 16) == 0, "write zeroes failed");
		/* Discarded data reads as anything (section 5.2.6.2): just read it. */
		check(request(T_IN, 0, buf[0], CHUNK) == 0, "read after discard");
		fill((u64 *)buf[0], 0, CHUNK);
		check(request(T_IN, 128, buf[0], CHUNK) == 0, "read after write zeroes");
		check(!verify((u64 *)buf[0], ~0ull, CHUNK), "write zeroes left data");
		printf("vblk: discard and write zeroes ok\n");
	}
	/*
	 * sector0=1: the disk was opened without format=, as raw.  A qcow2
	 * header written over its first sector must fail with IOERR, or the
	 * next start would open the disk as qcow2 with a backing file of the
	 * guest's choice (issue 9); ordinary data there is still written.
	 */
	if (opt_u64("sector0", 0)) {
		static const u8 qcow2_hdr[8] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };

		memset(buf[0], 0, 4096);
		memcpy(buf[0], qcow2_hdr, sizeof(qcow2_hdr));
		check(request(T_OUT, 0, buf[0], 4096) == 1,
		      "a qcow2 header over sector 0 of a probed raw disk was written");
		memset(buf[0], 0x5a, 4096);
		check(request(T_OUT, 0, buf[0], 4096) == 0, "a plain write of sector 0 failed");
		printf("vblk: the probed raw disk kept its format\n");
	}

	/* Out of range: IOERR, and the device keeps going. */
	check(request(T_IN, cap, buf[0], 512) == 1, "read past the end did not fail");
	check(request(T_IN, ~0ull - 7, buf[0], 4096) == 1, "sector overflow did not fail");
	check(request(0x55, 0, NULL, 0) == 2, "unknown request type not UNSUPP");
	check(request(T_IN, 0, buf[0], 512) == 0, "device stopped after errors");

	/* HLT lets KVM inject an interrupt still pending (the LAPIC watchdog
	 * of vdev_msix_enable bounds each HLT to 10 ms). */
	for (int i = 0; i < 10 && vdrv_irqs[0] == irqs0; i++)
		irq_wait();
	printf("vblk: %u MSI-X interrupts on queue 0\n", vdrv_irqs[0] - irqs0);
	check(vdrv_irqs[0] > irqs0, "no MSI-X interrupt arrived");
	check(!(vdev_status(&d) & VS_NEEDS_RESET), "device needs reset");
	pass();
}
