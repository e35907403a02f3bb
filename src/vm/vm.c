// SPDX-License-Identifier: MIT
/*
 * Assembling a VM from its config, and its lifecycle: start, pause,
 * resume, reset, stop.  The event loop runs on the thread that calls
 * vm_run(); vCPUs run on their own threads (docs/threads.md).
 */
#include "vm/vm.h"
#include "arch/x86/boot.h"
#include "arch/x86/layout.h"
#include "arch/x86/x86.h"
#include "devices/acpi_pm.h"
#include "mem/numa.h"
#include "vm/host_check.h"
#include "util/eventlog.h"
#include "util/jail.h"
#include "util/log.h"
#include "util/reaper.h"
#include "util/syscall-filter.h"
#include "util/util.h"
#include "vm/board.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

static void vm_kick_handler(int sig)
{
	(void)sig;	/* only here so the signal interrupts KVM_RUN */
}

const char *vm_state_name(enum vm_state s)
{
	switch (s) {
	case VM_STATE_CREATED:
		return "created";
	case VM_STATE_RUNNING:
		return "running";
	case VM_STATE_PAUSED:
		return "paused";
	case VM_STATE_STOPPING:
		return "stopping";
	case VM_STATE_STOPPED:
		return "stopped";
	}
	return "?";
}

static int vm_open_kvm(struct vm *vm, struct error *err)
{
	/* VESSEL_KVM_DEVICE: another device node (tests use it to check errors). */
	const char *dev = getenv("VESSEL_KVM_DEVICE") ? getenv("VESSEL_KVM_DEVICE") : "/dev/kvm";
	int ret = kvm_open(&vm->kvm, dev);

	switch (ret) {
	case 0:
		return 0;
	case -ENOENT:
	case -ENODEV:
	case -ENXIO:
		return error_setf(err, ret,
				  "%s does not exist: this host has no KVM (load kvm_intel, "
				  "kvm_amd or kvm_pvm, or enable virtualization in the firmware)",
				  dev);
	case -EACCES:
	case -EPERM:
		return error_setf(err, ret,
				  "no permission to open %s: run as root or join the 'kvm' group",
				  dev);
	default:
		return error_set_errno(err, ret, "cannot use %s", dev);
	}
}

