// SPDX-License-Identifier: MIT
/*
 * Character backends (chardev/chardev.h): stdio with a raw terminal, pty,
 * file, Unix socket with an output replay ring, none.
 *
 * Threads: input (readable(), chardev_readv, accept, client hang-up) runs
 * on the event loop thread.  chardev_write may run on any thread (a vCPU
 * writing the UART's THR); it touches only the output fd, or in SOCKET
 * mode the ring and the client fd under cd->lock.  The loop thread takes
 * the same lock to swap clients and to change what the loop watches, so
 * a writer or a device reset never uses a closed or reused fd.  Lock
 * order: a device's lock, then cd->lock, then the event loop's.  Nothing blocks: sends are
 * MSG_DONTWAIT and what does not fit is dropped and counted.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "chardev/chardev.h"
#include "util/error.h"
#include "util/evloop.h"
#include "util/listen.h"
#include "util/log.h"
#include "util/util.h"

#define CHARDEV_RING_SIZE (64 * 1024)

struct chardev {
	struct chardev_opts o;
	struct evloop *loop;
	enum chardev_mode mode;
	char *path; /* pty or socket path */

	int in_fd;	 /* stdin, pty master or socket client; -1: none */
	bool in_on_loop; /* in_fd is registered with the loop */
	bool want_input; /* the frontend asked for readable() */
	bool in_closed;	 /* EOF: never read again (not for SOCKET) */
	bool escapes;
	bool raw_term; /* this chardev put stdin in raw mode */

	int out_fd; /* STDIO/PTY/FILE; -1 otherwise */
	bool own_out;
	int pty_slave;
	int listen_fd;

	/* SOCKET: the client and the replay ring, shared with writers. */
	pthread_mutex_t lock;
	int client_fd;
	uint8_t *ring;
	size_t ring_pos;
	bool ring_wrapped;
	uint64_t out_dropped, clients;
};

/*
 * The terminal state to restore.  File-scope on purpose: atexit() and
 * fatal-signal handlers get no context pointer, and only one terminal
 * (vessel's stdin) is ever put in raw mode.  Written once before raw mode
 * is entered, only read after.
 */
static struct termios term_saved;
static int term_fd = -1;
static volatile sig_atomic_t term_saved_valid;

void chardev_restore_terminal(void)
{
	/* tcsetattr() is async-signal-safe (POSIX.1-2008, signal-safety(7)). */
	if (term_saved_valid)
		tcsetattr(term_fd, TCSANOW, &term_saved);
}

static void chardev_atexit(void)
{
	chardev_restore_terminal();
}

static void chardev_fatal_signal(int sig)
{
	/* SA_RESETHAND put the default action back: restore, then die by it. */
	chardev_restore_terminal();
	raise(sig);
}

/* Restore the terminal on crashes too, unless someone (the VMM core, a
 * sanitizer) already handles these signals. */
static void install_crash_handlers(void)
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = chardev_fatal_signal;
	sa.sa_flags = SA_RESETHAND | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++) {
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
		    !(old.sa_flags & SA_SIGINFO))
			sigaction(sigs[i], &sa, NULL);
	}
}

static int make_raw(int fd)
{
	static bool atexit_done;
	struct termios t;

	if (tcgetattr(fd, &term_saved) < 0)
		return -errno;
	term_fd = fd;
	term_saved_valid = 1;
	if (!atexit_done) {
		atexit(chardev_atexit);
		atexit_done = true;
	}
	install_crash_handlers();

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

/* --- input --- */

static uint32_t in_events(const struct chardev *cd)
{
	/* A socket client's hang-up is wanted even while input is paused. */
	return (cd->want_input ? EPOLLIN : 0) | (cd->mode == CHARDEV_SOCKET ? EPOLLRDHUP : 0);
}

static void drop_client(struct chardev *cd);

static void input_handler(void *opaque, uint32_t events)
{
	struct chardev *cd = opaque;
	int fd = cd->in_fd;

	if (cd->want_input && (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) &&
	    cd->o.readable)
		cd->o.readable(cd->o.opaque);
	/* Level-triggered: a hang-up nobody reads would fire forever. */
	if (cd->mode == CHARDEV_SOCKET && cd->in_fd == fd && fd >= 0 &&
	    (events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)))
		drop_client(cd);
}

