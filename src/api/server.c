// SPDX-License-Identifier: MIT
/*
 * HTTP transport of the REST API: libmicrohttpd on a Unix socket we bind
 * ourselves (MHD_OPTION_LISTEN_SOCKET), in external epoll mode, on a loop
 * of its own in the API thread (role THREAD_API, the smallest seccomp
 * filter: docs/seccomp.md).  A client's bytes, the HTTP parser and the
 * request body are handled there; only a complete request crosses to the
 * VM's event loop (evloop_call), where api_dispatch() runs as before, and
 * the API thread waits for its response.  Nothing here runs on, or waits
 * for, a vCPU thread.  A 1 s timer drives MHD's connection timeouts.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
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
#include "util/threads.h"
#include "util/util.h"

/*
 * One request handed to the VM's loop.  Two references: the API thread's
 * and the queued call's, which may run after the server is gone (the
 * loop's destroy runs what is still queued): it then finds it cancelled.
 */
struct api_job {
	struct api_server *s; /* alive while not cancelled (api_server_stop) */
	bool preset;	      /* resp is the API thread's (413): only log it */
	const struct api_request *req;
	struct api_response resp;
	sem_t done;
	bool cancelled;
	int refs;
};

struct api_server {
	struct evloop *loop;  /* the VM's: api_dispatch() runs there */
	struct evloop *aloop; /* the API thread's: MHD's epoll fd and timer */
	pthread_mutex_t lock; /* job and stopping, between the two */
	struct api_job *job;
	bool stopping;
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

/* A streamed body (a save), read on this thread as the socket drains. */
static ssize_t api_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct api_stream *st = cls;
	size_t n;

	(void)pos;
	n = st->read(st->opaque, (uint8_t *)buf, max);
	return n ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
}

/* The stream is done or its client gone: MHD frees the response. */
static void api_stream_free(void *cls)
{
	struct api_stream *st = cls;

	st->end(st->opaque);
	free(st);
}

static enum MHD_Result api_send_stream(struct api_server *s, struct MHD_Connection *conn,
				       struct api_response *resp)
{
	struct api_stream *st = malloc(sizeof(*st));
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (!st)
		return MHD_NO; /* api_response_free ends the stream */
	*st = resp->stream;
	r = s->mhd.create_response_from_callback(MHD_SIZE_UNKNOWN, 256 * 1024, api_stream_read, st,
						 api_stream_free);
	if (!r) {
		free(st);
		return MHD_NO;
	}
	memset(&resp->stream, 0, sizeof(resp->stream)); /* the response's now */
	s->mhd.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
	ret = s->mhd.queue_response(conn, resp->status, r);
	s->mhd.destroy_response(r);
	return ret;
}

static enum MHD_Result api_send(struct api_server *s, struct MHD_Connection *conn,
				struct api_response *resp)
{
	if (resp->stream.read)
		return api_send_stream(s, conn, resp);

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

static void api_job_put(struct api_job *j)
{
	if (__atomic_sub_fetch(&j->refs, 1, __ATOMIC_ACQ_REL))
		return;
	api_response_free(&j->resp);
	sem_destroy(&j->done);
	free(j);
}

/*
 * The result in the logs, on the loop thread: the lifecycle log takes its
 * append lock and checks its size, which the API thread's filter has not.
 */
static void api_log_result(struct api_server *s, const struct api_request *req,
			   const struct api_response *resp)
{
	log_debug("api: %s %s -> %u", req->method, req->path, resp->status);
	/* rate-limited: a client looping on a bad request must not churn the log */
	if (resp->status >= 400 && ratelimit_allow(&s->error_events)) {
		struct json_object *e = NULL;

		if (resp->body)
			json_object_object_get_ex(resp->body, "error", &e);
		/* %.64s: a client's URL is bounded; eventlog turns controls into '?' */
		event_log("api error: %.8s %.64s -> %u %s", req->method, req->path, resp->status,
			  e ? json_object_get_string(e) : "");
	}
}

/* On the VM's loop thread. */
static void api_job_run(void *opaque)
{
	struct api_job *j = opaque;

	if (!__atomic_load_n(&j->cancelled, __ATOMIC_ACQUIRE)) {
		if (!j->preset)
			api_dispatch(&j->s->b, j->req, &j->resp);
		api_log_result(j->s, j->req, &j->resp);
		sem_post(&j->done);
	}
	api_job_put(j);
}

/*
 * On the API thread: the VM's loop handles req, and this waits for it (with
 * resp already set, the loop only logs it).  A server stopping meanwhile
 * (its loop has ended: api_server_stop) cancels the wait, and the client
 * gets a 503.
 */
static void api_handle(struct api_server *s, const struct api_request *req,
		       struct api_response *resp)
{
	struct api_job *j = calloc(1, sizeof(*j));
	bool cancelled;

