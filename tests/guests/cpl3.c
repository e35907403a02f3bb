// SPDX-License-Identifier: MIT
/*
 * cpl3.elf - real work at CPL3, which PVM hosts run natively while they
 * emulate CPL0.  The guest drops to ring 3 with iretq (user code and data
 * segments of DPL 3 in the GDT, a TSS for the way back), adds up
 * 0..iters-1 there and returns by a deliberate fault: HLT at CPL3 raises
 * #GP, which the kernel turns into the return value (lib/entry.S).  Then
 * it checks the privilege boundary: a CLI at CPL3 with IOPL 0 raises #GP
 * (SDM vol. 2A, CLI), which the kernel catches.  The same loop runs briefly
 * at CPL0 for comparison; the rates are printed.
 *
 * Options: iters=N (CPL3 loop, default 10000000), iters0=N (CPL0 loop,
 * default 20000).
 */
#include "guest.h"

#define USER_STACK 16384
static u8 user_stack[USER_STACK] __attribute__((section(".noinit"), aligned(16)));

/* The loop: the empty asm keeps GCC from using the closed form. */
static u64 sum_to(u64 n)
{
	u64 s = 0;

	for (u64 i = 0; i < n; i++) {
		s += i;
		__asm__ volatile("" : "+r"(s));
	}
	return s;
}

static u64 user_sum(u64 n)
{
	return sum_to(n);
}

static u64 user_cs(u64 unused)
{
	u16 cs;

	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	return cs;
}

static u64 user_cli(u64 unused)
{
	__asm__ volatile("cli");
	return 0x600d; /* not reached: #GP */
}

static void on_gp(struct regs *r)
{
	if ((r->cs & 3) == 3)
		user_resume(0xbad0000 | r->vector);
	fail("#GP at CPL0, rip=0x%lx err=0x%lx", r->rip, r->error);
}

static u64 rate(u64 n, u64 us)
{
	return us ? n * 1000 / us : 0; /* additions per millisecond */
}

void guest_main(void)
{
	u64 iters = opt_u64("iters", 10000000), iters0 = opt_u64("iters0", 20000);
	u64 t0, t1, v;

	tsc_calibrate();
	u64 cs = user_call(user_cs, 0, user_stack, sizeof(user_stack));
	printf("cpl3: user code segment 0x%lx (CPL %lu)\n", cs, cs & 3);
	check((cs & 3) == 3, "user code ran with CS 0x%lx, not at CPL3", cs);

	t0 = uptime_us();
	v = sum_to(iters0);
	t1 = uptime_us();
	u64 us0 = t1 - t0;
	check(v == iters0 * (iters0 - 1) / 2, "CPL0 sum %lu", v);
	printf("cpl3: CPL0: %lu additions in %lu us (%lu per ms)\n", iters0, us0,
	       rate(iters0, us0));

	t0 = uptime_us();
	v = user_call(user_sum, iters, user_stack, sizeof(user_stack));
	t1 = uptime_us();
	u64 us3 = t1 - t0;
	printf("cpl3: CPL3: %lu additions in %lu us (%lu per ms), sum %lu\n", iters, us3,
	       rate(iters, us3), v);
	check(v == iters * (iters - 1) / 2, "CPL3 sum %lu, expected %lu", v,
	      iters * (iters - 1) / 2);
	if (rate(iters0, us0))
		printf("cpl3: CPL3 ran %lux the CPL0 rate\n", rate(iters, us3) / rate(iters0, us0));

	irq_set_handler(13, on_gp);
	v = user_call(user_cli, 0, user_stack, sizeof(user_stack));
	irq_set_handler(13, NULL);
	printf("cpl3: CLI at CPL3 -> 0x%lx\n", v);
	check(v == 0xbad000d, "CLI at CPL3 did not raise #GP (got 0x%lx)", v);
}
