// SPDX-License-Identifier: MIT
/* vessel: entry point, dispatching to one command group in src/cli. */
#include "cli/cli.h"
#include "cli/mgmt.h"
#include "util/log.h"
#include "util/reaper.h"
#include "util/threads.h"
#include "util/util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmd_version(int argc, char **argv)
{
	if (mgmt_help(argc, argv, "vessel version\n\nPrint vessel's version."))
		return 0;
	if (argc > 1)
		return cli_usage("vessel version");
	printf("vessel 0.1.0\n");
	return 0;
}

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

static const struct command commands[] = {
	/* One line per command group, in the order `vessel --help` lists them. */
	{ "run", cmd_run, "boot a VM in the foreground, console on stdio" },
	{ "host", cmd_host, "show what this host offers for virtualization" },
	{ "img", cmd_img, "create, inspect, check and convert disk images" },
	{ "define", cmd_define, "define a VM from a JSON file (docs/config.md)" },
	{ "undefine", cmd_undefine, "remove a VM's definition" },
	{ "start", cmd_start, "start a defined VM in the background" },
	{ "list", cmd_list, "list running VMs (--all: defined ones too)" },
	{ "info", cmd_info, "show a VM's state and resources" },
	{ "console", cmd_console, "attach to a VM's serial console" },
	{ "pause", cmd_pause, "pause a VM's vCPUs" },
	{ "resume", cmd_resume, "resume a paused VM" },
	{ "shutdown", cmd_shutdown, "ACPI power button, destroy after --timeout" },
	{ "destroy", cmd_destroy, "stop a VM at once" },
	{ "reboot", cmd_reboot, "reset a running VM" },
	{ "save", cmd_save, "save a VM's state and memory to files (docs/snapshot-format.md)" },
	{ "restore", cmd_restore, "start a VM from a save, where it stopped" },
	{ "snapshot", cmd_snapshot,
	  "snapshots of a VM with its disks: create, list, revert, delete" },
	{ "autostart", cmd_autostart, "start a VM when the host boots (--disable, --boot)" },
	{ "edit", cmd_edit, "edit a VM's definition in $EDITOR, checked before it is saved" },
	{ "dumpconfig", cmd_dumpconfig, "a VM's definition as JSON that define accepts (--live)" },
	{ "domblklist", cmd_domblklist, "a VM's disks: guest name and image (--details)" },
	{ "domiflist", cmd_domiflist, "a VM's NICs: back-end, MAC and VLANs" },
	{ "vcpuinfo", cmd_vcpuinfo, "where each vCPU runs: host CPU, time, affinity" },
	{ "vcpupin", cmd_vcpupin, "pin a vCPU to host CPUs (live and/or --config)" },
	{ "emulatorpin", cmd_emulatorpin, "pin the event-loop and I/O threads" },
	{ "numatune", cmd_numatune, "NUMA memory policy: --mode, --nodeset" },
	{ "setmem", cmd_setmem, "change a running VM's memory through its balloon" },
	{ "dommemstat", cmd_dommemstat, "the guest's memory statistics (--period N)" },
	{ "numastat", cmd_numastat, "is each guest NUMA node on its vCPUs' host node (--all)" },
	{ "net", cmd_net, "networks for VMs: bridges, VLANs, DHCP, VXLAN (net --help)" },
	{ "vhost-user-blk", cmd_vhost_user_blk, "serve a disk to vhost-user frontends" },
	{ "version", cmd_version, "print the version" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: vessel [-v|--verbose] [-q|--quiet] COMMAND [ARGS...]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-18s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\nRun 'vessel COMMAND --help' for the options of a command.\n");
}

int main(int argc, char **argv)
{
	int i = 1;

	/* before anything opens an fd: "fd:N" may only name one handed to us */
	handed_fds_record();
	log_set_level(LOG_WARN);
	/* The thread registry (util/threads.h) starts with this thread. */
	threads_register(THREAD_MAIN, NULL);
	/*
	 * A console reader, API client or pipe that goes away must not kill
	 * the VMM: writes then fail with EPIPE, which callers handle.
	 */
	signal(SIGPIPE, SIG_IGN);
	/* The cleanup helper that a filtered VMM spawns (util/reaper.h). */
	if (argc > 1 && !strcmp(argv[1], "__reaper"))
		return reaper_main(argc - 1, argv + 1);
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
			log_set_level(log_get_level() < LOG_INFO ? LOG_INFO : LOG_DEBUG);
		} else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
			log_set_level(LOG_ERR);
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--version")) {
			printf("vessel 0.1.0\n");
			return 0;
		} else {
			fprintf(stderr, "vessel: unknown option '%s' (try 'vessel --help')\n",
				argv[i]);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++) {
		int r;

		if (strcmp(argv[i], commands[c].name))
			continue;
		r = commands[c].fn(argc - i, argv + i);
		/* A -errno that slipped through is a failure, not status 254. */
		return r < 0 || r > 255 ? 1 : r;
	}
	fprintf(stderr, "vessel: unknown command '%s' (try 'vessel --help')\n", argv[i]);
	return 2;
}
