// SPDX-License-Identifier: MIT
/*
 * MC146818 RTC model with a fake clock and fake timers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "devices/rtc.h"

#define NS 1000000000ull

struct fake_timer {
	bool armed;
	uint64_t first, period;
	void (*fn)(void *);
	void *arg;
};

struct fake {
	uint64_t now;
	int level, edges;
	void (*sched_fn)(void *);
	void *sched_arg;
	struct fake_timer t[8];
};

static void f_irq(void *opaque, int level)
{
	struct fake *f = opaque;

	assert_int_not_equal(f->level, level);
	f->level = level;
	if (level)
		f->edges++;
}

static uint64_t f_now(void *opaque)
{
	return ((struct fake *)opaque)->now;
}

static int f_schedule(void *opaque, void (*fn)(void *), void *arg)
{
	struct fake *f = opaque;

	assert_null(f->sched_fn); /* the model coalesces requests */
	f->sched_fn = fn;
	f->sched_arg = arg;
	return 0;
}

static int f_timer_add(void *opaque, uint64_t first, uint64_t period, void (*fn)(void *), void *arg)
{
	struct fake *f = opaque;

	for (int i = 0; i < 8; i++)
		if (!f->t[i].armed) {
			f->t[i] = (struct fake_timer){ true, first, period, fn, arg };
			return i;
		}
	return -ENOSPC;
}

static void f_timer_cancel(void *opaque, int id)
{
	struct fake *f = opaque;

	assert_true(id >= 0 && id < 8 && f->t[id].armed);
	f->t[id].armed = false;
}

static const struct rtc_ops fake_ops = {
	.set_irq = f_irq,
	.now = f_now,
	.schedule = f_schedule,
	.timer_add = f_timer_add,
	.timer_cancel = f_timer_cancel,
};

/* Run the deferred reprogramming, as the event loop would. */
static void run_scheduled(struct fake *f)
{
	void (*fn)(void *) = f->sched_fn;

	if (fn) {
		f->sched_fn = NULL;
		fn(f->sched_arg);
	}
}

/* Fire timer i; one-shots disarm first, as evloop does. */
static void fire(struct fake *f, int i)
{
	assert_true(f->t[i].armed);
	if (!f->t[i].period)
		f->t[i].armed = false;
	f->t[i].fn(f->t[i].arg);
}

static int armed_count(struct fake *f)
{
	int n = 0;

	for (int i = 0; i < 8; i++)
		n += f->t[i].armed;
	return n;
}

struct ctx {
	struct rtc *r;
	struct fake f;
};

/* Saturday 2026-11-21 21:16:34 UTC, plus half a second. */
static uint64_t base_time(void)
{
	struct tm tm = { .tm_year = 126,
			 .tm_mon = 10,
			 .tm_mday = 21,
			 .tm_hour = 21,
			 .tm_min = 16,
			 .tm_sec = 34 };

	return (uint64_t)timegm(&tm) * NS + NS / 2;
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->f.now = base_time();
	assert_int_equal(rtc_new(&fake_ops, &c->f, &c->r), 0);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	rtc_free(c->r);
	free(c);
	return 0;
}

static uint8_t rd(struct ctx *c, uint8_t reg)
{
	uint8_t v;

	rtc_bus_ops.write(c->r, 0, &(uint8_t){ reg | 0x80 }, 1); /* NMI bit ignored */
	rtc_bus_ops.read(c->r, 1, &v, 1);
	return v;
}

static void wr(struct ctx *c, uint8_t reg, uint8_t v)
{
	rtc_bus_ops.write(c->r, 0, &reg, 1);
	rtc_bus_ops.write(c->r, 1, &v, 1);
}

static void test_bcd_24h(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(rd(c, RTC_REG_B), RTC_B_24H);
	assert_int_equal(rd(c, RTC_REG_D), RTC_D_VRT);
	assert_int_equal(rd(c, RTC_SECONDS), 0x34);
	assert_int_equal(rd(c, RTC_MINUTES), 0x16);
	assert_int_equal(rd(c, RTC_HOURS), 0x21);
	assert_int_equal(rd(c, RTC_DAY_OF_WEEK), 7);
	assert_int_equal(rd(c, RTC_DAY_OF_MONTH), 0x21);
	assert_int_equal(rd(c, RTC_MONTH), 0x11);
	assert_int_equal(rd(c, RTC_YEAR), 0x26);
	assert_int_equal(rd(c, RTC_CENTURY), 0x20);
	/* The clock runs with the host's. */
	c->f.now += 27 * NS;
	assert_int_equal(rd(c, RTC_SECONDS), 0x01);
	assert_int_equal(rd(c, RTC_MINUTES), 0x17);
}

