/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_NET_TAP_H
#define VESSEL_NET_TAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A tap interface as a NIC back-end (the kernel's
 * Documentation/networking/tuntap.rst): IFF_TAP | IFF_NO_PI |
 * IFF_VNET_HDR, so each read and write is one Ethernet frame behind a
 * 12-byte struct virtio_net_hdr_v1 (virtio 1.2 section 5.1.6: the
 * header a virtio 1 driver uses, num_buffers included), with one queue
 * (fd) per virtio-net queue pair (IFF_MULTI_QUEUE).  The fds are
 * non-blocking.
 */
struct error;
struct tap;

#define TAP_VNET_HDR_LEN 12
#define TAP_MAX_QUEUES 16

struct tap_spec {
	const char *name; /* existing or to-create tap; NULL or "": a new "vs%d" */
	int fd;		  /* >= 0: a tap fd handed in (one queue); name ignored */
};

/*
 * Open `queues` queues of the tap.  A tap that does not exist is
 * created, owned (it goes away with the last fd, when the VM stops) and
 * brought up; an existing one is used as it is (it must be a tap with
 * multi_queue set if queues > 1).  0 or -errno with err naming the tap.
 */
int tap_open(const struct tap_spec *spec, unsigned int queues, struct tap **out,
	     struct error *err);
/*
 * Wrap fds that carry frames behind the same header but are no tap (a
 * SOCK_SEQPACKET socketpair in tests): the tap ioctls do nothing on them.
 */
int tap_wrap_fds(const int *fds, unsigned int n, const char *name, struct tap **out);
int tap_fd(const struct tap *t, unsigned int q);
unsigned int tap_queues(const struct tap *t);
const char *tap_name(const struct tap *t);
bool tap_owned(const struct tap *t);
/* TUNSETOFFLOAD: what the tap may hand the guest (TUN_F_CSUM, TSO4, ...). */
int tap_set_offload(struct tap *t, unsigned int tun_f);
/*
 * TUNSETTXFILTER: which destination MACs the tap hands the guest at all
 * (drivers/net/tun.c filters before queueing, so vhost-net sees the same):
 * all (filter off), or macs[0..n) exactly plus every multicast frame with
 * allmulti.  More unicast addresses than the kernel matches exactly turn
 * the filter off (all pass).  Only on a tap vessel created, which goes
 * away with the VMM: on an existing tap or a handed-in fd nothing is set
 * (0), since a filter there would outlive a killed VMM.
 */
int tap_set_filter(struct tap *t, bool all, bool allmulti, const uint8_t (*macs)[6], unsigned int n);
/* TUNSETQUEUE: attach or detach queue q (inactive virtio-net pairs, section 5.1.6.5.5). */
int tap_queue_enable(struct tap *t, unsigned int q, bool on);
/*
 * Make the tap a port of Open vSwitch bridge `bridge` with its VLANs
 * (net/ovs.h); tap_close() removes the port again.
 */
int tap_join_ovs(struct tap *t, const char *bridge, unsigned int vlan, const unsigned int *ids,
		 size_t n, struct error *err);
/* Close every queue (an owned tap is removed by the kernel). */
void tap_close(struct tap *t);

#endif
