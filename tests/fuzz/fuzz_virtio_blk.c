// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the virtio-blk device model (src/virtio/blk.c) on a
 * real raw image (io_uring) through the block layer, driven through the
 * transport-independent register operations the way virtio-pci drives
 * it; fuzz_virtio_blk_qcow2 builds this file on a qcow2 image (worker
 * thread; writes, discards and write-zeroes allocate and free clusters),
 * a separate target because qcow2's metadata syncs make it ~50x slower.
 * What a guest controls: feature negotiation, queue placement,
 * descriptor chains (direct, indirect, looping, out of RAM), request
 * headers and discard/write-zeroes segments in its RAM, kicks, config
 * space accesses and resets, also with requests still in flight.
 *
 * Input: one byte of disk options (read-only, queues, serial), then a
 * stream of operations (see the switch).  After each operation every
 * submitted request is waited for, so an input always runs the same way;
 * the exception is "kick then reset", whose completions are stale
 * whenever they arrive.  Nothing may crash, leak, touch memory outside
 * RAM or hang (a request that never completes hangs fuzz_blk_drain).
 */
#include "fuzz_common.h"

#include "vm/config.h"

#ifndef FUZZ_BLK_QCOW2
#define FUZZ_BLK_QCOW2 false
#endif

#define RAM_GPA 0x10000ull /* a hole below RAM: gpa 0 is not memory */
#define RAM_SIZE (64u * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static uint8_t ram[RAM_SIZE];
	static char raw[] = "raw", qcow2[] = "qcow2",
		    serial[] = "0123456789abcdefghij"; /* 20 bytes: no NUL */
	struct fin in = { data, len };
	struct vm_disk_config dc = { 0 };
	struct virtio_dev *vd;
	struct fuzz_vdev g;
	uint8_t opt;

	fuzz_vdev_init(&g, ram, RAM_GPA, RAM_SIZE);
	opt = fin_u8(&in);
	dc.path = fuzz_disk_path_fmt(FUZZ_BLK_QCOW2);
	dc.format = FUZZ_BLK_QCOW2 ? qcow2 : raw;
	dc.serial = (opt & 4) ? serial : NULL;
	dc.readonly = opt & 1;
	dc.num_queues = (opt & 2) ? 2 : 1;
	if (virtio_blk_new(&dc, 0, &g.mem, NULL, &vd, NULL) < 0)
		abort(); /* the harness's own disk: must open */
	fuzz_attach(vd, &g.t);

	for (unsigned int steps = 0; fin_more(&in) && steps < 256; steps++) {
		uint8_t op = fin_u8(&in);
		unsigned int q = (op >> 4) % vd->nr_queues;

		pthread_mutex_lock(&vd->lock);
		if (fuzz_dev_step(&in, &g, vd, q, fuzz_dev_op16(op & 0xf))) {
			pthread_mutex_unlock(&vd->lock);
			fuzz_blk_drain(vd);
			continue;
		}
		switch (op & 0xf) {
		case 8: {
			uint64_t v = 0;
			uint32_t off = fin_u8(&in);
			unsigned int w = fin_width(&in, 3);

			/* virtio-pci's window: whole accesses inside the config. */
			if (off + w <= VIRTIO_BLK_CFG_SIZE)
				vd->ops->config_read(vd, off, &v, w);
			break;
		}
		case 9: {
			uint64_t v = fin_u64(&in);

			vd->ops->config_write(vd, fin_u8(&in) % VIRTIO_BLK_CFG_SIZE, &v, 1);
			break;
		}
		case 10:
			/* Reset with requests in flight: completions are stale. */
			virtio_dev_kick(vd, q);
			virtio_dev_set_status(vd, 0);
			break;
		case 11:
			virtio_dev_write_features(vd, fin_u8(&in), fin_u32(&in));
			break;
		case 12: {
			struct virtq *vq = &vd->vqs[q];

			/* Reprogram a queue: virtio-pci only lets it while it is off. */
			if (vq->enabled)
				break;
			vq->size = fin_u16(&in);
			vq->desc_gpa = RAM_GPA + fin_u16(&in);
			vq->avail_gpa = RAM_GPA + fin_u16(&in);
			vq->used_gpa = RAM_GPA + fin_u16(&in);
			virtio_dev_queue_enable(vd, q);
			break;
		}
		default:
			virtio_dev_get_status(vd);
			break;
		}
		pthread_mutex_unlock(&vd->lock);
		fuzz_blk_drain(vd);
	}
	fuzz_blk_drain(vd);
	vd->ops->destroy(vd);
	fuzz_vdev_fini(&g);
	return 0;
}