static void test_binary_12h(void **state)
{
	struct ctx *c = *state;

	wr(c, RTC_REG_B, RTC_B_24H | RTC_B_DM_BINARY);
	assert_int_equal(rd(c, RTC_SECONDS), 34);
	assert_int_equal(rd(c, RTC_HOURS), 21);
	assert_int_equal(rd(c, RTC_YEAR), 26);
	assert_int_equal(rd(c, RTC_CENTURY), 20);
	/* 12-hour, binary: 21h is 9 PM. */
	wr(c, RTC_REG_B, RTC_B_DM_BINARY);
	assert_int_equal(rd(c, RTC_HOURS), 0x80 | 9);
	/* 12-hour, BCD, at 00:xx: 12 AM. */
	c->f.now += 3 * 3600 * NS;
	wr(c, RTC_REG_B, 0);
	assert_int_equal(rd(c, RTC_HOURS), 0x12);
	assert_int_equal(rd(c, RTC_DAY_OF_MONTH), 0x22);
	c->f.now += 13 * 3600 * NS; /* 13:16: 1 PM */
	assert_int_equal(rd(c, RTC_HOURS), 0x81);
	/* Writing 12-hour values: 11 PM. */
	wr(c, RTC_HOURS, 0x80 | 0x11);
	wr(c, RTC_REG_B, RTC_B_24H);
	assert_int_equal(rd(c, RTC_HOURS), 0x23);
}

static void test_set_time(void **state)
{
	struct ctx *c = *state;

	/* SET stops updates while the guest loads the time. */
	wr(c, RTC_REG_B, RTC_B_SET | RTC_B_24H);
	wr(c, RTC_SECONDS, 0x00);
	wr(c, RTC_MINUTES, 0x30);
	wr(c, RTC_HOURS, 0x08);
	wr(c, RTC_DAY_OF_MONTH, 0x01);
	wr(c, RTC_MONTH, 0x02);
	wr(c, RTC_YEAR, 0x99);
	wr(c, RTC_CENTURY, 0x19);
	c->f.now += 5 * NS;
	assert_int_equal(rd(c, RTC_SECONDS), 0x00);
	assert_int_equal(rd(c, RTC_REG_A) & RTC_A_UIP, 0);
	wr(c, RTC_REG_B, RTC_B_24H);
	c->f.now += 2 * NS;
	assert_int_equal(rd(c, RTC_SECONDS), 0x02);
	assert_int_equal(rd(c, RTC_MINUTES), 0x30);
	assert_int_equal(rd(c, RTC_HOURS), 0x08);
	assert_int_equal(rd(c, RTC_DAY_OF_MONTH), 0x01);
	assert_int_equal(rd(c, RTC_MONTH), 0x02);
	assert_int_equal(rd(c, RTC_YEAR), 0x99);
	assert_int_equal(rd(c, RTC_CENTURY), 0x19);
	assert_int_equal(rd(c, RTC_DAY_OF_WEEK), 2); /* 1999-02-01 was a Monday */
	/* Nonsense is ignored, never fatal. */
	wr(c, RTC_CENTURY, 0x99);
	assert_int_equal(rd(c, RTC_CENTURY), 0x19);
	wr(c, RTC_REG_C, 0xff);
	wr(c, RTC_REG_D, 0x00);
	assert_int_equal(rd(c, RTC_REG_D), RTC_D_VRT);
}

static void test_uip(void **state)
{
	struct ctx *c = *state;
	uint64_t sec = c->f.now / NS * NS;

	c->f.now = sec + NS / 2;
	assert_int_equal(rd(c, RTC_REG_A), 0x26);
	/* In the last 244 us before the update. */
	c->f.now = sec + NS - 100000;
	assert_int_equal(rd(c, RTC_REG_A), RTC_A_UIP | 0x26);
	/* A guest waiting for UIP to fall sees the new second. */
	c->f.now = sec + NS + 1000;
	assert_int_equal(rd(c, RTC_REG_A), 0x26);
	assert_int_equal(rd(c, RTC_SECONDS), 0x35);
	/* UIP is read-only. */
	wr(c, RTC_REG_A, 0xa6);
	assert_int_equal(rd(c, RTC_REG_A), 0x26);
}

static void test_nvram_survives_reset(void **state)
{
	struct ctx *c = *state;

	rtc_set_memory(c->r, 512 * 1024 * 1024ull, 3ull << 30);
	for (uint8_t i = RTC_NVRAM_FREE_START; i <= RTC_NVRAM_FREE_END; i++)
		assert_int_equal(rd(c, i), 0); /* vessel leaves them free */
	for (uint8_t i = RTC_NVRAM_FREE_START; i <= RTC_NVRAM_FREE_END; i++)
		wr(c, i, (uint8_t)(0xa0 + i));
	wr(c, 0x7f, 0x5a);
	wr(c, RTC_REG_B, RTC_B_DM_BINARY | RTC_B_PIE);
	wr(c, RTC_REG_A, 0x2f);
	rtc_reset(c->r);
	for (uint8_t i = RTC_NVRAM_FREE_START; i <= RTC_NVRAM_FREE_END; i++)
		assert_int_equal(rd(c, i), 0xa0 + i);
	assert_int_equal(rd(c, 0x7f), 0x5a);
	assert_int_equal(rd(c, RTC_REG_A), 0x26);
	assert_int_equal(rd(c, RTC_REG_B), RTC_B_24H);
	assert_int_equal(rd(c, RTC_REG_C), 0);
	/* Memory sizes: 511 MiB above 1 MiB caps at 0xffff KiB; 3 GiB above
	 * 4 GiB is 0xc000 64-KiB units. */
	assert_int_equal(rd(c, 0x30) | rd(c, 0x31) << 8, 0xffff);
	assert_int_equal(rd(c, 0x17) | rd(c, 0x18) << 8, 0xffff);
	assert_int_equal(rd(c, 0x5b) | rd(c, 0x5c) << 8 | rd(c, 0x5d) << 16, 0xc000);
	/* The time was kept. */
	assert_int_equal(rd(c, RTC_MINUTES), 0x16);
}

