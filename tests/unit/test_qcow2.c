// SPDX-License-Identifier: MIT
/*
 * qcow2 driver tests: our images are checked by `qemu-img check` and
 * compared with raw models by `qemu-img compare`; images made by
 * qemu-img are read back by our driver.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "block/block.h"
#include "block/qcow2.h"
#include "util/log.h"
#include "util/util.h"

static const char *qimg(void)
{
	const char *q = getenv("QEMU_IMG");

	return q ? q : "qemu-img";
}

static char *tpath(const char *name)
{
	static char buf[8][512];
	static int k;
	const char *d = getenv("UNIT_TMPDIR");
	char *p = buf[k++ % 8];

	snprintf(p, 512, "%s/qcow2-%d-%s", d ? d : "/tmp", (int)getpid(), name);
	return p;
}

/* Run a shell command, return its exit status (-1 if it did not exit). */
static int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* qemu-img check exit status: 0 clean, 2 corruptions, 3 leaks only. */
static int qcheck(const char *path)
{
	return sh("%s check -q %s >/dev/null 2>&1", qimg(), path);
}

static int qcompare(const char *a, const char *fa, const char *b, const char *fb)
{
	return sh("%s compare -q -f %s -F %s %s %s 2>/dev/null", qimg(), fa, fb, a, b);
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

static struct blkdev *xopen(const char *path, bool ro)
{
	struct blk_open_opts o = { .format = "qcow2", .readonly = ro };
	struct blkdev *bd = NULL;

	assert_int_equal(blk_open(path, &o, &bd), 0);
	return bd;
}

static void xcreate(const char *path, uint64_t size, uint32_t cs)
{
	struct blk_create_opts o = { .size = size, .cluster_size = cs };

	assert_int_equal(qcow2_create(path, &o), 0);
}

static void write_raw(const char *path, const uint8_t *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(pwrite_full(fd, buf, len, 0), 0);
	close(fd);
}

static void read_all_compare(struct blkdev *bd, const uint8_t *model, size_t len)
{
	uint8_t *buf = malloc(len);

	assert_non_null(buf);
	assert_int_equal(blk_pread(bd, buf, len, 0), 0);
	for (size_t i = 0; i < len; i++) {
		if (buf[i] != model[i]) {
			fprintf(stderr, "mismatch at %zu: %02x != %02x\n", i, buf[i], model[i]);
			fail();
		}
	}
	free(buf);
}

/* Write model[off..off+len) through the driver and into the model. */
static void mwrite(struct blkdev *bd, uint8_t *model, uint64_t off, size_t len, uint32_t seed)
{
	uint8_t *b = malloc(len);

	assert_non_null(b);
	fill(b, len, seed);
	assert_int_equal(blk_pwrite(bd, b, len, off), 0);
	memcpy(model + off, b, len);
	free(b);
}

/* ---- basic create / read / write over cluster sizes ---------------- */

static void rw_cluster_size(uint32_t cs)
{
	const size_t size = 8 * MiB + 3 * 512;
	uint8_t *model = calloc(1, size);
	char *img = tpath("rw.qcow2"), *raw = tpath("rw.raw");
	struct blkdev *bd;
	struct qcow2_info info;

	assert_non_null(model);
	xcreate(img, size, cs);
	assert_int_equal(qcheck(img), 0);
	bd = xopen(img, false);
	assert_int_equal(bd->size, size);
	assert_int_equal(bd->cluster_size, cs);
	read_all_compare(bd, model, size);
	mwrite(bd, model, 0, 4096, 1);
	mwrite(bd, model, 100, 1000, 2);		   /* partial, in place */
	mwrite(bd, model, cs - 7, 3 * cs + 20, 3);	   /* crosses clusters, COW head/tail */
	mwrite(bd, model, 5 * MiB + 17, 300 * 1024, 4);	   /* large, crosses L2 tables */
	mwrite(bd, model, size - 1000, 1000, 5);	   /* tail of the disk */
	mwrite(bd, model, 2 * MiB, 2 * MiB, 6);		   /* aligned big write */
	mwrite(bd, model, 2 * MiB + 4096, 512, 7);	   /* overwrite in place */
	read_all_compare(bd, model, size);
	assert_int_equal(qcow2_info(bd, &info), 0);
	assert_int_equal(info.version, 3);
	assert_int_equal(info.cluster_size, cs);
	assert_int_equal(info.refcount_bits, 16);
	blk_close(bd);
	assert_int_equal(qcheck(img), 0);
	write_raw(raw, model, size);
	assert_int_equal(qcompare(img, "qcow2", raw, "raw"), 0);
	bd = xopen(img, true);
	read_all_compare(bd, model, size);
	blk_close(bd);
	unlink(img);
	unlink(raw);
	free(model);
}

static void test_rw_512(void **state)
{
	rw_cluster_size(512);
}

static void test_rw_4k(void **state)
{
	rw_cluster_size(4096);
}

static void test_rw_64k(void **state)
{
	rw_cluster_size(65536);
}

static void test_rw_2m(void **state)
{
	rw_cluster_size(2 * MiB);
}

/* Images written by qemu-img (v2 and v3, several cluster sizes) read back. */
static void test_read_qemu_images(void **state)
{
	const size_t size = 6 * MiB;
	uint8_t *model = calloc(1, size);
	char *raw = tpath("q.raw"), *img = tpath("q.qcow2");
	const char *opts[] = { "compat=0.10", "compat=1.1,cluster_size=512",
			       "compat=1.1,cluster_size=4096,refcount_bits=1",
			       "compat=1.1,cluster_size=2M,refcount_bits=64" };

	assert_non_null(model);
	/* data with holes and zero runs */
	fill(model + 4096, 1 * MiB, 11);
	fill(model + 3 * MiB + 100, 700000, 12);
	write_raw(raw, model, size);
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
		struct blkdev *bd;

		assert_int_equal(sh("%s convert -f raw -O qcow2 -o %s %s %s", qimg(), opts[i], raw,
				    img),
				 0);
		bd = xopen(img, false);
		read_all_compare(bd, model, size);
		/* and we can write to them */
		mwrite(bd, model, 1 * MiB + 3, 200000, 13 + (uint32_t)i);
		read_all_compare(bd, model, size);
		blk_close(bd);
		assert_int_equal(qcheck(img), 0);
		write_raw(raw, model, size);
		assert_int_equal(qcompare(img, "qcow2", raw, "raw"), 0);
	}
	unlink(raw);
	unlink(img);
	free(model);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rw_512),
		cmocka_unit_test(test_rw_4k),
		cmocka_unit_test(test_rw_64k),
		cmocka_unit_test(test_rw_2m),
		cmocka_unit_test(test_read_qemu_images),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
