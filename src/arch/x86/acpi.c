// SPDX-License-Identifier: MIT
/*
 * ACPI tables for x86 guests (ACPI 6.4 chapter 5).  There is no firmware:
 * the VMM lays the tables out in a host buffer, fixes the pointers up for
 * their final guest addresses, checksums them and copies the whole image
 * into the reserved range at X86_ACPI_ADDR with one gmem_write().
 *
 * The DSDT is static AML compiled from dsdt.asl at build time; the only
 * runtime-dependent value in it, the 64-bit PCI window, is patched here.
 * Everything else that depends on the VM (CPU count, NUMA topology) lives
 * in the generated tables (MADT, SSDT, SRAT, SLIT).
 */
#include "arch/x86/acpi.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/dsdt_aml.h"
#include "arch/x86/x86.h"
#include "mem/gmem.h"
#include "util/log.h"
#include "util/util.h"

/*
 * Placeholder range of the QWordMemory descriptor in dsdt.asl, found and
 * replaced by acpi_patch_mmio64().
 */
#define ACPI_DSDT_MMIO64_MAGIC_MIN 0x00007e55e0000000ull
#define ACPI_DSDT_MMIO64_MAGIC_MAX 0x00007e56dfffffffull

/* A bump allocator over the image buffer. */
struct acpi_builder {
	uint8_t *buf;
	uint64_t base; /* guest address of buf[0] */
	uint32_t used;
	int err;
};

static void *acpi_alloc(struct acpi_builder *b, uint32_t len, uint32_t align, uint64_t *gpa)
{
	uint32_t off = ALIGN_UP(b->used, align);

	if (b->err || off > ACPI_TABLES_MAX || len > ACPI_TABLES_MAX - off) {
		b->err = -ENOSPC;
		return NULL;
	}
	b->used = off + len;
	*gpa = b->base + off;
	memset(b->buf + off, 0, len);
	return b->buf + off;
}

uint8_t acpi_checksum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum += p[i];
	return (uint8_t)(0 - sum);
}

size_t acpi_dsdt_size(void)
{
	return DSDT_AML_LEN;
}

/* Common header (ACPI 6.4 section 5.2.6); checksum filled by acpi_finish(). */
static void acpi_header(struct acpi_table_header *h, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(h->signature, sig, 4);
	h->length = len;
	h->revision = rev;
	memcpy(h->oem_id, ACPI_OEM_ID, 6);
	memcpy(h->oem_table_id, ACPI_OEM_TABLE_ID, 8);
	h->oem_revision = 1;
	memcpy(h->creator_id, ACPI_CREATOR_ID, 4);
	h->creator_revision = 1;
}

static void acpi_finish(struct acpi_table_header *h)
{
	h->checksum = 0;
	h->checksum = acpi_checksum(h, h->length);
}

static void acpi_gas_io(struct acpi_gas *g, uint16_t port, uint8_t bits, uint8_t access)
{
	g->space_id = ACPI_GAS_SYSTEM_IO;
	g->bit_width = bits;
	g->bit_offset = 0;
	g->access_size = access;
	g->address = port;
}

uint64_t acpi_pci_mmio64_start(const struct gmem *mem)
{
	struct gmem_region_info r;
	uint64_t end = X86_4G;

	gmem_for_each_region(mem, i, &r)
		end = MAX(end, r.gpa + r.size);
	return ALIGN_UP(end, GiB);
}

/*
 * Replace the placeholder 64-bit window in the DSDT's PCI0._CRS.  The
 * QWord Address Space Descriptor (ACPI 6.4 section 6.4.3.5.1) is: tag 0x8A,
 * length (2), resource type, general flags, type flags, granularity (8),
 * minimum (8), maximum (8), translation (8), length (8).
 */
