// SPDX-License-Identifier: MIT
/* JSON VM definitions: every key, the exact error messages, round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"
#include "util/util.h"
#include "vm/config_json.h"

static int parse(const char *text, struct vm_config *c, char *err, size_t errlen)
{
	struct error e = ERROR_INIT;
	int r;

	vm_config_init(c);
	r = vm_config_from_json_string(text, strlen(text), c, &e);
	snprintf(err, errlen, "%s", r ? error_msg(&e) : "");
	return r;
}

/* Parse and expect failure with exactly this message. */
static void expect_err(const char *text, const char *msg)
{
	struct vm_config c;
	char err[256];

	assert_int_equal(parse(text, &c, err, sizeof(err)), -EINVAL);
	if (strcmp(err, msg))
		fail_msg("for %s\n got: %s\nwant: %s", text, err, msg);
	vm_config_free(&c);
}

static void test_full(void **state)
{
	const char *text =
		"{\"name\": \"web-1\", \"memory\": {\"size\": \"512M\", \"backing\": \"memfd\","
		" \"thp\": true, \"mergeable\": true, \"prealloc\": false},"
		" \"cpus\": {\"count\": 4, \"policy\": \"shared\", \"pinning\": {\"0\": \"2\","
		" \"3\": [4, 5]}, \"emulator\": \"0-1\"},"
		" \"kernel\": \"/k\", \"initrd\": \"/i\", \"cmdline\": \"console=ttyS0\","
		" \"disks\": [{\"path\": \"/d0\", \"format\": \"qcow2\", \"serial\": \"S0\","
		" \"readonly\": true, \"direct\": true, \"queues\": 2, \"backing\": false}],"
		" \"nets\": [],"
		" \"console\": {\"mode\": \"file\", \"path\": \"/tmp/log\"}, \"rng\": true,"
		" \"numa\": {\"mode\": \"interleave\", \"nodeset\": \"0\", \"nodes\": ["
		"  {\"cpus\": \"0-1\", \"memory\": \"256M\", \"host_nodes\": \"0\"},"
		"  {\"cpus\": [2, 3], \"memory\": \"256M\", \"distances\": [20, 10]}]},"
		" \"lifecycle\": {\"on_reboot\": \"destroy\"}, \"debug_exit\": true,"
		" \"api_socket\": \"/run/x.sock\"}";
	struct vm_config c;
	char err[256] = "";

	assert_int_equal(parse(text, &c, err, sizeof(err)), 0);
	assert_string_equal(c.name, "web-1");
	assert_int_equal(c.nr_cpus, 4);
	assert_int_equal(c.mem_size, 512 * MiB);
	assert_int_equal(c.mem.backing, GMEM_BACKING_MEMFD);
	assert_true(c.mem.thp && c.mem.mergeable && !c.mem.prealloc);
	assert_true(c.vcpu_pinned[0] && !c.vcpu_pinned[1] && c.vcpu_pinned[3]);
	assert_true(CPU_ISSET(2, &c.vcpu_affinity[0]) && CPU_COUNT(&c.vcpu_affinity[0]) == 1);
	assert_true(CPU_ISSET(5, &c.vcpu_affinity[3]) && CPU_COUNT(&c.vcpu_affinity[3]) == 2);
	assert_true(c.emulator_pinned && CPU_COUNT(&c.emulator_affinity) == 2);
	assert_string_equal(c.cmdline, "console=ttyS0");
	assert_int_equal(vm_config_nr_disks(&c), 1);
	assert_string_equal(vm_config_disk(&c, 0)->format, "qcow2");
	assert_true(vm_config_disk(&c, 0)->readonly && vm_config_disk(&c, 0)->direct);
	assert_int_equal(vm_config_disk(&c, 0)->num_queues, 2);
	assert_true(vm_config_disk(&c, 0)->no_backing);
	assert_int_equal(c.console.mode, CHARDEV_FILE);
	assert_string_equal(c.console.path, "/tmp/log");
	assert_int_equal(c.numa_mode, VM_NUMA_INTERLEAVE);
	assert_int_equal(c.numa_host_nodes, 1);
	assert_int_equal(c.nr_numa_nodes, 2);
	assert_int_equal(c.numa_nodes[1].cpus[0], 0xc);
	assert_int_equal(c.numa_nodes[0].distance[1], 20);
	assert_int_equal(c.numa_nodes[1].distance[0], 20);
	assert_int_equal(c.on_reboot, VM_REBOOT_EXIT);
	assert_true(c.debug_exit && vm_config_count(&c, &virtio_rng_kind) == 1);
	vm_config_free(&c);
}

