// SPDX-License-Identifier: MIT
/*
 * virtio-net's configuration: the keys of one NIC, declared once for
 * `vessel run --net tap=vs0,queues=2` and the JSON definition's
 * "nets": [{"bridge": "br0", "vlan": 10}] (docs/config.md), and the
 * device kind that opens the tap, puts it on its bridge and creates the
 * device (the model is net.c).
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus/devkind.h"
#include "bus/host.h"
#include "net/netlink.h"
#include "net/tap.h"
#include "util/error.h"
#include "util/keys.h"
#include "virtio/devices.h"
#include "virtio/virtio.h"

#define NET_OFF(f) offsetof(struct virtio_net_config, f)
#define NETS_MAX 8
#define VIRTIO_CLASS_NET 0x020000 /* network controller, Ethernet */

static const struct key net_keys[] = {
	/* IFNAMSIZ is 16 including the NUL. */
	{ .name = "tap",
	  .type = KEY_STRING,
	  .off = NET_OFF(tap),
	  .max = 15,
	  .def = "a new vsN",
	  .help = "tap interface: used if it exists, else created (and removed at exit)" },
	{ .name = "bridge",
	  .type = KEY_STRING,
	  .off = NET_OFF(bridge),
	  .max = 15,
	  .help = "Linux bridge the tap joins" },
	{ .name = "ovs",
	  .type = KEY_STRING,
	  .off = NET_OFF(ovs),
	  .max = 15,
	  .help = "Open vSwitch bridge the tap joins (a port with tag=/trunks=)" },
	{ .name = "network",
	  .type = KEY_STRING,
	  .off = NET_OFF(network),
	  .max = 64,
	  .help = "a `vessel net` network (docs/net.md)" },
	{ .name = "portgroup",
	  .type = KEY_STRING,
	  .off = NET_OFF(portgroup),
	  .max = 64,
	  .help = "port group of the network (its VLANs)" },
	{ .name = "mac",
	  .type = KEY_STRING,
	  .off = NET_OFF(mac),
	  .max = 17,
	  .def = "52:54:00 + a hash of the VM name and NIC index",
	  .help = "unicast MAC address" },
	/* One tap queue per pair; with the control queue within VIRTIO_MAX_QUEUES. */
	{ .name = "queues",
	  .type = KEY_UINT,
	  .off = NET_OFF(queue_pairs),
	  .min = 1,
	  .max = TAP_MAX_QUEUES,
	  .def = "1",
	  .help = "queue pairs (VIRTIO_NET_F_MQ, one tap queue each)" },
	{ .name = "vlan",
	  .type = KEY_UINT,
	  .off = NET_OFF(vlan),
	  .min = 0,
	  .max = 4094,
	  .def = "0 (none)",
	  .help = "access VLAN of the bridge port (PVID, untagged; OVS tag=)" },
	{ .name = "trunk",
	  .type = KEY_STRING,
	  .off = NET_OFF(trunk),
	  .max = 256,
	  .help = "tagged VLANs of the bridge port: 10:20-30 (or 10,20-30 in JSON)" },
	{ .name = "fd",
	  .type = KEY_UINT,
	  .flags = KEY_HAS,
	  .off = NET_OFF(fd),
	  .has_off = NET_OFF(has_fd),
	  .min = 0,
	  .max = 65535,
	  .help = "an open tap fd handed to vessel (one queue)" },
	{ .name = "vhost",
	  .type = KEY_BOOL,
	  .off = NET_OFF(vhost),
	  .def = "off",
	  .help = "move packets with the kernel's vhost-net (falls back to the userspace device, saying why)" },
	{ 0 },
};

static void net_init(void *cfg)
{
	((struct virtio_net_config *)cfg)->queue_pairs = 1;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char tail;

	if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
				      &b[4], &b[5], &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		if (!isxdigit((unsigned char)s[i * 3]) || !isxdigit((unsigned char)s[i * 3 + 1]))
			return -EINVAL;
		mac[i] = (uint8_t)b[i];
	}
	/* A multicast address cannot be a NIC's own. */
	return (mac[0] & 1) ? -EINVAL : 0;
}

