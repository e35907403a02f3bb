/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_NET_NETLINK_H
#define VESSEL_NET_NETLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

/*
 * rtnetlink over libmnl (rtnetlink(7), the kernel's
 * Documentation/userspace-api/netlink/intro.rst): what vessel does to
 * host links, without shelling out to ip(8).  Each call opens its own
 * NETLINK_ROUTE socket, sends one request with NLM_F_ACK and waits for
 * the kernel's answer, so callers on different threads need no lock.
 * Errors name the link and carry the kernel's reason, with its extended
 * ack message when it gives one (NETLINK_EXT_ACK); EPERM names
 * CAP_NET_ADMIN.
 */
struct error;
struct nlmsghdr;

/* IFNAMSIZ without the NUL: the longest interface name. */
#define NL_IFNAME_MAX 15

/*
 * Send the request in `buf` (a message built with mnl_nlmsg_put_header
 * and friends; the sequence number and NLM_F_ACK are set here) and wait
 * for the acknowledgement.  `what` names the operation in messages
 * ("cannot attach vs0 to br0").  0 or -errno with err set.
 */
int nl_request(struct nlmsghdr *nlh, const char *what, struct error *err);

/* The interface index of `ifname`, or -ENODEV with err set. */
int nl_ifindex(const char *ifname, struct error *err);

/* Make `master` (a bridge) the master of `ifname`; master NULL: release it. */
int nl_link_set_master(const char *ifname, const char *master, struct error *err);

/* Administratively up or down. */
int nl_link_set_up(const char *ifname, bool up, struct error *err);

/*
 * Replace the VLANs of bridge port `ifname` (IEEE 802.1Q in a Linux
 * bridge with vlan_filtering): pvid (1..4094, 0 for none) becomes its
 * PVID and egresses untagged (an access port), and each of tagged[]
 * is carried tagged (a trunk).  The default VLAN 1 the bridge gives a
 * new port is removed first, so the port carries exactly these.
 */
int nl_bridge_vlan_set(const char *ifname, unsigned int pvid, const unsigned int *tagged,
		       size_t n, struct error *err);

/* A new Linux bridge (Documentation/networking/bridge.rst), down. */
int nl_bridge_add(const char *ifname, bool vlan_filtering, struct error *err);

/* A VXLAN tunnel endpoint (RFC 7348; Documentation/networking/vxlan.rst). */
struct nl_vxlan {
	unsigned int vni;	 /* 1..2^24-1 */
	struct in_addr remote; /* the peer, or the multicast group */
	bool group;		 /* remote is a multicast group */
	const char *dev;	 /* the underlay interface, or NULL */
	uint16_t port;		 /* UDP port, 0: the IANA 4789 */
};
int nl_vxlan_add(const char *ifname, const struct nl_vxlan *v, struct error *err);

/* Delete a link (a bridge releases its ports first, the kernel does that). */
int nl_link_del(const char *ifname, struct error *err);

/* Add addr/prefix (IPv4) to ifname. */
int nl_addr_add(const char *ifname, struct in_addr addr, unsigned int prefix, struct error *err);

#endif
