// SPDX-License-Identifier: MIT
/*
 * JSON VM definitions -> struct vm_config (schema: docs/config.md).
 *
 * The parser is strict on purpose: a definition is written once and read by
 * a detached VMM much later, so a typo ("cpu" for "cpus") must fail at
 * `vessel define` with the exact key named, not be silently ignored.
 * Every message starts with the JSON path of the offending key.
 */
#include "vm/config_json.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <uuid/uuid.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/keys.h"
#include "util/util.h"
#include "virtio/virtio.h"

#define PATH_LEN 128

struct jctx {
	struct error *err;
};

__attribute__((format(printf, 3, 4))) static int jerr(struct jctx *x, const char *path,
						      const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (path && *path)
		return error_setf(x->err, -EINVAL, "%s: %s", path, msg);
	return error_setf(x->err, -EINVAL, "%s", msg);
}

/* Build a key path into a PATH_LEN buffer; long paths are cut, not overrun. */
__attribute__((format(printf, 2, 3))) static void pathf(char *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, PATH_LEN, fmt, ap);
	va_end(ap);
}

static void join(char *out, const char *parent, const char *key)
{
	if (parent && *parent)
		pathf(out, "%s.%s", parent, key);
	else
		pathf(out, "%s", key);
}

static const char *jtype(struct json_object *o)
{
	return json_type_to_name(json_object_get_type(o));
}

/* Refuse keys of `obj` not in the NULL-terminated list. */
static int check_keys(struct jctx *x, const char *path, struct json_object *obj,
		      const char *const *allowed)
{
	json_object_object_foreach(obj, key, val)
	{
		bool ok = false;

		(void)val;
		for (const char *const *a = allowed; *a; a++)
			if (!strcmp(*a, key))
				ok = true;
		if (!ok)
			return jerr(x, path, "unknown key \"%.64s\"", key);
	}
	return 0;
}

static int want_object(struct jctx *x, const char *path, struct json_object *o)
{
	if (!json_object_is_type(o, json_type_object))
		return jerr(x, path, "must be an object, not %s", jtype(o));
	return 0;
}

static int get_string(struct jctx *x, const char *path, struct json_object *o, size_t maxlen,
		      char **dst)
{
	const char *s;
	size_t len;

	if (!json_object_is_type(o, json_type_string))
		return jerr(x, path, "must be a string, not %s", jtype(o));
	s = json_object_get_string(o);
	len = (size_t)json_object_get_string_len(o);
	if (strlen(s) != len)
		return jerr(x, path, "must not contain NUL characters");
	if (len > maxlen)
		return jerr(x, path, "longer than %zu characters", maxlen);
	free(*dst);
	*dst = strdup(s);
	return *dst ? 0 : -ENOMEM;
}

static int get_path(struct jctx *x, const char *path, struct json_object *o, char **dst)
{
	int r = get_string(x, path, o, 4095, dst);

	if (!r && !**dst)
		return jerr(x, path, "must not be empty");
	return r;
}

static int get_bool(struct jctx *x, const char *path, struct json_object *o, bool *dst)
{
	if (!json_object_is_type(o, json_type_boolean))
		return jerr(x, path, "must be true or false, not %s", jtype(o));
	*dst = json_object_get_boolean(o);
	return 0;
}

static int get_uint(struct jctx *x, const char *path, struct json_object *o, uint64_t min,
		    uint64_t max, uint64_t *dst)
{
	int64_t v;

	if (!json_object_is_type(o, json_type_int))
		return jerr(x, path, "must be an integer, not %s", jtype(o));
	errno = 0;
	v = json_object_get_int64(o);
	/* json-c clamps values beyond int64 and reports it through errno. */
	if (errno || v < 0 || (uint64_t)v < min || (uint64_t)v > max)
		return jerr(x, path, "must be an integer in %llu..%llu", (unsigned long long)min,
			    (unsigned long long)max);
	*dst = (uint64_t)v;
	return 0;
}

