/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_DEVICES_CONSOLE_H
#define VESSEL_DEVICES_CONSOLE_H

#include "vm/config.h"

/*
 * Host side of the serial console (COM1), per enum vm_console_mode:
 *
 *   STDIO   guest output to stdout, stdin to the guest.  When stdin is a
 *           terminal (and vessel is in its foreground process group) it is
 *           put in raw mode and Ctrl-A is an escape: Ctrl-A x quits vessel,
 *           Ctrl-A Ctrl-A sends Ctrl-A, Ctrl-A h prints help.  Otherwise
 *           bytes pass through unchanged.  EOF on stdin never stops the VM.
 *   PTY     a pseudo-terminal; its path is printed on stderr and returned
 *           by console_get_path().
 *   FILE    guest output appended to `path`; no input.
 *   SOCKET  a Unix stream socket at `path`; one client at a time gets the
 *           console, and a new client first receives the last 64 KiB of
 *           output (`vessel console NAME`).  A second client is refused.
 *   NONE    output discarded, no input.
 *
 * Input that the guest does not take yet is held back (up to 64 KiB) and
 * fed in as the guest drains its RX FIFO, so pasted text is not lost.
 * The console registers itself as the component "serial-console0" (the
 * backend of COM1, which is "serial0"; virtio-console is
 * "virtio-console0").
 */
#define CONSOLE_COMPONENT_ID "serial-console0"

struct vm;
struct uart8250;

int console_attach(struct vm *vm, struct uart8250 *u, enum vm_console_mode mode, const char *path);

/* The pty or socket path of the VM's console, or NULL. */
const char *console_get_path(struct vm *vm);

/*
 * Put the terminal back the way vessel found it.  Async-signal-safe and
 * idempotent; also run from atexit() and from fatal-signal handlers that
 * console_attach() installs where none were installed before.
 */
void console_restore_terminal(void);

#endif
