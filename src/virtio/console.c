// SPDX-License-Identifier: MIT
/*
 * virtio-console (virtio 1.2 section 5.3) with a single port and no
 * MULTIPORT: queue 0 is port 0's receiveq (host to guest), queue 1 its
 * transmitq (guest to host).  It is a second console next to COM1, e.g.
 * /dev/hvc0 in a Linux guest.
 *
 * Backends (cfg->virtio_console_path):
 *   NULL  a pseudo-terminal; its path is logged and returned by
 *         virtio_console_pty_path().  vessel keeps the slave side open so
 *         the master never reports hang-up when no one is attached, and
 *         the terminal is raw so guest bytes pass unchanged.
 *   PATH  guest output is appended to the file; there is no input.
 *   socket=PATH
 *         a Unix stream socket vessel listens on; one client at a time is
 *         the console (others are refused), output with no client is
 *         dropped.
 *
 * Output never blocks the event loop: if the pty is full (nobody reads
 * it), the bytes are dropped and counted.  Input is read only when the
 * guest has a receive buffer posted; otherwise the fd leaves the epoll
 * set until the guest kicks the receiveq, so the kernel holds the bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "util/evloop.h"
#include "util/listen.h"
#include "util/log.h"
#include "virtio/devices.h"
#include "virtio/virtio.h"

#define RXQ 0
#define TXQ 1

struct vcon {
	struct virtio_dev vd;
	struct evloop *loop;
	int out_fd, in_fd, slave_fd;
	int listen_fd; /* socket backend, or -1 */
	char sock_path[108];
	char pty[64];
	bool rx_polling;
	bool rx_held; /* rx chain popped, waiting for input */
	struct virtq_chain *rx, *tx;
	uint8_t cfg[VIRTIO_CONSOLE_CFG_SIZE];
	uint64_t bytes_in, bytes_out, dropped;
};

static void rx_poll(struct vcon *c, bool on)
{
	if (c->in_fd < 0 || !c->loop || c->rx_polling == on)
		return;
	if (evloop_mod(c->loop, c->in_fd, on ? EPOLLIN : 0) == 0)
		c->rx_polling = on;
}

/* The socket client went away: output is dropped until the next one. */
static void client_gone(struct vcon *c)
{
	if (c->in_fd < 0)
		return;
	if (c->loop)
		evloop_del(c->loop, c->in_fd);
	close(c->in_fd);
	c->in_fd = c->out_fd = -1;
	c->rx_polling = false;
}

/* Move available input into the guest's receive buffers. */
static void rx_pump(struct vcon *c)
{
	struct virtq *vq = &c->vd.vqs[RXQ];
	bool pushed = false;

	if (c->in_fd < 0 || !virtio_dev_active(&c->vd) || !vq->enabled)
		return;
	for (;;) {
		ssize_t n;

		if (!c->rx_held) {
			if (virtq_pop(vq, c->rx) != 1) {
				/* No buffer: let the kernel hold input until a kick. */
				rx_poll(c, false);
				break;
			}
			c->rx_held = true;
			if (c->rx->nr_out) {
				virtq_fail(vq, "console receive buffer is device-readable");
				break;
			}
		}
		n = readv(c->in_fd, c->rx->iov + c->rx->nr_out, c->rx->nr_in);
		if (n == 0 && c->listen_fd >= 0) {
			client_gone(c);
			break;
		}
		if (n <= 0) {
			rx_poll(c, true); /* EAGAIN: wait for more input */
			break;
		}
		c->bytes_in += (uint64_t)n;
		c->rx_held = false;
		virtq_push_chain(vq, c->rx, (uint32_t)n);
		pushed = true;
	}
	if (pushed)
		virtio_dev_notify(&c->vd, vq);
}

static void con_input(void *opaque, uint32_t events)
{
	struct vcon *c = opaque;

	pthread_mutex_lock(&c->vd.lock);
	if (c->listen_fd >= 0 && (events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP))) {
		client_gone(c);
		pthread_mutex_unlock(&c->vd.lock);
		return;
	}
	if (virtio_dev_active(&c->vd))
		rx_pump(c);
	else
		rx_poll(c, false); /* the guest is not listening yet */
	pthread_mutex_unlock(&c->vd.lock);
}

