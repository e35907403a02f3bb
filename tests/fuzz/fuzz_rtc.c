// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the MC146818 RTC and CMOS (src/devices/rtc.c) at
 * ports 0x70/0x71, on a fake clock and fake timers the harness runs
 * itself, so an input replays exactly.  A guest sets the clock through
 * every time register in BCD and binary, 12- and 24-hour mode (also
 * with values a real part would never hold), freezes and restarts it
 * with SET, enables periodic (every rate), alarm and update interrupts,
 * reads C to acknowledge, and polls UIP; the harness moves time forward
 * by up to seconds at a time, firing due timers in order, and runs the
 * reprogramming the model schedules from vCPU context.  Nothing may
 * crash or overflow (UBSan) and IRQ 8 must stay 0 or 1.
 */
#include <errno.h>

#include "fuzz_common.h"

#include "bus/bus.h"
#include "devices/rtc.h"

#define NR_TIMERS 8
#define NR_CALLS 8

struct timer {
	bool used;
	uint64_t due, period;
	void (*fn)(void *arg);
	void *arg;
};

struct harness {
	uint64_t now;
	int irq;
	struct timer t[NR_TIMERS];
	struct {
		void (*fn)(void *arg);
		void *arg;
	} calls[NR_CALLS];
	unsigned int nr_calls;
};

static uint64_t fake_now(void *opaque)
{
	return ((struct harness *)opaque)->now;
}

static void set_irq(void *opaque, int level)
{
	if (level != 0 && level != 1)
		abort();
	((struct harness *)opaque)->irq = level;
}

static int schedule(void *opaque, void (*fn)(void *arg), void *arg)
{
	struct harness *h = opaque;

	if (h->nr_calls == NR_CALLS)
		return -EBUSY;
	h->calls[h->nr_calls].fn = fn;
	h->calls[h->nr_calls].arg = arg;
	h->nr_calls++;
	return 0;
}

static int timer_add(void *opaque, uint64_t first_ns, uint64_t period_ns, void (*fn)(void *arg),
		     void *arg)
{
	struct harness *h = opaque;

	for (int i = 0; i < NR_TIMERS; i++) {
		if (!h->t[i].used) {
			h->t[i] = (struct timer){ true, h->now + first_ns, period_ns, fn, arg };
			return i;
		}
	}
	return -ENOSPC;
}

static void timer_cancel(void *opaque, int id)
{
	struct harness *h = opaque;

	if (id < 0 || id >= NR_TIMERS || !h->t[id].used)
		abort(); /* cancelling a timer it does not own */
	h->t[id].used = false;
}

static const struct rtc_ops ops = { .now = fake_now,
				    .set_irq = set_irq,
				    .schedule = schedule,
				    .timer_add = timer_add,
				    .timer_cancel = timer_cancel };

/* The event loop's share: scheduled calls first, then due timers. */
static void run_calls(struct harness *h)
{
	for (int n = 0; h->nr_calls && n < 16; n++) {
		void (*fn)(void *arg) = h->calls[0].fn;
		void *arg = h->calls[0].arg;

		h->nr_calls--;
		memmove(h->calls, h->calls + 1, h->nr_calls * sizeof(h->calls[0]));
		fn(arg);
	}
}

static void advance(struct harness *h, uint64_t dt)
{
	uint64_t end = h->now + dt;

	for (int fired = 0; fired < 256; fired++) {
		int next = -1;

		for (int i = 0; i < NR_TIMERS; i++)
			if (h->t[i].used && h->t[i].due <= end &&
			    (next < 0 || h->t[i].due < h->t[next].due))
				next = i;
		if (next < 0)
			break;
		h->now = h->t[next].due;
		if (h->t[next].period)
			h->t[next].due += h->t[next].period;
		else
			h->t[next].used = false;
		h->t[next].fn(h->t[next].arg);
		run_calls(h);
	}
	/* A fast periodic timer may still be due: let it skip ahead. */
	for (int i = 0; i < NR_TIMERS; i++)
		if (h->t[i].used && h->t[i].period && h->t[i].due <= end)
			h->t[i].due = end + h->t[i].period;
	h->now = end;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct fin in = { data, len };
	struct harness h = { .now = 1700000000ull * 1000000000ull };
	struct rtc *r;
	struct bus bus;

	fuzz_quiet();
	h.now += (uint64_t)fin_u32(&in) * 1000000000ull; /* 2023 to 2160 */
	if (bus_init(&bus, "pio") || rtc_new(&ops, &h, &r) ||
	    bus_register(&bus, 0x70, 2, &rtc_bus_ops, r))
		abort();
	rtc_set_memory(r, fin_u64(&in), fin_u64(&in) >> 8);
	for (unsigned int steps = 0; fin_more(&in) && steps < 1024; steps++) {
		uint8_t op = fin_u8(&in);
		uint32_t v = 0;

		switch (op % 8) {
		case 0: /* select a register, then write it */
		case 1:
			v = fin_u8(&in);
			bus_access(&bus, 0x70, &v, 1, true);
			v = fin_u8(&in);
			bus_access(&bus, 0x71, &v, 1, true);
			break;
		case 2: /* select, then read */
			v = fin_u8(&in);
			bus_access(&bus, 0x70, &v, 1, true);
			bus_access(&bus, 0x71, &v, 1, false);
			break;
		case 3: {
			uint16_t port = (uint16_t)(0x6f + (op >> 3) % 4);
			unsigned int w = fin_width(&in, 2);

			v = fin_u32(&in);
			bus_access(&bus, port, &v, w, op & 0x80);
			break;
		}
		case 4:
			advance(&h, fin_u32(&in) % 4000000000u);
			break;
		case 5:
			advance(&h, fin_u16(&in) * 1000ull);
			break;
		case 6:
			run_calls(&h);
			break;
		default:
			rtc_reset(r);
			break;
		}
	}
	bus_unregister(&bus, 0x70);
	rtc_free(r);
	bus_destroy(&bus);
	return 0;
}
