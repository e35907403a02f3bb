// SPDX-License-Identifier: MIT
/*
 * `vessel img` verbs that move data: convert, map, commit, rebase,
 * compare.  All of them walk the image with block status first, so that
 * unallocated and zero ranges cost nothing (output stays sparse, a 4 GiB
 * empty image converts in milliseconds), and only read what has data.
 */
#include "cli/img.h"
#include "block/block.h"
#include "block/qcow2.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define IMG_CHUNK (2 * MiB) /* unit of reads and writes */

int img_chain_status(struct blkdev *bd, uint64_t off, uint64_t len, uint64_t *pnum,
		     struct img_status *st)
{
	struct blkdev *layer = bd;
	int depth = 0;

	for (;;) {
		uint64_t n, host;
		int s, ret;

		ret = blk_block_status(layer, off, len, &n, &s, &host);
		if (ret < 0)
			return ret;
		memset(st, 0, sizeof(*st));
		st->depth = depth;
		st->layer = layer;
		*pnum = n;
		if (s & BLK_STATUS_ALLOCATED) {
			st->allocated = true;
			st->zero = s & BLK_STATUS_ZERO;
			st->data = (s & BLK_STATUS_DATA) && !st->zero;
			st->compressed = s & BLK_STATUS_COMPRESSED;
			st->offset_valid = s & BLK_STATUS_OFFSET_VALID;
			st->host_off = host;
			return 0;
		}
		if (!layer->backing || off >= layer->backing->size) {
			/* No lower layer: unallocated reads as zeroes. */
			st->zero = true;
			if (layer->backing)
				st->depth = depth + 1;
			return 0;
		}
		len = MIN(n, layer->backing->size - off);
		layer = layer->backing;
		depth++;
	}
}

/* True if len bytes at buf are all zero (len a multiple of 16 or small). */
static bool buf_is_zero(const uint8_t *buf, size_t len)
{
	static const uint8_t zero16[16];

	if (len <= 16)
		return !memcmp(buf, zero16, len);
	/* The first 16 bytes are zero and every byte equals the one 16 before. */
	return !memcmp(buf, zero16, 16) && !memcmp(buf, buf + 16, len - 16);
}

/* Write zeroes, by the driver's hook or else with a zeroed buffer. */
static int img_write_zeroes(struct blkdev *bd, uint64_t off, uint64_t len, uint8_t *zbuf,
			    size_t zlen)
{
	int ret = blk_write_zeroes(bd, off, len, true);

	if (ret != -ENOTSUP)
		return ret;
	memset(zbuf, 0, zlen);
	while (len) {
		size_t n = (size_t)MIN(len, (uint64_t)zlen);

		ret = blk_pwrite(bd, zbuf, n, off);
		if (ret < 0)
			return ret;
		off += n;
		len -= n;
	}
	return 0;
}

/* ---- convert ------------------------------------------------------ */

struct convert {
	struct blkdev **src;
	int nsrc;
	uint64_t total;
	struct blkdev *out;
	bool compress;
	bool target_has_backing; /* -B: copy only what the top source layer has */
	bool zero_init;		 /* the target reads zeroes where not written */
	uint64_t sparse;	 /* -S: zero runs of this size are skipped; 0 = none */
	uint8_t *buf;
	struct img_progress prog;
};

/* Map an offset of the concatenated sources to (source, offset). */
static struct blkdev *convert_src(struct convert *c, uint64_t off, uint64_t *soff, uint64_t *slen)
{
	*soff = 0;
	*slen = 0;
	for (int i = 0; i < c->nsrc; i++) {
		if (off < c->src[i]->size) {
			*soff = off;
			*slen = c->src[i]->size - off;
			return c->src[i];
		}
		off -= c->src[i]->size;
	}
	return NULL;
}

