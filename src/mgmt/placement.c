// SPDX-License-Identifier: MIT
/* Emulator-thread pinning (emulatorpin), at start and from the API. */
#include "mgmt/placement.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "util/threads.h"
#include "vm/config_json.h"
#include "vm/vm.h"

/*
 * The emulator threads are the VMM's registered threads that are not
 * vCPUs (util/threads.h: the main loop, the disks' I/O threads, block
 * workers).  Threads the VMM did not create (the kernel's io_uring
 * workers) are not ours to place.  A thread created later inherits the
 * affinity of its creator, the main loop.
 */
int vm_pin_emulator_threads(struct vm *vm, const cpu_set_t *set)
{
	(void)vm;
	return threads_set_affinity(THREAD_ROLES_ALL & ~THREAD_ROLE_BIT(THREAD_VCPU), set);
}

/*
 * vCPU threads record their tid and pin themselves before they first take
 * vm->lock to run; until then a new thread is neither known as a vCPU nor
 * placed.  Wait (bounded) until every vCPU left VCPU_CREATED.
 */
static void wait_vcpus_started(struct vm *vm)
{
	for (int i = 0; i < 2000; i++) {
		bool all = true;

		pthread_mutex_lock(&vm->lock);
		for (unsigned int c = 0; c < vm->nr_vcpus; c++)
			if (vm->vcpus[c] && vm->vcpus[c]->state == VCPU_CREATED)
				all = false;
		pthread_mutex_unlock(&vm->lock);
		if (all)
			return;
		usleep(1000);
	}
	log_warn("vCPU threads slow to start; emulator pinning may miss some");
}

int vm_placement_apply(struct vm *vm)
{
	char buf[256];
	int r;

	wait_vcpus_started(vm);
	if (!vm->cfg->emulator_pinned)
		return 0;
	r = vm_pin_emulator_threads(vm, &vm->cfg->emulator_affinity);
	if (r)
		log_err("cpus.emulator: cannot pin emulator threads to %s: %s",
			cpuset_format(&vm->cfg->emulator_affinity, buf, sizeof(buf)), strerror(-r));
	return r;
}
