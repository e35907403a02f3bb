// SPDX-License-Identifier: MIT
/*
 * Host memory admission control (mgmt/admission.h, docs/memory.md).
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mgmt/admission.h"
#include "util/error.h"
#include "util/util.h"
#include "vm/config.h"

/* --- the policy --- */

int host_policy_load(const struct state_dirs *d, struct host_policy *p, struct error *err)
{
	char path[STATE_PATH_MAX + 16];
	struct json_object *j, *m, *v;
	int r = 0;

	p->ratio = 1.0;
	p->reserve = 0;
	p->from_file = false;
	snprintf(path, sizeof(path), "%s/host.json", d->data);
	if (access(path, F_OK))
		return 0;
	j = json_object_from_file(path);
	if (!j || !json_object_is_type(j, json_type_object)) {
		json_object_put(j);
		return error_setf(err, -EINVAL, "%s: not a JSON object", path);
	}
	p->from_file = true;
	json_object_object_foreach(j, key, val)
	{
		(void)val;
		if (strcmp(key, "memory"))
			r = error_setf(err, -EINVAL, "%s: unknown key \"%.32s\"", path, key);
	}
	if (!r && json_object_object_get_ex(j, "memory", &m)) {
		json_object_object_foreach(m, k2, v2)
		{
			(void)v2;
			if (strcmp(k2, "overcommit_ratio") && strcmp(k2, "reserve"))
				r = error_setf(err, -EINVAL, "%s: memory: unknown key \"%.32s\"", path,
					       k2);
		}
		if (!r && json_object_object_get_ex(m, "overcommit_ratio", &v)) {
			if ((!json_object_is_type(v, json_type_double) &&
			     !json_object_is_type(v, json_type_int)) ||
			    json_object_get_double(v) < 1.0 || json_object_get_double(v) > 100.0)
				r = error_setf(err, -EINVAL,
					       "%s: memory.overcommit_ratio: must be a number in "
					       "1..100",
					       path);
			else
				p->ratio = json_object_get_double(v);
		}
		if (!r && json_object_object_get_ex(m, "reserve", &v) &&
		    (!json_object_is_type(v, json_type_string) ||
		     parse_size(json_object_get_string(v), &p->reserve)))
			r = error_setf(err, -EINVAL,
				       "%s: memory.reserve: must be a size such as \"2G\"", path);
	}
	json_object_put(j);
	return r;
}

static uint64_t meminfo_kb(FILE *f, const char *field)
{
	char line[256];
	size_t n = strlen(field);
	unsigned long long v;

	rewind(f);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && line[n] == ':' &&
		    sscanf(line + n + 1, "%llu", &v) == 1)
			return (uint64_t)v * 1024;
	return 0;
}

void host_memory_read(struct host_memory *h)
{
	FILE *f = fopen("/proc/meminfo", "re");
	unsigned long long pages = 0;

	memset(h, 0, sizeof(*h));
	if (f) {
		h->total = meminfo_kb(f, "MemTotal");
		/* Hugetlb: every pool size (proc(5)), not only the default one. */
		h->hugetlb = meminfo_kb(f, "Hugetlb");
		fclose(f);
	}
	f = fopen("/sys/kernel/mm/ksm/pages_sharing", "re");
	if (f) {
		if (fscanf(f, "%llu", &pages) == 1)
			h->ksm_sharing = (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE);
		fclose(f);
	}
}

void mem_claim_of(const struct vm_config *c, const char *name, struct mem_claim *out)
{
	bool pinned = c->dedicated_cpus;

	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", name);
	out->size = out->target = c->mem_size;
	for (unsigned int i = 0; i < c->nr_cpus && !pinned; i++)
		pinned = c->vcpu_pinned[i];
	if (c->mem.backing == GMEM_BACKING_HUGETLB)
		out->kind = MEM_CLAIM_HUGE;
	else if (pinned || c->mem.prealloc)
		out->kind = MEM_CLAIM_STRICT;
	else
		out->kind = MEM_CLAIM_SOFT;
	if (c->numa_mode == VM_NUMA_STRICT)
		out->nodes = c->numa_host_nodes;
	for (unsigned int i = 0; i < c->nr_numa_nodes; i++)
		out->nodes |= c->numa_nodes[i].host_nodes;
}

/* --- the arithmetic --- */

