// SPDX-License-Identifier: MIT
/*
 * The host checks that turn "cannot work here" into a clear refusal at
 * start instead of a SIGBUS or an OOM kill in the middle of a guest's
 * life, and the translation of the config's NUMA placement into what
 * mem/numa.c binds.
 */
#include "vm/host_check.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "util/util.h"
#include "vm/config_json.h"

_Static_assert(GMEM_NUMA_MAX_NODES >= VM_MAX_NUMA_NODES, "gmem_numa too small");

void vm_numa_binding(const struct vm_config *c, struct gmem_numa *out)
{
	static const enum gmem_numa_mode modes[] = {
		[VM_NUMA_NONE] = GMEM_NUMA_NONE,
		[VM_NUMA_STRICT] = GMEM_NUMA_STRICT,
		[VM_NUMA_PREFERRED] = GMEM_NUMA_PREFERRED,
		[VM_NUMA_INTERLEAVE] = GMEM_NUMA_INTERLEAVE,
	};

	memset(out, 0, sizeof(*out));
	out->mode = (unsigned int)c->numa_mode < ARRAY_SIZE(modes) ? modes[c->numa_mode]
								   : GMEM_NUMA_NONE;
	out->host_nodes = c->numa_host_nodes;
	out->nr_nodes = MIN(c->nr_numa_nodes, (unsigned int)VM_MAX_NUMA_NODES);
	for (unsigned int i = 0; i < out->nr_nodes; i++) {
		out->nodes[i].size = c->numa_nodes[i].mem_size;
		out->nodes[i].host_nodes = c->numa_nodes[i].host_nodes;
	}
}

__attribute__((format(printf, 3, 4))) static int herr(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool host_node_exists(unsigned int n)
{
	char path[64];

	snprintf(path, sizeof(path), "/sys/devices/system/node/node%u", n);
	return access(path, F_OK) == 0;
}

static uint64_t host_nodes_present(void)
{
	uint64_t mask = 0;

	for (unsigned int n = 0; n < 64; n++)
		if (host_node_exists(n))
			mask |= 1ull << n;
	/* No sysfs node directory (non-NUMA kernel): one node 0. */
	return mask ? mask : 1;
}

static int check_nodes(const char *key, uint64_t want, uint64_t have, char *err, size_t len)
{
	char buf[200];

	for (unsigned int n = 0; n < 64; n++)
		if ((want >> n) & 1 && !((have >> n) & 1))
			return herr(err, len, "%s: host node %u does not exist (host nodes: %s)",
				    key, n, bitmap_format(&have, 64, buf, sizeof(buf)));
	return 0;
}

/* A /proc/meminfo field in bytes, or 0. */
static uint64_t meminfo(const char *field)
{
	char line[256];
	unsigned long long kb = 0;
	size_t fl = strlen(field);
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, fl) && line[fl] == ':' &&
		    sscanf(line + fl + 1, "%llu", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb * 1024;
}

/* Free huge pages of this size on host node `node`, or host-wide for -1. */
static int hugepages_free(int node, uint64_t size, uint64_t *out)
{
	char path[160];

	if (node < 0)
		snprintf(path, sizeof(path),
			 "/sys/kernel/mm/hugepages/hugepages-%llukB/free_hugepages",
			 (unsigned long long)(size / 1024));
	else
		snprintf(
			path, sizeof(path),
			"/sys/devices/system/node/node%d/hugepages/hugepages-%llukB/free_hugepages",
			node, (unsigned long long)(size / 1024));
	return read_sysfs_u64(path, out);
}

static int check_hugepages(const struct vm_config *c, char *err, size_t len)
{
	uint64_t hp = c->mem.hugepage_size ? c->mem.hugepage_size : 2 * MiB, avail = 0;
	char sz[16], nodes[200];

	format_size(hp, sz, sizeof(sz));
	if (hugepages_free(-1, hp, &avail))
		return herr(err, len, "memory.hugepage_size: this host has no %s huge pages", sz);
	if (avail < c->mem_size / hp)
		return herr(
			err, len,
			"memory.backing: \"hugetlb\" needs %llu free %s huge pages, the host has "
			"%llu (see /sys/kernel/mm/hugepages/hugepages-%llukB/nr_hugepages)",
			(unsigned long long)(c->mem_size / hp), sz, (unsigned long long)avail,
			(unsigned long long)(hp / 1024));
	/* Bound guest nodes need their pages on their own host nodes. */
	for (unsigned int i = 0; i < c->nr_numa_nodes; i++) {
		const struct vm_numa_node *nd = &c->numa_nodes[i];
		uint64_t hn = nd->host_nodes ? nd->host_nodes : c->numa_host_nodes, sum = 0, f;

		if (!hn || c->numa_mode == VM_NUMA_PREFERRED)
			continue;
		for (int n = 0; n < 64; n++)
			if ((hn >> n) & 1 && hugepages_free(n, hp, &f) == 0)
				sum += f;
		if (sum < nd->mem_size / hp)
			return herr(
				err, len,
				"numa.nodes[%u]: needs %llu free %s huge pages on host nodes %s, "
				"they have %llu",
				i, (unsigned long long)(nd->mem_size / hp), sz,
				bitmap_format(&hn, 64, nodes, sizeof(nodes)),
				(unsigned long long)sum);
	}
	if (!c->nr_numa_nodes && c->numa_host_nodes && c->numa_mode == VM_NUMA_STRICT) {
		uint64_t sum = 0, f;

		for (int n = 0; n < 64; n++)
			if ((c->numa_host_nodes >> n) & 1 && hugepages_free(n, hp, &f) == 0)
				sum += f;
		if (sum < c->mem_size / hp)
			return herr(err, len,
				    "numa.nodeset: needs %llu free %s huge pages on host nodes %s, "
				    "they have %llu",
				    (unsigned long long)(c->mem_size / hp), sz,
				    bitmap_format(&c->numa_host_nodes, 64, nodes, sizeof(nodes)),
				    (unsigned long long)sum);
	}
	return 0;
}

int host_check_cpus(const char *key, const cpu_set_t *set, char *err, size_t len)
{
	uint64_t online[CPU_SETSIZE / 64];
	char *text = NULL;
	size_t tl;

	if (read_file("/sys/devices/system/cpu/online", &text, &tl))
		return 0;
	text[strcspn(text, "\n")] = '\0';
	if (parse_cpulist(text, online, CPU_SETSIZE)) {
		free(text);
		return 0;
	}
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, set) || (online[cpu / 64] >> (cpu % 64)) & 1)
			continue;
		herr(err, len, "%s: host CPU %d is not online (online: %s)", key, cpu, text);
		free(text);
		return -EINVAL;
	}
	free(text);
	return 0;
}

