// SPDX-License-Identifier: MIT
/* Helpers shared by every command group. */
#include "cli/cli.h"

#include <stdarg.h>
#include <stdio.h>

#include "util/log.h"

int cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("vessel: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

int cli_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("vessel: usage: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 2;
}

int cli_misuse(const char *fmt, ...)
{
	va_list ap;

	fputs("vessel: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 2;
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
