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

	fflush(stdout);
	fputs("vessel img: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

int img_open(const char *path, const char *fmt, bool readonly, bool no_backing,
	     struct blkdev **out)
{
	struct blk_open_opts o = { .format = fmt, .readonly = readonly, .no_backing = no_backing };
	struct stat st;

	/* The commonest mistake gets a message in the img format. */
	if (stat(path, &st) < 0) {
		int err = errno;

		*out = NULL;
		img_err("cannot open '%s': %s", path, strerror(err));
		return -err;
	}
	return blk_open(path, &o, out);
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
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	if (*end) {
		const char *sfx = "bkmgtpe";
		const char *p = strchr(sfx, end[0] | 0x20);

		if (!p || end[1])
			return -EINVAL;
		shift = 10 * (unsigned int)(p - sfx);
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
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
	p->on = enable && isatty(STDOUT_FILENO);
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

	if (optopt && strchr("fbFoOrBmStTacdlsp", optopt) && arg[0] == '-' &&
	    arg[1] == optopt && !arg[2])
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
					       "(off, metadata, falloc, full)", v);
		} else if (qcow2 && !strcmp(kv, "cluster_size")) {
			if (img_parse_size(v, &n) || n < 512 || n > 2 * MiB || (n & (n - 1)))
				return img_err("invalid cluster_size '%s' "
					       "(a power of two from 512 to 2M)", v);
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

static int img_create(int argc, char **argv)
{
	static const struct option longopts[] = { { "help", no_argument, NULL, 'h' },
						  { NULL, 0, NULL, 0 } };
	struct blk_create_opts co = { 0 };
	const char *fmt = "raw", *backing = NULL, *backing_fmt = NULL, *file;
	char *opts = NULL;
	bool quiet = false, unsafe = false;
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
			       "[-o OPTIONS] FILE [SIZE]\n");
			return 0;
		default:
			return img_bad_opt(argv);
		}
	}
	if (!blk_find_driver(fmt))
		return img_err("unknown format '%s' (raw, qcow2)", fmt);
	if (optind >= argc)
		return img_err("create: missing file name");
	file = argv[optind++];
	if (opts && img_parse_create_opts(fmt, opts, &co))
		return 1;
	if (backing)
		co.backing_file = backing;
	if (backing_fmt)
		co.backing_fmt = backing_fmt;
	if (optind < argc) {
		if (img_parse_size(argv[optind], &co.size))
			return img_err("invalid size '%s' (bytes, or with a suffix k, M, G, T, P, E)",
				       argv[optind]);
		optind++;
	}
	if (optind < argc)
		return img_err("create: unexpected argument '%s'", argv[optind]);
	if (co.backing_file && strcmp(fmt, "qcow2"))
		return img_err("format '%s' does not support backing files", fmt);
	if (!co.backing_file && !co.size && !(opts && strstr(opts, "size=")))
		return img_err("create: missing image size");
	if (co.backing_file && (!unsafe || !co.size)) {
		/* Check that the backing file opens (qemu-img does, unless -u). */
		char *bpath = img_backing_path(file, co.backing_file);
		struct blkdev *bb;

		if (!bpath)
			return img_err("out of memory");
		if (img_open(bpath, co.backing_fmt, true, true, &bb) < 0) {
			free(bpath);
			return 1;
		}
		if (!co.backing_fmt)
			co.backing_fmt = blk_format(bb);
		if (!co.size)
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
			printf(" lazy_refcounts=%s refcount_bits=%u", co.lazy_refcounts ? "on" : "off",
			       co.refcount_bits ? co.refcount_bits : 16);
		printf("\n");
		fflush(stdout);
	}
	if (blk_create(fmt, file, &co) < 0)
		return 1;
	return 0;
}

/* ---- info --------------------------------------------------------- */

static uint64_t img_disk_usage(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? 0 : (uint64_t)st.st_blocks * 512;
}

static void img_snapshot_row(const struct qcow2_snapshot_info *s)
{
	char size[32], date[32], clock[32];
	time_t t = (time_t)s->date_sec;
	struct tm tm;
	uint64_t ms = s->vm_clock_nsec / 1000000;

	img_size_str(s->vm_state_size, size, sizeof(size));
	localtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(clock, sizeof(clock), "%02" PRIu64 ":%02" PRIu64 ":%02" PRIu64 ".%03" PRIu64,
		 ms / 3600000, ms / 60000 % 60, ms / 1000 % 60, ms % 1000);
	printf("%-9s %-16s %8s%20s%13s%11s\n", s->id, s->name, size, date, clock, "0");
}

static void img_snapshot_header(void)
{
	printf("%-10s%-17s%8s%20s%13s%11s\n", "ID", "TAG", "VM SIZE", "DATE", "VM CLOCK", "ICOUNT");
}

