// SPDX-License-Identifier: MIT
/*
 * acpi.c - ACPI tables (ACPI 6.4 chapter 5), S5 power off and reset, and
 * the Intel MultiProcessor Specification 1.4 table.  Every table is
 * checksum-verified before use; only tables below 4 GiB (the identity
 * map) are read.
 */
#include "guest.h"

struct madt_info madt;
bool have_madt;

u8 checksum8(const void *p, size_t n)
{
	const u8 *b = p;
	u8 s = 0;

	while (n--)
		s = (u8)(s + *b++);
	return s;
}

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

static bool mapped(u64 addr, u64 len)
{
	return addr && addr < 4 * GiB && len <= 4 * GiB - addr;
}

/* RSDP (section 5.2.5.3): 20 bytes checksummed, 36 with the extended
 * checksum when revision >= 2. */
static bool rsdp_valid(u64 a)
{
	const u8 *p = (const u8 *)a;

	if (!mapped(a, 36) || memcmp(p, "RSD PTR ", 8) || checksum8(p, 20))
		return false;
	if (p[15] >= 2 && checksum8(p, 36))
		return false;
	return true;
}

static u64 scan(u64 start, u64 end, bool (*ok)(u64))
{
	for (u64 a = start; a + 16 <= end; a += 16)
		if (ok(a))
			return a;
	return 0;
}

static u64 ebda_base(void)
{
	u64 e = (u64) * (volatile u16 *)phys(0x40e) << 4;

	return e >= 0x80000 && e < 0xa0000 ? e : 0;
}

const void *acpi_rsdp(void)
{
	static u64 cached;
	u64 a;

	if (cached)
		return (const void *)cached;
	if (boot.rsdp_paddr && rsdp_valid(boot.rsdp_paddr)) {
		cached = boot.rsdp_paddr;
		return (const void *)cached;
	}
	/* Section 5.2.5.1: first KiB of the EBDA, then 0xE0000-0xFFFFF. */
	a = ebda_base() ? scan(ebda_base(), ebda_base() + 1024, rsdp_valid) : 0;
	if (!a)
		a = scan(0xe0000, 0x100000, rsdp_valid);
	cached = a;
	return (const void *)a;
}

static const struct acpi_header *table_at(u64 a)
{
	const struct acpi_header *t = (const void *)a;

	if (!mapped(a, sizeof(*t)) || t->length < sizeof(*t) || t->length > 16 * MiB ||
	    !mapped(a, t->length))
		return NULL;
	if (checksum8(t, t->length)) {
		char sig[5] = { t->sig[0], t->sig[1], t->sig[2], t->sig[3], 0 };
		printf("acpi: %s at 0x%lx: bad checksum\n", sig, a);
		return NULL;
	}
	return t;
}

/* XSDT (section 5.2.8) if revision >= 2, else RSDT (5.2.7). */
static const struct acpi_header *root_table(bool *x)
{
	const u8 *r = acpi_rsdp();

	if (!r)
		return NULL;
	*x = r[15] >= 2 && rd64(r, 24);
	return table_at(*x ? rd64(r, 24) : rd32(r, 16));
}

int acpi_for_each(void (*fn)(const struct acpi_header *t, void *ctx), void *ctx)
{
	bool x;
	const struct acpi_header *root = root_table(&x);
	int n = 0;

	if (!root)
		return 0;
	u32 esz = x ? 8 : 4;
	u32 cnt = (root->length - 36) / esz;
	for (u32 i = 0; i < cnt; i++) {
		u64 a = x ? rd64(root, 36 + i * 8) : rd32(root, 36 + i * 4);
		const struct acpi_header *t = table_at(a);
		if (t) {
			if (fn)
				fn(t, ctx);
			n++;
		}
	}
	return n;
}

