// SPDX-License-Identifier: MIT
/*
 * REST API: routing, status codes and body checks through api_dispatch(),
 * then the real HTTP server (libmicrohttpd on a Unix socket, on an event
 * loop thread) against a fake VM backend, driven by the CLI's client.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api/api-int.h"
#include "api/client.h"
#include "util/error.h"
#include "util/evloop.h"
#include "vm/vcpu.h"

struct fake_vm {
	bool paused;
	int actions;
	cpu_set_t aff[2];
	cpu_set_t emu;
	pthread_t loop_thread;
	bool wrong_thread;
};

static struct json_object *fake_describe(void *o)
{
	struct fake_vm *f = o;
	struct json_object *j = json_object_new_object();

	if (!pthread_equal(pthread_self(), f->loop_thread) && f->loop_thread)
		f->wrong_thread = true;
	json_object_object_add(j, "name", json_object_new_string("fake"));
	json_object_object_add(j, "state",
			       json_object_new_string(f->paused ? "paused" : "running"));
	return j;
}

static int fake_action(void *o, enum api_action a, struct error *err)
{
	struct fake_vm *f = o;

	f->actions++;
	if (a == API_ACTION_PAUSE) {
		if (f->paused)
			return error_setf(err, -EBUSY, "pause: the VM is paused, not running");
		f->paused = true;
	} else if (a == API_ACTION_RESUME) {
		if (!f->paused)
			return -EBUSY; /* no message: the router's generic one */
		f->paused = false;
	} else if (a == API_ACTION_REBOOT) {
		return error_set_errno(err, -EIO, "reboot: the reset line is stuck");
	}
	return 0;
}

static unsigned int fake_count(void *o)
{
	return 2;
}

static int fake_info(void *o, unsigned int id, struct vcpu_info *vi, struct error *err)
{
	struct fake_vm *f = o;

	if (id >= 2)
		return -ENOENT;
	memset(vi, 0, sizeof(*vi));
	vi->id = id;
	vi->tid = 100 + (pid_t)id;
	vi->state = f->paused ? VCPU_PAUSED : VCPU_RUNNING;
	vi->host_cpu = 0;
	vi->cpu_time_ns = 1000;
	vi->affinity = f->aff[id];
	vi->exits[VCPU_EXIT_IO] = 7;
	return 0;
}

static int fake_set_aff(void *o, unsigned int id, const cpu_set_t *set, struct error *err)
{
	struct fake_vm *f = o;

	if (id >= 2)
		return -ENOENT;
	if (CPU_ISSET(1000, set))
		return error_set_errno(err, -EINVAL, "vCPU %u: cannot pin to CPUs 1000", id);
	f->aff[id] = *set;
	return 0;
}

static int fake_emu(void *o, cpu_set_t *set, bool apply, struct error *err)
{
	struct fake_vm *f = o;

	if (apply)
		f->emu = *set;
	else
		*set = f->emu;
	return 0;
}

static void fake_dev_stats(void *o, struct json_object *devs)
{
	struct json_object *d = json_object_new_object();

	json_object_object_add(d, "tx_bytes", json_object_new_int(42));
	json_object_object_add(devs, "uart0", d);
}

static struct api_backend fake_backend(struct fake_vm *f)
{
	struct api_backend b = {
		.opaque = f,
		.describe = fake_describe,
		.action = fake_action,
		.vcpu_count = fake_count,
		.vcpu_info = fake_info,
		.vcpu_set_affinity = fake_set_aff,
		.emulator_affinity = fake_emu,
		.device_stats = fake_dev_stats,
	};

	return b;
}

