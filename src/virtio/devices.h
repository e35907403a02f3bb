/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_VIRTIO_DEVICES_H
#define VESSEL_VIRTIO_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The virtio device models, their configurations and their device kinds
 * (bus/devkind.h).  Each kind's descriptor lives in its device's file
 * (virtio_blk_kind in blk-config.c, virtio_rng_kind in rng.c,
 * virtio_console_kind in console.c) and is listed once in vm/devtable.c;
 * vm_devices_create() creates the configured instances in that order.
 */
struct dev_host;
struct virtio_dev;
struct gmem;
struct evloop;
struct error;
struct chardev_spec;
struct dev_kind;

extern const struct dev_kind virtio_blk_kind;
extern const struct dev_kind virtio_rng_kind;
extern const struct dev_kind virtio_console_kind;
extern const struct dev_kind virtio_net_kind;
extern const struct dev_kind virtio_balloon_kind;

/* PCI class codes (PCI Code and ID Assignment 1.11). */
#define VIRTIO_CLASS_STORAGE_OTHER 0x018000
#define VIRTIO_CLASS_COMM_OTHER 0x078000
#define VIRTIO_CLASS_OTHER 0xff0000

/*
 * Put vd on the host's PCI bus (virtio-pci, one MSI-X vector per queue
 * plus one for configuration changes).  On failure vd is destroyed and
 * err names the device.
 */
int virtio_attach(struct dev_host *host, struct virtio_dev *vd, uint32_t class_code,
		  uint32_t cfg_size, struct error *err);

/* One virtio-blk disk (keys: blk-config.c, docs/config.md "disks[]"). */
struct vm_disk_config {
	char *path;
	char *format;		/* "raw", "qcow2" or NULL to probe */
	char *serial;		/* virtio-blk GET_ID string, or NULL */
	bool readonly;
	bool direct;		/* O_DIRECT */
	bool no_backing;	/* "backing": false: an image with a backing file is refused */
	unsigned int num_queues;
	bool has_poll;		/* poll_us given; else the host-size default */
	uint32_t poll_us;	/* I/O thread busy-poll time, 0 = off */
	/* error policies: indexes into blk-config.c's words (virtio_blk_error_action) */
	int werror, rerror;
	bool has_werror, has_rerror;
};

/*
 * What a failed request does (QEMU's werror/rerror): report it to the
 * guest (VIRTIO_BLK_S_IOERR), ignore it (the guest sees success), or
 * stop: the disk holds the request and the VM pauses until it is
 * resumed, when the request is submitted again; enospc stops on ENOSPC
 * and reports the rest.  werror (writes, flushes, discards, write
 * zeroes) defaults to enospc, rerror (reads) to report, as in QEMU.
 */
enum blk_error_action { BLK_ERR_REPORT, BLK_ERR_IGNORE, BLK_ERR_STOP, BLK_ERR_ENOSPC };
enum blk_error_action virtio_blk_error_action(const struct vm_disk_config *dc, bool write);

/* Parse a --disk spec (vessel run, vessel vhost-user-blk) into a zeroed dc. */
int virtio_blk_config_parse(struct vm_disk_config *dc, const char *spec, struct error *err);
void virtio_blk_config_free(struct vm_disk_config *dc);

/*
 * Device models without a transport.  `loop` may be NULL (unit tests):
 * the caller then polls completions with virtio_blk_poll().
 */
#define VIRTIO_BLK_CFG_SIZE 72
#define VIRTIO_BLK_QUEUE_SIZE 256
#define VIRTIO_BLK_SEG_MAX 126
int virtio_blk_new(const struct vm_disk_config *dc, unsigned int index, struct gmem *mem,
		   struct evloop *loop, struct virtio_dev **out, struct error *err);
int virtio_blk_queue_fd(struct virtio_dev *vd, unsigned int q);
/* The machine the disk may pause (werror/rerror=stop); without one, stop reports. */
struct dev_host;
void virtio_blk_set_host(struct virtio_dev *vd, const struct dev_host *host);
/* Run completions of every queue (what the event loop handler does). */
int virtio_blk_poll(struct virtio_dev *vd);

/* virtio-rng has nothing to configure yet: present or not. */
struct virtio_rng_config {
	char unused;
};

#define VIRTIO_RNG_QUEUE_SIZE 64
int virtio_rng_new(struct gmem *mem, struct evloop *loop, struct virtio_dev **out);

/*
 * virtio-balloon (balloon.c, docs/memory.md): `memory.balloon` in a
 * definition, `vessel run --balloon k=v,...`.
 */
struct virtio_balloon_config {
	bool enabled;		  /* JSON "enabled": false is no device */
	bool deflate_on_oom;	  /* VIRTIO_BALLOON_F_DEFLATE_ON_OOM */
	bool free_page_reporting; /* VIRTIO_BALLOON_F_PAGE_REPORTING */
	unsigned int stats_period; /* seconds between stats requests, 0: none */
	uint64_t floor;		  /* bytes: setmem refuses a smaller guest */
};

