/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_UTIL_STREAM_H
#define VESSEL_UTIL_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/*
 * A bounded byte stream for component state (save/load in
 * util/component.h; the snapshot and migration formats are built on it).
 *
 * A writer appends to a buffer that grows up to `max` bytes; a reader
 * consumes a buffer it does not own.  Every access is bounds-checked:
 * the first failure is sticky (s->err), later puts and gets do nothing
 * and gets return zeroes, so a load function can read its fields in a
 * row and check once at the end.  Integers are little-endian.
 *
 * Sections frame one component's state: stream_section_begin() writes
 * {tag, version, length} with the length patched by _end(); a reader's
 * stream_section_open() checks the tag, returns the version and limits
 * the reader to the section, and stream_section_close() checks that the
 * section was consumed exactly and moves past it.
 */
struct stream {
	uint8_t *buf;
	size_t len;		/* bytes written / readable */
	size_t pos;		/* read position */
	size_t cap;		/* allocated (writer) */
	size_t max;		/* writer: the bound on len */
	size_t limit;		/* reader: end of the open section */
	int writer;
	struct error err;
};

struct stream_section {
	size_t start;		/* offset of the length field (writer) or of the body end (reader) */
	size_t outer_limit;
};

void stream_init_writer(struct stream *s, size_t max);
void stream_init_reader(struct stream *s, const void *buf, size_t len);
/* Release a writer's buffer. */
void stream_free(struct stream *s);
/* 0 or the sticky -errno; the message is in s->err. */
static inline int stream_error(const struct stream *s)
{
	return s->err.code;
}
/* Fail the stream with a message (a load that finds a bad value). */
int stream_fail(struct stream *s, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

void stream_put_bytes(struct stream *s, const void *p, size_t n);
void stream_put_u8(struct stream *s, uint8_t v);
void stream_put_u16(struct stream *s, uint16_t v);
void stream_put_u32(struct stream *s, uint32_t v);
void stream_put_u64(struct stream *s, uint64_t v);

void stream_get_bytes(struct stream *s, void *p, size_t n);
uint8_t stream_get_u8(struct stream *s);
uint16_t stream_get_u16(struct stream *s);
uint32_t stream_get_u32(struct stream *s);
uint64_t stream_get_u64(struct stream *s);
/* Bytes left before the end of the stream or of the open section. */
size_t stream_remaining(const struct stream *s);

void stream_section_begin(struct stream *s, struct stream_section *sec, uint32_t tag,
			  uint32_t version);
void stream_section_end(struct stream *s, struct stream_section *sec);
/* Returns the section's version, or 0 with the stream failed. */
uint32_t stream_section_open(struct stream *s, struct stream_section *sec, uint32_t tag);
void stream_section_close(struct stream *s, struct stream_section *sec);

#define STREAM_TAG(a, b, c, d) \
	((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)

#endif
