// SPDX-License-Identifier: MIT
/*
 * /vm/memory: the VM's memory, its balloon and the guest's memory
 * statistics (like virsh dommemstat), and PUT /vm/memory/target (virsh
 * setmem) and /vm/memory/stats_period (dommemstat --period); /vm/numa,
 * the guest NUMA nodes' layout for `vessel numastat`.
 * docs/api.yaml, docs/memory.md.
 */
#include <errno.h>
#include <json-c/json.h>
#include <string.h>

#include "api/api-int.h"
#include "util/util.h"
#include "vm/config_json.h"

/* virsh's names for the driver's tags (5.5.6.3), in bytes or counts. */
static const char *const stat_names[VIRTIO_BALLOON_NR_STATS] = {
	[VIRTIO_BALLOON_S_SWAP_IN] = "swap_in",
	[VIRTIO_BALLOON_S_SWAP_OUT] = "swap_out",
	[VIRTIO_BALLOON_S_MAJFLT] = "major_fault",
	[VIRTIO_BALLOON_S_MINFLT] = "minor_fault",
	[VIRTIO_BALLOON_S_MEMFREE] = "unused",
	[VIRTIO_BALLOON_S_MEMTOT] = "available",
	[VIRTIO_BALLOON_S_AVAIL] = "usable",
	[VIRTIO_BALLOON_S_CACHES] = "disk_caches",
	[VIRTIO_BALLOON_S_HTLB_PGALLOC] = "hugetlb_pgalloc",
	[VIRTIO_BALLOON_S_HTLB_PGFAIL] = "hugetlb_pgfail",
};

static void add_u64(struct json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_int64((int64_t)v));
}

static struct json_object *memory_json(const struct api_memory *m)
{
	const struct virtio_balloon_state *b = &m->balloon;
	struct json_object *o = json_object_new_object(), *bo, *st;

	add_u64(o, "size", m->size);
	add_u64(o, "rss", m->rss);
	if (!m->has_balloon) {
		json_object_object_add(o, "balloon", NULL);
		return o;
	}
	/* What the guest has and is asked to have, as virsh's "actual" counts. */
	add_u64(o, "target", m->size - b->target);
	add_u64(o, "actual", m->size - (b->actual < m->size ? b->actual : m->size));
	bo = json_object_new_object();
	add_u64(bo, "target_bytes", b->target);
	add_u64(bo, "actual_bytes", b->actual);
	add_u64(bo, "floor", b->cfg.floor);
	add_u64(bo, "stats_period", b->stats_period);
	json_object_object_add(bo, "driver", json_object_new_boolean(b->driver));
	json_object_object_add(bo, "deflate_on_oom", json_object_new_boolean(b->deflate_on_oom));
	json_object_object_add(bo, "free_page_reporting", json_object_new_boolean(b->reporting));
	json_object_object_add(o, "balloon", bo);
	st = json_object_new_object();
	for (unsigned int t = 0; t < VIRTIO_BALLOON_NR_STATS; t++)
		if (b->stats.have & (1u << t))
			add_u64(st, stat_names[t], b->stats.val[t]);
	if (b->stats.last_update)
		add_u64(st, "last_update", b->stats.last_update);
	json_object_object_add(o, "stats", st);
	return o;
}

/* {"size": "256M"} or {"size": 268435456}: the guest's memory to be. */
static int target_body(const struct api_request *req, struct api_response *resp, uint64_t *size)
{
	static const char *const keys[] = { "size", NULL };
	struct json_object *body = api_body_object(req, resp, keys), *v;
	int r = -EINVAL;

	if (!body)
		return -EINVAL;
	if (!json_object_object_get_ex(body, "size", &v))
		api_error(resp, 400, "size: missing");
	else if (json_object_is_type(v, json_type_string) &&
		 parse_size(json_object_get_string(v), size) == 0)
		r = 0;
	else if (json_object_is_type(v, json_type_int) && json_object_get_int64(v) > 0)
		*size = (uint64_t)json_object_get_int64(v), r = 0;
	else
		api_error(resp, 400, "size: must be a size such as \"512M\" or a number of bytes");
	json_object_put(body);
	return r;
}

static void memory_target(const struct api_backend *b, const struct api_request *req,
			  struct api_response *resp)
{
	struct error err = ERROR_INIT;
	struct api_memory m;
	char s1[32], s2[32];
	uint64_t size;
	int r;

	if (target_body(req, resp, &size))
		return;
	if ((r = b->memory_get(b->opaque, &m, &err))) {
		api_fail(resp, r, &err, "memory");
		return;
	}
	if (!m.has_balloon) {
		api_error(resp, 409, "this VM has no balloon (memory.balloon in its definition)");
		return;
	}
	format_size(size, s1, sizeof(s1));
	if (size > m.size) {
		format_size(m.size, s2, sizeof(s2));
		api_error(resp, 400, "size: %s is more than the VM's memory (%s)", s1, s2);
		return;
	}
	if (size < m.balloon.cfg.floor || size < 4096) {
		format_size(m.balloon.cfg.floor, s2, sizeof(s2));
		api_error(resp, 400, "size: %s is below the balloon's floor (%s)", s1, s2);
		return;
	}
	if ((r = b->balloon_set(b->opaque, (m.size - size) & ~4095ull, &err))) {
		api_fail(resp, r, &err, "memory target");
		return;
	}
	resp->status = 204;
}