static int acpi_patch_mmio64(uint8_t *dsdt, uint32_t len, uint64_t start, uint64_t size)
{
	uint64_t min = ACPI_DSDT_MMIO64_MAGIC_MIN, max = ACPI_DSDT_MMIO64_MAGIC_MAX;
	uint64_t end = start + size - 1;
	int found = 0;

	for (uint32_t i = 0; i + 46 <= len; i++) {
		if (dsdt[i] != 0x8a || dsdt[i + 1] != 43 || dsdt[i + 2] != 0 ||
		    memcmp(dsdt + i + 14, &min, 8) || memcmp(dsdt + i + 22, &max, 8))
			continue;
		memcpy(dsdt + i + 14, &start, 8);
		memcpy(dsdt + i + 22, &end, 8);
		memcpy(dsdt + i + 38, &size, 8);
		found++;
	}
	return found == 1 ? 0 : -EINVAL;
}

/* DSDT plus the FACS, which a non-hardware-reduced FADT needs. */
static int acpi_build_dsdt(struct acpi_builder *b, const struct gmem *mem, uint64_t *dsdt_gpa,
			   uint64_t *facs_gpa)
{
	struct acpi_facs *facs;
	uint8_t *dsdt;
	int ret;

	/* The FACS is 64-byte aligned (ACPI 6.4 section 5.2.10). */
	facs = acpi_alloc(b, sizeof(*facs), 64, facs_gpa);
	if (!facs)
		return b->err;
	memcpy(facs->signature, "FACS", 4);
	facs->length = sizeof(*facs);
	facs->version = 2;

	dsdt = acpi_alloc(b, DSDT_AML_LEN, 16, dsdt_gpa);
	if (!dsdt)
		return b->err;
	memcpy(dsdt, dsdt_aml, DSDT_AML_LEN);
	ret = acpi_patch_mmio64(dsdt, DSDT_AML_LEN, acpi_pci_mmio64_start(mem),
				X86_PCI_MMIO64_SIZE);
	if (ret) {
		log_err("acpi: DSDT has no 64-bit window placeholder");
		return ret;
	}
	acpi_finish((struct acpi_table_header *)dsdt);
	return 0;
}

/* Fixed ACPI Description Table, revision 6 (ACPI 6.4 section 5.2.9). */
static int acpi_build_fadt(struct acpi_builder *b, uint64_t dsdt, uint64_t facs, uint64_t *gpa)
{
	struct acpi_fadt *f = acpi_alloc(b, sizeof(*f), 16, gpa);

	if (!f)
		return b->err;
	acpi_header(&f->hdr, "FACP", sizeof(*f), 6);
	f->minor_version = 4;
	f->firmware_ctrl = (uint32_t)facs;
	f->x_firmware_ctrl = facs;
	f->dsdt = (uint32_t)dsdt;
	f->x_dsdt = dsdt;
	f->preferred_pm_profile = 0; /* unspecified */
	f->sci_int = X86_IRQ_SCI;
	/*
	 * No SMI command port: the machine is always in ACPI mode, SCI_EN is
	 * set at reset (section 4.8.2.5) and OSPM skips the handshake.
	 */
	f->smi_cmd = 0;
	f->pm1a_evt_blk = X86_PORT_PM1A_EVT;
	f->pm1a_cnt_blk = X86_PORT_PM1A_CNT;
	f->pm_tmr_blk = X86_PORT_PM_TMR;
	f->gpe0_blk = X86_PORT_GPE0;
	f->pm1_evt_len = 4;
	f->pm1_cnt_len = 2;
	f->pm_tmr_len = 4;
	f->gpe0_blk_len = 4;
	/* Latencies above 100 / 1000 us mean "C2 / C3 not supported". */
	f->p_lvl2_lat = 101;
	f->p_lvl3_lat = 1001;
	f->century = 0x32; /* CMOS century register */
	f->iapc_boot_arch = ACPI_FADT_LEGACY_DEVICES | ACPI_FADT_8042 | ACPI_FADT_NO_VGA;
	/*
	 * PWR_BUTTON (bit 4) clear: the power button is the fixed-feature
	 * one in PM1 (acpi_pm.c).  SLP_BUTTON set: there is no sleep button.
	 * FIX_RTC set: no RTC_STS wake event.  TMR_VAL_EXT: 32-bit PM timer.
	 */
	f->flags = ACPI_FADT_WBINVD | ACPI_FADT_C1_SUPPORTED | ACPI_FADT_SLEEP_BUTTON |
		   ACPI_FADT_FIXED_RTC | ACPI_FADT_32BIT_TIMER | ACPI_FADT_RESET_REGISTER;
	acpi_gas_io(&f->reset_reg, X86_PORT_RESET, 8, ACPI_GAS_ACCESS_BYTE);
	f->reset_value = 0x06; /* SYS_RST | RST_CPU: hard reset */
	acpi_gas_io(&f->x_pm1a_evt_blk, X86_PORT_PM1A_EVT, 32, ACPI_GAS_ACCESS_WORD);
	acpi_gas_io(&f->x_pm1a_cnt_blk, X86_PORT_PM1A_CNT, 16, ACPI_GAS_ACCESS_WORD);
	acpi_gas_io(&f->x_pm_tmr_blk, X86_PORT_PM_TMR, 32, ACPI_GAS_ACCESS_DWORD);
	acpi_gas_io(&f->x_gpe0_blk, X86_PORT_GPE0, 32, ACPI_GAS_ACCESS_BYTE);
	memcpy(f->hypervisor_id, "VESSEL\0\0", 8);
	acpi_finish(&f->hdr);
	return 0;
}

