// SPDX-License-Identifier: MIT
/*
 * boot.c - runtime start, PASS/FAIL exit, boot information and command
 * line options.
 *
 * The boot information comes either from a Xen PVH struct hvm_start_info
 * (xen/include/public/arch-x86/hvm/start_info.h, version 1 adds the memory
 * map) or from a Linux struct boot_params, the "zero page"
 * (Documentation/x86/boot.rst and zero-page.rst).  Both are copied into
 * `boot` first thing, because the SMP trampoline and the tests may reuse
 * low memory afterwards.
 */
#include "guest.h"

struct boot_info boot;
static u64 tsc_at_boot;

void runtime_start(u32 proto, u64 info);
void cpu_tables_init(void);

#define PVH_MAGIC 0x336ec578

/* Offsets in struct hvm_start_info. */
#define HSI_MAGIC 0
#define HSI_VERSION 4
#define HSI_FLAGS 8
#define HSI_NR_MODULES 12
#define HSI_MODLIST 16
#define HSI_CMDLINE 24
#define HSI_RSDP 32
#define HSI_MEMMAP 40
#define HSI_MEMMAP_ENTRIES 48

/* Offsets in struct boot_params (zero-page.rst). */
#define BP_ACPI_RSDP 0x070
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_CMD_LINE_PTR 0x228
#define BP_E820_TABLE 0x2d0
#define BP_E820_MAX 128

static u32 rd32(const void *p, u32 off)
{
	u32 v;

	memcpy(&v, (const u8 *)p + off, 4);
	return v;
}

static u64 rd64(const void *p, u32 off)
{
	u64 v;

	memcpy(&v, (const u8 *)p + off, 8);
	return v;
}

/* Only the low 4 GiB are mapped; anything above is reported, not read. */
static bool paddr_ok(u64 addr, u64 len)
{
	return addr && addr < 4 * GiB && len <= 4 * GiB - addr;
}

static void copy_cmdline(u64 paddr)
{
	boot.cmdline_paddr = paddr;
	if (!paddr_ok(paddr, 1))
		return;
	const char *s = (const char *)paddr;
	size_t i;

	for (i = 0; i < CMDLINE_MAX - 1 && s[i]; i++)
		boot.cmdline[i] = s[i];
	boot.cmdline[i] = '\0';
}

static void parse_pvh(void)
{
	const u8 *hsi = (const u8 *)boot.info_paddr;

	if (!paddr_ok(boot.info_paddr, 56))
		return;
	boot.pvh_magic = rd32(hsi, HSI_MAGIC);
	boot.pvh_version = rd32(hsi, HSI_VERSION);
	if (boot.pvh_magic != PVH_MAGIC)
		return;
	boot.pvh_flags = rd32(hsi, HSI_FLAGS);
	boot.pvh_nr_modules = rd32(hsi, HSI_NR_MODULES);
	boot.pvh_modlist_paddr = rd64(hsi, HSI_MODLIST);
	copy_cmdline(rd64(hsi, HSI_CMDLINE));
	boot.rsdp_paddr = rd64(hsi, HSI_RSDP);
	if (boot.pvh_version < 1)
		return;
	u64 map = rd64(hsi, HSI_MEMMAP);
	u32 n = rd32(hsi, HSI_MEMMAP_ENTRIES);
	if (n > MAX_MEM_REGIONS)
		n = MAX_MEM_REGIONS;
	if (!paddr_ok(map, (u64)n * 24))
		return;
	for (u32 i = 0; i < n; i++) {
		const u8 *e = (const u8 *)map + i * 24;
		boot.mem[i].addr = rd64(e, 0);
		boot.mem[i].size = rd64(e, 8);
		boot.mem[i].type = rd32(e, 16);
	}
	boot.nr_mem = (int)n;
}

