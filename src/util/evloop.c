// SPDX-License-Identifier: MIT
/*
 * epoll event loop; see evloop.h.  Handlers live in an array indexed by
 * slot; the epoll data carries the slot plus a generation number so an
 * event that was already fetched for a handler removed meanwhile is
 * recognized as stale and dropped instead of calling freed state.
 *
 * Safe removal: the loop thread marks the slot it is dispatching
 * (`cur`, under the lock) for the duration of the call, and evloop_del
 * from another thread waits on `cond` while its slot is the one being
 * dispatched.  The loop thread itself never waits: a handler may delete
 * itself or any other handler.  Pause uses the same lock and condition:
 * the loop parks only between dispatches, with cur = EVLOOP_IDLE.
 */
#include "util/evloop.h"
#include "util/log.h"
#include "util/syscall-filter.h"
#include "util/util.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define EVLOOP_MAX_EVENTS 64
#define EVLOOP_IDLE (-1)
#define EVLOOP_POLLER (-2) /* cur while the poller runs */

struct evloop_handler {
	int fd; /* -1: free slot */
	uint32_t gen;
	evloop_fn fn;
	void *opaque;
	/* For timers: the user callback. */
	void (*timer_fn)(void *opaque);
};

struct evloop_call_item {
	void (*fn)(void *opaque);
	void *opaque;
	struct evloop_call_item *next;
};

struct evloop {
	int epfd;
	int wakefd;	      /* eventfd: stop, pause and cross-thread calls */
	pthread_mutex_t lock; /* everything below but `stop` */
	pthread_cond_t cond;  /* cur, parked or running changed */
	struct evloop_handler *handlers;
	unsigned int nr, cap;
	struct evloop_call_item *calls;
	volatile int stop; /* atomic: set from signal handlers too */

	bool running;		/* a thread is inside evloop_run() */
	pthread_t runner;	/* that thread */
	int cur;		/* slot being dispatched, or EVLOOP_IDLE/POLLER */
	unsigned int pause_req; /* evloop_pause() calls not yet resumed */
	bool parked;

	evloop_poll_fn poll;
	void *poll_opaque;
	uint64_t poll_ns;

	bool thread_started; /* evloop_thread_start() */
	pthread_t thread;
	char name[16];
	enum thread_role role;
};

static uint64_t evloop_key(unsigned int slot, uint32_t gen)
{
	return ((uint64_t)gen << 32) | slot;
}

static int evloop_find(struct evloop *loop, int fd)
{
	for (unsigned int i = 0; i < loop->nr; i++)
		if (loop->handlers[i].fd == fd)
			return (int)i;
	return -1;
}

static bool in_thread_locked(struct evloop *loop)
{
	return loop->running && pthread_equal(loop->runner, pthread_self());
}

bool evloop_in_thread(struct evloop *loop)
{
	bool r;

	pthread_mutex_lock(&loop->lock);
	r = in_thread_locked(loop);
	pthread_mutex_unlock(&loop->lock);
	return r;
}

/* Wait until `what` (a slot or EVLOOP_POLLER) is not being dispatched. */
static void wait_not_running_locked(struct evloop *loop, int what)
{
	if (in_thread_locked(loop))
		return;
	while (loop->running && loop->cur == what)
		pthread_cond_wait(&loop->cond, &loop->lock);
}

static void evloop_wake(struct evloop *loop)
{
	uint64_t one = 1;

	/* write(2) is async-signal-safe; the eventfd cannot overflow here. */
	if (write(loop->wakefd, &one, sizeof(one)) < 0) {
		/* Nothing useful to do: the flag is set and epoll will see it. */
	}
}

