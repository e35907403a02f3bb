#!/bin/sh
# bench/blk: virtio-blk IOPS, MB/s, host CPU per I/O and notification
# round trip, vessel vs QEMU with the same guest in one run.
# usage: bench/blk/run.sh [BUILD_DIR] [--secs N] [--size-mb N] [--baseline OLD_BUILD]
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
[ $# -gt 0 ] && shift
exec /usr/bin/python3 "$ROOT/bench/blk/blkbench.py" --build "$BUILD" "$@"
