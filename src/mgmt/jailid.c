// SPDX-License-Identifier: MIT
/*
 * Per-VM jail ids (docs/jail.md): a started VM whose definition names no
 * jail uid gets one of its own, so no two jailed VMMs share a uid (one
 * could otherwise signal, trace or read the files of the other).
 *
 * The registry is one file per id, <run>/jail-ids/ID, holding the VM's
 * name; creating it with O_EXCL is the claim, so two starts never get
 * the same id, and no lock is needed.  A VM that starts again finds its
 * own file and keeps its id.
 */
#include "mgmt/state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define JAIL_IDS 65536u

/* Whether <dir>/<file> names VM `name`. */
static bool id_is(const char *dir, const char *file, const char *name)
{
	char path[STATE_PATH_MAX + 300], buf[STATE_NAME_MAX + 2];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return !strcmp(buf, name);
}

int state_jail_id_claim(const struct state_dirs *d, const char *name, unsigned int *id)
{
	char dir[STATE_PATH_MAX + 16], path[STATE_PATH_MAX + 32];
	struct dirent *e;
	DIR *dp;

	snprintf(dir, sizeof(dir), "%s/jail-ids", d->run);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	dp = opendir(dir);
	if (!dp)
		return -errno;
	while ((e = readdir(dp))) {
		if (e->d_name[0] != '.' && id_is(dir, e->d_name, name)) {
			*id = (unsigned int)strtoul(e->d_name, NULL, 10);
			closedir(dp);
			return 0;
		}
	}
	closedir(dp);
	for (unsigned int i = 0; i < JAIL_IDS; i++) {
		int fd;

		snprintf(path, sizeof(path), "%s/%u", dir, STATE_JAIL_ID_BASE + i);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			if (errno == EEXIST)
				continue;
			return -errno;
		}
		if (write(fd, name, strlen(name)) != (ssize_t)strlen(name)) {
			int r = -errno;

			close(fd);
			unlink(path);
			return r ? r : -EIO;
		}
		close(fd);
		*id = STATE_JAIL_ID_BASE + i;
		return 0;
	}
	return -ENOSPC;
}

void state_jail_id_release(const struct state_dirs *d, const char *name)
{
	char dir[STATE_PATH_MAX + 16], path[STATE_PATH_MAX + 300];
	struct dirent *e;
	DIR *dp;

	snprintf(dir, sizeof(dir), "%s/jail-ids", d->run);
	dp = opendir(dir);
	if (!dp)
		return;
	while ((e = readdir(dp)))
		if (e->d_name[0] != '.' && id_is(dir, e->d_name, name)) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			unlink(path);
		}
	closedir(dp);
}
