// SPDX-License-Identifier: MIT
/*
 * Kernel loaders: bzImage through the Linux x86 boot protocol
 * (Documentation/x86/boot.rst, protocol 2.12+ with the 64-bit entry) and
 * ELF kernels through the Xen PVH entry (xen/include/public/arch-x86/
 * hvm/start_info.h; ELF note XEN_ELFNOTE_PHYS32_ENTRY = 18).  The image is
 * untrusted input: every offset and length from it is checked.
 */
#include "arch/x86/boot.h"
#include "arch/x86/layout.h"
#include "arch/x86/x86.h"
#include "util/log.h"
#include "util/util.h"
#include "mem/gmem.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* boot_params / setup header offsets (boot.rst "The Real-Mode Kernel Header"). */
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_ACPI_RSDP_ADDR 0x070
#define BP_E820_ENTRIES 0x1e8
#define BP_SETUP_HDR 0x1f1
#define BP_E820_TABLE 0x2d0
#define HDR_SETUP_SECTS 0x1f1
#define HDR_BOOT_FLAG 0x1fe
#define HDR_HEADER 0x202
#define HDR_VERSION 0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_CODE32_START 0x214
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_HEAP_END_PTR 0x224
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_RELOCATABLE 0x234
#define HDR_CMDLINE_SIZE 0x238
#define HDR_XLOADFLAGS 0x236
#define HDR_PREF_ADDRESS 0x258
#define HDR_INIT_SIZE 0x260
#define LOADED_HIGH 0x01
#define CAN_USE_HEAP 0x80
#define XLF_KERNEL_64 0x01

#define PVH_START_MAGIC 0x336ec578u
#define XEN_ELFNOTE_PHYS32_ENTRY 18

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
} __attribute__((packed));

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
} __attribute__((packed));

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
} __attribute__((packed));

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/*
 * Open a kernel or initrd: a regular, non-empty file.  O_NONBLOCK so that a
 * FIFO named by mistake cannot hang vessel in open(); the fd is then
 * switched back to blocking reads.  One message in *err on failure.
 */
