// SPDX-License-Identifier: MIT
/*
 * vessel snapshot create|list|revert|delete (virsh snapshot-*): named
 * snapshots of a VM with its disks, in a tree (each one's parent is the
 * VM's current snapshot when it was taken).
 *
 * Each lives beside the VM's definition, in snapshots/NAME/SNAP/:
 *   meta.json   name, parent, time, kind, the VM's state then and its
 *               definition (with the disks it had); written last, so a
 *               snapshot cut short has none and is not listed;
 *   state, state.mem   the VM's state and memory (vessel save's files,
 *               docs/snapshot-format.md) when the VM was running.
 * snapshots/NAME/current names the current snapshot.
 *
 * Internal (the default): every writable qcow2 disk takes an internal
 * snapshot SNAP (qcow2's own table: qemu-img snapshot -l lists it); of a
 * running VM the VMM takes them, quiesced, at the instant its state is
 * saved.  The VM state is not put in qcow2's vmstate area, as QEMU's
 * savevm does: that area holds QEMU's migration stream, which QEMU's
 * loadvm would misread; it sits in one disk of several; and a memory file
 * of its own is what restore maps MAP_PRIVATE to start without reading
 * it.  A raw disk has no internal snapshots and is refused.
 *
 * External (--external): every writable disk gets a new qcow2 overlay
 * (DISK.SNAP.qcow2) backed by the image as it is now, which the VM uses
 * from then on; the image itself is the snapshot and must not be written.
 * The VMM cannot open files (its jail), so a running VM is saved, stopped,
 * and restored onto its overlays: the guest sees a pause, not a reboot.
 * Revert puts a new overlay on the snapshot's images.
 *
 * --disk-only takes no VM state (a VM that is shut off has none).
 * Revert stops a running VM, takes the disks back to the snapshot, puts
 * the snapshot's definition back, and restores the state where there is
 * one; a disk-only snapshot leaves the VM shut off.  Delete removes an
 * internal snapshot from the disks; an external snapshot's images stay,
 * being the overlays' backing files (vessel img commit merges them).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "block/block.h"
#include "block/qcow2.h"
#include "cli/cli.h"
#include "cli/mgmt.h"
#include "util/error.h"
#include "vm/config_json.h"

#define SNAP_USAGE                                                      \
	"vessel snapshot create NAME SNAP [--disk-only] [--external]\n" \
	"       vessel snapshot list NAME [--tree]\n"                   \
	"       vessel snapshot revert NAME SNAP\n"                     \
	"       vessel snapshot delete NAME SNAP"
#define SNAP_NAME_MAX 64
#define SNAP_PATH 4096

struct snap_paths {
	char top[SNAP_PATH];	 /* VMDIR/snapshots */
	char dir[SNAP_PATH];	 /* VMDIR/snapshots/SNAP */
	char meta[SNAP_PATH];	 /* .../meta.json */
	char state[SNAP_PATH];	 /* .../state (+ .mem) */
	char current[SNAP_PATH]; /* VMDIR/snapshots/current */
};

/* A directory name, and one qcow2 and humans can both carry. */
static int snap_name_check(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > SNAP_NAME_MAX || s[0] == '.' || !strcmp(s, "current"))
		goto bad;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] == '-' || s[i] == '_' || s[i] == '.' || (s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
			goto bad;
	return 0;
bad:
	return cli_error("'%s' is not a snapshot name: 1 to %d of A-Z a-z 0-9 . _ -, not "
			 "starting with '.', not 'current'",
			 s, SNAP_NAME_MAX);
}

static int snap_paths(const struct mgmt *m, const char *snap, struct snap_paths *p)
{
	if ((size_t)snprintf(p->top, sizeof(p->top), "%s/snapshots/%s", m->dirs.data, m->vm.name) >=
		    sizeof(p->top) ||
	    (size_t)snprintf(p->dir, sizeof(p->dir), "%s/%s", p->top, snap ? snap : "") >=
		    sizeof(p->dir) ||
	    (size_t)snprintf(p->meta, sizeof(p->meta), "%s/meta.json", p->dir) >= sizeof(p->meta) ||
	    (size_t)snprintf(p->state, sizeof(p->state), "%s/state", p->dir) >= sizeof(p->state) ||
	    (size_t)snprintf(p->current, sizeof(p->current), "%s/current", p->top) >=
		    sizeof(p->current))
		return cli_error("%s: path too long", m->dirs.data);
	return 0;
}

