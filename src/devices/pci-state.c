// SPDX-License-Identifier: MIT
/*
 * Save/restore of one PCI function's configuration space (PCI Local Bus
 * 3.0 chapter 6): the 4 KiB image travels whole; on load everything the
 * guest cannot write (IDs, class, capability list and bodies, BAR size
 * bits) must equal this device's, which is how a state file made for
 * another device or another build is refused.  The mapping of every BAR
 * then follows the restored BAR and command registers, exactly as after
 * a guest write, and INTA# is driven to the restored Interrupt Status.
 */
#include <errno.h>
#include <string.h>

#include "devices/pci.h"

#define PCFG_STATE_TAG STREAM_TAG('P', 'C', 'F', 'G')
#define PCFG_STATE_VERSION 1

void pci_dev_save(struct pci_dev *d, struct stream *s)
{
	struct stream_section sec;
	uint8_t cfg[PCI_CFG_SIZE];

	pthread_mutex_lock(&d->cfg_lock);
	memcpy(cfg, d->cfg, sizeof(cfg));
	pthread_mutex_unlock(&d->cfg_lock);
	stream_section_begin(s, &sec, PCFG_STATE_TAG, PCFG_STATE_VERSION);
	stream_put_u32(s, PCI_CFG_SIZE);
	stream_put_bytes(s, cfg, sizeof(cfg));
	stream_section_end(s, &sec);
}

int pci_dev_load(struct pci_dev *d, struct stream *s)
{
	struct stream_section sec;
	uint8_t cfg[PCI_CFG_SIZE];
	uint32_t ver, size;
	bool intx;

	ver = stream_section_open(s, &sec, PCFG_STATE_TAG);
	if (ver && ver != PCFG_STATE_VERSION)
		return stream_fail(s, -EPROTO, "PCI config state version %u is not supported", ver);
	size = stream_get_u32(s);
	if (!stream_error(s) && size != PCI_CFG_SIZE)
		return stream_fail(s, -EINVAL, "PCI config state of %u bytes, not %u", size,
				   PCI_CFG_SIZE);
	stream_get_bytes(s, cfg, sizeof(cfg));
	stream_section_close(s, &sec);
	if (stream_error(s))
		return stream_error(s);

	pthread_mutex_lock(&d->cfg_lock);
	for (unsigned int i = 0; i < PCI_CFG_SIZE; i++) {
		uint8_t fixed = (uint8_t) ~(d->wmask[i] | d->w1cmask[i]);

		/* Interrupt Status is the device's, not the guest's (6.2.3). */
		if (i == PCI_STATUS)
			fixed &= (uint8_t)~PCI_STATUS_INTERRUPT;
		if ((cfg[i] ^ d->cfg[i]) & fixed) {
			pthread_mutex_unlock(&d->cfg_lock);
			return stream_fail(s, -EINVAL,
					   "PCI function %s: read-only config byte %#x is %#x, "
					   "this device has %#x (another device or version)",
					   d->name, i, cfg[i], d->cfg[i]);
		}
	}
	memcpy(d->cfg, cfg, sizeof(cfg));
	intx = cfg[PCI_STATUS] & PCI_STATUS_INTERRUPT;
	pthread_mutex_unlock(&d->cfg_lock);
	if (d->bus)
		pci_dev_update_bars(d);
	pci_dev_set_intx(d, intx);
	return 0;
}
