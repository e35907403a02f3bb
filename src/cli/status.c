// SPDX-License-Identifier: MIT
/*
 * `vessel list [--all] [--json]` and `vessel info NAME [--json]` (virsh
 * list / dominfo).  Both read the state directory and, for a running VM,
 * its API within a short bound: a VMM that is stopped (SIGSTOP) or does
 * not answer shows as "unresponsive" at once, and never holds up the list.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/mgmt.h"
#include "util/error.h"
#include "util/util.h"
#include "virtio/devices.h"
#include "vm/config_json.h"

/* How long list and info wait for a running VM's API. */
#define STATUS_API_TIMEOUT_MS 2000

struct vm_row {
	const char *state;
	char state_buf[32];
	pid_t pid;
	long uptime;
	bool have_cfg;
	bool autostart;
	bool io_error;	  /* paused by a disk's werror/rerror=stop */
	char seccomp[48]; /* "on, 6 threads filtered" (docs/seccomp.md), or "" */
	char jail[256];	  /* "uid 1700000000, ..." or "no (why)" (docs/jail.md), or "" */
	struct error err; /* why the definition does not load, when !have_cfg */
};

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "";
}

/* GET /vm's "jail" in one line: "jailed: uid N, ..." or "not jailed (why)". */
static void jail_summary(struct json_object *j, char *buf, size_t len)
{
	struct json_object *v;

	if (!json_object_object_get_ex(j, "jailed", &v) || !json_object_get_boolean(v)) {
		snprintf(buf, len, "no%s%s%s", *jstr(j, "why_not") ? " (" : "", jstr(j, "why_not"),
			 *jstr(j, "why_not") ? ")" : "");
		return;
	}
	snprintf(buf, len, "yes: uid %s gid %s, namespaces %s, root %s, cgroup %s, Landlock %s",
		 jstr(j, "uid"), jstr(j, "gid"), jstr(j, "namespaces"), jstr(j, "root"),
		 *jstr(j, "cgroup") ? jstr(j, "cgroup") : "none",
		 strcmp(jstr(j, "landlock_abi"), "0") ? jstr(j, "landlock_abi") : "unavailable");
}

/* 'T' (stopped) or 't' (traced) in /proc/PID/stat: it cannot answer. */
static bool proc_stopped(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	n = (ssize_t)fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* The name may hold spaces and parentheses: the state follows the last ')'. */
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && (p[2] == 'T' || p[2] == 't');
}

/*
 * Fill a row: the state files, then the API's view (running/paused) when
 * alive.  A definition that does not load leaves a shut-off VM "invalid":
 * it could not start, and its CPUs and memory are unknown, not invented.
 */
static void row_fill(struct mgmt *m, struct vm_row *row, struct vm_config *c)
{
	enum state_status s = state_vm_status(&m->vm, &row->pid);
	struct json_object *o = NULL, *st;
	const char *path = m->vm.def;
	char err[128];

	row->state = state_status_name(s);
	row->uptime = -1;
	row->autostart = cli_autostart_marked(&m->vm);
	if (s == STATE_RUNNING) {
		row->uptime = state_proc_uptime(row->pid);
		if (proc_stopped(row->pid))
			row->state = "unresponsive";
		else if (mgmt_api_within(m, "GET", "/vm", NULL, STATUS_API_TIMEOUT_MS, &o, err,
					 sizeof(err)) == 200 &&
			 json_object_object_get_ex(o, "state", &st)) {
			snprintf(row->state_buf, sizeof(row->state_buf), "%s",
				 json_object_get_string(st));
			row->state = row->state_buf;
			row->io_error = json_object_object_get_ex(o, "reason", &st) &&
					!strcmp(json_object_get_string(st), "io-error");
			if (json_object_object_get_ex(o, "seccomp", &st)) {
				struct json_object *mode, *n;

				if (json_object_object_get_ex(st, "mode", &mode) &&
				    json_object_object_get_ex(st, "filtered_threads", &n))
					snprintf(row->seccomp, sizeof(row->seccomp),
						 "%s, %d threads filtered",
						 json_object_get_string(mode),
						 json_object_get_int(n));
			}
			if (json_object_object_get_ex(o, "jail", &st))
				jail_summary(st, row->jail, sizeof(row->jail));
		} else {
			row->state = "unresponsive";
		}
		json_object_put(o);
		if (!access(m->vm.config, F_OK))
			path = m->vm.config;
	}
	vm_config_init(c);
	row->have_cfg = vm_config_load_json(path, c, &row->err) == 0;
	if (!row->have_cfg && s == STATE_SHUTOFF)
		row->state = "invalid";
}

