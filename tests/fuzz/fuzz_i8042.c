// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the i8042 PS/2 controller (src/devices/i8042.c) at
 * ports 0x60/0x64: controller commands and their data bytes (command
 * byte, output port, self-tests, port enables, AUX loopback, pulse
 * reset), keyboard and mouse commands with their arguments, reads of
 * the output buffer and status in any order and width, and machine
 * resets in the middle of a command.  A reset request must only be
 * reported, never act; the IRQ lines must stay 0 or 1.
 */
#include "fuzz_common.h"

#include "bus/bus.h"
#include "devices/i8042.h"

struct harness {
	int level[16];
	uint64_t resets;
};

static void set_irq(void *opaque, int irq, int level)
{
	struct harness *h = opaque;

	if ((irq != I8042_IRQ_KBD && irq != I8042_IRQ_AUX) || (level != 0 && level != 1))
		abort(); /* the model drives nothing else */
	h->level[irq] = level;
}

static void request_reset(void *opaque)
{
	((struct harness *)opaque)->resets++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct fin in = { data, len };
	struct harness h = { 0 };
	struct i8042 *k;
	struct bus bus;

	fuzz_quiet();
	if (bus_init(&bus, "pio") || i8042_new(set_irq, request_reset, &h, &k) ||
	    bus_register(&bus, 0x60, 1, &i8042_data_bus_ops, k) ||
	    bus_register(&bus, 0x64, 1, &i8042_cmd_bus_ops, k))
		abort();
	for (unsigned int steps = 0; fin_more(&in) && steps < 1024; steps++) {
		uint8_t op = fin_u8(&in);
		uint32_t v = fin_u8(&in);

		switch (op % 8) {
		case 0: /* a command to the controller */
		case 1:
			bus_access(&bus, 0x64, &v, 1, true);
			break;
		case 2: /* a data byte: command argument, or to the keyboard/mouse */
		case 3:
			bus_access(&bus, 0x60, &v, 1, true);
			break;
		case 4:
			bus_access(&bus, 0x60, &v, 1, false);
			break;
		case 5:
			bus_access(&bus, 0x64, &v, 1, false);
			break;
		case 6: {
			/* Any port nearby, any width, either direction. */
			uint16_t port = (uint16_t)(0x5e + v % 8);
			unsigned int w = fin_width(&in, 2);

			v = fin_u32(&in);
			bus_access(&bus, port, &v, w, op & 8);
			break;
		}
		default:
			i8042_reset(k);
			break;
		}
	}
	bus_unregister(&bus, 0x60);
	bus_unregister(&bus, 0x64);
	i8042_free(k);
	bus_destroy(&bus);
	return 0;
}
