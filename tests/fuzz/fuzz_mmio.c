// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the machine as a guest sees it, through port I/O and
 * MMIO only.  Each input builds a VM without KVM (vm_fd -1: interrupts
 * are counted by MSI-X and dropped by KVM_IRQ_LINE, ioeventfds are never
 * registered, so every doorbell is an MMIO write) on 64 KiB of fake RAM:
 *
 *   - the PCI host bridge, with 0xCF8/0xCFC and ECAM;
 *   - virtio-pci with virtio-blk (the scratch raw disk), virtio-rng and
 *     virtio-console (output to /dev/null) in slots 1-3;
 *   - COM1 (uart8250), the i8042, the CMOS RTC (on a fake clock, so an
 *     input replays the same way), ACPI PM with the 0xCF9 reset register,
 *     and the isa-debug-exit port;
 *
 * then replays the guest accesses the input encodes: port and MMIO
 * reads/writes of any width (aimed at device registers, or anywhere),
 * PCI config space through both mechanisms (BAR sizing and moving,
 * command register, MSI-X control, the virtio pci_cfg window), writes
 * to RAM (rings, descriptors and requests), descriptor chains, and a
 * driver bring-up done through the common config registers with MSI-X
 * enabled and unmasked, so the fuzzer starts from working queues.  A
 * machine reset runs every device's reset op.  Block requests are waited
 * for after each step.  No access may crash, hang, leak or reach memory
 * outside RAM: a guest must never take the VMM down.
 */
#include "fuzz_common.h"

#include "arch/x86/layout.h"
#include "arch/x86/x86.h"
#include "bus/bus.h"
#include "devices/acpi_pm.h"
#include "devices/debug_exit.h"
#include "devices/i8042.h"
#include "devices/pci.h"
#include "devices/rtc.h"
#include "devices/uart8250.h"
#include "util/evloop.h"
#include "util/util.h"
#include "virtio/virtio-pci.h"
#include "vm/config.h"
#include "vm/vm.h"

#define RAM_GPA 0x0ull
#define RAM_SIZE (64u * 1024)
#define NR_VIRTIO 3

struct machine {
	struct vm *vm;
	struct vm_config cfg;
	struct x86_machine x;
	struct rtc *rtc;
	uint64_t now_ns;
	struct virtio_dev *vd[NR_VIRTIO]; /* slots 1, 2, 3 */
	struct virtio_dev *blk;
	uint8_t *ram;
};

static uint64_t fake_now(void *opaque)
{
	return ((struct machine *)opaque)->now_ns;
}

/* No timers: the RTC updates its flags when the guest reads them. */
static const struct rtc_ops rtc_fake_ops = { .now = fake_now };

/* The guest's exit request: nothing to stop here. */
static void fuzz_debug_exit(void *opaque, int status)
{
}

static int machine_build(struct machine *m, uint8_t *ram)
{
	static char raw[] = "raw", devnull[] = "/dev/null";
	struct vm_disk_config dc = { .format = raw };
	struct virtio_dev *vd;
	struct vm *vm;
	int ret;

	memset(m, 0, sizeof(*m));
	m->ram = ram;
	m->now_ns = 1700000000ull * 1000000000ull; /* Nov 2023 */
	vm = m->vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -1;
	vm_config_init(&m->cfg);
	m->cfg.mem_size = RAM_SIZE;
	m->cfg.on_reboot = VM_REBOOT_EXIT; /* resets come from the harness */
	vm->cfg = &m->cfg;
	vm->arch = &m->x;
	vm->vm_fd = -1;
	vm->kvm.fd = -1;
	vm->irq.vm_fd = -1;
	pthread_mutex_init(&vm->irq.lock, NULL);
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	components_init(&vm->components);
	fuzz_ram_init(&vm->mem, ram, RAM_GPA, RAM_SIZE);
	if (bus_init(&vm->pio, "pio") || bus_init(&vm->mmio, "mmio") || evloop_create(&vm->loop))
		return -1;
	vm->host = (struct dev_host){ .pio = &vm->pio, .mmio = &vm->mmio, .mem = &vm->mem,
				      .loop = vm->loop, .components = &vm->components,
				      .irq = &vm->irq, .vm_fd = -1 };

	/* The order of board_create() (vm/board.c): PCI, legacy devices, ACPI PM, virtio. */
	if (pci_bus_create(&vm->host, &vm->pci))
		return -1;
	vm->host.pci = vm->pci;
	if (uart8250_create(&vm->host, X86_PORT_COM1, X86_IRQ_COM1, &vm->com1) ||
	    i8042_create(&vm->host, NULL) || rtc_new(&rtc_fake_ops, m, &m->rtc) ||
	    bus_register(&vm->pio, X86_PORT_CMOS, 2, &rtc_bus_ops, m->rtc) ||
	    debug_exit_create(&vm->host, fuzz_debug_exit, m) || acpi_pm_create(&vm->host, &m->x.pm))
		return -1;
	rtc_set_memory(m->rtc, RAM_SIZE, 0);

	dc.path = fuzz_disk_path();
	if (virtio_blk_new(&dc, 0, &vm->mem, NULL, &vd, NULL) < 0)
		return -1;
	ret = virtio_pci_create(&vm->host, vd, 0x018000, VIRTIO_BLK_CFG_SIZE, NULL);
	if (ret < 0)
		return -1; /* the VM owns vd once it is on the bus */
	m->vd[0] = m->blk = vd;
	if (virtio_rng_new(&vm->mem, vm->loop, &vd) < 0)
		return -1;
	if (virtio_pci_create(&vm->host, vd, 0xff0000, 0, NULL) < 0)
		return -1;
	m->vd[1] = vd;
	if (virtio_console_new(&(struct chardev_spec){ CHARDEV_FILE, devnull }, &vm->mem, vm->loop, &vd,
			       NULL) < 0)
		return -1;
	if (virtio_pci_create(&vm->host, vd, 0x078000, VIRTIO_CONSOLE_CFG_SIZE, NULL) < 0)
		return -1;
	m->vd[2] = vd;
	return 0;
}

