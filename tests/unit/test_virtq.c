// SPDX-License-Identifier: MIT
/*
 * Split virtqueue validation (src/virtio/virtq.c) against fake guest
 * memory: well-formed chains, every hostile ring a guest can build, and
 * the EVENT_IDX arithmetic with wraparound.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mem/gmem.h"
#include "virtio/virtq.h"

#define MEM_SIZE (1u << 20)
#define QSIZE 16
#define DESC_GPA 0x1000
#define AVAIL_GPA 0x2000
#define USED_GPA 0x3000
#define BUF_GPA 0x10000

struct fx {
	struct gmem mem;
	uint8_t *ram;
	struct virtq vq;
	struct virtq_chain *c;
	struct ratelimit rl;
	int errors; /* on_error calls */
};

static void on_error(void *opaque, struct virtq *vq)
{
	struct fx *f = opaque;

	f->errors++;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->ram = calloc(1, MEM_SIZE);
	gmem_init(&f->mem, NULL);
	assert_int_equal(gmem_add_mapped(&f->mem, 0, MEM_SIZE, f->ram, -1, 0), 0);
	f->rl = (struct ratelimit)RATELIMIT_INIT;
	virtq_init(&f->vq, &f->mem, 0, QSIZE, "test.q0", &f->rl);
	f->vq.on_error = on_error;
	f->vq.opaque = f;
	f->vq.desc_gpa = DESC_GPA;
	f->vq.avail_gpa = AVAIL_GPA;
	f->vq.used_gpa = USED_GPA;
	assert_int_equal(virtq_enable(&f->vq, true, true), 0);
	f->c = virtq_chain_alloc(QSIZE);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	virtq_chain_free(f->c);
	gmem_destroy(&f->mem);
	free(f->ram);
	free(f);
	return 0;
}

static void set_desc(struct fx *f, uint64_t table, unsigned int i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	struct virtq_desc d = { .addr = addr, .len = len, .flags = flags, .next = next };

	memcpy(f->ram + table + 16 * i, &d, sizeof(d));
}

static uint16_t *avail16(struct fx *f, unsigned int i)
{
	return (uint16_t *)(f->ram + AVAIL_GPA) + i;
}

static uint16_t used_idx(struct fx *f)
{
	return *(uint16_t *)(f->ram + USED_GPA + 2);
}

/* Make `head` available as the next ring entry. */
static void offer(struct fx *f, uint16_t head)
{
	uint16_t idx = *avail16(f, 1);

	*avail16(f, 2 + (idx % QSIZE)) = head;
	*avail16(f, 1) = idx + 1;
}

static void expect_broken(struct fx *f)
{
	assert_int_equal(virtq_pop(&f->vq, f->c), -EIO);
	assert_true(f->vq.broken);
	assert_int_equal(f->errors, 1);
	assert_int_equal(f->vq.stats.guest_errors, 1);
	/* A broken queue stays quiet until reset. */
	assert_int_equal(virtq_pop(&f->vq, f->c), 0);
	assert_int_equal(virtq_push(&f->vq, 0, 0), -EIO);
	assert_int_equal(f->errors, 1);
}

static void test_empty(void **state)
{
	struct fx *f = *state;

	assert_int_equal(virtq_pop(&f->vq, f->c), 0);
	assert_false(virtq_has_avail(&f->vq));
}

