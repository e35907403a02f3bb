// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the kernel loaders (bzImage setup header and PVH ELF
 * program headers/notes) over arbitrary files, into a 32 MiB guest.
 * Errors are fine; crashes, out-of-bounds accesses and UB are not.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/boot.h"
#include "arch/x86/layout.h"
#include "arch/x86/x86.h"
#include "util/log.h"
#include "mem/gmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct gmem mem;
	static struct x86_machine x;
	static int ready;
	struct boot_image k = { .data = (uint8_t *)data, .size = size };
	struct boot_image initrd;
	uint8_t rd[4096] = { 1, 2, 3 };

	if (!ready) {
		log_set_level(LOG_ERR);
		x.boot.kernel = "fuzz";
		x.boot.cmdline = "console=ttyS0";
		x.boot.mem_size = 32 << 20;
		x.boot.nr_cpus = 1;
		x.mem = &mem;
		x86_mem_split(x.boot.mem_size, &x.low_mem, &x.high_mem);
		if (gmem_init(&mem, NULL) || gmem_add_region(&mem, 0, x.low_mem))
			abort();
		x86_e820_build(&x);
		ready = 1;
	}
	initrd.data = rd;
	initrd.size = size & 1 ? sizeof(rd) : 0;
	if (boot_is_bzimage(&k))
		boot_load_bzimage(&x, &k, initrd.size ? &initrd : NULL, NULL);
	else if (boot_is_elf(&k))
		boot_load_pvh(&x, &k, initrd.size ? &initrd : NULL, NULL);
	return 0;
}
