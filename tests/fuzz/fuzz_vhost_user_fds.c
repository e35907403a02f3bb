// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the vhost-user backend (src/vhost) handed hostile
 * file descriptors and memory, as a malicious frontend would (issue 9,
 * items 3 and 4).  fuzz_vhost_user fuzzes the messages with well-behaved
 * fds; here the input picks the fds and what the frontend does to them:
 *
 *  - guest memory: a memfd (sealed against shrinking or not), a regular
 *    file, or things that are no memory at all (a pipe, an eventfd), of
 *    a size the input picks, then shrunk, truncated to nothing or grown
 *    back after SET_MEM_TABLE while rings run in it;
 *  - kick, call and error fds: eventfds (empty, signalled, blocking,
 *    counter at its maximum so a write would block), pipes (either end,
 *    empty, holding data, full, at end of file, reader gone), regular
 *    files, /dev/zero, sockets, epoll and memfds;
 *  - the rings: laid out in guest memory by the input, kicked, polled.
 *
 * The backend runs without an event loop, so kicks are taken by
 * vhost_user_dev_kick(), which reads the kick fd like the I/O thread
 * does.  A handler error ends the "connection" as conn.c does.  Whatever
 * the input, the process never dies (a shrunk memfd raises SIGBUS, which
 * the backend must survive), never blocks (a read or write that blocks
 * hangs the input: libFuzzer's -timeout, e.g. -timeout=5, reports it; on
 * the code before issue 9 the blocking-fds seed took 6 s, 47 ms now),
 * leaks no fd (30000 runs pass under ulimit -n 200) and stays within
 * ASan and UBSan.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "block/block.h"
#include "mem/gmem.h"
#include "util/log.h"
#include "vhost/vhost-user.h"
#include "virtio/devices.h"
#include "virtio/virtio.h"
#include "vm/config.h"

#define RAM_MAX (64u * 1024)
#define MAX_OWNED 64
#define UA_BASE 0x7f0000000000ull

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t in_u8(struct in *in)
{
	uint8_t v = 0;

	if (in->n) {
		v = *in->p++;
		in->n--;
	}
	return v;
}

static uint16_t in_u16(struct in *in)
{
	return (uint16_t)(in_u8(in) | in_u8(in) << 8);
}

/* The frontend's view of its guest memory. */
struct ram {
	int fd;
	bool file_backed; /* a memfd or regular file: mappable */
	uint8_t *map;	  /* our own mapping, RAM_MAX bytes, or NULL */
	size_t size;	  /* the file's size now: we only touch below it */
};

struct harness {
	struct gmem mem;
	struct virtio_dev *vd;
	struct vhost_user_dev *d;
	char dir[64];
	/* Per input. */
	struct ram ram;
	int owned[MAX_OWNED]; /* fds to close at the end of the input */
	unsigned int nr_owned;
};

static int poll_blk(struct virtio_dev *vd)
{
	return virtio_blk_poll(vd);
}

static struct harness *harness_get(void)
{
	static struct harness *h;
	const struct vhost_user_dev_hooks hooks = { .poll = poll_blk };
	struct blk_create_opts co = { .size = 1u << 20 };
	struct vm_disk_config dc = { .format = "raw" };
	char path[96];

	if (h)
		return h;
	h = calloc(1, sizeof(*h));
	log_set_level(LOG_ERR);
	/* Writes to a pipe whose reader is gone: vessel ignores SIGPIPE too (main.c). */
	signal(SIGPIPE, SIG_IGN);
	snprintf(h->dir, sizeof(h->dir), "/tmp");
	snprintf(path, sizeof(path), "%s/fuzz-vhost-user-fds-%d.raw", h->dir, getpid());
	if (blk_create("raw", path, &co, NULL) < 0)
		abort();
	dc.path = path;
	gmem_init(&h->mem, NULL);
	if (virtio_blk_new(&dc, 0, &h->mem, NULL, &h->vd, NULL) < 0)
		abort();
	unlink(path);
	if (vhost_user_dev_create(h->vd, VIRTIO_BLK_CFG_SIZE, &h->mem, NULL, &hooks, &h->d) < 0)
		abort();
	h->ram.fd = -1;
	return h;
}

static int own(struct harness *h, int fd)
{
	if (fd < 0)
		return -1;
	if (h->nr_owned == MAX_OWNED) {
		close(fd);
		return -1;
	}
	h->owned[h->nr_owned++] = fd;
	return fd;
}

/* ---- memory ------------------------------------------------------------------ */

