// SPDX-License-Identifier: MIT
/*
 * `vessel img` verbs that work on backing chains: commit (write an
 * overlay's data into its backing file), rebase (change the backing
 * file, copying what differs unless -u) and compare (qemu-img compare:
 * 0 identical, 1 different, 2 error).
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

#define IMG_CHUNK (1 * MiB)

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return !stat(a, &sa) && !stat(b, &sb) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int io_err(struct blkdev *bd, const char *what, uint64_t off, int ret)
{
	return img_err("error %s '%s' at offset %" PRIu64 ": %s", what, bd->path, off,
		       strerror(-ret));
}

/* ---- commit ------------------------------------------------------- */

static int commit_copy(struct blkdev *top, struct blkdev *base, uint8_t *buf, bool progress)
{
	struct img_progress prog;
	uint64_t off = 0;
	int ret;

	img_progress_init(&prog, progress, top->size);
	while (off < top->size) {
		uint64_t pnum, host;
		int s;

		ret = blk_block_status(top, off, MIN(top->size - off, (uint64_t)IMG_CHUNK), &pnum,
				       &s, &host);
		if (ret < 0)
			return io_err(top, "reading", off, ret);
		if (!(s & BLK_STATUS_ALLOCATED)) {
			/* Not in the overlay: the base already has it. */
		} else if (s & BLK_STATUS_ZERO) {
			ret = blk_write_zeroes(base, off, pnum, false);
			if (ret == -ENOTSUP) {
				memset(buf, 0, (size_t)pnum);
				ret = blk_pwrite(base, buf, (size_t)pnum, off);
			}
			if (ret < 0)
				return io_err(base, "writing", off, ret);
		} else {
			ret = blk_pread(top, buf, (size_t)pnum, off);
			if (ret < 0)
				return io_err(top, "reading", off, ret);
			ret = blk_pwrite(base, buf, (size_t)pnum, off);
			if (ret < 0)
				return io_err(base, "writing", off, ret);
		}
		off += pnum;
		img_progress_update(&prog, off);
	}
	img_progress_end(&prog);
	return 0;
}

/*
 * Status of [off, off+len) in the layers above `base`: *decided is false
 * if none of them has the range (the base keeps its content), else *zero
 * says whether it reads as zeroes.
 */
static int commit_status(struct blkdev *top, struct blkdev *base, uint64_t off, uint64_t len,
			 uint64_t *pnum, bool *decided, bool *zero)
{
	struct blkdev *l = top;

	*decided = false;
	*zero = false;
	while (l && l != base) {
		uint64_t host;
		int st, ret;

		ret = blk_block_status(l, off, len, pnum, &st, &host);
		if (ret < 0)
			return ret;
		len = *pnum;
		if (st & BLK_STATUS_ALLOCATED) {
			*decided = true;
			*zero = st & BLK_STATUS_ZERO;
			return 0;
		}
		if (l->backing && off >= l->backing->size) {
			*decided = *zero = true; /* past a smaller backing file: zeroes */
			return 0;
		}
		l = l->backing;
	}
	return 0;
}

/*
 * commit -b BASE deeper in the chain: everything the layers above BASE
 * have goes into BASE.  As with qemu-img, -b implies -d: the images above
 * stay as they are.
 */
