// SPDX-License-Identifier: MIT
/*
 * The reading side of a save (docs/snapshot-format.md): receiving the
 * stream into files, parsing a state file, and restoring a VM from it.
 * Every reader is bounded; every section's CRC, version and length is
 * checked, and the machine's shape compared with the new VM's, before
 * any component loads.  A restore that fails ends the process before the
 * guest runs, so nothing is half-restored.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "mem/gmem.h"
#include "util/log.h"
#include "vm/snapshot-int.h"
#include "vm/snapshot.h"
#include "vm/vm.h"

static int read_full(int fd, uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE; /* ended early */
		done += (size_t)n;
	}
	return 0;
}

static int write_at(int fd, const uint8_t *buf, size_t len, off_t off)
{
	while (len) {
		ssize_t n = off < 0 ? write(fd, buf, len) : pwrite(fd, buf, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
		if (off >= 0)
			off += n;
	}
	return 0;
}

static int parse_regions(struct stream *s, unsigned int *nr, struct snapshot_region *r)
{
	uint32_t n = stream_get_u32(s);

	if (!stream_error(s) && (n == 0 || n > SNAP_MAX_REGIONS))
		return stream_fail(s, -EPROTO, "%u memory regions", n);
	for (uint32_t i = 0; i < n && !stream_error(s); i++) {
		r[i].gpa = stream_get_u64(s);
		r[i].size = stream_get_u64(s);
		r[i].file_offset = stream_get_u64(s);
		r[i].kind = stream_get_u32(s);
		if (!stream_error(s) &&
		    ((r[i].size | r[i].file_offset | r[i].gpa) % 4096 || !r[i].size ||
		     r[i].file_offset < SNAP_MEM_ALIGN || r[i].size > (1ull << 48)))
			return stream_fail(s, -EPROTO, "memory region %u is malformed", i);
	}
	*nr = n;
	return stream_error(s);
}

int snapshot_receive(int in, int state_fd, int mem_fd,
		     void (*progress)(void *opaque, uint64_t bytes), void *opaque,
		     struct error *err)
{
	uint8_t hdr[SNAP_HDR_SIZE], rec[SNAP_REC_SIZE];
	uint64_t state_len, total = 0, mem_bytes = 0, last = 0, mem_end = 0;
	uint32_t crc = (uint32_t)crc32(0, NULL, 0);
	const size_t bufsz = SNAP_RUN_PAGES * 4096;
	uint8_t *buf = malloc(bufsz);
	int ret;

	if (!buf)
		return error_setf(err, -ENOMEM, "out of memory");
	ret = read_full(in, hdr, sizeof(hdr));
	if (ret)
		goto stream_fail;
	state_len = snap_get64(hdr + 32);
	if (memcmp(hdr, SNAP_MAGIC, 8) || snap_get32(hdr + 8) != SNAP_VERSION ||
	    state_len < sizeof(hdr) || state_len > SNAP_STATE_MAX) {
		ret = error_setf(err, -EPROTO, "the VM sent no vessel save stream");
		goto out;
	}
	ret = write_at(state_fd, hdr, sizeof(hdr), -1);
	for (uint64_t left = state_len - sizeof(hdr); !ret && left;) {
		size_t n = left < bufsz ? left : bufsz;

		ret = read_full(in, buf, n);
		if (ret)
			goto stream_fail;
		ret = write_at(state_fd, buf, n, -1);
		left -= n;
	}
	if (ret)
		goto write_fail;
	total = state_len;
	for (;;) {
		uint32_t tag, a;
		uint64_t b;

		ret = read_full(in, rec, sizeof(rec));
		if (ret)
			goto stream_fail;
		tag = snap_get32(rec);
		a = snap_get32(rec + 4);
		b = snap_get64(rec + 8);
		total += sizeof(rec);
		if (tag == SNAP_REC_END) {
			if (a != crc || b != mem_bytes) {
				ret = error_setf(
					err, -EPROTO,
					"the memory stream is corrupt (CRC or length differ)");
				goto out;
			}
			break;
		}
		if (tag != SNAP_REC_PAGE || a > bufsz || a % 4096 || b % 4096 || b > (1ull << 52)) {
			ret = error_setf(err, -EPROTO, "a bad record in the memory stream");
			goto out;
		}
		ret = read_full(in, buf, a);
		if (ret)
			goto stream_fail;
		if (b) { /* the header page at 0 is not guest memory */
			crc = (uint32_t)crc32(crc, buf, a);
			mem_bytes += a;
		} else {
			struct snapshot_region r[SNAP_MAX_REGIONS];
			unsigned int nr = 0;
			struct stream s;

			stream_init_reader(&s, buf + 32, a - 32);
			if (a != SNAP_MEMHDR_SIZE || memcmp(buf, SNAP_MEM_MAGIC, 8) ||
			    parse_regions(&s, &nr, r)) {
				ret = error_setf(err, -EPROTO,
						 "the memory stream's header is malformed");
				goto out;
			}
			for (unsigned int i = 0; i < nr; i++)
				if (r[i].file_offset + r[i].size > mem_end)
					mem_end = r[i].file_offset + r[i].size;
		}
		ret = write_at(mem_fd, buf, a, (off_t)b);
		if (ret)
			goto write_fail;
		total += a;
		if (progress && total - last >= (8u << 20)) {
			progress(opaque, total);
			last = total;
		}
	}
	/* trailing zero pages are holes: the file still spans every region */
	if (!mem_end) {
		ret = error_setf(err, -EPROTO, "the memory stream has no header");
		goto out;
	}
	if (ftruncate(mem_fd, (off_t)mem_end) < 0) {
		ret = -errno;
		goto write_fail;
	}
	if (progress)
		progress(opaque, total);
	ret = 0;
	goto out;
stream_fail:
	error_setf(err, ret,
		   ret == -EPIPE ? "the save stream ended early (the VM stopped?)"
				 : "cannot read the save stream: %s",
		   strerror(-ret));
	goto out;
write_fail:
	error_set_errno(err, ret, "cannot write the save");
out:
	free(buf);
	return ret;
}

int snapshot_image_parse(uint8_t *buf, size_t len, struct snapshot_image *img, struct error *err)
{
	size_t pos = SNAP_HDR_SIZE;
	bool have_mach = false;
	struct stream m;

	memset(img, 0, sizeof(*img));
	if (len < SNAP_HDR_SIZE || memcmp(buf, SNAP_MAGIC, 8))
		return error_setf(err, -EPROTO, "not a vessel state file");
	if (snap_get32(buf + 8) != SNAP_VERSION)
		return error_setf(err, -EPROTO,
				  "state file version %u is not supported (this vessel reads %u)",
				  snap_get32(buf + 8), SNAP_VERSION);
	if (snap_get64(buf + 32) != len)
		return error_setf(err, -EPROTO, "the state file is truncated (%zu of %llu bytes)",
				  len, (unsigned long long)snap_get64(buf + 32));
	memcpy(img->save_id, buf + 16, SNAP_ID_LEN);
	while (pos < len) {
		uint32_t tag, ver;
		uint64_t slen;
		const uint8_t *body;

		if (len - pos < SNAP_SEC_HDR)
			return error_setf(err, -EPROTO, "the state file is truncated");
		tag = snap_get32(buf + pos);
		ver = snap_get32(buf + pos + 4);
		slen = snap_get64(buf + pos + 8);
		if (slen > len - pos - SNAP_SEC_HDR)
			return error_setf(err, -EPROTO, "the state file is truncated");
		body = buf + pos + SNAP_SEC_HDR;
		if ((uint32_t)crc32(0, body, (uInt)slen) != snap_get32(buf + pos + 16))
			return error_setf(err, -EPROTO,
					  "the state file is corrupt (CRC of section %.4s)",
					  (const char *)(buf + pos));
		if (ver != 1)
			return error_setf(err, -EPROTO, "section %.4s version %u is not supported",
					  (const char *)(buf + pos), ver);
		if (tag == SNAP_SEC_CONF) {
			img->conf = (const char *)body;
			img->conf_len = slen;
		} else if (tag == SNAP_SEC_COMP) {
			img->comp = body;
			img->comp_len = slen;
		} else if (tag == SNAP_SEC_MACH) {
			stream_init_reader(&m, body, slen);
			img->nr_cpus = stream_get_u32(&m);
			img->mem_size = stream_get_u64(&m);
			parse_regions(&m, &img->nr_regions, img->regions);
			if (stream_error(&m) || stream_remaining(&m))
				return error_setf(err, -EPROTO,
						  "the machine section is malformed%s%s",
						  stream_error(&m) ? ": " : "",
						  stream_error(&m) ? error_msg(&m.err) : "");
			have_mach = true;
		} else {
			return error_setf(err, -EPROTO,
					  "the state file has an unknown section %.4s",
					  (const char *)(buf + pos));
		}
		pos += SNAP_SEC_HDR + slen;
	}
	if (!img->conf || !img->comp || !have_mach)
		return error_setf(err, -EPROTO, "the state file lacks its %s section",
				  !img->conf   ? "CONF"
				  : !img->comp ? "COMP"
					       : "MACH");
	img->buf = buf;
	img->len = len;
	return 0;
}

int snapshot_image_read(const char *path, struct snapshot_image *img, struct error *err)
{
	struct stat st;
	uint8_t *buf;
	int fd, ret;

	memset(img, 0, sizeof(*img));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_setf(err, -errno, "cannot open '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > SNAP_STATE_MAX) {
		close(fd);
		return error_setf(err, -EINVAL, "'%s' is not a vessel state file", path);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return error_setf(err, -ENOMEM, "out of memory");
	}
	ret = read_full(fd, buf, (size_t)st.st_size);
	close(fd);
	if (!ret)
		ret = snapshot_image_parse(buf, (size_t)st.st_size, img, err);
	else
		error_setf(err, ret, "cannot read '%s': %s", path, strerror(-ret));
	if (ret) {
		free(buf);
		memset(img, 0, sizeof(*img));
		return ret;
	}
	error_prefix(err, "%s", path);
	return 0;
}

void snapshot_image_free(struct snapshot_image *img)
{
	free(img->buf);
	memset(img, 0, sizeof(*img));
}

/* The memory file's header page must describe this save's regions. */
static int check_memfile(int fd, const struct snapshot_image *img, struct error *err)
{
	uint8_t *hdr = malloc(SNAP_MEMHDR_SIZE);
	struct snapshot_region r[SNAP_MAX_REGIONS];
	unsigned int nr = 0;
	struct stream s;
	int ret = 0;
	ssize_t n;

	if (!hdr)
		return error_setf(err, -ENOMEM, "out of memory");
	n = pread(fd, hdr, SNAP_MEMHDR_SIZE, 0);
	if (n != SNAP_MEMHDR_SIZE || memcmp(hdr, SNAP_MEM_MAGIC, 8)) {
		ret = error_setf(err, -EPROTO, "the memory file is not a vessel memory file");
		goto out;
	}
	if (memcmp(hdr + 16, img->save_id, SNAP_ID_LEN)) {
		ret = error_setf(err, -EPROTO, "the memory file belongs to another save");
		goto out;
	}
	stream_init_reader(&s, hdr + 32, SNAP_MEMHDR_SIZE - 32);
	if (parse_regions(&s, &nr, r) || nr != img->nr_regions ||
	    memcmp(r, img->regions, nr * sizeof(r[0])))
		ret = error_setf(err, -EPROTO, "the memory file's regions differ from the state's");
out:
	free(hdr);
	return ret;
}

int snapshot_restore(struct vm *vm, const struct snapshot_image *img, int mem_fd, bool eager,
		     struct error *err)
{
	struct gmem_region_info ri;
	struct stat st;
	struct stream s;
	int ret;

	if (img->nr_cpus != vm->nr_vcpus)
		return error_setf(err, -EINVAL, "the save has %u vCPUs, this VM %u", img->nr_cpus,
				  vm->nr_vcpus);
	if (img->mem_size != gmem_ram_size(&vm->mem) ||
	    img->nr_regions != gmem_nr_regions(&vm->mem))
		return error_setf(err, -EINVAL,
				  "the save's memory (%llu MiB) differs from this VM's (%llu MiB)",
				  (unsigned long long)(img->mem_size >> 20),
				  (unsigned long long)(gmem_ram_size(&vm->mem) >> 20));
	gmem_for_each_region(&vm->mem, i, &ri)
	{
		const struct snapshot_region *r = &img->regions[i];

		if (r->gpa != ri.gpa || r->size != ri.size || r->kind != (uint32_t)ri.kind)
			return error_setf(err, -EINVAL,
					  "memory region %u of the save (0x%llx, %llu MiB) differs "
					  "from this VM's",
					  i, (unsigned long long)r->gpa,
					  (unsigned long long)(r->size >> 20));
	}
	ret = check_memfile(mem_fd, img, err);
	if (ret)
		return ret;
	if (fstat(mem_fd, &st) < 0)
		return error_set_errno(err, -errno, "the memory file");
	for (unsigned int i = 0; i < img->nr_regions; i++) {
		const struct snapshot_region *r = &img->regions[i];

		/* the receiver extends the file over trailing holes: shorter is truncated */
		if ((uint64_t)st.st_size < r->file_offset + r->size)
			return error_setf(err, -EPROTO, "the memory file is truncated");
		ret = gmem_region_restore(&vm->mem, i, mem_fd, r->file_offset, eager);
		if (ret)
			return error_set_errno(
				err, ret, "cannot map memory region %u from the memory file", i);
	}
	stream_init_reader(&s, img->comp, img->comp_len);
	return components_load(&vm->components, &s, err);
}
