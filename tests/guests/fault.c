// SPDX-License-Identifier: MIT
/*
 * fault.elf - a deliberate triple fault: load an IDT with limit 0, then
 * divide by zero.  #DE cannot be delivered (the gate is outside the IDT
 * limit), which raises #GP, then #DF, and the CPU shuts down (SDM vol. 3A
 * section 6.15, "Interrupt 8 - Double Fault Exception").  KVM reports
 * KVM_EXIT_SHUTDOWN; the VMM must exit non-zero and print the registers.
 * Reaching the end of this guest is a FAIL.
 */
#include "guest.h"

void guest_main(void)
{
	struct {
		u16 limit;
		u64 base;
	} PACKED empty = { 0, 0 };

	printf("fault: loading an empty IDT and dividing by zero; "
	       "expect a triple fault\n");
	__asm__ volatile("lidt %0\n\t"
			 "xorl %%ecx, %%ecx\n\t"
			 "movl $1, %%eax\n\t"
			 "xorl %%edx, %%edx\n\t"
			 "divl %%ecx"
			 :
			 : "m"(empty)
			 : "eax", "ecx", "edx", "memory");
	fail("still running after the triple fault");
}
