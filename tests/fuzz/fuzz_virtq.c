// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: virtq_pop() over fuzzed guest memory.  The input is
 * a small header (queue size, features, ring placement) followed by the
 * guest RAM image the rings and indirect tables live in.  Every popped
 * chain must point inside that RAM; whatever the bytes, popping never
 * reads outside it and ends (ASan/UBSan catch the rest).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem/gmem.h"
#include "virtio/virtq.h"

#define RAM_SIZE (64u * 1024)

struct hdr {
	uint8_t size_log2;
	uint8_t flags;
	uint16_t desc_page, avail_page, used_page; /* in 64-byte units */
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static uint8_t *ram;
	struct ratelimit rl = RATELIMIT_INIT;
	struct gmem mem;
	struct virtq vq;
	struct virtq_chain *c;
	struct hdr h;

	if (len < sizeof(h))
		return 0;
	memcpy(&h, data, sizeof(h));
	data += sizeof(h);
	len -= sizeof(h);
	if (!ram)
		ram = malloc(RAM_SIZE);
	memset(ram, 0, RAM_SIZE);
	memcpy(ram, data, len < RAM_SIZE ? len : RAM_SIZE);

	gmem_init(&mem, NULL);
	if (gmem_add_mapped(&mem, 0x1000, RAM_SIZE, ram, -1, 0) < 0) /* a hole below RAM too */
		abort();
	rl.burst = 0; /* keep the fuzzer's output quiet */

	virtq_init(&vq, &mem, 0, 256, "fuzz", &rl);
	vq.size = (uint16_t)(1u << (h.size_log2 % 10));
	vq.desc_gpa = 0x1000 + 64ull * (h.desc_page % 1024);
	vq.avail_gpa = 0x1000 + 64ull * (h.avail_page % 1024);
	vq.used_gpa = 0x1000 + 64ull * (h.used_page % 1024);
	if (virtq_enable(&vq, h.flags & 1, h.flags & 2) < 0) {
		gmem_destroy(&mem);
		return 0;
	}
	c = virtq_chain_alloc((h.flags & 4) ? 4 : 256);
	for (int n = 0; n < 300; n++) {
		int r = virtq_pop(&vq, c);

		if (r <= 0)
			break;
		for (unsigned int i = 0; i < c->nr_out + c->nr_in; i++) {
			uint8_t *p = c->iov[i].iov_base;

			if (p < ram || p + c->iov[i].iov_len > ram + RAM_SIZE)
				abort();
			/* Touch both ends so ASan checks the range. */
			p[0] ^= 0;
			p[c->iov[i].iov_len - 1] ^= 0;
		}
		virtq_push_chain(&vq, c, (uint32_t)c->in_len);
		virtq_should_notify(&vq);
		virtq_enable_notify(&vq);
	}
	virtq_chain_free(c);
	gmem_destroy(&mem);
	return 0;
}
