// SPDX-License-Identifier: MIT
/* Unit tests of the core: guest memory bounds, bus dispatch, event loop, loaders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/boot.h"
#include "arch/x86/layout.h"
#include "arch/x86/x86.h"
#include "bus/bus.h"
#include "mem/gmem.h"
#include "util/evloop.h"
#include "util/log.h"
#include "util/util.h"
#include "vm/vm.h"

static void test_gmem_bounds(void **state)
{
	struct gmem m;
	uint8_t buf[16];

	assert_int_equal(gmem_init(&m, NULL), 0);
	assert_int_equal(gmem_add_region(&m, 0, 2 * MiB), 0);
	assert_int_equal(gmem_add_region(&m, X86_4G, 2 * MiB), 0);
	assert_int_equal(gmem_add_region(&m, MiB, 2 * MiB), -EEXIST);	/* overlap */
	assert_int_equal(gmem_add_region(&m, 123, 4096), -EINVAL);	/* unaligned */
	assert_non_null(gmem_ptr(&m, 0, 2 * MiB));
	assert_null(gmem_ptr(&m, 0, 2 * MiB + 1));
	assert_null(gmem_ptr(&m, 2 * MiB, 1));		/* the hole */
	assert_null(gmem_ptr(&m, 2 * MiB - 1, 2));
	/* gpa + len wraps around: must not pass the check. */
	assert_null(gmem_ptr(&m, 4096, UINT64_MAX - 100));
	assert_null(gmem_ptr(&m, UINT64_MAX, 2));
	assert_non_null(gmem_ptr(&m, X86_4G + 2 * MiB - 1, 1));
	assert_null(gmem_ptr(&m, X86_4G + 2 * MiB - 1, 2));
	assert_non_null(gmem_ptr(&m, 100, 0));
	/* Copies that leave RAM fail as a whole and change nothing. */
	memset(buf, 0xab, sizeof(buf));
	memset(gmem_ptr(&m, 2 * MiB - 8, 8), 0, 8);
	assert_int_equal(gmem_write(&m, 2 * MiB - 8, buf, sizeof(buf)), -EFAULT);
	assert_int_equal(((uint8_t *)gmem_ptr(&m, 2 * MiB - 8, 8))[0], 0);
	assert_int_equal(gmem_read(&m, 2 * MiB - 8, buf, sizeof(buf)), -EFAULT);
	assert_int_equal(gmem_write(&m, 4096, buf, sizeof(buf)), 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(gmem_read(&m, 4096, buf, sizeof(buf)), 0);
	assert_int_equal(buf[15], 0xab);
	gmem_destroy(&m);
}

static void test_gmem_dirty(void **state)
{
	uint64_t bits[2];
	struct gmem m;
	uint8_t b = 1;

	gmem_init(&m, NULL);
	assert_int_equal(gmem_add_region(&m, 0, 4 * MiB), 0);
	assert_int_equal(gmem_dirty_start(&m), 0);
	assert_int_equal(gmem_write(&m, 3 * 4096 + 10, &b, 1), 0);
	assert_non_null(gmem_ptr_w(&m, 8 * 4096 - 1, 2));	/* spans pages 7 and 8 */
	assert_int_equal(gmem_dirty_fetch(&m, 0, bits, 2), 2);
	assert_int_equal(bits[0], (1ull << 3) | (1ull << 7) | (1ull << 8));
	assert_int_equal(bits[1], 0);
	/* Fetching cleared it. */
	assert_int_equal(gmem_dirty_fetch(&m, 0, bits, 1), 1);
	assert_int_equal(bits[0], 0);
	gmem_dirty_stop(&m);
	assert_int_equal(gmem_dirty_fetch(&m, 0, bits, 1), -ENODATA);
	assert_int_equal(gmem_write(&m, 9 * 4096, &b, 1), 0); /* off: not marked */
	/* A new start forgets what an older run marked. */
	assert_int_equal(gmem_dirty_start(&m), 0);
	assert_int_equal(gmem_write(&m, 2 * 4096, &b, 1), 0);
	assert_int_equal(gmem_dirty_fetch(&m, 0, bits, 1), 1);
	assert_int_equal(bits[0], 1ull << 2);
	gmem_dirty_stop(&m);
	gmem_destroy(&m);
}

