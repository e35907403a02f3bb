// SPDX-License-Identifier: MIT
/*
 * `vessel net` networks (mgmt/network.h, docs/net.md).  A network is a
 * definition in the state directory plus what it builds on the host:
 * a bridge (netlink, net/netlink.c), its ports (an uplink, a VXLAN
 * tunnel endpoint) and, with an address and a DHCP range, a dnsmasq
 * bound to the bridge.  Nothing here runs in the VMM: `vessel start`
 * resolves a NIC's network and port group to bridge/vlan/trunk.
 */
#include "mgmt/network.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "net/ovs.h"
#include "util/error.h"
#include "virtio/devices.h"
#include "vm/config.h"

#define DNSMASQ "/usr/sbin/dnsmasq"

bool network_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (!n || n > NETWORK_NAME_MAX || !state_name_valid(name))
		return false;
	/* It becomes part of interface names: no dots (VLAN sub-interfaces). */
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") ==
	       n;
}

int network_paths(const struct state_dirs *d, const char *name, struct network_paths *p)
{
	int bad = 0;

	bad |= snprintf(p->def, sizeof(p->def), "%s/networks/%s.json", d->data, name) >=
	       (int)sizeof(p->def);
	bad |= snprintf(p->lock, sizeof(p->lock), "%s/networks/%s.lock", d->run, name) >=
	       (int)sizeof(p->lock);
	bad |= snprintf(p->dir, sizeof(p->dir), "%s/networks/%s", d->run, name) >=
	       (int)sizeof(p->dir);
	bad |= snprintf(p->pid, sizeof(p->pid), "%s/dnsmasq.pid", p->dir) >= (int)sizeof(p->pid);
	bad |= snprintf(p->leases, sizeof(p->leases), "%s/leases", p->dir) >=
	       (int)sizeof(p->leases);
	bad |= snprintf(p->log, sizeof(p->log), "%s/dnsmasq.log", p->dir) >= (int)sizeof(p->log);
	return bad ? -ENAMETOOLONG : 0;
}

static uint32_t mask_of(unsigned int prefix)
{
	return prefix ? htonl(~0u << (32 - prefix)) : 0;
}

static bool in_subnet(struct in_addr a, const struct network_def *n)
{
	uint32_t m = mask_of(n->prefix);

	return (a.s_addr & m) == (n->addr.s_addr & m);
}

