/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_DEVICES_CONSOLE_H
#define VESSEL_DEVICES_CONSOLE_H

#include "chardev/chardev.h"

/*
 * The serial console (COM1): the UART on a character backend
 * (chardev/chardev.h: stdio, pty, file, socket with a 64 KiB replay for
 * `vessel console NAME`, none).
 *
 * On STDIO with a raw terminal, Ctrl-A is an escape: Ctrl-A x quits
 * vessel, Ctrl-A Ctrl-A sends Ctrl-A, Ctrl-A h prints help; otherwise
 * bytes pass through unchanged.  EOF on stdin never stops the VM.
 *
 * Input that the guest does not take yet is held back (up to 64 KiB) and
 * fed in as the guest drains its RX FIFO, so pasted text is not lost.
 * The console registers itself as the component "serial-console0" (the
 * backend of COM1, which is "serial0"; virtio-console is
 * "virtio-console0").
 */
#define CONSOLE_COMPONENT_ID "serial-console0"

struct dev_host;
struct components;
struct uart8250;

struct error;

/* 0, or -errno with err naming the problem ("console: cannot listen on ..."). */
int console_attach(const struct dev_host *host, struct uart8250 *u, const struct chardev_spec *spec,
		   struct error *err);

/* The pty or socket path of the VM's console, or NULL. */
const char *console_get_path(struct components *components);

/*
 * Put the terminal back the way vessel found it (chardev_restore_terminal).
 * Async-signal-safe and idempotent; also run from atexit() and from the
 * fatal-signal handlers the stdio backend installs.
 */
void console_restore_terminal(void);

#endif
