/* SPDX-License-Identifier: MIT */
/*
 * vessel x86 DSDT (ACPI 6.4 section 5.2.11.1), compiled at build time by
 * iasl and embedded in the binary by scripts/bin2c.py.
 *
 * What the namespace describes must match src/arch/x86/layout.h and the
 * device models: the PCI root (ECAM, I/O and MMIO windows, INTx routing),
 * COM1, the i8042 keyboard and the CMOS RTC.  The power button is the FADT
 * fixed-feature button (PWR_BUTTON flag clear), so it needs no device here.
 *
 * One value is only known at VM start: the 64-bit MMIO window of PCI0,
 * which begins above the end of guest RAM.  The QWordMemory descriptor
 * below carries a placeholder range that acpi.c finds and patches (see
 * acpi_patch_mmio64()); keep the placeholder values in sync with
 * ACPI_DSDT_MMIO64_MAGIC there.
 */
DefinitionBlock ("", "DSDT", 2, "VESSEL", "VESSELDS", 0x00000001)
{
	/*
	 * Sleep state S5 (soft off), ACPI 6.4 section 7.4.2: SLP_TYPa for
	 * PM1a_CNT, SLP_TYPb (no PM1b block), two reserved.  Only S5 is
	 * offered, so OSPM never tries S1-S4.
	 */
	Name (_S5, Package (0x04) { 0x05, 0x05, Zero, Zero })

	Scope (_SB)
	{
		/* PCI Express root bridge (PCI Firmware 3.2 section 4.1.5). */
		Device (PCI0)
		{
			Name (_HID, EisaId ("PNP0A08"))
			Name (_CID, EisaId ("PNP0A03"))
			Name (_SEG, Zero)
			Name (_BBN, Zero)
			Name (_UID, Zero)
			Name (_CRS, ResourceTemplate ()
			{
				/* Bus 0 only, as MCFG says (X86_PCI_LAST_BUS). */
				WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,
					0x0000, 0x0000, 0x0000, 0x0000, 0x0001,,,)
				/* 0xCF8-0xCFF: the configuration mechanism itself. */
				IO (Decode16, 0x0CF8, 0x0CF8, 0x01, 0x08,)
				WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,
					0x0000, 0x0000, 0x0CF7, 0x0000, 0x0CF8,,, , TypeStatic, DenseTranslation)
				WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,
					0x0000, 0x0D00, 0xFFFF, 0x0000, 0xF300,,, , TypeStatic, DenseTranslation)
				/* X86_PCI_MMIO32_START, X86_PCI_MMIO32_SIZE */
				DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,
					0x00000000, 0xC0000000, 0xDFFFFFFF, 0x00000000, 0x20000000,,, , AddressRangeMemory, TypeStatic)
				/* 64-bit window: placeholder, patched at VM start. */
				QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,
					0x0000000000000000, 0x00007E55E0000000, 0x00007E56DFFFFFFF,
					0x0000000000000000, 0x0000000100000000,,, , AddressRangeMemory, TypeStatic)
			})

			/*
			 * Operating System Capabilities (ACPI 6.4 section 6.2.11,
			 * PCI Firmware 3.2 section 4.5.1).  Without _OSC Linux
			 * logs "platform retains control of PCIe features
			 * (AE_NOT_FOUND)".  The OS may own PME, AER and the PCIe
			 * capability structure; there are no hot-plug slots, so
			 * native PCIe hot-plug and SHPC (bits 0, 1) stay masked.
			 */
			Method (_OSC, 4, NotSerialized)
			{
				CreateDWordField (Arg3, Zero, CDW1)
				If ((Arg0 == ToUUID ("33db4d5b-1ff7-401c-9657-7441c03dd766")) &&
					(SizeOf (Arg3) >= 12))
				{
					CreateDWordField (Arg3, 0x08, CDW3)
					Local0 = (CDW3 & 0x1C)
					If (Arg1 != One)
					{
						/* Unrecognized revision. */
						CDW1 |= 0x08
					}
					If (CDW3 != Local0)
					{
						/* Capabilities masked. */
						CDW1 |= 0x10
					}
					CDW3 = Local0
				}
				Else
				{
					/* Unrecognized UUID. */
					CDW1 |= 0x04
				}
				Return (Arg3)
			}

			/*
			 * INTx routing (ACPI 6.4 section 6.2.13), no link devices:
			 * slot N pin P (0 = INTA) goes straight to IOAPIC input
			 * GSI 16 + ((N + P) % 4), as X86_IRQ_PCI_BASE says.
			 */
			Name (_PRT, Package ()
			{
			Package () { 0x0000FFFF, 0, Zero, 16 },
			Package () { 0x0000FFFF, 1, Zero, 17 },
			Package () { 0x0000FFFF, 2, Zero, 18 },
			Package () { 0x0000FFFF, 3, Zero, 19 },
			Package () { 0x0001FFFF, 0, Zero, 17 },
			Package () { 0x0001FFFF, 1, Zero, 18 },
			Package () { 0x0001FFFF, 2, Zero, 19 },
			Package () { 0x0001FFFF, 3, Zero, 16 },
			Package () { 0x0002FFFF, 0, Zero, 18 },
			Package () { 0x0002FFFF, 1, Zero, 19 },
			Package () { 0x0002FFFF, 2, Zero, 16 },
			Package () { 0x0002FFFF, 3, Zero, 17 },
			Package () { 0x0003FFFF, 0, Zero, 19 },
			Package () { 0x0003FFFF, 1, Zero, 16 },
			Package () { 0x0003FFFF, 2, Zero, 17 },
			Package () { 0x0003FFFF, 3, Zero, 18 },
			Package () { 0x0004FFFF, 0, Zero, 16 },
			Package () { 0x0004FFFF, 1, Zero, 17 },
			Package () { 0x0004FFFF, 2, Zero, 18 },
			Package () { 0x0004FFFF, 3, Zero, 19 },
			Package () { 0x0005FFFF, 0, Zero, 17 },
			Package () { 0x0005FFFF, 1, Zero, 18 },
			Package () { 0x0005FFFF, 2, Zero, 19 },
			Package () { 0x0005FFFF, 3, Zero, 16 },
			Package () { 0x0006FFFF, 0, Zero, 18 },
			Package () { 0x0006FFFF, 1, Zero, 19 },
			Package () { 0x0006FFFF, 2, Zero, 16 },
			Package () { 0x0006FFFF, 3, Zero, 17 },
			Package () { 0x0007FFFF, 0, Zero, 19 },
			Package () { 0x0007FFFF, 1, Zero, 16 },
			Package () { 0x0007FFFF, 2, Zero, 17 },
			Package () { 0x0007FFFF, 3, Zero, 18 },
			Package () { 0x0008FFFF, 0, Zero, 16 },
			Package () { 0x0008FFFF, 1, Zero, 17 },
			Package () { 0x0008FFFF, 2, Zero, 18 },
			Package () { 0x0008FFFF, 3, Zero, 19 },
			Package () { 0x0009FFFF, 0, Zero, 17 },
			Package () { 0x0009FFFF, 1, Zero, 18 },
			Package () { 0x0009FFFF, 2, Zero, 19 },
			Package () { 0x0009FFFF, 3, Zero, 16 },
			Package () { 0x000AFFFF, 0, Zero, 18 },
			Package () { 0x000AFFFF, 1, Zero, 19 },
			Package () { 0x000AFFFF, 2, Zero, 16 },
			Package () { 0x000AFFFF, 3, Zero, 17 },
			Package () { 0x000BFFFF, 0, Zero, 19 },
			Package () { 0x000BFFFF, 1, Zero, 16 },
			Package () { 0x000BFFFF, 2, Zero, 17 },
			Package () { 0x000BFFFF, 3, Zero, 18 },
			Package () { 0x000CFFFF, 0, Zero, 16 },
			Package () { 0x000CFFFF, 1, Zero, 17 },
			Package () { 0x000CFFFF, 2, Zero, 18 },
			Package () { 0x000CFFFF, 3, Zero, 19 },
			Package () { 0x000DFFFF, 0, Zero, 17 },
			Package () { 0x000DFFFF, 1, Zero, 18 },
			Package () { 0x000DFFFF, 2, Zero, 19 },
			Package () { 0x000DFFFF, 3, Zero, 16 },
			Package () { 0x000EFFFF, 0, Zero, 18 },
			Package () { 0x000EFFFF, 1, Zero, 19 },
			Package () { 0x000EFFFF, 2, Zero, 16 },
			Package () { 0x000EFFFF, 3, Zero, 17 },
			Package () { 0x000FFFFF, 0, Zero, 19 },
			Package () { 0x000FFFFF, 1, Zero, 16 },
			Package () { 0x000FFFFF, 2, Zero, 17 },
			Package () { 0x000FFFFF, 3, Zero, 18 },
			Package () { 0x0010FFFF, 0, Zero, 16 },
			Package () { 0x0010FFFF, 1, Zero, 17 },
			Package () { 0x0010FFFF, 2, Zero, 18 },
			Package () { 0x0010FFFF, 3, Zero, 19 },
			Package () { 0x0011FFFF, 0, Zero, 17 },
			Package () { 0x0011FFFF, 1, Zero, 18 },
			Package () { 0x0011FFFF, 2, Zero, 19 },
			Package () { 0x0011FFFF, 3, Zero, 16 },
			Package () { 0x0012FFFF, 0, Zero, 18 },
			Package () { 0x0012FFFF, 1, Zero, 19 },
			Package () { 0x0012FFFF, 2, Zero, 16 },
			Package () { 0x0012FFFF, 3, Zero, 17 },
			Package () { 0x0013FFFF, 0, Zero, 19 },
			Package () { 0x0013FFFF, 1, Zero, 16 },
			Package () { 0x0013FFFF, 2, Zero, 17 },
			Package () { 0x0013FFFF, 3, Zero, 18 },
			Package () { 0x0014FFFF, 0, Zero, 16 },
			Package () { 0x0014FFFF, 1, Zero, 17 },
			Package () { 0x0014FFFF, 2, Zero, 18 },
			Package () { 0x0014FFFF, 3, Zero, 19 },
			Package () { 0x0015FFFF, 0, Zero, 17 },
			Package () { 0x0015FFFF, 1, Zero, 18 },
			Package () { 0x0015FFFF, 2, Zero, 19 },
			Package () { 0x0015FFFF, 3, Zero, 16 },
			Package () { 0x0016FFFF, 0, Zero, 18 },
			Package () { 0x0016FFFF, 1, Zero, 19 },
			Package () { 0x0016FFFF, 2, Zero, 16 },
			Package () { 0x0016FFFF, 3, Zero, 17 },
			Package () { 0x0017FFFF, 0, Zero, 19 },
			Package () { 0x0017FFFF, 1, Zero, 16 },
			Package () { 0x0017FFFF, 2, Zero, 17 },
			Package () { 0x0017FFFF, 3, Zero, 18 },
			Package () { 0x0018FFFF, 0, Zero, 16 },
			Package () { 0x0018FFFF, 1, Zero, 17 },
			Package () { 0x0018FFFF, 2, Zero, 18 },
			Package () { 0x0018FFFF, 3, Zero, 19 },
			Package () { 0x0019FFFF, 0, Zero, 17 },
			Package () { 0x0019FFFF, 1, Zero, 18 },
			Package () { 0x0019FFFF, 2, Zero, 19 },
			Package () { 0x0019FFFF, 3, Zero, 16 },
			Package () { 0x001AFFFF, 0, Zero, 18 },
			Package () { 0x001AFFFF, 1, Zero, 19 },
			Package () { 0x001AFFFF, 2, Zero, 16 },
			Package () { 0x001AFFFF, 3, Zero, 17 },
			Package () { 0x001BFFFF, 0, Zero, 19 },
			Package () { 0x001BFFFF, 1, Zero, 16 },
			Package () { 0x001BFFFF, 2, Zero, 17 },
			Package () { 0x001BFFFF, 3, Zero, 18 },
			Package () { 0x001CFFFF, 0, Zero, 16 },
			Package () { 0x001CFFFF, 1, Zero, 17 },
			Package () { 0x001CFFFF, 2, Zero, 18 },
			Package () { 0x001CFFFF, 3, Zero, 19 },
			Package () { 0x001DFFFF, 0, Zero, 17 },
			Package () { 0x001DFFFF, 1, Zero, 18 },
			Package () { 0x001DFFFF, 2, Zero, 19 },
			Package () { 0x001DFFFF, 3, Zero, 16 },
			Package () { 0x001EFFFF, 0, Zero, 18 },
			Package () { 0x001EFFFF, 1, Zero, 19 },
			Package () { 0x001EFFFF, 2, Zero, 16 },
			Package () { 0x001EFFFF, 3, Zero, 17 },
			Package () { 0x001FFFFF, 0, Zero, 19 },
			Package () { 0x001FFFFF, 1, Zero, 16 },
			Package () { 0x001FFFFF, 2, Zero, 17 },
			Package () { 0x001FFFFF, 3, Zero, 18 }
			})
		}

		/*
		 * Motherboard resources (PNP0C02): the ECAM window must be
		 * reserved here or in e820 for Linux to use MMCONFIG (PCI
		 * Firmware 3.2 section 4.1.2), and the ACPI PM I/O block.
		 */
		Device (MRES)
		{
			Name (_HID, EisaId ("PNP0C02"))
			Name (_UID, Zero)
			Name (_CRS, ResourceTemplate ()
			{
				/* X86_PCI_ECAM_START, X86_PCI_ECAM_SIZE */
				Memory32Fixed (ReadWrite, 0xE0000000, 0x10000000,)
				/* X86_PORT_ACPI_PM_BASE: PM1a EVT/CNT, PM_TMR, GPE0 */
				IO (Decode16, 0x0600, 0x0600, 0x01, 0x40,)
				/* X86_PORT_RESET */
				IO (Decode16, 0x0CF9, 0x0CF9, 0x01, 0x01,)
			})
		}

		/* COM1: 16550-compatible UART (src/devices/uart8250.c). */
		Device (COM1)
		{
			Name (_HID, EisaId ("PNP0501"))
			Name (_UID, One)
			Name (_STA, 0x0F)
			Name (_CRS, ResourceTemplate ()
			{
				IO (Decode16, 0x03F8, 0x03F8, 0x01, 0x08,)
				IRQNoFlags () {4}
			})
		}

		/* PS/2 keyboard controller (i8042). */
		Device (KBD)
		{
			Name (_HID, EisaId ("PNP0303"))
			Name (_STA, 0x0F)
			Name (_CRS, ResourceTemplate ()
			{
				IO (Decode16, 0x0060, 0x0060, 0x01, 0x01,)
				IO (Decode16, 0x0064, 0x0064, 0x01, 0x01,)
				IRQNoFlags () {1}
			})
		}

		/* CMOS RTC (FADT IAPC_BOOT_ARCH "CMOS RTC Not Present" clear). */
		Device (RTC)
		{
			Name (_HID, EisaId ("PNP0B00"))
			Name (_STA, 0x0F)
			Name (_CRS, ResourceTemplate ()
			{
				IO (Decode16, 0x0070, 0x0070, 0x01, 0x02,)
				IRQNoFlags () {8}
			})
		}
	}
}