static int commit_deep(const char *path, const char *fmt, const char *base_arg, uint8_t *buf,
		       bool progress, bool quiet)
{
	struct blkdev *top = NULL, *base = NULL, *l;
	struct img_progress prog;
	uint64_t off = 0;
	int ret = 1;

	if (img_open(path, fmt, true, false, &top) < 0)
		return 1;
	for (l = top->backing; l && !same_file(l->path, base_arg); l = l->backing)
		;
	if (!l) {
		ret = img_err("commit: '%s' is not in the backing chain of '%s'", base_arg, path);
		goto out;
	}
	if (img_open(l->path, blk_format(l), false, false, &base) < 0)
		goto out;
	if (base->size < top->size && blk_resize(base, top->size) < 0) {
		ret = img_err("commit: cannot grow '%s' to the overlay's size", base->path);
		goto out;
	}
	img_progress_init(&prog, progress, top->size);
	while (off < top->size) {
		uint64_t pnum;
		bool decided, zero;
		int r = commit_status(top, l, off, MIN(top->size - off, (uint64_t)IMG_CHUNK), &pnum,
				      &decided, &zero);

		if (r < 0) {
			ret = io_err(top, "reading", off, r);
			goto out;
		}
		if (decided && zero) {
			r = blk_write_zeroes(base, off, pnum, false);
			if (r == -ENOTSUP) {
				memset(buf, 0, (size_t)pnum);
				r = blk_pwrite(base, buf, (size_t)pnum, off);
			}
		} else if (decided) {
			r = blk_pread(top, buf, (size_t)pnum, off);
			if (r < 0) {
				ret = io_err(top, "reading", off, r);
				goto out;
			}
			r = blk_pwrite(base, buf, (size_t)pnum, off);
		}
		if (r < 0) {
			ret = io_err(base, "writing", off, r);
			goto out;
		}
		off += pnum;
		img_progress_update(&prog, off);
	}
	img_progress_end(&prog);
	if ((ret = blk_flush(base)) < 0) {
		ret = io_err(base, "flushing", 0, ret);
		goto out;
	}
	if (!quiet)
		printf("Image committed.\n");
out:
	blk_close(base);
	blk_close(top);
	return ret;
}

int img_commit(int argc, char **argv)
{
	const char *fmt = NULL, *base_arg = NULL;
	bool keep = false, quiet = false, progress = false;
	struct blkdev *top = NULL, *base = NULL;
	char *bpath = NULL;
	uint8_t *buf = NULL;
	int ch, ret = 1;

	while ((ch = getopt(argc, argv, "f:t:b:dpqrh")) != -1) {
		switch (ch) {
		case 'f':
			fmt = optarg;
			break;
		case 't':
		case 'r':
			break;
		case 'b':
			base_arg = optarg;
			break;
		case 'd':
			keep = true;
			break;
		case 'p':
			progress = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			printf("usage: vessel img commit [-f FMT] [-d] [-b BASE] [-p] [-q] FILE\n");
			return 0;
		default:
			return img_bad_opt(argv);
		}
	}
	if (optind != argc - 1)
		return img_err("commit: expected exactly one file name");
	/* As qemu-img: the top image is emptied only when -b is not given. */
	if (base_arg)
		keep = true;
	if (img_open(argv[optind], fmt, false, true, &top) < 0)
		return 1;
	if (!top->backing_file) {
		ret = img_err("'%s' has no backing file to commit to", top->path);
		goto out;
	}
	bpath = img_backing_path(top->path, top->backing_file);
	buf = aligned_alloc(4096, IMG_CHUNK);
	if (!bpath || !buf) {
		ret = img_err("out of memory");
		goto out;
	}
	if (base_arg && !same_file(base_arg, bpath)) {
		blk_close(top);
		top = NULL;
		ret = commit_deep(argv[optind], fmt, base_arg, buf, progress, quiet);
		goto out;
	}
	/* The base keeps its own backing chain: partial writes may need it. */
	if (img_open(bpath, top->backing_fmt, false, false, &base) < 0)
		goto out;
	if (base->size < top->size && blk_resize(base, top->size) < 0) {
		ret = img_err("commit: cannot grow '%s' to the overlay's size", bpath);
		goto out;
	}
	ret = commit_copy(top, base, buf, progress);
	if (!ret && (ret = blk_flush(base)) < 0)
		ret = io_err(base, "flushing", 0, ret);
	if (!ret && !keep && qcow2_is_qcow2(top)) {
		/* The data now lives in the base: let reads fall through again. */
		if (qcow2_make_empty(top) < 0 || blk_flush(top) < 0)
			ret = 1;
	}
	if (!ret && !quiet)
		printf("Image committed.\n");
out:
	blk_close(base);
	blk_close(top);
	free(bpath);
	free(buf);
	return ret;
}

/* ---- rebase ------------------------------------------------------- */

/*
 * Safe rebase: for every range the overlay does not allocate, the guest
 * saw the old backing chain's data; where the new backing file differs,
 * copy the old data into the overlay before switching.
 */
