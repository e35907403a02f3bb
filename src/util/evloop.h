/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_UTIL_EVLOOP_H
#define VESSEL_UTIL_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "util/threads.h"

/*
 * The one event loop type of the VMM (docs/threads.md): the main loop
 * (API socket, signalfd, consoles, timers, vhost-user sockets) and every
 * device I/O thread (doorbell ioeventfds, block completion eventfds,
 * vhost-user kick fds) are each one struct evloop run by one thread.
 * Handlers run on the loop's thread and must not block.
 *
 * Removal is safe from any thread: when evloop_del() returns, the handler
 * is not running and will never run again.  From another thread that may
 * mean waiting for a handler that is running right now, so the caller
 * must not hold a lock that handler takes; from the loop's own thread
 * (inside the handler itself too) it never waits.
 */
struct evloop;

typedef void (*evloop_fn)(void *opaque, uint32_t events);

int evloop_create(struct evloop **out);
/* The loop must not be running (evloop_thread_stop() first, if started). */
void evloop_destroy(struct evloop *loop);
/* events: EPOLLIN/EPOLLOUT/...; EPOLLET allowed.  Any thread. */
int evloop_add(struct evloop *loop, int fd, uint32_t events, evloop_fn fn, void *opaque);
/* New events for fd (0: none but errors and hangups).  Any thread. */
int evloop_mod(struct evloop *loop, int fd, uint32_t events);
/* Any thread; see above for the guarantee.  -ENOENT if fd is not on the loop. */
int evloop_del(struct evloop *loop, int fd);
/* Run until evloop_stop(); returns 0 or -errno. */
int evloop_run(struct evloop *loop);
/* Thread-safe and async-signal-safe: make evloop_run return. */
void evloop_stop(struct evloop *loop);
/* evloop_stop() for thread context (not signal-safe): also releases a
 * loop parked by evloop_pause(). */
void evloop_stop_release(struct evloop *loop);
/* Thread-safe: run fn(opaque) on the loop thread soon. */
int evloop_call(struct evloop *loop, void (*fn)(void *opaque), void *opaque);
/* True on the thread that runs the loop right now. */
bool evloop_in_thread(struct evloop *loop);

/*
 * A one-shot or periodic timer on the loop (timerfd).  Returns a timer id
 * (the fd) >= 0, or -errno; evloop_timer_cancel() removes it.  Cancel
 * never waits (device models cancel under their own locks): the timer's
 * callback is never called after a cancel from the loop thread; from
 * another thread a callback already running finishes meanwhile.
 */
int evloop_timer_add(struct evloop *loop, uint64_t first_ns, uint64_t period_ns,
		     void (*fn)(void *opaque), void *opaque);
void evloop_timer_cancel(struct evloop *loop, int timer);

/*
 * Adaptive polling (one poller per loop, the device of an I/O thread).
 * After each burst of events the loop calls the poller again and again
 * for up to poll_ns, without sleeping: the poller looks at avail rings
 * and completion queues directly and returns true if it made progress,
 * which re-opens the window.  `polling` tells the poller whether the loop
 * goes on polling after this call (so it keeps guest notifications off,
 * EVENT_IDX); the last call of a window has polling=false and must turn
 * notifications back on and handle what raced in before the loop sleeps.
 * fn NULL or poll_ns 0: no polling.  Any thread; like evloop_del, when
 * it returns the old poller is not running and never runs again.
 */
typedef bool (*evloop_poll_fn)(void *opaque, bool polling);
void evloop_set_poller(struct evloop *loop, uint64_t poll_ns, evloop_poll_fn fn, void *opaque);

/*
 * Pause and resume.  evloop_pause() from another thread returns once the
 * loop thread is parked outside any handler and poller; nothing runs on
 * the loop until the matching evloop_resume() (pauses nest).  Events that
 * arrive meanwhile are handled after the resume.  Pausing a loop that is
 * not running returns at once and holds it: evloop_run() parks before
 * dispatching anything until resumed.  From the loop's own thread it
 * fails with -EDEADLK (it would wait for itself).  A stop (evloop_stop,
 * evloop_thread_stop) releases a parked loop.
 */
int evloop_pause(struct evloop *loop);
void evloop_resume(struct evloop *loop);

/*
 * Run the loop on a thread of its own, named `name` (at most 15 chars)
 * and registered as `role` (util/threads.h) with all signals blocked
 * but the fault signals (SIGBUS/SIGSEGV: vhost-user's guard, guard.c).
 * evloop_thread_stop() stops the loop and joins the thread; it is
 * idempotent and a no-op for a loop never started.
 */
int evloop_thread_start(struct evloop *loop, const char *name, enum thread_role role);
void evloop_thread_stop(struct evloop *loop);

#endif
