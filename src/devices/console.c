// SPDX-License-Identifier: MIT
/*
 * The serial console: the UART (COM1) on a character backend
 * (chardev/chardev.h).  This file is the frontend part only: the Ctrl-A
 * escape on a raw terminal and the input backlog the UART's 16-byte FIFO
 * is fed from.  Input is served on the VM's event loop; output is written
 * by the UART on the vCPU thread that wrote THR (see uart8250.c for the
 * no-blocking rule), through the backend's fd or, for a socket, the
 * backend's replay ring.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus/host.h"
#include "chardev/chardev.h"
#include "devices/console.h"
#include "devices/uart8250.h"
#include "util/component.h"
#include "util/error.h"
#include "util/evloop.h"
#include "util/log.h"
#include "util/util.h"

#define CONSOLE_PENDING_SIZE (64 * 1024)
#define CONSOLE_READ_CHUNK 4096
#define CONSOLE_ESCAPE 0x01 /* Ctrl-A */

struct console {
	const struct dev_host *host;
	struct uart8250 *uart;
	struct chardev *cd;
	bool escapes; /* Ctrl-A commands (stdio on a terminal) */
	bool got_escape;

	/* Input read from the host that the UART has not accepted yet. */
	uint8_t *pending;
	size_t pend_off, pend_len;

	uint64_t in_bytes, in_dropped, help_dropped;
};

void console_restore_terminal(void)
{
	chardev_restore_terminal();
}

/* Feed held-back input to the UART; true if everything went in. */
static bool console_flush_pending(struct console *c)
{
	size_t n;

	if (c->pend_len) {
		n = uart8250_receive(c->uart, c->pending + c->pend_off, c->pend_len);
		c->pend_off += n;
		c->pend_len -= n;
	}
	if (!c->pend_len)
		c->pend_off = 0;
	return c->pend_len == 0;
}

static size_t console_pending_room(struct console *c)
{
	if (c->pend_off && c->pend_len)
		memmove(c->pending, c->pending + c->pend_off, c->pend_len);
	c->pend_off = 0;
	return CONSOLE_PENDING_SIZE - c->pend_len;
}

static void console_queue(struct console *c, uint8_t b)
{
	if (console_pending_room(c) == 0) {
		c->in_dropped++;
		return;
	}
	c->pending[c->pend_len++] = b;
	c->in_bytes++;
}

static void console_print_help(struct console *c)
{
	static const char help[] = "\r\n"
				   "C-a h    print this help\r\n"
				   "C-a x    exit vessel (stops the VM)\r\n"
				   "C-a C-a  send C-a to the guest\r\n";

	if (write_full(STDOUT_FILENO, help, sizeof(help) - 1) < 0)
		c->help_dropped++;
}

/* Runs on the loop thread when the guest has drained its RX FIFO. */
static void console_drain_call(void *opaque)
{
	struct console *c = opaque;

	if (console_flush_pending(c) || c->escapes)
		chardev_input_poll(c->cd, true);
}

/* rx_ready from the UART, on a vCPU thread: hop to the loop. */
static void console_rx_ready(void *opaque)
{
	struct console *c = opaque;

	if (evloop_call(c->host->loop, console_drain_call, c) < 0)
		log_warn("console: cannot schedule input");
}

/* Returns false when input must stop (Ctrl-A x). */
static bool console_escape(struct console *c, uint8_t b)
{
	c->got_escape = false;
	switch (b) {
	case 'x':
	case 'X':
		chardev_input_close(c->cd);
		chardev_restore_terminal();
		dev_host_request(c->host, DEV_HOST_QUIT);
		return false;
	case 'h':
	case 'H':
	case '?':
		console_print_help(c);
		break;
	case CONSOLE_ESCAPE:
		console_queue(c, b);
		break;
	default:
		/* Not a command: pass both through. */
		console_queue(c, CONSOLE_ESCAPE);
		console_queue(c, b);
		break;
	}
	return true;
}

/* The backend has input, on the loop thread. */
static void console_readable(void *opaque)
{
	struct console *c = opaque;
	uint8_t buf[CONSOLE_READ_CHUNK];
	size_t want = sizeof(buf);
	ssize_t n;

	if (!c->escapes) {
		/* Without escapes, stop reading when the backlog is full: the
		 * writer (pipe, pty, socket peer) then waits for the guest. */
		want = MIN(want, console_pending_room(c));
		if (!want) {
			chardev_input_poll(c->cd, false);
			return;
		}
	}
	n = chardev_read(c->cd, buf, want);
	for (ssize_t i = 0; i < n; i++) {
		uint8_t b = buf[i];

		if (!c->escapes) {
			console_queue(c, b);
		} else if (c->got_escape) {
			if (!console_escape(c, b))
				return;
		} else if (b == CONSOLE_ESCAPE) {
			c->got_escape = true;
		} else {
			console_queue(c, b);
		}
	}
	console_flush_pending(c);
}

