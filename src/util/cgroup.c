// SPDX-License-Identifier: MIT
/*
 * A jailed VMM's cgroup v2 leaf (docs/jail.md): <cgroup2>/vessel/NAME
 * with cpu.max, memory.max and pids.max (the kernel's
 * Documentation/admin-guide/cgroup-v2.rst).
 *
 * Leaves hang off a "vessel" cgroup at the top of the hierarchy, not
 * under the caller's own cgroup: a cgroup with processes cannot hand
 * controllers to children ("no internal processes"), and the top one is
 * exempt.  Enabling the controllers on the way down is what a user would
 * do by hand: "+cpu +memory +pids" in each cgroup.subtree_control.
 */
#include "util/cgroup.h"
#include "util/error.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const cg_controllers[] = { "cpu", "memory", "pids" };

/* The first cgroup2 mount in /proc/self/mountinfo, into buf. */
static int cg_mount(char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[1024];
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (ret && fgets(line, sizeof(line), f)) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS... - FSTYPE SOURCE SUPER */
		char root[256], mnt[256];
		char *sep = strstr(line, " - ");

		if (!sep || strncmp(sep + 3, "cgroup2 ", 8))
			continue;
		if (sscanf(line, "%*s %*s %*s %255s %255s", root, mnt) == 2 && !strcmp(root, "/") &&
		    strlen(mnt) < len) {
			snprintf(buf, len, "%s", mnt);
			ret = 0;
		}
	}
	fclose(f);
	return ret;
}

static int cg_write(const char *dir, const char *file, const char *val)
{
	char path[CGROUP_PATH_MAX + 32];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* Whether dir's cgroup.controllers lists each of ours. */
static bool cg_has_controllers(const char *dir, char *missing, size_t len)
{
	char path[CGROUP_PATH_MAX + 32], *text = NULL;
	size_t n;
	bool ok = true;

	snprintf(path, sizeof(path), "%s/cgroup.controllers", dir);
	missing[0] = '\0';
	if (read_file(path, &text, &n))
		text = NULL;
	for (unsigned int i = 0; i < ARRAY_SIZE(cg_controllers); i++) {
		const char *c = cg_controllers[i];
		const char *p = text;
		bool found = false;

		while (p && (p = strstr(p, c))) {
			bool start = p == text || p[-1] == ' ';
			bool end = !p[strlen(c)] || strchr(" \n", p[strlen(c)]);

			if ((found = start && end))
				break;
			p += strlen(c);
		}
		if (!found) {
			size_t used = strlen(missing);

			snprintf(missing + used, len - used, "%s%s", used ? ", " : "", c);
			ok = false;
		}
	}
	free(text);
	return ok;
}

static int cg_enable(const char *dir)
{
	for (unsigned int i = 0; i < ARRAY_SIZE(cg_controllers); i++) {
		char v[16];
		int r;

		snprintf(v, sizeof(v), "+%s", cg_controllers[i]);
		if ((r = cg_write(dir, "cgroup.subtree_control", v)))
			return r;
	}
	return 0;
}

int cgroup_leaf_create(const char *name, const struct cgroup_limits *l, char *path, size_t len,
		       struct error *err)
{
	char top[CGROUP_PATH_MAX], parent[CGROUP_PATH_MAX + 8], missing[64], v[64];
	int r;

	if ((r = cg_mount(top, sizeof(top) - 16)))
		return error_setf(err, r, "no cgroup2 file system is mounted");
	if (!cg_has_controllers(top, missing, sizeof(missing)))
		return error_setf(err, -EOPNOTSUPP,
				  "cgroup2 at %s has no %s controller (they are cgroup v1's here)",
				  top, missing);
	if ((size_t)snprintf(parent, sizeof(parent), "%s/vessel", top) >= sizeof(parent))
		return error_setf(err, -ENAMETOOLONG, "cgroup2 mount %s: path too long", top);
	if ((r = cg_enable(top)))
		return error_set_errno(err, r, "cannot enable cpu, memory, pids in %s", top);
	if (mkdir(parent, 0755) < 0 && errno != EEXIST)
		return error_set_errno(err, -errno, "cannot create %s", parent);
	if ((r = cg_enable(parent)))
		return error_set_errno(err, r, "cannot enable cpu, memory, pids in %s", parent);
	if ((size_t)snprintf(path, len, "%s/%s", parent, name) >= len)
		return error_setf(err, -ENAMETOOLONG, "cgroup name '%s' is too long", name);
	/* a leaf left by a VMM that was killed with its monitor: empty, so removable */
	if (rmdir(path) < 0 && errno != ENOENT)
		return error_set_errno(err, -errno, "%s is in use (is the VM running?)", path);
	if (mkdir(path, 0755) < 0)
		return error_set_errno(err, -errno, "cannot create %s", path);
	r = cg_write(path, "cpu.max", l->cpu_max && *l->cpu_max ? l->cpu_max : "max");
	if (r) {
		error_set_errno(err, r, "cpu.max '%s'", l->cpu_max);
		goto fail;
	}
	if (l->memory_max)
		snprintf(v, sizeof(v), "%llu", (unsigned long long)l->memory_max);
	else
		snprintf(v, sizeof(v), "max");
	if ((r = cg_write(path, "memory.max", v))) {
		error_set_errno(err, r, "memory.max %s", v);
		goto fail;
	}
	snprintf(v, sizeof(v), "%u", l->pids_max);
	if (l->pids_max && (r = cg_write(path, "pids.max", v))) {
		error_set_errno(err, r, "pids.max %s", v);
		goto fail;
	}
	return 0;
fail:
	rmdir(path);
	return r;
}

int cgroup_join(const char *path)
{
	return cg_write(path, "cgroup.procs", "0");
}

void cgroup_leaf_remove(const char *path)
{
	/*
	 * The last thread leaves the cgroup a moment after its parent sees
	 * it exit (cgroup-v2.rst: a cgroup with no live processes can be
	 * removed): try for a second.
	 */
	for (int i = 0; i < 100; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		if (rmdir(path) == 0 || errno == ENOENT)
			return;
		if (errno != EBUSY)
			return;
		nanosleep(&ts, NULL);
	}
}