static void machine_free(struct machine *m)
{
	struct vm *vm = m->vm;

	if (!vm)
		return;
	if (m->blk)
		fuzz_blk_drain(m->blk);
	/* What vm_destroy() does, minus KVM. */
	components_fini(&vm->components);
	if (m->rtc) {
		bus_unregister(&vm->pio, X86_PORT_CMOS);
		rtc_free(m->rtc);
	}
	if (vm->loop)
		evloop_destroy(vm->loop);
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	pthread_mutex_destroy(&vm->lock);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->irq.lock);
	vm_config_free(&m->cfg);
	fuzz_ram_fini(&vm->mem);
	free(vm);
}

/* A machine reset as vm_do_reset() runs it (the KVM part aside). */
static void machine_reset(struct machine *m)
{
	struct vm *vm = m->vm;

	components_reset(&vm->components);
	rtc_reset(m->rtc);
}

/* ---- address decoding ------------------------------------------------------ */

static const uint16_t ports[] = {
	X86_PORT_COM1,		 X86_PORT_I8042_DATA,	X86_PORT_I8042_CMD,
	X86_PORT_CMOS,		 X86_PORT_DEBUG_EXIT,	X86_PORT_PCI_CONFIG,
	X86_PORT_PCI_CONFIG + 4, X86_PORT_ACPI_PM_BASE, X86_PORT_GPE0,
};

static uint16_t pick_port(struct fin *in)
{
	uint8_t sel = fin_u8(in);

	if (sel < 4 * ARRAY_SIZE(ports))
		return (uint16_t)(ports[sel % ARRAY_SIZE(ports)] + fin_u8(in) % 12);
	return fin_u16(in);
}

/* Where virtio-pci's registers are in BAR 0 (see virtio-pci.h). */
static const uint32_t bar_regions[][2] = {
	{ VPCI_COMMON_OFF, VPCI_COMMON_LEN },
	{ VPCI_ISR_OFF, 4 },
	{ VPCI_DEVICE_OFF, 0x100 },
	{ VPCI_NOTIFY_OFF, 0x10 },
	{ VPCI_MSIX_TABLE_OFF, 0x40 },
	{ VPCI_MSIX_PBA_OFF, 0x10 },
	{ 0, VPCI_BAR_SIZE },
};

static struct pci_dev *slot_dev(struct machine *m, unsigned int slot)
{
	return pci_bus_device(m->vm->pci, slot);
}

/* BAR 0 of a slot where the bus has it now (or where it last was). */
static uint64_t bar0(struct machine *m, unsigned int slot)
{
	struct pci_dev *d = slot_dev(m, slot);

	if (!d)
		return 0;
	return d->bars[0].mapped ? d->bars[0].addr : pci_cfg_read32(d, PCI_BAR0) & ~0xfull;
}

