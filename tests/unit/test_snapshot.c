// SPDX-License-Identifier: MIT
/*
 * The save files (src/vm/snapshot-load.c, docs/snapshot-format.md): a
 * state file is parsed only when every section's CRC, length and version
 * hold, and refused with one message otherwise (each byte flipped, each
 * length cut short); the receiving end of a save stream writes the state
 * file and a sparse memory file, and refuses a stream that is cut short
 * or whose end record does not match what came.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "util/stream.h"
#include "vm/snapshot-int.h"
#include "vm/snapshot.h"

static const uint8_t save_id[SNAP_ID_LEN] = {
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
};

static void put_section(struct stream *s, uint32_t tag, const void *body, size_t len)
{
	stream_put_u32(s, tag);
	stream_put_u32(s, 1);
	stream_put_u64(s, len);
	stream_put_u32(s, (uint32_t)crc32(0, body, (uInt)len));
	stream_put_bytes(s, body, len);
}

static void put_regions(struct stream *s)
{
	stream_put_u32(s, 2);
	stream_put_u64(s, 0); /* gpa */
	stream_put_u64(s, 64 * 4096);
	stream_put_u64(s, SNAP_MEM_ALIGN);
	stream_put_u32(s, 0);
	stream_put_u64(s, 1ull << 32);
	stream_put_u64(s, 16 * 4096);
	stream_put_u64(s, 2 * SNAP_MEM_ALIGN);
	stream_put_u32(s, 0);
}

/* A state file as docs/snapshot-format.md lays it out; *len its size. */
static uint8_t *make_state(size_t *len)
{
	static const char conf[] = "{\"name\":\"t\",\"cpus\":2,\"memory\":\"1M\"}";
	static const uint8_t comp[] = "component stream";
	struct stream mach, f;
	uint8_t *buf;

	stream_init_writer(&mach, 4096);
	stream_put_u32(&mach, 2);
	stream_put_u64(&mach, 80 * 4096);
	put_regions(&mach);
	stream_init_writer(&f, 1 << 20);
	stream_put_bytes(&f, SNAP_MAGIC, 8);
	stream_put_u32(&f, SNAP_VERSION);
	stream_put_u32(&f, 0);
	stream_put_bytes(&f, save_id, SNAP_ID_LEN);
	stream_put_u64(&f, 0);
	put_section(&f, SNAP_SEC_CONF, conf, strlen(conf));
	put_section(&f, SNAP_SEC_MACH, mach.buf, mach.len);
	put_section(&f, SNAP_SEC_COMP, comp, sizeof(comp));
	assert_int_equal(stream_error(&f), 0);
	snap_put64(f.buf + 32, f.len);
	buf = malloc(f.len);
	memcpy(buf, f.buf, f.len);
	*len = f.len;
	stream_free(&f);
	stream_free(&mach);
	return buf;
}

static int parse_copy(const uint8_t *src, size_t len, struct snapshot_image *img, struct error *err)
{
	uint8_t *b = malloc(len ? len : 1);
	int r;

	memcpy(b, src, len);
	r = snapshot_image_parse(b, len, img, err);
	if (r)
		free(b);
	return r;
}

static void test_parse(void **state)
{
	struct error err = ERROR_INIT;
	struct snapshot_image img;
	size_t len;
	uint8_t *f = make_state(&len);

	(void)state;
	if (parse_copy(f, len, &img, &err))
		fail_msg("%s", error_msg(&err));
	assert_int_equal(img.nr_cpus, 2);
	assert_int_equal(img.mem_size, 80 * 4096);
	assert_int_equal(img.nr_regions, 2);
	assert_int_equal(img.regions[1].gpa, 1ull << 32);
	assert_int_equal(img.regions[1].file_offset, 2 * SNAP_MEM_ALIGN);
	assert_memory_equal(img.save_id, save_id, SNAP_ID_LEN);
	assert_true(img.conf_len > 0 && !memcmp(img.conf, "{\"name\"", 7));
	assert_int_equal(img.comp_len, sizeof("component stream"));
	snapshot_image_free(&img);
	free(f);
}

