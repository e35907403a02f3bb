// SPDX-License-Identifier: MIT
/*
 * vbench.elf - the virtio-blk load generator of bench/blk, the same guest
 * on vessel and on QEMU.  Phases (each `secs` seconds, default 3):
 *
 *   randread / randwrite   4 KiB at random 4 KiB-aligned offsets, qd deep
 *   seqread / seqwrite     1 MiB sequential, qd1m deep
 *   rttpoll                GET_ID at queue depth 1, polled at CPL3: guest
 *                          kick -> ioeventfd -> device -> used entry
 *   rttirq                 GET_ID at queue depth 1 with an MSI-X interrupt
 *                          for every completion (CPL0, HLT until the irq)
 *
 * The I/O phases run at CPL3 (user_call), polling the used ring and
 * kicking only when the device's avail_event asks for it (EVENT_IDX):
 * PVM hosts emulate CPL0 slowly, and a polling driver measures the
 * device path rather than the guest's interrupt handling.  Each phase
 * prints "BENCH-START name" and "BENCH-END name ios=N us=T" so the host
 * side can sample the VMM's CPU time around it.
 *
 * Options: phases=a,b,... secs=S qd=N qd1m=N
 */
#include "vdrv.h"

#define T_IN 0
#define T_OUT 1
#define T_GET_ID 8
#define MAXQD 64
#define BIG (1u << 20)

struct hdr {
	u32 type, ioprio;
	u64 sector;
} PACKED;

struct run {
	struct vq *vq;
	u64 cap_bytes;
	u32 bs, qd, type;
	bool rnd;
	u64 tsc_end;
	u64 ios;
	u64 rng, seq;
};

static struct hdr hdrs[MAXQD] __attribute__((aligned(64)));
static u8 st[MAXQD] __attribute__((aligned(64)));
static u8 data[16 * BIG] __attribute__((section(".noinit"), aligned(4096)));
static u8 user_stack[16384] __attribute__((section(".noinit"), aligned(16)));
static struct run R;

static u64 next_off(struct run *r)
{
	u64 blocks = r->cap_bytes / r->bs;

	if (!r->rnd) {
		u64 o = r->seq % blocks;

		r->seq++;
		return o * r->bs;
	}
	r->rng ^= r->rng << 13;
	r->rng ^= r->rng >> 7;
	r->rng ^= r->rng << 17;
	return (r->rng % blocks) * r->bs;
}

/* Slot s owns descriptors 3s..3s+2; its head is 3s. */
static void post(struct run *r, u32 s)
{
	struct vq *vq = r->vq;
	struct vdesc *d = &vq->desc[3 * s];
	u8 *buf = data + (r->bs == BIG ? (u64)s * BIG : (u64)s * 4096);

	hdrs[s].type = r->type;
	hdrs[s].ioprio = 0;
	hdrs[s].sector = next_off(r) / 512;
	d[0] = (struct vdesc){ (u64)&hdrs[s], 16, VD_NEXT, (u16)(3 * s + 1) };
	d[1] = (struct vdesc){ (u64)buf, r->bs, (u16)(VD_NEXT | (r->type != T_OUT ? VD_WRITE : 0)),
			       (u16)(3 * s + 2) };
	d[2] = (struct vdesc){ (u64)&st[s], 1, VD_WRITE, 0 };
	vq->avail[2 + vq->avail_idx % vq->size] = (u16)(3 * s);
	vq->avail_idx++;
}

static inline bool need_event(u16 event, u16 nw, u16 old)
{
	return (u16)(nw - event - 1) < (u16)(nw - old);
}

static void publish_and_kick(struct vq *vq, u16 old)
{
	volatile u16 *avail_event = (volatile u16 *)(vq->used + 4 + 8 * vq->size);

	__asm__ volatile("" ::: "memory");
	vq->avail[1] = vq->avail_idx;
	__asm__ volatile("mfence" ::: "memory");
	if (need_event(*avail_event, vq->avail_idx, old))
		*(volatile u16 *)vq->notify = vq->index;
}

/* At CPL3: keep qd requests in flight until the TSC passes tsc_end. */
static u64 user_io(u64 arg)
{
	struct run *r = (struct run *)arg;
	struct vq *vq = r->vq;
	volatile u16 *used_idx = (volatile u16 *)(vq->used + 2);
	u32 inflight = 0;
	u16 old = vq->avail_idx;

	for (u32 s = 0; s < r->qd; s++, inflight++)
		post(r, s);
	publish_and_kick(vq, old);
	while (inflight) {
		u16 u = *used_idx;
		bool more = rdtsc() < r->tsc_end;

		if (u == vq->last_used) {
			__asm__ volatile("pause");
			continue;
		}
		old = vq->avail_idx;
		while (vq->last_used != u) {
			volatile u32 *e =
				(volatile u32 *)(vq->used + 4 + 8 * (vq->last_used % vq->size));
			u32 s = e[0] / 3;

			if (st[s] != 0)
				return ~0ull; /* I/O error */
			vq->last_used++;
			r->ios++;
			if (more)
				post(r, s);
			else
				inflight--;
		}
		if (old != vq->avail_idx)
			publish_and_kick(vq, old);
	}
	return r->ios;
}

