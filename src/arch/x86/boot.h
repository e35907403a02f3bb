/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_ARCH_X86_BOOT_H
#define VESSEL_ARCH_X86_BOOT_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"

struct x86_machine;

/* A kernel or initrd read into memory. */
struct boot_image {
	uint8_t *data;
	uint64_t size;
};

/* Read a file; one clear error naming `what` (kernel, initrd) in *err. */
int boot_read_image(const char *path, const char *what, struct boot_image *img,
		    struct error *err);
/* The checks of boot_read_image() without reading: a clear error before KVM is opened. */
int boot_check_image(const char *path, const char *what, struct error *err);
void boot_free_image(struct boot_image *img);
bool boot_is_bzimage(const struct boot_image *k);
bool boot_is_elf(const struct boot_image *k);
/* Load the kernel (and initrd) into x's memory; one line in *err on failure. */
int boot_load_bzimage(struct x86_machine *x, const struct boot_image *k,
		      const struct boot_image *initrd, struct error *err);
int boot_load_pvh(struct x86_machine *x, const struct boot_image *k,
		  const struct boot_image *initrd, struct error *err);

#endif
