// SPDX-License-Identifier: MIT
/*
 * struct vm_config -> JSON, in the schema vm_config_from_json() reads
 * (docs/config.md), so that GET /vm and `vessel info` show the definition a
 * VM runs with and a dump can be fed back to `vessel define`.
 */
#include "vm/config_json.h"
#include "util/syscall-filter.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "util/util.h"

char *bitmap_format(const uint64_t *bits, unsigned int nbits, char *buf, size_t len)
{
	size_t off = 0;

	if (!len)
		return buf;
	buf[0] = '\0';
	for (unsigned int i = 0; i < nbits; i++) {
		unsigned int j = i;
		int n;

		if (!(bits[i / 64] & (1ull << (i % 64))))
			continue;
		while (j + 1 < nbits && (bits[(j + 1) / 64] & (1ull << ((j + 1) % 64))))
			j++;
		if (j == i)
			n = snprintf(buf + off, len - off, "%s%u", off ? "," : "", i);
		else
			n = snprintf(buf + off, len - off, "%s%u-%u", off ? "," : "", i, j);
		if (n < 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
		i = j;
	}
	return buf;
}

char *cpuset_format(const cpu_set_t *set, char *buf, size_t len)
{
	uint64_t bits[CPU_SETSIZE / 64] = { 0 };

	for (unsigned int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, set))
			bits[i / 64] |= 1ull << (i % 64);
	return bitmap_format(bits, CPU_SETSIZE, buf, len);
}

int cpuset_parse(const char *s, cpu_set_t *set)
{
	uint64_t bits[CPU_SETSIZE / 64];
	int r = parse_cpulist(s, bits, CPU_SETSIZE);

	if (r)
		return r;
	CPU_ZERO(set);
	for (unsigned int i = 0; i < CPU_SETSIZE; i++)
		if (bits[i / 64] & (1ull << (i % 64)))
			CPU_SET(i, set);
	return 0;
}

static void add_str(struct json_object *o, const char *key, const char *val)
{
	if (val)
		json_object_object_add(o, key, json_object_new_string(val));
}

static void add_size(struct json_object *o, const char *key, uint64_t v)
{
	char buf[32];

	/* Whole MiB read back exactly through parse_size; else bytes. */
	if (v && IS_ALIGNED(v, GiB))
		snprintf(buf, sizeof(buf), "%lluG", (unsigned long long)(v / GiB));
	else if (v && IS_ALIGNED(v, MiB))
		snprintf(buf, sizeof(buf), "%lluM", (unsigned long long)(v / MiB));
	else
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	json_object_object_add(o, key, json_object_new_string(buf));
}

static struct json_object *cpus_to_json(const struct vm_config *c)
{
	struct json_object *o = json_object_new_object();
	struct json_object *pin = NULL;
	char buf[256];

	json_object_object_add(o, "count", json_object_new_int((int)c->nr_cpus));
	json_object_object_add(o, "policy",
			       json_object_new_string(c->dedicated_cpus ? "dedicated" : "shared"));
	for (unsigned int i = 0; i < c->nr_cpus && i < VM_MAX_VCPUS; i++) {
		char key[16];

		if (!c->vcpu_pinned[i])
			continue;
		if (!pin)
			pin = json_object_new_object();
		snprintf(key, sizeof(key), "%u", i);
		json_object_object_add(pin, key,
				       json_object_new_string(cpuset_format(&c->vcpu_affinity[i],
									    buf, sizeof(buf))));
	}
	if (pin)
		json_object_object_add(o, "pinning", pin);
	if (c->emulator_pinned)
		add_str(o, "emulator", cpuset_format(&c->emulator_affinity, buf, sizeof(buf)));
	return o;
}

/* Every device kind in table order: an array, or its single value. */
static void devices_to_json(struct json_object *o, const struct vm_config *c)
{
	for (const struct dev_kind *const *k = vm_dev_kinds; *k; k++) {
		unsigned int n = vm_config_count(c, *k);
		struct json_object *a, *v;

		if ((*k)->json_parent)
			continue; /* dumped by its parent object (memory.balloon) */

		if ((*k)->max == 1) {
			v = vm_dev_to_json(*k, vm_config_dev(c, *k, 0));
			if (v)
				json_object_object_add(o, (*k)->json_key, v);
			continue;
		}
		if (!n)
			continue;
		a = json_object_new_array();
		for (unsigned int i = 0; a && i < n; i++) {
			v = vm_dev_to_json(*k, vm_config_dev(c, *k, i));
			if (v)
				json_object_array_add(a, v);
		}
		if (a)
			json_object_object_add(o, (*k)->json_key, a);
	}
}

static struct json_object *numa_to_json(const struct vm_config *c)
{
	static const char *const modes[] = { "none", "strict", "preferred", "interleave" };
	struct json_object *o = json_object_new_object();
	char buf[256];

	if ((unsigned int)c->numa_mode < ARRAY_SIZE(modes))
		add_str(o, "mode", modes[c->numa_mode]);
	if (c->numa_host_nodes)
		add_str(o, "nodeset", bitmap_format(&c->numa_host_nodes, 64, buf, sizeof(buf)));
	if (c->nr_numa_nodes) {
		struct json_object *nodes = json_object_new_array();

		for (unsigned int i = 0; i < c->nr_numa_nodes && i < VM_MAX_NUMA_NODES; i++) {
			const struct vm_numa_node *nd = &c->numa_nodes[i];
			struct json_object *n = json_object_new_object();
			struct json_object *dist = json_object_new_array();

			add_str(n, "cpus", bitmap_format(nd->cpus, VM_MAX_VCPUS, buf, sizeof(buf)));
			add_size(n, "memory", nd->mem_size);
			if (nd->host_nodes)
				add_str(n, "host_nodes",
					bitmap_format(&nd->host_nodes, 64, buf, sizeof(buf)));
			for (unsigned int j = 0; j < c->nr_numa_nodes; j++)
				json_object_array_add(dist, json_object_new_int(nd->distance[j]));
			json_object_object_add(n, "distances", dist);
			json_object_array_add(nodes, n);
		}
		json_object_object_add(o, "nodes", nodes);
	}
	return o;
}

static const char *const reboot_actions[] = VM_REBOOT_ACTION_NAMES;

struct json_object *vm_config_to_json(const struct vm_config *c)
{
	struct json_object *o = json_object_new_object();
	struct json_object *lc;

	if (!o)
		return NULL;
	add_str(o, "name", c->name);
	add_str(o, "uuid", c->uuid);
	json_object_object_add(o, "cpus", cpus_to_json(c));
	json_object_object_add(o, "memory", vm_config_memory_to_json(c));
	add_str(o, "kernel", c->kernel);
	add_str(o, "initrd", c->initrd);
	add_str(o, "cmdline", c->cmdline);
	json_object_object_add(o, "console", chardev_spec_to_json(&c->console));
	devices_to_json(o, c);
	if (c->numa_mode != VM_NUMA_NONE || c->nr_numa_nodes)
		json_object_object_add(o, "numa", numa_to_json(c));
	lc = json_object_new_object();
	add_str(lc, "on_reboot", reboot_actions[c->on_reboot]);
	json_object_object_add(o, "lifecycle", lc);
	json_object_object_add(o, "debug_exit", json_object_new_boolean(c->debug_exit));
	add_str(o, "api_socket", c->api_socket);
	add_str(o, "seccomp", syscall_filter_mode_name((enum syscall_filter_mode)c->seccomp));
	if (c->jail_given || c->jail.mode != JAIL_OFF)
		json_object_object_add(o, "jail", keys_to_json(jail_keys, &c->jail));
	return o;
}
