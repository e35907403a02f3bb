// SPDX-License-Identifier: MIT
/*
 * mgmt/network.c: the rules of a network definition, its JSON in a
 * private state directory, and how a VM's NIC is resolved to a bridge and
 * VLANs.  The active-network case runs in a network namespace of its own
 * (root; skipped without it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mgmt/network.h"
#include "util/error.h"
#include "virtio/devices.h"
#include "vm/config.h"

static struct state_dirs dirs;

static int dirs_make(void **state)
{
	char tmpl[] = "/tmp/vessel-network-XXXXXX";

	(void)state;
	if (!mkdtemp(tmpl))
		return -1;
	snprintf(dirs.run, sizeof(dirs.run), "%s/run", tmpl);
	snprintf(dirs.data, sizeof(dirs.data), "%s/lib", tmpl);
	return state_mkdir(dirs.run) || state_mkdir(dirs.data);
}

static int dirs_remove(void **state)
{
	char cmd[STATE_PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %.*s", (int)(strlen(dirs.run) - 4), dirs.run);
	return system(cmd) ? -1 : 0;
}

static void def_init(struct network_def *n, const char *name)
{
	memset(n, 0, sizeof(*n));
	snprintf(n->name, sizeof(n->name), "%s", name);
	snprintf(n->bridge, sizeof(n->bridge), "vbr-%s", name);
}

static struct in_addr ip(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a;
}

static void test_check_rules(void **state)
{
	struct error err = ERROR_INIT;
	struct network_def n;

	(void)state;
	def_init(&n, "lan");
	assert_int_equal(network_check(&n, &err), 0);
	n.has_addr = true;
	n.addr = ip("10.0.0.1");
	n.prefix = 24;
	n.has_dhcp = true;
	n.dhcp_start = ip("10.0.0.100");
	n.dhcp_end = ip("10.0.0.200");
	assert_int_equal(network_check(&n, &err), 0);
	n.dhcp_end = ip("10.0.1.5");
	assert_int_equal(network_check(&n, &err), -EINVAL);
	assert_non_null(strstr(error_msg(&err), "not in the subnet"));
	error_clear(&err);
	n.dhcp_end = ip("10.0.0.50");
	assert_int_equal(network_check(&n, &err), -EINVAL); /* ends before it starts */
	error_clear(&err);
	n.dhcp_end = ip("10.0.0.200");
	n.addr = ip("10.0.0.255");
	assert_int_equal(network_check(&n, &err), -EINVAL); /* broadcast */
	error_clear(&err);
	n.addr = ip("10.0.0.1");
	n.vni = 7;
	assert_int_equal(network_check(&n, &err), -EINVAL); /* no remote */
	error_clear(&err);
	n.vx_remote = ip("239.1.1.1");
	n.vx_group = true;
	assert_int_equal(network_check(&n, &err), -EINVAL); /* group without dev */
	error_clear(&err);
	strcpy(n.vx_dev, "eth0");
	assert_int_equal(network_check(&n, &err), 0);
	assert_false(network_name_valid("a.b"));
	assert_false(network_name_valid("twelvechars1"));
	assert_true(network_name_valid("elevenchars"));
}

static void test_save_load(void **state)
{
	struct error err = ERROR_INIT;
	struct network_def n, m;
	char **names;
	size_t cnt;

	(void)state;
	def_init(&n, "vl");
	n.vlan_filtering = true;
	n.has_addr = true;
	n.addr = ip("192.168.5.1");
	n.prefix = 24;
	n.vni = 4242;
	n.vx_remote = ip("10.99.0.2");
	n.vx_port = 8472;
	strcpy(n.vx_dev, "eth1");
	strcpy(n.pg[0].name, "web");
	n.pg[0].vlan = 10;
	strcpy(n.pg[1].name, "tr");
	strcpy(n.pg[1].trunk, "10:20-30");
	n.nr_pg = 2;
	assert_int_equal(network_save(&dirs, &n, &err), 0);
	assert_int_equal(network_load(&dirs, "vl", &m, &err), 0);
	assert_string_equal(m.bridge, "vbr-vl");
	assert_true(m.vlan_filtering);
	assert_int_equal(m.addr.s_addr, n.addr.s_addr);
	assert_int_equal(m.prefix, 24);
	assert_false(m.has_dhcp);
	assert_int_equal(m.vni, 4242);
	assert_int_equal(m.vx_port, 8472);
	assert_string_equal(m.vx_dev, "eth1");
	assert_int_equal(m.nr_pg, 2);
	assert_int_equal(network_portgroup(&m, "web")->vlan, 10);
	assert_string_equal(network_portgroup(&m, "tr")->trunk, "10:20-30");
	assert_null(network_portgroup(&m, "nope"));
	assert_int_equal(network_list(&dirs, &names, &cnt), 0);
	assert_int_equal(cnt, 1);
	assert_string_equal(names[0], "vl");
	state_names_free(names, cnt);
	assert_int_equal(network_load(&dirs, "nope", &m, &err), -ENOENT);
	error_clear(&err);

	/* A definition edited into nonsense is refused, in one message. */
	char path[STATE_PATH_MAX + 32];
	FILE *f;

	snprintf(path, sizeof(path), "%s/networks/bad.json", dirs.data);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"bridge\": \"vbr-bad\", \"portgroups\": [{\"name\": \"x\", \"vlan\": 5000}]}", f);
	fclose(f);
	assert_int_equal(network_load(&dirs, "bad", &m, &err), -EINVAL);
	assert_non_null(strstr(error_msg(&err), "not a network definition"));
	unlink(path);
}