static void snap_current_read(const struct snap_paths *p, char *out, size_t len)
{
	FILE *f = fopen(p->current, "re");

	out[0] = 0;
	if (!f)
		return;
	if (!fgets(out, (int)len, f))
		out[0] = 0;
	out[strcspn(out, "\n")] = 0;
	fclose(f);
}

static int snap_current_write(const struct snap_paths *p, const char *name)
{
	if (!name || !*name)
		return unlink(p->current) && errno != ENOENT ? -errno : 0;
	return state_write_file(p->current, name, strlen(name));
}

/* meta.json of snapshot `snap`, or NULL (printed unless quiet). */
static struct json_object *snap_meta_read(const struct mgmt *m, const char *snap, bool quiet)
{
	struct snap_paths p;
	struct json_object *o;

	if (snap_paths(m, snap, &p))
		return NULL;
	o = json_object_from_file(p.meta);
	if (!o && !quiet)
		cli_error("VM '%s' has no snapshot '%s'", m->vm.name, snap);
	if (o && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
		if (!quiet)
			cli_error("%s: not a snapshot's metadata", p.meta);
	}
	return o;
}

static const char *meta_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : "";
}

static bool meta_bool(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

/* The writable disks of c must all be qcow2 for an internal snapshot. */
static int snap_check_internal(const struct vm_config *c)
{
	for (unsigned int i = 0; i < vm_config_nr_disks(c); i++) {
		const struct vm_disk_config *d = vm_config_disk(c, i);
		const char *fmt = d->format;
		struct error err = ERROR_INIT;

		if (d->readonly)
			continue;
		if (!fmt && blk_probe_format(d->path, &fmt, &err))
			return cli_error("%s", error_msg(&err));
		if (strcmp(fmt, "qcow2"))
			return cli_error("%s: a %s disk has no internal snapshots (use qcow2, or "
					 "--external)",
					 d->path, fmt);
	}
	return 0;
}

enum snap_disk_op { SNAP_DISK_CREATE, SNAP_DISK_APPLY, SNAP_DISK_DELETE };

/* The VM is shut off: this process opens each writable qcow2 disk. */
static int snap_disks_offline(const struct vm_config *c, enum snap_disk_op op, const char *snap)
{
	static const char *const what[] = { "take", "revert to", "delete" };

	for (unsigned int i = 0; i < vm_config_nr_disks(c); i++) {
		const struct vm_disk_config *d = vm_config_disk(c, i);
		struct blk_open_opts o = { .format = d->format, .no_backing = true };
		struct error err = ERROR_INIT;
		struct blkdev *bd;
		int r;

		if (d->readonly)
			continue;
		r = blk_open(d->path, &o, &bd, &err);
		if (r)
			return cli_error("%s", error_msg(&err));
		r = op == SNAP_DISK_CREATE  ? qcow2_snapshot_create(bd, snap)
		    : op == SNAP_DISK_APPLY ? qcow2_snapshot_apply(bd, snap)
					    : qcow2_snapshot_delete(bd, snap);
		blk_close(bd);
		if (r == -ENOENT && op == SNAP_DISK_DELETE)
			continue; /* a disk added since */
		if (r) {
			/* a create that fails on disk i takes back disks 0..i-1 */
			for (unsigned int j = 0; op == SNAP_DISK_CREATE && j < i; j++) {
				const struct vm_disk_config *e = vm_config_disk(c, j);
				struct blk_open_opts oe = { .format = e->format,
							    .no_backing = true };

				if (!e->readonly && !blk_open(e->path, &oe, &bd, NULL)) {
					qcow2_snapshot_delete(bd, snap);
					blk_close(bd);
				}
			}
			return cli_error("%s: cannot %s snapshot '%s': %s", d->path, what[op], snap,
					 strerror(-r));
		}
	}
	return 0;
}

/*
 * A new overlay for every writable disk of c, backed by the disk as it is
 * (base: the disks to put them on, NULL: c's own), and c pointed at them.
 * tag names them: DISK.tag.qcow2 beside the base.
 */
static int snap_overlays_one(struct vm_config *c, const struct vm_config *base, unsigned int i,
			     const char *tag);

static int snap_overlays(struct vm_config *c, const struct vm_config *base, const char *tag)
{
	unsigned int n = vm_config_nr_disks(c);
	char **orig = calloc(n ? n : 1, sizeof(*orig));

	if (!orig)
		return cli_error("out of memory");
	for (unsigned int i = 0; i < n; i++) {
		orig[i] = vm_config_disk(c, i)->path;
		vm_config_disk(c, i)->path = strdup(orig[i]);
		if (!vm_config_disk(c, i)->path || snap_overlays_one(c, base, i, tag)) {
			/* no half-made snapshot: the overlays made so far go */
			for (unsigned int j = 0; j < i; j++)
				if (strcmp(vm_config_disk(c, j)->path, orig[j]))
					unlink(vm_config_disk(c, j)->path);
			for (unsigned int j = 0; j <= i; j++)
				free(orig[j]);
			free(orig);
			return 1;
		}
	}
	for (unsigned int i = 0; i < n; i++)
		free(orig[i]);
	free(orig);
	return 0;
}

/* Disk i of c gets its overlay (snap_overlays). */
static int snap_overlays_one(struct vm_config *c, const struct vm_config *base, unsigned int i,
			     const char *tag)
{
	struct vm_disk_config *d = vm_config_disk(c, i);
	const struct vm_disk_config *b = base ? vm_config_disk(base, i) : d;
	const char *fmt = b->format;
	struct blk_create_opts co = { 0 };
	struct error err = ERROR_INIT;
	char path[SNAP_PATH], *dot;
	struct blkdev *bd;
	int r;

	if (d->readonly)
		return 0;
	if (!fmt && blk_probe_format(b->path, &fmt, &err))
		return cli_error("%s", error_msg(&err));
	r = blk_open(b->path, &(struct blk_open_opts){ .format = fmt, .readonly = true }, &bd,
		     &err);
	if (r)
		return cli_error("%s", error_msg(&err));
	co.size = bd->size;
	blk_close(bd);
	snprintf(path, sizeof(path), "%s", b->path);
	dot = strrchr(path, '.');
	if (dot && strchr(dot, '/') == NULL &&
	    (!strcmp(dot, ".qcow2") || !strcmp(dot, ".raw") || !strcmp(dot, ".img")))
		*dot = 0;
	if ((size_t)snprintf(path + strlen(path), sizeof(path) - strlen(path), ".%s.qcow2", tag) >=
	    sizeof(path) - strlen(path))
		return cli_error("%s: path too long", b->path);
	if (!access(path, F_OK))
		return cli_error("%s: the overlay exists already", path);
	co.backing_file = b->path;
	co.backing_fmt = fmt;
	r = blk_create("qcow2", path, &co, &err);
	if (r)
		return cli_error("%s", error_msg(&err));
	free(d->path);
	free(d->format);
	d->path = strdup(path);
	d->format = strdup("qcow2");
	if (!d->path || !d->format)
		return cli_error("out of memory");
	return 0;
}

static int snap_meta_write(const struct snap_paths *p, const char *snap, const char *parent,
			   const char *kind, const char *state, bool memory,
			   const struct vm_config *c)
{
	struct json_object *o = json_object_new_object();
	const char *t;
	int r;

	json_object_object_add(o, "name", json_object_new_string(snap));
	if (parent && *parent)
		json_object_object_add(o, "parent", json_object_new_string(parent));
	json_object_object_add(o, "created", json_object_new_int64((int64_t)time(NULL)));
	json_object_object_add(o, "kind", json_object_new_string(kind));
	json_object_object_add(o, "state", json_object_new_string(state));
	json_object_object_add(o, "memory", json_object_new_boolean(memory));
	json_object_object_add(o, "definition", vm_config_to_json(c));
	t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						      JSON_C_TO_STRING_NOSLASHESCAPE);
	r = state_write_file(p->meta, t, strlen(t));
	json_object_put(o);
	return r ? cli_error("%s: %s", p->meta, strerror(-r)) : 0;
}

