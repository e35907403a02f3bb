// SPDX-License-Identifier: MIT
/*
 * unix_listen, the one listener policy (util/listen.h): what is at the
 * path decides whether vessel may take it, and the socket it creates is
 * the owner's alone whatever the umask.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/listen.h"

static char dir[64], path[96];

static int setup(void **state)
{
	const char *t = getenv("UNIT_TMPDIR");

	/* Socket paths are short (108 bytes): a deep build dir falls back to /tmp. */
	if (t && strlen(t) > 40)
		t = NULL;
	snprintf(dir, sizeof(dir), "%s/listen-XXXXXX", t ? t : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[96];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int try_connect(const char *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", p);
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : -errno;
	close(fd);
	return r;
}

/* A stale socket: bound by a "process" that closed it without unlinking. */
static void make_stale(const char *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", p);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
}

static void test_fresh_and_mode(void **state)
{
	mode_t old = umask(0);
	struct stat st;
	int fd = unix_listen(path, 4);

	umask(old);
	assert_true(fd >= 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	/* umask 0 would have made it 0777: anyone could drive the VM. */
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(try_connect(path), 0);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	unlink(path);
}

static void test_non_socket_kept(void **state)
{
	char link[96], sub[96], buf[8] = { 0 };
	int fd;

	/* A regular file (a typo in --api-socket) is never removed. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "data", 4), 4);
	close(fd);
	assert_int_equal(unix_listen(path, 4), -EEXIST);
	fd = open(path, O_RDONLY);
	assert_int_equal(read(fd, buf, sizeof(buf)), 4);
	close(fd);
	assert_string_equal(buf, "data");
	assert_non_null(strstr(unix_listen_strerror(-EEXIST), "not a socket"));

	/* A symlink, even to a stale socket, is neither followed nor removed. */
	snprintf(link, sizeof(link), "%s/l.sock", dir);
	snprintf(sub, sizeof(sub), "%s/target.sock", dir);
	make_stale(sub);
	assert_int_equal(symlink(sub, link), 0);
	assert_int_equal(unix_listen(link, 4), -EEXIST);
	assert_int_equal(readlink(link, buf, sizeof(buf)) > 0, 1);

	/* Nor is a dangling symlink, nor a directory. */
	unlink(link);
	assert_int_equal(symlink("/nonexistent/x", link), 0);
	assert_int_equal(unix_listen(link, 4), -EEXIST);
	unlink(link);
	assert_int_equal(mkdir(link, 0700), 0);
	assert_int_equal(unix_listen(link, 4), -EEXIST);
	rmdir(link);
	unlink(sub);
	unlink(path);
}

static void test_stale_replaced_live_refused(void **state)
{
	struct stat st;
	int a, b;

	make_stale(path);
	assert_int_equal(try_connect(path), -ECONNREFUSED);
	a = unix_listen(path, 4);
	assert_true(a >= 0);
	assert_int_equal(try_connect(path), 0);

	/* Someone listens: a second server must not steal the path. */
	b = unix_listen(path, 4);
	assert_int_equal(b, -EADDRINUSE);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(try_connect(path), 0);
	assert_non_null(strstr(unix_listen_strerror(b), "listening"));
	close(a);
	unlink(path);
}

/* A live listener whose backlog is full still counts as live. */
static void test_full_backlog_is_live(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int a = unix_listen(path, 0), cl[8];

	assert_true(a >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	for (int i = 0; i < 8; i++) {
		cl[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(cl[i], (struct sockaddr *)&sa, sizeof(sa));
	}
	assert_int_equal(unix_listen(path, 4), -EADDRINUSE);
	for (int i = 0; i < 8; i++)
		close(cl[i]);
	close(a);
	unlink(path);
}

static void test_bad_paths(void **state)
{
	char longp[200];

	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(unix_listen(longp, 4), -ENAMETOOLONG);
	assert_int_equal(unix_listen("", 4), -EINVAL);
	assert_int_equal(unix_listen("/nonexistent-dir/x.sock", 4), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh_and_mode),
		cmocka_unit_test(test_non_socket_kept),
		cmocka_unit_test(test_stale_replaced_live_refused),
		cmocka_unit_test(test_full_backlog_is_live),
		cmocka_unit_test(test_bad_paths),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
