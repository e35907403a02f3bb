// SPDX-License-Identifier: MIT
/*
 * `vessel run`: boot one VM in the foreground, its serial console on
 * stdio.  Exit status: 0 when the guest powers off (or reboots with
 * --on-reboot=exit), when SIGTERM/SIGINT or Ctrl-A x stop it; 1 on errors
 * and guest crashes (registers printed); (v << 1) | 1 when the guest
 * writes v to the debug-exit port (--debug-exit, QEMU isa-debug-exit).
 */
#include "cli/cli.h"
#include "mgmt/network.h"
#include "api/server.h"
#include "devices/console.h"
#include "chardev/chardev.h"
#include "util/error.h"
#include "util/eventlog.h"
#include "util/log.h"
#include "util/jail.h"
#include "util/reaper.h"
#include "util/syscall-filter.h"
#include "util/util.h"
#include "vm/config.h"
#include "vm/config_json.h"
#include "mgmt/placement.h"
#include "vm/snapshot.h"
#include "vm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void run_usage(FILE *f)
{
	fprintf(f,
		"usage: vessel run --kernel FILE [options]\n"
		"\n"
		"  -k, --kernel FILE       bzImage (64-bit boot protocol) or ELF with a PVH note\n"
		"  -i, --initrd FILE       initial ramdisk\n"
		"  -a, --cmdline STRING    kernel command line\n"
		"  -c, --cpus N            number of vCPUs (default 1)\n"
		"  -m, --memory SIZE       guest RAM, e.g. 512M or 2G (default 256M)\n"
		"      --serial MODE       COM1 console: stdio (default), pty, file=PATH,\n"
		"                          socket=PATH or none\n"
		"      --on-reboot ACTION  restart (default) or destroy (stop vessel) when the\n"
		"                          guest reboots, as the JSON's lifecycle.on_reboot\n"
		"      --no-reboot         same as --on-reboot destroy\n"
		"      --debug-exit        isa-debug-exit port 0xf4: exit status (value << 1) | 1\n"
		"      --prealloc          fault in all guest RAM before boot\n"
		"      --hugepages SIZE    back RAM with 2M or 1G huge pages (hugetlbfs)\n"
		"      --no-thp            do not ask for transparent huge pages\n"
		"      --ksm               let KSM merge identical guest pages\n");
	/* The devices, from the device table (vm/devtable.c). */
	for (const struct dev_kind *const *k = vm_dev_kinds; *k; k++) {
		const char *h = (*k)->cli_help;
		char opt[32];
		int w;

		snprintf(opt, sizeof(opt), "--%s%s", (*k)->cli_name,
			 (*k)->cli_arg == DEV_ARG_REQUIRED ? " SPEC" : "");
		w = fprintf(f, "      %s", opt);
		for (bool first = true; *h; first = false) {
			size_t n = strcspn(h, "\n");

			fprintf(f, "%*s%.*s\n", first ? MAX(1, 26 - w) : 26, "", (int)n, h);
			h += n + (h[n] == '\n');
		}
	}
	fprintf(f,
		"      --config FILE       JSON VM definition (docs/config.md); options given\n"
		"                          on the command line override it\n"
		"      --api-socket PATH   serve the REST API (docs/api.yaml) on this socket\n"
		"      --name NAME         VM name used in logs\n"
		"      --seccomp MODE      per-thread system call filters: on (default; a\n"
		"                          refused call stops the VMM), log (the kernel logs\n"
		"                          refused calls) or off (docs/seccomp.md)\n"
		"      --jail[=SPEC]       run jailed (docs/jail.md): namespaces, an empty\n"
		"                          root, uid/gid, no capabilities, cgroup limits,\n"
		"                          Landlock; SPEC: on|auto|off,uid=N,gid=N,\n"
		"                          cpu_max=\"Q P\",memory_max=SIZE,pids_max=N,...\n"
		"      --restore FILE      resume the VM saved in FILE and FILE.mem (vessel "
		"save):\n"
		"                          its definition comes from FILE; memory is mapped\n"
		"                          from FILE.mem and read as the guest touches it\n"
		"      --restore-eager     copy all of FILE.mem into guest memory at start\n"
		"      --event-log FILE    append one timestamped line per lifecycle event\n"
		"                          (start, pause, resume, shutdown, reset, stop, crash,\n"
		"                          API errors), rotated at 1 MiB\n"
		"  -h, --help              this help\n"
		"\n"
		"The console escape is Ctrl-A: Ctrl-A x quits, Ctrl-A h lists the keys.\n");
}

