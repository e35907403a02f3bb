/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_DEVICES_ACPI_PM_H
#define VESSEL_DEVICES_ACPI_PM_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"
#include "util/stream.h"

/*
 * ACPI fixed hardware (ACPI 6.4 section 4.8) at the ports of layout.h, as
 * the FADT describes it:
 *
 *   X86_PORT_PM1A_EVT  PM1_STS (16 bits, write 1 to clear), PM1_EN (16)
 *   X86_PORT_PM1A_CNT  PM1_CNT: SCI_EN (always 1), SLP_TYP, SLP_EN
 *   X86_PORT_PM_TMR    32-bit PM timer at 3.579545 MHz (TMR_VAL_EXT)
 *   X86_PORT_GPE0      GPE0_STS (16 bits, W1C), GPE0_EN (16)
 *   X86_PORT_RESET     reset control register (0xCF9): bit 2 resets
 *
 * The SCI (IRQ 9, level, active high) is asserted while
 * (PM1_STS & PM1_EN) or (GPE0_STS & GPE0_EN) is non-zero.  SLP_EN with
 * SLP_TYP = X86_ACPI_SLP_TYP_S5 powers the VM off.
 */
#define ACPI_PM1_TMR_STS (1u << 0)
#define ACPI_PM1_BM_STS (1u << 4)
#define ACPI_PM1_GBL_STS (1u << 5)
#define ACPI_PM1_PWRBTN_STS (1u << 8)
#define ACPI_PM1_SLPBTN_STS (1u << 9)
#define ACPI_PM1_RTC_STS (1u << 10)
#define ACPI_PM1_WAK_STS (1u << 15)
#define ACPI_PM1_TMR_EN (1u << 0)
#define ACPI_PM1_GBL_EN (1u << 5)
#define ACPI_PM1_PWRBTN_EN (1u << 8)
#define ACPI_PM1_CNT_SCI_EN (1u << 0)
#define ACPI_PM1_CNT_SLP_TYP_SHIFT 10
#define ACPI_PM1_CNT_SLP_TYP_MASK (7u << 10)
#define ACPI_PM1_CNT_SLP_EN (1u << 13)
#define ACPI_PM_TIMER_HZ 3579545ull
#define ACPI_RCR_SYS_RST (1u << 1)
#define ACPI_RCR_RST_CPU (1u << 2)

struct dev_host;
struct acpi_pm;

/*
 * What the PM hardware asks of the machine.  acpi_pm_create() wires these
 * to the host interface: dev_host_irq_line(host, X86_IRQ_SCI, level) and
 * dev_host_request(host, DEV_HOST_POWEROFF / DEV_HOST_RESET); unit tests
 * pass fakes.
 * poweroff and reset are called without the device lock held.
 */
struct acpi_pm_ops {
	void (*set_sci)(void *opaque, int level);
	void (*poweroff)(void *opaque);
	void (*reset)(void *opaque);
};

/*
 * Create the device on a machine: registers its port ranges on host->pio
 * (0xCF9 too, unless the PCI host bridge decodes it) and the component
 * "acpi-pm" (reset restores power-on values, stats), which owns it from
 * then on.  The caller keeps *out for the power button
 * (vm_request_shutdown()).
 */
int acpi_pm_create(struct dev_host *host, struct acpi_pm **out);

/* The device alone, without a VM (tests). */
int acpi_pm_new(const struct acpi_pm_ops *ops, void *opaque, struct acpi_pm **out);
void acpi_pm_free(struct acpi_pm *pm);
/* Back to power-on values: SCI_EN set, everything else clear. */
void acpi_pm_reset(struct acpi_pm *pm);

/*
 * Press the power button (section 4.8.2.2.1.1): sets PWRBTN_STS and
 * raises the SCI if the guest enabled PWRBTN_EN.  This is how `vessel
 * shutdown` and the API ask the guest to shut down.  Returns 0, or
 * -EAGAIN when the guest has not enabled the power button event (yet):
 * the status bit is still latched and fires once it enables it.
 */
int acpi_pm_power_button(struct acpi_pm *pm);
/* Whether the guest's OSPM has enabled the power button event. */
bool acpi_pm_power_button_enabled(struct acpi_pm *pm);

/*
 * Raise a general-purpose event: sets GPE0_STS bit `gpe` (0-15).  For
 * future hotplug notifications; no GPE is used yet.
 */
int acpi_pm_raise_gpe(struct acpi_pm *pm, unsigned int gpe);

/*
 * Register state for snapshots and live migration (docs/architecture.md: versioned
 * formats; the caller writes this in its own versioned section).  The PM
 * timer is carried as a tick count so it keeps counting from where it was
 * on the source; the SCI line is recomputed on restore.
 */
struct acpi_pm_state {
	uint16_t pm1_sts, pm1_en, pm1_cnt;
	uint16_t gpe0_sts, gpe0_en;
	uint8_t rcr;
	uint8_t reserved[5];
	uint64_t tmr_ticks;
};

void acpi_pm_save(struct acpi_pm *pm, struct acpi_pm_state *st);
/* Values out of range are masked to what the hardware can hold. */
void acpi_pm_load(struct acpi_pm *pm, const struct acpi_pm_state *st);

/*
 * The same for VM save/restore, as one stream section "ACPM" (version 1)
 * of the component "acpi-pm": PM1_STS/EN/CNT, GPE0_STS/EN, the reset
 * control register, the SCI level and the PM timer (its 64-bit count,
 * which goes on from there on the destination, and the count TMR_STS
 * was last brought up to date at).  Unlike acpi_pm_load(), load refuses
 * values the hardware would never hold, validating the whole section
 * before it touches the device (nothing is half-applied), then drives
 * the SCI to what the registers imply.  Both return 0 or -errno with
 * *err filled ("acpi-pm state: ...").
 */
int acpi_pm_save_state(struct acpi_pm *pm, struct stream *s, struct error *err);
int acpi_pm_load_state(struct acpi_pm *pm, struct stream *s, struct error *err);

/*
 * Port access by absolute port number, as the bus callbacks do it.  Also
 * for a PCI host bridge that claims 0xCF8-0xCFB as one range and must
 * forward byte accesses of 0xCF9 here (PCI 3.0 section 3.2.2.3.2: only
 * dword accesses at 0xCF8 are configuration address accesses).
 */
void acpi_pm_pio_read(struct acpi_pm *pm, uint16_t port, void *data, unsigned int len);
void acpi_pm_pio_write(struct acpi_pm *pm, uint16_t port, const void *data, unsigned int len);

#endif