/* Every single-byte change is refused, with a message: nothing in the file is unchecked. */
static void test_every_byte_checked(void **state)
{
	size_t len;
	uint8_t *f = make_state(&len);

	(void)state;
	for (size_t i = 0; i < len; i++) {
		struct error err = ERROR_INIT;
		struct snapshot_image img;

		/* the save id and flags are the only free bytes */
		if ((i >= 12 && i < 32))
			continue;
		f[i] ^= 0x40;
		if (parse_copy(f, len, &img, &err) == 0) {
			snapshot_image_free(&img);
			fail_msg("byte %zu flipped was accepted", i);
		}
		assert_true(error_is_set(&err));
		f[i] ^= 0x40;
	}
	free(f);
}

static void test_truncated(void **state)
{
	size_t len;
	uint8_t *f = make_state(&len);

	(void)state;
	for (size_t n = 0; n < len; n++) {
		struct error err = ERROR_INIT;
		struct snapshot_image img;

		assert_int_not_equal(parse_copy(f, n, &img, &err), 0);
		assert_true(error_is_set(&err));
	}
	/* and with the length field agreeing with the cut */
	for (size_t n = SNAP_HDR_SIZE; n < len; n++) {
		struct error err = ERROR_INIT;
		struct snapshot_image img;

		snap_put64(f + 32, n);
		assert_int_not_equal(parse_copy(f, n, &img, &err), 0);
		assert_non_null(strstr(error_msg(&err), "truncated")
					?: strstr(error_msg(&err), "lacks"));
	}
	free(f);
}

static void test_wrong_version(void **state)
{
	struct error err = ERROR_INIT;
	struct snapshot_image img;
	size_t len;
	uint8_t *f = make_state(&len);

	(void)state;
	snap_put32(f + 8, 2);
	assert_int_equal(parse_copy(f, len, &img, &err), -EPROTO);
	assert_non_null(strstr(error_msg(&err), "version 2 is not supported"));
	free(f);
}

/* The sending side of a stream, in a child: state, memory header, pages, end. */
static void send_stream(int fd, const uint8_t *st, size_t stlen, int cut, bool bad_crc)
{
	uint8_t hdr[SNAP_MEMHDR_SIZE] = { 0 }, rec[SNAP_REC_SIZE], page[4096];
	uint32_t crc = (uint32_t)crc32(0, NULL, 0);
	struct stream s;
	size_t sent = 0;

#define SEND(p, n)                                       \
	do {                                             \
		size_t _n = (n);                         \
		if (cut >= 0 && sent + _n > (size_t)cut) \
			_n = (size_t)cut - sent;         \
		if (write(fd, (p), _n) != (ssize_t)_n)   \
			_exit(1);                        \
		sent += _n;                              \
		if (cut >= 0 && sent == (size_t)cut)     \
			_exit(0);                        \
	} while (0)

	SEND(st, stlen);
	stream_init_writer(&s, sizeof(hdr));
	stream_put_bytes(&s, SNAP_MEM_MAGIC, 8);
	stream_put_u32(&s, SNAP_VERSION);
	stream_put_u32(&s, 0);
	stream_put_bytes(&s, save_id, SNAP_ID_LEN);
	put_regions(&s);
	memcpy(hdr, s.buf, s.len);
	snap_put32(rec, SNAP_REC_PAGE);
	snap_put32(rec + 4, sizeof(hdr));
	snap_put64(rec + 8, 0);
	SEND(rec, sizeof(rec));
	SEND(hdr, sizeof(hdr));
	/* one page in each region: the file is sparse around them */
	for (int i = 0; i < 2; i++) {
		memset(page, 'a' + i, sizeof(page));
		crc = (uint32_t)crc32(crc, page, sizeof(page));
		snap_put32(rec, SNAP_REC_PAGE);
		snap_put32(rec + 4, sizeof(page));
		snap_put64(rec + 8, (i + 1) * SNAP_MEM_ALIGN + 3 * 4096);
		SEND(rec, sizeof(rec));
		SEND(page, sizeof(page));
	}
	snap_put32(rec, SNAP_REC_END);
	snap_put32(rec + 4, bad_crc ? crc ^ 1 : crc);
	snap_put64(rec + 8, 2 * 4096);
	SEND(rec, sizeof(rec));
	_exit(0);
#undef SEND
}