/*
 * Multiple APIC Description Table (ACPI 6.4 section 5.2.12).  vCPU i has
 * APIC ID i and ACPI processor UID i; IDs from 255 up need x2APIC entries
 * (0xff is the xAPIC broadcast ID).
 */
static int acpi_build_madt(struct acpi_builder *b, unsigned int ncpus, uint64_t *gpa)
{
	unsigned int nlapic = MIN(ncpus, 255u), nx2 = ncpus - nlapic;
	uint32_t len = sizeof(struct acpi_madt) + nlapic * sizeof(struct acpi_madt_lapic) +
		       nx2 * sizeof(struct acpi_madt_x2apic) + sizeof(struct acpi_madt_ioapic) +
		       2 * sizeof(struct acpi_madt_iso) + sizeof(struct acpi_madt_lapic_nmi) +
		       (nx2 ? sizeof(struct acpi_madt_x2apic_nmi) : 0);
	struct acpi_madt *m = acpi_alloc(b, len, 16, gpa);
	uint8_t *p;

	if (!m)
		return b->err;
	acpi_header(&m->hdr, "APIC", len, 5);
	m->lapic_addr = X86_LAPIC_ADDR;
	m->flags = ACPI_MADT_PCAT_COMPAT;
	p = (uint8_t *)(m + 1);

	for (unsigned int i = 0; i < nlapic; i++, p += sizeof(struct acpi_madt_lapic)) {
		struct acpi_madt_lapic *e = (void *)p;

		e->type = ACPI_MADT_TYPE_LAPIC;
		e->length = sizeof(*e);
		e->uid = i;
		e->apic_id = i;
		e->flags = ACPI_MADT_ENABLED;
	}
	for (unsigned int i = nlapic; i < ncpus; i++, p += sizeof(struct acpi_madt_x2apic)) {
		struct acpi_madt_x2apic *e = (void *)p;

		e->type = ACPI_MADT_TYPE_X2APIC;
		e->length = sizeof(*e);
		e->x2apic_id = i;
		e->flags = ACPI_MADT_ENABLED;
		e->uid = i;
	}

	struct acpi_madt_ioapic *io = (void *)p;

	io->type = ACPI_MADT_TYPE_IOAPIC;
	io->length = sizeof(*io);
	io->id = acpi_ioapic_id(ncpus);
	io->address = X86_IOAPIC_ADDR;
	io->gsi_base = 0;
	p += sizeof(*io);

	/* The PIT's IRQ0 is wired to IOAPIC input 2 on PCs (section 5.2.12.5). */
	struct acpi_madt_iso *iso = (void *)p;

	iso->type = ACPI_MADT_TYPE_ISO;
	iso->length = sizeof(*iso);
	iso->bus = 0;
	iso->source = X86_IRQ_PIT;
	iso->gsi = 2;
	iso->flags = ACPI_MPS_POLARITY_HIGH | ACPI_MPS_TRIGGER_EDGE;
	p += sizeof(*iso);

	/* The SCI is level-triggered, active-high (section 5.2.12.5). */
	iso = (void *)p;
	iso->type = ACPI_MADT_TYPE_ISO;
	iso->length = sizeof(*iso);
	iso->bus = 0;
	iso->source = X86_IRQ_SCI;
	iso->gsi = X86_IRQ_SCI;
	iso->flags = ACPI_MPS_POLARITY_HIGH | ACPI_MPS_TRIGGER_LEVEL;
	p += sizeof(*iso);

	/* NMI on LINT1 of every local APIC (section 5.2.12.7). */
	struct acpi_madt_lapic_nmi *nmi = (void *)p;

	nmi->type = ACPI_MADT_TYPE_LAPIC_NMI;
	nmi->length = sizeof(*nmi);
	nmi->uid = 0xff;
	nmi->flags = 0;
	nmi->lint = 1;
	p += sizeof(*nmi);

	if (nx2) {
		struct acpi_madt_x2apic_nmi *x = (void *)p;

		x->type = ACPI_MADT_TYPE_X2APIC_NMI;
		x->length = sizeof(*x);
		x->uid = 0xffffffff;
		x->lint = 1;
	}
	acpi_finish(&m->hdr);
	return 0;
}

