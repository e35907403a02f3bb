// SPDX-License-Identifier: MIT
/*
 * vessel save NAME FILE: the VM's state into FILE and its memory into
 * FILE.mem (docs/snapshot-format.md).  The VMM streams both over its API
 * (it opens no files: the jail); this end writes FILE.part and
 * FILE.mem.part, checks the stream's end record, syncs, and renames the
 * memory file and then the state file into place.  A save cut short (the
 * VMM or this command killed, a full disk) leaves no file that looks
 * whole, and an older FILE stays as it was.  The VM is paused for the
 * save and runs on afterwards (--stop: destroyed once it is saved, as
 * virsh save does).
 *
 * vessel restore FILE starts the VM saved there (below), through the same
 * start path as vessel start (lifecycle.c), with --restore for the VMM.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/client.h"
#include "cli/cli.h"
#include "cli/mgmt.h"
#include "util/error.h"
#include "util/util.h"
#include "vm/config_json.h"
#include "vm/snapshot.h"

#define SAVE_USAGE "vessel save NAME FILE [--stop]"
#define SAVE_START_TIMEOUT_MS 60000 /* quiescing drains disk I/O first */

struct save_progress {
	uint64_t t0;
	bool tty;
};

static void save_progress(void *opaque, uint64_t bytes)
{
	struct save_progress *p = opaque;
	double s = (now_ns() - p->t0) / 1e9;

	if (p->tty)
		fprintf(stderr, "\rsaving: %llu MiB, %.0f MiB/s   ",
			(unsigned long long)(bytes >> 20), s > 0 ? (bytes >> 20) / s : 0.0);
}

static int save_sync_rename(int fd, const char *from, const char *to)
{
	if (fsync(fd) < 0 || rename(from, to) < 0)
		return -errno;
	return 0;
}

int cli_save_vm(const char *name, const char *file, const char *body)
{
	char part[4096], mem[4096], mempart[4096], errbuf[256];
	struct save_progress prog = { .t0 = now_ns(), .tty = isatty(2) };
	struct error err = ERROR_INIT;
	struct api_reply rep;
	int sfd = -1, mfd = -1, in = -1, r;
	struct mgmt m;

	if ((size_t)snprintf(part, sizeof(part), "%s.part", file) >= sizeof(part) ||
	    (size_t)snprintf(mem, sizeof(mem), "%s.mem", file) >= sizeof(mem) ||
	    (size_t)snprintf(mempart, sizeof(mempart), "%s.mem.part", file) >= sizeof(mempart))
		return cli_error("%s: path too long", file);
	if (mgmt_open(name, &m) || mgmt_require_running(&m, NULL))
		return 1;
	sfd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (sfd < 0)
		return cli_error("cannot create '%s': %s", part, strerror(errno));
	mfd = open(mempart, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (mfd < 0) {
		r = cli_error("cannot create '%s': %s", mempart, strerror(errno));
		goto out;
	}
	r = api_client_stream(m.vm.api, "PUT", "/vm/snapshot/create", body, SAVE_START_TIMEOUT_MS,
			      &in, &rep);
	if (r) {
		r = cli_error("cannot save VM '%s': its VMM does not answer: %s", name,
			      strerror(-r));
		goto out;
	}
	if (in < 0) {
		r = cli_error("cannot save VM '%s': %s", name,
			      api_reply_error(&rep, errbuf, sizeof(errbuf)));
		api_reply_free(&rep);
		goto out;
	}
	r = snapshot_receive(in, sfd, mfd, save_progress, &prog, &err);
	if (prog.tty)
		fputc('\n', stderr);
	if (r) {
		r = cli_error("cannot save VM '%s': %s", name, error_msg(&err));
		goto out;
	}
	/* the memory first: a state file in place always has its memory file */
	r = save_sync_rename(mfd, mempart, mem);
	if (!r)
		r = save_sync_rename(sfd, part, file);
	if (r) {
		r = cli_error("cannot save VM '%s': %s: %s", name, file, strerror(-r));
		goto out;
	}
	cli_note("VM '%s' saved to %s in %.2f s\n", name, file, (now_ns() - prog.t0) / 1e9);
out:
	if (in >= 0)
		close(in);
	if (sfd >= 0)
		close(sfd);
	if (mfd >= 0)
		close(mfd);
	if (r) {
		unlink(part);
		unlink(mempart);
	}
	return r ? 1 : 0;
}

int cmd_save(int argc, char **argv)
{
	const char *name = NULL, *file = NULL;
	bool stop = false;

	if (mgmt_help(argc, argv,
		      SAVE_USAGE
		      "\n\nSave a running or paused VM's state into FILE and its memory into "
		      "FILE.mem\n(sparse); the VM is paused meanwhile and runs on, unless "
		      "--stop."))
		return 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--stop"))
			stop = true;
		else if (argv[i][0] != '-' && !name)
			name = argv[i];
		else if (argv[i][0] != '-' && !file)
			file = argv[i];
		else
			return cli_usage(SAVE_USAGE);
	}
	if (!file)
		return cli_usage(SAVE_USAGE);
	if (cli_save_vm(name, file, NULL))
		return 1;
	if (stop) {
		char *dargv[] = { "destroy", (char *)name, NULL };

		return cmd_destroy(2, dargv);
	}
	return 0;
}

