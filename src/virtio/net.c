// SPDX-License-Identifier: MIT
/*
 * virtio-net (virtio 1.2 section 5.1) on a tap (net/tap.h).
 *
 * Queues (5.1.2): receiveq i = 2i, transmitq i = 2i + 1 for each pair,
 * then the control queue.  Each pair has its own tap queue (fd).  Every
 * frame carries the 12-byte struct virtio_net_hdr_v1 (5.1.6), which the
 * tap reads and writes as it is (IFF_VNET_HDR, TUNSETVNETHDRSZ 12): the
 * guest's checksum and segmentation offloads pass straight to the host
 * kernel and back, after the header is checked here (5.1.6.2).
 *
 * Receive (5.1.6.3-4): a frame is read with one readv(2) straight into
 * guest buffers.  With VIRTIO_NET_F_MRG_RXBUF it may span several
 * chains: enough are popped for the largest frame the negotiated
 * offloads allow, the unused ones are given back (virtq_rewind) and the
 * used ones completed together (virtq_fill/flush) with num_buffers set.
 * With too few buffers the tap fd is no longer watched until the guest
 * adds some (its kick), so the kernel queues or drops, never us spinning.
 *
 * Transmit (5.1.6.2): each chain is one frame; a full tap (EAGAIN) gives
 * the chain back and waits for EPOLLOUT.  A bad header drops that frame,
 * counted, and the device goes on.
 *
 * The control queue (5.1.6.5) sets promiscuous/all-multicast mode, the
 * MAC filter tables, the MAC address and the number of active pairs.  A
 * tap has no receive filter, so the filter is applied here to every
 * frame read.
 *
 * Threads: everything runs on the device's loop under vd->lock; no call
 * here blocks (the tap fds are non-blocking).
 */
#include <errno.h>
#include <json-c/json.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "net/tap.h"
#include "util/error.h"
#include "util/evloop.h"
#include "util/log.h"
#include "util/util.h"
#include "virtio/devices.h"
#include "virtio/net-int.h"
#include "virtio/virtio.h"

/* Feature bits (5.1.3). */
#define NET_F_CSUM 0
#define NET_F_GUEST_CSUM 1
#define NET_F_MAC 5
#define NET_F_GUEST_TSO4 7
#define NET_F_GUEST_TSO6 8
#define NET_F_GUEST_ECN 9
#define NET_F_HOST_TSO4 11
#define NET_F_HOST_TSO6 12
#define NET_F_HOST_ECN 13
#define NET_F_MRG_RXBUF 15
#define NET_F_STATUS 16
#define NET_F_CTRL_VQ 17
#define NET_F_CTRL_RX 18
#define NET_F_MQ 22
#define NET_F_CTRL_MAC_ADDR 23

#define NET_S_LINK_UP 1

/* struct virtio_net_hdr_v1 (5.1.6). */
#define HDR_F_NEEDS_CSUM 1
#define GSO_NONE 0
#define GSO_TCPV4 1
#define GSO_TCPV6 4
#define GSO_ECN 0x80

struct net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
} __attribute__((packed));
_Static_assert(sizeof(struct net_hdr) == TAP_VNET_HDR_LEN, "virtio_net_hdr_v1");

/* Control queue (5.1.6.5). */
#define CTRL_OK 0
#define CTRL_ERR 1
#define CTRL_RX 0
#define CTRL_RX_PROMISC 0
#define CTRL_RX_ALLMULTI 1
#define CTRL_MAC 1
#define CTRL_MAC_TABLE_SET 0
#define CTRL_MAC_ADDR_SET 1
#define CTRL_MQ 4
#define CTRL_MQ_VQ_PAIRS_SET 0
#define CTRL_CMD_MAX 4096

static unsigned int ctrl_queue(const struct vnet *n)
{
	return 2 * n->max_pairs;
}

static void pair_watch(struct vnet_pair *p, uint32_t events)
{
	if (!p->on_loop || p->dead || p->events == events)
		return;
	if (evloop_mod(p->n->loop, p->fd, events) == 0)
		p->events = events;
}

