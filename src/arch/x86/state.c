// SPDX-License-Identifier: MIT
/*
 * Save and restore of the x86 CPU and chipset state KVM keeps: each
 * vCPU's registers, FPU/XSAVE, XCRs, local APIC, MSRs, multiprocessing
 * state, pending events and debug registers, and the VM's PIC, IOAPIC,
 * PIT and kvmclock (KVM's api.rst, sections 4.x of each ioctl).
 *
 * KVM's structures are stored as they are, each behind its length: the
 * uapi layouts are fixed for an architecture, and a length that differs
 * from this build's sizeof() is refused.  A load reads and checks the
 * whole section into a scratch copy first and touches KVM only after
 * that; what KVM itself refuses (an invalid CR0/CR4 pair, say) fails
 * the restore of a VM that has not run yet, which the caller discards.
 *
 * Restore order (api.rst and arch/x86/kvm/x86.c): special registers
 * first, as the APIC base MSR in them selects xAPIC or x2APIC mode that
 * KVM_SET_LAPIC interprets; the LAPIC before the MSRs, since the TSC
 * deadline MSR is dropped unless the LAPIC timer is in deadline mode;
 * mp_state and events last, as an INIT or SIPI latched in events needs
 * the final mp_state.
 *
 * Time: the guest's TSC (an MSR) and kvmclock (KVM_SET_CLOCK) continue
 * from the values saved, so the guest's monotonic clocks go on where
 * they stopped, without a jump for the time the VM spent saved; its
 * wall clock is behind by that time, as after a host suspend, until the
 * guest's NTP or the RTC read at its next boot corrects it.
 */
#include "arch/x86/x86.h"
#include "kvm/kvm.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define VCPU_TAG STREAM_TAG('X', 'C', 'P', 'U')
#define VCPU_VERSION 1
#define MACHINE_TAG STREAM_TAG('X', 'V', 'M', '0')
#define MACHINE_VERSION 1

/* Optional parts of a vCPU section (a bit each). */
#define HAS_XSAVE (1u << 0)
#define HAS_XCRS (1u << 1)
#define HAS_DEBUGREGS (1u << 2)
#define HAS_KNOWN (HAS_XSAVE | HAS_XCRS | HAS_DEBUGREGS)

/* One guard for the MSR list (KVM's has about a hundred entries). */
#define X86_MAX_SAVED_MSRS 1024
#define XSAVE_MAX_SIZE (1u << 20)

int x86_state_probe(struct x86_machine *x, int kvm_fd)
{
	struct kvm_msr_list probe = { .nmsrs = 0 }, *list;
	int ret;

	x->has_xsave = kvm_vm_check_cap(x->vm_fd, KVM_CAP_XSAVE) > 0;
	x->has_xcrs = kvm_vm_check_cap(x->vm_fd, KVM_CAP_XCRS) > 0;
	x->has_debugregs = kvm_vm_check_cap(x->vm_fd, KVM_CAP_DEBUGREGS) > 0;
	x->has_tsc_control = kvm_vm_check_cap(x->vm_fd, KVM_CAP_TSC_CONTROL) > 0;
	x->xsave_size = sizeof(struct kvm_xsave);
	ret = kvm_vm_check_cap(x->vm_fd, KVM_CAP_XSAVE2);
	if (x->has_xsave && ret > (int)sizeof(struct kvm_xsave) && ret <= (int)XSAVE_MAX_SIZE)
		x->xsave_size = (uint32_t)ret;

	/* E2BIG with the count filled in (api.rst 4.3, KVM_GET_MSR_INDEX_LIST). */
	ret = kvm_ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe);
	if (ret && ret != -E2BIG)
		return ret;
	if (probe.nmsrs == 0 || probe.nmsrs > X86_MAX_SAVED_MSRS)
		return -EINVAL;
	list = calloc(1, sizeof(*list) + probe.nmsrs * sizeof(list->indices[0]));
	if (!list)
		return -ENOMEM;
	list->nmsrs = probe.nmsrs;
	ret = kvm_ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, list);
	if (ret) {
		free(list);
		return ret;
	}
	x->msr_index = malloc(list->nmsrs * sizeof(*x->msr_index));
	if (!x->msr_index) {
		free(list);
		return -ENOMEM;
	}
	memcpy(x->msr_index, list->indices, list->nmsrs * sizeof(*x->msr_index));
	x->nr_msr_index = list->nmsrs;
	free(list);
	return 0;
}

