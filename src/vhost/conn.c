// SPDX-License-Identifier: MIT
/*
 * vhost-user backend, the socket side: message framing with fd passing
 * (SCM_RIGHTS), the listening socket, one frontend connection at a time
 * (on the backend's event loop), kick eventfds on the device's own I/O
 * thread where it has one (the backend's loop otherwise) and call/err
 * eventfds as the transport's interrupts.
 *
 * A frontend is trusted no more than a guest: a malformed message closes
 * its connection (vhost-user.rst leaves the reaction to the backend) and
 * the backend goes back to waiting for the next frontend, which starts
 * from a clean device (rings stopped, memory unmapped, features reset).
 * Messages are read as their bytes arrive, never waiting on the socket:
 * the loop goes on serving (signals, the listener, timers) while a
 * frontend sends a message slowly, and a message must arrive in full
 * within IO_TIMEOUT_S of its first byte.  Replies are sent without
 * waiting either: a frontend that does not read them loses its
 * connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/evloop.h"
#include "util/listen.h"
#include "util/util.h"
#include "vhost/vhost-user-int.h"
#include "virtio/virtio.h"

#define IO_TIMEOUT_S 5

static void close_fds(int *fds, unsigned int *nfds)
{
	for (unsigned int i = 0; i < *nfds; i++)
		close(fds[i]);
	*nfds = 0;
}

int vhost_user_recv_msg(int fd, struct vhost_user_msg *msg, int *fds, unsigned int *nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = &msg->hdr, .iov_len = VHOST_USER_HDR_SIZE };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	ssize_t n;
	int ret = 0;

	*nfds = 0;
	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return -ECONNRESET;
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t cnt;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < cnt; i++) {
			int f;

			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*nfds < VHOST_USER_MAX_FDS)
				fds[(*nfds)++] = f;
			else
				close(f);
		}
	}
	/* More fds than a message may carry: the kernel dropped the rest. */
	if (mh.msg_flags & MSG_CTRUNC)
		ret = -E2BIG;
	if (!ret && (size_t)n < VHOST_USER_HDR_SIZE)
		ret = read_full(fd, (uint8_t *)&msg->hdr + n, VHOST_USER_HDR_SIZE - (size_t)n);
	if (!ret && msg->hdr.size > VHOST_USER_MAX_PAYLOAD)
		ret = -EMSGSIZE;
	if (!ret && msg->hdr.size)
		ret = read_full(fd, &msg->p, msg->hdr.size);
	if (ret < 0)
		close_fds(fds, nfds);
	return ret;
}

/* MSG_DONTWAIT in flags: all or nothing now, -EAGAIN if it does not fit. */
static int send_msg(int fd, const struct vhost_user_msg *msg, const int *fds, unsigned int nfds,
		    int flags)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov[2] = {
		{ .iov_base = (void *)&msg->hdr, .iov_len = VHOST_USER_HDR_SIZE },
		{ .iov_base = (void *)&msg->p, .iov_len = msg->hdr.size },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	size_t total = VHOST_USER_HDR_SIZE + msg->hdr.size;
	ssize_t n;

	if (msg->hdr.size > sizeof(msg->p) || nfds > VHOST_USER_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	do
		n = sendmsg(fd, &mh, MSG_NOSIGNAL | flags);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n < total && (flags & MSG_DONTWAIT))
		return -EAGAIN;
	if ((size_t)n < total)
		return write_full(fd, (const uint8_t *)&msg->hdr + n, total - (size_t)n) < 0 ? -EIO
											     : 0;
	return 0;
}

int vhost_user_send_msg(int fd, const struct vhost_user_msg *msg, const int *fds, unsigned int nfds)
{
	return send_msg(fd, msg, fds, nfds, 0);
}

/* ---- interrupts: the transport ops ------------------------------------- */

/* Under vd->lock: the fds are non-blocking (fds.c), so nothing here waits. */
static void vu_notify_queue(void *t, struct virtq *vq)
{
	struct vhost_user_dev *d = t;

	if (vq->index >= VIRTIO_MAX_QUEUES)
		return;
	d->st.calls++;
	vhost_user_fd_signal(d->rings[vq->index].call_fd, d->rings[vq->index].call_kind);
}

/*
 * The core asks for a configuration interrupt on DEVICE_NEEDS_RESET
 * (a broken ring): vhost-user reports that through the rings' error
 * eventfds (SET_VRING_ERR).  Config changes proper would need the
 * backend request channel, which is not offered (the disk never resizes).
 */
