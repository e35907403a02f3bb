// SPDX-License-Identifier: MIT
/*
 * The daemonless VM manager (virsh's verbs): define, undefine, start, list,
 * info, pause, resume, shutdown, destroy, reboot.  There is no central
 * daemon: `start` spawns a detached `vessel run` under a small per-VM
 * monitor process that records how it ended, and every other command reads
 * the state directory or talks to the VM's REST API.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/client.h"
#include "block/block.h"
#include "cli/cli.h"
#include "cli/mgmt.h"
#include "mem/numa.h"
#include "util/error.h"
#include "util/eventlog.h"
#include "util/jail.h"
#include "vm/host_check.h"
#include "util/util.h"
#include "vm/config_json.h"
#include "vm/snapshot.h"
#include "mgmt/admission.h"
#include "mgmt/network.h"

#define START_TIMEOUT_MS 30000

/* Make a relative path in a definition relative to the file it came from. */
static int absolutize(char **p, const char *base)
{
	char *abs;

	if (!*p || (*p)[0] == '/')
		return 0;
	if (asprintf(&abs, "%s/%s", base, *p) < 0)
		return -ENOMEM;
	free(*p);
	*p = abs;
	return 0;
}

static int absolutize_all(struct vm_config *c, const char *file)
{
	char *copy = strdup(file), *dir, *real;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	dir = dirname(copy);
	real = realpath(dir, NULL);
	if (!real) {
		free(copy);
		return -errno;
	}
	r |= absolutize(&c->kernel, real);
	r |= absolutize(&c->initrd, real);
	for (unsigned int i = 0; i < vm_config_nr_disks(c); i++)
		r |= absolutize(&vm_config_disk(c, i)->path, real);
	free(real);
	free(copy);
	return r ? -ENOMEM : 0;
}

/*
 * Pin the format of every disk that has none: probed once, here, and kept
 * in the definition.  A guest may write anything into its raw disk, a
 * qcow2 header too; were the format probed at every start, what it wrote
 * would decide how its disk opens next time, with a backing file of its
 * choosing: any host file the VMM can read (issue 9).  missing_ok: a disk
 * that does not exist yet (at define) is pinned at its first start.
 * Returns how many were pinned, or -1 after one error line.
 */
static int pin_disk_formats(struct vm_config *c, bool missing_ok)
{
	int pinned = 0;

	for (unsigned int i = 0; i < vm_config_nr_disks(c); i++) {
		struct vm_disk_config *d = vm_config_disk(c, i);
		struct error e = ERROR_INIT;
		const char *fmt;

		if (d->format)
			continue;
		if (missing_ok && access(d->path, F_OK) && errno == ENOENT)
			continue;
		if (blk_probe_format(d->path, &fmt, &e))
			return cli_error("%s", error_msg(&e)), -1;
		d->format = strdup(fmt);
		if (!d->format)
			return cli_error("out of memory"), -1;
		pinned++;
	}
	return pinned;
}

/*
 * Validate the definition in FILE and store it as NAME (define, edit).
 * Relative paths in it are relative to BASE's directory.  0, or 1 after
 * one error line naming SHOWN (what the user calls the file).
 */
