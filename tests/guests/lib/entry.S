/* SPDX-License-Identifier: MIT */
/*
 * entry.S - entry points of the test guests.
 *
 * Three ways in, all linked at 1 MiB:
 *  - pvh_start32: Xen PVH (docs "x86/pvh" of Xen; xen/include/public/
 *    arch-x86/hvm/start_info.h): 32-bit protected mode, paging off, flat
 *    segments, EBX = struct hvm_start_info.  Named by the PHYS32_ENTRY note.
 *  - startup_32 (offset 0 of the bzImage payload, code32_start): Linux
 *    32-bit boot protocol (Documentation/x86/boot.rst), ESI = boot_params.
 *  - startup_64 (offset 0x200 of the payload): Linux 64-bit boot protocol,
 *    long mode with an identity map, RSI = boot_params.
 *
 * All of them build identity page tables for the low 4 GiB with 2 MiB
 * pages (SDM vol. 3A section 4.5), enable PAE + EFER.LME + CR0.PG (SDM vol.
 * 3A section 10.8.5), zero .bss and call runtime_start(proto, info).
 *
 * CPL0 code is emulated on PVM hosts, so the loops here are short: the
 * page tables take 3072 stores.
 */
#define BOOT_PVH 1
#define BOOT_LINUX 2
#define BOOT_LINUX32 3		/* Linux boot protocol, 32-bit entry */

#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define SEL_KCODE32 0x18

#define TRAMP_BASE 0x8000
#define MAX_CPUS 64
#define AP_STACK_SIZE 8192
#define BOOT_STACK_SIZE 16384

#define XEN_ELFNOTE_PHYS32_ENTRY 18

/* Page table entry bits: present, writable, user (the CPL3 test runs from
 * the same mapping), page size; PWT|PCD for the MMIO gigabyte. */
#define PTE_TABLE 0x7
#define PTE_LARGE 0x87
#define PTE_UC 0x18

	.section .note.Xen, "a", @note
	.balign 4
	.long 4			/* namesz: "Xen\0" */
	.long 4			/* descsz */
	.long XEN_ELFNOTE_PHYS32_ENTRY
	.asciz "Xen"
	.long pvh_start32

/*
 * Fill pml4, pdpt and the four page directories.  Works in 32- and 64-bit
 * mode: addresses are below 4 GiB and the stores use 32-bit registers.
 */
.macro BUILD_PAGE_TABLES
	movl $pml4, %edi
	movl $2048, %ecx		/* pml4 + pdpt: 2048 dwords */
1:	movl $0, (%edi)
	addl $4, %edi
	loop 1b
	movl $pdpt + PTE_TABLE, pml4
	movl $pdpt, %edi
	movl $pd + PTE_TABLE, %eax
	movl $4, %ecx
2:	movl %eax, (%edi)
	addl $8, %edi
	addl $4096, %eax
	loop 2b
	movl $pd, %edi
	movl $PTE_LARGE, %eax
	movl $2048, %ecx
3:	movl %eax, %edx
	cmpl $0xc0000000, %eax
	jb 4f
	orl $PTE_UC, %edx
4:	movl %edx, (%edi)
	movl $0, 4(%edi)
	addl $8, %edi
	addl $0x200000, %eax
	loop 3b
.endm

/* ------------------------------------------------------------------------ */
	.section .text.head, "ax"
	.code32
	.globl startup_32
startup_32:
	/* Linux 32-bit boot protocol entry (code32_start). */
	cli
	movl $BOOT_LINUX32, %edi
	jmp common32

	.globl pvh_start32
pvh_start32:
	cli
	movl %ebx, %esi
	movl $BOOT_PVH, %edi
common32:
	cld
	movl %edi, boot_proto_raw
	movl %esi, boot_info_raw
	movl $0, boot_info_raw + 4
	lgdt gdt_ptr
	movl $SEL_KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	BUILD_PAGE_TABLES
	movl %cr4, %eax
	orl $0x20, %eax			/* CR4.PAE */
	movl %eax, %cr4
	movl $pml4, %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx		/* IA32_EFER */
	rdmsr
	orl $0x100, %eax		/* LME */
	wrmsr
	movl %cr0, %eax
	orl $0x80000001, %eax		/* PG | PE */
	movl %eax, %cr0
	ljmp $SEL_KCODE, $common64_far

	/* The 64-bit entry sits at offset 0x200 of the payload (boot.rst,
	 * "64-bit boot protocol"). */
	.org 0x200
	.code64
	.globl startup_64
startup_64:
	cli
	cld
	/* No stack is given (boot.rst); ours is inside init_size, which the
	 * loader's identity map covers. */
	leaq boot_stack + BOOT_STACK_SIZE(%rip), %rsp
	movl $BOOT_LINUX, boot_proto_raw(%rip)
	movq %rsi, boot_info_raw(%rip)
	/* Our own page tables: the loader's map only covers the kernel,
	 * boot_params and the command line, not the LAPIC/IOAPIC. */
	BUILD_PAGE_TABLES
	movl $pml4, %eax
	movq %rax, %cr3
	lgdt gdt_ptr(%rip)
	pushq $SEL_KCODE
	leaq common64_far(%rip), %rax
	pushq %rax
	lretq

common64_far:
	movl $SEL_KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	leaq boot_stack + BOOT_STACK_SIZE(%rip), %rsp
	/* Zero .bss; the page tables and stacks live in .noinit. */
	leaq __bss_start(%rip), %rdi
	leaq __bss_end(%rip), %rcx
1:	cmpq %rcx, %rdi
	jae 2f
	movq $0, (%rdi)
	addq $8, %rdi
	jmp 1b
