// SPDX-License-Identifier: MIT
/*
 * 16550A UART, after the National Semiconductor PC16550D datasheet
 * ("PC16550D Universal Asynchronous Receiver/Transmitter with FIFOs",
 * June 1995).  Section numbers below refer to its "Registers" chapter.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/uart8250.h"
#include "util/log.h"
#include "util/util.h"

/* How long a vCPU may wait for a slow console reader before bytes are
 * dropped (the guest must never hang on a stuck terminal or pty). */
#define UART_OUTPUT_GRACE_MS 100

struct uart8250 {
	pthread_mutex_t lock;

	uint8_t ier, iir_fifo, fcr, lcr, mcr, lsr, msr, scr, dll, dlm;
	/* RX FIFO; with FIFOs disabled it holds at most one byte (the RBR). */
	uint8_t rx[UART8250_FIFO_SIZE];
	unsigned int rx_head, rx_count;
	uint8_t rx_trigger;
	/* THRE interrupt pending (datasheet 8.6: set when THR empties or when
	 * ETBEI is enabled with THR empty; cleared by an IIR read that reports
	 * it, or by a THR write). */
	bool thr_ipending;
	int irq_level;

	uart8250_irq_fn set_irq;
	void *irq_opaque;
	uart8250_tx_fn tx_hook;
	void *tx_opaque;
	uart8250_ready_fn rx_ready;
	void *rx_ready_opaque;
	/* uart8250_receive() refused bytes; call rx_ready when room appears. */
	bool rx_blocked;

	int out_fd;
	bool out_stalled; /* the output did not drain: drop without waiting */

	struct uart8250_stats stats;
	struct ratelimit rl;
};

static unsigned int uart_rx_capacity(const struct uart8250 *u)
{
	return (u->fcr & UART_FCR_ENABLE) ? UART8250_FIFO_SIZE : 1;
}

/*
 * The current interrupt identification, by priority (datasheet Table IV):
 * receiver line status > received data available / character timeout >
 * THR empty > modem status.
 */
static uint8_t uart_iir_id(const struct uart8250 *u)
{
	if ((u->ier & UART_IER_ELSI) &&
	    (u->lsr & (UART_LSR_OE | UART_LSR_PE | UART_LSR_FE | UART_LSR_BI)))
		return UART_IIR_RLSI;
	if ((u->ier & UART_IER_ERBFI) && u->rx_count) {
		/*
		 * With FIFOs, "data available" means the trigger level was
		 * reached; fewer bytes raise the character timeout indication
		 * after four character times without FIFO activity.  Host
		 * input arrives in bursts that are already complete, so the
		 * timeout is considered elapsed at once: the guest gets the
		 * bytes without a timer and without waiting for more.
		 */
		if (!(u->fcr & UART_FCR_ENABLE) || u->rx_count >= u->rx_trigger)
			return UART_IIR_RDI;
		return UART_IIR_CTI;
	}
	if ((u->ier & UART_IER_ETBEI) && u->thr_ipending)
		return UART_IIR_THRI;
	if ((u->ier & UART_IER_EDSSI) && (u->msr & 0x0f))
		return UART_IIR_MSI;
	return UART_IIR_NO_INT;
}

/*
 * Drive the line.  On PCs the INTR output reaches the interrupt controller
 * only through a buffer enabled by OUT2 (IBM PC/AT Technical Reference,
 * asynchronous communications adapter), and in loopback mode the OUT2 pin
 * is forced inactive (datasheet 8.7, MCR bit 4), so loopback never
 * interrupts a PC.
 */
static void uart_update_irq(struct uart8250 *u)
{
	int level = uart_iir_id(u) != UART_IIR_NO_INT && (u->mcr & UART_MCR_OUT2) &&
		    !(u->mcr & UART_MCR_LOOP);

	if (level == u->irq_level)
		return;
	u->irq_level = level;
	if (level)
		u->stats.irqs++;
	if (u->set_irq)
		u->set_irq(u->irq_opaque, level);
}

static void uart_rx_clear(struct uart8250 *u)
{
	u->rx_head = 0;
	u->rx_count = 0;
	u->lsr &= (uint8_t)~UART_LSR_DR;
}

