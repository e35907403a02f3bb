// SPDX-License-Identifier: MIT
/*
 * `vessel vhost-user-blk`: serve one disk image (raw or qcow2) as a
 * vhost-user-blk backend that QEMU, Cloud Hypervisor or any vhost-user
 * frontend attaches to (docs/vhost-user-blk.md).  The device is vessel's
 * own virtio-blk model on the async block layer (io_uring for raw, a
 * worker thread for qcow2); src/vhost is its vhost-user transport.
 *
 * The process serves one frontend at a time and keeps serving after it
 * disconnects; SIGINT/SIGTERM/SIGHUP stop it cleanly (exit status 0) and
 * remove the socket.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli/cli.h"
#include "mem/gmem.h"
#include "util/error.h"
#include "util/evloop.h"
#include "util/listen.h"
#include "util/log.h"
#include "util/reaper.h"
#include "util/syscall-filter.h"
#include "util/threads.h"
#include "vhost/vhost-user.h"
#include "virtio/devices.h"
#include "virtio/virtio.h"

static void vhost_usage(FILE *f)
{
	fprintf(f,
		"usage: vessel vhost-user-blk --socket PATH --disk FILE[,options]\n"
		"\n"
		"  -s, --socket PATH   Unix socket to listen on for a vhost-user frontend\n"
		"  -d, --disk SPEC     path=FILE or FILE, then [,format=raw|qcow2][,readonly=on]\n"
		"                      [,serial=S][,direct=on][,queues=N][,poll_us=N]\n"
		"  -v, --verbose       log every connection and protocol detail\n"
		"      --seccomp MODE  per-thread system call filters: on (default), log\n"
		"                      or off (docs/seccomp.md)\n"
		"  -h, --help          this help\n"
		"\n"
		"QEMU: -object memory-backend-memfd,id=mem,size=512M,share=on\n"
		"      -machine memory-backend=mem -chardev socket,id=c0,path=PATH\n"
		"      -device vhost-user-blk-pci,chardev=c0\n");
}

struct vhost_sig {
	struct evloop *loop;
	int fd;
};

static void on_signal(void *opaque, uint32_t events)
{
	struct vhost_sig *s = opaque;
	struct signalfd_siginfo si;

	while (read(s->fd, &si, sizeof(si)) == sizeof(si)) {
		log_info("vhost-user-blk: signal %u, stopping", si.ssi_signo);
		evloop_stop(s->loop);
	}
}

static int vhost_poll(struct virtio_dev *vd)
{
	return virtio_blk_poll(vd);
}

static int serve(const char *sock, struct vm_disk_config *dc)
{
	const struct vhost_user_dev_hooks hooks = { .poll = vhost_poll };
	struct vhost_sig sig = { .fd = -1 };
	struct vhost_user_dev *d = NULL;
	struct virtio_dev *vd = NULL;
	struct evloop *loop = NULL;
	struct error err = ERROR_INIT;
	struct gmem mem;
	sigset_t set;
	int lfd = -1, ret;

	gmem_init(&mem, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* Before any thread (qcow2 workers) exists, so all inherit the mask. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	ret = evloop_create(&loop);
	if (ret < 0)
		return cli_error("vhost-user-blk: event loop: %s", strerror(-ret));
	ret = virtio_blk_new(dc, 0, &mem, loop, &vd, &err);
	if (ret < 0) {
		cli_error("vhost-user-blk: %s", error_msg(&err));
		goto out;
	}
	ret = vhost_user_dev_create(vd, VIRTIO_BLK_CFG_SIZE, &mem, loop, &hooks, &d);
	if (ret < 0) {
		cli_error("vhost-user-blk: %s", strerror(-ret));
		goto out;
	}
	ret = vhost_user_listen(sock, &lfd);
	if (ret < 0) {
		cli_error("vhost-user-blk: cannot listen on %s: %s", sock,
			  ret == -EADDRINUSE ? "another backend is serving it"
					     : unix_listen_strerror(ret));
		goto out;
	}
	ret = vhost_user_dev_serve(d, lfd);
	if (ret < 0) {
		cli_error("vhost-user-blk: %s", strerror(-ret));
		goto out;
	}
	sig.loop = loop;
	sig.fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sig.fd >= 0)
		evloop_add(loop, sig.fd, EPOLLIN, on_signal, &sig);
	fprintf(stderr, "vessel: vhost-user-blk: serving %s (%s%s, %u queue%s) on %s\n", dc->path,
		dc->format ? dc->format : "probed", dc->readonly ? ", read-only" : "",
		vd->nr_queues, vd->nr_queues == 1 ? "" : "s", sock);
	threads_register(THREAD_VHOST, NULL); /* this thread serves the frontend */
	/* Everything is open: from here only frontends' fds come in (docs/seccomp.md). */
	if (syscall_filter_get_mode() != SYSCALL_FILTER_OFF && (ret = reaper_start()))
		log_warn("vhost-user-blk: no cleanup helper (%s): %s stays after exit",
			 strerror(-ret), sock);
	ret = syscall_filter_install(THREAD_VHOST);
	if (ret < 0) {
		cli_error("vhost-user-blk: cannot install the seccomp filter: %s", strerror(-ret));
		goto out;
	}
	ret = evloop_run(loop);
	if (ret < 0)
		cli_error("vhost-user-blk: event loop: %s", strerror(-ret));
