/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_API_CLIENT_H
#define VESSEL_API_CLIENT_H

#include <stddef.h>

struct json_object;

/*
 * A small HTTP/1.1 client for the per-VM API socket (the CLI is a client
 * of the API).  One request per connection.  Returns 0 and the HTTP status
 * in *status, or -errno when the VMM cannot be reached in `timeout_ms`.
 */
struct api_reply {
	int status;
	char *body; /* NUL-terminated, malloc'd; may be empty */
	size_t body_len;
};

int api_client_request(const char *socket_path, const char *method, const char *path,
		       const char *body, int timeout_ms, struct api_reply *reply);
/*
 * A request whose 200 answer is a byte stream (PUT /vm/snapshot/create):
 * *stream_fd is the socket (blocking) positioned at the body's first
 * byte, to read to EOF and close.  Any other status comes back in *reply
 * with *stream_fd -1.  0 or -errno.
 */
int api_client_stream(const char *socket_path, const char *method, const char *path,
		      const char *body, int timeout_ms, int *stream_fd, struct api_reply *reply);
void api_reply_free(struct api_reply *reply);
/* The body parsed as JSON, or NULL. */
struct json_object *api_reply_json(const struct api_reply *reply);
/* The "error" string of an error reply, or a generic text. */
const char *api_reply_error(const struct api_reply *reply, char *buf, size_t len);

#endif
