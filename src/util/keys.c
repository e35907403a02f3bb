// SPDX-License-Identifier: MIT
/*
 * Key tables (util/keys.h): one declaration per configuration key, read
 * from the command line and from JSON and written back as JSON.  Each
 * value check exists once (check_string, check_uint, find_word) and both
 * readers call it, so the two paths cannot drift apart.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/keys.h"
#include "util/util.h"

#define KEY_PATH_MAX 4095
#define KEYS_MAX 64 /* keys per table: a bitmap tracks "given twice" */

/* "where.name: msg" (JSON) or "name: msg" (command line). */
__attribute__((format(printf, 4, 5))) static int kerr(struct error *err, const char *where,
						      const char *name, const char *fmt, ...)
{
	char msg[ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (where && *where && name)
		return error_setf(err, -EINVAL, "%s.%s: %s", where, name, msg);
	if (where && *where)
		return error_setf(err, -EINVAL, "%s: %s", where, msg);
	return error_setf(err, -EINVAL, "%s: %s", name, msg);
}

static void *field(void *obj, size_t off)
{
	return (char *)obj + off;
}

static const void *cfield(const void *obj, size_t off)
{
	return (const char *)obj + off;
}

int keys_parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

const char *keys_words(const char *const *words, const char *sep, bool quote, char *buf, size_t len)
{
	size_t off = 0;

	if (!len)
		return buf;
	buf[0] = '\0';
	for (int i = 0; words[i] && off < len; i++) {
		int n = snprintf(buf + off, len - off, "%s%s%s%s", i ? sep : "", quote ? "\"" : "",
				 words[i], quote ? "\"" : "");

		if (n < 0)
			break;
		off += (size_t)n;
	}
	return buf;
}

static int find_word(const struct key *k, const char *s, const char *where, struct error *err)
{
	char list[160];

	for (int i = 0; k->words[i]; i++)
		if (!strcmp(k->words[i], s))
			return i;
	return kerr(err, where, k->name, "\"%.32s\" is not one of %s", s,
		    keys_words(k->words, ", ", true, list, sizeof(list)));
}

static int check_string(const struct key *k, const char *s, size_t len, const char *where,
			struct error *err)
{
	uint64_t max = k->type == KEY_PATH && !k->max ? KEY_PATH_MAX : k->max;

	if (strlen(s) != len)
		return kerr(err, where, k->name, "must not contain NUL characters");
	if (k->type == KEY_PATH && !len)
		return kerr(err, where, k->name, "must not be empty");
	if (max && len > max)
		return kerr(err, where, k->name, "longer than %llu characters",
			    (unsigned long long)max);
	if (k->words) {
		int r = find_word(k, s, where, err);

		return r < 0 ? r : 0;
	}
	return 0;
}

static int check_uint(const struct key *k, uint64_t v, const char *where, struct error *err)
{
	if (v < k->min || v > k->max)
		return kerr(err, where, k->name, "must be an integer in %llu..%llu",
			    (unsigned long long)k->min, (unsigned long long)k->max);
	return 0;
}

static int store_string(void *obj, const struct key *k, const char *s)
{
	char **dst = field(obj, k->off);
	char *copy = strdup(s);

	if (!copy)
		return -ENOMEM;
	free(*dst);
	*dst = copy;
	return 0;
}

static void mark_given(void *obj, const struct key *k)
{
	if (k->flags & KEY_HAS)
		*(bool *)field(obj, k->has_off) = true;
}

const struct key *keys_find(const struct key *keys, const char *name)
{
	for (const struct key *k = keys; k->name; k++)
		if (!strcmp(k->name, name) || (k->alias && !strcmp(k->alias, name)))
			return k;
	return NULL;
}

/* One value from command-line text; `where` is NULL on the command line. */
static int set_text(const struct key *k, void *obj, const char *v, struct error *err)
{
	uint64_t n;
	bool b;
	int r;

	switch (k->type) {
	case KEY_STRING:
	case KEY_PATH:
		if ((r = check_string(k, v, strlen(v), NULL, err)))
			return r;
		return store_string(obj, k, v) ? error_setf(err, -ENOMEM, "out of memory") : 0;
	case KEY_BOOL:
		if (keys_parse_bool(v, &b))
			return kerr(err, NULL, k->name, "must be on or off, not \"%.32s\"", v);
		*(bool *)field(obj, k->off) = (k->flags & KEY_INVERT) ? !b : b;
		return 0;
	case KEY_UINT:
		if (parse_u64(v, UINT64_MAX, &n))
			n = UINT64_MAX; /* not a number: the range message says what is */
		if ((r = check_uint(k, n, NULL, err)))
			return r;
		*(unsigned int *)field(obj, k->off) = (unsigned int)n;
		return 0;
	case KEY_ENUM:
		if ((r = find_word(k, v, NULL, err)) < 0)
			return r;
		*(int *)field(obj, k->off) = r;
		return 0;
	case KEY_SIZE:
		if (parse_size(v, &n))
			return kerr(err, NULL, k->name, "\"%.32s\" is not a size", v);
		*(uint64_t *)field(obj, k->off) = n;
		return 0;
	}
	return kerr(err, NULL, k->name, "unsupported key type");
}

int keys_set(const struct key *keys, void *obj, const char *name, const char *val,
	     struct error *err)
{
	const struct key *k = keys_find(keys, name);
	int r;

	if (!k)
		return error_setf(err, -EINVAL, "unknown key \"%.64s\"", name);
	r = set_text(k, obj, val, err);
	if (!r)
		mark_given(obj, k);
	return r;
}

static int check_required(const struct key *keys, uint64_t given, const char *where,
			  struct error *err)
{
	for (unsigned int i = 0; keys[i].name; i++)
		if ((keys[i].flags & KEY_REQUIRED) && !(given & (1ull << i)))
			return kerr(err, where, keys[i].name, "missing");
	return 0;
}

int keys_parse(const struct key *keys, void *obj, const char *spec, const char *bare,
	       struct error *err)
{
	char *copy, *save = NULL, *tok;
	uint64_t given = 0;
	int r = 0;

	if (!spec)
		spec = "";
	copy = strdup(spec);
	if (!copy)
		return error_setf(err, -ENOMEM, "out of memory");
	for (tok = strtok_r(copy, ",", &save); tok && !r; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		const char *name = tok, *val = eq ? eq + 1 : NULL;
		const struct key *k;
		unsigned int i;

		if (eq) {
			*eq = '\0';
		} else if (tok == copy && bare) {
			name = bare; /* a bare value as the first word */
			val = tok;
		} else {
			r = error_setf(err, -EINVAL, "\"%.64s\": options are key=value", tok);
			break;
		}
		k = keys_find(keys, name);
		if (!k) {
			char list[200] = "";

			for (const struct key *p = keys; p->name; p++)
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
					 p == keys ? "" : ", ", p->name);
			r = error_setf(err, -EINVAL, "unknown key \"%.64s\" (%s)", name, list);
			break;
		}
		i = (unsigned int)(k - keys);
		if (i < KEYS_MAX && (given & (1ull << i))) {
			r = kerr(err, NULL, k->name, "given twice");
			break;
		}
		given |= i < KEYS_MAX ? 1ull << i : 0;
		r = set_text(k, obj, val, err);
		if (!r)
			mark_given(obj, k);
	}
	free(copy);
	return r ? r : check_required(keys, given, NULL, err);
}

