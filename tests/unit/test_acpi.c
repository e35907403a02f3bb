// SPDX-License-Identifier: MIT
/*
 * ACPI table builder (src/arch/x86/acpi.c) against a fake guest memory:
 * structure, checksums and cross-references of every table, then a round
 * trip through `iasl -d` to have ACPICA's own table parsers check them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch/x86/acpi.h"
#include "arch/x86/layout.h"
#include "mem/gmem.h"
#include "util/util.h"
#include "arch/x86/x86.h"

#define LOW_SIZE (2 * MiB)

struct fake {
	struct gmem mem;
	struct x86_boot_spec *cfg;
	uint8_t *ram;
};

/* The first region: `size` bytes at gpa, of which 2 MiB are backed. */
static void fake_set_low(struct fake *f, uint64_t gpa, uint64_t size)
{
	gmem_destroy(&f->mem);
	gmem_init(&f->mem, NULL);
	assert_int_equal(gmem_add_mapped(&f->mem, gpa, size, f->ram, -1, 0), 0);
}

/* Guest memory by hand: 2 MiB of real RAM at 0 and, optionally, regions
 * that only exist as metadata (SRAT reads their ranges, nothing writes:
 * they all name the 2 MiB buffer as their host memory). */
static void fake_init(struct fake *f, unsigned int ncpus)
{
	memset(f, 0, sizeof(*f));
	f->ram = calloc(1, LOW_SIZE);
	f->cfg = calloc(1, sizeof(*f->cfg));
	assert_non_null(f->ram);
	assert_non_null(f->cfg);
	gmem_init(&f->mem, NULL);
	fake_set_low(f, 0, LOW_SIZE);
	f->cfg->nr_cpus = ncpus;
	f->cfg->mem_size = LOW_SIZE;
}

static void fake_add_region(struct fake *f, uint64_t gpa, uint64_t size)
{
	assert_int_equal(gmem_add_mapped(&f->mem, gpa, size, f->ram, -1, 0), 0);
	f->cfg->mem_size += size;
}

static void fake_free(struct fake *f)
{
	gmem_destroy(&f->mem);
	free(f->ram);
	free(f->cfg);
}

static uint8_t sum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t s = 0;

	while (len--)
		s += *b++;
	return s;
}

static void *gpa_ptr(struct fake *f, uint64_t gpa)
{
	assert_true(gpa >= X86_ACPI_ADDR && gpa < X86_ACPI_ADDR + X86_ACPI_SIZE);
	return f->ram + gpa;
}

/* Checks the header and checksum of the table at gpa and returns it. */
static struct acpi_table_header *table_at(struct fake *f, uint64_t gpa)
{
	struct acpi_table_header *h = gpa_ptr(f, gpa);

	assert_true(h->length >= sizeof(*h));
	assert_true(gpa + h->length <= X86_ACPI_ADDR + ACPI_TABLES_MAX);
	assert_int_equal(sum(h, h->length), 0);
	assert_memory_equal(h->oem_id, "VESSEL", 6);
	return h;
}

/* Find a table through RSDP -> XSDT, checking the RSDT agrees. */
static struct acpi_table_header *find_table(struct fake *f, const char *sig)
{
	struct acpi_rsdp *rsdp = gpa_ptr(f, X86_ACPI_ADDR);
	struct acpi_table_header *x = table_at(f, rsdp->xsdt_address);
	struct acpi_table_header *r = table_at(f, rsdp->rsdt_address);
	unsigned int n = (x->length - sizeof(*x)) / 8;

	assert_int_equal((r->length - sizeof(*r)) / 4, n);
	for (unsigned int i = 0; i < n; i++) {
		uint64_t a;
		uint32_t a32;

		memcpy(&a, (uint8_t *)(x + 1) + 8 * i, 8);
		memcpy(&a32, (uint8_t *)(r + 1) + 4 * i, 4);
		assert_int_equal(a, a32);
		struct acpi_table_header *h = table_at(f, a);

		if (!memcmp(h->signature, sig, 4))
			return h;
	}
	return NULL;
}

