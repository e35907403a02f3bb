/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_UTIL_JAIL_H
#define VESSEL_UTIL_JAIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/keys.h"

/*
 * The jailer (docs/jail.md).  A jailed VMM runs in new mount, pid, ipc
 * and uts namespaces (and net, when it has no host network back-end), in
 * a cgroup v2 leaf with the definition's limits, and once start-up is
 * over (everything open, docs/seccomp.md) with an empty read-only root,
 * an unprivileged uid and gid, no capabilities, no_new_privs and
 * rlimits; each thread also restricts itself with Landlock.
 *
 * Two processes take part:
 *   - the outer one (the monitor of `vessel start`, or `vessel run
 *     --jail` itself), root and outside, creates the cgroup leaf and
 *     forks the VMM into a new pid namespace (jail_outer_fork), then
 *     waits for it, does the cleanup a jailed VMM cannot (its sockets,
 *     OVS ports: util/reaper.h) and removes the leaf (jail_outer_wait);
 *   - the VMM calls jail_enter() first thing, while it has one thread,
 *     and jail_lockdown() where start-up ends.
 */

enum jail_mode {
	JAIL_OFF,  /* not jailed */
	JAIL_AUTO, /* jailed where the host allows it (vessel start's default) */
	JAIL_ON,   /* jailed, or the VMM does not start */
};

struct jail_spec {
	int mode; /* enum jail_mode */
	unsigned int uid, gid;
	bool has_uid, has_gid;
	char *cpu_max; /* cgroup v2 cpu.max: "max" or "QUOTA [PERIOD]" (us) */
	uint64_t memory_max;
	bool has_memory_max;
	unsigned int pids_max; /* 0: the default, 512 + threads */
	unsigned int nofile;   /* RLIMIT_NOFILE; 0: open fds + 256 */
	uint64_t fsize;	       /* RLIMIT_FSIZE */
	bool has_fsize;
};

/* "jail": on/off/auto or {"mode", "uid", ...}, and `--jail SPEC` (docs/jail.md). */
extern const struct key jail_keys[];
#define JAIL_MODE_NAMES                   \
	{                                 \
		"off", "auto", "on", NULL \
	}

/* The uid and gid a jail uses when the definition names none. */
#define JAIL_DEFAULT_ID 65534u

/* What jail_enter/jail_lockdown did, for vessel info and GET /vm. */
struct jail_state {
	bool active;
	bool locked; /* jail_lockdown done */
	char namespaces[40];
	unsigned int uid, gid;
	char cgroup[160];  /* the leaf, or "" */
	char why_not[160]; /* why not jailed (auto), or why no cgroup */
	int landlock_abi;  /* 0: the kernel has none */
	char root[32];	   /* "pivot_root" or "chroot" */
};

const struct jail_state *jail_state(void);

/*
 * The outer half.  Checks the privileges, creates the cgroup leaf for
 * `name` (NULL: the caller's pid) with the spec's limits, then forks a
 * child in a new pid namespace.  Returns 0 in the child, with the
 * environment set for jail_enter; 2 in the parent, with *child its pid
 * and *rfd the cleanup pipe for jail_outer_wait; 1 when the mode is auto
 * and the host cannot jail (state's why_not says why: run as is);
 * -errno with err set otherwise.
 */
struct error;
int jail_outer_fork(const struct jail_spec *j, const char *name, unsigned int nr_threads,
		    pid_t *child, int *rfd, struct error *err);
/* Wait for the child, clean up after it; its wait status. */
int jail_outer_wait(pid_t child, int rfd);

/*
 * The inner half dies with the outer one (SIGKILL as its parent-death
 * signal, re-armed after the uid drop): `vessel run --jail` in the
 * foreground, where killing the command must end the VM.
 */
int jail_die_with_outer(void);
/* Record why a VMM that could have been jailed is not (vessel info). */
void jail_note_not_jailed(const char *why);
/* Whether this process is the inner half (jail_outer_fork's child). */
bool jail_requested(void);
/*
 * The inner half, first thing in the VMM with one thread: namespaces
 * (net too when new_net), cgroup, no_new_privs, the capability bounding
 * set, the jail's root prepared with the device nodes in devs
 * (NULL-terminated), Landlock's ruleset.  0 or -errno with err set.
 */
int jail_enter(const struct jail_spec *j, const char *name, bool new_net, const char *const devs[],
	       struct error *err);
/*
 * Start-up is over: into the jail's root, the ids dropped, rlimits set.
 * The main thread calls it before its seccomp filter.  0 or -errno with
 * err set; the VMM must not run unjailed after a failure.
 */
int jail_lockdown(struct error *err);
/*
 * The test-only hook (tests/integration/test_jail.py): with
 * VESSEL_JAIL_SELFTEST=PATH, the locked-down main thread tries to open
 * PATH and logs what happened, as code that took over the VMM would.
 */
void jail_selftest(void);
/* Each thread restricts itself with Landlock (syscall_filter_install). */
int jail_thread_restrict(void);

/* This process's pid and the calling thread's tid as the host sees them. */
pid_t jail_host_pid(void);
pid_t jail_host_tid(void);

#endif
