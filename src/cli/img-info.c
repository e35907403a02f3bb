// SPDX-License-Identifier: MIT
/*
 * `vessel img info` and `vessel img check`: read-only views of an image,
 * in qemu-img's human and JSON formats (same keys, same exit codes), so
 * that tools parsing qemu-img's output work unchanged.
 */
#include "cli/img.h"
#include "block/block.h"
#include "block/qcow2.h"
#include "util/util.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---- names from the image ------------------------------------------ */

/*
 * Snapshot names, snapshot IDs and backing file names come from the image,
 * which may be hostile: printed raw, they can send terminal escape
 * sequences (set the window title, rewrite the screen, in some terminals
 * answer back into the input).  qemu-img 7.2 prints them raw in human
 * output; its JSON output is ASCII, with \u escapes (uppercase hex) for
 * control characters and everything above U+007E, and U+FFFD for bytes
 * that are not UTF-8.  vessel prints JSON the same way, and escapes human
 * output with str_escape() (util.c).
 */

/* One printf of a string from the image, escaped (a marker if out of memory). */
static const char *esc(char **slot, const char *s)
{
	free(*slot);
	*slot = str_escape(s);
	return *slot ? *slot : "(out of memory)";
}

/* s with every byte that does not start valid UTF-8 replaced by U+FFFD. */
static json_object *json_str(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char *clean = malloc(strlen(s) * 3 + 1), *o = clean;
	json_object *j;

	if (!clean)
		return NULL;
	while (*p) {
		uint32_t cp;
		int n = utf8_char(p, &cp);

		if (n) {
			memcpy(o, p, (size_t)n);
			o += n;
			p += n;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			p++;
		}
	}
	*o = '\0';
	j = json_object_new_string(clean);
	free(clean);
	return j;
}

/*
 * Print JSON as qemu-img does: json-c's text (valid UTF-8, from json_str)
 * with everything outside printable ASCII as \uXXXX, UTF-16 surrogate
 * pairs above U+FFFF, and uppercase hex digits.  Outside strings json-c
 * writes only ASCII, so only string contents change.
 */
void img_json_print(json_object *o)
{
	const unsigned char *p = (const unsigned char *)json_object_to_json_string_ext(
		o,
		JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);

	while (*p) {
		uint32_t cp;
		int n;

		if (p[0] == '\\' && p[1] == 'u') {
			/* json-c's own \u00xx escapes, in lowercase */
			printf("\\u");
			p += 2;
			for (int i = 0; i < 4 && *p; i++, p++)
				putchar(*p >= 'a' && *p <= 'f' ? *p - 'a' + 'A' : *p);
			continue;
		}
		if (p[0] == '\\' && p[1]) {
			putchar(*p++);
			putchar(*p++);
			continue;
		}
		n = utf8_char(p, &cp);
		if (n == 1 && cp != 0x7f) {
			putchar(*p++);
			continue;
		}
		if (!n)
			cp = 0xfffd, n = 1; /* cannot happen after json_str() */
		if (cp > 0xffff)
			printf("\\u%04X\\u%04X", 0xd800 + ((cp - 0x10000) >> 10),
			       0xdc00 + ((cp - 0x10000) & 0x3ff));
		else
			printf("\\u%04X", cp);
		p += n;
	}
	putchar('\n');
}

/* ---- info --------------------------------------------------------- */

static uint64_t img_disk_usage(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? 0 : (uint64_t)st.st_blocks * 512;
}

void img_snapshot_row(const struct qcow2_snapshot_info *s)
{
	char size[32], date[32], clock[32], icount[24] = "", *id = NULL, *name = NULL;
	time_t t = (time_t)s->date_sec;
	struct tm tm;
	uint64_t ms = s->vm_clock_nsec / 1000000;

	img_size_str(s->vm_state_size, size, sizeof(size));
	localtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(clock, sizeof(clock), "%02" PRIu64 ":%02" PRIu64 ":%02" PRIu64 ".%03" PRIu64,
		 ms / 3600000, ms / 60000 % 60, ms / 1000 % 60, ms % 1000);
	/* qemu-img leaves ICOUNT blank when the snapshot has none (qcow2 spec,
	 * snapshot table extra data: icount -1, or extra data under 24 bytes). */
	if (s->icount != UINT64_MAX)
		snprintf(icount, sizeof(icount), "%" PRIu64, s->icount);
	printf("%-9s %-16s %8s%20s%13s%11s\n", esc(&id, s->id), esc(&name, s->name), size, date,
	       clock, icount);
	free(id);
	free(name);
}