static void nic(struct vm_config *c, const char *spec)
{
	struct error err = ERROR_INIT;

	assert_int_equal(vm_config_parse_dev(c, &virtio_net_kind, spec, &err), 0);
}

static void test_resolve(void **state)
{
	struct error err = ERROR_INIT;
	struct virtio_net_config *nc;
	struct network_def n;
	struct vm_config c;

	(void)state;
	def_init(&n, "rs");
	n.vlan_filtering = true;
	strcpy(n.pg[0].name, "web");
	n.pg[0].vlan = 10;
	strcpy(n.pg[0].trunk, "20:30");
	n.nr_pg = 1;
	assert_int_equal(network_save(&dirs, &n, &err), 0);

	vm_config_init(&c);
	nic(&c, "tap=t0");
	nic(&c, "network=rs,portgroup=web");
	/* Not built on this host (no vbr-rs): refused, naming the command. */
	assert_int_equal(network_resolve_nics(&dirs, &c, &err), -ENETDOWN);
	assert_non_null(strstr(error_msg(&err), "nets[1]: network 'rs' is not active"));
	error_clear(&err);
	vm_config_free(&c);

	vm_config_init(&c);
	nic(&c, "network=rs,portgroup=nope");
	assert_int_equal(network_resolve_nics(&dirs, &c, &err), -ENOENT);
	error_clear(&err);
	vm_config_free(&c);

	vm_config_init(&c);
	nic(&c, "network=undefined");
	assert_int_equal(network_resolve_nics(&dirs, &c, &err), -ENOENT);
	assert_non_null(strstr(error_msg(&err), "nets[0]: network 'undefined' is not defined"));
	error_clear(&err);
	vm_config_free(&c);

	if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0) {
		print_message("skipped: the active case needs root (a network namespace)\n");
		return;
	}
	assert_int_equal(nl_bridge_add("vbr-rs", false, &err), 0);
	/* VLANs on a network without filtering would be silently meaningless. */
	n.vlan_filtering = false;
	assert_int_equal(network_save(&dirs, &n, &err), 0);
	vm_config_init(&c);
	nic(&c, "network=rs,portgroup=web");
	assert_int_equal(network_resolve_nics(&dirs, &c, &err), -EINVAL);
	assert_non_null(strstr(error_msg(&err), "no --vlan-filtering"));
	error_clear(&err);
	vm_config_free(&c);

	n.vlan_filtering = true;
	assert_int_equal(network_save(&dirs, &n, &err), 0);
	vm_config_init(&c);
	nic(&c, "tap=t0");
	nic(&c, "network=rs,portgroup=web");
	nic(&c, "network=rs");
	assert_int_equal(network_resolve_nics(&dirs, &c, &err), 0);
	nc = vm_config_dev(&c, &virtio_net_kind, 0);
	assert_null(nc->bridge);
	assert_string_equal(nc->tap, "t0");
	nc = vm_config_dev(&c, &virtio_net_kind, 1);
	assert_string_equal(nc->bridge, "vbr-rs");
	assert_null(nc->network);
	assert_null(nc->portgroup);
	assert_int_equal(nc->vlan, 10);
	assert_string_equal(nc->trunk, "20:30");
	nc = vm_config_dev(&c, &virtio_net_kind, 2);
	assert_string_equal(nc->bridge, "vbr-rs");
	assert_int_equal(nc->vlan, 0);
	assert_null(nc->trunk);
	vm_config_free(&c);
	assert_int_equal(nl_link_del("vbr-rs", &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_rules),
		cmocka_unit_test(test_save_load),
		cmocka_unit_test(test_resolve),
	};

	return cmocka_run_group_tests(tests, dirs_make, dirs_remove);
}
