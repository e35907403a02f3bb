// SPDX-License-Identifier: MIT
/*
 * Tap back-ends (net/tap.h).  The kernel side: drivers/net/tun.c and
 * Documentation/networking/tuntap.rst; the ioctls are TUNSETIFF,
 * TUNSETVNETHDRSZ, TUNSETOFFLOAD, TUNSETQUEUE and TUNGETIFF.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/netlink.h"
#include "net/ovs.h"
#include "net/tap.h"
#include "util/error.h"
#include "util/log.h"
#include "util/reaper.h"

struct tap {
	char name[IFNAMSIZ];
	unsigned int nr;
	int fds[TAP_MAX_QUEUES];
	bool owned;
	bool wrapped;	      /* tap_wrap_fds(): not a tap */
	char ovs[IFNAMSIZ]; /* the OVS bridge it is a port of, or "" */
};

static int tap_configure(int fd, const char *name, struct error *err)
{
	int hdr = TAP_VNET_HDR_LEN, flags;

	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0)
		return error_set_errno(err, -errno, "tap %s: TUNSETVNETHDRSZ", name);
	/* No offloads until the guest negotiates them (tap_set_offload). */
	if (ioctl(fd, TUNSETOFFLOAD, 0) < 0)
		return error_set_errno(err, -errno, "tap %s: TUNSETOFFLOAD", name);
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return error_set_errno(err, -errno, "tap %s: O_NONBLOCK", name);
	return 0;
}

/* A handed-in fd: it must be a tap with a vnet header (TUNGETIFF says). */
static int tap_adopt(struct tap *t, int fd, struct error *err)
{
	struct ifreq ifr = { 0 };
	struct stat st;

	if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode))
		return error_setf(err, -EBADF, "fd %d is not a tap device", fd);
	if (ioctl(fd, TUNGETIFF, &ifr) < 0)
		return error_setf(err, -EBADF, "fd %d is not a tap device: %s", fd,
				  strerror(errno));
	if ((ifr.ifr_flags & (IFF_TAP | IFF_TUN)) != IFF_TAP || !(ifr.ifr_flags & IFF_NO_PI) ||
	    !(ifr.ifr_flags & IFF_VNET_HDR))
		return error_setf(err, -EINVAL,
				  "fd %d: tap %.*s must be opened with IFF_TAP, IFF_NO_PI and "
				  "IFF_VNET_HDR",
				  fd, IFNAMSIZ, ifr.ifr_name);
	memcpy(t->name, ifr.ifr_name, IFNAMSIZ);
	t->name[IFNAMSIZ - 1] = 0;
	t->fds[0] = fd;
	t->nr = 1;
	return tap_configure(fd, t->name, err);
}

int tap_open(const struct tap_spec *spec, unsigned int queues, struct tap **out,
	     struct error *err)
{
	struct tap *t;
	int r = 0;

	if (!queues || queues > TAP_MAX_QUEUES)
		return error_setf(err, -EINVAL, "a tap has 1 to %d queues, not %u", TAP_MAX_QUEUES,
				  queues);
	if (spec->fd >= 0 && queues != 1)
		return error_setf(err, -EINVAL, "a tap handed in as fd=%d has one queue", spec->fd);
	if (spec->name && strlen(spec->name) >= IFNAMSIZ)
		return error_setf(err, -EINVAL, "tap name '%s' is longer than %d characters",
				  spec->name, IFNAMSIZ - 1);
	t = calloc(1, sizeof(*t));
	if (!t)
		return error_setf(err, -ENOMEM, "out of memory");
	for (unsigned int i = 0; i < TAP_MAX_QUEUES; i++)
		t->fds[i] = -1;
	if (spec->fd >= 0) {
		r = tap_adopt(t, spec->fd, err);
		if (r) {
			free(t);
			return r;
		}
		*out = t;
		return 0;
	}
	snprintf(t->name, sizeof(t->name), "%s", spec->name && *spec->name ? spec->name : "vs%d");
	t->owned = !if_nametoindex(t->name);
	for (unsigned int q = 0; q < queues && !r; q++) {
		struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
		int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);