/*
 * "10:20-30" (or with commas): the VLAN ids in ids[] (at most 4094), *n
 * of them.  0 or -EINVAL with err naming the bad part.
 */
int virtio_net_parse_vlans(const char *s, unsigned int *ids, size_t *n, struct error *err)
{
	const char *p = s;

	*n = 0;
	while (*p) {
		char *end;
		unsigned long a = strtoul(p, &end, 10), b = a;

		if (end == p || !isdigit((unsigned char)*p))
			goto bad;
		if (*end == '-') {
			p = end + 1;
			if (!isdigit((unsigned char)*p))
				goto bad;
			b = strtoul(p, &end, 10);
		}
		if (a < 1 || b > 4094 || b < a)
			goto bad;
		for (unsigned long v = a; v <= b; v++) {
			bool dup = false;

			for (size_t i = 0; i < *n && !dup; i++)
				dup = ids[i] == v;
			if (!dup)
				ids[(*n)++] = (unsigned int)v;
		}
		if (*end && *end != ':' && *end != ',')
			goto bad;
		p = *end ? end + 1 : end;
		if (*end && !*p)
			goto bad;
	}
	return 0;
bad:
	return error_setf(err, -EINVAL,
			  "trunk: \"%s\" is not a list of VLAN ids 1..4094 such as 10:20-30", s);
}

static int net_validate(const void *cfg, struct error *err)
{
	const struct virtio_net_config *c = cfg;
	unsigned int *ids;
	uint8_t mac[6];
	size_t n;
	int r;

	/* A leading '-' would read as an option to ovs-vsctl (net/ovs.c). */
	if (c->tap && (!*c->tap || *c->tap == '-' || strchr(c->tap, '/') || strchr(c->tap, ' ')))
		return error_setf(err, -EINVAL, "tap: \"%s\" is not an interface name", c->tap);
	if (c->mac && parse_mac(c->mac, mac))
		return error_setf(err, -EINVAL,
				  "mac: \"%s\" is not a unicast MAC address such as "
				  "\"52:54:00:12:34:56\"",
				  c->mac);
	if (c->has_fd && (c->tap || c->bridge || c->ovs || c->network || c->queue_pairs > 1))
		return error_setf(err, -EINVAL,
				  "fd: a tap handed in as fd=N has one queue and no tap=, bridge=, "
				  "ovs= or network=");
	if (!!c->network + !!c->bridge + !!c->ovs > 1)
		return error_setf(err, -EINVAL, "network=, bridge= and ovs= exclude each other");
	if (c->ovs && (!*c->ovs || *c->ovs == '-' || strchr(c->ovs, '/') || strchr(c->ovs, ' ')))
		return error_setf(err, -EINVAL, "ovs: \"%s\" is not a bridge name", c->ovs);
	if ((c->vlan || c->trunk) && !c->bridge && !c->ovs && !c->network)
		return error_setf(err, -EINVAL, "vlan and trunk need bridge=, ovs= or network=");
	if (c->portgroup && !c->network)
		return error_setf(err, -EINVAL, "portgroup needs network=");
	if (!c->trunk)
		return 0;
	ids = malloc(4094 * sizeof(*ids));
	if (!ids)
		return error_setf(err, -ENOMEM, "out of memory");
	r = virtio_net_parse_vlans(c->trunk, ids, &n, err);
	free(ids);
	return r;
}

