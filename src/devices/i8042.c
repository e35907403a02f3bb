// SPDX-License-Identifier: MIT
/*
 * i8042 PS/2 controller.  Command set after the IBM PC/AT Technical
 * Reference (keyboard controller) and the PS/2 extensions (AUX port
 * commands 0xA7-0xA9 and 0xD3/0xD4); the devices behind it follow the
 * IBM PS/2 keyboard and mouse command sets, reduced to acknowledgements.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "devices/i8042.h"
#include "util/log.h"
#include "util/util.h"

#define I8042_QUEUE 16
#define I8042_RAM 32

/* Controller commands written to port 0x64. */
#define CMD_READ_CTR 0x20
#define CMD_WRITE_CTR 0x60
#define CMD_AUX_DISABLE 0xa7
#define CMD_AUX_ENABLE 0xa8
#define CMD_AUX_TEST 0xa9
#define CMD_SELF_TEST 0xaa
#define CMD_KBD_TEST 0xab
#define CMD_KBD_DISABLE 0xad
#define CMD_KBD_ENABLE 0xae
#define CMD_READ_INPUT 0xc0
#define CMD_READ_OUTPUT 0xd0
#define CMD_WRITE_OUTPUT 0xd1
#define CMD_KBD_LOOP 0xd2
#define CMD_AUX_LOOP 0xd3
#define CMD_AUX_SEND 0xd4
#define CMD_A20_OFF 0xdd
#define CMD_A20_ON 0xdf
#define CMD_READ_TEST 0xe0
#define CMD_PULSE_BASE 0xf0

/* Output port (command 0xD0/0xD1). */
#define OUTP_RESET 0x01 /* active low: 0 holds the CPU in reset */
#define OUTP_A20 0x02
#define OUTP_KBD_OBF 0x10
#define OUTP_AUX_OBF 0x20

/* PS/2 device replies. */
#define PS2_ACK 0xfa
#define PS2_BAT_OK 0xaa
#define PS2_ECHO 0xee

struct i8042_byte {
	uint8_t val;
	bool aux;
};

/* One PS/2 device: the command it waits for a parameter of, if any. */
struct ps2_dev {
	uint8_t param_cmd;
	uint8_t scancode_set;
	bool enabled;
};

struct i8042 {
	pthread_mutex_t lock;
	uint8_t status;
	uint8_t ram[I8042_RAM]; /* ram[0] is the command byte (CTR) */
	uint8_t outport;
	uint8_t pending_cmd; /* controller command awaiting its data byte */
	struct i8042_byte queue[I8042_QUEUE];
	unsigned int q_head, q_count;
	int irq_level[2]; /* IRQ 1, IRQ 12 */
	struct ps2_dev kbd, aux;

	i8042_irq_fn set_irq;
	i8042_reset_fn request_reset;
	void *opaque;
	struct i8042_stats stats;
	struct ratelimit rl;
};

#define CTR(k) ((k)->ram[0])

static void i8042_push(struct i8042 *k, uint8_t val, bool aux)
{
	if (k->q_count == I8042_QUEUE)
		return; /* a full controller drops further device bytes */
	k->queue[(k->q_head + k->q_count) % I8042_QUEUE] = (struct i8042_byte){ val, aux };
	k->q_count++;
}

static void i8042_drive(struct i8042 *k, int idx, int level)
{
	if (k->irq_level[idx] == level)
		return;
	k->irq_level[idx] = level;
	if (level)
		k->stats.irqs++;
	if (k->set_irq)
		k->set_irq(k->opaque, idx ? I8042_IRQ_AUX : I8042_IRQ_KBD, level);
}

/*
 * Status and interrupt lines follow the head of the output queue.  ISA
 * interrupts are edge-triggered: `pulse` drops the lines first so each
 * byte the guest reads is followed by a fresh edge for the next one.
 */
