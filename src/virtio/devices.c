// SPDX-License-Identifier: MIT
/*
 * Assemble the VM's virtio devices from its config: one virtio-blk per
 * --disk, then virtio-rng and virtio-console when asked for.  Each gets
 * its own virtio-pci function on bus 0, in this order, so guests see a
 * stable layout (disks first: /dev/vda, /dev/vdb, ... in --disk order).
 */
#include <errno.h>
#include <string.h>

#include "util/log.h"
#include "virtio/devices.h"
#include "virtio/virtio-pci.h"
#include "vm/vm.h"

/* PCI class codes (PCI Code and ID Assignment 1.11). */
#define CLASS_STORAGE_OTHER 0x018000
#define CLASS_COMM_OTHER 0x078000
#define CLASS_OTHER 0xff0000

static int attach(struct vm *vm, struct virtio_dev *vd, uint32_t class_code, uint32_t cfg_size)
{
	int ret = virtio_pci_create(&vm->host, vd, class_code, cfg_size, NULL);

	if (ret < 0) {
		log_err("%s: cannot add the virtio-pci device: %s", vd->name, strerror(-ret));
		vd->ops->destroy(vd);
	}
	return ret;
}

int virtio_devices_create(struct vm *vm)
{
	struct vm_config *cfg = vm->cfg;
	struct virtio_dev *vd;
	int ret;

	for (unsigned int i = 0; i < cfg->nr_disks; i++) {
		/* On failure virtio_blk_new() logged one line naming the disk. */
		ret = virtio_blk_new(&cfg->disks[i], i, &vm->mem, vm->loop, &vd);
		if (ret < 0)
			return ret;
		ret = attach(vm, vd, CLASS_STORAGE_OTHER, VIRTIO_BLK_CFG_SIZE);
		if (ret < 0) {
			log_err("disk %s: %s", cfg->disks[i].path, strerror(-ret));
			return ret;
		}
	}
	if (cfg->rng) {
		ret = virtio_rng_new(&vm->mem, vm->loop, &vd);
		if (ret < 0 || (ret = attach(vm, vd, CLASS_OTHER, 0)) < 0) {
			log_err("virtio-rng: %s", strerror(-ret));
			return ret;
		}
	}
	if (cfg->virtio_console) {
		ret = virtio_console_new(cfg->virtio_console_path, &vm->mem, vm->loop, &vd);
		if (ret < 0 ||
		    (ret = attach(vm, vd, CLASS_COMM_OTHER, VIRTIO_CONSOLE_CFG_SIZE)) < 0) {
			log_err("virtio-console: %s", strerror(-ret));
			return ret;
		}
	}
	return 0;
}
