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

	assert_int_equal(blk_open(path, &o, &bd, NULL), 0);
	return bd;
}

static void xcreate(const char *path, uint64_t size, uint32_t cs)
{
	struct blk_create_opts o = { .size = size, .cluster_size = cs };

	assert_int_equal(qcow2_create(path, &o, NULL), 0);
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
	mwrite(bd, model, 100, 1000, 2);		/* partial, in place */
	mwrite(bd, model, cs - 7, 3 * cs + 20, 3);	/* crosses clusters, COW head/tail */
	mwrite(bd, model, 5 * MiB + 17, 300 * 1024, 4); /* large, crosses L2 tables */
	mwrite(bd, model, size - 1000, 1000, 5);	/* tail of the disk */
	mwrite(bd, model, 2 * MiB, 2 * MiB, 6);		/* aligned big write */
	mwrite(bd, model, 2 * MiB + 4096, 512, 7);	/* overwrite in place */
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
	{
		/* block status from a cold cache agrees with qemu-img map */
		uint64_t pnum, ho;
		int st;

		assert_int_equal(blk_block_status(bd, 2 * MiB, 2 * MiB, &pnum, &st, &ho), 0);
		assert_int_equal(st,
				 BLK_STATUS_DATA | BLK_STATUS_ALLOCATED | BLK_STATUS_OFFSET_VALID);
		assert_true(pnum > 0 && pnum <= 2 * MiB);
		assert_int_equal(
			sh("%s map --output=json %s | /usr/bin/python3 -c 'import json,sys; "
			   "g=%llu; h=%llu; sys.exit(0 if any(e[\"start\"]<=g<e[\"start\"]+"
			   "e[\"length\"] and e.get(\"offset\",-1)+g-e[\"start\"]==h "
			   "for e in json.load(sys.stdin)) else 1)'",
			   qimg(), img, 2ull * MiB, (unsigned long long)ho),
			0);
		assert_int_equal(blk_block_status(bd, 7 * MiB, 4096, &pnum, &st, &ho), 0);
		if (cs < 2 * MiB)
			assert_int_equal(st, 0); /* never written (with 2M clusters it is) */
	}
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

		assert_int_equal(
			sh("%s convert -f raw -O qcow2 -o %s %s %s", qimg(), opts[i], raw, img), 0);
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

/* ---- compressed clusters -------------------------------------------- */

static void compressed_read(const char *ctype, const char *extra)
{
	const size_t size = 4 * MiB;
	uint8_t *model = calloc(1, size);
	char *raw = tpath("c.raw"), *img = tpath("c.qcow2");
	struct blkdev *bd;
	uint64_t pnum, ho;
	int st;

	assert_non_null(model);
	/* compressible data (runs) and incompressible data */
	for (size_t i = 0; i < 2 * MiB; i++)
		model[i] = (uint8_t)((i / 1000) * 7);
	fill(model + 2 * MiB + 5000, 600000, 21);
	write_raw(raw, model, size);
	assert_int_equal(sh("%s convert -c -f raw -O qcow2 -o compression_type=%s%s %s %s", qimg(),
			    ctype, extra, raw, img),
			 0);
	bd = xopen(img, false);
	read_all_compare(bd, model, size);
	assert_int_equal(blk_block_status(bd, 0, size, &pnum, &st, &ho), 0);
	assert_true(st & BLK_STATUS_COMPRESSED);
	/* overwrite part of a compressed cluster: copy-on-write from the compressed data */
	mwrite(bd, model, 70000, 3000, 22);
	read_all_compare(bd, model, size);
	blk_close(bd);
	assert_int_equal(qcheck(img), 0);
	write_raw(raw, model, size);
	assert_int_equal(qcompare(img, "qcow2", raw, "raw"), 0);
	unlink(raw);
	unlink(img);
	free(model);
}

static void test_compressed_read_zlib(void **state)
{
	compressed_read("zlib", "");
	compressed_read("zlib", ",cluster_size=4096");
}

static void test_compressed_read_zstd(void **state)
{
	compressed_read("zstd", "");
	compressed_read("zstd", ",cluster_size=2M");
}

static void compressed_write(const char *ctype, uint32_t cs)
{
	const size_t size = 3 * MiB + 4096; /* a partial last cluster */
	uint8_t *model = calloc(1, size);
	char *raw = tpath("cw.raw"), *img = tpath("cw.qcow2");
	struct blk_create_opts o = { .size = size, .cluster_size = cs, .compression_type = ctype };
	struct blkdev *bd;
	struct qcow2_check_result res;
	uint64_t pnum, ho;
	int st;

	assert_non_null(model);
	for (size_t i = 0; i < size; i++)
		model[i] = (uint8_t)(i % 251 < 100 ? 0 : i / 4096);
	fill(model + MiB, 70000, 31); /* incompressible part: stored normally */
	assert_int_equal(qcow2_create(img, &o, NULL), 0);
	bd = xopen(img, false);
	for (uint64_t off = 0; off < size; off += cs)
		assert_int_equal(qcow2_write_compressed(bd, off, model + off, MIN(cs, size - off)),
				 0);
	assert_int_equal(blk_block_status(bd, 0, size, &pnum, &st, &ho), 0);
	assert_true(st & BLK_STATUS_COMPRESSED);
	read_all_compare(bd, model, size);
	/* rewrite one compressed cluster normally, one compressed again */
	mwrite(bd, model, cs + 10, 100, 32);
	assert_int_equal(qcow2_write_compressed(bd, 2 * cs, model + 2 * cs, cs), 0);
	read_all_compare(bd, model, size);
	assert_int_equal(qcow2_check(bd, 0, &res), 0);
	assert_int_equal(res.corruptions, 0);
	assert_int_equal(res.leaks, 0);
	assert_true(res.compressed_clusters > 0);
	blk_close(bd);
	assert_int_equal(qcheck(img), 0);
	write_raw(raw, model, size);
	assert_int_equal(qcompare(img, "qcow2", raw, "raw"), 0);
	unlink(raw);
	unlink(img);
	free(model);
}

static void test_compressed_write(void **state)
{
	compressed_write("zlib", 65536);
	compressed_write("zstd", 65536);
	compressed_write("zlib", 4096);
	compressed_write("zlib", 512);
}

/* ---- zero clusters and discard ------------------------------------- */

static void zero_discard(bool v2)
{
	const size_t size = 4 * MiB;
	uint8_t *model = calloc(1, size);
	char *raw = tpath("z.raw"), *img = tpath("z.qcow2");
	struct blk_create_opts o = { .size = size, .cluster_size = 65536, .compat_v2 = v2 };
	struct blkdev *bd;
	uint64_t pnum, ho;
	int st;

	assert_non_null(model);
	assert_int_equal(qcow2_create(img, &o, NULL), 0);
	bd = xopen(img, false);
	mwrite(bd, model, 0, size, 41);
	assert_int_equal(blk_write_zeroes(bd, 100000, 500000, true), 0);
	memset(model + 100000, 0, 500000);
	assert_int_equal(blk_write_zeroes(bd, MiB, 256 * 1024, false), 0);
	memset(model + MiB, 0, 256 * 1024);
	read_all_compare(bd, model, size);
	if (!v2) {
		assert_int_equal(blk_block_status(bd, MiB, 65536, &pnum, &st, &ho), 0);
		assert_true(st & BLK_STATUS_ZERO);
	}
	/* discard: whole clusters only; without a backing file they read as zeroes */
	assert_int_equal(blk_discard(bd, 2 * MiB, MiB), 0);
	memset(model + 2 * MiB, 0, MiB);
	assert_int_equal(blk_discard(bd, 3 * MiB + 10, 1000), 0); /* partial: ignored */
	read_all_compare(bd, model, size);
	/* writing into zeroed and discarded areas again */
	mwrite(bd, model, MiB + 1000, 5000, 42);
	mwrite(bd, model, 2 * MiB + 65536 - 10, 20, 43);
	read_all_compare(bd, model, size);
	blk_close(bd);
	assert_int_equal(qcheck(img), 0);
	write_raw(raw, model, size);
	assert_int_equal(qcompare(img, "qcow2", raw, "raw"), 0);
	unlink(raw);
	unlink(img);
	free(model);
}

static void test_zero_discard_v3(void **state)
{
	zero_discard(false);
}

static void test_zero_discard_v2(void **state)
{
	zero_discard(true);
}

/* ---- backing files ---------------------------------------------------- */

static void test_backing_chain(void **state)
{
	const size_t bsize = 3 * MiB, size = 5 * MiB;
	uint8_t *model = calloc(1, size), *base = malloc(bsize);
	char *braw = tpath("base.raw"), *mid = tpath("mid.qcow2"), *top = tpath("top.qcow2");
	char *raw = tpath("chain.raw");
	struct blk_create_opts o = { .size = size, .cluster_size = 65536 };
	struct blkdev *bd;
	uint64_t pnum, ho;
	int st;

	assert_non_null(model);
	assert_non_null(base);
	fill(base, bsize, 51);
	write_raw(braw, base, bsize);
	memcpy(model, base, bsize); /* beyond the smaller backing file: zeroes */
	/* relative names are relative to the image's directory */
	o.backing_file = strrchr(braw, '/') + 1;
	o.backing_fmt = "raw";
	assert_int_equal(qcow2_create(mid, &o, NULL), 0);
	bd = xopen(mid, false);
	assert_non_null(bd->backing);
	read_all_compare(bd, model, size);
	mwrite(bd, model, 1000, 3000, 52);	   /* COW head and tail from the backing file */
	mwrite(bd, model, bsize - 100, 70000, 53); /* across the end of the backing file */
	read_all_compare(bd, model, size);
	blk_close(bd);
	assert_int_equal(qcheck(mid), 0);
	/* top made by qemu-img on our mid */
	assert_int_equal(sh("cd %s && %s create -q -f qcow2 -b %s -F qcow2 %s",
			    getenv("UNIT_TMPDIR"), qimg(), strrchr(mid, '/') + 1, top),
			 0);
	bd = xopen(top, false);
	read_all_compare(bd, model, size);
	mwrite(bd, model, 65536 + 5, 10, 54);
	assert_int_equal(blk_block_status(bd, 0, size, &pnum, &st, &ho), 0);
	assert_false(st & BLK_STATUS_ALLOCATED); /* comes from the backing file */
	/* discard with a backing file must not expose the backing data (v3 zero flag) */
	assert_int_equal(blk_discard(bd, 2 * 65536, 65536), 0);
	assert_int_equal(blk_write_zeroes(bd, 4 * 65536, 65536 + 100, true), 0);
	read_all_compare(bd, model, 2 * 65536);
	memset(model + 4 * 65536, 0, 65536 + 100);
	{
		uint8_t z[65536], zero[65536] = { 0 };

		assert_int_equal(blk_pread(bd, z, 65536, 2 * 65536), 0);
		assert_memory_equal(z, zero, 65536);
		memset(model + 2 * 65536, 0, 65536);
	}
	read_all_compare(bd, model, size);
	blk_close(bd);
	assert_int_equal(qcheck(top), 0);
	write_raw(raw, model, size);
	assert_int_equal(qcompare(top, "qcow2", raw, "raw"), 0);
	unlink(braw);
	unlink(mid);
	unlink(top);
	unlink(raw);
	free(model);
	free(base);
}

static void chain_image(const char *path, const char *backing, uint64_t size)
{
	struct blk_create_opts o = { .size = size, .cluster_size = 65536 };

	o.backing_file = backing;
	o.backing_fmt = backing ? "qcow2" : NULL;
	assert_int_equal(qcow2_create(path, &o, NULL), 0);
}

static void test_backing_loops(void **state)
{
	struct blk_open_opts ro = { .format = "qcow2", .readonly = true };
	struct blkdev *bd = NULL;
	char a[512], b[512], name[64], prev[64];

	snprintf(a, sizeof(a), "%s", tpath("loopa.qcow2"));
	snprintf(b, sizeof(b), "%s", tpath("loopb.qcow2"));
	chain_image(a, strrchr(b, '/') + 1, MiB);
	chain_image(b, strrchr(a, '/') + 1, MiB);
	assert_int_equal(blk_open(a, &ro, &bd, NULL), -ELOOP);
	assert_null(bd);
	chain_image(a, strrchr(a, '/') + 1, MiB); /* itself */
	assert_int_equal(blk_open(a, &ro, &bd, NULL), -ELOOP);
	/* 70 images deep: refused; 20 deep: fine, and reads reach the bottom */
	prev[0] = 0;
	for (int i = 0; i < 70; i++) {
		snprintf(name, sizeof(name), "deep%d.qcow2", i);
		chain_image(tpath(name), i ? prev : NULL, MiB);
		if (i == 0) {
			bd = xopen(tpath(name), false);
			assert_int_equal(blk_pwrite(bd, "bottom", 6, 12345), 0);
			blk_close(bd);
		}
		if (i == 20) {
			char buf[6];

			bd = xopen(tpath(name), true);
			assert_int_equal(blk_pread(bd, buf, 6, 12345), 0);
			assert_memory_equal(buf, "bottom", 6);
			blk_close(bd);
		}
		snprintf(prev, sizeof(prev), "%s", strrchr(tpath(name), '/') + 1);
	}
	assert_true(blk_open(tpath(name), &ro, &bd, NULL) < 0);
	for (int i = 0; i < 70; i++) {
		snprintf(name, sizeof(name), "deep%d.qcow2", i);
		unlink(tpath(name));
	}
	unlink(a);
	unlink(b);
}

/* ---- internal snapshots ------------------------------------------------ */

static void test_snapshots(void **state)
{
	const size_t size = 4 * MiB;
	uint8_t *model = calloc(1, size), *m1 = malloc(size), *m2 = malloc(size);
	char *img = tpath("snap.qcow2"), *raw = tpath("snap.raw");
	struct qcow2_snapshot_info *list;
	struct qcow2_check_result res;
	struct blkdev *bd;
	int n;

	assert_non_null(model);
	xcreate(img, size, 65536);
	bd = xopen(img, false);
	mwrite(bd, model, 0, 2 * MiB, 61);
	assert_int_equal(qcow2_snapshot_create(bd, "s1"), 0);
	memcpy(m1, model, size);
	assert_int_equal(qcow2_snapshot_create(bd, "s1"), -EEXIST);
	mwrite(bd, model, MiB + 77, 2 * MiB, 62);
	assert_int_equal(blk_discard(bd, 0, 65536 * 2), 0);
	memset(model, 0, 65536 * 2);
	assert_int_equal(qcow2_snapshot_create(bd, "s2"), 0);
	memcpy(m2, model, size);
	mwrite(bd, model, 500, 100000, 63);
	assert_int_equal(qcow2_snapshot_list(bd, &list, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "s1");
	assert_string_equal(list[1].name, "s2");
	assert_int_equal(list[1].disk_size, size);
	qcow2_snapshot_list_free(list, n);
	assert_int_equal(qcow2_check(bd, 0, &res), 0);
	assert_int_equal(res.corruptions + res.leaks, 0);
	blk_close(bd);
	assert_int_equal(qcheck(img), 0);
	assert_int_equal(sh("%s snapshot -l %s | grep -q s2", qimg(), img), 0);

	bd = xopen(img, false);
	read_all_compare(bd, model, size);
	assert_int_equal(qcow2_snapshot_apply(bd, "s1"), 0);
	read_all_compare(bd, m1, size);
	mwrite(bd, m1, 3 * MiB, 4096, 64); /* writes after apply copy shared clusters */
	assert_int_equal(qcow2_snapshot_apply(bd, "2"), 0); /* by id */
	read_all_compare(bd, m2, size);
	assert_int_equal(qcow2_snapshot_delete(bd, "s1"), 0);
	assert_int_equal(qcow2_snapshot_apply(bd, "s1"), -ENOENT);
	mwrite(bd, m2, 0, 3 * MiB, 65);
	assert_int_equal(qcow2_check(bd, 0, &res), 0);
	assert_int_equal(res.corruptions + res.leaks, 0);
	blk_close(bd);
	assert_int_equal(qcheck(img), 0);

	/* interoperate: qemu-img takes a snapshot, we revert to it; and the reverse */
	assert_int_equal(sh("%s snapshot -c q1 %s", qimg(), img), 0);
	bd = xopen(img, false);
	mwrite(bd, model, 0, size, 66); /* model := new content */
	assert_int_equal(qcow2_snapshot_apply(bd, "q1"), 0);
	read_all_compare(bd, m2, size);
	assert_int_equal(qcow2_snapshot_delete(bd, "s2"), 0);
	blk_close(bd);
	assert_int_equal(qcheck(img), 0);
	write_raw(raw, m2, size);
	assert_int_equal(qcompare(img, "qcow2", raw, "raw"), 0);
	assert_int_equal(sh("%s snapshot -d q1 %s", qimg(), img), 0);
	assert_int_equal(qcheck(img), 0);
	unlink(img);
	unlink(raw);
	free(model);
	free(m1);
	free(m2);
}

/* ---- refcount widths, preallocation, v2, resize, rebase helpers ---------- */

static void test_create_variants(void **state)
{
	const size_t size = 3 * MiB;
	uint8_t *model = calloc(1, size);
	char *img = tpath("var.qcow2"), *raw = tpath("var.raw");
	const unsigned int rbits[] = { 1, 2, 4, 8, 32, 64 };
	struct qcow2_info info;
	struct blkdev *bd;
	struct stat st;

	assert_non_null(model);
	fill(model + 1000, 500000, 71);
	write_raw(raw, model, size);
	for (size_t i = 0; i < ARRAY_SIZE(rbits) + 4; i++) {
		struct blk_create_opts o = { .size = size, .cluster_size = 4096 };

		if (i < ARRAY_SIZE(rbits))
			o.refcount_bits = rbits[i];
		else if (i == ARRAY_SIZE(rbits))
			o.compat_v2 = true;
		else if (i == ARRAY_SIZE(rbits) + 1)
			o.prealloc = BLK_PREALLOC_METADATA;
		else if (i == ARRAY_SIZE(rbits) + 2)
			o.prealloc = BLK_PREALLOC_FULL;
		else
			o.lazy_refcounts = true;
		assert_int_equal(qcow2_create(img, &o, NULL), 0);
		assert_int_equal(qcheck(img), 0);
		bd = xopen(img, false);
		assert_int_equal(blk_pwrite(bd, model + 1000, 500000, 1000), 0);
		assert_int_equal(qcow2_info(bd, &info), 0);
		if (i < ARRAY_SIZE(rbits))
			assert_int_equal(info.refcount_bits, rbits[i]);
		if (o.compat_v2)
			assert_string_equal(info.compat, "0.10");
		if (o.lazy_refcounts)
			assert_true(info.lazy_refcounts);
		if (o.prealloc == BLK_PREALLOC_FULL)
			assert_true(info.disk_size >= size);
		blk_close(bd);
		assert_int_equal(qcheck(img), 0);
		assert_int_equal(qcompare(img, "qcow2", raw, "raw"), 0);
		if (o.prealloc == BLK_PREALLOC_METADATA) {
			assert_int_equal(stat(img, &st), 0);
			assert_true((size_t)st.st_size >= size);
		}
	}
	/* resize, then rebase -u and make_empty (commit) */
	bd = xopen(img, false);
	assert_int_equal(blk_resize(bd, 64 * MiB), 0);
	assert_int_equal(bd->size, 64 * MiB);
	assert_int_equal(blk_pwrite(bd, "end", 3, 64 * MiB - 3), 0);
	assert_int_equal(qcow2_set_backing(bd, "nonexistent.raw", "raw"), 0);
	assert_int_equal(qcow2_info(bd, &info), 0);
	assert_string_equal(info.backing_file, "nonexistent.raw");
	assert_string_equal(info.backing_fmt, "raw");
	assert_int_equal(qcow2_set_backing(bd, NULL, NULL), 0);
	assert_int_equal(qcow2_make_empty(bd), 0);
	{
		uint64_t pnum, ho;
		int stt;

		assert_int_equal(blk_block_status(bd, 0, 64 * MiB, &pnum, &stt, &ho), 0);
		assert_false(stt & BLK_STATUS_ALLOCATED);
		assert_true(pnum > 0);
	}
	blk_close(bd);
	assert_int_equal(qcheck(img), 0);
	assert_int_equal(sh("%s info %s | grep -q 'virtual size: 64 MiB'", qimg(), img), 0);
	unlink(img);
	unlink(raw);
	free(model);
}

/* ---- on-disk editing helpers for corruption tests ----------------------- */

static uint64_t get_be(const char *path, uint64_t off, int bytes)
{
	uint8_t b[8];
	uint64_t v = 0;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread_full(fd, b, (size_t)bytes, (off_t)off), 0);
	close(fd);
	for (int i = 0; i < bytes; i++)
		v = (v << 8) | b[i];
	return v;
}

static void put_be(const char *path, uint64_t off, int bytes, uint64_t v)
{
	uint8_t b[8];
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	for (int i = bytes - 1; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
	assert_int_equal(pwrite_full(fd, b, (size_t)bytes, (off_t)off), 0);
	close(fd);
}

/* Offset of the 16-bit refcount of cluster k (first refcount block only). */
static uint64_t refcount_pos(const char *path, uint64_t k)
{
	uint64_t reft = get_be(path, 48, 8);
	uint64_t rb = get_be(path, reft, 8);

	return rb + 2 * k;
}

/* Host offset of the data cluster backing guest offset 0 (first L2 table). */
static uint64_t first_data_cluster(const char *path)
{
	uint64_t l1 = get_be(path, 40, 8);
	uint64_t l2 = get_be(path, l1, 8) & 0x00fffffffffffe00ull;

	return get_be(path, l2, 8) & 0x00fffffffffffe00ull;
}

/* ---- lazy refcounts, dirty bit and repair ------------------------------- */

static void test_lazy_refcounts_dirty(void **state)
{
	const size_t size = 4 * MiB;
	uint8_t *model = calloc(1, size);
	char *img = tpath("lazy.qcow2"), *raw = tpath("lazy.raw");
	struct blk_create_opts o = { .size = size, .cluster_size = 65536, .lazy_refcounts = true };
	struct qcow2_info info;
	struct blkdev *bd;
	pid_t pid;
	int st;

	assert_non_null(model);
	fill(model, size, 81);
	assert_int_equal(qcow2_create(img, &o, NULL), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* writes and flushes, then "crashes" without closing */
		struct blk_open_opts oo = { .format = "qcow2" };

		if (blk_open(img, &oo, &bd, NULL) || blk_pwrite(bd, model, size, 0) ||
		    blk_flush(bd))
			_exit(1);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(get_be(img, 72, 8) & 1, 1); /* dirty bit left set */
	/* make the refcounts wrong, as a lazy writer may leave them */
	put_be(img, refcount_pos(img, first_data_cluster(img) >> 16), 2, 0);
	put_be(img, refcount_pos(img, 40), 2, 1); /* and a leak */
	bd = xopen(img, true);			  /* read-only: no repair, still readable */
	assert_int_equal(qcow2_info(bd, &info), 0);
	assert_true(info.dirty);
	read_all_compare(bd, model, size);
	blk_close(bd);
	assert_int_equal(qcheck(img), 2);
	bd = xopen(img, false); /* read-write: refcounts rebuilt, dirty bit cleared */
	assert_int_equal(qcow2_info(bd, &info), 0);
	assert_false(info.dirty);
	read_all_compare(bd, model, size);
	blk_close(bd);
	assert_int_equal(get_be(img, 72, 8) & 1, 0);
	assert_int_equal(qcheck(img), 0);
	write_raw(raw, model, size);
	assert_int_equal(qcompare(img, "qcow2", raw, "raw"), 0);
	unlink(img);
	unlink(raw);
	free(model);
}

static void test_check_repair(void **state)
{
	const size_t size = 4 * MiB;
	uint8_t *model = calloc(1, size);
	char *img = tpath("chk.qcow2");
	struct qcow2_check_result res;
	struct blkdev *bd;
	uint64_t data;

	assert_non_null(model);
	xcreate(img, size, 65536);
	bd = xopen(img, false);
	mwrite(bd, model, 0, 2 * MiB, 91);
	blk_close(bd);
	assert_int_equal(qcheck(img), 0);

	/* a leak: refcount on an unused cluster (inside the file: qemu-img counts it) */
	assert_int_equal(truncate(img, 200 * 65536), 0);
	put_be(img, refcount_pos(img, 100), 2, 1);
	assert_int_equal(qcheck(img), 3);
	bd = xopen(img, true);
	assert_int_equal(qcow2_check(bd, 0, &res), 0);
	assert_int_equal(res.leaks, 1);
	assert_int_equal(res.corruptions, 0);
	assert_int_equal(qcow2_check(bd, QCOW2_CHECK_REPAIR_LEAKS, &res), -EROFS);
	blk_close(bd);
	bd = xopen(img, false);
	assert_int_equal(qcow2_check(bd, QCOW2_CHECK_REPAIR_LEAKS, &res), 0);
	assert_int_equal(res.leaks_fixed, 1);
	assert_int_equal(res.leaks, 0);
	assert_int_equal(res.allocated_clusters, 32);
	blk_close(bd);
	assert_int_equal(qcheck(img), 0);

	/* a corruption: a data cluster in use with refcount 0 */
	data = first_data_cluster(img);
	put_be(img, refcount_pos(img, data >> 16), 2, 0);
	assert_int_equal(qcheck(img), 2);
	bd = xopen(img, false);
	assert_int_equal(qcow2_check(bd, 0, &res), 0);
	assert_true(res.corruptions >= 1);
	assert_int_equal(qcow2_check(bd, QCOW2_CHECK_REPAIR_LEAKS, &res), 0);
	assert_true(res.corruptions >= 1); /* leaks-only repair leaves it */
	assert_int_equal(qcow2_check(bd, QCOW2_CHECK_REPAIR_ALL, &res), 0);
	assert_true(res.corruptions_fixed >= 1);
	assert_int_equal(res.corruptions, 0);
	assert_int_equal(res.leaks, 0);
	read_all_compare(bd, model, size);
	mwrite(bd, model, 3 * MiB, MiB, 92); /* allocation works on the rebuilt refcounts */
	read_all_compare(bd, model, size);
	blk_close(bd);
	assert_int_equal(qcheck(img), 0);

	/* OFLAG_COPIED wrong: refcount 2 on an exclusively owned cluster */
	data = first_data_cluster(img);
	put_be(img, refcount_pos(img, data >> 16), 2, 2);
	assert_int_equal(qcheck(img), 2);
	bd = xopen(img, false);
	assert_int_equal(qcow2_check(bd, QCOW2_CHECK_REPAIR_ALL, &res), 0);
	assert_int_equal(res.corruptions + res.leaks, 0);
	read_all_compare(bd, model, size);
	blk_close(bd);
	assert_int_equal(qcheck(img), 0);
	unlink(img);
	free(model);
}

/* ---- malicious images ------------------------------------------------------ */

struct patch {
	const char *what;
	uint64_t off;
	int bytes;
	uint64_t val;
	int64_t truncate; /* >= 0: truncate the file to this length instead */
};

static void test_malicious_headers(void **state)
{
	char *good = tpath("good.qcow2"), *bad = tpath("bad.qcow2");
	struct blk_open_opts o = { .format = "qcow2" };
	const struct patch p[] = {
		{ "truncated header", 0, 0, 0, 50 },
		{ "truncated v3 header", 0, 0, 0, 100 },
		{ "bad magic", 0, 4, 0x514649fa, -1 },
		{ "version 1", 4, 4, 1, -1 },
		{ "version 4", 4, 4, 4, -1 },
		{ "cluster_bits 8", 20, 4, 8, -1 },
		{ "cluster_bits 22", 20, 4, 22, -1 },
		{ "cluster_bits huge", 20, 4, 0xffffffff, -1 },
		{ "encrypted", 32, 4, 1, -1 },
		{ "L1 too small", 36, 4, 0, -1 },
		{ "L1 too large", 36, 4, 0x10000000, -1 },
		{ "L1 beyond EOF", 40, 8, 0x100000000ull, -1 },
		{ "L1 unaligned", 40, 8, 0x30008, -1 },
		{ "L1 on header", 40, 8, 0, -1 },
		{ "reftable on header", 48, 8, 0, -1 },
		{ "reftable unaligned", 48, 8, 0x10200, -1 },
		{ "reftable beyond EOF", 48, 8, 0x7fff0000ull, -1 },
		{ "reftable on L1", 48, 8, 0x30000, -1 },
		{ "reftable huge", 56, 4, 0xffffffff, -1 },
		{ "reftable zero clusters", 56, 4, 0, -1 },
		{ "snapshots beyond EOF", 60, 4, 1, -1 },
		{ "too many snapshots", 60, 4, 100000, -1 },
		{ "unknown incompatible bit", 72, 8, 1ull << 40, -1 },
		{ "external data file", 72, 8, 1ull << 2, -1 },
		{ "extended L2", 72, 8, 1ull << 4, -1 },
		{ "compression bit without type", 72, 8, 1ull << 3, -1 },
		{ "refcount_order 7", 96, 4, 7, -1 },
		{ "header_length small", 100, 4, 96, -1 },
		{ "header_length huge", 100, 4, 0x100000, -1 },
		{ "backing name out of the cluster", 8, 8, 0xfff0, -1 },
		{ "size huge", 24, 8, 1ull << 62, -1 },
		{ "extension too long", 112, 8, 0x12345678fffffff0ull, -1 },
	};

	xcreate(good, MiB, 65536);
	for (size_t i = 0; i < ARRAY_SIZE(p); i++) {
		struct blkdev *bd = NULL;
		int r;

		assert_int_equal(sh("cp %s %s", good, bad), 0);
		if (p[i].truncate >= 0)
			assert_int_equal(truncate(bad, p[i].truncate), 0);
		else
			put_be(bad, p[i].off, p[i].bytes, p[i].val);
		if (!strcmp(p[i].what, "backing name out of the cluster"))
			put_be(bad, 16, 4, 100);
		r = blk_open(bad, &o, &bd, NULL);
		if (r >= 0)
			fprintf(stderr, "accepted: %s\n", p[i].what);
		assert_true(r < 0);
		assert_null(bd);
	}
	unlink(good);
	unlink(bad);
}

/* Corrupt tables found after open: errors, never crashes or stray writes. */
static void test_malicious_tables(void **state)
{
	char *img = tpath("badtab.qcow2");
	struct blk_open_opts o = { .format = "qcow2" };
	uint8_t buf[65536];
	struct blkdev *bd;
	uint64_t l1, l2;

	xcreate(img, 4 * MiB, 65536);
	bd = xopen(img, false);
	memset(buf, 0xab, sizeof(buf));
	assert_int_equal(blk_pwrite(bd, buf, sizeof(buf), 0), 0);
	assert_int_equal(blk_pwrite(bd, buf, sizeof(buf), 65536), 0);
	blk_close(bd);
	l1 = get_be(img, 40, 8);
	l2 = get_be(img, l1, 8) & 0x00fffffffffffe00ull;

	/* data cluster offset not aligned */
	put_be(img, l2, 8, (1ull << 63) | 0x50200);
	assert_int_equal(blk_open(img, &o, &bd, NULL), 0);
	assert_int_equal(blk_pread(bd, buf, 512, 0), -EIO);
	assert_int_equal(blk_pwrite(bd, buf, 512, 0), -EIO);
	assert_int_equal(blk_pread(bd, buf, 512, 65536), 0); /* the rest still works */
	blk_close(bd);
	/* data cluster pointing at the L1 table: writes refused, not overwritten */
	put_be(img, l2, 8, (1ull << 63) | l1);
	assert_int_equal(blk_open(img, &o, &bd, NULL), 0);
	assert_int_equal(blk_pwrite(bd, buf, 512, 0), -EIO);
	blk_close(bd);
	assert_int_equal(get_be(img, l1, 8) & 0x00fffffffffffe00ull, l2);
	/* ... at the L2 table itself, or at a refcount block */
	put_be(img, l2, 8, (1ull << 63) | l2);
	assert_int_equal(blk_open(img, &o, &bd, NULL), 0);
	assert_int_equal(blk_pwrite(bd, buf, 512, 100), -EIO);
	blk_close(bd);
	assert_int_equal(get_be(img, l2, 8), (1ull << 63) | l2);
	put_be(img, l2, 8, (1ull << 63) | get_be(img, get_be(img, 48, 8), 8));
	assert_int_equal(blk_open(img, &o, &bd, NULL), 0);
	assert_int_equal(blk_pwrite(bd, buf, 512, 0), -EIO);
	blk_close(bd);
	/* compressed cluster with garbage data */
	put_be(img, l2, 8, (1ull << 62) | 0x40000 | (3ull << 54));
	assert_int_equal(blk_open(img, &o, &bd, NULL), 0);
	assert_true(blk_pread(bd, buf, 512, 0) < 0);
	blk_close(bd);
	/* L2 table beyond the end of the file, and unaligned */
	put_be(img, l1, 8, (1ull << 63) | 0x7fff0000ull);
	assert_int_equal(blk_open(img, &o, &bd, NULL), 0);
	assert_int_equal(blk_pread(bd, buf, 512, 0), -EIO);
	assert_true(blk_pwrite(bd, buf, 512, 0) < 0);
	blk_close(bd);
	put_be(img, l1, 8, (1ull << 63) | 0x40200);
	assert_int_equal(blk_open(img, &o, &bd, NULL), 0);
	assert_int_equal(blk_pread(bd, buf, 512, 0), -EIO);
	blk_close(bd);
	unlink(img);
}

/* ---- differential test against a raw model ---------------------------------- */

static uint32_t rnd(uint64_t *st)
{
	*st = *st * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*st >> 33);
}

static void differential(uint32_t cs, bool with_backing, uint64_t seed)
{
	const size_t size = 8 * MiB + 12288; /* qemu sees whole sectors only */
	uint8_t *model = calloc(1, size), *snaps[4] = { 0 }, *buf = malloc(2 * MiB);
	char *img = tpath("diff.qcow2"), *raw = tpath("diff.raw"), *braw = tpath("diffb.raw");
	char sname[4][8] = { "a", "b", "c", "d" };
	struct blk_create_opts o = { .size = size, .cluster_size = cs };
	struct qcow2_check_result res;
	struct blkdev *bd;

	assert_non_null(model);
	assert_non_null(buf);
	if (with_backing) {
		fill(model, 5 * MiB, (uint32_t)seed);
		write_raw(braw, model, 5 * MiB);
		o.backing_file = strrchr(braw, '/') + 1;
		o.backing_fmt = "raw";
	}
	assert_int_equal(qcow2_create(img, &o, NULL), 0);
	bd = xopen(img, false);
	for (int i = 0; i < 400; i++) {
		uint32_t op = rnd(&seed) % 100;
		uint64_t off = rnd(&seed) % size, len = 1 + rnd(&seed) % (512 * 1024);

		len = MIN(len, size - off);
		if (op < 50) {
			fill(buf, len, rnd(&seed));
			assert_int_equal(blk_pwrite(bd, buf, len, off), 0);
			memcpy(model + off, buf, len);
		} else if (op < 60) {
			assert_int_equal(blk_write_zeroes(bd, off, len, rnd(&seed) & 1), 0);
			memset(model + off, 0, len);
		} else if (op < 70) {
			uint64_t a = ALIGN_UP(off, cs), e = off + len;
			uint64_t b = e == size ? e : ALIGN_DOWN(e, cs);

			assert_int_equal(blk_discard(bd, off, len), 0);
			if (a < b)
				memset(model + a, 0, b - a);
		} else if (op < 78) {
			uint64_t c = ALIGN_DOWN(off, cs), l = MIN(cs, size - c);

			for (uint64_t k = 0; k < l; k++)
				buf[k] = (uint8_t)(k / 100 + i);
			assert_int_equal(qcow2_write_compressed(bd, c, buf, l), 0);
			memcpy(model + c, buf, l);
		} else if (op < 84) {
			int k = rnd(&seed) % 4;

			if (snaps[k]) {
				assert_int_equal(qcow2_snapshot_delete(bd, sname[k]), 0);
				free(snaps[k]);
				snaps[k] = NULL;
			}
			assert_int_equal(qcow2_snapshot_create(bd, sname[k]), 0);
			snaps[k] = malloc(size);
			assert_non_null(snaps[k]);
			memcpy(snaps[k], model, size);
		} else if (op < 90) {
			int k = rnd(&seed) % 4;

			if (snaps[k]) {
				assert_int_equal(qcow2_snapshot_apply(bd, sname[k]), 0);
				memcpy(model, snaps[k], size);
			}
		} else if (op < 94) {
			int k = rnd(&seed) % 4;

			if (snaps[k]) {
				assert_int_equal(qcow2_snapshot_delete(bd, sname[k]), 0);
				free(snaps[k]);
				snaps[k] = NULL;
			}
		} else if (op < 97) {
			assert_int_equal(blk_flush(bd), 0);
		} else {
			blk_close(bd);
			bd = xopen(img, false);
		}
		if (i % 50 == 49) {
			read_all_compare(bd, model, size);
			assert_int_equal(qcow2_check(bd, 0, &res), 0);
			assert_int_equal(res.corruptions, 0);
			assert_int_equal(res.leaks, 0);
		}
	}
	read_all_compare(bd, model, size);
	blk_close(bd);
	assert_int_equal(qcheck(img), 0);
	write_raw(raw, model, size);
	if (qcompare(img, "qcow2", raw, "raw"))
		sh("%s compare -f qcow2 -F raw %s %s >&2; %s map %s >&2", qimg(), img, raw, qimg(),
		   img);
	assert_int_equal(qcompare(img, "qcow2", raw, "raw"), 0);
	for (int k = 0; k < 4; k++) {
		if (!snaps[k])
			continue;
		assert_int_equal(sh("%s snapshot -a %s %s", qimg(), sname[k], img), 0);
		write_raw(raw, snaps[k], size);
		assert_int_equal(qcompare(img, "qcow2", raw, "raw"), 0);
		free(snaps[k]);
	}
	unlink(img);
	unlink(raw);
	unlink(braw);
	free(model);
	free(buf);
}

static void test_differential(void **state)
{
	differential(65536, false, 1);
	differential(4096, false, 2);
	differential(512, false, 3);
	differential(65536, true, 4);
	differential(2 * MiB, true, 5);
}

/* ---- crash consistency: SIGKILL a writer at many points ---------------------- */

static void crash_writer(const char *img, uint64_t size, uint64_t seed)
{
	struct blk_open_opts o = { .format = "qcow2" };
	uint8_t *buf = malloc(256 * 1024);
	struct blkdev *bd;

	if (!buf || blk_open(img, &o, &bd, NULL))
		_exit(1);
	for (;;) {
		uint32_t op = rnd(&seed) % 100;
		uint64_t off = rnd(&seed) % size, len = 1 + rnd(&seed) % (256 * 1024);

		len = MIN(len, size - off);
		if (op < 70) {
			fill(buf, len, (uint32_t)seed);
			if (blk_pwrite(bd, buf, len, off))
				_exit(2);
		} else if (op < 80) {
			if (blk_discard(bd, off, len))
				_exit(3);
		} else if (op < 88) {
			if (blk_write_zeroes(bd, off, len, op & 1))
				_exit(4);
		} else if (op < 95) {
			uint64_t c = ALIGN_DOWN(off, bd->cluster_size);

			memset(buf, (int)op, bd->cluster_size);
			if (qcow2_write_compressed(bd, c, buf, MIN(bd->cluster_size, size - c)))
				_exit(5);
		} else if (blk_flush(bd)) {
			_exit(6);
		}
	}
}

static void test_crash_consistency(void **state)
{
	char *img = tpath("crash.qcow2");
	const uint64_t size = 64 * MiB;
	uint64_t seed = 99;
	int kills = 0, leaky = 0;

	for (int i = 0; i < 36; i++) {
		struct blk_open_opts ro = { .format = "qcow2", .readonly = true };
		struct qcow2_check_result res;
		bool lazy = i >= 30;
		struct blkdev *bd;
		pid_t pid;
		int st, q;

		if (i % 10 == 0 || i == 30) {
			struct blk_create_opts o = { .size = size,
						     .cluster_size = i % 20 ? 4096 : 512,
						     .lazy_refcounts = lazy };

			assert_int_equal(qcow2_create(img, &o, NULL), 0);
		}
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			crash_writer(img, size, seed + (uint64_t)i);
		usleep(2000 + (useconds_t)(rnd(&seed) % 40000));
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		if (WIFEXITED(st))
			fprintf(stderr, "writer exited with %d\n", WEXITSTATUS(st));
		assert_true(WIFSIGNALED(st));
		kills++;
		if (lazy) {
			/* dirty image: the next read-write open rebuilds the refcounts */
			assert_int_equal(blk_open(img, &(struct blk_open_opts){ .format = "qcow2" },
						  &bd, NULL),
					 0);
			blk_close(bd);
		}
		q = qcheck(img);
		if (q != 0 && q != 3)
			sh("%s check %s 2>&1 | head -20 >&2", qimg(), img);
		assert_true(q == 0 || q == 3); /* leaks allowed, corruption not */
		leaky += q == 3;
		assert_int_equal(blk_open(img, &ro, &bd, NULL), 0);
		assert_int_equal(qcow2_check(bd, 0, &res), 0);
		assert_int_equal(res.corruptions, 0);
		blk_close(bd);
	}
	assert_int_equal(kills, 36);
	/* the kills must land inside allocations, not between them only */
	fprintf(stderr, "crash test: %d of %d kills left leaks\n", leaky, kills);
	assert_true(leaky > 0);
	unlink(img);
}

/* ---- corrupt bit, refcount table growth, v2 snapshots ------------------------ */

static void test_corrupt_bit(void **state)
{
	char *img = tpath("corrupt.qcow2");
	struct qcow2_check_result res;
	struct qcow2_info info;
	struct blkdev *bd;
	uint8_t buf[512];

	xcreate(img, MiB, 65536);
	bd = xopen(img, false);
	memset(buf, 0x11, sizeof(buf));
	assert_int_equal(blk_pwrite(bd, buf, sizeof(buf), 0), 0);
	blk_close(bd);
	put_be(img, 72, 8, 1ull << 1); /* incompatible bit 1: corrupt */
	bd = xopen(img, false);
	assert_int_equal(qcow2_info(bd, &info), 0);
	assert_true(info.corrupt);
	assert_int_equal(blk_pread(bd, buf, sizeof(buf), 0), 0); /* reads still work */
	assert_int_equal(buf[0], 0x11);
	assert_int_equal(blk_pwrite(bd, buf, sizeof(buf), 0), -EROFS);
	assert_int_equal(blk_discard(bd, 0, 65536), -EROFS);
	assert_int_equal(qcow2_snapshot_create(bd, "x"), -EROFS);
	/* a full repair clears it once the image checks clean */
	put_be(img, refcount_pos(img, 40), 2, 1); /* something to repair */
	assert_int_equal(truncate(img, 41 * 65536), 0);
	blk_close(bd);
	bd = xopen(img, false);
	assert_int_equal(qcow2_check(bd, QCOW2_CHECK_REPAIR_ALL, &res), 0);
	blk_close(bd);
	bd = xopen(img, false);
	assert_int_equal(qcow2_info(bd, &info), 0);
	assert_false(info.corrupt);
	assert_int_equal(blk_pwrite(bd, buf, sizeof(buf), 0), 0);
	blk_close(bd);
	assert_int_equal(qcheck(img), 0);
	unlink(img);
}

static void test_refcount_table_growth(void **state)
{
	const size_t size = 6 * MiB;
	uint8_t *model = calloc(1, size);
	char *img = tpath("grow.qcow2"), *raw = tpath("grow.raw");
	struct blk_create_opts o = { .size = size, .cluster_size = 512, .refcount_bits = 64 };
	struct blkdev *bd;

	assert_non_null(model);
	/* 512-byte clusters, 64-bit refcounts: a refcount block covers 32 KiB and
	 * the first one-cluster table 2 MiB of file, so the table must grow */
	assert_int_equal(qcow2_create(img, &o, NULL), 0);
	assert_int_equal(get_be(img, 56, 4), 1);
	bd = xopen(img, false);
	for (uint64_t off = 0; off < size; off += MiB)
		mwrite(bd, model, off + 7, MiB - 100, (uint32_t)off);
	assert_int_equal(qcow2_snapshot_create(bd, "s"), 0);
	mwrite(bd, model, 1000, 3 * MiB, 101);
	read_all_compare(bd, model, size);
	blk_close(bd);
	assert_true(get_be(img, 56, 4) > 1);
	assert_int_equal(qcheck(img), 0);
	write_raw(raw, model, size);
	assert_int_equal(qcompare(img, "qcow2", raw, "raw"), 0);
	unlink(img);
	unlink(raw);
	free(model);
}

static void test_v2_snapshots(void **state)
{
	const size_t size = 2 * MiB;
	uint8_t *model = calloc(1, size), *m1 = malloc(size);
	char *img = tpath("v2snap.qcow2"), *raw = tpath("v2snap.raw");
	struct blk_create_opts o = { .size = size, .cluster_size = 4096, .compat_v2 = true };
	struct blkdev *bd;

	assert_non_null(model);
	assert_int_equal(qcow2_create(img, &o, NULL), 0);
	bd = xopen(img, false);
	mwrite(bd, model, 0, MiB, 111);
	assert_int_equal(qcow2_snapshot_create(bd, "one"), 0);
	memcpy(m1, model, size);
	mwrite(bd, model, 5000, MiB, 112);
	assert_int_equal(blk_write_zeroes(bd, 0, 8192, true), 0);
	memset(model, 0, 8192);
	read_all_compare(bd, model, size);
	blk_close(bd);
	assert_int_equal(qcheck(img), 0);
	assert_int_equal(sh("%s snapshot -a one %s", qimg(), img), 0);
	write_raw(raw, m1, size);
	assert_int_equal(qcompare(img, "qcow2", raw, "raw"), 0);
	bd = xopen(img, false);
	read_all_compare(bd, m1, size);
	assert_int_equal(qcow2_snapshot_delete(bd, "one"), 0);
	blk_close(bd);
	assert_int_equal(qcheck(img), 0);
	unlink(img);
	unlink(raw);
	free(model);
	free(m1);
}

/* Bitmaps extension: kept in the header; a writer that does not update the
 * bitmaps clears autoclear bit 0 (spec), so qemu ignores them afterwards. */
static void test_bitmaps_extension(void **state)
{
	char *img = tpath("bm.qcow2");
	uint8_t buf[4096];
	struct blkdev *bd;
	int q;

	assert_int_equal(sh("%s create -q -f qcow2 %s 4M && %s bitmap --add %s b0", qimg(), img,
			    qimg(), img),
			 0);
	assert_int_equal(get_be(img, 88, 8) & 1, 1);
	bd = xopen(img, true); /* read-only: nothing changes */
	blk_close(bd);
	assert_int_equal(get_be(img, 88, 8) & 1, 1);
	assert_int_equal(sh("%s info %s | grep -q 'name: b0'", qimg(), img), 0);
	bd = xopen(img, false);
	memset(buf, 0x3c, sizeof(buf));
	assert_int_equal(blk_pwrite(bd, buf, sizeof(buf), 8192), 0);
	blk_close(bd);
	assert_int_equal(get_be(img, 88, 8) & 1, 0);
	assert_int_equal(sh("%s info %s | grep -q 'name: b0'", qimg(), img), 1);
	q = qcheck(img);
	assert_true(q == 0 || q == 3); /* the bitmap's clusters may show as leaks */
	bd = xopen(img, true);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(blk_pread(bd, buf, sizeof(buf), 8192), 0);
	assert_int_equal(buf[100], 0x3c);
	blk_close(bd);
	unlink(img);
}

/*
 * Snapshot operations under SIGKILL: they cannot keep refcounts and
 * OFLAG_COPIED consistent at every instant, so they run under the dirty
 * bit; the next read-write open repairs, after which qemu-img check passes.
 */
static void test_crash_snapshots(void **state)
{
	char *img = tpath("snapcrash.qcow2");
	struct blk_create_opts o = { .size = 32 * MiB, .cluster_size = 4096 };
	uint64_t seed = 7;
	int dirty = 0;

	assert_int_equal(qcow2_create(img, &o, NULL), 0);
	for (int i = 0; i < 15; i++) {
		struct blk_open_opts rw = { .format = "qcow2" };
		struct blkdev *bd;
		pid_t pid = fork();
		int st, q;

		assert_true(pid >= 0);
		if (pid == 0) {
			static uint8_t buf[65536];

			if (blk_open(img, &rw, &bd, NULL))
				_exit(1);
			memset(buf, i, sizeof(buf));
			for (uint64_t k = 0;; k++) {
				char name[16];

				if (blk_pwrite(bd, buf, 1 + rnd(&seed) % sizeof(buf),
					       rnd(&seed) % (31 * MiB)))
					_exit(2);
				if (k % 40)
					continue;
				snprintf(name, sizeof(name), "s%d", (int)(rnd(&seed) % 4));
				(void)qcow2_snapshot_delete(bd, name);
				if (qcow2_snapshot_create(bd, name))
					_exit(3);
				if (k % 120 == 0 && qcow2_snapshot_apply(bd, name))
					_exit(4);
			}
		}
		usleep(5000 + (useconds_t)(rnd(&seed) % 60000));
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFSIGNALED(st));
		dirty += (int)(get_be(img, 72, 8) & 1);
		assert_int_equal(blk_open(img, &rw, &bd, NULL), 0); /* repairs a dirty image */
		blk_close(bd);
		assert_int_equal(get_be(img, 72, 8) & 1, 0);
		q = qcheck(img);
		if (q != 0 && q != 3)
			sh("%s check %s 2>&1 | head -20 >&2", qimg(), img);
		assert_true(q == 0 || q == 3);
	}
	fprintf(stderr, "snapshot crash test: %d of 15 kills hit a snapshot operation\n", dirty);
	unlink(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rw_512),
		cmocka_unit_test(test_rw_4k),
		cmocka_unit_test(test_rw_64k),
		cmocka_unit_test(test_rw_2m),
		cmocka_unit_test(test_read_qemu_images),
		cmocka_unit_test(test_compressed_read_zlib),
		cmocka_unit_test(test_compressed_read_zstd),
		cmocka_unit_test(test_compressed_write),
		cmocka_unit_test(test_zero_discard_v3),
		cmocka_unit_test(test_zero_discard_v2),
		cmocka_unit_test(test_backing_chain),
		cmocka_unit_test(test_backing_loops),
		cmocka_unit_test(test_snapshots),
		cmocka_unit_test(test_create_variants),
		cmocka_unit_test(test_lazy_refcounts_dirty),
		cmocka_unit_test(test_check_repair),
		cmocka_unit_test(test_malicious_headers),
		cmocka_unit_test(test_malicious_tables),
		cmocka_unit_test(test_corrupt_bit),
		cmocka_unit_test(test_refcount_table_growth),
		cmocka_unit_test(test_v2_snapshots),
		cmocka_unit_test(test_bitmaps_extension),
		cmocka_unit_test(test_differential),
		cmocka_unit_test(test_crash_consistency),
		cmocka_unit_test(test_crash_snapshots),
	};

	/* QCOW2_TEST=pattern runs a subset (cmocka filter syntax) */
	if (getenv("QCOW2_TEST"))
		cmocka_set_test_filter(getenv("QCOW2_TEST"));
	log_set_level(getenv("QCOW2_VERBOSE") ? LOG_DEBUG : LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
