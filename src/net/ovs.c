// SPDX-License-Identifier: MIT
/*
 * Open vSwitch ports through ovs-vsctl (net/ovs.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/ovs.h"
#include "util/reaper.h"
#include "util/error.h"

extern char **environ;

/* Bounds how long a call may wait for ovsdb-server (ovs-vsctl --timeout). */
#define OVS_TIMEOUT "--timeout=10"

/*
 * Run ovs-vsctl with argv (argv[0] is ignored), its stdout and stderr in
 * out.  Its exit status, or -errno if it could not be run.
 */
static int vsctl(char **argv, char *out, size_t len)
{
	posix_spawn_file_actions_t fa;
	size_t got = 0;
	int pipefd[2], st, r;
	pid_t pid;

	if (len)
		out[0] = '\0';
	if (access(OVS_VSCTL, X_OK))
		return -ENOENT;
	if (pipe2(pipefd, O_CLOEXEC))
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	argv[0] = (char *)"ovs-vsctl";
	r = posix_spawn(&pid, OVS_VSCTL, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (r) {
		close(pipefd[0]);
		return -r;
	}
	for (;;) {
		char sink[256];
		ssize_t n;

		/* Past len, read on so ovs-vsctl never blocks on a full pipe. */
		if (got + 1 < len)
			n = read(pipefd[0], out + got, len - got - 1);
		else
			n = read(pipefd[0], sink, sizeof(sink));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (got + 1 < len)
			got += (size_t)n;
	}
	close(pipefd[0]);
	if (len)
		out[got] = '\0';
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The last line ovs-vsctl said, for a message. */
static const char *said(char *out)
{
	size_t n = strlen(out);

	char *line;

	while (n && (out[n - 1] == '\n' || out[n - 1] == ' '))
		out[--n] = '\0';
	line = strrchr(out, '\n') ? strrchr(out, '\n') + 1 : out;
	/* Its messages start with its name, which ours names already. */
	if (!strncmp(line, "ovs-vsctl: ", 11))
		line += 11;
	return *line ? line : "no reason given";
}

static int vsctl_fail(int r, char *out, struct error *err, const char *what)
{
	if (r == -ENOENT)
		return error_setf(err, -ENOENT,
				  "%s: Open vSwitch is not installed (%s; Debian's "
				  "openvswitch-switch package)",
				  what, OVS_VSCTL);
	if (r < 0)
		return error_set_errno(err, r, "%s: cannot run %s", what, OVS_VSCTL);
	return error_setf(err, -EIO, "%s: ovs-vsctl: %s", what, said(out));
}

int ovs_bridge_check(const char *bridge, struct error *err)
{
	char *argv[] = { NULL, OVS_TIMEOUT, "br-exists", (char *)bridge, NULL };
	char out[512], what[64];
	int r = vsctl(argv, out, sizeof(out));

	snprintf(what, sizeof(what), "OVS bridge %s", bridge);
	if (r == 0)
		return 0;
	/* ovs-vsctl(8): br-exists exits 2 for a bridge that does not exist. */
	if (r == 2)
		return error_setf(err, -ENODEV,
				  "OVS bridge %s does not exist (ovs-vsctl add-br %s)", bridge,
				  bridge);
	return vsctl_fail(r, out, err, what);
}

int ovs_port_add(const char *bridge, const char *ifname, unsigned int vlan,
		 const unsigned int *ids, size_t n, struct error *err)
{
	char tag[32], mode[40], what[80], out[512];
	char *trunks = NULL, *argv[16];
	int a = 1, r;

	argv[a++] = OVS_TIMEOUT;
	argv[a++] = "--";
	argv[a++] = "--if-exists";
	argv[a++] = "del-port";
	argv[a++] = (char *)ifname;
	argv[a++] = "--";
	argv[a++] = "add-port";
	argv[a++] = (char *)bridge;
	argv[a++] = (char *)ifname;
	if (vlan) {
		snprintf(tag, sizeof(tag), "tag=%u", vlan);
		argv[a++] = tag;
	}
	if (n) {
		size_t cap = 16 + 5 * n, off;

		trunks = malloc(cap);
		if (!trunks)
			return error_setf(err, -ENOMEM, "out of memory");
		off = (size_t)snprintf(trunks, cap, "trunks=");
		for (size_t i = 0; i < n; i++)
			off += (size_t)snprintf(trunks + off, cap - off, "%s%u", i ? "," : "",
						ids[i]);
		argv[a++] = trunks;
	}
	/* ovs-vswitchd.conf.db(5) Port vlan_mode; the default would ignore trunks next to tag. */
	snprintf(mode, sizeof(mode), "vlan_mode=%s",
		 vlan && n ? "native-untagged" : vlan ? "access" : "trunk");
	if (vlan || n)
		argv[a++] = mode;
	argv[a] = NULL;
	r = vsctl(argv, out, sizeof(out));
	free(trunks);
	if (r == 0)
		return 0;
	snprintf(what, sizeof(what), "cannot add %s to OVS bridge %s", ifname, bridge);
	return vsctl_fail(r, out, err, what);
}

int ovs_port_del_at_exit(const char *bridge, const char *ifname)
{
	const char *const argv[] = { OVS_VSCTL, OVS_TIMEOUT, "--if-exists", "del-port",
				     bridge,	ifname,	     NULL };

	return reaper_add_command(argv);
}

int ovs_port_del(const char *bridge, const char *ifname, struct error *err)
{
	char *argv[] = { NULL, OVS_TIMEOUT, "--if-exists", "del-port", (char *)bridge,
			 (char *)ifname, NULL };
	char what[80], out[512];
	int r = vsctl(argv, out, sizeof(out));

	if (r == 0)
		return 0;
	snprintf(what, sizeof(what), "cannot remove %s from OVS bridge %s", ifname, bridge);
	return vsctl_fail(r, out, err, what);
}

int ovs_ports(const char *bridge, char *out, size_t len, struct error *err)
{
	char *argv[] = { NULL, OVS_TIMEOUT, "list-ports", (char *)bridge, NULL };
	char what[64];
	int r = vsctl(argv, out, len);

	if (r == 0)
		return 0;
	snprintf(what, sizeof(what), "OVS bridge %s", bridge);
	return vsctl_fail(r, out, err, what);
}
