// SPDX-License-Identifier: MIT
/*
 * `vessel host`: what this host offers for virtualization, in one screen
 * (what `virt-host-validate` and `virsh capabilities` tell together):
 * KVM and its backend (VT-x, AMD-V or PVM, docs/linux-lane.md), the KVM
 * capabilities vessel uses, CPUs, NUMA nodes, huge pages, THP and KSM.
 *
 * Everything is first gathered into one JSON object; `--json` prints it
 * and the text view is rendered from it, so both always say the same.
 * Nothing here fails the command: what cannot be read is reported as
 * unknown, and a /dev/kvm that cannot be opened is reported with why.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <json-c/json.h>
#include <linux/kvm.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "kvm/kvm.h"
#include "util/syscall-filter.h"
#include "util/util.h"

#define SYS_NODE "/sys/devices/system/node"
#define SYS_HUGEPAGES "/sys/kernel/mm/hugepages"
#define SYS_THP "/sys/kernel/mm/transparent_hugepage"
#define SYS_KSM "/sys/kernel/mm/ksm"

/* The capabilities that matter to a VMM, as KVM_CHECK_EXTENSION names them. */
enum cap_kind { CAP_BOOL, CAP_NUM, CAP_MASK };

static const struct {
	const char *name;
	long cap;
	enum cap_kind kind;
	const char *what;
} host_caps[] = {
	{ "irqchip", KVM_CAP_IRQCHIP, CAP_BOOL, "in-kernel IOAPIC/PIC/LAPIC" },
	{ "pit2", KVM_CAP_PIT2, CAP_BOOL, "in-kernel PIT" },
	{ "split_irqchip", KVM_CAP_SPLIT_IRQCHIP, CAP_BOOL,
	  "LAPIC in kernel, IOAPIC in user space" },
	{ "irqfd", KVM_CAP_IRQFD, CAP_BOOL, "interrupts from an eventfd" },
	{ "irqfd_resample", KVM_CAP_IRQFD_RESAMPLE, CAP_BOOL, "level interrupts through irqfd" },
	{ "ioeventfd", KVM_CAP_IOEVENTFD, CAP_BOOL, "guest writes to an eventfd" },
	{ "irq_routing", KVM_CAP_IRQ_ROUTING, CAP_NUM, "GSI routing entries" },
	{ "signal_msi", KVM_CAP_SIGNAL_MSI, CAP_BOOL, "inject MSIs directly" },
	{ "immediate_exit", KVM_CAP_IMMEDIATE_EXIT, CAP_BOOL, "kick vCPUs out of KVM_RUN" },
	{ "readonly_mem", KVM_CAP_READONLY_MEM, CAP_BOOL, "read-only memory slots" },
	{ "manual_dirty_log_protect2", KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, CAP_MASK,
	  "KVM_CLEAR_DIRTY_LOG modes" },
	{ "dirty_log_ring", KVM_CAP_DIRTY_LOG_RING, CAP_NUM, "dirty ring, max bytes per vCPU" },
	{ "dirty_log_ring_acq_rel", KVM_CAP_DIRTY_LOG_RING_ACQ_REL, CAP_NUM,
	  "dirty ring with acquire/release ordering" },
	{ "x86_disable_exits", KVM_CAP_X86_DISABLE_EXITS, CAP_MASK,
	  "exits that can be disabled (1 mwait, 2 hlt, 4 pause, 8 cstate)" },
	{ "x2apic_api", KVM_CAP_X2APIC_API, CAP_MASK, "32-bit APIC IDs" },
	{ "tsc_deadline_timer", KVM_CAP_TSC_DEADLINE_TIMER, CAP_BOOL, "TSC-deadline LAPIC timer" },
	{ "vcpu_events", KVM_CAP_VCPU_EVENTS, CAP_BOOL, "save/restore pending events" },
	{ "xsave", KVM_CAP_XSAVE, CAP_BOOL, "save/restore XSAVE state" },
	{ "adjust_clock", KVM_CAP_ADJUST_CLOCK, CAP_MASK, "kvmclock save/restore flags" },
	{ "halt_poll", KVM_CAP_HALT_POLL, CAP_BOOL, "per-VM halt polling" },
	{ "user_space_msr", KVM_CAP_X86_USER_SPACE_MSR, CAP_BOOL, "MSR exits to user space" },
	{ "ext_cpuid", KVM_CAP_EXT_CPUID, CAP_BOOL, "KVM_GET_SUPPORTED_CPUID" },
	{ "max_vcpus", KVM_CAP_MAX_VCPUS, CAP_NUM, "vCPUs per VM, hard limit" },
	{ "nr_vcpus", KVM_CAP_NR_VCPUS, CAP_NUM, "vCPUs per VM, recommended" },
	{ "max_vcpu_id", KVM_CAP_MAX_VCPU_ID, CAP_NUM, "largest vCPU id + 1" },
	{ "nr_memslots", KVM_CAP_NR_MEMSLOTS, CAP_NUM, "memory slots per VM" },
};