static int convert_err(struct blkdev *bd, const char *what, uint64_t off, int ret)
{
	return img_err("error %s '%s' at offset %" PRIu64 ": %s", what, bd->path, off,
		       strerror(-ret));
}

/* Write data read from the source, skipping zero runs of c->sparse bytes. */
static int convert_write_data(struct convert *c, uint64_t off, size_t len)
{
	size_t g = (size_t)c->sparse, pos = 0;
	int ret;

	if (!g) {
		ret = blk_pwrite(c->out, c->buf, len, off);
		return ret < 0 ? convert_err(c->out, "writing", off, ret) : 0;
	}
	while (pos < len) {
		/* Granules follow the output's alignment, not the chunk's. */
		size_t n = (size_t)MIN((uint64_t)(len - pos), g - (off + pos) % g);
		bool zero = buf_is_zero(c->buf + pos, n);
		size_t run = n;

		while (pos + run < len) {
			size_t m = MIN(len - pos - run, g);

			if (buf_is_zero(c->buf + pos + run, m) != zero)
				break;
			run += m;
		}
		if (!zero)
			ret = blk_pwrite(c->out, c->buf + pos, run, off + pos);
		else if (!c->zero_init)
			ret = blk_write_zeroes(c->out, off + pos, run, true);
		else
			ret = 0;
		if (ret == -ENOTSUP && zero)
			ret = blk_pwrite(c->out, c->buf + pos, run, off + pos);
		if (ret < 0)
			return convert_err(c->out, "writing", off + pos, ret);
		pos += run;
	}
	return 0;
}

/*
 * Compressed output: whole clusters, each compressed on its own.  A
 * cluster whose content does not come from the source's top layer is left
 * to the target's backing file (-B); one that reads as zeroes is skipped
 * on a fresh image and written as zeroes otherwise.
 */
static int convert_compressed(struct convert *c)
{
	uint64_t cs = c->out->cluster_size ? c->out->cluster_size : 65536;
	uint64_t off = 0;

	while (off < c->total) {
		size_t len = (size_t)MIN(cs, c->total - off), pos = 0;
		bool need = !c->target_has_backing;
		int ret;

		while (pos < len) {
			uint64_t soff, slen, pnum;
			struct blkdev *s = convert_src(c, off + pos, &soff, &slen);
			struct img_status st;

			if (!s)
				return img_err("convert: offset %" PRIu64 " beyond the input", off);
			ret = img_chain_status(s, soff, MIN(slen, (uint64_t)(len - pos)), &pnum,
					       &st);
			if (ret < 0)
				return convert_err(s, "reading", soff, ret);
			if (st.allocated && st.depth == 0)
				need = true;
			if (st.zero) {
				memset(c->buf + pos, 0, (size_t)pnum);
			} else {
				ret = blk_pread(s, c->buf + pos, (size_t)pnum, soff);
				if (ret < 0)
					return convert_err(s, "reading", soff, ret);
			}
			pos += (size_t)pnum;
		}
		ret = 0;
		if (need && !buf_is_zero(c->buf, len))
			ret = blk_write_compressed(c->out, off, c->buf, len);
		else if (need && !c->zero_init)
			ret = img_write_zeroes(c->out, off, len, c->buf, len);
		if (ret < 0)
			return convert_err(c->out, "writing", off, ret);
		off += len;
		img_progress_update(&c->prog, off);
	}
	return 0;
}

