// SPDX-License-Identifier: MIT
/*
 * vdrv.c - the test guests' virtio-pci driver (see vdrv.h).
 */
#include "vdrv.h"

/* Common configuration offsets (virtio 1.2 section 4.1.4.3). */
#define CC_DFSELECT 0x00
#define CC_DF 0x04
#define CC_GFSELECT 0x08
#define CC_GF 0x0c
#define CC_MSIX_CONFIG 0x10
#define CC_STATUS 0x14
#define CC_Q_SELECT 0x16
#define CC_Q_SIZE 0x18
#define CC_Q_MSIX 0x1a
#define CC_Q_ENABLE 0x1c
#define CC_Q_NOFF 0x1e
#define CC_Q_DESC 0x20
#define CC_Q_DRIVER 0x28
#define CC_Q_DEVICE 0x30

volatile u32 vdrv_irqs[8];
static bool watchdog_on;

#define VEC_WATCHDOG 0x4f

static void on_watchdog(struct regs *r)
{
	lapic_eoi();
}

/* Ring memory: 4 queues per device, 2 devices at a time, 4 pages each. */
static u8 rings[8][4][16384] __attribute__((aligned(4096)));
static int rings_used;

static void w8(u64 a, u8 v)
{
	*(volatile u8 *)a = v;
}
static void w16(u64 a, u16 v)
{
	*(volatile u16 *)a = v;
}
static u8 r8(u64 a)
{
	return *(volatile u8 *)a;
}
static u16 r16(u64 a)
{
	return *(volatile u16 *)a;
}
static void w64(u64 a, u64 v)
{
	mmio_write32(a, (u32)v);
	mmio_write32(a + 4, (u32)(v >> 32));
}

static u16 cfg16(u8 dev, u16 reg)
{
	return (u16)(pci_cf8_read32(0, dev, 0, reg & ~3) >> (8 * (reg & 2)));
}

static u8 cfg8(u8 dev, u16 reg)
{
	return (u8)(pci_cf8_read32(0, dev, 0, reg & ~3) >> (8 * (reg & 3)));
}

/*
 * The BAR's address, moved below 4 GiB if the VMM put it above: the
 * runtime identity-maps only the first 4 GiB.  Moving it also exercises
 * the VMM's BAR relocation (ioeventfds must follow).
 */
static u64 bar_addr(u8 dev, u8 bar)
{
	u16 reg = (u16)(0x10 + 4 * bar);
	u32 lo = pci_cf8_read32(0, dev, 0, reg);
	u64 a = lo & ~0xfull;

	if ((lo & 0x6) == 0x4)
		a |= (u64)pci_cf8_read32(0, dev, 0, reg + 4) << 32;
	if (a + 0x100000 > 4 * GiB && (lo & 0x6) == 0x4) {
		u32 cmd = pci_cf8_read32(0, dev, 0, 0x04);
		u64 na = 0xd0000000ull + (u64)dev * 0x100000;

		pci_cf8_write32(0, dev, 0, 0x04, cmd & ~2u);
		pci_cf8_write32(0, dev, 0, reg, (u32)na);
		pci_cf8_write32(0, dev, 0, reg + 4, 0);
		pci_cf8_write32(0, dev, 0, 0x04, cmd | 6);
		a = na;
	}
	return a;
}

