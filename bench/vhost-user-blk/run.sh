#!/bin/sh
# bench/vhost-user-blk: vessel's vhost-user-blk backend vs
# qemu-storage-daemon's vhost-user-blk export, the same TCG Linux guest
# and load, raw and qcow2, in one run (see bench.py).
# usage: bench/vhost-user-blk/run.sh [BUILD_DIR] [--secs N] [--size-mb N] [--reps N]
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
[ $# -gt 0 ] && shift
exec /usr/bin/python3 "$ROOT/bench/vhost-user-blk/bench.py" --build "$BUILD" "$@"
