// SPDX-License-Identifier: MIT
/*
 * The component table (src/util/component.c) and the state streams it
 * saves into (src/util/stream.c), then the lifecycle built on them:
 * pausing a virtio-blk function on its virtio-pci transport with block
 * requests in flight, as part of components_pause() and of vm_quiesce(),
 * without KVM (the requests run on a raw file through the real block
 * layer, as in test_virtio_blk.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/block.h"
#include "block/qcow2.h"
#include "bus/bus.h"
#include "bus/host.h"
#include "devices/pci.h"
#include "mem/gmem.h"
#include "util/component.h"
#include "util/evloop.h"
#include "util/stream.h"
#include "virtio/devices.h"
#include "virtio/virtio-pci.h"
#include "virtio/virtio.h"
#include "vm/config.h"
#include "vm/vm.h"

/* ---- the table, with components that log what is done to them ---------- */

static char oplog[512];

struct comp {
	char name;
	int fail_pause; /* pause returns this when non-zero */
	uint32_t value; /* saved state */
	int saves, loads;
};

static void logop(char op, struct comp *c)
{
	size_t n = strlen(oplog);

	if (n + 3 < sizeof(oplog)) {
		oplog[n] = op;
		oplog[n + 1] = c->name;
		oplog[n + 2] = ' ';
		oplog[n + 3] = 0;
	}
}

static int c_reset(void *o)
{
	logop('R', o);
	return 0;
}

static int c_pause(void *o)
{
	struct comp *c = o;

	logop('P', c);
	return c->fail_pause;
}

static int c_resume(void *o)
{
	logop('U', o);
	return 0;
}

static int c_save(void *o, struct stream *s, struct error *err)
{
	struct comp *c = o;

	c->saves++;
	stream_put_u32(s, c->value);
	return 0;
}

static int c_load(void *o, struct stream *s, struct error *err)
{
	struct comp *c = o;

	c->loads++;
	c->value = stream_get_u32(s);
	return 0;
}

static void c_stats(void *o, struct json_object *obj)
{
	json_object_object_add(obj, "value", json_object_new_int64(((struct comp *)o)->value));
}

static void c_destroy(void *o)
{
	logop('D', o);
}

static const struct component_ops full_ops = {
	.reset = c_reset,
	.pause = c_pause,
	.resume = c_resume,
	.save = c_save,
	.load = c_load,
	.stats = c_stats,
	.destroy = c_destroy,
};

/* No save/load: what every component is until the save/restore work. */
static const struct component_ops nosave_ops = {
	.reset = c_reset,
	.pause = c_pause,
	.resume = c_resume,
	.destroy = c_destroy,
};

static void test_ids(void **state)
{
	struct components t;
	struct comp a = { .name = 'a' }, b = { .name = 'b' };
	struct error err = ERROR_INIT;
	char id[COMPONENT_ID_MAX], longid[COMPONENT_ID_MAX + 8];

	(void)state;
	components_init(&t);
	assert_int_equal(components_add(&t, "serial0", &full_ops, &a, &err), 0);
	/* A duplicate id is refused, and the first one stays. */
	assert_int_equal(components_add(&t, "serial0", &full_ops, &b, &err), -EEXIST);
	assert_non_null(strstr(error_msg(&err), "serial0"));
	assert_ptr_equal(components_find(&t, "serial0"), &a);
	assert_int_equal(t.nr, 1);
	error_clear(&err);
	assert_int_equal(components_add(&t, "", &full_ops, &b, &err), -EINVAL);
	memset(longid, 'x', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = 0;
	assert_int_equal(components_add(&t, longid, &full_ops, &b, NULL), -EINVAL);
	assert_null(components_find(&t, "nope"));

	/* Numbered kinds take the first free number. */
	assert_int_equal(components_unique_id(&t, "virtio-blk", id, sizeof(id)), 0);
	assert_string_equal(id, "virtio-blk0");
	assert_int_equal(components_add(&t, id, &full_ops, &b, NULL), 0);
	assert_int_equal(components_unique_id(&t, "virtio-blk", id, sizeof(id)), 0);
	assert_string_equal(id, "virtio-blk1");
	assert_int_equal(components_unique_id(&t, "serial", id, sizeof(id)), 0);
	assert_string_equal(id, "serial1");

	/* Removing does not destroy. */
	oplog[0] = 0;
	assert_int_equal(components_remove(&t, "virtio-blk0"), 0);
	assert_int_equal(components_remove(&t, "virtio-blk0"), -ENOENT);
	assert_string_equal(oplog, "");
	components_fini(&t);
	assert_string_equal(oplog, "Da ");
}

static void test_order(void **state)
{
	struct components t;
	struct comp a = { .name = 'a' }, b = { .name = 'b' }, c = { .name = 'c' };
	struct json_object *obj;

	(void)state;
	components_init(&t);
	assert_int_equal(components_add(&t, "a", &full_ops, &a, NULL), 0);
	assert_int_equal(components_add(&t, "b", &nosave_ops, &b, NULL), 0);
	assert_int_equal(components_add(&t, "c", &full_ops, &c, NULL), 0);
	oplog[0] = 0;
	assert_int_equal(components_reset(&t), 0);
	assert_int_equal(components_pause(&t, NULL), 0);
	assert_int_equal(components_resume(&t, NULL), 0);
	/* Reset and pause in registration order, resume in reverse. */
	assert_string_equal(oplog, "Ra Rb Rc Pa Pb Pc Uc Ub Ua ");

	/* Stats only for those with a stats op, keyed by id. */
	obj = json_object_new_object();
	c.value = 7;
	components_stats(&t, obj);
	assert_int_equal(json_object_object_length(obj), 2);
	assert_string_equal(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN),
			    "{\"a\":{\"value\":0},\"c\":{\"value\":7}}");
	json_object_put(obj);

	/* Destroy in reverse. */
	oplog[0] = 0;
	components_fini(&t);
	assert_string_equal(oplog, "Dc Db Da ");
}