bool vdev_find(struct vdev *d, u16 type, int index)
{
	/* Modern IDs 0x1040 + type; transitional ones for QEMU defaults. */
	static const u16 legacy[] = { 0, 0x1000, 0x1001, 0x1003, 0x1005 };

	memset(d, 0, sizeof(*d));
	for (u8 dev = 0; dev < 32; dev++) {
		u32 id = pci_cf8_read32(0, dev, 0, 0);
		u16 did = (u16)(id >> 16);

		if ((u16)id != 0x1af4)
			continue;
		if (did != 0x1040 + type && !(type < 5 && did == legacy[type]))
			continue;
		if (index-- > 0)
			continue;
		d->dev = dev;
		d->type = type;
		d->ring_slot = rings_used++ % 8;
		pci_cf8_write32(0, dev, 0, 0x04, pci_cf8_read32(0, dev, 0, 0x04) | 6);
		for (u8 cap = cfg8(dev, 0x34) & 0xfc; cap; cap = cfg8(dev, cap + 1) & 0xfc) {
			u8 id8 = cfg8(dev, cap);

			if (id8 == 0x11) {
				u32 t = pci_cf8_read32(0, dev, 0, cap + 4);

				d->msix_cap = cap;
				d->nr_vectors = (u16)((cfg16(dev, cap + 2) & 0x7ff) + 1);
				d->msix_table = bar_addr(dev, t & 7) + (t & ~7u);
				continue;
			}
			if (id8 != 0x09)
				continue;
			u8 ctype = cfg8(dev, cap + 3), bar = cfg8(dev, cap + 4);
			u32 off = pci_cf8_read32(0, dev, 0, cap + 8);
			u64 base;

			if (ctype < 1 || ctype > 4 || bar > 5)
				continue;
			base = bar_addr(dev, bar) + off;
			if (ctype == 1 && !d->common)
				d->common = base;
			else if (ctype == 2 && !d->notify) {
				d->notify = base;
				d->notify_mult = pci_cf8_read32(0, dev, 0, cap + 16);
			} else if (ctype == 3 && !d->isr)
				d->isr = base;
			else if (ctype == 4 && !d->devcfg)
				d->devcfg = base;
		}
		return d->common && d->notify && d->isr;
	}
	return false;
}

u8 vdev_status(struct vdev *d)
{
	return r8(d->common + CC_STATUS);
}

void vdev_set_status(struct vdev *d, u8 s)
{
	w8(d->common + CC_STATUS, s);
}

bool vdev_reset(struct vdev *d, u32 timeout_ms)
{
	u64 end = uptime_us() + (u64)timeout_ms * 1000;

	vdev_set_status(d, 0);
	while (vdev_status(d) != 0) {
		if (uptime_us() > end)
			return false;
		udelay(100);
	}
	return true;
}

bool vdev_negotiate(struct vdev *d, u64 want)
{
	u64 offered;

	if (!vdev_reset(d, 1000))
		return false;
	vdev_set_status(d, VS_ACK);
	vdev_set_status(d, VS_ACK | VS_DRIVER);
	mmio_write32(d->common + CC_DFSELECT, 0);
	offered = mmio_read32(d->common + CC_DF);
	mmio_write32(d->common + CC_DFSELECT, 1);
	offered |= (u64)mmio_read32(d->common + CC_DF) << 32;
	d->features = (want | VF_VERSION_1) & offered;
	mmio_write32(d->common + CC_GFSELECT, 0);
	mmio_write32(d->common + CC_GF, (u32)d->features);
	mmio_write32(d->common + CC_GFSELECT, 1);
	mmio_write32(d->common + CC_GF, (u32)(d->features >> 32));
	vdev_set_status(d, VS_ACK | VS_DRIVER | VS_FEATURES_OK);
	return (vdev_status(d) & VS_FEATURES_OK) && (d->features & VF_VERSION_1);
}

static void on_msix(struct regs *r)
{
	u64 v = r->vector - VEC_BASE;

	if (v < 8)
		vdrv_irqs[v]++;
	lapic_eoi();
}

void vdev_msix_enable(struct vdev *d)
{
	u32 apic = lapic_id();

	lapic_enable();
	for (u16 i = 0; i < d->nr_vectors && i < 8; i++) {
		u64 e = d->msix_table + 16ull * i;

		irq_set_handler((u8)(VEC_BASE + i), on_msix);
		mmio_write32(e + 0, 0xfee00000u | (apic << 12));
		mmio_write32(e + 4, 0);
		mmio_write32(e + 8, VEC_BASE + i);
		mmio_write32(e + 12, 0); /* unmask */
	}
	/* A periodic LAPIC timer bounds every HLT in vq_wait (10 ms). */
	if (!watchdog_on) {
		irq_set_handler(VEC_WATCHDOG, on_watchdog);
		lapic_timer_periodic(VEC_WATCHDOG, 625000);
		watchdog_on = true;
	}
	/* Message Control bit 15: MSI-X enable. */
	pci_cf8_write32(0, d->dev, 0, d->msix_cap,
			pci_cf8_read32(0, d->dev, 0, d->msix_cap) | (1u << 31));
	mmio_write32(d->common + CC_MSIX_CONFIG, 0xffff);
}

