#!/bin/sh
# bench/qcow2: vessel's block layer against qemu-img on the same images,
# in the same run (bench/).
#
#  1. `vessel img bench` (the async blk_queue API virtio-blk uses) vs
#     `qemu-img bench`, the same options, each timed by its own
#     "Run completed in S seconds" line, same pattern:
#     sequential 64 KiB and scattered 4 KiB ("random": a stride of a
#     prime number of blocks, modulo the disk, as qemu-img bench has no
#     random mode), read and write, on qcow2 with and without a backing
#     file.  Writes go to a fresh copy of the image for each run.  Each
#     figure is the best of $RUNS runs, alternating which tool goes first,
#     so that background writeback and caches favour neither.
#  2. `vessel img convert` vs `qemu-img convert` of a 4 GiB sparse image
#     (raw -> qcow2, qcow2 -> raw).
#
# Prints each pair and the ratio (> 1: vessel is faster).
#
# usage: bench/qcow2/run.sh [BUILD_DIR]    (default: build)
#        BENCH_DIR=/var/tmp/... to choose where the images go (not tmpfs
#        if you want disk figures; page cache is used either way).
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
VESSEL=$BUILD/vessel
QEMU_IMG=${QEMU_IMG:-qemu-img}
[ -x "$VESSEL" ] || { echo "bench/qcow2: $VESSEL not built" >&2; exit 1; }
command -v "$QEMU_IMG" >/dev/null || { echo "bench/qcow2: qemu-img not found (qemu-utils)" >&2; exit 1; }

DIR=$(mktemp -d "${BENCH_DIR:-/var/tmp}/vessel-bench-qcow2.XXXXXX")
trap 'rm -rf "$DIR"' EXIT INT TERM

SIZE=512M           # virtual disk size
SEQ_COUNT=32768     # 64 KiB reads: the whole disk 4 times
SEQ_COUNT_W=8192    # 64 KiB writes: the whole disk once (allocating: every cluster)
RND_COUNT=100000    # 4 KiB requests
STRIDE=$((4096 * 7919))   # prime number of 4 KiB blocks: scattered offsets
DEPTH=32
RUNS=${RUNS:-3}

now() { date +%s.%N; }
# seconds taken by a command (its output discarded)
timed() {
	t0=$(now)
	"$@" >/dev/null
	t1=$(now)
	echo "$t1 - $t0" | bc -l
}
min() { echo "if ($1 < $2) $1 else $2" | bc -l; }
# the seconds a bench run reports ("Run completed in 1.234 seconds.")
bench_time() {
	out=$("$@") || { echo "bench/qcow2: $* failed" >&2; exit 1; }
	echo "$out" | sed -n 's/^Run completed in \([0-9.]*\) seconds\.$/\1/p'
}

# One pattern: $1 label, $2 image, $3 write(0/1), $4 size, $5 count, $6 step
run_pair() {
	label=$1 img=$2 w=$3 bs=$4 count=$5 step=$6
	wopt=""
	[ "$w" = 1 ] && wopt="-w"
	tv=1000000 tq=1000000
	r=0
	while [ $r -lt "$RUNS" ]; do
		order="vessel qemu"
		[ $((r % 2)) = 1 ] && order="qemu vessel"
		for tool in $order; do
			target=$img
			if [ "$w" = 1 ]; then
				# A fresh copy (its backing link stays valid: same directory).
				cp "$img" "$DIR/w.qcow2"
				target=$DIR/w.qcow2
				# Start from clean page cache: no run pays for the
				# writeback of the one before (dirty throttling).
				sync
			fi
			if [ $tool = vessel ]; then
				t=$(bench_time "$VESSEL" img bench -f qcow2 $wopt -c "$count" -d "$DEPTH" \
					-s "$bs" -S "$step" "$target")
				tv=$(min "$tv" "$t")
			else
				t=$(bench_time "$QEMU_IMG" bench -f qcow2 $wopt -c "$count" -d "$DEPTH" \
					-s "$bs" -S "$step" "$target")
				tq=$(min "$tq" "$t")
			fi
		done
		r=$((r + 1))
	done
	iops_v=$(echo "$count / $tv" | bc -l)
	iops_q=$(echo "$count / $tq" | bc -l)
	printf '%-30s vessel %8.0f IOPS %7.1f MB/s | qemu-img %8.0f IOPS %7.1f MB/s | ratio %.2f\n' \
		"$label" "$iops_v" "$(echo "$iops_v * $bs / 1000000" | bc -l)" \
		"$iops_q" "$(echo "$iops_q * $bs / 1000000" | bc -l)" "$(echo "$tq / $tv" | bc -l)"
}