static void check_rsdp(struct fake *f)
{
	struct acpi_rsdp *rsdp = gpa_ptr(f, X86_ACPI_ADDR);

	assert_memory_equal(rsdp->signature, "RSD PTR ", 8);
	assert_int_equal(rsdp->revision, 2);
	assert_int_equal(rsdp->length, 36);
	assert_int_equal(sum(rsdp, 20), 0);
	assert_int_equal(sum(rsdp, 36), 0);
	assert_memory_equal(table_at(f, rsdp->xsdt_address)->signature, "XSDT", 4);
	assert_memory_equal(table_at(f, rsdp->rsdt_address)->signature, "RSDT", 4);
}

static void check_fadt(struct fake *f)
{
	struct acpi_fadt *fadt = (struct acpi_fadt *)find_table(f, "FACP");
	struct acpi_table_header *dsdt;
	struct acpi_facs *facs;

	assert_non_null(fadt);
	assert_int_equal(fadt->hdr.length, 276);
	assert_int_equal(fadt->hdr.revision, 6);
	assert_int_equal(fadt->sci_int, 9);
	assert_int_equal(fadt->smi_cmd, 0);
	assert_int_equal(fadt->pm1a_evt_blk, X86_PORT_PM1A_EVT);
	assert_int_equal(fadt->pm1_evt_len, 4);
	assert_int_equal(fadt->pm1a_cnt_blk, X86_PORT_PM1A_CNT);
	assert_int_equal(fadt->pm1_cnt_len, 2);
	assert_int_equal(fadt->pm_tmr_blk, X86_PORT_PM_TMR);
	assert_int_equal(fadt->pm_tmr_len, 4);
	assert_int_equal(fadt->gpe0_blk, X86_PORT_GPE0);
	assert_int_equal(fadt->gpe0_blk_len, 4);
	assert_true(fadt->flags & ACPI_FADT_WBINVD);
	assert_true(fadt->flags & ACPI_FADT_RESET_REGISTER);
	assert_true(fadt->flags & ACPI_FADT_32BIT_TIMER);
	assert_false(fadt->flags & ACPI_FADT_POWER_BUTTON);
	assert_false(fadt->flags & ACPI_FADT_HW_REDUCED);
	assert_true(fadt->iapc_boot_arch & ACPI_FADT_8042);
	assert_false(fadt->iapc_boot_arch & ACPI_FADT_NO_CMOS_RTC);
	assert_int_equal(fadt->reset_reg.space_id, ACPI_GAS_SYSTEM_IO);
	assert_int_equal(fadt->reset_reg.address, 0xcf9);
	assert_int_equal(fadt->reset_value, 6);
	assert_int_equal(fadt->x_pm1a_evt_blk.address, X86_PORT_PM1A_EVT);
	assert_int_equal(fadt->x_pm1a_evt_blk.bit_width, 32);
	assert_int_equal(fadt->x_pm1a_cnt_blk.address, X86_PORT_PM1A_CNT);
	assert_int_equal(fadt->x_pm_tmr_blk.address, X86_PORT_PM_TMR);
	assert_int_equal(fadt->x_gpe0_blk.address, X86_PORT_GPE0);
	assert_int_equal(fadt->dsdt, fadt->x_dsdt);
	assert_int_equal(fadt->firmware_ctrl, fadt->x_firmware_ctrl);

	dsdt = table_at(f, fadt->x_dsdt);
	assert_memory_equal(dsdt->signature, "DSDT", 4);
	assert_int_equal(dsdt->length, acpi_dsdt_size());
	facs = gpa_ptr(f, fadt->x_firmware_ctrl);
	assert_true(IS_ALIGNED(fadt->x_firmware_ctrl, 64));
	assert_memory_equal(facs->signature, "FACS", 4);
	assert_int_equal(facs->length, 64);
}

/* The DSDT's 64-bit window was patched: the placeholder is gone and the
 * real range (start, start + 64 GiB - 1) is there. */
static void check_dsdt_mmio64(struct fake *f, uint64_t start)
{
	struct acpi_fadt *fadt = (struct acpi_fadt *)find_table(f, "FACP");
	struct acpi_table_header *dsdt = table_at(f, fadt->x_dsdt);
	const uint8_t *p = (const uint8_t *)dsdt;
	uint64_t magic = 0x00007e55e0000000ull, end = start + X86_PCI_MMIO64_SIZE - 1;
	bool found = false;

	for (uint32_t i = 0; i + 8 <= dsdt->length; i++) {
		assert_memory_not_equal(p + i, &magic, 8);
		if (!memcmp(p + i, &start, 8) && i + 16 <= dsdt->length &&
		    !memcmp(p + i + 8, &end, 8))
			found = true;
	}
	assert_true(found);
	assert_int_equal(acpi_pci_mmio64_start(&f->mem), start);
}

