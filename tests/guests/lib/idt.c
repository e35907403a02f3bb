// SPDX-License-Identifier: MIT
/*
 * idt.c - TSS, IDT and interrupt dispatch (SDM vol. 3A chapter 6 and
 * section 7.7).  Every vector has a stub in entry.S; exceptions without a
 * handler print the vector, RIP and error code and FAIL.
 */
#include "guest.h"

struct idt_gate {
	u16 off_lo, sel;
	u8 ist, type;
	u16 off_mid;
	u32 off_hi, reserved;
} PACKED;

struct tss64 {
	u32 reserved0;
	u64 rsp[3];
	u64 reserved1;
	u64 ist[7];
	u64 reserved2;
	u16 reserved3, iomap_base;
} PACKED;

extern char isr_stubs[];
extern char user_ret_stub[];
extern u64 gdt[];
void cpu_tables_init(void);
void isr_dispatch(struct regs *r);

static struct idt_gate idt[256];
static struct tss64 tss;
static irq_handler_t handlers[256];
static u8 kstack[8192] __attribute__((section(".noinit"), aligned(16)));

static const char *const exc_names[32] = {
	"#DE divide error",
	"#DB debug",
	"NMI",
	"#BP breakpoint",
	"#OF overflow",
	"#BR bound",
	"#UD invalid opcode",
	"#NM no FPU",
	"#DF double fault",
	"coprocessor overrun",
	"#TS invalid TSS",
	"#NP segment not present",
	"#SS stack fault",
	"#GP general protection",
	"#PF page fault",
	"reserved",
	"#MF x87",
	"#AC alignment",
	"#MC machine check",
	"#XM SIMD",
	"#VE virtualization",
	"#CP control protection",
};

static void gate_set(int vec, u8 dpl)
{
	u64 addr = (u64)isr_stubs + 16 * (u64)vec;

	idt[vec].off_lo = (u16)addr;
	idt[vec].sel = SEL_KCODE;
	idt[vec].ist = 0;
	/* Present, 64-bit interrupt gate (type 0xE): IF cleared on entry. */
	idt[vec].type = (u8)(0x8e | (dpl << 5));
	idt[vec].off_mid = (u16)(addr >> 16);
	idt[vec].off_hi = (u32)(addr >> 32);
}

void idt_load(void)
{
	struct {
		u16 limit;
		u64 base;
	} PACKED idtr = { sizeof(idt) - 1, (u64)idt };

	__asm__ volatile("lidt %0" : : "m"(idtr));
}

void idt_set_user(u8 vector)
{
	gate_set(vector, 3);
}

void irq_set_handler(u8 vector, irq_handler_t h)
{
	handlers[vector] = h;
}

void tss_set_rsp0(u64 rsp0)
{
	tss.rsp[0] = rsp0;
}

static void user_return_handler(struct regs *r)
{
	user_resume(r->rax);
}

void cpu_tables_init(void)
{
	u64 base = (u64)&tss, limit = sizeof(tss) - 1;

	for (int i = 0; i < 256; i++)
		gate_set(i, 0);
	/* The CPL3 test returns through int $0x80 (DPL 3 gate). */
	gate_set(USER_RETURN_VECTOR, 3);
	handlers[USER_RETURN_VECTOR] = user_return_handler;

	/* 64-bit available TSS descriptor (SDM vol. 3A section 7.2.3). */
	tss.rsp[0] = (u64)kstack + sizeof(kstack);
	tss.iomap_base = sizeof(tss);
	gdt[6] = (limit & 0xffff) | (base & 0xffffff) << 16 | 0x89ull << 40 |
		 ((limit >> 16) & 0xf) << 48 | ((base >> 24) & 0xff) << 56;
	gdt[7] = base >> 32;
	__asm__ volatile("ltr %w0" : : "r"(SEL_TSS));
	idt_load();
}

void isr_dispatch(struct regs *r)
{
	u64 v = r->vector;

	/* The end of a user_call (entry.S): HLT at CPL3 faults with #GP. */
	if (v == 13 && (r->cs & 3) == 3 && r->rip == (u64)user_ret_stub)
		user_resume(r->rax);
	if (handlers[v]) {
		handlers[v](r);
		return;
	}
	if (v == 0xff || v == 0x27 || v == 0x2f)
		return; /* LAPIC / 8259 spurious */
	if (v < 32) {
		u64 cr2;
		__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
		fail("exception %lu (%s) at rip=0x%lx cs=0x%lx (CPL%lu) err=0x%lx "
		     "cr2=0x%lx rsp=0x%lx apic=%u",
		     v, exc_names[v] ? exc_names[v] : "reserved", r->rip, r->cs, r->cs & 3,
		     r->error, cr2, r->rsp, lapic_id());
	}
	fail("unexpected interrupt vector 0x%lx at rip=0x%lx", v, r->rip);
}