static int convert_copy(struct convert *c)
{
	uint64_t off = 0;

	while (off < c->total) {
		uint64_t soff, slen, pnum;
		struct blkdev *s = convert_src(c, off, &soff, &slen);
		struct img_status st;
		int ret;

		if (!s)
			return img_err("convert: offset %" PRIu64 " beyond the input", off);
		/* Ask about everything left: a hole is skipped in one step. */
		ret = img_chain_status(s, soff, slen, &pnum, &st);
		if (ret < 0)
			return convert_err(s, "reading", soff, ret);
		if (!st.zero || !c->sparse || !c->zero_init)
			pnum = MIN(pnum, (uint64_t)IMG_CHUNK); /* the size of c->buf */
		if (c->target_has_backing && (st.depth > 0 || !st.allocated)) {
			/* Not in the top layer: the target's backing file provides it. */
		} else if (st.zero && c->sparse) {
			if (!c->zero_init) {
				ret = img_write_zeroes(c->out, off, pnum, c->buf, IMG_CHUNK);
				if (ret < 0)
					return convert_err(c->out, "writing", off, ret);
			}
		} else {
			ret = blk_pread(s, c->buf, (size_t)pnum, soff);
			if (ret < 0)
				return convert_err(s, "reading", soff, ret);
			ret = convert_write_data(c, off, (size_t)pnum);
			if (ret)
				return ret;
		}
		off += pnum;
		img_progress_update(&c->prog, off);
	}
	return 0;
}

