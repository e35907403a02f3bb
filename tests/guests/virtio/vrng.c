// SPDX-License-Identifier: MIT
/*
 * vrng.elf - virtio-rng (virtio 1.2 section 5.4): two 64-byte requests
 * come back full, not all zero and not equal; an MSI-X interrupt arrives.
 */
#include "vdrv.h"

static u8 a[64], b[64];

void guest_main(void)
{
	struct vdev d;
	struct vbuf v;
	u32 len = 0;
	u32 zero = 0;

	tsc_calibrate();
	check(vdev_find(&d, VIRTIO_ID_RNG, 0), "no virtio-rng device on bus 0");
	check(vdev_negotiate(&d, VF_EVENT_IDX), "feature negotiation failed");
	vdev_msix_enable(&d);
	check(vq_setup(&d, 0, 0, 0) == 1, "queue refused");
	vdev_driver_ok(&d);
	v = (struct vbuf){ (u64)a, sizeof(a), true };
	vq_post(&d.vqs[0], &v, 1);
	v.addr = (u64)b;
	vq_post(&d.vqs[0], &v, 1);
	vq_kick(&d.vqs[0]);
	check(vq_wait(&d.vqs[0], NULL, &len, 5000), "no entropy");
	check(len == sizeof(a), "got %u bytes", len);
	check(vq_wait(&d.vqs[0], NULL, &len, 5000), "no entropy");
	for (unsigned int i = 0; i < sizeof(a); i++)
		zero += !a[i];
	check(zero < 16, "%u zero bytes", zero);
	check(memcmp(a, b, sizeof(a)), "two requests returned the same bytes");
	irq_enable();
	udelay(1000);
	irq_disable();
	check(vdrv_irqs[0] > 0, "no MSI-X interrupt");
	printf("vrng: %02x%02x%02x%02x..., %u interrupts\n", a[0], a[1], a[2], a[3], vdrv_irqs[0]);
	pass();
}