static struct json_object *row_json(const char *name, const struct vm_row *row,
				    const struct vm_config *c)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "uuid",
			       row->have_cfg && c->uuid ? json_object_new_string(c->uuid) : NULL);
	json_object_object_add(o, "state", json_object_new_string(row->state));
	json_object_object_add(o, "cpus",
			       row->have_cfg ? json_object_new_int((int)c->nr_cpus) : NULL);
	json_object_object_add(o, "memory",
			       row->have_cfg ? json_object_new_int64((int64_t)c->mem_size) : NULL);
	json_object_object_add(o, "pid", row->pid ? json_object_new_int(row->pid) : NULL);
	json_object_object_add(o, "uptime_s",
			       row->uptime >= 0 ? json_object_new_int64(row->uptime) : NULL);
	/* Every VM the manager lists is defined: there are no transient ones. */
	json_object_object_add(o, "persistent", json_object_new_boolean(true));
	json_object_object_add(o, "autostart", json_object_new_boolean(row->autostart));
	if (row->io_error)
		json_object_object_add(o, "reason", json_object_new_string("io-error"));
	if (*row->seccomp)
		json_object_object_add(o, "seccomp", json_object_new_string(row->seccomp));
	if (*row->jail)
		json_object_object_add(o, "jail", json_object_new_string(row->jail));
	if (!row->have_cfg)
		json_object_object_add(o, "error", json_object_new_string(error_msg(&row->err)));
	return o;
}

int cmd_list(int argc, char **argv)
{
	struct json_object *arr = NULL;
	bool all = false, json = false;
	struct state_dirs d;
	char **names;
	size_t n;
	int r;

	if (mgmt_help(argc, argv,
		      "vessel list [--all] [--json]\n\nRunning (and crashed) VMs; --all adds the "
		      "stopped ones."))
		return 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--all") || !strcmp(argv[i], "-a"))
			all = true;
		else if (!strcmp(argv[i], "--json"))
			json = true;
		else
			return cli_usage("vessel list [--all] [--json]");
	}
	r = state_dirs_init(&d);
	if (r)
		return cli_error("%s", d.err);
	r = state_list_defined(&d, &names, &n);
	if (r)
		return cli_error("%s: %s", d.data, strerror(-r));
	if (json)
		arr = json_object_new_array();
	else
		printf("%-20s %-12s %5s %8s %8s %s\n", "NAME", "STATE", "CPUS", "MEMORY", "PID",
		       "UPTIME");
	for (size_t i = 0; i < n; i++) {
		char mem[32], up[32], pid[16], cpus[16];
		struct vm_row row = { .err = ERROR_INIT };
		struct vm_config c;
		struct mgmt m;

		if (mgmt_open(names[i], &m))
			continue;
		row_fill(&m, &row, &c);
		/* Like virsh: inactive VMs only with --all; a crash always shows. */
		if (!all && !row.pid && strcmp(row.state, "crashed")) {
			vm_config_free(&c);
			continue;
		}
		if (json) {
			json_object_array_add(arr, row_json(names[i], &row, &c));
			vm_config_free(&c);
			continue;
		}
		snprintf(cpus, sizeof(cpus), row.have_cfg ? "%u" : "-", c.nr_cpus);
		if (row.have_cfg)
			format_size(c.mem_size, mem, sizeof(mem));
		else
			snprintf(mem, sizeof(mem), "-");
		mgmt_format_uptime(row.uptime, up, sizeof(up));
		snprintf(pid, sizeof(pid), row.pid ? "%d" : "-", (int)row.pid);
		printf("%-20s %-12s %5s %8s %8s %s\n", names[i], row.state, cpus, mem, pid, up);
		vm_config_free(&c);
	}
	state_names_free(names, n);
	return json ? mgmt_print_json(arr) : 0;
}

