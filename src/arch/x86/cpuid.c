// SPDX-License-Identifier: MIT
/*
 * CPUID for each vCPU: KVM_GET_SUPPORTED_CPUID, with the topology rewritten
 * so the guest sees one socket of N cores, one thread each, whose APIC IDs
 * are 0..N-1 (Intel SDM vol. 2A CPUID leaves 01H, 04H, 0BH and 1FH; AMD
 * APM vol. 3 appendix E, leaves 8000_0001H, 8000_0008H and 8000_001EH).
 */
#include "arch/x86/x86.h"
#include "util/log.h"
#include "util/util.h"
#include "kvm/kvm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define CPUID_1_EDX_HTT (1u << 28)
#define CPUID_80000001_ECX_CMP_LEGACY (1u << 1)

/* Bits needed to number `n` things: ceil(log2(n)). */
static unsigned int x86_order(unsigned int n)
{
	unsigned int bits = 0;

	while ((1u << bits) < n)
		bits++;
	return bits;
}

static struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function == fn &&
		    (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == idx))
			return e;
	}
	return NULL;
}

static void cpuid_remove(struct kvm_cpuid2 *c, uint32_t fn)
{
	uint32_t j = 0;

	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function != fn)
			c->entries[j++] = c->entries[i];
	c->nent = j;
}

static void cpuid_add(struct kvm_cpuid2 *c, uint32_t cap, const struct kvm_cpuid_entry2 *e)
{
	if (c->nent < cap)
		c->entries[c->nent++] = *e;
}

/*
 * Leaf 0BH (and 1FH when the CPU has it): level 0 = SMT with one thread,
 * level 1 = core with N logical processors; EDX is the x2APIC ID.
 */
static void cpuid_set_ext_topology(struct kvm_cpuid2 *c, uint32_t cap, uint32_t fn,
				   uint32_t apic_id, unsigned int nr_cpus)
{
	struct kvm_cpuid_entry2 e = { .function = fn, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX };

	cpuid_remove(c, fn);
	e.index = 0;
	e.eax = 0;		/* shift to the next level: 1 thread per core */
	e.ebx = 1;
	e.ecx = (1u << 8) | 0;	/* level type SMT */
	e.edx = apic_id;
	cpuid_add(c, cap, &e);
	e.index = 1;
	e.eax = x86_order(nr_cpus);
	e.ebx = nr_cpus;
	e.ecx = (2u << 8) | 1;	/* level type core */
	e.edx = apic_id;
	cpuid_add(c, cap, &e);
	e.index = 2;
	e.eax = 0;
	e.ebx = 0;
	e.ecx = 2;		/* invalid level terminates the enumeration */
	e.edx = apic_id;
	cpuid_add(c, cap, &e);
}

int x86_cpuid_setup(struct x86_vcpu *v, const struct kvm *kvm, unsigned int nr_vcpus)
{
	const struct kvm_cpuid2 *sup = kvm->cpuid;
	unsigned int n = nr_vcpus;
	uint32_t cap = sup->nent + 8;
	struct kvm_cpuid2 *c;
	struct kvm_cpuid_entry2 *e;
	uint32_t max_basic = 0;
	bool amd;
	int ret;

	c = calloc(1, sizeof(*c) + cap * sizeof(c->entries[0]));
	if (!c)
		return -ENOMEM;
	memcpy(c, sup, sizeof(*c) + sup->nent * sizeof(sup->entries[0]));

	e = cpuid_find(c, 0, 0);
	if (e)
		max_basic = e->eax;
	amd = e && e->ebx == 0x68747541;	/* "Auth"enticAMD */

	e = cpuid_find(c, 1, 0);
	if (e) {
		e->ebx = (e->ebx & 0x0000ffff) | (v->apic_id << 24) | ((n & 0xff) << 16);
		e->ecx |= CPUID_1_ECX_HYPERVISOR;
		if (n > 1)
			e->edx |= CPUID_1_EDX_HTT;
		else
			e->edx &= ~CPUID_1_EDX_HTT;
	}
	/* Leaf 04H: cores per package and logical processors sharing each cache. */
	for (uint32_t i = 0; i < c->nent; i++) {
		e = &c->entries[i];
		if (e->function != 4)
			continue;
		e->eax &= 0x3ff;	/* keep cache type/level/self-init/fully-assoc */
		if ((e->eax & 0x1f) == 0)
			continue;
		e->eax |= ((n - 1) & 0x3f) << 26;
		/* L1/L2 per core, L3 shared by the package. */
		if (((e->eax >> 5) & 7) == 3)
			e->eax |= ((n - 1) & 0xfff) << 14;
	}
	if (max_basic >= 0xb)
		cpuid_set_ext_topology(c, cap, 0xb, v->apic_id, n);
	if (max_basic >= 0x1f)
		cpuid_set_ext_topology(c, cap, 0x1f, v->apic_id, n);

	if (amd) {
		e = cpuid_find(c, 0x80000001, 0);
		if (e) {
			if (n > 1)
				e->ecx |= CPUID_80000001_ECX_CMP_LEGACY;
			else
				e->ecx &= ~CPUID_80000001_ECX_CMP_LEGACY;
		}
		e = cpuid_find(c, 0x80000008, 0);
		if (e)
			e->ecx = (e->ecx & ~0xf0ffu) | (x86_order(n) << 12) | ((n - 1) & 0xff);
		e = cpuid_find(c, 0x8000001e, 0);
		if (e) {
			e->eax = v->apic_id;
			e->ebx = v->id & 0xff;	/* core id, one thread per core */
			e->ecx = 0;		/* node 0 */
		}
	}

	do {
		ret = ioctl(v->fd, KVM_SET_CPUID2, c);
	} while (ret < 0 && errno == EINTR);
	ret = ret < 0 ? -errno : 0;
	free(c);
	return ret;
}
