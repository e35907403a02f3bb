// SPDX-License-Identifier: MIT
/* Listening Unix sockets: the one policy (listen.h) every server uses. */
#include "util/listen.h"
#include "util/log.h"
#include "util/reaper.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/*
 * bind() found something at the path.  0 if it is a socket nobody listens
 * on (safe to replace), -EEXIST if it is not a socket (a symlink included:
 * it is never followed or removed), -EADDRINUSE if a process listens.
 */
static int check_stale(const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, r;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	/*
	 * Non-blocking, so a listener whose backlog is full answers EAGAIN
	 * at once instead of blocking us: it is alive all the same.
	 */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
		r = -EADDRINUSE;
	else if (errno == ECONNREFUSED)
		r = 0;
	else if (errno == EAGAIN || errno == EINPROGRESS)
		r = -EADDRINUSE;
	else
		r = -errno;
	close(fd);
	return r;
}

/*
 * "fd:N": a listening Unix stream socket the caller made (systemd's
 * socket activation, a supervisor that picks the path and its owner).
 * It becomes ours: non-blocking and close-on-exec, never unlinked.
 */
static int unix_listen_adopt(int fd)
{
	int type = 0, dom = 0, acc = 0, fl;
	socklen_t l = sizeof(int);

	if (handed_fd_check(fd))
		return -EBADF;
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l) < 0 ||
	    (l = sizeof(int), getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l)) < 0 ||
	    (l = sizeof(int), getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l)) < 0)
		return errno == ENOTSOCK ? -ENOTSOCK : -errno;
	if (dom != AF_UNIX || type != SOCK_STREAM || !acc)
		return -EPROTOTYPE;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	return fd;
}

void unix_listen_remove(const char *path)
{
	if (parse_handed_fd(path) < 0)
		unlink(path);
}

int unix_listen(const char *path, int backlog)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	int fd, r;

	if (parse_handed_fd(path) >= 0)
		return unix_listen_adopt(parse_handed_fd(path));
	if (!len)
		return -EINVAL;
	if (len >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, len + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/*
	 * Linux creates the socket file with the socket inode's mode less
	 * the umask, so setting that mode first means the file is never
	 * wider than 0600, even under umask 0 and without touching the
	 * process-wide umask while other threads create files.
	 */
	if (fchmod(fd, 0600) < 0)
		goto fail;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		goto bound;
	if (errno != EADDRINUSE)
		goto fail;
	r = check_stale(&sa);
	if (r) {
		close(fd);
		return r;
	}
	/*
	 * Between the check and the unlink another process may put its own
	 * socket there; only a directory others can write to allows that,
	 * and the state directories never are (state.c).  Retry bind once:
	 * losing a race with a second vessel is EADDRINUSE, not a loop.
	 */
	if (unlink(path) < 0 && errno != ENOENT)
		goto fail;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto fail;
bound:
	if (listen(fd, backlog) < 0) {
		r = -errno;
		close(fd);
		unlink(path);
		return r;
	}
	/* removed at exit by the cleanup helper when a filter forbids us (reaper.h) */
	if ((r = reaper_add_unlink(path)))
		log_warn("%s will not be removed at exit: %s", path, strerror(-r));
	return fd;
fail:
	r = -errno;
	close(fd);
	return r;
}

const char *unix_listen_strerror(int err)
{
	switch (err) {
	case -EEXIST:
		return "a file that is not a socket is in the way (left alone)";
	case -EADDRINUSE:
		return "another process is listening on it";
	case -ENAMETOOLONG:
		return "path too long for a Unix socket (at most 107 bytes)";
	case -EBADF:
		return "no such fd was handed to vessel";
	case -ENOTSOCK:
	case -EPROTOTYPE:
		return "that fd is not a listening Unix stream socket";
	default:
		return strerror(-err);
	}
}
