// SPDX-License-Identifier: MIT
/*
 * Bounded state streams (util/stream.h).  All lengths come from a file
 * or a socket on the read side, so every get checks against the end of
 * the open section before it copies.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/stream.h"

void stream_init_writer(struct stream *s, size_t max)
{
	memset(s, 0, sizeof(*s));
	s->writer = 1;
	s->max = max;
}

void stream_init_reader(struct stream *s, const void *buf, size_t len)
{
	memset(s, 0, sizeof(*s));
	s->buf = (uint8_t *)buf;
	s->len = len;
	s->limit = len;
}

void stream_free(struct stream *s)
{
	if (s->writer)
		free(s->buf);
	s->buf = NULL;
	s->len = s->cap = 0;
}

int stream_fail(struct stream *s, int code, const char *fmt, ...)
{
	va_list ap;

	if (code >= 0)
		code = -EINVAL;
	if (s->err.code)
		return s->err.code;
	s->err.code = code;
	va_start(ap, fmt);
	vsnprintf(s->err.msg, sizeof(s->err.msg), fmt, ap);
	va_end(ap);
	return code;
}

static int stream_reserve(struct stream *s, size_t n)
{
	size_t want, cap;
	uint8_t *p;

	if (s->err.code)
		return s->err.code;
	if (!s->writer)
		return stream_fail(s, -EBADF, "stream is not open for writing");
	if (n > s->max || s->len > s->max - n)
		return stream_fail(s, -EFBIG, "state is larger than %zu bytes", s->max);
	want = s->len + n;
	if (want <= s->cap)
		return 0;
	cap = s->cap ? s->cap : 4096;
	while (cap < want)
		cap = cap > s->max / 2 ? s->max : cap * 2;
	p = realloc(s->buf, cap);
	if (!p)
		return stream_fail(s, -ENOMEM, "out of memory for %zu bytes of state", cap);
	s->buf = p;
	s->cap = cap;
	return 0;
}

void stream_put_bytes(struct stream *s, const void *p, size_t n)
{
	if (stream_reserve(s, n))
		return;
	if (n)
		memcpy(s->buf + s->len, p, n);
	s->len += n;
}

#define STREAM_PUT(bits)                                                   \
	void stream_put_u##bits(struct stream *s, uint##bits##_t v)        \
	{                                                                  \
		uint8_t b[bits / 8];                                       \
		for (unsigned int i = 0; i < sizeof(b); i++)               \
			b[i] = (uint8_t)(v >> (8 * i));                    \
		stream_put_bytes(s, b, sizeof(b));                         \
	}
STREAM_PUT(16)
STREAM_PUT(32)
STREAM_PUT(64)

void stream_put_u8(struct stream *s, uint8_t v)
{
	stream_put_bytes(s, &v, 1);
}

size_t stream_remaining(const struct stream *s)
{
	if (s->writer)
		return s->max - s->len;
	return s->pos < s->limit ? s->limit - s->pos : 0;
}

void stream_get_bytes(struct stream *s, void *p, size_t n)
{
	if (!s->err.code && s->writer)
		stream_fail(s, -EBADF, "stream is not open for reading");
	if (!s->err.code && n > stream_remaining(s))
		stream_fail(s, -EPROTO, "state is truncated: %zu bytes wanted at offset %zu, "
			    "%zu left", n, s->pos, stream_remaining(s));
	if (s->err.code) {
		memset(p, 0, n);
		return;
	}
	memcpy(p, s->buf + s->pos, n);
	s->pos += n;
}

#define STREAM_GET(bits)                                                   \
	uint##bits##_t stream_get_u##bits(struct stream *s)                \
	{                                                                  \
		uint8_t b[bits / 8];                                       \
		uint##bits##_t v = 0;                                      \
		stream_get_bytes(s, b, sizeof(b));                         \
		for (unsigned int i = 0; i < sizeof(b); i++)               \
			v |= (uint##bits##_t)b[i] << (8 * i);              \
		return v;                                                  \
	}
STREAM_GET(16)
STREAM_GET(32)
STREAM_GET(64)

uint8_t stream_get_u8(struct stream *s)
{
	uint8_t v;

	stream_get_bytes(s, &v, 1);
	return v;
}

void stream_section_begin(struct stream *s, struct stream_section *sec, uint32_t tag,
			  uint32_t version)
{
	stream_put_u32(s, tag);
	stream_put_u32(s, version);
	sec->start = s->len;
	sec->outer_limit = 0;
	stream_put_u32(s, 0);	/* the body length, patched by _end() */
}

void stream_section_end(struct stream *s, struct stream_section *sec)
{
	size_t body;

	if (s->err.code)
		return;
	body = s->len - sec->start - 4;
	if (body > UINT32_MAX) {
		stream_fail(s, -EFBIG, "a state section is larger than 4 GiB");
		return;
	}
	for (unsigned int i = 0; i < 4; i++)
		s->buf[sec->start + i] = (uint8_t)(body >> (8 * i));
}

uint32_t stream_section_open(struct stream *s, struct stream_section *sec, uint32_t tag)
{
	uint32_t got = stream_get_u32(s), version = stream_get_u32(s), len = stream_get_u32(s);

	if (s->err.code)
		return 0;
	if (got != tag) {
		stream_fail(s, -EPROTO, "state section %.4s where %.4s was expected",
			    (const char *)&got, (const char *)&tag);
		return 0;
	}
	if (len > stream_remaining(s)) {
		stream_fail(s, -EPROTO, "state section %.4s claims %u bytes, %zu are left",
			    (const char *)&tag, len, stream_remaining(s));
		return 0;
	}
	if (version == 0) {
		stream_fail(s, -EPROTO, "state section %.4s has version 0", (const char *)&tag);
		return 0;
	}
	sec->outer_limit = s->limit;
	sec->start = s->pos + len;
	s->limit = sec->start;
	return version;
}

void stream_section_close(struct stream *s, struct stream_section *sec)
{
	if (s->err.code)
		return;
	if (s->pos != sec->start) {
		stream_fail(s, -EPROTO, "state section has %zu bytes the loader did not read",
			    sec->start - s->pos);
		return;
	}
	s->limit = sec->outer_limit;
}