/*
 * vessel restore FILE [--name N] [--eager]: start the VM saved in FILE
 * (vessel save) where it was.  The VM is N or the saved one; one not
 * defined here is defined from the save's definition first (virsh
 * restore's transient domain, made a defined one: vessel manages those).
 */
int cmd_restore(int argc, char **argv)
{
	const char *file = NULL, *name = NULL;
	struct snapshot_image img;
	struct error err = ERROR_INIT;
	char abs[PATH_MAX], tmp[] = "/tmp/vessel-restore-XXXXXX";
	struct vm_config c;
	bool eager = false;
	struct mgmt m;
	int r, fd;

	if (mgmt_help(argc, argv,
		      "vessel restore FILE [--name NAME] [--eager]\n\nStart the VM saved in FILE "
		      "and FILE.mem (vessel save) where it stopped; --eager copies its\nmemory in "
		      "at start instead of on the guest's first touch."))
		return 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--name") && i + 1 < argc)
			name = argv[++i];
		else if (!strcmp(argv[i], "--eager"))
			eager = true;
		else if (argv[i][0] != '-' && !file)
			file = argv[i];
		else
			return cli_usage("vessel restore FILE [--name NAME] [--eager]");
	}
	if (!file)
		return cli_usage("vessel restore FILE [--name NAME] [--eager]");
	if (!realpath(file, abs))
		return cli_error("cannot restore: '%s': %s", file, strerror(errno));
	if (snapshot_image_read(abs, &img, &err))
		return cli_error("cannot restore: %s", error_msg(&err));
	vm_config_init(&c);
	r = vm_config_from_json_string(img.conf, img.conf_len, &c, &err);
	snapshot_image_free(&img);
	if (r) {
		vm_config_free(&c);
		return cli_error("cannot restore: %s: the saved definition: %s", file,
				 error_msg(&err));
	}
	if (!name)
		name = c.name;
	if (!name) {
		vm_config_free(&c);
		return cli_error("cannot restore: the save names no VM; give --name");
	}
	if (mgmt_open(name, &m)) {
		vm_config_free(&c);
		return 1;
	}
	if (state_vm_status(&m.vm, NULL) != STATE_UNDEFINED) {
		if (state_vm_status(&m.vm, NULL) == STATE_RUNNING) {
			vm_config_free(&c);
			return cli_error("cannot restore: VM '%s' is running", name);
		}
	} else {
		/* not defined here: define it from the save, under this name */
		struct json_object *j;

		free(c.name);
		c.name = strdup(name);
		free(c.api_socket);
		c.api_socket = NULL;
		j = vm_config_to_json(&c);
		fd = mkstemp(tmp);
		r = j && fd >= 0 ? 0 : -1;
		if (!r) {
			const char *t = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY);

			r = write(fd, t, strlen(t)) == (ssize_t)strlen(t) ? 0 : -1;
		}
		if (fd >= 0)
			close(fd);
		json_object_put(j);
		if (!r)
			r = cli_define_from_file(name, tmp, tmp, file);
		unlink(tmp);
		if (r) {
			vm_config_free(&c);
			return cli_error("cannot restore: cannot define VM '%s' from the save",
					 name);
		}
		cli_note("VM '%s' defined from %s\n", name, file);
	}
	{
		/* name may be c.name: keep it past vm_config_free */
		char *n = strdup(name);

		vm_config_free(&c);
		if (!n)
			return cli_error("out of memory");
		r = cli_start_named(n, abs, eager);
		if (!r)
			cli_note("VM '%s' restored from %s\n", n, file);
		free(n);
	}
	return r;
}
