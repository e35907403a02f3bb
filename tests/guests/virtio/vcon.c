// SPDX-License-Identifier: MIT
/*
 * vcon.elf - virtio-console (virtio 1.2 section 5.3), one port: the guest
 * posts a receive buffer on the receiveq (queue 0), with the option echo
 * waits for input there, then sends a line on the transmitq (queue 1).
 * The host side checks the file / socket.  Options: msg=WORD, echo.
 */
#include "vdrv.h"

static char line[64], rx[64];

void guest_main(void)
{
	struct vdev d;
	struct vbuf b;
	u32 len = 0;
	char msg[32] = "hello-from-hvc0";

	tsc_calibrate();
	opt_str("msg", msg, sizeof(msg));
	check(vdev_find(&d, VIRTIO_ID_CONSOLE, 0), "no virtio-console device on bus 0");
	check(vdev_negotiate(&d, VF_EVENT_IDX), "feature negotiation failed");
	vdev_msix_enable(&d);
	check(vq_setup(&d, 0, 16, 0) == 1, "receiveq refused");
	check(vq_setup(&d, 1, 16, 1) == 1, "transmitq refused");
	vdev_driver_ok(&d);
	/* A receive buffer first, so input is never dropped. */
	b = (struct vbuf){ (u64)rx, sizeof(rx), true };
	vq_post(&d.vqs[0], &b, 1);
	vq_kick(&d.vqs[0]);
	/* With echo, wait for the host first: then a client is attached. */
	if (opt_has("echo")) {
		check(vq_wait(&d.vqs[0], NULL, &len, 20000), "no input arrived");
		check(len > 0 && len <= sizeof(rx), "bad receive length %u", len);
		rx[len < sizeof(rx) ? len : sizeof(rx) - 1] = 0;
		printf("vcon: received '%s'\n", rx);
	}
	snprintf(line, sizeof(line), "%s\n", msg);
	b = (struct vbuf){ (u64)line, (u32)strlen(line), false };
	vq_post(&d.vqs[1], &b, 1);
	vq_kick(&d.vqs[1]);
	check(vq_wait(&d.vqs[1], NULL, NULL, 5000), "transmit buffer not returned");
	printf("vcon: sent '%s'\n", msg);
	pass();
}
