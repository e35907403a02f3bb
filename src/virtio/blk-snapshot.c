// SPDX-License-Identifier: MIT
/*
 * A virtio-blk disk's internal snapshots, taken in the VMM that has the
 * image open (vessel snapshot create on a running VM): the VMM's qcow2
 * caches and refcounts are the image's truth while it runs, so no other
 * process may write its snapshot table.  The VM is quiesced first
 * (vm_disk_snapshot, snapshot_save_begin): no request is in flight and
 * the I/O thread takes none, so the qcow2 state is the main thread's
 * for the call.
 *
 * The snapshot entry is qcow2's own (qcow2 spec, "Snapshots"), with no
 * VM state in the image (vm_state_size 0): qemu-img snapshot -l lists
 * it, and qemu sees a disk-only snapshot.  A raw image has no snapshot
 * table and is refused; a read-only disk cannot change, so it takes none
 * and is skipped, as QEMU's savevm skips read-only drives.
 */
#include <errno.h>

#include "block/qcow2.h"
#include "util/error.h"
#include "virtio/blk-int.h"

int vblk_disk_snapshot(struct virtio_dev *vd, enum component_disk_op op, const char *name,
		       struct error *err)
{
	struct vblk *b = to_vblk(vd);
	int r;

	if (b->readonly)
		return op == COMPONENT_DISK_DELETE ? -ENOENT : 0;
	if (!qcow2_is_qcow2(b->bd))
		return error_setf(err, -ENOTSUP,
				  "%s: a %s disk has no internal snapshots (use qcow2, or an "
				  "external snapshot)",
				  b->path, blk_format(b->bd));
	for (unsigned int i = 0; i < b->nr_queues; i++)
		if (b->qs[i].held || b->qs[i].inflight)
			return error_setf(err, -EBUSY, "%s: requests in flight", b->path);
	switch (op) {
	case COMPONENT_DISK_CHECK:
		return 0;
	case COMPONENT_DISK_CREATE:
		r = qcow2_snapshot_create(b->bd, name);
		break;
	case COMPONENT_DISK_DELETE:
		r = qcow2_snapshot_delete(b->bd, name);
		if (r == -ENOENT)
			return r;
		break;
	default:
		return error_setf(err, -EINVAL, "unknown snapshot operation");
	}
	if (r)
		return error_set_errno(err, r, "%s: cannot %s snapshot '%s'", b->path,
				       op == COMPONENT_DISK_CREATE ? "take" : "delete", name);
	return 0;
}
