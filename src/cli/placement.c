// SPDX-License-Identifier: MIT
/*
 * CPU and memory placement (virsh vcpuinfo, vcpupin, emulatorpin,
 * numatune).  Live changes go through the VM's API; --config changes the
 * definition for the next start; with neither flag, both when the VM runs.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/mgmt.h"
#include "util/util.h"
#include "vm/config_json.h"
#include "vm/host_check.h"

struct pin_args {
	const char *name;
	const char *pos[2];
	unsigned int npos;
	bool live, config, json;
};

static int pin_parse(int argc, char **argv, struct pin_args *a, unsigned int maxpos,
		     const char *usage)
{
	memset(a, 0, sizeof(*a));
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--live"))
			a->live = true;
		else if (!strcmp(argv[i], "--config"))
			a->config = true;
		else if (!strcmp(argv[i], "--json"))
			a->json = true;
		else if (argv[i][0] == '-' || (a->name && a->npos >= maxpos))
			return cli_usage("%s", usage);
		else if (!a->name)
			a->name = argv[i];
		else
			a->pos[a->npos++] = argv[i];
	}
	if (!a->name)
		return cli_usage("%s", usage);
	return 0;
}

int cmd_vcpuinfo(int argc, char **argv)
{
	struct json_object *arr = NULL;
	char err[256];
	struct pin_args a;
	struct mgmt m;
	int r;

	if (mgmt_help(argc, argv,
		      "vessel vcpuinfo NAME [--json]\n\nHost CPU, state, CPU time and affinity of "
		      "each vCPU."))
		return 0;
	r = pin_parse(argc, argv, &a, 0, "vessel vcpuinfo NAME [--json]");
	if (r)
		return r;
	if (a.live || a.config)
		return cli_usage("vessel vcpuinfo NAME [--json]");
	if (mgmt_open(a.name, &m) || mgmt_require_running(&m, NULL))
		return 1;
	r = mgmt_api(&m, "GET", "/vm/vcpus", NULL, &arr, err, sizeof(err));
	if (r != 200 || !json_object_is_type(arr, json_type_array)) {
		json_object_put(arr);
		return cli_error("vcpuinfo '%s': %s", a.name, err);
	}
	if (a.json)
		return mgmt_print_json(arr); /* GET /vm/vcpus, docs/api.yaml */
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *v = json_object_array_get_idx(arr, i), *f;
		int64_t ns = 0;

		if (i)
			printf("\n");
		json_object_object_get_ex(v, "id", &f);
		printf("%-16s %s\n", "VCPU:", json_object_get_string(f));
		json_object_object_get_ex(v, "host_cpu", &f);
		printf("%-16s %s\n", "CPU:", json_object_get_string(f));
		json_object_object_get_ex(v, "state", &f);
		printf("%-16s %s\n", "State:", json_object_get_string(f));
		if (json_object_object_get_ex(v, "cpu_time_ns", &f))
			ns = json_object_get_int64(f);
		printf("%-16s %.1fs\n", "CPU time:", (double)ns / 1e9);
		json_object_object_get_ex(v, "affinity", &f);
		printf("%-16s %s\n", "CPU Affinity:", json_object_get_string(f));
		json_object_object_get_ex(v, "tid", &f);
		printf("%-16s %s\n", "Thread:", json_object_get_string(f));
	}
	json_object_put(arr);
	return 0;
}

/* Update the definition under the VM's lock: fn edits the config. */
static int edit_definition(struct mgmt *m, int (*fn)(struct vm_config *c, void *arg), void *arg)
{
	struct vm_config c;
	int r;

	if (mgmt_lock(m))
		return 1;
	r = mgmt_load(m, false, &c);
	if (!r) {
		char why[256];

		r = fn(&c, arg);
		/* Refused now, naming the node or CPU, not at the next start. */
		if (!r && vm_config_check_placement(&c, why, sizeof(why)))
			r = cli_error("VM '%s': %s", m->vm.name, why);
		if (!r && (r = mgmt_save(m->vm.def, &c)))
			r = cli_error("%s: %s", m->vm.def, strerror(-r));
		vm_config_free(&c);
	}
	mgmt_close(m);
	return r;
}