static uint64_t pick_mmio(struct fin *in, struct machine *m)
{
	uint8_t sel = fin_u8(in);

	switch (sel % 8) {
	case 0: {
		/* ECAM: device 0-7 of bus 0 (bus/function bits sometimes). */
		uint64_t off = ((uint64_t)(fin_u8(in) % 8) << 15) | (fin_u16(in) & 0xfff);

		if (sel & 0x80)
			off |= (uint64_t)fin_u16(in) << 12;
		return X86_PCI_ECAM_START + off % X86_PCI_ECAM_SIZE;
	}
	case 1:
	case 2:
	case 3:
	case 4:
	case 5:
	case 6: {
		const uint32_t *r = bar_regions[fin_u8(in) % ARRAY_SIZE(bar_regions)];

		return bar0(m, sel % 3 + 1) + r[0] + fin_u16(in) % r[1];
	}
	default:
		return fin_u64(in);
	}
}

static void pio(struct machine *m, uint16_t port, uint32_t *v, unsigned int w, bool wr)
{
	bus_access(&m->vm->pio, port, v, w, wr);
}

static void mmio(struct machine *m, uint64_t addr, uint64_t *v, unsigned int w, bool wr)
{
	bus_access(&m->vm->mmio, addr, v, w, wr);
}

/* Config mechanism #1: the address at 0xCF8, the data at 0xCFC-0xCFF. */
static void cfg_access(struct machine *m, unsigned int slot, uint32_t reg, uint32_t *v,
		       unsigned int w, bool wr)
{
	uint32_t a = 0x80000000u | (slot << 11) | (reg & 0xfc);

	pio(m, X86_PORT_PCI_CONFIG, &a, 4, true);
	pio(m, (uint16_t)(X86_PORT_PCI_CONFIG + 4 + (reg & 3)), v, w, wr);
}

/* The first (or the last) capability with this ID, or 0. */
static uint8_t find_cap(struct machine *m, unsigned int slot, uint8_t id, bool last)
{
	struct pci_dev *d = slot_dev(m, slot);
	uint8_t off, found = 0;

	if (!d)
		return 0;
	off = (uint8_t)pci_cfg_read32(d, PCI_CAPABILITY_LIST);
	for (int n = 0; off && n < 48; n++) {
		uint32_t h = pci_cfg_read32(d, off);

		if ((h & 0xff) == id) {
			found = off;
			if (!last)
				break;
		}
		off = (uint8_t)(h >> 8);
	}
	return found;
}

/* ---- a driver bring-up through the registers (virtio 1.2 3.1.1, 4.1) ---- */

static void common_w(struct machine *m, unsigned int slot, uint32_t off, uint64_t v, unsigned int w)
{
	mmio(m, bar0(m, slot) + VPCI_COMMON_OFF + off, &v, w, true);
}