static void memory_period(const struct api_backend *b, const struct api_request *req,
			  struct api_response *resp)
{
	static const char *const keys[] = { "period", NULL };
	struct json_object *body = api_body_object(req, resp, keys), *v;
	struct error err = ERROR_INIT;
	struct api_memory m;
	int64_t secs;
	int r;

	if (!body)
		return;
	if (!json_object_object_get_ex(body, "period", &v) ||
	    !json_object_is_type(v, json_type_int) || (secs = json_object_get_int64(v)) < 0 ||
	    secs > 86400) {
		json_object_put(body);
		api_error(resp, 400, "period: must be a number of seconds in 0..86400");
		return;
	}
	json_object_put(body);
	if ((r = b->memory_get(b->opaque, &m, &err))) {
		api_fail(resp, r, &err, "memory");
		return;
	}
	if (!m.has_balloon) {
		api_error(resp, 409, "this VM has no balloon (memory.balloon in its definition)");
		return;
	}
	if ((r = b->balloon_period(b->opaque, (unsigned int)secs, &err))) {
		api_fail(resp, r, &err, "stats period");
		return;
	}
	resp->status = 204;
}

void api_memory_handle(const struct api_backend *b, const struct api_request *req, const char *rest,
		       struct api_response *resp)
{
	const char *sub = strcmp(rest, "memory") ? rest + strlen("memory/") : "";
	struct error err = ERROR_INIT;
	struct api_memory m;
	int r;

	if (!b->memory_get || !b->balloon_set || !b->balloon_period) {
		api_error(resp, 501, "this VMM has no memory control");
		return;
	}
	if (!*sub) {
		if (strcmp(req->method, "GET")) {
			api_method_not_allowed(resp, "GET");
			return;
		}
		if ((r = b->memory_get(b->opaque, &m, &err))) {
			api_fail(resp, r, &err, "memory");
			return;
		}
		resp->body = memory_json(&m);
		resp->status = 200;
		return;
	}
	if (strcmp(sub, "target") && strcmp(sub, "stats_period")) {
		api_error(resp, 404, "no such resource: /vm/memory/%.32s", sub);
		return;
	}
	if (strcmp(req->method, "PUT")) {
		api_method_not_allowed(resp, "PUT");
		return;
	}
	if (!strcmp(sub, "target"))
		memory_target(b, req, resp);
	else
		memory_period(b, req, resp);
}

static struct json_object *nodes_string(const uint64_t *bits, unsigned int nbits)
{
	char buf[512];
	bool any = false;

	for (unsigned int i = 0; i < nbits / 64; i++)
		any |= bits[i] != 0;
	return any ? json_object_new_string(bitmap_format(bits, nbits, buf, sizeof(buf))) : NULL;
}

void api_numa_handle(const struct api_backend *b, const struct api_request *req,
		     struct api_response *resp)
{
	struct error err = ERROR_INIT;
	struct json_object *o, *nodes;
	struct api_numa n;
	int r;

	if (!b->numa_layout) {
		api_error(resp, 501, "this VMM has no NUMA layout");
		return;
	}
	if (strcmp(req->method, "GET")) {
		api_method_not_allowed(resp, "GET");
		return;
	}
	if ((r = b->numa_layout(b->opaque, &n, &err))) {
		api_fail(resp, r, &err, "numa");
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "mode", json_object_new_string(n.mode ? n.mode : "none"));
	add_u64(o, "page_size", n.page_size);
	json_object_object_add(o, "topology", json_object_new_boolean(n.topology));
	nodes = json_object_new_array();
	for (unsigned int i = 0; i < n.nr_nodes && i < API_NUMA_MAX_NODES; i++) {
		const struct api_numa_node *nd = &n.nodes[i];
		struct json_object *no = json_object_new_object(), *spans = json_object_new_array();

		json_object_object_add(no, "id", json_object_new_int((int)i));
		add_u64(no, "size", nd->size);
		json_object_object_add(no, "host_nodes", nodes_string(&nd->host_nodes, 64));
		json_object_object_add(no, "vcpus", nodes_string(nd->vcpus, API_NUMA_MAX_VCPUS));
		for (unsigned int k = 0; k < nd->nr_spans && k < API_NUMA_MAX_SPANS; k++) {
			struct json_object *sp = json_object_new_object();

			add_u64(sp, "hva", nd->spans[k].hva);
			add_u64(sp, "length", nd->spans[k].len);
			json_object_array_add(spans, sp);
		}
		json_object_object_add(no, "spans", spans);
		json_object_array_add(nodes, no);
	}
	json_object_object_add(o, "nodes", nodes);
	resp->body = o;
	resp->status = 200;
}