static void test_update_interrupt(void **state)
{
	struct ctx *c = *state;
	int t;

	/* No interrupt enabled: no timers. */
	run_scheduled(&c->f);
	assert_int_equal(armed_count(&c->f), 0);

	wr(c, RTC_REG_B, RTC_B_24H | RTC_B_UIE);
	assert_int_equal(armed_count(&c->f), 0); /* reprogrammed on the loop */
	run_scheduled(&c->f);
	assert_int_equal(armed_count(&c->f), 1);
	t = 0;
	assert_int_equal(c->f.t[t].period, 0);
	assert_true(c->f.t[t].first > NS / 2 && c->f.t[t].first < NS / 2 + NS / 100);

	c->f.now += c->f.t[t].first;
	fire(&c->f, t);
	assert_int_equal(c->f.level, 1);
	assert_int_equal(armed_count(&c->f), 1); /* re-armed for the next second */
	assert_int_equal(rd(c, RTC_REG_C), RTC_C_IRQF | RTC_C_UF);
	assert_int_equal(c->f.level, 0);
	assert_int_equal(rd(c, RTC_REG_C), 0);

	/* Disabling stops the timer. */
	wr(c, RTC_REG_B, RTC_B_24H);
	run_scheduled(&c->f);
	assert_int_equal(armed_count(&c->f), 0);
}

static void test_alarm(void **state)
{
	struct ctx *c = *state;
	int t;

	/* Alarm at xx:xx:40, hours and minutes "don't care". */
	wr(c, RTC_SECONDS_ALARM, 0x40);
	wr(c, RTC_MINUTES_ALARM, 0xc0);
	wr(c, RTC_HOURS_ALARM, 0xff);
	wr(c, RTC_REG_B, RTC_B_24H | RTC_B_AIE);
	run_scheduled(&c->f);
	for (int s = 35; s <= 40; s++) {
		t = -1;
		for (int i = 0; i < 8; i++)
			if (c->f.t[i].armed)
				t = i;
		assert_true(t >= 0);
		c->f.now = c->f.now / NS * NS + NS + 100000;
		fire(&c->f, t);
		assert_int_equal(c->f.level, s == 40);
	}
	assert_int_equal(rd(c, RTC_REG_C), RTC_C_IRQF | RTC_C_AF | RTC_C_UF);
	assert_int_equal(c->f.level, 0);
}

static void test_periodic_interrupt(void **state)
{
	struct ctx *c = *state;
	struct rtc_stats st;
	int t = -1;

	/* Flags without the interrupt enabled do not raise the line. */
	wr(c, RTC_REG_A, 0x26); /* RS = 6: 1024 Hz */
	wr(c, RTC_REG_B, RTC_B_24H | RTC_B_PIE);
	run_scheduled(&c->f);
	for (int i = 0; i < 8; i++)
		if (c->f.t[i].armed)
			t = i;
	assert_true(t >= 0);
	assert_int_equal(c->f.t[t].period, 976562);
	fire(&c->f, t);
	assert_int_equal(c->f.level, 1);
	fire(&c->f, t); /* not acknowledged: no new edge */
	assert_int_equal(c->f.edges, 1);
	assert_int_equal(rd(c, RTC_REG_C) & (RTC_C_IRQF | RTC_C_PF), RTC_C_IRQF | RTC_C_PF);
	assert_int_equal(c->f.level, 0);
	fire(&c->f, t);
	assert_int_equal(c->f.edges, 2);

	/* A new rate reprograms the timer: RS = 15 is 2 Hz, RS = 1 256 Hz. */
	wr(c, RTC_REG_A, 0x2f);
	run_scheduled(&c->f);
	assert_int_equal(armed_count(&c->f), 1);
	for (int i = 0; i < 8; i++)
		if (c->f.t[i].armed)
			assert_int_equal(c->f.t[i].period, NS / 2);
	wr(c, RTC_REG_A, 0x21);
	run_scheduled(&c->f);
	for (int i = 0; i < 8; i++)
		if (c->f.t[i].armed)
			assert_int_equal(c->f.t[i].period, NS / 256);
	rtc_get_stats(c->r, &st);
	assert_int_equal(st.periodic_ticks, 3);

	/* Reset: interrupts off, timers gone, line low. */
	rtc_reset(c->r);
	run_scheduled(&c->f);
	assert_int_equal(armed_count(&c->f), 0);
	assert_int_equal(c->f.level, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bcd_24h, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binary_12h, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nvram_survives_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_interrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alarm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_periodic_interrupt, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
