// SPDX-License-Identifier: MIT
/*
 * PCI bus 0 with its host bridge: configuration mechanism #1 through
 * 0xCF8/0xCFC (PCI Local Bus 3.0 section 3.2.2.3.2), ECAM (PCIe Base 4.0
 * section 7.2.2), BAR sizing/programming (PCI 3.0 section 6.2.5.1) and
 * mapping of BARs onto the I/O and MMIO buses as the guest enables them.
 *
 * The host bridge also decodes 0xCF9, the PIIX-style reset control
 * register inside the 0xCF8 dword (PCI 3.0 section 3.2.2.3.2: only dword
 * accesses at 0xCF8 are CONFIG_ADDRESS), and asks the machine for a reset
 * through the host interface.  The bus is the component "pci-host".
 */
#include "devices/pci.h"
#include "arch/x86/acpi.h"
#include "arch/x86/layout.h"
#include "bus/host.h"
#include "devices/acpi_pm.h"
#include "util/component.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCI_HOST_VENDOR 0x1b36	/* Red Hat, Inc.: virtual PCIe host bridge IDs */
#define PCI_HOST_DEVICE 0x0008
#define PCI_CLASS_BRIDGE_HOST 0x060000

struct pci_bus {
	struct dev_host *dh;	/* the machine (bus/host.h) */
	pthread_mutex_t lock;
	uint32_t config_address;	/* the 0xCF8 register */
	uint8_t rcr;			/* 0xCF9: SYS_RST and bit 3, as PIIX4 keeps them */
	uint64_t nr_reset;		/* resets the guest asked for through 0xCF9 */
	struct pci_dev *devs[PCI_MAX_DEVICES];	/* by slot, function 0 only */
	struct pci_dev host;
	uint64_t mmio32_next, mmio64_next, io_next;
	struct ratelimit rl;
};

static inline uint16_t cfg16(const struct pci_dev *d, uint32_t off)
{
	return (uint16_t)(d->cfg[off] | d->cfg[off + 1] << 8);
}

static inline uint32_t cfg32(const struct pci_dev *d, uint32_t off)
{
	uint32_t v;

	memcpy(&v, &d->cfg[off], 4);
	return v;
}

static inline void cfg_put16(struct pci_dev *d, uint32_t off, uint16_t v)
{
	memcpy(&d->cfg[off], &v, 2);
}

static inline void cfg_put32(struct pci_dev *d, uint32_t off, uint32_t v)
{
	memcpy(&d->cfg[off], &v, 4);
}

void pci_dev_init(struct pci_dev *d, const char *name, uint16_t vendor, uint16_t device,
		  uint32_t class_code, uint8_t revision, uint16_t subsys_vendor,
		  uint16_t subsys_id)
{
	static const uint8_t cmd_mask[2] = { PCI_COMMAND_IO | PCI_COMMAND_MEMORY |
						     PCI_COMMAND_MASTER | 0x40 /* parity */,
					     0x04 /* INTX_DISABLE */ | 0x01 /* SERR */ };

	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	pthread_mutex_init(&d->cfg_lock, NULL);
	pthread_mutex_init(&d->bar_lock, NULL);
	cfg_put16(d, PCI_VENDOR_ID, vendor);
	cfg_put16(d, PCI_DEVICE_ID, device);
	d->cfg[PCI_REVISION_ID] = revision;
	d->cfg[PCI_CLASS_PROG] = class_code & 0xff;
	d->cfg[PCI_CLASS_PROG + 1] = (class_code >> 8) & 0xff;
	d->cfg[PCI_CLASS_PROG + 2] = (class_code >> 16) & 0xff;
	cfg_put16(d, PCI_SUBSYSTEM_VENDOR_ID, subsys_vendor);
	cfg_put16(d, PCI_SUBSYSTEM_ID, subsys_id);
	pci_dev_set_wmask(d, PCI_COMMAND, cmd_mask, 2);
	d->wmask[PCI_INTERRUPT_LINE] = 0xff;
	d->wmask[0x0c] = 0xff;	/* cache line size */
	d->wmask[0x0d] = 0xff;	/* latency timer */
	/* Status: the error bits are write-one-to-clear. */
	d->w1cmask[PCI_STATUS + 1] = 0xf9;
	d->cap_next = 0x40;
}

