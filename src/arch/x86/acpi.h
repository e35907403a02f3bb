/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_ARCH_X86_ACPI_H
#define VESSEL_ARCH_X86_ACPI_H

#include <stddef.h>
#include <stdint.h>

#include "arch/x86/layout.h"

/*
 * ACPI tables of an x86 VM (ACPI 6.4 chapter 5), built once at VM start
 * into the reserved range X86_ACPI_ADDR..+X86_ACPI_SIZE:
 *
 *   RSDP (at X86_ACPI_ADDR, found by the legacy 0xE0000-0xFFFFF scan)
 *   XSDT, RSDT -> FADT, MADT, MCFG, SSDT (processor devices) [, SRAT, SLIT]
 *   FADT -> FACS, DSDT (AML compiled from dsdt.asl at build time)
 *
 * The tables use at most ACPI_TABLES_MAX bytes; the top of the range is
 * left to the MP configuration table (mptable.h).
 */
#define ACPI_TABLES_MAX 0xc000u

/* OEM identification in every table header. */
#define ACPI_OEM_ID "VESSEL"
#define ACPI_OEM_TABLE_ID "VESSELVM"
#define ACPI_CREATOR_ID "VSSL"

/*
 * IOAPIC ID: the first ID after the vCPUs' APIC IDs, so the MP table's
 * single APIC ID space (MP spec 1.4 section 4.3.3) has no collision.  With
 * 255 or more vCPUs (x2APIC IDs) no free 8-bit ID is left; 0 is used, as
 * xAPIC-era guests only compare IDs within one kind.
 */
static inline uint8_t acpi_ioapic_id(unsigned int nr_cpus)
{
	return nr_cpus < 255 ? (uint8_t)nr_cpus : 0;
}

/* Table layouts (ACPI 6.4 chapter 5), little-endian like the guest. */
struct acpi_rsdp {
	char signature[8];
	uint8_t checksum;
	char oem_id[6];
	uint8_t revision;
	uint32_t rsdt_address;
	uint32_t length;
	uint64_t xsdt_address;
	uint8_t ext_checksum;
	uint8_t reserved[3];
} __attribute__((packed));

struct acpi_table_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));

/* Generic Address Structure (section 5.2.3.2). */
struct acpi_gas {
	uint8_t space_id;
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;
	uint64_t address;
} __attribute__((packed));

#define ACPI_GAS_SYSTEM_IO 1
#define ACPI_GAS_ACCESS_BYTE 1
#define ACPI_GAS_ACCESS_WORD 2
#define ACPI_GAS_ACCESS_DWORD 3

/* FADT revision 6 (section 5.2.9, table 5.9): 276 bytes. */
struct acpi_fadt {
	struct acpi_table_header hdr;
	uint32_t firmware_ctrl;
	uint32_t dsdt;
	uint8_t reserved1;
	uint8_t preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable;
	uint8_t acpi_disable;
	uint8_t s4bios_req;
	uint8_t pstate_cnt;
	uint32_t pm1a_evt_blk;
	uint32_t pm1b_evt_blk;
	uint32_t pm1a_cnt_blk;
	uint32_t pm1b_cnt_blk;
	uint32_t pm2_cnt_blk;
	uint32_t pm_tmr_blk;
	uint32_t gpe0_blk;
	uint32_t gpe1_blk;
	uint8_t pm1_evt_len;
	uint8_t pm1_cnt_len;
	uint8_t pm2_cnt_len;
	uint8_t pm_tmr_len;
	uint8_t gpe0_blk_len;
	uint8_t gpe1_blk_len;
	uint8_t gpe1_base;
	uint8_t cst_cnt;
	uint16_t p_lvl2_lat;
	uint16_t p_lvl3_lat;
	uint16_t flush_size;
	uint16_t flush_stride;
	uint8_t duty_offset;
	uint8_t duty_width;
	uint8_t day_alrm;
	uint8_t mon_alrm;
	uint8_t century;
	uint16_t iapc_boot_arch;
	uint8_t reserved2;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_version;
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct acpi_gas x_pm1a_evt_blk;
	struct acpi_gas x_pm1b_evt_blk;
	struct acpi_gas x_pm1a_cnt_blk;
	struct acpi_gas x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk;
	struct acpi_gas x_pm_tmr_blk;
	struct acpi_gas x_gpe0_blk;
	struct acpi_gas x_gpe1_blk;
	struct acpi_gas sleep_control_reg;
	struct acpi_gas sleep_status_reg;
	char hypervisor_id[8];
} __attribute__((packed));

