// SPDX-License-Identifier: MIT
/*
 * State directory of the daemonless manager: paths, locking between
 * processes, pid + start time liveness, crash detection, the dedicated-CPU
 * registry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mgmt/state.h"

static char root[256];

static int setup(void **state)
{
	const char *dir = getenv("UNIT_TMPDIR");

	snprintf(root, sizeof(root), "%s/state-%d", dir ? dir : "/tmp", (int)getpid());
	setenv("VESSEL_STATE_DIR", root, 1);
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_def(const struct state_vm *v)
{
	int fd = open(v->def, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{}", 2), 2);
	close(fd);
}

static void test_paths(void **state)
{
	struct state_dirs d;
	struct state_vm v;
	char want[300];
	struct stat sb;

	assert_int_equal(state_dirs_init(&d), 0);
	snprintf(want, sizeof(want), "%s/run", root);
	assert_string_equal(d.run, want);
	assert_int_equal(stat(d.data, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	assert_int_equal(state_vm_init(&d, "web-1", &v), 0);
	snprintf(want, sizeof(want), "%s/run/web-1/api.sock", root);
	assert_string_equal(v.api, want);
	assert_int_equal(state_vm_init(&d, "../x", &v), -EINVAL);
	assert_int_equal(state_vm_init(&d, "", &v), -EINVAL);
	assert_int_equal(state_vm_init(&d, "-rf", &v), -EINVAL);
	assert_int_equal(state_vm_init(&d, "a/b", &v), -EINVAL);
	assert_false(
		state_name_valid("0123456789012345678901234567890123456789012345678901234567890"
				 "1234"));
	assert_true(state_name_valid("a.b_c-d"));
}

static void test_lock_between_processes(void **state)
{
	struct state_dirs d;
	struct state_vm v;
	int fd, p[2], st;
	pid_t child;
	char c;

	assert_int_equal(state_dirs_init(&d), 0);
	assert_int_equal(state_vm_init(&d, "lk", &v), 0);
	assert_int_equal(pipe(p), 0);
	child = fork();
	if (child == 0) {
		int cfd = state_lock(v.lock, 1000);

		if (write(p[1], "x", 1) != 1 || cfd < 0)
			_exit(1);
		usleep(300000);
		state_unlock(cfd);
		_exit(0);
	}
	assert_int_equal(read(p[0], &c, 1), 1);
	/* Held by the child: a short wait times out, a longer one gets it. */
	assert_int_equal(state_lock(v.lock, 50), -ETIMEDOUT);
	fd = state_lock(v.lock, 5000);
	assert_true(fd >= 0);
	state_unlock(fd);
	waitpid(child, &st, 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(p[0]);
	close(p[1]);
}

/*
 * A lock file removed by its holder (state_lock_drop): the process that
 * was waiting on the old file must end up holding the new one, so a third
 * process cannot take the lock at the same time.
 */
