// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: fuzz_virtio_blk on a qcow2 image (4 KiB clusters,
 * restored before every input), so guest writes, discards and
 * write-zeroes run qcow2's cluster allocation and freeing on the worker
 * thread.  See fuzz_virtio_blk.c for what the input drives.
 */
#define FUZZ_BLK_QCOW2 true
#include "fuzz_virtio_blk.c"
