// SPDX-License-Identifier: MIT
/* GET /vm/stats: per-vCPU CPU time and exits by reason, per-device counters. */
#include <json-c/json.h>
#include <string.h>

#include "api/api-int.h"
#include "vm/vcpu.h"

void api_stats_handle(const struct api_backend *b, const struct api_request *req,
		      struct api_response *resp)
{
	struct json_object *o, *vcpus, *devices, *totals;
	uint64_t sum[VCPU_EXIT_NR] = { 0 }, cpu_ns = 0;
	unsigned int n;

	if (strcmp(req->method, "GET")) {
		api_method_not_allowed(resp, "GET");
		return;
	}
	o = json_object_new_object();
	vcpus = json_object_new_array();
	n = b->vcpu_count(b->opaque);
	for (unsigned int i = 0; i < n; i++) {
		struct vcpu_info vi;

		if (b->vcpu_info(b->opaque, i, &vi, NULL))
			continue;
		for (int k = 0; k < VCPU_EXIT_NR; k++)
			sum[k] += vi.exits[k];
		cpu_ns += vi.cpu_time_ns;
		json_object_array_add(vcpus, api_vcpu_json(&vi, true));
	}
	json_object_object_add(o, "vcpus", vcpus);
	totals = json_object_new_object();
	json_object_object_add(totals, "cpu_time_ns", json_object_new_int64((int64_t)cpu_ns));
	{
		uint64_t all = 0;

		for (int k = 0; k < VCPU_EXIT_NR; k++)
			all += sum[k];
		json_object_object_add(totals, "exits", json_object_new_int64((int64_t)all));
	}
	json_object_object_add(o, "totals", totals);
	devices = json_object_new_object();
	if (b->device_stats)
		b->device_stats(b->opaque, devices);
	json_object_object_add(o, "devices", devices);
	resp->body = o;
	resp->status = 200;
}
