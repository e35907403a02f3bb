// SPDX-License-Identifier: MIT
/*
 * virtio-balloon against real guest memory (anonymous and memfd, so the
 * discards are the kernel's): inflate gives pages back and they read as
 * zero, deflate touches nothing, bad PFNs are counted and skipped, the
 * stats buffer is held and given back, free page reports are discarded,
 * queue roles follow the negotiated features, the config space, a flood
 * is served in budgets, and the --balloon / memory.balloon parsers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "mem/gmem.h"
#include "util/error.h"
#include "virtio/devices.h"
#include "virtio/virtio.h"
#include "virtio/virtq.h"
#include "vm/config.h"
#include "vm/config_json.h"

#define MEM_SIZE (4u << 20)
#define RING(q) (0x1000 + (q) * 0x4000) /* desc; avail +0x1000, used +0x2000 */
#define BUF_GPA 0x20000
#define QSIZE 16

struct fx {
	struct gmem mem;
	uint8_t *ram;
	struct virtio_dev *vd;
	int irqs, config_irqs;
};

static void fake_notify_queue(void *t, struct virtq *vq)
{
	(void)vq;
	((struct fx *)t)->irqs++;
}

static void fake_notify_config(void *t)
{
	((struct fx *)t)->config_irqs++;
}

static const struct virtio_transport_ops fake_tops = {
	.notify_queue = fake_notify_queue,
	.notify_config = fake_notify_config,
};

static void fx_init(struct fx *f, enum gmem_backing backing,
		    const struct virtio_balloon_config *cfg)
{
	struct gmem_opts o = { .backing = backing };

	memset(f, 0, sizeof(*f));
	assert_int_equal(gmem_init(&f->mem, &o), 0);
	assert_int_equal(gmem_add_region(&f->mem, 0, MEM_SIZE), 0);
	f->ram = gmem_ptr(&f->mem, 0, MEM_SIZE);
	assert_non_null(f->ram);
	assert_int_equal(virtio_balloon_new(&f->mem, NULL, cfg, &f->vd), 0);
	f->vd->tops = &fake_tops;
	f->vd->transport = f;
}

static void fx_fini(struct fx *f)
{
	f->vd->ops->destroy(f->vd);
	gmem_destroy(&f->mem);
}

/* Negotiate `features` (all offered ones with ~0) and enable every queue. */
static void start_sized(struct fx *f, uint64_t features, uint16_t size)
{
	struct virtio_dev *vd = f->vd;

	features &= vd->host_features;
	virtio_dev_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_dev_write_features(vd, 0, (uint32_t)features);
	virtio_dev_write_features(vd, 1, (uint32_t)(features >> 32));
	virtio_dev_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					  VIRTIO_STATUS_FEATURES_OK);
	for (unsigned int q = 0; q < vd->nr_queues; q++) {
		vd->vqs[q].size = size;
		vd->vqs[q].desc_gpa = RING(q);
		vd->vqs[q].avail_gpa = RING(q) + 0x1000;
		vd->vqs[q].used_gpa = RING(q) + 0x2000;
		assert_int_equal(virtio_dev_queue_enable(vd, q), 0);
	}
	virtio_dev_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					  VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	assert_true(virtio_dev_active(vd));
}

static void start(struct fx *f, uint64_t features)
{
	start_sized(f, features, QSIZE);
}

static void post(struct fx *f, unsigned int q, uint64_t addr, uint32_t len, uint16_t flags)
{
	struct virtq_desc d = { .addr = addr, .len = len, .flags = flags };
	uint16_t *avail = (uint16_t *)(f->ram + RING(q) + 0x1000);
	uint16_t idx = avail[1], size = f->vd->vqs[q].size;

	memcpy(f->ram + RING(q) + 16 * (idx % size), &d, sizeof(d));
	avail[2 + idx % size] = idx % size;
	avail[1] = idx + 1;
}

static uint16_t used_idx(struct fx *f, unsigned int q)
{
	return *(uint16_t *)(f->ram + RING(q) + 0x2000 + 2);
}

static void put_pfns(struct fx *f, const uint32_t *pfns, unsigned int n)
{
	memcpy(f->ram + BUF_GPA, pfns, n * 4);
}