/* Everything of one vCPU, read from KVM or from a stream. */
struct vcpu_state {
	uint32_t has;
	uint32_t tsc_khz;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_mp_state mp;
	struct kvm_vcpu_events events;
	struct kvm_debugregs debugregs;
	uint32_t xsave_size;
	struct kvm_xsave *xsave;
	struct kvm_msrs *msrs; /* nmsrs entries */
};

static void vcpu_state_free(struct vcpu_state *st)
{
	free(st->xsave);
	free(st->msrs);
}

/*
 * KVM_GET_MSRS stops at the first MSR it cannot read (api.rst 4.18):
 * read on past it, so one refused index loses only itself.
 */
static int vcpu_get_msrs(struct x86_vcpu *v, const struct x86_machine *x, struct kvm_msrs **out)
{
	uint32_t n = x->nr_msr_index, got = 0;
	struct kvm_msrs *m = calloc(1, sizeof(*m) + n * sizeof(m->entries[0]));
	struct kvm_msrs *one = calloc(1, sizeof(*one) + n * sizeof(one->entries[0]));
	int ret = 0;

	if (!m || !one) {
		free(m);
		free(one);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n;) {
		uint32_t batch = n - i;

		one->nmsrs = batch;
		for (uint32_t k = 0; k < batch; k++) {
			one->entries[k].index = x->msr_index[i + k];
			one->entries[k].data = 0;
		}
		ret = kvm_ioctl(v->fd, KVM_GET_MSRS, one);
		if (ret < 0)
			break;
		memcpy(&m->entries[got], one->entries, (size_t)ret * sizeof(m->entries[0]));
		got += (uint32_t)ret;
		i += (uint32_t)ret + 1; /* skip the one refused (none when all were read) */
		ret = 0;
	}
	free(one);
	if (ret < 0) {
		free(m);
		return ret;
	}
	m->nmsrs = got;
	*out = m;
	return 0;
}

static int vcpu_state_get(struct x86_vcpu *v, const struct x86_machine *x, struct vcpu_state *st)
{
	int ret;

	memset(st, 0, sizeof(*st));
	ret = kvm_ioctl(v->fd, KVM_GET_REGS, &st->regs);
	if (!ret)
		ret = kvm_ioctl(v->fd, KVM_GET_SREGS, &st->sregs);
	if (!ret && x->has_xsave) {
		st->xsave_size = x->xsave_size;
		st->xsave = calloc(1, st->xsave_size);
		if (!st->xsave)
			return -ENOMEM;
		st->has |= HAS_XSAVE;
		ret = kvm_ioctl(v->fd,
				st->xsave_size > sizeof(struct kvm_xsave) ? KVM_GET_XSAVE2
									  : KVM_GET_XSAVE,
				st->xsave);
	} else if (!ret) {
		ret = kvm_ioctl(v->fd, KVM_GET_FPU, &st->fpu);
	}
	if (!ret && x->has_xcrs) {
		st->has |= HAS_XCRS;
		ret = kvm_ioctl(v->fd, KVM_GET_XCRS, &st->xcrs);
	}
	if (!ret)
		ret = kvm_ioctl(v->fd, KVM_GET_LAPIC, &st->lapic);
	if (!ret)
		ret = vcpu_get_msrs(v, x, &st->msrs);
	if (!ret)
		ret = kvm_ioctl(v->fd, KVM_GET_MP_STATE, &st->mp);
	if (!ret)
		ret = kvm_ioctl(v->fd, KVM_GET_VCPU_EVENTS, &st->events);
	if (!ret && x->has_debugregs) {
		st->has |= HAS_DEBUGREGS;
		ret = kvm_ioctl(v->fd, KVM_GET_DEBUGREGS, &st->debugregs);
	}
	if (!ret) {
		ret = kvm_ioctl(v->fd, KVM_GET_TSC_KHZ, NULL);
		st->tsc_khz = ret > 0 ? (uint32_t)ret : 0;
		ret = ret < 0 ? ret : 0;
	}
	return ret;
}

/* A KVM structure behind its length, so a layout change is caught. */
static void put_blob(struct stream *s, const void *p, uint32_t len)
{
	stream_put_u32(s, len);
	stream_put_bytes(s, p, len);
}

static void get_blob(struct stream *s, void *p, uint32_t len, const char *what)
{
	uint32_t n = stream_get_u32(s);

	if (stream_error(s))
		return;
	if (n != len) {
		stream_fail(s, -EINVAL, "%s is %u bytes, this build's is %u", what, n, len);
		return;
	}
	stream_get_bytes(s, p, len);
}