/* DATA/snapshots and DATA/snapshots/NAME, mode 0700 (as DATA is). */
static int mkdir_parents(const char *top)
{
	char up[SNAP_PATH];
	char *slash;

	snprintf(up, sizeof(up), "%s", top);
	slash = strrchr(up, '/');
	if (slash)
		*slash = 0;
	if (mkdir(up, 0700) && errno != EEXIST)
		return -1;
	return mkdir(top, 0700) && errno != EEXIST ? -1 : 0;
}

/* "running" or "paused" from the VMM, "" if it does not say. */
static void snap_vm_state(const struct mgmt *m, char *out, size_t len)
{
	struct json_object *o = NULL;
	char errbuf[128];

	snprintf(out, len, "running");
	if (mgmt_api(m, "GET", "/vm", NULL, &o, errbuf, sizeof(errbuf)) == 200 && o)
		snprintf(out, len, "%s", meta_str(o, "state"));
	json_object_put(o);
}

static int snap_create(struct mgmt *m, const char *snap, bool disk_only, bool external)
{
	char parent[SNAP_NAME_MAX + 2], vmstate[32], body[128];
	enum state_status st = state_vm_status(&m->vm, NULL);
	bool running = st == STATE_RUNNING, memory = running && !disk_only;
	bool stopped = false, keep_state = false;
	struct snap_paths p;
	struct vm_config c;
	int r = 1;

	if (snap_paths(m, snap, &p))
		return 1;
	if (st == STATE_UNDEFINED)
		return cli_error("VM '%s' is not defined", m->vm.name);
	if (!access(p.meta, F_OK))
		return cli_error("VM '%s' has a snapshot '%s' already", m->vm.name, snap);
	if (!access(p.dir, F_OK))
		return cli_error("%s is left from a create cut short (no meta.json): look, "
				 "then remove it",
				 p.dir);
	/*
	 * The definition, not the running copy (which holds the API socket,
	 * jail ids and resolved networks of this one run): revert puts it
	 * back as the definition.
	 */
	if (mgmt_load(m, false, &c))
		return 1;
	if (!external && snap_check_internal(&c))
		goto out;
	if (mkdir_parents(p.top) || mkdir(p.dir, 0700)) {
		r = cli_error("cannot create %s: %s", p.dir, strerror(errno));
		goto out;
	}
	snap_current_read(&p, parent, sizeof(parent));
	snprintf(vmstate, sizeof(vmstate), "shutoff");
	if (running)
		snap_vm_state(m, vmstate, sizeof(vmstate));
	if (!running && !external) {
		r = snap_disks_offline(&c, SNAP_DISK_CREATE, snap);
	} else if (running && !external && disk_only) {
		char errbuf[256];
		int s;

		snprintf(body, sizeof(body), "{\"name\": \"%s\"}", snap);
		s = mgmt_api(m, "PUT", "/vm/disk-snapshot/create", body, NULL, errbuf,
			     sizeof(errbuf));
		r = s == 200 ? 0
			     : cli_error("cannot snapshot VM '%s': %s", m->vm.name,
					 s < 0 ? strerror(-s) : errbuf);
	} else if (running && !external) {
		snprintf(body, sizeof(body), "{\"disk_snapshot\": \"%s\"}", snap);
		r = cli_save_vm(m->vm.name, p.state, body);
	} else {
		/* external: the state first (running), then the overlays */
		struct vm_config o;
		char *dargv[] = { "destroy", m->vm.name, NULL };

		r = running ? cli_save_vm(m->vm.name, p.state, NULL) : 0;
		if (!r && running) {
			mgmt_close(m); /* destroy and start take the lock */
			r = cmd_destroy(2, dargv) ? -1 : mgmt_lock(m);
			stopped = !r;
		}
		if (!r && mgmt_load(m, false, &o) == 0) {
			r = snap_overlays(&o, NULL, snap);
			if (!r && mgmt_save(m->vm.def, &o))
				r = cli_error("%s: cannot store the definition", m->vm.def);
			vm_config_free(&o);
		} else if (!r) {
			r = 1;
		}
		if (r && stopped) {
			/* no overlays: the VM runs on from its save, on the disks it had */
			mgmt_close(m);
			if (cli_start_named(m->vm.name, p.state, false))
				keep_state = true; /* the only copy of the VM now */
			else
				cli_note("VM '%s' runs on without the snapshot\n", m->vm.name);
			mgmt_lock(m);
		} else if (!r && running) {
			mgmt_close(m);
			r = cli_start_named(m->vm.name, p.state, false);
			if (!r)
				r = mgmt_lock(m);
		}
		if (!r && disk_only && running) {
			char mem[SNAP_PATH + 8];

			snprintf(mem, sizeof(mem), "%s.mem", p.state);
			unlink(p.state);
			unlink(mem);
			memory = false;
		}
	}
	if (r)
		goto fail;
	r = snap_meta_write(&p, snap, parent, external ? "external" : "internal", vmstate, memory,
			    &c);
	if (!r)
		r = snap_current_write(&p, snap);
	if (!r)
		cli_note("VM '%s': snapshot '%s' created (%s%s)\n", m->vm.name, snap,
			 external ? "external" : "internal",
			 memory ? ", with its state" : ", disks");
	goto out;
fail:
	if (keep_state) {
		cli_error("VM '%s' is saved in %s (vessel restore %s)", m->vm.name, p.state,
			  p.state);
	} else {
		/* nothing of it stays: no meta.json, no state */
		char mem[SNAP_PATH + 8];

		snprintf(mem, sizeof(mem), "%s.mem", p.state);
		unlink(p.state);
		unlink(mem);
		rmdir(p.dir);
	}
out:
	vm_config_free(&c);
	return r ? 1 : 0;
}