/*
 * AML encoding helpers for the one table generated at run time (ACPI 6.4
 * chapter 20).  PkgLength (section 20.2.4) counts itself: one byte for
 * totals below 64, else a lead byte holding the count of following bytes
 * and the low nibble, then the higher bits 8 at a time.
 */
static unsigned int aml_pkglen_size(uint32_t body)
{
	if (body + 1 < 64)
		return 1;
	if (body + 2 < (1u << 12))
		return 2;
	if (body + 3 < (1u << 20))
		return 3;
	return 4;
}

static uint8_t *aml_pkglen(uint8_t *p, uint32_t body)
{
	unsigned int n = aml_pkglen_size(body);
	uint32_t total = body + n;

	if (n == 1) {
		*p++ = (uint8_t)total;
		return p;
	}
	*p++ = (uint8_t)(((n - 1) << 6) | (total & 0xf));
	total >>= 4;
	for (unsigned int i = 1; i < n; i++, total >>= 8)
		*p++ = (uint8_t)total;
	return p;
}

/* Device (Cxxx) { Name (_HID, "ACPI0007") Name (_UID, uid) Name (_STA, 0x0F) } */
#define AML_CPU_BODY (4 + 15 + 10 + 7)

static uint8_t *aml_cpu_device(uint8_t *p, unsigned int uid)
{
	static const char hex[] = "0123456789ABCDEF";

	*p++ = 0x5b; /* ExtOpPrefix */
	*p++ = 0x82; /* DeviceOp */
	p = aml_pkglen(p, AML_CPU_BODY);
	*p++ = 'C';
	*p++ = hex[(uid >> 8) & 0xf];
	*p++ = hex[(uid >> 4) & 0xf];
	*p++ = hex[uid & 0xf];
	memcpy(p,
	       "\x08_HID\x0d"
	       "ACPI0007",
	       14); /* NameOp, StringPrefix */
	p += 14;
	*p++ = 0;
	memcpy(p, "\x08_UID\x0c", 6); /* NameOp, DWordPrefix */
	p += 6;
	memcpy(p, &uid, 4);
	p += 4;
	memcpy(p, "\x08_STA\x0a\x0f", 7); /* NameOp, BytePrefix 0x0F */
	return p + 7;
}

/*
 * SSDT with one processor device (ACPI0007, ACPI 6.4 section 8.4) per
 * vCPU under \_SB, _UID matching the MADT's ACPI Processor UID, so OSPM
 * can bind its processor driver.  The count is only known at run time,
 * hence generated AML rather than part of dsdt.asl.
 */