static void tx_drain(struct vcon *c)
{
	struct virtq *vq = &c->vd.vqs[TXQ];
	bool pushed = false;

	do {
		virtq_disable_notify(vq);
		while (virtq_pop(vq, c->tx) == 1) {
			for (unsigned int i = 0; i < c->tx->nr_out; i++) {
				const uint8_t *p = c->tx->iov[i].iov_base;
				size_t left = c->tx->iov[i].iov_len;

				while (left) {
					ssize_t n = c->out_fd < 0 ? -1 : write(c->out_fd, p, left);

					if (n < 0 && errno == EINTR)
						continue;
					if (n <= 0) {
						c->dropped += left;
						break;
					}
					c->bytes_out += (uint64_t)n;
					p += n;
					left -= (size_t)n;
				}
			}
			virtq_push_chain(vq, c->tx, 0);
			pushed = true;
		}
	} while (!vq->broken && virtq_enable_notify(vq));
	if (pushed)
		virtio_dev_notify(&c->vd, vq);
}

static void con_notify(struct virtio_dev *vd, unsigned int q)
{
	struct vcon *c = (struct vcon *)vd;

	if (q == TXQ)
		tx_drain(c);
	else if (q == RXQ)
		rx_pump(c);
}

static int con_activate(struct virtio_dev *vd)
{
	struct vcon *c = (struct vcon *)vd;

	rx_poll(c, true);
	return 0;
}

static void con_reset(struct virtio_dev *vd)
{
	struct vcon *c = (struct vcon *)vd;

	c->rx_held = false; /* the held chain belongs to the old generation */
	rx_poll(c, false);
}

static void con_config_read(struct virtio_dev *vd, uint32_t off, void *data, unsigned int len)
{
	struct vcon *c = (struct vcon *)vd;

	if (off + len <= sizeof(c->cfg))
		memcpy(data, c->cfg + off, len);
}

static void con_destroy(struct virtio_dev *vd)
{
	struct vcon *c = (struct vcon *)vd;

	if (c->listen_fd >= 0) {
		client_gone(c);
		if (c->loop)
			evloop_del(c->loop, c->listen_fd);
		close(c->listen_fd);
		unlink(c->sock_path);
	} else {
		if (c->in_fd >= 0 && c->loop)
			evloop_del(c->loop, c->in_fd);
		if (c->out_fd >= 0)
			close(c->out_fd);
	}
	if (c->slave_fd >= 0)
		close(c->slave_fd);
	virtq_chain_free(c->rx);
	virtq_chain_free(c->tx);
	virtio_dev_destroy(vd);
	free(c);
}

static const struct virtio_dev_ops con_ops = {
	.config_read = con_config_read,
	.activate = con_activate,
	.notify = con_notify,
	.reset = con_reset,
	.destroy = con_destroy,
};