/* A pause that fails undoes the ones before it and never reaches the rest. */
static void test_pause_rollback(void **state)
{
	struct components t;
	struct comp a = { .name = 'a' }, b = { .name = 'b' }, c = { .name = 'c' },
		    d = { .name = 'd', .fail_pause = -EBUSY };
	struct error err = ERROR_INIT;

	(void)state;
	components_init(&t);
	components_add(&t, "a", &full_ops, &a, NULL);
	components_add(&t, "b", &full_ops, &b, NULL);
	components_add(&t, "d", &full_ops, &d, NULL);
	components_add(&t, "c", &full_ops, &c, NULL);
	oplog[0] = 0;
	assert_int_equal(components_pause(&t, &err), -EBUSY);
	assert_string_equal(oplog, "Pa Pb Pd Ub Ua ");
	assert_non_null(strstr(error_msg(&err), "d: cannot pause"));
	/* The first failing component is named; the table still works. */
	d.fail_pause = 0;
	oplog[0] = 0;
	assert_int_equal(components_pause(&t, NULL), 0);
	assert_string_equal(oplog, "Pa Pb Pd Pc ");
	oplog[0] = 0;
	components_fini(&t);
	assert_string_equal(oplog, "Dc Dd Db Da ");
}

/* Save every component; `skip` leaves one id out, `dup` writes one twice. */
static void save_sections(struct stream *s, struct components *t, const char *skip,
			  const char *dup)
{
	struct error err = ERROR_INIT;

	stream_init_writer(s, 1 << 16);
	for (unsigned int i = 0; i < t->nr; i++) {
		struct component *comp = &t->items[i];
		int times = dup && !strcmp(comp->id, dup) ? 2 : 1;

		if (skip && !strcmp(comp->id, skip))
			continue;
		while (times--) {
			struct stream_section sec;

			stream_section_begin(s, &sec, STREAM_TAG('C', 'O', 'M', 'P'), 1);
			stream_put_u8(s, (uint8_t)strlen(comp->id));
			stream_put_bytes(s, comp->id, strlen(comp->id));
			assert_int_equal(comp->ops->save(comp->opaque, s, &err), 0);
			stream_section_end(s, &sec);
		}
	}
	assert_int_equal(stream_error(s), 0);
}

