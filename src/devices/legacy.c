// SPDX-License-Identifier: MIT
/*
 * The glue that wires the legacy PC device models (which only know
 * callbacks) to the machine through its narrow host interface
 * (bus/host.h): interrupt lines through dev_host_irq_line(), reset
 * requests through dev_host_request(), timers on the host's event loop,
 * and components_add() for reset/stats/destroy.  The models link without
 * any of it (unit tests); the board (vm/board.c) decides what to create.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "bus/bus.h"
#include "bus/host.h"
#include "devices/debug_exit.h"
#include "devices/i8042.h"
#include "devices/legacy.h"
#include "devices/rtc.h"
#include "devices/uart8250.h"
#include "util/component.h"
#include "util/evloop.h"
#include "util/log.h"
#include "util/util.h"

/* --- UART --- */

struct legacy_uart {
	struct dev_host *host;
	uint32_t irq;
	uint16_t port;
	struct uart8250 *uart;
};

static void legacy_uart_irq(void *opaque, int level)
{
	struct legacy_uart *lu = opaque;

	dev_host_irq_line(lu->host, lu->irq, level);
}

static int legacy_uart_reset(void *opaque)
{
	struct legacy_uart *lu = opaque;

	uart8250_reset(lu->uart);
	return 0;
}

static void json_add_u64(struct json_object *obj, const char *key, uint64_t v)
{
	json_object_object_add(obj, key, json_object_new_int64((int64_t)v));
}

static void legacy_uart_stats(void *opaque, struct json_object *obj)
{
	struct legacy_uart *lu = opaque;
	struct uart8250_stats st;

	uart8250_get_stats(lu->uart, &st);
	json_add_u64(obj, "tx_bytes", st.tx_bytes);
	json_add_u64(obj, "tx_dropped", st.tx_dropped);
	json_add_u64(obj, "rx_bytes", st.rx_bytes);
	json_add_u64(obj, "overruns", st.overruns);
	json_add_u64(obj, "irqs", st.irqs);
}

static void legacy_uart_destroy(void *opaque)
{
	struct legacy_uart *lu = opaque;

	bus_unregister(lu->host->pio, lu->port);
	uart8250_free(lu->uart);
	free(lu);
}

static int legacy_uart_save(void *opaque, struct stream *s, struct error *err)
{
	struct legacy_uart *lu = opaque;

	return uart8250_save(lu->uart, s, err);
}

static int legacy_uart_load(void *opaque, struct stream *s, struct error *err)
{
	struct legacy_uart *lu = opaque;

	return uart8250_load(lu->uart, s, err);
}

static const struct component_ops legacy_uart_ops = {
	.reset = legacy_uart_reset,
	.save = legacy_uart_save,
	.load = legacy_uart_load,
	.stats = legacy_uart_stats,
	.destroy = legacy_uart_destroy,
};

int uart8250_create(struct dev_host *host, uint16_t port, uint32_t irq, struct uart8250 **out)
{
	struct legacy_uart *lu = calloc(1, sizeof(*lu));
	char name[32];
	int r;

	if (!lu)
		return -ENOMEM;
	lu->host = host;
	lu->irq = irq;
	lu->port = port;
	r = uart8250_create_on_bus(host->pio, port, legacy_uart_irq, lu, &lu->uart);
	if (r) {
		free(lu);
		return r;
	}
	/* COM1 is "serial0" whatever else exists; others take the next free number. */
	if (port == X86_PORT_COM1)
		snprintf(name, sizeof(name), "serial0");
	else
		r = components_unique_id(host->components, "serial", name, sizeof(name));
	if (!r)
		r = components_add(host->components, name, &legacy_uart_ops, lu, NULL);
	if (r) {
		legacy_uart_destroy(lu);
		return r;
	}
	*out = lu->uart;
	return 0;
}

/* --- i8042 --- */

struct legacy_i8042 {
	struct dev_host *host;
	struct i8042 *k;
};

static void legacy_i8042_irq(void *opaque, int irq, int level)
{
	struct legacy_i8042 *lk = opaque;

	dev_host_irq_line(lk->host, (uint32_t)irq, level);
}

static void legacy_i8042_reset_request(void *opaque)
{
	struct legacy_i8042 *lk = opaque;

	log_debug("i8042: guest requested a reset");
	dev_host_request(lk->host, DEV_HOST_RESET);
}

