// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the ACPI fixed hardware (src/devices/acpi_pm.c) and
 * the isa-debug-exit port (src/devices/debug_exit.c), the two devices
 * through which a guest stops or resets the machine.  Port accesses of
 * any width over the PM block (PM1 status/enable/control, PM timer,
 * GPE0) and around it, the 0xCF9 reset register, S5 and other sleep
 * types, W1C status bits with the SCI following them; the host side
 * presses the power button, raises GPEs and saves and restores the state
 * (restore masks what cannot be held).  Power-off and reset requests are
 * counted, never acted on; the SCI must stay 0 or 1.
 */
#include "fuzz_common.h"

#include "arch/x86/layout.h"
#include "bus/bus.h"
#include "devices/acpi_pm.h"
#include "devices/debug_exit.h"

struct harness {
	struct acpi_pm *pm;
	int sci;
	uint64_t poweroffs, resets, exits;
};

static void set_sci(void *opaque, int level)
{
	if (level != 0 && level != 1)
		abort();
	((struct harness *)opaque)->sci = level;
}

static void poweroff(void *opaque)
{
	((struct harness *)opaque)->poweroffs++;
}

static void reset(void *opaque)
{
	((struct harness *)opaque)->resets++;
}

static void debug_exit(void *opaque, int status)
{
	((struct harness *)opaque)->exits++;
}

static const struct acpi_pm_ops pm_ops = { .set_sci = set_sci,
					   .poweroff = poweroff,
					   .reset = reset };

/* The PM block and 0xCF9 forward by absolute port, as the bus does. */
static void pm_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	acpi_pm_pio_read(opaque, (uint16_t)(X86_PORT_ACPI_PM_BASE + off), data, len);
}

static void pm_write(void *opaque, uint64_t off, const void *data, unsigned int len)
{
	acpi_pm_pio_write(opaque, (uint16_t)(X86_PORT_ACPI_PM_BASE + off), data, len);
}

static void rcr_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	acpi_pm_pio_read(opaque, (uint16_t)(X86_PORT_RESET + off), data, len);
}

static void rcr_write(void *opaque, uint64_t off, const void *data, unsigned int len)
{
	acpi_pm_pio_write(opaque, (uint16_t)(X86_PORT_RESET + off), data, len);
}

static const struct bus_ops pm_bus = { .read = pm_read, .write = pm_write };
static const struct bus_ops rcr_bus = { .read = rcr_read, .write = rcr_write };

#define PM_LEN (X86_PORT_GPE0 + 4 - X86_PORT_ACPI_PM_BASE)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct fin in = { data, len };
	struct harness h = { 0 };
	struct debug_exit *de;
	struct bus bus;

	fuzz_quiet();
	if (bus_init(&bus, "pio") || acpi_pm_new(&pm_ops, &h, &h.pm) ||
	    debug_exit_new(debug_exit, &h, &de) ||
	    bus_register(&bus, X86_PORT_ACPI_PM_BASE, PM_LEN, &pm_bus, h.pm) ||
	    bus_register(&bus, X86_PORT_RESET, 1, &rcr_bus, h.pm) ||
	    bus_register(&bus, X86_PORT_DEBUG_EXIT, DEBUG_EXIT_PORTS, &debug_exit_bus_ops, de))
		abort();
	for (unsigned int steps = 0; fin_more(&in) && steps < 1024; steps++) {
		uint8_t op = fin_u8(&in);
		uint32_t v = 0;

		switch (op % 8) {
		case 0:
		case 1:
		case 2: {
			/* The PM block and a little around it. */
			uint16_t port =
				(uint16_t)(X86_PORT_ACPI_PM_BASE - 2 + fin_u8(&in) % (PM_LEN + 4));
			unsigned int w = fin_width(&in, 2);

			v = fin_u32(&in);
			bus_access(&bus, port, &v, w, op % 8 != 2);
			break;
		}
		case 3: {
			uint16_t port = (op & 8) ? X86_PORT_RESET
						 : (uint16_t)(X86_PORT_DEBUG_EXIT + (op >> 4) % 5);
			unsigned int w = fin_width(&in, 2);

			v = fin_u32(&in);
			bus_access(&bus, port, &v, w, !(op & 0x80));
			break;
		}
		case 4:
			acpi_pm_power_button(h.pm);
			acpi_pm_power_button_enabled(h.pm);
			break;
		case 5:
			acpi_pm_raise_gpe(h.pm, fin_u8(&in) % 20); /* 16-19: refused */
			break;
		case 6: {
			struct acpi_pm_state st;

			/* Save, let the input change it, restore. */
			acpi_pm_save(h.pm, &st);
			if (op & 8)
				fin_bytes(&in, &st, sizeof(st));
			acpi_pm_load(h.pm, &st);
			break;
		}
		default:
			acpi_pm_reset(h.pm);
			break;
		}
	}
	bus_unregister(&bus, X86_PORT_DEBUG_EXIT);
	bus_unregister(&bus, X86_PORT_RESET);
	bus_unregister(&bus, X86_PORT_ACPI_PM_BASE);
	debug_exit_free(de);
	acpi_pm_free(h.pm);
	bus_destroy(&bus);
	return 0;
}