struct vcpupin_edit {
	unsigned int vcpu;
	cpu_set_t set;
	const char *name;
};

static int vcpupin_apply(struct vm_config *c, void *arg)
{
	struct vcpupin_edit *e = arg;

	if (e->vcpu >= c->nr_cpus)
		return cli_error("VM '%s' has no vCPU %u (it has %u)", e->name, e->vcpu,
				 c->nr_cpus);
	if (c->dedicated_cpus && CPU_COUNT(&e->set) != 1)
		return cli_error(
			"VM '%s' has the dedicated CPU policy: pin each vCPU to one host CPU",
			e->name);
	c->vcpu_affinity[e->vcpu] = e->set;
	c->vcpu_pinned[e->vcpu] = true;
	return 0;
}

/* Each vCPU's affinity: the threads' own when running, else the definition's. */
static int print_pinning(struct mgmt *m, bool running, bool json)
{
	struct json_object *arr = NULL, *out, *f;
	struct vm_config c;
	char buf[256];

	out = json_object_new_array();
	if (running && mgmt_api(m, "GET", "/vm/vcpus", NULL, &arr, buf, sizeof(buf)) == 200 &&
	    json_object_is_type(arr, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(arr); i++) {
			struct json_object *v = json_object_new_object();

			f = NULL;
			json_object_object_get_ex(json_object_array_get_idx(arr, i), "affinity",
						  &f);
			json_object_object_add(v, "vcpu", json_object_new_int((int)i));
			json_object_object_add(v, "affinity", json_object_get(f));
			json_object_array_add(out, v);
		}
	} else if (!mgmt_load(m, false, &c)) {
		for (unsigned int i = 0; i < c.nr_cpus; i++) {
			struct json_object *v = json_object_new_object();

			json_object_object_add(v, "vcpu", json_object_new_int((int)i));
			json_object_object_add(
				v, "affinity",
				json_object_new_string(c.vcpu_pinned[i]
							       ? cpuset_format(&c.vcpu_affinity[i],
									       buf, sizeof(buf))
							       : "*"));
			json_object_array_add(out, v);
		}
		vm_config_free(&c);
	} else {
		json_object_put(arr);
		json_object_put(out);
		return 1;
	}
	json_object_put(arr);
	if (json)
		return mgmt_print_json(out);
	printf("%-6s %s\n", "VCPU", "CPU Affinity");
	for (size_t i = 0; i < json_object_array_length(out); i++) {
		f = NULL;
		json_object_object_get_ex(json_object_array_get_idx(out, i), "affinity", &f);
		printf("%-6zu %s\n", i, f ? json_object_get_string(f) : "?");
	}
	json_object_put(out);
	return 0;
}

/* A live pin of a dedicated VM must keep the host CPUs exclusive. */
static int vcpupin_dedicated(struct mgmt *m, unsigned int vcpu, const cpu_set_t *set)
{
	struct vm_config c;
	cpu_set_t all;
	char owner[80], list[256];
	int r;

	if (mgmt_load(m, true, &c))
		return 1;
	if (!c.dedicated_cpus) {
		vm_config_free(&c);
		return 0;
	}
	if (CPU_COUNT(set) != 1) {
		vm_config_free(&c);
		return cli_error("VM '%s' has the dedicated CPU policy: pin each vCPU to one host "
				 "CPU",
				 m->vm.name);
	}
	CPU_ZERO(&all);
	for (unsigned int i = 0; i < c.nr_cpus; i++)
		if (c.vcpu_pinned[i] && i != vcpu)
			CPU_OR(&all, &all, &c.vcpu_affinity[i]);
	CPU_OR(&all, &all, set);
	vm_config_free(&c);
	r = state_dedicated_claim(&m->dirs, m->vm.name, &all, 0, NULL, NULL, owner, sizeof(owner));
	if (r == -EBUSY)
		return cli_error("host CPU %s is dedicated to VM '%s'",
				 cpuset_format(set, list, sizeof(list)), owner);
	if (r)
		return cli_error("dedicated CPU registry: %s", strerror(-r));
	return 0;
}

