// SPDX-License-Identifier: MIT
/*
 * demo.elf - the default VM of `make run` on PVM hosts.  Reports what the
 * VMM gave it: vCPUs (and starts every AP), the memory map, the ACPI
 * tables, the PCI devices on bus 0, then powers off through ACPI S5.
 * Informational: only a failed power off (or a fault) prints FAIL.
 */
#include "guest.h"

static void print_size(u64 bytes)
{
	if (bytes >= GiB && !(bytes % GiB))
		printf("%lu GiB", bytes / GiB);
	else if (bytes >= MiB)
		printf("%lu MiB", bytes / MiB);
	else
		printf("%lu KiB", bytes / KiB);
}

static void print_table(const struct acpi_header *t, void *ctx)
{
	char sig[5], oem[7];

	memcpy(sig, t->sig, 4);
	sig[4] = '\0';
	memcpy(oem, t->oem_id, 6);
	oem[6] = '\0';
	printf("    %s  %5u bytes  rev %u  OEM \"%s\"\n", sig, t->length, t->revision, oem);
	if (!memcmp(t->sig, "FACP", 4)) {
		const struct acpi_header *d = acpi_find("DSDT", 0);
		if (d)
			printf("    DSDT  %5u bytes  rev %u  (from the FADT)\n", d->length,
			       d->revision);
	}
}

static void report_pci(void)
{
	int n = 0;

	printf("  PCI bus 0:\n");
	for (u8 dev = 0; dev < 32; dev++) {
		for (u8 fn = 0; fn < 8; fn++) {
			u32 id = pci_cf8_read32(0, dev, fn, 0);
			if ((id & 0xffff) == 0xffff) {
				if (!fn)
					break;
				continue;
			}
			u32 cls = pci_cf8_read32(0, dev, fn, 8);
			u8 c = (u8)(cls >> 24), s = (u8)(cls >> 16);
			printf("    00:%02x.%u  %04x:%04x  class %02x%02x  %s\n", dev, fn,
			       id & 0xffff, id >> 16, c, s, pci_class_name(c, s));
			n++;
			/* Header type bit 7: multi-function device. */
			if (!fn && !(pci_cf8_read32(0, dev, 0, 0xc) & 0x800000))
				break;
		}
	}
	if (!n)
		printf("    (no devices)\n");
	const struct mcfg_entry *m = mcfg_find(0);
	if (m)
		printf("    ECAM at 0x%lx, buses %u-%u\n", m->base, m->bus_start, m->bus_end);
}

void guest_main(void)
{
	char why[128];

	printf("\n=== vessel demo guest ===\n");
	printf("  booted via %s, command line \"%s\"\n",
	       boot.proto == BOOT_PVH ? "PVH" : "Linux 64-bit boot protocol", boot.cmdline);
	struct cpuid_regs r = cpuid(0x40000000, 0);
	char hv[13];
	memcpy(hv, &r.ebx, 4);
	memcpy(hv + 4, &r.ecx, 4);
	memcpy(hv + 8, &r.edx, 4);
	hv[12] = '\0';
	printf("  hypervisor: \"%s\"\n", hv);

	int want = have_madt ? madt.nr_cpus : 1;
	int n = want > 1 ? smp_start(NULL, want, 3000) : 1;
	printf("  vCPUs: %d of %d online, APIC IDs", n, want);
	if (n == 1)
		cpus[0].apic_id = lapic_id();
	for (int i = 0; i < n; i++)
		printf(" %u", cpus[i].apic_id);
	printf("\n");

	printf("  memory: ");
	print_size(mem_ram_total());
	printf(" of RAM\n");
	for (int i = 0; i < boot.nr_mem; i++) {
		const struct mem_region *m = &boot.mem[i];
		if (!m->size)
			continue;
		printf("    0x%010lx-0x%010lx  ", m->addr, m->addr + m->size - 1);
		print_size(m->size);
		printf("  %s\n", e820_type_name(m->type));
	}

	const u8 *rsdp = acpi_rsdp();
	if (rsdp) {
		printf("  ACPI: RSDP at 0x%lx, revision %u\n", (u64)rsdp, rsdp[15]);
		acpi_for_each(print_table, NULL);
	} else {
		printf("  ACPI: no RSDP\n");
	}
	report_pci();

	printf("  powering off through ACPI S5. Bye!\n");
	acpi_poweroff(why, sizeof(why));
	fail("ACPI power off: %s", why);
}