static void put_str(struct json_object *o, const char *key, const char *val)
{
	json_object_object_add(o, key, val ? json_object_new_string(val) : NULL);
}

static void put_int(struct json_object *o, const char *key, int64_t val)
{
	json_object_object_add(o, key, json_object_new_int64(val));
}

static void put_bool(struct json_object *o, const char *key, bool val)
{
	json_object_object_add(o, key, json_object_new_boolean(val));
}

/* A small sysfs/procfs text file, first line, trailing newline removed. */
static char *read_line(const char *path)
{
	char *buf, *nl;

	if (read_file(path, &buf, NULL))
		return NULL;
	nl = strchr(buf, '\n');
	if (nl)
		*nl = '\0';
	return buf;
}

/* "Y"/"N"/"1"/"0" module parameters as a tri-state: 1, 0 or -1 (absent). */
static int read_param_bool(const char *path)
{
	char *s = read_line(path);
	int v = -1;

	if (s) {
		v = (s[0] == 'Y' || s[0] == 'y' || s[0] == '1');
		free(s);
	}
	return v;
}

static void add_note(struct json_object *notes, const char *text)
{
	json_object_array_add(notes, json_object_new_string(text));
}

static void put_tristate(struct json_object *o, const char *key, int v)
{
	if (v < 0)
		json_object_object_add(o, key, NULL);
	else
		put_bool(o, key, v);
}

/* The bracketed choice of a sysfs "a [b] c" list, or the whole line. */
static char *sysfs_choice(const char *path)
{
	char *s = read_line(path), *l, *r;

	if (!s)
		return NULL;
	l = strchr(s, '[');
	r = l ? strchr(l, ']') : NULL;
	if (l && r) {
		memmove(s, l + 1, (size_t)(r - l - 1));
		s[r - l - 1] = '\0';
	}
	return s;
}

static bool cpu_has_flag(const char *cpuinfo, const char *flag)
{
	const char *flags = cpuinfo ? strstr(cpuinfo, "\nflags") : NULL;
	size_t n = strlen(flag);

	if (!flags)
		return false;
	for (const char *p = strchr(flags, ':'); p && *p && *p != '\n'; p++) {
		if (p[0] == ' ' && !strncmp(p + 1, flag, n) &&
		    (p[n + 1] == ' ' || p[n + 1] == '\n' || p[n + 1] == '\0'))
			return true;
	}
	return false;
}

static struct json_object *host_kvm(const char *path, const char *cpuinfo)
{
	struct json_object *o = json_object_new_object(), *caps, *notes;
	enum kvm_backend backend = kvm_detect_backend();
	struct kvm k = { .fd = -1 };
	struct stat st;
	int ret;

