// SPDX-License-Identifier: MIT
/*
 * virtio-balloon (virtio 1.2 section 5.5): the host asks the guest to
 * give memory back (num_pages, in 4 KiB balloon pages) and the guest
 * answers with page frame numbers on the inflate queue, which vessel
 * returns to the host with gmem_discard(); deflated pages need nothing
 * (the guest touches them again and they fault back in).  The driver
 * reports how far it got in `actual`.
 *
 * Queues, in the order Linux and QEMU number them (the spec's fixed
 * indices only hold when every optional queue is there: a driver that
 * does not negotiate a queue's feature leaves no hole, so roles are
 * worked out from the negotiated features):
 *   inflateq, deflateq, statsq (VIRTIO_BALLOON_F_STATS_VQ), then
 *   reporting_vq (VIRTIO_BALLOON_F_PAGE_REPORTING).
 * FREE_PAGE_HINT (a migration optimisation) and PAGE_POISON are not
 * offered.
 *
 * Stats (5.5.6.3): the driver's one buffer is kept until new figures
 * are wanted; giving it back asks the guest to refill it.  A timerfd on
 * the loop does that every stats_period seconds.
 *
 * Free page reporting (5.5.6.4 in later drafts; Linux's page_reporting):
 * device-writable buffers whose ranges are free guest pages, at least
 * 2 MiB each on x86; they are discarded and handed back.
 *
 * A hostile guest: a PFN outside RAM or a range that is not RAM is
 * counted and skipped, never discarded (gmem_discard checks the whole
 * range first); runs of PFNs are merged so a flood costs one madvise
 * per run; a queue is served BALLOON_BUDGET chains at a time, the rest
 * on the next turn of the loop, so the loop keeps serving others.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "bus/devkind.h"
#include "bus/host.h"
#include "mem/gmem.h"
#include "util/component.h"
#include "util/error.h"
#include "util/evloop.h"
#include "util/keys.h"
#include "util/log.h"
#include "virtio/devices.h"
#include "virtio/virtio-pci.h"
#include "virtio/virtio.h"
#include "virtio/virtq.h"

#define BALLOON_F_MUST_TELL_HOST 0
#define BALLOON_F_STATS_VQ 1
#define BALLOON_F_DEFLATE_ON_OOM 2
#define BALLOON_F_PAGE_REPORTING 5

#define BALLOON_PFN_SHIFT 12 /* 5.5.6: PFNs are of 4096-byte pages */
#define BALLOON_QUEUE_SIZE 128
#define BALLOON_BUDGET 64 /* chains per queue per turn of the loop */
#define BALLOON_CFG_SIZE 8 /* num_pages, actual */

enum balloon_role { ROLE_INFLATE, ROLE_DEFLATE, ROLE_STATS, ROLE_REPORT, ROLE_NONE };

struct vballoon {
	struct virtio_dev vd;
	struct virtio_balloon_config cfg;
	struct virtq_chain *c;
	struct virtq_chain *st; /* the driver's stats buffer while we hold it */
	bool st_held;
	struct evloop *loop;
	int timer_fd;
	uint32_t num_pages; /* the target, config space */
	uint32_t actual;    /* the driver's count, config space */
	struct virtio_balloon_stats stats;
	uint64_t inflated, deflated, reported, bad_pfns, discard_errors;
};

static enum balloon_role queue_role(const struct vballoon *b, unsigned int q)
{
	unsigned int next = 2;

	if (q == 0)
		return ROLE_INFLATE;
	if (q == 1)
		return ROLE_DEFLATE;
	if (virtio_has_feature(&b->vd, BALLOON_F_STATS_VQ) && q == next++)
		return ROLE_STATS;
	if (virtio_has_feature(&b->vd, BALLOON_F_PAGE_REPORTING) && q == next)
		return ROLE_REPORT;
	return ROLE_NONE;
}

static void discard(struct vballoon *b, uint64_t gpa, uint64_t len)
{
	int r = gmem_discard(b->vd.mem, gpa, len);

	if (r == -EFAULT || r == -EINVAL) {
		b->bad_pfns += len >> BALLOON_PFN_SHIFT;
		virtio_dev_guest_error(&b->vd, "balloon range %#llx+%#llx is not RAM",
				       (unsigned long long)gpa, (unsigned long long)len);
	} else if (r < 0 && b->discard_errors++ == 0) {
		log_warn("virtio-balloon: cannot give pages back to the host: %s", strerror(-r));
	}
}