/* ROM and flash: described, loadable by the VMM, never RAM nor a DMA target. */
static void test_gmem_kinds(void **state)
{
	static const uint8_t fw[4] = { 0xde, 0xad, 0xbe, 0xef };
	struct gmem_region_info r;
	uint64_t prev = 0;
	unsigned int n = 0;
	struct gmem m;

	gmem_init(&m, NULL);
	assert_int_equal(gmem_add_region(&m, X86_4G, 2 * MiB), 0);
	assert_int_equal(gmem_add(&m, GMEM_FLASH, X86_4G - 2 * MiB, 2 * MiB), 0);
	assert_int_equal(gmem_add_region(&m, 0, 2 * MiB), 0);
	assert_int_equal(gmem_add(&m, GMEM_ROM, 0xe0000, 4096), -EEXIST);
	assert_int_equal(gmem_add(&m, GMEM_ROM, 3 * MiB, 100), -EINVAL);
	assert_int_equal(gmem_add(&m, (enum gmem_kind)7, 3 * MiB, 4096), -EINVAL);
	assert_int_equal(gmem_ram_size(&m), 4 * MiB);
	assert_int_equal(gmem_nr_regions(&m), 3);
	/* Address order whatever the order of adding; slots in adding order. */
	gmem_for_each_region(&m, i, &r) {
		assert_true(r.gpa >= prev);
		prev = r.gpa;
		if (r.gpa == X86_4G - 2 * MiB) {
			assert_int_equal(r.kind, GMEM_FLASH);
			assert_int_equal(r.slot, 1);
		} else {
			assert_int_equal(r.kind, GMEM_RAM);
		}
		n++;
	}
	assert_int_equal(n, 3);
	/* The VMM loads firmware; device DMA and copies never reach it. */
	assert_int_equal(gmem_rom_load(&m, X86_4G - 4, fw, sizeof(fw)), 0);
	assert_int_equal(gmem_rom_load(&m, X86_4G - 2, fw, sizeof(fw)), -EFAULT);
	assert_int_equal(gmem_rom_load(&m, 0, fw, sizeof(fw)), -EFAULT); /* RAM */
	assert_true(gmem_region_at(&m, 1, &r));
	assert_memory_equal(r.hva + r.size - 4, fw, sizeof(fw));
	assert_null(gmem_ptr(&m, X86_4G - 4, 4));
	assert_int_equal(gmem_write(&m, X86_4G - 4, fw, sizeof(fw)), -EFAULT);
	assert_int_equal(gmem_dirty_start(&m), 0);
	assert_int_equal(gmem_dirty_fetch(&m, 1, &prev, 1), -ENODATA);
	gmem_dirty_stop(&m);
	/* No VM here: the first slot's ioctl error comes back. */
	assert_int_equal(gmem_map_kvm(&m, -1), -EBADF);
	gmem_destroy(&m);
	assert_int_equal(gmem_nr_regions(&m), 0);
	assert_int_equal(gmem_map_kvm(&m, -1), 0); /* nothing to register */
}

struct fake_dev {
	uint64_t last_off;
	uint32_t value;
	int reads, writes;
};

static void fake_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	struct fake_dev *d = opaque;

	d->reads++;
	d->last_off = off;
	memcpy(data, &d->value, len);
}

static void fake_write(void *opaque, uint64_t off, const void *data, unsigned int len)
{
	struct fake_dev *d = opaque;

	d->writes++;
	d->last_off = off;
	d->value = 0;
	memcpy(&d->value, data, len);
}

static const struct bus_ops fake_ops = { .read = fake_read, .write = fake_write };

/* The VmFlags of the mapping at hva in /proc/self/smaps ("hg", "nh"). */
static bool smaps_has_flag(const void *hva, const char *flag)
{
	char line[512], want[32];
	bool in = false, found = false;
	FILE *f = fopen("/proc/self/smaps", "r");

	assert_non_null(f);
	snprintf(want, sizeof(want), "%lx-", (unsigned long)(uintptr_t)hva);
	while (fgets(line, sizeof(line), f)) {
		if (strchr(line, '-') && strchr(line, '-') < strchr(line, ' '))
			in = !strncmp(line, want, strlen(want));
		else if (in && !strncmp(line, "VmFlags:", 8)) {
			snprintf(want, sizeof(want), " %s", flag);
			found = strstr(line, want) != NULL;
			break;
		}
	}
	fclose(f);
	return found;
}

