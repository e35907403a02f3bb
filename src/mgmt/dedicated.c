// SPDX-License-Identifier: MIT
/*
 * Registry of host CPUs claimed by VMs with the "dedicated" CPU policy:
 * <run>/dedicated holds "NAME CPULIST" lines, changed only under the
 * host-wide <run>/dedicated.lock.  A claim stays valid while its VM runs
 * or while some CLI holds that VM's lock (a start in progress); anything
 * else is left over from a crash and is dropped on the next claim.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "util/util.h"
#include "vm/config_json.h"
#include "mgmt/state.h"

#define DEDICATED_MAX 256

struct claim {
	char name[STATE_NAME_MAX + 1];
	cpu_set_t cpus;
};

static size_t read_claims(const struct state_dirs *d, const char *path, const char *skip,
			  struct claim *out)
{
	char line[STATE_NAME_MAX + 1100];
	size_t n = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return 0;
	while (n < DEDICATED_MAX && fgets(line, sizeof(line), f)) {
		char name[STATE_NAME_MAX + 1], list[1024];

		if (sscanf(line, "%64s %1023s", name, list) != 2 || !strcmp(name, skip))
			continue;
		if (cpuset_parse(list, &out[n].cpus) || !state_claim_alive(d, name))
			continue;
		strcpy(out[n].name, name);
		n++;
	}
	fclose(f);
	return n;
}

static int write_claims(const char *path, const struct claim *c, size_t n)
{
	size_t cap = 64 + n * (STATE_NAME_MAX + 1100), len = 0;
	char *buf = malloc(cap);
	int r;

	if (!buf)
		return -ENOMEM;
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		char list[1024];

		len += (size_t)snprintf(buf + len, cap - len, "%s %s\n", c[i].name,
					cpuset_format(&c[i].cpus, list, sizeof(list)));
	}
	r = state_write_file(path, buf, len);
	free(buf);
	return r;
}

int state_dedicated_claim(const struct state_dirs *d, const char *name, const cpu_set_t *want,
			  unsigned int count, const cpu_set_t *allowed, cpu_set_t *got, char *owner,
			  size_t ownerlen)
{
	char path[STATE_PATH_MAX + 16], lock[STATE_PATH_MAX + 16];
	struct claim *claims;
	cpu_set_t used, mine;
	size_t n;
	int fd, r = 0;

	snprintf(path, sizeof(path), "%s/dedicated", d->run);
	snprintf(lock, sizeof(lock), "%s/dedicated.lock", d->run);
	if (owner && ownerlen)
		owner[0] = '\0';
	claims = calloc(DEDICATED_MAX + 1, sizeof(*claims));
	if (!claims)
		return -ENOMEM;
	fd = state_lock(lock, 10000);
	if (fd < 0) {
		free(claims);
		return fd;
	}
	n = read_claims(d, path, name, claims);
	CPU_ZERO(&used);
	for (size_t i = 0; i < n; i++)
		CPU_OR(&used, &used, &claims[i].cpus);
	CPU_ZERO(&mine);
	if (want) {
		cpu_set_t both;

		CPU_AND(&both, want, &used);
		if (CPU_COUNT(&both)) {
			for (size_t i = 0; i < n; i++) {
				CPU_AND(&both, want, &claims[i].cpus);
				if (CPU_COUNT(&both) && owner)
					snprintf(owner, ownerlen, "%s", claims[i].name);
			}
			r = -EBUSY;
			goto out;
		}
		mine = *want;
	} else {
		for (unsigned int c = 0; c < CPU_SETSIZE && (unsigned int)CPU_COUNT(&mine) < count;
		     c++)
			if (CPU_ISSET(c, allowed) && !CPU_ISSET(c, &used))
				CPU_SET(c, &mine);
		if ((unsigned int)CPU_COUNT(&mine) < count) {
			r = -EBUSY;
			goto out;
		}
	}
	strcpy(claims[n].name, name);
	claims[n].cpus = mine;
	r = write_claims(path, claims, n + 1);
	if (!r && got)
		*got = mine;
out:
	state_unlock(fd);
	free(claims);
	return r;
}

void state_dedicated_release(const struct state_dirs *d, const char *name)
{
	char path[STATE_PATH_MAX + 16], lock[STATE_PATH_MAX + 16];
	struct claim *claims;
	size_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/dedicated", d->run);
	snprintf(lock, sizeof(lock), "%s/dedicated.lock", d->run);
	claims = calloc(DEDICATED_MAX, sizeof(*claims));
	if (!claims)
		return;
	fd = state_lock(lock, 10000);
	if (fd >= 0) {
		n = read_claims(d, path, name, claims);
		write_claims(path, claims, n);
		state_unlock(fd);
	}
	free(claims);
}
