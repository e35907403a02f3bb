#!/bin/sh
# Runs inside the Linux guest of tests/integration/test_vhost_user_blk.py
# (busybox sh, from the initramfs).  Linux's own virtio-blk driver drives
# vessel's vhost-user-blk backends; every check reports on the serial
# console as "VHOST-CHECK <name> ok|FAIL ..." and the host parses it.
# Disks are found by serial (GET_ID): rw (raw, ext4), ro (read-only raw
# with a known pattern), qcow (qcow2 overlay over a raw backing file).

# The default /init loads modules in one pass of modules.order; some
# (virtio before virtio_ring's users) need a second pass.
for pass in 1 2 3; do
	for m in $(cat /modules.order); do insmod /lib/modules/*/"$m" 2>/dev/null; done
done
MKE2FS=/opt/vessel/mke2fs

ok() { echo "VHOST-CHECK $1 ok${2:+ $2}"; }
fail() { echo "VHOST-CHECK $1 FAIL $2"; FAILED=1; }
sum() { sha256sum | cut -d' ' -f1; }

by_serial() {
	for b in /sys/block/vd*; do
		[ "$(cat "$b/serial" 2>/dev/null)" = "$1" ] && echo "/dev/${b##*/}" && return
	done
}

RW=$(by_serial rw)
RO=$(by_serial ro)
QC=$(by_serial qcow)
echo "VHOST-DISKS rw=$RW ro=$RO qcow=$QC"
[ -n "$RW" ] && [ -n "$RO" ] && [ -n "$QC" ] || fail disks "missing a disk"

# --- ext4 on the raw disk: files of several sizes, checksummed --------------
if $MKE2FS -q -F -t ext4 "$RW" && mount -t ext4 "$RW" /mnt; then
	ok mkfs
else
	fail mkfs "mke2fs or mount failed"
fi
for n in 1 4096 65537 1048576 8388608; do
	head -c "$n" /dev/urandom >"/mnt/f$n"
	echo "VHOST-FILE f$n $(sum <"/mnt/f$n")"
done
dd if=/dev/urandom of=/mnt/big bs=1M count=32 2>/dev/null
sync
(cd /mnt && sha256sum f* >/tmp/sums)
umount /mnt
echo 3 >/proc/sys/vm/drop_caches
mount -t ext4 "$RW" /mnt || fail remount "mount failed"
if (cd /mnt && sha256sum -c -s /tmp/sums); then ok readback; else fail readback "checksum mismatch"; fi

# --- discard: delete the 32 MiB file and trim it away ----------------------
rm /mnt/big
sync
t=$(fstrim -v /mnt 2>&1) && ok fstrim "$t" || fail fstrim "$t"
umount /mnt || fail umount "umount failed"

# --- read-only disk: the pattern reads back, writes are refused ------------
[ "$(cat /sys/block/${RO#/dev/}/ro)" = 1 ] && ok ro-flag || fail ro-flag "not read-only"
echo "VHOST-RO-SUM $(dd if="$RO" bs=1M count=4 2>/dev/null | sum)"
if dd if=/dev/zero of="$RO" bs=4096 count=1 oflag=direct 2>/dev/null; then
	fail ro-write "a write to the read-only disk succeeded"
else
	ok ro-write
fi

# --- qcow2 overlay: backing data, new data, discard --------------------------
echo "VHOST-QCOW-BASE $(dd if="$QC" bs=1M count=1 2>/dev/null | sum)"
head -c 1048576 /dev/urandom >/tmp/q1
dd if=/tmp/q1 of="$QC" bs=1M seek=4 oflag=direct conv=notrunc 2>/dev/null
head -c 12288 /dev/urandom >/tmp/q2
dd if=/tmp/q2 of="$QC" bs=4096 seek=3000 oflag=direct conv=notrunc 2>/dev/null
a=$(dd if="$QC" bs=1M skip=4 count=1 iflag=direct 2>/dev/null | sum)
b=$(dd if="$QC" bs=4096 skip=3000 count=3 iflag=direct 2>/dev/null | sum)
[ "$a" = "$(sum </tmp/q1)" ] && [ "$b" = "$(sum </tmp/q2)" ] && ok qcow-rw || fail qcow-rw "mismatch"
echo "VHOST-QCOW-SUM $a $b"
blkdiscard -o 8388608 -l 1048576 "$QC" && ok qcow-discard || fail qcow-discard "blkdiscard"
sync

[ -z "$FAILED" ] && echo "VHOST-ALL-OK"