static bool page_is(struct fx *f, uint32_t pfn, uint8_t v)
{
	for (unsigned int i = 0; i < 4096; i++)
		if (f->ram[(uint64_t)pfn * 4096 + i] != v)
			return false;
	return true;
}

static int64_t stat_of(struct fx *f, const char *name)
{
	struct json_object *o = json_object_new_object(), *v;
	int64_t r = -1;

	f->vd->ops->stats(f->vd, o);
	if (json_object_object_get_ex(o, name, &v))
		r = json_object_get_int64(v);
	json_object_put(o);
	return r;
}

static const struct virtio_balloon_config defaults = { .enabled = true };

static void inflate_and_deflate(enum gmem_backing backing)
{
	/* Two runs (0x200-0x207, 0x300), one PFN past RAM, one in the middle of a run. */
	const uint32_t pfns[] = { 0x200, 0x201, 0x202, 0x203, 0x204, 0x205,
				  0x206, 0x207, 0x300, 0xfffff, 0x301 };
	struct fx f;

	fx_init(&f, backing, &defaults);
	start(&f, ~0ull);
	memset(f.ram + 0x200000, 0xaa, 0x200000);
	put_pfns(&f, pfns, 11);
	post(&f, 0, BUF_GPA, sizeof(pfns), 0);
	virtio_dev_kick(f.vd, 0);
	assert_int_equal(used_idx(&f, 0), 1);
	for (uint32_t p = 0x200; p < 0x208; p++)
		assert_true(page_is(&f, p, 0));
	assert_true(page_is(&f, 0x300, 0));
	assert_true(page_is(&f, 0x301, 0));
	assert_true(page_is(&f, 0x208, 0xaa));
	assert_true(page_is(&f, 0x2ff, 0xaa));
	assert_int_equal(stat_of(&f, "inflated_pages"), 11);
	assert_int_equal(stat_of(&f, "bad_pfns"), 1);
	assert_int_equal(stat_of(&f, "discard_errors"), 0);
	assert_int_equal(f.irqs, 1);

	/* Deflate gives nothing back and touches nothing. */
	memset(f.ram + 0x200000, 0xcc, 4096);
	post(&f, 1, BUF_GPA, sizeof(pfns), 0);
	virtio_dev_kick(f.vd, 1);
	assert_int_equal(used_idx(&f, 1), 1);
	assert_true(page_is(&f, 0x200, 0xcc));
	assert_int_equal(stat_of(&f, "deflated_pages"), 11);
	fx_fini(&f);
}

static void test_inflate_anon(void **state)
{
	(void)state;
	inflate_and_deflate(GMEM_BACKING_ANON);
}

static void test_inflate_memfd(void **state)
{
	(void)state;
	inflate_and_deflate(GMEM_BACKING_MEMFD);
}

/* The ring pages themselves and the buffers may be inflated: no crash, they read zero. */
static void test_hostile_pfns(void **state)
{
	uint32_t pfns[1024];
	struct fx f;

	(void)state;
	fx_init(&f, GMEM_BACKING_ANON, &defaults);
	start(&f, ~0ull);
	for (unsigned int i = 0; i < 1024; i++)
		pfns[i] = 0xffffffffu - i; /* all past RAM: nothing discarded */
	put_pfns(&f, pfns, 1024);
	memset(f.ram + 0x100000, 0x5a, 4096);
	post(&f, 0, BUF_GPA, sizeof(pfns), 0);
	/* A PFN list that is not a whole number of PFNs, and one in a writable buffer. */
	post(&f, 0, BUF_GPA, 7, 0);
	post(&f, 0, BUF_GPA, 8, VIRTQ_DESC_F_WRITE);
	virtio_dev_kick(f.vd, 0);
	assert_int_equal(used_idx(&f, 0), 3);
	assert_int_equal(stat_of(&f, "bad_pfns"), 1024 + 1);
	assert_true(page_is(&f, 0x100, 0x5a));
	assert_false(f.vd->vqs[0].broken);
	fx_fini(&f);
}

/* More chains than the budget (64): served in turns (the rest is signalled). */
static void test_flood_is_served_in_budgets(void **state)
{
	const uint32_t pfn = 0x300;
	struct fx f;

	(void)state;
	fx_init(&f, GMEM_BACKING_ANON, &defaults);
	start_sized(&f, ~0ull, 128);
	put_pfns(&f, &pfn, 1);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 128; i++)
			post(&f, 0, BUF_GPA, 4, 0);
		virtio_dev_kick(f.vd, 0);
	}
	/* Without a loop the signal is a kick at once: every chain was served. */
	assert_int_equal(used_idx(&f, 0), 3 * 128);
	assert_int_equal(stat_of(&f, "inflated_pages"), 3 * 128);
	fx_fini(&f);
}

