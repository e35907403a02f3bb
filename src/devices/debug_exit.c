// SPDX-License-Identifier: MIT
/*
 * isa-debug-exit compatible port: QEMU's hw/misc/debugexit.c behaviour,
 * written from its documented semantics (exit status (value << 1) | 1).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "devices/debug_exit.h"
#include "util/log.h"

struct debug_exit {
	pthread_mutex_t lock;
	debug_exit_fn fn;
	void *opaque;
	uint64_t writes;
	int last_status;
	struct ratelimit rl;
};

static void debug_exit_read(void *opaque, uint64_t offset, void *data, unsigned int len)
{
	memset(data, 0xff, len);
}

static void debug_exit_write(void *opaque, uint64_t offset, const void *data, unsigned int len)
{
	struct debug_exit *d = opaque;
	const uint8_t *p = data;
	uint32_t v = 0;
	int status;

	pthread_mutex_lock(&d->lock);
	if (offset != 0 || (len != 1 && len != 2 && len != 4)) {
		log_guest_err(&d->rl, "debug-exit: ignored %u-byte write at offset %u", len,
			      (unsigned int)offset);
		pthread_mutex_unlock(&d->lock);
		return;
	}
	for (unsigned int i = 0; i < len; i++)
		v |= (uint32_t)p[i] << (8 * i);
	/* As QEMU computes it; the shell sees the low 8 bits. */
	status = (int)((v << 1) | 1);
	d->writes++;
	d->last_status = status;
	pthread_mutex_unlock(&d->lock);
	if (d->fn)
		d->fn(d->opaque, status);
}

const struct bus_ops debug_exit_bus_ops = {
	.read = debug_exit_read,
	.write = debug_exit_write,
};

int debug_exit_new(debug_exit_fn fn, void *opaque, struct debug_exit **out)
{
	struct debug_exit *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	pthread_mutex_init(&d->lock, NULL);
	d->fn = fn;
	d->opaque = opaque;
	d->rl = (struct ratelimit)RATELIMIT_INIT;
	*out = d;
	return 0;
}

void debug_exit_free(struct debug_exit *d)
{
	if (!d)
		return;
	pthread_mutex_destroy(&d->lock);
	free(d);
}

/* --- save/restore --- */

#define DEBUG_EXIT_STATE_TAG STREAM_TAG('D', 'B', 'G', 'X')
#define DEBUG_EXIT_STATE_VERSION 1

/* Nothing the guest can see: the port reads all ones, a write only exits. */
int debug_exit_save(struct debug_exit *d, struct stream *s, struct error *err)
{
	struct stream_section sec;

	(void)d;
	stream_section_begin(s, &sec, DEBUG_EXIT_STATE_TAG, DEBUG_EXIT_STATE_VERSION);
	stream_section_end(s, &sec);
	if (stream_error(s))
		return error_setf(err, stream_error(s), "debug-exit state: %s", error_msg(&s->err));
	return 0;
}

int debug_exit_load(struct debug_exit *d, struct stream *s, struct error *err)
{
	struct stream_section sec;
	uint32_t ver;

	(void)d;
	ver = stream_section_open(s, &sec, DEBUG_EXIT_STATE_TAG);
	if (ver && ver != DEBUG_EXIT_STATE_VERSION)
		stream_fail(s, -EPROTO, "debug-exit state version %u is not supported", ver);
	if (stream_error(s))
		return error_setf(err, stream_error(s), "%s", error_msg(&s->err));
	stream_section_close(s, &sec);
	if (stream_error(s))
		return error_setf(err, stream_error(s), "%s", error_msg(&s->err));
	return 0;
}

void debug_exit_get_stats(struct debug_exit *d, uint64_t *writes, int *last_status)
{
	pthread_mutex_lock(&d->lock);
	*writes = d->writes;
	*last_status = d->last_status;
	pthread_mutex_unlock(&d->lock);
}