/* FADT Flags (table 5.10) and IA-PC boot architecture flags (table 5.11). */
#define ACPI_FADT_WBINVD (1u << 0)
#define ACPI_FADT_C1_SUPPORTED (1u << 2)
#define ACPI_FADT_POWER_BUTTON (1u << 4)
#define ACPI_FADT_SLEEP_BUTTON (1u << 5)
#define ACPI_FADT_FIXED_RTC (1u << 6)
#define ACPI_FADT_32BIT_TIMER (1u << 8)
#define ACPI_FADT_RESET_REGISTER (1u << 10)
#define ACPI_FADT_HW_REDUCED (1u << 20)
#define ACPI_FADT_LEGACY_DEVICES (1u << 0)
#define ACPI_FADT_8042 (1u << 1)
#define ACPI_FADT_NO_VGA (1u << 2)
#define ACPI_FADT_NO_CMOS_RTC (1u << 5)

/* Firmware ACPI Control Structure (section 5.2.10): no checksum. */
struct acpi_facs {
	char signature[4];
	uint32_t length;
	uint32_t hardware_signature;
	uint32_t firmware_waking_vector;
	uint32_t global_lock;
	uint32_t flags;
	uint64_t x_firmware_waking_vector;
	uint8_t version;
	uint8_t reserved[3];
	uint32_t ospm_flags;
	uint8_t reserved2[24];
} __attribute__((packed));

/* MADT (section 5.2.12) and its interrupt controller structures. */
struct acpi_madt {
	struct acpi_table_header hdr;
	uint32_t lapic_addr;
	uint32_t flags;
} __attribute__((packed));

#define ACPI_MADT_PCAT_COMPAT 1u
#define ACPI_MADT_ENABLED 1u
#define ACPI_MADT_TYPE_LAPIC 0
#define ACPI_MADT_TYPE_IOAPIC 1
#define ACPI_MADT_TYPE_ISO 2
#define ACPI_MADT_TYPE_LAPIC_NMI 4
#define ACPI_MADT_TYPE_X2APIC 9
#define ACPI_MADT_TYPE_X2APIC_NMI 10
/* MPS INTI flags (table 5.26). */
#define ACPI_MPS_POLARITY_HIGH 0x1
#define ACPI_MPS_POLARITY_LOW 0x3
#define ACPI_MPS_TRIGGER_EDGE 0x4
#define ACPI_MPS_TRIGGER_LEVEL 0xc

struct acpi_madt_lapic {
	uint8_t type, length, uid, apic_id;
	uint32_t flags;
} __attribute__((packed));

struct acpi_madt_x2apic {
	uint8_t type, length;
	uint16_t reserved;
	uint32_t x2apic_id;
	uint32_t flags;
	uint32_t uid;
} __attribute__((packed));

struct acpi_madt_ioapic {
	uint8_t type, length, id, reserved;
	uint32_t address;
	uint32_t gsi_base;
} __attribute__((packed));

struct acpi_madt_iso {
	uint8_t type, length, bus, source;
	uint32_t gsi;
	uint16_t flags;
} __attribute__((packed));

struct acpi_madt_lapic_nmi {
	uint8_t type, length, uid;
	uint16_t flags;
	uint8_t lint;
} __attribute__((packed));