/* One guest node over the two RAM regions around the PCI hole. */
static int fake_numa(void *opaque, struct api_numa *n, struct error *err)
{
	(void)opaque;
	(void)err;
	memset(n, 0, sizeof(*n));
	n->mode = "interleave";
	n->page_size = 2 << 20;
	n->nr_nodes = 1;
	n->nodes[0].size = 4ull << 30;
	n->nodes[0].host_nodes = 3;
	n->nodes[0].vcpus[0] = 0xf;
	n->nodes[0].nr_spans = 2;
	n->nodes[0].spans[0].hva = 0x7f0000000000;
	n->nodes[0].spans[0].len = 3ull << 30;
	n->nodes[0].spans[1].hva = 0x7f0100000000;
	n->nodes[0].spans[1].len = 1ull << 30;
	return 0;
}

static unsigned int call(const struct api_backend *b, const char *m, const char *p,
			 const char *body, struct api_response *resp)
{
	struct api_request req = { m, p, body, body ? strlen(body) : 0 };

	api_dispatch(b, &req, resp);
	return resp->status;
}

static const char *err_of(struct api_response *r)
{
	struct json_object *e;

	if (r->body && json_object_object_get_ex(r->body, "error", &e))
		return json_object_get_string(e);
	return "";
}

static void test_dispatch(void **state)
{
	struct fake_vm f = { 0 };
	struct api_backend b = fake_backend(&f);
	struct api_response r;

	assert_int_equal(call(&b, "GET", "/vm", NULL, &r), 200);
	api_response_free(&r);
	assert_int_equal(call(&b, "GET", "/vm/?x=1", NULL, &r), 200);
	api_response_free(&r);
	assert_int_equal(call(&b, "POST", "/vm", NULL, &r), 405);
	assert_string_equal(r.allow, "GET");
	api_response_free(&r);
	assert_int_equal(call(&b, "GET", "/vm/pause", NULL, &r), 405);
	assert_string_equal(r.allow, "PUT");
	api_response_free(&r);
	assert_int_equal(call(&b, "GET", "/vmx", NULL, &r), 404);
	api_response_free(&r);
	assert_int_equal(call(&b, "GET", "/", NULL, &r), 404);
	api_response_free(&r);
	assert_int_equal(call(&b, "PUT", "/vm/pause", "", &r), 204);
	assert_int_equal(call(&b, "PUT", "/vm/pause", "{}", &r), 409);
	assert_string_equal(err_of(&r), "pause: the VM is paused, not running");
	api_response_free(&r);
	assert_int_equal(call(&b, "PUT", "/vm/resume", "{\"force\": 1}", &r), 400);
	assert_string_equal(err_of(&r), "unknown field \"force\"");
	api_response_free(&r);
	assert_int_equal(call(&b, "PUT", "/vm/resume", "{\"a\":", &r), 400);
	assert_non_null(strstr(err_of(&r), "invalid JSON"));
	api_response_free(&r);
	assert_int_equal(call(&b, "PUT", "/vm/resume", "[]", &r), 400);
	api_response_free(&r);
	assert_int_equal(call(&b, "PUT", "/vm/resume", "{} {}", &r), 400);
	api_response_free(&r);
	assert_int_equal(f.actions, 2);
	assert_int_equal(call(&b, "PUT", "/vm/resume", " {} ", &r), 204);
	assert_false(f.paused);
	/* Without a message from the backend: the generic one, same status. */
	assert_int_equal(call(&b, "PUT", "/vm/resume", NULL, &r), 409);
	assert_string_equal(err_of(&r), "resume: not possible in the VM's current state");
	api_response_free(&r);
	/* The backend's code picks the status, its message is the body. */
	assert_int_equal(call(&b, "PUT", "/vm/reboot", NULL, &r), 500);
	assert_string_equal(err_of(&r), "reboot: the reset line is stuck: Input/output error");
	api_response_free(&r);

	assert_int_equal(call(&b, "GET", "/vm/vcpus", NULL, &r), 200);
	assert_int_equal(json_object_array_length(r.body), 2);
	api_response_free(&r);
	assert_int_equal(call(&b, "GET", "/vm/vcpus/1", NULL, &r), 200);
	api_response_free(&r);
	assert_int_equal(call(&b, "GET", "/vm/vcpus/2", NULL, &r), 404);
	api_response_free(&r);
	assert_int_equal(call(&b, "GET", "/vm/vcpus/-1/affinity", NULL, &r), 404);
	api_response_free(&r);
	assert_int_equal(call(&b, "GET", "/vm/vcpus/01x/affinity", NULL, &r), 404);
	api_response_free(&r);
	assert_int_equal(call(&b, "PUT", "/vm/vcpus/1/affinity", "{\"cpus\": \"0-1\"}", &r), 204);
	assert_true(CPU_ISSET(1, &f.aff[1]) && CPU_COUNT(&f.aff[1]) == 2);
	assert_int_equal(call(&b, "PUT", "/vm/vcpus/0/affinity", "{\"cpus\": [3]}", &r), 204);
	assert_true(CPU_ISSET(3, &f.aff[0]));
	assert_int_equal(call(&b, "PUT", "/vm/vcpus/0/affinity", "{\"cpus\": \"a\"}", &r), 400);
	api_response_free(&r);
	assert_int_equal(call(&b, "PUT", "/vm/vcpus/0/affinity", "{\"cpus\": [-1]}", &r), 400);
	api_response_free(&r);
	assert_int_equal(call(&b, "PUT", "/vm/vcpus/1/affinity", "{\"cpus\": [1000]}", &r), 400);
	assert_string_equal(err_of(&r), "vCPU 1: cannot pin to CPUs 1000: Invalid argument");
	api_response_free(&r);
	assert_int_equal(call(&b, "PUT", "/vm/vcpus/0/affinity", "{}", &r), 400);
	assert_string_equal(err_of(&r), "cpus: missing");
	api_response_free(&r);
	assert_int_equal(call(&b, "DELETE", "/vm/vcpus/0/affinity", NULL, &r), 405);
	assert_string_equal(r.allow, "GET, PUT");
	api_response_free(&r);
	assert_int_equal(call(&b, "PUT", "/vm/emulator/affinity", "{\"cpus\": \"1\"}", &r), 204);
	assert_int_equal(call(&b, "GET", "/vm/emulator/affinity", NULL, &r), 200);
	api_response_free(&r);
	assert_int_equal(call(&b, "GET", "/vm/stats", NULL, &r), 200);
	assert_non_null(strstr(json_object_to_json_string_ext(r.body, JSON_C_TO_STRING_PLAIN),
			       "\"tx_bytes\":42"));
	api_response_free(&r);
}

