// SPDX-License-Identifier: MIT
/*
 * Per-thread seccomp allowlists with libseccomp (syscall-filter.h,
 * docs/seccomp.md).  One table lists every system call any role allows,
 * with the roles that allow it and how its arguments are checked; each
 * thread builds and loads the filter of its own role (seccomp(2): a
 * filter binds the thread that loads it and the threads it creates
 * afterwards, so filters are installed after a thread has created what it
 * needs, and the main thread's last).
 *
 * What the table does not name is refused: SECCOMP_RET_TRAP, whose
 * SIGSYS handler (sc_sigsys) writes one line naming the thread, its role
 * and the call, then lets SIGSYS kill the process; an open fails with
 * EACCES instead.  A few calls that the code already treats as failing
 * get an errno from the filter itself (sc_quiet below).
 */
#include "util/syscall-filter.h"
#include "util/jail.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/if_tun.h>
#include <linux/vhost.h>
#include <linux/fs.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

/* Role bits, as THREAD_ROLE_BIT(). */
#define M (1u << THREAD_MAIN)
#define V (1u << THREAD_VCPU)
#define I (1u << THREAD_IOTHREAD)
#define B (1u << THREAD_BLOCK)
#define H (1u << THREAD_VHOST)
#define A (1u << THREAD_API)
#define ALL (M | V | I | B | H | A)
#define DEV (M | V | I | B | H) /* every role but the API's */
#define FILTERED_ROLES ALL

enum arg_check {
	ARGS_ANY,    /* no argument check */
	ARGS_NOEXEC, /* mmap/mprotect: PROT_EXEC clear (arg 2) */
	ARGS_IOCTL,  /* ioctl: request (arg 1) in the role's list */
	ARGS_SELF,   /* tgkill: our own thread group (arg 0) */
	ARGS_FCNTL,  /* fcntl: flags, dup, seals, OFD locks (arg 1) */
};

struct sc_rule {
	int nr;
	const char *name;
	unsigned int roles;
	enum arg_check check;
};

#define R(sc, roles, check)                     \
	{                                       \
		SCMP_SYS(sc), #sc, roles, check \
	}

/*
 * Why each call is here is in docs/seccomp.md, in this order.  Keep the
 * two in step: tests/integration/test_seccomp.py compares them.
 */
static const struct sc_rule sc_rules[] = {
	/* every thread: memory, locks, time, its own exit, fds it holds */
	R(read, ALL, ARGS_ANY),
	R(write, ALL, ARGS_ANY),
	R(close, ALL, ARGS_ANY),
	R(futex, ALL, ARGS_ANY),
	R(mmap, ALL, ARGS_NOEXEC),
	R(munmap, ALL, ARGS_ANY),
	R(mprotect, ALL, ARGS_NOEXEC),
	R(madvise, ALL, ARGS_ANY),
	R(brk, ALL, ARGS_ANY),
	R(mremap, ALL, ARGS_ANY),
	R(rt_sigreturn, ALL, ARGS_ANY),
	R(rt_sigprocmask, ALL, ARGS_ANY),
	R(rt_sigaction, ALL, ARGS_ANY),
	R(exit, ALL, ARGS_ANY),
	R(exit_group, ALL, ARGS_ANY),
	R(clock_gettime, ALL, ARGS_ANY),
	R(getpid, ALL, ARGS_ANY),
	R(gettid, ALL, ARGS_ANY),
	R(tgkill, ALL, ARGS_SELF),
	R(restart_syscall, ALL, ARGS_ANY),
	R(ioctl, DEV, ARGS_IOCTL),
	R(flock, M | V | I, ARGS_ANY),
	R(newfstatat, DEV, ARGS_ANY),
	R(fstat, DEV, ARGS_ANY),
	R(lseek, DEV, ARGS_ANY),
	/* waiting */
	R(epoll_wait, M | I | H | A, ARGS_ANY),
	R(epoll_pwait, M | I | H | A, ARGS_ANY),
	R(epoll_ctl, M | V | I | H | A, ARGS_ANY),
	R(poll, M | V | I | H, ARGS_ANY),
	R(nanosleep, M | V | I | B | H, ARGS_ANY),
	R(clock_nanosleep, M | V | I | B | H, ARGS_ANY),
	R(sched_yield, M | V | I | B | H, ARGS_ANY),
	/* fds of devices and timers created while the guest runs */
	R(eventfd2, M | V | I | H, ARGS_ANY),
	R(timerfd_create, M | V | I | H, ARGS_ANY),
	R(timerfd_settime, M | V | I | H, ARGS_ANY),
	R(fcntl, M | V | I | H, ARGS_FCNTL),
	/* disk and network data */
	R(readv, M | V | I | B | H, ARGS_ANY),
	R(writev, M | V | I | B | H, ARGS_ANY),
	R(pread64, M | V | I | B | H, ARGS_ANY),
	R(pwrite64, M | V | I | B | H, ARGS_ANY),
	R(preadv, M | I | B | H, ARGS_ANY),
	R(pwritev, M | I | B | H, ARGS_ANY),
	R(preadv2, I | H, ARGS_ANY),
	R(pwritev2, I | H, ARGS_ANY),
	R(fsync, M | I | B | H, ARGS_ANY),
	R(fdatasync, M | I | B | H, ARGS_ANY),
	R(fallocate, M | I | B | H, ARGS_ANY),
	R(ftruncate, M | I | B | H, ARGS_ANY),
	R(io_uring_enter, M | V | I | H, ARGS_ANY),
	R(getrandom, M | V | I | H, ARGS_ANY),
	/* sockets: the API, consoles and vhost-user clients it accepts */
	R(accept4, M | H | A, ARGS_ANY),
	R(recvfrom, M | H | A, ARGS_ANY),
	R(recvmsg, M | V | I | H, ARGS_ANY),
	R(sendto, M | V | I | H | A, ARGS_ANY),
	R(sendmsg, M | V | I | H | A, ARGS_ANY),
	R(shutdown, M | H | A, ARGS_ANY),
	/* the management API's placement and statistics */
	R(sched_setaffinity, M, ARGS_ANY),
	R(sched_getaffinity, M | V | I | B | H, ARGS_ANY),
	R(get_mempolicy, M, ARGS_ANY),
	R(mbind, M, ARGS_ANY),
	R(move_pages, M, ARGS_ANY),
};

