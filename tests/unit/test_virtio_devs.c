// SPDX-License-Identifier: MIT
/*
 * virtio-rng and virtio-console device models against fake guest memory,
 * and the --disk / --rng / --console option parsers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "mem/gmem.h"
#include "util/error.h"
#include "util/evloop.h"
#include "util/util.h"
#include "virtio/devices.h"
#include "virtio/virtio.h"
#include "vm/config.h"

#define MEM_SIZE (1u << 20)
#define DESC_GPA 0x1000
#define AVAIL_GPA 0x2000
#define USED_GPA 0x3000
#define BUF_GPA 0x10000

struct fx {
	struct gmem mem;
	uint8_t *ram;
	int irqs;
};

static void fake_notify_queue(void *t, struct virtq *vq)
{
	((struct fx *)t)->irqs++;
}

static const struct virtio_transport_ops fake_tops = { .notify_queue = fake_notify_queue };

static void fx_init(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	f->ram = calloc(1, MEM_SIZE);
	gmem_init(&f->mem, NULL);
	assert_int_equal(gmem_add_mapped(&f->mem, 0, MEM_SIZE, f->ram, -1, 0), 0);
}

/* Negotiate everything offered; queue q at DESC/AVAIL/USED + q * 0x4000. */
static void start(struct fx *f, struct virtio_dev *vd)
{
	vd->tops = &fake_tops;
	vd->transport = f;
	virtio_dev_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_dev_write_features(vd, 0, (uint32_t)vd->host_features);
	virtio_dev_write_features(vd, 1, (uint32_t)(vd->host_features >> 32));
	virtio_dev_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					  VIRTIO_STATUS_FEATURES_OK);
	for (unsigned int q = 0; q < vd->nr_queues; q++) {
		vd->vqs[q].size = 16;
		vd->vqs[q].desc_gpa = DESC_GPA + q * 0x4000;
		vd->vqs[q].avail_gpa = AVAIL_GPA + q * 0x4000;
		vd->vqs[q].used_gpa = USED_GPA + q * 0x4000;
		assert_int_equal(virtio_dev_queue_enable(vd, q), 0);
	}
	virtio_dev_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					  VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	assert_true(virtio_dev_active(vd));
}

static void post(struct fx *f, unsigned int q, uint64_t addr, uint32_t len, uint16_t flags)
{
	struct virtq_desc d = { .addr = addr, .len = len, .flags = flags };
	uint16_t *avail = (uint16_t *)(f->ram + AVAIL_GPA + q * 0x4000);
	uint16_t idx = avail[1];

	memcpy(f->ram + DESC_GPA + q * 0x4000 + 16 * (idx % 16), &d, sizeof(d));
	avail[2 + idx % 16] = idx % 16;
	avail[1] = idx + 1;
}

static uint32_t used_len(struct fx *f, unsigned int q, unsigned int i)
{
	uint32_t v;

	memcpy(&v, f->ram + USED_GPA + q * 0x4000 + 4 + 8 * i + 4, 4);
	return v;
}

static uint16_t used_idx(struct fx *f, unsigned int q)
{
	return *(uint16_t *)(f->ram + USED_GPA + q * 0x4000 + 2);
}

static void test_rng(void **state)
{
	struct fx f;
	struct virtio_dev *vd;
	uint8_t zero[64] = { 0 };

	fx_init(&f);
	assert_int_equal(virtio_rng_new(&f.mem, NULL, &vd), 0);
	start(&f, vd);
	post(&f, 0, BUF_GPA, 64, VIRTQ_DESC_F_WRITE);
	post(&f, 0, BUF_GPA + 0x1000, 256 * 1024, VIRTQ_DESC_F_WRITE); /* capped */
	virtio_dev_kick(vd, 0);
	assert_int_equal(used_idx(&f, 0), 2);
	assert_int_equal(used_len(&f, 0, 0), 64);
	assert_int_equal(used_len(&f, 0, 1), 64 * 1024);
	assert_memory_not_equal(f.ram + BUF_GPA, zero, 64);
	assert_int_equal(f.irqs, 1);
	/* A readable buffer gets nothing, and the device keeps going. */
	post(&f, 0, BUF_GPA, 64, 0);
	virtio_dev_kick(vd, 0);
	assert_int_equal(used_idx(&f, 0), 3);
	assert_int_equal(used_len(&f, 0, 2), 0);
	vd->ops->destroy(vd);
	gmem_destroy(&f.mem);
	free(f.ram);
}

/*
 * A vCPU never runs the device model: the DRIVER_OK kick and a signalled
 * doorbell run on the device's loop.  The loop is paused, so nothing may
 * happen until it is resumed.
 */
