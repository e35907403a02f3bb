// SPDX-License-Identifier: MIT
/*
 * i8042 model, driven as Linux's i8042 and atkbd drivers probe it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "devices/i8042.h"

struct fake {
	int level[13];
	int edges[13];
	int resets;
};

static void fake_irq(void *opaque, int irq, int level)
{
	struct fake *f = opaque;

	assert_true(irq == 1 || irq == 12);
	assert_int_not_equal(f->level[irq], level);
	f->level[irq] = level;
	if (level)
		f->edges[irq]++;
}

static void fake_reset(void *opaque)
{
	struct fake *f = opaque;

	f->resets++;
}

struct ctx {
	struct i8042 *k;
	struct fake f;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	assert_int_equal(i8042_new(fake_irq, fake_reset, &c->f, &c->k), 0);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	i8042_free(c->k);
	free(c);
	return 0;
}

static uint8_t status(struct ctx *c)
{
	uint8_t v;

	i8042_cmd_bus_ops.read(c->k, 0, &v, 1);
	return v;
}

static uint8_t data(struct ctx *c)
{
	uint8_t v;

	i8042_data_bus_ops.read(c->k, 0, &v, 1);
	return v;
}

static void cmd(struct ctx *c, uint8_t v)
{
	i8042_cmd_bus_ops.write(c->k, 0, &v, 1);
}

static void out(struct ctx *c, uint8_t v)
{
	i8042_data_bus_ops.write(c->k, 0, &v, 1);
}

/* Read one byte the way i8042_wait_read() + read does. */
static int expect(struct ctx *c, uint8_t val, bool aux)
{
	uint8_t st = status(c);

	assert_true(st & I8042_STR_OBF);
	assert_int_equal(!!(st & I8042_STR_AUXDATA), aux);
	assert_int_equal(data(c), val);
	return 0;
}

static void test_probe(void **state)
{
	struct ctx *c = *state;
	uint8_t ctr;

	/* Controller present, nothing to flush. */
	assert_int_not_equal(status(c), 0xff);
	assert_int_equal(status(c) & I8042_STR_OBF, 0);

	/* Self-test. */
	cmd(c, 0xaa);
	expect(c, 0x55, false);
	assert_true(status(c) & I8042_STR_SYS);

	/* Command byte read and write. */
	cmd(c, 0x20);
	ctr = data(c);
	assert_true(ctr & I8042_CTR_SYS);
	ctr &= (uint8_t) ~(I8042_CTR_KBDINT | I8042_CTR_AUXINT);
	cmd(c, 0x60);
	out(c, ctr);
	c->f.edges[1] = c->f.edges[12] = 0; /* the self-test reply interrupted */
	cmd(c, 0x20);
	expect(c, ctr, false);

	/* Interface tests. */
	cmd(c, 0xab);
	expect(c, 0x00, false);
	cmd(c, 0xa9);
	expect(c, 0x00, false);

	/* AUX loopback returns the byte as AUX data; Linux's MUX probe sees
	 * its 0xA4 come back unchanged and concludes there is no MUX. */
	cmd(c, 0xd3);
	out(c, 0x5a);
	expect(c, 0x5a, true);
	cmd(c, 0xd3);
	out(c, 0xa4);
	expect(c, 0xa4, true);

	/* Port disables show in the command byte. */
	cmd(c, 0xa7);
	cmd(c, 0x20);
	assert_true(data(c) & I8042_CTR_AUXDIS);
	cmd(c, 0xa8);
	cmd(c, 0x20);
	assert_false(data(c) & I8042_CTR_AUXDIS);
	cmd(c, 0xad);
	cmd(c, 0x20);
	assert_true(data(c) & I8042_CTR_KBDDIS);
	cmd(c, 0xae);
	cmd(c, 0x20);
	assert_false(data(c) & I8042_CTR_KBDDIS);

	/* Interrupts were off since the command byte write. */
	assert_int_equal(c->f.edges[1] + c->f.edges[12], 0);
	assert_int_equal(status(c) & I8042_STR_OBF, 0);
}

static void test_irq(void **state)
{
	struct ctx *c = *state;

	/* Enable keyboard and AUX interrupts. */
	cmd(c, 0x60);
	out(c, I8042_CTR_KBDINT | I8042_CTR_AUXINT | I8042_CTR_SYS);

	/* The AUX IRQ test Linux runs. */
	cmd(c, 0xd3);
	out(c, 0xa5);
	assert_int_equal(c->f.level[12], 1);
	assert_int_equal(c->f.level[1], 0);
	expect(c, 0xa5, true);
	assert_int_equal(c->f.level[12], 0);

	/* Keyboard identify: three bytes, an edge for each. */
	out(c, 0xf2);
	assert_int_equal(c->f.edges[1], 1);
	expect(c, 0xfa, false);
	assert_int_equal(c->f.edges[1], 2);
	expect(c, 0xab, false);
	expect(c, 0x83, false); /* no translation: set-2 ID */
	assert_int_equal(c->f.edges[1], 3);
	assert_int_equal(c->f.level[1], 0);

	/* Keyboard reset: ACK, BAT passed. */
	out(c, 0xff);
	expect(c, 0xfa, false);
	expect(c, 0xaa, false);

	/* LEDs take a parameter: ACK twice. */
	out(c, 0xed);
	expect(c, 0xfa, false);
	out(c, 0x07);
	expect(c, 0xfa, false);

	/* Mouse: reset and identify through 0xD4. */
	cmd(c, 0xd4);
	out(c, 0xff);
	expect(c, 0xfa, true);
	expect(c, 0xaa, true);
	expect(c, 0x00, true);
	cmd(c, 0xd4);
	out(c, 0xf2);
	expect(c, 0xfa, true);
	expect(c, 0x00, true);
	assert_int_equal(status(c) & I8042_STR_OBF, 0);
	assert_int_equal(c->f.level[12], 0);
}

static void test_reset_requests(void **state)
{
	struct ctx *c = *state;
	uint8_t outp;

	/* Pulse the reset line. */
	cmd(c, 0xfe);
	assert_int_equal(c->f.resets, 1);
	/* 0xFF pulses nothing. */
	cmd(c, 0xff);
	assert_int_equal(c->f.resets, 1);

	/* Output port: bit 0 low resets. */
	cmd(c, 0xd0);
	outp = data(c);
	assert_true(outp & 0x01);
	cmd(c, 0xd1);
	out(c, outp | 0x01);
	assert_int_equal(c->f.resets, 1);
	cmd(c, 0xd1);
	out(c, outp & ~0x01);
	assert_int_equal(c->f.resets, 2);

	struct i8042_stats st;
	i8042_get_stats(c->k, &st);
	assert_int_equal(st.resets, 2);

	/* Device reset puts the controller back. */
	cmd(c, 0x60);
	out(c, 0);
	cmd(c, 0x20);
	i8042_reset(c->k);
	assert_int_equal(status(c) & I8042_STR_OBF, 0);
	cmd(c, 0x20);
	assert_int_not_equal(data(c), 0);
}

/* Junk from the guest is ignored, never fatal. */
static void test_junk(void **state)
{
	struct ctx *c = *state;
	uint32_t v;

	for (unsigned int i = 0; i < 0xf0; i++) {
		if (i == 0xd1)
			continue; /* would need a data byte with bit 0 set */
		cmd(c, (uint8_t)i);
		out(c, 0x01);
	}
	for (int i = 0; i < 64; i++)
		data(c);
	assert_int_equal(status(c) & I8042_STR_OBF, 0);
	i8042_data_bus_ops.read(c->k, 0, &v, 4);
	assert_int_equal(c->f.resets, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_junk, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