static void parse_linux(void)
{
	const u8 *bp = boot.zero_page;

	if (!paddr_ok(boot.info_paddr, 4096))
		return;
	memcpy(boot.zero_page, (const void *)boot.info_paddr, 4096);
	copy_cmdline(rd32(bp, BP_CMD_LINE_PTR) | (u64)rd32(bp, BP_EXT_CMD_LINE_PTR) << 32);
	boot.rsdp_paddr = rd64(bp, BP_ACPI_RSDP);
	u32 n = bp[BP_E820_ENTRIES];
	if (n > BP_E820_MAX)
		n = BP_E820_MAX;
	for (u32 i = 0; i < n; i++) {
		const u8 *e = bp + BP_E820_TABLE + i * 20;
		boot.mem[i].addr = rd64(e, 0);
		boot.mem[i].size = rd64(e, 8);
		boot.mem[i].type = rd32(e, 16);
	}
	boot.nr_mem = (int)n;
}

const char *e820_type_name(u32 type)
{
	switch (type) {
	case E820_RAM:
		return "RAM";
	case E820_RESERVED:
		return "reserved";
	case E820_ACPI:
		return "ACPI data";
	case E820_NVS:
		return "ACPI NVS";
	case E820_UNUSABLE:
		return "unusable";
	default:
		return "other";
	}
}

u64 mem_ram_total(void)
{
	u64 t = 0;

	for (int i = 0; i < boot.nr_mem; i++)
		if (boot.mem[i].type == E820_RAM)
			t += boot.mem[i].size;
	return t;
}

/* Finds "key=value" or "key" as a whole word of the command line. */
static const char *opt_find(const char *key, size_t *vlen)
{
	size_t klen = strlen(key);
	const char *p = boot.cmdline;

	while (*p) {
		while (*p == ' ')
			p++;
		const char *w = p;
		while (*p && *p != ' ')
			p++;
		if ((size_t)(p - w) >= klen && !strncmp(w, key, klen) &&
		    (w[klen] == '=' || w + klen == p)) {
			const char *v = w + klen + (w[klen] == '=');
			*vlen = (size_t)(p - v);
			return v;
		}
	}
	return NULL;
}

bool opt_str(const char *key, char *buf, size_t size)
{
	size_t n;
	const char *v = opt_find(key, &n);

	if (!v)
		return false;
	if (size) {
		if (n >= size)
			n = size - 1;
		memcpy(buf, v, n);
		buf[n] = '\0';
	}
	return true;
}

u64 opt_u64(const char *key, u64 def)
{
	size_t n;
	const char *v = opt_find(key, &n);

	if (!v || !n)
		return def;
	return str_to_u64(v, NULL);
}

bool opt_has(const char *key)
{
	size_t n;

	return opt_find(key, &n) != NULL;
}

NORETURN void guest_exit(u32 code)
{
	/* isa-debug-exit: the VMM exits with (code << 1) | 1. */
	outl(DEBUG_EXIT_PORT, code);
	halt_forever();
}

NORETURN void pass(void)
{
	printf("PASS\n");
	guest_exit(EXIT_PASS);
}

NORETURN void fail(const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	printf("FAIL: %s\n", buf);
	guest_exit(EXIT_FAIL);
}

u64 uptime_us(void)
{
	if (!tsc_khz)
		tsc_calibrate();
	return (rdtsc() - tsc_at_boot) * 1000 / tsc_khz;
}

void runtime_start(u32 proto, u64 info)
{
	tsc_at_boot = rdtsc();
	console_init();
	/* entry.S passes 3 for the 32-bit Linux entry (code32_start). */
	boot.entry_bits = proto == BOOT_LINUX ? 64 : 32;
	boot.proto = proto == BOOT_PVH ? BOOT_PVH : BOOT_LINUX;
	boot.info_paddr = info;
	if (boot.proto == BOOT_PVH)
		parse_pvh();
	else
		parse_linux();
	cpu_tables_init();
	/* The 8259s come out of reset with vector base 0: any IRQ they pass
	 * on (the PIT after tsc_calibrate, say) would look like an exception
	 * once IF is set.  Remap and mask them; tests use the IOAPIC. */
	pic_disable();
	have_madt = madt_parse(&madt);
	guest_main();
	pass();
}
