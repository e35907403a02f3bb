// SPDX-License-Identifier: MIT
/*
 * vhost-user backend without QEMU: this file is the frontend.  It talks
 * to the backend over a socketpair (the backend's event loop runs in a
 * thread), passes a memfd as guest RAM with SET_MEM_TABLE, lays out a
 * split virtqueue in it, kicks an eventfd and waits on the call eventfd,
 * like QEMU does.  Covers message validation (sizes, unknown requests,
 * fds, versions, memory regions, ring indices and addresses), a full
 * session with reads and writes through the real virtio-blk model and
 * block layer, and reconnecting after a disconnect or a bad message.
 * Hostile frontends (issue 9): memory shrunk under the backend, kick,
 * call and error fds of the wrong type, at EOF or full, and a message
 * sent one byte at a time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "block/block.h"
#include "mem/gmem.h"
#include "util/evloop.h"
#include "util/util.h"
#include "vhost/vhost-user.h"
#include "virtio/devices.h"
#include "virtio/virtio.h"
#include "vm/config.h"

#define DISK_SIZE (1u << 20)
#define RAM_GPA 0x100000ull
#define RAM_SIZE (1u << 20)
#define QSIZE 16
#define DESC_OFF 0x0
#define AVAIL_OFF 0x1000
#define USED_OFF 0x2000
#define HDR_OFF 0x3000
#define STATUS_OFF 0x3100
#define DATA_OFF 0x10000

struct fx {
	char path[256];
	struct vm_disk_config dc;
	struct gmem mem;
	struct evloop *loop;
	pthread_t thread;
	struct virtio_dev *vd;
	struct vhost_user_dev *d;
	int fe; /* the frontend's end of the socket */
	/* guest RAM, as the frontend sees it */
	int memfd;
	uint8_t *ram;
	int kick, call;
	uint16_t avail_idx;
};

static int fx_poll(struct virtio_dev *vd)
{
	return virtio_blk_poll(vd);
}

static void *loop_main(void *arg)
{
	evloop_run(arg);
	return NULL;
}

static void fx_connect(struct fx *f)
{
	int sv[2], ret = -EBUSY;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	/* The previous connection may still be tearing down on the loop. */
	for (int i = 0; i < 500 && ret == -EBUSY; i++) {
		ret = vhost_user_dev_attach(f->d, sv[0]);
		if (ret == -EBUSY)
			usleep(2000);
	}
	assert_int_equal(ret, 0);
	f->fe = sv[1];
}

static int setup(void **state)
{
	const struct vhost_user_dev_hooks hooks = { .poll = fx_poll };
	const char *dir = getenv("UNIT_TMPDIR");
	struct blk_create_opts co = { .size = DISK_SIZE };
	struct fx *f = calloc(1, sizeof(*f));
	uint8_t *buf = malloc(DISK_SIZE);
	int fd;

	snprintf(f->path, sizeof(f->path), "%s/vhost-user-%d.raw", dir ? dir : "/tmp", getpid());
	assert_int_equal(blk_create("raw", f->path, &co, NULL), 0);
	for (unsigned int i = 0; i < DISK_SIZE; i++)
		buf[i] = (uint8_t)(i * 13 + i / 4096);
	fd = open(f->path, O_WRONLY);
	assert_int_equal(pwrite_full(fd, buf, DISK_SIZE, 0), 0);
	close(fd);
	free(buf);
	f->dc.path = f->path;
	f->dc.format = "raw";
	gmem_init(&f->mem, NULL);
	assert_int_equal(evloop_create(&f->loop), 0);
	assert_int_equal(virtio_blk_new(&f->dc, 0, &f->mem, f->loop, &f->vd, NULL), 0);
	assert_int_equal(
		vhost_user_dev_create(f->vd, VIRTIO_BLK_CFG_SIZE, &f->mem, f->loop, &hooks, &f->d),
		0);
	assert_int_equal(pthread_create(&f->thread, NULL, loop_main, f->loop), 0);
	fx_connect(f);
	f->memfd = memfd_create("fake-guest-ram", MFD_CLOEXEC);
	assert_true(f->memfd >= 0);
	assert_int_equal(ftruncate(f->memfd, RAM_SIZE), 0);
	f->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
	assert_true(f->ram != MAP_FAILED);
	f->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	f->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	close(f->fe);
	evloop_stop(f->loop);
	pthread_join(f->thread, NULL);
	vhost_user_dev_destroy(f->d);
	f->vd->ops->destroy(f->vd);
	gmem_destroy(&f->mem);
	evloop_destroy(f->loop);
	munmap(f->ram, RAM_SIZE);
	close(f->memfd);
	close(f->kick);
	close(f->call);
	unlink(f->path);
	free(f);
	return 0;
}

/* ---- the fake frontend ------------------------------------------------------ */