u16 vq_setup(struct vdev *d, u16 q, u16 size, u16 vec)
{
	struct vq *vq = &d->vqs[q];
	u8 *mem = rings[d->ring_slot][q & 3];
	u16 max;

	w16(d->common + CC_Q_SELECT, q);
	max = r16(d->common + CC_Q_SIZE);
	if (!size)
		size = max < VQ_MAX ? max : VQ_MAX;
	memset(mem, 0, 16384);
	memset(vq, 0, sizeof(*vq));
	vq->index = q;
	vq->size = size;
	vq->desc = (struct vdesc *)mem;
	vq->avail = (volatile u16 *)(mem + 4096);
	vq->used = mem + 8192;
	vq->vector = vec;
	vq->event_idx = d->features & VF_EVENT_IDX;
	vq->poll_addr = d->common + CC_STATUS;
	vq->notify = d->notify + (u64)r16(d->common + CC_Q_NOFF) * d->notify_mult;
	w16(d->common + CC_Q_SIZE, size);
	w16(d->common + CC_Q_MSIX, vec);
	w64(d->common + CC_Q_DESC, (u64)vq->desc);
	w64(d->common + CC_Q_DRIVER, (u64)vq->avail);
	w64(d->common + CC_Q_DEVICE, (u64)vq->used);
	w16(d->common + CC_Q_ENABLE, 1);
	return r16(d->common + CC_Q_ENABLE);
}

void vdev_driver_ok(struct vdev *d)
{
	vdev_set_status(d, vdev_status(d) | VS_DRIVER_OK);
}

u8 vcfg_read8(struct vdev *d, u32 off)
{
	return r8(d->devcfg + off);
}

u32 vcfg_read32(struct vdev *d, u32 off)
{
	return mmio_read32(d->devcfg + off);
}

u64 vcfg_read64(struct vdev *d, u32 off)
{
	return vcfg_read32(d, off) | (u64)vcfg_read32(d, off + 4) << 32;
}

u16 vq_post(struct vq *vq, const struct vbuf *b, int n)
{
	u16 head = vq->next_desc % vq->size;

	for (int i = 0; i < n; i++) {
		u16 di = (u16)((vq->next_desc + i) % vq->size);
		struct vdesc *dsc = &vq->desc[di];

		dsc->addr = b[i].addr;
		dsc->len = b[i].len;
		dsc->flags = (u16)((b[i].write ? VD_WRITE : 0) | (i + 1 < n ? VD_NEXT : 0));
		dsc->next = (u16)((di + 1) % vq->size);
	}
	vq->next_desc = (u16)(vq->next_desc + n);
	vq_publish(vq, head);
	return head;
}

u16 vq_post_indirect(struct vq *vq, const struct vbuf *b, int n, struct vdesc *table)
{
	u16 head = vq->next_desc % vq->size;

	for (int i = 0; i < n; i++) {
		table[i].addr = b[i].addr;
		table[i].len = b[i].len;
		table[i].flags = (u16)((b[i].write ? VD_WRITE : 0) | (i + 1 < n ? VD_NEXT : 0));
		table[i].next = (u16)(i + 1);
	}
	vq->desc[head].addr = (u64)table;
	vq->desc[head].len = (u32)(16 * n);
	vq->desc[head].flags = VD_INDIRECT;
	vq->desc[head].next = 0;
	vq->next_desc++;
	vq_publish(vq, head);
	return head;
}

void vq_publish(struct vq *vq, u16 head)
{
	vq->avail[2 + vq->avail_idx % vq->size] = head;
	__asm__ volatile("" ::: "memory");
	vq->avail_idx++;
	vq->avail[1] = vq->avail_idx;
}

