/*
 * The smallest PVH guest (Xen PVH boot ABI: 32-bit protected mode entry
 * named by an XEN_ELFNOTE_PHYS32_ENTRY note).  Its first instruction
 * writes '!' to COM1, so the time to the first byte on the console is the
 * time to the first guest instruction.  Built twice: with EXIT it then
 * leaves through the isa-debug-exit port, without it halts forever (for
 * the RSS measurement).
 */
	.section .note.Xen, "a"
	.align 4
	.long 4, 4, 18		/* namesz, descsz, XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long _start

	.text
	.code32
	.globl _start
_start:
	movb $'!', %al
	movw $0x3f8, %dx
	outb %al, %dx
#ifdef EXIT
	xorl %eax, %eax
	outl %eax, $0xf4
#endif
1:	cli
	hlt
	jmp 1b