static int check_cpus(const struct vm_config *c, char *err, size_t len)
{
	char key[32];
	int r;

	for (unsigned int v = 0; v < c->nr_cpus; v++) {
		snprintf(key, sizeof(key), "cpus.pinning.\"%u\"", v);
		if (c->vcpu_pinned[v] && (r = host_check_cpus(key, &c->vcpu_affinity[v], err, len)))
			return r;
	}
	if (c->emulator_pinned &&
	    (r = host_check_cpus("cpus.emulator", &c->emulator_affinity, err, len)))
		return r;
	return 0;
}

int vm_config_check_placement(const struct vm_config *c, char *err, size_t errlen)
{
	uint64_t have = host_nodes_present();
	int r;

	if ((r = check_nodes("numa.nodeset", c->numa_host_nodes, have, err, errlen)))
		return r;
	for (unsigned int i = 0; i < c->nr_numa_nodes; i++) {
		char key[48];

		snprintf(key, sizeof(key), "numa.nodes[%u].host_nodes", i);
		if ((r = check_nodes(key, c->numa_nodes[i].host_nodes, have, err, errlen)))
			return r;
	}
	return check_cpus(c, err, errlen);
}

int vm_config_check_host(const struct vm_config *c, char *err, size_t errlen)
{
	uint64_t total = meminfo("MemTotal");
	uint64_t avail = meminfo("MemAvailable");
	char a[16], b[16];
	uint64_t ksm = 0;
	int r;

	/* Huge pages with KSM is a config error: the parsers refuse it. */
	if ((r = vm_config_check_placement(c, err, errlen)))
		return r;
	if (total && c->mem_size > total) {
		format_size(c->mem_size, a, sizeof(a));
		format_size(total, b, sizeof(b));
		return herr(err, errlen, "memory: %s is more than the host's %s", a, b);
	}
	if (c->mem.backing == GMEM_BACKING_HUGETLB && (r = check_hugepages(c, err, errlen)))
		return r;
	if (avail && c->mem_size > avail && c->mem.backing != GMEM_BACKING_HUGETLB) {
		format_size(c->mem_size, a, sizeof(a));
		format_size(avail, b, sizeof(b));
		log_warn("memory: %s is more than the %s the host has available now%s", a, b,
			 c->mem.prealloc ? " (prealloc may fail)" : "");
	}
	if (c->mem.mergeable && read_sysfs_u64("/sys/kernel/mm/ksm/run", &ksm) == 0 && ksm != 1)
		log_warn("memory.mergeable: KSM is not running on this host "
			 "(/sys/kernel/mm/ksm/run is %llu); pages will not be merged",
			 (unsigned long long)ksm);
	return 0;
}
