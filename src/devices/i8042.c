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
