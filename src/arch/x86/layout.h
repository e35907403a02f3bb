/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_ARCH_X86_LAYOUT_H
#define VESSEL_ARCH_X86_LAYOUT_H

/*
 * Guest-physical memory map of a vessel x86 VM.  Everything below 1 MiB
 * follows the PC conventions guests expect; the 32-bit PCI hole holds
 * ECAM, the 32-bit MMIO window, the IOAPIC and the local APICs.
 *
 *   0x0000_0000  real-mode IVT / BDA                      RAM
 *   0x0000_6000  hvm_start_info (PVH) + memory map        RAM
 *   0x0000_7000  zero page (struct boot_params)           RAM
 *   0x0000_9000  identity page tables for 64-bit entry    RAM (PML4, PDPT, PDs)
 *   0x0002_0000  kernel command line (up to 64 KiB)       RAM
 *   0x0009_fc00  EBDA: MP floating pointer + MP table     reserved
 *   0x000a_0000  VGA hole / option ROMs                   reserved
 *   0x000e_0000  ACPI tables (RSDP first, 16-byte aligned) reserved
 *   0x0010_0000  kernel (bzImage payload or ELF segments) RAM
 *   ...          initrd near the top of low RAM           RAM
 *   0xc000_0000  PCI 32-bit MMIO window (512 MiB)         hole
 *   0xe000_0000  PCI ECAM (256 MiB; bus 0 described)      hole
 *   0xfec0_0000  IOAPIC                                   hole
 *   0xfee0_0000  local APICs                              hole
 *   0x1_0000_0000 RAM above 4 GiB, then the 64-bit MMIO window
 */
#define X86_PVH_INFO_ADDR 0x6000ull
#define X86_PVH_MEMMAP_ADDR 0x6100ull
#define X86_ZERO_PAGE_ADDR 0x7000ull
#define X86_PML4_ADDR 0x9000ull
#define X86_PDPT_ADDR 0xa000ull
#define X86_PD_ADDR 0xb000ull		/* 4 PDs: identity map of 4 GiB with 2 MiB pages */
#define X86_GDT_ADDR 0x500ull
#define X86_CMDLINE_ADDR 0x20000ull
#define X86_CMDLINE_MAX 0x10000ull
#define X86_EBDA_ADDR 0x9fc00ull
#define X86_LOW_RAM_END 0xa0000ull	/* end of conventional memory (640 KiB) */
#define X86_BIOS_START 0xe0000ull
#define X86_ACPI_ADDR 0xe0000ull
#define X86_ACPI_SIZE 0x10000ull
#define X86_MPTABLE_ADDR 0x9fc00ull
#define X86_KERNEL_ADDR 0x100000ull
#define X86_HIGH_RAM_START 0x100000ull

#define X86_PCI_HOLE_START 0xc0000000ull	/* RAM below 4 GiB ends here at most */
#define X86_PCI_MMIO32_START 0xc0000000ull
#define X86_PCI_MMIO32_SIZE 0x20000000ull
#define X86_PCI_ECAM_START 0xe0000000ull
#define X86_PCI_ECAM_SIZE 0x10000000ull
/*
 * The buses the firmware tables describe (MCFG, the _CRS of PCI0): bus 0,
 * the only one there is.  Describing 0-255 costs every boot: Linux takes
 * pcibios_last_bus from MCFG's end bus and pcibios_fixup_peer_bridges()
 * then probes 32 slots of each absent bus through 0xCF8/0xCFC, over 16,000
 * exits (arch/x86/pci/legacy.c; measured: 1.05 s of a nested boot).
 */
#define X86_PCI_LAST_BUS 0
#define X86_IOAPIC_ADDR 0xfec00000ull
#define X86_LAPIC_ADDR 0xfee00000ull
#define X86_4G 0x100000000ull
#define X86_PCI_MMIO64_SIZE (64ull << 30)

/* KVM needs a 3-page TSS and one identity-map page below 4 GiB on VT-x. */
#define X86_KVM_TSS_ADDR 0xfffbd000ull
#define X86_KVM_IDMAP_ADDR 0xfffbc000ull

/* Legacy ISA interrupt lines. */
#define X86_IRQ_PIT 0
#define X86_IRQ_KBD 1
#define X86_IRQ_COM2 3
#define X86_IRQ_COM1 4
#define X86_IRQ_RTC 8
#define X86_IRQ_SCI 9
#define X86_IRQ_PCI_BASE 16		/* INTA..INTD of slot N: 16 + ((N + pin) % 4) */
#define X86_IOAPIC_PINS 24

/* Port I/O. */
#define X86_PORT_COM1 0x3f8
#define X86_PORT_I8042_DATA 0x60
#define X86_PORT_I8042_CMD 0x64
#define X86_PORT_CMOS 0x70
#define X86_PORT_DEBUG_EXIT 0xf4
#define X86_PORT_PCI_CONFIG 0xcf8
#define X86_PORT_RESET 0xcf9
/* ACPI fixed hardware (ACPI 6.4 section 4.8): PM1a event and control
 * blocks, the PM timer and GPE0, at a PIIX4-like base. */
#define X86_PORT_ACPI_PM_BASE 0x600
#define X86_PORT_PM1A_EVT (X86_PORT_ACPI_PM_BASE + 0x00)	/* 4 bytes: STS, EN */
#define X86_PORT_PM1A_CNT (X86_PORT_ACPI_PM_BASE + 0x04)	/* 2 bytes */
#define X86_PORT_PM_TMR (X86_PORT_ACPI_PM_BASE + 0x08)	/* 4 bytes */
#define X86_PORT_GPE0 (X86_PORT_ACPI_PM_BASE + 0x20)		/* 4 bytes: STS, EN */
#define X86_ACPI_SLP_TYP_S5 5

#endif