static void check_madt(struct fake *f, unsigned int ncpus)
{
	struct acpi_madt *m = (struct acpi_madt *)find_table(f, "APIC");
	unsigned int lapics = 0, x2apics = 0, ioapics = 0, isos = 0, nmis = 0;
	uint8_t *p, *end;

	assert_non_null(m);
	assert_int_equal(m->lapic_addr, X86_LAPIC_ADDR);
	assert_int_equal(m->flags & ACPI_MADT_PCAT_COMPAT, ACPI_MADT_PCAT_COMPAT);
	p = (uint8_t *)(m + 1);
	end = (uint8_t *)m + m->hdr.length;
	while (p < end) {
		assert_true(p[1] >= 2 && p + p[1] <= end);
		switch (p[0]) {
		case ACPI_MADT_TYPE_LAPIC: {
			struct acpi_madt_lapic *e = (void *)p;

			assert_int_equal(e->apic_id, lapics);
			assert_int_equal(e->uid, lapics);
			assert_int_equal(e->flags, ACPI_MADT_ENABLED);
			lapics++;
			break;
		}
		case ACPI_MADT_TYPE_X2APIC: {
			struct acpi_madt_x2apic *e = (void *)p;

			assert_int_equal(e->x2apic_id, 255 + x2apics);
			x2apics++;
			break;
		}
		case ACPI_MADT_TYPE_IOAPIC: {
			struct acpi_madt_ioapic *e = (void *)p;

			assert_int_equal(e->address, X86_IOAPIC_ADDR);
			assert_int_equal(e->gsi_base, 0);
			assert_int_equal(e->id, acpi_ioapic_id(ncpus));
			if (ncpus < 255)
				assert_true(e->id >= ncpus);
			ioapics++;
			break;
		}
		case ACPI_MADT_TYPE_ISO: {
			struct acpi_madt_iso *e = (void *)p;

			if (e->source == 0) {
				assert_int_equal(e->gsi, 2);
				assert_int_equal(e->flags & 0xc, ACPI_MPS_TRIGGER_EDGE);
			} else {
				assert_int_equal(e->source, 9);
				assert_int_equal(e->gsi, 9);
				assert_int_equal(e->flags,
						 ACPI_MPS_TRIGGER_LEVEL | ACPI_MPS_POLARITY_HIGH);
			}
			isos++;
			break;
		}
		case ACPI_MADT_TYPE_LAPIC_NMI: {
			struct acpi_madt_lapic_nmi *e = (void *)p;

			assert_int_equal(e->uid, 0xff);
			assert_int_equal(e->lint, 1);
			nmis++;
			break;
		}
		case ACPI_MADT_TYPE_X2APIC_NMI:
			break;
		default:
			fail_msg("unexpected MADT entry type %u", p[0]);
		}
		p += p[1];
	}
	assert_ptr_equal(p, end);
	assert_int_equal(lapics + x2apics, ncpus);
	assert_int_equal(ioapics, 1);
	assert_int_equal(isos, 2);
	assert_int_equal(nmis, 1);
}

static void check_mcfg(struct fake *f)
{
	struct acpi_mcfg *m = (struct acpi_mcfg *)find_table(f, "MCFG");

	assert_non_null(m);
	assert_int_equal(m->hdr.length, 60);
	assert_int_equal(m->alloc.base, X86_PCI_ECAM_START);
	assert_int_equal(m->alloc.segment, 0);
	assert_int_equal(m->alloc.start_bus, 0);
	assert_int_equal(m->alloc.end_bus, X86_PCI_LAST_BUS);
}

/*
 * Dump every table to UNIT_TMPDIR and decompile it with `iasl -d`, which
 * runs ACPICA's table checks (lengths, checksums, sub-table layout, AML).
 */