void img_snapshot_header(void)
{
	printf("%-10s%-17s%8s%20s%13s%11s\n", "ID", "TAG", "VM SIZE", "DATE", "VM CLOCK", "ICOUNT");
}

static json_object *img_snapshot_json(const struct qcow2_snapshot_info *s)
{
	json_object *o = json_object_new_object();

	if (s->icount != UINT64_MAX)
		json_object_object_add(o, "icount", json_object_new_int64((int64_t)s->icount));
	json_object_object_add(o, "vm-clock-nsec",
			       json_object_new_int64((int64_t)(s->vm_clock_nsec % 1000000000)));
	json_object_object_add(o, "name", json_str(s->name));
	json_object_object_add(o, "date-sec", json_object_new_int64(s->date_sec));
	json_object_object_add(o, "date-nsec", json_object_new_int64(s->date_nsec));
	json_object_object_add(o, "vm-clock-sec",
			       json_object_new_int64((int64_t)(s->vm_clock_nsec / 1000000000)));
	json_object_object_add(o, "id", json_str(s->id));
	json_object_object_add(o, "vm-state-size",
			       json_object_new_int64((int64_t)s->vm_state_size));
	return o;
}

/* Info of one layer; *next gets the resolved backing path (or NULL). */
static int img_info_one(const char *path, const char *fmt, bool json, json_object *arr, char **next,
			const char **next_fmt_out, char *next_fmt_buf, size_t nfb)
{
	struct blkdev *bd;
	struct qcow2_info qi = { 0 };
	struct qcow2_snapshot_info *snaps = NULL;
	int nsnaps = 0, ret = 0;
	bool qcow2;
	char vs[32], ds[32];
	uint64_t actual;
	char *full = NULL, *e1 = NULL, *e2 = NULL;

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
					       json_str(qi.backing_fmt));
		if (nsnaps) {
			json_object *a = json_object_new_array();

			for (int i = 0; i < nsnaps; i++)
				json_object_array_add(a, img_snapshot_json(&snaps[i]));
			json_object_object_add(o, "snapshots", a);
		}
		json_object_object_add(o, "virtual-size", json_object_new_int64((int64_t)bd->size));
		json_object_object_add(o, "filename", json_str(path));
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
			json_object_object_add(o, "full-backing-filename", json_str(full));
			json_object_object_add(o, "backing-filename", json_str(qi.backing_file));
		}
		json_object_object_add(o, "dirty-flag", json_object_new_boolean(qi.dirty));
		json_object_array_add(arr, o);
		goto out;
	}
	img_size_str(bd->size, vs, sizeof(vs));
	img_size_str(actual, ds, sizeof(ds));
	printf("image: %s\nfile format: %s\nvirtual size: %s (%" PRIu64 " bytes)\ndisk size: %s\n",
	       esc(&e1, path), blk_format(bd), vs, bd->size, ds);
	if (qcow2) {
		printf("cluster_size: %u\n", qi.cluster_size);
		if (qi.backing_file) {
			if (strcmp(full, qi.backing_file))
				printf("backing file: %s (actual path: %s)\n",
				       esc(&e1, qi.backing_file), esc(&e2, full));
			else
				printf("backing file: %s\n", esc(&e1, qi.backing_file));
			if (qi.backing_fmt)
				printf("backing file format: %s\n", esc(&e1, qi.backing_fmt));
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
	free(e1);
	free(e2);
	qcow2_snapshot_list_free(snaps, nsnaps);
	blk_close(bd);
	return ret;
}

int img_info(int argc, char **argv)
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
			img_force_share = true;
			break;
		case 'h':
			printf("usage: vessel img info [-f FMT] [--output human|json] "
			       "[--backing-chain] [-U] FILE\n");
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
		img_json_print(chain ? arr : json_object_array_get_idx(arr, 0));
	}
	json_object_put(arr);
	return ret;
}

/* ---- check -------------------------------------------------------- */

int img_check(int argc, char **argv)
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
			img_force_share = true;
			break;
		case 'h':
			printf("usage: vessel img check [-f FMT] [-r leaks|all] [--output "
			       "human|json] [-q] [-U] FILE\n");
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
		json_object_object_add(o, "filename", json_str(file));
		json_object_object_add(o, "format", json_object_new_string("qcow2"));
		if (r.fragmented_clusters)
			json_object_object_add(
				o, "fragmented-clusters",
				json_object_new_int64((int64_t)r.fragmented_clusters));
		if (r.compressed_clusters)
			json_object_object_add(
				o, "compressed-clusters",
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
		img_json_print(o);
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