2:	movl boot_proto_raw(%rip), %edi
	movq boot_info_raw(%rip), %rsi
	call runtime_start
	.globl halt_forever
halt_forever:
	cli
	hlt
	jmp halt_forever

/* ------------------------------------------------------------------------ */
	.text
	.code64

/*
 * Exception and interrupt stubs, 16 bytes apart so that stub n is at
 * isr_stubs + 16 * n.  Vectors with a CPU-pushed error code (SDM vol. 3A
 * table 6-1): 8, 10-14, 17, 21, 29, 30.
 */
	.balign 16
	.globl isr_stubs
isr_stubs:
	.set vec, 0
	.rept 256
	.balign 16
	.if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	.else
	pushq $0
	.endif
	pushq $vec
	jmp isr_common
	.set vec, vec + 1
	.endr

isr_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, %rdi
	cld
	call isr_dispatch
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp
	iretq

/*
 * u64 user_call(u64 (*fn)(u64), u64 arg, void *stack, size_t size)
 * Drops to CPL3 with iretq (SDM vol. 3A section 6.12.1, "IRET to a less
 * privileged level"); fn returns into user_ret_stub, whose HLT raises #GP
 * at CPL3 (a privileged instruction, SDM vol. 3A section 5.9); idt.c sees
 * the #GP at user_ret_stub and calls user_resume(rax), which unwinds here.
 * Not INT n: PVM hosts answer `int $0x80` at CPL3 with #UD.
 */
	.globl user_call
user_call:
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, user_saved_rsp(%rip)
	leaq (%rdx, %rcx), %rax
	andq $-16, %rax
	subq $8, %rax
	leaq user_ret_stub(%rip), %rdx
	movq %rdx, (%rax)		/* fn's return address */
	pushq $0x23			/* SS: user data, RPL 3 */
	pushq %rax			/* RSP */
	pushq $0x202			/* RFLAGS: IF */
	pushq $0x2b			/* CS: user code, RPL 3 */
	pushq %rdi			/* RIP */
	movq %rsi, %rdi
	iretq

	.globl user_ret_stub
user_ret_stub:
	hlt
1:	jmp 1b

	.globl user_resume
user_resume:
	movq %rdi, %rax
	movq user_saved_rsp(%rip), %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbp
	popq %rbx
	ret

/*
 * 64-bit half of the AP start: the trampoline jumps here with paging on.
 * Each AP takes the next index (lock xadd) and the stack of that index.
 */
	.globl ap_start64
ap_start64:
	movl $SEL_KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	movl $1, %eax
	lock xaddl %eax, ap_next_index(%rip)
	cmpl $MAX_CPUS, %eax
	jae halt_forever
	movl %eax, %edi
	imulq $AP_STACK_SIZE, %rax, %rax
	leaq ap_stacks(%rip), %rsp
	addq %rax, %rsp
	call ap_main
	jmp halt_forever

/* ------------------------------------------------------------------------ */
/*
 * AP trampoline, copied to TRAMP_BASE (SIPI vector 0x08) by smp.c.  Runs in
 * real mode with CS = 0x0800, IP = 0 (SDM vol. 3A section 8.4.4.1); loads
 * the guest GDT, goes through 32-bit protected mode to long mode with the
 * BSP's CR3 and jumps to ap_start64.
 */
	.section .rodata
	.code16
	.globl tramp_start, tramp_end, tramp_gdtr, tramp_cr3
tramp_start:
	cli
	cld
	movw %cs, %ax
	movw %ax, %ds
	lgdtl tramp_gdtr - tramp_start
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $SEL_KCODE32, $(TRAMP_BASE + tramp32 - tramp_start)
	.code32
tramp32:
	movl $SEL_KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %cr4, %eax
	orl $0x20, %eax
	movl %eax, %cr4
	movl (TRAMP_BASE + tramp_cr3 - tramp_start), %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx
	rdmsr
	orl $0x100, %eax
	wrmsr
	movl %cr0, %eax
	orl $0x80000000, %eax
	movl %eax, %cr0
	ljmp $SEL_KCODE, $ap_start64
	.balign 8
tramp_gdtr:
	.word 0
	.long 0
	.balign 4
tramp_cr3:
	.long 0
tramp_end:
	.code64

/* ------------------------------------------------------------------------ */
	.data
	.balign 16
	.globl gdt, gdt_ptr
gdt:
	.quad 0
	.quad 0x00af9a000000ffff	/* 0x08 kernel code, 64-bit */
	.quad 0x00cf92000000ffff	/* 0x10 kernel data */
	.quad 0x00cf9a000000ffff	/* 0x18 kernel code, 32-bit */
	.quad 0x00cff2000000ffff	/* 0x20 user data, DPL 3 */
	.quad 0x00affa000000ffff	/* 0x28 user code, 64-bit, DPL 3 */
	.quad 0, 0			/* 0x30 TSS, filled by idt.c */
gdt_end:
	.balign 8
	.word 0, 0, 0
gdt_ptr:
	.word gdt_end - gdt - 1
	.quad gdt

	.balign 8
boot_proto_raw:
	.long 0
	.long 0
boot_info_raw:
	.quad 0
user_saved_rsp:
	.quad 0
	.globl ap_next_index
ap_next_index:
	.long 1

	.section .noinit, "aw", @nobits
	.balign 4096
	.globl pml4, pdpt, pd
pml4:	.skip 4096
pdpt:	.skip 4096
pd:	.skip 4 * 4096
	.balign 16
	.globl boot_stack
boot_stack:
	.skip BOOT_STACK_SIZE
	.globl ap_stacks
ap_stacks:
	.skip AP_STACK_SIZE * MAX_CPUS