/* What pair p should wait for now: frames (rx) and room (a blocked tx). */
static void pair_rewatch(struct vnet_pair *p)
{
	uint32_t ev = 0;
	bool active = virtio_dev_active(&p->n->vd) && !p->n->vd.paused &&
		      p->idx < p->n->active_pairs && !p->n->vhost_on;

	if (active && p->rx_on)
		ev |= EPOLLIN;
	if (active && p->tx_blocked)
		ev |= EPOLLOUT;
	pair_watch(p, ev);
}

/* --- the receive filter (5.1.6.5.1-2) --- */

static bool mac_in(const uint8_t (*table)[6], unsigned int n, const uint8_t *mac)
{
	for (unsigned int i = 0; i < n; i++)
		if (!memcmp(table[i], mac, 6))
			return true;
	return false;
}

/*
 * The same filter in the tap (TUNSETTXFILTER), so frames the guest does
 * not want are dropped in the kernel: for vhost-net, which bypasses
 * rx_accept, and to save the userspace path the copies.  Exact entries:
 * the NIC's MAC, broadcast, the unicast table, then the multicast table;
 * an overflowing table or promiscuous mode turns it off.  Only taps
 * vessel created take it (net/tap.h).
 */
static void filter_sync(struct vnet *n)
{
	uint8_t macs[2 + 2 * MAC_TABLE_MAX][6];
	unsigned int k = 0;
	bool all = n->promisc || n->uni_overflow;
	int r;

	memcpy(macs[k++], n->mac, 6);
	memset(macs[k++], 0xff, 6);
	memcpy(macs[k], n->uni, (size_t)n->nr_uni * 6);
	k += n->nr_uni;
	if (!n->allmulti && !n->multi_overflow) {
		memcpy(macs[k], n->multi, (size_t)n->nr_multi * 6);
		k += n->nr_multi;
	}
	r = tap_set_filter(n->tap, all, n->allmulti || n->multi_overflow, macs, k);
	if (r < 0 && !n->filter_warned) {
		n->filter_warned = true;
		log_warn("virtio-net %s: tap filter: %s; filtering in the VMM only%s", n->vd.name,
			 strerror(-r), n->vhost_on ? " (not with vhost-net)" : "");
	}
}

static bool rx_accept(const struct vnet *n, const uint8_t *dst)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	if (n->promisc)
		return true;
	if (!memcmp(dst, bcast, 6))
		return true;
	if (dst[0] & 1)
		return n->allmulti || n->multi_overflow || mac_in(n->multi, n->nr_multi, dst);
	return !memcmp(dst, n->mac, 6) || n->uni_overflow || mac_in(n->uni, n->nr_uni, dst);
}

/* --- receive --- */

/* The most a frame may need: a GSO frame if the guest takes them. */
static size_t rx_need(const struct vnet *n)
{
	const struct virtio_dev *vd = &n->vd;

	if (virtio_has_feature(vd, NET_F_GUEST_TSO4) || virtio_has_feature(vd, NET_F_GUEST_TSO6))
		return TAP_VNET_HDR_LEN + FRAME_MAX;
	return TAP_VNET_HDR_LEN + FRAME_PLAIN;
}

/*
 * Pop chains for one frame: 1 with *np chains holding at least `need`
 * bytes (or one chain without MRG_RXBUF), 0 when the ring has too few
 * (they are given back), -EIO when the queue broke.
 */
