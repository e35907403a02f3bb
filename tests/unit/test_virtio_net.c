// SPDX-License-Identifier: MIT
/*
 * The virtio-net model (src/virtio/net.c) against fake guest memory, with
 * a SOCK_SEQPACKET socketpair standing in for the tap (each message one
 * frame behind its 12-byte header, as a tap with IFF_VNET_HDR): mergeable
 * receive buffers, waiting for buffers, transmit header checks, a full
 * back-end, the control queue and the receive filter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mem/gmem.h"
#include "net/tap.h"
#include "util/error.h"
#include "virtio/devices.h"
#include "virtio/virtio.h"

#define MEM_SIZE (4u << 20)
#define QSIZE 16
#define RING(q) (0x1000 + (q) * 0x4000)
#define BUF_GPA 0x100000
#define RXQ 0
#define TXQ 1
#define CTRLQ 2
#define F_GUEST_TSO4 7
#define F_GUEST_TSO6 8
#define F_GUEST_ECN 9

static const uint8_t our_mac[6] = { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc };

struct fx {
	struct gmem mem;
	uint8_t *ram;
	int sv[2]; /* sv[0]: the device's "tap", sv[1]: the host side */
	struct virtio_dev *vd;
	uint16_t next_desc[3];
	uint64_t next_buf;
	int irqs;
};

static void fake_notify_queue(void *t, struct virtq *vq)
{
	((struct fx *)t)->irqs++;
}

static const struct virtio_transport_ops fake_tops = { .notify_queue = fake_notify_queue };

/* Ask for vhost-net in the next fx_start(). */
static bool fx_vhost;

/* The device on a socketpair, features negotiated minus `drop`. */
static void fx_start(struct fx *f, uint64_t drop)
{
	struct virtio_dev *vd;
	struct tap *tap;
	uint64_t feat;

	memset(f, 0, sizeof(*f));
	f->ram = calloc(1, MEM_SIZE);
	gmem_init(&f->mem, NULL);
	assert_int_equal(gmem_add_mapped(&f->mem, 0, MEM_SIZE, f->ram, -1, 0), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, f->sv), 0);
	assert_int_equal(tap_wrap_fds(&f->sv[0], 1, "test0", &tap), 0);
	assert_int_equal(virtio_net_new(tap, our_mac, 0, fx_vhost, &f->mem, NULL, &vd, NULL), 0);
	f->vd = vd;
	f->next_buf = BUF_GPA;
	vd->tops = &fake_tops;
	vd->transport = f;
	feat = vd->host_features & ~drop;
	virtio_dev_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_dev_write_features(vd, 0, (uint32_t)feat);
	virtio_dev_write_features(vd, 1, (uint32_t)(feat >> 32));
	virtio_dev_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					  VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(vd->nr_queues, 3);
	for (unsigned int q = 0; q < vd->nr_queues; q++) {
		vd->vqs[q].size = QSIZE;
		vd->vqs[q].desc_gpa = RING(q);
		vd->vqs[q].avail_gpa = RING(q) + 0x1000;
		vd->vqs[q].used_gpa = RING(q) + 0x2000;
		assert_int_equal(virtio_dev_queue_enable(vd, q), 0);
	}
	virtio_dev_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					  VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	assert_true(virtio_dev_active(vd));
}

static void fx_stop(struct fx *f)
{
	f->vd->ops->destroy(f->vd); /* closes sv[0] with the tap */
	close(f->sv[1]);
	gmem_destroy(&f->mem);
	free(f->ram);
}

