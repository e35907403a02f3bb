/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_UTIL_SYSCALL_FILTER_H
#define VESSEL_UTIL_SYSCALL_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include "util/threads.h"

/*
 * Per-thread seccomp allowlists (docs/seccomp.md).  Each VMM thread, once
 * it has opened what it needs, installs the filter of its role
 * (util/threads.h) on itself: the vCPU threads, the I/O threads and the
 * block workers where they start, the main thread when start-up is over
 * (after which the VMM opens nothing), the vhost-user backend once it
 * listens.  A refused system call kills the process; a SIGSYS handler
 * says first which thread, role and call it was.
 *
 * The mode is process-wide and set once, before any thread starts: the
 * VMM commands set it, everything else (vessel img, the CLI) never
 * installs a filter.
 */
enum syscall_filter_mode {
	SYSCALL_FILTER_OFF, /* no filter (--seccomp=off) */
	SYSCALL_FILTER_LOG, /* allow, the kernel logs each refused call */
	SYSCALL_FILTER_ON,  /* refused calls kill the VMM (the default) */
};

/* "on", "log", "off" -> mode; 0 or -EINVAL. */
int syscall_filter_parse(const char *s, enum syscall_filter_mode *out);
const char *syscall_filter_mode_name(enum syscall_filter_mode m);
/*
 * The mode a VMM gets without --seccomp: $VESSEL_SECCOMP (on, log, off)
 * where set and valid, else on.
 */
enum syscall_filter_mode syscall_filter_default_mode(void);
/* Set the mode the next installs use; the VMM commands call it once. */
void syscall_filter_set_mode(enum syscall_filter_mode m);
enum syscall_filter_mode syscall_filter_get_mode(void);

/*
 * Install the filter of `role` on the calling thread (and the threads it
 * creates afterwards, which also get their own).  0 when the mode is off
 * or the filter is in place; -errno otherwise, with the reason logged.
 * In ON mode a failure is fatal to the caller's purpose: callers stop
 * the VMM rather than run unfiltered.
 */
int syscall_filter_install(enum thread_role role);
/* How many roles were installed in this process (vessel info, tests). */
unsigned int syscall_filter_installed(void);

/*
 * The system calls a role allows, by name, for docs/seccomp.md and the
 * test that compares the counts with Firecracker's.  Returns the count;
 * fills up to max names (static strings).  0 for a role without a filter.
 */
size_t syscall_filter_list(enum thread_role role, const char **names, size_t max);

#endif