int x86_vcpu_save(struct x86_vcpu *v, const struct x86_machine *x, struct stream *s,
		  struct error *err)
{
	struct stream_section sec;
	struct vcpu_state st;
	int ret = vcpu_state_get(v, x, &st);

	if (ret) {
		vcpu_state_free(&st);
		return error_set_errno(err, ret, "vcpu%u: cannot read its state from KVM", v->id);
	}
	stream_section_begin(s, &sec, VCPU_TAG, VCPU_VERSION);
	stream_put_u32(s, v->apic_id);
	stream_put_u32(s, st.has);
	stream_put_u32(s, st.tsc_khz);
	put_blob(s, &st.regs, sizeof(st.regs));
	put_blob(s, &st.sregs, sizeof(st.sregs));
	if (st.has & HAS_XSAVE)
		put_blob(s, st.xsave, st.xsave_size);
	else
		put_blob(s, &st.fpu, sizeof(st.fpu));
	if (st.has & HAS_XCRS)
		put_blob(s, &st.xcrs, sizeof(st.xcrs));
	put_blob(s, &st.lapic, sizeof(st.lapic));
	stream_put_u32(s, st.msrs->nmsrs);
	for (uint32_t i = 0; i < st.msrs->nmsrs; i++) {
		stream_put_u32(s, st.msrs->entries[i].index);
		stream_put_u64(s, st.msrs->entries[i].data);
	}
	put_blob(s, &st.mp, sizeof(st.mp));
	put_blob(s, &st.events, sizeof(st.events));
	if (st.has & HAS_DEBUGREGS)
		put_blob(s, &st.debugregs, sizeof(st.debugregs));
	stream_section_end(s, &sec);
	vcpu_state_free(&st);
	if (stream_error(s))
		return error_setf(err, stream_error(s), "vcpu%u: %s", v->id, error_msg(&s->err));
	return 0;
}

/* Parse and check a section against this host and vCPU; KVM is not touched. */
static int vcpu_state_read(struct x86_vcpu *v, const struct x86_machine *x, struct stream *s,
			   struct vcpu_state *st)
{
	struct stream_section sec;
	uint32_t ver, apic_id, n;

	memset(st, 0, sizeof(*st));
	ver = stream_section_open(s, &sec, VCPU_TAG);
	if (stream_error(s))
		return stream_error(s);
	if (ver != VCPU_VERSION)
		return stream_fail(s, -EINVAL, "vCPU state version %u is not supported", ver);
	apic_id = stream_get_u32(s);
	st->has = stream_get_u32(s);
	st->tsc_khz = stream_get_u32(s);
	if (stream_error(s))
		return stream_error(s);
	if (apic_id != v->apic_id)
		return stream_fail(s, -EINVAL, "saved APIC ID %u, this vCPU has %u", apic_id,
				   v->apic_id);
	if (st->has & ~HAS_KNOWN)
		return stream_fail(s, -EINVAL, "unknown state flags %#x", st->has);
	get_blob(s, &st->regs, sizeof(st->regs), "kvm_regs");
	get_blob(s, &st->sregs, sizeof(st->sregs), "kvm_sregs");
	if (st->has & HAS_XSAVE) {
		n = stream_get_u32(s);
		if (stream_error(s))
			return stream_error(s);
		/* A larger area holds state (AMX tiles) this host's KVM cannot take. */
		if (!x->has_xsave || n < sizeof(struct kvm_xsave) || n > x->xsave_size)
			return stream_fail(s, -EINVAL,
					   "saved XSAVE area of %u bytes; this host's KVM takes %u",
					   n, x->has_xsave ? x->xsave_size : 0);
		st->xsave_size = x->xsave_size;
		st->xsave = calloc(1, st->xsave_size);
		if (!st->xsave)
			return stream_fail(s, -ENOMEM, "out of memory");
		stream_get_bytes(s, st->xsave, n);
	} else {
		get_blob(s, &st->fpu, sizeof(st->fpu), "kvm_fpu");
	}
	if (st->has & HAS_XCRS) {
		if (!x->has_xcrs)
			return stream_fail(s, -EINVAL, "saved XCRs; this host's KVM has none");
		get_blob(s, &st->xcrs, sizeof(st->xcrs), "kvm_xcrs");
		if (!stream_error(s) && st->xcrs.nr_xcrs > KVM_MAX_XCRS)
			return stream_fail(s, -EINVAL, "%u XCRs (at most %d)", st->xcrs.nr_xcrs,
					   KVM_MAX_XCRS);
	}
	get_blob(s, &st->lapic, sizeof(st->lapic), "kvm_lapic_state");
	n = stream_get_u32(s);
	if (stream_error(s))
		return stream_error(s);
	if (n > X86_MAX_SAVED_MSRS || n * 12ull > stream_remaining(s))
		return stream_fail(s, -EINVAL, "%u MSRs is beyond the section", n);
	st->msrs = calloc(1, sizeof(*st->msrs) + n * sizeof(st->msrs->entries[0]));
	if (!st->msrs)
		return stream_fail(s, -ENOMEM, "out of memory");
	st->msrs->nmsrs = n;
	for (uint32_t i = 0; i < n; i++) {
		st->msrs->entries[i].index = stream_get_u32(s);
		st->msrs->entries[i].data = stream_get_u64(s);
	}
	get_blob(s, &st->mp, sizeof(st->mp), "kvm_mp_state");
	get_blob(s, &st->events, sizeof(st->events), "kvm_vcpu_events");
	if (st->has & HAS_DEBUGREGS) {
		if (!x->has_debugregs)
			return stream_fail(s, -EINVAL,
					   "saved debug registers; this host's KVM has none");
		get_blob(s, &st->debugregs, sizeof(st->debugregs), "kvm_debugregs");
	}
	stream_section_close(s, &sec);
	if (stream_error(s))
		return stream_error(s);
	if (st->mp.mp_state > KVM_MP_STATE_AP_RESET_HOLD)
		return stream_fail(s, -EINVAL, "mp_state %u is not one KVM knows", st->mp.mp_state);
	return 0;
}