static void i8042_update(struct i8042 *k, bool pulse)
{
	int kbd = 0, aux = 0;

	k->status &= (uint8_t) ~(I8042_STR_OBF | I8042_STR_AUXDATA);
	k->outport &= (uint8_t) ~(OUTP_KBD_OBF | OUTP_AUX_OBF);
	if (k->q_count) {
		const struct i8042_byte *b = &k->queue[k->q_head];

		k->status |= I8042_STR_OBF;
		if (b->aux) {
			k->status |= I8042_STR_AUXDATA;
			k->outport |= OUTP_AUX_OBF;
			aux = !!(CTR(k) & I8042_CTR_AUXINT);
		} else {
			k->outport |= OUTP_KBD_OBF;
			kbd = !!(CTR(k) & I8042_CTR_KBDINT);
		}
	}
	if (pulse) {
		i8042_drive(k, 0, 0);
		i8042_drive(k, 1, 0);
	}
	i8042_drive(k, 0, kbd);
	i8042_drive(k, 1, aux);
}

static void ps2_reset_dev(struct ps2_dev *d)
{
	d->param_cmd = 0;
	d->scancode_set = 2;
	d->enabled = true;
}

/* A byte the guest sent to the keyboard (IBM PS/2 keyboard commands). */
static void i8042_kbd_write(struct i8042 *k, uint8_t val)
{
	struct ps2_dev *d = &k->kbd;

	if (d->param_cmd) {
		uint8_t cmd = d->param_cmd;

		d->param_cmd = 0;
		i8042_push(k, PS2_ACK, false);
		if (cmd == 0xf0) {
			/* Select scancode set; 0 queries the current one. */
			if (val == 0)
				i8042_push(k, d->scancode_set, false);
			else if (val <= 3)
				d->scancode_set = val;
		}
		return;
	}
	switch (val) {
	case 0xed: /* set LEDs */
	case 0xf0: /* scancode set */
	case 0xf3: /* typematic rate */
		d->param_cmd = val;
		i8042_push(k, PS2_ACK, false);
		break;
	case 0xee: /* echo */
		i8042_push(k, PS2_ECHO, false);
		break;
	case 0xf2: /* identify: MF2 keyboard, translated ID if XLATE is on */
		i8042_push(k, PS2_ACK, false);
		i8042_push(k, 0xab, false);
		i8042_push(k, (CTR(k) & I8042_CTR_XLATE) ? 0x41 : 0x83, false);
		break;
	case 0xf4:
		d->enabled = true;
		i8042_push(k, PS2_ACK, false);
		break;
	case 0xf5:
		d->enabled = false;
		i8042_push(k, PS2_ACK, false);
		break;
	case 0xff: /* reset and self-test (BAT) */
		ps2_reset_dev(d);
		i8042_push(k, PS2_ACK, false);
		i8042_push(k, PS2_BAT_OK, false);
		break;
	default:
		i8042_push(k, PS2_ACK, false);
		break;
	}
}

/* A byte the guest sent to the mouse through command 0xD4. */
static void i8042_aux_write(struct i8042 *k, uint8_t val)
{
	struct ps2_dev *d = &k->aux;

	if (d->param_cmd) {
		d->param_cmd = 0;
		i8042_push(k, PS2_ACK, true);
		return;
	}
	switch (val) {
	case 0xe8: /* set resolution */
	case 0xf3: /* set sample rate */
		d->param_cmd = val;
		i8042_push(k, PS2_ACK, true);
		break;
	case 0xe9: /* status request: stream mode, 4 counts/mm, 100/s */
		i8042_push(k, PS2_ACK, true);
		i8042_push(k, d->enabled ? 0x20 : 0x00, true);
		i8042_push(k, 0x02, true);
		i8042_push(k, 100, true);
		break;
	case 0xeb: /* read data: one packet without movement */
		i8042_push(k, PS2_ACK, true);
		i8042_push(k, 0x08, true);
		i8042_push(k, 0x00, true);
		i8042_push(k, 0x00, true);
		break;
	case 0xf2: /* identify: standard PS/2 mouse */
		i8042_push(k, PS2_ACK, true);
		i8042_push(k, 0x00, true);
		break;
	case 0xf4:
		d->enabled = true;
		i8042_push(k, PS2_ACK, true);
		break;
	case 0xf5:
		d->enabled = false;
		i8042_push(k, PS2_ACK, true);
		break;
	case 0xff:
		ps2_reset_dev(d);
		d->enabled = false;
		i8042_push(k, PS2_ACK, true);
		i8042_push(k, PS2_BAT_OK, true);
		i8042_push(k, 0x00, true);
		break;
	default:
		i8042_push(k, PS2_ACK, true);
		break;
	}
}