void pci_dev_set_wmask(struct pci_dev *d, uint32_t off, const uint8_t *mask, unsigned int len)
{
	if (off >= PCI_CFG_SIZE || len > PCI_CFG_SIZE - off)
		return;
	memcpy(&d->wmask[off], mask, len);
}

int pci_dev_add_bar(struct pci_dev *d, int bar, uint64_t size, uint32_t flags,
		    const struct bus_ops *ops, void *opaque)
{
	bool is64 = flags & PCI_BAR_MEM64;
	uint32_t off = PCI_BAR0 + 4 * (uint32_t)bar;
	uint64_t mask;

	if (bar < 0 || bar >= PCI_NUM_BARS || (is64 && bar == PCI_NUM_BARS - 1))
		return -EINVAL;
	if (size < ((flags & PCI_BAR_IO) ? 4 : 16) || (size & (size - 1)))
		return -EINVAL;
	if ((flags & PCI_BAR_IO) && is64)
		return -EINVAL;
	d->bars[bar] = (struct pci_bar){ .size = size, .flags = flags, .ops = ops,
					 .opaque = opaque };
	/* Read-only low bits encode the type; address bits are writable. */
	mask = ~(size - 1);
	if (flags & PCI_BAR_IO) {
		cfg_put32(d, off, 0x1);
		mask &= ~0x3ull;
	} else {
		cfg_put32(d, off, (is64 ? 0x4 : 0) | ((flags & PCI_BAR_PREFETCH) ? 0x8 : 0));
		mask &= ~0xfull;
	}
	for (int i = 0; i < 4; i++)
		d->wmask[off + i] = (uint8_t)(mask >> (8 * i));
	if (is64)
		for (int i = 0; i < 4; i++)
			d->wmask[off + 4 + i] = (uint8_t)(mask >> (32 + 8 * i));
	return 0;
}

int pci_dev_add_cap(struct pci_dev *d, uint8_t cap_id, const void *body, unsigned int len)
{
	uint8_t off = d->cap_next;

	if (len < 2 || (unsigned int)off + ALIGN_UP(len, 4) > 0x100)
		return -ENOSPC;
	d->cfg[off] = cap_id;
	d->cfg[off + 1] = 0;
	memcpy(&d->cfg[off + 2], body, len - 2);
	if (d->cap_last_next)
		*d->cap_last_next = off;
	else
		d->cfg[PCI_CAPABILITY_LIST] = off;
	d->cap_last_next = &d->cfg[off + 1];
	d->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	d->cap_next = (uint8_t)(off + ALIGN_UP(len, 4));
	return off;
}

uint32_t pci_cfg_read32(struct pci_dev *d, uint32_t off)
{
	uint32_t v;

	pthread_mutex_lock(&d->cfg_lock);
	v = cfg32(d, off & ~3u);
	pthread_mutex_unlock(&d->cfg_lock);
	return v;
}

