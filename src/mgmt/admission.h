/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_MGMT_ADMISSION_H
#define VESSEL_MGMT_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mgmt/state.h"

/*
 * Host memory admission control (docs/memory.md "Admission"): what the
 * running VMs have committed, and a policy that `vessel start` checks a
 * new VM against before any VMM runs.
 *
 *   <data>/host.json     {"memory": {"overcommit_ratio": 1.5, "reserve": "2G"}}
 *   <run>/memory         one claim per running VM, "NAME SIZE TARGET KIND NODES"
 *   <run>/memory.lock    held while the claims change (host-wide)
 *
 * A claim is alive while its VM runs or while a CLI holds that VM's lock
 * (a start in progress), as the dedicated-CPU claims are; others are
 * left over from a crash and are dropped.
 *
 * The arithmetic, for the host's RAM R (MemTotal), its hugetlb pool H,
 * the reserve V and the ratio X:
 *   capacity C = R - H - V
 *   strict VMs (pinned vCPUs, dedicated, prealloc): their whole size, and
 *     never overcommitted: sum(strict) <= C
 *   huge-page VMs: from the pool, which vessel's start check already
 *     holds to its free pages; not counted against C
 *   other VMs: their balloon target (the size until setmem lowers it):
 *     sum(other) <= (C - sum(strict)) * X
 */
struct error;
struct vm_config;

enum mem_claim_kind { MEM_CLAIM_SOFT, MEM_CLAIM_STRICT, MEM_CLAIM_HUGE };

struct mem_claim {
	char name[STATE_NAME_MAX + 1];
	uint64_t size;	 /* the VM's memory */
	uint64_t target; /* what it may use now (balloon target), <= size */
	enum mem_claim_kind kind;
	uint64_t nodes; /* host NUMA nodes it is bound to (bitmap), 0: any */
};

struct host_policy {
	double ratio;	  /* overcommit ratio for soft VMs, >= 1 */
	uint64_t reserve; /* bytes kept for the host */
	bool from_file;	  /* read from host.json (else the defaults) */
};

struct host_memory {
	uint64_t total;	      /* MemTotal */
	uint64_t hugetlb;     /* the hugetlb pools, all sizes */
	uint64_t ksm_sharing; /* bytes KSM saves now (pages_sharing), for show */
};

#define ADMISSION_MAX 1024

/* The policy: host.json, or ratio 1.0 and no reserve.  Errors in one line. */
int host_policy_load(const struct state_dirs *d, struct host_policy *p, struct error *err);
/* /proc/meminfo and /sys/kernel/mm/ksm. */
void host_memory_read(struct host_memory *h);
/* The claim a VM with configuration c makes. */
void mem_claim_of(const struct vm_config *c, const char *name, struct mem_claim *out);
/*
 * May `add` join `claims` (n of them) under p on h?  0, or -ENOSPC with
 * why naming the figures ("... 6G committed + 3G > 8G capacity ...").
 */
int admission_check(const struct host_policy *p, const struct host_memory *h,
		    const struct mem_claim *claims, size_t n, const struct mem_claim *add,
		    char *why, size_t len);
/* Sums for `vessel host --capacity`. */
struct admission_sums {
	uint64_t capacity, strict, soft, soft_size, huge;
	size_t vms;
};
void admission_sum(const struct host_policy *p, const struct host_memory *h,
		   const struct mem_claim *claims, size_t n, struct admission_sums *s);

/*
 * Under the host-wide lock: drop dead claims, check c's, record it.
 * -ENOSPC with why set when the policy refuses; -errno otherwise.
 */
int admission_claim(const struct state_dirs *d, const char *name, const struct vm_config *c,
		    char *why, size_t len);
/* Forget NAME's claim (a start that failed after claiming). */
void admission_release(const struct state_dirs *d, const char *name);
/*
 * setmem: NAME may now use `target` bytes.  A larger target must fit the
 * policy beside the others (-ENOSPC, why set); -ENOENT without a claim.
 */
int admission_set_target(const struct state_dirs *d, const char *name, uint64_t target,
			 char *why, size_t len);
/* The live claims (at most max) into out; their number, or -errno. */
int admission_list(const struct state_dirs *d, struct mem_claim *out, size_t max);

#endif