/* Returns true if the guest asked for a machine reset. */
static bool i8042_command(struct i8042 *k, uint8_t cmd)
{
	k->stats.commands++;
	if (cmd >= CMD_READ_CTR && cmd < CMD_READ_CTR + I8042_RAM) {
		i8042_push(k, k->ram[cmd - CMD_READ_CTR], false);
		return false;
	}
	if ((cmd >= CMD_WRITE_CTR && cmd < CMD_WRITE_CTR + I8042_RAM) ||
	    (cmd >= CMD_WRITE_OUTPUT && cmd <= CMD_AUX_SEND)) {
		k->pending_cmd = cmd;
		return false;
	}
	if (cmd >= CMD_PULSE_BASE) {
		/* Pulse the output port bits whose mask bit is 0 for 6 us;
		 * bit 0 is the CPU reset line (0xFE). */
		if (!(cmd & 0x01)) {
			k->stats.resets++;
			return true;
		}
		return false;
	}
	switch (cmd) {
	case CMD_AUX_DISABLE:
		CTR(k) |= I8042_CTR_AUXDIS;
		break;
	case CMD_AUX_ENABLE:
		CTR(k) &= (uint8_t)~I8042_CTR_AUXDIS;
		break;
	case CMD_AUX_TEST:
	case CMD_KBD_TEST:
		i8042_push(k, 0x00, false); /* no clock/data line stuck */
		break;
	case CMD_SELF_TEST:
		k->status |= I8042_STR_SYS;
		i8042_push(k, 0x55, false);
		break;
	case CMD_KBD_DISABLE:
		CTR(k) |= I8042_CTR_KBDDIS;
		break;
	case CMD_KBD_ENABLE:
		CTR(k) &= (uint8_t)~I8042_CTR_KBDDIS;
		break;
	case CMD_READ_INPUT:
		i8042_push(k, 0x80, false); /* keyboard not inhibited */
		break;
	case CMD_READ_OUTPUT:
		i8042_push(k, k->outport, false);
		break;
	case CMD_READ_TEST:
		i8042_push(k, 0x00, false);
		break;
	case CMD_A20_OFF:
		k->outport &= (uint8_t)~OUTP_A20;
		break;
	case CMD_A20_ON:
		k->outport |= OUTP_A20;
		break;
	default:
		k->stats.guest_errors++;
		log_guest_err(&k->rl, "i8042: unknown controller command %#x", cmd);
		break;
	}
	return false;
}

/* Returns true if the guest asked for a machine reset. */
static bool i8042_data(struct i8042 *k, uint8_t val)
{
	uint8_t cmd = k->pending_cmd;

	k->pending_cmd = 0;
	if (cmd >= CMD_WRITE_CTR && cmd < CMD_WRITE_CTR + I8042_RAM) {
		k->ram[cmd - CMD_WRITE_CTR] = val;
		if (cmd == CMD_WRITE_CTR) {
			/* The CTR's SYS bit is mirrored in the status register. */
			k->status = (uint8_t)((k->status & ~I8042_STR_SYS) |
					      (val & I8042_CTR_SYS ? I8042_STR_SYS : 0));
		}
		return false;
	}
	switch (cmd) {
	case CMD_WRITE_OUTPUT:
		k->outport = val;
		if (!(val & OUTP_RESET)) {
			k->stats.resets++;
			return true;
		}
		return false;
	case CMD_KBD_LOOP:
		i8042_push(k, val, false);
		return false;
	case CMD_AUX_LOOP:
		i8042_push(k, val, true);
		return false;
	case CMD_AUX_SEND:
		/* Talking to the device enables its clock line again. */
		CTR(k) &= (uint8_t)~I8042_CTR_AUXDIS;
		i8042_aux_write(k, val);
		return false;
	default:
		CTR(k) &= (uint8_t)~I8042_CTR_KBDDIS;
		i8042_kbd_write(k, val);
		return false;
	}
}

static void i8042_power_on(struct i8042 *k)
{
	memset(k->ram, 0, sizeof(k->ram));
	/* As left by a BIOS: both interrupts on, POST passed, translation. */
	CTR(k) = I8042_CTR_KBDINT | I8042_CTR_AUXINT | I8042_CTR_SYS | I8042_CTR_XLATE;
	k->status = I8042_STR_UNLOCKED | I8042_STR_SYS;
	k->outport = OUTP_RESET | OUTP_A20;
	k->pending_cmd = 0;
	k->q_head = 0;
	k->q_count = 0;
	ps2_reset_dev(&k->kbd);
	ps2_reset_dev(&k->aux);
	k->aux.enabled = false;
}

