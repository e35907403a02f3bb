/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_BLOCK_QCOW2_INT_H
#define VESSEL_BLOCK_QCOW2_INT_H

/*
 * qcow2 driver internals, shared by src/block/qcow2*.c.
 * Field names and bit numbers follow QEMU's docs/interop/qcow2.txt.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/uio.h>

#include "block/block.h"
#include "block/qcow2.h"
#include "util/error.h"
#include "util/log.h"

#define QCOW2_MAGIC 0x514649fbu /* "QFI\xfb" */
#define QCOW2_V2_HDR_LEN 72
#define QCOW2_V3_HDR_LEN 104
#define QCOW2_V3_HDR_LEN_CT 112 /* with compression_type and padding */

/* L1/L2 entry bits (spec "Cluster mapping") */
#define QCOW2_OFLAG_COPIED (1ull << 63)
#define QCOW2_OFLAG_COMPRESSED (1ull << 62)
#define QCOW2_OFLAG_ZERO 1ull
#define QCOW2_OFFSET_MASK 0x00fffffffffffe00ull /* bits 9-55 */
#define QCOW2_L1E_RESERVED 0x7f000000000001ffull
#define QCOW2_L2E_RESERVED 0x3f000000000001feull
#define QCOW2_REFT_OFFSET_MASK 0xfffffffffffffe00ull

/* Feature bits */
#define QCOW2_INCOMPAT_DIRTY (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2 (1ull << 4)
#define QCOW2_INCOMPAT_KNOWN \
	(QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT | QCOW2_INCOMPAT_COMPRESSION)
#define QCOW2_COMPAT_LAZY_REFCOUNTS (1ull << 0)
#define QCOW2_AUTOCLEAR_BITMAPS (1ull << 0)

/* Header extension types */
#define QCOW2_EXT_END 0
#define QCOW2_EXT_BACKING_FMT 0xe2792acau
#define QCOW2_EXT_FEATURES 0x6803f857u
#define QCOW2_EXT_BITMAPS 0x23852875u
#define QCOW2_EXT_CRYPTO 0x0537be77u
#define QCOW2_EXT_DATA_FILE 0x44415441u

#define QCOW2_COMPRESS_ZLIB 0
#define QCOW2_COMPRESS_ZSTD 1

/* Limits against malicious images (memory is capped, as qemu does). */
#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21
#define QCOW2_MAX_L1_BYTES (32u * 1024 * 1024)
#define QCOW2_MAX_REFTABLE_BYTES (8u * 1024 * 1024)
#define QCOW2_MAX_SNAPSHOTS 65536
#define QCOW2_MAX_SNAPSHOT_TABLE (64u * 1024 * 1024)
#define QCOW2_MAX_BACKING_NAME 1023
#define QCOW2_MAX_CHAIN 64
#define QCOW2_MAX_SIZE (1ull << 56) /* host offsets are 56 bits */

#define DIV_ROUND_UP_U64(a, b) (((a) + (b)-1) / (b))

/* Metadata cache (L2 tables, refcount blocks): entries hold on-disk bytes. */
struct qcow2_cache_entry {
	uint64_t offset; /* 0: empty */
	uint8_t *data;
	uint64_t lru;
	int pins;
	bool dirty;
};

struct qcow2_state;

struct qcow2_cache {
	struct qcow2_state *s;
	struct qcow2_cache_entry *e;
	int n;
	uint64_t lru_clock;
	/* Dirty entries of `depends` must reach the disk before ours. */
	struct qcow2_cache *depends;
};

struct qcow2_snapshot {
	uint64_t l1_offset;
	uint32_t l1_size;
	char *id;
	char *name;
	uint32_t date_sec, date_nsec;
	uint64_t vm_clock_nsec;
	uint64_t vm_state_size;
	uint64_t disk_size;
	uint64_t icount;     /* UINT64_MAX: absent */
	uint32_t extra_size; /* extra data we write back (>= 16 for v3) */
	uint8_t *extra;	     /* raw extra data beyond the fields we know */
	uint32_t extra_unknown;
};

/* A header extension kept verbatim (bitmaps and anything unknown). */
struct qcow2_ext {
	uint32_t type;
	uint32_t len;
	uint8_t *data;
};