static void evloop_wake_handler(void *opaque, uint32_t events)
{
	struct evloop *loop = opaque;
	struct evloop_call_item *calls, *next;
	uint64_t v;

	if (read(loop->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("evloop: wake read: %s", strerror(errno));
	pthread_mutex_lock(&loop->lock);
	calls = loop->calls;
	loop->calls = NULL;
	pthread_mutex_unlock(&loop->lock);
	/* Run in submission order: the list was built LIFO. */
	struct evloop_call_item *rev = NULL;
	for (; calls; calls = next) {
		next = calls->next;
		calls->next = rev;
		rev = calls;
	}
	for (; rev; rev = next) {
		next = rev->next;
		rev->fn(rev->opaque);
		free(rev);
	}
}

int evloop_create(struct evloop **out)
{
	struct evloop *loop = calloc(1, sizeof(*loop));
	int ret;

	if (!loop)
		return -ENOMEM;
	pthread_mutex_init(&loop->lock, NULL);
	pthread_cond_init(&loop->cond, NULL);
	loop->cur = EVLOOP_IDLE;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	loop->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->epfd < 0 || loop->wakefd < 0) {
		ret = -errno;
		goto fail;
	}
	ret = evloop_add(loop, loop->wakefd, EPOLLIN, evloop_wake_handler, loop);
	if (ret)
		goto fail;
	*out = loop;
	return 0;
fail:
	if (loop->epfd >= 0)
		close(loop->epfd);
	if (loop->wakefd >= 0)
		close(loop->wakefd);
	free(loop->handlers);
	pthread_cond_destroy(&loop->cond);
	pthread_mutex_destroy(&loop->lock);
	free(loop);
	return ret;
}

void evloop_destroy(struct evloop *loop)
{
	struct evloop_call_item *c, *next;

	if (!loop)
		return;
	evloop_thread_stop(loop);
	/*
	 * Calls still queued are deferred frees and small teardown steps:
	 * run them (in LIFO order; they do not depend on each other).
	 */
	for (c = loop->calls; c; c = next) {
		next = c->next;
		c->fn(c->opaque);
		free(c);
	}
	for (unsigned int i = 0; i < loop->nr; i++)
		if (loop->handlers[i].timer_fn && loop->handlers[i].fd >= 0) {
			close(loop->handlers[i].fd);
			free(loop->handlers[i].opaque);
		}
	close(loop->epfd);
	close(loop->wakefd);
	free(loop->handlers);
	pthread_cond_destroy(&loop->cond);
	pthread_mutex_destroy(&loop->lock);
	free(loop);
}

static int evloop_add_locked(struct evloop *loop, int fd, uint32_t events, evloop_fn fn,
			     void *opaque, void (*timer_fn)(void *))
{
	struct epoll_event ev = { .events = events };
	unsigned int slot;

	if (evloop_find(loop, fd) >= 0)
		return -EEXIST;
	for (slot = 0; slot < loop->nr; slot++)
		if (loop->handlers[slot].fd < 0)
			break;
	if (slot == loop->nr) {
		if (loop->nr == loop->cap) {
			unsigned int cap = loop->cap ? loop->cap * 2 : 16;
			struct evloop_handler *h = realloc(loop->handlers, cap * sizeof(*h));

			if (!h)
				return -ENOMEM;
			loop->handlers = h;
			loop->cap = cap;
		}
		loop->handlers[slot].gen = 0;
		loop->nr++;
	}
	loop->handlers[slot].fd = fd;
	loop->handlers[slot].gen++;
	loop->handlers[slot].fn = fn;
	loop->handlers[slot].opaque = opaque;
	loop->handlers[slot].timer_fn = timer_fn;
	ev.data.u64 = evloop_key(slot, loop->handlers[slot].gen);
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		loop->handlers[slot].fd = -1;
		return -errno;
	}
	return 0;
}

int evloop_add(struct evloop *loop, int fd, uint32_t events, evloop_fn fn, void *opaque)
{
	int ret;

	pthread_mutex_lock(&loop->lock);
	ret = evloop_add_locked(loop, fd, events, fn, opaque, NULL);
	pthread_mutex_unlock(&loop->lock);
	return ret;
}

int evloop_mod(struct evloop *loop, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events };
	int slot, ret = 0;

	pthread_mutex_lock(&loop->lock);
	slot = evloop_find(loop, fd);
	if (slot < 0) {
		ret = -ENOENT;
	} else {
		ev.data.u64 = evloop_key((unsigned int)slot, loop->handlers[slot].gen);
		if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
			ret = -errno;
	}
	pthread_mutex_unlock(&loop->lock);
	return ret;
}

