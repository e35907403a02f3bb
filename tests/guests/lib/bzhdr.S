/* SPDX-License-Identifier: MIT */
/*
 * bzhdr.S - the real-mode part of the bzImage test guest: the Linux boot
 * protocol 2.15 setup header (Documentation/x86/boot.rst, "The Real-Mode
 * Kernel Header") and, for loaders that start the real-mode code (QEMU's
 * linuxboot option ROM), a small stub that builds boot_params (header copy
 * plus an e820_table from INT 15h E820), switches to 32-bit protected mode and jumps to
 * code32_start with ESI = boot_params (boot.rst, "32-bit Boot Protocol").
 *
 * Linked at address 0 (offsets in the setup segment) and placed by
 * bzimage.ld so that objcopy -O binary lays out: setup sectors, then the
 * protected-mode payload whose offset 0 is startup_32 and offset 0x200
 * startup_64 (lib/entry.S).
 */
#define SETUP_SECTS 4
#define ZP 0x1000		/* boot_params built by rm_start, in the segment */
#define LOADED_HIGH 0x01
#define XLF_KERNEL_64 0x01
#define XLF_CAN_BE_LOADED_ABOVE_4G 0x02

	.section .setup, "ax"
	.code16
	.globl _setup
_setup:
	/* The legacy boot sector area: never executed. */
	.org 0x1f1
setup_sects:		.byte SETUP_SECTS
root_flags:		.word 0
syssize:		.long __bz_syssize
ram_size:		.word 0
vid_mode:		.word 0xffff		/* NORMAL_VGA */
root_dev:		.word 0
boot_flag:		.word 0xaa55
	/* 0x200: a two-byte jump over the header, then "HdrS". */
	.byte 0xeb, rm_start - 1f
1:
header:			.ascii "HdrS"
version:		.word 0x020f
realmode_swtch:		.long 0
start_sys_seg:		.word 0x1000
kernel_version:		.word kver - 0x200
	.org 0x210
type_of_loader:		.byte 0
loadflags:		.byte LOADED_HIGH
setup_move_size:	.word 0x8000
code32_start:		.long 0x100000
ramdisk_image:		.long 0
ramdisk_size:		.long 0
bootsect_kludge:	.long 0
heap_end_ptr:		.word 0
ext_loader_ver:		.byte 0
ext_loader_type:	.byte 0
	.org 0x228
cmd_line_ptr:		.long 0
initrd_addr_max:	.long 0x7fffffff
	/* Not relocatable: the payload must be loaded at 1 MiB, where it
	 * is linked (pref_address, code32_start). */
kernel_alignment:	.long 0x100000
relocatable_kernel:	.byte 0
min_alignment:		.byte 20
xloadflags:		.word XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G
cmdline_size:		.long 2047
hardware_subarch:	.long 0
hardware_subarch_data:	.quad 0
payload_offset:		.long 0
payload_length:		.long 0
setup_data:		.quad 0
	.org 0x258
pref_address:		.quad 0x100000
init_size:		.long __bz_init_size
handover_offset:	.long 0
	.org 0x268
kernel_info_offset:	.long kernel_info - 0x100000
	/* .org fails the build if the header above ran past 0x26c. */
	.org 0x26c

/*
 * Entered at setup_seg+0x20:0000 with DS = ES = SS = setup_seg (boot.rst,
 * "Running the Kernel").  Only QEMU-style loaders come here; vessel uses
 * the 64-bit entry.
 */
rm_start:
	cli
	cld
	movw %ds, %ax
	movw %ax, %es
	/* boot_params cannot be the setup segment itself (this code sits
	 * where e820_table goes): build it at offset ZP, 4 KiB in. */
	movw $ZP, %di
	xorw %ax, %ax
	movw $2048, %cx
	rep stosw
	movw $0x1f1, %si
	movw $ZP + 0x1f1, %di
	movw $0x290 - 0x1f1, %cx
	rep movsb
	/* INT 15h, AX=E820h (ACPI 6.4 section 15.1) into e820_table at
	 * 0x2d0, count in e820_entries at 0x1e8. */
	xorl %ebx, %ebx
	movw $ZP + 0x2d0, %di
2:	movl $0xe820, %eax
	movl $0x534d4150, %edx		/* "SMAP" */
	movl $20, %ecx
	int $0x15
	jc 3f
	cmpl $0x534d4150, %eax
	jne 3f
	incb ZP + 0x1e8
	addw $20, %di
	cmpb $128, ZP + 0x1e8
	jae 3f
	testl %ebx, %ebx
	jnz 2b
3:
	/* ESI = linear address of the setup segment. */
	xorl %esi, %esi
	movw %ds, %si
	shll $4, %esi
	leal bz_gdt(%esi), %eax
	movl %eax, bz_gdtr + 2
	leal bz_pm32(%esi), %eax
	movl %eax, bz_jmp
	lgdtl bz_gdtr
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl *bz_jmp

	.code32
bz_pm32:
	movl $0x18, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	movl 0x214(%esi), %eax		/* code32_start */
	addl $ZP, %esi			/* ESI = boot_params */
	jmp *%eax

	.balign 8
bz_gdt:
	.quad 0
	.quad 0
	.quad 0x00cf9a000000ffff	/* 0x10: __BOOT_CS */
	.quad 0x00cf92000000ffff	/* 0x18: __BOOT_DS */
bz_gdtr:
	.word 31
	.long 0
bz_jmp:
	.long 0
	.word 0x10
kver:
	.asciz "vessel bzboot test guest (boot protocol 2.15)"
	.code64

/* kernel_info (boot.rst, "The kernel_info"): in the payload. */
	.section .rodata
	.balign 4
	.globl kernel_info
kernel_info:
	.ascii "LToP"
	.long 16			/* size */
	.long 16			/* size_total */
	.long 0				/* setup_type_max */
