// SPDX-License-Identifier: MIT
/*
 * The event loop (util/evloop.h) and the thread registry (util/threads.h):
 * safe removal from another thread and from inside a handler, modify,
 * timers, cross-thread calls, pause/resume, the polling hook and loop
 * threads.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/evloop.h"
#include "util/threads.h"

/* Counters shared with the loop threads. */
#define LD(x) __atomic_load_n(&(x), __ATOMIC_SEQ_CST)
#define ST(x, v) __atomic_store_n(&(x), (v), __ATOMIC_SEQ_CST)
#define INC(x) __atomic_add_fetch(&(x), 1, __ATOMIC_SEQ_CST)

struct ev {
	struct evloop *loop;
	int fd;
	volatile int calls;    /* handler entered */
	volatile int finished; /* handler returned */
	unsigned int sleep_us; /* in the handler */
	bool del_self;
	int del_ret;
};

static void ev_handler(void *opaque, uint32_t events)
{
	struct ev *e = opaque;
	uint64_t v;

	__atomic_add_fetch(&e->calls, 1, __ATOMIC_SEQ_CST);
	if (read(e->fd, &v, sizeof(v)) < 0) {
		/* drained meanwhile: fine */
	}
	if (e->sleep_us)
		usleep(e->sleep_us);
	if (e->del_self)
		ST(e->del_ret, evloop_del(e->loop, e->fd));
	__atomic_add_fetch(&e->finished, 1, __ATOMIC_SEQ_CST);
}

static void kick(int fd)
{
	uint64_t one = 1;

	assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
}

/* Wait (bounded) until *v >= want. */
static bool wait_for(volatile int *v, int want)
{
	for (int i = 0; i < 2000; i++) {
		if (__atomic_load_n(v, __ATOMIC_SEQ_CST) >= want)
			return true;
		usleep(1000);
	}
	return false;
}

static struct evloop *start_loop(const char *name)
{
	struct evloop *loop;

	assert_int_equal(evloop_create(&loop), 0);
	assert_int_equal(evloop_thread_start(loop, name, THREAD_IOTHREAD), 0);
	return loop;
}

static void ev_init(struct ev *e, struct evloop *loop)
{
	memset(e, 0, sizeof(*e));
	e->loop = loop;
	e->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(e->fd >= 0);
}

/* evloop_del from another thread waits for the running handler. */
static void test_del_while_running(void **state)
{
	struct evloop *loop = start_loop("t-del");
	struct ev e;

	ev_init(&e, loop);
	e.sleep_us = 100000;
	assert_int_equal(evloop_add(loop, e.fd, EPOLLIN, ev_handler, &e), 0);
	kick(e.fd);
	assert_true(wait_for(&e.calls, 1));
	assert_int_equal(LD(e.finished), 0); /* still sleeping in the handler */
	assert_int_equal(evloop_del(loop, e.fd), 0);
	/* When evloop_del returns the handler is not running... */
	assert_int_equal(LD(e.finished), 1);
	/* ...and never runs again. */
	kick(e.fd);
	usleep(50000);
	assert_int_equal(LD(e.calls), 1);
	assert_int_equal(evloop_del(loop, e.fd), -ENOENT);
	evloop_thread_stop(loop);
	evloop_destroy(loop);
	close(e.fd);
}

/* A handler deletes itself: no deadlock, never called again. */
static void test_del_from_handler(void **state)
{
	struct evloop *loop = start_loop("t-self");
	struct ev e;

	ev_init(&e, loop);
	e.del_self = true;
	e.del_ret = 1;
	assert_int_equal(evloop_add(loop, e.fd, EPOLLIN, ev_handler, &e), 0);
	kick(e.fd);
	assert_true(wait_for(&e.finished, 1));
	assert_int_equal(LD(e.del_ret), 0);
	kick(e.fd);
	usleep(30000);
	assert_int_equal(LD(e.calls), 1);
	evloop_thread_stop(loop);
	evloop_destroy(loop);
	close(e.fd);
}