static int acpi_build_ssdt(struct acpi_builder *b, unsigned int ncpus, uint64_t *gpa)
{
	uint32_t dev = 2 + aml_pkglen_size(AML_CPU_BODY) + AML_CPU_BODY;
	uint32_t scope_body = 5 + ncpus * dev; /* "\_SB_" and the devices */
	uint32_t len =
		sizeof(struct acpi_table_header) + 1 + aml_pkglen_size(scope_body) + scope_body;
	struct acpi_table_header *h = acpi_alloc(b, len, 16, gpa);
	uint8_t *p;

	if (!h)
		return b->err;
	acpi_header(h, "SSDT", len, 2);
	memcpy(h->oem_table_id, "VESSELCP", 8);
	p = (uint8_t *)(h + 1);
	*p++ = 0x10; /* ScopeOp */
	p = aml_pkglen(p, scope_body);
	memcpy(p, "\\_SB_", 5); /* RootChar, NameSeg */
	p += 5;
	for (unsigned int i = 0; i < ncpus; i++)
		p = aml_cpu_device(p, i);
	if (p != (uint8_t *)h + len)
		return -EFAULT;
	acpi_finish(h);
	return 0;
}

/* PCI Express memory-mapped configuration (PCI Firmware 3.2 section 4.1.2). */
static int acpi_build_mcfg(struct acpi_builder *b, uint64_t *gpa)
{
	struct acpi_mcfg *m = acpi_alloc(b, sizeof(*m), 16, gpa);

	if (!m)
		return b->err;
	acpi_header(&m->hdr, "MCFG", sizeof(*m), 1);
	m->alloc.base = X86_PCI_ECAM_START;
	m->alloc.segment = 0;
	m->alloc.start_bus = 0;
	m->alloc.end_bus = X86_PCI_LAST_BUS;
	acpi_finish(&m->hdr);
	return 0;
}

/* The guest node that vCPU `cpu` belongs to; unlisted vCPUs go to node 0. */
static unsigned int acpi_cpu_node(const struct x86_boot_spec *spec, unsigned int cpu)
{
	for (unsigned int n = 0; n < spec->nr_numa_nodes; n++)
		if (spec->numa_nodes[n].cpus[cpu / 64] & (1ull << (cpu % 64)))
			return n;
	return 0;
}

/*
 * System Resource Affinity Table (ACPI 6.4 section 5.2.16).  Guest RAM is
 * handed to the nodes in address order, node 0 first: the regions of gmem
 * (low RAM from 0, then RAM above 4 GiB) are walked and cut by the node
 * sizes, so a node may get a piece below and a piece above the PCI hole.
 * The last node also takes any RAM the node sizes do not account for.
 */
static int acpi_build_srat(struct acpi_builder *b, const struct gmem *mem,
			   const struct x86_boot_spec *spec, uint64_t *gpa)
{
	unsigned int nn = spec->nr_numa_nodes, ncpus = spec->nr_cpus, nmem = 0;
	struct acpi_srat_mem ranges[GMEM_MAX_REGIONS + X86_MAX_NUMA_NODES];
	struct gmem_region_info reg;
	unsigned int node = 0;
	uint64_t node_left = spec->numa_nodes[0].mem_size;

	/* gmem walks its regions in address order; only RAM is in the SRAT. */
	gmem_for_each_region(mem, r, &reg) {
		uint64_t addr = reg.gpa, left = reg.size;

		if (reg.kind != GMEM_RAM)
			continue;

		while (left) {
			while (node + 1 < nn && node_left == 0)
				node_left = spec->numa_nodes[++node].mem_size;
			uint64_t take = node + 1 == nn ? left : MIN(left, node_left);

			if (nmem == ARRAY_SIZE(ranges))
				return -E2BIG;
			memset(&ranges[nmem], 0, sizeof(ranges[nmem]));
			ranges[nmem].type = ACPI_SRAT_TYPE_MEMORY;
			ranges[nmem].length = sizeof(ranges[nmem]);
			ranges[nmem].proximity = node;
			ranges[nmem].base_lo = (uint32_t)addr;
			ranges[nmem].base_hi = (uint32_t)(addr >> 32);
			ranges[nmem].length_lo = (uint32_t)take;
			ranges[nmem].length_hi = (uint32_t)(take >> 32);
			ranges[nmem].flags = ACPI_SRAT_ENABLED;
			nmem++;
			addr += take;
			left -= take;
			node_left -= MIN(node_left, take);
		}
	}

	unsigned int nlapic = MIN(ncpus, 255u), nx2 = ncpus - nlapic;
	uint32_t len = sizeof(struct acpi_srat) + nlapic * sizeof(struct acpi_srat_cpu) +
		       nx2 * sizeof(struct acpi_srat_x2apic) + nmem * sizeof(struct acpi_srat_mem);
	struct acpi_srat *s = acpi_alloc(b, len, 16, gpa);
	uint8_t *p;

	if (!s)
		return b->err;
	acpi_header(&s->hdr, "SRAT", len, 3);
	s->reserved1 = 1; /* "must be 1" for backward compatibility */
	p = (uint8_t *)(s + 1);
	for (unsigned int i = 0; i < nlapic; i++, p += sizeof(struct acpi_srat_cpu)) {
		struct acpi_srat_cpu *c = (void *)p;
		unsigned int n = acpi_cpu_node(spec, i);

		c->type = ACPI_SRAT_TYPE_CPU;
		c->length = sizeof(*c);
		c->proximity_lo = n & 0xff;
		c->apic_id = i;
		c->flags = ACPI_SRAT_ENABLED;
		c->proximity_hi[0] = (n >> 8) & 0xff;
		c->proximity_hi[1] = (n >> 16) & 0xff;
		c->proximity_hi[2] = (n >> 24) & 0xff;
	}
	for (unsigned int i = nlapic; i < ncpus; i++, p += sizeof(struct acpi_srat_x2apic)) {
		struct acpi_srat_x2apic *c = (void *)p;

		c->type = ACPI_SRAT_TYPE_X2APIC;
		c->length = sizeof(*c);
		c->proximity = acpi_cpu_node(spec, i);
		c->x2apic_id = i;
		c->flags = ACPI_SRAT_ENABLED;
	}
	memcpy(p, ranges, nmem * sizeof(ranges[0]));
	acpi_finish(&s->hdr);
	return 0;
}