static void test_signal_runs_on_device_loop(void **state)
{
	struct fx f;
	struct virtio_dev *vd;
	struct evloop *loop;

	fx_init(&f);
	assert_int_equal(evloop_create(&loop), 0);
	assert_int_equal(virtio_rng_new(&f.mem, loop, &vd), 0);
	assert_int_equal(virtio_dev_bind_loop(vd, loop), 0);
	assert_int_equal(virtio_dev_bind_loop(vd, loop), 0); /* bound already */
	assert_int_equal(evloop_thread_start(loop, "t-rng", THREAD_IOTHREAD), 0);
	assert_int_equal(evloop_pause(loop), 0);
	post(&f, 0, BUF_GPA, 64, VIRTQ_DESC_F_WRITE); /* before DRIVER_OK */
	start(&f, vd);
	usleep(20000);
	assert_int_equal(used_idx(&f, 0), 0); /* not served on this thread */
	evloop_resume(loop);
	for (int i = 0; i < 2000 && used_idx(&f, 0) < 1; i++)
		usleep(1000);
	assert_int_equal(used_idx(&f, 0), 1);
	/* A doorbell the ioeventfd missed, from a "vCPU". */
	assert_int_equal(evloop_pause(loop), 0);
	post(&f, 0, BUF_GPA, 64, VIRTQ_DESC_F_WRITE);
	pthread_mutex_lock(&vd->lock);
	virtio_dev_signal(vd, 0);
	pthread_mutex_unlock(&vd->lock);
	usleep(20000);
	assert_int_equal(used_idx(&f, 0), 1);
	evloop_resume(loop);
	for (int i = 0; i < 2000 && used_idx(&f, 0) < 2; i++)
		usleep(1000);
	assert_int_equal(used_idx(&f, 0), 2);
	evloop_thread_stop(loop);
	vd->ops->destroy(vd); /* unbinds from the loop */
	evloop_destroy(loop);
	gmem_destroy(&f.mem);
	free(f.ram);
}

static void test_console_file(void **state)
{
	struct fx f;
	struct virtio_dev *vd;
	char path[256], buf[64] = { 0 };
	const char *dir = getenv("UNIT_TMPDIR");
	FILE *fp;

	fx_init(&f);
	snprintf(path, sizeof(path), "%s/test_vcon_%d.log", dir ? dir : "/tmp", getpid());
	unlink(path);
	assert_int_equal(virtio_console_new(&(struct chardev_spec){ CHARDEV_FILE, path }, &f.mem, NULL, &vd, NULL), 0);
	assert_null(virtio_console_pty_path(vd));
	start(&f, vd);
	memcpy(f.ram + BUF_GPA, "hello from hvc0\n", 16);
	post(&f, 1, BUF_GPA, 16, 0);
	virtio_dev_kick(vd, 1);
	assert_int_equal(used_idx(&f, 1), 1);
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	assert_string_equal(buf, "hello from hvc0\n");
	vd->ops->destroy(vd);
	unlink(path);
	gmem_destroy(&f.mem);
	free(f.ram);
}

static void test_console_pty(void **state)
{
	struct fx f;
	struct virtio_dev *vd;

	fx_init(&f);
	if (virtio_console_new(&(struct chardev_spec){ CHARDEV_PTY, NULL }, &f.mem, NULL, &vd,
			       NULL) < 0) {
		gmem_destroy(&f.mem);
		free(f.ram);
		skip();
	}
	assert_non_null(virtio_console_pty_path(vd));
	assert_int_equal(strncmp(virtio_console_pty_path(vd), "/dev/pts/", 9), 0);
	vd->ops->destroy(vd);
	gmem_destroy(&f.mem);
	free(f.ram);
}

/*
 * --console socket=PATH: a regular file at PATH is never deleted, a live
 * listener is not stolen, and the socket is 0600 even under umask 0
 * (anyone who connects reads the guest's console; issue 9 item 5).
 */