static void test_modify(void **state)
{
	struct evloop *loop = start_loop("t-mod");
	struct ev e;

	ev_init(&e, loop);
	assert_int_equal(evloop_add(loop, e.fd, 0, ev_handler, &e), 0);
	assert_int_equal(evloop_add(loop, e.fd, EPOLLIN, ev_handler, &e), -EEXIST);
	kick(e.fd);
	usleep(30000);
	assert_int_equal(LD(e.calls), 0); /* not watching input */
	assert_int_equal(evloop_mod(loop, e.fd, EPOLLIN), 0);
	assert_true(wait_for(&e.calls, 1));
	assert_int_equal(evloop_mod(loop, e.fd, 0), 0);
	kick(e.fd);
	usleep(30000);
	assert_int_equal(LD(e.calls), 1);
	assert_int_equal(evloop_mod(loop, -5, EPOLLIN), -ENOENT);
	assert_int_equal(evloop_del(loop, e.fd), 0);
	evloop_thread_stop(loop);
	evloop_destroy(loop);
	close(e.fd);
}

static void count_cb(void *opaque)
{
	__atomic_add_fetch((volatile int *)opaque, 1, __ATOMIC_SEQ_CST);
}

static void test_timers(void **state)
{
	struct evloop *loop = start_loop("t-timer");
	volatile int once = 0, periodic = 0, cancelled = 0;
	int t1, t2, t3;

	t1 = evloop_timer_add(loop, 1000000, 0, count_cb, (void *)&once);
	t2 = evloop_timer_add(loop, 1000000, 2000000, count_cb, (void *)&periodic);
	t3 = evloop_timer_add(loop, 500000000, 0, count_cb, (void *)&cancelled);
	assert_true(t1 >= 0 && t2 >= 0 && t3 >= 0);
	evloop_timer_cancel(loop, t3); /* from another thread, before it fires */
	assert_true(wait_for(&periodic, 3));
	assert_int_equal(LD(once), 1);
	evloop_timer_cancel(loop, t2);
	int n = LD(periodic);
	usleep(20000);
	assert_true(LD(periodic) <= n + 1); /* one may have been running */
	assert_int_equal(LD(once), 1);
	assert_int_equal(LD(cancelled), 0);
	evloop_timer_cancel(loop, t1); /* fired and gone: a no-op */
	evloop_thread_stop(loop);
	evloop_destroy(loop);
}

struct order {
	volatile int n;
	int seen[8];
};

static struct order ord;

static void order_cb(void *opaque)
{
	ord.seen[LD(ord.n)] = (int)(intptr_t)opaque;
	__atomic_add_fetch(&ord.n, 1, __ATOMIC_SEQ_CST);
}

static pid_t loop_tid;

static void tid_cb(void *opaque)
{
	ST(loop_tid, (pid_t)syscall(SYS_gettid));
	assert_true(evloop_in_thread(opaque));
}

static void test_calls(void **state)
{
	struct evloop *loop = start_loop("t-call");

	memset(&ord, 0, sizeof(ord));
	for (int i = 0; i < 8; i++)
		assert_int_equal(evloop_call(loop, order_cb, (void *)(intptr_t)i), 0);
	assert_true(wait_for(&ord.n, 8));
	for (int i = 0; i < 8; i++)
		assert_int_equal(ord.seen[i], i); /* submission order */
	assert_false(evloop_in_thread(loop));
	ST(loop_tid, 0);
	assert_int_equal(evloop_call(loop, tid_cb, loop), 0);
	for (int i = 0; i < 2000 && !__atomic_load_n(&loop_tid, __ATOMIC_SEQ_CST); i++)
		usleep(1000);
	assert_true(LD(loop_tid) > 0 && LD(loop_tid) != (pid_t)syscall(SYS_gettid));
	evloop_thread_stop(loop);
	evloop_destroy(loop);
}

static int self_pause_ret;

static void self_pause_cb(void *opaque)
{
	ST(self_pause_ret, evloop_pause(opaque));
}

