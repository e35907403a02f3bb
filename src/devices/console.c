// SPDX-License-Identifier: MIT
/*
 * Console backends for the serial port: stdio (raw terminal with a Ctrl-A
 * escape), pty, file, Unix socket with an output history, none.  All input
 * is served on the VM's event loop; output is written by the UART on the
 * vCPU thread that wrote THR (see uart8250.c for the no-blocking rule).
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "devices/console.h"
#include "devices/uart8250.h"
#include "util/listen.h"
#include "util/log.h"
#include "util/util.h"
#include "vm/vm.h"

#define CONSOLE_PENDING_SIZE (64 * 1024)
#define CONSOLE_RING_SIZE (64 * 1024)
#define CONSOLE_READ_CHUNK 4096
#define CONSOLE_ESCAPE 0x01 /* Ctrl-A */

struct console {
	struct vm *vm;
	struct uart8250 *uart;
	enum vm_console_mode mode;
	char *path; /* pty or socket path */

	int in_fd;	 /* stdin, pty master or socket client; -1: none */
	bool in_on_loop; /* in_fd is registered with the event loop */
	bool in_closed;	 /* EOF or error: never read again */
	bool escapes;	 /* Ctrl-A commands (stdio on a terminal) */
	bool got_escape;

	int out_fd; /* handed to the UART; closed on destroy if owned */
	bool own_out;
	int pty_slave; /* kept open so the master never sees a hangup */
	int listen_fd;

	/* Input read from the host that the UART has not accepted yet. */
	uint8_t *pending;
	size_t pend_off, pend_len;

	/* SOCKET: the client and the output history, shared with vCPUs. */
	pthread_mutex_t lock;
	int client_fd;
	uint8_t *ring;
	size_t ring_pos;
	bool ring_wrapped;

	uint64_t in_bytes, in_dropped, out_dropped, clients;
};

/*
 * The terminal state to restore.  This is file-scope mutable state on
 * purpose: atexit() handlers and fatal-signal handlers get no context
 * pointer, and only one terminal (vessel's stdin) is ever put in raw mode.
 * It is written once, before raw mode is entered, and only read after.
 */
static struct termios term_saved;
static int term_fd = -1;
static volatile sig_atomic_t term_saved_valid;

void console_restore_terminal(void)
{
	/* tcsetattr() is async-signal-safe (POSIX.1-2008, signal-safety(7)). */
	if (term_saved_valid)
		tcsetattr(term_fd, TCSANOW, &term_saved);
}

static void console_atexit(void)
{
	console_restore_terminal();
}

static void console_fatal_signal(int sig)
{
	/* SA_RESETHAND put the default action back: restore, then die by it. */
	console_restore_terminal();
	raise(sig);
}

/* Restore the terminal on crashes too, unless someone (the VMM core, a
 * sanitizer) already handles these signals and calls us itself. */
static void console_install_crash_handlers(void)
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = console_fatal_signal;
	sa.sa_flags = SA_RESETHAND | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++) {
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
		    !(old.sa_flags & SA_SIGINFO))
			sigaction(sigs[i], &sa, NULL);
	}
}

static int console_make_raw(int fd)
{
	static bool atexit_done;
	struct termios t;

	if (tcgetattr(fd, &term_saved) < 0)
		return -errno;
	term_fd = fd;
	term_saved_valid = 1;
	if (!atexit_done) {
		atexit(console_atexit);
		atexit_done = true;
	}
	console_install_crash_handlers();

	/* cfmakeraw() minus OPOST: keep output processing so guests that
	 * print a bare "\n" still return the carriage. */
	t = term_saved;
	t.c_iflag &= (tcflag_t) ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	t.c_lflag &= (tcflag_t) ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	t.c_cflag &= (tcflag_t) ~(CSIZE | PARENB);
	t.c_cflag |= CS8;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSANOW, &t) < 0) {
		term_saved_valid = 0;
		return -errno;
	}
	return 0;
}

static void console_input_handler(void *opaque, uint32_t events);

static void console_input_pause(struct console *c)
{
	if (c->in_on_loop) {
		evloop_del(c->vm->loop, c->in_fd);
		c->in_on_loop = false;
	}
}

