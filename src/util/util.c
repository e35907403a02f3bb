// SPDX-License-Identifier: MIT
#include "util/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || *s == '-' || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end)
		return -EINVAL;
	if (v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int parse_handed_fd(const char *s)
{
	uint64_t n;

	if (strncmp(s, "fd:", 3) || !isdigit((unsigned char)s[3]) ||
	    parse_u64(s + 3, INT32_MAX, &n))
		return -1;
	return (int)n;
}

#define HANDED_FDS_MAX 1024
static uint64_t handed_fds[HANDED_FDS_MAX / 64];
static bool handed_fds_recorded;

void handed_fds_record(void)
{
	for (int fd = 3; fd < HANDED_FDS_MAX; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			handed_fds[fd / 64] |= 1ull << (fd % 64);
	handed_fds_recorded = true;
}

int handed_fd_check(int fd)
{
	/* fd:N names one the caller handed us, never one this process opened */
	if (handed_fds_recorded)
		return fd >= 3 && fd < HANDED_FDS_MAX && (handed_fds[fd / 64] >> (fd % 64)) & 1
			       ? 0
			       : -EBADF;
	return fcntl(fd, F_GETFD) < 0 ? -EBADF : 0;
}

int parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!s || !*s || *s == '-' || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K':
		shift = 10;
		break;
	case 'm': case 'M':
		shift = 20;
		break;
	case 'g': case 'G':
		shift = 30;
		break;
	case 't': case 'T':
		shift = 40;
		break;
	default:
		return -EINVAL;
	}
	if (*end) {
		end++;
		/* Accept "512M", "512MB", "512MiB". */
		if (*end == 'i')
			end++;
		if (*end == 'B' || *end == 'b')
			end++;
		if (*end)
			return -EINVAL;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

int parse_cpulist(const char *s, uint64_t *bitmap, unsigned int nbits)
{
	const char *p = s;

	memset(bitmap, 0, ((nbits + 63) / 64) * sizeof(uint64_t));
	if (!s || !*s)
		return -EINVAL;
	while (*p) {
		unsigned long a, b;
		char *end;

		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		a = strtoul(p, &end, 10);
		b = a;
		p = end;
		if (*p == '-') {
			p++;
			if (!isdigit((unsigned char)*p))
				return -EINVAL;
			b = strtoul(p, &end, 10);
			p = end;
		}
		if (a > b || b >= nbits)
			return -ERANGE;
		for (unsigned long i = a; i <= b; i++)
			bitmap[i / 64] |= 1ull << (i % 64);
		if (*p == ',')
			p++;
		else if (*p)
			return -EINVAL;
	}
	return 0;
}

void format_size(uint64_t bytes, char *buf, size_t len)
{
	static const char units[] = "BKMGTP";
	unsigned int u = 0;
	uint64_t whole = bytes;

	while (whole >= 1024 && u < sizeof(units) - 2) {
		whole /= 1024;
		u++;
	}
	if (u == 0) {
		snprintf(buf, len, "%llu", (unsigned long long)bytes);
	} else if (bytes % (1ull << (10 * u)) == 0) {
		snprintf(buf, len, "%llu%c", (unsigned long long)whole, units[u]);
	} else {
		double d = (double)bytes / (double)(1ull << (10 * u));
		snprintf(buf, len, "%.1f%c", d, units[u]);
	}
}

int read_full(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int pread_full(int fd, void *buf, size_t len, off_t off)
{
	char *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

int pwrite_full(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

int read_file(const char *path, char **out, size_t *len)
{
	size_t cap = 4096, used = 0;
	char *buf;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc(cap);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t n;

		if (used + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);

			if (!nb) {
				free(buf);
				close(fd);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + used, cap - used - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = -errno;

			free(buf);
			close(fd);
			return err;
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	close(fd);
	buf[used] = '\0';
	*out = buf;
	if (len)
		*len = used;
	return 0;
}

int read_sysfs_u64(const char *path, uint64_t *out)
{
	char *buf, *end;
	int ret;

	ret = read_file(path, &buf, NULL);
	if (ret)
		return ret;
	errno = 0;
	*out = strtoull(buf, &end, 10);
	ret = (errno || end == buf) ? -EINVAL : 0;
	free(buf);
	return ret;
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int utf8_char(const unsigned char *p, uint32_t *cp)
{
	uint32_t c, min;
	int n;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if ((p[0] & 0xe0) == 0xc0) {
		n = 2, c = p[0] & 0x1f, min = 0x80;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 3, c = p[0] & 0x0f, min = 0x800;
	} else if ((p[0] & 0xf8) == 0xf0) {
		n = 4, c = p[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	for (int i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80) /* also stops at the NUL */
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	/* Overlong forms, UTF-16 surrogates and beyond U+10FFFF are not UTF-8. */
	if (c < min || (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		return 0;
	*cp = c;
	return n;
}

char *str_escape(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out = malloc(strlen(s) * 4 + 1), *o = out;

	if (!out)
		return NULL;
	while (*p) {
		uint32_t cp;
		int n = utf8_char(p, &cp);

		if (n == 1 && cp >= 0x20 && cp < 0x7f && cp != '\\') {
			*o++ = (char)*p++;
		} else if (n == 1 && cp == '\\') {
			*o++ = '\\';
			*o++ = '\\';
			p++;
		} else if (n > 1 && cp >= 0xa0) {
			memcpy(o, p, (size_t)n);
			o += n;
			p += n;
		} else {
			/* Controls, DEL, C1 controls (U+0080..U+009F), bytes that are not UTF-8. */
			o += sprintf(o, "\\x%02x", *p++);
		}
	}
	*o = '\0';
	return out;
}