echo "== bench/qcow2: vessel img bench vs qemu-img bench (depth $DEPTH, page cache, best of $RUNS) =="
# A data-filled image (non-zero data, so that no copy turns it into
# holes), a base with data plus an empty overlay on it.
"$QEMU_IMG" create -q -f qcow2 "$DIR/full.qcow2" $SIZE
"${QEMU_IO:-qemu-io}" -f qcow2 -c "write -P 0xab 0 $SIZE" "$DIR/full.qcow2" >/dev/null
"$QEMU_IMG" create -q -f qcow2 "$DIR/empty.qcow2" $SIZE
cp "$DIR/full.qcow2" "$DIR/base.qcow2"
"$QEMU_IMG" create -q -f qcow2 -b base.qcow2 -F qcow2 "$DIR/overlay.qcow2" $SIZE
sync

run_pair "seq read 64k"                "$DIR/full.qcow2" 0 65536 $SEQ_COUNT 65536
run_pair "rnd read 4k"                 "$DIR/full.qcow2" 0 4096 $RND_COUNT $STRIDE
run_pair "seq write 64k (allocating)"  "$DIR/empty.qcow2" 1 65536 $SEQ_COUNT_W 65536
run_pair "seq write 64k (allocated)"   "$DIR/full.qcow2" 1 65536 $SEQ_COUNT_W 65536
run_pair "rnd write 4k (allocating)"   "$DIR/empty.qcow2" 1 4096 $RND_COUNT $STRIDE
run_pair "rnd write 4k (allocated)"    "$DIR/full.qcow2" 1 4096 $RND_COUNT $STRIDE
run_pair "backing: seq read 64k"       "$DIR/overlay.qcow2" 0 65536 $SEQ_COUNT 65536
run_pair "backing: rnd read 4k"        "$DIR/overlay.qcow2" 0 4096 $RND_COUNT $STRIDE
run_pair "backing: seq write 64k"      "$DIR/overlay.qcow2" 1 65536 $SEQ_COUNT_W 65536
run_pair "backing: rnd write 4k (COW)" "$DIR/overlay.qcow2" 1 4096 $RND_COUNT $STRIDE

echo "== bench/qcow2: img convert of a 4 GiB sparse image =="
# 4 GiB raw with 256 x 1 MiB of random data spread over it.
truncate -s 4G "$DIR/sparse.raw"
i=0
while [ $i -lt 256 ]; do
	dd if=/dev/urandom of="$DIR/sparse.raw" bs=1M count=1 seek=$((i * 16 + 3)) \
		conv=notrunc status=none
	i=$((i + 1))
done
"$QEMU_IMG" convert -f raw -O qcow2 "$DIR/sparse.raw" "$DIR/sparse.qcow2"
sync

conv_pair() {
	label=$1 ifmt=$2 ofmt=$3 src=$4
	tv=1000000 tq=1000000
	r=0
	while [ $r -lt "$RUNS" ]; do
		rm -f "$DIR/cv.out" "$DIR/cq.out"
		sync
		if [ $((r % 2)) = 1 ]; then
			tq=$(min "$tq" "$(timed "$QEMU_IMG" convert -f "$ifmt" -O "$ofmt" "$src" "$DIR/cq.out")")
		fi
		sync
		tv=$(min "$tv" "$(timed "$VESSEL" img convert -f "$ifmt" -O "$ofmt" "$src" "$DIR/cv.out")")
		sync
		if [ $((r % 2)) = 0 ]; then
			tq=$(min "$tq" "$(timed "$QEMU_IMG" convert -f "$ifmt" -O "$ofmt" "$src" "$DIR/cq.out")")
		fi
		r=$((r + 1))
	done
	"$QEMU_IMG" compare -q -f "$ofmt" -F "$ofmt" "$DIR/cv.out" "$DIR/cq.out" ||
		{ echo "bench/qcow2: convert outputs differ!" >&2; exit 1; }
	printf '%-34s vessel %7.3f s (%s on disk) | qemu-img %7.3f s (%s on disk) | ratio %.2f\n' \
		"$label" "$tv" "$(du -h "$DIR/cv.out" | cut -f1)" "$tq" \
		"$(du -h "$DIR/cq.out" | cut -f1)" "$(echo "$tq / $tv" | bc -l)"
}
conv_pair "convert 4G sparse raw -> qcow2" raw qcow2 "$DIR/sparse.raw"
conv_pair "convert 4G sparse qcow2 -> raw" qcow2 raw "$DIR/sparse.qcow2"
conv_pair "convert 4G sparse qcow2 -> qcow2" qcow2 qcow2 "$DIR/sparse.qcow2"
