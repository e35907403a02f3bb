// SPDX-License-Identifier: MIT
/*
 * smp.c - AP bring-up with INIT-SIPI-SIPI (SDM vol. 3A section 8.4.4.1,
 * "Typical BSP Initialization Sequence").  The real-mode trampoline from
 * entry.S is copied to 0x8000 (SIPI vector 0x08); each AP switches to long
 * mode with the BSP's page tables, takes the next free index and stack and
 * checks in here.  All of it is CPL0 code, emulated on PVM hosts, so the
 * sequence is short: one INIT to each AP, one 10 ms wait, two SIPIs.
 */
#include "guest.h"

#define TRAMP_BASE 0x8000
#define SIPI_VECTOR (TRAMP_BASE >> 12)

#define ICR_INIT (5u << 8)
#define ICR_STARTUP (6u << 8)
#define ICR_ASSERT (1u << 14)
#define ICR_LEVEL (1u << 15)
#define ICR_BUSY (1u << 12)
#define ICR_ALL_BUT_SELF (3u << 18)

struct cpu_info cpus[MAX_CPUS];
volatile u32 cpus_online;
static void (*volatile ap_fn)(int idx);
static volatile u32 ap_done;

extern char tramp_start[], tramp_end[], tramp_gdtr[], tramp_cr3[];
extern u64 gdt[];
extern char gdt_ptr[];
void ap_main(int idx);

void ap_main(int idx)
{
	idt_load();
	lapic_enable();
	cpus[idx].apic_id = lapic_id();
	cpus[idx].online = 1;
	__atomic_fetch_add(&cpus_online, 1, __ATOMIC_SEQ_CST);
	if (ap_fn)
		ap_fn(idx);
	__atomic_fetch_add(&ap_done, 1, __ATOMIC_SEQ_CST);
}

int this_cpu(void)
{
	u32 id = lapic_id();

	for (int i = 0; i < MAX_CPUS; i++)
		if (cpus[i].online && cpus[i].apic_id == id)
			return i;
	return 0;
}

static void icr_send(u32 dest, u32 lo)
{
	for (int i = 0; i < 100000 && (lapic_read(LAPIC_ICR_LO) & ICR_BUSY); i++)
		cpu_relax();
	lapic_write(LAPIC_ICR_HI, dest << 24);
	lapic_write(LAPIC_ICR_LO, lo);
	for (int i = 0; i < 100000 && (lapic_read(LAPIC_ICR_LO) & ICR_BUSY); i++)
		cpu_relax();
}

static bool wait_until(volatile u32 *v, u32 target, u32 timeout_ms)
{
	u64 end = uptime_us() + (u64)timeout_ms * 1000;

	while (*v < target) {
		if (uptime_us() > end)
			return false;
		udelay(50);
	}
	return true;
}

int smp_start(void (*fn)(int idx), int expect, u32 timeout_ms)
{
	u32 bsp = lapic_id();
	int targets = 0;

	ap_fn = fn;
	cpus[0].apic_id = bsp;
	cpus[0].online = 1;
	cpus_online = 1;
	lapic_enable();
	if (!tsc_khz)
		tsc_calibrate();

	memcpy((void *)TRAMP_BASE, tramp_start, (size_t)(tramp_end - tramp_start));
	/* Patch the copy: GDTR (limit + 32-bit base) and CR3. */
	u8 *g = (u8 *)TRAMP_BASE + (tramp_gdtr - tramp_start);
	memcpy(g, gdt_ptr, 6);
	u32 cr3 = (u32)read_cr3();
	memcpy((u8 *)TRAMP_BASE + (tramp_cr3 - tramp_start), &cr3, 4);

	if (have_madt && madt.nr_cpus) {
		for (int i = 0; i < madt.nr_cpus; i++) {
			if (madt.apic_ids[i] == bsp)
				continue;
			icr_send(madt.apic_ids[i], ICR_INIT | ICR_ASSERT | ICR_LEVEL);
			targets++;
		}
		udelay(10000);
		for (int n = 0; n < 2; n++) {
			for (int i = 0; i < madt.nr_cpus; i++)
				if (madt.apic_ids[i] != bsp)
					icr_send(madt.apic_ids[i],
						 ICR_STARTUP | ICR_ASSERT | SIPI_VECTOR);
			udelay(200);
		}
	} else {
		/* No MADT: broadcast to all excluding self. */
		icr_send(0, ICR_ALL_BUT_SELF | ICR_INIT | ICR_ASSERT | ICR_LEVEL);
		udelay(10000);
		icr_send(0, ICR_ALL_BUT_SELF | ICR_STARTUP | ICR_ASSERT | SIPI_VECTOR);
		udelay(200);
		icr_send(0, ICR_ALL_BUT_SELF | ICR_STARTUP | ICR_ASSERT | SIPI_VECTOR);
		targets = MAX_CPUS - 1;
	}
	if (expect <= 0)
		expect = targets + 1;
	wait_until(&cpus_online, (u32)expect, timeout_ms);
	return (int)cpus_online;
}

bool smp_wait_done(u32 timeout_ms)
{
	if (cpus_online <= 1)
		return true;
	return wait_until(&ap_done, cpus_online - 1, timeout_ms);
}