struct qcow2_state {
	struct blkdev *bd;
	int fd;
	bool readonly;

	/* header */
	uint32_t version;
	uint32_t cluster_bits;
	uint32_t cluster_size;
	uint32_t l2_bits; /* log2(entries per L2 table) */
	uint32_t l2_size; /* entries per L2 table */
	uint64_t size;	  /* virtual size */
	uint64_t incompat, compat, autoclear;
	uint32_t refcount_order;
	uint32_t refcount_bits;
	uint64_t refcount_max;
	uint32_t rb_bits; /* log2(refcount entries per refcount block) */
	uint32_t header_length;
	uint8_t compression_type;

	/* active L1 table, host endian, entries with flags */
	uint64_t *l1;
	uint32_t l1_size;
	uint64_t l1_offset;

	/* refcount table, host endian */
	uint64_t *reftable;
	uint32_t reftable_size; /* entries */
	uint64_t reftable_offset;
	uint32_t reftable_clusters;
	uint32_t reftable_used; /* entries up to the last non-zero one */

	/* snapshots */
	struct qcow2_snapshot *snaps;
	int nb_snapshots;
	uint64_t snapshots_offset;
	uint64_t snapshots_size; /* bytes of the table on disk */

	/* header extensions */
	char *backing_file;
	char *backing_fmt;
	struct qcow2_ext *exts; /* preserved ones */
	int nb_exts;

	struct qcow2_cache l2_cache;
	struct qcow2_cache rb_cache;

	uint64_t file_size; /* current length of the image file */
	uint64_t free_hint; /* cluster index where free cluster search starts */
	uint64_t comp_next; /* next byte for compressed data, 0 if none */
	bool dirty_set;	    /* we set the dirty bit (lazy refcounts) */
	uint8_t *hdr;	    /* raw header (header_length bytes), kept up to date */

	/*
	 * Replaced L2 entries whose clusters lose a reference once the L2
	 * tables that dropped them are on disk (next metadata flush).  Bit 0
	 * (the zero flag, meaningless here) asks to punch a hole if freed.
	 */
	uint64_t *pending;
	size_t nb_pending, max_pending;
	bool corrupt_warned;
	bool keep_dirty;     /* a failed snapshot operation: leave the dirty bit for repair */
	struct ratelimit rl; /* errors of the I/O path (see qcow2_err) */

	/* bounce buffers (cluster_size each) */
	uint8_t *cbuf;	   /* compressed input */
	uint8_t *dbuf;	   /* decompressed cluster */
	uint64_t dbuf_l2e; /* L2 entry whose data dbuf holds, 0 = none */
	uint8_t *cow_head, *cow_tail;
	void *zstd_dctx;
};

/*
 * fdatasync(2) between dependent metadata updates (the qcow2 ordering
 * rules).  With cache=unsafe (bd->unsafe: img convert's default, as in
 * qemu-img) the caller gave up crash consistency for speed, so ordering
 * flushes are skipped; the image is still complete once closed.
 * Returns 0 or -1 with errno set, like fdatasync.
 */
static inline int qcow2_fdatasync(struct qcow2_state *s)
{
	if (s->bd && s->bd->unsafe)
		return 0;
	return fdatasync(s->fd);
}

/*
 * Errors on the I/O path can be triggered again and again by a guest
 * reading a corrupt image: rate limited (docs/security.md).
 */
#define qcow2_err(s, ...)                              \
	do {                                           \
		if (ratelimit_allow(&(s)->rl))         \
			log_msg(LOG_ERR, __VA_ARGS__); \
	} while (0)

static inline struct qcow2_state *qcow2_state_of(struct blkdev *bd)
{
	return bd->priv;
}

static inline uint64_t qcow2_be64(const uint8_t *p)
{
	return ((uint64_t)p[0] << 56) | ((uint64_t)p[1] << 48) | ((uint64_t)p[2] << 40) |
	       ((uint64_t)p[3] << 32) | ((uint64_t)p[4] << 24) | ((uint64_t)p[5] << 16) |
	       ((uint64_t)p[6] << 8) | p[7];
}

