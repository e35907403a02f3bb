#!/bin/sh
# bench/snapshot: save and restore of a Linux VM, vessel vs QEMU
# (snapbench.py), on the same KVM: inside the Linux lane's L1 host where
# this host's KVM cannot boot Linux.
# usage: bench/snapshot/run.sh [BUILD] [--rounds N] [--shapes CPUS:MiB,...]
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
[ $# -gt 0 ] && shift
# The guest image is built here (L1 sees this host's root read-only).
/usr/bin/python3 "$ROOT/bench/snapshot/snapbench.py" --build "$BUILD" --prepare || exit 1
# One L1 vCPU, as bench/net and bench/balloon: Linux L2 guests stall
# under nested KVM with two.
VESSEL_L1_CPUS=${VESSEL_L1_CPUS:-1} exec /usr/bin/python3 "$ROOT/bench/in-l1.py" "$BUILD" \
	/usr/bin/python3 "$ROOT/bench/snapshot/snapbench.py" --build "$BUILD" "$@"