int cmd_vcpupin(int argc, char **argv)
{
	const char *usage = "vessel vcpupin NAME [VCPU CPULIST] [--live] [--config] [--json]";
	struct vcpupin_edit e;
	struct pin_args a;
	char path[64], body[1200], err[256], list[1024];
	uint64_t vcpu;
	struct mgmt m;
	bool running;
	int r;

	if (mgmt_help(argc, argv,
		      "vessel vcpupin NAME [VCPU CPULIST] [--live] [--config] [--json]\n\nShow or "
		      "set vCPU "
		      "pinning; without --live/--config: both when running."))
		return 0;
	r = pin_parse(argc, argv, &a, 2, usage);
	if (r)
		return r;
	if (mgmt_open(a.name, &m))
		return 1;
	running = state_vm_status(&m.vm, NULL) == STATE_RUNNING;
	if (a.npos == 0)
		return print_pinning(&m, running, a.json);
	if (a.npos != 2 || a.json)
		return cli_usage("%s", usage);
	if (parse_u64(a.pos[0], VM_MAX_VCPUS - 1, &vcpu))
		return cli_error("VCPU '%s': expected a vCPU number", a.pos[0]);
	if (cpuset_parse(a.pos[1], &e.set))
		return cli_error("CPULIST '%s': expected a list such as 0-3,8", a.pos[1]);
	snprintf(list, sizeof(list), "CPULIST '%.64s'", a.pos[1]);
	if (host_check_cpus(list, &e.set, err, sizeof(err)))
		return cli_error("%s", err);
	e.vcpu = (unsigned int)vcpu;
	e.name = a.name;
	if (!a.live && !a.config) {
		a.live = running;
		a.config = true;
	}
	if (a.live && !running)
		return cli_error("VM '%s' is not running (use --config)", a.name);
	if (a.live) {
		if (vcpupin_dedicated(&m, e.vcpu, &e.set))
			return 1;
		snprintf(path, sizeof(path), "/vm/vcpus/%u/affinity", e.vcpu);
		snprintf(body, sizeof(body), "{\"cpus\": \"%s\"}",
			 cpuset_format(&e.set, list, sizeof(list)));
		r = mgmt_api(&m, "PUT", path, body, NULL, err, sizeof(err));
		if (r != 204)
			return cli_error("vcpupin '%s' vCPU %u: %s", a.name, e.vcpu, err);
	}
	if (a.config && edit_definition(&m, vcpupin_apply, &e))
		return 1;
	return 0;
}

static int emulatorpin_apply(struct vm_config *c, void *arg)
{
	c->emulator_affinity = *(cpu_set_t *)arg;
	c->emulator_pinned = true;
	return 0;
}