static int boot_open_image(const char *path, const char *what, struct stat *st,
			   struct error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return error_set_errno(err, -errno, "cannot open %s '%s'", what, path);
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		return error_setf(err, -EINVAL, "%s '%s' is not a regular file", what, path);
	}
	if (st->st_size == 0) {
		close(fd);
		return error_setf(err, -EINVAL, "%s '%s' is empty", what, path);
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

int boot_check_image(const char *path, const char *what, struct error *err)
{
	struct stat st;
	int fd = boot_open_image(path, what, &st, err);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

int boot_read_image(const char *path, const char *what, struct boot_image *img,
		    struct error *err)
{
	struct stat st;
	int fd, ret;

	memset(img, 0, sizeof(*img));
	fd = boot_open_image(path, what, &st, err);
	if (fd < 0)
		return fd;
	img->size = (uint64_t)st.st_size;
	img->data = malloc(img->size);
	if (!img->data) {
		close(fd);
		return error_setf(err, -ENOMEM, "no memory to read %s '%s'", what, path);
	}
	ret = read_full(fd, img->data, img->size);
	close(fd);
	if (ret) {
		error_set_errno(err, ret, "cannot read %s '%s'", what, path);
		free(img->data);
		img->data = NULL;
	}
	return ret;
}

void boot_free_image(struct boot_image *img)
{
	free(img->data);
	img->data = NULL;
}

bool boot_is_bzimage(const struct boot_image *k)
{
	return k->size >= 0x264 && get16(k->data + HDR_BOOT_FLAG) == 0xaa55 &&
	       !memcmp(k->data + HDR_HEADER, "HdrS", 4);
}

bool boot_is_elf(const struct boot_image *k)
{
	return k->size >= EI_NIDENT && !memcmp(k->data, ELFMAG, SELFMAG);
}

/* Highest address below `limit` where `size` bytes fit in low RAM. */
static int boot_place_initrd(struct x86_machine *x, uint64_t size, uint64_t kernel_end,
			     uint64_t limit, uint64_t *addr, struct error *err)
{
	uint64_t top = MIN(x->low_mem, limit);

	if (size > top || ALIGN_DOWN(top - size, 4096) < kernel_end) {
		char m[32];

		format_size(x->boot.mem_size, m, sizeof(m));
		return error_setf(err, -ENOSPC,
				  "initrd '%s' (%llu bytes) does not fit in %s of guest memory "
				  "beside the kernel",
				  x->boot.initrd ? x->boot.initrd : "(none)", (unsigned long long)size,
				  m);
	}
	*addr = ALIGN_DOWN(top - size, 4096);
	return 0;
}

static int boot_write_cmdline(struct x86_machine *x, uint64_t limit, struct error *err)
{
	const char *cmdline = x->boot.cmdline ? x->boot.cmdline : "";
	size_t len = strlen(cmdline);

	if (len + 1 > MIN(limit, X86_CMDLINE_MAX)) {
		return error_setf(err, -E2BIG,
				  "kernel command line is %zu bytes; this kernel accepts at most %llu",
				  len, (unsigned long long)MIN(limit, X86_CMDLINE_MAX) - 1);
	}
	return gmem_write(x->mem, X86_CMDLINE_ADDR, cmdline, len + 1);
}

static int boot_bzimage(struct x86_machine *x, const struct boot_image *k,
			const struct boot_image *initrd, struct error *err)
{
	uint8_t *bp;
	unsigned int setup_sects;
	uint16_t version;
	uint64_t setup_size, pm_size, load_addr, init_size, initrd_addr = 0, cmdline_limit;
	uint32_t initrd_max;
	size_t hdr_end;
	int ret;

	version = get16(k->data + HDR_VERSION);
	if (version < 0x20c || !(k->data[HDR_XLOADFLAGS] & XLF_KERNEL_64)) {
		return error_setf(err, -ENOEXEC,
				  "kernel '%s' does not support the 64-bit boot protocol "
				  "(boot protocol %u.%02u, needs 2.12 with XLF_KERNEL_64)",
				  x->boot.kernel, version >> 8, version & 0xff);
	}
	setup_sects = k->data[HDR_SETUP_SECTS] ? k->data[HDR_SETUP_SECTS] : 4;
	setup_size = (uint64_t)(setup_sects + 1) * 512;
	if (setup_size >= k->size) {
		return error_setf(err, -ENOEXEC,
				  "kernel '%s' is truncated: setup needs %llu bytes, file has %llu",
				  x->boot.kernel, (unsigned long long)setup_size,
				  (unsigned long long)k->size);
	}
	pm_size = k->size - setup_size;
	load_addr = X86_KERNEL_ADDR;
	init_size = get32(k->data + HDR_INIT_SIZE);
	if (init_size < pm_size)
		init_size = pm_size;
	if (load_addr + init_size > x->low_mem) {
		return error_setf(err, -ENOSPC,
				  "kernel '%s' needs %llu MiB of memory above 1 MiB; the VM has too "
				  "little",
				  x->boot.kernel, (unsigned long long)(init_size >> 20) + 1);
	}
	ret = gmem_write(x->mem, load_addr, k->data + setup_size, pm_size);
	if (ret)
		return ret;

	/* The zero page: the setup header copied in, then our fields. */
	bp = gmem_ptr_w(x->mem, X86_ZERO_PAGE_ADDR, 4096);
	if (!bp)
		return -EFAULT;
	memset(bp, 0, 4096);
	/* The header ends at 0x202 + the byte at 0x201 (boot.rst). */
	hdr_end = 0x202 + k->data[0x201];
	if (hdr_end > k->size || hdr_end > 4096)
		hdr_end = MIN(k->size, (uint64_t)0x280);
	memcpy(bp + BP_SETUP_HDR, k->data + BP_SETUP_HDR, hdr_end - BP_SETUP_HDR);
	bp[HDR_TYPE_OF_LOADER] = 0xff;	/* undefined boot loader ID */
	bp[HDR_LOADFLAGS] |= LOADED_HIGH | CAN_USE_HEAP;
	bp[HDR_HEAP_END_PTR] = 0x00;
	bp[HDR_HEAP_END_PTR + 1] = 0xfe;	/* 0xfe00: heap end relative to setup */
	put32(bp + HDR_CODE32_START, (uint32_t)load_addr);

	cmdline_limit = version >= 0x206 ? get32(k->data + HDR_CMDLINE_SIZE) + 1ull : 256;
	ret = boot_write_cmdline(x, cmdline_limit, err);
	if (ret)
		return ret;
	put32(bp + HDR_CMD_LINE_PTR, (uint32_t)X86_CMDLINE_ADDR);

	if (initrd) {
		initrd_max = get32(k->data + HDR_INITRD_ADDR_MAX);
		if (!initrd_max)
			initrd_max = 0x37ffffff;
		ret = boot_place_initrd(x, initrd->size, load_addr + init_size,
					(uint64_t)initrd_max + 1, &initrd_addr, err);
		if (ret)
			return ret;
		ret = gmem_write(x->mem, initrd_addr, initrd->data, initrd->size);
		if (ret)
			return ret;
		put32(bp + HDR_RAMDISK_IMAGE, (uint32_t)initrd_addr);
		put32(bp + HDR_RAMDISK_SIZE, (uint32_t)initrd->size);
		put32(bp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(initrd_addr >> 32));
		put32(bp + BP_EXT_RAMDISK_SIZE, (uint32_t)(initrd->size >> 32));
	}
	memcpy(bp + BP_ACPI_RSDP_ADDR, &x->rsdp, 8);
	if (x->nr_e820 > 128)
		return -E2BIG;
	bp[BP_E820_ENTRIES] = (uint8_t)x->nr_e820;
	memcpy(bp + BP_E820_TABLE, x->e820, x->nr_e820 * sizeof(x->e820[0]));

	x->boot_kind = X86_BOOT_LINUX64;
	x->entry = load_addr + 0x200;	/* startup_64 */
	x->boot_info = X86_ZERO_PAGE_ADDR;
	return 0;
}

/* Find the PVH entry in the ELF notes of one PT_NOTE segment. */
static int elf_find_pvh_note(const uint8_t *p, uint64_t len, uint64_t *entry)
{
	uint64_t off = 0;

	while (len - off >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr n;
		uint64_t name_sz, desc_sz;

		memcpy(&n, p + off, sizeof(n));
		off += sizeof(n);
		name_sz = ALIGN_UP((uint64_t)n.n_namesz, 4);
		desc_sz = ALIGN_UP((uint64_t)n.n_descsz, 4);
		if (name_sz > len - off || desc_sz > len - off - name_sz)
			return -ENOEXEC;
		if (n.n_type == XEN_ELFNOTE_PHYS32_ENTRY && n.n_namesz == 4 &&
		    !memcmp(p + off, "Xen", 4)) {
			const uint8_t *d = p + off + name_sz;

			if (n.n_descsz == 4)
				*entry = get32(d);
			else if (n.n_descsz == 8)
				memcpy(entry, d, 8);
			else
				return -ENOEXEC;
			return 0;
		}
		off += name_sz + desc_sz;
	}
	return -ENOENT;
}

static int boot_elf_bad(struct x86_machine *x, const char *why, struct error *err)
{
	return error_setf(err, -ENOEXEC, "kernel '%s' is not a loadable ELF: %s", x->boot.kernel,
			  why);
}

static int boot_pvh(struct x86_machine *x, const struct boot_image *k,
		    const struct boot_image *initrd, struct error *err)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)k->data;
	struct hvm_start_info si = { .magic = PVH_START_MAGIC, .version = 1 };
	struct hvm_memmap_table_entry mm[X86_E820_MAX];
	uint64_t entry = 0, kernel_end = 0;
	bool have_note = false;
	int ret;

	if (k->size < sizeof(Elf64_Ehdr) || k->data[EI_CLASS] != ELFCLASS64)
		return boot_elf_bad(x, "only 64-bit ELF (ELFCLASS64) images are supported", err);
	if (eh->e_machine != EM_X86_64 || (eh->e_type != ET_EXEC && eh->e_type != ET_DYN))
		return boot_elf_bad(x, "not an x86-64 executable", err);
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 || eh->e_phnum > 64 ||
	    eh->e_phoff > k->size || (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > k->size - eh->e_phoff)
		return boot_elf_bad(x, "bad program header table", err);

	/* First the notes: without a PVH entry there is nothing to load. */
	for (unsigned int i = 0; i < eh->e_phnum && !have_note; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, k->data + eh->e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_NOTE)
			continue;
		if (ph.p_offset > k->size || ph.p_filesz > k->size - ph.p_offset)
			return boot_elf_bad(x, "segment extends past the end of the file", err);
		ret = elf_find_pvh_note(k->data + ph.p_offset, ph.p_filesz, &entry);
		if (ret == 0)
			have_note = true;
		else if (ret != -ENOENT)
			return boot_elf_bad(x, "malformed ELF note", err);
	}
	if (!have_note)
		return boot_elf_bad(x, "no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)", err);

	for (unsigned int i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, k->data + eh->e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD)
			continue;
		if (ph.p_offset > k->size || ph.p_filesz > k->size - ph.p_offset)
			return boot_elf_bad(x, "segment extends past the end of the file", err);
		if (ph.p_memsz < ph.p_filesz || ph.p_paddr + ph.p_memsz < ph.p_paddr)
			return boot_elf_bad(x, "bad PT_LOAD sizes", err);
		/*
		 * Below 0xF0000 live the boot structures, the MP table and the
		 * ACPI tables; the BIOS area above it is free for small
		 * segments (linkers put notes there), and so is all RAM above.
		 */
		if (ph.p_paddr < X86_ACPI_ADDR + X86_ACPI_SIZE ||
		    !gmem_ptr(x->mem, ph.p_paddr, ph.p_memsz)) {
			return error_setf(err, -ENOSPC,
					  "kernel '%s': segment at %#llx-%#llx is outside guest RAM "
					  "(from 0xf0000, within %llu MiB)",
					  x->boot.kernel, (unsigned long long)ph.p_paddr,
					  (unsigned long long)(ph.p_paddr + ph.p_memsz),
					  (unsigned long long)(x->boot.mem_size >> 20));
		}
		ret = gmem_write(x->mem, ph.p_paddr, k->data + ph.p_offset, ph.p_filesz);
		if (ret)
			return ret;
		memset(gmem_ptr_w(x->mem, ph.p_paddr + ph.p_filesz, ph.p_memsz - ph.p_filesz), 0,
		       ph.p_memsz - ph.p_filesz);
		kernel_end = MAX(kernel_end, ph.p_paddr + ph.p_memsz);
	}
	if (!kernel_end)
		return boot_elf_bad(x, "no PT_LOAD segment", err);
	if (entry >= X86_4G || !gmem_ptr(x->mem, entry, 1))
		return boot_elf_bad(x, "PVH entry point outside the loaded image", err);

	ret = boot_write_cmdline(x, X86_CMDLINE_MAX, err);
	if (ret)
		return ret;
	si.cmdline_paddr = X86_CMDLINE_ADDR;
	si.rsdp_paddr = x->rsdp;
	if (initrd) {
		struct hvm_modlist_entry mod = { .size = initrd->size };
		uint64_t mod_addr = X86_PVH_INFO_ADDR + sizeof(si);

		uint64_t paddr;

		ret = boot_place_initrd(x, initrd->size, kernel_end, X86_4G, &paddr, err);
		if (ret)
			return ret;
		mod.paddr = paddr;
		ret = gmem_write(x->mem, mod.paddr, initrd->data, initrd->size);
		if (ret)
			return ret;
		ret = gmem_write(x->mem, mod_addr, &mod, sizeof(mod));
		if (ret)
			return ret;
		si.nr_modules = 1;
		si.modlist_paddr = mod_addr;
	}
	for (unsigned int i = 0; i < x->nr_e820; i++)
		mm[i] = (struct hvm_memmap_table_entry){ .addr = x->e820[i].addr,
							 .size = x->e820[i].size,
							 .type = x->e820[i].type };
	ret = gmem_write(x->mem, X86_PVH_MEMMAP_ADDR, mm, x->nr_e820 * sizeof(mm[0]));
	if (ret)
		return ret;
	si.memmap_paddr = X86_PVH_MEMMAP_ADDR;
	si.memmap_entries = x->nr_e820;
	ret = gmem_write(x->mem, X86_PVH_INFO_ADDR, &si, sizeof(si));
	if (ret)
		return ret;

	x->boot_kind = X86_BOOT_PVH;
	x->entry = entry;
	x->boot_info = X86_PVH_INFO_ADDR;
	return 0;
}

/* A failure without its own message (guest memory writes): one naming the kernel. */
static int boot_load_failed(struct x86_machine *x, int ret, struct error *err)
{
	if (ret && !error_is_set(err))
		error_set_errno(err, ret, "cannot load kernel '%s'", x->boot.kernel);
	return ret;
}

int boot_load_bzimage(struct x86_machine *x, const struct boot_image *k,
		      const struct boot_image *initrd, struct error *err)
{
	return boot_load_failed(x, boot_bzimage(x, k, initrd, err), err);
}

int boot_load_pvh(struct x86_machine *x, const struct boot_image *k,
		  const struct boot_image *initrd, struct error *err)
{
	return boot_load_failed(x, boot_pvh(x, k, initrd, err), err);
}