static void driver_up(struct fin *in, struct machine *m)
{
	unsigned int slot = fin_u8(in) % NR_VIRTIO + 1;
	struct virtio_dev *vd = m->vd[slot - 1];
	uint8_t mode = fin_u8(in);
	uint64_t feat = vd->host_features;
	uint32_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	uint8_t cap;

	if (mode & 1)
		feat &= fin_u64(in) | (1ull << VIRTIO_F_VERSION_1);
	cfg_access(m, slot, PCI_COMMAND, &cmd, 2, true);
	common_w(m, slot, 0x14, 0, 1); /* device_status: reset */
	common_w(m, slot, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	for (unsigned int sel = 0; sel < 2; sel++) {
		common_w(m, slot, 0x08, sel, 4); /* driver_feature_select */
		common_w(m, slot, 0x0c, (uint32_t)(feat >> (32 * sel)), 4); /* driver_feature */
	}
	common_w(m, slot, 0x14, 0x0b, 1); /* + FEATURES_OK */
	for (unsigned int q = 0; q < vd->nr_queues; q++) {
		common_w(m, slot, 0x16, q, 2);				    /* queue_select */
		common_w(m, slot, 0x18, 1u << (fin_u8(in) % 8), 2);	    /* queue_size */
		common_w(m, slot, 0x1a, q, 2);				    /* queue_msix_vector */
		common_w(m, slot, 0x20, RAM_GPA + (fin_u16(in) & ~15u), 8); /* queue_desc */
		common_w(m, slot, 0x28, RAM_GPA + (fin_u16(in) & ~1u), 8);  /* queue_driver */
		common_w(m, slot, 0x30, RAM_GPA + (fin_u16(in) & ~3u), 8);  /* queue_device */
		common_w(m, slot, 0x1c, 1, 2);				    /* queue_enable */
	}
	common_w(m, slot, 0x10, vd->nr_queues, 2); /* config_msix_vector */
	cap = find_cap(m, slot, PCI_CAP_ID_MSIX, false);
	if ((mode & 2) && cap) {
		uint32_t ctrl = MSIX_CTRL_ENABLE;

		for (unsigned int i = 0; i <= vd->nr_queues; i++) {
			uint64_t base = bar0(m, slot) + VPCI_MSIX_TABLE_OFF + 16 * i;
			uint64_t addr = 0xfee00000, data = 0x30 + i, zero = 0;

			mmio(m, base, &addr, 8, true);
			mmio(m, base + 8, &data, 4, true);
			mmio(m, base + 12, &zero, 4, true);
		}
		cfg_access(m, slot, cap + 2u, &ctrl, 2, true);
	}
	common_w(m, slot, 0x14, 0x0f, 1); /* + DRIVER_OK */
}

/* ---- the operations ------------------------------------------------------- */

static void step(struct fin *in, struct machine *m)
{
	uint8_t op = fin_u8(in);
	uint64_t v64 = 0;
	uint32_t v32 = 0;
	unsigned int w;

	switch (op % 16) {
	case 0:
	case 1: {
		uint16_t port = pick_port(in);

		w = fin_width(in, 2);
		v32 = fin_u32(in);
		pio(m, port, &v32, w, op % 16 == 0);
		break;
	}
	case 2:
	case 3:
	case 4: {
		uint64_t addr = pick_mmio(in, m);

		w = fin_width(in, 3);
		v64 = fin_u64(in);
		mmio(m, addr, &v64, w, op % 16 != 4);
		break;
	}
	case 5:
	case 6: {
		unsigned int slot = fin_u8(in) % 5;
		uint32_t reg = fin_u8(in);

		w = fin_width(in, 2);
		v32 = fin_u32(in);
		cfg_access(m, slot, reg, &v32, w, op % 16 == 5);
		break;
	}
	case 7:
		fuzz_ram_write(in, m->ram, RAM_SIZE);
		break;
	case 8:
	case 9: {
		struct virtio_dev *vd = m->vd[fin_u8(in) % NR_VIRTIO];
		unsigned int q = fin_u8(in) % vd->nr_queues;

		pthread_mutex_lock(&vd->lock);
		fuzz_post_chain(in, &vd->vqs[q], m->ram, RAM_GPA, RAM_SIZE);
		pthread_mutex_unlock(&vd->lock);
		break;
	}
	case 10: {
		/* A doorbell: queue q's notify address (any width). */
		unsigned int slot = fin_u8(in) % NR_VIRTIO + 1;

		v64 = fin_u16(in);
		mmio(m, bar0(m, slot) + VPCI_NOTIFY_OFF + VPCI_NOTIFY_MULT * (fin_u8(in) % 4), &v64,
		     fin_width(in, 2), true);
		break;
	}
	case 11:
		driver_up(in, m);
		break;
	case 12:
		machine_reset(m);
		break;
	case 13:
		m->now_ns += fin_u32(in) * 1000ull;
		break;
	case 14: {
		/* Move a BAR: size it, then program an address (32 or 64 bits). */
		unsigned int slot = fin_u8(in) % 4;
		uint32_t ones = ~0u, lo = fin_u32(in), hi = fin_u8(in);

		cfg_access(m, slot, PCI_BAR0, &ones, 4, true);
		cfg_access(m, slot, PCI_BAR0, &v32, 4, false);
		cfg_access(m, slot, PCI_BAR0, &lo, 4, true);
		cfg_access(m, slot, PCI_BAR0 + 4, &hi, 4, true);
		break;
	}
	default: {
		/* The pci_cfg window (4.1.4.8): bar, offset, length, data. */
		unsigned int slot = fin_u8(in) % NR_VIRTIO + 1;
		/* The last vendor capability is the cfg window. */
		uint8_t cap = find_cap(m, slot, PCI_CAP_ID_VNDR, true);
		uint32_t bar = 0, off = fin_u16(in) % VPCI_BAR_SIZE, l = fin_width(in, 2);

		if (!cap)
			break;
		v32 = fin_u32(in);
		cfg_access(m, slot, cap + 4u, &bar, 1, true);
		cfg_access(m, slot, cap + 8u, &off, 4, true);
		cfg_access(m, slot, cap + 12u, &l, 4, true);
		cfg_access(m, slot, cap + 16u, &v32, 4, op & 0x10);
		break;
	}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static uint8_t ram[RAM_SIZE];
	struct fin in = { data, len };
	struct machine m;

	fuzz_quiet();
	if (machine_build(&m, ram) < 0)
		abort(); /* the harness's own machine: must build */
	for (unsigned int n = 0; fin_more(&in) && n < 512; n++) {
		step(&in, &m);
		fuzz_blk_drain(m.blk);
	}
	machine_free(&m);
	return 0;
}
