// SPDX-License-Identifier: MIT
/*
 * virtio-console (virtio 1.2 section 5.3) with a single port and no
 * MULTIPORT: queue 0 is port 0's receiveq (host to guest), queue 1 its
 * transmitq (guest to host).  It is a second console next to COM1, e.g.
 * /dev/hvc0 in a Linux guest.
 *
 * The backend is a chardev (chardev/chardev.h): a pty (the default; its
 * path is printed and returned by virtio_console_pty_path()), a file
 * (output only) or a Unix socket (one client at a time, output with no
 * client is dropped).
 *
 * Output never blocks the event loop: if the pty is full (nobody reads
 * it), the bytes are dropped and counted.  Input is read only when the
 * guest has a receive buffer posted; otherwise the backend stops watching
 * its fd until the guest kicks the receiveq, so the kernel holds the bytes.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/devkind.h"
#include "bus/host.h"
#include "chardev/chardev.h"
#include "util/error.h"
#include "util/evloop.h"
#include "util/log.h"
#include "virtio/devices.h"
#include "virtio/virtio.h"

#define RXQ 0
#define TXQ 1

struct vcon {
	struct virtio_dev vd;
	struct chardev *cd;
	bool rx_held; /* rx chain popped, waiting for input */
	struct virtq_chain *rx, *tx;
	uint8_t cfg[VIRTIO_CONSOLE_CFG_SIZE];
	uint64_t bytes_in, bytes_out, dropped;
};

/* Move available input into the guest's receive buffers. */
static void rx_pump(struct vcon *c)
{
	struct virtq *vq = &c->vd.vqs[RXQ];
	bool pushed = false;

	if (!virtio_dev_active(&c->vd) || !vq->enabled)
		return;
	for (;;) {
		ssize_t n;

		if (!c->rx_held) {
			if (virtq_pop(vq, c->rx) != 1) {
				/* No buffer: let the kernel hold input until a kick. */
				chardev_input_poll(c->cd, false);
				break;
			}
			c->rx_held = true;
			if (c->rx->nr_out) {
				virtq_fail(vq, "console receive buffer is device-readable");
				break;
			}
		}
		n = chardev_readv(c->cd, c->rx->iov + c->rx->nr_out, (int)c->rx->nr_in);
		if (n <= 0) {
			chardev_input_poll(c->cd, true); /* wait for more input */
			break;
		}
		c->bytes_in += (uint64_t)n;
		c->rx_held = false;
		virtq_push_chain(vq, c->rx, (uint32_t)n);
		pushed = true;
	}
	if (pushed)
		virtio_dev_notify(&c->vd, vq);
}

/* The backend has input, on the loop thread. */
static void con_readable(void *opaque)
{
	struct vcon *c = opaque;

	pthread_mutex_lock(&c->vd.lock);
	if (virtio_dev_active(&c->vd))
		rx_pump(c);
	else
		chardev_input_poll(c->cd, false); /* the guest is not listening yet */
	pthread_mutex_unlock(&c->vd.lock);
}

static void tx_drain(struct vcon *c)
{
	struct virtq *vq = &c->vd.vqs[TXQ];
	bool pushed = false;

	do {
		virtq_disable_notify(vq);
		while (virtq_pop(vq, c->tx) == 1) {
			for (unsigned int i = 0; i < c->tx->nr_out; i++) {
				size_t len = c->tx->iov[i].iov_len;
				ssize_t n = chardev_write(c->cd, c->tx->iov[i].iov_base, len);

				c->bytes_out += (uint64_t)n;
				c->dropped += len - (size_t)n;
			}
			virtq_push_chain(vq, c->tx, 0);
			pushed = true;
		}
	} while (!vq->broken && virtq_enable_notify(vq));
	if (pushed)
		virtio_dev_notify(&c->vd, vq);
}

static void con_notify(struct virtio_dev *vd, unsigned int q)
{
	struct vcon *c = (struct vcon *)vd;

	if (q == TXQ)
		tx_drain(c);
	else if (q == RXQ)
		rx_pump(c);
}

