// SPDX-License-Identifier: MIT
/*
 * rtnetlink requests over libmnl (net/netlink.h).  One socket per
 * request: simple, thread-safe, and the cost (a socket(2) and a bind)
 * is nothing next to what the kernel does for a link change.
 */
#include <errno.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libmnl/libmnl.h>

#include "net/netlink.h"
#include "util/error.h"

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif

/* The kernel's extended ack message (NLMSGERR_ATTR_MSG), if any. */
static const char *nl_extack_msg(const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	size_t off;

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return NULL;
	off = sizeof(*e);
	/* Without NLM_F_CAPPED the request itself follows the header. */
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
	if (mnl_nlmsg_get_payload_len(nlh) < off)
		return NULL;
	mnl_attr_for_each(a, nlh, off) {
		if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			return mnl_attr_get_str(a);
	}
	return NULL;
}

static int nl_error(struct error *err, int code, const char *what, const char *extack)
{
	if (code == -EPERM || code == -EACCES)
		return error_setf(err, code, "%s: %s (needs CAP_NET_ADMIN)", what,
				  strerror(-code));
	if (extack && *extack)
		return error_setf(err, code, "%s: %s (%s)", what, strerror(-code), extack);
	return error_setf(err, code, "%s: %s", what, strerror(-code));
}

int nl_request(struct nlmsghdr *nlh, const char *what, struct error *err)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl;
	unsigned int portid, seq = (unsigned int)time(NULL);
	int one = 1, ret;
	ssize_t n;

	nl = mnl_socket_open(NETLINK_ROUTE);
	if (!nl)
		return nl_error(err, -errno, what, NULL);
	/* Best effort: older kernels answer without the message. */
	mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof(one));
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = nl_error(err, -errno, what, NULL);
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		ret = nl_error(err, -errno, what, NULL);
		goto out;
	}
	for (;;) {
		const struct nlmsghdr *r;

		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0) {
			ret = nl_error(err, -errno, what, NULL);
			goto out;
		}
		r = (const struct nlmsghdr *)buf;
		if (!mnl_nlmsg_ok(r, (int)n) || r->nlmsg_seq != seq || r->nlmsg_pid != portid)
			continue;
		if (r->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(r);

			if (mnl_nlmsg_get_payload_len(r) < sizeof(*e)) {
				ret = nl_error(err, -EBADMSG, what, NULL);
				goto out;
			}
			ret = e->error ? nl_error(err, e->error, what, nl_extack_msg(r)) : 0;
			goto out;
		}
		/* Anything else before the ack (a request that also answers). */
	}
out:
	mnl_socket_close(nl);
	return ret;
}

int nl_ifindex(const char *ifname, struct error *err)
{
	unsigned int idx;

	if (!ifname || !*ifname || strlen(ifname) > NL_IFNAME_MAX)
		return error_setf(err, -EINVAL, "'%s' is not an interface name",
				  ifname ? ifname : "");
	idx = if_nametoindex(ifname);
	if (!idx)
		return error_setf(err, -ENODEV, "no interface '%s'", ifname);
	return (int)idx;
}

static struct nlmsghdr *nl_link_msg(char *buf, uint16_t type, int family, int index)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi;

	nlh->nlmsg_type = type;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = (unsigned char)family;
	ifi->ifi_index = index;
	return nlh;
}

int nl_link_set_master(const char *ifname, const char *master, struct error *err)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], what[96];
	struct nlmsghdr *nlh;
	int idx, midx = 0;

	idx = nl_ifindex(ifname, err);
	if (idx < 0)
		return idx;
	if (master) {
		midx = nl_ifindex(master, err);
		if (midx < 0)
			return midx;
	}
	nlh = nl_link_msg(buf, RTM_SETLINK, AF_UNSPEC, idx);
	mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)midx);
	if (master)
		snprintf(what, sizeof(what), "cannot attach %s to %s", ifname, master);
	else
		snprintf(what, sizeof(what), "cannot release %s from its bridge", ifname);
	return nl_request(nlh, what, err);
}

int nl_link_set_up(const char *ifname, bool up, struct error *err)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], what[64];
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	int idx;

	idx = nl_ifindex(ifname, err);
	if (idx < 0)
		return idx;
	nlh = nl_link_msg(buf, RTM_SETLINK, AF_UNSPEC, idx);
	ifi = mnl_nlmsg_get_payload(nlh);
	ifi->ifi_change = IFF_UP;
	ifi->ifi_flags = up ? IFF_UP : 0;
	snprintf(what, sizeof(what), "cannot bring %s %s", ifname, up ? "up" : "down");
	return nl_request(nlh, what, err);
}

