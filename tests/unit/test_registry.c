// SPDX-License-Identifier: MIT
/*
 * The device registry (vm/devtable.c, util/keys.h): every kind once, the
 * command line and JSON giving the same config and refusing the same
 * values with the same words, dump then parse giving the config back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "bus/devkind.h"
#include "util/error.h"
#include "util/keys.h"
#include "virtio/devices.h"
#include "virtio/virtio.h"
#include "vm/config.h"
#include "vm/config_json.h"

/* Each kind once; names, options and JSON keys unique; keys unique per table. */
static void test_table_lists_each_kind_once(void **state)
{
	unsigned int n = 0;

	for (const struct dev_kind *const *k = vm_dev_kinds; *k; k++, n++) {
		assert_non_null((*k)->name);
		assert_non_null((*k)->json_key);
		assert_non_null((*k)->cli_name);
		assert_non_null((*k)->cli_help);
		assert_non_null((*k)->create);
		assert_true((*k)->max >= 1);
		assert_true((*k)->keys || ((*k)->parse_cli && (*k)->from_json && (*k)->to_json));
		assert_ptr_equal(vm_dev_kind_find((*k)->cli_name), *k);
		assert_ptr_equal(vm_dev_kind_find((*k)->json_key), *k);
		for (const struct dev_kind *const *j = vm_dev_kinds; *j; j++) {
			if (j == k)
				continue;
			assert_true(*j != *k);
			assert_string_not_equal((*j)->name, (*k)->name);
			assert_string_not_equal((*j)->cli_name, (*k)->cli_name);
			assert_string_not_equal((*j)->json_key, (*k)->json_key);
		}
		for (const struct key *a = (*k)->keys; a && a->name; a++)
			for (const struct key *b = a + 1; b->name; b++)
				assert_string_not_equal(a->name, b->name);
	}
	assert_int_equal(n, 5); /* blk, rng, console, net, balloon */
	assert_null(vm_dev_kind_find("nic"));
}