/* Put one byte into the RX FIFO; false when it is full. */
static bool uart_rx_push(struct uart8250 *u, uint8_t c)
{
	if (u->rx_count >= uart_rx_capacity(u))
		return false;
	u->rx[(u->rx_head + u->rx_count) % UART8250_FIFO_SIZE] = c;
	u->rx_count++;
	u->lsr |= UART_LSR_DR;
	return true;
}

static uint8_t uart_rx_pop(struct uart8250 *u)
{
	uint8_t c;

	if (!u->rx_count)
		return 0;
	c = u->rx[u->rx_head];
	u->rx_head = (u->rx_head + 1) % UART8250_FIFO_SIZE;
	if (--u->rx_count == 0)
		u->lsr &= (uint8_t)~UART_LSR_DR;
	return c;
}

/*
 * Write one byte to the output fd without ever parking the vCPU for more
 * than the grace period.  poll() first: a byte fits once the fd polls
 * writable, so the write() itself does not block even on a blocking fd
 * (stdout shares its file description with the terminal, so vessel must
 * not set O_NONBLOCK on it).
 */
static bool uart_output_byte(struct uart8250 *u, uint8_t c)
{
	struct pollfd pfd = { .fd = u->out_fd, .events = POLLOUT };
	int r;

	r = poll(&pfd, 1, u->out_stalled ? 0 : UART_OUTPUT_GRACE_MS);
	/* POLLERR: a pipe without readers; POLLHUP: a hung-up terminal. */
	if (r <= 0 || !(pfd.revents & POLLOUT) || (pfd.revents & (POLLERR | POLLHUP))) {
		u->out_stalled = true;
		return false;
	}
	u->out_stalled = false;
	for (;;) {
		ssize_t n = write(u->out_fd, &c, 1);

		if (n == 1)
			return true;
		if (n < 0 && errno == EINTR)
			continue;
		/* EAGAIN, EPIPE, EIO: drop without waiting until it drains. */
		u->out_stalled = true;
		return false;
	}
}

static void uart_transmit(struct uart8250 *u, uint8_t c)
{
	if (u->mcr & UART_MCR_LOOP) {
		/* Loopback (datasheet 8.7): the transmitter output is looped
		 * back to the receiver input; a full FIFO overruns. */
		if (!uart_rx_push(u, c)) {
			u->lsr |= UART_LSR_OE;
			u->stats.overruns++;
		}
	} else {
		bool sent = false;

		if (u->tx_hook) {
			u->tx_hook(u->tx_opaque, &c, 1);
			sent = true;
		}
		if (u->out_fd >= 0)
			sent = uart_output_byte(u, c);
		if (sent)
			u->stats.tx_bytes++;
		else if (u->out_fd >= 0)
			u->stats.tx_dropped++;
	}
	/* The byte left at once: THR and the shift register are empty. */
	u->lsr |= UART_LSR_THRE | UART_LSR_TEMT;
	u->thr_ipending = true;
}

/* Modem status inputs as the loopback wiring presents them (8.7). */
static uint8_t uart_loop_msr(uint8_t mcr)
{
	uint8_t m = 0;

	if (mcr & UART_MCR_RTS)
		m |= UART_MSR_CTS;
	if (mcr & UART_MCR_DTR)
		m |= UART_MSR_DSR;
	if (mcr & UART_MCR_OUT1)
		m |= UART_MSR_RI;
	if (mcr & UART_MCR_OUT2)
		m |= UART_MSR_DCD;
	return m;
}

/* Outside loopback the "modem" is always there: carrier, DSR and CTS. */
#define UART_MSR_CONNECTED (UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS)

/* Set the modem inputs, latching the delta bits (datasheet 8.8). */
static void uart_set_msr_inputs(struct uart8250 *u, uint8_t in)
{
	uint8_t old = u->msr & 0xf0, delta = 0;

	if ((old ^ in) & UART_MSR_CTS)
		delta |= UART_MSR_DCTS;
	if ((old ^ in) & UART_MSR_DSR)
		delta |= UART_MSR_DDSR;
	if ((old ^ in) & UART_MSR_DCD)
		delta |= UART_MSR_DDCD;
	/* TERI: RI went from active to inactive. */
	if ((old & UART_MSR_RI) && !(in & UART_MSR_RI))
		delta |= UART_MSR_TERI;
	u->msr = (uint8_t)(in | (u->msr & 0x0f) | delta);
}

