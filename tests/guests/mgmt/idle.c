// SPDX-License-Identifier: MIT
/*
 * idle.elf - the guest of the VM-management tests: it reports what
 * placement the VMM gave it, optionally fills RAM, then idles in HLT until
 * the ACPI power button (`vessel shutdown`) or a destroy.
 *
 *   srat: cpu apic=A node=N          one line per enabled SRAT CPU entry
 *   srat: mem node=N base=B size=S   one line per enabled memory range
 *   slit: N d00 d01 ...               the SLIT matrix, row-major
 *   mgmt: filled N MiB               after fill=N (MiB at 64 MiB and up;
 *                                     every page alike, for KSM)
 *   mgmt: ready                       then idle
 *   mgmt: power button                then ACPI S5
 *
 * Filling runs at CPL3: PVM hosts emulate CPL0 instruction by instruction.
 * Idle uses a 20 ms LAPIC timer so the power button is seen without an SCI
 * handler; each wakeup costs a handful of exits.
 */
#include "guest.h"

#define USER_STACK 16384
#define FILL_BASE (64 * MiB)
#define TIMER_VECTOR 0x40
#define PWRBTN_STS (1u << 8)

static u8 user_stack[USER_STACK] __attribute__((section(".noinit"), aligned(16)));
static u64 fill_len;

static u64 user_fill(u64 pattern)
{
	volatile u64 *p = (volatile u64 *)FILL_BASE;

	/* Content depends only on the offset in the page: all pages alike. */
	for (u64 i = 0; i < fill_len / 8; i++)
		p[i] = pattern ^ (i & 511);
	return fill_len;
}

static void on_gp(struct regs *r)
{
	if ((r->cs & 3) == 3)
		user_resume(0xbad0000 | r->vector);
	fail("#GP at CPL0, rip=0x%lx err=0x%lx", r->rip, r->error);
}

static void on_timer(struct regs *r)
{
	lapic_eoi();
}

static u32 rd32(const void *base, u32 off)
{
	u32 v;

	memcpy(&v, (const u8 *)base + off, 4);
	return v;
}

static u64 rd64(const void *base, u32 off)
{
	u64 v;

	memcpy(&v, (const u8 *)base + off, 8);
	return v;
}

static void report_srat(void)
{
	const struct acpi_header *t = acpi_find("SRAT", 0);
	const u8 *p, *end;

	if (!t) {
		printf("srat: none\n");
		return;
	}
	/* Entries follow the header and 12 reserved bytes (ACPI 6.4 5.2.16). */
	p = (const u8 *)t + 48;
	end = (const u8 *)t + t->length;
	while (p + 2 <= end && p[1] >= 2 && p + p[1] <= end) {
		if (p[0] == 0 && p[1] >= 16 && (rd32(p, 4) & 1)) {
			u32 node = p[2] | (u32)p[9] << 8 | (u32)p[10] << 16 | (u32)p[11] << 24;

			printf("srat: cpu apic=%u node=%u\n", p[3], node);
		} else if (p[0] == 2 && p[1] >= 24 && (rd32(p, 12) & 1)) {
			printf("srat: cpu apic=%u node=%u\n", rd32(p, 8), rd32(p, 4));
		} else if (p[0] == 1 && p[1] >= 40 && (rd32(p, 28) & 1)) {
			printf("srat: mem node=%u base=0x%lx size=0x%lx\n", rd32(p, 2), rd64(p, 8),
			       rd64(p, 16));
		}
		p += p[1];
	}
}

static void report_slit(void)
{
	const struct acpi_header *t = acpi_find("SLIT", 0);
	const u8 *m;
	u64 n;

	if (!t) {
		printf("slit: none\n");
		return;
	}
	n = rd64(t, 36);
	m = (const u8 *)t + 44;
	if (n > 16 || 44 + n * n > t->length) {
		printf("slit: bad\n");
		return;
	}
	printf("slit: %lu", n);
	for (u64 i = 0; i < n * n; i++)
		printf(" %u", m[i]);
	printf("\n");
}

/* PM1a event block from the FADT (offset 56), 0 if none. */
static u16 pm1a_evt(void)
{
	const struct acpi_header *f = acpi_find("FACP", 0);

	return f && f->length >= 60 ? (u16)rd32(f, 56) : 0;
}

void guest_main(void)
{
	u64 fill = opt_u64("fill", 0);
	u16 evt = pm1a_evt();

	report_srat();
	report_slit();
	if (fill) {
		u64 top = mem_ram_total();

		fill_len = fill * MiB;
		check(FILL_BASE + fill_len <= top, "fill=%lu does not fit in %lu MiB of RAM", fill,
		      top / MiB);
		irq_set_handler(13, on_gp);
		user_call(user_fill, 0x5a5a5a5a00000000ull, user_stack, sizeof(user_stack));
		printf("mgmt: filled %lu MiB\n", fill);
	}
	printf("mgmt: ready\n");
	if (!evt)
		halt_forever();
	irq_set_handler(TIMER_VECTOR, on_timer);
	lapic_enable();
	/* KVM's APIC timer counts 1 ns bus cycles: 20 ms with divide 16. */
	lapic_timer_periodic(TIMER_VECTOR, 20000000 / 16);
	for (;;) {
		if (inw(evt) & PWRBTN_STS) {
			char why[128];

			outw(evt, PWRBTN_STS);
			printf("mgmt: power button\n");
			acpi_poweroff(why, sizeof(why));
			fail("power off: %s", why);
		}
		irq_wait();
	}
}