/*
 * System Locality Distance Information Table (ACPI 6.4 section 5.2.17).
 * A zero distance in the config means "default": 10 local, 20 remote.
 */
static int acpi_build_slit(struct acpi_builder *b, const struct x86_boot_spec *spec, uint64_t *gpa)
{
	unsigned int nn = spec->nr_numa_nodes;
	uint32_t len = sizeof(struct acpi_slit) + nn * nn;
	struct acpi_slit *s = acpi_alloc(b, len, 16, gpa);

	if (!s)
		return b->err;
	acpi_header(&s->hdr, "SLIT", len, 1);
	s->localities = nn;
	for (unsigned int i = 0; i < nn; i++)
		for (unsigned int j = 0; j < nn; j++) {
			uint8_t d = spec->numa_nodes[i].distance[j];

			if (i == j)
				d = 10; /* the diagonal is 10 by definition */
			else if (d == 0)
				d = 20;
			s->entry[i * nn + j] = d;
		}
	acpi_finish(&s->hdr);
	return 0;
}

/* RSDP (section 5.2.5.3), RSDT (5.2.7) and XSDT (5.2.8) over the tables. */
static int acpi_build_roots(struct acpi_builder *b, uint64_t rsdp_gpa, const uint64_t *tables,
			    unsigned int n)
{
	struct acpi_rsdp *rsdp = (struct acpi_rsdp *)(b->buf + (rsdp_gpa - b->base));
	uint64_t xsdt_gpa, rsdt_gpa;
	struct acpi_table_header *x, *r;

	x = acpi_alloc(b, sizeof(*x) + 8 * n, 16, &xsdt_gpa);
	r = acpi_alloc(b, sizeof(*r) + 4 * n, 16, &rsdt_gpa);
	if (!x || !r)
		return b->err;
	acpi_header(x, "XSDT", sizeof(*x) + 8 * n, 1);
	acpi_header(r, "RSDT", sizeof(*r) + 4 * n, 1);
	for (unsigned int i = 0; i < n; i++) {
		uint32_t t32 = (uint32_t)tables[i];

		memcpy((uint8_t *)(x + 1) + 8 * i, &tables[i], 8);
		memcpy((uint8_t *)(r + 1) + 4 * i, &t32, 4);
	}
	acpi_finish(x);
	acpi_finish(r);

	memcpy(rsdp->signature, "RSD PTR ", 8);
	memcpy(rsdp->oem_id, ACPI_OEM_ID, 6);
	rsdp->revision = 2;
	rsdp->rsdt_address = (uint32_t)rsdt_gpa;
	rsdp->length = sizeof(*rsdp);
	rsdp->xsdt_address = xsdt_gpa;
	/* The first checksum covers the ACPI 1.0 part (20 bytes). */
	rsdp->checksum = acpi_checksum(rsdp, 20);
	rsdp->ext_checksum = acpi_checksum(rsdp, sizeof(*rsdp));
	return 0;
}