	put_str(o, "device", path);
	put_bool(o, "present", stat(path, &st) == 0);
	if (stat(path, &st) == 0) {
		struct passwd *pw = getpwuid(st.st_uid);
		struct group *gr = getgrgid(st.st_gid);
		char mode[8];

		snprintf(mode, sizeof(mode), "%04o", st.st_mode & 07777);
		put_str(o, "mode", mode);
		put_str(o, "owner", pw ? pw->pw_name : "?");
		put_str(o, "group", gr ? gr->gr_name : "?");
	}

	put_str(o, "backend", kvm_backend_name(backend));
	put_str(o, "module",
		backend == KVM_BACKEND_PVM   ? "kvm_pvm"
		: backend == KVM_BACKEND_VMX ? "kvm_intel"
		: backend == KVM_BACKEND_SVM ? "kvm_amd"
					     : NULL);
	put_bool(o, "cpu_vmx", cpu_has_flag(cpuinfo, "vmx"));
	put_bool(o, "cpu_svm", cpu_has_flag(cpuinfo, "svm"));
	put_bool(o, "cpu_hypervisor", cpu_has_flag(cpuinfo, "hypervisor"));
	/* Two-dimensional paging and nesting are parameters of the vendor module. */
	if (backend == KVM_BACKEND_VMX) {
		put_tristate(o, "ept", read_param_bool("/sys/module/kvm_intel/parameters/ept"));
		put_tristate(o, "nested",
			     read_param_bool("/sys/module/kvm_intel/parameters/nested"));
	} else if (backend == KVM_BACKEND_SVM) {
		put_tristate(o, "npt", read_param_bool("/sys/module/kvm_amd/parameters/npt"));
		put_tristate(o, "nested", read_param_bool("/sys/module/kvm_amd/parameters/nested"));
	}

	notes = json_object_new_array();
	ret = kvm_open(&k, path);
	if (ret == 0) {
		put_bool(o, "usable", true);
	} else {
		put_bool(o, "usable", false);
		put_str(o, "error", strerror(-ret));
		if (ret == -EACCES || ret == -EPERM)
			add_note(notes, "no permission to open the KVM device: add the user "
					"to its group (usually 'kvm') or run as root");
		else if (ret == -ENOENT)
			add_note(notes, "KVM device missing: load kvm_intel, kvm_amd or kvm_pvm");
		/* KVM is there but lacks something vessel needs: still list it. */
		k.fd = open(path, O_RDWR | O_CLOEXEC);
	}
	if (k.fd >= 0) {
		int api = ioctl(k.fd, KVM_GET_API_VERSION, 0);

		put_int(o, "api_version", api);
		caps = json_object_new_object();
		for (size_t i = 0; i < ARRAY_SIZE(host_caps); i++) {
			int v = kvm_check_cap(&k, host_caps[i].cap);

			put_int(caps, host_caps[i].name, v < 0 ? 0 : v);
		}
		json_object_object_add(o, "capabilities", caps);
	}
	if (backend == KVM_BACKEND_PVM) {
		add_note(notes, "PVM: the whole KVM API works, but only 64-bit guest code at "
				"CPL3 runs natively; CPL0 (guest kernel) code is emulated at "
				"about 2 us per instruction and some instructions (INT3, "
				"POPCNT, XSAVE, CLAC/STAC) not at all, so a stock Linux "
				"kernel does not finish booting; use small test guests, or a "
				"host with VT-x/AMD-V");
		if (read_param_bool("/sys/module/kvm_pvm/parameters/no_x2apic") == 1)
			add_note(notes, "kvm_pvm.no_x2apic=Y: guests get no x2APIC");
	} else if (backend == KVM_BACKEND_UNKNOWN) {
		add_note(notes, "no hardware virtualization module "
				"(kvm_intel, kvm_amd) or kvm_pvm loaded");
	}
	json_object_object_add(o, "notes", notes);
	if (k.fd >= 0)
		kvm_close(&k);
	return o;
}

