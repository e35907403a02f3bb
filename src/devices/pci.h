/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_DEVICES_PCI_H
#define VESSEL_DEVICES_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/bus.h"
#include "util/stream.h"

/*
 * PCI: one root bus (bus 0) behind a host bridge at 00:00.0, with config
 * space reached through the 0xCF8/0xCFC mechanism (PCI Local Bus 3.0
 * section 3.2.2.3.2) and through ECAM (PCI Express Base 4.0 section 7.2.2).
 * There is no firmware, so the VMM assigns BAR addresses itself from the
 * 32-bit and 64-bit MMIO windows the ACPI _CRS advertises; the guest may
 * move them, and the bus mapping follows the BAR registers and the
 * command register's I/O and memory enable bits.
 */
#define PCI_CFG_SIZE 4096
#define PCI_MAX_DEVICES 32
#define PCI_NUM_BARS 6

#define PCI_BAR_IO 0x1
#define PCI_BAR_MEM64 0x4
#define PCI_BAR_PREFETCH 0x8

/* Standard header offsets (PCI Local Bus 3.0 section 6.1). */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION_ID 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0 0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID 0x2e
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d

#define PCI_COMMAND_IO 0x1
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS_INTERRUPT 0x8
#define PCI_STATUS_CAP_LIST 0x10

#define PCI_CAP_ID_MSI 0x05
#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_EXP 0x10
#define PCI_CAP_ID_MSIX 0x11

struct pci_dev;
struct pci_bus;

struct pci_bar {
	uint64_t size;		/* power of two, 0 if unused */
	uint32_t flags;		/* PCI_BAR_* */
	const struct bus_ops *ops;
	void *opaque;
	uint64_t addr;		/* as programmed in the BAR registers */
	bool mapped;		/* currently registered on the I/O or MMIO bus */
};

struct pci_dev {
	char name[32];
	uint8_t devfn;
	struct pci_bus *bus;
	pthread_mutex_t cfg_lock;
	/*
	 * Serializes pci_dev_update_bars: two vCPUs moving or enabling the
	 * same BAR at once must not both act on bars[].mapped/addr, which
	 * would leave a registration on the bus that nothing tracks.  Lock
	 * order: bar_lock, then cfg_lock or a bus's write lock (never held
	 * by the bus while it calls a device) or bar_moved's own locks.
	 */
	pthread_mutex_t bar_lock;
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE];	/* bits the guest may write */
	uint8_t w1cmask[PCI_CFG_SIZE];	/* write-one-to-clear bits */
	struct pci_bar bars[PCI_NUM_BARS];
	uint8_t cap_next;	/* where the next capability goes */
	uint8_t *cap_last_next;	/* "next" byte of the last capability */
	uint32_t intx_gsi;	/* IOAPIC pin for INTA# */
	void *opaque;

	/*
	 * Optional hooks, called without cfg_lock held.  config_write runs
	 * after the generic code stored the value; bar_moved runs after a
	 * BAR's bus mapping changed (new_addr 0 when unmapped), so devices
	 * can move their ioeventfds.
	 */
	void (*config_write)(struct pci_dev *d, uint32_t off, uint32_t val, unsigned int len);
	/*
	 * Called before a guest config read of [off, off+len) is served from
	 * cfg[], so a device can refresh registers whose value lives
	 * elsewhere (virtio's pci_cfg access window, 4.1.4.8).
	 */
	void (*config_read)(struct pci_dev *d, uint32_t off, unsigned int len);
	void (*bar_moved)(struct pci_dev *d, int bar, uint64_t old_addr, uint64_t new_addr);
};

void pci_dev_init(struct pci_dev *d, const char *name, uint16_t vendor, uint16_t device,
		  uint32_t class_code, uint8_t revision, uint16_t subsys_vendor,
		  uint16_t subsys_id);
/* Declare BAR `bar` (a 64-bit BAR also uses bar+1). */
int pci_dev_add_bar(struct pci_dev *d, int bar, uint64_t size, uint32_t flags,
		    const struct bus_ops *ops, void *opaque);
/*
 * Append a capability: `body` is everything after the ID and next
 * pointer bytes, `len` counts the whole capability including those two.
 * Returns the capability's config-space offset, or -ENOSPC.
 */
int pci_dev_add_cap(struct pci_dev *d, uint8_t cap_id, const void *body, unsigned int len);
/* Make config bytes [off, off+len) guest-writable with this mask pattern. */
void pci_dev_set_wmask(struct pci_dev *d, uint32_t off, const uint8_t *mask, unsigned int len);
/* Raise or lower INTA# (honours COMMAND.INTX_DISABLE, sets STATUS.INTERRUPT). */
void pci_dev_set_intx(struct pci_dev *d, int level);
/* Make the BAR mappings follow the BAR and command registers (cfg_lock not held). */
void pci_dev_update_bars(struct pci_dev *d);
/*
 * Config space for save/restore (pci-state.c): section "PCFG" v1.  Load
 * refuses an image whose read-only bytes differ from this function's,
 * then maps the BARs and drives INTA#.  The stream carries the message.
 */
void pci_dev_save(struct pci_dev *d, struct stream *s);
int pci_dev_load(struct pci_dev *d, struct stream *s);
uint32_t pci_cfg_read32(struct pci_dev *d, uint32_t off);

struct dev_host;
/*
 * Create bus 0 with its host bridge, the 0xCF8/0xCFC ports, the 0xCF9
 * reset control register and ECAM on host's buses.  Registers the
 * component "pci-host", which owns the bus from then on (its destroy op
 * calls pci_bus_destroy()).
 */
int pci_bus_create(struct dev_host *host, struct pci_bus **out);
void pci_bus_destroy(struct pci_bus *b);
/* Add a device in the next free slot; assigns BARs and maps them. */
int pci_bus_add(struct pci_bus *b, struct pci_dev *d);
unsigned int pci_bus_nr_devices(struct pci_bus *b);
struct pci_dev *pci_bus_device(struct pci_bus *b, unsigned int slot);

#endif
