// SPDX-License-Identifier: MIT
/*
 * Per-device I/O thread with adaptive polling; see iothread.h.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/log.h"
#include "util/util.h"
#include "virtio/iothread.h"

#define MAX_HANDLERS 72

struct vio_handler {
	int fd;
	evloop_fn fn;
	void *opaque;
};

struct viothread {
	char name[16];
	int epfd;
	int stopfd;
	pthread_t thread;
	bool running;
	uint64_t poll_ns;
	viothread_poll_fn poll;
	void *poll_opaque;
	pthread_mutex_t lock; /* handlers[] changes */
	struct vio_handler handlers[MAX_HANDLERS];
	unsigned int nr;
};

int viothread_create(const char *name, uint64_t poll_ns, struct viothread **out)
{
	struct viothread *t = calloc(1, sizeof(*t));
	struct epoll_event ev = { .events = EPOLLIN };

	if (!t)
		return -ENOMEM;
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->poll_ns = poll_ns;
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	t->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->epfd < 0 || t->stopfd < 0)
		goto fail;
	ev.data.ptr = NULL; /* NULL marks the stop eventfd */
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->stopfd, &ev) < 0)
		goto fail;
	pthread_mutex_init(&t->lock, NULL);
	*out = t;
	return 0;
fail:
	if (t->epfd >= 0)
		close(t->epfd);
	if (t->stopfd >= 0)
		close(t->stopfd);
	free(t);
	return -errno ? -errno : -ENOMEM;
}

int viothread_add(struct viothread *t, int fd, evloop_fn fn, void *opaque)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct vio_handler *h;
	int ret = 0;

	pthread_mutex_lock(&t->lock);
	if (t->nr == MAX_HANDLERS) {
		pthread_mutex_unlock(&t->lock);
		return -ENOSPC;
	}
	h = &t->handlers[t->nr];
	h->fd = fd;
	h->fn = fn;
	h->opaque = opaque;
	ev.data.ptr = h;
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		ret = -errno;
	else
		t->nr++;
	pthread_mutex_unlock(&t->lock);
	return ret;
}

int viothread_del(struct viothread *t, int fd)
{
	/* Only while the thread is stopped: handlers[] slots stay put. */
	if (epoll_ctl(t->epfd, EPOLL_CTL_DEL, fd, NULL) < 0)
		return -errno;
	return 0;
}

void viothread_set_poller(struct viothread *t, viothread_poll_fn fn, void *opaque)
{
	t->poll = fn;
	t->poll_opaque = opaque;
}

static void *viothread_main(void *arg)
{
	struct viothread *t = arg;
	struct epoll_event evs[16];
	uint64_t until = 0;
	sigset_t all;

	/*
	 * Signals belong to the main thread and the vCPU kicks.  Not the
	 * fault signals: blocked, a fault kills the process outright
	 * (signal(7)) and no handler runs, e.g. vhost-user's SIGBUS guard
	 * for frontend memory (src/vhost/guard.c) that this thread touches.
	 */
	sigfillset(&all);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGSEGV);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_setname_np(pthread_self(), t->name);
	for (;;) {
		/* until == 0: the last poll turned notifications back on. */
		bool polling = t->poll && t->poll_ns && until;
		int n = epoll_wait(t->epfd, evs, 16, polling ? 0 : -1);
		bool progress = n > 0;

		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			struct vio_handler *h = evs[i].data.ptr;

			if (!h)
				return NULL; /* stop */
			h->fn(h->opaque, evs[i].events);
		}
		if (!t->poll || !t->poll_ns)
			continue;
		/*
		 * Poll while the window is open; a poll with progress (or an
		 * event) re-opens it.  The last poll of a window runs with
		 * polling=false so notifications are back on before we sleep.
		 */
		if (progress)
			until = now_ns() + t->poll_ns;
		polling = now_ns() < until;
		if (t->poll(t->poll_opaque, polling))
			until = now_ns() + t->poll_ns;
		else if (!polling)
			until = 0;
	}
	return NULL;
}

int viothread_start(struct viothread *t)
{
	int ret = pthread_create(&t->thread, NULL, viothread_main, t);

	if (ret)
		return -ret;
	t->running = true;
	return 0;
}

void viothread_stop(struct viothread *t)
{
	uint64_t one = 1;

	if (!t || !t->running)
		return;
	if (write(t->stopfd, &one, sizeof(one)) != sizeof(one))
		log_warn("%s: cannot stop the I/O thread", t->name);
	pthread_join(t->thread, NULL);
	t->running = false;
}

void viothread_destroy(struct viothread *t)
{
	if (!t)
		return;
	viothread_stop(t);
	close(t->epfd);
	close(t->stopfd);
	pthread_mutex_destroy(&t->lock);
	free(t);
}