static void test_save_load(void **state)
{
	struct components t, u;
	struct comp a = { .name = 'a', .value = 11 }, b = { .name = 'b', .value = 22 };
	struct comp a2 = { .name = 'a' }, b2 = { .name = 'b' }, x = { .name = 'x' };
	struct error err = ERROR_INIT;
	struct stream w, r;

	(void)state;
	components_init(&t);
	components_add(&t, "alpha", &full_ops, &a, NULL);
	components_add(&t, "beta", &full_ops, &b, NULL);
	stream_init_writer(&w, 1 << 16);
	assert_int_equal(components_save(&t, &w, &err), 0);

	/* Loaded into a table with the same ids, in another order. */
	components_init(&u);
	components_add(&u, "beta", &full_ops, &b2, NULL);
	components_add(&u, "alpha", &full_ops, &a2, NULL);
	stream_init_reader(&r, w.buf, w.len);
	assert_int_equal(components_load(&u, &r, &err), 0);
	assert_int_equal(a2.value, 11);
	assert_int_equal(b2.value, 22);

	/* Truncated anywhere: refused with a message, never read past the end. */
	for (size_t len = 0; len < w.len; len++) {
		struct error e = ERROR_INIT;

		stream_init_reader(&r, w.buf, len);
		if (len == 0) {
			/* An empty stream has nothing for either component. */
			assert_int_equal(components_load(&u, &r, &e), -EPROTO);
			assert_non_null(strstr(error_msg(&e), "nothing for"));
			continue;
		}
		assert_true(components_load(&u, &r, &e) < 0);
		assert_true(error_is_set(&e));
	}
	stream_free(&w);

	/* An id the table does not have. */
	components_add(&t, "extra", &full_ops, &x, NULL);
	save_sections(&w, &t, NULL, NULL);
	stream_init_reader(&r, w.buf, w.len);
	error_clear(&err);
	assert_int_equal(components_load(&u, &r, &err), -EPROTO);
	assert_non_null(strstr(error_msg(&err), "unknown component \"extra\""));
	stream_free(&w);
	components_remove(&t, "extra");

	/* The same id twice. */
	save_sections(&w, &t, NULL, "alpha");
	stream_init_reader(&r, w.buf, w.len);
	error_clear(&err);
	assert_int_equal(components_load(&u, &r, &err), -EPROTO);
	assert_non_null(strstr(error_msg(&err), "repeated component \"alpha\""));
	stream_free(&w);

	/* One missing. */
	save_sections(&w, &t, "beta", NULL);
	stream_init_reader(&r, w.buf, w.len);
	error_clear(&err);
	assert_int_equal(components_load(&u, &r, &err), -EPROTO);
	assert_non_null(strstr(error_msg(&err), "nothing for \"beta\""));
	stream_free(&w);

	/* A component without save is named by components_save(). */
	components_add(&t, "serial0", &nosave_ops, &x, NULL);
	stream_init_writer(&w, 1 << 16);
	error_clear(&err);
	assert_int_equal(components_save(&t, &w, &err), -ENOTSUP);
	assert_non_null(strstr(error_msg(&err), "serial0"));
	stream_free(&w);

	components_fini(&t);
	components_fini(&u);
}

/* ---- streams ------------------------------------------------------------- */