static uint8_t *ram_hva(const struct gmem *m)
{
	struct gmem_region_info r;

	assert_true(gmem_region_at(m, 0, &r));
	return r.hva;
}

/* --no-thp marks RAM MADV_NOHUGEPAGE ("nh"): with THP mode "always" a
 * plain mapping would still get huge pages. */
static void test_gmem_thp_advice(void **state)
{
	struct gmem_opts o = { .backing = GMEM_BACKING_ANON, .thp = false };
	struct gmem m;

	if (access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK)) {
		skip();
		return;
	}
	assert_int_equal(gmem_init(&m, &o), 0);
	assert_int_equal(gmem_add_region(&m, 0, 4 * MiB), 0);
	assert_true(smaps_has_flag(ram_hva(&m), "nh"));
	assert_false(smaps_has_flag(ram_hva(&m), "hg"));
	gmem_destroy(&m);
	o.thp = true;
	assert_int_equal(gmem_init(&m, &o), 0);
	assert_int_equal(gmem_add_region(&m, 0, 4 * MiB), 0);
	assert_true(smaps_has_flag(ram_hva(&m), "hg"));
	assert_false(smaps_has_flag(ram_hva(&m), "nh"));
	gmem_destroy(&m);
}

static void test_bus_dispatch(void **state)
{
	struct fake_dev a = { .value = 0x11223344 }, b = { 0 };
	struct bus bus;
	uint32_t v = 0;

	assert_int_equal(bus_init(&bus, "test"), 0);
	assert_int_equal(bus_register(&bus, 0x100, 0x10, &fake_ops, &a), 0);
	assert_int_equal(bus_register(&bus, 0x200, 0x10, &fake_ops, &b), 0);
	assert_int_equal(bus_register(&bus, 0x10f, 2, &fake_ops, &b), -EEXIST);
	assert_int_equal(bus_register(&bus, 0xf8, 0x9, &fake_ops, &b), -EEXIST);
	assert_int_equal(bus_register(&bus, UINT64_MAX - 1, 4, &fake_ops, &b), -EINVAL);
	assert_true(bus_access(&bus, 0x104, &v, 4, false));
	assert_int_equal(v, 0x11223344);
	assert_int_equal(a.last_off, 4);
	v = 0x55;
	assert_true(bus_access(&bus, 0x20f, &v, 1, true));
	assert_int_equal(b.value, 0x55);
	/* Straddling the end of a range, or in a gap: unclaimed, reads all-ones. */
	assert_false(bus_access(&bus, 0x10e, &v, 4, false));
	assert_int_equal(v, 0xffffffff);
	assert_false(bus_access(&bus, 0x150, &v, 4, false));
	assert_int_equal(bus.unhandled, 2);
	assert_int_equal(bus_unregister(&bus, 0x100), 0);
	assert_false(bus_access(&bus, 0x104, &v, 4, false));
	assert_int_equal(bus_unregister(&bus, 0x100), -ENOENT);
	bus_destroy(&bus);
}

static void on_timer(void *opaque)
{
	int *n = opaque;

	(*n)++;
}

static void stop_loop(void *opaque)
{
	evloop_stop(opaque);
}

static void test_evloop_timers_and_calls(void **state)
{
	struct evloop *loop;
	int periodic = 0, once = 0, t;

	assert_int_equal(evloop_create(&loop), 0);
	t = evloop_timer_add(loop, 1000000, 1000000, on_timer, &periodic);
	assert_true(t >= 0);
	assert_true(evloop_timer_add(loop, 2000000, 0, on_timer, &once) >= 0);
	assert_true(evloop_timer_add(loop, 30000000, 0, stop_loop, loop) >= 0);
	assert_int_equal(evloop_run(loop), 0);
	assert_int_equal(once, 1);
	assert_true(periodic >= 5);
	evloop_timer_cancel(loop, t);
	periodic = 0;
	assert_int_equal(evloop_call(loop, stop_loop, loop), 0);
	assert_int_equal(evloop_run(loop), 0);
	assert_int_equal(periodic, 0);
	evloop_destroy(loop);
}