/*
 * Refused with an errno instead of SIGSYS: calls whose failure the code
 * handles, made where the filter forbids their effect.
 */
struct sc_quiet {
	int nr;
	unsigned int roles;
	int err;
};

static const struct sc_quiet sc_quiet[] = {
	/* sockets and consoles left in place at exit; the next start replaces them */
	{ SCMP_SYS(unlink), ALL, EPERM },
	{ SCMP_SYS(unlinkat), ALL, EPERM },
	/* vhost/fds.c falls back to comparing the anonymous inode */
	{ SCMP_SYS(readlink), H, ENOENT },
};

/* ioctl requests by role: the fds a role holds are KVM's, tap and vhost ones, disks, ttys. */
struct sc_ioctl {
	unsigned long req;
	unsigned int roles;
};

static const struct sc_ioctl sc_ioctls[] = {
	{ KVM_RUN, V },
	{ KVM_GET_REGS, M | V },
	{ KVM_GET_SREGS, M | V },
	{ KVM_SET_REGS, M | V },
	{ KVM_SET_SREGS, M | V },
	{ KVM_SET_FPU, M | V },
	{ KVM_SET_MSRS, M | V },
	{ KVM_SET_LAPIC, M | V },
	{ KVM_GET_LAPIC, M | V },
	{ KVM_SET_MP_STATE, M | V },
	{ KVM_SET_VCPU_EVENTS, M | V },
	{ KVM_SET_XCRS, M | V },
	{ KVM_GET_XCRS, M | V },
	{ KVM_SET_CPUID2, M | V },
	{ KVM_SET_IRQCHIP, M },
	{ KVM_GET_IRQCHIP, M },
	{ KVM_SET_PIT2, M },
	{ KVM_GET_PIT2, M },
	/* save (vm_quiesce) and restore of a running VM, on the main loop */
	{ KVM_GET_FPU, M },
	{ KVM_GET_XSAVE, M },
	{ KVM_GET_XSAVE2, M },
	{ KVM_SET_XSAVE, M },
	{ KVM_GET_MSRS, M },
	{ KVM_GET_MP_STATE, M },
	{ KVM_GET_VCPU_EVENTS, M },
	{ KVM_GET_DEBUGREGS, M },
	{ KVM_SET_DEBUGREGS, M },
	{ KVM_GET_TSC_KHZ, M },
	{ KVM_SET_TSC_KHZ, M },
	{ KVM_GET_CLOCK, M },
	{ KVM_SET_CLOCK, M },
	{ KVM_GET_DIRTY_LOG, M },
	{ KVM_CLEAR_DIRTY_LOG, M },
	/* interrupts and doorbells, wired when the guest's driver starts a queue */
	{ KVM_IRQFD, M | V | I },
	{ KVM_IOEVENTFD, M | V | I },
	{ KVM_SET_GSI_ROUTING, M | V | I },
	{ KVM_SIGNAL_MSI, M | V | I },
	{ KVM_IRQ_LINE, M | V | I },
	{ KVM_IRQ_LINE_STATUS, M | V | I },
	/* virtio-net's tap and vhost-net, as the driver negotiates */
	{ TUNSETOFFLOAD, M | V },
	{ TUNSETVNETHDRSZ, M | V },
	{ TUNSETQUEUE, M | V },
	{ TUNSETTXFILTER, M | V },
	{ TUNGETIFF, M | V },
	{ VHOST_SET_OWNER, M | V },
	{ VHOST_RESET_OWNER, M | V },
	{ VHOST_GET_FEATURES, M | V },
	{ VHOST_SET_FEATURES, M | V },
	{ VHOST_SET_MEM_TABLE, M | V },
	{ VHOST_SET_VRING_NUM, M | V },
	{ VHOST_SET_VRING_ADDR, M | V },
	{ VHOST_SET_VRING_BASE, M | V },
	{ VHOST_GET_VRING_BASE, M | V },
	{ VHOST_SET_VRING_KICK, M | V },
	{ VHOST_SET_VRING_CALL, M | V },
	{ VHOST_NET_SET_BACKEND, M | V },
	/* host block devices */
	{ BLKDISCARD, M | I | B | H },
	{ BLKZEROOUT, M | I | B | H },
	{ BLKGETSIZE64, M | I | B | H },
	{ BLKSSZGET, M | I | B | H },
	/* the console on a terminal: stdio's isatty, raw mode restored at exit */
	{ TCGETS, DEV },
	{ TCSETS, M },
	{ TCSETSW, M },
	{ TCSETSF, M },
	{ TIOCGWINSZ, M },
	{ FIONBIO, M | V | I | H },
};