int cli_define_from_file(const char *name, const char *file, const char *base, const char *shown)
{
	struct error err = ERROR_INIT;
	struct vm_config c;
	struct mgmt m;
	int r;

	if (mgmt_open(name, &m))
		return 1;
	vm_config_init(&c);
	r = vm_config_load_json(file, &c, &err);
	if (r) {
		vm_config_free(&c);
		/* the parser's message names FILE; say it as the user knows it */
		if (strcmp(file, shown) && !strncmp(error_msg(&err), file, strlen(file)))
			return cli_error("%s%s", shown, error_msg(&err) + strlen(file));
		return cli_error("%s", error_msg(&err));
	}
	if (c.name && strcmp(c.name, name)) {
		cli_error("%s: name: \"%s\" does not match the VM name '%s'", shown, c.name, name);
		vm_config_free(&c);
		return 1;
	}
	free(c.name);
	c.name = strdup(name);
	if (!c.kernel) {
		vm_config_free(&c);
		return cli_error("%s: kernel: missing", shown);
	}
	if (absolutize_all(&c, base))
		error_setf(&err, -ENOMEM, "cannot resolve paths");
	else if (!vm_config_validate(&c, &err) && c.api_socket)
		error_setf(&err, -EINVAL, "api_socket: set by vessel start; remove it");
	if (error_is_set(&err)) {
		cli_error("%s: %s", shown, error_msg(&err));
		vm_config_free(&c);
		return 1;
	}
	if (pin_disk_formats(&c, true) < 0) {
		vm_config_free(&c);
		return 1;
	}
	r = mgmt_lock(&m);
	if (!r) {
		int ufd;

		r = cli_uuid_claim(&m, &c, shown, &ufd);
		if (!r) {
			r = mgmt_save(m.vm.def, &c);
			if (r)
				cli_error("%s: %s", m.vm.def, strerror(-r));
			state_unlock(ufd);
		}
		mgmt_close(&m);
	}
	vm_config_free(&c);
	return r ? 1 : 0;
}

int cmd_define(int argc, char **argv)
{
	const char *name = NULL, *file = NULL;

	if (mgmt_help(argc, argv,
		      "vessel define NAME --config FILE\n\nStore a VM definition (JSON, "
		      "docs/config.md) under NAME."))
		return 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			file = argv[++i];
		else if (!strncmp(argv[i], "--config=", 9))
			file = argv[i] + 9;
		else if (argv[i][0] != '-' && !name)
			name = argv[i];
		else
			return cli_usage("vessel define NAME --config FILE");
	}
	if (!name || !file)
		return cli_usage("vessel define NAME --config FILE");
	if (cli_define_from_file(name, file, file, file))
		return 1;
	cli_note("VM '%s' defined from %s\n", name, file);
	return 0;
}

int cmd_undefine(int argc, char **argv)
{
	enum state_status s;
	struct mgmt m;

	if (mgmt_help(argc, argv,
		      "vessel undefine NAME\n\nRemove the definition of a VM that is not running."))
		return 0;
	if (argc != 2)
		return cli_usage("vessel undefine NAME");
	if (mgmt_open(argv[1], &m) || mgmt_lock(&m))
		return 1;
	s = state_vm_status(&m.vm, NULL);
	if (s == STATE_RUNNING) {
		mgmt_close(&m);
		return cli_error("VM '%s' is running; destroy it first", m.vm.name);
	}
	if (unlink(m.vm.def) < 0 && s != STATE_CRASHED) {
		int e = errno;

		mgmt_close(&m);
		if (e == ENOENT)
			return cli_error("VM '%s' is not defined", m.vm.name);
		return cli_error("%s: %s", m.vm.def, strerror(e));
	}
	state_vm_clean(&m.vm);
	unlink(m.vm.exit);
	unlink(m.vm.config);
	unlink(m.vm.log);
	unlink(m.vm.autostart);
	rmdir(m.vm.dir);
	state_dedicated_release(&m.dirs, m.vm.name);
	state_jail_id_release(&m.dirs, m.vm.name);
	mgmt_close(&m);
	cli_note("VM '%s' undefined\n", argv[1]);
	return 0;
}

/*
 * The per-VM monitor: runs the VMM as its child, waits for it, and records
 * how it ended so `list` can tell a clean shutdown from a crash.  It keeps
 * no lock while the VM runs; it takes the VM's lock only to write the end,
 * and only if the pid file still names its child (destroy or a new start
 * may have dealt with it already).
 */
