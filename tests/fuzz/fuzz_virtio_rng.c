// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the virtio-rng device model (src/virtio/rng.c) with a
 * fake transport.  The guest decides how many buffers it posts, how big
 * they are (the device caps each chain at 64 KiB), whether they are
 * readable (a guest error), indirect, looping or outside RAM, and when
 * it negotiates, kicks and resets.  The random bytes differ from run to
 * run; what the device does with the rings does not.
 */
#include "fuzz_common.h"

#define RAM_GPA 0x10000ull
#define RAM_SIZE (64u * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	/* This target's own encoding (op % 8), older than fuzz_dev_op16(). */
	static const enum fuzz_dev_op ops[8] = {
		FUZZ_OP_RAM, FUZZ_OP_RAM,  FUZZ_OP_POST,   FUZZ_OP_POST,
		FUZZ_OP_KICK, FUZZ_OP_INIT, FUZZ_OP_STATUS, FUZZ_OP_NONE,
	};
	static uint8_t ram[RAM_SIZE];
	struct fin in = { data, len };
	struct virtio_dev *vd;
	struct fuzz_vdev g;

	fuzz_vdev_init(&g, ram, RAM_GPA, RAM_SIZE);
	if (virtio_rng_new(&g.mem, NULL, &vd) < 0)
		abort();
	fuzz_attach(vd, &g.t);
	pthread_mutex_lock(&vd->lock);
	for (unsigned int steps = 0; fin_more(&in) && steps < 256; steps++) {
		enum fuzz_dev_op op = ops[fin_u8(&in) % 8];
		/* A kick names its queue: queue 1 does not exist. */
		unsigned int q = op == FUZZ_OP_KICK ? fin_u8(&in) % 2 : 0;

		if (!fuzz_dev_step(&in, &g, vd, q, op))
			virtio_dev_write_features(vd, fin_u8(&in), fin_u32(&in));
	}
	pthread_mutex_unlock(&vd->lock);
	vd->ops->destroy(vd);
	fuzz_vdev_fini(&g);
	return 0;
}