static char *dump(const struct vm_config *c)
{
	struct json_object *j = vm_config_to_json(c);
	char *s;

	assert_non_null(j);
	s = strdup(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
	json_object_put(j);
	assert_non_null(s);
	return s;
}

static int from_json(const char *text, struct vm_config *c, struct error *err)
{
	vm_config_init(c);
	return vm_config_from_json_string(text, strlen(text), c, err);
}

/* `vessel run --disk ... --rng --console socket=...` equals its JSON twin. */
static void test_cli_equals_json(void **state)
{
	struct vm_config a, b;
	struct error err = ERROR_INIT;
	char *da, *db;

	vm_config_init(&a);
	assert_int_equal(vm_config_parse_dev(&a, &virtio_blk_kind, "/d0.img", &err), 0);
	assert_int_equal(vm_config_parse_dev(&a, &virtio_blk_kind,
					     "path=/d1.qcow2,format=qcow2,readonly=on,serial=S1,"
					     "direct=on,backing=off,queues=64,poll_us=7",
					     &err),
			 0);
	assert_int_equal(vm_config_parse_dev(&a, &virtio_rng_kind, NULL, &err), 0);
	assert_int_equal(vm_config_parse_dev(&a, &virtio_console_kind, "socket=/run/v.sock", &err),
			 0);
	assert_int_equal(
		chardev_spec_parse(&a.console, "file=/tmp/com1.log", CHARDEV_MODES_ALL, &err), 0);
	assert_int_equal(from_json("{\"disks\": [{\"path\": \"/d0.img\"}, {\"path\": "
				   "\"/d1.qcow2\", \"format\": \"qcow2\", \"readonly\": true, "
				   "\"serial\": \"S1\", \"direct\": true, \"backing\": false, "
				   "\"queues\": 64, \"poll_us\": 7}], \"rng\": true, "
				   "\"virtio_console\": {\"mode\": \"socket\", \"path\": "
				   "\"/run/v.sock\"}, \"console\": {\"mode\": \"file\", "
				   "\"path\": \"/tmp/com1.log\"}}",
				   &b, &err),
			 0);
	da = dump(&a);
	db = dump(&b);
	assert_string_equal(da, db);
	assert_int_equal(vm_config_disk(&b, 1)->num_queues, 64);
	assert_true(vm_config_disk(&b, 1)->no_backing && vm_config_disk(&b, 1)->has_poll);
	free(da);
	free(db);
	vm_config_free(&a);
	vm_config_free(&b);
}

/* Dump, parse, dump: the same text, and the same devices in the same order. */
static void test_dump_parse_round_trip(void **state)
{
	static const char *const defs[] = {
		"{\"disks\": [{\"path\": \"/a\", \"serial\": \"x\"}, {\"path\": \"/b\", "
		"\"backing\": false, \"poll_us\": 0}], \"virtio_console\": \"/tmp/hvc.log\"}",
		"{\"rng\": true, \"virtio_console\": true, \"console\": \"none\"}",
		"{\"virtio_console\": \"socket=/run/x.sock\", \"console\": {\"mode\": \"socket\"}}",
		"{\"rng\": false, \"virtio_console\": false}",
	};

	for (unsigned int i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
		struct error err = ERROR_INIT;
		struct vm_config a, b;
		char *da, *db;

		if (from_json(defs[i], &a, &err))
			fail_msg("%s: %s", defs[i], error_msg(&err));
		da = dump(&a);
		if (from_json(da, &b, &err))
			fail_msg("%s: %s", da, error_msg(&err));
		db = dump(&b);
		assert_string_equal(da, db);
		assert_int_equal(a.nr_devs, b.nr_devs);
		for (unsigned int j = 0; j < a.nr_devs; j++)
			assert_ptr_equal(a.devs[j].kind, b.devs[j].kind);
		free(da);
		free(db);
		vm_config_free(&a);
		vm_config_free(&b);
	}
}

/* One limit, one message: the JSON error is the CLI's, behind its path. */
static void test_limits_same_on_both_paths(void **state)
{
	static const struct {
		const char *cli, *json;
	} bad[] = {
		{ "path=/a,queues=0", "{\"path\": \"/a\", \"queues\": 0}" },
		{ "path=/a,queues=65", "{\"path\": \"/a\", \"queues\": 65}" },
		{ "path=/a,poll_us=1000001", "{\"path\": \"/a\", \"poll_us\": 1000001}" },
		{ "path=/a,format=vmdk", "{\"path\": \"/a\", \"format\": \"vmdk\"}" },
		{ "path=/a,serial=123456789012345678901",
		  "{\"path\": \"/a\", \"serial\": \"123456789012345678901\"}" },
		{ "format=raw", "{\"format\": \"raw\"}" },
		{ "path=/a,bogus=1", "{\"path\": \"/a\", \"bogus\": 1}" },
	};
	char buf[512], want[300];

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct error ec = ERROR_INIT, ej = ERROR_INIT;
		struct vm_config c;

		vm_config_init(&c);
		assert_int_equal(vm_config_parse_dev(&c, &virtio_blk_kind, bad[i].cli, &ec),
				 -EINVAL);
		snprintf(buf, sizeof(buf), "{\"disks\": [%s]}", bad[i].json);
		assert_int_equal(from_json(buf, &c, &ej), -EINVAL);
		assert_int_equal(vm_config_nr_disks(&c), 0);
		if (!strncmp(ec.msg, "unknown key", 11)) {
			/* The CLI lists the keys; the words before the list match. */
			snprintf(want, sizeof(want), "disks[0]: %s", ec.msg);
			*strchr(want, '(') = '\0';
			assert_int_equal(strncmp(ej.msg, want, strlen(want) - 1), 0);
		} else {
			snprintf(want, sizeof(want), "disks[0].%s", ec.msg);
			assert_string_equal(ej.msg, want);
		}
		vm_config_free(&c);
	}
}

/* A refused instance leaves nothing behind; "off" removes a single instance. */
static void test_instances(void **state)
{
	struct error err = ERROR_INIT;
	struct vm_config c;

	vm_config_init(&c);
	assert_int_equal(from_json("{\"rng\": true, \"disks\": [{\"path\": \"/a\"}]}", &c, &err),
			 0);
	assert_int_equal(c.nr_devs, 2);
	assert_int_equal(vm_config_parse_dev(&c, &virtio_rng_kind, "off", &err), 0);
	assert_int_equal(vm_config_count(&c, &virtio_rng_kind), 0);
	assert_int_equal(vm_config_parse_dev(&c, &virtio_blk_kind, "path=/b,queues=x", &err),
			 -EINVAL);
	assert_string_equal(err.msg, "queues: must be an integer in 1..64");
	assert_int_equal(vm_config_nr_disks(&c), 1);
	assert_null(vm_config_disk(&c, 1));
	vm_config_free(&c);
	error_clear(&err);
	assert_int_equal(from_json("{\"disks\": [{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, "
				   "{}, {}, {}, {}, {}]}",
				   &c, &err),
			 -EINVAL);
	assert_string_equal(err.msg, "disks: at most 16 entries");
	vm_config_free(&c);
}