int cmd_emulatorpin(int argc, char **argv)
{
	const char *usage = "vessel emulatorpin NAME [CPULIST] [--live] [--config] [--json]";
	struct json_object *o = NULL, *f;
	char body[1200], err[256], list[1024];
	struct pin_args a;
	struct mgmt m;
	cpu_set_t set;
	bool running;
	int r;

	if (mgmt_help(argc, argv,
		      "vessel emulatorpin NAME [CPULIST] [--live] [--config] [--json]\n\nShow or "
		      "set the "
		      "host CPUs of the event-loop and I/O threads."))
		return 0;
	r = pin_parse(argc, argv, &a, 1, usage);
	if (r)
		return r;
	if (mgmt_open(a.name, &m))
		return 1;
	running = state_vm_status(&m.vm, NULL) == STATE_RUNNING;
	if (a.npos == 0) {
		if (running &&
		    mgmt_api(&m, "GET", "/vm/emulator/affinity", NULL, &o, err, sizeof(err)) ==
			    200 &&
		    json_object_object_get_ex(o, "cpus", &f)) {
			snprintf(list, sizeof(list), "%s", json_object_get_string(f));
		} else {
			struct vm_config c;

			json_object_put(o);
			if (mgmt_load(&m, false, &c))
				return 1;
			if (c.emulator_pinned)
				cpuset_format(&c.emulator_affinity, list, sizeof(list));
			else
				snprintf(list, sizeof(list), "*");
			vm_config_free(&c);
			o = NULL;
		}
		json_object_put(o);
		if (a.json) {
			o = json_object_new_object();
			json_object_object_add(o, "affinity", json_object_new_string(list));
			return mgmt_print_json(o);
		}
		printf("emulator: CPU Affinity\n*: %s\n", list);
		return 0;
	}
	if (a.json)
		return cli_usage("%s", usage);
	if (cpuset_parse(a.pos[0], &set))
		return cli_error("CPULIST '%s': expected a list such as 0-3,8", a.pos[0]);
	snprintf(list, sizeof(list), "CPULIST '%.64s'", a.pos[0]);
	if (host_check_cpus(list, &set, err, sizeof(err)))
		return cli_error("%s", err);
	if (!a.live && !a.config) {
		a.live = running;
		a.config = true;
	}
	if (a.live && !running)
		return cli_error("VM '%s' is not running (use --config)", a.name);
	if (a.live) {
		snprintf(body, sizeof(body), "{\"cpus\": \"%s\"}",
			 cpuset_format(&set, list, sizeof(list)));
		r = mgmt_api(&m, "PUT", "/vm/emulator/affinity", body, NULL, err, sizeof(err));
		if (r != 204)
			return cli_error("emulatorpin '%s': %s", a.name, err);
	}
	if (a.config && edit_definition(&m, emulatorpin_apply, &set))
		return 1;
	return 0;
}

struct numatune_edit {
	int mode; /* -1: unchanged */
	uint64_t nodes;
	bool set_nodes;
};

static int numatune_apply(struct vm_config *c, void *arg)
{
	struct numatune_edit *e = arg;

	if (e->mode >= 0)
		c->numa_mode = (enum vm_numa_mode)e->mode;
	if (e->set_nodes) {
		c->numa_host_nodes = e->nodes;
		if (c->numa_mode == VM_NUMA_NONE)
			c->numa_mode = VM_NUMA_STRICT;
	}
	if (c->numa_mode != VM_NUMA_NONE && !c->numa_host_nodes && !c->nr_numa_nodes)
		return cli_error("numatune: mode %s needs --nodeset",
				 "strict/preferred/interleave");
	return 0;
}

static const char *const numa_modes[] = { "none", "strict", "preferred", "interleave", NULL };

/*
 * The policy of the definition, which the next start applies; a running VM
 * started with another one says so too (it is not changed live).
 */
