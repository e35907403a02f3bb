// SPDX-License-Identifier: MIT
/* ACPI PM fixed hardware (src/devices/acpi_pm.c) with fake machine callbacks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include "arch/x86/layout.h"
#include "devices/acpi_pm.h"

struct fake_machine {
	int sci;
	unsigned int sci_changes;
	unsigned int poweroffs;
	unsigned int resets;
};

static void fake_set_sci(void *opaque, int level)
{
	struct fake_machine *m = opaque;

	m->sci = level;
	m->sci_changes++;
}

static void fake_poweroff(void *opaque)
{
	((struct fake_machine *)opaque)->poweroffs++;
}

static void fake_reset(void *opaque)
{
	((struct fake_machine *)opaque)->resets++;
}

static const struct acpi_pm_ops fake_ops = {
	.set_sci = fake_set_sci,
	.poweroff = fake_poweroff,
	.reset = fake_reset,
};

static uint32_t rd(struct acpi_pm *pm, uint16_t port, unsigned int len)
{
	uint32_t v = 0;

	acpi_pm_pio_read(pm, port, &v, len);
	return v;
}

static void wr(struct acpi_pm *pm, uint16_t port, uint32_t v, unsigned int len)
{
	acpi_pm_pio_write(pm, port, &v, len);
}

/* The machine the device under test talks to, reset before each test. */
static struct fake_machine fake;

static struct fake_machine *machine(void)
{
	return &fake;
}

static int setup_m(void **state)
{
	struct acpi_pm *pm;

	memset(&fake, 0, sizeof(fake));
	if (acpi_pm_new(&fake_ops, &fake, &pm))
		return -1;
	*state = pm;
	return 0;
}

static int teardown(void **state)
{
	acpi_pm_free(*state);
	return 0;
}

static void test_power_on_values(void **state)
{
	struct acpi_pm *pm = *state;

	assert_int_equal(rd(pm, X86_PORT_PM1A_EVT, 2), 0);
	assert_int_equal(rd(pm, X86_PORT_PM1A_EVT + 2, 2), 0);
	/* Always in ACPI mode: SCI_EN reads 1 (section 4.8.2.5). */
	assert_int_equal(rd(pm, X86_PORT_PM1A_CNT, 2), ACPI_PM1_CNT_SCI_EN);
	assert_int_equal(rd(pm, X86_PORT_GPE0, 4), 0);
	/* Guests cannot clear SCI_EN. */
	wr(pm, X86_PORT_PM1A_CNT, 0, 2);
	assert_int_equal(rd(pm, X86_PORT_PM1A_CNT, 2) & ACPI_PM1_CNT_SCI_EN, ACPI_PM1_CNT_SCI_EN);
	/* Holes read as all ones. */
	assert_int_equal(rd(pm, X86_PORT_ACPI_PM_BASE + 0x10, 1), 0xff);
}

static void test_power_button(void **state)
{
	struct acpi_pm *pm = *state;
	struct fake_machine *m = machine();

	/* Not enabled yet: latched, but no SCI. */
	assert_int_equal(acpi_pm_power_button(pm), -EAGAIN);
	assert_false(acpi_pm_power_button_enabled(pm));
	assert_int_equal(m->sci, 0);
	assert_true(rd(pm, X86_PORT_PM1A_EVT, 2) & ACPI_PM1_PWRBTN_STS);

	/* Enabling the event with the status set raises the SCI at once. */
	wr(pm, X86_PORT_PM1A_EVT + 2, ACPI_PM1_PWRBTN_EN, 2);
	assert_true(acpi_pm_power_button_enabled(pm));
	assert_int_equal(m->sci, 1);

	/* Writing 0 does not clear; writing 1 to another bit does not either. */
	wr(pm, X86_PORT_PM1A_EVT, 0, 2);
	wr(pm, X86_PORT_PM1A_EVT, ACPI_PM1_WAK_STS, 2);
	assert_true(rd(pm, X86_PORT_PM1A_EVT, 2) & ACPI_PM1_PWRBTN_STS);
	assert_int_equal(m->sci, 1);
	/* Write 1 to clear: the SCI drops. */
	wr(pm, X86_PORT_PM1A_EVT, ACPI_PM1_PWRBTN_STS, 2);
	assert_false(rd(pm, X86_PORT_PM1A_EVT, 2) & ACPI_PM1_PWRBTN_STS);
	assert_int_equal(m->sci, 0);

	/* Pressed while enabled: SCI up until the OS acknowledges. */
	assert_int_equal(acpi_pm_power_button(pm), 0);
	assert_int_equal(m->sci, 1);
	/* A 32-bit write of STS|EN as ACPICA may do: clears STS, keeps EN. */
	wr(pm, X86_PORT_PM1A_EVT, ACPI_PM1_PWRBTN_STS | (uint32_t)ACPI_PM1_PWRBTN_EN << 16, 4);
	assert_int_equal(m->sci, 0);
	assert_int_equal(rd(pm, X86_PORT_PM1A_EVT + 2, 2), ACPI_PM1_PWRBTN_EN);
	/* Byte access to the high status byte also clears (bit 8 = byte 1 bit 0). */
	acpi_pm_power_button(pm);
	assert_int_equal(m->sci, 1);
	wr(pm, X86_PORT_PM1A_EVT + 1, 0x01, 1);
	assert_int_equal(m->sci, 0);
	/* Disabling the event with the status set lowers the line. */
	acpi_pm_power_button(pm);
	assert_int_equal(m->sci, 1);
	wr(pm, X86_PORT_PM1A_EVT + 2, 0, 2);
	assert_int_equal(m->sci, 0);
}