static void phase(struct vdev *d, const char *name, u32 type, u32 bs, u32 qd, bool rnd, u64 secs)
{
	u64 t0, t1, us;

	R.vq = &d->vqs[0];
	R.bs = bs;
	R.qd = qd;
	R.type = type;
	R.rnd = rnd;
	R.ios = 0;
	R.rng = 0x9e3779b97f4a7c15ull;
	R.seq = 0;
	printf("BENCH-START %s\n", name);
	t0 = rdtsc();
	R.tsc_end = t0 + secs * tsc_khz * 1000;
	check(user_call(user_io, (u64)&R, user_stack, sizeof(user_stack)) != ~0ull, "%s: I/O error",
	      name);
	t1 = rdtsc();
	us = (t1 - t0) / (tsc_khz / 1000);
	printf("BENCH-END %s ios=%lu us=%lu iops=%lu MBps=%lu\n", name, R.ios, us,
	       us ? R.ios * 1000000 / us : 0, us ? R.ios * bs / us : 0);
}

/*
 * Interrupt-driven round trip at CPL0: used_event asks for an interrupt
 * on this completion, the kick exits, the device answers on the event
 * loop, the MSI-X interrupt wakes the HLT.  On PVM hosts the guest's own
 * CPL0 instructions are emulated and dominate this figure.
 */
static void rtt_irq(struct vdev *d, u64 secs)
{
	struct vq *vq = &d->vqs[0];
	static char id[24];
	u64 n = 0, sum = 0, min = ~0ull, end;
	volatile u16 *used_idx = (volatile u16 *)(vq->used + 2);

	printf("BENCH-START rttirq\n");
	end = rdtsc() + secs * tsc_khz * 1000;
	while (rdtsc() < end) {
		struct vbuf b[3] = {
			{ (u64)&hdrs[0], 16, false },
			{ (u64)id, 20, true },
			{ (u64)&st[0], 1, true },
		};
		u32 irqs = vdrv_irqs[0];
		u64 t0, dt, dl = rdtsc() + 2000 * tsc_khz;

		hdrs[0].type = T_GET_ID;
		vq->next_desc = 0;
		vq->avail[2 + vq->size] = vq->last_used; /* used_event */
		t0 = rdtsc();
		vq_post(vq, b, 3);
		vq_kick(vq);
		while (vdrv_irqs[0] == irqs && rdtsc() < dl)
			irq_wait();
		dt = rdtsc() - t0;
		check(*used_idx != vq->last_used, "rttirq: no completion");
		vq->last_used++;
		sum += dt;
		min = dt < min ? dt : min;
		n++;
	}
	printf("BENCH-END rttirq ios=%lu avg_ns=%lu min_ns=%lu\n", n,
	       n ? sum * 1000000 / n / tsc_khz : 0, min * 1000000 / tsc_khz);
}

void guest_main(void)
{
	char phases[128] = "randread,randwrite,seqread,seqwrite,rttpoll,rttirq";
	u64 secs = opt_u64("secs", 3);
	u32 qd = (u32)opt_u64("qd", 32), qd1m = (u32)opt_u64("qd1m", 8);
	struct vdev d;

	if (qd < 1 || qd > MAXQD)
		qd = 32;
	if (qd1m < 1 || qd1m > 16)
		qd1m = 8;
	opt_str("phases", phases, sizeof(phases));
	tsc_calibrate();
	check(vdev_find(&d, VIRTIO_ID_BLOCK, 0), "no virtio-blk device");
	check(vdev_negotiate(&d, VF_EVENT_IDX), "feature negotiation failed");
	check(d.features & VF_EVENT_IDX, "no EVENT_IDX");
	vdev_msix_enable(&d);
	check(vq_setup(&d, 0, 256, 0) == 1, "queue refused");
	vdev_driver_ok(&d);
	R.cap_bytes = vcfg_read64(&d, 0) * 512;
	check(R.cap_bytes >= 64 * BIG, "disk smaller than 64 MiB");
	printf("vbench: %lu MiB disk, qd %u (4 KiB), qd %u (1 MiB), %lu s per phase\n",
	       R.cap_bytes >> 20, qd, qd1m, secs);
	if (strstr(phases, "randread"))
		phase(&d, "randread", T_IN, 4096, qd, true, secs);
	if (strstr(phases, "randwrite"))
		phase(&d, "randwrite", T_OUT, 4096, qd, true, secs);
	if (strstr(phases, "seqread"))
		phase(&d, "seqread", T_IN, BIG, qd1m, false, secs);
	if (strstr(phases, "seqwrite"))
		phase(&d, "seqwrite", T_OUT, BIG, qd1m, false, secs);
	/* Polled round trip at CPL3: kick -> device -> used entry. */
	if (strstr(phases, "rttpoll"))
		phase(&d, "rttpoll", T_GET_ID, 20, 1, false, secs);
	if (strstr(phases, "rttirq"))
		rtt_irq(&d, secs);
	pass();
}