static void *loop_main(void *arg)
{
	evloop_run(arg);
	return NULL;
}

static void set_thread(void *arg)
{
	((struct fake_vm *)arg)->loop_thread = pthread_self();
}

static void test_numa_layout(void **state)
{
	struct fake_vm f = { 0 };
	struct api_backend b = fake_backend(&f);
	struct json_object *nodes, *n, *spans, *v;
	struct api_response r;

	(void)state;
	/* A backend without the op: 501, as for memory. */
	assert_int_equal(call(&b, "GET", "/vm/numa", NULL, &r), 501);
	api_response_free(&r);
	b.numa_layout = fake_numa;
	assert_int_equal(call(&b, "PUT", "/vm/numa", "{}", &r), 405);
	assert_string_equal(r.allow, "GET");
	api_response_free(&r);
	assert_int_equal(call(&b, "GET", "/vm/numa/x", NULL, &r), 404);
	api_response_free(&r);
	assert_int_equal(call(&b, "GET", "/vm/numa", NULL, &r), 200);
	assert_true(json_object_object_get_ex(r.body, "mode", &v));
	assert_string_equal(json_object_get_string(v), "interleave");
	assert_true(json_object_object_get_ex(r.body, "page_size", &v));
	assert_int_equal(json_object_get_int64(v), 2 << 20);
	assert_true(json_object_object_get_ex(r.body, "nodes", &nodes));
	assert_int_equal(json_object_array_length(nodes), 1);
	n = json_object_array_get_idx(nodes, 0);
	assert_true(json_object_object_get_ex(n, "host_nodes", &v));
	assert_string_equal(json_object_get_string(v), "0-1");
	assert_true(json_object_object_get_ex(n, "vcpus", &v));
	assert_string_equal(json_object_get_string(v), "0-3");
	assert_true(json_object_object_get_ex(n, "spans", &spans));
	assert_int_equal(json_object_array_length(spans), 2);
	assert_true(json_object_object_get_ex(json_object_array_get_idx(spans, 1), "hva", &v));
	assert_int_equal(json_object_get_int64(v), 0x7f0100000000);
	assert_true(json_object_object_get_ex(json_object_array_get_idx(spans, 1), "length", &v));
	assert_int_equal(json_object_get_int64(v), 1ll << 30);
	api_response_free(&r);
}

