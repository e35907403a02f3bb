#!/bin/sh
# bench/balloon's guest side: /check.sh of the L2 initramfs (run by the
# default /init).  Linux's virtio_balloon on the VMM's balloon.
#   bb.mode=inflate: fill bb.fill MiB of tmpfs and free it (the memory is
#     then free in the guest but resident on the host), time memtouch
#     passes (BENCH-BASE), then say BENCH-INFLATE, at which the host sets
#     the balloon's target, and go on timing passes while it inflates.
#   bb.mode=report: fill bb.fill MiB, say BENCH-FREE and free it; free
#     page reporting gives it back to the host.
for pass in 1 2; do
	for m in $(cat /modules.order); do insmod /lib/modules/*/"$m" 2>/dev/null; done
done
PATH=/opt/vessel:$PATH
arg() { sed -n "s/.*bb\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
MODE=$(arg mode)
FILL=$(arg fill)
drv=""
for d in /sys/bus/virtio/devices/*; do
	[ "$(cat "$d/device")" = 0x0005 ] && drv=$(basename "$(readlink "$d/driver")")
done
[ "$drv" = virtio_balloon ] || { echo "BENCH-FAIL no virtio_balloon driver (${drv:-no device})"; exit 0; }
mount -t tmpfs -o size=95% tmpfs /mnt
dd if=/dev/zero of=/mnt/fill bs=1M count="$FILL" 2>/dev/null
echo "BENCH-FILLED $(awk '/MemFree/ {print $2}' /proc/meminfo)"
case "$MODE" in
inflate)
	rm /mnt/fill
	memtouch 64 6 base
	echo "BENCH-INFLATE"
	memtouch 64 200 infl
	;;
report)
	sleep 1
	echo "BENCH-FREE"
	rm /mnt/fill
	;;
esac
echo "BENCH-IDLE"
sleep 600
