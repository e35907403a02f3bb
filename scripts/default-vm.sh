#!/bin/sh
# `make run`: boot the default Linux VM (Debian's cloud kernel with a
# busybox initramfs) to a shell on vessel's serial console, on any host:
#   VT-x / AMD-V: vessel boots it directly;
#   PVM or no /dev/kvm: vessel runs inside an L1 Linux host under QEMU TCG
#   (emulated AMD-V), and boots it there (tests/linux/launch.py).
# One line says which and why.  Ctrl-A x quits vessel (and the L1 host).
# `make demo` boots the small demo test guest instead.
set -e
BUILD=${1:-build}
exec python3 "$(dirname "$0")/../tests/linux/launch.py" shell "$BUILD"
