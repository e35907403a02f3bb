// SPDX-License-Identifier: MIT
/*
 * API routing and request bodies (api_dispatch) against a fake VM: the
 * input is "METHOD PATH\nBODY".  Every request gets a status in 200..599;
 * every error carries a JSON {"error": ...} body; a 405 names Allow.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api-int.h"
#include "vm/vcpu.h"

static int f_disk_snap(void *o, bool create, const char *name, struct error *err)
{
	(void)o;
	if (!create)
		return error_setf(err, -ENOENT, "no disk has a snapshot '%s'", name);
	return strlen(name) > 8 ? error_setf(err, -ENOTSUP, "a raw disk") : 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fake {
	bool paused;
	cpu_set_t aff[3];
	unsigned int calls;
	uint64_t target;
};

static struct json_object *f_describe(void *o)
{
	return json_object_new_object();
}

static int f_action(void *o, enum api_action a, struct error *err)
{
	struct fake *f = o;

	if (a == API_ACTION_PAUSE || a == API_ACTION_RESUME) {
		if (f->paused == (a == API_ACTION_PAUSE))
			return error_setf(err, -EBUSY, "wrong state");
		f->paused = a == API_ACTION_PAUSE;
	}
	return 0;
}

static unsigned int f_count(void *o)
{
	return 3;
}

static int f_info(void *o, unsigned int id, struct vcpu_info *vi, struct error *err)
{
	struct fake *f = o;

	if (id >= 3)
		abort(); /* the router must bound the id */
	memset(vi, 0, sizeof(*vi));
	vi->id = id;
	vi->affinity = f->aff[id];
	return 0;
}

static int f_set(void *o, unsigned int id, const cpu_set_t *set, struct error *err)
{
	struct fake *f = o;

	if (id >= 3)
		abort();
	f->aff[id] = *set;
	return CPU_COUNT(set) ? 0 : error_setf(err, -EINVAL, "vCPU %u: no CPU", id);
}

static int f_emu(void *o, cpu_set_t *set, bool apply, struct error *err)
{
	if (!apply)
		CPU_ZERO(set);
	return 0;
}

/* A 1 GiB VM whose balloon has a 128 MiB floor, or no balloon on odd calls. */
static int f_mem(void *o, struct api_memory *m, struct error *err)
{
	struct fake *f = o;

	memset(m, 0, sizeof(*m));
	m->size = 1ull << 30;
	m->has_balloon = !(f->calls++ & 1);
	m->balloon.cfg.floor = 128ull << 20;
	m->balloon.target = f->target;
	m->balloon.actual = f->target / 2;
	m->balloon.stats.have = 0x3ff;
	return 0;
}

static int f_bset(void *o, uint64_t bytes, struct error *err)
{
	struct fake *f = o;

	/* The handler must have bounded it by the memory and the floor. */
	if (bytes > (1ull << 30) - (128ull << 20))
		abort();
	f->target = bytes;
	return 0;
}

static int f_period(void *o, unsigned int secs, struct error *err)
{
	if (secs > 86400)
		abort();
	return 0;
}

/* Two guest nodes, the second across the PCI hole (two spans). */
static int f_numa(void *o, struct api_numa *n, struct error *err)
{
	memset(n, 0, sizeof(*n));
	n->mode = "strict";
	n->page_size = 4096;
	n->topology = true;
	n->nr_nodes = 2;
	n->nodes[0] = (struct api_numa_node){ .size = 1ull << 30, .host_nodes = 1, .vcpus = { 1 },
					      .nr_spans = 1, .spans = { { 0x7f0000000000, 1ull << 30 } } };
	n->nodes[1] = (struct api_numa_node){ .size = 3ull << 30, .host_nodes = 2, .vcpus = { 6 },
					      .nr_spans = 2,
					      .spans = { { 0x7f0040000000, 2ull << 30 },
							 { 0x7f00c0000000, 1ull << 30 } } };
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fake f = { 0 };
	const struct api_backend b = {
		&f,   f_describe, f_action, f_count,  f_info, f_set, f_emu,
		NULL, f_mem,	  f_bset,   f_period, f_numa, NULL,  f_disk_snap,
	};
	char method[16], path[512];
	struct api_response resp;
	struct api_request req;
	const uint8_t *nl = memchr(data, '\n', size), *sp;
	size_t head = nl ? (size_t)(nl - data) : size, ml, pl;

	sp = memchr(data, ' ', head);
	if (!sp)
		return 0;
	ml = (size_t)(sp - data);
	pl = head - ml - 1;
	if (ml >= sizeof(method) || pl >= sizeof(path))
		return 0;
	memcpy(method, data, ml);
	method[ml] = '\0';
	memcpy(path, sp + 1, pl);
	path[pl] = '\0';
	req.method = method;
	req.path = path;
	req.body = nl ? (const char *)nl + 1 : NULL;
	req.body_len = nl ? size - head - 1 : 0;
	api_dispatch(&b, &req, &resp);
	if (resp.status < 200 || resp.status > 599)
		abort();
	if (resp.status >= 400) {
		struct json_object *e;

		if (!resp.body || !json_object_object_get_ex(resp.body, "error", &e))
			abort();
	}
	if (resp.status == 405 && !resp.allow)
		abort();
	api_response_free(&resp);
	return 0;
}
