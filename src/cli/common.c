// SPDX-License-Identifier: MIT
/* Helpers shared by every command group. */
#include "cli/cli.h"

#include <stdarg.h>
#include <stdio.h>

#include "util/log.h"

int cli_vsay(const char *prefix, int status, const char *fmt, va_list ap)
{
	fflush(stdout); /* what a command printed comes first */
	fputs(prefix, stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	return status;
}

int cli_error(const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = cli_vsay("vessel: ", 1, fmt, ap);
	va_end(ap);
	return r;
}

int cli_usage(const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = cli_vsay("vessel: usage: ", 2, fmt, ap);
	va_end(ap);
	return r;
}

int cli_misuse(const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = cli_vsay("vessel: ", 2, fmt, ap);
	va_end(ap);
	return r;
}

void cli_note(const char *fmt, ...)
{
	va_list ap;

	if (log_get_level() < LOG_WARN)
		return; /* vessel -q */
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}
