// SPDX-License-Identifier: MIT
/*
 * Whole-VM save: the state file and the memory stream
 * (docs/snapshot-format.md).  The VM is quiesced (vm_quiesce: vCPUs out
 * of guest mode, devices drained and taking nothing new) for the whole
 * save, so guest memory read in place by the API thread is consistent
 * with the component state taken at the start.  Only non-zero 4 KiB
 * pages travel; the receiver writes them at their offsets, so the memory
 * file is sparse and never larger than the memory the guest touched.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <zlib.h>

#include "mem/gmem.h"
#include "util/evloop.h"
#include "util/log.h"
#include "util/stream.h"
#include "util/util.h"
#include "vm/config_json.h"
#include "vm/snapshot.h"
#include "vm/snapshot-int.h"
#include "vm/vm.h"

enum save_phase { PH_STATE, PH_MEMHDR_REC, PH_MEMHDR, PH_PAGES, PH_END, PH_DONE };

struct snapshot_save {
	struct vm *vm;
	uint8_t *state; /* the state file */
	size_t state_len;
	uint8_t memhdr[GMEM_PAGE_SIZE];
	unsigned int nr_regions;
	struct snapshot_region regions[SNAP_MAX_REGIONS];
	uint8_t *hva[SNAP_MAX_REGIONS];

	enum save_phase phase;
	const uint8_t *out; /* the chunk being sent */
	size_t out_len;
	uint8_t rec[SNAP_REC_SIZE]; /* a record header or the end record */
	bool rec_next_data;	    /* after rec: the page run at data/data_len */
	const uint8_t *data;
	size_t data_len;
	unsigned int region; /* the page scan */
	uint64_t page;
	uint32_t crc;
	uint64_t mem_bytes, sent;
};

void snap_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void snap_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t snap_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t snap_get64(const uint8_t *p)
{
	return (uint64_t)snap_get32(p) | (uint64_t)snap_get32(p + 4) << 32;
}

/* One section {tag, version, u64 length, CRC-32 of the body}, then the body. */
static void snap_section(struct stream *s, uint32_t tag, uint32_t version, const void *body,
			 size_t len)
{
	stream_put_u32(s, tag);
	stream_put_u32(s, version);
	stream_put_u64(s, len);
	stream_put_u32(s, (uint32_t)crc32(0, body, (uInt)len));
	stream_put_bytes(s, body, len);
}

/* Regions in the memory file: after its header, each 2 MiB aligned. */
static void snap_layout(struct snapshot_save *ss)
{
	struct gmem_region_info ri;
	uint64_t off = SNAP_MEM_ALIGN;

	gmem_for_each_region(&ss->vm->mem, i, &ri)
	{
		struct snapshot_region *r = &ss->regions[ss->nr_regions];

		if (ss->nr_regions == SNAP_MAX_REGIONS)
			break;
		r->gpa = ri.gpa;
		r->size = ri.size;
		r->kind = (uint32_t)ri.kind;
		r->file_offset = off;
		ss->hva[ss->nr_regions++] = ri.hva;
		off = (off + ri.size + SNAP_MEM_ALIGN - 1) & ~(SNAP_MEM_ALIGN - 1);
	}
}

static void snap_put_regions(struct stream *s, const struct snapshot_save *ss)
{
	stream_put_u32(s, ss->nr_regions);
	for (unsigned int i = 0; i < ss->nr_regions; i++) {
		stream_put_u64(s, ss->regions[i].gpa);
		stream_put_u64(s, ss->regions[i].size);
		stream_put_u64(s, ss->regions[i].file_offset);
		stream_put_u32(s, ss->regions[i].kind);
	}
}

static int snap_build_state(struct snapshot_save *ss, const uint8_t id[SNAP_ID_LEN],
			    struct error *err)
{
	struct vm *vm = ss->vm;
	struct stream comp, mach, file;
	struct json_object *conf;
	const char *text;
	int ret = 0;

	stream_init_writer(&comp, SNAP_STATE_MAX / 2);
	ret = components_save(&vm->components, &comp, err);
	if (ret) {
		stream_free(&comp);
		return ret;
	}
	stream_init_writer(&mach, 4096);
	stream_put_u32(&mach, vm->nr_vcpus);
	stream_put_u64(&mach, gmem_ram_size(&vm->mem));
	snap_put_regions(&mach, ss);

