// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the 16550A model (src/devices/uart8250.c) on its port
 * range, as COM1 is wired: every register at every width a guest can use
 * (wider accesses cover consecutive registers, some past the end of the
 * eight), DLAB, FIFO control and trigger levels, loopback with overruns,
 * modem status deltas, interrupt identification; and the host side:
 * console input pushed into the RX FIFO (refused bytes come back through
 * the rx_ready callback, which the harness answers by pushing again, as
 * console.c does), and a machine reset.  Output goes to /dev/null and a
 * tx hook, so a byte is never held up.
 */
#include "fuzz_common.h"

#include "bus/bus.h"
#include "devices/uart8250.h"
#include "util/util.h"

struct harness {
	struct uart8250 *u;
	int level, raises;
	uint8_t pending[64];
	size_t npending;
	uint64_t tx;
};

static void set_irq(void *opaque, int level)
{
	struct harness *h = opaque;

	h->raises += level && !h->level;
	h->level = level;
}

static void tx_hook(void *opaque, const uint8_t *buf, size_t len)
{
	((struct harness *)opaque)->tx += len;
}

/* Room again in the RX FIFO: hand over what was refused. */
static void rx_ready(void *opaque)
{
	struct harness *h = opaque;
	size_t n = uart8250_receive(h->u, h->pending, h->npending);

	memmove(h->pending, h->pending + n, h->npending - n);
	h->npending -= n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static int devnull = -1;
	struct fin in = { data, len };
	struct harness h = { 0 };
	struct bus bus;

	fuzz_quiet();
	if (devnull < 0)
		devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (bus_init(&bus, "pio") || uart8250_create_on_bus(&bus, 0x3f8, set_irq, &h, &h.u))
		abort();
	uart8250_set_output_fd(h.u, devnull);
	uart8250_set_tx_hook(h.u, tx_hook, &h);
	uart8250_set_rx_ready(h.u, rx_ready, &h);
	for (unsigned int steps = 0; fin_more(&in) && steps < 1024; steps++) {
		uint8_t op = fin_u8(&in);
		uint32_t v = 0;

		switch (op % 4) {
		case 0:
		case 1: {
			/* Ports 0x3f6-0x401: around the range too. */
			uint16_t port = (uint16_t)(0x3f6 + (op >> 2) % 12);
			unsigned int w = fin_width(&in, 2);

			v = fin_u32(&in);
			bus_access(&bus, port, &v, w, op % 4 == 0);
			break;
		}
		case 2: {
			/* Console input: what the FIFO refuses waits for rx_ready. */
			size_t n = fin_u8(&in) % 32, k;
			uint8_t buf[32];

			fin_bytes(&in, buf, n);
			if (h.npending) {
				k = MIN(n, sizeof(h.pending) - h.npending);
				memcpy(h.pending + h.npending, buf, k);
				h.npending += k;
				break;
			}
			k = uart8250_receive(h.u, buf, n);
			n -= k;
			memcpy(h.pending, buf + k, n);
			h.npending = n;
			break;
		}
		default:
			if (op & 4)
				uart8250_reset(h.u);
			else
				uart8250_set_output_fd(h.u, (op & 8) ? -1 : devnull);
			break;
		}
	}
	bus_unregister(&bus, 0x3f8);
	uart8250_free(h.u);
	bus_destroy(&bus);
	return 0;
}
