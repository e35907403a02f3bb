/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_BLOCK_QCOW2_H
#define VESSEL_BLOCK_QCOW2_H

/*
 * qcow2 format driver (QEMU docs/interop/qcow2.txt, versions 2 and 3).
 *
 * The generic operations (open, read, write, flush, discard, write
 * zeroes, block status, resize, create, write compressed) are reached
 * through `qcow2_driver` (block.h).  This header adds what only qcow2
 * has, for `vessel img`: check/repair, internal snapshots, info and
 * rebase/commit helpers.
 *
 * Every function takes a blkdev opened with the qcow2 driver (others
 * get -EINVAL) and returns 0 or -errno after one log_err() line naming
 * the problem.  Functions that modify the image need a read-write
 * blkdev (-EROFS otherwise).  Callers serialize calls on one blkdev
 * (bd->lock), as the block layer does for driver ops.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "block/block.h"

/* True if bd is an open qcow2 image. */
bool qcow2_is_qcow2(const struct blkdev *bd);

/*
 * Create an image (also the driver's create hook).  o->size may be 0
 * when o->backing_file is set: the backing file's size is used then.
 * The backing file name is stored as given; a relative name is relative
 * to the directory of `path` (as qemu does).  0 or -errno with *err set.
 */
int qcow2_create(const char *path, const struct blk_create_opts *o, struct error *err);

/* ---- check / repair ---------------------------------------------- */

#define QCOW2_CHECK_REPAIR_LEAKS (1 << 0)  /* -r leaks: drop refcounts of unreferenced clusters */
#define QCOW2_CHECK_REPAIR_ERRORS (1 << 1) /* with LEAKS = -r all: rebuild refcounts, fix flags */
#define QCOW2_CHECK_REPAIR_ALL (QCOW2_CHECK_REPAIR_LEAKS | QCOW2_CHECK_REPAIR_ERRORS)

struct qcow2_check_result {
	uint64_t corruptions;	     /* refcount too low, bad offsets, OFLAG_COPIED wrong, ... */
	uint64_t leaks;		     /* clusters with a refcount but no reference */
	uint64_t check_errors;	     /* metadata that could not be read */
	uint64_t corruptions_fixed;  /* with QCOW2_CHECK_REPAIR_ERRORS */
	uint64_t leaks_fixed;	     /* with QCOW2_CHECK_REPAIR_LEAKS */
	uint64_t allocated_clusters; /* guest clusters with data in this layer */
	uint64_t total_clusters;     /* guest clusters of the virtual disk */
	uint64_t fragmented_clusters;
	uint64_t compressed_clusters;
	uint64_t image_end_offset; /* end of the last used host cluster */
};

/*
 * Check the image's metadata (the refcounts against every reference
 * from the active L1 table, snapshots, header structures) the way
 * `qemu-img check` does; results in *res (zeroed first).  Returns 0
 * when the check ran (whatever it found), -errno if it could not run.
 * A repair needs a read-write blkdev; after it, res counts what is left.
 */
int qcow2_check(struct blkdev *bd, int repair_flags, struct qcow2_check_result *res);

/*
 * Change the version (2: compat=0.10, 3: compat=1.1, 0: keep) and lazy
 * refcounts (1 on, 0 off, -1 keep) in place (qcow2-amend.c).  What cannot
 * be changed safely is refused with err set and the image untouched.
 */
struct error;
int qcow2_amend(struct blkdev *bd, int version, int lazy, struct error *err);

/* ---- internal snapshots ------------------------------------------ */

struct qcow2_snapshot_info {
	char *id;   /* unique id string ("1", "2", ...) */
	char *name; /* name, may be empty */
	uint64_t vm_state_size;
	uint32_t date_sec, date_nsec;
	uint64_t vm_clock_nsec;
	uint64_t disk_size; /* virtual size when taken (v3), else the current size */
	uint64_t l1_size;   /* entries */
	uint64_t icount;    /* instructions at the snapshot; UINT64_MAX: not recorded */
};

/* Take a snapshot of the current disk state named `name` (unique). */
int qcow2_snapshot_create(struct blkdev *bd, const char *name);
/* List the snapshots: *out is a malloc'd array, free it with qcow2_snapshot_list_free(). */
int qcow2_snapshot_list(struct blkdev *bd, struct qcow2_snapshot_info **out, int *count);
void qcow2_snapshot_list_free(struct qcow2_snapshot_info *list, int count);
/* Revert the disk to a snapshot, by name or else by id (-ENOENT if none). */
int qcow2_snapshot_apply(struct blkdev *bd, const char *name_or_id);
/* Delete a snapshot by name or else by id (-ENOENT if none); frees its clusters. */
int qcow2_snapshot_delete(struct blkdev *bd, const char *name_or_id);

/* ---- info / rebase / commit -------------------------------------- */

struct qcow2_info {
	int version;	    /* 2 or 3 */
	const char *compat; /* "0.10" or "1.1" */
	uint32_t cluster_size;
	uint64_t virtual_size;
	uint32_t refcount_bits;
	bool lazy_refcounts;
	bool dirty;		      /* incompatible bit 0 */
	bool corrupt;		      /* incompatible bit 1 */
	const char *compression_type; /* "zlib" or "zstd" */
	const char *backing_file;     /* as stored, or NULL (points into bd, valid while open) */
	const char *backing_fmt;      /* as stored, or NULL */
	int nb_snapshots;	      /* details: qcow2_snapshot_list() */
	uint64_t disk_size;	      /* bytes the file occupies on the host (st_blocks) */
	uint64_t file_length;	      /* size of the image file */
};

int qcow2_info(struct blkdev *bd, struct qcow2_info *info);

/*
 * Change the backing file name/format stored in the header (rebase -u;
 * a safe rebase copies the differing data first through the block API).
 * path NULL removes the backing file.  Does not (re)open bd->backing.
 */
int qcow2_set_backing(struct blkdev *bd, const char *path, const char *fmt);

/*
 * Drop every cluster of the active layer so that reads fall through to
 * the backing file again (img commit empties the top image after
 * copying its data into the backing file).  Snapshots keep their data.
 */
int qcow2_make_empty(struct blkdev *bd);

/*
 * Write one compressed cluster (also the driver's write_compressed hook):
 * off cluster-aligned, len == cluster size or the tail of the disk.  Data
 * that does not compress is written as a normal cluster.
 */
int qcow2_write_compressed(struct blkdev *bd, uint64_t off, const void *buf, size_t len);

#endif
