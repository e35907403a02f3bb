// SPDX-License-Identifier: MIT
/*
 * virtio-blk's configuration: the keys of one disk, declared once for
 * `vessel run --disk path=..,queues=N`, `vessel vhost-user-blk --disk`
 * and the JSON definition's "disks": [{"path": ..., "queues": N}]
 * (docs/config.md, docs/virtio.md), and the device kind that creates a
 * disk from it.  The device model itself is blk.c.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "bus/devkind.h"
#include "bus/host.h"
#include "util/error.h"
#include "util/keys.h"
#include "virtio/devices.h"
#include "virtio/virtio.h"

#define DISK_OFF(f) offsetof(struct vm_disk_config, f)

static const char *const blk_formats[] = { "raw", "qcow2", NULL };
/* The default first: KEY_ENUM stores the index, and a zeroed config is the default. */
static const char *const werror_words[] = { "enospc", "report", "ignore", "stop", NULL };
static const char *const rerror_words[] = { "report", "ignore", "stop", "enospc", NULL };

static const struct key blk_keys[] = {
	{ .name = "path",
	  .type = KEY_PATH,
	  .flags = KEY_REQUIRED,
	  .off = DISK_OFF(path),
	  .help = "image file or block device" },
	{ .name = "format",
	  .type = KEY_STRING,
	  .off = DISK_OFF(format),
	  .words = blk_formats,
	  .def = "probed",
	  .help = "image format" },
	/* GET_ID answers with at most 20 bytes (virtio 1.2 section 5.2.6). */
	{ .name = "serial",
	  .type = KEY_STRING,
	  .off = DISK_OFF(serial),
	  .max = 20,
	  .def = "vessel-diskN",
	  .help = "virtio-blk serial (GET_ID)" },
	{ .name = "readonly",
	  .alias = "ro",
	  .type = KEY_BOOL,
	  .off = DISK_OFF(readonly),
	  .def = "off",
	  .help = "VIRTIO_BLK_F_RO; writes fail" },
	{ .name = "direct",
	  .type = KEY_BOOL,
	  .off = DISK_OFF(direct),
	  .def = "off",
	  .help = "O_DIRECT" },
	{ .name = "backing",
	  .type = KEY_BOOL,
	  .flags = KEY_INVERT,
	  .off = DISK_OFF(no_backing),
	  .def = "on",
	  .help = "off: refuse an image that names a backing file" },
	/*
	 * The virtio core's limit (virtio_dev_init, VIRTIO_MAX_QUEUES);
	 * virtio-pci has room for it: one MSI-X vector per queue plus one
	 * fits the table at 0x4000, one notify slot per queue the window
	 * at 0x3000 (virtio-pci.h).
	 */
	{ .name = "queues",
	  .type = KEY_UINT,
	  .off = DISK_OFF(num_queues),
	  .min = 1,
	  .max = VIRTIO_MAX_QUEUES,
	  .def = "1",
	  .help = "request queues (VIRTIO_BLK_F_MQ)" },
	{ .name = "werror",
	  .type = KEY_ENUM,
	  .flags = KEY_HAS,
	  .off = DISK_OFF(werror),
	  .has_off = DISK_OFF(has_werror),
	  .words = werror_words,
	  .def = "enospc",
	  .help = "a failed write: report it, ignore it, stop the VM, or stop on ENOSPC" },
	{ .name = "rerror",
	  .type = KEY_ENUM,
	  .flags = KEY_HAS,
	  .off = DISK_OFF(rerror),
	  .has_off = DISK_OFF(has_rerror),
	  .words = rerror_words,
	  .def = "report",
	  .help = "a failed read: report, ignore, stop or enospc" },
	{ .name = "poll_us",
	  .type = KEY_UINT,
	  .flags = KEY_HAS,
	  .off = DISK_OFF(poll_us),
	  .has_off = DISK_OFF(has_poll),
	  .min = 0,
	  .max = 1000000,
	  .def = "32 with 4+ host CPUs, else 0",
	  .help = "I/O thread busy-poll time, 0 = off" },
	{ 0 },
};

int virtio_blk_config_parse(struct vm_disk_config *dc, const char *spec, struct error *err)
{
	int r = keys_parse(blk_keys, dc, spec, "path", err);

	if (r)
		keys_free(blk_keys, dc);
	return r;
}

enum blk_error_action virtio_blk_error_action(const struct vm_disk_config *dc, bool write)
{
	static const char *const names[] = { "report", "ignore", "stop", "enospc" };
	const char *w = write ? werror_words[dc->werror] : rerror_words[dc->rerror];

	for (int i = 0; i < 4; i++)
		if (!strcmp(w, names[i]))
			return (enum blk_error_action)i;
	return BLK_ERR_REPORT;
}

void virtio_blk_config_free(struct vm_disk_config *dc)
{
	keys_free(blk_keys, dc);
}

static int blk_create(struct dev_host *host, const void *cfg, unsigned int index, struct error *err)
{
	const struct vm_disk_config *dc = cfg;
	struct virtio_dev *vd;
	int ret;

	/* virtio_blk_new() names the disk in err. */
	ret = virtio_blk_new(dc, index, host->mem, host->loop, &vd, err);
	if (ret < 0)
		return ret;
	virtio_blk_set_host(vd, host);
	ret = virtio_attach(host, vd, VIRTIO_CLASS_STORAGE_OTHER, VIRTIO_BLK_CFG_SIZE, err);
	if (ret < 0)
		error_prefix(err, "disk %s", dc->path);
	return ret;
}

const struct dev_kind virtio_blk_kind = {
	.name = "virtio-blk",
	.json_key = "disks",
	.cli_name = "disk",
	.cli_arg = DEV_ARG_REQUIRED,
	.cli_help = "virtio-blk disk (repeatable): path=FILE[,format=raw|qcow2]\n"
		    "[,readonly=on][,serial=S][,direct=on][,backing=off][,queues=N]\n"
		    "[,poll_us=N] (I/O thread busy-poll, 0 = off)\n"
		    "[,werror=enospc|report|ignore|stop][,rerror=report|ignore|stop|enospc]",
	.max = 16,
	.cfg_size = sizeof(struct vm_disk_config),
	.keys = blk_keys,
	.bare_key = "path",
	.create = blk_create,
};
