// SPDX-License-Identifier: MIT
/*
 * HTTP transport of the REST API: libmicrohttpd on a Unix socket we bind
 * ourselves (MHD_OPTION_LISTEN_SOCKET), in external epoll mode.  MHD's
 * epoll fd sits in the VM's event loop, so requests are parsed and handled
 * on the loop thread: nothing here runs on, or waits for, a vCPU thread.
 * A 1 s timer drives MHD's connection timeouts.
 */
#include <errno.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/api-int.h"
#include "api/mhd.h"
#include "util/evloop.h"
#include "util/listen.h"
#include "util/eventlog.h"
#include "util/log.h"
#include "util/util.h"

struct api_server {
	struct evloop *loop;
	struct api_backend b;
	struct mhd_api mhd;
	struct MHD_Daemon *d;
	int epfd;
	int timer;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct ratelimit error_events; /* API errors written to the lifecycle log */
};

/* Per-request state: the body collected so far. */
struct api_conn {
	char *buf;
	size_t len;
	bool too_big;
};

static enum MHD_Result api_send(struct api_server *s, struct MHD_Connection *conn,
				struct api_response *resp)
{
	struct MHD_Response *r;
	const char *text = "";
	enum MHD_Result ret;
	size_t len = 0;

	if (resp->body) {
		text = json_object_to_json_string_ext(resp->body, JSON_C_TO_STRING_PLAIN);
		len = strlen(text);
	}
	r = s->mhd.create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	if (resp->body)
		s->mhd.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (resp->allow)
		s->mhd.add_response_header(r, MHD_HTTP_HEADER_ALLOW, resp->allow);
	ret = s->mhd.queue_response(conn, resp->status, r);
	s->mhd.destroy_response(r);
	return ret;
}

static enum MHD_Result api_on_request(void *cls, struct MHD_Connection *conn, const char *url,
				      const char *method, const char *version,
				      const char *upload_data, size_t *upload_data_size,
				      void **con_cls)
{
	struct api_server *s = cls;
	struct api_conn *c = *con_cls;
	struct api_response resp = { 0 };
	struct api_request req;
	enum MHD_Result ret;

	if (!c) {
		const char *cl;
		uint64_t n;

		c = calloc(1, sizeof(*c));
		if (!c)
			return MHD_NO;
		*con_cls = c;
		/* Refuse a declared oversized body before reading any of it. */
		cl = s->mhd.lookup_connection_value(conn, MHD_HEADER_KIND,
						 MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && (parse_u64(cl, UINT64_MAX, &n) < 0 || n > API_MAX_BODY)) {
			c->too_big = true;
			api_error(&resp, 413, "request body larger than %d bytes", API_MAX_BODY);
			ret = api_send(s, conn, &resp);
			api_response_free(&resp);
			return ret;
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (c->too_big)
			return MHD_YES;
		if (c->len + n > API_MAX_BODY) {
			/* Chunked uploads have no Content-Length: stop at the limit. */
			free(c->buf);
			c->buf = NULL;
			c->too_big = true;
			return MHD_YES;
		}
		char *nb = realloc(c->buf, c->len + n + 1);

		if (!nb)
			return MHD_NO;
		memcpy(nb + c->len, upload_data, n);
		c->buf = nb;
		c->len += n;
		c->buf[c->len] = '\0';
		return MHD_YES;
	}
	if (c->too_big) {
		api_error(&resp, 413, "request body larger than %d bytes", API_MAX_BODY);
	} else {
		req.method = method;
		req.path = url;
		req.body = c->buf;
		req.body_len = c->len;
		api_dispatch(&s->b, &req, &resp);
	}
	log_debug("api: %s %s -> %u", method, url, resp.status);
	/* rate-limited: a client looping on a bad request must not churn the log */
	if (resp.status >= 400 && ratelimit_allow(&s->error_events)) {
		struct json_object *e = NULL;

		if (resp.body)
			json_object_object_get_ex(resp.body, "error", &e);
		/* %.64s: a client's URL is bounded; eventlog turns controls into '?' */
		event_log("api error: %.8s %.64s -> %u %s", method, url, resp.status,
			  e ? json_object_get_string(e) : "");
	}
	ret = api_send(s, conn, &resp);
	api_response_free(&resp);
	return ret;
}

static void api_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			     enum MHD_RequestTerminationCode toe)
{
	struct api_conn *c = *con_cls;

	if (c) {
		free(c->buf);
		free(c);
		*con_cls = NULL;
	}
}