static int legacy_i8042_reset(void *opaque)
{
	struct legacy_i8042 *lk = opaque;

	i8042_reset(lk->k);
	return 0;
}

static void legacy_i8042_stats(void *opaque, struct json_object *obj)
{
	struct legacy_i8042 *lk = opaque;
	struct i8042_stats st;

	i8042_get_stats(lk->k, &st);
	json_add_u64(obj, "commands", st.commands);
	json_add_u64(obj, "reset_requests", st.resets);
	json_add_u64(obj, "irqs", st.irqs);
	json_add_u64(obj, "guest_errors", st.guest_errors);
}

static void legacy_i8042_destroy(void *opaque)
{
	struct legacy_i8042 *lk = opaque;

	bus_unregister(lk->host->pio, X86_PORT_I8042_DATA);
	bus_unregister(lk->host->pio, X86_PORT_I8042_CMD);
	i8042_free(lk->k);
	free(lk);
}

static int legacy_i8042_save(void *opaque, struct stream *s, struct error *err)
{
	struct legacy_i8042 *lk = opaque;

	return i8042_save(lk->k, s, err);
}

static int legacy_i8042_load(void *opaque, struct stream *s, struct error *err)
{
	struct legacy_i8042 *lk = opaque;

	return i8042_load(lk->k, s, err);
}

static const struct component_ops legacy_i8042_ops = {
	.reset = legacy_i8042_reset,
	.save = legacy_i8042_save,
	.load = legacy_i8042_load,
	.stats = legacy_i8042_stats,
	.destroy = legacy_i8042_destroy,
};

int i8042_create(struct dev_host *host, struct i8042 **out)
{
	struct legacy_i8042 *lk = calloc(1, sizeof(*lk));
	int r;

	if (!lk)
		return -ENOMEM;
	lk->host = host;
	r = i8042_new(legacy_i8042_irq, legacy_i8042_reset_request, lk, &lk->k);
	if (r) {
		free(lk);
		return r;
	}
	r = bus_register(host->pio, X86_PORT_I8042_DATA, 1, &i8042_data_bus_ops, lk->k);
	if (r)
		goto fail;
	r = bus_register(host->pio, X86_PORT_I8042_CMD, 1, &i8042_cmd_bus_ops, lk->k);
	if (r) {
		bus_unregister(host->pio, X86_PORT_I8042_DATA);
		goto fail;
	}
	r = components_add(host->components, "i8042", &legacy_i8042_ops, lk, NULL);
	if (r) {
		legacy_i8042_destroy(lk);
		return r;
	}
	if (out)
		*out = lk->k;
	return 0;
fail:
	i8042_free(lk->k);
	free(lk);
	return r;
}

/* --- RTC --- */

struct legacy_rtc {
	struct dev_host *host;
	struct rtc *rtc;
};

static void legacy_rtc_irq(void *opaque, int level)
{
	struct legacy_rtc *lr = opaque;

	dev_host_irq_line(lr->host, X86_IRQ_RTC, level);
}

static int legacy_rtc_schedule(void *opaque, void (*fn)(void *), void *arg)
{
	struct legacy_rtc *lr = opaque;

	return evloop_call(lr->host->loop, fn, arg);
}

static int legacy_rtc_timer_add(void *opaque, uint64_t first_ns, uint64_t period_ns,
				void (*fn)(void *), void *arg)
{
	struct legacy_rtc *lr = opaque;

	return evloop_timer_add(lr->host->loop, first_ns, period_ns, fn, arg);
}

static void legacy_rtc_timer_cancel(void *opaque, int id)
{
	struct legacy_rtc *lr = opaque;

	evloop_timer_cancel(lr->host->loop, id);
}

static const struct rtc_ops legacy_rtc_model_ops = {
	.set_irq = legacy_rtc_irq,
	.schedule = legacy_rtc_schedule,
	.timer_add = legacy_rtc_timer_add,
	.timer_cancel = legacy_rtc_timer_cancel,
};

static int legacy_rtc_reset(void *opaque)
{
	struct legacy_rtc *lr = opaque;

	rtc_reset(lr->rtc);
	return 0;
}

static void legacy_rtc_stats(void *opaque, struct json_object *obj)
{
	struct legacy_rtc *lr = opaque;
	struct rtc_stats st;

	rtc_get_stats(lr->rtc, &st);
	json_add_u64(obj, "irqs", st.irqs);
	json_add_u64(obj, "periodic_ticks", st.periodic_ticks);
	json_add_u64(obj, "update_ticks", st.update_ticks);
	json_add_u64(obj, "guest_errors", st.guest_errors);
}

