/* SPDX-License-Identifier: MIT */
/*
 * vdrv.h - a small modern virtio-pci driver for the test guests (virtio
 * 1.2 sections 3.1 and 4.1): find a device on bus 0, map its capability
 * regions, negotiate, set up split virtqueues, post chains, kick, wait
 * for used buffers, MSI-X interrupts.  Deliberately able to do wrong
 * things too (raw descriptors, any queue size) for the hostile tests.
 */
#ifndef VDRV_H
#define VDRV_H

#include "guest.h"

#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4

#define VS_ACK 1
#define VS_DRIVER 2
#define VS_DRIVER_OK 4
#define VS_FEATURES_OK 8
#define VS_NEEDS_RESET 64
#define VS_FAILED 128

#define VF_VERSION_1 (1ull << 32)
#define VF_EVENT_IDX (1ull << 29)
#define VF_INDIRECT (1ull << 28)

#define VD_NEXT 1
#define VD_WRITE 2
#define VD_INDIRECT 4

#define VQ_MAX 256
#define VEC_BASE 0x50 /* IDT vector of MSI-X vector 0 */

struct vdesc {
	u64 addr;
	u32 len;
	u16 flags, next;
} PACKED;

struct vq {
	u16 index, size;
	struct vdesc *desc;
	volatile u16 *avail; /* flags, idx, ring[size], used_event */
	volatile u8 *used;   /* flags, idx, ring[size]{id,len}, avail_event */
	u16 avail_idx, last_used;
	u16 next_desc;
	u64 notify;    /* doorbell address */
	u64 poll_addr; /* a register to read while polling */
	u16 vector;
	bool event_idx;
};

struct vdev {
	u8 dev; /* slot on bus 0 */
	u16 type;
	u64 common, isr, devcfg, notify;
	u32 notify_mult;
	u8 msix_cap;
	u64 msix_table;
	u16 nr_vectors;
	u64 features;
	int ring_slot;
	struct vq vqs[4];
};

/* Interrupts counted per MSI-X vector. */
extern volatile u32 vdrv_irqs[8];

/* Find the index-th virtio device of this type on bus 0; false if none. */
bool vdev_find(struct vdev *d, u16 type, int index);
/* Reset, ACK, DRIVER, negotiate want & offered (+VERSION_1), FEATURES_OK. */
bool vdev_negotiate(struct vdev *d, u64 want);
u8 vdev_status(struct vdev *d);
void vdev_set_status(struct vdev *d, u8 s);
/* Write 0 and wait until the device reads back 0 (section 4.1.4.3.2). */
bool vdev_reset(struct vdev *d, u32 timeout_ms);
/* The pci_cfg access capability reaches the same registers as MMIO. */
bool vdev_check_cfg_window(struct vdev *d);
/* Enable MSI-X: vector i -> IDT vector VEC_BASE + i on this CPU. */
void vdev_msix_enable(struct vdev *d);
/* Queue q with `size` entries (0: the device's maximum) on MSI-X vector
 * vec (0xffff: none).  Returns queue_enable as read back (1 = accepted). */
u16 vq_setup(struct vdev *d, u16 q, u16 size, u16 vec);
void vdev_driver_ok(struct vdev *d);

u8 vcfg_read8(struct vdev *d, u32 off);
u32 vcfg_read32(struct vdev *d, u32 off);
u64 vcfg_read64(struct vdev *d, u32 off);

struct vbuf {
	u64 addr;
	u32 len;
	bool write; /* device-writable */
};
/* Post a chain of n buffers (direct, or through an indirect table). */
u16 vq_post(struct vq *vq, const struct vbuf *b, int n);
u16 vq_post_indirect(struct vq *vq, const struct vbuf *b, int n, struct vdesc *table);
/* Publish a raw head (hostile tests write their own descriptors). */
void vq_publish(struct vq *vq, u16 head);
void vq_kick(struct vq *vq);
/* Wait for the next used element; false on timeout. */
bool vq_wait(struct vq *vq, u32 *id, u32 *len, u32 timeout_ms);

#endif
