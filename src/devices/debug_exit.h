/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_DEVICES_DEBUG_EXIT_H
#define VESSEL_DEVICES_DEBUG_EXIT_H

#include <stdint.h>

#include "bus/bus.h"
#include "util/error.h"
#include "util/stream.h"

/*
 * An isa-debug-exit compatible port (QEMU's semantics): a write of value v
 * (1, 2 or 4 bytes, little-endian) at the port stops the VM, and vessel
 * exits with status (v << 1) | 1, so a test guest's "success" can never
 * look like vessel's own exit 0.  Registered over 4 ports so that 2- and
 * 4-byte accesses fit; only writes at the base port count.
 */
struct debug_exit;

#define DEBUG_EXIT_PORTS 4

/* The guest asked to exit with `status`. */
typedef void (*debug_exit_fn)(void *opaque, int status);

/* Port I/O callbacks; opaque is the struct debug_exit. */
extern const struct bus_ops debug_exit_bus_ops;

int debug_exit_new(debug_exit_fn fn, void *opaque, struct debug_exit **out);
void debug_exit_free(struct debug_exit *d);
/* Writes seen, and the status of the last one (0 if none). */
void debug_exit_get_stats(struct debug_exit *d, uint64_t *writes, int *last_status);

/*
 * State for VM save/restore: an empty stream section "DBGX" (version 1):
 * the port holds nothing the guest can see (the write count and last
 * status are statistics).  Both return 0 or -errno with *err filled.
 */
int debug_exit_save(struct debug_exit *d, struct stream *s, struct error *err);
int debug_exit_load(struct debug_exit *d, struct stream *s, struct error *err);

struct dev_host;
/*
 * At 0xf4 on host->pio, calling fn(opaque, status) when the guest writes
 * (the board stops the VM with that status); the component "debug-exit"
 * (legacy.c).
 */
int debug_exit_create(struct dev_host *host, debug_exit_fn fn, void *opaque);

#endif
