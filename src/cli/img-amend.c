// SPDX-License-Identifier: MIT
/*
 * vessel img amend: change a qcow2 image's options in place, as qemu-img
 * amend does, for the options that can change without copying the data:
 *
 *   vessel img amend -o compat=0.10|1.1,lazy_refcounts=on|off [-f qcow2] [-q] FILE
 *
 * The header work is in src/block/qcow2-amend.c; anything it cannot do
 * safely is refused with one line and the image left as it was.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "block/block.h"
#include "block/qcow2.h"
#include "cli/img.h"
#include "util/error.h"

static int amend_usage(void)
{
	printf("usage: vessel img amend -o compat=0.10|1.1,lazy_refcounts=on|off [-f qcow2] "
	       "[-q] FILE\n");
	return 0;
}

/* The -o list: only the options amend can change; version 0 / lazy -1: keep. */
static int amend_parse(char *opts, int *version, int *lazy)
{
	char *save = NULL;

	for (char *kv = strtok_r(opts, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *v = strchr(kv, '=');

		if (!v)
			return img_err("amend: invalid option '%s' (expected key=value)", kv);
		*v++ = '\0';
		if (!strcmp(kv, "compat") && (!strcmp(v, "0.10") || !strcmp(v, "v2")))
			*version = 2;
		else if (!strcmp(kv, "compat") && (!strcmp(v, "1.1") || !strcmp(v, "v3")))
			*version = 3;
		else if (!strcmp(kv, "compat"))
			return img_err("amend: compat '%s': expected 0.10 or 1.1", v);
		else if (!strcmp(kv, "lazy_refcounts") && (!strcmp(v, "on") || !strcmp(v, "off")))
			*lazy = !strcmp(v, "on");
		else if (!strcmp(kv, "lazy_refcounts"))
			return img_err("amend: lazy_refcounts '%s': expected on or off", v);
		else
			return img_err("amend: option '%s' cannot be changed in place "
				       "(compat, lazy_refcounts; convert makes a new image)",
				       kv);
	}
	return 0;
}

int img_amend(int argc, char **argv)
{
	static const struct option longopts[] = { { "help", no_argument, NULL, 'h' },
						  { NULL, 0, NULL, 0 } };
	const char *fmt = NULL;
	char *opts = NULL;
	int version = 0, lazy = -1, c, r;
	struct error err = ERROR_INIT;
	struct blkdev *bd;

	while ((c = getopt_long(argc, argv, "o:f:qph", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			opts = optarg;
			break;
		case 'f':
			fmt = optarg;
			break;
		case 'q':
		case 'p':
			break;
		case 'h':
			return amend_usage();
		default:
			return img_bad_opt(argv);
		}
	}
	if (!opts)
		return img_err("amend: -o OPTIONS is required (compat, lazy_refcounts)");
	if (optind != argc - 1)
		return img_err("amend: expected exactly one file name");
	if (fmt && strcmp(fmt, "qcow2"))
		return img_err("amend: format '%s' has no options to amend", fmt);
	if (amend_parse(opts, &version, &lazy))
		return 1;
	/* The backing file is not needed (no data is read through it). */
	if (img_open(argv[optind], fmt, false, true, &bd) < 0)
		return 1;
	if (!qcow2_is_qcow2(bd)) {
		img_err("amend: '%s' is %s, which has no options to amend", argv[optind],
			blk_format(bd));
		blk_close(bd);
		return 1;
	}
	r = qcow2_amend(bd, version, lazy, &err);
	if (r)
		img_err("%s: %s", argv[optind], error_msg(&err));
	else if (blk_flush(bd) < 0)
		r = img_err("%s: cannot flush", argv[optind]);
	blk_close(bd);
	return r ? 1 : 0;
}
