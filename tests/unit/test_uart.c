// SPDX-License-Identifier: MIT
/*
 * 16550A UART model, driven through its bus_ops the way a guest driver
 * (Linux's 8250 probe and interrupt handler) does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "devices/console.h"
#include "devices/uart8250.h"
#include "util/evloop.h"
#include "vm/vm.h"

struct fake_irq {
	int level;
	int raises;
	int ready_calls;
};

static void fake_set_irq(void *opaque, int level)
{
	struct fake_irq *f = opaque;

	assert_int_not_equal(f->level, level); /* only transitions are signalled */
	f->level = level;
	if (level)
		f->raises++;
}

static void fake_ready(void *opaque)
{
	struct fake_irq *f = opaque;

	f->ready_calls++;
}

static uint8_t rd(struct uart8250 *u, unsigned int reg)
{
	uint8_t v = 0;

	uart8250_bus_ops.read(u, reg, &v, 1);
	return v;
}

static void wr(struct uart8250 *u, unsigned int reg, uint8_t v)
{
	uart8250_bus_ops.write(u, reg, &v, 1);
}

struct ctx {
	struct uart8250 *u;
	struct fake_irq irq;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	assert_int_equal(uart8250_new(fake_set_irq, &c->irq, &c->u), 0);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	uart8250_free(c->u);
	free(c);
	return 0;
}

