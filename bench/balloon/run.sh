#!/bin/sh
# bench/balloon: the rate at which the host gets memory back through the
# balloon (inflate, free page reporting) and the guest's cost while it
# inflates; vessel vs QEMU's virtio-balloon with the same Linux guest,
# interleaved in one run.  Where this host's KVM cannot boot Linux,
# inside the Linux lane's L1 host.
# usage: bench/balloon/run.sh [BUILD] [--rounds N]
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
[ $# -gt 0 ] && shift
set -- $(/usr/bin/python3 "$ROOT/bench/balloon/balloonbench.py" --build "$BUILD" --prepare) "$@"
[ $# -ge 2 ] || exit 1
KERNEL=$1 INITRD=$2
shift 2
# One L1 vCPU, as bench/net: Linux L2 guests stall under nested KVM with two.
VESSEL_L1_CPUS=${VESSEL_L1_CPUS:-1} exec /usr/bin/python3 "$ROOT/bench/in-l1.py" "$BUILD" /usr/bin/python3 \
	"$ROOT/bench/balloon/balloonbench.py" --build "$BUILD" --image "$KERNEL" "$INITRD" "$@"