void pci_dev_set_intx(struct pci_dev *d, int level)
{
	bool disabled;

	pthread_mutex_lock(&d->cfg_lock);
	if (level)
		d->cfg[PCI_STATUS] |= PCI_STATUS_INTERRUPT;
	else
		d->cfg[PCI_STATUS] &= ~PCI_STATUS_INTERRUPT;
	disabled = cfg16(d, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE;
	pthread_mutex_unlock(&d->cfg_lock);
	if (d->bus && d->cfg[PCI_INTERRUPT_PIN])
		dev_host_irq_line(d->bus->dh, d->intx_gsi, level && !disabled);
}

/* Current BAR address as programmed, or 0 if unprogrammed. */
static uint64_t pci_bar_address(struct pci_dev *d, int bar)
{
	uint32_t off = PCI_BAR0 + 4 * (uint32_t)bar;
	uint64_t addr = cfg32(d, off);

	if (d->bars[bar].flags & PCI_BAR_IO)
		return addr & ~0x3ull;
	addr &= ~0xfull;
	if (d->bars[bar].flags & PCI_BAR_MEM64)
		addr |= (uint64_t)cfg32(d, off + 4) << 32;
	return addr;
}

/*
 * Make the bus mapping of every BAR follow the BAR registers and the
 * command register's enable bits.  Called with cfg_lock NOT held: it
 * takes the bus write lock, and device callbacks may take cfg_lock.
 *
 * The whole pass runs under bar_lock.  Two vCPUs writing the same BAR
 * each store their value and then update; unserialized, both could act
 * on bars[].mapped/addr at once (one registering A while the other
 * records B), leaving a range on the bus that nothing unregisters.
 * Serialized, the last pass reads the last stored value, so the mapping
 * ends up matching the registers, and bar_moved sees every move in
 * order.  Nothing under it waits for the guest: the bus write lock is
 * never held across device callbacks (bus_access drops it first), and
 * bar_moved only moves ioeventfds.
 */
void pci_dev_update_bars(struct pci_dev *d)
{
	struct dev_host *host = d->bus->dh;
	uint16_t cmd;

	pthread_mutex_lock(&d->bar_lock);
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *b = &d->bars[i];
		bool io = b->flags & PCI_BAR_IO;
		struct bus *bus = io ? host->pio : host->mmio;
		uint64_t addr, now, old = b->mapped ? b->addr : 0;
		bool enable;

		if (!b->size)
			continue;
		pthread_mutex_lock(&d->cfg_lock);
		cmd = cfg16(d, PCI_COMMAND);
		addr = pci_bar_address(d, i);
		pthread_mutex_unlock(&d->cfg_lock);
		enable = (cmd & (io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY)) && addr &&
			 addr + b->size > addr && (io ? addr + b->size <= 0x10000 : true);
		if (b->mapped && (!enable || addr != b->addr)) {
			bus_unregister(bus, b->addr);
			b->mapped = false;
		}
		if (enable && !b->mapped) {
			if (bus_register(bus, addr, b->size, b->ops, b->opaque) == 0) {
				b->mapped = true;
				b->addr = addr;
			} else {
				log_guest_err(&d->bus->rl,
					      "pci %s: BAR%d at %#llx overlaps another device; "
					      "left unmapped",
					      d->name, i, (unsigned long long)addr);
			}
		}
		now = b->mapped ? b->addr : 0;
		if (d->bar_moved && now != old)
			d->bar_moved(d, i, old, now);
		if (!b->mapped)
			b->addr = 0;
	}
	pthread_mutex_unlock(&d->bar_lock);
}

static void pci_dev_config_write(struct pci_dev *d, uint32_t off, uint32_t val, unsigned int len)
{
	bool bars_changed = false;

	if (off >= PCI_CFG_SIZE || len > PCI_CFG_SIZE - off)
		return;
	pthread_mutex_lock(&d->cfg_lock);
	for (unsigned int i = 0; i < len; i++) {
		uint32_t o = off + i;
		uint8_t b = (uint8_t)(val >> (8 * i)), wm = d->wmask[o], w1c = d->w1cmask[o];

		d->cfg[o] = (uint8_t)((d->cfg[o] & ~wm) | (b & wm));
		d->cfg[o] &= (uint8_t)~(b & w1c);
		if ((o >= PCI_BAR0 && o < PCI_BAR0 + 24) || o == PCI_COMMAND)
			bars_changed = true;
	}
	pthread_mutex_unlock(&d->cfg_lock);
	if (bars_changed && d->bus)
		pci_dev_update_bars(d);
	if (off <= PCI_COMMAND + 1 && off + len > PCI_COMMAND + 1 && d->cfg[PCI_INTERRUPT_PIN] &&
	    (d->cfg[PCI_STATUS] & PCI_STATUS_INTERRUPT))
		pci_dev_set_intx(d, 1);	/* INTX_DISABLE may have changed */
	if (d->config_write)
		d->config_write(d, off, val, len);
}

static uint32_t pci_dev_config_read(struct pci_dev *d, uint32_t off, unsigned int len)
{
	uint32_t v = 0;

	if (off >= PCI_CFG_SIZE || len > PCI_CFG_SIZE - off)
		return ~0u;
	if (d->config_read)
		d->config_read(d, off, len);
	pthread_mutex_lock(&d->cfg_lock);
	memcpy(&v, &d->cfg[off], len);
	pthread_mutex_unlock(&d->cfg_lock);
	return v;
}

