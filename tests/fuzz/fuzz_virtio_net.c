// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the virtio-net device model (src/virtio/net.c) on a
 * SOCK_SEQPACKET socketpair standing in for its tap, with a fake
 * transport.  What a guest controls: negotiation, the three rings
 * (receive, transmit, control) and their chains, transmit headers,
 * control commands and their lengths, kicks and resets; the "host" side
 * sends frames of any size and content (runts, frames for other MACs,
 * multicast), stops reading (a full back-end) or drains.  No event loop:
 * virtio_net_poll() does what the fd handlers do, so runs are repeatable.
 */
#include <errno.h>
#include <sys/socket.h>

#include "fuzz_common.h"

#include "net/tap.h"

#define RAM_GPA 0x10000ull
#define RAM_SIZE (256u * 1024)

static void host_drain(int fd)
{
	uint8_t buf[4096];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	static uint8_t ram[RAM_SIZE];
	struct fin in = { data, len };
	struct virtio_dev *vd;
	struct fuzz_vdev g;
	struct tap *tap;
	int sv[2], sndbuf = 8192;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv) < 0)
		abort();
	/* A small send buffer so that the guest can fill the "tap". */
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	fuzz_vdev_init(&g, ram, RAM_GPA, RAM_SIZE);
	if (tap_wrap_fds(&sv[0], 1, "fuzz0", &tap) < 0 ||
	    virtio_net_new(tap, mac, 0, false, &g.mem, NULL, &vd, NULL) < 0)
		abort();
	fuzz_attach(vd, &g.t);

	for (unsigned int steps = 0; fin_more(&in) && steps < 256; steps++) {
		uint8_t op = fin_u8(&in);
		unsigned int q = ((op >> 4) & 3) % 3;

		pthread_mutex_lock(&vd->lock);
		if (fuzz_dev_step(&in, &g, vd, q, fuzz_dev_op16(op & 0xf))) {
			pthread_mutex_unlock(&vd->lock);
			continue;
		}
		if ((op & 0xf) == 8) {
			uint64_t v = 0;
			uint32_t off = fin_u8(&in) % 16;
			unsigned int w = fin_width(&in, 3);

			if (off + w <= VIRTIO_NET_CFG_SIZE)
				vd->ops->config_read(vd, off, &v, w);
		}
		pthread_mutex_unlock(&vd->lock);

		switch (op & 0xf) {
		case 9:
		case 10: {
			/* A frame from the host: header + bytes, any length. */
			static uint8_t frame[4096];
			size_t n = fin_u16(&in) % sizeof(frame);

			fin_bytes(&in, frame, n);
			if (op & 0x40)
				memcpy(frame + TAP_VNET_HDR_LEN, mac, 6);
			if (send(sv[1], frame, n, MSG_DONTWAIT) < 0 && errno != EAGAIN)
				break;
			virtio_net_poll(vd);
			break;
		}
		case 11:
			host_drain(sv[1]);
			break;
		case 12:
		case 13:
			virtio_net_poll(vd);
			break;
		default:
			break;
		}
	}
	vd->ops->destroy(vd);
	close(sv[1]);
	fuzz_vdev_fini(&g);
	return 0;
}