static void console_input_resume(struct console *c)
{
	int r;

	if (c->in_on_loop || c->in_closed || c->in_fd < 0)
		return;
	r = evloop_add(c->vm->loop, c->in_fd, EPOLLIN, console_input_handler, c);
	if (r) {
		/* Regular files and /dev/null cannot be polled: no input. */
		if (r != -EPERM)
			log_warn("console: cannot watch input fd: %s", strerror(-r));
		c->in_closed = true;
		return;
	}
	c->in_on_loop = true;
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

	if (write_full(STDOUT_FILENO, help, sizeof(help) - 1) < 0) {
		pthread_mutex_lock(&c->lock);
		c->out_dropped++;
		pthread_mutex_unlock(&c->lock);
	}
}

static void console_close_client(struct console *c);

/* Runs on the loop thread when the guest has drained its RX FIFO. */
static void console_drain_call(void *opaque)
{
	struct console *c = opaque;

	if (console_flush_pending(c) || c->escapes)
		console_input_resume(c);
}

/* rx_ready from the UART, on a vCPU thread: hop to the loop. */
static void console_rx_ready(void *opaque)
{
	struct console *c = opaque;

	if (evloop_call(c->vm->loop, console_drain_call, c) < 0)
		log_warn("console: cannot schedule input");
}

static void console_input_closed(struct console *c)
{
	console_input_pause(c);
	if (c->mode == VM_CONSOLE_SOCKET) {
		console_close_client(c);
		return;
	}
	/* EOF on stdin or a pty without a reader: the VM keeps running. */
	c->in_closed = true;
}

static void console_input_handler(void *opaque, uint32_t events)
{
	struct console *c = opaque;
	uint8_t buf[CONSOLE_READ_CHUNK];
	size_t want;
	ssize_t n;

	want = sizeof(buf);
	if (!c->escapes) {
		/* Without escapes, stop reading when the backlog is full: the
		 * writer (pipe, pty, socket peer) then waits for the guest. */
		want = MIN(want, console_pending_room(c));
		if (!want) {
			console_input_pause(c);
			return;
		}
	}
	n = read(c->in_fd, buf, want);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		console_input_closed(c);
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		uint8_t b = buf[i];

		if (!c->escapes) {
			console_queue(c, b);
			continue;
		}
		if (c->got_escape) {
			c->got_escape = false;
			switch (b) {
			case 'x':
			case 'X':
				console_input_pause(c);
				c->in_closed = true;
				console_restore_terminal();
				vm_request_stop(c->vm, VM_EXIT_SIGNAL, 0);
				return;
			case 'h':
			case 'H':
			case '?':
				console_print_help(c);
				continue;
			case CONSOLE_ESCAPE:
				console_queue(c, b);
				continue;
			default:
				/* Not a command: pass both through. */
				console_queue(c, CONSOLE_ESCAPE);
				console_queue(c, b);
				continue;
			}
		}
		if (b == CONSOLE_ESCAPE) {
			c->got_escape = true;
			continue;
		}
		console_queue(c, b);
	}
	console_flush_pending(c);
}

/* --- SOCKET mode --- */

/* tx hook: called by the UART with its lock held, on a vCPU thread. */
static void console_socket_tx(void *opaque, const uint8_t *buf, size_t len)
{
	struct console *c = opaque;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < len; i++) {
		c->ring[c->ring_pos++] = buf[i];
		if (c->ring_pos == CONSOLE_RING_SIZE) {
			c->ring_pos = 0;
			c->ring_wrapped = true;
		}
	}
	if (c->client_fd >= 0 && send(c->client_fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 &&
	    errno != EPIPE && errno != ECONNRESET)
		c->out_dropped += len;
	pthread_mutex_unlock(&c->lock);
}

static void console_close_client(struct console *c)
{
	int fd;

	pthread_mutex_lock(&c->lock);
	fd = c->client_fd;
	c->client_fd = -1;
	pthread_mutex_unlock(&c->lock);
	if (fd < 0)
		return;
	if (c->in_on_loop)
		evloop_del(c->vm->loop, fd);
	c->in_on_loop = false;
	c->in_fd = -1;
	close(fd);
}

