// SPDX-License-Identifier: MIT
/*
 * vhost-user backend, the message handlers (QEMU docs/interop/vhost-user.rst).
 *
 * The frontend's messages drive the transport-independent device core
 * the way a driver drives virtio-pci registers:
 *
 *   SET_FEATURES        -> device reset, then the status sequence of
 *                          virtio 1.2 section 3.1.1 (ACKNOWLEDGE, DRIVER,
 *                          features, FEATURES_OK, DRIVER_OK)
 *   SET_VRING_NUM/ADDR  -> queue_size / queue_desc, queue_driver, queue_device
 *   SET_VRING_KICK      -> the doorbell (an eventfd on our event loop)
 *   SET_VRING_CALL      -> the interrupt (an eventfd we write)
 *   GET_CONFIG          -> device configuration reads
 *
 * A ring is handed to the virtqueue core (virtq_enable) when it is
 * started (a kick fd arrived), enabled (SET_VRING_ENABLE, when protocol
 * features were negotiated, vhost-user.rst "Ring states"), has addresses
 * and the device was negotiated; it is taken back (after in-flight
 * requests finished) on GET_VRING_BASE, SET_VRING_ENABLE 0, a new memory
 * table, a reset or a disconnect.  Ring addresses arrive as frontend
 * virtual addresses and are translated to guest-physical ones through the
 * memory table, so the virtqueue reaches memory only through gmem.
 *
 * A message that is malformed or out of sequence returns -errno; the
 * socket side then closes the connection and waits for the next one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem/gmem.h"
#include "util/evloop.h"
#include "util/util.h"
#include "vhost/vhost-user-int.h"

#define SUPPORTED_PROTOCOL_FEATURES                                                       \
	((1ull << VHOST_USER_PROTOCOL_F_MQ) | (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) | \
	 (1ull << VHOST_USER_PROTOCOL_F_CONFIG) | (1ull << VHOST_USER_PROTOCOL_F_RESET_DEVICE))

static const char *const req_names[] = {
	[VHOST_USER_GET_FEATURES] = "GET_FEATURES",
	[VHOST_USER_SET_FEATURES] = "SET_FEATURES",
	[VHOST_USER_SET_OWNER] = "SET_OWNER",
	[VHOST_USER_RESET_OWNER] = "RESET_OWNER",
	[VHOST_USER_SET_MEM_TABLE] = "SET_MEM_TABLE",
	[VHOST_USER_SET_LOG_BASE] = "SET_LOG_BASE",
	[VHOST_USER_SET_LOG_FD] = "SET_LOG_FD",
	[VHOST_USER_SET_VRING_NUM] = "SET_VRING_NUM",
	[VHOST_USER_SET_VRING_ADDR] = "SET_VRING_ADDR",
	[VHOST_USER_SET_VRING_BASE] = "SET_VRING_BASE",
	[VHOST_USER_GET_VRING_BASE] = "GET_VRING_BASE",
	[VHOST_USER_SET_VRING_KICK] = "SET_VRING_KICK",
	[VHOST_USER_SET_VRING_CALL] = "SET_VRING_CALL",
	[VHOST_USER_SET_VRING_ERR] = "SET_VRING_ERR",
	[VHOST_USER_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
	[VHOST_USER_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
	[VHOST_USER_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
	[VHOST_USER_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
	[VHOST_USER_GET_CONFIG] = "GET_CONFIG",
	[VHOST_USER_SET_CONFIG] = "SET_CONFIG",
	[VHOST_USER_RESET_DEVICE] = "RESET_DEVICE",
};

const char *vhost_user_request_name(uint32_t req)
{
	if (req < sizeof(req_names) / sizeof(req_names[0]) && req_names[req])
		return req_names[req];
	return "unknown";
}

void vhost_user_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int vhost_user_dev_create(struct virtio_dev *vd, uint32_t cfg_size, struct gmem *mem,
			  struct evloop *loop, const struct vhost_user_dev_hooks *hooks,
			  struct vhost_user_dev **out)
{
	struct vhost_user_dev *d;
	int ret;

	if (!vd || !mem || vd->nr_queues > VIRTIO_MAX_QUEUES || cfg_size > VHOST_USER_MAX_CONFIG)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->vd = vd;
	d->cfg_size = cfg_size;
	d->mem = mem;
	d->loop = loop;
	if (hooks)
		d->hooks = *hooks;
	d->conn_fd = -1;
	d->listen_fd = -1;
	d->fault_fd = -1;
	d->rx_timer = -1;
	d->rl = (struct ratelimit)RATELIMIT_INIT;
	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		d->rings[q].kick_fd = d->rings[q].call_fd = d->rings[q].err_fd = -1;
		d->rings[q].kctx.d = d;
		d->rings[q].kctx.q = q;
	}
	ret = vhost_user_faults_init(d);
	if (ret < 0) {
		free(d);
		return ret;
	}
	vd->tops = &vhost_user_tops;
	vd->transport = d;
	*out = d;
	return 0;
}

void vhost_user_dev_stats(const struct vhost_user_dev *d, struct vhost_user_stats *st)
{
	*st = d->st;
}

static void device_reset(struct vhost_user_dev *d)
{
	vhost_user_rings_reset(d);
	pthread_mutex_lock(&d->vd->lock);
	virtio_dev_reset(d->vd);
	pthread_mutex_unlock(&d->vd->lock);
	d->features_set = false;
	d->features = 0;
}

void vhost_user_dev_disconnect(struct vhost_user_dev *d)
{
	device_reset(d);
	pthread_mutex_lock(&d->vd->lock);
	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++)
		vhost_user_close_fd(&d->rings[q].err_fd);
	pthread_mutex_unlock(&d->vd->lock);
	vhost_user_mem_unmap_all(d);
	d->protocol_features = 0;
	d->owner = false;
}

void vhost_user_dev_destroy(struct vhost_user_dev *d)
{
	if (!d)
		return;
	/* The connection, a message half received and its fds. */
	vhost_user_conn_drop(d);
	if (d->listen_fd >= 0 && d->loop)
		evloop_del(d->loop, d->listen_fd);
	/* No kick may run on the device's thread once we are gone. */
	vhost_user_kicks_fini(d);
	vhost_user_dev_disconnect(d);
	vhost_user_faults_fini(d);
	d->vd->tops = NULL;
	d->vd->transport = NULL;
	free(d);
}