struct snap_entry {
	char name[SNAP_NAME_MAX + 1];
	char parent[SNAP_NAME_MAX + 1];
	char kind[16], state[16];
	bool memory;
	int64_t created;
};

static int snap_entry_cmp(const void *a, const void *b)
{
	const struct snap_entry *x = a, *y = b;

	return x->created != y->created ? (x->created < y->created ? -1 : 1)
					: strcmp(x->name, y->name);
}

/* Every snapshot with a meta.json, oldest first; *n of them. */
static struct snap_entry *snap_scan(const struct mgmt *m, unsigned int *n)
{
	struct snap_entry *v = NULL, *t;
	struct snap_paths p;
	struct dirent *de;
	DIR *d;

	*n = 0;
	if (snap_paths(m, NULL, &p))
		return NULL;
	d = opendir(p.top);
	while (d && (de = readdir(d))) {
		struct json_object *o;
		struct json_object *c;

		if (de->d_name[0] == '.' || strlen(de->d_name) > SNAP_NAME_MAX)
			continue;
		o = snap_meta_read(m, de->d_name, true);
		if (!o)
			continue;
		t = realloc(v, sizeof(*v) * (*n + 1));
		if (!t) {
			json_object_put(o);
			break;
		}
		v = t;
		memset(&v[*n], 0, sizeof(v[*n]));
		snprintf(v[*n].name, sizeof(v[*n].name), "%s", de->d_name);
		snprintf(v[*n].parent, sizeof(v[*n].parent), "%s", meta_str(o, "parent"));
		snprintf(v[*n].kind, sizeof(v[*n].kind), "%s", meta_str(o, "kind"));
		snprintf(v[*n].state, sizeof(v[*n].state), "%s", meta_str(o, "state"));
		v[*n].memory = meta_bool(o, "memory");
		if (json_object_object_get_ex(o, "created", &c))
			v[*n].created = json_object_get_int64(c);
		json_object_put(o);
		(*n)++;
	}
	if (d)
		closedir(d);
	if (v)
		qsort(v, *n, sizeof(*v), snap_entry_cmp);
	return v;
}

