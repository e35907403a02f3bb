/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_MGMT_NETWORK_H
#define VESSEL_MGMT_NETWORK_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "mgmt/state.h"
#include "net/netlink.h"

/*
 * `vessel net` networks (docs/net.md): a Linux bridge per network, made
 * and removed over netlink, with optional VLAN filtering, an uplink, a
 * VXLAN overlay port, an IPv4 address and a DHCP range served by
 * dnsmasq (like libvirt's default network).  Or an existing Open vSwitch
 * bridge (`--ovs BR`), which stays the host's: vessel only adds and
 * removes its VMs' ports there, with tag=/trunks= from the port group.
 * Port groups name the VLAN settings a VM's NIC gets on the bridge.
 *
 *   <data>/networks/NAME.json        the definition
 *   <run>/networks/NAME.lock         flock: one CLI at a time changes it
 *   <run>/networks/NAME/dnsmasq.pid  dnsmasq's pid
 *   <run>/networks/NAME/leases       dnsmasq's lease file
 *   <run>/networks/NAME/dnsmasq.log  what dnsmasq said
 */
#define NETWORK_NAME_MAX 11 /* "vbr-" + name fits IFNAMSIZ */
#define NETWORK_MAX_PORTGROUPS 32

struct network_portgroup {
	char name[STATE_NAME_MAX + 1];
	unsigned int vlan; /* access VLAN (PVID, untagged), 0: none */
	char trunk[128];   /* tagged VLANs "10:20-30", "" for none */
};

struct network_def {
	char name[NETWORK_NAME_MAX + 1];
	char bridge[NL_IFNAME_MAX + 1];
	bool ovs; /* bridge is an existing Open vSwitch bridge (always VLAN-aware) */
	bool vlan_filtering;
	char uplink[NL_IFNAME_MAX + 1]; /* a host interface made a port, or "" */
	bool has_addr;
	struct in_addr addr;
	unsigned int prefix;
	bool has_dhcp;
	struct in_addr dhcp_start, dhcp_end;
	unsigned int vni; /* VXLAN overlay, 0: none */
	struct in_addr vx_remote;
	bool vx_group;
	char vx_dev[NL_IFNAME_MAX + 1];
	uint16_t vx_port;
	struct network_portgroup pg[NETWORK_MAX_PORTGROUPS];
	unsigned int nr_pg;
};

struct network_paths {
	char def[STATE_PATH_MAX];
	char lock[STATE_PATH_MAX];
	char dir[STATE_PATH_MAX];
	char pid[STATE_PATH_MAX];
	char leases[STATE_PATH_MAX];
	char log[STATE_PATH_MAX];
};

struct error;
struct vm_config;

bool network_name_valid(const char *name);
int network_paths(const struct state_dirs *d, const char *name, struct network_paths *p);
/* Check a definition's rules (addresses in the subnet, VXLAN options). */
int network_check(const struct network_def *n, struct error *err);
/* 0, -ENOENT (not defined) or -errno, with err set. */
int network_load(const struct state_dirs *d, const char *name, struct network_def *n,
		 struct error *err);
int network_save(const struct state_dirs *d, const struct network_def *n, struct error *err);
/* The names of defined networks (state_names_free). */
int network_list(const struct state_dirs *d, char ***names, size_t *n);

/*
 * The bridge exists (the network was started on this host since boot;
 * an OVS bridge: it is in OVS's database).
 */
bool network_active(const struct network_def *n);
/*
 * Build the network on the host: the bridge, its uplink and VXLAN ports,
 * the address, dnsmasq.  Undone if a step fails.  Already active: 0.
 * OVS: only checks that the bridge is there.
 */
int network_start(const struct state_dirs *d, const struct network_def *n, struct error *err);
/*
 * Tear it down: dnsmasq stopped, the VXLAN port and the bridge deleted.
 * OVS: nothing (the bridge is not vessel's).
 */
int network_stop(const struct state_dirs *d, const struct network_def *n, struct error *err);
/* dnsmasq's pid, or 0 when it does not run. */
int network_dnsmasq_pid(const struct network_paths *p);

const struct network_portgroup *network_portgroup(const struct network_def *n, const char *name);

/*
 * For each NIC of c with `network` (and `portgroup`): check the network
 * is defined and active, and set the NIC's bridge (or ovs), vlan and trunk from
 * it (and drop the names), so the VMM needs no state directory.  d NULL:
 * this user's state directory, opened only if a NIC names a network.
 */
int network_resolve_nics(const struct state_dirs *d, struct vm_config *c, struct error *err);

#endif