static void iasl_roundtrip(struct fake *f, const char *tag)
{
	struct acpi_rsdp *rsdp = gpa_ptr(f, X86_ACPI_ADDR);
	struct acpi_table_header *x = table_at(f, rsdp->xsdt_address);
	struct acpi_fadt *fadt = (struct acpi_fadt *)find_table(f, "FACP");
	const char *dir = getenv("UNIT_TMPDIR");
	uint64_t addrs[16];
	unsigned int n = 0;
	char path[512], cmd[1200], sig[5] = { 0 };

	if (!dir)
		dir = "/tmp";
	/* Without iasl (acpica-tools) only the structural checks run. */
	if (system("command -v iasl >/dev/null 2>&1") != 0) {
		print_message("iasl not found: no round trip for %s\n", tag);
		return;
	}
	addrs[n++] = rsdp->xsdt_address;
	addrs[n++] = rsdp->rsdt_address;
	addrs[n++] = fadt->x_dsdt;
	for (unsigned int i = 0; i < (x->length - sizeof(*x)) / 8; i++)
		memcpy(&addrs[n++], (uint8_t *)(x + 1) + 8 * i, 8);

	for (unsigned int i = 0; i < n; i++) {
		struct acpi_table_header *h = table_at(f, addrs[i]);
		FILE *fp;
		int st;

		memcpy(sig, h->signature, 4);
		snprintf(path, sizeof(path), "%s/acpi-%s-%s.dat", dir, tag, sig);
		fp = fopen(path, "wb");
		assert_non_null(fp);
		assert_int_equal(fwrite(h, 1, h->length, fp), h->length);
		fclose(fp);
		/* iasl reports table problems as "Warning"/"Error" lines. */
		snprintf(cmd, sizeof(cmd),
			 "cd '%s' && iasl -d acpi-%s-%s.dat > acpi-%s-%s.log 2>&1 && "
			 "! grep -Eiq 'error|warning|invalid|mismatch' acpi-%s-%s.log && "
			 "! grep -Eiq 'error|warning|invalid|mismatch' acpi-%s-%s.dsl",
			 dir, tag, sig, tag, sig, tag, sig, tag, sig);
		st = system(cmd);
		if (st != 0)
			fail_msg("iasl -d %s (%s) failed, see %s/acpi-%s-%s.log", sig, tag, dir,
				 tag, sig);
	}
}

/* Drop all white space, so layout changes of iasl's output do not matter. */
static void squeeze(char *s)
{
	char *d = s;

	for (; *s; s++)
		if (*s != ' ' && *s != '\n' && *s != '\t')
			*d++ = *s;
	*d = '\0';
}

/* What the decompiled DSDT must declare (dsdt.asl). */
static void check_dsdt_source(const char *tag)
{
	static const char *const want[] = {
		"Name (_S5, Package (0x04)",
		"EisaId (\"PNP0A08\")",
		"EisaId (\"PNP0A03\")",
		"Name (_PRT, Package (0x80)",
		"0x0000000100000000, // Range Minimum",
		"0xC0000000,         // Range Minimum",
		"Memory32Fixed (ReadWrite, 0xE0000000,",
		"EisaId (\"PNP0C02\")",
		"EisaId (\"PNP0501\")",
		"EisaId (\"PNP0303\")",
		"EisaId (\"PNP0B00\")",
		"IRQNoFlags () {4}",
		"IRQNoFlags () {1}",
		"IRQNoFlags () {8}",
	};
	const char *dir = getenv("UNIT_TMPDIR");
	char path[512], *text, w[128];
	size_t len;

	snprintf(path, sizeof(path), "%s/acpi-%s-DSDT.dsl", dir ? dir : "/tmp", tag);
	if (access(path, R_OK))
		return; /* iasl missing: the round trip was skipped */
	assert_int_equal(read_file(path, &text, &len), 0);
	squeeze(text);
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		snprintf(w, sizeof(w), "%s", want[i]);
		squeeze(w);
		if (!strstr(text, w))
			fail_msg("decompiled DSDT lacks '%s'", want[i]);
	}
	free(text);
}