static void test_pause(void **state)
{
	struct evloop *loop;
	struct ev e;
	volatile int done = 0;

	/* Paused before it runs: the loop parks before dispatching. */
	assert_int_equal(evloop_create(&loop), 0);
	ev_init(&e, loop);
	assert_int_equal(evloop_add(loop, e.fd, EPOLLIN, ev_handler, &e), 0);
	assert_int_equal(evloop_pause(loop), 0);
	kick(e.fd);
	assert_int_equal(evloop_thread_start(loop, "t-pause", THREAD_IOTHREAD), 0);
	usleep(30000);
	assert_int_equal(LD(e.calls), 0);
	evloop_resume(loop);
	assert_true(wait_for(&e.finished, 1));

	/* Paused while running: nothing runs until resume, then all of it. */
	e.sleep_us = 20000;
	kick(e.fd);
	assert_true(wait_for(&e.calls, 2));
	assert_int_equal(evloop_pause(loop), 0); /* waits for the handler */
	assert_int_equal(LD(e.finished), 2);
	assert_int_equal(evloop_pause(loop), 0); /* nests */
	kick(e.fd);
	assert_int_equal(evloop_call(loop, count_cb, (void *)&done), 0);
	usleep(30000);
	assert_int_equal(LD(e.calls), 2);
	assert_int_equal(LD(done), 0);
	evloop_resume(loop);
	usleep(30000);
	assert_int_equal(LD(e.calls), 2); /* one pause still holds it */
	evloop_resume(loop);
	assert_true(wait_for(&e.finished, 3));
	assert_true(wait_for(&done, 1));
	evloop_resume(loop); /* unbalanced: ignored */

	/* From the loop's own thread: refused, not a hang. */
	ST(self_pause_ret, 1);
	assert_int_equal(evloop_call(loop, self_pause_cb, loop), 0);
	for (int i = 0; i < 2000 && LD(self_pause_ret) == 1; i++)
		usleep(1000);
	assert_int_equal(LD(self_pause_ret), -EDEADLK);

	/* A stop releases a paused loop. */
	assert_int_equal(evloop_pause(loop), 0);
	evloop_thread_stop(loop);
	evloop_resume(loop);
	evloop_destroy(loop);
	close(e.fd);
}

struct iot {
	int efd;
	volatile int handled, polls, final_polls;
	volatile int work; /* poller "finds" this many items */
};

static void iot_handler(void *opaque, uint32_t events)
{
	struct iot *t = opaque;
	uint64_t v;

	if (read(t->efd, &v, sizeof(v)) == sizeof(v))
		INC(t->handled);
	ST(t->work, 3);
}

static bool iot_poll(void *opaque, bool polling)
{
	struct iot *t = opaque;

	INC(t->polls);
	if (!polling)
		INC(t->final_polls);
	if (LD(t->work) > 0) {
		ST(t->work, LD(t->work) - 1);
		return true;
	}
	return false;
}

/* The polling hook: drain after events, a final poll, then sleep. */
static void test_poller(void **state)
{
	struct evloop *loop;
	struct iot t = { 0 };

	t.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_int_equal(evloop_create(&loop), 0);
	evloop_set_poller(loop, 20000, iot_poll, &t);
	assert_int_equal(evloop_add(loop, t.efd, EPOLLIN, iot_handler, &t), 0);
	assert_int_equal(evloop_thread_start(loop, "t-poll", THREAD_IOTHREAD), 0);
	assert_int_equal(evloop_thread_start(loop, "t-poll", THREAD_IOTHREAD), -EBUSY);
	kick(t.efd);
	for (int i = 0; i < 200 && (LD(t.handled) < 1 || LD(t.final_polls) < 1); i++)
		usleep(5000);
	/* The event ran, the poller drained the work, then a final poll
	 * (notifications back on) before the thread slept. */
	assert_int_equal(LD(t.handled), 1);
	assert_int_equal(LD(t.work), 0);
	assert_true(LD(t.polls) >= 4);
	assert_true(LD(t.final_polls) >= 1);
	int polls = LD(t.polls);
	usleep(50000);
	assert_int_equal(LD(t.polls), polls); /* asleep: no busy polling */
	/* Removing the poller: it never runs again. */
	evloop_set_poller(loop, 0, NULL, NULL);
	kick(t.efd);
	for (int i = 0; i < 200 && LD(t.handled) < 2; i++)
		usleep(5000);
	usleep(20000);
	assert_int_equal(LD(t.polls), polls);
	evloop_thread_stop(loop);
	evloop_thread_stop(loop); /* idempotent */
	evloop_destroy(loop);
	close(t.efd);
}

