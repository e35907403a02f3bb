// SPDX-License-Identifier: MIT
/*
 * The jailer (jail.h, docs/jail.md).  Namespaces: namespaces(7),
 * pid_namespaces(7), mount_namespaces(7); the root: pivot_root(2); ids and
 * capabilities: capabilities(7) ("Effect of user ID changes"); Landlock:
 * the kernel's Documentation/userspace-api/landlock.rst.
 *
 * The VMM opens everything it needs while start-up runs (docs/seccomp.md),
 * so the jail's root holds nothing it reads: an empty tmpfs with the
 * configured device nodes bound read-only, for the record of what the
 * VMM may use and nothing else.  Host paths stay reachable only through
 * the fds the VMM already holds.
 */
#include "util/jail.h"
#include "util/cgroup.h"
#include "util/error.h"
#include "util/log.h"
#include "util/reaper.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Where each jailed VMM mounts its own root, in its own mount namespace. */
#define JAIL_ROOT "/run/vessel-jail"
#define ENV_FD "VESSEL_JAIL_FD"
#define ENV_CGROUP "VESSEL_JAIL_CGROUP"

static const char *const jail_modes[] = JAIL_MODE_NAMES;

#define JK(n, t)                                                                               \
	{                                                                                      \
		.name = #n, .type = t, .flags = KEY_HAS, .off = offsetof(struct jail_spec, n), \
		.has_off = offsetof(struct jail_spec, has_##n), .max = UINT32_MAX - 1          \
	}

const struct key jail_keys[] = {
	{ .name = "mode",
	  .type = KEY_ENUM,
	  .off = offsetof(struct jail_spec, mode),
	  .words = jail_modes,
	  .def = "on",
	  .help = "off, auto (jailed where the host allows) or on (jailed, or no start)" },
	JK(uid, KEY_UINT),
	JK(gid, KEY_UINT),
	{ .name = "cpu_max",
	  .type = KEY_STRING,
	  .off = offsetof(struct jail_spec, cpu_max),
	  .max = 40,
	  .help = "cgroup v2 cpu.max: \"QUOTA PERIOD\" in microseconds, or max" },
	JK(memory_max, KEY_SIZE),
	{ .name = "pids_max",
	  .type = KEY_UINT,
	  .off = offsetof(struct jail_spec, pids_max),
	  .min = 0,
	  .max = 1u << 22,
	  .help = "cgroup v2 pids.max (0: 512 + the VMM's threads)" },
	{ .name = "nofile",
	  .type = KEY_UINT,
	  .off = offsetof(struct jail_spec, nofile),
	  .min = 0,
	  .max = 1u << 20,
	  .help = "RLIMIT_NOFILE (0: the fds open + 256)" },
	JK(fsize, KEY_SIZE),
	{ 0 },
};

static struct jail_state js;
static struct jail_spec jspec; /* jail_enter's, for jail_lockdown: numbers only */
static int jail_ack_rd = -1;   /* the inner half's end of the ack pipe */
static bool die_with_outer;
static pid_t host_pid;
static int landlock_fd = -1;
static int jail_ack = -1; /* the outer half's end of the cleanup's ack */

const struct jail_state *jail_state(void)
{
	return &js;
}

/* --- the outer half --- */

/* The capabilities a jail needs, by name; the missing ones into buf. */
static bool jail_privileged(char *buf, size_t len)
{
	static const struct {
		int cap;
		const char *name;
	} need[] = {
		{ CAP_SYS_ADMIN, "CAP_SYS_ADMIN" },   { CAP_SETUID, "CAP_SETUID" },
		{ CAP_SETGID, "CAP_SETGID" },	      { CAP_SETPCAP, "CAP_SETPCAP" },
		{ CAP_SYS_CHROOT, "CAP_SYS_CHROOT" },
	};
	unsigned long long eff = 0;
	char line[128];
	FILE *f = fopen("/proc/self/status", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	if (f)
		fclose(f);
	buf[0] = '\0';
	for (unsigned int i = 0; i < ARRAY_SIZE(need); i++)
		if (!(eff & (1ull << need[i].cap))) {
			size_t n = strlen(buf);

			snprintf(buf + n, len - n, "%s%s", n ? ", " : "", need[i].name);
		}
	return !buf[0];
}

int jail_outer_fork(const struct jail_spec *j, const char *name, unsigned int nr_threads,
		    pid_t *child, int *rfd, struct error *err)
{
	struct cgroup_limits lim = { j->cpu_max, j->has_memory_max ? j->memory_max : 0,
				     j->pids_max ? j->pids_max : 512 + nr_threads };
	bool limits = j->cpu_max || j->has_memory_max || j->pids_max;
	char missing[96], leaf[32], cg[CGROUP_PATH_MAX] = "";
	struct error cgerr = ERROR_INIT;
	int p[2], a[2];
	pid_t c;

	if (!jail_privileged(missing, sizeof(missing))) {
		if (j->mode == JAIL_ON)
			return error_setf(err, -EPERM,
					  "cannot jail the VMM: it needs %s (run as root, or "
					  "\"jail\": \"off\")",
					  missing);
		snprintf(js.why_not, sizeof(js.why_not), "not jailed: needs %s", missing);
		return 1;
	}
	if (!name) {
		snprintf(leaf, sizeof(leaf), "run-%d", (int)getpid());
		name = leaf;
	}
	if (cgroup_leaf_create(name, &lim, cg, sizeof(cg), &cgerr)) {
		/* limits asked for and not applied would be a silent lie */
		if (limits) {
			error_propagate(err, &cgerr);
			return error_prefix(err, "cannot apply the jail's cgroup limits");
		}
		snprintf(js.why_not, sizeof(js.why_not), "no cgroup: %s", error_msg(&cgerr));
		cg[0] = '\0';
	}
	if (pipe2(p, O_CLOEXEC) < 0)
		goto fail_errno;
	if (pipe2(a, O_CLOEXEC) < 0) {
		close(p[0]);
		close(p[1]);
		goto fail_errno;
	}
	jail_ack = a[1];
	if (unshare(CLONE_NEWPID) < 0) {
		close(p[0]);
		close(p[1]);
		goto fail_errno;
	}
	c = fork();
	if (c < 0) {
		close(p[0]);
		close(p[1]);
		goto fail_errno;
	}
	if (c == 0) {
		char fd[16];

		close(p[0]);
		close(a[1]);
		/* the write end lives on in the VMM, across its exec, and the ack's read end */
		fcntl(p[1], F_SETFD, 0);
		fcntl(a[0], F_SETFD, 0);
		snprintf(fd, sizeof(fd), "%d,%d", p[1], a[0]);
		setenv(ENV_FD, fd, 1);
		if (cg[0])
			setenv(ENV_CGROUP, cg, 1);
		return 0;
	}
	close(p[1]);
	close(a[0]);
	*child = c;
	*rfd = p[0];
	/* the leaf's path for jail_outer_wait, which runs in this process */
	snprintf(js.cgroup, sizeof(js.cgroup), "%s", cg);
	return 2;
fail_errno:
	error_set_errno(err, -errno, "cannot jail the VMM");
	if (cg[0])
		cgroup_leaf_remove(cg);
	return err->code;
}

int jail_outer_wait(pid_t child, int rfd)
{
	int status = 0;

	/* EOF when the VMM is gone, or says so (reaper_finish) */
	reaper_serve(rfd);
	reaper_run_cleanup();
	/* done: a VMM waiting in reaper_finish may exit now */
	if (jail_ack >= 0)
		close(jail_ack);
	jail_ack = -1;
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	close(rfd);
	if (js.cgroup[0])
		cgroup_leaf_remove(js.cgroup);
	return status;
}

void jail_selftest(void)
{
	const char *path = getenv("VESSEL_JAIL_SELFTEST");
	int fd;

	if (!path || !js.locked)
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	log_warn("jail selftest: open %s: %s", path, fd < 0 ? strerror(errno) : "opened");
	if (fd >= 0)
		close(fd);
}

int jail_die_with_outer(void)
{
	die_with_outer = true;
	return prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 ? -errno : 0;
}

void jail_note_not_jailed(const char *why)
{
	snprintf(js.why_not, sizeof(js.why_not), "%s", why);
}

/* --- the inner half --- */

bool jail_requested(void)
{
	return getenv(ENV_FD) != NULL;
}

static pid_t proc_self_link(const char *link, bool tid)
{
	char buf[64], *t;
	ssize_t n = readlink(link, buf, sizeof(buf) - 1);

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	t = tid ? strstr(buf, "/task/") : NULL;
	return (pid_t)atoi(t ? t + 6 : buf);
}

pid_t jail_host_pid(void)
{
	return host_pid ? host_pid : getpid();
}

pid_t jail_host_tid(void)
{
	/* /proc is the host's until the jail's root replaces it */
	pid_t t = js.active && !js.locked ? proc_self_link("/proc/thread-self", true) : 0;

	return t ? t : (pid_t)syscall(SYS_gettid);
}

/* Landlock's ABI version (landlock.rst: "Backward compatibility"), 0 without it. */
static int landlock_abi(void)
{
	long v = syscall(SYS_landlock_create_ruleset, NULL, 0, 1u /* ..._VERSION */);

	return v > 0 ? (int)v : 0;
}

/*
 * A ruleset that handles every file system right the kernel knows, and
 * TCP bind and connect from ABI 4, and grants none: a restricted thread
 * reaches no path and no TCP port, and keeps the fds it holds (rights are
 * checked when a file is opened, and fds opened before keep all).
 */
static int landlock_prepare(void)
{
	struct {
		uint64_t fs, net;
	} attr = { 0, 0 };
	int abi = landlock_abi();
	size_t size = sizeof(uint64_t);

	if (!abi)
		return 0;
	attr.fs = (1ull << 13) - 1; /* ABI 1: EXECUTE .. MAKE_SYM */
	if (abi >= 2)
		attr.fs |= 1ull << 13; /* REFER */
	if (abi >= 3)
		attr.fs |= 1ull << 14; /* TRUNCATE */
	if (abi >= 5)
		attr.fs |= 1ull << 15; /* IOCTL_DEV */
	if (abi >= 4) {
		attr.net = 3; /* BIND_TCP, CONNECT_TCP */
		size = sizeof(attr);
	}
	landlock_fd = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
	if (landlock_fd < 0)
		return -errno;
	js.landlock_abi = abi;
	return 0;
}

int jail_thread_restrict(void)
{
	if (landlock_fd < 0)
		return 0;
	/* no_new_privs is already set (jail_enter), as landlock.rst requires */
	if (syscall(SYS_landlock_restrict_self, landlock_fd, 0) < 0)
		return -errno;
	return 0;
}

static int bind_dev(const char *dev, struct error *err)
{
	char dst[128];
	int fd;

	snprintf(dst, sizeof(dst), "%s%s", JAIL_ROOT, dev);
	if (access(dev, F_OK) < 0)
		return 0; /* not on this host: the VMM's own open says so */
	if (!strncmp(dev, "/dev/net/", 9)) {
		char d[128];

		snprintf(d, sizeof(d), "%s/dev/net", JAIL_ROOT);
		mkdir(d, 0755);
	}
	fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
	if (mount(dev, dst, NULL, MS_BIND, NULL) < 0 ||
	    mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL) <
		    0)
		return error_set_errno(err, -errno, "cannot bind %s into the jail", dev);
	return 0;
}

int jail_enter(const struct jail_spec *j, const char *name, bool new_net, const char *const devs[],
	       struct error *err)
{
	int flags = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | (new_net ? CLONE_NEWNET : 0);
	const char *fd = getenv(ENV_FD), *cg = getenv(ENV_CGROUP);
	int r;

	host_pid = proc_self_link("/proc/self", false);
	jspec = *j;
	jspec.cpu_max = NULL;
	js.uid = j->has_uid ? j->uid : JAIL_DEFAULT_ID;
	js.gid = j->has_gid ? j->gid : JAIL_DEFAULT_ID;
	if (cg) {
		if ((r = cgroup_join(cg)))
			return error_set_errno(err, r, "cannot join the cgroup %s", cg);
		snprintf(js.cgroup, sizeof(js.cgroup), "%s", cg);
	}
	/* inherited by every thread from here; Landlock needs it */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return error_set_errno(err, -errno, "no_new_privs");
	if (unshare(flags) < 0)
		return error_set_errno(err, -errno, "cannot unshare the namespaces");
	snprintf(js.namespaces, sizeof(js.namespaces), "mnt,pid,ipc,uts%s", new_net ? ",net" : "");
	/* nothing mounted here reaches the host, and the reverse (mount_namespaces(7)) */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return error_set_errno(err, -errno, "cannot make the mounts private");
	if (sethostname(name ? name : "vessel", strlen(name ? name : "vessel")) < 0)
		return error_set_errno(err, -errno, "sethostname");
	/* the bounding set: nothing this VMM execs could regain a capability */
	for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return error_set_errno(err, -errno, "cannot drop capability %d", cap);
	if (mkdir(JAIL_ROOT, 0700) < 0 && errno != EEXIST)
		return error_set_errno(err, -errno, "cannot create %s", JAIL_ROOT);
	if (mount("vessel-jail", JAIL_ROOT, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755") <
	    0)
		return error_set_errno(err, -errno, "cannot mount the jail's root");
	mkdir(JAIL_ROOT "/dev", 0755);
	for (unsigned int i = 0; devs && devs[i]; i++)
		if ((r = bind_dev(devs[i], err)))
			return r;
	if ((r = landlock_prepare()))
		log_warn("jail: no Landlock ruleset: %s", strerror(-r));
	if (fd && strchr(fd, ',')) {
		jail_ack_rd = atoi(strchr(fd, ',') + 1);
		reaper_attach(atoi(fd), jail_ack_rd);
	}
	unsetenv(ENV_FD);
	unsetenv(ENV_CGROUP);
	js.active = true;
	return 0;
}

/* RLIMIT_NOFILE's default: room above the highest fd open now. */
static unsigned int jail_nofile(const struct jail_spec *j)
{
	struct rlimit cur;
	int top = 0;
	DIR *d;

	if (j->nofile)
		return j->nofile;
	d = opendir("/proc/self/fd");
	for (struct dirent *e; d && (e = readdir(d));)
		if (atoi(e->d_name) > top)
			top = atoi(e->d_name);
	if (d)
		closedir(d);
	if (getrlimit(RLIMIT_NOFILE, &cur) == 0 && cur.rlim_max < (rlim_t)top + 257)
		return (unsigned int)cur.rlim_max;
	return top + 257 > 1024 ? (unsigned int)top + 257 : 1024;
}

static int jail_root(struct error *err)
{
	if (chdir(JAIL_ROOT) < 0)
		return error_set_errno(err, -errno, "cannot enter %s", JAIL_ROOT);
	/* pivot_root(2): new and old root on ".", then the old one detached */
	if (syscall(SYS_pivot_root, ".", ".") == 0) {
		if (umount2(".", MNT_DETACH) < 0)
			return error_set_errno(err, -errno, "cannot detach the host's root");
		snprintf(js.root, sizeof(js.root), "pivot_root");
	} else if (errno == EINVAL) {
		/*
		 * An initramfs root cannot be pivoted (pivot_root(2): "the
		 * current root is not a mount point" of a parent): move the
		 * jail over it and chroot, as switch_root does.  Without
		 * CAP_SYS_CHROOT, which goes below, there is no way out.
		 */
		if (mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0)
			return error_set_errno(err, -errno, "cannot enter the jail's root");
		snprintf(js.root, sizeof(js.root), "chroot");
	} else {
		return error_set_errno(err, -errno, "pivot_root");
	}
	if (chdir("/") < 0 ||
	    mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL) < 0)
		return error_set_errno(err, -errno, "cannot make the jail's root read-only");
	return 0;
}

int jail_lockdown(struct error *err)
{
	const struct jail_spec *j = &jspec;
	unsigned int nofile;
	struct rlimit rl;
	int r;

	if (!js.active)
		return 0;
	nofile = jail_nofile(j);
	if ((r = jail_root(err)))
		return r;
	js.locked = true;
	/*
	 * glibc changes the ids of every thread (its setxid broadcast), and
	 * a thread whose uids all become non-zero loses its capabilities
	 * (capabilities(7)): no capability is left anywhere in the VMM.
	 */
	if (setgroups(0, NULL) < 0 || setresgid(js.gid, js.gid, js.gid) < 0 ||
	    setresuid(js.uid, js.uid, js.uid) < 0)
		return error_set_errno(err, -errno, "cannot drop to uid %u gid %u", js.uid, js.gid);
	if (die_with_outer) {
		struct pollfd pfd = { .fd = jail_ack_rd, .events = POLLIN };

		/* a change of credentials clears the parent-death signal (prctl(2)) */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
			return error_set_errno(err, -errno, "PR_SET_PDEATHSIG");
		/* the outer half closes its end only when gone (or done with us) */
		if (jail_ack_rd >= 0 && poll(&pfd, 1, 0) > 0)
			return error_setf(err, -ESRCH, "the jail's outer half is gone");
	}
	rl.rlim_cur = rl.rlim_max = nofile;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return error_set_errno(err, -errno, "RLIMIT_NOFILE %u", nofile);
	if (j->has_fsize) {
		rl.rlim_cur = rl.rlim_max = j->fsize;
		if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
			return error_set_errno(err, -errno, "RLIMIT_FSIZE");
	}
	log_info("jailed: uid %u gid %u, namespaces %s, root %s, cgroup %s, Landlock %d", js.uid,
		 js.gid, js.namespaces, js.root, js.cgroup[0] ? js.cgroup : "none",
		 js.landlock_abi);
	return 0;
}
