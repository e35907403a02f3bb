/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_VM_VM_H
#define VESSEL_VM_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/bus.h"
#include "bus/host.h"
#include "kvm/kvm.h"
#include "mem/gmem.h"
#include "util/component.h"
#include "util/evloop.h"
#include "vm/config.h"
#include "vm/vcpu.h"

struct pci_bus;
struct uart8250;
struct json_object;

/*
 * Lifecycle of the whole VM.  Transitions happen under vm->lock; vCPU
 * threads follow vm->state and acknowledge through vcpu->state and
 * vm->cond.
 */
enum vm_state { VM_STATE_CREATED, VM_STATE_RUNNING, VM_STATE_PAUSED, VM_STATE_STOPPING,
		VM_STATE_STOPPED };

/* Why the VM is paused (GET /vm "reason"). */
enum vm_pause_reason {
	VM_PAUSE_USER,	   /* vessel pause, PUT /vm/pause */
	VM_PAUSE_IO_ERROR, /* a disk's werror/rerror=stop (or enospc on ENOSPC) */
};

/* Why the VM stopped; decides vessel's exit status. */
enum vm_exit_reason {
	VM_EXIT_NONE,
	VM_EXIT_POWEROFF,	/* ACPI S5 from the guest: exit 0 */
	VM_EXIT_REBOOT,		/* guest reboot with on_reboot=exit: exit 0 */
	VM_EXIT_DEBUG,		/* debug-exit port: (value << 1) | 1 */
	VM_EXIT_SIGNAL,		/* SIGTERM/SIGINT, console quit, API destroy: exit 0 */
	VM_EXIT_CRASH,		/* triple fault, internal error: exit 1, regs printed */
};

struct vm {
	struct vm_config *cfg;
	struct kvm kvm;
	int vm_fd;
	struct gmem mem;
	struct bus pio;
	struct bus mmio;
	struct irq_router irq;
	struct evloop *loop;
	int statm_fd; /* /proc/self/statm for the API, opened before the filter */
	struct pci_bus *pci;
	struct uart8250 *com1;
	void *arch;		/* struct x86_machine: boot info, PM, i8042, RTC */

	struct vcpu *vcpus[VM_MAX_VCPUS];
	unsigned int nr_vcpus;

	/*
	 * Everything with guest-visible state, under a stable unique id
	 * (util/component.h; the ids are listed in docs/api.yaml, Stats):
	 * reset, stats and teardown go through this table.
	 */
	struct components components;
	/* What devices get instead of this struct (bus/host.h). */
	struct dev_host host;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum vm_state state;
	bool reset_pending;
	enum vm_pause_reason pause_reason; /* valid while PAUSED */
	enum vm_exit_reason exit_reason;
	int exit_status;
	char exit_detail[192];	/* what crashed, for the lifecycle log */
	uint64_t start_ns;	/* CLOCK_MONOTONIC at vm_start */
	uint64_t boot_count;

	/* vm_quiesce(), under lock: */
	bool quiesced;		/* components and loops paused */
	bool quiesce_paused;	/* and it was vm_quiesce that paused the vCPUs */
	bool loop_held;		/* vm_loops_pause() holds the main loop */
	bool saving;		/* a save's stream is being sent (loop thread only) */
};

/*
 * Build the VM from cfg: one line naming the mistake in *err, which the
 * caller prints.  Until every constructor takes struct error, a failure
 * may leave *err unset: the callee has logged its line already (guest
 * memory setup, the console, the virtio devices).
 */
int vm_create(struct vm_config *cfg, struct vm **out, struct error *err);
/*
 * VM_CREATE_RESTORE: the VM is to be restored (snapshot_restore), which
 * replaces RAM and every register: the kernel and initrd are read, for a
 * later guest reboot, but not loaded into guest memory.
 */
#define VM_CREATE_RESTORE (1u << 0)
int vm_create_flags(struct vm_config *cfg, unsigned int flags, struct vm **out, struct error *err);
void vm_destroy(struct vm *vm);
/* Block SIGTERM/SIGINT/SIGHUP and the kick signal; call before any thread starts. */
void vm_block_signals(void);
/* Start the vCPU threads. */
int vm_start(struct vm *vm);
/* Run the event loop on the calling thread until the VM stops; returns the exit status. */
int vm_run(struct vm *vm);

/*
 * Control, callable from any thread (API handlers run on the event loop).
 *
 * vm_pause() stops the vCPUs (each finishes the port I/O or MMIO
 * instruction it exited for first, so its registers are consistent); the
 * devices and the event loop keep running, so the API, the console and
 * signals are still served and a slow disk cannot make a pause fail.
 * That is what `vessel pause` and POST /vm/pause do.
 *
 * vm_quiesce() goes further, to a state that can be saved: vCPUs paused
 * as above, the event loops paused (vm_loops_pause()), then every
 * component paused (components_pause(): virtio devices take no new
 * request and drain the ones in flight).  On failure everything it
 * paused is resumed and the VM runs (or stays paused) as before.
 *
 * vm_resume() undoes either.  After vm_quiesce() it resumes the
 * components (reverse order), the loops, and the vCPUs if vm_quiesce()
 * paused them: a VM the user had paused stays paused.
 */
int vm_pause(struct vm *vm);
int vm_quiesce(struct vm *vm, struct error *err);
int vm_resume(struct vm *vm);
/* Pause / resume every event loop of the VM (the main loop today). */
int vm_loops_pause(struct vm *vm);
void vm_loops_resume(struct vm *vm);
/* Press the ACPI power button: the guest decides to shut down. */
int vm_request_shutdown(struct vm *vm);
/* Reset the machine (guest reboot, or API reboot). */
int vm_request_reset(struct vm *vm);
/* Stop now, without asking the guest. */
void vm_request_stop(struct vm *vm, enum vm_exit_reason why, int status);
/* The same, saying why for the lifecycle log (util/eventlog.h): a crash's cause. */
void vm_request_stop_why(struct vm *vm, enum vm_exit_reason why, int status, const char *detail);
enum vm_state vm_get_state(struct vm *vm);
enum vm_pause_reason vm_get_pause_reason(struct vm *vm);
const char *vm_state_name(enum vm_state s);


#endif
