// SPDX-License-Identifier: MIT
/*
 * memmap.c - sanity checks of the E820-typed memory map (ACPI 6.4 chapter
 * 15; the same for PVH and the zero page), shared by boot.elf and bzboot.
 *
 * Options: expect_mem_mb=N (RAM total, holes allowed for: mem_slack_kb,
 * default 4096), pci_hole=ADDR (start of the 32-bit hole that must hold no
 * RAM, default 0xe0000000), lowmem_hole=0 (allow RAM in 0xA0000-0xFFFFF),
 * allow_empty=1 (tolerate zero-sized entries, as QEMU's qboot emits),
 * allow_unsorted=1 (sort the map before checking it).
 */
#include "guest.h"

extern char _end[];

void memmap_check(void)
{
	u64 expect = opt_u64("expect_mem_mb", 0) * MiB;
	u64 slack = opt_u64("mem_slack_kb", 4096) * KiB;
	u64 hole = opt_u64("pci_hole", 0xe0000000);
	bool lowmem_hole = opt_u64("lowmem_hole", 1) != 0;
	bool allow_empty = opt_u64("allow_empty", 0) != 0;
	bool low = false, at1m = false, high = false;
	u64 total = 0;

	check(boot.nr_mem > 0, "memory map is empty");
	if (opt_u64("allow_unsorted", 0)) {
		/* E820 tables need not be sorted (ACPI 6.4 section 15.1
		 * does not require it); sort before the overlap check. */
		for (int i = 1; i < boot.nr_mem; i++)
			for (int j = i; j > 0 && boot.mem[j - 1].addr > boot.mem[j].addr; j--) {
				struct mem_region t = boot.mem[j];
				boot.mem[j] = boot.mem[j - 1];
				boot.mem[j - 1] = t;
			}
	}
	printf("memory map: %d entries\n", boot.nr_mem);
	for (int i = 0; i < boot.nr_mem; i++) {
		const struct mem_region *r = &boot.mem[i];
		u64 end = r->addr + r->size;

		printf("  [0x%012lx-0x%012lx] %8lu KiB %s (%u)\n", r->addr, end - 1, r->size >> 10,
		       e820_type_name(r->type), r->type);
		if (!r->size && allow_empty)
			continue;
		check(r->size, "entry %d has size 0", i);
		check(end > r->addr, "entry %d wraps around", i);
		if (i && boot.mem[i - 1].size) {
			const struct mem_region *p = &boot.mem[i - 1];
			check(p->addr < r->addr, "entries %d and %d not sorted", i - 1, i);
			check(p->addr + p->size <= r->addr, "entries %d and %d overlap", i - 1, i);
		}
		if (r->type != E820_RAM)
			continue;
		total += r->size;
		if (r->addr <= 0x1000 && end >= 0x9f000)
			low = true;
		if (r->addr <= 0x100000 && end >= (u64)_end)
			at1m = true;
		if (r->addr >= 4 * GiB)
			high = true;
		if (lowmem_hole)
			check(end <= 0xa0000 || r->addr >= 0x100000,
			      "RAM entry %d overlaps the legacy hole 0xA0000-0xFFFFF", i);
		check(end <= hole || r->addr >= 4 * GiB,
		      "RAM entry %d [0x%lx-0x%lx) overlaps the PCI hole at 0x%lx", i, r->addr, end,
		      hole);
		check(end <= LAPIC_BASE || r->addr >= LAPIC_BASE + 4096,
		      "RAM entry %d overlaps the LAPIC page", i);
		check(end <= IOAPIC_BASE_DEFAULT || r->addr >= IOAPIC_BASE_DEFAULT + 4096,
		      "RAM entry %d overlaps the IOAPIC page", i);
		const struct mcfg_entry *m = mcfg_find(0);
		if (m) {
			u64 mend = m->base + ((u64)(m->bus_end - m->bus_start + 1) << 20);
			check(end <= m->base || r->addr >= mend,
			      "RAM entry %d overlaps the ECAM window 0x%lx", i, m->base);
		}
	}
	check(low, "no RAM from 0 to 636 KiB (low memory)");
	check(at1m, "no RAM region holds the guest at 1 MiB-0x%lx", (u64)_end);
	printf("RAM total: %lu MiB (%lu KiB)\n", total >> 20, total >> 10);
	if (expect) {
		check(total <= expect, "RAM total %lu KiB exceeds expect_mem_mb %lu MiB",
		      total >> 10, expect >> 20);
		check(total + slack >= expect,
		      "RAM total %lu KiB is short of expect_mem_mb %lu MiB by more "
		      "than %lu KiB",
		      total >> 10, expect >> 20, slack >> 10);
		if (expect > hole)
			check(high, "%lu MiB of memory but no RAM above 4 GiB", expect >> 20);
	}
}
