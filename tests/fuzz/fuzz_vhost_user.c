// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the vhost-user message handlers (src/vhost) with the
 * real virtio-blk model behind them.  The input is a stream of records,
 * each a vhost-user header (request, flags, size) and `size` payload
 * bytes.  Requests that carry fds get them from the harness: a 64 KiB
 * memfd (guest RAM) for each SET_MEM_TABLE region, an eventfd for
 * SET_VRING_KICK/CALL/ERR.  Request 0 is the harness's own: its payload
 * (offset u16, then bytes) is written into guest RAM, so the fuzzer can
 * lay out rings and requests, and after every record ring 0 is kicked.
 * A handler error ends the "connection" like conn.c does.  Whatever the
 * bytes, nothing crashes, leaks or touches memory outside the mappings
 * (ASan/UBSan), and the backend always ends in a clean state.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "block/block.h"
#include "mem/gmem.h"
#include "util/log.h"
#include "vhost/vhost-user.h"
#include "virtio/devices.h"
#include "virtio/virtio.h"
#include "vm/config.h"

#define RAM_SIZE (64u * 1024)

struct harness {
	struct gmem mem;
	struct virtio_dev *vd;
	struct vhost_user_dev *d;
	int memfd;
	uint8_t *ram;
	char path[64];
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

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

	if (h)
		return h;
	h = calloc(1, sizeof(*h));
	log_set_level(LOG_ERR);
	snprintf(h->path, sizeof(h->path), "/tmp/fuzz-vhost-user-%d.raw", getpid());
	if (blk_create("raw", h->path, &co, NULL) < 0)
		abort();
	dc.path = h->path;
	gmem_init(&h->mem, NULL);
	if (virtio_blk_new(&dc, 0, &h->mem, NULL, &h->vd, NULL) < 0)
		abort();
	unlink(h->path);
	if (vhost_user_dev_create(h->vd, VIRTIO_BLK_CFG_SIZE, &h->mem, NULL, &hooks, &h->d) < 0)
		abort();
	h->memfd = memfd_create("fuzz-ram", MFD_CLOEXEC);
	if (h->memfd < 0 || ftruncate(h->memfd, RAM_SIZE) < 0)
		abort();
	h->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, h->memfd, 0);
	if (h->ram == MAP_FAILED)
		abort();
	return h;
}

/* The fds a real frontend would pass with this message. */
static unsigned int make_fds(struct harness *h, const struct vhost_user_msg *m, int *fds)
{
	unsigned int n = 0;

	switch (m->hdr.request) {
	case VHOST_USER_SET_MEM_TABLE:
		n = m->hdr.size >= 4 ? m->p.mem.nregions : 0;
		if (n > VHOST_USER_MAX_FDS)
			n = VHOST_USER_MAX_FDS;
		for (unsigned int i = 0; i < n; i++)
			fds[i] = fcntl(h->memfd, F_DUPFD_CLOEXEC, 3);
		return n;
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR:
		if (m->hdr.size >= 8 && (m->p.u64 & VHOST_USER_VRING_NOFD))
			return 0;
		fds[0] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		return 1;
	default:
		return 0;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct harness *h = harness_get();
	struct vhost_user_msg *m = malloc(sizeof(*m)), *reply = malloc(sizeof(*reply));
	int fds[VHOST_USER_MAX_FDS];

	memset(h->ram, 0, RAM_SIZE);
	while (len >= VHOST_USER_HDR_SIZE) {
		unsigned int nfds;
		bool has_reply;
		int ret;

		memset(m, 0, sizeof(*m));
		memcpy(&m->hdr, data, VHOST_USER_HDR_SIZE);
		data += VHOST_USER_HDR_SIZE;
		len -= VHOST_USER_HDR_SIZE;
		/* conn.c refuses these before any handler runs. */
		if (m->hdr.size > VHOST_USER_MAX_PAYLOAD || m->hdr.size > len)
			break;
		memcpy(&m->p, data, m->hdr.size);
		data += m->hdr.size;
		len -= m->hdr.size;
		if (m->hdr.request == 0) {
			uint16_t off;
			size_t n;

			if (m->hdr.size >= 2) {
				memcpy(&off, m->p.raw, 2);
				off %= RAM_SIZE;
				n = m->hdr.size - 2;
				if (n > RAM_SIZE - off)
					n = RAM_SIZE - off;
				memcpy(h->ram + off, m->p.raw + 2, n);
			}
		} else {
			nfds = make_fds(h, m, fds);
			ret = vhost_user_handle_msg(h->d, m, fds, nfds, reply, &has_reply);
			if (ret < 0) {
				vhost_user_dev_disconnect(h->d);
				continue;
			}
		}
		vhost_user_dev_kick(h->d, 0);
		virtio_blk_poll(h->vd);
	}
	vhost_user_dev_disconnect(h->d);
	free(m);
	free(reply);
	return 0;
}