static int rx_gather(struct vnet_pair *p, struct virtq *vq, size_t need, unsigned int *np)
{
	bool mrg = virtio_has_feature(&p->n->vd, NET_F_MRG_RXBUF);
	unsigned int cnt = 0, segs = 0;
	size_t total = 0;

	while (cnt < RX_CHAINS && total < need) {
		int r = virtq_pop(vq, p->rx[cnt]);

		if (r < 0)
			return -EIO;
		if (r == 0)
			break;
		if (p->rx[cnt]->nr_out) {
			virtq_fail(vq, "receive buffer with a device-readable part");
			return -EIO;
		}
		segs += p->rx[cnt]->nr_in;
		total += p->rx[cnt]->in_len;
		cnt++;
		/* Without mergeable buffers one chain takes the whole frame. */
		if (!mrg || segs >= RX_IOV - RX_CHAIN_SEGS)
			break;
	}
	if (!cnt || (mrg && total < need && cnt < RX_CHAINS && segs < RX_IOV - RX_CHAIN_SEGS) ||
	    total < TAP_VNET_HDR_LEN + ETH_HLEN) {
		if (cnt)
			virtq_rewind(vq, (uint16_t)cnt);
		*np = cnt; /* seen, and too few */
		return 0;
	}
	*np = cnt;
	return 1;
}

static void rx_pump(struct vnet_pair *p)
{
	struct vnet *n = p->n;
	struct virtq *vq = &n->vd.vqs[2 * p->idx];
	size_t need = rx_need(n);
	bool pushed = false, want_rx = true;

	if (!virtio_dev_active(&n->vd) || n->vd.paused || !vq->enabled || p->dead ||
	    p->idx >= n->active_pairs || n->vhost_on)
		return;
	for (unsigned int budget = TX_BUDGET; budget; budget--) {
		unsigned int cnt, segs = 0, used = 0;
		uint8_t dst[6];
		struct net_hdr h;
		size_t left;
		ssize_t len;
		int r = rx_gather(p, vq, need, &cnt);

		if (r < 0) {
			want_rx = false;
			break;
		}
		if (r == 0) {
			/*
			 * Wait for the guest's kick for a buffer past those seen;
			 * unless one came meanwhile.  Re-arming at the ones seen
			 * would spin on them and never be kicked for the next.
			 */
			if (virtq_enable_notify_after(vq, (uint16_t)cnt))
				continue;
			n->rx_no_buffers++;
			want_rx = false;
			break;
		}
		for (unsigned int i = 0; i < cnt; i++) {
			memcpy(n->iov + segs, p->rx[i]->iov, p->rx[i]->nr_in * sizeof(*n->iov));
			segs += p->rx[i]->nr_in;
		}
		len = readv(p->fd, n->iov, (int)segs);
		if (len < TAP_VNET_HDR_LEN + ETH_HLEN) {
			virtq_rewind(vq, (uint16_t)cnt);
			if (len < 0 && (errno == EAGAIN || errno == EINTR))
				break;
			n->rx_errors++; /* a runt, or the tap failed */
			if (len < 0)
				break;
			continue;
		}
		virtq_iov_copy(n->iov, segs, TAP_VNET_HDR_LEN, dst, 6, false);
		if (!rx_accept(n, dst)) {
			virtq_rewind(vq, (uint16_t)cnt);
			n->rx_filtered++;
			continue;
		}
		/* The chains the frame filled; the rest go back. */
		left = (size_t)len;
		while (used < cnt && left) {
			left -= MIN(left, p->rx[used]->in_len);
			used++;
		}
		if (used < cnt)
			virtq_rewind(vq, (uint16_t)(cnt - used));
		/* num_buffers (5.1.6.4); the tap left those two bytes alone. */
		virtq_iov_copy(n->iov, segs, 0, &h, sizeof(h), false);
		h.num_buffers = (uint16_t)used;
		virtq_iov_copy(n->iov, segs, 0, &h, sizeof(h), true);
		left = (size_t)len;
		for (unsigned int i = 0; i < used; i++) {
			uint32_t w = (uint32_t)MIN(left, p->rx[i]->in_len);

			virtq_fill(vq, p->rx[i], w, (uint16_t)i);
			left -= w;
		}
		virtq_flush(vq, (uint16_t)used);
		pushed = true;
		n->rx_packets++;
		n->rx_bytes += (uint64_t)len - TAP_VNET_HDR_LEN;
	}
	if (pushed)
		virtio_dev_notify(&n->vd, vq);
	p->rx_on = want_rx && !vq->broken;
	pair_rewatch(p);
}

/* --- transmit --- */