/* Take slot off epoll and out of the table; a stale event is dropped by gen. */
static void slot_remove_locked(struct evloop *loop, int slot)
{
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, loop->handlers[slot].fd, NULL);
	loop->handlers[slot].fd = -1;
	loop->handlers[slot].gen++;
	loop->handlers[slot].timer_fn = NULL;
}

int evloop_del(struct evloop *loop, int fd)
{
	int slot, ret = 0;

	pthread_mutex_lock(&loop->lock);
	slot = evloop_find(loop, fd);
	if (slot < 0) {
		ret = -ENOENT;
	} else {
		slot_remove_locked(loop, slot);
		/* Never called again; now wait for a call in progress. */
		wait_not_running_locked(loop, slot);
	}
	pthread_mutex_unlock(&loop->lock);
	return ret;
}

void evloop_set_poller(struct evloop *loop, uint64_t poll_ns, evloop_poll_fn fn, void *opaque)
{
	pthread_mutex_lock(&loop->lock);
	wait_not_running_locked(loop, EVLOOP_POLLER);
	loop->poll = fn;
	loop->poll_opaque = opaque;
	loop->poll_ns = fn ? poll_ns : 0;
	pthread_mutex_unlock(&loop->lock);
}

/*
 * Between dispatches, with the lock held: park while a pause is pending.
 * Returns false if the loop is to stop.
 */
static bool park_locked(struct evloop *loop)
{
	loop->cur = EVLOOP_IDLE;
	pthread_cond_broadcast(&loop->cond);
	if (!loop->pause_req)
		return true;
	loop->parked = true;
	pthread_cond_broadcast(&loop->cond);
	while (loop->pause_req && !__atomic_load_n(&loop->stop, __ATOMIC_ACQUIRE))
		pthread_cond_wait(&loop->cond, &loop->lock);
	loop->parked = false;
	return !__atomic_load_n(&loop->stop, __ATOMIC_ACQUIRE);
}

/* Dispatch one event; false if the loop is to stop. */
static bool dispatch(struct evloop *loop, const struct epoll_event *e)
{
	unsigned int slot = (uint32_t)e->data.u64;
	uint32_t gen = (uint32_t)(e->data.u64 >> 32);
	struct evloop_handler h;

	pthread_mutex_lock(&loop->lock);
	if (!park_locked(loop)) {
		pthread_mutex_unlock(&loop->lock);
		return false;
	}
	if (slot >= loop->nr || loop->handlers[slot].gen != gen || loop->handlers[slot].fd < 0) {
		pthread_mutex_unlock(&loop->lock);
		return true; /* removed after epoll_wait returned */
	}
	h = loop->handlers[slot];
	loop->cur = (int)slot;
	pthread_mutex_unlock(&loop->lock);
	h.fn(h.opaque, e->events);
	return true;
}

/*
 * One poll of the adaptive window (see evloop_set_poller).  *until is
 * the end of the window, 0 once the last poll turned notifications on.
 */
static void poll_once(struct evloop *loop, bool progress, uint64_t *until)
{
	evloop_poll_fn fn;
	void *opaque;
	uint64_t ns;
	bool polling;

	pthread_mutex_lock(&loop->lock);
	if (!park_locked(loop) || !loop->poll || !loop->poll_ns) {
		*until = 0;
		loop->cur = EVLOOP_IDLE;
		pthread_mutex_unlock(&loop->lock);
		return;
	}
	fn = loop->poll;
	opaque = loop->poll_opaque;
	ns = loop->poll_ns;
	loop->cur = EVLOOP_POLLER;
	pthread_mutex_unlock(&loop->lock);
	/*
	 * Poll while the window is open; a poll with progress (or an event)
	 * re-opens it.  The last poll of a window runs with polling=false so
	 * notifications are back on before we sleep.
	 */
	if (progress)
		*until = now_ns() + ns;
	polling = now_ns() < *until;
	if (fn(opaque, polling))
		*until = now_ns() + ns;
	else if (!polling)
		*until = 0;
}