static const char *jtype(struct json_object *o)
{
	return json_type_to_name(json_object_get_type(o));
}

static int set_json(const struct key *k, void *obj, struct json_object *v, const char *where,
		    struct error *err)
{
	const char *s;
	int64_t n;
	uint64_t u;
	int r;

	switch (k->type) {
	case KEY_STRING:
	case KEY_PATH:
		if (!json_object_is_type(v, json_type_string))
			return kerr(err, where, k->name, "must be a string, not %s", jtype(v));
		s = json_object_get_string(v);
		r = check_string(k, s, (size_t)json_object_get_string_len(v), where, err);
		if (r)
			return r;
		return store_string(obj, k, s) ? error_setf(err, -ENOMEM, "out of memory") : 0;
	case KEY_BOOL:
		if (!json_object_is_type(v, json_type_boolean))
			return kerr(err, where, k->name, "must be true or false, not %s", jtype(v));
		*(bool *)field(obj, k->off) = (k->flags & KEY_INVERT) ? !json_object_get_boolean(v)
								      : json_object_get_boolean(v);
		return 0;
	case KEY_UINT:
		if (!json_object_is_type(v, json_type_int))
			return kerr(err, where, k->name, "must be an integer, not %s", jtype(v));
		errno = 0;
		n = json_object_get_int64(v);
		/* json-c clamps values beyond int64 and reports it through errno. */
		u = errno || n < 0 ? UINT64_MAX : (uint64_t)n;
		if ((r = check_uint(k, u, where, err)))
			return r;
		*(unsigned int *)field(obj, k->off) = (unsigned int)u;
		return 0;
	case KEY_ENUM:
		if (!json_object_is_type(v, json_type_string))
			return kerr(err, where, k->name, "must be a string, not %s", jtype(v));
		if ((r = find_word(k, json_object_get_string(v), where, err)) < 0)
			return r;
		*(int *)field(obj, k->off) = r;
		return 0;
	case KEY_SIZE:
		if (json_object_is_type(v, json_type_int)) {
			n = json_object_get_int64(v);
			if (n < 0)
				return kerr(err, where, k->name, "%lld is not a size",
					    (long long)n);
			*(uint64_t *)field(obj, k->off) = (uint64_t)n;
			return 0;
		}
		if (!json_object_is_type(v, json_type_string))
			return kerr(err, where, k->name, "must be a size such as \"512M\", not %s",
				    jtype(v));
		if (parse_size(json_object_get_string(v), &u))
			return kerr(err, where, k->name, "\"%.32s\" is not a size",
				    json_object_get_string(v));
		*(uint64_t *)field(obj, k->off) = u;
		return 0;
	}
	return kerr(err, where, k->name, "unsupported key type");
}

