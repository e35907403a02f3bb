// SPDX-License-Identifier: MIT
/*
 * A VM's definition and devices, for scripts, as virsh dumpxml, domblklist
 * and domiflist:
 *
 *   vessel dumpconfig NAME [--live]      the definition, JSON that
 *                                        `vessel define` takes back as it is
 *   vessel domblklist NAME [--details] [--json]
 *   vessel domiflist NAME [--json]
 *   vessel edit NAME                     the definition in $EDITOR, checked
 *                                        as define checks it before saving
 *
 * dumpconfig prints the stored definition; --live prints what the running
 * VMM was started with (vm.json in the run directory), less what `vessel
 * start` adds (the API socket, the console socket of the state
 * directory), so it too is a definition.  The device lists read the
 * running copy while the VM runs, else the definition.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chardev/chardev.h"
#include "cli/cli.h"
#include "cli/mgmt.h"
#include "virtio/devices.h"
#include "util/util.h"
#include "vm/config_json.h"

void cli_disk_target(unsigned int i, char buf[8])
{
	/* vda..vdz, then vdaa..: the names Linux gives virtio-blk disks in order. */
	if (i < 26)
		snprintf(buf, 8, "vd%c", 'a' + i);
	else
		snprintf(buf, 8, "vd%c%c", 'a' + i / 26 - 1, 'a' + i % 26);
}

bool cli_path_is_block(const char *path)
{
	struct stat st;

	return path && !stat(path, &st) && S_ISBLK(st.st_mode);
}

void cli_nic_source(const struct virtio_net_config *nc, const char **type, const char **src,
		    char fd[16])
{
	*type = nc->network ? "network" : nc->ovs ? "ovs" : nc->bridge ? "bridge" : "tap";
	*src = nc->network ? nc->network : nc->ovs ? nc->ovs : nc->bridge ? nc->bridge : nc->tap;
	if (nc->has_fd) {
		snprintf(fd, 16, "%u", nc->fd);
		*type = "fd";
		*src = fd;
	}
}

/* NAME plus the flags in `flags` (NULL-terminated); which were given in *set. */
static int parse_named(int argc, char **argv, const char *usage, const char *const *flags,
		       const char **name, unsigned int *set)
{
	*name = NULL;
	*set = 0;
	for (int i = 1; i < argc; i++) {
		unsigned int k;

		for (k = 0; flags[k] && strcmp(argv[i], flags[k]); k++)
			;
		if (flags[k])
			*set |= 1u << k;
		else if (argv[i][0] != '-' && !*name)
			*name = argv[i];
		else
			return cli_usage("%s", usage);
	}
	return *name ? 0 : cli_usage("%s", usage);
}

/* Open NAME and load its running copy (when it runs) or its definition. */
static int load_current(const char *name, struct mgmt *m, struct vm_config *c, bool *running)
{
	if (mgmt_open(name, m))
		return 1;
	*running = state_vm_status(&m->vm, NULL) == STATE_RUNNING;
	return mgmt_load(m, *running, c);
}

int cmd_dumpconfig(int argc, char **argv)
{
	static const char *const flags[] = { "--live", NULL };
	const char *usage = "vessel dumpconfig NAME [--live]";
	const char *name;
	struct vm_config c;
	unsigned int set;
	struct mgmt m;
	int r;

	if (mgmt_help(argc, argv,
		      "vessel dumpconfig NAME [--live]\n\nThe VM's definition as JSON "
		      "(docs/config.md), which `vessel define` accepts as it is;\n--live: what "
		      "the running VM was started with."))
		return 0;
	r = parse_named(argc, argv, usage, flags, &name, &set);
	if (r)
		return r;
	if (mgmt_open(name, &m))
		return 1;
	if ((set & 1) && mgmt_require_running(&m, NULL))
		return 1;
	if (mgmt_load(&m, set & 1, &c))
		return 1;
	if (set & 1) {
		struct vm_config d;

		/* What vessel start put there, not part of a definition. */
		free(c.api_socket);
		c.api_socket = NULL;
		/* the jail as defined: start's "auto" and uid are its own (docs/jail.md) */
		if (mgmt_load(&m, false, &d) == 0) {
			struct jail_spec t = c.jail;

			c.jail = d.jail;
			c.jail_given = d.jail_given;
			d.jail = t;
			vm_config_free(&d);
		}
		if (c.console.mode == CHARDEV_SOCKET && c.console.path &&
		    !strcmp(c.console.path, m.vm.console) &&
		    chardev_spec_set(&c.console, CHARDEV_STDIO, NULL)) {
			vm_config_free(&c);
			return cli_error("out of memory");
		}
	}
	r = mgmt_print_json(vm_config_to_json(&c));
	vm_config_free(&c);
	return r;
}