static void test_lock_drop_hands_over(void **state)
{
	struct state_dirs d;
	struct state_vm v;
	int fd, p[2], q[2], st;
	pid_t child;
	char c;

	assert_int_equal(state_dirs_init(&d), 0);
	assert_int_equal(state_vm_init(&d, "drop", &v), 0);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(pipe(q), 0);
	fd = state_lock(v.lock, 1000);
	assert_true(fd >= 0);
	child = fork();
	if (child == 0) {
		/* Opens the file we hold, waits, and must come out holding the new one. */
		int cfd;

		close(q[1]); /* our parent's exit, even a failed test's, ends the read */
		cfd = state_lock(v.lock, 5000);

		if (write(p[1], "x", 1) != 1 || cfd < 0)
			_exit(1);
		if (read(q[0], &c, 1) != 1)
			_exit(2);
		state_unlock(cfd);
		_exit(0);
	}
	usleep(100000); /* the child is waiting on our file now */
	state_lock_drop(v.lock, fd);
	assert_int_equal(read(p[0], &c, 1), 1);
	/* The child holds it: we cannot take it beside it. */
	assert_int_equal(state_lock(v.lock, 100), -ETIMEDOUT);
	assert_int_equal(write(q[1], "x", 1), 1);
	waitpid(child, &st, 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	fd = state_lock(v.lock, 1000);
	assert_true(fd >= 0);
	state_lock_drop(v.lock, fd);
	assert_int_equal(access(v.lock, F_OK), -1);
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
}

static void test_status_and_crash_detection(void **state)
{
	struct state_dirs d;
	struct state_vm v;
	uint64_t st, me;
	pid_t pid, child;
	int s;

	assert_int_equal(state_dirs_init(&d), 0);
	assert_int_equal(state_vm_init(&d, "vm1", &v), 0);
	assert_int_equal(state_vm_status(&v, NULL), STATE_UNDEFINED);
	write_def(&v);
	assert_int_equal(state_vm_status(&v, NULL), STATE_SHUTOFF);

	/* A live process with the right start time is running. */
	child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	assert_int_equal(state_proc_starttime(child, &st), 0);
	assert_int_equal(state_write_pid(&v, child, st), 0);
	assert_int_equal(state_vm_status(&v, &pid), STATE_RUNNING);
	assert_int_equal(pid, child);
	assert_true(state_proc_uptime(child) >= 0);
	/* The same pid with another start time is someone else (pid reuse). */
	assert_int_equal(state_write_pid(&v, child, st + 1), 0);
	assert_int_equal(state_vm_status(&v, NULL), STATE_CRASHED);
	assert_int_equal(state_write_pid(&v, child, st), 0);

	/* Dead (and reaped): the pid file is stale. */
	kill(child, SIGKILL);
	waitpid(child, &s, 0);
	assert_false(state_pid_alive(child, st));
	assert_int_equal(state_proc_starttime(child, &st), -ESRCH);
	assert_int_equal(state_vm_status(&v, NULL), STATE_CRASHED);
	state_vm_clean(&v);
	assert_int_equal(state_vm_status(&v, NULL), STATE_SHUTOFF);
	assert_int_equal(state_write_exit(&v, "crashed", "killed by signal 9"), 0);
	assert_int_equal(state_vm_status(&v, NULL), STATE_CRASHED);
	assert_int_equal(state_write_exit(&v, "shutoff", "exit status 0"), 0);
	assert_int_equal(state_vm_status(&v, NULL), STATE_SHUTOFF);

	assert_int_equal(state_proc_starttime(getpid(), &me), 0);
	assert_true(state_pid_alive(getpid(), me));
	assert_string_equal(state_status_name(STATE_SHUTOFF), "shut off");
}

static void test_list_defined(void **state)
{
	const char *names[] = { "zeta", "alpha", "mid" };
	struct state_dirs d;
	char **out;
	size_t n;

	assert_int_equal(state_dirs_init(&d), 0);
	for (size_t i = 0; i < 3; i++) {
		struct state_vm v;

		assert_int_equal(state_vm_init(&d, names[i], &v), 0);
		write_def(&v);
	}
	assert_int_equal(state_list_defined(&d, &out, &n), 0);
	assert_true(n >= 3);
	for (size_t i = 1; i < n; i++)
		assert_true(strcmp(out[i - 1], out[i]) < 0);
	state_names_free(out, n);
}

static void test_dedicated_registry(void **state)
{
	struct state_dirs d;
	cpu_set_t a, b, all, got;
	char owner[80];
	int fd;
	struct state_vm va;

	assert_int_equal(state_dirs_init(&d), 0);
	assert_int_equal(state_vm_init(&d, "da", &va), 0);
	CPU_ZERO(&a);
	CPU_SET(2, &a);
	CPU_ZERO(&all);
	for (int i = 0; i < 4; i++)
		CPU_SET(i, &all);
	/* A claim stays while its VM's lock is held (a start in progress). */
	fd = state_lock(va.lock, 1000);
	assert_true(fd >= 0);
	assert_int_equal(state_dedicated_claim(&d, "da", &a, 0, NULL, &got, owner, sizeof(owner)),
			 0);
	CPU_ZERO(&b);
	CPU_SET(2, &b);
	CPU_SET(3, &b);
	assert_int_equal(state_dedicated_claim(&d, "db", &b, 0, NULL, NULL, owner, sizeof(owner)),
			 -EBUSY);
	assert_string_equal(owner, "da");
	/* Auto-pick skips CPU 2. */
	assert_int_equal(state_dedicated_claim(&d, "dc", NULL, 3, &all, &got, owner, sizeof(owner)),
			 0);
	assert_true(CPU_ISSET(0, &got) && CPU_ISSET(1, &got) && CPU_ISSET(3, &got));
	assert_false(CPU_ISSET(2, &got));
	/* "dc" is neither running nor locked: its claim is dropped on the next call. */
	state_unlock(fd);
	/* Without the lock "da" is gone too: everything is free again. */
	assert_int_equal(state_dedicated_claim(&d, "db", &b, 0, NULL, NULL, owner, sizeof(owner)),
			 0);
	state_dedicated_release(&d, "db");
}

/*
 * A run or data directory someone else could have made (/tmp/vessel-UID
 * before our first run) is refused with a reason, never used or fixed:
 * world-writable, group-readable, a symlink, or another user's.
 */
static void test_dirs_must_be_private(void **state)
{
	struct state_dirs d;
	char run[300], lib[300], elsewhere[300];

	snprintf(run, sizeof(run), "%s/run", root);
	snprintf(lib, sizeof(lib), "%s/lib", root);
	snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere", root);
	assert_int_equal(state_dirs_init(&d), 0);

	assert_int_equal(chmod(run, 0777), 0);
	assert_int_equal(state_dirs_init(&d), -EPERM);
	assert_non_null(strstr(d.err, run));
	assert_non_null(strstr(d.err, "mode 0777"));
	assert_int_equal(chmod(run, 0750), 0);
	assert_int_equal(state_dirs_init(&d), -EPERM);
	assert_int_equal(chmod(run, 0700), 0);
	assert_int_equal(chmod(lib, 0755), 0);
	assert_int_equal(state_dirs_init(&d), -EPERM);
	assert_non_null(strstr(d.err, lib));
	assert_int_equal(chmod(lib, 0700), 0);
	assert_int_equal(state_dirs_init(&d), 0);
	assert_string_equal(d.err, "");

	/* A symlink to a private-looking directory is not followed. */
	assert_int_equal(rename(run, elsewhere), 0);
	assert_int_equal(symlink(elsewhere, run), 0);
	assert_int_equal(state_dirs_init(&d), -ELOOP);
	assert_non_null(strstr(d.err, "symbolic link"));
	assert_int_equal(unlink(run), 0);
	assert_int_equal(rename(elsewhere, run), 0);

	/* Not a directory at all. */
	assert_int_equal(rename(run, elsewhere), 0);
	close(open(run, O_WRONLY | O_CREAT, 0600));
	assert_int_equal(state_dirs_init(&d), -ENOTDIR);
	assert_int_equal(unlink(run), 0);
	assert_int_equal(rename(elsewhere, run), 0);

	/* Owned by another user (needs root to make one). */
	if (geteuid() == 0) {
		assert_int_equal(chown(run, 65534, 65534), 0);
		assert_int_equal(state_dirs_init(&d), -EPERM);
		assert_non_null(strstr(d.err, "owned by uid 65534"));
		assert_int_equal(chown(run, 0, 0), 0);
	}
	assert_int_equal(state_dirs_init(&d), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_lock_between_processes),
		cmocka_unit_test(test_lock_drop_hands_over),
		cmocka_unit_test(test_status_and_crash_detection),
		cmocka_unit_test(test_list_defined),
		cmocka_unit_test(test_dedicated_registry),
		cmocka_unit_test(test_dirs_must_be_private),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
