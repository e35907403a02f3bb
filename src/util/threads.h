/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_UTIL_THREADS_H
#define VESSEL_UTIL_THREADS_H

#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * The registry of the VMM's threads (docs/threads.md).  Every thread the
 * VMM creates registers itself where it starts, with its role, and
 * unregisters before it exits, so code that acts on "the emulator
 * threads" (emulatorpin, later the per-role seccomp filters) works from
 * this list instead of guessing from /proc/self/task, where threads the
 * VMM did not create (the kernel's io_uring workers) show up as well.
 *
 * The registry is per process: a forked child starts with its own
 * calling thread only (registered as it was in the parent).
 */
enum thread_role {
	THREAD_MAIN,	 /* the main event loop (API, signals, consoles) */
	THREAD_VCPU,	 /* one per vCPU: KVM_RUN and MMIO/PIO exits */
	THREAD_IOTHREAD, /* a device's own event loop (virtio-blk) */
	THREAD_BLOCK,	 /* a block queue's worker (formats without io_uring) */
	THREAD_VHOST,	 /* the vhost-user backend's loop */
	THREAD_API,	 /* the API server: HTTP on its own loop (api/server.c) */
	THREAD_HELPER,	 /* anything else */
	THREAD_ROLE_MAX
};

#define THREAD_ROLE_BIT(r) (1u << (r))
#define THREAD_ROLES_ALL ((1u << THREAD_ROLE_MAX) - 1)

struct thread_info {
	enum thread_role role;
	pid_t tid;
	pthread_t thread;
	char name[16];
};

/*
 * Register the calling thread; name (at most 15 chars) also becomes its
 * kernel name (comm), NULL keeps the current one.  Registering again
 * updates the entry.  0 or -ENOMEM.
 */
int threads_register(enum thread_role role, const char *name);
/* Forget the calling thread (before it exits). */
void threads_unregister(void);
/*
 * Copy up to max entries into out (registration order); returns how many
 * threads are registered (may be more than max).
 */
size_t threads_list(struct thread_info *out, size_t max);
/* The registered thread with this tid: 0, or -ENOENT. */
int threads_find(pid_t tid, struct thread_info *out);
/*
 * Set the CPU affinity of every registered thread whose role is in
 * `roles` (THREAD_ROLE_BIT mask).  A thread that exited meanwhile is
 * skipped; the first other error is returned (-errno), after trying all.
 */
int threads_set_affinity(unsigned int roles, const cpu_set_t *set);
const char *thread_role_name(enum thread_role role);

#endif
