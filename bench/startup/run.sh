#!/bin/sh
# bench/startup: exec to first guest instruction and VMM memory overhead,
# vessel vs qemu-system-x86_64 -M microvm, same PVH guest, same run.
exec /usr/bin/python3 "$(dirname "$0")/startup.py" "${1:-build}"
