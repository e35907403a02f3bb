/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_MEM_NUMA_H
#define VESSEL_MEM_NUMA_H

#include <stdint.h>

#include "mem/gmem.h"

/*
 * NUMA placement of guest RAM, in mem/ terms (vm/ translates its config:
 * vm_numa_binding() in vm/host_check.h).  gmem_numa_apply() binds each
 * guest NUMA node's share of RAM (guest nodes take RAM in guest-physical
 * order, node 0 first, as the SRAT describes it) to its host nodes, or
 * all of RAM to the nodeset, with mbind(2) in the mode (strict ->
 * MPOL_BIND, preferred -> MPOL_PREFERRED, interleave -> MPOL_INTERLEAVE;
 * nodes bound without a mode -> MPOL_BIND).  Call it after the regions
 * are mapped and before any page is touched (prealloc); MPOL_MF_MOVE
 * also migrates pages touched already.
 */
#define GMEM_NUMA_MAX_NODES 8

enum gmem_numa_mode {
	GMEM_NUMA_NONE,
	GMEM_NUMA_STRICT,
	GMEM_NUMA_PREFERRED,
	GMEM_NUMA_INTERLEAVE,
};

struct gmem_numa_node {
	uint64_t size;	     /* bytes of RAM of this guest node */
	uint64_t host_nodes; /* bitmap of host nodes; 0: the nodeset */
};

struct gmem_numa {
	enum gmem_numa_mode mode;
	uint64_t host_nodes;   /* the nodeset (numatune) */
	unsigned int nr_nodes; /* 0: no guest NUMA topology, all RAM to host_nodes */
	struct gmem_numa_node nodes[GMEM_NUMA_MAX_NODES];
};

int gmem_numa_apply(struct gmem *m, const struct gmem_numa *b);

/*
 * Where RAM bytes [off, off+len), counted over the RAM regions in
 * guest-physical order (ROM and flash take no share, as above), lie in
 * the VMM: up to `max` host spans.  Returns how many, or -ENOSPC.  A
 * guest node's RAM may span the regions below and above the 32-bit PCI
 * hole, hence more than one.
 */
struct gmem_span {
	uint8_t *hva;
	uint64_t len;
};

int gmem_numa_spans(const struct gmem *m, uint64_t off, uint64_t len, struct gmem_span *out,
		    unsigned int max);

#endif