static enum syscall_filter_mode sc_mode = SYSCALL_FILTER_OFF;
static unsigned int sc_installed;

/* For the SIGSYS handler, which may call nothing that allocates. */
#define SC_NAMES 512
static char *sc_names[SC_NAMES];
static __thread const char *sc_thread_role;
static __thread char sc_thread_name[16];

int syscall_filter_parse(const char *s, enum syscall_filter_mode *out)
{
	static const char *const names[] = { "off", "log", "on" };

	for (unsigned int i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcmp(s, names[i])) {
			*out = (enum syscall_filter_mode)i;
			return 0;
		}
	return -EINVAL;
}

const char *syscall_filter_mode_name(enum syscall_filter_mode m)
{
	return m == SYSCALL_FILTER_ON ? "on" : m == SYSCALL_FILTER_LOG ? "log" : "off";
}

enum syscall_filter_mode syscall_filter_default_mode(void)
{
	const char *e = getenv("VESSEL_SECCOMP");
	enum syscall_filter_mode m;

	return e && !syscall_filter_parse(e, &m) ? m : SYSCALL_FILTER_ON;
}

enum syscall_filter_mode syscall_filter_get_mode(void)
{
	return sc_mode;
}

unsigned int syscall_filter_installed(void)
{
	return __atomic_load_n(&sc_installed, __ATOMIC_RELAXED);
}

/* Append s to buf at *n (async-signal-safe). */
static void sc_put(char *buf, size_t size, size_t *n, const char *s)
{
	while (*s && *n + 1 < size)
		buf[(*n)++] = *s++;
}

static void sc_put_num(char *buf, size_t size, size_t *n, long v)
{
	char d[24];
	int i = 0;

	if (v < 0) {
		sc_put(buf, size, n, "-");
		v = -v;
	}
	do
		d[i++] = (char)('0' + v % 10);
	while ((v /= 10) && i < (int)sizeof(d));
	while (i > 0 && *n + 1 < size)
		buf[(*n)++] = d[--i];
}

static void sc_put_thread(char *msg, size_t size, size_t *n)
{
	sc_put(msg, size, n, "vessel: seccomp: thread ");
	sc_put(msg, size, n, sc_thread_name[0] ? sc_thread_name : "?");
	sc_put(msg, size, n, " (role ");
	sc_put(msg, size, n, sc_thread_role ? sc_thread_role : "?");
	sc_put(msg, size, n, ") ");
}

/*
 * SIGSYS from SECCOMP_RET_TRAP (seccomp(2)).  An open is refused, not
 * fatal: glibc opens files lazily where a failure only means "unknown"
 * (malloc reads /proc/sys/vm/overcommit_memory the first time it shrinks
 * a thread's heap), so the call returns EACCES and the line says which
 * path.  Any other call kills the VMM: we say which, restore the default
 * action and raise SIGSYS, which arrives as the handler returns.
 */