	if (!j || sem_init(&j->done, 0, 0)) {
		free(j);
		api_response_free(resp);
		api_error(resp, 500, "out of memory");
		return;
	}
	j->s = s;
	j->req = req;
	j->refs = 2;
	j->preset = resp->status != 0;
	j->resp = *resp;
	memset(resp, 0, sizeof(*resp));
	pthread_mutex_lock(&s->lock);
	if (s->stopping || evloop_call(s->loop, api_job_run, j)) {
		pthread_mutex_unlock(&s->lock);
		api_error(resp, 503, "the VM is stopping");
		j->refs = 1;
		api_job_put(j);
		return;
	}
	s->job = j;
	pthread_mutex_unlock(&s->lock);
	while (sem_wait(&j->done) && errno == EINTR)
		;
	pthread_mutex_lock(&s->lock);
	s->job = NULL;
	cancelled = j->cancelled;
	pthread_mutex_unlock(&s->lock);
	if (cancelled) {
		api_error(resp, 503, "the VM is stopping");
	} else {
		*resp = j->resp;
		memset(&j->resp, 0, sizeof(j->resp));
	}
	api_job_put(j);
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
	req.method = method;
	req.path = url;
	req.body = c->too_big ? NULL : c->buf;
	req.body_len = c->too_big ? 0 : c->len;
	if (c->too_big)
		api_error(&resp, 413, "request body larger than %d bytes", API_MAX_BODY);
	api_handle(s, &req, &resp);
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
	pthread_mutex_init(&s->lock, NULL);
	r = evloop_create(&s->aloop);
	if (r) {
		free(s);
		return error_set_errno(err, r, "cannot serve the API on '%s'", socket_path);
	}
	snprintf(s->path, sizeof(s->path), "%s", socket_path);
	r = mhd_api_load(&s->mhd, err);
	if (r) {
		evloop_destroy(s->aloop);
		free(s);
		return error_prefix(err, "cannot serve the API on '%s'", socket_path);
	}
	/* The API controls the VM: owner only (unix_listen creates it 0600). */
	fd = unix_listen(socket_path, 64);
	if (fd < 0) {
		mhd_api_unload(&s->mhd);
		evloop_destroy(s->aloop);
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
		unix_listen_remove(socket_path);
		mhd_api_unload(&s->mhd);
		evloop_destroy(s->aloop);
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
	r = evloop_add(s->aloop, s->epfd, EPOLLIN, api_on_epoll, s);
	if (r)
		goto fail;
	r = evloop_timer_add(s->aloop, 1000000000ull, 1000000000ull, api_on_timer, s);
	if (r < 0)
		goto fail;
	s->timer = r;
	r = evloop_thread_start(s->aloop, "vessel-api", THREAD_API);
	if (r)
		goto fail;
	*out = s;
	return 0;
fail:
	/* the API thread never ran: the loop's fds and timer go with it */
	evloop_destroy(s->aloop);
	s->mhd.stop_daemon(s->d);
	unix_listen_remove(socket_path);
	mhd_api_unload(&s->mhd);
	free(s);
	return error_set_errno(err, r, "cannot serve the API on '%s'", socket_path);
}

void api_server_stop(struct api_server *s)
{
	if (!s)
		return;
	/*
	 * On the VM's loop thread, or with that loop ended: a request waiting
	 * for it would wait for good, so it is cancelled (api_handle).
	 */
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	if (s->job) {
		__atomic_store_n(&s->job->cancelled, true, __ATOMIC_RELEASE);
		sem_post(&s->job->done);
	}
	pthread_mutex_unlock(&s->lock);
	/* joins the API thread; its timer and MHD's epoll fd go with the loop */
	evloop_destroy(s->aloop);
	/* Closes the listening socket too. */
	s->mhd.stop_daemon(s->d);
	unix_listen_remove(s->path);
	mhd_api_unload(&s->mhd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