static void test_short_forms(void **state)
{
	struct vm_config c;
	char err[256];

	assert_int_equal(parse("{\"cpus\": 2, \"memory\": \"1G\", \"console\": \"pty\"}", &c, err,
			       sizeof(err)),
			 0);
	assert_int_equal(c.nr_cpus, 2);
	assert_int_equal(c.mem_size, GiB);
	assert_int_equal(c.console.mode, CHARDEV_PTY);
	vm_config_free(&c);
	assert_int_equal(parse("{\"memory\": {\"size\": \"2G\", \"backing\": \"hugetlb\"}}", &c,
			       err, sizeof(err)),
			 0);
	assert_int_equal(c.mem.hugepage_size, 2 * MiB);
	/* THP is on by default but moot with huge pages: turned off, not refused. */
	assert_false(c.mem.thp);
	vm_config_free(&c);
	expect_err("{\"memory\": {\"backing\": \"hugetlb\", \"thp\": true}}",
		   "memory.thp: THP does not apply to memory.backing \"hugetlb\"");
	expect_err("{\"memory\": {\"hugepage_size\": \"2M\"}}",
		   "memory.hugepage_size: needs memory.backing \"hugetlb\"");
}

static void test_errors(void **state)
{
	expect_err("{\"cpu\": 2}", "unknown key \"cpu\"");
	expect_err("{\"memory\": \"12X\"}", "memory: \"12X\" is not a size");
	expect_err("{\"disks\": [{\"path\": \"/a\"}, {\"format\": \"raw\"}]}",
		   "disks[1].path: missing");
	expect_err("{\"disks\": [{\"path\": \"/a\", \"pth\": 1}]}",
		   "disks[0]: unknown key \"pth\"");
	expect_err("{\"cpus\": 0}", "cpus: must be an integer in 1..256");
	expect_err("{\"cpus\": \"2\"}", "cpus: must be an object, not string");
	expect_err("{\"cpus\": {\"count\": 2, \"pinning\": {\"2\": \"0\"}}}",
		   "cpus.pinning.\"2\": vCPU 2 does not exist (cpus.count is 2)");
	expect_err("{\"cpus\": {\"count\": 2, \"pinning\": {\"0\": \"x\"}}}",
		   "cpus.pinning.\"0\": \"x\" is not a list such as \"0-3,8\"");
	expect_err(
		"{\"cpus\": {\"count\": 2, \"policy\": \"dedicated\", \"pinning\": {\"0\": \"1\","
		" \"1\": \"1\"}}}",
		"cpus.pinning.\"1\": host CPU already used by another vCPU (policy "
		"\"dedicated\")");
	expect_err(
		"{\"memory\": {\"size\": \"1G\", \"backing\": \"hugetlb\", \"mergeable\": true}}",
		"memory.mergeable: KSM cannot merge huge pages (memory.backing is \"hugetlb\")");
	expect_err("{\"memory\": {\"backing\": \"hugetlb\", \"hugepage_size\": \"4M\"}}",
		   "memory.hugepage_size: must be \"2M\" or \"1G\"");
	expect_err("{\"memory\": {\"backing\": \"ram\"}}",
		   "memory.backing: \"ram\" is not one of \"anon\", \"memfd\", \"hugetlb\"");
	expect_err("{\"nets\": [{\"tap\": \"t\", \"mac\": \"01:00:00:00:00:00\"}]}",
		   "nets[0]: mac: \"01:00:00:00:00:00\" is not a unicast MAC address such as "
		   "\"52:54:00:12:34:56\"");
	expect_err("{\"rng\": 1}", "rng: must be true or false, not int");
	expect_err("{\"name\": \"../x\"}",
		   "name: \"../x\" must be letters, digits, '_', '.' or '-'");
	expect_err("{\"console\": {\"mode\": \"file\"}}",
		   "console.path: missing (mode \"file\" needs a path)");
	expect_err("{\"memory\": \"256M\", \"numa\": {\"nodes\": [{\"cpus\": \"0\", \"memory\": "
		   "\"128M\"}]}}",
		   "numa.nodes: node memory adds up to 134217728 bytes, memory is 268435456");
	expect_err("{\"cpus\": 2, \"memory\": \"256M\", \"numa\": {\"nodes\": [{\"cpus\": \"0\", "
		   "\"memory\": \"256M\"}]}}",
		   "numa.nodes: vCPU 1 is in no node");
	expect_err("{\"numa\": {\"mode\": \"strict\"}}",
		   "numa.nodeset: missing (numa.mode needs host nodes)");
	expect_err("{\"lifecycle\": {\"on_reboot\": \"reset\"}}",
		   "lifecycle.on_reboot: \"reset\" is not one of \"restart\", \"destroy\"");
	expect_err("[1]", "a VM definition must be a JSON object");
	expect_err("{\"cpus\": 1} x", "invalid JSON at offset 12: trailing data");
	expect_err("{\"cpus\": 99999999999999999999}", "cpus: must be an integer in 1..256");
}