void vq_kick(struct vq *vq)
{
	/* x86 stores are ordered; mfence orders them against the MMIO. */
	__asm__ volatile("mfence" ::: "memory");
	w16(vq->notify, vq->index);
}

bool vq_wait(struct vq *vq, u32 *id, u32 *len, u32 timeout_ms)
{
	u64 end = uptime_us() + (u64)timeout_ms * 1000;
	volatile u16 *used_idx = (volatile u16 *)(vq->used + 2);

	/* EVENT_IDX: ask for an interrupt when this entry is used. */
	if (vq->event_idx)
		vq->avail[2 + vq->size] = vq->last_used;
	__asm__ volatile("mfence" ::: "memory");
	/*
	 * With an MSI-X vector, sleep in HLT until an interrupt (the LAPIC
	 * timer started by vdev_msix_enable wakes us at least every 10 ms);
	 * without one, poll with an MMIO read so the vCPU exits now and then.
	 */
	while (*used_idx == vq->last_used) {
		if (uptime_us() > end)
			return false;
		if (vq->vector != 0xffff && watchdog_on) {
			irq_wait();
		} else {
			irq_enable();
			(void)*(volatile u8 *)vq->poll_addr;
			irq_disable();
		}
	}
	volatile u32 *e = (volatile u32 *)(vq->used + 4 + 8 * (vq->last_used % vq->size));
	if (id)
		*id = e[0];
	if (len)
		*len = e[1];
	vq->last_used++;
	return true;
}

/* Config-space offset of the first vendor capability of cfg_type `type`, or 0. */
static u8 vdev_find_vcap(struct vdev *d, u8 type)
{
	for (u8 cap = cfg8(d->dev, 0x34) & 0xfc; cap; cap = cfg8(d->dev, cap + 1) & 0xfc)
		if (cfg8(d->dev, cap) == 0x09 && cfg8(d->dev, cap + 3) == type)
			return cap;
	return 0;
}

/* Point the pci_cfg window at `len` bytes at offset `off` of BAR `bar`. */
static void vdev_cfg_window(struct vdev *d, u8 c, u8 bar, u32 off, u32 len)
{
	u32 w = pci_cf8_read32(0, d->dev, 0, c + 4);

	pci_cf8_write32(0, d->dev, 0, c + 4, (w & ~0xffu) | bar);
	pci_cf8_write32(0, d->dev, 0, c + 8, off);
	pci_cf8_write32(0, d->dev, 0, c + 12, len);
}

/*
 * The VIRTIO_PCI_CAP_PCI_CFG access window (virtio 1.2 4.1.4.8): reads
 * and writes of pci_cfg_data reach the BAR at the time of the access.
 * Checks device_status and queue_size reads and a queue_select write
 * against the same registers through MMIO.
 */
bool vdev_check_cfg_window(struct vdev *d)
{
	u8 c = vdev_find_vcap(d, 5), cc = vdev_find_vcap(d, 1);
	u8 bar;
	u32 off;

	if (!c || !cc)
		return false;
	bar = cfg8(d->dev, cc + 4);
	off = pci_cf8_read32(0, d->dev, 0, cc + 8);
	vdev_cfg_window(d, c, bar, off + CC_STATUS, 1);
	if ((pci_cf8_read32(0, d->dev, 0, c + 16) & 0xff) != r8(d->common + CC_STATUS))
		return false;
	vdev_cfg_window(d, c, bar, off + CC_Q_SELECT, 2);
	pci_cf8_write32(0, d->dev, 0, c + 16, 0);
	if (r16(d->common + CC_Q_SELECT) != 0)
		return false;
	vdev_cfg_window(d, c, bar, off + CC_Q_SIZE, 2);
	return (pci_cf8_read32(0, d->dev, 0, c + 16) & 0xffff) == r16(d->common + CC_Q_SIZE) &&
	       r16(d->common + CC_Q_SIZE) != 0;
}
