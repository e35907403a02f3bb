/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_VM_SNAPSHOT_H
#define VESSEL_VM_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/component.h"
#include "util/error.h"

/*
 * Whole-VM save and restore (docs/snapshot-format.md).
 *
 * A save is a byte stream: the state file, then memory records
 * {'PAGE', length, offset in the memory file, data} for every non-zero
 * page run, then one {'MEND', CRC-32 of the page data, bytes} record.
 * The VMM produces it (it opens no files: the jail), `vessel save`
 * receives it into FILE and FILE.mem (snapshot_receive).
 */
#define SNAP_MAGIC "VESSELSV"
#define SNAP_MEM_MAGIC "VESSELMM"
#define SNAP_VERSION 1
#define SNAP_ID_LEN 16
#define SNAP_HDR_SIZE 40	    /* magic, version, flags, save id, length */
#define SNAP_STATE_MAX (64u << 20)  /* the largest state file read back */
#define SNAP_MEM_ALIGN (2ull << 20) /* regions in the memory file */
#define SNAP_MAX_REGIONS 8

struct vm;

struct snapshot_region {
	uint64_t gpa, size, file_offset;
	uint32_t kind;
};

/* A state file read back and checked (every section's CRC and bounds). */
struct snapshot_image {
	uint8_t *buf; /* the whole file; the pointers below point into it */
	size_t len;
	uint8_t save_id[SNAP_ID_LEN];
	const char *conf; /* the VM's definition as JSON, conf_len bytes */
	size_t conf_len;
	uint32_t nr_cpus;
	uint64_t mem_size;
	unsigned int nr_regions;
	struct snapshot_region regions[SNAP_MAX_REGIONS];
	const uint8_t *comp; /* the component stream */
	size_t comp_len;
};

/* A save in progress (the stream's producer). */
struct snapshot_save;

/*
 * On the VM's loop: quiesce the VM (vm_quiesce) and save every component
 * into memory.  disk_snap non-NULL: every disk takes an internal snapshot
 * of that name first, at the same instant (vessel snapshot create).  On
 * failure the VM runs (or stays paused) as before, with no new snapshot.
 */
int snapshot_save_begin(struct vm *vm, const char *disk_snap, struct snapshot_save **out,
			struct error *err);
/*
 * The next bytes of the stream (any one thread at a time: the API's),
 * 0 at its end.  Guest memory is read in place; the VM is quiesced.
 */
size_t snapshot_save_read(struct snapshot_save *ss, uint8_t *buf, size_t max);
/* The stream's total so far, for progress. */
uint64_t snapshot_save_sent(const struct snapshot_save *ss);
/* Done (or abandoned: the client went away): resume the VM, free. */
void snapshot_save_end(struct snapshot_save *ss);

/*
 * On the VM's loop: an internal snapshot on every disk (create or
 * delete; util/component.h), the VM quiesced meanwhile.  Every disk is
 * checked first, so a raw disk refuses before anything is taken.
 * Returns the number of disks, or -errno.
 */
int vm_disk_snapshot(struct vm *vm, enum component_disk_op op, const char *name, struct error *err);

/*
 * The receiving end: read the stream from fd `in`, write the state file
 * to state_fd and the memory file to mem_fd (sparse: pwrite at the
 * records' offsets).  Fails unless the stream ends with a good MEND
 * record; progress(opaque, bytes) is called now and then.
 */
int snapshot_receive(int in, int state_fd, int mem_fd,
		     void (*progress)(void *opaque, uint64_t bytes), void *opaque,
		     struct error *err);

/* Parse and check a state file's bytes (buf is taken over on success). */
int snapshot_image_parse(uint8_t *buf, size_t len, struct snapshot_image *img, struct error *err);
/* Read FILE (bounded) and parse it. */
int snapshot_image_read(const char *path, struct snapshot_image *img, struct error *err);
void snapshot_image_free(struct snapshot_image *img);

/*
 * Restore into a VM created from img->conf that has not run: the
 * machine's shape must match, the memory file's header must carry the
 * same save id, RAM is mapped from mem_fd (privately, faulted in lazily,
 * or copied now with eager or where memory is shared), then every
 * component loads.  Any mismatch is one message; the VM must not start.
 */
int snapshot_restore(struct vm *vm, const struct snapshot_image *img, int mem_fd, bool eager,
		     struct error *err);

#endif
