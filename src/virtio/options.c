// SPDX-License-Identifier: MIT
/*
 * `vessel run` options for the virtio devices (docs/virtio.md):
 *
 *   --disk path=FILE[,format=raw|qcow2][,readonly=on|off][,serial=S]
 *          [,direct=on|off][,backing=on|off][,queues=N][,poll_us=N]
 *                                                      (repeatable; "FILE" alone works)
 *   --rng [on|off]
 *   --console pty | file=PATH | socket=PATH   (virtio-console)
 *
 * On error they return -EINVAL with *why naming the problem, and leave
 * the config as it was.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "virtio/devices.h"
#include "virtio/virtio.h"
#include "vm/config.h"

static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

static void disk_free(struct vm_disk_config *d)
{
	free(d->path);
	free(d->format);
	free(d->serial);
	memset(d, 0, sizeof(*d));
}

int vm_config_parse_disk(struct vm_config *c, const char *spec, const char **why)
{
	struct vm_disk_config d = { 0 };
	char *copy, *save = NULL, *tok;
	int ret = -EINVAL;

	if (!spec || !*spec) {
		*why = "--disk needs path=FILE";
		return -EINVAL;
	}
	if (c->nr_disks >= VM_MAX_DISKS) {
		*why = "too many --disk options (at most 16)";
		return -EINVAL;
	}
	copy = strdup(spec);
	if (!copy) {
		*why = "out of memory";
		return -ENOMEM;
	}
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		const char *v = eq ? eq + 1 : NULL;
		uint64_t n;

		if (eq)
			*eq = '\0';
		if (!eq && tok == copy) {
			v = tok; /* a bare path as the first word */
			tok = "path";
		} else if (!eq) {
			*why = "--disk options are key=value";
			goto out;
		}
		if (!strcmp(tok, "path")) {
			if (!*v || d.path) {
				*why = d.path ? "--disk path given twice" : "--disk path is empty";
				goto out;
			}
			d.path = strdup(v);
		} else if (!strcmp(tok, "format")) {
			if (strcmp(v, "raw") && strcmp(v, "qcow2")) {
				*why = "--disk format must be raw or qcow2";
				goto out;
			}
			free(d.format);
			d.format = strdup(v);
		} else if (!strcmp(tok, "readonly") || !strcmp(tok, "ro")) {
			if (parse_bool(v, &d.readonly)) {
				*why = "--disk readonly must be on or off";
				goto out;
			}
		} else if (!strcmp(tok, "direct")) {
			if (parse_bool(v, &d.direct)) {
				*why = "--disk direct must be on or off";
				goto out;
			}
		} else if (!strcmp(tok, "backing")) {
			bool allowed;

			if (parse_bool(v, &allowed)) {
				*why = "--disk backing must be on or off";
				goto out;
			}
			d.no_backing = !allowed;
		} else if (!strcmp(tok, "serial")) {
			/* GET_ID returns 20 bytes (section 5.2.6). */
			if (strlen(v) > 20) {
				*why = "--disk serial is longer than 20 characters";
				goto out;
			}
			free(d.serial);
			d.serial = strdup(v);
		} else if (!strcmp(tok, "queues")) {
			if (parse_u64(v, VIRTIO_MAX_QUEUES, &n) || n == 0) {
				*why = "--disk queues must be 1..64";
				goto out;
			}
			d.num_queues = (unsigned int)n;
		} else if (!strcmp(tok, "poll_us")) {
			if (parse_u64(v, 1000000, &n)) {
				*why = "--disk poll_us must be 0..1000000";
				goto out;
			}
			d.has_poll = true;
			d.poll_us = (uint32_t)n;
		} else {
			*why = "unknown --disk option (path, format, readonly, serial, direct, "
			       "backing, queues, poll_us)";
			goto out;
		}
	}
	if (!d.path) {
		*why = "--disk needs path=FILE";
		goto out;
	}
	c->disks[c->nr_disks++] = d;
	memset(&d, 0, sizeof(d));
	ret = 0;
out:
	disk_free(&d);
	free(copy);
	return ret;
}

int vm_config_parse_rng(struct vm_config *c, const char *spec, const char **why)
{
	bool on = true;

	if (spec && *spec && parse_bool(spec, &on)) {
		*why = "--rng takes on or off";
		return -EINVAL;
	}
	c->rng = on;
	return 0;
}

int vm_config_parse_virtio_console(struct vm_config *c, const char *spec, const char **why)
{
	char *p = NULL;

	if (!spec || !strcmp(spec, "pty")) {
		/* NULL path: a pty, as in the JSON definition ("virtio_console": true). */
	} else if (!strncmp(spec, "file=", 5) && spec[5]) {
		p = strdup(spec + 5);
		if (!p) {
			*why = "out of memory";
			return -ENOMEM;
		}
	} else if (!strncmp(spec, "socket=", 7) && spec[7]) {
		/* Kept with its prefix: the device tells it from a file path. */
		p = strdup(spec);
		if (!p) {
			*why = "out of memory";
			return -ENOMEM;
		}
	} else if (!strcmp(spec, "off") || !strcmp(spec, "none")) {
		free(c->virtio_console_path);
		c->virtio_console_path = NULL;
		c->virtio_console = false;
		return 0;
	} else {
		*why = "--console takes pty, file=PATH or socket=PATH";
		return -EINVAL;
	}
	free(c->virtio_console_path);
	c->virtio_console_path = p;
	c->virtio_console = true;
	return 0;
}