/* Power-on values (datasheet Table III). */
static void test_power_on(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(rd(c->u, UART_IER), 0);
	assert_int_equal(rd(c->u, UART_IIR), UART_IIR_NO_INT);
	assert_int_equal(rd(c->u, UART_LCR), 0);
	assert_int_equal(rd(c->u, UART_MCR), 0);
	assert_int_equal(rd(c->u, UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);
	assert_int_equal(rd(c->u, UART_MSR) & 0xf0, UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS);
	assert_int_equal(c->irq.level, 0);
}

/* The sequence of Linux's autoconfig() in drivers/tty/serial/8250. */
static void test_linux_probe(void **state)
{
	struct ctx *c = *state;
	uint8_t save_lcr;

	/* IER must read back what was written (low nibble). */
	wr(c->u, UART_IER, 0);
	assert_int_equal(rd(c->u, UART_IER), 0);
	wr(c->u, UART_IER, 0x0f);
	assert_int_equal(rd(c->u, UART_IER), 0x0f);
	wr(c->u, UART_IER, 0);

	/* Scratch register. */
	wr(c->u, UART_SCR, 0xa5);
	assert_int_equal(rd(c->u, UART_SCR), 0xa5);
	wr(c->u, UART_SCR, 0x5a);
	assert_int_equal(rd(c->u, UART_SCR), 0x5a);

	/* Loopback: MCR = LOOP | OUT2 | RTS reads back CTS | DCD. */
	wr(c->u, UART_MCR, UART_MCR_LOOP | 0x0a);
	assert_int_equal(rd(c->u, UART_MSR) & 0xf0, 0x90);
	wr(c->u, UART_MCR, 0);

	/* DLAB: divisor latches overlay RBR/THR and IER. */
	save_lcr = rd(c->u, UART_LCR);
	wr(c->u, UART_IER, 0x05);
	wr(c->u, UART_LCR, UART_LCR_DLAB | 0x03);
	wr(c->u, UART_DLL, 0x01);
	wr(c->u, UART_DLM, 0x00);
	assert_int_equal(rd(c->u, UART_DLL), 0x01);
	assert_int_equal(rd(c->u, UART_DLM), 0x00);
	assert_int_equal(rd(c->u, UART_LSR) & UART_LSR_DR, 0); /* DLL write sent nothing */
	wr(c->u, UART_LCR, save_lcr | 0x03);
	assert_int_equal(rd(c->u, UART_IER), 0x05);
	assert_int_equal(rd(c->u, UART_LCR), 0x03);
	wr(c->u, UART_IER, 0);

	/* FIFO detection: IIR bits 7:6 = 0b11 means a 16550A; no 64-byte
	 * FIFO bit (5) even with DLAB set, so it is not taken for a 16750. */
	wr(c->u, UART_FCR, UART_FCR_ENABLE);
	assert_int_equal(rd(c->u, UART_IIR) >> 6, 3);
	wr(c->u, UART_LCR, UART_LCR_DLAB);
	wr(c->u, UART_FCR, UART_FCR_ENABLE | 0x20);
	wr(c->u, UART_LCR, 0);
	assert_int_equal(rd(c->u, UART_IIR) & 0xe0, 0xc0);
	wr(c->u, UART_FCR, 0);
	assert_int_equal(rd(c->u, UART_IIR) >> 6, 0);
	assert_int_equal(c->irq.raises, 0);
}

static void test_thre_interrupt(void **state)
{
	struct ctx *c = *state;
	int p[2];
	char buf[8];

	assert_int_equal(pipe(p), 0);
	uart8250_set_output_fd(c->u, p[1]);
	wr(c->u, UART_FCR, UART_FCR_ENABLE | UART_FCR_CLEAR_RCVR | UART_FCR_CLEAR_XMIT);
	wr(c->u, UART_MCR, UART_MCR_DTR | UART_MCR_RTS | UART_MCR_OUT2);

	/* Enabling ETBEI with THR empty interrupts at once. */
	wr(c->u, UART_IER, UART_IER_ETBEI);
	assert_int_equal(c->irq.level, 1);
	/* The IIR read that reports THRE clears it. */
	assert_int_equal(rd(c->u, UART_IIR), 0xc0 | UART_IIR_THRI);
	assert_int_equal(c->irq.level, 0);
	assert_int_equal(rd(c->u, UART_IIR), 0xc0 | UART_IIR_NO_INT);

	/* Writing THR clears it; the byte leaves at once, THR empties and
	 * THRE is pending again. */
	wr(c->u, UART_THR, 'h');
	wr(c->u, UART_THR, 'i');
	assert_int_equal(c->irq.level, 1);
	assert_int_equal(rd(c->u, UART_LSR) & (UART_LSR_THRE | UART_LSR_TEMT),
			 UART_LSR_THRE | UART_LSR_TEMT);
	assert_int_equal(read(p[0], buf, sizeof(buf)), 2);
	assert_memory_equal(buf, "hi", 2);

	/* Disabling ETBEI drops the line; re-enabling raises it again (the
	 * Linux UART_BUG_THRE probe expects this). */
	wr(c->u, UART_IER, 0);
	assert_int_equal(c->irq.level, 0);
	wr(c->u, UART_IER, UART_IER_ETBEI);
	assert_int_equal(c->irq.level, 1);

	/* OUT2 gates the line as on PCs. */
	wr(c->u, UART_MCR, UART_MCR_DTR | UART_MCR_RTS);
	assert_int_equal(c->irq.level, 0);
	assert_int_equal(rd(c->u, UART_IIR), 0xc0 | UART_IIR_THRI);

	struct uart8250_stats st;
	uart8250_get_stats(c->u, &st);
	assert_int_equal(st.tx_bytes, 2);
	assert_int_equal(st.tx_dropped, 0);
	close(p[0]);
	close(p[1]);
}

static void test_rx_fifo(void **state)
{
	struct ctx *c = *state;
	const uint8_t data[20] = "0123456789abcdefghij";
	size_t n;

	uart8250_set_rx_ready(c->u, fake_ready, &c->irq);
	wr(c->u, UART_MCR, UART_MCR_OUT2);
	wr(c->u, UART_IER, UART_IER_ERBFI);
	/* FIFOs off: RBR holds one byte; the rest is held back. */
	assert_int_equal(uart8250_receive(c->u, data, 3), 1);
	assert_int_equal(c->irq.level, 1);
	assert_int_equal(rd(c->u, UART_IIR), UART_IIR_RDI);
	assert_int_equal(rd(c->u, UART_LSR) & UART_LSR_DR, UART_LSR_DR);
	assert_int_equal(rd(c->u, UART_RBR), '0');
	assert_int_equal(rd(c->u, UART_LSR) & UART_LSR_DR, 0);
	assert_int_equal(c->irq.level, 0);
	assert_int_equal(c->irq.ready_calls, 1);

	/* FIFO with trigger level 4. */
	wr(c->u, UART_FCR, UART_FCR_ENABLE | 0x40);
	assert_int_equal(uart8250_receive(c->u, data, 2), 2);
	/* Below the trigger level: character timeout indication. */
	assert_int_equal(rd(c->u, UART_IIR), 0xc0 | UART_IIR_CTI);
	assert_int_equal(uart8250_receive(c->u, data + 2, 2), 2);
	assert_int_equal(rd(c->u, UART_IIR), 0xc0 | UART_IIR_RDI);
	/* The FIFO takes 16 bytes, no more. */
	n = uart8250_receive(c->u, data + 4, 16);
	assert_int_equal(n, 12);
	assert_int_equal(c->irq.ready_calls, 1);
	for (int i = 0; i < 16; i++) {
		assert_int_equal(rd(c->u, UART_LSR) & UART_LSR_DR, UART_LSR_DR);
		assert_int_equal(rd(c->u, UART_RBR), data[i]);
	}
	assert_int_equal(c->irq.ready_calls, 2);
	assert_int_equal(rd(c->u, UART_LSR) & UART_LSR_DR, 0);
	assert_int_equal(rd(c->u, UART_IIR), 0xc0 | UART_IIR_NO_INT);
	assert_int_equal(c->irq.level, 0);

	/* FCR RX reset empties the FIFO. */
	assert_int_equal(uart8250_receive(c->u, data, 5), 5);
	wr(c->u, UART_FCR, UART_FCR_ENABLE | UART_FCR_CLEAR_RCVR);
	assert_int_equal(rd(c->u, UART_LSR) & UART_LSR_DR, 0);
	assert_int_equal(c->irq.level, 0);
}

static void test_overrun_loopback(void **state)
{
	struct ctx *c = *state;
	uint8_t in = 'z';

	wr(c->u, UART_MCR, UART_MCR_LOOP | UART_MCR_OUT2);
	wr(c->u, UART_IER, UART_IER_ELSI | UART_IER_ERBFI);
	/* Host input is held back while the receiver is looped. */
	assert_int_equal(uart8250_receive(c->u, &in, 1), 0);
	/* FIFOs off: the second byte overruns the one-byte RBR. */
	wr(c->u, UART_THR, 'a');
	wr(c->u, UART_THR, 'b');
	/* Line status outranks received data. */
	assert_int_equal(rd(c->u, UART_IIR), UART_IIR_RLSI);
	assert_int_equal(rd(c->u, UART_LSR) & (UART_LSR_OE | UART_LSR_DR),
			 UART_LSR_OE | UART_LSR_DR);
	/* Reading LSR cleared OE. */
	assert_int_equal(rd(c->u, UART_LSR) & UART_LSR_OE, 0);
	assert_int_equal(rd(c->u, UART_IIR), UART_IIR_RDI);
	assert_int_equal(rd(c->u, UART_RBR), 'a');
	/* Loopback never drives the PC interrupt line. */
	assert_int_equal(c->irq.raises, 0);

	struct uart8250_stats st;
	uart8250_get_stats(c->u, &st);
	assert_int_equal(st.overruns, 1);
	assert_int_equal(st.tx_bytes, 0);
}

static void test_modem_status(void **state)
{
	struct ctx *c = *state;

	wr(c->u, UART_IER, UART_IER_EDSSI);
	wr(c->u, UART_MCR, UART_MCR_LOOP);
	/* Entering loopback dropped DCD/DSR/CTS: delta bits latch. */
	assert_int_equal(rd(c->u, UART_IIR), UART_IIR_MSI);
	assert_int_equal(rd(c->u, UART_MSR), UART_MSR_DDCD | UART_MSR_DDSR | UART_MSR_DCTS);
	assert_int_equal(rd(c->u, UART_IIR), UART_IIR_NO_INT);
	wr(c->u, UART_MCR, UART_MCR_LOOP | UART_MCR_OUT1);
	assert_int_equal(rd(c->u, UART_MSR), UART_MSR_RI);
	wr(c->u, UART_MCR, UART_MCR_LOOP);
	assert_int_equal(rd(c->u, UART_MSR), UART_MSR_TERI);
}

static void test_reset(void **state)
{
	struct ctx *c = *state;
	const uint8_t d[2] = { 1, 2 };

	wr(c->u, UART_FCR, UART_FCR_ENABLE);
	wr(c->u, UART_MCR, UART_MCR_OUT2);
	wr(c->u, UART_IER, 0x0f);
	wr(c->u, UART_LCR, 0x1b);
	wr(c->u, UART_SCR, 0x42);
	assert_int_equal(uart8250_receive(c->u, d, 2), 2);
	assert_int_equal(c->irq.level, 1);
	uart8250_reset(c->u);
	assert_int_equal(c->irq.level, 0);
	assert_int_equal(rd(c->u, UART_IER), 0);
	assert_int_equal(rd(c->u, UART_LCR), 0);
	assert_int_equal(rd(c->u, UART_SCR), 0);
	assert_int_equal(rd(c->u, UART_IIR), UART_IIR_NO_INT);
	assert_int_equal(rd(c->u, UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);
}

/* A reader that stopped reading must not hang the vCPU: bytes are dropped. */
static void test_output_stall(void **state)
{
	struct ctx *c = *state;
	struct uart8250_stats st;
	int p[2];

	/* Nobody reads the pipe (64 KiB by default): it fills, one byte
	 * waits out the grace period, the rest is dropped at once. */
	assert_int_equal(pipe(p), 0);
	uart8250_set_output_fd(c->u, p[1]);
	for (int i = 0; i < 80000; i++)
		wr(c->u, UART_THR, 'x');
	uart8250_get_stats(c->u, &st);
	assert_true(st.tx_bytes >= 60000);
	assert_true(st.tx_dropped > 0);
	assert_int_equal(st.tx_bytes + st.tx_dropped, 80000);
	close(p[0]);
	close(p[1]);
}

/* Wide accesses hit consecutive registers; nothing crashes. */
static void test_wide_access(void **state)
{
	struct ctx *c = *state;
	uint32_t v = 0;

	wr(c->u, UART_SCR, 0x77);
	uart8250_bus_ops.read(c->u, 6, &v, 4);
	assert_int_equal((v >> 8) & 0xff, 0x77);
	assert_int_equal(v >> 16, 0xffff);
}

static void *loop_thread(void *arg)
{
	evloop_run(arg);
	return NULL;
}

/*
 * The socket console end to end, without KVM: a client connects, gets the
 * output history, and pastes more than the RX FIFO holds; everything
 * reaches the guest side in order as it drains the FIFO (flow control
 * through rx_ready and the event loop, nothing dropped).
 */
static void test_console_socket_paste(void **state)
{
	struct ctx *c = *state;
	char dir[] = "/tmp/vessel-test-uart-XXXXXX", path[128];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static uint8_t paste[5000], got[5000];
	struct vm *vm = calloc(1, sizeof(*vm));
	struct timespec t0, t1;
	char hist[64] = { 0 };
	size_t n = 0, h = 0;
	pthread_t th;
	int fd;

	assert_non_null(vm);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/console.sock", dir);
	assert_int_equal(evloop_create(&vm->loop), 0);
	components_init(&vm->components);
	vm->host.loop = vm->loop;
	vm->host.components = &vm->components;
	assert_int_equal(console_attach(&vm->host, c->u, &(struct chardev_spec){ CHARDEV_SOCKET, path }, NULL), 0);
	assert_string_equal(console_get_path(&vm->components), path);

	/* Output before anyone is connected goes to the history. */
	for (const char *p = "early output\n"; *p; p++)
		wr(c->u, UART_THR, (uint8_t)*p);

	assert_int_equal(pthread_create(&th, NULL, loop_thread, vm->loop), 0);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(sa.sun_path, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	while (h < 13) {
		ssize_t r = read(fd, hist + h, sizeof(hist) - 1 - h);

		assert_true(r > 0);
		h += (size_t)r;
	}
	assert_string_equal(hist, "early output\n");

	for (size_t i = 0; i < sizeof(paste); i++)
		paste[i] = (uint8_t)(i * 7 + 1);
	/* FIFOs on first: enabling them clears what they hold (8.5). */
	wr(c->u, UART_FCR, UART_FCR_ENABLE);
	assert_int_equal(write(fd, paste, sizeof(paste)), (ssize_t)sizeof(paste));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (n < sizeof(paste)) {
		if (rd(c->u, UART_LSR) & UART_LSR_DR) {
			got[n++] = rd(c->u, UART_RBR);
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		assert_true(t1.tv_sec - t0.tv_sec < 10);
		usleep(100);
	}
	assert_memory_equal(got, paste, sizeof(paste));

	/* Guest output reaches the client. */
	wr(c->u, UART_THR, '!');
	assert_int_equal(read(fd, hist, 1), 1);
	assert_int_equal(hist[0], '!');
	close(fd);

	evloop_stop(vm->loop);
	pthread_join(th, NULL);
	components_fini(&vm->components);
	assert_int_equal(access(path, F_OK), -1); /* socket removed */
	evloop_destroy(vm->loop);
	free(vm);
	rmdir(dir);
}

/*
 * --serial socket=PATH where another VM's console is listening: refused,
 * and that VM keeps its socket (it used to be unlinked and taken over,
 * so its user reconnected to the wrong guest; issue 9 item 5).  A
 * regular file at the path is left alone too.
 */
static void test_console_socket_policy(void **state)
{
	struct ctx *c = *state;
	char dir[] = "/tmp/vessel-test-uart-XXXXXX", path[128], buf[8] = { 0 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vm *vm = calloc(1, sizeof(*vm));
	int other, cl, fd;

	assert_non_null(vm);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/console.sock", dir);
	assert_int_equal(evloop_create(&vm->loop), 0);
	components_init(&vm->components);
	vm->host.loop = vm->loop;
	vm->host.components = &vm->components;
	strcpy(sa.sun_path, path);
	other = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(other, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(other, 4), 0);
	assert_int_equal(console_attach(&vm->host, c->u, &(struct chardev_spec){ CHARDEV_SOCKET, path }, NULL), -EADDRINUSE);
	cl = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(cl, (struct sockaddr *)&sa, sizeof(sa)), 0);
	fd = accept(other, NULL, NULL);
	assert_true(fd >= 0); /* the connection reached the other listener */
	close(fd);
	close(cl);
	close(other);
	unlink(path);

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(write(fd, "keep", 4), 4);
	close(fd);
	assert_int_equal(console_attach(&vm->host, c->u, &(struct chardev_spec){ CHARDEV_SOCKET, path }, NULL), -EEXIST);
	fd = open(path, O_RDONLY);
	assert_int_equal(read(fd, buf, sizeof(buf)), 4);
	close(fd);
	assert_string_equal(buf, "keep");
	unlink(path);
	assert_int_equal(vm->components.nr, 0);
	components_fini(&vm->components);
	evloop_destroy(vm->loop);
	free(vm);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_power_on, setup, teardown),
		cmocka_unit_test_setup_teardown(test_linux_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thre_interrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_fifo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overrun_loopback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modem_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_stall, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wide_access, setup, teardown),
		cmocka_unit_test_setup_teardown(test_console_socket_paste, setup, teardown),
		cmocka_unit_test_setup_teardown(test_console_socket_policy, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