/* 0 if the header may go to the tap as it is (5.1.6.2), else why not. */
static const char *tx_check(const struct vnet *n, const struct net_hdr *h, size_t frame)
{
	const struct virtio_dev *vd = &n->vd;
	uint8_t gso = h->gso_type & (uint8_t)~GSO_ECN;

	if (frame < ETH_HLEN || frame > FRAME_MAX)
		return "frame size out of range";
	if (h->flags & ~HDR_F_NEEDS_CSUM)
		return "header flags the driver may not set";
	if (h->flags & HDR_F_NEEDS_CSUM) {
		if (!virtio_has_feature(vd, NET_F_CSUM))
			return "checksum offload not negotiated";
		if ((size_t)h->csum_start + h->csum_offset + 2 > frame)
			return "checksum outside the frame";
	}
	if (gso == GSO_NONE)
		return (h->gso_type & GSO_ECN) ? "ECN without segmentation" : NULL;
	if (gso == GSO_TCPV4 && !virtio_has_feature(vd, NET_F_HOST_TSO4))
		return "TSO4 not negotiated";
	if (gso == GSO_TCPV6 && !virtio_has_feature(vd, NET_F_HOST_TSO6))
		return "TSO6 not negotiated";
	if (gso != GSO_TCPV4 && gso != GSO_TCPV6)
		return "unknown segmentation type";
	if ((h->gso_type & GSO_ECN) && !virtio_has_feature(vd, NET_F_HOST_ECN))
		return "ECN not negotiated";
	if (!(h->flags & HDR_F_NEEDS_CSUM) || !h->gso_size || h->hdr_len > frame)
		return "inconsistent segmentation header";
	return NULL;
}

static void tx_drain(struct vnet_pair *p)
{
	struct vnet *n = p->n;
	struct virtq *vq = &n->vd.vqs[2 * p->idx + 1];
	unsigned int budget = TX_BUDGET;
	bool pushed = false;

	if (!virtio_dev_active(&n->vd) || n->vd.paused || !vq->enabled || p->tx_blocked ||
	    p->idx >= n->active_pairs || n->vhost_on)
		return;
	do {
		virtq_disable_notify(vq);
		while (virtq_pop(vq, p->tx) == 1) {
			struct virtq_chain *c = p->tx;
			struct net_hdr h = { 0 };
			const char *why = NULL;
			ssize_t w;

			if (c->nr_in)
				why = "transmit buffer with a device-writable part";
			else if (virtq_iov_copy(c->iov, c->nr_out, 0, &h, sizeof(h), false) < sizeof(h))
				why = "frame shorter than its header";
			else
				why = tx_check(n, &h, c->out_len - sizeof(h));
			if (why) {
				virtio_dev_guest_error(&n->vd, "tx%u: %s", p->idx, why);
				n->tx_header_errors++;
				virtq_push_chain(vq, c, 0);
				pushed = true;
				continue;
			}
			w = p->dead ? -1 : writev(p->fd, c->iov, (int)c->nr_out);
			if (w < 0 && !p->dead && (errno == EAGAIN || errno == ENOBUFS)) {
				/* The tap is full: this frame again when it has room. */
				virtq_rewind(vq, 1);
				p->tx_blocked = true;
				n->tx_full++;
				goto out;
			}
			if (w < 0) {
				n->tx_dropped++;
			} else {
				n->tx_packets++;
				n->tx_bytes += c->out_len - sizeof(h);
			}
			virtq_push_chain(vq, c, 0);
			pushed = true;
			/* Let the loop serve others; come back through a signal. */
			if (n->loop && !--budget) {
				virtio_dev_signal(&n->vd, 2 * p->idx + 1);
				goto out;
			}
		}
	} while (!vq->broken && virtq_enable_notify(vq));
out:
	if (pushed)
		virtio_dev_notify(&n->vd, vq);
	pair_rewatch(p);
}