static void test_console_socket_policy(void **state)
{
	struct fx f;
	struct virtio_dev *vd, *vd2;
	struct evloop *loop;
	char path[108], buf[8] = { 0 };
	const char *dir = getenv("UNIT_TMPDIR");
	struct stat st;
	mode_t old;
	int fd;

	fx_init(&f);
	snprintf(path, sizeof(path), "%s/vcon-%d", dir ? dir : "/tmp", getpid());
	assert_int_equal(evloop_create(&loop), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "keep", 4), 4);
	close(fd);
	assert_int_equal(virtio_console_new(&(struct chardev_spec){ CHARDEV_SOCKET, path }, &f.mem, loop, &vd, NULL), -EEXIST);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 4);
	close(fd);
	assert_string_equal(buf, "keep");
	unlink(path);

	old = umask(0);
	assert_int_equal(virtio_console_new(&(struct chardev_spec){ CHARDEV_SOCKET, path }, &f.mem, loop, &vd, NULL), 0);
	umask(old);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	/* A second VM on the same path is refused; the first keeps it. */
	assert_int_equal(virtio_console_new(&(struct chardev_spec){ CHARDEV_SOCKET, path }, &f.mem, loop, &vd2, NULL), -EADDRINUSE);
	assert_int_equal(lstat(path, &st), 0);
	vd->ops->destroy(vd);
	assert_int_equal(access(path, F_OK), -1);
	evloop_destroy(loop);
	gmem_destroy(&f.mem);
	free(f.ram);
}

static int parse_dev(struct vm_config *c, const struct dev_kind *k, const char *arg,
		     const char **why)
{
	static struct error err;
	int r;

	error_clear(&err);
	r = vm_config_parse_dev(c, k, arg, &err);
	*why = r ? error_msg(&err) : NULL;
	return r;
}

static void test_parse_disk(void **state)
{
	struct vm_config c;
	struct vm_disk_config *d0, *d1;
	const char *why = NULL;

	vm_config_init(&c);
	assert_int_equal(parse_dev(&c, &virtio_blk_kind, "root.img", &why), 0);
	assert_int_equal(parse_dev(&c, &virtio_blk_kind,
				   "path=/x/d.qcow2,format=qcow2,readonly=on,"
				   "serial=ABC,direct=on,queues=4,poll_us=50",
				   &why),
			 0);
	assert_int_equal(vm_config_nr_disks(&c), 2);
	d0 = vm_config_disk(&c, 0);
	d1 = vm_config_disk(&c, 1);
	assert_string_equal(d0->path, "root.img");
	assert_false(d0->readonly);
	assert_string_equal(d1->path, "/x/d.qcow2");
	assert_string_equal(d1->format, "qcow2");
	assert_string_equal(d1->serial, "ABC");
	assert_true(d1->readonly);
	assert_true(d1->direct);
	assert_int_equal(d1->num_queues, 4);
	assert_true(d1->has_poll);
	assert_int_equal(d1->poll_us, 50);
	assert_false(d0->has_poll);

	const char *bad[] = { "",
			      "format=raw",
			      "path=a,format=vmdk",
			      "path=a,readonly=maybe",
			      "path=a,queues=0",
			      "path=a,queues=65",
			      "path=a,poll_us=-1",
			      "path=a,poll_us=2000000",
			      "path=a,bogus=1",
			      "path=a,serial=123456789012345678901",
			      "path=a,path=b",
			      "a,b" };
	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		assert_int_equal(parse_dev(&c, &virtio_blk_kind, bad[i], &why), -EINVAL);
		assert_non_null(why);
	}
	assert_int_equal(vm_config_nr_disks(&c), 2);
	while (vm_config_nr_disks(&c) < virtio_blk_kind.max)
		assert_int_equal(parse_dev(&c, &virtio_blk_kind, "d.img", &why), 0);
	assert_int_equal(parse_dev(&c, &virtio_blk_kind, "d.img", &why), -EINVAL);
	assert_string_equal(why, "at most 16");
	vm_config_free(&c);
}

static void test_parse_rng_console(void **state)
{
	struct vm_config c;
	const char *why = NULL;
	const struct chardev_spec *vc;

	vm_config_init(&c);
	assert_int_equal(parse_dev(&c, &virtio_rng_kind, NULL, &why), 0);
	assert_int_equal(vm_config_count(&c, &virtio_rng_kind), 1);
	assert_int_equal(parse_dev(&c, &virtio_rng_kind, NULL, &why), 0);
	assert_int_equal(vm_config_count(&c, &virtio_rng_kind), 1);
	assert_int_equal(parse_dev(&c, &virtio_rng_kind, "off", &why), 0);
	assert_int_equal(vm_config_count(&c, &virtio_rng_kind), 0);
	assert_int_equal(parse_dev(&c, &virtio_rng_kind, "sometimes", &why), -EINVAL);
	assert_int_equal(parse_dev(&c, &virtio_console_kind, "pty", &why), 0);
	vc = vm_config_dev(&c, &virtio_console_kind, 0);
	assert_int_equal(vc->mode, CHARDEV_PTY);
	assert_null(vc->path);
	assert_int_equal(parse_dev(&c, &virtio_console_kind, "file=/tmp/x.log", &why), 0);
	vc = vm_config_dev(&c, &virtio_console_kind, 0);
	assert_int_equal(vc->mode, CHARDEV_FILE);
	assert_string_equal(vc->path, "/tmp/x.log");
	assert_int_equal(parse_dev(&c, &virtio_console_kind, "file=", &why), -EINVAL);
	assert_int_equal(parse_dev(&c, &virtio_console_kind, "socket=/run/x.sock", &why), 0);
	vc = vm_config_dev(&c, &virtio_console_kind, 0);
	assert_int_equal(vc->mode, CHARDEV_SOCKET);
	assert_string_equal(vc->path, "/run/x.sock");
	assert_int_equal(parse_dev(&c, &virtio_console_kind, "file=/tmp/x.log", &why), 0);
	assert_int_equal(parse_dev(&c, &virtio_console_kind, "tcp:1234", &why), -EINVAL);
	assert_string_equal(why, "expected pty, file=PATH or socket=PATH");
	/* A refused spec leaves the previous one. */
	vc = vm_config_dev(&c, &virtio_console_kind, 0);
	assert_string_equal(vc->path, "/tmp/x.log");
	assert_int_equal(vm_config_count(&c, &virtio_console_kind), 1);
	assert_int_equal(parse_dev(&c, &virtio_console_kind, "none", &why), 0);
	assert_int_equal(vm_config_count(&c, &virtio_console_kind), 0);
	vm_config_free(&c);
}