enum {
	OPT_SERIAL = 256,
	OPT_ON_REBOOT,
	OPT_NO_REBOOT,
	OPT_DEBUG_EXIT,
	OPT_PREALLOC,
	OPT_HUGEPAGES,
	OPT_NO_THP,
	OPT_KSM,
	OPT_NAME,
	OPT_CONFIG,
	OPT_API_SOCKET,
	OPT_EVENT_LOG,
	OPT_SECCOMP,
	OPT_JAIL,
	OPT_RESTORE,
	OPT_RESTORE_EAGER,
	OPT_DEVICE, /* OPT_DEVICE + i: vm_dev_kinds[i] */
};

#define RUN_FIXED_OPTS 23
#define RUN_MAX_KINDS 16

static int set_string(char **dst, const char *src)
{
	free(*dst);
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

/* The fixed options, then one per device kind. */
static void run_options(struct option *opts)
{
	static const struct option fixed[RUN_FIXED_OPTS] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'a' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "memory", required_argument, NULL, 'm' },
		{ "serial", required_argument, NULL, OPT_SERIAL },
		{ "on-reboot", required_argument, NULL, OPT_ON_REBOOT },
		{ "no-reboot", no_argument, NULL, OPT_NO_REBOOT },
		{ "debug-exit", no_argument, NULL, OPT_DEBUG_EXIT },
		{ "prealloc", no_argument, NULL, OPT_PREALLOC },
		{ "hugepages", required_argument, NULL, OPT_HUGEPAGES },
		{ "no-thp", no_argument, NULL, OPT_NO_THP },
		{ "ksm", no_argument, NULL, OPT_KSM },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "api-socket", required_argument, NULL, OPT_API_SOCKET },
		{ "event-log", required_argument, NULL, OPT_EVENT_LOG },
		{ "seccomp", required_argument, NULL, OPT_SECCOMP },
		{ "jail", optional_argument, NULL, OPT_JAIL },
		{ "restore", required_argument, NULL, OPT_RESTORE },
		{ "restore-eager", no_argument, NULL, OPT_RESTORE_EAGER },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const int args[] = { [DEV_ARG_NONE] = no_argument,
				    [DEV_ARG_REQUIRED] = required_argument,
				    [DEV_ARG_OPTIONAL] = optional_argument };
	unsigned int n = 0;

	for (; fixed[n].name; n++)
		opts[n] = fixed[n];
	for (unsigned int i = 0; vm_dev_kinds[i] && i < RUN_MAX_KINDS; i++, n++)
		opts[n] = (struct option){ vm_dev_kinds[i]->cli_name,
					   args[vm_dev_kinds[i]->cli_arg], NULL,
					   OPT_DEVICE + (int)i };
	opts[n] = (struct option){ NULL, 0, NULL, 0 };
}

