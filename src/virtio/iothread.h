/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_VIRTIO_IOTHREAD_H
#define VESSEL_VIRTIO_IOTHREAD_H

#include <stdbool.h>
#include <stdint.h>

#include "util/evloop.h"

/*
 * A per-device I/O thread (DESIGN.md section 2: "optional I/O worker
 * threads per busy device queue").  It waits on its own epoll set (the
 * device's doorbell ioeventfds and block completion eventfds) and, after
 * each burst of work, polls for up to poll_ns: pollers look at the avail
 * rings and the io_uring completion queues directly, with guest kicks
 * suppressed (EVENT_IDX), so a busy guest issues I/O without a VM exit
 * per request and completions are reaped without a wake-up.  When a poll
 * window passes without progress the pollers re-enable notifications
 * and the thread sleeps in epoll_wait.
 */
struct viothread;

/* poller: do work, return true if it made progress.  `polling` tells it
 * whether the thread keeps polling afterwards (keep notifications off). */
typedef bool (*viothread_poll_fn)(void *opaque, bool polling);

int viothread_create(const char *name, uint64_t poll_ns, struct viothread **out);
/* Stop and join the thread (idempotent); handlers never run afterwards. */
void viothread_stop(struct viothread *t);
void viothread_destroy(struct viothread *t);
int viothread_add(struct viothread *t, int fd, evloop_fn fn, void *opaque);
int viothread_del(struct viothread *t, int fd);
/* One poller per thread (the device). */
void viothread_set_poller(struct viothread *t, viothread_poll_fn fn, void *opaque);
int viothread_start(struct viothread *t);

#endif
