// SPDX-License-Identifier: MIT
/*
 * NUMA alignment of a running VM, from outside the VMM (mgmt/numastat.h).
 */
#include "mgmt/numastat.h"

#include <errno.h>
#include <numaif.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define SYS_NODE "/sys/devices/system/node"
/* Pages per move_pages(2) call: a few KiB of arrays, few syscalls. */
#define WALK_BATCH 1024

static char *read_small(const char *path)
{
	char *buf = NULL;
	size_t cap = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return NULL;
	if (getline(&buf, &cap, f) < 0) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf)
		buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

int numastat_host_read(struct numastat_host *h)
{
	uint64_t nodes[NUMASTAT_MAX_NODES / 64] = { 0 };
	char *s = read_small(SYS_NODE "/online");

	memset(h, 0, sizeof(*h));
	for (unsigned int c = 0; c < CPU_SETSIZE; c++)
		h->cpu_node[c] = -1;
	if (!s) {
		/* No NUMA in this kernel: every CPU is on node 0. */
		h->nr_nodes = 1;
		h->online = 1;
		for (unsigned int c = 0; c < CPU_SETSIZE; c++)
			h->cpu_node[c] = 0;
		return 0;
	}
	if (parse_cpulist(s, nodes, NUMASTAT_MAX_NODES)) {
		free(s);
		return -EINVAL;
	}
	free(s);
	h->online = nodes[0];
	for (unsigned int n = 0; n < NUMASTAT_MAX_NODES; n++) {
		uint64_t cpus[CPU_SETSIZE / 64] = { 0 };
		char path[96];

		if (!(h->online >> n & 1))
			continue;
		h->nr_nodes = n + 1;
		snprintf(path, sizeof(path), SYS_NODE "/node%u/cpulist", n);
		s = read_small(path);
		/* A memory-only node has an empty cpulist. */
		if (s && *s && parse_cpulist(s, cpus, CPU_SETSIZE)) {
			free(s);
			return -EINVAL;
		}
		free(s);
		for (unsigned int c = 0; c < CPU_SETSIZE; c++)
			if (cpus[c / 64] >> (c % 64) & 1)
				h->cpu_node[c] = (int16_t)n;
	}
	return h->nr_nodes ? 0 : -EINVAL;
}

uint64_t numastat_cpu_nodes(const struct numastat_host *h, const cpu_set_t *set)
{
	uint64_t nodes = 0;

	for (unsigned int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, set) && h->cpu_node[c] >= 0)
			nodes |= 1ull << h->cpu_node[c];
	return nodes;
}

int numastat_walk(pid_t pid, uint64_t hva, uint64_t len, uint64_t page_size,
		  struct numastat_usage *u)
{
	void *pages[WALK_BATCH];
	int status[WALK_BATCH];

	if (!page_size || (page_size & (page_size - 1)) || hva % page_size || len % page_size)
		return -EINVAL;
	while (len) {
		unsigned long n = (unsigned long)MIN(len / page_size, (uint64_t)WALK_BATCH);

		for (unsigned long i = 0; i < n; i++)
			pages[i] = (void *)(uintptr_t)(hva + i * page_size);
		/*
		 * nodes == NULL: status[i] gets the node of page i, or -ENOENT
		 * (not present), -EFAULT (the zero page, or no mapping).
		 * A huge page answers for its whole size at its first address.
		 */
		if (move_pages(pid, n, pages, NULL, status, 0) < 0)
			return -errno;
		for (unsigned long i = 0; i < n; i++) {
			if (status[i] >= 0 && status[i] < NUMASTAT_MAX_NODES)
				u->on_node[status[i]] += page_size;
			else
				u->absent += page_size;
		}
		hva += n * page_size;
		len -= n * page_size;
	}
	return 0;
}

enum numastat_verdict numastat_judge(const struct numastat_usage *u, uint64_t cpu_nodes)
{
	uint64_t mem_nodes = 0;

	for (unsigned int n = 0; n < NUMASTAT_MAX_NODES; n++)
		if (u->on_node[n])
			mem_nodes |= 1ull << n;
	if (!mem_nodes)
		return NUMASTAT_EMPTY;
	if (mem_nodes & (mem_nodes - 1))
		return NUMASTAT_SPLIT;
	return cpu_nodes & ~mem_nodes ? NUMASTAT_REMOTE : NUMASTAT_ALIGNED;
}

const char *numastat_verdict_name(enum numastat_verdict v)
{
	static const char *const names[] = { "empty", "aligned", "split", "remote" };

	return (unsigned int)v < ARRAY_SIZE(names) ? names[v] : "unknown";
}