/* Parse the options into `c`; returns 0, or an exit status after printing why. */
static int run_parse(int argc, char **argv, struct vm_config *c, bool *help)
{
	struct option opts[RUN_FIXED_OPTS + RUN_MAX_KINDS + 1];
	uint64_t v;
	int opt;

	run_options(opts);
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":k:i:a:c:m:h", opts, NULL)) != -1) {
		struct error err = ERROR_INIT;
		const struct dev_kind *k;

		switch (opt) {
		case 'k':
			if (set_string(&c->kernel, optarg))
				return cli_error("out of memory");
			break;
		case 'i':
			if (set_string(&c->initrd, optarg))
				return cli_error("out of memory");
			break;
		case 'a':
			if (set_string(&c->cmdline, optarg))
				return cli_error("out of memory");
			break;
		case 'c':
			if (parse_u64(optarg, VM_MAX_VCPUS, &v) || v == 0)
				return cli_error("--cpus '%s': expected a number from 1 to %d", optarg,
						 VM_MAX_VCPUS);
			c->nr_cpus = (unsigned int)v;
			break;
		case 'm':
			if (parse_size(optarg, &v))
				return cli_error("--memory '%s': expected a size such as 512M or 2G",
						 optarg);
			c->mem_size = v;
			break;
		case OPT_SERIAL:
			if (chardev_spec_parse(&c->console, optarg, CHARDEV_MODES_ALL, &err))
				return cli_error("--serial '%s': %s", optarg, error_msg(&err));
			break;
		case OPT_ON_REBOOT:
			/* The JSON's words; reset and exit, this option's first
			 * words, stay accepted for the scripts that use them. */
			if (!strcmp(optarg, "restart") || !strcmp(optarg, "reset"))
				c->on_reboot = VM_REBOOT_RESET;
			else if (!strcmp(optarg, "destroy") || !strcmp(optarg, "exit"))
				c->on_reboot = VM_REBOOT_EXIT;
			else
				return cli_error("--on-reboot '%s': expected restart or destroy",
						 optarg);
			break;
		case OPT_NO_REBOOT:
			c->on_reboot = VM_REBOOT_EXIT;
			break;
		case OPT_DEBUG_EXIT:
			c->debug_exit = true;
			break;
		case OPT_PREALLOC:
			c->mem.prealloc = true;
			break;
		case OPT_HUGEPAGES:
			if (parse_size(optarg, &v) || (v != 2 * MiB && v != GiB))
				return cli_error("--hugepages '%s': expected 2M or 1G", optarg);
			c->mem.backing = GMEM_BACKING_HUGETLB;
			c->mem.hugepage_size = v;
			c->mem.thp = false;
			break;
		case OPT_NO_THP:
			c->mem.thp = false;
			break;
		case OPT_KSM:
			c->mem.mergeable = true;
			break;
		case OPT_NAME:
			if (set_string(&c->name, optarg))
				return cli_error("out of memory");
			break;
		case OPT_CONFIG:
		case OPT_RESTORE:
		case OPT_RESTORE_EAGER:
			break; /* handled before the other options, see cmd_run */
		case OPT_API_SOCKET:
			if (set_string(&c->api_socket, optarg))
				return cli_error("out of memory");
			break;
		case OPT_EVENT_LOG:
			/* argv outlives the VM: the process-wide log keeps the pointer */
			event_log_set_path(optarg);
			break;
		case OPT_SECCOMP: {
			enum syscall_filter_mode m;

			if (syscall_filter_parse(optarg, &m))
				return cli_error("--seccomp '%s': expected on, log or off", optarg);
			c->seccomp = (int)m;
			break;
		}
		case OPT_JAIL:
			c->jail_given = true;
			c->jail.mode = JAIL_ON; /* --jail=uid=N: on, with that uid */
			if (optarg && keys_parse(jail_keys, &c->jail, optarg, "mode", &err))
				return cli_error("--jail '%s': %s", optarg, error_msg(&err));
			break;
		case 'h':
			*help = true;
			return 0;
		case ':':
			return cli_error("option '%s' needs an argument", argv[optind - 1]);
		default:
			if (opt < OPT_DEVICE || opt >= OPT_DEVICE + RUN_MAX_KINDS)
				return cli_error("unknown option '%s' (see 'vessel run --help')",
						 argv[optind - 1]);
			k = vm_dev_kinds[opt - OPT_DEVICE];
			if (vm_config_parse_dev(c, k, optarg, &err)) {
				if (optarg)
					return cli_error("--%s '%s': %s", k->cli_name, optarg,
							 error_msg(&err));
				return cli_error("--%s: %s", k->cli_name, error_msg(&err));
			}
			break;
		}
	}
	if (optind < argc)
		return cli_error("unexpected argument '%s' (see 'vessel run --help')", argv[optind]);
	return 0;
}