static int rebase_copy(struct blkdev *top, struct blkdev *nb, uint8_t *a, uint8_t *b, bool progress)
{
	uint64_t gran = top->cluster_size ? top->cluster_size : 65536, off = 0;
	struct img_progress prog;
	int ret;

	img_progress_init(&prog, progress, top->size);
	while (off < top->size) {
		uint64_t pnum, host;
		int s;

		ret = blk_block_status(top, off, MIN(top->size - off, (uint64_t)IMG_CHUNK), &pnum,
				       &s, &host);
		if (ret < 0)
			return io_err(top, "reading", off, ret);
		if (!(s & BLK_STATUS_ALLOCATED)) {
			size_t n = (size_t)pnum;

			ret = blk_pread(top, a, n, off);
			if (ret < 0)
				return io_err(top, "reading", off, ret);
			memset(b, 0, n);
			if (nb && off < nb->size) {
				size_t m = (size_t)MIN((uint64_t)n, nb->size - off);

				ret = blk_pread(nb, b, m, off);
				if (ret < 0)
					return io_err(nb, "reading", off, ret);
			}
			/* Compare cluster by cluster, copy only those that differ. */
			for (size_t pos = 0; pos < n;) {
				size_t g =
					(size_t)MIN((uint64_t)(n - pos), gran - (off + pos) % gran);

				if (memcmp(a + pos, b + pos, g)) {
					ret = blk_pwrite(top, a + pos, g, off + pos);
					if (ret < 0)
						return io_err(top, "writing", off + pos, ret);
				}
				pos += g;
			}
		}
		off += pnum;
		img_progress_update(&prog, off);
	}
	img_progress_end(&prog);
	return 0;
}

int img_rebase(int argc, char **argv)
{
	const char *fmt = NULL, *bfmt = NULL, *newb = NULL;
	bool unsafe = false, progress = false, quiet = false;
	struct blkdev *top = NULL, *nb = NULL;
	uint8_t *a = NULL, *b = NULL;
	int ch, ret = 1;

	while ((ch = getopt(argc, argv, "f:F:b:t:T:upqUh")) != -1) {
		switch (ch) {
		case 'f':
			fmt = optarg;
			break;
		case 'F':
			bfmt = optarg;
			break;
		case 'b':
			newb = optarg;
			break;
		case 'u':
			unsafe = true;
			break;
		case 'p':
			progress = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 't':
		case 'T':
		case 'U':
			break;
		case 'h':
			printf("usage: vessel img rebase [-f FMT] [-u] -b BACKING [-F FMT] [-p] "
			       "[-q] FILE\n"
			       "       (-b \"\" removes the backing file)\n");
			return 0;
		default:
			return img_bad_opt(argv);
		}
	}
	(void)quiet;
	if (optind != argc - 1)
		return img_err("rebase: expected exactly one file name");
	if (!newb)
		return img_err("rebase: -b BACKING is required (\"\" to remove it)");
	if (img_open(argv[optind], fmt, false, unsafe, &top) < 0)
		return 1;
	if (!qcow2_is_qcow2(top)) {
		ret = img_err("format '%s' does not support backing files", blk_format(top));
		goto out;
	}
	if (*newb && unsafe && !bfmt) {
		/* qemu-img 7.2 neither opens nor probes the new backing file with -u. */
		ret = img_err("rebase: cannot change the backing file to '%s': with -u the backing "
			      "format must be given (-F)",
			      newb);
		goto out;
	}
	if (*newb && !unsafe) {
		/* -u changes only the header: the new file is not opened (it may
		 * not exist yet, or be somewhere only the VM's host sees). */
		char *p = img_backing_path(top->path, newb);

		if (!p) {
			ret = img_err("out of memory");
			goto out;
		}
		ret = img_open(p, bfmt, true, false, &nb);
		free(p);
		if (ret < 0) {
			ret = 1;
			goto out;
		}
		if (!bfmt)
			bfmt = blk_format(nb);
	}
	if (!unsafe) {
		a = aligned_alloc(4096, IMG_CHUNK);
		b = aligned_alloc(4096, IMG_CHUNK);
		if (!a || !b) {
			ret = img_err("out of memory");
			goto out;
		}
		ret = rebase_copy(top, nb, a, b, progress);
		if (ret)
			goto out;
	}
	ret = qcow2_set_backing(top, *newb ? newb : NULL, *newb ? bfmt : NULL) < 0 ? 1 : 0;
	if (!ret && blk_flush(top) < 0)
		ret = img_err("cannot flush '%s'", top->path);
out:
	blk_close(nb);
	blk_close(top);
	free(a);
	free(b);
	return ret;
}