static int vm_setup_memory(struct vm *vm)
{
	/* Memory beyond the host's was refused by vm_config_check_host(). */
	struct gmem_numa numa;
	uint64_t low, high;
	char want[32];
	int ret;

	x86_mem_split(vm->cfg->mem_size, &low, &high);
	ret = gmem_init(&vm->mem, &vm->cfg->mem);
	if (!ret)
		ret = gmem_add_region(&vm->mem, 0, low);
	if (!ret && high)
		ret = gmem_add_region(&vm->mem, X86_4G, high);
	if (ret) {
		format_size(vm->cfg->mem_size, want, sizeof(want));
		log_err("cannot allocate %s of guest memory: %s", want, strerror(-ret));
		return ret;
	}
	/* Bind RAM to its host nodes before any page is touched. */
	vm_numa_binding(vm->cfg, &numa);
	ret = gmem_numa_apply(&vm->mem, &numa);
	if (ret) {
		log_err("cannot bind guest memory to NUMA nodes: %s", strerror(-ret));
		return ret;
	}
	ret = gmem_map_kvm(&vm->mem, vm->vm_fd);
	if (ret) {
		log_err("KVM_SET_USER_MEMORY_REGION: %s", strerror(-ret));
		return ret;
	}
	if (vm->cfg->mem.prealloc) {
		ret = gmem_populate(&vm->mem);
		if (ret) {
			format_size(vm->cfg->mem_size, want, sizeof(want));
			log_err("cannot preallocate %s of guest memory: %s", want, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static int vm_host_irq_line(void *opaque, uint32_t irq, int level)
{
	struct vm *vm = opaque;

	return kvm_irq_line(vm->vm_fd, irq, level);
}

static int vm_pause_as(struct vm *vm, enum vm_pause_reason why);

/* A disk stopped on an I/O error (werror/rerror=stop or enospc): so do the vCPUs. */
static void vm_io_error_pause(void *opaque)
{
	vm_pause_as(opaque, VM_PAUSE_IO_ERROR);
}

static void vm_host_request(void *opaque, enum dev_host_request req)
{
	struct vm *vm = opaque;

	switch (req) {
	case DEV_HOST_RESET:
		vm_request_reset(vm);
		break;
	case DEV_HOST_POWEROFF:
		vm_request_stop(vm, VM_EXIT_POWEROFF, 0);
		break;
	case DEV_HOST_QUIT:
		vm_request_stop(vm, VM_EXIT_SIGNAL, 0);
		break;
	case DEV_HOST_IO_ERROR:
		/* the device holds its lock: pause from the event loop, not here */
		evloop_call(vm->loop, vm_io_error_pause, vm);
		break;
	}
}

/* The narrow interface devices get (bus/host.h); pci is set once it exists. */
static void vm_host_init(struct vm *vm)
{
	vm->host = (struct dev_host){
		.pio = &vm->pio,
		.mmio = &vm->mmio,
		.mem = &vm->mem,
		.loop = vm->loop,
		.components = &vm->components,
		.irq = &vm->irq,
		.vm_fd = vm->vm_fd,
		.vm_name = vm->cfg->name,
		.irq_line = vm_host_irq_line,
		.request = vm_host_request,
		.opaque = vm,
	};
}

/*
 * The machine and the vCPUs as components.  vm.c owns them (no destroy
 * op: vm_destroy() frees them after the devices); they register after the
 * board's devices so that a machine reset runs the devices' resets first,
 * then the irqchips and the boot image, then the vCPU registers.
 */
static int vm_machine_reset(void *opaque)
{
	struct vm *vm = opaque;
	struct error err = ERROR_INIT;
	int ret = x86_machine_reset(vm->arch);

	if (ret)
		return ret;
	ret = x86_machine_load(vm->arch, &err);
	if (ret)
		log_err("%s", error_msg(&err));
	return ret;
}

static int vm_machine_save(void *opaque, struct stream *s, struct error *err)
{
	struct vm *vm = opaque;

	return x86_machine_save(vm->arch, s, err);
}

static int vm_machine_load(void *opaque, struct stream *s, struct error *err)
{
	struct vm *vm = opaque;

	return x86_machine_state_load(vm->arch, s, err);
}

static const struct component_ops vm_machine_ops = {
	.reset = vm_machine_reset,
	.save = vm_machine_save,
	.load = vm_machine_load,
};

static int vm_vcpu_reset(void *opaque)
{
	return vcpu_reset(opaque);
}

/* A vCPU is saved paused (vm_quiesce): its registers are KVM's, from any thread. */
static int vm_vcpu_save(void *opaque, struct stream *s, struct error *err)
{
	struct vcpu *vcpu = opaque;

	return x86_vcpu_save(&vcpu->x86, vcpu->vm->arch, s, err);
}

static int vm_vcpu_load(void *opaque, struct stream *s, struct error *err)
{
	struct vcpu *vcpu = opaque;

	return x86_vcpu_load(&vcpu->x86, vcpu->vm->arch, s, err);
}

static const struct component_ops vm_vcpu_ops = {
	.reset = vm_vcpu_reset,
	.save = vm_vcpu_save,
	.load = vm_vcpu_load,
};

static int vm_register_machine(struct vm *vm, struct error *err)
{
	int ret = components_add(&vm->components, "machine", &vm_machine_ops, vm, err);

	for (unsigned int i = 0; !ret && i < vm->nr_vcpus; i++) {
		char id[COMPONENT_ID_MAX];

		snprintf(id, sizeof(id), "vcpu%u", i);
		ret = components_add(&vm->components, id, &vm_vcpu_ops, vm->vcpus[i], err);
	}
	return ret;
}

/* KVM, memory, the x86 machine, the IRQ router and the vCPUs. */
static int vm_create_machine(struct vm *vm, struct error *err)
{
	const struct vm_config *cfg = vm->cfg;
	struct x86_machine_params p = {
		.pvm = vm->kvm.backend == KVM_BACKEND_PVM,
		.mem = &vm->mem,
		.boot = {
			.kernel = cfg->kernel,
			.initrd = cfg->initrd,
			.cmdline = cfg->cmdline,
			.mem_size = cfg->mem_size,
			.nr_cpus = cfg->nr_cpus,
			.nr_numa_nodes = cfg->nr_numa_nodes,
		},
	};
	struct x86_machine *x;
	int ret;

	_Static_assert(VM_MAX_VCPUS == X86_MAX_VCPUS && VM_MAX_NUMA_NODES == X86_MAX_NUMA_NODES,
		       "the firmware tables' limits are the VM's");
	for (unsigned int n = 0; n < cfg->nr_numa_nodes; n++) {
		struct x86_numa_node *xn = &p.boot.numa_nodes[n];

		xn->mem_size = cfg->numa_nodes[n].mem_size;
		memcpy(xn->cpus, cfg->numa_nodes[n].cpus, sizeof(xn->cpus));
		memcpy(xn->distance, cfg->numa_nodes[n].distance, sizeof(xn->distance));
	}

	if (cfg->nr_cpus > (unsigned int)vm->kvm.max_vcpus)
		return error_setf(err, -EINVAL, "%u CPUs requested; KVM on this host allows at most %d",
				  cfg->nr_cpus, vm->kvm.max_vcpus);
	ret = evloop_create(&vm->loop);
	if (ret)
		return error_set_errno(err, ret, "cannot create the event loop");
	ret = kvm_create_vm(&vm->kvm);
	if (ret < 0)
		return error_set_errno(err, ret, "KVM_CREATE_VM");
	vm->vm_fd = ret;
	ret = vm_setup_memory(vm);
	if (ret)
		return ret; /* vm_setup_memory() logged it */
	p.vm_fd = vm->vm_fd;
	p.kvm_fd = vm->kvm.fd;
	ret = x86_machine_create(&p, &x, err);
	if (ret)
		return ret;
	vm->arch = x;
	ret = irq_router_init(&vm->irq, vm->vm_fd);
	if (ret)
		return error_set_errno(err, ret, "KVM_SET_GSI_ROUTING");
	vm_host_init(vm);

	/* vCPUs before the firmware tables: CPUID must exist before loading. */
	vm->nr_vcpus = cfg->nr_cpus;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		ret = vcpu_create(vm, i, &vm->vcpus[i]);
		if (ret)
			return error_set_errno(err, ret, "cannot create vCPU %u", i);
		ret = x86_vcpu_init(&vm->vcpus[i]->x86, &vm->kvm, vm->nr_vcpus, err);
		if (ret)
			return ret;
	}
	return 0;
}

int vm_create(struct vm_config *cfg, struct vm **out, struct error *err)
{
	return vm_create_flags(cfg, 0, out, err);
}

int vm_create_flags(struct vm_config *cfg, unsigned int flags, struct vm **out, struct error *err)
{
	struct sigaction sa = { .sa_handler = vm_kick_handler };
	char why[256];
	struct vm *vm;
	int ret;

	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return error_setf(err, -ENOMEM, "out of memory");
	vm->cfg = cfg;
	vm->vm_fd = -1;
	vm->kvm.fd = -1;
	vm->statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	/* gmem_destroy() on a VM that failed before its memory: no fd 0. */
	gmem_init(&vm->mem, NULL);
	components_init(&vm->components);
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	vm->state = VM_STATE_CREATED;
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	sigemptyset(&sa.sa_mask);
	sigaction(SIGVCPU_KICK, &sa, NULL);

	if (vm_config_check_host(cfg, why, sizeof(why))) {
		ret = error_setf(err, -EINVAL, "%s", why);
		goto fail;
	}
	/* A missing or unreadable kernel is named even on a host without KVM. */
	ret = boot_check_image(cfg->kernel, "kernel", err);
	if (!ret && cfg->initrd)
		ret = boot_check_image(cfg->initrd, "initrd", err);
	if (!ret)
		ret = vm_open_kvm(vm, err);
	if (!ret)
		ret = vm_create_machine(vm, err);
	if (!ret)
		ret = board_create(vm, err);
	if (!ret)
		ret = vm_register_machine(vm, err);
	if (!ret)
		ret = flags & VM_CREATE_RESTORE ? x86_machine_read_images(vm->arch, err)
						: x86_machine_load(vm->arch, err);
	for (unsigned int i = 0; !ret && i < vm->nr_vcpus; i++) {
		ret = vcpu_reset(vm->vcpus[i]);
		if (ret)
			error_set_errno(err, ret, "cannot set up vCPU %u registers", i);
	}
	if (ret)
		goto fail;
	*out = vm;
	return 0;
fail:
	vm_destroy(vm);
	return ret;
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	/* Devices first (the PCI bus last of them), then what vm.c owns. */
	components_fini(&vm->components);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_destroy(vm->vcpus[i]);
	if (vm->irq.table)
		irq_router_destroy(&vm->irq);
	x86_machine_destroy(vm->arch);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->statm_fd >= 0)
		close(vm->statm_fd);
	gmem_destroy(&vm->mem);
	if (vm->loop)
		evloop_destroy(vm->loop);
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	kvm_close(&vm->kvm);
	pthread_mutex_destroy(&vm->lock);
	pthread_cond_destroy(&vm->cond);
	free(vm);
}

static void vm_kick_all(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(vm->vcpus[i]);
}

/* Wait (vm->lock held) until no vCPU runs guest code. */
static void vm_wait_quiescent(struct vm *vm)
{
	for (;;) {
		bool busy = false;

		for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
			enum vcpu_state s = vm->vcpus[i]->state;

			if (s == VCPU_RUNNING || (s == VCPU_CREATED && vm->vcpus[i]->thread_started))
				busy = true;
		}
		if (!busy)
			return;
		pthread_cond_wait(&vm->cond, &vm->lock);
	}
}

int vm_start(struct vm *vm)
{
	int ret;

	pthread_mutex_lock(&vm->lock);
	vm->state = VM_STATE_RUNNING;
	vm->start_ns = now_ns();
	pthread_mutex_unlock(&vm->lock);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		ret = vcpu_start_thread(vm->vcpus[i]);
		if (ret) {
			char why[96];

			snprintf(why, sizeof(why), "cannot start vCPU thread %u: %s", i,
				 strerror(-ret));
			log_err("%s", why);
			vm_request_stop_why(vm, VM_EXIT_CRASH, 1, why);
			return ret;
		}
	}
	return 0;
}