/* One VLAN, or the range [vid, last], in an IFLA_AF_SPEC nest. */
static void nl_put_vlan(struct nlmsghdr *nlh, unsigned int vid, unsigned int last,
			uint16_t flags)
{
	struct bridge_vlan_info v = { .flags = flags, .vid = (uint16_t)vid };

	if (last == vid) {
		mnl_attr_put(nlh, IFLA_BRIDGE_VLAN_INFO, sizeof(v), &v);
		return;
	}
	v.flags |= BRIDGE_VLAN_INFO_RANGE_BEGIN;
	mnl_attr_put(nlh, IFLA_BRIDGE_VLAN_INFO, sizeof(v), &v);
	v.flags = (uint16_t)((flags & ~BRIDGE_VLAN_INFO_RANGE_BEGIN) | BRIDGE_VLAN_INFO_RANGE_END);
	v.vid = (uint16_t)last;
	mnl_attr_put(nlh, IFLA_BRIDGE_VLAN_INFO, sizeof(v), &v);
}

static int cmp_uint(const void *a, const void *b)
{
	unsigned int x = *(const unsigned int *)a, y = *(const unsigned int *)b;

	return x < y ? -1 : x > y;
}

int nl_bridge_vlan_set(const char *ifname, unsigned int pvid, const unsigned int *tagged,
		       size_t n, struct error *err)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], what[96];
	struct nlmsghdr *nlh;
	struct nlattr *spec;
	unsigned int *ids = NULL;
	int idx, ret;

	if (pvid > 4094)
		return error_setf(err, -EINVAL, "VLAN %u is not in 1..4094", pvid);
	for (size_t i = 0; i < n; i++)
		if (!tagged[i] || tagged[i] > 4094)
			return error_setf(err, -EINVAL, "VLAN %u is not in 1..4094", tagged[i]);
	idx = nl_ifindex(ifname, err);
	if (idx < 0)
		return idx;

	/* Drop every VLAN the port has (the kernel skips absent ones). */
	nlh = nl_link_msg(buf, RTM_DELLINK, AF_BRIDGE, idx);
	spec = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);
	nl_put_vlan(nlh, 1, 4094, 0);
	mnl_attr_nest_end(nlh, spec);
	snprintf(what, sizeof(what), "cannot clear the VLANs of bridge port %s", ifname);
	ret = nl_request(nlh, what, err);
	if (ret)
		return ret;

	if (n) {
		ids = malloc(n * sizeof(*ids));
		if (!ids)
			return error_setf(err, -ENOMEM, "out of memory");
		memcpy(ids, tagged, n * sizeof(*ids));
		qsort(ids, n, sizeof(*ids), cmp_uint);
	}
	nlh = nl_link_msg(buf, RTM_SETLINK, AF_BRIDGE, idx);
	spec = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);
	if (pvid)
		nl_put_vlan(nlh, pvid, pvid, BRIDGE_VLAN_INFO_PVID | BRIDGE_VLAN_INFO_UNTAGGED);
	/* Consecutive ids as ranges: a trunk of 4094 VLANs is two attributes. */
	for (size_t i = 0; i < n;) {
		size_t j = i;

		while (j + 1 < n && ids[j + 1] <= ids[j] + 1)
			j++;
		if (!(ids[i] <= pvid && pvid <= ids[j])) {
			nl_put_vlan(nlh, ids[i], ids[j], 0);
		} else {
			/* The PVID stays untagged: the tagged range goes around it. */
			if (ids[i] < pvid)
				nl_put_vlan(nlh, ids[i], pvid - 1, 0);
			if (pvid < ids[j])
				nl_put_vlan(nlh, pvid + 1, ids[j], 0);
		}
		i = j + 1;
	}
	mnl_attr_nest_end(nlh, spec);
	free(ids);
	if (!pvid && !n)
		return 0;
	snprintf(what, sizeof(what), "cannot set the VLANs of bridge port %s", ifname);
	return nl_request(nlh, what, err);
}

/* RTM_NEWLINK for a new link of `kind`; the caller adds IFLA_INFO_DATA. */
static struct nlmsghdr *nl_newlink_msg(char *buf, const char *ifname, const char *kind,
				       struct nlattr **linkinfo)
{
	struct nlmsghdr *nlh = nl_link_msg(buf, RTM_NEWLINK, AF_UNSPEC, 0);

