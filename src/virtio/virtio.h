/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_VIRTIO_VIRTIO_H
#define VESSEL_VIRTIO_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/component.h"
#include "util/log.h"
#include "virtio/virtq.h"

/*
 * A virtio device, independent of its transport (docs/architecture.md, "The pieces every feature
 * uses").
 *
 * A device model (blk, rng, console) fills a struct virtio_dev_ops and
 * works only with struct virtio_dev and its virtqueues; the transport
 * (virtio-pci today, vhost-user later) owns registers and interrupts and
 * reaches the model through the ops, and the model reaches the driver
 * through virtio_dev_notify() / virtio_dev_config_changed(), which call
 * the transport's ops.  Everything on a device happens under vd->lock.
 *
 * Threads (docs/threads.md): the device model runs on the device's own
 * thread, the event loop it is bound to (virtio_dev_bind_loop): its own
 * I/O thread (virtio-blk: vd->ioloop) or the main loop (rng, console).
 * Queue kicks (ioeventfds, vhost-user kick fds) and I/O completions are
 * handled there.  vCPU threads only do register accesses (status,
 * features, queue setup, config space); where one of those must start
 * queue processing (the DRIVER_OK kick, a doorbell the ioeventfd did not
 * catch) it signals the device's loop with virtio_dev_signal() instead of
 * running the device model itself.
 */

/* Device status bits (section 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED 128

/* Reserved feature bits (section 6). */
#define VIRTIO_F_VERSION_1 32

/* Device IDs (section 5). */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4
#define VIRTIO_ID_BALLOON 5

#define VIRTIO_NO_VECTOR 0xffff
#define VIRTIO_MAX_QUEUES 64

struct virtio_dev;
struct gmem;
struct evloop;
struct json_object;

struct virtio_dev_ops {
	/* Device configuration space (section 5.x.4); len 1, 2, 4 or 8. */
	void (*config_read)(struct virtio_dev *vd, uint32_t off, void *data, unsigned int len);
	void (*config_write)(struct virtio_dev *vd, uint32_t off, const void *data,
			     unsigned int len);
	/* DRIVER_OK was set: features are final, queues configured.  0 or
	 * -errno (the device then reports NEEDS_RESET). */
	int (*activate)(struct virtio_dev *vd);
	/* The driver notified queue q (an enabled queue of an active device). */
	void (*notify)(struct virtio_dev *vd, unsigned int q);
	/* Device reset (section 2.4): forget queues, drop in-flight results. */
	void (*reset)(struct virtio_dev *vd);
	/* Requests still in flight below the device (reset not finished). */
	bool (*busy)(struct virtio_dev *vd);
	/*
	 * Reap completions now, on the calling thread (takes vd->lock);
	 * returns how many.  The drain of a component pause uses it when the
	 * device's loop may be paused or be the caller.  NULL: completions
	 * need no reaping.
	 */
	int (*complete)(struct virtio_dev *vd);
	/* Device state for snapshots; NULL if the device has none. */
	int (*save)(struct virtio_dev *vd, void *buf, size_t *len);
	int (*load)(struct virtio_dev *vd, const void *buf, size_t len);
	void (*stats)(struct virtio_dev *vd, struct json_object *obj);
	/* The VM runs again (component cont); NULL: nothing to do. */
	void (*cont)(struct virtio_dev *vd);
	/* An internal snapshot of the device's disk (component disk_snapshot); NULL: no disk. */
	int (*disk_snapshot)(struct virtio_dev *vd, enum component_disk_op op, const char *name,
			     struct error *err);
	void (*destroy)(struct virtio_dev *vd);
};

struct virtio_transport_ops {
	/* Raise the used-buffer interrupt of vq. */
	void (*notify_queue)(void *transport, struct virtq *vq);
	/* Raise the configuration change interrupt. */
	void (*notify_config)(void *transport);
	/*
	 * The doorbell eventfd of queue q (KVM's ioeventfd), for a kernel
	 * data path (vhost) to poll: polled false stops the device's loop
	 * from reading it, true gives it back.  -1 if there is none.  Never
	 * waits, so it may be called under vd->lock.
	 */
	int (*kick_fd)(void *transport, unsigned int q, bool polled);
	/*
	 * The interrupt eventfd of queue q (vhost's "call"): from now on a
	 * write to fd raises q's interrupt.  While q's MSI-X vector is
	 * unmasked KVM injects it straight from fd (irqfd); otherwise loop
	 * watches fd and the owner's handler there must read it and call
	 * notify_queue.  The owner registers fd with loop (EPOLLIN) first;
	 * the transport only switches loop's watch off and on.  fd -1 gives
	 * fd back to loop for good.  Never waits.  0 or -errno.
	 */
	int (*call_fd)(void *transport, unsigned int q, int fd, struct evloop *loop);
};

