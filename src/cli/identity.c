// SPDX-License-Identifier: MIT
/*
 * A VM's identity and its start at boot, as virsh has them:
 *
 *   uuid                      every definition has one (RFC 4122, random
 *                             version 4 when define makes it); it stays the
 *                             VM's through redefines and edits, and no two
 *                             VMs share one
 *   vessel autostart NAME [--disable]
 *                             mark (unmark) the VM to start at host boot
 *   vessel autostart --boot   start every marked VM not running: what
 *                             contrib/systemd/vessel-autostart.service runs
 *   vessel autostart --list   the marked VMs
 *
 * The mark is a file, lib/NAME.autostart, as libvirt's autostart/NAME.xml
 * link: it is no part of the definition, so dumpconfig and define carry
 * no host policy from one host to another.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "cli/cli.h"
#include "cli/mgmt.h"
#include "util/eventlog.h"
#include "util/util.h"

/* The uuid stored in a definition file, or "" (no file, no uuid, corrupt). */
static void stored_uuid(const char *def, char out[UUID_STR_LEN])
{
	struct json_object *o = json_object_from_file(def), *v;
	const char *s;

	out[0] = '\0';
	if (o && json_object_object_get_ex(o, "uuid", &v) &&
	    json_object_is_type(v, json_type_string)) {
		s = json_object_get_string(v);
		snprintf(out, UUID_STR_LEN, "%s", s);
		/* the same normal form the config parser makes */
		for (char *p = out; *p; p++)
			if (*p >= 'A' && *p <= 'F')
				*p = (char)(*p - 'A' + 'a');
	}
	json_object_put(o);
}

/* The defined VM other than `self` whose uuid is `uuid`: 0 and its name, or -ENOENT. */
static int uuid_owner(const struct state_dirs *d, const char *self, const char *uuid,
		      char owner[STATE_NAME_MAX + 1])
{
	char **names, u[UUID_STR_LEN];
	struct state_vm v;
	size_t n;
	int r = -ENOENT;

	if (state_list_defined(d, &names, &n))
		return -ENOENT;
	for (size_t i = 0; i < n && r; i++) {
		if (!strcmp(names[i], self) || state_vm_init(d, names[i], &v))
			continue;
		stored_uuid(v.def, u);
		if (!strcmp(u, uuid)) {
			snprintf(owner, STATE_NAME_MAX + 1, "%s", names[i]);
			r = 0;
		}
	}
	state_names_free(names, n);
	return r;
}

int cli_uuid_claim(struct mgmt *m, struct vm_config *c, const char *shown, int *lock_fd)
{
	char path[STATE_PATH_MAX + 16], old[UUID_STR_LEN], owner[STATE_NAME_MAX + 1];
	int fd;

	/*
	 * One lock for every VM's uuid, taken under the VM's own lock (the
	 * order every caller keeps): two defines of one uuid under two
	 * names cannot both see it free.  Held until the caller has saved.
	 */
	snprintf(path, sizeof(path), "%s/uuid.lock", m->dirs.run);
	fd = state_lock(path, MGMT_LOCK_TIMEOUT_MS);
	if (fd < 0)
		return cli_error("%s: %s", path, strerror(-fd));
	stored_uuid(m->vm.def, old);
	if (c->uuid && *old && strcmp(c->uuid, old)) {
		state_unlock(fd);
		return cli_error("%s: uuid: VM '%s' is defined with uuid %s; undefine it to "
				 "give it another",
				 shown, m->vm.name, old);
	}
	if (!c->uuid) {
		uuid_t u;

		c->uuid = malloc(UUID_STR_LEN);
		if (!c->uuid) {
			state_unlock(fd);
			return cli_error("out of memory");
		}
		if (*old) {
			memcpy(c->uuid, old, UUID_STR_LEN);
		} else {
			uuid_generate_random(u);
			uuid_unparse_lower(u, c->uuid);
		}
	}
	if (uuid_owner(&m->dirs, m->vm.name, c->uuid, owner) == 0) {
		state_unlock(fd);
		return cli_error("%s: uuid: %s belongs to VM '%s' (drop \"uuid\" to get a new one)",
				 shown, c->uuid, owner);
	}
	*lock_fd = fd;
	return 0;
}

bool cli_autostart_marked(const struct state_vm *v)
{
	return access(v->autostart, F_OK) == 0;
}

