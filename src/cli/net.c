// SPDX-License-Identifier: MIT
/*
 * `vessel net`: networks for VMs (mgmt/network.c, docs/net.md), in the
 * manner of virsh net-* and libvirt's default network, without a daemon.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/mgmt.h"
#include "mgmt/network.h"
#include "net/ovs.h"
#include "util/error.h"
#include "util/util.h"
#include "virtio/devices.h"

#define NET_USAGE                                                                             \
	"usage: vessel net COMMAND ...\n\n"                                                   \
	"  create NAME [--bridge BR] [--vlan-filtering] [--uplink IF]\n"                      \
	"              [--address IP/N [--dhcp FIRST,LAST]]\n"                                \
	"              [--vxlan VNI (--remote IP | --group IP) [--dev IF] [--port N]]\n"      \
	"                                   define a network and build it on this host\n"     \
	"  create NAME --ovs BR             a network on an existing Open vSwitch bridge\n"   \
	"  start NAME                       build a defined network again (after a reboot)\n" \
	"  stop NAME                        tear it down, keep the definition\n"              \
	"  destroy NAME                     tear it down and forget it\n"                     \
	"  list                             the networks and whether they are active\n"       \
	"  info NAME                        one network, its port groups and ports\n"         \
	"  portgroup add NET NAME [--vlan ID] [--trunk IDS]\n"                                \
	"  portgroup remove NET NAME        VLAN settings a VM's NIC gets (nets[].portgroup)"

/*
 * `vessel net VERB --help`: the entries of NET_USAGE for VERB (an entry is
 * a line "  VERB ..." and the deeper-indented lines under it), as usage
 * lines; the whole usage for a verb it does not have.
 */
static int net_verb_help(const char *verb)
{
	const char *p = strstr(NET_USAGE, "\n\n") + 2;
	size_t vlen = strlen(verb);
	bool in = false, first = true;

	while (*p) {
		size_t n = strcspn(p, "\n");

		if (p[0] == ' ' && p[1] == ' ' && p[2] != ' ')
			in = !strncmp(p + 2, verb, vlen) && p[2 + vlen] == ' ';
		if (in && p[2] != ' ') {
			printf("%s vessel net %.*s\n", first ? "usage:" : "      ", (int)n - 2,
			       p + 2);
			first = false;
		} else if (in) {
			printf("%.*s\n", (int)n, p);
		}
		p += n + (p[n] == '\n');
	}
	if (first)
		printf("%s\n", NET_USAGE);
	else
		printf("\nAll of vessel net: vessel net --help; networks: docs/net.md.\n");
	return 0;
}

/* The state dirs, the network's paths, and its lock held. */
struct net_ctx {
	struct state_dirs dirs;
	struct network_paths paths;
	int lock_fd;
};

static int ctx_open(const char *name, struct net_ctx *x)
{
	char dir[STATE_PATH_MAX + 16];
	int r;

	x->lock_fd = -1;
	if (state_dirs_init(&x->dirs))
		return cli_error("%s", x->dirs.err);
	if (!network_name_valid(name))
		return cli_error("'%s' is not a network name (1..%d of A-Z a-z 0-9 _ -)", name,
				 NETWORK_NAME_MAX);
	if (network_paths(&x->dirs, name, &x->paths))
		return cli_error("%s: state path too long", name);
	snprintf(dir, sizeof(dir), "%s/networks", x->dirs.run);
	if ((r = state_mkdir(dir)))
		return cli_error("%s: %s", dir, strerror(-r));
	x->lock_fd = state_lock(x->paths.lock, 5000);
	if (x->lock_fd == -ETIMEDOUT)
		return cli_error("network '%s' is busy (another vessel command holds its lock)",
				 name);
	if (x->lock_fd < 0)
		return cli_error("%s: %s", x->paths.lock, strerror(-x->lock_fd));
	return 0;
}

static void ctx_close(struct net_ctx *x)
{
	state_unlock(x->lock_fd);
	x->lock_fd = -1;
}

static int parse_ip(const char *opt, const char *s, struct in_addr *a)
{
	if (inet_pton(AF_INET, s, a) != 1)
		return cli_error("%s: '%s' is not an IPv4 address", opt, s);
	return 0;
}

