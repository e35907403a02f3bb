// SPDX-License-Identifier: MIT
/*
 * The API backend for a real VM: struct vm -> struct api_backend.  Runs on
 * the event-loop thread; vm_pause() and friends only change the requested
 * state and kick vCPUs, so no handler waits on a vCPU.
 */
#include <errno.h>
#include <json-c/json.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api-int.h"
#include "util/jail.h"
#include "util/syscall-filter.h"
#include "devices/console.h"
#include "mem/numa.h"
#include "mgmt/placement.h"
#include "util/error.h"
#include "util/util.h"
#include "virtio/devices.h"
#include "vm/config_json.h"
#include "vm/snapshot.h"
#include "vm/vm.h"

/* docs/jail.md: whether the VMM is jailed, and how */
static struct json_object *jail_to_json(void)
{
	const struct jail_state *j = jail_state();
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "jailed", json_object_new_boolean(j->active && j->locked));
	if (j->why_not[0])
		json_object_object_add(o, "why_not", json_object_new_string(j->why_not));
	if (!j->active)
		return o;
	json_object_object_add(o, "uid", json_object_new_int64(j->uid));
	json_object_object_add(o, "gid", json_object_new_int64(j->gid));
	json_object_object_add(o, "namespaces", json_object_new_string(j->namespaces));
	json_object_object_add(o, "root", json_object_new_string(j->root));
	json_object_object_add(o, "cgroup", json_object_new_string(j->cgroup));
	json_object_object_add(o, "landlock_abi", json_object_new_int(j->landlock_abi));
	return o;
}

static struct json_object *vmb_describe(void *opaque)
{
	struct vm *vm = opaque;
	struct json_object *o = json_object_new_object();
	enum vm_state st = vm_get_state(vm);
	struct json_object *sc;
	const char *con;

	if (!o)
		return NULL;
	json_object_object_add(o, "name",
			       json_object_new_string(vm->cfg->name ? vm->cfg->name : ""));
	json_object_object_add(o, "state", json_object_new_string(vm_state_name(st)));
	/* as virsh domstate --reason: "user" or "io-error" (a disk's werror/rerror=stop) */
	if (st == VM_STATE_PAUSED)
		json_object_object_add(
			o, "reason",
			json_object_new_string(vm_get_pause_reason(vm) == VM_PAUSE_IO_ERROR
						       ? "io-error"
						       : "user"));
	json_object_object_add(o, "pid", json_object_new_int(jail_host_pid()));
	json_object_object_add(o, "vcpus", json_object_new_int((int)vm->nr_vcpus));
	json_object_object_add(o, "memory", json_object_new_int64((int64_t)vm->cfg->mem_size));
	json_object_object_add(
		o, "uptime_ns",
		json_object_new_int64(vm->start_ns ? (int64_t)(now_ns() - vm->start_ns) : 0));
	json_object_object_add(o, "boot_count", json_object_new_int64((int64_t)vm->boot_count));
	/* docs/seccomp.md: the mode, and how many threads run under a filter */
	sc = json_object_new_object();
	json_object_object_add(
		sc, "mode",
		json_object_new_string(syscall_filter_mode_name(syscall_filter_get_mode())));
	json_object_object_add(sc, "filtered_threads",
			       json_object_new_int((int)syscall_filter_installed()));
	json_object_object_add(o, "seccomp", sc);
	json_object_object_add(o, "jail", jail_to_json());
	/* Where `vessel console` attaches: the socket, or the pty's name. */
	con = console_get_path(&vm->components);
	if (con)
		json_object_object_add(o, "console_path", json_object_new_string(con));
	json_object_object_add(o, "config", vm_config_to_json(vm->cfg));
	return o;
}

/* A wrong-state refusal names the state, e.g. "pause: the VM is paused, not running". */
static int vmb_wrong_state(struct error *err, const char *what, enum vm_state st, const char *want)
{
	return error_setf(err, -EBUSY, "%s: the VM is %s, not %s", what, vm_state_name(st), want);
}