int network_check(const struct network_def *n, struct error *err)
{
	if (!network_name_valid(n->name))
		return error_setf(err, -EINVAL,
				  "'%s' is not a network name (1..%d of A-Z a-z 0-9 _ -)", n->name,
				  NETWORK_NAME_MAX);
	if (!n->bridge[0] || n->bridge[0] == '-' || strchr(n->bridge, '/') || strchr(n->bridge, ' '))
		return error_setf(err, -EINVAL, "'%s' is not a bridge name", n->bridge);
	if (n->ovs && (n->vlan_filtering || n->uplink[0] || n->has_addr || n->has_dhcp || n->vni))
		return error_setf(err, -EINVAL,
				  "--ovs: an Open vSwitch bridge is set up in OVS (ovs-vsctl); "
				  "--vlan-filtering, --uplink, --address, --dhcp and --vxlan are "
				  "for vessel's own bridges");
	if (n->has_addr) {
		uint32_t host = ntohl(n->addr.s_addr) & ~ntohl(mask_of(n->prefix));

		if (n->prefix < 8 || n->prefix > 30)
			return error_setf(err, -EINVAL, "--address: /%u: the prefix must be 8..30",
					  n->prefix);
		if (!host || host == (~ntohl(mask_of(n->prefix)) & 0xffffffffu))
			return error_setf(
				err, -EINVAL,
				"--address: %s is the subnet's network or broadcast address",
				inet_ntoa(n->addr));
	}
	if (n->has_dhcp) {
		if (!n->has_addr)
			return error_setf(err, -EINVAL, "--dhcp needs --address (the server's)");
		if (!in_subnet(n->dhcp_start, n) || !in_subnet(n->dhcp_end, n))
			return error_setf(err, -EINVAL,
					  "--dhcp: the range is not in the subnet of --address");
		if (ntohl(n->dhcp_start.s_addr) > ntohl(n->dhcp_end.s_addr))
			return error_setf(err, -EINVAL, "--dhcp: the range ends before it starts");
		if (ntohl(n->dhcp_start.s_addr) <= ntohl(n->addr.s_addr) &&
		    ntohl(n->addr.s_addr) <= ntohl(n->dhcp_end.s_addr))
			return error_setf(err, -EINVAL,
					  "--dhcp: the range holds the network's own address");
	}
	if (n->vni) {
		bool mc = (ntohl(n->vx_remote.s_addr) >> 28) == 0xe;

		if (n->vni > 0xffffff)
			return error_setf(err, -EINVAL, "--vxlan: VNI %u is not in 1..16777215",
					  n->vni);
		if (!n->vx_remote.s_addr)
			return error_setf(err, -EINVAL, "--vxlan needs --remote IP or --group IP");
		if (n->vx_group != mc)
			return error_setf(err, -EINVAL, "--%s: %s is %sa multicast address",
					  n->vx_group ? "group" : "remote", inet_ntoa(n->vx_remote),
					  mc ? "" : "not ");
		if (n->vx_group && !n->vx_dev[0])
			return error_setf(err, -EINVAL, "--group needs --dev (the underlay)");
	}
	return 0;
}

const struct network_portgroup *network_portgroup(const struct network_def *n, const char *name)
{
	for (unsigned int i = 0; i < n->nr_pg; i++)
		if (!strcmp(n->pg[i].name, name))
			return &n->pg[i];
	return NULL;
}

/* --- the definition as JSON --- */

static int get_str(struct json_object *o, const char *key, char *out, size_t len)
{
	struct json_object *v;

	out[0] = '\0';
	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_string) ||
	    (size_t)json_object_get_string_len(v) >= len)
		return -EINVAL;
	memcpy(out, json_object_get_string(v), (size_t)json_object_get_string_len(v) + 1);
	return 0;
}

static int get_addr(struct json_object *o, const char *key, struct in_addr *a, bool *has)
{
	char s[INET_ADDRSTRLEN];

	if (get_str(o, key, s, sizeof(s)))
		return -EINVAL;
	*has = s[0] != '\0';
	return !*has || inet_pton(AF_INET, s, a) == 1 ? 0 : -EINVAL;
}

static int get_uint(struct json_object *o, const char *key, unsigned int max, unsigned int *out)
{
	struct json_object *v;
	int64_t x;

	*out = 0;
	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return -EINVAL;
	x = json_object_get_int64(v);
	if (x < 0 || x > max)
		return -EINVAL;
	*out = (unsigned int)x;
	return 0;
}

