// SPDX-License-Identifier: MIT
/*
 * Checked wrappers of the system and VM ioctls of KVM
 * (Documentation/virt/kvm/api.rst, sections 4.x).
 */
#include "kvm/kvm.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int kvm_ioctl(int fd, unsigned long req, void *arg)
{
	int ret;

	do {
		ret = ioctl(fd, req, arg);
	} while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : ret;
}

/* KVM_GET_SUPPORTED_CPUID wants a buffer big enough; grow until it fits. */
static int kvm_load_cpuid(struct kvm *k)
{
	for (unsigned int n = 64; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		int ret;

		if (!c)
			return -ENOMEM;
		c->nent = n;
		ret = kvm_ioctl(k->fd, KVM_GET_SUPPORTED_CPUID, c);
		if (ret == 0) {
			k->cpuid = c;
			return 0;
		}
		free(c);
		if (ret != -E2BIG)
			return ret;
	}
	return -E2BIG;
}

int kvm_open(struct kvm *k, const char *path)
{
	int ret, api;

	memset(k, 0, sizeof(*k));
	k->fd = open(path ? path : "/dev/kvm", O_RDWR | O_CLOEXEC);
	if (k->fd < 0)
		return -errno;
	api = ioctl(k->fd, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION) {
		ret = api < 0 ? -errno : -ENOTSUP;
		goto fail;
	}
	/* Everything vessel relies on (docs/threads.md). */
	static const long required[] = { KVM_CAP_IRQCHIP, KVM_CAP_USER_MEMORY, KVM_CAP_IOEVENTFD,
					 KVM_CAP_IRQFD, KVM_CAP_IRQ_ROUTING, KVM_CAP_PIT2,
					 KVM_CAP_SIGNAL_MSI, KVM_CAP_IMMEDIATE_EXIT,
					 KVM_CAP_EXT_CPUID };
	for (size_t i = 0; i < ARRAY_SIZE(required); i++) {
		if (kvm_check_cap(k, required[i]) <= 0) {
			log_err("KVM lacks required capability %ld", required[i]);
			ret = -ENOTSUP;
			goto fail;
		}
	}
	k->vcpu_mmap_size = ioctl(k->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (k->vcpu_mmap_size <= 0) {
		ret = -errno;
		goto fail;
	}
	k->nr_vcpus_hint = kvm_check_cap(k, KVM_CAP_NR_VCPUS);
	k->max_vcpus = kvm_check_cap(k, KVM_CAP_MAX_VCPUS);
	if (k->max_vcpus <= 0)
		k->max_vcpus = k->nr_vcpus_hint > 0 ? k->nr_vcpus_hint : 4;
	k->nr_memslots = kvm_check_cap(k, KVM_CAP_NR_MEMSLOTS);
	ret = kvm_load_cpuid(k);
	if (ret)
		goto fail;
	k->backend = kvm_detect_backend();
	return 0;
fail:
	close(k->fd);
	k->fd = -1;
	return ret;
}

void kvm_close(struct kvm *k)
{
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
	free(k->cpuid);
	k->cpuid = NULL;
}

int kvm_check_cap(const struct kvm *k, long cap)
{
	int ret = ioctl(k->fd, KVM_CHECK_EXTENSION, cap);

	return ret < 0 ? -errno : ret;
}

enum kvm_backend kvm_detect_backend(void)
{
	enum kvm_backend b = KVM_BACKEND_UNKNOWN;
	char *cpuinfo, *flags;

	/* PVM first: such hosts may still list vmx/svm flags of the L0 host. */
	if (access("/sys/module/kvm_pvm", F_OK) == 0)
		return KVM_BACKEND_PVM;
	if (access("/sys/module/kvm_intel", F_OK) == 0)
		return KVM_BACKEND_VMX;
	if (access("/sys/module/kvm_amd", F_OK) == 0)
		return KVM_BACKEND_SVM;
	if (read_file("/proc/cpuinfo", &cpuinfo, NULL))
		return b;
	flags = strstr(cpuinfo, "\nflags");
	if (flags) {
		char *eol = strchr(flags + 1, '\n');

		if (eol)
			*eol = '\0';
		if (strstr(flags, " vmx"))
			b = KVM_BACKEND_VMX;
		else if (strstr(flags, " svm"))
			b = KVM_BACKEND_SVM;
	}
	free(cpuinfo);
	return b;
}

const char *kvm_backend_name(enum kvm_backend b)
{
	switch (b) {
	case KVM_BACKEND_VMX:
		return "VT-x";
	case KVM_BACKEND_SVM:
		return "AMD-V";
	case KVM_BACKEND_PVM:
		return "PVM";
	default:
		return "unknown";
	}
}

int kvm_create_vm(const struct kvm *k)
{
	int fd;

	do {
		fd = ioctl(k->fd, KVM_CREATE_VM, 0);
	} while (fd < 0 && errno == EINTR);
	return fd < 0 ? -errno : fd;
}

int kvm_vm_check_cap(int vm_fd, long cap)
{
	int ret = ioctl(vm_fd, KVM_CHECK_EXTENSION, cap);

	return ret < 0 ? -errno : ret;
}

int kvm_set_memslot(int vm_fd, uint32_t slot, uint32_t flags, uint64_t gpa, uint64_t size,
		    void *hva)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	return kvm_ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &r);
}