static void input_unwatch(struct chardev *cd)
{
	pthread_mutex_lock(&cd->lock);
	if (cd->in_on_loop)
		evloop_del(cd->loop, cd->in_fd);
	cd->in_on_loop = false;
	pthread_mutex_unlock(&cd->lock);
}

/* Register in_fd with the loop; regular files and /dev/null cannot be polled. */
static void input_watch(struct chardev *cd)
{
	int r;

	if (cd->in_on_loop || cd->in_closed || cd->in_fd < 0 || !cd->loop)
		return;
	r = evloop_add(cd->loop, cd->in_fd, in_events(cd), input_handler, cd);
	if (r) {
		if (r != -EPERM)
			log_warn("%s: cannot watch input: %s", cd->o.name, strerror(-r));
		cd->in_closed = true;
		return;
	}
	cd->in_on_loop = true;
}

void chardev_input_poll(struct chardev *cd, bool on)
{
	if (!cd)
		return;
	/* Also from vCPU threads (a device reset): cd->lock keeps in_fd stable. */
	pthread_mutex_lock(&cd->lock);
	if (cd->want_input != on) {
		cd->want_input = on;
		if (cd->in_on_loop)
			evloop_mod(cd->loop, cd->in_fd, in_events(cd));
	}
	pthread_mutex_unlock(&cd->lock);
}

void chardev_input_close(struct chardev *cd)
{
	if (!cd)
		return;
	cd->want_input = false;
	if (cd->mode == CHARDEV_SOCKET) {
		drop_client(cd);
		return;
	}
	input_unwatch(cd);
	cd->in_closed = true;
}

ssize_t chardev_readv(struct chardev *cd, const struct iovec *iov, int iovcnt)
{
	ssize_t n;

	if (!cd || cd->in_fd < 0 || cd->in_closed)
		return 0;
	n = readv(cd->in_fd, iov, iovcnt);
	if (n > 0)
		return n;
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	/* EOF or an error: a socket client is gone, stdin/pty input ends. */
	if (cd->mode == CHARDEV_SOCKET) {
		drop_client(cd);
	} else {
		input_unwatch(cd);
		cd->in_closed = true;
	}
	return 0;
}

ssize_t chardev_read(struct chardev *cd, void *buf, size_t len)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };

	return chardev_readv(cd, &iov, 1);
}

/* --- SOCKET --- */

static void drop_client(struct chardev *cd)
{
	int fd;

	pthread_mutex_lock(&cd->lock);
	fd = cd->client_fd;
	cd->client_fd = -1;
	if (fd >= 0) {
		if (cd->in_on_loop)
			evloop_del(cd->loop, fd);
		cd->in_on_loop = false;
		cd->in_fd = -1;
	}
	pthread_mutex_unlock(&cd->lock);
	if (fd >= 0)
		close(fd);
}

static void ring_add(struct chardev *cd, const uint8_t *buf, size_t len)
{
	if (len >= CHARDEV_RING_SIZE) {
		buf += len - CHARDEV_RING_SIZE;
		len = CHARDEV_RING_SIZE;
	}
	while (len) {
		size_t n = MIN(len, CHARDEV_RING_SIZE - cd->ring_pos);

		memcpy(cd->ring + cd->ring_pos, buf, n);
		cd->ring_pos += n;
		buf += n;
		len -= n;
		if (cd->ring_pos == CHARDEV_RING_SIZE) {
			cd->ring_pos = 0;
			cd->ring_wrapped = true;
		}
	}
}

