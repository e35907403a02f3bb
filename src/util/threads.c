// SPDX-License-Identifier: MIT
/*
 * The thread registry; see threads.h.  A small array under one mutex:
 * threads come and go rarely (start, hotplug, exit), lookups are for
 * pinning and the API, never on a hot path.
 */
#include "util/threads.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static pthread_mutex_t threads_lock = PTHREAD_MUTEX_INITIALIZER;
static struct thread_info *threads;
static size_t threads_nr, threads_cap;
static pthread_once_t threads_once = PTHREAD_ONCE_INIT;

static pid_t self_tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static ssize_t find_locked(pid_t tid)
{
	for (size_t i = 0; i < threads_nr; i++)
		if (threads[i].tid == tid)
			return (ssize_t)i;
	return -1;
}

/*
 * fork(2) copies the calling thread only: keep its entry (with its new
 * tid) and drop the others, which do not exist in the child.  The lock
 * is held across the fork so the child never sees a half-done update.
 */
static void threads_prefork(void)
{
	pthread_mutex_lock(&threads_lock);
}

static void threads_postfork_parent(void)
{
	pthread_mutex_unlock(&threads_lock);
}

static void threads_postfork_child(void)
{
	pthread_t self = pthread_self();
	size_t keep = 0;

	for (size_t i = 0; i < threads_nr; i++) {
		if (pthread_equal(threads[i].thread, self)) {
			threads[keep] = threads[i];
			threads[keep].tid = self_tid();
			keep++;
			break;
		}
	}
	threads_nr = keep;
	pthread_mutex_init(&threads_lock, NULL);
}

static void threads_init(void)
{
	pthread_atfork(threads_prefork, threads_postfork_parent, threads_postfork_child);
}

int threads_register(enum thread_role role, const char *name)
{
	pid_t tid = self_tid();
	struct thread_info *t;
	ssize_t i;
	int ret = 0;

	pthread_once(&threads_once, threads_init);
	if (name)
		pthread_setname_np(pthread_self(), name);
	pthread_mutex_lock(&threads_lock);
	i = find_locked(tid);
	if (i < 0) {
		if (threads_nr == threads_cap) {
			size_t cap = threads_cap ? threads_cap * 2 : 32;

			t = realloc(threads, cap * sizeof(*t));
			if (!t) {
				ret = -ENOMEM;
				goto out;
			}
			threads = t;
			threads_cap = cap;
		}
		i = (ssize_t)threads_nr++;
	}
	t = &threads[i];
	memset(t, 0, sizeof(*t));
	t->role = role;
	t->tid = tid;
	t->thread = pthread_self();
	if (name)
		snprintf(t->name, sizeof(t->name), "%s", name);
	else if (pthread_getname_np(pthread_self(), t->name, sizeof(t->name)))
		t->name[0] = '\0';
out:
	pthread_mutex_unlock(&threads_lock);
	return ret;
}

void threads_unregister(void)
{
	pid_t tid = self_tid();
	ssize_t i;

	pthread_mutex_lock(&threads_lock);
	i = find_locked(tid);
	if (i >= 0) {
		memmove(&threads[i], &threads[i + 1],
			(threads_nr - (size_t)i - 1) * sizeof(*threads));
		threads_nr--;
	}
	pthread_mutex_unlock(&threads_lock);
}

size_t threads_list(struct thread_info *out, size_t max)
{
	size_t n;

	pthread_mutex_lock(&threads_lock);
	n = threads_nr;
	if (out)
		memcpy(out, threads, (n < max ? n : max) * sizeof(*out));
	pthread_mutex_unlock(&threads_lock);
	return n;
}

int threads_find(pid_t tid, struct thread_info *out)
{
	ssize_t i;

	pthread_mutex_lock(&threads_lock);
	i = find_locked(tid);
	if (i >= 0 && out)
		*out = threads[i];
	pthread_mutex_unlock(&threads_lock);
	return i >= 0 ? 0 : -ENOENT;
}

int threads_set_affinity(unsigned int roles, const cpu_set_t *set)
{
	int ret = 0;

	/*
	 * Under the lock: a registered thread unregisters (under the same
	 * lock) before it exits, so no tid here can belong to a thread that
	 * is gone and a recycled tid is never pinned by mistake.
	 */
	pthread_mutex_lock(&threads_lock);
	for (size_t i = 0; i < threads_nr; i++) {
		if (!(roles & THREAD_ROLE_BIT(threads[i].role)))
			continue;
		if (sched_setaffinity(threads[i].tid, sizeof(*set), set) && errno != ESRCH && !ret)
			ret = -errno;
	}
	pthread_mutex_unlock(&threads_lock);
	return ret;
}

const char *thread_role_name(enum thread_role role)
{
	static const char *const names[THREAD_ROLE_MAX] = {
		[THREAD_MAIN] = "main",		[THREAD_VCPU] = "vcpu",
		[THREAD_IOTHREAD] = "iothread", [THREAD_BLOCK] = "block",
		[THREAD_VHOST] = "vhost",	[THREAD_API] = "api",
		[THREAD_HELPER] = "helper",
	};

	return (unsigned int)role < THREAD_ROLE_MAX ? names[role] : "?";
}
