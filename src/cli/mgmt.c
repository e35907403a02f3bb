// SPDX-License-Identifier: MIT
/* Shared helpers of the manager commands: state paths, locking, API calls. */
#include "cli/mgmt.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/client.h"
#include "cli/cli.h"
#include "util/error.h"
#include "vm/config_json.h"

int mgmt_open(const char *name, struct mgmt *m)
{
	int r;

	m->lock_fd = -1;
	r = state_dirs_init(&m->dirs);
	if (r)
		return cli_error("%s", m->dirs.err);
	r = state_vm_init(&m->dirs, name, &m->vm);
	if (r == -EINVAL)
		return cli_error(
			"'%s' is not a VM name (letters, digits, '_', '.', '-'; at most %d)", name,
			STATE_NAME_MAX);
	if (r)
		return cli_error("%s: state path too long", name);
	return 0;
}

int mgmt_lock(struct mgmt *m)
{
	int fd = state_lock(m->vm.lock, MGMT_LOCK_TIMEOUT_MS);

	if (fd == -ETIMEDOUT)
		return cli_error("VM '%s' is busy (another vessel command holds its lock)",
				 m->vm.name);
	if (fd < 0)
		return cli_error("%s: %s", m->vm.lock, strerror(-fd));
	m->lock_fd = fd;
	return 0;
}

void mgmt_close(struct mgmt *m)
{
	/*
	 * A name with no definition and no VMM (undefined now, or never
	 * defined: `vessel start typo`) keeps no lock file behind.
	 */
	if (m->lock_fd >= 0 && state_vm_status(&m->vm, NULL) == STATE_UNDEFINED &&
	    access(m->vm.dir, F_OK))
		state_lock_drop(m->vm.lock, m->lock_fd);
	else
		state_unlock(m->lock_fd);
	m->lock_fd = -1;
}

int mgmt_load(const struct mgmt *m, bool running, struct vm_config *c)
{
	const char *path = running ? m->vm.config : m->vm.def;
	struct error err = ERROR_INIT;
	int r;

	vm_config_init(c);
	if (running && access(path, F_OK))
		path = m->vm.def;
	r = vm_config_load_json(path, c, &err);
	if (r == -ENOENT)
		return cli_error("VM '%s' is not defined", m->vm.name);
	if (r)
		return cli_error("%s", error_msg(&err));
	if (!c->name) {
		c->name = strdup(m->vm.name);
		if (!c->name)
			return cli_error("out of memory");
	}
	return 0;
}

int mgmt_save(const char *path, const struct vm_config *c)
{
	struct json_object *j = vm_config_to_json(c);
	const char *text;
	int r;

	if (!j)
		return -ENOMEM;
	text = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
	r = state_write_file(path, text, strlen(text));
	if (!r) {
		/* A trailing newline, as editors expect. */
		FILE *f = fopen(path, "ae");

		if (f) {
			fputc('\n', f);
			fclose(f);
		}
	}
	json_object_put(j);
	return r;
}

int mgmt_api(const struct mgmt *m, const char *method, const char *path, const char *body,
	     struct json_object **out, char *errbuf, size_t errlen)
{
	return mgmt_api_within(m, method, path, body, MGMT_API_TIMEOUT_MS, out, errbuf, errlen);
}

int mgmt_api_within(const struct mgmt *m, const char *method, const char *path, const char *body,
		    int timeout_ms, struct json_object **out, char *errbuf, size_t errlen)
{
	struct api_reply rep;
	int r;

	if (out)
		*out = NULL;
	r = api_client_request(m->vm.api, method, path, body, timeout_ms, &rep);
	if (r) {
		if (errbuf)
			snprintf(errbuf, errlen, "API %s: %s", m->vm.api, strerror(-r));
		return r;
	}
	if (rep.status >= 400 && errbuf)
		api_reply_error(&rep, errbuf, errlen);
	if (out)
		*out = api_reply_json(&rep);
	r = rep.status;
	api_reply_free(&rep);
	return r;
}

int mgmt_require_running(const struct mgmt *m, pid_t *pid)
{
	enum state_status s = state_vm_status(&m->vm, pid);

	if (s == STATE_RUNNING)
		return 0;
	if (s == STATE_UNDEFINED)
		return cli_error("VM '%s' is not defined", m->vm.name);
	return cli_error("VM '%s' is not running (%s)", m->vm.name, state_status_name(s));
}

void mgmt_format_uptime(long s, char *buf, size_t len)
{
	if (s < 0)
		snprintf(buf, len, "-");
	else if (s >= 86400)
		snprintf(buf, len, "%ldd %ldh", s / 86400, (s % 86400) / 3600);
	else if (s >= 3600)
		snprintf(buf, len, "%ldh %ldm", s / 3600, (s % 3600) / 60);
	else if (s >= 60)
		snprintf(buf, len, "%ldm %lds", s / 60, s % 60);
	else
		snprintf(buf, len, "%lds", s);
}

bool mgmt_help(int argc, char **argv, const char *usage)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf("usage: %s\n", usage);
			return true;
		}
	}
	return false;
}

int mgmt_print_json(struct json_object *o)
{
	if (!o)
		return cli_error("out of memory");
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
								 JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return 0;
}