/* An inflate or deflate request: le32 PFNs in the readable part. */
static void pfns_one(struct vballoon *b, struct virtq_chain *c, bool inflate)
{
	uint64_t run_start = 0, run_len = 0, n = 0;

	if (c->nr_in)
		virtio_dev_guest_error(&b->vd, "balloon PFN list with a writable buffer");
	for (unsigned int i = 0; i < c->nr_out; i++) {
		const uint8_t *p = c->iov[i].iov_base;

		/* A PFN split across descriptors is not something drivers do. */
		for (size_t off = 0; off + 4 <= c->iov[i].iov_len; off += 4, n++) {
			uint32_t pfn;

			memcpy(&pfn, p + off, 4);
			if (!inflate)
				continue;
			if (run_len && (uint64_t)pfn == run_start + run_len) {
				run_len++;
				continue;
			}
			if (run_len)
				discard(b, run_start << BALLOON_PFN_SHIFT,
					run_len << BALLOON_PFN_SHIFT);
			run_start = pfn;
			run_len = 1;
		}
	}
	if (run_len)
		discard(b, run_start << BALLOON_PFN_SHIFT, run_len << BALLOON_PFN_SHIFT);
	if (inflate)
		b->inflated += n;
	else
		b->deflated += n;
}

/* A free page report: each writable descriptor is a free range. */
static void report_one(struct vballoon *b, struct virtq_chain *c)
{
	for (unsigned int i = c->nr_out; i < c->nr_out + c->nr_in; i++) {
		uint64_t gpa = c->gpa[i], len = c->iov[i].iov_len;

		/* Whole 4 KiB pages inside the range only. */
		uint64_t a = (gpa + 4095) & ~4095ull, e = (gpa + len) & ~4095ull;

		if (e > a) {
			discard(b, a, e - a);
			b->reported += e - a;
		}
	}
}

/* 5.5.6.3: tag (le16) and value (le64), packed, as many as fit. */
static void stats_parse(struct vballoon *b, struct virtq_chain *c)
{
	uint8_t buf[10 * VIRTIO_BALLOON_NR_STATS * 2];
	size_t len = c->out_len < sizeof(buf) ? (size_t)c->out_len : sizeof(buf), off = 0;
	struct timespec now;

	virtq_iov_copy(c->iov, c->nr_out, 0, buf, len, false);
	for (; off + 10 <= len; off += 10) {
		uint16_t tag;
		uint64_t val;

		memcpy(&tag, buf + off, 2);
		memcpy(&val, buf + off + 2, 8);
		/* Unknown tags are skipped (5.5.6.3.1: a device ignores them). */
		if (tag < VIRTIO_BALLOON_NR_STATS) {
			b->stats.val[tag] = val;
			b->stats.have |= 1u << tag;
		}
	}
	clock_gettime(CLOCK_REALTIME, &now);
	b->stats.last_update = (uint64_t)now.tv_sec;
	b->stats.updates++;
}

static void balloon_notify(struct virtio_dev *vd, unsigned int q)
{
	struct vballoon *b = (struct vballoon *)vd;
	struct virtq *vq = &vd->vqs[q];
	enum balloon_role role = queue_role(b, q);
	unsigned int budget = BALLOON_BUDGET;
	bool pushed = false;

	if (role == ROLE_NONE)
		return;
	if (role == ROLE_STATS) {
		/*
		 * One buffer at a time (a second one while we hold one is the
		 * driver's bug and waits).  Re-arm after taking it: with
		 * EVENT_IDX the driver kicks for its next refill only if
		 * avail_event says so (2.7.10).
		 */
		do {
			if (!b->st_held && virtq_pop(vq, b->st) == 1) {
				stats_parse(b, b->st);
				b->st_held = true;
			}
		} while (!b->st_held && !vq->broken && virtq_enable_notify(vq));
		if (b->st_held)
			virtq_enable_notify(vq);
		return;
	}
	do {
		virtq_disable_notify(vq);
		while (budget && virtq_pop(vq, b->c) == 1) {
			budget--;
			if (role == ROLE_REPORT)
				report_one(b, b->c);
			else
				pfns_one(b, b->c, role == ROLE_INFLATE);
			virtq_push_chain(vq, b->c, 0);
			pushed = true;
		}
	} while (budget && !vq->broken && virtq_enable_notify(vq));
	if (pushed)
		virtio_dev_notify(vd, vq);
	/* Out of budget with work left: the rest on the loop's next turn. */
	if (!budget)
		virtio_dev_signal(vd, q);
}