static void uart_power_on(struct uart8250 *u)
{
	/* Datasheet Table III, "Reset" column. */
	u->ier = 0;
	u->fcr = 0;
	u->lcr = 0;
	u->mcr = 0;
	u->lsr = UART_LSR_THRE | UART_LSR_TEMT;
	u->msr = UART_MSR_CONNECTED;
	u->scr = 0;
	u->dll = 0;
	u->dlm = 0;
	u->rx_trigger = 1;
	u->thr_ipending = false;
	uart_rx_clear(u);
}

/* The FIFO trigger level that FCR bits 7:6 select (datasheet Table II, FCR). */
static uint8_t uart_trigger_of(uint8_t fcr)
{
	static const uint8_t triggers[4] = { 1, 4, 8, 14 };

	return (fcr & UART_FCR_ENABLE) ? triggers[fcr >> 6] : 1;
}

static void uart_write_fcr(struct uart8250 *u, uint8_t val)
{
	bool was = u->fcr & UART_FCR_ENABLE;

	/* Changing FCR0 clears both FIFOs; other bits are programmed only
	 * while FCR0 is being written as 1 (datasheet 8.5). */
	if (!(val & UART_FCR_ENABLE)) {
		if (was)
			uart_rx_clear(u);
		u->fcr = 0;
		u->rx_trigger = 1;
		return;
	}
	if (!was || (val & UART_FCR_CLEAR_RCVR))
		uart_rx_clear(u);
	/* XMIT FIFO reset: it is always empty here. */
	u->fcr = val & (UART_FCR_ENABLE | UART_FCR_DMA | UART_FCR_TRIGGER_MASK);
	u->rx_trigger = uart_trigger_of(u->fcr);
}

/* Called with the lock held; returns true if a rx_ready wakeup is due. */
static bool uart_room_made(struct uart8250 *u)
{
	if (!u->rx_blocked || (u->mcr & UART_MCR_LOOP) || u->rx_count >= uart_rx_capacity(u))
		return false;
	u->rx_blocked = false;
	return u->rx_ready != NULL;
}

uint8_t uart8250_read(struct uart8250 *u, unsigned int reg)
{
	uint8_t val = 0xff, id;
	bool wake = false;

	pthread_mutex_lock(&u->lock);
	switch (reg) {
	case UART_RBR:
		if (u->lcr & UART_LCR_DLAB) {
			val = u->dll;
			break;
		}
		val = uart_rx_pop(u);
		wake = uart_room_made(u);
		break;
	case UART_IER:
		val = (u->lcr & UART_LCR_DLAB) ? u->dlm : u->ier;
		break;
	case UART_IIR:
		id = uart_iir_id(u);
		val = id;
		if (u->fcr & UART_FCR_ENABLE)
			val |= UART_IIR_FIFO_ENABLED;
		/* Reading IIR while it reports THRE clears that source. */
		if (id == UART_IIR_THRI)
			u->thr_ipending = false;
		break;
	case UART_LCR:
		val = u->lcr;
		break;
	case UART_MCR:
		val = u->mcr;
		break;
	case UART_LSR:
		val = u->lsr;
		if (u->rx_count)
			val |= UART_LSR_DR;
		/* Reading LSR clears the error bits and the RLS interrupt. */
		u->lsr &= (uint8_t) ~(UART_LSR_OE | UART_LSR_PE | UART_LSR_FE | UART_LSR_BI |
				      UART_LSR_FIFOE);
		break;
	case UART_MSR:
		val = u->msr;
		/* Reading MSR clears the delta bits and the MS interrupt. */
		u->msr &= 0xf0;
		break;
	case UART_SCR:
		val = u->scr;
		break;
	default:
		u->stats.guest_errors++;
		log_guest_err(&u->rl, "uart8250: read of register %u", reg);
		break;
	}
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	if (wake)
		u->rx_ready(u->rx_ready_opaque);
	return val;
}