/* Post a chain of n buffers {gpa, len, writable} on queue q. */
static void post(struct fx *f, unsigned int q, unsigned int n, const uint64_t *gpa,
		 const uint32_t *len, const bool *wr)
{
	uint16_t *avail = (uint16_t *)(f->ram + RING(q) + 0x1000);
	uint16_t head = f->next_desc[q] % QSIZE, idx = avail[1];

	for (unsigned int i = 0; i < n; i++) {
		uint16_t d = (uint16_t)((f->next_desc[q] + i) % QSIZE);
		struct virtq_desc desc = {
			.addr = gpa[i],
			.len = len[i],
			.flags = (uint16_t)((wr[i] ? VIRTQ_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
			.next = (uint16_t)((d + 1) % QSIZE),
		};

		memcpy(f->ram + RING(q) + 16 * d, &desc, sizeof(desc));
	}
	f->next_desc[q] = (uint16_t)(f->next_desc[q] + n);
	avail[2 + idx % QSIZE] = head;
	__atomic_store_n(&avail[1], (uint16_t)(idx + 1), __ATOMIC_RELEASE);
}

static uint64_t buf(struct fx *f, uint32_t len)
{
	uint64_t g = f->next_buf;

	f->next_buf += (len + 4095) & ~4095u;
	assert_true(f->next_buf < MEM_SIZE);
	return g;
}

static uint64_t post_rx(struct fx *f, uint32_t len)
{
	uint64_t g = buf(f, len);

	post(f, RXQ, 1, &g, &len, (bool[]){ true });
	return g;
}

static uint16_t used_idx(struct fx *f, unsigned int q)
{
	return *(uint16_t *)(f->ram + RING(q) + 0x2000 + 2);
}

static uint32_t used_len(struct fx *f, unsigned int q, unsigned int i)
{
	uint32_t v;

	memcpy(&v, f->ram + RING(q) + 0x2000 + 4 + 8 * (i % QSIZE) + 4, 4);
	return v;
}

/* A frame to `dst` from the host side: header (zero) + Ethernet + payload. */
static void host_send(struct fx *f, const uint8_t dst[6], size_t payload, uint8_t fill)
{
	size_t len = TAP_VNET_HDR_LEN + 14 + payload;
	uint8_t *m = calloc(1, len);

	memcpy(m + TAP_VNET_HDR_LEN, dst, 6);
	m[TAP_VNET_HDR_LEN + 12] = 0x08; /* IPv4, not that anyone checks */
	memset(m + TAP_VNET_HDR_LEN + 14, fill, payload);
	assert_int_equal(send(f->sv[1], m, len, 0), (ssize_t)len);
	free(m);
}

static int64_t stat_of(struct fx *f, const char *key)
{
	struct json_object *o = json_object_new_object(), *v;
	int64_t r = -1;

	f->vd->ops->stats(f->vd, o);
	if (json_object_object_get_ex(o, key, &v))
		r = json_object_get_int64(v);
	json_object_put(o);
	return r;
}

#define NO_GSO ((1ull << F_GUEST_TSO4) | (1ull << F_GUEST_TSO6) | (1ull << F_GUEST_ECN))

/* One 2014-byte frame across two 1024-byte mergeable buffers (5.1.6.4). */
static void test_rx_mergeable(void **state)
{
	struct fx f;
	uint64_t b0, b1;
	uint16_t nb;

	fx_start(&f, NO_GSO);
	b0 = post_rx(&f, 1024);
	b1 = post_rx(&f, 1024);
	post_rx(&f, 1024);
	host_send(&f, our_mac, 2000, 0x5a);
	virtio_net_poll(f.vd);
	assert_int_equal(used_idx(&f, RXQ), 2);
	assert_int_equal(used_len(&f, RXQ, 0), 1024);
	assert_int_equal(used_len(&f, RXQ, 1), TAP_VNET_HDR_LEN + 14 + 2000 - 1024);
	memcpy(&nb, f.ram + b0 + 10, 2);
	assert_int_equal(nb, 2);
	assert_memory_equal(f.ram + b0 + TAP_VNET_HDR_LEN, our_mac, 6);
	assert_int_equal(f.ram[b1 + 100], 0x5a);
	assert_true(f.irqs > 0);
	assert_int_equal(stat_of(&f, "rx_packets"), 1);
	/*
	 * The third buffer was given back; alone it is less than a full frame
	 * needs, so the next frame waits for one more, then takes only it.
	 */
	host_send(&f, our_mac, 100, 0x11);
	virtio_net_poll(f.vd);
	assert_int_equal(used_idx(&f, RXQ), 2);
	post_rx(&f, 1024);
	virtio_dev_kick(f.vd, RXQ);
	assert_int_equal(used_idx(&f, RXQ), 3);
	assert_int_equal(used_len(&f, RXQ, 2), TAP_VNET_HDR_LEN + 14 + 100);
	fx_stop(&f);
}

/*
 * vhost=on where vhost-net cannot run (here: a transport without doorbell
 * eventfds): the userspace device moves the packets, and the stats say why.
 */
static void test_vhost_falls_back(void **state)
{
	struct json_object *o, *v;
	struct fx f;

	fx_vhost = true;
	fx_start(&f, NO_GSO);
	fx_vhost = false;
	o = json_object_new_object();
	f.vd->ops->stats(f.vd, o);
	assert_true(json_object_object_get_ex(o, "vhost", &v));
	assert_false(json_object_get_boolean(v));
	assert_true(json_object_object_get_ex(o, "vhost_error", &v));
	assert_non_null(strstr(json_object_get_string(v), "doorbell"));
	json_object_put(o);
	post_rx(&f, 2048);
	host_send(&f, our_mac, 100, 0x33);
	virtio_net_poll(f.vd);
	assert_int_equal(used_idx(&f, RXQ), 1);
	assert_int_equal(stat_of(&f, "rx_packets"), 1);
	fx_stop(&f);
}

/* Too few buffers: nothing is taken until the guest adds more and kicks. */
static void test_rx_waits_for_buffers(void **state)
{
	struct fx f;

	fx_start(&f, NO_GSO);
	post_rx(&f, 1024);
	host_send(&f, our_mac, 1400, 0x22);
	virtio_net_poll(f.vd);
	assert_int_equal(used_idx(&f, RXQ), 0);
	/* Once, not a spin over the one buffer seen; and a kick asked for the next. */
	assert_int_equal(stat_of(&f, "rx_no_buffers"), 1);
	uint16_t avail_event;
	memcpy(&avail_event, f.ram + RING(RXQ) + 0x2000 + 4 + 8 * QSIZE, 2);
	assert_int_equal(avail_event, 1);
	post_rx(&f, 1024);
	virtio_dev_kick(f.vd, RXQ);
	assert_int_equal(used_idx(&f, RXQ), 2);
	assert_int_equal(stat_of(&f, "rx_packets"), 1);
	fx_stop(&f);
}

/* With GSO offered to the guest, a 64 KiB frame's worth of buffers is needed. */
static void test_rx_gso_needs_room(void **state)
{
	struct fx f;

	fx_start(&f, 0);
	for (int i = 0; i < 8; i++)
		post_rx(&f, 4096);
	host_send(&f, our_mac, 60, 0x33);
	virtio_net_poll(f.vd);
	assert_int_equal(used_idx(&f, RXQ), 0); /* 32 KiB posted: not enough yet */
	for (int i = 0; i < 8; i++)
		post_rx(&f, 8192);
	virtio_dev_kick(f.vd, RXQ);
	assert_int_equal(used_idx(&f, RXQ), 1);
	fx_stop(&f);
}

static void post_tx(struct fx *f, const void *hdr, size_t frame, uint8_t fill)
{
	uint32_t len = (uint32_t)(TAP_VNET_HDR_LEN + frame);
	uint64_t g = buf(f, len);

	memcpy(f->ram + g, hdr, TAP_VNET_HDR_LEN);
	memset(f->ram + g + TAP_VNET_HDR_LEN, fill, frame);
	post(f, TXQ, 1, &g, &len, (bool[]){ false });
}

static void test_tx_checks_headers(void **state)
{
	uint8_t ok[TAP_VNET_HDR_LEN] = { 0 }, bad[TAP_VNET_HDR_LEN] = { 0 };
	uint8_t got[2048];
	struct fx f;

	fx_start(&f, 0);
	post_tx(&f, ok, 60, 0x44);
	bad[1] = 1; /* GSO_TCPV4 without NEEDS_CSUM */
	post_tx(&f, bad, 60, 0x55);
	memset(bad, 0, sizeof(bad));
	bad[0] = 2; /* DATA_VALID: only the device may set it */
	post_tx(&f, bad, 60, 0x66);
	memset(bad, 0, sizeof(bad));
	bad[0] = 1; /* NEEDS_CSUM past the end of the frame */
	bad[6] = 58;
	bad[8] = 4;
	post_tx(&f, bad, 60, 0x77);
	post_tx(&f, ok, 8, 0x88); /* a runt */
	post_tx(&f, ok, 100, 0x99);
	virtio_dev_kick(f.vd, TXQ);
	assert_int_equal(used_idx(&f, TXQ), 6);
	assert_int_equal(recv(f.sv[1], got, sizeof(got), 0), TAP_VNET_HDR_LEN + 60);
	assert_int_equal(got[TAP_VNET_HDR_LEN], 0x44);
	assert_int_equal(recv(f.sv[1], got, sizeof(got), 0), TAP_VNET_HDR_LEN + 100);
	assert_int_equal(got[TAP_VNET_HDR_LEN], 0x99);
	assert_int_equal(recv(f.sv[1], got, sizeof(got), MSG_DONTWAIT), -1);
	assert_int_equal(stat_of(&f, "tx_header_errors"), 4);
	assert_int_equal(stat_of(&f, "tx_packets"), 2);
	assert_true(virtio_dev_active(f.vd)); /* the device goes on */
	fx_stop(&f);
}

/* A full back-end: the frame waits (not dropped, not spun on) until room. */
static void test_tx_full_backend(void **state)
{
	uint8_t hdr[TAP_VNET_HDR_LEN] = { 0 }, got[2048];
	int sndbuf = 4096, n = 0;
	struct fx f;

	fx_start(&f, 0);
	assert_int_equal(setsockopt(f.sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
	for (int i = 0; i < 12; i++)
		post_tx(&f, hdr, 1400, (uint8_t)i);
	virtio_dev_kick(f.vd, TXQ);
	assert_true(used_idx(&f, TXQ) < 12);
	assert_true(stat_of(&f, "tx_full") >= 1);
	while (recv(f.sv[1], got, sizeof(got), MSG_DONTWAIT) > 0)
		n++;
	virtio_net_poll(f.vd); /* what EPOLLOUT does */
	while (recv(f.sv[1], got, sizeof(got), MSG_DONTWAIT) > 0)
		n++;
	virtio_net_poll(f.vd);
	while (recv(f.sv[1], got, sizeof(got), MSG_DONTWAIT) > 0)
		n++;
	assert_int_equal(used_idx(&f, TXQ), 12);
	assert_int_equal(n, 12);
	assert_int_equal(stat_of(&f, "tx_dropped"), 0);
	fx_stop(&f);
}

/* A control command; returns the ack byte. */
static uint8_t ctrl(struct fx *f, const void *cmd, uint32_t len)
{
	uint64_t g[2] = { buf(f, len), buf(f, 1) };
	uint32_t l[2] = { len, 1 };
	uint16_t before = used_idx(f, CTRLQ);

	memcpy(f->ram + g[0], cmd, len);
	f->ram[g[1]] = 0xee;
	post(f, CTRLQ, 2, g, l, (bool[]){ false, true });
	virtio_dev_kick(f->vd, CTRLQ);
	assert_int_equal(used_idx(f, CTRLQ), (uint16_t)(before + 1));
	/*
	 * EVENT_IDX (2.7.10): avail_event names the next command, so a
	 * driver that suppresses kicks (Linux) still kicks for it.
	 */
	uint16_t avail_event;
	memcpy(&avail_event, f->ram + RING(CTRLQ) + 0x2000 + 4 + 8 * QSIZE, 2);
	assert_int_equal(avail_event, (uint16_t)(before + 1));
	return f->ram[g[1]];
}

static void test_ctrl_and_filter(void **state)
{
	static const uint8_t other[6] = { 0x52, 0x54, 0x00, 1, 2, 3 };
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t mcast[6] = { 0x01, 0x00, 0x5e, 0, 0, 1 };
	uint8_t table[4 + 6 + 4] = { 1, 0, 0, 0, 0x52, 0x54, 0x00, 1, 2, 3, 0, 0, 0, 0 };
	uint8_t cmd[16];
	struct fx f;

	fx_start(&f, NO_GSO);
	for (int i = 0; i < 8; i++)
		post_rx(&f, 2048);
	/* Promiscuous until the driver says otherwise: a frame for another MAC. */
	host_send(&f, other, 60, 1);
	virtio_net_poll(f.vd);
	assert_int_equal(used_idx(&f, RXQ), 1);
	assert_int_equal(ctrl(&f, (uint8_t[]){ 0, 0, 0 }, 3), 0); /* RX_PROMISC off */
	host_send(&f, other, 60, 2);	/* filtered */
	host_send(&f, our_mac, 60, 3);	/* ours */
	host_send(&f, bcast, 60, 4);	/* broadcast */
	host_send(&f, mcast, 60, 5);	/* multicast, not asked for */
	virtio_net_poll(f.vd);
	assert_int_equal(used_idx(&f, RXQ), 3);
	assert_int_equal(stat_of(&f, "rx_filtered"), 2);
	/* MAC_TABLE_SET: one unicast entry, no multicast. */
	memcpy(cmd, (uint8_t[]){ 1, 0 }, 2);
	memcpy(cmd + 2, table, sizeof(table));
	assert_int_equal(ctrl(&f, cmd, 2 + sizeof(table)), 0);
	host_send(&f, other, 60, 6);
	virtio_net_poll(f.vd);
	assert_int_equal(used_idx(&f, RXQ), 4);
	/* ALLMULTI on: multicast reaches the guest. */
	assert_int_equal(ctrl(&f, (uint8_t[]){ 0, 1, 1 }, 3), 0);
	host_send(&f, mcast, 60, 7);
	virtio_net_poll(f.vd);
	assert_int_equal(used_idx(&f, RXQ), 5);
	/* MAC_ADDR_SET changes the config space and the filter. */
	assert_int_equal(ctrl(&f, (uint8_t[]){ 1, 1, 0x52, 0x54, 0, 9, 9, 9 }, 8), 0);
	f.vd->ops->config_read(f.vd, 3, cmd, 2);
	assert_int_equal(cmd[0], 9);
	/* Garbage: unknown class, bad lengths, a truncated table, a multicast MAC. */
	assert_int_equal(ctrl(&f, (uint8_t[]){ 9, 0, 0 }, 3), 1);
	assert_int_equal(ctrl(&f, (uint8_t[]){ 0, 0 }, 2), 1);
	assert_int_equal(ctrl(&f, (uint8_t[]){ 1, 0, 200, 0, 0, 0 }, 6), 1);
	assert_int_equal(ctrl(&f, (uint8_t[]){ 1, 1, 1, 2, 3, 4, 5, 6 }, 8), 1);
	assert_int_equal(ctrl(&f, (uint8_t[]){ 4, 0, 2, 0 }, 4), 1); /* MQ not offered */
	assert_true(virtio_dev_active(f.vd));
	fx_stop(&f);
}

/* Reset forgets the filter and the MAC set by the driver. */
static void test_reset(void **state)
{
	uint8_t mac[6];
	struct fx f;

	fx_start(&f, NO_GSO);
	assert_int_equal(ctrl(&f, (uint8_t[]){ 1, 1, 0x52, 0x54, 0, 9, 9, 9 }, 8), 0);
	virtio_dev_reset(f.vd);
	f.vd->ops->config_read(f.vd, 0, mac, 4);
	f.vd->ops->config_read(f.vd, 4, mac + 4, 2);
	assert_memory_equal(mac, our_mac, 6);
	fx_stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rx_mergeable),	  cmocka_unit_test(test_rx_waits_for_buffers),
		cmocka_unit_test(test_rx_gso_needs_room), cmocka_unit_test(test_tx_checks_headers),
		cmocka_unit_test(test_tx_full_backend),	  cmocka_unit_test(test_ctrl_and_filter),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_vhost_falls_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