/* RUNNING -> PAUSED, vm->lock held; the vCPUs have left guest mode on return. */
static void vm_pause_vcpus_locked(struct vm *vm)
{
	vm->state = VM_STATE_PAUSED;
	vm->pause_reason = VM_PAUSE_USER;
	vm_kick_all(vm);
	vm_wait_quiescent(vm);
}

static int vm_pause_as(struct vm *vm, enum vm_pause_reason why)
{
	pthread_mutex_lock(&vm->lock);
	if (vm->state != VM_STATE_RUNNING) {
		int ret = vm->state == VM_STATE_PAUSED ? -EALREADY : -EINVAL;

		pthread_mutex_unlock(&vm->lock);
		return ret;
	}
	vm_pause_vcpus_locked(vm);
	vm->pause_reason = why;
	pthread_mutex_unlock(&vm->lock);
	if (why == VM_PAUSE_IO_ERROR)
		event_log("paused: a disk stopped on an I/O error (werror/rerror); resume "
			  "submits its requests again");
	else
		event_log("paused");
	return 0;
}

int vm_pause(struct vm *vm)
{
	return vm_pause_as(vm, VM_PAUSE_USER);
}

enum vm_pause_reason vm_get_pause_reason(struct vm *vm)
{
	enum vm_pause_reason r;