/* Same file: same inode, or for block devices the same device. */
static bool same_file(const struct stat *a, const struct stat *b)
{
	if (S_ISBLK(a->st_mode) && S_ISBLK(b->st_mode))
		return a->st_rdev == b->st_rdev;
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/*
 * Refuse an output that is an input or a file of an input's backing
 * chain: the output is created (truncated) before anything is read, so
 * `convert X X` used to leave an empty image or different data in X.
 * Files are compared by inode, so a symlink or a hard link is caught.
 */
static int convert_check_output(const struct convert *c, char **inputs, const char *outpath)
{
	struct stat out, st;

	if (stat(outpath, &out) < 0)
		return 0; /* not there yet: cannot be an input */
	for (int i = 0; i < c->nsrc; i++) {
		for (const struct blkdev *l = c->src[i]; l; l = l->backing) {
			if (fstat(l->fd, &st) < 0 || !same_file(&st, &out))
				continue;
			if (l == c->src[i])
				return img_err("convert: the output '%s' is the input '%s'",
					       outpath, inputs[i]);
			return img_err("convert: the output '%s' is '%s', in the backing chain of "
				       "the input '%s'",
				       outpath, l->path, inputs[i]);
		}
	}
	return 0;
}

int img_convert(int argc, char **argv)
{
	static const struct option longopts[] = { { "help", no_argument, NULL, 'h' },
						  { NULL, 0, NULL, 0 } };
	const char *fmt = NULL, *ofmt = "raw", *backing = NULL, *backing_fmt = NULL, *outpath;
	struct blk_create_opts co = { 0 };
	struct convert c = { .sparse = 4096 };
	bool progress = false, quiet = false, no_create = false, direct = false, unsafe = true;
	char *opts = NULL;
	int ch, ret = 1;

	while ((ch = getopt_long(argc, argv, "f:O:co:B:F:pqnS:t:T:Wm:Uh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			fmt = optarg;
			break;
		case 'O':
			ofmt = optarg;
			break;
		case 'c':
			c.compress = true;
			break;
		case 'o':
			opts = optarg;
			break;
		case 'B':
			backing = optarg;
			break;
		case 'F':
			backing_fmt = optarg;
			break;
		case 'p':
			progress = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'n':
			no_create = true;
			break;
		case 'S':
			if (img_parse_size(optarg, &c.sparse) || (c.sparse && c.sparse % 512) ||
			    c.sparse > IMG_CHUNK)
				return img_err("invalid -S '%s' (0, or a multiple of 512 up to 2M)",
					       optarg);
			break;
		case 't':
			/* qemu-img's cache modes; unsafe (no flush) is convert's default. */
			if (strcmp(optarg, "unsafe") && strcmp(optarg, "writeback") &&
			    strcmp(optarg, "writethrough") && strcmp(optarg, "none") &&
			    strcmp(optarg, "directsync"))
				return img_err("invalid cache mode '%s' (unsafe, writeback, "
					       "writethrough, none, directsync)",
					       optarg);
			direct = !strcmp(optarg, "none") || !strcmp(optarg, "directsync");
			unsafe = !strcmp(optarg, "unsafe");
			break;
		case 'T':
		case 'W':
		case 'm':
			break; /* cache mode, parallelism: accepted for compatibility */
		case 'U':
			img_force_share = true; /* the inputs */
			break;
		case 'h':
			printf("usage: vessel img convert [-f FMT] [-O raw|qcow2] [-c] [-o "
			       "OPTIONS] "
			       "[-B BACKING [-F FMT]] [-S SIZE] [-n] [-p] [-q] FILE... OUTPUT\n");
			return 0;
		default:
			return img_bad_opt(argv);
		}
	}
	(void)quiet;
	if (argc - optind < 2)
		return img_err("convert: expected input file(s) and an output file");
	if (!blk_find_driver(ofmt))
		return img_err("unknown output format '%s' (raw, qcow2)", ofmt);
	if (c.compress && strcmp(ofmt, "qcow2"))
		return img_err("compression (-c) needs -O qcow2");
	if (backing && strcmp(ofmt, "qcow2"))
		return img_err("format '%s' does not support backing files (-B)", ofmt);
	if (opts && img_parse_create_opts(ofmt, opts, &co))
		return 1;
	if (backing) {
		co.backing_file = backing;
		co.backing_fmt = backing_fmt;
	}
	if (co.backing_file && no_create)
		return img_err("-B cannot be used with -n");
	outpath = argv[argc - 1];
	c.nsrc = argc - optind - 1;
	c.src = calloc((size_t)c.nsrc, sizeof(*c.src));
	c.buf = aligned_alloc(4096, IMG_CHUNK);
	if (!c.src || !c.buf) {
		ret = img_err("out of memory");
		goto out;
	}
	for (int i = 0; i < c.nsrc; i++) {
		if (img_open(argv[optind + i], fmt, true, false, &c.src[i]) < 0)
			goto out;
		if (c.src[i]->size > UINT64_MAX - c.total) {
			ret = img_err("convert: total size overflows");
			goto out;
		}
		c.total += c.src[i]->size;
	}
	if (convert_check_output(&c, argv + optind, outpath))
		goto out;
	if (!no_create) {
		co.size = c.total;
		struct error e = ERROR_INIT;

		if (img_fail(blk_create(ofmt, outpath, &co, &e), &e) < 0)
			goto out;
	}
	{
		struct blk_open_opts oo = { .format = ofmt, .direct = direct, .unsafe = unsafe };
		struct error e = ERROR_INIT;

		if (img_fail(blk_open(outpath, &oo, &c.out, &e), &e) < 0)
			goto out;
	}
	if (no_create && c.out->size < c.total) {
		ret = img_err("output image '%s' is smaller than the input (%" PRIu64 " < %" PRIu64
			      ")",
			      outpath, c.out->size, c.total);
		goto out;
	}
	/* -o backing_file= is the same as -B. */
	c.target_has_backing = co.backing_file != NULL;
	/*
	 * A fresh image without backing file reads as zeroes everywhere, also
	 * when preallocated (and writing zeroes there would punch holes into
	 * the preallocation); an existing one (-n) may hold anything.
	 */
	c.zero_init = !no_create && !co.backing_file;
	img_progress_init(&c.prog, progress, c.total);
	ret = c.compress ? convert_compressed(&c) : convert_copy(&c);
	if (!ret) {
		int r = blk_flush(c.out);

		if (r < 0)
			ret = convert_err(c.out, "flushing", 0, r);
	}
	img_progress_end(&c.prog);
out:
	blk_close(c.out);
	for (int i = 0; c.src && i < c.nsrc; i++)
		blk_close(c.src[i]);
	free(c.src);
	free(c.buf);
	return ret;
}

/* ---- map ---------------------------------------------------------- */

struct map_entry {
	uint64_t start, length, offset;
	int depth;
	bool present, zero, data, has_offset;
	const char *file;
};

static bool map_mergeable(const struct map_entry *a, const struct map_entry *b)
{
	return a->depth == b->depth && a->present == b->present && a->zero == b->zero &&
	       a->data == b->data && a->has_offset == b->has_offset && a->file == b->file &&
	       (!a->has_offset || a->offset + a->length == b->offset);
}

static void map_print(const struct map_entry *e, bool json, bool *first)
{
	if (json) {
		printf("%s{ \"start\": %" PRIu64 ", \"length\": %" PRIu64 ", \"depth\": %d, "
		       "\"present\": %s, \"zero\": %s, \"data\": %s",
		       *first ? "[" : ",\n", e->start, e->length, e->depth,
		       e->present ? "true" : "false", e->zero ? "true" : "false",
		       e->data ? "true" : "false");
		if (e->has_offset)
			printf(", \"offset\": %" PRIu64, e->offset);
		printf("}");
	} else if (e->data && e->has_offset) {
		printf("%#-16" PRIx64 "%#-16" PRIx64 "%#-16" PRIx64 "%s\n", e->start, e->length,
		       e->offset, e->file);
	}
	*first = false;
}

int img_map(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'O' },
		{ "start-offset", required_argument, NULL, 's' },
		{ "max-length", required_argument, NULL, 'l' },
		{ "force-share", no_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *fmt = NULL, *out = "human";
	uint64_t start = 0, maxlen = UINT64_MAX, end, off;
	struct map_entry cur = { 0 };
	bool json, have = false, first = true;
	struct blkdev *bd;
	int ch, ret = 0;

	while ((ch = getopt_long(argc, argv, "f:Uh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			fmt = optarg;
			break;
		case 'O':
			out = optarg;
			break;
		case 's':
			if (img_parse_size(optarg, &start))
				return img_err("invalid --start-offset '%s'", optarg);
			break;
		case 'l':
			if (img_parse_size(optarg, &maxlen))
				return img_err("invalid --max-length '%s'", optarg);
			break;
		case 'U':
			img_force_share = true;
			break;
		case 'h':
			printf("usage: vessel img map [-f FMT] [--output human|json] "
			       "[--start-offset N] [--max-length N] [-U] FILE\n");
			return 0;
		default:
			return img_bad_opt(argv);
		}
	}
	if (strcmp(out, "human") && strcmp(out, "json"))
		return img_err("--output must be 'human' or 'json', not '%s'", out);
	if (optind != argc - 1)
		return img_err("map: expected exactly one file name");
	json = !strcmp(out, "json");
	if (img_open(argv[optind], fmt, true, false, &bd) < 0)
		return 1;
	end = start < bd->size ? start + MIN(maxlen, bd->size - start) : start;
	if (!json)
		printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to", "File");
	for (off = start; off < end;) {
		struct map_entry e = { .start = off };
		struct img_status st;
		uint64_t pnum;

		ret = img_chain_status(bd, off, end - off, &pnum, &st);
		if (ret < 0) {
			ret = img_err("cannot map '%s' at offset %" PRIu64 ": %s", bd->path, off,
				      strerror(-ret));
			break;
		}
		e.length = pnum;
		e.depth = st.depth;
		e.present = st.allocated;
		e.zero = st.zero;
		e.data = st.data;
		e.has_offset = st.offset_valid;
		e.offset = st.host_off;
		e.file = st.layer->path;
		if (have && map_mergeable(&cur, &e)) {
			cur.length += e.length;
		} else {
			if (have)
				map_print(&cur, json, &first);
			cur = e;
			have = true;
		}
		off += pnum;
	}
	if (have && !ret)
		map_print(&cur, json, &first);
	if (json && !ret)
		printf("%s\n", first ? "[]" : "]");
	blk_close(bd);
	return ret;
}
