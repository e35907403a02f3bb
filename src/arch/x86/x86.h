/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_ARCH_X86_X86_H
#define VESSEL_ARCH_X86_X86_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"
#include "util/stream.h"

struct acpi_pm;
struct gmem;
struct kvm;

enum x86_boot_kind {
	X86_BOOT_PVH,		/* ELF with a Xen PVH entry note: 32-bit entry, EBX = start_info */
	X86_BOOT_LINUX64,	/* bzImage, 64-bit boot protocol: RSI = zero page */
};

struct x86_e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

#define E820_RAM 1
#define E820_RESERVED 2
#define E820_ACPI 3
#define X86_E820_MAX 16

/* Limits of the firmware tables (vm/config.h's VM_MAX_* match them). */
#define X86_MAX_VCPUS 256
#define X86_MAX_NUMA_NODES 8

/* A guest NUMA node as the SRAT and SLIT describe it (ACPI 6.5 5.2.16-17). */
struct x86_numa_node {
	uint64_t mem_size;
	uint64_t cpus[X86_MAX_VCPUS / 64];	 /* bitmap of vCPU ids */
	uint8_t distance[X86_MAX_NUMA_NODES]; /* SLIT row; 0: default */
};

/*
 * What the guest boots and the firmware tables describe, as plain
 * values: arch/x86 never reads the VM configuration (vm/ fills this from
 * it).  The strings are borrowed for the machine's lifetime.
 */
struct x86_boot_spec {
	const char *kernel, *initrd, *cmdline; /* initrd, cmdline: NULL for none */
	uint64_t mem_size;
	unsigned int nr_cpus;
	unsigned int nr_numa_nodes; /* 0: no virtual NUMA topology */
	struct x86_numa_node numa_nodes[X86_MAX_NUMA_NODES];
};

/*
 * What the x86 machine needs of the VM: the KVM VM fd, guest memory and
 * the boot spec.  arch/x86 never sees struct vm.
 */
struct x86_images;

struct x86_machine_params {
	int vm_fd;
	int kvm_fd;		/* /dev/kvm: the MSR list for save/restore */
	bool pvm;		/* KVM_BACKEND_PVM: no TSS needed */
	struct gmem *mem;
	struct x86_boot_spec boot;
};

/* Per-VM x86 state (vm->arch). */
struct x86_machine {
	int vm_fd;
	struct gmem *mem;
	struct x86_boot_spec boot;
	/*
	 * The kernel's and initrd's bytes, read by the first load and kept:
	 * a guest reboot loads them again without opening any file (nothing
	 * is opened after start-up, and a file changed or removed on the
	 * host does not change what the VM boots).  Defined in machine.c.
	 */
	struct x86_images *images;
	enum x86_boot_kind boot_kind;
	uint64_t entry;		/* physical entry point */
	uint64_t boot_info;	/* zero page or hvm_start_info address */
	uint64_t low_mem;	/* RAM below the PCI hole */
	uint64_t high_mem;	/* RAM above 4 GiB */
	struct x86_e820_entry e820[X86_E820_MAX];
	unsigned int nr_e820;
	uint64_t rsdp;
	struct acpi_pm *pm;
	/* Power-on irqchip/PIT state, restored on machine reset. */
	struct kvm_irqchip chips[3];
	struct kvm_pit_state2 pit;
	/* What save/restore may use (state.c, probed at creation). */
	bool has_xsave, has_xcrs, has_debugregs, has_tsc_control;
	uint32_t xsave_size; /* KVM_GET_XSAVE2's size, or struct kvm_xsave's */
	uint32_t *msr_index; /* KVM_GET_MSR_INDEX_LIST */
	uint32_t nr_msr_index;
};

/* The RAM split around the 32-bit PCI hole for `mem` bytes of RAM. */
void x86_mem_split(uint64_t mem, uint64_t *low, uint64_t *high);
/* irqchip, PIT, TSS, identity map; before any vCPU exists. */
int x86_machine_create(const struct x86_machine_params *p, struct x86_machine **out,
		       struct error *err);
void x86_machine_destroy(struct x86_machine *x);
/* Load kernel and initrd, write boot params, e820, ACPI and MP tables. */
int x86_machine_load(struct x86_machine *x, struct error *err);
/*
 * Read the kernel and initrd (once) without writing guest memory: a
 * restore, whose RAM comes from the save, keeps them for a guest reboot.
 */
int x86_machine_read_images(struct x86_machine *x, struct error *err);
/* Back to power-on state: irqchips and PIT (devices and vCPUs apart). */
int x86_machine_reset(struct x86_machine *x);

/*
 * What arch/x86 keeps of a vCPU: its KVM fd and ids (copies of struct
 * vcpu's, which embeds this as `x86`), and the power-on state saved at
 * creation, restored on machine reset.
 */
struct x86_vcpu {
	int fd;
	unsigned int id;
	uint32_t apic_id;
	struct kvm_sregs *init_sregs;
	struct kvm_lapic_state *init_lapic;
	struct kvm_xcrs *init_xcrs;	/* NULL when KVM has no KVM_CAP_XCRS */
};

/* CPUID with the guest topology for this vCPU, one of nr_vcpus (cpuid.c). */
int x86_cpuid_setup(struct x86_vcpu *v, const struct kvm *kvm, unsigned int nr_vcpus);
/* CPUID and MSRs, once per vCPU at creation. */
int x86_vcpu_init(struct x86_vcpu *v, const struct kvm *kvm, unsigned int nr_vcpus,
		  struct error *err);
/* Registers for a (re)boot: the BSP at the entry point, APs waiting for SIPI. */
int x86_vcpu_reset(struct x86_vcpu *v, const struct x86_machine *x);
void x86_vcpu_dump(struct x86_vcpu *v, int fd);
/* Free what x86_vcpu_init() allocated. */
void x86_vcpu_free(struct x86_vcpu *v);

/*
 * Save/restore of the state KVM holds (state.c): the capabilities and
 * MSR list once at creation; then each vCPU's and the chipset's state as
 * one stream section each.  A load checks the whole section before it
 * changes anything in KVM.
 */
int x86_state_probe(struct x86_machine *x, int kvm_fd);
int x86_vcpu_save(struct x86_vcpu *v, const struct x86_machine *x, struct stream *s,
		  struct error *err);
int x86_vcpu_load(struct x86_vcpu *v, const struct x86_machine *x, struct stream *s,
		  struct error *err);
int x86_machine_save(struct x86_machine *x, struct stream *s, struct error *err);
int x86_machine_state_load(struct x86_machine *x, struct stream *s, struct error *err);

/* Used by the loaders: e820 table of the current layout. */
int x86_e820_build(struct x86_machine *x);

#endif
