// SPDX-License-Identifier: MIT
/*
 * The x86 board: the one place that decides which devices a VM has, at
 * which ports and interrupt lines, with which parameters, and in which
 * order.  The device models and their glue only see the narrow host
 * interface (bus/host.h) and the parameters passed here; none of them
 * reads the config or struct vm.
 *
 * The order is the guest-visible layout and must not change: the PCI
 * host bridge (slot 0, and the 0xCF8-0xCFF ports before ACPI PM asks for
 * 0xCF9), COM1 with its console backend, the i8042, the CMOS RTC, the
 * isa-debug-exit port, ACPI PM, then the virtio functions in slots 1..
 * (disks in --disk order, then virtio-rng, then virtio-console).
 *
 * Each device registers as a component under a stable id; after the
 * devices come the machine itself and the vCPUs (vm.c), so that a
 * machine reset runs devices first, then the irqchips and the kernel
 * reload, then the vCPU registers, as before components existed:
 *
 *   pci-host          PCI bus 0, its host bridge and the 0xCF9 register
 *   serial0           COM1 (uart8250, 0x3f8, IRQ 4)
 *   serial-console0   COM1's host backend (stdio, pty, file, socket)
 *   i8042             PS/2 controller, the reset line
 *   rtc               CMOS RTC
 *   debug-exit        isa-debug-exit at 0xf4 (with --debug-exit only)
 *   acpi-pm           ACPI fixed hardware, the power button
 *   virtio-blk0..     one per --disk
 *   virtio-rng0       with --rng
 *   virtio-console0   with --virtio-console
 *   machine           irqchips, PIT and the boot image
 *   vcpu0..vcpuN-1    the vCPUs
 */
#include <errno.h>

#include "arch/x86/layout.h"
#include "arch/x86/x86.h"
#include "devices/acpi_pm.h"
#include "devices/console.h"
#include "devices/legacy.h"
#include "devices/pci.h"
#include "util/log.h"
#include "util/util.h"
#include "virtio/devices.h"
#include "vm/board.h"
#include "vm/vm.h"

/* RAM below and above 4 GiB, from the guest memory map, for the CMOS size bytes. */
static void board_ram_split(struct vm *vm, uint64_t *below, uint64_t *above)
{
	struct gmem_region_info g;

	*below = 0;
	*above = 0;
	gmem_for_each_region(&vm->mem, i, &g) {
		if (g.kind != GMEM_RAM)
			continue;
		if (g.gpa >= X86_4G)
			*above += g.size;
		else
			*below += g.size;
	}
	if (!gmem_nr_regions(&vm->mem))
		x86_mem_split(vm->cfg->mem_size, below, above);
}

/* The guest wrote the isa-debug-exit port: vessel exits (status << 1) | 1. */
static void board_debug_exit(void *opaque, int status)
{
	log_debug("debug-exit: guest exits with status %d", status);
	vm_request_stop(opaque, VM_EXIT_DEBUG, status);
}

static int board_legacy_devices(struct vm *vm, struct error *err)
{
	struct dev_host *host = &vm->host;
	uint64_t below, above;
	int r;

	r = uart8250_create(host, X86_PORT_COM1, X86_IRQ_COM1, &vm->com1);
	if (r)
		return error_set_errno(err, r, "com1");
	r = console_attach(host, vm->com1, &vm->cfg->console, err);
	if (r)
		return r;
	r = i8042_create(host, NULL);
	if (r)
		return error_set_errno(err, r, "i8042");
	board_ram_split(vm, &below, &above);
	r = rtc_create(host, below, above, NULL);
	if (r)
		return error_set_errno(err, r, "rtc");
	if (vm->cfg->debug_exit) {
		r = debug_exit_create(host, board_debug_exit, vm);
		if (r)
			return error_set_errno(err, r, "debug-exit");
	}
	return 0;
}

int board_create(struct vm *vm, struct error *err)
{
	struct x86_machine *x = vm->arch;
	int r;

	r = pci_bus_create(&vm->host, &vm->pci);
	if (r)
		return error_set_errno(err, r, "cannot create devices");
	vm->host.pci = vm->pci;
	r = board_legacy_devices(vm, err);
	if (r)
		return r;
	r = acpi_pm_create(&vm->host, &x->pm);
	if (r)
		return error_set_errno(err, r, "cannot create devices");
	/* The configured devices, kind by kind (vm/devtable.c), each naming itself. */
	return vm_devices_create(vm, err);
}