/* A size: "512M" (binary suffixes) or an integer number of bytes. */
static int get_size(struct jctx *x, const char *path, struct json_object *o, uint64_t *dst)
{
	if (json_object_is_type(o, json_type_int)) {
		int64_t v = json_object_get_int64(o);

		if (v < 0)
			return jerr(x, path, "%lld is not a size", (long long)v);
		*dst = (uint64_t)v;
		return 0;
	}
	if (!json_object_is_type(o, json_type_string))
		return jerr(x, path, "must be a size such as \"512M\", not %s", jtype(o));
	if (parse_size(json_object_get_string(o), dst) < 0)
		return jerr(x, path, "\"%.32s\" is not a size", json_object_get_string(o));
	return 0;
}

/* A bitmap from a list string ("0-3,8") or an array of integers. */
static int get_bitmap(struct jctx *x, const char *path, struct json_object *o, uint64_t *bits,
		      unsigned int nbits)
{
	if (json_object_is_type(o, json_type_string)) {
		int r = parse_cpulist(json_object_get_string(o), bits, nbits);

		if (r == -ERANGE)
			return jerr(x, path, "\"%.32s\" has an entry beyond %u",
				    json_object_get_string(o), nbits - 1);
		if (r < 0)
			return jerr(x, path, "\"%.32s\" is not a list such as \"0-3,8\"",
				    json_object_get_string(o));
		return 0;
	}
	if (json_object_is_type(o, json_type_array)) {
		size_t n = json_object_array_length(o);

		memset(bits, 0, ((nbits + 63) / 64) * sizeof(uint64_t));
		if (!n)
			return jerr(x, path, "must not be empty");
		for (size_t i = 0; i < n; i++) {
			char p[PATH_LEN];
			uint64_t v;
			int r;

			pathf(p, "%s[%zu]", path, i);
			r = get_uint(x, p, json_object_array_get_idx(o, i), 0, nbits - 1, &v);
			if (r)
				return r;
			bits[v / 64] |= 1ull << (v % 64);
		}
		return 0;
	}
	return jerr(x, path, "must be a list string such as \"0-3\" or an array, not %s", jtype(o));
}

static int get_cpuset(struct jctx *x, const char *path, struct json_object *o, cpu_set_t *set)
{
	uint64_t bits[CPU_SETSIZE / 64];
	int r = get_bitmap(x, path, o, bits, CPU_SETSIZE);

	if (r)
		return r;
	CPU_ZERO(set);
	for (unsigned int i = 0; i < CPU_SETSIZE; i++)
		if (bits[i / 64] & (1ull << (i % 64)))
			CPU_SET(i, set);
	return 0;
}

/* Pick one of a fixed set of words; returns its index. */
static int get_enum(struct jctx *x, const char *path, struct json_object *o,
		    const char *const *words, int *dst)
{
	char list[160] = "";
	const char *s;

	if (!json_object_is_type(o, json_type_string))
		return jerr(x, path, "must be a string, not %s", jtype(o));
	s = json_object_get_string(o);
	for (int i = 0; words[i]; i++) {
		if (!strcmp(words[i], s)) {
			*dst = i;
			return 0;
		}
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s\"%s\"",
			 i ? ", " : "", words[i]);
	}
	return jerr(x, path, "\"%.32s\" is not one of %s", s, list);
}