/* A fake VM with 32 MiB of RAM, enough for the loaders. */
struct fake_vm {
	struct vm vm;
	struct vm_config cfg;
	struct x86_machine x;
};

static void fake_vm_init(struct fake_vm *f)
{
	memset(f, 0, sizeof(*f));
	vm_config_init(&f->cfg);
	f->cfg.kernel = "test-kernel";
	f->cfg.mem_size = 32 * MiB;
	f->vm.cfg = &f->cfg;
	f->vm.arch = &f->x;
	f->x.mem = &f->vm.mem;
	f->x.boot.kernel = f->cfg.kernel;
	f->x.boot.mem_size = f->cfg.mem_size;
	x86_mem_split(f->cfg.mem_size, &f->x.low_mem, &f->x.high_mem);
	assert_int_equal(gmem_init(&f->vm.mem, NULL), 0);
	assert_int_equal(gmem_add_region(&f->vm.mem, 0, f->x.low_mem), 0);
	x86_e820_build(&f->x);
}

static void fake_vm_free(struct fake_vm *f)
{
	gmem_destroy(&f->vm.mem);
}

/* A minimal ELF64 with one PT_LOAD at `paddr` and, if `note`, the PVH note. */
static size_t make_elf(uint8_t *buf, uint64_t paddr, bool note, uint32_t entry)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;
	Elf64_Phdr *ph = (Elf64_Phdr *)(buf + sizeof(*eh));
	uint8_t *n = buf + 0x200;
	const uint32_t nh[3] = { 4, 4, 18 };

	memset(buf, 0, 0x400);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_phoff = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = 2;
	ph[0].p_type = PT_LOAD;
	ph[0].p_offset = 0x300;
	ph[0].p_paddr = paddr;
	ph[0].p_filesz = 0x100;
	ph[0].p_memsz = 0x2000;
	ph[1].p_type = note ? PT_NOTE : PT_NULL;
	ph[1].p_offset = 0x200;
	ph[1].p_filesz = 20;
	memcpy(n, nh, sizeof(nh));
	memcpy(n + 12, "Xen", 4);
	memcpy(n + 16, &entry, 4);
	memset(buf + 0x300, 0x90, 0x100);
	return 0x400;
}

static void test_pvh_loader(void **state)
{
	uint8_t elf[0x400];
	struct fake_vm f;
	struct boot_image k = { .data = elf };
	uint32_t *si;

	fake_vm_init(&f);
	f.x.boot.cmdline = "console=ttyS0";
	k.size = make_elf(elf, 0x200000, true, 0x200000);
	assert_int_equal(boot_load_pvh(&f.x, &k, NULL, NULL), 0);
	assert_int_equal(f.x.entry, 0x200000);
	si = gmem_ptr(&f.vm.mem, X86_PVH_INFO_ADDR, 48);
	assert_int_equal(si[0], 0x336ec578);
	assert_string_equal((char *)gmem_ptr(&f.vm.mem, X86_CMDLINE_ADDR, 14), "console=ttyS0");
	assert_int_equal(*(uint8_t *)gmem_ptr(&f.vm.mem, 0x200000 + 0x1000, 1), 0); /* bss */

	k.size = make_elf(elf, 0x200000, false, 0x200000);
	assert_int_equal(boot_load_pvh(&f.x, &k, NULL, NULL), -ENOEXEC);	/* no note */
	k.size = make_elf(elf, 64 * MiB, true, 0x200000);
	assert_int_equal(boot_load_pvh(&f.x, &k, NULL, NULL), -ENOSPC);	/* beyond RAM */
	k.size = make_elf(elf, 0x7000, true, 0x7000);
	assert_int_equal(boot_load_pvh(&f.x, &k, NULL, NULL), -ENOSPC);	/* over boot data */
	k.size = make_elf(elf, 0x200000, true, 0x200000);
	((Elf64_Phdr *)(elf + sizeof(Elf64_Ehdr)))[0].p_filesz = 1ull << 40;
	assert_int_equal(boot_load_pvh(&f.x, &k, NULL, NULL), -ENOEXEC);	/* past EOF */
	k.size = 40;
	assert_int_equal(boot_load_pvh(&f.x, &k, NULL, NULL), -ENOEXEC);	/* truncated */
	fake_vm_free(&f);
}