static struct json_object *host_cpu(const char *cpuinfo)
{
	struct json_object *o = json_object_new_object();
	char *online = read_line("/sys/devices/system/cpu/online");
	const char *m = cpuinfo ? strstr(cpuinfo, "model name") : NULL;

	if (m && (m = strchr(m, ':'))) {
		char model[128];
		size_t n = strcspn(m + 2, "\n");

		snprintf(model, sizeof(model), "%.*s", (int)MIN(n, sizeof(model) - 1), m + 2);
		put_str(o, "model", model);
	} else {
		put_str(o, "model", NULL);
	}
	put_int(o, "online", sysconf(_SC_NPROCESSORS_ONLN));
	put_str(o, "online_list", online);
	free(online);
	return o;
}

/* "Node 0 MemTotal:   65846532 kB" lines of nodeN/meminfo, in bytes. */
static int64_t node_meminfo(const char *text, const char *key)
{
	const char *p = text ? strstr(text, key) : NULL;

	if (!p)
		return -1;
	p += strlen(key);
	while (*p == ':' || *p == ' ')
		p++;
	return strtoll(p, NULL, 10) * 1024;
}

static struct json_object *host_numa(void)
{
	struct json_object *nodes = json_object_new_array();
	char *possible = read_line(SYS_NODE "/online");
	uint64_t bm[16] = { 0 };

	/* Without NUMA support the directory is missing: one implicit node. */
	if (!possible || parse_cpulist(possible, bm, 1024)) {
		free(possible);
		return nodes;
	}
	free(possible);
	for (unsigned int n = 0; n < 1024; n++) {
		struct json_object *o;
		char path[128], *cpus, *meminfo = NULL;

		if (!(bm[n / 64] & (1ull << (n % 64))))
			continue;
		o = json_object_new_object();
		put_int(o, "id", n);
		snprintf(path, sizeof(path), SYS_NODE "/node%u/cpulist", n);
		cpus = read_line(path);
		put_str(o, "cpus", cpus);
		free(cpus);
		snprintf(path, sizeof(path), SYS_NODE "/node%u/meminfo", n);
		read_file(path, &meminfo, NULL);
		put_int(o, "mem_total", node_meminfo(meminfo, "MemTotal"));
		put_int(o, "mem_free", node_meminfo(meminfo, "MemFree"));
		free(meminfo);
		json_object_array_add(nodes, o);
	}
	return nodes;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Every huge page size the kernel offers (hugepages-<N>kB), smallest first. */
static struct json_object *host_hugepages(void)
{
	struct json_object *arr = json_object_new_array();
	uint64_t sizes_kb[16];
	size_t n = 0;
	struct dirent *de;
	DIR *d = opendir(SYS_HUGEPAGES);

	while (d && (de = readdir(d)) && n < ARRAY_SIZE(sizes_kb)) {
		unsigned long long kb;
		char tail[4];

		if (sscanf(de->d_name, "hugepages-%llu%3s", &kb, tail) == 2 && !strcmp(tail, "kB"))
			sizes_kb[n++] = kb;
	}
	if (d)
		closedir(d);
	qsort(sizes_kb, n, sizeof(sizes_kb[0]), cmp_u64);
	for (size_t i = 0; i < n; i++) {
		struct json_object *o;
		uint64_t total, free_pages;
		char path[160];

		snprintf(path, sizeof(path), SYS_HUGEPAGES "/hugepages-%llukB/nr_hugepages",
			 (unsigned long long)sizes_kb[i]);
		if (read_sysfs_u64(path, &total))
			continue;
		snprintf(path, sizeof(path), SYS_HUGEPAGES "/hugepages-%llukB/free_hugepages",
			 (unsigned long long)sizes_kb[i]);
		if (read_sysfs_u64(path, &free_pages))
			free_pages = 0;
		o = json_object_new_object();
		put_int(o, "size", (int64_t)(sizes_kb[i] * 1024));
		put_int(o, "total", (int64_t)total);
		put_int(o, "free", (int64_t)free_pages);
		json_object_array_add(arr, o);
	}
	return arr;
}

static struct json_object *host_thp(void)
{
	struct json_object *o = json_object_new_object();
	char *enabled = sysfs_choice(SYS_THP "/enabled"), *defrag = sysfs_choice(SYS_THP "/defrag");