static int parse_cpus(struct jctx *x, struct json_object *o, struct vm_config *c)
{
	static const char *const keys[] = { "count", "policy", "pinning", "emulator", NULL };
	static const char *const policies[] = { "shared", "dedicated", NULL };
	struct json_object *v;
	uint64_t n;
	int r, pol;

	if (json_object_is_type(o, json_type_int)) {
		r = get_uint(x, "cpus", o, 1, VM_MAX_VCPUS, &n);
		c->nr_cpus = (unsigned int)n;
		return r;
	}
	if ((r = want_object(x, "cpus", o)) || (r = check_keys(x, "cpus", o, keys)))
		return r;
	if (json_object_object_get_ex(o, "count", &v)) {
		if ((r = get_uint(x, "cpus.count", v, 1, VM_MAX_VCPUS, &n)))
			return r;
		c->nr_cpus = (unsigned int)n;
	}
	if (json_object_object_get_ex(o, "policy", &v)) {
		if ((r = get_enum(x, "cpus.policy", v, policies, &pol)))
			return r;
		c->dedicated_cpus = pol == 1;
	}
	if (json_object_object_get_ex(o, "emulator", &v)) {
		if ((r = get_cpuset(x, "cpus.emulator", v, &c->emulator_affinity)))
			return r;
		c->emulator_pinned = true;
	}
	if (json_object_object_get_ex(o, "pinning", &v)) {
		if ((r = want_object(x, "cpus.pinning", v)))
			return r;
		json_object_object_foreach(v, key, val)
		{
			char p[PATH_LEN];
			uint64_t id;

			pathf(p, "cpus.pinning.\"%.32s\"", key);
			if (parse_u64(key, VM_MAX_VCPUS - 1, &id) < 0 ||
			    !isdigit((unsigned char)*key))
				return jerr(x, p, "key must be a vCPU number");
			if (id >= c->nr_cpus)
				return jerr(x, p, "vCPU %llu does not exist (cpus.count is %u)",
					    (unsigned long long)id, c->nr_cpus);
			if ((r = get_cpuset(x, p, val, &c->vcpu_affinity[id])))
				return r;
			c->vcpu_pinned[id] = true;
		}
	}
	return 0;
}

/*
 * The memory object through a key table: the types, words and the
 * unknown-key check come from util/keys.c; what ties keys together
 * (huge pages and THP) is checked here, after all keys are read.
 */
struct mem_json {
	uint64_t size, hugepage_size;
	int backing;
	bool thp, mergeable, prealloc, dontdump;
	bool has_size, has_backing, has_hugepage_size, has_thp, has_mergeable, has_prealloc,
		has_dontdump;
};

