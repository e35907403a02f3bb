// SPDX-License-Identifier: MIT
/*
 * Intel MultiProcessor Specification 1.4 tables (chapter 4).  Modern guests
 * use the ACPI MADT instead; these describe the same machine for guests
 * booted with acpi=off and for small test guests:
 *
 *   processors  one per vCPU, APIC ID = vCPU index, BSP flag on vCPU 0
 *   buses       0 = ISA, 1 = PCI
 *   IOAPIC      ID acpi_ioapic_id(N), at X86_IOAPIC_ADDR, 24 inputs
 *   interrupts  ISA IRQ 0-15 (IRQ0 -> INTIN2, as the MADT override says),
 *               PCI slot N INTx -> INTIN 16 + ((N + pin) % 4), level/low
 *   local       ExtINT on LINT0, NMI on LINT1 of every local APIC
 */
#include "arch/x86/mptable.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mem/gmem.h"
#include "util/log.h"
#include "util/util.h"

#define MP_SPEC_REV 4	      /* 1.4 */
#define MP_LAPIC_VERSION 0x14 /* integrated local APIC */
#define MP_IOAPIC_VERSION 0x11
#define MP_PCI_SLOTS 32

static uint8_t mp_checksum(const void *data, size_t len)
{
	return acpi_checksum(data, len);
}

struct mp_builder {
	uint8_t *buf;
	uint32_t used;
	uint16_t count;
	int err;
};

static void *mp_add(struct mp_builder *b, uint32_t len)
{
	void *p;

	if (b->err || len > MPTABLE_CFG_MAX - b->used) {
		b->err = -ENOSPC;
		return NULL;
	}
	p = b->buf + b->used;
	memset(p, 0, len);
	b->used += len;
	b->count++;
	return p;
}

static void mp_add_intsrc(struct mp_builder *b, uint8_t type, uint8_t irq_type, uint16_t flags,
			  uint8_t bus, uint8_t irq, uint8_t apic, uint8_t pin)
{
	struct mp_intsrc *e = mp_add(b, sizeof(*e));

	if (!e)
		return;
	e->type = type;
	e->irq_type = irq_type;
	e->flags = flags;
	e->src_bus = bus;
	e->src_irq = irq;
	e->dst_apic = apic;
	e->dst_pin = pin;
}