	put_str(o, "enabled", enabled);
	put_str(o, "defrag", defrag);
	free(enabled);
	free(defrag);
	return o;
}

static struct json_object *host_ksm(void)
{
	static const char *const counters[] = { "run",
						"pages_shared",
						"pages_sharing",
						"pages_unshared",
						"pages_volatile",
						"full_scans",
						"pages_to_scan",
						"sleep_millisecs",
						"merge_across_nodes" };
	struct json_object *o = json_object_new_object();
	bool any = false;

	for (size_t i = 0; i < ARRAY_SIZE(counters); i++) {
		char path[128];
		uint64_t v;

		snprintf(path, sizeof(path), SYS_KSM "/%s", counters[i]);
		if (read_sysfs_u64(path, &v))
			continue;
		put_int(o, counters[i], (int64_t)v);
		any = true;
	}
	put_bool(o, "available", any);
	return o;
}

static struct json_object *host_gather(const char *kvm_path)
{
	struct json_object *root = json_object_new_object();
	char *cpuinfo = NULL;

	read_file("/proc/cpuinfo", &cpuinfo, NULL);
	json_object_object_add(root, "kvm", host_kvm(kvm_path, cpuinfo));
	json_object_object_add(root, "cpu", host_cpu(cpuinfo));
	json_object_object_add(root, "numa_nodes", host_numa());
	json_object_object_add(root, "hugepages", host_hugepages());
	json_object_object_add(root, "thp", host_thp());
	json_object_object_add(root, "ksm", host_ksm());
	free(cpuinfo);
	return root;
}

/* Text rendering of the gathered object. */

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	json_object_object_get_ex(o, key, &v);
	return v;
}

static const char *get_str(struct json_object *o, const char *key, const char *dflt)
{
	struct json_object *v = get(o, key);

	return v ? json_object_get_string(v) : dflt;
}

static const char *yes_no(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key);

	return !v ? "unknown" : json_object_get_boolean(v) ? "yes" : "no";
}

static const char *fmt_size(int64_t bytes, char *buf, size_t len)
{
	if (bytes < 0)
		return "unknown";
	format_size((uint64_t)bytes, buf, len);
	return buf;
}

#define ROW "  %-22s %s\n"

/* "  note: " and the text, word-wrapped to fit 100 columns. */
static void print_note(const char *text)
{
	const int width = 100, indent = 8;
	int col = indent;

	printf("  note: ");
	while (*text) {
		int n = (int)strcspn(text, " ");

		if (col > indent && col + 1 + n > width) {
			printf("\n%*s", indent, "");
			col = indent;
		} else if (col > indent) {
			putchar(' ');
			col++;
		}
		printf("%.*s", n, text);
		col += n;
		text += n;
		while (*text == ' ')
			text++;
	}
	putchar('\n');
}