static int def_from_json(struct json_object *j, struct network_def *n)
{
	struct json_object *pgs, *v;
	unsigned int u;
	bool has;

	if (!json_object_is_type(j, json_type_object))
		return -EINVAL;
	if (get_str(j, "bridge", n->bridge, sizeof(n->bridge)) ||
	    get_str(j, "uplink", n->uplink, sizeof(n->uplink)) ||
	    get_str(j, "vxlan_dev", n->vx_dev, sizeof(n->vx_dev)) ||
	    get_addr(j, "address", &n->addr, &n->has_addr) ||
	    get_uint(j, "prefix", 32, &n->prefix) ||
	    get_addr(j, "dhcp_start", &n->dhcp_start, &n->has_dhcp) ||
	    get_addr(j, "dhcp_end", &n->dhcp_end, &has) || has != n->has_dhcp ||
	    get_uint(j, "vni", 0xffffff, &n->vni) ||
	    get_addr(j, "vxlan_remote", &n->vx_remote, &has) ||
	    get_uint(j, "vxlan_port", 65535, &u))
		return -EINVAL;
	n->vx_port = (uint16_t)u;
	n->vlan_filtering =
		json_object_object_get_ex(j, "vlan_filtering", &v) && json_object_get_boolean(v);
	if (json_object_object_get_ex(j, "backend", &v)) {
		if (!json_object_is_type(v, json_type_string))
			return -EINVAL;
		if (!strcmp(json_object_get_string(v), "ovs"))
			n->ovs = true;
		else if (strcmp(json_object_get_string(v), "linux"))
			return -EINVAL;
	}
	n->vx_group = json_object_object_get_ex(j, "vxlan_group", &v) && json_object_get_boolean(v);
	if (!n->bridge[0])
		return -EINVAL;
	if (!json_object_object_get_ex(j, "portgroups", &pgs))
		return 0;
	if (!json_object_is_type(pgs, json_type_array) ||
	    json_object_array_length(pgs) > NETWORK_MAX_PORTGROUPS)
		return -EINVAL;
	for (size_t i = 0; i < json_object_array_length(pgs); i++) {
		struct json_object *p = json_object_array_get_idx(pgs, i);
		struct network_portgroup *g = &n->pg[n->nr_pg];

		if (!json_object_is_type(p, json_type_object) ||
		    get_str(p, "name", g->name, sizeof(g->name)) || !g->name[0] ||
		    get_uint(p, "vlan", 4094, &g->vlan) ||
		    get_str(p, "trunk", g->trunk, sizeof(g->trunk)))
			return -EINVAL;
		n->nr_pg++;
	}
	return 0;
}

static void put_addr(struct json_object *j, const char *key, struct in_addr a)
{
	char s[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &a, s, sizeof(s));
	json_object_object_add(j, key, json_object_new_string(s));
}

static struct json_object *def_to_json(const struct network_def *n)
{
	struct json_object *j = json_object_new_object(), *pgs;

	if (!j)
		return NULL;
	json_object_object_add(j, "name", json_object_new_string(n->name));
	json_object_object_add(j, "bridge", json_object_new_string(n->bridge));
	json_object_object_add(j, "backend", json_object_new_string(n->ovs ? "ovs" : "linux"));
	json_object_object_add(j, "vlan_filtering", json_object_new_boolean(n->vlan_filtering));
	if (n->uplink[0])
		json_object_object_add(j, "uplink", json_object_new_string(n->uplink));
	if (n->has_addr) {
		put_addr(j, "address", n->addr);
		json_object_object_add(j, "prefix", json_object_new_int((int)n->prefix));
	}
	if (n->has_dhcp) {
		put_addr(j, "dhcp_start", n->dhcp_start);
		put_addr(j, "dhcp_end", n->dhcp_end);
	}
	if (n->vni) {
		json_object_object_add(j, "vni", json_object_new_int((int)n->vni));
		put_addr(j, "vxlan_remote", n->vx_remote);
		json_object_object_add(j, "vxlan_group", json_object_new_boolean(n->vx_group));
		if (n->vx_dev[0])
			json_object_object_add(j, "vxlan_dev", json_object_new_string(n->vx_dev));
		if (n->vx_port)
			json_object_object_add(j, "vxlan_port", json_object_new_int(n->vx_port));
	}
	pgs = json_object_new_array();
	for (unsigned int i = 0; i < n->nr_pg; i++) {
		struct json_object *p = json_object_new_object();

		json_object_object_add(p, "name", json_object_new_string(n->pg[i].name));
		if (n->pg[i].vlan)
			json_object_object_add(p, "vlan", json_object_new_int((int)n->pg[i].vlan));
		if (n->pg[i].trunk[0])
			json_object_object_add(p, "trunk", json_object_new_string(n->pg[i].trunk));
		json_object_array_add(pgs, p);
	}
	json_object_object_add(j, "portgroups", pgs);
	return j;
}