static void api_mhd_log(void *cls, const char *fmt, va_list ap)
{
	if (log_get_level() >= LOG_DEBUG)
		log_vmsg(LOG_DEBUG, fmt, ap);
}

static void api_poll(struct api_server *s)
{
	MHD_UNSIGNED_LONG_LONG t;

	/* MHD may have work left that no fd will signal (timeout 0). */
	s->mhd.run(s->d);
	for (int i = 0; i < 8 && s->mhd.get_timeout(s->d, &t) == MHD_YES && t == 0; i++)
		s->mhd.run(s->d);
}

static void api_on_epoll(void *opaque, uint32_t events)
{
	api_poll(opaque);
}

static void api_on_timer(void *opaque)
{
	api_poll(opaque);
}

int api_server_start_backend(struct evloop *loop, const struct api_backend *b,
			     const char *socket_path, struct api_server **out, struct error *err)
{
	const union MHD_DaemonInfo *info;
	struct api_server *s;
	int fd, r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return error_setf(err, -ENOMEM, "cannot serve the API on '%s': out of memory",
				  socket_path);
	s->loop = loop;
	s->b = *b;
	s->epfd = -1;
	s->timer = -1;
	snprintf(s->path, sizeof(s->path), "%s", socket_path);
	r = mhd_api_load(&s->mhd, err);
	if (r) {
		free(s);
		return error_prefix(err, "cannot serve the API on '%s'", socket_path);
	}
	/* The API controls the VM: owner only (unix_listen creates it 0600). */
	fd = unix_listen(socket_path, 64);
	if (fd < 0) {
		mhd_api_unload(&s->mhd);
		free(s);
		return error_setf(err, fd, "cannot serve the API on '%s': %s", socket_path,
				  unix_listen_strerror(fd));
	}
	s->d = s->mhd.start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, api_on_request, s,
				MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED,
				api_on_completed, s, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
				MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_EXTERNAL_LOGGER,
				api_mhd_log, s, MHD_OPTION_END);
	if (!s->d) {
		close(fd);
		unlink(socket_path);
		mhd_api_unload(&s->mhd);
		free(s);
		return error_setf(err, -EIO,
				  "cannot serve the API on '%s': libmicrohttpd failed to start",
				  socket_path);
	}
	info = s->mhd.get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info) {
		r = -EIO;
		goto fail;
	}
	s->epfd = info->epoll_fd;
	r = evloop_add(loop, s->epfd, EPOLLIN, api_on_epoll, s);
	if (r)
		goto fail;
	r = evloop_timer_add(loop, 1000000000ull, 1000000000ull, api_on_timer, s);
	if (r < 0) {
		evloop_del(loop, s->epfd);
		goto fail;
	}
	s->timer = r;
	*out = s;
	return 0;
fail:
	s->mhd.stop_daemon(s->d);
	unlink(socket_path);
	mhd_api_unload(&s->mhd);
	free(s);
	return error_set_errno(err, r, "cannot serve the API on '%s'", socket_path);
}

void api_server_stop(struct api_server *s)
{
	if (!s)
		return;
	if (s->timer >= 0)
		evloop_timer_cancel(s->loop, s->timer);
	evloop_del(s->loop, s->epfd);
	/* Closes the listening socket too. */
	s->mhd.stop_daemon(s->d);
	unlink(s->path);
	mhd_api_unload(&s->mhd);
	free(s);
}