void uart8250_write(struct uart8250 *u, unsigned int reg, uint8_t val)
{
	bool wake = false;
	uint8_t old;

	pthread_mutex_lock(&u->lock);
	switch (reg) {
	case UART_THR:
		if (u->lcr & UART_LCR_DLAB) {
			u->dll = val;
			break;
		}
		u->thr_ipending = false;
		uart_transmit(u, val);
		break;
	case UART_IER:
		if (u->lcr & UART_LCR_DLAB) {
			u->dlm = val;
			break;
		}
		old = u->ier;
		u->ier = val & 0x0f;
		/* Enabling ETBEI with THR empty raises THRE (Linux tests for
		 * this at startup and works around UARTs that do not). */
		if (!(old & UART_IER_ETBEI) && (u->ier & UART_IER_ETBEI) &&
		    (u->lsr & UART_LSR_THRE))
			u->thr_ipending = true;
		break;
	case UART_FCR:
		uart_write_fcr(u, val);
		wake = uart_room_made(u);
		break;
	case UART_LCR:
		u->lcr = val;
		break;
	case UART_MCR:
		old = u->mcr;
		u->mcr = val & 0x1f;
		if (u->mcr & UART_MCR_LOOP)
			uart_set_msr_inputs(u, uart_loop_msr(u->mcr));
		else if (old & UART_MCR_LOOP)
			uart_set_msr_inputs(u, UART_MSR_CONNECTED);
		wake = uart_room_made(u);
		break;
	case UART_LSR:
	case UART_MSR:
		/* Factory test registers on real parts; ignore. */
		break;
	case UART_SCR:
		u->scr = val;
		break;
	default:
		u->stats.guest_errors++;
		log_guest_err(&u->rl, "uart8250: write of register %u", reg);
		break;
	}
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	if (wake)
		u->rx_ready(u->rx_ready_opaque);
}

static void uart_bus_read(void *opaque, uint64_t offset, void *data, unsigned int len)
{
	struct uart8250 *u = opaque;
	uint8_t *out = data;

	/* Wider accesses read consecutive registers, as on an ISA bus. */
	for (unsigned int i = 0; i < len; i++)
		out[i] = offset + i < UART8250_NR_REGS ? uart8250_read(u, (unsigned int)offset + i)
						       : 0xff;
}

static void uart_bus_write(void *opaque, uint64_t offset, const void *data, unsigned int len)
{
	struct uart8250 *u = opaque;
	const uint8_t *in = data;

	for (unsigned int i = 0; i < len; i++)
		if (offset + i < UART8250_NR_REGS)
			uart8250_write(u, (unsigned int)offset + i, in[i]);
}

const struct bus_ops uart8250_bus_ops = {
	.read = uart_bus_read,
	.write = uart_bus_write,
};

size_t uart8250_receive(struct uart8250 *u, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&u->lock);
	/* In loopback the serial input is disconnected (8.7): hold it back. */
	if (!(u->mcr & UART_MCR_LOOP))
		while (n < len && uart_rx_push(u, buf[n]))
			n++;
	if (n < len)
		u->rx_blocked = true;
	u->stats.rx_bytes += n;
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return n;
}

void uart8250_reset(struct uart8250 *u)
{
	bool wake;

	pthread_mutex_lock(&u->lock);
	uart_power_on(u);
	u->out_stalled = false;
	wake = uart_room_made(u);
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	if (wake)
		u->rx_ready(u->rx_ready_opaque);
}

void uart8250_set_output_fd(struct uart8250 *u, int fd)
{
	pthread_mutex_lock(&u->lock);
	u->out_fd = fd;
	u->out_stalled = false;
	pthread_mutex_unlock(&u->lock);
}

void uart8250_set_tx_hook(struct uart8250 *u, uart8250_tx_fn fn, void *opaque)
{
	pthread_mutex_lock(&u->lock);
	u->tx_hook = fn;
	u->tx_opaque = opaque;
	pthread_mutex_unlock(&u->lock);
}

void uart8250_set_rx_ready(struct uart8250 *u, uart8250_ready_fn fn, void *opaque)
{
	pthread_mutex_lock(&u->lock);
	u->rx_ready = fn;
	u->rx_ready_opaque = opaque;
	pthread_mutex_unlock(&u->lock);
}

void uart8250_get_stats(struct uart8250 *u, struct uart8250_stats *st)
{
	pthread_mutex_lock(&u->lock);
	*st = u->stats;
	pthread_mutex_unlock(&u->lock);
}