	nlh->nlmsg_flags |= NLM_F_CREATE | NLM_F_EXCL;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname);
	*linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, kind);
	return nlh;
}

static int nl_name_ok(const char *ifname, struct error *err)
{
	if (!ifname || !*ifname || strlen(ifname) > NL_IFNAME_MAX || strchr(ifname, '/') ||
	    strchr(ifname, ' '))
		return error_setf(err, -EINVAL, "'%s' is not an interface name",
				  ifname ? ifname : "");
	return 0;
}

int nl_bridge_add(const char *ifname, bool vlan_filtering, struct error *err)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], what[64];
	struct nlattr *li, *data;
	struct nlmsghdr *nlh;
	int ret = nl_name_ok(ifname, err);

	if (ret)
		return ret;
	nlh = nl_newlink_msg(buf, ifname, "bridge", &li);
	/*
	 * Kernel's Documentation/networking/bridge.rst, "VLAN".  Only when
	 * asked: a kernel without CONFIG_BRIDGE_VLAN_FILTERING refuses the
	 * attribute even as 0.
	 */
	if (vlan_filtering) {
		data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
		mnl_attr_put_u8(nlh, IFLA_BR_VLAN_FILTERING, 1);
		mnl_attr_nest_end(nlh, data);
	}
	mnl_attr_nest_end(nlh, li);
	snprintf(what, sizeof(what), "cannot create %sbridge %s",
		 vlan_filtering ? "VLAN-filtering " : "", ifname);
	return nl_request(nlh, what, err);
}

int nl_vxlan_add(const char *ifname, const struct nl_vxlan *v, struct error *err)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], what[64];
	struct nlattr *li, *data;
	struct nlmsghdr *nlh;
	int ret = nl_name_ok(ifname, err), dev = 0;

	if (ret)
		return ret;
	if (!v->vni || v->vni > 0xffffff)
		return error_setf(err, -EINVAL, "VNI %u is not in 1..16777215", v->vni);
	if (v->dev) {
		dev = nl_ifindex(v->dev, err);
		if (dev < 0)
			return dev;
	}
	nlh = nl_newlink_msg(buf, ifname, "vxlan", &li);
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	mnl_attr_put_u32(nlh, IFLA_VXLAN_ID, v->vni);
	/*
	 * RFC 7348: unicast to one remote, or a multicast group (needs dev).
	 * The kernel takes both in IFLA_VXLAN_GROUP and tells them apart by
	 * the address (as iproute2's "remote" and "group" do).
	 */
	if (v->remote.s_addr)
		mnl_attr_put(nlh, IFLA_VXLAN_GROUP, sizeof(v->remote), &v->remote);
	if (dev)
		mnl_attr_put_u32(nlh, IFLA_VXLAN_LINK, (uint32_t)dev);
	mnl_attr_put_u16(nlh, IFLA_VXLAN_PORT, htons(v->port ? v->port : 4789));
	mnl_attr_put_u8(nlh, IFLA_VXLAN_LEARNING, 1);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, li);
	snprintf(what, sizeof(what), "cannot create vxlan %s", ifname);
	return nl_request(nlh, what, err);
}

int nl_link_del(const char *ifname, struct error *err)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], what[64];
	struct nlmsghdr *nlh;
	int idx = nl_ifindex(ifname, err);

	if (idx < 0)
		return idx;
	nlh = nl_link_msg(buf, RTM_DELLINK, AF_UNSPEC, idx);
	snprintf(what, sizeof(what), "cannot delete %s", ifname);
	return nl_request(nlh, what, err);
}

int nl_addr_add(const char *ifname, struct in_addr addr, unsigned int prefix, struct error *err)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], what[64];
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;
	int idx = nl_ifindex(ifname, err);

	if (idx < 0)
		return idx;
	if (prefix > 32)
		return error_setf(err, -EINVAL, "/%u is not an IPv4 prefix length", prefix);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWADDR;
	nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (unsigned char)prefix;
	ifa->ifa_index = (unsigned int)idx;
	mnl_attr_put(nlh, IFA_LOCAL, sizeof(addr), &addr);
	mnl_attr_put(nlh, IFA_ADDRESS, sizeof(addr), &addr);
	snprintf(what, sizeof(what), "cannot add an address to %s", ifname);
	return nl_request(nlh, what, err);
}
