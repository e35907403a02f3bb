// SPDX-License-Identifier: MIT
/*
 * Logging to stderr.  Lines are written with one write(2) so that messages
 * from vCPU threads and the event loop do not interleave mid-line.
 */
#include "util/log.h"
#include "util/util.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct log_state {
	enum log_level level;
	const char *tag;
};

/* The only process-wide state: set once by main before threads start. */
static struct log_state log_state = { .level = LOG_WARN };

static const char *const level_names[] = { "error", "warning", "info", "debug" };

void log_set_level(enum log_level level)
{
	log_state.level = level;
}

enum log_level log_get_level(void)
{
	return log_state.level;
}

void log_set_tag(const char *tag)
{
	log_state.tag = tag;
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char buf[1024];
	int n, m;

	if (level > log_state.level)
		return;
	if (log_state.tag)
		n = snprintf(buf, sizeof(buf), "vessel[%s]: %s: ", log_state.tag,
			     level_names[level]);
	else
		n = snprintf(buf, sizeof(buf), "vessel: %s: ", level_names[level]);
	if (n < 0)
		return;
	m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	/* Terminals in raw mode need \r\n; plain files are fine with it too. */
	if (buf[n - 1] != '\n')
		buf[n++] = '\n';
	(void)write_full(STDERR_FILENO, buf, (size_t)n);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

bool ratelimit_allow(struct ratelimit *rl)
{
	uint64_t now = now_ns();
	uint64_t interval = (uint64_t)(rl->interval_ms ? rl->interval_ms : 5000) * 1000000ull;
	uint32_t burst = rl->burst ? rl->burst : 5;

	__atomic_add_fetch(&rl->events, 1, __ATOMIC_RELAXED);
	if (now - rl->window_start_ns > interval) {
		if (rl->suppressed)
			log_warn("%llu similar messages suppressed",
				 (unsigned long long)rl->suppressed);
		rl->window_start_ns = now;
		rl->printed = 0;
		rl->suppressed = 0;
	}
	if (rl->printed < burst) {
		rl->printed++;
		return true;
	}
	rl->suppressed++;
	return false;
}