static struct pci_dev *pci_bus_lookup(struct pci_bus *b, unsigned int bus, unsigned int devfn)
{
	if (bus != 0 || (devfn & 7))
		return NULL;	/* one bus, function 0 only */
	return b->devs[devfn >> 3];
}

/* One config access, given bus/devfn/register; unaligned accesses are dropped. */
static void pci_config_access(struct pci_bus *b, unsigned int bus, unsigned int devfn,
			      uint32_t reg, void *data, unsigned int len, bool is_write)
{
	struct pci_dev *d = pci_bus_lookup(b, bus, devfn);
	uint32_t v = 0;

	if (!d || (reg & (len - 1))) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	if (is_write) {
		memcpy(&v, data, len);
		pci_dev_config_write(d, reg, v, len);
	} else {
		v = pci_dev_config_read(d, reg, len);
		memcpy(data, &v, len);
	}
}

/*
 * PIIX4 reset control register (the FADT's RESET_REG): SYS_RST selects a
 * hard reset, RST_CPU triggers it.  The request goes out without the bus
 * lock: it takes the machine's lock and kicks vCPUs.
 */
static void pci_rcr_access(struct pci_bus *b, uint8_t *data, bool is_write)
{
	bool reset = false;

	pthread_mutex_lock(&b->lock);
	if (is_write) {
		b->rcr = *data & (ACPI_RCR_SYS_RST | 0x8);
		reset = *data & ACPI_RCR_RST_CPU;
		b->nr_reset += reset;
	} else {
		*data = b->rcr;
	}
	pthread_mutex_unlock(&b->lock);
	if (reset) {
		log_info("pci-host: guest reset through port 0x%x", X86_PORT_RESET);
		dev_host_request(b->dh, DEV_HOST_RESET);
	}
}

static void pci_cf8_access(struct pci_bus *b, uint64_t off, void *data, unsigned int len,
			   bool is_write)
{
	uint32_t addr;

	if (off == 0 && len == 4) {
		pthread_mutex_lock(&b->lock);
		if (is_write)
			memcpy(&b->config_address, data, 4);
		else
			memcpy(data, &b->config_address, 4);
		pthread_mutex_unlock(&b->lock);
		return;
	}
	if (off == 1 && len == 1) {
		/* 0xCF9 is the reset control register, not part of CONFIG_ADDRESS. */
		pci_rcr_access(b, (uint8_t *)data, is_write);
		return;
	}
	if (off < 4) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&b->lock);
	addr = b->config_address;
	pthread_mutex_unlock(&b->lock);
	if (!(addr & 0x80000000u)) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pci_config_access(b, (addr >> 16) & 0xff, (addr >> 8) & 0xff,
			  (addr & 0xfc) + (uint32_t)(off - 4), data, len, is_write);
}

static void pci_cf8_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	pci_cf8_access(opaque, off, data, len, false);
}

static void pci_cf8_write(void *opaque, uint64_t off, const void *data, unsigned int len)
{
	pci_cf8_access(opaque, off, (void *)data, len, true);
}

static const struct bus_ops pci_cf8_ops = { .read = pci_cf8_read, .write = pci_cf8_write };

/* ECAM: address bits 27:20 bus, 19:15 device, 14:12 function, 11:0 register. */
static void pci_ecam_access(struct pci_bus *b, uint64_t off, void *data, unsigned int len,
			    bool is_write)
{
	if (len != 1 && len != 2 && len != 4) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pci_config_access(b, (off >> 20) & 0xff, (off >> 12) & 0xff, off & 0xfff, data, len,
			  is_write);
}

static void pci_ecam_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	pci_ecam_access(opaque, off, data, len, false);
}

static void pci_ecam_write(void *opaque, uint64_t off, const void *data, unsigned int len)
{
	pci_ecam_access(opaque, off, (void *)data, len, true);
}

static const struct bus_ops pci_ecam_ops = { .read = pci_ecam_read, .write = pci_ecam_write };

/* Platform reset: CONFIG_ADDRESS and the RCR back to 0 (PIIX4 power-on). */
static int pci_host_reset(void *opaque)
{
	struct pci_bus *b = opaque;

	pthread_mutex_lock(&b->lock);
	b->config_address = 0;
	b->rcr = 0;
	pthread_mutex_unlock(&b->lock);
	return 0;
}