static void vu_notify_config(void *t)
{
	struct vhost_user_dev *d = t;
	struct virtio_dev *vd = d->vd;

	if (!(vd->status & VIRTIO_STATUS_NEEDS_RESET))
		return;
	for (unsigned int q = 0; q < vd->nr_queues; q++)
		if (vd->vqs[q].broken)
			vhost_user_fd_signal(d->rings[q].err_fd, d->rings[q].err_kind);
}

const struct virtio_transport_ops vhost_user_tops = {
	.notify_queue = vu_notify_queue,
	.notify_config = vu_notify_config,
};

/* ---- kicks ----------------------------------------------------------------- */

/*
 * The loop the kick fds sit on: the device's own I/O thread where it has
 * one (virtio-blk), so kicks and completions run on one thread as with
 * virtio-pci's doorbells; otherwise the backend's loop.
 */
static struct evloop *kick_loop(struct vhost_user_dev *d)
{
	return d->vd->ioloop ? d->vd->ioloop : d->loop;
}

/*
 * Stop watching ring q's kick fd and close it.  Under vd->lock.  On the
 * kick loop's own thread (the kick handler finding its fd broken) the
 * removal never waits.  From another thread it may wait for the kick
 * handler, which takes vd->lock: the lock is dropped meanwhile; the
 * handler sees kick_fd < 0 and does nothing.
 */
static void kick_close_locked(struct vhost_user_dev *d, unsigned int q)
{
	struct vhost_user_vring *r = &d->rings[q];
	struct evloop *loop = kick_loop(d);
	int fd = r->kick_fd;

	if (fd < 0)
		return;
	r->kick_fd = -1;
	if (loop && evloop_in_thread(loop)) {
		evloop_del(loop, fd);
	} else if (loop) {
		pthread_mutex_unlock(&d->vd->lock);
		evloop_del(loop, fd);
		pthread_mutex_lock(&d->vd->lock);
	}
	close(fd);
}

void vhost_user_kick_locked(struct vhost_user_dev *d, unsigned int q)
{
	struct vhost_user_vring *r = &d->rings[q];
	int ret = r->kick_fd >= 0 ? vhost_user_kick_read(r->kick_fd) : 0;

	if (ret < 0) {
		/*
		 * A pipe whose writers are gone stays readable at end of file:
		 * counted as kicks, it would spin this thread for ever.  The
		 * ring is broken until the frontend sets it up again
		 * (GET_VRING_BASE, SET_VRING_KICK).
		 */
		d->st.broken_kicks++;
		log_warn("%s: ring %u: kick fd %s; no longer watched", d->vd->name, q,
			 ret == -EPIPE ? "at end of file" : strerror(-ret));
		kick_close_locked(d, q);
		if (r->live)
			virtq_fail(&d->vd->vqs[q], "kick fd broken");
		return;
	}
	if (!r->stopping) {
		d->st.kicks++;
		virtio_dev_kick(d->vd, q);
	}
	vhost_user_mem_fault_check(d);
}

/*
 * The kick loop: one kick fd.  Under vd->lock, so a kick fd the message
 * handlers replace or close meanwhile is never read after it is gone
 * (they change kick fds under the same lock); the reads cannot block
 * (fds.c).
 */
static void on_kick(void *opaque, uint32_t events)
{
	struct vhost_user_kickctx *k = opaque;
	struct virtio_dev *vd = k->d->vd;

	pthread_mutex_lock(&vd->lock);
	if (k->d->rings[k->q].kick_fd >= 0)
		vhost_user_kick_locked(k->d, k->q);
	pthread_mutex_unlock(&vd->lock);
}

void vhost_user_kicks_fini(struct vhost_user_dev *d)
{
	/* Handlers never run after this (the device is going away too). */
	evloop_thread_stop(d->vd->ioloop);
}

/* On the backend's loop (message handlers), without vd->lock. */
int vhost_user_kick_set(struct vhost_user_dev *d, unsigned int q, int fd)
{
	struct vhost_user_vring *r = &d->rings[q];
	struct evloop *loop = kick_loop(d);
	int ret = 0;

	pthread_mutex_lock(&d->vd->lock);
	kick_close_locked(d, q);
	r->kick_fd = fd;
	pthread_mutex_unlock(&d->vd->lock);
	/* Outside the lock: the fd is ours; on_kick takes the lock itself. */
	if (fd >= 0 && loop)
		ret = evloop_add(loop, fd, EPOLLIN, on_kick, &r->kctx);
	return ret;
}