static void test_pop_push(void **state)
{
	struct fx *f = *state;
	uint32_t ent[2];

	set_desc(f, DESC_GPA, 3, BUF_GPA, 16, VIRTQ_DESC_F_NEXT, 5);
	set_desc(f, DESC_GPA, 5, BUF_GPA + 0x100, 0, VIRTQ_DESC_F_NEXT, 7); /* dropped */
	set_desc(f, DESC_GPA, 7, BUF_GPA + 0x1000, 512, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 8);
	set_desc(f, DESC_GPA, 8, BUF_GPA + 0x2000, 1, VIRTQ_DESC_F_WRITE, 0);
	memcpy(f->ram + BUF_GPA, "hello, virtqueue", 16);
	offer(f, 3);
	assert_true(virtq_has_avail(&f->vq));
	assert_int_equal(virtq_pop(&f->vq, f->c), 1);
	assert_int_equal(f->c->head, 3);
	assert_int_equal(f->c->nr_out, 1);
	assert_int_equal(f->c->nr_in, 2);
	assert_int_equal(f->c->out_len, 16);
	assert_int_equal(f->c->in_len, 513);
	assert_ptr_equal(f->c->iov[0].iov_base, f->ram + BUF_GPA);
	assert_ptr_equal(f->c->iov[2].iov_base, f->ram + BUF_GPA + 0x2000);

	char buf[16];
	assert_int_equal(virtq_chain_read(f->c, 7, buf, 9), 9);
	assert_memory_equal(buf, "virtqueue", 9);
	assert_int_equal(virtq_chain_write(f->c, 510, "xyz", 3), 3);
	assert_memory_equal(f->ram + BUF_GPA + 0x1000 + 510, "xy", 2);
	assert_int_equal(f->ram[BUF_GPA + 0x2000], 'z');

	assert_int_equal(virtq_pop(&f->vq, f->c), 0);
	assert_int_equal(virtq_push_chain(&f->vq, f->c, 100000), 0); /* clamped */
	assert_int_equal(used_idx(f), 1);
	memcpy(ent, f->ram + USED_GPA + 4, 8);
	assert_int_equal(ent[0], 3);
	assert_int_equal(ent[1], 513);
}

/*
 * Dirty tracking sees every byte the device may have written: the
 * status byte of a request the device reports as 1 byte written sits in
 * the last buffer, after a data buffer it did not fill.
 */