/* The tap queue is readable or writable, on the loop thread. */
static void pair_ready(void *opaque, uint32_t events)
{
	struct vnet_pair *p = opaque;
	struct vnet *n = p->n;

	pthread_mutex_lock(&n->vd.lock);
	if (events & (EPOLLERR | EPOLLHUP)) {
		/* The tap went away under us: stop watching, not spin. */
		log_warn("virtio-net %s: tap %s queue %u failed; link down", n->vd.name,
			 tap_name(n->tap), p->idx);
		evloop_del(n->loop, p->fd);
		p->on_loop = false;
		p->dead = true;
		virtio_dev_config_changed(&n->vd);
	} else {
		if (events & EPOLLOUT) {
			p->tx_blocked = false;
			tx_drain(p);
		}
		if (events & EPOLLIN)
			rx_pump(p);
		else
			pair_rewatch(p);
	}
	pthread_mutex_unlock(&n->vd.lock);
}

/* --- the control queue (5.1.6.5) --- */

static uint8_t ctrl_mac_table(struct vnet *n, const uint8_t *d, size_t len)
{
	uint32_t nu, nm;
	size_t off = 0;

	/* Two tables, unicast then multicast: le32 entries, entries * 6 bytes. */
	if (len < 4)
		return CTRL_ERR;
	memcpy(&nu, d, 4);
	off = 4;
	if (nu > (len - off) / 6)
		return CTRL_ERR;
	if (len - off - (size_t)nu * 6 < 4)
		return CTRL_ERR;
	memcpy(&nm, d + off + (size_t)nu * 6, 4);
	if ((size_t)nu * 6 + 8 + (size_t)nm * 6 != len)
		return CTRL_ERR;
	/* Too many to filter exactly: accept them all, as for promisc. */
	n->uni_overflow = nu > MAC_TABLE_MAX;
	n->nr_uni = n->uni_overflow ? 0 : nu;
	memcpy(n->uni, d + off, (size_t)n->nr_uni * 6);
	off += (size_t)nu * 6 + 4;
	n->multi_overflow = nm > MAC_TABLE_MAX;
	n->nr_multi = n->multi_overflow ? 0 : nm;
	memcpy(n->multi, d + off, (size_t)n->nr_multi * 6);
	return CTRL_OK;
}

static void pairs_apply(struct vnet *n)
{
	for (unsigned int i = 0; i < n->max_pairs; i++) {
		if (tap_queue_enable(n->tap, i, i < n->active_pairs) < 0)
			log_warn("virtio-net %s: cannot %s tap queue %u", n->vd.name,
				 i < n->active_pairs ? "attach" : "detach", i);
		if (i >= n->active_pairs)
			pair_watch(&n->pairs[i], 0);
	}
}

static uint8_t ctrl_command(struct vnet *n, uint8_t class, uint8_t cmd, const uint8_t *d,
			    size_t len)
{
	struct virtio_dev *vd = &n->vd;
	uint16_t pairs;

	uint8_t ack;

	switch (class) {
	case CTRL_RX:
		if (!virtio_has_feature(vd, NET_F_CTRL_RX) || len != 1 ||
		    (cmd != CTRL_RX_PROMISC && cmd != CTRL_RX_ALLMULTI))
			return CTRL_ERR;
		if (cmd == CTRL_RX_PROMISC)
			n->promisc = d[0];
		else
			n->allmulti = d[0];
		filter_sync(n);
		return CTRL_OK;
	case CTRL_MAC:
		if (cmd == CTRL_MAC_TABLE_SET && virtio_has_feature(vd, NET_F_CTRL_RX)) {
			ack = ctrl_mac_table(n, d, len);
			if (ack == CTRL_OK)
				filter_sync(n);
			return ack;
		}
		if (cmd == CTRL_MAC_ADDR_SET && virtio_has_feature(vd, NET_F_CTRL_MAC_ADDR) &&
		    len == 6 && !(d[0] & 1)) {
			memcpy(n->mac, d, 6);
			filter_sync(n);
			return CTRL_OK;
		}
		return CTRL_ERR;
	case CTRL_MQ:
		if (cmd != CTRL_MQ_VQ_PAIRS_SET || !virtio_has_feature(vd, NET_F_MQ) || len != 2)
			return CTRL_ERR;
		memcpy(&pairs, d, 2);
		if (pairs < 1 || pairs > n->max_pairs)
			return CTRL_ERR;
		n->active_pairs = pairs;
		pairs_apply(n);
		for (unsigned int i = 0; i < pairs; i++) {
			tx_drain(&n->pairs[i]);
			rx_pump(&n->pairs[i]);
		}
		return CTRL_OK;
	default:
		return CTRL_ERR;
	}
}

