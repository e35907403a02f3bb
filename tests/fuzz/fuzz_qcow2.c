// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the qcow2 driver: header, extensions, L1/L2,
 * refcount and snapshot tables of an untrusted image.  The input is the
 * image file (in a memfd); it is opened read-only and read, checked and
 * listed, then opened read-write (dirty-bit repair, allocation, COW,
 * discard, snapshots, amend, shrink and grow) on a copy.  Backing files are never opened.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "block/block.h"
#include "block/qcow2.h"
#include "util/error.h"
#include "util/log.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int image_fd(const uint8_t *data, size_t size, char *path, size_t plen)
{
	int fd = memfd_create("qcow2-fuzz", MFD_CLOEXEC);

	if (fd < 0)
		return -1;
	if (pwrite_full(fd, data, size, 0)) {
		close(fd);
		return -1;
	}
	snprintf(path, plen, "/proc/self/fd/%d", fd);
	return fd;
}

static void exercise_read(struct blkdev *bd, const uint8_t *data, size_t size)
{
	static uint8_t buf[256 * 1024];
	struct qcow2_snapshot_info *list;
	struct qcow2_check_result res;
	struct qcow2_info info;
	uint64_t pnum, host;
	int n, st;

	for (int i = 0; i < 4 && bd->size; i++) {
		uint64_t off = i < 2 ? (uint64_t)i * 65536 : (size > 8 ? data[i] * 4096ull : 0);
		size_t len = sizeof(buf);

		off %= bd->size;
		len = (size_t)MIN((uint64_t)len, bd->size - off);
		(void)blk_pread(bd, buf, len, off);
		(void)blk_block_status(bd, off, len, &pnum, &st, &host);
	}
	(void)qcow2_info(bd, &info);
	if (qcow2_snapshot_list(bd, &list, &n) == 0)
		qcow2_snapshot_list_free(list, n);
	(void)qcow2_check(bd, 0, &res);
}

static void exercise_write(struct blkdev *bd)
{
	static uint8_t buf[70000];
	struct qcow2_check_result res;

	if (!bd->size)
		return;
	memset(buf, 0x5a, sizeof(buf));
	(void)blk_pwrite(bd, buf, (size_t)MIN((uint64_t)sizeof(buf), bd->size), 0);
	(void)blk_pwrite(bd, buf, 1000, bd->size > 2000 ? bd->size / 2 : 0);
	(void)blk_discard(bd, 0, bd->size);
	(void)blk_write_zeroes(bd, 0, MIN(bd->size, 1 * MiB), false);
	if (qcow2_snapshot_create(bd, "fz") == 0) {
		(void)blk_pwrite(bd, buf, 512, 0);
		(void)qcow2_snapshot_apply(bd, "fz");
		(void)qcow2_snapshot_delete(bd, "fz");
	}
	/* a downgrade writes out every zero cluster (qcow2-amend.c), then back */
	{
		struct error e = ERROR_INIT;

		if (qcow2_amend(bd, 2, -1, &e) == 0)
			(void)qcow2_amend(bd, 3, -1, &e);
	}
	/* shrink (qcow2-shrink.c) and grow back, then repair what is left */
	if (bd->size >= 1024) {
		uint64_t size = bd->size;

		(void)blk_resize(bd, (size / 2) & ~511ull);
		(void)blk_resize(bd, size);
	}
	(void)qcow2_check(bd, QCOW2_CHECK_REPAIR_ALL, &res);
	(void)blk_flush(bd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct blk_open_opts ro = { .format = "qcow2", .readonly = true, .no_backing = true };
	struct blk_open_opts rw = { .format = "qcow2", .no_backing = true };
	struct blkdev *bd;
	char path[64];
	int fd;

	if (size > 4 * MiB)
		return 0;
	log_set_level(LOG_ERR);
	fd = image_fd(data, size, path, sizeof(path));
	if (fd < 0)
		return 0;
	if (blk_open(path, &ro, &bd, NULL) == 0) {
		exercise_read(bd, data, size);
		blk_close(bd);
		/* the same image, read-write (the memfd is our private copy) */
		if (blk_open(path, &rw, &bd, NULL) == 0) {
			exercise_write(bd);
			blk_close(bd);
		}
	}
	close(fd);
	return 0;
}