/* The driver's statistics, by tag (5.5.6.3: 0 swap_in .. 9 hugetlb failures). */
#define VIRTIO_BALLOON_NR_STATS 10
enum {
	VIRTIO_BALLOON_S_SWAP_IN,
	VIRTIO_BALLOON_S_SWAP_OUT,
	VIRTIO_BALLOON_S_MAJFLT,
	VIRTIO_BALLOON_S_MINFLT,
	VIRTIO_BALLOON_S_MEMFREE,
	VIRTIO_BALLOON_S_MEMTOT,
	VIRTIO_BALLOON_S_AVAIL,
	VIRTIO_BALLOON_S_CACHES,
	VIRTIO_BALLOON_S_HTLB_PGALLOC,
	VIRTIO_BALLOON_S_HTLB_PGFAIL,
};
struct virtio_balloon_stats {
	uint64_t val[VIRTIO_BALLOON_NR_STATS];
	uint32_t have;	      /* bit per tag the driver sent */
	uint64_t last_update; /* CLOCK_REALTIME seconds, 0: never */
	uint64_t updates;
};
struct virtio_balloon_state {
	uint64_t target; /* bytes the guest is asked to give back */
	uint64_t actual; /* bytes it has given (the driver's `actual`) */
	unsigned int stats_period;
	struct virtio_balloon_config cfg;
	struct virtio_balloon_stats stats;
	bool driver;			 /* a driver is bound (DRIVER_OK) */
	bool reporting, deflate_on_oom; /* negotiated */
};

struct components;
int virtio_balloon_new(struct gmem *mem, struct evloop *loop,
		       const struct virtio_balloon_config *cfg, struct virtio_dev **out);
/* The VM's balloon, or NULL. */
struct virtio_dev *virtio_balloon_find(struct components *c);
/* Ask for a balloon of `bytes` (rounded down to 4 KiB): -ERANGE past RAM. */
int virtio_balloon_set_target(struct virtio_dev *vd, uint64_t bytes);
/* Stats every `secs` seconds (0: stop), and new ones at once. */
int virtio_balloon_set_period(struct virtio_dev *vd, unsigned int secs);
int virtio_balloon_get(struct virtio_dev *vd, struct virtio_balloon_state *out);

/*
 * One virtio-net NIC (keys: net-config.c, docs/config.md "nets[]").  The
 * back-end is a tap: `tap` (existing or created), a handed-in `fd`, or a
 * new tap put on Linux bridge `bridge` or Open vSwitch bridge `ovs` (with
 * `vlan`/`trunk` port VLANs); `network` and `portgroup` name a `vessel
 * net` network, which `vessel start` resolves into bridge or ovs, vlan
 * and trunk before the VMM runs.
 */
struct virtio_net_config {
	char *tap, *bridge, *ovs, *network, *portgroup, *mac, *trunk;
	unsigned int queue_pairs, vlan;
	unsigned int fd;
	bool has_fd;
	bool vhost;
};

/*
 * "10:20-30" (or with commas): VLAN ids 1..4094 into ids[] (room for
 * 4094), *n of them.  0 or -EINVAL with err naming the list.
 */
int virtio_net_parse_vlans(const char *s, unsigned int *ids, size_t *n, struct error *err);

/*
 * The MAC NIC `index` of VM `vm_name` gets: its "mac", else the stable one
 * derived from the name and index (what the guest sees), as "52:54:00:..".
 */
void virtio_net_config_mac(const char *vm_name, const struct virtio_net_config *c,
			   unsigned int index, char buf[18]);

#define VIRTIO_NET_CFG_SIZE 12
#define VIRTIO_NET_QUEUE_SIZE 256
struct tap;
/*
 * The model on an open tap (one fd per queue pair; it takes the tap).
 * mac: 6 bytes.  vhost: move packets with vhost-net from DRIVER_OK on,
 * where the kernel can (else the userspace path, saying why).  loop
 * NULL: nothing is polled; call virtio_net_poll().
 */
int virtio_net_new(struct tap *tap, const uint8_t mac[6], unsigned int index, bool vhost,
		   struct gmem *mem, struct evloop *loop, struct virtio_dev **out, struct error *err);
/* Move what the tap has and what the guest queued (what the fd handlers do). */
void virtio_net_poll(struct virtio_dev *vd);

#define VIRTIO_CONSOLE_CFG_SIZE 12
#define VIRTIO_CONSOLE_QUEUE_SIZE 64
/* spec: PTY, FILE or SOCKET (chardev/chardev.h). */
int virtio_console_new(const struct chardev_spec *spec, struct gmem *mem, struct evloop *loop,
		       struct virtio_dev **out, struct error *err);
/* The pty's path (after virtio_console_new with a pty backend), else NULL. */
const char *virtio_console_pty_path(struct virtio_dev *vd);

#endif