static void snap_tree_print(const struct snap_entry *v, unsigned int n, const char *parent,
			    const char *cur, int depth)
{
	for (unsigned int i = 0; i < n; i++) {
		if (strcmp(v[i].parent, parent))
			continue;
		/* a parent deleted by hand: its children print at the top */
		printf("%*s%s%s\n", depth * 2, "", v[i].name, strcmp(v[i].name, cur) ? "" : " *");
		if (depth < 64)
			snap_tree_print(v, n, v[i].name, cur, depth + 1);
	}
}

static int snap_list(const struct mgmt *m, bool tree)
{
	char cur[SNAP_NAME_MAX + 2], when[32];
	struct snap_entry *v;
	struct snap_paths p;
	unsigned int n;

	if (snap_paths(m, NULL, &p))
		return 1;
	if (state_vm_status(&m->vm, NULL) == STATE_UNDEFINED)
		return cli_error("VM '%s' is not defined", m->vm.name);
	snap_current_read(&p, cur, sizeof(cur));
	v = snap_scan(m, &n);
	if (tree) {
		/* roots: no parent, or one that is gone */
		for (unsigned int i = 0; i < n; i++) {
			bool found = false;

			for (unsigned int j = 0; j < n && v[i].parent[0]; j++)
				found |= !strcmp(v[j].name, v[i].parent);
			if (!found)
				v[i].parent[0] = 0;
		}
		snap_tree_print(v, n, "", cur, 0);
		free(v);
		return 0;
	}
	printf("%-20s %-19s %-8s %-9s %s\n", "NAME", "CREATED", "STATE", "KIND", "PARENT");
	for (unsigned int i = 0; i < n; i++) {
		time_t t = (time_t)v[i].created;
		struct tm tm;

		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
		printf("%-20s %-19s %-8s %-9s %s%s\n", v[i].name, when,
		       v[i].memory ? v[i].state : "disks", v[i].kind,
		       v[i].parent[0] ? v[i].parent : "-",
		       strcmp(v[i].name, cur) ? "" : " (current)");
	}
	free(v);
	return 0;
}