out:
	if (sig.fd >= 0) {
		evloop_del(loop, sig.fd);
		close(sig.fd);
	}
	vhost_user_dev_destroy(d);
	if (lfd >= 0) {
		close(lfd);
		unix_listen_remove(sock);
	}
	if (vd)
		vd->ops->destroy(vd);
	gmem_destroy(&mem);
	evloop_destroy(loop);
	reaper_finish();
	return ret < 0 ? 1 : 0;
}

int cmd_vhost_user_blk(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "disk", required_argument, NULL, 'd' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "seccomp", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	enum syscall_filter_mode mode = syscall_filter_default_mode();
	struct vm_disk_config dc = { 0 };
	struct error err = ERROR_INIT;
	const char *sock = NULL;
	bool have_disk = false;
	int c, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:d:vh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			sock = optarg;
			break;
		case 'd':
			if (have_disk) {
				virtio_blk_config_free(&dc);
				return cli_error("vhost-user-blk serves one --disk");
			}
			if (virtio_blk_config_parse(&dc, optarg, &err) < 0)
				return cli_error("--disk %s: %s", optarg, error_msg(&err));
			/* no VM here to pause: a stop policy would silently report */
			if ((dc.has_werror && virtio_blk_error_action(&dc, true) >= BLK_ERR_STOP) ||
			    (dc.has_rerror &&
			     virtio_blk_error_action(&dc, false) >= BLK_ERR_STOP)) {
				virtio_blk_config_free(&dc);
				return cli_error(
					"--disk %s: werror/rerror=stop|enospc need a VM to "
					"pause; vhost-user-blk reports or ignores errors",
					optarg);
			}
			have_disk = true;
			break;
		case 'v':
			log_set_level(LOG_DEBUG);
			break;
		case 'S':
			if (syscall_filter_parse(optarg, &mode)) {
				virtio_blk_config_free(&dc);
				return cli_misuse("--seccomp '%s': expected on, log or off",
						  optarg);
			}
			break;
		case 'h':
			vhost_usage(stdout);
			virtio_blk_config_free(&dc);
			return 0;
		default:
			vhost_usage(stderr);
			virtio_blk_config_free(&dc);
			return 2;
		}
	}
	if (optind < argc || !sock || !have_disk) {
		virtio_blk_config_free(&dc);
		if (optind < argc)
			return cli_misuse("vhost-user-blk: unexpected argument '%s'", argv[optind]);
		return cli_misuse("vhost-user-blk needs --socket PATH and --disk FILE "
				  "(see --help)");
	}
	/* Before serve() starts the disk's threads: each installs its filter. */
	syscall_filter_set_mode(mode);
	ret = serve(sock, &dc);
	virtio_blk_config_free(&dc);
	return ret;
}