static int con_activate(struct virtio_dev *vd)
{
	struct vcon *c = (struct vcon *)vd;

	chardev_input_poll(c->cd, true);
	return 0;
}

static void con_reset(struct virtio_dev *vd)
{
	struct vcon *c = (struct vcon *)vd;

	c->rx_held = false; /* the held chain belongs to the old generation */
	chardev_input_poll(c->cd, false);
}

static void con_config_read(struct virtio_dev *vd, uint32_t off, void *data, unsigned int len)
{
	struct vcon *c = (struct vcon *)vd;

	if (off + len <= sizeof(c->cfg))
		memcpy(data, c->cfg + off, len);
}

static void con_destroy(struct virtio_dev *vd)
{
	struct vcon *c = (struct vcon *)vd;

	chardev_close(c->cd);
	virtq_chain_free(c->rx);
	virtq_chain_free(c->tx);
	virtio_dev_destroy(vd);
	free(c);
}

/*
 * One byte: whether a receive buffer was popped and waits for input.
 * The ring indices already count it as taken, so a load gives it back
 * to the ring (virtq_rewind) and rx_pump takes it again on input.
 */
static int con_save(struct virtio_dev *vd, void *buf, size_t *len)
{
	struct vcon *c = (struct vcon *)vd;

	if (*len < 1)
		return -ENOSPC;
	*(uint8_t *)buf = c->rx_held;
	*len = 1;
	return 0;
}

static int con_load(struct virtio_dev *vd, const void *buf, size_t len)
{
	struct vcon *c = (struct vcon *)vd;
	uint8_t held = len ? *(const uint8_t *)buf : 0;

	if (len > 1 || held > 1)
		return -EINVAL;
	if (held && virtq_rewind(&vd->vqs[RXQ], 1) < 0)
		return -EINVAL;
	c->rx_held = false;
	return 0;
}

static const struct virtio_dev_ops con_ops = {
	.save = con_save,
	.load = con_load,
	.config_read = con_config_read,
	.activate = con_activate,
	.notify = con_notify,
	.reset = con_reset,
	.destroy = con_destroy,
};

int virtio_console_new(const struct chardev_spec *spec, struct gmem *mem, struct evloop *loop,
		       struct virtio_dev **out, struct error *err)
{
	struct chardev_opts o = { .name = "virtio-console", .readable = con_readable };
	struct vcon *c = calloc(1, sizeof(*c));
	uint16_t v16;
	uint32_t v32 = 1;
	int ret;

	if (!c)
		return error_setf(err, -ENOMEM, "virtio-console: out of memory");
	o.opaque = c;
	ret = chardev_open(spec, &o, loop, &c->cd, err);
	if (ret < 0) {
		free(c);
		return ret;
	}
	v16 = 80;
	memcpy(c->cfg + 0, &v16, 2); /* cols (meaningful only with F_SIZE) */
	v16 = 25;
	memcpy(c->cfg + 2, &v16, 2); /* rows */
	memcpy(c->cfg + 4, &v32, 4); /* max_nr_ports */
	c->rx = virtq_chain_alloc(VIRTIO_CONSOLE_QUEUE_SIZE);
	c->tx = virtq_chain_alloc(VIRTIO_CONSOLE_QUEUE_SIZE);
	ret = c->rx && c->tx ? 0 : -ENOMEM;
	if (!ret)
		ret = virtio_dev_init(&c->vd, "console", VIRTIO_ID_CONSOLE, &con_ops, c, 2,
				      VIRTIO_CONSOLE_QUEUE_SIZE, 0, mem, loop);
	if (ret < 0) {
		virtq_chain_free(c->rx);
		virtq_chain_free(c->tx);
		chardev_close(c->cd);
		free(c);
		return error_set_errno(err, ret, "virtio-console");
	}
	*out = &c->vd;
	return 0;
}

const char *virtio_console_pty_path(struct virtio_dev *vd)
{
	struct vcon *c = (struct vcon *)vd;

	if (vd->type != VIRTIO_ID_CONSOLE || chardev_mode(c->cd) != CHARDEV_PTY)
		return NULL;
	return chardev_path(c->cd);
}