/* The decompiled SSDT has one ACPI0007 processor device per vCPU. */
static void check_ssdt_source(const char *tag, unsigned int ncpus)
{
	const char *dir = getenv("UNIT_TMPDIR");
	char path[512], *text, *p;
	unsigned int n = 0;
	size_t len;

	snprintf(path, sizeof(path), "%s/acpi-%s-SSDT.dsl", dir ? dir : "/tmp", tag);
	if (access(path, R_OK))
		return;
	assert_int_equal(read_file(path, &text, &len), 0);
	for (p = text; (p = strstr(p, "Name (_HID, \"ACPI0007\"")); p++)
		n++;
	assert_int_equal(n, ncpus);
	assert_non_null(strstr(text, "Scope (\\_SB)"));
	snprintf(path, sizeof(path), "Device (C%03X)", ncpus - 1);
	assert_non_null(strstr(text, path));
	snprintf(path, sizeof(path), "Name (_UID, 0x%08X)", ncpus - 1);
	assert_non_null(strstr(text, path));
	free(text);
}

static void test_cpus(void **state)
{
	static const unsigned int counts[] = { 1, 4, 8 };

	for (unsigned int i = 0; i < ARRAY_SIZE(counts); i++) {
		struct fake f;
		uint64_t rsdp = 0;
		char tag[16];

		fake_init(&f, counts[i]);
		assert_int_equal(acpi_build_tables(&f.mem, f.cfg, &rsdp), 0);
		assert_int_equal(rsdp, X86_ACPI_ADDR);
		check_rsdp(&f);
		check_fadt(&f);
		check_madt(&f, counts[i]);
		check_mcfg(&f);
		check_dsdt_mmio64(&f, X86_4G);
		assert_null(find_table(&f, "SRAT"));
		assert_null(find_table(&f, "SLIT"));
		snprintf(tag, sizeof(tag), "cpu%u", counts[i]);
		iasl_roundtrip(&f, tag);
		check_dsdt_source(tag);
		check_ssdt_source(tag, counts[i]);
		fake_free(&f);
	}
}

/* 256 vCPUs: IDs 255 up need x2APIC structures. */
static void test_many_cpus(void **state)
{
	struct fake f;
	uint64_t rsdp;

	fake_init(&f, 256);
	assert_int_equal(acpi_build_tables(&f.mem, f.cfg, &rsdp), 0);
	check_rsdp(&f);
	check_madt(&f, 256);
	iasl_roundtrip(&f, "cpu256");
	check_ssdt_source("cpu256", 256);
	fake_free(&f);
}

/*
 * Two nodes of 2 GiB over 3 GiB low RAM and 1 GiB above 4 GiB: node 0
 * gets [0, 2G), node 1 [2G, 3G) and [4G, 5G); vCPUs 0-1 on node 0, 2-3
 * on node 1.
 */