/* The definition stored in meta o, with the VM's name. */
static int snap_meta_definition(const struct mgmt *m, struct json_object *o, struct vm_config *c)
{
	struct json_object *d;
	struct error err = ERROR_INIT;

	vm_config_init(c);
	if (!json_object_object_get_ex(o, "definition", &d) || vm_config_from_json(d, c, &err)) {
		vm_config_free(c);
		return cli_error("snapshot of VM '%s': its definition: %s", m->vm.name,
				 error_is_set(&err) ? error_msg(&err) : "missing");
	}
	return 0;
}

/*
 * An internal revert rewrites the snapshot's images in place, so they
 * must be the VM's disks still, and no external snapshot may stand on
 * them: its overlays read them as their backing files.
 */
static int snap_internal_revertible(const struct mgmt *m, const struct vm_config *c,
				    const char *snap)
{
	struct snap_entry *v;
	struct vm_config now;
	unsigned int n;
	int r = 0;

	if (mgmt_load(m, false, &now))
		return 1;
	for (unsigned int i = 0; i < vm_config_nr_disks(c) && !r; i++)
		if (i >= vm_config_nr_disks(&now) ||
		    strcmp(vm_config_disk(c, i)->path, vm_config_disk(&now, i)->path))
			r = cli_error("cannot revert to snapshot '%s': the VM's disk %u is no "
				      "longer %s (an external snapshot put an overlay on it)",
				      snap, i, vm_config_disk(c, i)->path);
	vm_config_free(&now);
	v = snap_scan(m, &n);
	for (unsigned int k = 0; k < n && !r; k++) {
		struct json_object *o;
		struct vm_config e;

		if (strcmp(v[k].kind, "external") || !(o = snap_meta_read(m, v[k].name, true)))
			continue;
		if (!snap_meta_definition(m, o, &e)) {
			for (unsigned int i = 0; i < vm_config_nr_disks(c) && !r; i++)
				for (unsigned int j = 0; j < vm_config_nr_disks(&e) && !r; j++)
					if (!strcmp(vm_config_disk(c, i)->path,
						    vm_config_disk(&e, j)->path))
						r = cli_error("cannot revert to snapshot '%s': %s "
							      "is the backing image of external "
							      "snapshot '%s'",
							      snap, vm_config_disk(c, i)->path,
							      v[k].name);
			vm_config_free(&e);
		}
		json_object_put(o);
	}
	free(v);
	return r;
}