static void print_kvm(struct json_object *k)
{
	struct json_object *caps = get(k, "capabilities"), *notes = get(k, "notes");
	const char *backend = get_str(k, "backend", "unknown");
	char dev[160];

	printf("KVM\n");
	if (json_object_get_boolean(get(k, "present")))
		snprintf(dev, sizeof(dev), "%s (mode %s, %s:%s)", get_str(k, "device", "?"),
			 get_str(k, "mode", "?"), get_str(k, "owner", "?"),
			 get_str(k, "group", "?"));
	else
		snprintf(dev, sizeof(dev), "%s: missing", get_str(k, "device", "?"));
	printf(ROW, "device", dev);
	if (json_object_get_boolean(get(k, "usable")))
		printf(ROW, "usable by vessel", "yes");
	else
		printf("  %-22s no: %s\n", "usable by vessel", get_str(k, "error", "unknown"));
	printf("  %-22s %s%s%s%s\n", "backend", backend, get(k, "module") ? " (" : "",
	       get_str(k, "module", ""), get(k, "module") ? ")" : "");
	printf("  %-22s vmx %s, svm %s, running under a hypervisor: %s\n", "CPU flags",
	       yes_no(k, "cpu_vmx"), yes_no(k, "cpu_svm"), yes_no(k, "cpu_hypervisor"));
	if (get(k, "ept") || !strcmp(backend, "VT-x"))
		printf(ROW, "EPT", yes_no(k, "ept"));
	else if (get(k, "npt") || !strcmp(backend, "AMD-V"))
		printf(ROW, "NPT", yes_no(k, "npt"));
	else
		printf(ROW, "EPT/NPT", "n/a (no hardware virtualization backend)");
	if (get(k, "nested") || !strcmp(backend, "VT-x") || !strcmp(backend, "AMD-V"))
		printf(ROW, "nested", yes_no(k, "nested"));
	else
		printf(ROW, "nested", "n/a");
	if (get(k, "api_version"))
		printf("  %-22s %d\n", "API version", json_object_get_int(get(k, "api_version")));
	if (caps) {
		printf("  capabilities:\n");
		for (size_t i = 0; i < ARRAY_SIZE(host_caps); i++) {
			int64_t v = json_object_get_int64(get(caps, host_caps[i].name));
			char val[32];

			if (host_caps[i].kind == CAP_NUM)
				snprintf(val, sizeof(val), "%lld", (long long)v);
			else if (host_caps[i].kind == CAP_MASK && v)
				snprintf(val, sizeof(val), "0x%llx", (long long)v);
			else
				snprintf(val, sizeof(val), "%s", v ? "yes" : "no");
			printf("    %-26s %-8s %s\n", host_caps[i].name, val, host_caps[i].what);
		}
	}
	for (size_t i = 0; notes && i < json_object_array_length(notes); i++)
		print_note(json_object_get_string(json_object_array_get_idx(notes, i)));
}

static void print_host(struct json_object *root)
{
	struct json_object *cpu = get(root, "cpu"), *nodes = get(root, "numa_nodes");
	struct json_object *hp = get(root, "hugepages"), *thp = get(root, "thp");
	struct json_object *ksm = get(root, "ksm");
	char a[32], b[32];

	print_kvm(get(root, "kvm"));

	printf("\nCPU\n");
	printf(ROW, "model", get_str(cpu, "model", "unknown"));
	printf("  %-22s %d (%s)\n", "online", json_object_get_int(get(cpu, "online")),
	       get_str(cpu, "online_list", "?"));

	printf("\nNUMA\n");
	if (!json_object_array_length(nodes))
		printf("  no NUMA information (%s missing)\n", SYS_NODE);
	for (size_t i = 0; i < json_object_array_length(nodes); i++) {
		struct json_object *n = json_object_array_get_idx(nodes, i);

		printf("  node %-3d cpus %-14s memory %s, %s free\n",
		       json_object_get_int(get(n, "id")), get_str(n, "cpus", "-"),
		       fmt_size(json_object_get_int64(get(n, "mem_total")), a, sizeof(a)),
		       fmt_size(json_object_get_int64(get(n, "mem_free")), b, sizeof(b)));
	}

	printf("\nMemory\n");
	for (size_t i = 0; i < json_object_array_length(hp); i++) {
		struct json_object *h = json_object_array_get_idx(hp, i);
		char label[64];

		snprintf(label, sizeof(label), "huge pages %s",
			 fmt_size(json_object_get_int64(get(h, "size")), a, sizeof(a)));
		printf("  %-22s %lld total, %lld free\n", label,
		       (long long)json_object_get_int64(get(h, "total")),
		       (long long)json_object_get_int64(get(h, "free")));
	}
	if (!json_object_array_length(hp))
		printf(ROW, "huge pages", "not supported");
	printf("  %-22s %s (defrag %s)\n", "transparent hugepages",
	       get_str(thp, "enabled", "unknown"), get_str(thp, "defrag", "unknown"));
	if (json_object_get_boolean(get(ksm, "available"))) {
		int64_t run = json_object_get_int64(get(ksm, "run"));

		printf("  %-22s %s, %lld pages shared, %lld sharing, %lld unshared, %lld full "
		       "scans\n",
		       "KSM",
		       run == 1	  ? "running"
		       : run == 2 ? "unmerging"
				  : "stopped",
		       (long long)json_object_get_int64(get(ksm, "pages_shared")),
		       (long long)json_object_get_int64(get(ksm, "pages_sharing")),
		       (long long)json_object_get_int64(get(ksm, "pages_unshared")),
		       (long long)json_object_get_int64(get(ksm, "full_scans")));
	} else {
		printf(ROW, "KSM", "not available");
	}
}