static void ram_drop(struct harness *h)
{
	if (h->ram.map)
		munmap(h->ram.map, RAM_MAX);
	h->ram = (struct ram){ .fd = -1 };
}

/* A new "guest RAM" of the kind and size the input says. */
static void ram_new(struct harness *h, struct in *in)
{
	uint8_t kind = in_u8(in) % 6;
	size_t size = (size_t)(in_u8(in) % 16 + 1) * 4096;
	char path[96];
	int fd = -1, p[2];

	ram_drop(h);
	switch (kind) {
	case 0: /* memfd, unsealed: the frontend may shrink it */
	case 1: /* memfd sealed against shrinking and growing (memfd_create(2)) */
		fd = memfd_create("fuzz-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
			abort();
		if (kind == 1 && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
			abort();
		break;
	case 2: /* a regular file */
		snprintf(path, sizeof(path), "%s/fuzz-vhost-ram-%d", h->dir, getpid());
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		unlink(path);
		if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
			abort();
		break;
	case 3: /* not memory: a pipe */
		if (pipe2(p, O_CLOEXEC) < 0)
			abort();
		own(h, p[1]);
		fd = p[0];
		break;
	case 4: /* not memory: an eventfd */
		fd = eventfd(0, EFD_CLOEXEC);
		break;
	default: /* a memfd with nothing in it */
		fd = memfd_create("fuzz-ram-empty", MFD_CLOEXEC);
		size = 0;
		break;
	}
	h->ram.fd = own(h, fd);
	h->ram.file_backed = h->ram.fd >= 0 && (kind <= 2 || kind == 5);
	h->ram.size = h->ram.file_backed ? size : 0;
	if (h->ram.file_backed) {
		void *m = mmap(NULL, RAM_MAX, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

		h->ram.map = m == MAP_FAILED ? NULL : m;
	}
}

/* The frontend changes its file's size under the backend's mapping. */
static void ram_resize(struct harness *h, struct in *in)
{
	size_t size;

	if (!h->ram.file_backed)
		return;
	switch (in_u8(in) % 4) {
	case 0:
		size = 0;
		break;
	case 1:
		size = 4096;
		break;
	case 2:
		size = h->ram.size / 2;
		break;
	default:
		size = RAM_MAX;
		break;
	}
	/* A sealed memfd refuses (EPERM): nothing changes. */
	if (ftruncate(h->ram.fd, (off_t)size) == 0)
		h->ram.size = size;
}

/* Lay out bytes in guest memory, only where the file still has pages. */
static void ram_write(struct harness *h, struct in *in)
{
	uint16_t off = in_u16(in);
	uint8_t n = in_u8(in);

	for (unsigned int i = 0; i < n; i++) {
		uint8_t b = in_u8(in);

		if (h->ram.map && (size_t)off + i < (h->ram.size & ~4095ul))
			h->ram.map[off + i] = b;
	}
}

/* ---- fds -------------------------------------------------------------------- */

static void fill_pipe(int fd)
{
	static const char junk[4096];
	int fl = fcntl(fd, F_GETFL);

	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	while (write(fd, junk, sizeof(junk)) > 0)
		;
	fcntl(fd, F_SETFL, fl);
}

/* A kick, call or error fd of the kind the input says, or -1 (no fd). */
static int hostile_fd(struct harness *h, struct in *in)
{
	char path[96];
	uint64_t v;
	int p[2], fd = -1;

	switch (in_u8(in) % 16) {
	case 0:
		return own(h, eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
	case 1: /* blocking and empty: a read would wait for ever */
		return own(h, eventfd(0, EFD_CLOEXEC));
	case 2: /* signalled */
		return own(h, eventfd(3, EFD_CLOEXEC));
	case 3: /* blocking, counter at its maximum: a write would wait for ever */
		fd = own(h, eventfd(0, EFD_CLOEXEC));
		v = 0xfffffffffffffffeull;
		if (fd >= 0 && write(fd, &v, 8) != 8)
			abort();
		return fd;
	case 4: /* pipe read end, empty, blocking */
		if (pipe2(p, O_CLOEXEC) < 0)
			return -1;
		own(h, p[1]);
		return own(h, p[0]);
	case 5: /* pipe read end holding data */
		if (pipe2(p, O_CLOEXEC) < 0)
			return -1;
		if (write(p[1], "kick", 4) != 4)
			abort();
		own(h, p[1]);
		return own(h, p[0]);
	case 6: /* pipe read end at end of file: its writer is gone */
		if (pipe2(p, O_CLOEXEC) < 0)
			return -1;
		close(p[1]);
		return own(h, p[0]);
	case 7: /* pipe write end, full, blocking */
		if (pipe2(p, O_CLOEXEC) < 0)
			return -1;
		fill_pipe(p[1]);
		own(h, p[0]);
		return own(h, p[1]);
	case 8: /* pipe write end, reader gone (EPIPE, SIGPIPE) */
		if (pipe2(p, O_CLOEXEC) < 0)
			return -1;
		close(p[0]);
		return own(h, p[1]);
	case 9: /* a regular file: readable for ever */
		snprintf(path, sizeof(path), "%s/fuzz-vhost-fd-%d", h->dir, getpid());
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		unlink(path);
		if (fd >= 0 && write(fd, "0123456789abcdef", 16) != 16)
			abort();
		return own(h, fd);
	case 10:
		return own(h, open("/dev/zero", O_RDWR | O_CLOEXEC));
	case 11: /* a socket */
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0)
			return -1;
		if (write(p[1], "kick", 4) != 4)
			abort();
		own(h, p[1]);
		return own(h, p[0]);
	case 12:
		return own(h, epoll_create1(EPOLL_CLOEXEC));
	case 13:
		return own(h, memfd_create("fuzz-fd", MFD_CLOEXEC));
	case 14: /* the guest memory fd itself */
		return h->ram.fd;
	default:
		return -1;
	}
}

/* ---- the frontend ------------------------------------------------------------ */

/* One message through the handlers; an error ends the connection (conn.c). */
static void send_msg(struct harness *h, struct vhost_user_msg *m, const int *fds, unsigned int nfds)
{
	struct vhost_user_msg reply;
	int dup_fds[VHOST_USER_MAX_FDS];
	unsigned int n = 0;
	bool has_reply;

	m->hdr.flags = VHOST_USER_VERSION | VHOST_USER_FLAG_NEED_REPLY;
	/* The handlers take the fds over, as after recvmsg(): pass copies. */
	for (unsigned int i = 0; i < nfds && n < VHOST_USER_MAX_FDS; i++)
		if (fds[i] >= 0 && (dup_fds[n] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3)) >= 0)
			n++;
	if (vhost_user_handle_msg(h->d, m, dup_fds, n, &reply, &has_reply) < 0)
		vhost_user_dev_disconnect(h->d);
}

static void msg_u64(struct harness *h, uint32_t req, uint64_t v, const int *fds, unsigned int nfds)
{
	struct vhost_user_msg m = { .hdr = { .request = req, .size = 8 } };

	m.p.u64 = v;
	send_msg(h, &m, fds, nfds);
}

static void msg_state(struct harness *h, uint32_t req, uint32_t index, uint32_t num)
{
	struct vhost_user_msg m = { .hdr = { .request = req, .size = 8 } };

	m.p.state.index = index;
	m.p.state.num = num;
	send_msg(h, &m, NULL, 0);
}

static void mem_table(struct harness *h, struct in *in)
{
	struct vhost_user_msg m = { .hdr = { .request = VHOST_USER_SET_MEM_TABLE } };
	unsigned int n = in_u8(in) % 2 + 1;
	int fds[2] = { h->ram.fd, h->ram.fd };
	uint64_t half = RAM_MAX / 2;

	m.p.mem.nregions = n;
	for (unsigned int i = 0; i < n; i++) {
		struct vhost_user_region *r = &m.p.mem.regions[i];
		uint8_t shape = in_u8(in);

		/* Region i: guest [i * half, ...), file offset as the input says. */
		r->gpa = i * half;
		r->uaddr = UA_BASE + i * half;
		r->size = n == 1 ? RAM_MAX : half;
		r->mmap_offset = (shape & 1) ? 4096 * (shape >> 5) : i * half;
		if (shape & 2)
			r->size = 4096 * (uint64_t)((shape >> 2) % 16 + 1);
	}
	m.hdr.size = 8 + n * (uint32_t)sizeof(struct vhost_user_region);
	send_msg(h, &m, fds, n);
}

/* Features, memory and ring q at fixed places: quickly to a live ring. */
static void bring_up(struct harness *h, struct in *in)
{
	unsigned int q = 0;
	struct vhost_user_msg m = { .hdr = { .request = VHOST_USER_SET_VRING_ADDR } };
	uint64_t feat = (1ull << VIRTIO_F_VERSION_1);
	int fd;

	if (in_u8(in) & 1)
		feat |= 1ull << VIRTIO_F_EVENT_IDX;
	msg_u64(h, VHOST_USER_SET_FEATURES, feat, NULL, 0);
	mem_table(h, in);
	msg_state(h, VHOST_USER_SET_VRING_NUM, q, 16);
	msg_state(h, VHOST_USER_SET_VRING_BASE, q, 0);
	m.hdr.size = sizeof(m.p.addr);
	m.p.addr.index = q;
	m.p.addr.desc = UA_BASE;
	m.p.addr.avail = UA_BASE + 0x1000;
	m.p.addr.used = UA_BASE + 0x2000;
	send_msg(h, &m, NULL, 0);
	fd = hostile_fd(h, in);
	msg_u64(h, VHOST_USER_SET_VRING_CALL, fd < 0 ? VHOST_USER_VRING_NOFD : 0, &fd, fd >= 0);
	fd = hostile_fd(h, in);
	msg_u64(h, VHOST_USER_SET_VRING_ERR, fd < 0 ? VHOST_USER_VRING_NOFD : 0, &fd, fd >= 0);
	fd = hostile_fd(h, in);
	msg_u64(h, VHOST_USER_SET_VRING_KICK, 0, &fd, fd >= 0);
}

/* A read or write request at the head of ring 0, kicked. */
static void request(struct harness *h, struct in *in)
{
	uint8_t *r = h->ram.map;
	size_t lim = h->ram.size & ~4095ul;
	uint8_t type = in_u8(in) & 1, idx = in_u8(in);
	uint64_t desc[3][2] = {
		{ 0x3000, 16 },
		{ 0x4000, 512 },
		{ 0x3100, 1 },
	};

	if (!r || lim < 0x5000)
		return;
	for (unsigned int i = 0; i < 3; i++) {
		uint8_t *d = r + 16 * i;
		uint32_t l = (uint32_t)desc[i][1];
		uint16_t fl = i < 2 ? 1 : 0, nx = (uint16_t)(i + 1);

		if (i == 1 && !type)
			fl |= 2;
		if (i == 2)
			fl |= 2;
		memcpy(d, &desc[i][0], 8);
		memcpy(d + 8, &l, 4);
		memcpy(d + 12, &fl, 2);
		memcpy(d + 14, &nx, 2);
	}
	memset(r + 0x3000, 0, 16);
	r[0x3000] = type;
	memcpy(r + 0x1000 + 4 + 2 * (idx % 16), &(uint16_t){ 0 }, 2);
	__atomic_store_n((uint16_t *)(r + 0x1002), (uint16_t)(idx + 1), __ATOMIC_RELEASE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct harness *h = harness_get();
	struct in in = { data, len };
	unsigned int steps = 0;

	h->nr_owned = 0;
	h->ram = (struct ram){ .fd = -1 };
	ram_new(h, &in);
	while (in.n && steps++ < 64) {
		uint8_t op = in_u8(&in);
		int fd;

		switch (op % 10) {
		case 0:
			bring_up(h, &in);
			break;
		case 1:
			ram_new(h, &in);
			mem_table(h, &in);
			break;
		case 2:
			ram_resize(h, &in);
			break;
		case 3:
			ram_write(h, &in);
			break;
		case 4:
			request(h, &in);
			break;
		case 5: /* a new kick, call or error fd for ring op/16 */
			fd = hostile_fd(h, &in);
			msg_u64(h, VHOST_USER_SET_VRING_KICK + in_u8(&in) % 3,
				(op >> 4) % 2 | (fd < 0 ? VHOST_USER_VRING_NOFD : 0), &fd, fd >= 0);
			break;
		case 6: /* the frontend stops the ring */
			msg_state(h, VHOST_USER_GET_VRING_BASE, 0, 0);
			break;
		case 7:
			msg_u64(h, VHOST_USER_SET_FEATURES,
				(1ull << VIRTIO_F_VERSION_1) | (uint64_t)in_u8(&in) << 28, NULL, 0);
			break;
		case 8:
			vhost_user_dev_disconnect(h->d);
			break;
		default:
			break;
		}
		/* The I/O thread's work: the kick fd, then completions. */
		vhost_user_dev_kick(h->d, 0);
		virtio_blk_poll(h->vd);
	}
	vhost_user_dev_disconnect(h->d);
	ram_drop(h);
	for (unsigned int i = 0; i < h->nr_owned; i++)
		if (h->owned[i] >= 0)
			close(h->owned[i]);
	h->nr_owned = 0;
	return 0;
}