static inline uint32_t qcow2_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint16_t qcow2_be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline void qcow2_put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline void qcow2_put32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline void qcow2_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline uint64_t qcow2_offset_to_cluster(const struct qcow2_state *s, uint64_t off)
{
	return off >> s->cluster_bits;
}

static inline bool qcow2_aligned(const struct qcow2_state *s, uint64_t off)
{
	return (off & (s->cluster_size - 1)) == 0;
}

/* Compressed cluster descriptor (spec "Compressed Clusters Descriptor"). */
static inline void qcow2_comp_desc(const struct qcow2_state *s, uint64_t l2e, uint64_t *off,
				   uint64_t *len)
{
	unsigned int x = 62 - (s->cluster_bits - 8);
	uint64_t nsec = ((l2e >> x) & ((1ull << (s->cluster_bits - 8)) - 1)) + 1;

	*off = l2e & ((1ull << x) - 1);
	*len = nsec * 512 - (*off & 511);
}

/* qcow2-cache.c */
int qcow2_cache_init(struct qcow2_cache *c, struct qcow2_state *s, int n);
void qcow2_cache_destroy(struct qcow2_cache *c);
/* Get the table at off (read it unless `fresh`: zero-filled new table); pins it. */
int qcow2_cache_get(struct qcow2_cache *c, uint64_t off, bool fresh, uint8_t **data);
void qcow2_cache_put(struct qcow2_cache *c, uint8_t *data);
/* The cached table at off, or NULL: no load, no eviction, no pin. */
const uint8_t *qcow2_cache_peek(struct qcow2_cache *c, uint64_t off);
void qcow2_cache_mark_dirty(struct qcow2_cache *c, uint8_t *data);
/* Write back dirty entries (after the dependency), then fdatasync. */
int qcow2_cache_flush(struct qcow2_cache *c);
/* Forget a table (its cluster is being freed); its dirty data is dropped. */
void qcow2_cache_discard(struct qcow2_cache *c, uint64_t off);
bool qcow2_cache_dirty(const struct qcow2_cache *c);

/* qcow2-refcount.c */
int qcow2_refcount_get(struct qcow2_state *s, uint64_t cluster, uint64_t *ref);
/* Add `addend` to the refcounts of the clusters covering [off, off+len). */
int qcow2_refcount_update(struct qcow2_state *s, uint64_t off, uint64_t len, int64_t addend);
/* Allocate n contiguous clusters (refcount 1); *off their host offset. */
int qcow2_alloc_clusters(struct qcow2_state *s, uint64_t n, uint64_t *off);
/* Drop one reference; the caller has already made every on-disk reference go. */
int qcow2_free_clusters(struct qcow2_state *s, uint64_t off, uint64_t len);
/* Drop the references held by an L2 entry (data, compressed, zero-alloc). */
int qcow2_free_l2_entry(struct qcow2_state *s, uint64_t l2e);
/* Queue that for after the next L2 flush (punch: free the host space too). */
int qcow2_defer_free(struct qcow2_state *s, uint64_t l2e, bool punch);
/* Writes dirty refcount blocks and L2 tables in dependency order. */
int qcow2_flush_metadata(struct qcow2_state *s);
/* Mark the image dirty before the first metadata write with lazy refcounts. */
int qcow2_mark_dirty(struct qcow2_state *s);
int qcow2_mark_clean(struct qcow2_state *s);
uint64_t qcow2_refcount_block_get(const struct qcow2_state *s, const uint8_t *rb, uint64_t idx);
void qcow2_refcount_block_set(const struct qcow2_state *s, uint8_t *rb, uint64_t idx, uint64_t v);