static void test_http(void **state)
{
	struct fake_vm f = { 0 };
	struct api_backend b = fake_backend(&f);
	struct api_server *srv;
	struct evloop *loop;
	struct api_reply rep;
	char path[256], errbuf[128], *big;
	pthread_t th;
	const char *dir = getenv("UNIT_TMPDIR");

	snprintf(path, sizeof(path), "%s/api-%d.sock", dir ? dir : "/tmp", getpid());
	assert_int_equal(evloop_create(&loop), 0);
	assert_int_equal(api_server_start_backend(loop, &b, path, &srv, NULL), 0);
	/* A second server on a live socket is refused, not stolen. */
	{
		struct error e = ERROR_INIT;
		struct api_server *s2;

		assert_int_equal(api_server_start_backend(loop, &b, path, &s2, &e), -EADDRINUSE);
		assert_non_null(strstr(error_msg(&e), path));
		assert_non_null(strstr(error_msg(&e), "another process is listening on it"));
	}
	evloop_call(loop, set_thread, &f);
	assert_int_equal(pthread_create(&th, NULL, loop_main, loop), 0);

	assert_int_equal(api_client_request(path, "GET", "/vm", NULL, 2000, &rep), 0);
	assert_int_equal(rep.status, 200);
	assert_non_null(strstr(rep.body, "\"name\":\"fake\""));
	api_reply_free(&rep);
	assert_int_equal(api_client_request(path, "PUT", "/vm/pause", NULL, 2000, &rep), 0);
	assert_int_equal(rep.status, 204);
	api_reply_free(&rep);
	assert_int_equal(api_client_request(path, "PUT", "/vm/pause", NULL, 2000, &rep), 0);
	assert_int_equal(rep.status, 409);
	/* The backend's precise message arrives in the HTTP body. */
	assert_string_equal(api_reply_error(&rep, errbuf, sizeof(errbuf)),
			    "pause: the VM is paused, not running");
	api_reply_free(&rep);
	assert_int_equal(api_client_request(path, "PUT", "/vm/resume", "{bad", 2000, &rep), 0);
	assert_int_equal(rep.status, 400);
	assert_non_null(strstr(api_reply_error(&rep, errbuf, sizeof(errbuf)), "invalid JSON"));
	api_reply_free(&rep);
	assert_int_equal(api_client_request(path, "DELETE", "/vm", NULL, 2000, &rep), 0);
	assert_int_equal(rep.status, 405);
	api_reply_free(&rep);
	assert_int_equal(api_client_request(path, "GET", "/nope", NULL, 2000, &rep), 0);
	assert_int_equal(rep.status, 404);
	api_reply_free(&rep);

	big = malloc(API_MAX_BODY + 100);
	memset(big, ' ', API_MAX_BODY + 99);
	big[0] = '{';
	big[API_MAX_BODY + 98] = '}';
	big[API_MAX_BODY + 99] = '\0';
	assert_int_equal(api_client_request(path, "PUT", "/vm/resume", big, 2000, &rep), 0);
	assert_int_equal(rep.status, 413);
	api_reply_free(&rep);
	free(big);

	/* The server still answers after all of that, on the loop thread. */
	assert_int_equal(api_client_request(path, "PUT", "/vm/resume", "{}", 2000, &rep), 0);
	assert_int_equal(rep.status, 204);
	api_reply_free(&rep);
	assert_int_equal(api_client_request(path, "GET", "/vm/stats", NULL, 2000, &rep), 0);
	assert_int_equal(rep.status, 200);
	api_reply_free(&rep);
	assert_false(f.wrong_thread);

	evloop_stop(loop);
	pthread_join(th, NULL);
	api_server_stop(srv);
	assert_int_not_equal(access(path, F_OK), 0);
	assert_int_equal(api_client_request(path, "GET", "/vm", NULL, 200, &rep), -ENOENT);
	evloop_destroy(loop);
}