static int open_pty(struct vcon *c)
{
	struct termios t;
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);

	if (m < 0)
		return -errno;
	if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, c->pty, sizeof(c->pty)) != 0)
		goto fail;
	c->slave_fd = open(c->pty, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (c->slave_fd < 0)
		goto fail;
	if (tcgetattr(c->slave_fd, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(c->slave_fd, TCSANOW, &t);
	}
	c->out_fd = c->in_fd = m;
	return 0;
fail:
	close(m);
	return -errno ? -errno : -EIO;
}

static void con_accept(void *opaque, uint32_t events)
{
	struct vcon *c = opaque;
	int fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	pthread_mutex_lock(&c->vd.lock);
	if (c->in_fd >= 0 || evloop_add(c->loop, fd, EPOLLRDHUP, con_input, c) < 0) {
		static const char busy[] = "vessel: this console has a client already\r\n";

		if (write(fd, busy, sizeof(busy) - 1) < 0) {
			/* nothing to do: the client is refused either way */
		}
		close(fd);
	} else {
		c->in_fd = c->out_fd = fd;
		c->rx_polling = false;
		if (virtio_dev_active(&c->vd))
			rx_poll(c, true);
	}
	pthread_mutex_unlock(&c->vd.lock);
}

static int open_socket(struct vcon *c, const char *path)
{
	int fd;

	if (!c->loop)
		return -EINVAL;
	/* The guest's console, its passwords too: unix_listen makes it 0600. */
	fd = unix_listen(path, 1);
	if (fd < 0)
		return fd;
	/* Fits: unix_listen refused a path longer than sun_path. */
	snprintf(c->sock_path, sizeof(c->sock_path), "%s", path);
	c->listen_fd = fd;
	return 0;
}

int virtio_console_new(const char *path, struct gmem *mem, struct evloop *loop,
		       struct virtio_dev **out)
{
	struct vcon *c = calloc(1, sizeof(*c));
	uint16_t v16;
	uint32_t v32 = 1;
	int ret;

	if (!c)
		return -ENOMEM;
	c->loop = loop;
	c->out_fd = c->in_fd = c->slave_fd = c->listen_fd = -1;
	if (path && !strncmp(path, "socket=", 7)) {
		ret = open_socket(c, path + 7);
		if (ret < 0) {
			log_err("virtio-console: cannot listen on %s: %s", path + 7,
				unix_listen_strerror(ret));
			free(c);
			return ret;
		}
	} else if (path && strcmp(path, "pty")) {
		c->out_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (c->out_fd < 0) {
			ret = -errno;
			log_err("virtio-console: cannot open %s: %s", path, strerror(errno));
			free(c);
			return ret;
		}
	} else if ((ret = open_pty(c)) < 0) {
		log_err("virtio-console: cannot open a pty: %s", strerror(-ret));
		free(c);
		return ret;
	}
	v16 = 80;
	memcpy(c->cfg + 0, &v16, 2); /* cols (meaningful only with F_SIZE) */
	v16 = 25;
	memcpy(c->cfg + 2, &v16, 2); /* rows */
	memcpy(c->cfg + 4, &v32, 4); /* max_nr_ports */
	c->rx = virtq_chain_alloc(VIRTIO_CONSOLE_QUEUE_SIZE);
	c->tx = virtq_chain_alloc(VIRTIO_CONSOLE_QUEUE_SIZE);
	ret = c->rx && c->tx ? 0 : -ENOMEM;
	if (!ret)
		ret = virtio_dev_init(&c->vd, "console", VIRTIO_ID_CONSOLE, &con_ops, c, 2,
				      VIRTIO_CONSOLE_QUEUE_SIZE, 0, mem, loop);
	if (!ret && c->listen_fd >= 0) {
		ret = evloop_add(loop, c->listen_fd, EPOLLIN, con_accept, c);
		if (ret < 0)
			virtio_dev_destroy(&c->vd);
	} else if (!ret && c->in_fd >= 0 && loop) {
		ret = evloop_add(loop, c->in_fd, 0, con_input, c);
		if (ret < 0)
			virtio_dev_destroy(&c->vd);
	}
	if (ret < 0) {
		virtq_chain_free(c->rx);
		virtq_chain_free(c->tx);
		if (c->out_fd >= 0)
			close(c->out_fd);
		if (c->slave_fd >= 0)
			close(c->slave_fd);
		if (c->listen_fd >= 0) {
			close(c->listen_fd);
			unlink(c->sock_path);
		}
		free(c);
		return ret;
	}
	/* As the serial console's pty: the user needs the path to attach. */
	if (c->pty[0])
		fprintf(stderr, "vessel: virtio-console on %s\n", c->pty);
	*out = &c->vd;
	return 0;
}

const char *virtio_console_pty_path(struct virtio_dev *vd)
{
	struct vcon *c = (struct vcon *)vd;

	return vd->type == VIRTIO_ID_CONSOLE && c->pty[0] ? c->pty : NULL;
}