static void put_stat(uint8_t *p, uint16_t tag, uint64_t val)
{
	memcpy(p, &tag, 2);
	memcpy(p + 2, &val, 8);
}

static void test_stats_buffer_is_held(void **state)
{
	struct virtio_balloon_state st;
	uint8_t *b;
	struct fx f;

	(void)state;
	fx_init(&f, GMEM_BACKING_ANON, &defaults);
	start(&f, ~0ull);
	b = f.ram + BUF_GPA;
	put_stat(b, VIRTIO_BALLOON_S_MEMFREE, 1000);
	put_stat(b + 10, VIRTIO_BALLOON_S_MEMTOT, 2000);
	put_stat(b + 20, 77, 5); /* unknown: skipped */
	put_stat(b + 30, VIRTIO_BALLOON_S_MAJFLT, 3);
	post(&f, 2, BUF_GPA, 40, 0);
	virtio_dev_kick(f.vd, 2);
	/* Held, not returned, until new figures are wanted. */
	assert_int_equal(used_idx(&f, 2), 0);
	assert_int_equal(virtio_balloon_get(f.vd, &st), 0);
	assert_int_equal(st.stats.val[VIRTIO_BALLOON_S_MEMFREE], 1000);
	assert_int_equal(st.stats.val[VIRTIO_BALLOON_S_MEMTOT], 2000);
	assert_int_equal(st.stats.val[VIRTIO_BALLOON_S_MAJFLT], 3);
	assert_int_equal(st.stats.have, (1u << VIRTIO_BALLOON_S_MEMFREE) |
						(1u << VIRTIO_BALLOON_S_MEMTOT) |
						(1u << VIRTIO_BALLOON_S_MAJFLT));
	assert_true(st.stats.last_update > 0);
	/* A new period asks at once: the buffer goes back to the driver. */
	assert_int_equal(virtio_balloon_set_period(f.vd, 10), 0);
	assert_int_equal(used_idx(&f, 2), 1);
	/* The driver's refill is read again. */
	put_stat(b, VIRTIO_BALLOON_S_MEMFREE, 900);
	post(&f, 2, BUF_GPA, 10, 0);
	virtio_dev_kick(f.vd, 2);
	assert_int_equal(virtio_balloon_get(f.vd, &st), 0);
	assert_int_equal(st.stats.val[VIRTIO_BALLOON_S_MEMFREE], 900);
	assert_int_equal(st.stats.updates, 2);
	fx_fini(&f);
}

static void test_free_page_reporting(void **state)
{
	const struct virtio_balloon_config cfg = { .enabled = true, .free_page_reporting = true };
	struct fx f;

	(void)state;
	fx_init(&f, GMEM_BACKING_ANON, &cfg);
	assert_int_equal(f.vd->nr_queues, 4);
	start(&f, ~0ull);
	memset(f.ram + 0x200000, 0xbb, 0x200000);
	/* 2 MiB free at 2 MiB, then a range past RAM. */
	post(&f, 3, 0x200000, 0x200000, VIRTQ_DESC_F_WRITE);
	virtio_dev_kick(f.vd, 3);
	assert_int_equal(used_idx(&f, 3), 1);
	assert_true(page_is(&f, 0x200, 0));
	assert_true(page_is(&f, 0x3ff, 0));
	assert_int_equal(stat_of(&f, "reported_bytes"), 0x200000);
	fx_fini(&f);
}

/* A driver without STATS_VQ numbers the reporting queue 2 (no hole). */
static void test_roles_follow_features(void **state)
{
	const struct virtio_balloon_config cfg = { .enabled = true, .free_page_reporting = true };
	struct fx f;

	(void)state;
	fx_init(&f, GMEM_BACKING_ANON, &cfg);
	start(&f, ~(1ull << 1));
	memset(f.ram + 0x200000, 0xbb, 0x1000);
	post(&f, 2, 0x200000, 0x1000, VIRTQ_DESC_F_WRITE);
	virtio_dev_kick(f.vd, 2);
	assert_int_equal(used_idx(&f, 2), 1);
	assert_true(page_is(&f, 0x200, 0));
	assert_int_equal(stat_of(&f, "reported_bytes"), 0x1000);
	fx_fini(&f);
}