/* Device teardown must come before evloop_destroy(): this cancels timers. */
static void legacy_rtc_destroy(void *opaque)
{
	struct legacy_rtc *lr = opaque;

	bus_unregister(lr->host->pio, X86_PORT_CMOS);
	rtc_free(lr->rtc);
	free(lr);
}

static int legacy_rtc_save(void *opaque, struct stream *s, struct error *err)
{
	struct legacy_rtc *lr = opaque;

	return rtc_save(lr->rtc, s, err);
}

static int legacy_rtc_load(void *opaque, struct stream *s, struct error *err)
{
	struct legacy_rtc *lr = opaque;

	return rtc_load(lr->rtc, s, err);
}

static const struct component_ops legacy_rtc_ops = {
	.reset = legacy_rtc_reset,
	.save = legacy_rtc_save,
	.load = legacy_rtc_load,
	.stats = legacy_rtc_stats,
	.destroy = legacy_rtc_destroy,
};

int rtc_create(struct dev_host *host, uint64_t ram_below_4g, uint64_t ram_above_4g,
	       struct rtc **out)
{
	struct legacy_rtc *lr = calloc(1, sizeof(*lr));
	int r;

	if (!lr)
		return -ENOMEM;
	lr->host = host;
	r = rtc_new(&legacy_rtc_model_ops, lr, &lr->rtc);
	if (r) {
		free(lr);
		return r;
	}
	rtc_set_memory(lr->rtc, ram_below_4g, ram_above_4g);
	r = bus_register(host->pio, X86_PORT_CMOS, 2, &rtc_bus_ops, lr->rtc);
	if (r) {
		rtc_free(lr->rtc);
		free(lr);
		return r;
	}
	r = components_add(host->components, "rtc", &legacy_rtc_ops, lr, NULL);
	if (r) {
		legacy_rtc_destroy(lr);
		return r;
	}
	if (out)
		*out = lr->rtc;
	return 0;
}

/* --- debug exit --- */

struct legacy_debug_exit {
	struct dev_host *host;
	struct debug_exit *d;
};

static void legacy_debug_exit_stats(void *opaque, struct json_object *obj)
{
	struct legacy_debug_exit *ld = opaque;
	uint64_t writes;
	int last;

	debug_exit_get_stats(ld->d, &writes, &last);
	json_add_u64(obj, "writes", writes);
	json_object_object_add(obj, "last_status", json_object_new_int(last));
}

static void legacy_debug_exit_destroy(void *opaque)
{
	struct legacy_debug_exit *ld = opaque;

	bus_unregister(ld->host->pio, X86_PORT_DEBUG_EXIT);
	debug_exit_free(ld->d);
	free(ld);
}

static int legacy_debug_exit_save(void *opaque, struct stream *s, struct error *err)
{
	struct legacy_debug_exit *ld = opaque;

	return debug_exit_save(ld->d, s, err);
}

static int legacy_debug_exit_load(void *opaque, struct stream *s, struct error *err)
{
	struct legacy_debug_exit *ld = opaque;

	return debug_exit_load(ld->d, s, err);
}

static const struct component_ops legacy_debug_exit_ops = {
	.save = legacy_debug_exit_save,
	.load = legacy_debug_exit_load,
	.stats = legacy_debug_exit_stats,
	.destroy = legacy_debug_exit_destroy,
};

int debug_exit_create(struct dev_host *host, debug_exit_fn fn, void *opaque)
{
	struct legacy_debug_exit *ld = calloc(1, sizeof(*ld));
	int r;

	if (!ld)
		return -ENOMEM;
	ld->host = host;
	r = debug_exit_new(fn, opaque, &ld->d);
	if (r) {
		free(ld);
		return r;
	}
	r = bus_register(host->pio, X86_PORT_DEBUG_EXIT, DEBUG_EXIT_PORTS, &debug_exit_bus_ops,
			 ld->d);
	if (r) {
		debug_exit_free(ld->d);
		free(ld);
		return r;
	}
	r = components_add(host->components, "debug-exit", &legacy_debug_exit_ops, ld, NULL);
	if (r) {
		legacy_debug_exit_destroy(ld);
		return r;
	}
	return 0;
}