static int snap_revert(struct mgmt *m, const char *snap)
{
	struct json_object *o = snap_meta_read(m, snap, false);
	bool external, memory;
	struct snap_paths p;
	struct vm_config c;
	char tag[SNAP_NAME_MAX + 24];
	int r = 1;

	if (!o)
		return 1;
	external = !strcmp(meta_str(o, "kind"), "external");
	memory = meta_bool(o, "memory");
	if (snap_paths(m, snap, &p) || snap_meta_definition(m, o, &c)) {
		json_object_put(o);
		return 1;
	}
	/* checked before the running VM is stopped: a refusal leaves it running */
	if (!external && snap_internal_revertible(m, &c, snap))
		goto out;
	if (state_vm_status(&m->vm, NULL) == STATE_RUNNING) {
		char *dargv[] = { "destroy", m->vm.name, NULL };

		/* virsh snapshot-revert: the VM's current state is dropped */
		mgmt_close(m);
		if (cmd_destroy(2, dargv) || mgmt_lock(m))
			goto out;
	}
	if (external) {
		/* a new overlay on the snapshot's images: they stay as they were */
		struct vm_config base;

		snprintf(tag, sizeof(tag), "%s-r%lld", snap, (long long)time(NULL));
		if (snap_meta_definition(m, o, &base))
			goto out;
		r = snap_overlays(&c, &base, tag);
		vm_config_free(&base);
	} else {
		r = snap_disks_offline(&c, SNAP_DISK_APPLY, snap);
	}
	if (!r && mgmt_save(m->vm.def, &c))
		r = cli_error("%s: cannot store the definition", m->vm.def);
	if (!r)
		r = snap_current_write(&p, snap);
	if (r)
		goto out;
	if (memory) {
		mgmt_close(m);
		r = cli_start_named(m->vm.name, p.state, false);
		if (!r)
			r = mgmt_lock(m);
	}
	if (!r)
		cli_note("VM '%s' reverted to snapshot '%s'%s\n", m->vm.name, snap,
			 memory ? "" : " (disks; the VM is shut off)");
out:
	vm_config_free(&c);
	json_object_put(o);
	return r ? 1 : 0;
}

