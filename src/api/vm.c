// SPDX-License-Identifier: MIT
/*
 * /vm: GET the state and definition; PUT /vm/{pause,resume,shutdown,reboot};
 * PUT /vm/snapshot/create answers 200 with the save stream as its body
 * (docs/snapshot-format.md): the VM stays quiesced until the stream ends;
 * {"disk_snapshot": "S"} has every disk take internal snapshot S at the
 * same instant.  PUT /vm/disk-snapshot/{create,delete} {"name": "S"}
 * takes or deletes internal snapshot S on every disk, the VM quiesced
 * meanwhile, and answers {"disks": N}.
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

/* A PUT's body object with only `allowed` keys (NULL: none), or NULL with resp set. */
static struct json_object *vm_put_body(const struct api_request *req, struct api_response *resp,
				       const char *const *allowed)
{
	if (strcmp(req->method, "PUT")) {
		api_method_not_allowed(resp, "PUT");
		return NULL;
	}
	return api_body_object(req, resp, allowed);
}

/* The string `key` of body, NULL if absent; false (resp set) if not a string. */
static bool vm_body_string(struct json_object *body, const char *key, const char **out,
			   struct api_response *resp)
{
	struct json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(body, key, &v))
		return true;
	if (!json_object_is_type(v, json_type_string)) {
		api_error(resp, 400, "%s: expected a string", key);
		return false;
	}
	*out = json_object_get_string(v);
	return true;
}

static void vm_snapshot_create(const struct api_backend *b, const struct api_request *req,
			       struct api_response *resp)
{
	static const char *const keys[] = { "disk_snapshot", NULL };
	struct error err = ERROR_INIT;
	struct json_object *body = vm_put_body(req, resp, keys);
	const char *disk_snap;
	int r;

	if (!body)
		return;
	if (!vm_body_string(body, "disk_snapshot", &disk_snap, resp))
		goto out;
	if (!b->snapshot_create) {
		api_error(resp, 501, "this VM cannot be saved");
		goto out;
	}
	r = b->snapshot_create(b->opaque, disk_snap, &resp->stream, &err);
	if (r)
		api_fail(resp, r, &err, "save");
	else
		resp->status = 200;
out:
	json_object_put(body);
}

static void vm_disk_snapshot(const struct api_backend *b, const struct api_request *req,
			     bool create, struct api_response *resp)
{
	static const char *const keys[] = { "name", NULL };
	struct error err = ERROR_INIT;
	struct json_object *body = vm_put_body(req, resp, keys);
	const char *name;
	int r;

	if (!body)
		return;
	if (!vm_body_string(body, "name", &name, resp))
		goto out;
	if (!name) {
		api_error(resp, 400, "name: required");
		goto out;
	}
	if (!b->disk_snapshot) {
		api_error(resp, 501, "this VM's disks take no snapshots");
		goto out;
	}
	r = b->disk_snapshot(b->opaque, create, name, &err);
	if (r < 0) {
		api_fail(resp, r, &err,
			 create ? "take the disk snapshot" : "delete the disk snapshot");
		goto out;
	}
	resp->body = json_object_new_object();
	json_object_object_add(resp->body, "disks", json_object_new_int(r));
	resp->status = 200;
out:
	json_object_put(body);
}

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
		vm_snapshot_create(b, req, resp);
		return;
	}
	if (!strcmp(rest, "disk-snapshot/create") || !strcmp(rest, "disk-snapshot/delete")) {
		vm_disk_snapshot(b, req, !strcmp(rest, "disk-snapshot/create"), resp);
		return;
	}
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		if (strcmp(rest, actions[i].name))
			continue;
		/* No options yet; an empty body or {} is accepted. */
		body = vm_put_body(req, resp, NULL);
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