/* One command chain: class, command, data (readable); ack (the last writable byte). */
static void ctrl_one(struct vnet *n, struct virtq_chain *c)
{
	uint8_t buf[CTRL_CMD_MAX];
	uint8_t ack = CTRL_ERR;

	if (c->nr_out && c->nr_in && c->out_len >= 2 && c->out_len <= sizeof(buf)) {
		virtq_iov_copy(c->iov, c->nr_out, 0, buf, c->out_len, false);
		ack = ctrl_command(n, buf[0], buf[1], buf + 2, c->out_len - 2);
	} else {
		virtio_dev_guest_error(&n->vd, "malformed control command");
	}
	if (c->nr_in) {
		struct iovec *last = &c->iov[c->nr_out + c->nr_in - 1];

		if (last->iov_len)
			((uint8_t *)last->iov_base)[last->iov_len - 1] = ack;
	}
}

static void ctrl_drain(struct vnet *n)
{
	struct virtq *vq = &n->vd.vqs[ctrl_queue(n)];
	bool pushed = false;

	/*
	 * Re-arm and look again (2.7.10): with EVENT_IDX the driver kicks
	 * only past avail_event, so a command left behind it would never be
	 * kicked for, and Linux spins waiting for its ack.
	 */
	do {
		while (virtq_pop(vq, n->ctrl) == 1) {
			ctrl_one(n, n->ctrl);
			virtq_push_chain(vq, n->ctrl, n->ctrl->nr_in ? 1 : 0);
			pushed = true;
		}
	} while (!vq->broken && virtq_enable_notify(vq));
	if (pushed)
		virtio_dev_notify(&n->vd, vq);
}

/* --- virtio_dev_ops --- */

static void net_notify(struct virtio_dev *vd, unsigned int q)
{
	struct vnet *n = (struct vnet *)vd;

	if (q == ctrl_queue(n))
		ctrl_drain(n);
	else if (n->vhost_on)
		net_vhost_kick(n, q);
	else if (q / 2 < n->max_pairs && (q & 1))
		tx_drain(&n->pairs[q / 2]);
	else if (q / 2 < n->max_pairs)
		rx_pump(&n->pairs[q / 2]); /* new buffers: read the tap again */
}

static unsigned int net_offloads(const struct virtio_dev *vd)
{
	unsigned int f = 0;

	/* What the tap may hand us is what the guest takes (5.1.6.3). */
	if (virtio_has_feature(vd, NET_F_GUEST_CSUM)) {
		f |= TUN_F_CSUM;
		if (virtio_has_feature(vd, NET_F_GUEST_TSO4))
			f |= TUN_F_TSO4;
		if (virtio_has_feature(vd, NET_F_GUEST_TSO6))
			f |= TUN_F_TSO6;
		if (virtio_has_feature(vd, NET_F_GUEST_ECN))
			f |= TUN_F_TSO_ECN;
	}
	return f;
}

static int net_activate(struct virtio_dev *vd)
{
	struct vnet *n = (struct vnet *)vd;
	int r = tap_set_offload(n->tap, net_offloads(vd));

	if (r < 0) {
		log_err("virtio-net %s: TUNSETOFFLOAD on %s: %s", vd->name, tap_name(n->tap),
			strerror(-r));
		return r;
	}
	/* One pair until the driver asks for more (5.1.6.5.5). */
	n->active_pairs = 1;
	pairs_apply(n);
	if (n->want_vhost && net_vhost_start(n) < 0)
		log_warn("virtio-net %s: vhost-net: %s; the userspace device moves the packets",
			 vd->name, n->vhost_why);
	/* Queues with buffers are kicked on the device's loop (virtio_dev_set_status). */
	return 0;
}