static void pci_host_stats(void *opaque, struct json_object *obj)
{
	struct pci_bus *b = opaque;
	uint64_t resets;

	pthread_mutex_lock(&b->lock);
	resets = b->nr_reset;
	pthread_mutex_unlock(&b->lock);
	json_object_object_add(obj, "devices", json_object_new_int64(pci_bus_nr_devices(b)));
	json_object_object_add(obj, "reset_requests", json_object_new_int64((int64_t)resets));
	json_object_object_add(obj, "guest_errors", json_object_new_int64((int64_t)b->rl.events));
}

static void pci_host_destroy(void *opaque)
{
	pci_bus_destroy(opaque);
}

/*
 * The host bridge's state: the 0xCF8 address latch (a guest may be
 * between its address and data cycles), the 0xCF9 reset control
 * register and the bridge's own config space.  The devices' windows are
 * assigned at creation from the configuration, so they need no record.
 */
#define PCI_HOST_STATE_TAG STREAM_TAG('P', 'H', 'S', 'T')
#define PCI_HOST_STATE_VERSION 1

static int pci_host_save(void *opaque, struct stream *s, struct error *err)
{
	struct pci_bus *b = opaque;
	struct stream_section sec;
	uint32_t addr;
	uint8_t rcr;

	(void)err;
	pthread_mutex_lock(&b->lock);
	addr = b->config_address;
	rcr = b->rcr;
	pthread_mutex_unlock(&b->lock);
	stream_section_begin(s, &sec, PCI_HOST_STATE_TAG, PCI_HOST_STATE_VERSION);
	stream_put_u32(s, addr);
	stream_put_u8(s, rcr);
	pci_dev_save(&b->host, s);
	stream_section_end(s, &sec);
	return 0;
}

static int pci_host_load(void *opaque, struct stream *s, struct error *err)
{
	struct pci_bus *b = opaque;
	struct stream_section sec;
	uint32_t ver, addr;
	uint8_t rcr;
	int ret;

	ver = stream_section_open(s, &sec, PCI_HOST_STATE_TAG);
	if (ver && ver != PCI_HOST_STATE_VERSION)
		return stream_fail(s, -EPROTO, "PCI host state version %u is not supported", ver);
	addr = stream_get_u32(s);
	rcr = stream_get_u8(s);
	/* 0xCF8 holds whatever the guest wrote; 0xCF9 only the bits it keeps */
	if (!stream_error(s) && (rcr & ~(ACPI_RCR_SYS_RST | 0x8)))
		return stream_fail(s, -EINVAL,
				   "reset control value 0x%02x has bits PIIX4 does not keep", rcr);
	if (stream_error(s))
		return stream_error(s);
	ret = pci_dev_load(&b->host, s);
	stream_section_close(s, &sec);
	if (ret || stream_error(s))
		return ret ? ret : stream_error(s);
	(void)err;
	pthread_mutex_lock(&b->lock);
	b->config_address = addr;
	b->rcr = rcr;
	pthread_mutex_unlock(&b->lock);
	return 0;
}

static const struct component_ops pci_host_ops = {
	.reset = pci_host_reset,
	.save = pci_host_save,
	.load = pci_host_load,
	.stats = pci_host_stats,
	.destroy = pci_host_destroy,
};