static int receive(int cut, bool bad_crc, struct error *err, int *state_fd, int *mem_fd)
{
	char sp[] = "/tmp/vessel-snap-XXXXXX", mp[] = "/tmp/vessel-snapmem-XXXXXX";
	int fds[2], r, status;
	size_t len;
	uint8_t *f = make_state(&len);
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		send_stream(fds[1], f, len, cut, bad_crc);
	}
	close(fds[1]);
	*state_fd = mkstemp(sp);
	*mem_fd = mkstemp(mp);
	unlink(sp);
	unlink(mp);
	r = snapshot_receive(fds[0], *state_fd, *mem_fd, NULL, NULL, err);
	close(fds[0]);
	waitpid(pid, &status, 0);
	free(f);
	return r;
}

static void test_receive(void **state)
{
	struct error err = ERROR_INIT;
	struct snapshot_image img;
	uint8_t page[4096], *buf;
	int sfd, mfd;
	struct stat st;

	(void)state;
	assert_int_equal(receive(-1, false, &err, &sfd, &mfd), 0);
	/* the state file is the one sent, and parses */
	assert_int_equal(fstat(sfd, &st), 0);
	buf = malloc((size_t)st.st_size);
	assert_int_equal(pread(sfd, buf, (size_t)st.st_size, 0), st.st_size);
	assert_int_equal(snapshot_image_parse(buf, (size_t)st.st_size, &img, &err), 0);
	/* the memory file spans every region, holds the pages where they belong, and is sparse */
	assert_int_equal(fstat(mfd, &st), 0);
	assert_int_equal(st.st_size, 2 * SNAP_MEM_ALIGN + 16 * 4096);
	assert_true(st.st_blocks * 512 < 64 * 4096);
	assert_int_equal(pread(mfd, page, sizeof(page), SNAP_MEM_ALIGN + 3 * 4096), 4096);
	assert_int_equal(page[0], 'a');
	assert_int_equal(pread(mfd, page, sizeof(page), 2 * SNAP_MEM_ALIGN + 3 * 4096), 4096);
	assert_int_equal(page[4095], 'b');
	assert_int_equal(pread(mfd, page, sizeof(page), SNAP_MEM_ALIGN), 4096);
	assert_int_equal(page[0], 0);
	snapshot_image_free(&img);
	close(sfd);
	close(mfd);
}

/* Cut anywhere, or with a bad end record: refused, never taken for a whole save. */
static void test_receive_cut(void **state)
{
	size_t len;
	uint8_t *f = make_state(&len);
	size_t total = len + 3 * SNAP_REC_SIZE + SNAP_MEMHDR_SIZE + 2 * 4096 + SNAP_REC_SIZE;
	const size_t cuts[] = { 0,
				10,
				SNAP_HDR_SIZE,
				len - 1,
				len,
				len + 5,
				len + SNAP_REC_SIZE + 100,
				total - SNAP_REC_SIZE - 1,
				total - SNAP_REC_SIZE,
				total - 1 };

	(void)state;
	free(f);
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		struct error err = ERROR_INIT;
		int sfd, mfd;

		assert_int_not_equal(receive((int)cuts[i], false, &err, &sfd, &mfd), 0);
		assert_true(error_is_set(&err));
		close(sfd);
		close(mfd);
	}
	{
		struct error err = ERROR_INIT;
		int sfd, mfd;

		assert_int_equal(receive(-1, true, &err, &sfd, &mfd), -EPROTO);
		assert_non_null(strstr(error_msg(&err), "corrupt"));
		close(sfd);
		close(mfd);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),	  cmocka_unit_test(test_every_byte_checked),
		cmocka_unit_test(test_truncated), cmocka_unit_test(test_wrong_version),
		cmocka_unit_test(test_receive),	  cmocka_unit_test(test_receive_cut),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
