// SPDX-License-Identifier: MIT
/*
 * vhost-user backend, the socket side: message framing with fd passing
 * (SCM_RIGHTS), the listening socket, one frontend connection at a time,
 * kick eventfds on the event loop and call/err eventfds as the
 * transport's interrupts.
 *
 * A frontend is trusted no more than a guest: a malformed message closes
 * its connection (vhost-user.rst leaves the reaction to the backend) and
 * the backend goes back to waiting for the next frontend, which starts
 * from a clean device (rings stopped, memory unmapped, features reset).
 * Blocking reads of a message body are bounded by SO_RCVTIMEO.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/evloop.h"
#include "util/listen.h"
#include "util/util.h"
#include "vhost/vhost-user-int.h"
#include "virtio/iothread.h"

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

int vhost_user_send_msg(int fd, const struct vhost_user_msg *msg, const int *fds, unsigned int nfds)
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
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n < total)
		return write_full(fd, (const uint8_t *)&msg->hdr + n, total - (size_t)n) < 0 ? -EIO
											     : 0;
	return 0;
}

/* ---- interrupts: the transport ops ------------------------------------- */

static void eventfd_signal(int fd)
{
	uint64_t one = 1;

	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("vhost-user: eventfd write: %s", strerror(errno));
}

static void vu_notify_queue(void *t, struct virtq *vq)
{
	struct vhost_user_dev *d = t;

	if (vq->index >= VIRTIO_MAX_QUEUES)
		return;
	d->st.calls++;
	eventfd_signal(d->rings[vq->index].call_fd);
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
			eventfd_signal(d->rings[q].err_fd);
}

const struct virtio_transport_ops vhost_user_tops = {
	.notify_queue = vu_notify_queue,
	.notify_config = vu_notify_config,
};

/* ---- kicks ----------------------------------------------------------------- */

/* Event loop: one kick fd. */
static void on_kick(void *opaque, uint32_t events)
{
	struct vhost_user_kickctx *k = opaque;
	struct virtio_dev *vd = k->d->vd;
	uint64_t cnt;

	pthread_mutex_lock(&vd->lock);
	if (k->d->rings[k->q].kick_fd >= 0 &&
	    (read(k->d->rings[k->q].kick_fd, &cnt, sizeof(cnt)) >= 0 || errno == EAGAIN) &&
	    !k->d->rings[k->q].stopping) {
		k->d->st.kicks++;
		virtio_dev_kick(vd, k->q);
	}
	pthread_mutex_unlock(&vd->lock);
}

/*
 * I/O thread: our epoll set of kick fds is readable.  Under vd->lock, so a
 * kick fd the message handlers replace or close meanwhile is never read
 * after it is gone (they change kick fds under the same lock).
 */
static void on_kick_set(void *opaque, uint32_t events)
{
	struct vhost_user_dev *d = opaque;
	struct epoll_event evs[16];
	uint64_t cnt;
	int n;

	pthread_mutex_lock(&d->vd->lock);
	n = epoll_wait(d->kick_ep, evs, 16, 0);
	for (int i = 0; i < n; i++) {
		unsigned int q = evs[i].data.u32;
		int fd = q < VIRTIO_MAX_QUEUES ? d->rings[q].kick_fd : -1;

		if (fd < 0 || (read(fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN) ||
		    d->rings[q].stopping)
			continue;
		d->st.kicks++;
		virtio_dev_kick(d->vd, q);
	}
	pthread_mutex_unlock(&d->vd->lock);
}

int vhost_user_kicks_init(struct vhost_user_dev *d)
{
	int ret;

	if (!d->loop || !d->vd->iothread)
		return 0;
	d->kick_ep = epoll_create1(EPOLL_CLOEXEC);
	if (d->kick_ep < 0)
		return -errno;
	ret = viothread_add(d->vd->iothread, d->kick_ep, on_kick_set, d);
	if (ret < 0) {
		close(d->kick_ep);
		d->kick_ep = -1;
	}
	return ret;
}

void vhost_user_kicks_fini(struct vhost_user_dev *d)
{
	if (d->kick_ep < 0)
		return;
	/* Handlers never run after this (the device is going away too). */
	viothread_stop(d->vd->iothread);
	close(d->kick_ep);
	d->kick_ep = -1;
}

int vhost_user_kick_set(struct vhost_user_dev *d, unsigned int q, int fd)
{
	struct vhost_user_vring *r = &d->rings[q];
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = q };
	int ret = 0;

	pthread_mutex_lock(&d->vd->lock);
	if (r->kick_fd >= 0) {
		if (d->kick_ep >= 0)
			epoll_ctl(d->kick_ep, EPOLL_CTL_DEL, r->kick_fd, NULL);
		else if (d->loop)
			evloop_del(d->loop, r->kick_fd);
		close(r->kick_fd);
	}
	r->kick_fd = fd;
	if (fd >= 0) {
		if (d->kick_ep >= 0)
			ret = epoll_ctl(d->kick_ep, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
		else if (d->loop)
			ret = evloop_add(d->loop, fd, EPOLLIN, on_kick, &r->kctx);
	}
	pthread_mutex_unlock(&d->vd->lock);
	return ret;
}

/* ---- the connection ------------------------------------------------------ */

static void conn_drop(struct vhost_user_dev *d)
{
	int fd = d->conn_fd;

	if (fd < 0)
		return;
	if (d->loop)
		evloop_del(d->loop, fd);
	/* Clean up first: the frontend sees the socket close when we are ready again. */
	vhost_user_dev_disconnect(d);
	d->conn_fd = -1;
	close(fd);
}

static void on_conn(void *opaque, uint32_t events)
{
	struct vhost_user_dev *d = opaque;
	struct vhost_user_msg *msg, *reply;
	int fds[VHOST_USER_MAX_FDS];
	unsigned int nfds = 0;
	bool has_reply = false;
	int ret;

	msg = malloc(sizeof(*msg));
	reply = malloc(sizeof(*reply));
	if (!msg || !reply) {
		free(msg);
		free(reply);
		return;
	}
	ret = vhost_user_recv_msg(d->conn_fd, msg, fds, &nfds);
	if (ret == -ECONNRESET) {
		log_info("vhost-user: frontend disconnected");
		conn_drop(d);
		goto out;
	}
	if (ret < 0) {
		d->st.protocol_errors++;
		log_warn("vhost-user: bad message from the frontend (%s); closing the connection",
			 strerror(-ret));
		conn_drop(d);
		goto out;
	}
	ret = vhost_user_handle_msg(d, msg, fds, nfds, reply, &has_reply);
	if (has_reply && vhost_user_send_msg(d->conn_fd, reply, NULL, 0) < 0 && ret == 0)
		ret = -EPIPE;
	if (ret < 0) {
		d->st.protocol_errors++;
		log_warn("vhost-user: %s (request %u) refused: %s; closing the connection",
			 vhost_user_request_name(msg->hdr.request), msg->hdr.request,
			 strerror(-ret));
		conn_drop(d);
	}
out:
	free(msg);
	free(reply);
}

int vhost_user_dev_attach(struct vhost_user_dev *d, int conn_fd)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	int ret;

	if (d->conn_fd >= 0)
		return -EBUSY;
	setsockopt(conn_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(conn_fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	d->conn_fd = conn_fd;
	d->st.connections++;
	if (d->loop) {
		ret = evloop_add(d->loop, conn_fd, EPOLLIN, on_conn, d);
		if (ret < 0) {
			d->conn_fd = -1;
			return ret;
		}
	}
	return 0;
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