/* KVM_SET_MSRS, like the get, past an MSR this KVM refuses. */
static int vcpu_set_msrs(struct x86_vcpu *v, struct kvm_msrs *m)
{
	uint32_t n = m->nmsrs, refused = 0;
	struct kvm_msrs *one = calloc(1, sizeof(*one) + n * sizeof(one->entries[0]));
	int ret = 0;

	if (!one)
		return -ENOMEM;
	for (uint32_t i = 0; i < n;) {
		one->nmsrs = n - i;
		memcpy(one->entries, &m->entries[i], one->nmsrs * sizeof(one->entries[0]));
		ret = kvm_ioctl(v->fd, KVM_SET_MSRS, one);
		if (ret < 0)
			break;
		if ((uint32_t)ret < n - i) {
			log_debug("vcpu%u: KVM refused MSR %#x on restore", v->id,
				  m->entries[i + ret].index);
			refused++;
		}
		i += (uint32_t)ret + 1;
		ret = 0;
	}
	free(one);
	if (refused)
		log_debug("vcpu%u: %u saved MSRs not restored", v->id, refused);
	return ret;
}

static int vcpu_state_apply(struct x86_vcpu *v, const struct x86_machine *x, struct vcpu_state *st,
			    const char **what)
{
	int ret;

	if (st->tsc_khz && x->has_tsc_control) {
		int host = kvm_ioctl(v->fd, KVM_GET_TSC_KHZ, NULL);

		/* Another host's TSC rate: scale the guest's to what it saw (api.rst 4.55). */
		if (host > 0 && (uint32_t)host != st->tsc_khz) {
			*what = "KVM_SET_TSC_KHZ";
			ret = kvm_ioctl(v->fd, KVM_SET_TSC_KHZ, (void *)(uintptr_t)st->tsc_khz);
			if (ret)
				return ret;
		}
	}
	*what = "KVM_SET_SREGS";
	ret = kvm_ioctl(v->fd, KVM_SET_SREGS, &st->sregs);
	if (ret)
		return ret;
	*what = "KVM_SET_REGS";
	ret = kvm_ioctl(v->fd, KVM_SET_REGS, &st->regs);
	if (ret)
		return ret;
	*what = st->xsave ? "KVM_SET_XSAVE" : "KVM_SET_FPU";
	ret = st->xsave ? kvm_ioctl(v->fd, KVM_SET_XSAVE, st->xsave)
			: kvm_ioctl(v->fd, KVM_SET_FPU, &st->fpu);
	if (ret)
		return ret;
	if (st->has & HAS_XCRS) {
		*what = "KVM_SET_XCRS";
		ret = kvm_ioctl(v->fd, KVM_SET_XCRS, &st->xcrs);
		if (ret)
			return ret;
	}
	*what = "KVM_SET_LAPIC";
	ret = kvm_ioctl(v->fd, KVM_SET_LAPIC, &st->lapic);
	if (ret)
		return ret;
	*what = "KVM_SET_MSRS";
	ret = vcpu_set_msrs(v, st->msrs);
	if (ret)
		return ret;
	*what = "KVM_SET_MP_STATE";
	ret = kvm_ioctl(v->fd, KVM_SET_MP_STATE, &st->mp);
	if (ret)
		return ret;
	/* NMI and SIPI fields as saved, not left to KVM's defaults (api.rst 4.32). */
	st->events.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
	*what = "KVM_SET_VCPU_EVENTS";
	ret = kvm_ioctl(v->fd, KVM_SET_VCPU_EVENTS, &st->events);
	if (ret)
		return ret;
	if (st->has & HAS_DEBUGREGS) {
		*what = "KVM_SET_DEBUGREGS";
		ret = kvm_ioctl(v->fd, KVM_SET_DEBUGREGS, &st->debugregs);
	}
	return ret;
}

