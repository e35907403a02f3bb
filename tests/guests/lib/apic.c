// SPDX-License-Identifier: MIT
/*
 * apic.c - time (PIT channel 2, TSC), local APIC in xAPIC mode (SDM vol. 3A
 * chapter 11), 82093AA IOAPIC and the 8259 PICs.
 */
#include "guest.h"

u64 tsc_khz;

static u16 pit0_read(void)
{
	u8 lo, hi;

	outb(0x43, 0x00); /* latch channel 0 */
	lo = inb(0x40);
	hi = inb(0x40);
	return (u16)(lo | hi << 8);
}

/*
 * Counts on the 8254 (data sheet: counter latch command, mode 2): channel 0
 * counts down from 65535 at 1193182 Hz and we add up what it counted
 * between the first and the last read, until `us` have passed.  Returns
 * the PIT ticks counted and, in *tsc, the TSC ticks between the same two
 * reads.  Channel 0 rather than the channel 2/port 0x61 gate, which QEMU's
 * microvm lacks.  Interrupts are off; channel 0 is stopped again (mode 0,
 * no count) before returning.
 */
static u64 pit_count(u32 us, u64 *tsc)
{
	u64 want = (u64)us * 1193182 / 1000000, done = 0, t0;
	u16 last, now;
	int spins = 10000000;

	outb(0x43, 0x34); /* ch0, lo/hi, mode 2, binary */
	outb(0x40, 0xff);
	outb(0x40, 0xff);
	pit0_read(); /* the count loads on the next clock */
	last = pit0_read();
	t0 = rdtsc();
	while (done < want && --spins) {
		now = pit0_read();
		if (now <= last)
			done += (u16)(last - now);
		else /* reloaded */
			done += last + (u16)(0xffff - now);
		last = now;
	}
	*tsc = rdtsc() - t0;
	outb(0x43, 0x30);
	return done;
}

void pit_delay_us(u32 us)
{
	u64 tsc;

	pit_count(us, &tsc);
}

void tsc_calibrate(void)
{
	/* KVM publishes the TSC frequency in leaf 0x40000010 EAX (kHz) when
	 * it is known (Linux Documentation/virt/kvm/x86/cpuid.rst). */
	struct cpuid_regs r = cpuid(0x40000000, 0);
	u64 tsc, ticks;

	if (r.eax >= 0x40000010 && r.eax < 0x40000100) {
		r = cpuid(0x40000010, 0);
		if (r.eax) {
			tsc_khz = r.eax;
			return;
		}
	}
	/* Twice: the first run also pays for first-touch costs (shadow page
	 * faults, emulator warm-up on PVM) that would inflate the TSC side. */
	pit_count(1000, &tsc);
	ticks = pit_count(10000, &tsc);
	tsc_khz = ticks ? tsc * 1193182 / (ticks * 1000) : 0;
	if (!tsc_khz)
		tsc_khz = 1000000;
}

void udelay(u64 us)
{
	if (!tsc_khz)
		tsc_calibrate();
	u64 end = rdtsc() + us * tsc_khz / 1000;

	while (rdtsc() < end)
		cpu_relax();
}

static u64 lapic_base(void)
{
	return have_madt && madt.lapic_addr ? madt.lapic_addr : LAPIC_BASE;
}

u32 lapic_read(u32 reg)
{
	return mmio_read32(lapic_base() + reg);
}

void lapic_write(u32 reg, u32 v)
{
	mmio_write32(lapic_base() + reg, v);
}

u32 lapic_id(void)
{
	return lapic_read(LAPIC_ID) >> 24;
}

void lapic_enable(void)
{
	/* IA32_APIC_BASE bit 11 (global enable) is set at reset; the SVR
	 * software enable (bit 8) is not (SDM vol. 3A section 11.4.3). */
	lapic_write(LAPIC_SVR, 0x100 | 0xff);
	lapic_write(LAPIC_TPR, 0);
}

void lapic_eoi(void)
{
	lapic_write(LAPIC_EOI, 0);
}

void lapic_timer_periodic(u8 vector, u32 count)
{
	lapic_write(LAPIC_TIMER_DIV, 0x3);		   /* divide by 16 */
	lapic_write(LAPIC_LVT_TIMER, vector | (1u << 17)); /* periodic */
	lapic_write(LAPIC_TIMER_INIT, count);
}

void lapic_timer_stop(void)
{
	lapic_write(LAPIC_LVT_TIMER, 1u << 16); /* masked */
	lapic_write(LAPIC_TIMER_INIT, 0);
}

/* Remap both 8259s to vectors 0x20-0x2f and mask every line, so that only
 * the IOAPIC delivers ISA interrupts (8259A data sheet, ICW1-4, OCW1). */
void pic_disable(void)
{
	outb(0x20, 0x11);
	outb(0xa0, 0x11);
	outb(0x21, 0x20);
	outb(0xa1, 0x28);
	outb(0x21, 0x04);
	outb(0xa1, 0x02);
	outb(0x21, 0x01);
	outb(0xa1, 0x01);
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
}

/* IOREGSEL at +0, IOWIN at +0x10 (82093AA data sheet section 3.1). */
u32 ioapic_read(u64 base, u32 reg)
{
	mmio_write32(base, reg);
	return mmio_read32(base + 0x10);
}

void ioapic_write(u64 base, u32 reg, u32 v)
{
	mmio_write32(base, reg);
	mmio_write32(base + 0x10, v);
}

static bool ioapic_for_gsi(u32 gsi, u64 *base, u32 *pin)
{
	if (!have_madt || !madt.nr_ioapics) {
		*base = IOAPIC_BASE_DEFAULT;
		*pin = gsi;
		return gsi < 24;
	}
	for (int i = 0; i < madt.nr_ioapics; i++) {
		u64 b = madt.ioapic_addr[i];
		u32 nr = ((ioapic_read(b, 1) >> 16) & 0xff) + 1;
		if (gsi >= madt.ioapic_gsi_base[i] && gsi < madt.ioapic_gsi_base[i] + nr) {
			*base = b;
			*pin = gsi - madt.ioapic_gsi_base[i];
			return true;
		}
	}
	return false;
}

void ioapic_route(u32 gsi, u8 vector, u8 dest, bool level, bool active_low)
{
	u64 base;
	u32 pin;

	if (!ioapic_for_gsi(gsi, &base, &pin))
		fail("no IOAPIC serves GSI %u", gsi);
	/* Redirection entry (section 3.2.4): vector, fixed, physical,
	 * polarity bit 13, trigger bit 15, mask bit 16 clear. */
	ioapic_write(base, 0x11 + 2 * pin, (u32)dest << 24);
	ioapic_write(base, 0x10 + 2 * pin,
		     vector | (active_low ? 1u << 13 : 0) | (level ? 1u << 15 : 0));
}

void ioapic_mask(u32 gsi)
{
	u64 base;
	u32 pin;

	if (ioapic_for_gsi(gsi, &base, &pin))
		ioapic_write(base, 0x10 + 2 * pin, 1u << 16);
}

/* MADT interrupt source overrides (ACPI 6.4 section 5.2.12.5); ISA
 * defaults are edge triggered, active high. */
u32 isa_irq_to_gsi(u8 irq, bool *level, bool *active_low)
{
	*level = false;
	*active_low = false;
	for (int i = 0; have_madt && i < madt.nr_overrides; i++) {
		if (madt.overrides[i].irq != irq)
			continue;
		u16 f = madt.overrides[i].flags;
		*active_low = (f & 3) == 3;
		*level = ((f >> 2) & 3) == 3;
		return madt.overrides[i].gsi;
	}
	return irq;
}
