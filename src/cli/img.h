/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_CLI_IMG_H
#define VESSEL_CLI_IMG_H

/*
 * `vessel img`: internal interface between img.c (dispatch, create,
 * info, check, snapshot, resize) and img-convert.c (convert, map,
 * commit, rebase: the verbs that move data).
 */
#include "block/block.h"
#include "util/error.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Print "vessel img: <msg>" to stderr; returns 1 (the exit status). */
int img_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ret < 0: print e's message, the one line of a block-layer failure.  Returns ret. */
int img_fail(int ret, const struct error *e);

/* Error line for an option getopt refused; returns 1. */
int img_bad_opt(char **argv);

/*
 * -U / --force-share (info, check, map, compare, convert's inputs,
 * snapshot -l): read-only opens share every permission of the image
 * lock, so an image another process writes can be inspected; a verb
 * that writes refuses it (block.h, blk_open_opts.force_share).
 */
extern bool img_force_share;

/*
 * Open an image for a verb.  The block layer already printed one line
 * naming the problem when this fails, so callers just return 1.
 */
int img_open(const char *path, const char *fmt, bool readonly, bool no_backing,
	     struct blkdev **out);

/* A backing file name as stored in `image` resolved to a path (malloc'd):
 * relative names are relative to the image's directory, as qemu does. */
char *img_backing_path(const char *image, const char *backing);

/* Size argument: bytes or with a suffix k/K, M, G, T, P, E (powers of 1024). */
int img_parse_size(const char *s, uint64_t *out);
/* "1.5 GiB" the way qemu-img prints sizes (three significant digits). */
void img_size_str(uint64_t v, char *buf, size_t len);

/*
 * Progress bar "    (12.34/100%)" on stdout, drawn only when enabled
 * and stdout is a terminal (qemu-img -p).
 */
struct img_progress {
	bool on;
	uint64_t total;
	uint64_t last_ns;
	double last_pct;
};

void img_progress_init(struct img_progress *p, bool enable, uint64_t total);
void img_progress_update(struct img_progress *p, uint64_t done);
void img_progress_end(struct img_progress *p);

/*
 * Status of [off, off+len) through the whole backing chain of bd.
 * *pnum bytes share the answer: *zero (reads as zeroes without data
 * anywhere), *depth (layer that decides it: 0 = bd), *allocated (some
 * layer has it), *data, *host_off/ *offset_valid of that layer.
 */
struct img_status {
	bool zero, data, allocated, offset_valid, compressed;
	int depth;
	uint64_t host_off;
	struct blkdev *layer;
};

int img_chain_status(struct blkdev *bd, uint64_t off, uint64_t len, uint64_t *pnum,
		     struct img_status *st);

/* Snapshot table rows as qemu-img prints them (info, snapshot -l). */
struct qcow2_snapshot_info;
void img_snapshot_header(void);
void img_snapshot_row(const struct qcow2_snapshot_info *s);

/* Verbs of img-info.c */
int img_info(int argc, char **argv);
int img_check(int argc, char **argv);

/* Verbs of img-convert.c and img-commit.c */
int img_convert(int argc, char **argv);
int img_map(int argc, char **argv);
int img_commit(int argc, char **argv);
int img_rebase(int argc, char **argv);
int img_compare(int argc, char **argv);

/* Verbs of img-measure.c and img-amend.c */
int img_measure(int argc, char **argv);
int img_amend(int argc, char **argv);
int img_bench(int argc, char **argv);

/* Print JSON as qemu-img does (img-info.c). */
struct json_object;
void img_json_print(struct json_object *o);

/* Parse "-o key=val,key=val" create options; `fmt` selects what is valid. */
int img_parse_create_opts(const char *fmt, char *opts, struct blk_create_opts *co);

#endif