static int parse_ifname(const char *opt, const char *s, char *out)
{
	if (!*s || *s == '-' || strlen(s) > NL_IFNAME_MAX || strchr(s, '/') || strchr(s, ' '))
		return cli_error("%s: '%s' is not an interface name", opt, s);
	strcpy(out, s);
	return 0;
}

static int parse_uint(const char *opt, const char *s, unsigned long max, unsigned int *out)
{
	uint64_t v;

	if (parse_u64(s, max, &v) || v < 1)
		return cli_error("%s: '%s' is not a number in 1..%lu", opt, s, max);
	*out = (unsigned int)v;
	return 0;
}

static int net_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bridge", required_argument, NULL, 'b' },
		{ "ovs", required_argument, NULL, 'o' },
		{ "vlan-filtering", no_argument, NULL, 'V' },
		{ "uplink", required_argument, NULL, 'u' },
		{ "address", required_argument, NULL, 'a' },
		{ "dhcp", required_argument, NULL, 'd' },
		{ "vxlan", required_argument, NULL, 'x' },
		{ "remote", required_argument, NULL, 'r' },
		{ "group", required_argument, NULL, 'g' },
		{ "dev", required_argument, NULL, 'D' },
		{ "port", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	struct error err = ERROR_INIT;
	struct network_def n;
	struct net_ctx x;
	unsigned int u = 0;
	char *slash, buf[64];
	int c, r;

	memset(&n, 0, sizeof(n));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
		case 'o':
			if (n.bridge[0])
				return cli_error("--bridge and --ovs: give one of them, once");
			if (parse_ifname(c == 'b' ? "--bridge" : "--ovs", optarg, n.bridge))
				return 1;
			n.ovs = c == 'o';
			break;
		case 'V':
			n.vlan_filtering = true;
			break;
		case 'u':
			if (parse_ifname("--uplink", optarg, n.uplink))
				return 1;
			break;
		case 'a':
			snprintf(buf, sizeof(buf), "%s", optarg);
			slash = strchr(buf, '/');
			if (!slash)
				return cli_error("--address: '%s' is not IP/PREFIX such as "
						 "10.0.0.1/24",
						 optarg);
			*slash = '\0';
			if (parse_ip("--address", buf, &n.addr) ||
			    parse_uint("--address prefix", slash + 1, 32, &n.prefix))
				return 1;
			n.has_addr = true;
			break;
		case 'd':
			snprintf(buf, sizeof(buf), "%s", optarg);
			slash = strchr(buf, ',');
			if (!slash)
				return cli_error("--dhcp: '%s' is not FIRST,LAST such as "
						 "10.0.0.100,10.0.0.200",
						 optarg);
			*slash = '\0';
			if (parse_ip("--dhcp", buf, &n.dhcp_start) ||
			    parse_ip("--dhcp", slash + 1, &n.dhcp_end))
				return 1;
			n.has_dhcp = true;
			break;
		case 'x':
			if (parse_uint("--vxlan", optarg, 0xffffff, &n.vni))
				return 1;
			break;
		case 'r':
		case 'g':
			if (parse_ip(c == 'r' ? "--remote" : "--group", optarg, &n.vx_remote))
				return 1;
			n.vx_group = c == 'g';
			break;
		case 'D':
			if (parse_ifname("--dev", optarg, n.vx_dev))
				return 1;
			break;
		case 'p':
			if (parse_uint("--port", optarg, 65535, &u))
				return 1;
			n.vx_port = (uint16_t)u;
			break;
		default:
			return cli_misuse("net create: unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return cli_usage("vessel net create NAME [options] (vessel net --help)");
	snprintf(n.name, sizeof(n.name), "%.*s", NETWORK_NAME_MAX, argv[optind]);
	if (strlen(argv[optind]) > NETWORK_NAME_MAX)
		return cli_error("'%s' is not a network name (1..%d of A-Z a-z 0-9 _ -)",
				 argv[optind], NETWORK_NAME_MAX);
	if (!n.bridge[0])
		snprintf(n.bridge, sizeof(n.bridge), "vbr-%s", n.name);
	if ((n.vx_remote.s_addr || n.vx_dev[0] || n.vx_port) && !n.vni)
		return cli_error("--remote, --group, --dev and --port need --vxlan VNI");
	if (network_check(&n, &err))
		return cli_error("%s", error_msg(&err));
	if (ctx_open(n.name, &x))
		return 1;
	r = 1;
	if (access(x.paths.def, F_OK) == 0) {
		cli_error("network '%s' is already defined", n.name);
		goto out;
	}
	if (network_start(&x.dirs, &n, &err)) {
		cli_error("network '%s': %s", n.name, error_msg(&err));
		goto out;
	}
	if (network_save(&x.dirs, &n, &err)) {
		struct error ignored = ERROR_INIT;

		network_stop(&x.dirs, &n, &ignored);
		cli_error("%s", error_msg(&err));
		goto out;
	}
	cli_note("network '%s' created on %sbridge %s\n", n.name, n.ovs ? "Open vSwitch " : "",
	       n.bridge);
	r = 0;
out:
	ctx_close(&x);
	return r;
}

/* Load NAME under its lock, for the commands that change it. */
static int net_open_def(const char *name, struct net_ctx *x, struct network_def *n)
{
	struct error err = ERROR_INIT;

	if (ctx_open(name, x)) {
		ctx_close(x);
		return 1;
	}
	if (network_load(&x->dirs, name, n, &err)) {
		ctx_close(x);
		return cli_error("%s", error_msg(&err));
	}
	return 0;
}

static int net_start_stop(int argc, char **argv, bool start, bool forget)
{
	struct error err = ERROR_INIT;
	struct network_def n;
	struct net_ctx x;
	int r = 0;

	if (argc != 2)
		return cli_usage("vessel net %s NAME", argv[0]);
	if (net_open_def(argv[1], &x, &n))
		return 1;
	if (start)
		r = network_start(&x.dirs, &n, &err);
	else
		r = network_stop(&x.dirs, &n, &err);
	if (!r && forget && unlink(x.paths.def) < 0)
		r = error_set_errno(&err, -errno, "%s", x.paths.def);
	if (!r && forget) {
		unlink(x.paths.leases);
		unlink(x.paths.log);
		rmdir(x.paths.dir);
	}
	ctx_close(&x);
	if (r)
		return cli_error("network '%s': %s", n.name, error_msg(&err));
	cli_note("network '%s' %s\n", n.name, start ? "started" : forget ? "destroyed" : "stopped");
	return 0;
}

/* The bridge's ports: from sysfs (brif/ lists them) or from OVS. */
static struct json_object *net_ports(const struct network_def *n)
{
	struct json_object *arr = json_object_new_array();
	struct dirent *de;
	char path[64];
	DIR *dir;

	if (n->ovs) {
		struct error err = ERROR_INIT;
		char out[4096], *save = NULL;

		if (ovs_ports(n->bridge, out, sizeof(out), &err))
			return arr;
		for (char *t = strtok_r(out, "\n", &save); t; t = strtok_r(NULL, "\n", &save))
			json_object_array_add(arr, json_object_new_string(t));
		return arr;
	}
	snprintf(path, sizeof(path), "/sys/class/net/%s/brif", n->bridge);
	dir = opendir(path);
	if (!dir)
		return arr;
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.')
			json_object_array_add(arr, json_object_new_string(de->d_name));
	closedir(dir);
	return arr;
}

/* A network as JSON (net list --json, net info --json); ports only for info. */
static struct json_object *net_json(const struct state_dirs *d, const struct network_def *n,
				    bool ports)
{
	struct json_object *o = json_object_new_object(), *pgs = json_object_new_array();
	char buf[INET_ADDRSTRLEN + 8], e[INET_ADDRSTRLEN];

	json_object_object_add(o, "name", json_object_new_string(n->name));
	json_object_object_add(o, "bridge", json_object_new_string(n->bridge));
	json_object_object_add(o, "backend",
			       json_object_new_string(n->ovs ? "openvswitch" : "linux"));
	json_object_object_add(o, "state",
			       json_object_new_string(network_active(n) ? "active" : "inactive"));
	json_object_object_add(o, "vlan_filtering",
			       json_object_new_boolean(n->vlan_filtering || n->ovs));
	json_object_object_add(o, "uplink",
			       n->uplink[0] ? json_object_new_string(n->uplink) : NULL);
	if (n->has_addr) {
		inet_ntop(AF_INET, &n->addr, e, sizeof(e));
		snprintf(buf, sizeof(buf), "%s/%u", e, n->prefix);
	}
	json_object_object_add(o, "address", n->has_addr ? json_object_new_string(buf) : NULL);
	if (n->has_dhcp) {
		struct json_object *dh = json_object_new_object();
		struct network_paths p;
		int pid;

		network_paths(d, n->name, &p);
		pid = network_dnsmasq_pid(&p);
		inet_ntop(AF_INET, &n->dhcp_start, buf, sizeof(buf));
		inet_ntop(AF_INET, &n->dhcp_end, e, sizeof(e));
		json_object_object_add(dh, "start", json_object_new_string(buf));
		json_object_object_add(dh, "end", json_object_new_string(e));
		json_object_object_add(dh, "dnsmasq_pid", pid ? json_object_new_int(pid) : NULL);
		json_object_object_add(dh, "leases", json_object_new_string(p.leases));
		json_object_object_add(o, "dhcp", dh);
	} else {
		json_object_object_add(o, "dhcp", NULL);
	}
	if (n->vni) {
		struct json_object *vx = json_object_new_object();

		inet_ntop(AF_INET, &n->vx_remote, buf, sizeof(buf));
		json_object_object_add(vx, "vni", json_object_new_int((int)n->vni));
		json_object_object_add(vx, n->vx_group ? "group" : "remote",
				       json_object_new_string(buf));
		json_object_object_add(vx, "dev",
				       n->vx_dev[0] ? json_object_new_string(n->vx_dev) : NULL);
		json_object_object_add(vx, "port",
				       json_object_new_int(n->vx_port ? n->vx_port : 4789));
		json_object_object_add(o, "vxlan", vx);
	} else {
		json_object_object_add(o, "vxlan", NULL);
	}
	for (unsigned int i = 0; i < n->nr_pg; i++) {
		struct json_object *g = json_object_new_object();

		json_object_object_add(g, "name", json_object_new_string(n->pg[i].name));
		json_object_object_add(
			g, "vlan", n->pg[i].vlan ? json_object_new_int((int)n->pg[i].vlan) : NULL);
		json_object_object_add(g, "trunk",
				       n->pg[i].trunk[0] ? json_object_new_string(n->pg[i].trunk)
							 : NULL);
		json_object_array_add(pgs, g);
	}
	json_object_object_add(o, "portgroups", pgs);
	if (ports)
		json_object_object_add(o, "ports", net_ports(n));
	return o;
}

static int net_list(int argc, char **argv)
{
	struct json_object *arr = NULL;
	struct state_dirs d;
	char **names;
	size_t cnt;

	if (argc > 2 || (argc == 2 && strcmp(argv[1], "--json")))
		return cli_usage("vessel net list [--json]");
	if (state_dirs_init(&d))
		return cli_error("%s", d.err);
	if (network_list(&d, &names, &cnt))
		return cli_error("cannot list the networks");
	if (argc == 2)
		arr = json_object_new_array();
	else
		printf("%-12s %-15s %-9s %-18s %s\n", "NAME", "BRIDGE", "STATE", "ADDRESS", "DHCP");
	for (size_t i = 0; i < cnt; i++) {
		struct error err = ERROR_INIT;
		struct network_def n;
		char addr[32] = "-", dhcp[40] = "-";

		if (network_load(&d, names[i], &n, &err)) {
			if (arr) {
				struct json_object *o = json_object_new_object();

				json_object_object_add(o, "name", json_object_new_string(names[i]));
				json_object_object_add(o, "state",
						       json_object_new_string("invalid"));
				json_object_object_add(o, "error",
						       json_object_new_string(error_msg(&err)));
				json_object_array_add(arr, o);
			} else {
				printf("%-12s %s\n", names[i], error_msg(&err));
			}
			continue;
		}
		if (arr) {
			json_object_array_add(arr, net_json(&d, &n, false));
			continue;
		}
		if (n.has_addr)
			snprintf(addr, sizeof(addr), "%s/%u", inet_ntoa(n.addr), n.prefix);
		if (n.has_dhcp) {
			char s[INET_ADDRSTRLEN], e[INET_ADDRSTRLEN];

			inet_ntop(AF_INET, &n.dhcp_start, s, sizeof(s));
			inet_ntop(AF_INET, &n.dhcp_end, e, sizeof(e));
			snprintf(dhcp, sizeof(dhcp), "%s-%s", s, e);
		}
		if (n.ovs)
			snprintf(dhcp, sizeof(dhcp), "- (Open vSwitch)");
		printf("%-12s %-15s %-9s %-18s %s\n", n.name, n.bridge,
		       network_active(&n) ? "active" : "inactive", addr, dhcp);
	}
	state_names_free(names, cnt);
	return arr ? mgmt_print_json(arr) : 0;
}

static void print_ports(const struct network_def *n)
{
	struct json_object *arr = net_ports(n);
	size_t len = json_object_array_length(arr);

	if (len || !n->ovs) {
		printf("ports:");
		for (size_t i = 0; i < len; i++)
			printf(" %s", json_object_get_string(json_object_array_get_idx(arr, i)));
		printf("\n");
	}
	json_object_put(arr);
}

static int net_info(int argc, char **argv)
{
	struct error err = ERROR_INIT;
	struct network_def n;
	struct state_dirs d;
	struct network_paths p;
	const char *name = argc == 2 ? argv[1] : NULL;

	if (argc == 3 && !strcmp(argv[1], "--json"))
		name = argv[2];
	else if (argc == 3 && !strcmp(argv[2], "--json"))
		name = argv[1];
	if (!name || name[0] == '-')
		return cli_usage("vessel net info NAME [--json]");
	if (state_dirs_init(&d))
		return cli_error("%s", d.err);
	if (network_load(&d, name, &n, &err))
		return cli_error("%s", error_msg(&err));
	if (argc == 3)
		return mgmt_print_json(net_json(&d, &n, true));
	network_paths(&d, n.name, &p);
	printf("name: %s\nbridge: %s\nbackend: %s\nstate: %s\nvlan_filtering: %s\n", n.name,
	       n.bridge, n.ovs ? "openvswitch" : "linux", network_active(&n) ? "active" : "inactive",
	       n.vlan_filtering || n.ovs ? "yes" : "no");
	if (n.uplink[0])
		printf("uplink: %s\n", n.uplink);
	if (n.has_addr)
		printf("address: %s/%u\n", inet_ntoa(n.addr), n.prefix);
	if (n.has_dhcp) {
		char s[INET_ADDRSTRLEN], e[INET_ADDRSTRLEN];
		int pid = network_dnsmasq_pid(&p);

		inet_ntop(AF_INET, &n.dhcp_start, s, sizeof(s));
		inet_ntop(AF_INET, &n.dhcp_end, e, sizeof(e));
		printf("dhcp: %s-%s (dnsmasq %s", s, e, pid ? "pid " : "not running");
		if (pid)
			printf("%d, leases %s", pid, p.leases);
		printf(")\n");
	}
	if (n.vni)
		printf("vxlan: vni %u %s %s%s%s port %u\n", n.vni, n.vx_group ? "group" : "remote",
		       inet_ntoa(n.vx_remote), n.vx_dev[0] ? " dev " : "", n.vx_dev,
		       n.vx_port ? n.vx_port : 4789);
	for (unsigned int i = 0; i < n.nr_pg; i++)
		printf("portgroup %s: vlan %u trunk %s\n", n.pg[i].name, n.pg[i].vlan,
		       n.pg[i].trunk[0] ? n.pg[i].trunk : "-");
	print_ports(&n);
	return 0;
}

static int net_portgroup(int argc, char **argv)
{
	struct error err = ERROR_INIT;
	struct network_portgroup g;
	struct network_def n;
	struct net_ctx x;
	bool add;
	int r = 1;

	if (argc < 4 || (strcmp(argv[1], "add") && strcmp(argv[1], "remove")))
		return cli_usage("vessel net portgroup add|remove NET NAME [--vlan ID] "
				 "[--trunk IDS]");
	add = !strcmp(argv[1], "add");
	memset(&g, 0, sizeof(g));
	if (!state_name_valid(argv[3]))
		return cli_error("'%s' is not a port group name", argv[3]);
	snprintf(g.name, sizeof(g.name), "%s", argv[3]);
	for (int i = 4; i < argc; i++) {
		if (!add || i + 1 >= argc)
			return cli_error("net portgroup: unexpected '%s'", argv[i]);
		if (!strcmp(argv[i], "--vlan")) {
			if (parse_uint("--vlan", argv[++i], 4094, &g.vlan))
				return 1;
		} else if (!strcmp(argv[i], "--trunk")) {
			unsigned int *ids = malloc(4094 * sizeof(*ids));
			size_t cnt;

			if (!ids)
				return cli_error("out of memory");
			r = virtio_net_parse_vlans(argv[++i], ids, &cnt, &err);
			free(ids);
			if (r || strlen(argv[i]) >= sizeof(g.trunk))
				return cli_error("--%s", r ? error_msg(&err) : "trunk: too long");
			snprintf(g.trunk, sizeof(g.trunk), "%s", argv[i]);
			/* The NIC's key separates with ':' (',' separates keys there). */
			for (char *c = g.trunk; *c; c++)
				if (*c == ',')
					*c = ':';
		} else {
			return cli_misuse("net portgroup: unknown option '%s'", argv[i]);
		}
	}
	if (add && !g.vlan && !g.trunk[0])
		return cli_error("net portgroup add: give --vlan ID, --trunk IDS or both");
	if (net_open_def(argv[2], &x, &n))
		return 1;
	r = 1;
	if (add) {
		if (network_portgroup(&n, g.name))
			cli_error("network '%s' already has port group '%s'", n.name, g.name);
		else if (!n.vlan_filtering && !n.ovs)
			cli_error("network '%s' has no --vlan-filtering: VLANs would mean nothing",
				  n.name);
		else if (n.nr_pg == NETWORK_MAX_PORTGROUPS)
			cli_error("network '%s' has %d port groups, the most it can", n.name,
				  NETWORK_MAX_PORTGROUPS);
		else
			r = 0;
		if (!r)
			n.pg[n.nr_pg++] = g;
	} else {
		const struct network_portgroup *old = network_portgroup(&n, g.name);

		if (!old) {
			cli_error("network '%s' has no port group '%s'", n.name, g.name);
		} else {
			unsigned int i = (unsigned int)(old - n.pg);

			memmove(&n.pg[i], &n.pg[i + 1], (n.nr_pg - i - 1) * sizeof(n.pg[0]));
			n.nr_pg--;
			r = 0;
		}
	}
	if (!r && network_save(&x.dirs, &n, &err))
		r = cli_error("%s", error_msg(&err));
	ctx_close(&x);
	return r;
}

int cmd_net(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;

	if (!sub) {
		/* Usage on stderr, exit 2, as for every other malformed line. */
		fprintf(stderr, "%s\n", NET_USAGE);
		return 2;
	}
	if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) {
		printf("%s\n", NET_USAGE);
		return 0;
	}
	for (int i = 2; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return net_verb_help(sub);
	argc--;
	argv++;
	if (!strcmp(sub, "create"))
		return net_create(argc, argv);
	if (!strcmp(sub, "start"))
		return net_start_stop(argc, argv, true, false);
	if (!strcmp(sub, "stop"))
		return net_start_stop(argc, argv, false, false);
	if (!strcmp(sub, "destroy"))
		return net_start_stop(argc, argv, false, true);
	if (!strcmp(sub, "list"))
		return net_list(argc, argv);
	if (!strcmp(sub, "info"))
		return net_info(argc, argv);
	if (!strcmp(sub, "portgroup"))
		return net_portgroup(argc, argv);
	return cli_misuse("vessel net: unknown command '%s' (vessel net --help)", sub);
}
