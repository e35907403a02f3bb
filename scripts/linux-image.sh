#!/bin/sh
# Build the default Linux guest from Debian packages: the
# linux-image-cloud-amd64 kernel (apt-get download + dpkg -x, no install)
# and a busybox-static initramfs with the kernel's virtio modules.
# Output: $OUT/vmlinuz and $OUT/initramfs.img.  Idempotent.
set -e
OUT=${1:-images/linux}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
[ -s "$OUT/vmlinuz" ] && [ -s "$OUT/initramfs.img" ] && exit 0

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
# The meta package names the real, versioned image package.
resolve() {
	apt-cache depends linux-image-cloud-amd64 2>/dev/null |
		awk '/Depends: linux-image-/ {print $2; exit}'
}
PKG=$(resolve)
# A machine whose package lists were never fetched knows no such package yet.
[ -n "$PKG" ] || { apt-get update -q >/dev/null 2>&1 || true; PKG=$(resolve); }
[ -n "$PKG" ] || { echo "linux-image.sh: cannot resolve linux-image-cloud-amd64" >&2; exit 1; }
apt-get download -q "$PKG" >/dev/null
dpkg -x ./*.deb root
KVER=$(ls root/lib/modules | head -1)
cp root/boot/vmlinuz-"$KVER" "$OUT/vmlinuz"

# initramfs: busybox, the virtio/ext4 modules, and an init that mounts
# the basics, loads the modules and runs any /init.d checks.
mkdir -p initrd/bin initrd/sbin initrd/proc initrd/sys initrd/dev initrd/tmp initrd/mnt \
	initrd/lib/modules/"$KVER"
cp /bin/busybox initrd/bin/busybox
for m in virtio virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk \
	virtio_net net_failover failover virtio_rng virtio_console virtio_balloon \
	crc16 mbcache jbd2 crc32c_generic libcrc32c ext4; do
	f=$(find root/lib/modules/"$KVER" -name "$m.ko*" | head -1)
	[ -n "$f" ] && cp "$f" initrd/lib/modules/"$KVER"/ && echo "$(basename "$f")" >>initrd/modules.order
done
cat >initrd/init <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules.order); do
	insmod /lib/modules/*/"$m" 2>/dev/null
done
echo "vessel: Linux $(uname -r) up on $(nproc) CPU(s), $(awk '/MemTotal/ {print $2/1024 " MiB"}' /proc/meminfo)"
if [ -x /check.sh ]; then /check.sh; poweroff -f; fi
grep -q vessel.check= /proc/cmdline && { sh -c "$(sed 's/.*vessel.check=\([^ ]*\).*/\1/' /proc/cmdline)"; poweroff -f; }
echo "Type 'poweroff -f' to stop the VM."
setsid cttyhack sh
poweroff -f
INIT
chmod +x initrd/init
(cd initrd && find . | cpio -o -H newc 2>/dev/null | gzip -9) >"$OUT/initramfs.img"
echo "linux-image.sh: $PKG -> $OUT/vmlinuz, $OUT/initramfs.img"
