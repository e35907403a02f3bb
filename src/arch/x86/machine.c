// SPDX-License-Identifier: MIT
/*
 * The x86 machine: in-kernel irqchip and PIT, the memory layout and e820
 * map, the boot-time structures (GDT, identity page tables) and loading
 * the kernel with its firmware tables.  Machine reset restores the
 * power-on irqchip/PIT state saved at creation and reloads the kernel.
 */
#include "arch/x86/acpi.h"
#include "arch/x86/boot.h"
#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"
#include "arch/x86/x86.h"
#include "util/log.h"
#include "util/util.h"
#include "kvm/kvm.h"
#include "mem/gmem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

void x86_mem_split(uint64_t mem, uint64_t *low, uint64_t *high)
{
	*low = MIN(mem, X86_PCI_HOLE_START);
	*high = mem - *low;
}

static int vm_ioctl(struct x86_machine *x, unsigned long req, void *arg)
{
	int ret;

	do {
		ret = ioctl(x->vm_fd, req, arg);
	} while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : ret;
}

int x86_machine_create(const struct x86_machine_params *p, struct x86_machine **out,
		       struct error *err)
{
	struct x86_machine *x = calloc(1, sizeof(*x));
	int ret;

	if (!x)
		return error_setf(err, -ENOMEM, "out of memory");
	x->vm_fd = p->vm_fd;
	x->mem = p->mem;
	x->boot = p->boot;
	x86_mem_split(p->boot.mem_size, &x->low_mem, &x->high_mem);