int keys_from_json(const struct key *keys, void *obj, struct json_object *o, const char *path,
		   struct error *err)
{
	uint64_t given = 0;
	int r;

	if (!json_object_is_type(o, json_type_object))
		return kerr(err, path, NULL, "must be an object, not %s", jtype(o));
	json_object_object_foreach(o, name, val)
	{
		const struct key *k = NULL;

		/* Only the canonical names: aliases are command-line shorthands. */
		for (const struct key *p = keys; p->name && !k; p++)
			if (!strcmp(p->name, name))
				k = p;
		if (!k)
			return kerr(err, path, NULL, "unknown key \"%.64s\"", name);
		if ((r = set_json(k, obj, val, path, err)))
			return r;
		mark_given(obj, k);
		if (k - keys < KEYS_MAX)
			given |= 1ull << (k - keys);
	}
	return check_required(keys, given, path, err);
}

struct json_object *keys_to_json(const struct key *keys, const void *obj)
{
	struct json_object *o = json_object_new_object();
	char buf[32];

	if (!o)
		return NULL;
	for (const struct key *k = keys; k->name; k++) {
		struct json_object *v = NULL;
		uint64_t n;
		bool b;
		int e;

		if ((k->flags & KEY_HAS) && !*(const bool *)cfield(obj, k->has_off))
			continue;
		switch (k->type) {
		case KEY_STRING:
		case KEY_PATH:
			if (*(char *const *)cfield(obj, k->off))
				v = json_object_new_string(*(char *const *)cfield(obj, k->off));
			break;
		case KEY_BOOL:
			b = *(const bool *)cfield(obj, k->off);
			v = json_object_new_boolean((k->flags & KEY_INVERT) ? !b : b);
			break;
		case KEY_UINT:
			n = *(const unsigned int *)cfield(obj, k->off);
			if (n || (k->flags & KEY_HAS))
				v = json_object_new_int64((int64_t)n);
			break;
		case KEY_ENUM:
			e = *(const int *)cfield(obj, k->off);
			for (int i = 0; k->words[i]; i++)
				if (i == e)
					v = json_object_new_string(k->words[i]);
			break;
		case KEY_SIZE:
			n = *(const uint64_t *)cfield(obj, k->off);
			/* Whole GiB/MiB read back exactly through parse_size; else bytes. */
			if (n && IS_ALIGNED(n, GiB))
				snprintf(buf, sizeof(buf), "%lluG", (unsigned long long)(n / GiB));
			else if (n && IS_ALIGNED(n, MiB))
				snprintf(buf, sizeof(buf), "%lluM", (unsigned long long)(n / MiB));
			else
				snprintf(buf, sizeof(buf), "%llu", (unsigned long long)n);
			v = json_object_new_string(buf);
			break;
		}
		if (v)
			json_object_object_add(o, k->name, v);
	}
	return o;
}

void keys_free(const struct key *keys, void *obj)
{
	for (const struct key *k = keys; k->name; k++) {
		if (k->type == KEY_STRING || k->type == KEY_PATH) {
			char **p = field(obj, k->off);

			free(*p);
			*p = NULL;
		}
	}
}
