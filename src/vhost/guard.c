// SPDX-License-Identifier: MIT
/*
 * vhost-user backend: surviving frontend memory that goes away under us.
 *
 * SET_MEM_TABLE hands us fds whose pages we map MAP_SHARED, but the files
 * stay the frontend's.  It can ftruncate() one smaller at any time unless
 * it sealed it with F_SEAL_SHRINK (memfd_create(2), "File sealing"), and
 * an access to a mapped page past the new end of file raises SIGBUS
 * (mmap(2), "Attempted access to a page of the buffer that lies beyond
 * the end of the mapped file").  Other causes we do not control do the
 * same: an I/O error under a regular file, an exhausted hugetlbfs pool.
 *
 * Guest memory is reached through plain pointers in many places: ring
 * loads and descriptor copies (virtio/virtq.c), status bytes and data
 * the device model writes, buffers the block layer's workers fill; on the
 * I/O thread, the event loop and block workers, most of it under the
 * device lock.  Unwinding from any of those with siglongjmp() would leave
 * the lock held and requests half done, so the handler does not unwind.
 * If the faulting address lies in a guarded region it replaces the whole
 * region, in one step (mmap(2) MAP_FIXED replaces the old mapping
 * atomically), with private anonymous memory: the faulting access and
 * every later one complete, reading zeroes and writing where nobody looks.
 * It then flags the device and wakes its event loop through an eventfd
 * (write(2) is async-signal-safe, signal-safety(7); mmap is a plain system
 * call on Linux).  The device turns the flag into an error: its rings are
 * marked broken (DEVICE_NEEDS_RESET, reported on the error eventfds) and
 * the connection is closed, which unmaps everything; the next frontend
 * starts from a clean device (vhost_user_mem_fault in conn.c).
 *
 * Any other SIGBUS goes to the handler that was installed before ours, or
 * kills the process as it would have without us.
 *
 * A region is unregistered before it is unmapped, and its memory is only
 * touched while it is mapped (rings down and nothing in flight before
 * vhost_user_mem_unmap_all), so the handler never maps over an address
 * that was given back.  The table is read by the handler without locks:
 * a slot is filled before its start address is published (release) and
 * its start cleared before it is reused.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vhost/vhost-user-int.h"

/* Eight regions per device (VHOST_USER_MAX_REGIONS), a few devices. */
#define GUARD_SLOTS 64

struct guard_slot {
	uintptr_t start; /* 0: free */
	size_t len;
	int *faulted; /* set to 1 on a fault */
	int wake_fd;  /* eventfd to write on a fault, or -1 */
};

static struct guard_slot slots[GUARD_SLOTS];
static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction old_bus;

static void chain(int sig, siginfo_t *si, void *uc)
{
	struct sigaction dfl;

	if ((old_bus.sa_flags & SA_SIGINFO) && old_bus.sa_sigaction) {
		old_bus.sa_sigaction(sig, si, uc);
		return;
	}
	if (!(old_bus.sa_flags & SA_SIGINFO) && old_bus.sa_handler != SIG_DFL &&
	    old_bus.sa_handler != SIG_IGN) {
		old_bus.sa_handler(sig);
		return;
	}
	/*
	 * The default action: returning re-executes the faulting access,
	 * which now kills the process with SIGBUS; a SIGBUS sent with
	 * kill() is raised again (it stays blocked until we return).
	 */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(SIGBUS, &dfl, NULL);
	if (si->si_code <= 0)
		raise(sig);
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	int saved = errno;

	/* si_code <= 0: sent by a process, si_addr means nothing. */
	for (unsigned int i = 0; si->si_code > 0 && i < GUARD_SLOTS; i++) {
		uintptr_t start = __atomic_load_n(&slots[i].start, __ATOMIC_ACQUIRE);
		size_t len = slots[i].len;
		uint64_t one = 1;
		void *p;

		if (!start || a < start || a - start >= len)
			continue;
		p = mmap((void *)start, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED)
			break;
		__atomic_store_n(slots[i].faulted, 1, __ATOMIC_RELEASE);
		if (slots[i].wake_fd >= 0 && write(slots[i].wake_fd, &one, sizeof(one)) < 0) {
			/* Nothing to do here: the flag is checked after each kick and message. */
		}
		errno = saved;
		return;
	}
	chain(sig, si, uc);
	errno = saved;
}

/*
 * Installed (again) whenever a region is added: someone may have replaced
 * the handler since (test frameworks install their own around each test);
 * theirs then becomes the one we pass other faults to.
 */
static int install_locked(void)
{
	struct sigaction sa, cur;

	if (sigaction(SIGBUS, NULL, &cur) < 0)
		return -errno;
	if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_sigbus)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	/* SA_ONSTACK: use the alternate stack where a thread has one. */
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	old_bus = cur;
	if (sigaction(SIGBUS, &sa, NULL) < 0)
		return -errno;
	return 0;
}

int vhost_user_guard_add(void *base, size_t len, int *faulted, int wake_fd)
{
	int ret;

	if (!base || !len)
		return -EINVAL;
	pthread_mutex_lock(&guard_lock);
	ret = install_locked();
	if (ret < 0)
		goto out;
	ret = -ENOSPC;
	for (unsigned int i = 0; i < GUARD_SLOTS; i++) {
		if (__atomic_load_n(&slots[i].start, __ATOMIC_RELAXED))
			continue;
		slots[i].len = len;
		slots[i].faulted = faulted;
		slots[i].wake_fd = wake_fd;
		__atomic_store_n(&slots[i].start, (uintptr_t)base, __ATOMIC_RELEASE);
		ret = (int)i;
		break;
	}
out:
	pthread_mutex_unlock(&guard_lock);
	return ret;
}

void vhost_user_guard_del(int slot)
{
	if (slot < 0 || slot >= GUARD_SLOTS)
		return;
	pthread_mutex_lock(&guard_lock);
	__atomic_store_n(&slots[slot].start, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&guard_lock);
}