/* --- the device kind (bus/devkind.h) --- */

#define VCON_MODES                                                        \
	(CHARDEV_MODE_BIT(CHARDEV_PTY) | CHARDEV_MODE_BIT(CHARDEV_FILE) | \
	 CHARDEV_MODE_BIT(CHARDEV_SOCKET))

static void vcon_init(void *cfg)
{
	((struct chardev_spec *)cfg)->mode = CHARDEV_PTY;
}

/* --console pty | file=PATH | socket=PATH | none|off */
static int vcon_parse_cli(void *cfg, const char *arg, struct error *err)
{
	if (arg && (!strcmp(arg, "off") || !strcmp(arg, "none")))
		return 1;
	return chardev_spec_parse(cfg, arg ? arg : "pty", VCON_MODES, err);
}

/*
 * JSON: true (a pty), false (none), "socket=PATH", "pty", any other
 * string a file (the spellings of earlier definitions), or the typed
 * form {"mode": "pty"|"file"|"socket", "path": PATH}.
 */
static int vcon_from_json(void *cfg, struct json_object *o, const char *where, struct error *err)
{
	const char *s;
	int r;

	if (json_object_is_type(o, json_type_boolean))
		return json_object_get_boolean(o) ? chardev_spec_set(cfg, CHARDEV_PTY, NULL) : 1;
	if (json_object_is_type(o, json_type_object))
		return chardev_spec_from_json(cfg, o, where, VCON_MODES, err);
	if (!json_object_is_type(o, json_type_string))
		return error_setf(err, -EINVAL,
				  "%s: must be true, false, a path or an object, not %s", where,
				  json_type_to_name(json_object_get_type(o)));
	s = json_object_get_string(o);
	if (strlen(s) != (size_t)json_object_get_string_len(o) || !*s)
		return error_setf(err, -EINVAL, "%s: must be a non-empty path", where);
	if (strlen(s) > 4095)
		return error_setf(err, -EINVAL, "%s: longer than 4095 characters", where);
	if (!strcmp(s, "pty"))
		r = chardev_spec_set(cfg, CHARDEV_PTY, NULL);
	else if (!strncmp(s, "socket=", 7) && s[7])
		r = chardev_spec_set(cfg, CHARDEV_SOCKET, s + 7);
	else
		r = chardev_spec_set(cfg, CHARDEV_FILE, s);
	return r ? error_setf(err, r, "out of memory") : 0;
}

/* The spelling earlier versions dumped, so old readers keep working. */
static struct json_object *vcon_to_json(const void *cfg)
{
	const struct chardev_spec *spec = cfg;
	char buf[4200];

	if (!spec)
		return json_object_new_boolean(false);
	switch (spec->mode) {
	case CHARDEV_FILE:
		return json_object_new_string(spec->path);
	case CHARDEV_SOCKET:
		snprintf(buf, sizeof(buf), "socket=%s", spec->path);
		return json_object_new_string(buf);
	default:
		return json_object_new_boolean(true);
	}
}

static void vcon_release(void *cfg)
{
	chardev_spec_free(cfg);
}

static int vcon_create(struct dev_host *host, const void *cfg, unsigned int index,
		       struct error *err)
{
	struct virtio_dev *vd;
	int ret;

	(void)index;
	ret = virtio_console_new(cfg, host->mem, host->loop, &vd, err);
	if (ret < 0)
		return ret;
	return virtio_attach(host, vd, VIRTIO_CLASS_COMM_OTHER, VIRTIO_CONSOLE_CFG_SIZE, err);
}

const struct dev_kind virtio_console_kind = {
	.name = "virtio-console",
	.json_key = "virtio_console",
	.cli_name = "console",
	.cli_arg = DEV_ARG_REQUIRED,
	.cli_help = "virtio-console port: pty, file=PATH, socket=PATH or none",
	.max = 1,
	.cfg_size = sizeof(struct chardev_spec),
	.init = vcon_init,
	.parse_cli = vcon_parse_cli,
	.from_json = vcon_from_json,
	.to_json = vcon_to_json,
	.release = vcon_release,
	.create = vcon_create,
};