static void test_bzimage_loader(void **state)
{
	size_t size = 8 * 512 + 4096;
	uint8_t *bz = calloc(1, size), *bp;
	struct boot_image k = { .data = bz, .size = size };
	uint8_t rd[8192];
	struct boot_image initrd = { .data = rd, .size = sizeof(rd) };
	struct fake_vm f;
	uint32_t v;

	fake_vm_init(&f);
	f.x.boot.cmdline = "root=/dev/vda";
	bz[0x1f1] = 7;			/* setup_sects: payload at 8 * 512 */
	bz[0x1fe] = 0x55;
	bz[0x1ff] = 0xaa;
	bz[0x201] = 0x62;		/* header length */
	memcpy(bz + 0x202, "HdrS", 4);
	bz[0x206] = 0x0f;
	bz[0x207] = 0x02;		/* protocol 2.15 */
	bz[0x236] = 1;			/* XLF_KERNEL_64 */
	v = 0x7fffffff;
	memcpy(bz + 0x22c, &v, 4);	/* initrd_addr_max */
	v = 2047;
	memcpy(bz + 0x238, &v, 4);	/* cmdline_size */
	v = 1 * MiB;
	memcpy(bz + 0x260, &v, 4);	/* init_size */
	memset(bz + 8 * 512, 0xcc, 4096);
	memset(rd, 0x5a, sizeof(rd));
	assert_true(boot_is_bzimage(&k));
	assert_int_equal(boot_load_bzimage(&f.x, &k, &initrd, NULL), 0);
	assert_int_equal(f.x.entry, X86_KERNEL_ADDR + 0x200);
	bp = gmem_ptr(&f.vm.mem, X86_ZERO_PAGE_ADDR, 4096);
	assert_int_equal(bp[0x210], 0xff);	/* type_of_loader */
	memcpy(&v, bp + 0x228, 4);
	assert_int_equal(v, X86_CMDLINE_ADDR);
	memcpy(&v, bp + 0x218, 4);		/* ramdisk_image: below RAM top, aligned */
	assert_true(v + sizeof(rd) <= 32 * MiB && (v & 4095) == 0);
	assert_int_equal(*(uint8_t *)gmem_ptr(&f.vm.mem, v, 1), 0x5a);
	assert_int_equal(bp[0x1e8], f.x.nr_e820);
	assert_int_equal(*(uint8_t *)gmem_ptr(&f.vm.mem, X86_KERNEL_ADDR, 1), 0xcc);

	/* A command line longer than cmdline_size is refused. */
	char *longcmd = malloc(4000);
	memset(longcmd, 'a', 3999);
	longcmd[3999] = 0;
	f.x.boot.cmdline = longcmd;
	assert_int_equal(boot_load_bzimage(&f.x, &k, NULL, NULL), -E2BIG);
	f.x.boot.cmdline = NULL;
	free(longcmd);
	/* An initrd larger than RAM is refused. */
	initrd.size = 64 * MiB;
	assert_int_equal(boot_load_bzimage(&f.x, &k, &initrd, NULL), -ENOSPC);
	/* Old protocol (no 64-bit entry) is refused. */
	bz[0x236] = 0;
	assert_int_equal(boot_load_bzimage(&f.x, &k, NULL, NULL), -ENOEXEC);
	bz[0x236] = 1;
	/* Setup larger than the file. */
	bz[0x1f1] = 200;
	assert_int_equal(boot_load_bzimage(&f.x, &k, NULL, NULL), -ENOEXEC);
	free(bz);
	fake_vm_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gmem_bounds),
		cmocka_unit_test(test_gmem_dirty),
		cmocka_unit_test(test_gmem_kinds),
		cmocka_unit_test(test_gmem_thp_advice),
		cmocka_unit_test(test_bus_dispatch),
		cmocka_unit_test(test_evloop_timers_and_calls),
		cmocka_unit_test(test_pvh_loader),
		cmocka_unit_test(test_bzimage_loader),
	};

	log_set_level(LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
