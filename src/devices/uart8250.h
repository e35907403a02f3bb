/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_DEVICES_UART8250_H
#define VESSEL_DEVICES_UART8250_H

#include <stddef.h>
#include <stdint.h>

#include "bus/bus.h"
#include "util/error.h"
#include "util/stream.h"

/*
 * A 16550A UART (National Semiconductor PC16550D datasheet, June 1995):
 * eight byte-wide registers at a port base, 16-byte receive and transmit
 * FIFOs, the four prioritized interrupt sources, loopback, and the PC
 * wiring in which MCR OUT2 gates the interrupt line.
 *
 * Transmission is instantaneous: a byte written to THR is handed to the
 * output at once (an fd and/or a hook), so THR and the shift register are
 * always empty again when the guest next looks (LSR THRE and TEMT stay
 * set).  Baud rate and line format (DLL/DLM/LCR) are stored but have no
 * effect.
 *
 * Locking: one mutex per UART.  vCPU threads enter through the bus ops,
 * the event loop through uart8250_receive(); the IRQ callback and the
 * tx hook are called with the mutex held, the rx_ready callback without.
 */
struct uart8250;

#define UART8250_NR_REGS 8
#define UART8250_FIFO_SIZE 16

/* Register offsets (datasheet Table II). */
#define UART_RBR 0 /* read, DLAB=0 */
#define UART_THR 0 /* write, DLAB=0 */
#define UART_DLL 0 /* DLAB=1 */
#define UART_IER 1 /* DLAB=0 */
#define UART_DLM 1 /* DLAB=1 */
#define UART_IIR 2 /* read */
#define UART_FCR 2 /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define UART_IER_ERBFI 0x01 /* received data available */
#define UART_IER_ETBEI 0x02 /* THR empty */
#define UART_IER_ELSI 0x04  /* receiver line status */
#define UART_IER_EDSSI 0x08 /* modem status */

#define UART_IIR_NO_INT 0x01
#define UART_IIR_ID_MASK 0x0e
#define UART_IIR_MSI 0x00
#define UART_IIR_THRI 0x02
#define UART_IIR_RDI 0x04
#define UART_IIR_RLSI 0x06
#define UART_IIR_CTI 0x0c /* character timeout */
#define UART_IIR_FIFO_ENABLED 0xc0

#define UART_FCR_ENABLE 0x01
#define UART_FCR_CLEAR_RCVR 0x02
#define UART_FCR_CLEAR_XMIT 0x04
#define UART_FCR_DMA 0x08
#define UART_FCR_TRIGGER_MASK 0xc0

#define UART_LCR_DLAB 0x80

#define UART_MCR_DTR 0x01
#define UART_MCR_RTS 0x02
#define UART_MCR_OUT1 0x04
#define UART_MCR_OUT2 0x08
#define UART_MCR_LOOP 0x10

#define UART_LSR_DR 0x01
#define UART_LSR_OE 0x02
#define UART_LSR_PE 0x04
#define UART_LSR_FE 0x08
#define UART_LSR_BI 0x10
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40
#define UART_LSR_FIFOE 0x80

#define UART_MSR_DCTS 0x01
#define UART_MSR_DDSR 0x02
#define UART_MSR_TERI 0x04
#define UART_MSR_DDCD 0x08
#define UART_MSR_CTS 0x10
#define UART_MSR_DSR 0x20
#define UART_MSR_RI 0x40
#define UART_MSR_DCD 0x80

/* Counters for GET /vm/stats. */
struct uart8250_stats {
	uint64_t tx_bytes;   /* guest -> host, delivered */
	uint64_t tx_dropped; /* guest -> host, output not writable */
	uint64_t rx_bytes;   /* host -> guest, accepted into the RX FIFO */
	uint64_t overruns;   /* characters lost to a full RX FIFO (loopback) */
	uint64_t irqs;	     /* interrupt line raised (0 -> 1) */
	uint64_t guest_errors;
};

/* Drive the interrupt line to `level` (0 or 1). */
typedef void (*uart8250_irq_fn)(void *opaque, int level);
/* Called, without the UART lock, when the RX FIFO has room again after
 * uart8250_receive() refused bytes. */
typedef void (*uart8250_ready_fn)(void *opaque);
/* Extra consumer of transmitted bytes (console ring buffer, socket). */
typedef void (*uart8250_tx_fn)(void *opaque, const uint8_t *buf, size_t len);

/* The port-I/O callbacks; opaque is the struct uart8250. */
extern const struct bus_ops uart8250_bus_ops;

/* Create a UART not attached to any bus (unit tests, generic use). */
int uart8250_new(uart8250_irq_fn set_irq, void *irq_opaque, struct uart8250 **out);
void uart8250_free(struct uart8250 *u);
/* Create on a bus at [port, port+8) with a caller-provided IRQ callback
 * (the caller unregisters before uart8250_free()). */
int uart8250_create_on_bus(struct bus *bus, uint16_t port, uart8250_irq_fn set_irq,
			   void *irq_opaque, struct uart8250 **out);

struct dev_host;
/*
 * Create on host->pio at `port`, interrupts through dev_host_irq_line(host,
 * irq, level), registered as the component "serial0" (COM1; other ports
 * take the next free "serialN") for reset, stats and destroy.  (Defined
 * in legacy.c so that this file links without the host glue.)
 */
int uart8250_create(struct dev_host *host, uint16_t port, uint32_t irq, struct uart8250 **out);

/*
 * Where transmitted bytes go: an fd (-1: nowhere).  Writes never block a
 * vCPU for long: if the fd stays unwritable for a short grace period the
 * byte is dropped and counted, and later bytes are dropped at once until
 * the fd drains.  The UART does not own the fd.
 */
void uart8250_set_output_fd(struct uart8250 *u, int fd);
void uart8250_set_tx_hook(struct uart8250 *u, uart8250_tx_fn fn, void *opaque);
void uart8250_set_rx_ready(struct uart8250 *u, uart8250_ready_fn fn, void *opaque);

/*
 * Host -> guest: push up to len bytes into the RX FIFO.  Returns how many
 * were accepted; when fewer than len, the rx_ready callback fires once the
 * guest has made room, and the caller retries with the rest.
 */
size_t uart8250_receive(struct uart8250 *u, const uint8_t *buf, size_t len);

/* Back to the power-on state (machine reset). */
void uart8250_reset(struct uart8250 *u);
void uart8250_get_stats(struct uart8250 *u, struct uart8250_stats *st);

/*
 * State for VM save/restore: one stream section "UART" (version 1) with
 * every guest-visible register, the divisor latch, the scratch register,
 * the RX FIFO bytes and the pending THRE interrupt.  What the host side
 * of the output fd or chardev holds is not state.  Load validates the
 * whole section before it touches the UART (nothing is half-applied) and
 * then drives the interrupt line to what the restored registers imply.
 * Both return 0 or -errno with *err filled ("uart state: ...").
 */
int uart8250_save(struct uart8250 *u, struct stream *s, struct error *err);
int uart8250_load(struct uart8250 *u, struct stream *s, struct error *err);

/* The bus_ops with byte values, for tests and callers without a bus. */
uint8_t uart8250_read(struct uart8250 *u, unsigned int reg);
void uart8250_write(struct uart8250 *u, unsigned int reg, uint8_t val);

#endif
