/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_UTIL_LOG_H
#define VESSEL_UTIL_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_ERR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Prefix every line with this tag (the VM name), or NULL for none. */
void log_set_tag(const char *tag);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap);

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/*
 * Rate limiting for messages a guest can trigger at will (docs/security.md):
 * at most `burst` messages per `interval_ms`, then one summary line with
 * the number suppressed.  Every event is still counted in `events`.
 */
struct ratelimit {
	uint64_t window_start_ns;
	uint32_t interval_ms;
	uint32_t burst;
	uint32_t printed;
	uint64_t suppressed;
	uint64_t events;
};

#define RATELIMIT_INIT { .interval_ms = 5000, .burst = 5 }

bool ratelimit_allow(struct ratelimit *rl);

/* Log a guest-caused error: counted always, printed rate-limited. */
#define log_guest_err(rl, ...)                                                                     \
	do {                                                                                       \
		if (ratelimit_allow(rl))                                                           \
			log_msg(LOG_WARN, __VA_ARGS__);                                            \
	} while (0)

#endif
