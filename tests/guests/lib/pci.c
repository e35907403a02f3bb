// SPDX-License-Identifier: MIT
/*
 * pci.c - PCI configuration space through the 0xCF8/0xCFC mechanism #1
 * (PCI Local Bus spec 3.0 section 3.2.2.3.2) and through ECAM (PCI Express
 * base spec section 7.2.2; the MCFG table gives the window).
 */
#include "guest.h"

static u32 cf8_addr(u8 bus, u8 dev, u8 fn, u16 reg)
{
	return 0x80000000u | (u32)bus << 16 | (u32)(dev & 31) << 11 | (u32)(fn & 7) << 8 |
	       (reg & 0xfc);
}

u32 pci_cf8_read32(u8 bus, u8 dev, u8 fn, u16 reg)
{
	outl(0xcf8, cf8_addr(bus, dev, fn, reg));
	return inl(0xcfc);
}

void pci_cf8_write32(u8 bus, u8 dev, u8 fn, u16 reg, u32 v)
{
	outl(0xcf8, cf8_addr(bus, dev, fn, reg));
	outl(0xcfc, v);
}

u32 pci_ecam_read32(u64 base, u8 bus, u8 dev, u8 fn, u16 reg)
{
	if (!base) {
		const struct mcfg_entry *e = mcfg_find(0);
		if (!e)
			return 0xffffffff;
		base = e->base + ((u64)(bus - e->bus_start) << 20);
		bus = 0;
	} else {
		base += (u64)bus << 20;
	}
	u64 a = base + ((u64)(dev & 31) << 15 | (u64)(fn & 7) << 12 | (reg & 0xffc));
	if (a >= 4 * GiB)
		return 0xffffffff;
	return mmio_read32(a);
}

/* PCI Code and ID Assignment spec 1.x, the common classes. */
const char *pci_class_name(u8 cls, u8 sub)
{
	switch (cls) {
	case 0x01:
		return sub == 0x06   ? "SATA controller"
		       : sub == 0x08 ? "NVMe controller"
				     : "storage controller";
	case 0x02:
		return "network controller";
	case 0x03:
		return "display controller";
	case 0x04:
		return "multimedia controller";
	case 0x05:
		return "memory controller";
	case 0x06:
		switch (sub) {
		case 0x00:
			return "host bridge";
		case 0x01:
			return "ISA bridge";
		case 0x04:
			return "PCI bridge";
		default:
			return "bridge";
		}
	case 0x07:
		return "communication controller";
	case 0x08:
		return "system peripheral";
	case 0x0c:
		return sub == 0x05 ? "SMBus controller" : "serial bus controller";
	case 0xff:
		return "unassigned class";
	default:
		return "other";
	}
}