#define MEM_KEY(n, t)                                                                              \
	{ .name = #n, .type = t, .flags = KEY_HAS, .off = offsetof(struct mem_json, n),            \
	  .has_off = offsetof(struct mem_json, has_##n) }

/* In the order of enum gmem_backing. */
static const char *const mem_backings[] = { "anon", "memfd", "hugetlb", NULL };

static const struct key mem_keys[] = {
	MEM_KEY(size, KEY_SIZE),
	{ .name = "backing", .type = KEY_ENUM, .flags = KEY_HAS,
	  .off = offsetof(struct mem_json, backing),
	  .has_off = offsetof(struct mem_json, has_backing), .words = mem_backings },
	MEM_KEY(hugepage_size, KEY_SIZE),
	MEM_KEY(thp, KEY_BOOL),
	MEM_KEY(mergeable, KEY_BOOL),
	MEM_KEY(prealloc, KEY_BOOL),
	MEM_KEY(dontdump, KEY_BOOL),
	{ 0 },
};

static int parse_memory_keys(struct jctx *x, struct json_object *o, struct vm_config *c)
{
	struct mem_json m = { 0 };
	int r;

	if ((r = keys_from_json(mem_keys, &m, o, "memory", x->err)))
		return r;
	if (m.has_size)
		c->mem_size = m.size;
	if (m.has_backing)
		c->mem.backing = (enum gmem_backing)m.backing;
	if (m.has_hugepage_size) {
		if (m.hugepage_size != 2 * MiB && m.hugepage_size != GiB)
			return jerr(x, "memory.hugepage_size", "must be \"2M\" or \"1G\"");
		if (c->mem.backing != GMEM_BACKING_HUGETLB)
			return jerr(x, "memory.hugepage_size", "needs memory.backing \"hugetlb\"");
		c->mem.hugepage_size = m.hugepage_size;
	}
	if (c->mem.backing == GMEM_BACKING_HUGETLB && !c->mem.hugepage_size)
		c->mem.hugepage_size = 2 * MiB;
	if (m.has_thp) {
		if (m.thp && c->mem.backing == GMEM_BACKING_HUGETLB)
			return jerr(x, "memory.thp",
				    "THP does not apply to memory.backing \"hugetlb\"");
		c->mem.thp = m.thp;
	} else if (c->mem.backing == GMEM_BACKING_HUGETLB) {
		/* THP is on by default; huge pages make it moot. */
		c->mem.thp = false;
	}
	if (m.has_mergeable)
		c->mem.mergeable = m.mergeable;
	if (m.has_prealloc)
		c->mem.prealloc = m.prealloc;
	if (m.has_dontdump)
		c->mem.dontdump = m.dontdump;
	return 0;
}

/* The device kind that lives in object `parent` under `key`, or NULL. */
static const struct dev_kind *nested_kind(const char *parent, const char *key)
{
	for (const struct dev_kind *const *k = vm_dev_kinds; *k; k++)
		if ((*k)->json_parent && !strcmp((*k)->json_parent, parent) &&
		    !strcmp((*k)->json_key, key))
			return *k;
	return NULL;
}

/* "memory": a size, or an object of memory keys and devices (memory.balloon). */
static int parse_memory(struct jctx *x, struct json_object *o, struct vm_config *c)
{
	struct json_object *rest;
	int r = 0;

	if (!json_object_is_type(o, json_type_object))
		return get_size(x, "memory", o, &c->mem_size);
	rest = json_object_new_object();
	if (!rest)
		return jerr(x, "memory", "out of memory");
	json_object_object_foreach(o, key, val)
	{
		const struct dev_kind *k = nested_kind("memory", key);
		char p[PATH_LEN];

		if (!k) {
			json_object_object_add(rest, key, json_object_get(val));
			continue;
		}
		pathf(p, "memory.%s", key);
		if ((r = vm_config_dev_from_json(c, k, val, p, x->err)))
			break;
	}
	if (!r)
		r = parse_memory_keys(x, rest, c);
	json_object_put(rest);
	return r;
}

struct json_object *vm_config_memory_to_json(const struct vm_config *c)
{
	struct mem_json m = {
		.size = c->mem_size,
		.hugepage_size = c->mem.hugepage_size,
		.backing = (int)c->mem.backing,
		.thp = c->mem.thp,
		.mergeable = c->mem.mergeable,
		.prealloc = c->mem.prealloc,
		.dontdump = c->mem.dontdump,
		.has_size = true,
		.has_backing = (unsigned int)c->mem.backing < ARRAY_SIZE(mem_backings) - 1,
		.has_hugepage_size = c->mem.backing == GMEM_BACKING_HUGETLB,
		.has_thp = true,
		.has_mergeable = true,
		.has_prealloc = true,
		.has_dontdump = true,
	};

	struct json_object *o = keys_to_json(mem_keys, &m);

	for (const struct dev_kind *const *k = vm_dev_kinds; o && *k; k++) {
		void *cfg;

		if (!(*k)->json_parent || strcmp((*k)->json_parent, "memory"))
			continue;
		if ((cfg = vm_config_dev(c, *k, 0)))
			json_object_object_add(o, (*k)->json_key, vm_dev_to_json(*k, cfg));
	}
	return o;
}

static const unsigned int console_modes =
	CHARDEV_MODE_BIT(CHARDEV_STDIO) | CHARDEV_MODE_BIT(CHARDEV_PTY) |
	CHARDEV_MODE_BIT(CHARDEV_FILE) | CHARDEV_MODE_BIT(CHARDEV_SOCKET) |
	CHARDEV_MODE_BIT(CHARDEV_NONE);

static int parse_numa_node(struct jctx *x, const char *path, struct json_object *o,
			   struct vm_numa_node *nd, unsigned int nr_nodes)
{
	static const char *const keys[] = { "cpus", "memory", "host_nodes", "distances", NULL };
	struct json_object *v;
	char p[PATH_LEN];
	int r;

	if ((r = want_object(x, path, o)) || (r = check_keys(x, path, o, keys)))
		return r;
	join(p, path, "cpus");
	if (!json_object_object_get_ex(o, "cpus", &v))
		return jerr(x, p, "missing");
	if ((r = get_bitmap(x, p, v, nd->cpus, VM_MAX_VCPUS)))
		return r;
	join(p, path, "memory");
	if (!json_object_object_get_ex(o, "memory", &v))
		return jerr(x, p, "missing");
	if ((r = get_size(x, p, v, &nd->mem_size)))
		return r;
	if (!nd->mem_size || !IS_ALIGNED(nd->mem_size, 2 * MiB))
		return jerr(x, p, "must be a non-zero multiple of 2M");
	if (json_object_object_get_ex(o, "host_nodes", &v)) {
		join(p, path, "host_nodes");
		if ((r = get_bitmap(x, p, v, &nd->host_nodes, 64)))
			return r;
	}
	if (json_object_object_get_ex(o, "distances", &v)) {
		join(p, path, "distances");
		if (!json_object_is_type(v, json_type_array))
			return jerr(x, p, "must be an array, not %s", jtype(v));
		if (json_object_array_length(v) != nr_nodes)
			return jerr(x, p, "needs %u entries, one per node", nr_nodes);
		for (unsigned int i = 0; i < nr_nodes; i++) {
			char pi[PATH_LEN];
			uint64_t d;

			pathf(pi, "%s[%u]", p, i);
			/* ACPI SLIT: 10 is local, 255 unreachable, 0-9 reserved. */
			if ((r = get_uint(x, pi, json_object_array_get_idx(v, i), 10, 255, &d)))
				return r;
			nd->distance[i] = (uint8_t)d;
		}
	}
	return 0;
}

static int parse_numa(struct jctx *x, struct json_object *o, struct vm_config *c)
{
	static const char *const keys[] = { "mode", "nodeset", "nodes", NULL };
	static const char *const modes[] = { "none", "strict", "preferred", "interleave", NULL };
	struct json_object *v;
	int r, m;

	if ((r = want_object(x, "numa", o)) || (r = check_keys(x, "numa", o, keys)))
		return r;
	if (json_object_object_get_ex(o, "mode", &v)) {
		if ((r = get_enum(x, "numa.mode", v, modes, &m)))
			return r;
		c->numa_mode = (enum vm_numa_mode)m;
	}
	if (json_object_object_get_ex(o, "nodeset", &v)) {
		if ((r = get_bitmap(x, "numa.nodeset", v, &c->numa_host_nodes, 64)))
			return r;
		if (c->numa_mode == VM_NUMA_NONE)
			c->numa_mode = VM_NUMA_STRICT;
	}
	if (c->numa_mode != VM_NUMA_NONE && !c->numa_host_nodes &&
	    !json_object_object_get_ex(o, "nodes", NULL))
		return jerr(x, "numa.nodeset", "missing (numa.mode needs host nodes)");
	if (json_object_object_get_ex(o, "nodes", &v)) {
		size_t n;

		if (!json_object_is_type(v, json_type_array))
			return jerr(x, "numa.nodes", "must be an array, not %s", jtype(v));
		n = json_object_array_length(v);
		if (n < 1 || n > VM_MAX_NUMA_NODES)
			return jerr(x, "numa.nodes", "needs 1..%d nodes", VM_MAX_NUMA_NODES);
		c->nr_numa_nodes = (unsigned int)n;
		for (size_t i = 0; i < n; i++) {
			char p[PATH_LEN];

			pathf(p, "numa.nodes[%zu]", i);
			/* Default SLIT: 10 local, 20 remote (as QEMU and firmware do). */
			for (size_t j = 0; j < n; j++)
				c->numa_nodes[i].distance[j] = i == j ? 10 : 20;
			r = parse_numa_node(x, p, json_object_array_get_idx(v, i),
					    &c->numa_nodes[i], (unsigned int)n);
			if (r)
				return r;
		}
	}
	return 0;
}

static int parse_lifecycle(struct jctx *x, struct json_object *o, struct vm_config *c)
{
	static const char *const keys[] = { "on_reboot", NULL };
	static const char *const actions[] = VM_REBOOT_ACTION_NAMES;
	struct json_object *v;
	int r, a;

	if ((r = want_object(x, "lifecycle", o)) || (r = check_keys(x, "lifecycle", o, keys)))
		return r;
	if (json_object_object_get_ex(o, "on_reboot", &v)) {
		if ((r = get_enum(x, "lifecycle.on_reboot", v, actions, &a)))
			return r;
		c->on_reboot = (enum vm_reboot_action)a;
	}
	return 0;
}

/* A device kind's JSON: an array of instances (max > 1) or one value. */
static int parse_kind(struct jctx *x, const struct dev_kind *k, struct json_object *o,
		      struct vm_config *c)
{
	size_t n;
	int r;

	if (k->max == 1)
		return vm_config_dev_from_json(c, k, o, k->json_key, x->err);
	if (!json_object_is_type(o, json_type_array))
		return jerr(x, k->json_key, "must be an array, not %s", jtype(o));
	n = json_object_array_length(o);
	if (n > k->max)
		return jerr(x, k->json_key, "at most %u entries", k->max);
	for (size_t i = 0; i < n; i++) {
		char p[PATH_LEN];

		pathf(p, "%s[%zu]", k->json_key, i);
		r = vm_config_dev_from_json(c, k, json_object_array_get_idx(o, i), p, x->err);
		if (r)
			return r;
	}
	return 0;
}

static bool name_ok(const char *s)
{
	if (!*s || *s == '.' || *s == '-')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_.-", *s))
			return false;
	return true;
}

/* Rules that tie several keys together; each names the key to fix. */
static int check_cross(struct jctx *x, struct vm_config *c)
{
	uint64_t total = 0, seen[VM_MAX_VCPUS / 64] = { 0 };

	if (c->mem_size < MiB || !IS_ALIGNED(c->mem_size, GMEM_PAGE_SIZE))
		return jerr(x, "memory", "must be at least 1M and a multiple of 4K");
	if (c->mem.backing == GMEM_BACKING_HUGETLB) {
		if (!IS_ALIGNED(c->mem_size, c->mem.hugepage_size))
			return jerr(x, "memory.size", "must be a multiple of the huge page size");
		if (c->mem.mergeable)
			return jerr(x, "memory.mergeable",
				    "KSM cannot merge huge pages (memory.backing is \"hugetlb\")");
	}
	if (vm_config_balloon_conflict(c))
		return jerr(x, "memory.balloon", "%s", vm_config_balloon_conflict(c));
	if (c->dedicated_cpus) {
		unsigned int pinned = 0;
		cpu_set_t all;

		CPU_ZERO(&all);
		for (unsigned int i = 0; i < c->nr_cpus; i++) {
			char p[PATH_LEN];

			if (!c->vcpu_pinned[i])
				continue;
			pinned++;
			pathf(p, "cpus.pinning.\"%u\"", i);
			if (CPU_COUNT(&c->vcpu_affinity[i]) != 1)
				return jerr(x, p,
					    "policy \"dedicated\" pins each vCPU to one host CPU");
			CPU_OR(&all, &all, &c->vcpu_affinity[i]);
			if ((unsigned int)CPU_COUNT(&all) != pinned)
				return jerr(x, p,
					    "host CPU already used by another vCPU "
					    "(policy \"dedicated\")");
		}
		if (pinned && pinned != c->nr_cpus)
			return jerr(x, "cpus.pinning",
				    "policy \"dedicated\" needs every vCPU "
				    "pinned, or none (assigned at start)");
	}
	if (!c->nr_numa_nodes)
		return 0;
	for (unsigned int i = 0; i < c->nr_numa_nodes; i++) {
		struct vm_numa_node *nd = &c->numa_nodes[i];
		char p[PATH_LEN];

		pathf(p, "numa.nodes[%u].cpus", i);
		for (unsigned int w = 0; w < VM_MAX_VCPUS / 64; w++) {
			uint64_t bits = nd->cpus[w];

			if (bits & seen[w])
				return jerr(x, p, "a vCPU is already in another node");
			seen[w] |= bits;
			for (unsigned int b = 0; b < 64; b++)
				if ((bits >> b) & 1 && w * 64 + b >= c->nr_cpus)
					return jerr(x, p,
						    "vCPU %u does not exist (cpus.count is %u)",
						    w * 64 + b, c->nr_cpus);
		}
		pathf(p, "numa.nodes[%u].distances[%u]", i, i);
		if (nd->distance[i] != 10)
			return jerr(x, p, "a node's distance to itself must be 10");
		for (unsigned int j = 0; j < i; j++) {
			pathf(p, "numa.nodes[%u].distances[%u]", i, j);
			if (nd->distance[j] == 10)
				return jerr(x, p, "distance between different nodes must be > 10");
			if (nd->distance[j] != c->numa_nodes[j].distance[i])
				return jerr(x, p, "must equal numa.nodes[%u].distances[%u]", j, i);
		}
		if (c->mem.backing == GMEM_BACKING_HUGETLB &&
		    !IS_ALIGNED(nd->mem_size, c->mem.hugepage_size)) {
			pathf(p, "numa.nodes[%u].memory", i);
			return jerr(x, p, "must be a multiple of the huge page size");
		}
		total += nd->mem_size;
	}
	for (unsigned int i = 0; i < c->nr_cpus; i++)
		if (!(seen[i / 64] & (1ull << (i % 64))))
			return jerr(x, "numa.nodes", "vCPU %u is in no node", i);
	if (total != c->mem_size)
		return jerr(x, "numa.nodes", "node memory adds up to %llu bytes, memory is %llu",
			    (unsigned long long)total, (unsigned long long)c->mem_size);
	return 0;
}

/* "jail": true, false, "off"/"auto"/"on", or an object of jail_keys. */
static int parse_jail(struct jctx *x, struct json_object *v, struct vm_config *c)
{
	c->jail_given = true;
	if (json_object_is_type(v, json_type_boolean)) {
		c->jail.mode = json_object_get_boolean(v) ? JAIL_ON : JAIL_OFF;
		return 0;
	}
	if (json_object_is_type(v, json_type_string))
		return keys_set(jail_keys, &c->jail, "mode", json_object_get_string(v), x->err)
			       ? error_prefix(x->err, "jail")
			       : 0;
	if (!json_object_is_type(v, json_type_object))
		return jerr(x, "jail", "must be true, false, \"auto\" or an object, not %s",
			    jtype(v));
	c->jail.mode = JAIL_ON;
	return keys_from_json(jail_keys, &c->jail, v, "jail", x->err);
}

/* The top-level keys: the VM's own, then one per device kind. */
static int check_top_keys(struct jctx *x, struct json_object *root)
{
	static const char *const keys[] = { "name",    "uuid",	    "cpus",	  "memory",
					    "kernel",  "initrd",    "cmdline",	  "console",
					    "numa",    "lifecycle", "debug_exit", "api_socket",
					    "seccomp", "jail",	    NULL };

	json_object_object_foreach(root, key, val)
	{
		const struct dev_kind *k = vm_dev_kind_find(key);
		bool ok = k && !k->json_parent && !strcmp(k->json_key, key);

		(void)val;
		for (const char *const *a = keys; *a && !ok; a++)
			ok = !strcmp(*a, key);
		if (!ok)
			return jerr(x, NULL, "unknown key \"%.64s\"", key);
	}
	return 0;
}

int vm_config_from_json(struct json_object *root, struct vm_config *c, struct error *err)
{
	struct jctx x = { err };
	struct json_object *v;
	int r;

	if (!root || !json_object_is_type(root, json_type_object))
		return jerr(&x, NULL, "a VM definition must be a JSON object");
	if ((r = check_top_keys(&x, root)))
		return r;
	if (json_object_object_get_ex(root, "name", &v)) {
		if ((r = get_string(&x, "name", v, 64, &c->name)))
			return r;
		if (!name_ok(c->name))
			return jerr(&x, "name", "\"%s\" must be letters, digits, '_', '.' or '-'",
				    c->name);
	}
	if (json_object_object_get_ex(root, "uuid", &v)) {
		uuid_t u;
		char text[UUID_STR_LEN];

		if ((r = get_string(&x, "uuid", v, 64, &c->uuid)))
			return r;
		/* RFC 4122 section 3: 8-4-4-4-12 hex digits, either case */
		if (strlen(c->uuid) != 36 || uuid_parse(c->uuid, u))
			return jerr(&x, "uuid", "\"%s\" is not a UUID (8-4-4-4-12 hex digits)",
				    c->uuid);
		uuid_unparse_lower(u, text);
		memcpy(c->uuid, text, sizeof(text));
	}
	/* cpus before numa: node vCPU lists are checked against the count. */
	if (json_object_object_get_ex(root, "cpus", &v) && (r = parse_cpus(&x, v, c)))
		return r;
	if (json_object_object_get_ex(root, "memory", &v) && (r = parse_memory(&x, v, c)))
		return r;
	if (json_object_object_get_ex(root, "kernel", &v) &&
	    (r = get_path(&x, "kernel", v, &c->kernel)))
		return r;
	if (json_object_object_get_ex(root, "initrd", &v) &&
	    (r = get_path(&x, "initrd", v, &c->initrd)))
		return r;
	if (json_object_object_get_ex(root, "cmdline", &v) &&
	    (r = get_string(&x, "cmdline", v, 4095, &c->cmdline)))
		return r;
	for (const struct dev_kind *const *k = vm_dev_kinds; *k; k++)
		if (!(*k)->json_parent && json_object_object_get_ex(root, (*k)->json_key, &v) &&
		    (r = parse_kind(&x, *k, v, c)))
			return r;
	if (json_object_object_get_ex(root, "console", &v) &&
	    (r = chardev_spec_from_json(&c->console, v, "console", console_modes, err)))
		return r;
	if (json_object_object_get_ex(root, "numa", &v) && (r = parse_numa(&x, v, c)))
		return r;
	if (json_object_object_get_ex(root, "lifecycle", &v) && (r = parse_lifecycle(&x, v, c)))
		return r;
	if (json_object_object_get_ex(root, "debug_exit", &v) &&
	    (r = get_bool(&x, "debug_exit", v, &c->debug_exit)))
		return r;
	if (json_object_object_get_ex(root, "seccomp", &v)) {
		static const char *const modes[] = { "off", "log", "on", NULL };

		if ((r = get_enum(&x, "seccomp", v, modes, &c->seccomp)))
			return r;
	}
	if (json_object_object_get_ex(root, "jail", &v) && (r = parse_jail(&x, v, c)))
		return r;
	if (json_object_object_get_ex(root, "api_socket", &v) &&
	    (r = get_path(&x, "api_socket", v, &c->api_socket)))
		return r;
	return check_cross(&x, c);
}

int vm_config_from_json_string(const char *text, size_t len, struct vm_config *c,
			       struct error *err)
{
	struct jctx x = { err };
	struct json_tokener *tok;
	struct json_object *root;
	int r;

	if (len > VM_CONFIG_JSON_MAX)
		return jerr(&x, NULL, "definition larger than %u bytes", VM_CONFIG_JSON_MAX);
	/* Depth 32 is far more than the schema needs and bounds recursion. */
	tok = json_tokener_new_ex(32);
	if (!tok)
		return error_setf(err, -ENOMEM, "out of memory");
	root = json_tokener_parse_ex(tok, text, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success) {
		r = jerr(
			&x, NULL, "invalid JSON at offset %zu: %s", json_tokener_get_parse_end(tok),
			json_tokener_error_desc(json_tokener_get_error(tok) == json_tokener_continue
							? json_tokener_error_parse_eof
							: json_tokener_get_error(tok)));
		json_object_put(root);
		json_tokener_free(tok);
		return r;
	}
	/* Anything but white space after the object is an error too. */
	for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
		if (!isspace((unsigned char)text[i])) {
			json_object_put(root);
			json_tokener_free(tok);
			return jerr(&x, NULL, "invalid JSON at offset %zu: trailing data", i);
		}
	}
	json_tokener_free(tok);
	r = vm_config_from_json(root, c, err);
	json_object_put(root);
	return r;
}

int vm_config_load_json(const char *path, struct vm_config *c, struct error *err)
{
	char *text = NULL;
	size_t len = 0;
	int r;

	r = read_file(path, &text, &len);
	if (r < 0)
		return error_set_errno(err, r, "%s", path);
	r = vm_config_from_json_string(text, len, c, err);
	free(text);
	if (r)
		error_prefix(err, "%s", path);
	return r;
}
