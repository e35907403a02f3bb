#!/bin/sh
# `make run`: boot the default VM so the user sees vessel work.
#   VT-x / AMD-V hosts: a Debian Linux guest to a shell on the serial console.
#   PVM hosts: the demo test guest (a stock Linux kernel cannot boot there).
set -e
BUILD=${1:-build}
VESSEL="$BUILD/vessel"

if [ -d /sys/module/kvm_pvm ]; then
	echo "vessel: this host's /dev/kvm is PVM (no VT-x/AMD-V): guest kernel code is emulated" \
		"and a stock Linux kernel cannot boot, so 'make run' boots the demo test guest instead."
	exec "$VESSEL" run --kernel "$BUILD/tests/guests/demo.elf" --cpus 2 --memory 256M --rng
fi
if [ ! -e /dev/kvm ]; then
	echo "vessel: /dev/kvm is missing: this host cannot run VMs (see 'vessel host')." >&2
	exit 1
fi
./scripts/linux-image.sh images/linux
echo "vessel: booting Debian's cloud kernel with a busybox initramfs; Ctrl-A x quits."
exec "$VESSEL" run --kernel images/linux/vmlinuz --initrd images/linux/initramfs.img \
	--cmdline "console=ttyS0 reboot=k panic=-1 quiet" --cpus 2 --memory 512M --rng \
	--on-reboot exit
