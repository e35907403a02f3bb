// SPDX-License-Identifier: MIT
/*
 * boot.elf - checks what the VMM hands a PVH guest (Xen PVH boot ABI,
 * struct hvm_start_info version 1): the magic and version, the command
 * line (printed back between CMDLINE[ and ] for the harness to compare),
 * the E820-typed memory map and the RSDP.
 *
 * Options: expect_mem_mb=N (RAM total, holes allowed for: mem_slack_kb,
 * default 4096), expect_cmdline_len=N, pci_hole=ADDR (start of the 32-bit
 * hole that must hold no RAM, default 0xe0000000), lowmem_hole=0 (allow
 * RAM in 0xA0000-0xFFFFF), rsdp_scan_ok=1 (rsdp_paddr may be 0),
 * allow_empty=1 (tolerate zero-sized entries, as QEMU's qboot emits).
 */
#include "guest.h"

extern char _end[];

static void check_memmap(void)
{
	u64 expect = opt_u64("expect_mem_mb", 0) * MiB;
	u64 slack = opt_u64("mem_slack_kb", 4096) * KiB;
	u64 hole = opt_u64("pci_hole", 0xe0000000);
	bool lowmem_hole = opt_u64("lowmem_hole", 1) != 0;
	bool allow_empty = opt_u64("allow_empty", 0) != 0;
	bool low = false, at1m = false, high = false;
	u64 total = 0;

	check(boot.nr_mem > 0, "memory map is empty");
	printf("memory map: %d entries\n", boot.nr_mem);
	for (int i = 0; i < boot.nr_mem; i++) {
		const struct mem_region *r = &boot.mem[i];
		u64 end = r->addr + r->size;

		printf("  [0x%012lx-0x%012lx] %8lu KiB %s (%u)\n", r->addr,
		       end - 1, r->size >> 10, e820_type_name(r->type), r->type);
		if (!r->size && allow_empty)
			continue;
		check(r->size, "entry %d has size 0", i);
		check(end > r->addr, "entry %d wraps around", i);
		if (i && boot.mem[i - 1].size) {
			const struct mem_region *p = &boot.mem[i - 1];
			check(p->addr < r->addr, "entries %d and %d not sorted", i - 1, i);
			check(p->addr + p->size <= r->addr,
			      "entries %d and %d overlap", i - 1, i);
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
		      "RAM entry %d [0x%lx-0x%lx) overlaps the PCI hole at 0x%lx",
		      i, r->addr, end, hole);
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
		      "than %lu KiB", total >> 10, expect >> 20, slack >> 10);
		if (expect > hole)
			check(high, "%lu MiB of memory but no RAM above 4 GiB",
			      expect >> 20);
	}
}

void guest_main(void)
{
	printf("boot: PVH start info at 0x%lx\n", boot.info_paddr);
	check(boot.proto == BOOT_PVH, "not started through the PVH entry");
	check(boot.pvh_magic == 0x336ec578, "hvm_start_info magic 0x%x",
	      boot.pvh_magic);
	check(boot.pvh_version >= 1, "hvm_start_info version %u has no memory map",
	      boot.pvh_version);
	printf("version %u flags 0x%x modules %u\n", boot.pvh_version,
	       boot.pvh_flags, boot.pvh_nr_modules);

	printf("CMDLINE[%s]\n", boot.cmdline);
	check(boot.cmdline_paddr, "no command line (cmdline_paddr 0)");
	u64 want_len = opt_u64("expect_cmdline_len", 0);
	if (want_len)
		check(strlen(boot.cmdline) == want_len,
		      "command line is %lu bytes, expected %lu",
		      (u64)strlen(boot.cmdline), want_len);
	for (const char *c = boot.cmdline; *c; c++)
		check(*c >= 0x20 && *c < 0x7f, "command line byte 0x%x at %ld",
		      (u8)*c, (long)(c - boot.cmdline));

	check_memmap();

	const u8 *rsdp = acpi_rsdp();
	if (!opt_u64("rsdp_scan_ok", 0))
		check(boot.rsdp_paddr, "hvm_start_info.rsdp_paddr is 0");
	check(rsdp, "no valid RSDP (rsdp_paddr 0x%lx, nor in 0xE0000-0xFFFFF)",
	      boot.rsdp_paddr);
	if (boot.rsdp_paddr)
		check((u64)rsdp == boot.rsdp_paddr,
		      "rsdp_paddr 0x%lx does not hold a valid RSDP", boot.rsdp_paddr);
	printf("RSDP at 0x%lx revision %u\n", (u64)rsdp, rsdp[15]);
}