static void test_stream(void **state)
{
	struct stream w, r;
	struct stream_section sec, inner;
	uint8_t bytes[3];

	(void)state;
	stream_init_writer(&w, 64);
	stream_section_begin(&w, &sec, STREAM_TAG('T', 'E', 'S', 'T'), 3);
	stream_put_u8(&w, 0x12);
	stream_put_u16(&w, 0x3456);
	stream_put_u32(&w, 0x789abcde);
	stream_put_u64(&w, 0x0102030405060708ull);
	stream_section_end(&w, &sec);
	assert_int_equal(stream_error(&w), 0);
	assert_int_equal(w.len, 12 + 15);
	/* Little-endian on the wire. */
	assert_int_equal(w.buf[12 + 1], 0x56);
	assert_int_equal(w.buf[12 + 2], 0x34);

	stream_init_reader(&r, w.buf, w.len);
	assert_int_equal(stream_section_open(&r, &sec, STREAM_TAG('T', 'E', 'S', 'T')), 3);
	assert_int_equal(stream_get_u8(&r), 0x12);
	assert_int_equal(stream_get_u16(&r), 0x3456);
	assert_int_equal(stream_get_u32(&r), 0x789abcde);
	assert_true(stream_get_u64(&r) == 0x0102030405060708ull);
	stream_section_close(&r, &sec);
	assert_int_equal(stream_error(&r), 0);
	assert_int_equal(stream_remaining(&r), 0);

	/* A read past the section fails and stays failed, returning zeroes. */
	stream_init_reader(&r, w.buf, w.len);
	stream_section_open(&r, &sec, STREAM_TAG('T', 'E', 'S', 'T'));
	stream_get_bytes(&r, bytes, 3);
	assert_int_equal(bytes[0], 0x12);
	assert_int_equal(stream_get_u32(&r), 0x789abcde);
	assert_int_equal(stream_error(&r), 0);
	stream_get_bytes(&r, bytes, 3);
	stream_get_u64(&r); /* 3 + 4 + 3 + 8 > 15 */
	assert_int_equal(stream_error(&r), -EPROTO);
	assert_int_equal(stream_get_u32(&r), 0);
	assert_non_null(strstr(r.err.msg, "truncated"));

	/* A section not read to its end is refused at close. */
	stream_init_reader(&r, w.buf, w.len);
	stream_section_open(&r, &sec, STREAM_TAG('T', 'E', 'S', 'T'));
	stream_get_u8(&r);
	stream_section_close(&r, &sec);
	assert_int_equal(stream_error(&r), -EPROTO);

	/* The wrong tag, and a length beyond the data. */
	stream_init_reader(&r, w.buf, w.len);
	assert_int_equal(stream_section_open(&r, &sec, STREAM_TAG('N', 'O', 'P', 'E')), 0);
	assert_int_equal(stream_error(&r), -EPROTO);
	stream_init_reader(&r, w.buf, w.len - 1);
	assert_int_equal(stream_section_open(&r, &sec, STREAM_TAG('T', 'E', 'S', 'T')), 0);
	assert_non_null(strstr(r.err.msg, "claims"));

	/* Nested sections: the inner limit holds, then the outer one again. */
	stream_free(&w);
	stream_init_writer(&w, 64);
	stream_section_begin(&w, &sec, STREAM_TAG('O', 'U', 'T', 'R'), 1);
	stream_section_begin(&w, &inner, STREAM_TAG('I', 'N', 'N', 'R'), 1);
	stream_put_u16(&w, 7);
	stream_section_end(&w, &inner);
	stream_put_u8(&w, 9);
	stream_section_end(&w, &sec);
	stream_init_reader(&r, w.buf, w.len);
	stream_section_open(&r, &sec, STREAM_TAG('O', 'U', 'T', 'R'));
	stream_section_open(&r, &inner, STREAM_TAG('I', 'N', 'N', 'R'));
	assert_int_equal(stream_remaining(&r), 2);
	assert_int_equal(stream_get_u16(&r), 7);
	stream_section_close(&r, &inner);
	assert_int_equal(stream_get_u8(&r), 9);
	stream_section_close(&r, &sec);
	assert_int_equal(stream_error(&r), 0);

	/* The writer's bound. */
	stream_free(&w);
	stream_init_writer(&w, 10);
	stream_put_u64(&w, 1);
	stream_put_u32(&w, 2);
	assert_int_equal(stream_error(&w), -EFBIG);
	assert_int_equal(w.len, 8);
	stream_free(&w);
}

/* ---- pause with block I/O in flight ------------------------------------ */

#define MEM_SIZE (8u << 20)
#define QSIZE 64
#define DESC_GPA 0x1000
#define AVAIL_GPA 0x2000
#define USED_GPA 0x3000
#define HDR_GPA 0x10000
#define STATUS_GPA 0x11000
#define DATA_GPA 0x100000
#define DATA_SLOT 0x10000
#define DISK_SIZE (4u << 20)
#define T_OUT 1

struct fx {
	struct gmem mem;
	uint8_t *ram;
	char path[256];
	struct vm_disk_config dc;
	struct bus pio, mmio;
	struct evloop *loop;
	struct components own;
	struct components *comps; /* own, or a VM's */
	struct dev_host host;
	struct pci_bus *pci;
	struct virtio_dev *vd;
	int irqs;
	uint16_t avail_idx;
};

static int fake_irq_line(void *opaque, uint32_t irq, int level)
{
	if (level)
		((struct fx *)opaque)->irqs++;
	return 0;
}

/*
 * A machine with just PCI bus 0 and one virtio-blk function (slot 1), in
 * table (or its own).  With iothread, the disk gets its I/O thread, which
 * reaps completions and polls the avail ring for a second after each
 * burst, without any kick.
 */
static const char *fx_format = "raw"; /* the disk's: raw or qcow2 */

static struct fx *fx_new(struct components *table, bool iothread)
{
	const char *dir = getenv("UNIT_TMPDIR");
	struct blk_create_opts co = { .size = DISK_SIZE };
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->ram = calloc(1, MEM_SIZE);
	gmem_init(&f->mem, NULL);
	assert_int_equal(gmem_add_mapped(&f->mem, 0, MEM_SIZE, f->ram, -1, 0), 0);
	assert_int_equal(bus_init(&f->pio, "pio"), 0);
	assert_int_equal(bus_init(&f->mmio, "mmio"), 0);
	assert_int_equal(evloop_create(&f->loop), 0);
	f->comps = table ? table : &f->own;
	components_init(f->comps);
	f->host = (struct dev_host){ .pio = &f->pio, .mmio = &f->mmio, .mem = &f->mem,
				     .loop = f->loop, .components = f->comps, .vm_fd = -1,
				     .irq_line = fake_irq_line, .opaque = f };
	assert_int_equal(pci_bus_create(&f->host, &f->pci), 0);
	f->host.pci = f->pci;
	static int seq;

