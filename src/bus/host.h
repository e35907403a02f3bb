/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_BUS_HOST_H
#define VESSEL_BUS_HOST_H

#include <stdint.h>

/*
 * What a device model may use of the machine it sits in: the narrow
 * host interface (docs/architecture.md, "Layers").  Devices get a
 * struct dev_host, never struct vm: the PIO and MMIO buses, guest
 * memory, the event loop, interrupt lines and MSI routes, the PCI bus,
 * the component table, and a way to ask the machine for a reset or a
 * power-off (port 0xCF9, the i8042 reset line, ACPI S5).
 *
 * The board (src/vm/board.c) fills it in; unit tests fill it with
 * their own buses and stubs.
 */
struct bus;
struct gmem;
struct evloop;
struct components;
struct irq_router;
struct pci_bus;

enum dev_host_request {
	DEV_HOST_RESET,	   /* platform reset: reboot the guest (or exit, per on_reboot) */
	DEV_HOST_POWEROFF, /* the guest powered off (ACPI S5) */
	DEV_HOST_QUIT,	   /* the user quit at the console (Ctrl-A x): stop as on SIGTERM */
	DEV_HOST_IO_ERROR, /* a disk stopped on an I/O error (werror/rerror=stop): pause */
};

struct dev_host {
	struct bus *pio;
	struct bus *mmio;
	struct gmem *mem;
	struct evloop *loop;
	struct components *components;
	struct irq_router *irq;	/* MSI routes; NULL without KVM */
	struct pci_bus *pci;
	int vm_fd;		/* ioeventfd/irqfd registration; -1 without KVM */
	const char *vm_name;	/* for stable per-VM defaults (a NIC's MAC); may be NULL */

	/* Raise (1) or lower (0) an IOAPIC/PIC pin. */
	int (*irq_line)(void *opaque, uint32_t irq, int level);
	/* Ask the machine to reset or power off; returns at once. */
	void (*request)(void *opaque, enum dev_host_request req);
	void *opaque;
};

static inline int dev_host_irq_line(const struct dev_host *h, uint32_t irq, int level)
{
	return h->irq_line ? h->irq_line(h->opaque, irq, level) : 0;
}

static inline void dev_host_request(const struct dev_host *h, enum dev_host_request req)
{
	if (h->request)
		h->request(h->opaque, req);
}

#endif