	conf = vm_config_to_json(vm->cfg);
	text = conf ? json_object_to_json_string_ext(conf, JSON_C_TO_STRING_PLAIN) : NULL;
	stream_init_writer(&file, SNAP_STATE_MAX);
	stream_put_bytes(&file, SNAP_MAGIC, 8);
	stream_put_u32(&file, SNAP_VERSION);
	stream_put_u32(&file, 0); /* flags */
	stream_put_bytes(&file, id, SNAP_ID_LEN);
	stream_put_u64(&file, 0); /* the length, patched below */
	if (text)
		snap_section(&file, SNAP_SEC_CONF, 1, text, strlen(text));
	snap_section(&file, SNAP_SEC_MACH, 1, mach.buf, mach.len);
	snap_section(&file, SNAP_SEC_COMP, 1, comp.buf, comp.len);
	json_object_put(conf);
	if (!text)
		ret = error_setf(err, -ENOMEM, "out of memory");
	else if (stream_error(&mach) || stream_error(&file))
		ret = error_setf(err, -EFBIG, "the VM's state does not fit in %u MiB",
				 SNAP_STATE_MAX >> 20);
	stream_free(&comp);
	stream_free(&mach);
	if (ret) {
		stream_free(&file);
		return ret;
	}
	snap_put64(file.buf + 32, file.len);
	ss->state = file.buf; /* taken over from the stream */
	ss->state_len = file.len;
	return 0;
}

static void snap_build_memhdr(struct snapshot_save *ss, const uint8_t id[SNAP_ID_LEN])
{
	struct stream s;

	stream_init_writer(&s, sizeof(ss->memhdr));
	stream_put_bytes(&s, SNAP_MEM_MAGIC, 8);
	stream_put_u32(&s, SNAP_VERSION);
	stream_put_u32(&s, 0);
	stream_put_bytes(&s, id, SNAP_ID_LEN);
	snap_put_regions(&s, ss);
	memset(ss->memhdr, 0, sizeof(ss->memhdr));
	memcpy(ss->memhdr, s.buf, s.len); /* 36 + 8 * 28 bytes: always fits */
	stream_free(&s);
}

int snapshot_save_begin(struct vm *vm, const char *disk_snap, struct snapshot_save **out,
			struct error *err)
{
	struct snapshot_save *ss = calloc(1, sizeof(*ss));
	uint8_t id[SNAP_ID_LEN];
	int ret;

	if (!ss)
		return error_setf(err, -ENOMEM, "out of memory");
	ss->vm = vm;
	if (getrandom(id, sizeof(id), 0) != (ssize_t)sizeof(id)) {
		uint64_t t = now_ns();

		memcpy(id, &t, sizeof(t));
		memcpy(id + 8, &ss, sizeof(ss) < 8 ? sizeof(ss) : 8);
	}
	snap_layout(ss);
	if (gmem_nr_regions(&vm->mem) > SNAP_MAX_REGIONS) {
		free(ss);
		return error_setf(err, -ENOTSUP, "%u memory regions; a save holds at most %u",
				  gmem_nr_regions(&vm->mem), SNAP_MAX_REGIONS);
	}
	ret = vm_quiesce(vm, err);
	if (ret) {
		error_prefix(err, "cannot pause the VM for the save");
		free(ss);
		return ret;
	}
	if (disk_snap) {
		ret = components_disk_snapshot(&vm->components, COMPONENT_DISK_CHECK, disk_snap,
					       err);
		if (ret >= 0)
			ret = components_disk_snapshot(&vm->components, COMPONENT_DISK_CREATE,
						       disk_snap, err);
		if (ret < 0) {
			vm_resume(vm);
			free(ss);
			return ret;
		}
	}
	ret = snap_build_state(ss, id, err);
	if (ret) {
		if (disk_snap)
			(void)components_disk_snapshot(&vm->components, COMPONENT_DISK_DELETE,
						       disk_snap, NULL);
		vm_resume(vm); /* a failed save leaves the VM as it was */
		free(ss);
		return ret;
	}
	snap_build_memhdr(ss, id);
	vm->saving = true;
	ss->crc = (uint32_t)crc32(0, NULL, 0);
	ss->out = ss->state;
	ss->out_len = ss->state_len;
	ss->phase = PH_STATE;
	*out = ss;
	return 0;
}

static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;

	for (size_t i = 0; i < GMEM_PAGE_SIZE / 8; i += 4)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3])
			return false;
	return true;
}

static void snap_record(struct snapshot_save *ss, uint32_t tag, uint32_t a, uint64_t b)
{
	snap_put32(ss->rec, tag);
	snap_put32(ss->rec + 4, a);
	snap_put64(ss->rec + 8, b);
	ss->out = ss->rec;
	ss->out_len = sizeof(ss->rec);
}