const struct acpi_header *acpi_find(const char *sig, int index)
{
	bool x;
	const struct acpi_header *root;

	if (!strcmp(sig, "DSDT")) {
		/* FADT X_DSDT (offset 140) or DSDT (offset 40). */
		const struct acpi_header *f = acpi_find("FACP", 0);
		if (!f)
			return NULL;
		u64 a = f->length >= 148 ? rd64(f, 140) : 0;
		if (!a)
			a = rd32(f, 40);
		return table_at(a);
	}
	root = root_table(&x);
	if (!root)
		return NULL;
	u32 esz = x ? 8 : 4;
	u32 cnt = (root->length - 36) / esz;
	for (u32 i = 0; i < cnt; i++) {
		u64 a = x ? rd64(root, 36 + i * 8) : rd32(root, 36 + i * 4);
		const struct acpi_header *t = (const void *)a;
		if (!mapped(a, 4) || memcmp(t->sig, sig, 4))
			continue;
		if (index-- == 0)
			return table_at(a);
	}
	return NULL;
}

bool madt_parse(struct madt_info *m)
{
	const struct acpi_header *t = acpi_find("APIC", 0);

	memset(m, 0, sizeof(*m));
	if (!t || t->length < 44)
		return false;
	const u8 *p = (const u8 *)t;
	m->lapic_addr = rd32(p, 36);
	m->flags = rd32(p, 40);
	for (u32 off = 44; off + 2 <= t->length;) {
		u8 type = p[off], len = p[off + 1];
		if (len < 2 || off + len > t->length)
			break;
		const u8 *e = p + off;
		switch (type) {
		case 0: /* Processor Local APIC (5.2.12.2) */
			if (len >= 8 && (rd32(e, 4) & 1) && m->nr_cpus < MAX_CPUS)
				m->apic_ids[m->nr_cpus++] = e[3];
			break;
		case 1: /* I/O APIC (5.2.12.3) */
			if (len >= 12 && m->nr_ioapics < 8) {
				m->ioapic_id[m->nr_ioapics] = e[2];
				m->ioapic_addr[m->nr_ioapics] = rd32(e, 4);
				m->ioapic_gsi_base[m->nr_ioapics] = rd32(e, 8);
				m->nr_ioapics++;
			}
			break;
		case 2: /* Interrupt Source Override (5.2.12.5) */
			if (len >= 10 && m->nr_overrides < 16) {
				m->overrides[m->nr_overrides].irq = e[3];
				m->overrides[m->nr_overrides].gsi = rd32(e, 4);
				m->overrides[m->nr_overrides].flags = (u16)(e[8] | e[9] << 8);
				m->nr_overrides++;
			}
			break;
		case 5: /* Local APIC Address Override (5.2.12.8) */
			if (len >= 12)
				m->lapic_addr = rd64(e, 4);
			break;
		case 9: /* Processor Local x2APIC (5.2.12.12) */
			if (len >= 16 && (rd32(e, 8) & 1) && m->nr_cpus < MAX_CPUS)
				m->apic_ids[m->nr_cpus++] = rd32(e, 4);
			break;
		}
		off += len;
	}
	return true;
}

const struct mcfg_entry *mcfg_find(int segment)
{
	const struct acpi_header *t = acpi_find("MCFG", 0);

	if (!t)
		return NULL;
	/* PCI Firmware spec 3.2 section 4.1.2: 8 reserved bytes, then
	 * 16-byte allocation entries. */
	for (u32 off = 44; off + 16 <= t->length; off += 16) {
		const struct mcfg_entry *e = (const void *)((const u8 *)t + off);
		if (e->segment == segment)
			return e;
	}
	return NULL;
}

/* AML (ACPI 6.4 section 20.2): NameOp "_S5_" PackageOp PkgLength
 * NumElements {BytePrefix n | ZeroOp | OneOp | n}... */
static bool aml_int(const u8 **pp, const u8 *end, u8 *v)
{
	const u8 *p = *pp;

	if (p >= end)
		return false;
	if (*p == 0x0a) { /* BytePrefix */
		if (p + 1 >= end)
			return false;
		*v = p[1];
		*pp = p + 2;
	} else if (*p == 0x0b || *p == 0x0c) { /* Word/DWordPrefix */
		if (p + 1 >= end)
			return false;
		*v = p[1];
		*pp = p + (*p == 0x0b ? 3 : 5);
	} else if (*p == 0x00 || *p == 0x01) { /* ZeroOp, OneOp */
		*v = *p;
		*pp = p + 1;
	} else {
		*v = *p;
		*pp = p + 1;
	}
	return true;
}

