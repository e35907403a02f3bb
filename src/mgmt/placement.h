/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_VM_PLACEMENT_H
#define VESSEL_VM_PLACEMENT_H

#include <sched.h>

struct vm;

/*
 * Pin the emulator threads (every thread in the registry, util/threads.h,
 * that is not a vCPU: the main loop, I/O threads, block workers) to `set`.  Call after vm_start() so vCPU
 * threads exist and keep their own affinity.
 */
int vm_pin_emulator_threads(struct vm *vm, const cpu_set_t *set);
/* Apply cfg->emulator_affinity if set; 0 when there is nothing to do. */
int vm_placement_apply(struct vm *vm);

#endif
