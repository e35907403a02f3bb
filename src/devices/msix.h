/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_DEVICES_MSIX_H
#define VESSEL_DEVICES_MSIX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/stream.h"

/*
 * Generic MSI-X (PCI Local Bus 3.0 section 6.8.2 / PCIe base 4.0 section
 * 7.7.2) for any PCI device: the capability, the vector table and the
 * pending bit array, which live in one of the device's memory BARs (the
 * device's BAR handler forwards accesses to msix_table_* / msix_pba_read).
 *
 * Each vector that the guest unmasks gets a KVM GSI with an MSI route
 * (irq_router) and an irqfd, so msix_notify() is one eventfd write and
 * KVM injects the interrupt without a vCPU exit.  Masked vectors (per
 * vector or the function mask) collect a pending bit and fire when
 * unmasked.  Thread-safe: table writes come from vCPU threads, notifies
 * from the event loop.
 */
#define MSIX_ENTRY_SIZE 16
#define MSIX_MAX_VECTORS 2048

#define MSIX_CTRL_ENABLE 0x8000
#define MSIX_CTRL_MASKALL 0x4000
#define MSIX_VECTOR_MASKED 0x1

struct evloop;
struct pci_dev;
struct irq_router;

/*
 * An eventfd that raises a vector from outside the VMM: a kernel data
 * path's "call" eventfd (vhost).  While the vector can be delivered
 * (MSI-X enabled, neither the vector nor the function masked, a route
 * in place) the fd is bound to the vector's GSI with KVM_IRQFD and loop
 * does not watch it, so KVM injects without waking the VMM.  Otherwise
 * KVM lets go of it and loop watches it again: the owner's handler there
 * (registered with loop, any events) reads it and raises the interrupt
 * the slow way, which sets the pending bit of a masked vector
 * (PCI 3.0 section 6.8.3.4) or raises INTx without MSI-X.  Both are
 * never at once: an irqfd does not consume the count on older kernels,
 * so the handler would raise every interrupt twice.
 */
struct msix_irqfd {
	int fd;
	struct evloop *loop;
	int vector;  /* -1: none (no vector, or not attached) */
	int gsi;     /* the GSI fd is bound to, or -1: loop watches fd */
	bool attached;
	struct msix_irqfd *next;
};

struct msix_vector {
	uint32_t addr_lo, addr_hi, data, ctrl; /* guest-visible table entry */
	int gsi;			       /* KVM GSI or -1 */
	int efd;			       /* irqfd bound to gsi or -1 */
	bool route_stale;		       /* entry changed since the route was set */
};

struct msix {
	struct pci_dev *pci;
	struct irq_router *irq;
	int vm_fd; /* -1 in unit tests: nothing is injected */
	unsigned int nr;
	uint8_t cap;	      /* capability offset in config space */
	bool enabled, masked; /* Message Control bits */
	struct msix_vector *v;
	uint64_t *pba;
	pthread_mutex_t lock;
	struct msix_irqfd *irqfds; /* attached, under lock */
	uint64_t sent, pended, failed;
	uint64_t irqfd_binds; /* KVM_IRQFD assigns of attached eventfds */
};

/*
 * Add the MSI-X capability to d with nr vectors: table at table_off and
 * PBA at pba_off in BAR bar (both 8-byte aligned, inside the BAR).
 */
int msix_init(struct msix *m, struct pci_dev *d, unsigned int nr, int bar, uint32_t table_off,
	      uint32_t pba_off, struct irq_router *irq, int vm_fd);
void msix_destroy(struct msix *m);
/* Table size in bytes, and PBA size in bytes, for BAR layout. */
static inline uint32_t msix_table_bytes(unsigned int nr)
{
	return nr * MSIX_ENTRY_SIZE;
}
static inline uint32_t msix_pba_bytes(unsigned int nr)
{
	return ((nr + 63) / 64) * 8;
}

void msix_table_read(struct msix *m, uint64_t off, void *data, unsigned int len);
void msix_table_write(struct msix *m, uint64_t off, const void *data, unsigned int len);
void msix_pba_read(struct msix *m, uint64_t off, void *data, unsigned int len);
/* From the PCI config_write hook: picks up Message Control changes. */
void msix_config_write(struct msix *m, uint32_t off, uint32_t val, unsigned int len);
/* MSI-X Enable set in Message Control. */
bool msix_enabled(struct msix *m);
/* Signal vector; 0, or -EINVAL for a vector out of range / not enabled. */
int msix_notify(struct msix *m, unsigned int vector);
/*
 * Attach s (fd and loop set by the caller) to vector, or move it to
 * another one; vector -1 keeps it attached but with no vector, so loop
 * watches fd.  Rebinds at once and on every later mask, unmask, route
 * change and reset.  Detach before closing fd or destroying m.
 */
void msix_irqfd_attach(struct msix *m, struct msix_irqfd *s, int vector);
/* Undo attach: KVM lets go of fd and loop watches it again. */
void msix_irqfd_detach(struct msix *m, struct msix_irqfd *s);

/* Back to power-on state: all vectors masked, nothing pending. */
void msix_reset(struct msix *m);

/*
 * Save/restore (PCI Local Bus 3.0 section 6.8.2): the vector table and
 * the PBA as one stream section "MSIX" (v1).  Enable and Function Mask
 * live in config space, which the PCI layer restores: msix_load() must
 * follow it and picks them up from there.  Load checks the vector count
 * and reserved bits before it changes anything; routes are rebuilt on
 * first use (route_stale).  The stream carries the message.
 */
void msix_save(struct msix *m, struct stream *s);
int msix_load(struct msix *m, struct stream *s);

#endif