static int snap_delete(struct mgmt *m, const char *snap)
{
	struct json_object *o = snap_meta_read(m, snap, false);
	char cur[SNAP_NAME_MAX + 2], path[SNAP_PATH + 16];
	const char *parent;
	struct snap_entry *v;
	struct snap_paths p;
	struct vm_config c;
	unsigned int n;
	int r = 0;

	if (!o)
		return 1;
	parent = meta_str(o, "parent");
	if (snap_paths(m, snap, &p) || snap_meta_definition(m, o, &c)) {
		json_object_put(o);
		return 1;
	}
	if (strcmp(meta_str(o, "kind"), "external")) {
		if (state_vm_status(&m->vm, NULL) == STATE_RUNNING) {
			char body[128], errbuf[256];
			int s;

			snprintf(body, sizeof(body), "{\"name\": \"%s\"}", snap);
			s = mgmt_api(m, "PUT", "/vm/disk-snapshot/delete", body, NULL, errbuf,
				     sizeof(errbuf));
			/*
			 * 404: no disk of the running VM has it: an external
			 * snapshot since put overlays on its images, which the
			 * VMM now only reads; they keep it until the VM is shut
			 * off (vessel img snapshot -d).
			 */
			if (s == 404)
				cli_note("snapshot '%s': the VM's disks do not have it; its images "
					 "keep it (vessel img snapshot -d, once shut off)\n",
					 snap);
			else if (s != 200)
				r = cli_error("cannot delete snapshot '%s' of VM '%s': %s", snap,
					      m->vm.name, s < 0 ? strerror(-s) : errbuf);
		} else {
			r = snap_disks_offline(&c, SNAP_DISK_DELETE, snap);
		}
	}
	if (r)
		goto out;
	/* children move up to the parent; the current one becomes the parent */
	v = snap_scan(m, &n);
	for (unsigned int i = 0; i < n; i++) {
		struct json_object *co;
		struct snap_paths cp;
		const char *t;

		if (strcmp(v[i].parent, snap) || snap_paths(m, v[i].name, &cp))
			continue;
		co = snap_meta_read(m, v[i].name, true);
		if (!co)
			continue;
		if (*parent)
			json_object_object_add(co, "parent", json_object_new_string(parent));
		else
			json_object_object_del(co, "parent");
		t = json_object_to_json_string_ext(co, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_NOSLASHESCAPE);
		state_write_file(cp.meta, t, strlen(t));
		json_object_put(co);
	}
	free(v);
	snap_current_read(&p, cur, sizeof(cur));
	if (!strcmp(cur, snap))
		snap_current_write(&p, parent);
	unlink(p.meta); /* first: a half-deleted snapshot is not listed */
	snprintf(path, sizeof(path), "%s.mem", p.state);
	unlink(path);
	unlink(p.state);
	if (rmdir(p.dir))
		r = cli_error("%s: %s", p.dir, strerror(errno));
	if (!r)
		cli_note("VM '%s': snapshot '%s' deleted\n", m->vm.name, snap);
out:
	vm_config_free(&c);
	json_object_put(o);
	return r ? 1 : 0;
}

int cmd_snapshot(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "", *name = NULL, *snap = NULL;
	bool disk_only = false, external = false, tree = false;
	struct mgmt m;
	int r;

	if (mgmt_help(argc, argv,
		      SNAP_USAGE "\n\nSnapshots of a VM with its disks: internal (qcow2's own "
				 "snapshots) or external\n(--external: a new overlay per disk), "
				 "with the VM's state when it runs, unless\n--disk-only; revert "
				 "stops a running VM and takes it back."))
		return 0;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--disk-only"))
			disk_only = true;
		else if (!strcmp(argv[i], "--external"))
			external = true;
		else if (!strcmp(argv[i], "--tree"))
			tree = true;
		else if (argv[i][0] != '-' && !name)
			name = argv[i];
		else if (argv[i][0] != '-' && !snap)
			snap = argv[i];
		else
			return cli_usage(SNAP_USAGE);
	}
	if (!name || (!strcmp(sub, "list") ? snap != NULL : !snap) ||
	    ((disk_only || external) && strcmp(sub, "create")) || (tree && strcmp(sub, "list")))
		return cli_usage(SNAP_USAGE);
	if (strcmp(sub, "create") && strcmp(sub, "list") && strcmp(sub, "revert") &&
	    strcmp(sub, "delete"))
		return cli_usage(SNAP_USAGE);
	if ((snap && snap_name_check(snap)) || mgmt_open(name, &m) || mgmt_lock(&m))
		return 1;
	if (!strcmp(sub, "create"))
		r = snap_create(&m, snap, disk_only, external);
	else if (!strcmp(sub, "list"))
		r = snap_list(&m, tree);
	else if (!strcmp(sub, "revert"))
		r = snap_revert(&m, snap);
	else
		r = snap_delete(&m, snap);
	mgmt_close(&m);
	return r;
}