struct acpi_madt_x2apic_nmi {
	uint8_t type, length;
	uint16_t flags;
	uint32_t uid;
	uint8_t lint;
	uint8_t reserved[3];
} __attribute__((packed));

/* MCFG (PCI Firmware 3.2 section 4.1.2, table 4-3). */
struct acpi_mcfg_alloc {
	uint64_t base;
	uint16_t segment;
	uint8_t start_bus;
	uint8_t end_bus;
	uint32_t reserved;
} __attribute__((packed));

struct acpi_mcfg {
	struct acpi_table_header hdr;
	uint64_t reserved;
	struct acpi_mcfg_alloc alloc;
} __attribute__((packed));

/* SRAT (section 5.2.16) and its affinity structures. */
struct acpi_srat {
	struct acpi_table_header hdr;
	uint32_t reserved1;
	uint64_t reserved2;
} __attribute__((packed));

#define ACPI_SRAT_TYPE_CPU 0
#define ACPI_SRAT_TYPE_MEMORY 1
#define ACPI_SRAT_TYPE_X2APIC 2
#define ACPI_SRAT_ENABLED 1u

struct acpi_srat_cpu {
	uint8_t type, length, proximity_lo, apic_id;
	uint32_t flags;
	uint8_t sapic_eid;
	uint8_t proximity_hi[3];
	uint32_t clock_domain;
} __attribute__((packed));

struct acpi_srat_mem {
	uint8_t type, length;
	uint32_t proximity;
	uint16_t reserved1;
	uint32_t base_lo, base_hi;
	uint32_t length_lo, length_hi;
	uint32_t reserved2;
	uint32_t flags;
	uint64_t reserved3;
} __attribute__((packed));

struct acpi_srat_x2apic {
	uint8_t type, length;
	uint16_t reserved1;
	uint32_t proximity;
	uint32_t x2apic_id;
	uint32_t flags;
	uint32_t clock_domain;
	uint32_t reserved2;
} __attribute__((packed));

/* SLIT (section 5.2.17). */
struct acpi_slit {
	struct acpi_table_header hdr;
	uint64_t localities;
	uint8_t entry[];
} __attribute__((packed));

struct x86_boot_spec;
struct gmem;

/*
 * Build all tables from spec (nr_cpus, NUMA topology) and mem (the RAM
 * regions, for SRAT and the 64-bit PCI window) and write them to guest
 * memory.  *rsdp_gpa gets the RSDP address, for boot_params.acpi_rsdp_addr
 * or the PVH start info.  Returns 0 or -errno.
 */
int acpi_build_tables(struct gmem *mem, const struct x86_boot_spec *spec, uint64_t *rsdp_gpa);

/*
 * Build the tables into buf (at least ACPI_TABLES_MAX bytes), which the
 * caller places at guest address `base`.  Returns the number of bytes used
 * or -errno.  acpi_build_tables() is this plus one gmem_write().
 */
int acpi_build_image(const struct gmem *mem, const struct x86_boot_spec *spec, uint8_t *buf,
		     uint64_t base);

/*
 * The 64-bit PCI MMIO window advertised in PCI0._CRS: it starts at the
 * first 1 GiB boundary at or above max(4 GiB, end of RAM) and is
 * X86_PCI_MMIO64_SIZE long.  The PCI code must place 64-bit BARs inside it
 * (pci.c starts at ALIGN_UP(4 GiB + high RAM, 1 GiB): the same address).
 * The window is patched into the DSDT at build time of the tables, so it
 * follows the RAM size with no fixed limit; the guest CPU must report
 * enough physical address bits to reach its end.
 */
uint64_t acpi_pci_mmio64_start(const struct gmem *mem);

/* ACPI table checksum: the byte that makes the sum of len bytes zero. */
uint8_t acpi_checksum(const void *data, size_t len);

/* Size of the embedded DSDT, for tests. */
size_t acpi_dsdt_size(void);

#endif
