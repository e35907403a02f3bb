// SPDX-License-Identifier: MIT
/*
 * chardev/: the file backend appends, the socket backend serves one
 * client at a time with the replay of recent output, input reaches the
 * frontend through readable() and chardev_read().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "chardev/chardev.h"
#include "util/error.h"
#include "util/evloop.h"

struct fe {
	struct chardev *cd;
	pthread_mutex_t lock;
	char in[256];
	size_t in_len;
	unsigned int calls;
};

/* The frontend: on the loop thread, take what the backend has. */
static void fe_readable(void *opaque)
{
	struct fe *f = opaque;
	char buf[64];
	ssize_t n = chardev_read(f->cd, buf, sizeof(buf));

	pthread_mutex_lock(&f->lock);
	f->calls++;
	if (n > 0 && f->in_len + (size_t)n <= sizeof(f->in)) {
		memcpy(f->in + f->in_len, buf, (size_t)n);
		f->in_len += (size_t)n;
	}
	pthread_mutex_unlock(&f->lock);
}

static void *loop_main(void *arg)
{
	evloop_run(arg);
	return NULL;
}

static void tmpname(char *buf, size_t len, const char *what)
{
	const char *dir = getenv("UNIT_TMPDIR");

	snprintf(buf, len, "%s/chardev-%s-%d", dir ? dir : "/tmp", what, getpid());
	unlink(buf);
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Read exactly len bytes within a few seconds. */
static void read_exact(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		assert_int_equal(poll(&p, 1, 5000), 1);
		n = read(fd, (char *)buf + got, len - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
}

static void wait_input(struct fe *f, size_t len)
{
	for (int i = 0; i < 5000; i++) {
		size_t have;

		pthread_mutex_lock(&f->lock);
		have = f->in_len;
		pthread_mutex_unlock(&f->lock);
		if (have >= len)
			return;
		usleep(1000);
	}
	fail_msg("input did not arrive");
}

static void test_file_appends(void **state)
{
	struct chardev_opts o = { .name = "test" };
	struct chardev_spec spec = { CHARDEV_FILE, NULL };
	struct error err = ERROR_INIT;
	struct chardev *cd;
	char path[256], buf[64] = { 0 };
	FILE *fp;

	tmpname(path, sizeof(path), "file");
	spec.path = path;
	fp = fopen(path, "w");
	fputs("old\n", fp);
	fclose(fp);
	assert_int_equal(chardev_open(&spec, &o, NULL, &cd, &err), 0);
	assert_int_equal(chardev_mode(cd), CHARDEV_FILE);
	assert_true(chardev_output_fd(cd) >= 0);
	assert_int_equal(chardev_write(cd, "new\n", 4), 4);
	assert_int_equal(chardev_read(cd, buf, sizeof(buf)), 0); /* no input */
	chardev_close(cd);
	fp = fopen(path, "r");
	assert_int_equal(fread(buf, 1, sizeof(buf) - 1, fp), 8);
	fclose(fp);
	assert_string_equal(buf, "old\nnew\n");
	unlink(path);

	/* A file that cannot be opened: one message naming it. */
	spec.path = "/nonexistent-dir/x.log";
	assert_int_equal(chardev_open(&spec, &o, NULL, &cd, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "/nonexistent-dir/x.log"));
	/* FILE and SOCKET need a path. */
	error_clear(&err);
	spec.path = NULL;
	assert_int_equal(chardev_open(&spec, &o, NULL, &cd, &err), -EINVAL);
}

/*
 * Output before any client goes to the replay ring; the first client gets
 * it, then live output; a second client is refused while the first is
 * there; input reaches readable(); after the first leaves, a new client
 * gets the console and the replay again.
 */
static void test_socket_replay(void **state)
{
	struct fe f = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct chardev_opts o = { .name = "test-console",
				  .flags = CHARDEV_REPLAY,
				  .readable = fe_readable,
				  .opaque = &f };
	struct chardev_spec spec = { CHARDEV_SOCKET, NULL };
	struct error err = ERROR_INIT;
	struct chardev_stats st;
	struct evloop *loop;
	char path[108], buf[64] = { 0 };
	struct stat sb;
	pthread_t th;
	int c1, c2;

	tmpname(path, sizeof(path), "sock");
	spec.path = path;
	assert_int_equal(evloop_create(&loop), 0);
	assert_int_equal(chardev_open(&spec, &o, loop, &f.cd, &err), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(S_ISSOCK(sb.st_mode));
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_string_equal(chardev_path(f.cd), path);
	assert_int_equal(chardev_output_fd(f.cd), -1);
	chardev_input_poll(f.cd, true);
	/* No client: kept for the replay, delivered to nobody. */
	assert_int_equal(chardev_write(f.cd, "early\n", 6), 0);
	assert_int_equal(pthread_create(&th, NULL, loop_main, loop), 0);

	c1 = connect_to(path);
	read_exact(c1, buf, 6);
	assert_memory_equal(buf, "early\n", 6);
	/* Live output once the loop has taken the client. */
	for (int i = 0; i < 5000 && chardev_write(f.cd, "x", 1) == 0; i++)
		usleep(1000);
	read_exact(c1, buf, 1);
	assert_int_equal(buf[0], 'x');

	c2 = connect_to(path);
	memset(buf, 0, sizeof(buf));
	read_exact(c2, buf, 37);
	assert_string_equal(buf, "vessel: test-console already in use\r\n");
	close(c2);

	assert_int_equal(write(c1, "hello", 5), 5);
	wait_input(&f, 5);
	assert_memory_equal(f.in, "hello", 5);
	close(c1);

	/* The next client is served, the replay now holds everything so far. */
	for (int i = 0;; i++) {
		c2 = connect_to(path);
		memset(buf, 0, sizeof(buf));
		read_exact(c2, buf, 6);
		if (!memcmp(buf, "early\n", 6))
			break;
		/* Still the old client (its hang-up not seen yet): refused. */
		close(c2);
		assert_true(i < 1000);
		usleep(2000);
	}
	read_exact(c2, buf, 1);
	assert_int_equal(buf[0], 'x');
	close(c2);
	chardev_get_stats(f.cd, &st);
	assert_true(st.clients >= 2);

	evloop_stop(loop);
	pthread_join(th, NULL);
	chardev_close(f.cd);
	assert_int_equal(access(path, F_OK), -1); /* socket removed */
	evloop_destroy(loop);
}

/* The ring keeps the last 64 KiB: a new client gets exactly those. */
static void test_socket_replay_wraps(void **state)
{
	struct chardev_opts o = { .name = "wrap", .flags = CHARDEV_REPLAY };
	struct chardev_spec spec = { CHARDEV_SOCKET, NULL };
	struct error err = ERROR_INIT;
	static char out[100000], got[65536];
	struct evloop *loop;
	struct chardev *cd;
	char path[108];
	pthread_t th;
	int c;

	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (char)('a' + i % 23);
	tmpname(path, sizeof(path), "wrap");
	spec.path = path;
	assert_int_equal(evloop_create(&loop), 0);
	assert_int_equal(chardev_open(&spec, &o, loop, &cd, &err), 0);
	assert_int_equal(chardev_write(cd, out, 70000), 0);
	assert_int_equal(chardev_write(cd, out + 70000, sizeof(out) - 70000), 0);
	assert_int_equal(pthread_create(&th, NULL, loop_main, loop), 0);
	c = connect_to(path);
	read_exact(c, got, sizeof(got));
	assert_memory_equal(got, out + sizeof(out) - sizeof(got), sizeof(got));
	close(c);
	evloop_stop(loop);
	pthread_join(th, NULL);
	chardev_close(cd);
	evloop_destroy(loop);
}

/* Without CHARDEV_REPLAY (virtio-console) a client gets only live output. */
static void test_socket_no_replay(void **state)
{
	struct chardev_opts o = { .name = "plain" };
	struct chardev_spec spec = { CHARDEV_SOCKET, NULL };
	struct error err = ERROR_INIT;
	struct evloop *loop;
	struct chardev *cd;
	char path[108], buf[8];
	pthread_t th;
	int c;

	tmpname(path, sizeof(path), "plain");
	spec.path = path;
	assert_int_equal(evloop_create(&loop), 0);
	assert_int_equal(chardev_open(&spec, &o, loop, &cd, &err), 0);
	chardev_write(cd, "lost", 4);
	assert_int_equal(pthread_create(&th, NULL, loop_main, loop), 0);
	c = connect_to(path);
	for (int i = 0; i < 5000 && chardev_write(cd, "!", 1) == 0; i++)
		usleep(1000);
	read_exact(c, buf, 1);
	assert_int_equal(buf[0], '!');
	close(c);
	evloop_stop(loop);
	pthread_join(th, NULL);
	chardev_close(cd);
	evloop_destroy(loop);

	/* A socket needs the event loop. */
	assert_int_equal(chardev_open(&spec, &o, NULL, &cd, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_appends),
		cmocka_unit_test(test_socket_replay),
		cmocka_unit_test(test_socket_replay_wraps),
		cmocka_unit_test(test_socket_no_replay),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