	snprintf(f->path, sizeof(f->path), "%s/test_component_%d_%d.%s", dir ? dir : "/tmp",
		 getpid(), seq++, fx_format);
	assert_int_equal(blk_create(fx_format, f->path, &co, NULL), 0);
	f->dc.path = f->path;
	f->dc.format = (char *)fx_format;
	f->dc.has_poll = iothread;
	f->dc.poll_us = 1000000;
	assert_int_equal(virtio_blk_new(&f->dc, 0, &f->mem, iothread ? f->loop : NULL, &f->vd,
					 NULL), 0);
	assert_int_equal(virtio_pci_create(&f->host, f->vd, 0x018000, VIRTIO_BLK_CFG_SIZE, NULL),
			 0);
	assert_ptr_not_equal(components_find(f->comps, "virtio-blk0"), NULL);
	return f;
}

static void fx_free(struct fx *f)
{
	/* Nothing may be in flight when the device goes. */
	for (int i = 0; i < 1000 && f->vd->ops->busy(f->vd); i++) {
		usleep(1000);
		virtio_blk_poll(f->vd);
	}
	components_fini(f->comps); /* virtio-blk0, then pci-host */
	evloop_destroy(f->loop);
	bus_destroy(&f->pio);
	bus_destroy(&f->mmio);
	unlink(f->path);
	gmem_destroy(&f->mem);
	free(f->ram);
	free(f);
}

static void set_status(struct fx *f, uint8_t s)
{
	pthread_mutex_lock(&f->vd->lock);
	virtio_dev_set_status(f->vd, s);
	pthread_mutex_unlock(&f->vd->lock);
}