int evloop_run(struct evloop *loop)
{
	struct epoll_event events[EVLOOP_MAX_EVENTS];
	uint64_t until = 0;
	int ret = 0;

	pthread_mutex_lock(&loop->lock);
	loop->running = true;
	loop->runner = pthread_self();
	pthread_mutex_unlock(&loop->lock);
	while (!__atomic_load_n(&loop->stop, __ATOMIC_ACQUIRE)) {
		bool polling, more = true;
		int n;

		pthread_mutex_lock(&loop->lock);
		more = park_locked(loop);
		/* until == 0: the last poll turned notifications back on. */
		polling = loop->poll && loop->poll_ns && until;
		pthread_mutex_unlock(&loop->lock);
		if (!more)
			break;
		n = epoll_wait(loop->epfd, events, EVLOOP_MAX_EVENTS, polling ? 0 : -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		for (int i = 0; i < n && more; i++)
			more = dispatch(loop, &events[i]);
		if (more)
			poll_once(loop, n > 0, &until);
	}
	pthread_mutex_lock(&loop->lock);
	loop->cur = EVLOOP_IDLE;
	loop->running = false;
	pthread_cond_broadcast(&loop->cond);
	pthread_mutex_unlock(&loop->lock);
	__atomic_store_n(&loop->stop, 0, __ATOMIC_RELEASE);
	return ret;
}

void evloop_stop(struct evloop *loop)
{
	__atomic_store_n(&loop->stop, 1, __ATOMIC_RELEASE);
	evloop_wake(loop);
}

void evloop_stop_release(struct evloop *loop)
{
	pthread_mutex_lock(&loop->lock);
	__atomic_store_n(&loop->stop, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&loop->cond); /* a parked loop sees the stop */
	pthread_mutex_unlock(&loop->lock);
	evloop_wake(loop);
}

int evloop_call(struct evloop *loop, void (*fn)(void *opaque), void *opaque)
{
	struct evloop_call_item *c = malloc(sizeof(*c));
	uint64_t one = 1;

	if (!c)
		return -ENOMEM;
	c->fn = fn;
	c->opaque = opaque;
	pthread_mutex_lock(&loop->lock);
	c->next = loop->calls;
	loop->calls = c;
	pthread_mutex_unlock(&loop->lock);
	if (write(loop->wakefd, &one, sizeof(one)) < 0)
		return -errno;
	return 0;
}

/* ---- pause / resume -------------------------------------------------------- */

int evloop_pause(struct evloop *loop)
{
	pthread_mutex_lock(&loop->lock);
	if (in_thread_locked(loop)) {
		pthread_mutex_unlock(&loop->lock);
		return -EDEADLK;
	}
	loop->pause_req++;
	evloop_wake(loop);
	while (loop->running && !loop->parked && !__atomic_load_n(&loop->stop, __ATOMIC_ACQUIRE))
		pthread_cond_wait(&loop->cond, &loop->lock);
	pthread_mutex_unlock(&loop->lock);
	return 0;
}

void evloop_resume(struct evloop *loop)
{
	pthread_mutex_lock(&loop->lock);
	if (loop->pause_req && !--loop->pause_req)
		pthread_cond_broadcast(&loop->cond);
	pthread_mutex_unlock(&loop->lock);
}

/* ---- a thread of its own --------------------------------------------------- */

static void *evloop_thread_main(void *arg)
{
	struct evloop *loop = arg;
	int ret;

	threads_register(loop->role, loop->name);
	/* Its loop only serves fds it was given (docs/seccomp.md). */
	ret = syscall_filter_install(loop->role);
	if (ret) {
		log_err("%s: no seccomp filter, the thread does not run", loop->name);
		threads_unregister();
		return NULL;
	}
	ret = evloop_run(loop);
	if (ret)
		log_warn("%s: event loop failed: %s", loop->name, strerror(-ret));
	threads_unregister();
	return NULL;
}

int evloop_thread_start(struct evloop *loop, const char *name, enum thread_role role)
{
	sigset_t all, old;
	int ret;

	if (loop->thread_started)
		return -EBUSY;
	snprintf(loop->name, sizeof(loop->name), "%s", name);
	loop->role = role;
	/*
	 * Signals belong to the main thread and the vCPU kicks: the thread
	 * starts with them blocked (it inherits our mask).  Not the fault
	 * signals: blocked, a fault kills the process outright (signal(7))
	 * and no handler runs, e.g. vhost-user's SIGBUS guard for frontend
	 * memory (src/vhost/guard.c) that an I/O thread touches.
	 */
	sigfillset(&all);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGSEGV);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = pthread_create(&loop->thread, NULL, evloop_thread_main, loop);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		return -ret;
	loop->thread_started = true;
	return 0;
}

