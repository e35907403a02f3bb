// SPDX-License-Identifier: MIT
/*
 * pci.elf - PCI configuration space: the MCFG table (PCI Firmware spec 3.2
 * section 4.1.2) names an ECAM window for segment 0 covering bus 0, and
 * for every function on bus 0 the first 64 bytes read the same through
 * 0xCF8/0xCFC (PCI Local Bus spec 3.0 section 3.2.2.3.2) and through ECAM
 * (PCIe base spec section 7.2.2).  00:00.0 must be a host bridge (class
 * 0x0600); absent functions read all ones.  A write through 0xCF8 (the
 * host bridge's command register, written back unchanged) reads back the
 * same through ECAM.
 *
 * Options: expect_devices=N (functions on bus 0), ecam=0 (no MCFG: check
 * 0xCF8 only).
 */
#include "guest.h"

void guest_main(void)
{
	bool ecam = opt_u64("ecam", 1) != 0;
	const struct mcfg_entry *m = NULL;
	int n = 0;

	if (ecam) {
		m = mcfg_find(0);
		check(m, "no MCFG entry for segment 0");
		printf("MCFG: ECAM at 0x%lx, buses %u-%u\n", m->base, m->bus_start, m->bus_end);
		check(m->bus_start == 0, "ECAM window starts at bus %u", m->bus_start);
		check(!(m->base & 0xfffff), "ECAM base 0x%lx not 1 MiB aligned", m->base);
		check(m->base + ((u64)(m->bus_end + 1) << 20) <= 4 * GiB,
		      "ECAM window above 4 GiB (not mapped by the guest)");
	}
	u32 id0 = pci_cf8_read32(0, 0, 0, 0);
	check((id0 & 0xffff) != 0xffff, "no device at 00:00.0");
	u32 cls0 = pci_cf8_read32(0, 0, 0, 8) >> 16;
	check(cls0 == 0x0600, "00:00.0 class 0x%04x, expected 0x0600 (host bridge)", cls0);

	for (u8 dev = 0; dev < 32; dev++) {
		for (u8 fn = 0; fn < 8; fn++) {
			u32 id = pci_cf8_read32(0, dev, fn, 0);
			if (ecam)
				check(pci_ecam_read32(0, 0, dev, fn, 0) == id,
				      "%02x.%u: vendor/device 0x%08x via 0xCF8, "
				      "0x%08x via ECAM",
				      dev, fn, id, pci_ecam_read32(0, 0, dev, fn, 0));
			if ((id & 0xffff) == 0xffff) {
				check(id == 0xffffffff, "%02x.%u: absent but reads 0x%08x", dev, fn,
				      id);
				if (!fn)
					break;
				continue;
			}
			n++;
			u32 cls = pci_cf8_read32(0, dev, fn, 8);
			printf("00:%02x.%u %04x:%04x class %06x\n", dev, fn, id & 0xffff, id >> 16,
			       cls >> 8);
			for (u16 reg = 4; ecam && reg < 64; reg += 4) {
				u32 a = pci_cf8_read32(0, dev, fn, reg);
				u32 b = pci_ecam_read32(0, 0, dev, fn, reg);
				/* The status register may change between reads;
				 * compare the rest. */
				if (reg == 4) {
					a &= 0xffff;
					b &= 0xffff;
				}
				check(a == b,
				      "00:%02x.%u reg 0x%02x: 0x%08x via 0xCF8, "
				      "0x%08x via ECAM",
				      dev, fn, reg, a, b);
			}
			if (!fn && !(pci_cf8_read32(0, dev, 0, 0xc) & 0x800000))
				break;
		}
	}
	printf("%d function(s) on bus 0\n", n);
	u64 want = opt_u64("expect_devices", 0);
	if (want)
		check((u64)n == want, "%d functions on bus 0, expected %lu", n, want);

	/* Write through one mechanism, read through the other. */
	u32 cmd = pci_cf8_read32(0, 0, 0, 4) & 0xffff;
	pci_cf8_write32(0, 0, 0, 4, cmd);
	if (ecam)
		check((pci_ecam_read32(0, 0, 0, 0, 4) & 0xffff) == cmd,
		      "00:00.0 command register differs after a write");
}
