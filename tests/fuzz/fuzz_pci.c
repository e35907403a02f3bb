// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: PCI configuration space and BAR mapping
 * (src/devices/pci.c) with generic MSI-X (src/devices/msix.c).  The bus
 * holds the host bridge and three fake functions with every BAR kind
 * virtio-pci lacks: an I/O BAR, a 32-bit and a prefetchable 64-bit
 * memory BAR, a BAR too big for the I/O space, and MSI-X with its table
 * and PBA in a memory BAR.  A guest sizes and moves BARs (onto each
 * other, across 4 GiB, to 0, past the top of memory and the I/O space),
 * flips the command register, writes read-only and W1C bits, and
 * programs the MSI-X table, function mask and enable, through 0xCF8/
 * 0xCFC and ECAM at every width and alignment; the device side raises
 * INTx and MSI-X vectors.
 *
 * After every step the harness checks what the guest cannot see but
 * must hold: each BAR the PCI layer calls mapped is on the bus at its
 * address and answers there, and no other range of the bus belongs to
 * a BAR (a stale registration would route guest accesses to a device
 * that moved away).
 */
#include "fuzz_common.h"

#include "arch/x86/layout.h"
#include "arch/x86/x86.h"
#include "bus/bus.h"
#include "devices/msix.h"
#include "devices/pci.h"
#include "util/util.h"
#include "vm/config.h"
#include "vm/vm.h"

#define NR_FAKE 3
#define MSIX_VECTORS 5

struct fake_bar {
	struct fake_dev *dev;
	int bar;
};

struct fake_dev {
	struct pci_dev pci;
	struct msix msix;
	bool has_msix;
	struct fake_bar cookies[PCI_NUM_BARS];
	struct fake_bar *last_hit;
};

static struct fake_bar *hit;

static void fake_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	struct fake_bar *fb = opaque;
	struct fake_dev *d = fb->dev;

	hit = fb;
	memset(data, 0, len);
	if (d->has_msix && fb->bar == 2) {
		if (off >= 0x800)
			msix_pba_read(&d->msix, off - 0x800, data, len);
		else
			msix_table_read(&d->msix, off, data, len);
	}
}

static void fake_write(void *opaque, uint64_t off, const void *data, unsigned int len)
{
	struct fake_bar *fb = opaque;
	struct fake_dev *d = fb->dev;

	hit = fb;
	if (d->has_msix && fb->bar == 2 && off < 0x800)
		msix_table_write(&d->msix, off, data, len);
}

static const struct bus_ops fake_ops = { .read = fake_read, .write = fake_write };

static void fake_config_write(struct pci_dev *p, uint32_t off, uint32_t val, unsigned int len)
{
	struct fake_dev *d = p->opaque;

	if (d->has_msix)
		msix_config_write(&d->msix, off, val, len);
}

static void fake_bar_moved(struct pci_dev *p, int bar, uint64_t old_addr, uint64_t new_addr)
{
	/* The hook reports what the bus now has. */
	if (new_addr != (p->bars[bar].mapped ? p->bars[bar].addr : 0))
		abort();
}

struct harness {
	struct vm vm;
	struct vm_config cfg;
	struct x86_machine x;
	struct fake_dev dev[NR_FAKE];
	uint8_t ram[4096];
};

static int add_fake(struct harness *h, struct fake_dev *d, unsigned int kind)
{
	struct pci_dev *p = &d->pci;

	pci_dev_init(p, "fake", 0x1234, (uint16_t)(0x10 + kind), 0xff0000, 0, 0x1234, 0);
	p->opaque = d;
	p->config_write = fake_config_write;
	p->bar_moved = fake_bar_moved;
	for (int i = 0; i < PCI_NUM_BARS; i++)
		d->cookies[i] = (struct fake_bar){ d, i };
	switch (kind) {
	case 0:
		if (pci_dev_add_bar(p, 0, 0x20, PCI_BAR_IO, &fake_ops, &d->cookies[0]) ||
		    pci_dev_add_bar(p, 1, 0x1000, 0, &fake_ops, &d->cookies[1]) ||
		    pci_dev_add_bar(p, 2, 0x1000, PCI_BAR_MEM64, &fake_ops, &d->cookies[2]))
			return -1;
		break;
	case 1:
		if (pci_dev_add_bar(p, 0, 0x100, PCI_BAR_IO, &fake_ops, &d->cookies[0]) ||
		    pci_dev_add_bar(p, 2, 0x1000, PCI_BAR_MEM64 | PCI_BAR_PREFETCH, &fake_ops,
				    &d->cookies[2]) ||
		    pci_dev_add_bar(p, 5, 0x100000, 0, &fake_ops, &d->cookies[5]))
			return -1;
		break;
	default:
		if (pci_dev_add_bar(p, 4, 0x10000, PCI_BAR_MEM64, &fake_ops, &d->cookies[4]))
			return -1;
		break;
	}
	if (kind < 2) {
		if (msix_init(&d->msix, p, MSIX_VECTORS, 2, 0, 0x800, NULL, -1))
			return -1;
		d->has_msix = true;
	}
	return pci_bus_add(h->vm.pci, p);
}

