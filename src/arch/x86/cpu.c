// SPDX-License-Identifier: MIT
/*
 * Per-vCPU x86 state: MSRs at creation, registers at (re)boot, and the
 * register dump printed when a guest crashes.
 */
#include "arch/x86/layout.h"
#include "arch/x86/x86.h"
#include "util/log.h"
#include "util/util.h"
#include "kvm/kvm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define MSR_IA32_TSC 0x10
#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MISC_ENABLE_FAST_STRING 1ull
#define MTRR_DEF_TYPE_E (1ull << 11)
#define MTRR_TYPE_WB 6ull

#define X86_CR0_PE (1ull << 0)
#define X86_CR0_ET (1ull << 4)
#define X86_CR0_PG (1ull << 31)
#define X86_CR4_PAE (1ull << 5)
#define X86_EFER_LME (1ull << 8)
#define X86_EFER_LMA (1ull << 10)

static int vcpu_ioctl(struct x86_vcpu *v, unsigned long req, void *arg)
{
	int ret;

	do {
		ret = ioctl(v->fd, req, arg);
	} while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : ret;
}

static int x86_set_msrs(struct x86_vcpu *v)
{
	static const struct {
		uint32_t index;
		uint64_t data;
	} msrs[] = {
		{ MSR_IA32_SYSENTER_CS, 0 },
		{ MSR_IA32_SYSENTER_ESP, 0 },
		{ MSR_IA32_SYSENTER_EIP, 0 },
		{ MSR_STAR, 0 },
		{ MSR_CSTAR, 0 },
		{ MSR_KERNEL_GS_BASE, 0 },
		{ MSR_SYSCALL_MASK, 0 },
		{ MSR_LSTAR, 0 },
		{ MSR_IA32_TSC, 0 },
		{ MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING },
		/* No firmware programs the MTRRs: make all memory write-back. */
		{ MSR_MTRR_DEF_TYPE, MTRR_DEF_TYPE_E | MTRR_TYPE_WB },
	};
	struct kvm_msrs *buf;
	int ret;

	buf = calloc(1, sizeof(*buf) + ARRAY_SIZE(msrs) * sizeof(buf->entries[0]));
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < ARRAY_SIZE(msrs); i++) {
		buf->entries[i].index = msrs[i].index;
		buf->entries[i].data = msrs[i].data;
	}
	buf->nmsrs = ARRAY_SIZE(msrs);
	ret = vcpu_ioctl(v, KVM_SET_MSRS, buf);
	free(buf);
	if (ret < 0)
		return ret;
	/* KVM stops at the first MSR it refuses; not every backend has all. */
	if ((size_t)ret != ARRAY_SIZE(msrs))
		log_debug("vcpu%u: KVM accepted %d of %zu boot MSRs (first refused %#x)", v->id,
			  ret, ARRAY_SIZE(msrs), msrs[ret].index);
	return 0;
}

/*
 * Keep the vCPU's power-on sregs (APIC base, segments, control registers),
 * local APIC and XCR0, so a machine reset starts from the same state even
 * if the guest had enabled x2APIC mode, LAPIC timers or AVX state.
 */
static int x86_save_power_on_state(struct x86_vcpu *v, const struct kvm *kvm)
{
	int ret;

	v->init_sregs = calloc(1, sizeof(*v->init_sregs));
	v->init_lapic = calloc(1, sizeof(*v->init_lapic));
	if (!v->init_sregs || !v->init_lapic)
		return -ENOMEM;
	ret = vcpu_ioctl(v, KVM_GET_SREGS, v->init_sregs);
	if (!ret)
		ret = vcpu_ioctl(v, KVM_GET_LAPIC, v->init_lapic);
	if (ret)
		return ret;
	if (kvm_check_cap(kvm, KVM_CAP_XCRS) > 0) {
		v->init_xcrs = calloc(1, sizeof(*v->init_xcrs));
		if (!v->init_xcrs)
			return -ENOMEM;
		if (vcpu_ioctl(v, KVM_GET_XCRS, v->init_xcrs)) {
			free(v->init_xcrs);
			v->init_xcrs = NULL;
		}
	}
	return 0;
}

int x86_vcpu_init(struct x86_vcpu *v, const struct kvm *kvm, unsigned int nr_vcpus,
		  struct error *err)
{
	int ret = x86_cpuid_setup(v, kvm, nr_vcpus);

	if (ret)
		return error_set_errno(err, ret, "vcpu%u: KVM_SET_CPUID2", v->id);
	ret = x86_set_msrs(v);
	if (!ret)
		ret = x86_save_power_on_state(v, kvm);
	if (ret)
		error_set_errno(err, ret, "vcpu%u: cannot set up MSRs and power-on state", v->id);
	return ret;
}

static void seg_flat(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code64)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = code64;
	s->db = !code64;
}

/*
 * Boot state of the BSP.  PVH (Xen arch-x86/hvm/start_info.h): 32-bit
 * protected mode, paging off, flat segments, EBX = start_info.  Linux
 * 64-bit boot protocol (Documentation/x86/boot.rst, "64-bit Boot
 * Protocol"): long mode with an identity map, __BOOT_CS = 0x10,
 * __BOOT_DS = 0x18, RSI = boot_params.
 */
