/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_UTIL_EVENTLOG_H
#define VESSEL_UTIL_EVENTLOG_H

#include <stddef.h>

/*
 * A VM's lifecycle log, as libvirt keeps qemu/NAME.log: one timestamped
 * line per event ("2026-12-03 13:20:01.123+0000 [pid 812] paused"),
 * written by every process that acts on the VM (the CLI, the monitor, the
 * VMM).  Each line is one write(2) under flock(LOCK_EX) on the file, so
 * writers never interleave, and the writer that finds the file past its
 * cap rotates it (NAME.log -> NAME.log.1 -> ... -> NAME.log.EVENTLOG_KEEP,
 * the oldest dropped).  The cap is EVENTLOG_MAX_DEFAULT bytes, or
 * $VESSEL_EVENT_LOG_MAX (at least 4096).
 *
 * Control characters in an event (an API client's URL, a guest's string)
 * become '?', so no one can forge a line.
 */
#define EVENTLOG_MAX_DEFAULT (1024 * 1024)
#define EVENTLOG_KEEP 3

/* Append one event to the log at path: 0 or -errno. */
int eventlog_append(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * The process-wide log of the VM this process runs (vessel run
 * --event-log): set once before threads start; event_log() is a no-op
 * without one, and its failures only warn once (a full disk must not
 * stop the VM).
 */
void event_log_set_path(const char *path);
const char *event_log_path(void);
/*
 * From now on event_log() only appends through the fd it holds: it opens
 * and renames nothing (the seccomp filter forbids it), so rotation is left
 * to the next CLI writer.
 */
void event_log_lockdown(void);
void event_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
