// SPDX-License-Identifier: MIT
/*
 * timer.elf - interrupts reach the guest:
 *  1. the LAPIC timer in periodic mode (SDM vol. 3A section 11.5.4) gives
 *     at least min_ticks (default 10) interrupts;
 *  2. PIT channel 0 (8254, mode 2) raises ISA IRQ0, routed through the
 *     IOAPIC to the GSI that the MADT overrides name (usually 2);
 *  3. COM1 with IER.ETBEI set raises IRQ4 when its transmitter holding
 *     register is empty (NS16550A data sheet, IIR = 0x02).
 * The 8259s are remapped and masked, so only the IOAPIC path can work.
 *
 * Options: min_ticks=N, skip=lapic,pit,uart (comma list of parts to skip),
 * pit_gsi=N (override the GSI of IRQ0: QEMU's microvm routes it to 2
 * but its MADT has no override saying so).
 */
#include "guest.h"

#define VEC_LAPIC 0x40
#define VEC_PIT 0x41
#define VEC_UART 0x42

static volatile u32 lapic_ticks, pit_ticks, uart_irqs;
static volatile u8 uart_iir;

static void on_lapic(struct regs *r)
{
	lapic_ticks++;
	lapic_eoi();
}

static void on_pit(struct regs *r)
{
	pit_ticks++;
	lapic_eoi();
}

static void on_uart(struct regs *r)
{
	/* Reading IIR clears a THRE interrupt; disable it to stop the flow. */
	uart_iir = inb(COM1 + 2);
	outb(COM1 + 1, 0);
	uart_irqs++;
	lapic_eoi();
}

static bool skipped(const char *part)
{
	char list[64];

	return opt_str("skip", list, sizeof(list)) && strstr(list, part);
}

/* Waits with interrupts on until *count >= want or timeout_ms passes. */
static u32 wait_count(volatile u32 *count, u32 want, u32 timeout_ms)
{
	u64 end = uptime_us() + (u64)timeout_ms * 1000;

	while (*count < want && uptime_us() < end) {
		irq_enable();
		udelay(200);
		irq_disable();
	}
	return *count;
}

void guest_main(void)
{
	u32 min_ticks = (u32)opt_u64("min_ticks", 10);
	u8 bsp = (u8)lapic_id();
	bool level, low;

	pic_disable();
	lapic_enable();
	tsc_calibrate();
	printf("TSC %lu kHz\n", tsc_khz);
	irq_set_handler(VEC_LAPIC, on_lapic);
	irq_set_handler(VEC_PIT, on_pit);
	irq_set_handler(VEC_UART, on_uart);

	if (!skipped("lapic")) {
		/* 62500 counts at bus/16: 1 ms with KVM's 1 GHz APIC bus. */
		lapic_timer_periodic(VEC_LAPIC, 62500);
		u64 t0 = uptime_us();
		u32 n = wait_count(&lapic_ticks, min_ticks, 2000);
		u64 t1 = uptime_us();
		lapic_timer_stop();
		printf("LAPIC timer: %u ticks in %lu us\n", n, t1 - t0);
		check(n >= min_ticks, "LAPIC timer: %u ticks in 2 s, expected %u", n, min_ticks);
	}

	if (!skipped("pit")) {
		u32 gsi = isa_irq_to_gsi(0, &level, &low);
		gsi = (u32)opt_u64("pit_gsi", gsi);
		ioapic_route(gsi, VEC_PIT, bsp, level, low);
		/* Channel 0, lo/hi, mode 2 (rate generator), 1 kHz. */
		outb(0x43, 0x34);
		outb(0x40, 1193 & 0xff);
		outb(0x40, 1193 >> 8);
		u64 t0 = uptime_us();
		u32 n = wait_count(&pit_ticks, min_ticks, 2000);
		u64 t1 = uptime_us();
		ioapic_mask(gsi);
		outb(0x43, 0x30); /* mode 0, no count: stops the rate */
		printf("PIT IRQ0 -> GSI %u: %u interrupts in %lu us\n", gsi, n, t1 - t0);
		check(n >= min_ticks,
		      "PIT IRQ0 via IOAPIC GSI %u: %u interrupts "
		      "in 2 s, expected %u",
		      gsi, n, min_ticks);
	}

	if (!skipped("uart")) {
		u32 gsi = isa_irq_to_gsi(4, &level, &low);
		ioapic_route(gsi, VEC_UART, bsp, level, low);
		/* OUT2 gates the IRQ line on PCs (MCR bit 3); IER bit 1 is
		 * ETBEI.  The THR is empty, so the interrupt is due at once. */
		outb(COM1 + 4, 0x0b);
		outb(COM1 + 1, 0x02);
		u32 n = wait_count(&uart_irqs, 1, 1000);
		ioapic_mask(gsi);
		outb(COM1 + 1, 0);
		printf("COM1 IRQ4 -> GSI %u: %u interrupt(s), IIR 0x%x\n", gsi, n, uart_iir);
		check(n >= 1, "no COM1 THRE interrupt on GSI %u", gsi);
		check((uart_iir & 0x0f) == 0x02, "COM1 IIR 0x%x, expected THRE (0x02)", uart_iir);
	}
}
