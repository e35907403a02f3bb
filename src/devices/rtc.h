/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_DEVICES_RTC_H
#define VESSEL_DEVICES_RTC_H

#include <stdint.h>

#include "bus/bus.h"
#include "util/error.h"
#include "util/stream.h"

/*
 * MC146818 CMOS RTC and NVRAM (Motorola MC146818A datasheet) at ports
 * 0x70 (index; bit 7 is the NMI mask on PCs, ignored) and 0x71 (data).
 *
 * Time runs from the host's clock (UTC) plus an offset the guest changes
 * by writing the time registers.  Registers A-D, the update-in-progress
 * window, and the update-ended, alarm and periodic interrupts on IRQ 8 are
 * modelled; timers run only while an interrupt is enabled in register B.
 *
 * CMOS map (bytes 0x0e-0x7f are battery-backed NVRAM and survive a
 * machine reset; only registers A-D are reset):
 *   0x00-0x09  time, alarm, date        0x0a-0x0d  registers A-D
 *   0x15/0x16  base memory in KiB (640)
 *   0x17/0x18  and 0x30/0x31  memory above 1 MiB in KiB (max 0xffff)
 *   0x32       century (BCD or binary per register B)
 *   0x34-0x3f  FREE: left zero by vessel, for guests (the test guests
 *              use them as scratch that survives reboot).  QEMU puts
 *              memory above 16 MiB at 0x34/0x35; vessel does not.
 *   0x5b-0x5d  memory above 4 GiB in 64 KiB units (as QEMU/SeaBIOS)
 */
struct rtc;

#define RTC_IRQ 8
#define RTC_CMOS_SIZE 128

/* Register numbers. */
#define RTC_SECONDS 0x00
#define RTC_SECONDS_ALARM 0x01
#define RTC_MINUTES 0x02
#define RTC_MINUTES_ALARM 0x03
#define RTC_HOURS 0x04
#define RTC_HOURS_ALARM 0x05
#define RTC_DAY_OF_WEEK 0x06
#define RTC_DAY_OF_MONTH 0x07
#define RTC_MONTH 0x08
#define RTC_YEAR 0x09
#define RTC_REG_A 0x0a
#define RTC_REG_B 0x0b
#define RTC_REG_C 0x0c
#define RTC_REG_D 0x0d
#define RTC_CENTURY 0x32
#define RTC_NVRAM_FREE_START 0x34
#define RTC_NVRAM_FREE_END 0x3f

#define RTC_A_UIP 0x80
#define RTC_B_SET 0x80
#define RTC_B_PIE 0x40
#define RTC_B_AIE 0x20
#define RTC_B_UIE 0x10
#define RTC_B_SQWE 0x08
#define RTC_B_DM_BINARY 0x04
#define RTC_B_24H 0x02
#define RTC_B_DSE 0x01
#define RTC_C_IRQF 0x80
#define RTC_C_PF 0x40
#define RTC_C_AF 0x20
#define RTC_C_UF 0x10
#define RTC_D_VRT 0x80

/* How the model reaches the rest of the VMM. */
struct rtc_ops {
	/* Drive IRQ 8 to `level`. */
	void (*set_irq)(void *opaque, int level);
	/* CLOCK_REALTIME in ns; NULL: the host clock. */
	uint64_t (*now)(void *opaque);
	/*
	 * Timers, all used from the timer thread only: schedule() runs fn
	 * there soon, never from within schedule() itself (the event loop;
	 * vCPU threads use it to reprogram),
	 * timer_add() arms a one-shot (period 0) or periodic timer and
	 * returns an id >= 0, timer_cancel() removes one.  All NULL: no
	 * timers; flags are still updated when the guest reads them.
	 */
	int (*schedule)(void *opaque, void (*fn)(void *arg), void *arg);
	int (*timer_add)(void *opaque, uint64_t first_ns, uint64_t period_ns, void (*fn)(void *arg),
			 void *arg);
	void (*timer_cancel)(void *opaque, int id);
};

struct rtc_stats {
	uint64_t irqs;
	uint64_t periodic_ticks;
	uint64_t update_ticks;
	uint64_t guest_errors;
};

/* Port I/O callbacks for [0x70, 0x72); opaque is the struct rtc. */
extern const struct bus_ops rtc_bus_ops;

int rtc_new(const struct rtc_ops *ops, void *opaque, struct rtc **out);
/* Cancels timers: call on the timer thread, or with the loop stopped. */
void rtc_free(struct rtc *r);
/* Fill the CMOS memory-size bytes. */
void rtc_set_memory(struct rtc *r, uint64_t ram_below_4g, uint64_t ram_above_4g);
/* Machine reset: registers A-D to their defaults; time and NVRAM kept. */
void rtc_reset(struct rtc *r);
void rtc_get_stats(struct rtc *r, struct rtc_stats *st);
/* Direct CMOS access for the VMM (not through the index register). */
uint8_t rtc_cmos_read(struct rtc *r, uint8_t reg);
void rtc_cmos_write(struct rtc *r, uint8_t reg, uint8_t val);

/*
 * State for VM save/restore: one stream section "RTCS" (version 1) with
 * all 128 CMOS bytes (registers and NVRAM), the index register, the
 * guest's clock in ns (the clock keeps its own time across the move: on
 * load the offset to this host's CLOCK_REALTIME is recomputed), the SET
 * freeze and its second, the second of the last update cycle and the
 * IRQ 8 level.  Load validates the whole section before it touches the
 * RTC (nothing is half-applied), drives IRQ 8 to what registers B and C
 * imply and has the timer thread renew the update and periodic timers
 * (ops.schedule), as after a write of registers A and B.  Both return 0
 * or -errno with *err filled ("rtc state: ...").
 */
int rtc_save(struct rtc *r, struct stream *s, struct error *err);
int rtc_load(struct rtc *r, struct stream *s, struct error *err);

struct dev_host;
/*
 * On host->pio at 0x70, IRQ 8, timers on host->loop, the CMOS memory
 * size bytes from the RAM split the board passes; the component "rtc"
 * (legacy.c).
 */
int rtc_create(struct dev_host *host, uint64_t ram_below_4g, uint64_t ram_above_4g,
	       struct rtc **out);

#endif