struct virtio_dev {
	char name[32];
	uint16_t type;		  /* VIRTIO_ID_* */
	uint64_t host_features;	  /* offered */
	uint64_t driver_features; /* written by the driver */
	uint8_t status;
	uint8_t config_gen; /* config_generation, section 4.1.4.3 */
	uint16_t config_msix_vector;
	unsigned int nr_queues;
	struct virtq *vqs;
	char (*qnames)[40];

	struct gmem *mem;
	struct evloop *loop;
	struct evloop *ioloop; /* the device's own I/O thread, or NULL: loop */
	pthread_mutex_t lock;
	/*
	 * virtio_dev_signal(): queues to kick (bit q, atomic) and the eventfd
	 * on the device's loop (signal_loop) that runs the kicks there;
	 * signal_loop NULL: not bound (unit tests without a loop kick
	 * directly).
	 */
	uint64_t signal_pending;
	int signal_fd;
	struct evloop *signal_loop;
	struct ratelimit rl;
	uint64_t guest_errors; /* register-level protocol errors */
	uint64_t resets;
	/*
	 * Paused by the transport (component pause, vm_quiesce()): kicks are
	 * dropped and the model takes no new request from its rings, while
	 * requests in flight still complete.  Unpausing kicks every enabled
	 * queue, so nothing made available meanwhile is missed.
	 */
	bool paused;

	const struct virtio_dev_ops *ops;
	const struct virtio_transport_ops *tops;
	void *transport;
	void *priv; /* the device model's state */
};

/*
 * Set up a device with nr_queues queues of max_size entries.  VERSION_1,
 * EVENT_IDX and INDIRECT_DESC are offered on top of `features`.
 */
int virtio_dev_init(struct virtio_dev *vd, const char *name, uint16_t type,
		    const struct virtio_dev_ops *ops, void *priv, unsigned int nr_queues,
		    uint16_t max_size, uint64_t features, struct gmem *mem, struct evloop *loop);
void virtio_dev_destroy(struct virtio_dev *vd);

static inline bool virtio_has_feature(const struct virtio_dev *vd, unsigned int bit)
{
	return bit < 64 && (vd->driver_features >> bit) & 1;
}

/* Register-level operations, called by the transport under vd->lock. */
void virtio_dev_set_status(struct virtio_dev *vd, uint8_t status);
uint8_t virtio_dev_get_status(struct virtio_dev *vd);
void virtio_dev_write_features(struct virtio_dev *vd, unsigned int select, uint32_t val);
uint32_t virtio_dev_read_features(struct virtio_dev *vd, unsigned int select);
/* queue_enable = 1; -EINVAL (queue stays disabled) if its setup is invalid. */
int virtio_dev_queue_enable(struct virtio_dev *vd, unsigned int q);
/* A driver notification for queue q, on the device's thread. */
void virtio_dev_kick(struct virtio_dev *vd, unsigned int q);
/*
 * The same from another thread (a vCPU): queue q is kicked on the
 * device's loop soon.  Never runs the device model here; under vd->lock
 * or not.  Before virtio_dev_bind_loop() it is virtio_dev_kick() (under
 * vd->lock).
 */
void virtio_dev_signal(struct virtio_dev *vd, unsigned int q);
/*
 * Bind the device to the loop its model runs on (signals go there).
 * 0 if bound already; unbind before that loop is destroyed.
 */
int virtio_dev_bind_loop(struct virtio_dev *vd, struct evloop *loop);
void virtio_dev_unbind_loop(struct virtio_dev *vd);
void virtio_dev_reset(struct virtio_dev *vd);
/* Set or clear vd->paused (see there), under vd->lock. */
void virtio_dev_set_paused(struct virtio_dev *vd, bool paused);

/*
 * Device state for snapshots and migration (transport-independent part:
 * status, features, queue configuration and ring indices), in a
 * versioned little-endian record with a magic, a length and a CRC-32.
 * Save needs a quiesced device (no request in flight: -EBUSY).  Load
 * checks everything against this device and the current guest memory:
 * a damaged record (-EINVAL) changes nothing, one that does not fit this
 * device or memory (-EINVAL) leaves it reset.  *len: room in, bytes used
 * out.  Transport state (MSI-X table, selectors) is the transport's.
 */
#define VIRTIO_STATE_MAX (64 + VIRTIO_MAX_QUEUES * 48)
int virtio_dev_save(struct virtio_dev *vd, void *buf, size_t *len);
int virtio_dev_load(struct virtio_dev *vd, const void *buf, size_t len);

/* For device models, under vd->lock. */
bool virtio_dev_active(const struct virtio_dev *vd);
/* After pushing used buffers: interrupt if the driver wants one. */
void virtio_dev_notify(struct virtio_dev *vd, struct virtq *vq);
void virtio_dev_config_changed(struct virtio_dev *vd);
/* Enter DEVICE_NEEDS_RESET (section 2.1.2) after a guest error. */
void virtio_dev_needs_reset(struct virtio_dev *vd);
/* Count and log (rate-limited) a guest error that breaks no queue. */
void virtio_dev_guest_error(struct virtio_dev *vd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