	pthread_mutex_lock(&vm->lock);
	r = vm->pause_reason;
	pthread_mutex_unlock(&vm->lock);
	return r;
}

/*
 * The VM's event loops through the one pause primitive, evloop_pause():
 * the main loop is parked outside any handler until vm_loops_resume().
 * Called on the loop's own thread (an API handler) the loop is not
 * dispatching anything while the caller runs, so there is nothing to
 * park.  Per-disk I/O loops need no park: once their device is paused
 * (components_pause()) they take no request and raise no interrupt.
 */
int vm_loops_pause(struct vm *vm)
{
	int ret;

	if (evloop_in_thread(vm->loop))
		return 0;
	ret = evloop_pause(vm->loop);
	if (!ret)
		vm->loop_held = true;
	return ret == -EDEADLK ? 0 : ret;
}

void vm_loops_resume(struct vm *vm)
{
	if (vm->loop_held) {
		vm->loop_held = false;
		evloop_resume(vm->loop);
	}
}

int vm_quiesce(struct vm *vm, struct error *err)
{
	bool paused_here = false;
	int ret;

	pthread_mutex_lock(&vm->lock);
	if (vm->quiesced) {
		pthread_mutex_unlock(&vm->lock);
		return error_setf(err, -EALREADY, "the VM is already quiesced");
	}
	if (vm->state == VM_STATE_RUNNING) {
		vm_pause_vcpus_locked(vm);
		paused_here = true;
	} else if (vm->state != VM_STATE_PAUSED && vm->state != VM_STATE_CREATED) {
		pthread_mutex_unlock(&vm->lock);
		return error_setf(err, -EINVAL, "the VM is %s", vm_state_name(vm->state));
	}
	vm->quiesced = true; /* a concurrent vm_quiesce() fails from here */
	pthread_mutex_unlock(&vm->lock);

	ret = vm_loops_pause(vm);
	if (ret) {
		error_set_errno(err, ret, "cannot pause the event loop");
		goto undo;
	}
	ret = components_pause(&vm->components, err);
	if (ret) {
		vm_loops_resume(vm);
		goto undo;
	}
	pthread_mutex_lock(&vm->lock);
	vm->quiesce_paused = paused_here;
	pthread_mutex_unlock(&vm->lock);
	return 0;
undo:
	pthread_mutex_lock(&vm->lock);
	vm->quiesced = false;
	if (paused_here && vm->state == VM_STATE_PAUSED) {
		vm->state = VM_STATE_RUNNING;
		pthread_cond_broadcast(&vm->cond);
	}
	pthread_mutex_unlock(&vm->lock);
	return ret;
}