static void test_sleep(void **state)
{
	struct acpi_pm *pm = *state;
	struct fake_machine *m = machine();

	/* SLP_TYP without SLP_EN does nothing. */
	wr(pm, X86_PORT_PM1A_CNT, X86_ACPI_SLP_TYP_S5 << ACPI_PM1_CNT_SLP_TYP_SHIFT, 2);
	assert_int_equal(m->poweroffs, 0);
	/* S1 (type 1) is not offered: ignored, WAK_STS as if woken at once. */
	wr(pm, X86_PORT_PM1A_CNT, (1 << ACPI_PM1_CNT_SLP_TYP_SHIFT) | ACPI_PM1_CNT_SLP_EN, 2);
	assert_int_equal(m->poweroffs, 0);
	assert_true(rd(pm, X86_PORT_PM1A_EVT, 2) & ACPI_PM1_WAK_STS);
	/* SLP_EN reads as 0. */
	assert_false(rd(pm, X86_PORT_PM1A_CNT, 2) & ACPI_PM1_CNT_SLP_EN);
	/* S5 as ACPICA writes it: SLP_TYP first, then SLP_EN|SLP_TYP. */
	wr(pm, X86_PORT_PM1A_CNT,
	   ACPI_PM1_CNT_SCI_EN | (X86_ACPI_SLP_TYP_S5 << ACPI_PM1_CNT_SLP_TYP_SHIFT), 2);
	wr(pm, X86_PORT_PM1A_CNT,
	   ACPI_PM1_CNT_SCI_EN | (X86_ACPI_SLP_TYP_S5 << ACPI_PM1_CNT_SLP_TYP_SHIFT) |
		   ACPI_PM1_CNT_SLP_EN,
	   2);
	assert_int_equal(m->poweroffs, 1);
	/* The high byte alone carries SLP_TYP and SLP_EN too. */
	wr(pm, X86_PORT_PM1A_CNT + 1, (X86_ACPI_SLP_TYP_S5 << 2) | 0x20, 1);
	assert_int_equal(m->poweroffs, 2);
	assert_int_equal(m->resets, 0);
}

static void test_reset_register(void **state)
{
	struct acpi_pm *pm = *state;
	struct fake_machine *m = machine();

	wr(pm, X86_PORT_RESET, ACPI_RCR_SYS_RST, 1);
	assert_int_equal(m->resets, 0);
	assert_int_equal(rd(pm, X86_PORT_RESET, 1), ACPI_RCR_SYS_RST);
	/* FADT RESET_VALUE 0x06. */
	wr(pm, X86_PORT_RESET, 0x06, 1);
	assert_int_equal(m->resets, 1);
	/* Wider accesses are not the reset register. */
	wr(pm, X86_PORT_RESET, 0x0606, 2);
	assert_int_equal(m->resets, 1);
	/* Reset op: power-on values. */
	acpi_pm_power_button(pm);
	acpi_pm_reset(pm);
	assert_int_equal(rd(pm, X86_PORT_PM1A_EVT, 4), 0);
	assert_int_equal(rd(pm, X86_PORT_PM1A_CNT, 2), ACPI_PM1_CNT_SCI_EN);
	assert_int_equal(rd(pm, X86_PORT_RESET, 1), 0);
}

