// SPDX-License-Identifier: MIT
/*
 * vCPU threads: the KVM_RUN loop and its state machine (docs/threads.md).  A vCPU leaves KVM_RUN
 * when the guest touches a device (port I/O or MMIO), when it crashes, or when another thread kicks
 * it with SIGVCPU_KICK plus run->immediate_exit (api.rst 4.10).
 */
#include "vm/vcpu.h"
#include "arch/x86/x86.h"
#include "util/log.h"
#include "util/jail.h"
#include "util/syscall-filter.h"
#include "util/threads.h"
#include "util/util.h"
#include "vm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static const char *const exit_kind_names[VCPU_EXIT_NR] = {
	[VCPU_EXIT_IO] = "io",		 [VCPU_EXIT_MMIO] = "mmio",
	[VCPU_EXIT_HLT] = "hlt",	 [VCPU_EXIT_INTR] = "intr",
	[VCPU_EXIT_SHUTDOWN] = "shutdown", [VCPU_EXIT_SYSTEM_EVENT] = "system_event",
	[VCPU_EXIT_OTHER] = "other",
};

const char *vcpu_exit_kind_name(enum vcpu_exit_kind k)
{
	return k < VCPU_EXIT_NR ? exit_kind_names[k] : "?";
}

const char *vcpu_state_name(enum vcpu_state s)
{
	switch (s) {
	case VCPU_CREATED:
		return "created";
	case VCPU_RUNNING:
		return "running";
	case VCPU_PAUSED:
		return "paused";
	case VCPU_STOPPED:
		return "stopped";
	}
	return "?";
}

int vcpu_create(struct vm *vm, unsigned int id, struct vcpu **out)
{
	struct vcpu *v = calloc(1, sizeof(*v));
	int ret;

	if (!v)
		return -ENOMEM;
	v->vm = vm;
	v->id = id;
	v->apic_id = id;
	v->stat_fd = -1;
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)v->apic_id);
	if (v->fd < 0) {
		ret = -errno;
		free(v);
		return ret;
	}
	v->x86 = (struct x86_vcpu){ .fd = v->fd, .id = v->id, .apic_id = v->apic_id };
	v->run = mmap(NULL, (size_t)vm->kvm.vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      v->fd, 0);
	if (v->run == MAP_FAILED) {
		ret = -errno;
		close(v->fd);
		free(v);
		return ret;
	}
	if (vm->cfg->vcpu_pinned[id]) {
		v->affinity = vm->cfg->vcpu_affinity[id];
		v->has_affinity = true;
	}
	*out = v;
	return 0;
}

void vcpu_destroy(struct vcpu *v)
{
	if (!v)
		return;
	munmap(v->run, (size_t)v->vm->kvm.vcpu_mmap_size);
	close(v->fd);
	if (v->stat_fd >= 0)
		close(v->stat_fd);
	x86_vcpu_free(&v->x86);
	free(v);
}

int vcpu_reset(struct vcpu *v)
{
	return x86_vcpu_reset(&v->x86, v->vm->arch);
}

void vcpu_kick(struct vcpu *v)
{
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_RELEASE);
	if (v->thread_started)
		pthread_kill(v->thread, SIGVCPU_KICK);
}

void vcpu_dump_regs(struct vcpu *v, int fd)
{
	x86_vcpu_dump(&v->x86, fd);
}

/* Port I/O exit (api.rst: KVM_EXIT_IO); `count` > 1 for string I/O. */
static void vcpu_handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;

	for (uint32_t i = 0; i < run->io.count; i++) {
		bus_access(&v->vm->pio, run->io.port, data, run->io.size, is_write);
		data += run->io.size;
	}
}

static void vcpu_handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	unsigned int len = run->mmio.len;

	if (len > sizeof(run->mmio.data))
		len = sizeof(run->mmio.data);
	bus_access(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, len, run->mmio.is_write);
}

