#!/bin/sh
# Build the default Linux guest from Debian packages: the
# linux-image-cloud-amd64 kernel (apt-get download + dpkg -x, no install)
# and a busybox-static initramfs with the kernel's virtio modules.
# Output: $OUT/vmlinuz and $OUT/initramfs.img.  Idempotent.
set -e
OUT=${1:-images/linux}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# Bump when the image's contents change, so cached images are rebuilt.
IMAGE_VERSION=10
[ -s "$OUT/vmlinuz" ] && [ -s "$OUT/initramfs.img" ] && [ -d "$OUT/host-modules" ] &&
	[ "$(cat "$OUT/version" 2>/dev/null)" = "$IMAGE_VERSION" ] && exit 0

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
apt-get download -q -o APT::Sandbox::User=root "$PKG" >/dev/null
dpkg -x ./*.deb root
KVER=$(ls root/lib/modules | head -1)
cp root/boot/vmlinuz-"$KVER" "$OUT/vmlinuz"

# initramfs: busybox, the virtio/ext4 modules, and an init that mounts
# the basics, loads the modules and runs any /init.d checks.
mkdir -p initrd/bin initrd/sbin initrd/proc initrd/sys initrd/dev initrd/tmp initrd/mnt \
	initrd/lib/modules/"$KVER"
cp /bin/busybox initrd/bin/busybox
# Modules in dependency order: the package has no modules.dep (depmod runs
# at install time), so read each module's .modinfo "depends=" field and
# add dependencies first.  A module not found is built into the kernel.
MODDIR=root/lib/modules/"$KVER"
ADDED=" "
modfile() {
	find "$MODDIR" \( -name "$1.ko" -o -name "$1.ko.xz" \) | head -1
}
add_module() {
	local name="$1" file dep
	case "$ADDED" in *" $name "*) return 0 ;; esac
	ADDED="$ADDED$name "
	file=$(modfile "$name")
	[ -n "$file" ] || return 0
	for dep in $(tr '\0' '\n' <"$file" | sed -n 's/^depends=//p' | tr ',' ' '); do
		add_module "$dep"
	done
	cp "$file" initrd/lib/modules/"$KVER"/
	basename "$file" >>initrd/modules.order
}
for m in virtio_pci virtio_blk virtio_net 8021q virtio-rng virtio_console virtio_balloon ext4 \
	button evdev; do
	add_module "$m"
done
# The same kernel is the Linux lane's L1 host (tests/linux): keep the KVM
# modules it loads there, in dependency order.
rm -rf "$OUT/host-modules"
mkdir -p "$OUT/host-modules"
# virtiofs + overlay: the L1 host mounts this host's root read-only, with
# a tmpfs over it, to run the guest tests there with this host's python3
# and tools.
# Networking (issue 12): taps, bridges with VLAN filtering, veth, VXLAN,
# 802.1Q, vhost-net and Open vSwitch, which this machine's kernel lacks.
ADDED=" "
add_host_module() {
	local name="$1" file dep
	case "$ADDED" in *" $name "*) return 0 ;; esac
	ADDED="$ADDED$name "
	file=$(modfile "$name")
	[ -n "$file" ] || return 0
	for dep in $(tr '\0' '\n' <"$file" | sed -n 's/^depends=//p' | tr ',' ' '); do
		add_host_module "$dep"
	done
	cp "$file" "$OUT/host-modules/"
	basename "$file" >>"$OUT/host-modules/order"
}
for m in irqbypass kvm kvm-amd kvm-intel virtio_ring virtio virtio_pci_modern_dev \
	virtio_pci_legacy_dev virtio_pci fuse virtiofs overlay \
	tun bridge veth vxlan 8021q vhost_net openvswitch loop; do
	add_host_module "$m"
done
echo "$KVER" >"$OUT/kernel-version"
cat >initrd/init <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules.order); do
	insmod /lib/modules/*/"$m" 2>/dev/null
done
# The power button powers off, as acpid or logind do on a full system:
# Linux's ACPI button driver reports the fixed-feature power button
# (ACPI 6.4 section 4.8.2.2.1) as KEY_POWER on the "Power Button" input
# device; the first event read from it (struct input_event, 24 bytes on
# x86-64) is the press.
(
	for i in $(seq 100); do
		for e in /sys/class/input/event*; do
			[ "$(cat "$e/device/name" 2>/dev/null)" = "Power Button" ] && dev=/dev/input/${e##*/}
		done
		[ -n "$dev" ] && [ -c "$dev" ] && break
		sleep 0.1
	done
	[ -c "$dev" ] || { echo "vessel: no power button input device"; exit 0; }
	dd if="$dev" of=/dev/null bs=24 count=1 2>/dev/null
	echo "vessel: power button pressed"
	sync
	poweroff -f
) &
echo "vessel: Linux $(uname -r) up on $(nproc) CPU(s), $(awk '/MemTotal/ {print $2/1024 " MiB"}' /proc/meminfo)"
if [ -x /check.sh ]; then /check.sh; poweroff -f; fi
grep -q vessel.check= /proc/cmdline && { sh -c "$(sed 's/.*vessel.check=\([^ ]*\).*/\1/' /proc/cmdline)"; poweroff -f; }
echo "Type 'poweroff -f' to stop the VM."
setsid cttyhack sh
poweroff -f
INIT
chmod +x initrd/init
(cd initrd && find . | cpio -o -H newc 2>/dev/null | gzip -9) >"$OUT/initramfs.img"
# Pad with zeros to 512 bytes so tests can append a second (uncompressed)
# cpio archive: the kernel skips zero padding between archives but cannot
# find the next one right after an unaligned gzip stream.
size=$(wc -c <"$OUT/initramfs.img")
head -c $(((512 - size % 512) % 512)) /dev/zero >>"$OUT/initramfs.img"
echo "$IMAGE_VERSION" >"$OUT/version"
echo "linux-image.sh: $PKG -> $OUT/vmlinuz, $OUT/initramfs.img"