static void test_registry(void **state)
{
	struct thread_info info, list[64];
	pid_t me = (pid_t)syscall(SYS_gettid);
	struct evloop *loop;
	cpu_set_t set;
	size_t n;

	assert_int_equal(threads_find(me, &info), -ENOENT);
	assert_int_equal(threads_register(THREAD_HELPER, NULL), 0);
	assert_int_equal(threads_find(me, &info), 0);
	assert_int_equal(info.role, THREAD_HELPER);
	assert_true(pthread_equal(info.thread, pthread_self()));
	assert_int_equal(threads_register(THREAD_MAIN, NULL), 0); /* updates */
	assert_int_equal(threads_find(me, &info), 0);
	assert_int_equal(info.role, THREAD_MAIN);
	n = threads_list(NULL, 0);

	/* A loop thread registers with its role and name while it runs. */
	loop = start_loop("t-reg");
	ST(loop_tid, 0);
	assert_int_equal(evloop_call(loop, tid_cb, loop), 0);
	for (int i = 0; i < 2000 && !__atomic_load_n(&loop_tid, __ATOMIC_SEQ_CST); i++)
		usleep(1000);
	assert_int_equal(threads_find(LD(loop_tid), &info), 0);
	assert_int_equal(info.role, THREAD_IOTHREAD);
	assert_string_equal(info.name, "t-reg");
	assert_int_equal(threads_list(list, 64), n + 1);

	/* Affinity by role: the loop thread, not this one. */
	assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
	if (CPU_COUNT(&set) >= 2) {
		cpu_set_t one, got;
		int cpu = 0;

		while (!CPU_ISSET(cpu, &set))
			cpu++;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		assert_int_equal(threads_set_affinity(THREAD_ROLE_BIT(THREAD_IOTHREAD), &one), 0);
		assert_int_equal(sched_getaffinity(LD(loop_tid), sizeof(got), &got), 0);
		assert_true(CPU_EQUAL(&got, &one));
		assert_int_equal(sched_getaffinity(0, sizeof(got), &got), 0);
		assert_true(CPU_EQUAL(&got, &set)); /* THREAD_MAIN: not in the mask */
	}
	assert_int_equal(threads_set_affinity(THREAD_ROLE_BIT(THREAD_IOTHREAD), &set), 0);
	evloop_thread_stop(loop);
	assert_int_equal(threads_find(LD(loop_tid), &info), -ENOENT);
	assert_int_equal(threads_list(NULL, 0), n);
	evloop_destroy(loop);

	assert_string_equal(thread_role_name(THREAD_VCPU), "vcpu");
	assert_string_equal(thread_role_name(THREAD_ROLE_MAX), "?");
	threads_unregister();
	assert_int_equal(threads_find(me, &info), -ENOENT);
}

/* The main loop's way: evloop_run on the caller's thread, stop from a call. */
static void stop_cb(void *opaque)
{
	evloop_stop(opaque);
}

static void test_run_here(void **state)
{
	struct evloop *loop;

	assert_int_equal(evloop_create(&loop), 0);
	assert_false(evloop_in_thread(loop));
	assert_int_equal(evloop_call(loop, stop_cb, loop), 0);
	assert_int_equal(evloop_run(loop), 0);
	evloop_thread_stop(loop); /* never started: a no-op */
	evloop_destroy(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_del_while_running),
		cmocka_unit_test(test_del_from_handler),
		cmocka_unit_test(test_modify),
		cmocka_unit_test(test_timers),
		cmocka_unit_test(test_calls),
		cmocka_unit_test(test_pause),
		cmocka_unit_test(test_poller),
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_run_here),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