/* The typed console specs: one parser for --serial, --console and JSON. */
static void test_chardev_specs(void **state)
{
	struct chardev_spec s = { CHARDEV_STDIO, NULL };
	struct error err = ERROR_INIT;
	struct json_object *o;

	assert_int_equal(chardev_spec_parse(&s, "socket=/r/c.sock", CHARDEV_MODES_ALL, &err), 0);
	assert_int_equal(s.mode, CHARDEV_SOCKET);
	assert_string_equal(s.path, "/r/c.sock");
	assert_int_equal(chardev_spec_parse(&s, "file=", CHARDEV_MODES_ALL, &err), -EINVAL);
	assert_string_equal(err.msg, "expected stdio, pty, file=PATH, socket=PATH or none");
	assert_string_equal(s.path, "/r/c.sock"); /* unchanged */
	error_clear(&err);
	assert_int_equal(chardev_spec_parse(&s, "pty=x", CHARDEV_MODES_ALL, &err), -EINVAL);
	error_clear(&err);
	assert_int_equal(chardev_spec_parse(&s, "pty", CHARDEV_MODES_ALL, &err), 0);
	assert_int_equal(s.mode, CHARDEV_PTY);
	assert_null(s.path);
	o = json_tokener_parse("{\"mode\": \"pty\", \"path\": \"/x\"}");
	assert_int_equal(chardev_spec_from_json(&s, o, "console", CHARDEV_MODES_ALL, &err),
			 -EINVAL);
	assert_string_equal(err.msg, "console.path: only for mode \"file\" or \"socket\"");
	json_object_put(o);
	error_clear(&err);
	o = json_tokener_parse("\"tcp\"");
	assert_int_equal(chardev_spec_from_json(&s, o, "console", CHARDEV_MODES_ALL, &err),
			 -EINVAL);
	assert_string_equal(err.msg, "console: \"tcp\" is not one of \"stdio\", \"pty\", \"file\", "
				     "\"socket\", \"none\"");
	json_object_put(o);
	chardev_spec_free(&s);
}

/* util/keys.h by itself: aliases, "given twice", KEY_HAS and KEY_INVERT dumps. */
struct kobj {
	char *s;
	bool b, inv, has_n;
	unsigned int n;
	int e;
	uint64_t size;
};

static void test_keys(void **state)
{
	static const char *const words[] = { "a", "b", NULL };
	static const struct key keys[] = {
		{ .name = "s", .type = KEY_STRING, .off = offsetof(struct kobj, s), .max = 3 },
		{ .name = "b", .alias = "bee", .type = KEY_BOOL, .off = offsetof(struct kobj, b) },
		{ .name = "i",
		  .type = KEY_BOOL,
		  .flags = KEY_INVERT,
		  .off = offsetof(struct kobj, inv) },
		{ .name = "n",
		  .type = KEY_UINT,
		  .flags = KEY_HAS,
		  .off = offsetof(struct kobj, n),
		  .has_off = offsetof(struct kobj, has_n),
		  .min = 0,
		  .max = 9 },
		{ .name = "e", .type = KEY_ENUM, .off = offsetof(struct kobj, e), .words = words },
		{ .name = "z", .type = KEY_SIZE, .off = offsetof(struct kobj, size) },
		{ 0 },
	};
	struct kobj o = { 0 }, p = { 0 };
	struct error err = ERROR_INIT;
	struct json_object *j;

	assert_int_equal(keys_parse(keys, &o, "abc,bee=yes,i=off,n=0,e=b,z=2M", "s", &err), 0);
	assert_string_equal(o.s, "abc");
	assert_true(o.b && o.inv && o.has_n && o.n == 0 && o.e == 1 && o.size == 2 * 1024 * 1024);
	j = keys_to_json(keys, &o);
	assert_string_equal(
		json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN),
		"{\"s\":\"abc\",\"b\":true,\"i\":false,\"n\":0,\"e\":\"b\",\"z\":\"2M\"}");
	assert_int_equal(keys_from_json(keys, &p, j, "x", &err), 0);
	assert_true(p.b && p.inv && p.has_n && p.e == 1 && p.size == o.size);
	json_object_put(j);
	assert_int_equal(keys_parse(keys, &p, "n=1,n=2", NULL, &err), -EINVAL);
	assert_string_equal(err.msg, "n: given twice");
	error_clear(&err);
	assert_int_equal(keys_parse(keys, &p, "s=abcd", NULL, &err), -EINVAL);
	assert_string_equal(err.msg, "s: longer than 3 characters");
	error_clear(&err);
	assert_int_equal(keys_parse(keys, &p, "x", NULL, &err), -EINVAL);
	assert_string_equal(err.msg, "\"x\": options are key=value");
	keys_free(keys, &o);
	keys_free(keys, &p);
	assert_null(o.s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_lists_each_kind_once),
		cmocka_unit_test(test_cli_equals_json),
		cmocka_unit_test(test_dump_parse_round_trip),
		cmocka_unit_test(test_limits_same_on_both_paths),
		cmocka_unit_test(test_instances),
		cmocka_unit_test(test_chardev_specs),
		cmocka_unit_test(test_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
