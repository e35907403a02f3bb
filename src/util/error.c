// SPDX-License-Identifier: MIT
/*
 * The error type shared by every boundary (util/error.h).  Messages are
 * formatted into a fixed buffer: an error path never allocates, so it
 * works when memory is what ran out.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"

static void error_vset(struct error *err, int code, const char *fmt, va_list ap)
{
	if (code >= 0)
		code = -EINVAL;	/* a caller bug; still report an error */
	err->code = code;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int error_setf(struct error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (code >= 0)
		code = -EINVAL;
	if (!err || err->code)
		return code;
	va_start(ap, fmt);
	error_vset(err, code, fmt, ap);
	va_end(ap);
	return code;
}

int error_set_errno(struct error *err, int code, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (code >= 0)
		code = -EINVAL;
	if (!err || err->code)
		return code;
	va_start(ap, fmt);
	error_vset(err, code, fmt, ap);
	va_end(ap);
	n = strlen(err->msg);
	snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(-code));
	return code;
}

int error_prefix(struct error *err, const char *fmt, ...)
{
	char old[ERROR_MSG_MAX];
	va_list ap;
	size_t n;

	if (!err || !err->code)
		return 0;
	memcpy(old, err->msg, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	n = strlen(err->msg);
	snprintf(err->msg + n, sizeof(err->msg) - n, ": %s",
		 old[0] ? old : strerror(-err->code));
	return err->code;
}

void error_clear(struct error *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}

const char *error_msg(const struct error *err)
{
	if (!err || !err->code)
		return "no error";
	return err->msg[0] ? err->msg : strerror(-err->code);
}

void error_propagate(struct error *dst, struct error *src)
{
	if (!src)
		return;
	if (dst && !dst->code && src->code)
		*dst = *src;
	error_clear(src);
}