static void vcpu_crash(struct vcpu *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void vcpu_crash(struct vcpu *v, const char *fmt, ...)
{
	char msg[160], why[192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_err("vcpu%u: %s", v->id, msg);
	vcpu_dump_regs(v, STDERR_FILENO);
	snprintf(why, sizeof(why), "vcpu%u: %s", v->id, msg);
	vm_request_stop_why(v->vm, VM_EXIT_CRASH, 1, why);
}

/* Returns false when the loop must stop. */
static bool vcpu_handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		v->exits[VCPU_EXIT_IO]++;
		vcpu_handle_io(v);
		v->io_pending = true;
		return true;
	case KVM_EXIT_MMIO:
		v->exits[VCPU_EXIT_MMIO]++;
		vcpu_handle_mmio(v);
		v->io_pending = true;
		return true;
	case KVM_EXIT_HLT:
		v->exits[VCPU_EXIT_HLT]++;
		return true;
	case KVM_EXIT_INTR:
		v->exits[VCPU_EXIT_INTR]++;
		return true;
	case KVM_EXIT_SHUTDOWN:
		/* A triple fault (SDM vol. 3A 6.15, #DF during #DF). */
		v->exits[VCPU_EXIT_SHUTDOWN]++;
		vcpu_crash(v, "guest triple fault (KVM_EXIT_SHUTDOWN)");
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		v->exits[VCPU_EXIT_SYSTEM_EVENT]++;
		switch (run->system_event.type) {
		case KVM_SYSTEM_EVENT_SHUTDOWN:
			vm_request_stop(v->vm, VM_EXIT_POWEROFF, 0);
			return false;
		case KVM_SYSTEM_EVENT_RESET:
			vm_request_reset(v->vm);
			return true;
		default:
			vcpu_crash(v, "guest crash (system event %u)", run->system_event.type);
			return false;
		}
	case KVM_EXIT_INTERNAL_ERROR:
		v->exits[VCPU_EXIT_OTHER]++;
		vcpu_crash(v, "KVM internal error, suberror %u%s", run->internal.suberror,
			   run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
				   ? " (instruction emulation failed)"
				   : "");
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		v->exits[VCPU_EXIT_OTHER]++;
		vcpu_crash(v, "VM entry failed, hardware reason %#llx",
			   (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return false;
	default:
		v->exits[VCPU_EXIT_OTHER]++;
		vcpu_crash(v, "unexpected KVM exit reason %u", run->exit_reason);
		return false;
	}
}

/*
 * Finish the port I/O or MMIO instruction of the last exit without running
 * any further guest instruction: "userspace can re-enter the guest with
 * ... the immediate_exit field set to complete pending operations without
 * allowing any further instructions to be executed" (api.rst 4.10 KVM_RUN,
 * the note after KVM_EXIT_IO/KVM_EXIT_MMIO).  Until then the guest state
 * is not consistent (a port read's result is not in RAX, RIP still points
 * at the instruction), so a vCPU does this before it counts as paused:
 * its registers can then be saved, or reset.  A string instruction may
 * need more than one exit; each is handled like any other.  Called with
 * vm->lock held; KVM_RUN returns at once, so it is dropped only briefly.
 */
static void vcpu_complete_io(struct vcpu *v)
{
	struct vm *vm = v->vm;

	while (v->io_pending) {
		int ret;

		v->run->immediate_exit = 1;
		pthread_mutex_unlock(&vm->lock);
		ret = ioctl(v->fd, KVM_RUN, 0);
		v->io_pending = false;
		if (ret == 0) {
			/*
			 * Another exit on the way (rep ins/outs): serve it; it sets
			 * io_pending again.  One that stops the VM (a crash) has
			 * requested the stop, which the caller sees next.
			 */
			v->exits_total++;
			vcpu_handle_exit(v);
		}
		/* Otherwise -EINTR: done, nothing else ran (or KVM_RUN failed: nothing to finish). */
		pthread_mutex_lock(&vm->lock);
	}
}

/*
 * Wait while the VM is paused or being reset.  Returns false once the VM
 * is stopping.  Called with vm->lock held.
 */
static bool vcpu_wait_runnable(struct vcpu *v)
{
	struct vm *vm = v->vm;

	for (;;) {
		if (vm->state == VM_STATE_STOPPING || vm->state == VM_STATE_STOPPED)
			return false;
		if (vm->state == VM_STATE_RUNNING && !vm->reset_pending)
			break;
		if (v->io_pending) {
			vcpu_complete_io(v);
			continue; /* the state may have changed meanwhile */
		}
		if (v->state != VCPU_PAUSED) {
			v->state = VCPU_PAUSED;
			pthread_cond_broadcast(&vm->cond);
		}
		pthread_cond_wait(&vm->cond, &vm->lock);
	}
	v->state = VCPU_RUNNING;
	/* Under the lock: a kicker sets immediate_exit after changing state. */
	v->run->immediate_exit = 0;
	return true;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	char name[16];
	sigset_t set;

	v->tid = (pid_t)syscall(SYS_gettid);
	v->host_tid = jail_host_tid();
	/* vcpuinfo reads it later, when the filter lets nothing be opened */
	__atomic_store_n(&v->stat_fd, open("/proc/thread-self/stat", O_RDONLY | O_CLOEXEC),
			 __ATOMIC_RELEASE);
	snprintf(name, sizeof(name), "vcpu%u", v->id);
	threads_register(THREAD_VCPU, name);
	if (v->has_affinity && sched_setaffinity(v->tid, sizeof(v->affinity), &v->affinity))
		log_warn("vcpu%u: cannot pin to its host CPUs: %s", v->id, strerror(errno));
	/* Only the kick signal may interrupt this thread. */
	sigemptyset(&set);
	sigaddset(&set, SIGVCPU_KICK);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	/* Nothing a vCPU does opens a file (docs/seccomp.md). */
	if (syscall_filter_install(THREAD_VCPU))
		vm_request_stop_why(vm, VM_EXIT_CRASH, 1, "cannot install the seccomp filter");

	pthread_mutex_lock(&vm->lock);
	while (vcpu_wait_runnable(v)) {
		int ret;

		pthread_mutex_unlock(&vm->lock);
		ret = ioctl(v->fd, KVM_RUN, 0);
		/* Entering KVM_RUN finished the last exit's instruction. */
		v->io_pending = false;
		if (ret < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				v->exits[VCPU_EXIT_INTR]++;
				v->exits_total++;
				pthread_mutex_lock(&vm->lock);
				continue;
			}
			vcpu_crash(v, "KVM_RUN failed: %s", strerror(errno));
			pthread_mutex_lock(&vm->lock);
			break;
		}
		v->exits_total++;
		if (!vcpu_handle_exit(v)) {
			pthread_mutex_lock(&vm->lock);
			break;
		}
		pthread_mutex_lock(&vm->lock);
	}
	v->state = VCPU_STOPPED;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	threads_unregister();
	return NULL;
}

int vcpu_start_thread(struct vcpu *v)
{
	int ret = pthread_create(&v->thread, NULL, vcpu_thread, v);

	if (ret)
		return -ret;
	v->thread_started = true;
	return 0;
}

int vcpu_set_affinity(struct vcpu *v, const cpu_set_t *set)
{
	pid_t tid = __atomic_load_n(&v->tid, __ATOMIC_ACQUIRE);

	if (tid && sched_setaffinity(tid, sizeof(*set), set) < 0)
		return -errno;
	v->affinity = *set;
	v->has_affinity = true;
	return 0;
}

int vcpu_get_info(struct vcpu *v, struct vcpu_info *info)
{
	char stat[1024], *p;
	ssize_t n;
	int fd;
	struct timespec ts;
	clockid_t cid;

	memset(info, 0, sizeof(*info));
	info->id = v->id;
	info->tid = v->host_tid;
	info->state = __atomic_load_n(&v->state, __ATOMIC_RELAXED);
	info->host_cpu = -1;
	memcpy(info->exits, v->exits, sizeof(info->exits));
	if (!v->thread_started || !v->tid)
		return 0;
	if (pthread_getcpuclockid(v->thread, &cid) == 0 && clock_gettime(cid, &ts) == 0)
		info->cpu_time_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	sched_getaffinity(v->tid, sizeof(info->affinity), &info->affinity);
	/* Field 39 of /proc/PID/task/TID/stat is the CPU it last ran on (proc(5)). */
	fd = __atomic_load_n(&v->stat_fd, __ATOMIC_ACQUIRE);
	n = fd >= 0 ? pread(fd, stat, sizeof(stat) - 1, 0) : -1;
	if (n > 0) {
		stat[n] = '\0';
		p = strrchr(stat, ')');
		for (int field = 2; p && field < 39; field++)
			p = strchr(p + 1, ' ');
		if (p)
			info->host_cpu = atoi(p + 1);
	}
	return 0;
}
