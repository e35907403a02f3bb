// SPDX-License-Identifier: MIT
/*
 * The component table (util/component.h).  The lock guards only the
 * table: ops run without it, on a snapshot of the entries, so an op may
 * block (pause drains I/O) and may look components up.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/component.h"

#define COMP_TAG STREAM_TAG('C', 'O', 'M', 'P')
#define COMP_VERSION 1

void components_init(struct components *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
}

/* Copy the table so ops run unlocked; returns the count. */
static unsigned int components_snapshot(struct components *c, struct component *out)
{
	unsigned int n;

	pthread_mutex_lock(&c->lock);
	n = c->nr;
	memcpy(out, c->items, n * sizeof(*out));
	pthread_mutex_unlock(&c->lock);
	return n;
}

void components_fini(struct components *c)
{
	pthread_mutex_lock(&c->lock);
	while (c->nr) {
		struct component comp = c->items[--c->nr];

		pthread_mutex_unlock(&c->lock);
		if (comp.ops && comp.ops->destroy)
			comp.ops->destroy(comp.opaque);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	pthread_mutex_destroy(&c->lock);
}

static int components_index(struct components *c, const char *id)
{
	for (unsigned int i = 0; i < c->nr; i++)
		if (!strcmp(c->items[i].id, id))
			return (int)i;
	return -1;
}

int components_add(struct components *c, const char *id, const struct component_ops *ops,
		   void *opaque, struct error *err)
{
	int ret = 0;

	if (!id || !*id || strlen(id) >= COMPONENT_ID_MAX)
		return error_setf(err, -EINVAL, "component id \"%s\" is empty or longer than %d",
				  id ? id : "", COMPONENT_ID_MAX - 1);
	pthread_mutex_lock(&c->lock);
	if (components_index(c, id) >= 0) {
		ret = error_setf(err, -EEXIST, "component \"%s\" is already registered", id);
	} else if (c->nr >= COMPONENTS_MAX) {
		ret = error_setf(err, -ENOSPC, "more than %d components", COMPONENTS_MAX);
	} else {
		struct component *comp = &c->items[c->nr++];

		snprintf(comp->id, sizeof(comp->id), "%s", id);
		comp->ops = ops;
		comp->opaque = opaque;
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}

int components_remove(struct components *c, const char *id)
{
	int i;

	pthread_mutex_lock(&c->lock);
	i = components_index(c, id);
	if (i >= 0) {
		memmove(&c->items[i], &c->items[i + 1], (c->nr - (unsigned int)i - 1) *
			sizeof(c->items[0]));
		c->nr--;
	}
	pthread_mutex_unlock(&c->lock);
	return i < 0 ? -ENOENT : 0;
}

void *components_find(struct components *c, const char *id)
{
	void *opaque = NULL;
	int i;

	pthread_mutex_lock(&c->lock);
	i = components_index(c, id);
	if (i >= 0)
		opaque = c->items[i].opaque;
	pthread_mutex_unlock(&c->lock);
	return opaque;
}

int components_unique_id(struct components *c, const char *prefix, char *out, size_t len)
{
	int ret = -ENOSPC;

	pthread_mutex_lock(&c->lock);
	for (unsigned int n = 0; n < COMPONENTS_MAX; n++) {
		int w = snprintf(out, len, "%s%u", prefix, n);

		if (w < 0 || (size_t)w >= len || w >= COMPONENT_ID_MAX)
			break;
		if (components_index(c, out) < 0) {
			ret = 0;
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}

int components_reset(struct components *c)
{
	struct component *s = malloc(COMPONENTS_MAX * sizeof(*s));
	unsigned int n;
	int ret = 0;

	if (!s)
		return -ENOMEM;
	n = components_snapshot(c, s);
	for (unsigned int i = 0; i < n && !ret; i++)
		if (s[i].ops && s[i].ops->reset)
			ret = s[i].ops->reset(s[i].opaque);
	free(s);
	return ret;
}

int components_pause(struct components *c, struct error *err)
{
	struct component *s = malloc(COMPONENTS_MAX * sizeof(*s));
	unsigned int n, i;
	int ret = 0;

	if (!s)
		return error_setf(err, -ENOMEM, "out of memory");
	n = components_snapshot(c, s);
	for (i = 0; i < n && !ret; i++)
		if (s[i].ops && s[i].ops->pause && (ret = s[i].ops->pause(s[i].opaque)) < 0)
			error_set_errno(err, ret, "%s: cannot pause", s[i].id);
	/* Undo the pauses that succeeded, so a failure leaves the VM running. */
	if (ret)
		for (unsigned int j = i - 1; j-- > 0;) /* s[i-1] failed */
			if (s[j].ops && s[j].ops->resume)
				s[j].ops->resume(s[j].opaque);
	free(s);
	return ret;
}

static void cont_one(struct component *comp, void *arg)
{
	if (comp->ops && comp->ops->cont)
		comp->ops->cont(comp->opaque);
}

void components_cont(struct components *c)
{
	components_foreach(c, cont_one, NULL);
}

int components_resume(struct components *c, struct error *err)
{
	struct component *s = malloc(COMPONENTS_MAX * sizeof(*s));
	unsigned int n;
	int ret = 0, r;

	if (!s)
		return error_setf(err, -ENOMEM, "out of memory");
	n = components_snapshot(c, s);
	for (unsigned int i = n; i-- > 0;)
		if (s[i].ops && s[i].ops->resume && (r = s[i].ops->resume(s[i].opaque)) < 0 &&
		    !ret)
			ret = error_set_errno(err, r, "%s: cannot resume", s[i].id);
	free(s);
	return ret;
}

int components_save(struct components *c, struct stream *st, struct error *err)
{
	struct component *s = malloc(COMPONENTS_MAX * sizeof(*s));
	unsigned int n;
	int ret = 0;

	if (!s)
		return error_setf(err, -ENOMEM, "out of memory");
	n = components_snapshot(c, s);
	for (unsigned int i = 0; i < n && !ret; i++) {
		struct stream_section sec;
		size_t idlen = strlen(s[i].id);

		if (!s[i].ops || !s[i].ops->save) {
			ret = error_setf(err, -ENOTSUP, "%s: this component cannot be saved yet",
					 s[i].id);
			break;
		}
		stream_section_begin(st, &sec, COMP_TAG, COMP_VERSION);
		stream_put_u8(st, (uint8_t)idlen);
		stream_put_bytes(st, s[i].id, idlen);
		ret = s[i].ops->save(s[i].opaque, st, err);
		stream_section_end(st, &sec);
		if (!ret && stream_error(st))
			ret = error_setf(err, stream_error(st), "%s: %s", s[i].id,
					 error_msg(&st->err));
		else if (ret)
			error_prefix(err, "%s", s[i].id);
	}
	free(s);
	return ret;
}

int components_load(struct components *c, struct stream *st, struct error *err)
{
	struct component *s = malloc(COMPONENTS_MAX * sizeof(*s));
	unsigned char *loaded = calloc(COMPONENTS_MAX, 1);
	unsigned int n, done = 0;
	int ret = 0;

	if (!s || !loaded) {
		free(s);
		free(loaded);
		return error_setf(err, -ENOMEM, "out of memory");
	}
	n = components_snapshot(c, s);
	while (!ret && stream_remaining(st) > 0) {
		struct stream_section sec;
		char id[COMPONENT_ID_MAX] = "";
		unsigned int i, idlen;

		stream_section_open(st, &sec, COMP_TAG);
		idlen = stream_get_u8(st);
		if (!stream_error(st) && idlen >= COMPONENT_ID_MAX)
			stream_fail(st, -EPROTO, "a component id of %u bytes", idlen);
		if (!stream_error(st))
			stream_get_bytes(st, id, idlen);
		if (stream_error(st)) {
			ret = error_setf(err, stream_error(st), "%s", error_msg(&st->err));
			break;
		}
		for (i = 0; i < n && strcmp(s[i].id, id); i++)
			;
		if (i == n || loaded[i]) {
			ret = error_setf(err, -EPROTO, "state for %s component \"%s\"",
					 i == n ? "an unknown" : "a repeated", id);
			break;
		}
		if (!s[i].ops || !s[i].ops->load) {
			ret = error_setf(err, -ENOTSUP, "%s: this component cannot be loaded", id);
			break;
		}
		ret = s[i].ops->load(s[i].opaque, st, err);
		stream_section_close(st, &sec);
		if (!ret && stream_error(st))
			ret = error_setf(err, stream_error(st), "%s: %s", id, error_msg(&st->err));
		else if (ret)
			error_prefix(err, "%s", id);
		loaded[i] = 1;
		done++;
	}
	if (!ret && done != n)
		for (unsigned int i = 0; i < n; i++)
			if (!loaded[i]) {
				ret = error_setf(err, -EPROTO, "the state has nothing for \"%s\"",
						 s[i].id);
				break;
			}
	free(s);
	free(loaded);
	return ret;
}

void components_stats(struct components *c, struct json_object *obj)
{
	struct component *s = malloc(COMPONENTS_MAX * sizeof(*s));
	unsigned int n;

	if (!s)
		return;
	n = components_snapshot(c, s);
	for (unsigned int i = 0; i < n; i++) {
		struct json_object *o;

		if (!s[i].ops || !s[i].ops->stats)
			continue;
		o = json_object_new_object();
		s[i].ops->stats(s[i].opaque, o);
		json_object_object_add(obj, s[i].id, o);
	}
	free(s);
}

int components_disk_snapshot(struct components *c, enum component_disk_op op, const char *name,
			     struct error *err)
{
	struct component *s = malloc(COMPONENTS_MAX * sizeof(*s));
	unsigned int n, i, disks = 0, deleted = 0;
	int ret = 0, r;

	if (!s)
		return error_setf(err, -ENOMEM, "out of memory");
	n = components_snapshot(c, s);
	for (i = 0; i < n; i++) {
		struct error e = ERROR_INIT;

		if (!s[i].ops || !s[i].ops->disk_snapshot)
			continue;
		r = s[i].ops->disk_snapshot(s[i].opaque, op, name, &e);
		if (r == -ENODEV)
			continue;
		disks++;
		if (op == COMPONENT_DISK_DELETE) {
			/* a disk that never had it (added later) is no failure */
			if (!r) {
				deleted++;
			} else if (r != -ENOENT && !ret) {
				ret = r;
				error_propagate(err, &e);
			}
			continue;
		}
		if (r) {
			ret = r;
			error_propagate(err, &e);
			break;
		}
	}
	/* A failed CREATE takes back what it took: no disk keeps half a snapshot. */
	if (ret && op == COMPONENT_DISK_CREATE)
		while (i-- > 0)
			if (s[i].ops && s[i].ops->disk_snapshot)
				(void)s[i].ops->disk_snapshot(s[i].opaque, COMPONENT_DISK_DELETE,
							      name, NULL);
	if (!ret && op == COMPONENT_DISK_DELETE && !deleted && disks)
		ret = error_setf(err, -ENOENT, "no disk has a snapshot '%s'", name);
	free(s);
	return ret ? ret : (int)disks;
}

void components_foreach(struct components *c, void (*fn)(struct component *comp, void *arg),
			void *arg)
{
	struct component *s = malloc(COMPONENTS_MAX * sizeof(*s));
	unsigned int n;

	if (!s)
		return;
	n = components_snapshot(c, s);
	for (unsigned int i = 0; i < n; i++)
		fn(&s[i], arg);
	free(s);
}
