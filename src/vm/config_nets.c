// SPDX-License-Identifier: MIT
/*
 * "nets" of a JSON definition (docs/config.md): virtio-net does not exist
 * yet, so NICs are checked against their schema (so a definition written
 * for a later vessel fails with the exact key) and then refused.  When
 * virtio-net comes, this becomes its device kind's key table.
 */
#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"
#include "util/keys.h"
#include "virtio/virtio.h"
#include "vm/config_json.h"

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
 * NICs: checked against their schema, then refused (no virtio-net yet).
 * `queues` counts queue pairs: with the control queue they stay within
 * the virtio core's VIRTIO_MAX_QUEUES.
 */
#define NETS_MAX 8

struct net_config {
	char *tap;
	char *mac;
	unsigned int queue_pairs;
};

static const struct key net_keys[] = {
	/* IFNAMSIZ is 16 including the NUL. */
	{ .name = "tap", .type = KEY_STRING, .flags = KEY_REQUIRED,
	  .off = offsetof(struct net_config, tap), .max = 15, .help = "tap interface" },
	{ .name = "mac", .type = KEY_STRING, .off = offsetof(struct net_config, mac), .max = 32,
	  .help = "unicast MAC address" },
	{ .name = "queues", .type = KEY_UINT, .off = offsetof(struct net_config, queue_pairs),
	  .min = 1, .max = (VIRTIO_MAX_QUEUES - 1) / 2, .help = "queue pairs" },
	{ 0 },
};

static int parse_net(const char *path, struct json_object *o, struct error *err)
{
	struct net_config n = { 0 };
	uint8_t mac[6];
	int r;

	r = keys_from_json(net_keys, &n, o, path, err);
	if (!r && (!*n.tap || strchr(n.tap, '/') || strchr(n.tap, ' ')))
		r = error_setf(err, -EINVAL, "%s.tap: \"%s\" is not an interface name", path, n.tap);
	if (!r && n.mac && parse_mac(n.mac, mac))
		r = error_setf(err, -EINVAL,
			       "%s.mac: \"%s\" is not a unicast MAC address such as "
			       "\"52:54:00:12:34:56\"",
			       path, n.mac);
	keys_free(net_keys, &n);
	return r;
}

int vm_config_nets_from_json(struct json_object *o, struct error *err)
{
	size_t n;
	int r;

	if (!json_object_is_type(o, json_type_array))
		return error_setf(err, -EINVAL, "nets: must be an array, not %s",
				  json_type_to_name(json_object_get_type(o)));
	n = json_object_array_length(o);
	if (n > NETS_MAX)
		return error_setf(err, -EINVAL, "nets: at most %d entries", NETS_MAX);
	for (size_t i = 0; i < n; i++) {
		char p[32];

		snprintf(p, sizeof(p), "nets[%zu]", i);
		if ((r = parse_net(p, json_object_array_get_idx(o, i), err)))
			return r;
	}
	/*
	 * No device model uses them yet: accepting NICs would start a guest
	 * without the network its definition promises.  Refused until
	 * virtio-net exists (an empty list is fine).
	 */
	if (n)
		return error_setf(err, -EINVAL,
				  "nets: virtio-net is not implemented yet; remove the NICs");
	return 0;
}