/*
 * --api-socket naming an existing regular file (a typo, a config file)
 * must leave it alone, and a stale socket is replaced by one only the
 * owner can connect to, even under umask 0 (issue 9 item 5).
 */
static void test_listen_policy(void **state)
{
	struct fake_vm f = { 0 };
	struct api_backend b = fake_backend(&f);
	struct api_server *srv;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct evloop *loop;
	char path[108], buf[8] = { 0 };
	const char *dir = getenv("UNIT_TMPDIR");
	struct stat st;
	mode_t old;
	int fd;

	snprintf(path, sizeof(path), "%s/api-file-%d", dir ? dir : "/tmp", getpid());
	assert_int_equal(evloop_create(&loop), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "keep", 4), 4);
	close(fd);
	assert_int_equal(api_server_start_backend(loop, &b, path, &srv, NULL), -EEXIST);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 4);
	close(fd);
	assert_string_equal(buf, "keep");
	unlink(path);

	/* A socket nobody listens on, left by a vessel that was killed. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	old = umask(0);
	assert_int_equal(api_server_start_backend(loop, &b, path, &srv, NULL), 0);
	umask(old);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	api_server_stop(srv);
	evloop_destroy(loop);
}

struct waiting_client {
	const char *path;
	int ret;
	unsigned int status;
};

static void *client_main(void *arg)
{
	struct waiting_client *c = arg;
	struct api_reply rep;

	c->ret = api_client_request(c->path, "GET", "/vm", NULL, 3000, &rep);
	if (!c->ret) {
		c->status = rep.status;
		api_reply_free(&rep);
	}
	return NULL;
}

/*
 * The HTTP side runs on the API thread, the handlers on the VM's loop: a
 * request waiting for a loop that has ended is cancelled when the server
 * stops (it would wait for good, and the stop with it), and the call still
 * queued on that loop finds it cancelled when the loop is destroyed.
 */
static void test_stop_cancels_a_waiting_request(void **state)
{
	struct fake_vm f = { 0 };
	struct api_backend b = fake_backend(&f);
	struct waiting_client c = { 0 };
	struct api_server *srv;
	struct timespec t0, t1;
	struct evloop *loop;
	char path[256];
	const char *dir = getenv("UNIT_TMPDIR");
	pthread_t th;

	snprintf(path, sizeof(path), "%s/api-stop-%d.sock", dir ? dir : "/tmp", getpid());
	c.path = path;
	assert_int_equal(evloop_create(&loop), 0);
	assert_int_equal(api_server_start_backend(loop, &b, path, &srv, NULL), 0);
	/* nobody runs `loop`: the request is parsed, handed over, and waits */
	assert_int_equal(pthread_create(&th, NULL, client_main, &c), 0);
	usleep(300 * 1000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	api_server_stop(srv);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pthread_join(th, NULL);
	assert_true(t1.tv_sec - t0.tv_sec < 2);
	print_message("waiting request: ret %d status %u\n", c.ret, c.status);
	/* a 503, or the connection closed under it: never an answer from the VM */
	assert_true(c.ret < 0 || c.status == 503);
	assert_int_equal(f.actions, 0);
	evloop_destroy(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dispatch),
		cmocka_unit_test(test_numa_layout),
		cmocka_unit_test(test_http),
		cmocka_unit_test(test_listen_policy),
		cmocka_unit_test(test_stop_cancels_a_waiting_request),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