static void test_config_space(void **state)
{
	struct virtio_balloon_state st;
	uint32_t v = 0, w = 12345;
	struct fx f;

	(void)state;
	fx_init(&f, GMEM_BACKING_ANON, &defaults);
	start(&f, ~0ull);
	assert_int_equal(virtio_balloon_set_target(f.vd, 1 << 20), 0);
	assert_int_equal(f.config_irqs, 1);
	f.vd->ops->config_read(f.vd, 0, &v, 4);
	assert_int_equal(v, 256);
	/* num_pages is the device's: a driver write changes nothing. */
	f.vd->ops->config_write(f.vd, 0, &w, 4);
	f.vd->ops->config_read(f.vd, 0, &v, 4);
	assert_int_equal(v, 256);
	f.vd->ops->config_write(f.vd, 4, &w, 4);
	assert_int_equal(virtio_balloon_get(f.vd, &st), 0);
	assert_int_equal(st.actual, 12345ull * 4096);
	assert_int_equal(st.target, 1 << 20);
	/* More than the RAM there is. */
	assert_int_equal(virtio_balloon_set_target(f.vd, MEM_SIZE + 4096), -ERANGE);
	/* A reset forgets the driver's count, keeps the host's target. */
	virtio_dev_reset(f.vd);
	assert_int_equal(virtio_balloon_get(f.vd, &st), 0);
	assert_int_equal(st.actual, 0);
	assert_int_equal(st.target, 1 << 20);
	fx_fini(&f);
}

static void test_parsers(void **state)
{
	struct error err = ERROR_INIT;
	struct virtio_balloon_config *b;
	struct vm_config c;

	(void)state;
	vm_config_init(&c);
	assert_int_equal(vm_config_parse_dev(&c, &virtio_balloon_kind,
					     "free_page_reporting=on,stats_period=2,floor=256M",
					     &err),
			 0);
	b = vm_config_dev(&c, &virtio_balloon_kind, 0);
	assert_non_null(b);
	assert_true(b->free_page_reporting && !b->deflate_on_oom);
	assert_int_equal(b->stats_period, 2);
	assert_int_equal(b->floor, 256ull << 20);
	assert_int_equal(vm_config_parse_dev(&c, &virtio_balloon_kind, "off", &err), 0);
	assert_null(vm_config_dev(&c, &virtio_balloon_kind, 0));
	assert_int_not_equal(vm_config_parse_dev(&c, &virtio_balloon_kind, "stats_period=-1", &err),
			     0);
	vm_config_free(&c);
	vm_config_init(&c);
	err = (struct error)ERROR_INIT;
	const char *j = "{\"kernel\": \"/k\", \"memory\": {\"size\": \"1G\", \"balloon\": "
			"{\"deflate_on_oom\": true}}}";
	assert_int_equal(vm_config_from_json_string(j, strlen(j), &c, &err), 0);
	b = vm_config_dev(&c, &virtio_balloon_kind, 0);
	assert_non_null(b);
	assert_true(b->deflate_on_oom);
	assert_int_equal(b->stats_period, 5);
	vm_config_free(&c);
	vm_config_init(&c);
	err = (struct error)ERROR_INIT;
	j = "{\"kernel\": \"/k\", \"memory\": {\"size\": \"1G\", \"backing\": \"hugetlb\", "
	    "\"balloon\": true}}";
	assert_int_not_equal(vm_config_from_json_string(j, strlen(j), &c, &err), 0);
	assert_non_null(strstr(error_msg(&err), "memory.balloon: a balloon cannot return memory"));
	vm_config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inflate_anon),
		cmocka_unit_test(test_inflate_memfd),
		cmocka_unit_test(test_hostile_pfns),
		cmocka_unit_test(test_flood_is_served_in_budgets),
		cmocka_unit_test(test_stats_buffer_is_held),
		cmocka_unit_test(test_free_page_reporting),
		cmocka_unit_test(test_roles_follow_features),
		cmocka_unit_test(test_config_space),
		cmocka_unit_test(test_parsers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