/* Give the stats buffer back: the driver refills it (5.5.6.3). */
static void stats_request(struct vballoon *b)
{
	unsigned int q = 2;
	struct virtq *vq = &b->vd.vqs[q];

	if (!b->st_held || !virtio_dev_active(&b->vd) || queue_role(b, q) != ROLE_STATS)
		return;
	b->st_held = false;
	virtq_push_chain(vq, b->st, 0);
	virtio_dev_notify(&b->vd, vq);
}

static void stats_timer(void *opaque, uint32_t events)
{
	struct vballoon *b = opaque;
	uint64_t ticks;

	(void)events;
	if (read(b->timer_fd, &ticks, sizeof(ticks)) != sizeof(ticks))
		return;
	pthread_mutex_lock(&b->vd.lock);
	stats_request(b);
	pthread_mutex_unlock(&b->vd.lock);
}

static int timer_arm(struct vballoon *b)
{
	struct itimerspec it = { 0 };

	it.it_value.tv_sec = it.it_interval.tv_sec = b->cfg.stats_period;
	return timerfd_settime(b->timer_fd, 0, &it, NULL) < 0 ? -errno : 0;
}

static void balloon_config_read(struct virtio_dev *vd, uint32_t off, void *data, unsigned int len)
{
	struct vballoon *b = (struct vballoon *)vd;
	uint8_t cfg[BALLOON_CFG_SIZE];

	memcpy(cfg, &b->num_pages, 4);
	memcpy(cfg + 4, &b->actual, 4);
	memset(data, 0, len);
	if (off < sizeof(cfg))
		memcpy(data, cfg + off, len < sizeof(cfg) - off ? len : sizeof(cfg) - off);
}

static void balloon_config_write(struct virtio_dev *vd, uint32_t off, const void *data,
				 unsigned int len)
{
	struct vballoon *b = (struct vballoon *)vd;
	uint8_t cfg[BALLOON_CFG_SIZE];

	/* Only `actual` is the driver's to write (5.5.4). */
	if (off < 4 || off >= sizeof(cfg) || len > sizeof(cfg) - off)
		return;
	memcpy(cfg + 4, &b->actual, 4);
	memcpy(cfg + off, data, len);
	memcpy(&b->actual, cfg + 4, 4);
}

static void balloon_reset(struct virtio_dev *vd)
{
	struct vballoon *b = (struct vballoon *)vd;

	/* The held stats chain belonged to the old rings. */
	b->st_held = false;
	b->actual = 0;
}