/* tx hook (socket backend): called by the UART with its lock held, on a vCPU. */
static void console_socket_tx(void *opaque, const uint8_t *buf, size_t len)
{
	struct console *c = opaque;

	chardev_write(c->cd, buf, len);
}

/*
 * Teardown runs after the vCPUs are gone, so the UART no longer calls
 * into us; the UART itself may already be freed and is not touched.
 */
static void console_free(struct console *c)
{
	chardev_close(c->cd);
	free(c->pending);
	free(c);
}

static void console_destroy_op(void *opaque)
{
	console_free(opaque);
}

static void console_stats_op(void *opaque, struct json_object *obj)
{
	struct console *c = opaque;
	struct chardev_stats st;

	/* Runs on the loop thread, like the input path. */
	chardev_get_stats(c->cd, &st);
	json_object_object_add(obj, "in_bytes", json_object_new_int64((int64_t)c->in_bytes));
	json_object_object_add(obj, "in_dropped", json_object_new_int64((int64_t)c->in_dropped));
	json_object_object_add(obj, "out_dropped",
			       json_object_new_int64((int64_t)(st.out_dropped + c->help_dropped)));
	if (chardev_mode(c->cd) == CHARDEV_SOCKET)
		json_object_object_add(obj, "clients", json_object_new_int64((int64_t)st.clients));
}

/*
 * The console's only state is host input the UART has not taken yet
 * (the UART's FIFO is the UART's record): it goes with the VM, so what
 * the user typed just before a save reaches the guest after a restore.
 */
#define CONSOLE_STATE_TAG STREAM_TAG('C', 'O', 'N', 'S')
#define CONSOLE_STATE_VERSION 1

static int console_save_op(void *opaque, struct stream *s, struct error *err)
{
	struct console *c = opaque;
	struct stream_section sec;

	(void)err;
	stream_section_begin(s, &sec, CONSOLE_STATE_TAG, CONSOLE_STATE_VERSION);
	stream_put_u32(s, (uint32_t)c->pend_len);
	stream_put_bytes(s, c->pending + c->pend_off, c->pend_len);
	stream_section_end(s, &sec);
	return 0;
}

static int console_load_op(void *opaque, struct stream *s, struct error *err)
{
	struct console *c = opaque;
	struct stream_section sec;
	uint32_t ver, len;

	(void)err;
	ver = stream_section_open(s, &sec, CONSOLE_STATE_TAG);
	if (ver && ver != CONSOLE_STATE_VERSION)
		return stream_fail(s, -EPROTO, "console state version %u is not supported", ver);
	len = stream_get_u32(s);
	if (!stream_error(s) && len > CONSOLE_PENDING_SIZE)
		return stream_fail(s, -EINVAL, "%u bytes of console input, at most %u", len,
				   CONSOLE_PENDING_SIZE);
	if (!stream_error(s))
		stream_get_bytes(s, c->pending, len);
	stream_section_close(s, &sec);
	if (stream_error(s))
		return stream_error(s);
	c->pend_off = 0;
	c->pend_len = len;
	return 0;
}

static const struct component_ops console_ops = {
	.save = console_save_op,
	.load = console_load_op,
	.stats = console_stats_op,
	.destroy = console_destroy_op,
};

int console_attach(const struct dev_host *host, struct uart8250 *u, const struct chardev_spec *spec,
		   struct error *err)
{
	const struct chardev_opts o = {
		.name = "console",
		.flags = CHARDEV_REPLAY,
		.readable = console_readable,
	};
	struct chardev_opts opts = o;
	struct console *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return error_setf(err, -ENOMEM, "console: out of memory");
	c->host = host;
	c->uart = u;
	c->pending = malloc(CONSOLE_PENDING_SIZE);
	if (!c->pending) {
		free(c);
		return error_setf(err, -ENOMEM, "console: out of memory");
	}
	opts.opaque = c;
	r = chardev_open(spec, &opts, host->loop, &c->cd, err);
	if (r) {
		console_free(c);
		return r;
	}
	c->escapes = chardev_escapes(c->cd);
	if (chardev_mode(c->cd) == CHARDEV_SOCKET)
		uart8250_set_tx_hook(u, console_socket_tx, c);
	uart8250_set_rx_ready(u, console_rx_ready, c);
	uart8250_set_output_fd(u, chardev_output_fd(c->cd));
	chardev_input_poll(c->cd, true);
	r = components_add(host->components, CONSOLE_COMPONENT_ID, &console_ops, c, err);
	if (r) {
		uart8250_set_rx_ready(u, NULL, NULL);
		uart8250_set_output_fd(u, -1);
		uart8250_set_tx_hook(u, NULL, NULL);
		console_free(c);
		return r;
	}
	return 0;
}

const char *console_get_path(struct components *components)
{
	struct console *c = components_find(components, CONSOLE_COMPONENT_ID);

	return c ? chardev_path(c->cd) : NULL;
}
