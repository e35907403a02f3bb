// SPDX-License-Identifier: MIT
/*
 * boot.elf - checks what the VMM hands a PVH guest (Xen PVH boot ABI,
 * struct hvm_start_info version 1): the magic and version, the command
 * line (printed back between CMDLINE[ and ] for the harness to compare),
 * the E820-typed memory map and the RSDP.
 *
 * Options: expect_cmdline_len=N, rsdp_scan_ok=1 (rsdp_paddr may be 0), and
 * the memory map options of lib/memmap.c (expect_mem_mb=N, ...).
 */
#include "guest.h"

void guest_main(void)
{
	printf("boot: PVH start info at 0x%lx\n", boot.info_paddr);
	check(boot.proto == BOOT_PVH, "not started through the PVH entry");
	check(boot.pvh_magic == 0x336ec578, "hvm_start_info magic 0x%x", boot.pvh_magic);
	check(boot.pvh_version >= 1, "hvm_start_info version %u has no memory map",
	      boot.pvh_version);
	printf("version %u flags 0x%x modules %u\n", boot.pvh_version, boot.pvh_flags,
	       boot.pvh_nr_modules);

	printf("CMDLINE[%s]\n", boot.cmdline);
	check(boot.cmdline_paddr, "no command line (cmdline_paddr 0)");
	u64 want_len = opt_u64("expect_cmdline_len", 0);
	if (want_len)
		check(strlen(boot.cmdline) == want_len, "command line is %lu bytes, expected %lu",
		      (u64)strlen(boot.cmdline), want_len);
	for (const char *c = boot.cmdline; *c; c++)
		check(*c >= 0x20 && *c < 0x7f, "command line byte 0x%x at %ld", (u8)*c,
		      (long)(c - boot.cmdline));

	memmap_check();

	const u8 *rsdp = acpi_rsdp();
	if (!opt_u64("rsdp_scan_ok", 0))
		check(boot.rsdp_paddr, "hvm_start_info.rsdp_paddr is 0");
	check(rsdp, "no valid RSDP (rsdp_paddr 0x%lx, nor in 0xE0000-0xFFFFF)", boot.rsdp_paddr);
	if (boot.rsdp_paddr)
		check((u64)rsdp == boot.rsdp_paddr, "rsdp_paddr 0x%lx does not hold a valid RSDP",
		      boot.rsdp_paddr);
	printf("RSDP at 0x%lx revision %u\n", (u64)rsdp, rsdp[15]);
}