int acpi_build_image(const struct gmem *mem, const struct x86_boot_spec *spec, uint8_t *buf,
		     uint64_t base)
{
	struct acpi_builder b = { .buf = buf, .base = base };
	uint64_t rsdp, dsdt, facs, tables[6];
	unsigned int n = 0;
	int ret;

	if (!spec->nr_cpus || spec->nr_cpus > X86_MAX_VCPUS ||
	    spec->nr_numa_nodes > X86_MAX_NUMA_NODES || base + ACPI_TABLES_MAX > X86_4G)
		return -EINVAL;
	/* RSDP first, 16-byte aligned, so the legacy scan finds it (5.2.5.1). */
	if (!acpi_alloc(&b, sizeof(struct acpi_rsdp), 16, &rsdp))
		return b.err;
	ret = acpi_build_dsdt(&b, mem, &dsdt, &facs);
	if (!ret)
		ret = acpi_build_fadt(&b, dsdt, facs, &tables[n++]);
	if (!ret)
		ret = acpi_build_madt(&b, spec->nr_cpus, &tables[n++]);
	if (!ret)
		ret = acpi_build_mcfg(&b, &tables[n++]);
	if (!ret)
		ret = acpi_build_ssdt(&b, spec->nr_cpus, &tables[n++]);
	if (!ret && spec->nr_numa_nodes) {
		ret = acpi_build_srat(&b, mem, spec, &tables[n++]);
		if (!ret)
			ret = acpi_build_slit(&b, spec, &tables[n++]);
	}
	if (!ret)
		ret = acpi_build_roots(&b, rsdp, tables, n);
	return ret ? ret : (int)b.used;
}

int acpi_build_tables(struct gmem *mem, const struct x86_boot_spec *spec, uint64_t *rsdp_gpa)
{
	uint8_t *buf = calloc(1, ACPI_TABLES_MAX);
	int ret;

	if (!buf)
		return -ENOMEM;
	ret = acpi_build_image(mem, spec, buf, X86_ACPI_ADDR);
	if (ret >= 0) {
		log_debug("acpi: %d bytes of tables at 0x%llx", ret,
			  (unsigned long long)X86_ACPI_ADDR);
		ret = gmem_write(mem, X86_ACPI_ADDR, buf, (uint64_t)ret);
		if (!ret && rsdp_gpa)
			*rsdp_gpa = X86_ACPI_ADDR;
	}
	free(buf);
	return ret < 0 ? ret : 0;
}

/* Sizes fixed by the specification. */
_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP");
_Static_assert(sizeof(struct acpi_table_header) == 36, "header");
_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT");
_Static_assert(sizeof(struct acpi_facs) == 64, "FACS");
_Static_assert(sizeof(struct acpi_madt_lapic) == 8, "MADT LAPIC");
_Static_assert(sizeof(struct acpi_madt_x2apic) == 16, "MADT x2APIC");
_Static_assert(sizeof(struct acpi_madt_ioapic) == 12, "MADT IOAPIC");
_Static_assert(sizeof(struct acpi_madt_iso) == 10, "MADT ISO");
_Static_assert(sizeof(struct acpi_madt_lapic_nmi) == 6, "MADT NMI");
_Static_assert(sizeof(struct acpi_madt_x2apic_nmi) == 12, "MADT x2APIC NMI");
_Static_assert(sizeof(struct acpi_mcfg) == 60, "MCFG");
_Static_assert(sizeof(struct acpi_srat) == 48, "SRAT");
_Static_assert(sizeof(struct acpi_srat_cpu) == 16, "SRAT CPU");
_Static_assert(sizeof(struct acpi_srat_mem) == 40, "SRAT memory");
_Static_assert(sizeof(struct acpi_srat_x2apic) == 24, "SRAT x2APIC");