/* Undo vm_quiesce(): components, loops, then the vCPUs if it paused them. */
static void vm_unquiesce(struct vm *vm)
{
	struct error err = ERROR_INIT;
	bool running = false;

	/* Every component is resumed even if one fails (that one stays stopped). */
	if (components_resume(&vm->components, &err))
		log_warn("%s", error_msg(&err));
	vm_loops_resume(vm);
	pthread_mutex_lock(&vm->lock);
	if (vm->quiesce_paused && vm->state == VM_STATE_PAUSED) {
		vm->state = VM_STATE_RUNNING;
		pthread_cond_broadcast(&vm->cond);
		running = true;
	}
	vm->quiesced = false;
	vm->quiesce_paused = false;
	pthread_mutex_unlock(&vm->lock);
	/* a disk that stopped on an I/O error meanwhile could not pause the VM: retry */
	if (running)
		components_cont(&vm->components);
}

int vm_resume(struct vm *vm)
{
	int ret = 0;

	pthread_mutex_lock(&vm->lock);
	if (vm->quiesced) {
		pthread_mutex_unlock(&vm->lock);
		vm_unquiesce(vm);
		return 0;
	}
	if (vm->state == VM_STATE_PAUSED) {
		vm->state = VM_STATE_RUNNING;
		pthread_cond_broadcast(&vm->cond);
	} else {
		ret = vm->state == VM_STATE_RUNNING ? -EALREADY : -EINVAL;
	}
	pthread_mutex_unlock(&vm->lock);
	if (!ret) {
		event_log("resumed");
		/* a disk that stopped on an I/O error tries again now */
		components_cont(&vm->components);
	}
	return ret;
}