static int x86_bsp_boot_regs(struct x86_vcpu *v, const struct x86_machine *x)
{
	struct kvm_sregs sregs = *v->init_sregs;
	struct kvm_regs regs = { .rflags = 0x2 };
	bool lm = x->boot_kind == X86_BOOT_LINUX64;
	int ret;

	seg_flat(&sregs.cs, 0x10, 0xb, lm);
	seg_flat(&sregs.ds, 0x18, 0x3, false);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	memset(&sregs.tr, 0, sizeof(sregs.tr));
	sregs.tr.selector = 0x20;
	sregs.tr.limit = 0x67;
	sregs.tr.type = 0xb;	/* 32-bit busy TSS */
	sregs.tr.present = 1;
	sregs.gdt.base = X86_GDT_ADDR;
	sregs.gdt.limit = 5 * 8 - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr0 = X86_CR0_PE | X86_CR0_ET;
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (lm) {
		sregs.cr3 = X86_PML4_ADDR;
		sregs.cr4 = X86_CR4_PAE;
		sregs.cr0 |= X86_CR0_PG;
		sregs.efer = X86_EFER_LME | X86_EFER_LMA;
		regs.rsi = x->boot_info;
	} else {
		regs.rbx = x->boot_info;
	}
	regs.rip = x->entry;
	ret = vcpu_ioctl(v, KVM_SET_SREGS, &sregs);
	if (!ret)
		ret = vcpu_ioctl(v, KVM_SET_REGS, &regs);
	return ret;
}

int x86_vcpu_reset(struct x86_vcpu *v, const struct x86_machine *x)
{
	struct kvm_mp_state mp = { .mp_state = v->id == 0 ? KVM_MP_STATE_RUNNABLE
							    : KVM_MP_STATE_UNINITIALIZED };
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	struct kvm_vcpu_events ev;
	int ret;

	memset(&ev, 0, sizeof(ev));
	ret = vcpu_ioctl(v, KVM_SET_VCPU_EVENTS, &ev);
	if (ret)
		log_debug("vcpu%u: KVM_SET_VCPU_EVENTS: %s", v->id, strerror(-ret));
	ret = vcpu_ioctl(v, KVM_SET_FPU, &fpu);
	if (!ret)
		ret = vcpu_ioctl(v, KVM_SET_LAPIC, v->init_lapic);
	if (!ret && v->id != 0)
		ret = vcpu_ioctl(v, KVM_SET_SREGS, v->init_sregs);
	if (ret)
		return ret;
	if (v->init_xcrs && vcpu_ioctl(v, KVM_SET_XCRS, v->init_xcrs))
		log_debug("vcpu%u: cannot restore XCR0", v->id);
	if (v->id == 0) {
		ret = x86_bsp_boot_regs(v, x);
		if (ret)
			return ret;
	}
	/* APs wait for INIT-SIPI-SIPI from the guest (SDM vol. 3A 8.4.4). */
	return vcpu_ioctl(v, KVM_SET_MP_STATE, &mp);
}

static void dump_seg(FILE *f, const char *name, const struct kvm_segment *s)
{
	fprintf(f, "%-3s sel=%04x base=%016llx limit=%08x type=%x dpl=%u p=%u l=%u db=%u\n", name,
		s->selector, (unsigned long long)s->base, s->limit, s->type, s->dpl, s->present,
		s->l, s->db);
}

void x86_vcpu_dump(struct x86_vcpu *v, int fd)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return;
	fprintf(f, "vCPU %u registers:\n", v->id);
	if (vcpu_ioctl(v, KVM_GET_REGS, &r) == 0) {
		fprintf(f, "RIP=%016llx RSP=%016llx RFLAGS=%016llx\n", r.rip, r.rsp, r.rflags);
		fprintf(f, "RAX=%016llx RBX=%016llx RCX=%016llx RDX=%016llx\n", r.rax, r.rbx, r.rcx,
			r.rdx);
		fprintf(f, "RSI=%016llx RDI=%016llx RBP=%016llx R8 =%016llx\n", r.rsi, r.rdi, r.rbp,
			r.r8);
		fprintf(f, "R9 =%016llx R10=%016llx R11=%016llx R12=%016llx\n", r.r9, r.r10, r.r11,
			r.r12);
		fprintf(f, "R13=%016llx R14=%016llx R15=%016llx\n", r.r13, r.r14, r.r15);
	}
	if (vcpu_ioctl(v, KVM_GET_SREGS, &s) == 0) {
		fprintf(f, "CR0=%016llx CR2=%016llx CR3=%016llx CR4=%016llx EFER=%016llx\n", s.cr0,
			s.cr2, s.cr3, s.cr4, s.efer);
		dump_seg(f, "CS", &s.cs);
		dump_seg(f, "SS", &s.ss);
		dump_seg(f, "DS", &s.ds);
		dump_seg(f, "TR", &s.tr);
		fprintf(f, "GDT base=%016llx limit=%04x  IDT base=%016llx limit=%04x\n",
			(unsigned long long)s.gdt.base, s.gdt.limit, (unsigned long long)s.idt.base,
			s.idt.limit);
	}
	fclose(f);
	if (buf) {
		(void)write_full(fd, buf, len);
		free(buf);
	}
}

void x86_vcpu_free(struct x86_vcpu *v)
{
	free(v->init_sregs);
	free(v->init_lapic);
	free(v->init_xcrs);
	v->init_sregs = NULL;
	v->init_lapic = NULL;
	v->init_xcrs = NULL;
}
