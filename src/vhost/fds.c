// SPDX-License-Identifier: MIT
/*
 * vhost-user backend: the kick, call and error fds a frontend passes with
 * SET_VRING_KICK/CALL/ERR.  vhost-user.rst says they are eventfds; a
 * hostile frontend may pass anything.  What could go wrong, and why each
 * check is here:
 *
 *  - A regular file, a character device (/dev/zero) or a socket is
 *    readable for ever: endless kicks.  Only eventfds and pipes/FIFOs are
 *    taken, and only with the right access mode.
 *  - A blocking fd is read on the device's I/O thread and written (call,
 *    error) under the device lock: one read or write that blocks wedges
 *    the I/O thread, and with it the event loop waiting for that lock, and
 *    SIGTERM goes unanswered.  epoll's readiness is no promise: two rings
 *    given the same eventfd are both reported readable and the first read
 *    empties it.  So the fds are switched to O_NONBLOCK, and reads use
 *    preadv2(RWF_NOWAIT) besides (preadv2(2)), which cannot block even if
 *    the frontend turns O_NONBLOCK off again: the flag lives in the open
 *    file description, which SCM_RIGHTS shares with the frontend.
 *  - A pipe whose writers are gone is readable at end of file for ever:
 *    a kick fd at EOF or in error is a broken ring, no longer watched
 *    (conn.c).
 *
 * An eventfd write cannot be made non-blocking per call (RWF_NOWAIT is
 * refused for it): it relies on O_NONBLOCK.  It blocks only when the
 * counter is at its maximum (eventfd(2)), which only a frontend that
 * writes into its own call fd and clears O_NONBLOCK can arrange.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "vhost/vhost-user-int.h"

/* The anonymous inode every eventfd shares, for hosts without /proc. */
static struct stat anon_sb;
static bool anon_known;
static pthread_once_t anon_once = PTHREAD_ONCE_INIT;

static void anon_probe(void)
{
	int fd = eventfd(0, EFD_CLOEXEC);

	if (fd >= 0 && fstat(fd, &anon_sb) == 0)
		anon_known = true;
	if (fd >= 0)
		close(fd);
}

static bool is_eventfd(int fd, const struct stat *sb)
{
	char path[32], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n >= 0) {
		link[n] = '\0';
		return !strcmp(link, "anon_inode:[eventfd]");
	}
	/*
	 * No /proc: an anonymous inode (eventfd, timerfd, epoll, ...).  The
	 * others are harmless here: with O_NONBLOCK their 8-byte reads fail
	 * or wait for an event, and a read error stops the ring.
	 */
	pthread_once(&anon_once, anon_probe);
	return anon_known && sb->st_dev == anon_sb.st_dev && sb->st_ino == anon_sb.st_ino;
}

int vhost_user_ring_fd_check(int fd, bool reads, const char **why)
{
	struct stat sb;
	int fl, kind, acc;

	if (fstat(fd, &sb) < 0) {
		*why = "fstat failed";
		return -errno;
	}
	if (S_ISFIFO(sb.st_mode)) {
		kind = VHOST_USER_FD_PIPE;
	} else if (is_eventfd(fd, &sb)) {
		kind = VHOST_USER_FD_EVENTFD;
	} else {
		*why = "not an eventfd or a pipe";
		return -EINVAL;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0) {
		*why = "F_GETFL failed";
		return -errno;
	}
	acc = fl & O_ACCMODE;
	if (reads ? acc == O_WRONLY : acc == O_RDONLY) {
		*why = reads ? "not open for reading" : "not open for writing";
		return -EBADF;
	}
	if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		*why = "cannot set O_NONBLOCK";
		return -errno;
	}
	return kind;
}

int vhost_user_kick_read(int fd)
{
	/* An eventfd gives 8 bytes; a pipe whatever was written, drained in bites. */
	uint8_t buf[64];
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	ssize_t n;

	do
		n = preadv2(fd, &iov, 1, -1, RWF_NOWAIT);
	while (n < 0 && errno == EINTR);
	/* Kernels without RWF_NOWAIT for this file: O_NONBLOCK has to do. */
	if (n < 0 && errno == EOPNOTSUPP) {
		do
			n = read(fd, buf, sizeof(buf));
		while (n < 0 && errno == EINTR);
	}
	if (n > 0)
		return 1;
	if (n < 0 && errno == EAGAIN)
		return 0;
	return n == 0 ? -EPIPE : -errno;
}

void vhost_user_fd_signal(int fd, int kind)
{
	uint64_t one = 1;
	struct iovec iov = { .iov_base = &one, .iov_len = sizeof(one) };
	ssize_t n;

	if (fd < 0)
		return;
	/*
	 * A pipe takes RWF_NOWAIT; a full one is an interrupt already
	 * pending.  Writing to a pipe nobody reads raises SIGPIPE, which
	 * vessel ignores (main.c) and so must any program using this.
	 */
	if (kind == VHOST_USER_FD_PIPE) {
		n = pwritev2(fd, &iov, 1, -1, RWF_NOWAIT);
		if (n >= 0 || errno != EOPNOTSUPP)
			goto out;
	}
	n = write(fd, &one, sizeof(one));
out:
	if (n < 0 && errno != EAGAIN)
		log_debug("vhost-user: eventfd write: %s", strerror(errno));
}
