/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_VIRTIO_VIRTIO_PCI_INT_H
#define VESSEL_VIRTIO_VIRTIO_PCI_INT_H

/*
 * The virtio-pci transport's own state, shared by virtio-pci.c (the
 * registers and interrupts) and virtio-pci-state.c (save and load).
 */
#include "bus/host.h"
#include "util/component.h"
#include "util/error.h"
#include "util/stream.h"
#include "virtio/virtio-pci.h"

struct vpci_qfd {
	struct virtio_pci *vp;
	unsigned int q;
	int fd;
};

struct virtio_pci {
	struct pci_dev pci;
	struct virtio_dev *vd;
	struct msix msix;
	struct dev_host *host;
	char id[COMPONENT_ID_MAX]; /* "virtio-blk0", ...: the component id */
	int vm_fd;
	struct evloop *loop;
	uint32_t cfg_size;
	unsigned int nr_vectors;

	/* Common configuration selectors and ISR, under vd->lock. */
	uint32_t dfselect, gfselect;
	uint16_t queue_select;
	uint8_t isr;

	struct vpci_qfd *qfd;	  /* one ioeventfd per queue */
	struct msix_irqfd *calls; /* per queue: a kernel data path's interrupt eventfd */
	uint64_t ioe_base;	  /* BAR address the ioeventfds sit at, or 0 */
	uint8_t cfgcap;		  /* offset of the PCI cfg access cap */
	uint64_t intx_raised;
};

/* The component's save and load (component_ops, util/component.h). */
int vpci_state_save(void *opaque, struct stream *s, struct error *err);
int vpci_state_load(void *opaque, struct stream *s, struct error *err);

#endif