/* qcow2-cluster.c */
/* Get the L2 table for guest offset gofs; with alloc, allocate/COW it. NULL if none. */
int qcow2_get_l2(struct qcow2_state *s, uint64_t gofs, bool alloc, uint8_t **l2);
int qcow2_write_l1_entry(struct qcow2_state *s, uint32_t idx);
/* The whole active L1 table in one write (up to 32 MiB; not 4M writes of 8 bytes). */
int qcow2_write_l1_table(struct qcow2_state *s);
int qcow2_grow_l1(struct qcow2_state *s, uint64_t min_size);
/* qcow2-shrink.c: drop everything past new_size (< the size), cut the file. */
int qcow2_shrink(struct qcow2_state *s, uint64_t new_size);
int qcow2_check_l2_entry(struct qcow2_state *s, uint64_t l2e, uint64_t gofs);
int qcow2_read_cluster_data(struct qcow2_state *s, uint64_t l2e, uint64_t gofs, uint8_t *buf);
/* iovec helpers */
size_t qcow2_iov_size(const struct iovec *iov, int cnt);
int qcow2_iov_slice(const struct iovec *iov, int cnt, size_t off, size_t len, struct iovec *out,
		    int max);
void qcow2_iov_memset(const struct iovec *iov, int cnt, size_t off, size_t len);
void qcow2_iov_from_buf(const struct iovec *iov, int cnt, size_t off, const void *buf, size_t len);
void qcow2_iov_to_buf(const struct iovec *iov, int cnt, size_t off, void *buf, size_t len);
int qcow2_co_preadv(struct qcow2_state *s, const struct iovec *iov, int iovcnt, uint64_t off);
int qcow2_co_pwritev(struct qcow2_state *s, const struct iovec *iov, int iovcnt, uint64_t off);
int qcow2_zero_or_discard(struct qcow2_state *s, uint64_t off, uint64_t len, bool zero,
			  bool may_unmap);
int qcow2_co_block_status(struct qcow2_state *s, uint64_t off, uint64_t len, uint64_t *pnum,
			  int *status, uint64_t *host_off);
int qcow2_preallocate(struct qcow2_state *s, uint64_t off, uint64_t len, enum blk_prealloc mode);
int qcow2_backing_read(struct qcow2_state *s, void *buf, size_t len, uint64_t off);

/* qcow2-compress.c */
int qcow2_decompress(struct qcow2_state *s, const uint8_t *in, size_t inlen, uint8_t *out);
int qcow2_compress(struct qcow2_state *s, const uint8_t *in, size_t inlen, uint8_t *out,
		   size_t outmax, size_t *outlen);

/* qcow2.c */
int qcow2_update_header_fields(struct qcow2_state *s, unsigned int off, const void *buf,
			       size_t len);
int qcow2_write_full_header(struct qcow2_state *s);
/* The header's size field (offset 24), synced, then s->size and the device's. */
int qcow2_write_size(struct qcow2_state *s, uint64_t size);
int qcow2_open_fd(struct blkdev *bd, int fd, const struct blk_open_opts *o, struct error *err);
void qcow2_close_state(struct blkdev *bd);
int qcow2_sync(struct qcow2_state *s);
int qcow2_check_overlap(struct qcow2_state *s, uint64_t off, uint64_t len);
/* Also against the active L2 tables and the refcount blocks: for data writes. */
int qcow2_check_data_overlap(struct qcow2_state *s, uint64_t off, uint64_t len);
int qcow2_file_preadv(struct qcow2_state *s, const struct iovec *iov, int iovcnt, uint64_t off);
int qcow2_file_pwritev(struct qcow2_state *s, const struct iovec *iov, int iovcnt, uint64_t off);

/* qcow2-snapshot.c */
int qcow2_read_snapshots(struct qcow2_state *s, struct error *err);
/* The in-memory snapshot list to new clusters; the header then points there. */
int qcow2_write_snapshot_table(struct qcow2_state *s);
void qcow2_free_snapshots(struct qcow2_state *s);
/* A distinct L2 table named by an L1 table, and by how many of its entries. */
struct qcow2_l2_use {
	uint64_t off;
	uint64_t count;
};

/* The distinct L2 tables of an L1 table, by ascending offset (malloc'd array). */
int qcow2_l1_distinct(const uint64_t *l1, uint32_t l1_size, struct qcow2_l2_use **out,
		      size_t *count);
/* Add addend to every cluster reachable from an L1 table; fix OFLAG_COPIED if active. */
int qcow2_update_l1_refs(struct qcow2_state *s, const uint64_t *l1, uint32_t l1_size, int addend,
			 bool active);

/* qcow2-check.c */
int qcow2_rebuild_refcounts(struct qcow2_state *s, struct error *err);

#endif