enum vm_state vm_get_state(struct vm *vm)
{
	enum vm_state s;

	pthread_mutex_lock(&vm->lock);
	s = vm->state;
	pthread_mutex_unlock(&vm->lock);
	return s;
}

int vm_request_shutdown(struct vm *vm)
{
	struct x86_machine *x = vm->arch;
	enum vm_state s = vm_get_state(vm);
	int ret;

	if (s != VM_STATE_RUNNING && s != VM_STATE_PAUSED)
		return -EINVAL;
	ret = acpi_pm_power_button(x->pm);
	/* -EAGAIN: pressed and latched, but the guest has not enabled the event */
	if (!ret || ret == -EAGAIN)
		event_log("shutdown requested (ACPI power button)%s%s",
			  ret ? "; the guest has not enabled it yet" : "",
			  s == VM_STATE_PAUSED ? "; the VM is paused: it acts once resumed" : "");
	return ret;
}

void vm_request_stop_why(struct vm *vm, enum vm_exit_reason why, int status, const char *detail)
{
	pthread_mutex_lock(&vm->lock);
	if (vm->state != VM_STATE_STOPPING && vm->state != VM_STATE_STOPPED) {
		vm->state = VM_STATE_STOPPING;
		vm->exit_reason = why;
		vm->exit_status = status;
		snprintf(vm->exit_detail, sizeof(vm->exit_detail), "%s", detail ? detail : "");
		vm_kick_all(vm);
	}
	pthread_mutex_unlock(&vm->lock);
	/* Stopping wins over a quiesce: a parked loop must see the stop. */
	evloop_stop_release(vm->loop);
}

void vm_request_stop(struct vm *vm, enum vm_exit_reason why, int status)
{
	vm_request_stop_why(vm, why, status, NULL);
}

/* Runs on the event loop once every vCPU has left guest mode. */
static void vm_do_reset(void *opaque)
{
	struct vm *vm = opaque;
	int ret = 0;

	pthread_mutex_lock(&vm->lock);
	vm_wait_quiescent(vm);
	if (vm->state == VM_STATE_STOPPING || vm->state == VM_STATE_STOPPED) {
		pthread_mutex_unlock(&vm->lock);
		return;
	}
	/* Devices, then the machine (irqchips, boot image), then the vCPUs. */
	ret = components_reset(&vm->components);
	vm->reset_pending = false;
	vm->boot_count++;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	if (ret) {
		char why[96];

		snprintf(why, sizeof(why), "machine reset failed: %s", strerror(-ret));
		log_err("%s", why);
		vm_request_stop_why(vm, VM_EXIT_CRASH, 1, why);
	} else {
		log_info("machine reset (boot %llu)", (unsigned long long)vm->boot_count + 1);
		event_log("guest reset (boot %llu)", (unsigned long long)vm->boot_count + 1);
	}
}

int vm_request_reset(struct vm *vm)
{
	if (vm->cfg->on_reboot == VM_REBOOT_EXIT) {
		vm_request_stop(vm, VM_EXIT_REBOOT, 0);
		return 0;
	}
	pthread_mutex_lock(&vm->lock);
	if (vm->reset_pending || vm->state == VM_STATE_STOPPING ||
	    vm->state == VM_STATE_STOPPED) {
		pthread_mutex_unlock(&vm->lock);
		return 0;
	}
	vm->reset_pending = true;
	vm_kick_all(vm);
	pthread_mutex_unlock(&vm->lock);
	return evloop_call(vm->loop, vm_do_reset, vm);
}

struct vm_signals {
	struct vm *vm;
	int fd;
};