/* A stable MAC from the VM's name and the NIC's index (FNV-1a). */
static void net_default_mac(const char *vm_name, unsigned int index, uint8_t mac[6])
{
	char key[96];
	uint32_t h = 2166136261u;

	snprintf(key, sizeof(key), "%s/%u", vm_name ? vm_name : "vessel", index);
	if (!vm_name)
		snprintf(key, sizeof(key), "vessel-%d/%u", (int)getpid(), index);
	for (const char *p = key; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	/* 52:54:00 is locally administered (bit 1) and unicast (bit 0 clear). */
	mac[0] = 0x52;
	mac[1] = 0x54;
	mac[2] = 0x00;
	mac[3] = (uint8_t)(h >> 16);
	mac[4] = (uint8_t)(h >> 8);
	mac[5] = (uint8_t)h;
}

void virtio_net_config_mac(const char *vm_name, const struct virtio_net_config *c,
			   unsigned int index, char buf[18])
{
	uint8_t mac[6];

	if (!c->mac || parse_mac(c->mac, mac))
		net_default_mac(vm_name, index, mac);
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
		 mac[4], mac[5]);
}

/* Put the tap on its Linux or Open vSwitch bridge with its VLANs, and up. */
static int net_attach_bridge(const struct virtio_net_config *c, struct tap *tap,
			     struct error *err)
{
	unsigned int *ids = malloc(4094 * sizeof(*ids));
	const char *ifname = tap_name(tap);
	size_t n = 0;
	int r = 0;

	if (!ids)
		return error_setf(err, -ENOMEM, "out of memory");
	if (c->trunk)
		r = virtio_net_parse_vlans(c->trunk, ids, &n, err);
	if (!r && c->ovs) {
		r = tap_join_ovs(tap, c->ovs, c->vlan, ids, n, err);
	} else if (!r) {
		r = nl_link_set_master(ifname, c->bridge, err);
		if (!r && (c->vlan || n))
			r = nl_bridge_vlan_set(ifname, c->vlan, ids, n, err);
	}
	if (!r)
		r = nl_link_set_up(ifname, true, err);
	free(ids);
	return r;
}

static int net_create(struct dev_host *host, const void *cfg, unsigned int index,
		      struct error *err)
{
	const struct virtio_net_config *c = cfg;
	struct tap_spec spec = { .name = c->tap, .fd = c->has_fd ? (int)c->fd : -1 };
	struct virtio_dev *vd;
	struct tap *tap;
	uint8_t mac[6];
	int r;

	/* vessel start and vessel run resolve it (mgmt/network.c); the API does not. */
	if (c->network)
		return error_setf(err, -EOPNOTSUPP,
				  "network=%s: a `vessel net` network is resolved by vessel start "
				  "or vessel run; use bridge= or ovs= here",
				  c->network);
	if (c->mac)
		parse_mac(c->mac, mac);
	else
		net_default_mac(host->vm_name, index, mac);
	r = tap_open(&spec, c->queue_pairs ? c->queue_pairs : 1, &tap, err);
	if (r)
		return r;
	if (c->bridge || c->ovs) {
		r = net_attach_bridge(c, tap, err);
		if (r) {
			tap_close(tap);
			return r;
		}
	}
	/* virtio_net_new() takes the tap, also when it fails. */
	r = virtio_net_new(tap, mac, index, c->vhost, host->mem, host->loop, &vd, err);
	if (r)
		return r;
	return virtio_attach(host, vd, VIRTIO_CLASS_NET, VIRTIO_NET_CFG_SIZE, err);
}

const struct dev_kind virtio_net_kind = {
	.name = "virtio-net",
	.json_key = "nets",
	.cli_name = "net",
	.cli_arg = DEV_ARG_REQUIRED,
	.cli_help = "virtio-net NIC on a tap (repeatable): tap=NAME|bridge=BR|ovs=BR|network=NET|fd=N\n"
		    "[,mac=52:54:00:..][,queues=N][,vlan=ID][,trunk=10:20-30]",
	.max = NETS_MAX,
	.cfg_size = sizeof(struct virtio_net_config),
	.keys = net_keys,
	.bare_key = "tap",
	.init = net_init,
	.validate = net_validate,
	.create = net_create,
};