void vhost_user_dev_kick(struct vhost_user_dev *d, unsigned int q)
{
	struct virtio_dev *vd = d->vd;

	if (q >= vd->nr_queues)
		return;
	pthread_mutex_lock(&vd->lock);
	vhost_user_kick_locked(d, q);
	pthread_mutex_unlock(&vd->lock);
}

/* ---- handlers ------------------------------------------------------------ */

static int set_features(struct vhost_user_dev *d, uint64_t f)
{
	struct virtio_dev *vd = d->vd;
	uint64_t offered = vd->host_features | (1ull << VHOST_USER_F_PROTOCOL_FEATURES);
	uint64_t core = f & ~(1ull << VHOST_USER_F_PROTOCOL_FEATURES);
	uint8_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

	if (f & ~offered) {
		log_warn("%s: SET_FEATURES %#llx has bits never offered (%#llx)", vd->name,
			 (unsigned long long)f, (unsigned long long)(f & ~offered));
		return -EINVAL;
	}
	/*
	 * The same features again: nothing to do, unless the device needs a
	 * reset (a guest broke a ring): frontends restart a device by
	 * stopping its rings and sending the features again.
	 */
	if (d->features_set && f == d->features && !(vd->status & VIRTIO_STATUS_NEEDS_RESET))
		return 0;
	/* A (re)negotiation: the device starts over, as after a reset. */
	vhost_user_rings_all_down(d);
	d->features = f;
	d->features_set = true;
	pthread_mutex_lock(&vd->lock);
	virtio_dev_reset(vd);
	virtio_dev_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_dev_set_status(vd, st);
	virtio_dev_write_features(vd, 0, (uint32_t)core);
	virtio_dev_write_features(vd, 1, (uint32_t)(core >> 32));
	st |= VIRTIO_STATUS_FEATURES_OK;
	virtio_dev_set_status(vd, st);
	if (!(vd->status & VIRTIO_STATUS_FEATURES_OK)) {
		pthread_mutex_unlock(&vd->lock);
		d->features_set = false;
		log_warn("%s: features %#llx refused (VIRTIO_F_VERSION_1 is required)", vd->name,
			 (unsigned long long)core);
		return -EINVAL;
	}
	virtio_dev_set_status(vd, st | VIRTIO_STATUS_DRIVER_OK);
	pthread_mutex_unlock(&vd->lock);
	return vhost_user_rings_sync(d);
}

static struct vhost_user_vring *ring_arg(struct vhost_user_dev *d, uint64_t index)
{
	if (index >= d->vd->nr_queues) {
		log_warn("%s: ring index %llu out of range (%u queues)", d->vd->name,
			 (unsigned long long)index, d->vd->nr_queues);
		return NULL;
	}
	return &d->rings[index];
}