static void console_send_history(struct console *c, int fd)
{
	/* The socket buffer of a fresh Unix socket holds the 64 KiB easily;
	 * whatever does not fit is skipped rather than waited for. */
	if (c->ring_wrapped && send(fd, c->ring + c->ring_pos, CONSOLE_RING_SIZE - c->ring_pos,
				    MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		return;
	if (c->ring_pos)
		(void)!send(fd, c->ring, c->ring_pos, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static void console_accept_handler(void *opaque, uint32_t events)
{
	static const char busy[] = "vessel: console already in use\r\n";
	struct console *c = opaque;
	int fd;

	fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	pthread_mutex_lock(&c->lock);
	if (c->client_fd >= 0) {
		pthread_mutex_unlock(&c->lock);
		(void)!send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		close(fd);
		return;
	}
	console_send_history(c, fd);
	c->client_fd = fd;
	pthread_mutex_unlock(&c->lock);
	c->clients++;
	c->in_fd = fd;
	c->in_closed = false;
	console_input_resume(c);
}

static int console_listen(struct console *c, const char *path)
{
	int fd, r;

	/* The console shows what the guest types, passwords too: 0600. */
	fd = unix_listen(path, 4);
	if (fd < 0)
		return fd;
	c->listen_fd = fd;
	r = evloop_add(c->vm->loop, fd, EPOLLIN, console_accept_handler, c);
	if (r) {
		close(fd);
		unlink(path);
		c->listen_fd = -1;
		return r;
	}
	return 0;
}

/* --- setup and teardown --- */

static int console_setup_stdio(struct console *c)
{
	struct sigaction old;

	/*
	 * A guest writing to a console whose reader went away (`vessel run |
	 * head`) must not kill vessel with SIGPIPE: ignore it, unless someone
	 * already chose a disposition, and let the write fail with EPIPE.
	 */
	if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
	    !(old.sa_flags & SA_SIGINFO))
		signal(SIGPIPE, SIG_IGN);
	c->out_fd = STDOUT_FILENO;
	c->in_fd = STDIN_FILENO;
	if (isatty(STDIN_FILENO)) {
		/* A background job must not touch the terminal (SIGTTOU/SIGTTIN). */
		if (tcgetpgrp(STDIN_FILENO) != getpgrp()) {
			c->in_fd = -1;
			return 0;
		}
		if (console_make_raw(STDIN_FILENO) == 0)
			c->escapes = true;
	}
	return 0;
}

static int console_setup_pty(struct console *c)
{
	struct termios t;
	char name[128];
	int master, slave;

	if (openpty(&master, &slave, name, NULL, NULL) < 0)
		return -errno;
	/* Raw, no echo: otherwise the line discipline echoes guest output
	 * back to us as input. */
	if (tcgetattr(slave, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(slave, TCSANOW, &t);
	}
	fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
	fcntl(master, F_SETFD, FD_CLOEXEC);
	fcntl(slave, F_SETFD, FD_CLOEXEC);
	c->path = strdup(name);
	if (!c->path) {
		close(master);
		close(slave);
		return -ENOMEM;
	}
	c->in_fd = master;
	c->out_fd = master;
	c->own_out = true;
	c->pty_slave = slave;
	fprintf(stderr, "vessel: console on %s\n", name);
	log_info("console: serial console on %s", name);
	return 0;
}

static int console_setup_file(struct console *c, const char *path)
{
	int fd;

	if (!path)
		return -EINVAL;
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	c->out_fd = fd;
	c->own_out = true;
	return 0;
}

static int console_setup_socket(struct console *c, const char *path)
{
	int r;

	if (!path)
		return -EINVAL;
	c->ring = malloc(CONSOLE_RING_SIZE);
	c->path = strdup(path);
	if (!c->ring || !c->path)
		return -ENOMEM;
	r = console_listen(c, path);
	if (r)
		return r;
	uart8250_set_tx_hook(c->uart, console_socket_tx, c);
	return 0;
}

/*
 * Teardown runs after the vCPUs are gone, so the UART no longer calls
 * into us; the UART itself may already be freed and is not touched.
 */
static void console_free(struct console *c)
{
	if (c->in_on_loop)
		evloop_del(c->vm->loop, c->in_fd);
	if (c->listen_fd >= 0) {
		evloop_del(c->vm->loop, c->listen_fd);
		close(c->listen_fd);
		if (c->path)
			unlink(c->path);
	}
	if (c->client_fd >= 0)
		close(c->client_fd);
	if (c->mode == VM_CONSOLE_STDIO && term_saved_valid) {
		console_restore_terminal();
		term_saved_valid = 0;
	}
	if (c->own_out && c->out_fd >= 0)
		close(c->out_fd);
	if (c->pty_slave >= 0)
		close(c->pty_slave);
	pthread_mutex_destroy(&c->lock);
	free(c->pending);
	free(c->ring);
	free(c->path);
	free(c);
}

static void console_destroy_op(void *opaque)
{
	console_free(opaque);
}

static void console_stats_op(void *opaque, struct json_object *obj)
{
	struct console *c = opaque;
	uint64_t out_dropped;

	/* Runs on the loop thread, like the input path; only out_dropped is
	 * written by vCPUs (socket mode, under c->lock). */
	pthread_mutex_lock(&c->lock);
	out_dropped = c->out_dropped;
	pthread_mutex_unlock(&c->lock);
	json_object_object_add(obj, "in_bytes", json_object_new_int64((int64_t)c->in_bytes));
	json_object_object_add(obj, "in_dropped", json_object_new_int64((int64_t)c->in_dropped));
	json_object_object_add(obj, "out_dropped", json_object_new_int64((int64_t)out_dropped));
	if (c->mode == VM_CONSOLE_SOCKET)
		json_object_object_add(obj, "clients", json_object_new_int64((int64_t)c->clients));
}

static const struct component_ops console_ops = {
	.stats = console_stats_op,
	.destroy = console_destroy_op,
};

int console_attach(struct vm *vm, struct uart8250 *u, enum vm_console_mode mode, const char *path)
{
	struct console *c = calloc(1, sizeof(*c));
	int r = 0;

	if (!c)
		return -ENOMEM;
	c->vm = vm;
	c->uart = u;
	c->mode = mode;
	c->in_fd = -1;
	c->out_fd = -1;
	c->pty_slave = -1;
	c->listen_fd = -1;
	c->client_fd = -1;
	pthread_mutex_init(&c->lock, NULL);
	c->pending = malloc(CONSOLE_PENDING_SIZE);
	if (!c->pending) {
		r = -ENOMEM;
		goto fail;
	}

	switch (mode) {
	case VM_CONSOLE_STDIO:
		r = console_setup_stdio(c);
		break;
	case VM_CONSOLE_PTY:
		r = console_setup_pty(c);
		break;
	case VM_CONSOLE_FILE:
		r = console_setup_file(c, path);
		break;
	case VM_CONSOLE_SOCKET:
		r = console_setup_socket(c, path);
		break;
	case VM_CONSOLE_NONE:
		break;
	default:
		r = -EINVAL;
	}
	if (r) {
		log_err("console: %s%s%s", path ? path : "", path ? ": " : "",
			mode == VM_CONSOLE_SOCKET ? unix_listen_strerror(r) : strerror(-r));
		goto fail;
	}
	uart8250_set_rx_ready(u, console_rx_ready, c);
	uart8250_set_output_fd(u, c->out_fd);
	console_input_resume(c);
	r = components_add(&vm->components, CONSOLE_COMPONENT_ID, &console_ops, c, NULL);
	if (r) {
		uart8250_set_rx_ready(u, NULL, NULL);
		uart8250_set_output_fd(u, -1);
		uart8250_set_tx_hook(u, NULL, NULL);
		goto fail;
	}
	return 0;
fail:
	console_free(c);
	return r;
}

const char *console_get_path(struct vm *vm)
{
	struct console *c = components_find(&vm->components, CONSOLE_COMPONENT_ID);

	return c ? c->path : NULL;
}
