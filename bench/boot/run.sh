#!/bin/sh
# bench/boot: Linux boot to init, vessel vs QEMU microvm and q35 (boot.py).
exec python3 "$(dirname "$0")/boot.py" "$@"