void evloop_thread_stop(struct evloop *loop)
{
	if (!loop || !loop->thread_started)
		return;
	pthread_mutex_lock(&loop->lock);
	__atomic_store_n(&loop->stop, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&loop->cond); /* a parked loop sees the stop */
	pthread_mutex_unlock(&loop->lock);
	evloop_wake(loop);
	pthread_join(loop->thread, NULL);
	loop->thread_started = false;
}

/* ---- timers ---------------------------------------------------------------- */

struct evloop_timer {
	struct evloop *loop;
	int fd;
	bool periodic;
	void (*fn)(void *opaque);
	void *opaque;
};

static void evloop_timer_fire(void *opaque, uint32_t events)
{
	struct evloop_timer *t = opaque;
	uint64_t expirations;
	void (*fn)(void *) = t->fn;
	void *arg = t->opaque;

	if (read(t->fd, &expirations, sizeof(expirations)) < 0)
		return;
	/* From here on t may be freed (a one-shot cancels itself). */
	if (!t->periodic)
		evloop_timer_cancel(t->loop, t->fd);
	fn(arg);
}

int evloop_timer_add(struct evloop *loop, uint64_t first_ns, uint64_t period_ns,
		     void (*fn)(void *opaque), void *opaque)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = (time_t)(first_ns / 1000000000ull),
			      .tv_nsec = (long)(first_ns % 1000000000ull) },
		.it_interval = { .tv_sec = (time_t)(period_ns / 1000000000ull),
				 .tv_nsec = (long)(period_ns % 1000000000ull) },
	};
	struct evloop_timer *t;
	int fd, ret;

	if (!first_ns)
		its.it_value.tv_nsec = 1; /* 0 would disarm the timer */
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (fd < 0) {
		free(t);
		return -errno;
	}
	t->loop = loop;
	t->fd = fd;
	t->periodic = period_ns != 0;
	t->fn = fn;
	t->opaque = opaque;
	if (timerfd_settime(fd, 0, &its, NULL) < 0) {
		ret = -errno;
		goto fail;
	}
	pthread_mutex_lock(&loop->lock);
	ret = evloop_add_locked(loop, fd, EPOLLIN, evloop_timer_fire, t, (void (*)(void *))free);
	pthread_mutex_unlock(&loop->lock);
	if (ret)
		goto fail;
	return fd;
fail:
	close(fd);
	free(t);
	return ret;
}

static void evloop_timer_free(void *opaque)
{
	struct evloop_timer *t = opaque;

	close(t->fd);
	free(t);
}

void evloop_timer_cancel(struct evloop *loop, int timer)
{
	struct evloop_timer *t = NULL;
	bool busy = false;
	int slot;

	pthread_mutex_lock(&loop->lock);
	slot = evloop_find(loop, timer);
	if (slot >= 0 && loop->handlers[slot].timer_fn) {
		t = loop->handlers[slot].opaque;
		busy = loop->cur == slot && !in_thread_locked(loop);
		slot_remove_locked(loop, slot);
	}
	pthread_mutex_unlock(&loop->lock);
	if (!t)
		return;
	/*
	 * The loop thread may be inside this timer's handler right now
	 * (cancel from another thread, which must not wait: the callers
	 * cancel under device locks the callback takes).  Then the timer
	 * (its fd too, which the handler reads) is freed on the loop, after
	 * the current dispatch; if that cannot be queued, leak it rather
	 * than risk a use after free.
	 */
	if (!busy)
		evloop_timer_free(t);
	else if (evloop_call(loop, evloop_timer_free, t))
		log_warn("evloop: timer %d leaked", timer);
}
