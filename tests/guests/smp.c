// SPDX-License-Identifier: MIT
/*
 * smp.elf - the VMM's view of the CPUs agrees everywhere: the MADT (ACPI
 * 6.4 section 5.2.12) lists expect_cpus enabled processors and an IOAPIC,
 * the MP table (MP spec 1.4 section 4.3.1) lists the same processors with
 * one bootstrap processor, and every AP starts with INIT-SIPI-SIPI and
 * checks in with its own APIC ID.
 *
 * Options: expect_cpus=N (default: what the MADT says), mptable=0 (the
 * VMM provides no MP table), timeout_ms=N (AP start, default 5000).
 */
#include "guest.h"

static bool in_list(u32 id, const u32 *ids, int n)
{
	for (int i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

static void check_unique(const u32 *ids, int n, const char *what)
{
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			check(ids[i] != ids[j], "%s lists APIC ID %u twice", what, ids[i]);
}

void guest_main(void)
{
	int expect;
	char why[128];

	check(have_madt, "no MADT (ACPI \"APIC\" table)");
	expect = (int)opt_u64("expect_cpus", (u64)madt.nr_cpus);
	printf("MADT: %d enabled CPUs, %d IOAPIC(s), LAPIC at 0x%lx, %d overrides\n", madt.nr_cpus,
	       madt.nr_ioapics, madt.lapic_addr, madt.nr_overrides);
	check(madt.nr_cpus == expect, "MADT lists %d CPUs, expected %d", madt.nr_cpus, expect);
	check(madt.nr_ioapics >= 1, "MADT lists no IOAPIC");
	check_unique(madt.apic_ids, madt.nr_cpus, "MADT");
	check(in_list(lapic_id(), madt.apic_ids, madt.nr_cpus), "BSP APIC ID %u is not in the MADT",
	      lapic_id());
	for (int i = 0; i < madt.nr_ioapics; i++) {
		u32 ver = ioapic_read(madt.ioapic_addr[i], 1);
		printf("IOAPIC %u at 0x%lx GSI base %u: version 0x%x, %u pins\n", madt.ioapic_id[i],
		       madt.ioapic_addr[i], madt.ioapic_gsi_base[i], ver & 0xff,
		       ((ver >> 16) & 0xff) + 1);
		check((ver & 0xff) != 0xff, "IOAPIC at 0x%lx does not answer", madt.ioapic_addr[i]);
	}

	if (opt_u64("mptable", 1)) {
		struct mp_info mp;
		check(mptable_parse(&mp, why, sizeof(why)), "MP table: %s", why);
		printf("MP table at 0x%lx (spec 1.%u): %d CPUs, %d IOAPIC(s)\n", mp.table_addr,
		       mp.spec_rev, mp.nr_cpus, mp.nr_ioapics);
		check(mp.nr_cpus == expect, "MP table lists %d CPUs, expected %d", mp.nr_cpus,
		      expect);
		check(mp.bsp_index >= 0 && mp.apic_ids[mp.bsp_index] == lapic_id(),
		      "MP table does not mark APIC ID %u as the BSP", lapic_id());
		check(mp.nr_ioapics >= 1, "MP table lists no IOAPIC");
		for (int i = 0; i < mp.nr_cpus; i++)
			check(in_list(mp.apic_ids[i], madt.apic_ids, madt.nr_cpus),
			      "MP table APIC ID %u is not in the MADT", mp.apic_ids[i]);
	}

	u64 t0 = uptime_us();
	int n = smp_start(NULL, expect, (u32)opt_u64("timeout_ms", 5000));
	u64 t1 = uptime_us();
	printf("%d of %d CPUs online after %lu us:", n, expect, t1 - t0);
	u32 ids[MAX_CPUS];
	for (int i = 0; i < n && i < MAX_CPUS; i++) {
		ids[i] = cpus[i].apic_id;
		printf(" %u", ids[i]);
	}
	printf("\n");
	check(n == expect, "%d CPUs checked in, expected %d", n, expect);
	check_unique(ids, n, "the CPUs that checked in");
	for (int i = 0; i < n; i++)
		check(in_list(ids[i], madt.apic_ids, madt.nr_cpus),
		      "a CPU checked in with APIC ID %u, not in the MADT", ids[i]);
}
