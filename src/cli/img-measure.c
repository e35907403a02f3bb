// SPDX-License-Identifier: MIT
/*
 * vessel img measure: how large a new image would be, as qemu-img measure
 * reports it, so a script can size a volume before `convert` or `create`.
 *
 *   vessel img measure [--output human|json] [-O raw|qcow2] [-o OPTIONS]
 *                      [-f FMT] [-U] --size SIZE | FILE
 *
 * "required size" is what the new image takes with the data of FILE (or
 * none, with --size) written into it; "fully allocated size" what it takes
 * with every cluster allocated.  For qcow2 the figures follow from the
 * layout the qcow2 spec defines: one header cluster, an L2 entry of
 * 8 bytes per cluster in whole L2 tables, an L1 entry of 8 bytes per L2
 * table in whole clusters, and refcount blocks plus the refcount table
 * covering every cluster of the file, themselves included (spec,
 * "Host cluster management").  Those counts are worst-case for the
 * metadata (a fully allocated image's), as qemu-img's are, so a volume
 * of the required size always holds the converted image.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "cli/img.h"
#include "util/util.h"

#define DIV_UP(a, b) (((a) + (b) - 1) / (b))

/*
 * Refcount blocks and table clusters for `clusters` clusters: the fixed
 * point where the refcount metadata also counts itself.  Each refcount
 * block holds cluster_size * 8 / refcount_bits entries; each table
 * cluster points at cluster_size / 8 blocks.
 */
static uint64_t measure_refcount_bytes(uint64_t clusters, uint64_t csize, uint32_t rbits)
{
	uint64_t per_block = csize * 8 / rbits, per_table = csize / 8;
	uint64_t blocks = 0, table = 0, total = 0, prev;

	do {
		prev = total;
		blocks = DIV_UP(clusters + blocks + table, per_block);
		table = DIV_UP(blocks, per_table);
		total = clusters + blocks + table;
	} while (total != prev);
	return (blocks + table) * csize;
}

/* A qcow2 image of `size` bytes with every cluster allocated. */
static uint64_t measure_qcow2_full(uint64_t size, uint64_t csize, uint32_t rbits)
{
	uint64_t data = ALIGN_UP(size, csize), meta = csize; /* the header cluster */
	uint64_t l2_entries = ALIGN_UP(data / csize, csize / 8);
	uint64_t l1_entries = ALIGN_UP(l2_entries * 8 / csize, csize / 8);

	meta += l2_entries * 8 + l1_entries * 8;
	meta += measure_refcount_bytes((meta + data) / csize, csize, rbits);
	return meta + data;
}

/*
 * Bytes of FILE's data a copy must store: every range that reads as data
 * (through its backing chain), counted in whole target clusters; ranges
 * that read as zeroes need none (convert writes none for them).
 */
static int measure_data(struct blkdev *bd, uint64_t csize, uint64_t *out)
{
	uint64_t off = 0, counted_to = 0, total = 0;

	while (off < bd->size) {
		struct img_status st;
		uint64_t n;
		int r = img_chain_status(bd, off, bd->size - off, &n, &st);

		if (r < 0)
			return img_err("cannot read the block status of '%s' at offset %" PRIu64
				       ": %s",
				       bd->path, off, strerror(-r));
		if (!n)
			return img_err("'%s': no progress at offset %" PRIu64, bd->path, off);
		if (!st.zero) {
			uint64_t lo = MAX(off / csize * csize, counted_to);
			uint64_t hi = ALIGN_UP(off + n, csize);

			if (hi > lo)
				total += hi - lo;
			counted_to = MAX(counted_to, hi);
		}
		off += n;
	}
	*out = total;
	return 0;
}

static int measure_usage(void)
{
	printf("usage: vessel img measure [--output human|json] [-O raw|qcow2] [-o OPTIONS] "
	       "[-f FMT] [-U] --size SIZE | FILE\n");
	return 0;
}

int img_measure(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'J' },
		{ "size", required_argument, NULL, 'z' },
		{ "force-share", no_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct blk_create_opts co = { 0 };
	const char *ofmt = "raw", *fmt = NULL, *output = "human", *size_arg = NULL;
	char *opts = NULL;
	uint64_t size, required = 0, full, csize;
	bool qcow2, bitmaps;
	struct blkdev *in = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "O:o:f:Uh", longopts, NULL)) != -1) {
		switch (c) {
		case 'O':
			ofmt = optarg;
			break;
		case 'o':
			opts = optarg;
			break;
		case 'f':
			fmt = optarg;
			break;
		case 'U':
			img_force_share = true;
			break;
		case 'J':
			output = optarg;
			break;
		case 'z':
			size_arg = optarg;
			break;
		case 'h':
			return measure_usage();
		default:
			return img_bad_opt(argv);
		}
	}
	if (strcmp(output, "human") && strcmp(output, "json"))
		return img_err("measure: --output '%s': expected human or json", output);
	if (strcmp(ofmt, "raw") && strcmp(ofmt, "qcow2"))
		return img_err("measure: unknown output format '%s' (raw, qcow2)", ofmt);
	qcow2 = !strcmp(ofmt, "qcow2");
	if (opts && img_parse_create_opts(ofmt, opts, &co))
		return 1;
	if (co.backing_file)
		return img_err("measure: a backing file for the new image is not supported");
	if (!size_arg == (optind >= argc))
		return img_err("measure: give either --size SIZE or one FILE");
	if (optind + (size_arg ? 0 : 1) < argc)
		return img_err("measure: unexpected argument '%s'", argv[argc - 1]);
	csize = qcow2 ? (co.cluster_size ? co.cluster_size : 65536) : 512;
	if (size_arg) {
		if (img_parse_size(size_arg, &size))
			return img_err("measure: invalid size '%s'", size_arg);
		required = 0;
	} else {
		if (img_open(argv[optind], fmt, true, false, &in) < 0)
			return 1;
		size = in->size;
		if (measure_data(in, csize, &required)) {
			blk_close(in);
			return 1;
		}
	}
	if (qcow2) {
		full = measure_qcow2_full(size, csize, co.refcount_bits ? co.refcount_bits : 16);
		/* Metadata is counted as for a full image: an upper bound. */
		required += full - ALIGN_UP(size, csize);
		if (co.prealloc == BLK_PREALLOC_FALLOC || co.prealloc == BLK_PREALLOC_FULL)
			required = full;
	} else {
		/* A raw file is as large as the disk; its holes are the host's business. */
		full = required = ALIGN_UP(size, 512);
	}
	/* Persistent bitmaps need qcow2 v3 on both sides; vessel copies none. */
	bitmaps = qcow2 && !co.compat_v2 && in && !strcmp(blk_format(in), "qcow2");
	blk_close(in);
	if (!strcmp(output, "json")) {
		json_object *o = json_object_new_object();

		if (bitmaps) /* qemu-img's key order */
			json_object_object_add(o, "bitmaps", json_object_new_int64(0));
		json_object_object_add(o, "required", json_object_new_int64((int64_t)required));
		json_object_object_add(o, "fully-allocated", json_object_new_int64((int64_t)full));
		img_json_print(o);
		json_object_put(o);
		return 0;
	}
	printf("required size: %" PRIu64 "\nfully allocated size: %" PRIu64 "\n", required, full);
	if (bitmaps)
		printf("bitmaps size: 0\n");
	return 0;
}