static void host_usage(FILE *f)
{
	fprintf(f, "usage: vessel host [--json] [--device PATH] [--capacity] [--seccomp]\n"
		   "Show what this host offers for virtualization: KVM backend and\n"
		   "capabilities, CPUs, NUMA nodes, huge pages, THP and KSM.\n"
		   "  --json         print the same as one JSON object\n"
		   "  --device PATH  KVM device to probe (default /dev/kvm)\n"
		   "  --capacity     memory committed by running VMs against the admission\n"
		   "                 policy, per NUMA node (docs/memory.md)\n"
		   "  --seccomp      the system calls each VMM thread role may make\n"
		   "                 (docs/seccomp.md)\n");
}

/* `host --seccomp`: each role's allowlist, from the filter tables themselves. */
static int host_seccomp(bool json)
{
	static const enum thread_role roles[] = { THREAD_MAIN,	THREAD_VCPU,  THREAD_IOTHREAD,
						  THREAD_BLOCK, THREAD_VHOST, THREAD_API };
	struct json_object *root = json_object_new_object();
	const char *names[256];

	for (size_t r = 0; r < ARRAY_SIZE(roles); r++) {
		size_t n = syscall_filter_list(roles[r], names, ARRAY_SIZE(names));
		struct json_object *a = json_object_new_array();

		n = MIN(n, ARRAY_SIZE(names));
		if (!json)
			printf("%-9s %3zu ", thread_role_name(roles[r]), n);
		for (size_t i = 0; i < n; i++) {
			json_object_array_add(a, json_object_new_string(names[i]));
			if (!json)
				printf("%s%s", i ? "," : "", names[i]);
		}
		if (!json)
			printf("\n");
		json_object_object_add(root, thread_role_name(roles[r]), a);
	}
	if (json)
		printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY));
	json_object_put(root);
	return 0;
}

int cmd_host(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },	{ "device", required_argument, NULL, 'd' },
		{ "capacity", no_argument, NULL, 'c' }, { "seccomp", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },	{ NULL, 0, NULL, 0 },
	};
	const char *dev = "/dev/kvm";
	struct json_object *root;
	bool json = false, capacity = false, seccomp = false;
	int c;

	optind = 1;
	opterr = 0; /* one line of ours below, not getopt's and the usage */
	while ((c = getopt_long(argc, argv, "jd:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'd':
			dev = optarg;
			break;
		case 'c':
			capacity = true;
			break;
		case 's':
			seccomp = true;
			break;
		case 'h':
			host_usage(stdout);
			return 0;
		default:
			return cli_misuse("host: unknown option or missing argument '%s' (vessel "
					  "host --help)",
					  argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_misuse("host: unexpected argument '%s'", argv[optind]);
	if (capacity)
		return host_capacity(json);
	if (seccomp)
		return host_seccomp(json);

	root = host_gather(dev);
	if (json)
		printf("%s\n",
		       json_object_to_json_string_ext(
			       root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		print_host(root);
	json_object_put(root);
	return 0;
}