/* --- save/restore --- */

#define UART_STATE_TAG STREAM_TAG('U', 'A', 'R', 'T')
#define UART_STATE_VERSION 1

/* Registers as they travel in the stream (version 1, in this order). */
struct uart_state {
	uint8_t ier, fcr, lcr, mcr, lsr, msr, scr, dll, dlm;
	uint8_t thr_ipending;
	uint8_t rx_count;
	uint8_t rx[UART8250_FIFO_SIZE]; /* oldest first; bytes past rx_count are 0 */
};

int uart8250_save(struct uart8250 *u, struct stream *s, struct error *err)
{
	struct stream_section sec;
	struct uart_state st;

	memset(&st, 0, sizeof(st));
	pthread_mutex_lock(&u->lock);
	st.ier = u->ier;
	st.fcr = u->fcr;
	st.lcr = u->lcr;
	st.mcr = u->mcr;
	st.lsr = u->lsr;
	st.msr = u->msr;
	st.scr = u->scr;
	st.dll = u->dll;
	st.dlm = u->dlm;
	st.thr_ipending = u->thr_ipending;
	st.rx_count = (uint8_t)u->rx_count;
	for (unsigned int i = 0; i < u->rx_count; i++)
		st.rx[i] = u->rx[(u->rx_head + i) % UART8250_FIFO_SIZE];
	pthread_mutex_unlock(&u->lock);

	stream_section_begin(s, &sec, UART_STATE_TAG, UART_STATE_VERSION);
	stream_put_u8(s, st.ier);
	stream_put_u8(s, st.fcr);
	stream_put_u8(s, st.lcr);
	stream_put_u8(s, st.mcr);
	stream_put_u8(s, st.lsr);
	stream_put_u8(s, st.msr);
	stream_put_u8(s, st.scr);
	stream_put_u8(s, st.dll);
	stream_put_u8(s, st.dlm);
	stream_put_u8(s, st.thr_ipending);
	stream_put_u8(s, st.rx_count);
	stream_put_bytes(s, st.rx, sizeof(st.rx));
	stream_section_end(s, &sec);
	if (stream_error(s))
		return error_setf(err, stream_error(s), "uart state: %s", error_msg(&s->err));
	return 0;
}

/* Everything the model itself would never produce is refused. */
static int uart_state_check(const struct uart_state *st, struct stream *s)
{
	unsigned int cap = (st->fcr & UART_FCR_ENABLE) ? UART8250_FIFO_SIZE : 1;
	uint8_t msr_in = (st->mcr & UART_MCR_LOOP) ? uart_loop_msr(st->mcr) : UART_MSR_CONNECTED;

	if (st->ier & 0xf0)
		return stream_fail(s, -EINVAL, "uart state: IER %#x has reserved bits set",
				   st->ier);
	/* FCR bits 1-2 are self-clearing, bits 4-5 reserved (datasheet 8.5);
	 * with FCR0 clear nothing else is programmed. */
	if ((st->fcr & ~(UART_FCR_ENABLE | UART_FCR_DMA | UART_FCR_TRIGGER_MASK)) ||
	    (!(st->fcr & UART_FCR_ENABLE) && st->fcr))
		return stream_fail(s, -EINVAL, "uart state: FCR %#x is not a programmable value",
				   st->fcr);
	/* MCR bits 5-7 are always 0 (datasheet 8.7). */
	if (st->mcr & 0xe0)
		return stream_fail(s, -EINVAL, "uart state: MCR %#x has reserved bits set",
				   st->mcr);
	if (st->rx_count > cap)
		return stream_fail(s, -EINVAL,
				   "uart state: RX FIFO holds %u bytes, more than its %u",
				   st->rx_count, cap);
	for (unsigned int i = st->rx_count; i < UART8250_FIFO_SIZE; i++)
		if (st->rx[i])
			return stream_fail(s, -EINVAL,
					   "uart state: data past the %u bytes of the RX FIFO",
					   st->rx_count);
	/* Transmission is instantaneous: THR and TSR are always empty. */
	if ((st->lsr & (UART_LSR_THRE | UART_LSR_TEMT)) != (UART_LSR_THRE | UART_LSR_TEMT))
		return stream_fail(s, -EINVAL, "uart state: LSR %#x with a busy transmitter",
				   st->lsr);
	if (!(st->lsr & UART_LSR_DR) != !st->rx_count)
		return stream_fail(s, -EINVAL, "uart state: LSR %#x disagrees with %u RX bytes",
				   st->lsr, st->rx_count);
	/* The modem inputs are wired: loopback or an always connected line. */
	if ((st->msr & 0xf0) != msr_in)
		return stream_fail(s, -EINVAL, "uart state: MSR %#x with MCR %#x", st->msr,
				   st->mcr);
	if (st->thr_ipending > 1)
		return stream_fail(s, -EINVAL, "uart state: THRE pending flag %u",
				   st->thr_ipending);
	return 0;
}