static void sc_sigsys(int sig, siginfo_t *si, void *uc)
{
	ucontext_t *u = uc;
	char msg[320];
	sigset_t self;
	size_t n = 0;
	int nr = si->si_syscall;

	sc_put_thread(msg, sizeof(msg), &n);
	if (nr == SYS_openat || nr == SYS_open) {
		const char *path =
			(const char *)(uintptr_t)
				u->uc_mcontext.gregs[nr == SYS_openat ? REG_RSI : REG_RDI];

		sc_put(msg, sizeof(msg), &n, "may not open files: ");
		sc_put(msg, sizeof(msg) - 24, &n, path ? path : "(null)");
		sc_put(msg, sizeof(msg), &n, " refused (EACCES)\n");
		(void)!write(STDERR_FILENO, msg, n);
		u->uc_mcontext.gregs[REG_RAX] = -EACCES;
		return;
	}
	sc_put(msg, sizeof(msg), &n, "made a system call its filter refuses: ");
	sc_put(msg, sizeof(msg), &n, nr >= 0 && nr < SC_NAMES && sc_names[nr] ? sc_names[nr] : "?");
	sc_put(msg, sizeof(msg), &n, " (");
	sc_put_num(msg, sizeof(msg), &n, nr);
	sc_put(msg, sizeof(msg), &n, "); stopping the VMM (docs/seccomp.md)\n");
	(void)!write(STDERR_FILENO, msg, n);
	signal(SIGSYS, SIG_DFL);
	/* blocked in its own handler: unblocked, it kills on tgkill's return */
	sigemptyset(&self);
	sigaddset(&self, sig);
	pthread_sigmask(SIG_UNBLOCK, &self, NULL);
	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), sig);
	/*
	 * Still here: a jailed VMM is its pid namespace's init, which no
	 * signal it sends itself kills (pid_namespaces(7)).  Exit as a shell
	 * reports a death by signal; the monitor reads it as a crash.
	 */
	syscall(SYS_exit_group, 128 + sig);
}

void syscall_filter_set_mode(enum syscall_filter_mode m)
{
	struct sigaction sa;

	sc_mode = m;
	if (m == SYSCALL_FILTER_OFF)
		return;
	/*
	 * One malloc arena: glibc shrinks a thread arena's heap only after
	 * reading /proc/sys/vm/overcommit_memory, an open the filters refuse;
	 * the main arena trims with brk.  The VMM's threads allocate little.
	 */
	mallopt(M_ARENA_MAX, 1);
	/*
	 * glibc reads /etc/localtime the first time anything converts a time,
	 * gmtime_r and timegm (the RTC) included: do it now, not on a vCPU.
	 */
	tzset();
	if (m != SYSCALL_FILTER_ON)
		return;
	for (int nr = 0; nr < SC_NAMES; nr++)
		if (!sc_names[nr])
			sc_names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sc_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSYS, &sa, NULL);
}

static int sc_add_rule(scmp_filter_ctx ctx, const struct sc_rule *r, unsigned int bit)
{
	int ret = 0;

	switch (r->check) {
	case ARGS_ANY:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 0);
	case ARGS_NOEXEC:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 1,
					SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	case ARGS_SELF:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 1,
					SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid(), 0));
	case ARGS_FCNTL: {
		static const int cmds[] = {
			F_GETFL,	 F_SETFL,     F_GETFD,	   F_SETFD,
			F_DUPFD_CLOEXEC, F_GET_SEALS, F_OFD_SETLK, F_OFD_GETLK
		};

		for (unsigned int i = 0; i < ARRAY_SIZE(cmds) && !ret; i++)
			ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 1,
					       SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)cmds[i], 0));
		return ret;
	}
	case ARGS_IOCTL:
		for (unsigned int i = 0; i < ARRAY_SIZE(sc_ioctls) && !ret; i++)
			if (sc_ioctls[i].roles & bit)
				ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 1,
						       SCMP_A1(SCMP_CMP_EQ, sc_ioctls[i].req, 0));
		return ret;
	}
	return -EINVAL;
}

/*
 * A jailed VMM drops its ids while its threads run: glibc makes each
 * thread change its own (the setxid broadcast), filters in place.  Only
 * to the jail's ids, which no capability is left to change again.
 */