/* The next run of non-zero pages as a PAGE record; false when none is left. */
static bool snap_next_run(struct snapshot_save *ss)
{
	while (ss->region < ss->nr_regions) {
		const struct snapshot_region *r = &ss->regions[ss->region];
		const uint8_t *base = ss->hva[ss->region];
		uint64_t pages = r->size / GMEM_PAGE_SIZE, first, n = 0;

		while (ss->page < pages && page_is_zero(base + ss->page * GMEM_PAGE_SIZE))
			ss->page++;
		if (ss->page == pages) {
			ss->region++;
			ss->page = 0;
			continue;
		}
		first = ss->page;
		while (ss->page < pages && n < SNAP_RUN_PAGES &&
		       !page_is_zero(base + ss->page * GMEM_PAGE_SIZE)) {
			ss->page++;
			n++;
		}
		ss->data = base + first * GMEM_PAGE_SIZE;
		ss->data_len = n * GMEM_PAGE_SIZE;
		ss->crc = (uint32_t)crc32(ss->crc, ss->data, (uInt)ss->data_len);
		ss->mem_bytes += ss->data_len;
		snap_record(ss, SNAP_REC_PAGE, (uint32_t)ss->data_len,
			    r->file_offset + first * GMEM_PAGE_SIZE);
		ss->rec_next_data = true;
		return true;
	}
	return false;
}

/* Move to the next chunk once the current one is sent. */
static void snap_advance(struct snapshot_save *ss)
{
	if (ss->rec_next_data) {
		ss->rec_next_data = false;
		ss->out = ss->data;
		ss->out_len = ss->data_len;
		return;
	}
	switch (ss->phase) {
	case PH_STATE:
		ss->phase = PH_MEMHDR_REC;
		snap_record(ss, SNAP_REC_PAGE, sizeof(ss->memhdr), 0);
		break;
	case PH_MEMHDR_REC:
		ss->phase = PH_MEMHDR;
		ss->out = ss->memhdr;
		ss->out_len = sizeof(ss->memhdr);
		break;
	case PH_MEMHDR:
	case PH_PAGES:
		ss->phase = PH_PAGES;
		if (snap_next_run(ss))
			break;
		ss->phase = PH_END;
		snap_record(ss, SNAP_REC_END, ss->crc, ss->mem_bytes);
		break;
	case PH_END:
	case PH_DONE:
		ss->phase = PH_DONE;
		ss->out_len = 0;
		break;
	}
}

size_t snapshot_save_read(struct snapshot_save *ss, uint8_t *buf, size_t max)
{
	size_t done = 0;

	while (done < max && ss->phase != PH_DONE) {
		size_t n = ss->out_len < max - done ? ss->out_len : max - done;

		memcpy(buf + done, ss->out, n);
		ss->out += n;
		ss->out_len -= n;
		done += n;
		if (!ss->out_len)
			snap_advance(ss);
	}
	ss->sent += done;
	return done;
}

uint64_t snapshot_save_sent(const struct snapshot_save *ss)
{
	return ss->sent;
}

static void snap_resume(void *opaque)
{
	struct vm *vm = opaque;

	vm->saving = false;
	vm_resume(vm);
}

void snapshot_save_end(struct snapshot_save *ss)
{
	if (!ss)
		return;
	if (ss->phase == PH_DONE)
		log_info("saved: %zu bytes of state, %llu MiB of memory", ss->state_len,
			 (unsigned long long)(ss->mem_bytes >> 20));
	else
		log_warn("save abandoned after %llu bytes", (unsigned long long)ss->sent);
	/* on the VM's loop, where vm_quiesce ran; a loop that is gone is a VM stopping */
	if (evloop_call(ss->vm->loop, snap_resume, ss->vm))
		log_warn("the VM is stopping; not resumed after the save");
	free(ss->state);
	free(ss);
}

int vm_disk_snapshot(struct vm *vm, enum component_disk_op op, const char *name, struct error *err)
{
	int n = vm_quiesce(vm, err);

	if (n)
		return n;
	n = components_disk_snapshot(&vm->components, COMPONENT_DISK_CHECK, name, err);
	if (n == 0 && op != COMPONENT_DISK_CHECK)
		n = error_setf(err, -ENOTSUP, "the VM has no writable disk to snapshot");
	if (n > 0 && op != COMPONENT_DISK_CHECK)
		n = components_disk_snapshot(&vm->components, op, name, err);
	vm_resume(vm);
	return n;
}