int uart8250_load(struct uart8250 *u, struct stream *s, struct error *err)
{
	struct stream_section sec;
	struct uart_state st;
	uint32_t ver;
	bool wake;

	ver = stream_section_open(s, &sec, UART_STATE_TAG);
	if (ver && ver != UART_STATE_VERSION)
		stream_fail(s, -EPROTO, "uart state version %u is not supported", ver);
	if (stream_error(s))
		return error_setf(err, stream_error(s), "%s", error_msg(&s->err));
	st.ier = stream_get_u8(s);
	st.fcr = stream_get_u8(s);
	st.lcr = stream_get_u8(s);
	st.mcr = stream_get_u8(s);
	st.lsr = stream_get_u8(s);
	st.msr = stream_get_u8(s);
	st.scr = stream_get_u8(s);
	st.dll = stream_get_u8(s);
	st.dlm = stream_get_u8(s);
	st.thr_ipending = stream_get_u8(s);
	st.rx_count = stream_get_u8(s);
	stream_get_bytes(s, st.rx, sizeof(st.rx));
	stream_section_close(s, &sec);
	if (!stream_error(s))
		uart_state_check(&st, s);
	if (stream_error(s))
		return error_setf(err, stream_error(s), "%s", error_msg(&s->err));

	pthread_mutex_lock(&u->lock);
	u->ier = st.ier;
	u->fcr = st.fcr;
	u->lcr = st.lcr;
	u->mcr = st.mcr;
	u->lsr = st.lsr;
	u->msr = st.msr;
	u->scr = st.scr;
	u->dll = st.dll;
	u->dlm = st.dlm;
	u->thr_ipending = st.thr_ipending;
	u->rx_trigger = uart_trigger_of(st.fcr);
	memcpy(u->rx, st.rx, sizeof(u->rx));
	u->rx_head = 0;
	u->rx_count = st.rx_count;
	/* A pending IIR source with OUT2 set raises the line again. */
	uart_update_irq(u);
	wake = uart_room_made(u);
	pthread_mutex_unlock(&u->lock);
	if (wake)
		u->rx_ready(u->rx_ready_opaque);
	return 0;
}

int uart8250_new(uart8250_irq_fn set_irq, void *irq_opaque, struct uart8250 **out)
{
	struct uart8250 *u = calloc(1, sizeof(*u));
	int r;

	if (!u)
		return -ENOMEM;
	r = pthread_mutex_init(&u->lock, NULL);
	if (r) {
		free(u);
		return -r;
	}
	u->set_irq = set_irq;
	u->irq_opaque = irq_opaque;
	u->out_fd = -1;
	u->rl = (struct ratelimit)RATELIMIT_INIT;
	uart_power_on(u);
	*out = u;
	return 0;
}

void uart8250_free(struct uart8250 *u)
{
	if (!u)
		return;
	pthread_mutex_destroy(&u->lock);
	free(u);
}

int uart8250_create_on_bus(struct bus *bus, uint16_t port, uart8250_irq_fn set_irq,
			   void *irq_opaque, struct uart8250 **out)
{
	struct uart8250 *u;
	int r;

	r = uart8250_new(set_irq, irq_opaque, &u);
	if (r)
		return r;
	r = bus_register(bus, port, UART8250_NR_REGS, &uart8250_bus_ops, u);
	if (r) {
		uart8250_free(u);
		return r;
	}
	*out = u;
	return 0;
}
