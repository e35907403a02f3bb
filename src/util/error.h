/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_UTIL_ERROR_H
#define VESSEL_UTIL_ERROR_H

#include <stdbool.h>

/*
 * One error type for every function reachable from the CLI, the API, a
 * configuration or a state stream (docs/architecture.md, "One error
 * path").  The rules follow QEMU's `Error **errp` discipline:
 *
 *  - a function that can fail takes `struct error *err` last and returns
 *    0 or -errno; on failure it fills *err exactly once, with the same
 *    code it returns;
 *  - err may be NULL: the caller does not want the message;
 *  - the first error wins: a setter does nothing when *err is already set,
 *    so a callee's precise message is not overwritten by a vaguer caller;
 *    callers add context with error_prefix();
 *  - nothing below cli/ and api/ prints an error it returns: only those
 *    boundaries turn it into one line on stderr or an HTTP body.
 */
#define ERROR_MSG_MAX 256

struct error {
	int code;			/* negative errno; 0 while unset */
	char msg[ERROR_MSG_MAX];	/* one line, no trailing newline */
};

#define ERROR_INIT { 0, "" }

/* Set *err (if err is non-NULL and not already set); returns code (< 0). */
int error_setf(struct error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* error_setf with ": strerror(-code)" appended. */
int error_set_errno(struct error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prepend "context: " to a set error; returns its code (0 if unset). */
int error_prefix(struct error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline bool error_is_set(const struct error *err)
{
	return err && err->code != 0;
}
void error_clear(struct error *err);
/* The message, or strerror(-code) when none was given. */
const char *error_msg(const struct error *err);
/* Move src into dst (if dst is set, src is dropped); clears src. */
void error_propagate(struct error *dst, struct error *src);

#endif