int cmd_domblklist(int argc, char **argv)
{
	static const char *const flags[] = { "--details", "--json", NULL };
	const char *usage = "vessel domblklist NAME [--details] [--json]";
	struct json_object *arr = NULL;
	const char *name;
	struct vm_config c;
	unsigned int set;
	struct mgmt m;
	bool running;
	int r;

	if (mgmt_help(argc, argv,
		      "vessel domblklist NAME [--details] [--json]\n\nThe VM's disks: the "
		      "guest's name for each (vda, vdb, ...) and its image;\n--details adds the "
		      "type (file or block), format and access."))
		return 0;
	r = parse_named(argc, argv, usage, flags, &name, &set);
	if (r)
		return r;
	if (load_current(name, &m, &c, &running))
		return 1;
	if (set & 2)
		arr = json_object_new_array();
	else if (set & 1)
		printf("%-6s %-8s %-7s %-10s %s\n", "Type", "Target", "Format", "Access", "Source");
	else
		printf("%-8s %s\n", "Target", "Source");
	for (unsigned int i = 0; i < vm_config_count(&c, &virtio_blk_kind); i++) {
		const struct vm_disk_config *dc = vm_config_dev(&c, &virtio_blk_kind, i);
		const char *type = cli_path_is_block(dc->path) ? "block" : "file";
		const char *fmt = dc->format ? dc->format : "probe";
		char tgt[8];

		cli_disk_target(i, tgt);
		if (arr) {
			struct json_object *d = json_object_new_object();

			json_object_object_add(d, "target", json_object_new_string(tgt));
			json_object_object_add(d, "source", json_object_new_string(dc->path));
			json_object_object_add(d, "type", json_object_new_string(type));
			json_object_object_add(d, "format", json_object_new_string(fmt));
			json_object_object_add(d, "readonly",
					       json_object_new_boolean(dc->readonly));
			json_object_object_add(d, "serial",
					       dc->serial ? json_object_new_string(dc->serial)
							  : NULL);
			json_object_array_add(arr, d);
		} else if (set & 1) {
			printf("%-6s %-8s %-7s %-10s %s\n", type, tgt, fmt,
			       dc->readonly ? "read-only" : "read-write", dc->path);
		} else {
			printf("%-8s %s\n", tgt, dc->path);
		}
	}
	vm_config_free(&c);
	return arr ? mgmt_print_json(arr) : 0;
}