static int sc_add_jail_rules(scmp_filter_ctx ctx)
{
	const struct jail_state *j = jail_state();
	int ret;

	ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(setgroups), 1,
			       SCMP_A0(SCMP_CMP_EQ, 0, 0));
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(setresgid), 3,
				       SCMP_A0(SCMP_CMP_EQ, j->gid, 0),
				       SCMP_A1(SCMP_CMP_EQ, j->gid, 0),
				       SCMP_A2(SCMP_CMP_EQ, j->gid, 0));
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(setresuid), 3,
				       SCMP_A0(SCMP_CMP_EQ, j->uid, 0),
				       SCMP_A1(SCMP_CMP_EQ, j->uid, 0),
				       SCMP_A2(SCMP_CMP_EQ, j->uid, 0));
	return ret;
}

/* Built from the tables, for the calling thread's role. */
static int sc_build(enum thread_role role, enum syscall_filter_mode mode, scmp_filter_ctx *out)
{
	unsigned int bit = 1u << role;
	scmp_filter_ctx ctx;
	int ret = 0;

	ctx = seccomp_init(mode == SYSCALL_FILTER_LOG ? SCMP_ACT_LOG : SCMP_ACT_TRAP);
	if (!ctx)
		return -ENOMEM;
	/* x32 and i386 entry points are not in the table: they kill at once. */
	ret = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (!ret)
		ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	for (unsigned int i = 0; i < ARRAY_SIZE(sc_rules) && !ret; i++)
		if (sc_rules[i].roles & bit)
			ret = sc_add_rule(ctx, &sc_rules[i], bit);
	if (!ret && jail_state()->active)
		ret = sc_add_jail_rules(ctx);
	for (unsigned int i = 0; i < ARRAY_SIZE(sc_quiet) && !ret; i++)
		if (sc_quiet[i].roles & bit)
			ret = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(sc_quiet[i].err), sc_quiet[i].nr,
					       0);
	if (ret) {
		seccomp_release(ctx);
		return ret;
	}
	*out = ctx;
	return 0;
}

/*
 * The test-only hook (tests/integration/test_seccomp.py): with
 * VESSEL_SECCOMP_SELFTEST=ROLE, a thread of that role, right after its
 * filter is in place, opens a file (refused: EACCES) and then creates an
 * inet socket, which no role allows.
 */
static void sc_selftest(enum thread_role role)
{
	const char *want = getenv("VESSEL_SECCOMP_SELFTEST");
	int fd;

	if (!want || strcmp(want, thread_role_name(role)))
		return;
	fd = (int)syscall(SYS_openat, AT_FDCWD, "/etc/hostname", O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		close(fd);
	fd = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0)
		close(fd);
}

int syscall_filter_install(enum thread_role role)
{
	scmp_filter_ctx ctx;
	uint64_t t0;
	sigset_t sys;
	int ret;

	/* Landlock first: the filters do not allow its calls */
	if ((ret = jail_thread_restrict())) {
		log_err("jail: Landlock: %s", strerror(-ret));
		return ret;
	}
	if (sc_mode == SYSCALL_FILTER_OFF)
		return 0;
	if (!((1u << role) & FILTERED_ROLES))
		return -EINVAL;
	t0 = now_ns();
	ret = sc_build(role, sc_mode, &ctx);
	if (ret) {
		log_err("seccomp: cannot build the %s filter: %s", thread_role_name(role),
			strerror(-ret));
		return ret;
	}
	sc_thread_role = thread_role_name(role);
	if (prctl(PR_GET_NAME, sc_thread_name) < 0)
		sc_thread_name[0] = '\0';
	/* A blocked SIGSYS would kill without the handler's line (signal(7)). */
	sigemptyset(&sys);
	sigaddset(&sys, SIGSYS);
	pthread_sigmask(SIG_UNBLOCK, &sys, NULL);
	ret = seccomp_load(ctx);
	seccomp_release(ctx);
	if (ret) {
		log_err("seccomp: cannot load the %s filter: %s", thread_role_name(role),
			strerror(-ret));
		return ret;
	}
	__atomic_fetch_add(&sc_installed, 1, __ATOMIC_RELAXED);
	/* built and loaded per thread: bench/startup's figure for the filters */
	log_debug("seccomp: %s filter (%s) in %llu us", thread_role_name(role),
		  syscall_filter_mode_name(sc_mode), (unsigned long long)(now_ns() - t0) / 1000);
	sc_selftest(role);
	return 0;
}

size_t syscall_filter_list(enum thread_role role, const char **names, size_t max)
{
	unsigned int bit = 1u << role;
	size_t n = 0;

	if (!(bit & FILTERED_ROLES))
		return 0;
	for (unsigned int i = 0; i < ARRAY_SIZE(sc_rules); i++)
		if (sc_rules[i].roles & bit) {
			if (n < max)
				names[n] = sc_rules[i].name;
			n++;
		}
	return n;
}