static void test_invalid_json(void **state)
{
	struct vm_config c;
	char err[256];

	assert_int_equal(parse("{\"cpus\": ", &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "invalid JSON"));
	vm_config_free(&c);
	/* Deep nesting is refused by the tokenizer, not by recursion. */
	char deep[2000];
	memset(deep, '[', sizeof(deep) - 1);
	deep[sizeof(deep) - 1] = '\0';
	assert_int_equal(parse(deep, &c, err, sizeof(err)), -EINVAL);
	vm_config_free(&c);
}

static void test_round_trip(void **state)
{
	const char *text = "{\"name\": \"a\", \"cpus\": {\"count\": 2, \"policy\": \"dedicated\","
			   " \"pinning\": {\"0\": \"3\", \"1\": \"1\"}}, \"memory\": \"1G\","
			   " \"numa\": {\"mode\": \"preferred\", \"nodeset\": \"0\", \"nodes\": ["
			   " {\"cpus\": \"0\", \"memory\": \"512M\"},"
			   " {\"cpus\": \"1\", \"memory\": \"512M\"}]}}";
	struct vm_config c, d;
	struct json_object *j;
	char err[256];
	const char *s;

	assert_int_equal(parse(text, &c, err, sizeof(err)), 0);
	j = vm_config_to_json(&c);
	assert_non_null(j);
	s = json_object_to_json_string(j);
	if (parse(s, &d, err, sizeof(err)))
		fail_msg("%s: %s", s, err);
	assert_int_equal(d.nr_cpus, 2);
	assert_true(d.dedicated_cpus);
	assert_true(CPU_ISSET(3, &d.vcpu_affinity[0]));
	assert_int_equal(d.mem_size, GiB);
	assert_int_equal(d.numa_mode, VM_NUMA_PREFERRED);
	assert_int_equal(d.nr_numa_nodes, 2);
	assert_int_equal(d.numa_nodes[1].mem_size, 512 * MiB);
	assert_int_equal(d.numa_nodes[1].distance[0], 20);
	json_object_put(j);
	vm_config_free(&c);
	vm_config_free(&d);
}

/*
 * Issue 9 item 9: "nets" was parsed and then ignored.  Now each NIC is a
 * virtio-net device instance: its keys are checked with the exact path,
 * and it is kept (and dumped) like any other device.
 */
static void test_nets(void **state)
{
	struct vm_config c;
	char err[256];

	expect_err("{\"nets\": [{\"tap\": \"t\", \"mtu\": 9000}]}", "nets[0]: unknown key \"mtu\"");
	expect_err("{\"nets\": [{\"tap\": \"t\", \"vlan\": 5}]}",
		   "nets[0]: vlan and trunk need bridge=, ovs= or network=");
	assert_int_equal(parse("{\"nets\": []}", &c, err, sizeof(err)), 0);
	assert_int_equal(c.nr_devs, 0);
	vm_config_free(&c);
	assert_int_equal(parse("{\"nets\": [{\"tap\": \"tap0\", \"mac\": \"52:54:00:12:34:56\"}, "
			       "{\"network\": \"lan\", \"portgroup\": \"v10\"}]}",
			       &c, err, sizeof(err)),
			 0);
	assert_int_equal(c.nr_devs, 2);
	vm_config_free(&c);
}

/* "backing" of a disk: true by default, kept through a save and load. */
static void test_disk_backing(void **state)
{
	struct vm_config c, d;
	struct json_object *j;
	char err[256];

	assert_int_equal(parse("{\"disks\": [{\"path\": \"/a\"}, {\"path\": \"/b\", "
			       "\"backing\": false}]}",
			       &c, err, sizeof(err)),
			 0);
	assert_false(vm_config_disk(&c, 0)->no_backing);
	assert_true(vm_config_disk(&c, 1)->no_backing);
	j = vm_config_to_json(&c);
	assert_non_null(j);
	assert_int_equal(parse(json_object_to_json_string(j), &d, err, sizeof(err)), 0);
	assert_false(vm_config_disk(&d, 0)->no_backing);
	assert_true(vm_config_disk(&d, 1)->no_backing);
	json_object_put(j);
	vm_config_free(&c);
	vm_config_free(&d);
	expect_err("{\"disks\": [{\"path\": \"/a\", \"backing\": \"off\"}]}",
		   "disks[0].backing: must be true or false, not string");
}

static void test_cpuset_format(void **state)
{
	cpu_set_t s;
	char buf[64];

	assert_int_equal(cpuset_parse("0-3,8,10-11", &s), 0);
	assert_string_equal(cpuset_format(&s, buf, sizeof(buf)), "0-3,8,10-11");
	CPU_ZERO(&s);
	assert_string_equal(cpuset_format(&s, buf, sizeof(buf)), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),	   cmocka_unit_test(test_short_forms),
		cmocka_unit_test(test_errors),	   cmocka_unit_test(test_invalid_json),
		cmocka_unit_test(test_round_trip), cmocka_unit_test(test_cpuset_format),
		cmocka_unit_test(test_nets), cmocka_unit_test(test_disk_backing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
