/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_API_SERVER_H
#define VESSEL_API_SERVER_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/devices.h"

/*
 * The per-VM REST API (docs/api.yaml): HTTP/1.1 with JSON bodies on a Unix
 * socket, served by libmicrohttpd on an API thread of its own; handlers
 * run on the VM's event loop thread and never block vCPUs.  Stop the
 * server on that thread, or once its loop has ended.
 */
struct api_server;
struct error;
struct evloop;
struct json_object;
struct vcpu_info;
struct vm;

enum api_action { API_ACTION_PAUSE, API_ACTION_RESUME, API_ACTION_SHUTDOWN, API_ACTION_REBOOT };

/* GET /vm/memory: the VM's memory and its balloon (virtio/devices.h). */
struct api_memory {
	uint64_t size; /* the VM's memory (the most the guest can have) */
	uint64_t rss;  /* the VMM's resident memory, as the host counts it */
	bool has_balloon;
	struct virtio_balloon_state balloon;
};

/*
 * GET /vm/numa: where each guest NUMA node's RAM lies in the VMM's
 * address space, its vCPUs and its binding, so that `vessel numastat`
 * can ask the kernel from outside where those pages really are.
 * Without a guest NUMA topology there is one node: all RAM, all vCPUs.
 */
#define API_NUMA_MAX_NODES 8
#define API_NUMA_MAX_SPANS 8
#define API_NUMA_MAX_VCPUS 256

struct api_numa_node {
	uint64_t size;
	uint64_t host_nodes; /* bitmap of host nodes its RAM is bound to; 0: none */
	uint64_t vcpus[API_NUMA_MAX_VCPUS / 64];
	unsigned int nr_spans;
	struct {
		uint64_t hva, len;
	} spans[API_NUMA_MAX_SPANS];
};

struct api_numa {
	const char *mode;   /* "strict", "preferred", "interleave" or "none" */
	uint64_t page_size; /* of the backing: 4 KiB, or the huge page size */
	bool topology;	    /* the guest sees these nodes (ACPI SRAT) */
	unsigned int nr_nodes;
	struct api_numa_node nodes[API_NUMA_MAX_NODES];
};

/*
 * What the handlers need from a VM.  The real one wraps struct vm
 * (api_server_start); tests and the fuzz target plug in a fake.  Every op
 * that can fail returns 0 or -errno and fills *err (util/error.h) with
 * one line saying why, which becomes the body {"error": "..."}; the code
 * picks the status: -ENOENT (no such vCPU) -> 404, -EBUSY/-EALREADY/
 * -EAGAIN (wrong state), -EEXIST (a name taken) -> 409, -EINVAL/-ERANGE -> 400, -EPERM/-EACCES ->
 * 403, -ENOTSUP -> 501, anything else -> 500.  An op that leaves *err
 * unset gets strerror.
 */
/* A response body produced piece by piece on the API thread (a save). */
struct api_stream {
	void *opaque;
	/* The next bytes, 0 at the end. */
	size_t (*read)(void *opaque, uint8_t *buf, size_t max);
	/* Called once, when the stream ends or the client goes away. */
	void (*end)(void *opaque);
};

struct api_backend {
	void *opaque;
	/* {"name", "state", "pid", "uptime_ns", "config"}; NULL on failure. */
	struct json_object *(*describe)(void *opaque);
	int (*action)(void *opaque, enum api_action a, struct error *err);
	unsigned int (*vcpu_count)(void *opaque);
	int (*vcpu_info)(void *opaque, unsigned int id, struct vcpu_info *out, struct error *err);
	int (*vcpu_set_affinity)(void *opaque, unsigned int id, const cpu_set_t *set,
				 struct error *err);
	/* Event-loop and I/O threads: read the current set, or apply `set`. */
	int (*emulator_affinity)(void *opaque, cpu_set_t *set, bool apply, struct error *err);
	/* Add {"<device>": {counters...}} entries to `devices`. */
	void (*device_stats)(void *opaque, struct json_object *devices);
	/* Memory and balloon state (has_balloon false without a balloon). */
	int (*memory_get)(void *opaque, struct api_memory *out, struct error *err);
	/* The balloon's size in bytes (what the guest gives back). */
	int (*balloon_set)(void *opaque, uint64_t bytes, struct error *err);
	/* Seconds between the guest's stats (0: none). */
	int (*balloon_period)(void *opaque, unsigned int secs, struct error *err);
	/* The guest NUMA nodes' RAM, vCPUs and binding (struct api_numa). */
	int (*numa_layout)(void *opaque, struct api_numa *out, struct error *err);
	/*
	 * Quiesce and save the VM; the state and memory follow as *out.
	 * disk_snap non-NULL: every disk takes that internal snapshot first.
	 */
	int (*snapshot_create)(void *opaque, const char *disk_snap, struct api_stream *out,
			       struct error *err);
	/* An internal snapshot on every disk: create (true) or delete; disks, or -errno. */
	int (*disk_snapshot)(void *opaque, bool create, const char *name, struct error *err);
};

#define API_MAX_BODY (64 * 1024) /* larger request bodies get 413 */

/* 0 or -errno with *err: "cannot serve the API on '<path>': <why>". */
int api_server_start(struct vm *vm, const char *socket_path, struct api_server **out,
		     struct error *err);
/* Same, for any backend (tests, fuzzing); *b is copied. */
int api_server_start_backend(struct evloop *loop, const struct api_backend *b,
			     const char *socket_path, struct api_server **out, struct error *err);
/* Stop serving, close and unlink the socket.  Call on the loop thread. */
void api_server_stop(struct api_server *s);

#endif
