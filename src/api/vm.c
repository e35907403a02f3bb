// SPDX-License-Identifier: MIT
/*
 * /vm: GET the state and definition; PUT /vm/{pause,resume,shutdown,reboot};
 * PUT /vm/snapshot/create answers 200 with the save stream as its body
 * (docs/snapshot-format.md): the VM stays quiesced until the stream ends.
 * Actions answer 204 once requested: shutdown only presses the ACPI power
 * button, so the VM may still be running when the response arrives.
 */
#include <json-c/json.h>
#include <string.h>

#include "api/api-int.h"

static const struct {
	const char *name;
	enum api_action action;
} actions[] = {
	{ "pause", API_ACTION_PAUSE },
	{ "resume", API_ACTION_RESUME },
	{ "shutdown", API_ACTION_SHUTDOWN },
	{ "reboot", API_ACTION_REBOOT },
};

void api_vm_handle(const struct api_backend *b, const struct api_request *req, const char *rest,
		   struct api_response *resp)
{
	struct error err = ERROR_INIT;
	struct json_object *body;
	int r;

	if (!*rest) {
		if (strcmp(req->method, "GET")) {
			api_method_not_allowed(resp, "GET");
			return;
		}
		resp->body = b->describe(b->opaque);
		resp->status = resp->body ? 200 : 500;
		if (!resp->body)
			api_error(resp, 500, "cannot describe the VM");
		return;
	}
	if (!strcmp(rest, "snapshot/create")) {
		if (strcmp(req->method, "PUT")) {
			api_method_not_allowed(resp, "PUT");
			return;
		}
		body = api_body_object(req, resp, NULL);
		if (!body)
			return;
		json_object_put(body);
		if (!b->snapshot_create) {
			api_error(resp, 501, "this VM cannot be saved");
			return;
		}
		r = b->snapshot_create(b->opaque, &resp->stream, &err);
		if (r) {
			api_fail(resp, r, &err, "save");
			return;
		}
		resp->status = 200;
		return;
	}
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		if (strcmp(rest, actions[i].name))
			continue;
		if (strcmp(req->method, "PUT")) {
			api_method_not_allowed(resp, "PUT");
			return;
		}
		/* No options yet; an empty body or {} is accepted. */
		body = api_body_object(req, resp, NULL);
		if (!body)
			return;
		json_object_put(body);
		r = b->action(b->opaque, actions[i].action, &err);
		if (r) {
			api_fail(resp, r, &err, actions[i].name);
			return;
		}
		resp->status = 204;
		return;
	}
	api_error(resp, 404, "no such resource");
}
