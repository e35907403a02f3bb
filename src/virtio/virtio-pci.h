/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_VIRTIO_VIRTIO_PCI_H
#define VESSEL_VIRTIO_VIRTIO_PCI_H

#include <stdint.h>

#include "devices/msix.h"
#include "devices/pci.h"
#include "virtio/virtio.h"

/*
 * Modern virtio-pci transport (virtio 1.2 section 4.1), no legacy
 * interface.  Everything sits in one 64-bit memory BAR (BAR 0):
 *
 *   0x0000  common configuration (4.1.4.3)
 *   0x1000  ISR status (4.1.4.5), read-to-clear
 *   0x2000  device-specific configuration (4.1.4.6)
 *   0x3000  notifications (4.1.4.4): queue q at 0x3000 + 4 * q, each an
 *           ioeventfd, so a kick costs no exit to user space
 *   0x4000  MSI-X table, 0x6000 MSI-X PBA
 *
 * plus the PCI configuration access capability (4.1.4.8).  Interrupts go
 * through MSI-X (irqfd + GSI routing) once the driver enables it, else
 * through INTx with the ISR register.
 */
#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040

#define VPCI_BAR 0
#define VPCI_BAR_SIZE 0x8000
#define VPCI_COMMON_OFF 0x0000
#define VPCI_COMMON_LEN 0x38
#define VPCI_ISR_OFF 0x1000
#define VPCI_DEVICE_OFF 0x2000
#define VPCI_DEVICE_MAX 0x1000
#define VPCI_NOTIFY_OFF 0x3000
#define VPCI_NOTIFY_MULT 4
#define VPCI_MSIX_TABLE_OFF 0x4000
#define VPCI_MSIX_PBA_OFF 0x6000

struct dev_host;
struct virtio_pci;

/*
 * Put vd on the host's PCI bus with the given PCI class code and a device
 * configuration space of cfg_size bytes; one MSI-X vector per queue plus
 * one for configuration changes.  Registers the function as a component
 * ("virtio-blk0", "virtio-rng0", "virtio-console0", ...: the type's name
 * and the first free number) for reset, stats and destruction.  vd must
 * outlive it.
 */
int virtio_pci_create(struct dev_host *host, struct virtio_dev *vd, uint32_t class_code,
		      uint32_t cfg_size, struct virtio_pci **out);
void virtio_pci_destroy(struct virtio_pci *vp);
struct pci_dev *virtio_pci_dev(struct virtio_pci *vp);
/* The device model on this function. */
struct virtio_dev *virtio_pci_vdev(struct virtio_pci *vp);

#endif