static void monitor_main(const struct mgmt *m, const struct vm_config *cfg, const char *exe,
			 char *const argv[])
{
	struct error err = ERROR_INIT;
	uint64_t st = 0, st2;
	char detail[128];
	int status, fd, rfd = -1, j = 1;
	pid_t c, p;
	bool crashed;

	prctl(PR_SET_NAME, "vessel-monitor");
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	/*
	 * A jailed VMM (docs/jail.md): this monitor is the jail's outer
	 * half, so the pid it records is the VMM's own, in its new pid
	 * namespace, and it cleans up what the jailed VMM cannot.
	 */
	if (cfg->jail.mode != JAIL_OFF) {
		j = jail_outer_fork(&cfg->jail, m->vm.name, cfg->nr_cpus + 8, &c, &rfd, &err);
		if (j < 0) {
			fprintf(stderr, "vessel: %s\n", error_msg(&err));
			_exit(1);
		}
		if (j == 1)
			setenv("VESSEL_JAIL_NOT", jail_state()->why_not, 1);
	}
	if (j == 1)
		c = fork();
	if (c < 0)
		_exit(1);
	if (c == 0) {
		signal(SIGHUP, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		execv(exe, argv);
		fprintf(stderr, "vessel: cannot run %s: %s\n", exe, strerror(errno));
		_exit(127);
	}
	if (state_proc_starttime(c, &st) == 0)
		state_write_pid(&m->vm, c, st);
	if (rfd >= 0)
		status = jail_outer_wait(c, rfd);
	else
		while (waitpid(c, &status, 0) < 0 && errno == EINTR)
			;
	fd = state_lock(m->vm.lock, 24 * 3600 * 1000);
	if (state_read_pid(&m->vm, &p, &st2) == 0 && p == c && st2 == st) {
		if (WIFSIGNALED(status)) {
			crashed = true;
			snprintf(detail, sizeof(detail), "killed by signal %d (%s)",
				 WTERMSIG(status), strsignal(WTERMSIG(status)));
		} else {
			/* vessel run exits 1 on a guest crash or a failed start. */
			crashed = WEXITSTATUS(status) == 1 || WEXITSTATUS(status) >= 127;
			snprintf(detail, sizeof(detail), "exit status %d", WEXITSTATUS(status));
		}
		state_write_exit(&m->vm, crashed ? "crashed" : "shutoff", detail);
		/* the VMM wrote why it stopped; a signal it could not see is ours to say */
		if (WIFSIGNALED(status))
			eventlog_append(m->vm.events, "crashed: the VMM was %s", detail);
		else
			eventlog_append(m->vm.events, "VMM exited: %s (%s)", detail,
					crashed ? "crashed" : "shut off");
		state_vm_clean(&m->vm);
		state_dedicated_release(&m->dirs, m->vm.name);
		state_jail_id_release(&m->dirs, m->vm.name);
	}
	state_unlock(fd);
	_exit(0);
}

/* Fork the detached monitor (setsid, double fork, stdio to the VM's log). */
static int spawn_detached(const struct mgmt *m, const struct vm_config *cfg, const char *exe,
			  char *const argv[])
{
	int status;
	pid_t a;

	a = fork();
	if (a < 0)
		return -errno;
	if (a == 0) {
		int log = open(m->vm.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		int nul = open("/dev/null", O_RDWR | O_CLOEXEC);

		/* Keep no directory busy (the definition's paths are absolute). */
		if (log < 0 || nul < 0 || setsid() < 0 || chdir("/") < 0)
			_exit(1);
		dup2(nul, 0);
		dup2(log, 1);
		dup2(log, 2);
		/* Our lock and the caller's pipes must not live on in the VM. */
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		a = fork();
		if (a != 0)
			_exit(a < 0);
		monitor_main(m, cfg, exe, argv);
	}
	while (waitpid(a, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

/* Print what the VMM wrote to its log since `from`. */
static void print_log_tail(const char *log, off_t from)
{
	char buf[2048];
	ssize_t n;
	int fd = open(log, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	struct stat sb;

	if (fstat(fd, &sb) == 0 && sb.st_size - from > (off_t)sizeof(buf) - 1)
		from = sb.st_size - (off_t)sizeof(buf) + 1;
	n = pread(fd, buf, sizeof(buf) - 1, from);
	close(fd);
	if (n > 0) {
		buf[n] = '\0';
		fprintf(stderr, "%s", buf);
		if (buf[n - 1] != '\n')
			fputc('\n', stderr);
	}
}

/* Dedicated policy: claim host CPUs and pin vCPUs 1:1 to them. */
static int start_dedicated(struct mgmt *m, struct vm_config *c)
{
	cpu_set_t want, got, allowed;
	char owner[80] = "", list[256];
	bool pinned = c->vcpu_pinned[0];
	int r;

	CPU_ZERO(&want);
	for (unsigned int i = 0; pinned && i < c->nr_cpus; i++)
		CPU_OR(&want, &want, &c->vcpu_affinity[i]);
	if (sched_getaffinity(0, sizeof(allowed), &allowed))
		CPU_ZERO(&allowed);
	r = state_dedicated_claim(&m->dirs, m->vm.name, pinned ? &want : NULL, c->nr_cpus, &allowed,
				  &got, owner, sizeof(owner));
	if (r == -EBUSY && *owner)
		return cli_error(
			"cannot start '%s': host CPUs %s overlap CPUs dedicated to VM '%s'",
			m->vm.name, cpuset_format(&want, list, sizeof(list)), owner);
	if (r == -EBUSY)
		return cli_error("cannot start '%s': fewer than %u host CPUs are free for "
				 "dedicated vCPUs",
				 m->vm.name, c->nr_cpus);
	if (r)
		return cli_error("dedicated CPU registry: %s", strerror(-r));
	if (!pinned) {
		unsigned int v = 0;

		for (int cpu = 0; cpu < CPU_SETSIZE && v < c->nr_cpus; cpu++) {
			if (!CPU_ISSET(cpu, &got))
				continue;
			CPU_ZERO(&c->vcpu_affinity[v]);
			CPU_SET(cpu, &c->vcpu_affinity[v]);
			c->vcpu_pinned[v++] = true;
		}
	}
	return 0;
}

/* SIGTERM, then SIGKILL after `grace_ms`; waits until the VMM is gone. */
static int kill_vmm(pid_t pid, uint64_t st, int grace_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)grace_ms * 1000000ull;
	bool killed = false;

	if (!state_pid_alive(pid, st))
		return 0;
	kill(pid, SIGTERM);
	for (;;) {
		if (!state_pid_alive(pid, st))
			return 0;
		if (!killed && now_ns() >= deadline) {
			kill(pid, SIGKILL);
			killed = true;
			deadline = now_ns() + 10000000000ull;
		} else if (killed && now_ns() >= deadline) {
			return -ETIMEDOUT;
		}
		usleep(2000);
	}
}

/* Wait for the new VMM to serve its API, or to die. */
static int start_wait(struct mgmt *m, off_t log_from)
{
	uint64_t deadline = now_ns() + START_TIMEOUT_MS * 1000000ull, st;
	pid_t pid = 0;

	while (now_ns() < deadline) {
		struct api_reply rep;

		if (!pid && state_read_pid(&m->vm, &pid, &st))
			pid = 0;
		if (pid && !state_pid_alive(pid, st)) {
			cli_error("VM '%s' failed to start; its log (%s) says:", m->vm.name,
				  m->vm.log);
			print_log_tail(m->vm.log, log_from);
			return 1;
		}
		/* Started means every vCPU thread runs (and has pinned itself). */
		if (pid &&
		    api_client_request(m->vm.api, "GET", "/vm/vcpus", NULL, 1000, &rep) == 0) {
			bool ok = rep.status == 200 && !strstr(rep.body, "\"created\"");

			api_reply_free(&rep);
			if (ok) {
				cli_note("VM '%s' started (pid %d)\n", m->vm.name, (int)pid);
				return 0;
			}
		}
		usleep(pid ? 2000 : 1000);
	}
	cli_error("VM '%s' did not answer on %s within %d s; see %s", m->vm.name, m->vm.api,
		  START_TIMEOUT_MS / 1000, m->vm.log);
	return 1;
}

/*
 * `vessel start` jails wherever the host allows (docs/jail.md): "auto"
 * unless the definition says, with a uid and gid of the VM's own unless
 * it names them.
 */
static int start_jail_ids(const struct mgmt *m, struct vm_config *c)
{
	unsigned int id;
	int r;

	if (!c->jail_given) {
		c->jail.mode = JAIL_AUTO;
		c->jail_given = true;
	}
	if (c->jail.mode == JAIL_OFF || (c->jail.has_uid && c->jail.has_gid))
		return 0;
	r = state_jail_id_claim(&m->dirs, m->vm.name, &id);
	if (r)
		return cli_error("cannot start '%s': no jail uid: %s", m->vm.name, strerror(-r));
	if (!c->jail.has_uid) {
		c->jail.uid = id;
		c->jail.has_uid = true;
	}
	if (!c->jail.has_gid) {
		c->jail.gid = id;
		c->jail.has_gid = true;
	}
	return 0;
}

/* Start the defined VM `name`; restore: from that save (vessel restore). */
int cli_start_named(const char *name, const char *restore, bool eager)
{
	char exe[4096], errbuf[512], *args[14];
	struct error err = ERROR_INIT;
	enum state_status s;
	struct vm_config c;
	struct stat sb;
	struct mgmt m;
	ssize_t n;
	int r;

	if (mgmt_open(name, &m) || mgmt_lock(&m))
		return 1;
	s = state_vm_status(&m.vm, NULL);
	if (s == STATE_RUNNING) {
		mgmt_close(&m);
		return cli_error("VM '%s' is already running", m.vm.name);
	}
	if (mgmt_load(&m, false, &c)) {
		mgmt_close(&m);
		return 1;
	}
	/* A definition edited by hand, or copied from another VM's file. */
	if (strcmp(c.name, m.vm.name)) {
		cli_error("%s: name: \"%s\" does not match the VM name '%s'", m.vm.def, c.name,
			  m.vm.name);
		vm_config_free(&c);
		mgmt_close(&m);
		return 1;
	}
	/* Left over from a crash: the VMM is gone, its files are not. */
	state_vm_clean(&m.vm);
	unlink(m.vm.exit);
	r = 1;
	/* Disks created after `define`: pinned now, for this and every later start. */
	switch (pin_disk_formats(&c, false)) {
	case -1:
		goto out;
	case 0:
		break;
	default:
		if (mgmt_save(m.vm.def, &c)) {
			cli_error("%s: cannot record the disk formats", m.vm.def);
			goto out;
		}
	}
	if (vm_config_check_host(&c, errbuf, sizeof(errbuf))) {
		cli_error("cannot start '%s': %s", m.vm.name, errbuf);
		eventlog_append(m.vm.events, "start refused: %s", errbuf);
		goto out;
	}
	/*
	 * The host's memory policy (mgmt/admission.h).  The claim counts from
	 * now on: our lock is held until the VMM runs, then the VMM is alive.
	 */
	r = admission_claim(&m.dirs, m.vm.name, &c, errbuf, sizeof(errbuf));
	if (r) {
		if (r == -ENOSPC || errbuf[0]) {
			cli_error("cannot start '%s': %s", m.vm.name, errbuf);
			eventlog_append(m.vm.events, "start refused: %s", errbuf);
		} else {
			cli_error("cannot start '%s': the host's memory claims: %s", m.vm.name,
				  strerror(-r));
		}
		r = 1;
		goto out;
	}
	r = 1;
	/* nets[].network: the VMM is handed the bridge and VLANs (mgmt/network.c). */
	if (network_resolve_nics(&m.dirs, &c, &err)) {
		cli_error("cannot start '%s': %s", m.vm.name, error_msg(&err));
		goto out;
	}
	if (c.dedicated_cpus && start_dedicated(&m, &c))
		goto out;
	/* Detached: the console goes to a socket (`vessel console`) unless pty/file. */
	if ((c.console.mode == CHARDEV_STDIO || c.console.mode == CHARDEV_SOCKET) &&
	    chardev_spec_set(&c.console, CHARDEV_SOCKET, m.vm.console)) {
		cli_error("out of memory");
		goto out;
	}
	if (start_jail_ids(&m, &c))
		goto out;
	free(c.api_socket);
	c.api_socket = strdup(m.vm.api);
	if (!c.api_socket) {
		cli_error("out of memory");
		goto out;
	}
	if (mkdir(m.vm.dir, 0700) < 0 && errno != EEXIST) {
		cli_error("%s: %s", m.vm.dir, strerror(errno));
		goto out;
	}
	r = mgmt_save(m.vm.config, &c);
	if (r) {
		cli_error("%s: %s", m.vm.config, strerror(-r));
		r = 1;
		goto out;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		cli_error("cannot find the vessel executable: %s", strerror(errno));
		r = 1;
		goto out;
	}
	exe[n] = '\0';
	args[0] = "vessel";
	args[1] = "run";
	args[2] = "--config";
	args[3] = m.vm.config;
	args[4] = "--name";
	args[5] = m.vm.name;
	args[6] = "--event-log";
	args[7] = m.vm.events;
	args[8] = NULL;
	if (restore) {
		args[8] = "--restore";
		args[9] = (char *)restore;
		args[10] = eager ? "--restore-eager" : NULL;
		args[11] = NULL;
	}
	eventlog_append(m.vm.events, "%s requested (vessel %s, uid %u)",
			restore ? "restore" : "start", restore ? "restore" : "start",
			(unsigned)getuid());
	sb.st_size = 0;
	stat(m.vm.log, &sb);
	r = spawn_detached(&m, &c, exe, args);
	if (r) {
		cli_error("cannot start '%s': %s", m.vm.name, strerror(-r));
		r = 1;
		goto out;
	}
	r = start_wait(&m, sb.st_size);
	if (r) {
		uint64_t st;
		pid_t pid;

		/* Not half-started: no VMM left behind, and `list` says shut off. */
		if (state_read_pid(&m.vm, &pid, &st) == 0)
			kill_vmm(pid, st, 1000);
		eventlog_append(m.vm.events, "start failed (see %s)", m.vm.log);
		state_vm_clean(&m.vm);
		state_write_exit(&m.vm, "shutoff", "failed to start");
	}
out:
	if (r && c.dedicated_cpus && state_vm_status(&m.vm, NULL) != STATE_RUNNING)
		state_dedicated_release(&m.dirs, m.vm.name);
	if (r && state_vm_status(&m.vm, NULL) != STATE_RUNNING)
		state_jail_id_release(&m.dirs, m.vm.name);
	vm_config_free(&c);
	mgmt_close(&m);
	return r;
}

int cmd_start(int argc, char **argv)
{
	if (mgmt_help(argc, argv,
		      "vessel start NAME\n\nStart a defined VM detached; its console is on a "
		      "socket (vessel console)."))
		return 0;
	if (argc != 2)
		return cli_usage("vessel start NAME");
	return cli_start_named(argv[1], NULL, false);
}

static int destroy_locked(struct mgmt *m, bool quiet, const char *why)
{
	enum state_status s;
	uint64_t st;
	pid_t pid;

	s = state_vm_status(&m->vm, NULL);
	if (quiet && (s == STATE_UNDEFINED || s == STATE_SHUTOFF))
		return 0;
	if (s == STATE_UNDEFINED)
		return cli_error("VM '%s' is not defined", m->vm.name);
	if (s == STATE_SHUTOFF)
		return cli_error("VM '%s' is not running", m->vm.name);
	if (s == STATE_RUNNING && state_read_pid(&m->vm, &pid, &st) == 0 && kill_vmm(pid, st, 5000))
		return cli_error("VM '%s' (pid %d) does not die", m->vm.name, (int)pid);
	state_vm_clean(&m->vm);
	state_write_exit(&m->vm, "shutoff", "destroyed");
	state_dedicated_release(&m->dirs, m->vm.name);
	state_jail_id_release(&m->dirs, m->vm.name);
	eventlog_append(m->vm.events, "destroyed (%s, uid %u)", why, (unsigned)getuid());
	return 0;
}

int cmd_destroy(int argc, char **argv)
{
	struct mgmt m;
	int r;

	if (mgmt_help(
		    argc, argv,
		    "vessel destroy NAME\n\nStop a VM at once (SIGTERM, then SIGKILL after 5 s)."))
		return 0;
	if (argc != 2)
		return cli_usage("vessel destroy NAME");
	if (mgmt_open(argv[1], &m) || mgmt_lock(&m))
		return 1;
	r = destroy_locked(&m, false, "vessel destroy");
	mgmt_close(&m);
	if (!r)
		cli_note("VM '%s' destroyed\n", argv[1]);
	return r;
}

int cmd_shutdown(int argc, char **argv)
{
	uint64_t timeout_s = 30, st, deadline;
	char err[256];
	const char *name = NULL;
	struct mgmt m;
	bool r204;
	pid_t pid;
	int r;

	if (mgmt_help(argc, argv,
		      "vessel shutdown NAME [--timeout SECONDS]\n\nPress the ACPI power button; "
		      "destroy the VM if it still runs after\nthe timeout (default 30 s)."))
		return 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			if (parse_u64(argv[++i], 24 * 3600, &timeout_s))
				return cli_error("--timeout '%s': expected seconds", argv[i]);
		} else if (argv[i][0] != '-' && !name) {
			name = argv[i];
		} else {
			return cli_usage("vessel shutdown NAME [--timeout SECONDS]");
		}
	}
	if (!name)
		return cli_usage("vessel shutdown NAME [--timeout SECONDS]");
	if (mgmt_open(name, &m) || mgmt_require_running(&m, &pid))
		return 1;
	if (state_read_pid(&m.vm, &pid, &st))
		return cli_error("VM '%s' is not running", name);
	{
		/* A paused guest cannot answer: do not wait out the timeout, then destroy. */
		struct json_object *o = NULL, *v;
		bool paused = mgmt_api(&m, "GET", "/vm", NULL, &o, err, sizeof(err)) == 200 &&
			      json_object_object_get_ex(o, "state", &v) &&
			      !strcmp(json_object_get_string(v), "paused");

		json_object_put(o);
		if (paused)
			return cli_error("VM '%s' is paused: its guest cannot answer the power "
					 "button (vessel resume %s first, or vessel destroy %s)",
					 name, name, name);
	}
	r = mgmt_api(&m, "PUT", "/vm/shutdown", NULL, NULL, err, sizeof(err));
	r204 = r == 204;
	if (!r204)
		fprintf(stderr, "vessel: ACPI shutdown request failed (%s); destroying\n", err);
	deadline = now_ns() + timeout_s * 1000000000ull;
	while (r204 && now_ns() < deadline && state_pid_alive(pid, st))
		usleep(10000);
	if (!state_pid_alive(pid, st)) {
		cli_note("VM '%s' shut down\n", name);
		return 0;
	}
	/* The guest ignored the power button: destroy, as promised. */
	if (mgmt_lock(&m))
		return 1;
	r = destroy_locked(&m, true, "vessel shutdown: the guest did not power off in time");
	mgmt_close(&m);
	if (!r)
		cli_note("VM '%s' did not shut down within %llu s; destroyed\n", name,
			 (unsigned long long)(r204 ? timeout_s : 0));
	return r;
}

static int simple_action(int argc, char **argv, const char *verb, const char *done)
{
	char path[32], err[256];
	struct mgmt m;
	int r;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("usage: vessel %s NAME\n", verb);
		return 0;
	}
	if (argc != 2)
		return cli_usage("vessel %s NAME", verb);
	if (mgmt_open(argv[1], &m) || mgmt_require_running(&m, NULL))
		return 1;
	snprintf(path, sizeof(path), "/vm/%s", verb);
	r = mgmt_api(&m, "PUT", path, NULL, NULL, err, sizeof(err));
	if (r == 409)
		return cli_error("cannot %s VM '%s': %s", verb, argv[1], err);
	if (r != 204)
		return cli_error("%s VM '%s': %s", verb, argv[1], err);
	cli_note("VM '%s' %s\n", argv[1], done);
	return 0;
}

int cmd_pause(int argc, char **argv)
{
	return simple_action(argc, argv, "pause", "paused");
}

int cmd_resume(int argc, char **argv)
{
	return simple_action(argc, argv, "resume", "resumed");
}

int cmd_reboot(int argc, char **argv)
{
	return simple_action(argc, argv, "reboot", "is being rebooted");
}
