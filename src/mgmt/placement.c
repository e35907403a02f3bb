// SPDX-License-Identifier: MIT
/* Emulator-thread pinning (emulatorpin), at start and from the API. */
#include "mgmt/placement.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "vm/config_json.h"
#include "vm/vm.h"

static bool is_vcpu_tid(struct vm *vm, pid_t tid)
{
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i] && vm->vcpus[i]->tid == tid)
			return true;
	return false;
}

int vm_pin_emulator_threads(struct vm *vm, const cpu_set_t *set)
{
	struct dirent *de;
	DIR *d;
	int r = 0;

	d = opendir("/proc/self/task");
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		pid_t tid = (pid_t)atoi(de->d_name);

		if (tid <= 0 || is_vcpu_tid(vm, tid))
			continue;
		/* A thread may exit while we walk the list: not an error. */
		if (sched_setaffinity(tid, sizeof(*set), set) && errno != ESRCH) {
			r = -errno;
			break;
		}
	}
	closedir(d);
	return r;
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