static void i8042_port_read(struct i8042 *k, bool cmd_port, uint8_t *val)
{
	pthread_mutex_lock(&k->lock);
	if (cmd_port) {
		*val = k->status;
	} else if (k->q_count) {
		*val = k->queue[k->q_head].val;
		k->q_head = (k->q_head + 1) % I8042_QUEUE;
		k->q_count--;
		i8042_update(k, true);
	} else {
		/* Reading an empty buffer returns the last byte again on
		 * real parts; guests only do it while flushing. */
		*val = k->queue[(k->q_head + I8042_QUEUE - 1) % I8042_QUEUE].val;
	}
	pthread_mutex_unlock(&k->lock);
}

static void i8042_port_write(struct i8042 *k, bool cmd_port, uint8_t val)
{
	bool reset;

	pthread_mutex_lock(&k->lock);
	if (cmd_port) {
		k->status |= I8042_STR_CMD;
		reset = i8042_command(k, val);
	} else {
		k->status &= (uint8_t)~I8042_STR_CMD;
		reset = i8042_data(k, val);
	}
	i8042_update(k, false);
	pthread_mutex_unlock(&k->lock);
	/* Outside the lock: the VM resets this device as part of it. */
	if (reset && k->request_reset)
		k->request_reset(k->opaque);
}

static void i8042_bus_read(struct i8042 *k, bool cmd_port, void *data, unsigned int len)
{
	uint8_t v;

	i8042_port_read(k, cmd_port, &v);
	memset(data, 0xff, len);
	*(uint8_t *)data = v;
}

static void i8042_data_read(void *opaque, uint64_t offset, void *data, unsigned int len)
{
	i8042_bus_read(opaque, false, data, len);
}

static void i8042_cmd_read(void *opaque, uint64_t offset, void *data, unsigned int len)
{
	i8042_bus_read(opaque, true, data, len);
}

static void i8042_data_write(void *opaque, uint64_t offset, const void *data, unsigned int len)
{
	i8042_port_write(opaque, false, *(const uint8_t *)data);
}

static void i8042_cmd_write(void *opaque, uint64_t offset, const void *data, unsigned int len)
{
	i8042_port_write(opaque, true, *(const uint8_t *)data);
}

const struct bus_ops i8042_data_bus_ops = {
	.read = i8042_data_read,
	.write = i8042_data_write,
};

const struct bus_ops i8042_cmd_bus_ops = {
	.read = i8042_cmd_read,
	.write = i8042_cmd_write,
};

void i8042_reset(struct i8042 *k)
{
	pthread_mutex_lock(&k->lock);
	i8042_power_on(k);
	i8042_update(k, false);
	pthread_mutex_unlock(&k->lock);
}

void i8042_get_stats(struct i8042 *k, struct i8042_stats *st)
{
	pthread_mutex_lock(&k->lock);
	*st = k->stats;
	pthread_mutex_unlock(&k->lock);
}

/* --- save/restore --- */

#define I8042_STATE_TAG STREAM_TAG('K', 'B', 'D', 'C')
#define I8042_STATE_VERSION 1

/* The controller as it travels in the stream (version 1, in this order). */
struct i8042_state {
	uint8_t status;
	uint8_t ram[I8042_RAM];
	uint8_t outport;
	uint8_t pending_cmd;
	uint8_t last; /* the byte an empty output buffer reads back */
	uint8_t q_count;
	uint8_t q_val[I8042_QUEUE]; /* oldest first; entries past q_count are 0 */
	uint8_t q_aux[I8042_QUEUE]; /* 1: from the AUX device */
	uint8_t dev[2][3];	    /* keyboard, AUX: param_cmd, scancode_set, enabled */
};

static void ps2_state_put(uint8_t out[3], const struct ps2_dev *d)
{
	out[0] = d->param_cmd;
	out[1] = d->scancode_set;
	out[2] = d->enabled;
}

