/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_UTIL_EVLOOP_H
#define VESSEL_UTIL_EVLOOP_H

#include <stdint.h>
#include <sys/epoll.h>

/*
 * The VMM's event loop (DESIGN.md section 2): one epoll thread serving the
 * API socket, ioeventfds, tap fds, io_uring completion eventfds, timers and
 * signalfd.  Handlers run on the loop thread and must not block.
 *
 * evloop_add/del may be called from any thread; a handler removed while
 * the loop is dispatching is never called after evloop_del returns on the
 * loop thread (removal from other threads is synchronized with a mutex).
 */
struct evloop;

typedef void (*evloop_fn)(void *opaque, uint32_t events);

int evloop_create(struct evloop **out);
void evloop_destroy(struct evloop *loop);
/* events: EPOLLIN/EPOLLOUT/...; EPOLLET allowed. */
int evloop_add(struct evloop *loop, int fd, uint32_t events, evloop_fn fn, void *opaque);
int evloop_mod(struct evloop *loop, int fd, uint32_t events);
int evloop_del(struct evloop *loop, int fd);
/* Run until evloop_stop(); returns 0 or -errno. */
int evloop_run(struct evloop *loop);
/* Thread-safe and async-signal-safe: make evloop_run return. */
void evloop_stop(struct evloop *loop);
/* Thread-safe: run fn(opaque) on the loop thread soon. */
int evloop_call(struct evloop *loop, void (*fn)(void *opaque), void *opaque);
/*
 * A one-shot or periodic timer on the loop (timerfd).  Returns a timer id
 * (the fd) >= 0, or -errno; evloop_timer_cancel() removes it.
 */
int evloop_timer_add(struct evloop *loop, uint64_t first_ns, uint64_t period_ns,
		     void (*fn)(void *opaque), void *opaque);
void evloop_timer_cancel(struct evloop *loop, int timer);

#endif