	/* VT-x needs these two pages below 4 GiB (api.rst 4.40, 4.41). */
	ret = kvm_set_tss_addr(x->vm_fd, X86_KVM_TSS_ADDR);
	if (ret && !p->pvm) {
		error_set_errno(err, ret, "KVM_SET_TSS_ADDR");
		goto fail;
	}
	ret = 0;
	if (kvm_vm_check_cap(x->vm_fd, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0)
		kvm_set_identity_map_addr(x->vm_fd, X86_KVM_IDMAP_ADDR);
	ret = kvm_create_irqchip(x->vm_fd);
	if (ret) {
		error_set_errno(err, ret, "KVM_CREATE_IRQCHIP");
		goto fail;
	}
	ret = kvm_create_pit2(x->vm_fd);
	if (ret) {
		error_set_errno(err, ret, "KVM_CREATE_PIT2");
		goto fail;
	}
	for (unsigned int i = 0; i < 3; i++) {
		x->chips[i].chip_id = i;
		ret = vm_ioctl(x, KVM_GET_IRQCHIP, &x->chips[i]);
		if (ret) {
			error_set_errno(err, ret, "KVM_GET_IRQCHIP");
			goto fail;
		}
	}
	ret = vm_ioctl(x, KVM_GET_PIT2, &x->pit);
	if (ret) {
		error_set_errno(err, ret, "KVM_GET_PIT2");
		goto fail;
	}
	ret = x86_state_probe(x, p->kvm_fd);
	if (ret) {
		error_set_errno(err, ret, "KVM_GET_MSR_INDEX_LIST");
		goto fail;
	}
	*out = x;
	return 0;
fail:
	free(x->msr_index);
	free(x);
	return ret;
}

struct x86_images {
	struct boot_image kernel, initrd;
};

static void x86_images_free(struct x86_images *im)
{
	if (!im)
		return;
	boot_free_image(&im->kernel);
	boot_free_image(&im->initrd);
	free(im);
}

/* Read the kernel and initrd once; later loads reuse the bytes. */
int x86_machine_read_images(struct x86_machine *x, struct error *err)
{
	struct x86_images *im;
	int ret;

	if (x->images)
		return 0;
	im = calloc(1, sizeof(*im));
	if (!im)
		return error_setf(err, -ENOMEM, "no memory for the boot images");
	ret = boot_read_image(x->boot.kernel, "kernel", &im->kernel, err);
	if (!ret && x->boot.initrd)
		ret = boot_read_image(x->boot.initrd, "initrd", &im->initrd, err);
	if (ret) {
		x86_images_free(im);
		return ret;
	}
	x->images = im;
	return 0;
}

void x86_machine_destroy(struct x86_machine *x)
{
	if (x) {
		x86_images_free(x->images);
		free(x->msr_index);
	}
	free(x);
}

int x86_machine_reset(struct x86_machine *x)
{
	int ret;

	for (unsigned int i = 0; i < 3; i++) {
		ret = vm_ioctl(x, KVM_SET_IRQCHIP, &x->chips[i]);
		if (ret)
			return ret;
	}
	return vm_ioctl(x, KVM_SET_PIT2, &x->pit);
}

static void e820_add(struct x86_machine *x, uint64_t addr, uint64_t size, uint32_t type)
{
	if (size && x->nr_e820 < X86_E820_MAX)
		x->e820[x->nr_e820++] = (struct x86_e820_entry){ addr, size, type };
}

int x86_e820_build(struct x86_machine *x)
{
	x->nr_e820 = 0;
	/* Conventional memory up to the EBDA, where the MP table lives. */
	e820_add(x, 0, X86_EBDA_ADDR, E820_RAM);
	e820_add(x, X86_EBDA_ADDR, X86_LOW_RAM_END - X86_EBDA_ADDR, E820_RESERVED);
	/* ACPI tables and the BIOS area. */
	e820_add(x, X86_BIOS_START, X86_HIGH_RAM_START - X86_BIOS_START, E820_RESERVED);
	e820_add(x, X86_HIGH_RAM_START, x->low_mem - X86_HIGH_RAM_START, E820_RAM);
	/* Linux wants ECAM reserved before it trusts MCFG (arch/x86/pci/mmconfig-shared.c). */
	e820_add(x, X86_PCI_ECAM_START, X86_PCI_ECAM_SIZE, E820_RESERVED);
	e820_add(x, X86_4G, x->high_mem, E820_RAM);
	return 0;
}

/*
 * A GDT for the boot entry: 0x10 code (64-bit for the Linux entry, 32-bit
 * for PVH), 0x18 data, 0x20 a 32-bit TSS; boot.rst requires __BOOT_CS and
 * __BOOT_DS at 0x10 and 0x18.
 */
static int x86_write_gdt(struct x86_machine *x, bool code64)
{
	uint64_t gdt[5] = {
		0,
		0,
		code64 ? 0x00af9b000000ffffull : 0x00cf9b000000ffffull,
		0x00cf93000000ffffull,
		0x00008b0000000067ull,
	};

	return gmem_write(x->mem, X86_GDT_ADDR, gdt, sizeof(gdt));
}

/* Identity map of the first 4 GiB with 2 MiB pages, for the 64-bit entry. */
static int x86_write_page_tables(struct x86_machine *x)
{
	uint64_t *pml4 = gmem_ptr_w(x->mem, X86_PML4_ADDR, 4096);
	uint64_t *pdpt = gmem_ptr_w(x->mem, X86_PDPT_ADDR, 4096);
	uint64_t *pd = gmem_ptr_w(x->mem, X86_PD_ADDR, 4 * 4096);

	if (!pml4 || !pdpt || !pd)
		return -EFAULT;
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = X86_PDPT_ADDR | 0x3;	/* present, writable */
	for (uint64_t i = 0; i < 4; i++)
		pdpt[i] = (X86_PD_ADDR + i * 4096) | 0x3;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | 0x83;	/* present, writable, 2 MiB page */
	return 0;
}

int x86_machine_load(struct x86_machine *x, struct error *err)
{
	const struct x86_boot_spec *spec = &x->boot;
	const struct boot_image *kernel, *initrd;
	int ret;

	ret = x86_machine_read_images(x, err);
	if (ret)
		return ret;
	kernel = &x->images->kernel;
	initrd = spec->initrd ? &x->images->initrd : NULL;
	ret = x86_e820_build(x);
	if (!ret)
		ret = acpi_build_tables(x->mem, spec, &x->rsdp);
	if (ret)
		return error_set_errno(err, ret, "cannot build the ACPI tables");
	ret = mptable_build(x->mem, spec->nr_cpus);
	if (ret)
		return error_set_errno(err, ret, "cannot build the MP table");
	if (boot_is_bzimage(kernel)) {
		ret = boot_load_bzimage(x, kernel, initrd, err);
	} else if (boot_is_elf(kernel)) {
		ret = boot_load_pvh(x, kernel, initrd, err);
	} else {
		ret = error_setf(err, -ENOEXEC, "kernel '%s' is neither a bzImage nor an ELF image",
				 spec->kernel);
	}
	if (ret)
		return ret;
	ret = x86_write_gdt(x, x->boot_kind == X86_BOOT_LINUX64);
	if (!ret && x->boot_kind == X86_BOOT_LINUX64)
		ret = x86_write_page_tables(x);
	if (ret)
		error_set_errno(err, ret, "cannot write the boot page tables");
	return ret;
}
