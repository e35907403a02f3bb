// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the virtio-console device model (src/virtio/console.c)
 * with its Unix socket backend and a fake transport.  Each input gets a
 * fresh device listening on /tmp/vessel-fuzz-console-PID.sock (removed
 * by the device when it is destroyed) and a client connected to it, so
 * both directions run: guest output through the transmitq to the
 * client, client input into the guest's receive buffers.  What a guest
 * controls: negotiation, rings and chains (readable receive buffers, a
 * guest error; writable transmit buffers; chains out of RAM), kicks and
 * resets, also with a receive chain held while no input is there; the
 * "host" side sends bytes, drains or stops reading (a full socket drops
 * output) and disconnects and reconnects.  Unix sockets deliver at once,
 * so one pass of the event loop sees everything: runs are repeatable.
 */
#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "fuzz_common.h"

#include "chardev/chardev.h"
#include "util/evloop.h"

#define RAM_GPA 0x10000ull
#define RAM_SIZE (64u * 1024)

static void stop_loop(void *opaque)
{
	evloop_stop(opaque);
}

/* One pass over whatever is ready (accept, input, hang-up). */
static void pump(struct evloop *loop)
{
	if (evloop_call(loop, stop_loop, loop) == 0)
		evloop_run(loop);
}

static int client_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void client_drain(int fd)
{
	uint8_t buf[4096];

	while (fd >= 0 && read(fd, buf, sizeof(buf)) > 0)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static uint8_t ram[RAM_SIZE];
	static char spec[128], *path;
	static struct chardev_spec cs = { CHARDEV_SOCKET, NULL };
	struct fin in = { data, len };
	struct evloop *loop;
	struct virtio_dev *vd;
	struct fuzz_vdev g;
	int cl;

	if (!path) {
		snprintf(spec, sizeof(spec), "socket=/tmp/vessel-fuzz-console-%d.sock", getpid());
		path = spec + 7;
		cs.path = path;
	}
	fuzz_vdev_init(&g, ram, RAM_GPA, RAM_SIZE);
	if (evloop_create(&loop) < 0 || virtio_console_new(&cs, &g.mem, loop, &vd, NULL) < 0)
		abort();
	fuzz_attach(vd, &g.t);
	cl = client_connect(path);
	pump(loop);

	for (unsigned int steps = 0; fin_more(&in) && steps < 256; steps++) {
		uint8_t op = fin_u8(&in);
		unsigned int q = (op >> 4) & 1;

		pthread_mutex_lock(&vd->lock);
		if (fuzz_dev_step(&in, &g, vd, q, fuzz_dev_op16(op & 0xf))) {
			pthread_mutex_unlock(&vd->lock);
			continue;
		}
		switch (op & 0xf) {
		case 8: {
			uint64_t v = 0;
			uint32_t off = fin_u8(&in) % 16;
			unsigned int w = fin_width(&in, 3);

			if (off + w <= VIRTIO_CONSOLE_CFG_SIZE)
				vd->ops->config_read(vd, off, &v, w);
			break;
		}
		default:
			break;
		}
		pthread_mutex_unlock(&vd->lock);

		/* The host side, outside the device lock like the event loop. */
		switch (op & 0xf) {
		case 9:
		case 10: {
			uint8_t buf[256];
			size_t n = fin_u8(&in);

			fin_bytes(&in, buf, n);
			if (cl >= 0 && write(cl, buf, n) < 0 && errno != EAGAIN)
				break;
			pump(loop);
			break;
		}
		case 11:
			client_drain(cl);
			break;
		case 12:
			/* Hang up; the next one of these connects again. */
			if (cl >= 0) {
				close(cl);
				cl = -1;
			} else {
				cl = client_connect(path);
			}
			pump(loop);
			break;
		case 13:
			pump(loop);
			break;
		default:
			break;
		}
	}
	if (cl >= 0)
		close(cl);
	vd->ops->destroy(vd);
	evloop_destroy(loop);
	fuzz_vdev_fini(&g);
	return 0;
}