void admission_sum(const struct host_policy *p, const struct host_memory *h,
		   const struct mem_claim *claims, size_t n, struct admission_sums *s)
{
	uint64_t off = h->hugetlb + p->reserve;

	memset(s, 0, sizeof(*s));
	s->capacity = h->total > off ? h->total - off : 0;
	s->vms = n;
	for (size_t i = 0; i < n; i++) {
		if (claims[i].kind == MEM_CLAIM_STRICT)
			s->strict += claims[i].size;
		else if (claims[i].kind == MEM_CLAIM_HUGE)
			s->huge += claims[i].size;
		else {
			s->soft += claims[i].target;
			s->soft_size += claims[i].size;
		}
	}
}

int admission_check(const struct host_policy *p, const struct host_memory *h,
		    const struct mem_claim *claims, size_t n, const struct mem_claim *add,
		    char *why, size_t len)
{
	char a[24], cap[24], st[24], so[24], lim[24];
	struct admission_sums s;
	uint64_t strict, limit;

	admission_sum(p, h, claims, n, &s);
	if (add->kind == MEM_CLAIM_HUGE)
		return 0; /* the pool's free pages are checked at start (host_check.c) */
	strict = s.strict + (add->kind == MEM_CLAIM_STRICT ? add->size : 0);
	/* What overcommittable VMs may have: the rest of the capacity, times the ratio. */
	limit = s.capacity > strict ? (uint64_t)((double)(s.capacity - strict) * p->ratio) : 0;
	if (strict <= s.capacity &&
	    s.soft + (add->kind == MEM_CLAIM_SOFT ? add->target : 0) <= limit)
		return 0;
	format_size(add->kind == MEM_CLAIM_SOFT ? add->target : add->size, a, sizeof(a));
	format_size(s.capacity, cap, sizeof(cap));
	format_size(s.strict, st, sizeof(st));
	format_size(s.soft, so, sizeof(so));
	format_size(limit, lim, sizeof(lim));
	if (strict > s.capacity)
		snprintf(why, len,
			 "not enough host memory: %s more for VMs that are not overcommitted "
			 "(pinned, dedicated or prealloc) on top of their %s exceeds the host's "
			 "%s (RAM less huge pages and reserve)",
			 a, st, cap);
	else if (add->kind == MEM_CLAIM_STRICT)
		snprintf(why, len,
			 "not enough host memory: %s more for a VM that is not overcommitted "
			 "leaves %s for the %s committed to overcommittable VMs (capacity %s - "
			 "%s not overcommitted, x ratio %.2g)",
			 a, lim, so, cap, st, p->ratio);
	else
		snprintf(why, len,
			 "the host's memory policy refuses it: %s more on top of %s committed to "
			 "overcommittable VMs exceeds %s (capacity %s - %s not overcommitted, x "
			 "ratio %.2g)",
			 a, so, lim, cap, st, p->ratio);
	return -ENOSPC;
}

/* --- the registry --- */

static void registry_paths(const struct state_dirs *d, char *path, char *lock, size_t len)
{
	snprintf(path, len, "%s/memory", d->run);
	snprintf(lock, len, "%s/memory.lock", d->run);
}

/* Live claims from the file, without `skip`. */
static size_t claims_read(const struct state_dirs *d, const char *path, const char *skip,
			  struct mem_claim *out, size_t max)
{
	char line[256];
	size_t n = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		struct mem_claim *c = &out[n];
		unsigned long long size, target, nodes;
		unsigned int kind;

		if (sscanf(line, "%64s %llu %llu %u %llx", c->name, &size, &target, &kind,
			   &nodes) != 5 ||
		    kind > MEM_CLAIM_HUGE || target > size || (skip && !strcmp(c->name, skip)) ||
		    !state_claim_alive(d, c->name))
			continue;
		c->size = size;
		c->target = target;
		c->kind = (enum mem_claim_kind)kind;
		c->nodes = nodes;
		n++;
	}
	fclose(f);
	return n;
}

static int claims_write(const char *path, const struct mem_claim *c, size_t n)
{
	size_t cap = 64 + n * 160, len = 0;
	char *buf = malloc(cap);
	int r;

	if (!buf)
		return -ENOMEM;
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s %" PRIu64 " %" PRIu64 " %u %" PRIx64
					"\n",
					c[i].name, c[i].size, c[i].target, (unsigned int)c[i].kind,
					c[i].nodes);
	r = state_write_file(path, buf, len);
	free(buf);
	return r;
}

