// SPDX-License-Identifier: MIT
/*
 * State files (snapshot_image_parse, docs/snapshot-format.md): any bytes
 * are parsed or refused with a message, and a parsed file's pointers
 * stay inside it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "vm/snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct error err = ERROR_INIT;
	struct snapshot_image img;
	uint8_t *buf = malloc(size ? size : 1);

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	if (snapshot_image_parse(buf, size, &img, &err)) {
		if (!err.msg[0])
			abort();
		free(buf);
		return 0;
	}
	if ((const uint8_t *)img.conf < buf ||
	    (const uint8_t *)img.conf + img.conf_len > buf + size || img.comp < buf ||
	    img.comp + img.comp_len > buf + size || !img.nr_regions)
		abort();
	snapshot_image_free(&img);
	return 0;
}