bool acpi_s5(u8 *typa, u8 *typb)
{
	const struct acpi_header *d = acpi_find("DSDT", 0);

	if (!d)
		return false;
	const u8 *p = (const u8 *)d + sizeof(*d), *end = (const u8 *)d + d->length;
	for (; p + 5 < end; p++) {
		if (memcmp(p, "_S5_", 4) || p[4] != 0x12)
			continue;
		if (!(p[-1] == 0x08 || (p[-1] == '\\' && p[-2] == 0x08)))
			continue;
		const u8 *q = p + 5;
		q += 1 + (*q >> 6); /* PkgLength */
		q++;		    /* NumElements */
		if (!aml_int(&q, end, typa))
			return false;
		if (!aml_int(&q, end, typb))
			*typb = 0;
		return true;
	}
	return false;
}

/* Generic Address Structure write (section 5.2.3.2): memory or I/O. */
static bool gas_write(const struct acpi_gas *g, u64 v, unsigned bytes)
{
	if (!g->address)
		return false;
	if (g->access_size >= 1 && g->access_size <= 4)
		bytes = 1u << (g->access_size - 1);
	if (g->space == 1) {
		u16 port = (u16)g->address;
		if (bytes == 1)
			outb(port, (u8)v);
		else if (bytes == 2)
			outw(port, (u16)v);
		else
			outl(port, (u32)v);
		return true;
	}
	if (g->space == 0 && mapped(g->address, bytes)) {
		if (bytes == 1)
			*(volatile u8 *)g->address = (u8)v;
		else if (bytes == 2)
			*(volatile u16 *)g->address = (u16)v;
		else
			*(volatile u32 *)g->address = (u32)v;
		return true;
	}
	if (g->space == 2) {
		/* PCI config space of bus 0: device at bits 32-47, function
		 * at 16-31, register at 0-15. */
		u8 dev = (u8)(g->address >> 32), fn = (u8)(g->address >> 16);
		u16 reg = (u16)g->address;
		outl(0xcf8, 0x80000000u | (u32)dev << 11 | (u32)fn << 8 | (reg & 0xfc));
		outb((u16)(0xcfc + (reg & 3)), (u8)v);
		return true;
	}
	return false;
}

void acpi_poweroff(char *why, size_t size)
{
	const u8 *f = (const u8 *)acpi_find("FACP", 0);
	u8 typa, typb;

	if (!f) {
		snprintf(why, size, "no FADT");
		return;
	}
	if (!acpi_s5(&typa, &typb)) {
		snprintf(why, size, "no \\_S5 package in the DSDT");
		return;
	}
	u32 len = ((const struct acpi_header *)f)->length;
	u32 flags = rd32(f, 112);
	/* Hardware-reduced ACPI (flags bit 20): SLEEP_CONTROL_REG at 244
	 * takes SLP_TYP in bits 2-4 and SLP_EN in bit 5 (section 4.8.3.7). */
	if ((flags & (1u << 20)) && len >= 256) {
		struct acpi_gas g;
		memcpy(&g, f + 244, sizeof(g));
		if (gas_write(&g, (u64)((typa & 7) << 2 | 0x20), 1)) {
			udelay(100000);
			snprintf(why, size, "still running after SLEEP_CONTROL_REG write");
			return;
		}
	}
	/* Switch to ACPI mode if SCI_EN is clear and SMI_CMD exists
	 * (section 16.3.1); harmless where the VMM ignores it. */
	u32 pm1a = rd32(f, 64), pm1b = rd32(f, 68);
	if (len >= 184) {
		struct acpi_gas g;
		memcpy(&g, f + 172, sizeof(g));
		if (g.address && g.space == 1)
			pm1a = (u32)g.address;
	}
	if (!pm1a) {
		snprintf(why, size, "FADT has no PM1a_CNT_BLK");
		return;
	}
	u32 smi_cmd = rd32(f, 48);
	u8 acpi_enable = f[52];
	if (smi_cmd && acpi_enable && !(inw((u16)pm1a) & 1)) {
		outb((u16)smi_cmd, acpi_enable);
		for (int i = 0; i < 100 && !(inw((u16)pm1a) & 1); i++)
			udelay(1000);
	}
	/* PM1 control: SLP_TYP bits 10-12, SLP_EN bit 13 (section 4.8.3.2.1). */
	outw((u16)pm1a, (u16)((typa & 7) << 10 | 1u << 13));
	if (pm1b)
		outw((u16)pm1b, (u16)((typb & 7) << 10 | 1u << 13));
	udelay(100000);
	snprintf(why, size, "still running 100 ms after S5 (PM1a_CNT=0x%x SLP_TYP=%u)", pm1a, typa);
}