int cmd_domiflist(int argc, char **argv)
{
	static const char *const flags[] = { "--json", NULL };
	const char *usage = "vessel domiflist NAME [--json]";
	struct json_object *arr = NULL;
	struct vm_config c, live;
	const char *name;
	unsigned int set;
	struct mgmt m;
	bool running;
	int r;

	if (mgmt_help(argc, argv,
		      "vessel domiflist NAME [--json]\n\nThe VM's NICs: what each is plugged "
		      "into, its VLANs and the MAC the guest sees."))
		return 0;
	r = parse_named(argc, argv, usage, flags, &name, &set);
	if (r)
		return r;
	/*
	 * What each NIC is plugged into, as defined (a network by its name, as
	 * virsh shows it); a running VM's copy adds the bridge it resolved to.
	 */
	if (mgmt_open(name, &m) || mgmt_load(&m, false, &c))
		return 1;
	vm_config_init(&live);
	running = state_vm_status(&m.vm, NULL) == STATE_RUNNING && !access(m.vm.config, F_OK) &&
		  !mgmt_load(&m, true, &live);
	if (set & 1)
		arr = json_object_new_array();
	else
		printf("%-5s %-8s %-16s %-6s %-18s %s\n", "Index", "Type", "Source", "Model", "MAC",
		       "VLANs");
	for (unsigned int i = 0; i < vm_config_count(&c, &virtio_net_kind); i++) {
		const struct virtio_net_config *nc = vm_config_dev(&c, &virtio_net_kind, i);
		const struct virtio_net_config *ln = NULL, *vl;
		char mac[18], vlans[64] = "-", fd[16];
		const char *type, *src, *bridge = NULL;

		if (running && i < vm_config_count(&live, &virtio_net_kind)) {
			ln = vm_config_dev(&live, &virtio_net_kind, i);
			bridge = ln->ovs ? ln->ovs : ln->bridge;
		}
		/* The VLANs as the VM runs with them (a port group's, resolved). */
		vl = ln ? ln : nc;
		virtio_net_config_mac(c.name, nc, i, mac);
		cli_nic_source(nc, &type, &src, fd);

		if (vl->vlan && vl->trunk)
			snprintf(vlans, sizeof(vlans), "%u trunk %s", vl->vlan, vl->trunk);
		else if (vl->vlan)
			snprintf(vlans, sizeof(vlans), "%u", vl->vlan);
		else if (vl->trunk)
			snprintf(vlans, sizeof(vlans), "trunk %s", vl->trunk);
		if (arr) {
			struct json_object *d = json_object_new_object();

			json_object_object_add(d, "index", json_object_new_int((int)i));
			json_object_object_add(d, "type", json_object_new_string(type));
			json_object_object_add(d, "source",
					       src ? json_object_new_string(src) : NULL);
			json_object_object_add(d, "bridge",
					       bridge ? json_object_new_string(bridge) : NULL);
			json_object_object_add(d, "portgroup",
					       nc->portgroup ? json_object_new_string(nc->portgroup)
							     : NULL);
			json_object_object_add(d, "model", json_object_new_string("virtio"));
			json_object_object_add(d, "mac", json_object_new_string(mac));
			json_object_object_add(
				d, "vlan", vl->vlan ? json_object_new_int((int)vl->vlan) : NULL);
			json_object_object_add(
				d, "trunk", vl->trunk ? json_object_new_string(vl->trunk) : NULL);
			json_object_object_add(
				d, "queues",
				json_object_new_int(nc->queue_pairs ? (int)nc->queue_pairs : 1));
			json_object_object_add(d, "vhost", json_object_new_boolean(nc->vhost));
			json_object_array_add(arr, d);
		} else {
			printf("%-5u %-8s %-16s %-6s %-18s %s\n", i, type, src ? src : "-",
			       "virtio", mac, vlans);
		}
	}
	vm_config_free(&live);
	vm_config_free(&c);
	return arr ? mgmt_print_json(arr) : 0;
}

/* ---- edit --------------------------------------------------------- */

/* The definition as `dumpconfig` prints it (malloc'd), or NULL. */
static char *definition_text(const char *name)
{
	struct vm_config c;
	struct json_object *o;
	struct mgmt m;
	char *s;

	if (mgmt_open(name, &m) || mgmt_load(&m, false, &c))
		return NULL;
	o = vm_config_to_json(&c);
	vm_config_free(&c);
	if (!o) {
		cli_error("out of memory");
		return NULL;
	}
	if (asprintf(&s, "%s\n",
		     json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_NOSLASHESCAPE)) < 0)
		s = NULL;
	json_object_put(o);
	return s;
}

