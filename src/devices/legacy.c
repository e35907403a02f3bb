// SPDX-License-Identifier: MIT
/*
 * Assembly of the legacy PC devices, and the glue that wires the device
 * models (which only know callbacks) to the VM: interrupt lines through
 * vm_irq_line(), reset requests through vm_request_reset(), timers on the
 * event loop, and vm_add_device() for reset/stats/destroy.  Keeping the
 * vm_* calls here lets the unit tests link the models without the VM core.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "devices/console.h"
#include "devices/legacy.h"
#include "devices/uart8250.h"
#include "util/log.h"
#include "vm/vm.h"

/* --- UART --- */

struct legacy_uart {
	struct vm *vm;
	uint32_t irq;
	uint16_t port;
	struct uart8250 *uart;
};

static void legacy_uart_irq(void *opaque, int level)
{
	struct legacy_uart *lu = opaque;

	vm_irq_line(lu->vm, lu->irq, level);
}

static void legacy_uart_reset(void *opaque)
{
	struct legacy_uart *lu = opaque;

	uart8250_reset(lu->uart);
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

	bus_unregister(&lu->vm->pio, lu->port);
	uart8250_free(lu->uart);
	free(lu);
}

static const struct vm_device_ops legacy_uart_ops = {
	.reset = legacy_uart_reset,
	.stats = legacy_uart_stats,
	.destroy = legacy_uart_destroy,
};

int uart8250_create(struct vm *vm, uint16_t port, uint32_t irq, struct uart8250 **out)
{
	struct legacy_uart *lu = calloc(1, sizeof(*lu));
	char name[32];
	int r;

	if (!lu)
		return -ENOMEM;
	lu->vm = vm;
	lu->irq = irq;
	lu->port = port;
	r = uart8250_create_on_bus(&vm->pio, port, legacy_uart_irq, lu, &lu->uart);
	if (r) {
		free(lu);
		return r;
	}
	if (port == X86_PORT_COM1)
		snprintf(name, sizeof(name), "com1");
	else
		snprintf(name, sizeof(name), "uart@%#x", port);
	r = vm_add_device(vm, name, &legacy_uart_ops, lu);
	if (r) {
		legacy_uart_destroy(lu);
		return r;
	}
	*out = lu->uart;
	return 0;
}

/* --- all of them --- */

int x86_legacy_devices_create(struct vm *vm)
{
	int r;

	r = uart8250_create(vm, X86_PORT_COM1, X86_IRQ_COM1, &vm->com1);
	if (r) {
		log_err("com1: %s", strerror(-r));
		return r;
	}
	r = console_attach(vm, vm->com1, vm->cfg->console, vm->cfg->console_path);
	if (r)
		return r;
	return 0;
}
