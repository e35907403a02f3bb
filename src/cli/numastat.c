// SPDX-License-Identifier: MIT
/*
 * `vessel numastat NAME|--all [--json]`: is each guest NUMA node's memory
 * on the host node its vCPUs run on?  The VMM says where the RAM lies
 * (GET /vm/numa) and where its vCPU threads may run (GET /vm/vcpus); the
 * kernel says where the pages are (mgmt/numastat.h).  docs/memory.md
 * "NUMA verification".  Exit status: 0 all aligned, 3 a VM is split or
 * remote, 1 a VM could not be checked (and none was misaligned), 2 usage:
 * a status of its own for "misaligned", so a script never reads a typo as
 * a verdict.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/mgmt.h"
#include "mgmt/numastat.h"
#include "util/util.h"
#include "vm/config_json.h"

#define NUMASTAT_USAGE                                                                      \
	"vessel numastat NAME|--all [--json]\n\n"                                           \
	"Where each guest NUMA node's memory is on the host, where its vCPUs may run and "  \
	"last ran,\nand a verdict per guest node: aligned, split (memory on several host " \
	"nodes) or remote\n(vCPUs may run away from their memory).  Exit status 0: all "    \
	"aligned; 3: split or remote;\n1: could not check; 2: usage."

enum { NS_OK = 0, NS_ERROR = 1, NS_MISALIGNED = 3 };

static int64_t get_i64(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : -1;
}

static const char *get_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

static struct json_object *nodes_json(uint64_t nodes)
{
	char buf[256];

	return json_object_new_string(nodes ? bitmap_format(&nodes, 64, buf, sizeof(buf)) : "");
}

/*
 * One vCPU's placement: {"id", "tid", "affinity", "allowed_nodes",
 * "last_cpu", "last_node"}; its allowed host nodes are ORed into *nodes.
 */
static struct json_object *vcpu_json(const struct numastat_host *h, struct json_object *v,
				     uint64_t *nodes)
{
	struct json_object *o = json_object_new_object();
	const char *aff = get_str(v, "affinity");
	int64_t last = get_i64(v, "host_cpu");
	uint64_t allowed = 0;
	cpu_set_t set;

	CPU_ZERO(&set);
	if (aff && !cpuset_parse(aff, &set))
		allowed = numastat_cpu_nodes(h, &set);
	*nodes |= allowed;
	json_object_object_add(o, "id", json_object_new_int64(get_i64(v, "id")));
	json_object_object_add(o, "tid", json_object_new_int64(get_i64(v, "tid")));
	json_object_object_add(o, "affinity", json_object_new_string(aff ? aff : ""));
	json_object_object_add(o, "allowed_nodes", nodes_json(allowed));
	json_object_object_add(o, "last_cpu", json_object_new_int64(last));
	json_object_object_add(o, "last_node",
			       json_object_new_int(last >= 0 && last < CPU_SETSIZE
							   ? h->cpu_node[last]
							   : -1));
	return o;
}

/* The vCPU entry of /vm/vcpus with this id, or NULL. */
static struct json_object *vcpu_by_id(struct json_object *vcpus, int64_t id)
{
	for (size_t i = 0; i < json_object_array_length(vcpus); i++) {
		struct json_object *v = json_object_array_get_idx(vcpus, i);

		if (get_i64(v, "id") == id)
			return v;
	}
	return NULL;
}

/* One guest node: walk its spans, gather its vCPUs, judge.  0 or -errno. */
static int node_check(const struct numastat_host *h, pid_t pid, uint64_t page_size,
		      struct json_object *node, struct json_object *vcpus, struct json_object *out,
		      enum numastat_verdict *verdict, char *err, size_t errlen)
{
	struct json_object *spans, *on = json_object_new_object(), *vl = json_object_new_array();
	struct numastat_usage u = { 0 };
	const char *list = get_str(node, "vcpus");
	uint64_t cpu_nodes = 0, present = 0;
	uint64_t ids[4] = { 0 };
	int r;

