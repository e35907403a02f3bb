/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_VM_SNAPSHOT_INT_H
#define VESSEL_VM_SNAPSHOT_INT_H

#include <stdint.h>

#include "util/stream.h"

/* State file sections (docs/snapshot-format.md). */
#define SNAP_SEC_CONF STREAM_TAG('C', 'O', 'N', 'F')
#define SNAP_SEC_MACH STREAM_TAG('M', 'A', 'C', 'H')
#define SNAP_SEC_COMP STREAM_TAG('C', 'O', 'M', 'P')
#define SNAP_SEC_HDR 20 /* tag, version, u64 length, CRC-32 */

/* Memory records: {u32 tag, u32 a, u64 b}, then a PAGE's data. */
#define SNAP_REC_PAGE STREAM_TAG('P', 'A', 'G', 'E') /* a: length, b: file offset */
#define SNAP_REC_END STREAM_TAG('M', 'E', 'N', 'D')  /* a: CRC-32 of the data, b: bytes */
#define SNAP_REC_SIZE 16
#define SNAP_RUN_PAGES 256 /* 1 MiB records at most */
#define SNAP_MEMHDR_SIZE 4096

void snap_put32(uint8_t *p, uint32_t v);
void snap_put64(uint8_t *p, uint64_t v);
uint32_t snap_get32(const uint8_t *p);
uint64_t snap_get64(const uint8_t *p);

#endif