static json_object *img_snapshot_json(const struct qcow2_snapshot_info *s)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "icount", json_object_new_int64(0));
	json_object_object_add(o, "vm-clock-nsec",
			       json_object_new_int64((int64_t)(s->vm_clock_nsec % 1000000000)));
	json_object_object_add(o, "name", json_object_new_string(s->name));
	json_object_object_add(o, "date-sec", json_object_new_int64(s->date_sec));
	json_object_object_add(o, "date-nsec", json_object_new_int64(s->date_nsec));
	json_object_object_add(o, "vm-clock-sec",
			       json_object_new_int64((int64_t)(s->vm_clock_nsec / 1000000000)));
	json_object_object_add(o, "id", json_object_new_string(s->id));
	json_object_object_add(o, "vm-state-size", json_object_new_int64((int64_t)s->vm_state_size));
	return o;
}

/* Info of one layer; *next gets the resolved backing path (or NULL). */
static int img_info_one(const char *path, const char *fmt, bool json, json_object *arr,
			char **next, const char **next_fmt_out, char *next_fmt_buf, size_t nfb)
{
	struct blkdev *bd;
	struct qcow2_info qi = { 0 };
	struct qcow2_snapshot_info *snaps = NULL;
	int nsnaps = 0, ret = 0;
	bool qcow2;
	char vs[32], ds[32];
	uint64_t actual;
	char *full = NULL;

	*next = NULL;
	if (img_open(path, fmt, true, true, &bd) < 0)
		return 1;
	qcow2 = qcow2_is_qcow2(bd);
	if (qcow2 && (qcow2_info(bd, &qi) < 0 || qcow2_snapshot_list(bd, &snaps, &nsnaps) < 0)) {
		blk_close(bd);
		return 1;
	}
	actual = qcow2 ? qi.disk_size : img_disk_usage(bd->fd);
	if (qi.backing_file) {
		full = img_backing_path(path, qi.backing_file);
		if (!full) {
			ret = img_err("out of memory");
			goto out;
		}
	}
	if (json) {
		json_object *o = json_object_new_object();

		if (qi.backing_file && qi.backing_fmt)
			json_object_object_add(o, "backing-filename-format",
					       json_object_new_string(qi.backing_fmt));
		if (nsnaps) {
			json_object *a = json_object_new_array();

			for (int i = 0; i < nsnaps; i++)
				json_object_array_add(a, img_snapshot_json(&snaps[i]));
			json_object_object_add(o, "snapshots", a);
		}
		json_object_object_add(o, "virtual-size", json_object_new_int64((int64_t)bd->size));
		json_object_object_add(o, "filename", json_object_new_string(path));
		if (qcow2)
			json_object_object_add(o, "cluster-size",
					       json_object_new_int64(qi.cluster_size));
		json_object_object_add(o, "format", json_object_new_string(blk_format(bd)));
		json_object_object_add(o, "actual-size", json_object_new_int64((int64_t)actual));
		if (qcow2) {
			json_object *fs = json_object_new_object(), *d = json_object_new_object();

			/* v2 has no lazy refcounts, corrupt bit or extended L2 (qemu-img
			 * leaves those keys out for compat 0.10). */
			json_object_object_add(d, "compat", json_object_new_string(qi.compat));
			json_object_object_add(d, "compression-type",
					       json_object_new_string(qi.compression_type));
			if (qi.version >= 3)
				json_object_object_add(d, "lazy-refcounts",
						       json_object_new_boolean(qi.lazy_refcounts));
			json_object_object_add(d, "refcount-bits",
					       json_object_new_int64(qi.refcount_bits));
			if (qi.version >= 3) {
				json_object_object_add(d, "corrupt",
						       json_object_new_boolean(qi.corrupt));
				json_object_object_add(d, "extended-l2",
						       json_object_new_boolean(false));
			}
			json_object_object_add(fs, "type", json_object_new_string("qcow2"));
			json_object_object_add(fs, "data", d);
			json_object_object_add(o, "format-specific", fs);
		}
		if (full) {
			json_object_object_add(o, "full-backing-filename", json_object_new_string(full));
			json_object_object_add(o, "backing-filename",
					       json_object_new_string(qi.backing_file));
		}
		json_object_object_add(o, "dirty-flag", json_object_new_boolean(qi.dirty));
		json_object_array_add(arr, o);
		goto out;
	}
	img_size_str(bd->size, vs, sizeof(vs));
	img_size_str(actual, ds, sizeof(ds));
	printf("image: %s\nfile format: %s\nvirtual size: %s (%" PRIu64 " bytes)\ndisk size: %s\n",
	       path, blk_format(bd), vs, bd->size, ds);
	if (qcow2) {
		printf("cluster_size: %u\n", qi.cluster_size);
		if (qi.backing_file) {
			if (strcmp(full, qi.backing_file))
				printf("backing file: %s (actual path: %s)\n", qi.backing_file, full);
			else
				printf("backing file: %s\n", qi.backing_file);
			if (qi.backing_fmt)
				printf("backing file format: %s\n", qi.backing_fmt);
		}
		if (qi.dirty)
			printf("dirty flag: yes\n");
		if (nsnaps) {
			printf("Snapshot list:\n");
			img_snapshot_header();
			for (int i = 0; i < nsnaps; i++)
				img_snapshot_row(&snaps[i]);
		}
		printf("Format specific information:\n    compat: %s\n", qi.compat);
		printf("    compression type: %s\n", qi.compression_type);
		if (qi.version >= 3)
			printf("    lazy refcounts: %s\n", qi.lazy_refcounts ? "true" : "false");
		printf("    refcount bits: %u\n", qi.refcount_bits);
		if (qi.version >= 3)
			printf("    corrupt: %s\n    extended l2: false\n",
			       qi.corrupt ? "true" : "false");
	}
out:
	if (!ret && full && next_fmt_buf) {
		snprintf(next_fmt_buf, nfb, "%s", qi.backing_fmt ? qi.backing_fmt : "");
		*next_fmt_out = qi.backing_fmt ? next_fmt_buf : NULL;
		*next = full;
		full = NULL;
	}
	free(full);
	qcow2_snapshot_list_free(snaps, nsnaps);
	blk_close(bd);
	return ret;
}