int pci_bus_create(struct dev_host *host, struct pci_bus **out)
{
	struct pci_bus *b = calloc(1, sizeof(*b));
	int ret;

	if (!b)
		return -ENOMEM;
	b->dh = host;
	pthread_mutex_init(&b->lock, NULL);
	b->rl = (struct ratelimit)RATELIMIT_INIT;
	b->mmio32_next = X86_PCI_MMIO32_START;
	/* The 64-bit window the DSDT's _CRS advertises: above RAM, 1 GiB aligned. */
	b->mmio64_next = acpi_pci_mmio64_start(host->mem);
	b->io_next = 0x1000;

	pci_dev_init(&b->host, "host-bridge", PCI_HOST_VENDOR, PCI_HOST_DEVICE,
		     PCI_CLASS_BRIDGE_HOST, 0, PCI_HOST_VENDOR, 0x1100);
	b->host.bus = b;
	b->devs[0] = &b->host;

	ret = bus_register(host->pio, X86_PORT_PCI_CONFIG, 8, &pci_cf8_ops, b);
	if (!ret)
		ret = bus_register(host->mmio, X86_PCI_ECAM_START, X86_PCI_ECAM_SIZE, &pci_ecam_ops,
				   b);
	if (ret) {
		bus_unregister(host->pio, X86_PORT_PCI_CONFIG);
		pthread_mutex_destroy(&b->lock);
		free(b);
		return ret;
	}
	ret = components_add(host->components, "pci-host", &pci_host_ops, b, NULL);
	if (ret) {
		pci_bus_destroy(b);
		return ret;
	}
	*out = b;
	return 0;
}

void pci_bus_destroy(struct pci_bus *b)
{
	if (!b)
		return;
	bus_unregister(b->dh->mmio, X86_PCI_ECAM_START);
	bus_unregister(b->dh->pio, X86_PORT_PCI_CONFIG);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

/* Firmware-style BAR assignment: naturally aligned, from the windows. */
static int pci_assign_bar(struct pci_bus *b, struct pci_dev *d, int i)
{
	struct pci_bar *bar = &d->bars[i];
	uint32_t off = PCI_BAR0 + 4 * (uint32_t)i;
	uint64_t addr;

	if (bar->flags & PCI_BAR_IO) {
		addr = ALIGN_UP(b->io_next, bar->size);
		if (addr + bar->size > 0x10000)
			return -ENOSPC;
		b->io_next = addr + bar->size;
	} else if (bar->flags & PCI_BAR_MEM64) {
		addr = ALIGN_UP(b->mmio64_next, bar->size);
		b->mmio64_next = addr + bar->size;
	} else {
		addr = ALIGN_UP(b->mmio32_next, bar->size);
		if (addr + bar->size > X86_PCI_MMIO32_START + X86_PCI_MMIO32_SIZE)
			return -ENOSPC;
		b->mmio32_next = addr + bar->size;
	}
	cfg_put32(d, off, (cfg32(d, off) & ((bar->flags & PCI_BAR_IO) ? 0x3 : 0xf)) |
				  (uint32_t)addr);
	if (bar->flags & PCI_BAR_MEM64)
		cfg_put32(d, off + 4, (uint32_t)(addr >> 32));
	return 0;
}

int pci_bus_add(struct pci_bus *b, struct pci_dev *d)
{
	unsigned int slot;
	uint16_t cmd = 0;
	int ret;

	pthread_mutex_lock(&b->lock);
	for (slot = 1; slot < PCI_MAX_DEVICES; slot++)
		if (!b->devs[slot])
			break;
	if (slot == PCI_MAX_DEVICES) {
		pthread_mutex_unlock(&b->lock);
		return -ENOSPC;
	}
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		if (!d->bars[i].size)
			continue;
		ret = pci_assign_bar(b, d, i);
		if (ret) {
			pthread_mutex_unlock(&b->lock);
			return ret;
		}
		cmd |= (d->bars[i].flags & PCI_BAR_IO) ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;
	}
	d->devfn = (uint8_t)(slot << 3);
	d->bus = b;
	/* INTA#, swizzled by slot like a PCI-to-PCI bridge would (PCI-PCI 1.2 9.1). */
	d->intx_gsi = X86_IRQ_PCI_BASE + (slot % 4);
	d->cfg[PCI_INTERRUPT_PIN] = 1;
	d->cfg[PCI_INTERRUPT_LINE] = (uint8_t)d->intx_gsi;
	cfg_put16(d, PCI_COMMAND, cmd);
	b->devs[slot] = d;
	pthread_mutex_unlock(&b->lock);
	pci_dev_update_bars(d);
	return 0;
}

unsigned int pci_bus_nr_devices(struct pci_bus *b)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < PCI_MAX_DEVICES; i++)
		n += b->devs[i] != NULL;
	return n;
}

struct pci_dev *pci_bus_device(struct pci_bus *b, unsigned int slot)
{
	return slot < PCI_MAX_DEVICES ? b->devs[slot] : NULL;
}
