#!/bin/sh
# bench/startup: exec to first guest instruction and VMM memory overhead,
# vessel vs qemu-system-x86_64 -M microvm, same PVH guest, same run.
# usage: bench/startup/run.sh [BUILD] [BASELINE_BUILD]  (the second: before/after in one run)
exec /usr/bin/python3 "$(dirname "$0")/startup.py" "${1:-build}" ${2:+"$2"}
