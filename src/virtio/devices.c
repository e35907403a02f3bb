// SPDX-License-Identifier: MIT
/*
 * What every virtio device kind's create() ends with: its model put on a
 * virtio-pci function.  The kinds themselves are listed in vm/devtable.c,
 * which creates them in table order (disks first: /dev/vda, /dev/vdb, ...
 * in --disk order, then virtio-rng, then virtio-console), so guests see
 * a stable layout.
 */
#include <errno.h>

#include "bus/host.h"
#include "util/error.h"
#include "virtio/devices.h"
#include "virtio/virtio-pci.h"

int virtio_attach(struct dev_host *host, struct virtio_dev *vd, uint32_t class_code,
		  uint32_t cfg_size, struct error *err)
{
	int ret = virtio_pci_create(host, vd, class_code, cfg_size, NULL);

	if (ret < 0) {
		error_set_errno(err, ret, "%s: cannot add the virtio-pci device", vd->name);
		vd->ops->destroy(vd);
	}
	return ret;
}