		if (fd < 0) {
			r = error_set_errno(err, -errno, "cannot open /dev/net/tun");
			break;
		}
		if (queues > 1)
			ifr.ifr_flags |= IFF_MULTI_QUEUE;
		memcpy(ifr.ifr_name, t->name, sizeof(t->name));
		if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
			r = -errno;
			close(fd);
			if (r == -EPERM || r == -EACCES)
				r = error_set_errno(err, r, "tap %s (needs CAP_NET_ADMIN or a tap "
							    "owned by this user)",
						    t->name);
			else if (r == -EINVAL && !t->owned)
				r = error_set_errno(err, r,
						    "tap %s exists but is not a tap%s", t->name,
						    queues > 1 ? " with multi_queue" : "");
			else
				r = error_set_errno(err, r, "cannot open tap %s", t->name);
			break;
		}
		/* "vs%d": the kernel picked the name; the next queues use it. */
		memcpy(t->name, ifr.ifr_name, sizeof(t->name));
		t->name[IFNAMSIZ - 1] = 0;
		t->fds[q] = fd;
		t->nr = q + 1;
		r = tap_configure(fd, t->name, err);
	}
	if (!r && t->owned)
		r = nl_link_set_up(t->name, true, err);
	if (r) {
		tap_close(t);
		return r;
	}
	*out = t;
	return 0;
}

int tap_wrap_fds(const int *fds, unsigned int n, const char *name, struct tap **out)
{
	struct tap *t;

	if (!n || n > TAP_MAX_QUEUES)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	snprintf(t->name, sizeof(t->name), "%s", name);
	for (unsigned int i = 0; i < TAP_MAX_QUEUES; i++)
		t->fds[i] = i < n ? fds[i] : -1;
	t->nr = n;
	t->wrapped = true;
	*out = t;
	return 0;
}

int tap_fd(const struct tap *t, unsigned int q)
{
	return q < t->nr ? t->fds[q] : -1;
}

unsigned int tap_queues(const struct tap *t)
{
	return t->nr;
}

const char *tap_name(const struct tap *t)
{
	return t->name;
}

bool tap_owned(const struct tap *t)
{
	return t->owned;
}

int tap_set_offload(struct tap *t, unsigned int tun_f)
{
	if (t->wrapped)
		return 0;
	for (unsigned int q = 0; q < t->nr; q++)
		if (ioctl(t->fds[q], TUNSETOFFLOAD, tun_f) < 0)
			return -errno;
	return 0;
}

int tap_set_filter(struct tap *t, bool all, bool allmulti, const uint8_t (*macs)[6], unsigned int n)
{
	struct tun_filter *f;
	int r = 0;

	/*
	 * Only a tap that goes with the VMM: a filter on someone else's tap
	 * would outlive a VMM that is killed and starve its next user.
	 */
	if (t->wrapped || !t->nr || !t->owned)
		return 0;
	if (all)
		n = 0; /* count 0: no filter */
	f = calloc(1, sizeof(*f) + (size_t)n * ETH_ALEN);
	if (!f)
		return -ENOMEM;
	f->flags = allmulti && !all ? TUN_FLT_ALLMULTI : 0;
	f->count = (uint16_t)n;
	memcpy(f->addr, macs, (size_t)n * ETH_ALEN);
	/* One filter per tun device: every queue shares it. */
	if (ioctl(t->fds[0], TUNSETTXFILTER, f) < 0)
		r = -errno;
	free(f);
	return r;
}

int tap_queue_enable(struct tap *t, unsigned int q, bool on)
{
	struct ifreq ifr = { .ifr_flags = on ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE };

	if (q >= t->nr)
		return -EINVAL;
	if (t->nr == 1 || t->wrapped)
		return 0; /* a single queue is not multi-queue: nothing to steer */
	if (ioctl(t->fds[q], TUNSETQUEUE, &ifr) < 0 && errno != EINVAL)
		return -errno;
	return 0;
}

int tap_join_ovs(struct tap *t, const char *bridge, unsigned int vlan, const unsigned int *ids,
		 size_t n, struct error *err)
{
	int r = ovs_port_add(bridge, t->name, vlan, ids, n, err);

	if (!r) {
		snprintf(t->ovs, sizeof(t->ovs), "%s", bridge);
		/* a filtered VMM cannot run ovs-vsctl at exit (util/reaper.h) */
		if ((r = ovs_port_del_at_exit(bridge, t->name)))
			log_warn("%s: OVS port not removed if the VMM dies: %s", t->name,
				 strerror(-r));
		r = 0;
	}
	return r;
}

void tap_close(struct tap *t)
{
	if (!t)
		return;
	/* OVS keeps a port's row after its interface is gone: remove it. */
	if (t->ovs[0] && !reaper_active()) {
		struct error err = ERROR_INIT;

		if (ovs_port_del(t->ovs, t->name, &err))
			log_warn("%s", error_msg(&err));
	}
	for (unsigned int q = 0; q < t->nr; q++)
		if (t->fds[q] >= 0)
			close(t->fds[q]);
	free(t);
}
