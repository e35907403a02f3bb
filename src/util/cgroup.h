/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_UTIL_CGROUP_H
#define VESSEL_UTIL_CGROUP_H

#include <stddef.h>
#include <stdint.h>

#define CGROUP_PATH_MAX 160

struct cgroup_limits {
	const char *cpu_max;   /* "max", "QUOTA PERIOD"; NULL: max */
	uint64_t memory_max;   /* bytes; 0: max */
	unsigned int pids_max; /* 0: max */
};

struct error;
/*
 * Create <cgroup2>/vessel/NAME with these limits (the controllers
 * enabled on the way); its path into path.  0 or -errno with err set:
 * no cgroup2, or no cpu, memory or pids controller in it.
 */
int cgroup_leaf_create(const char *name, const struct cgroup_limits *l, char *path, size_t len,
		       struct error *err);
/* Move the calling process, all its threads, into the leaf; 0 or -errno. */
int cgroup_join(const char *path);
/* Remove the leaf once its processes are gone. */
void cgroup_leaf_remove(const char *path);

#endif
