/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_DEVICES_I8042_H
#define VESSEL_DEVICES_I8042_H

#include <stdint.h>

#include "bus/bus.h"
#include "util/error.h"
#include "util/stream.h"

/*
 * The PS/2 controller of PCs (Intel 8042 as programmed by the IBM PC/AT
 * keyboard controller firmware): data port 0x60, status/command port 0x64.
 * It does what guests probe at boot: self-tests, the command byte, port
 * enables, the output port (bit 0 low resets the machine), pulse command
 * 0xFE (reset), the AUX loopback used by Linux to detect the AUX port and
 * its IRQ, and a minimal keyboard and mouse that acknowledge commands and
 * never send input.  Interrupts: IRQ 1 (keyboard) and IRQ 12 (AUX) when
 * the command byte enables them.
 */
struct i8042;

#define I8042_IRQ_KBD 1
#define I8042_IRQ_AUX 12

#define I8042_STR_OBF 0x01
#define I8042_STR_IBF 0x02
#define I8042_STR_SYS 0x04
#define I8042_STR_CMD 0x08
#define I8042_STR_UNLOCKED 0x10
#define I8042_STR_AUXDATA 0x20
#define I8042_STR_TIMEOUT 0x40
#define I8042_STR_PARITY 0x80

#define I8042_CTR_KBDINT 0x01
#define I8042_CTR_AUXINT 0x02
#define I8042_CTR_SYS 0x04
#define I8042_CTR_KBDDIS 0x10
#define I8042_CTR_AUXDIS 0x20
#define I8042_CTR_XLATE 0x40

struct i8042_stats {
	uint64_t commands;
	uint64_t resets; /* reset requests (0xFE, output port bit 0) */
	uint64_t irqs;
	uint64_t guest_errors;
};

/* Drive ISA line `irq` (1 or 12) to `level`. */
typedef void (*i8042_irq_fn)(void *opaque, int irq, int level);
/* The guest pulsed the reset line. Called without the device lock. */
typedef void (*i8042_reset_fn)(void *opaque);

/* Port I/O callbacks for the data port (0x60) and the command port
 * (0x64), each registered with a length of 1; opaque is the struct i8042. */
extern const struct bus_ops i8042_data_bus_ops;
extern const struct bus_ops i8042_cmd_bus_ops;

int i8042_new(i8042_irq_fn set_irq, i8042_reset_fn request_reset, void *opaque, struct i8042 **out);
void i8042_free(struct i8042 *k);
/* Back to the power-on state (machine reset). */
void i8042_reset(struct i8042 *k);
void i8042_get_stats(struct i8042 *k, struct i8042_stats *st);

/*
 * State for VM save/restore: one stream section "KBDC" (version 1) with
 * the status register, the controller RAM (the command byte is ram[0]),
 * the output port, the command awaiting its data byte, the output queue
 * (oldest first, with the byte an empty buffer reads back) and, for the
 * keyboard and the mouse, the command awaiting a parameter, the scancode
 * set and the enable flag.  Load validates the whole section before it
 * touches the controller (nothing is half-applied), then drives IRQ 1
 * and 12 to what the restored queue and command byte imply.  Both return
 * 0 or -errno with *err filled ("i8042 state: ...").
 */
int i8042_save(struct i8042 *k, struct stream *s, struct error *err);
int i8042_load(struct i8042 *k, struct stream *s, struct error *err);

struct dev_host;
/*
 * On host->pio at 0x60/0x64, IRQs 1/12, the reset line as
 * dev_host_request(DEV_HOST_RESET); the component "i8042" (legacy.c).
 */
int i8042_create(struct dev_host *host, struct i8042 **out);

#endif