static int vmb_action(void *opaque, enum api_action a, struct error *err)
{
	struct vm *vm = opaque;
	enum vm_state st = vm_get_state(vm);
	int r;

	/* the save's consistency needs the VM held until its stream ends */
	if (vm->saving && a != API_ACTION_SHUTDOWN)
		return error_setf(err, -EBUSY, "a save is in progress; try when it has finished");
	switch (a) {
	case API_ACTION_PAUSE:
		if (st != VM_STATE_RUNNING)
			return vmb_wrong_state(err, "pause", st, "running");
		r = vm_pause(vm);
		return r ? error_set_errno(err, r, "pause") : 0;
	case API_ACTION_RESUME:
		if (st != VM_STATE_PAUSED)
			return vmb_wrong_state(err, "resume", st, "paused");
		r = vm_resume(vm);
		return r ? error_set_errno(err, r, "resume") : 0;
	case API_ACTION_SHUTDOWN:
		if (st != VM_STATE_RUNNING && st != VM_STATE_PAUSED)
			return vmb_wrong_state(err, "shutdown", st, "running or paused");
		r = vm_request_shutdown(vm);
		/* -EAGAIN: the guest has not enabled the event; the press is latched. */
		if (r == -EAGAIN)
			return 0;
		return r ? error_set_errno(err, r, "shutdown: cannot press the power button") : 0;
	case API_ACTION_REBOOT:
		if (st != VM_STATE_RUNNING && st != VM_STATE_PAUSED)
			return vmb_wrong_state(err, "reboot", st, "running or paused");
		r = vm_request_reset(vm);
		return r ? error_set_errno(err, r, "reboot") : 0;
	}
	return error_setf(err, -EINVAL, "unknown action");
}

static unsigned int vmb_vcpu_count(void *opaque)
{
	return ((struct vm *)opaque)->nr_vcpus;
}

static int vmb_vcpu_info(void *opaque, unsigned int id, struct vcpu_info *out, struct error *err)
{
	struct vm *vm = opaque;
	int r;

	if (id >= vm->nr_vcpus || !vm->vcpus[id])
		return error_setf(err, -ENOENT, "no such vCPU: %u", id);
	r = vcpu_get_info(vm->vcpus[id], out);
	return r ? error_set_errno(err, r, "vCPU %u", id) : 0;
}

static int vmb_vcpu_set_affinity(void *opaque, unsigned int id, const cpu_set_t *set,
				 struct error *err)
{
	struct vm *vm = opaque;
	char buf[512];
	int r;

	if (id >= vm->nr_vcpus || !vm->vcpus[id])
		return error_setf(err, -ENOENT, "no such vCPU: %u", id);
	r = vcpu_set_affinity(vm->vcpus[id], set);
	if (r)
		return error_set_errno(err, r, "vCPU %u: cannot pin to CPUs %.64s", id,
				       cpuset_format(set, buf, sizeof(buf)));
	/* GET /vm shows the placement the VM runs with now. */
	vm->cfg->vcpu_affinity[id] = *set;
	vm->cfg->vcpu_pinned[id] = true;
	return 0;
}

/* The emulator threads are every thread of this process but the vCPUs. */
static int vmb_emulator_affinity(void *opaque, cpu_set_t *set, bool apply, struct error *err)
{
	struct vm *vm = opaque;
	char buf[512];
	int r;

	if (!apply) {
		if (sched_getaffinity(0, sizeof(*set), set))
			return error_set_errno(err, -errno, "emulator threads: sched_getaffinity");
		return 0;
	}
	r = vm_pin_emulator_threads(vm, set);
	if (r)
		return error_set_errno(err, r, "emulator threads: cannot pin to CPUs %.64s",
				       cpuset_format(set, buf, sizeof(buf)));
	vm->cfg->emulator_affinity = *set;
	vm->cfg->emulator_pinned = true;
	return 0;
}

/* Keyed by component id: "serial0", "virtio-blk0", ... (docs/api.yaml, Stats). */
static void vmb_device_stats(void *opaque, struct json_object *devices)
{
	struct vm *vm = opaque;

	components_stats(&vm->components, devices);
}

