// SPDX-License-Identifier: MIT
/*
 * virtio-rng / entropy device (virtio 1.2 section 5.4): one request queue
 * whose device-writable buffers are filled from getrandom(2).  The guest
 * decides how much it asks for; per chain we give at most RNG_CHAIN_MAX
 * bytes (the used length tells the driver how much it got, section
 * 5.4.6.1), so a huge buffer cannot stall the event loop.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "bus/devkind.h"
#include "bus/host.h"
#include "util/error.h"
#include "util/keys.h"
#include "util/log.h"
#include "virtio/devices.h"
#include "virtio/virtio.h"

#define RNG_CHAIN_MAX (64u * 1024)

struct vrng {
	struct virtio_dev vd;
	struct virtq_chain *c;
	uint64_t bytes, requests;
};

static size_t fill_random(struct virtq_chain *c)
{
	size_t done = 0;

	for (unsigned int i = c->nr_out; i < c->nr_out + c->nr_in && done < RNG_CHAIN_MAX; i++) {
		size_t want = c->iov[i].iov_len, got = 0;

		if (want > RNG_CHAIN_MAX - done)
			want = RNG_CHAIN_MAX - done;
		while (got < want) {
			ssize_t n = getrandom((uint8_t *)c->iov[i].iov_base + got, want - got,
					      GRND_NONBLOCK);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return done + got; /* pool not ready: give what we have */
			got += (size_t)n;
		}
		done += got;
	}
	return done;
}

static void rng_notify(struct virtio_dev *vd, unsigned int q)
{
	struct vrng *r = (struct vrng *)vd;
	struct virtq *vq = &vd->vqs[0];
	bool pushed = false;

	do {
		virtq_disable_notify(vq);
		while (virtq_pop(vq, r->c) == 1) {
			size_t n = 0;

			/* A readable part is not what section 5.4.6.1 asks for. */
			if (r->c->nr_out)
				virtio_dev_guest_error(vd, "rng request with a readable buffer");
			else
				n = fill_random(r->c);
			r->bytes += n;
			r->requests++;
			virtq_push_chain(vq, r->c, (uint32_t)n);
			pushed = true;
		}
	} while (!vq->broken && virtq_enable_notify(vq));
	if (pushed)
		virtio_dev_notify(vd, vq);
}

static void rng_destroy(struct virtio_dev *vd)
{
	struct vrng *r = (struct vrng *)vd;

	virtq_chain_free(r->c);
	virtio_dev_destroy(vd);
	free(r);
}

static const struct virtio_dev_ops rng_ops = {
	.notify = rng_notify,
	.destroy = rng_destroy,
};

int virtio_rng_new(struct gmem *mem, struct evloop *loop, struct virtio_dev **out)
{
	struct vrng *r = calloc(1, sizeof(*r));
	int ret;

	if (!r)
		return -ENOMEM;
	r->c = virtq_chain_alloc(VIRTIO_RNG_QUEUE_SIZE);
	if (!r->c) {
		free(r);
		return -ENOMEM;
	}
	ret = virtio_dev_init(&r->vd, "rng", VIRTIO_ID_RNG, &rng_ops, r, 1, VIRTIO_RNG_QUEUE_SIZE,
			      0, mem, loop);
	if (ret < 0) {
		virtq_chain_free(r->c);
		free(r);
		return ret;
	}
	*out = &r->vd;
	return 0;
}

/* --- the device kind (bus/devkind.h) --- */

/* --rng, --rng=on|off */
static int rng_parse_cli(void *cfg, const char *arg, struct error *err)
{
	bool on = true;

	(void)cfg;
	if (arg && keys_parse_bool(arg, &on))
		return error_setf(err, -EINVAL, "expected on or off");
	return on ? 0 : 1;
}

/* "rng": true | false */
static int rng_from_json(void *cfg, struct json_object *o, const char *where, struct error *err)
{
	(void)cfg;
	if (!json_object_is_type(o, json_type_boolean))
		return error_setf(err, -EINVAL, "%s: must be true or false, not %s", where,
				  json_type_to_name(json_object_get_type(o)));
	return json_object_get_boolean(o) ? 0 : 1;
}

static struct json_object *rng_to_json(const void *cfg)
{
	return json_object_new_boolean(cfg != NULL);
}

static void rng_release(void *cfg)
{
	(void)cfg;
}

static int rng_create(struct dev_host *host, const void *cfg, unsigned int index,
		      struct error *err)
{
	struct virtio_dev *vd;
	int ret;

	(void)cfg;
	(void)index;
	ret = virtio_rng_new(host->mem, host->loop, &vd);
	if (ret < 0)
		return error_set_errno(err, ret, "virtio-rng");
	return virtio_attach(host, vd, VIRTIO_CLASS_OTHER, 0, err);
}

const struct dev_kind virtio_rng_kind = {
	.name = "virtio-rng",
	.json_key = "rng",
	.cli_name = "rng",
	.cli_arg = DEV_ARG_OPTIONAL,
	.cli_help = "virtio-rng entropy device (--rng=off: none)",
	.max = 1,
	.cfg_size = sizeof(struct virtio_rng_config),
	.parse_cli = rng_parse_cli,
	.from_json = rng_from_json,
	.to_json = rng_to_json,
	.release = rng_release,
	.create = rng_create,
};
