// SPDX-License-Identifier: MIT
/*
 * reset.elf - machine reset through the i8042 (command 0xFE pulses the
 * CPU reset line).  The first boot writes a marker to CMOS NVRAM (bytes
 * 0x34-0x3f are free for use, MC146818 registers 0x0e-0x3f), then resets;
 * the second boot finds the marker, clears it and PASSes.  A VMM that exits
 * on reset ends the run after "reset: first boot" with its own status.
 *
 * Before resetting, the first boot switches its local APIC to x2APIC mode
 * (when CPUID offers it); a reset must bring the APIC back to xAPIC mode
 * (SDM vol. 3A 10.12.5: INIT/reset returns IA32_APIC_BASE to its power-on
 * value), which the second boot checks.
 *
 * Options: method=acpi (FADT RESET_REG, falling back to the i8042),
 * cmos_reg=N (marker byte, default 0x34), wait_key=1 (the first boot
 * waits for a byte on COM1 before resetting, so that a test can change
 * the host's files between the boots).
 */
#include "guest.h"

#define MARKER 0xa5
#define MSR_APIC_BASE 0x1b
#define APIC_BASE_EXTD (1ull << 10)
#define CPUID_1_ECX_X2APIC (1u << 21)

static u8 cmos_read(u8 reg)
{
	outb(0x70, 0x80 | reg); /* bit 7 keeps NMIs off */
	return inb(0x71);
}

static void cmos_write(u8 reg, u8 v)
{
	outb(0x70, 0x80 | reg);
	outb(0x71, v);
}

void guest_main(void)
{
	u8 reg = (u8)opt_u64("cmos_reg", 0x34);
	char method[16] = "i8042";
	u8 m = cmos_read(reg), count = cmos_read((u8)(reg + 1));

	opt_str("method", method, sizeof(method));
	if (m == MARKER) {
		cmos_write(reg, 0);
		cmos_write((u8)(reg + 1), 0);
		printf("reset: second boot (marker found, %u reset(s)), cleared\n", count);
		check(count == 1, "reset counter %u, expected 1", count);
		check(!(rdmsr(MSR_APIC_BASE) & APIC_BASE_EXTD),
		      "the local APIC is still in x2APIC mode after the reset (APIC base 0x%lx)",
		      rdmsr(MSR_APIC_BASE));
		return;
	}
	/* The marker byte, then a count of resets in the next byte. */
	cmos_write(reg, MARKER);
	cmos_write((u8)(reg + 1), 1);
	check(cmos_read(reg) == MARKER, "CMOS register 0x%x does not keep a value", reg);
	printf("reset: first boot, marker written to CMOS 0x%x, resetting "
	       "through %s\n",
	       reg, method);
	if (cpuid(1, 0).ecx & CPUID_1_ECX_X2APIC) {
		wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | APIC_BASE_EXTD);
		printf("reset: local APIC switched to x2APIC mode (APIC base 0x%lx)\n",
		       rdmsr(MSR_APIC_BASE));
	}
	if (opt_u64("wait_key", 0)) {
		printf("reset: waiting for a key\n");
		while (!(inb(0x3fd) & 1)) /* LSR data ready (16550 section 8.6.3) */
			__asm__ volatile("pause");
		inb(0x3f8);
	}
	if (!strcmp(method, "acpi"))
		acpi_reset();
	i8042_reset();
}
