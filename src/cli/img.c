// SPDX-License-Identifier: MIT
/*
 * `vessel img`: create, inspect, check and convert disk images, with
 * qemu-img's verbs, options, output formats and exit codes (qemu-img(1)),
 * so that scripts written for qemu-img keep working.
 *
 * This file: dispatch, shared helpers, create, info, check, snapshot,
 * resize.  img-convert.c: convert, map, commit, rebase, compare.
 */
#include "cli/cli.h"
#include "cli/img.h"
#include "block/block.h"
#include "block/qcow2.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int img_err(const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = cli_vsay("vessel img: ", 1, fmt, ap);
	va_end(ap);
	return r;
}

bool img_force_share;

int img_open(const char *path, const char *fmt, bool readonly, bool no_backing, struct blkdev **out)
{
	struct blk_open_opts o = { .format = fmt,
				   .readonly = readonly,
				   .no_backing = no_backing,
				   .force_share = img_force_share };
	struct error e = ERROR_INIT;
	struct stat st;

	/* The commonest mistake gets a message in the img format. */
	if (stat(path, &st) < 0) {
		int err = errno;

		*out = NULL;
		img_err("cannot open '%s': %s", path, strerror(err));
		return -err;
	}
	return img_fail(blk_open(path, &o, out, &e), &e);
}

int img_fail(int ret, const struct error *e)
{
	if (ret < 0)
		img_err("%s", error_msg(e));
	return ret;
}

char *img_backing_path(const char *image, const char *backing)
{
	const char *slash = strrchr(image, '/');
	char *p;

	if (backing[0] == '/' || !slash)
		return strdup(backing);
	if (asprintf(&p, "%.*s/%s", (int)(slash - image), image, backing) < 0)
		return NULL;
	return p;
}

int img_parse_size(const char *s, uint64_t *out)
{
	unsigned int shift = 0;
	const char *p;
	char *end;
	double v;

	if (!s || !*s || !(*s >= '0' && *s <= '9'))
		return -EINVAL;
	/* Digits, at most one '.', then an optional suffix (qemu-img's "1.5G"). */
	for (p = s; (*p >= '0' && *p <= '9') || *p == '.'; p++)
		;
	if (*p) {
		const char *sfx = "bkmgtpe";
		const char *q = strchr(sfx, *p | 0x20);

		if (!q || p[1])
			return -EINVAL;
		shift = 10 * (unsigned int)(q - sfx);
	}
	if (!memchr(s, '.', (size_t)(p - s))) {
		unsigned long long n;

		errno = 0;
		n = strtoull(s, &end, 10);
		if (errno || end != p)
			return -ERANGE;
		if (shift && n > (UINT64_MAX >> shift))
			return -ERANGE;
		*out = (uint64_t)n << shift;
		return 0;
	}
	/* A fraction needs a unit: "1.5" bytes means nothing. */
	if (!shift)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end != p || v < 0)
		return -EINVAL;
	v = ldexp(v, (int)shift);
	if (v >= 18446744073709551616.0)
		return -ERANGE;
	*out = (uint64_t)v;
	return 0;
}

void img_size_str(uint64_t v, char *buf, size_t len)
{
	static const char *const sfx[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	int i = 0;

	/* Switch to the next unit at 1000 of the current one, as qemu-img. */
	while (i < 6 && (double)v * 1.024 >= ldexp(1.0, 10 * (i + 1)))
		i++;
	snprintf(buf, len, "%0.3g %s", (double)v / ldexp(1.0, 10 * i), sfx[i]);
}

void img_progress_init(struct img_progress *p, bool enable, uint64_t total)
{
	memset(p, 0, sizeof(*p));
	/* -p draws into a pipe or file as well, as qemu-img's does: a script
	 * reading the output sees the same lines. */
	p->on = enable;
	p->total = total ? total : 1;
	p->last_pct = -1;
	img_progress_update(p, 0);
}

void img_progress_update(struct img_progress *p, uint64_t done)
{
	double pct;
	uint64_t now;

	if (!p->on)
		return;
	pct = 100.0 * (double)MIN(done, p->total) / (double)p->total;
	now = now_ns();
	/* Redraw at most every 50 ms, always at 0 and 100%. */
	if (pct != 100.0 && p->last_pct >= 0 && now - p->last_ns < 50000000ull)
		return;
	if (pct == p->last_pct)
		return;
	p->last_ns = now;
	p->last_pct = pct;
	printf("    (%3.2f/100%%)\r", pct);
	fflush(stdout);
}

void img_progress_end(struct img_progress *p)
{
	if (!p->on)
		return;
	img_progress_update(p, p->total);
	putchar('\n');
	fflush(stdout);
}

/* getopt returned '?': name the option (opterr is off, see cmd_img). */
int img_bad_opt(char **argv)
{
	const char *arg = argv[optind - 1];

	if (optopt && strchr("fbFoOrBmStTacdlsp", optopt) && arg[0] == '-' && arg[1] == optopt &&
	    !arg[2])
		return img_err("%s: option '-%c' needs an argument", argv[0], optopt);
	if (optopt && !(arg[0] == '-' && arg[1] == '-'))
		return img_err("%s: unknown option '-%c'", argv[0], optopt);
	return img_err("%s: unknown option or missing argument '%s'", argv[0], arg);
}

/* ---- create ------------------------------------------------------- */

static bool opt_bool(const char *v, bool *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "true")) {
		*out = true;
		return true;
	}
	if (!strcmp(v, "off") || !strcmp(v, "false")) {
		*out = false;
		return true;
	}
	return false;
}

