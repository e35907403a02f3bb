#!/bin/sh
# bench/net: virtio-net TCP throughput (1 and 4 streams, both directions),
# latency and VMM CPU per gigabit; vessel vs QEMU (userspace and
# vhost-net) with the same Linux guest, interleaved in one run.  Where
# this host's KVM cannot boot Linux, inside the Linux lane's L1 host.
# usage: bench/net/run.sh [BUILD] [--secs N] [--rounds N] [--guest-cpus N]
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
[ $# -gt 0 ] && shift
set -- $(/usr/bin/python3 "$ROOT/bench/net/netbench.py" --build "$BUILD" --prepare) "$@"
[ $# -ge 2 ] || exit 1
KERNEL=$1 INITRD=$2
shift 2
# One L1 vCPU: QEMU's Linux guest stalled (RCU) under nested KVM with two.
VESSEL_L1_CPUS=${VESSEL_L1_CPUS:-1} exec /usr/bin/python3 "$ROOT/bench/in-l1.py" "$BUILD" /usr/bin/python3 \
	"$ROOT/bench/net/netbench.py" --build "$BUILD" --image "$KERNEL" "$INITRD" "$@"
