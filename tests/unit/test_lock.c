// SPDX-License-Identifier: MIT
/*
 * Image locking (src/block/lock.c): the bytes QEMU's file-posix.c uses,
 * conflicts with other open file descriptions (OFD locks conflict
 * between descriptions, not processes, so a second open() of the file
 * here stands for QEMU or another vessel), and the sharing of one
 * description by the users of a file within this process.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "block/block.h"
#include "block/lock.h"
#include "util/log.h"

static char path[256];

static int setup(void **state)
{
	const char *d = getenv("UNIT_TMPDIR");
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/lock-%d.img", d ? d : "/tmp", (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 1 << 20) < 0)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

/* Is byte locked by an open file description other than a fresh one? */
static bool taken(int byte)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1 };
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fcntl(fd, F_OFD_GETLK, &fl), 0);
	close(fd);
	return fl.l_type != F_UNLCK;
}

/* Bitmask of the "have" (low 5 bits) and "deny" (bits 8..12) bytes held. */
static unsigned int held(void)
{
	unsigned int m = 0;

	for (int i = 0; i < 5; i++) {
		m |= taken(IMG_LOCK_PERM_BASE + i) ? 1u << i : 0;
		m |= taken(IMG_LOCK_SHARED_BASE + i) ? 1u << (8 + i) : 0;
	}
	return m;
}

/* Another user (QEMU, another vessel): its own description with read locks. */
static int other(const int *bytes, int n)
{
	int fd = open(path, O_RDWR);

	assert_true(fd >= 0);
	for (int i = 0; i < n; i++) {
		struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = bytes[i],
				    .l_len = 1 };

		assert_int_equal(fcntl(fd, F_OFD_SETLK, &fl), 0);
	}
	return fd;
}

static struct image_lock *take(int fd, bool ro, bool share, int want)
{
	unsigned int perm, shared;
	struct image_lock *lk = NULL;

	image_lock_perms(ro, share, &perm, &shared);
	assert_int_equal(image_lock_acquire(fd, path, perm, shared, &lk, NULL), want);
	assert_true(want ? lk == NULL : lk != NULL);
	return lk;
}

/* Read-write takes QEMU's bytes for a qcow2/raw image it writes. */
static void test_bytes_of_a_writer(void **state)
{
	int fd = open(path, O_RDWR);
	struct image_lock *lk;

	(void)state;
	lk = take(fd, false, false, 0);
	/* 100 consistent read, 101 write, 103 resize; denies 201 write, 203 resize */
	assert_int_equal(held(), 0x1u | 0x2u | 0x8u | (0x2u << 8) | (0x8u << 8));
	/* the lock lives on its own description: closing fd keeps it */
	close(fd);
	assert_int_equal(held(), 0x1u | 0x2u | 0x8u | (0x2u << 8) | (0x8u << 8));
	image_lock_release(lk);
	assert_int_equal(held(), 0);
}

static void test_reader_and_force_share(void **state)
{
	int fd = open(path, O_RDONLY);
	struct image_lock *lk;

	(void)state;
	lk = take(fd, true, false, 0);
	assert_int_equal(held(), 0x1u | (0x2u << 8) | (0x8u << 8));
	image_lock_release(lk);
	lk = take(fd, true, true, 0); /* -U: denies nothing */
	assert_int_equal(held(), 0x1u);
	image_lock_release(lk);
	close(fd);
	assert_int_equal(held(), 0);
}

/* Someone reading (denies write): a writer is refused, readers are not. */
static void test_conflict_with_a_reader(void **state)
{
	const int qemu_reader[] = { 100, 201, 203 };
	int q = other(qemu_reader, 3), fd = open(path, O_RDWR);
	struct image_lock *lk;

	(void)state;
	take(fd, false, false, -EBUSY);
	/* the refused writer left nothing behind */
	assert_int_equal(held(), 0x1u | (0x2u << 8) | (0x8u << 8));
	lk = take(fd, true, false, 0);
	image_lock_release(lk);
	close(q);
	lk = take(fd, false, false, 0);
	image_lock_release(lk);
	close(fd);
	assert_int_equal(held(), 0);
}

/* Someone writing: readers are refused, -U readers are not. */
static void test_conflict_with_a_writer(void **state)
{
	const int qemu_writer[] = { 100, 101, 103, 201, 203 };
	int q = other(qemu_writer, 5), fd = open(path, O_RDONLY);
	struct image_lock *lk;

	(void)state;
	take(fd, true, false, -EBUSY);
	lk = take(fd, true, true, 0);
	image_lock_release(lk);
	close(q);
	close(fd);
	assert_int_equal(held(), 0);
}

/*
 * Users within one process share a description: a reader and a writer
 * of one file coexist (img commit), two writers do not, and the bytes
 * stay until their last user goes.
 */
static void test_users_in_one_process(void **state)
{
	int a = open(path, O_RDONLY), b = open(path, O_RDWR), c = open(path, O_RDWR);
	struct image_lock *ro, *rw;

	(void)state;
	ro = take(a, true, false, 0);
	rw = take(b, false, false, 0);
	take(c, false, false, -EBUSY);
	assert_int_equal(held(), 0x1u | 0x2u | 0x8u | (0x2u << 8) | (0x8u << 8));
	image_lock_release(rw);
	assert_int_equal(held(), 0x1u | (0x2u << 8) | (0x8u << 8));
	rw = take(c, false, false, 0);
	image_lock_release(ro);
	image_lock_release(rw);
	assert_int_equal(held(), 0);
	close(a);
	close(b);
	close(c);
}

/* A pipe has no image lock (the block layer refuses it anyway). */
static void test_not_a_file(void **state)
{
	struct image_lock *lk = (struct image_lock *)1;
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(image_lock_acquire(p[0], "pipe", IMG_PERM_WRITE, 0, &lk, NULL), 0);
	assert_null(lk);
	image_lock_release(lk);
	close(p[0]);
	close(p[1]);
}

/* Through the block layer: blk_open locks, blk_close unlocks, blk_create checks. */
static void test_block_layer(void **state)
{
	struct blk_open_opts ro = { .format = "raw", .readonly = true };
	struct blk_open_opts rw = { .format = "raw" };
	struct blk_open_opts fs = { .format = "raw", .readonly = true, .force_share = true };
	struct blk_open_opts fsrw = { .format = "raw", .force_share = true };
	struct blk_create_opts co = { .size = 1 << 20 };
	const int qemu_writer[] = { 100, 101, 103, 201, 203 };
	struct blkdev *bd, *bd2;
	int q;

	(void)state;
	assert_int_equal(blk_open(path, &rw, &bd, NULL), 0);
	assert_int_equal(held(), 0x1u | 0x2u | 0x8u | (0x2u << 8) | (0x8u << 8));
	assert_int_equal(blk_open(path, &rw, &bd2, NULL), -EBUSY);
	blk_close(bd);
	assert_int_equal(held(), 0);

	q = other(qemu_writer, 5);
	assert_int_equal(blk_open(path, &ro, &bd, NULL), -EBUSY);
	assert_int_equal(blk_open(path, &fsrw, &bd, NULL), -EINVAL);
	assert_int_equal(blk_open(path, &fs, &bd, NULL), 0);
	blk_close(bd);
	assert_int_equal(blk_create("raw", path, &co, NULL), -EBUSY);
	close(q);
	assert_int_equal(blk_create("raw", path, &co, NULL), 0);
	assert_int_equal(held(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bytes_of_a_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_and_force_share, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conflict_with_a_reader, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conflict_with_a_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_users_in_one_process, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_block_layer, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
