#!/bin/sh
# Build the Linux lane's images from Debian packages and this build:
#   OUT/l2.img     the L2 guest's initramfs: the default Linux guest
#                  (scripts/linux-image.sh) + tests/linux/guest.sh as
#                  /check.sh + e2fsprogs
#   OUT/l1.cpio    the L1 host's initramfs (uncompressed: TCG would spend
#                  seconds in gunzip): busybox, the kernel's KVM modules,
#                  vessel and the host-side tools with their shared
#                  libraries, the L2 kernel and initramfs, lane.sh
#   OUT/vmlinuz    the kernel, for both levels
#
#   tests/linux/mkimages.sh OUT VESSEL [--bench]
#
# --bench adds QEMU (qemu-system-x86_64, its firmware and libraries) for
# bench/boot.  The images are rebuilt only when an input changed: the
# vessel binary, these scripts, the kernel image, the tools.
set -e
[ $# -ge 2 ] || { echo "usage: $0 OUT VESSEL [--bench]" >&2; exit 2; }
OUT=$1
VESSEL=$(readlink -f "$2")
BENCH=$3
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
IMAGES=${VESSEL_LINUX_IMAGES:-$ROOT/images/linux}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
"$ROOT/scripts/linux-image.sh" "$IMAGES" >&2

tool() {
	command -v "$1" 2>/dev/null || { [ -x "/usr/sbin/$1" ] && echo "/usr/sbin/$1"; } ||
		{ [ -x "/sbin/$1" ] && echo "/sbin/$1"; } ||
		{ echo "mkimages.sh: $1 not found (install $2)" >&2; exit 1; }
}
QEMU_IMG=$(tool qemu-img qemu-utils)
DEBUGFS=$(tool debugfs e2fsprogs)
E2FSCK=$(tool e2fsck e2fsprogs)
MHD=$(ldconfig -p | awk '/libmicrohttpd\.so\.12 .*x86-64/ { print $NF; exit }')
[ -n "$MHD" ] || { echo "mkimages.sh: libmicrohttpd.so.12 not found (libmicrohttpd12)" >&2; exit 1; }
TOOLS="$VESSEL $QEMU_IMG $DEBUGFS $E2FSCK"
QEMU=""
if [ "$BENCH" = --bench ]; then
	QEMU=$(tool qemu-system-x86_64 qemu-system-x86)
	BOOTTIME=$(dirname "$VESSEL")/bench/boot/boottime
	[ -x "$BOOTTIME" ] || { echo "mkimages.sh: $BOOTTIME not built (-Dbench=true)" >&2; exit 1; }
	TOOLS="$TOOLS $BOOTTIME"
fi

STAMP=$(cat "$VESSEL" "$HERE"/mkimages.sh "$HERE"/guest.sh "$HERE"/lane.sh "$HERE"/l1-init \
	"$ROOT"/bench/boot/boot.sh "$ROOT"/tests/vhost/mkinitramfs.sh "$IMAGES"/version \
	"$IMAGES"/vmlinuz $TOOLS 2>/dev/null | sha256sum | cut -d' ' -f1)$BENCH
[ -s "$OUT/l1.cpio" ] && [ "$(cat "$OUT/stamp" 2>/dev/null)" = "$STAMP" ] && exit 0

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# L2: the default guest + the lane's checks.
"$ROOT/tests/vhost/mkinitramfs.sh" "$WORK/l2.img" "$HERE/guest.sh" "$E2FSCK" >/dev/null

# L1: busybox, KVM modules, vessel and tools with their libraries.
R=$WORK/root
mkdir -p "$R/bin" "$R/opt/vessel/bin" "$R/lib/modules/host" "$R/lane/l2" "$R/proc" "$R/sys" \
	"$R/dev" "$R/tmp" "$R/run" "$R/etc"
cp /bin/busybox "$R/bin/busybox"
cp "$HERE/l1-init" "$R/init"
cp "$IMAGES"/host-modules/*.ko "$IMAGES/host-modules/order" "$R/lib/modules/host/"
cp "$HERE/lane.sh" "$R/lane/lane.sh"
cp "$ROOT/bench/boot/boot.sh" "$R/lane/boot.sh"
cp "$IMAGES/vmlinuz" "$R/lane/l2/vmlinuz"
cp "$WORK/l2.img" "$R/lane/l2/initramfs.img"
copy_libs() {
	ldd "$1" 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }' |
		while read -r lib; do
			[ -e "$R$lib" ] && continue
			mkdir -p "$R$(dirname "$lib")"
			cp -L "$lib" "$R$lib"
		done
}
for t in $TOOLS; do
	cp "$t" "$R/opt/vessel/bin/"
	copy_libs "$t"
done
# libmicrohttpd is dlopen'ed by the API server (src/api/mhd.c).
mkdir -p "$R$(dirname "$MHD")"
cp -L "$MHD" "$R$MHD"
copy_libs "$MHD"
if [ -n "$QEMU" ]; then
	# At its own path: QEMU finds its firmware relative to its binary
	# (../share/qemu).
	mkdir -p "$R/usr/bin"
	cp "$QEMU" "$R/usr/bin/qemu-system-x86_64"
	copy_libs "$QEMU"
	# Firmware: SeaBIOS for q35, qboot for microvm, option ROMs for
	# direct kernel boot; keymaps are not needed with -display none.
	mkdir -p "$R/usr/share"
	cp -rL /usr/share/qemu "$R/usr/share/qemu"
	rm -rf "$R/usr/share/qemu/keymaps"
	[ -d /usr/share/seabios ] && cp -rL /usr/share/seabios "$R/usr/share/seabios"
	# QEMU's modules (accelerators, devices) are loaded by path.
	[ -d /usr/lib/x86_64-linux-gnu/qemu ] && mkdir -p "$R/usr/lib/x86_64-linux-gnu" &&
		cp -rL /usr/lib/x86_64-linux-gnu/qemu "$R/usr/lib/x86_64-linux-gnu/qemu"
	for m in "$R"/usr/lib/x86_64-linux-gnu/qemu/*.so; do
		[ -e "$m" ] && copy_libs "$m"
	done
fi
echo "root:x:0:0:root:/root:/bin/sh" >"$R/etc/passwd"
echo "root:x:0:" >"$R/etc/group"
(cd "$R" && find . | cpio -o -H newc 2>/dev/null) >"$OUT/l1.cpio.tmp"
mv "$OUT/l1.cpio.tmp" "$OUT/l1.cpio"
cp "$WORK/l2.img" "$OUT/l2.img"
cp "$IMAGES/vmlinuz" "$OUT/vmlinuz"
echo "$STAMP" >"$OUT/stamp"
echo "mkimages.sh: $OUT/l1.cpio ($(du -m "$OUT/l1.cpio" | cut -f1) MiB), $OUT/l2.img" >&2
