// SPDX-License-Identifier: MIT
/*
 * State directory of the daemonless manager (layout in state.h).  Every
 * change to a VM's files happens under its flock, so concurrent CLIs
 * serialize; readers (list, info) need no lock because each file is
 * replaced atomically with rename().
 */
#include "mgmt/state.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"
#include "vm/config_json.h"

int state_mkdir(const char *path)
{
	char tmp[STATE_PATH_MAX];

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

__attribute__((format(printf, 3, 4))) static int pathf(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/*
 * The run and data directories hold every VM's sockets, console history
 * in the log and definitions.  /tmp/vessel-UID can be made by any local
 * user before we first run: whoever owns or can write to the directory
 * can replace our sockets and read the console.  So an existing one is
 * used only if it is a real directory (lstat: a symlink is not followed),
 * ours, and 0700; anything else is refused, never "fixed", because its
 * contents may already be someone else's.
 */
static int dir_private(const char *path, char *err, size_t len)
{
	uid_t me = geteuid();
	struct stat st;

	if (lstat(path, &st) < 0) {
		snprintf(err, len, "state directory %s: %s", path, strerror(errno));
		return -errno;
	}
	if (S_ISLNK(st.st_mode)) {
		snprintf(err, len, "state directory %s is a symbolic link; refusing to use it",
			 path);
		return -ELOOP;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, len, "state directory %s is not a directory", path);
		return -ENOTDIR;
	}
	if (st.st_uid != me) {
		snprintf(err, len,
			 "state directory %s is owned by uid %u, not by you (uid %u); refusing to "
			 "use it",
			 path, (unsigned int)st.st_uid, (unsigned int)me);
		return -EPERM;
	}
	if (st.st_mode & 077) {
		snprintf(err, len,
			 "state directory %s has mode %04o, it must be 0700 (others could reach "
			 "the VMs' sockets); refusing to use it",
			 path, (unsigned int)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

int state_dirs_init(struct state_dirs *d)
{
	const char *over = getenv("VESSEL_STATE_DIR");
	const char *xr = getenv("XDG_RUNTIME_DIR"), *xd = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");
	int r;

	d->err[0] = '\0';
	if (over && *over) {
		char cwd[STATE_PATH_MAX];

		/* Absolute: the detached VMM runs from "/". */
		if (over[0] != '/' && !getcwd(cwd, sizeof(cwd))) {
			r = -errno;
			snprintf(d->err, sizeof(d->err), "state directory: current directory: %s",
				 strerror(-r));
			return r;
		}
		r = pathf(d->run, sizeof(d->run), "%s%s%s/run", over[0] == '/' ? "" : cwd,
			  over[0] == '/' ? "" : "/", over);
		if (!r)
			r = pathf(d->data, sizeof(d->data), "%s%s%s/lib", over[0] == '/' ? "" : cwd,
				  over[0] == '/' ? "" : "/", over);
	} else if (geteuid() == 0) {
		r = pathf(d->run, sizeof(d->run), "/run/vessel");
		if (!r)
			r = pathf(d->data, sizeof(d->data), "/var/lib/vessel");
	} else {
		if (xr && *xr)
			r = pathf(d->run, sizeof(d->run), "%s/vessel", xr);
		else
			r = pathf(d->run, sizeof(d->run), "/tmp/vessel-%u",
				  (unsigned int)geteuid());
		if (r)
			goto bad;
		if (xd && *xd)
			r = pathf(d->data, sizeof(d->data), "%s/vessel", xd);
		else
			r = pathf(d->data, sizeof(d->data), "%s/.local/share/vessel",
				  home ? home : "/tmp");
	}
	if (r)
		goto bad;
	if ((r = state_mkdir(d->run))) {
		snprintf(d->err, sizeof(d->err), "state directory %s: %s", d->run, strerror(-r));
		return r;
	}
	if ((r = state_mkdir(d->data))) {
		snprintf(d->err, sizeof(d->err), "state directory %s: %s", d->data, strerror(-r));
		return r;
	}
	if ((r = dir_private(d->run, d->err, sizeof(d->err))) ||
	    (r = dir_private(d->data, d->err, sizeof(d->err))))
		return r;
	return 0;
bad:
	snprintf(d->err, sizeof(d->err), "state directory: %s", strerror(-r));
	return r;
}

bool state_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (!n || n > STATE_NAME_MAX || name[0] == '.' || name[0] == '-')
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_.-", *p))
			return false;
	return true;
}

int state_vm_init(const struct state_dirs *d, const char *name, struct state_vm *v)
{
	int r = 0;

	memset(v, 0, sizeof(*v));
	if (!state_name_valid(name))
		return -EINVAL;
	strcpy(v->name, name);
	r |= pathf(v->def, sizeof(v->def), "%s/%s.json", d->data, name);
	r |= pathf(v->dir, sizeof(v->dir), "%s/%s", d->run, name);
	r |= pathf(v->lock, sizeof(v->lock), "%s/%s.lock", d->run, name);
	r |= pathf(v->pid, sizeof(v->pid), "%s/%s/pid", d->run, name);
	r |= pathf(v->api, sizeof(v->api), "%s/%s/api.sock", d->run, name);
	r |= pathf(v->console, sizeof(v->console), "%s/%s/console.sock", d->run, name);
	r |= pathf(v->config, sizeof(v->config), "%s/%s/config.json", d->run, name);
	r |= pathf(v->log, sizeof(v->log), "%s/%s/vmm.log", d->run, name);
	r |= pathf(v->exit, sizeof(v->exit), "%s/%s/exit", d->run, name);
	r |= pathf(v->events, sizeof(v->events), "%s/%s.log", d->data, name);
	r |= pathf(v->autostart, sizeof(v->autostart), "%s/%s.autostart", d->data, name);
	/* Unix socket paths are limited to 107 bytes. */
	if (r || strlen(v->api) > 107 || strlen(v->console) > 107)
		return -ENAMETOOLONG;
	return 0;
}

int state_lock(const char *path, int timeout_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ull;

	for (;;) {
		struct stat a, b;
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

		if (fd < 0)
			return -errno;
		/*
		 * flock, not fcntl locks: it belongs to the open file, so a child
		 * we fork does not silently keep it after we close our copy.
		 */
		while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			int e = errno;

			if (e != EWOULDBLOCK && e != EINTR) {
				close(fd);
				return -e;
			}
			if (now_ns() >= deadline) {
				close(fd);
				return -ETIMEDOUT;
			}
			usleep(2000);
		}
		/*
		 * The holder before us may have removed the file (state_lock_drop):
		 * a lock on an unlinked inode locks nothing, so take the new one.
		 */
		if (!fstat(fd, &a) && !stat(path, &b) && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			return fd;
		close(fd);
	}
}

void state_lock_drop(const char *path, int fd)
{
	if (fd < 0)
		return;
	/* Unlinked while held: whoever waits on it sees that and retries. */
	unlink(path);
	state_unlock(fd);
}

void state_unlock(int fd)
{
	if (fd >= 0) {
		flock(fd, LOCK_UN);
		close(fd);
	}
}

int state_proc_starttime(pid_t pid, uint64_t *out)
{
	char path[64], buf[1024], *p;
	unsigned long long st;
	char state;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -ESRCH;
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: parse after the last ')'. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1,
			 " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
			 "%*d %*d %*d %*d %llu",
			 &state, &st) != 2)
		return -EPROTO;
	if (state == 'Z' || state == 'X')
		return -ESRCH;
	*out = st;
	return 0;
}

bool state_pid_alive(pid_t pid, uint64_t starttime)
{
	uint64_t st;

	if (pid <= 0 || state_proc_starttime(pid, &st))
		return false;
	return st == starttime;
}

long state_proc_uptime(pid_t pid)
{
	uint64_t st;
	double up;
	FILE *f;
	long hz = sysconf(_SC_CLK_TCK);

	if (state_proc_starttime(pid, &st) || hz <= 0)
		return -1;
	f = fopen("/proc/uptime", "re");
	if (!f)
		return -1;
	if (fscanf(f, "%lf", &up) != 1) {
		fclose(f);
		return -1;
	}
	fclose(f);
	return (long)(up - (double)st / (double)hz);
}

int state_write_file(const char *path, const char *data, size_t len)
{
	char tmp[STATE_PATH_MAX + 32];
	int fd, r;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	r = write_full(fd, data, len);
	if (!r && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (!r && rename(tmp, path) < 0)
		r = -errno;
	if (r)
		unlink(tmp);
	return r;
}

int state_write_pid(const struct state_vm *v, pid_t pid, uint64_t starttime)
{
	uint64_t mst = 0;
	char buf[96];
	int n, r;

	if ((r = state_mkdir(v->dir)))
		return r;
	/* The writer is the VM's monitor: record it too (state_vm_status). */
	state_proc_starttime(getpid(), &mst);
	n = snprintf(buf, sizeof(buf), "%d %llu %d %llu\n", (int)pid, (unsigned long long)starttime,
		     (int)getpid(), (unsigned long long)mst);
	return state_write_file(v->pid, buf, (size_t)n);
}

/* The monitor recorded in the pid file, if it is still alive. */
static bool monitor_alive(const struct state_vm *v)
{
	unsigned long long a, b, mst;
	char *text = NULL;
	size_t len;
	int mpid;
	bool alive = false;

	if (read_file(v->pid, &text, &len))
		return false;
	if (sscanf(text, "%llu %llu %d %llu", &a, &b, &mpid, &mst) == 4)
		alive = state_pid_alive(mpid, mst);
	free(text);
	return alive;
}

int state_read_pid(const struct state_vm *v, pid_t *pid, uint64_t *starttime)
{
	unsigned long long st;
	char *text = NULL;
	size_t len;
	int p, r;

	r = read_file(v->pid, &text, &len);
	if (r)
		return r;
	r = sscanf(text, "%d %llu", &p, &st) == 2 && p > 0 ? 0 : -EPROTO;
	free(text);
	if (!r) {
		*pid = p;
		*starttime = st;
	}
	return r;
}

enum state_status state_vm_status(const struct state_vm *v, pid_t *pid)
{
	uint64_t st;
	char *text = NULL;
	size_t len;
	pid_t p;
	int r;

	if (pid)
		*pid = 0;
	r = state_read_pid(v, &p, &st);
	if (r == 0) {
		if (state_pid_alive(p, st)) {
			if (pid)
				*pid = p;
			return STATE_RUNNING;
		}
		/*
		 * The VMM is gone.  If its monitor lives, it is about to record
		 * how the VM ended: give it a moment (it needs the VM's lock, so
		 * a caller holding that lock just sees "crashed" and cleans up).
		 */
		for (int i = 0; i < 100 && monitor_alive(v); i++)
			usleep(10000);
		r = state_read_pid(v, &p, &st);
		/* A pid file nobody cleaned up: the VMM and its monitor died. */
		if (r != -ENOENT)
			return STATE_CRASHED;
	}
	if (r != -ENOENT)
		return STATE_CRASHED;
	if (read_file(v->exit, &text, &len) == 0) {
		bool crashed = !strncmp(text, "crashed", 7);

		free(text);
		if (crashed)
			return STATE_CRASHED;
	}
	return access(v->def, F_OK) == 0 ? STATE_SHUTOFF : STATE_UNDEFINED;
}

const char *state_status_name(enum state_status s)
{
	switch (s) {
	case STATE_UNDEFINED:
		return "undefined";
	case STATE_SHUTOFF:
		return "shut off";
	case STATE_RUNNING:
		return "running";
	case STATE_CRASHED:
		return "crashed";
	}
	return "unknown";
}

void state_vm_clean(const struct state_vm *v)
{
	unlink(v->pid);
	unlink(v->api);
	unlink(v->console);
}

int state_write_exit(const struct state_vm *v, const char *what, const char *detail)
{
	char buf[256];
	int n, r;

	if ((r = state_mkdir(v->dir)))
		return r;
	n = snprintf(buf, sizeof(buf), "%s %s\n", what, detail ? detail : "");
	return state_write_file(v->exit, buf, (size_t)MIN(n, (int)sizeof(buf) - 1));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int state_list_defined(const struct state_dirs *d, char ***names, size_t *n)
{
	struct dirent *de;
	char **out = NULL;
	size_t cnt = 0;
	DIR *dir;

	*names = NULL;
	*n = 0;
	dir = opendir(d->data);
	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		size_t len = strlen(de->d_name);
		char **grown;

		if (len <= 5 || strcmp(de->d_name + len - 5, ".json"))
			continue;
		de->d_name[len - 5] = '\0';
		if (!state_name_valid(de->d_name))
			continue;
		grown = realloc(out, (cnt + 1) * sizeof(*out));
		if (!grown)
			break;
		out = grown;
		out[cnt] = strdup(de->d_name);
		if (out[cnt])
			cnt++;
	}
	closedir(dir);
	if (cnt)
		qsort(out, cnt, sizeof(*out), cmp_str);
	*names = out;
	*n = cnt;
	return 0;
}

void state_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

bool state_claim_alive(const struct state_dirs *d, const char *name)
{
	struct state_vm v;
	bool busy;
	int fd;

	if (state_vm_init(d, name, &v))
		return false;
	if (state_vm_status(&v, NULL) == STATE_RUNNING)
		return true;
	fd = open(v.lock, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return false;
	busy = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return busy;
}
