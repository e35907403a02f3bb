/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_UTIL_COMPONENT_H
#define VESSEL_UTIL_COMPONENT_H

#include <pthread.h>
#include <stdint.h>

#include "util/error.h"
#include "util/stream.h"

struct json_object;

/*
 * Components: everything with guest-visible state registers here (the
 * machine, each vCPU, each legacy device, the PCI host bridge, each
 * virtio-pci function), under a stable, unique id such as "vcpu0",
 * "serial0", "virtio-blk0" or "pci-host".  The VM drives them all
 * through this one table:
 *
 *  reset    guest or API reset (platform reset semantics)
 *  pause    stop changing guest-visible state: no more interrupts, no
 *           new requests taken from rings; requests in flight complete
 *           (vm_quiesce() relies on it: after pause returns, the
 *           component's state is stable and can be saved)
 *  resume   undo pause
 *  cont     the VM runs again after a pause (vm_resume): a disk that
 *           stopped on an I/O error (werror/rerror=stop) submits again
 *           what it held
 *  save     write the state as one stream section
 *  load     read it back (the component is paused, not running)
 *  stats    add counters to a JSON object for GET /vm/stats
 *  disk_snapshot  a disk's internal snapshot (vessel snapshot): check
 *           that one can be taken, take one, or delete one; called with
 *           the VM quiesced, so no request is in flight; -ENODEV
 *           (err unset): this component has no disk
 *  destroy  free everything; called once, in reverse registration order
 *
 * Every op is optional.  A missing pause/resume means "nothing to do";
 * a missing save/load means the component cannot be saved, and
 * components_save() says which one.  Ops that can fail return 0 or
 * -errno with *err filled.
 */
enum component_disk_op {
	COMPONENT_DISK_CHECK,  /* can this disk take an internal snapshot? */
	COMPONENT_DISK_CREATE, /* take one named `name` */
	COMPONENT_DISK_DELETE, /* delete the one named `name` */
};

struct component_ops {
	int (*reset)(void *opaque);
	int (*pause)(void *opaque);
	int (*resume)(void *opaque);
	void (*cont)(void *opaque);
	int (*save)(void *opaque, struct stream *s, struct error *err);
	int (*load)(void *opaque, struct stream *s, struct error *err);
	void (*stats)(void *opaque, struct json_object *obj);
	int (*disk_snapshot)(void *opaque, enum component_disk_op op, const char *name,
			     struct error *err);
	void (*destroy)(void *opaque);
};

#define COMPONENT_ID_MAX 32
#define COMPONENTS_MAX 384	/* 256 vCPUs plus every device */

struct component {
	char id[COMPONENT_ID_MAX];
	const struct component_ops *ops;
	void *opaque;
};

struct components {
	pthread_mutex_t lock;	/* guards the table, never held across an op */
	struct component items[COMPONENTS_MAX];
	unsigned int nr;
};

void components_init(struct components *c);
/* Destroy every component (reverse order) and the table. */
void components_fini(struct components *c);
/* -EEXIST for a duplicate id, -EINVAL for an empty or too long one, -ENOSPC when full. */
int components_add(struct components *c, const char *id, const struct component_ops *ops,
		   void *opaque, struct error *err);
/* Unregister without calling destroy (the owner frees it); -ENOENT if absent. */
int components_remove(struct components *c, const char *id);
/* The opaque pointer registered under id, or NULL. */
void *components_find(struct components *c, const char *id);
/*
 * Make an id unique: "virtio-blk" -> "virtio-blk0", "virtio-blk1", ...
 * (the first free index).  Returns 0 or -ENOSPC.
 */
int components_unique_id(struct components *c, const char *prefix, char *out, size_t len);

/* In registration order; the first failure stops and is returned. */
int components_reset(struct components *c);
int components_pause(struct components *c, struct error *err);
/* Every component's cont, in registration order. */
void components_cont(struct components *c);
/* In reverse order; every component is resumed even after a failure. */
int components_resume(struct components *c, struct error *err);
/* Every component's state as {id, section}; fails naming one without save. */
int components_save(struct components *c, struct stream *s, struct error *err);
/* The reverse: ids must match one to one, in any order. */
int components_load(struct components *c, struct stream *s, struct error *err);
/*
 * disk_snapshot on every component that has it (the disks): CHECK fails
 * naming the first disk that cannot; CREATE takes the snapshot on every
 * disk or, failing on one, deletes it from those that took it; DELETE
 * deletes it from every disk that has it (-ENOENT if none had).
 * Returns the number of disks, or -errno.
 */
int components_disk_snapshot(struct components *c, enum component_disk_op op, const char *name,
			     struct error *err);
/* { id: {counters}, ... } for each component with stats. */
void components_stats(struct components *c, struct json_object *obj);

/* Call fn on each component in order (a snapshot of the table). */
void components_foreach(struct components *c, void (*fn)(struct component *comp, void *arg),
			void *arg);

#endif