/* ---- compare ------------------------------------------------------ */

int img_compare(int argc, char **argv)
{
	const char *fmt1 = NULL, *fmt2 = NULL;
	bool strict = false, quiet = false;
	struct blkdev *x = NULL, *y = NULL;
	uint8_t *a = NULL, *b = NULL;
	uint64_t off = 0, size;
	int ch, ret = 2;
	static const struct option longopts[] = {
		{ "force-share", no_argument, NULL, 'U' },
		{ 0 },
	};

	while ((ch = getopt_long(argc, argv, "f:F:sqpUT:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			fmt1 = optarg;
			break;
		case 'F':
			fmt2 = optarg;
			break;
		case 's':
			strict = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'U':
			img_force_share = true;
			break;
		case 'p':
		case 'T':
			break;
		case 'h':
			printf("usage: vessel img compare [-f FMT] [-F FMT] [-s] [-q] [-U] "
			       "FILE1 FILE2\n");
			return 0;
		default:
			img_bad_opt(argv);
			return 2;
		}
	}
	if (argc - optind != 2) {
		img_err("compare: expected two file names");
		return 2;
	}
	if (img_open(argv[optind], fmt1, true, false, &x) < 0 ||
	    img_open(argv[optind + 1], fmt2 ? fmt2 : fmt1, true, false, &y) < 0)
		goto out;
	if (strict && x->size != y->size) {
		if (!quiet)
			printf("Strict mode: Image size mismatch!\n");
		ret = 1;
		goto out;
	}
	a = aligned_alloc(4096, IMG_CHUNK);
	b = aligned_alloc(4096, IMG_CHUNK);
	if (!a || !b) {
		img_err("out of memory");
		goto out;
	}
	size = MAX(x->size, y->size);
	ret = 0;
	while (off < size && !ret) {
		uint64_t n = MIN(size - off, (uint64_t)IMG_CHUNK);
		struct img_status sx = { .zero = true }, sy = { .zero = true };
		uint64_t px = n, py = n;

		/* Past the end of the shorter image, it reads as zeroes (qemu-img). */
		if (off < x->size && img_chain_status(x, off, MIN(n, x->size - off), &px, &sx) < 0)
			ret = 2;
		if (off < y->size && img_chain_status(y, off, MIN(n, y->size - off), &py, &sy) < 0)
			ret = 2;
		if (ret) {
			img_err("cannot read the block status at offset %" PRIu64, off);
			break;
		}
		n = MIN(px, py);
		/* -s (qemu-img's strict mode): the images must also agree on
		 * what is allocated, zero or data, not only on what reads back. */
		if (strict &&
		    (sx.allocated != sy.allocated || sx.zero != sy.zero || sx.data != sy.data)) {
			if (!quiet)
				printf("Strict mode: Offset %" PRIu64 " block status mismatch!\n",
				       off);
			ret = 1;
			break;
		}
		if (sx.zero && sy.zero) {
			off += n;
			continue;
		}
		memset(a, 0, (size_t)n);
		memset(b, 0, (size_t)n);
		if ((!sx.zero && blk_pread(x, a, (size_t)n, off) < 0) ||
		    (!sy.zero && blk_pread(y, b, (size_t)n, off) < 0)) {
			ret = img_err("error reading at offset %" PRIu64, off) + 1;
			break;
		}
		if (memcmp(a, b, (size_t)n)) {
			uint64_t i = 0;

			while (a[i] == b[i])
				i++;
			if (!quiet)
				printf("Content mismatch at offset %" PRIu64 "!\n", off + i);
			ret = 1;
			break;
		}
		off += n;
	}
	if (!ret && !quiet)
		printf("Images are identical.\n");
out:
	free(a);
	free(b);
	blk_close(x);
	blk_close(y);
	return ret;
}
