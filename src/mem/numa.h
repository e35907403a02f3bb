/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_MEM_NUMA_H
#define VESSEL_MEM_NUMA_H

#include <stddef.h>

#include "mem/gmem.h"
#include "vm/config.h"

/*
 * NUMA placement of guest RAM.  gmem_numa_apply() binds each guest NUMA
 * node's share of RAM (guest nodes take RAM in guest-physical order, node 0
 * first, as the SRAT describes it) to its host nodes, or all of RAM to
 * numatune's nodeset, with mbind(2) in the numatune mode (strict ->
 * MPOL_BIND, preferred -> MPOL_PREFERRED, interleave -> MPOL_INTERLEAVE).
 * Call it after the regions are mapped and before any page is touched
 * (prealloc); MPOL_MF_MOVE also migrates pages touched already.
 */
int gmem_numa_apply(struct gmem *m, const struct vm_config *c);

/*
 * Refuse what cannot work on this host, with a message naming the key:
 * host nodes that do not exist, huge pages not available (on the node),
 * memory beyond the host's, huge pages with KSM.  Prints a warning (log)
 * for what may work badly (memory beyond what is available now).
 */
int vm_config_check_host(const struct vm_config *c, char *err, size_t errlen);

#endif
