// SPDX-License-Identifier: MIT
/*
 * The per-VM lifecycle log (eventlog.h): timestamped lines appended under
 * flock, rotated by size.
 */
#include "util/eventlog.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static size_t eventlog_cap(void)
{
	const char *e = getenv("VESSEL_EVENT_LOG_MAX");
	char *end;
	unsigned long long v;

	if (!e || !*e)
		return EVENTLOG_MAX_DEFAULT;
	errno = 0;
	v = strtoull(e, &end, 10);
	if (errno || *end || v < 4096)
		return EVENTLOG_MAX_DEFAULT;
	return (size_t)v;
}

/* "2026-12-03 13:20:01.123+0000 [pid 812] " then the event, sanitized. */
static size_t eventlog_format(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct timespec ts;
	struct tm tm;
	size_t n;
	int m;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
	m = snprintf(buf + n, size - n, ".%03ld+0000 [pid %d] ", ts.tv_nsec / 1000000,
		     (int)getpid());
	n += (size_t)MAX(m, 0);
	m = vsnprintf(buf + n, size - n - 1, fmt, ap);
	if (m > 0) {
		size_t end = MIN(n + (size_t)m, size - 2);

		for (; n < end; n++)
			if ((unsigned char)buf[n] < 0x20 || buf[n] == 0x7f)
				buf[n] = '?';
	}
	buf[n++] = '\n';
	return n;
}

/* NAME.log.(KEEP-1) -> .KEEP, ..., NAME.log -> .1; called holding the lock. */
static bool eventlog_rotate(const char *path)
{
	char from[4096], to[4096];

	for (int i = EVENTLOG_KEEP - 1; i >= 1; i--) {
		if (snprintf(from, sizeof(from), "%s.%d", path, i) >= (int)sizeof(from) ||
		    snprintf(to, sizeof(to), "%s.%d", path, i + 1) >= (int)sizeof(to))
			return false;
		(void)rename(from, to);
	}
	snprintf(to, sizeof(to), "%s.1", path);
	return rename(path, to) == 0;
}

static int eventlog_vappend(const char *path, const char *fmt, va_list ap)
{
	size_t cap = eventlog_cap(), len;
	char line[1024];
	int r = -EAGAIN;

	len = eventlog_format(line, sizeof(line), fmt, ap);
	/*
	 * Another writer may rotate between our open and our lock: the inode
	 * we locked is then no longer the path's, and we start again on the
	 * new file.  Bounded: each retry follows a rotation that another
	 * writer finished.
	 */
	for (int tries = 0; tries < 8; tries++) {
		struct stat fst, pst;
		int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

		if (fd < 0)
			return -errno;
		if (flock(fd, LOCK_EX) < 0 || fstat(fd, &fst) < 0) {
			r = -errno;
			close(fd);
			return r;
		}
		if (lstat(path, &pst) < 0 || pst.st_ino != fst.st_ino || pst.st_dev != fst.st_dev) {
			close(fd);
			continue;
		}
		/* a file that cannot be rotated still gets the line */
		if (fst.st_size > 0 && (size_t)fst.st_size + len > cap && eventlog_rotate(path)) {
			close(fd);
			continue;
		}
		r = write_full(fd, line, len);
		close(fd);
		return r;
	}
	return r;
}

int eventlog_append(const char *path, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = eventlog_vappend(path, fmt, ap);
	va_end(ap);
	return r;
}

/* Set once by main before any thread starts, like log.c's state. */
static const char *event_path;
static bool event_warned;

void event_log_set_path(const char *path)
{
	event_path = path;
}

const char *event_log_path(void)
{
	return event_path;
}

void event_log(const char *fmt, ...)
{
	va_list ap;
	int r;

	if (!event_path)
		return;
	va_start(ap, fmt);
	r = eventlog_vappend(event_path, fmt, ap);
	va_end(ap);
	if (r && !__atomic_exchange_n(&event_warned, true, __ATOMIC_RELAXED))
		log_warn("event log %s: %s (further failures not shown)", event_path, strerror(-r));
}