static pid_t jail_child;

static void jail_forward(int sig)
{
	kill(jail_child, sig);
}

/*
 * `vessel run --jail`: this process stays outside as the jail's outer
 * half (util/jail.h) and the VMM goes on in its child, jailed.  Returns
 * the exit status in the outer process, -1 in the VMM.
 */
static int run_jail(struct vm_config *cfg)
{
	const char *devs[] = { "/dev/kvm", NULL, NULL, NULL };
	const char *skip = getenv("VESSEL_JAIL_NOT");
	bool nets = vm_config_count(cfg, &virtio_net_kind) > 0;
	struct error err = ERROR_INIT;
	int r, rfd, status;

	if (skip) {
		/* the monitor found the host unable to jail (auto) */
		cfg->jail.mode = JAIL_OFF;
		jail_note_not_jailed(skip);
		unsetenv("VESSEL_JAIL_NOT");
		return -1;
	}
	if (!jail_requested()) {
		r = jail_outer_fork(&cfg->jail, cfg->name, cfg->nr_cpus + 8, &jail_child, &rfd,
				    &err);
		if (r < 0)
			return cli_error("%s", error_msg(&err)), 1;
		if (r == 1) {
			log_warn("%s", jail_state()->why_not);
			cfg->jail.mode = JAIL_OFF;
			return -1;
		}
		if (r == 2) {
			/* the terminal's ^C reaches the VMM itself; a kill of us is passed on */
			signal(SIGINT, SIG_IGN);
			signal(SIGQUIT, SIG_IGN);
			signal(SIGTERM, jail_forward);
			signal(SIGHUP, jail_forward);
			status = jail_outer_wait(jail_child, rfd);
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		/* in the foreground, a killed `vessel run` ends the VM, as without a jail */
		if ((r = jail_die_with_outer()))
			log_warn("jail: the VM would outlive a killed vessel run: %s",
				 strerror(-r));
	}
	if (nets) {
		devs[1] = "/dev/net/tun";
		devs[2] = "/dev/vhost-net";
	}
	/* no host network back-end: the VMM needs no network namespace of the host's */
	if (jail_enter(&cfg->jail, cfg->name, !nets, devs, &err)) {
		log_err("cannot jail the VMM: %s", error_msg(&err));
		return 1;
	}
	return -1;
}

/*
 * --restore FILE: the definition from FILE's CONF section unless --config
 * gives one (vessel restore: the manager's, with its sockets and jail;
 * the machine's shape and every device are checked against the save
 * all the same), and FILE.mem open for the VM.
 */
static int run_restore_open(const char *path, bool has_config, struct vm_config *cfg,
			    struct snapshot_image *img, int *mem_fd)
{
	struct error err = ERROR_INIT;
	char mem[4096];

	if (snapshot_image_read(path, img, &err))
		return cli_error("cannot restore: %s", error_msg(&err)), 1;
	if (!has_config && vm_config_from_json_string(img->conf, img->conf_len, cfg, &err)) {
		snapshot_image_free(img);
		return cli_error("cannot restore: %s: the saved definition: %s", path,
				 error_msg(&err)),
		       1;
	}
	snprintf(mem, sizeof(mem), "%s.mem", path);
	*mem_fd = open(mem, O_RDONLY | O_CLOEXEC);
	if (*mem_fd < 0) {
		snapshot_image_free(img);
		return cli_error("cannot restore: cannot open '%s': %s", mem, strerror(errno)), 1;
	}
	return 0;
}

int cmd_run(int argc, char **argv)
{
	struct api_server *api = NULL;
	struct error err = ERROR_INIT;
	struct snapshot_image img = { 0 };
	const char *restore = NULL;
	bool help = false, eager = false, has_config = false;
	struct vm_config cfg;
	uint64_t t_exec = now_ns(), load_ns = 0;
	int mem_fd = -1;
	struct vm *vm;
	int ret;

	vm_config_init(&cfg);
	/*
	 * A restore's definition is the saved one: read it (and open the
	 * memory file) now, before the jail, which leaves no file to open.
	 */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--restore") && i + 1 < argc)
			restore = argv[i + 1];
		else if (!strncmp(argv[i], "--restore=", 10))
			restore = argv[i] + 10;
		else if (!strcmp(argv[i], "--restore-eager"))
			eager = true;
		else if (!strcmp(argv[i], "--config") || !strncmp(argv[i], "--config=", 9))
			has_config = true;
	}
	if (restore) {
		ret = run_restore_open(restore, has_config, &cfg, &img, &mem_fd);
		if (ret)
			return ret;
	}
	/* A JSON definition first, so command-line options override it. */
	for (int i = 1; i < argc; i++) {
		const char *path = NULL;

		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			path = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			path = argv[i] + 9;
		if (path && vm_config_load_json(path, &cfg, &err)) {
			vm_config_free(&cfg);
			return cli_error("%s", error_msg(&err)), 2;
		}
	}
	ret = run_parse(argc, argv, &cfg, &help);
	if (ret || help) {
		if (help)
			run_usage(stdout);
		vm_config_free(&cfg);
		return ret ? 2 : 0;
	}
	if (vm_config_validate(&cfg, &err) || network_resolve_nics(NULL, &cfg, &err)) {
		vm_config_free(&cfg);
		return cli_error("%s", error_msg(&err)), 2;
	}
	if (cfg.name)
		log_set_tag(cfg.name);
	if (cfg.jail.mode != JAIL_OFF) {
		ret = run_jail(&cfg);
		if (ret >= 0) {
			vm_config_free(&cfg);
			return ret;
		}
	}

	/* Before vm_create starts the first thread: each installs its role's filter. */
	syscall_filter_set_mode((enum syscall_filter_mode)cfg.seccomp);
	vm_block_signals();
	ret = vm_create_flags(&cfg, restore ? VM_CREATE_RESTORE : 0, &vm, &err);
	if (!ret && restore) {
		uint64_t t0 = now_ns();

		ret = snapshot_restore(vm, &img, mem_fd, eager, &err);
		if (ret) {
			error_prefix(&err, "cannot restore '%s'", restore);
			vm_destroy(vm);
		} else {
			load_ns = now_ns() - t0;
		}
		snapshot_image_free(&img);
		close(mem_fd);
	}
	if (ret) {
		/* As vm_create's callees printed it before: with the VM's tag. */
		if (error_is_set(&err))
			log_err("%s", error_msg(&err));
		event_log("start failed: %s",
			  error_is_set(&err) ? error_msg(&err) : "see the VMM's output");
		vm_config_free(&cfg);
		return 1;
	}
	if (cfg.api_socket) {
		ret = api_server_start(vm, cfg.api_socket, &api, &err);
		if (ret) {
			cli_error("%s", error_msg(&err));
			/* An exit status, not a negative errno (which would read as 239). */
			ret = 1;
			goto out;
		}
	}
	ret = vm_start(vm);
	if (!ret && restore) {
		/* bench/snapshot reads these: load, and from this process's start to the vCPUs' */
		event_log("restored: %u vCPU(s), %llu MiB from %s; state loaded in %.1f ms, "
			  "running %.1f ms after the VMM started",
			  vm->nr_vcpus, (unsigned long long)(cfg.mem_size >> 20), restore,
			  load_ns / 1e6, (now_ns() - t_exec) / 1e6);
	} else if (!ret) {
		event_log("started: %u vCPU(s), %llu MiB", vm->nr_vcpus,
			  (unsigned long long)(cfg.mem_size >> 20));
	}
	if (!ret) {
		if (vm_placement_apply(vm))
			log_warn("cannot pin the emulator threads as configured");
		ret = vm_run(vm);
	} else {
		ret = 1;
	}
out:
	if (api)
		api_server_stop(api);
	console_restore_terminal();
	vm_destroy(vm);
	vm_config_free(&cfg);
	reaper_finish();
	return ret;
}