static int set_vring_num(struct vhost_user_dev *d, const struct vhost_user_vring_state *s)
{
	struct vhost_user_vring *r = ring_arg(d, s->index);
	uint32_t n = s->num;

	if (!r || r->live)
		return -EINVAL;
	/* Split rings: a power of two up to the size the device offers (virtio 1.2 2.7). */
	if (n == 0 || (n & (n - 1)) || n > d->vd->vqs[s->index].max_size) {
		log_warn("%s: ring size %u (max %u)", d->vd->name, n,
			 d->vd->vqs[s->index].max_size);
		return -EINVAL;
	}
	r->num = (uint16_t)n;
	return 0;
}

static int set_vring_addr(struct vhost_user_dev *d, const struct vhost_user_vring_addr *a)
{
	struct vhost_user_vring *r = ring_arg(d, a->index);
	uint64_t gpa;

	if (!r || r->live)
		return -EINVAL;
	/* Only VHOST_VRING_F_LOG (bit 0) is defined. */
	if (a->flags & ~1u)
		return -EINVAL;
	if (vhost_user_uaddr_to_gpa(d, a->desc, 1, &gpa) ||
	    vhost_user_uaddr_to_gpa(d, a->avail, 1, &gpa) ||
	    vhost_user_uaddr_to_gpa(d, a->used, 1, &gpa)) {
		log_warn("%s: SET_VRING_ADDR %u: an address is outside the memory table",
			 d->vd->name, a->index);
		return -EFAULT;
	}
	r->desc_ua = a->desc;
	r->avail_ua = a->avail;
	r->used_ua = a->used;
	r->has_addr = true;
	return 0;
}

static int set_vring_base(struct vhost_user_dev *d, const struct vhost_user_vring_state *s)
{
	struct vhost_user_vring *r = ring_arg(d, s->index);

	if (!r || r->live || s->num > 0xffff)
		return -EINVAL;
	r->base = (uint16_t)s->num;
	return 0;
}

/* vhost-user.rst: GET_VRING_BASE stops the ring and returns its base. */
static int get_vring_base(struct vhost_user_dev *d, const struct vhost_user_vring_state *s,
			  struct vhost_user_msg *reply)
{
	struct vhost_user_vring *r = ring_arg(d, s->index);

	if (!r)
		return -EINVAL;
	r->started = false;
	vhost_user_kick_set(d, s->index, -1);
	vhost_user_rings_sync(d);
	reply->p.state.index = s->index;
	reply->p.state.num = r->base;
	reply->hdr.size = sizeof(reply->p.state);
	return 0;
}

static int set_vring_fd(struct vhost_user_dev *d, uint32_t req, uint64_t v, const int *fds,
			unsigned int nfds)
{
	struct vhost_user_vring *r;
	unsigned int q = (unsigned int)(v & VHOST_USER_VRING_IDX_MASK);
	bool nofd = v & VHOST_USER_VRING_NOFD;
	int fd = nofd ? -1 : (nfds ? fds[0] : -1);
	int ret, kind = 0;

	if ((v & ~(VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD)) || nfds != !nofd)
		return -EINVAL;
	r = ring_arg(d, q);
	if (!r)
		return -EINVAL;
	/* Polling mode (no kick fd) is not offered. */
	if (req == VHOST_USER_SET_VRING_KICK && fd < 0)
		return -ENOTSUP;
	if (fd >= 0) {
		const char *why = "";

		fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			return -errno;
		/* An eventfd or a pipe, made non-blocking (fds.c says why). */
		kind = vhost_user_ring_fd_check(fd, req == VHOST_USER_SET_VRING_KICK, &why);
		if (kind < 0) {
			log_warn("%s: %s for ring %u refused: %s", d->vd->name,
				 vhost_user_request_name(req), q, why);
			close(fd);
			return kind;
		}
	}
	switch (req) {
	case VHOST_USER_SET_VRING_KICK:
		ret = vhost_user_kick_set(d, q, fd);
		if (ret < 0)
			return ret;
		r->started = true;
		return vhost_user_rings_sync(d);
	case VHOST_USER_SET_VRING_CALL:
		pthread_mutex_lock(&d->vd->lock);
		vhost_user_close_fd(&r->call_fd);
		r->call_fd = fd;
		r->call_kind = kind;
		pthread_mutex_unlock(&d->vd->lock);
		return 0;
	default:
		pthread_mutex_lock(&d->vd->lock);
		vhost_user_close_fd(&r->err_fd);
		r->err_fd = fd;
		r->err_kind = kind;
		pthread_mutex_unlock(&d->vd->lock);
		return 0;
	}
}

