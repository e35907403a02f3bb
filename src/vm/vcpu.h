/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_VM_VCPU_H
#define VESSEL_VM_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "arch/x86/x86.h"

struct vm;

/*
 * One thread per vCPU running the KVM_RUN loop.  The thread's state
 * machine: RUNNING <-> PAUSED, and STOPPED at the end.  Other threads change
 * the requested state under vm->lock, set run->immediate_exit and send
 * SIGVCPU_KICK so a vCPU blocked in KVM_RUN (or in HLT inside the kernel)
 * comes back at once (api.rst 4.10 KVM_RUN, immediate_exit).
 */
#define SIGVCPU_KICK (SIGRTMIN + 1)

enum vcpu_state { VCPU_CREATED, VCPU_RUNNING, VCPU_PAUSED, VCPU_STOPPED };

/* Exit counters by reason, for GET /vm/stats. */
enum vcpu_exit_kind {
	VCPU_EXIT_IO,
	VCPU_EXIT_MMIO,
	VCPU_EXIT_HLT,
	VCPU_EXIT_INTR,		/* KVM_RUN returned EINTR (kicked) */
	VCPU_EXIT_SHUTDOWN,
	VCPU_EXIT_SYSTEM_EVENT,
	VCPU_EXIT_OTHER,
	VCPU_EXIT_NR
};

struct vcpu {
	struct vm *vm;
	unsigned int id;
	uint32_t apic_id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	pid_t tid;		/* thread id, for pinning */
	pid_t host_tid;		/* the same as the host sees it (a jail's pid namespace) */
	int stat_fd;		/* its /proc/thread-self/stat, opened before its filter */
	bool thread_started;
	/*
	 * The last exit was port I/O or MMIO: the instruction completes only
	 * when KVM_RUN is entered again (api.rst, KVM_EXIT_IO/KVM_EXIT_MMIO
	 * note), so the vCPU does that, with immediate_exit set, before it
	 * counts as paused.  Owned by the vCPU thread.
	 */
	bool io_pending;
	enum vcpu_state state;	/* current, protected by vm->lock */
	cpu_set_t affinity;	/* requested host CPU affinity */
	bool has_affinity;
	uint64_t exits[VCPU_EXIT_NR];
	uint64_t exits_total;
	struct x86_vcpu x86;	/* arch/x86's part: power-on state */
};

struct vcpu_info {
	unsigned int id;
	pid_t tid;
	enum vcpu_state state;
	int host_cpu;		/* CPU it last ran on, -1 if unknown */
	uint64_t cpu_time_ns;	/* thread CPU time */
	cpu_set_t affinity;	/* as the kernel reports it */
	uint64_t exits[VCPU_EXIT_NR];
};

int vcpu_create(struct vm *vm, unsigned int id, struct vcpu **out);
void vcpu_destroy(struct vcpu *v);
/* Put the vCPU in its reset/boot state (BSP: at the boot entry). */
int vcpu_reset(struct vcpu *v);
int vcpu_start_thread(struct vcpu *v);
/* Interrupt a KVM_RUN in progress (from any thread). */
void vcpu_kick(struct vcpu *v);
int vcpu_set_affinity(struct vcpu *v, const cpu_set_t *set);
int vcpu_get_info(struct vcpu *v, struct vcpu_info *info);
void vcpu_dump_regs(struct vcpu *v, int fd);
const char *vcpu_state_name(enum vcpu_state s);
const char *vcpu_exit_kind_name(enum vcpu_exit_kind k);

#endif