static int build(struct harness *h)
{
	struct vm *vm = &h->vm;

	memset(h, 0, sizeof(*h));
	vm_config_init(&h->cfg);
	vm->cfg = &h->cfg;
	vm->arch = &h->x;
	vm->vm_fd = -1;
	components_init(&vm->components);
	fuzz_ram_init(&vm->mem, h->ram, 0, sizeof(h->ram));
	/* No request hook: a 0xCF9 reset is latched and dropped. */
	vm->host = (struct dev_host){ .pio = &vm->pio, .mmio = &vm->mmio, .mem = &vm->mem,
				      .components = &vm->components, .vm_fd = -1 };
	if (bus_init(&vm->pio, "pio") || bus_init(&vm->mmio, "mmio") ||
	    pci_bus_create(&vm->host, &vm->pci))
		return -1;
	for (unsigned int i = 0; i < NR_FAKE; i++)
		if (add_fake(h, &h->dev[i], i))
			return -1;
	return 0;
}

static void teardown(struct harness *h)
{
	struct vm *vm = &h->vm;
	uint32_t zero = 0;

	/* Unmap every BAR the way a guest would (command register 0). */
	for (unsigned int i = 0; i < NR_FAKE; i++) {
		struct pci_dev *p = &h->dev[i].pci;
		uint32_t a = 0x80000000u | ((uint32_t)p->devfn << 8) | PCI_COMMAND;

		bus_access(&vm->pio, X86_PORT_PCI_CONFIG, &a, 4, true);
		bus_access(&vm->pio, X86_PORT_PCI_CONFIG + 4, &zero, 2, true);
		if (h->dev[i].has_msix)
			msix_destroy(&h->dev[i].msix);
	}
	components_fini(&vm->components); /* "pci-host" destroys the bus */
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	vm_config_free(&h->cfg);
	fuzz_ram_fini(&vm->mem);
}

/* The invariant of the header comment. */
static void check(struct harness *h)
{
	unsigned int mapped = 0, on_bus = 0;

	for (unsigned int i = 0; i < NR_FAKE; i++) {
		struct fake_dev *d = &h->dev[i];

		for (int b = 0; b < PCI_NUM_BARS; b++) {
			struct pci_bar *bar = &d->pci.bars[b];
			struct bus *bus = (bar->flags & PCI_BAR_IO) ? &h->vm.pio : &h->vm.mmio;
			uint32_t v;

			if (!bar->size || !bar->mapped)
				continue;
			mapped++;
			hit = NULL;
			bus_access(bus, bar->addr, &v, 4, false);
			if (hit != &d->cookies[b])
				abort(); /* mapped, but the bus sends it elsewhere */
		}
	}
	for (int k = 0; k < 2; k++) {
		struct bus *bus = k ? &h->vm.mmio : &h->vm.pio;

		for (unsigned int r = 0; r < bus->nr; r++)
			on_bus += bus->ranges[r].ops == &fake_ops;
	}
	if (on_bus != mapped)
		abort(); /* a stale or a lost registration */
}

static void cfg(struct harness *h, bool ecam, unsigned int slot, uint32_t reg, uint32_t *v,
		unsigned int w, bool wr)
{
	if (ecam) {
		uint64_t a = X86_PCI_ECAM_START + ((uint64_t)slot << 15) + (reg & 0xfff);

		bus_access(&h->vm.mmio, a, v, w, wr);
	} else {
		uint32_t a = 0x80000000u | (slot << 11) | (reg & 0xfc);

		bus_access(&h->vm.pio, X86_PORT_PCI_CONFIG, &a, 4, true);
		bus_access(&h->vm.pio, (uint16_t)(X86_PORT_PCI_CONFIG + 4 + (reg & 3)), v, w, wr);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static struct harness h;
	struct fin in = { data, len };

	fuzz_quiet();
	if (build(&h))
		abort();
	for (unsigned int steps = 0; fin_more(&in) && steps < 512; steps++) {
		uint8_t op = fin_u8(&in);
		unsigned int slot = fin_u8(&in) % (NR_FAKE + 2); /* 4: empty */
		struct fake_dev *d = &h.dev[slot % NR_FAKE];
		uint32_t v32 = 0;
		uint64_t v64 = 0;

		switch (op % 8) {
		case 0:
		case 1:
		case 2: {
			/* Any register, width and alignment (misaligned: dropped). */
			uint32_t reg = fin_u16(&in) % PCI_CFG_SIZE;
			unsigned int w = fin_width(&in, 2);

			v32 = fin_u32(&in);
			cfg(&h, op & 8, slot, reg, &v32, w, op % 8 != 2);
			break;
		}
		case 3: {
			/* A BAR or the command register, the interesting ones. */
			uint32_t reg = (op & 0x10) ? PCI_COMMAND : PCI_BAR0 + 4 * (fin_u8(&in) % 6);

			v32 = (op & 0x20) ? ~0u : fin_u32(&in);
			cfg(&h, op & 8, slot, reg, &v32, 4, true);
			break;
		}
		case 4: {
			/* MMIO or port I/O at a BAR of this device, or anywhere. */
			struct pci_bar *bar = &d->pci.bars[fin_u8(&in) % PCI_NUM_BARS];
			bool io = bar->flags & PCI_BAR_IO;
			uint64_t a = (op & 0x10) ? fin_u64(&in)
						 : bar->addr + fin_u16(&in) % (bar->size + 16);
			unsigned int w = fin_width(&in, 3);

			v64 = fin_u64(&in);
			bus_access(io ? &h.vm.pio : &h.vm.mmio, io ? (uint16_t)a : a, &v64,
				   io && w > 4 ? 4 : w, op & 8);
			break;
		}
		case 5:
			if (d->has_msix)
				msix_notify(&d->msix, fin_u8(&in) % (MSIX_VECTORS + 2));
			break;
		case 6:
			pci_dev_set_intx(&d->pci, op & 8);
			break;
		default:
			if (d->has_msix)
				msix_reset(&d->msix);
			break;
		}
		check(&h);
	}
	teardown(&h);
	return 0;
}
