#!/bin/sh
# Build the initramfs of the vhost-user-blk real-driver lane and bench:
# the default Linux guest's initramfs (scripts/linux-image.sh: Debian's
# cloud kernel, busybox, the virtio and ext4 modules) with a second cpio
# appended, which the kernel unpacks on top: /check.sh (run by the
# default /init) and host binaries with their shared libraries.
#
#   tests/vhost/mkinitramfs.sh OUT.img CHECK_SCRIPT [BINARY...]
#
# Binaries land in /opt/vessel (busybox's applets would shadow them on
# PATH).  mke2fs is always included (busybox has mkfs.ext2, not ext4); busybox
# provides fstrim, blkdiscard, sha256sum and dd.  Prints the kernel path.
set -e
[ $# -ge 2 ] || { echo "usage: $0 OUT.img CHECK_SCRIPT [BINARY...]" >&2; exit 2; }
OUT=$1
CHECK=$2
shift 2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
IMAGES=${VESSEL_LINUX_IMAGES:-$ROOT/images/linux}
"$ROOT/scripts/linux-image.sh" "$IMAGES" >&2
MKE2FS=$(command -v mke2fs || echo /usr/sbin/mke2fs)
[ -x "$MKE2FS" ] || { echo "mkinitramfs.sh: mke2fs (e2fsprogs) not found" >&2; exit 1; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/root/opt/vessel"
for bin in "$MKE2FS" "$@"; do
	cp "$bin" "$WORK/root/opt/vessel/"
	# Its shared libraries (and the dynamic loader) at the same paths.
	ldd "$bin" 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }' |
		while read -r lib; do
			mkdir -p "$WORK/root$(dirname "$lib")"
			cp -L "$lib" "$WORK/root$lib"
		done
done
cp "$CHECK" "$WORK/root/check.sh"
chmod +x "$WORK/root/check.sh"
(cd "$WORK/root" && find . | cpio -o -H newc 2>/dev/null) >"$WORK/extra.cpio"
cat "$IMAGES/initramfs.img" "$WORK/extra.cpio" >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "$IMAGES/vmlinuz"