static void test_numa(void **state)
{
	struct acpi_srat_mem *mem[8];
	unsigned int nmem = 0, cpu_node[4] = { 9, 9, 9, 9 };
	struct acpi_srat *srat;
	struct acpi_slit *slit;
	struct fake f;
	uint64_t rsdp;
	uint8_t *p, *end;

	fake_init(&f, 4);
	fake_set_low(&f, 0, 3 * GiB); /* only the first 2 MiB are backed */
	fake_add_region(&f, X86_4G, GiB);
	f.cfg->nr_numa_nodes = 2;
	f.cfg->numa_nodes[0].mem_size = 2 * GiB;
	f.cfg->numa_nodes[0].cpus[0] = 0x3;
	f.cfg->numa_nodes[1].mem_size = 2 * GiB;
	f.cfg->numa_nodes[1].cpus[0] = 0xc;
	f.cfg->numa_nodes[0].distance[1] = 0; /* default: 20 */
	f.cfg->numa_nodes[1].distance[0] = 31;
	assert_int_equal(acpi_build_tables(&f.mem, f.cfg, &rsdp), 0);
	check_rsdp(&f);
	check_madt(&f, 4);
	check_dsdt_mmio64(&f, 5 * GiB);

	srat = (struct acpi_srat *)find_table(&f, "SRAT");
	assert_non_null(srat);
	assert_int_equal(srat->reserved1, 1);
	p = (uint8_t *)(srat + 1);
	end = (uint8_t *)srat + srat->hdr.length;
	while (p < end) {
		if (p[0] == ACPI_SRAT_TYPE_CPU) {
			struct acpi_srat_cpu *c = (void *)p;

			assert_int_equal(p[1], 16);
			assert_true(c->apic_id < 4);
			cpu_node[c->apic_id] = c->proximity_lo;
			assert_int_equal(c->flags, ACPI_SRAT_ENABLED);
		} else {
			assert_int_equal(p[0], ACPI_SRAT_TYPE_MEMORY);
			assert_int_equal(p[1], 40);
			assert_true(nmem < ARRAY_SIZE(mem));
			mem[nmem++] = (void *)p;
		}
		p += p[1];
	}
	assert_int_equal(cpu_node[0], 0);
	assert_int_equal(cpu_node[1], 0);
	assert_int_equal(cpu_node[2], 1);
	assert_int_equal(cpu_node[3], 1);
	assert_int_equal(nmem, 3);
#define RANGE(m) (((uint64_t)(m)->base_hi << 32) | (m)->base_lo)
#define LEN(m) (((uint64_t)(m)->length_hi << 32) | (m)->length_lo)
	assert_int_equal(mem[0]->proximity, 0);
	assert_int_equal(RANGE(mem[0]), 0);
	assert_int_equal(LEN(mem[0]), 2 * GiB);
	assert_int_equal(mem[1]->proximity, 1);
	assert_int_equal(RANGE(mem[1]), 2 * GiB);
	assert_int_equal(LEN(mem[1]), GiB);
	assert_int_equal(mem[2]->proximity, 1);
	assert_int_equal(RANGE(mem[2]), X86_4G);
	assert_int_equal(LEN(mem[2]), GiB);
	for (unsigned int i = 0; i < nmem; i++)
		assert_int_equal(mem[i]->flags, ACPI_SRAT_ENABLED);

	slit = (struct acpi_slit *)find_table(&f, "SLIT");
	assert_non_null(slit);
	assert_int_equal(slit->localities, 2);
	assert_int_equal(slit->entry[0], 10);
	assert_int_equal(slit->entry[1], 20);
	assert_int_equal(slit->entry[2], 31);
	assert_int_equal(slit->entry[3], 10);
	iasl_roundtrip(&f, "numa");
	fake_free(&f);
}

/* Node sizes that do not add up: the last node takes what is left, and a
 * CPU-only node gets no memory range. */
static void test_numa_uneven(void **state)
{
	struct fake f;
	uint64_t rsdp;
	struct acpi_srat *srat;
	uint64_t covered = 0;
	uint8_t *p, *end;

	fake_init(&f, 2);
	fake_add_region(&f, 4 * MiB, 60 * MiB);
	f.cfg->nr_numa_nodes = 3;
	f.cfg->numa_nodes[0].mem_size = 32 * MiB;
	f.cfg->numa_nodes[1].mem_size = 0;
	f.cfg->numa_nodes[2].mem_size = 8 * MiB;
	f.cfg->numa_nodes[2].cpus[0] = 0x2;
	assert_int_equal(acpi_build_tables(&f.mem, f.cfg, &rsdp), 0);
	srat = (struct acpi_srat *)find_table(&f, "SRAT");
	assert_non_null(srat);
	p = (uint8_t *)(srat + 1);
	end = (uint8_t *)srat + srat->hdr.length;
	for (; p < end; p += p[1]) {
		if (p[0] != ACPI_SRAT_TYPE_MEMORY)
			continue;
		struct acpi_srat_mem *m = (void *)p;

		assert_int_not_equal(m->proximity, 1);
		covered += LEN(m);
	}
	assert_int_equal(covered, gmem_ram_size(&f.mem));
	iasl_roundtrip(&f, "uneven");
	fake_free(&f);
}

static void test_errors(void **state)
{
	struct fake f;
	uint64_t rsdp;

	fake_init(&f, 0);
	assert_int_equal(acpi_build_tables(&f.mem, f.cfg, &rsdp), -EINVAL);
	f.cfg->nr_cpus = X86_MAX_VCPUS + 1;
	assert_int_equal(acpi_build_tables(&f.mem, f.cfg, &rsdp), -EINVAL);
	/* No RAM at X86_ACPI_ADDR: the write fails cleanly. */
	f.cfg->nr_cpus = 1;
	fake_set_low(&f, 16 * MiB, LOW_SIZE);
	assert_int_equal(acpi_build_tables(&f.mem, f.cfg, &rsdp), -EFAULT);
	fake_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpus),   cmocka_unit_test(test_many_cpus),
		cmocka_unit_test(test_numa),   cmocka_unit_test(test_numa_uneven),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