static void net_filter_reset(struct vnet *n)
{
	/* Until the driver sets a filter, everything reaches it. */
	n->promisc = true;
	n->allmulti = false;
	n->nr_uni = n->nr_multi = 0;
	n->uni_overflow = n->multi_overflow = false;
	memcpy(n->mac, n->conf_mac, 6);
	filter_sync(n);
}

static void net_reset(struct virtio_dev *vd)
{
	struct vnet *n = (struct vnet *)vd;

	net_vhost_stop(n);
	n->active_pairs = 0;
	for (unsigned int i = 0; i < n->max_pairs; i++) {
		n->pairs[i].tx_blocked = false;
		n->pairs[i].rx_on = false;
		pair_watch(&n->pairs[i], 0);
	}
	net_filter_reset(n);
	tap_set_offload(n->tap, 0);
}

static void net_config_read(struct virtio_dev *vd, uint32_t off, void *data, unsigned int len)
{
	struct vnet *n = (struct vnet *)vd;
	uint8_t cfg[VIRTIO_NET_CFG_SIZE];
	uint16_t status = NET_S_LINK_UP, pairs = (uint16_t)n->max_pairs, mtu = 1500;

	for (unsigned int i = 0; i < n->max_pairs; i++)
		if (n->pairs[i].dead)
			status = 0;
	memcpy(cfg, n->mac, 6);
	memcpy(cfg + 6, &status, 2);
	memcpy(cfg + 8, &pairs, 2);
	memcpy(cfg + 10, &mtu, 2);
	if (off + len <= sizeof(cfg))
		memcpy(data, cfg + off, len);
}

static void net_stats(struct virtio_dev *vd, struct json_object *o)
{
	struct vnet *n = (struct vnet *)vd;
	const struct {
		const char *k;
		uint64_t v;
	} s[] = {
		{ "rx_packets", n->rx_packets },   { "rx_bytes", n->rx_bytes },
		{ "rx_no_buffers", n->rx_no_buffers }, { "rx_filtered", n->rx_filtered },
		{ "rx_errors", n->rx_errors },	   { "tx_packets", n->tx_packets },
		{ "tx_bytes", n->tx_bytes },	   { "tx_dropped", n->tx_dropped },
		{ "tx_header_errors", n->tx_header_errors }, { "tx_full", n->tx_full },
		{ "active_pairs", n->active_pairs },
	};

	for (size_t i = 0; i < ARRAY_SIZE(s); i++)
		json_object_object_add(o, s[i].k, json_object_new_int64((int64_t)s[i].v));
	json_object_object_add(o, "tap", json_object_new_string(tap_name(n->tap)));
	/* With vhost-net the kernel moves the packets: the counters above stay still. */
	json_object_object_add(o, "vhost", json_object_new_boolean(n->vhost_on));
	if (n->want_vhost && n->vhost_why[0])
		json_object_object_add(o, "vhost_error", json_object_new_string(n->vhost_why));
}

static void net_free(struct vnet *n)
{
	for (unsigned int i = 0; i < TAP_MAX_QUEUES; i++) {
		struct vnet_pair *p = &n->pairs[i];

		if (p->on_loop)
			evloop_del(n->loop, p->fd);
		for (unsigned int j = 0; j < RX_CHAINS; j++)
			virtq_chain_free(p->rx[j]);
		virtq_chain_free(p->tx);
	}
	net_vhost_free(n);
	virtq_chain_free(n->ctrl);
	free(n->iov);
	tap_close(n->tap);
	free(n);
}

static void net_destroy(struct virtio_dev *vd)
{
	struct vnet *n = (struct vnet *)vd;

	virtio_dev_destroy(vd);
	net_free(n);
}

/*
 * The userspace data path keeps nothing outside the rings.  A running
 * vhost-net instance owns the ring indices in the kernel: not carried
 * yet (it would need VHOST_GET_VRING_BASE under the pause).
 */