static void test_gpe(void **state)
{
	struct acpi_pm *pm = *state;
	struct fake_machine *m = machine();

	assert_int_equal(acpi_pm_raise_gpe(pm, 16), -EINVAL);
	assert_int_equal(acpi_pm_raise_gpe(pm, 3), 0);
	assert_int_equal(m->sci, 0);
	assert_int_equal(rd(pm, X86_PORT_GPE0, 1), 0x08);
	wr(pm, X86_PORT_GPE0 + 2, 0x08, 1);
	assert_int_equal(m->sci, 1);
	wr(pm, X86_PORT_GPE0, 0x08, 1);
	assert_int_equal(m->sci, 0);
	assert_int_equal(rd(pm, X86_PORT_GPE0 + 2, 2), 0x08);
}

static void test_timer(void **state)
{
	struct acpi_pm *pm = *state;
	struct timespec ts = { 0, 2 * 1000 * 1000 };
	uint32_t t0, t1;

	t0 = rd(pm, X86_PORT_PM_TMR, 4);
	nanosleep(&ts, NULL);
	t1 = rd(pm, X86_PORT_PM_TMR, 4);
	/* 2 ms at 3.579545 MHz is about 7159 ticks. */
	assert_true(t1 - t0 >= 7000);
	assert_true(t1 - t0 < 3579545);
	/* Read-only: writes are ignored. */
	wr(pm, X86_PORT_PM_TMR, 0, 4);
	assert_true(rd(pm, X86_PORT_PM_TMR, 4) - t1 < 3579545);
	/* Odd sizes never crash. */
	uint8_t big[8];

	acpi_pm_pio_read(pm, X86_PORT_PM_TMR, big, 8);
	acpi_pm_pio_write(pm, X86_PORT_PM_TMR, big, 8);
	acpi_pm_pio_write(pm, X86_PORT_PM1A_EVT + 3, big, 2);
}

static void test_save_load(void **state)
{
	struct acpi_pm *pm = *state, *pm2;
	struct fake_machine m2 = { 0 };
	struct acpi_pm_state st;
	uint32_t t0, t1;

	wr(pm, X86_PORT_PM1A_EVT + 2, ACPI_PM1_PWRBTN_EN, 2);
	acpi_pm_power_button(pm);
	wr(pm, X86_PORT_GPE0 + 2, 0x0102, 2);
	wr(pm, X86_PORT_RESET, ACPI_RCR_SYS_RST, 1);
	t0 = rd(pm, X86_PORT_PM_TMR, 4);
	acpi_pm_save(pm, &st);
	assert_int_equal(st.pm1_sts & ACPI_PM1_PWRBTN_STS, ACPI_PM1_PWRBTN_STS);
	assert_int_equal(st.pm1_en, ACPI_PM1_PWRBTN_EN);
	assert_int_equal(st.gpe0_en, 0x0102);

	assert_int_equal(acpi_pm_new(&fake_ops, &m2, &pm2), 0);
	acpi_pm_load(pm2, &st);
	/* The pending power button raises the SCI on the destination. */
	assert_int_equal(m2.sci, 1);
	assert_int_equal(rd(pm2, X86_PORT_PM1A_EVT + 2, 2), ACPI_PM1_PWRBTN_EN);
	assert_int_equal(rd(pm2, X86_PORT_GPE0 + 2, 2), 0x0102);
	assert_int_equal(rd(pm2, X86_PORT_RESET, 1), ACPI_RCR_SYS_RST);
	assert_int_equal(rd(pm2, X86_PORT_PM1A_CNT, 2) & ACPI_PM1_CNT_SCI_EN, ACPI_PM1_CNT_SCI_EN);
	/* The timer goes on from where it was, not from zero. */
	t1 = rd(pm2, X86_PORT_PM_TMR, 4);
	assert_true(t1 >= t0);
	assert_true(t1 - t0 < ACPI_PM_TIMER_HZ);
	/* Garbage is masked, SCI_EN stays. */
	memset(&st, 0xff, sizeof(st));
	acpi_pm_load(pm2, &st);
	assert_int_equal(rd(pm2, X86_PORT_PM1A_CNT, 2) & ~0x1c03u, 0);
	acpi_pm_free(pm2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_power_on_values, setup_m, teardown),
		cmocka_unit_test_setup_teardown(test_power_button, setup_m, teardown),
		cmocka_unit_test_setup_teardown(test_sleep, setup_m, teardown),
		cmocka_unit_test_setup_teardown(test_reset_register, setup_m, teardown),
		cmocka_unit_test_setup_teardown(test_gpe, setup_m, teardown),
		cmocka_unit_test_setup_teardown(test_timer, setup_m, teardown),
		cmocka_unit_test_setup_teardown(test_save_load, setup_m, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
