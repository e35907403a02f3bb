// SPDX-License-Identifier: MIT
/*
 * net/netlink.c against the kernel, in a network namespace of its own
 * (unshare(CLONE_NEWNET), so nothing on the host changes): a bridge and a
 * veth pair made with ip(8), then the port operations vessel does itself.
 * Needs root; skips without it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/netlink.h"
#include "util/error.h"

static int in_netns(void **state)
{
	(void)state;
	if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0)
		return 0; /* the tests skip */
	if (system("ip link add tbr0 type bridge && ip link add tve0 type veth peer name tve1"))
		return -1;
	return 0;
}

static bool have_links(void)
{
	return if_nametoindex("tbr0") && if_nametoindex("tve0");
}

/* `ip -o link show dev` of ifname (sysfs shows the host's namespace). */
static void link_show(const char *ifname, char *out, size_t len)
{
	char cmd[64];
	FILE *p;
	size_t n;

	snprintf(cmd, sizeof(cmd), "ip -o link show dev %s", ifname);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, len - 1, p);
	out[n] = 0;
	pclose(p);
}

static void test_master_and_up(void **state)
{
	struct error err = { 0 };
	char out[1024];

	(void)state;
	if (!have_links())
		skip();
	assert_int_equal(nl_link_set_master("tve0", "tbr0", &err), 0);
	link_show("tve0", out, sizeof(out));
	assert_non_null(strstr(out, " master tbr0 "));
	assert_int_equal(nl_link_set_up("tve0", true, &err), 0);
	link_show("tve0", out, sizeof(out));
	assert_non_null(strstr(out, ",UP"));
	assert_int_equal(nl_link_set_up("tve0", false, &err), 0);
	link_show("tve0", out, sizeof(out));
	assert_null(strstr(out, ",UP"));
	assert_int_equal(nl_link_set_master("tve0", NULL, &err), 0);
	link_show("tve0", out, sizeof(out));
	assert_null(strstr(out, " master "));
}

static void test_errors_name_the_link(void **state)
{
	struct error err = { 0 };

	(void)state;
	if (!have_links())
		skip();
	assert_int_equal(nl_link_set_master("nosuch0", "tbr0", &err), -ENODEV);
	assert_string_equal(err.msg, "no interface 'nosuch0'");
	err = (struct error){ 0 };
	assert_int_equal(nl_link_set_master("tve0", "this-name-is-too-long", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not an interface name"));
	err = (struct error){ 0 };
	/* A veth is no bridge: the kernel refuses, and says which link. */
	assert_true(nl_link_set_master("tve0", "tve1", &err) < 0);
	assert_non_null(strstr(err.msg, "cannot attach tve0 to tve1"));
	err = (struct error){ 0 };
	assert_int_equal(nl_bridge_vlan_set("tve0", 4095, NULL, 0, &err), -EINVAL);
	assert_string_equal(err.msg, "VLAN 4095 is not in 1..4094");
}

/* Access and trunk VLANs; skips where the kernel has no VLAN filtering. */
static void test_bridge_vlans(void **state)
{
	static const unsigned int trunk[] = { 30, 10, 11, 12, 20 };
	struct error err = { 0 };
	char out[4096] = "";
	FILE *p;
	int r;

	(void)state;
	if (!have_links())
		skip();
	assert_int_equal(nl_link_set_master("tve0", "tbr0", &err), 0);
	r = nl_bridge_vlan_set("tve0", 20, trunk, 5, &err);
	if (r == -EOPNOTSUPP || r == -EINVAL) {
		printf("skip: this kernel has no bridge VLAN filtering (%s)\n", err.msg);
		skip();
	}
	assert_int_equal(r, 0);
	p = popen("bridge -j vlan show dev tve0", "r");
	assert_non_null(p);
	assert_true(fread(out, 1, sizeof(out) - 1, p) > 0);
	pclose(p);
	/* PVID 20 untagged; 10-12 and 30 tagged; no VLAN 1 any more. */
	assert_non_null(strstr(out, "\"vlan\":20,\"flags\":[\"PVID\",\"Egress Untagged\"]"));
	/* iproute2 lists each VLAN of a range on its own (no -c). */
	for (unsigned int v = 10; v <= 12; v++) {
		char want[32];

		snprintf(want, sizeof(want), "\"vlan\":%u}", v);
		assert_non_null(strstr(out, want));
	}
	assert_non_null(strstr(out, "\"vlan\":30}"));
	assert_null(strstr(out, "\"vlan\":1,"));
	/* Replacing leaves only the new set. */
	assert_int_equal(nl_bridge_vlan_set("tve0", 0, (const unsigned int[]){ 7 }, 1, &err), 0);
	p = popen("bridge -j vlan show dev tve0", "r");
	memset(out, 0, sizeof(out));
	assert_true(fread(out, 1, sizeof(out) - 1, p) > 0);
	pclose(p);
	assert_non_null(strstr(out, "\"vlan\":7}"));
	assert_null(strstr(out, "\"vlan\":20"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_master_and_up),
		cmocka_unit_test(test_errors_name_the_link),
		cmocka_unit_test(test_bridge_vlans),
	};

	return cmocka_run_group_tests(tests, in_netns, NULL);
}