static int send_req(struct fx *f, uint32_t req, uint32_t flags, const void *p, uint32_t size,
		    const int *fds, unsigned int nfds)
{
	struct vhost_user_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.request = req;
	m.hdr.flags = VHOST_USER_VERSION | flags;
	m.hdr.size = size;
	if (size)
		memcpy(&m.p, p, size);
	return vhost_user_send_msg(f->fe, &m, fds, nfds);
}

/* 1 with a reply in *m, 0 when the backend closed the connection. */
static int recv_reply(struct fx *f, struct vhost_user_msg *m)
{
	struct pollfd p = { .fd = f->fe, .events = POLLIN };
	int fds[VHOST_USER_MAX_FDS];
	unsigned int nfds;
	int ret;

	assert_int_equal(poll(&p, 1, 5000), 1);
	ret = vhost_user_recv_msg(f->fe, m, fds, &nfds);
	if (ret == -ECONNRESET)
		return 0;
	assert_int_equal(ret, 0);
	assert_true(m->hdr.flags & VHOST_USER_FLAG_REPLY);
	return 1;
}

static uint64_t get_u64(struct fx *f, uint32_t req)
{
	struct vhost_user_msg m;

	assert_int_equal(send_req(f, req, 0, NULL, 0, NULL, 0), 0);
	assert_int_equal(recv_reply(f, &m), 1);
	assert_int_equal(m.hdr.request, req);
	assert_int_equal(m.hdr.size, 8);
	return m.p.u64;
}

/* Send with NEED_REPLY and return the REPLY_ACK value (-1: closed). */
static int64_t acked(struct fx *f, uint32_t req, const void *p, uint32_t size, const int *fds,
		     unsigned int nfds)
{
	struct vhost_user_msg m;

	assert_int_equal(send_req(f, req, VHOST_USER_FLAG_NEED_REPLY, p, size, fds, nfds), 0);
	if (!recv_reply(f, &m))
		return -1;
	assert_int_equal(m.hdr.size, 8);
	return (int64_t)m.p.u64;
}

/* The backend must close the connection (after an optional error ack). */
static void expect_closed(struct fx *f)
{
	struct vhost_user_msg m;
	int r = recv_reply(f, &m);

	if (r) {
		assert_int_equal(m.hdr.size, 8);
		assert_int_not_equal(m.p.u64, 0);
		r = recv_reply(f, &m);
	}
	assert_int_equal(r, 0);
	close(f->fe);
	/* ... and keep serving: a new frontend gets answers. */
	fx_connect(f);
	assert_true(get_u64(f, VHOST_USER_GET_QUEUE_NUM) == 1);
}

static struct vhost_user_mem one_region(uint64_t gpa, uint64_t size, uint64_t off)
{
	struct vhost_user_mem mt = { .nregions = 1 };

	mt.regions[0].gpa = gpa;
	mt.regions[0].size = size;
	mt.regions[0].uaddr = 0x7f0000000000ull; /* the frontend's address of the region */
	mt.regions[0].mmap_offset = off;
	return mt;
}

#define UA(off) (0x7f0000000000ull + (off))
#define MEM_BYTES(n) (8 + (n) * (uint32_t)sizeof(struct vhost_user_region))

static void negotiate(struct fx *f)
{
	uint64_t feat = get_u64(f, VHOST_USER_GET_FEATURES), pf, want;
	struct vhost_user_mem mt = one_region(RAM_GPA, RAM_SIZE, 0);

	assert_true(feat & (1ull << VHOST_USER_F_PROTOCOL_FEATURES));
	assert_true(feat & (1ull << VIRTIO_F_VERSION_1));
	pf = get_u64(f, VHOST_USER_GET_PROTOCOL_FEATURES);
	assert_true(pf & (1ull << VHOST_USER_PROTOCOL_F_CONFIG));
	assert_true(pf & (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK));
	assert_int_equal(send_req(f, VHOST_USER_SET_PROTOCOL_FEATURES, 0, &pf, 8, NULL, 0), 0);
	assert_int_equal(send_req(f, VHOST_USER_SET_OWNER, 0, NULL, 0, NULL, 0), 0);
	want = (1ull << VIRTIO_F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES) |
	       (feat & (1ull << VIRTIO_F_EVENT_IDX));
	assert_int_equal(acked(f, VHOST_USER_SET_FEATURES, &want, 8, NULL, 0), 0);
	assert_int_equal(acked(f, VHOST_USER_SET_MEM_TABLE, &mt, MEM_BYTES(1), &f->memfd, 1), 0);
}

