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
	static uint8_t ram[RAM_SIZE];
	struct fin in = { data, len };
	struct fuzz_transport t;
	struct virtio_dev *vd;
	struct gmem mem;

	fuzz_quiet();
	fuzz_ram_init(&mem, ram, RAM_GPA, RAM_SIZE);
	if (virtio_rng_new(&mem, NULL, &vd) < 0)
		abort();
	fuzz_attach(vd, &t);
	pthread_mutex_lock(&vd->lock);
	for (unsigned int steps = 0; fin_more(&in) && steps < 256; steps++) {
		switch (fin_u8(&in) % 8) {
		case 0:
		case 1:
			fuzz_ram_write(&in, ram, RAM_SIZE);
			break;
		case 2:
		case 3:
			fuzz_post_chain(&in, &vd->vqs[0], ram, RAM_GPA, RAM_SIZE);
			break;
		case 4:
			virtio_dev_kick(vd, fin_u8(&in) % 2); /* queue 1 does not exist */
			break;
		case 5:
			fuzz_driver_init(&in, vd, RAM_GPA, RAM_SIZE);
			break;
		case 6:
			virtio_dev_set_status(vd, fin_u8(&in));
			break;
		default:
			virtio_dev_write_features(vd, fin_u8(&in), fin_u32(&in));
			break;
		}
	}
	pthread_mutex_unlock(&vd->lock);
	vd->ops->destroy(vd);
	fuzz_ram_fini(&mem);
	return 0;
}
