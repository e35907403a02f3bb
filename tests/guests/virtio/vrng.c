// SPDX-License-Identifier: MIT
/*
 * vrng.elf - virtio-rng (virtio 1.2 section 5.4): two 64-byte requests
 * come back full, not all zero and not equal; an MSI-X interrupt arrives.
 * With the option intx, MSI-X stays off and the interrupt must come as
 * INTx: the pin's GSI (Interrupt Line register) routed through the
 * IOAPIC, level-triggered, acknowledged by reading the ISR register
 * (section 4.1.4.5).
 */
#include "vdrv.h"

#define VEC_INTX 0x60

static u8 a[64], b[64];
static volatile u32 intx_irqs;
static volatile u8 isr_seen;
static u64 isr_addr;

static void on_intx(struct regs *r)
{
	isr_seen |= *(volatile u8 *)isr_addr; /* read-to-clear lowers INTx */
	intx_irqs++;
	lapic_eoi();
}

void guest_main(void)
{
	struct vdev d;
	struct vbuf v;
	u32 len = 0;
	u32 zero = 0;

	tsc_calibrate();
	check(vdev_find(&d, VIRTIO_ID_RNG, 0), "no virtio-rng device on bus 0");
	bool intx = opt_has("intx");
	u8 line = (u8)pci_cf8_read32(0, d.dev, 0, 0x3c);

	check(vdev_negotiate(&d, VF_EVENT_IDX), "feature negotiation failed");
	check(vdev_check_cfg_window(&d), "pci_cfg access window disagrees with MMIO");
	if (intx) {
		/* PCI command: INTx enabled (bit 10 clear). */
		pci_cf8_write32(0, d.dev, 0, 0x04, pci_cf8_read32(0, d.dev, 0, 0x04) & ~0x400u);
		isr_addr = d.isr;
		lapic_enable();
		irq_set_handler(VEC_INTX, on_intx);
		ioapic_route(line, VEC_INTX, (u8)lapic_id(), true, false);
		printf("vrng: INTx on GSI %u\n", line);
	} else {
		vdev_msix_enable(&d);
	}
	check(vq_setup(&d, 0, 0, intx ? 0xffff : 0) == 1, "queue refused");
	vdev_driver_ok(&d);
	v = (struct vbuf){ (u64)a, sizeof(a), true };
	vq_post(&d.vqs[0], &v, 1);
	v.addr = (u64)b;
	vq_post(&d.vqs[0], &v, 1);
	vq_kick(&d.vqs[0]);
	if (intx) {
		u64 end = uptime_us() + 2000000;

		while (!intx_irqs && uptime_us() < end) {
			irq_enable();
			udelay(100);
			irq_disable();
		}
		check(intx_irqs, "no INTx interrupt");
		check(isr_seen & 1, "ISR queue bit not set (ISR %#x)", isr_seen);
		check(!(*(volatile u8 *)d.isr), "ISR not cleared by the read");
		printf("vrng: %u INTx interrupts, ISR %#x\n", intx_irqs, isr_seen);
	}
	check(vq_wait(&d.vqs[0], NULL, &len, 5000), "no entropy");
	check(len == sizeof(a), "got %u bytes", len);
	check(vq_wait(&d.vqs[0], NULL, &len, 5000), "no entropy");
	for (unsigned int i = 0; i < sizeof(a); i++)
		zero += !a[i];
	check(zero < 16, "%u zero bytes", zero);
	check(memcmp(a, b, sizeof(a)), "two requests returned the same bytes");
	if (intx)
		pass();
	/* HLT lets KVM inject an interrupt still pending (the LAPIC watchdog
	 * of vdev_msix_enable bounds each HLT to 10 ms). */
	for (int i = 0; i < 10 && !vdrv_irqs[0]; i++)
		irq_wait();
	check(vdrv_irqs[0] > 0, "no MSI-X interrupt");
	printf("vrng: %02x%02x%02x%02x..., %u interrupts\n", a[0], a[1], a[2], a[3], vdrv_irqs[0]);
	pass();
}
