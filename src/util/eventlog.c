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

/*
 * NAME.log.(KEEP-1) -> .KEEP, ..., then NAME.log's bytes are copied to .1
 * and NAME.log is truncated in place (logrotate's copytruncate): the live
 * file keeps its inode, so a VMM that opened it before its seccomp filter
 * (docs/seccomp.md) and can open nothing since keeps appending to the
 * right file.  Called holding the lock on fd; false if it cannot rotate.
 */
static bool eventlog_rotate(int fd, const char *path)
{
	char from[4096], to[4096], tmp[4112], buf[16384];
	off_t off = 0;
	ssize_t n;
	int out;

	for (int i = EVENTLOG_KEEP - 1; i >= 1; i--) {
		if (snprintf(from, sizeof(from), "%s.%d", path, i) >= (int)sizeof(from) ||
		    snprintf(to, sizeof(to), "%s.%d", path, i + 1) >= (int)sizeof(to))
			return false;
		(void)rename(from, to);
	}
	snprintf(to, sizeof(to), "%s.1", path);
	snprintf(tmp, sizeof(tmp), "%s.1.tmp", path);
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (out < 0)
		return false;
	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		if (write_full(out, buf, (size_t)n))
			break;
		off += n;
	}
	if (n != 0 || close(out) < 0 || rename(tmp, to) < 0) {
		if (n != 0)
			close(out);
		unlink(tmp);
		return false;
	}
	return ftruncate(fd, 0) == 0;
}

/*
 * Append one line through fd, under its lock.  rotate: this writer may
 * open and rename files (a CLI command, the monitor); a VMM under its
 * filter may not, and leaves rotation to the next writer that can, up to
 * four times the cap, after which its lines are dropped (-EFBIG).
 */
static int eventlog_write_fd(int fd, const char *path, const char *line, size_t len, bool rotate)
{
	size_t cap = eventlog_cap();
	struct stat st;
	int r;

	if (flock(fd, LOCK_EX) < 0 || fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size > 0 && (size_t)st.st_size + len > cap)
		if (!(rotate && eventlog_rotate(fd, path)) && (size_t)st.st_size > 4 * cap) {
			flock(fd, LOCK_UN);
			return -EFBIG;
		}
	r = write_full(fd, line, len);
	flock(fd, LOCK_UN);
	return r;
}

/* read and write: rotation copies the file through this fd */
static int eventlog_open(const char *path)
{
	int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	return fd < 0 ? -errno : fd;
}

static int eventlog_vappend(const char *path, const char *fmt, va_list ap)
{
	char line[1024];
	size_t len = eventlog_format(line, sizeof(line), fmt, ap);
	int fd = eventlog_open(path), r;

	if (fd < 0)
		return fd;
	r = eventlog_write_fd(fd, path, line, len, true);
	close(fd);
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

/*
 * Set once by main before any thread starts, like log.c's state.  The
 * file is opened then and held: the VMM appends through this fd, also
 * after its seccomp filter forbids opening files.
 */
static const char *event_path;
static int event_fd = -1;
static bool event_warned, event_no_rotate;

void event_log_set_path(const char *path)
{
	if (event_fd >= 0)
		close(event_fd);
	event_path = path;
	event_fd = path ? eventlog_open(path) : -1;
	if (path && event_fd < 0)
		log_warn("event log %s: %s", path, strerror(-event_fd));
}

const char *event_log_path(void)
{
	return event_path;
}

void event_log_lockdown(void)
{
	event_no_rotate = true;
}

void event_log(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	size_t len;
	int r;

	if (event_fd < 0)
		return;
	va_start(ap, fmt);
	len = eventlog_format(line, sizeof(line), fmt, ap);
	va_end(ap);
	r = eventlog_write_fd(event_fd, event_path, line, len,
			      !__atomic_load_n(&event_no_rotate, __ATOMIC_RELAXED));
	if (r && !__atomic_exchange_n(&event_warned, true, __ATOMIC_RELAXED))
		log_warn("event log %s: %s (further failures not shown)", event_path, strerror(-r));
}