/* SIGTERM, SIGINT and SIGHUP stop the VM cleanly (exit status 0). */
static void vm_signal_handler(void *opaque, uint32_t events)
{
	struct vm_signals *sigs = opaque;
	struct signalfd_siginfo si;

	while (read(sigs->fd, &si, sizeof(si)) == sizeof(si)) {
		log_info("received signal %u, stopping the VM", si.ssi_signo);
		vm_request_stop(sigs->vm, VM_EXIT_SIGNAL, 0);
	}
}

/*
 * Block the signals the event loop handles, in every thread: call before
 * any thread is created so vCPU and I/O threads inherit the mask.
 */
void vm_block_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGVCPU_KICK);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/* The lifecycle log's last line of a run: why it stopped. */
static void vm_log_exit(const struct vm *vm)
{
	switch (vm->exit_reason) {
	case VM_EXIT_POWEROFF:
		event_log("stopped: the guest powered off");
		break;
	case VM_EXIT_REBOOT:
		event_log("stopped: the guest rebooted (on_reboot=destroy)");
		break;
	case VM_EXIT_DEBUG:
		event_log("stopped: debug exit, status %d", vm->exit_status);
		break;
	case VM_EXIT_CRASH:
		event_log("crashed: %s", vm->exit_detail[0] ? vm->exit_detail : "internal error");
		break;
	default:
		event_log("stopped: destroyed (signal, console quit or API)");
		break;
	}
}

int vm_run(struct vm *vm)
{
	struct vm_signals sigs = { .vm = vm, .fd = -1 };
	struct error err = ERROR_INIT;
	sigset_t set;
	int ret;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigs.fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sigs.fd >= 0)
		evloop_add(vm->loop, sigs.fd, EPOLLIN, vm_signal_handler, &sigs);
	else
		log_warn("signalfd: %s; SIGTERM will not stop the VM cleanly", strerror(errno));

	/*
	 * Start-up is over: every file, socket and device is open, every
	 * thread started.  From here the main thread opens nothing
	 * (docs/seccomp.md); the lifecycle log keeps its fd.
	 */
	event_log_lockdown();
	if (jail_lockdown(&err)) {
		/* never run unjailed after asking for a jail */
		log_err("cannot jail the VMM: %s", error_msg(&err));
		vm_request_stop_why(vm, VM_EXIT_CRASH, 1, "cannot enter the jail");
	}
	if (syscall_filter_get_mode() != SYSCALL_FILTER_OFF && (ret = reaper_start()))
		log_warn("no cleanup helper (%s): the VM's sockets stay after it exits",
			 strerror(-ret));
	ret = syscall_filter_install(THREAD_MAIN);
	if (ret) {
		vm_request_stop_why(vm, VM_EXIT_CRASH, 1, "cannot install the seccomp filter");
		ret = 0;
	}
	jail_selftest();
	ret = evloop_run(vm->loop);
	if (ret) {
		char why[96];

		snprintf(why, sizeof(why), "event loop failed: %s", strerror(-ret));
		log_err("%s", why);
		vm_request_stop_why(vm, VM_EXIT_CRASH, 1, why);
	}
	/* Whatever stopped the loop, make sure the vCPUs stop too. */
	pthread_mutex_lock(&vm->lock);
	if (vm->state != VM_STATE_STOPPING && vm->state != VM_STATE_STOPPED) {
		vm->state = VM_STATE_STOPPING;
		vm->exit_reason = VM_EXIT_SIGNAL;
	}
	vm_kick_all(vm);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i]->thread_started) {
			pthread_join(vm->vcpus[i]->thread, NULL);
			vm->vcpus[i]->thread_started = false;
		}
	pthread_mutex_lock(&vm->lock);
	vm->state = VM_STATE_STOPPED;
	pthread_mutex_unlock(&vm->lock);
	if (sigs.fd >= 0) {
		evloop_del(vm->loop, sigs.fd);
		close(sigs.fd);
	}

	vm_log_exit(vm);
	switch (vm->exit_reason) {
	case VM_EXIT_DEBUG:
	case VM_EXIT_CRASH:
		return vm->exit_status;
	default:
		return 0;
	}
}