static void balloon_stats(struct virtio_dev *vd, struct json_object *o)
{
	struct vballoon *b = (struct vballoon *)vd;
	const struct {
		const char *name;
		uint64_t v;
	} c[] = {
		{ "target_pages", b->num_pages },
		{ "actual_pages", b->actual },
		{ "inflated_pages", b->inflated },
		{ "deflated_pages", b->deflated },
		{ "reported_bytes", b->reported },
		{ "bad_pfns", b->bad_pfns },
		{ "discard_errors", b->discard_errors },
		{ "stats_updates", b->stats.updates },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		json_object_object_add(o, c[i].name, json_object_new_int64((int64_t)c[i].v));
}

static void balloon_destroy(struct virtio_dev *vd)
{
	struct vballoon *b = (struct vballoon *)vd;

	if (b->timer_fd >= 0) {
		if (b->loop)
			evloop_del(b->loop, b->timer_fd);
		close(b->timer_fd);
	}
	virtq_chain_free(b->c);
	virtq_chain_free(b->st);
	virtio_dev_destroy(vd);
	free(b);
}

/*
 * Target and actual page counts (5.5.4), the stats period, and whether
 * the driver's stats buffer is held (5.5.6.3): a load takes that buffer
 * from the ring again, so the next period hands it back as before.
 */
struct balloon_state {
	uint32_t num_pages, actual, stats_period;
	uint8_t st_held, pad[3];
} __attribute__((packed));

static int balloon_save(struct virtio_dev *vd, void *buf, size_t *len)
{
	struct vballoon *b = (struct vballoon *)vd;
	struct balloon_state st = {
		.num_pages = htole32(b->num_pages),
		.actual = htole32(b->actual),
		.stats_period = htole32(b->cfg.stats_period),
		.st_held = b->st_held,
	};

	if (*len < sizeof(st))
		return -ENOSPC;
	memcpy(buf, &st, sizeof(st));
	*len = sizeof(st);
	return 0;
}

static int balloon_load(struct virtio_dev *vd, const void *buf, size_t len)
{
	struct vballoon *b = (struct vballoon *)vd;
	struct balloon_state st;
	unsigned int q = 2;

	if (len != sizeof(st))
		return -EINVAL;
	memcpy(&st, buf, sizeof(st));
	if (st.st_held > 1 || le32toh(st.num_pages) > gmem_ram_size(vd->mem) >> BALLOON_PFN_SHIFT)
		return -EINVAL;
	if (st.st_held) {
		struct virtq *vq = &vd->vqs[q];

		if (queue_role(b, q) != ROLE_STATS || virtq_rewind(vq, 1) < 0 ||
		    virtq_pop(vq, b->st) != 1)
			return -EINVAL;
	}
	b->st_held = st.st_held;
	b->num_pages = le32toh(st.num_pages);
	b->actual = le32toh(st.actual);
	b->cfg.stats_period = le32toh(st.stats_period);
	return b->timer_fd >= 0 ? timer_arm(b) : 0;
}

static const struct virtio_dev_ops balloon_ops = {
	.save = balloon_save,
	.load = balloon_load,
	.config_read = balloon_config_read,
	.config_write = balloon_config_write,
	.notify = balloon_notify,
	.reset = balloon_reset,
	.stats = balloon_stats,
	.destroy = balloon_destroy,
};

int virtio_balloon_new(struct gmem *mem, struct evloop *loop,
		       const struct virtio_balloon_config *cfg, struct virtio_dev **out)
{
	struct vballoon *b = calloc(1, sizeof(*b));
	uint64_t features = 1ull << BALLOON_F_STATS_VQ;
	int ret = -ENOMEM;

	if (!b)
		return -ENOMEM;
	b->cfg = *cfg;
	b->loop = loop;
	b->timer_fd = -1;
	if (cfg->deflate_on_oom)
		features |= 1ull << BALLOON_F_DEFLATE_ON_OOM;
	if (cfg->free_page_reporting)
		features |= 1ull << BALLOON_F_PAGE_REPORTING;
	b->c = virtq_chain_alloc(BALLOON_QUEUE_SIZE);
	b->st = virtq_chain_alloc(BALLOON_QUEUE_SIZE);
	if (!b->c || !b->st)
		goto fail;
	ret = virtio_dev_init(&b->vd, "balloon", VIRTIO_ID_BALLOON, &balloon_ops, b,
			      cfg->free_page_reporting ? 4 : 3, BALLOON_QUEUE_SIZE, features, mem,
			      loop);
	if (ret < 0)
		goto fail;
	if (loop) {
		b->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (b->timer_fd < 0 || evloop_add(loop, b->timer_fd, EPOLLIN, stats_timer, b) < 0 ||
		    timer_arm(b) < 0) {
			ret = b->timer_fd < 0 ? -errno : -EIO;
			balloon_destroy(&b->vd);
			return ret;
		}
	}
	*out = &b->vd;
	return 0;
fail:
	virtq_chain_free(b->c);
	virtq_chain_free(b->st);
	free(b);
	return ret;
}

/* --- management (the API, under the device's lock) --- */

static struct vballoon *as_balloon(struct virtio_dev *vd)
{
	return vd && vd->type == VIRTIO_ID_BALLOON ? (struct vballoon *)vd : NULL;
}

int virtio_balloon_set_target(struct virtio_dev *vd, uint64_t bytes)
{
	struct vballoon *b = as_balloon(vd);

	if (!b)
		return -ENODEV;
	if (bytes >> BALLOON_PFN_SHIFT > UINT32_MAX || bytes > gmem_ram_size(vd->mem))
		return -ERANGE;
	pthread_mutex_lock(&vd->lock);
	b->num_pages = (uint32_t)(bytes >> BALLOON_PFN_SHIFT);
	virtio_dev_config_changed(vd);
	pthread_mutex_unlock(&vd->lock);
	return 0;
}

int virtio_balloon_set_period(struct virtio_dev *vd, unsigned int secs)
{
	struct vballoon *b = as_balloon(vd);
	int r;

	if (!b)
		return -ENODEV;
	pthread_mutex_lock(&vd->lock);
	b->cfg.stats_period = secs;
	r = b->timer_fd >= 0 ? timer_arm(b) : 0;
	/* A new period asks for figures now, as virsh's --period does. */
	if (!r && secs)
		stats_request(b);
	pthread_mutex_unlock(&vd->lock);
	return r;
}

int virtio_balloon_get(struct virtio_dev *vd, struct virtio_balloon_state *out)
{
	struct vballoon *b = as_balloon(vd);

	if (!b)
		return -ENODEV;
	pthread_mutex_lock(&vd->lock);
	out->target = (uint64_t)b->num_pages << BALLOON_PFN_SHIFT;
	out->actual = (uint64_t)b->actual << BALLOON_PFN_SHIFT;
	out->stats_period = b->cfg.stats_period;
	out->cfg = b->cfg;
	out->stats = b->stats;
	out->driver = virtio_dev_active(vd);
	out->reporting = virtio_has_feature(vd, BALLOON_F_PAGE_REPORTING);
	out->deflate_on_oom = virtio_has_feature(vd, BALLOON_F_DEFLATE_ON_OOM);
	pthread_mutex_unlock(&vd->lock);
	return 0;
}

struct virtio_dev *virtio_balloon_find(struct components *c)
{
	struct virtio_pci *vp = components_find(c, "virtio-balloon0");

	return vp ? virtio_pci_vdev(vp) : NULL;
}

/* --- the device kind (bus/devkind.h): memory.balloon, --balloon --- */

#define BAL_OFF(f) offsetof(struct virtio_balloon_config, f)

static const struct key balloon_keys[] = {
	{ .name = "enabled",
	  .type = KEY_BOOL,
	  .off = BAL_OFF(enabled),
	  .def = "true",
	  .help = "a balloon device (JSON; false: none)" },
	{ .name = "deflate_on_oom",
	  .type = KEY_BOOL,
	  .off = BAL_OFF(deflate_on_oom),
	  .def = "off",
	  .help = "the guest may take balloon pages back before it would run out of memory" },
	{ .name = "free_page_reporting",
	  .type = KEY_BOOL,
	  .off = BAL_OFF(free_page_reporting),
	  .def = "off",
	  .help = "the guest reports free memory, which goes back to the host" },
	{ .name = "stats_period",
	  .type = KEY_UINT,
	  .off = BAL_OFF(stats_period),
	  .min = 0,
	  .max = 86400,
	  .def = "5",
	  .help = "seconds between memory statistics from the guest (0: none)" },
	{ .name = "floor",
	  .type = KEY_SIZE,
	  .off = BAL_OFF(floor),
	  .def = "0",
	  .help = "setmem refuses to leave the guest less memory than this" },
	{ 0 },
};

static void balloon_init(void *cfg)
{
	struct virtio_balloon_config *c = cfg;

	c->enabled = true;
	c->stats_period = 5;
}

/* --balloon, --balloon=off, --balloon=stats_period=2,free_page_reporting=on */
static int balloon_parse_cli(void *cfg, const char *arg, struct error *err)
{
	bool on;

	if (!arg)
		return 0;
	if (!strchr(arg, '=') && !keys_parse_bool(arg, &on))
		return on ? 0 : 1;
	if (keys_parse(balloon_keys, cfg, arg, NULL, err))
		return -EINVAL;
	return ((struct virtio_balloon_config *)cfg)->enabled ? 0 : 1;
}

static int balloon_from_json(void *cfg, struct json_object *o, const char *where,
			     struct error *err)
{
	if (json_object_is_type(o, json_type_boolean))
		return json_object_get_boolean(o) ? 0 : 1;
	if (keys_from_json(balloon_keys, cfg, o, where, err))
		return -EINVAL;
	return ((struct virtio_balloon_config *)cfg)->enabled ? 0 : 1;
}

static struct json_object *balloon_to_json(const void *cfg)
{
	if (!cfg)
		return json_object_new_boolean(false);
	return keys_to_json(balloon_keys, cfg);
}

static void balloon_release(void *cfg)
{
	(void)cfg;
}

static int balloon_create(struct dev_host *host, const void *cfg, unsigned int index,
			  struct error *err)
{
	struct virtio_dev *vd;
	int ret;

	(void)index;
	ret = virtio_balloon_new(host->mem, host->loop, cfg, &vd);
	if (ret < 0)
		return error_set_errno(err, ret, "virtio-balloon");
	return virtio_attach(host, vd, VIRTIO_CLASS_OTHER, BALLOON_CFG_SIZE, err);
}

const struct dev_kind virtio_balloon_kind = {
	.name = "virtio-balloon",
	.json_key = "balloon",
	.json_parent = "memory",
	.cli_name = "balloon",
	.cli_arg = DEV_ARG_OPTIONAL,
	.cli_help = "virtio-balloon (setmem, dommemstat): [deflate_on_oom=on][,free_page_reporting=on]\n"
		    "[,stats_period=SECS][,floor=SIZE] (--balloon=off: none)",
	.max = 1,
	.cfg_size = sizeof(struct virtio_balloon_config),
	.keys = balloon_keys,
	.init = balloon_init,
	.parse_cli = balloon_parse_cli,
	.from_json = balloon_from_json,
	.to_json = balloon_to_json,
	.release = balloon_release,
	.create = balloon_create,
};
