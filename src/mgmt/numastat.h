/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_MGMT_NUMASTAT_H
#define VESSEL_MGMT_NUMASTAT_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * NUMA alignment of a running VM, measured from outside the VMM
 * (`vessel numastat`, docs/memory.md "NUMA verification"): the VMM says
 * where each guest node's RAM lies in its address space (GET /vm/numa),
 * and the kernel says which host node holds each of those pages
 * (move_pages(2) with no target nodes: a query, nothing moves).  The VMM
 * is not trusted to report its own placement, and its event loop does
 * not stall while a large guest is walked.
 */
#define NUMASTAT_MAX_NODES 64

/* Host topology: which host node each CPU belongs to. */
struct numastat_host {
	unsigned int nr_nodes;	     /* highest online node + 1 */
	uint64_t online;	     /* bitmap of online nodes */
	int16_t cpu_node[CPU_SETSIZE]; /* -1: no such CPU */
};

/*
 * Read /sys/devices/system/node.  A kernel without NUMA has no such
 * directory: one node 0 holding every CPU.  0 or -errno.
 */
int numastat_host_read(struct numastat_host *h);
/* Host nodes of the CPUs in `set` (those of unknown CPUs are left out). */
uint64_t numastat_cpu_nodes(const struct numastat_host *h, const cpu_set_t *set);

/* Where a range's pages are: bytes per host node, and bytes not present. */
struct numastat_usage {
	uint64_t on_node[NUMASTAT_MAX_NODES];
	uint64_t absent; /* never touched, the shared zero page, or given back */
};

/*
 * Add [hva, hva+len) of process `pid` to *u, a page of `page_size` at a
 * time.  -ESRCH, -EPERM (not ours to inspect: CAP_SYS_NICE or the same
 * uid, as for ptrace) or another -errno from move_pages(2).
 */
int numastat_walk(pid_t pid, uint64_t hva, uint64_t len, uint64_t page_size,
		  struct numastat_usage *u);

/*
 * The verdict for one guest node:
 *   empty    none of its RAM is present yet: nothing to judge
 *   aligned  all of its present RAM is on one host node, and each of its
 *            vCPUs may run only on that node's CPUs
 *   split    its RAM is spread over more than one host node
 *   remote   its RAM is on one host node, but a vCPU may run elsewhere
 * cpu_nodes: the host nodes its vCPUs may run on (0 for a node without
 * vCPUs, judged by its memory alone).
 */
enum numastat_verdict {
	NUMASTAT_EMPTY,
	NUMASTAT_ALIGNED,
	NUMASTAT_SPLIT,
	NUMASTAT_REMOTE,
};

enum numastat_verdict numastat_judge(const struct numastat_usage *u, uint64_t cpu_nodes);
const char *numastat_verdict_name(enum numastat_verdict v);
/* split and remote are what an audit flags. */
static inline bool numastat_misaligned(enum numastat_verdict v)
{
	return v == NUMASTAT_SPLIT || v == NUMASTAT_REMOTE;
}

#endif
