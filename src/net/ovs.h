/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_NET_OVS_H
#define VESSEL_NET_OVS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Open vSwitch bridges as a NIC's switch, through ovs-vsctl(8) (Debian's
 * openvswitch-switch), which is how OVS wants its database changed: the
 * port's row in ovs-vswitchd.conf.db(5) with its VLAN columns (tag,
 * trunks, vlan_mode).  Each call runs ovs-vsctl with --timeout, so a
 * stopped ovsdb-server fails the call instead of hanging it.  ovs-vsctl
 * finds the database as it always does (OVS_RUNDIR, default
 * /var/run/openvswitch/db.sock).  Errors carry what ovs-vsctl said.
 */
struct error;

#define OVS_VSCTL "/usr/bin/ovs-vsctl"

/* 0 if `bridge` is an OVS bridge; -ENODEV if not; -errno if OVS cannot be asked. */
int ovs_bridge_check(const char *bridge, struct error *err);
/*
 * Make `ifname` a port of `bridge` (an old row of it goes first, so a VM
 * killed without cleaning up does not block the next start), with access
 * VLAN `vlan` (0: none) and the tagged VLANs ids[0..n).  vlan and ids:
 * vlan_mode=native-untagged, as a Linux bridge port with a PVID and
 * tagged VLANs behaves.
 */
int ovs_port_add(const char *bridge, const char *ifname, unsigned int vlan,
		 const unsigned int *ids, size_t n, struct error *err);
/* Remove the port if it is there (at the VM's exit). */
int ovs_port_del(const char *bridge, const char *ifname, struct error *err);
/* The same, by the cleanup helper once the VMM is gone (util/reaper.h). */
int ovs_port_del_at_exit(const char *bridge, const char *ifname);
/* The ports of bridge, one per line, in out (NUL-terminated). */
int ovs_ports(const char *bridge, char *out, size_t len, struct error *err);

#endif
