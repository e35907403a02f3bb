/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_VM_BOARD_H
#define VESSEL_VM_BOARD_H

#include "util/error.h"

struct vm;

/*
 * Create the x86 board's devices on vm->host (board.c lists them with
 * their component ids).  Needs the buses, memory, the event loop, the IRQ
 * router and the x86 machine; called once from vm_create().  On failure
 * what was created is registered in vm->components, so vm_destroy() frees
 * it.  A failure that leaves *err unset was logged by a callee that does
 * not take struct error yet (the console and virtio device constructors).
 */
int board_create(struct vm *vm, struct error *err);

#endif
