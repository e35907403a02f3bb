// SPDX-License-Identifier: MIT
/* `vessel list [--all]` and `vessel info NAME` (virsh list / dominfo). */
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

struct vm_row {
	const char *state;
	char state_buf[32];
	pid_t pid;
	long uptime;
	unsigned int cpus;
	uint64_t mem;
	bool have_cfg;
};

/* Fill a row: file state, then the API's view (running/paused) when alive. */
static void row_fill(struct mgmt *m, struct vm_row *row, struct vm_config *c)
{
	enum state_status s = state_vm_status(&m->vm, &row->pid);
	struct json_object *o = NULL, *st;
	char err[128];

	row->state = state_status_name(s);
	row->uptime = -1;
	if (s == STATE_RUNNING) {
		row->uptime = state_proc_uptime(row->pid);
		if (mgmt_api(m, "GET", "/vm", NULL, &o, err, sizeof(err)) == 200 && o &&
		    json_object_object_get_ex(o, "state", &st)) {
			snprintf(row->state_buf, sizeof(row->state_buf), "%s",
				 json_object_get_string(st));
			row->state = row->state_buf;
		}
		json_object_put(o);
	}
	vm_config_init(c);
	{
		const char *path = s == STATE_RUNNING && !access(m->vm.config, F_OK) ? m->vm.config
										     : m->vm.def;

		row->have_cfg = vm_config_load_json(path, c, NULL) == 0;
	}
	row->cpus = c->nr_cpus;
	row->mem = c->mem_size;
}

int cmd_list(int argc, char **argv)
{
	bool all = false;
	struct state_dirs d;
	char **names;
	size_t n;
	int r;

	if (mgmt_help(argc, argv,
		      "vessel list [--all]\n\nRunning (and crashed) VMs; --all adds the stopped "
		      "ones."))
		return 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--all") || !strcmp(argv[i], "-a"))
			all = true;
		else
			return cli_usage("vessel list [--all]");
	}
	r = state_dirs_init(&d);
	if (r)
		return cli_error("%s", d.err);
	r = state_list_defined(&d, &names, &n);
	if (r)
		return cli_error("%s: %s", d.data, strerror(-r));
	printf("%-20s %-10s %5s %8s %8s %s\n", "NAME", "STATE", "CPUS", "MEMORY", "PID", "UPTIME");
	for (size_t i = 0; i < n; i++) {
		struct vm_config c;
		struct vm_row row = { 0 };
		char mem[32], up[32], pid[16];
		struct mgmt m;

		if (mgmt_open(names[i], &m))
			continue;
		row_fill(&m, &row, &c);
		/* Like virsh: inactive VMs only with --all; a crash always shows. */
		if (!all && !row.pid && strcmp(row.state, "crashed")) {
			vm_config_free(&c);
			continue;
		}
		format_size(row.mem, mem, sizeof(mem));
		mgmt_format_uptime(row.uptime, up, sizeof(up));
		snprintf(pid, sizeof(pid), row.pid ? "%d" : "-", (int)row.pid);
		printf("%-20s %-10s %5u %8s %8s %s\n", names[i], row.state, row.cpus, mem, pid, up);
		vm_config_free(&c);
	}
	state_names_free(names, n);
	return 0;
}

static const char *backing_name(enum gmem_backing b)
{
	return b == GMEM_BACKING_HUGETLB ? "hugetlb" : b == GMEM_BACKING_MEMFD ? "memfd" : "anon";
}

int cmd_info(int argc, char **argv)
{
	static const char *const numa_modes[] = { "none", "strict", "preferred", "interleave" };
	struct vm_row row = { 0 };
	struct vm_config c;
	char buf[256], err[128];
	struct mgmt m;
	FILE *f;

	if (mgmt_help(argc, argv, "vessel info NAME\n\nState, resources and placement of a VM."))
		return 0;
	if (argc != 2)
		return cli_usage("vessel info NAME");
	if (mgmt_open(argv[1], &m))
		return 1;
	if (state_vm_status(&m.vm, NULL) == STATE_UNDEFINED)
		return cli_error("VM '%s' is not defined", argv[1]);
	row_fill(&m, &row, &c);
	printf("%-16s %s\n", "Name:", argv[1]);
	printf("%-16s %s\n", "State:", row.state);
	if (row.pid)
		printf("%-16s %d\n", "PID:", (int)row.pid);
	else
		printf("%-16s -\n", "PID:");
	printf("%-16s %u\n", "CPU(s):", row.cpus);
	format_size(row.mem, buf, sizeof(buf));
	printf("%-16s %s\n", "Memory:", buf);
	if (row.pid) {
		struct json_object *o = NULL, *t;
		uint64_t ns = 0;

		mgmt_format_uptime(row.uptime, buf, sizeof(buf));
		printf("%-16s %s\n", "Uptime:", buf);
		if (mgmt_api(&m, "GET", "/vm/stats", NULL, &o, err, sizeof(err)) == 200 && o &&
		    json_object_object_get_ex(o, "totals", &t) &&
		    json_object_object_get_ex(t, "cpu_time_ns", &t))
			ns = (uint64_t)json_object_get_int64(t);
		printf("%-16s %.1fs\n", "CPU time:", (double)ns / 1e9);
		json_object_put(o);
	}
	if (row.have_cfg) {
		printf("%-16s %s\n", "CPU policy:", c.dedicated_cpus ? "dedicated" : "shared");
		printf("%-16s %s%s%s%s\n", "Memory backing:", backing_name(c.mem.backing),
		       c.mem.thp ? ", thp" : "", c.mem.mergeable ? ", ksm" : "",
		       c.mem.prealloc ? ", prealloc" : "");
		if (c.numa_mode != VM_NUMA_NONE)
			printf("%-16s %s %s\n", "NUMA:", numa_modes[c.numa_mode],
			       bitmap_format(&c.numa_host_nodes, 64, buf, sizeof(buf)));
		if (c.nr_numa_nodes)
			printf("%-16s %u\n", "Guest nodes:", c.nr_numa_nodes);
		printf("%-16s %s\n", "Kernel:", c.kernel ? c.kernel : "-");
	}
	printf("%-16s %s\n", "Definition:", m.vm.def);
	if (row.pid) {
		struct json_object *o = NULL, *p;

		printf("%-16s %s\n", "API socket:", m.vm.api);
		if (mgmt_api(&m, "GET", "/vm", NULL, &o, err, sizeof(err)) == 200 && o &&
		    json_object_object_get_ex(o, "console_path", &p))
			printf("%-16s %s\n", "Console:", json_object_get_string(p));
		json_object_put(o);
	}
	printf("%-16s %s\n", "Log:", m.vm.log);
	f = row.pid ? NULL : fopen(m.vm.exit, "re");
	if (f) {
		if (fgets(buf, sizeof(buf), f)) {
			buf[strcspn(buf, "\n")] = '\0';
			printf("%-16s %s\n", "Last exit:", buf);
		}
		fclose(f);
	}
	vm_config_free(&c);
	return 0;
}
