/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_API_API_INT_H
#define VESSEL_API_API_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "api/server.h"
#include "util/error.h"

/*
 * The HTTP-independent core of the API: a parsed request goes through
 * api_dispatch() to one handler per resource (vm.c, vcpus.c, stats.c) and
 * comes back as a status code and a JSON body.  server.c is only the
 * transport; the fuzz target and unit tests drive api_dispatch() directly.
 */
struct api_request {
	const char *method;
	const char *path;
	const char *body; /* may be NULL when body_len is 0 */
	size_t body_len;
};

struct api_response {
	unsigned int status;
	struct json_object *body; /* owned; NULL for no body (204) */
	const char *allow;	  /* Allow header for 405, else NULL */
	struct api_stream stream; /* a 200 whose body is a byte stream */
};

void api_dispatch(const struct api_backend *b, const struct api_request *req,
		  struct api_response *resp);
void api_response_free(struct api_response *resp);

/* Helpers for handlers. */
void api_error(struct api_response *resp, unsigned int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void api_method_not_allowed(struct api_response *resp, const char *allow);
/* Map a backend -errno to a response; `what` prefixes the message. */
void api_errno(struct api_response *resp, int err, const char *what);
/*
 * A failed backend op: the status from the code (server.h), the body
 * {"error": err's message}; api_errno(resp, code, what) if err is unset.
 */
void api_fail(struct api_response *resp, int code, const struct error *err, const char *what);
/*
 * Parse the body as a JSON object whose keys are all in `allowed`
 * (NULL-terminated); an empty body gives an empty object.  On failure the
 * 400 response is set and NULL returned.
 */
struct json_object *api_body_object(const struct api_request *req, struct api_response *resp,
				    const char *const *allowed);

struct vcpu_info;
/* One vCPU as JSON (docs/api.yaml VcpuInfo), with exit counters or not. */
struct json_object *api_vcpu_json(const struct vcpu_info *vi, bool with_exits);

void api_vm_handle(const struct api_backend *b, const struct api_request *req, const char *rest,
		   struct api_response *resp);
void api_vcpus_handle(const struct api_backend *b, const struct api_request *req, const char *rest,
		      struct api_response *resp);
void api_stats_handle(const struct api_backend *b, const struct api_request *req,
		      struct api_response *resp);
void api_memory_handle(const struct api_backend *b, const struct api_request *req, const char *rest,
		       struct api_response *resp);
void api_numa_handle(const struct api_backend *b, const struct api_request *req,
		     struct api_response *resp);

#endif