int network_load(const struct state_dirs *d, const char *name, struct network_def *n,
		 struct error *err)
{
	struct network_paths p;
	struct json_object *j;
	int r;

	memset(n, 0, sizeof(*n));
	if (!network_name_valid(name))
		return error_setf(err, -EINVAL, "'%s' is not a network name", name);
	if (network_paths(d, name, &p))
		return error_setf(err, -ENAMETOOLONG, "network '%s': path too long", name);
	if (access(p.def, F_OK))
		return error_setf(err, -ENOENT, "network '%s' is not defined (vessel net list)",
				  name);
	j = json_object_from_file(p.def);
	if (!j)
		return error_setf(err, -EINVAL, "%s: not valid JSON", p.def);
	snprintf(n->name, sizeof(n->name), "%s", name);
	r = def_from_json(j, n);
	json_object_put(j);
	if (r)
		return error_setf(err, r, "%s: not a network definition", p.def);
	return network_check(n, err);
}

int network_save(const struct state_dirs *d, const struct network_def *n, struct error *err)
{
	struct network_paths p;
	struct json_object *j;
	char dir[STATE_PATH_MAX + 16];
	const char *text;
	int r;

	if (network_paths(d, n->name, &p))
		return error_setf(err, -ENAMETOOLONG, "network '%s': path too long", n->name);
	snprintf(dir, sizeof(dir), "%s/networks", d->data);
	if ((r = state_mkdir(dir)))
		return error_set_errno(err, r, "%s", dir);
	j = def_to_json(n);
	if (!j)
		return error_setf(err, -ENOMEM, "out of memory");
	text = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
	r = state_write_file(p.def, text, strlen(text));
	json_object_put(j);
	return r ? error_set_errno(err, r, "%s", p.def) : 0;
}

int network_list(const struct state_dirs *d, char ***names, size_t *n)
{
	struct state_dirs sub = *d;
	int r;

	if (snprintf(sub.data, sizeof(sub.data), "%s/networks", d->data) >= (int)sizeof(sub.data))
		return -ENAMETOOLONG;
	r = state_list_defined(&sub, names, n);
	return r == -ENOENT ? 0 : r;
}

/* --- on the host --- */

bool network_active(const struct network_def *n)
{
	struct error ignored = ERROR_INIT;

	if (n->ovs)
		return ovs_bridge_check(n->bridge, &ignored) == 0;
	/* Not sysfs: it shows the namespace it was mounted in, not ours. */
	return if_nametoindex(n->bridge) != 0;
}

static void vxlan_name(const struct network_def *n, char out[NL_IFNAME_MAX + 1])
{
	snprintf(out, NL_IFNAME_MAX + 1, "vx-%s", n->name);
}

int network_dnsmasq_pid(const struct network_paths *p)
{
	char buf[32], comm[32] = "", path[64];
	FILE *f = fopen(p->pid, "re");
	int pid = 0;

	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f) || sscanf(buf, "%d", &pid) != 1 || pid <= 1)
		pid = 0;
	fclose(f);
	if (!pid)
		return 0;
	/* A stale pid file must not make us signal whoever has the pid now. */
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	fclose(f);
	return strncmp(comm, "dnsmasq", 7) ? 0 : pid;
}

static int dnsmasq_start(const struct network_def *n, const struct network_paths *p,
			 struct error *err)
{
	char iface[32], listen[48], range[96], s[INET_ADDRSTRLEN], e[INET_ADDRSTRLEN],
		m[INET_ADDRSTRLEN], lf[STATE_PATH_MAX + 24], pf[STATE_PATH_MAX + 16],
		log[STATE_PATH_MAX + 24];
	struct in_addr mask = { .s_addr = mask_of(n->prefix) };
	int status, r;
	pid_t pid;