int img_parse_create_opts(const char *fmt, char *opts, struct blk_create_opts *co)
{
	bool qcow2 = !strcmp(fmt, "qcow2");
	char *save = NULL;

	for (char *kv = strtok_r(opts, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *v = strchr(kv, '=');
		uint64_t n;

		if (!v)
			return img_err("invalid option '%s' (expected key=value)", kv);
		*v++ = '\0';
		if (!strcmp(kv, "size")) {
			if (img_parse_size(v, &co->size))
				return img_err("invalid size '%s'", v);
		} else if (!strcmp(kv, "preallocation")) {
			if (!strcmp(v, "off"))
				co->prealloc = BLK_PREALLOC_OFF;
			else if (!strcmp(v, "metadata"))
				co->prealloc = BLK_PREALLOC_METADATA;
			else if (!strcmp(v, "falloc"))
				co->prealloc = BLK_PREALLOC_FALLOC;
			else if (!strcmp(v, "full"))
				co->prealloc = BLK_PREALLOC_FULL;
			else
				return img_err("invalid preallocation mode '%s' "
					       "(off, metadata, falloc, full)",
					       v);
		} else if (qcow2 && !strcmp(kv, "cluster_size")) {
			if (img_parse_size(v, &n) || n < 512 || n > 2 * MiB || (n & (n - 1)))
				return img_err("invalid cluster_size '%s' "
					       "(a power of two from 512 to 2M)",
					       v);
			co->cluster_size = (uint32_t)n;
		} else if (qcow2 && !strcmp(kv, "compression_type")) {
			if (strcmp(v, "zlib") && strcmp(v, "zstd"))
				return img_err("invalid compression_type '%s' (zlib, zstd)", v);
			co->compression_type = v;
		} else if (qcow2 && !strcmp(kv, "lazy_refcounts")) {
			if (!opt_bool(v, &co->lazy_refcounts))
				return img_err("invalid lazy_refcounts '%s' (on, off)", v);
		} else if (qcow2 && !strcmp(kv, "compat")) {
			if (!strcmp(v, "0.10") || !strcmp(v, "v2"))
				co->compat_v2 = true;
			else if (!strcmp(v, "1.1") || !strcmp(v, "v3"))
				co->compat_v2 = false;
			else
				return img_err("invalid compat '%s' (0.10, 1.1)", v);
		} else if (qcow2 && !strcmp(kv, "refcount_bits")) {
			if (parse_u64(v, 64, &n) || !n || (n & (n - 1)))
				return img_err("invalid refcount_bits '%s' (1, 2, 4, ..., 64)", v);
			co->refcount_bits = (uint32_t)n;
		} else if (qcow2 && !strcmp(kv, "backing_file")) {
			co->backing_file = v;
		} else if (qcow2 && !strcmp(kv, "backing_fmt")) {
			co->backing_fmt = v;
		} else if (qcow2 && !strcmp(kv, "extended_l2")) {
			bool on;

			if (!opt_bool(v, &on) || on)
				return img_err("extended_l2=%s is not supported", v);
		} else {
			return img_err("invalid parameter '%s' for format '%s'", kv, fmt);
		}
	}
	if (co->compat_v2 && co->compression_type && strcmp(co->compression_type, "zlib"))
		return img_err("compression_type=%s needs compat=1.1", co->compression_type);
	if (co->compat_v2 && co->lazy_refcounts)
		return img_err("lazy_refcounts=on needs compat=1.1");
	if (co->compat_v2 && co->refcount_bits && co->refcount_bits != 16)
		return img_err("refcount_bits other than 16 needs compat=1.1");
	return 0;
}

static const char *const prealloc_names[] = { "off", "metadata", "falloc", "full" };

/* `create -o help`: the options img_parse_create_opts takes, in qemu-img's layout. */
static int img_create_opts_help(const char *fmt)
{
	bool qcow2 = !strcmp(fmt, "qcow2");

	printf("Supported %s options:\n", fmt);
	if (qcow2) {
		printf("  backing_file=<str>     - File name of a base image\n"
		       "  backing_fmt=<str>      - Image format of the base image\n"
		       "  cluster_size=<size>    - qcow2 cluster size\n"
		       "  compat=<str>           - Compatibility level (v2 [0.10] or v3 [1.1])\n"
		       "  compression_type=<str> - Compression method used for image cluster "
		       "compression (zlib, zstd)\n"
		       "  lazy_refcounts=<bool (on/off)> - Postpone refcount updates\n");
	}
	printf("  preallocation=<str>    - Preallocation mode (allowed values: off, %sfalloc, "
	       "full)\n",
	       qcow2 ? "metadata, " : "");
	if (qcow2)
		printf("  refcount_bits=<num>    - Width of a reference count entry in bits\n");
	printf("  size=<size>            - Virtual disk size\n");
	return 0;
}

/* Whether the -o list OPTS names KEY (before img_parse_create_opts cuts it up). */
static bool img_opts_have(const char *opts, const char *key)
{
	size_t n = strlen(key);

	for (const char *p = opts; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (!strncmp(p, key, n) && p[n] == '=')
			return true;
	return false;
}

static int img_create(int argc, char **argv)
{
	static const struct option longopts[] = { { "help", no_argument, NULL, 'h' },
						  { NULL, 0, NULL, 0 } };
	struct blk_create_opts co = { 0 };
	struct error e = ERROR_INIT;
	const char *fmt = "raw", *backing = NULL, *backing_fmt = NULL, *file;
	char *opts = NULL;
	bool quiet = false, unsafe = false, have_size = false;
	int c;

	while ((c = getopt_long(argc, argv, "f:b:F:o:quh", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			fmt = optarg;
			break;
		case 'b':
			backing = optarg;
			break;
		case 'F':
			backing_fmt = optarg;
			break;
		case 'o':
			opts = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case 'u':
			unsafe = true;
			break;
		case 'h':
			printf("usage: vessel img create [-f raw|qcow2] [-b BACKING [-F FMT]] [-u] "
			       "[-o OPTIONS] [-q] FILE [SIZE]\n");
			return 0;
		default:
			return img_bad_opt(argv);
		}
	}
	if (!blk_find_driver(fmt))
		return img_err("unknown format '%s' (raw, qcow2)", fmt);
	if (opts && (!strcmp(opts, "help") || !strcmp(opts, "?")))
		return img_create_opts_help(fmt);
	if (optind >= argc)
		return img_err("create: missing file name");
	file = argv[optind++];
	have_size = img_opts_have(opts, "size");
	if (opts && img_parse_create_opts(fmt, opts, &co))
		return 1;
	if (backing)
		co.backing_file = backing;
	if (backing_fmt)
		co.backing_fmt = backing_fmt;
	if (optind < argc) {
		if (img_parse_size(argv[optind], &co.size))
			return img_err(
				"invalid size '%s' (bytes, or with a suffix k, M, G, T, P, E)",
				argv[optind]);
		optind++;
		have_size = true; /* 0 too: qemu-img makes an empty image */
	}
	if (optind < argc)
		return img_err("create: unexpected argument '%s'", argv[optind]);
	if (co.backing_file && strcmp(fmt, "qcow2"))
		return img_err("format '%s' does not support backing files", fmt);
	if (!co.backing_file && !have_size)
		return img_err("create: missing image size");
	if (co.backing_file && (!unsafe || !have_size)) {
		/* Check that the backing file opens (qemu-img does, unless -u). */
		char *bpath = img_backing_path(file, co.backing_file);
		struct blkdev *bb;

		if (!bpath)
			return img_err("out of memory");
		/* an overlay of an image in use may be made (qemu-img: force-share) */
		img_force_share = true;
		if (img_open(bpath, co.backing_fmt, true, true, &bb) < 0) {
			free(bpath);
			return 1;
		}
		if (!co.backing_fmt)
			co.backing_fmt = blk_format(bb);
		if (!have_size)
			co.size = blk_size(bb);
		blk_close(bb);
		free(bpath);
	}
	if (!quiet) {
		printf("Formatting '%s', fmt=%s", file, fmt);
		if (!strcmp(fmt, "qcow2"))
			printf(" cluster_size=%u extended_l2=off compression_type=%s",
			       co.cluster_size ? co.cluster_size : 65536,
			       co.compression_type ? co.compression_type : "zlib");
		if (co.prealloc != BLK_PREALLOC_OFF)
			printf(" preallocation=%s", prealloc_names[co.prealloc]);
		printf(" size=%" PRIu64, co.size);
		if (co.backing_file)
			printf(" backing_file=%s", co.backing_file);
		if (co.backing_fmt)
			printf(" backing_fmt=%s", co.backing_fmt);
		if (!strcmp(fmt, "qcow2"))
			printf(" lazy_refcounts=%s refcount_bits=%u",
			       co.lazy_refcounts ? "on" : "off",
			       co.refcount_bits ? co.refcount_bits : 16);
		printf("\n");
		fflush(stdout);
	}
	if (img_fail(blk_create(fmt, file, &co, &e), &e) < 0)
		return 1;
	return 0;
}

/* ---- snapshot ----------------------------------------------------- */

static int img_snapshot(int argc, char **argv)
{
	const char *fmt = NULL, *name = NULL;
	int c, action = 0, ret;
	bool quiet = false;
	struct blkdev *bd;

	while ((c = getopt(argc, argv, "f:la:c:d:qUh")) != -1) {
		switch (c) {
		case 'f':
			fmt = optarg;
			break;
		case 'l':
		case 'a':
		case 'c':
		case 'd':
			if (action)
				return img_err("snapshot: give only one of -l, -a, -c, -d");
			action = c;
			name = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case 'U':
			img_force_share = true;
			break;
		case 'h':
			printf("usage: vessel img snapshot "
			       "[-l | -a SNAPSHOT | -c SNAPSHOT | -d SNAPSHOT] [-f FMT] [-q] [-U] "
			       "FILE\n");
			return 0;
		default:
			return img_bad_opt(argv);
		}
	}
	if (optind != argc - 1)
		return img_err("snapshot: expected exactly one file name");
	if (!action)
		action = 'l';
	if (name && !*name)
		return img_err("snapshot: empty snapshot name");
	if (img_open(argv[optind], fmt, action == 'l', true, &bd) < 0)
		return 1;
	if (!qcow2_is_qcow2(bd)) {
		ret = img_err("format '%s' does not support snapshots", blk_format(bd));
		blk_close(bd);
		return ret;
	}
	switch (action) {
	case 'l': {
		struct qcow2_snapshot_info *s;
		int n;

		ret = qcow2_snapshot_list(bd, &s, &n);
		if (ret < 0)
			break;
		if (n && !quiet) {
			printf("Snapshot list:\n");
			img_snapshot_header();
			for (int i = 0; i < n; i++)
				img_snapshot_row(&s[i]);
		}
		qcow2_snapshot_list_free(s, n);
		break;
	}
	case 'c':
		ret = qcow2_snapshot_create(bd, name);
		break;
	case 'a':
		ret = qcow2_snapshot_apply(bd, name);
		break;
	default:
		ret = qcow2_snapshot_delete(bd, name);
		break;
	}
	if (!ret)
		ret = blk_flush(bd);
	blk_close(bd);
	return ret < 0 ? 1 : 0;
}

/* ---- resize ------------------------------------------------------- */

static int img_resize(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "shrink", no_argument, NULL, 'S' },
		{ "preallocation", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *fmt = NULL, *sz;
	bool shrink = false, quiet = false;
	uint64_t cur, n, new_size;
	struct blkdev *bd;
	int c, ret;

	if (argc == 2 && !strcmp(argv[1], "-h")) {
		printf("usage: vessel img resize [-f FMT] [--shrink] FILE [+|-]SIZE\n");
		return 0;
	}
	if (argc < 3)
		return img_err("usage: vessel img resize [-f FMT] [--shrink] FILE [+|-]SIZE");
	/* Take the size out first: "-1G" must not look like an option. */
	sz = argv[--argc];
	while ((c = getopt_long(argc, argv, "f:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			fmt = optarg;
			break;
		case 'S':
			shrink = true;
			break;
		case 'P':
			if (strcmp(optarg, "off"))
				return img_err("resize: only --preallocation=off is supported");
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			printf("usage: vessel img resize [-f FMT] [--shrink] FILE [+|-]SIZE\n");
			return 0;
		default:
			return img_bad_opt(argv);
		}
	}
	if (optind != argc - 1)
		return img_err("resize: expected a file name and a size");
	if (img_parse_size(sz + (*sz == '+' || *sz == '-'), &n))
		return img_err("invalid size '%s'", sz);
	/* with its backing file, as qemu-img: growing an overlay zeroes what it would show */
	if (img_open(argv[optind], fmt, false, false, &bd) < 0)
		return 1;
	cur = blk_size(bd);
	if (*sz == '+') {
		if (n > UINT64_MAX - cur) {
			blk_close(bd);
			return img_err("resize: size overflow");
		}
		new_size = cur + n;
	} else if (*sz == '-') {
		if (n > cur) {
			blk_close(bd);
			return img_err("resize: cannot shrink below zero");
		}
		new_size = cur - n;
	} else {
		new_size = n;
	}
	/* as qemu-img: an image of 0 bytes is made by create, never by resize */
	if (!new_size) {
		blk_close(bd);
		return img_err("new image size must be positive");
	}
	if (new_size < cur && !shrink) {
		blk_close(bd);
		return img_err("use the --shrink option to shrink an image (data beyond the new "
			       "end is lost)");
	}
	/* The driver names what went wrong (block.h: resize logs its errors). */
	ret = blk_resize(bd, new_size);
	if (ret == -ENOTSUP && !bd->drv->resize)
		img_err("format '%s' cannot be resized", blk_format(bd));
	else if (!ret && (ret = blk_flush(bd)) < 0)
		img_err("cannot flush '%s': %s", bd->path, strerror(-ret));
	blk_close(bd);
	if (ret < 0)
		return 1;
	if (!quiet)
		printf("Image resized.\n");
	return 0;
}

/* ---- dispatch ----------------------------------------------------- */

struct img_verb {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

static const struct img_verb img_verbs[] = {
	{ "create", img_create, "create a new raw or qcow2 image" },
	{ "info", img_info, "show an image's format, sizes, backing file and snapshots" },
	{ "check", img_check, "check a qcow2 image's metadata, optionally repair it" },
	{ "convert", img_convert,
	  "copy an image to another format, sparse, optionally compressed" },
	{ "snapshot", img_snapshot, "list, create, apply or delete internal snapshots" },
	{ "commit", img_commit, "write an overlay's data into its backing file" },
	{ "rebase", img_rebase, "change the backing file of an image" },
	{ "resize", img_resize, "change the virtual size of an image" },
	{ "map", img_map, "show how the guest ranges map to the image files" },
	{ "compare", img_compare, "check that two images have the same content" },
	{ "amend", img_amend, "change a qcow2 image's compat or lazy_refcounts in place" },
	{ "bench", img_bench, "time COUNT reads or writes through vessel's block layer" },
	{ "measure", img_measure, "how large a new image would be (--size, or from a FILE)" },
};

static void img_usage(FILE *f)
{
	fprintf(f, "usage: vessel img VERB [OPTIONS] FILE...\n\nverbs:\n");
	for (size_t i = 0; i < ARRAY_SIZE(img_verbs); i++)
		fprintf(f, "  %-10s %s\n", img_verbs[i].name, img_verbs[i].help);
	fprintf(f, "\nOptions and meanings follow qemu-img(1); see docs/img.md.\n");
}

int cmd_img(int argc, char **argv)
{
	if (argc < 2) {
		img_usage(stderr);
		return 1;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		img_usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(img_verbs); i++) {
		if (strcmp(argv[1], img_verbs[i].name))
			continue;
		optind = 0; /* glibc: restart getopt for the verb's own argv */
		opterr = 0; /* img_bad_opt() prints the one error line */
		/* -h or --help anywhere (before "--"): the verb's help, as qemu-img. */
		for (int a = 2; a < argc && strcmp(argv[a], "--"); a++) {
			if (!strcmp(argv[a], "-h") || !strcmp(argv[a], "--help")) {
				char *hargv[] = { argv[1], (char *)"-h", NULL };

				return img_verbs[i].fn(2, hargv);
			}
		}
		return img_verbs[i].fn(argc - 1, argv + 1);
	}
	return img_err("unknown verb '%s' (try 'vessel img --help')", argv[1]);
}
