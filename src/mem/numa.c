// SPDX-License-Identifier: MIT
/*
 * NUMA binding of guest RAM (numatune and guest NUMA nodes), in mem/
 * terms: vm/ translates its config into a struct gmem_numa.  The host
 * checks that refuse a config this host cannot run live in
 * vm/host_check.c.
 */
#include "mem/numa.h"

#include <errno.h>
#include <numaif.h>
#include <string.h>

#include "util/log.h"
#include "util/util.h"

static int numa_policy(enum gmem_numa_mode mode)
{
	switch (mode) {
	case GMEM_NUMA_PREFERRED:
		return MPOL_PREFERRED;
	case GMEM_NUMA_INTERLEAVE:
		return MPOL_INTERLEAVE;
	default:
		/* Guest nodes mapped to host nodes without a mode: bind. */
		return MPOL_BIND;
	}
}

static int bind_range(uint8_t *hva, uint64_t len, int policy, uint64_t nodes)
{
	unsigned long mask = (unsigned long)nodes;

	/* MPOL_PREFERRED takes one node: the lowest of the set. */
	if (policy == MPOL_PREFERRED)
		mask = nodes & (~nodes + 1);
	/* maxnode counts bits and the kernel wants one more than it reads. */
	if (mbind(hva, len, policy, &mask, 65, MPOL_MF_MOVE) < 0)
		return -errno;
	return 0;
}

int gmem_numa_spans(const struct gmem *m, uint64_t off, uint64_t len, struct gmem_span *out,
		    unsigned int max)
{
	struct gmem_region_info r;
	unsigned int n = 0;
	uint64_t base = 0;

	gmem_for_each_region(m, i, &r) {
		uint64_t s, e;

		if (!len)
			break;
		if (r.kind != GMEM_RAM)
			continue;
		if (off + len <= base || off >= base + r.size) {
			base += r.size;
			continue;
		}
		if (n == max)
			return -ENOSPC;
		s = MAX(off, base);
		e = MIN(off + len, base + r.size);
		out[n].hva = r.hva + (s - base);
		out[n].len = e - s;
		n++;
		base += r.size;
	}
	return (int)n;
}

/* Bind RAM bytes [off, off+len), counted as gmem_numa_spans() counts them. */
static int bind_ram(struct gmem *m, uint64_t off, uint64_t len, int policy, uint64_t nodes)
{
	struct gmem_span sp[GMEM_MAX_REGIONS];
	int n = gmem_numa_spans(m, off, len, sp, GMEM_MAX_REGIONS);

	for (int i = 0; i < n; i++) {
		int r = bind_range(sp[i].hva, sp[i].len, policy, nodes);

		if (r)
			return r;
	}
	return n < 0 ? n : 0;
}

int gmem_numa_apply(struct gmem *m, const struct gmem_numa *b)
{
	int policy = numa_policy(b->mode);
	uint64_t off = 0;
	int r;

	if (!b->nr_nodes) {
		if (b->mode == GMEM_NUMA_NONE || !b->host_nodes)
			return 0;
		r = bind_ram(m, 0, gmem_ram_size(m), policy, b->host_nodes);
		if (r)
			log_err("numatune: mbind to host nodes 0x%llx: %s",
				(unsigned long long)b->host_nodes, strerror(-r));
		return r;
	}
	for (unsigned int i = 0; i < b->nr_nodes && i < GMEM_NUMA_MAX_NODES; i++) {
		const struct gmem_numa_node *nd = &b->nodes[i];
		uint64_t nodes = nd->host_nodes ? nd->host_nodes : b->host_nodes;

		if (nodes) {
			r = bind_ram(m, off, nd->size, policy, nodes);
			if (r) {
				log_err("numa.nodes[%u]: mbind to host nodes 0x%llx: %s", i,
					(unsigned long long)nodes, strerror(-r));
				return r;
			}
		}
		off += nd->size;
	}
	return 0;
}
