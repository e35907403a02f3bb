/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_VIRTIO_DEVICES_H
#define VESSEL_VIRTIO_DEVICES_H

#include <stdint.h>

/*
 * The virtio device models and what the VM assembly calls.
 *
 * vm.c calls virtio_devices_create(vm) once the PCI bus, the IRQ router
 * and the event loop exist: it creates one virtio-blk per cfg->disks[],
 * virtio-rng if cfg->rng and virtio-console if cfg->virtio_console, each
 * on its own virtio-pci function, registered as a component (reset
 * on reboot, destroy at teardown).
 *
 * run.c calls the option parsers below for --disk, --rng and --console.
 */
struct vm;
struct vm_config;
struct vm_disk_config;
struct virtio_dev;
struct gmem;
struct evloop;

int virtio_devices_create(struct vm *vm);

/* --disk path=F[,format=raw|qcow2][,readonly=on|off][,serial=S][,direct=on|off][,queues=N] */
int vm_config_parse_disk(struct vm_config *c, const char *spec, const char **why);
/* --rng (no argument) or --rng on|off */
int vm_config_parse_rng(struct vm_config *c, const char *spec, const char **why);
/* --console pty | file=PATH | socket=PATH  (virtio-console, second console) */
int vm_config_parse_virtio_console(struct vm_config *c, const char *spec, const char **why);

/*
 * Device models without a transport.  `loop` may be NULL (unit tests):
 * the caller then polls completions with virtio_blk_poll().
 */
#define VIRTIO_BLK_CFG_SIZE 72
#define VIRTIO_BLK_QUEUE_SIZE 256
#define VIRTIO_BLK_SEG_MAX 126
int virtio_blk_new(const struct vm_disk_config *dc, unsigned int index, struct gmem *mem,
		   struct evloop *loop, struct virtio_dev **out);
int virtio_blk_queue_fd(struct virtio_dev *vd, unsigned int q);
/* Run completions of every queue (what the event loop handler does). */
int virtio_blk_poll(struct virtio_dev *vd);

#define VIRTIO_RNG_QUEUE_SIZE 64
int virtio_rng_new(struct gmem *mem, struct evloop *loop, struct virtio_dev **out);

#define VIRTIO_CONSOLE_CFG_SIZE 12
#define VIRTIO_CONSOLE_QUEUE_SIZE 64
/* path: NULL/"pty" for a pseudo-terminal, "file=PATH" or "socket=PATH". */
int virtio_console_new(const char *path, struct gmem *mem, struct evloop *loop,
		       struct virtio_dev **out);
/* The pty's path (after virtio_console_new with a pty backend), else NULL. */
const char *virtio_console_pty_path(struct virtio_dev *vd);

#endif