int x86_vcpu_load(struct x86_vcpu *v, const struct x86_machine *x, struct stream *s,
		  struct error *err)
{
	const char *what = "";
	struct vcpu_state st;
	int ret = vcpu_state_read(v, x, s, &st);

	if (ret) {
		vcpu_state_free(&st);
		return error_setf(err, ret, "vcpu%u: %s", v->id, error_msg(&s->err));
	}
	ret = vcpu_state_apply(v, x, &st, &what);
	vcpu_state_free(&st);
	if (ret)
		return error_set_errno(err, ret, "vcpu%u: %s refused the saved state", v->id, what);
	return 0;
}

/* The chipset KVM emulates: PIC master and slave, IOAPIC, PIT, kvmclock. */
int x86_machine_save(struct x86_machine *x, struct stream *s, struct error *err)
{
	struct kvm_irqchip chips[3];
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock = { 0 };
	struct stream_section sec;
	int ret = 0;

	for (unsigned int i = 0; !ret && i < 3; i++) {
		memset(&chips[i], 0, sizeof(chips[i]));
		chips[i].chip_id = i;
		ret = kvm_ioctl(x->vm_fd, KVM_GET_IRQCHIP, &chips[i]);
	}
	if (!ret)
		ret = kvm_ioctl(x->vm_fd, KVM_GET_PIT2, &pit);
	if (!ret)
		ret = kvm_ioctl(x->vm_fd, KVM_GET_CLOCK, &clock);
	if (ret)
		return error_set_errno(err, ret, "machine: cannot read the irqchip, PIT or clock");
	stream_section_begin(s, &sec, MACHINE_TAG, MACHINE_VERSION);
	for (unsigned int i = 0; i < 3; i++)
		put_blob(s, &chips[i], sizeof(chips[i]));
	put_blob(s, &pit, sizeof(pit));
	stream_put_u64(s, clock.clock);
	stream_section_end(s, &sec);
	if (stream_error(s))
		return error_setf(err, stream_error(s), "machine: %s", error_msg(&s->err));
	return 0;
}

int x86_machine_state_load(struct x86_machine *x, struct stream *s, struct error *err)
{
	struct kvm_irqchip chips[3];
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock = { 0 };
	struct stream_section sec;
	uint32_t ver;
	int ret = 0;

	ver = stream_section_open(s, &sec, MACHINE_TAG);
	if (!stream_error(s) && ver != MACHINE_VERSION)
		stream_fail(s, -EINVAL, "machine state version %u is not supported", ver);
	for (unsigned int i = 0; i < 3; i++) {
		get_blob(s, &chips[i], sizeof(chips[i]), "kvm_irqchip");
		if (!stream_error(s) && chips[i].chip_id != i)
			stream_fail(s, -EINVAL, "irqchip %u saved as chip %u", i, chips[i].chip_id);
	}
	get_blob(s, &pit, sizeof(pit), "kvm_pit_state2");
	clock.clock = stream_get_u64(s);
	stream_section_close(s, &sec);
	if (stream_error(s))
		return error_setf(err, stream_error(s), "machine: %s", error_msg(&s->err));
	for (unsigned int i = 0; !ret && i < 3; i++)
		ret = kvm_ioctl(x->vm_fd, KVM_SET_IRQCHIP, &chips[i]);
	if (!ret)
		ret = kvm_ioctl(x->vm_fd, KVM_SET_PIT2, &pit);
	/* kvmclock goes on from the saved reading (see the top of this file). */
	if (!ret)
		ret = kvm_ioctl(x->vm_fd, KVM_SET_CLOCK, &clock);
	if (ret)
		return error_set_errno(err, ret,
				       "machine: KVM refused the saved irqchip, PIT or clock");
	return 0;
}