static int autostart_set(const char *name, bool on)
{
	enum state_status s;
	struct mgmt m;
	int fd, r = 0;

	if (mgmt_open(name, &m) || mgmt_lock(&m))
		return 1;
	s = state_vm_status(&m.vm, NULL);
	if (s == STATE_UNDEFINED || access(m.vm.def, F_OK)) {
		mgmt_close(&m);
		return cli_error("VM '%s' is not defined", name);
	}
	if (on) {
		fd = open(m.vm.autostart, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			r = cli_error("%s: %s", m.vm.autostart, strerror(errno));
		else
			close(fd);
	} else if (unlink(m.vm.autostart) < 0 && errno != ENOENT) {
		r = cli_error("%s: %s", m.vm.autostart, strerror(errno));
	}
	mgmt_close(&m);
	if (!r)
		cli_note("VM '%s' %s\n", name,
			 on ? "marked as autostarted" : "unmarked as autostarted");
	return r;
}

/* The marked VMs, in name order. */
static int autostart_names(struct state_dirs *d, char ***marked, size_t *nm)
{
	char **names;
	size_t n;
	int r;

	*marked = NULL;
	*nm = 0;
	r = state_dirs_init(d);
	if (r)
		return cli_error("%s", d->err);
	r = state_list_defined(d, &names, &n);
	if (r)
		return cli_error("%s: %s", d->data, strerror(-r));
	*marked = calloc(n ? n : 1, sizeof(**marked));
	if (!*marked) {
		state_names_free(names, n);
		return cli_error("out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		struct state_vm v;

		if (state_vm_init(d, names[i], &v) == 0 && cli_autostart_marked(&v)) {
			(*marked)[(*nm)++] = names[i];
			names[i] = NULL;
		}
	}
	state_names_free(names, n);
	return 0;
}

/*
 * Start each marked VM that is not running, each by `vessel start` in a
 * child (its own lock, checks and log lines): one that fails is said and
 * the others still start.  Exit 1 if any failed.
 */
static int autostart_boot(void)
{
	struct state_dirs d;
	char **names, exe[4096];
	size_t n, started = 0, failed = 0;
	ssize_t len;

	if (autostart_names(&d, &names, &n))
		return 1;
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len <= 0) {
		state_names_free(names, n);
		return cli_error("cannot find the vessel executable: %s", strerror(errno));
	}
	exe[len] = '\0';
	for (size_t i = 0; i < n; i++) {
		struct state_vm v;
		pid_t c;
		int st;

		if (state_vm_init(&d, names[i], &v) || state_vm_status(&v, NULL) == STATE_RUNNING)
			continue;
		eventlog_append(v.events, "autostart: starting at host boot");
		fflush(NULL);
		c = fork();
		if (c == 0) {
			execl(exe, "vessel", "start", names[i], (char *)NULL);
			_exit(127);
		}
		while (c > 0 && waitpid(c, &st, 0) < 0 && errno == EINTR)
			;
		if (c > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0) {
			started++;
		} else {
			failed++;
			eventlog_append(v.events, "autostart: the start failed");
		}
	}
	cli_note("autostart: %zu started, %zu failed, %zu marked\n", started, failed, n);
	state_names_free(names, n);
	return failed ? 1 : 0;
}

static int autostart_list(void)
{
	struct state_dirs d;
	char **names;
	size_t n;

	if (autostart_names(&d, &names, &n))
		return 1;
	for (size_t i = 0; i < n; i++)
		printf("%s\n", names[i]);
	state_names_free(names, n);
	return 0;
}

#define AUTOSTART_USAGE "vessel autostart NAME [--disable] | --boot | --list"

int cmd_autostart(int argc, char **argv)
{
	const char *name = NULL;
	bool disable = false, boot = false, list = false;

	if (mgmt_help(argc, argv,
		      AUTOSTART_USAGE "\n\nMark a VM to start when the host boots (--disable "
				      "unmarks it).\n--boot starts every marked VM not "
				      "running (the systemd unit\nvessel-autostart.service runs "
				      "it); --list prints the marked VMs."))
		return 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--disable"))
			disable = true;
		else if (!strcmp(argv[i], "--boot"))
			boot = true;
		else if (!strcmp(argv[i], "--list"))
			list = true;
		else if (argv[i][0] != '-' && !name)
			name = argv[i];
		else
			return cli_usage(AUTOSTART_USAGE);
	}
	if (boot + list + !!name != 1 || (disable && !name))
		return cli_usage(AUTOSTART_USAGE);
	if (boot)
		return autostart_boot();
	if (list)
		return autostart_list();
	return autostart_set(name, !disable);
}