static void setup_ring(struct fx *f, uint32_t base)
{
	struct vhost_user_vring_state num = { 0, QSIZE }, st = { 0, base }, en = { 0, 1 };
	struct vhost_user_vring_addr a = {
		.index = 0, .desc = UA(DESC_OFF), .used = UA(USED_OFF), .avail = UA(AVAIL_OFF)
	};
	uint64_t idx = 0;

	assert_int_equal(acked(f, VHOST_USER_SET_VRING_NUM, &num, 8, NULL, 0), 0);
	assert_int_equal(acked(f, VHOST_USER_SET_VRING_BASE, &st, 8, NULL, 0), 0);
	assert_int_equal(acked(f, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 0);
	assert_int_equal(acked(f, VHOST_USER_SET_VRING_CALL, &idx, 8, &f->call, 1), 0);
	assert_int_equal(acked(f, VHOST_USER_SET_VRING_KICK, &idx, 8, &f->kick, 1), 0);
	assert_int_equal(acked(f, VHOST_USER_SET_VRING_ENABLE, &en, 8, NULL, 0), 0);
}

static void put_desc(struct fx *f, unsigned int i, uint64_t off, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	uint8_t *d = f->ram + DESC_OFF + 16 * i;
	uint64_t addr = RAM_GPA + off;

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

/* One blk request: header, data (len bytes at DATA_OFF), status; waits for it. */
static uint8_t blk_request(struct fx *f, uint32_t type, uint64_t sector, uint32_t len)
{
	uint8_t *hdr = f->ram + HDR_OFF;
	uint16_t *avail = (uint16_t *)(f->ram + AVAIL_OFF);
	uint16_t used_idx, want = (uint16_t)(f->avail_idx + 1);
	struct pollfd p = { .fd = f->call, .events = POLLIN };
	uint64_t one = 1, cnt;

	memset(hdr, 0, 16);
	memcpy(hdr, &type, 4);
	memcpy(hdr + 8, &sector, 8);
	f->ram[STATUS_OFF] = 0xff;
	put_desc(f, 0, HDR_OFF, 16, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, 1, DATA_OFF, len, VIRTQ_DESC_F_NEXT | (type == 0 ? VIRTQ_DESC_F_WRITE : 0), 2);
	put_desc(f, 2, STATUS_OFF, 1, VIRTQ_DESC_F_WRITE, 0);
	avail[2 + (f->avail_idx % QSIZE)] = 0;
	avail[2 + QSIZE] = f->avail_idx; /* used_event: interrupt for this one */
	__atomic_store_n(&avail[1], want, __ATOMIC_RELEASE);
	f->avail_idx = want;
	assert_int_equal(write(f->kick, &one, 8), 8);
	for (int i = 0; i < 100; i++) {
		used_idx = __atomic_load_n((uint16_t *)(f->ram + USED_OFF + 2), __ATOMIC_ACQUIRE);
		if (used_idx == want)
			break;
		poll(&p, 1, 50);
	}
	assert_int_equal(used_idx, want);
	assert_int_equal(read(f->call, &cnt, 8), 8); /* the call eventfd fired */
	return f->ram[STATUS_OFF];
}

/* ---- message validation ------------------------------------------------------ */

static void test_features_and_config(void **state)
{
	struct fx *f = *state;
	struct vhost_user_config c = { .offset = 0, .size = 60 };
	struct vhost_user_msg m;
	uint8_t big[VHOST_USER_MAX_PAYLOAD];
	uint64_t cap;

	assert_int_equal(get_u64(f, VHOST_USER_GET_QUEUE_NUM), 1);
	assert_int_equal(
		send_req(f, VHOST_USER_GET_CONFIG, 0, &c, VHOST_USER_CONFIG_HDR + 60, NULL, 0), 0);
	assert_int_equal(recv_reply(f, &m), 1);
	assert_int_equal(m.hdr.size, VHOST_USER_CONFIG_HDR + 60);
	memcpy(&cap, m.p.config.payload, 8);
	assert_int_equal(cap, DISK_SIZE / 512);
	/* Past the device's config space: zeroes, not an error. */
	c.offset = 200;
	c.size = 56;
	assert_int_equal(
		send_req(f, VHOST_USER_GET_CONFIG, 0, &c, VHOST_USER_CONFIG_HDR + 56, NULL, 0), 0);
	assert_int_equal(recv_reply(f, &m), 1);
	assert_int_equal(m.p.config.payload[0], 0);
	/* More than VHOST_USER_MAX_CONFIG bytes: refused. */
	memset(big, 0, sizeof(big));
	c.offset = 0;
	c.size = 300;
	memcpy(big, &c, VHOST_USER_CONFIG_HDR);
	assert_int_equal(
		send_req(f, VHOST_USER_GET_CONFIG, 0, big, VHOST_USER_CONFIG_HDR + 300, NULL, 0),
		0);
	expect_closed(f);
}

static void test_bad_sizes(void **state)
{
	struct fx *f = *state;
	uint64_t v = 1ull << VIRTIO_F_VERSION_1;
	struct vhost_user_msg m = { .hdr = { VHOST_USER_GET_FEATURES, VHOST_USER_VERSION, 0 } };

	/* SET_FEATURES with 4 payload bytes instead of 8. */
	assert_int_equal(
		send_req(f, VHOST_USER_SET_FEATURES, VHOST_USER_FLAG_NEED_REPLY, &v, 4, NULL, 0),
		0);
	expect_closed(f);
	/* A size larger than any message: the header alone says so. */
	m.hdr.size = 100000;
	assert_int_equal(write(f->fe, &m.hdr, VHOST_USER_HDR_SIZE), VHOST_USER_HDR_SIZE);
	expect_closed(f);
	/* GET_FEATURES with a payload. */
	assert_int_equal(send_req(f, VHOST_USER_GET_FEATURES, 0, &v, 8, NULL, 0), 0);
	expect_closed(f);
	/* Wrong protocol version. */
	m.hdr.size = 0;
	m.hdr.flags = 2;
	assert_int_equal(write(f->fe, &m.hdr, VHOST_USER_HDR_SIZE), VHOST_USER_HDR_SIZE);
	expect_closed(f);
	/* A reply sent as a request. */
	assert_int_equal(
		send_req(f, VHOST_USER_GET_FEATURES, VHOST_USER_FLAG_REPLY, NULL, 0, NULL, 0), 0);
	expect_closed(f);
}

static void test_unknown_requests(void **state)
{
	struct fx *f = *state;
	uint64_t v = 0;

	assert_int_equal(send_req(f, 99, VHOST_USER_FLAG_NEED_REPLY, NULL, 0, NULL, 0), 0);
	expect_closed(f);
	/* Known to the protocol, never offered here (no LOG_SHMFD). */
	assert_int_equal(send_req(f, VHOST_USER_SET_LOG_BASE, 0, &v, 8, NULL, 0), 0);
	expect_closed(f);
	/* Protocol features that were not offered. */
	v = 1ull << 1;
	assert_int_equal(send_req(f, VHOST_USER_SET_PROTOCOL_FEATURES, 0, &v, 8, NULL, 0), 0);
	expect_closed(f);
	/* Virtio features that were not offered. */
	v = (1ull << VIRTIO_F_VERSION_1) | (1ull << 40);
	assert_int_equal(send_req(f, VHOST_USER_SET_FEATURES, 0, &v, 8, NULL, 0), 0);
	expect_closed(f);
}

static void test_fds(void **state)
{
	struct fx *f = *state;
	int fds[12];
	uint64_t idx = 0;
	union {
		char buf[CMSG_SPACE(sizeof(int) * 12)];
		struct cmsghdr align;
	} ctl;
	struct vhost_user_hdr h = { VHOST_USER_SET_VRING_CALL, VHOST_USER_VERSION, 8 };
	struct iovec iov[2] = { { &h, sizeof(h) }, { &idx, 8 } };
	struct msghdr mh = { .msg_iov = iov,
			     .msg_iovlen = 2,
			     .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *c;

	/* An fd with a request that takes none. */
	assert_int_equal(send_req(f, VHOST_USER_GET_FEATURES, 0, NULL, 0, &f->call, 1), 0);
	expect_closed(f);
	/* Two fds for SET_VRING_CALL. */
	fds[0] = fds[1] = f->call;
	assert_int_equal(send_req(f, VHOST_USER_SET_VRING_CALL, 0, &idx, 8, fds, 2), 0);
	expect_closed(f);
	/* Twelve fds: more than any message carries. */
	for (int i = 0; i < 12; i++)
		fds[i] = f->call;
	memset(&ctl, 0, sizeof(ctl));
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * 12);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * 12);
	assert_int_equal(sendmsg(f->fe, &mh, 0), (ssize_t)(sizeof(h) + 8));
	expect_closed(f);
	/* SET_VRING_KICK without an fd and without the no-fd flag. */
	assert_int_equal(send_req(f, VHOST_USER_SET_VRING_KICK, 0, &idx, 8, NULL, 0), 0);
	expect_closed(f);
}

static void test_mem_table(void **state)
{
	struct fx *f = *state;
	struct vhost_user_mem mt;
	int two[2] = { f->memfd, f->memfd };

	/* Two regions overlapping in guest-physical space. */
	mt = one_region(RAM_GPA, RAM_SIZE / 2, 0);
	mt.nregions = 2;
	mt.regions[1] = mt.regions[0];
	mt.regions[1].gpa = RAM_GPA + 0x1000;
	mt.regions[1].uaddr += RAM_SIZE / 2;
	mt.regions[1].mmap_offset = RAM_SIZE / 2;
	assert_int_equal(acked(f, VHOST_USER_SET_MEM_TABLE, &mt, MEM_BYTES(2), two, 2), 1);
	expect_closed(f);
	/* A region whose end wraps around. */
	mt = one_region(~0ull - 0x1000, RAM_SIZE, 0);
	assert_int_equal(acked(f, VHOST_USER_SET_MEM_TABLE, &mt, MEM_BYTES(1), &f->memfd, 1), 1);
	expect_closed(f);
	/* A region larger than the file behind it (would SIGBUS). */
	mt = one_region(RAM_GPA, 2 * RAM_SIZE, 0);
	assert_int_equal(acked(f, VHOST_USER_SET_MEM_TABLE, &mt, MEM_BYTES(1), &f->memfd, 1), 1);
	expect_closed(f);
	/* Fewer fds than regions. */
	mt = one_region(RAM_GPA, RAM_SIZE, 0);
	mt.nregions = 2;
	mt.regions[1] = mt.regions[0];
	mt.regions[1].gpa += 2 * RAM_SIZE;
	mt.regions[1].uaddr += 2 * RAM_SIZE;
	assert_int_equal(acked(f, VHOST_USER_SET_MEM_TABLE, &mt, MEM_BYTES(2), &f->memfd, 1), 1);
	expect_closed(f);
	/* Nine regions. */
	mt.nregions = 9;
	assert_int_equal(acked(f, VHOST_USER_SET_MEM_TABLE, &mt, MEM_BYTES(2), &f->memfd, 1), 1);
	expect_closed(f);
	/* A valid table is accepted. */
	mt = one_region(RAM_GPA, RAM_SIZE, 0);
	assert_int_equal(acked(f, VHOST_USER_SET_MEM_TABLE, &mt, MEM_BYTES(1), &f->memfd, 1), 0);
}

static void test_vrings(void **state)
{
	struct fx *f = *state;
	struct vhost_user_vring_state s = { 5, QSIZE };
	struct vhost_user_vring_addr a = {
		.index = 0, .desc = UA(DESC_OFF), .used = UA(USED_OFF), .avail = UA(AVAIL_OFF)
	};
	uint64_t idx = 7;

	/* Ring index out of range (the disk has one queue). */
	assert_int_equal(acked(f, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0), 1);
	expect_closed(f);
	assert_int_equal(acked(f, VHOST_USER_SET_VRING_CALL, &idx, 8, &f->call, 1), 1);
	expect_closed(f);
	/* Ring size not a power of two / too large. */
	s.index = 0;
	s.num = 100;
	assert_int_equal(acked(f, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0), 1);
	expect_closed(f);
	s.num = 4096;
	assert_int_equal(acked(f, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0), 1);
	expect_closed(f);
	/* Ring addresses before any memory table, and outside it. */
	assert_int_equal(acked(f, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 1);
	expect_closed(f);
	negotiate(f);
	a.used = UA(RAM_SIZE + 0x1000);
	assert_int_equal(acked(f, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 1);
	expect_closed(f);
	/* A ring that starts inside memory but runs past its end. */
	negotiate(f);
	s.num = QSIZE;
	assert_int_equal(acked(f, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0), 0);
	a.used = UA(RAM_SIZE - 8);
	assert_int_equal(acked(f, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 0);
	idx = 0;
	assert_int_equal(acked(f, VHOST_USER_SET_VRING_KICK, &idx, 8, &f->kick, 1), 0);
	s.num = 1;
	assert_int_equal(acked(f, VHOST_USER_SET_VRING_ENABLE, &s, 8, NULL, 0), 1);
	expect_closed(f);
}

/* ---- sessions ------------------------------------------------------------------ */

static void session(struct fx *f)
{
	struct vhost_user_vring_state s = { 0, 0 };
	struct vhost_user_msg m;
	uint8_t *data = f->ram + DATA_OFF, expect[4096], disk[4096];
	int fd;

	memset(f->ram, 0, RAM_SIZE);
	f->avail_idx = 0;
	negotiate(f);
	setup_ring(f, 0);
	/* Read sector 16 (4 KiB): the disk's pattern lands in guest memory. */
	assert_int_equal(blk_request(f, 0, 16, 4096), 0);
	for (unsigned int i = 0; i < 4096; i++)
		expect[i] = (uint8_t)((8192 + i) * 13 + (8192 + i) / 4096);
	assert_memory_equal(data, expect, 4096);
	/* Write 4 KiB at sector 8 and find it in the file. */
	for (unsigned int i = 0; i < 4096; i++)
		data[i] = (uint8_t)(0xa5 ^ i);
	memcpy(expect, data, 4096);
	assert_int_equal(blk_request(f, 1, 8, 4096), 0);
	fd = open(f->path, O_RDONLY);
	assert_int_equal(pread_full(fd, disk, 4096, 4096), 0);
	close(fd);
	assert_memory_equal(disk, expect, 4096);
	/* Past the end of the disk: an I/O error for the guest, nothing more. */
	assert_int_equal(blk_request(f, 0, DISK_SIZE / 512, 512), 1);
	/* GET_VRING_BASE stops the ring and says where it stopped. */
	assert_int_equal(send_req(f, VHOST_USER_GET_VRING_BASE, 0, &s, 8, NULL, 0), 0);
	assert_int_equal(recv_reply(f, &m), 1);
	assert_int_equal(m.p.state.index, 0);
	assert_int_equal(m.p.state.num, 3);
	/* Restarted at that base, the ring goes on. */
	setup_ring(f, 3);
	assert_int_equal(blk_request(f, 0, 0, 512), 0);
	assert_int_equal(data[1], 13);
}

static void test_session(void **state)
{
	session(*state);
}

/* A broken ring: DEVICE_NEEDS_RESET is reported on the error eventfd. */
static void test_broken_ring(void **state)
{
	struct fx *f = *state;
	struct pollfd p;
	uint16_t *avail = (uint16_t *)(f->ram + AVAIL_OFF);
	struct vhost_user_vring_state st = { 0, 0 };
	struct vhost_user_msg m;
	uint64_t idx = 0, one = 1, cnt, feat;
	int err = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	memset(f->ram, 0, RAM_SIZE);
	f->avail_idx = 0;
	negotiate(f);
	assert_int_equal(acked(f, VHOST_USER_SET_VRING_ERR, &idx, 8, &err, 1), 0);
	setup_ring(f, 0);
	/* A chain whose next index lies outside the ring. */
	put_desc(f, 0, HDR_OFF, 16, VIRTQ_DESC_F_NEXT, QSIZE + 3);
	avail[2] = 0;
	__atomic_store_n(&avail[1], 1, __ATOMIC_RELEASE);
	assert_int_equal(write(f->kick, &one, 8), 8);
	p = (struct pollfd){ .fd = err, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_int_equal(read(err, &cnt, 8), 8);
	/*
	 * The connection stays up.  The frontend restarts the device as QEMU
	 * does: stop the ring, then features, memory and rings again.
	 */
	feat = get_u64(f, VHOST_USER_GET_FEATURES);
	assert_true(feat & (1ull << VIRTIO_F_VERSION_1));
	assert_int_equal(send_req(f, VHOST_USER_GET_VRING_BASE, 0, &st, 8, NULL, 0), 0);
	assert_int_equal(recv_reply(f, &m), 1);
	assert_int_equal(m.p.state.num, 0); /* the broken chain was not taken */
	session(f);
	close(err);
}

/*
 * A ring base no ring of this size can have (SET_VRING_BASE 100 with
 * nothing made available): the ring is broken at once and reported on
 * the error eventfd, nothing is taken, and GET_VRING_BASE gives the
 * frontend's base back.
 */
static void test_bad_ring_base(void **state)
{
	struct fx *f = *state;
	struct vhost_user_vring_state st = { 0, 0 };
	struct vhost_user_msg m;
	struct pollfd p;
	uint64_t idx = 0, cnt;
	int err = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	memset(f->ram, 0, RAM_SIZE);
	f->avail_idx = 0;
	negotiate(f);
	assert_int_equal(acked(f, VHOST_USER_SET_VRING_ERR, &idx, 8, &err, 1), 0);
	setup_ring(f, 100);
	p = (struct pollfd){ .fd = err, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_int_equal(read(err, &cnt, 8), 8);
	assert_int_equal(send_req(f, VHOST_USER_GET_VRING_BASE, 0, &st, 8, NULL, 0), 0);
	assert_int_equal(recv_reply(f, &m), 1);
	assert_int_equal(m.p.state.num, 100);
	/* Set up again properly, the ring works. */
	session(f);
	close(err);
}

static void test_reconnect(void **state)
{
	struct fx *f = *state;
	struct vhost_user_stats st;

	session(f);
	/* The frontend goes away with the ring running, and comes back. */
	close(f->fe);
	fx_connect(f);
	session(f);
	/* RESET_DEVICE, then a fresh negotiation on the same connection. */
	assert_int_equal(acked(f, VHOST_USER_RESET_DEVICE, NULL, 0, NULL, 0), 0);
	session(f);
	/* A bad message mid-session, then a new frontend. */
	assert_int_equal(send_req(f, 77, 0, NULL, 0, NULL, 0), 0);
	expect_closed(f);
	session(f);
	vhost_user_dev_stats(f->d, &st);
	assert_true(st.connections >= 3);
	assert_true(st.protocol_errors >= 1);
}

/* ---- hostile frontends (issue 9) -------------------------------------------- */

/* Lay out one read request (as blk_request does) without kicking. */
static void queue_read(struct fx *f)
{
	uint16_t *avail = (uint16_t *)(f->ram + AVAIL_OFF);
	uint32_t type = 0;

	memset(f->ram + HDR_OFF, 0, 16);
	memcpy(f->ram + HDR_OFF, &type, 4);
	put_desc(f, 0, HDR_OFF, 16, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, 1, DATA_OFF, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	put_desc(f, 2, STATUS_OFF, 1, VIRTQ_DESC_F_WRITE, 0);
	avail[2] = 0;
	__atomic_store_n(&avail[1], 1, __ATOMIC_RELEASE);
}

static bool fd_fires(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

/*
 * Item 3: the frontend shrinks its memfd after SET_MEM_TABLE, then kicks.
 * Before the SIGBUS guard this killed the whole process (the backend runs
 * in it); now the device reports DEVICE_NEEDS_RESET on the error eventfd,
 * the connection closes, and the next frontend is served.
 */
static void test_memfd_shrunk(void **state)
{
	struct fx *f = *state;
	struct vhost_user_stats st;
	struct vhost_user_msg m;
	uint64_t idx = 0, one = 1;
	int err = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	memset(f->ram, 0, RAM_SIZE);
	f->avail_idx = 0;
	negotiate(f);
	assert_int_equal(acked(f, VHOST_USER_SET_VRING_ERR, &idx, 8, &err, 1), 0);
	setup_ring(f, 0);
	queue_read(f);
	assert_int_equal(ftruncate(f->memfd, 0), 0);
	assert_int_equal(write(f->kick, &one, 8), 8);
	assert_int_equal(recv_reply(f, &m), 0);
	assert_true(fd_fires(err, 5000));
	vhost_user_dev_stats(f->d, &st);
	assert_int_equal(st.mem_faults, 1);
	/* The frontend's memory grows back; a new frontend gets a working disk. */
	assert_int_equal(ftruncate(f->memfd, RAM_SIZE), 0);
	close(f->fe);
	fx_connect(f);
	session(f);
	close(err);
}

/* A memfd sealed against shrinking is taken as is and cannot shrink. */
static void test_memfd_sealed(void **state)
{
	struct fx *f = *state;
	int sealed = memfd_create("sealed-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	assert_true(sealed >= 0);
	assert_int_equal(ftruncate(sealed, RAM_SIZE), 0);
	assert_int_equal(fcntl(sealed, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
	munmap(f->ram, RAM_SIZE);
	close(f->memfd);
	f->memfd = sealed;
	f->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
	assert_true(f->ram != MAP_FAILED);
	session(f);
	assert_int_not_equal(ftruncate(f->memfd, 0), 0);
}

/*
 * Item 4: a kick fd at end of file (a pipe whose writer closed it) was
 * read as an endless stream of kicks, the I/O thread spinning at 100 %
 * CPU.  Now the ring is broken (DEVICE_NEEDS_RESET) and the fd dropped.
 */
static void test_kick_fd_eof(void **state)
{
	struct fx *f = *state;
	struct vhost_user_stats st;
	uint64_t idx = 0;
	int err = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), p[2], kick = f->kick;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	memset(f->ram, 0, RAM_SIZE);
	negotiate(f);
	assert_int_equal(acked(f, VHOST_USER_SET_VRING_ERR, &idx, 8, &err, 1), 0);
	f->kick = p[0];
	setup_ring(f, 0);
	f->kick = kick;
	close(p[1]);
	assert_true(fd_fires(err, 5000));
	usleep(300000);
	vhost_user_dev_stats(f->d, &st);
	assert_true(st.kicks < 10);
	assert_int_equal(st.broken_kicks, 1);
	/* The connection stays; the frontend may restart the ring. */
	assert_int_equal(get_u64(f, VHOST_USER_GET_QUEUE_NUM), 1);
	close(p[0]);
	close(err);
}

/*
 * Item 4: a full error pipe, blocking: the device writes it under its
 * lock when a ring breaks, which blocked the I/O thread and, through the
 * lock, the event loop.  GET_CONFIG (which takes the lock) must still be
 * answered.
 */
static void test_err_pipe_full(void **state)
{
	struct fx *f = *state;
	struct vhost_user_config c = { .offset = 0, .size = 8 };
	uint16_t *avail = (uint16_t *)(f->ram + AVAIL_OFF);
	struct vhost_user_msg m;
	uint64_t idx = 0, one = 1;
	char junk[4096];
	int p[2];

	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	memset(junk, 'x', sizeof(junk));
	while (write(p[1], junk, sizeof(junk)) > 0)
		;
	assert_int_equal(fcntl(p[1], F_SETFL, 0), 0);
	memset(f->ram, 0, RAM_SIZE);
	negotiate(f);
	assert_int_equal(acked(f, VHOST_USER_SET_VRING_ERR, &idx, 8, &p[1], 1), 0);
	setup_ring(f, 0);
	/* A broken chain: DEVICE_NEEDS_RESET, an error interrupt. */
	put_desc(f, 0, HDR_OFF, 16, VIRTQ_DESC_F_NEXT, QSIZE + 3);
	avail[2] = 0;
	__atomic_store_n(&avail[1], 1, __ATOMIC_RELEASE);
	assert_int_equal(write(f->kick, &one, 8), 8);
	usleep(100000);
	assert_int_equal(
		send_req(f, VHOST_USER_GET_CONFIG, 0, &c, VHOST_USER_CONFIG_HDR + 8, NULL, 0), 0);
	assert_int_equal(recv_reply(f, &m), 1);
	assert_int_equal(m.hdr.size, VHOST_USER_CONFIG_HDR + 8);
	close(p[0]);
	close(p[1]);
}

/* Item 4: kick, call and error fds must be eventfds or pipes, open the right way. */
static void test_ring_fd_types(void **state)
{
	struct fx *f = *state;
	uint64_t idx = 0;
	int p[2], file, zero, ok;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	file = open(f->path, O_RDONLY | O_CLOEXEC);
	zero = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	assert_true(file >= 0 && zero >= 0);
	/* Always readable: endless kicks. */
	assert_int_equal(acked(f, VHOST_USER_SET_VRING_KICK, &idx, 8, &file, 1), 1);
	expect_closed(f);
	assert_int_equal(acked(f, VHOST_USER_SET_VRING_KICK, &idx, 8, &zero, 1), 1);
	expect_closed(f);
	/* The wrong end of a pipe. */
	assert_int_equal(acked(f, VHOST_USER_SET_VRING_KICK, &idx, 8, &p[1], 1), 1);
	expect_closed(f);
	assert_int_equal(acked(f, VHOST_USER_SET_VRING_CALL, &idx, 8, &p[0], 1), 1);
	expect_closed(f);
	assert_int_equal(acked(f, VHOST_USER_SET_VRING_ERR, &idx, 8, &file, 1), 1);
	expect_closed(f);
	/* The right ones, made non-blocking (the flag is shared with us). */
	assert_int_equal(acked(f, VHOST_USER_SET_VRING_KICK, &idx, 8, &p[0], 1), 0);
	assert_int_equal(acked(f, VHOST_USER_SET_VRING_CALL, &idx, 8, &p[1], 1), 0);
	ok = fcntl(p[0], F_GETFL) & fcntl(p[1], F_GETFL) & O_NONBLOCK;
	assert_true(ok);
	close(p[0]);
	close(p[1]);
	close(file);
	close(zero);
}

static void mark_ran(void *opaque)
{
	__atomic_store_n((int *)opaque, 1, __ATOMIC_RELEASE);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Item 4: a message fed one byte at a time.  The old reader waited for
 * the rest on the loop thread with a timeout that restarted on every
 * byte: the loop served nothing else meanwhile and the message never
 * timed out.  Now the loop keeps running, and the connection closes 5 s
 * (IO_TIMEOUT_S) after the message's first byte.
 */
static void test_slow_message(void **state)
{
	struct fx *f = *state;
	struct vhost_user_hdr h = { VHOST_USER_GET_QUEUE_NUM, VHOST_USER_VERSION, 0 };
	struct vhost_user_msg m;
	uint64_t t0 = mono_ms(), took;
	unsigned int sent = 0;

	for (; sent < VHOST_USER_HDR_SIZE; sent++) {
		int ran = 0;

		if (send(f->fe, (uint8_t *)&h + sent, 1, MSG_NOSIGNAL) != 1)
			break;
		/* The loop runs other work while the message is incomplete. */
		assert_int_equal(evloop_call(f->loop, mark_ran, &ran), 0);
		for (int i = 0; i < 100 && !__atomic_load_n(&ran, __ATOMIC_ACQUIRE); i++)
			usleep(5000);
		assert_true(__atomic_load_n(&ran, __ATOMIC_ACQUIRE));
		if (fd_fires(f->fe, 600))
			break; /* closed */
	}
	assert_true(sent < VHOST_USER_HDR_SIZE);
	took = mono_ms() - t0;
	/* 5 s after the first byte, not 5 s after the last one (which never comes). */
	assert_true(took >= 4500 && took < 8000);
	assert_int_equal(recv_reply(f, &m), 0);
	close(f->fe);
	fx_connect(f);
	assert_int_equal(get_u64(f, VHOST_USER_GET_QUEUE_NUM), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_features_and_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mem_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vrings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broken_ring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_ring_base, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memfd_shrunk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memfd_sealed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kick_fd_eof, setup, teardown),
		cmocka_unit_test_setup_teardown(test_err_pipe_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ring_fd_types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_message, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