int mptable_build_image(unsigned int nr_cpus, struct mp_floating *fp, uint8_t *cfg)
{
	struct mp_builder b = { .buf = cfg };
	uint8_t ioapic_id = acpi_ioapic_id(nr_cpus);
	struct mp_config *hdr;

	/*
	 * Processor entries carry an 8-bit APIC ID and 0xff is the
	 * broadcast ID, so the MP table can describe at most 255 vCPUs.
	 */
	if (!nr_cpus || nr_cpus > 254)
		return -EINVAL;

	hdr = mp_add(&b, sizeof(*hdr));
	b.count = 0;
	memcpy(hdr->signature, "PCMP", 4);
	hdr->spec_rev = MP_SPEC_REV;
	memcpy(hdr->oem_id, "VESSEL  ", 8);
	memcpy(hdr->product_id, "VESSEL VM   ", 12);
	hdr->lapic_addr = X86_LAPIC_ADDR;

	/* Entries in the order of section 4.3: by type. */
	for (unsigned int i = 0; i < nr_cpus; i++) {
		struct mp_processor *p = mp_add(&b, sizeof(*p));

		if (!p)
			break;
		p->type = MP_PROCESSOR;
		p->apic_id = i;
		p->apic_version = MP_LAPIC_VERSION;
		p->flags = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0);
		/* Family 6 signature, FPU and APIC feature flags (table 4-5). */
		p->signature = 0x600;
		p->features = (1u << 0) | (1u << 9);
	}

	struct mp_bus *bus = mp_add(&b, sizeof(*bus));

	if (bus) {
		bus->type = MP_BUS;
		bus->bus_id = MP_BUS_ISA;
		memcpy(bus->bus_type, "ISA   ", 6);
	}
	bus = mp_add(&b, sizeof(*bus));
	if (bus) {
		bus->type = MP_BUS;
		bus->bus_id = MP_BUS_PCI;
		memcpy(bus->bus_type, "PCI   ", 6);
	}

	struct mp_ioapic *io = mp_add(&b, sizeof(*io));

	if (io) {
		io->type = MP_IOAPIC;
		io->apic_id = ioapic_id;
		io->apic_version = MP_IOAPIC_VERSION;
		io->flags = MP_IOAPIC_ENABLED;
		io->address = X86_IOAPIC_ADDR;
	}

	/*
	 * ISA interrupts, identity-mapped to IOAPIC inputs except IRQ0 (the
	 * PIT), which PCs wire to INTIN2; IRQ2 is the PIC cascade and has
	 * no entry of its own.  ISA's defaults (edge, active high) apply
	 * ("conforms to bus"), except the ACPI SCI on IRQ9, which is level
	 * and active high like the MADT override.
	 */
	for (unsigned int irq = 0; irq < 16; irq++) {
		uint16_t flags = MP_IRQ_CONFORMS;

		if (irq == 2)
			continue;
		if (irq == X86_IRQ_SCI)
			flags = MP_IRQ_ACTIVE_HIGH | MP_IRQ_LEVEL;
		mp_add_intsrc(&b, MP_INTSRC, MP_INT_INT, flags, MP_BUS_ISA, irq, ioapic_id,
			      irq == X86_IRQ_PIT ? 2 : irq);
	}
	/* PCI INTx (section D.3): source IRQ = device << 2 | pin. */
	for (unsigned int slot = 0; slot < MP_PCI_SLOTS; slot++)
		for (unsigned int pin = 0; pin < 4; pin++)
			mp_add_intsrc(&b, MP_INTSRC, MP_INT_INT, MP_IRQ_ACTIVE_LOW | MP_IRQ_LEVEL,
				      MP_BUS_PCI, (uint8_t)(slot << 2 | pin), ioapic_id,
				      X86_IRQ_PCI_BASE + (slot + pin) % 4);

	/* The PIC on LINT0 (virtual wire), NMI on LINT1, every local APIC. */
	mp_add_intsrc(&b, MP_LINTSRC, MP_INT_EXTINT, MP_IRQ_CONFORMS, MP_BUS_ISA, 0, 0xff, 0);
	mp_add_intsrc(&b, MP_LINTSRC, MP_INT_NMI, MP_IRQ_CONFORMS, MP_BUS_ISA, 0, 0xff, 1);
	if (b.err)
		return b.err;

	hdr->length = b.used;
	hdr->entry_count = b.count;
	hdr->checksum = mp_checksum(cfg, b.used);

	memset(fp, 0, sizeof(*fp));
	memcpy(fp->signature, "_MP_", 4);
	fp->physptr = MPTABLE_CFG_ADDR;
	fp->length = 1;
	fp->spec_rev = MP_SPEC_REV;
	/* feature[0] = 0: a configuration table is present; IMCR bit clear:
	 * virtual wire mode, no IMCR to program (section 4.1, table 4-1). */
	fp->checksum = mp_checksum(fp, sizeof(*fp));
	return (int)b.used;
}

int mptable_build(struct gmem *mem, unsigned int nr_cpus)
{
	struct mp_floating fp;
	uint8_t *cfg;
	int ret;

	if (nr_cpus > 254) {
		/* Not an error: such guests need ACPI (x2APIC MADT) anyway. */
		log_warn("mptable: %u vCPUs do not fit an MP table, leaving it out", nr_cpus);
		return 0;
	}
	cfg = calloc(1, MPTABLE_CFG_MAX);
	if (!cfg)
		return -ENOMEM;
	ret = mptable_build_image(nr_cpus, &fp, cfg);
	if (ret >= 0)
		ret = gmem_write(mem, MPTABLE_CFG_ADDR, cfg, (uint64_t)ret);
	if (!ret)
		ret = gmem_write(mem, X86_MPTABLE_ADDR, &fp, sizeof(fp));
	free(cfg);
	return ret;
}

_Static_assert(sizeof(struct mp_floating) == 16, "MP floating pointer");
_Static_assert(sizeof(struct mp_config) == 44, "MP configuration table header");
_Static_assert(sizeof(struct mp_processor) == 20, "MP processor entry");
_Static_assert(sizeof(struct mp_bus) == 8, "MP bus entry");
_Static_assert(sizeof(struct mp_ioapic) == 8, "MP IOAPIC entry");
_Static_assert(sizeof(struct mp_intsrc) == 8, "MP interrupt entry");
