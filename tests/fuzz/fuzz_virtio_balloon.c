// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the virtio-balloon device model (src/virtio/balloon.c)
 * with a fake transport.  The guest decides the PFN lists (inside RAM,
 * past it, wrapping, odd lengths, in writable buffers), the free page
 * reports, the stats buffers and their tags, the features it negotiates
 * (so which queue is the stats or the reporting queue), config space
 * accesses, kicks and resets; the host side sets targets and stats
 * periods in between.  The memory is mapped by the harness, so discards
 * are refused (-EOPNOTSUPP) after the RAM checks they must pass first.
 */
#include "fuzz_common.h"

#define RAM_GPA 0x10000ull
#define RAM_SIZE (256u * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static uint8_t ram[RAM_SIZE];
	struct virtio_balloon_config cfg = { .enabled = true };
	struct virtio_balloon_state st;
	struct fin in = { data, len };
	struct virtio_dev *vd;
	struct fuzz_vdev g;

	cfg.deflate_on_oom = fin_u8(&in) & 1;
	cfg.free_page_reporting = fin_u8(&in) & 1;
	fuzz_vdev_init(&g, ram, RAM_GPA, RAM_SIZE);
	if (virtio_balloon_new(&g.mem, NULL, &cfg, &vd) < 0)
		abort();
	fuzz_attach(vd, &g.t);
	for (unsigned int steps = 0; fin_more(&in) && steps < 256; steps++) {
		uint8_t op = fin_u8(&in);
		unsigned int q = ((op >> 4) & 3) % vd->nr_queues;
		uint64_t v = 0;
		uint32_t off;
		unsigned int w;

		pthread_mutex_lock(&vd->lock);
		if (fuzz_dev_step(&in, &g, vd, q, fuzz_dev_op16(op & 0xf))) {
			pthread_mutex_unlock(&vd->lock);
			continue;
		}
		switch (op & 0xf) {
		case 8:
		case 9:
			off = fin_u8(&in) % 16;
			w = fin_width(&in, 3);
			if (op & 1) {
				v = fin_u64(&in);
				vd->ops->config_write(vd, off, &v, w);
			} else {
				vd->ops->config_read(vd, off, &v, w);
			}
			break;
		default:
			break;
		}
		pthread_mutex_unlock(&vd->lock);
		/* The host side takes the device's lock itself. */
		switch (op & 0xf) {
		case 10:
			virtio_balloon_set_target(vd, fin_u64(&in) % (2 * RAM_SIZE));
			break;
		case 11:
			virtio_balloon_set_period(vd, fin_u8(&in) % 3);
			break;
		case 12:
			virtio_balloon_get(vd, &st);
			break;
		default:
			break;
		}
	}
	vd->ops->destroy(vd);
	fuzz_vdev_fini(&g);
	return 0;
}