NORETURN void i8042_reset(void)
{
	/* Pulse the CPU reset line: 8042 command 0xFE (wait for the input
	 * buffer to drain first, status bit 1). */
	for (int i = 0; i < 10000 && (inb(0x64) & 0x02); i++)
		;
	outb(0x64, 0xfe);
	udelay(100000);
	fail("still running 100 ms after i8042 reset");
}

NORETURN void acpi_reset(void)
{
	const u8 *f = (const u8 *)acpi_find("FACP", 0);

	/* RESET_REG_SUP is flags bit 10; RESET_REG at 116, value at 128. */
	if (f && ((const struct acpi_header *)f)->length >= 129 && (rd32(f, 112) & (1u << 10))) {
		struct acpi_gas g;
		memcpy(&g, f + 116, sizeof(g));
		if (gas_write(&g, f[128], 1))
			udelay(100000);
	}
	i8042_reset();
}

/* ---- MP spec 1.4 --------------------------------------------------------- */

/* Floating pointer (section 4.1): "_MP_", length in paragraphs at 8. */
static bool mpfp_valid(u64 a)
{
	const u8 *p = (const u8 *)a;

	return !memcmp(p, "_MP_", 4) && p[8] == 1 && !checksum8(p, 16);
}

bool mptable_parse(struct mp_info *mp, char *why, size_t size)
{
	u64 a = 0;

	memset(mp, 0, sizeof(*mp));
	/* Section 4: first KiB of the EBDA, last KiB of base memory,
	 * or the BIOS ROM 0xF0000-0xFFFFF. */
	if (ebda_base())
		a = scan(ebda_base(), ebda_base() + 1024, mpfp_valid);
	if (!a)
		a = scan(0x9fc00, 0xa0000, mpfp_valid);
	if (!a)
		a = scan(0xf0000, 0x100000, mpfp_valid);
	if (!a) {
		snprintf(why, size, "no MP floating pointer structure");
		return false;
	}
	const u8 *fp = (const u8 *)a;
	mp->fp_addr = a;
	mp->spec_rev = fp[9];
	mp->table_addr = rd32(fp, 4);
	if (!mp->table_addr) {
		snprintf(why, size, "MP default configuration %u (no table)", fp[11]);
		return false;
	}
	const u8 *t = (const u8 *)mp->table_addr;
	if (!mapped(mp->table_addr, 44) || memcmp(t, "PCMP", 4)) {
		snprintf(why, size, "MP configuration table at 0x%lx: bad signature",
			 mp->table_addr);
		return false;
	}
	u16 len = (u16)(t[4] | t[5] << 8);
	if (len < 44 || checksum8(t, len)) {
		snprintf(why, size, "MP configuration table: bad length or checksum");
		return false;
	}
	u16 count = (u16)(t[34] | t[35] << 8);
	mp->lapic_addr = rd32(t, 36);
	mp->bsp_index = -1;
	u32 off = 44;
	for (u16 i = 0; i < count; i++) {
		if (off >= len) {
			snprintf(why, size, "MP entry %u past the table end", i);
			return false;
		}
		u8 type = t[off];
		if (type == 0) { /* Processor, 20 bytes */
			if (off + 20 > len)
				break;
			if ((t[off + 3] & 1) && mp->nr_cpus < MAX_CPUS) {
				if (t[off + 3] & 2)
					mp->bsp_index = mp->nr_cpus;
				mp->apic_ids[mp->nr_cpus++] = t[off + 1];
			}
			off += 20;
		} else if (type <= 4) { /* bus, IOAPIC, interrupts: 8 */
			if (type == 2 && (t[off + 3] & 1))
				mp->nr_ioapics++;
			off += 8;
		} else {
			snprintf(why, size, "MP entry type %u unknown", type);
			return false;
		}
	}
	return true;
}