/* ---- the connection ------------------------------------------------------ */

static void rx_reset(struct vhost_user_dev *d)
{
	if (d->rx_timer >= 0 && d->loop)
		evloop_timer_cancel(d->loop, d->rx_timer);
	d->rx_timer = -1;
	close_fds(d->rx_fds, &d->rx_nfds);
	d->rx_got = 0;
}

void vhost_user_conn_drop(struct vhost_user_dev *d)
{
	int fd = d->conn_fd;

	rx_reset(d);
	if (fd < 0) {
		vhost_user_dev_disconnect(d);
		return;
	}
	if (d->loop)
		evloop_del(d->loop, fd);
	/* Clean up first: the frontend sees the socket close when we are ready again. */
	vhost_user_dev_disconnect(d);
	d->conn_fd = -1;
	close(fd);
}

/*
 * Read what has arrived of the current message, without waiting: 1 when
 * it is complete (in d->rx, its fds in d->rx_fds), 0 when more is to
 * come, -ECONNRESET at a clean end of stream, -errno for a malformed or
 * truncated message.  Never reads past the message, so the next
 * message's fds stay with it.
 */
static int rx_step(struct vhost_user_dev *d)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
		struct cmsghdr align;
	} ctl;

	for (;;) {
		struct iovec iov;
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		bool trunc = false;
		ssize_t n;

		if (d->rx_got < VHOST_USER_HDR_SIZE) {
			iov.iov_base = (uint8_t *)&d->rx.hdr + d->rx_got;
			iov.iov_len = VHOST_USER_HDR_SIZE - d->rx_got;
		} else {
			iov.iov_base = (uint8_t *)&d->rx.p + (d->rx_got - VHOST_USER_HDR_SIZE);
			iov.iov_len = VHOST_USER_HDR_SIZE + d->rx.hdr.size - d->rx_got;
		}
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		do
			n = recvmsg(d->conn_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		if (n == 0)
			return d->rx_got ? -EPIPE : -ECONNRESET;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			size_t cnt;

			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < cnt; i++) {
				int f;

				memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (d->rx_nfds < VHOST_USER_MAX_FDS) {
					d->rx_fds[d->rx_nfds++] = f;
				} else {
					close(f);
					trunc = true;
				}
			}
		}
		/* More fds than a message may carry: the kernel dropped the rest. */
		if (trunc || (mh.msg_flags & MSG_CTRUNC))
			return -E2BIG;
		d->rx_got += (size_t)n;
		if (d->rx_got < VHOST_USER_HDR_SIZE)
			continue;
		if (d->rx.hdr.size > VHOST_USER_MAX_PAYLOAD)
			return -EMSGSIZE;
		if (d->rx_got == VHOST_USER_HDR_SIZE + d->rx.hdr.size)
			return 1;
	}
}

static void on_rx_timeout(void *opaque)
{
	struct vhost_user_dev *d = opaque;

	d->rx_timer = -1; /* a one-shot timer is gone once it fired */
	d->st.protocol_errors++;
	log_warn("vhost-user: a message from the frontend did not arrive in full within %d s; "
		 "closing the connection",
		 IO_TIMEOUT_S);
	vhost_user_conn_drop(d);
}

static void on_conn(void *opaque, uint32_t events)
{
	struct vhost_user_dev *d = opaque;
	struct vhost_user_msg *msg = &d->rx, *reply = &d->tx;
	bool has_reply = false;
	unsigned int nfds;
	int ret;

	ret = rx_step(d);
	if (ret == 0) {
		/*
		 * The deadline covers the whole message from its first byte:
		 * a timeout that restarts with every byte lets a frontend
		 * hold a message open for ever, one byte at a time.
		 */
		if (d->rx_got && d->rx_timer < 0 && d->loop) {
			ret = evloop_timer_add(d->loop, IO_TIMEOUT_S * 1000000000ull, 0,
					       on_rx_timeout, d);
			if (ret < 0) {
				log_warn("vhost-user: no timer for a message (%s); closing the "
					 "connection",
					 strerror(-ret));
				vhost_user_conn_drop(d);
				return;
			}
			d->rx_timer = ret;
		}
		return;
	}
	if (ret == -ECONNRESET) {
		log_info("vhost-user: frontend disconnected");
		vhost_user_conn_drop(d);
		return;
	}
	if (ret < 0) {
		d->st.protocol_errors++;
		log_warn("vhost-user: bad message from the frontend (%s); closing the connection",
			 ret == -EPIPE ? "truncated" : strerror(-ret));
		vhost_user_conn_drop(d);
		return;
	}
	if (d->rx_timer >= 0 && d->loop)
		evloop_timer_cancel(d->loop, d->rx_timer);
	d->rx_timer = -1;
	/* The handler takes the fds over. */
	nfds = d->rx_nfds;
	d->rx_nfds = 0;
	d->rx_got = 0;
	ret = vhost_user_handle_msg(d, msg, d->rx_fds, nfds, reply, &has_reply);
	/* A reply that does not fit now: the frontend is not reading them. */
	if (has_reply && send_msg(d->conn_fd, reply, NULL, 0, MSG_DONTWAIT) < 0 && ret == 0)
		ret = -EPIPE;
	if (ret < 0) {
		d->st.protocol_errors++;
		log_warn("vhost-user: %s (request %u) refused: %s; closing the connection",
			 vhost_user_request_name(msg->hdr.request), msg->hdr.request,
			 strerror(-ret));
		vhost_user_conn_drop(d);
	}
}