static int vmb_memory_get(void *opaque, struct api_memory *out, struct error *err)
{
	struct vm *vm = opaque;
	struct virtio_dev *vd = virtio_balloon_find(&vm->components);
	unsigned long pages = 0, res = 0;
	char buf[128];
	ssize_t n;

	memset(out, 0, sizeof(*out));
	out->size = vm->cfg->mem_size;
	/* proc(5) statm: size and resident, in pages. */
	n = vm->statm_fd >= 0 ? pread(vm->statm_fd, buf, sizeof(buf) - 1, 0) : -1;
	if (n > 0) {
		buf[n] = '\0';
		if (sscanf(buf, "%lu %lu", &pages, &res) == 2)
			out->rss = (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
	}
	if (!vd)
		return 0;
	out->has_balloon = true;
	if (virtio_balloon_get(vd, &out->balloon))
		return error_setf(err, -EIO, "cannot read the balloon");
	return 0;
}

static int vmb_balloon_set(void *opaque, uint64_t bytes, struct error *err)
{
	struct vm *vm = opaque;
	int r = virtio_balloon_set_target(virtio_balloon_find(&vm->components), bytes);

	return r ? error_set_errno(err, r, "balloon target") : 0;
}

static int vmb_balloon_period(void *opaque, unsigned int secs, struct error *err)
{
	struct vm *vm = opaque;
	int r = virtio_balloon_set_period(virtio_balloon_find(&vm->components), secs);

	return r ? error_set_errno(err, r, "stats period") : 0;
}

/*
 * Guest node i takes RAM in guest-physical order as mem/numa.c binds it;
 * its host nodes are its own or the nodeset, as gmem_numa_apply() picks.
 */
static int vmb_numa_layout(void *opaque, struct api_numa *out, struct error *err)
{
	static const char *const modes[] = { "none", "strict", "preferred", "interleave" };
	struct vm *vm = opaque;
	const struct vm_config *c = vm->cfg;
	struct gmem_span sp[API_NUMA_MAX_SPANS];
	uint64_t off = 0;

	_Static_assert(API_NUMA_MAX_NODES >= VM_MAX_NUMA_NODES, "api_numa too small");
	_Static_assert(API_NUMA_MAX_VCPUS >= VM_MAX_VCPUS, "api_numa vcpus too small");
	memset(out, 0, sizeof(*out));
	out->mode = (unsigned int)c->numa_mode < ARRAY_SIZE(modes) ? modes[c->numa_mode] : "none";
	out->page_size = c->mem.backing == GMEM_BACKING_HUGETLB ? c->mem.hugepage_size
								 : GMEM_PAGE_SIZE;
	out->topology = c->nr_numa_nodes > 0;
	out->nr_nodes = out->topology ? MIN(c->nr_numa_nodes, (unsigned int)VM_MAX_NUMA_NODES) : 1;
	for (unsigned int i = 0; i < out->nr_nodes; i++) {
		struct api_numa_node *nd = &out->nodes[i];
		int n;

		if (out->topology) {
			nd->size = c->numa_nodes[i].mem_size;
			nd->host_nodes = c->numa_nodes[i].host_nodes;
			memcpy(nd->vcpus, c->numa_nodes[i].cpus, sizeof(c->numa_nodes[i].cpus));
		} else {
			nd->size = gmem_ram_size(&vm->mem);
			for (unsigned int v = 0; v < c->nr_cpus && v < VM_MAX_VCPUS; v++)
				nd->vcpus[v / 64] |= 1ull << (v % 64);
		}
		if (!nd->host_nodes)
			nd->host_nodes = c->numa_host_nodes;
		n = gmem_numa_spans(&vm->mem, off, nd->size, sp, API_NUMA_MAX_SPANS);
		if (n < 0)
			return error_set_errno(err, n, "guest node %u: its RAM", i);
		nd->nr_spans = (unsigned int)n;
		for (int k = 0; k < n; k++) {
			nd->spans[k].hva = (uint64_t)(uintptr_t)sp[k].hva;
			nd->spans[k].len = sp[k].len;
		}
		off += nd->size;
	}
	return 0;
}

static size_t vmb_save_read(void *opaque, uint8_t *buf, size_t max)
{
	return snapshot_save_read(opaque, buf, max);
}

static void vmb_save_end(void *opaque)
{
	snapshot_save_end(opaque);
}

static int vmb_snapshot_create(void *opaque, const char *disk_snap, struct api_stream *out,
			       struct error *err)
{
	struct snapshot_save *ss;
	int r = snapshot_save_begin(opaque, disk_snap, &ss, err);

	if (r)
		return r;
	out->opaque = ss;
	out->read = vmb_save_read;
	out->end = vmb_save_end;
	return 0;
}

static int vmb_disk_snapshot(void *opaque, bool create, const char *name, struct error *err)
{
	return vm_disk_snapshot(opaque, create ? COMPONENT_DISK_CREATE : COMPONENT_DISK_DELETE,
				name, err);
}

int api_server_start(struct vm *vm, const char *socket_path, struct api_server **out,
		     struct error *err)
{
	const struct api_backend b = {
		.opaque = vm,
		.describe = vmb_describe,
		.action = vmb_action,
		.vcpu_count = vmb_vcpu_count,
		.vcpu_info = vmb_vcpu_info,
		.vcpu_set_affinity = vmb_vcpu_set_affinity,
		.emulator_affinity = vmb_emulator_affinity,
		.device_stats = vmb_device_stats,
		.memory_get = vmb_memory_get,
		.balloon_set = vmb_balloon_set,
		.balloon_period = vmb_balloon_period,
		.numa_layout = vmb_numa_layout,
		.snapshot_create = vmb_snapshot_create,
		.disk_snapshot = vmb_disk_snapshot,
	};

	return api_server_start_backend(vm->loop, &b, socket_path, out, err);
}