static void test_fill_marks_every_writable_buffer(void **state)
{
	struct fx *f = *state;
	uint64_t bits[1];

	set_desc(f, DESC_GPA, 0, BUF_GPA, 16, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, DESC_GPA, 1, BUF_GPA + 0x1000, 512, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	set_desc(f, DESC_GPA, 2, BUF_GPA + 0x3000, 1, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	assert_int_equal(gmem_dirty_start(&f->mem), 0);
	assert_int_equal(virtq_pop(&f->vq, f->c), 1);
	f->ram[BUF_GPA + 0x3000] = 1; /* VIRTIO_BLK_S_IOERR: no data */
	assert_int_equal(virtq_push_chain(&f->vq, f->c, 1), 0);
	assert_int_equal(gmem_dirty_fetch(&f->mem, 0, bits, 1), 1);
	/* data page, status page, and the used ring's page; not the request's */
	assert_true(bits[0] & (1ull << ((BUF_GPA + 0x1000) >> 12)));
	assert_true(bits[0] & (1ull << ((BUF_GPA + 0x3000) >> 12)));
	assert_true(bits[0] & (1ull << (USED_GPA >> 12)));
	assert_false(bits[0] & (1ull << (BUF_GPA >> 12)));
	gmem_dirty_stop(&f->mem);
}

static void test_loop(void **state)
{
	struct fx *f = *state;

	set_desc(f, DESC_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, DESC_GPA, 1, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 0);
	offer(f, 0);
	expect_broken(f);
}

static void test_self_loop(void **state)
{
	struct fx *f = *state;

	set_desc(f, DESC_GPA, 4, BUF_GPA, 8, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 4);
	offer(f, 4);
	expect_broken(f);
}

static void test_out_of_range(void **state)
{
	struct fx *f = *state;

	set_desc(f, DESC_GPA, 0, MEM_SIZE - 8, 16, 0, 0);
	offer(f, 0);
	expect_broken(f);
}

static void test_addr_overflow(void **state)
{
	struct fx *f = *state;

	set_desc(f, DESC_GPA, 0, UINT64_MAX - 7, 64, 0, 0);
	offer(f, 0);
	expect_broken(f);
}

static void test_wrong_direction(void **state)
{
	struct fx *f = *state;

	set_desc(f, DESC_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, DESC_GPA, 1, BUF_GPA + 8, 8, 0, 0);
	offer(f, 0);
	expect_broken(f);
}

static void test_zero_length_chain(void **state)
{
	struct fx *f = *state;

	set_desc(f, DESC_GPA, 0, BUF_GPA, 0, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, DESC_GPA, 1, BUF_GPA, 0, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	expect_broken(f);
}

static void test_next_out_of_range(void **state)
{
	struct fx *f = *state;

	set_desc(f, DESC_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, QSIZE);
	offer(f, 0);
	expect_broken(f);
}

static void test_head_out_of_range(void **state)
{
	struct fx *f = *state;

	offer(f, 0xffff);
	expect_broken(f);
}

static void test_avail_idx_jump(void **state)
{
	struct fx *f = *state;

	set_desc(f, DESC_GPA, 0, BUF_GPA, 8, 0, 0);
	*avail16(f, 1) = QSIZE + 1;
	expect_broken(f);
}

static void test_avail_idx_full_ok(void **state)
{
	struct fx *f = *state;

	for (unsigned int i = 0; i < QSIZE; i++) {
		set_desc(f, DESC_GPA, i, BUF_GPA + 64 * i, 64, 0, 0);
		offer(f, (uint16_t)i);
	}
	for (unsigned int i = 0; i < QSIZE; i++) {
		assert_int_equal(virtq_pop(&f->vq, f->c), 1);
		assert_int_equal(f->c->head, i);
	}
	assert_int_equal(virtq_pop(&f->vq, f->c), 0);
	assert_int_equal(f->errors, 0);
}

static void test_indirect(void **state)
{
	struct fx *f = *state;
	uint64_t t = 0x8000;

	set_desc(f, t, 0, BUF_GPA, 16, VIRTQ_DESC_F_NEXT, 2);
	set_desc(f, t, 2, BUF_GPA + 0x100, 32, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, t, 1, BUF_GPA + 0x200, 4, VIRTQ_DESC_F_WRITE, 0);
	set_desc(f, DESC_GPA, 9, t, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(f, 9);
	assert_int_equal(virtq_pop(&f->vq, f->c), 1);
	assert_int_equal(f->c->head, 9);
	assert_int_equal(f->c->nr_out, 2);
	assert_int_equal(f->c->nr_in, 1);
	assert_int_equal(f->c->out_len, 48);
	assert_int_equal(f->c->in_len, 4);
}

static void test_indirect_nested(void **state)
{
	struct fx *f = *state;

	set_desc(f, 0x8000, 0, 0x9000, 16, VIRTQ_DESC_F_INDIRECT, 0);
	set_desc(f, 0x9000, 0, BUF_GPA, 16, 0, 0);
	set_desc(f, DESC_GPA, 0, 0x8000, 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(f, 0);
	expect_broken(f);
}

static void test_indirect_without_feature(void **state)
{
	struct fx *f = *state;

	virtq_reset(&f->vq);
	f->vq.desc_gpa = DESC_GPA;
	f->vq.avail_gpa = AVAIL_GPA;
	f->vq.used_gpa = USED_GPA;
	assert_int_equal(virtq_enable(&f->vq, false, false), 0);
	set_desc(f, 0x8000, 0, BUF_GPA, 16, 0, 0);
	set_desc(f, DESC_GPA, 0, 0x8000, 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(f, 0);
	expect_broken(f);
}

static void test_indirect_bad_len(void **state)
{
	struct fx *f = *state;

	set_desc(f, DESC_GPA, 0, 0x8000, 24, VIRTQ_DESC_F_INDIRECT, 0);
	offer(f, 0);
	expect_broken(f);
}

static void test_indirect_with_next(void **state)
{
	struct fx *f = *state;

	set_desc(f, 0x8000, 0, BUF_GPA, 16, 0, 0);
	set_desc(f, DESC_GPA, 0, 0x8000, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, DESC_GPA, 1, BUF_GPA, 16, 0, 0);
	offer(f, 0);
	expect_broken(f);
}

static void test_indirect_outside_ram(void **state)
{
	struct fx *f = *state;

	set_desc(f, DESC_GPA, 0, MEM_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
	offer(f, 0);
	expect_broken(f);
}

static void test_indirect_loop(void **state)
{
	struct fx *f = *state;

	set_desc(f, 0x8000, 0, BUF_GPA, 16, VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 0x8000, 1, BUF_GPA, 16, VIRTQ_DESC_F_NEXT, 0);
	set_desc(f, DESC_GPA, 0, 0x8000, 32, VIRTQ_DESC_F_INDIRECT, 0);
	offer(f, 0);
	expect_broken(f);
}

static void test_indirect_too_long(void **state)
{
	struct fx *f = *state;
	unsigned int n = QSIZE + 4;

	/* A straight chain through a table bigger than the queue. */
	for (unsigned int i = 0; i < n; i++)
		set_desc(f, 0x8000, i, BUF_GPA, 8, i + 1 < n ? VIRTQ_DESC_F_NEXT : 0,
			 (uint16_t)(i + 1));
	set_desc(f, DESC_GPA, 0, 0x8000, 16 * n, VIRTQ_DESC_F_INDIRECT, 0);
	offer(f, 0);
	expect_broken(f);
}

static void test_chain_over_device_cap(void **state)
{
	struct fx *f = *state;
	struct virtq_chain *small = virtq_chain_alloc(2);

	for (unsigned int i = 0; i < 3; i++)
		set_desc(f, DESC_GPA, i, BUF_GPA, 8, i < 2 ? VIRTQ_DESC_F_NEXT : 0,
			 (uint16_t)(i + 1));
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, small), -EIO);
	assert_true(f->vq.broken);
	virtq_chain_free(small);
}

static void test_enable_checks(void **state)
{
	struct fx *f = *state;
	const uint16_t bad_sizes[] = { 0, 3, 12, QSIZE + 1, 2 * QSIZE };

	for (unsigned int i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
		virtq_reset(&f->vq);
		f->vq.size = bad_sizes[i];
		f->vq.desc_gpa = DESC_GPA;
		f->vq.avail_gpa = AVAIL_GPA;
		f->vq.used_gpa = USED_GPA;
		assert_int_equal(virtq_enable(&f->vq, true, true), -EINVAL);
		assert_false(f->vq.enabled);
	}
	virtq_reset(&f->vq);
	f->vq.desc_gpa = DESC_GPA + 8; /* misaligned */
	f->vq.avail_gpa = AVAIL_GPA;
	f->vq.used_gpa = USED_GPA;
	assert_int_equal(virtq_enable(&f->vq, true, true), -EINVAL);
	f->vq.desc_gpa = DESC_GPA;
	f->vq.used_gpa = USED_GPA + 2;
	assert_int_equal(virtq_enable(&f->vq, true, true), -EINVAL);
	f->vq.used_gpa = MEM_SIZE - 8; /* runs off the end of RAM */
	assert_int_equal(virtq_enable(&f->vq, true, true), -EINVAL);
	f->vq.used_gpa = USED_GPA;
	f->vq.size = 4;
	assert_int_equal(virtq_enable(&f->vq, true, true), 0);
	/* With size 4 a descriptor index of 4 is out of range. */
	set_desc(f, DESC_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 4);
	*avail16(f, 2) = 0;
	*avail16(f, 1) = 1;
	assert_int_equal(virtq_pop(&f->vq, f->c), -EIO);
}

static void test_reset_mid_request(void **state)
{
	struct fx *f = *state;
	struct virtq_chain *c2 = virtq_chain_alloc(QSIZE);

	set_desc(f, DESC_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, f->c), 1);
	/* Driver resets the device while the request is in flight. */
	virtq_reset(&f->vq);
	memset(f->ram + AVAIL_GPA, 0, 64);
	memset(f->ram + USED_GPA, 0, 256);
	f->vq.desc_gpa = DESC_GPA;
	f->vq.avail_gpa = AVAIL_GPA;
	f->vq.used_gpa = USED_GPA;
	assert_int_equal(virtq_enable(&f->vq, true, true), 0);
	/* The old completion lands in a dead generation and is dropped. */
	assert_int_equal(virtq_push_chain(&f->vq, f->c, 8), -ESTALE);
	assert_int_equal(used_idx(f), 0);
	assert_int_equal(f->vq.stats.stale_completions, 1);
	/* New requests work. */
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, c2), 1);
	assert_int_equal(virtq_push_chain(&f->vq, c2, 8), 0);
	assert_int_equal(used_idx(f), 1);
	virtq_chain_free(c2);
}

static void test_need_event_math(void **state)
{
	/* vring_need_event: notify if event in [old, new). */
	assert_true(virtq_need_event(0, 1, 0));
	assert_false(virtq_need_event(1, 1, 0));
	assert_true(virtq_need_event(4, 8, 3));
	assert_true(virtq_need_event(7, 8, 3));
	assert_true(virtq_need_event(3, 8, 3));
	assert_false(virtq_need_event(8, 8, 3));
	/* Wraparound at 65535 -> 0. */
	assert_true(virtq_need_event(65535, 2, 65534));
	assert_true(virtq_need_event(0, 2, 65534));
	assert_true(virtq_need_event(1, 2, 65534));
	assert_false(virtq_need_event(2, 2, 65534));
	assert_true(virtq_need_event(65534, 2, 65534));
	assert_false(virtq_need_event(100, 2, 65534));
	assert_false(virtq_need_event(5, 5, 5));
}

static void fill_and_push(struct fx *f, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		set_desc(f, DESC_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
		offer(f, 0);
		assert_int_equal(virtq_pop(&f->vq, f->c), 1);
		assert_int_equal(virtq_push_chain(&f->vq, f->c, 8), 0);
	}
}

static void test_event_idx_interrupts(void **state)
{
	struct fx *f = *state;
	uint16_t *used_event = avail16(f, 2 + QSIZE);

	fill_and_push(f, 1);
	assert_true(virtq_should_notify(&f->vq)); /* first one always */
	/* Driver wants an interrupt only after used idx passes 3. */
	*used_event = 3;
	fill_and_push(f, 2); /* used idx 3: entry 3 not used yet */
	assert_false(virtq_should_notify(&f->vq));
	fill_and_push(f, 1); /* used idx 4: entry 3 used */
	assert_true(virtq_should_notify(&f->vq));
	*used_event = 10;
	fill_and_push(f, 1); /* used 5 */
	assert_false(virtq_should_notify(&f->vq));
	fill_and_push(f, 5); /* used 10 */
	assert_false(virtq_should_notify(&f->vq));
	fill_and_push(f, 1); /* used 11: crosses event 10 */
	assert_true(virtq_should_notify(&f->vq));
	/* Nothing new pushed: no interrupt. */
	assert_false(virtq_should_notify(&f->vq));
	assert_true(f->vq.stats.notifies_suppressed >= 3);
}

static void test_event_idx_wrap(void **state)
{
	struct fx *f = *state;
	uint16_t *used_event = avail16(f, 2 + QSIZE);

	/* Run the indices up to just below the 16-bit wrap. */
	*avail16(f, 1) = 65533;
	assert_int_equal(virtq_restore(&f->vq, 65533, 65533), 0);
	virtq_restore_signalled(&f->vq, 65533, true);
	*used_event = 0;
	fill_and_push(f, 2); /* used 65535 */
	assert_false(virtq_should_notify(&f->vq));
	fill_and_push(f, 2); /* used 1: crosses 0 */
	assert_true(virtq_should_notify(&f->vq));
	assert_int_equal(used_idx(f), 1);
}

static void test_no_interrupt_flag(void **state)
{
	struct fx *f = *state;

	virtq_reset(&f->vq);
	f->vq.desc_gpa = DESC_GPA;
	f->vq.avail_gpa = AVAIL_GPA;
	f->vq.used_gpa = USED_GPA;
	assert_int_equal(virtq_enable(&f->vq, false, false), 0);
	*avail16(f, 0) = VIRTQ_AVAIL_F_NO_INTERRUPT;
	fill_and_push(f, 1);
	assert_false(virtq_should_notify(&f->vq));
	*avail16(f, 0) = 0;
	fill_and_push(f, 1);
	assert_true(virtq_should_notify(&f->vq));
	/* Device side: NO_NOTIFY while draining, cleared after. */
	virtq_disable_notify(&f->vq);
	assert_int_equal(*(uint16_t *)(f->ram + USED_GPA), VIRTQ_USED_F_NO_NOTIFY);
	assert_false(virtq_enable_notify(&f->vq));
	assert_int_equal(*(uint16_t *)(f->ram + USED_GPA), 0);
}

static void test_avail_event(void **state)
{
	struct fx *f = *state;
	uint16_t *avail_event = (uint16_t *)(f->ram + USED_GPA + 4 + 8 * QSIZE);

	fill_and_push(f, 3);
	assert_false(virtq_enable_notify(&f->vq));
	assert_int_equal(*avail_event, 3);
	/* An entry raced in after the device looked: it must drain again. */
	set_desc(f, DESC_GPA, 0, BUF_GPA, 8, 0, 0);
	offer(f, 0);
	assert_true(virtq_enable_notify(&f->vq));
}

/*
 * The avail ring laid over the used ring so that avail->idx is
 * used->flags: the NO_NOTIFY flag the device writes while draining makes
 * one buffer available, clearing it afterwards moves the index back.  A
 * device's drain loop (pop all, re-enable, again if more) spun forever
 * on this (fuzz_mmio); re-enabling must see an index virtq_pop() would
 * refuse and break the queue.
 */
static void test_avail_idx_is_used_flags(void **state)
{
	struct fx *f = *state;
	unsigned int rounds = 0;

	virtq_reset(&f->vq);
	f->vq.size = QSIZE;
	f->vq.desc_gpa = DESC_GPA;
	f->vq.avail_gpa = USED_GPA - 2;
	f->vq.used_gpa = USED_GPA;
	assert_int_equal(virtq_enable(&f->vq, false, false), 0);
	set_desc(f, DESC_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
	*(uint16_t *)(f->ram + USED_GPA) = 1; /* avail idx: head 0 is offered */
	do {
		virtq_disable_notify(&f->vq);
		while (virtq_pop(&f->vq, f->c) == 1)
			assert_int_equal(virtq_push_chain(&f->vq, f->c, 8), 0);
	} while (virtq_enable_notify(&f->vq) && ++rounds < 100);
	assert_true(rounds < 2);
	assert_true(f->vq.broken);
	assert_int_equal(f->errors, 1);
	assert_int_equal(f->vq.stats.popped, 1);
}

static uint32_t used_ent(struct fx *f, unsigned int slot, unsigned int word)
{
	uint32_t e[2];

	memcpy(e, f->ram + USED_GPA + 4 + 8 * (slot % QSIZE), 8);
	return e[word];
}

/* Post n one-buffer chains at heads first.., writable `len` bytes each. */
static void offer_n(struct fx *f, uint16_t first, unsigned int n, uint32_t len)
{
	for (unsigned int i = 0; i < n; i++) {
		set_desc(f, DESC_GPA, first + i, BUF_GPA + 0x1000 * i, len, VIRTQ_DESC_F_WRITE, 0);
		offer(f, (uint16_t)(first + i));
	}
}

/* Several chains filled, then published by one used->idx store. */
static void test_fill_flush_batch(void **state)
{
	struct fx *f = *state;
	struct virtq_chain *c[3];

	offer_n(f, 4, 3, 64);
	for (unsigned int i = 0; i < 3; i++) {
		c[i] = virtq_chain_alloc(QSIZE);
		assert_int_equal(virtq_pop(&f->vq, c[i]), 1);
	}
	/* Any order of filling; nothing is visible before the flush. */
	assert_int_equal(virtq_fill(&f->vq, c[2], 30, 2), 0);
	assert_int_equal(virtq_fill(&f->vq, c[0], 10, 0), 0);
	assert_int_equal(virtq_fill(&f->vq, c[1], 1000, 1), 0); /* capped at 64 */
	assert_int_equal(used_idx(f), 0);
	assert_false(virtq_should_notify(&f->vq) && used_idx(f) != 0);
	/* Only chains taken and not yet flushed can be filled or flushed. */
	assert_int_equal(virtq_fill(&f->vq, c[0], 1, 3), -EINVAL);
	assert_int_equal(virtq_flush(&f->vq, 4), -EINVAL);
	assert_int_equal(virtq_flush(&f->vq, 3), 0);
	assert_int_equal(used_idx(f), 3);
	assert_int_equal(f->vq.stats.pushed, 3);
	assert_int_equal(used_ent(f, 0, 0), 4);
	assert_int_equal(used_ent(f, 0, 1), 10);
	assert_int_equal(used_ent(f, 1, 0), 5);
	assert_int_equal(used_ent(f, 1, 1), 64);
	assert_int_equal(used_ent(f, 2, 0), 6);
	assert_int_equal(used_ent(f, 2, 1), 30);
	/* Nothing left in flight. */
	assert_int_equal(virtq_flush(&f->vq, 1), -EINVAL);
	assert_int_equal(virtq_flush(&f->vq, 0), 0);
	/* A chain from before a reset is dropped, not filled. */
	c[0]->gen--;
	offer_n(f, 0, 1, 8);
	assert_int_equal(virtq_pop(&f->vq, c[1]), 1);
	assert_int_equal(virtq_fill(&f->vq, c[0], 1, 0), -ESTALE);
	assert_int_equal(f->vq.stats.stale_completions, 1);
	for (unsigned int i = 0; i < 3; i++)
		virtq_chain_free(c[i]);
}

/*
 * EVENT_IDX over a batch (section 2.7.10): one flush moving used idx
 * from old to new notifies iff used_event lies in [old, new).
 */
static void test_flush_event_idx(void **state)
{
	struct fx *f = *state;
	uint16_t *used_event = avail16(f, 2 + QSIZE);

	fill_and_push(f, 1);
	assert_true(virtq_should_notify(&f->vq)); /* the first one always */
	*used_event = 3;
	offer_n(f, 0, 5, 8);
	for (unsigned int i = 0; i < 5; i++) {
		assert_int_equal(virtq_pop(&f->vq, f->c), 1);
		assert_int_equal(virtq_fill(&f->vq, f->c, 8, (uint16_t)i), 0);
	}
	/* Filled but not flushed: nothing new for the driver. */
	assert_false(virtq_should_notify(&f->vq));
	assert_int_equal(virtq_flush(&f->vq, 5), 0); /* used 1 -> 6 passes 3 */
	assert_true(virtq_should_notify(&f->vq));
	*used_event = 20;
	offer_n(f, 0, 3, 8);
	for (unsigned int i = 0; i < 3; i++) {
		assert_int_equal(virtq_pop(&f->vq, f->c), 1);
		assert_int_equal(virtq_fill(&f->vq, f->c, 8, (uint16_t)i), 0);
	}
	assert_int_equal(virtq_flush(&f->vq, 3), 0); /* 6 -> 9: 20 not reached */
	assert_false(virtq_should_notify(&f->vq));
	/* used_event at the batch's last entry: [9, 11) holds 10. */
	*used_event = 10;
	offer_n(f, 0, 2, 8);
	for (unsigned int i = 0; i < 2; i++) {
		assert_int_equal(virtq_pop(&f->vq, f->c), 1);
		assert_int_equal(virtq_fill(&f->vq, f->c, 8, (uint16_t)i), 0);
	}
	assert_int_equal(virtq_flush(&f->vq, 2), 0);
	assert_true(virtq_should_notify(&f->vq));
}

/* Chains taken but not used go back; the next pops return them again. */
static void test_rewind(void **state)
{
	struct fx *f = *state;

	offer_n(f, 1, 3, 8);
	assert_int_equal(virtq_pop(&f->vq, f->c), 1);
	assert_int_equal(virtq_pop(&f->vq, f->c), 1);
	assert_int_equal(f->c->head, 2);
	assert_int_equal(virtq_rewind(&f->vq, 3), -EINVAL); /* only 2 taken */
	assert_int_equal(virtq_rewind(&f->vq, 1), 0);
	assert_int_equal(f->vq.stats.popped, 1);
	assert_true(virtq_has_avail(&f->vq));
	assert_int_equal(virtq_pop(&f->vq, f->c), 1);
	assert_int_equal(f->c->head, 2);
	/* Used chains are not "taken" any more: they cannot be given back. */
	assert_int_equal(virtq_push_chain(&f->vq, f->c, 0), 0);
	assert_int_equal(virtq_push_chain(&f->vq, f->c, 0), 0);
	assert_int_equal(virtq_rewind(&f->vq, 1), -EINVAL);
	assert_int_equal(virtq_rewind(&f->vq, 0), 0);
	assert_int_equal(virtq_pop(&f->vq, f->c), 1);
	assert_int_equal(f->c->head, 3);
	/* A broken queue gives nothing back. */
	virtq_fail(&f->vq, "test");
	assert_int_equal(virtq_rewind(&f->vq, 1), -EIO);
}

/* Indices set from outside (state load, vhost-user) must fit the ring. */
static void test_restore(void **state)
{
	struct fx *f = *state;
	struct virtq saved;

	*avail16(f, 1) = 5;
	*avail16(f, 2 + 3) = 7;
	set_desc(f, DESC_GPA, 7, BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
	assert_int_equal(virtq_restore(&f->vq, 3, 1), 0);
	assert_int_equal(f->vq.last_avail, 3);
	assert_int_equal(f->vq.used_idx, 1);
	assert_false(f->vq.signalled_used_valid);
	assert_int_equal(virtq_pop(&f->vq, f->c), 1); /* ring entry 3 */
	assert_int_equal(f->c->head, 7);
	/* Two taken before the restore, this one now: three to complete. */
	assert_int_equal(virtq_flush(&f->vq, 3), 0);
	assert_int_equal(used_idx(f), 4);
	assert_int_equal(virtq_used_idx_in_ring(&f->vq), 4);

	saved = f->vq;
	/* More available than the ring holds: 40 - 2 > 16. */
	*avail16(f, 1) = 40;
	assert_int_equal(virtq_restore(&f->vq, 2, 2), -EINVAL);
	/* last_avail ahead of the driver's avail idx. */
	*avail16(f, 1) = 5;
	assert_int_equal(virtq_restore(&f->vq, 7, 7), -EINVAL);
	/* More taken-and-not-used than the ring holds. */
	assert_int_equal(virtq_restore(&f->vq, 5, 65500), -EINVAL);
	/* used idx ahead of last_avail. */
	assert_int_equal(virtq_restore(&f->vq, 5, 6), -EINVAL);
	/* Refusals changed nothing. */
	assert_int_equal(f->vq.last_avail, saved.last_avail);
	assert_int_equal(f->vq.used_idx, saved.used_idx);
	/* Exactly full both ways is fine, across the 16-bit wrap too. */
	*avail16(f, 1) = 10;
	assert_int_equal(virtq_restore(&f->vq, 65530, 65530 - QSIZE), 0);
	assert_int_equal(virtq_restore(&f->vq, (uint16_t)(10 - QSIZE), (uint16_t)(10 - QSIZE)), 0);
	/* A disabled queue has no ring to check against. */
	virtq_reset(&f->vq);
	assert_int_equal(virtq_restore(&f->vq, 0, 0), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_empty),
		T(test_pop_push),
		T(test_fill_marks_every_writable_buffer),
		T(test_loop),
		T(test_self_loop),
		T(test_out_of_range),
		T(test_addr_overflow),
		T(test_wrong_direction),
		T(test_zero_length_chain),
		T(test_next_out_of_range),
		T(test_head_out_of_range),
		T(test_avail_idx_jump),
		T(test_avail_idx_full_ok),
		T(test_indirect),
		T(test_indirect_nested),
		T(test_indirect_without_feature),
		T(test_indirect_bad_len),
		T(test_indirect_with_next),
		T(test_indirect_outside_ram),
		T(test_indirect_loop),
		T(test_indirect_too_long),
		T(test_chain_over_device_cap),
		T(test_enable_checks),
		T(test_reset_mid_request),
		T(test_need_event_math),
		T(test_event_idx_interrupts),
		T(test_event_idx_wrap),
		T(test_no_interrupt_flag),
		T(test_avail_event),
		T(test_avail_idx_is_used_flags),
		T(test_fill_flush_batch),
		T(test_flush_event_idx),
		T(test_rewind),
		T(test_restore),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
