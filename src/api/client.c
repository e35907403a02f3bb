// SPDX-License-Identifier: MIT
/*
 * HTTP over the VM's Unix socket, for the CLI.  Plain sockets and poll():
 * one request, "Connection: close", read to EOF, bounded by a deadline so a
 * hung VMM never hangs the CLI.
 */
#include "api/client.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/util.h"

#define REPLY_MAX (4u << 20)

static int wait_fd(int fd, short ev, uint64_t deadline)
{
	for (;;) {
		uint64_t now = now_ns();
		struct pollfd p = { .fd = fd, .events = ev };
		int r;

		if (now >= deadline)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)((deadline - now) / 1000000 + 1));
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

static int send_all(int fd, const char *buf, size_t len, uint64_t deadline)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			if ((n = wait_fd(fd, POLLOUT, deadline)))
				return (int)n;
			continue;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int parse_reply(char *buf, size_t len, struct api_reply *reply)
{
	char *hdr_end = NULL, *p;
	long clen = -1;

	for (size_t i = 0; i + 3 < len; i++) {
		if (!memcmp(buf + i, "\r\n\r\n", 4)) {
			hdr_end = buf + i;
			break;
		}
	}
	if (!hdr_end || sscanf(buf, "HTTP/1.%*d %d", &reply->status) != 1)
		return -EPROTO;
	*hdr_end = '\0';
	for (p = strstr(buf, "\r\n"); p; p = strstr(p + 2, "\r\n"))
		if (!strncasecmp(p + 2, "Content-Length:", 15))
			clen = strtol(p + 17, NULL, 10);
	p = hdr_end + 4;
	reply->body_len = len - (size_t)(p - buf);
	if (clen >= 0 && (size_t)clen < reply->body_len)
		reply->body_len = (size_t)clen;
	reply->body = malloc(reply->body_len + 1);
	if (!reply->body)
		return -ENOMEM;
	memcpy(reply->body, p, reply->body_len);
	reply->body[reply->body_len] = '\0';
	return 0;
}

/* Connect and send one request; the connected socket (non-blocking) or -errno. */
static int client_send(const char *socket_path, const char *method, const char *path,
		       const char *body, uint64_t deadline, const char *version)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t blen = body ? strlen(body) : 0;
	char head[512];
	int fd, r, n;

	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* A Unix connect does not return EINPROGRESS; EAGAIN means a full backlog. */
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno != EAGAIN && errno != EINTR) {
			r = -errno;
			goto fail;
		}
		if (now_ns() >= deadline) {
			r = -ETIMEDOUT;
			goto fail;
		}
		usleep(1000);
	}
	n = snprintf(head, sizeof(head),
		     "%s %s HTTP/%s\r\nHost: localhost\r\nConnection: close\r\n"
		     "Accept: application/json\r\n%sContent-Length: %zu\r\n\r\n",
		     method, path, version, blen ? "Content-Type: application/json\r\n" : "", blen);
	if (n < 0 || (size_t)n >= sizeof(head)) {
		r = -EINVAL;
		goto fail;
	}
	r = send_all(fd, head, (size_t)n, deadline);
	if (!r)
		r = send_all(fd, body, blen, deadline);
	/* The server may answer (413) and close before reading all of the body. */
	if (r && r != -EPIPE && r != -ECONNRESET)
		goto fail;
	return fd;
fail:
	close(fd);
	return r;
}

int api_client_request(const char *socket_path, const char *method, const char *path,
		       const char *body, int timeout_ms, struct api_reply *reply)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ull;
	size_t len = 0, cap = 4096;
	char *buf = NULL;
	int fd, r;

	memset(reply, 0, sizeof(*reply));
	fd = client_send(socket_path, method, path, body, deadline, "1.1");
	if (fd < 0)
		return fd;
	buf = malloc(cap);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t got;

		if (len + 1 >= cap) {
			char *nb;

			if (cap >= REPLY_MAX) {
				r = -E2BIG;
				goto out;
			}
			nb = realloc(buf, cap * 2);
			if (!nb) {
				r = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap *= 2;
		}
		got = recv(fd, buf + len, cap - len - 1, 0);
		if (got == 0)
			break;
		if (got < 0) {
			if (errno == EINTR)
				continue;
			/* A peer closing with our unread body pending resets us. */
			if (errno == ECONNRESET && len)
				break;
			if (errno != EAGAIN) {
				r = -errno;
				goto out;
			}
			if ((r = wait_fd(fd, POLLIN, deadline)))
				goto out;
			continue;
		}
		len += (size_t)got;
	}
	buf[len] = '\0';
	r = parse_reply(buf, len, reply);
out:
	free(buf);
	close(fd);
	return r;
}

int api_client_stream(const char *socket_path, const char *method, const char *path,
		      const char *body, int timeout_ms, int *stream_fd, struct api_reply *reply)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ull;
	char head[4096];
	size_t len = 0;
	int fd, r, flags;

	memset(reply, 0, sizeof(*reply));
	*stream_fd = -1;
	/* HTTP/1.0: the stream's end is the connection's, no chunked coding */
	fd = client_send(socket_path, method, path, body, deadline, "1.0");
	if (fd < 0)
		return fd;
	/* the head byte by byte, so the body's first byte stays in the socket */
	while (len < 4 || memcmp(head + len - 4, "\r\n\r\n", 4)) {
		ssize_t got;

		if (len + 1 >= sizeof(head)) {
			r = -EPROTO;
			goto fail;
		}
		got = recv(fd, head + len, 1, 0);
		if (got == 0) {
			r = -EPROTO;
			goto fail;
		}
		if (got < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN) {
				r = -errno;
				goto fail;
			}
			if ((r = wait_fd(fd, POLLIN, deadline)))
				goto fail;
			continue;
		}
		len++;
	}
	head[len] = '\0';
	if (sscanf(head, "HTTP/1.%*d %d", &reply->status) != 1) {
		r = -EPROTO;
		goto fail;
	}
	if (reply->status != 200) {
		/* an error: the JSON body, read as api_client_request does */
		char *buf = malloc(REPLY_MAX);
		size_t n = 0;

		if (!buf) {
			r = -ENOMEM;
			goto fail;
		}
		while (n + 1 < REPLY_MAX) {
			ssize_t got = recv(fd, buf + n, REPLY_MAX - n - 1, 0);

			if (got > 0) {
				n += (size_t)got;
			} else if (got < 0 && errno == EAGAIN && !wait_fd(fd, POLLIN, deadline)) {
				continue;
			} else if (!(got < 0 && errno == EINTR)) {
				break;
			}
		}
		buf[n] = '\0';
		reply->body = buf;
		reply->body_len = n;
		close(fd);
		return 0;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
		r = -errno;
		goto fail;
	}
	*stream_fd = fd;
	return 0;
fail:
	close(fd);
	return r;
}

void api_reply_free(struct api_reply *reply)
{
	free(reply->body);
	reply->body = NULL;
}

struct json_object *api_reply_json(const struct api_reply *reply)
{
	if (!reply->body || !reply->body_len)
		return NULL;
	return json_tokener_parse(reply->body);
}

const char *api_reply_error(const struct api_reply *reply, char *buf, size_t len)
{
	struct json_object *o = api_reply_json(reply), *e;

	if (o && json_object_object_get_ex(o, "error", &e))
		snprintf(buf, len, "%s", json_object_get_string(e));
	else
		snprintf(buf, len, "HTTP %d", reply->status);
	json_object_put(o);
	return buf;
}
