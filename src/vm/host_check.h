/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_VM_HOST_CHECK_H
#define VESSEL_VM_HOST_CHECK_H

#include <stddef.h>

#include "mem/numa.h"
#include "vm/config.h"

/*
 * Refuse what cannot work on this host, with a message naming the key:
 * host nodes that do not exist, huge pages not available (on the node),
 * memory beyond the host's, huge pages with KSM.  Prints a warning (log)
 * for what may work badly (memory beyond what is available now).
 */
int vm_config_check_host(const struct vm_config *c, char *err, size_t errlen);
/* Every CPU of set is online, else an error "KEY: host CPU N is not online". */
int host_check_cpus(const char *key, const cpu_set_t *set, char *err, size_t len);
/* Only its placement: the host nodes and CPUs it names exist (numatune, vcpupin). */
int vm_config_check_placement(const struct vm_config *c, char *err, size_t errlen);

/* The config's numatune and guest NUMA nodes as mem/ binds them. */
void vm_numa_binding(const struct vm_config *c, struct gmem_numa *out);

#endif