static int img_info(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'O' },
		{ "backing-chain", no_argument, NULL, 'B' },
		{ "force-share", no_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *fmt = NULL, *out = "human";
	bool chain = false, json;
	char *path, fmtbuf[32];
	json_object *arr;
	int c, ret = 0, depth = 0;

	while ((c = getopt_long(argc, argv, "f:Uh", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			fmt = optarg;
			break;
		case 'O':
			out = optarg;
			break;
		case 'B':
			chain = true;
			break;
		case 'U':
			break;
		case 'h':
			printf("usage: vessel img info [-f FMT] [--output human|json] "
			       "[--backing-chain] FILE\n");
			return 0;
		default:
			return img_bad_opt(argv);
		}
	}
	if (strcmp(out, "human") && strcmp(out, "json"))
		return img_err("--output must be 'human' or 'json', not '%s'", out);
	if (optind != argc - 1)
		return img_err("info: expected exactly one file name");
	json = !strcmp(out, "json");
	arr = json_object_new_array();
	path = strdup(argv[optind]);
	while (path && !ret) {
		char *next = NULL;
		const char *next_fmt = NULL;

		if (++depth > 64) {
			ret = img_err("backing chain of '%s' too long (a loop?)", argv[optind]);
			break;
		}
		if (chain && depth > 1 && !json)
			printf("\n");
		ret = img_info_one(path, fmt, json, arr, &next, &next_fmt, fmtbuf, sizeof(fmtbuf));
		free(path);
		path = chain ? next : NULL;
		if (!chain)
			free(next);
		fmt = next_fmt;
	}
	free(path);
	if (!ret && json) {
		json_object *o = chain ? arr : json_object_array_get_idx(arr, 0);

		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
								 JSON_C_TO_STRING_SPACED |
								 JSON_C_TO_STRING_NOSLASHESCAPE));
	}
	json_object_put(arr);
	return ret;
}

/* ---- check -------------------------------------------------------- */

