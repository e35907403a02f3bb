// SPDX-License-Identifier: MIT
/* API request routing, error responses and strict JSON body parsing. */
#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api/api-int.h"

void api_response_free(struct api_response *resp)
{
	json_object_put(resp->body);
	resp->body = NULL;
	/* a stream never sent still ends: the VM must resume */
	if (resp->stream.end)
		resp->stream.end(resp->stream.opaque);
	memset(&resp->stream, 0, sizeof(resp->stream));
}

void api_error(struct api_response *resp, unsigned int status, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_put(resp->body);
	resp->status = status;
	resp->body = json_object_new_object();
	json_object_object_add(resp->body, "error", json_object_new_string(msg));
}

void api_method_not_allowed(struct api_response *resp, const char *allow)
{
	api_error(resp, 405, "method not allowed (allowed: %s)", allow);
	resp->allow = allow;
}

/* The status of a backend -errno (the table in server.h). */
static unsigned int api_status_of(int err)
{
	switch (err) {
	case -ENOENT:
		return 404;
	case -EBUSY:
	case -EEXIST:
	case -EALREADY:
	case -EAGAIN:
		return 409;
	case -EINVAL:
	case -ERANGE:
		return 400;
	case -EPERM:
	case -EACCES:
		return 403;
	case -ENOTSUP:
		return 501;
	default:
		return 500;
	}
}

void api_errno(struct api_response *resp, int err, const char *what)
{
	unsigned int st = api_status_of(err);

	if (st == 404)
		api_error(resp, st, "%s: not found", what);
	else if (st == 409)
		api_error(resp, st, "%s: not possible in the VM's current state", what);
	else if (st == 501)
		api_error(resp, st, "%s: not supported", what);
	else
		api_error(resp, st, "%s: %s", what, strerror(err < 0 ? -err : err));
}

void api_fail(struct api_response *resp, int code, const struct error *err, const char *what)
{
	/* The backend's message is the precise one; the code it set wins too. */
	if (error_is_set(err))
		api_error(resp, api_status_of(err->code), "%s", error_msg(err));
	else
		api_errno(resp, code, what);
}

struct json_object *api_body_object(const struct api_request *req, struct api_response *resp,
				    const char *const *allowed)
{
	struct json_tokener *tok;
	struct json_object *o;
	size_t end;

	for (end = 0; end < req->body_len && isspace((unsigned char)req->body[end]); end++)
		;
	if (end == req->body_len)
		return json_object_new_object();
	if (req->body_len > API_MAX_BODY) {
		api_error(resp, 413, "request body larger than %d bytes", API_MAX_BODY);
		return NULL;
	}
	/* A shallow depth: no API body nests more than two levels. */
	tok = json_tokener_new_ex(8);
	if (!tok) {
		api_error(resp, 500, "out of memory");
		return NULL;
	}
	o = json_tokener_parse_ex(tok, req->body, (int)req->body_len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success) {
		enum json_tokener_error e = json_tokener_get_error(tok);

		if (e == json_tokener_continue)
			e = json_tokener_error_parse_eof;
		api_error(resp, 400, "invalid JSON at offset %zu: %s",
			  json_tokener_get_parse_end(tok), json_tokener_error_desc(e));
		json_object_put(o);
		json_tokener_free(tok);
		return NULL;
	}
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	for (; end < req->body_len; end++) {
		if (!isspace((unsigned char)req->body[end])) {
			api_error(resp, 400, "invalid JSON at offset %zu: trailing data", end);
			json_object_put(o);
			return NULL;
		}
	}
	if (!json_object_is_type(o, json_type_object)) {
		api_error(resp, 400, "body must be a JSON object");
		json_object_put(o);
		return NULL;
	}
	json_object_object_foreach(o, key, val)
	{
		bool ok = false;

		(void)val;
		for (const char *const *a = allowed; a && *a; a++)
			if (!strcmp(*a, key))
				ok = true;
		if (!ok) {
			api_error(resp, 400, "unknown field \"%.64s\"", key);
			json_object_put(o);
			return NULL;
		}
	}
	return o;
}

/* Does `path` start with the segment `seg`, followed by '/' or its end? */
static const char *segment(const char *path, const char *seg)
{
	size_t n = strlen(seg);

	if (strncmp(path, seg, n))
		return NULL;
	if (path[n] == '\0')
		return path + n;
	if (path[n] == '/')
		return path + n + 1;
	return NULL;
}

void api_dispatch(const struct api_backend *b, const struct api_request *req,
		  struct api_response *resp)
{
	char path[256];
	const char *rest;
	size_t n;

	resp->status = 500;
	resp->body = NULL;
	resp->allow = NULL;
	memset(&resp->stream, 0, sizeof(resp->stream));
	if (!req->path || !req->method) {
		api_error(resp, 400, "bad request");
		return;
	}
	/* The query string carries nothing in this API. */
	n = strcspn(req->path, "?");
	if (n >= sizeof(path)) {
		api_error(resp, 414, "path too long");
		return;
	}
	memcpy(path, req->path, n);
	path[n] = '\0';
	/* One trailing slash is tolerated ("/vm/"). */
	if (n > 1 && path[n - 1] == '/')
		path[n - 1] = '\0';

	if (path[0] != '/' || !(rest = segment(path + 1, "vm"))) {
		api_error(resp, 404, "no such resource: %.64s", path);
		return;
	}
	if (!*rest || !strcmp(rest, "pause") || !strcmp(rest, "resume") ||
	    !strcmp(rest, "shutdown") || !strcmp(rest, "reboot") ||
	    !strcmp(rest, "snapshot/create")) {
		api_vm_handle(b, req, rest, resp);
	} else if (segment(rest, "vcpus") || segment(rest, "emulator")) {
		api_vcpus_handle(b, req, rest, resp);
	} else if (!strcmp(rest, "stats")) {
		api_stats_handle(b, req, resp);
	} else if (segment(rest, "memory")) {
		api_memory_handle(b, req, rest, resp);
	} else if (!strcmp(rest, "numa")) {
		api_numa_handle(b, req, resp);
	} else {
		api_error(resp, 404, "no such resource: %.64s", path);
	}
}
