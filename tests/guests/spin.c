// SPDX-License-Identifier: MIT
/*
 * spin.elf - prints "spinning" and then loops forever at CPL0 with
 * interrupts off and no exits.  On PVM hosts such a loop is emulated and
 * never leaves KVM_RUN by itself (docs/linux-lane.md): the VMM must still
 * stop on SIGTERM by kicking the vCPU (signal + immediate_exit).
 */
#include "guest.h"

void guest_main(void)
{
	volatile u64 n = 0;

	printf("spinning\n");
	irq_disable();
	for (;;)
		n++;
}