int i8042_save(struct i8042 *k, struct stream *s, struct error *err)
{
	struct stream_section sec;
	struct i8042_state st;

	memset(&st, 0, sizeof(st));
	pthread_mutex_lock(&k->lock);
	st.status = k->status;
	memcpy(st.ram, k->ram, sizeof(st.ram));
	st.outport = k->outport;
	st.pending_cmd = k->pending_cmd;
	st.last = k->queue[(k->q_head + I8042_QUEUE - 1) % I8042_QUEUE].val;
	st.q_count = (uint8_t)k->q_count;
	for (unsigned int i = 0; i < k->q_count; i++) {
		const struct i8042_byte *b = &k->queue[(k->q_head + i) % I8042_QUEUE];

		st.q_val[i] = b->val;
		st.q_aux[i] = b->aux;
	}
	ps2_state_put(st.dev[0], &k->kbd);
	ps2_state_put(st.dev[1], &k->aux);
	pthread_mutex_unlock(&k->lock);

	stream_section_begin(s, &sec, I8042_STATE_TAG, I8042_STATE_VERSION);
	stream_put_u8(s, st.status);
	stream_put_bytes(s, st.ram, sizeof(st.ram));
	stream_put_u8(s, st.outport);
	stream_put_u8(s, st.pending_cmd);
	stream_put_u8(s, st.last);
	stream_put_u8(s, st.q_count);
	stream_put_bytes(s, st.q_val, sizeof(st.q_val));
	stream_put_bytes(s, st.q_aux, sizeof(st.q_aux));
	stream_put_bytes(s, st.dev, sizeof(st.dev));
	stream_section_end(s, &sec);
	if (stream_error(s))
		return error_setf(err, stream_error(s), "i8042 state: %s", error_msg(&s->err));
	return 0;
}

/* A parameter byte a PS/2 device can be waiting for (i8042_kbd_write/aux_write). */
static bool ps2_param_cmd_ok(uint8_t cmd, bool aux)
{
	if (aux)
		return cmd == 0 || cmd == 0xe8 || cmd == 0xf3;
	return cmd == 0 || cmd == 0xed || cmd == 0xf0 || cmd == 0xf3;
}

/* Everything the model itself would never produce is refused. */
static int i8042_state_check(const struct i8042_state *st, struct stream *s)
{
	uint8_t cmd = st->pending_cmd;
	uint8_t obf = 0, outp_obf = 0;

	if (st->q_count > I8042_QUEUE)
		return stream_fail(s, -EINVAL,
				   "i8042 state: output queue holds %u bytes, more than its %u",
				   st->q_count, I8042_QUEUE);
	for (unsigned int i = 0; i < I8042_QUEUE; i++) {
		if (st->q_aux[i] > 1)
			return stream_fail(s, -EINVAL, "i8042 state: queue entry %u source %u", i,
					   st->q_aux[i]);
		if (i >= st->q_count && (st->q_val[i] || st->q_aux[i]))
			return stream_fail(
				s, -EINVAL,
				"i8042 state: data past the %u bytes of the output queue",
				st->q_count);
	}
	/* A full ring has overwritten the byte read last with the newest. */
	if (st->q_count == I8042_QUEUE && st->last != st->q_val[I8042_QUEUE - 1])
		return stream_fail(s, -EINVAL,
				   "i8042 state: last byte %#x of a full queue is not its newest",
				   st->last);
	if (st->q_count) {
		obf = I8042_STR_OBF | (st->q_aux[0] ? I8042_STR_AUXDATA : 0);
		outp_obf = st->q_aux[0] ? OUTP_AUX_OBF : OUTP_KBD_OBF;
	}
	/* IBF, timeout and parity errors never happen; the keylock is open. */
	if (st->status & (I8042_STR_IBF | I8042_STR_TIMEOUT | I8042_STR_PARITY) ||
	    !(st->status & I8042_STR_UNLOCKED))
		return stream_fail(s, -EINVAL, "i8042 state: status %#x is not one it can have",
				   st->status);
	if ((st->status & (I8042_STR_OBF | I8042_STR_AUXDATA)) != obf)
		return stream_fail(s, -EINVAL,
				   "i8042 state: status %#x disagrees with %u queued bytes",
				   st->status, st->q_count);
	if ((st->outport & (OUTP_KBD_OBF | OUTP_AUX_OBF)) != outp_obf)
		return stream_fail(s, -EINVAL,
				   "i8042 state: output port %#x disagrees with %u queued bytes",
				   st->outport, st->q_count);
	if (cmd && !(cmd >= CMD_WRITE_CTR && cmd < CMD_WRITE_CTR + I8042_RAM) &&
	    !(cmd >= CMD_WRITE_OUTPUT && cmd <= CMD_AUX_SEND))
		return stream_fail(s, -EINVAL, "i8042 state: command %#x cannot await data", cmd);
	for (unsigned int i = 0; i < 2; i++) {
		const uint8_t *d = st->dev[i];
		const char *name = i ? "mouse" : "keyboard";

		if (!ps2_param_cmd_ok(d[0], i))
			return stream_fail(s, -EINVAL,
					   "i8042 state: %s command %#x takes no parameter", name,
					   d[0]);
		/* The mouse has no scancode sets: it stays at the reset value. */
		if (i ? d[1] != 2 : (d[1] < 1 || d[1] > 3))
			return stream_fail(s, -EINVAL, "i8042 state: %s scancode set %u", name,
					   d[1]);
		if (d[2] > 1)
			return stream_fail(s, -EINVAL, "i8042 state: %s enable flag %u", name,
					   d[2]);
	}
	return 0;
}