/* Run fn on the live claims under the lock; fn may change them (write back). */
static int registry_update(const struct state_dirs *d, const char *skip,
			   int (*fn)(struct mem_claim *claims, size_t *n, void *arg), void *arg)
{
	char path[STATE_PATH_MAX + 16], lock[STATE_PATH_MAX + 16];
	struct mem_claim *claims = calloc(ADMISSION_MAX + 1, sizeof(*claims));
	size_t n;
	int fd, r;

	if (!claims)
		return -ENOMEM;
	registry_paths(d, path, lock, sizeof(path));
	fd = state_lock(lock, 10000);
	if (fd < 0) {
		free(claims);
		return fd;
	}
	n = claims_read(d, path, skip, claims, ADMISSION_MAX);
	r = fn(claims, &n, arg);
	if (r >= 0)
		r = claims_write(path, claims, n) ?: r;
	state_unlock(fd);
	free(claims);
	return r;
}

struct claim_arg {
	const struct state_dirs *d;
	struct mem_claim want;
	char *why;
	size_t len;
};

static int do_claim(struct mem_claim *claims, size_t *n, void *arg)
{
	struct claim_arg *a = arg;
	struct host_policy p;
	struct host_memory h;
	struct error err = ERROR_INIT;
	int r;

	if ((r = host_policy_load(a->d, &p, &err))) {
		snprintf(a->why, a->len, "%s", error_msg(&err));
		return r;
	}
	host_memory_read(&h);
	if ((r = admission_check(&p, &h, claims, *n, &a->want, a->why, a->len)))
		return r;
	if (*n >= ADMISSION_MAX) {
		snprintf(a->why, a->len, "more than %d running VMs", ADMISSION_MAX);
		return -ENOSPC;
	}
	claims[(*n)++] = a->want;
	return 0;
}

int admission_claim(const struct state_dirs *d, const char *name, const struct vm_config *c,
		    char *why, size_t len)
{
	struct claim_arg a = { .d = d, .why = why, .len = len };

	why[0] = '\0';
	mem_claim_of(c, name, &a.want);
	return registry_update(d, name, do_claim, &a);
}

static int do_nothing(struct mem_claim *claims, size_t *n, void *arg)
{
	(void)claims;
	(void)n;
	(void)arg;
	return 0;
}

void admission_release(const struct state_dirs *d, const char *name)
{
	/* Reading without `name` and writing back drops it. */
	registry_update(d, name, do_nothing, NULL);
}

struct target_arg {
	const struct state_dirs *d;
	const char *name;
	uint64_t target;
	char *why;
	size_t len;
};

static int do_target(struct mem_claim *claims, size_t *n, void *arg)
{
	struct target_arg *a = arg;
	struct error err = ERROR_INIT;
	struct host_policy p;
	struct host_memory h;
	struct mem_claim me;
	size_t i;
	int r;

	for (i = 0; i < *n && strcmp(claims[i].name, a->name); i++)
		;
	if (i == *n)
		return -ENOENT;
	me = claims[i];
	me.target = a->target < me.size ? a->target : me.size;
	/*
	 * Growing: the new target must fit beside the others, as at start.
	 * The others are claims[0 .. n-1) once the last one takes i's place
	 * (on a refusal nothing is written back).
	 */
	if (me.kind == MEM_CLAIM_SOFT && me.target > claims[i].target) {
		if ((r = host_policy_load(a->d, &p, &err))) {
			snprintf(a->why, a->len, "%s", error_msg(&err));
			return r;
		}
		host_memory_read(&h);
		claims[i] = claims[*n - 1];
		if ((r = admission_check(&p, &h, claims, *n - 1, &me, a->why, a->len)))
			return r;
		claims[*n - 1] = me;
		return 0;
	}
	claims[i] = me;
	return 0;
}

int admission_set_target(const struct state_dirs *d, const char *name, uint64_t target,
			 char *why, size_t len)
{
	struct target_arg a = { d, name, target, why, len };

	why[0] = '\0';
	return registry_update(d, NULL, do_target, &a);
}

int admission_list(const struct state_dirs *d, struct mem_claim *out, size_t max)
{
	char path[STATE_PATH_MAX + 16], lock[STATE_PATH_MAX + 16];
	int fd, n;

	registry_paths(d, path, lock, sizeof(path));
	fd = state_lock(lock, 10000);
	if (fd < 0)
		return fd;
	n = (int)claims_read(d, path, NULL, out, max);
	state_unlock(fd);
	return n;
}