static const char *backing_name(enum gmem_backing b)
{
	return b == GMEM_BACKING_HUGETLB ? "hugetlb" : b == GMEM_BACKING_MEMFD ? "memfd" : "anon";
}

/* What a NIC is plugged into: "bridge br0 vlan 10", "ovs br-int", "tap (new)". */
static void nic_source(const struct virtio_net_config *nc, char *buf, size_t len)
{
	const char *type, *src;
	char fd[16];
	size_t off;

	cli_nic_source(nc, &type, &src, fd);
	snprintf(buf, len, "%s %s", type, src ? src : "(new)");
	off = strlen(buf);
	if (nc->portgroup && off < len)
		off += (size_t)snprintf(buf + off, len - off, " portgroup %s", nc->portgroup);
	if (nc->vlan && off < len)
		off += (size_t)snprintf(buf + off, len - off, " vlan %u", nc->vlan);
	if (nc->trunk && off < len)
		snprintf(buf + off, len - off, " trunk %s", nc->trunk);
}

/* Disks and NICs of c, as JSON arrays (info --json) and lines (info). */
static void info_devices(const char *name, const struct vm_config *c, struct json_object *o)
{
	struct json_object *disks = json_object_new_array(), *nics = json_object_new_array();
	char buf[512], mac[18], tgt[8];

	for (unsigned int i = 0; i < vm_config_count(c, &virtio_blk_kind); i++) {
		const struct vm_disk_config *dc = vm_config_dev(c, &virtio_blk_kind, i);
		struct json_object *d = json_object_new_object();

		cli_disk_target(i, tgt);
		json_object_object_add(d, "target", json_object_new_string(tgt));
		json_object_object_add(d, "path", json_object_new_string(dc->path));
		json_object_object_add(d, "format",
				       dc->format ? json_object_new_string(dc->format) : NULL);
		json_object_object_add(d, "readonly", json_object_new_boolean(dc->readonly));
		json_object_array_add(disks, d);
		if (!o)
			printf("%-16s %s (%s%s)\n", i ? "" : "Disks:", dc->path,
			       dc->format ? dc->format : "probed",
			       dc->readonly ? ", read-only" : "");
	}
	for (unsigned int i = 0; i < vm_config_count(c, &virtio_net_kind); i++) {
		const struct virtio_net_config *nc = vm_config_dev(c, &virtio_net_kind, i);
		struct json_object *d = json_object_new_object();

		virtio_net_config_mac(name, nc, i, mac);
		nic_source(nc, buf, sizeof(buf));
		json_object_object_add(d, "mac", json_object_new_string(mac));
		json_object_object_add(d, "source", json_object_new_string(buf));
		json_object_object_add(d, "vhost", json_object_new_boolean(nc->vhost));
		json_object_array_add(nics, d);
		if (!o)
			printf("%-16s %s on %s%s\n", i ? "" : "NICs:", mac, buf,
			       nc->vhost ? ", vhost" : "");
	}
	if (o) {
		json_object_object_add(o, "disks", disks);
		json_object_object_add(o, "nics", nics);
	} else {
		json_object_put(disks);
		json_object_put(nics);
	}
}

static void add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