static void ps2_state_get(struct ps2_dev *d, const uint8_t in[3])
{
	d->param_cmd = in[0];
	d->scancode_set = in[1];
	d->enabled = in[2];
}

int i8042_load(struct i8042 *k, struct stream *s, struct error *err)
{
	struct stream_section sec;
	struct i8042_state st;
	uint32_t ver;

	ver = stream_section_open(s, &sec, I8042_STATE_TAG);
	if (ver && ver != I8042_STATE_VERSION)
		stream_fail(s, -EPROTO, "i8042 state version %u is not supported", ver);
	if (stream_error(s))
		return error_setf(err, stream_error(s), "%s", error_msg(&s->err));
	st.status = stream_get_u8(s);
	stream_get_bytes(s, st.ram, sizeof(st.ram));
	st.outport = stream_get_u8(s);
	st.pending_cmd = stream_get_u8(s);
	st.last = stream_get_u8(s);
	st.q_count = stream_get_u8(s);
	stream_get_bytes(s, st.q_val, sizeof(st.q_val));
	stream_get_bytes(s, st.q_aux, sizeof(st.q_aux));
	stream_get_bytes(s, st.dev, sizeof(st.dev));
	stream_section_close(s, &sec);
	if (!stream_error(s))
		i8042_state_check(&st, s);
	if (stream_error(s))
		return error_setf(err, stream_error(s), "%s", error_msg(&s->err));

	pthread_mutex_lock(&k->lock);
	k->status = st.status;
	memcpy(k->ram, st.ram, sizeof(k->ram));
	k->outport = st.outport;
	k->pending_cmd = st.pending_cmd;
	/* Oldest byte at queue[1]; queue[0] is the one last read. */
	memset(k->queue, 0, sizeof(k->queue));
	k->queue[0].val = st.last;
	for (unsigned int i = 0; i < st.q_count; i++)
		k->queue[(1 + i) % I8042_QUEUE] = (struct i8042_byte){ st.q_val[i], st.q_aux[i] };
	k->q_head = 1;
	k->q_count = st.q_count;
	ps2_state_get(&k->kbd, st.dev[0]);
	ps2_state_get(&k->aux, st.dev[1]);
	/* The lines follow the head of the queue and the CTR's enables. */
	i8042_update(k, false);
	pthread_mutex_unlock(&k->lock);
	return 0;
}

int i8042_new(i8042_irq_fn set_irq, i8042_reset_fn request_reset, void *opaque, struct i8042 **out)
{
	struct i8042 *k = calloc(1, sizeof(*k));

	if (!k)
		return -ENOMEM;
	pthread_mutex_init(&k->lock, NULL);
	k->set_irq = set_irq;
	k->request_reset = request_reset;
	k->opaque = opaque;
	k->rl = (struct ratelimit)RATELIMIT_INIT;
	i8042_power_on(k);
	*out = k;
	return 0;
}

void i8042_free(struct i8042 *k)
{
	if (!k)
		return;
	pthread_mutex_destroy(&k->lock);
	free(k);
}