static int img_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'O' },
		{ "repair", required_argument, NULL, 'r' },
		{ "force-share", no_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *fmt = NULL, *out = "human", *file;
	struct qcow2_check_result r;
	int c, repair = 0, ret;
	bool quiet = false;
	struct blkdev *bd;

	while ((c = getopt_long(argc, argv, "f:r:qUh", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			fmt = optarg;
			break;
		case 'O':
			out = optarg;
			break;
		case 'r':
			if (!strcmp(optarg, "leaks"))
				repair = QCOW2_CHECK_REPAIR_LEAKS;
			else if (!strcmp(optarg, "all"))
				repair = QCOW2_CHECK_REPAIR_ALL;
			else
				return img_err("invalid -r '%s' (leaks, all)", optarg);
			break;
		case 'q':
			quiet = true;
			break;
		case 'U':
			break;
		case 'h':
			printf("usage: vessel img check [-f FMT] [-r leaks|all] [--output human|json] "
			       "FILE\n");
			return 0;
		default:
			return img_bad_opt(argv);
		}
	}
	if (strcmp(out, "human") && strcmp(out, "json"))
		return img_err("--output must be 'human' or 'json', not '%s'", out);
	if (optind != argc - 1)
		return img_err("check: expected exactly one file name");
	file = argv[optind];
	/* Exit codes, as qemu-img check: 0 ok, 1 not completed, 2 corrupt,
	 * 3 leaks only, 63 format without checks. */
	if (img_open(file, fmt, !repair, true, &bd) < 0)
		return 1;
	if (!qcow2_is_qcow2(bd)) {
		blk_close(bd);
		img_err("format '%s' does not support checks", fmt ? fmt : "raw");
		return 63;
	}
	ret = qcow2_check(bd, repair, &r);
	blk_close(bd);
	if (ret < 0)
		return 1;
	if (!strcmp(out, "json")) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "image-end-offset",
				       json_object_new_int64((int64_t)r.image_end_offset));
		json_object_object_add(o, "total-clusters",
				       json_object_new_int64((int64_t)r.total_clusters));
		json_object_object_add(o, "check-errors",
				       json_object_new_int64((int64_t)r.check_errors));
		json_object_object_add(o, "allocated-clusters",
				       json_object_new_int64((int64_t)r.allocated_clusters));
		json_object_object_add(o, "filename", json_object_new_string(file));
		json_object_object_add(o, "format", json_object_new_string("qcow2"));
		if (r.fragmented_clusters)
			json_object_object_add(o, "fragmented-clusters",
					       json_object_new_int64((int64_t)r.fragmented_clusters));
		if (r.compressed_clusters)
			json_object_object_add(o, "compressed-clusters",
					       json_object_new_int64((int64_t)r.compressed_clusters));
		if (r.leaks)
			json_object_object_add(o, "leaks", json_object_new_int64((int64_t)r.leaks));
		if (r.corruptions)
			json_object_object_add(o, "corruptions",
					       json_object_new_int64((int64_t)r.corruptions));
		if (r.leaks_fixed)
			json_object_object_add(o, "leaks-fixed",
					       json_object_new_int64((int64_t)r.leaks_fixed));
		if (r.corruptions_fixed)
			json_object_object_add(o, "corruptions-fixed",
					       json_object_new_int64((int64_t)r.corruptions_fixed));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
								 JSON_C_TO_STRING_SPACED |
								 JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else if (!quiet) {
		if (r.leaks_fixed || r.corruptions_fixed)
			printf("The following inconsistencies were found and repaired:\n\n"
			       "    %" PRIu64 " leaked clusters\n    %" PRIu64 " corruptions\n\n"
			       "Double checking the fixed image now...\n",
			       r.leaks_fixed, r.corruptions_fixed);
		if (!r.corruptions && !r.leaks && !r.check_errors)
			printf("No errors were found on the image.\n");
		if (r.corruptions)
			printf("\n%" PRIu64 " errors were found on the image.\n"
			       "Data may be corrupted, or further writes to the image may "
			       "corrupt it.\n",
			       r.corruptions);
		if (r.leaks)
			printf("\n%" PRIu64 " leaked clusters were found on the image.\n"
			       "This means waste of disk space, but no harm to data.\n",
			       r.leaks);
		if (r.check_errors)
			printf("\n%" PRIu64 " internal errors have occurred during the check.\n",
			       r.check_errors);
		if (r.total_clusters) {
			double t = (double)r.total_clusters;

			printf("%" PRIu64 "/%" PRIu64 " = %0.2f%% allocated, %0.2f%% fragmented, "
			       "%0.2f%% compressed clusters\n",
			       r.allocated_clusters, r.total_clusters,
			       100.0 * (double)r.allocated_clusters / t,
			       100.0 * (double)r.fragmented_clusters / t,
			       100.0 * (double)r.compressed_clusters / t);
		}
		if (r.image_end_offset)
			printf("Image end offset: %" PRIu64 "\n", r.image_end_offset);
	}
	if (r.check_errors)
		return 1;
	if (r.corruptions)
		return 2;
	if (r.leaks)
		return 3;
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
			break;
		case 'h':
			printf("usage: vessel img snapshot [-l | -a SNAP | -c SNAP | -d SNAP] "
			       "[-f FMT] FILE\n");
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
	if (img_open(argv[optind], fmt, false, true, &bd) < 0)
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
	{ "convert", img_convert, "copy an image to another format, sparse, optionally compressed" },
	{ "snapshot", img_snapshot, "list, create, apply or delete internal snapshots" },
	{ "commit", img_commit, "write an overlay's data into its backing file" },
	{ "rebase", img_rebase, "change the backing file of an image" },
	{ "resize", img_resize, "change the virtual size of an image" },
	{ "map", img_map, "show how the guest ranges map to the image files" },
	{ "compare", img_compare, "check that two images have the same content" },
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
		return img_verbs[i].fn(argc - 1, argv + 1);
	}
	return img_err("unknown verb '%s' (try 'vessel img --help')", argv[1]);
}