int vhost_user_dev_attach(struct vhost_user_dev *d, int conn_fd)
{
	int ret;

	if (d->conn_fd >= 0)
		return -EBUSY;
	d->conn_fd = conn_fd;
	d->st.connections++;
	d->rx_got = 0;
	if (d->loop) {
		ret = evloop_add(d->loop, conn_fd, EPOLLIN, on_conn, d);
		if (ret < 0) {
			d->conn_fd = -1;
			return ret;
		}
	}
	return 0;
}

/* ---- frontend memory that vanished (guard.c) -------------------------------- */

bool vhost_user_mem_fault_check(struct vhost_user_dev *d)
{
	struct virtio_dev *vd = d->vd;

	if (!__atomic_load_n(&d->mem_fault, __ATOMIC_ACQUIRE))
		return false;
	/* DEVICE_NEEDS_RESET, reported on the error fds (vu_notify_config). */
	for (unsigned int q = 0; q < vd->nr_queues; q++)
		if (d->rings[q].live && !vd->vqs[q].broken)
			virtq_fail(&vd->vqs[q], "frontend memory vanished (SIGBUS)");
	return true;
}

/* Event loop: the SIGBUS handler wrote fault_fd. */
static void on_mem_fault(void *opaque, uint32_t events)
{
	struct vhost_user_dev *d = opaque;
	uint64_t cnt;
	bool f;

	if (read(d->fault_fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&d->vd->lock);
	f = vhost_user_mem_fault_check(d);
	pthread_mutex_unlock(&d->vd->lock);
	/* Already handled (the memory is unmapped, the flag cleared). */
	if (!f)
		return;
	log_err("vhost-user: the frontend's memory vanished under the backend (SIGBUS: a "
		"memory file shrunk after SET_MEM_TABLE); device reset, closing the connection");
	vhost_user_conn_drop(d);
}

int vhost_user_faults_init(struct vhost_user_dev *d)
{
	int ret;

	if (!d->loop)
		return 0;
	d->fault_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->fault_fd < 0)
		return -errno;
	ret = evloop_add(d->loop, d->fault_fd, EPOLLIN, on_mem_fault, d);
	if (ret < 0)
		vhost_user_close_fd(&d->fault_fd);
	return ret;
}

void vhost_user_faults_fini(struct vhost_user_dev *d)
{
	if (d->fault_fd < 0)
		return;
	evloop_del(d->loop, d->fault_fd);
	vhost_user_close_fd(&d->fault_fd);
}

static void on_accept(void *opaque, uint32_t events)
{
	struct vhost_user_dev *d = opaque;
	int c = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (c < 0)
		return;
	if (d->conn_fd >= 0) {
		/* vhost-user is one frontend per backend socket. */
		d->st.refused++;
		log_warn("vhost-user: refusing a second frontend while one is connected");
		close(c);
		return;
	}
	if (vhost_user_dev_attach(d, c) < 0) {
		close(c);
		return;
	}
	log_info("vhost-user: frontend connected");
}

int vhost_user_dev_serve(struct vhost_user_dev *d, int listen_fd)
{
	if (!d->loop)
		return -EINVAL;
	d->listen_fd = listen_fd;
	return evloop_add(d->loop, listen_fd, EPOLLIN, on_accept, d);
}

int vhost_user_listen(const char *path, int *out_fd)
{
	/* The one listener policy (util/listen.h): never removes a non-socket. */
	int fd = unix_listen(path, 4);

	if (fd < 0)
		return fd;
	*out_fd = fd;
	return 0;
}