static void *loop_main(void *arg)
{
	evloop_run(arg);
	return NULL;
}

static void test_console_socket(void **state)
{
	struct fx f;
	struct virtio_dev *vd;
	struct evloop *loop;
	pthread_t th;
	char path[108], buf[16] = { 0 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int cl, got = 0;

	fx_init(&f);
	snprintf(path, sizeof(path), "/tmp/test_vcon_%d.sock", getpid());
	assert_int_equal(evloop_create(&loop), 0);
	assert_int_equal(virtio_console_new(&(struct chardev_spec){ CHARDEV_SOCKET, path }, &f.mem, loop, &vd, NULL), 0);
	pthread_mutex_lock(&vd->lock);
	start(&f, vd);
	pthread_mutex_unlock(&vd->lock);
	assert_int_equal(pthread_create(&th, NULL, loop_main, loop), 0);

	cl = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(connect(cl, (struct sockaddr *)&sa, sizeof(sa)), 0);
	/* Guest -> client: retry until the loop thread accepted us. */
	memcpy(f.ram + BUF_GPA, "hi", 2);
	for (int i = 0; i < 200 && !got; i++) {
		struct pollfd p = { .fd = cl, .events = POLLIN };

		pthread_mutex_lock(&vd->lock);
		post(&f, 1, BUF_GPA, 2, 0);
		virtio_dev_kick(vd, 1);
		pthread_mutex_unlock(&vd->lock);
		if (poll(&p, 1, 10) == 1)
			got = (int)read(cl, buf, sizeof(buf));
	}
	assert_true(got >= 2);
	assert_memory_equal(buf, "hi", 2);
	/* Client -> guest through a posted receive buffer. */
	pthread_mutex_lock(&vd->lock);
	post(&f, 0, BUF_GPA + 0x1000, 64, VIRTQ_DESC_F_WRITE);
	virtio_dev_kick(vd, 0);
	pthread_mutex_unlock(&vd->lock);
	assert_int_equal(write(cl, "abc", 3), 3);
	for (int i = 0;
	     i < 200 && __atomic_load_n((uint16_t *)(f.ram + USED_GPA + 2), __ATOMIC_ACQUIRE) == 0;
	     i++)
		usleep(5000);
	assert_int_equal(used_idx(&f, 0), 1);
	assert_int_equal(used_len(&f, 0, 0), 3);
	assert_memory_equal(f.ram + BUF_GPA + 0x1000, "abc", 3);
	/* A second client is refused while the first is connected. */
	int cl2 = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(cl2, (struct sockaddr *)&sa, sizeof(sa)), 0);
	got = (int)read(cl2, buf, sizeof(buf)); /* message, then EOF */
	assert_true(got > 0);
	close(cl2);
	close(cl);
	evloop_stop(loop);
	pthread_join(th, NULL);
	vd->ops->destroy(vd);
	evloop_destroy(loop);
	assert_int_equal(access(path, F_OK), -1);
	gmem_destroy(&f.mem);
	free(f.ram);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rng),	    cmocka_unit_test(test_console_file),
		cmocka_unit_test(test_console_pty), cmocka_unit_test(test_console_socket),
		cmocka_unit_test(test_parse_disk),  cmocka_unit_test(test_parse_rng_console),
		cmocka_unit_test(test_console_socket_policy),
		cmocka_unit_test(test_signal_runs_on_device_loop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
