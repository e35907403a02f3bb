/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_ARCH_X86_MPTABLE_H
#define VESSEL_ARCH_X86_MPTABLE_H

#include <stdint.h>

#include "arch/x86/acpi.h"
#include "arch/x86/layout.h"

/*
 * Intel MultiProcessor Specification 1.4 tables (chapter 4), for guests
 * that boot without ACPI (acpi=off) or only look for MP tables.
 *
 * The MP floating pointer structure sits at X86_MPTABLE_ADDR, the start of
 * the EBDA, one of the places section 4.1 says the OS searches.  The
 * configuration table it points to does not fit in the 1 KiB EBDA once
 * the PCI interrupt entries are in (about 1.5 KiB for 8 vCPUs), so it goes
 * to the top of the reserved ACPI range, after the ACPI tables.
 */
#define MPTABLE_CFG_ADDR (X86_ACPI_ADDR + ACPI_TABLES_MAX)
#define MPTABLE_CFG_MAX (X86_ACPI_SIZE - ACPI_TABLES_MAX)

/* MP spec 1.4 section 4.1, table 4-1: 16 bytes. */
struct mp_floating {
	char signature[4]; /* "_MP_" */
	uint32_t physptr;
	uint8_t length;	  /* in 16-byte units: 1 */
	uint8_t spec_rev; /* 4 */
	uint8_t checksum;
	uint8_t feature[5];
} __attribute__((packed));

/* Section 4.2, table 4-2: 44 bytes. */
struct mp_config {
	char signature[4]; /* "PCMP" */
	uint16_t length;   /* base table */
	uint8_t spec_rev;
	uint8_t checksum;
	char oem_id[8];
	char product_id[12];
	uint32_t oem_table;
	uint16_t oem_table_size;
	uint16_t entry_count;
	uint32_t lapic_addr;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

/* Base table entries (section 4.3). */
enum mp_entry_type {
	MP_PROCESSOR = 0,
	MP_BUS = 1,
	MP_IOAPIC = 2,
	MP_INTSRC = 3,
	MP_LINTSRC = 4,
};

struct mp_processor {
	uint8_t type;
	uint8_t apic_id;
	uint8_t apic_version;
	uint8_t flags; /* MP_CPU_ENABLED, MP_CPU_BSP */
	uint32_t signature;
	uint32_t features;
	uint32_t reserved[2];
} __attribute__((packed));

#define MP_CPU_ENABLED 0x1
#define MP_CPU_BSP 0x2

struct mp_bus {
	uint8_t type;
	uint8_t bus_id;
	char bus_type[6]; /* "ISA   ", "PCI   " */
} __attribute__((packed));

struct mp_ioapic {
	uint8_t type;
	uint8_t apic_id;
	uint8_t apic_version;
	uint8_t flags; /* MP_IOAPIC_ENABLED */
	uint32_t address;
} __attribute__((packed));

#define MP_IOAPIC_ENABLED 0x1

/* I/O (type 3) and local (type 4) interrupt assignment entries. */
struct mp_intsrc {
	uint8_t type;
	uint8_t irq_type; /* MP_INT_* */
	uint16_t flags;	  /* polarity bits 0-1, trigger mode bits 2-3 */
	uint8_t src_bus;
	uint8_t src_irq;  /* ISA: IRQ; PCI: device << 2 | pin (0 = INTA#) */
	uint8_t dst_apic; /* IOAPIC ID, or 0xff for every local APIC */
	uint8_t dst_pin;  /* IOAPIC INTIN# or LINTIN# */
} __attribute__((packed));

enum mp_irq_type { MP_INT_INT = 0, MP_INT_NMI = 1, MP_INT_SMI = 2, MP_INT_EXTINT = 3 };

#define MP_IRQ_CONFORMS 0x0
#define MP_IRQ_ACTIVE_HIGH 0x1
#define MP_IRQ_ACTIVE_LOW 0x3
#define MP_IRQ_EDGE 0x4
#define MP_IRQ_LEVEL 0xc

#define MP_BUS_ISA 0
#define MP_BUS_PCI 1

struct gmem;

/*
 * Write the floating pointer and the configuration table for nr_cpus
 * vCPUs into guest memory.  Returns 0 or -errno.
 */
int mptable_build(struct gmem *mem, unsigned int nr_cpus);

/*
 * Build into caller buffers: `fp` (16 bytes, placed at X86_MPTABLE_ADDR)
 * and `cfg` (MPTABLE_CFG_MAX bytes, placed at MPTABLE_CFG_ADDR).  Returns
 * the configuration table's length or -errno.
 */
int mptable_build_image(unsigned int nr_cpus, struct mp_floating *fp, uint8_t *cfg);

#endif
