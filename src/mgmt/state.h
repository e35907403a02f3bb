/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_VM_STATE_H
#define VESSEL_VM_STATE_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * The daemonless manager's state directory (docs/threads.md).
 *
 *   <data>/NAME.json          definition (vessel define)
 *   <run>/NAME.lock           flock: one CLI at a time changes a VM
 *   <run>/NAME/pid            "PID STARTTIME" of the running VMM
 *   <run>/NAME/api.sock       REST API
 *   <run>/NAME/console.sock   serial console
 *   <run>/NAME/config.json    the definition the VMM was started with
 *   <run>/NAME/vmm.log        VMM stdout/stderr
 *   <run>/NAME/exit           how the last run ended ("shutoff ..." / "crashed ...")
 *   <data>/NAME.log           lifecycle log (util/eventlog.h), kept after undefine
 *   <data>/NAME.autostart     present: start at host boot (vessel autostart)
 *   <run>/uuid.lock           flock: one define at a time checks uuids
 *   <run>/dedicated(.lock)    host CPUs claimed by dedicated-policy VMs
 *
 * root: run=/run/vessel, data=/var/lib/vessel; others: $XDG_RUNTIME_DIR/vessel
 * and $XDG_DATA_HOME/vessel; VESSEL_STATE_DIR=D overrides both (D/run, D/lib).
 *
 * A VMM is identified by pid *and* its start time (/proc/PID/stat field 22),
 * so a pid reused after a crash is never taken for the VM.
 */
#define STATE_PATH_MAX 256
#define STATE_NAME_MAX 64

struct state_dirs {
	char run[STATE_PATH_MAX];
	char data[STATE_PATH_MAX];
	char err[STATE_PATH_MAX + 128];	/* why state_dirs_init failed, one line */
};

struct state_vm {
	char name[STATE_NAME_MAX + 1];
	char def[STATE_PATH_MAX];
	char dir[STATE_PATH_MAX];
	char lock[STATE_PATH_MAX];
	char pid[STATE_PATH_MAX];
	char api[STATE_PATH_MAX];
	char console[STATE_PATH_MAX];
	char config[STATE_PATH_MAX];
	char log[STATE_PATH_MAX];
	char exit[STATE_PATH_MAX];
	char events[STATE_PATH_MAX];
	char autostart[STATE_PATH_MAX];
};

enum state_status {
	STATE_UNDEFINED, /* no definition and not running */
	STATE_SHUTOFF,
	STATE_RUNNING, /* VMM alive (the API tells running from paused) */
	STATE_CRASHED, /* VMM died without a clean exit, or a stale pid file */
};

/*
 * Resolve (and create, mode 0700) the run and data directories.  An
 * existing one must be a directory, not a symlink, owned by the caller's
 * euid, with mode 0700: otherwise -EPERM (-ELOOP, -ENOTDIR) and d->err
 * says what is wrong, since another local user could have made it.
 */
int state_dirs_init(struct state_dirs *d);
/* Fill the paths of one VM; -EINVAL for a bad name, -ENAMETOOLONG. */
int state_vm_init(const struct state_dirs *d, const char *name, struct state_vm *v);
bool state_name_valid(const char *name);

/*
 * Take the VM's lock (flock LOCK_EX on <run>/NAME.lock), waiting up to
 * timeout_ms.  Returns the fd to pass to state_unlock, -ETIMEDOUT or -errno.
 */
int state_lock(const char *path, int timeout_ms);
/* Remove the lock file and unlock: for a name with nothing left (undefined). */
void state_lock_drop(const char *path, int fd);
void state_unlock(int fd);

/* /proc/PID/stat start time (clock ticks since boot); -ESRCH if gone. */
int state_proc_starttime(pid_t pid, uint64_t *out);
int state_write_pid(const struct state_vm *v, pid_t pid, uint64_t starttime);
int state_read_pid(const struct state_vm *v, pid_t *pid, uint64_t *starttime);
/* Is this exact process (pid + start time) alive and not a zombie? */
bool state_pid_alive(pid_t pid, uint64_t starttime);
/* Seconds the process has been running, or -1. */
long state_proc_uptime(pid_t pid);

/* Status from the files; *pid is the VMM's when running (else 0). */
enum state_status state_vm_status(const struct state_vm *v, pid_t *pid);
const char *state_status_name(enum state_status s);
/* Remove the runtime files of a VM that is not running (keeps the log). */
void state_vm_clean(const struct state_vm *v);
/* Record how the run ended: `what` is "shutoff" or "crashed". */
int state_write_exit(const struct state_vm *v, const char *what, const char *detail);

/* Write a file atomically (temp file + rename), mode 0600. */
int state_write_file(const char *path, const char *data, size_t len);
/* mkdir -p with mode 0700. */
int state_mkdir(const char *path);
/* Names of all defined VMs, sorted; free with state_names_free. */
int state_list_defined(const struct state_dirs *d, char ***names, size_t *n);
void state_names_free(char **names, size_t n);

/*
 * A host-wide claim of VM NAME (dedicated CPUs, memory) still counts: the
 * VM runs, or a CLI holds its lock (a start in progress).
 */
bool state_claim_alive(const struct state_dirs *d, const char *name);

/*
 * Dedicated host CPUs: a host-wide registry under <run>/dedicated.lock.
 * Claim `want` for NAME (replacing its old claim); claims of VMs whose
 * VMM is gone are dropped.  On overlap, -EBUSY and *owner names the VM.
 * With want == NULL and count > 0, pick `count` free CPUs from `allowed`
 * and return them in *got.
 */
int state_dedicated_claim(const struct state_dirs *d, const char *name, const cpu_set_t *want,
			  unsigned int count, const cpu_set_t *allowed, cpu_set_t *got, char *owner,
			  size_t ownerlen);
void state_dedicated_release(const struct state_dirs *d, const char *name);

/*
 * Jail ids (mgmt/jailid.c, docs/jail.md): the uid and gid of a jailed VM
 * whose definition names none, one per running VM from
 * STATE_JAIL_ID_BASE, registered in <run>/jail-ids/.  0 or -errno.
 */
#define STATE_JAIL_ID_BASE 1700000000u
int state_jail_id_claim(const struct state_dirs *d, const char *name, unsigned int *id);
void state_jail_id_release(const struct state_dirs *d, const char *name);

#endif