static int numatune_show(struct mgmt *m, bool json)
{
	struct json_object *o, *nodes;
	struct vm_config c, live;
	char buf[256], lbuf[256];
	bool differs = false;

	if (mgmt_load(m, false, &c))
		return 1;
	vm_config_init(&live);
	if (state_vm_status(&m->vm, NULL) == STATE_RUNNING && !access(m->vm.config, F_OK) &&
	    !mgmt_load(m, true, &live))
		differs =
			live.numa_mode != c.numa_mode || live.numa_host_nodes != c.numa_host_nodes;
	bitmap_format(&c.numa_host_nodes, 64, buf, sizeof(buf));
	bitmap_format(&live.numa_host_nodes, 64, lbuf, sizeof(lbuf));
	o = json_object_new_object();
	nodes = json_object_new_array();
	json_object_object_add(o, "mode", json_object_new_string(numa_modes[c.numa_mode]));
	json_object_object_add(o, "nodeset", json_object_new_string(buf));
	for (unsigned int i = 0; i < c.nr_numa_nodes; i++) {
		struct vm_numa_node *nd = &c.numa_nodes[i];
		struct json_object *n = json_object_new_object();
		char cpus[256], hn[256];

		bitmap_format(nd->cpus, VM_MAX_VCPUS, cpus, sizeof(cpus));
		bitmap_format(&nd->host_nodes, 64, hn, sizeof(hn));
		json_object_object_add(n, "cpus", json_object_new_string(cpus));
		json_object_object_add(n, "memory", json_object_new_int64((int64_t)nd->mem_size));
		json_object_object_add(n, "host_nodes",
				       nd->host_nodes ? json_object_new_string(hn) : NULL);
		json_object_array_add(nodes, n);
	}
	json_object_object_add(o, "guest_nodes", nodes);
	if (differs) {
		struct json_object *r = json_object_new_object();

		json_object_object_add(r, "mode",
				       json_object_new_string(numa_modes[live.numa_mode]));
		json_object_object_add(r, "nodeset", json_object_new_string(lbuf));
		json_object_object_add(o, "running", r);
	}
	vm_config_free(&live);
	if (json) {
		vm_config_free(&c);
		return mgmt_print_json(o);
	}
	json_object_put(o);
	printf("%-16s %s\n", "numa_mode:", numa_modes[c.numa_mode]);
	printf("%-16s %s\n", "numa_nodeset:", buf);
	if (differs)
		printf("%-16s %s %s (the policy above applies from the next start)\n",
		       "running with:", numa_modes[live.numa_mode], lbuf);
	for (unsigned int i = 0; i < c.nr_numa_nodes; i++) {
		struct vm_numa_node *nd = &c.numa_nodes[i];
		char cpus[256], mem[32];

		format_size(nd->mem_size, mem, sizeof(mem));
		printf("guest node %u:    cpus %s, memory %s, host nodes %s\n", i,
		       bitmap_format(nd->cpus, VM_MAX_VCPUS, cpus, sizeof(cpus)), mem,
		       nd->host_nodes ? bitmap_format(&nd->host_nodes, 64, buf, sizeof(buf))
				      : "(nodeset)");
	}
	vm_config_free(&c);
	return 0;
}

int cmd_numatune(int argc, char **argv)
{
	const char *const *modes = numa_modes;
	struct numatune_edit e = { .mode = -1 };
	const char *name = NULL;
	bool json = false;
	struct mgmt m;

	if (mgmt_help(argc, argv,
		      "vessel numatune NAME [--mode strict|preferred|interleave|none] [--nodeset "
		      "LIST]\n\nShow or set the NUMA memory policy (applies from the next start)."))
		return 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--mode") && i + 1 < argc) {
			i++;
			for (int k = 0; modes[k]; k++)
				if (!strcmp(argv[i], modes[k]))
					e.mode = k;
			if (e.mode < 0)
				return cli_error("--mode '%s': expected strict, preferred, "
						 "interleave or none",
						 argv[i]);
		} else if (!strcmp(argv[i], "--nodeset") && i + 1 < argc) {
			if (parse_cpulist(argv[++i], &e.nodes, 64))
				return cli_error("--nodeset '%s': expected a node list such as 0-1",
						 argv[i]);
			e.set_nodes = true;
		} else if (!strcmp(argv[i], "--config")) {
			/* The only kind of change there is: memory is bound at start. */
		} else if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (argv[i][0] != '-' && !name) {
			name = argv[i];
		} else {
			return cli_usage("vessel numatune NAME [--mode MODE] [--nodeset LIST] "
					 "[--config] [--json]");
		}
	}
	if (!name)
		return cli_usage("vessel numatune NAME [--mode MODE] [--nodeset LIST] [--config] "
				 "[--json]");
	if (mgmt_open(name, &m))
		return 1;
	if (e.mode < 0 && !e.set_nodes)
		return numatune_show(&m, json);
	if (json)
		return cli_usage("vessel numatune NAME [--json]: --json only shows the policy");
	if (edit_definition(&m, numatune_apply, &e))
		return 1;
	if (state_vm_status(&m.vm, NULL) == STATE_RUNNING)
		cli_note("VM '%s': NUMA policy saved; it applies from the next start\n", name);
	return 0;
}
