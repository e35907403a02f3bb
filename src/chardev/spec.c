// SPDX-License-Identifier: MIT
/*
 * struct chardev_spec from the command line ("socket=PATH") and from JSON
 * ({"mode": "socket", "path": PATH} or "pty"), and back to JSON.  Both
 * readers end in spec_store(), so a mode's rules (file and socket need a
 * path, the others take none) exist once.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chardev/chardev.h"
#include "util/error.h"
#include "util/keys.h"

#define CHARDEV_PATH_MAX 4095

const char *const chardev_mode_names[] = { "stdio", "pty", "file", "socket", "none", NULL };

static bool needs_path(enum chardev_mode m)
{
	return m == CHARDEV_FILE || m == CHARDEV_SOCKET;
}

int chardev_spec_set(struct chardev_spec *spec, enum chardev_mode mode, const char *path)
{
	char *p = NULL;

	if (path && !(p = strdup(path)))
		return -ENOMEM;
	free(spec->path);
	spec->mode = mode;
	spec->path = p;
	return 0;
}

void chardev_spec_free(struct chardev_spec *spec)
{
	free(spec->path);
	spec->path = NULL;
}

int chardev_spec_check(const struct chardev_spec *spec, const char *what, struct error *err)
{
	if ((unsigned int)spec->mode > CHARDEV_NONE)
		return error_setf(err, -EINVAL, "%s: unknown mode", what);
	if (needs_path(spec->mode) && !spec->path)
		return error_setf(err, -EINVAL, "%s: mode \"%s\" needs a path", what,
				  chardev_mode_names[spec->mode]);
	return 0;
}

/* The allowed modes as "pty, file=PATH or socket=PATH". */
static const char *allowed_words(unsigned int allowed, char *buf, size_t len)
{
	unsigned int n = 0, total = (unsigned int)__builtin_popcount(allowed & CHARDEV_MODES_ALL);

	buf[0] = '\0';
	for (int m = CHARDEV_STDIO; m <= CHARDEV_NONE; m++) {
		size_t off = strlen(buf);

		if (!(allowed & CHARDEV_MODE_BIT(m)))
			continue;
		snprintf(buf + off, len - off, "%s%s%s", n ? (n + 1 == total ? " or " : ", ") : "",
			 chardev_mode_names[m], needs_path((enum chardev_mode)m) ? "=PATH" : "");
		n++;
	}
	return buf;
}

static int mode_index(const char *s, size_t len)
{
	for (int m = 0; chardev_mode_names[m]; m++)
		if (strlen(chardev_mode_names[m]) == len && !strncmp(chardev_mode_names[m], s, len))
			return m;
	return -1;
}

static int store(struct chardev_spec *spec, int mode, const char *path, struct error *err)
{
	if (path && strlen(path) > CHARDEV_PATH_MAX)
		return error_setf(err, -EINVAL, "path longer than %d characters", CHARDEV_PATH_MAX);
	if (chardev_spec_set(spec, (enum chardev_mode)mode, path))
		return error_setf(err, -ENOMEM, "out of memory");
	return 0;
}

int chardev_spec_parse(struct chardev_spec *spec, const char *s, unsigned int allowed,
		       struct error *err)
{
	const char *eq = strchr(s, '=');
	int m = mode_index(s, eq ? (size_t)(eq - s) : strlen(s));
	char list[96];

	/* file= and socket= need a path; the other modes take none. */
	if (m < 0 || !(allowed & CHARDEV_MODE_BIT(m)) || needs_path((enum chardev_mode)m) != !!eq ||
	    (eq && !eq[1]))
		return error_setf(err, -EINVAL, "expected %s",
				  allowed_words(allowed, list, sizeof(list)));
	return store(spec, m, eq ? eq + 1 : NULL, err);
}

/*
 * JSON: a socket may come without a path (`vessel start` puts it in the
 * VM's state directory); a file may not.
 */
static int json_mode(struct json_object *m, const char *where, unsigned int allowed,
		     struct error *err)
{
	const char *s = json_object_get_string(m);
	int i = mode_index(s, (size_t)json_object_get_string_len(m));
	char list[96] = "";

	if (i >= 0 && (allowed & CHARDEV_MODE_BIT(i)))
		return i;
	for (int k = 0; chardev_mode_names[k]; k++)
		if (allowed & CHARDEV_MODE_BIT(k))
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s\"%s\"",
				 list[0] ? ", " : "", chardev_mode_names[k]);
	return error_setf(err, -EINVAL, "%s: \"%.32s\" is not one of %s", where, s, list);
}

int chardev_spec_from_json(struct chardev_spec *spec, struct json_object *o, const char *where,
			   unsigned int allowed, struct error *err)
{
	struct json_object *m, *p = NULL;
	const char *path = NULL;
	char at[160];
	int mode, r;

	if (json_object_is_type(o, json_type_string)) {
		mode = json_mode(o, where, allowed, err);
		if (mode == CHARDEV_FILE)
			return error_setf(err, -EINVAL,
					  "%s.path: missing (mode \"file\" needs a path)", where);
		if (mode < 0)
			return mode;
		r = store(spec, mode, NULL, err);
		return r ? error_prefix(err, "%s", where), r : 0;
	}
	if (!json_object_is_type(o, json_type_object))
		return error_setf(err, -EINVAL, "%s: must be a string or an object, not %s", where,
				  json_type_to_name(json_object_get_type(o)));
	json_object_object_foreach(o, key, val)
	{
		(void)val;
		if (strcmp(key, "mode") && strcmp(key, "path"))
			return error_setf(err, -EINVAL, "%s: unknown key \"%.64s\"", where, key);
	}
	snprintf(at, sizeof(at), "%s.mode", where);
	if (!json_object_object_get_ex(o, "mode", &m))
		return error_setf(err, -EINVAL, "%s: missing", at);
	if (!json_object_is_type(m, json_type_string))
		return error_setf(err, -EINVAL, "%s: must be a string, not %s", at,
				  json_type_to_name(json_object_get_type(m)));
	if ((mode = json_mode(m, at, allowed, err)) < 0)
		return mode;
	if (json_object_object_get_ex(o, "path", &p)) {
		if (!needs_path((enum chardev_mode)mode))
			return error_setf(err, -EINVAL,
					  "%s.path: only for mode \"file\" or \"socket\"", where);
		if (!json_object_is_type(p, json_type_string) || !json_object_get_string_len(p) ||
		    strlen(json_object_get_string(p)) != (size_t)json_object_get_string_len(p))
			return error_setf(err, -EINVAL, "%s.path: must be a non-empty string",
					  where);
		path = json_object_get_string(p);
	} else if (mode == CHARDEV_FILE) {
		return error_setf(err, -EINVAL, "%s.path: missing (mode \"file\" needs a path)",
				  where);
	}
	r = store(spec, mode, path, err);
	return r ? error_prefix(err, "%s", where), r : 0;
}

struct json_object *chardev_spec_to_json(const struct chardev_spec *spec)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	if ((unsigned int)spec->mode <= CHARDEV_NONE)
		json_object_object_add(o, "mode",
				       json_object_new_string(chardev_mode_names[spec->mode]));
	if (needs_path(spec->mode) && spec->path)
		json_object_object_add(o, "path", json_object_new_string(spec->path));
	return o;
}