/* The driver side of virtio 1.2 section 3.1.1, queue 0 only. */
static void driver_init(struct fx *f)
{
	struct virtio_dev *vd = f->vd;
	struct virtq *vq = &vd->vqs[0];
	uint8_t s = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

	set_status(f, VIRTIO_STATUS_ACKNOWLEDGE);
	set_status(f, s);
	/* No EVENT_IDX: every used buffer interrupts, so the count is exact. */
	uint64_t feat = vd->host_features & ~(1ull << VIRTIO_F_EVENT_IDX);

	pthread_mutex_lock(&vd->lock);
	virtio_dev_write_features(vd, 0, (uint32_t)feat);
	virtio_dev_write_features(vd, 1, (uint32_t)(feat >> 32));
	pthread_mutex_unlock(&vd->lock);
	set_status(f, s | VIRTIO_STATUS_FEATURES_OK);
	vq->size = QSIZE;
	vq->desc_gpa = DESC_GPA;
	vq->avail_gpa = AVAIL_GPA;
	vq->used_gpa = USED_GPA;
	pthread_mutex_lock(&vd->lock);
	assert_int_equal(virtio_dev_queue_enable(vd, 0), 0);
	pthread_mutex_unlock(&vd->lock);
	set_status(f, s | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	assert_true(virtio_dev_active(vd));
}

static void desc(struct fx *f, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		 uint16_t next)
{
	struct virtq_desc d = { .addr = addr, .len = len, .flags = flags, .next = next };

	memcpy(f->ram + DESC_GPA + 16 * i, &d, sizeof(d));
}

/* A 64 KiB write in slot s: header, data, status byte. */
static void write_request(struct fx *f, unsigned int s)
{
	uint16_t d0 = (uint16_t)(3 * s);
	uint64_t sector = (uint64_t)s * DATA_SLOT / 512;
	uint32_t hdr[4] = { T_OUT, 0, (uint32_t)sector, (uint32_t)(sector >> 32) };
	uint16_t *avail = (uint16_t *)(f->ram + AVAIL_GPA);

	memcpy(f->ram + HDR_GPA + 16 * s, hdr, 16);
	memset(f->ram + DATA_GPA + (uint64_t)DATA_SLOT * s, (int)s + 1, DATA_SLOT);
	f->ram[STATUS_GPA + s] = 0xee;
	desc(f, d0, HDR_GPA + 16 * s, 16, 1, d0 + 1);
	desc(f, d0 + 1, DATA_GPA + (uint64_t)DATA_SLOT * s, DATA_SLOT, 1, d0 + 2);
	desc(f, d0 + 2, STATUS_GPA + s, 1, 2, 0);
	avail[2 + f->avail_idx % QSIZE] = d0;
	f->avail_idx++;
	__atomic_store_n(&avail[1], f->avail_idx, __ATOMIC_RELEASE);
}

/* The guest's doorbell, as the transport delivers it. */
static void kick(struct fx *f)
{
	pthread_mutex_lock(&f->vd->lock);
	virtio_dev_kick(f->vd, 0);
	pthread_mutex_unlock(&f->vd->lock);
}

static uint16_t used_idx(struct fx *f)
{
	return __atomic_load_n((uint16_t *)(f->ram + USED_GPA + 2), __ATOMIC_ACQUIRE);
}

static bool busy(struct fx *f)
{
	bool b;

	pthread_mutex_lock(&f->vd->lock);
	b = f->vd->ops->busy(f->vd);
	pthread_mutex_unlock(&f->vd->lock);
	return b;
}

/* Reap completions the way the event loop would, for a while. */
static void run_for(struct fx *f, uint16_t want, int ms)
{
	struct pollfd p = { .fd = virtio_blk_queue_fd(f->vd, 0), .events = POLLIN };

	for (int i = 0; i < ms && used_idx(f) != want; i++) {
		poll(&p, 1, 1);
		virtio_blk_poll(f->vd);
	}
}

/*
 * Requests in flight when pause is called complete before it returns;
 * requests made available while paused are not taken, not even by the
 * completion path or a doorbell; resume takes them.
 */
static void check_pause(struct fx *f, int (*pause)(void *), int (*resume)(void *), void *arg)
{
	const unsigned int n = 8, m = 4;
	int irqs;

	driver_init(f);
	for (unsigned int s = 0; s < n; s++)
		write_request(f, s);
	kick(f);
	/* Submitted to the block layer; nothing reaps completions but the I/O thread. */
	if (!f->vd->ioloop) {
		assert_true(busy(f));
		assert_int_equal(used_idx(f), 0);
	}

	assert_int_equal(pause(arg), 0);
	assert_false(busy(f));
	assert_int_equal(used_idx(f), n);
	for (unsigned int s = 0; s < n; s++)
		assert_int_equal(f->ram[STATUS_GPA + s], 0);
	assert_true(f->irqs > 0); /* the completions were signalled before pause returned */
	irqs = f->irqs;

	/* Paused: new requests and doorbells change nothing. */
	for (unsigned int s = n; s < n + m; s++)
		write_request(f, s);
	kick(f);
	run_for(f, n + m, 50);
	usleep(50000); /* time for an I/O thread's poller to take them, if it would */
	assert_int_equal(used_idx(f), n);
	assert_false(busy(f));
	assert_int_equal(f->irqs, irqs);
	assert_int_equal(f->ram[STATUS_GPA + n], 0xee);

	/* Resumed: the requests made meanwhile are served without another kick. */
	assert_int_equal(resume(arg), 0);
	run_for(f, n + m, 5000);
	assert_int_equal(used_idx(f), n + m);
	for (unsigned int s = n; s < n + m; s++)
		assert_int_equal(f->ram[STATUS_GPA + s], 0);
	assert_true(f->irqs > irqs);
}

static int table_pause(void *arg)
{
	struct error err = ERROR_INIT;

	return components_pause(arg, &err);
}

static int table_resume(void *arg)
{
	return components_resume(arg, NULL);
}

static void test_pause_blk_in_flight(void **state)
{
	struct fx *f = fx_new(NULL, false);

	(void)state;
	check_pause(f, table_pause, table_resume, f->comps);
	fx_free(f);
}

/* The same with the disk's I/O thread polling its ring: it takes nothing while paused. */
static void test_pause_blk_iothread(void **state)
{
	struct fx *f = fx_new(NULL, true);

	(void)state;
	assert_non_null(f->vd->ioloop);
	check_pause(f, table_pause, table_resume, f->comps);
	fx_free(f);
}

static int quiesce(void *arg)
{
	struct error err = ERROR_INIT;

	return vm_quiesce(arg, &err);
}

static int unquiesce(void *arg)
{
	return vm_resume(arg);
}

static void test_quiesce_blk_in_flight(void **state)
{
	/* A VM that is not running: no vCPU threads, no loop thread. */
	struct vm *vm = calloc(1, sizeof(*vm));
	struct error err = ERROR_INIT;
	struct fx *f;

	(void)state;
	assert_non_null(vm);
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	vm->state = VM_STATE_CREATED;
	f = fx_new(&vm->components, false);
	vm->loop = f->loop;
	check_pause(f, quiesce, unquiesce, vm);

	/* Quiesced twice is refused; resume undoes it once. */
	assert_int_equal(vm_quiesce(vm, &err), 0);
	assert_true(vm->quiesced);
	assert_int_equal(vm_quiesce(vm, &err), -EALREADY);
	assert_int_equal(vm_resume(vm), 0);
	assert_false(vm->quiesced);
	assert_int_equal(vm_resume(vm), -EINVAL); /* not paused: created */

	fx_free(f); /* finishes vm->components */
	pthread_mutex_destroy(&vm->lock);
	pthread_cond_destroy(&vm->cond);
	free(vm);
}

static void *loop_main(void *arg)
{
	evloop_run(arg);
	return NULL;
}

static void set_flag(void *arg)
{
	__atomic_store_n((int *)arg, 1, __ATOMIC_RELEASE);
}

/*
 * vm_loops_pause() from another thread than the loop's parks the loop:
 * nothing queued on it runs until vm_loops_resume().
 */
static int flag_on_loop;

/* On the loop: vm_loops_pause() succeeds and holds nothing. */
static void loops_pause_on_loop(void *opaque)
{
	struct vm *vm = opaque;

	if (vm_loops_pause(vm) == 0 && !vm->loop_held)
		__atomic_store_n(&flag_on_loop, 1, __ATOMIC_RELEASE);
	vm_loops_resume(vm);
}

static void test_loops_pause(void **state)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	pthread_t th;
	int flag = 0;

	(void)state;
	assert_non_null(vm);
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	assert_int_equal(evloop_create(&vm->loop), 0);
	assert_int_equal(pthread_create(&th, NULL, loop_main, vm->loop), 0);

	assert_int_equal(vm_loops_pause(vm), 0);
	assert_true(vm->loop_held);
	assert_int_equal(evloop_call(vm->loop, set_flag, &flag), 0);
	usleep(50000);
	assert_int_equal(__atomic_load_n(&flag, __ATOMIC_ACQUIRE), 0);
	vm_loops_resume(vm);
	assert_false(vm->loop_held);
	for (int i = 0; i < 1000 && !__atomic_load_n(&flag, __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	assert_int_equal(flag, 1);

	/* On the loop's own thread there is nothing to park. */
	flag = 0;
	assert_int_equal(evloop_call(vm->loop, loops_pause_on_loop, vm), 0);
	for (int i = 0; i < 1000 && !__atomic_load_n(&flag_on_loop, __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	assert_int_equal(__atomic_load_n(&flag_on_loop, __ATOMIC_ACQUIRE), 1);
	assert_false(vm->loop_held);

	evloop_stop(vm->loop);
	pthread_join(th, NULL);
	evloop_destroy(vm->loop);
	pthread_mutex_destroy(&vm->lock);
	pthread_cond_destroy(&vm->cond);
	free(vm);
}

/* The component registered under id, with its ops. */
static const struct component *comp_get(struct components *c, const char *id)
{
	for (unsigned int i = 0; i < c->nr; i++)
		if (!strcmp(c->items[i].id, id))
			return &c->items[i];
	fail_msg("no component %s", id);
	return NULL;
}

/*
 * A virtio-blk function saved after a burst of I/O and loaded into a
 * fresh machine with a copy of guest memory (what a restore does) carries
 * on: the rings continue where they were, new requests complete, and the
 * driver's status and features are as it set them.  A truncated or
 * damaged record is refused.
 */
static void test_vpci_save_restore(void **state)
{
	struct fx *f = fx_new(NULL, false), *g = fx_new(NULL, false);
	const struct component *cf = comp_get(f->comps, "virtio-blk0");
	const struct component *cg = comp_get(g->comps, "virtio-blk0");
	struct error err = ERROR_INIT;
	struct stream w, r;
	const unsigned int n = 4;

	driver_init(f);
	for (unsigned int s = 0; s < n; s++)
		write_request(f, s);
	kick(f);
	assert_int_equal(components_pause(f->comps, &err), 0);
	assert_int_equal(used_idx(f), n);
	stream_init_writer(&w, 1 << 20);
	assert_int_equal(cf->ops->save(cf->opaque, &w, &err), 0);

	/* Damaged: every truncation, and a flipped byte in the virtio record. */
	for (size_t cut = 0; cut < w.len; cut += 97) {
		stream_init_reader(&r, w.buf, cut);
		assert_int_not_equal(cg->ops->load(cg->opaque, &r, &err), 0);
		error_clear(&err);
	}
	w.buf[w.len - 40] ^= 0x5a;
	stream_init_reader(&r, w.buf, w.len);
	assert_int_equal(cg->ops->load(cg->opaque, &r, &err), -EINVAL);
	assert_non_null(strstr(error_msg(&err), "virtio-blk0 state"));
	error_clear(&err);
	w.buf[w.len - 40] ^= 0x5a;

	memcpy(g->ram, f->ram, MEM_SIZE);
	g->avail_idx = f->avail_idx;
	stream_init_reader(&r, w.buf, w.len);
	assert_int_equal(cg->ops->load(cg->opaque, &r, &err), 0);
	assert_true(virtio_dev_active(g->vd));
	assert_int_equal(g->vd->driver_features, f->vd->driver_features);
	assert_int_equal(g->vd->vqs[0].last_avail, n);
	for (unsigned int s = n; s < 2 * n; s++)
		write_request(g, s);
	kick(g);
	run_for(g, 2 * n, 5000);
	assert_int_equal(used_idx(g), 2 * n);
	for (unsigned int s = n; s < 2 * n; s++)
		assert_int_equal(g->ram[STATUS_GPA + s], 0);
	assert_true(g->irqs > 0);

	assert_int_equal(components_resume(f->comps, NULL), 0);
	stream_free(&w);
	fx_free(f);
	fx_free(g);
}

/*
 * Internal disk snapshots through the components (vessel snapshot on a
 * running VM): a raw disk refuses at the check, a qcow2 disk takes and
 * deletes them, and the image keeps what was done once closed.
 */
static void test_disk_snapshot(void **state)
{
	struct error err = ERROR_INIT;
	struct qcow2_snapshot_info *list;
	struct blkdev *bd;
	char path[256];
	struct fx *f;
	int n;

	(void)state;
	f = fx_new(NULL, false);
	assert_int_equal(components_disk_snapshot(f->comps, COMPONENT_DISK_CHECK, "s1", &err),
			 -ENOTSUP);
	assert_non_null(strstr(error_msg(&err), "no internal snapshots"));
	error_clear(&err);
	fx_free(f);

	fx_format = "qcow2";
	f = fx_new(NULL, false);
	fx_format = "raw";
	driver_init(f);
	write_request(f, 0);
	kick(f);
	assert_int_equal(components_pause(f->comps, &err), 0);
	assert_int_equal(components_disk_snapshot(f->comps, COMPONENT_DISK_CHECK, "s1", &err), 1);
	assert_int_equal(components_disk_snapshot(f->comps, COMPONENT_DISK_CREATE, "s1", &err), 1);
	assert_int_equal(components_disk_snapshot(f->comps, COMPONENT_DISK_CREATE, "s2", &err), 1);
	/* a name taken fails, naming the disk, and takes nothing */
	assert_int_equal(components_disk_snapshot(f->comps, COMPONENT_DISK_CREATE, "s1", &err),
			 -EEXIST);
	assert_non_null(strstr(error_msg(&err), "cannot take snapshot 's1'"));
	error_clear(&err);
	assert_int_equal(components_disk_snapshot(f->comps, COMPONENT_DISK_DELETE, "s2", &err), 1);
	assert_int_equal(components_disk_snapshot(f->comps, COMPONENT_DISK_DELETE, "s2", &err),
			 -ENOENT);
	assert_non_null(strstr(error_msg(&err), "no disk has a snapshot 's2'"));
	error_clear(&err);
	assert_int_equal(components_resume(f->comps, &err), 0);
	snprintf(path, sizeof(path), "%s", f->path);
	f->path[0] = 0; /* kept for the check below */
	fx_free(f);

	assert_int_equal(blk_open(path, &(struct blk_open_opts){ .readonly = true }, &bd, NULL), 0);
	assert_int_equal(qcow2_snapshot_list(bd, &list, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].name, "s1");
	qcow2_snapshot_list_free(list, n);
	blk_close(bd);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_pause_rollback),
		cmocka_unit_test(test_save_load),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_pause_blk_in_flight),
		cmocka_unit_test(test_pause_blk_iothread),
		cmocka_unit_test(test_quiesce_blk_in_flight),
		cmocka_unit_test(test_loops_pause),
		cmocka_unit_test(test_vpci_save_restore),
		cmocka_unit_test(test_disk_snapshot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
