// SPDX-License-Identifier: MIT
/*
 * bzboot.bin - a bzImage (Linux boot protocol 2.15, lib/bzhdr.S) that
 * checks the zero page the loader filled (Documentation/x86/boot.rst and
 * zero-page.rst): the setup header copy (boot_flag, "HdrS", version,
 * type_of_loader set, LOADED_HIGH), the E820 table (e820_entries at 0x1e8,
 * table at 0x2d0; same checks as boot.elf), cmd_line_ptr (the command
 * line is printed back between CMDLINE[ and ]), and the initrd:
 * ramdisk_image/ramdisk_size, placed in RAM clear of the guest, with the
 * 32-bit FNV-1a hash of its bytes equal to initrd_fnv, or their 32-bit sum
 * equal to initrd_sum.  The hash runs at CPL3, natively on PVM hosts.
 *
 * Options: initrd_size=N and initrd_fnv=HASH or initrd_sum=SUM (decimal or
 * 0x hex; the harness computes them; no initrd is expected without
 * initrd_size), expect_entry=64|32 (which entry the loader used),
 * expect_cmdline_len=N, and the memory map options of lib/memmap.c
 * (expect_mem_mb=N, ...).
 */
#include "guest.h"

extern char _end[];

static u32 zp32(u32 off)
{
	u32 v;

	memcpy(&v, boot.zero_page + off, 4);
	return v;
}

static u16 zp16(u32 off)
{
	return (u16)(boot.zero_page[off] | boot.zero_page[off + 1] << 8);
}

struct hash_job {
	const u8 *p;
	u64 n;
	bool fnv;
};

/*
 * Runs at CPL3 (user_call), where PVM hosts run natively: FNV-1a 32-bit
 * (offset basis 0x811c9dc5, prime 0x01000193) or the 32-bit sum of the
 * bytes.  All guest pages are user-accessible, the initrd included.
 */
static u64 user_hash(u64 arg)
{
	const struct hash_job *j = (const struct hash_job *)arg;
	const u8 *p = j->p;
	u64 n = j->n;
	u32 h;

	if (j->fnv) {
		h = 0x811c9dc5;
		while (n--) {
			h ^= *p++;
			h *= 0x01000193;
		}
	} else {
		h = 0;
		while (n--)
			h += *p++;
	}
	return h;
}

static u8 user_stack[16384] __attribute__((section(".noinit"), aligned(16)));

static bool in_ram(u64 a, u64 len)
{
	for (int i = 0; i < boot.nr_mem; i++) {
		const struct mem_region *r = &boot.mem[i];
		if (r->type == E820_RAM && a >= r->addr && a + len <= r->addr + r->size)
			return true;
	}
	return false;
}

static void check_initrd(void)
{
	u64 img = zp32(0x218) | (u64)zp32(0x0c0) << 32;
	u64 size = zp32(0x21c) | (u64)zp32(0x0c4) << 32;
	u64 want_size = opt_u64("initrd_size", 0);

	printf("initrd: ramdisk_image 0x%lx ramdisk_size %lu\n", img, size);
	if (!want_size) {
		check(!size, "an initrd was loaded but no initrd_size was given");
		return;
	}
	check(img && size, "no initrd (ramdisk_image/ramdisk_size are 0)");
	check(size == want_size, "ramdisk_size %lu, expected %lu", size, want_size);
	check(img + size <= 4 * GiB, "initrd above 4 GiB (0x%lx): not mapped", img);
	check(img + size <= 0x80000000ull, "initrd ends at 0x%lx, above initrd_addr_max 0x7fffffff",
	      img + size);
	check(img >= (u64)_end || img + size <= 0x100000,
	      "initrd 0x%lx-0x%lx overlaps the guest (0x100000-0x%lx)", img, img + size, (u64)_end);
	check(in_ram(img, size), "initrd 0x%lx+%lu is not inside one E820 RAM range", img, size);
	bool fnv = opt_has("initrd_fnv");
	check(fnv || opt_has("initrd_sum"), "initrd_size without initrd_fnv or "
					    "initrd_sum");
	struct hash_job job = { (const u8 *)img, size, fnv };
	u32 want = (u32)opt_u64(fnv ? "initrd_fnv" : "initrd_sum", 0);
	u64 t0 = uptime_us();
	u32 h = (u32)user_call(user_hash, (u64)&job, user_stack, sizeof(user_stack));
	u64 t1 = uptime_us();
	printf("initrd: %s 0x%08x (%u) at CPL3 in %lu us\n", fnv ? "FNV-1a" : "byte sum", h, h,
	       t1 - t0);
	check(h == want, "initrd %s 0x%08x, expected 0x%08x", fnv ? "FNV-1a" : "byte sum", h, want);
}

void guest_main(void)
{
	printf("bzboot: %d-bit entry, boot_params at 0x%lx\n", boot.entry_bits, boot.info_paddr);
	check(boot.proto == BOOT_LINUX, "not started through the Linux boot protocol");
	u64 want_entry = opt_u64("expect_entry", 0);
	if (want_entry)
		check((u64)boot.entry_bits == want_entry,
		      "entered through the %d-bit entry, expected %lu-bit", boot.entry_bits,
		      want_entry);
	check(boot.info_paddr < 0x100000 || boot.info_paddr >= (u64)_end,
	      "boot_params at 0x%lx inside the guest image", boot.info_paddr);

	/* The setup header copy (boot.rst, "Details of Header Fields"). */
	check(zp16(0x1fe) == 0xaa55, "boot_flag 0x%x", zp16(0x1fe));
	check(!memcmp(boot.zero_page + 0x202, "HdrS", 4), "no \"HdrS\" at 0x202");
	check(zp16(0x206) >= 0x020f, "protocol version 0x%x", zp16(0x206));
	u8 tol = boot.zero_page[0x210];
	printf("type_of_loader 0x%02x, loadflags 0x%02x\n", tol, boot.zero_page[0x211]);
	check(tol != 0, "type_of_loader is 0: the loader must set it");
	check(boot.zero_page[0x211] & 0x01, "LOADED_HIGH clear in loadflags");

	/* Command line. */
	u64 cl = zp32(0x228) | (u64)zp32(0x0c8) << 32;
	printf("cmd_line_ptr 0x%lx\n", cl);
	check(cl, "cmd_line_ptr is 0");
	printf("CMDLINE[%s]\n", boot.cmdline);
	check(strlen(boot.cmdline) <= zp32(0x238),
	      "command line longer than "
	      "cmdline_size %u",
	      zp32(0x238));
	u64 want_len = opt_u64("expect_cmdline_len", 0);
	if (want_len)
		check(strlen(boot.cmdline) == want_len, "command line is %lu bytes, expected %lu",
		      (u64)strlen(boot.cmdline), want_len);

	/* E820 (zero-page.rst: e820_entries 0x1e8, e820_table 0x2d0). */
	check(boot.zero_page[0x1e8] > 0 && boot.zero_page[0x1e8] <= 128, "e820_entries %u",
	      boot.zero_page[0x1e8]);
	memmap_check();

	check_initrd();

	const u8 *rsdp = acpi_rsdp();
	printf("RSDP: acpi_rsdp_addr 0x%lx, found at 0x%lx\n", boot.rsdp_paddr, (u64)rsdp);
}
