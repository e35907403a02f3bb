// SPDX-License-Identifier: MIT
/*
 * epoll event loop.  Handlers live in a small array indexed by slot; the
 * epoll data carries the slot plus a generation number so an event that
 * was already fetched for a handler removed meanwhile is recognized as
 * stale and dropped instead of calling freed state.
 */
#include "util/evloop.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define EVLOOP_MAX_EVENTS 64

struct evloop_handler {
	int fd;			/* -1: free slot */
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
	int wakefd;		/* eventfd: stop and cross-thread calls */
	pthread_mutex_t lock;
	struct evloop_handler *handlers;
	unsigned int nr, cap;
	struct evloop_call_item *calls;
	volatile int stop;
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
	free(loop);
	return ret;
}

void evloop_destroy(struct evloop *loop)
{
	struct evloop_call_item *c, *next;

	if (!loop)
		return;
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

int evloop_del(struct evloop *loop, int fd)
{
	int slot, ret = 0;

	pthread_mutex_lock(&loop->lock);
	slot = evloop_find(loop, fd);
	if (slot < 0) {
		ret = -ENOENT;
	} else {
		epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
		loop->handlers[slot].fd = -1;
		loop->handlers[slot].gen++;
	}
	pthread_mutex_unlock(&loop->lock);
	return ret;
}

int evloop_run(struct evloop *loop)
{
	struct epoll_event events[EVLOOP_MAX_EVENTS];

	while (!__atomic_load_n(&loop->stop, __ATOMIC_ACQUIRE)) {
		int n = epoll_wait(loop->epfd, events, EVLOOP_MAX_EVENTS, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			unsigned int slot = (uint32_t)events[i].data.u64;
			uint32_t gen = (uint32_t)(events[i].data.u64 >> 32);
			struct evloop_handler h;

			pthread_mutex_lock(&loop->lock);
			if (slot >= loop->nr || loop->handlers[slot].gen != gen ||
			    loop->handlers[slot].fd < 0) {
				pthread_mutex_unlock(&loop->lock);
				continue;	/* removed after epoll_wait returned */
			}
			h = loop->handlers[slot];
			pthread_mutex_unlock(&loop->lock);
			h.fn(h.opaque, events[i].events);
		}
	}
	__atomic_store_n(&loop->stop, 0, __ATOMIC_RELEASE);
	return 0;
}

void evloop_stop(struct evloop *loop)
{
	uint64_t one = 1;

	__atomic_store_n(&loop->stop, 1, __ATOMIC_RELEASE);
	/* write(2) is async-signal-safe; the eventfd cannot overflow here. */
	if (write(loop->wakefd, &one, sizeof(one)) < 0) {
		/* Nothing useful to do: the flag is set and epoll will see it. */
	}
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
		its.it_value.tv_nsec = 1;	/* 0 would disarm the timer */
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
	ret = evloop_add_locked(loop, fd, EPOLLIN, evloop_timer_fire, t,
				(void (*)(void *))free);
	pthread_mutex_unlock(&loop->lock);
	if (ret)
		goto fail;
	return fd;
fail:
	close(fd);
	free(t);
	return ret;
}

void evloop_timer_cancel(struct evloop *loop, int timer)
{
	void *opaque = NULL;
	int slot;

	pthread_mutex_lock(&loop->lock);
	slot = evloop_find(loop, timer);
	if (slot >= 0 && loop->handlers[slot].timer_fn) {
		opaque = loop->handlers[slot].opaque;
		epoll_ctl(loop->epfd, EPOLL_CTL_DEL, timer, NULL);
		loop->handlers[slot].fd = -1;
		loop->handlers[slot].gen++;
		loop->handlers[slot].timer_fn = NULL;
	}
	pthread_mutex_unlock(&loop->lock);
	if (opaque) {
		close(timer);
		/*
		 * The loop thread may be inside this timer's handler right now
		 * (cancel from another thread), so free the timer on the loop,
		 * after the current dispatch finishes.  If that cannot be
		 * queued, leak it rather than risk a use after free.
		 */
		if (evloop_call(loop, free, opaque))
			log_warn("evloop: timer %d leaked", timer);
	}
}
