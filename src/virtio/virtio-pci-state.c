// SPDX-License-Identifier: MIT
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "virtio/virtio-pci-int.h"

/*
 * Save/restore of one function, section "VPCI" (v1): PCI config space,
 * MSI-X table and PBA, the common-config selectors and ISR, the virtio
 * core record (virtio_dev_save: status, features, queues, ring indices)
 * and the device model's own record, if it has one.  Save runs on a
 * paused device (vm_quiesce drained requests in flight); a device that
 * holds what cannot be carried (requests stopped on an I/O error, a
 * kernel data path) refuses with a message naming it.
 *
 * Load runs on a freshly created, never started device, after guest
 * memory is in place (virtq_enable checks rings against it).  Each part
 * is validated before it is applied; a later part that fails leaves the
 * device partly loaded, and the caller (a restore in a new process)
 * then exits without ever running the VM.
 */
#define VPCI_STATE_TAG STREAM_TAG('V', 'P', 'C', 'I')
#define VPCI_STATE_VERSION 1
#define VPCI_MODEL_STATE_MAX 4096

static const char *vpci_save_why(int err)
{
	switch (err) {
	case -EBUSY:
		return "requests are held or still in flight (a disk stopped on an I/O error? "
		       "fix it and resume first)";
	case -EOPNOTSUPP:
		return "this device's state cannot be saved yet";
	default:
		return strerror(-err);
	}
}

int vpci_state_save(void *opaque, struct stream *s, struct error *err)
{
	struct virtio_pci *vp = opaque;
	struct virtio_dev *vd = vp->vd;
	uint8_t core[VIRTIO_STATE_MAX], model[VPCI_MODEL_STATE_MAX];
	size_t core_len = sizeof(core), model_len = sizeof(model);
	struct stream_section sec;
	uint32_t dfselect, gfselect;
	uint16_t qsel;
	uint8_t isr;
	int r;

	pthread_mutex_lock(&vd->lock);
	r = virtio_dev_save(vd, core, &core_len);
	if (!r && vd->ops->save)
		r = vd->ops->save(vd, model, &model_len);
	else
		model_len = 0;
	dfselect = vp->dfselect;
	gfselect = vp->gfselect;
	qsel = vp->queue_select;
	isr = vp->isr;
	pthread_mutex_unlock(&vd->lock);
	if (r < 0)
		return error_setf(err, r, "%s: cannot save: %s", vp->id, vpci_save_why(r));

	stream_section_begin(s, &sec, VPCI_STATE_TAG, VPCI_STATE_VERSION);
	pci_dev_save(&vp->pci, s);
	msix_save(&vp->msix, s);
	stream_put_u32(s, dfselect);
	stream_put_u32(s, gfselect);
	stream_put_u16(s, qsel);
	stream_put_u8(s, isr);
	stream_put_u32(s, (uint32_t)core_len);
	stream_put_bytes(s, core, core_len);
	stream_put_u32(s, (uint32_t)model_len);
	stream_put_bytes(s, model, model_len);
	stream_section_end(s, &sec);
	if (stream_error(s))
		return error_setf(err, stream_error(s), "%s: %s", vp->id, error_msg(&s->err));
	return 0;
}

int vpci_state_load(void *opaque, struct stream *s, struct error *err)
{
	struct virtio_pci *vp = opaque;
	struct virtio_dev *vd = vp->vd;
	uint8_t core[VIRTIO_STATE_MAX], model[VPCI_MODEL_STATE_MAX];
	uint32_t dfselect, gfselect, core_len, model_len;
	struct stream_section sec;
	uint16_t qsel;
	uint8_t isr;
	uint32_t ver;
	int r;

	ver = stream_section_open(s, &sec, VPCI_STATE_TAG);
	if (ver && ver != VPCI_STATE_VERSION)
		stream_fail(s, -EPROTO, "state version %u is not supported", ver);
	if (!stream_error(s))
		pci_dev_load(&vp->pci, s);
	if (!stream_error(s))
		msix_load(&vp->msix, s);
	dfselect = stream_get_u32(s);
	gfselect = stream_get_u32(s);
	qsel = stream_get_u16(s);
	isr = stream_get_u8(s);
	core_len = stream_get_u32(s);
	if (!stream_error(s) && core_len > sizeof(core))
		stream_fail(s, -EINVAL, "virtio record of %u bytes is too large", core_len);
	stream_get_bytes(s, core, stream_error(s) ? 0 : core_len);
	model_len = stream_get_u32(s);
	if (!stream_error(s) && model_len > sizeof(model))
		stream_fail(s, -EINVAL, "device record of %u bytes is too large", model_len);
	if (!stream_error(s) && model_len && !vd->ops->load)
		stream_fail(s, -EINVAL, "device record for a device without state");
	stream_get_bytes(s, model, stream_error(s) ? 0 : model_len);
	stream_section_close(s, &sec);
	/* Selectors may hold any value the guest wrote; ISR has two bits (4.1.4.5). */
	if (!stream_error(s) && isr > 3)
		stream_fail(s, -EINVAL, "ISR %#x has reserved bits set", isr);
	if (stream_error(s))
		return error_setf(err, stream_error(s), "%s state: %s", vp->id, error_msg(&s->err));

	pthread_mutex_lock(&vd->lock);
	r = virtio_dev_load(vd, core, core_len);
	if (r < 0) {
		pthread_mutex_unlock(&vd->lock);
		return error_setf(err, r,
				  "%s state: the virtio record is damaged or does not fit this "
				  "device and memory",
				  vp->id);
	}
	vp->dfselect = dfselect;
	vp->gfselect = gfselect;
	vp->queue_select = qsel;
	vp->isr = isr;
	/* The driver set DRIVER_OK before the save: start the model as then. */
	if ((vd->status & VIRTIO_STATUS_DRIVER_OK) && vd->ops->activate)
		r = vd->ops->activate(vd);
	if (!r && vd->ops->load)
		r = vd->ops->load(vd, model, model_len);
	pthread_mutex_unlock(&vd->lock);
	if (r < 0)
		return error_setf(err, r, "%s state: cannot start the device: %s", vp->id,
				  strerror(-r));
	return 0;
}