	json_object_object_add(out, "id", json_object_new_int64(get_i64(node, "id")));
	json_object_object_add(out, "size", json_object_new_int64(get_i64(node, "size")));
	json_object_object_add(out, "host_nodes",
			       json_object_new_string(get_str(node, "host_nodes")
							      ? get_str(node, "host_nodes")
							      : ""));
	json_object_object_add(out, "on_host_nodes", on);
	json_object_object_add(out, "vcpus", vl);
	if (json_object_object_get_ex(node, "spans", &spans) &&
	    json_object_is_type(spans, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(spans); i++) {
			struct json_object *sp = json_object_array_get_idx(spans, i);

			r = numastat_walk(pid, (uint64_t)get_i64(sp, "hva"),
					  (uint64_t)get_i64(sp, "length"), page_size, &u);
			if (r) {
				snprintf(err, errlen, "cannot read where its pages are: %s%s",
					 strerror(-r),
					 r == -EPERM ? " (needs root, CAP_SYS_NICE or the VMM's uid)"
						     : "");
				return r;
			}
		}
	}
	for (unsigned int n = 0; n < h->nr_nodes; n++) {
		char key[16];

		if (!(h->online >> n & 1) && !u.on_node[n])
			continue;
		snprintf(key, sizeof(key), "%u", n);
		json_object_object_add(on, key, json_object_new_int64((int64_t)u.on_node[n]));
		present += u.on_node[n];
	}
	json_object_object_add(out, "present", json_object_new_int64((int64_t)present));
	if (list && *list && parse_cpulist(list, ids, 256) == 0) {
		for (unsigned int id = 0; id < 256; id++) {
			struct json_object *v;

			if (!(ids[id / 64] >> (id % 64) & 1))
				continue;
			v = vcpu_by_id(vcpus, id);
			if (v)
				json_object_array_add(vl, vcpu_json(h, v, &cpu_nodes));
		}
	}
	json_object_object_add(out, "cpu_nodes", nodes_json(cpu_nodes));
	*verdict = numastat_judge(&u, cpu_nodes);
	json_object_object_add(out, "verdict",
			       json_object_new_string(numastat_verdict_name(*verdict)));
	return 0;
}

/* Check one VM into *out; returns NS_OK, NS_MISALIGNED or NS_ERROR (err set). */
static int vm_check(const struct numastat_host *h, const char *name, struct json_object **out,
		    char *err, size_t errlen)
{
	struct json_object *layout = NULL, *vcpus = NULL, *nodes, *o, *arr;
	bool misaligned = false, any = false;
	char msg[256] = "";
	struct mgmt m;
	pid_t pid = 0;
	int r, ret = NS_ERROR;

	*out = NULL;
	err[0] = '\0';
	/* Both print their own line. */
	if (mgmt_open(name, &m) || mgmt_require_running(&m, &pid))
		return NS_ERROR;
	r = mgmt_api(&m, "GET", "/vm/numa", NULL, &layout, msg, sizeof(msg));
	if (r != 200 || !json_object_object_get_ex(layout, "nodes", &nodes) ||
	    !json_object_is_type(nodes, json_type_array)) {
		snprintf(err, errlen, "numastat '%s': %s", name,
			 msg[0] ? msg : r < 0 ? strerror(-r) : "no NUMA layout from the VMM");
		goto out;
	}
	r = mgmt_api(&m, "GET", "/vm/vcpus", NULL, &vcpus, msg, sizeof(msg));
	if (r != 200 || !json_object_is_type(vcpus, json_type_array)) {
		snprintf(err, errlen, "numastat '%s': %s", name,
			 msg[0] ? msg : r < 0 ? strerror(-r) : "no vCPUs from the VMM");
		goto out;
	}
	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "pid", json_object_new_int(pid));
	json_object_object_add(o, "mode", json_object_new_string(get_str(layout, "mode")
								      ? get_str(layout, "mode")
								      : "none"));
	json_object_object_add(o, "page_size", json_object_new_int64(get_i64(layout, "page_size")));
	arr = json_object_new_array();
	json_object_object_add(o, "nodes", arr);
	for (size_t i = 0; i < json_object_array_length(nodes); i++) {
		struct json_object *no = json_object_new_object();
		enum numastat_verdict v;

		json_object_array_add(arr, no);
		if (node_check(h, pid, (uint64_t)get_i64(layout, "page_size"),
			       json_object_array_get_idx(nodes, i), vcpus, no, &v, msg,
			       sizeof(msg))) {
			snprintf(err, errlen, "numastat '%s': guest node %zu: %s", name, i, msg);
			json_object_put(o);
			goto out;
		}
		misaligned |= numastat_misaligned(v);
		any |= v == NUMASTAT_ALIGNED;
	}
	json_object_object_add(o, "verdict",
			       json_object_new_string(misaligned ? "misaligned"
						      : any	 ? "aligned"
								 : "empty"));
	*out = o;
	ret = misaligned ? NS_MISALIGNED : NS_OK;
out:
	json_object_put(layout);
	json_object_put(vcpus);
	return ret;
}