int kvm_set_tss_addr(int vm_fd, uint64_t addr)
{
	int ret = ioctl(vm_fd, KVM_SET_TSS_ADDR, (unsigned long)addr);

	return ret < 0 ? -errno : 0;
}

int kvm_set_identity_map_addr(int vm_fd, uint64_t addr)
{
	return kvm_ioctl(vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &addr);
}

int kvm_create_irqchip(int vm_fd)
{
	return kvm_ioctl(vm_fd, KVM_CREATE_IRQCHIP, NULL);
}

int kvm_create_pit2(int vm_fd)
{
	/* Speaker port dummy: guests probe port 0x61 and need an answer. */
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

	return kvm_ioctl(vm_fd, KVM_CREATE_PIT2, &pit);
}

int kvm_irq_line(int vm_fd, uint32_t irq, int level)
{
	struct kvm_irq_level l = { .irq = irq, .level = (uint32_t)level };

	return kvm_ioctl(vm_fd, KVM_IRQ_LINE, &l);
}

int kvm_signal_msi(int vm_fd, uint64_t addr, uint32_t data)
{
	struct kvm_msi msi = {
		.address_lo = (uint32_t)addr,
		.address_hi = (uint32_t)(addr >> 32),
		.data = data,
	};
	int ret = kvm_ioctl(vm_fd, KVM_SIGNAL_MSI, &msi);

	/* 0 means the guest blocked it (masked); that is not an error. */
	return ret < 0 ? ret : 0;
}

int kvm_ioeventfd(int vm_fd, uint64_t addr, uint32_t len, int64_t datamatch, int fd, bool pio,
		  bool deassign)
{
	struct kvm_ioeventfd io = {
		.addr = addr,
		.len = len,
		.fd = fd,
	};

	if (datamatch >= 0) {
		io.datamatch = (uint64_t)datamatch;
		io.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
	}
	if (pio)
		io.flags |= KVM_IOEVENTFD_FLAG_PIO;
	if (deassign)
		io.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
	return kvm_ioctl(vm_fd, KVM_IOEVENTFD, &io);
}

int kvm_irqfd(int vm_fd, int fd, uint32_t gsi, int resample_fd, bool deassign)
{
	struct kvm_irqfd irqfd = { .fd = (uint32_t)fd, .gsi = gsi };

	if (deassign) {
		irqfd.flags = KVM_IRQFD_FLAG_DEASSIGN;
	} else if (resample_fd >= 0) {
		irqfd.flags = KVM_IRQFD_FLAG_RESAMPLE;
		irqfd.resamplefd = (uint32_t)resample_fd;
	}
	return kvm_ioctl(vm_fd, KVM_IRQFD, &irqfd);
}

int kvm_get_dirty_log(int vm_fd, uint32_t slot, void *bitmap)
{
	struct kvm_dirty_log log = { .slot = slot, .dirty_bitmap = bitmap };

	return kvm_ioctl(vm_fd, KVM_GET_DIRTY_LOG, &log);
}

int kvm_clear_dirty_log(int vm_fd, uint32_t slot, uint64_t first_page, uint32_t num_pages,
			void *bitmap)
{
	struct kvm_clear_dirty_log c = {
		.slot = slot,
		.first_page = first_page,
		.num_pages = num_pages,
		.dirty_bitmap = bitmap,
	};

	return kvm_ioctl(vm_fd, KVM_CLEAR_DIRTY_LOG, &c);
}
