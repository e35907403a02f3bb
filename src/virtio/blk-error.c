// SPDX-License-Identifier: MIT
/*
 * virtio-blk's error policy (werror/rerror, docs/virtio.md): a request
 * the image fails with the policy "stop" (or "enospc" on ENOSPC) is held
 * here instead of being answered, the disk takes no new request, and the
 * machine is asked to pause the VM (DEV_HOST_IO_ERROR: the VM pauses from
 * its own event loop, never under our lock).  When the VM is resumed,
 * cont submits the held requests again on the disk's I/O thread, which
 * owns the block queues; one that fails again stops the VM again.  The
 * guest never sees the error, and nothing it wrote is lost.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "bus/host.h"
#include "util/evloop.h"
#include "util/log.h"
#include "virtio/blk-int.h"

/* werror/rerror=stop: keep the request for cont, and stop the VM (once). */
void vblk_req_hold(struct vblk_queue *bq, struct vblk_req *r, int err)
{
	struct vblk *b = bq->blk;

	r->next = NULL;
	*bq->held_tail = r;
	bq->held_tail = &r->next;
	if (b->io_stopped)
		return;
	b->io_stopped = true;
	b->st.io_error_stops++;
	log_warn("disk %s: %s failed (%s): the VM pauses until it is resumed", b->path,
		 r->br.op == BLK_OP_READ ? "a read" : "a write", strerror(-err));
	dev_host_request(b->host, DEV_HOST_IO_ERROR);
}

/* Requests held by werror=stop go back to the free list (a reset: nobody's now). */
void vblk_drop_held(struct vblk_queue *bq)
{
	while (bq->held) {
		struct vblk_req *r = bq->held;

		bq->held = r->next;
		vblk_req_put(bq, r);
	}
	bq->held_tail = &bq->held;
}

/*
 * On the disk's I/O thread (the block queues are its own): submit the
 * held requests again, then take what the guest queued meanwhile.  One
 * that fails again stops the VM again.
 */
static void blk_retry(void *opaque)
{
	struct vblk *b = opaque;

	pthread_mutex_lock(&b->vd.lock);
	if (b->io_stopped) {
		b->io_stopped = false;
		for (unsigned int i = 0; i < b->nr_queues; i++) {
			struct vblk_queue *bq = &b->qs[i];
			struct vblk_req *r = bq->held;
			bool submitted = false;

			bq->held = NULL;
			bq->held_tail = &bq->held;
			while (r) {
				struct vblk_req *next = r->next;

				b->st.retried++;
				if (blk_submit(bq->q, &r->br) == 0) {
					bq->inflight++;
					submitted = true;
				} else {
					vblk_req_finish(bq, r, VIRTIO_BLK_S_IOERR);
				}
				r = next;
			}
			if (submitted)
				blk_queue_kick(bq->q);
			if (virtio_dev_active(&b->vd) && b->vd.vqs[i].enabled)
				vblk_queue_process(bq);
			virtio_dev_notify(&b->vd, &b->vd.vqs[i]);
		}
	}
	pthread_mutex_unlock(&b->vd.lock);
}

void vblk_cont(struct virtio_dev *vd)
{
	struct vblk *b = to_vblk(vd);

	evloop_call(b->ioloop ? b->ioloop : b->loop, blk_retry, b);
}

void virtio_blk_set_host(struct virtio_dev *vd, const struct dev_host *host)
{
	to_vblk(vd)->host = host;
}
