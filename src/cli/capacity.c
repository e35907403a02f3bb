// SPDX-License-Identifier: MIT
/*
 * `vessel host --capacity [--json]`: the host's memory against what the
 * running VMs have committed, under the admission policy
 * (mgmt/admission.h, docs/memory.md), per NUMA node as well.
 */
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "mgmt/admission.h"
#include "util/error.h"
#include "util/util.h"

#define NODES_MAX 64

/* Node n's MemTotal in bytes (sysfs node meminfo), or 0 without the node. */
static uint64_t node_ram(unsigned int n)
{
	char path[64], line[256];
	unsigned long long kb;
	uint64_t v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/devices/system/node/node%u/meminfo", n);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Node %*u MemTotal: %llu kB", &kb) == 1)
			v = (uint64_t)kb * 1024;
	fclose(f);
	return v;
}

static void add_u64(struct json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_int64((int64_t)v));
}

static const char *sz(uint64_t v, char *buf)
{
	format_size(v, buf, 24);
	return buf;
}

int host_capacity(bool json)
{
	struct mem_claim *claims = calloc(ADMISSION_MAX, sizeof(*claims));
	uint64_t strict_on[NODES_MAX] = { 0 }, soft_on[NODES_MAX] = { 0 };
	uint64_t room_soft, room_strict, limit, free_strict;
	uint64_t unbound_strict = 0, unbound_soft = 0;
	struct error err = ERROR_INIT;
	struct admission_sums s;
	struct host_policy p;
	struct host_memory h;
	struct state_dirs d;
	char b[6][24];
	int n;

	if (!claims)
		return cli_error("out of memory");
	if (state_dirs_init(&d)) {
		free(claims);
		return cli_error("%s", d.err);
	}
	if (host_policy_load(&d, &p, &err)) {
		free(claims);
		return cli_error("%s", error_msg(&err));
	}
	n = admission_list(&d, claims, ADMISSION_MAX);
	if (n < 0) {
		free(claims);
		return cli_error("cannot read the memory claims: %s", strerror(-n));
	}
	host_memory_read(&h);
	admission_sum(&p, &h, claims, (size_t)n, &s);
	free_strict = s.capacity > s.strict ? s.capacity - s.strict : 0;
	limit = (uint64_t)((double)free_strict * p.ratio);
	room_soft = limit > s.soft ? limit - s.soft : 0;
	room_strict = (double)free_strict > (double)s.soft / p.ratio
			      ? free_strict - (uint64_t)((double)s.soft / p.ratio)
			      : 0;
	/* A VM bound to k nodes counts size/k on each; unbound VMs on none. */
	for (int i = 0; i < n; i++) {
		unsigned int k = (unsigned int)__builtin_popcountll(claims[i].nodes);
		uint64_t v = claims[i].kind == MEM_CLAIM_SOFT ? claims[i].target : claims[i].size;
		bool strict = claims[i].kind != MEM_CLAIM_SOFT;

		if (!k) {
			*(strict ? &unbound_strict : &unbound_soft) += v;
			continue;
		}
		for (unsigned int nd = 0; nd < NODES_MAX; nd++)
			if (claims[i].nodes & (1ull << nd))
				*(strict ? &strict_on[nd] : &soft_on[nd]) += v / k;
	}
	if (json) {
		struct json_object *o = json_object_new_object(), *nodes = json_object_new_array();

		add_u64(o, "ram", h.total);
		add_u64(o, "hugetlb", h.hugetlb);
		add_u64(o, "reserve", p.reserve);
		json_object_object_add(o, "overcommit_ratio", json_object_new_double(p.ratio));
		json_object_object_add(o, "policy_file", json_object_new_boolean(p.from_file));
		add_u64(o, "capacity", s.capacity);
		add_u64(o, "vms", s.vms);
		add_u64(o, "committed_strict", s.strict);
		add_u64(o, "committed_soft", s.soft);
		add_u64(o, "committed_soft_size", s.soft_size);
		add_u64(o, "committed_hugetlb", s.huge);
		add_u64(o, "room_soft", room_soft);
		add_u64(o, "room_strict", room_strict);
		add_u64(o, "ksm_sharing", h.ksm_sharing);
		for (unsigned int nd = 0; nd < NODES_MAX; nd++) {
			struct json_object *e;

			if (!node_ram(nd))
				continue;
			e = json_object_new_object();
			add_u64(e, "node", nd);
			add_u64(e, "ram", node_ram(nd));
			add_u64(e, "committed_strict", strict_on[nd]);
			add_u64(e, "committed_soft", soft_on[nd]);
			json_object_array_add(nodes, e);
		}
		json_object_object_add(o, "nodes", nodes);
		add_u64(o, "unbound_strict", unbound_strict);
		add_u64(o, "unbound_soft", unbound_soft);
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
		json_object_put(o);
		free(claims);
		return 0;
	}
	printf("host memory: %s RAM, %s in huge page pools, %s reserved: capacity %s\n",
	       sz(h.total, b[0]), sz(h.hugetlb, b[1]), sz(p.reserve, b[2]), sz(s.capacity, b[3]));
	printf("policy: overcommit ratio %.2g (%s)\n", p.ratio,
	       p.from_file ? "host.json" : "default: no host.json");
	printf("committed by %zu VMs: %s not overcommitted (pinned, dedicated, prealloc), "
	       "%s overcommittable (%s before setmem), %s huge pages\n",
	       s.vms, sz(s.strict, b[0]), sz(s.soft, b[1]), sz(s.soft_size, b[2]),
	       sz(s.huge, b[3]));
	printf("room: %s for an overcommittable VM, %s for one that is not\n",
	       sz(room_soft, b[0]), sz(room_strict, b[1]));
	printf("KSM shares %s now\n", sz(h.ksm_sharing, b[0]));
	printf("%-6s %-10s %-16s %s\n", "NODE", "RAM", "STRICT", "OVERCOMMITTABLE");
	for (unsigned int nd = 0; nd < NODES_MAX; nd++)
		if (node_ram(nd))
			printf("%-6u %-10s %-16s %s\n", nd, sz(node_ram(nd), b[0]),
			       sz(strict_on[nd], b[1]), sz(soft_on[nd], b[2]));
	printf("%-6s %-10s %-16s %s\n", "any", "-", sz(unbound_strict, b[0]),
	       sz(unbound_soft, b[1]));
	free(claims);
	return 0;
}