/* Run $VISUAL, $EDITOR or vi on PATH, as a shell would (EDITOR may hold arguments). */
static int run_editor(const char *path)
{
	const char *ed = getenv("VISUAL");
	char *cmd;
	pid_t pid;
	int st;

	if (!ed || !*ed)
		ed = getenv("EDITOR");
	if (!ed || !*ed)
		ed = "vi";
	/* As git runs its editor: the variable is shell text, the file "$1". */
	if (asprintf(&cmd, "%s \"$1\"", ed) < 0)
		return -ENOMEM;
	pid = fork();
	if (pid < 0) {
		free(cmd);
		return -errno;
	}
	if (!pid) {
		execl("/bin/sh", "sh", "-c", cmd, "sh", path, (char *)NULL);
		_exit(127);
	}
	free(cmd);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static bool ask_again(void)
{
	char line[16];

	if (!isatty(STDIN_FILENO))
		return false;
	fprintf(stderr, "Edit again? [y/N] ");
	return fgets(line, sizeof(line), stdin) && (line[0] == 'y' || line[0] == 'Y');
}

/*
 * vessel edit NAME, as virsh edit: the definition in $VISUAL/$EDITOR, and
 * what comes back goes through everything `define` checks before it is
 * saved.  A running VM keeps running as it was; the change applies at its
 * next start.  Refused, with the definition left as it was: a broken
 * file (on a terminal the user may edit it again), a rename, an editor
 * that failed, a definition changed by someone else meanwhile.
 */
int cmd_edit(int argc, char **argv)
{
	static const char *const flags[] = { NULL };
	const char *usage = "vessel edit NAME";
	const char *tmpdir = getenv("TMPDIR");
	char *before, *edited = NULL, *now = NULL, path[4096];
	const char *name;
	unsigned int set;
	int r, fd;

	if (mgmt_help(argc, argv,
		      "vessel edit NAME\n\nEdit the VM's definition with $VISUAL, $EDITOR or vi; "
		      "it is checked as\n`vessel define` checks it before it is saved, and a "
		      "running VM uses it\nat its next start."))
		return 0;
	r = parse_named(argc, argv, usage, flags, &name, &set);
	if (r)
		return r;
	before = definition_text(name);
	if (!before)
		return 1;
	snprintf(path, sizeof(path), "%s/vessel-edit-XXXXXX.json",
		 tmpdir && *tmpdir ? tmpdir : "/tmp");
	fd = mkstemps(path, 5);
	if (fd < 0) {
		free(before);
		return cli_error("edit: cannot create a file in %s: %s",
				 tmpdir && *tmpdir ? tmpdir : "/tmp", strerror(errno));
	}
	r = write_full(fd, before, strlen(before)) ? 1 : 0;
	close(fd);
	if (r) {
		r = cli_error("edit: cannot write %s", path);
		goto out;
	}
	for (;;) {
		int st = run_editor(path);

		if (st) {
			r = cli_error("edit: the editor failed (status %d); '%s' not changed", st,
				      name);
			break;
		}
		free(edited);
		edited = NULL;
		st = read_file(path, &edited, NULL);
		if (st < 0) {
			r = cli_error("edit: cannot read %s: %s", path, strerror(-st));
			break;
		}
		if (!strcmp(edited, before)) {
			cli_note("Definition of '%s' not changed.\n", name);
			r = 0;
			break;
		}
		free(now);
		now = definition_text(name);
		if (!now || strcmp(now, before)) {
			if (now)
				cli_error("edit: the definition of '%s' changed while it was being "
					  "edited; not saved",
					  name);
			r = 1;
			break;
		}
		/* Relative paths: relative to where the user is, not /tmp. */
		r = cli_define_from_file(name, path, "./edit", "the edited definition");
		if (!r) {
			struct mgmt m;
			bool running = !mgmt_open(name, &m) &&
				       state_vm_status(&m.vm, NULL) == STATE_RUNNING;

			cli_note("Definition of '%s' edited%s.\n", name,
				 running ? " (the running VM uses it at its next start)" : "");
			break;
		}
		if (!ask_again())
			break;
	}
out:
	unlink(path);
	free(before);
	free(edited);
	free(now);
	return r;
}