/* With cd->lock held. */
static void send_history(struct chardev *cd, int fd)
{
	/* A fresh Unix socket's buffer holds the 64 KiB easily; whatever
	 * does not fit is skipped rather than waited for. */
	if (cd->ring_wrapped && send(fd, cd->ring + cd->ring_pos, CHARDEV_RING_SIZE - cd->ring_pos,
				     MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		return;
	if (cd->ring_pos)
		(void)!send(fd, cd->ring, cd->ring_pos, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static void accept_handler(void *opaque, uint32_t events)
{
	struct chardev *cd = opaque;
	char busy[96];
	int fd, r;

	(void)events;
	fd = accept4(cd->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	pthread_mutex_lock(&cd->lock);
	if (cd->client_fd >= 0) {
		pthread_mutex_unlock(&cd->lock);
		snprintf(busy, sizeof(busy), "vessel: %s already in use\r\n", cd->o.name);
		(void)!send(fd, busy, strlen(busy), MSG_DONTWAIT | MSG_NOSIGNAL);
		close(fd);
		return;
	}
	if (cd->ring)
		send_history(cd, fd);
	r = evloop_add(cd->loop, fd, in_events(cd), input_handler, cd);
	if (r) {
		pthread_mutex_unlock(&cd->lock);
		log_warn("%s: cannot watch the client: %s", cd->o.name, strerror(-r));
		close(fd);
		return;
	}
	cd->client_fd = cd->in_fd = fd;
	cd->in_on_loop = true;
	cd->clients++;
	pthread_mutex_unlock(&cd->lock);
}

/* --- output --- */

ssize_t chardev_write(struct chardev *cd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t done = 0;

	if (!cd || !len)
		return 0;
	if (cd->mode == CHARDEV_SOCKET) {
		ssize_t n = 0;

		pthread_mutex_lock(&cd->lock);
		if (cd->ring)
			ring_add(cd, buf, len);
		if (cd->client_fd >= 0) {
			n = send(cd->client_fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
			/* A client that went away is noticed by the loop, not counted. */
			if (n < 0 && errno != EPIPE && errno != ECONNRESET)
				cd->out_dropped += len;
		}
		pthread_mutex_unlock(&cd->lock);
		return n > 0 ? n : 0;
	}
	while (done < len && cd->out_fd >= 0) {
		ssize_t n = write(cd->out_fd, p + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	if (done < len && cd->mode != CHARDEV_NONE) {
		pthread_mutex_lock(&cd->lock);
		cd->out_dropped += len - done;
		pthread_mutex_unlock(&cd->lock);
	}
	return (ssize_t)done;
}

int chardev_output_fd(const struct chardev *cd)
{
	return cd ? cd->out_fd : -1;
}

/* --- setup --- */

static int open_stdio(struct chardev *cd)
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
	cd->out_fd = STDOUT_FILENO;
	cd->in_fd = STDIN_FILENO;
	if (isatty(STDIN_FILENO)) {
		/* A background job must not touch the terminal (SIGTTOU/SIGTTIN). */
		if (tcgetpgrp(STDIN_FILENO) != getpgrp()) {
			cd->in_fd = -1;
			return 0;
		}
		if (make_raw(STDIN_FILENO) == 0)
			cd->escapes = cd->raw_term = true;
	}
	return 0;
}

static int open_pty(struct chardev *cd, struct error *err)
{
	struct termios t;
	char name[128];
	int master, slave;

	if (openpty(&master, &slave, name, NULL, NULL) < 0)
		return error_set_errno(err, -errno, "%s: cannot open a pty", cd->o.name);
	/* Raw, no echo: else the line discipline echoes output back as input. */
	if (tcgetattr(slave, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(slave, TCSANOW, &t);
	}
	fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
	fcntl(master, F_SETFD, FD_CLOEXEC);
	fcntl(slave, F_SETFD, FD_CLOEXEC);
	cd->path = strdup(name);
	if (!cd->path) {
		close(master);
		close(slave);
		return error_setf(err, -ENOMEM, "%s: out of memory", cd->o.name);
	}
	cd->in_fd = cd->out_fd = master;
	cd->own_out = true;
	cd->pty_slave = slave;
	/* The user needs the path to attach (tests read this line). */
	fprintf(stderr, "vessel: %s on %s\n", cd->o.name, name);
	log_info("%s on %s", cd->o.name, name);
	return 0;
}

static int open_file(struct chardev *cd, const char *path, struct error *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	if (fd < 0)
		return error_set_errno(err, -errno, "%s: cannot open %s", cd->o.name, path);
	cd->out_fd = fd;
	cd->own_out = true;
	return 0;
}

static int open_socket(struct chardev *cd, const char *path, struct error *err)
{
	int fd, r;

	if (!cd->loop)
		return error_setf(err, -EINVAL, "%s: a socket needs the event loop", cd->o.name);
	if (cd->o.flags & CHARDEV_REPLAY) {
		cd->ring = malloc(CHARDEV_RING_SIZE);
		if (!cd->ring)
			return error_setf(err, -ENOMEM, "%s: out of memory", cd->o.name);
	}
	/* The console shows what the guest types, passwords too: 0600. */
	fd = unix_listen(path, 4);
	if (fd < 0)
		return error_setf(err, fd, "%s: cannot listen on %s: %s", cd->o.name, path,
				  unix_listen_strerror(fd));
	cd->path = strdup(path);
	cd->listen_fd = fd;
	if (!cd->path)
		return error_setf(err, -ENOMEM, "%s: out of memory", cd->o.name);
	r = evloop_add(cd->loop, fd, EPOLLIN, accept_handler, cd);
	if (r) {
		close(fd);
		unix_listen_remove(path);
		cd->listen_fd = -1;
		return error_set_errno(err, r, "%s: cannot watch %s", cd->o.name, path);
	}
	return 0;
}

int chardev_open(const struct chardev_spec *spec, const struct chardev_opts *o, struct evloop *loop,
		 struct chardev **out, struct error *err)
{
	struct chardev *cd;
	int r = 0;

	if ((r = chardev_spec_check(spec, o->name, err)))
		return r;
	cd = calloc(1, sizeof(*cd));
	if (!cd)
		return error_setf(err, -ENOMEM, "%s: out of memory", o->name);
	cd->o = *o;
	cd->loop = loop;
	cd->mode = spec->mode;
	cd->in_fd = cd->out_fd = cd->pty_slave = cd->listen_fd = cd->client_fd = -1;
	pthread_mutex_init(&cd->lock, NULL);
	switch (spec->mode) {
	case CHARDEV_STDIO:
		r = open_stdio(cd);
		break;
	case CHARDEV_PTY:
		r = open_pty(cd, err);
		break;
	case CHARDEV_FILE:
		r = open_file(cd, spec->path, err);
		break;
	case CHARDEV_SOCKET:
		r = open_socket(cd, spec->path, err);
		break;
	case CHARDEV_NONE:
		break;
	}
	if (r) {
		chardev_close(cd);
		return r;
	}
	/* Registered now with no events: input_watch decides if it can be polled. */
	if (spec->mode != CHARDEV_SOCKET)
		input_watch(cd);
	*out = cd;
	return 0;
}

void chardev_close(struct chardev *cd)
{
	if (!cd)
		return;
	if (cd->mode == CHARDEV_SOCKET)
		drop_client(cd);
	input_unwatch(cd);
	if (cd->listen_fd >= 0) {
		evloop_del(cd->loop, cd->listen_fd);
		close(cd->listen_fd);
		if (cd->path)
			unix_listen_remove(cd->path);
	}
	if (cd->raw_term && term_saved_valid) {
		chardev_restore_terminal();
		term_saved_valid = 0;
	}
	if (cd->own_out && cd->out_fd >= 0)
		close(cd->out_fd);
	if (cd->pty_slave >= 0)
		close(cd->pty_slave);
	pthread_mutex_destroy(&cd->lock);
	free(cd->ring);
	free(cd->path);
	free(cd);
}

enum chardev_mode chardev_mode(const struct chardev *cd)
{
	return cd->mode;
}

const char *chardev_path(const struct chardev *cd)
{
	return cd ? cd->path : NULL;
}

bool chardev_escapes(const struct chardev *cd)
{
	return cd && cd->escapes;
}

void chardev_get_stats(struct chardev *cd, struct chardev_stats *st)
{
	pthread_mutex_lock(&cd->lock);
	st->out_dropped = cd->out_dropped;
	st->clients = cd->clients;
	pthread_mutex_unlock(&cd->lock);
}
