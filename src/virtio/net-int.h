/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_VIRTIO_NET_INT_H
#define VESSEL_VIRTIO_NET_INT_H

/*
 * Private to the virtio-net model: net.c (the device, the userspace data
 * path) and net-vhost.c (the kernel's vhost-net as the data path).
 */
#include <stdbool.h>
#include <stdint.h>

#include "net/tap.h"
#include "virtio/virtio.h"

struct vhost_net;

#define ETH_HLEN 14
#define FRAME_MAX 65550	       /* a 64 KiB GSO frame with its Ethernet header */
#define FRAME_PLAIN (ETH_HLEN + 4 + 1500) /* one MTU-sized frame with a VLAN tag */
#define RX_CHAINS 64	       /* chains one mergeable frame may take */
#define RX_CHAIN_SEGS 32       /* buffers per receive chain */
#define RX_IOV 1024	       /* IOV_MAX */
#define MAC_TABLE_MAX 64
#define TX_BUDGET 256 /* frames per pass before the loop serves others */

struct vnet;

struct vnet_pair {
	struct vnet *n;
	unsigned int idx;
	int fd;
	uint32_t events;  /* what the loop watches on fd */
	bool on_loop;	  /* fd added to the loop */
	bool dead;	  /* the tap went away (EPOLLERR): not watched */
	bool tx_blocked;  /* waiting for EPOLLOUT */
	bool rx_on;	  /* the receive queue has buffers: wait for frames */
	struct virtq_chain *rx[RX_CHAINS];
	struct virtq_chain *tx;
};

struct vnet {
	struct virtio_dev vd;
	struct tap *tap;
	struct evloop *loop;
	unsigned int max_pairs, active_pairs;
	uint8_t conf_mac[6], mac[6];
	bool promisc, allmulti;
	uint8_t uni[MAC_TABLE_MAX][6], multi[MAC_TABLE_MAX][6];
	unsigned int nr_uni, nr_multi;
	bool uni_overflow, multi_overflow;
	bool filter_warned; /* the tap refused TUNSETTXFILTER (said once) */
	struct virtq_chain *ctrl;
	struct iovec *iov;
	uint64_t rx_packets, rx_bytes, rx_no_buffers, rx_filtered, rx_errors;
	uint64_t tx_packets, tx_bytes, tx_dropped, tx_header_errors, tx_full;
	struct vnet_pair pairs[TAP_MAX_QUEUES];

	/* vhost-net (net-vhost.c): asked for, running, or why not. */
	bool want_vhost, vhost_on;
	char vhost_why[160];
	/* opened at creation (nothing is opened under the filter), reset at stop */
	struct vhost_net *vh[TAP_MAX_QUEUES];
	unsigned int vh_live; /* bit i: pair i's instance runs */
	struct vnet_call {
		struct vnet *n;
		unsigned int q;
		int fd;
	} calls[2 * TAP_MAX_QUEUES];
};

/*
 * Move the packets of every pair with vhost-net (at DRIVER_OK, under vd->lock):
 * 0, or -errno with n->vhost_why set, and nothing left half set up.
 */
int net_vhost_start(struct vnet *n);
/* Back to the userspace data path (reset); no-op if not running. */
void net_vhost_stop(struct vnet *n);
/* A doorbell that reached the VMM (an MMIO exit) while vhost runs. */
void net_vhost_kick(struct vnet *n, unsigned int q);
/* Call eventfds for every data queue, on n->loop; at creation. */
int net_vhost_init(struct vnet *n);
void net_vhost_free(struct vnet *n);

#endif
