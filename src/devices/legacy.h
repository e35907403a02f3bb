/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_DEVICES_LEGACY_H
#define VESSEL_DEVICES_LEGACY_H

struct vm;

/*
 * The legacy PC devices of an x86 VM: COM1 (0x3f8, IRQ 4) with the console
 * backend chosen by vm->cfg->console/console_path (vm->com1 points to it),
 * the i8042 PS/2 controller (0x60/0x64), the CMOS RTC (0x70/0x71, IRQ 8),
 * and the isa-debug-exit port (0xf4) when vm->cfg->debug_exit is set.
 * Each registers as a component (components_add) for reset, stats and teardown.
 * Needs vm->pio, vm->loop and vm->cfg; called once from the VM assembly.
 */
int x86_legacy_devices_create(struct vm *vm);

#endif
