// SPDX-License-Identifier: MIT
/*
 * /vm/vcpus, /vm/vcpus/N, /vm/vcpus/N/affinity and /vm/emulator/affinity:
 * where each vCPU runs (like virsh vcpuinfo) and live pinning.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "api/api-int.h"
#include "util/util.h"
#include "vm/config_json.h"
#include "vm/vcpu.h"

/* Names as the API documents them (docs/api.yaml VcpuInfo). */
static const char *const state_names[] = { "created", "running", "paused", "stopped" };
static const char *const exit_names[VCPU_EXIT_NR] = { "io",	  "mmio",	  "hlt",  "intr",
						      "shutdown", "system_event", "other" };

struct json_object *api_vcpu_json(const struct vcpu_info *vi, bool with_exits)
{
	struct json_object *o = json_object_new_object();
	char buf[512];

	json_object_object_add(o, "id", json_object_new_int((int)vi->id));
	json_object_object_add(o, "tid", json_object_new_int(vi->tid));
	json_object_object_add(o, "state",
			       json_object_new_string((unsigned int)vi->state < 4
							      ? state_names[vi->state]
							      : "unknown"));
	json_object_object_add(o, "host_cpu", json_object_new_int(vi->host_cpu));
	json_object_object_add(o, "cpu_time_ns", json_object_new_int64((int64_t)vi->cpu_time_ns));
	json_object_object_add(
		o, "affinity",
		json_object_new_string(cpuset_format(&vi->affinity, buf, sizeof(buf))));
	if (with_exits) {
		struct json_object *e = json_object_new_object();
		uint64_t total = 0;

		for (int k = 0; k < VCPU_EXIT_NR; k++) {
			json_object_object_add(e, exit_names[k],
					       json_object_new_int64((int64_t)vi->exits[k]));
			total += vi->exits[k];
		}
		json_object_object_add(e, "total", json_object_new_int64((int64_t)total));
		json_object_object_add(o, "exits", e);
	}
	return o;
}

/* Body {"cpus": "0-3"} or {"cpus": [0, 1]} -> cpu set; 400 on error. */
static int affinity_body(const struct api_request *req, struct api_response *resp, cpu_set_t *set)
{
	static const char *const keys[] = { "cpus", NULL };
	struct json_object *body, *v;
	int r = -EINVAL;

	body = api_body_object(req, resp, keys);
	if (!body)
		return -EINVAL;
	CPU_ZERO(set);
	if (!json_object_object_get_ex(body, "cpus", &v)) {
		api_error(resp, 400, "cpus: missing");
	} else if (json_object_is_type(v, json_type_string)) {
		if (cpuset_parse(json_object_get_string(v), set) < 0)
			api_error(resp, 400, "cpus: \"%.32s\" is not a CPU list such as \"0-3,8\"",
				  json_object_get_string(v));
		else
			r = 0;
	} else if (json_object_is_type(v, json_type_array) && json_object_array_length(v) > 0) {
		r = 0;
		for (size_t i = 0; i < json_object_array_length(v) && !r; i++) {
			struct json_object *e = json_object_array_get_idx(v, i);
			int64_t c = json_object_get_int64(e);

			if (!json_object_is_type(e, json_type_int) || c < 0 || c >= CPU_SETSIZE) {
				api_error(resp, 400, "cpus[%zu]: must be a CPU number", i);
				r = -EINVAL;
			} else {
				CPU_SET((int)c, set);
			}
		}
	} else {
		api_error(resp, 400, "cpus: must be a CPU list string or a non-empty array");
	}
	json_object_put(body);
	return r;
}

static void affinity(const struct api_backend *b, const struct api_request *req, int vcpu,
		     struct api_response *resp)
{
	struct error err = ERROR_INIT;
	struct json_object *o;
	struct vcpu_info vi;
	cpu_set_t set;
	char buf[512];
	int r;

	if (!strcmp(req->method, "PUT")) {
		if (affinity_body(req, resp, &set))
			return;
		r = vcpu < 0 ? b->emulator_affinity(b->opaque, &set, true, &err)
			     : b->vcpu_set_affinity(b->opaque, (unsigned int)vcpu, &set, &err);
		if (r)
			api_fail(resp, r, &err, "affinity");
		else
			resp->status = 204;
		return;
	}
	if (strcmp(req->method, "GET")) {
		api_method_not_allowed(resp, "GET, PUT");
		return;
	}
	if (vcpu < 0) {
		r = b->emulator_affinity(b->opaque, &set, false, &err);
	} else {
		r = b->vcpu_info(b->opaque, (unsigned int)vcpu, &vi, &err);
		set = vi.affinity;
	}
	if (r) {
		api_fail(resp, r, &err, "affinity");
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "cpus",
			       json_object_new_string(cpuset_format(&set, buf, sizeof(buf))));
	resp->body = o;
	resp->status = 200;
}

void api_vcpus_handle(const struct api_backend *b, const struct api_request *req, const char *rest,
		      struct api_response *resp)
{
	unsigned int n = b->vcpu_count(b->opaque);
	struct error err = ERROR_INIT;
	struct vcpu_info vi;
	uint64_t id;
	char idbuf[16];
	const char *tail;
	size_t len;
	int r;

	if (!strcmp(rest, "emulator/affinity")) {
		affinity(b, req, -1, resp);
		return;
	}
	if (!strcmp(rest, "vcpus")) {
		struct json_object *a;

		if (strcmp(req->method, "GET")) {
			api_method_not_allowed(resp, "GET");
			return;
		}
		a = json_object_new_array();
		for (unsigned int i = 0; i < n; i++) {
			if (b->vcpu_info(b->opaque, i, &vi, NULL) == 0)
				json_object_array_add(a, api_vcpu_json(&vi, false));
		}
		resp->body = a;
		resp->status = 200;
		return;
	}
	if (strncmp(rest, "vcpus/", 6)) {
		api_error(resp, 404, "no such resource");
		return;
	}
	rest += 6;
	len = strcspn(rest, "/");
	tail = rest + len;
	if (!len || len >= sizeof(idbuf)) {
		api_error(resp, 404, "no such vCPU");
		return;
	}
	memcpy(idbuf, rest, len);
	idbuf[len] = '\0';
	if (idbuf[0] < '0' || idbuf[0] > '9' || parse_u64(idbuf, UINT32_MAX, &id) < 0 || id >= n) {
		api_error(resp, 404, "no such vCPU: %s", idbuf);
		return;
	}
	if (!strcmp(tail, "/affinity")) {
		affinity(b, req, (int)id, resp);
		return;
	}
	if (*tail) {
		api_error(resp, 404, "no such resource");
		return;
	}
	if (strcmp(req->method, "GET")) {
		api_method_not_allowed(resp, "GET");
		return;
	}
	r = b->vcpu_info(b->opaque, (unsigned int)id, &vi, &err);
	if (r) {
		api_fail(resp, r, &err, "vcpu");
		return;
	}
	resp->body = api_vcpu_json(&vi, true);
	resp->status = 200;
}