static int net_save(struct virtio_dev *vd, void *buf, size_t *len)
{
	struct vnet *n = (struct vnet *)vd;

	if (n->vh_live)
		return -EOPNOTSUPP;
	*len = 0;
	return 0;
}

static const struct virtio_dev_ops net_ops = {
	.save = net_save,
	.config_read = net_config_read,
	.activate = net_activate,
	.notify = net_notify,
	.reset = net_reset,
	.stats = net_stats,
	.destroy = net_destroy,
};

void virtio_net_poll(struct virtio_dev *vd)
{
	struct vnet *n = (struct vnet *)vd;

	pthread_mutex_lock(&vd->lock);
	for (unsigned int i = 0; i < n->active_pairs; i++) {
		n->pairs[i].tx_blocked = false;
		tx_drain(&n->pairs[i]);
		rx_pump(&n->pairs[i]);
	}
	pthread_mutex_unlock(&vd->lock);
}

int virtio_net_new(struct tap *tap, const uint8_t mac[6], unsigned int index, bool vhost,
		   struct gmem *mem, struct evloop *loop, struct virtio_dev **out, struct error *err)
{
	uint64_t f = (1ull << NET_F_CSUM) | (1ull << NET_F_GUEST_CSUM) | (1ull << NET_F_MAC) |
		     (1ull << NET_F_GUEST_TSO4) | (1ull << NET_F_GUEST_TSO6) |
		     (1ull << NET_F_GUEST_ECN) | (1ull << NET_F_HOST_TSO4) |
		     (1ull << NET_F_HOST_TSO6) | (1ull << NET_F_HOST_ECN) |
		     (1ull << NET_F_MRG_RXBUF) | (1ull << NET_F_STATUS) |
		     (1ull << NET_F_CTRL_VQ) | (1ull << NET_F_CTRL_RX) |
		     (1ull << NET_F_CTRL_MAC_ADDR);
	struct vnet *n = calloc(1, sizeof(*n));
	char name[16];
	int r = -ENOMEM;

	if (!n) {
		tap_close(tap);
		return error_setf(err, -ENOMEM, "virtio-net: out of memory");
	}
	n->tap = tap;
	n->loop = loop;
	n->max_pairs = tap_queues(tap);
	if (n->max_pairs > 1)
		f |= 1ull << NET_F_MQ;
	memcpy(n->conf_mac, mac, 6);
	n->want_vhost = vhost;
	for (unsigned int q = 0; q < ARRAY_SIZE(n->calls); q++)
		n->calls[q].fd = -1;
	net_filter_reset(n);
	n->iov = calloc(RX_IOV, sizeof(*n->iov));
	n->ctrl = virtq_chain_alloc(16);
	if (!n->iov || !n->ctrl)
		goto fail;
	for (unsigned int i = 0; i < n->max_pairs; i++) {
		struct vnet_pair *p = &n->pairs[i];

		p->n = n;
		p->idx = i;
		p->fd = tap_fd(tap, i);
		p->tx = virtq_chain_alloc(VIRTIO_NET_QUEUE_SIZE);
		if (!p->tx)
			goto fail;
		for (unsigned int j = 0; j < RX_CHAINS; j++)
			if (!(p->rx[j] = virtq_chain_alloc(RX_CHAIN_SEGS)))
				goto fail;
		if (loop) {
			r = evloop_add(loop, p->fd, 0, pair_ready, p);
			if (r < 0)
				goto fail;
			p->on_loop = true;
		}
	}
	if (vhost && (r = net_vhost_init(n)) < 0)
		goto fail;
	snprintf(name, sizeof(name), "net%u", index);
	r = virtio_dev_init(&n->vd, name, VIRTIO_ID_NET, &net_ops, n, 2 * n->max_pairs + 1,
			    VIRTIO_NET_QUEUE_SIZE, f, mem, loop);
	if (r < 0)
		goto fail;
	*out = &n->vd;
	return 0;
fail:
	net_free(n);
	return error_set_errno(err, r < 0 ? r : -ENOMEM, "virtio-net %u", index);
}
