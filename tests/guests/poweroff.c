// SPDX-License-Identifier: MIT
/*
 * poweroff.elf - ACPI S5 soft-off: SLP_TYP from the \_S5 package of the
 * DSDT, written with SLP_EN to PM1a_CNT (ACPI 6.4 sections 4.8.3.2.1 and
 * 7.4.2.5), or to SLEEP_CONTROL_REG on a hardware-reduced platform.  The
 * VMM is expected to exit with status 0; there is no debug-exit write on
 * success.  If the VM is still running 100 ms later, it FAILs.
 */
#include "guest.h"

void guest_main(void)
{
	char why[128];
	u8 a, b;

	check(acpi_find("FACP", 0), "no FADT");
	check(acpi_s5(&a, &b), "no \\_S5 package in the DSDT");
	printf("poweroff: \\_S5 SLP_TYPa=%u SLP_TYPb=%u, entering S5\n", a, b);
	acpi_poweroff(why, sizeof(why));
	fail("ACPI power off: %s", why);
}