static int set_vring_enable(struct vhost_user_dev *d, const struct vhost_user_vring_state *s)
{
	struct vhost_user_vring *r = ring_arg(d, s->index);

	if (!r || s->num > 1)
		return -EINVAL;
	r->enabled = s->num;
	return vhost_user_rings_sync(d);
}

/* Config space access in naturally aligned pieces of at most 8 bytes. */
static void config_access(struct vhost_user_dev *d, struct vhost_user_config *c, bool write)
{
	struct virtio_dev *vd = d->vd;
	uint32_t off = c->offset, done = 0;

	pthread_mutex_lock(&vd->lock);
	while (done < c->size) {
		uint32_t o = off + done, left = c->size - done, len = 8;

		while (len > 1 && (len > left || (o & (len - 1))))
			len >>= 1;
		if (o >= d->cfg_size || len > d->cfg_size - o) {
			if (!write)
				memset(c->payload + done, 0, len);
		} else if (write && vd->ops->config_write) {
			vd->ops->config_write(vd, o, c->payload + done, len);
		} else if (!write && vd->ops->config_read) {
			vd->ops->config_read(vd, o, c->payload + done, len);
		}
		done += len;
	}
	pthread_mutex_unlock(&vd->lock);
}

static int config_msg(struct vhost_user_dev *d, struct vhost_user_msg *msg,
		      struct vhost_user_msg *reply)
{
	struct vhost_user_config *c = &msg->p.config;

	if (msg->hdr.size < VHOST_USER_CONFIG_HDR || c->size > VHOST_USER_MAX_CONFIG ||
	    msg->hdr.size != VHOST_USER_CONFIG_HDR + c->size ||
	    (uint64_t)c->offset + c->size > VHOST_USER_MAX_CONFIG)
		return -EINVAL;
	if (msg->hdr.request == VHOST_USER_SET_CONFIG) {
		config_access(d, c, true);
		return 0;
	}
	reply->p.config = *c;
	config_access(d, &reply->p.config, false);
	reply->hdr.size = msg->hdr.size;
	return 0;
}

/* Payload size of each fixed-size request; -1: checked by its handler. */
static int fixed_size(uint32_t req)
{
	switch (req) {
	case VHOST_USER_GET_FEATURES:
	case VHOST_USER_SET_OWNER:
	case VHOST_USER_RESET_OWNER:
	case VHOST_USER_GET_PROTOCOL_FEATURES:
	case VHOST_USER_GET_QUEUE_NUM:
	case VHOST_USER_RESET_DEVICE:
		return 0;
	case VHOST_USER_SET_FEATURES:
	case VHOST_USER_SET_PROTOCOL_FEATURES:
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR:
		return 8;
	case VHOST_USER_SET_VRING_NUM:
	case VHOST_USER_SET_VRING_BASE:
	case VHOST_USER_GET_VRING_BASE:
	case VHOST_USER_SET_VRING_ENABLE:
		return (int)sizeof(struct vhost_user_vring_state);
	case VHOST_USER_SET_VRING_ADDR:
		return (int)sizeof(struct vhost_user_vring_addr);
	default:
		return -1;
	}
}

static bool takes_fds(uint32_t req)
{
	return req == VHOST_USER_SET_MEM_TABLE || req == VHOST_USER_SET_VRING_KICK ||
	       req == VHOST_USER_SET_VRING_CALL || req == VHOST_USER_SET_VRING_ERR;
}