	if (access(DNSMASQ, X_OK))
		return error_setf(err, -ENOENT,
				  "--dhcp needs dnsmasq (%s; Debian's dnsmasq-base package)",
				  DNSMASQ);
	if ((r = state_mkdir(p->dir)))
		return error_set_errno(err, r, "%s", p->dir);
	inet_ntop(AF_INET, &n->dhcp_start, s, sizeof(s));
	inet_ntop(AF_INET, &n->dhcp_end, e, sizeof(e));
	inet_ntop(AF_INET, &mask, m, sizeof(m));
	snprintf(iface, sizeof(iface), "--interface=%s", n->bridge);
	snprintf(listen, sizeof(listen), "--listen-address=%s", inet_ntoa(n->addr));
	snprintf(range, sizeof(range), "--dhcp-range=%s,%s,%s,1h", s, e, m);
	snprintf(lf, sizeof(lf), "--dhcp-leasefile=%s", p->leases);
	snprintf(pf, sizeof(pf), "--pid-file=%s", p->pid);
	snprintf(log, sizeof(log), "--log-facility=%s", p->log);
	unlink(p->pid);
	pid = fork();
	if (pid < 0)
		return error_set_errno(err, -errno, "cannot start dnsmasq");
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
		}
		/*
		 * DHCP only (--port=0: no DNS), on this bridge alone, no
		 * configuration file of the host's; dnsmasq daemonizes, drops
		 * to its unprivileged user and writes its pid file.
		 */
		execl(DNSMASQ, "dnsmasq", "--conf-file=/dev/null", "--strict-order",
		      "--bind-interfaces", "--except-interface=lo", iface, listen, "--port=0",
		      range, "--dhcp-authoritative", "--dhcp-no-override", lf, pf, log,
		      (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return error_setf(err, -EIO, "dnsmasq failed to start (exit %d; see %s)",
				  WIFEXITED(status) ? WEXITSTATUS(status) : -1, p->log);
	/* The daemon writes its pid file just after the parent exits. */
	for (int i = 0; i < 200 && !network_dnsmasq_pid(p); i++)
		usleep(5000);
	if (!network_dnsmasq_pid(p))
		return error_setf(err, -EIO, "dnsmasq did not stay up (see %s)", p->log);
	return 0;
}

static void dnsmasq_stop(const struct network_paths *p)
{
	int pid = network_dnsmasq_pid(p);

	if (pid) {
		kill(pid, SIGTERM);
		for (int i = 0; i < 400 && kill(pid, 0) == 0; i++)
			usleep(5000);
	}
	unlink(p->pid);
}

int network_stop(const struct state_dirs *d, const struct network_def *n, struct error *err)
{
	char vx[NL_IFNAME_MAX + 1];
	struct network_paths p;
	struct error ignored = ERROR_INIT;
	int r = 0;

	if (network_paths(d, n->name, &p))
		return error_setf(err, -ENAMETOOLONG, "network '%s': path too long", n->name);
	if (n->ovs)
		return 0;
	dnsmasq_stop(&p);
	vxlan_name(n, vx);
	if (n->vni)
		nl_link_del(vx, &ignored);
	/* The uplink is the host's: released, not deleted. */
	if (n->uplink[0])
		nl_link_set_master(n->uplink, NULL, &ignored);
	if (network_active(n))
		r = nl_link_del(n->bridge, err);
	return r;
}

int network_start(const struct state_dirs *d, const struct network_def *n, struct error *err)
{
	char vx[NL_IFNAME_MAX + 1];
	struct network_paths p;
	int r;

	if (network_paths(d, n->name, &p))
		return error_setf(err, -ENAMETOOLONG, "network '%s': path too long", n->name);
	if (n->ovs)
		return ovs_bridge_check(n->bridge, err);
	if (network_active(n))
		return n->has_dhcp && !network_dnsmasq_pid(&p) ? dnsmasq_start(n, &p, err) : 0;
	r = nl_bridge_add(n->bridge, n->vlan_filtering, err);
	if (r)
		return r;
	if (n->uplink[0])
		r = nl_link_set_master(n->uplink, n->bridge, err);
	if (!r && n->uplink[0])
		r = nl_link_set_up(n->uplink, true, err);
	if (!r && n->vni) {
		struct nl_vxlan v = {
			.vni = n->vni,
			.remote = n->vx_remote,
			.group = n->vx_group,
			.dev = n->vx_dev[0] ? n->vx_dev : NULL,
			.port = n->vx_port,
		};

		vxlan_name(n, vx);
		r = nl_vxlan_add(vx, &v, err);
		if (!r)
			r = nl_link_set_master(vx, n->bridge, err);
		if (!r)
			r = nl_link_set_up(vx, true, err);
	}
	if (!r && n->has_addr)
		r = nl_addr_add(n->bridge, n->addr, n->prefix, err);
	if (!r)
		r = nl_link_set_up(n->bridge, true, err);
	if (!r && n->has_dhcp)
		r = dnsmasq_start(n, &p, err);
	if (r) {
		struct error ignored = ERROR_INIT;

		/* Nothing half-built stays behind. */
		network_stop(d, n, &ignored);
	}
	return r;
}

/* --- VMs' NICs --- */

int network_resolve_nics(const struct state_dirs *d, struct vm_config *c, struct error *err)
{
	struct state_dirs own;
	bool any = false;

	for (unsigned int i = 0; i < vm_config_count(c, &virtio_net_kind); i++)
		any |= ((struct virtio_net_config *)vm_config_dev(c, &virtio_net_kind, i))
			       ->network != NULL;
	if (!any)
		return 0;
	if (!d) {
		int r = state_dirs_init(&own);

		if (r)
			return error_setf(err, r, "%s", own.err);
		d = &own;
	}
	for (unsigned int i = 0; i < vm_config_count(c, &virtio_net_kind); i++) {
		struct virtio_net_config *nc = vm_config_dev(c, &virtio_net_kind, i);
		const struct network_portgroup *g = NULL;
		struct network_def n;
		int r;

		if (!nc->network)
			continue;
		r = network_load(d, nc->network, &n, err);
		if (r) {
			error_prefix(err, "nets[%u]", i);
			return r;
		}
		if (nc->portgroup && !(g = network_portgroup(&n, nc->portgroup)))
			return error_setf(err, -ENOENT,
					  "nets[%u]: network '%s' has no port group '%s'", i,
					  n.name, nc->portgroup);
		if (n.ovs && (r = ovs_bridge_check(n.bridge, err))) {
			error_prefix(err, "nets[%u]: network '%s'", i, n.name);
			return r;
		}
		if (!n.ovs && !network_active(&n))
			return error_setf(
				err, -ENETDOWN,
				"nets[%u]: network '%s' is not active (vessel net start %s)", i,
				n.name, n.name);
		if (g && (g->vlan || g->trunk[0]) && !n.vlan_filtering && !n.ovs)
			return error_setf(
				err, -EINVAL,
				"nets[%u]: port group '%s' has VLANs but network '%s' has no "
				"--vlan-filtering",
				i, g->name, n.name);
		free(nc->bridge);
		free(nc->ovs);
		nc->bridge = nc->ovs = NULL;
		if (!(*(n.ovs ? &nc->ovs : &nc->bridge) = strdup(n.bridge)))
			return error_setf(err, -ENOMEM, "out of memory");
		if (g) {
			nc->vlan = g->vlan;
			free(nc->trunk);
			nc->trunk = NULL;
			if (g->trunk[0] && !(nc->trunk = strdup(g->trunk)))
				return error_setf(err, -ENOMEM, "out of memory");
		}
		/* What the VMM gets is a bridge or ovs NIC; the definition keeps the names. */
		free(nc->network);
		free(nc->portgroup);
		nc->network = nc->portgroup = NULL;
	}
	return 0;
}