int cmd_info(int argc, char **argv)
{
	static const char *const numa_modes[] = { "none", "strict", "preferred", "interleave" };
	struct vm_row row = { .err = ERROR_INIT };
	char buf[256], err[128], con[256] = "", last[256] = "";
	struct json_object *o = NULL;
	const char *name = NULL;
	uint64_t ns = 0;
	bool json = false;
	struct vm_config c;
	struct mgmt m;
	FILE *f;

	if (mgmt_help(argc, argv,
		      "vessel info NAME [--json]\n\nState, resources, devices and placement of a "
		      "VM."))
		return 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (argv[i][0] != '-' && !name)
			name = argv[i];
		else
			return cli_usage("vessel info NAME [--json]");
	}
	if (!name)
		return cli_usage("vessel info NAME [--json]");
	if (mgmt_open(name, &m))
		return 1;
	if (state_vm_status(&m.vm, NULL) == STATE_UNDEFINED)
		return cli_error("VM '%s' is not defined", name);
	row_fill(&m, &row, &c);
	if (row.pid && strcmp(row.state, "unresponsive")) {
		struct json_object *r = NULL, *t;

		if (mgmt_api_within(&m, "GET", "/vm/stats", NULL, STATUS_API_TIMEOUT_MS, &r, err,
				    sizeof(err)) == 200 &&
		    json_object_object_get_ex(r, "totals", &t) &&
		    json_object_object_get_ex(t, "cpu_time_ns", &t))
			ns = (uint64_t)json_object_get_int64(t);
		json_object_put(r);
		r = NULL;
		if (mgmt_api_within(&m, "GET", "/vm", NULL, STATUS_API_TIMEOUT_MS, &r, err,
				    sizeof(err)) == 200 &&
		    json_object_object_get_ex(r, "console_path", &t))
			snprintf(con, sizeof(con), "%s", json_object_get_string(t));
		json_object_put(r);
	}
	f = row.pid ? NULL : fopen(m.vm.exit, "re");
	if (f) {
		if (fgets(last, sizeof(last), f))
			last[strcspn(last, "\n")] = '\0';
		fclose(f);
	}
	if (json) {
		o = row_json(name, &row, &c);
		json_object_object_add(o, "cpu_time_ns",
				       row.pid ? json_object_new_int64((int64_t)ns) : NULL);
		if (row.have_cfg) {
			add_str(o, "cpu_policy", c.dedicated_cpus ? "dedicated" : "shared");
			json_object_object_add(o, "memory_backing", vm_config_memory_to_json(&c));
			add_str(o, "numa_mode", numa_modes[c.numa_mode]);
			add_str(o, "numa_nodeset",
				bitmap_format(&c.numa_host_nodes, 64, buf, sizeof(buf)));
			json_object_object_add(o, "guest_nodes",
					       json_object_new_int((int)c.nr_numa_nodes));
			add_str(o, "kernel", c.kernel);
			info_devices(name, &c, o);
		}
		add_str(o, "definition", m.vm.def);
		add_str(o, "api_socket", row.pid ? m.vm.api : NULL);
		add_str(o, "console", *con ? con : NULL);
		add_str(o, "log", m.vm.events);
		add_str(o, "vmm_output", m.vm.log);
		add_str(o, "last_exit", *last ? last : NULL);
		vm_config_free(&c);
		return mgmt_print_json(o);
	}
	printf("%-16s %s\n", "Name:", name);
	printf("%-16s %s\n", "UUID:", row.have_cfg && c.uuid ? c.uuid : "-");
	printf("%-16s %s%s\n", "State:", row.state, row.io_error ? " (I/O error)" : "");
	printf("%-16s %s\n", "Persistent:", "yes");
	printf("%-16s %s\n", "Autostart:", row.autostart ? "enable" : "disable");
	if (row.pid)
		printf("%-16s %d\n", "PID:", (int)row.pid);
	else
		printf("%-16s -\n", "PID:");
	if (row.have_cfg) {
		printf("%-16s %u\n", "CPU(s):", c.nr_cpus);
		format_size(c.mem_size, buf, sizeof(buf));
		printf("%-16s %s\n", "Memory:", buf);
	}
	if (row.pid) {
		mgmt_format_uptime(row.uptime, buf, sizeof(buf));
		printf("%-16s %s\n", "Uptime:", buf);
		printf("%-16s %.1fs\n", "CPU time:", (double)ns / 1e9);
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
		info_devices(name, &c, NULL);
		printf("%-16s %s\n", "Definition:", m.vm.def);
	} else {
		printf("%-16s %s (invalid: %s)\n", "Definition:", m.vm.def, error_msg(&row.err));
	}
	if (row.pid)
		printf("%-16s %s\n", "API socket:", m.vm.api);
	if (*row.seccomp)
		printf("%-16s %s\n", "Seccomp:", row.seccomp);
	if (*row.jail)
		printf("%-16s %s\n", "Jail:", row.jail);
	if (*con)
		printf("%-16s %s\n", "Console:", con);
	printf("%-16s %s\n", "Log:", m.vm.events);
	printf("%-16s %s\n", "VMM output:", m.vm.log);
	if (*last)
		printf("%-16s %s\n", "Last exit:", last);
	vm_config_free(&c);
	return 0;
}