static int dispatch(struct vhost_user_dev *d, struct vhost_user_msg *msg, const int *fds,
		    unsigned int nfds, struct vhost_user_msg *reply, bool *has_reply)
{
	struct virtio_dev *vd = d->vd;
	uint32_t req = msg->hdr.request;
	int fs = fixed_size(req);

	if (fs >= 0 && msg->hdr.size != (uint32_t)fs) {
		log_warn("%s: %s with %u payload bytes (expected %d)", vd->name,
			 vhost_user_request_name(req), msg->hdr.size, fs);
		return -EINVAL;
	}
	if (nfds && !takes_fds(req)) {
		log_warn("%s: %s came with %u fds", vd->name, vhost_user_request_name(req), nfds);
		return -EINVAL;
	}
	switch (req) {
	case VHOST_USER_GET_FEATURES:
		reply->p.u64 = vd->host_features | (1ull << VHOST_USER_F_PROTOCOL_FEATURES);
		reply->hdr.size = 8;
		*has_reply = true;
		return 0;
	case VHOST_USER_SET_FEATURES:
		return set_features(d, msg->p.u64);
	case VHOST_USER_GET_PROTOCOL_FEATURES:
		reply->p.u64 = SUPPORTED_PROTOCOL_FEATURES;
		reply->hdr.size = 8;
		*has_reply = true;
		return 0;
	case VHOST_USER_SET_PROTOCOL_FEATURES:
		if (msg->p.u64 & ~SUPPORTED_PROTOCOL_FEATURES)
			return -EINVAL;
		d->protocol_features = msg->p.u64;
		return 0;
	case VHOST_USER_GET_QUEUE_NUM:
		reply->p.u64 = vd->nr_queues;
		reply->hdr.size = 8;
		*has_reply = true;
		return 0;
	case VHOST_USER_SET_OWNER:
		d->owner = true;
		return 0;
	case VHOST_USER_RESET_OWNER:
	case VHOST_USER_RESET_DEVICE:
		device_reset(d);
		return 0;
	case VHOST_USER_SET_MEM_TABLE:
		return vhost_user_set_mem_table(d, msg, fds, nfds);
	case VHOST_USER_SET_VRING_NUM:
		return set_vring_num(d, &msg->p.state);
	case VHOST_USER_SET_VRING_ADDR:
		return set_vring_addr(d, &msg->p.addr);
	case VHOST_USER_SET_VRING_BASE:
		return set_vring_base(d, &msg->p.state);
	case VHOST_USER_GET_VRING_BASE:
		*has_reply = true;
		return get_vring_base(d, &msg->p.state, reply);
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR:
		return set_vring_fd(d, req, msg->p.u64, fds, nfds);
	case VHOST_USER_SET_VRING_ENABLE:
		return set_vring_enable(d, &msg->p.state);
	case VHOST_USER_GET_CONFIG:
		*has_reply = true;
		return config_msg(d, msg, reply);
	case VHOST_USER_SET_CONFIG:
		return config_msg(d, msg, reply);
	default:
		log_warn("%s: unsupported request %u (%s)", vd->name, req,
			 vhost_user_request_name(req));
		return -ENOTSUP;
	}
}

/*
 * Frontend memory faulted (guard.c): the device is in error and the
 * connection must close, which vhost_user_dev_disconnect() makes clean.
 */
static bool mem_faulted(struct vhost_user_dev *d)
{
	bool f;

	if (!__atomic_load_n(&d->mem_fault, __ATOMIC_ACQUIRE))
		return false;
	pthread_mutex_lock(&d->vd->lock);
	f = vhost_user_mem_fault_check(d);
	pthread_mutex_unlock(&d->vd->lock);
	return f;
}

int vhost_user_handle_msg(struct vhost_user_dev *d, struct vhost_user_msg *msg, int *fds,
			  unsigned int nfds, struct vhost_user_msg *reply, bool *reply_out)
{
	bool has_reply = false;
	int ret;

	d->st.messages++;
	memset(&reply->hdr, 0, sizeof(reply->hdr));
	reply->hdr.request = msg->hdr.request;
	reply->hdr.flags = VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY;
	if ((msg->hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION ||
	    (msg->hdr.flags & VHOST_USER_FLAG_REPLY) || msg->hdr.size > VHOST_USER_MAX_PAYLOAD)
		ret = -EPROTO;
	else if (mem_faulted(d))
		ret = -EFAULT;
	else
		ret = dispatch(d, msg, fds, nfds, reply, &has_reply);
	/* Memory that vanished while this message was handled: the connection goes. */
	if (!ret && mem_faulted(d))
		ret = -EFAULT;
	/* Handlers dup what they keep: the message's fds are closed here. */
	for (unsigned int i = 0; i < nfds; i++)
		close(fds[i]);
	if (ret < 0)
		log_debug("vhost-user: %s failed: %s", vhost_user_request_name(msg->hdr.request),
			  strerror(-ret));
	/*
	 * REPLY_ACK (vhost-user.rst): a request that has no reply of its
	 * own is answered with 0 on success, non-zero on failure.
	 */
	if (!has_reply && (msg->hdr.flags & VHOST_USER_FLAG_NEED_REPLY)) {
		reply->p.u64 = ret < 0 ? 1 : 0;
		reply->hdr.size = 8;
		has_reply = true;
	} else if (ret < 0) {
		has_reply = false;
	}
	*reply_out = has_reply;
	return ret;
}