static void row_print(const struct numastat_host *h, const char *vm, struct json_object *node)
{
	struct json_object *on, *vl;
	char buf[32], nodes[64] = "", last[64] = "";
	size_t nl = 0, ll = 0;

	printf("%-16s %4lld", vm, (long long)get_i64(node, "id"));
	format_size((uint64_t)get_i64(node, "size"), buf, sizeof(buf));
	printf(" %8s", buf);
	format_size((uint64_t)get_i64(node, "present"), buf, sizeof(buf));
	printf(" %8s", buf);
	json_object_object_get_ex(node, "on_host_nodes", &on);
	for (unsigned int n = 0; n < h->nr_nodes; n++) {
		char key[16];
		struct json_object *v;

		snprintf(key, sizeof(key), "%u", n);
		if (!(h->online >> n & 1))
			continue;
		format_size(on && json_object_object_get_ex(on, key, &v)
				    ? (uint64_t)json_object_get_int64(v)
				    : 0,
			    buf, sizeof(buf));
		printf(" %8s", buf);
	}
	json_object_object_get_ex(node, "vcpus", &vl);
	for (size_t i = 0; vl && i < json_object_array_length(vl); i++) {
		struct json_object *v = json_object_array_get_idx(vl, i);

		nl += (size_t)snprintf(nodes + nl, nl < sizeof(nodes) ? sizeof(nodes) - nl : 0,
				       "%s%lld:%s", i ? " " : "", (long long)get_i64(v, "id"),
				       get_str(v, "allowed_nodes"));
		ll += (size_t)snprintf(last + ll, ll < sizeof(last) ? sizeof(last) - ll : 0,
				       "%s%lld", i ? "," : "", (long long)get_i64(v, "last_node"));
	}
	printf("  %-16s %-8s %s\n", nl ? nodes : "-", ll ? last : "-",
	       get_str(node, "verdict"));
}

static void table_print(const struct numastat_host *h, struct json_object *vms)
{
	printf("%-16s %4s %8s %8s", "VM", "NODE", "SIZE", "PRESENT");
	for (unsigned int n = 0; n < h->nr_nodes; n++) {
		char key[16];

		if (!(h->online >> n & 1))
			continue;
		snprintf(key, sizeof(key), "HOST%u", n);
		printf(" %8s", key);
	}
	printf("  %-16s %-8s %s\n", "VCPU:NODES", "LAST", "VERDICT");
	for (size_t i = 0; i < json_object_array_length(vms); i++) {
		struct json_object *vm = json_object_array_get_idx(vms, i), *nodes;

		json_object_object_get_ex(vm, "nodes", &nodes);
		for (size_t k = 0; nodes && k < json_object_array_length(nodes); k++)
			row_print(h, get_str(vm, "name"), json_object_array_get_idx(nodes, k));
	}
}

int cmd_numastat(int argc, char **argv)
{
	struct json_object *vms = json_object_new_array();
	const char *name = NULL;
	bool json = false, all = false, bad = false;
	struct numastat_host *h;
	char **names = NULL;
	size_t n = 0;
	int ret = NS_OK, r;

	if (mgmt_help(argc, argv, NUMASTAT_USAGE)) {
		json_object_put(vms);
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--all"))
			all = true;
		else if (argv[i][0] != '-' && !name)
			name = argv[i];
		else
			bad = true;
	}
	if (bad || !name == !all) {
		json_object_put(vms);
		return cli_usage("vessel numastat NAME|--all [--json]");
	}
	h = malloc(sizeof(*h));
	if (!h || (r = numastat_host_read(h))) {
		free(h);
		json_object_put(vms);
		return cli_error("cannot read the host's NUMA topology (/sys/devices/system/node)");
	}
	if (all) {
		struct state_dirs d;

		if (state_dirs_init(&d)) {
			free(h);
			json_object_put(vms);
			return cli_error("%s", d.err);
		}
		if ((r = state_list_defined(&d, &names, &n))) {
			free(h);
			json_object_put(vms);
			return cli_error("%s: %s", d.data, strerror(-r));
		}
	}
	for (size_t i = 0; i < (all ? n : 1); i++) {
		const char *vm = all ? names[i] : name;
		struct json_object *o;
		char err[512];
		int k;

		if (all) {
			struct mgmt m;
			pid_t pid = 0;

			/* The audit covers running VMs; the others have no placement. */
			if (mgmt_open(vm, &m) || state_vm_status(&m.vm, &pid) != STATE_RUNNING)
				continue;
		}
		k = vm_check(h, vm, &o, err, sizeof(err));
		if (k == NS_ERROR) {
			if (err[0])
				cli_error("%s", err);
			if (ret == NS_OK)
				ret = NS_ERROR;
			continue;
		}
		json_object_array_add(vms, o);
		if (k == NS_MISALIGNED)
			ret = NS_MISALIGNED;
	}
	if (json && (all || json_object_array_length(vms)))
		printf("%s\n", json_object_to_json_string_ext(all ? vms
							       : json_object_array_get_idx(vms, 0),
							   JSON_C_TO_STRING_PRETTY));
	else if (json_object_array_length(vms))
		table_print(h, vms);
	else if (all && ret == NS_OK)
		printf("no running VMs\n");
	state_names_free(names, n);
	json_object_put(vms);
	free(h);
	return ret;
}
