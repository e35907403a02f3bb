/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_KVM_KVM_H
#define VESSEL_KVM_KVM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * Thin, checked wrappers of the KVM ioctls (Documentation/virt/kvm/api.rst).
 * Every wrapper returns 0 (or a non-negative result) or -errno.
 */

enum kvm_backend { KVM_BACKEND_UNKNOWN, KVM_BACKEND_VMX, KVM_BACKEND_SVM, KVM_BACKEND_PVM };

struct kvm {
	int fd;			/* /dev/kvm */
	int vcpu_mmap_size;
	int max_vcpus;		/* KVM_CAP_MAX_VCPUS (hard limit) */
	int nr_vcpus_hint;	/* KVM_CAP_NR_VCPUS (recommended) */
	int nr_memslots;
	struct kvm_cpuid2 *cpuid;	/* KVM_GET_SUPPORTED_CPUID */
	enum kvm_backend backend;
};

/* Open /dev/kvm; -ENOENT / -EACCES / -EPERM keep their meaning for callers. */
/* ioctl() retried on EINTR: the result, or -errno. */
int kvm_ioctl(int fd, unsigned long req, void *arg);
int kvm_open(struct kvm *k, const char *path);
void kvm_close(struct kvm *k);
int kvm_check_cap(const struct kvm *k, long cap);
enum kvm_backend kvm_detect_backend(void);
const char *kvm_backend_name(enum kvm_backend b);

/* VM-level ioctls, on the VM fd. */
int kvm_create_vm(const struct kvm *k);
int kvm_vm_check_cap(int vm_fd, long cap);
int kvm_set_memslot(int vm_fd, uint32_t slot, uint32_t flags, uint64_t gpa, uint64_t size,
		    void *hva);
int kvm_set_tss_addr(int vm_fd, uint64_t addr);
int kvm_set_identity_map_addr(int vm_fd, uint64_t addr);
int kvm_create_irqchip(int vm_fd);
int kvm_create_pit2(int vm_fd);
int kvm_irq_line(int vm_fd, uint32_t irq, int level);
int kvm_signal_msi(int vm_fd, uint64_t addr, uint32_t data);
/* datamatch < 0: no datamatch.  pio selects the port-I/O space. */
int kvm_ioeventfd(int vm_fd, uint64_t addr, uint32_t len, int64_t datamatch, int fd, bool pio,
		  bool deassign);
int kvm_irqfd(int vm_fd, int fd, uint32_t gsi, int resample_fd, bool deassign);
int kvm_get_dirty_log(int vm_fd, uint32_t slot, void *bitmap);
int kvm_clear_dirty_log(int vm_fd, uint32_t slot, uint64_t first_page, uint32_t num_pages,
			void *bitmap);

/*
 * GSI routing (api.rst 4.52 KVM_SET_GSI_ROUTING).  The table replaces the
 * whole routing, so it keeps the default irqchip routes (GSI 0-15 on both
 * PICs, 0-23 on the IOAPIC) and adds MSI routes on top.
 */
#define IRQ_ROUTE_MAX 1024
#define IRQ_GSI_MSI_BASE 24

struct irq_router {
	int vm_fd;
	pthread_mutex_t lock;
	struct kvm_irq_routing *table;
	uint32_t next_gsi;
	uint64_t gsi_used[IRQ_ROUTE_MAX / 64];
};

int irq_router_init(struct irq_router *r, int vm_fd);
void irq_router_destroy(struct irq_router *r);
/* Allocate a GSI for an MSI route; returns the GSI or -errno. */
int irq_msi_alloc(struct irq_router *r);
int irq_msi_set(struct irq_router *r, uint32_t gsi, uint64_t addr, uint32_t data);
void irq_msi_free(struct irq_router *r, uint32_t gsi);

#endif
