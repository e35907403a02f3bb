// SPDX-License-Identifier: MIT
/*
 * cpuid.elf - CPUID as the VMM sets it, on every CPU (SDM vol. 2A, CPUID):
 *  - leaf 1 EBX[31:24] (initial APIC ID) equals the CPU's LAPIC ID and is
 *    unique; ECX bit 31 (hypervisor present) is set;
 *  - leaf 0xB (x2APIC topology, SDM vol. 3A section 9.9.1): level 0 is SMT,
 *    level 1 is Core with expect_cpus logical processors, EDX = APIC ID;
 *  - leaf 0x40000000 (Linux Documentation/virt/kvm/x86/cpuid.rst) carries
 *    the "KVMKVMKVM\0\0\0" signature.
 *
 * Options: expect_cpus=N (default: the MADT), hv_sig=STRING (expected
 * hypervisor signature, default KVMKVMKVM; "any" accepts any),
 * topology=0 (skip the leaf 0xB check).
 */
#include "guest.h"

enum { D_OK, D_LEAF1_ID, D_LEAF1_HV, D_LEAFB_ID, D_ERR };

static int expect;
static bool check_topology;

/* Runs on each CPU; records results in cpus[idx].data, prints nothing
 * (the BSP reports): data[0] status, [1] leaf 1 EBX, [2] leaf 1 ECX,
 * [3] 0xB/0 EBX|ECX<<32, [4] 0xB/1 EBX|ECX<<32, [5] 0xB EDX, [6] LAPIC ID. */
static void cpu_probe(int idx)
{
	volatile u64 *d = cpus[idx].data;
	struct cpuid_regs r;
	u32 id = lapic_id();

	d[6] = id;
	r = cpuid(1, 0);
	d[1] = r.ebx;
	d[2] = r.ecx;
	r = cpuid(0, 0);
	if (r.eax >= 0xb) {
		r = cpuid(0xb, 0);
		d[3] = r.ebx | (u64)r.ecx << 32;
		d[5] = r.edx;
		r = cpuid(0xb, 1);
		d[4] = r.ebx | (u64)r.ecx << 32;
	} else {
		d[3] = d[4] = ~0ull;
	}
	d[0] = 1;
}

static void check_cpu(int idx)
{
	volatile u64 *d = cpus[idx].data;
	u32 id = (u32)d[6];

	check(d[0] == 1, "CPU %d never ran the probe", idx);
	printf("cpu%d: APIC ID %u, leaf1 EBX=0x%08lx ECX=0x%08lx", idx, id, d[1], d[2]);
	if (d[3] != ~0ull)
		printf(", 0xB: SMT %lu core %lu x2APIC ID %lu", d[3] & 0xffff, d[4] & 0xffff, d[5]);
	printf("\n");
	check(((d[1] >> 24) & 0xff) == (id & 0xff), "cpu%d: CPUID.1 EBX[31:24]=%lu, LAPIC ID %u",
	      idx, (d[1] >> 24) & 0xff, id);
	check(d[2] & (1u << 31), "cpu%d: CPUID.1 ECX[31] (hypervisor) clear", idx);
	if (!check_topology)
		return;
	check(d[3] != ~0ull, "cpu%d: CPUID max leaf < 0xB", idx);
	/* ECX[15:8] level type: 1 SMT, 2 Core; EBX[15:0] logical processors. */
	u32 t0 = (u32)(d[3] >> 40) & 0xff, t1 = (u32)(d[4] >> 40) & 0xff;
	check(t0 == 1, "cpu%d: CPUID.0xB.0 level type %u, expected 1 (SMT)", idx, t0);
	check(t1 == 2, "cpu%d: CPUID.0xB.1 level type %u, expected 2 (Core)", idx, t1);
	check((d[4] & 0xffff) == (u64)expect,
	      "cpu%d: CPUID.0xB.1 EBX=%lu logical processors, expected %d", idx, d[4] & 0xffff,
	      expect);
	check(d[5] == id, "cpu%d: CPUID.0xB EDX (x2APIC ID) %lu != APIC ID %u", idx, d[5], id);
}

void guest_main(void)
{
	char sig[16], want[16];
	struct cpuid_regs r;

	expect = (int)opt_u64("expect_cpus", have_madt ? (u64)madt.nr_cpus : 1);
	check_topology = opt_u64("topology", 1) != 0;
	if (!opt_str("hv_sig", want, sizeof(want)))
		memcpy(want, "KVMKVMKVM", 10);

	r = cpuid(0x40000000, 0);
	memcpy(sig, &r.ebx, 4);
	memcpy(sig + 4, &r.ecx, 4);
	memcpy(sig + 8, &r.edx, 4);
	sig[12] = '\0';
	printf("hypervisor leaf 0x40000000: max 0x%x signature \"%s\"\n", r.eax, sig);
	if (strcmp(want, "any"))
		check(!strcmp(sig, want), "hypervisor signature \"%s\", expected \"%s\"", sig,
		      want);

	int n = 1;
	if (expect > 1)
		n = smp_start(cpu_probe, expect, (u32)opt_u64("timeout_ms", 5000));
	else
		cpus[0].apic_id = lapic_id();
	cpu_probe(0);
	check(n == expect, "%d CPUs started, expected %d", n, expect);
	check(smp_wait_done(2000), "APs did not finish the CPUID probe");
	for (int i = 0; i < n; i++)
		check_cpu(i);
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			check(cpus[i].data[6] != cpus[j].data[6],
			      "cpu%d and cpu%d share APIC ID %lu", i, j, cpus[i].data[6]);
}
